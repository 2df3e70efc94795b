/*
 * attention.c - attention layers as compositions of graph ops (no kernels of their
 * own): linear layers over the last dim, layer norm with parameters, causal masks and
 * position tables (constants made on the host), scaled dot-product attention with keep
 * masks, multi-head attention with PyTorch's packed in_proj weights, and additive
 * attention pooling. The transformer encoder layer and the text classifier built from
 * these are in transformer.c.
 *
 * Masking replaces masked scores by KILN_ATTN_MASKED with WHERE before the softmax:
 * the softmax then gives them exactly 0 (e^(-1e9 - max) underflows on every backend),
 * WHERE's backward gives them no gradient, and nothing at a masked position reaches an
 * output or a gradient through them.
 */
#include "kiln/attention.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "nn_impl.h"

uint64_t kiln__nn_site_seed(uint64_t seed, const char *name, uint32_t site)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        h = (h ^ *p) * 0x100000001b3ull;
    }
    h = (h ^ site) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

/* Fails the builder unless name is 1 to max characters; returns whether it is. */
static bool name_ok(kiln_graph *g, const char *what, const char *name, size_t max)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > max) {
        kiln__graph_fail(g, KILN_E_INVALID_ARG, "%s: the layer needs a name of 1 to %zu characters",
                         what, max);
        return false;
    }
    return true;
}

/* Whether x is a usable f32 tensor of g of at least min_rank dims; records why not
 * (a poisoned x is already recorded). */
static bool tensor_ok(kiln_graph *g, const char *what, const char *arg, const kiln_tensor *x,
                      int32_t min_rank)
{
    if (x == NULL) {
        kiln__graph_fail(g, KILN_E_INVALID_ARG, "%s: %s is NULL", what, arg);
        return false;
    }
    if (x->flags & KILN__F_POISON) {
        return false;
    }
    if (x->dtype != KILN_DTYPE_F32 || x->shape.rank < min_rank) {
        char sb[64];
        kiln__graph_fail(g, KILN_E_SHAPE, "%s: %s ('%s') is %s %s; expected f32 of rank >= %d",
                         what, arg, x->name, kiln_dtype_name(x->dtype),
                         kiln__shape_str(&x->shape, sb, sizeof(sb)), min_rank);
        return false;
    }
    return true;
}

static int64_t last_dim(const kiln_tensor *x)
{
    return x->shape.dims[x->shape.rank - 1];
}

/* A scalar constant of g. */
static kiln_tensor *scalar(kiln_graph *g, float v)
{
    return kiln_constant(g, NULL, KILN_DTYPE_F32, 0, NULL, &v);
}

/* ==== Linear and layer norm ==== */

/* x W^T (+ b) with the given parameter tensors: one product for any leading dims. */
static kiln_tensor *apply_linear(kiln_graph *g, kiln_tensor *x, kiln_tensor *w, kiln_tensor *b)
{
    kiln_tensor *y = kiln_matmul(g, x, w, 0, 1);
    return b != NULL ? kiln_add(g, y, b) : y;
}

kiln_tensor *kiln_linear(kiln_graph *g, kiln_tensor *x, int64_t n_out, int use_bias,
                         const char *name, uint64_t seed)
{
    char wn[KILN_MAX_NAME], bn[KILN_MAX_NAME];
    if (g == NULL) {
        return NULL;
    }
    if (!tensor_ok(g, "kiln_linear", "x", x, 1) || !name_ok(g, "kiln_linear", name, 56)) {
        return &g->poison;
    }
    if (n_out <= 0) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_linear '%s': n_out is %lld", name,
                                (long long)n_out);
    }
    int64_t n_in = last_dim(x), wd[2] = {n_out, n_in}, bd[1] = {n_out};
    snprintf(wn, sizeof(wn), "%s.weight", name);
    snprintf(bn, sizeof(bn), "%s.bias", name);
    kiln_tensor *w = kiln_param(g, wn, 2, wd, KILN_INIT_FAN_IN_UNIFORM, 0.0f, seed);
    kiln_tensor *b = NULL;
    if (use_bias) {
        b = kiln_param(g, bn, 1, bd, KILN_INIT_UNIFORM, (float)(1.0 / sqrt((double)n_in)), seed);
    }
    return apply_linear(g, x, w, b);
}

