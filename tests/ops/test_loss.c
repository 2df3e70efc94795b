/*
 * test_loss.c - case rows for the losses (mse, softmax cross-entropy, bce with
 * logits, hinge) and their _BWD kernels: odd batches and class counts, rows longer
 * than a workgroup, labels outside [0, C), large logits.
 */
#include <math.h>

#include "../op_harness.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -2.0f, 2.0f                                                                    \
    }
#define BIG                                                                                        \
    {                                                                                              \
        OH_UNIFORM, -30.0f, 30.0f                                                                  \
    }
#define P01                                                                                        \
    {                                                                                              \
        OH_UNIFORM, 0.0f, 1.0f                                                                     \
    }
#define DY                                                                                         \
    {                                                                                              \
        OH_UNIFORM, 0.5f, 2.0f                                                                     \
    }
#define LAB11                                                                                      \
    {                                                                                              \
        OH_LABELS, 0.0f, 11.0f                                                                     \
    }
#define BAD11                                                                                      \
    {                                                                                              \
        OH_LABELS, -2.0f, 13.0f                                                                    \
    } /* some labels outside [0, 11) */
#define LAB                                                                                        \
    {                                                                                              \
        OH_LABELS, 0.0f, 129.0f                                                                    \
    }

static const struct oh_case cases[] = {
    {.op = KILN_OP_MSE, .note = "13x11", .shape = {OH_S2(13, 11), OH_S2(13, 11)}, .gen = {U, U}},
    {.op = KILN_OP_MSE, .note = "1031", .shape = {OH_S1(1031), OH_S1(1031)}, .gen = {U, U}},
    {.op = KILN_OP_MSE, .note = "1", .shape = {OH_S1(1), OH_S1(1)}, .gen = {U, U}},
    {.op = KILN_OP_MSE,
     .note = "3x5x7, constant target",
     .shape = {OH_S3(3, 5, 7), OH_S3(3, 5, 7)},
     .const_mask = 2,
     .gen = {U, U}},
    {.op = KILN_OP_SOFTMAX_XENT,
     .note = "13x11",
     .shape = {OH_S2(13, 11), OH_S1(13)},
     .i32_mask = 2,
     .gen = {U, LAB11}},
    {.op = KILN_OP_SOFTMAX_XENT,
     .note = "7x129",
     .shape = {OH_S2(7, 129), OH_S1(7)},
     .i32_mask = 2,
     .gen = {U, LAB}},
    {.op = KILN_OP_SOFTMAX_XENT,
     .note = "invalid labels",
     .shape = {OH_S2(37, 11), OH_S1(37)},
     .i32_mask = 2,
     .gen = {U, BAD11}},
    {.op = KILN_OP_SOFTMAX_XENT,
     .note = "large logits",
     .shape = {OH_S2(13, 11), OH_S1(13)},
     .i32_mask = 2,
     .gen = {BIG, LAB11},
     .flags = OH_FINITE},
    {.op = KILN_OP_SOFTMAX_XENT,
     .note = "1x1031",
     .shape = {OH_S2(1, 1031), OH_S1(1)},
     .i32_mask = 2,
     .gen = {U, {OH_LABELS, 0.0f, 1031.0f}}},
    {.op = KILN_OP_BCE_LOGITS,
     .note = "13x11",
     .shape = {OH_S2(13, 11), OH_S2(13, 11)},
     .const_mask = 2,
     .gen = {U, P01}},
    {.op = KILN_OP_BCE_LOGITS,
     .note = "1031, large logits",
     .shape = {OH_S1(1031), OH_S1(1031)},
     .const_mask = 2,
     .gen = {BIG, P01},
     .flags = OH_FINITE},
    {.op = KILN_OP_BCE_LOGITS,
     .note = "1",
     .shape = {OH_S1(1), OH_S1(1)},
     .const_mask = 2,
     .gen = {U, P01}},
    {.op = KILN_OP_HINGE,
     .note = "13x11",
     .shape = {OH_S2(13, 11), OH_S1(13)},
     .i32_mask = 2,
     .gen = {U, LAB11}},
    {.op = KILN_OP_HINGE,
     .note = "7x129",
     .shape = {OH_S2(7, 129), OH_S1(7)},
     .i32_mask = 2,
     .gen = {U, LAB}},
    {.op = KILN_OP_HINGE,
     .note = "invalid labels",
     .shape = {OH_S2(37, 11), OH_S1(37)},
     .i32_mask = 2,
     .gen = {U, BAD11}},
    /* The _BWD kernels, fed directly (the incoming gradient is a scalar). */
    {.op = KILN_OP_MSE_BWD,
     .note = "13x11",
     .shape = {OH_S2(13, 11), OH_S2(13, 11), OH_S0},
     .gen = {U, U, DY}},
    {.op = KILN_OP_MSE_BWD,
     .note = "1031",
     .shape = {OH_S1(1031), OH_S1(1031), OH_S1(1)},
     .gen = {U, U, DY}},
    {.op = KILN_OP_SOFTMAX_XENT_BWD,
     .note = "invalid labels",
     .shape = {OH_S2(37, 11), OH_S1(37), OH_S0},
     .i32_mask = 2,
     .gen = {U, BAD11, DY}},
    {.op = KILN_OP_SOFTMAX_XENT_BWD,
     .note = "3x1031",
     .shape = {OH_S2(3, 1031), OH_S1(3), OH_S0},
     .i32_mask = 2,
     .gen = {U, {OH_LABELS, 0.0f, 1031.0f}, DY}},
    /* The fused loss and gradient (planner fusion): [N C] gradient, then the loss. Rows
     * beyond one work-group, a row longer than one, invalid labels, a scaled dy. */
    {.op = KILN_OP_SOFTMAX_XENT_FUSED,
     .n_in = 3,
     .note = "invalid labels",
     .shape = {OH_S2(37, 11), OH_S1(37), OH_S0},
     .i32_mask = 2,
     .gen = {U, BAD11, DY}},
    {.op = KILN_OP_SOFTMAX_XENT_FUSED,
     .n_in = 3,
     .note = "3x1031",
     .shape = {OH_S2(3, 1031), OH_S1(3), OH_S0},
     .i32_mask = 2,
     .gen = {U, {OH_LABELS, 0.0f, 1031.0f}, DY}},
    {.op = KILN_OP_SOFTMAX_XENT_FUSED,
     .n_in = 3,
     .note = "1031x7",
     .shape = {OH_S2(1031, 7), OH_S1(1031), OH_S1(1)},
     .i32_mask = 2,
     .gen = {U, {OH_LABELS, 0.0f, 7.0f}, DY}},
    {.op = KILN_OP_SOFTMAX_XENT_FUSED,
     .n_in = 3,
     .note = "1x1",
     .shape = {OH_S2(1, 1), OH_S1(1), OH_S0},
     .i32_mask = 2,
     .gen = {U, {OH_LABELS, 0.0f, 1.0f}, DY}},
    /* With its rider, an i32 [N] input that the op writes with ARGMAX of the scores
     * (compared exactly; it starts as junk): the first maximum on ties, NaN never wins
     * (the rows of special values have invalid labels only, so that the loss and the
     * gradient stay zero). */
    {.op = KILN_OP_SOFTMAX_XENT_FUSED,
     .note = "rider: ties, invalid labels",
     .shape = {OH_S2(37, 11), OH_S1(37), OH_S0, OH_S1(37)},
     .i32_mask = 2 | 8,
     .gen = {{OH_TIES, 0.0f, 3.0f}, BAD11, DY, BAD11}},
    {.op = KILN_OP_SOFTMAX_XENT_FUSED,
     .note = "rider: 3x1031",
     .shape = {OH_S2(3, 1031), OH_S1(3), OH_S0, OH_S1(3)},
     .i32_mask = 2 | 8,
     .gen = {U, {OH_LABELS, 0.0f, 1031.0f}, DY, BAD11}},
    {.op = KILN_OP_SOFTMAX_XENT_FUSED,
     .note = "rider: 1031x7",
     .shape = {OH_S2(1031, 7), OH_S1(1031), OH_S1(1), OH_S1(1031)},
     .i32_mask = 2 | 8,
     .gen = {U, {OH_LABELS, 0.0f, 7.0f}, DY, BAD11}},
    {.op = KILN_OP_SOFTMAX_XENT_FUSED,
     .note = "rider: 1x1",
     .shape = {OH_S2(1, 1), OH_S1(1), OH_S0, OH_S1(1)},
     .i32_mask = 2 | 8,
     .gen = {U, {OH_LABELS, 0.0f, 1.0f}, DY, BAD11}},
    {.op = KILN_OP_SOFTMAX_XENT_FUSED,
     .note = "rider: inf/nan",
     .shape = {OH_S2(9, 5), OH_S1(9), OH_S0, OH_S1(9)},
     .i32_mask = 2 | 8,
     .gen = {{OH_SPECIAL}, {OH_LABELS, -3.0f, 0.0f}, DY, BAD11},
     .special = {NAN, INFINITY, -INFINITY, NAN, 1.0f},
     .n_special = 5},
    {.op = KILN_OP_BCE_LOGITS_BWD,
     .note = "13x11",
     .shape = {OH_S2(13, 11), OH_S2(13, 11), OH_S0},
     .gen = {BIG, P01, DY}},
    {.op = KILN_OP_HINGE_BWD,
     .note = "invalid labels",
     .shape = {OH_S2(37, 11), OH_S1(37), OH_S0},
     .i32_mask = 2,
     .gen = {U, BAD11, DY}},
    {.op = KILN_OP_HINGE_BWD,
     .note = "7x129",
     .shape = {OH_S2(7, 129), OH_S1(7), OH_S0},
     .i32_mask = 2,
     .gen = {U, LAB, DY}},
};

const struct oh_family oh_family_loss = {"loss", cases, (int)(sizeof(cases) / sizeof(cases[0]))};
