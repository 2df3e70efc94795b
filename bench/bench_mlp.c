/*
 * bench_mlp.c - times one training epoch of the 784-256-128-10 MLP (SGD, momentum 0.9,
 * lr 0.01; loss read back every step, as `kiln train mlp` does) at batch 64 and 256 on
 * the backend chosen by KILN_BACKEND, and prints images per second. It uses Fashion-MNIST
 * when installed (or the directory given as the first argument), else random data of the
 * same size. Not part of the tests: bench/run_mlp.sh compares it with PyTorch.
 */
#include <stdio.h>

#include "bench_data.h"
#include "kiln.h"

static int die(const char *what)
{
    fprintf(stderr, "bench_mlp: %s: %s\n", what, kiln_last_error());
    return 1;
}

/* Builds the MLP for batch and times one epoch after a few warm-up steps. */
static int bench(kiln_context *ctx, const struct kiln_dataset *train, int64_t batch)
{
    static const int64_t sizes[3] = {256, 128, 10};
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    struct kiln_classifier m = KILN_CLASSIFIER_INIT;
    struct kiln_fit_options fo = KILN_FIT_OPTIONS_INIT;
    struct kiln_fit_result res;
    kiln_graph *g;
    int64_t xd[2] = {batch, train->dim}, yd[1] = {batch};
    if (kiln_graph_create(ctx, &g) != KILN_OK) {
        return die("kiln_graph_create");
    }
    m.x = kiln_input(g, "x", KILN_DTYPE_F32, 2, xd);
    m.y = kiln_input(g, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *logits = kiln_mlp(g, m.x, 3, sizes, KILN_ACTIVATION_RELU, NULL);
    m.loss = kiln_tensor_keep(kiln_softmax_xent(g, logits, m.y));
    m.pred = kiln_tensor_keep(kiln_argmax(g, logits));
    oo.lr = 0.01f;
    oo.momentum = 0.9f;
    if (kiln_graph_backward(g, m.loss) != KILN_OK || kiln_graph_compile(g) != KILN_OK ||
        kiln_optimizer_create(kiln_graph_store(g), &oo, &m.optimizer) != KILN_OK) {
        kiln_graph_destroy(g);
        return die("building the MLP");
    }
    fo.max_steps = 10; /* warm-up: caches, thread pools, kernel builds */
    kiln_status s = kiln_fit(&m, train, NULL, NULL, &fo, &res);
    if (s == KILN_OK) {
        fo.max_steps = 0;
        s = kiln_fit(&m, train, NULL, NULL, &fo, &res);
    }
    kiln_graph_destroy(g);
    if (s != KILN_OK) {
        return die("training");
    }
    printf("kiln %s batch %lld: %.0f images/s (%lld steps in %.2f s, loss %.4f)\n",
           kiln_context_backend(ctx), (long long)batch, res.images_per_s, (long long)res.steps,
           res.train_seconds, res.train_loss);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    struct kiln_dataset train = {0};
    double mean, std;
    kiln_context *ctx;
    int rc = 0;
    if (kiln_dataset_load_mnist(dir, "train", 0, &train) == KILN_OK) {
        kiln_dataset_stats(&train, &mean, &std);
        kiln_dataset_normalize(&train, mean, std);
        printf("data: Fashion-MNIST from %s\n", dir);
    } else if (bench_fake_data(&train)) {
        printf("data: random (Fashion-MNIST not found: %s)\n", kiln_last_error());
    } else {
        fprintf(stderr, "bench_mlp: out of memory\n");
        return 1;
    }
    if (kiln_context_create(NULL, &ctx) != KILN_OK) {
        kiln_dataset_fini(&train);
        return die("kiln_context_create");
    }
    printf("backend %s, device %s\n", kiln_context_backend(ctx), kiln_context_device(ctx));
    rc |= bench(ctx, &train, 64);
    rc |= bench(ctx, &train, 256);
    kiln_context_destroy(ctx);
    kiln_dataset_fini(&train);
    return rc;
}
