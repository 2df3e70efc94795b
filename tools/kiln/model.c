/*
 * model.c - the models of `kiln train` as a configuration that a checkpoint's metadata
 * carries, and the graphs built from it: the classifier with its loss for training,
 * or its softmax probabilities for evaluation and prediction. `kiln eval`,
 * `kiln predict` and `--resume` rebuild a model from the metadata alone:
 *
 *   "model"          the model name (mlp, lenet, alexnet, vgg, googlenet, resnet, gan)
 *   "config"         JSON: input [C, H, W], image [h, w] (centred zero padding makes the
 *                    input), classes, depth, width, seed, loss, label_smoothing,
 *                    input_kind ("image"; "text" for text models), nz, g_width, d_width
 *   "normalization"  JSON: {"mean": [m], "std": [s]}, applied to pixels in [0, 1]
 *   "labels"         JSON: the class names
 *   "vocab"          text models: the vocabulary (kiln_vocab_save), with the label names
 *
 * A text model's config has no input and image sizes but its own options
 * (text_common.c: cell, hidden, layers, embed, widths, max_len...), and no
 * normalization.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                              "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};

static char *dup_str(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* The class names of --class-names (NULL: Fashion-MNIST's; "digits": 0 to 9); a name
 * the list lacks is the class number. */
static void set_labels(struct model_cfg *cfg, const char *list)
{
    for (int32_t i = 0; i < cfg->n_classes; i++) {
        char num[16];
        snprintf(num, sizeof(num), "%d", i);
        const char *name = num;
        size_t len = strlen(num);
        if (list == NULL && i < 10) {
            name = fashion_names[i];
            len = strlen(name);
        } else if (list != NULL && strcmp(list, "digits") != 0) {
            const char *p = list;
            for (int32_t k = 0; k < i && p != NULL; k++) {
                p = strchr(p, ',');
                p = p != NULL ? p + 1 : NULL;
            }
            if (p != NULL && strcspn(p, ",") > 0) {
                name = p;
                len = strcspn(p, ",");
            }
        }
        cfg->labels[i] = dup_str(name, len);
    }
}

void model_cfg_from_args(struct model_cfg *cfg, const struct train_args *a, double mean, double std)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->model, sizeof(cfg->model), "%s", a->model);
    int gan = strcmp(a->model, "gan") == 0, mlp = strcmp(a->model, "mlp") == 0;
    cfg->channels = 1;
    cfg->image_h = cfg->image_w = 28;
    cfg->height = cfg->width = gan || mlp ? 28 : a->size;
    cfg->n_classes = gan ? 0 : 10;
    cfg->depth = (int32_t)a->depth;
    cfg->width_param = (int32_t)a->width;
    cfg->seed = (uint64_t)a->seed;
    snprintf(cfg->loss, sizeof(cfg->loss), "%s", gan ? "bce" : a->loss);
    cfg->label_smoothing = a->label_smoothing;
    cfg->mean = mean;
    cfg->std = std;
    snprintf(cfg->input_kind, sizeof(cfg->input_kind), "image");
    cfg->nz = 64;
    cfg->g_width = a->width;
    cfg->d_width = 2 * a->width;
    set_labels(cfg, a->class_names);
}

void model_cfg_fini(struct model_cfg *cfg)
{
    for (int32_t i = 0; i < MAX_CLASSES; i++) {
        free(cfg->labels[i]);
        cfg->labels[i] = NULL;
    }
    free(cfg->vocab);
    free(cfg->data);
    cfg->vocab = cfg->data = NULL;
}

static kiln_status set_json(kiln_meta *meta, const char *key, cJSON *obj)
{
    char *s = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (s == NULL) {
        fprintf(stderr, "kiln: out of memory writing metadata\n");
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    kiln_status st = kiln_meta_set(meta, key, s);
    cJSON_free(s);
    return st;
}

static cJSON *int_array(int n, const int64_t *v)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a != NULL && i < n; i++) {
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    }
    return a;
}

