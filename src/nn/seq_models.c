/*
 * seq_models.c - ready-made sequence models: the character language model of `kiln
 * train charlm` and `kiln sample`, and the text classifiers of `kiln train
 * textcnn|textrnn|textattn`. Like every layer they only append nodes and parameters to
 * a graph.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "kiln/attention.h"
#include "kiln/nn.h"
#include "nn_impl.h"

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

/* The mask of the windows of width k over x padded by k - 1 on both sides, from the
 * characters' mask [N, T]: window j is real when it holds a real character, i.e. the
 * maximum of the mask over it (the mask padded with k - 1 zeros, a max pool of k). */
static kiln_tensor *window_mask(kiln_graph *g, kiln_tensor *mask, int32_t k)
{
    int64_t n = mask->shape.dims[0], t = mask->shape.dims[1];
    if (k == 1) {
        return mask;
    }
    int32_t before[2] = {0, k - 1}, after[2] = {0, k - 1};
    int64_t m4[4] = {n, 1, 1, t + 2 * (k - 1)}, out[2] = {n, t + k - 1};
    struct kiln_pool2d_opts po = {{1, k}, {1, 1}, {0, 0}, 1};
    kiln_tensor *p = kiln_reshape(g, kiln_pad(g, mask, before, after), 4, m4);
    return kiln_reshape(g, kiln_max_pool2d(g, p, &po), 2, out);
}

/* The classifier options under a short name, for KILN__HAS_FIELD. */
typedef struct kiln_text_classifier_options opts_t;

/* The embedding's init std: o->embed_std where the caller's options hold it, else 1. */
static float embed_std(const opts_t *o)
{
    return KILN__HAS_FIELD(opts_t, o, embed_std) ? o->embed_std : 1.0f;
}

static kiln_tensor *text_cnn(kiln_graph *g, kiln_tensor *emb, kiln_tensor *mask,
                             const struct kiln_text_classifier_options *o)
{
    static const int32_t nct[3] = {0, 2, 1};
    kiln_tensor *x = kiln_transpose(g, emb, nct); /* [N, E, T] */
    kiln_tensor *pooled[8];
    char name[32];
    for (int32_t i = 0; i < o->n_widths; i++) {
        int32_t k = o->widths[i];
        snprintf(name, sizeof(name), "convs.%d", i);
        kiln_tensor *c = kiln_relu(
            g, kiln_conv1d_layer(g, x, o->filters, k, k - 1, 1, name, o->seed + (uint64_t)i));
        kiln_tensor *wm = window_mask(g, mask, k);
        pooled[2 * i] = kiln_max_over_time(g, c, wm);
        pooled[2 * i + 1] = kiln_mean_over_time(g, c, wm);
    }
    return kiln_concat(g, 2 * o->n_widths, pooled, 1);
}

static kiln_tensor *text_rnn(kiln_graph *g, kiln_tensor *emb, kiln_tensor *mask,
                             const struct kiln_text_classifier_options *o)
{
    static const int32_t nct[3] = {0, 2, 1};
    struct kiln_rnn_options ro = KILN_RNN_OPTIONS_INIT;
    ro.cell = o->cell;
    ro.hidden = o->hidden;
    ro.n_layers = o->n_layers;
    ro.bidirectional = o->bidirectional;
    ro.batch_first = 1;
    ro.seed = o->seed;
    kiln_tensor *y = kiln_rnn(g, emb, mask, NULL, NULL, &ro, "rnn", NULL, NULL); /* [N, T, F] */
    if (KILN__HAS_FIELD(opts_t, o, attn_pool) && o->attn_pool && !(y->flags & KILN__F_POISON)) {
        return kiln_additive_attention_pool(g, y, mask, y->shape.dims[2], "pool", o->seed, NULL);
    }
    return kiln_max_over_time(g, kiln_transpose(g, y, nct), mask);
}

/* KILN_TEXT_ATTN: the transformer classifier with the classifier's options (n_heads
 * read only from options that hold it: an older struct_size gets the default 4). */
static kiln_tensor *text_attn(kiln_graph *g, kiln_tensor *ids, kiln_tensor *bigram_ids,
                              kiln_tensor *lengths, const struct kiln_text_classifier_options *o)
{
    struct kiln_text_transformer_options to = KILN_TEXT_TRANSFORMER_OPTIONS_INIT;
    to.vocab = o->vocab;
    to.n_classes = o->n_classes;
    to.embed = o->embed;
    to.n_heads = KILN__HAS_FIELD(opts_t, o, n_heads) ? o->n_heads : 4;
    to.n_layers = o->n_layers;
    to.dim_feedforward = o->hidden;
    to.dropout = o->dropout;
    to.seed = o->seed;
    to.pool_max = 1;
    to.embed_std = embed_std(o);
    return kiln_text_transformer(g, ids, bigram_ids, lengths, &to);
}

