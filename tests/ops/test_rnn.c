/*
 * test_rnn.c - case rows for the recurrent ops: RNN_SEQ of every cell (tanh, ReLU,
 * LSTM, GRU) in both directions, with masks of random holes (a padded step in the
 * middle carries the state; the op does not need padding to come last), all-real masks,
 * one step, one sequence, and a hidden size past a workgroup; its differentiable output
 * (the h block, and c for an LSTM) with gradients through RNN_SEQ_BWD and the products
 * of the backward rule, and the whole flat output (saved gates and the scratch product)
 * forward only; RNN_SEQ_BWD fed directly with arbitrary values. The double-precision
 * evaluators of both ops, written from PyTorch's cell equations and the layouts of
 * src/ops/rnn.c with plain loops (no BLAS, no kiln kernels), are here too.
 */
#include <math.h>
#include <string.h>

#include "../ref64.h"

/* ==== Double-precision evaluators ==== */

/* Forward tolerance class: the f32 reference's activations (within 3 ULP; src/ops/rnn.c)
 * and its products' roundings feed every later step, so the error of T steps is a few
 * times one step's. */
#define R64_TOL_RNN                                                                                \
    {                                                                                              \
        1e-10, 1e-5, 1e-5                                                                          \
    }

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

static void eval_rnn(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    (void)t;
    if (n->op == KILN_OP_RNN_SEQ) {
        eval_fwd(n, in, out);
    } else {
        eval_bwd(n, in, out);
    }
}

static const struct oh_eval evals[] = {
    {KILN_OP_RNN_SEQ, eval_rnn, R64_TOL_RNN},
    {KILN_OP_RNN_SEQ_BWD, eval_rnn, R64_TOL_RNN},
};

/* ==== Rows ==== */

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -1.0f, 1.0f                                                                    \
    }
#define W                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -0.5f, 0.5f                                                                    \
    }
#define HOLES                                                                                      \
    {                                                                                              \
        OH_TIES, 0.0f, 1.0f                                                                        \
    }
#define ONES                                                                                       \
    {                                                                                              \
        OH_UNIFORM, 1.0f, 1.0f                                                                     \
    }
#define GATE                                                                                       \
    {                                                                                              \
        OH_UNIFORM, 0.05f, 0.95f                                                                   \
    }

/* The differentiable part of RNN_SEQ's output: the h block, and c for an LSTM. */
static kiln_tensor *build_states(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    kiln_tensor *y =
        kiln__rnn_seq(g, c->p.rnn.cell, c->p.rnn.reverse, in[0], in[1], in[2], in[3], in[4]);
    if (y->flags & KILN__F_POISON) {
        return y;
    }
    int64_t t = in[4]->shape.dims[0], n = in[4]->shape.dims[1], h = in[1]->shape.dims[1];
    int64_t k = c->p.rnn.cell == KILN__RNN_LSTM ? 2 : 1, dims[4] = {k, t, n, h};
    return kiln_reshape(g, kiln_slice(g, y, 0, 0, k * t * n * h), 4, dims);
}

/* RNN_SEQ rows: T steps, N sequences, H units, the cell's gate count G, and the mask. */
#define SEQ(nt, cl, rv, T, N, H, G, S0, MASK)                                                      \
    {                                                                                              \
        .op = KILN_OP_RNN_SEQ, .note = nt,                                                         \
        .shape = {OH_S3(T, N, (G) * (H)), OH_S2((G) * (H), H), OH_S1((G) * (H)), OH_S3(S0, N, H),  \
                  OH_S2(T, N)},                                                                    \
        .const_mask = 16, .p.rnn = {cl, rv}, .gen = {U, W, U, U, MASK}, .build = build_states,     \
    }
