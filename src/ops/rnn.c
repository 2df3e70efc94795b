/*
 * rnn.c - the recurrent sequence ops: RNN_SEQ runs one direction of one recurrent layer
 * (Elman RNN with tanh or ReLU, LSTM, GRU; PyTorch's equations and gate order) over all
 * T steps of a padded batch, and RNN_SEQ_BWD is its backpropagation through time. The
 * input-to-hidden product is not part of the op: the layer computes it for all steps
 * with one matrix product (xg = x W_ih^T + b_ih) before the recurrence, and the
 * backward rule gets dW_hh, db_hh and dW_ih from the gate gradients with one product
 * each, so the recurrence itself only multiplies by W_hh once per step.
 *
 * Layouts (T steps, N sequences, H hidden units, G = gates * H with 1, 4 or 3 gates):
 *  - xg [T, N, G], w_hh [G, H], b_hh [G], s0 [S0, N, H] (h0, and c0 for an LSTM: S0 = 2),
 *    mask [T, N] f32: step t of sequence n is real when mask != 0, else padding.
 *  - RNN_SEQ's output Y is flat: blocks of [T, N, H], then one [N, G] scratch block that
 *    holds the step in progress's product h_{t-1} W_hh^T. Blocks: RNN h; LSTM h, c, i,
 *    f, g, o (activated gates), tanh(c); GRU h, r, z, hn, n with hn = W_hn h_{t-1} +
 *    b_hn. Only the h block (and c for an LSTM) are differentiable outputs: the others
 *    are saved for the backward pass and gradients reaching them are ignored. The h
 *    block comes first, so the layer's slice of it is a view. At a padded step
 *    the state is carried unchanged (h_t = h_{t-1}, c_t = c_{t-1}) and the other blocks
 *    are zero, so the state after the last step is each sequence's final state and a
 *    padded step changes neither the results of real steps nor any gradient.
 *  - With reverse = 1 the steps run from t = T - 1 down to 0 (a bidirectional layer's
 *    second direction); padding at the end of a sequence is then met first, carrying
 *    the initial state up to the sequence's last real step.
 *  - RNN_SEQ_BWD (Y, dY, w_hh, s0, mask) outputs, flat: dX [T, N, G], the gradient of
 *    the gates' x-side input xg; for a GRU then dH [T, N, G], that of h_{t-1} W_hh^T +
 *    b_hh (the two differ in the n gate, which r scales); then dh0 [N, H] and dc0
 *    [N, H] (zero unless LSTM). dh0 and dc0 also carry the gradient between steps.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "family.h"

/* ==== Sizes ==== */

int32_t kiln__rnn_gates(int32_t cell)
{
    return cell == KILN__RNN_LSTM ? 4 : cell == KILN__RNN_GRU ? 3 : 1;
}

int32_t kiln__rnn_blocks(int32_t cell)
{
    return cell == KILN__RNN_LSTM ? 7 : cell == KILN__RNN_GRU ? 5 : 1;
}

int32_t kiln__rnn_states(int32_t cell)
{
    return cell == KILN__RNN_LSTM ? 2 : 1;
}

void kiln__rnn_dims(const struct kiln_tensor *n, struct kiln__rnn_dims *d)
{
    const struct kiln__p_rnn *p = kiln__params(n);
    /* RNN_SEQ: (xg, w, b, s0, mask); RNN_SEQ_BWD: (y, dy, w, s0, mask). */
    const struct kiln_tensor *w = n->op == KILN_OP_RNN_SEQ ? n->src[1] : n->src[2];
    const struct kiln_tensor *mask = n->src[4];
    d->t = mask->shape.dims[0];
    d->n = mask->shape.dims[1];
    d->h = w->shape.dims[1];
    d->g = w->shape.dims[0];
    d->tnh = d->t * d->n * d->h;
    d->tng = d->t * d->n * d->g;
    d->y_elems = kiln__rnn_blocks(p->cell) * d->tnh + d->n * d->g;
    d->dx_elems = (p->cell == KILN__RNN_GRU ? 2 : 1) * d->tng;
    d->d_elems = d->dx_elems + 2 * d->n * d->h;
}

