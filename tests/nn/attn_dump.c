/*
 * attn_dump.c - runs each attention layer once on the cpu backend with random
 * parameters and inputs (inputs are parameters too, so that they get gradients) and
 * writes, for torch_attention_ref.py to compare with PyTorch, DIR/<case>_<entry>.bin
 * (every store entry's values, raw f32), DIR/<case>_<entry>.grad.bin (its gradient of
 * loss = sum(y^2) / 2), DIR/<case>_y.bin and, for multi-head attention, the averaged
 * attention weights DIR/<case>_weights.bin. Usage: attn_dump DIR. Prints one line per
 * case: its name and output shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "kiln/attention.h"

static const char *dir;

static void fill(float *a, int64_t n, unsigned s)
{
    for (int64_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        a[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

static int write_file(const char *tag, const char *what, const void *a, size_t nb)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s_%s.bin", dir, tag, what);
    FILE *f = fopen(p, "wb");
    int bad = f == NULL || fwrite(a, 1, nb, f) != nb;
    if (f != NULL) {
        fclose(f);
    }
    return bad;
}

static int save(const char *tag, const char *what, const kiln_tensor *t)
{
    size_t nb = kiln_tensor_n_bytes(t);
    float *a = malloc(nb);
    int bad =
        a == NULL || kiln_tensor_download(t, a, nb) != KILN_OK || write_file(tag, what, a, nb);
    free(a);
    return bad;
}

enum { MHA, MHA_CAUSAL, ENC_PRE, ENC_POST, LN, POOL, SIN };

static const int32_t lens[2] = {5, 3};

/* The layer of case `which`; weights gets the attention weights where there are some. */
static kiln_tensor *layer(kiln_graph *g, int which, kiln_tensor **weights)
{
    int64_t d425[3] = {4, 2, 8}, d528[3] = {5, 2, 8}, d258[3] = {2, 5, 8}, d345[3] = {3, 4, 5};
    int64_t ln[1] = {2};
    struct kiln_mha_options mo = KILN_MHA_OPTIONS_INIT;
    struct kiln_encoder_layer_options lo = KILN_ENCODER_LAYER_OPTIONS_INIT;
    kiln_tensor *x, *kv, *len, *mask;
    mo.embed_dim = lo.d_model = 8;
    mo.n_heads = lo.n_heads = 2;
    lo.dim_feedforward = 16;
    lo.dropout = 0.0f;
    switch (which) {
    case MHA: /* time first, cross-attention, key padding */
        x = kiln_param(g, "q", 3, d425, KILN_INIT_ZEROS, 0.0f, 0);
        kv = kiln_param(g, "kv", 3, d528, KILN_INIT_ZEROS, 0.0f, 0);
        len = kiln_input(g, "lengths", KILN_DTYPE_I32, 1, ln);
        mask = kiln_sequence_mask(g, len, 5);
        return kiln_multihead_attention(g, x, kv, kv, mask, NULL, &mo, "mha", weights);
    case MHA_CAUSAL: /* batch first, self-attention, causal, no biases, 4 heads */
        mo.batch_first = 1;
        mo.use_bias = 0;
        mo.n_heads = 4;
        x = kiln_param(g, "x", 3, d258, KILN_INIT_ZEROS, 0.0f, 0);
        return kiln_multihead_attention(g, x, x, x, NULL, kiln_causal_mask(g, 5), &mo, "mha",
                                        weights);
    case ENC_PRE: /* pre-norm, GELU, batch first, key padding */
        lo.activation = KILN_ACTIVATION_GELU;
        lo.batch_first = 1;
        x = kiln_param(g, "x", 3, d258, KILN_INIT_ZEROS, 0.0f, 0);
        len = kiln_input(g, "lengths", KILN_DTYPE_I32, 1, ln);
        mask = kiln_sequence_mask(g, len, 5);
        return kiln_transformer_encoder_layer(g, x, mask, NULL, &lo, "enc");
    case ENC_POST: /* post-norm, ReLU, time first, causal */
        lo.norm_first = 0;
        x = kiln_param(g, "x", 3, d528, KILN_INIT_ZEROS, 0.0f, 0);
        return kiln_transformer_encoder_layer(g, x, NULL, kiln_causal_mask(g, 5), &lo, "enc");
    case LN: /* over the last two dims */
        x = kiln_param(g, "x", 3, d345, KILN_INIT_ZEROS, 0.0f, 0);
        return kiln_layer_norm_layer(g, x, 2, 1e-5f, "ln");
    case POOL: /* key padding */
        x = kiln_param(g, "x", 3, d258, KILN_INIT_ZEROS, 0.0f, 0);
        len = kiln_input(g, "lengths", KILN_DTYPE_I32, 1, ln);
        mask = kiln_sequence_mask(g, len, 5);
        return kiln_additive_attention_pool(g, x, mask, 6, "pool", 0, weights);
    default: /* sinusoidal positions, 7 steps of 10, added to x */
        x = kiln_param(g, "x", 2, (int64_t[]){7, 10}, KILN_INIT_ZEROS, 0.0f, 0);
        return kiln_add(g, x, kiln_sinusoidal_positions(g, 7, 10));
    }
}

