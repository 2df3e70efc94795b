/*
 * norm.c - batch normalization over dim 1 (channels) of [N, C], [N, C, L] or
 * [N, C, H, W] tensors, and local response normalization across channels.
 *
 * Batch norm is split so that every op is pure or explicitly in place:
 *   stats = BN_STATS(x, running_mean, running_var)   [2, C]: row 0 mean, row 1 variance.
 *           Training (graph->training): the batch mean and the biased batch variance
 *           over the M = N * (spatial) values of each channel. Inference: a copy of the
 *           running statistics.
 *   y     = BN_APPLY(x, stats, gamma, beta) = (x - mean) * rstd * gamma + beta,
 *           rstd = 1 / sqrtf(var + eps).
 *   BN_RUNNING_UPDATE(running_mean, running_var, stats) in place, training only:
 *           r_mean = (1 - momentum) r_mean + momentum mean,
 *           r_var  = (1 - momentum) r_var + momentum var * M / (M - 1)   (unbiased, as
 *           PyTorch; M = 1 uses var). It does nothing when not training.
 * Gradients flow through the batch statistics as through any other op: BN_APPLY's
 * rule gives dx directly (BN_APPLY_BWD) and d stats, d gamma, d beta from one
 * reduction (BN_APPLY_BWD_PARAMS, [4, C]: dmean, dvar, dgamma, dbeta, then SLICE);
 * BN_STATS's rule turns d stats into dx (BN_STATS_BWD). Their sum is the usual
 * gamma rstd (dy - mean(dy) - xhat mean(dy xhat)).
 *
 * LRN is PyTorch's LocalResponseNorm (see struct kiln__p_lrn); LRN_BWD is its gradient.
 * CPU references accumulate in double.
 */
#include <math.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "family.h"

/* ==== Geometry: x is [N, C, S...]; element (b, c, s) at (b C + c) S + s ==== */

struct bn_geom {
    int64_t n, c, s;
};

static void bn_geom_of(const struct kiln_shape *x, struct bn_geom *g)
{
    g->n = x->dims[0];
    g->c = x->rank > 1 ? x->dims[1] : 1;
    g->s = 1;
    for (int32_t i = 2; i < x->rank; i++) {
        g->s *= x->dims[i];
    }
}

static kiln_status want_x(const struct kiln_tensor *n, int i)
{
    const struct kiln_shape *s = &n->src[i]->shape;
    KILN_TRY(kiln__want_dtype(n, i, KILN_DTYPE_F32));
    if (s->rank < 2) {
        char b[64];
        return KILN_FAIL(KILN_E_SHAPE, "%s: input %d ('%s') is %s; expected [N, C, ...]",
                         kiln__ops[n->op]->name, i, n->src[i]->name, kiln__shape_str(s, b, 64));
    }
    return KILN_OK;
}

/* Source i must be f32 [rows, C] (rows = 0: [C]). */
static kiln_status want_per_channel(const struct kiln_tensor *n, int i, int64_t rows, int64_t c)
{
    const struct kiln_shape *s = &n->src[i]->shape;
    KILN_TRY(kiln__want_dtype(n, i, KILN_DTYPE_F32));
    bool ok = rows == 0 ? (s->rank == 1 && s->dims[0] == c)
                        : (s->rank == 2 && s->dims[0] == rows && s->dims[1] == c);
    if (!ok) {
        char b[64];
        return KILN_FAIL(KILN_E_SHAPE, "%s: input %d ('%s') is %s; expected [%s%lld]",
                         kiln__ops[n->op]->name, i, n->src[i]->name, kiln__shape_str(s, b, 64),
                         rows == 2   ? "2, "
                         : rows == 4 ? "4, "
                                     : "",
                         (long long)c);
    }
    return KILN_OK;
}

/* ==== BN_STATS ==== */

static kiln_status infer_bn_stats(struct kiln_tensor *n)
{
    KILN_TRY(want_x(n, 0));
    int64_t c = n->src[0]->shape.dims[1];
    KILN_TRY(want_per_channel(n, 1, 0, c));
    KILN_TRY(want_per_channel(n, 2, 0, c));
    n->shape.rank = 2;
    n->shape.dims[0] = 2;
    n->shape.dims[1] = c;
    return KILN_OK;
}

