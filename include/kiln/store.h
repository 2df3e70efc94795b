/*
 * kiln/store.h - the parameter store: named parameters with their initializers,
 * gradients and optimizer state, and non-trainable buffers (batch norm's running
 * statistics), living on a context's device independently of any graph.
 *
 * Graphs borrow their parameters from a store (kiln_graph_create_in), so any number of
 * graphs share them without copies: a train graph and an eval graph of another batch
 * size, one graph per sequence length or tree shape, a GAN's two networks. kiln_param
 * returns the store's entry of that name, creating it on first use. Gradients computed
 * by graph runs add up in the store until an optimizer step (kiln/optim.h) uses and
 * clears them, or kiln_store_zero_grad clears them. Storage is allocated when a graph
 * using new entries is compiled; entries are packed into a few flat device buffers
 * (values, gradients, each optimizer state), so an optimizer step is a few launches for
 * all parameters. Checkpoints of a store are in kiln/io.h.
 */
#ifndef KILN_STORE_H
#define KILN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_store kiln_store;

/* ---- Lifetime ---- */

/*
 * Creates an empty store on ctx. [in] ctx: retained until kiln_store_destroy.
 * [out] out: owned by the caller. Returns KILN_OK, KILN_E_INVALID_ARG or
 * KILN_E_OUT_OF_HOST_MEMORY. Not thread-safe with respect to other calls on the store.
 */
KILN_API kiln_status kiln_store_create(kiln_context *ctx, kiln_store **out);

/* Destroys s with its device storage and the optimizers created over it. Graphs that
 * borrow s must be destroyed first. NULL is a no-op. */
KILN_API void kiln_store_destroy(kiln_store *s);

/* Returns the context of s. */
KILN_API kiln_context *kiln_store_context(const kiln_store *s);

/* ---- Entries ---- */

typedef enum kiln_store_kind {
    KILN_STORE_PARAM = 0,  /* trainable, with a gradient */
    KILN_STORE_BUFFER = 1, /* not trained; saved with the parameters (running statistics) */
    KILN_STORE_SHARED = 2, /* not trained and not saved: data graphs hand to each other */
} kiln_store_kind;

/* What kiln_store_entry reports of one entry. */
struct kiln_store_entry {
    const char *name; /* a view valid while the store lives */
    kiln_store_kind kind;
    kiln_dtype dtype;
    struct kiln_shape shape;
    int allocated; /* 1 once a graph using it was compiled (kiln_store_alloc) */
};

/* Returns the number of entries of s, in creation order. */
KILN_API int32_t kiln_store_n_entries(const kiln_store *s);

/* Describes entry i (0 <= i < kiln_store_n_entries). [out] out: borrowed.
 * Returns KILN_OK or KILN_E_INVALID_ARG. */
KILN_API kiln_status kiln_store_entry(const kiln_store *s, int32_t i, struct kiln_store_entry *out);

/* Returns the index of the entry named name, or -1. */
KILN_API int32_t kiln_store_find(const kiln_store *s, const char *name);

/* Returns the number of trainable parameters (entries) and of their elements. */
KILN_API int32_t kiln_store_n_params(const kiln_store *s);
KILN_API int64_t kiln_store_n_param_elems(const kiln_store *s);

/* Allocates and initializes the storage of every entry not allocated yet (graph
 * compilation does this for the entries it uses). Returns KILN_OK or a device error. */
KILN_API kiln_status kiln_store_alloc(kiln_store *s);

/* ---- Data ---- */

/*
 * Copies entry name's values (or, for kiln_store_read_grad/kiln_store_write_grad, its
 * accumulated gradient) between the device and host memory. n_bytes must equal the
 * entry's size. The entry must be allocated. Reads wait for the work that produces the
 * data. Returns KILN_OK, KILN_E_INVALID_ARG (unknown name, wrong size, no gradient),
 * KILN_E_STATE (not allocated), or a device error.
 */
KILN_API kiln_status kiln_store_read(kiln_store *s, const char *name, void *dst, size_t n_bytes);
KILN_API kiln_status kiln_store_write(kiln_store *s, const char *name, const void *src,
                                      size_t n_bytes);
KILN_API kiln_status kiln_store_read_grad(kiln_store *s, const char *name, float *dst,
                                          size_t n_bytes);
KILN_API kiln_status kiln_store_write_grad(kiln_store *s, const char *name, const float *src,
                                           size_t n_bytes);

/*
 * All gradients as one flat array: the allocated trainable parameters in entry order,
 * each contiguous (kiln_store_n_param_elems elements in all). For reducing gradients
 * across processes between the backward pass and the optimizer step. n must equal
 * kiln_store_n_param_elems(s). Returns KILN_OK, KILN_E_INVALID_ARG, KILN_E_STATE (an
 * entry not allocated) or a device error.
 */
KILN_API kiln_status kiln_store_grads_download(kiln_store *s, float *dst, int64_t n);
KILN_API kiln_status kiln_store_grads_upload(kiln_store *s, const float *src, int64_t n);

/* Sets every accumulated gradient to zero (on the device). Returns KILN_OK or a device
 * error. */
KILN_API kiln_status kiln_store_zero_grad(kiln_store *s);

/* Re-initializes every allocated parameter and buffer from its initializer, zeroes
 * gradients and optimizer state, and resets the step counts of the store's
 * optimizers. Returns KILN_OK or a device error. */
KILN_API kiln_status kiln_store_reset(kiln_store *s);

/* Training runs of graphs over s so far (each kiln_graph_run counts one); dropout masks
 * are keyed by it, so they differ between runs of any of the store's graphs. */
KILN_API uint64_t kiln_store_runs(const kiln_store *s);

/* Sets the run count (restoring a checkpoint resumes the dropout masks). */
KILN_API void kiln_store_set_runs(kiln_store *s, uint64_t runs);

#ifdef __cplusplus
}
#endif

#endif /* KILN_STORE_H */
