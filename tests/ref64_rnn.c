/*
 * ref64_rnn.c - double-precision evaluators of the recurrent ops (RNN_SEQ and
 * RNN_SEQ_BWD), written from PyTorch's cell equations and the layouts described in
 * src/ops/rnn.c with plain loops (no BLAS, no kiln kernels): the forward pass step by
 * step, and the backward pass as the chain rule through the same steps in reverse.
 * Their entries (evaluator and tolerance class) are in the table of ref64_ops.c.
 */
#include <math.h>
#include <string.h>

#include "ref64.h"

struct dims {
    int64_t t, n, h, g, nb, tnh, tng;
    int cell, rev;
};

static void dims_of(const struct kiln_tensor *nd, struct dims *d)
{
    const struct kiln__p_rnn *p = (const void *)nd->params;
    const struct kiln_tensor *w = nd->op == KILN_OP_RNN_SEQ ? nd->src[1] : nd->src[2];
    d->cell = p->cell;
    d->rev = p->reverse;
    d->t = nd->src[4]->shape.dims[0];
    d->n = nd->src[4]->shape.dims[1];
    d->h = w->shape.dims[1];
    d->g = w->shape.dims[0];
    d->nb = p->cell == KILN__RNN_LSTM ? 7 : p->cell == KILN__RNN_GRU ? 5 : 1;
    d->tnh = d->t * d->n * d->h;
    d->tng = d->t * d->n * d->g;
}

