/*
 * layernorm.c - layer normalization over the trailing dims of a tensor, PyTorch's
 * nn.LayerNorm(normalized_shape, eps, elementwise_affine=True): x is viewed as [rows,
 * cols], cols the product of its last norm_dims dims, and every row is normalized by its
 * own mean and biased variance, then scaled and shifted per column:
 *   y = LAYER_NORM(x, gamma, beta) = (x - mean) rstd gamma + beta, rstd = 1 / sqrt(var + eps).
 * The backward rule emits
 *   stats = LAYER_NORM_STATS(x)                [rows, 2]: mean and rstd of each row;
 *   dx    = LAYER_NORM_BWD(x, stats, gamma, dy) = rstd (g - mean(g) - xhat mean(g xhat)),
 *           g = dy gamma, xhat = (x - mean) rstd, means over the row (the gradient
 *           through the row's statistics included);
 *   d     = LAYER_NORM_BWD_PARAMS(x, stats, dy) [2, cols]: sum over rows of dy xhat
 *           (d gamma) and of dy (d beta).
 * The forward op computes its own statistics, so it is one pass per row and needs no
 * saved state; its gradient recomputes them once. Rows are independent, so masked
 * (padded) positions of a sequence affect only their own rows.
 *
 * All four run on the GPU backends through the generic kernel convention (op_desc.h):
 * one work-item per row (per column for LAYER_NORM_BWD_PARAMS), in opencl/layernorm.cl
 * and shaders/layernorm.comp. CPU references accumulate in double.
 */
#include <math.h>
#include <string.h>

#include "../check/selfcheck_impl.h"
#include "../graph/graph_impl.h"
#include "family.h"

static bool fits_i32(int64_t v)
{
    return v >= 0 && v < ((int64_t)1 << 31);
}

/* ==== Shape inference ==== */

/* x f32 with at least norm_dims dims; writes rows and cols into the params. */
static kiln_status infer_rows_cols(struct kiln_tensor *n)
{
    struct kiln__p_layer_norm *p = (struct kiln__p_layer_norm *)n->params;
    const struct kiln_shape *x = &n->src[0]->shape;
    char a[64];
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    if (p->norm_dims < 1 || p->norm_dims > x->rank) {
        return KILN_FAIL(KILN_E_SHAPE, "%s: cannot normalize the last %d dims of '%s' %s",
                         kiln__ops[n->op]->name, p->norm_dims, n->src[0]->name,
                         kiln__shape_str(x, a, sizeof(a)));
    }
    if (!(p->eps >= 0.0f) || isinf(p->eps)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: eps %g must be finite and >= 0",
                         kiln__ops[n->op]->name, (double)p->eps);
    }
    int64_t cols = 1;
    for (int32_t k = x->rank - p->norm_dims; k < x->rank; k++) {
        cols *= x->dims[k];
    }
    int64_t rows = n->src[0]->n_elems / cols;
    if (!fits_i32(rows) || !fits_i32(cols) || !fits_i32(n->src[0]->n_elems)) {
        return KILN_FAIL(KILN_E_SHAPE, "%s: '%s' has 2^31 or more elements", kiln__ops[n->op]->name,
                         n->src[0]->name);
    }
    p->rows = (int32_t)rows;
    p->cols = (int32_t)cols;
    return KILN_OK;
}

/* Source i must be f32 with exactly the normalized (trailing) dims of x. */
static kiln_status want_trailing(const struct kiln_tensor *n, int i)
{
    const struct kiln__p_layer_norm *p = kiln__params(n);
    const struct kiln_shape *x = &n->src[0]->shape, *s = &n->src[i]->shape;
    KILN_TRY(kiln__want_dtype(n, i, KILN_DTYPE_F32));
    bool ok = s->rank == p->norm_dims;
    for (int32_t k = 0; ok && k < s->rank; k++) {
        ok = s->dims[k] == x->dims[x->rank - p->norm_dims + k];
    }
    if (!ok) {
        char a[64], b[64];
        return KILN_FAIL(
            KILN_E_SHAPE, "%s: input %d ('%s') is %s; expected the last %d dims of x %s",
            kiln__ops[n->op]->name, i, n->src[i]->name, kiln__shape_str(s, a, sizeof(a)),
            p->norm_dims, kiln__shape_str(x, b, sizeof(b)));
    }
    return KILN_OK;
}

