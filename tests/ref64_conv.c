/*
 * ref64_conv.c - double-precision evaluators of the convolutional-network ops (conv,
 * pool, norm, layout, random families), written from their definitions in op_desc.h
 * and include/kiln/graph.h with direct loops (no im2col, no BLAS, no kiln kernels).
 * The adjoint ops (conv2d_bwd_*, avgpool2d_bwd, upsample_nearest_bwd) are computed as
 * the transposes of the forward loop nests, which is what they are defined to be;
 * conv2d_bias is the forward nest, its bias and relu.
 * Their entries (evaluator and tolerance class) are in the table of ref64_ops.c.
 */
#include <math.h>
#include <string.h>

#include "ref64.h"
#include "rng.h"

/* ---- conv2d and its adjoints: one loop nest over (b, k, oh, ow, c, i, j) ---- */

static void conv_loops(const struct kiln_tensor *n, double *const *in, double *out)
{
    const struct kiln__p_conv2d *p = (const void *)n->params;
    const int64_t *xs, *ws, *ys;
    bool fwd = n->op == KILN_OP_CONV2D || n->op == KILN_OP_CONV2D_BIAS;
    if (fwd) {
        xs = n->src[0]->shape.dims, ws = n->src[1]->shape.dims, ys = n->shape.dims;
    } else if (n->op == KILN_OP_CONV2D_BWD_DATA) {
        xs = n->shape.dims, ws = n->src[1]->shape.dims, ys = n->src[0]->shape.dims;
    } else {
        xs = n->src[0]->shape.dims, ws = n->shape.dims, ys = n->src[1]->shape.dims;
    }
    int64_t nb = xs[0], nc = xs[1], h = xs[2], w = xs[3], nk = ws[0], cg = ws[1], kh = ws[2],
            kw = ws[3], oh = ys[2], ow = ys[3], kg = nk / p->groups;
    memset(out, 0, (size_t)n->n_elems * sizeof(double));
    for (int64_t b = 0; b < nb; b++) {
        for (int64_t k = 0; k < nk; k++) {
            int64_t c0 = (k / kg) * cg;
            for (int64_t yo = 0; yo < oh * ow; yo++) {
                int64_t y = ((b * nk + k) * oh + yo / ow) * ow + yo % ow;
                for (int64_t c = 0; c < cg; c++) {
                    for (int64_t i = 0; i < kh; i++) {
                        int64_t ih = (yo / ow) * p->stride[0] - p->pad[0] + i * p->dilation[0];
                        for (int64_t j = 0; j < kw; j++) {
                            int64_t iw = (yo % ow) * p->stride[1] - p->pad[1] + j * p->dilation[1];
                            if (ih < 0 || ih >= h || iw < 0 || iw >= w) {
                                continue;
                            }
                            int64_t x = ((b * nc + c0 + c) * h + ih) * w + iw;
                            int64_t wi = ((k * cg + c) * kh + i) * kw + j;
                            if (fwd) {
                                out[y] += in[0][x] * in[1][wi];
                            } else if (n->op == KILN_OP_CONV2D_BWD_DATA) {
                                out[x] += in[0][y] * in[1][wi];
                            } else {
                                out[wi] += in[1][y] * in[0][x];
                            }
                        }
                    }
                }
            }
        }
    }
}

/* conv2d_bias: the convolution, plus bias[k] on channel k, then max(0, .) with relu
 * (0 for NaN, as kiln's relu). */
static void conv_bias(const struct kiln_tensor *n, double *const *in, double *out)
{
    const struct kiln__p_conv2d_bias *p = (const void *)n->params;
    int64_t k = n->shape.dims[1], hw = n->shape.dims[2] * n->shape.dims[3];
    conv_loops(n, in, out);
    for (int64_t i = 0; i < n->n_elems; i++) {
        double v = out[i] + in[2][(i / hw) % k];
        out[i] = p->relu && !(v > 0.0) ? 0.0 : v;
    }
}

/* ---- Pools: one loop nest over (plane, output, window element) ---- */