/* ==== Shape inference ==== */

static kiln_status bad_shape(const struct kiln_tensor *n, int i, const char *want)
{
    char sb[64];
    return KILN_FAIL(KILN_E_SHAPE, "%s: input %d ('%s') is %s; expected %s", kiln__ops[n->op]->name,
                     i, n->src[i]->name, kiln__shape_str(&n->src[i]->shape, sb, sizeof(sb)), want);
}

/* Checks w_hh (input iw), b_hh (ib, or -1), s0 and mask against each other. */
static kiln_status check_common(const struct kiln_tensor *n, int iw, int ib)
{
    const struct kiln__p_rnn *p = kiln__params(n);
    if (p->cell < KILN__RNN_TANH || p->cell > KILN__RNN_GRU || (p->reverse & ~1) != 0) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: cell %d, reverse %d", kiln__ops[n->op]->name,
                         p->cell, p->reverse);
    }
    for (int i = 0; i < n->n_src; i++) {
        KILN_TRY(kiln__want_dtype(n, i, KILN_DTYPE_F32));
    }
    const struct kiln_shape *w = &n->src[iw]->shape, *s0 = &n->src[3]->shape;
    const struct kiln_shape *m = &n->src[4]->shape;
    int64_t gates = kiln__rnn_gates(p->cell);
    if (w->rank != 2 || w->dims[1] < 1 || w->dims[0] != gates * w->dims[1]) {
        return bad_shape(n, iw,
                         gates == 1   ? "w_hh [H, H]"
                         : gates == 4 ? "w_hh [4 H, H]"
                                      : "w_hh [3 H, H]");
    }
    if (ib >= 0 && (n->src[ib]->shape.rank != 1 || n->src[ib]->shape.dims[0] != w->dims[0])) {
        return bad_shape(n, ib, "b_hh [G] of w_hh's G rows");
    }
    if (m->rank != 2 || m->dims[0] < 1 || m->dims[1] < 1) {
        return bad_shape(n, 4, "a mask [T, N] with T, N >= 1");
    }
    if (s0->rank != 3 || s0->dims[0] != kiln__rnn_states(p->cell) || s0->dims[1] != m->dims[1] ||
        s0->dims[2] != w->dims[1]) {
        return bad_shape(n, 3,
                         p->cell == KILN__RNN_LSTM ? "s0 [2, N, H] (h0, c0)" : "s0 [1, N, H]");
    }
    return KILN_OK;
}

static kiln_status infer_rnn(struct kiln_tensor *n)
{
    struct kiln__rnn_dims d;
    KILN_TRY(check_common(n, 1, 2));
    const struct kiln_shape *x = &n->src[0]->shape;
    kiln__rnn_dims(n, &d);
    if (x->rank != 3 || x->dims[0] != d.t || x->dims[1] != d.n || x->dims[2] != d.g) {
        return bad_shape(n, 0, "xg [T, N, G] of the mask's T, N and w_hh's G");
    }
    n->shape.rank = 1;
    n->shape.dims[0] = d.y_elems;
    return KILN_OK;
}

static kiln_status infer_rnn_bwd(struct kiln_tensor *n)
{
    struct kiln__rnn_dims d;
    KILN_TRY(check_common(n, 2, -1));
    kiln__rnn_dims(n, &d);
    for (int i = 0; i < 2; i++) {
        const struct kiln_shape *s = &n->src[i]->shape;
        if (s->rank != 1 || s->dims[0] != d.y_elems) {
            return bad_shape(n, i, "the flat output of RNN_SEQ");
        }
    }
    n->shape.rank = 1;
    n->shape.dims[0] = d.d_elems;
    return KILN_OK;
}

/* ==== CPU reference ==== */

