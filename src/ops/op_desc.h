/*
 * op_desc.h - the op enum, op parameter structs and the op descriptor (STYLE B.7).
 *
 * A descriptor says everything backend-independent about an op: arity, parameter size,
 * shape inference, the backward rule (written with other ops), the tolerance its
 * results are held to, and the CPU reference kernel that defines what it means. The
 * reference works on host pointers (kiln__op_args), so the CPU backend, the KILN_CHECK
 * shadow and the tests all run the same code. Backend kernels are not here: each
 * backend has its own table indexed by enum kiln_op (src/backend_impl.h).
 */
#ifndef KILN_OP_DESC_H
#define KILN_OP_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln/graph.h"

enum kiln_op {
#define KILN_OP(name, family, n_in) KILN_OP_##name,
#include "op_list.h"
#undef KILN_OP
    KILN_OP_COUNT
};

/* The parameter structs declared by the rows of op_list.h (KILN_OP_P): struct
 * kiln__p_<tag> { fields }. */
#define KILN_OP(name, family, n_in)
#define KILN_OP_P(name, family, n_in, tag, fields)                                                 \
    struct kiln__p_##tag {                                                                         \
        fields                                                                                     \
    };
#include "op_list.h"
#undef KILN_OP_P
#undef KILN_OP

/* Leaves (inputs, parameters, optimizer state, constants) carry this op id. */
#define KILN__OP_LEAF KILN_OP_COUNT

/* Sources of one node: the most any op takes (CONCAT, STACK); builders of variadic ops
 * split longer lists into a tree of nodes. Nodes keep up to KILN__SRC_INLINE sources
 * inline and allocate the array beyond that. */
#define KILN__MAX_SRC      64
#define KILN__SRC_INLINE   8
#define KILN__PARAMS_BYTES 160

/* Work (elements) below which a CPU reference loop stays on one thread. OpenMP's idle
 * threads spin after a parallel region and then compete with OpenBLAS's threads for the
 * cores; for the small tensors of a training step that costs more than it saves. */
#define KILN__PAR_MIN (1 << 20)

/* ==== Parameter structs (POD, memcpy'd into the node) ==== */

struct kiln__p_scale_shift {
    float scale, shift;
};
struct kiln__p_alpha { /* LEAKY_RELU, LEAKY_RELU_BWD */
    float alpha;
};
struct kiln__p_matmul {
    int32_t trans_a, trans_b;
};
struct kiln__p_transpose {
    int32_t perm[KILN_MAX_DIMS]; /* out.dims[i] = in.dims[perm[i]] for i < rank */
};
struct kiln__p_reduce { /* REDUCE_SUM: out = scale * sum over axes (bit i = dim i) */
    uint32_t axes;
    float scale;
};
struct kiln__p_broadcast { /* BROADCAST: out = scale * x expanded to shape */
    float scale;
    struct kiln_shape shape;
};
struct kiln__p_reshape { /* RESHAPE: the new shape */
    struct kiln_shape shape;
};
struct kiln__p_sgd {
    float lr, momentum, dampening, weight_decay;
    int32_t nesterov;
    int32_t step;       /* 1 on the first step: the velocity starts as the gradient (PyTorch) */
    int32_t clear_grad; /* 1: the gradient is zeroed once read (the optimizer's clear) */
};
struct kiln__p_adam {
    float lr, beta1, beta2, eps, weight_decay;
    int32_t decoupled;
    float bc1, bc2;     /* 1 - beta1^t and 1 - beta2^t, computed by the host in double */
    int32_t clear_grad; /* as SGD's */
};

/* RMSPROP_UPDATE: torch.optim.RMSprop without momentum and centering. */
struct kiln__p_rmsprop {
    float lr, alpha, eps, weight_decay;
};
/* ADAGRAD_UPDATE: torch.optim.Adagrad; lr is the step's rate lr / (1 + (t - 1) lr_decay),
 * computed by the host. */
struct kiln__p_adagrad {
    float lr, eps, weight_decay;
};