/* Source i must be the [rows, 2] statistics of x. */
static kiln_status want_stats(const struct kiln_tensor *n, int i)
{
    const struct kiln__p_layer_norm *p = kiln__params(n);
    const struct kiln_shape *s = &n->src[i]->shape;
    KILN_TRY(kiln__want_dtype(n, i, KILN_DTYPE_F32));
    if (s->rank != 2 || s->dims[0] != p->rows || s->dims[1] != 2) {
        char a[64];
        return KILN_FAIL(KILN_E_SHAPE, "%s: statistics '%s' are %s; expected [%d, 2]",
                         kiln__ops[n->op]->name, n->src[i]->name, kiln__shape_str(s, a, sizeof(a)),
                         p->rows);
    }
    return KILN_OK;
}

static kiln_status infer_layer_norm(struct kiln_tensor *n)
{
    KILN_TRY(infer_rows_cols(n));
    KILN_TRY(want_trailing(n, 1));
    KILN_TRY(want_trailing(n, 2));
    n->shape = n->src[0]->shape;
    return KILN_OK;
}

static kiln_status infer_stats(struct kiln_tensor *n)
{
    KILN_TRY(infer_rows_cols(n));
    const struct kiln__p_layer_norm *p = kiln__params(n);
    n->shape.rank = 2;
    n->shape.dims[0] = p->rows;
    n->shape.dims[1] = 2;
    return KILN_OK;
}

