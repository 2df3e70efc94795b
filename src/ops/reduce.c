/*
 * reduce.c - reductions and their transposes: sum/mean over axes (REDUCE_SUM keeps the
 * reduced axes as 1; the builders drop them unless keepdims), BROADCAST (its adjoint),
 * argmax, softmax and log-softmax along the last axis and their _BWD kernels.
 * The CPU reference accumulates in double.
 */
#include <math.h>

#include "../graph/graph_impl.h"
#include "family.h"

/* ==== REDUCE_SUM ==== */

static kiln_status infer_reduce(struct kiln_tensor *n)
{
    const struct kiln__p_reduce *p = kiln__params(n);
    const struct kiln_shape *s = &n->src[0]->shape;
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    if (p->axes >> s->rank) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "sum of '%s': axes mask 0x%x names dims beyond rank %d", n->src[0]->name,
                         p->axes, s->rank);
    }
    n->shape = *s;
    for (int32_t i = 0; i < s->rank; i++) {
        if (p->axes & (1u << i)) {
            n->shape.dims[i] = 1;
        }
    }
    return KILN_OK;
}

/* Whether every reduced dim comes before every kept dim of extent > 1: then x is
 * [rows, cols] and y the sums of its columns. */
static bool leading_only(const int64_t id[KILN_MAX_DIMS], const int64_t od[KILN_MAX_DIMS])
{
    bool kept = false;
    for (int k = 0; k < KILN_MAX_DIMS; k++) {
        if (od[k] == 1 && id[k] != 1 && kept) {
            return false;
        }
        kept = kept || od[k] != 1;
    }
    return true;
}

/* y[c] = scale * sum over r of x[r cols + c], accumulated in double in row order (the
 * order of the general loop below, so the result is the same), a block of columns at a
 * time so that rows are read in order. */
static kiln_status column_sums(const float *x, float *y, int64_t rows, int64_t cols, float scale)
{
    enum { BLOCK = 256 };
#pragma omp parallel for if (rows * cols > KILN__PAR_MIN)
    for (int64_t c0 = 0; c0 < cols; c0 += BLOCK) {
        double acc[BLOCK];
        int64_t nc = cols - c0 < BLOCK ? cols - c0 : BLOCK;
        for (int64_t c = 0; c < nc; c++) {
            acc[c] = 0.0;
        }
        for (int64_t r = 0; r < rows; r++) {
            const float *row = x + r * cols + c0;
            if (nc == BLOCK) { /* a fixed trip count, which compilers vectorize */
                for (int64_t c = 0; c < BLOCK; c++) {
                    acc[c] += row[c];
                }
            } else {
                for (int64_t c = 0; c < nc; c++) {
                    acc[c] += row[c];
                }
            }
        }
        for (int64_t c = 0; c < nc; c++) {
            y[c0 + c] = (float)(acc[c] * scale);
        }
    }
    return KILN_OK;
}

static kiln_status ref_reduce(const struct kiln__op_args *args)
{
    const struct kiln_tensor *n = args->node;
    const struct kiln__p_reduce *p = kiln__params(n);
    int64_t id[KILN_MAX_DIMS], od[KILN_MAX_DIMS], is[KILN_MAX_DIMS];
    kiln__dims_nd(&n->src[0]->shape, id);
    kiln__dims_nd(&n->shape, od);
    kiln__strides_nd(&n->src[0]->shape, is);
    /* The reduced dims (od == 1, id != 1) in order, with their extents and strides. */
    int64_t rd[KILN_MAX_DIMS], rs[KILN_MAX_DIMS], n_red = 1;
    int32_t nr = 0;
    for (int k = 0; k < KILN_MAX_DIMS; k++) {
        if (od[k] == 1 && id[k] != 1) {
            rd[nr] = id[k];
            rs[nr++] = is[k];
            n_red *= id[k];
        }
    }
    const float *x = args->in[0];
    float *y = args->out;
    int64_t total = n->n_elems;
    if (leading_only(id, od)) {
        return column_sums(x, y, n_red, total, p->scale);
    }
#pragma omp parallel for if (n->src[0]->n_elems > KILN__PAR_MIN)
    for (int64_t o = 0; o < total; o++) {
        int64_t rem = o, base = 0;
        for (int k = KILN_MAX_DIMS - 1; k >= 0; k--) {
            base += (rem % od[k]) * is[k];
            rem /= od[k];
        }
        /* Row-major over the reduced dims, the last one innermost. */
        double acc = 0.0;
        for (int64_t j = 0; j < n_red; j++) {
            int64_t r = j, off = base;
            for (int32_t k = nr - 1; k >= 0; k--) {
                off += (r % rd[k]) * rs[k];
                r /= rd[k];
            }
            acc += x[off];
        }
        y[o] = (float)(acc * p->scale);
    }
    return KILN_OK;
}