kiln_tensor *kiln_layer_norm_layer(kiln_graph *g, kiln_tensor *x, int32_t norm_dims, float eps,
                                   const char *name)
{
    char wn[KILN_MAX_NAME], bn[KILN_MAX_NAME];
    if (g == NULL) {
        return NULL;
    }
    if (!tensor_ok(g, "kiln_layer_norm_layer", "x", x, 1) ||
        !name_ok(g, "kiln_layer_norm_layer", name, 56)) {
        return &g->poison;
    }
    if (norm_dims < 1 || norm_dims > x->shape.rank) {
        return kiln_layer_norm(g, x, NULL, NULL, norm_dims, eps); /* records the error */
    }
    const int64_t *dims = &x->shape.dims[x->shape.rank - norm_dims];
    snprintf(wn, sizeof(wn), "%s.weight", name);
    snprintf(bn, sizeof(bn), "%s.bias", name);
    kiln_tensor *w = kiln_param(g, wn, norm_dims, dims, KILN_INIT_ONES, 0.0f, 0);
    kiln_tensor *b = kiln_param(g, bn, norm_dims, dims, KILN_INIT_ZEROS, 0.0f, 0);
    return kiln_layer_norm(g, x, w, b, norm_dims, eps);
}

/* ==== Masks and positions ==== */

/* A constant of rank 2 from host data computed by fill (which may fail only on memory). */
static kiln_tensor *host_table(kiln_graph *g, const char *what, int64_t rows, int64_t cols,
                               void (*fill)(float *v, int64_t rows, int64_t cols))
{
    if (rows <= 0 || cols <= 0 || rows > (INT64_C(1) << 20) || cols > (INT64_C(1) << 20) ||
        rows * cols > (INT64_C(1) << 26)) {
        return kiln__graph_fail(g, KILN_E_SHAPE, "%s: %lld x %lld is empty or too large", what,
                                (long long)rows, (long long)cols);
    }
    float *v = kiln__alloc(g->ctx, (size_t)(rows * cols) * sizeof(float), what);
    if (v == NULL) {
        return kiln__graph_fail(g, KILN_E_OUT_OF_HOST_MEMORY, "%s", kiln_last_error());
    }
    fill(v, rows, cols);
    int64_t dims[2] = {rows, cols};
    kiln_tensor *t = kiln_constant(g, NULL, KILN_DTYPE_F32, 2, dims, v);
    kiln__free(g->ctx, v);
    return t;
}

static void fill_causal(float *v, int64_t rows, int64_t cols)
{
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t j = 0; j < cols; j++) {
            v[i * cols + j] = j <= i ? 1.0f : 0.0f;
        }
    }
}

static void fill_sinusoid(float *v, int64_t rows, int64_t cols)
{
    for (int64_t p = 0; p < rows; p++) {
        for (int64_t c = 0; c < cols; c++) {
            double f = pow(10000.0, -(double)(c - c % 2) / (double)cols);
            v[p * cols + c] = (float)(c % 2 == 0 ? sin((double)p * f) : cos((double)p * f));
        }
    }
}

kiln_tensor *kiln_causal_mask(kiln_graph *g, int64_t t)
{
    return g == NULL ? NULL : host_table(g, "kiln_causal_mask", t, t, fill_causal);
}

kiln_tensor *kiln_sinusoidal_positions(kiln_graph *g, int64_t t, int64_t d)
{
    return g == NULL ? NULL : host_table(g, "kiln_sinusoidal_positions", t, d, fill_sinusoid);
}

