/*
 * predict.c - `kiln predict CHECKPOINT FILE...`: classifies PNG images of any size with
 * the classifier of a `kiln train` checkpoint and prints the most probable classes with
 * their probabilities. Each image is read with kiln_png_read and converted to the
 * model's input with kiln_image_convert (alpha over --background, BT.601 luma for a
 * one-channel model, stretched to the training images' size by area averaging or
 * bilinear interpolation, optionally inverted), then padded and normalized as the
 * training images were (model_prepare_input). Models of another input kind plug in
 * through predict_kinds[]: the text classifiers classify each non-empty line of each
 * file ("-": standard input; in a label<TAB>text line, the text after the first tab).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

struct predict_args {
    int64_t top;
    double background;
    int invert, json;
};

#define PA(f) offsetof(struct predict_args, f)

static const struct opt_def predict_opts[] = {
    {"--top", "K", OPT_INT, PA(top), 1, MAX_CLASSES, NULL, 1, NULL,
     "print the K most probable classes of each input", 0},
    {"--background", "G", OPT_REAL0, PA(background), 0, 1, NULL, 1, "0 (black)",
     "gray level in [0, 1] that transparent pixels are composited over (1: white)", 0},
    {"--invert", NULL, OPT_FLAG, PA(invert), 0, 0, NULL, 1, NULL,
     "invert the converted image (dark drawings on white for a model trained on light on "
     "dark, as Fashion-MNIST)",
     0},
    {"--json", NULL, OPT_FLAG, PA(json), 0, 0, NULL, 1, NULL, "print one JSON object per input", 0},
};

#define N_OPTS ((int)(sizeof(predict_opts) / sizeof(predict_opts[0])))

static void predict_defaults(struct predict_args *a)
{
    memset(a, 0, sizeof(*a));
    a->top = 3;
}

void predict_help(FILE *f)
{
    struct predict_args d;
    predict_defaults(&d);
    fprintf(
        f,
        "usage: kiln predict CHECKPOINT FILE... [options]\n\n"
        "Classifies PNG images of any size, colour type and bit depth with the classifier\n"
        "of a `kiln train` checkpoint: each image becomes the model's input as\n"
        "kiln_image_convert documents (alpha over --background, BT.601 luma, stretched to\n"
        "the training images' size), padded and normalized as in training. Prints the\n"
        "most probable classes with their probabilities.\n\n"
        "With a text classifier (kiln train textcnn|textrnn|textattn), each FILE is text (\"-\":\n"
        "standard input) and each non-empty line is classified (in a label<TAB>text\n"
        "line, the text after the tab), printed as FILE:LINE.\n\noptions:\n");
    opts_help(f, predict_opts, N_OPTS, 1, &d);
}

static void print_top(const struct predict_args *a, const struct model_cfg *cfg, const char *file,
                      const float *p)
{
    int32_t order[MAX_CLASSES];
    int32_t c = cfg->n_classes, k = (int32_t)(a->top < c ? a->top : c);
    for (int32_t i = 0; i < c; i++) {
        order[i] = i;
    }
    for (int32_t i = 0; i < k; i++) { /* partial selection sort: the k largest, stable */
        int32_t best = i;
        for (int32_t j = i + 1; j < c; j++) {
            best = p[order[j]] > p[order[best]] ? j : best;
        }
        int32_t tmp = order[i];
        order[i] = order[best];
        order[best] = tmp;
    }
    if (a->json) {
        printf("{\"file\": \"%s\", \"top\": [", file);
        for (int32_t i = 0; i < k; i++) {
            printf("%s{\"class\": %d, \"name\": \"%s\", \"probability\": %.6f}", i ? ", " : "",
                   order[i], cfg->labels[order[i]], (double)p[order[i]]);
        }
        printf("]}\n");
        return;
    }
    printf("%s:", file);
    for (int32_t i = 0; i < k; i++) {
        printf("%s %s %.4f", i ? "," : "", cfg->labels[order[i]], (double)p[order[i]]);
    }
    printf("\n");
}

