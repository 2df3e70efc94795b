/*
 * rnn_dump.c - runs kiln_rnn (every cell; stacked, bidirectional, batch-first, without
 * biases, with initial states) once on a padded batch of sequences of different lengths
 * and writes its inputs, parameters, outputs and gradients (of loss = sum(y * wy) +
 * sum(h_n * wh) + sum(c_n * wc), with fixed random weights wy, wh, wc) to
 * DIR/<case>_<tensor>.bin (raw f32), for torch_rnn_ref.py to compare with PyTorch's
 * nn.RNN, nn.LSTM and nn.GRU run on each sequence alone; and kiln_conv1d_layer with the
 * masked maximum and mean over time of its output (case "conv1d").
 * Usage: rnn_dump DIR [BACKEND]. Prints one line per case: its name, cell, layers,
 * bidirectional, batch_first, bias, T, N, C, H and the N lengths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "kiln/nn.h"

static const char *dir;

static void fill(float *a, int64_t n, unsigned s)
{
    for (int64_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        a[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

static int save(const char *tag, const char *what, const kiln_tensor *t)
{
    char p[512];
    size_t nb = kiln_tensor_n_bytes(t);
    float *a = malloc(nb);
    if (a == NULL || kiln_tensor_download(t, a, nb) != KILN_OK) {
        fprintf(stderr, "%s %s: %s\n", tag, what, kiln_last_error());
        free(a);
        return 1;
    }
    snprintf(p, sizeof(p), "%s/%s_%s.bin", dir, tag, what);
    FILE *f = fopen(p, "wb");
    int bad = f == NULL || fwrite(a, 1, nb, f) != nb;
    if (f != NULL) {
        fclose(f);
    }
    free(a);
    return bad;
}

static int upload_random(kiln_tensor *t, unsigned seed)
{
    int64_t n = kiln_tensor_n_elems(t);
    float *a = malloc((size_t)n * sizeof(float));
    if (a == NULL) {
        return 1;
    }
    fill(a, n, seed);
    int bad = kiln_tensor_upload(t, a, (size_t)n * sizeof(float)) != KILN_OK;
    free(a);
    return bad;
}

struct rcase {
    const char *tag;
    kiln_rnn_cell cell;
    int32_t layers, bidir, batch_first, bias, with_h0;
    int64_t t, n, c, h;
    int64_t len[4];
};

/* The weighted sum of t's elements with fixed random weights (an input of g). */
static kiln_tensor *weighted(kiln_graph *g, kiln_tensor *t, const char *wname)
{
    struct kiln_shape s;
    kiln_tensor_shape(t, &s);
    kiln_tensor *w = kiln_input(g, wname, KILN_DTYPE_F32, s.rank, s.dims);
    return kiln_sum(g, kiln_mul(g, t, w), (1u << s.rank) - 1u, 0);
}

