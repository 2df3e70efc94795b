/*
 * comm_impl.h - the communicator's internals, shared by comm.c (creation, the
 * deadline-polled wait that names ranks that do not respond, metrics, broadcasts) and
 * comm_reduce.c (the bucketed gradient reduction behind the optimizer hook). Without
 * MPI (KILN_HAVE_MPI undefined) the communicator is a one-process one and none of the
 * MPI fields exist.
 */
#ifndef KILN_COMM_IMPL_H
#define KILN_COMM_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#ifdef KILN_HAVE_MPI
#include <mpi.h>
#endif

#include "../graph/store_impl.h"
#include "kiln/comm.h"

#define KILN__COMM_HOST_LEN 64

struct kiln__comm_attach; /* comm_reduce.c: one optimizer's reduction plan */

struct kiln_comm {
    /* ---- owned ---- */
    struct kiln_comm_options opt;
    bool mpi;        /* MPI is in use (else one process) */
    bool owns_init;  /* MPI_Init was ours: destroy finalizes */
    bool broken;     /* a collective failed: every later call fails at once */
    bool first_done; /* a gradient reduction completed (first_timeout_s no longer applies) */
    int32_t rank, size, local_rank;
    uint64_t seq;                       /* collectives started on this rank */
    char (*hosts)[KILN__COMM_HOST_LEN]; /* [size] */
    int64_t *pids;                      /* [size] */
    struct kiln__comm_attach **attached;
    int32_t n_attached, cap_attached;
    struct kiln_comm_stats stats;
#ifdef KILN_HAVE_MPI
    MPI_Comm world; /* collectives */
    MPI_Comm ctl;   /* the questions and answers of a timeout */
    /* What this rank sends in that protocol: sends are freed once started, so their
     * buffers live as long as the communicator. */
    uint64_t *answers; /* [size]: the answer to each rank's last question */
    uint64_t question;
#endif
};

/* Seconds of a monotonic clock. */
double kiln__comm_now(void);

/* Fails with KILN_E_STATE when c broke earlier (a rank did not respond). */
kiln_status kiln__comm_usable(const kiln_comm *c, const char *fn);

#ifdef KILN_HAVE_MPI
/*
 * Waits for the n requests of a collective, polling them (and answering other ranks'
 * questions) until the timeout; what names the collective in messages ("the gradient
 * reduction of step 12"). On a timeout asks every rank whether it is alive and fails
 * with KILN_E_PEER naming those that did not answer; an MPI error fails with
 * KILN_E_PEER too. Either way c is broken afterwards. *wait_s (may be NULL) gets the
 * seconds spent waiting.
 */
kiln_status kiln__comm_wait(kiln_comm *c, MPI_Request *reqs, int n, const char *what,
                            double *wait_s);

/* The requests of one collective started: counts it and returns its number. */
uint64_t kiln__comm_begin(kiln_comm *c);

/* Fails with KILN_E_PEER for an MPI error code rc of call (c broken afterwards). */
kiln_status kiln__comm_mpi_fail(kiln_comm *c, int rc, const char *call);
#endif

/* Agrees on a 64-bit value: *same is 1 on every rank when all ranks passed the same v.
 * Returns KILN_OK or KILN_E_PEER. */
kiln_status kiln__comm_agree(kiln_comm *c, uint64_t v, const char *what, int *same);

/* FNV-1a over n bytes, continuing h. */
uint64_t kiln__comm_hash(uint64_t h, const void *p, size_t n);

/* Frees an attachment (comm_reduce.c). */
void kiln__comm_attach_free(struct kiln__comm_attach *a);

#endif /* KILN_COMM_IMPL_H */
