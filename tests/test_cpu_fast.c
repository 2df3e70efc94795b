/*
 * test_cpu_fast.c - the CPU backend's fast kernels (src/backend/cpu) at the sizes of a
 * training step, against the references (the cpu-reference device), through the op
 * harness: batch-64 LeNet convolutions (large enough that the fast kernels share their
 * chunks among OpenMP threads), ResNet layers and odd shapes whose per-image GEMMs are
 * larger than a piece (cut into pieces: blocks of columns, of rows and columns, of
 * positions; strided and grouped too), same-width outputs of odd padding and dilation (whole
 * planes and rows of im2col and col2im) and a wide layer's (whole GEMMs), LeNet's first dense layer
 * (matrix products in row blocks), broadcasts, the MLP's first layer and odd large products
 * (tiles), bias additions and sums, pooling, ReLU and batch normalization on [64, 16, 28, 28],
 * the fused ops the planner forms on the fast device (ADD_RELU, MAXPOOL2D_RELU_BWD and
 * CONV2D_BIAS, over integers that put exact zeros at the ReLU's boundary and ties in the pooling
 * windows; biases [K], [K, 1, 1] and [1, K, 1, 1]), and SGD and Adam updates past the first step
 * (bitwise; some above the optimizers' threading threshold). The rows are too large for the op
 * tables of tests/ops (every row there has a PyTorch golden file), so they live here, and only the
 * CPU backend runs them. Also checks that filter gradients and a large product come out bitwise
 * the same on 1 and 3 threads (chunks summed in fixed slices; tiles summed along k in order).
 * meson runs it with OMP_NUM_THREADS=3, so the threaded paths run on any machine.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "op_harness.h"

static struct oh_env env;

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -1.0f, 1.0f                                                                    \
    }

/* x [n, c, h, w], w [k, c, kh, kw], stride 1, padding pd on both sides */
#define CV(nt, X, W, pd)                                                                           \
    {                                                                                              \
        .op = KILN_OP_CONV2D, .note = nt, .shape = {X, W},                                         \
        .p.conv = {{1, 1}, {pd, pd}, {1, 1}, 1, {0, 0}, {0, 0}}, .gen = {U, U},                    \
    }
#define BD(nt, DY, W, pd, ih, iw)                                                                  \
    {                                                                                              \
        .op = KILN_OP_CONV2D_BWD_DATA, .note = nt, .shape = {DY, W},                               \
        .p.conv = {{1, 1}, {pd, pd}, {1, 1}, 1, {ih, iw}, {0, 0}}, .gen = {U, U},                  \
    }
#define BF(nt, X, DY, pd, kh, kw)                                                                  \
    {                                                                                              \
        .op = KILN_OP_CONV2D_BWD_FILTER, .note = nt, .shape = {X, DY},                             \
        .p.conv = {{1, 1}, {pd, pd}, {1, 1}, 1, {0, 0}, {kh, kw}}, .gen = {U, U},                  \
    }

/* The same with stride s and g groups (the data gradient's input is ih x iw). */
#define CVG(nt, X, W, pd, s, g)                                                                    \
    {                                                                                              \
        .op = KILN_OP_CONV2D, .note = nt, .shape = {X, W},                                         \
        .p.conv = {{s, s}, {pd, pd}, {1, 1}, g, {0, 0}, {0, 0}}, .gen = {U, U},                    \
    }
#define BDG(nt, DY, W, pd, ih, iw, s, g)                                                           \
    {                                                                                              \
        .op = KILN_OP_CONV2D_BWD_DATA, .note = nt, .shape = {DY, W},                               \
        .p.conv = {{s, s}, {pd, pd}, {1, 1}, g, {ih, iw}, {0, 0}}, .gen = {U, U},                  \
    }
#define BFG(nt, X, DY, pd, kh, kw, s, g)                                                           \
    {                                                                                              \
        .op = KILN_OP_CONV2D_BWD_FILTER, .note = nt, .shape = {X, DY},                             \
        .p.conv = {{s, s}, {pd, pd}, {1, 1}, g, {0, 0}, {kh, kw}}, .gen = {U, U},                  \
    }

