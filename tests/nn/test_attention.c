/*
 * test_attention.c - the attention layers on a backend (`test_attention cpu`): a padded
 * batch against each sequence run alone. For the transformer encoder layer (pre-norm
 * with GELU; post-norm with ReLU under a causal mask), multi-head attention in the
 * time-first layout, additive attention pooling and the text transformer (learned
 * positions and mean pooling; sinusoidal positions and mean and max pooling), a batch of three
 * sequences of different lengths, padded with large values, gives at the real positions the outputs
 * and parameter gradients that the three sequences give alone (gradients summed over them in the
 * store), and the padded positions get a gradient of exactly 0. Under the causal mask the sequences
 * alone are cut one step short: no real position may see a later one.
 */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "kiln/attention.h"

static const char *backend = "cpu";
static kiln_context *ctx;

enum { N = 3, T = 6, E = 8, VOCAB = 11, CLASSES = 3 };
static const int32_t lens[N] = {6, 4, 2};

enum kind { ENC_PRE, ENC_POST_CAUSAL, MHA_TIME_FIRST, POOL, TEXT_LEARNED, TEXT_SINUSOID };

static void setup(void)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = backend;
    ck_assert_msg(kiln_context_create(&o, &ctx) == KILN_OK, "%s", kiln_last_error());
}

static void teardown(void)
{
    kiln_context_destroy(ctx);
}

static float frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

static bool is_text(enum kind k)
{
    return k == TEXT_LEARNED || k == TEXT_SINUSOID;
}

/* The layer under test on x [n, t, E] (or ids [n, t]); lengths i32 [n] or NULL (no
 * padding). Returns [n, t, E] or, pooled, [n, C]. */
static kiln_tensor *build(kiln_graph *g, enum kind k, kiln_tensor *x, kiln_tensor *lengths,
                          int64_t t)
{
    kiln_tensor *mask = lengths != NULL ? kiln_sequence_mask(g, lengths, t) : NULL;
    struct kiln_encoder_layer_options lo = KILN_ENCODER_LAYER_OPTIONS_INIT;
    lo.d_model = E;
    lo.n_heads = 2;
    lo.dim_feedforward = 16;
    lo.dropout = 0.0f;
    lo.batch_first = 1;
    lo.seed = 5;
    struct kiln_mha_options mo = KILN_MHA_OPTIONS_INIT;
    struct kiln_text_transformer_options to = KILN_TEXT_TRANSFORMER_OPTIONS_INIT;
    const int32_t swap[3] = {1, 0, 2};
    switch (k) {
    case ENC_PRE:
        lo.activation = KILN_ACTIVATION_GELU;
        return kiln_transformer_encoder_layer(g, x, mask, NULL, &lo, "enc");
    case ENC_POST_CAUSAL:
        lo.norm_first = 0;
        return kiln_transformer_encoder_layer(g, x, mask, kiln_causal_mask(g, t), &lo, "enc");
    case MHA_TIME_FIRST:
        mo.embed_dim = E;
        mo.n_heads = 4;
        mo.seed = 9;
        x = kiln_transpose(g, x, swap);
        x = kiln_multihead_attention(g, x, x, x, mask, NULL, &mo, "mha", NULL);
        return kiln_transpose(g, x, swap);
    case POOL:
        return kiln_additive_attention_pool(g, x, mask, 5, "pool", 3, NULL);
    case TEXT_LEARNED:
    case TEXT_SINUSOID:
        to.vocab = VOCAB;
        to.n_classes = CLASSES;
        to.embed = E;
        to.n_heads = 2;
        to.n_layers = 2;
        to.dim_feedforward = 16;
        to.max_len = k == TEXT_LEARNED ? T + 2 : 0;
        to.pool_max = k == TEXT_SINUSOID; /* the maximum over the real steps too */
        to.dropout = 0.0f;
        to.seed = 4;
        return kiln_text_transformer(g, x, NULL, lengths, &to);
    }
    return NULL;
}

/* One graph of the comparison: n sequences of t steps over store s. */
struct side {
    kiln_graph *g;
    kiln_tensor *x, *lengths, *y, *c;
    char xname[16];
};

