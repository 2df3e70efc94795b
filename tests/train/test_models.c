/*
 * test_models.c - the model zoo, augmentation, the prefetching loader and the GAN on the
 * CPU backend: every model builds with the parameter count computed by hand below and
 * lowers its loss on a tiny fixed batch; augmentation is deterministic for a seed and
 * pads, crops, flips and normalizes as documented; the prefetching loader yields the
 * batches of the synchronous one; the GAN trains a few steps and writes a PNG grid with
 * the expected signature and size.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln.h"

static kiln_context *cpu_context(void)
{
    struct kiln_context_options co = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx = NULL;
    co.backend = "cpu";
    co.check = 0;
    ck_assert_msg(kiln_context_create(&co, &ctx) == KILN_OK, "%s", kiln_last_error());
    return ctx;
}

/* ---- Parameter counts ---- */

/* One inception block on in channels: four branches of conv weights plus biases. */
static int64_t inception_params(int64_t in, const int64_t w[6])
{
    return in * w[0] + w[0] + in * w[1] + w[1] + w[1] * w[2] * 9 + w[2] + in * w[3] + w[3] +
           w[3] * w[4] * 25 + w[4] + in * w[5] + w[5];
}

static int64_t expected_params(kiln_model m)
{
    static const int64_t w3a[6] = {16, 16, 24, 4, 8, 8}, w3b[6] = {24, 24, 32, 4, 8, 16};
    static const int64_t w4a[6] = {32, 32, 48, 8, 16, 16};
    switch (m) {
    case KILN_MODEL_LENET: /* conv1, conv2, fc 400-120, 120-84, 84-10 */
        return (6 * 25 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) +
               (84 * 10 + 10); /* 61706 */
    case KILN_MODEL_ALEXNET:   /* five convs with bias, fc 256-256-256-10 */
        return (32 * 25 + 32) + (64 * 32 * 9 + 64) + (96 * 64 * 9 + 96) + (96 * 96 * 9 + 96) +
               (64 * 96 * 9 + 64) + 2 * (256 * 256 + 256) + (256 * 10 + 10); /* 347274 */
    case KILN_MODEL_VGG: /* six 3x3 convs without bias, each with BN (2 C), fc 576-128-10 */
        return (16 * 9 + 32) + (16 * 16 * 9 + 32) + (32 * 16 * 9 + 64) + (32 * 32 * 9 + 64) +
               (64 * 32 * 9 + 128) + (64 * 64 * 9 + 128) + (576 * 128 + 128) +
               (128 * 10 + 10); /* 147162 */
    case KILN_MODEL_GOOGLENET:  /* stem conv + BN, 3 inception blocks, fc 112-10 */
        return (32 * 9 + 64) + inception_params(32, w3a) + inception_params(56, w3b) +
               inception_params(80, w4a) + (112 * 10 + 10); /* 43066 */
    case KILN_MODEL_RESNET: {
        /* ResNet-20: stem, 3 stages of 3 blocks (two 3x3 convs + 2 BN), 1x1 downsample +
         * BN entering stages 2 and 3, fc 64-10; 272186 (torchvision-style CIFAR
         * ResNet-20 is 272474 with 3 input channels: 2 x 16 x 9 more) */
        int64_t n = 16 * 9 + 32;
        for (int64_t s = 0, c = 16; s < 3; s++, c *= 2) {
            int64_t cin = s == 0 ? 16 : c / 2;
            n += (cin * c * 9 + 2 * c) + (c * c * 9 + 2 * c) + 4 * (c * c * 9 + 2 * c);
            if (s > 0) {
                n += cin * c + 2 * c;
            }
        }
        return n + 64 * 10 + 10;
    }
    default:
        return -1;
    }
}

