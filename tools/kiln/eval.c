/*
 * eval.c - `kiln eval CHECKPOINT`: rebuilds a classifier from its checkpoint's metadata
 * (model.c), runs it in inference mode over a Fashion-MNIST split (the pixels prepared
 * as in training: centred padding, the checkpoint's normalization) and reports top-1
 * and top-5 accuracy, the mean cross-entropy, each class's precision and recall, and
 * the confusion matrix, as text or JSON. Models of another input kind plug in through
 * eval_kinds[]: the text classifiers read a split of their label<TAB>text data set
 * (the one they trained on, unless --data names another) through the vocabulary in
 * the checkpoint.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

struct eval_args {
    const char *data, *split;
    int64_t limit, batch;
    int json;
};

#define EA(f) offsetof(struct eval_args, f)

static const struct opt_def eval_opts[] = {
    {"--data", "DIR", OPT_STR, EA(data), 0, 0, NULL, 1, NULL,
     "directory with the IDX files of Fashion-MNIST (or MNIST); for a text classifier, with "
     "train.tsv and test.tsv (default: the data set it trained on)",
     0},
    {"--split", NULL, OPT_CHOICE, EA(split), 0, 0, "test|train", 1, NULL,
     "which split: the 10,000 test images or the 60,000 training images", 0},
    {"--limit", "N", OPT_INT, EA(limit), 1, INT64_MAX / 2, NULL, 1, "all",
     "evaluate the first N images only", 0},
    {"--batch", "B", OPT_INT, EA(batch), 1, 65536, NULL, 1, NULL, "images per run", 0},
    {"--json", NULL, OPT_FLAG, EA(json), 0, 0, NULL, 1, NULL, "print the results as JSON", 0},
};

static void eval_defaults(struct eval_args *a)
{
    memset(a, 0, sizeof(*a));
    a->data = DEFAULT_DATA;
    a->split = "test";
    a->batch = 256;
}

void eval_help(FILE *f)
{
    struct eval_args d;
    eval_defaults(&d);
    fprintf(f, "usage: kiln eval CHECKPOINT [options]\n\n"
               "Rebuilds the classifier of a `kiln train` checkpoint from its metadata and prints\n"
               "its accuracy (top-1, and top-5 with more than 5 classes), mean cross-entropy,\n"
               "each class's precision and recall, and the confusion matrix.\n\noptions:\n");
    opts_help(f, eval_opts, (int)(sizeof(eval_opts) / sizeof(eval_opts[0])), 1, &d);
}

/* What the evaluation counts. */
struct tally {
    int32_t c;
    int64_t n, top1, top5;
    double xent;
    int64_t *conf; /* [c, c]: true class (row), predicted class (column) */
};

static void count(struct tally *t, const float *probs, int32_t y)
{
    int32_t best = 0, rank = 0;
    for (int32_t k = 1; k < t->c; k++) {
        best = probs[k] > probs[best] ? k : best;
    }
    for (int32_t k = 0; k < t->c; k++) {
        rank += probs[k] > probs[y] || (probs[k] == probs[y] && k < y);
    }
    t->n++;
    t->top1 += best == y;
    t->top5 += rank < 5;
    t->xent += -log(probs[y] > 1e-30f ? (double)probs[y] : 1e-30);
    t->conf[(int64_t)y * t->c + best]++;
}

static int run_images(const struct eval_args *a, const struct model_cfg *cfg, struct classifier *c,
                      struct tally *t)
{
    struct kiln_dataset ds = {0};
    if (kiln_dataset_load_mnist(a->data, strcmp(a->split, "test") == 0 ? "t10k" : "train", a->limit,
                                &ds) != KILN_OK) {
        return fail("reading the data");
    }
    int64_t in = cfg->channels * cfg->height * cfg->width, b = a->batch;
    float *x = calloc((size_t)(b * in), sizeof(float));
    float *p = malloc((size_t)(b * cfg->n_classes) * sizeof(float));
    int rc = EXIT_SUCCESS;
    if (x == NULL || p == NULL || ds.dim != cfg->channels * cfg->image_h * cfg->image_w) {
        fprintf(stderr,
                "kiln eval: %s items of %lld values do not fit the model's %lldx%lldx%lld "
                "images (or out of memory)\n",
                a->data, (long long)ds.dim, (long long)cfg->channels, (long long)cfg->image_h,
                (long long)cfg->image_w);
        rc = EXIT_FAILURE;
    }
    for (int64_t i0 = 0; rc == EXIT_SUCCESS && i0 < ds.n; i0 += b) {
        int64_t m = ds.n - i0 < b ? ds.n - i0 : b;
        for (int64_t i = 0; i < m; i++) {
            model_prepare_input(cfg, ds.x + (i0 + i) * ds.dim, x + i * in);
        }
        if (kiln_tensor_upload(c->x, x, (size_t)(b * in) * sizeof(float)) != KILN_OK ||
            kiln_graph_eval(c->g, 1, &c->probs) != KILN_OK ||
            kiln_tensor_download(c->probs, p, (size_t)(b * cfg->n_classes) * sizeof(float)) !=
                KILN_OK) {
            rc = fail("evaluating");
            break;
        }
        for (int64_t i = 0; i < m; i++) {
            if (ds.y[i0 + i] < 0 || ds.y[i0 + i] >= cfg->n_classes) {
                fprintf(stderr, "kiln eval: label %d of item %lld is not a class of the model\n",
                        ds.y[i0 + i], (long long)(i0 + i));
                rc = EXIT_FAILURE;
                break;
            }
            count(t, p + i * cfg->n_classes, ds.y[i0 + i]);
        }
    }
    free(p);
    free(x);
    kiln_dataset_fini(&ds);
    return rc;
}

