/*
 * kiln/comm.h - data-parallel training across processes: a communicator that wraps MPI
 * (Open MPI, an optional build feature) and works with one process and no MPI too.
 *
 * Every process ("rank") builds the same model over its own store, on its own backend
 * and device (ranks may use different backends). kiln_comm_broadcast_store gives every
 * rank rank 0's parameters; kiln_comm_attach installs an optimizer gradient hook that
 * sums the gradients of all ranks (MPI_Iallreduce, in a few large buckets) and divides
 * them by the number of ranks, so every rank takes the identical optimizer step; in
 * kiln_train_step on the CPU backend the buckets of the last layers start while the
 * backward pass still computes the first layers' gradients. The
 * training loops (kiln/train.h: kiln_fit_options.comm) shard every epoch's shuffled
 * order between the ranks, average the sampled losses and shard evaluation. A
 * collective that does not complete within the timeout fails with KILN_E_PEER naming
 * the ranks that did not respond; the library never aborts or exits: the program
 * decides (kiln_comm_abort ends every rank). Nothing here prints. Batch norm's
 * running statistics stay per rank (only rank 0's are saved by programs that save
 * from rank 0).
 */
#ifndef KILN_COMM_H
#define KILN_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "optim.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_comm kiln_comm;

typedef enum kiln_comm_mode {
    KILN_COMM_AUTO = 0,   /* MPI when an MPI launcher started the process (mpirun sets
                             OMPI_COMM_WORLD_SIZE; PMI_SIZE, PMIX_RANK) and kiln has MPI;
                             else one process */
    KILN_COMM_SINGLE = 1, /* one process, no MPI */
    KILN_COMM_MPI = 2,    /* MPI (KILN_E_UNSUPPORTED when kiln was built without it) */
} kiln_comm_mode;

struct kiln_comm_options {
    uint32_t struct_size; /* sizeof(struct kiln_comm_options) */
    kiln_comm_mode mode;
    /* A collective (a gradient reduction, a broadcast, a metric) that has not completed
     * after timeout_s seconds fails with KILN_E_PEER naming the ranks that did not
     * respond (dead, hung or slower than this). <= 0: wait forever. Default 120. */
    double timeout_s;
    /* The timeout until the first gradient reduction has completed, which waits for
     * every rank's first step (kernels compiled on a first run: minutes on PoCL).
     * Default 900. */
    double first_timeout_s;
    /* Gradients are reduced in messages of at most this many bytes (> 0); default
     * 4 MiB. */
    int64_t bucket_bytes;
};

#define KILN_COMM_OPTIONS_INIT                                                                     \
    {                                                                                              \
        sizeof(struct kiln_comm_options), KILN_COMM_AUTO, 120.0, 900.0, (int64_t)4 << 20           \
    }

/* ---- Lifetime ---- */

/*
 * Creates a communicator. With MPI it initializes MPI unless the program did
 * (MPI_THREAD_FUNNELED; kiln_comm_destroy finalizes it then) and duplicates
 * MPI_COMM_WORLD with errors returned, not fatal. [in] o: borrowed, NULL for defaults.
 * [out] out: owned by the caller (kiln_comm_destroy). Call it from the main thread.
 * Returns KILN_OK, KILN_E_INVALID_ARG, KILN_E_UNSUPPORTED (KILN_COMM_MPI without MPI),
 * KILN_E_PEER (MPI failed to start), KILN_E_OUT_OF_HOST_MEMORY.
 */
KILN_API kiln_status kiln_comm_create(const struct kiln_comm_options *o, kiln_comm **out);

/* Destroys c (finalizing MPI when c initialized it). Every store with a hook of c
 * attached must not step afterwards. NULL is a no-op. */
KILN_API void kiln_comm_destroy(kiln_comm *c);

/* This process's rank (0-based), the number of ranks, and the rank among the
 * processes of its machine (OMPI_COMM_WORLD_LOCAL_RANK; 0 without MPI). */
KILN_API int32_t kiln_comm_rank(const kiln_comm *c);
KILN_API int32_t kiln_comm_size(const kiln_comm *c);
KILN_API int32_t kiln_comm_local_rank(const kiln_comm *c);

/* "mpi" or "single"; static string. */
KILN_API const char *kiln_comm_kind(const kiln_comm *c);

/* The host name and process id of rank r (as rank r reported them at creation), for
 * messages; a view valid while c lives ("" for a bad r). */
KILN_API const char *kiln_comm_host(const kiln_comm *c, int32_t r);
KILN_API int64_t kiln_comm_pid(const kiln_comm *c, int32_t r);

