/*
 * transformer.c - the transformer encoder layer (nn.TransformerEncoderLayer, pre-norm
 * or post-norm) and a transformer-encoder text classifier, composed of the layers of
 * attention.c and graph ops. Dropout sites get their own seeds (kiln__nn_site_seed).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "kiln/attention.h"
#include "nn_impl.h"

/* ==== Encoder layer ==== */

static kiln_tensor *activate(kiln_graph *g, kiln_tensor *x, kiln_activation act)
{
    return act == KILN_ACTIVATION_GELU ? kiln_gelu(g, x) : kiln_relu(g, x);
}

static kiln_tensor *drop(kiln_graph *g, kiln_tensor *x, float p, uint64_t seed, const char *name,
                         uint32_t site)
{
    return p > 0.0f ? kiln_dropout(g, x, p, kiln__nn_site_seed(seed, name, site)) : x;
}

static bool layer_args_ok(kiln_graph *g, kiln_tensor *x, const struct kiln_encoder_layer_options *o,
                          const char *name)
{
    const char *what = "kiln_transformer_encoder_layer";
    if (o == NULL) {
        kiln__graph_fail(g, KILN_E_INVALID_ARG, "%s: no options", what);
        return false;
    }
    if (name == NULL || name[0] == '\0' || strlen(name) > 24) {
        kiln__graph_fail(g, KILN_E_INVALID_ARG, "%s: the layer needs a name of 1 to 24 characters",
                         what);
        return false;
    }
    if (o->struct_size < sizeof(*o) || o->d_model < 1 || o->n_heads < 1 ||
        o->d_model % o->n_heads != 0 || o->dim_feedforward < 1 ||
        !(o->dropout >= 0.0f && o->dropout < 1.0f) || !(o->eps >= 0.0f) ||
        (o->activation != KILN_ACTIVATION_RELU && o->activation != KILN_ACTIVATION_GELU)) {
        kiln__graph_fail(g, KILN_E_INVALID_ARG,
                         "%s '%s': d_model %lld, %d heads, dim_feedforward %lld, dropout %g, "
                         "eps %g, activation %d (or a bad struct_size)",
                         what, name, (long long)o->d_model, o->n_heads,
                         (long long)o->dim_feedforward, (double)o->dropout, (double)o->eps,
                         (int)o->activation);
        return false;
    }
    if (x == NULL) {
        kiln__graph_fail(g, KILN_E_INVALID_ARG, "%s '%s': x is NULL", what, name);
        return false;
    }
    return !(x->flags & KILN__F_POISON);
}

/* linear2(dropout(act(linear1(h)))) */
static kiln_tensor *feed_forward(kiln_graph *g, kiln_tensor *h,
                                 const struct kiln_encoder_layer_options *o, const char *name)
{
    char nm[KILN_MAX_NAME];
    snprintf(nm, sizeof(nm), "%s.linear1", name);
    h = activate(g, kiln_linear(g, h, o->dim_feedforward, 1, nm, o->seed), o->activation);
    h = drop(g, h, o->dropout, o->seed, name, 1);
    snprintf(nm, sizeof(nm), "%s.linear2", name);
    return kiln_linear(g, h, o->d_model, 1, nm, o->seed);
}

kiln_tensor *kiln_transformer_encoder_layer(kiln_graph *g, kiln_tensor *x,
                                            kiln_tensor *key_padding_mask, kiln_tensor *attn_mask,
                                            const struct kiln_encoder_layer_options *o,
                                            const char *name)
{
    char nm[KILN_MAX_NAME], n1[KILN_MAX_NAME], n2[KILN_MAX_NAME];
    if (g == NULL) {
        return NULL;
    }
    if (!layer_args_ok(g, x, o, name)) {
        return &g->poison;
    }
    struct kiln_mha_options mo = KILN_MHA_OPTIONS_INIT;
    mo.embed_dim = o->d_model;
    mo.n_heads = o->n_heads;
    mo.batch_first = o->batch_first;
    mo.dropout = o->dropout;
    mo.seed = o->seed;
    snprintf(nm, sizeof(nm), "%s.self_attn", name);
    snprintf(n1, sizeof(n1), "%s.norm1", name);
    snprintf(n2, sizeof(n2), "%s.norm2", name);
    if (o->norm_first) {
        kiln_tensor *h = kiln_layer_norm_layer(g, x, 1, o->eps, n1);
        h = kiln_multihead_attention(g, h, h, h, key_padding_mask, attn_mask, &mo, nm, NULL);
        x = kiln_add(g, x, drop(g, h, o->dropout, o->seed, name, 2));
        h = feed_forward(g, kiln_layer_norm_layer(g, x, 1, o->eps, n2), o, name);
        return kiln_add(g, x, drop(g, h, o->dropout, o->seed, name, 3));
    }
    kiln_tensor *h =
        kiln_multihead_attention(g, x, x, x, key_padding_mask, attn_mask, &mo, nm, NULL);
    x = kiln_layer_norm_layer(g, kiln_add(g, x, drop(g, h, o->dropout, o->seed, name, 2)), 1,
                              o->eps, n1);
    h = feed_forward(g, x, o, name);
    return kiln_layer_norm_layer(g, kiln_add(g, x, drop(g, h, o->dropout, o->seed, name, 3)), 1,
                                 o->eps, n2);
}

/* ==== Text classifier ==== */

