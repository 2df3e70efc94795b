/*
 * test_reduce.c - case rows for reduce_sum (every axis pattern, scales, more than a
 * workgroup per output, rank 8 with axes that merge into no fewer than 8 dims),
 * broadcast (its adjoint, also over 8 unmergeable dims), argmax (ties, nan), softmax and
 * log-softmax (short, long and large-valued rows) and their _BWD kernels.
 */
#include <math.h>

#include "../op_harness.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -2.0f, 2.0f                                                                    \
    }
#define BIG                                                                                        \
    {                                                                                              \
        OH_UNIFORM, -80.0f, 80.0f                                                                  \
    }
#define P01                                                                                        \
    {                                                                                              \
        OH_UNIFORM, 0.0f, 1.0f                                                                     \
    }
#define NEG                                                                                        \
    {                                                                                              \
        OH_UNIFORM, -6.0f, 0.0f                                                                    \
    }

static kiln_tensor *build_mean(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    return kiln_mean(g, in[0], c->p.red.axes, 0);
}

#define RS(s, ax, sc, nt)                                                                          \
    {                                                                                              \
        .op = KILN_OP_REDUCE_SUM, .note = nt, .shape = {s}, .p.red = {ax, sc}, .gen = {U},         \
    }
#define BC(s, sc, to, nt)                                                                          \
    {                                                                                              \
        .op = KILN_OP_BROADCAST, .note = nt, .shape = {s}, .p.bc = {sc, to}, .gen = {U},           \
    }
#define ROWS(OP, G, ...)                                                                           \
    {.op = OP, .note = "13x11", .shape = {OH_S2(13, 11)}, .gen = {G}, __VA_ARGS__},                \
        {.op = OP, .note = "7x129", .shape = {OH_S2(7, 129)}, .gen = {G}, __VA_ARGS__},            \
        {.op = OP, .note = "3x5x7", .shape = {OH_S3(3, 5, 7)}, .gen = {G}, __VA_ARGS__},           \
        {.op = OP, .note = "2x1031", .shape = {OH_S2(2, 1031)}, .gen = {G}, __VA_ARGS__},          \
    {                                                                                              \
        .op = OP, .note = "5x1", .shape = {OH_S2(5, 1)}, .gen = {G}, __VA_ARGS__                   \
    }
#define BWD_ROWS(OP, G0)                                                                           \
    {.op = OP, .note = "13x11", .shape = {OH_S2(13, 11), OH_S2(13, 11)}, .gen = {G0, U}},          \
    {                                                                                              \
        .op = OP, .note = "3x1031", .shape = {OH_S2(3, 1031), OH_S2(3, 1031)}, .gen = { G0, U }    \
    }