static void make_side(struct side *sd, kiln_store *s, enum kind k, int64_t n, int64_t t,
                      int use_lengths, const char *xname)
{
    int64_t xd[3] = {n, t, E}, ln[1] = {n};
    ck_assert_int_eq(kiln_graph_create_in(s, &sd->g), KILN_OK);
    snprintf(sd->xname, sizeof(sd->xname), "%s", xname);
    if (is_text(k)) {
        sd->x = kiln_input(sd->g, "ids", KILN_DTYPE_I32, 2, xd);
    } else {
        sd->x = kiln_param(sd->g, xname, 3, xd, KILN_INIT_ZEROS, 0.0f, 0);
    }
    sd->lengths = use_lengths ? kiln_input(sd->g, "lengths", KILN_DTYPE_I32, 1, ln) : NULL;
    sd->y = kiln_tensor_keep(build(sd->g, k, sd->x, sd->lengths, t));
    ck_assert_msg(kiln_graph_status(sd->g) == KILN_OK, "%s", kiln_last_error());
    struct kiln_shape ys;
    kiln_tensor_shape(sd->y, &ys);
    sd->c = kiln_input(sd->g, "c", KILN_DTYPE_F32, ys.rank, ys.dims);
    kiln_tensor *loss = kiln_sum(sd->g, kiln_mul(sd->g, sd->y, sd->c), (1u << ys.rank) - 1u, 0);
    ck_assert_msg(kiln_graph_backward(sd->g, loss) == KILN_OK, "%s", kiln_last_error());
    ck_assert_msg(kiln_graph_compile(sd->g) == KILN_OK, "%s", kiln_last_error());
}

/* Whether |a - b| <= tol (1 + |b|) everywhere; reports the first miss. */
static void expect_close(const char *what, const float *a, const float *b, int64_t n, float tol)
{
    for (int64_t i = 0; i < n; i++) {
        ck_assert_msg(fabsf(a[i] - b[i]) <= tol * (1.0f + fabsf(b[i])),
                      "%s[%lld]: padded batch %.7g, alone %.7g", what, (long long)i, (double)a[i],
                      (double)b[i]);
    }
}