START_TEST(test_param_counts)
{
    static const int64_t hand[KILN_MODEL_COUNT] = {61706, 347274, 147162, 43066, 272186};
    kiln_context *ctx = cpu_context();
    for (int i = 0; i < KILN_MODEL_COUNT; i++) {
        kiln_graph *g;
        kiln_model m;
        int64_t xd[4] = {2, 1, 28, 28};
        ck_assert_int_eq(kiln_model_from_name(kiln_model_name((kiln_model)i), &m), KILN_OK);
        ck_assert_int_eq(m, i);
        ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
        kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
        kiln_tensor *logits = kiln_model_build(g, m, x, NULL);
        ck_assert_msg(kiln_graph_status(g) == KILN_OK, "%s: %s", kiln_model_name(m),
                      kiln_last_error());
        struct kiln_shape s;
        kiln_tensor_shape(logits, &s);
        ck_assert_int_eq(s.rank, 2);
        ck_assert_int_eq(s.dims[0], 2);
        ck_assert_int_eq(s.dims[1], 10);
        int64_t n = kiln_graph_n_param_elems(g);
        printf("%s: %lld parameters, %.2f MFLOPs per image\n", kiln_model_name(m), (long long)n,
               kiln_graph_flops(g, 2) / 1e6);
        ck_assert_int_eq(expected_params(m), hand[i]);
        ck_assert_int_eq(n, hand[i]);
        kiln_graph_destroy(g);
    }
    kiln_model m;
    ck_assert_int_eq(kiln_model_from_name("cnn", &m), KILN_E_INVALID_ARG);
    ck_assert_ptr_null(kiln_model_name(KILN_MODEL_COUNT));
    kiln_context_destroy(ctx);
}
END_TEST

START_TEST(test_lenet_flops)
{
    kiln_context *ctx = cpu_context();
    kiln_graph *g;
    int64_t xd[4] = {4, 1, 28, 28};
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    kiln_model_build(g, KILN_MODEL_LENET, kiln_input(g, "x", KILN_DTYPE_F32, 4, xd), NULL);
    /* 2 x multiply-adds: conv1 6*28*28*25, conv2 16*10*10*150, fc 400*120 + 120*84 + 84*10;
     * the elementwise ops (bias, ReLU, pools) add a little over 1% */
    double macs2 = 2.0 * (6 * 784 * 25 + 16 * 100 * 150 + 400 * 120 + 120 * 84 + 84 * 10);
    double f = kiln_graph_flops(g, 4);
    ck_assert_msg(f >= macs2 && f < 1.03 * macs2, "%g FLOPs, %g from products", f, macs2);
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
}
END_TEST

START_TEST(test_bad_input)
{
    kiln_context *ctx = cpu_context();
    kiln_graph *g;
    int64_t xd[4] = {2, 1, 16, 16};
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    kiln_model_build(g, KILN_MODEL_LENET, kiln_input(g, "x", KILN_DTYPE_F32, 4, xd), NULL);
    ck_assert_int_eq(kiln_graph_status(g), KILN_E_SHAPE);
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
}
END_TEST

/* ---- Training on a tiny batch ---- */

