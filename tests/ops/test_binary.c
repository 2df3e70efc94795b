/*
 * test_binary.c - case rows for add, sub, mul, div and add_relu: equal shapes (odd, prime,
 * larger than a workgroup, rank 4) and numpy broadcasting (row, column, scalar-like,
 * rank-mismatched, both sides broadcast, rank 8 that merges into no fewer than 8 dims),
 * plus inf/nan agreement; and the planner's fusion of relu(a + b) into add_relu on the
 * GPU backends, checked against the unfused graph on the CPU.
 */
#include <math.h>

#include "../op_harness.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -2.0f, 2.0f                                                                    \
    }
#define DEN                                                                                        \
    {                                                                                              \
        OH_AWAY, 0.5f, 2.0f                                                                        \
    } /* denominators away from zero */

/* Every shape pair is run for each op; b is the denominator for div. */
#define PAIRS(OP, B)                                                                               \
    {.op = OP, .note = "1", .shape = {OH_S1(1), OH_S1(1)}, .gen = {U, B}},                         \
        {.op = OP, .note = "7", .shape = {OH_S1(7), OH_S1(7)}, .gen = {U, B}},                     \
        {.op = OP, .note = "13x11", .shape = {OH_S2(13, 11), OH_S2(13, 11)}, .gen = {U, B}},       \
        {.op = OP, .note = "1031", .shape = {OH_S1(1031), OH_S1(1031)}, .gen = {U, B}},            \
        {.op = OP,                                                                                 \
         .note = "rank4",                                                                          \
         .shape = {OH_S4(2, 3, 5, 7), OH_S4(2, 3, 5, 7)},                                          \
         .gen = {U, B}},                                                                           \
        {.op = OP, .note = "row", .shape = {OH_S2(13, 11), OH_S1(11)}, .gen = {U, B}},             \
        {.op = OP, .note = "column", .shape = {OH_S2(13, 11), OH_S2(13, 1)}, .gen = {U, B}},       \
        {.op = OP, .note = "scalar-like", .shape = {OH_S2(5, 7), OH_S1(1)}, .gen = {U, B}},        \
        {.op = OP, .note = "rank0", .shape = {OH_S2(5, 7), OH_S0}, .gen = {U, B}},                 \
        {.op = OP, .note = "a broadcast", .shape = {OH_S1(11), OH_S2(13, 11)}, .gen = {U, B}},     \
        {.op = OP,                                                                                 \
         .note = "rank mismatch",                                                                  \
         .shape = {OH_S4(2, 3, 5, 7), OH_S2(5, 1)},                                                \
         .gen = {U, B}},                                                                           \
        {.op = OP,                                                                                 \
         .note = "rank 8, every other dim broadcast",                                              \
         .shape = {OH_S8(2, 1, 3, 1, 2, 1, 3, 1), OH_S8(1, 2, 1, 3, 1, 2, 1, 3)},                  \
         .gen = {U, B}},                                                                           \
    {                                                                                              \
        .op = OP, .note = "both broadcast", .shape = {OH_S3(3, 1, 129), OH_S2(11, 1)}, .gen = {    \
            U,                                                                                     \
            B                                                                                      \
        }                                                                                          \
    }

/* x * x: one tensor feeding both inputs, so autodiff sums two contributions. */
static kiln_tensor *build_square(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    (void)c;
    return kiln_mul(g, in[0], in[0]);
}

/* (a + b) / (a * b + 3) with b broadcast: a and b each reach y by two paths. */
static kiln_tensor *build_two_paths(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    (void)c;
    kiln_tensor *den = kiln_shift(g, kiln_mul(g, in[0], in[1]), 3.0f);
    return kiln_div(g, kiln_add(g, in[0], in[1]), den);
}

/* relu(a + b) through the public builders: one add_relu node on a GPU backend. */
static kiln_tensor *build_bias_relu(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    (void)c;
    return kiln_relu(g, kiln_add(g, in[0], in[1]));
}

/* relu(a + b) + (a + b): the sum has a second reader, so it is not fused. */
static kiln_tensor *build_sum_reused(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    (void)c;
    kiln_tensor *s = kiln_add(g, in[0], in[1]);
    return kiln_add(g, kiln_relu(g, s), s);
}

static const struct oh_case cases[] = {
    PAIRS(KILN_OP_ADD, U),
    PAIRS(KILN_OP_SUB, U),
    PAIRS(KILN_OP_MUL, U),
    PAIRS(KILN_OP_DIV, DEN),
    PAIRS(KILN_OP_ADD_RELU, U),
    {.op = KILN_OP_ADD_RELU,
     .note = "fused: relu(conv-like + bias)",
     .shape = {OH_S4(3, 5, 7, 9), OH_S3(5, 1, 1)},
     .gen = {U, U},
     .build = build_bias_relu},
    {.op = KILN_OP_ADD_RELU,
     .note = "not fused: the sum read twice",
     .shape = {OH_S2(13, 11), OH_S1(11)},
     .gen = {U, U},
     .build = build_sum_reused},
    {.op = KILN_OP_MUL,
     .note = "x * x (gradient accumulation)",
     .n_in = 1,
     .shape = {OH_S2(13, 11)},
     .gen = {U},
     .build = build_square},
    {.op = KILN_OP_DIV,
     .note = "(a + b) / (a b + 3), b a row (two paths, broadcast)",
     .shape = {OH_S2(13, 11), OH_S1(11)},
     .gen = {U, U},
     .build = build_two_paths},
    {.op = KILN_OP_ADD,
     .note = "inf/nan",
     .shape = {OH_S1(37), OH_S1(37)},
     .gen = {{OH_SPECIAL}, {OH_SPECIAL}},
     .special = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 3.0e38f},
     .n_special = 6,
     .flags = OH_NO_FD | OH_NO_DOUBLE},
    {.op = KILN_OP_ADD_RELU,
     .note = "inf/nan",
     .shape = {OH_S1(37), OH_S1(37)},
     .gen = {{OH_SPECIAL}, {OH_SPECIAL}},
     .special = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 3.0e38f},
     .n_special = 6,
     .flags = OH_NO_FD | OH_NO_DOUBLE},
    {.op = KILN_OP_MUL,
     .note = "inf/nan",
     .shape = {OH_S1(37), OH_S1(1)},
     .gen = {{OH_SPECIAL}, {OH_UNIFORM, 0.5f, 1.0f}},
     .special = {INFINITY, -INFINITY, NAN, 0.0f, 3.0e38f},
     .n_special = 5,
     .flags = OH_NO_FD | OH_NO_DOUBLE},
    {.op = KILN_OP_DIV,
     .note = "by zero",
     .shape = {OH_S1(37), OH_S1(37)},
     .gen = {U, {OH_SPECIAL}},
     .special = {0.0f, -0.0f, INFINITY},
     .n_special = 3,
     .flags = OH_NO_BWD | OH_NO_DOUBLE},
};

const struct oh_family oh_family_binary = {"binary", cases,
                                           (int)(sizeof(cases) / sizeof(cases[0]))};