/* The embeddings of ids [N, T] (zeros where an id is 0, the padding). */
static kiln_tensor *embed(kiln_graph *g, kiln_tensor *table, kiln_tensor *ids)
{
    int64_t c3[3] = {ids->shape.dims[0], ids->shape.dims[1], 1};
    kiln_tensor *e = kiln_embedding(g, table, ids, 0);
    return kiln_where(g, kiln_reshape(g, ids, 3, c3), e, kiln_scale(g, e, 0.0f));
}

kiln_tensor *kiln_text_classifier(kiln_graph *g, kiln_tensor *ids, kiln_tensor *bigram_ids,
                                  kiln_tensor *lengths,
                                  const struct kiln_text_classifier_options *o)
{
    char sb[64];
    if (g == NULL) {
        return NULL;
    }
    if (ids == NULL || lengths == NULL || o == NULL || o->struct_size < offsetof(opts_t, n_heads)) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                "kiln_text_classifier: ids, lengths and options are needed");
    }
    if ((ids->flags | lengths->flags | (bigram_ids ? bigram_ids->flags : 0)) & KILN__F_POISON) {
        return &g->poison;
    }
    if (bigram_ids != NULL && !kiln__shape_eq(&bigram_ids->shape, &ids->shape)) {
        return kiln__graph_fail(g, KILN_E_SHAPE,
                                "kiln_text_classifier: bigram_ids ('%s') and ids differ in shape",
                                bigram_ids->name);
    }
    if (ids->dtype != KILN_DTYPE_I32 || ids->shape.rank != 2 || lengths->dtype != KILN_DTYPE_I32 ||
        lengths->shape.rank != 1 || lengths->shape.dims[0] != ids->shape.dims[0]) {
        return kiln__graph_fail(g, KILN_E_SHAPE,
                                "kiln_text_classifier: ids ('%s') %s must be i32 [N, T] and "
                                "lengths i32 [N]",
                                ids->name, kiln__shape_str(&ids->shape, sb, sizeof(sb)));
    }
    bool cnn = o->model == KILN_TEXT_CNN;
    bool widths_ok = o->n_widths >= 1 && o->n_widths <= 4;
    for (int32_t i = 0; cnn && widths_ok && i < o->n_widths; i++) {
        widths_ok = o->widths[i] >= 1 && o->widths[i] <= 64;
    }
    if ((o->model != KILN_TEXT_CNN && o->model != KILN_TEXT_RNN && o->model != KILN_TEXT_ATTN) ||
        o->vocab < 2 || o->n_classes < 2 || o->embed < 1 ||
        (cnn && (!widths_ok || o->filters < 1)) || !(o->dropout >= 0.0f && o->dropout < 1.0f) ||
        !(embed_std(o) > 0.0f && embed_std(o) < 1e6f)) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                "kiln_text_classifier: model %d, vocab %lld, %lld classes, embed "
                                "%lld, %d widths, %lld filters, dropout %g, embed_std %g",
                                (int)o->model, (long long)o->vocab, (long long)o->n_classes,
                                (long long)o->embed, o->n_widths, (long long)o->filters,
                                (double)o->dropout, (double)embed_std(o));
    }
    if (o->model == KILN_TEXT_ATTN) {
        return text_attn(g, ids, bigram_ids, lengths, o);
    }
    int64_t t = ids->shape.dims[1], ed[2] = {o->vocab, o->embed};
    kiln_tensor *mask = kiln_sequence_mask(g, lengths, t); /* [N, T] */
    kiln_tensor *table =
        kiln_param(g, "embedding.weight", 2, ed, KILN_INIT_NORMAL, embed_std(o), o->seed);
    kiln_tensor *emb = embed(g, table, ids);
    if (bigram_ids != NULL) {
        emb = kiln_add(g, emb, embed(g, table, bigram_ids));
    }
    kiln_tensor *feat = cnn ? text_cnn(g, emb, mask, o) : text_rnn(g, emb, mask, o);
    if (o->dropout > 0.0f) {
        feat = kiln_dropout(g, feat, o->dropout, o->seed + 0x2545f4914f6cdd1dull);
    }
    struct kiln_dense_options dopt = KILN_DENSE_OPTIONS_INIT;
    dopt.seed = o->seed;
    return kiln_dense(g, feat, o->n_classes, "fc", &dopt);
}
