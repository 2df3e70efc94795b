/*
 * test_index.c - case rows and double-precision evaluators of the index family: gather
 * (embedding lookups with duplicate, padding and out-of-range indices, inner axes, an
 * i32 table, a scalar index, a rank-8 result), bucket_indices (padding, out-of-range
 * indices, several blocks), scatter_add (tables of several blocks of rows, inner axes,
 * out-of-range indices; the padding row through gather's gradient), where (f32 and i32
 * conditions with NaN and -0, NumPy broadcasting up to rank 8) and sequence_mask
 * (lengths below 0 and above max_len). gather and scatter_add rows are OH_BITWISE:
 * every backend sums in index order.
 */
#include <math.h>
#include <string.h>

#include "../ref64.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -1.0f, 1.0f                                                                    \
    }
#define IDX(lo, hi)                                                                                \
    {                                                                                              \
        OH_LABELS, lo, hi                                                                          \
    }
#define COND                                                                                       \
    {                                                                                              \
        OH_TIES, -1.0f, 1.0f                                                                       \
    } /* -1, 0, 1: many zeros */

#define I1 (1u << 1) /* input 1 is i32 */

/* ==== Evaluators ==== */

static void eval_gather(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    const struct kiln__p_gather *p = (const void *)n->params;
    const struct kiln_shape *x = &n->src[0]->shape;
    int64_t outer = 1, inner = 1, v = x->dims[p->axis], j = n->src[1]->n_elems;
    (void)t;
    for (int32_t k = 0; k < x->rank; k++) {
        outer *= k < p->axis ? x->dims[k] : 1;
        inner *= k > p->axis ? x->dims[k] : 1;
    }
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t jj = 0; jj < j; jj++) {
            double iv = in[1][jj];
            bool ok = iv >= 0 && iv < (double)v && !(p->zero_pad && iv == p->padding_idx);
            for (int64_t c = 0; c < inner; c++) {
                out[(o * j + jj) * inner + c] = ok ? in[0][(o * v + (int64_t)iv) * inner + c] : 0.0;
            }
        }
    }
}

/* Block offsets, then the positions of valid indices grouped by block (idx / tile) in
 * index order, then -1. */
static void eval_bucket(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    const struct kiln__p_gather *p = (const void *)n->params;
    int64_t j = n->src[0]->n_elems, nb = (p->v + p->tile - 1) / p->tile, k = 0;
    (void)t;
    for (int64_t b = 0; b < nb; b++) {
        out[b] = (double)k;
        for (int64_t jj = 0; jj < j; jj++) {
            double v = in[0][jj];
            if (v >= 0 && v < p->v && v != p->padding_idx && (int64_t)v / p->tile == b) {
                out[nb + 1 + k++] = (double)jj;
            }
        }
    }
    out[nb] = (double)k;
    for (; k < j; k++) {
        out[nb + 1 + k] = -1.0;
    }
}

static void eval_scatter_add(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    const struct kiln__p_gather *p = (const void *)n->params;
    const struct kiln_shape *dy = &n->src[0]->shape;
    int32_t ir = n->src[1]->shape.rank;
    int64_t outer = 1, inner = 1, v = p->v, j = n->src[1]->n_elems;
    (void)t;
    for (int32_t k = 0; k < dy->rank; k++) {
        outer *= k < p->axis ? dy->dims[k] : 1;
        inner *= k >= p->axis + ir ? dy->dims[k] : 1;
    }
    memset(out, 0, (size_t)n->n_elems * sizeof(double));
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t jj = 0; jj < j; jj++) {
            double iv = in[1][jj];
            if (iv < 0 || iv >= (double)v || iv == p->padding_idx) {
                continue;
            }
            for (int64_t c = 0; c < inner; c++) {
                out[(o * v + (int64_t)iv) * inner + c] += in[0][(o * j + jj) * inner + c];
            }
        }
    }
}

