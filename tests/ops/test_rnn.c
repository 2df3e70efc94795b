/*
 * test_rnn.c - case rows for the recurrent ops: RNN_SEQ of every cell (tanh, ReLU,
 * LSTM, GRU) in both directions, with masks of random holes (a padded step in the
 * middle carries the state; the op does not need padding to come last), all-real masks,
 * one step, one sequence, and a hidden size past a workgroup; its differentiable output
 * (the h block, and c for an LSTM) with gradients through RNN_SEQ_BWD and the products
 * of the backward rule, and the whole flat output (saved gates and the scratch product)
 * forward only; RNN_SEQ_BWD fed directly with arbitrary values.
 */
#include "../op_harness.h"

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

const struct oh_family oh_family_rnn = {"rnn", cases, (int)(sizeof(cases) / sizeof(cases[0]))};