static kiln_status infer_bwd(struct kiln_tensor *n)
{
    KILN_TRY(infer_rows_cols(n));
    KILN_TRY(want_stats(n, 1));
    KILN_TRY(want_trailing(n, 2));
    KILN_TRY(kiln__want_dtype(n, 3, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_same_shape(n, 0, 3));
    n->shape = n->src[0]->shape;
    return KILN_OK;
}

static kiln_status infer_bwd_params(struct kiln_tensor *n)
{
    KILN_TRY(infer_rows_cols(n));
    KILN_TRY(want_stats(n, 1));
    KILN_TRY(kiln__want_dtype(n, 2, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_same_shape(n, 0, 2));
    const struct kiln__p_layer_norm *p = kiln__params(n);
    n->shape.rank = 2;
    n->shape.dims[0] = 2;
    n->shape.dims[1] = p->cols;
    return KILN_OK;
}

/* ==== CPU references ==== */

/* The mean and rstd of row x[0..cols) in double (two passes), rstd rounded as the GPU
 * kernels round it: 1 / sqrt(float(var) + eps) in f32. */
static void row_stats(const float *x, int64_t cols, float eps, float *mean, float *rstd)
{
    double s = 0.0, q = 0.0;
    for (int64_t c = 0; c < cols; c++) {
        s += x[c];
    }
    double m = s / (double)cols;
    for (int64_t c = 0; c < cols; c++) {
        q += ((double)x[c] - m) * ((double)x[c] - m);
    }
    *mean = (float)m;
    *rstd = 1.0f / sqrtf((float)(q / (double)cols) + eps);
}

static kiln_status ref_layer_norm(const struct kiln__op_args *a)
{
    const struct kiln__p_layer_norm *p = kiln__params(a->node);
    const float *x = a->in[0], *gm = a->in[1], *bt = a->in[2];
    float *y = a->out;
    int64_t cols = p->cols;
#pragma omp parallel for if (a->node->n_elems > KILN__PAR_MIN)
    for (int64_t r = 0; r < p->rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mean, rstd;
        row_stats(xr, cols, p->eps, &mean, &rstd);
        for (int64_t c = 0; c < cols; c++) {
            yr[c] = (xr[c] - mean) * rstd * gm[c] + bt[c];
        }
    }
    return KILN_OK;
}

static kiln_status ref_stats(const struct kiln__op_args *a)
{
    const struct kiln__p_layer_norm *p = kiln__params(a->node);
    const float *x = a->in[0];
    float *st = a->out;
    for (int64_t r = 0; r < p->rows; r++) {
        row_stats(x + r * (int64_t)p->cols, p->cols, p->eps, &st[2 * r], &st[2 * r + 1]);
    }
    return KILN_OK;
}

static kiln_status ref_bwd(const struct kiln__op_args *a)
{
    const struct kiln__p_layer_norm *p = kiln__params(a->node);
    const float *x = a->in[0], *st = a->in[1], *gm = a->in[2], *dy = a->in[3];
    float *dx = a->out;
    int64_t cols = p->cols;
#pragma omp parallel for if (a->node->n_elems > KILN__PAR_MIN)
    for (int64_t r = 0; r < p->rows; r++) {
        const float *xr = x + r * cols, *gr = dy + r * cols;
        float *dr = dx + r * cols;
        double mean = st[2 * r], rstd = st[2 * r + 1], s1 = 0.0, s2 = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            double g = (double)gr[c] * gm[c];
            s1 += g;
            s2 += g * ((xr[c] - mean) * rstd);
        }
        s1 /= (double)cols;
        s2 /= (double)cols;
        for (int64_t c = 0; c < cols; c++) {
            double g = (double)gr[c] * gm[c];
            dr[c] = (float)(rstd * (g - s1 - (xr[c] - mean) * rstd * s2));
        }
    }
    return KILN_OK;
}

static kiln_status ref_bwd_params(const struct kiln__op_args *a)
{
    const struct kiln__p_layer_norm *p = kiln__params(a->node);
    const float *x = a->in[0], *st = a->in[1], *dy = a->in[2];
    float *o = a->out;
    int64_t cols = p->cols;
    double *acc = kiln__alloc(a->node->graph->ctx, 2 * (size_t)cols * sizeof(double),
                              "layer norm parameter gradients");
    if (acc == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    memset(acc, 0, 2 * (size_t)cols * sizeof(double));
    for (int64_t r = 0; r < p->rows; r++) {
        const float *xr = x + r * cols, *gr = dy + r * cols;
        double mean = st[2 * r], rstd = st[2 * r + 1];
        for (int64_t c = 0; c < cols; c++) {
            acc[c] += (double)gr[c] * ((xr[c] - mean) * rstd);
            acc[cols + c] += gr[c];
        }
    }
    for (int64_t c = 0; c < 2 * cols; c++) {
        o[c] = (float)acc[c];
    }
    kiln__free(a->node->graph->ctx, acc);
    return KILN_OK;
}

/* ==== Backward ==== */

/* Row `row` of the [2, cols] parameter gradients, viewed as gamma's shape. */
static struct kiln_tensor *param_row(kiln_graph *g, struct kiln_tensor *d, int32_t row,
                                     const struct kiln_tensor *like)
{
    struct kiln_tensor *r = kiln_slice(g, d, 0, row, 1);
    return kiln_reshape(g, r, like->shape.rank, like->shape.dims);
}

static void bwd_layer_norm(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                           struct kiln_tensor **dx)
{
    const size_t pb = sizeof(struct kiln__p_layer_norm);
    struct kiln_tensor *x = n->src[0];
    struct kiln_tensor *st = kiln__node(g, KILN_OP_LAYER_NORM_STATS, 1, &x, n->params, pb);
    if (kiln__needs_grad(x)) {
        struct kiln_tensor *src[4] = {x, st, n->src[1], dy};
        dx[0] = kiln__node(g, KILN_OP_LAYER_NORM_BWD, 4, src, n->params, pb);
    }
    if (kiln__needs_grad(n->src[1]) || kiln__needs_grad(n->src[2])) {
        struct kiln_tensor *src[3] = {x, st, dy};
        struct kiln_tensor *d = kiln__node(g, KILN_OP_LAYER_NORM_BWD_PARAMS, 3, src, n->params, pb);
        if (kiln__needs_grad(n->src[1])) {
            dx[1] = param_row(g, d, 0, n->src[1]);
        }
        if (kiln__needs_grad(n->src[2])) {
            dx[2] = param_row(g, d, 1, n->src[2]);
        }
    }
}

/* ==== Descriptors ==== */

static int64_t row_items(const struct kiln_tensor *n)
{
    return ((const struct kiln__p_layer_norm *)kiln__params(n))->rows;
}

static int64_t col_items(const struct kiln_tensor *n)
{
    return ((const struct kiln__p_layer_norm *)kiln__params(n))->cols;
}

/* Row sums of cols terms, then a reciprocal square root: the GPU kernels sum in f32
 * (PORTABILITY.md 4.3 for rsqrt), kiln__tol_reduction. x - mean cancels, so results err
 * relative to |x| rather than to themselves. */
#define LN_DESC(NAME, lname, nin, inf, bwd, ref, items)                                            \
    const struct kiln__op_desc kiln__desc_##NAME = {                                               \
        .name = lname,                                                                             \
        .n_in = nin,                                                                               \
        .flags = KILN__OPF_GENERIC,                                                                \
        .params_bytes = sizeof(struct kiln__p_layer_norm),                                         \
        .infer = inf,                                                                              \
        .backward = bwd,                                                                           \
        .cpu_ref = ref,                                                                            \
        .tol = {1e-7, 1e-4, 1e-3},                                                                 \
        .gpu_items = items,                                                                        \
    }

/* The self-check's cases: the forward op with gradients of x, gamma and beta, which
 * bring in the statistics and both backward ops. */
static kiln_tensor *check_build(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_layer_norm(g, in[0], in[1], in[2], in[1]->shape.rank, 1e-5f);
}
static const struct kiln__sc_case checks[] = {
    {.op = KILN_OP_LAYER_NORM,
     .note = "over the last dim of 5 x 7 x 67",
     .n_in = 3,
     .shape = {{3, {5, 7, 67}}, {1, {67}}, {1, {67}}},
     .grad_mask = 7,
     .build = check_build},
    {.op = KILN_OP_LAYER_NORM,
     .note = "over the last two dims of 3 x 4 x 5",
     .n_in = 3,
     .shape = {{3, {3, 4, 5}}, {2, {4, 5}}, {2, {4, 5}}},
     .grad_mask = 7,
     .build = check_build},
};

/* PyTorch: F.layer_norm(x, x.shape[-norm_dims:], gamma, beta, eps). */
const struct kiln__op_desc kiln__desc_LAYER_NORM = {
    .name = "layer_norm",
    .n_in = 3,
    .flags = KILN__OPF_GENERIC,
    .params_bytes = sizeof(struct kiln__p_layer_norm),
    .infer = infer_layer_norm,
    .backward = bwd_layer_norm,
    .cpu_ref = ref_layer_norm,
    .tol = {1e-7, 1e-4, 1e-3},
    .gpu_items = row_items,
    .checks = checks,
    .n_checks = (int32_t)(sizeof(checks) / sizeof(checks[0])),
};
/* PyTorch: torch.var_mean(unbiased=False) over the normalized dims, rstd = rsqrt(var + eps). */
LN_DESC(LAYER_NORM_STATS, "layer_norm_stats", 1, infer_stats, NULL, ref_stats, row_items);
/* PyTorch: the vector-Jacobian products of F.layer_norm at the given statistics. */
LN_DESC(LAYER_NORM_BWD, "layer_norm_bwd", 4, infer_bwd, NULL, ref_bwd, row_items);
LN_DESC(LAYER_NORM_BWD_PARAMS, "layer_norm_bwd_params", 3, infer_bwd_params, NULL, ref_bwd_params,
        col_items);

/* ==== Builder ==== */

/* A constant leaf of shape s filled with init (ones or zeros). */
static struct kiln_tensor *const_leaf(kiln_graph *g, const struct kiln_shape *s, kiln_init init)
{
    struct kiln_tensor *t = kiln__leaf(g, NULL, KILN_DTYPE_F32, s, KILN__F_CONST);
    if (!(t->flags & KILN__F_POISON)) {
        t->init = init;
    }
    return t;
}

kiln_tensor *kiln_layer_norm(kiln_graph *g, kiln_tensor *x, kiln_tensor *gamma, kiln_tensor *beta,
                             int32_t norm_dims, float eps)
{
    if (g == NULL) {
        return NULL;
    }
    if (x == NULL || (x->flags & KILN__F_POISON) || x->graph != g) {
        struct kiln_tensor *src[3] = {x, gamma, beta};
        struct kiln__p_layer_norm p = {.eps = eps, .norm_dims = norm_dims};
        return kiln__node(g, KILN_OP_LAYER_NORM, 3, src, &p, sizeof(p));
    }
    if (norm_dims < 1 || norm_dims > x->shape.rank) {
        char a[64];
        return kiln__graph_fail(g, KILN_E_SHAPE,
                                "kiln_layer_norm: cannot normalize the last %d dims of '%s' %s",
                                norm_dims, x->name, kiln__shape_str(&x->shape, a, sizeof(a)));
    }
    struct kiln_shape s = {norm_dims, {0}};
    for (int32_t k = 0; k < norm_dims; k++) {
        s.dims[k] = x->shape.dims[x->shape.rank - norm_dims + k];
    }
    struct kiln__p_layer_norm p = {.eps = eps, .norm_dims = norm_dims};
    struct kiln_tensor *src[3] = {x, gamma, beta};
    if (src[1] == NULL) {
        src[1] = const_leaf(g, &s, KILN_INIT_ONES);
    }
    if (src[2] == NULL) {
        src[2] = const_leaf(g, &s, KILN_INIT_ZEROS);
    }
    return kiln__node(g, KILN_OP_LAYER_NORM, 3, src, &p, sizeof(p));
}