static void pool_loops(const struct kiln_tensor *n, double *const *in, double *out)
{
    const struct kiln__p_pool2d *p = (const void *)n->params;
    bool fwd = n->op == KILN_OP_MAXPOOL2D || n->op == KILN_OP_AVGPOOL2D;
    bool relu = n->op == KILN_OP_MAXPOOL2D_RELU_BWD;
    bool mx = n->op == KILN_OP_MAXPOOL2D || n->op == KILN_OP_MAXPOOL2D_BWD || relu;
    const int64_t *xs = fwd ? n->src[0]->shape.dims : n->shape.dims;
    const int64_t *ys = fwd ? n->shape.dims : n->src[mx ? 1 : 0]->shape.dims;
    int64_t h = xs[2], w = xs[3], oh = ys[2], ow = ys[3];
    if (!fwd) {
        memset(out, 0, (size_t)n->n_elems * sizeof(double));
    }
    for (int64_t pl = 0; pl < xs[0] * xs[1]; pl++) {
        for (int64_t o = 0; o < oh * ow; o++) {
            int64_t best = -1, cnt = 0;
            double acc = 0.0;
            const double *x = in[0] + pl * h * w;
            for (int64_t i = 0; i < p->kernel[0]; i++) {
                for (int64_t j = 0; j < p->kernel[1]; j++) {
                    int64_t ih = (o / ow) * p->stride[0] - p->pad[0] + i;
                    int64_t iw = (o % ow) * p->stride[1] - p->pad[1] + j;
                    if (ih < 0 || ih >= h || iw < 0 || iw >= w) {
                        continue;
                    }
                    cnt++;
                    int64_t e = ih * w + iw;
                    if (mx) { /* first maximum; NaN beats numbers */
                        if (best < 0 || x[e] > x[best] || (isnan(x[e]) && !isnan(x[best]))) {
                            best = e;
                        }
                    } else if (fwd) {
                        acc += x[e];
                    }
                }
            }
            double div = p->count_include_pad ? (double)(p->kernel[0] * p->kernel[1]) : (double)cnt;
            int64_t yo = pl * oh * ow + o;
            if (n->op == KILN_OP_MAXPOOL2D) {
                out[yo] = x[best];
            } else if (n->op == KILN_OP_MAXPOOL2D_BWD || relu) {
                out[pl * h * w + best] += in[1][yo];
            } else if (n->op == KILN_OP_AVGPOOL2D) {
                out[yo] = acc / div;
            } else { /* AVGPOOL2D_BWD: the transpose of the loop above */
                for (int64_t i = 0; i < p->kernel[0]; i++) {
                    for (int64_t j = 0; j < p->kernel[1]; j++) {
                        int64_t ih = (o / ow) * p->stride[0] - p->pad[0] + i;
                        int64_t iw = (o % ow) * p->stride[1] - p->pad[1] + j;
                        if (ih >= 0 && ih < h && iw >= 0 && iw < w) {
                            out[pl * h * w + ih * w + iw] += in[0][yo] / div;
                        }
                    }
                }
            }
        }
    }
    for (int64_t e = 0; relu && e < n->n_elems; e++) { /* RELU_BWD on the same x */
        out[e] = in[0][e] > 0.0 ? out[e] : 0.0;
    }
}

static void upsample(const struct kiln_tensor *n, double *const *in, double *out)
{
    const struct kiln__p_upsample *p = (const void *)n->params;
    bool fwd = n->op == KILN_OP_UPSAMPLE_NEAREST;
    const int64_t *xs = fwd ? n->src[0]->shape.dims : n->shape.dims;
    const int64_t *ys = fwd ? n->shape.dims : n->src[0]->shape.dims;
    if (!fwd) {
        memset(out, 0, (size_t)n->n_elems * sizeof(double));
    }
    for (int64_t yo = 0; yo < ys[0] * ys[1] * ys[2] * ys[3]; yo++) {
        int64_t j = yo % ys[3], i = (yo / ys[3]) % ys[2], pl = yo / (ys[2] * ys[3]);
        int64_t xo = (pl * xs[2] + i / p->factor[0]) * xs[3] + j / p->factor[1];
        if (fwd) {
            out[yo] = in[0][xo];
        } else {
            out[xo] += in[0][yo];
        }
    }
}

/* ---- Batch norm ---- */

static void bn_dims(const struct kiln_shape *s, int64_t *nb, int64_t *nc, int64_t *sp)
{
    *nb = s->dims[0];
    *nc = s->dims[1];
    *sp = 1;
    for (int32_t k = 2; k < s->rank; k++) {
        *sp *= s->dims[k];
    }
}