START_TEST(test_models_learn)
{
    enum { B = 8, STEPS = 12 };
    kiln_model m = (kiln_model)_i;
    kiln_context *ctx = cpu_context();
    struct kiln_model_options mo = KILN_MODEL_OPTIONS_INIT;
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    kiln_optimizer *opt;
    kiln_graph *g;
    float x[B * 784], loss[STEPS];
    int32_t y[B];
    int64_t xd[4] = {B, 1, 28, 28}, yd[1] = {B};
    /* images whose brightness pattern depends on the label */
    for (int i = 0; i < B; i++) {
        y[i] = i % 4;
        for (int p = 0; p < 784; p++) {
            x[i * 784 + p] =
                ((p / 28) % 4 == y[i] ? 1.0f : -0.5f) + 0.1f * (float)((p * 7 + i) % 5);
        }
    }
    mo.depth = 1;
    mo.seed = 3;
    oo.kind = KILN_OPTIM_ADAM;
    oo.lr = 0.002f;
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    kiln_tensor *xt = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
    kiln_tensor *yt = kiln_input(g, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *l = kiln_tensor_keep(kiln_softmax_xent(g, kiln_model_build(g, m, xt, &mo), yt));
    ck_assert_msg(kiln_graph_backward(g, l) == KILN_OK, "%s", kiln_last_error());
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    ck_assert_msg(kiln_optimizer_create(kiln_graph_store(g), &oo, &opt) == KILN_OK, "%s",
                  kiln_last_error());
    ck_assert_int_eq(kiln_tensor_upload(xt, x, sizeof(x)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(yt, y, sizeof(y)), KILN_OK);
    for (int s = 0; s < STEPS; s++) {
        ck_assert_msg(kiln_train_step(g, opt) == KILN_OK, "%s", kiln_last_error());
        ck_assert_int_eq(kiln_tensor_download(l, &loss[s], sizeof(float)), KILN_OK);
        ck_assert(isfinite(loss[s]));
    }
    double first = (loss[0] + loss[1] + loss[2]) / 3.0;
    double last = (loss[STEPS - 1] + loss[STEPS - 2] + loss[STEPS - 3]) / 3.0;
    printf("%s: loss %.4f -> %.4f\n", kiln_model_name(m), first, last);
    ck_assert_msg(last < 0.9 * first, "%s: loss %g -> %g", kiln_model_name(m), first, last);
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
}
END_TEST

/* ---- Augmentation ---- */

static void ramp(float *x, int64_t n, int64_t dim)
{
    for (int64_t i = 0; i < n * dim; i++) {
        x[i] = (float)(i % dim) / (float)dim + (float)(i / dim);
    }
}

START_TEST(test_augment)
{
    enum { N = 16, H = 6, W = 5 };
    struct kiln_augment a = KILN_AUGMENT_INIT;
    float src[N * H * W], d1[N * H * W], d2[N * H * W], d3[N * H * W];
    ramp(src, N, H * W);

    /* defaults: the identity */
    ck_assert_int_eq(kiln_augment_apply(&a, H, W, N, src, d1, 1, 0), KILN_OK);
    ck_assert_mem_eq(src, d1, sizeof(src));

    /* random crop with padding and flips: deterministic for (seed, counter) */
    a.pad = 2;
    a.random_crop = a.hflip = 1;
    ck_assert_int_eq(kiln_augment_apply(&a, H, W, N, src, d1, 7, 100), KILN_OK);
    ck_assert_int_eq(kiln_augment_apply(&a, H, W, N, src, d2, 7, 100), KILN_OK);
    ck_assert_mem_eq(d1, d2, sizeof(d1));
    ck_assert_int_eq(kiln_augment_apply(&a, H, W, N, src, d3, 8, 100), KILN_OK);
    ck_assert(memcmp(d1, d3, sizeof(d1)) != 0);
    /* item i depends on counter + i only: items 1.. of counter 100 are items 0.. of 101 */
    ck_assert_int_eq(kiln_augment_apply(&a, H, W, N - 1, src + H * W, d3, 7, 101), KILN_OK);
    ck_assert_mem_eq(d1 + H * W, d3, sizeof(float) * (N - 1) * H * W);
    /* every output pixel is 0 (padding) or a pixel of its own item, and the item keeps
     * at least (H - 4)(W - 4) of its pixels */
    int flipped = 0, shifted = 0;
    for (int i = 0; i < N; i++) {
        int own = 0;
        for (int p = 0; p < H * W; p++) {
            float v = d1[i * H * W + p];
            ck_assert(v == 0.0f || (v >= (float)i && v < (float)(i + 1)));
            own += v != 0.0f || (i == 0 && p == 0);
        }
        ck_assert_int_ge(own, (H - 4) * (W - 4));
        shifted += memcmp(d1 + i * H * W, src + i * H * W, sizeof(float) * H * W) != 0;
    }
    /* flips only (no crop): each item is itself or its mirror; both occur */
    a.pad = 0;
    a.random_crop = 0;
    ck_assert_int_eq(kiln_augment_apply(&a, H, W, N, src, d2, 7, 0), KILN_OK);
    for (int i = 0; i < N; i++) {
        int same = 1, mirror = 1;
        for (int y = 0; y < H; y++) {
            for (int x = 0; x < W; x++) {
                float v = d2[(i * H + y) * W + x];
                same &= v == src[(i * H + y) * W + x];
                mirror &= v == src[(i * H + y) * W + W - 1 - x];
            }
        }
        ck_assert(same || mirror);
        flipped += !same;
    }
    ck_assert(flipped > 0 && flipped < N);
    ck_assert(shifted > 0);

    /* centre crop to a larger, padded size, then per-channel normalization */
    struct kiln_augment b = KILN_AUGMENT_INIT;
    float two[2 * 2 * 2], out[2 * 4 * 4];
    for (int i = 0; i < 8; i++) {
        two[i] = i < 4 ? 1.0f : 3.0f; /* channel 0 all 1, channel 1 all 3 */
    }
    b.channels = 2;
    b.pad = 1;
    b.crop_h = b.crop_w = 4;
    b.normalize = 1;
    b.mean[0] = 1.0f;
    b.std[0] = 2.0f;
    b.mean[1] = 2.0f;
    b.std[1] = 0.5f;
    ck_assert_int_eq(kiln_augment_apply(&b, 2, 2, 1, two, out, 0, 0), KILN_OK);
    for (int c = 0; c < 2; c++) {
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 4; x++) {
                int inside = y >= 1 && y <= 2 && x >= 1 && x <= 2;
                float raw = inside ? (c == 0 ? 1.0f : 3.0f) : 0.0f;
                float want = (raw - b.mean[c]) / b.std[c];
                ck_assert_float_eq_tol(out[(c * 4 + y) * 4 + x], want, 1e-6f);
            }
        }
    }
    /* bad options */
    b.crop_h = 5;
    ck_assert_int_eq(kiln_augment_apply(&b, 2, 2, 1, two, out, 0, 0), KILN_E_INVALID_ARG);
    b.crop_h = 4;
    b.std[1] = 0.0f;
    ck_assert_int_eq(kiln_augment_apply(&b, 2, 2, 1, two, out, 0, 0), KILN_E_INVALID_ARG);
}
END_TEST