kiln_tensor *kiln_learned_positions(kiln_graph *g, int64_t t, int64_t max_len, int64_t d, float std,
                                    const char *name, uint64_t seed)
{
    char wn[KILN_MAX_NAME];
    if (g == NULL) {
        return NULL;
    }
    if (!name_ok(g, "kiln_learned_positions", name, 56)) {
        return &g->poison;
    }
    if (t < 1 || t > max_len || d < 1 || !(std >= 0.0f)) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                "kiln_learned_positions '%s': %lld steps of a table of %lld "
                                "positions of %lld (std %g)",
                                name, (long long)t, (long long)max_len, (long long)d, (double)std);
    }
    int64_t dims[2] = {max_len, d};
    snprintf(wn, sizeof(wn), "%s.weight", name);
    kiln_tensor *w = kiln_param(g, wn, 2, dims, KILN_INIT_NORMAL, std, seed);
    return t == max_len ? w : kiln_slice(g, w, 0, 0, t);
}

/* ==== Scaled dot-product attention ==== */

/* softmax(s masked by mask) along the last axis. */
static kiln_tensor *masked_softmax(kiln_graph *g, kiln_tensor *s, kiln_tensor *mask)
{
    if (mask != NULL) {
        s = kiln_where(g, mask, s, scalar(g, KILN_ATTN_MASKED));
    }
    return kiln_softmax(g, s);
}

kiln_tensor *kiln_attention(kiln_graph *g, kiln_tensor *q, kiln_tensor *k, kiln_tensor *v,
                            kiln_tensor *mask, float scale, float dropout, uint64_t seed,
                            kiln_tensor **weights)
{
    const char *what = "kiln_attention";
    if (weights != NULL) {
        *weights = g == NULL ? NULL : &g->poison;
    }
    if (g == NULL) {
        return NULL;
    }
    if (!tensor_ok(g, what, "q", q, 2) || !tensor_ok(g, what, "k", k, 2) ||
        !tensor_ok(g, what, "v", v, 2) || (mask != NULL && !tensor_ok(g, what, "mask", mask, 0))) {
        return &g->poison;
    }
    if (!(scale >= 0.0f) || isinf(scale) || !(dropout >= 0.0f && dropout < 1.0f)) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "%s: scale %g, dropout %g", what,
                                (double)scale, (double)dropout);
    }
    if (scale == 0.0f) {
        scale = (float)(1.0 / sqrt((double)last_dim(q)));
    }
    kiln_tensor *s = kiln_matmul(g, kiln_scale(g, q, scale), k, 0, 1);
    kiln_tensor *a = masked_softmax(g, s, mask);
    if (weights != NULL) {
        *weights = a;
    }
    if (dropout > 0.0f) {
        a = kiln_dropout(g, a, dropout, seed);
    }
    return kiln_matmul(g, a, v, 0, 0);
}

/* ==== Multi-head attention ==== */

/* [N, L, E] -> [N, H, L, E / H]. */
static kiln_tensor *split_heads(kiln_graph *g, kiln_tensor *x, int32_t h)
{
    const int32_t perm[4] = {0, 2, 1, 3};
    int64_t e = last_dim(x);
    int64_t d[4] = {x->shape.dims[0], x->shape.dims[1], h, e / h};
    return kiln_transpose(g, kiln_reshape(g, x, 4, d), perm);
}

/* [N, H, L, Dh] -> [N, L, H Dh]. */
static kiln_tensor *merge_heads(kiln_graph *g, kiln_tensor *x)
{
    const int32_t perm[4] = {0, 2, 1, 3};
    kiln_tensor *t = kiln_transpose(g, x, perm);
    if (t->flags & KILN__F_POISON) {
        return t;
    }
    int64_t d[3] = {t->shape.dims[0], t->shape.dims[1], t->shape.dims[2] * t->shape.dims[3]};
    return kiln_reshape(g, t, 3, d);
}

/* [A, B, E] -> [B, A, E]: time-first and batch-first layouts. */
static kiln_tensor *swap01(kiln_graph *g, kiln_tensor *x)
{
    const int32_t perm[3] = {1, 0, 2};
    return kiln_transpose(g, x, perm);
}

/* The keep mask of the [N, H, L, S] scores from a key padding mask [N, S] and an
 * attention mask [L, S] (either NULL), or NULL when there is neither. */