static const struct oh_case cases[] = {
    RS(OH_S1(1031), 1, 1.0f, "all of 1031"),
    RS(OH_S1(1), 1, 1.0f, "all of 1"),
    RS(OH_S2(13, 11), 1, 1.0f, "axis 0 of 13x11"),
    RS(OH_S2(13, 11), 2, 1.0f, "axis 1 of 13x11"),
    RS(OH_S2(13, 11), 3, 0.5f, "both axes, scale 0.5"),
    RS(OH_S2(3, 2053), 2, 1.0f, "rows of 2053"),
    RS(OH_S2(2053, 3), 1, 1.0f, "columns of 2053"),
    RS(OH_S3(3, 5, 7), 5, 1.0f, "axes 0 and 2"),
    RS(OH_S3(3, 5, 7), 2, -2.0f, "axis 1, scale -2"),
    RS(OH_S4(2, 3, 5, 7), 10, 1.0f, "axes 1 and 3 of rank 4"),
    RS(OH_S4(2, 3, 5, 7), 0, 1.0f, "no axis (a copy)"),
    RS(OH_S8(2, 3, 2, 3, 2, 3, 2, 3), 0xaa, 1.0f, "every other axis of rank 8"),
    RS(OH_S8(3, 2, 5, 1, 2, 3, 1, 7), 0x25, 0.5f, "axes 0, 2 and 5 of rank 8, scale 0.5"),
    /* Long sums (OpenCL splits them in parts when there are fewer outputs than compute
     * units): all of 16411, and a convolution's bias gradient (2 of 2 x 89 x 97). */
    RS(OH_S1(16411), 1, 1.0f, "all of 16411"),
    RS(OH_S4(2, 2, 89, 97), 13, 1.0f, "bias gradient, axes 0, 2 and 3 of 2x2x89x97"),
    {.op = KILN_OP_REDUCE_SUM,
     .note = "mean over axis 1 (public builder)",
     .shape = {OH_S2(7, 129)},
     .p.red = {2, 1.0f},
     .gen = {U},
     .build = build_mean},
    BC(OH_S1(11), 1.0f, OH_S2(13, 11), "row to 13x11"),
    BC(OH_S2(13, 1), 1.0f, OH_S2(13, 11), "column to 13x11"),
    BC(OH_S1(1), 1.0f, OH_S1(1031), "1 to 1031"),
    BC(OH_S0, 0.5f, OH_S2(5, 7), "rank 0 to 5x7, scale 0.5"),
    BC(OH_S3(3, 1, 7), 0.25f, OH_S4(2, 3, 5, 7), "3x1x7 to 2x3x5x7, scale 0.25"),
    BC(OH_S2(5, 7), 1.0f, OH_S2(5, 7), "same shape"),
    BC(OH_S8(1, 3, 1, 3, 1, 3, 1, 3), 2.0f, OH_S8(2, 3, 2, 3, 2, 3, 2, 3),
       "every other dim of rank 8, scale 2"),
    BC(OH_S5(3, 1, 2, 1, 5), 1.0f, OH_S7(2, 3, 3, 4, 2, 3, 5), "rank 5 to rank 7"),
    ROWS(KILN_OP_ARGMAX, U, .flags = 0),
    {.op = KILN_OP_ARGMAX, .note = "1031", .shape = {OH_S1(1031)}, .gen = {U}},
    {.op = KILN_OP_ARGMAX,
     .note = "ties: first wins",
     .shape = {OH_S2(31, 17)},
     .gen = {{OH_TIES, 0.0f, 3.0f}}},
    {.op = KILN_OP_ARGMAX,
     .note = "inf/nan",
     .shape = {OH_S2(9, 5)},
     .gen = {{OH_SPECIAL}},
     .special = {NAN, INFINITY, -INFINITY, NAN, 1.0f},
     .n_special = 5},
    ROWS(KILN_OP_SOFTMAX, U, .flags = 0),
    ROWS(KILN_OP_LOG_SOFTMAX, U, .flags = 0),
    {.op = KILN_OP_SOFTMAX,
     .note = "large logits stay finite",
     .shape = {OH_S2(5, 17)},
     .gen = {BIG},
     .flags = OH_FINITE},
    {.op = KILN_OP_LOG_SOFTMAX,
     .note = "large logits stay finite",
     .shape = {OH_S2(5, 17)},
     .gen = {BIG},
     .flags = OH_FINITE},
    {.op = KILN_OP_SOFTMAX, .note = "rank 1, 1031", .shape = {OH_S1(1031)}, .gen = {U}},
    {.op = KILN_OP_LOG_SOFTMAX, .note = "rank 1, 1031", .shape = {OH_S1(1031)}, .gen = {U}},
    {.op = KILN_OP_SOFTMAX,
     .note = "-inf masks",
     .shape = {OH_S2(7, 5)},
     .gen = {{OH_SPECIAL}},
     .special = {-INFINITY},
     .n_special = 1,
     .flags = OH_NO_FD},
    {.op = KILN_OP_LOG_SOFTMAX,
     .note = "-inf masks",
     .shape = {OH_S2(7, 5)},
     .gen = {{OH_SPECIAL}},
     .special = {-INFINITY},
     .n_special = 1,
     .flags = OH_NO_FD},
    BWD_ROWS(KILN_OP_SOFTMAX_BWD, P01),
    BWD_ROWS(KILN_OP_LOG_SOFTMAX_BWD, NEG),
};

const struct oh_family oh_family_reduce = {"reduce", cases,
                                           (int)(sizeof(cases) / sizeof(cases[0]))};
