/*
 * test_rnn.c - the recurrent layers on a backend (`test_rnn cpu|opencl|vulkan`): a
 * padded batch of sequences of different lengths gives each sequence the outputs,
 * final states and parameter gradients it gets when run alone (one graph per sequence
 * over the same store, whose gradients add up), for a stacked bidirectional LSTM with
 * initial states, a GRU and a ReLU RNN; the padded outputs are zero; a small character
 * language model trains (the loss of a fixed chunk falls); and the maximum and mean over
 * time ignore padded steps, in value and gradient.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

static const char *backend = "cpu";
static kiln_context *ctx;

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

static void fill(float *a, int64_t n, unsigned s)
{
    for (int64_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        a[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

/* One model over store s on x [t, n, c]: y, h_n (c_n) and loss = sum(y * wy) + sum(h_n *
 * wh), its backward pass, compiled. */
struct net {
    kiln_graph *g;
    kiln_tensor *x, *mask, *h0, *c0, *wy, *wh, *y, *hn, *cn, *loss;
};

static void build(kiln_store *s, const struct kiln_rnn_options *o, int64_t t, int64_t n, int64_t c,
                  int masked, struct net *m)
{
    int64_t L = (int64_t)o->n_layers * (o->bidirectional ? 2 : 1), d = o->bidirectional ? 2 : 1;
    int64_t xd[3] = {t, n, c}, md[2] = {t, n}, sd[3] = {L, n, o->hidden};
    int64_t yd[3] = {t, n, d * o->hidden};
    memset(m, 0, sizeof(*m));
    ck_assert_int_eq(kiln_graph_create_in(s, &m->g), KILN_OK);
    m->x = kiln_input(m->g, "x", KILN_DTYPE_F32, 3, xd);
    m->mask = masked ? kiln_input(m->g, "mask", KILN_DTYPE_F32, 2, md) : NULL;
    m->h0 = kiln_input(m->g, "h0", KILN_DTYPE_F32, 3, sd);
    m->c0 = o->cell == KILN_RNN_LSTM ? kiln_input(m->g, "c0", KILN_DTYPE_F32, 3, sd) : NULL;
    m->wy = kiln_input(m->g, "wy", KILN_DTYPE_F32, 3, yd);
    m->wh = kiln_input(m->g, "wh", KILN_DTYPE_F32, 3, sd);
    m->y = kiln_tensor_keep(kiln_rnn(m->g, m->x, m->mask, m->h0, m->c0, o, "rnn", &m->hn, &m->cn));
    kiln_tensor_keep(m->hn);
    m->loss = kiln_add(m->g, kiln_sum(m->g, kiln_mul(m->g, m->y, m->wy), 7u, 0),
                       kiln_sum(m->g, kiln_mul(m->g, m->hn, m->wh), 7u, 0));
    kiln_tensor_keep(m->loss);
    ck_assert_msg(kiln_graph_backward(m->g, m->loss) == KILN_OK, "%s", kiln_last_error());
    ck_assert_msg(kiln_graph_compile(m->g) == KILN_OK, "%s", kiln_last_error());
}

static void expect_close(const char *what, const float *got, const float *ref, int64_t n)
{
    double mx = 1.0, err = 0.0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs((double)ref[i]));
        double e = fabs((double)got[i] - (double)ref[i]);
        if (e > err) {
            err = e;
            at = i;
        }
    }
    /* The batch and the single sequences run products of other shapes (other summation
     * orders on every backend): a few float32 roundings apart. */
    ck_assert_msg(err <= 1e-5 * mx, "%s on %s: element %lld is %.8g alone, %.8g in the batch", what,
                  backend, (long long)at, (double)ref[at], (double)got[at]);
}

/* Rows [0, len) of sequence i of a time-first [t, n, f] array into [len, 1, f]. */
static void take(const float *a, int64_t n, int64_t f, int64_t i, int64_t len, float *out)
{
    for (int64_t s = 0; s < len; s++) {
        memcpy(out + s * f, a + (s * n + i) * f, (size_t)f * sizeof(float));
    }
}