/* Images: converted, prepared and classified one batch of c->x's size at a time. */
static int predict_images(const struct predict_args *a, const struct model_cfg *cfg,
                          struct classifier *c, const char *const *files, int n)
{
    struct kiln_image_convert_options co = KILN_IMAGE_CONVERT_OPTIONS_INIT;
    int64_t in = cfg->channels * cfg->height * cfg->width;
    int64_t img = cfg->channels * cfg->image_h * cfg->image_w;
    float *x = calloc((size_t)in, sizeof(float)), *conv = malloc((size_t)img * sizeof(float));
    float *p = malloc((size_t)cfg->n_classes * sizeof(float));
    int rc = x != NULL && conv != NULL && p != NULL ? EXIT_SUCCESS : EXIT_FAILURE;
    co.channels = (int32_t)cfg->channels;
    co.h = (int32_t)cfg->image_h;
    co.w = (int32_t)cfg->image_w;
    co.background = (float)a->background;
    co.invert = a->invert;
    for (int i = 0; rc == EXIT_SUCCESS && i < n; i++) {
        struct kiln_image im = {0};
        if (kiln_png_read(files[i], &im) != KILN_OK ||
            kiln_image_convert(&im, &co, conv) != KILN_OK) {
            kiln_image_fini(&im);
            rc = fail("reading the image");
            break;
        }
        kiln_image_fini(&im);
        model_prepare_input(cfg, conv, x);
        if (kiln_tensor_upload(c->x, x, (size_t)in * sizeof(float)) != KILN_OK ||
            kiln_graph_eval(c->g, 1, &c->probs) != KILN_OK ||
            kiln_tensor_download(c->probs, p, (size_t)cfg->n_classes * sizeof(float)) != KILN_OK) {
            rc = fail("classifying");
            break;
        }
        print_top(a, cfg, files[i], p);
    }
    free(p);
    free(conv);
    free(x);
    return rc;
}

/* Reads file ("-": standard input) whole into *buf (free()); returns 0 after printing
 * why. */
static int read_all(const char *file, char **buf, size_t *n)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    size_t cap = 1 << 16, used = 0, got = 0;
    char *b = malloc(cap + 1);
    if (f == NULL || b == NULL) {
        fprintf(stderr, "kiln predict: cannot read %s: %s\n", file,
                f == NULL ? strerror(errno) : "out of memory");
        free(b);
        return 0;
    }
    while ((got = fread(b + used, 1, cap - used, f)) > 0) {
        used += got;
        char *nb = used == cap ? realloc(b, 2 * cap + 1) : b;
        if (nb == NULL) {
            break;
        }
        cap = used == cap ? 2 * cap : cap;
        b = nb;
    }
    int ok = !ferror(f) && used < cap;
    if (f != stdin) {
        fclose(f);
    }
    if (!ok) {
        fprintf(stderr, "kiln predict: cannot read %s\n", file);
        free(b);
        return 0;
    }
    b[used] = '\0';
    *buf = b;
    *n = used;
    return 1;
}

/* The non-empty lines of buf as a split (views into buf, which it does not own; label
 * 0; the text after the first tab when there is one). Returns 0 after printing why. */
static int lines_split(const char *file, char *buf, size_t n, struct kiln_text_split *s)
{
    int64_t cap = 1;
    for (size_t i = 0; i < n; i++) {
        cap += buf[i] == '\n';
    }
    memset(s, 0, sizeof(*s));
    s->labels = calloc((size_t)cap, sizeof(int32_t));
    s->texts = malloc((size_t)cap * sizeof(char *));
    s->n_chars = malloc((size_t)cap * sizeof(int64_t));
    s->lines = malloc((size_t)cap * sizeof(int64_t));
    if (s->labels == NULL || s->texts == NULL || s->n_chars == NULL || s->lines == NULL) {
        fprintf(stderr, "kiln predict: out of memory\n");
        return 0;
    }
    char *p = buf;
    for (int64_t line = 1; p < buf + n; line++) {
        char *end = strchr(p, '\n');
        end = end != NULL ? end : buf + n;
        *end = '\0';
        if (end > p && end[-1] == '\r') {
            end[-1] = '\0';
        }
        char *tab = strchr(p, '\t'), *text = tab != NULL ? tab + 1 : p;
        int64_t nc = 0;
        if (kiln_utf8_decode(text, strlen(text), NULL, &nc) != KILN_OK) {
            fprintf(stderr, "kiln predict: %s, line %lld: %s\n", file, (long long)line,
                    kiln_last_error());
            return 0;
        }
        if (nc > 0) {
            s->texts[s->n] = text;
            s->n_chars[s->n] = nc;
            s->lines[s->n++] = line;
        }
        p = end + 1;
    }
    return 1;
}

static void split_free(struct kiln_text_split *s)
{
    free(s->labels);
    free(s->texts);
    free(s->n_chars);
    free(s->lines);
}