/* ---- The loader ---- */

static void tiny_dataset(struct kiln_dataset *ds, int64_t n)
{
    memset(ds, 0, sizeof(*ds));
    ds->n = n;
    ds->dim = 28 * 28;
    ds->rank = 2;
    ds->dims[0] = ds->dims[1] = 28;
    ds->n_classes = 10;
    ds->x = malloc((size_t)(n * ds->dim) * sizeof(float));
    ds->y = malloc((size_t)n * sizeof(int32_t));
    ramp(ds->x, n, ds->dim);
    for (int64_t i = 0; i < n; i++) {
        ds->y[i] = (int32_t)(i % 10);
    }
}

START_TEST(test_loader_prefetch_matches_sync)
{
    struct kiln_dataset ds;
    struct kiln_augment a = KILN_AUGMENT_INIT;
    struct kiln_loader_options o = KILN_LOADER_OPTIONS_INIT;
    kiln_loader *sync, *pre;
    tiny_dataset(&ds, 100);
    a.pad = 4;
    a.crop_h = a.crop_w = 32;
    a.random_crop = a.hflip = a.normalize = 1;
    a.mean[0] = 10.0f;
    a.std[0] = 3.0f;
    o.batch_size = 16;
    o.seed = 42;
    o.augment = &a;
    o.prefetch = 0;
    ck_assert_int_eq(kiln_loader_create(&ds, &o, &sync), KILN_OK);
    o.prefetch = 1;
    ck_assert_int_eq(kiln_loader_create(&ds, &o, &pre), KILN_OK);
    int64_t dims[3];
    kiln_loader_item_dims(pre, dims);
    ck_assert_int_eq(dims[0], 1);
    ck_assert_int_eq(dims[1], 32);
    ck_assert_int_eq(dims[2], 32);
    ck_assert_int_eq(kiln_loader_n_batches(pre), 6);
    size_t xb = 16 * 32 * 32 * sizeof(float);
    float *first = malloc(xb);
    for (int e = 0; e < 3; e++) {
        kiln_loader_reset(sync, e);
        kiln_loader_reset(pre, e);
        for (int b = 0;; b++) {
            const float *x1, *x2;
            const int32_t *y1, *y2;
            int64_t n1, n2;
            ck_assert_int_eq(kiln_loader_next(sync, &x1, &y1, &n1), KILN_OK);
            ck_assert_int_eq(kiln_loader_next(pre, &x2, &y2, &n2), KILN_OK);
            ck_assert_int_eq(n1, n2);
            if (n1 == 0) {
                ck_assert_int_eq(b, 6);
                break;
            }
            ck_assert_int_eq(n1, 16);
            ck_assert_mem_eq(x1, x2, xb);
            ck_assert_mem_eq(y1, y2, 16 * sizeof(int32_t));
            if (e == 0 && b == 0) {
                memcpy(first, x1, xb);
            }
            if (e == 1 && b == 0) {
                ck_assert(memcmp(first, x1, xb) != 0); /* a new shuffle and new crops */
            }
        }
    }
    /* a reset in the middle of an epoch starts it over, with the same batches */
    kiln_loader_reset(pre, 0);
    const float *x;
    int64_t n;
    ck_assert_int_eq(kiln_loader_next(pre, &x, NULL, &n), KILN_OK);
    ck_assert_int_eq(kiln_loader_next(pre, &x, NULL, &n), KILN_OK);
    kiln_loader_reset(pre, 0);
    ck_assert_int_eq(kiln_loader_next(pre, &x, NULL, &n), KILN_OK);
    ck_assert_mem_eq(x, first, xb);
    kiln_loader_destroy(pre);
    kiln_loader_destroy(sync);
    kiln_loader_destroy(NULL);
    /* the loader's batches are kiln_batch_iter's, augmented */
    kiln_batch_iter *it;
    float raw[16 * 784];
    int32_t yr[16];
    o.augment = NULL;
    ck_assert_int_eq(kiln_loader_create(&ds, &o, &pre), KILN_OK);
    ck_assert_int_eq(kiln_batch_iter_create(&ds, 16, o.flags, o.seed, &it), KILN_OK);
    kiln_batch_iter_reset(it, 2);
    kiln_loader_reset(pre, 2);
    const int32_t *y;
    ck_assert_int_eq(kiln_batch_iter_next(it, raw, yr, &n), KILN_OK);
    ck_assert_int_eq(kiln_loader_next(pre, &x, &y, &n), KILN_OK);
    ck_assert_mem_eq(x, raw, sizeof(raw));
    ck_assert_mem_eq(y, yr, sizeof(yr));
    kiln_batch_iter_destroy(it);
    kiln_loader_destroy(pre);
    free(first);
    kiln_dataset_fini(&ds);
}
END_TEST

