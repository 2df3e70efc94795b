/*
 * kiln/graph.h - building, differentiating, compiling and running graphs.
 *
 * A graph is built once and run many times. Builders return a tensor handle; on a bad
 * argument they record the graph's first error and return a poisoned tensor that every
 * later builder passes through, so a model reads as a chain of calls and the error
 * comes back from the next status-returning call (kiln_graph_status, compile, run).
 * Nodes keep construction order, which is a topological order. A graph borrows its
 * parameters from a parameter store (kiln/store.h): graphs over one store share them.
 * kiln_graph_backward() appends the backward nodes, which add the gradients into the
 * store; kiln_graph_compile() plans memory and places every tensor on the backend; an
 * optimizer (kiln/optim.h) updates the store's parameters between runs.
 * Layers built from these ops are in kiln/nn.h.
 */
#ifndef KILN_GRAPH_H
#define KILN_GRAPH_H

#include <stdint.h>

#include "backend.h"
#include "store.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_graph kiln_graph;

/* ---- Lifetime ---- */

/* Creates an empty graph on ctx with a parameter store of its own (destroyed with the
 * graph; kiln_graph_store returns it). [in] ctx: retained until kiln_graph_destroy.
 * Returns KILN_OK, KILN_E_INVALID_ARG or KILN_E_OUT_OF_HOST_MEMORY. */
KILN_API kiln_status kiln_graph_create(kiln_context *ctx, kiln_graph **out);

/* Creates an empty graph on the context of store s whose parameters are s's entries
 * (shared with every other graph over s). [in] s: retained; it must outlive the graph.
 * Returns KILN_OK, KILN_E_INVALID_ARG or KILN_E_OUT_OF_HOST_MEMORY. */
KILN_API kiln_status kiln_graph_create_in(kiln_store *s, kiln_graph **out);

/* Destroys g, its tensors and device storage (and its own store, for a graph made by
 * kiln_graph_create). NULL is a no-op. */
KILN_API void kiln_graph_destroy(kiln_graph *g);

/* Returns the parameter store g borrows its parameters from. */
KILN_API kiln_store *kiln_graph_store(const kiln_graph *g);

/* Returns the first error recorded while building g, or KILN_OK. */
KILN_API kiln_status kiln_graph_status(const kiln_graph *g);

/* Returns the context of g. */
KILN_API kiln_context *kiln_graph_context(const kiln_graph *g);

/* ---- Leaves ---- */

/* Weight initializers. fan_in/fan_out follow PyTorch: for a weight [out, in, k...],
 * fan_in = in * k..., fan_out = out * k.... */
typedef enum kiln_init {
    KILN_INIT_ZEROS = 0,
    KILN_INIT_ONES,
    KILN_INIT_CONSTANT,       /* every element = arg */
    KILN_INIT_UNIFORM,        /* U(-arg, arg) */
    KILN_INIT_NORMAL,         /* N(0, arg^2) */
    KILN_INIT_XAVIER_UNIFORM, /* U(-a, a), a = sqrt(6 / (fan_in + fan_out)) */
    KILN_INIT_XAVIER_NORMAL,  /* N(0, 2 / (fan_in + fan_out)) */
    KILN_INIT_HE_UNIFORM,     /* U(-a, a), a = sqrt(6 / fan_in) */
    KILN_INIT_HE_NORMAL,      /* N(0, 2 / fan_in) */
    KILN_INIT_FAN_IN_UNIFORM, /* U(-a, a), a = 1 / sqrt(fan_in): PyTorch's nn.Linear default */
} kiln_init;

/* Tensor names are at most KILN_MAX_NAME - 1 bytes; a longer name is KILN_E_INVALID_ARG. */
#define KILN_MAX_NAME 64

/* An input: data the caller uploads before each run (a batch, labels). */
KILN_API kiln_tensor *kiln_input(kiln_graph *g, const char *name, kiln_dtype dt, int32_t rank,
                                 const int64_t *dims);

