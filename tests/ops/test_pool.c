/*
 * test_pool.c - case rows for max and average pooling (strides 1 and 2, padding,
 * non-square windows, overlapping windows, ties, count_include_pad on and off),
 * global average pooling (the public builder over a mean), nearest upsampling, and
 * each _BWD kernel fed directly; maxpool2d_relu_bwd fed directly and made by the
 * planner's fusion from a pooled ReLU's gradient on the GPU backends.
 */
#include <math.h>

#include "../op_harness.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -1.0f, 1.0f                                                                    \
    }

/* kernel, stride, pad as (h, w) pairs; inc: count_include_pad; ih, iw: the _BWD's input */
#define PL(OP, nt, X, kh, kw, sh, sw, ph, pw, inc)                                                 \
    {                                                                                              \
        .op = OP, .note = nt, .shape = {X}, .p.pool = {{kh, kw}, {sh, sw}, {ph, pw}, inc, {0, 0}}, \
        .gen = {U},                                                                                \
    }

static kiln_tensor *build_gap(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    (void)c;
    return kiln_global_avg_pool2d(g, in[0]);
}

/* maxpool(relu(x)): the gradient is maxpool2d_bwd then relu_bwd on the same tensor, one
 * maxpool2d_relu_bwd on a GPU backend. x has exact zeros (ties) so that the mask matters. */
static kiln_tensor *build_relu_pool(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    struct kiln_pool2d_opts o = {{2, 2}, {2, 2}, {0, 0}, 1};
    (void)c;
    return kiln_max_pool2d(g, kiln_relu(g, in[0]), &o);
}

