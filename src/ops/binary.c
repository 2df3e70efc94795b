/*
 * binary.c - add, sub, mul and div with numpy broadcasting over up to KILN_MAX_DIMS dims: the
 * builders, shape inference, backward rules and the CPU reference. Sources are
 * right-aligned; a dim of 1 (or a missing leading dim) repeats along the other's. Also
 * ADD_RELU, relu(a + b) in one pass: it has no public builder; the planner puts it in
 * place of an ADD read only by a RELU on backends that run it in one pass (the GPUs, the
 * CPU's fast device; src/graph/fuse.c), and its reference is the two ops' references
 * composed.
 */
#include <math.h>

#include "../graph/graph_impl.h"
#include "family.h"

static kiln_status infer_binary(struct kiln_tensor *n)
{
    const struct kiln_tensor *a = n->src[0], *b = n->src[1];
    const char *name = kiln__ops[n->op]->name;
    char sa[64], sb[64];
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_dtype(n, 1, KILN_DTYPE_F32));
    int32_t rank = a->shape.rank > b->shape.rank ? a->shape.rank : b->shape.rank;
    n->shape.rank = rank;
    for (int32_t i = 0; i < rank; i++) {
        int32_t ia = i - (rank - a->shape.rank), ib = i - (rank - b->shape.rank);
        int64_t da = ia >= 0 ? a->shape.dims[ia] : 1;
        int64_t db = ib >= 0 ? b->shape.dims[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            return KILN_FAIL(
                KILN_E_SHAPE, "%s: shapes %s and %s do not broadcast (dim %d: %lld vs %lld)", name,
                kiln__shape_str(&a->shape, sa, sizeof(sa)),
                kiln__shape_str(&b->shape, sb, sizeof(sb)), i, (long long)da, (long long)db);
        }
        n->shape.dims[i] = da > db ? da : db;
    }
    return KILN_OK;
}

static void bwd_add(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                    struct kiln_tensor **dx)
{
    if (kiln__needs_grad(n->src[0])) {
        dx[0] = kiln__unbroadcast(g, dy, n->src[0]);
    }
    if (kiln__needs_grad(n->src[1])) {
        dx[1] = kiln__unbroadcast(g, dy, n->src[1]);
    }
}

/* y = relu(a + b): dy masked where y > 0 (RELU's rule reads y), then ADD's rule. */
static void bwd_add_relu(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                         struct kiln_tensor **dx)
{
    struct kiln_tensor *src[2] = {n, dy};
    bwd_add(g, n, kiln__node(g, KILN_OP_RELU_BWD, 2, src, NULL, 0), dx);
}

static void bwd_sub(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                    struct kiln_tensor **dx)
{
    if (kiln__needs_grad(n->src[0])) {
        dx[0] = kiln__unbroadcast(g, dy, n->src[0]);
    }
    if (kiln__needs_grad(n->src[1])) {
        dx[1] = kiln__unbroadcast(g, kiln_scale(g, dy, -1.0f), n->src[1]);
    }
}

static void bwd_mul(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                    struct kiln_tensor **dx)
{
    if (kiln__needs_grad(n->src[0])) {
        dx[0] = kiln__unbroadcast(g, kiln_mul(g, dy, n->src[1]), n->src[0]);
    }
    if (kiln__needs_grad(n->src[1])) {
        dx[1] = kiln__unbroadcast(g, kiln_mul(g, dy, n->src[0]), n->src[1]);
    }
}

static void bwd_div(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                    struct kiln_tensor **dx)
{
    /* y = a / b: da = dy / b, db = -dy * y / b */
    struct kiln_tensor *dyb = kiln_div(g, dy, n->src[1]);
    if (kiln__needs_grad(n->src[0])) {
        dx[0] = kiln__unbroadcast(g, dyb, n->src[0]);
    }
    if (kiln__needs_grad(n->src[1])) {
        dx[1] = kiln__unbroadcast(g, kiln_scale(g, kiln_mul(g, dyb, n), -1.0f), n->src[1]);
    }
}

static inline float f_add(float a, float b)
{
    return a + b;
}
/* ref_add, then ref_relu's x > 0 ? x : 0 on the rounded sum. */
static inline float f_add_relu(float a, float b)
{
    float s = a + b;
    return s > 0.0f ? s : 0.0f;
}
static inline float f_sub(float a, float b)
{
    return a - b;
}
static inline float f_mul(float a, float b)
{
    return a * b;
}
static inline float f_div(float a, float b)
{
    return a / b;
}