kiln_status model_cfg_to_meta(const struct model_cfg *cfg, kiln_meta *meta)
{
    int64_t input[3] = {cfg->channels, cfg->height, cfg->width};
    int64_t image[2] = {cfg->image_h, cfg->image_w};
    int text = strcmp(cfg->input_kind, "text") == 0;
    KILN_TRY_CLI(kiln_meta_set(meta, "model", cfg->model));
    if (text && cfg->vocab != NULL) {
        KILN_TRY_CLI(kiln_meta_set(meta, "vocab", cfg->vocab));
    }
    cJSON *c = cJSON_CreateObject();
    if (c != NULL && text) {
        text_cfg_to_json(cfg, c);
    } else if (c != NULL) {
        cJSON_AddItemToObject(c, "input", int_array(3, input));
        cJSON_AddItemToObject(c, "image", int_array(2, image));
    }
    if (c != NULL) {
        cJSON_AddStringToObject(c, "model", cfg->model);
        cJSON_AddNumberToObject(c, "classes", cfg->n_classes);
        cJSON_AddNumberToObject(c, "depth", cfg->depth);
        cJSON_AddNumberToObject(c, "width", cfg->width_param);
        cJSON_AddNumberToObject(c, "seed", (double)cfg->seed);
        cJSON_AddStringToObject(c, "loss", cfg->loss);
        cJSON_AddNumberToObject(c, "label_smoothing", cfg->label_smoothing);
        cJSON_AddStringToObject(c, "input_kind", cfg->input_kind);
        cJSON_AddNumberToObject(c, "nz", (double)cfg->nz);
        cJSON_AddNumberToObject(c, "g_width", (double)cfg->g_width);
        cJSON_AddNumberToObject(c, "d_width", (double)cfg->d_width);
    }
    KILN_TRY_CLI(set_json(meta, "config", c));
    cJSON *n = text ? NULL : cJSON_CreateObject();
    if (n != NULL) {
        cJSON_AddItemToObject(n, "mean", cJSON_CreateDoubleArray(&cfg->mean, 1));
        cJSON_AddItemToObject(n, "std", cJSON_CreateDoubleArray(&cfg->std, 1));
    }
    if (!text) {
        KILN_TRY_CLI(set_json(meta, "normalization", n));
    }
    cJSON *l = cJSON_CreateArray();
    for (int32_t i = 0; l != NULL && i < cfg->n_classes; i++) {
        cJSON_AddItemToArray(l, cJSON_CreateString(cfg->labels[i] ? cfg->labels[i] : ""));
    }
    return set_json(meta, "labels", l);
}

/* A number of object o named key, or def when absent; *ok = 0 when not a number. */
static double num(const cJSON *o, const char *key, double def, int *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v == NULL) {
        return def;
    }
    if (!cJSON_IsNumber(v)) {
        *ok = 0;
        return def;
    }
    return v->valuedouble;
}

static void str(const cJSON *o, const char *key, char *dst, size_t n, int *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v != NULL && !cJSON_IsString(v)) {
        *ok = 0;
    } else if (v != NULL) {
        snprintf(dst, n, "%s", v->valuestring);
    }
}

static int dims_of(const cJSON *o, const char *key, int n, int64_t *out)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) {
        return 0;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *d = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 1 || d->valuedouble > 65536) {
            return 0;
        }
        out[i] = (int64_t)d->valuedouble;
    }
    return 1;
}

static int parse_norm(struct model_cfg *cfg, const char *json)
{
    cJSON *n = json != NULL ? cJSON_Parse(json) : NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(n, "mean");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(n, "std");
    int ok = cJSON_IsArray(m) && cJSON_IsArray(s) && cJSON_GetArraySize(m) >= 1 &&
             cJSON_GetArraySize(s) >= 1 && cJSON_IsNumber(cJSON_GetArrayItem(m, 0)) &&
             cJSON_IsNumber(cJSON_GetArrayItem(s, 0));
    if (ok) {
        cfg->mean = cJSON_GetArrayItem(m, 0)->valuedouble;
        cfg->std = cJSON_GetArrayItem(s, 0)->valuedouble;
        ok = cfg->std > 0.0;
    }
    cJSON_Delete(n);
    return ok;
}

static int parse_labels(struct model_cfg *cfg, const char *json)
{
    cJSON *l = json != NULL ? cJSON_Parse(json) : NULL;
    int ok = cJSON_IsArray(l) && cJSON_GetArraySize(l) == cfg->n_classes;
    for (int32_t i = 0; ok && i < cfg->n_classes; i++) {
        const cJSON *e = cJSON_GetArrayItem(l, i);
        ok = cJSON_IsString(e);
        cfg->labels[i] = ok ? dup_str(e->valuestring, strlen(e->valuestring)) : NULL;
        ok = ok && cfg->labels[i] != NULL;
    }
    cJSON_Delete(l);
    return ok;
}

/* The text part of cfg: the model's options in config c, the vocabulary, and the data
 * set of the run's options. */
static int text_from_meta(struct model_cfg *cfg, const kiln_meta *meta, const cJSON *c)
{
    const char *vocab = kiln_meta_get(meta, "vocab"), *opts = kiln_meta_get(meta, "options");
    if (!text_cfg_from_json(cfg, c) || vocab == NULL) {
        return 0;
    }
    cfg->vocab = dup_str(vocab, strlen(vocab));
    cJSON *o = opts != NULL ? cJSON_Parse(opts) : NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "data");
    if (cJSON_IsString(d) && d->valuestring[0] != '\0') {
        cfg->data = dup_str(d->valuestring, strlen(d->valuestring));
    }
    cJSON_Delete(o);
    return cfg->vocab != NULL;
}

