/*
 * train_gan.c - `kiln train gan`: the DCGAN of kiln_gan_create on Fashion-MNIST scaled
 * to [-1, 1], with a PNG grid of samples written after every epoch.
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

static int write_samples(kiln_gan *gan, const char *dir, int32_t epoch, float *images, int64_t n,
                         int *png_ok)
{
    char path[4096];
    if (kiln_gan_sample(gan, images) != KILN_OK) {
        return fail("sampling the generator");
    }
    if (!*png_ok) {
        return EXIT_SUCCESS;
    }
    snprintf(path, sizeof(path), "%s/gan_epoch_%03d.png", dir, epoch);
    kiln_status s = kiln_png_write_grid(path, images, n < 64 ? n : 64, 28, 28, 8, -1.0f, 1.0f);
    if (s == KILN_E_UNSUPPORTED) {
        fprintf(stderr, "kiln: cannot write sample grids: %s\n", kiln_last_error());
        *png_ok = 0;
        return EXIT_SUCCESS;
    }
    if (s != KILN_OK) {
        return fail("writing the sample grid");
    }
    printf("samples: %s\n", path);
    return EXIT_SUCCESS;
}

int cmd_train_gan(int argc, char **argv)
{
    struct train_args a = {.epochs = 1,
                           .batch = 64,
                           .lr = 2e-4,
                           .optimizer = "adam",
                           .data = DEFAULT_DATA,
                           .size = 28,
                           .conv = 1,
                           .out = "."};
    struct kiln_dataset train = {0}, val = {0}, test = {0};
    struct kiln_gan_options go = KILN_GAN_OPTIONS_INIT;
    kiln_batch_iter *it = NULL;
    kiln_context *ctx = NULL;
    kiln_gan *gan = NULL;
    float *real = NULL, *images = NULL;
    int rc = EXIT_FAILURE, png_ok = 1;
    double mean, std;

    a.test_limit = 1;
    if (!parse_train_args(argc, argv, &a)) {
        fprintf(stderr, "kiln train: see `kiln --help`\n");
        return EXIT_USAGE;
    }
    if (!load_data(&a, &train, &val, &test, 0,
                   "scaled to [-1, 1] as (x - 0.5) / 0.5, the range of the generator's tanh", &mean,
                   &std)) {
        goto done;
    }
    /* tanh outputs: real images go to [-1, 1] */
    if (kiln_dataset_normalize(&train, 0.5, 0.5) != KILN_OK) {
        rc = fail("scaling the data");
        goto done;
    }
    go.batch_size = a.batch;
    if (a.width > 0) {
        go.g_width = a.width;
        go.d_width = 2 * a.width;
    }
    go.lr = (float)a.lr;
    go.seed = a.seed;
    if (kiln_context_create(NULL, &ctx) != KILN_OK) {
        rc = fail("creating a context");
        goto done;
    }
    printf("backend: %s, device: %s%s\n", kiln_context_backend(ctx), kiln_context_device(ctx),
           kiln_context_check(ctx) ? " (KILN_CHECK on)" : "");
    if (kiln_gan_create(ctx, &go, &gan) != KILN_OK) {
        rc = fail("building the GAN");
        goto done;
    }
    int64_t gp, dp;
    double gf, df;
    kiln_gan_n_params(gan, &gp, &dp);
    kiln_gan_flops(gan, &gf, &df);
    printf("model: DCGAN, generator %lld parameters, %.2f MFLOPs per image; discriminator %lld "
           "parameters, %.2f MFLOPs per image\n",
           (long long)gp, gf / 1e6, (long long)dp, df / 1e6);
    printf("training: Adam lr %g betas (%g, 0.999) for both nets, batch %lld, %d epoch%s%s\n",
           (double)go.lr, (double)go.beta1, (long long)a.batch, a.epochs, a.epochs == 1 ? "" : "s",
           a.max_steps ? " (step limit)" : "");
    real = malloc((size_t)(a.batch * train.dim) * sizeof(float));
    images = malloc((size_t)(a.batch * 28 * 28) * sizeof(float));
    if (real == NULL || images == NULL ||
        kiln_batch_iter_create(&train, a.batch, KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST, a.seed,
                               &it) != KILN_OK) {
        rc = fail("preparing batches");
        goto done;
    }
    int64_t step = 0;
    struct kiln_stats st0, st1;
    struct stats_track trk = {.ctx = ctx};
    for (int32_t e = 1; e <= a.epochs && (a.max_steps == 0 || step < a.max_steps); e++) {
        double dsum = 0.0, gsum = 0.0, t0 = now_s();
        int64_t n = 0, got;
        kiln_batch_iter_reset(it, e - 1);
        while (a.max_steps == 0 || step < a.max_steps) {
            float dl, gl;
            if (kiln_batch_iter_next(it, real, NULL, &got) != KILN_OK) {
                rc = fail("batching");
                goto done;
            }
            if (got == 0) {
                break;
            }
            kiln_context_stats(ctx, &st0);
            if (kiln_gan_step(gan, real, &dl, &gl) != KILN_OK) {
                rc = fail("training");
                goto done;
            }
            kiln_context_stats(ctx, &st1);
            add_stats_delta(&trk.train, &st0, &st1);
            dsum += dl;
            gsum += gl;
            n++;
            step++;
            if (n % 100 == 0) {
                fprintf(stderr, "epoch %d step %lld: loss D %.4f G %.4f\n", e, (long long)n,
                        dsum / (double)n, gsum / (double)n);
            }
        }
        double secs = now_s() - t0;
        printf("epoch %d/%d: loss D %.4f (mean BCE over real and fake), G %.4f (%lld steps in "
               "%.2f s, %.0f images/s)\n",
               e, a.epochs, n ? dsum / (double)n : NAN, n ? gsum / (double)n : NAN, (long long)n,
               secs, secs > 0 ? (double)(n * a.batch) / secs : 0.0);
        if (write_samples(gan, a.out, e, images, a.batch, &png_ok) != EXIT_SUCCESS) {
            goto done;
        }
    }
    if (a.stats) {
        print_stats(&trk, step);
        printf("of the bytes up per step: the real batch %lld, the noise %lld; down: the two "
               "losses %zu\n",
               (long long)(a.batch * 28 * 28 * 4), (long long)(a.batch * go.nz * 4),
               2 * sizeof(float));
    }
    rc = EXIT_SUCCESS;

done:
    kiln_batch_iter_destroy(it);
    free(images);
    free(real);
    kiln_gan_destroy(gan);
    kiln_context_destroy(ctx);
    kiln_dataset_fini(&test);
    kiln_dataset_fini(&val);
    kiln_dataset_fini(&train);
    return rc;
}