static void bwd_reduce(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                       struct kiln_tensor **dx)
{
    const struct kiln__p_reduce *p = kiln__params(n);
    struct kiln__p_broadcast b;
    b.scale = p->scale;
    b.shape = n->src[0]->shape;
    dx[0] = kiln__node(g, KILN_OP_BROADCAST, 1, &dy, &b, sizeof(b));
}

const struct kiln__op_desc kiln__desc_REDUCE_SUM = {
    .name = "reduce_sum",
    .n_in = 1,
    .params_bytes = sizeof(struct kiln__p_reduce),
    .infer = infer_reduce,
    .backward = bwd_reduce,
    .cpu_ref = ref_reduce,
    .tol = {1e-7, 1e-4, 1e-3}, /* kiln__tol_reduction */
};

/* ==== BROADCAST ==== */

static kiln_status infer_broadcast(struct kiln_tensor *n)
{
    const struct kiln__p_broadcast *p = kiln__params(n);
    const struct kiln_shape *s = &n->src[0]->shape;
    char a[64], b[64];
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    bool ok = s->rank <= p->shape.rank;
    for (int32_t i = 0; ok && i < s->rank; i++) {
        int64_t d = s->dims[i], t = p->shape.dims[i + p->shape.rank - s->rank];
        ok = d == t || d == 1;
    }
    if (!ok) {
        return KILN_FAIL(KILN_E_SHAPE, "broadcast: '%s' is %s and cannot expand to %s",
                         n->src[0]->name, kiln__shape_str(s, a, sizeof(a)),
                         kiln__shape_str(&p->shape, b, sizeof(b)));
    }
    n->shape = p->shape;
    return KILN_OK;
}

static kiln_status ref_broadcast(const struct kiln__op_args *args)
{
    const struct kiln_tensor *n = args->node;
    float scale = ((const struct kiln__p_broadcast *)kiln__params(n))->scale;
    const struct kiln_shape *ops[2] = {NULL, &n->src[0]->shape};
    struct kiln__iter it;
    kiln__iter_bcast(&n->shape, 2, ops, &it);
    const float *x = args->in[0];
    float *y = args->out;
    int64_t total = n->n_elems;
#pragma omp parallel for if (total > KILN__PAR_MIN)
    for (int64_t o = 0; o < total; o++) {
        int64_t rem = o, src = 0;
        for (int32_t k = it.rank - 1; k >= 0; k--) {
            src += (rem % it.dims[k]) * it.strides[1][k];
            rem /= it.dims[k];
        }
        y[o] = scale * x[src];
    }
    return KILN_OK;
}

static void bwd_broadcast(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                          struct kiln_tensor **dx)
{
    const struct kiln__p_broadcast *b = kiln__params(n);
    struct kiln_tensor *src = n->src[0];
    struct kiln__p_reduce p = {0, b->scale};
    int32_t lead = n->shape.rank - src->shape.rank;
    for (int32_t i = 0; i < n->shape.rank; i++) {
        if (i < lead || (src->shape.dims[i - lead] == 1 && n->shape.dims[i] != 1)) {
            p.axes |= 1u << i;
        }
    }
    struct kiln_tensor *r = kiln__node(g, KILN_OP_REDUCE_SUM, 1, &dy, &p, sizeof(p));
    dx[0] = kiln_reshape(g, r, src->shape.rank, src->shape.dims);
}

const struct kiln__op_desc kiln__desc_BROADCAST = {
    .name = "broadcast",
    .n_in = 1,
    .params_bytes = sizeof(struct kiln__p_broadcast),
    .infer = infer_broadcast,
    .backward = bwd_broadcast,
    .cpu_ref = ref_broadcast,
    .tol = {1e-12, 1e-7, 1e-6}, /* one multiply; FMA contraction may differ */
};