/* ACCUMULATE: dst = alpha dst + beta x in place; a coefficient of 0 drops its term (so
 * alpha = beta = 0 writes zeros whatever dst and x hold, inf and NaN included). */
struct kiln__p_accum {
    float alpha, beta;
};

/* ---- Convolutional-network ops (conv.c, pool.c, norm.c, layout.c, random.c) ---- */

/* CONV2D, CONV2D_BWD_DATA, CONV2D_BWD_FILTER. Pairs are [h, w]. For x [N, C, H, W] and
 * w [K, C/groups, KH, KW]: OH = (H + 2 pad_h - dilation_h (KH - 1) - 1) / stride_h + 1
 * (floor), OW likewise; y[n, k, oh, ow] = sum over c in k's group, kh, kw of
 * x[n, c, oh stride_h - pad_h + kh dilation_h, ow stride_w - pad_w + kw dilation_w]
 * w[k, c mod (C/groups), kh, kw], where x is zero outside [0, H) x [0, W). */
struct kiln__p_conv2d {
    int32_t stride[2], pad[2], dilation[2];
    int32_t groups;
    int32_t in_hw[2];  /* CONV2D_BWD_DATA: H, W of dx (0 elsewhere) */
    int32_t kernel[2]; /* CONV2D_BWD_FILTER: KH, KW of dw (0 elsewhere) */
};
/* MAXPOOL2D(_BWD), AVGPOOL2D(_BWD). OH = (H + 2 pad_h - kernel_h) / stride_h + 1 (floor;
 * PyTorch's ceil_mode=False), pad <= kernel / 2. Max pooling pads with -inf; average
 * pooling with zeros, dividing by kernel_h kernel_w when count_include_pad (PyTorch's
 * default) and by the number of in-bounds elements otherwise. */
struct kiln__p_pool2d {
    int32_t kernel[2], stride[2], pad[2];
    int32_t count_include_pad; /* AVGPOOL2D(_BWD) */
    int32_t in_hw[2];          /* AVGPOOL2D_BWD: H, W of dx */
};
/* UPSAMPLE_NEAREST(_BWD): y[n, c, i, j] = x[n, c, i / factor_h, j / factor_w]. */
struct kiln__p_upsample {
    int32_t factor[2];
};
/* BN_APPLY(_BWD, _BWD_PARAMS): eps; BN_RUNNING_UPDATE: momentum and count, the number
 * of values per channel in the batch (N H W), for the unbiased variance. */
struct kiln__p_bn {
    float eps, momentum;
    int32_t count;
};
/* LRN(_BWD), PyTorch's LocalResponseNorm: y_c = x_c / (k + alpha / size *
 * sum_{j = c - size/2}^{c + (size-1)/2} x_j^2)^beta over channels (dim 1), zero outside. */
struct kiln__p_lrn {
    int32_t size;
    float alpha, beta, k;
};
/* CONCAT: inputs joined along axis (all other dims equal). */
struct kiln__p_concat {
    int32_t axis;
};
/* SLICE: out.dims[i] = size[i], out[c] = x[c + begin] (per dim, rank of x). */
struct kiln__p_slice {
    int32_t begin[KILN_MAX_DIMS], size[KILN_MAX_DIMS];
};
/* PAD: out.dims[i] = before[i] + x.dims[i] + after[i], zeros around x. */
struct kiln__p_pad {
    int32_t before[KILN_MAX_DIMS], after[KILN_MAX_DIMS];
};
/* DROPOUT: see src/ops/random.c for the exact mask. scale = 1 / (1 - p) rounded to f32 on
 * the host (0 when p = 1), so that no device divides. */
struct kiln__p_dropout {
    float p, scale;
    uint64_t seed;
};

/* ---- Recurrent ops (rnn.c) ---- */

/* RNN_SEQ, RNN_SEQ_BWD: the cell (the values of enum kiln_rnn_cell, kiln/nn.h) and the
 * direction. Layouts are described at the top of src/ops/rnn.c. */
