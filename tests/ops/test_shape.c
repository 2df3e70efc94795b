/*
 * test_shape.c - case rows for reshape (a view) and transpose (ranks 2 to 4, every
 * kind of permutation, larger than a workgroup, i32 data; ranks 6 and 8 whose
 * permutations leave more than 4 dims after merging), and views of intermediates in the
 * arena (reshape and flatten of an op's result).
 */
#include "../op_harness.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -1.0f, 1.0f                                                                    \
    }

/* A view of an intermediate: transpose(reshape(2x - 1)). */
static kiln_tensor *build_view_chain(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    (void)c;
    int64_t d[3] = {5, 3, 7};
    int32_t perm[3] = {2, 0, 1};
    return kiln_transpose(g, kiln_reshape(g, kiln_scale_shift(g, in[0], 2.0f, -1.0f), 3, d), perm);
}

/* flatten of an intermediate followed by another op reading the view. */
static kiln_tensor *build_flatten(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    (void)c;
    return kiln_exp(g, kiln_flatten(g, kiln_scale(g, in[0], 0.5f)));
}

#define TR(s, p0, p1, p2, p3, nt)                                                                  \
    {                                                                                              \
        .op = KILN_OP_TRANSPOSE, .note = nt, .shape = {s}, .p.tr = {{p0, p1, p2, p3}}, .gen = {U}, \
    }

static const struct oh_case cases[] = {
    {.op = KILN_OP_RESHAPE,
     .note = "3x5x7 -> 7x15",
     .shape = {OH_S3(3, 5, 7)},
     .p.rs = {OH_S2(7, 15)},
     .gen = {U}},
    {.op = KILN_OP_RESHAPE,
     .note = "1031 -> 1031x1",
     .shape = {OH_S1(1031)},
     .p.rs = {OH_S2(1031, 1)},
     .gen = {U}},
    {.op = KILN_OP_RESHAPE,
     .note = "1 -> rank 0",
     .shape = {OH_S1(1)},
     .p.rs = {OH_S0},
     .gen = {U}},
    TR(OH_S2(13, 11), 1, 0, 0, 0, "13x11"),
    TR(OH_S2(1, 127), 1, 0, 0, 0, "1x127"),
    TR(OH_S2(33, 37), 1, 0, 0, 0, "33x37"),
    TR(OH_S3(3, 5, 7), 2, 0, 1, 0, "3x5x7 (2,0,1)"),
    TR(OH_S3(3, 5, 7), 1, 0, 2, 0, "3x5x7 (1,0,2)"),
    TR(OH_S3(3, 5, 7), 0, 2, 1, 0, "3x5x7 (0,2,1)"),
    TR(OH_S3(3, 5, 7), 0, 1, 2, 0, "3x5x7 identity"),
    TR(OH_S4(2, 3, 5, 7), 3, 1, 0, 2, "2x3x5x7 (3,1,0,2)"),
    TR(OH_S4(2, 3, 5, 7), 0, 2, 3, 1, "2x3x5x7 (0,2,3,1)"),
    TR(OH_S4(4, 13, 5, 11), 0, 3, 1, 2, "4x13x5x11 NCHW -> NWCH"),
    {.op = KILN_OP_TRANSPOSE,
     .note = "rank 8 reversed",
     .shape = {OH_S8(2, 3, 2, 3, 2, 2, 3, 2)},
     .p.tr = {{7, 6, 5, 4, 3, 2, 1, 0}},
     .gen = {U}},
    {.op = KILN_OP_TRANSPOSE,
     .note = "rank 8, pairs kept together",
     .shape = {OH_S8(2, 3, 3, 2, 5, 2, 1, 3)},
     .p.tr = {{4, 5, 0, 1, 7, 6, 2, 3}},
     .gen = {U}},
    {.op = KILN_OP_TRANSPOSE,
     .note = "rank 6",
     .shape = {OH_S6(3, 2, 5, 2, 3, 7)},
     .p.tr = {{1, 3, 5, 0, 2, 4}},
     .gen = {U}},
    {.op = KILN_OP_TRANSPOSE,
     .note = "i32 13x11",
     .shape = {OH_S2(13, 11)},
     .i32_mask = 1,
     .p.tr = {{1, 0, 0, 0}},
     .gen = {{OH_LABELS, -1000.0f, 1000.0f}},
     .flags = OH_NO_FD},
    {.op = KILN_OP_TRANSPOSE,
     .note = "of a view of an intermediate",
     .shape = {OH_S2(15, 7)},
     .gen = {U},
     .build = build_view_chain},
    {.op = KILN_OP_RESHAPE,
     .note = "flatten of an intermediate",
     .shape = {OH_S3(3, 5, 7)},
     .gen = {U},
     .build = build_flatten},
};

const struct oh_family oh_family_shape = {"shape", cases, (int)(sizeof(cases) / sizeof(cases[0]))};
