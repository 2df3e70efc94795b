/*
 * rnn.c - recurrent layers (nn.RNN with tanh or ReLU, nn.LSTM, nn.GRU): stacked,
 * bidirectional, with initial states, dropout between layers and masks for padded
 * batches, with PyTorch's parameter names and initialization. Each layer and direction
 * is one matrix product for the input side of all steps (x W_ih^T + b_ih) and one
 * RNN_SEQ node for the recurrence (src/ops/rnn.c), whose backward rule does the
 * backpropagation through time; this file only wires nodes and parameters.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "kiln/nn.h"

_Static_assert((int)KILN_RNN_TANH == (int)KILN__RNN_TANH &&
                   (int)KILN_RNN_RELU == (int)KILN__RNN_RELU &&
                   (int)KILN_RNN_LSTM == (int)KILN__RNN_LSTM &&
                   (int)KILN_RNN_GRU == (int)KILN__RNN_GRU,
               "kiln_rnn_cell and the RNN_SEQ op's cells must agree");

const char *kiln_rnn_cell_name(kiln_rnn_cell cell)
{
    switch (cell) {
    case KILN_RNN_TANH:
        return "rnn_tanh";
    case KILN_RNN_RELU:
        return "rnn_relu";
    case KILN_RNN_LSTM:
        return "lstm";
    case KILN_RNN_GRU:
        return "gru";
    }
    return NULL;
}

/* A constant leaf of g filled with zeros or ones at compile. */
static kiln_tensor *constant(kiln_graph *g, int32_t rank, const int64_t *dims, kiln_init init)
{
    struct kiln_shape s = {rank, {0}};
    for (int32_t i = 0; i < rank; i++) {
        s.dims[i] = dims[i];
    }
    kiln_tensor *t = kiln__leaf(g, NULL, KILN_DTYPE_F32, &s, KILN__F_CONST);
    if (!(t->flags & KILN__F_POISON)) {
        t->init = init;
    }
    return t;
}

/* What one direction of one layer needs besides its input. */
struct dir_ctx {
    const struct kiln_rnn_options *o;
    const char *name;
    int64_t t, n;
    kiln_tensor *mask;  /* [T, N], never NULL */
    kiln_tensor *mask3; /* [T, N, 1], or NULL when every step is real */
    kiln_tensor *h0, *c0;
};

/* Row k of a [L D, N, H] state tensor as [1, N, H]. */
static kiln_tensor *state_row(kiln_graph *g, kiln_tensor *s, int64_t k)
{
    return kiln_slice(g, s, 0, k, 1);
}

/*
 * One direction (rev) of layer l over x [T, N, C]: returns its outputs [T, N, H] (zero
 * at padded steps) and sets *h_last and *c_last (c only for an LSTM) to [1, N, H].
 */
