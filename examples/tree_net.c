/*
 * tree_net.c - a recursive neural network on boolean-expression trees with kiln's
 * public API: the task of kiln/tree.h (AND, OR, XOR, NOT over 0 and 1, depth up to 6,
 * half true), which a bag-of-symbols model cannot solve because XOR hides a tree's value
 * from its symbol counts. The net (kiln/treenet.h) composes each node's vector from its
 * symbol and its children's vectors with one shared layer, leaves first, batched level
 * by level across the trees of a batch, and classifies the root's vector.
 *
 * Generates N_TRAIN + N_TEST trees (default 8000 + 2000, seed 1, as `data_baselines
 * trees`), trains with Adam (lr 0.002, batch 32) for EPOCHS epochs, and prints the test
 * accuracy after each epoch, then the bag-of-symbols baseline's on the same split. A
 * training graph of batch 32 and an evaluation graph of batch 250 share one parameter
 * store. The backend comes from KILN_BACKEND (auto, cpu, opencl, vulkan).
 *
 *   cc tree_net.c $(pkg-config --cflags --libs kiln) -o tree_net
 *   ./tree_net [EPOCHS [N_TRAIN N_TEST [SEED]]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

#define BATCH      32
#define EVAL_BATCH 250

static int die(const char *what)
{
    fprintf(stderr, "%s failed: %s\n", what, kiln_last_error());
    return 1;
}

/* The accuracy of the net's evaluation graph on trees first .. first + n - 1. */
static int evaluate(kiln_graph *g, const struct kiln_tree_net *net, const struct kiln_tree_set *s,
                    int64_t first, int64_t n, double *acc)
{
    int64_t idx[EVAL_BATCH], right = 0;
    float logits[EVAL_BATCH * 2];
    for (int64_t b = 0; b < n; b += EVAL_BATCH) {
        int64_t m = n - b < EVAL_BATCH ? n - b : EVAL_BATCH;
        for (int64_t j = 0; j < m; j++) {
            idx[j] = first + b + j;
        }
        kiln_tensor *y = net->logits;
        if (kiln_tree_net_upload(net, s, idx, m) != KILN_OK ||
            kiln_graph_eval(g, 1, &y) != KILN_OK ||
            kiln_tensor_download(y, logits, sizeof(logits)) != KILN_OK) {
            return die("evaluating");
        }
        for (int64_t j = 0; j < m; j++) {
            right += (logits[2 * j + 1] > logits[2 * j]) == (s->label[idx[j]] == 1);
        }
    }
    *acc = (double)right / (double)n;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: tree_net [EPOCHS [N_TRAIN N_TEST [SEED]]]\n\n"
               "Trains a recursive tree net on random boolean-expression trees (default 10\n"
               "epochs, 8000 training and 2000 test trees, seed 1) and prints its test accuracy\n"
               "beside the bag-of-symbols baseline's. KILN_BACKEND picks the backend.\n");
        return 0;
    }
    int64_t epochs = argc > 1 ? atoll(argv[1]) : 10;
    int64_t n_train = argc > 3 ? atoll(argv[2]) : 8000, n_test = argc > 3 ? atoll(argv[3]) : 2000;
    uint64_t seed = argc > 4 ? (uint64_t)atoll(argv[4]) : 1;
    if (epochs < 1 || n_train < BATCH || n_test < 1 || n_train % 2 != 0) {
        fprintf(stderr, "tree_net: EPOCHS >= 1, an even N_TRAIN >= %d and N_TEST >= 1\n", BATCH);
        return 2;
    }
    struct kiln_tree_options to = KILN_TREE_OPTIONS_INIT;
    struct kiln_tree_set set = {0};
    to.n_trees = n_train + n_test;
    to.seed = seed;
    if (kiln_tree_generate(&to, &set) != KILN_OK) {
        return die("generating trees");
    }
    kiln_context *ctx = NULL;
    kiln_store *store = NULL;
    kiln_graph *g = NULL, *eg = NULL;
    kiln_optimizer *opt = NULL;
    int64_t *order = malloc((size_t)n_train * sizeof(int64_t));
    int rc = 1;
    struct kiln_tree_caps caps = {0}, ecaps = {0};
    struct kiln_tree_net net, enet;
    struct kiln_tree_net_options no = KILN_TREE_NET_OPTIONS_INIT;
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    /* Graphs' level slots: enough for any batch of the set. */
    if (order == NULL || kiln_tree_net_caps(&set, BATCH, &caps) != KILN_OK ||
        kiln_tree_net_caps(&set, EVAL_BATCH, &ecaps) != KILN_OK ||
        kiln_context_create(NULL, &ctx) != KILN_OK || kiln_store_create(ctx, &store) != KILN_OK ||
        kiln_graph_create_in(store, &g) != KILN_OK || kiln_graph_create_in(store, &eg) != KILN_OK) {
        rc = die("setting up");
        goto done;
    }
    no.batch = BATCH;
    no.seed = seed;
    kiln_tensor *logits = kiln_tree_net_build(g, &no, &caps, &net);
    int64_t ld[1] = {BATCH};
    kiln_tensor *labels = kiln_input(g, "labels", KILN_DTYPE_I32, 1, ld);
    kiln_tensor *loss = kiln_tensor_keep(kiln_softmax_xent(g, logits, labels));
    no.batch = EVAL_BATCH;
    kiln_tree_net_build(eg, &no, &ecaps, &enet);
    oo.kind = KILN_OPTIM_ADAM;
    oo.lr = 0.002f;
    if (kiln_graph_backward(g, loss) != KILN_OK || kiln_graph_compile(g) != KILN_OK ||
        kiln_graph_compile(eg) != KILN_OK || kiln_optimizer_create(store, &oo, &opt) != KILN_OK) {
        rc = die("building the net");
        goto done;
    }
    printf("backend %s: %lld training and %lld test trees, %.1f nodes per tree\n",
           kiln_context_backend(ctx), (long long)n_train, (long long)n_test,
           (double)set.n_nodes / (double)set.n_trees);
    for (int64_t i = 0; i < n_train; i++) {
        order[i] = i;
    }
    uint64_t rs = seed * 2654435761u + 1;
    double acc = 0.0;
    for (int64_t e = 1; e <= epochs; e++) {
        for (int64_t i = n_train - 1; i > 0; i--) { /* Fisher-Yates with an LCG */
            rs = rs * 6364136223846793005ull + 1442695040888963407ull;
            int64_t j = (int64_t)((rs >> 33) % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double sum = 0.0;
        int64_t steps = n_train / BATCH;
        for (int64_t b = 0; b < steps; b++) {
            int32_t lab[BATCH];
            float l;
            for (int j = 0; j < BATCH; j++) {
                lab[j] = set.label[order[b * BATCH + j]];
            }
            if (kiln_tree_net_upload(&net, &set, order + b * BATCH, BATCH) != KILN_OK ||
                kiln_tensor_upload(labels, lab, sizeof(lab)) != KILN_OK ||
                kiln_train_step(g, opt) != KILN_OK ||
                kiln_tensor_download(loss, &l, sizeof(l)) != KILN_OK) {
                rc = die("training");
                goto done;
            }
            sum += l;
        }
        if (evaluate(eg, &enet, &set, n_train, n_test, &acc) != 0) {
            goto done;
        }
        printf("epoch %lld: loss %.4f, test accuracy %.4f\n", (long long)e, sum / (double)steps,
               acc);
    }
    double base = 0.0;
    if (kiln_tree_bag_baseline(&set, n_train, NULL, &base) != KILN_OK) {
        rc = die("the baseline");
        goto done;
    }
    printf("tree net test accuracy %.4f; bag-of-symbols baseline %.4f (same split)\n", acc, base);
    rc = 0;
done:
    kiln_graph_destroy(eg);
    kiln_graph_destroy(g);
    kiln_store_destroy(store);
    kiln_context_destroy(ctx);
    free(order);
    kiln_tree_set_fini(&set);
    return rc;
}