static kiln_status ref_bn_stats(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    struct bn_geom g;
    bn_geom_of(&n->src[0]->shape, &g);
    const float *x = a->in[0], *rm = a->in[1], *rv = a->in[2];
    float *st = a->out;
    if (!n->graph->training) {
        memcpy(st, rm, (size_t)g.c * sizeof(float));
        memcpy(st + g.c, rv, (size_t)g.c * sizeof(float));
        return KILN_OK;
    }
    double m = (double)(g.n * g.s);
#pragma omp parallel for if (n->src[0]->n_elems > KILN__PAR_MIN)
    for (int64_t c = 0; c < g.c; c++) {
        double sum = 0.0, sq = 0.0;
        for (int64_t b = 0; b < g.n; b++) {
            const float *xp = x + (b * g.c + c) * g.s;
            for (int64_t s = 0; s < g.s; s++) {
                sum += xp[s];
            }
        }
        double mean = sum / m;
        for (int64_t b = 0; b < g.n; b++) {
            const float *xp = x + (b * g.c + c) * g.s;
            for (int64_t s = 0; s < g.s; s++) {
                sq += (xp[s] - mean) * (xp[s] - mean);
            }
        }
        st[c] = (float)mean;
        st[g.c + c] = (float)(sq / m);
    }
    return KILN_OK;
}

static void bwd_bn_stats(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                         struct kiln_tensor **dx)
{
    struct kiln_tensor *src[3] = {n->src[0], n, dy};
    dx[0] = kiln__node(g, KILN_OP_BN_STATS_BWD, 3, src, NULL, 0);
}

/* ==== BN_STATS_BWD: dx = dmean / M + dvar 2 (x - mean) / M ====
 * mean is read from the stats input (BN_STATS's output), not recomputed from x: with
 * the statistics of x this is the exact derivative; fed other statistics (the op
 * tests do) it is this formula, which the goldens map (tools/golden/make_goldens.py). */

static kiln_status infer_bn_stats_bwd(struct kiln_tensor *n)
{
    KILN_TRY(want_x(n, 0));
    int64_t c = n->src[0]->shape.dims[1];
    KILN_TRY(want_per_channel(n, 1, 2, c));
    KILN_TRY(want_per_channel(n, 2, 2, c));
    n->shape = n->src[0]->shape;
    return KILN_OK;
}

static kiln_status ref_bn_stats_bwd(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    struct bn_geom g;
    bn_geom_of(&n->shape, &g);
    const float *x = a->in[0], *st = a->in[1], *ds = a->in[2];
    float *dx = a->out;
    float inv_m = (float)(1.0 / (double)(g.n * g.s));
    int64_t total = n->n_elems;
#pragma omp parallel for if (total > KILN__PAR_MIN)
    for (int64_t i = 0; i < total; i++) {
        int64_t c = (i / g.s) % g.c;
        dx[i] = (ds[c] + 2.0f * ds[g.c + c] * (x[i] - st[c])) * inv_m;
    }
    return KILN_OK;
}

/* ==== BN_APPLY, BN_APPLY_BWD, BN_APPLY_BWD_PARAMS ==== */

static kiln_status infer_bn_apply(struct kiln_tensor *n)
{
    KILN_TRY(want_x(n, 0));
    int64_t c = n->src[0]->shape.dims[1];
    KILN_TRY(want_per_channel(n, 1, 2, c));
    KILN_TRY(want_per_channel(n, 2, 0, c));
    if (n->op == KILN_OP_BN_APPLY) {
        KILN_TRY(want_per_channel(n, 3, 0, c));
    } else {
        KILN_TRY(kiln__want_dtype(n, 3, KILN_DTYPE_F32));
        KILN_TRY(kiln__want_same_shape(n, 0, 3));
    }
    const struct kiln__p_bn *p = kiln__params(n);
    if (!(p->eps >= 0.0f)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: eps %g must be >= 0", kiln__ops[n->op]->name,
                         (double)p->eps);
    }
    n->shape = n->src[0]->shape;
    if (n->op == KILN_OP_BN_APPLY_BWD_PARAMS) {
        n->shape.rank = 2;
        n->shape.dims[0] = 4;
        n->shape.dims[1] = c;
    }
    return KILN_OK;
}

