/*
 * train_image.c - `kiln train mlp` (the 784-256-128-10 MLP on Fashion-MNIST) and
 * `kiln train lenet|alexnet|vgg|googlenet|resnet` (conv nets from batches augmented and
 * prefetched on a loader thread): builds the model of model.c, optionally from
 * --init-from weights or a --resume checkpoint, trains it with kiln_fit or
 * kiln_fit_loader through run.c (checkpoints, log, progress, early stopping) and
 * reports accuracy and throughput.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

/* Pads (centred) a normalized evaluation set to size x size items, the border filled
 * with fill: the value a zero pixel has after normalization, as in training, where the
 * loader pads the raw images before normalizing them. */
static kiln_status pad_dataset(struct kiln_dataset *ds, int64_t size, float fill)
{
    int64_t h = ds->dims[0], w = ds->dims[1], oy = (size - h) / 2, ox = (size - w) / 2;
    if (ds->n == 0 || (h == size && w == size)) {
        return KILN_OK;
    }
    float *x = malloc((size_t)(ds->n * size * size) * sizeof(float));
    if (x == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    for (int64_t i = 0; i < ds->n; i++) {
        for (int64_t y = 0; y < size; y++) {
            for (int64_t c = 0; c < size; c++) {
                int64_t sy = y - oy, sx = c - ox;
                x[(i * size + y) * size + c] =
                    sy >= 0 && sy < h && sx >= 0 && sx < w ? ds->x[(i * h + sy) * w + sx] : fill;
            }
        }
    }
    free(ds->x);
    ds->x = x;
    ds->dim = size * size;
    ds->dims[0] = ds->dims[1] = size;
    return KILN_OK;
}

static void print_summary(const struct run *r, kiln_context *ctx, const struct kiln_fit_result *res,
                          const struct kiln_dataset *test, int64_t params)
{
    const struct train_args *a = r->a;
    if (r->out != NULL) {
        printf("test accuracy: %.4f on %lld images after %lld steps (training %.2f s, %.0f "
               "images/s; total with evaluation %.2f s)\n",
               res->test_accuracy, (long long)test->n, (long long)res->steps, res->train_seconds,
               res->images_per_s, res->total_seconds);
        if (r->last_checkpoint[0] != '\0') {
            printf("checkpoint: %s\n", r->last_checkpoint);
        }
    }
    if (a->json) {
        char val[32] = "null", tst[32] = "null", loss[32] = "null", ck[4200] = "null";
        if (!isnan(res->val_accuracy)) {
            snprintf(val, sizeof(val), "%.6g", res->val_accuracy);
        }
        if (!isnan(res->test_accuracy)) {
            snprintf(tst, sizeof(tst), "%.6g", res->test_accuracy);
        }
        if (!isnan(res->train_loss)) {
            snprintf(loss, sizeof(loss), "%.6g", res->train_loss);
        }
        if (r->last_checkpoint[0] != '\0') {
            snprintf(ck, sizeof(ck), "\"%s\"", r->last_checkpoint);
        }
        printf("{\"model\": \"%s\", \"backend\": \"%s\", \"device\": \"%s\", \"parameters\": "
               "%lld, \"epochs\": %d, \"steps\": %lld, \"train_loss\": %s, \"val_accuracy\": %s, "
               "\"test_accuracy\": %s, \"train_seconds\": %.3f, \"images_per_s\": %.1f, "
               "\"elapsed_s\": %.3f, \"stopped_early\": %s, \"checkpoint\": %s}\n",
               a->model, kiln_context_backend(ctx), kiln_context_device(ctx), (long long)params,
               res->epochs, (long long)res->steps, loss, val, tst, res->train_seconds,
               res->images_per_s, run_elapsed(r), r->stopped_early ? "true" : "false", ck);
    }
}

/* The training loop's data: the MLP trains from the dataset itself (normalized), the
 * conv nets from a loader (augmentation, normalization, prefetching). */
struct data {
    struct kiln_dataset train, val, test;
    kiln_loader *loader;
    struct kiln_augment aug;
    double mean, std;
};

static int prepare_data(const struct train_args *a, const struct dist *dist, struct data *d,
                        FILE *info)
{
    int mlp = strcmp(a->model, "mlp") == 0;
    struct kiln_loader_options lo = KILN_LOADER_OPTIONS_INIT;
    if (!load_data(a, &d->train, &d->val, &d->test, mlp, NULL, &d->mean, &d->std, info)) {
        return 0;
    }
    if (d->train.n < a->batch) {
        fprintf(stderr, "kiln train: %lld training images make no batch of %lld\n",
                (long long)d->train.n, (long long)a->batch);
        return 0;
    }
    if (mlp) {
        return 1;
    }
    float fill = (float)(-d->mean / d->std);
    if (pad_dataset(&d->test, a->size, fill) != KILN_OK ||
        pad_dataset(&d->val, a->size, fill) != KILN_OK) {
        fail("padding the evaluation data");
        return 0;
    }
    /* torchvision's order: rotate, pad and crop the raw image, flip, then normalize */
    struct kiln_augment init = KILN_AUGMENT_INIT;
    d->aug = init;
    d->aug.pad = (int32_t)(a->size - 28) / 2 + (a->augment ? 2 : 0);
    d->aug.crop_h = d->aug.crop_w = (int32_t)a->size;
    d->aug.random_crop = d->aug.hflip = a->augment;
    d->aug.rotate_degrees = (float)a->rotate;
    d->aug.normalize = 1;
    d->aug.mean[0] = (float)d->mean;
    d->aug.std[0] = (float)d->std;
    lo.batch_size = dist->local_batch;
    lo.shard = dist->rank;
    lo.n_shards = dist->size;
    lo.seed = (uint64_t)a->seed;
    lo.prefetch = !a->no_prefetch;
    lo.augment = &d->aug;
    if (kiln_loader_create(&d->train, &lo, &d->loader) != KILN_OK) {
        fail("creating the loader");
        return 0;
    }
    return 1;
}

static void describe(FILE *f, const struct train_args *a, kiln_graph *g, int64_t graph_batch,
                     kiln_optimizer *opt, const struct kiln_lr_schedule *sched)
{
    char extra[160] = "";
    if (f == NULL) {
        return;
    }
    if (strcmp(a->model, "mlp") == 0) {
        fprintf(f, "model: MLP 784-256-128-10, ReLU, %lld parameters\n",
                (long long)kiln_graph_n_param_elems(g));
    } else {
        fprintf(f,
                "model: %s, %lld parameters, %.2f MFLOPs per image (forward), input 1x%lldx%lld\n",
                a->model, (long long)kiln_graph_n_param_elems(g),
                kiln_graph_flops(g, graph_batch) / 1e6, (long long)a->size, (long long)a->size);
    }
    if (a->wd > 0) {
        snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), ", weight decay %g", a->wd);
    }
    if (sched->kind != KILN_LR_CONSTANT || sched->warmup_steps > 0) {
        snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), ", %s schedule%s",
                 a->cosine ? "cosine" : a->schedule,
                 sched->warmup_steps > 0 ? " with warm-up" : "");
    }
    if (strcmp(a->loss, "xent") != 0 || a->label_smoothing > 0) {
        snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), ", loss %s", a->loss);
        if (a->label_smoothing > 0) {
            snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
                     " with label smoothing %g", a->label_smoothing);
        }
    }
    fprintf(f, "training: %s lr %g%s%s, batch %lld, %lld epoch%s%s", a->optimizer,
            (double)kiln_optimizer_lr(opt), strcmp(a->optimizer, "sgd") == 0 ? " momentum 0.9" : "",
            extra, (long long)a->batch, (long long)a->epochs, a->epochs == 1 ? "" : "s",
            a->max_steps ? " (step limit)" : "");
    if (strcmp(a->model, "mlp") != 0) {
        fprintf(f, "; loader: %s%s%s", a->augment ? "random crop (padding 2) and flip, " : "",
                a->rotate > 0 ? "random rotation, " : "",
                a->no_prefetch ? "normalized" : "normalized, prefetching thread");
    }
    fprintf(f, "\n");
}

