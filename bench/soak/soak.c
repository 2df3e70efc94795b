/*
 * soak.c - a long training run that checks host and device memory stay flat, on the
 * backend chosen by KILN_BACKEND. A 784-64-10 MLP trains with Adam at batch 32 (the
 * batch uploaded and the loss read back every step, as `kiln train` does) on the first
 * 4,096 Fashion-MNIST training images (random data of that size without the dataset).
 * Every EVERY steps an evaluation graph of batch 250 is built over the same store, run
 * on 1,000 test images and destroyed, the store is saved with its optimizer state to a
 * temporary file, and a row is printed: step, seconds, loss, test accuracy, the
 * process's resident set (VmRSS) and the device pool's bytes in use and reserved and
 * its driver allocations (kiln_context_memory).
 *
 * Usage: soak [STEPS [EVERY [RSS_SLACK_KIB]]] (defaults 20000, 1000, 4096).
 * Memory is flat when, from the first row on, the device bytes in use and reserved and
 * the allocations never change and the resident set grows by at most RSS_SLACK_KIB
 * (glibc's arenas and the drivers' caches settle in the first rows). Exits 0 when
 * flat, 1 when not or on an error. bench/soak/soak.sh runs it on every backend.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"

#define N_TRAIN 4096
#define N_TEST  1000
#define BATCH   32
#define EBATCH  250

static int die(const char *what)
{
    fprintf(stderr, "soak: %s: %s\n", what, kiln_last_error());
    return 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The resident set of this process in KiB (VmRSS of /proc/self/status), 0 if unknown. */