static int run(kiln_context *ctx, const struct rcase *rc)
{
    kiln_graph *g;
    int bad = 0;
    struct kiln_rnn_options o = KILN_RNN_OPTIONS_INIT;
    o.cell = rc->cell;
    o.hidden = rc->h;
    o.n_layers = rc->layers;
    o.bidirectional = rc->bidir;
    o.batch_first = rc->batch_first;
    o.use_bias = rc->bias;
    o.seed = 5;
    if (kiln_graph_create(ctx, &g) != KILN_OK) {
        return 1;
    }
    int64_t xd[3] = {rc->t, rc->n, rc->c}, md[2] = {rc->t, rc->n};
    int64_t sd[3] = {(int64_t)rc->layers * (rc->bidir ? 2 : 1), rc->n, rc->h};
    if (rc->batch_first) {
        xd[0] = md[0] = rc->n;
        xd[1] = md[1] = rc->t;
    }
    kiln_tensor *x = kiln_param(g, "x", 3, xd, KILN_INIT_ZEROS, 0.0f, 0);
    kiln_tensor *mask = kiln_input(g, "mask", KILN_DTYPE_F32, 2, md);
    kiln_tensor *h0 = rc->with_h0 ? kiln_param(g, "h0", 3, sd, KILN_INIT_ZEROS, 0.0f, 0) : NULL;
    kiln_tensor *c0 = rc->with_h0 && rc->cell == KILN_RNN_LSTM
                          ? kiln_param(g, "c0", 3, sd, KILN_INIT_ZEROS, 0.0f, 0)
                          : NULL;
    kiln_tensor *hn, *cn;
    kiln_tensor *y = kiln_tensor_keep(kiln_rnn(g, x, mask, h0, c0, &o, "rnn", &hn, &cn));
    kiln_tensor_keep(hn);
    kiln_tensor *loss = kiln_add(g, weighted(g, y, "wy"), weighted(g, hn, "wh"));
    if (cn != NULL) {
        kiln_tensor_keep(cn);
        loss = kiln_add(g, loss, weighted(g, cn, "wc"));
    }
    if (kiln_graph_backward(g, loss) != KILN_OK || kiln_graph_compile(g) != KILN_OK) {
        fprintf(stderr, "%s: %s\n", rc->tag, kiln_last_error());
        kiln_graph_destroy(g);
        return 1;
    }
    float *m = calloc((size_t)(rc->t * rc->n), sizeof(float));
    for (int64_t i = 0; m != NULL && i < rc->n; i++) {
        for (int64_t s = 0; s < rc->len[i]; s++) {
            m[rc->batch_first ? i * rc->t + s : s * rc->n + i] = 1.0f;
        }
    }
    bad |= m == NULL || kiln_tensor_upload(mask, m, (size_t)(rc->t * rc->n) * sizeof(float));
    free(m);
    bad |= upload_random(x, 11u) | upload_random(kiln_graph_find(g, "wy"), 12u);
    bad |= upload_random(kiln_graph_find(g, "wh"), 13u);
    if (h0 != NULL) {
        bad |= upload_random(h0, 14u);
    }
    if (c0 != NULL) {
        bad |= upload_random(c0, 15u);
    }
    if (cn != NULL) {
        bad |= upload_random(kiln_graph_find(g, "wc"), 16u);
    }
    bad |= kiln_graph_run(g) != KILN_OK;
    if (bad) {
        fprintf(stderr, "%s: %s\n", rc->tag, kiln_last_error());
    }
    const char *ins[] = {"x", "mask", "wy", "wh", "wc", "h0", "c0"};
    for (size_t i = 0; i < sizeof(ins) / sizeof(ins[0]); i++) {
        kiln_tensor *t = kiln_graph_find(g, ins[i]);
        if (t != NULL) {
            bad |= save(rc->tag, ins[i], t);
        }
    }
    bad |= save(rc->tag, "y", y) | save(rc->tag, "h_n", hn);
    if (cn != NULL) {
        bad |= save(rc->tag, "c_n", cn);
    }
    for (int32_t i = 0; i < kiln_graph_n_params(g); i++) {
        kiln_tensor *p = kiln_graph_param(g, i);
        char what[96];
        const char *name = kiln_tensor_name(p);
        snprintf(what, sizeof(what), "%s", strncmp(name, "rnn.", 4) == 0 ? name + 4 : name);
        bad |= save(rc->tag, what, p);
        snprintf(what, sizeof(what), "grad_%s", strncmp(name, "rnn.", 4) == 0 ? name + 4 : name);
        bad |= save(rc->tag, what, kiln_tensor_grad(p));
    }
    printf("%s %s %d %d %d %d %lld %lld %lld %lld", rc->tag, kiln_rnn_cell_name(rc->cell),
           rc->layers, rc->bidir, rc->batch_first, rc->bias, (long long)rc->t, (long long)rc->n,
           (long long)rc->c, (long long)rc->h);
    for (int64_t i = 0; i < rc->n; i++) {
        printf(" %lld", (long long)rc->len[i]);
    }
    printf("\n");
    kiln_graph_destroy(g);
    return bad;
}

/* nn.Conv1d(3, 4, 3, padding=1) on x [2, 3, 7] and the maximum and mean over time of its
 * output under lengths 7 and 4; loss = sum(max * wy) + sum(mean * wh). */
