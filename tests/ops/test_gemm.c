/*
 * test_gemm.c - case rows for matmul: tiny and odd sizes, k = 1, a long inner
 * dimension, about 67x129x33 in every transpose combination, batched (rank 3) plain
 * and transposed, and the public builder's rank-3 by rank-2 form.
 */
#include "../op_harness.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -1.0f, 1.0f                                                                    \
    }

static kiln_tensor *build_public(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    return kiln_matmul(g, in[0], in[1], c->p.mm.trans_a, c->p.mm.trans_b);
}

#define MM(a, b, ta, tb, nt)                                                                       \
    {                                                                                              \
        .op = KILN_OP_MATMUL, .note = nt, .shape = {a, b}, .p.mm = {ta, tb}, .gen = {U, U},        \
    }

static const struct oh_case cases[] = {
    MM(OH_S2(1, 1), OH_S2(1, 1), 0, 0, "1x1x1"),
    MM(OH_S2(5, 7), OH_S2(7, 11), 0, 0, "5x7x11"),
    MM(OH_S2(13, 1), OH_S2(1, 5), 0, 0, "k = 1"),
    MM(OH_S2(1, 1031), OH_S2(1031, 1), 0, 0, "dot of 1031"),
    MM(OH_S2(3, 127), OH_S2(127, 129), 0, 0, "3x127x129"),
    MM(OH_S2(67, 129), OH_S2(129, 33), 0, 0, "67x129x33"),
    MM(OH_S2(129, 67), OH_S2(129, 33), 1, 0, "67x129x33 a^T"),
    MM(OH_S2(67, 129), OH_S2(33, 129), 0, 1, "67x129x33 b^T"),
    MM(OH_S2(129, 67), OH_S2(33, 129), 1, 1, "67x129x33 a^T b^T"),
    MM(OH_S2(17, 64), OH_S2(64, 16), 0, 0, "17x64x16"),
    /* Larger than one piece of the CPU backend's fast matmul (src/backend/cpu/cpu_gemm.c):
     * blocks of rows, a short last one. */
    MM(OH_S2(24, 160), OH_S2(160, 72), 0, 0, "24x160x72, row blocks"),
    MM(OH_S3(2, 160, 23), OH_S3(2, 72, 160), 1, 1, "batched a^T b^T, row blocks"),
    MM(OH_S3(3, 5, 7), OH_S3(3, 7, 11), 0, 0, "batched"),
    MM(OH_S3(3, 7, 5), OH_S3(3, 11, 7), 1, 1, "batched a^T b^T"),
    MM(OH_S3(2, 33, 65), OH_S3(2, 65, 17), 0, 0, "batched 2x33x65x17"),
    MM(OH_S3(4, 13, 9), OH_S3(4, 13, 6), 1, 0, "batched a^T"),
    {.op = KILN_OP_MATMUL,
     .note = "rank 3 by rank 2 (public builder)",
     .shape = {OH_S3(3, 13, 17), OH_S2(17, 9)},
     .gen = {U, U},
     .build = build_public},
    {.op = KILN_OP_MATMUL,
     .note = "rank 3 by rank 2, b^T (public builder)",
     .shape = {OH_S3(2, 5, 31), OH_S2(7, 31)},
     .p.mm = {0, 1},
     .gen = {U, U},
     .build = build_public},
};

const struct oh_family oh_family_gemm = {"gemm", cases, (int)(sizeof(cases) / sizeof(cases[0]))};
