/*
 * bench_train.c - training throughput of one model on the backend KILN_BACKEND picks,
 * the kiln side of bench/compare.sh (bench/torch_train.py is the PyTorch side):
 *
 *   bench_train [--warmup N] [--data DIR] MODEL BATCH STEPS
 *
 * MODEL is mlp (784-256-128-10 ReLU, kiln_mlp), resnet8 (kiln_model_build's resnet with
 * one basic block per stage) or any kiln_model_build name (lenet, resnet, ...). It
 * trains with SGD, momentum 0.9 and lr 0.01 (resnet models: lr 0.05, weight decay 5e-4)
 * on Fashion-MNIST normalized with the training set's mean and std (random data of the
 * same size when it is not installed), in shuffled batches, reading the loss back after
 * every step as `kiln train` does. After N warm-up steps (default 5: kernel builds,
 * caches) it times STEPS steps and prints one line:
 *
 *   kiln BACKEND MODEL batch B: X images/s (S steps in T s, loss L; per step D launches,
 *   B barriers, W host waits, C ms of CPU time)
 *
 * C is the process's CPU time (every thread's: OpenMP's, OpenBLAS's, a CPU driver's)
 * over the timed steps: on a machine shared with other work it shows what a step costs
 * the cores, spinning threads included, where the images/s show what it got of them.
 *
 * It uses the public API only: the model is built the way tools/kiln.c builds it, and
 * each step is a batch upload and kiln_train_step. Not run by meson test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_data.h"
#include "kiln.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the whole process, every thread's. */
static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_train: %s: %s\n", what, kiln_last_error());
    return 1;
}

/* Appends the model to g and returns its loss; *resnet says which recipe applies. */
static kiln_tensor *build(kiln_graph *g, const char *name, int64_t batch, kiln_tensor **x,
                          kiln_tensor **y, int *resnet)
{
    int64_t yd[1] = {batch};
    kiln_tensor *logits;
    *resnet = 0;
    *y = kiln_input(g, "y", KILN_DTYPE_I32, 1, yd);
    if (strcmp(name, "mlp") == 0) {
        static const int64_t sizes[3] = {256, 128, 10};
        int64_t xd[2] = {batch, 784};
        *x = kiln_input(g, "x", KILN_DTYPE_F32, 2, xd);
        logits = kiln_mlp(g, *x, 3, sizes, KILN_ACTIVATION_RELU, NULL);
    } else {
        struct kiln_model_options mo = KILN_MODEL_OPTIONS_INIT;
        kiln_model m;
        int64_t xd[4] = {batch, 1, 28, 28};
        if (strcmp(name, "resnet8") == 0) {
            m = KILN_MODEL_RESNET;
            mo.depth = 1;
        } else if (kiln_model_from_name(name, &m) != KILN_OK) {
            return NULL;
        }
        *resnet = m == KILN_MODEL_RESNET;
        *x = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
        logits = kiln_model_build(g, m, *x, &mo);
    }
    return kiln_tensor_keep(kiln_softmax_xent(g, logits, *y));
}

