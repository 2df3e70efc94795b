/*
 * test_norm.c - case rows for batch norm (statistics in training mode, apply, the
 * running-statistics update over one and several steps, each _BWD fed directly, and
 * the whole training-mode layer whose gradient flows through the batch statistics) on
 * [N, C] and [N, C, H, W] inputs, and for local response normalization (odd and even
 * window sizes, windows wider than the channel count).
 */
#include "../op_harness.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -2.0f, 2.0f                                                                    \
    }
#define POS                                                                                        \
    {                                                                                              \
        OH_UNIFORM, 0.2f, 1.5f                                                                     \
    }

/* y = bn_apply(x, bn_stats(x, rm, rv), gamma, beta) with zero/one running statistics
 * created here (buffer leaves): in training runs the statistics are the batch's. */
static kiln_tensor *build_bn(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    struct kiln_shape s = {1, {in[0]->shape.dims[1], 0, 0, 0}};
    kiln_tensor *rm = kiln__leaf(g, "rm", KILN_DTYPE_F32, &s, KILN__F_BUFFER | KILN__F_KEEP);
    kiln_tensor *rv = kiln__leaf(g, "rv", KILN_DTYPE_F32, &s, KILN__F_BUFFER | KILN__F_KEEP);
    if (rv->flags & KILN__F_POISON) {
        return rv;
    }
    rv->init = KILN_INIT_ONES;
    kiln_tensor *st = kiln_bn_stats(g, in[0], rm, rv);
    kiln_bn_running_update(g, rm, rv, st, in[0], 0.1f);
    return kiln_bn_apply(g, in[0], st, in[1], in[2], c->p.bn.eps);
}

#define X4 OH_S4(2, 3, 4, 5)
#define C3 OH_S1(3)
#define S3 OH_S2(2, 3)

static const struct oh_case cases[] = {
    {.op = KILN_OP_BN_STATS,
     .note = "[N, C, H, W]",
     .shape = {X4, C3, C3},
     .const_mask = 6,
     .gen = {U, U, POS}},
    {.op = KILN_OP_BN_STATS,
     .note = "[N, C], offset mean",
     .shape = {OH_S2(7, 5), OH_S1(5), OH_S1(5)},
     .const_mask = 6,
     .gen = {{OH_UNIFORM, 3.0f, 5.0f}, U, POS}},
    {.op = KILN_OP_BN_STATS,
     .note = "[N, C, H, W], sums of 1311 (more than a workgroup)",
     .shape = {OH_S4(3, 2, 19, 23), OH_S1(2), OH_S1(2)},
     .const_mask = 6,
     .gen = {U, U, POS}},
    {.op = KILN_OP_BN_STATS_BWD, .note = "[N, C, H, W]", .shape = {X4, S3, S3}, .gen = {U, U, U}},
    {.op = KILN_OP_BN_APPLY,
     .note = "[N, C, H, W]",
     .shape = {X4, S3, C3, C3},
     .p.bn = {1e-5f, 0.0f, 0},
     .gen = {U, POS, U, U}},
    {.op = KILN_OP_BN_APPLY,
     .note = "[N, C], eps 0.1",
     .shape = {OH_S2(6, 4), OH_S2(2, 4), OH_S1(4), OH_S1(4)},
     .p.bn = {0.1f, 0.0f, 0},
     .gen = {U, POS, U, U}},
    {.op = KILN_OP_BN_APPLY_BWD,
     .note = "[N, C, H, W]",
     .shape = {X4, S3, C3, X4},
     .p.bn = {1e-5f, 0.0f, 0},
     .gen = {U, POS, U, U}},
    {.op = KILN_OP_BN_APPLY_BWD_PARAMS,
     .note = "[N, C, H, W]",
     .shape = {X4, S3, C3, X4},
     .p.bn = {1e-5f, 0.0f, 0},
     .gen = {U, POS, U, U}},
    {.op = KILN_OP_BN_APPLY_BWD_PARAMS,
     .note = "[N, C, H, W], sums of 1311",
     .shape = {OH_S4(3, 2, 19, 23), OH_S2(2, 2), OH_S1(2), OH_S4(3, 2, 19, 23)},
     .p.bn = {1e-5f, 0.0f, 0},
     .gen = {U, POS, U, U}},
    {.op = KILN_OP_BN_RUNNING_UPDATE,
     .note = "one step",
     .shape = {C3, C3, S3},
     .p.bn = {0.0f, 0.1f, 40},
     .gen = {U, POS, POS}},
    {.op = KILN_OP_BN_RUNNING_UPDATE,
     .note = "3 steps, momentum 0.3",
     .shape = {OH_S1(17), OH_S1(17), OH_S2(2, 17)},
     .p.bn = {0.0f, 0.3f, 6},
     .gen = {U, POS, POS},
     .steps = 3},
    {.op = KILN_OP_BN_APPLY,
     .note = "training layer [N, C, H, W]: gradient through the batch statistics",
     .n_in = 3,
     .shape = {X4, C3, C3},
     .p.bn = {1e-5f, 0.0f, 0},
     .gen = {U, U, U},
     .build = build_bn},
    {.op = KILN_OP_BN_APPLY,
     .note = "training layer [N, C]",
     .n_in = 3,
     .shape = {OH_S2(9, 4), OH_S1(4), OH_S1(4)},
     .p.bn = {1e-3f, 0.0f, 0},
     .gen = {U, U, U},
     .build = build_bn},
    {.op = KILN_OP_LRN,
     .note = "size 5 over 7 channels",
     .shape = {OH_S4(2, 7, 3, 3)},
     .p.lrn = {5, 0.5f, 0.75f, 1.0f},
     .gen = {U}},
    {.op = KILN_OP_LRN,
     .note = "size 2 (even), k 2",
     .shape = {OH_S4(1, 4, 2, 3)},
     .p.lrn = {2, 1.0f, 0.5f, 2.0f},
     .gen = {U}},
    {.op = KILN_OP_LRN,
     .note = "[N, C], window wider than C",
     .shape = {OH_S2(3, 3)},
     .p.lrn = {7, 0.3f, 0.75f, 1.0f},
     .gen = {U}},
    {.op = KILN_OP_LRN_BWD,
     .note = "size 5",
     .shape = {OH_S4(2, 7, 3, 3), OH_S4(2, 7, 3, 3)},
     .p.lrn = {5, 0.5f, 0.75f, 1.0f},
     .gen = {U, U}},
    {.op = KILN_OP_LRN_BWD,
     .note = "size 4",
     .shape = {OH_S4(1, 6, 2, 2), OH_S4(1, 6, 2, 2)},
     .p.lrn = {4, 1.0f, 0.75f, 1.0f},
     .gen = {U, U}},
};

const struct oh_family oh_family_norm = {"norm", cases, (int)(sizeof(cases) / sizeof(cases[0]))};