static double sig(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* Step t in processing order s, and the step before (-1: the initial state). */
static int64_t step(const struct dims *d, int64_t s, int64_t *tp)
{
    int64_t t = d->rev ? d->t - 1 - s : s;
    *tp = s == 0 ? -1 : (d->rev ? t + 1 : t - 1);
    return t;
}

/* Block k of y at (t, i, j). */
#define Y(k, t, i, j) y[(k)*d.tnh + ((t)*d.n + (i)) * d.h + (j)]

static void eval_fwd(const struct kiln_tensor *nd, double *const *in, double *y)
{
    struct dims d;
    dims_of(nd, &d);
    const double *xg = in[0], *w = in[1], *b = in[2], *s0 = in[3], *mask = in[4];
    double *a = y + d.nb * d.tnh; /* the last step's h_{t-1} W_hh^T */
    for (int64_t s = 0; s < d.t; s++) {
        int64_t tp, t = step(&d, s, &tp);
        for (int64_t i = 0; i < d.n; i++) {
            const double *hp = tp < 0 ? s0 + i * d.h : &Y(0, tp, i, 0);
            const double *cp = tp < 0 ? s0 + (d.n + i) * d.h : &Y(1, tp, i, 0);
            for (int64_t r = 0; r < d.g; r++) {
                double acc = 0.0;
                for (int64_t k = 0; k < d.h; k++) {
                    acc += hp[k] * w[r * d.h + k];
                }
                a[i * d.g + r] = acc;
            }
            const double *x = xg + (t * d.n + i) * d.g, *ai = a + i * d.g;
            bool real = mask[t * d.n + i] != 0.0;
            for (int64_t j = 0; j < d.h; j++) {
                int64_t h = d.h;
                for (int64_t k = 0; k < d.nb; k++) {
                    Y(k, t, i, j) = 0.0;
                }
                if (!real) {
                    Y(0, t, i, j) = hp[j];
                    if (d.cell == KILN__RNN_LSTM) {
                        Y(1, t, i, j) = cp[j];
                    }
                } else if (d.cell == KILN__RNN_LSTM) {
                    double gi = sig(x[j] + ai[j] + b[j]);
                    double gf = sig(x[h + j] + ai[h + j] + b[h + j]);
                    double gg = tanh(x[2 * h + j] + ai[2 * h + j] + b[2 * h + j]);
                    double go = sig(x[3 * h + j] + ai[3 * h + j] + b[3 * h + j]);
                    double c = gf * cp[j] + gi * gg;
                    double v[7] = {go * tanh(c), c, gi, gf, gg, go, tanh(c)};
                    for (int k = 0; k < 7; k++) {
                        Y(k, t, i, j) = v[k];
                    }
                } else if (d.cell == KILN__RNN_GRU) {
                    double gr = sig(x[j] + ai[j] + b[j]);
                    double gz = sig(x[h + j] + ai[h + j] + b[h + j]);
                    double hn = ai[2 * h + j] + b[2 * h + j];
                    double gn = tanh(x[2 * h + j] + gr * hn);
                    double v[5] = {(1.0 - gz) * gn + gz * hp[j], gr, gz, hn, gn};
                    for (int k = 0; k < 5; k++) {
                        Y(k, t, i, j) = v[k];
                    }
                } else {
                    double v = x[j] + ai[j] + b[j];
                    Y(0, t, i, j) = d.cell == KILN__RNN_TANH ? tanh(v) : (v > 0.0 ? v : 0.0);
                }
            }
        }
    }
}

static void eval_bwd(const struct kiln_tensor *nd, double *const *in, double *out)
{
    struct dims d;
    dims_of(nd, &d);
    const double *y = in[0], *dy = in[1], *w = in[2], *s0 = in[3], *mask = in[4];
    int64_t nx = (d.cell == KILN__RNN_GRU ? 2 : 1) * d.tng, h = d.h;
    double *dx = out, *dhg = d.cell == KILN__RNN_GRU ? out + d.tng : out;
    double *dh = out + nx, *dc = dh + d.n * d.h;
    memset(out, 0, (size_t)nd->n_elems * sizeof(double));
    for (int64_t s = d.t - 1; s >= 0; s--) {
        int64_t tp, t = step(&d, s, &tp);
        for (int64_t i = 0; i < d.n; i++) {
            const double *hp = tp < 0 ? s0 + i * d.h : &Y(0, tp, i, 0);
            const double *cp = tp < 0 ? s0 + (d.n + i) * d.h : &Y(1, tp, i, 0);
            double *gx = dx + (t * d.n + i) * d.g, *gh = dhg + (t * d.n + i) * d.g;
            double *dhi = dh + i * d.h, *dci = dc + i * d.h;
            bool real = mask[t * d.n + i] != 0.0;
            for (int64_t j = 0; j < d.h; j++) {
                double dht = dy[(t * d.n + i) * d.h + j] + dhi[j];
                double dyc = d.cell == KILN__RNN_LSTM ? dy[d.tnh + (t * d.n + i) * d.h + j] : 0.0;
                if (!real) {
                    dhi[j] = dht;
                    dci[j] += dyc;
                } else if (d.cell == KILN__RNN_LSTM) {
                    double gi = Y(2, t, i, j), gf = Y(3, t, i, j), gg = Y(4, t, i, j);
                    double go = Y(5, t, i, j), tc = Y(6, t, i, j);
                    double dct = dyc + dci[j] + dht * go * (1.0 - tc * tc);
                    gx[j] = dct * gg * gi * (1.0 - gi);
                    gx[h + j] = dct * cp[j] * gf * (1.0 - gf);
                    gx[2 * h + j] = dct * gi * (1.0 - gg * gg);
                    gx[3 * h + j] = dht * tc * go * (1.0 - go);
                    dci[j] = dct * gf;
                    dhi[j] = 0.0;
                } else if (d.cell == KILN__RNN_GRU) {
                    double gr = Y(1, t, i, j), gz = Y(2, t, i, j), hn = Y(3, t, i, j);
                    double gn = Y(4, t, i, j);
                    double dan = dht * (1.0 - gz) * (1.0 - gn * gn);
                    gx[j] = gh[j] = dan * hn * gr * (1.0 - gr);
                    gx[h + j] = gh[h + j] = dht * (hp[j] - gn) * gz * (1.0 - gz);
                    gx[2 * h + j] = dan;
                    gh[2 * h + j] = dan * gr;
                    dhi[j] = dht * gz;
                } else {
                    double v = Y(0, t, i, j);
                    gx[j] = d.cell == KILN__RNN_TANH ? dht * (1.0 - v * v) : (v > 0.0 ? dht : 0.0);
                    dhi[j] = 0.0;
                }
            }
            for (int64_t k = 0; k < d.h; k++) {
                double acc = 0.0;
                for (int64_t r = 0; r < d.g; r++) {
                    acc += gh[r] * w[r * d.h + k];
                }
                dhi[k] += acc;
            }
        }
    }
}

void r64_eval_rnn(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    (void)t;
    if (n->op == KILN_OP_RNN_SEQ) {
        eval_fwd(n, in, out);
    } else {
        eval_bwd(n, in, out);
    }
}