/*
 * The activations, free of branches so that the row loops below vectorize (#pragma omp
 * simd; selections go through integer masks, which compilers if-convert where a
 * floating-point select of values that may trap is left as a branch). e^-a for a >= 0
 * is 2^n e^r with -a = n ln2 + r (a two-part ln2), |r| <= ln2 / 2, and a degree-7
 * Taylor polynomial (truncation 6e-9 relative), the form of kiln_exp_neg in
 * shaders/common.glsl; a is clamped at 87, whose e^-a (1.6e-38) is still normal and
 * vanishes next to 1 in every use here. sigmoid is 1 / (1 + e) or e / (1 + e) with
 * e = e^-|x|; tanh is (1 - e) / (1 + e) with e = e^-2|x| (under 3 ULP lost to the
 * cancellation for |x| >= 0.2) and, below 0.2, its odd Taylor polynomial to x^9 (exact
 * to 1e-10 relative).
 */
static inline float select_f(int c, float a, float b)
{
    uint32_t ua, ub, m = (uint32_t)0 - (uint32_t)(c != 0);
    memcpy(&ua, &a, sizeof(ua));
    memcpy(&ub, &b, sizeof(ub));
    uint32_t r = (ua & m) | (ub & ~m);
    float f;
    memcpy(&f, &r, sizeof(f));
    return f;
}

static inline float exp_negabs(float a)
{
    uint32_t ab;
    memcpy(&ab, &a, sizeof(ab));
    ab &= 0x7fffffffu;
    ab = ab < 0x42ae0000u ? ab : 0x42ae0000u; /* |a| <= 87; NaN becomes 87 */
    float c;
    memcpy(&c, &ab, sizeof(c));
    int32_t ni = (int32_t)(c * -1.44269504088896341f - 0.5f);
    float n = (float)ni;
    float r = (-c - n * 0.693145751953125f) - n * 1.428606820309417e-6f;
    float p = 1.0f + r * (1.0f / 7.0f);
    p = 1.0f + r * (1.0f / 6.0f) * p;
    p = 1.0f + r * 0.2f * p;
    p = 1.0f + r * 0.25f * p;
    p = 1.0f + r * (1.0f / 3.0f) * p;
    p = 1.0f + r * 0.5f * p;
    p = 1.0f + r * p;
    uint32_t bits = (uint32_t)(ni + 127) << 23;
    float two_n;
    memcpy(&two_n, &bits, sizeof(two_n));
    return p * two_n;
}

static inline float sigm(float x)
{
    float e = exp_negabs(x);
    return select_f(x >= 0.0f, 1.0f, e) / (1.0f + e);
}

static inline float tanh_v(float x)
{
    float ax = fabsf(x), x2 = x * x;
    float small =
        x * (1.0f + x2 * (-1.0f / 3.0f +
                          x2 * (2.0f / 15.0f + x2 * (-17.0f / 315.0f + x2 * (62.0f / 2835.0f)))));
    float e = exp_negabs(2.0f * x);
    float big = copysignf((1.0f - e) / (1.0f + e), x);
    return select_f(ax < 0.2f, small, big);
}

static inline float relu_v(float x)
{
    return select_f(x > 0.0f, x, 0.0f);
}

/* The step of position s (0-based in processing order), and the step before it (-1:
 * the initial state). */
static void step_of(const struct kiln__p_rnn *p, int64_t t_all, int64_t s, int64_t *t, int64_t *tp)
{
    *t = p->reverse ? t_all - 1 - s : s;
    *tp = s == 0 ? -1 : (p->reverse ? *t + 1 : *t - 1);
}

/* Pointers of one sequence's row at step t of the flat output y. */
struct rows {
    float *b[7];        /* blocks at step t */
    const float *hp;    /* h_{t-1} */
    const float *cp;    /* c_{t-1} (LSTM) */
    const float *x, *a; /* xg row and the scratch product row */
};