/*
 * A constant: a leaf of g holding a copy of n_bytes = 4 prod(dims) bytes of host data,
 * uploaded to the device when g is compiled and never written (attention masks,
 * sinusoidal position tables, index lists). It gets no gradient. [in] name: copied, or
 * NULL for a generated name. [in] data: borrowed for the call (copied). Records
 * KILN_E_INVALID_ARG (NULL data, a used name), KILN_E_SHAPE or KILN_E_OUT_OF_HOST_MEMORY
 * in g.
 */
KILN_API kiln_tensor *kiln_constant(kiln_graph *g, const char *name, kiln_dtype dt, int32_t rank,
                                    const int64_t *dims, const void *data);

/*
 * The trainable f32 parameter named name (e.g. "fc1.weight") of g's store. On first use
 * in the store it is created, and initialized when first allocated with init (arg as
 * documented for the initializer) from the counter-based generator keyed by (seed, the
 * parameter's creation index in the store); later uses, in g or any graph over the
 * store, return the same parameter (the shape must match; init, arg and seed are then
 * ignored); within one graph they return the same tensor, so a layer applied at several
 * places (a recurrent cell at every step) shares its weights and their gradients add up.
 * Its gradient adds into the store unless its name starts with a prefix frozen in g
 * (kiln_graph_freeze).
 */
KILN_API kiln_tensor *kiln_param(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims,
                                 kiln_init init, float arg, uint64_t seed);

/*
 * The entry name of kind kind in g's store, created on first use as kiln_param creates
 * parameters (KILN_STORE_PARAM is kiln_param). KILN_STORE_BUFFER entries (batch norm's
 * running statistics) are saved with the parameters and written only by in-place ops;
 * KILN_STORE_SHARED entries (of either dtype, zero-initialized) carry data from one graph
 * to another, written by kiln_assign. Neither gets a gradient.
 */
KILN_API kiln_tensor *kiln_store_tensor(kiln_graph *g, const char *name, kiln_store_kind kind,
                                        kiln_dtype dt, int32_t rank, const int64_t *dims,
                                        kiln_init init, float arg, uint64_t seed);

/*
 * Parameters whose names start with prefix, taken by later builders of g, get no
 * gradient in g (they are constants of g; other graphs over the store still train
 * them). A GAN's generator graph freezes the discriminator it back-propagates through.
 * Up to 8 prefixes; [in] prefix: copied. Records KILN_E_INVALID_ARG in g when too many
 * or too long.
 */
KILN_API void kiln_graph_freeze(kiln_graph *g, const char *prefix);

/*
 * Appends an in-place copy of src into dst, run in training runs: dst must be a
 * KILN_STORE_SHARED or KILN_STORE_BUFFER tensor of g of src's shape and dtype. Returns
 * an empty tensor; keep it reachable by creating it in the graph.
 */
KILN_API kiln_tensor *kiln_assign(kiln_graph *g, kiln_tensor *dst, kiln_tensor *src);

/* Returns the tensor named name, or NULL. */
KILN_API kiln_tensor *kiln_graph_find(const kiln_graph *g, const char *name);

/* Returns the number of trainable parameters of g, and the i-th of them. */
KILN_API int32_t kiln_graph_n_params(const kiln_graph *g);
KILN_API kiln_tensor *kiln_graph_param(const kiln_graph *g, int32_t i);

/* ---- Elementwise ops (numpy broadcasting for binary ops) ---- */

KILN_API kiln_tensor *kiln_add(kiln_graph *g, kiln_tensor *a, kiln_tensor *b); /* a + b */
KILN_API kiln_tensor *kiln_sub(kiln_graph *g, kiln_tensor *a, kiln_tensor *b); /* a - b */
KILN_API kiln_tensor *kiln_mul(kiln_graph *g, kiln_tensor *a, kiln_tensor *b); /* a * b */
KILN_API kiln_tensor *kiln_div(kiln_graph *g, kiln_tensor *a, kiln_tensor *b); /* a / b */
/* f(x) = scale * x + shift */
KILN_API kiln_tensor *kiln_scale_shift(kiln_graph *g, kiln_tensor *x, float scale, float shift);
KILN_API kiln_tensor *kiln_scale(kiln_graph *g, kiln_tensor *x, float scale);
KILN_API kiln_tensor *kiln_shift(kiln_graph *g, kiln_tensor *x, float shift);