enum {
    KILN__RNN_TANH = 0,
    KILN__RNN_RELU = 1,
    KILN__RNN_LSTM = 2,
    KILN__RNN_GRU = 3,
};
struct kiln__p_rnn {
    int32_t cell;
    int32_t reverse; /* 1: steps run from t = T - 1 down to 0 */
};

/* ==== Descriptor ==== */

/* Host view of one node's data: what a CPU reference kernel reads and writes. */
struct kiln__op_args {
    const struct kiln_tensor *node; /* borrowed: shapes, dtypes, params */
    void *out;                      /* the node's output (NULL for in-place ops) */
    void **in;                      /* node->n_src inputs; written only by in-place ops */
};

/* Tolerance of a backend's result against the CPU reference (STYLE B.9): NMSE first,
 * then every element within abs or rel * (|a| + |b|). */
struct kiln__tol {
    double nmse, abs, rel;
};

enum {
    KILN__OPF_VIEW = 1u << 0,     /* output aliases src[0]: no kernel runs */
    KILN__OPF_INPLACE = 1u << 1,  /* writes the inputs in inplace_mask; output is empty */
    KILN__OPF_VARIADIC = 1u << 2, /* takes 1..n_in sources (node->n_src says how many) */
    /* The GPU backends may run the op through their generic launcher when their kernel
     * table has no entry for it (see KILN__GEN_HDR_BYTES below). */
    KILN__OPF_GENERIC = 1u << 3,
    /* Writes its output and also the sources in inplace_mask (riders: nodes whose
     * storage this op's kernel fills, see the writer field in src/graph/graph_impl.h).
     * Those sources are written, not read; a node lists one only after the planner's
     * fusion pass made it a rider of the node (fuse.c ride). */
    KILN__OPF_ALSO_WRITES = 1u << 4,
};

/*
 * The generic kernel convention (KILN__OPF_GENERIC). A backend runs such an op without
 * op-specific host code: one work-item per item (desc->gpu_items, else one per output
 * element), over a grid that may be smaller (kernels loop with a grid stride where the
 * backend says so: Vulkan); its buffers are the node's sources in order, then its
 * output (in-place ops: the sources only); its scalars are a header of
 * KILN__GEN_HDR_BYTES, then the node's params struct whole. Every parameter field is 4
 * bytes (int32_t, uint32_t or float), so that the struct has one layout on the host, in
 * OpenCL C and in a GLSL push-constant block; infer may write derived sizes into the
 * params so that kernels need nothing else. Kernel names: the op's descriptor name in
 * opencl/<family>.cl and the variant <family>_<name> of shaders/<family>.comp built with
 * -DOP_<NAME>.
 */
struct kiln__gen_hdr {
    uint32_t n;              /* items */
    uint32_t training;       /* 1 in kiln_graph_run, 0 in kiln_graph_eval */
    uint32_t run_lo, run_hi; /* the graph's run count (random ops) */
};
#define KILN__GEN_HDR_BYTES  16
/* Params of generic ops must fit a 128-byte push-constant block after the header. */
#define KILN__GEN_PARAMS_MAX (128 - KILN__GEN_HDR_BYTES)

struct kiln__sc_case;

struct kiln__op_desc {
    const char *name; /* lowercase, e.g. "matmul" */
    uint8_t n_in;
    uint32_t flags;
    uint32_t inplace_mask; /* bit i: src[i] is written (KILN__OPF_INPLACE, _ALSO_WRITES) */
    size_t params_bytes;
    /* Validates the sources and params and sets the node's dtype and shape. */
    kiln_status (*infer)(struct kiln_tensor *n);
    /* optional: NULL = not differentiable. Sets dx[i] to the gradient contribution for
     * every source i with kiln__needs_grad(src[i]); leaves other entries NULL. */
    void (*backward)(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                     struct kiln_tensor **dx);
    /* The reference kernel: defines the op. */
    kiln_status (*cpu_ref)(const struct kiln__op_args *a);
    struct kiln__tol tol;
    /* optional: NULL = n->n_elems. The work-items of the generic GPU kernel. */
    int64_t (*gpu_items)(const struct kiln_tensor *n);
    /* optional: NULL = never a view. Returns true when the output is a contiguous range
     * of src[0] starting *offset bytes into it; the node is then made a view of its
     * source (no kernel runs) when the backend can bind that offset (its
     * view_alignment), else it runs as a copy. */
    bool (*view)(const struct kiln_tensor *n, size_t *offset);
    /* optional: n_checks cases of kiln_selfcheck (src/check/selfcheck_impl.h) that run
     * the op, kept beside its descriptor; the older ops' cases are in the table of
     * src/check/selfcheck_cases.c. The self-check fails an op that no case runs. */
    const struct kiln__sc_case *checks;
    int32_t n_checks;
};