static bool ids_ok(kiln_graph *g, const kiln_tensor *t, const char *arg, int32_t rank,
                   const kiln_tensor *like)
{
    if (t == NULL) {
        kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_text_transformer: %s is NULL", arg);
        return false;
    }
    if (t->flags & KILN__F_POISON) {
        return false;
    }
    bool ok = t->dtype == KILN_DTYPE_I32 && t->shape.rank == rank &&
              (like == NULL || (t->shape.dims[0] == like->shape.dims[0] &&
                                (rank == 1 || kiln__shape_eq(&t->shape, &like->shape))));
    if (!ok) {
        char a[64];
        kiln__graph_fail(g, KILN_E_SHAPE, "kiln_text_transformer: %s ('%s') is %s %s", arg, t->name,
                         kiln_dtype_name(t->dtype), kiln__shape_str(&t->shape, a, sizeof(a)));
    }
    return ok;
}

static bool classifier_args_ok(kiln_graph *g, kiln_tensor *ids, kiln_tensor *bi,
                               kiln_tensor *lengths, const struct kiln_text_transformer_options *o)
{
    if (o == NULL || o->struct_size < offsetof(struct kiln_text_transformer_options, pool_max) ||
        o->vocab < 2 || o->n_classes < 1 || o->embed < 1 || o->n_heads < 1 ||
        o->embed % o->n_heads != 0 || o->n_layers < 0 || o->dim_feedforward < 0 || o->max_len < 0 ||
        !(o->dropout >= 0.0f && o->dropout < 1.0f) ||
        (KILN__HAS_FIELD(struct kiln_text_transformer_options, o, embed_std) &&
         !(o->embed_std > 0.0f && o->embed_std < 1e6f))) {
        kiln__graph_fail(g, KILN_E_INVALID_ARG,
                         "kiln_text_transformer: bad options (vocab >= 2, classes >= 1, embed "
                         "divisible by the heads, dropout in [0, 1), embed_std > 0)");
        return false;
    }
    if (!ids_ok(g, ids, "ids", 2, NULL) || (bi != NULL && !ids_ok(g, bi, "bigram_ids", 2, ids)) ||
        !ids_ok(g, lengths, "lengths", 1, ids)) {
        return false;
    }
    if (o->max_len > 0 && ids->shape.dims[1] > o->max_len) {
        kiln__graph_fail(g, KILN_E_SHAPE, "kiln_text_transformer: %lld steps, max_len %lld",
                         (long long)ids->shape.dims[1], (long long)o->max_len);
        return false;
    }
    return true;
}

/* The mean of h [N, T, E] over the real steps of each row (mask [N, T]): [N, E]. */
static kiln_tensor *masked_mean(kiln_graph *g, kiln_tensor *h, kiln_tensor *mask)
{
    int64_t n = h->shape.dims[0], t = h->shape.dims[1], d3[3] = {n, t, 1};
    kiln_tensor *s = kiln_sum(g, kiln_mul(g, h, kiln_reshape(g, mask, 3, d3)), 1u << 1, 0);
    return kiln_div(g, s, kiln_sum(g, mask, 1u << 1, 1));
}

kiln_tensor *kiln_text_transformer(kiln_graph *g, kiln_tensor *ids, kiln_tensor *bigram_ids,
                                   kiln_tensor *lengths,
                                   const struct kiln_text_transformer_options *o)
{
    char nm[KILN_MAX_NAME];
    if (g == NULL) {
        return NULL;
    }
    if (!classifier_args_ok(g, ids, bigram_ids, lengths, o)) {
        return &g->poison;
    }
    int64_t t = ids->shape.dims[1], e = o->embed, td[2] = {o->vocab, e};
    typedef struct kiln_text_transformer_options opts_t;
    float std = KILN__HAS_FIELD(opts_t, o, embed_std) ? o->embed_std : 1.0f;
    kiln_tensor *table = kiln_param(g, "embedding.weight", 2, td, KILN_INIT_NORMAL, std, o->seed);
    kiln_tensor *x = kiln_embedding(g, table, ids, 0);
    if (bigram_ids != NULL) {
        x = kiln_add(g, x, kiln_embedding(g, table, bigram_ids, 0));
    }
    kiln_tensor *pos = o->max_len > 0 ? kiln_learned_positions(g, t, o->max_len, e, 0.02f,
                                                               "pos_embedding", o->seed)
                                      : kiln_sinusoidal_positions(g, t, e);
    x = drop(g, kiln_add(g, x, pos), o->dropout, o->seed, "embedding", 0);
    kiln_tensor *mask = kiln_sequence_mask(g, lengths, t);
    struct kiln_encoder_layer_options lo = KILN_ENCODER_LAYER_OPTIONS_INIT;
    lo.d_model = e;
    lo.n_heads = o->n_heads;
    lo.dim_feedforward = o->dim_feedforward > 0 ? o->dim_feedforward : 4 * e;
    lo.dropout = o->dropout;
    lo.activation = o->activation;
    lo.batch_first = 1;
    lo.norm_first = 1;
    lo.seed = o->seed;
    for (int32_t i = 0; i < o->n_layers; i++) {
        snprintf(nm, sizeof(nm), "layers.%d", i);
        x = kiln_transformer_encoder_layer(g, x, mask, NULL, &lo, nm);
    }
    x = kiln_layer_norm_layer(g, x, 1, 1e-5f, "norm");
    if (x->flags & KILN__F_POISON) {
        return x;
    }
    bool pool_max = KILN__HAS_FIELD(opts_t, o, pool_max) && o->pool_max;
    kiln_tensor *pooled = masked_mean(g, x, mask);
    if (pool_max) {
        static const int32_t nct[3] = {0, 2, 1};
        kiln_tensor *both[2] = {pooled, kiln_max_over_time(g, kiln_transpose(g, x, nct), mask)};
        pooled = kiln_concat(g, 2, both, 1);
    }
    x = drop(g, pooled, o->dropout, o->seed, "fc", 0);
    return kiln_linear(g, x, o->n_classes, 1, "fc", o->seed);
}