/* The data a text classifier is evaluated on: --data, else the data set of its run. */
static const char *text_data(const struct eval_args *a, const struct model_cfg *cfg)
{
    if (strcmp(a->data, DEFAULT_DATA) != 0) {
        return a->data;
    }
    return cfg->data != NULL ? cfg->data : text_default_data(cfg->model);
}

/* Text classifiers: the split of a label<TAB>text data set, its labels matched to the
 * model's classes by name. */
static int run_texts(const struct eval_args *a, const struct model_cfg *cfg, struct classifier *c,
                     struct tally *t)
{
    struct kiln_text_data td = {0};
    struct text_nets nets;
    struct kiln_text_batch b;
    kiln_context *ctx = NULL;
    kiln_vocab *v = NULL;
    kiln_text_iter *it = NULL;
    int32_t map[MAX_CLASSES];
    float *p = malloc((size_t)(a->batch * cfg->n_classes) * sizeof(float));
    int rc = EXIT_FAILURE;
    (void)c;
    memset(&nets, 0, sizeof(nets));
    if (p == NULL || kiln_text_data_load(text_data(a, cfg), &td) != KILN_OK) {
        fail("reading the data");
        goto done;
    }
    struct kiln_text_split *split = strcmp(a->split, "test") == 0 ? &td.test : &td.train;
    split->n = a->limit > 0 && a->limit < split->n ? a->limit : split->n;
    for (int32_t i = 0; i < td.n_classes; i++) {
        int32_t k = 0;
        while (k < cfg->n_classes && strcmp(td.label_names[i], cfg->labels[k]) != 0) {
            k++;
        }
        if (i >= MAX_CLASSES || k == cfg->n_classes) {
            fprintf(stderr, "kiln eval: the label '%s' of %s is not a class of the model\n",
                    td.label_names[i], text_data(a, cfg));
            goto done;
        }
        map[i] = k;
    }
    if (text_open(cfg, a->batch, &ctx, &v, &nets) != EXIT_SUCCESS ||
        !text_iter_for(cfg, split, v, a->batch, 0, &it)) {
        goto done;
    }
    while (kiln_text_iter_next(it, &b) == KILN_OK && b.n > 0) {
        if (text_nets_eval(&nets, &b, p, NULL) != KILN_OK) {
            fail("evaluating");
            goto done;
        }
        for (int64_t i = 0; i < b.n; i++) {
            count(t, p + i * cfg->n_classes, map[b.labels[i]]);
        }
    }
    rc = EXIT_SUCCESS;
done:
    kiln_text_iter_destroy(it);
    text_close(ctx, v, &nets);
    kiln_text_data_fini(&td);
    free(p);
    return rc;
}

/* Per-kind evaluation: a function that reads the data of a model's kind and fills the
 * tally. */
typedef int (*eval_fn)(const struct eval_args *a, const struct model_cfg *cfg, struct classifier *c,
                       struct tally *t);
static const struct {
    const char *kind;
    eval_fn run;
} eval_kinds[] = {
    {"image", run_images},
    {"text", run_texts},
};

static double ratio(int64_t a, int64_t b)
{
    return b > 0 ? (double)a / (double)b : NAN;
}

static void print_json(const char *path, const struct model_cfg *cfg, const struct tally *t)
{
    printf("{\"checkpoint\": \"%s\", \"model\": \"%s\", \"n\": %lld, \"accuracy\": %.6f, ", path,
           cfg->model, (long long)t->n, ratio(t->top1, t->n));
    if (t->c > 5) {
        printf("\"top5_accuracy\": %.6f, ", ratio(t->top5, t->n));
    }
    printf("\"cross_entropy\": %.6f, \"classes\": [", t->xent / (double)(t->n ? t->n : 1));
    for (int32_t k = 0; k < t->c; k++) {
        int64_t tp = t->conf[(int64_t)k * t->c + k], pred = 0, sup = 0;
        for (int32_t j = 0; j < t->c; j++) {
            pred += t->conf[(int64_t)j * t->c + k];
            sup += t->conf[(int64_t)k * t->c + j];
        }
        double pr = ratio(tp, pred), rc = ratio(tp, sup);
        printf("%s{\"name\": \"%s\", \"precision\": %.6f, \"recall\": %.6f, \"support\": %lld}",
               k ? ", " : "", cfg->labels[k], isnan(pr) ? 0.0 : pr, isnan(rc) ? 0.0 : rc,
               (long long)sup);
    }
    printf("], \"confusion\": [");
    for (int32_t k = 0; k < t->c; k++) {
        printf("%s[", k ? ", " : "");
        for (int32_t j = 0; j < t->c; j++) {
            printf("%s%lld", j ? ", " : "", (long long)t->conf[(int64_t)k * t->c + j]);
        }
        printf("]");
    }
    printf("]}\n");
}

