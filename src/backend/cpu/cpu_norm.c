/*
 * cpu_norm.c - the CPU backend's fast batch normalization: BN_STATS, BN_STATS_BWD,
 * BN_APPLY, BN_APPLY_BWD and BN_APPLY_BWD_PARAMS over x [N, C, S...] (src/ops/norm.c
 * defines them). The references index every element as (i / S) % C and take a
 * reciprocal square root per element; here each channel's factors are computed once
 * and every (image, channel) plane is one vectorized loop. The elementwise ops give the
 * references' values bitwise (the same expressions, evaluated in the same order); the
 * per-channel sums accumulate in double, as the references do, in another order
 * (within the ops' reduction tolerance). The per-channel sums walk x in memory order
 * (image by image, a group of channels at a time) rather than channel by channel, which
 * would jump between images every plane: the same sums in the same order, with reads the
 * hardware prefetches. Loops run on the calling thread below KILN__CPU_PAR_ELEMS
 * elements (cpu_impl.h), threads over slices of channels or over planes above it.
 */
#include <math.h>
#include <string.h>

#include "../../context_impl.h"
#include "cpu_impl.h"

/* x is [N, C, S...]: element (b, c, s) at (b C + c) S + s. */
struct plane {
    int64_t n, c, s;
};

static void plane_of(const struct kiln_shape *x, struct plane *g)
{
    g->n = x->dims[0];
    g->c = x->rank > 1 ? x->dims[1] : 1;
    g->s = 1;
    for (int32_t i = 2; i < x->rank; i++) {
        g->s *= x->dims[i];
    }
}

/* Sum of p[0..n) in double. */
static double sum_run(const float *p, int64_t n)
{
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++) {
        acc += p[i];
    }
    return acc;
}

/* Channels per group of the per-channel sums (their accumulators live on the stack). */
#define CH_GROUP 64

/* The slices of channels the per-channel sums are cut into: one per thread above
 * KILN__CPU_PAR_ELEMS elements, else one. */
static int64_t channel_slices(const struct kiln_tensor *x, int64_t c)
{
    int64_t t = x->n_elems > KILN__CPU_PAR_ELEMS ? kiln__cpu_max_threads() : 1;
    return t < c ? t : c;
}

/* BN_STATS of channels [c0, c1): the mean, then the mean squared deviation from it. */
static void stats_channels(const float *x, const struct plane *g, int64_t c0, int64_t c1, float *st)
{
    double m = (double)(g->n * g->s);
    for (int64_t cg = c0; cg < c1; cg += CH_GROUP) {
        int64_t nc = c1 - cg < CH_GROUP ? c1 - cg : CH_GROUP;
        double sum[CH_GROUP] = {0}, sq[CH_GROUP] = {0}, mean[CH_GROUP];
        for (int64_t b = 0; b < g->n; b++) {
            for (int64_t j = 0; j < nc; j++) {
                sum[j] += sum_run(x + (b * g->c + cg + j) * g->s, g->s);
            }
        }
        for (int64_t j = 0; j < nc; j++) {
            mean[j] = sum[j] / m;
        }
        for (int64_t b = 0; b < g->n; b++) {
            for (int64_t j = 0; j < nc; j++) {
                const float *xp = x + (b * g->c + cg + j) * g->s;
                double mu = mean[j], acc = 0.0;
#pragma omp simd reduction(+ : acc)
                for (int64_t s = 0; s < g->s; s++) {
                    acc += (xp[s] - mu) * (xp[s] - mu);
                }
                sq[j] += acc;
            }
        }
        for (int64_t j = 0; j < nc; j++) {
            st[cg + j] = (float)mean[j];
            st[g->c + cg + j] = (float)(sq[j] / m);
        }
    }
}

static kiln_status fast_bn_stats(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    const struct kiln_tensor *n = a->node;
    struct plane g;
    plane_of(&n->src[0]->shape, &g);
    const float *x = a->in[0], *rm = a->in[1], *rv = a->in[2];
    float *st = a->out;
    if (!n->graph->training) {
        memcpy(st, rm, (size_t)g.c * sizeof(float));
        memcpy(st + g.c, rv, (size_t)g.c * sizeof(float));
        return KILN_OK;
    }
    int64_t slices = channel_slices(n->src[0], g.c);
#pragma omp parallel for schedule(static) if (slices > 1)
    for (int64_t sl = 0; sl < slices; sl++) {
        stats_channels(x, &g, sl * g.c / slices, (sl + 1) * g.c / slices, st);
    }
    return KILN_OK;
}

