/*
 * test_unary.c - case rows for the elementwise ops and the _BWD kernels their backward
 * rules emit: sizes 1, 127, 129, 1031 and ranks up to 4, inf/nan agreement, exp
 * overflow, log of 0 and of negatives, and sigmoid/tanh at +-100 staying finite.
 */
#include <math.h>

#include "../op_harness.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -3.0f, 3.0f                                                                    \
    }
#define POS                                                                                        \
    {                                                                                              \
        OH_UNIFORM, 0.1f, 4.0f                                                                     \
    }
#define P01                                                                                        \
    {                                                                                              \
        OH_UNIFORM, 0.0f, 1.0f                                                                     \
    } /* sigmoid outputs */
#define PM1                                                                                        \
    {                                                                                              \
        OH_UNIFORM, -1.0f, 1.0f                                                                    \
    } /* tanh outputs */
#define W5                                                                                         \
    {                                                                                              \
        OH_UNIFORM, -5.0f, 5.0f                                                                    \
    }

#define SHAPES(OP, G, ...)                                                                         \
    {.op = OP, .note = "1", .shape = {OH_S1(1)}, .gen = {G}, __VA_ARGS__},                         \
        {.op = OP, .note = "127", .shape = {OH_S1(127)}, .gen = {G}, __VA_ARGS__},                 \
        {.op = OP, .note = "1031", .shape = {OH_S1(1031)}, .gen = {G}, __VA_ARGS__},               \
    {                                                                                              \
        .op = OP, .note = "rank4", .shape = {OH_S4(2, 3, 5, 7)}, .gen = {G}, __VA_ARGS__           \
    }

#define BWD_SHAPES(OP, G0, ...)                                                                    \
    {.op = OP, .note = "129", .shape = {OH_S1(129), OH_S1(129)}, .gen = {G0, U}, __VA_ARGS__},     \
    {                                                                                              \
        .op = OP, .note = "3x5x7", .shape = {OH_S3(3, 5, 7), OH_S3(3, 5, 7)}, .gen = {G0, U},      \
        __VA_ARGS__                                                                                \
    }

static const struct oh_case cases[] = {
    SHAPES(KILN_OP_SCALE_SHIFT, U, .p.ss = {-1.5f, 0.25f}),
    SHAPES(KILN_OP_RELU, U, .flags = 0),
    SHAPES(KILN_OP_LEAKY_RELU, U, .p.alpha = {0.1f}),
    SHAPES(KILN_OP_SIGMOID, U, .flags = 0),
    SHAPES(KILN_OP_TANH, U, .flags = 0),
    SHAPES(KILN_OP_GELU, U, .flags = 0),
    SHAPES(KILN_OP_EXP, U, .flags = 0),
    SHAPES(KILN_OP_LOG, POS, .flags = 0),
    SHAPES(KILN_OP_SQRT, POS, .flags = 0),
    {.op = KILN_OP_GELU,
     .note = "inference mode",
     .shape = {OH_S1(1031)},
     .gen = {U},
     .flags = OH_EVAL},
    /* Specials: the CPU reference defines the result; every backend must agree. */
    {.op = KILN_OP_RELU,
     .note = "inf/nan",
     .shape = {OH_S1(37)},
     .gen = {{OH_SPECIAL}},
     .special = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f},
     .n_special = 5,
     .flags = OH_NO_FD | OH_NO_DOUBLE},
    {.op = KILN_OP_LEAKY_RELU,
     .note = "inf/nan",
     .shape = {OH_S1(37)},
     .p.alpha = {0.01f},
     .gen = {{OH_SPECIAL}},
     .special = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f},
     .n_special = 5,
     .flags = OH_NO_FD | OH_NO_DOUBLE},
    {.op = KILN_OP_EXP,
     .note = "overflow",
     .shape = {OH_S1(37)},
     .gen = {{OH_SPECIAL}},
     .special = {88.0f, 89.0f, 100.0f, -100.0f, -INFINITY, INFINITY, NAN},
     .n_special = 7,
     .flags = OH_NO_FD | OH_NO_DOUBLE},
    {.op = KILN_OP_LOG,
     .note = "0, negative, inf",
     .shape = {OH_S1(37)},
     .gen = {{OH_SPECIAL}},
     .special = {0.0f, -0.0f, -1.0f, INFINITY, NAN, 1e-30f},
     .n_special = 6,
     .flags = OH_NO_FD | OH_NO_DOUBLE | OH_NO_BWD},
    {.op = KILN_OP_SQRT,
     .note = "0, negative, inf",
     .shape = {OH_S1(37)},
     .gen = {{OH_SPECIAL}},
     .special = {0.0f, -1.0f, INFINITY, NAN},
     .n_special = 4,
     .flags = OH_NO_FD | OH_NO_DOUBLE | OH_NO_BWD},
    {.op = KILN_OP_SIGMOID,
     .note = "+-100 stays finite",
     .shape = {OH_S1(37)},
     .gen = {{OH_SPECIAL}},
     .special = {100.0f, -100.0f, 50.0f, -50.0f, 1e4f, -1e4f, INFINITY, -INFINITY},
     .n_special = 8,
     .flags = OH_FINITE | OH_NO_FD | OH_NO_DOUBLE},
    {.op = KILN_OP_TANH,
     .note = "+-100 stays finite",
     .shape = {OH_S1(37)},
     .gen = {{OH_SPECIAL}},
     .special = {100.0f, -100.0f, 50.0f, -50.0f, 1e4f, -1e4f, INFINITY, -INFINITY},
     .n_special = 8,
     .flags = OH_FINITE | OH_NO_FD | OH_NO_DOUBLE},
    {.op = KILN_OP_GELU,
     .note = "+-100 stays finite",
     .shape = {OH_S1(37)},
     .gen = {{OH_SPECIAL}},
     .special = {100.0f, -100.0f, 12.0f, -12.0f, 0.0f},
     .n_special = 5,
     .flags = OH_FINITE | OH_NO_FD | OH_NO_DOUBLE},
    /* The _BWD kernels, fed directly. */
    BWD_SHAPES(KILN_OP_RELU_BWD, U, .flags = 0),
    BWD_SHAPES(KILN_OP_LEAKY_RELU_BWD, U, .p.alpha = {0.2f}),
    BWD_SHAPES(KILN_OP_SIGMOID_BWD, P01, .flags = 0),
    BWD_SHAPES(KILN_OP_TANH_BWD, PM1, .flags = 0),
    BWD_SHAPES(KILN_OP_GELU_BWD, W5, .flags = 0),
};

const struct oh_family oh_family_unary = {"unary", cases, (int)(sizeof(cases) / sizeof(cases[0]))};
