/*
 * bench_lstm.c - times training steps of a 1-layer LSTM (PyTorch's nn.LSTM(256, 256)
 * layout) on a batch of 64 sequences of 64 steps on the backend chosen by KILN_BACKEND:
 * forward, MSE against a fixed target at every step, backpropagation through time and an
 * SGD update (lr 0.01), the loss read back every step. bench/torch_lstm.py does the same
 * in PyTorch and bench/run_lstm.sh runs both in turn. Not part of the tests.
 * Usage: bench_lstm [STEPS [CELL [HIDDEN [BATCH [T]]]]]; CELL is lstm (default) or gru.
 * Prints one line: wall and CPU milliseconds per step (after 3 warm-up steps).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "kiln.h"

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec +
           (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

static int die(const char *what)
{
    fprintf(stderr, "bench_lstm: %s: %s\n", what, kiln_last_error());
    return 1;
}

/* Fixed pseudo-random values in [-0.5, 0.5). */
static float *noise(int64_t n, unsigned s)
{
    float *a = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; a != NULL && i < n; i++) {
        s = s * 1103515245u + 12345u;
        a[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
    return a;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 10;
    const char *cell = argc > 2 ? argv[2] : "lstm";
    int64_t h = argc > 3 ? atoll(argv[3]) : 256, n = argc > 4 ? atoll(argv[4]) : 64;
    int64_t t = argc > 5 ? atoll(argv[5]) : 64, c = h;
    struct kiln_rnn_options ro = KILN_RNN_OPTIONS_INIT;
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    kiln_context *ctx;
    kiln_graph *g;
    kiln_optimizer *opt;
    if (steps < 1 || h < 1 || n < 1 || t < 1 ||
        (strcmp(cell, "lstm") != 0 && strcmp(cell, "gru") != 0)) {
        fprintf(stderr, "usage: bench_lstm [STEPS [lstm|gru [HIDDEN [BATCH [T]]]]]\n");
        return 2;
    }
    if (kiln_context_create(NULL, &ctx) != KILN_OK) {
        return die("kiln_context_create");
    }
    if (kiln_graph_create(ctx, &g) != KILN_OK) {
        return die("kiln_graph_create");
    }
    int64_t xd[3] = {t, n, c}, yd[3] = {t, n, h};
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 3, xd);
    kiln_tensor *target = kiln_input(g, "target", KILN_DTYPE_F32, 3, yd);
    ro.cell = strcmp(cell, "gru") == 0 ? KILN_RNN_GRU : KILN_RNN_LSTM;
    ro.hidden = h;
    kiln_tensor *y = kiln_rnn(g, x, NULL, NULL, NULL, &ro, "rnn", NULL, NULL);
    kiln_tensor *loss = kiln_tensor_keep(kiln_mse_loss(g, y, target));
    oo.lr = 0.01f;
    if (kiln_graph_backward(g, loss) != KILN_OK || kiln_graph_compile(g) != KILN_OK ||
        kiln_optimizer_create(kiln_graph_store(g), &oo, &opt) != KILN_OK) {
        return die("building the LSTM");
    }
    float *xs = noise(t * n * c, 1u), *ts = noise(t * n * h, 2u), l = 0.0f;
    if (xs == NULL || ts == NULL ||
        kiln_tensor_upload(x, xs, (size_t)(t * n * c) * sizeof(float)) != KILN_OK ||
        kiln_tensor_upload(target, ts, (size_t)(t * n * h) * sizeof(float)) != KILN_OK) {
        return die("uploading the batch");
    }
    double w0 = 0.0, c0 = 0.0;
    for (int i = -3; i < steps; i++) {
        if (i == 0) {
            w0 = wall();
            c0 = cpu();
        }
        if (kiln_train_step(g, opt) != KILN_OK || kiln_tensor_download(loss, &l, 4) != KILN_OK) {
            return die("training");
        }
    }
    double ws = (wall() - w0) / steps, cs = (cpu() - c0) / steps;
    printf("kiln %s %s: %.1f ms/step wall, %.1f ms/step cpu (H %lld, batch %lld, T %lld, %d "
           "steps, loss %.6f)\n",
           kiln_context_backend(ctx), cell, ws * 1e3, cs * 1e3, (long long)h, (long long)n,
           (long long)t, steps, (double)l);
    free(xs);
    free(ts);
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    return 0;
}
