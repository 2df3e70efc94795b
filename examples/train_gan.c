/*
 * train_gan.c - train a DCGAN on Fashion-MNIST with the public API and write a grid of
 * generated samples after every epoch (samples_epoch_N.png, through libpng).
 *
 * The generator maps 64 noise features to 28x28 images through a transposed conv, then
 * nearest upsampling and 3x3 convs, with batch norm and ReLU, ending in tanh; the
 * discriminator is strided convs with leaky ReLU.
 * Both train with BCE-with-logits and Adam (lr 2e-4, beta1 0.5). Usage:
 *
 *   ./train_gan [EPOCHS [DIR]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

#define BATCH 64

static int die(const char *what)
{
    fprintf(stderr, "%s failed: %s\n", what, kiln_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: train_gan [EPOCHS [DIR]]\n\n"
               "Trains the DCGAN of kiln_gan_create on Fashion-MNIST (default 1 epoch; DIR holds\n"
               "the IDX files, default /usr/share/datasets/fashion-mnist) and writes\n"
               "samples_epoch_N.png after every epoch. KILN_BACKEND picks the backend.\n");
        return 0;
    }
    int epochs = argc > 1 ? atoi(argv[1]) : 1;
    const char *dir = argc > 2 ? argv[2] : "/usr/share/datasets/fashion-mnist";
    struct kiln_dataset train = {0};

    /* Real images in [-1, 1], the generator's tanh range. */
    if (kiln_dataset_load_mnist(dir, "train", 0, &train) != KILN_OK) {
        return die("loading Fashion-MNIST");
    }
    kiln_dataset_normalize(&train, 0.5, 0.5);

    kiln_context *ctx;
    kiln_gan *gan;
    struct kiln_gan_options go = KILN_GAN_OPTIONS_INIT;
    go.batch_size = BATCH;
    if (kiln_context_create(NULL, &ctx) != KILN_OK || kiln_gan_create(ctx, &go, &gan) != KILN_OK) {
        return die("building the GAN");
    }
    int64_t gp, dp;
    double gf, df;
    kiln_gan_n_params(gan, &gp, &dp);
    kiln_gan_flops(gan, &gf, &df);
    printf("generator %lld parameters (%.2f MFLOPs per image), discriminator %lld (%.2f)\n",
           (long long)gp, gf / 1e6, (long long)dp, df / 1e6);

    kiln_batch_iter *it;
    static float real[BATCH * 784], images[BATCH * 784];
    if (kiln_batch_iter_create(&train, BATCH, KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST, 0, &it) !=
        KILN_OK) {
        return die("batching");
    }
    for (int e = 1; e <= epochs; e++) {
        double dsum = 0, gsum = 0;
        int64_t n = 0, got;
        kiln_batch_iter_reset(it, e - 1);
        while (kiln_batch_iter_next(it, real, NULL, &got) == KILN_OK && got > 0) {
            float dl, gl;
            if (kiln_gan_step(gan, real, &dl, &gl) != KILN_OK) {
                return die("a training step");
            }
            dsum += dl;
            gsum += gl;
            n++;
        }
        char path[64];
        snprintf(path, sizeof(path), "samples_epoch_%d.png", e);
        if (kiln_gan_sample(gan, images) != KILN_OK ||
            kiln_png_write_grid(path, images, BATCH, 28, 28, 8, -1.0f, 1.0f) != KILN_OK) {
            fprintf(stderr, "no sample grid: %s\n", kiln_last_error());
        }
        printf("epoch %d: loss D %.4f, G %.4f; %s\n", e, dsum / (double)n, gsum / (double)n, path);
    }
    kiln_batch_iter_destroy(it);
    kiln_gan_destroy(gan);
    kiln_context_destroy(ctx);
    kiln_dataset_fini(&train);
    return 0;
}