static long rss_kib(void)
{
    char line[256];
    long kib = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

/* Loads the first n items of a Fashion-MNIST split, or makes n random ones. */
static int load(const char *split, int64_t n, struct kiln_dataset *ds)
{
    if (kiln_dataset_load_mnist("/usr/share/datasets/fashion-mnist", split, n, ds) == KILN_OK) {
        return 1;
    }
    memset(ds, 0, sizeof(*ds));
    ds->n = n;
    ds->dim = 784;
    ds->n_classes = 10;
    ds->x = malloc((size_t)(n * ds->dim) * sizeof(float));
    ds->y = malloc((size_t)n * sizeof(int32_t));
    if (ds->x == NULL || ds->y == NULL) {
        kiln_dataset_fini(ds);
        return -1;
    }
    srand(split[1] == 'r' ? 1 : 2);
    for (int64_t i = 0; i < n * ds->dim; i++) {
        ds->x[i] = (float)rand() / (float)RAND_MAX;
    }
    for (int64_t i = 0; i < n; i++) {
        ds->y[i] = rand() % 10;
    }
    return 0;
}

/* The MLP over store s at batch n: x, y and, kept, the loss (training) or the logits. */
static kiln_status build(kiln_store *s, int64_t n, int training, kiln_graph **g, kiln_tensor **x,
                         kiln_tensor **y, kiln_tensor **out)
{
    static const int64_t sizes[2] = {64, 10};
    int64_t xd[2] = {n, 784}, yd[1] = {n};
    kiln_status st = kiln_graph_create_in(s, g);
    if (st != KILN_OK) {
        return st;
    }
    *x = kiln_input(*g, "x", KILN_DTYPE_F32, 2, xd);
    kiln_tensor *logits = kiln_mlp(*g, *x, 2, sizes, KILN_ACTIVATION_RELU, NULL);
    if (training) {
        *y = kiln_input(*g, "y", KILN_DTYPE_I32, 1, yd);
        *out = kiln_tensor_keep(kiln_softmax_xent(*g, logits, *y));
        st = kiln_graph_backward(*g, *out);
    } else {
        *out = kiln_tensor_keep(logits);
        st = kiln_graph_status(*g);
    }
    return st == KILN_OK ? kiln_graph_compile(*g) : st;
}

/* Builds the evaluation graph, runs it over test, destroys it: *acc is the accuracy. */
static kiln_status evaluate(kiln_store *s, const struct kiln_dataset *test, double *acc)
{
    kiln_graph *g = NULL;
    kiln_tensor *x, *y, *logits;
    float out[EBATCH * 10];
    int64_t right = 0;
    kiln_status st = build(s, EBATCH, 0, &g, &x, &y, &logits);
    for (int64_t i = 0; st == KILN_OK && i + EBATCH <= test->n; i += EBATCH) {
        st = kiln_tensor_upload(x, test->x + i * 784, sizeof(float) * EBATCH * 784);
        st = st == KILN_OK ? kiln_graph_run(g) : st;
        st = st == KILN_OK ? kiln_tensor_download(logits, out, sizeof(out)) : st;
        for (int64_t j = 0; st == KILN_OK && j < EBATCH; j++) {
            int best = 0;
            for (int c = 1; c < 10; c++) {
                best = out[j * 10 + c] > out[j * 10 + best] ? c : best;
            }
            right += best == test->y[i + j];
        }
    }
    kiln_graph_destroy(g);
    *acc = (double)right / (double)(test->n / EBATCH * EBATCH);
    return st;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    long every = argc > 2 ? strtol(argv[2], NULL, 10) : 1000;
    long slack = argc > 3 ? strtol(argv[3], NULL, 10) : 4096;
    struct kiln_dataset train = {0}, test = {0};
    kiln_context *ctx = NULL;
    kiln_store *st = NULL;
    kiln_graph *g = NULL;
    kiln_optimizer *opt = NULL;
    kiln_tensor *x, *y, *loss;
    char ckpt[256];
    int rc = 1;
    if (steps < 1 || every < 1 || slack < 0) {
        fprintf(stderr, "usage: soak [STEPS [EVERY [RSS_SLACK_KIB]]]\n");
        return 2;
    }
    int real = load("train", N_TRAIN, &train);
    if (real < 0 || load("t10k", N_TEST, &test) < 0) {
        fprintf(stderr, "soak: out of memory\n");
        return 1;
    }
    snprintf(ckpt, sizeof(ckpt), "%s/kiln-soak-%d.safetensors",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    if (kiln_context_create(NULL, &ctx) != KILN_OK) {
        rc = die("kiln_context_create");
        goto cleanup;
    }
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.kind = KILN_OPTIM_ADAM;
    oo.lr = 0.001f;
    if (kiln_store_create(ctx, &st) != KILN_OK || build(st, BATCH, 1, &g, &x, &y, &loss) ||
        kiln_optimizer_create(st, &oo, &opt) != KILN_OK) {
        rc = die("building the model");
        goto cleanup;
    }
    printf("# soak: %s on %s (%s), %ld steps of batch %d, a row every %ld\n",
           kiln_context_backend(ctx), kiln_context_device(ctx),
           real ? "Fashion-MNIST" : "random data", steps, BATCH, every);
    printf("%8s %8s %8s %6s %10s %12s %12s %6s\n", "step", "seconds", "loss", "acc", "rss_kib",
           "dev_in_use", "dev_reserved", "blocks");
    struct kiln_memory_stats first = {0}, m;
    long rss_first = 0, rss_max = 0, rss = 0;
    int flat = 1;
    double t0 = now(), acc = 0.0, sum = 0.0;
    for (long k = 1; k <= steps; k++) {
        int64_t at = (k * BATCH) % (N_TRAIN - BATCH);
        float l;
        kiln_status s = kiln_tensor_upload(x, train.x + at * 784, sizeof(float) * BATCH * 784);
        s = s == KILN_OK ? kiln_tensor_upload(y, train.y + at, sizeof(int32_t) * BATCH) : s;
        s = s == KILN_OK ? kiln_train_step(g, opt) : s;
        s = s == KILN_OK ? kiln_tensor_download(loss, &l, sizeof(l)) : s;
        if (s != KILN_OK) {
            rc = die("training");
            goto cleanup;
        }
        sum += l;
        if (k % every != 0 && k != steps) {
            continue;
        }
        if (evaluate(st, &test, &acc) != KILN_OK) {
            rc = die("evaluating");
            goto cleanup;
        }
        if (kiln_store_save(st, ckpt, 1) != KILN_OK) {
            rc = die("saving");
            goto cleanup;
        }
        kiln_context_memory(ctx, &m);
        rss = rss_kib();
        long rows = k % every ? k % every : every;
        printf("%8ld %8.1f %8.4f %6.3f %10ld %12llu %12llu %6llu\n", k, now() - t0,
               sum / (double)rows, acc, rss, (unsigned long long)m.in_use,
               (unsigned long long)m.reserved, (unsigned long long)m.n_blocks);
        fflush(stdout);
        sum = 0.0;
        if (rss_first == 0) {
            first = m;
            rss_first = rss;
        } else if (m.in_use != first.in_use || m.reserved != first.reserved ||
                   m.n_blocks != first.n_blocks) {
            flat = 0;
        }
        rss_max = rss > rss_max ? rss : rss_max;
    }
    printf("# device: in use %llu, reserved %llu bytes (peak %llu) %s; RSS %ld KiB at the "
           "first row, %ld at the last, at most %ld (slack %ld)\n",
           (unsigned long long)m.in_use, (unsigned long long)m.reserved,
           (unsigned long long)m.peak_reserved, flat ? "unchanged from the first row" : "CHANGED",
           rss_first, rss, rss_max, slack);
    if (rss_max - rss_first > slack) {
        flat = 0;
    }
    printf("# %s\n", flat ? "memory flat" : "MEMORY GREW");
    rc = flat ? 0 : 1;
cleanup:
    remove(ckpt);
    kiln_optimizer_destroy(opt);
    kiln_graph_destroy(g);
    kiln_store_destroy(st);
    kiln_context_destroy(ctx);
    kiln_dataset_fini(&train);
    kiln_dataset_fini(&test);
    return rc;
}