static kiln_tensor *scores_mask(kiln_graph *g, kiln_tensor *kpm, kiln_tensor *am, int64_t n,
                                int64_t s)
{
    kiln_tensor *m = NULL;
    if (kpm != NULL) {
        int64_t d[4] = {n, 1, 1, s};
        m = kiln_reshape(g, kpm, 4, d);
    }
    if (am != NULL) {
        m = m != NULL ? kiln_mul(g, m, am) : am;
    }
    return m;
}

struct mha_params {
    kiln_tensor *w_in, *b_in, *w_out, *b_out;
};

static void mha_params(kiln_graph *g, int64_t e, int use_bias, const char *name, uint64_t seed,
                       struct mha_params *p)
{
    char nm[KILN_MAX_NAME];
    int64_t wd[2] = {3 * e, e}, bd[1] = {3 * e}, od[2] = {e, e}, obd[1] = {e};
    snprintf(nm, sizeof(nm), "%s.in_proj_weight", name);
    p->w_in = kiln_param(g, nm, 2, wd, KILN_INIT_XAVIER_UNIFORM, 0.0f, seed);
    snprintf(nm, sizeof(nm), "%s.out_proj.weight", name);
    p->w_out = kiln_param(g, nm, 2, od, KILN_INIT_FAN_IN_UNIFORM, 0.0f, seed);
    p->b_in = p->b_out = NULL;
    if (use_bias) {
        snprintf(nm, sizeof(nm), "%s.in_proj_bias", name);
        p->b_in = kiln_param(g, nm, 1, bd, KILN_INIT_ZEROS, 0.0f, seed);
        snprintf(nm, sizeof(nm), "%s.out_proj.bias", name);
        p->b_out = kiln_param(g, nm, 1, obd, KILN_INIT_ZEROS, 0.0f, seed);
    }
}

/* Projection i (0 q, 1 k, 2 v) of x [N, L, E] by rows i E .. (i + 1) E - 1 of the
 * packed weight and bias (contiguous slices: views of the parameters). */
static kiln_tensor *project(kiln_graph *g, kiln_tensor *x, const struct mha_params *p, int i,
                            int64_t e)
{
    kiln_tensor *w = kiln_slice(g, p->w_in, 0, i * e, e);
    kiln_tensor *b = p->b_in != NULL ? kiln_slice(g, p->b_in, 0, i * e, e) : NULL;
    return apply_linear(g, x, w, b);
}

static bool mha_args_ok(kiln_graph *g, kiln_tensor *q, kiln_tensor *k, kiln_tensor *v,
                        const struct kiln_mha_options *o, const char *name)
{
    const char *what = "kiln_multihead_attention";
    if (!tensor_ok(g, what, "query", q, 3) || !tensor_ok(g, what, "key", k, 3) ||
        !tensor_ok(g, what, "value", v, 3) || !name_ok(g, what, name, 40)) {
        return false;
    }
    if (o->struct_size < sizeof(*o) || o->n_heads < 1 || o->embed_dim < 1 ||
        o->embed_dim % o->n_heads != 0 || !(o->dropout >= 0.0f && o->dropout < 1.0f)) {
        kiln__graph_fail(g, KILN_E_INVALID_ARG,
                         "%s '%s': embed_dim %lld, %d heads, dropout %g (or a bad struct_size)",
                         what, name, (long long)o->embed_dim, o->n_heads, (double)o->dropout);
        return false;
    }
    int64_t e = o->embed_dim;
    bool ok = q->shape.rank == 3 && k->shape.rank == 3 && v->shape.rank == 3 && last_dim(q) == e &&
              last_dim(k) == e && last_dim(v) == e && kiln__shape_eq(&k->shape, &v->shape) &&
              q->shape.dims[o->batch_first ? 0 : 1] == k->shape.dims[o->batch_first ? 0 : 1];
    if (!ok) {
        char a[64], b[64], c[64];
        kiln__graph_fail(g, KILN_E_SHAPE, "%s '%s': query %s, key %s, value %s for E = %lld%s",
                         what, name, kiln__shape_str(&q->shape, a, sizeof(a)),
                         kiln__shape_str(&k->shape, b, sizeof(b)),
                         kiln__shape_str(&v->shape, c, sizeof(c)), (long long)e,
                         o->batch_first ? " (batch first)" : "");
        return false;
    }
    return true;
}