static int run(kiln_context *ctx, const char *tag, int which)
{
    kiln_graph *g;
    kiln_tensor *w = NULL;
    int bad = 0;
    if (kiln_graph_create(ctx, &g) != KILN_OK) {
        return 1;
    }
    kiln_tensor *y = kiln_tensor_keep(layer(g, which, &w));
    if (w != NULL) {
        kiln_tensor_keep(w);
    }
    struct kiln_shape sh;
    kiln_tensor_shape(y, &sh);
    uint32_t all = (1u << sh.rank) - 1u;
    kiln_tensor *loss = kiln_scale(g, kiln_sum(g, kiln_mul(g, y, y), all, 0), 0.5f);
    if (kiln_graph_status(g) != KILN_OK || kiln_graph_backward(g, loss) != KILN_OK ||
        kiln_graph_compile(g) != KILN_OK) {
        fprintf(stderr, "%s: %s\n", tag, kiln_last_error());
        kiln_graph_destroy(g);
        return 1;
    }
    kiln_store *s = kiln_graph_store(g);
    int32_t n = kiln_store_n_entries(s);
    for (int32_t i = 0; i < n; i++) {
        struct kiln_store_entry e;
        bad |= kiln_store_entry(s, i, &e) != KILN_OK;
        int64_t ne = 1;
        for (int32_t d = 0; d < e.shape.rank; d++) {
            ne *= e.shape.dims[d];
        }
        float *a = malloc((size_t)ne * sizeof(float));
        fill(a, ne, 11u + 31u * (unsigned)which + 7u * (unsigned)i);
        bad |= a == NULL || kiln_store_write(s, e.name, a, (size_t)ne * sizeof(float)) != KILN_OK;
        free(a);
    }
    kiln_tensor *len = kiln_graph_find(g, "lengths");
    if (len != NULL) {
        bad |= kiln_tensor_upload(len, lens, sizeof(lens)) != KILN_OK;
    }
    bad |= kiln_graph_run(g) != KILN_OK;
    for (int32_t i = 0; i < n && !bad; i++) {
        struct kiln_store_entry e;
        char gname[160];
        bad |= kiln_store_entry(s, i, &e) != KILN_OK;
        int64_t ne = 1;
        for (int32_t d = 0; d < e.shape.rank; d++) {
            ne *= e.shape.dims[d];
        }
        size_t nb = (size_t)ne * sizeof(float);
        float *a = malloc(nb);
        bad |= a == NULL || kiln_store_read(s, e.name, a, nb) != KILN_OK ||
               write_file(tag, e.name, a, nb);
        snprintf(gname, sizeof(gname), "%s.grad", e.name);
        bad |= a == NULL || kiln_store_read_grad(s, e.name, a, nb) != KILN_OK ||
               write_file(tag, gname, a, nb);
        free(a);
    }
    bad |= save(tag, "y", y);
    if (w != NULL) {
        bad |= save(tag, "weights", w);
    }
    if (bad) {
        fprintf(stderr, "%s: %s\n", tag, kiln_last_error());
    }
    printf("%s", tag);
    for (int32_t i = 0; i < sh.rank; i++) {
        printf(" %lld", (long long)sh.dims[i]);
    }
    printf("\n");
    kiln_graph_destroy(g);
    return bad;
}

int main(int argc, char **argv)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx;
    if (argc != 2) {
        fprintf(stderr, "usage: attn_dump DIR\n");
        return 2;
    }
    dir = argv[1];
    o.backend = "cpu";
    if (kiln_context_create(&o, &ctx) != KILN_OK) {
        fprintf(stderr, "%s\n", kiln_last_error());
        return 1;
    }
    int bad = run(ctx, "mha", MHA) | run(ctx, "mha_causal", MHA_CAUSAL) |
              run(ctx, "enc_pre", ENC_PRE) | run(ctx, "enc_post", ENC_POST) | run(ctx, "ln", LN) |
              run(ctx, "pool", POOL) | run(ctx, "sin", SIN);
    kiln_context_destroy(ctx);
    return bad;
}
