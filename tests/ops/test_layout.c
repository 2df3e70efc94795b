/*
 * test_layout.c - case rows for concat (1 to 4 inputs, every axis position), slice
 * (interior boxes) and zero padding (before and after, several dims), both also over 8
 * dims that do not merge.
 */
#include "../op_harness.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -1.0f, 1.0f                                                                    \
    }

static const struct oh_case cases[] = {
    {.op = KILN_OP_CONCAT,
     .note = "2 inputs, channels",
     .n_in = 2,
     .shape = {OH_S4(2, 3, 4, 5), OH_S4(2, 2, 4, 5)},
     .p.cat = {1},
     .gen = {U, U}},
    {.op = KILN_OP_CONCAT,
     .note = "3 inputs, axis 0",
     .n_in = 3,
     .shape = {OH_S2(2, 5), OH_S2(1, 5), OH_S2(3, 5)},
     .p.cat = {0},
     .gen = {U, U, U}},
    {.op = KILN_OP_CONCAT,
     .note = "4 inputs, channels (inception)",
     .n_in = 4,
     .shape = {OH_S4(2, 1, 3, 3), OH_S4(2, 2, 3, 3), OH_S4(2, 3, 3, 3), OH_S4(2, 1, 3, 3)},
     .p.cat = {1},
     .gen = {U, U, U, U}},
    {.op = KILN_OP_CONCAT,
     .note = "2 inputs, last axis",
     .n_in = 2,
     .shape = {OH_S4(2, 3, 4, 5), OH_S4(2, 3, 4, 2)},
     .p.cat = {3},
     .gen = {U, U}},
    {.op = KILN_OP_CONCAT, .note = "1 input", .n_in = 1, .shape = {OH_S1(7)}, .gen = {U}},
    {.op = KILN_OP_SLICE,
     .note = "interior of 5x7",
     .shape = {OH_S2(5, 7)},
     .p.sl = {{1, 2, 0, 0}, {3, 4, 0, 0}},
     .gen = {U}},
    {.op = KILN_OP_SLICE,
     .note = "channels 2..4 and a box of rank 4",
     .shape = {OH_S4(2, 6, 4, 5)},
     .p.sl = {{0, 2, 1, 0}, {2, 3, 2, 5}},
     .gen = {U}},
    {.op = KILN_OP_PAD,
     .note = "3x4 rows and columns",
     .shape = {OH_S2(3, 4)},
     .p.pad = {{1, 0, 0, 0}, {2, 3, 0, 0}},
     .gen = {U}},
    {.op = KILN_OP_SLICE,
     .note = "a box of rank 8",
     .shape = {OH_S8(2, 3, 2, 3, 4, 3, 2, 3)},
     .p.sl = {{1, 0, 1, 1, 0, 2, 1, 0}, {1, 2, 1, 2, 3, 1, 1, 2}},
     .gen = {U}},
    {.op = KILN_OP_PAD,
     .note = "every dim of rank 8",
     .shape = {OH_S8(2, 1, 2, 3, 1, 2, 1, 3)},
     .p.pad = {{1, 0, 1, 0, 1, 0, 1, 0}, {0, 1, 0, 1, 0, 1, 0, 1}},
     .gen = {U}},
    {.op = KILN_OP_PAD,
     .note = "spatial of rank 4",
     .shape = {OH_S4(2, 3, 4, 5)},
     .p.pad = {{0, 0, 1, 2}, {0, 1, 2, 1}},
     .gen = {U}},
};

const struct oh_family oh_family_layout = {"layout", cases,
                                           (int)(sizeof(cases) / sizeof(cases[0]))};