/* ---- The GAN and PNG output ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

START_TEST(test_gan_png)
{
    struct kiln_gan_options o = KILN_GAN_OPTIONS_INIT;
    kiln_context *ctx = cpu_context();
    kiln_gan *gan;
    float real[8 * 784], img[8 * 784];
    o.batch_size = 8;
    o.nz = 16;
    o.g_width = 4;
    o.d_width = 4;
    ck_assert_msg(kiln_gan_create(ctx, &o, &gan) == KILN_OK, "%s", kiln_last_error());
    int64_t gp, dp;
    kiln_gan_n_params(gan, &gp, &dp);
    /* deconv 16x16x7x7, BN 2x16, conv 8x16x3x3, BN 2x8, conv 4x8x3x3, BN 2x4,
     * conv 1x4x3x3 + bias */
    ck_assert_int_eq(gp, 16 * 16 * 49 + 32 + 8 * 16 * 9 + 16 + 4 * 8 * 9 + 8 + 4 * 9 + 1);
    /* conv 4x1x4x4 + 4, conv 8x4x4x4 + 8, conv 1x8x7x7 + 1 */
    ck_assert_int_eq(dp, 4 * 16 + 4 + 8 * 4 * 16 + 8 + 8 * 49 + 1);
    for (int i = 0; i < 8 * 784; i++) {
        real[i] = (i % 28) < 14 ? 0.8f : -0.8f;
    }
    for (int s = 0; s < 4; s++) {
        float dl, gl;
        ck_assert_msg(kiln_gan_step(gan, real, &dl, &gl) == KILN_OK, "%s", kiln_last_error());
        ck_assert(isfinite(dl) && isfinite(gl) && dl > 0.0f && gl > 0.0f);
    }
    ck_assert_int_eq(kiln_gan_sample(gan, img), KILN_OK);
    for (int i = 0; i < 8 * 784; i++) {
        ck_assert(img[i] >= -1.0f && img[i] <= 1.0f);
    }
    char path[] = "/tmp/kiln_gan_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    kiln_status s = kiln_png_write_grid(path, img, 8, 28, 28, 4, -1.0f, 1.0f);
#ifdef KILN_TEST_NO_PNG
    ck_assert_int_eq(s, KILN_E_UNSUPPORTED);
#else
    ck_assert_msg(s == KILN_OK, "%s", kiln_last_error());
    unsigned char head[24];
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fread(head, 1, sizeof(head), f), sizeof(head));
    fclose(f);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    ck_assert_mem_eq(head, sig, 8);
    ck_assert_mem_eq(head + 12, "IHDR", 4);
    ck_assert_uint_eq(be32(head + 16), 4 * 30 + 2); /* 4 columns of 28 + 2 border, + 2 */
    ck_assert_uint_eq(be32(head + 20), 2 * 30 + 2);
#endif
    unlink(path);
    ck_assert_int_eq(kiln_png_write_grid(path, img, 0, 28, 28, 4, -1.0f, 1.0f), KILN_E_INVALID_ARG);
    kiln_gan_destroy(gan);
    kiln_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train-models");
    TCase *tc = tcase_create("models");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_param_counts);
    tcase_add_test(tc, test_lenet_flops);
    tcase_add_test(tc, test_bad_input);
    tcase_add_loop_test(tc, test_models_learn, 0, KILN_MODEL_COUNT);
    tcase_add_test(tc, test_augment);
    tcase_add_test(tc, test_loader_prefetch_matches_sync);
    tcase_add_test(tc, test_gan_png);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