int model_cfg_from_meta(struct model_cfg *cfg, const kiln_meta *meta, const char *path)
{
    memset(cfg, 0, sizeof(*cfg));
    const char *name = kiln_meta_get(meta, "model"), *json = kiln_meta_get(meta, "config");
    if (name == NULL || json == NULL) {
        fprintf(stderr,
                "kiln: %s has no model metadata (\"model\", \"config\"): it was not written by "
                "kiln train\n",
                path);
        return 0;
    }
    cJSON *c = cJSON_Parse(json);
    int64_t input[3] = {0, 0, 0}, image[2] = {0, 0};
    int ok = c != NULL;
    snprintf(cfg->model, sizeof(cfg->model), "%s", name);
    snprintf(cfg->input_kind, sizeof(cfg->input_kind), "image");
    cfg->n_classes = (int32_t)num(c, "classes", 0, &ok);
    cfg->depth = (int32_t)num(c, "depth", 3, &ok);
    cfg->width_param = (int32_t)num(c, "width", 16, &ok);
    cfg->seed = (uint64_t)num(c, "seed", 0, &ok);
    cfg->label_smoothing = num(c, "label_smoothing", 0, &ok);
    cfg->nz = (int64_t)num(c, "nz", 64, &ok);
    cfg->g_width = (int64_t)num(c, "g_width", 16, &ok);
    cfg->d_width = (int64_t)num(c, "d_width", 32, &ok);
    snprintf(cfg->loss, sizeof(cfg->loss), "xent");
    str(c, "loss", cfg->loss, sizeof(cfg->loss), &ok);
    str(c, "input_kind", cfg->input_kind, sizeof(cfg->input_kind), &ok);
    int text = strcmp(cfg->input_kind, "text") == 0;
    ok = ok && cfg->n_classes >= 0 && cfg->n_classes <= MAX_CLASSES;
    if (ok && text) {
        ok = text_from_meta(cfg, meta, c);
    } else if (ok) {
        ok = dims_of(c, "input", 3, input) && dims_of(c, "image", 2, image);
    }
    cJSON_Delete(c);
    if (!ok || train_scope(cfg->model) == 0) {
        model_cfg_fini(cfg);
        fprintf(stderr, "kiln: %s: malformed model metadata (model '%s', config %s)\n", path, name,
                json);
        return 0;
    }
    cfg->channels = input[0];
    cfg->height = input[1];
    cfg->width = input[2];
    cfg->image_h = image[0];
    cfg->image_w = image[1];
    if (!text && cfg->n_classes > 0 && !parse_norm(cfg, kiln_meta_get(meta, "normalization"))) {
        fprintf(stderr, "kiln: %s: malformed or missing \"normalization\" metadata\n", path);
        return 0;
    }
    if (cfg->n_classes > 0 && !parse_labels(cfg, kiln_meta_get(meta, "labels"))) {
        model_cfg_fini(cfg);
        fprintf(stderr, "kiln: %s: malformed or missing \"labels\" metadata (%d classes)\n", path,
                cfg->n_classes);
        return 0;
    }
    return 1;
}

/* The loss of the classifier's logits: cross-entropy (with label smoothing), hinge, or
 * the mean squared error against one-hot labels. */
static kiln_tensor *loss_of(kiln_graph *g, const struct model_cfg *cfg, struct classifier *c,
                            int64_t batch)
{
    if (strcmp(cfg->loss, "hinge") == 0) {
        return kiln_hinge_loss(g, c->logits, c->y);
    }
    if (strcmp(cfg->loss, "mse") == 0) {
        int64_t od[2] = {batch, cfg->n_classes};
        c->y_onehot = kiln_input(g, "y_onehot", KILN_DTYPE_F32, 2, od);
        return kiln_mse_loss(g, c->logits, c->y_onehot);
    }
    kiln_tensor *l = kiln_softmax_xent(g, c->logits, c->y);
    float e = (float)cfg->label_smoothing;
    if (e <= 0.0f) {
        return l;
    }
    /* PyTorch's label smoothing: (1 - e) CE + e mean over classes of -log p, mean over
     * the batch, i.e. e times minus the mean of all log-probabilities. */
    kiln_tensor *lp = kiln_mean(g, kiln_log_softmax(g, c->logits), 3u, 0);
    return kiln_add(g, kiln_scale(g, l, 1.0f - e), kiln_scale(g, lp, -e));
}

