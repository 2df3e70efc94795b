/*
 * seq_models.c - ready-made sequence models built from the recurrent layers: the
 * character language model of `kiln train charlm` and `kiln sample`. Like every layer
 * they only append nodes and parameters to a graph.
 */
#include <string.h>

#include "../graph/graph_impl.h"
#include "kiln/nn.h"

kiln_tensor *kiln_char_lm(kiln_graph *g, kiln_tensor *x, kiln_tensor *h0, kiln_tensor *c0,
                          const struct kiln_char_lm_options *o, kiln_tensor **h_n,
                          kiln_tensor **c_n)
{
    char sb[64];
    if (g == NULL) {
        return NULL;
    }
    if (x == NULL || o == NULL || o->struct_size < sizeof(*o)) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_char_lm: x and options are needed");
    }
    if (x->flags & KILN__F_POISON) {
        return x;
    }
    if (o->vocab < 2 || x->dtype != KILN_DTYPE_F32 || x->shape.rank != 3 ||
        x->shape.dims[2] != o->vocab) {
        return kiln__graph_fail(g, KILN_E_SHAPE,
                                "kiln_char_lm: x ('%s') is %s %s; it must be f32 [T, N, %lld] "
                                "(one-hot characters, vocab >= 2)",
                                x->name, kiln_dtype_name(x->dtype),
                                kiln__shape_str(&x->shape, sb, sizeof(sb)), (long long)o->vocab);
    }
    if (!(o->dropout >= 0.0f && o->dropout < 1.0f)) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_char_lm: dropout %g",
                                (double)o->dropout);
    }
    struct kiln_rnn_options ro = KILN_RNN_OPTIONS_INIT;
    ro.cell = o->cell;
    ro.hidden = o->hidden;
    ro.n_layers = o->n_layers;
    ro.dropout = o->dropout;
    ro.seed = o->seed;
    kiln_tensor *y = kiln_rnn(g, x, NULL, h0, c0, &ro, "rnn", h_n, c_n);
    if (o->dropout > 0.0f) {
        y = kiln_dropout(g, y, o->dropout, o->seed + 0x5bd1e995u);
    }
    int64_t t = x->shape.dims[0], n = x->shape.dims[1];
    int64_t flat[2] = {t * n, o->hidden}, out[3] = {t, n, o->vocab};
    struct kiln_dense_options dopt = KILN_DENSE_OPTIONS_INIT;
    dopt.seed = o->seed;
    kiln_tensor *logits = kiln_dense(g, kiln_reshape(g, y, 2, flat), o->vocab, "decoder", &dopt);
    return kiln_reshape(g, logits, 3, out);
}