static void bn(const struct kiln_tensor *n, double *const *in, double *out)
{
    const struct kiln__p_bn *p = (const void *)n->params;
    int64_t nb, nc, sp;
    if (n->op == KILN_OP_BN_RUNNING_UPDATE) {
        int64_t c = n->src[0]->n_elems;
        double m = p->momentum, cnt = p->count;
        for (int64_t i = 0; n->graph->training && i < c; i++) {
            in[0][i] = (1 - m) * in[0][i] + m * in[2][i];
            in[1][i] = (1 - m) * in[1][i] + m * in[2][c + i] * (cnt > 1 ? cnt / (cnt - 1) : 1.0);
        }
        return;
    }
    bn_dims(&n->src[0]->shape, &nb, &nc, &sp);
    double m = (double)(nb * sp);
    const double *x = in[0], *st = in[1];
    if (n->op == KILN_OP_BN_STATS) {
        for (int64_t c = 0; c < nc; c++) {
            double s = 0, q = 0;
            for (int64_t e = 0; e < nb * sp; e++) {
                s += x[((e / sp) * nc + c) * sp + e % sp];
            }
            for (int64_t e = 0; e < nb * sp; e++) {
                double d = x[((e / sp) * nc + c) * sp + e % sp] - s / m;
                q += d * d;
            }
            out[c] = n->graph->training ? s / m : in[1][c];
            out[nc + c] = n->graph->training ? q / m : in[2][c];
        }
        return;
    }
    if (n->op == KILN_OP_BN_APPLY_BWD_PARAMS) {
        for (int64_t c = 0; c < nc; c++) {
            double s1 = 0, s2 = 0, r = 1.0 / sqrt(st[nc + c] + (double)p->eps);
            for (int64_t e = 0; e < nb * sp; e++) {
                int64_t i = ((e / sp) * nc + c) * sp + e % sp;
                s1 += in[3][i];
                s2 += in[3][i] * (x[i] - st[c]) * r;
            }
            /* d/dmean and d/dvar of sum(dy * y), y = (x - mean) (var + eps)^-1/2 g + b */
            out[c] = -in[2][c] * r * s1;
            out[nc + c] = -0.5 * in[2][c] * s2 * r * r;
            out[2 * nc + c] = s2;
            out[3 * nc + c] = s1;
        }
        return;
    }
    for (int64_t i = 0; i < n->n_elems; i++) {
        int64_t c = (i / sp) % nc;
        double r = 1.0 / sqrt(st[nc + c] + (double)p->eps);
        switch (n->op) {
        case KILN_OP_BN_STATS_BWD: /* mean = sum x / m, var = sum (x - mean)^2 / m */
            out[i] = in[2][c] / m + in[2][nc + c] * 2.0 * (x[i] - st[c]) / m;
            break;
        case KILN_OP_BN_APPLY:
            out[i] = (x[i] - st[c]) * r * in[2][c] + in[3][c];
            break;
        default: /* BN_APPLY_BWD */
            out[i] = in[3][i] * in[2][c] * r;
            break;
        }
    }
}

/* ---- LRN: y_c = x_c d_c^-beta; the backward as the transpose of the Jacobian ---- */

static void lrn(const struct kiln_tensor *n, double *const *in, double *out)
{
    const struct kiln__p_lrn *p = (const void *)n->params;
    int64_t nb, nc, sp;
    bn_dims(&n->shape, &nb, &nc, &sp);
    double al = p->alpha, be = p->beta, k = p->k;
    if (n->op == KILN_OP_LRN_BWD) {
        memset(out, 0, (size_t)n->n_elems * sizeof(double));
    }
    for (int64_t b = 0; b < nb; b++) {
        for (int64_t s = 0; s < sp; s++) {
            const double *x = in[0] + b * nc * sp + s;
            for (int64_t c = 0; c < nc; c++) {
                double q = 0.0;
                int64_t lo = c - p->size / 2, hi = c + (p->size - 1) / 2;
                for (int64_t j = lo; j <= hi; j++) {
                    q += j >= 0 && j < nc ? x[j * sp] * x[j * sp] : 0.0;
                }
                double d = k + al / p->size * q;
                int64_t yc = (b * nc + c) * sp + s;
                if (n->op == KILN_OP_LRN) {
                    out[yc] = x[c * sp] * pow(d, -be);
                    continue;
                }
                /* dy_c times d y_c / d x_j for every j of c's window */
                double g = in[1][yc];
                out[yc] += g * pow(d, -be);
                for (int64_t j = lo < 0 ? 0 : lo; j <= hi && j < nc; j++) {
                    double dd = al / p->size * 2.0 * x[j * sp];
                    out[(b * nc + j) * sp + s] += g * x[c * sp] * -be * pow(d, -be - 1.0) * dd;
                }
            }
        }
    }
}

