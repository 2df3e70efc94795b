/*
 * train_gan.c - `kiln train gan`: the DCGAN of kiln_gan_create on Fashion-MNIST scaled
 * to [-1, 1], with a PNG grid of samples and a checkpoint of both networks (their
 * batch norm statistics, both Adams' state and the noise position) after every epoch
 * in --out, --checkpoint-every, --resume, --init-from and the --log CSV through run.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static int write_samples(kiln_gan *gan, const char *dir, int64_t epoch, float *images, int64_t n,
                         int *png_ok, FILE *info)
{
    char path[4096];
    if (kiln_gan_sample(gan, images) != KILN_OK) {
        return fail("sampling the generator");
    }
    if (!*png_ok || dir == NULL) {
        return EXIT_SUCCESS;
    }
    snprintf(path, sizeof(path), "%s/gan_epoch_%03lld.png", dir, (long long)epoch);
    kiln_status s = kiln_png_write_grid(path, images, n < 64 ? n : 64, 28, 28, 8, -1.0f, 1.0f);
    if (s == KILN_E_UNSUPPORTED) {
        fprintf(stderr, "kiln: cannot write sample grids: %s\n", kiln_last_error());
        *png_ok = 0;
        return EXIT_SUCCESS;
    }
    if (s != KILN_OK) {
        return fail("writing the sample grid");
    }
    if (info != NULL) {
        fprintf(info, "samples: %s\n", path);
    }
    return EXIT_SUCCESS;
}

static int load_start(const struct train_args *a, const struct train_setup *su, kiln_gan *gan,
                      FILE *info)
{
    struct kiln_load_options lo = KILN_LOAD_OPTIONS_INIT;
    struct kiln_load_report rep;
    kiln_store *store = kiln_gan_store(gan);
    if (su->meta != NULL) {
        lo.with_state = 1;
        if (kiln_checkpoint_load(store, su->ckpt, &lo, &rep) != KILN_OK) {
            return fail("resuming");
        }
        kiln_gan_set_noise_position(gan, su->pos.noise);
        if (info != NULL) {
            fprintf(info, "resuming %s at step %lld\n", su->ckpt, (long long)su->pos.step);
        }
    } else if (a->init_from != NULL) {
        lo.partial = a->partial;
        if (kiln_checkpoint_load(store, a->init_from, &lo, &rep) != KILN_OK) {
            return fail("loading --init-from");
        }
        if (info != NULL) {
            fprintf(info, "weights: %d tensors from %s (%d skipped)\n", rep.n_loaded, a->init_from,
                    rep.n_missing + rep.n_extra + rep.n_mismatched);
        }
    }
    return EXIT_SUCCESS;
}

/* The GAN's loop state. */
struct gan_loop {
    struct run *r;
    kiln_gan *gan;
    kiln_batch_iter *it;
    float *real, *images;
    int png_ok;
};

static int checkpoint(struct gan_loop *l, int final)
{
    struct run_pos pos = l->r->pos;
    pos.elapsed = run_elapsed(l->r);
    pos.noise = kiln_gan_noise_position(l->gan);
    return run_checkpoint(l->r, &pos, final);
}