/* The element of a source of shape s read for output element o under broadcasting. */
static int64_t bcast_at(const struct kiln_shape *out, const struct kiln_shape *s, int64_t o)
{
    int64_t c[KILN_MAX_DIMS], i = 0;
    for (int32_t k = out->rank - 1; k >= 0; k--) {
        c[k] = o % out->dims[k];
        o /= out->dims[k];
    }
    for (int32_t k = 0; k < s->rank; k++) {
        int64_t ck = s->dims[k] == 1 ? 0 : c[k + out->rank - s->rank];
        i = i * s->dims[k] + ck;
    }
    return i;
}

static void eval_where(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    (void)t;
    for (int64_t o = 0; o < n->n_elems; o++) {
        double cv = in[0][bcast_at(&n->shape, &n->src[0]->shape, o)];
        out[o] = cv != 0.0 ? in[1][bcast_at(&n->shape, &n->src[1]->shape, o)]
                           : in[2][bcast_at(&n->shape, &n->src[2]->shape, o)];
    }
}

static void eval_sequence_mask(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    int64_t m = n->shape.dims[n->shape.rank - 1];
    (void)t;
    for (int64_t o = 0; o < n->n_elems; o++) {
        out[o] = (double)(o % m) < in[0][o / m] ? 1.0 : 0.0;
    }
}

/* Copies and selections are exact; scatter_add rounds its sum of duplicates in f32. */
static const struct oh_eval evals[] = {
    {KILN_OP_GATHER, eval_gather, R64_TOL_EXACT},
    {KILN_OP_BUCKET_INDICES, eval_bucket, R64_TOL_EXACT},
    {KILN_OP_SCATTER_ADD, eval_scatter_add, R64_TOL_DOUBLE_ACC},
    {KILN_OP_WHERE, eval_where, R64_TOL_EXACT},
    {KILN_OP_SEQUENCE_MASK, eval_sequence_mask, R64_TOL_EXACT},
};

/* ==== Rows ==== */

/* The public builders, for the rows that test them. */
static kiln_tensor *build_embedding(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    return kiln_embedding(g, in[0], in[1], c->p.gather.padding_idx);
}

static kiln_tensor *build_scatter_add(kiln_graph *g, kiln_tensor *const *in,
                                      const struct oh_case *c)
{
    return kiln_scatter_add(g, in[0], in[1], c->p.gather.axis, c->p.gather.v);
}

/* A padded-sequence mean: sum(x * mask) over t / length, the mask from the lengths. */
static kiln_tensor *build_masked_mean(kiln_graph *g, kiln_tensor *const *in,
                                      const struct oh_case *c)
{
    kiln_tensor *mask = kiln_sequence_mask(g, in[1], c->shape[0].dims[1]);
    kiln_tensor *s = kiln_sum(g, kiln_mul(g, in[0], mask), 1u << 1, 0);
    return kiln_div(g, s, kiln_shift(g, kiln_sum(g, mask, 1u << 1, 0), 1.0f));
}

/* Causal-style masking of scores: where(mask, x, -1e4) then softmax over the last axis. */
static kiln_tensor *build_masked_softmax(kiln_graph *g, kiln_tensor *const *in,
                                         const struct oh_case *c)
{
    (void)c;
    kiln_tensor *neg = kiln_scale_shift(g, kiln_sum(g, in[0], 7u, 0), 0.0f, -1e4f);
    return kiln_softmax(g, kiln_where(g, in[1], in[0], neg));
}