/* Stride 1 with padding (ph, pw) and dilation (dh, dw): output rows as wide as the
 * input's, where im2col copies whole planes for some taps and rows for the others. */
#define CVD(nt, X, W, ph, pw, dh, dw)                                                              \
    {                                                                                              \
        .op = KILN_OP_CONV2D, .note = nt, .shape = {X, W},                                         \
        .p.conv = {{1, 1}, {ph, pw}, {dh, dw}, 1, {0, 0}, {0, 0}}, .gen = {U, U},                  \
    }

#define TIES                                                                                       \
    {                                                                                              \
        OH_TIES, -2.0f, 2.0f                                                                       \
    }

/* CONV2D_BIAS: x, w, bias (shape B), stride s, padding pd, g groups, relu r; x, w and the
 * bias integers in [-2, 2] (exact sums: outputs of exactly 0 at the ReLU's boundary) */
#define CB(nt, X, W, B, pd, s, g, r)                                                               \
    {                                                                                              \
        .op = KILN_OP_CONV2D_BIAS, .note = nt, .n_in = 3, .shape = {X, W, B},                      \
        .p.conv2d_bias = {{s, s}, {pd, pd}, {1, 1}, g, {0, 0}, {0, 0}, r},                         \
        .gen = {TIES, TIES, TIES}, .flags = OH_NO_FD,                                              \
    }
static kiln_tensor *build_bn(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    (void)c;
    return kiln_batch_norm(g, in[0], "bn", 0.1f, 1e-5f);
}