/* ==== ARGMAX ==== */

static kiln_status infer_argmax(struct kiln_tensor *n)
{
    const struct kiln_shape *s = &n->src[0]->shape;
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    if (s->rank < 1) {
        return KILN_FAIL(KILN_E_SHAPE, "argmax of '%s': needs rank >= 1", n->src[0]->name);
    }
    n->shape.rank = s->rank - 1;
    for (int32_t i = 0; i + 1 < s->rank; i++) {
        n->shape.dims[i] = s->dims[i];
    }
    n->dtype = KILN_DTYPE_I32;
    return KILN_OK;
}

int32_t kiln__row_argmax(const float *row, int64_t n)
{
    int64_t best = 0;
    for (int64_t c = 1; c < n; c++) {
        /* NaN never wins (not even at index 0); first maximum on ties. */
        if (row[c] > row[best] || (isnan(row[best]) && !isnan(row[c]))) {
            best = c;
        }
    }
    return (int32_t)best;
}

static kiln_status ref_argmax(const struct kiln__op_args *args)
{
    int64_t rows, cols;
    kiln__rows_cols(&args->node->src[0]->shape, &rows, &cols);
    const float *x = args->in[0];
    int32_t *y = args->out;
#pragma omp parallel for if (rows * cols > KILN__PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        y[r] = kiln__row_argmax(x + r * cols, cols);
    }
    return KILN_OK;
}

/* PyTorch: torch.argmax(x, dim=-1) (first maximum on ties). Differs on NaN: PyTorch
 * returns the NaN's index; here NaN never wins (a row of NaN gives 0), see
 * tools/golden/make_goldens.py. */
const struct kiln__op_desc kiln__desc_ARGMAX = {
    .name = "argmax",
    .n_in = 1,
    .infer = infer_argmax,
    .cpu_ref = ref_argmax,
    .tol = {0, 0, 0},
};

/* ==== SOFTMAX, LOG_SOFTMAX and their _BWD ==== */

static kiln_status infer_softmax(struct kiln_tensor *n)
{
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    if (n->src[0]->shape.rank < 1) {
        return KILN_FAIL(KILN_E_SHAPE, "%s of '%s': needs rank >= 1", kiln__ops[n->op]->name,
                         n->src[0]->name);
    }
    n->shape = n->src[0]->shape;
    return KILN_OK;
}

static kiln_status infer_softmax_bwd(struct kiln_tensor *n)
{
    KILN_TRY(kiln__want_dtype(n, 1, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_same_shape(n, 0, 1));
    return infer_softmax(n);
}

static kiln_status softmax_rows(const struct kiln__op_args *args, int log_form)
{
    int64_t rows, cols;
    kiln__rows_cols(&args->node->shape, &rows, &cols);
    const float *x = args->in[0];
    float *y = args->out;
#pragma omp parallel for if (rows * cols > KILN__PAR_MIN / 8)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx;
        double sum = kiln__row_sumexp(xr, cols, &mx);
        for (int64_t c = 0; c < cols; c++) {
            double v = (double)xr[c] - mx;
            yr[c] = (float)(log_form ? v - log(sum) : exp(v) / sum);
        }
    }
    return KILN_OK;
}

static kiln_status ref_softmax(const struct kiln__op_args *args)
{
    return softmax_rows(args, 0);
}

static kiln_status ref_log_softmax(const struct kiln__op_args *args)
{
    return softmax_rows(args, 1);
}

static kiln_status softmax_bwd_rows(const struct kiln__op_args *args, int log_form)
{
    int64_t rows, cols;
    kiln__rows_cols(&args->node->shape, &rows, &cols);
    const float *y = args->in[0], *dy = args->in[1];
    float *dx = args->out;
#pragma omp parallel for if (rows * cols > KILN__PAR_MIN / 8)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *gr = dy + r * cols;
        float *dr = dx + r * cols;
        double s = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            s += log_form ? (double)gr[c] : (double)gr[c] * yr[c];
        }
        for (int64_t c = 0; c < cols; c++) {
            dr[c] =
                log_form ? (float)(gr[c] - exp((double)yr[c]) * s) : (float)(yr[c] * (gr[c] - s));
        }
    }
    return KILN_OK;
}