kiln_status classifier_build(kiln_context *ctx, kiln_store *store, const struct model_cfg *cfg,
                             int64_t batch, int training, struct classifier *c)
{
    memset(c, 0, sizeof(*c));
    KILN_TRY_CLI(store != NULL ? kiln_graph_create_in(store, &c->g)
                               : kiln_graph_create(ctx, &c->g));
    kiln_graph *g = c->g;
    if (strcmp(cfg->model, "mlp") == 0) {
        static const int64_t hidden[2] = {256, 128};
        int64_t sizes[3] = {hidden[0], hidden[1], cfg->n_classes};
        int64_t xd[2] = {batch, cfg->channels * cfg->height * cfg->width};
        struct kiln_dense_options dense = KILN_DENSE_OPTIONS_INIT;
        dense.seed = cfg->seed;
        c->x = kiln_input(g, "x", KILN_DTYPE_F32, 2, xd);
        c->logits = kiln_mlp(g, c->x, 3, sizes, KILN_ACTIVATION_RELU, &dense);
    } else {
        struct kiln_model_options mo = KILN_MODEL_OPTIONS_INIT;
        int64_t xd[4] = {batch, cfg->channels, cfg->height, cfg->width};
        kiln_model m;
        KILN_TRY_CLI(kiln_model_from_name(cfg->model, &m));
        mo.seed = cfg->seed;
        mo.depth = cfg->depth;
        mo.width = cfg->width_param;
        mo.n_classes = cfg->n_classes;
        c->x = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
        c->logits = kiln_model_build(g, m, c->x, &mo);
    }
    c->pred = kiln_tensor_keep(kiln_argmax(g, c->logits));
    if (training) {
        int64_t yd[1] = {batch};
        c->y = kiln_input(g, "y", KILN_DTYPE_I32, 1, yd);
        c->loss = kiln_tensor_keep(loss_of(g, cfg, c, batch));
        KILN_TRY_CLI(kiln_graph_backward(g, c->loss));
    } else {
        c->probs = kiln_tensor_keep(kiln_softmax(g, c->logits));
    }
    return kiln_graph_compile(g);
}

void model_prepare_input(const struct model_cfg *cfg, const float *img, float *dst)
{
    int64_t c = cfg->channels, h = cfg->image_h, w = cfg->image_w;
    int64_t oy = (cfg->height - h) / 2, ox = (cfg->width - w) / 2;
    float mean = (float)cfg->mean, inv = (float)(1.0 / cfg->std);
    for (int64_t k = 0; k < c; k++) {
        for (int64_t y = 0; y < cfg->height; y++) {
            for (int64_t x = 0; x < cfg->width; x++) {
                int64_t sy = y - oy, sx = x - ox;
                float v =
                    sy >= 0 && sy < h && sx >= 0 && sx < w ? img[(k * h + sy) * w + sx] : 0.0f;
                dst[(k * cfg->height + y) * cfg->width + x] = (v - mean) * inv;
            }
        }
    }
}

int model_open(const char *path, int64_t batch, struct model_cfg *cfg, kiln_meta **meta,
               kiln_context **ctx, struct classifier *c)
{
    struct kiln_load_options lo = KILN_LOAD_OPTIONS_INIT;
    memset(c, 0, sizeof(*c));
    *ctx = NULL;
    if (kiln_meta_read(path, meta) != KILN_OK) {
        return fail("reading the checkpoint");
    }
    if (!model_cfg_from_meta(cfg, *meta, path)) {
        return EXIT_FAILURE;
    }
    cfg->source = path;
    if (cfg->n_classes < 1) {
        fprintf(stderr, "kiln: %s is a checkpoint of %s, which is not a classifier\n", path,
                cfg->model);
        return EXIT_FAILURE;
    }
    if (strcmp(cfg->input_kind, "image") != 0) {
        return EXIT_SUCCESS; /* the caller's handler for that kind builds the model */
    }
    if (open_context(ctx, NULL) != EXIT_SUCCESS) {
        return EXIT_FAILURE;
    }
    if (classifier_build(*ctx, NULL, cfg, batch, 0, c) != KILN_OK) {
        return fail("building the model");
    }
    if (kiln_checkpoint_load(kiln_graph_store(c->g), path, &lo, NULL) != KILN_OK) {
        return fail("loading the weights");
    }
    return EXIT_SUCCESS;
}

void model_close(struct model_cfg *cfg, kiln_meta *meta, kiln_context *ctx, struct classifier *c)
{
    kiln_graph_destroy(c->g);
    c->g = NULL;
    kiln_context_destroy(ctx);
    kiln_meta_destroy(meta);
    model_cfg_fini(cfg);
}