static int run_conv1d(kiln_context *ctx)
{
    kiln_graph *g;
    int bad = 0;
    int64_t xd[3] = {2, 3, 7}, md[2] = {2, 7};
    if (kiln_graph_create(ctx, &g) != KILN_OK) {
        return 1;
    }
    kiln_tensor *x = kiln_param(g, "x", 3, xd, KILN_INIT_ZEROS, 0.0f, 0);
    kiln_tensor *mask = kiln_input(g, "mask", KILN_DTYPE_F32, 2, md);
    kiln_tensor *y = kiln_tensor_keep(kiln_conv1d_layer(g, x, 4, 3, 1, 1, "conv", 9));
    kiln_tensor *mx = kiln_tensor_keep(kiln_max_over_time(g, y, mask));
    kiln_tensor *mean = kiln_tensor_keep(kiln_mean_over_time(g, y, mask));
    kiln_tensor *loss = kiln_add(g, weighted(g, mx, "wy"), weighted(g, mean, "wh"));
    if (kiln_graph_backward(g, loss) != KILN_OK || kiln_graph_compile(g) != KILN_OK) {
        fprintf(stderr, "conv1d: %s\n", kiln_last_error());
        kiln_graph_destroy(g);
        return 1;
    }
    float m[14];
    for (int i = 0; i < 14; i++) {
        m[i] = (i < 7 || i - 7 < 4) ? 1.0f : 0.0f;
    }
    bad |= kiln_tensor_upload(mask, m, sizeof(m)) != KILN_OK;
    bad |= upload_random(x, 21u) | upload_random(kiln_graph_find(g, "wy"), 22u);
    bad |= upload_random(kiln_graph_find(g, "wh"), 23u);
    bad |= kiln_graph_run(g) != KILN_OK;
    bad |= save("conv1d", "x", x) | save("conv1d", "y", y) | save("conv1d", "max", mx);
    bad |= save("conv1d", "mean", mean) | save("conv1d", "wy", kiln_graph_find(g, "wy"));
    bad |= save("conv1d", "wh", kiln_graph_find(g, "wh"));
    bad |= save("conv1d", "grad_x", kiln_tensor_grad(x));
    const char *ps[2] = {"conv.weight", "conv.bias"};
    for (int i = 0; i < 2; i++) {
        kiln_tensor *p = kiln_graph_find(g, ps[i]);
        char what[64];
        snprintf(what, sizeof(what), "grad_%s", ps[i]);
        bad |= save("conv1d", ps[i], p) | save("conv1d", what, kiln_tensor_grad(p));
    }
    printf("conv1d\n");
    kiln_graph_destroy(g);
    return bad;
}

int main(int argc, char **argv)
{
    static const struct rcase cases[] = {
        {"tanh", KILN_RNN_TANH, 1, 0, 0, 1, 1, 5, 3, 4, 6, {5, 3, 1}},
        {"relu2", KILN_RNN_RELU, 2, 0, 0, 1, 0, 4, 2, 3, 5, {4, 4}},
        {"lstm2bi", KILN_RNN_LSTM, 2, 1, 0, 1, 1, 6, 4, 5, 7, {6, 2, 4, 1}},
        {"lstm_nobias_bf", KILN_RNN_LSTM, 1, 0, 1, 0, 0, 5, 3, 4, 3, {2, 5, 3}},
        {"gru_bi_bf", KILN_RNN_GRU, 1, 1, 1, 1, 1, 5, 3, 3, 4, {3, 5, 1}},
        {"gru2", KILN_RNN_GRU, 2, 0, 0, 1, 0, 4, 2, 6, 5, {1, 4}},
        {"relu_bi", KILN_RNN_RELU, 1, 1, 0, 1, 1, 4, 3, 2, 3, {4, 2, 3}},
    };
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx;
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: rnn_dump DIR [BACKEND]\n");
        return 2;
    }
    dir = argv[1];
    o.backend = argc == 3 ? argv[2] : "cpu";
    if (kiln_context_create(&o, &ctx) != KILN_OK) {
        fprintf(stderr, "%s\n", kiln_last_error());
        return 77;
    }
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bad |= run(ctx, &cases[i]);
    }
    bad |= run_conv1d(ctx);
    kiln_context_destroy(ctx);
    return bad;
}
