/*
 * test_random.c - case rows for dropout: the mask is a pure function of (seed, run,
 * index), so the backend must reproduce the CPU's bits exactly; p = 0 and p = 1 edges,
 * sizes past a workgroup.
 */
#include "../op_harness.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -1.0f, 1.0f                                                                    \
    }
/* scale = 1 / (1 - p) rounded to f32, as kiln_dropout computes it */
#define DROP(nt, S, pp, sd)                                                                        \
    {                                                                                              \
        .op = KILN_OP_DROPOUT, .note = nt, .shape = {S},                                           \
        .p.drop = {pp, (pp) < 1.0f ? 1.0f / (1.0f - (pp)) : 0.0f, sd}, .gen = {U},                 \
    }

static const struct oh_case cases[] = {
    DROP("p 0.5", OH_S2(13, 11), 0.5f, 1),
    DROP("p 0.1, 1031", OH_S1(1031), 0.1f, 42),
    DROP("p 0.25, rank 4", OH_S4(2, 3, 5, 7), 0.25f, 0xfeedbeefcafeull),
    DROP("p 0: identity", OH_S1(33), 0.0f, 7),
    DROP("p 1: all zero", OH_S1(33), 1.0f, 7),
};

const struct oh_family oh_family_random = {"random", cases,
                                           (int)(sizeof(cases) / sizeof(cases[0]))};