static void rows_at(const struct kiln__rnn_dims *d, int32_t cell, float *y, const float *xg,
                    const float *s0, int64_t t, int64_t tp, int64_t i, struct rows *r)
{
    int64_t row = (t * d->n + i) * d->h, prow = (tp * d->n + i) * d->h;
    for (int k = 0; k < kiln__rnn_blocks(cell); k++) {
        r->b[k] = y + k * d->tnh + row;
    }
    r->hp = tp < 0 ? s0 + i * d->h : y + prow;
    r->cp = tp < 0 ? s0 + (d->n + i) * d->h : y + d->tnh + prow;
    r->x = xg == NULL ? NULL : xg + (t * d->n + i) * d->g;
    r->a = y + kiln__rnn_blocks(cell) * d->tnh + i * d->g;
}

/* One sequence's step of each cell (the sums left to right: x + product + bias). */
static void lstm_row(const struct rows *r, const float *b, int64_t h)
{
    float *yh = r->b[0], *yc = r->b[1], *yi = r->b[2], *yf = r->b[3], *yg = r->b[4];
    float *yo = r->b[5], *ytc = r->b[6];
    const float *x = r->x, *a = r->a, *cp = r->cp;
#pragma omp simd
    for (int64_t j = 0; j < h; j++) {
        float gi = sigm(x[j] + a[j] + b[j]);
        float gf = sigm(x[h + j] + a[h + j] + b[h + j]);
        float gg = tanh_v(x[2 * h + j] + a[2 * h + j] + b[2 * h + j]);
        float go = sigm(x[3 * h + j] + a[3 * h + j] + b[3 * h + j]);
        float c = gf * cp[j] + gi * gg, tc = tanh_v(c);
        yh[j] = go * tc;
        yc[j] = c;
        yi[j] = gi;
        yf[j] = gf;
        yg[j] = gg;
        yo[j] = go;
        ytc[j] = tc;
    }
}

static void gru_row(const struct rows *r, const float *b, int64_t h)
{
    float *yh = r->b[0], *yr = r->b[1], *yz = r->b[2], *yhn = r->b[3], *yn = r->b[4];
    const float *x = r->x, *a = r->a, *hp = r->hp;
#pragma omp simd
    for (int64_t j = 0; j < h; j++) {
        float gr = sigm(x[j] + a[j] + b[j]);
        float gz = sigm(x[h + j] + a[h + j] + b[h + j]);
        float hn = a[2 * h + j] + b[2 * h + j];
        float gn = tanh_v(x[2 * h + j] + gr * hn);
        yh[j] = (1.0f - gz) * gn + gz * hp[j];
        yr[j] = gr;
        yz[j] = gz;
        yhn[j] = hn;
        yn[j] = gn;
    }
}

static void elman_row(const struct rows *r, const float *b, int64_t h, int relu)
{
    float *yh = r->b[0];
    const float *x = r->x, *a = r->a;
#pragma omp simd
    for (int64_t j = 0; j < h; j++) {
        float v = x[j] + a[j] + b[j];
        yh[j] = select_f(relu, relu_v(v), tanh_v(v));
    }
}

/* One step's cell for every sequence: reads the scratch product, writes the blocks; a
 * padded step carries h (and c) and zeroes the other blocks. */
static void cell_fwd(const struct kiln__p_rnn *p, const struct kiln__rnn_dims *d, float *y,
                     const float *xg, const float *b, const float *s0, const float *mask, int64_t t,
                     int64_t tp)
{
    int64_t h = d->h;
    int nb = kiln__rnn_blocks(p->cell);
    for (int64_t i = 0; i < d->n; i++) {
        struct rows r;
        rows_at(d, p->cell, y, xg, s0, t, tp, i, &r);
        if (mask[t * d->n + i] == 0.0f) {
            memcpy(r.b[0], r.hp, (size_t)h * sizeof(float));
            for (int k = 1; k < nb; k++) {
                if (k == 1 && p->cell == KILN__RNN_LSTM) {
                    memcpy(r.b[1], r.cp, (size_t)h * sizeof(float));
                } else {
                    memset(r.b[k], 0, (size_t)h * sizeof(float));
                }
            }
        } else if (p->cell == KILN__RNN_LSTM) {
            lstm_row(&r, b, h);
        } else if (p->cell == KILN__RNN_GRU) {
            gru_row(&r, b, h);
        } else {
            elman_row(&r, b, h, p->cell == KILN__RNN_RELU);
        }
    }
}

