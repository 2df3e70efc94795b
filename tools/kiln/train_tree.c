/*
 * train_tree.c - `kiln train treenn`: the recursive tree net of kiln/treenet.h on the
 * boolean-expression trees of kiln/tree.h (generated from --seed: --trees for training,
 * then --test-trees for testing, half true), trained with Adam; prints the loss and
 * test accuracy per epoch, then the test accuracy beside the bag-of-symbols baseline's
 * on the same split. --out DIR writes the parameters to DIR/treenn.safetensors. Its
 * options are its own (no --resume or --log yet); the backend comes from KILN_BACKEND.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

struct tree_args {
    int64_t epochs, max_steps, batch, trees, test_trees, depth, dim, hidden, embed, seed;
    double lr;
    const char *out;
    int json, quiet;
};

#define TR(f) offsetof(struct tree_args, f)

static const struct opt_def tree_opts[] = {
    {"--epochs", "N", OPT_INT, TR(epochs), 1, 100000, NULL, 1, NULL, "passes over the trees", 0},
    {"--max-steps", "N", OPT_INT, TR(max_steps), 1, INT64_MAX / 2, NULL, 1, "no limit",
     "stop after N steps", 0},
    {"--batch", "B", OPT_INT, TR(batch), 1, 4096, NULL, 1, NULL, "trees per step", 0},
    {"--lr", "X", OPT_REAL, TR(lr), 0, 0, NULL, 1, NULL, "Adam's learning rate", 0},
    {"--trees", "N", OPT_INT, TR(trees), 2, 10000000, NULL, 1, NULL,
     "training trees (an even number: half true)", 0},
    {"--test-trees", "N", OPT_INT, TR(test_trees), 2, 10000000, NULL, 1, NULL,
     "test trees, generated after the training trees", 0},
    {"--depth", "D", OPT_INT, TR(depth), 3, 6, NULL, 1, NULL, "the trees' greatest height", 0},
    {"--dim", "D", OPT_INT, TR(dim), 1, 4096, NULL, 1, NULL, "size of a node's vector", 0},
    {"--hidden", "H", OPT_INT, TR(hidden), 1, 4096, NULL, 1, NULL,
     "hidden units of the shared composition", 0},
    {"--embed", "E", OPT_INT, TR(embed), 1, 4096, NULL, 1, NULL, "symbol embedding size", 0},
    {"--seed", "S", OPT_INT, TR(seed), 0, INT64_MAX, NULL, 1, NULL,
     "seed of the trees, the initialization and the shuffling", 0},
    {"--out", "DIR", OPT_DIR_OUT, TR(out), 0, 0, NULL, 1, "none",
     "write the parameters to DIR/treenn.safetensors", 0},
    {"--json", NULL, OPT_FLAG, TR(json), 0, 0, NULL, 1, NULL,
     "print only a JSON summary on stdout at the end", 0},
    {"--quiet", NULL, OPT_FLAG, TR(quiet), 0, 0, NULL, 1, NULL, "print nothing but errors", 0},
};

#define N_TREE_OPTS ((int)(sizeof(tree_opts) / sizeof(tree_opts[0])))

static void tree_defaults(struct tree_args *a)
{
    memset(a, 0, sizeof(*a));
    a->epochs = 3;
    a->batch = 32;
    a->lr = 0.002;
    a->trees = 8000;
    a->test_trees = 2000;
    a->depth = 6;
    a->dim = 64;
    a->hidden = 128;
    a->embed = 16;
    a->seed = 1;
}

void treenn_help(FILE *f)
{
    struct tree_args d;
    tree_defaults(&d);
    fprintf(f, "usage: kiln train treenn [options]\n\n"
               "  treenn     a recursive tree net: each node's vector composed from its symbol\n"
               "             and its children's by one shared layer, batched by level across\n"
               "             the trees of a batch; the root's vector classified\n\n"
               "Trains on random boolean-expression trees (AND, OR, XOR, NOT over 0 and 1, half\n"
               "true) with Adam; prints the loss and test accuracy per epoch, then the test\n"
               "accuracy beside the bag-of-symbols baseline's on the same split.\n\noptions:\n");
    opts_help(f, tree_opts, N_TREE_OPTS, 1, &d);
}

/* The state of a run. */
struct tree_run {
    struct tree_args a;
    struct kiln_tree_set set;
    kiln_context *ctx;
    kiln_store *store;
    kiln_graph *g, *eg;
    kiln_optimizer *opt;
    struct kiln_tree_net net, enet;
    kiln_tensor *labels, *loss;
    int64_t *order;
    int32_t *lab;
    float *logits;
};

#define EVAL_BATCH 250