extern const struct kiln__op_desc *const kiln__ops[KILN_OP_COUNT];

/* Returns the op's name, or "leaf" for KILN__OP_LEAF. */
const char *kiln__op_name(int op);

/* Returns the op's family as op_list.h names it ("binary"), or "leaf". */
const char *kiln__op_family(int op);

/* Tolerances shared by families, with their reasons in op_table.c. */
extern const struct kiln__tol kiln__tol_exact;       /* bitwise-reproducible ops */
extern const struct kiln__tol kiln__tol_elementwise; /* transcendental elementwise ops */
extern const struct kiln__tol kiln__tol_reduction;   /* sums, matmul, softmax, losses */

/* ==== Broadcasting helpers shared by every backend ==== */

/* The 4-dim helpers serve kernels written for up to 4 dims; they require rank <= 4
 * (callers reduce higher ranks with kiln__iter first). */

/* The node's output dims padded to 4 with leading ones. */
void kiln__dims4(const struct kiln_shape *s, int64_t out[4]);

/* For each of the 4 padded output dims of node n, the element stride of source i
 * (0 where source i is broadcast along that dim). Sources are right-aligned. */
void kiln__bcast_strides(const struct kiln_tensor *n, int i, int64_t strides[4]);

/* Row-major strides of a shape padded to 4 dims. */
void kiln__strides4(const struct kiln_shape *s, int64_t out[4]);

/* The same over KILN_MAX_DIMS padded dims. */
void kiln__dims_nd(const struct kiln_shape *s, int64_t out[KILN_MAX_DIMS]);
void kiln__strides_nd(const struct kiln_shape *s, int64_t out[KILN_MAX_DIMS]);
/* Strides of a source of shape src read under numpy broadcasting into shape out. */
void kiln__bcast_strides_nd(const struct kiln_shape *out, const struct kiln_shape *src,
                            int64_t strides[KILN_MAX_DIMS]);

#define KILN__ITER_OPS 4

/*
 * An iteration space over a node's output with the element strides of up to
 * KILN__ITER_OPS operands, adjacent dims merged wherever every operand's strides allow
 * (so a broadcast over 8 dims usually runs as 1 to 3), and dims of extent 1 dropped.
 * rank >= 1; dims are outermost first, as are each operand's strides.
 */
struct kiln__iter {
    int32_t rank;
    int64_t dims[KILN_MAX_DIMS];
    int64_t strides[KILN__ITER_OPS][KILN_MAX_DIMS];
};

/* The iteration over shape out for n_ops operands of shapes ops[k], each read with
 * numpy broadcasting (a NULL shape is out itself, contiguous), then merged. */
void kiln__iter_bcast(const struct kiln_shape *out, int n_ops, const struct kiln_shape *const *ops,
                      struct kiln__iter *it);

/* Merges adjacent dims of it where every operand's strides are contiguous across them,
 * and drops dims of extent 1. */
void kiln__iter_merge(struct kiln__iter *it, int n_ops);

/* Pads it to exactly r >= it->rank dims with leading ones (stride 0): the form kernels
 * with a fixed number of dims take. */
void kiln__iter_pad(struct kiln__iter *it, int n_ops, int32_t r);

/* ---- Matrix products (gemm.c) ---- */