static kiln_status ref_rnn(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_rnn *p = kiln__params(n);
    struct kiln__rnn_dims d;
    kiln__rnn_dims(n, &d);
    const float *xg = a->in[0], *w = a->in[1], *b = a->in[2], *s0 = a->in[3], *mask = a->in[4];
    float *y = a->out, *scratch = y + kiln__rnn_blocks(p->cell) * d.tnh;
    for (int64_t s = 0; s < d.t; s++) {
        int64_t t, tp;
        step_of(p, d.t, s, &t, &tp);
        const float *hp = tp < 0 ? s0 : y + tp * d.n * d.h;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d.n, (int)d.g, (int)d.h, 1.0f, hp,
                    (int)d.h, w, (int)d.h, 0.0f, scratch, (int)d.g);
        cell_fwd(p, &d, y, xg, b, s0, mask, t, tp);
    }
    return KILN_OK;
}

/* Gradients of one sequence's real step: dht = dY_h + the carried dh (and dY_c + the
 * carried dc for an LSTM) gives the gate gradients dx (and dhg, a GRU's gradient of the
 * hidden-side sums) and the carries towards the step before (dh without the W_hh term,
 * which the caller adds with one product for all sequences). */
struct grads {
    const float *dyh, *dyc;
    float *dx, *dhg, *dh, *dc;
};

static void lstm_row_bwd(const struct rows *r, const struct grads *q, int64_t h)
{
    const float *gi = r->b[2], *gf = r->b[3], *gg = r->b[4], *go = r->b[5], *tc = r->b[6];
    const float *cp = r->cp, *dyh = q->dyh, *dyc = q->dyc;
    float *dx = q->dx, *dh = q->dh, *dc = q->dc;
#pragma omp simd
    for (int64_t j = 0; j < h; j++) {
        float dht = dyh[j] + dh[j];
        float dct = dyc[j] + dc[j] + dht * go[j] * (1.0f - tc[j] * tc[j]);
        dx[j] = dct * gg[j] * gi[j] * (1.0f - gi[j]);
        dx[h + j] = dct * cp[j] * gf[j] * (1.0f - gf[j]);
        dx[2 * h + j] = dct * gi[j] * (1.0f - gg[j] * gg[j]);
        dx[3 * h + j] = dht * tc[j] * go[j] * (1.0f - go[j]);
        dc[j] = dct * gf[j];
        dh[j] = 0.0f;
    }
}

static void gru_row_bwd(const struct rows *r, const struct grads *q, int64_t h)
{
    const float *gr = r->b[1], *gz = r->b[2], *hn = r->b[3], *gn = r->b[4], *hp = r->hp;
    const float *dyh = q->dyh;
    float *dx = q->dx, *dhg = q->dhg, *dh = q->dh;
#pragma omp simd
    for (int64_t j = 0; j < h; j++) {
        float dht = dyh[j] + dh[j];
        float dan = dht * (1.0f - gz[j]) * (1.0f - gn[j] * gn[j]);
        float dar = dan * hn[j] * gr[j] * (1.0f - gr[j]);
        float daz = dht * (hp[j] - gn[j]) * gz[j] * (1.0f - gz[j]);
        dx[j] = dar;
        dx[h + j] = daz;
        dx[2 * h + j] = dan;
        dhg[j] = dar;
        dhg[h + j] = daz;
        dhg[2 * h + j] = dan * gr[j];
        dh[j] = dht * gz[j];
    }
}

static void elman_row_bwd(const struct rows *r, const struct grads *q, int64_t h, int relu)
{
    const float *yh = r->b[0], *dyh = q->dyh;
    float *dx = q->dx, *dh = q->dh;
#pragma omp simd
    for (int64_t j = 0; j < h; j++) {
        float dht = dyh[j] + dh[j], v = yh[j];
        dx[j] = select_f(relu, select_f(v > 0.0f, dht, 0.0f), dht * (1.0f - v * v));
        dh[j] = 0.0f;
    }
}

