/*
 * test_conv.c - case rows for conv2d and its adjoints: odd sizes, strides 1 and 2,
 * paddings, dilation 2, non-square kernels, groups (depthwise included), 1x1 and
 * whole-input kernels, and the transposed convolution through its public builder
 * (with output padding), and LeNet-sized batches that the CPU backend's fast kernels
 * take in several chunks, and stride-1 shapes with part-filled blocks for the OpenCL row
 * kernels. Each adjoint is also fed directly, with its own backward. conv2d_bias (the
 * convolution with a bias per output channel and a relu) is fed directly on the row
 * kernels' shapes (stride 1, kernel widths 3 and 5 for Vulkan's) and on others, where
 * the GPU backends add the bias in a second launch, and is made by the planner's fusion
 * from convolution layers (a convolution, its bias and a relu) on the backends whose
 * kernel for the node adds it.
 */
#include "../op_harness.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -1.0f, 1.0f                                                                    \
    }

/* x [n, c, h, w], w [k, cg, kh, kw]; stride, pad, dilation as (h, w) pairs. */
#define CV(nt, X, W, sh, sw, ph, pw, dh, dw, grp)                                                  \
    {                                                                                              \
        .op = KILN_OP_CONV2D, .note = nt, .shape = {X, W},                                         \
        .p.conv = {{sh, sw}, {ph, pw}, {dh, dw}, grp, {0, 0}, {0, 0}}, .gen = {U, U},              \
    }
/* dy, w -> dx of size ih x iw */
#define BD(nt, DY, W, sh, sw, ph, pw, dh, dw, grp, ih, iw)                                         \
    {                                                                                              \
        .op = KILN_OP_CONV2D_BWD_DATA, .note = nt, .shape = {DY, W},                               \
        .p.conv = {{sh, sw}, {ph, pw}, {dh, dw}, grp, {ih, iw}, {0, 0}}, .gen = {U, U},            \
    }
/* x, dy -> dw of kernel kh x kw */
#define BF(nt, X, DY, sh, sw, ph, pw, dh, dw, grp, kh, kw)                                         \
    {                                                                                              \
        .op = KILN_OP_CONV2D_BWD_FILTER, .note = nt, .shape = {X, DY},                             \
        .p.conv = {{sh, sw}, {ph, pw}, {dh, dw}, grp, {0, 0}, {kh, kw}}, .gen = {U, U},            \
    }

/* x, w, bias [k] (or bshape) -> conv2d + bias, relu with r */
#define CB(nt, X, W, B, sh, sw, ph, pw, dh, dw, grp, r)                                            \
    {                                                                                              \
        .op = KILN_OP_CONV2D_BIAS, .note = nt, .n_in = 3, .shape = {X, W, B},                      \
        .p.conv2d_bias = {{sh, sw}, {ph, pw}, {dh, dw}, grp, {0, 0}, {0, 0}, r}, .gen = {U, U, U}, \
    }

/* A convolution layer as conv2d_layer builds it: conv2d(x, w) + bias reshaped to [K, 1,
 * 1], then relu with p.conv2d_bias.relu; one conv2d_bias where the backend fuses it. */
static kiln_tensor *build_layer(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    const struct kiln__p_conv2d_bias *p = &c->p.conv2d_bias;
    struct kiln_conv2d_opts o = KILN_CONV2D_OPTS_INIT;
    int64_t bd[3] = {in[2]->shape.dims[0], 1, 1};
    for (int i = 0; i < 2; i++) {
        o.stride[i] = p->stride[i];
        o.padding[i] = p->pad[i];
        o.dilation[i] = p->dilation[i];
    }
    o.groups = p->groups;
    kiln_tensor *y = kiln_add(g, kiln_conv2d(g, in[0], in[1], &o), kiln_reshape(g, in[2], 3, bd));
    return p->relu ? kiln_relu(g, y) : y;
}

/* The layer's output flattened (as LeNet's last convolution is): a view of the fused
 * node's storage. */
static kiln_tensor *build_layer_flat(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    /* [N, -1]: the batch from x (a node whose allocation failed has no shape) */
    int64_t d[2] = {in[0]->shape.dims[0], -1};
    return kiln_reshape(g, build_layer(g, in, c), 2, d);
}

#define LAYER(nt, X, W, K, sh, ph, r, fn)                                                          \
    {                                                                                              \
        .op = KILN_OP_CONV2D_BIAS, .note = nt, .n_in = 3, .shape = {X, W, OH_S1(K)},               \
        .p.conv2d_bias = {{sh, sh}, {ph, ph}, {1, 1}, 1, {0, 0}, {0, 0}, r}, .gen = {U, U, U},     \
        .build = fn,                                                                               \
    }