kiln_tensor *kiln_multihead_attention(kiln_graph *g, kiln_tensor *query, kiln_tensor *key,
                                      kiln_tensor *value, kiln_tensor *key_padding_mask,
                                      kiln_tensor *attn_mask, const struct kiln_mha_options *o,
                                      const char *name, kiln_tensor **weights)
{
    if (weights != NULL) {
        *weights = g == NULL ? NULL : &g->poison;
    }
    if (g == NULL) {
        return NULL;
    }
    if (o == NULL) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_multihead_attention: no options");
    }
    if (!mha_args_ok(g, query, key, value, o, name)) {
        return &g->poison;
    }
    int64_t e = o->embed_dim;
    struct mha_params p;
    mha_params(g, e, o->use_bias, name, o->seed, &p);
    kiln_tensor *x[3] = {query, key, value}, *xb[3], *h[3];
    for (int i = 0; i < 3; i++) {
        /* batch first once per distinct input (self-attention: once) */
        bool again = i > 0 && x[i] == x[i - 1];
        xb[i] = again ? xb[i - 1] : o->batch_first ? x[i] : swap01(g, x[i]);
        h[i] = split_heads(g, project(g, xb[i], &p, i, e), o->n_heads);
    }
    kiln_tensor *mask =
        scores_mask(g, key_padding_mask, attn_mask, h[1]->shape.dims[0], h[1]->shape.dims[2]);
    kiln_tensor *a = NULL;
    kiln_tensor *y =
        kiln_attention(g, h[0], h[1], h[2], mask, 0.0f, o->dropout,
                       kiln__nn_site_seed(o->seed, name, 0), weights != NULL ? &a : NULL);
    y = apply_linear(g, merge_heads(g, y), p.w_out, p.b_out);
    if (weights != NULL) {
        *weights = kiln_mean(g, a, 1u << 1, 0);
    }
    return o->batch_first ? y : swap01(g, y);
}

/* ==== Additive attention pooling ==== */

kiln_tensor *kiln_additive_attention_pool(kiln_graph *g, kiln_tensor *h, kiln_tensor *mask,
                                          int64_t attn_dim, const char *name, uint64_t seed,
                                          kiln_tensor **weights)
{
    const char *what = "kiln_additive_attention_pool";
    char nm[KILN_MAX_NAME];
    if (weights != NULL) {
        *weights = g == NULL ? NULL : &g->poison;
    }
    if (g == NULL) {
        return NULL;
    }
    if (!tensor_ok(g, what, "h", h, 3) || (mask != NULL && !tensor_ok(g, what, "mask", mask, 2)) ||
        !name_ok(g, what, name, 40)) {
        return &g->poison;
    }
    if (h->shape.rank != 3 || attn_dim < 1) {
        char a[64];
        return kiln__graph_fail(g, KILN_E_SHAPE,
                                "%s '%s': h %s (expected [N, T, D]), attn_dim %lld", what, name,
                                kiln__shape_str(&h->shape, a, sizeof(a)), (long long)attn_dim);
    }
    int64_t n = h->shape.dims[0], t = h->shape.dims[1], d = h->shape.dims[2];
    snprintf(nm, sizeof(nm), "%s.proj", name);
    kiln_tensor *u = kiln_tanh(g, kiln_linear(g, h, attn_dim, 1, nm, seed));
    snprintf(nm, sizeof(nm), "%s.score", name);
    int64_t nt[2] = {n, t}, n1t[3] = {n, 1, t}, nd[2] = {n, d};
    kiln_tensor *e = kiln_reshape(g, kiln_linear(g, u, 1, 0, nm, seed), 2, nt);
    kiln_tensor *a = masked_softmax(g, e, mask);
    if (weights != NULL) {
        *weights = a;
    }
    /* [N, 1, T] by [N, T, D]: one batched product. */
    kiln_tensor *c = kiln_matmul(g, kiln_reshape(g, a, 3, n1t), h, 0, 0);
    return kiln_reshape(g, c, 2, nd);
}
