/*
 * test_conv_layers.c - the convolutional layers on a backend (`test_conv_layers cpu`):
 * LeNet-5 trains (the loss of a fixed batch falls over SGD steps); a network with batch
 * norm, dropout, a residual block, an inception block and a transposed convolution
 * trains too; batch norm's running statistics follow PyTorch's update and are what
 * inference normalizes with; dropout masks change every run and vanish in inference;
 * parameter names and shapes are PyTorch's.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/graph_impl.h"
#include "kiln.h"
#include "kiln/nn.h"

static const char *backend = "cpu";
static kiln_context *ctx;

static void setup(void)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = backend;
    ck_assert_msg(kiln_context_create(&o, &ctx) == KILN_OK, "%s", kiln_last_error());
}

static void teardown(void)
{
    kiln_context_destroy(ctx);
}

static float frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

/* A dense layer [N, in] -> [N, out] from plain ops (PyTorch's nn.Linear init). */
static kiln_tensor *fc(kiln_graph *g, kiln_tensor *x, int64_t out, const char *name)
{
    char nm[64];
    int64_t in = x->shape.dims[1], wd[2] = {out, in};
    snprintf(nm, sizeof(nm), "%s.weight", name);
    kiln_tensor *w = kiln_param(g, nm, 2, wd, KILN_INIT_FAN_IN_UNIFORM, 0.0f, 3);
    snprintf(nm, sizeof(nm), "%s.bias", name);
    kiln_tensor *b =
        kiln_param(g, nm, 1, &out, KILN_INIT_UNIFORM, (float)(1.0 / sqrt((double)in)), 3);
    return kiln_add(g, kiln_matmul(g, x, w, 0, 1), b);
}

/* Uploads a fixed, learnable batch x [n, C, H, W] with labels i % classes: noise in
 * [-0.5, 0.5] plus a bright (dark for label 9) block of channel 0 whose place in a 3x3
 * grid of the image is the label's. */