/* Classifies the lines of one file with an opened text classifier. */
static int predict_file(const struct predict_args *a, const struct model_cfg *cfg,
                        struct text_nets *nets, const kiln_vocab *v, const char *file)
{
    enum { BATCH = 32 };
    struct kiln_text_split split;
    struct kiln_text_batch b;
    kiln_text_iter *it = NULL;
    char *buf = NULL, name[4200];
    size_t n = 0;
    float *p = malloc((size_t)(BATCH * cfg->n_classes) * sizeof(float)), *all = NULL;
    int rc = EXIT_FAILURE;
    memset(&split, 0, sizeof(split));
    if (p == NULL || !read_all(file, &buf, &n) || !lines_split(file, buf, n, &split)) {
        goto done;
    }
    all = malloc((size_t)(split.n * cfg->n_classes + 1) * sizeof(float));
    if (all == NULL || (split.n > 0 && !text_iter_for(cfg, &split, v, BATCH, 0, &it))) {
        goto done;
    }
    while (it != NULL && kiln_text_iter_next(it, &b) == KILN_OK && b.n > 0) {
        if (text_nets_eval(nets, &b, p, NULL) != KILN_OK) {
            fail("classifying");
            goto done;
        }
        for (int64_t i = 0; i < b.n; i++) {
            memcpy(all + b.index[i] * cfg->n_classes, p + i * cfg->n_classes,
                   (size_t)cfg->n_classes * sizeof(float));
        }
    }
    for (int64_t i = 0; i < split.n; i++) {
        snprintf(name, sizeof(name), "%s:%lld", file, (long long)split.lines[i]);
        print_top(a, cfg, name, all + i * cfg->n_classes);
    }
    rc = EXIT_SUCCESS;
done:
    kiln_text_iter_destroy(it);
    split_free(&split);
    free(all);
    free(buf);
    free(p);
    return rc;
}

/* Text classifiers: each non-empty line of each file, printed as FILE:LINE. */
static int predict_texts(const struct predict_args *a, const struct model_cfg *cfg,
                         struct classifier *c, const char *const *files, int n)
{
    struct text_nets nets;
    kiln_context *ctx = NULL;
    kiln_vocab *v = NULL;
    (void)c;
    int rc = text_open(cfg, 32, &ctx, &v, &nets);
    for (int i = 0; rc == EXIT_SUCCESS && i < n; i++) {
        rc = predict_file(a, cfg, &nets, v, files[i]);
    }
    text_close(ctx, v, &nets);
    return rc;
}

/* Per-kind prediction: a handler that builds the model of that kind from cfg (a text
 * model's vocabulary is in cfg->vocab) and classifies the files. */
typedef int (*predict_fn)(const struct predict_args *a, const struct model_cfg *cfg,
                          struct classifier *c, const char *const *files, int n);
static const struct {
    const char *kind;
    predict_fn run;
} predict_kinds[] = {
    {"image", predict_images},
    {"text", predict_texts},
};

int cmd_predict(int argc, char **argv)
{
    struct predict_args a;
    const char **pos = malloc(sizeof(*pos) * (size_t)(argc > 0 ? argc : 1));
    int n_pos = 0, help = 0, rc;
    struct model_cfg cfg;
    struct classifier c;
    kiln_meta *meta = NULL;
    kiln_context *ctx = NULL;
    predict_defaults(&a);
    if (pos == NULL ||
        !opts_parse("predict", predict_opts, N_OPTS, 1, argc, argv, &a, pos, argc, &n_pos, &help)) {
        free(pos);
        return EXIT_USAGE;
    }
    if (help) {
        predict_help(stdout);
        free(pos);
        return EXIT_SUCCESS;
    }
    if (n_pos < 2) {
        fprintf(stderr, "kiln predict: expects a checkpoint and at least one file (see kiln help "
                        "predict)\n");
        free(pos);
        return EXIT_USAGE;
    }
    memset(&cfg, 0, sizeof(cfg));
    rc = model_open(pos[0], 1, &cfg, &meta, &ctx, &c);
    predict_fn run = NULL;
    for (size_t k = 0; k < sizeof(predict_kinds) / sizeof(predict_kinds[0]); k++) {
        run = strcmp(cfg.input_kind, predict_kinds[k].kind) == 0 ? predict_kinds[k].run : run;
    }
    if (rc == EXIT_SUCCESS && run == NULL) {
        fprintf(stderr, "kiln predict: this kiln cannot run models of input kind '%s'\n",
                cfg.input_kind);
        rc = EXIT_FAILURE;
    }
    if (rc == EXIT_SUCCESS) {
        rc = run(&a, &cfg, &c, pos + 1, n_pos - 1);
    }
    model_close(&cfg, meta, ctx, &c);
    free(pos);
    return rc;
}