static kiln_tensor *direction(kiln_graph *g, const struct dir_ctx *c, kiln_tensor *x, int32_t l,
                              int32_t rev, kiln_tensor **h_last, kiln_tensor **c_last)
{
    const struct kiln_rnn_options *o = c->o;
    int32_t cell = (int32_t)o->cell;
    int64_t h = o->hidden, gsz = kiln__rnn_gates(cell) * h, in = x->shape.dims[2];
    int64_t t = c->t, n = c->n, tnh = t * n * h;
    float bound = (float)(1.0 / sqrt((double)h));
    char wi[KILN_MAX_NAME], wh[KILN_MAX_NAME], bi[KILN_MAX_NAME], bh[KILN_MAX_NAME];
    const char *sfx = rev ? "_reverse" : "";
    snprintf(wi, sizeof(wi), "%s.weight_ih_l%d%s", c->name, l, sfx);
    snprintf(wh, sizeof(wh), "%s.weight_hh_l%d%s", c->name, l, sfx);
    snprintf(bi, sizeof(bi), "%s.bias_ih_l%d%s", c->name, l, sfx);
    snprintf(bh, sizeof(bh), "%s.bias_hh_l%d%s", c->name, l, sfx);
    int64_t wid[2] = {gsz, in}, whd[2] = {gsz, h}, bd[1] = {gsz};
    kiln_tensor *w_ih = kiln_param(g, wi, 2, wid, KILN_INIT_UNIFORM, bound, o->seed);
    kiln_tensor *w_hh = kiln_param(g, wh, 2, whd, KILN_INIT_UNIFORM, bound, o->seed);
    kiln_tensor *b_hh;
    int64_t flat[2] = {t * n, in}, tng[3] = {t, n, gsz};
    kiln_tensor *xg = kiln_matmul(g, kiln_reshape(g, x, 2, flat), w_ih, 0, 1);
    if (o->use_bias) {
        kiln_tensor *b_ih = kiln_param(g, bi, 1, bd, KILN_INIT_UNIFORM, bound, o->seed);
        b_hh = kiln_param(g, bh, 1, bd, KILN_INIT_UNIFORM, bound, o->seed);
        if (cell != KILN_RNN_GRU) {
            /* Both biases add to every gate: one sum of the gate gradients serves both. */
            xg = kiln_add(g, xg, kiln_add(g, b_ih, b_hh));
            b_hh = constant(g, 1, bd, KILN_INIT_ZEROS);
        } else {
            xg = kiln_add(g, xg, b_ih);
        }
    } else {
        b_hh = constant(g, 1, bd, KILN_INIT_ZEROS);
    }
    xg = kiln_reshape(g, xg, 3, tng);

    /* The initial state [S0, N, H]: h0 (and c0) rows of this layer and direction. */
    int64_t k = (int64_t)l * (o->bidirectional ? 2 : 1) + rev;
    int64_t s0d[3] = {kiln__rnn_states(cell), n, h};
    kiln_tensor *s0;
    if (c->h0 == NULL && (cell != KILN_RNN_LSTM || c->c0 == NULL)) {
        s0 = constant(g, 3, s0d, KILN_INIT_ZEROS);
    } else {
        int64_t one[3] = {1, n, h};
        kiln_tensor *hr = c->h0 ? state_row(g, c->h0, k) : constant(g, 3, one, KILN_INIT_ZEROS);
        s0 = hr;
        if (cell == KILN_RNN_LSTM) {
            kiln_tensor *parts[2] = {hr, c->c0 ? state_row(g, c->c0, k)
                                               : constant(g, 3, one, KILN_INIT_ZEROS)};
            s0 = kiln_concat(g, 2, parts, 0);
        }
    }

    kiln_tensor *y = kiln__rnn_seq(g, cell, rev, xg, w_hh, b_hh, s0, c->mask);
    int64_t tnhd[3] = {t, n, h}, one[3] = {1, n, h};
    kiln_tensor *yh = kiln_reshape(g, kiln_slice(g, y, 0, 0, tnh), 3, tnhd);
    int64_t last = rev ? 0 : t - 1;
    *h_last = kiln_slice(g, yh, 0, last, 1);
    *c_last = NULL;
    if (cell == KILN_RNN_LSTM) {
        *c_last = kiln_reshape(g, kiln_slice(g, y, 0, tnh + last * n * h, n * h), 3, one);
    }
    return c->mask3 != NULL ? kiln_mul(g, yh, c->mask3) : yh;
}