static kiln_status ref_bn_apply(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_bn *p = kiln__params(n);
    struct bn_geom g;
    bn_geom_of(&n->shape, &g);
    const float *x = a->in[0], *st = a->in[1], *gm = a->in[2], *bt = a->in[3];
    float *y = a->out;
    int64_t total = n->n_elems;
    bool apply = n->op == KILN_OP_BN_APPLY;
#pragma omp parallel for if (total > KILN__PAR_MIN)
    for (int64_t i = 0; i < total; i++) {
        int64_t c = (i / g.s) % g.c;
        float r = 1.0f / sqrtf(st[g.c + c] + p->eps);
        /* BN_APPLY: (x - mean) r gamma + beta; BN_APPLY_BWD (input 3 is dy): dy gamma r */
        y[i] = apply ? (x[i] - st[c]) * r * gm[c] + bt[c] : bt[i] * gm[c] * r;
    }
    return KILN_OK;
}

static kiln_status ref_bn_apply_bwd_params(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_bn *p = kiln__params(n);
    struct bn_geom g;
    bn_geom_of(&n->src[0]->shape, &g);
    const float *x = a->in[0], *st = a->in[1], *gm = a->in[2], *dy = a->in[3];
    float *o = a->out;
#pragma omp parallel for if (n->src[0]->n_elems > KILN__PAR_MIN)
    for (int64_t c = 0; c < g.c; c++) {
        double s1 = 0.0, s2 = 0.0, mean = st[c];
        for (int64_t b = 0; b < g.n; b++) {
            const float *xp = x + (b * g.c + c) * g.s, *gp = dy + (b * g.c + c) * g.s;
            for (int64_t s = 0; s < g.s; s++) {
                s1 += gp[s];
                s2 += gp[s] * (xp[s] - mean);
            }
        }
        double r = 1.0 / sqrt((double)st[g.c + c] + (double)p->eps);
        o[c] = (float)(-gm[c] * r * s1);                     /* d mean */
        o[g.c + c] = (float)(-0.5 * gm[c] * s2 * r * r * r); /* d var */
        o[2 * g.c + c] = (float)(s2 * r);                    /* d gamma */
        o[3 * g.c + c] = (float)s1;                          /* d beta */
    }
    return KILN_OK;
}

/* Row `row` of a [rows, C] tensor as a [C] tensor (SLICE then a view). */
static struct kiln_tensor *row_of(kiln_graph *g, struct kiln_tensor *t, int32_t row, int32_t len)
{
    struct kiln__p_slice p = {{row, 0, 0, 0}, {len, (int32_t)t->shape.dims[1], 0, 0}};
    struct kiln_tensor *r = kiln__node(g, KILN_OP_SLICE, 1, &t, &p, sizeof(p));
    if (len == 1 && !(r->flags & KILN__F_POISON)) {
        r = kiln_reshape(g, r, 1, &t->shape.dims[1]);
    }
    return r;
}

static void bwd_bn_apply(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                         struct kiln_tensor **dx)
{
    struct kiln_tensor *src[4] = {n->src[0], n->src[1], n->src[2], dy};
    if (kiln__needs_grad(n->src[0])) {
        dx[0] = kiln__node(g, KILN_OP_BN_APPLY_BWD, 4, src, n->params, sizeof(struct kiln__p_bn));
    }
    if (kiln__needs_grad(n->src[1]) || kiln__needs_grad(n->src[2]) || kiln__needs_grad(n->src[3])) {
        struct kiln_tensor *pr = kiln__node(g, KILN_OP_BN_APPLY_BWD_PARAMS, 4, src, n->params,
                                            sizeof(struct kiln__p_bn));
        if (kiln__needs_grad(n->src[1])) {
            dx[1] = row_of(g, pr, 0, 2);
        }
        if (kiln__needs_grad(n->src[2])) {
            dx[2] = row_of(g, pr, 2, 1);
        }
        if (kiln__needs_grad(n->src[3])) {
            dx[3] = row_of(g, pr, 3, 1);
        }
    }
}

/* ==== BN_RUNNING_UPDATE ==== */

static kiln_status infer_bn_running(struct kiln_tensor *n)
{
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_rank(n, 0, 1));
    int64_t c = n->src[0]->shape.dims[0];
    KILN_TRY(want_per_channel(n, 1, 0, c));
    KILN_TRY(want_per_channel(n, 2, 2, c));
    n->shape.rank = 1;
    n->shape.dims[0] = 0;
    return KILN_OK;
}