/* The whole flat output, forward only (the saved blocks and the scratch product). */
#define SEQ_ALL(nt, cl, rv, T, N, H, G, S0)                                                        \
    {                                                                                              \
        .op = KILN_OP_RNN_SEQ, .note = nt,                                                         \
        .shape = {OH_S3(T, N, (G) * (H)), OH_S2((G) * (H), H), OH_S1((G) * (H)), OH_S3(S0, N, H),  \
                  OH_S2(T, N)},                                                                    \
        .const_mask = 16, .p.rnn = {cl, rv}, .gen = {U, W, U, U, HOLES}, .flags = OH_NO_BWD,       \
    }
/* RNN_SEQ_BWD fed directly: Y and dY of NB blocks plus the scratch, arbitrary values
 * (gates kept inside (0, 1) so that the rows look like real activations). */
#define BWD(nt, cl, rv, T, N, H, G, S0, NB)                                                        \
    {                                                                                              \
        .op = KILN_OP_RNN_SEQ_BWD, .note = nt,                                                     \
        .shape = {OH_S1((NB) * (T) * (N) * (H) + (N) * (G) * (H)),                                 \
                  OH_S1((NB) * (T) * (N) * (H) + (N) * (G) * (H)), OH_S2((G) * (H), H),            \
                  OH_S3(S0, N, H), OH_S2(T, N)},                                                   \
        .const_mask = 31, .p.rnn = {cl, rv}, .gen = {GATE, U, W, U, HOLES},                        \
    }

static const struct oh_case cases[] = {
    SEQ("lstm, holes", KILN__RNN_LSTM, 0, 5, 3, 7, 4, 2, HOLES),
    SEQ("lstm reverse, holes", KILN__RNN_LSTM, 1, 4, 2, 5, 4, 2, HOLES),
    SEQ("lstm, all real", KILN__RNN_LSTM, 0, 6, 2, 3, 4, 2, ONES),
    SEQ("lstm, one step", KILN__RNN_LSTM, 0, 1, 3, 4, 4, 2, ONES),
    SEQ("gru, holes", KILN__RNN_GRU, 0, 5, 3, 6, 3, 1, HOLES),
    SEQ("gru reverse, one sequence", KILN__RNN_GRU, 1, 7, 1, 5, 3, 1, ONES),
    SEQ("rnn tanh, holes", KILN__RNN_TANH, 0, 6, 4, 5, 1, 1, HOLES),
    SEQ("rnn tanh reverse", KILN__RNN_TANH, 1, 3, 2, 9, 1, 1, ONES),
    SEQ("rnn relu, holes", KILN__RNN_RELU, 0, 5, 3, 4, 1, 1, HOLES),
    SEQ("lstm, H 67 past a workgroup", KILN__RNN_LSTM, 0, 3, 2, 67, 4, 2, HOLES),
    SEQ_ALL("lstm, every block", KILN__RNN_LSTM, 0, 4, 3, 5, 4, 2),
    SEQ_ALL("gru reverse, every block", KILN__RNN_GRU, 1, 4, 3, 5, 3, 1),
    SEQ_ALL("rnn relu, every block", KILN__RNN_RELU, 0, 4, 3, 5, 1, 1),
    BWD("lstm", KILN__RNN_LSTM, 0, 4, 3, 5, 4, 2, 7),
    BWD("lstm reverse", KILN__RNN_LSTM, 1, 3, 2, 6, 4, 2, 7),
    BWD("gru", KILN__RNN_GRU, 0, 4, 3, 5, 3, 1, 5),
    BWD("gru reverse, H 67", KILN__RNN_GRU, 1, 2, 2, 67, 3, 1, 5),
    BWD("rnn tanh", KILN__RNN_TANH, 0, 5, 2, 4, 1, 1, 1),
    BWD("rnn relu reverse", KILN__RNN_RELU, 1, 4, 3, 3, 1, 1, 1),
};

const struct oh_family oh_family_rnn = {"rnn", cases, (int)(sizeof(cases) / sizeof(cases[0])),
                                        evals, (int)(sizeof(evals) / sizeof(evals[0]))};
