/*
 * test_layout.c - case rows for concat (1 to 4 inputs, every axis position), slice
 * (interior boxes; contiguous ones, which are views where the backend can bind their
 * offset, of an input and of an intermediate) and zero padding (before and after,
 * several dims), both also over 8 dims that do not merge; the builders stack (8 inputs,
 * and 70: a tree of concats), split (70 outputs) and chunk.
 */
#include "../op_harness.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -1.0f, 1.0f                                                                    \
    }

/* exp of rows 1..4 of relu(x): a view (or a copy) of an intermediate. */
static kiln_tensor *build_view_of_intermediate(kiln_graph *g, kiln_tensor *const *in,
                                               const struct oh_case *c)
{
    (void)c;
    return kiln_exp(g, kiln_slice(g, kiln_relu(g, in[0]), 0, 1, 4));
}

static kiln_tensor *build_stack(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    return kiln_stack(g, c->n_in, in, c->p.cat.axis);
}

/* x [70, 3] split into its 70 rows, stacked again along a new last axis: [1, 3, 70]. */
static kiln_tensor *build_split_stack(kiln_graph *g, kiln_tensor *const *in,
                                      const struct oh_case *c)
{
    kiln_tensor *rows[70];
    int64_t ones[70];
    (void)c;
    for (int i = 0; i < 70; i++) {
        ones[i] = 1;
    }
    kiln_split(g, in[0], 0, 70, ones, rows);
    return kiln_stack(g, 70, rows, 2);
}

/* x [2, 11] chunked into 4, 4 and 3 columns, joined again in reverse order. */
static kiln_tensor *build_chunk(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    kiln_tensor *parts[3], *rev[3];
    (void)c;
    kiln_chunk(g, in[0], 1, 3, parts);
    rev[0] = parts[2];
    rev[1] = parts[1];
    rev[2] = parts[0];
    return kiln_concat(g, 3, rev, 1);
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
    {.op = KILN_OP_CONCAT,
     .note = "stack of 8 along axis 1",
     .n_in = 8,
     .shape = {OH_S2(3, 5), OH_S2(3, 5), OH_S2(3, 5), OH_S2(3, 5), OH_S2(3, 5), OH_S2(3, 5),
               OH_S2(3, 5), OH_S2(3, 5)},
     .p.cat = {1},
     .gen = {U, U, U, U, U, U, U, U},
     .build = build_stack},
    {.op = KILN_OP_CONCAT,
     .note = "70 rows split and stacked (70 outputs, 70 inputs)",
     .n_in = 1,
     .shape = {OH_S2(70, 3)},
     .gen = {U},
     .build = build_split_stack},
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
     .note = "rows 2..4 of 6x4x5 (contiguous: a view)",
     .shape = {OH_S3(6, 4, 5)},
     .p.sl = {{2, 0, 0}, {3, 4, 5}},
     .gen = {U}},
    {.op = KILN_OP_SLICE,
     .note = "rows 1..5 of 7x3 (contiguous at 12 bytes)",
     .shape = {OH_S2(7, 3)},
     .p.sl = {{1, 0}, {5, 3}},
     .gen = {U}},
    {.op = KILN_OP_SLICE,
     .note = "a contiguous slice of an intermediate",
     .shape = {OH_S2(9, 13)},
     .gen = {U},
     .build = build_view_of_intermediate},
    {.op = KILN_OP_SLICE,
     .note = "chunks of 2x11 joined in reverse (chunk)",
     .shape = {OH_S2(2, 11)},
     .gen = {U},
     .build = build_chunk},
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