static kiln_status ref_bn_running(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_bn *p = kiln__params(n);
    if (!n->graph->training) {
        return KILN_OK;
    }
    float *rm = a->in[0], *rv = a->in[1];
    const float *st = a->in[2];
    int64_t c = n->src[0]->n_elems;
    float unbias = p->count > 1 ? (float)p->count / (float)(p->count - 1) : 1.0f;
    for (int64_t i = 0; i < c; i++) {
        rm[i] = (1.0f - p->momentum) * rm[i] + p->momentum * st[i];
        rv[i] = (1.0f - p->momentum) * rv[i] + p->momentum * (st[c + i] * unbias);
    }
    return KILN_OK;
}

/* Statistics and parameter gradients are per-channel sums of M terms:
 * kiln__tol_reduction. BN_APPLY(_BWD) and BN_STATS_BWD are a few roundings per element
 * plus a reciprocal square root (2-3 ULP on GPUs, PORTABILITY.md 4.3); x - mean cancels,
 * so the bound is absolute at the size of x times the ULP error. */
#define BN_DESC(NAME, lname, nin, flg, mask, pb, inf, bwd, ref, ...)                               \
    const struct kiln__op_desc kiln__desc_##NAME = {                                               \
        .name = lname,                                                                             \
        .n_in = nin,                                                                               \
        .flags = flg,                                                                              \
        .inplace_mask = mask,                                                                      \
        .params_bytes = pb,                                                                        \
        .infer = inf,                                                                              \
        .backward = bwd,                                                                           \
        .cpu_ref = ref,                                                                            \
        .tol = __VA_ARGS__,                                                                        \
    }

BN_DESC(BN_STATS, "bn_stats", 3, 0, 0, 0, infer_bn_stats, bwd_bn_stats, ref_bn_stats,
        {1e-7, 1e-4, 1e-3});
BN_DESC(BN_STATS_BWD, "bn_stats_bwd", 3, 0, 0, 0, infer_bn_stats_bwd, NULL, ref_bn_stats_bwd,
        {1e-10, 1e-5, 1e-5});
BN_DESC(BN_APPLY, "bn_apply", 4, 0, 0, sizeof(struct kiln__p_bn), infer_bn_apply, bwd_bn_apply,
        ref_bn_apply, {1e-10, 1e-5, 1e-5});
BN_DESC(BN_APPLY_BWD, "bn_apply_bwd", 4, 0, 0, sizeof(struct kiln__p_bn), infer_bn_apply, NULL,
        ref_bn_apply, {1e-10, 1e-5, 1e-5});
BN_DESC(BN_APPLY_BWD_PARAMS, "bn_apply_bwd_params", 4, 0, 0, sizeof(struct kiln__p_bn),
        infer_bn_apply, NULL, ref_bn_apply_bwd_params, {1e-7, 1e-4, 1e-3});
BN_DESC(BN_RUNNING_UPDATE, "bn_running_update", 3, KILN__OPF_INPLACE, (1u << 0) | (1u << 1),
        sizeof(struct kiln__p_bn), infer_bn_running, NULL, ref_bn_running, {1e-12, 1e-6, 1e-5});

/* ==== LRN ==== */

static kiln_status infer_lrn(struct kiln_tensor *n)
{
    const struct kiln__p_lrn *p = kiln__params(n);
    KILN_TRY(want_x(n, 0));
    if (n->op == KILN_OP_LRN_BWD) {
        KILN_TRY(kiln__want_dtype(n, 1, KILN_DTYPE_F32));
        KILN_TRY(kiln__want_same_shape(n, 0, 1));
    }
    if (p->size < 1 || !(p->k > 0.0f)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: size %d must be >= 1 and k %g > 0",
                         kiln__ops[n->op]->name, p->size, (double)p->k);
    }
    n->shape = n->src[0]->shape;
    return KILN_OK;
}

/* d_c = k + alpha / size * sum of x_j^2 over j in [c - size/2, c + (size-1)/2] in [0, C),
 * for the channel column xc (stride s). */
static double lrn_den(const float *xc, int64_t s, int64_t nc, int64_t c,
                      const struct kiln__p_lrn *p)
{
    int64_t lo = c - p->size / 2, hi = c + (p->size - 1) / 2;
    double sum = 0.0;
    for (int64_t j = lo < 0 ? 0 : lo; j <= hi && j < nc; j++) {
        sum += (double)xc[j * s] * xc[j * s];
    }
    return p->k + (double)p->alpha / p->size * sum;
}

