/*
 * backend_impl.h - the backend vtable and per-backend kernel tables (STYLE B.6).
 *
 * A backend provides device memory (buffers, sub-allocated by the planner through
 * offsets), explicit transfers, and one kernel per op in a table indexed by enum
 * kiln_op. Ops are not vtable slots. The executor brackets every graph run with
 * run_begin/run_end, so a GPU backend can record one submission per run; a download
 * waits for the work that produces the data. Not installed.
 */
#ifndef KILN_BACKEND_IMPL_H
#define KILN_BACKEND_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln/backend.h"
#include "ops/op_desc.h"

#define KILN__BACKEND_ABI 1

struct kiln_backend;
struct kiln_buffer; /* defined by each backend */

struct kiln_kernel {
    kiln_status (*run)(struct kiln_backend *be, const struct kiln_tensor *n);
    /* optional: NULL = every dtype and shape the op accepts. Returns false and sets the
     * thread-local message when the node is out of this backend's limits. */
    bool (*supports)(const struct kiln_backend *be, const struct kiln_tensor *n);
    /* optional, for fused ops: whether the node runs as one launch (NULL = it does). The
     * planner forms a fused node only where it does (src/graph/fuse.c); elsewhere the
     * kernel may run the parts one after the other (an op fed directly). */
    bool (*one_launch)(const struct kiln_backend *be, const struct kiln_tensor *n);
};

struct kiln_backend_ops {
    uint32_t abi; /* == KILN__BACKEND_ABI */
    const char *name;
    bool is_reference; /* its kernels are the CPU references (KILN_CHECK shadows others) */

    /* Opens the device picked by device (index or name substring, NULL = the preferred
     * one). Must leave be->impl NULL or fully releasable by fini on failure. */
    kiln_status (*init)(struct kiln_backend *be, const char *device);
    void (*fini)(struct kiln_backend *be); /* must accept a partial init */
    /* Lists devices without opening a context (kiln_backend_devices). */
    kiln_status (*devices)(struct kiln_device_info *out, int32_t max, int32_t *n_out);

    kiln_status (*buffer_alloc)(struct kiln_backend *be, size_t n_bytes, struct kiln_buffer **out);
    void (*buffer_free)(struct kiln_backend *be, struct kiln_buffer *buf);
    kiln_status (*upload)(struct kiln_backend *be, struct kiln_buffer *dst, size_t off,
                          const void *src, size_t n_bytes);
    kiln_status (*download)(struct kiln_backend *be, const struct kiln_buffer *src, size_t off,
                            void *dst, size_t n_bytes);
    kiln_status (*run_begin)(struct kiln_backend *be);   /* optional: NULL = no-op */
    kiln_status (*run_end)(struct kiln_backend *be);     /* optional: NULL = no-op; submits */
    kiln_status (*synchronize)(struct kiln_backend *be); /* optional: NULL = no-op */
    /* optional: NULL = buffers are not host-addressable. The host address of buf's
     * first byte, which the host may read and write between runs (after synchronize)
     * instead of download/upload; NULL for a buffer that is not host-addressable. Lets
     * MPI reduce gradients in the backend's own memory (src/train/comm_reduce.c). */
    void *(*host_ptr)(struct kiln_backend *be, struct kiln_buffer *buf);

    /* optional: NULL = nothing to do. Called by kiln_context_set_profiling with the new
     * setting before it takes effect (device timing of the launches on or off). */
    kiln_status (*set_profiling)(struct kiln_backend *be, bool on);
    /* The kernels have finished when run returns: the executor times them on the host
     * when profiling (the CPU backends). */
    bool host_timed;
    /* MATMUL_BIAS and MATMUL_RELU_BWD run as one launch: the planner fuses a product's
     * bias (and ReLU), or the ReLU gradient after it, into the product (src/graph/fuse.c).
     * A backend whose products are library calls runs them as two launches and leaves
     * this false; OpenCL sets it for its own kernel's small products (larger ones are
     * then two launches, as unfused). */
    bool fuse_matmul;
    /* optional: NULL = it does. Whether the planner's fusion pass runs for this device at
     * all (src/graph/fuse.c); each fused node still needs its kernel's supports and
     * one_launch. The CPU backend's reference device, which runs references only, says no,
     * so its graphs stay as built. */
    bool (*fuses)(const struct kiln_backend *be);

    const struct kiln_kernel *kernels; /* [KILN_OP_COUNT]; .run == NULL: see generic */
    /* optional: NULL = none. The launcher of ops whose descriptor says KILN__OPF_GENERIC
     * and that have no entry in kernels (op_desc.h: the generic kernel convention). */
    const struct kiln_kernel *generic;
};

struct kiln_backend {
    /* ---- borrowed (never owned) ---- */
    const struct kiln_backend_ops *ops; /* static const */
    struct kiln_context *ctx;           /* allocator, log, stats */
    /* ---- owned ---- */
    void *impl; /* backend device state */
    char device_name[128];
    size_t alignment; /* required alignment of tensor offsets in a buffer */
    /* Byte offsets within a tensor at which a view may start (a divisor of alignment);
     * 0: views only at offset 0. */
    size_t view_alignment;
};

/* The compiled-in backends, in "auto" preference order for GPUs, cpu last. */
extern const struct kiln_backend_ops *const kiln__backends[];
extern const int32_t kiln__n_backends;

/* Backends register their static ops struct here. */
extern const struct kiln_backend_ops kiln__cpu_backend;
#ifdef KILN_HAVE_OPENCL
extern const struct kiln_backend_ops kiln__cl_backend;
#endif
#ifdef KILN_HAVE_VULKAN
extern const struct kiln_backend_ops kiln__vk_backend;
#endif

/* Where a tensor's data is: its buffer and byte offset (views resolve to their root). */
struct kiln_buffer *kiln__tensor_buffer(const struct kiln_tensor *t, size_t *offset);

/* The kernel that runs op on be: its entry in be's kernel table, else be's generic
 * launcher when the op's descriptor allows it; NULL when neither exists. The one place
 * that decides (the planner's check and the executor both call it). */
static inline const struct kiln_kernel *kiln__kernel_of(const struct kiln_backend *be, int op)
{
    const struct kiln_kernel *k = &be->ops->kernels[op];
    if (k->run != NULL) {
        return k;
    }
    if ((kiln__ops[op]->flags & KILN__OPF_GENERIC) && be->ops->generic != NULL) {
        return be->ops->generic;
    }
    return NULL;
}

#endif /* KILN_BACKEND_IMPL_H */