/* One step's backward cell for every sequence: reads the gradients reaching step t (dY
 * and the carried dh, dc), writes the gate gradients of step t and the carries for the
 * step before. A padded step passes the gradients through and has zero gate gradients. */
static void cell_bwd(const struct kiln__p_rnn *p, const struct kiln__rnn_dims *d, const float *y,
                     const float *dy, const float *s0, const float *mask, float *out, int64_t t,
                     int64_t tp)
{
    int64_t h = d->h, g = d->g;
    float *dx_all = out, *dh_all = p->cell == KILN__RNN_GRU ? out + d->tng : out;
    float *dh = out + d->dx_elems, *dc = dh + d->n * h;
    for (int64_t i = 0; i < d->n; i++) {
        struct rows r;
        /* The blocks are only read here; rows_at takes the writable type. */
        rows_at(d, p->cell, (float *)y, NULL, s0, t, tp, i, &r);
        int64_t row = (t * d->n + i) * h;
        struct grads q = {
            dy + row,   dy + d->tnh + row, dx_all + (t * d->n + i) * g, dh_all + (t * d->n + i) * g,
            dh + i * h, dc + i * h};
        if (mask[t * d->n + i] == 0.0f) {
            for (int64_t j = 0; j < h; j++) {
                q.dh[j] += q.dyh[j];
            }
            if (p->cell == KILN__RNN_LSTM) {
                for (int64_t j = 0; j < h; j++) {
                    q.dc[j] += q.dyc[j];
                }
            }
            memset(q.dx, 0, (size_t)g * sizeof(float));
            if (p->cell == KILN__RNN_GRU) {
                memset(q.dhg, 0, (size_t)g * sizeof(float));
            }
        } else if (p->cell == KILN__RNN_LSTM) {
            lstm_row_bwd(&r, &q, h);
        } else if (p->cell == KILN__RNN_GRU) {
            gru_row_bwd(&r, &q, h);
        } else {
            elman_row_bwd(&r, &q, h, p->cell == KILN__RNN_RELU);
        }
    }
}

static kiln_status ref_rnn_bwd(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_rnn *p = kiln__params(n);
    struct kiln__rnn_dims d;
    kiln__rnn_dims(n, &d);
    const float *y = a->in[0], *dy = a->in[1], *w = a->in[2], *s0 = a->in[3], *mask = a->in[4];
    float *out = a->out, *dh = out + d.dx_elems;
    const float *dgh = p->cell == KILN__RNN_GRU ? out + d.tng : out;
    memset(dh, 0, (size_t)(2 * d.n * d.h) * sizeof(float));
    for (int64_t s = d.t - 1; s >= 0; s--) {
        int64_t t, tp;
        step_of(p, d.t, s, &t, &tp);
        cell_bwd(p, &d, y, dy, s0, mask, out, t, tp);
        /* dh_{t-1} += dG_t W_hh */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d.n, (int)d.h, (int)d.g, 1.0f,
                    dgh + t * d.n * d.g, (int)d.g, w, (int)d.h, 1.0f, dh, (int)d.h);
    }
    return KILN_OK;
}

/* ==== Backward rule ==== */

static struct kiln_tensor *flat_part(kiln_graph *g, struct kiln_tensor *x, int64_t off, int64_t len,
                                     int32_t rank, const int64_t *dims)
{
    return kiln_reshape(g, kiln_slice(g, x, 0, off, len), rank, dims);
}

