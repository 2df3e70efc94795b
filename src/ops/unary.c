/*
 * unary.c - elementwise ops of one tensor (scale-shift, relu, leaky relu, sigmoid,
 * tanh, gelu, exp, log, sqrt) and the _BWD kernels their backward rules emit. The CPU
 * reference uses the overflow-safe forms the GPU kernels must also use: sigmoid through
 * e^-|x|, tanh from libm.
 */
#include <math.h>

#include "../graph/graph_impl.h"
#include "family.h"

#define GELU_K 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_C 0.044715f

static kiln_status infer_unary(struct kiln_tensor *n)
{
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    n->shape = n->src[0]->shape;
    return KILN_OK;
}

static kiln_status infer_unary_bwd(struct kiln_tensor *n)
{
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_dtype(n, 1, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_same_shape(n, 0, 1));
    n->shape = n->src[0]->shape;
    return KILN_OK;
}

/* ==== Scalar functions (the definitions) ==== */

static inline float sigmoidf(float x)
{
    float e = expf(-fabsf(x));
    return x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

static inline float geluf(float x)
{
    return 0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_C * x * x * x)));
}

static inline float gelu_grad(float x)
{
    float t = tanhf(GELU_K * (x + GELU_C * x * x * x));
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
}

/* ==== CPU reference ==== */

#define UNARY_LOOP(expr)                                                                           \
    do {                                                                                           \
        const float *x = args->in[0];                                                              \
        float *y = args->out;                                                                      \
        int64_t n_el = args->node->n_elems;                                                        \
        _Pragma("omp parallel for if (n_el > KILN__PAR_MIN)") for (int64_t i = 0; i < n_el; i++)   \
        {                                                                                          \
            float v = x[i];                                                                        \
            y[i] = (expr);                                                                         \
        }                                                                                          \
    } while (0)

#define UNARY_BWD_LOOP(expr)                                                                       \
    do {                                                                                           \
        const float *x = args->in[0], *dy = args->in[1];                                           \
        float *y = args->out;                                                                      \
        int64_t n_el = args->node->n_elems;                                                        \
        _Pragma("omp parallel for if (n_el > KILN__PAR_MIN)") for (int64_t i = 0; i < n_el; i++)   \
        {                                                                                          \
            float v = x[i], g = dy[i];                                                             \
            y[i] = (expr);                                                                         \
        }                                                                                          \
    } while (0)

static kiln_status ref_scale_shift(const struct kiln__op_args *args)
{
    const struct kiln__p_scale_shift *p = kiln__params(args->node);
    float a = p->scale, b = p->shift;
    UNARY_LOOP(a * v + b);
    return KILN_OK;
}

static kiln_status ref_relu(const struct kiln__op_args *args)
{
    UNARY_LOOP(v > 0.0f ? v : 0.0f);
    return KILN_OK;
}

static kiln_status ref_leaky_relu(const struct kiln__op_args *args)
{
    float al = ((const struct kiln__p_alpha *)kiln__params(args->node))->alpha;
    UNARY_LOOP(v > 0.0f ? v : al * v);
    return KILN_OK;
}

static kiln_status ref_sigmoid(const struct kiln__op_args *args)
{
    UNARY_LOOP(sigmoidf(v));
    return KILN_OK;
}

static kiln_status ref_tanh(const struct kiln__op_args *args)
{
    UNARY_LOOP(tanhf(v));
    return KILN_OK;
}

static kiln_status ref_gelu(const struct kiln__op_args *args)
{
    UNARY_LOOP(geluf(v));
    return KILN_OK;
}

static kiln_status ref_exp(const struct kiln__op_args *args)
{
    UNARY_LOOP(expf(v));
    return KILN_OK;
}

static kiln_status ref_log(const struct kiln__op_args *args)
{
    UNARY_LOOP(logf(v));
    return KILN_OK;
}

static kiln_status ref_sqrt(const struct kiln__op_args *args)
{
    UNARY_LOOP(sqrtf(v));
    return KILN_OK;
}

static kiln_status ref_relu_bwd(const struct kiln__op_args *args)
{
    UNARY_BWD_LOOP(v > 0.0f ? g : 0.0f);
    return KILN_OK;
}

static kiln_status ref_leaky_relu_bwd(const struct kiln__op_args *args)
{
    float al = ((const struct kiln__p_alpha *)kiln__params(args->node))->alpha;
    UNARY_BWD_LOOP(v > 0.0f ? g : al * g);
    return KILN_OK;
}