KILN_API kiln_tensor *kiln_relu(kiln_graph *g, kiln_tensor *x); /* max(0, x) */
/* x > 0 ? x : alpha * x */
KILN_API kiln_tensor *kiln_leaky_relu(kiln_graph *g, kiln_tensor *x, float alpha);
KILN_API kiln_tensor *kiln_sigmoid(kiln_graph *g, kiln_tensor *x); /* 1 / (1 + e^-x) */
KILN_API kiln_tensor *kiln_tanh(kiln_graph *g, kiln_tensor *x);
/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): PyTorch's gelu(approximate="tanh") */
KILN_API kiln_tensor *kiln_gelu(kiln_graph *g, kiln_tensor *x);
KILN_API kiln_tensor *kiln_exp(kiln_graph *g, kiln_tensor *x);
KILN_API kiln_tensor *kiln_log(kiln_graph *g, kiln_tensor *x);
KILN_API kiln_tensor *kiln_sqrt(kiln_graph *g, kiln_tensor *x);

/* ---- Matrix products and shapes ---- */

/* op(a) @ op(b) over the last two dims, op = transpose (of those two) when the flag is
 * set: a [..., M, K] by b [..., K, N] -> [..., M, N]. The dims before the last two are a
 * batch and broadcast like NumPy's (torch.matmul; ranks 2 to KILN_MAX_DIMS, either may
 * be rank 2). A batch of a (not transposed) by a rank-2 b runs as one product. */
KILN_API kiln_tensor *kiln_matmul(kiln_graph *g, kiln_tensor *a, kiln_tensor *b, int trans_a,
                                  int trans_b);
/* A view of x with a new shape of the same element count; one dim may be -1. */
KILN_API kiln_tensor *kiln_reshape(kiln_graph *g, kiln_tensor *x, int32_t rank,
                                   const int64_t *dims);
/* [N, ...] -> [N, prod(...)] */
KILN_API kiln_tensor *kiln_flatten(kiln_graph *g, kiln_tensor *x);
/* out.dims[i] = x.dims[perm[i]]; perm has x's rank entries. */
KILN_API kiln_tensor *kiln_transpose(kiln_graph *g, kiln_tensor *x, const int32_t *perm);

/* ---- Reductions ---- */

/* Sum (mean) over the axes whose bit is set in axes_mask (bit i = dim i); keepdims keeps
 * them as size 1. */
KILN_API kiln_tensor *kiln_sum(kiln_graph *g, kiln_tensor *x, uint32_t axes_mask, int keepdims);
KILN_API kiln_tensor *kiln_mean(kiln_graph *g, kiln_tensor *x, uint32_t axes_mask, int keepdims);
/* Index of the largest element along the last axis (first on ties); i32, rank - 1. */
KILN_API kiln_tensor *kiln_argmax(kiln_graph *g, kiln_tensor *x);
/* Softmax and log-softmax along the last axis. */
KILN_API kiln_tensor *kiln_softmax(kiln_graph *g, kiln_tensor *x);
KILN_API kiln_tensor *kiln_log_softmax(kiln_graph *g, kiln_tensor *x);

/* ---- Losses (scalar, mean over the batch) ---- */

/* mean((pred - target)^2) over all elements. */
KILN_API kiln_tensor *kiln_mse_loss(kiln_graph *g, kiln_tensor *pred, kiln_tensor *target);
/* Softmax cross-entropy of logits [N, C] against i32 labels [N], mean over N. Labels
 * outside [0, C) contribute zero loss and zero gradient. */
KILN_API kiln_tensor *kiln_softmax_xent(kiln_graph *g, kiln_tensor *logits, kiln_tensor *labels);
/* Binary cross-entropy of logits against f32 targets in [0, 1] of the same shape, mean
 * over all elements, computed in the stable form max(x,0) - x t + log(1 + e^-|x|). */
KILN_API kiln_tensor *kiln_bce_logits(kiln_graph *g, kiln_tensor *logits, kiln_tensor *targets);
/* Multi-class hinge (SVM) loss, PyTorch's MultiMarginLoss(p=1, margin=1):
 * mean over N of sum_{j != y} max(0, 1 - x_y + x_j) / C. */
