/*
 * text_classifier.c - a Chinese text classifier with kiln's public API.
 *
 * Copy this file to start your own text model. It reads a data set of label<TAB>text
 * files (fortunes-zh-5 by default: build it with `ninja -C build
 * tools/data/fortunes-zh-5` or tools/data/make_fortunes_zh.py DIR), builds a character
 * vocabulary from the training texts, and trains kiln_text_classifier (a bidirectional
 * LSTM, or `cnn` for the convolutional model) on padded batches of a fixed length, with
 * a training graph and an evaluation graph over one parameter store; it prints the test
 * accuracy after each epoch. The backend comes from KILN_BACKEND.
 *
 *   cc text_classifier.c $(pkg-config --cflags --libs kiln) -o text_classifier
 *   ./text_classifier [DIR [rnn|cnn [EPOCHS]]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

#define BATCH   64
#define MAX_LEN 128

static int die(const char *what)
{
    fprintf(stderr, "%s failed: %s\n", what, kiln_last_error());
    return 1;
}

/* A padded row (length 0) reads one padding character; its label is -1. */
static void fix_lengths(const struct kiln_text_batch *b, int32_t *len)
{
    for (int64_t i = 0; i < b->batch; i++) {
        len[i] = b->lengths[i] > 0 ? b->lengths[i] : 1;
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: text_classifier [DIR [rnn|cnn [EPOCHS]]]\n\n"
               "Trains kiln_text_classifier (a bidirectional LSTM, or the CNN) on the\n"
               "label<TAB>text files in DIR (default: build/tools/data/fortunes-zh-5) for\n"
               "EPOCHS epochs (default 15) and prints the test accuracy after each.\n"
               "KILN_BACKEND picks the backend.\n");
        return 0;
    }
    const char *dir = argc > 1 ? argv[1] : "build/tools/data/fortunes-zh-5";
    int cnn = argc > 2 && strcmp(argv[2], "cnn") == 0;
    int epochs = argc > 3 ? atoi(argv[3]) : 15;
    struct kiln_text_data td;

    /* 1. Data and vocabulary (ids 0 padding, 1 unknown, then characters by count). */
    if (kiln_text_data_load(dir, &td) != KILN_OK) {
        return die("reading the data set");
    }
    kiln_vocab *v;
    if (kiln_vocab_build((const char *const *)td.train.texts, NULL, td.train.n, NULL, &v) !=
        KILN_OK) {
        return die("building the vocabulary");
    }
    struct kiln_text_iter_options io = KILN_TEXT_ITER_OPTIONS_INIT;
    io.batch_size = BATCH;
    io.max_len = MAX_LEN; /* every batch is [BATCH, MAX_LEN]: one graph of each kind */
    io.flags = KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST;
    kiln_text_iter *train, *test;
    if (kiln_text_iter_create(&td.train, v, &io, &train) != KILN_OK) {
        return die("batching the training texts");
    }
    io.flags = 0;
    if (kiln_text_iter_create(&td.test, v, &io, &test) != KILN_OK) {
        return die("batching the test texts");
    }
    printf("%s: %lld training, %lld test texts, %d classes, %d characters\n", dir,
           (long long)td.train.n, (long long)td.test.n, td.n_classes, kiln_vocab_n_chars(v) - 2);

    /* 2. The model on two graphs over one store: training (loss, backward), evaluation. */
    struct kiln_text_classifier_options o = KILN_TEXT_CLASSIFIER_OPTIONS_INIT;
    o.model = cnn ? KILN_TEXT_CNN : KILN_TEXT_RNN;
    o.vocab = kiln_vocab_size(v);
    o.n_classes = td.n_classes;
    o.bidirectional = 1;
    kiln_context *ctx;
    kiln_store *store;
    kiln_graph *g, *eg;
    if (kiln_context_create(NULL, &ctx) != KILN_OK || kiln_store_create(ctx, &store) != KILN_OK ||
        kiln_graph_create_in(store, &g) != KILN_OK || kiln_graph_create_in(store, &eg) != KILN_OK) {
        return die("creating the context and graphs");
    }
    int64_t idd[2] = {BATCH, MAX_LEN}, nd[1] = {BATCH};
    kiln_tensor *ids = kiln_input(g, "ids", KILN_DTYPE_I32, 2, idd);
    kiln_tensor *len = kiln_input(g, "lengths", KILN_DTYPE_I32, 1, nd);
    kiln_tensor *y = kiln_input(g, "labels", KILN_DTYPE_I32, 1, nd);
    kiln_tensor *loss =
        kiln_tensor_keep(kiln_softmax_xent(g, kiln_text_classifier(g, ids, NULL, len, &o), y));
    kiln_tensor *eids = kiln_input(eg, "ids", KILN_DTYPE_I32, 2, idd);
    kiln_tensor *elen = kiln_input(eg, "lengths", KILN_DTYPE_I32, 1, nd);
    kiln_tensor *pred =
        kiln_tensor_keep(kiln_argmax(eg, kiln_text_classifier(eg, eids, NULL, elen, &o)));
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.kind = KILN_OPTIM_ADAM;
    oo.lr = 0.001f;
    kiln_optimizer *opt;
    if (kiln_graph_backward(g, loss) != KILN_OK || kiln_graph_compile(g) != KILN_OK ||
        kiln_graph_compile(eg) != KILN_OK || kiln_optimizer_create(store, &oo, &opt) != KILN_OK) {
        return die("building the model");
    }

    /* 3. Training, then the test accuracy, every epoch. */
    int32_t lens[BATCH], preds[BATCH];
    size_t ib = sizeof(int32_t) * BATCH * MAX_LEN, nb = sizeof(int32_t) * BATCH;
    for (int e = 0; e < epochs; e++) {
        struct kiln_text_batch b;
        double sum = 0.0;
        int64_t steps = 0, right = 0, n = 0;
        kiln_text_iter_reset(train, e);
        while (kiln_text_iter_next(train, &b) == KILN_OK && b.n > 0) {
            float l;
            fix_lengths(&b, lens);
            if (kiln_tensor_upload(ids, b.ids, ib) != KILN_OK ||
                kiln_tensor_upload(len, lens, nb) != KILN_OK ||
                kiln_tensor_upload(y, b.labels, nb) != KILN_OK ||
                kiln_train_step(g, opt) != KILN_OK ||
                kiln_tensor_download(loss, &l, sizeof(l)) != KILN_OK) {
                return die("training");
            }
            sum += l;
            steps++;
        }
        kiln_text_iter_reset(test, 0);
        while (kiln_text_iter_next(test, &b) == KILN_OK && b.n > 0) {
            fix_lengths(&b, lens);
            if (kiln_tensor_upload(eids, b.ids, ib) != KILN_OK ||
                kiln_tensor_upload(elen, lens, nb) != KILN_OK ||
                kiln_graph_eval(eg, 1, &pred) != KILN_OK ||
                kiln_tensor_download(pred, preds, nb) != KILN_OK) {
                return die("evaluating");
            }
            for (int64_t i = 0; i < b.n; i++) {
                right += preds[i] == b.labels[i];
            }
            n += b.n;
        }
        printf("epoch %d: train loss %.4f, test accuracy %.4f\n", e + 1, sum / (double)steps,
               (double)right / (double)n);
    }

    kiln_graph_destroy(g);
    kiln_graph_destroy(eg);
    kiln_store_destroy(store);
    kiln_context_destroy(ctx);
    kiln_text_iter_destroy(train);
    kiln_text_iter_destroy(test);
    kiln_vocab_destroy(v);
    kiln_text_data_fini(&td);
    return 0;
}