/* PyTorch ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1). */
static kiln_tensor *build_tconv(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    struct kiln_conv2d_opts o = KILN_CONV2D_OPTS_INIT;
    (void)c;
    o.stride[0] = o.stride[1] = 2;
    o.padding[0] = o.padding[1] = 1;
    o.output_padding[0] = o.output_padding[1] = 1;
    return kiln_conv_transpose2d(g, in[0], in[1], &o);
}

/* Grouped transposed convolution with dilation, no output padding. */
static kiln_tensor *build_tconv_groups(kiln_graph *g, kiln_tensor *const *in,
                                       const struct oh_case *c)
{
    struct kiln_conv2d_opts o = KILN_CONV2D_OPTS_INIT;
    (void)c;
    o.groups = 2;
    o.dilation[0] = 2;
    o.stride[1] = 2;
    return kiln_conv_transpose2d(g, in[0], in[1], &o);
}

static const struct oh_case cases[] = {
    CV("3x3 valid", OH_S4(2, 3, 7, 9), OH_S4(4, 3, 3, 3), 1, 1, 0, 0, 1, 1, 1),
    CV("stride 2, pad 1", OH_S4(2, 3, 8, 7), OH_S4(5, 3, 3, 3), 2, 2, 1, 1, 1, 1, 1),
    CV("dilation 2, 3x2 kernel, stride (1, 2), pad (2, 1)", OH_S4(1, 2, 9, 8), OH_S4(3, 2, 3, 2), 1,
       2, 2, 1, 2, 2, 1),
    CV("2 groups, pad 1", OH_S4(2, 4, 6, 5), OH_S4(6, 2, 3, 3), 1, 1, 1, 1, 1, 1, 2),
    CV("depthwise, stride 2", OH_S4(2, 4, 7, 7), OH_S4(4, 1, 3, 3), 2, 2, 1, 1, 1, 1, 4),
    CV("depthwise multiplier 2", OH_S4(1, 3, 5, 6), OH_S4(6, 1, 3, 3), 1, 1, 1, 1, 1, 1, 3),
    CV("1x1", OH_S4(1, 5, 5, 5), OH_S4(3, 5, 1, 1), 1, 1, 0, 0, 1, 1, 1),
    CV("5x5 (LeNet)", OH_S4(3, 1, 12, 12), OH_S4(6, 1, 5, 5), 1, 1, 0, 0, 1, 1, 1),
    CV("kernel covers the input", OH_S4(1, 3, 5, 4), OH_S4(2, 3, 5, 4), 1, 1, 0, 0, 1, 1, 1),
    CV("3 groups, 3x1, dilation (1, 2)", OH_S4(2, 6, 5, 7), OH_S4(9, 2, 3, 1), 2, 1, 0, 1, 1, 2, 3),
    CV("stride 2 leaves a row out", OH_S4(1, 2, 6, 6), OH_S4(2, 2, 3, 3), 2, 2, 0, 0, 1, 1, 1),
    CV("16 channels, pad 1", OH_S4(2, 16, 6, 5), OH_S4(4, 16, 3, 3), 1, 1, 1, 1, 1, 1, 1),
    CV("16 channels, stride (2, 1), pad (1, 0), dilation (2, 1), 3x2", OH_S4(1, 16, 9, 8),
       OH_S4(3, 16, 3, 2), 2, 1, 1, 0, 2, 1, 1),
    /* Shapes that the CPU backend's fast kernels (src/backend/cpu/cpu_conv.c) split
     * into several chunks of the batch, a last one of one image among them. */
    CV("LeNet conv1, chunks of the batch", OH_S4(3, 1, 28, 28), OH_S4(6, 1, 5, 5), 1, 1, 2, 2, 1, 1,
       1),
    CV("LeNet conv2, an image per chunk", OH_S4(3, 6, 14, 14), OH_S4(16, 6, 5, 5), 1, 1, 0, 0, 1, 1,
       1),
    CV("2 groups, chunks of the batch", OH_S4(4, 4, 24, 24), OH_S4(8, 2, 5, 5), 1, 1, 0, 0, 1, 1,
       2),
    CV("1x1 stride 2", OH_S4(3, 8, 9, 9), OH_S4(16, 8, 1, 1), 2, 2, 0, 0, 1, 1, 1),
    /* More weights (4,608) than the Vulkan blocked shader stages in shared memory. */
    CV("32 channels in, 16 out, pad 1", OH_S4(1, 32, 5, 6), OH_S4(16, 32, 3, 3), 1, 1, 1, 1, 1, 1,
       1),
    /* Vulkan's row-blocked shaders (shaders/convrow.comp, stride 1, kernel width 3 or 5):
     * a last block of channels or pixels that is partly outside, kernel rows in two
     * blocks, padding wider than the kernel. */
    CV("17 outputs, 7x5 kernel, pad (3, 1)", OH_S4(2, 3, 11, 13), OH_S4(17, 3, 7, 5), 1, 1, 3, 1, 1,
       1, 1),
    CV("pad 3 around 3x3, 2 groups", OH_S4(1, 4, 4, 5), OH_S4(6, 2, 3, 3), 1, 1, 3, 3, 1, 1, 2),
    /* The convolution with its bias and relu, fed directly. Stride 1 and kernel width 3
     * or 5 run on both GPU backends' row kernels, with the bias in their epilogue: a
     * part-filled block of 8 channels and of 8 pixels, 2 groups, a [K, 1, 1] bias. */
    CB("13 filters, 3x3, pad 1, width 19, relu", OH_S4(2, 4, 7, 19), OH_S4(13, 4, 3, 3), OH_S1(13),
       1, 1, 1, 1, 1, 1, 1, 1),
    CB("2 groups of 9 filters, 5x5, pad (2, 1), [K, 1, 1] bias", OH_S4(3, 6, 9, 11),
       OH_S4(18, 3, 5, 5), OH_S3(18, 1, 1), 1, 1, 2, 1, 1, 1, 2, 0),
    CB("LeNet conv2, relu", OH_S4(3, 6, 14, 14), OH_S4(16, 6, 5, 5), OH_S1(16), 1, 1, 0, 0, 1, 1, 1,
       1),
    /* The other kernels (a second launch adds the bias on the GPU backends): a 3x4
     * kernel (OpenCL's row kernels, Vulkan's others), stride 2, dilation 2, depthwise. */
    CB("3x4 kernel, pad (1, 2), relu", OH_S4(2, 3, 7, 10), OH_S4(7, 3, 3, 4), OH_S1(7), 1, 1, 1, 2,
       1, 1, 1, 1),
    CB("stride 2, pad 1, [1, K, 1, 1] bias", OH_S4(2, 3, 9, 7), OH_S4(5, 3, 3, 3),
       OH_S4(1, 5, 1, 1), 2, 2, 1, 1, 1, 1, 1, 0),
    CB("dilation 2, depthwise, relu", OH_S4(1, 4, 9, 8), OH_S4(4, 1, 3, 3), OH_S1(4), 1, 1, 2, 2, 2,
       2, 4, 1),
    /* Made by the planner from convolution layers (public builders). */
    LAYER("fused: relu(LeNet conv1 + b)", OH_S4(3, 1, 28, 28), OH_S4(6, 1, 5, 5), 6, 1, 2, 1,
          build_layer),
    LAYER("fused: 3x3 pad 1 + b, 11 filters", OH_S4(2, 5, 9, 13), OH_S4(11, 5, 3, 3), 11, 1, 1, 0,
          build_layer),
    LAYER("fused: relu(LeNet conv2 + b) flattened", OH_S4(2, 6, 14, 14), OH_S4(16, 6, 5, 5), 16, 1,
          0, 1, build_layer_flat),
    LAYER("stride 2 layer (not fused on the GPU backends)", OH_S4(2, 3, 9, 9), OH_S4(4, 3, 3, 3), 4,
          2, 1, 1, build_layer),
    BD("9 input channels, 3x3, pad 2", OH_S4(2, 5, 9, 13), OH_S4(5, 9, 3, 3), 1, 1, 2, 2, 1, 1, 1,
       7, 11),
    BF("10 outputs, 7x5 kernel, pad (3, 2)", OH_S4(2, 3, 9, 10), OH_S4(2, 10, 9, 10), 1, 1, 3, 2, 1,
       1, 1, 7, 5),
    BF("pad 3 around 3x3, 2 groups", OH_S4(1, 4, 4, 5), OH_S4(1, 6, 8, 9), 1, 1, 3, 3, 1, 1, 2, 3,
       3),
    /* Stride 1 runs on the OpenCL row kernels (opencl/convrow.cl): 13 filters per group
     * (a block of 8 and a part-filled one), rows of 20 outputs (two vectors of 8 and a
     * part-filled one), a 3x4 kernel (three blocks of 4 taps, the last part-filled). */
    CV("13 filters per group, 2 groups, 3x4, pad (1, 2), width 19", OH_S4(2, 4, 7, 19),
       OH_S4(26, 2, 3, 4), 1, 1, 1, 2, 1, 1, 2),
    BD("13 filters per group, 2 groups, 3x4, pad (1, 2), width 19", OH_S4(2, 26, 7, 20),
       OH_S4(26, 2, 3, 4), 1, 1, 1, 2, 1, 1, 2, 7, 19),
    BF("13 filters per group, 2 groups, 3x4, pad (1, 2), width 19", OH_S4(2, 4, 7, 19),
       OH_S4(2, 26, 7, 20), 1, 1, 1, 2, 1, 1, 2, 3, 4),
    BF("one image, pad 1", OH_S4(1, 3, 9, 11), OH_S4(1, 5, 9, 11), 1, 1, 1, 1, 1, 1, 1, 3, 3),
    BF("five images, 5x5, pad 3", OH_S4(5, 2, 6, 9), OH_S4(5, 3, 8, 11), 1, 1, 3, 3, 1, 1, 1, 5, 5),
    BD("stride 2, pad 1, 8x7", OH_S4(2, 5, 4, 4), OH_S4(5, 3, 3, 3), 2, 2, 1, 1, 1, 1, 1, 8, 7),
    BD("depthwise", OH_S4(2, 4, 4, 4), OH_S4(4, 1, 3, 3), 2, 2, 1, 1, 1, 1, 4, 7, 7),
    BD("dilation 2", OH_S4(1, 3, 9, 4), OH_S4(3, 2, 3, 2), 1, 2, 2, 1, 2, 2, 1, 9, 8),
    BD("2 groups", OH_S4(2, 6, 6, 5), OH_S4(6, 2, 3, 3), 1, 1, 1, 1, 1, 1, 2, 6, 5),
    BD("12 channels per group, 2 groups, stride 2, dilation 2", OH_S4(2, 4, 4, 4),
       OH_S4(4, 12, 3, 3), 2, 2, 1, 1, 2, 2, 2, 9, 9),
    BD("LeNet conv2, an image per chunk", OH_S4(3, 16, 10, 10), OH_S4(16, 6, 5, 5), 1, 1, 0, 0, 1,
       1, 1, 14, 14),
    BD("pad 2, chunks of the batch", OH_S4(3, 6, 28, 28), OH_S4(6, 1, 5, 5), 1, 1, 2, 2, 1, 1, 1,
       28, 28),
    {.op = KILN_OP_CONV2D_BWD_DATA,
     .note = "conv_transpose2d, stride 2, output padding 1",
     .shape = {OH_S4(2, 3, 4, 4), OH_S4(3, 2, 3, 3)},
     .gen = {U, U},
     .build = build_tconv},
    {.op = KILN_OP_CONV2D_BWD_DATA,
     .note = "conv_transpose2d, 2 groups, dilation (2, 1), stride (1, 2)",
     .shape = {OH_S4(1, 4, 3, 5), OH_S4(4, 3, 2, 3)},
     .gen = {U, U},
     .build = build_tconv_groups},
    BF("stride 2, pad 1", OH_S4(2, 3, 8, 7), OH_S4(2, 5, 4, 4), 2, 2, 1, 1, 1, 1, 1, 3, 3),
    BF("2 groups", OH_S4(2, 4, 6, 5), OH_S4(2, 6, 6, 5), 1, 1, 1, 1, 1, 1, 2, 3, 3),
    BF("dilation 2, 3x2", OH_S4(1, 2, 9, 8), OH_S4(1, 3, 9, 4), 1, 2, 2, 1, 2, 2, 1, 3, 2),
    BF("depthwise", OH_S4(2, 4, 7, 7), OH_S4(2, 4, 4, 4), 2, 2, 1, 1, 1, 1, 4, 3, 3),
    BF("LeNet conv1, chunks of the batch", OH_S4(3, 1, 28, 28), OH_S4(3, 6, 28, 28), 1, 1, 2, 2, 1,
       1, 1, 5, 5),
    BF("LeNet conv2, an image per chunk", OH_S4(3, 6, 14, 14), OH_S4(3, 16, 10, 10), 1, 1, 0, 0, 1,
       1, 1, 5, 5),
};

const struct oh_family oh_family_conv = {"conv", cases, (int)(sizeof(cases) / sizeof(cases[0]))};