/* One step and its bookkeeping; returns EXIT_SUCCESS or a failure. */
static int gan_step(struct gan_loop *l, int64_t e, int64_t k, int64_t n_batches)
{
    struct run *r = l->r;
    const struct train_args *a = r->a;
    float dl, gl;
    int64_t got;
    if (kiln_batch_iter_next(l->it, l->real, NULL, &got) != KILN_OK || got != a->batch) {
        return fail("batching");
    }
    struct kiln_stats st0, st1;
    stats_profile_note(&r->st, -1);
    kiln_context_stats(r->st.ctx, &st0);
    if (kiln_gan_step(l->gan, l->real, &dl, &gl) != KILN_OK) {
        return fail("training");
    }
    kiln_context_stats(r->st.ctx, &st1);
    add_stats_delta(&r->st.train, &st0, &st1);
    stats_profile_note(&r->st, 1);
    run_first_step(r);
    struct run_pos *p = &r->pos;
    p->step++;
    p->loss_sum[0] += dl;
    p->loss_sum[1] += gl;
    p->loss_n++;
    p->log_sum[0] += dl;
    p->log_sum[1] += gl;
    p->log_n++;
    double secs = now_s() - r->t0,
           ips = secs > 0 ? (double)((p->step - r->start_step) * a->batch) / secs : 0;
    if (p->step % r->log_every == 0) {
        char row[256];
        snprintf(row, sizeof(row), "step,%lld,%lld,%.6g,%.6g,%.6g,%.1f,%.3f", (long long)e,
                 (long long)p->step, p->log_sum[0] / (double)p->log_n,
                 p->log_sum[1] / (double)p->log_n, train_lr(a), ips, run_elapsed(r));
        run_log(r, row);
        p->log_sum[0] = p->log_sum[1] = 0.0;
        p->log_n = 0;
    }
    char loss[64];
    snprintf(loss, sizeof(loss), "loss D %.4f G %.4f", p->loss_sum[0] / (double)p->loss_n,
             p->loss_sum[1] / (double)p->loss_n);
    run_progress(r, e, a->epochs, k + 1, n_batches, loss, ips);
    if (a->checkpoint_every > 0 && p->step % a->checkpoint_every == 0 && k + 1 != n_batches &&
        !checkpoint(l, 0)) {
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}

static int epoch_end(struct gan_loop *l, int64_t e, int64_t steps, double secs)
{
    struct run *r = l->r;
    const struct train_args *a = r->a;
    struct run_pos *p = &r->pos;
    double dm = p->loss_n ? p->loss_sum[0] / (double)p->loss_n : NAN;
    double gm = p->loss_n ? p->loss_sum[1] / (double)p->loss_n : NAN;
    double ips = secs > 0 ? (double)(steps * a->batch) / secs : 0.0;
    char row[256];
    run_progress_clear(r);
    if (r->out != NULL) {
        fprintf(r->out,
                "epoch %lld/%lld: loss D %.4f (mean BCE over real and fake), G %.4f (%lld steps "
                "in %.2f s, %.0f images/s)\n",
                (long long)e, (long long)a->epochs, dm, gm, (long long)steps, secs, ips);
    }
    snprintf(row, sizeof(row), "epoch,%lld,%lld,%.6g,%.6g,%.6g,%.1f,%.3f", (long long)e,
             (long long)p->step, dm, gm, train_lr(a), ips, run_elapsed(r));
    run_log(r, row);
    if (write_samples(l->gan, a->out, e, l->images, a->batch, &l->png_ok, r->out) != EXIT_SUCCESS) {
        return EXIT_FAILURE;
    }
    return checkpoint(l, 0) ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int train_loop(struct gan_loop *l)
{
    struct run *r = l->r;
    const struct train_args *a = r->a;
    int64_t per = r->steps_per_epoch;
    while (r->pos.step < r->total_steps) {
        int64_t e = r->pos.step / per + 1, first = r->pos.step % per;
        int64_t n = per, steps = 0;
        if (a->max_steps > 0 && a->max_steps - (r->pos.step - first) < n) {
            n = a->max_steps - (r->pos.step - first);
        }
        if (first == 0) {
            r->pos.loss_sum[0] = r->pos.loss_sum[1] = 0.0;
            r->pos.loss_n = 0;
        }
        r->pos.epoch = e;
        kiln_batch_iter_seek(l->it, e - 1, first);
        double t0 = now_s();
        for (int64_t k = first; k < n; k++, steps++) {
            if (gan_step(l, e, k, n) != EXIT_SUCCESS) {
                return EXIT_FAILURE;
            }
        }
        if (epoch_end(l, e, steps, now_s() - t0) != EXIT_SUCCESS) {
            return EXIT_FAILURE;
        }
    }
    return EXIT_SUCCESS;
}

/* The model and training lines. */
static void describe(FILE *info, const struct train_args *a, kiln_gan *gan,
                     const struct kiln_gan_options *go)
{
    int64_t gp, dp;
    double gf, df;
    if (info == NULL) {
        return;
    }
    kiln_gan_n_params(gan, &gp, &dp);
    kiln_gan_flops(gan, &gf, &df);
    fprintf(info,
            "model: DCGAN, generator %lld parameters, %.2f MFLOPs per image; discriminator "
            "%lld parameters, %.2f MFLOPs per image\n",
            (long long)gp, gf / 1e6, (long long)dp, df / 1e6);
    fprintf(info,
            "training: Adam lr %g betas (%g, 0.999) for both nets, batch %lld, %lld epoch%s%s\n",
            (double)go->lr, (double)go->beta1, (long long)a->batch, (long long)a->epochs,
            a->epochs == 1 ? "" : "s", a->max_steps ? " (step limit)" : "");
    if (a->out == NULL) {
        fprintf(info, "no --out DIR: sample grids and checkpoints are not written\n");
    }
}

int cmd_train_gan(int argc, char **argv)
{
    struct train_args a;
    struct train_setup su;
    struct kiln_dataset train = {0}, val = {0}, test = {0};
    struct kiln_gan_options go = KILN_GAN_OPTIONS_INIT;
    struct model_cfg cfg;
    struct run r;
    struct gan_loop l;
    kiln_context *ctx = NULL;
    double mean, std;
    int rc = train_parse("gan", argc, argv, &a, &su);
    memset(&cfg, 0, sizeof(cfg));
    memset(&r, 0, sizeof(r));
    memset(&l, 0, sizeof(l));
    if (rc != EXIT_SUCCESS) {
        train_setup_fini(&su);
        return rc < 0 ? EXIT_SUCCESS : rc;
    }
    rc = EXIT_FAILURE;
    if (dist_launched() > 1) {
        fprintf(stderr, "kiln train gan: data-parallel training (mpirun with more than one "
                        "process) covers the classifiers, not the GAN yet\n");
        train_setup_fini(&su);
        return EXIT_USAGE;
    }
    FILE *info = a.quiet || a.json ? NULL : stdout;
    a.test_limit = 1;
    if (open_context(&ctx, info) != EXIT_SUCCESS ||
        !load_data(&a, &train, &val, &test, 0,
                   "scaled to [-1, 1] as (x - 0.5) / 0.5, the range of the generator's tanh", &mean,
                   &std, info)) {
        goto done;
    }
    if (kiln_dataset_normalize(&train, 0.5, 0.5) != KILN_OK) {
        rc = fail("scaling the data");
        goto done;
    }
    model_cfg_from_args(&cfg, &a, 0.5, 0.5);
    go.batch_size = a.batch;
    go.g_width = a.width;
    go.d_width = 2 * a.width;
    go.lr = (float)train_lr(&a);
    go.seed = (uint64_t)a.seed;
    if (kiln_gan_create(ctx, &go, &l.gan) != KILN_OK) {
        rc = fail("building the GAN");
        goto done;
    }
    if (load_start(&a, &su, l.gan, info) != EXIT_SUCCESS) {
        goto done;
    }
    l.real = malloc((size_t)(a.batch * train.dim) * sizeof(float));
    l.images = malloc((size_t)(a.batch * 28 * 28) * sizeof(float));
    l.png_ok = 1;
    l.r = &r;
    if (l.real == NULL || l.images == NULL ||
        kiln_batch_iter_create(&train, a.batch, KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST,
                               (uint64_t)a.seed, &l.it) != KILN_OK) {
        rc = fail("preparing batches");
        goto done;
    }
    int64_t per = kiln_batch_iter_n_batches(l.it), total = per * a.epochs;
    total = a.max_steps > 0 && a.max_steps < total ? a.max_steps : total;
    r.gan = 1;
    r.st.ctx = ctx;
    if (per < 1 || !run_begin(&r, &a, &su, &cfg, kiln_gan_store(l.gan), per, total)) {
        goto done;
    }
    if (run_complete(&su, total)) {
        rc = EXIT_SUCCESS;
        goto done;
    }
    describe(info, &a, l.gan, &go);
    run_compile_note(ctx, &a);
    if (a.stats) {
        stats_profile_start(&r.st);
    }
    if (train_loop(&l) != EXIT_SUCCESS || !checkpoint(&l, 1)) {
        goto done;
    }
    if (r.out != NULL && r.last_checkpoint[0] != '\0') {
        printf("checkpoint: %s\n", r.last_checkpoint);
    }
    if (a.json) {
        printf("{\"model\": \"gan\", \"backend\": \"%s\", \"steps\": %lld, \"d_loss\": %.6g, "
               "\"g_loss\": %.6g, \"elapsed_s\": %.3f}\n",
               kiln_context_backend(ctx), (long long)r.pos.step,
               r.pos.loss_n ? r.pos.loss_sum[0] / (double)r.pos.loss_n : 0.0,
               r.pos.loss_n ? r.pos.loss_sum[1] / (double)r.pos.loss_n : 0.0, run_elapsed(&r));
    }
    if (a.stats && info != NULL) {
        print_stats(stdout, &r.st, r.pos.step - r.start_step);
        printf("of the bytes up per step: the real batch %lld, the noise %lld; down: the two "
               "losses %zu\n",
               (long long)(a.batch * 28 * 28 * 4), (long long)(a.batch * go.nz * 4),
               2 * sizeof(float));
    }
    rc = EXIT_SUCCESS;

done:
    run_end(&r);
    kiln_batch_iter_destroy(l.it);
    free(l.images);
    free(l.real);
    kiln_gan_destroy(l.gan);
    kiln_context_destroy(ctx);
    kiln_dataset_fini(&test);
    kiln_dataset_fini(&val);
    kiln_dataset_fini(&train);
    model_cfg_fini(&cfg);
    train_setup_fini(&su);
    return rc;
}