static const struct oh_case cases[] = {
    CV("LeNet conv1", OH_S4(64, 1, 28, 28), OH_S4(6, 1, 5, 5), 2),
    CV("LeNet conv2", OH_S4(64, 6, 14, 14), OH_S4(16, 6, 5, 5), 0),
    CV("ResNet 16@28", OH_S4(8, 16, 28, 28), OH_S4(16, 16, 3, 3), 1),
    BD("LeNet conv2", OH_S4(64, 16, 10, 10), OH_S4(16, 6, 5, 5), 0, 14, 14),
    BD("ResNet 16@28", OH_S4(8, 16, 28, 28), OH_S4(16, 16, 3, 3), 1, 28, 28),
    BF("LeNet conv1", OH_S4(64, 1, 28, 28), OH_S4(64, 6, 28, 28), 2, 5, 5),
    BF("LeNet conv2", OH_S4(64, 6, 14, 14), OH_S4(64, 16, 10, 10), 0, 5, 5),
    BF("ResNet 16@28", OH_S4(8, 16, 28, 28), OH_S4(8, 16, 28, 28), 1, 3, 3),
    /* per-image GEMMs larger than a piece: ResNet's later stages, odd sizes, stride 2,
     * groups */
    CV("ResNet 64@7", OH_S4(9, 64, 7, 7), OH_S4(64, 64, 3, 3), 1),
    BD("ResNet 64@7", OH_S4(9, 64, 7, 7), OH_S4(64, 64, 3, 3), 1, 7, 7),
    BF("ResNet 64@7", OH_S4(9, 64, 7, 7), OH_S4(9, 64, 7, 7), 1, 3, 3),
    CVG("ResNet 32@14, stride 2", OH_S4(6, 16, 28, 28), OH_S4(32, 16, 3, 3), 1, 2, 1),
    BDG("ResNet 32@14, stride 2", OH_S4(6, 32, 14, 14), OH_S4(32, 16, 3, 3), 1, 28, 28, 2, 1),
    BFG("ResNet 32@14, stride 2", OH_S4(6, 16, 28, 28), OH_S4(6, 32, 14, 14), 1, 3, 3, 2, 1),
    CV("odd", OH_S4(5, 37, 9, 11), OH_S4(45, 37, 3, 3), 1),
    BD("odd", OH_S4(5, 45, 9, 11), OH_S4(45, 37, 3, 3), 1, 9, 11),
    BF("odd", OH_S4(5, 37, 9, 11), OH_S4(5, 45, 9, 11), 1, 3, 3),
    CVG("odd, stride 2, 2 groups", OH_S4(3, 74, 15, 13), OH_S4(90, 37, 3, 3), 1, 2, 2),
    BDG("odd, stride 2, 2 groups", OH_S4(3, 90, 8, 7), OH_S4(90, 37, 3, 3), 1, 15, 13, 2, 2),
    BFG("odd, stride 2, 2 groups", OH_S4(3, 74, 15, 13), OH_S4(3, 90, 8, 7), 1, 3, 3, 2, 2),
    /* same-width outputs: dilation 2, a 3x5 kernel with padding (1, 2),
     * fewer output rows than input rows, one column, padding wider than the kernel's
     * reach on one side */
    CVD("same width, dilation 2", OH_S4(3, 5, 9, 13), OH_S4(7, 5, 3, 3), 2, 2, 2, 2),
    CVD("same width, 3x5, pad (1, 2)", OH_S4(2, 3, 6, 11), OH_S4(4, 3, 3, 5), 1, 2, 1, 1),
    CVD("same width, 5x3, pad (1, 1)", OH_S4(2, 3, 7, 6), OH_S4(4, 3, 5, 3), 1, 1, 1, 1),
    CVD("one column", OH_S4(2, 3, 8, 1), OH_S4(5, 3, 3, 3), 1, 1, 1, 1),
    CVD("same width, 1x3 dilation 3, pad (2, 3)", OH_S4(2, 2, 4, 7), OH_S4(3, 2, 1, 3), 2, 3, 1, 3),
    /* images in the lanes of vectors (small planes, a vector of images or more), the
     * last group partly filled; with dilation */
    CV("lanes, 21 images", OH_S4(21, 5, 9, 7), OH_S4(7, 5, 3, 3), 1),
    BD("lanes, 21 images", OH_S4(21, 7, 9, 7), OH_S4(7, 5, 3, 3), 1, 9, 7),
    BF("lanes, 21 images", OH_S4(21, 5, 9, 7), OH_S4(21, 7, 9, 7), 1, 3, 3),
    CVD("lanes, dilation 2", OH_S4(20, 3, 11, 9), OH_S4(8, 3, 3, 3), 2, 1, 2, 1),
    /* a wide layer: whole GEMMs, threaded by OpenBLAS */
    CV("wide", OH_S4(3, 64, 6, 6), OH_S4(128, 64, 3, 3), 1),
    BD("wide", OH_S4(3, 128, 6, 6), OH_S4(128, 64, 3, 3), 1, 6, 6),
    BF("wide", OH_S4(3, 64, 6, 6), OH_S4(3, 128, 6, 6), 1, 3, 3),
    {.op = KILN_OP_MATMUL,
     .note = "LeNet fc1",
     .shape = {OH_S2(64, 400), OH_S2(400, 120)},
     .gen = {U, U}},
    /* products larger than KILN__CPU_SERIAL_MACS, or with rows larger than a piece: tiles
     * of C summed along k in pieces, shared among threads (the MLP's first layer at batch
     * 64, forward and weight gradient; a batched product with odd sizes) */
    {.op = KILN_OP_MATMUL,
     .note = "MLP fc1",
     .shape = {OH_S2(64, 784), OH_S2(784, 256)},
     .gen = {U, U}},
    {.op = KILN_OP_MATMUL,
     .note = "MLP fc1 weight gradient",
     .shape = {OH_S2(64, 784), OH_S2(64, 256)},
     .p.mm = {1, 0},
     .gen = {U, U}},
    {.op = KILN_OP_MATMUL,
     .note = "batched, odd, b transposed",
     .shape = {OH_S3(3, 37, 2100), OH_S3(3, 130, 2100)},
     .p.mm = {0, 1},
     .gen = {U, U}},
    {.op = KILN_OP_MATMUL,
     .note = "odd, both transposed, rows above a piece",
     .shape = {OH_S2(1000, 5), OH_S2(70, 1000)},
     .p.mm = {1, 1},
     .gen = {U, U}},
    {.op = KILN_OP_ADD,
     .note = "conv bias",
     .shape = {OH_S4(64, 16, 28, 28), OH_S3(16, 1, 1)},
     .gen = {U, U}},
    {.op = KILN_OP_ADD,
     .note = "residual",
     .shape = {OH_S4(64, 16, 28, 28), OH_S4(64, 16, 28, 28)},
     .gen = {U, U}},
    {.op = KILN_OP_REDUCE_SUM,
     .note = "conv bias gradient",
     .shape = {OH_S4(64, 16, 28, 28)},
     .p.red = {13, 1.0f},
     .gen = {U}},
    /* the gradient of ResNet's global average pool, and an expansion along a middle axis
     * (copies of rows) */
    {.op = KILN_OP_BROADCAST,
     .note = "global average pool gradient",
     .shape = {OH_S4(64, 64, 1, 1)},
     .p.bc = {1.0f / 49.0f, OH_S4(64, 64, 7, 7)},
     .gen = {U},
     .flags = OH_BITWISE},
    {.op = KILN_OP_BROADCAST,
     .note = "middle axis",
     .shape = {OH_S3(33, 1, 129)},
     .p.bc = {-0.5f, OH_S4(3, 33, 17, 129)},
     .gen = {U},
     .flags = OH_BITWISE},
    {.op = KILN_OP_RELU, .note = "[64, 16, 28, 28]", .shape = {OH_S4(64, 16, 28, 28)}, .gen = {U}},
    /* the fused ops the planner forms on the fast device: integers, so that sums are exactly
     * 0 at the ReLU's boundary and pooling windows tie */
    {.op = KILN_OP_ADD_RELU,
     .note = "conv bias [K, 1, 1], ties at 0 (threaded)",
     .shape = {OH_S4(64, 16, 28, 28), OH_S3(16, 1, 1)},
     .gen = {TIES, TIES},
     .flags = OH_NO_FD},
    {.op = KILN_OP_ADD_RELU,
     .note = "conv bias [1, K, 1, 1], odd plane",
     .shape = {OH_S4(9, 6, 13, 11), OH_S4(1, 6, 1, 1)},
     .gen = {TIES, TIES},
     .flags = OH_NO_FD},
    {.op = KILN_OP_ADD_RELU,
     .note = "dense bias [K] (LeNet fc1)",
     .shape = {OH_S2(64, 120), OH_S1(120)},
     .gen = {TIES, TIES},
     .flags = OH_NO_FD},
    {.op = KILN_OP_MAXPOOL2D_RELU_BWD,
     .note = "2x2 stride 2, ties, [64, 16, 28, 28] (threaded)",
     .shape = {OH_S4(64, 16, 28, 28), OH_S4(64, 16, 14, 14)},
     .p.pool = {{2, 2}, {2, 2}, {0, 0}, 0, {0, 0}},
     .gen = {{OH_TIES, -1.0f, 1.0f}, U},
     .flags = OH_NO_FD},
    {.op = KILN_OP_MAXPOOL2D_RELU_BWD,
     .note = "2x2 stride 2, ties, odd rows and columns",
     .shape = {OH_S4(5, 6, 15, 13), OH_S4(5, 6, 7, 6)},
     .p.pool = {{2, 2}, {2, 2}, {0, 0}, 0, {0, 0}},
     .gen = {{OH_TIES, -1.0f, 1.0f}, U},
     .flags = OH_NO_FD},
    CB("LeNet conv1, bias [K], relu (threaded chunks)", OH_S4(64, 1, 28, 28), OH_S4(6, 1, 5, 5),
       OH_S1(6), 2, 1, 1, 1),
    CB("LeNet conv2, bias [K, 1, 1], relu", OH_S4(64, 6, 14, 14), OH_S4(16, 6, 5, 5),
       OH_S3(16, 1, 1), 0, 1, 1, 1),
    CB("LeNet conv2, bias [1, K, 1, 1], no relu", OH_S4(64, 6, 14, 14), OH_S4(16, 6, 5, 5),
       OH_S4(1, 16, 1, 1), 0, 1, 1, 0),
    CB("one image per chunk (large plane), relu", OH_S4(2, 3, 100, 100), OH_S4(8, 3, 3, 3),
       OH_S1(8), 1, 1, 1, 1),
    CB("in pieces, stride 2, 2 groups, relu", OH_S4(3, 74, 15, 13), OH_S4(90, 37, 3, 3), OH_S1(90),
       1, 2, 2, 1),
    {.op = KILN_OP_MAXPOOL2D,
     .note = "2x2 stride 2",
     .shape = {OH_S4(64, 16, 28, 28)},
     .p.pool = {{2, 2}, {2, 2}, {0, 0}, 0, {0, 0}},
     .gen = {U}},
    /* SGD after the first step (the op tables' rows are first steps): plain momentum,
     * dampening with weight decay, Nesterov; a first step with Nesterov; and the
     * optimizer's update, which clears the gradient */
    {.op = KILN_OP_SGD_UPDATE,
     .note = "momentum, step 2",
     .shape = {OH_S1(235146), OH_S1(235146), OH_S1(235146)},
     .p.sgd = {0.01f, 0.9f, 0.0f, 0.0f, 0, 2},
     .gen = {U, U, U},
     .steps = 2},
    {.op = KILN_OP_SGD_UPDATE,
     .note = "dampening and weight decay, step 3",
     .shape = {OH_S1(1031), OH_S1(1031), OH_S1(1031)},
     .p.sgd = {0.05f, 0.9f, 0.5f, 5e-4f, 0, 3},
     .gen = {U, U, U},
     .steps = 2},
    {.op = KILN_OP_SGD_UPDATE,
     .note = "nesterov, step 2",
     .shape = {OH_S1(1031), OH_S1(1031), OH_S1(1031)},
     .p.sgd = {0.05f, 0.9f, 0.0f, 0.001f, 1, 2},
     .gen = {U, U, U},
     .steps = 3},
    {.op = KILN_OP_SGD_UPDATE,
     .note = "nesterov, first step",
     .shape = {OH_S1(1031), OH_S1(1031), OH_S1(1031)},
     .p.sgd = {0.05f, 0.9f, 0.0f, 0.001f, 1, 1},
     .gen = {U, U, U}},
    {.op = KILN_OP_SGD_UPDATE,
     .note = "momentum, the gradient cleared (the optimizer's form), LeNet's 61706",
     .shape = {OH_S1(61706), OH_S1(61706), OH_S1(61706)},
     .p.sgd = {0.01f, 0.9f, 0.0f, 0.0f, 0, 2, 1},
     .gen = {U, U, U},
     .steps = 2},
    /* above KILN__CPU_OPTIM_PAR_ELEMS (threads share the blocks), with a partial last
     * block; bitwise, as every update */
    {.op = KILN_OP_SGD_UPDATE,
     .note = "momentum, the gradient cleared, threaded",
     .shape = {OH_S1(1049607), OH_S1(1049607), OH_S1(1049607)},
     .p.sgd = {0.01f, 0.9f, 0.0f, 1e-4f, 0, 2, 1},
     .gen = {U, U, U},
     .steps = 3,
     .flags = OH_BITWISE},
    {.op = KILN_OP_SGD_UPDATE,
     .note = "no momentum, the gradient cleared",
     .shape = {OH_S1(235146), OH_S1(235146), OH_S1(235146)},
     .p.sgd = {0.01f, 0.0f, 0.0f, 1e-3f, 0, 2, 1},
     .gen = {U, U, U},
     .steps = 2,
     .flags = OH_BITWISE},
    /* Adam at steps 1 to 3 (bias corrections set per step): L2 decay with the optimizer's
     * clear, threaded; AdamW's decoupled decay, the gradient kept */
    {.op = KILN_OP_ADAM_UPDATE,
     .note = "L2 decay, the gradient cleared, threaded",
     .shape = {OH_S1(1049607), OH_S1(1049607), OH_S1(1049607), OH_S1(1049607)},
     .p.adam = {1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, 0, 1.0f, 1.0f, 1},
     .gen = {U, U, U, {OH_UNIFORM, 0.0f, 1.0f}},
     .steps = 3,
     .flags = OH_BITWISE},
    {.op = KILN_OP_ADAM_UPDATE,
     .note = "AdamW, the MLP's 235146",
     .shape = {OH_S1(235146), OH_S1(235146), OH_S1(235146), OH_S1(235146)},
     .p.adam = {1e-3f, 0.8f, 0.99f, 1e-6f, 5e-2f, 1, 1.0f, 1.0f, 0},
     .gen = {U, U, U, {OH_UNIFORM, 0.0f, 1.0f}},
     .steps = 3,
     .flags = OH_BITWISE},
    {.op = KILN_OP_BN_APPLY,
     .note = "batch norm, [64, 16, 28, 28]",
     .shape = {OH_S4(64, 16, 28, 28)},
     .gen = {U},
     .n_in = 1,
     .build = build_bn},
    /* more channels than one group of the per-channel sums (64), odd planes, threaded */
    {.op = KILN_OP_BN_APPLY,
     .note = "batch norm, [8, 80, 29, 31]",
     .shape = {OH_S4(8, 80, 29, 31)},
     .gen = {{OH_UNIFORM, -0.5f, 2.0f}},
     .n_in = 1,
     .build = build_bn},
    /* ResNet's third stage: below the threading threshold */
    {.op = KILN_OP_BN_APPLY,
     .note = "batch norm, [64, 64, 7, 7]",
     .shape = {OH_S4(64, 64, 7, 7)},
     .gen = {U},
     .n_in = 1,
     .build = build_bn},
};