static kiln_status ref_lrn(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_lrn *p = kiln__params(n);
    struct bn_geom g;
    bn_geom_of(&n->shape, &g);
    const float *x = a->in[0], *dy = a->in[1];
    float *y = a->out;
    int64_t total = n->n_elems;
    bool fwd = n->op == KILN_OP_LRN;
#pragma omp parallel for if (total > KILN__PAR_MIN / 16)
    for (int64_t i = 0; i < total; i++) {
        int64_t s = i % g.s, c = (i / g.s) % g.c, b = i / (g.s * g.c);
        const float *xc = x + b * g.c * g.s + s;
        double d = lrn_den(xc, g.s, g.c, c, p);
        if (fwd) {
            y[i] = (float)(x[i] * pow(d, -(double)p->beta));
            continue;
        }
        /* dx_i = dy_i d_i^-beta - 2 alpha beta / size x_i sum over the channels c' whose
         * window holds i (c' in [i - (size-1)/2, i + size/2]) of dy_c' x_c' d_c'^(-beta-1) */
        const float *gc = dy + b * g.c * g.s + s;
        double acc = 0.0;
        int64_t lo = c - (p->size - 1) / 2, hi = c + p->size / 2;
        for (int64_t cc = lo < 0 ? 0 : lo; cc <= hi && cc < g.c; cc++) {
            double dc = lrn_den(xc, g.s, g.c, cc, p);
            acc += (double)gc[cc * g.s] * xc[cc * g.s] * pow(dc, -(double)p->beta - 1.0);
        }
        y[i] = (float)(dy[i] * pow(d, -(double)p->beta) -
                       2.0 * p->alpha * p->beta / p->size * x[i] * acc);
    }
    return KILN_OK;
}

static void bwd_lrn(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                    struct kiln_tensor **dx)
{
    struct kiln_tensor *src[2] = {n->src[0], dy};
    dx[0] = kiln__node(g, KILN_OP_LRN_BWD, 2, src, n->params, sizeof(struct kiln__p_lrn));
}

/* A short sum of squares, then pow: pow is 16 ULP in OpenCL (PORTABILITY.md 4.3). */
BN_DESC(LRN, "lrn", 1, 0, 0, sizeof(struct kiln__p_lrn), infer_lrn, bwd_lrn, ref_lrn,
        {1e-9, 1e-5, 1e-4});
BN_DESC(LRN_BWD, "lrn_bwd", 2, 0, 0, sizeof(struct kiln__p_lrn), infer_lrn, NULL, ref_lrn,
        {1e-9, 1e-5, 1e-4});

/* ==== Builders ==== */

kiln_tensor *kiln_bn_stats(kiln_graph *g, kiln_tensor *x, kiln_tensor *running_mean,
                           kiln_tensor *running_var)
{
    if (g == NULL) {
        return NULL;
    }
    struct kiln_tensor *src[3] = {x, running_mean, running_var};
    return kiln__node(g, KILN_OP_BN_STATS, 3, src, NULL, 0);
}

kiln_tensor *kiln_bn_apply(kiln_graph *g, kiln_tensor *x, kiln_tensor *stats, kiln_tensor *gamma,
                           kiln_tensor *beta, float eps)
{
    if (g == NULL) {
        return NULL;
    }
    struct kiln__p_bn p = {eps, 0.0f, 0};
    struct kiln_tensor *src[4] = {x, stats, gamma, beta};
    return kiln__node(g, KILN_OP_BN_APPLY, 4, src, &p, sizeof(p));
}

kiln_tensor *kiln_bn_running_update(kiln_graph *g, kiln_tensor *running_mean,
                                    kiln_tensor *running_var, kiln_tensor *stats, kiln_tensor *x,
                                    float momentum)
{
    if (g == NULL) {
        return NULL;
    }
    struct kiln__p_bn p = {0.0f, momentum, 0};
    struct kiln_tensor *src[3] = {running_mean, running_var, stats};
    if (x != NULL && !(x->flags & KILN__F_POISON) && x->shape.rank >= 2) {
        int64_t m = x->n_elems / x->shape.dims[1];
        p.count = m > INT32_MAX ? INT32_MAX : (int32_t)m;
    }
    return kiln__node(g, KILN_OP_BN_RUNNING_UPDATE, 3, src, &p, sizeof(p));
}

kiln_tensor *kiln_lrn(kiln_graph *g, kiln_tensor *x, int32_t size, float alpha, float beta, float k)
{
    if (g == NULL) {
        return NULL;
    }
    struct kiln__p_lrn p = {size, alpha, beta, k};
    return kiln__node(g, KILN_OP_LRN, 1, &x, &p, sizeof(p));
}
