/*
 * train_image.c - `kiln train mlp` (the 784-256-128-10 MLP on Fashion-MNIST) and
 * `kiln train lenet|alexnet|vgg|googlenet|resnet` (conv nets from batches augmented and
 * prefetched on a loader thread), reporting accuracy and throughput.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* Builds and compiles the classifier graph. */
static kiln_status build_mlp(kiln_context *ctx, const struct train_args *a, int64_t dim,
                             kiln_graph **g, struct kiln_classifier *m)
{
    static const int64_t sizes[3] = {256, 128, 10};
    struct kiln_dense_options dense = KILN_DENSE_OPTIONS_INIT;
    int64_t xd[2] = {a->batch, dim}, yd[1] = {a->batch};
    kiln_status s = kiln_graph_create(ctx, g);
    if (s != KILN_OK) {
        return s;
    }
    dense.seed = a->seed;
    m->x = kiln_input(*g, "x", KILN_DTYPE_F32, 2, xd);
    m->y = kiln_input(*g, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *logits = kiln_mlp(*g, m->x, 3, sizes, KILN_ACTIVATION_RELU, &dense);
    m->loss = kiln_tensor_keep(kiln_softmax_xent(*g, logits, m->y));
    m->pred = kiln_tensor_keep(kiln_argmax(*g, logits));
    struct kiln_optim_options oo = optim_options(a);
    s = kiln_graph_backward(*g, m->loss);
    if (s == KILN_OK) {
        s = kiln_graph_compile(*g);
    }
    if (s == KILN_OK) {
        s = kiln_optimizer_create(kiln_graph_store(*g), &oo, &m->optimizer);
    }
    return s;
}

int cmd_train_mlp(int argc, char **argv)
{
    struct train_args a = {
        .epochs = 1, .batch = 64, .lr = 0.01, .optimizer = "sgd", .data = DEFAULT_DATA, .size = 28};
    struct kiln_dataset train = {0}, val = {0}, test = {0};
    struct kiln_classifier m = KILN_CLASSIFIER_INIT;
    struct kiln_fit_options fo = KILN_FIT_OPTIONS_INIT;
    struct kiln_fit_result res;
    kiln_context *ctx = NULL;
    kiln_graph *g = NULL;
    int rc = EXIT_FAILURE;

    if (!parse_train_args(argc, argv, &a)) {
        fprintf(stderr, "kiln train: see `kiln --help`\n");
        return EXIT_USAGE;
    }
    double mean, std;
    if (!load_data(&a, &train, &val, &test, 1, NULL, &mean, &std)) {
        goto done;
    }
    if (train.n < a.batch) {
        fprintf(stderr, "kiln train: %lld training images make no batch of %lld\n",
                (long long)train.n, (long long)a.batch);
        goto done;
    }
    if (kiln_context_create(NULL, &ctx) != KILN_OK) {
        rc = fail("creating a context");
        goto done;
    }
    printf("backend: %s, device: %s%s\n", kiln_context_backend(ctx), kiln_context_device(ctx),
           kiln_context_check(ctx) ? " (KILN_CHECK on)" : "");
    if (build_mlp(ctx, &a, train.dim, &g, &m) != KILN_OK) {
        rc = fail("building the MLP");
        goto done;
    }
    printf("model: MLP %lld-256-128-10, ReLU, %lld parameters; %s lr %g%s, batch %lld, "
           "%d epoch%s%s\n",
           (long long)train.dim, (long long)kiln_graph_n_param_elems(g), a.optimizer,
           (double)kiln_optimizer_lr(m.optimizer),
           strcmp(a.optimizer, "sgd") == 0 ? " momentum 0.9" : "", (long long)a.batch, a.epochs,
           a.epochs == 1 ? "" : "s", a.max_steps ? " (step limit)" : "");
    struct stats_track st = {ctx, {0}, {0}, {0}};
    kiln_context_reset_stats(ctx);
    fo.epochs = a.epochs;
    fo.max_steps = a.max_steps;
    fo.seed = a.seed;
    fo.callback = track;
    fo.callback_ud = &st;
    if (kiln_fit(&m, &train, val.n > 0 ? &val : NULL, &test, &fo, &res) != KILN_OK) {
        rc = fail("training");
        goto done;
    }
    printf("test accuracy: %.4f on %lld images after %lld steps (training %.2f s, %.0f "
           "images/s; total with evaluation %.2f s)\n",
           res.test_accuracy, (long long)test.n, (long long)res.steps, res.train_seconds,
           res.images_per_s, res.total_seconds);
    if (a.stats) {
        print_stats(&st, res.steps);
    }
    rc = EXIT_SUCCESS;

done:
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    kiln_dataset_fini(&test);
    kiln_dataset_fini(&val);
    kiln_dataset_fini(&train);
    return rc;
}

/* Pads (centred) a normalized evaluation set to size x size items in place of ds. */
static kiln_status pad_dataset(struct kiln_dataset *ds, int64_t size)
{
    struct kiln_augment aug = KILN_AUGMENT_INIT;
    int64_t h = ds->dims[0], w = ds->dims[1];
    if (ds->n == 0 || (h == size && w == size)) {
        return KILN_OK;
    }
    aug.pad = (int32_t)((size - h + 1) / 2);
    aug.crop_h = aug.crop_w = (int32_t)size;
    float *x = malloc((size_t)(ds->n * size * size) * sizeof(float));
    if (x == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    kiln_status s = kiln_augment_apply(&aug, h, w, ds->n, ds->x, x, 0, 0);
    if (s != KILN_OK) {
        free(x);
        return s;
    }
    free(ds->x);
    ds->x = x;
    ds->dim = size * size;
    ds->dims[0] = ds->dims[1] = size;
    return KILN_OK;
}

/* The progress printer plus an optional cosine learning-rate schedule over all steps. */
struct conv_track {
    struct stats_track st;
    kiln_optimizer *opt;
    double lr0;
    int64_t total_steps;
    int cosine;
};

static int conv_track_cb(void *ud, const struct kiln_fit_progress *p)
{
    struct conv_track *t = ud;
    if (t->cosine && p->event == KILN_FIT_STEP && t->total_steps > 0) {
        double f = (double)p->step / (double)t->total_steps;
        kiln_optimizer_set_lr(t->opt, (float)(0.5 * t->lr0 * (1.0 + cos(3.14159265358979 * f))));
    }
    return track(&t->st, p);
}

static kiln_status build_conv(kiln_context *ctx, const struct train_args *a, kiln_model model,
                              kiln_graph **g, struct kiln_classifier *m)
{
    struct kiln_model_options mo = KILN_MODEL_OPTIONS_INIT;
    int64_t xd[4] = {a->batch, 1, a->size, a->size}, yd[1] = {a->batch};
    KILN_TRY_CLI(kiln_graph_create(ctx, g));
    mo.seed = a->seed;
    if (a->depth > 0) {
        mo.depth = (int32_t)a->depth;
    }
    if (a->width > 0) {
        mo.width = (int32_t)a->width;
    }
    m->x = kiln_input(*g, "x", KILN_DTYPE_F32, 4, xd);
    m->y = kiln_input(*g, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *logits = kiln_model_build(*g, model, m->x, &mo);
    m->loss = kiln_tensor_keep(kiln_softmax_xent(*g, logits, m->y));
    m->pred = kiln_tensor_keep(kiln_argmax(*g, logits));
    struct kiln_optim_options oo = optim_options(a);
    KILN_TRY_CLI(kiln_graph_backward(*g, m->loss));
    KILN_TRY_CLI(kiln_graph_compile(*g));
    return kiln_optimizer_create(kiln_graph_store(*g), &oo, &m->optimizer);
}

int cmd_train_conv(kiln_model model, int argc, char **argv)
{
    struct train_args a = {.epochs = 1,
                           .batch = 64,
                           .lr = 0.01,
                           .optimizer = "sgd",
                           .data = DEFAULT_DATA,
                           .size = 28,
                           .conv = 1};
    struct kiln_dataset train = {0}, val = {0}, test = {0};
    struct kiln_classifier m = KILN_CLASSIFIER_INIT;
    struct kiln_fit_options fo = KILN_FIT_OPTIONS_INIT;
    struct kiln_loader_options lo = KILN_LOADER_OPTIONS_INIT;
    struct kiln_augment aug = KILN_AUGMENT_INIT;
    struct kiln_fit_result res;
    kiln_context *ctx = NULL;
    kiln_graph *g = NULL;
    kiln_loader *loader = NULL;
    double mean, std;
    int rc = EXIT_FAILURE;

    if (model == KILN_MODEL_RESNET) {
        a.lr = 0.05;
        a.wd = 5e-4;
    }
    if (!parse_train_args(argc, argv, &a)) {
        fprintf(stderr, "kiln train: see `kiln --help`\n");
        return EXIT_USAGE;
    }
    if (!load_data(&a, &train, &val, &test, 0, NULL, &mean, &std)) {
        goto done;
    }
    if (train.n < a.batch) {
        fprintf(stderr, "kiln train: %lld training images make no batch of %lld\n",
                (long long)train.n, (long long)a.batch);
        goto done;
    }
    if (pad_dataset(&test, a.size) != KILN_OK || pad_dataset(&val, a.size) != KILN_OK) {
        rc = fail("padding the evaluation data");
        goto done;
    }
    /* torchvision's order: pad and crop the raw image, flip, then normalize */
    aug.pad = (int32_t)(a.size - 28) / 2 + (a.augment ? 2 : 0);
    aug.crop_h = aug.crop_w = (int32_t)a.size;
    aug.random_crop = aug.hflip = a.augment;
    aug.normalize = 1;
    aug.mean[0] = (float)mean;
    aug.std[0] = (float)std;
    lo.batch_size = a.batch;
    lo.seed = a.seed;
    lo.prefetch = !a.no_prefetch;
    lo.augment = &aug;
    if (kiln_loader_create(&train, &lo, &loader) != KILN_OK) {
        rc = fail("creating the loader");
        goto done;
    }
    if (kiln_context_create(NULL, &ctx) != KILN_OK) {
        rc = fail("creating a context");
        goto done;
    }
    printf("backend: %s, device: %s%s\n", kiln_context_backend(ctx), kiln_context_device(ctx),
           kiln_context_check(ctx) ? " (KILN_CHECK on)" : "");
    if (build_conv(ctx, &a, model, &g, &m) != KILN_OK) {
        rc = fail("building the model");
        goto done;
    }
    printf("model: %s, %lld parameters, %.2f MFLOPs per image (forward), input 1x%lldx%lld\n",
           kiln_model_name(model), (long long)kiln_graph_n_param_elems(g),
           kiln_graph_flops(g, a.batch) / 1e6, (long long)a.size, (long long)a.size);
    char wd[48] = "";
    if (a.wd > 0) {
        snprintf(wd, sizeof(wd), ", weight decay %g", a.wd);
    }
    printf("training: %s lr %g%s%s%s, batch %lld, %d epoch%s%s; loader: %s%s\n", a.optimizer,
           (double)kiln_optimizer_lr(m.optimizer),
           strcmp(a.optimizer, "sgd") == 0 ? " momentum 0.9" : "", wd,
           a.cosine ? ", cosine schedule" : "", (long long)a.batch, a.epochs,
           a.epochs == 1 ? "" : "s", a.max_steps ? " (step limit)" : "",
           a.augment ? "random crop (padding 2) and flip, normalized" : "normalized",
           a.no_prefetch ? "" : ", prefetching thread");
    struct conv_track ct = {{ctx, {0}, {0}, {0}}, m.optimizer, 0.0, 0, a.cosine};
    ct.lr0 = kiln_optimizer_lr(m.optimizer);
    ct.total_steps = kiln_loader_n_batches(loader) * a.epochs;
    if (a.max_steps > 0 && a.max_steps < ct.total_steps) {
        ct.total_steps = a.max_steps;
    }
    kiln_context_reset_stats(ctx);
    fo.epochs = a.epochs;
    fo.max_steps = a.max_steps;
    fo.callback = conv_track_cb;
    fo.callback_ud = &ct;
    if (kiln_fit_loader(&m, loader, val.n > 0 ? &val : NULL, &test, &fo, &res) != KILN_OK) {
        rc = fail("training");
        goto done;
    }
    printf("test accuracy: %.4f on %lld images after %lld steps (training %.2f s, %.0f "
           "images/s; total with evaluation %.2f s)\n",
           res.test_accuracy, (long long)test.n, (long long)res.steps, res.train_seconds,
           res.images_per_s, res.total_seconds);
    if (a.stats) {
        print_stats(&ct.st, res.steps);
    }
    if (a.out != NULL) { /* the trained weights (and batch norm's running statistics) */
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s.safetensors", a.out, kiln_model_name(model));
        if (kiln_graph_save(g, path, 0) != KILN_OK) {
            rc = fail("saving the weights");
            goto done;
        }
        printf("weights: %s\n", path);
    }
    rc = EXIT_SUCCESS;

done:
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    kiln_loader_destroy(loader);
    kiln_dataset_fini(&test);
    kiln_dataset_fini(&val);
    kiln_dataset_fini(&train);
    return rc;
}