/* The hidden state each step started from, in step order: [T, N, H]. */
static struct kiln_tensor *h_prev(kiln_graph *g, struct kiln_tensor *y, struct kiln_tensor *s0,
                                  const struct kiln__p_rnn *p, const struct kiln__rnn_dims *d)
{
    int64_t nh[3] = {1, d->n, d->h};
    struct kiln_tensor *h0 = s0;
    if (s0->shape.dims[0] != 1) {
        h0 = kiln_slice(g, s0, 0, 0, 1);
    }
    if (d->t == 1) {
        return kiln_reshape(g, h0, 3, nh);
    }
    int64_t rest[3] = {d->t - 1, d->n, d->h};
    struct kiln_tensor *parts[2];
    if (p->reverse) {
        parts[0] = flat_part(g, y, d->n * d->h, (d->t - 1) * d->n * d->h, 3, rest);
        parts[1] = h0;
    } else {
        parts[0] = h0;
        parts[1] = flat_part(g, y, 0, (d->t - 1) * d->n * d->h, 3, rest);
    }
    return kiln_concat(g, 2, parts, 0);
}

static void bwd_rnn(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                    struct kiln_tensor **dx)
{
    const struct kiln__p_rnn *p = kiln__params(n);
    struct kiln__rnn_dims d;
    kiln__rnn_dims(n, &d);
    struct kiln_tensor *w = n->src[1], *s0 = n->src[3];
    struct kiln_tensor *src[5] = {n, dy, w, s0, n->src[4]};
    struct kiln_tensor *dd = kiln__node(g, KILN_OP_RNN_SEQ_BWD, 5, src, p, sizeof(*p));
    int64_t tng[3] = {d.t, d.n, d.g}, flat[2] = {d.t * d.n, d.g};
    struct kiln_tensor *dgx = flat_part(g, dd, 0, d.tng, 3, tng);
    struct kiln_tensor *dgh =
        p->cell == KILN__RNN_GRU ? flat_part(g, dd, d.tng, d.tng, 3, tng) : dgx;
    if (kiln__needs_grad(n->src[0])) {
        dx[0] = dgx;
    }
    if (kiln__needs_grad(w)) {
        int64_t hflat[2] = {d.t * d.n, d.h};
        struct kiln_tensor *hp = kiln_reshape(g, h_prev(g, n, s0, p, &d), 2, hflat);
        dx[1] = kiln_matmul(g, kiln_reshape(g, dgh, 2, flat), hp, 1, 0);
    }
    if (kiln__needs_grad(n->src[2])) {
        dx[2] = kiln_sum(g, dgh, 3u, 0);
    }
    if (kiln__needs_grad(s0)) {
        int64_t s[3] = {s0->shape.dims[0], d.n, d.h};
        dx[3] = flat_part(g, dd, d.dx_elems, s[0] * d.n * d.h, 3, s);
    }
}

/* ==== Descriptors and builder ==== */

/* The recurrence feeds every step's rounding into the next: a backend whose matrix
 * products sum in another order drifts from the reference by a few ULP per step, more
 * than one product's reduction tolerance over long sequences. */
const struct kiln__op_desc kiln__desc_RNN_SEQ = {
    .name = "rnn_seq",
    .n_in = 5,
    .params_bytes = sizeof(struct kiln__p_rnn),
    .infer = infer_rnn,
    .backward = bwd_rnn,
    .cpu_ref = ref_rnn,
    .tol = {1e-6, 2e-4, 2e-3},
};
const struct kiln__op_desc kiln__desc_RNN_SEQ_BWD = {
    .name = "rnn_seq_bwd",
    .n_in = 5,
    .params_bytes = sizeof(struct kiln__p_rnn),
    .infer = infer_rnn_bwd,
    .cpu_ref = ref_rnn_bwd,
    .tol = {1e-6, 2e-4, 2e-3},
};

struct kiln_tensor *kiln__rnn_seq(kiln_graph *g, int32_t cell, int32_t reverse,
                                  struct kiln_tensor *xg, struct kiln_tensor *w_hh,
                                  struct kiln_tensor *b_hh, struct kiln_tensor *s0,
                                  struct kiln_tensor *mask)
{
    struct kiln__p_rnn p = {cell, reverse};
    struct kiln_tensor *src[5] = {xg, w_hh, b_hh, s0, mask};
    return kiln__node(g, KILN_OP_RNN_SEQ, 5, src, &p, sizeof(p));
}