KILN_API kiln_tensor *kiln_hinge_loss(kiln_graph *g, kiln_tensor *scores, kiln_tensor *labels);

/* ---- Convolutional networks (NCHW, f32) ---- */

/* Convolution options; pairs are [h, w]. KILN_CONV2D_OPTS_INIT: stride 1, no padding,
 * dilation 1, one group, no output padding. */
struct kiln_conv2d_opts {
    int32_t stride[2], padding[2], dilation[2];
    int32_t groups;            /* C and K divisible by it; groups = C = K is depthwise */
    int32_t output_padding[2]; /* kiln_conv_transpose2d only: in [0, stride) */
};
#define KILN_CONV2D_OPTS_INIT                                                                      \
    {                                                                                              \
        {1, 1}, {0, 0}, {1, 1}, 1,                                                                 \
        {                                                                                          \
            0, 0                                                                                   \
        }                                                                                          \
    }

/*
 * PyTorch's conv2d (cross-correlation, zero padding): x [N, C, H, W], w [K, C/groups,
 * KH, KW] -> [N, K, OH, OW], OH = (H + 2 pad_h - dilation_h (KH - 1) - 1) / stride_h + 1.
 * o NULL: KILN_CONV2D_OPTS_INIT. No bias: add a [K, 1, 1] tensor with kiln_add.
 */
KILN_API kiln_tensor *kiln_conv2d(kiln_graph *g, kiln_tensor *x, kiln_tensor *w,
                                  const struct kiln_conv2d_opts *o);
/*
 * PyTorch's conv_transpose2d: x [N, C_in, H, W], w [C_in, C_out/groups, KH, KW] ->
 * [N, C_out, (H - 1) stride_h - 2 pad_h + dilation_h (KH - 1) + output_padding_h + 1,
 * ...]. It is the adjoint (gradient in x) of kiln_conv2d with the same options and w.
 */
KILN_API kiln_tensor *kiln_conv_transpose2d(kiln_graph *g, kiln_tensor *x, kiln_tensor *w,
                                            const struct kiln_conv2d_opts *o);

/* Pooling options; pairs are [h, w]. stride 0 means stride = kernel (PyTorch's default);
 * padding <= kernel / 2. OH = (H + 2 pad_h - kernel_h) / stride_h + 1 (ceil_mode off). */
struct kiln_pool2d_opts {
    int32_t kernel[2], stride[2], padding[2];
    int32_t count_include_pad; /* average pooling: 1 (PyTorch's default) divides by the
                                  kernel size, 0 by the in-bounds count */
};

/* Max over each window of x [N, C, H, W]; padding is -inf; the first maximum of a
 * window (row-major) gets the gradient. */
KILN_API kiln_tensor *kiln_max_pool2d(kiln_graph *g, kiln_tensor *x,
                                      const struct kiln_pool2d_opts *o);
/* Mean over each window of x [N, C, H, W] (zero padding). */
KILN_API kiln_tensor *kiln_avg_pool2d(kiln_graph *g, kiln_tensor *x,
                                      const struct kiln_pool2d_opts *o);
/* Mean over H and W: [N, C, H, W] -> [N, C, 1, 1] (kiln_mean of axes 2 and 3). */
KILN_API kiln_tensor *kiln_global_avg_pool2d(kiln_graph *g, kiln_tensor *x);
/* Nearest-neighbour upsampling: [N, C, H, W] -> [N, C, H f_h, W f_w]. */
KILN_API kiln_tensor *kiln_upsample_nearest2d(kiln_graph *g, kiln_tensor *x, int32_t factor_h,
                                              int32_t factor_w);

/*
 * Batch-norm building blocks (kiln_batch_norm in kiln/nn.h assembles them). x is
 * [N, C, ...]; the per-channel tensors are [C]. kiln_bn_stats returns [2, C]: in
 * training runs the batch mean and biased variance over all dims but 1, in
 * kiln_graph_eval a copy of running_mean and running_var. kiln_bn_apply returns
 * (x - mean) / sqrt(var + eps) * gamma + beta. kiln_bn_running_update appends an
 * in-place update of the running statistics, run in training runs only:
 * r = (1 - momentum) r + momentum s, with the unbiased variance for r_var (x gives the
 * count). It returns an empty tensor; keep it reachable by creating it in the graph.
 */