static void run_case(enum kind k)
{
    const int causal = k == ENC_POST_CAUSAL, pooled = k == POOL || is_text(k);
    const int64_t yw = pooled ? (k == POOL ? E : CLASSES) : E;
    int32_t keep[N]; /* the steps that count: all real ones, or all but the last */
    uint64_t rs = 77 + (uint64_t)k;
    kiln_store *s;
    ck_assert_int_eq(kiln_store_create(ctx, &s), KILN_OK);
    struct side b, a[N];
    make_side(&b, s, k, N, T, 1, "x");
    /* The padded batch: real steps in [-1, 1], padding 40 (ids: random, the padding id 0
     * beyond the lengths). */
    float xs[N * T * E], cs[N * T * E], yb[N * T * E];
    int32_t ids[N * T];
    for (int i = 0; i < N; i++) {
        keep[i] = causal ? lens[i] - 1 : lens[i];
        for (int t = 0; t < T; t++) {
            ids[i * T + t] = t < lens[i] ? 1 + (int32_t)((frand(&rs) + 1.0f) * 4.99f) : 0;
            for (int e = 0; e < E; e++) {
                xs[(i * T + t) * E + e] = t < lens[i] ? frand(&rs) : 40.0f;
            }
        }
    }
    int64_t nc = pooled ? N * yw : N * T * E;
    for (int64_t j = 0; j < nc; j++) {
        int t = pooled ? 0 : (int)((j / E) % T), i = (int)(j / (pooled ? yw : T * E));
        cs[j] = t < keep[i] ? frand(&rs) : 0.0f;
    }
    if (is_text(k)) {
        ck_assert_int_eq(kiln_tensor_upload(b.x, ids, sizeof(ids)), KILN_OK);
    } else {
        ck_assert_int_eq(kiln_store_write(s, "x", xs, sizeof(xs)), KILN_OK);
    }
    ck_assert_int_eq(kiln_tensor_upload(b.lengths, lens, sizeof(lens)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(b.c, cs, (size_t)nc * sizeof(float)), KILN_OK);
    ck_assert_msg(kiln_graph_run(b.g) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(kiln_tensor_download(b.y, yb, (size_t)nc * sizeof(float)), KILN_OK);
    /* The batch's gradients, then those of the sequences alone (accumulated). */
    int32_t np = kiln_store_n_entries(s);
    float *gb[64] = {0}, *ga[64] = {0};
    int64_t gn[64] = {0};
    ck_assert_int_le(np, 64);
    for (int32_t p = 0; p < np; p++) {
        struct kiln_store_entry en;
        ck_assert_int_eq(kiln_store_entry(s, p, &en), KILN_OK);
        gn[p] = 1;
        for (int32_t d = 0; d < en.shape.rank; d++) {
            gn[p] *= en.shape.dims[d];
        }
        gb[p] = malloc((size_t)gn[p] * sizeof(float));
        ck_assert_int_eq(kiln_store_read_grad(s, en.name, gb[p], (size_t)gn[p] * sizeof(float)),
                         KILN_OK);
    }
    ck_assert_int_eq(kiln_store_zero_grad(s), KILN_OK);
    for (int i = 0; i < N; i++) {
        char xn[16];
        int32_t l = keep[i];
        float ya[T * E];
        snprintf(xn, sizeof(xn), "x%d", i);
        make_side(&a[i], s, k, 1, l, is_text(k), xn);
        if (is_text(k)) {
            ck_assert_int_eq(kiln_tensor_upload(a[i].x, ids + i * T, (size_t)l * sizeof(int32_t)),
                             KILN_OK);
            ck_assert_int_eq(kiln_tensor_upload(a[i].lengths, &l, sizeof(l)), KILN_OK);
        } else {
            ck_assert_int_eq(
                kiln_store_write(s, xn, xs + i * T * E, (size_t)(l * E) * sizeof(float)), KILN_OK);
        }
        int64_t na = pooled ? yw : l * E;
        ck_assert_int_eq(kiln_tensor_upload(a[i].c, cs + (pooled ? i * yw : i * T * E),
                                            (size_t)na * sizeof(float)),
                         KILN_OK);
        ck_assert_msg(kiln_graph_run(a[i].g) == KILN_OK, "%s", kiln_last_error());
        ck_assert_int_eq(kiln_tensor_download(a[i].y, ya, (size_t)na * sizeof(float)), KILN_OK);
        expect_close("output", yb + (pooled ? i * yw : i * T * E), ya, na, 2e-5f);
        if (!is_text(k)) {
            /* The input's gradient: as alone at the steps that count, 0 elsewhere. */
            float gx[T * E];
            ck_assert_int_eq(kiln_store_read_grad(s, xn, gx, (size_t)(l * E) * sizeof(float)),
                             KILN_OK);
            expect_close("x gradient", gb[0] + i * T * E, gx, l * E, 1e-4f);
            for (int64_t j = l * E; j < T * E; j++) {
                ck_assert_msg(gb[0][i * T * E + j] == 0.0f, "x gradient at padded step %lld: %g",
                              (long long)(j / E), (double)gb[0][i * T * E + j]);
            }
        }
    }
    /* The parameters' gradients, summed over the sequences alone. */
    for (int32_t p = 0; p < np; p++) {
        struct kiln_store_entry en;
        ck_assert_int_eq(kiln_store_entry(s, p, &en), KILN_OK);
        if (strcmp(en.name, "x") == 0) {
            continue;
        }
        ga[p] = malloc((size_t)gn[p] * sizeof(float));
        ck_assert_int_eq(kiln_store_read_grad(s, en.name, ga[p], (size_t)gn[p] * sizeof(float)),
                         KILN_OK);
        char what[96];
        snprintf(what, sizeof(what), "gradient of %s", en.name);
        expect_close(what, gb[p], ga[p], gn[p], 1e-4f);
    }
    for (int32_t p = 0; p < np; p++) {
        free(gb[p]);
        free(ga[p]);
    }
    for (int i = 0; i < N; i++) {
        kiln_graph_destroy(a[i].g);
    }
    kiln_graph_destroy(b.g);
    kiln_store_destroy(s);
}

START_TEST(test_padded_vs_alone)
{
    run_case((enum kind)_i);
}
END_TEST

int main(int argc, char **argv)
{
    backend = argc > 1 ? argv[1] : "cpu";
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *probe;
    o.backend = backend;
    if (kiln_context_create(&o, &probe) != KILN_OK) {
        printf("SKIP: backend '%s': %s\n", backend, kiln_last_error());
        return 77;
    }
    kiln_context_destroy(probe);
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("padded");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_padded_vs_alone, ENC_PRE, TEXT_SINUSOID + 1);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    if (strcmp(backend, "cpu") != 0) {
        srunner_set_fork_status(sr, CK_NOFORK);
    }
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