int main(int argc, char **argv)
{
    const char *dir = "/usr/share/datasets/fashion-mnist", *pos[3];
    int64_t warmup = 5;
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
            warmup = atoll(argv[++i]);
        } else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (n_pos < 3) {
            pos[n_pos++] = argv[i];
        } else {
            n_pos = 0;
            break;
        }
    }
    if (n_pos != 3 || warmup < 0) {
        fprintf(stderr, "usage: bench_train [--warmup N] [--data DIR] mlp|lenet|resnet8|MODEL "
                        "BATCH STEPS\n");
        return 2;
    }
    const char *name = pos[0];
    int64_t batch = atoll(pos[1]), steps = atoll(pos[2]);
    struct kiln_dataset train = {0};
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    kiln_context *ctx = NULL;
    kiln_graph *g = NULL;
    kiln_batch_iter *it = NULL;
    kiln_optimizer *opt;
    kiln_tensor *x, *y, *loss;
    float *xb = NULL, lv = 0.0f;
    int32_t *yb = NULL;
    int resnet, rc = 1;
    double mean, std;

    if (batch < 1 || steps < 1) {
        fprintf(stderr, "bench_train: BATCH and STEPS must be positive\n");
        return 2;
    }
    if (kiln_dataset_load_mnist(dir, "train", 0, &train) == KILN_OK) {
        kiln_dataset_stats(&train, &mean, &std);
        kiln_dataset_normalize(&train, mean, std);
    } else if (!bench_fake_data(&train)) {
        fprintf(stderr, "bench_train: out of memory\n");
        return 1;
    }
    xb = malloc((size_t)(batch * train.dim) * sizeof(float));
    yb = malloc((size_t)batch * sizeof(int32_t));
    if (xb == NULL || yb == NULL) {
        fprintf(stderr, "bench_train: out of memory\n");
        goto done;
    }
    if (kiln_context_create(NULL, &ctx) != KILN_OK || kiln_graph_create(ctx, &g) != KILN_OK) {
        rc = fail("creating a context");
        goto done;
    }
    loss = build(g, name, batch, &x, &y, &resnet);
    if (loss == NULL) {
        rc = fail("unknown model");
        goto done;
    }
    oo.momentum = 0.9f;
    oo.lr = resnet ? 0.05f : 0.01f;
    oo.weight_decay = resnet ? 5e-4f : 0.0f;
    if (kiln_graph_backward(g, loss) != KILN_OK || kiln_graph_compile(g) != KILN_OK ||
        kiln_optimizer_create(kiln_graph_store(g), &oo, &opt) != KILN_OK) {
        rc = fail("building the model");
        goto done;
    }
    if (kiln_batch_iter_create(&train, batch, KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST, 0, &it) !=
        KILN_OK) {
        rc = fail("creating the batch iterator");
        goto done;
    }
    double t0 = 0.0, c0 = 0.0;
    struct kiln_stats st = {0};
    for (int64_t s = 0, epoch = 0; s < warmup + steps; s++) {
        int64_t got;
        if (s == warmup) {
            t0 = now();
            c0 = cpu_now();
            kiln_context_reset_stats(ctx);
        }
        if (kiln_batch_iter_next(it, xb, yb, &got) != KILN_OK) {
            rc = fail("reading a batch");
            goto done;
        }
        if (got == 0) { /* the epoch is over */
            kiln_batch_iter_reset(it, ++epoch);
            s--;
            continue;
        }
        if (kiln_tensor_upload(x, xb, (size_t)(batch * train.dim) * sizeof(float)) != KILN_OK ||
            kiln_tensor_upload(y, yb, (size_t)batch * sizeof(int32_t)) != KILN_OK ||
            kiln_train_step(g, opt) != KILN_OK ||
            kiln_tensor_download(loss, &lv, sizeof(lv)) != KILN_OK) {
            rc = fail("training");
            goto done;
        }
    }
    double secs = now() - t0, cpu = cpu_now() - c0;
    kiln_context_stats(ctx, &st);
    printf("kiln %s %s batch %lld: %.0f images/s (%lld steps in %.3f s, loss %.4f; per step "
           "%.1f launches, %.1f barriers, %.2f host waits, %.1f ms of CPU time)\n",
           kiln_context_backend(ctx), name, (long long)batch, (double)(steps * batch) / secs,
           (long long)steps, secs, (double)lv, (double)st.dispatches / (double)steps,
           (double)st.barriers / (double)steps, (double)st.host_waits / (double)steps,
           1e3 * cpu / (double)steps);
    rc = 0;

done:
    kiln_batch_iter_destroy(it);
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    free(xb);
    free(yb);
    kiln_dataset_fini(&train);
    return rc;
}