KILN_API kiln_tensor *kiln_bn_stats(kiln_graph *g, kiln_tensor *x, kiln_tensor *running_mean,
                                    kiln_tensor *running_var);
KILN_API kiln_tensor *kiln_bn_apply(kiln_graph *g, kiln_tensor *x, kiln_tensor *stats,
                                    kiln_tensor *gamma, kiln_tensor *beta, float eps);
KILN_API kiln_tensor *kiln_bn_running_update(kiln_graph *g, kiln_tensor *running_mean,
                                             kiln_tensor *running_var, kiln_tensor *stats,
                                             kiln_tensor *x, float momentum);

/*
 * PyTorch's F.layer_norm(x, x.shape[-norm_dims:], gamma, beta, eps): each slice of x
 * over its last norm_dims dims is normalized by its own mean and biased variance,
 * (x - mean) / sqrt(var + eps), then scaled by gamma and shifted by beta elementwise
 * (both f32 with exactly those trailing dims, or NULL for ones and zeros: no affine).
 * The layer with parameters is kiln_layer_norm_layer (kiln/attention.h).
 */
KILN_API kiln_tensor *kiln_layer_norm(kiln_graph *g, kiln_tensor *x, kiln_tensor *gamma,
                                      kiln_tensor *beta, int32_t norm_dims, float eps);

/* PyTorch's LocalResponseNorm(size, alpha, beta, k) across dim 1 of x [N, C, ...]:
 * y_c = x_c / (k + alpha / size * sum of x_j^2, j in [c - size/2, c + (size-1)/2])^beta. */
KILN_API kiln_tensor *kiln_lrn(kiln_graph *g, kiln_tensor *x, int32_t size, float alpha, float beta,
                               float k);

/*
 * Inverted dropout: in training runs each element is zeroed with probability p and the
 * others scaled by 1 / (1 - p); in kiln_graph_eval y = x. Masks are a pure function of
 * (seed, the run number, the element index), the same on every backend, new each run.
 */
KILN_API kiln_tensor *kiln_dropout(kiln_graph *g, kiln_tensor *x, float p, uint64_t seed);

/* Joins n >= 1 tensors along axis; the other dims must match. [in] xs: borrowed. */
KILN_API kiln_tensor *kiln_concat(kiln_graph *g, int32_t n, kiln_tensor *const *xs, int32_t axis);
/* Stacks n >= 1 tensors of one shape along a new dim at axis (0..rank): PyTorch's
 * torch.stack (a reshape of each, which is a view, and a concat). [in] xs: borrowed. */
KILN_API kiln_tensor *kiln_stack(kiln_graph *g, int32_t n, kiln_tensor *const *xs, int32_t axis);
/* x[..., start : start + length, ...] along axis. When the result is one contiguous
 * range of x (every dim before axis of size 1, as after kiln_split of the first dim), it
 * is a view of x where the backend can bind its offset, and no copy runs. */
KILN_API kiln_tensor *kiln_slice(kiln_graph *g, kiln_tensor *x, int32_t axis, int64_t start,
                                 int64_t length);
/* Splits x along axis into n slices of sizes[i] (summing to x's extent): torch.split.
 * [out] out: n tensors (the graph's poisoned tensor for each when the call fails). */
KILN_API void kiln_split(kiln_graph *g, kiln_tensor *x, int32_t axis, int32_t n,
                         const int64_t *sizes, kiln_tensor **out);
/* Splits x along axis into n slices as equal as possible, the first (extent mod n) one
 * longer (numpy.array_split; n <= the extent). [out] out: n tensors. */
KILN_API void kiln_chunk(kiln_graph *g, kiln_tensor *x, int32_t axis, int32_t n, kiln_tensor **out);
/* Zeros around x: before[i] and after[i] (x's rank entries each, >= 0) per dim. */
KILN_API kiln_tensor *kiln_pad(kiln_graph *g, kiln_tensor *x, const int32_t *before,
                               const int32_t *after);

/* ---- Indexing, selection and masks ---- */