static const struct oh_case cases[] = {
    /* ---- gather ---- */
    {.op = KILN_OP_GATHER,
     .note = "embedding 37x5 by 3x7 ids",
     .shape = {OH_S2(37, 5), OH_S2(3, 7)},
     .i32_mask = I1,
     .p.gather = {.padding_idx = -1},
     .gen = {U, IDX(0, 37)},
     .flags = OH_BITWISE},
    {.op = KILN_OP_GATHER,
     .note = "embedding with padding row 3, out-of-range ids (public builder)",
     .shape = {OH_S2(11, 7), OH_S1(41)},
     .i32_mask = I1,
     .p.gather = {.padding_idx = 3},
     .gen = {U, IDX(-2, 14)},
     /* The padding row is read but gets no gradient by definition: no derivative. */
     .flags = OH_BITWISE | OH_NO_FD,
     .build = build_embedding},
    {.op = KILN_OP_GATHER,
     .note = "axis 1 of 4x11x6",
     .shape = {OH_S3(4, 11, 6), OH_S1(5)},
     .i32_mask = I1,
     .p.gather = {.axis = 1, .padding_idx = -1},
     .gen = {U, IDX(0, 11)},
     .flags = OH_BITWISE},
    {.op = KILN_OP_GATHER,
     .note = "last axis by 2x3 ids",
     .shape = {OH_S3(3, 4, 9), OH_S2(2, 3)},
     .i32_mask = I1,
     .p.gather = {.axis = 2, .padding_idx = -1},
     .gen = {U, IDX(0, 9)},
     .flags = OH_BITWISE},
    {.op = KILN_OP_GATHER,
     .note = "300x17 table, 257 ids (several workgroups)",
     .shape = {OH_S2(300, 17), OH_S1(257)},
     .i32_mask = I1,
     .p.gather = {.padding_idx = -1},
     .gen = {U, IDX(0, 300)},
     .flags = OH_BITWISE},
    {.op = KILN_OP_GATHER,
     .note = "rank 8 result",
     .shape = {OH_S5(2, 3, 5, 2, 3), OH_S4(2, 1, 2, 3)},
     .i32_mask = I1,
     .p.gather = {.axis = 2, .padding_idx = -1},
     .gen = {U, IDX(0, 5)},
     .flags = OH_BITWISE},
    {.op = KILN_OP_GATHER,
     .note = "scalar index",
     .shape = {OH_S3(3, 7, 4), OH_S0},
     .i32_mask = I1,
     .p.gather = {.axis = 1, .padding_idx = -1},
     .gen = {U, IDX(2, 3)},
     .flags = OH_BITWISE},
    {.op = KILN_OP_GATHER,
     .note = "i32 table",
     .shape = {OH_S2(13, 3), OH_S1(19)},
     .i32_mask = 3u,
     .p.gather = {.padding_idx = -1},
     .gen = {IDX(-1000, 1000), IDX(-1, 14)},
     .flags = OH_BITWISE},
    {.op = KILN_OP_GATHER,
     .note = "zero padding row (scatter_add's adjoint)",
     .shape = {OH_S2(9, 6), OH_S2(4, 5)},
     .i32_mask = I1,
     .p.gather = {.padding_idx = 0, .zero_pad = 1},
     .gen = {U, IDX(-1, 10)},
     .flags = OH_BITWISE},
    /* ---- bucket_indices ---- */
    {.op = KILN_OP_BUCKET_INDICES,
     .note = "43 ids into 7 rows, padding row 2, out of range",
     .shape = {OH_S1(43)},
     .i32_mask = 1u,
     .p.gather = {.padding_idx = 2, .v = 7},
     .gen = {IDX(-2, 9)}},
    {.op = KILN_OP_BUCKET_INDICES,
     .note = "3x97 ids into 300 rows (10 blocks)",
     .shape = {OH_S2(3, 97)},
     .i32_mask = 1u,
     .p.gather = {.padding_idx = -1, .v = 300},
     .gen = {IDX(-1, 301)}},
    /* ---- scatter_add (the public builder: bucket_indices, then scatter_add) ---- */
    {.op = KILN_OP_SCATTER_ADD,
     .note = "3x7 rows into 37",
     .n_in = 2,
     .shape = {OH_S3(3, 7, 5), OH_S2(3, 7)},
     .i32_mask = I1,
     .p.gather = {.padding_idx = -1, .v = 37},
     .gen = {U, IDX(0, 37)},
     .flags = OH_BITWISE,
     .build = build_scatter_add},
    {.op = KILN_OP_SCATTER_ADD,
     .note = "duplicates and out-of-range ids into 7",
     .n_in = 2,
     .shape = {OH_S2(43, 3), OH_S1(43)},
     .i32_mask = I1,
     .p.gather = {.padding_idx = -1, .v = 7},
     .gen = {U, IDX(-2, 9)},
     .flags = OH_BITWISE,
     .build = build_scatter_add},
    {.op = KILN_OP_SCATTER_ADD,
     .note = "axis 1 into 11",
     .n_in = 2,
     .shape = {OH_S3(4, 5, 6), OH_S1(5)},
     .i32_mask = I1,
     .p.gather = {.axis = 1, .padding_idx = -1, .v = 11},
     .gen = {U, IDX(0, 11)},
     .flags = OH_BITWISE,
     .build = build_scatter_add},
    {.op = KILN_OP_SCATTER_ADD,
     .note = "300 ids into 101 rows of 33 (four blocks, several workgroups)",
     .n_in = 2,
     .shape = {OH_S2(300, 33), OH_S1(300)},
     .i32_mask = I1,
     .p.gather = {.padding_idx = -1, .v = 101},
     .gen = {U, IDX(0, 101)},
     .flags = OH_BITWISE,
     .build = build_scatter_add},
    /* ---- where ---- */
    {.op = KILN_OP_WHERE,
     .note = "13x11, f32 condition",
     .shape = {OH_S2(13, 11), OH_S2(13, 11), OH_S2(13, 11)},
     .const_mask = 1u,
     .gen = {COND, U, U}},
    {.op = KILN_OP_WHERE,
     .note = "i32 column condition, a full, b a row",
     .shape = {OH_S2(13, 1), OH_S2(13, 11), OH_S1(11)},
     .i32_mask = 1u,
     .gen = {IDX(-1, 2), U, U}},
    {.op = KILN_OP_WHERE,
     .note = "scalar b, condition broadcast",
     .shape = {OH_S1(7), OH_S2(5, 7), OH_S0},
     .const_mask = 1u,
     .gen = {COND, U, U}},
    {.op = KILN_OP_WHERE,
     .note = "1031, NaN and -0 in the condition",
     .shape = {OH_S1(1031), OH_S1(1031), OH_S1(1031)},
     .const_mask = 1u,
     .gen = {{OH_SPECIAL}, U, U},
     .special = {NAN, -0.0f, 0.0f, INFINITY},
     .n_special = 4},
    {.op = KILN_OP_WHERE,
     .note = "rank 8 broadcasting",
     .shape = {OH_S8(2, 1, 3, 1, 2, 1, 3, 1), OH_S8(1, 2, 1, 3, 1, 2, 1, 3),
               OH_S6(3, 1, 2, 1, 3, 1)},
     .const_mask = 1u,
     .gen = {COND, U, U}},
    {.op = KILN_OP_WHERE,
     .note = "masked softmax of 3x5x7 scores",
     .n_in = 2,
     .shape = {OH_S3(3, 5, 7), OH_S2(5, 7)},
     .i32_mask = 2u,
     .gen = {U, IDX(0, 2)},
     .build = build_masked_softmax},
    /* ---- sequence_mask ---- */
    {.op = KILN_OP_SEQUENCE_MASK,
     .note = "5 lengths in -1..8, max_len 7",
     .shape = {OH_S1(5)},
     .i32_mask = 1u,
     .p.sequence_mask = {7},
     .gen = {IDX(-1, 9)}},
    {.op = KILN_OP_SEQUENCE_MASK,
     .note = "3x4 lengths, max_len 11",
     .shape = {OH_S2(3, 4)},
     .i32_mask = 1u,
     .p.sequence_mask = {11},
     .gen = {IDX(0, 12)}},
    {.op = KILN_OP_SEQUENCE_MASK,
     .note = "40 lengths, max_len 37 (several workgroups)",
     .shape = {OH_S1(40)},
     .i32_mask = 1u,
     .p.sequence_mask = {37},
     .gen = {IDX(0, 38)}},
    {.op = KILN_OP_SEQUENCE_MASK,
     .note = "masked mean of 6x9 padded sequences",
     .n_in = 2,
     .shape = {OH_S2(6, 9), OH_S1(6)},
     .i32_mask = 2u,
     .gen = {U, IDX(0, 10)},
     .build = build_masked_mean},
};

const struct oh_family oh_family_index = {"index", cases, (int)(sizeof(cases) / sizeof(cases[0])),
                                          evals, (int)(sizeof(evals) / sizeof(evals[0]))};