#define N_CASES ((int)(sizeof(cases) / sizeof(cases[0])))

START_TEST(test_case)
{
    char msg[2048];
    bool ok = oh_run_case(&env, &cases[_i], msg, sizeof(msg));
    ck_assert_msg(ok, "case %d: %s", _i, msg);
}
END_TEST

/* The filter gradient of case ci on the fast device with t threads. */
static bool filter_on(int ci, int threads, float *out, size_t n, char *msg, size_t len)
{
    const struct oh_case *c = &cases[ci];
    void *data[2];
    struct oh_side sd;
    bool ok = false;
    memset(&sd, 0, sizeof(sd));
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    for (int i = 0; i < 2; i++) {
        data[i] = malloc((size_t)kiln__shape_elems(&c->shape[i]) * sizeof(float));
        oh_fill_input(c, i, 0, data[i]);
    }
    if (oh_run_side(env.be, &env, c, data, &sd, msg, len)) {
        memcpy(out, sd.out, n * sizeof(float));
        ok = true;
    }
    oh_side_free(&sd);
    free(data[0]);
    free(data[1]);
    return ok;
}

START_TEST(test_filter_threads)
{
    /* LeNet conv2 (one GEMM per chunk) and ResNet 64@7 (in pieces); and the MLP's fc1,
     * whose tiles the threads share */
    int which[3] = {6, 10, -1};
    static const size_t sizes[3] = {2400, 36864, 16384};
    static float one[36864], three[36864];
    char msg[2048];
    for (int i = 0; i < N_CASES; i++) {
        if (cases[i].op == KILN_OP_MATMUL && strcmp(cases[i].note, "MLP fc1") == 0) {
            which[2] = i;
        }
    }
    ck_assert(which[2] >= 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(filter_on(which[i], 1, one, sizes[i], msg, sizeof(msg)), "%s", msg);
        ck_assert_msg(filter_on(which[i], 3, three, sizes[i], msg, sizeof(msg)), "%s", msg);
        ck_assert_msg(memcmp(one, three, sizes[i] * sizeof(float)) == 0,
                      "the output of case %d differs between 1 and 3 threads", which[i]);
    }
}
END_TEST

int main(void)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = "cpu";
    o.check = 0;
    o.device = "cpu";
    if (kiln_context_create(&o, &env.be) != KILN_OK) {
        fprintf(stderr, "kiln_context_create(cpu): %s\n", kiln_last_error());
        return 1;
    }
    o.device = "cpu-reference";
    if (kiln_context_create(&o, &env.cpu) != KILN_OK) {
        fprintf(stderr, "kiln_context_create(cpu-reference): %s\n", kiln_last_error());
        return 1;
    }
    env.backend = "cpu";
    env.guard_bytes = 256;
    Suite *s = suite_create("cpu-fast");
    TCase *tc = tcase_create("cases");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_case, 0, N_CASES);
    tcase_add_test(tc, test_filter_threads);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    kiln_context_destroy(env.be);
    kiln_context_destroy(env.cpu);
    return nf == 0 ? 0 : 1;
}