static kiln_status ref_sigmoid_bwd(const struct kiln__op_args *args)
{
    UNARY_BWD_LOOP(g * v * (1.0f - v));
    return KILN_OK;
}

static kiln_status ref_tanh_bwd(const struct kiln__op_args *args)
{
    UNARY_BWD_LOOP(g * (1.0f - v * v));
    return KILN_OK;
}

static kiln_status ref_gelu_bwd(const struct kiln__op_args *args)
{
    UNARY_BWD_LOOP(g * gelu_grad(v));
    return KILN_OK;
}

/* ==== Backward rules ==== */

static struct kiln_tensor *bwd_node(kiln_graph *g, int op, struct kiln_tensor *x,
                                    struct kiln_tensor *dy, const void *p, size_t pb)
{
    struct kiln_tensor *src[2] = {x, dy};
    return kiln__node(g, op, 2, src, p, pb);
}

static void bwd_scale_shift(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                            struct kiln_tensor **dx)
{
    const struct kiln__p_scale_shift *p = kiln__params(n);
    dx[0] = kiln_scale(g, dy, p->scale);
}

/* RELU_BWD reads the output y: y > 0 exactly where x > 0 (NaN included: relu(NaN) = 0),
 * and y is kept anyway for the next layer's gradient, while x need not be: the planner
 * can then fuse the ADD before a RELU (src/graph/fuse.c). */
static void bwd_relu(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                     struct kiln_tensor **dx)
{
    dx[0] = bwd_node(g, KILN_OP_RELU_BWD, n, dy, NULL, 0);
}

static void bwd_leaky_relu(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                           struct kiln_tensor **dx)
{
    dx[0] =
        bwd_node(g, KILN_OP_LEAKY_RELU_BWD, n->src[0], dy, n->params, sizeof(struct kiln__p_alpha));
}

static void bwd_sigmoid(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                        struct kiln_tensor **dx)
{
    dx[0] = bwd_node(g, KILN_OP_SIGMOID_BWD, n, dy, NULL, 0);
}

static void bwd_tanh(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                     struct kiln_tensor **dx)
{
    dx[0] = bwd_node(g, KILN_OP_TANH_BWD, n, dy, NULL, 0);
}

static void bwd_gelu(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                     struct kiln_tensor **dx)
{
    dx[0] = bwd_node(g, KILN_OP_GELU_BWD, n->src[0], dy, NULL, 0);
}

static void bwd_exp(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                    struct kiln_tensor **dx)
{
    dx[0] = kiln_mul(g, dy, n);
}

static void bwd_log(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                    struct kiln_tensor **dx)
{
    dx[0] = kiln_div(g, dy, n->src[0]);
}

static void bwd_sqrt(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                     struct kiln_tensor **dx)
{
    dx[0] = kiln_scale(g, kiln_div(g, dy, n), 0.5f);
}

/* ==== Descriptors ==== */

#define UNARY_DESC(NAME, lname, nin, inf, pb, bwd, ref, ...)                                       \
    const struct kiln__op_desc kiln__desc_##NAME = {.name = lname,                                 \
                                                    .n_in = nin,                                   \
                                                    .params_bytes = pb,                            \
                                                    .infer = inf,                                  \
                                                    .backward = bwd,                               \
                                                    .cpu_ref = ref,                                \
                                                    .tol = __VA_ARGS__}

#define TOL_EXACT                                                                                  \
    {                                                                                              \
        0, 0, 0                                                                                    \
    }
/* A fused multiply-add on one side and not the other changes the last bit. */
#define TOL_ARITH                                                                                  \
    {                                                                                              \
        1e-12, 1e-7, 1e-6                                                                          \
    }
#define TOL_TRANS                                                                                  \
    {                                                                                              \
        1e-10, 1e-6, 1e-5                                                                          \
    } /* see kiln__tol_elementwise */

UNARY_DESC(SCALE_SHIFT, "scale_shift", 1, infer_unary, sizeof(struct kiln__p_scale_shift),
           bwd_scale_shift, ref_scale_shift, TOL_ARITH);
/* PyTorch: F.relu. Differs on NaN: kiln's x > 0 ? x : 0 gives relu(NaN) = 0 where
 * PyTorch propagates NaN (tools/golden/make_goldens.py maps it). */
UNARY_DESC(RELU, "relu", 1, infer_unary, 0, bwd_relu, ref_relu, TOL_EXACT);
UNARY_DESC(LEAKY_RELU, "leaky_relu", 1, infer_unary, sizeof(struct kiln__p_alpha), bwd_leaky_relu,
           ref_leaky_relu, TOL_EXACT);