/* ---- Layout ---- */

static void layout(const struct kiln_tensor *n, double *const *in, double *out)
{
    const struct kiln_shape *ys = &n->shape;
    if (n->op == KILN_OP_CONCAT) {
        int32_t axis = ((const struct kiln__p_concat *)(const void *)n->params)->axis;
        for (int64_t o = 0; o < n->n_elems; o++) {
            int64_t c[KILN_MAX_DIMS] = {0}, rem = o, idx = 0;
            for (int32_t k = ys->rank - 1; k >= 0; k--) {
                c[k] = rem % ys->dims[k];
                rem /= ys->dims[k];
            }
            int s = 0;
            while (c[axis] >= n->src[s]->shape.dims[axis]) {
                c[axis] -= n->src[s++]->shape.dims[axis];
            }
            for (int32_t k = 0; k < ys->rank; k++) {
                idx = idx * n->src[s]->shape.dims[k] + c[k];
            }
            out[o] = in[s][idx];
        }
        return;
    }
    const struct kiln_shape *xs = &n->src[0]->shape;
    for (int64_t o = 0; o < n->n_elems; o++) {
        int64_t c[KILN_MAX_DIMS] = {0}, rem = o, idx = 0;
        bool inside = true;
        for (int32_t k = ys->rank - 1; k >= 0; k--) {
            c[k] = rem % ys->dims[k];
            rem /= ys->dims[k];
            c[k] += n->op == KILN_OP_SLICE
                        ? ((const struct kiln__p_slice *)(const void *)n->params)->begin[k]
                        : -((const struct kiln__p_pad *)(const void *)n->params)->before[k];
            inside = inside && c[k] >= 0 && c[k] < xs->dims[k];
        }
        for (int32_t k = 0; k < ys->rank; k++) {
            idx = idx * xs->dims[k] + c[k];
        }
        out[o] = inside ? in[0][idx] : 0.0;
    }
}

/* ---- Dropout: the mask of random.c, from Philox word 0 ---- */

static void dropout(const struct kiln_tensor *n, double *const *in, double *out)
{
    const struct kiln__p_dropout *p = (const void *)n->params;
    for (int64_t i = 0; i < n->n_elems; i++) {
        if (!n->graph->training) {
            out[i] = in[0][i];
            continue;
        }
        uint32_t r[4];
        kiln__philox(p->seed, n->graph->run_count, (uint64_t)i, r);
        double u = (double)(r[0] >> 8) / 16777216.0;
        out[i] = u >= (double)p->p ? in[0][i] / (1.0 - (double)p->p) : 0.0;
    }
}

void r64_eval_conv(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    (void)t;
    switch (n->op) {
    case KILN_OP_CONV2D:
    case KILN_OP_CONV2D_BWD_DATA:
    case KILN_OP_CONV2D_BWD_FILTER:
        conv_loops(n, in, out);
        break;
    case KILN_OP_CONV2D_BIAS:
        conv_bias(n, in, out);
        break;
    case KILN_OP_MAXPOOL2D:
    case KILN_OP_MAXPOOL2D_BWD:
    case KILN_OP_MAXPOOL2D_RELU_BWD:
    case KILN_OP_AVGPOOL2D:
    case KILN_OP_AVGPOOL2D_BWD:
        pool_loops(n, in, out);
        break;
    case KILN_OP_UPSAMPLE_NEAREST:
    case KILN_OP_UPSAMPLE_NEAREST_BWD:
        upsample(n, in, out);
        break;
    case KILN_OP_BN_STATS:
    case KILN_OP_BN_STATS_BWD:
    case KILN_OP_BN_APPLY:
    case KILN_OP_BN_APPLY_BWD:
    case KILN_OP_BN_APPLY_BWD_PARAMS:
    case KILN_OP_BN_RUNNING_UPDATE:
        bn(n, in, out);
        break;
    case KILN_OP_LRN:
    case KILN_OP_LRN_BWD:
        lrn(n, in, out);
        break;
    case KILN_OP_CONCAT:
    case KILN_OP_SLICE:
    case KILN_OP_PAD:
        layout(n, in, out);
        break;
    default: /* DROPOUT */
        dropout(n, in, out);
        break;
    }
}