int cmd_train_classifier(const char *model, int argc, char **argv)
{
    struct train_args a;
    struct train_setup su;
    struct data d;
    struct model_cfg cfg;
    struct classifier c;
    struct run r;
    struct kiln_fit_result res;
    struct dist dist;
    kiln_context *ctx = NULL;
    kiln_optimizer *opt = NULL;
    int rc = train_parse(model, argc, argv, &a, &su);
    memset(&dist, 0, sizeof(dist));
    memset(&d, 0, sizeof(d));
    memset(&cfg, 0, sizeof(cfg));
    memset(&c, 0, sizeof(c));
    memset(&r, 0, sizeof(r));
    if (rc != EXIT_SUCCESS) {
        train_setup_fini(&su);
        return rc < 0 ? EXIT_SUCCESS : rc;
    }
    if ((strcmp(a.model, "gan") == 0 || text_scope(a.model) != 0) &&
        dist_single(a.model) != EXIT_SUCCESS) {
        train_setup_fini(&su);
        return EXIT_USAGE;
    }
    if (strcmp(a.model, "gan") == 0) { /* `kiln train --resume` of a GAN's checkpoint */
        train_setup_fini(&su);
        return cmd_train_gan(argc, argv);
    }
    if (text_scope(a.model) != 0) { /* of a text model's */
        char name[16];
        snprintf(name, sizeof(name), "%s", a.model);
        train_setup_fini(&su);
        return text_scope(name) == SC_CHARLM ? cmd_train_charlm(argc, argv)
                                             : cmd_train_text(name, argc, argv);
    }
    rc = dist_begin(&dist, &a);
    if (rc != EXIT_SUCCESS) {
        goto done;
    }
    dist_quiet(&dist, &a); /* only rank 0 prints and writes */
    rc = EXIT_FAILURE;
    FILE *info = a.quiet || a.json ? NULL : stdout;
    if (dist_context(&dist, &ctx, info) != EXIT_SUCCESS || !prepare_data(&a, &dist, &d, info)) {
        goto done;
    }
    model_cfg_from_args(&cfg, &a, d.mean, d.std);
    struct kiln_optim_options oo = optim_options(&a);
    if (classifier_build(ctx, NULL, &cfg, dist.local_batch, 1, &c) != KILN_OK ||
        kiln_optimizer_create(kiln_graph_store(c.g), &oo, &opt) != KILN_OK ||
        kiln_comm_attach(dist.comm, opt) != KILN_OK) {
        rc = fail("building the model");
        goto done;
    }
    kiln_store *store = kiln_graph_store(c.g);
    if (run_load_weights(&a, &su, store, info) != EXIT_SUCCESS) {
        goto done;
    }
    /* Every rank starts from rank 0's weights, optimizer state and counts. */
    if (kiln_comm_broadcast_store(dist.comm, store, 1) != KILN_OK) {
        rc = fail("broadcasting the parameters");
        goto done;
    }
    int64_t per = d.loader != NULL ? kiln_loader_n_batches(d.loader) : d.train.n / a.batch;
    int64_t total = per * a.epochs;
    total = a.max_steps > 0 && a.max_steps < total ? a.max_steps : total;
    struct kiln_lr_schedule sched = lr_schedule(&a, per, total);
    r.st.ctx = ctx;
    dist_describe(&dist, NULL, &a, kiln_optimizer_lr(opt));
    r.parallel = dist.parallel;
    if (!run_begin(&r, &a, &su, &cfg, store, per, total)) {
        goto done;
    }
    if (run_complete(&su, total)) {
        rc = EXIT_SUCCESS;
        goto done;
    }
    describe(info, &a, c.g, dist.local_batch, opt, &sched);
    dist_describe(&dist, info, &a, kiln_optimizer_lr(opt));
    run_compile_note(ctx, &a);
    struct kiln_classifier m = KILN_CLASSIFIER_INIT;
    struct kiln_fit_options fo = KILN_FIT_OPTIONS_INIT;
    m.optimizer = opt;
    m.x = c.x;
    m.y = c.y;
    m.loss = c.loss;
    m.pred = c.pred;
    m.y_onehot = c.y_onehot;
    fo.epochs = (int32_t)a.epochs;
    fo.max_steps = a.max_steps;
    fo.seed = (uint64_t)a.seed;
    fo.callback = run_classifier_progress;
    fo.callback_ud = &r;
    fo.start_step = su.pos.step;
    fo.start_loss_sum = su.pos.loss_sum[0];
    fo.start_loss_n = su.pos.loss_n;
    fo.schedule = &sched;
    fo.comm = dist.comm;
    kiln_context_reset_stats(ctx);
    if (a.stats) {
        stats_profile_start(&r.st);
    }
    const struct kiln_dataset *val = d.val.n > 0 ? &d.val : NULL;
    kiln_status s = d.loader != NULL ? kiln_fit_loader(&m, d.loader, val, &d.test, &fo, &res)
                                     : kiln_fit(&m, &d.train, val, &d.test, &fo, &res);
    run_progress_clear(&r);
    if (s != KILN_OK) {
        rc = fail("training");
        goto done;
    }
    if (!run_checkpoint_final(&r)) {
        goto done;
    }
    print_summary(&r, ctx, &res, &d.test, kiln_graph_n_param_elems(c.g));
    dist_summary(&dist, r.out);
    if (a.stats && info != NULL) {
        print_stats(stdout, &r.st, res.steps - su.pos.step);
    }
    rc = EXIT_SUCCESS;

done:
    rc = dist_fail(&dist, rc);
    run_end(&r);
    kiln_graph_destroy(c.g);
    kiln_context_destroy(ctx);
    kiln_loader_destroy(d.loader);
    kiln_dataset_fini(&d.test);
    kiln_dataset_fini(&d.val);
    kiln_dataset_fini(&d.train);
    model_cfg_fini(&cfg);
    train_setup_fini(&su);
    dist_end(&dist);
    return rc;
}