static void upload_batch(kiln_tensor *x, kiln_tensor *y, int64_t n, int64_t classes)
{
    struct kiln_shape s;
    kiln_tensor_shape(x, &s);
    int64_t per = kiln_tensor_n_elems(x) / n, h = s.dims[2], w = s.dims[3];
    float *xs = malloc((size_t)(n * per) * sizeof(float));
    int32_t *ys = malloc((size_t)n * sizeof(int32_t));
    uint64_t st = 12345;
    for (int64_t i = 0; i < n * per; i++) {
        xs[i] = 0.5f * frand(&st);
    }
    for (int64_t i = 0; i < n; i++) {
        int32_t lab = (int32_t)(i % classes);
        int64_t r0 = (lab % 3) * (h / 3), c0 = ((lab / 3) % 3) * (w / 3);
        ys[i] = lab;
        for (int64_t r = r0; r < r0 + h / 3; r++) {
            for (int64_t c = c0; c < c0 + w / 3; c++) {
                xs[i * per + r * w + c] += lab == 9 ? -1.5f : 1.5f;
            }
        }
    }
    ck_assert_int_eq(kiln_tensor_upload(x, xs, (size_t)(n * per) * sizeof(float)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(y, ys, (size_t)n * sizeof(int32_t)), KILN_OK);
    free(xs);
    free(ys);
}

/* The optimizer prepare() made for the graph under test. */
static kiln_optimizer *opt;

/* Differentiates loss, compiles g and makes SGD with momentum 0.9 over its store. */
static void prepare(kiln_graph *g, kiln_tensor *loss, float lr)
{
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.lr = lr;
    oo.momentum = 0.9f;
    kiln_tensor_keep(loss);
    ck_assert_msg(kiln_graph_backward(g, loss) == KILN_OK, "%s", kiln_last_error());
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    ck_assert_msg(kiln_optimizer_create(kiln_graph_store(g), &oo, &opt) == KILN_OK, "%s",
                  kiln_last_error());
}

static float step_loss(kiln_graph *g, kiln_tensor *loss)
{
    float l;
    ck_assert_msg(kiln_train_step(g, opt) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(kiln_tensor_download(loss, &l, sizeof(l)), KILN_OK);
    return l;
}

START_TEST(test_lenet5_trains)
{
    kiln_graph *g;
    int64_t n = 16, xd[4] = {n, 1, 28, 28};
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
    kiln_tensor *lab = kiln_input(g, "labels", KILN_DTYPE_I32, 1, &n);
    struct kiln_conv2d_opts pad2 = KILN_CONV2D_OPTS_INIT;
    struct kiln_pool2d_opts pool = {{2, 2}, {2, 2}, {0, 0}, 1};
    pad2.padding[0] = pad2.padding[1] = 2;
    kiln_tensor *h = kiln_relu(g, kiln_conv2d_layer(g, x, 6, 5, 5, &pad2, 1, "conv1", 1));
    h = kiln_max_pool2d(g, h, &pool);                                         /* 6x14x14 */
    h = kiln_relu(g, kiln_conv2d_layer(g, h, 16, 5, 5, NULL, 1, "conv2", 1)); /* 16x10x10 */
    h = kiln_avg_pool2d(g, h, &pool);                                         /* 16x5x5 */
    h = kiln_flatten(g, h);
    h = kiln_relu(g, fc(g, h, 120, "fc1"));
    h = kiln_relu(g, fc(g, h, 84, "fc2"));
    kiln_tensor *loss = kiln_softmax_xent(g, fc(g, h, 10, "fc3"), lab);
    ck_assert_msg(kiln_graph_status(g) == KILN_OK, "%s", kiln_last_error());
    struct kiln_shape ws;
    kiln_tensor_shape(kiln_graph_find(g, "conv2.weight"), &ws);
    ck_assert(ws.rank == 4 && ws.dims[0] == 16 && ws.dims[1] == 6 && ws.dims[2] == 5);
    prepare(g, loss, 0.05f);
    upload_batch(x, lab, n, 10);
    float l0 = step_loss(g, loss), l = l0, prev = l0;
    int falls = 0;
    for (int i = 0; i < 29; i++) {
        l = step_loss(g, loss);
        falls += l < prev;
        prev = l;
    }
    printf("lenet5 on %s: loss %.4f -> %.4f over 30 steps\n", backend, l0, l);
    ck_assert_msg(isfinite(l) && l < 0.7f * l0, "loss %g -> %g", l0, l);
    ck_assert_msg(falls >= 20, "the loss fell in only %d of 29 steps", falls);
    kiln_graph_destroy(g);
}
END_TEST

START_TEST(test_modern_blocks_train)
{
    kiln_graph *g;
    int64_t n = 8, xd[4] = {n, 3, 8, 8}, widths[6] = {4, 3, 4, 2, 3, 3};
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
    kiln_tensor *lab = kiln_input(g, "labels", KILN_DTYPE_I32, 1, &n);
    struct kiln_conv2d_opts up = KILN_CONV2D_OPTS_INIT;
    up.stride[0] = up.stride[1] = 2;
    up.padding[0] = up.padding[1] = 1;
    up.output_padding[0] = up.output_padding[1] = 1;
    kiln_tensor *h =
        kiln_relu(g, kiln_batch_norm(g, kiln_conv2d_layer(g, x, 8, 3, 3, NULL, 0, "stem", 2),
                                     "stem_bn", 0.1f, 1e-5f)); /* 8x6x6 */
    h = kiln_basic_block(g, h, 8, 1, "layer1.0", 2);
    h = kiln_basic_block(g, h, 12, 2, "layer2.0", 2);                    /* 12x3x3 */
    h = kiln_inception_block(g, h, widths, "inc", 2);                    /* 14x3x3 */
    h = kiln_conv_transpose2d_layer(g, h, 6, 3, 3, &up, 1, "deconv", 2); /* 6x6x6 */
    h = kiln_lrn(g, h, 3, 1e-2f, 0.75f, 1.0f);
    h = kiln_dropout(g, kiln_flatten(g, kiln_global_avg_pool2d(g, h)), 0.1f, 99);
    kiln_tensor *logits = kiln_tensor_keep(fc(g, h, 4, "fc"));
    kiln_tensor *loss = kiln_softmax_xent(g, logits, lab);
    ck_assert_msg(kiln_graph_status(g) == KILN_OK, "%s", kiln_last_error());
    ck_assert_ptr_nonnull(kiln_graph_find(g, "layer2.0.downsample.1.running_var"));
    ck_assert_ptr_null(kiln_graph_find(g, "layer1.0.downsample.0.weight"));
    prepare(g, loss, 0.05f);
    upload_batch(x, lab, n, 4);
    float l0 = step_loss(g, loss), l = l0;
    for (int i = 0; i < 25; i++) {
        l = step_loss(g, loss);
    }
    printf("bn/residual/inception/deconv/lrn/dropout net on %s: loss %.4f -> %.4f\n", backend, l0,
           l);
    ck_assert_msg(isfinite(l) && l < 0.8f * l0, "loss %g -> %g", l0, l);
    ck_assert_msg(kiln_graph_eval(g, 1, &logits) == KILN_OK, "%s", kiln_last_error());
    kiln_graph_destroy(g);
}
END_TEST

/* One training run of batch norm: the output uses batch statistics, the running ones
 * move by momentum toward the batch mean and unbiased variance; eval uses them. */
START_TEST(test_batch_norm_running_stats)
{
    kiln_graph *g;
    int64_t xd[4] = {2, 2, 1, 3};
    float xs[12] = {1, 2, 3, 4, 5, 6, -1, 0, 2, 7, 8, 9}, y[12];
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
    kiln_tensor *out = kiln_tensor_keep(kiln_batch_norm(g, x, "bn", 0.1f, 1e-5f));
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(kiln_tensor_upload(x, xs, sizeof(xs)), KILN_OK);
    ck_assert_int_eq(kiln_graph_run(g), KILN_OK);
    float rm[2], rv[2];
    ck_assert_int_eq(kiln_tensor_download(kiln_graph_find(g, "bn.running_mean"), rm, 8), KILN_OK);
    ck_assert_int_eq(kiln_tensor_download(kiln_graph_find(g, "bn.running_var"), rv, 8), KILN_OK);
    for (int c = 0; c < 2; c++) {
        double s = 0, q = 0;
        for (int b = 0; b < 2; b++) {
            for (int k = 0; k < 3; k++) {
                s += xs[b * 6 + c * 3 + k];
            }
        }
        double mean = s / 6;
        for (int b = 0; b < 2; b++) {
            for (int k = 0; k < 3; k++) {
                q += pow(xs[b * 6 + c * 3 + k] - mean, 2);
            }
        }
        ck_assert_double_eq_tol(rm[c], 0.1 * mean, 1e-6);
        ck_assert_double_eq_tol(rv[c], 0.9 + 0.1 * q / 5, 1e-6);
    }
    ck_assert_int_eq(kiln_graph_eval(g, 1, &out), KILN_OK);
    ck_assert_int_eq(kiln_tensor_download(out, y, sizeof(y)), KILN_OK);
    for (int i = 0; i < 12; i++) {
        int c = (i / 3) % 2;
        ck_assert_double_eq_tol(y[i], (xs[i] - rm[c]) / sqrt(rv[c] + 1e-5), 1e-5);
    }
    /* eval does not move the running statistics */
    float rm2[2];
    ck_assert_int_eq(kiln_tensor_download(kiln_graph_find(g, "bn.running_mean"), rm2, 8), KILN_OK);
    ck_assert(rm2[0] == rm[0] && rm2[1] == rm[1]);
    /* The running statistics are saved with the parameters (no optimizer state) and a
     * new graph that loads them evaluates the same. */
    char path[] = "/tmp/kiln_bn_XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    close(fd);
    ck_assert_msg(kiln_graph_save(g, path, 0) == KILN_OK, "%s", kiln_last_error());
    kiln_graph_destroy(g);
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    x = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
    out = kiln_tensor_keep(kiln_batch_norm(g, x, "bn", 0.1f, 1e-5f));
    ck_assert_int_eq(kiln_graph_compile(g), KILN_OK);
    ck_assert_msg(kiln_graph_load(g, path, 0) == KILN_OK, "%s", kiln_last_error());
    unlink(path);
    ck_assert_int_eq(kiln_tensor_upload(x, xs, sizeof(xs)), KILN_OK);
    ck_assert_int_eq(kiln_graph_eval(g, 1, &out), KILN_OK);
    float y2[12];
    ck_assert_int_eq(kiln_tensor_download(out, y2, sizeof(y2)), KILN_OK);
    ck_assert(memcmp(y, y2, sizeof(y)) == 0);
    kiln_graph_destroy(g);
}
END_TEST

START_TEST(test_dropout_masks)
{
    kiln_graph *g;
    int64_t n = 4096;
    float *xs = malloc((size_t)n * sizeof(float)), *a = malloc((size_t)n * sizeof(float)),
          *b = malloc((size_t)n * sizeof(float));
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 1, &n);
    kiln_tensor *y = kiln_tensor_keep(kiln_dropout(g, x, 0.25f, 5));
    ck_assert_int_eq(kiln_graph_compile(g), KILN_OK);
    for (int64_t i = 0; i < n; i++) {
        xs[i] = 1.0f;
    }
    ck_assert_int_eq(kiln_tensor_upload(x, xs, (size_t)n * 4), KILN_OK);
    ck_assert_int_eq(kiln_graph_run(g), KILN_OK);
    ck_assert_int_eq(kiln_tensor_download(y, a, (size_t)n * 4), KILN_OK);
    ck_assert_int_eq(kiln_graph_run(g), KILN_OK);
    ck_assert_int_eq(kiln_tensor_download(y, b, (size_t)n * 4), KILN_OK);
    int64_t kept = 0, differ = 0;
    for (int64_t i = 0; i < n; i++) {
        ck_assert(a[i] == 0.0f || a[i] == 1.0f / 0.75f);
        kept += a[i] != 0.0f;
        differ += a[i] != b[i];
    }
    ck_assert_msg(kept > 0.70 * n && kept < 0.80 * n, "kept %lld of %lld", (long long)kept,
                  (long long)n);
    ck_assert_msg(differ > n / 8, "masks of two runs differ in only %lld", (long long)differ);
    ck_assert_int_eq(kiln_graph_eval(g, 1, &y), KILN_OK);
    ck_assert_int_eq(kiln_tensor_download(y, a, (size_t)n * 4), KILN_OK);
    for (int64_t i = 0; i < n; i++) {
        ck_assert(a[i] == 1.0f);
    }
    kiln_graph_destroy(g);
    free(xs);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_bad_arguments)
{
    kiln_graph *g;
    int64_t xd[4] = {1, 3, 5, 5};
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
    struct kiln_conv2d_opts o = KILN_CONV2D_OPTS_INIT;
    o.groups = 2; /* 3 channels are not divisible by 2 */
    kiln_tensor *y = kiln_conv2d_layer(g, x, 4, 3, 3, &o, 1, "c", 0);
    ck_assert(kiln_graph_status(g) == KILN_E_INVALID_ARG);
    ck_assert_ptr_nonnull(y);
    kiln_graph_destroy(g);
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    x = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
    kiln_conv2d_layer(g, x, 4, 7, 7, NULL, 1, "c", 0); /* kernel larger than the input */
    ck_assert(kiln_graph_status(g) == KILN_E_SHAPE);
    ck_assert_msg(strstr(kiln_last_error(), "conv2d") != NULL, "%s", kiln_last_error());
    kiln_graph_destroy(g);
}
END_TEST

int main(int argc, char **argv)
{
    backend = argc > 1 ? argv[1] : "cpu";
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *probe;
    o.backend = backend;
    kiln_status st = kiln_context_create(&o, &probe);
    if (st != KILN_OK) {
        printf("SKIP: backend '%s': %s\n", backend, kiln_last_error());
        return 77;
    }
    /* A GPU backend without kernels for these ops yet is a SKIP that names them (the op
     * harness counts the same gap case by case). */
    static const int ops[] = {
        KILN_OP_CONV2D,
        KILN_OP_CONV2D_BWD_DATA,
        KILN_OP_CONV2D_BWD_FILTER,
        KILN_OP_MAXPOOL2D,
        KILN_OP_MAXPOOL2D_BWD,
        KILN_OP_AVGPOOL2D,
        KILN_OP_AVGPOOL2D_BWD,
        KILN_OP_BN_STATS,
        KILN_OP_BN_STATS_BWD,
        KILN_OP_BN_APPLY,
        KILN_OP_BN_APPLY_BWD,
        KILN_OP_BN_APPLY_BWD_PARAMS,
        KILN_OP_BN_RUNNING_UPDATE,
        KILN_OP_LRN,
        KILN_OP_LRN_BWD,
        KILN_OP_CONCAT,
        KILN_OP_SLICE,
        KILN_OP_DROPOUT,
    };
    char missing[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (probe->be.ops->kernels[ops[i]].run == NULL && len < sizeof(missing)) {
            len += (size_t)snprintf(missing + len, sizeof(missing) - len, " %s",
                                    kiln__op_name(ops[i]));
        }
    }
    kiln_context_destroy(probe);
    if (len > 0) {
        printf("SKIP: backend '%s' has no kernel for:%s\n", backend, missing);
        return 77;
    }
    Suite *s = suite_create("conv-layers");
    TCase *tc = tcase_create("layers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_lenet5_trains);
    tcase_add_test(tc, test_modern_blocks_train);
    tcase_add_test(tc, test_batch_norm_running_stats);
    tcase_add_test(tc, test_dropout_masks);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