UNARY_DESC(SIGMOID, "sigmoid", 1, infer_unary, 0, bwd_sigmoid, ref_sigmoid, TOL_TRANS);
UNARY_DESC(TANH, "tanh", 1, infer_unary, 0, bwd_tanh, ref_tanh, TOL_TRANS);
/* PyTorch: F.gelu(x, approximate="tanh") (not the default erf form). */
UNARY_DESC(GELU, "gelu", 1, infer_unary, 0, bwd_gelu, ref_gelu, TOL_TRANS);
UNARY_DESC(EXP, "exp", 1, infer_unary, 0, bwd_exp, ref_exp, TOL_TRANS);
UNARY_DESC(LOG, "log", 1, infer_unary, 0, bwd_log, ref_log, TOL_TRANS);
UNARY_DESC(SQRT, "sqrt", 1, infer_unary, 0, bwd_sqrt, ref_sqrt, TOL_TRANS);
UNARY_DESC(RELU_BWD, "relu_bwd", 2, infer_unary_bwd, 0, NULL, ref_relu_bwd, TOL_EXACT);
UNARY_DESC(LEAKY_RELU_BWD, "leaky_relu_bwd", 2, infer_unary_bwd, sizeof(struct kiln__p_alpha), NULL,
           ref_leaky_relu_bwd, TOL_EXACT);
UNARY_DESC(SIGMOID_BWD, "sigmoid_bwd", 2, infer_unary_bwd, 0, NULL, ref_sigmoid_bwd, TOL_ARITH);
UNARY_DESC(TANH_BWD, "tanh_bwd", 2, infer_unary_bwd, 0, NULL, ref_tanh_bwd, TOL_ARITH);
/* gelu'(x) has 1 - t^2 with t = tanh(u) near +-1 for |x| > 3: one ULP of t becomes about
 * 1e-7 absolute there, times 0.5 |x| K (1 + 3 C x^2) (about 9 at |x| = 5) and |dy|, so
 * two devices' tanh differ by a few 1e-6 absolute where the result is about 1e-5. */
UNARY_DESC(GELU_BWD, "gelu_bwd", 2, infer_unary_bwd, 0, NULL, ref_gelu_bwd, {1e-10, 1e-5, 1e-5});

/* ==== Builders ==== */

static kiln_tensor *unary(kiln_graph *g, int op, kiln_tensor *x, const void *p, size_t pb)
{
    if (g == NULL) {
        return NULL;
    }
    return kiln__node(g, op, 1, &x, p, pb);
}

kiln_tensor *kiln_scale_shift(kiln_graph *g, kiln_tensor *x, float scale, float shift)
{
    struct kiln__p_scale_shift p = {scale, shift};
    return unary(g, KILN_OP_SCALE_SHIFT, x, &p, sizeof(p));
}

kiln_tensor *kiln_scale(kiln_graph *g, kiln_tensor *x, float scale)
{
    return kiln_scale_shift(g, x, scale, 0.0f);
}

kiln_tensor *kiln_shift(kiln_graph *g, kiln_tensor *x, float shift)
{
    return kiln_scale_shift(g, x, 1.0f, shift);
}

kiln_tensor *kiln_relu(kiln_graph *g, kiln_tensor *x)
{
    return unary(g, KILN_OP_RELU, x, NULL, 0);
}

kiln_tensor *kiln_leaky_relu(kiln_graph *g, kiln_tensor *x, float alpha)
{
    struct kiln__p_alpha p = {alpha};
    return unary(g, KILN_OP_LEAKY_RELU, x, &p, sizeof(p));
}

kiln_tensor *kiln_sigmoid(kiln_graph *g, kiln_tensor *x)
{
    return unary(g, KILN_OP_SIGMOID, x, NULL, 0);
}

kiln_tensor *kiln_tanh(kiln_graph *g, kiln_tensor *x)
{
    return unary(g, KILN_OP_TANH, x, NULL, 0);
}

kiln_tensor *kiln_gelu(kiln_graph *g, kiln_tensor *x)
{
    return unary(g, KILN_OP_GELU, x, NULL, 0);
}

kiln_tensor *kiln_exp(kiln_graph *g, kiln_tensor *x)
{
    return unary(g, KILN_OP_EXP, x, NULL, 0);
}

kiln_tensor *kiln_log(kiln_graph *g, kiln_tensor *x)
{
    return unary(g, KILN_OP_LOG, x, NULL, 0);
}

kiln_tensor *kiln_sqrt(kiln_graph *g, kiln_tensor *x)
{
    return unary(g, KILN_OP_SQRT, x, NULL, 0);
}