/* The iteration over the output merges dims where both sources allow; the last merged
 * dim is the inner loop, the others index rows. */
#define BINARY_REF(fname, f)                                                                       \
    static kiln_status fname(const struct kiln__op_args *args)                                     \
    {                                                                                              \
        const struct kiln_tensor *n = args->node;                                                  \
        const float *a = args->in[0], *b = args->in[1];                                            \
        float *y = args->out;                                                                      \
        const struct kiln_shape *ops[3] = {NULL, &n->src[0]->shape, &n->src[1]->shape};            \
        struct kiln__iter it;                                                                      \
        kiln__iter_bcast(&n->shape, 3, ops, &it);                                                  \
        int32_t last = it.rank - 1;                                                                \
        int64_t inner = it.dims[last], sa = it.strides[1][last], sb = it.strides[2][last];         \
        int64_t rows = n->n_elems / (inner > 0 ? inner : 1);                                       \
        _Pragma("omp parallel for if (n->n_elems > KILN__PAR_MIN)") for (int64_t r = 0; r < rows;  \
                                                                         r++)                      \
        {                                                                                          \
            int64_t rem = r, oa = 0, ob = 0;                                                       \
            for (int32_t k = last - 1; k >= 0; k--) {                                              \
                int64_t c = rem % it.dims[k];                                                      \
                rem /= it.dims[k];                                                                 \
                oa += c * it.strides[1][k];                                                        \
                ob += c * it.strides[2][k];                                                        \
            }                                                                                      \
            const float *pa = a + oa, *pb = b + ob;                                                \
            float *py = y + r * inner;                                                             \
            for (int64_t i = 0; i < inner; i++) {                                                  \
                py[i] = f(pa[i * sa], pb[i * sb]);                                                 \
            }                                                                                      \
        }                                                                                          \
        return KILN_OK;                                                                            \
    }

BINARY_REF(ref_add, f_add)
BINARY_REF(ref_sub, f_sub)
BINARY_REF(ref_mul, f_mul)
BINARY_REF(ref_div, f_div)
BINARY_REF(ref_add_relu, f_add_relu)

#define BINARY_DESC(NAME, lname, bwd, ref, ...)                                                    \
    const struct kiln__op_desc kiln__desc_##NAME = {.name = lname,                                 \
                                                    .n_in = 2,                                     \
                                                    .infer = infer_binary,                         \
                                                    .backward = bwd,                               \
                                                    .cpu_ref = ref,                                \
                                                    .tol = __VA_ARGS__}

/* add, sub and mul are single correctly rounded IEEE operations everywhere. Division
 * is 2.5 ULP in GLSL. */
BINARY_DESC(ADD, "add", bwd_add, ref_add, {0, 0, 0});
BINARY_DESC(SUB, "sub", bwd_sub, ref_sub, {0, 0, 0});
BINARY_DESC(MUL, "mul", bwd_mul, ref_mul, {0, 0, 0});
BINARY_DESC(DIV, "div", bwd_div, ref_div, {1e-10, 1e-6, 1e-5});
BINARY_DESC(ADD_RELU, "add_relu", bwd_add_relu, ref_add_relu, {0, 0, 0});

static kiln_tensor *binary(kiln_graph *g, int op, kiln_tensor *a, kiln_tensor *b)
{
    if (g == NULL) {
        return NULL;
    }
    kiln_tensor *src[2] = {a, b};
    return kiln__node(g, op, 2, src, NULL, 0);
}

kiln_tensor *kiln_add(kiln_graph *g, kiln_tensor *a, kiln_tensor *b)
{
    return binary(g, KILN_OP_ADD, a, b);
}

kiln_tensor *kiln_sub(kiln_graph *g, kiln_tensor *a, kiln_tensor *b)
{
    return binary(g, KILN_OP_SUB, a, b);
}

kiln_tensor *kiln_mul(kiln_graph *g, kiln_tensor *a, kiln_tensor *b)
{
    return binary(g, KILN_OP_MUL, a, b);
}

kiln_tensor *kiln_div(kiln_graph *g, kiln_tensor *a, kiln_tensor *b)
{
    return binary(g, KILN_OP_DIV, a, b);
}