/*
 * x's slices along axis picked by the i32 indices idx (any rank; PyTorch's index_select
 * for rank 1): out = x.shape[:axis] + idx.shape + x.shape[axis + 1:], out[..., j..., ...]
 * = x[..., idx[j...], ...]. An index outside [0, x.dims[axis]) reads zeros and gets no
 * gradient. x is f32 (differentiable) or i32. The gradient sums the rows of each index
 * in index order, without atomics, so it is the same on every backend and run.
 */
KILN_API kiln_tensor *kiln_gather(kiln_graph *g, kiln_tensor *x, kiln_tensor *idx, int32_t axis);
/* Embedding lookup: table [V, D], idx i32 of any rank -> idx.shape + [D] (kiln_gather
 * along axis 0). Row padding_idx (in [0, V); -1: none) is read like any other but never
 * gets a gradient, as with PyTorch's nn.Embedding(padding_idx). */
KILN_API kiln_tensor *kiln_embedding(kiln_graph *g, kiln_tensor *table, kiln_tensor *idx,
                                     int32_t padding_idx);
/* The adjoint of kiln_gather: zeros of src.shape[:axis] + [size] + src.shape[axis +
 * idx.rank:] to which src[..., j..., ...] is added at row idx[j...] (PyTorch's
 * index_add_ into zeros), in index order; indices outside [0, size) add nothing. */
KILN_API kiln_tensor *kiln_scatter_add(kiln_graph *g, kiln_tensor *src, kiln_tensor *idx,
                                       int32_t axis, int64_t size);
/* cond != 0 ? a : b elementwise, the three broadcast like NumPy (any rank up to
 * KILN_MAX_DIMS). cond is f32 (NaN counts as nonzero) or i32 and gets no gradient; a and
 * b are f32. */
KILN_API kiln_tensor *kiln_where(kiln_graph *g, kiln_tensor *cond, kiln_tensor *a, kiln_tensor *b);
/* f32 mask of lengths.shape + [max_len]: 1 where t < lengths[...] (padded sequences). */
KILN_API kiln_tensor *kiln_sequence_mask(kiln_graph *g, kiln_tensor *lengths, int64_t max_len);

/* ---- Differentiation, compilation, execution ---- */

/*
 * Appends the nodes computing d loss / d t for every trainable parameter (and every
 * tensor between them and loss) and adding each parameter's gradient into the store's
 * (kiln_tensor_grad of a parameter is then the store's accumulated gradient). loss must
 * be a scalar f32. Call once per graph.
 * Returns KILN_OK, KILN_E_SHAPE, KILN_E_STATE (already differentiated or compiled).
 */
KILN_API kiln_status kiln_graph_backward(kiln_graph *g, kiln_tensor *loss);

/*
 * Plans memory (intermediates share buffers by liveness), allocates device storage,
 * initializes parameters and optimizer state on the device, and checks that the backend
 * has a kernel for every node (an op missing on the backend is KILN_E_UNSUPPORTED,
 * naming it). Returns the first build error, KILN_E_STATE, or a device error.
 */
KILN_API kiln_status kiln_graph_compile(kiln_graph *g);

/* Runs every node of g once in training mode: forward and, for a differentiated graph,
 * backward, adding the gradients into the store. Parameters change only in an
 * optimizer step (kiln/optim.h; kiln_train_step does both in one submission). */
KILN_API kiln_status kiln_graph_run(kiln_graph *g);

/* Runs in inference mode only the nodes that targets depend on. [in] targets: borrowed. */
KILN_API kiln_status kiln_graph_eval(kiln_graph *g, int32_t n_targets, kiln_tensor *const *targets);

/* Resets g's store (kiln_store_reset): every parameter and buffer from its
 * initializer, gradients and optimizer state to zero. */
KILN_API kiln_status kiln_graph_reset_params(kiln_graph *g);

/* Number of nodes in g, and the bytes of device memory planned for intermediates and
 * for persistent tensors (after compile). */
KILN_API int32_t kiln_graph_n_nodes(const kiln_graph *g);
KILN_API void kiln_graph_memory(const kiln_graph *g, size_t *arena_bytes, size_t *persistent_bytes);

#ifdef __cplusplus
}
#endif

#endif /* KILN_GRAPH_H */
