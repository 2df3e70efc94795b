/*
 * train_convnet.c - train one of kiln's ready-made conv nets on Fashion-MNIST with the
 * public API. Built once per model (train_lenet, train_alexnet, train_vgg,
 * train_googlenet, train_resnet: KILN_EXAMPLE_MODEL names it).
 *
 * It loads the data, builds the model on 28x28 inputs, prints its parameter count and
 * FLOPs per image, and trains with SGD (momentum 0.9) from a loader that normalizes each
 * batch with the training set's mean and std (plus, with --augment, a random crop from
 * 2-pixel padding and a horizontal flip) on its own thread while the step runs. Usage:
 *
 *   ./train_lenet [--augment] [EPOCHS [DIR]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

#ifndef KILN_EXAMPLE_MODEL
#define KILN_EXAMPLE_MODEL "lenet"
#endif
#define BATCH 64

static int die(const char *what)
{
    fprintf(stderr, "%s failed: %s\n", what, kiln_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: train_%s [--augment] [EPOCHS [DIR]]\n\n"
               "Trains kiln's %s on Fashion-MNIST (default 1 epoch; SGD, momentum 0.9, batch\n"
               "64) from a prefetching loader that normalizes each batch (with --augment: a\n"
               "random crop from 2-pixel padding and a horizontal flip), printing the test\n"
               "accuracy per epoch. DIR holds the IDX files (default\n"
               "/usr/share/datasets/fashion-mnist). KILN_BACKEND picks the backend.\n",
               KILN_EXAMPLE_MODEL, KILN_EXAMPLE_MODEL);
        return 0;
    }
    int augment = argc > 1 && strcmp(argv[1], "--augment") == 0;
    int epochs = argc > 1 + augment ? atoi(argv[1 + augment]) : 1;
    const char *dir = argc > 2 + augment ? argv[2 + augment] : "/usr/share/datasets/fashion-mnist";
    struct kiln_dataset train = {0}, test = {0};
    double mean, std;
    kiln_model model;

    if (kiln_model_from_name(KILN_EXAMPLE_MODEL, &model) != KILN_OK) {
        return die("finding the model");
    }
    /* 1. Data. The training set stays in [0, 1]: the loader pads, crops and flips the raw
     *    pixels and then normalizes, as torchvision does; the test set is normalized once. */
    if (kiln_dataset_load_mnist(dir, "train", 0, &train) != KILN_OK ||
        kiln_dataset_load_mnist(dir, "t10k", 0, &test) != KILN_OK) {
        return die("loading Fashion-MNIST");
    }
    kiln_dataset_stats(&train, &mean, &std);
    kiln_dataset_normalize(&test, mean, std);

    struct kiln_augment aug = KILN_AUGMENT_INIT;
    aug.pad = augment ? 2 : 0;
    aug.random_crop = aug.hflip = augment;
    aug.normalize = 1;
    aug.mean[0] = (float)mean;
    aug.std[0] = (float)std;
    struct kiln_loader_options lo = KILN_LOADER_OPTIONS_INIT;
    lo.batch_size = BATCH;
    lo.augment = &aug;
    kiln_loader *loader;
    if (kiln_loader_create(&train, &lo, &loader) != KILN_OK) {
        return die("creating the loader");
    }

    /* 2. The model: x [B, 1, 28, 28] -> logits [B, 10], loss and predictions. */
    kiln_context *ctx;
    kiln_graph *g;
    if (kiln_context_create(NULL, &ctx) != KILN_OK || kiln_graph_create(ctx, &g) != KILN_OK) {
        return die("creating a context");
    }
    struct kiln_classifier m = KILN_CLASSIFIER_INIT;
    int64_t xd[4] = {BATCH, 1, 28, 28}, yd[1] = {BATCH};
    m.x = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
    m.y = kiln_input(g, "y", KILN_DTYPE_I32, 1, yd);
    struct kiln_model_options mo = KILN_MODEL_OPTIONS_INIT;
    if (model == KILN_MODEL_RESNET) {
        mo.depth = 1; /* ResNet-8: affordable on a CPU; depth 3 is ResNet-20 */
    }
    kiln_tensor *logits = kiln_model_build(g, model, m.x, &mo);
    m.loss = kiln_tensor_keep(kiln_softmax_xent(g, logits, m.y));
    m.pred = kiln_tensor_keep(kiln_argmax(g, logits));

    /* 3. SGD with momentum; compiling plans memory and initializes the parameters. */
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.lr = 0.01f;
    oo.momentum = 0.9f;
    if (kiln_graph_backward(g, m.loss) != KILN_OK || kiln_graph_compile(g) != KILN_OK ||
        kiln_optimizer_create(kiln_graph_store(g), &oo, &m.optimizer) != KILN_OK) {
        return die("building the model");
    }
    printf("%s on %s: %lld parameters, %.2f MFLOPs per image\n", KILN_EXAMPLE_MODEL,
           kiln_context_backend(ctx), (long long)kiln_graph_n_param_elems(g),
           kiln_graph_flops(g, BATCH) / 1e6);

    /* 4. Train, evaluating on the test set after every epoch. */
    struct kiln_fit_options fo = KILN_FIT_OPTIONS_INIT;
    struct kiln_fit_result res;
    fo.epochs = epochs;
    fo.callback = kiln_fit_print;
    if (kiln_fit_loader(&m, loader, NULL, &test, &fo, &res) != KILN_OK) {
        return die("training");
    }
    printf("test accuracy %.4f after %d epochs (%.0f images/s)\n", res.test_accuracy, res.epochs,
           res.images_per_s);

    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    kiln_loader_destroy(loader);
    kiln_dataset_fini(&test);
    kiln_dataset_fini(&train);
    return 0;
}