/* The sizes of a MATMUL node: each of its batch entries multiplies an m x k by a k x n
 * matrix. The batch (the output's dims but the last two, batch entries in all) is merged
 * into nb dims bdims (outermost first, nb >= 1) along which A's and B's first elements
 * move by sa[i] and sb[i] elements (0 where the operand is broadcast); C is contiguous,
 * m n elements per entry. */
struct kiln__mm {
    int64_t m, n, k, batch;
    int32_t nb;
    int64_t bdims[KILN_MAX_DIMS], sa[KILN_MAX_DIMS], sb[KILN_MAX_DIMS];
};
void kiln__matmul_dims(const struct kiln_tensor *n, struct kiln__mm *mm);
/* The element offsets in A and B of batch entry i. */
void kiln__matmul_batch(const struct kiln__mm *mm, int64_t i, int64_t *oa, int64_t *ob);

/* ---- Shapes for the GPU kernels: 4 dims when they suffice, else 8 ---- */

/* Each merges what the op allows; when at most 4 dims remain it pads them to exactly 4
 * (leading ones) and returns 4, else it pads them to KILN_MAX_DIMS and returns that.
 * The GPU backends run their 4-dim kernels for 4 and their 8-dim ones otherwise. */

/* Elementwise with broadcasting: op 0 the output (contiguous), op 1 + i source i
 * (n->n_src <= 3). */
int32_t kiln__gpu_iter_bcast(const struct kiln_tensor *n, struct kiln__iter *it);

/* TRANSPOSE: op 0 the output (contiguous), op 1 the input's stride for each output dim. */
int32_t kiln__gpu_iter_transpose(const struct kiln_tensor *n, struct kiln__iter *it);

/* REDUCE_SUM: input dims id, output dims od (1 where reduced) and the input's strides,
 * adjacent dims merged when both are reduced or both kept. */
int32_t kiln__gpu_reduce(const struct kiln_tensor *n, int64_t id[KILN_MAX_DIMS],
                         int64_t od[KILN_MAX_DIMS], int64_t is[KILN_MAX_DIMS]);

/* SLICE and PAD: output dims od, input dims id and strides is, and the box offset of the
 * smaller tensor in the larger (SLICE: begin in the input; PAD: before in the output). */
int32_t kiln__gpu_box(const struct kiln_tensor *n, int64_t od[KILN_MAX_DIMS],
                      int64_t id[KILN_MAX_DIMS], int64_t is[KILN_MAX_DIMS],
                      int64_t offs[KILN_MAX_DIMS]);

/* ---- Recurrent ops: sizes shared by the reference and the GPU launchers (rnn.c) ---- */

/* Gates per step (1, 4, 3), blocks of RNN_SEQ's output (1, 7, 5) and initial states
 * (1, or 2 for an LSTM) of a cell. */
int32_t kiln__rnn_gates(int32_t cell);
int32_t kiln__rnn_blocks(int32_t cell);
int32_t kiln__rnn_states(int32_t cell);

/* The sizes of an RNN_SEQ or RNN_SEQ_BWD node: T, N, H, G = gates H, T N H, T N G, the
 * elements of RNN_SEQ's output, of the gate gradients (dX and, for a GRU, dH) and of
 * RNN_SEQ_BWD's output. */
struct kiln__rnn_dims {
    int64_t t, n, h, g, tnh, tng, y_elems, dx_elems, d_elems;
};
void kiln__rnn_dims(const struct kiln_tensor *n, struct kiln__rnn_dims *d);

/* Appends RNN_SEQ (xg, w_hh, b_hh, s0, mask) with the given cell and direction. */
struct kiln_tensor *kiln__rnn_seq(kiln_graph *g, int32_t cell, int32_t reverse,
                                  struct kiln_tensor *xg, struct kiln_tensor *w_hh,
                                  struct kiln_tensor *b_hh, struct kiln_tensor *s0,
                                  struct kiln_tensor *mask);

#endif /* KILN_OP_DESC_H */