static kiln_tensor *check_args(kiln_graph *g, kiln_tensor *x, kiln_tensor *mask, kiln_tensor *h0,
                               kiln_tensor *c0, const struct kiln_rnn_options *o, const char *name)
{
    char sb[64];
    if (x == NULL || o == NULL || name == NULL) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_rnn: x, options and name are needed");
    }
    if (o->struct_size < sizeof(*o)) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_rnn: struct_size %u is too small",
                                o->struct_size);
    }
    if (name[0] == '\0' || strlen(name) > 40) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                "kiln_rnn: the layer needs a name of 1 to 40 characters");
    }
    if (kiln_rnn_cell_name(o->cell) == NULL || o->hidden < 1 || o->n_layers < 1 ||
        o->n_layers > 99 || !(o->dropout >= 0.0f && o->dropout < 1.0f)) {
        return kiln__graph_fail(
            g, KILN_E_INVALID_ARG, "kiln_rnn '%s': cell %d, hidden %lld, %d layers, dropout %g",
            name, (int)o->cell, (long long)o->hidden, o->n_layers, (double)o->dropout);
    }
    if (x->dtype != KILN_DTYPE_F32 || x->shape.rank != 3) {
        return kiln__graph_fail(
            g, KILN_E_SHAPE, "kiln_rnn '%s': x ('%s') is %s %s; it must be f32 %s", name, x->name,
            kiln_dtype_name(x->dtype), kiln__shape_str(&x->shape, sb, sizeof(sb)),
            o->batch_first ? "[N, T, C]" : "[T, N, C]");
    }
    if (mask != NULL &&
        (mask->dtype != KILN_DTYPE_F32 || mask->shape.rank != 2 ||
         mask->shape.dims[0] != x->shape.dims[0] || mask->shape.dims[1] != x->shape.dims[1])) {
        return kiln__graph_fail(
            g, KILN_E_SHAPE, "kiln_rnn '%s': mask ('%s') is %s %s; it must be f32 %s", name,
            mask->name, kiln_dtype_name(mask->dtype), kiln__shape_str(&mask->shape, sb, sizeof(sb)),
            o->batch_first ? "[N, T]" : "[T, N]");
    }
    int64_t nb = o->batch_first ? x->shape.dims[0] : x->shape.dims[1];
    int64_t ld = (int64_t)o->n_layers * (o->bidirectional ? 2 : 1);
    kiln_tensor *st[2] = {h0, o->cell == KILN_RNN_LSTM ? c0 : NULL};
    for (int i = 0; i < 2; i++) {
        const kiln_tensor *s = st[i];
        if (s != NULL &&
            (s->dtype != KILN_DTYPE_F32 || s->shape.rank != 3 || s->shape.dims[0] != ld ||
             s->shape.dims[1] != nb || s->shape.dims[2] != o->hidden)) {
            return kiln__graph_fail(g, KILN_E_SHAPE,
                                    "kiln_rnn '%s': %s ('%s') is %s; it must be f32 [%lld, %lld, "
                                    "%lld]",
                                    name, i ? "c0" : "h0", s->name,
                                    kiln__shape_str(&s->shape, sb, sizeof(sb)), (long long)ld,
                                    (long long)nb, (long long)o->hidden);
        }
    }
    return NULL;
}

kiln_tensor *kiln_rnn(kiln_graph *g, kiln_tensor *x, kiln_tensor *mask, kiln_tensor *h0,
                      kiln_tensor *c0, const struct kiln_rnn_options *o, const char *name,
                      kiln_tensor **h_n, kiln_tensor **c_n)
{
    if (h_n != NULL) {
        *h_n = NULL;
    }
    if (c_n != NULL) {
        *c_n = NULL;
    }
    if (g == NULL) {
        return NULL;
    }
    kiln_tensor *bad = check_args(g, x, mask, h0, c0, o, name);
    if (bad != NULL) {
        return bad;
    }
    static const int32_t swap[3] = {1, 0, 2}, swap2[2] = {1, 0};
    if (o->batch_first) {
        x = kiln_transpose(g, x, swap);
        mask = mask != NULL ? kiln_transpose(g, mask, swap2) : NULL;
    }
    struct dir_ctx c = {o, name, x->shape.dims[0], x->shape.dims[1], mask, NULL, h0, c0};
    int64_t tn[2] = {c.t, c.n}, tn1[3] = {c.t, c.n, 1};
    if (mask != NULL) {
        c.mask3 = kiln_reshape(g, mask, 3, tn1);
    } else {
        c.mask = constant(g, 2, tn, KILN_INIT_ONES);
    }
    int32_t nd = o->bidirectional ? 2 : 1, n_states = o->n_layers * nd;
    kiln_tensor *hs[2 * 99], *cs[2 * 99];
    for (int32_t l = 0; l < o->n_layers; l++) {
        kiln_tensor *outs[2];
        for (int32_t d = 0; d < nd; d++) {
            outs[d] = direction(g, &c, x, l, d, &hs[l * nd + d], &cs[l * nd + d]);
        }
        x = nd == 2 ? kiln_concat(g, 2, outs, 2) : outs[0];
        if (o->dropout > 0.0f && l + 1 < o->n_layers) {
            x = kiln_dropout(g, x, o->dropout, o->seed + 0x9e3779b97f4a7c15ull * (uint64_t)(l + 1));
        }
    }
    if (h_n != NULL) {
        *h_n = kiln_concat(g, n_states, hs, 0);
    }
    if (c_n != NULL && o->cell == KILN_RNN_LSTM) {
        *c_n = kiln_concat(g, n_states, cs, 0);
    }
    return o->batch_first ? kiln_transpose(g, x, swap) : x;
}