static void padded_vs_alone(kiln_rnn_cell cell, int32_t layers, int bidir)
{
    enum { T = 6, N = 3, C = 4, H = 5 };
    static const int64_t len[N] = {6, 2, 4};
    struct kiln_rnn_options o = KILN_RNN_OPTIONS_INIT;
    o.cell = cell;
    o.hidden = H;
    o.n_layers = layers;
    o.bidirectional = bidir;
    o.seed = 3;
    int64_t d = bidir ? 2 : 1, L = layers * d, nparam;
    kiln_store *s;
    ck_assert_int_eq(kiln_store_create(ctx, &s), KILN_OK);
    struct net b;
    build(s, &o, T, N, C, 1, &b);
    nparam = kiln_store_n_param_elems(s);
    float x[T * N * C], mask[T * N], wy[T * N * 2 * H], wh[2 * 2 * N * H], h0[2 * 2 * N * H];
    float c0[2 * 2 * N * H], y[T * N * 2 * H], hn[2 * 2 * N * H];
    fill(x, T * N * C, 1u);
    fill(wy, T * N * d * H, 2u);
    fill(wh, L * N * H, 3u);
    fill(h0, L * N * H, 4u);
    fill(c0, L * N * H, 5u);
    for (int64_t k = 0; k < T * N; k++) {
        mask[k] = k / N < len[k % N] ? 1.0f : 0.0f;
    }
    ck_assert_int_eq(kiln_tensor_upload(b.x, x, sizeof(float) * T * N * C), KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(b.mask, mask, sizeof(mask)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(b.wy, wy, sizeof(float) * (size_t)(T * N * d * H)),
                     KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(b.wh, wh, sizeof(float) * (size_t)(L * N * H)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(b.h0, h0, sizeof(float) * (size_t)(L * N * H)), KILN_OK);
    if (b.c0 != NULL) {
        ck_assert_int_eq(kiln_tensor_upload(b.c0, c0, sizeof(float) * (size_t)(L * N * H)),
                         KILN_OK);
    }
    ck_assert_int_eq(kiln_graph_run(b.g), KILN_OK);
    ck_assert_int_eq(kiln_tensor_download(b.y, y, sizeof(float) * (size_t)(T * N * d * H)),
                     KILN_OK);
    ck_assert_int_eq(kiln_tensor_download(b.hn, hn, sizeof(float) * (size_t)(L * N * H)), KILN_OK);
    float *g_batch = malloc((size_t)nparam * sizeof(float));
    float *g_alone = malloc((size_t)nparam * sizeof(float));
    ck_assert_int_eq(kiln_store_grads_download(s, g_batch, nparam), KILN_OK);
    ck_assert_int_eq(kiln_store_zero_grad(s), KILN_OK);

    for (int64_t i = 0; i < N; i++) {
        struct net a;
        float xa[T * C], wya[T * 2 * H], wha[2 * 2 * H], h0a[2 * 2 * H], c0a[2 * 2 * H];
        float ya[T * 2 * H], hna[2 * 2 * H];
        build(s, &o, len[i], 1, C, 0, &a);
        take(x, N, C, i, len[i], xa);
        take(wy, N, d * H, i, len[i], wya);
        take(wh, N, H, i, L, wha);
        take(h0, N, H, i, L, h0a);
        take(c0, N, H, i, L, c0a);
        size_t sb = sizeof(float) * (size_t)(L * H);
        ck_assert_int_eq(kiln_tensor_upload(a.x, xa, sizeof(float) * (size_t)(len[i] * C)),
                         KILN_OK);
        ck_assert_int_eq(kiln_tensor_upload(a.wy, wya, sizeof(float) * (size_t)(len[i] * d * H)),
                         KILN_OK);
        ck_assert_int_eq(kiln_tensor_upload(a.wh, wha, sb), KILN_OK);
        ck_assert_int_eq(kiln_tensor_upload(a.h0, h0a, sb), KILN_OK);
        if (a.c0 != NULL) {
            ck_assert_int_eq(kiln_tensor_upload(a.c0, c0a, sb), KILN_OK);
        }
        ck_assert_int_eq(kiln_graph_run(a.g), KILN_OK); /* its gradients add into the store */
        ck_assert_int_eq(kiln_tensor_download(a.y, ya, sizeof(float) * (size_t)(len[i] * d * H)),
                         KILN_OK);
        ck_assert_int_eq(kiln_tensor_download(a.hn, hna, sb), KILN_OK);
        float yb[T * 2 * H], hb[2 * 2 * H], zero[2 * H] = {0};
        take(y, N, d * H, i, T, yb);
        take(hn, N, H, i, L, hb);
        expect_close("outputs", yb, ya, len[i] * d * H);
        expect_close("final states", hb, hna, L * H);
        for (int64_t st = len[i]; st < T; st++) {
            expect_close("a padded step's output", yb + st * d * H, zero, d * H);
        }
        kiln_graph_destroy(a.g);
    }
    ck_assert_int_eq(kiln_store_grads_download(s, g_alone, nparam), KILN_OK);
    expect_close("parameter gradients", g_batch, g_alone, nparam);
    free(g_batch);
    free(g_alone);
    kiln_graph_destroy(b.g);
    kiln_store_destroy(s);
}

START_TEST(test_padded_lstm)
{
    padded_vs_alone(KILN_RNN_LSTM, 2, 1);
}
END_TEST

START_TEST(test_padded_gru)
{
    padded_vs_alone(KILN_RNN_GRU, 1, 1);
}
END_TEST

START_TEST(test_padded_relu)
{
    padded_vs_alone(KILN_RNN_RELU, 2, 0);
}
END_TEST

/* A character LSTM learns to continue a repeating text: the loss of a fixed chunk falls
 * well below its start within 40 Adam steps. */
START_TEST(test_char_lm_trains)
{
    enum { T = 12, N = 2, V = 6 };
    struct kiln_char_lm_options o = KILN_CHAR_LM_OPTIONS_INIT;
    o.vocab = V;
    o.hidden = 16;
    o.seed = 1;
    kiln_graph *g;
    kiln_optimizer *opt;
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    int64_t xd[3] = {T, N, V}, yd[1] = {T * N}, flat[2] = {T * N, V};
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 3, xd);
    kiln_tensor *y = kiln_input(g, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *logits = kiln_char_lm(g, x, NULL, NULL, &o, NULL, NULL);
    kiln_tensor *loss = kiln_tensor_keep(kiln_softmax_xent(g, kiln_reshape(g, logits, 2, flat), y));
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.kind = KILN_OPTIM_ADAM;
    oo.lr = 0.02f;
    ck_assert_int_eq(kiln_graph_backward(g, loss), KILN_OK);
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(kiln_optimizer_create(kiln_graph_store(g), &oo, &opt), KILN_OK);
    float xs[T * N * V] = {0};
    int32_t ys[T * N];
    for (int64_t s = 0; s < T; s++) {
        for (int64_t b = 0; b < N; b++) {
            int32_t id = (int32_t)(2 + (s + 2 * b) % 4); /* 2 3 4 5 2 3 ... */
            xs[(s * N + b) * V + id] = 1.0f;
            ys[s * N + b] = 2 + (id - 2 + 1) % 4;
        }
    }
    ck_assert_int_eq(kiln_tensor_upload(x, xs, sizeof(xs)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(y, ys, sizeof(ys)), KILN_OK);
    float first = 0.0f, l = 0.0f;
    for (int i = 0; i < 40; i++) {
        ck_assert_msg(kiln_train_step(g, opt) == KILN_OK, "%s", kiln_last_error());
        ck_assert_int_eq(kiln_tensor_download(loss, &l, sizeof(l)), KILN_OK);
        if (i == 0) {
            first = l;
        }
    }
    ck_assert_msg(l < 0.2f * first, "loss %g after 40 steps, %g at the first", l, first);
    kiln_graph_destroy(g);
}
END_TEST

/* The maximum and mean over time of x [2, 3, 5] under a mask of lengths 3 and 5: the
 * padded steps hold the largest values of their rows, yet never win and get no
 * gradient; the mean divides by the real steps. */
START_TEST(test_pool_over_time)
{
    enum { N = 2, C = 3, L = 5 };
    kiln_graph *g;
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    int64_t xd[3] = {N, C, L}, md[2] = {N, L};
    kiln_tensor *x = kiln_param(g, "x", 3, xd, KILN_INIT_ZEROS, 0.0f, 0);
    kiln_tensor *mask = kiln_input(g, "mask", KILN_DTYPE_F32, 2, md);
    kiln_tensor *mx = kiln_tensor_keep(kiln_max_over_time(g, x, mask));
    kiln_tensor *mean = kiln_tensor_keep(kiln_mean_over_time(g, x, mask));
    kiln_tensor *loss = kiln_add(g, kiln_sum(g, mx, 3u, 0), kiln_sum(g, mean, 3u, 0));
    ck_assert_int_eq(kiln_graph_backward(g, loss), KILN_OK);
    kiln_tensor *dx = kiln_tensor_keep(kiln_tensor_grad(x));
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    float xs[N * C * L], ms[N * L], got[N * C], gm[N * C], gx[N * C * L];
    for (int i = 0; i < N * C * L; i++) {
        xs[i] = (float)((i * 7) % 11) - 5.0f;
    }
    for (int n = 0; n < N; n++) {
        int len = n == 0 ? 3 : 5;
        for (int t = 0; t < L; t++) {
            ms[n * L + t] = t < len ? 1.0f : 0.0f;
            for (int c = 0; c < C && t >= len; c++) {
                xs[(n * C + c) * L + t] = 100.0f + (float)t; /* padding: the largest */
            }
        }
    }
    ck_assert_int_eq(kiln_tensor_upload(x, xs, sizeof(xs)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(mask, ms, sizeof(ms)), KILN_OK);
    ck_assert_int_eq(kiln_graph_run(g), KILN_OK);
    ck_assert_int_eq(kiln_tensor_download(mx, got, sizeof(got)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_download(mean, gm, sizeof(gm)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_download(dx, gx, sizeof(gx)), KILN_OK);
    for (int n = 0; n < N; n++) {
        int len = n == 0 ? 3 : 5;
        for (int c = 0; c < C; c++) {
            const float *row = xs + (n * C + c) * L;
            float best = row[0], sum = 0.0f;
            int arg = 0;
            for (int t = 0; t < len; t++) {
                arg = row[t] > best ? t : arg;
                best = row[t] > best ? row[t] : best;
                sum += row[t];
            }
            ck_assert_float_eq(got[n * C + c], best);
            ck_assert_float_eq_tol(gm[n * C + c], sum / (float)len, 1e-6f);
            for (int t = 0; t < L; t++) {
                float want = t >= len ? 0.0f : (t == arg ? 1.0f : 0.0f) + 1.0f / (float)len;
                ck_assert_msg(fabsf(gx[(n * C + c) * L + t] - want) < 1e-6f,
                              "gradient of x[%d, %d, %d] on %s: %g, expected %g", n, c, t, backend,
                              (double)gx[(n * C + c) * L + t], (double)want);
            }
        }
    }
    kiln_graph_destroy(g);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1) {
        backend = argv[1];
    }
    int32_t n_dev = 0;
    if (kiln_backend_devices(backend, NULL, 0, &n_dev) != KILN_OK || n_dev == 0) {
        printf("SKIP: backend %s unavailable: %s\n", backend, kiln_last_error());
        return 77;
    }
    Suite *s = suite_create("rnn");
    TCase *tc = tcase_create("rnn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_padded_lstm);
    tcase_add_test(tc, test_padded_gru);
    tcase_add_test(tc, test_padded_relu);
    tcase_add_test(tc, test_char_lm_trains);
    tcase_add_test(tc, test_pool_over_time);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    if (strcmp(backend, "cpu") != 0) {
        srunner_set_fork_status(sr, CK_NOFORK); /* GPU driver state must not cross a fork */
    }
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