static int evaluate(struct tree_run *r, double *acc)
{
    int64_t idx[EVAL_BATCH], right = 0, first = r->a.trees, n = r->a.test_trees;
    for (int64_t b = 0; b < n; b += EVAL_BATCH) {
        int64_t m = n - b < EVAL_BATCH ? n - b : EVAL_BATCH;
        for (int64_t j = 0; j < m; j++) {
            idx[j] = first + b + j;
        }
        kiln_tensor *y = r->enet.logits;
        if (kiln_tree_net_upload(&r->enet, &r->set, idx, m) != KILN_OK ||
            kiln_graph_eval(r->eg, 1, &y) != KILN_OK ||
            kiln_tensor_download(y, r->logits, (size_t)EVAL_BATCH * 2 * sizeof(float)) != KILN_OK) {
            return fail("evaluating");
        }
        for (int64_t j = 0; j < m; j++) {
            right += (r->logits[2 * j + 1] > r->logits[2 * j]) == (r->set.label[idx[j]] == 1);
        }
    }
    *acc = (double)right / (double)n;
    return EXIT_SUCCESS;
}

static int setup(struct tree_run *r, FILE *info)
{
    const struct tree_args *a = &r->a;
    struct kiln_tree_options to = KILN_TREE_OPTIONS_INIT;
    struct kiln_tree_caps caps = {0}, ecaps = {0};
    struct kiln_tree_net_options no = KILN_TREE_NET_OPTIONS_INIT;
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    to.n_trees = a->trees + a->test_trees;
    to.max_depth = (int32_t)a->depth;
    to.seed = (uint64_t)a->seed;
    if (open_context(&r->ctx, info) != EXIT_SUCCESS) {
        return EXIT_FAILURE;
    }
    if (kiln_tree_generate(&to, &r->set) != KILN_OK) {
        return fail("generating the trees");
    }
    r->order = malloc((size_t)a->trees * sizeof(int64_t));
    r->lab = malloc((size_t)a->batch * sizeof(int32_t));
    r->logits = malloc((size_t)EVAL_BATCH * 2 * sizeof(float));
    if (r->order == NULL || r->lab == NULL || r->logits == NULL) {
        fprintf(stderr, "kiln train: out of memory\n");
        return EXIT_FAILURE;
    }
    no.batch = a->batch;
    no.dim = a->dim;
    no.hidden = a->hidden;
    no.embed = a->embed;
    no.seed = (uint64_t)a->seed;
    oo.kind = KILN_OPTIM_ADAM;
    oo.lr = (float)a->lr;
    if (kiln_tree_net_caps(&r->set, a->batch, &caps) != KILN_OK ||
        kiln_tree_net_caps(&r->set, EVAL_BATCH, &ecaps) != KILN_OK ||
        kiln_store_create(r->ctx, &r->store) != KILN_OK ||
        kiln_graph_create_in(r->store, &r->g) != KILN_OK ||
        kiln_graph_create_in(r->store, &r->eg) != KILN_OK) {
        return fail("setting up the tree net");
    }
    kiln_tensor *y = kiln_tree_net_build(r->g, &no, &caps, &r->net);
    r->labels = kiln_input(r->g, "labels", KILN_DTYPE_I32, 1, &a->batch);
    r->loss = kiln_tensor_keep(kiln_softmax_xent(r->g, y, r->labels));
    no.batch = EVAL_BATCH;
    kiln_tree_net_build(r->eg, &no, &ecaps, &r->enet);
    if (kiln_graph_backward(r->g, r->loss) != KILN_OK || kiln_graph_compile(r->g) != KILN_OK ||
        kiln_graph_compile(r->eg) != KILN_OK ||
        kiln_optimizer_create(r->store, &oo, &r->opt) != KILN_OK) {
        return fail("building the tree net");
    }
    if (info != NULL) {
        fprintf(info,
                "data: %lld training and %lld test trees (depth <= %lld, seed %lld), %.1f nodes "
                "per tree\n",
                (long long)a->trees, (long long)a->test_trees, (long long)a->depth,
                (long long)a->seed, (double)r->set.n_nodes / (double)r->set.n_trees);
        fprintf(info,
                "model: tree net, symbol embedding %lld, composition %lld-%lld-%lld, %lld "
                "parameters; level slots for a batch:",
                (long long)a->embed, (long long)(a->embed + 2 * a->dim), (long long)a->hidden,
                (long long)a->dim, (long long)kiln_store_n_param_elems(r->store));
        for (int32_t k = 0; k < caps.n_levels; k++) {
            fprintf(info, " %lld", (long long)caps.caps[k]);
        }
        fprintf(info, "\ntraining: Adam lr %g, batch %lld, %lld epoch%s\n", a->lr,
                (long long)a->batch, (long long)a->epochs, a->epochs == 1 ? "" : "s");
    }
    return EXIT_SUCCESS;
}