static void print_text(const char *path, const struct eval_args *a, const struct model_cfg *cfg,
                       const struct tally *t)
{
    printf("checkpoint: %s (%s, %d classes)\n", path, cfg->model, cfg->n_classes);
    int text = strcmp(cfg->input_kind, "text") == 0;
    printf("data: %s, %s split: %lld %s\n", text ? text_data(a, cfg) : a->data, a->split,
           (long long)t->n, text ? "texts" : "images");
    printf("accuracy: %.4f", ratio(t->top1, t->n));
    if (t->c > 5) {
        printf(" (top-5: %.4f)", ratio(t->top5, t->n));
    }
    printf(", cross-entropy %.4f\n\n", t->xent / (double)(t->n ? t->n : 1));
    printf("%-16s %9s %9s %8s\n", "class", "precision", "recall", "support");
    for (int32_t k = 0; k < t->c; k++) {
        int64_t tp = t->conf[(int64_t)k * t->c + k], pred = 0, sup = 0;
        for (int32_t j = 0; j < t->c; j++) {
            pred += t->conf[(int64_t)j * t->c + k];
            sup += t->conf[(int64_t)k * t->c + j];
        }
        char pr[16] = "        -", rc[16] = "        -";
        if (pred > 0) {
            snprintf(pr, sizeof(pr), "%9.4f", ratio(tp, pred));
        }
        if (sup > 0) {
            snprintf(rc, sizeof(rc), "%9.4f", ratio(tp, sup));
        }
        printf("%-16.16s %s %s %8lld\n", cfg->labels[k], pr, rc, (long long)sup);
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted class):\n%6s", "");
    for (int32_t j = 0; j < t->c; j++) {
        printf(" %5d", j);
    }
    printf("\n");
    for (int32_t k = 0; k < t->c; k++) {
        printf("%5d:", k);
        for (int32_t j = 0; j < t->c; j++) {
            printf(" %5lld", (long long)t->conf[(int64_t)k * t->c + j]);
        }
        printf("  %s\n", cfg->labels[k]);
    }
}

int cmd_eval(int argc, char **argv)
{
    struct eval_args a;
    const char *pos[1];
    int n_pos = 0, help = 0, rc;
    struct model_cfg cfg;
    struct classifier c;
    kiln_meta *meta = NULL;
    kiln_context *ctx = NULL;
    eval_defaults(&a);
    if (!opts_parse("eval", eval_opts, (int)(sizeof(eval_opts) / sizeof(eval_opts[0])), 1, argc,
                    argv, &a, pos, 1, &n_pos, &help)) {
        return EXIT_USAGE;
    }
    if (help) {
        eval_help(stdout);
        return EXIT_SUCCESS;
    }
    if (n_pos != 1) {
        fprintf(stderr, "kiln eval: expects one checkpoint (see kiln help eval)\n");
        return EXIT_USAGE;
    }
    memset(&cfg, 0, sizeof(cfg));
    rc = model_open(pos[0], a.batch, &cfg, &meta, &ctx, &c);
    struct tally t = {cfg.n_classes, 0, 0, 0, 0.0, NULL};
    eval_fn run = NULL;
    for (size_t k = 0; k < sizeof(eval_kinds) / sizeof(eval_kinds[0]); k++) {
        run = strcmp(cfg.input_kind, eval_kinds[k].kind) == 0 ? eval_kinds[k].run : run;
    }
    if (rc == EXIT_SUCCESS && run == NULL) {
        fprintf(stderr, "kiln eval: this kiln cannot evaluate models of input kind '%s'\n",
                cfg.input_kind);
        rc = EXIT_FAILURE;
    }
    if (rc == EXIT_SUCCESS) {
        t.conf = calloc((size_t)cfg.n_classes * (size_t)cfg.n_classes, sizeof(int64_t));
        rc = t.conf != NULL ? run(&a, &cfg, &c, &t) : EXIT_FAILURE;
    }
    if (rc == EXIT_SUCCESS && a.json) {
        print_json(pos[0], &cfg, &t);
    } else if (rc == EXIT_SUCCESS) {
        print_text(pos[0], &a, &cfg, &t);
    }
    free(t.conf);
    model_close(&cfg, meta, ctx, &c);
    return rc;
}