static const struct oh_case cases[] = {
    PL(KILN_OP_MAXPOOL2D, "2x2 stride 2, odd input", OH_S4(2, 3, 7, 9), 2, 2, 2, 2, 0, 0, 0),
    {.op = KILN_OP_MAXPOOL2D,
     .note = "2x2 stride 2, ties",
     .shape = {OH_S4(2, 3, 6, 7)},
     .p.pool = {{2, 2}, {2, 2}, {0, 0}, 0, {0, 0}},
     .gen = {{OH_TIES, 0.0f, 2.0f}},
     .flags = OH_NO_FD},
    {.op = KILN_OP_MAXPOOL2D,
     .note = "2x2 stride 2, inf/nan",
     .shape = {OH_S4(1, 2, 8, 6)},
     .p.pool = {{2, 2}, {2, 2}, {0, 0}, 0, {0, 0}},
     .gen = {{OH_SPECIAL}},
     .special = {NAN, -INFINITY, INFINITY, -0.0f, 0.0f},
     .n_special = 5,
     .flags = OH_NO_FD | OH_NO_DOUBLE | OH_NO_BWD},
    {.op = KILN_OP_MAXPOOL2D_BWD,
     .note = "2x2 stride 2, ties, odd input",
     .shape = {OH_S4(2, 2, 7, 5), OH_S4(2, 2, 3, 2)},
     .p.pool = {{2, 2}, {2, 2}, {0, 0}, 0, {0, 0}},
     .gen = {{OH_TIES, 0.0f, 1.0f}, U}},
    {.op = KILN_OP_MAXPOOL2D_BWD,
     .note = "2x2 stride 2, nan and -0 in dy",
     .shape = {OH_S4(1, 3, 6, 8), OH_S4(1, 3, 3, 4)},
     .p.pool = {{2, 2}, {2, 2}, {0, 0}, 0, {0, 0}},
     .gen = {{OH_SPECIAL}, {OH_SPECIAL}},
     .special = {NAN, -0.0f, INFINITY, 0.0f},
     .n_special = 4,
     .flags = OH_NO_FD | OH_NO_DOUBLE | OH_NO_BWD},
    {.op = KILN_OP_MAXPOOL2D_RELU_BWD,
     .note = "2x2 stride 2, ties, odd input",
     .shape = {OH_S4(2, 2, 7, 5), OH_S4(2, 2, 3, 2)},
     .p.pool = {{2, 2}, {2, 2}, {0, 0}, 0, {0, 0}},
     .gen = {{OH_TIES, -1.0f, 1.0f}, U}},
    {.op = KILN_OP_MAXPOOL2D_RELU_BWD,
     .note = "3x3 stride 2 pad 1, overlapping",
     .shape = {OH_S4(1, 3, 7, 7), OH_S4(1, 3, 4, 4)},
     .p.pool = {{3, 3}, {2, 2}, {1, 1}, 0, {0, 0}},
     .gen = {U, U}},
    {.op = KILN_OP_MAXPOOL2D_RELU_BWD,
     .note = "nan and -0 in x and dy",
     .shape = {OH_S4(1, 3, 6, 8), OH_S4(1, 3, 3, 4)},
     .p.pool = {{2, 2}, {2, 2}, {0, 0}, 0, {0, 0}},
     .gen = {{OH_SPECIAL}, {OH_SPECIAL}},
     .special = {NAN, -0.0f, INFINITY, 0.0f, -1.0f},
     .n_special = 5,
     .flags = OH_NO_FD | OH_NO_DOUBLE | OH_NO_BWD},
    {.op = KILN_OP_MAXPOOL2D_RELU_BWD,
     .note = "fused: the gradient of maxpool(relu(x))",
     .shape = {OH_S4(3, 5, 9, 7)},
     .gen = {{OH_TIES, -1.0f, 1.0f}},
     .flags = OH_NO_FD,
     .build = build_relu_pool},
    PL(KILN_OP_MAXPOOL2D, "3x3 stride 2 pad 1", OH_S4(1, 2, 7, 7), 3, 3, 2, 2, 1, 1, 0),
    PL(KILN_OP_MAXPOOL2D, "3x2 stride (1, 2) pad (1, 0)", OH_S4(2, 2, 6, 5), 3, 2, 1, 2, 1, 0, 0),
    {.op = KILN_OP_MAXPOOL2D,
     .note = "ties: the first maximum wins",
     .shape = {OH_S4(2, 2, 6, 6)},
     .p.pool = {{3, 3}, {1, 1}, {1, 1}, 0, {0, 0}},
     .gen = {{OH_TIES, 0.0f, 2.0f}},
     .flags = OH_NO_FD},
    {.op = KILN_OP_MAXPOOL2D_BWD,
     .note = "3x3 stride 2 pad 1, overlapping",
     .shape = {OH_S4(1, 2, 7, 7), OH_S4(1, 2, 4, 4)},
     .p.pool = {{3, 3}, {2, 2}, {1, 1}, 0, {0, 0}},
     .gen = {U, U}},
    {.op = KILN_OP_MAXPOOL2D_BWD,
     .note = "ties",
     .shape = {OH_S4(2, 1, 5, 5), OH_S4(2, 1, 5, 5)},
     .p.pool = {{3, 3}, {1, 1}, {1, 1}, 0, {0, 0}},
     .gen = {{OH_TIES, 0.0f, 1.0f}, U}},
    PL(KILN_OP_AVGPOOL2D, "2x2 stride 2", OH_S4(2, 3, 7, 9), 2, 2, 2, 2, 0, 0, 1),
    PL(KILN_OP_AVGPOOL2D, "3x3 stride 2 pad 1, count_include_pad", OH_S4(1, 2, 7, 7), 3, 3, 2, 2, 1,
       1, 1),
    PL(KILN_OP_AVGPOOL2D, "3x3 stride 2 pad 1, padding not counted", OH_S4(1, 2, 7, 7), 3, 3, 2, 2,
       1, 1, 0),
    PL(KILN_OP_AVGPOOL2D, "3x2 stride (2, 1) pad (1, 1)", OH_S4(2, 2, 5, 6), 3, 2, 2, 1, 1, 1, 1),
    {.op = KILN_OP_AVGPOOL2D_BWD,
     .note = "3x3 stride 2 pad 1 into 7x7",
     .shape = {OH_S4(1, 2, 4, 4)},
     .p.pool = {{3, 3}, {2, 2}, {1, 1}, 1, {7, 7}},
     .gen = {U}},
    {.op = KILN_OP_AVGPOOL2D_BWD,
     .note = "padding not counted, into 8x7",
     .shape = {OH_S4(2, 1, 4, 4)},
     .p.pool = {{3, 3}, {2, 2}, {1, 1}, 0, {8, 7}},
     .gen = {U}},
    {.op = KILN_OP_REDUCE_SUM,
     .note = "global average pool (public builder)",
     .shape = {OH_S4(2, 3, 5, 7)},
     .gen = {U},
     .build = build_gap},
    {.op = KILN_OP_UPSAMPLE_NEAREST,
     .note = "2x2",
     .shape = {OH_S4(2, 3, 4, 5)},
     .p.up = {{2, 2}},
     .gen = {U}},
    {.op = KILN_OP_UPSAMPLE_NEAREST,
     .note = "3x1",
     .shape = {OH_S4(1, 2, 3, 3)},
     .p.up = {{3, 1}},
     .gen = {U}},
    {.op = KILN_OP_UPSAMPLE_NEAREST_BWD,
     .note = "2x2 blocks",
     .shape = {OH_S4(2, 3, 8, 10)},
     .p.up = {{2, 2}},
     .gen = {U}},
    {.op = KILN_OP_UPSAMPLE_NEAREST_BWD,
     .note = "1x3 blocks",
     .shape = {OH_S4(1, 2, 5, 9)},
     .p.up = {{1, 3}},
     .gen = {U}},
};

const struct oh_family oh_family_pool = {"pool", cases, (int)(sizeof(cases) / sizeof(cases[0]))};