static kiln_status ref_softmax_bwd(const struct kiln__op_args *args)
{
    return softmax_bwd_rows(args, 0);
}

static kiln_status ref_log_softmax_bwd(const struct kiln__op_args *args)
{
    return softmax_bwd_rows(args, 1);
}

static void bwd_softmax(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                        struct kiln_tensor **dx)
{
    struct kiln_tensor *src[2] = {n, dy};
    dx[0] = kiln__node(g, KILN_OP_SOFTMAX_BWD, 2, src, NULL, 0);
}

static void bwd_log_softmax(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                            struct kiln_tensor **dx)
{
    struct kiln_tensor *src[2] = {n, dy};
    dx[0] = kiln__node(g, KILN_OP_LOG_SOFTMAX_BWD, 2, src, NULL, 0);
}

#define SOFTMAX_DESC(NAME, lname, nin, inf, bwd, ref)                                              \
    const struct kiln__op_desc kiln__desc_##NAME = {                                               \
        .name = lname,                                                                             \
        .n_in = nin,                                                                               \
        .infer = inf,                                                                              \
        .backward = bwd,                                                                           \
        .cpu_ref = ref,                                                                            \
        .tol = {1e-7, 1e-5, 1e-4}, /* a row sum of exponentials, then one divide or log */         \
    }

SOFTMAX_DESC(SOFTMAX, "softmax", 1, infer_softmax, bwd_softmax, ref_softmax);
SOFTMAX_DESC(LOG_SOFTMAX, "log_softmax", 1, infer_softmax, bwd_log_softmax, ref_log_softmax);
SOFTMAX_DESC(SOFTMAX_BWD, "softmax_bwd", 2, infer_softmax_bwd, NULL, ref_softmax_bwd);
SOFTMAX_DESC(LOG_SOFTMAX_BWD, "log_softmax_bwd", 2, infer_softmax_bwd, NULL, ref_log_softmax_bwd);

/* ==== Builders ==== */

static kiln_tensor *reduce(kiln_graph *g, kiln_tensor *x, uint32_t axes, int keepdims, int mean)
{
    if (g == NULL) {
        return NULL;
    }
    if (x == NULL || (x->flags & KILN__F_POISON)) {
        return kiln__node(g, KILN_OP_REDUCE_SUM, 1, &x, NULL, sizeof(struct kiln__p_reduce));
    }
    struct kiln__p_reduce p = {axes, 1.0f};
    int64_t count = 1;
    for (int32_t i = 0; i < x->shape.rank; i++) {
        if (axes & (1u << i)) {
            count *= x->shape.dims[i];
        }
    }
    if (mean) {
        p.scale = (float)(1.0 / (double)count);
    }
    struct kiln_tensor *r = kiln__node(g, KILN_OP_REDUCE_SUM, 1, &x, &p, sizeof(p));
    if (keepdims || (r->flags & KILN__F_POISON)) {
        return r;
    }
    struct kiln_shape s = {0, {0, 0, 0, 0}};
    for (int32_t i = 0; i < x->shape.rank; i++) {
        if (!(axes & (1u << i))) {
            s.dims[s.rank++] = x->shape.dims[i];
        }
    }
    return kiln_reshape(g, r, s.rank, s.dims);
}

kiln_tensor *kiln_sum(kiln_graph *g, kiln_tensor *x, uint32_t axes_mask, int keepdims)
{
    return reduce(g, x, axes_mask, keepdims, 0);
}

kiln_tensor *kiln_mean(kiln_graph *g, kiln_tensor *x, uint32_t axes_mask, int keepdims)
{
    return reduce(g, x, axes_mask, keepdims, 1);
}

kiln_tensor *kiln_argmax(kiln_graph *g, kiln_tensor *x)
{
    return g == NULL ? NULL : kiln__node(g, KILN_OP_ARGMAX, 1, &x, NULL, 0);
}

kiln_tensor *kiln_softmax(kiln_graph *g, kiln_tensor *x)
{
    return g == NULL ? NULL : kiln__node(g, KILN_OP_SOFTMAX, 1, &x, NULL, 0);
}

kiln_tensor *kiln_log_softmax(kiln_graph *g, kiln_tensor *x)
{
    return g == NULL ? NULL : kiln__node(g, KILN_OP_LOG_SOFTMAX, 1, &x, NULL, 0);
}