/* One epoch (up to the step limit); adds its steps to *steps. */
static int epoch(struct tree_run *r, int64_t e, int64_t *steps, double *loss)
{
    const struct tree_args *a = &r->a;
    uint64_t rs = (uint64_t)a->seed * 2654435761u + (uint64_t)e;
    for (int64_t i = a->trees - 1; i > 0; i--) { /* Fisher-Yates with an LCG */
        rs = rs * 6364136223846793005ull + 1442695040888963407ull;
        int64_t j = (int64_t)((rs >> 33) % (uint64_t)(i + 1)), t = r->order[i];
        r->order[i] = r->order[j];
        r->order[j] = t;
    }
    double sum = 0.0;
    int64_t n = 0;
    for (int64_t b = 0; b + a->batch <= a->trees; b += a->batch) {
        if (a->max_steps > 0 && *steps >= a->max_steps) {
            break;
        }
        float l;
        for (int64_t j = 0; j < a->batch; j++) {
            r->lab[j] = r->set.label[r->order[b + j]];
        }
        if (kiln_tree_net_upload(&r->net, &r->set, r->order + b, a->batch) != KILN_OK ||
            kiln_tensor_upload(r->labels, r->lab, (size_t)a->batch * sizeof(int32_t)) != KILN_OK ||
            kiln_train_step(r->g, r->opt) != KILN_OK ||
            kiln_tensor_download(r->loss, &l, sizeof(l)) != KILN_OK) {
            return fail("training");
        }
        sum += l;
        n++;
        (*steps)++;
    }
    *loss = n > 0 ? sum / (double)n : 0.0;
    return EXIT_SUCCESS;
}

static int train(struct tree_run *r, FILE *info)
{
    const struct tree_args *a = &r->a;
    double t0 = now_s(), acc = 0.0, base = 0.0, loss = 0.0;
    int64_t steps = 0;
    for (int64_t i = 0; i < a->trees; i++) {
        r->order[i] = i;
    }
    for (int64_t e = 1; e <= a->epochs && (a->max_steps == 0 || steps < a->max_steps); e++) {
        if (epoch(r, e, &steps, &loss) != EXIT_SUCCESS || evaluate(r, &acc) != EXIT_SUCCESS) {
            return EXIT_FAILURE;
        }
        if (info != NULL) {
            printf("epoch %lld: loss %.4f, test accuracy %.4f (%.1f s)\n", (long long)e, loss, acc,
                   now_s() - t0);
        }
    }
    if (kiln_tree_bag_baseline(&r->set, a->trees, NULL, &base) != KILN_OK) {
        return fail("fitting the bag-of-symbols baseline");
    }
    if (a->out != NULL) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/treenn.safetensors", a->out);
        if (kiln_store_save(r->store, path, 0) != KILN_OK) {
            return fail("writing the parameters");
        }
        if (info != NULL) {
            printf("parameters: %s\n", path);
        }
    }
    if (a->json) {
        printf("{\"model\": \"treenn\", \"backend\": \"%s\", \"steps\": %lld, \"loss\": %.6g, "
               "\"test_accuracy\": %.4f, \"baseline_test_accuracy\": %.4f, \"elapsed_s\": %.3f}\n",
               kiln_context_backend(r->ctx), (long long)steps, loss, acc, base, now_s() - t0);
    } else if (!a->quiet) {
        printf("test accuracy %.4f; bag-of-symbols baseline %.4f (same split, logistic regression "
               "on symbol counts)\n",
               acc, base);
    }
    return EXIT_SUCCESS;
}

int cmd_train_treenn(int argc, char **argv)
{
    struct tree_run r;
    int help = 0, rc = EXIT_FAILURE;
    memset(&r, 0, sizeof(r));
    tree_defaults(&r.a);
    if (!opts_parse("train", tree_opts, N_TREE_OPTS, 1, argc, argv, &r.a, NULL, 0, NULL, &help)) {
        fprintf(stderr, "kiln train: see `kiln train treenn --help`\n");
        return EXIT_USAGE;
    }
    if (help) {
        treenn_help(stdout);
        return EXIT_SUCCESS;
    }
    if (r.a.trees % 2 != 0 || r.a.test_trees % 2 != 0 || r.a.batch > r.a.trees) {
        fprintf(stderr, "kiln train treenn: --trees and --test-trees must be even and --batch at "
                        "most --trees\n");
        return EXIT_USAGE;
    }
    FILE *info = r.a.quiet || r.a.json ? NULL : stdout;
    if (setup(&r, info) == EXIT_SUCCESS && train(&r, info) == EXIT_SUCCESS) {
        rc = EXIT_SUCCESS;
    }
    kiln_graph_destroy(r.eg);
    kiln_graph_destroy(r.g);
    kiln_store_destroy(r.store);
    kiln_context_destroy(r.ctx);
    kiln_tree_set_fini(&r.set);
    free(r.order);
    free(r.lab);
    free(r.logits);
    return rc;
}
