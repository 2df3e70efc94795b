/*
 * train_mlp.c - train a small classifier on Fashion-MNIST with kiln's public API.
 *
 * Copy this file to start your own program. It loads the data (Debian:
 * `apt-get install dataset-fashion-mnist`), normalizes it with the training set's mean
 * and std, builds a 784-256-128-10 ReLU MLP whose parameters live in a parameter store,
 * trains it for two epochs with SGD and momentum on a graph of batch 64, evaluates it on
 * a second graph of batch 1000 over the same store (no copy of the weights), and prints
 * the test accuracy. The backend comes from KILN_BACKEND (auto, cpu, opencl, vulkan).
 *
 *   cc train_mlp.c $(pkg-config --cflags --libs kiln) -o train_mlp && ./train_mlp [DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

#define BATCH      64
#define EVAL_BATCH 1000

/* Prints the last error and returns 1, for `if (call != KILN_OK) return die(...)`. */
static int die(const char *what)
{
    fprintf(stderr, "%s failed: %s\n", what, kiln_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: train_mlp [DIR]\n\n"
               "Trains a 784-256-128-10 ReLU MLP on Fashion-MNIST for two epochs (SGD, momentum\n"
               "0.9, lr 0.01, batch 64) and prints the test accuracy. DIR holds the IDX files\n"
               "(default: /usr/share/datasets/fashion-mnist). KILN_BACKEND picks the backend.\n");
        return 0;
    }
    const char *dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    struct kiln_dataset train = {0}, test = {0};
    double mean, std;

    /* 1. Data: 60,000 training and 10,000 test images, pixels in [0, 1]. */
    if (kiln_dataset_load_mnist(dir, "train", 0, &train) != KILN_OK ||
        kiln_dataset_load_mnist(dir, "t10k", 0, &test) != KILN_OK) {
        return die("loading Fashion-MNIST");
    }
    kiln_dataset_stats(&train, &mean, &std);
    kiln_dataset_normalize(&train, mean, std);
    kiln_dataset_normalize(&test, mean, std);

    /* 2. A context on the backend chosen by KILN_BACKEND, a parameter store on it, and
     * two graphs borrowing the store's parameters: one to train, one to evaluate. */
    kiln_context *ctx;
    kiln_store *store;
    kiln_graph *g, *eg;
    if (kiln_context_create(NULL, &ctx) != KILN_OK) {
        return die("kiln_context_create");
    }
    if (kiln_store_create(ctx, &store) != KILN_OK || kiln_graph_create_in(store, &g) != KILN_OK ||
        kiln_graph_create_in(store, &eg) != KILN_OK) {
        return die("creating the store and graphs");
    }

    /* 3. The model: builders chain; an error surfaces at the next status-returning call.
     * kiln_dense takes "fc1.weight" etc. from the store, creating them on first use. */
    int64_t x_dims[2] = {BATCH, 784}, y_dims[1] = {BATCH};
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 2, x_dims);
    kiln_tensor *y = kiln_input(g, "y", KILN_DTYPE_I32, 1, y_dims);
    kiln_tensor *h = kiln_relu(g, kiln_dense(g, x, 256, "fc1", NULL));
    h = kiln_relu(g, kiln_dense(g, h, 128, "fc2", NULL));
    kiln_tensor *logits = kiln_dense(g, h, 10, "fc3", NULL);
    /* Kept tensors stay readable after a run: the loss and the predicted classes. */
    kiln_tensor *loss = kiln_tensor_keep(kiln_softmax_xent(g, logits, y));
    kiln_tensor *pred = kiln_tensor_keep(kiln_argmax(g, logits));

    /* The same layers on a larger batch: the same parameters, found by name. */
    int64_t ex_dims[2] = {EVAL_BATCH, 784};
    kiln_tensor *ex = kiln_input(eg, "x", KILN_DTYPE_F32, 2, ex_dims);
    h = kiln_relu(eg, kiln_dense(eg, ex, 256, "fc1", NULL));
    h = kiln_relu(eg, kiln_dense(eg, h, 128, "fc2", NULL));
    kiln_tensor *epred = kiln_tensor_keep(kiln_argmax(eg, kiln_dense(eg, h, 10, "fc3", NULL)));

    /* 4. Backward nodes add the gradients into the store; compile places everything; the
     * optimizer updates the store's parameters from those gradients. */
    if (kiln_graph_backward(g, loss) != KILN_OK || kiln_graph_compile(g) != KILN_OK ||
        kiln_graph_compile(eg) != KILN_OK) {
        return die("compiling the graphs");
    }
    struct kiln_optim_options sgd = KILN_OPTIM_OPTIONS_INIT;
    sgd.lr = 0.01f;
    sgd.momentum = 0.9f;
    kiln_optimizer *opt;
    if (kiln_optimizer_create(store, &sgd, &opt) != KILN_OK) {
        return die("kiln_optimizer_create");
    }
    printf("training on %s (%s)\n", kiln_context_backend(ctx), kiln_context_device(ctx));

    /* 5. Train. kiln_fit shuffles, batches, steps and evaluates after every epoch; for a
     * hand-written loop use kiln_batch_iter_next, kiln_tensor_upload on x and y, and
     * kiln_train_step(g, opt). */
    struct kiln_classifier model = KILN_CLASSIFIER_INIT;
    model.optimizer = opt;
    model.x = x;
    model.y = y;
    model.loss = loss;
    model.pred = pred;
    model.eval_x = ex;
    model.eval_pred = epred;
    struct kiln_fit_options fit = KILN_FIT_OPTIONS_INIT;
    fit.epochs = 2;
    fit.callback = kiln_fit_print; /* a progress bar on a terminal, plain lines otherwise */
    struct kiln_fit_result res;
    if (kiln_fit(&model, &train, NULL, &test, &fit, &res) != KILN_OK) {
        return die("kiln_fit");
    }
    printf("test accuracy %.4f after %lld steps\n", res.test_accuracy, (long long)res.steps);

    kiln_graph_destroy(eg);
    kiln_graph_destroy(g);
    kiln_store_destroy(store); /* after its graphs; it destroys the optimizer */
    kiln_context_destroy(ctx);
    kiln_dataset_fini(&test);
    kiln_dataset_fini(&train);
    return 0;
}