/*
 * Ends every process of the run with exit code code (MPI_Abort): for a program after a
 * failure that the other ranks cannot see (KILN_E_PEER, an error on one rank only).
 * With MPI it does not return; with one process it does nothing and returns KILN_OK,
 * and the program exits as it would anyway. The library never calls it.
 */
KILN_API kiln_status kiln_comm_abort(kiln_comm *c, int code);

/* ---- Collectives (every rank calls them in the same order) ---- */

/*
 * Sums v[0..n) over all ranks in place (every rank gets the same sums: for metrics,
 * stop flags). Returns KILN_OK, KILN_E_INVALID_ARG, or KILN_E_PEER (a rank did not
 * respond within the timeout, or MPI failed: the message names the ranks).
 */
KILN_API kiln_status kiln_comm_allreduce_sum(kiln_comm *c, double *v, int32_t n);

/*
 * Gathers n_bytes from every rank: all[r n_bytes ..] gets rank r's mine (every rank
 * passes the same n_bytes). [in] mine: borrowed. [out] all: size n_bytes. Returns
 * KILN_OK, KILN_E_INVALID_ARG or KILN_E_PEER.
 */
KILN_API kiln_status kiln_comm_allgather(kiln_comm *c, const void *mine, size_t n_bytes, void *all);

/* Returns when every rank has called it. Returns KILN_OK or KILN_E_PEER. */
KILN_API kiln_status kiln_comm_barrier(kiln_comm *c);

/*
 * Makes every rank's store equal to rank 0's: the values of every allocated parameter
 * and buffer (not KILN_STORE_SHARED tensors), and with with_state the optimizer state,
 * the optimizers' step counts and the run count. The stores must have the same entries
 * (the same model built on every rank; the segment layouts may differ between
 * backends). Returns KILN_OK, KILN_E_INVALID_ARG, KILN_E_STATE (the ranks' stores
 * differ: the message says how), KILN_E_PEER or a device error.
 */
KILN_API kiln_status kiln_comm_broadcast_store(kiln_comm *c, kiln_store *s, int with_state);

/*
 * Installs o's gradient hook (kiln_optimizer_set_grad_hook): at every step the
 * gradients of o's parameters are summed over all ranks in buckets of at most
 * bucket_bytes and divided by the number of ranks, so that N ranks with batches of B
 * step as one process with batches of N B (losses that are means over the batch).
 * With one rank nothing is installed. The buckets are cut from the end of the
 * gradients at parameter starts (the last layers first) and every rank starts them in
 * that order. When the store's gradients lie in host memory that the kernels write as
 * nodes run (the CPU backend) and every rank has the same layout, the run of
 * kiln_train_step starts each bucket's all-reduce in place as soon as the last node
 * touching it has run, so communication overlaps the rest of the backward pass, and
 * the step waits only for what is still in flight; the sums are the same as without
 * the overlap. The step after a kiln_graph_run (gradients accumulated over several
 * runs), the first step, and buckets staged through host buffers (GPU backends, whose
 * nodes complete on the device, not when the host issues them) start after the
 * backward pass. [in] c: borrowed, must outlive o's steps.
 * Returns KILN_OK, KILN_E_INVALID_ARG or KILN_E_OUT_OF_HOST_MEMORY; a step then
 * returns KILN_E_PEER when a rank does not respond, KILN_E_STATE when the ranks' stores
 * differ.
 */
KILN_API kiln_status kiln_comm_attach(kiln_comm *c, kiln_optimizer *o);

/* ---- Counters ---- */

struct kiln_comm_stats {
    uint64_t reductions;    /* gradient reductions (optimizer steps) */
    uint64_t messages;      /* MPI all-reduce messages of gradient buckets */
    uint64_t bytes_reduced; /* bytes of gradients all-reduced (each rank's contribution) */
    uint64_t zero_copy;     /* buckets reduced in place in the backend's own memory */
    double seconds;         /* wall time in gradient reductions (staging, MPI, scaling) */
    double wait_seconds;    /* of which waiting for MPI to complete */
    uint64_t collectives;   /* other collectives (metrics, broadcasts, barriers) */
    double other_seconds;   /* their wall time */
    /* Buckets whose all-reduce started while the backward pass was still running (in
     * kiln_train_step, when every bucket is reduced in place: the CPU backend). */
    uint64_t overlapped;
};

/* Reads (and with reset, then zeroes) c's counters. [out] out: borrowed. */
KILN_API void kiln_comm_stats(kiln_comm *c, struct kiln_comm_stats *out, int reset);

#ifdef __cplusplus
}
#endif

#endif /* KILN_COMM_H */