static kiln_status fast_bn_stats_bwd(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    const struct kiln_tensor *n = a->node;
    struct plane g;
    plane_of(&n->shape, &g);
    const float *x = a->in[0], *st = a->in[1], *ds = a->in[2];
    float *dx = a->out;
    float inv_m = (float)(1.0 / (double)(g.n * g.s));
    int64_t planes = g.n * g.c;
#pragma omp parallel for if (n->n_elems > KILN__CPU_PAR_ELEMS)
    for (int64_t pl = 0; pl < planes; pl++) {
        int64_t c = pl % g.c;
        float dm = ds[c], dv2 = 2.0f * ds[g.c + c], mean = st[c];
        const float *xp = x + pl * g.s;
        float *dp = dx + pl * g.s;
#pragma omp simd
        for (int64_t s = 0; s < g.s; s++) {
            dp[s] = (dm + dv2 * (xp[s] - mean)) * inv_m;
        }
    }
    return KILN_OK;
}

/* BN_APPLY: y = (x - mean) r gamma + beta; BN_APPLY_BWD (input 3 is dy): dy gamma r. */
static kiln_status fast_bn_apply(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_bn *p = kiln__params(n);
    struct plane g;
    plane_of(&n->shape, &g);
    const float *x = a->in[0], *st = a->in[1], *gm = a->in[2], *bt = a->in[3];
    float *y = a->out;
    int64_t planes = g.n * g.c;
    bool apply = n->op == KILN_OP_BN_APPLY;
#pragma omp parallel for if (n->n_elems > KILN__CPU_PAR_ELEMS)
    for (int64_t pl = 0; pl < planes; pl++) {
        int64_t c = pl % g.c;
        float r = 1.0f / sqrtf(st[g.c + c] + p->eps), mean = st[c], gc = gm[c];
        float *yp = y + pl * g.s;
        if (apply) {
            const float *xp = x + pl * g.s;
            float b = bt[c];
#pragma omp simd
            for (int64_t s = 0; s < g.s; s++) {
                yp[s] = (xp[s] - mean) * r * gc + b;
            }
        } else {
            const float *dp = bt + pl * g.s;
#pragma omp simd
            for (int64_t s = 0; s < g.s; s++) {
                yp[s] = dp[s] * gc * r;
            }
        }
    }
    return KILN_OK;
}

/* BN_APPLY_BWD_PARAMS of channels [c0, c1): the sums of dy and of dy (x - mean), and
 * from them the gradients of the statistics, gamma and beta. */
static void bwd_params_channels(const float *x, const float *st, const float *gm, const float *dy,
                                float eps, const struct plane *g, int64_t c0, int64_t c1, float *o)
{
    for (int64_t cg = c0; cg < c1; cg += CH_GROUP) {
        int64_t nc = c1 - cg < CH_GROUP ? c1 - cg : CH_GROUP;
        double s1[CH_GROUP] = {0}, s2[CH_GROUP] = {0};
        for (int64_t b = 0; b < g->n; b++) {
            for (int64_t j = 0; j < nc; j++) {
                int64_t off = (b * g->c + cg + j) * g->s;
                const float *xp = x + off, *gp = dy + off;
                double mean = st[cg + j], a1 = 0.0, a2 = 0.0;
#pragma omp simd reduction(+ : a1, a2)
                for (int64_t s = 0; s < g->s; s++) {
                    a1 += gp[s];
                    a2 += gp[s] * (xp[s] - mean);
                }
                s1[j] += a1;
                s2[j] += a2;
            }
        }
        for (int64_t j = 0; j < nc; j++) {
            int64_t c = cg + j;
            double r = 1.0 / sqrt((double)st[g->c + c] + (double)eps);
            o[c] = (float)(-gm[c] * r * s1[j]);                      /* d mean */
            o[g->c + c] = (float)(-0.5 * gm[c] * s2[j] * r * r * r); /* d var */
            o[2 * g->c + c] = (float)(s2[j] * r);                    /* d gamma */
            o[3 * g->c + c] = (float)s1[j];                          /* d beta */
        }
    }
}

static kiln_status fast_bn_apply_bwd_params(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_bn *p = kiln__params(n);
    struct plane g;
    plane_of(&n->src[0]->shape, &g);
    const float *x = a->in[0], *st = a->in[1], *gm = a->in[2], *dy = a->in[3];
    int64_t slices = channel_slices(n->src[0], g.c);
#pragma omp parallel for schedule(static) if (slices > 1)
    for (int64_t sl = 0; sl < slices; sl++) {
        bwd_params_channels(x, st, gm, dy, p->eps, &g, sl * g.c / slices, (sl + 1) * g.c / slices,
                            a->out);
    }
    return KILN_OK;
}

const struct kiln__cpu_fast kiln__cpu_bn_stats = {NULL, fast_bn_stats};
const struct kiln__cpu_fast kiln__cpu_bn_stats_bwd = {NULL, fast_bn_stats_bwd};
const struct kiln__cpu_fast kiln__cpu_bn_apply = {NULL, fast_bn_apply};
const struct kiln__cpu_fast kiln__cpu_bn_apply_bwd_params = {NULL, fast_bn_apply_bwd_params};
