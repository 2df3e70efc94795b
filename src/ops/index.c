/*
 * index.c - ops that select by index or by condition: GATHER (index_select along an
 * axis; with axis 0 of a [V, D] table it is the embedding lookup), SCATTER_ADD (its
 * adjoint: sums rows into a table in index order, without atomics) with BUCKET_INDICES
 * (the positions of the indices grouped by blocks of table rows, which SCATTER_ADD
 * takes so that no GPU work-item scans every index), WHERE (cond ? a : b with numpy
 * broadcasting over up to KILN_MAX_DIMS dims) and SEQUENCE_MASK (1 where t < length,
 * for padded sequences). The builders, shape inference (which also writes
 * the sizes the GPU kernels need into the params), backward rules and CPU references.
 * All four run on the GPU backends through the generic kernel convention (op_desc.h);
 * their kernels are in opencl/index.cl and shaders/index.comp.
 *
 * Indices outside [0, V) read zeros and get no gradient (PyTorch raises an error); the
 * padding row (padding_idx, PyTorch's nn.Embedding padding_idx) is read like any other
 * row but never gets a gradient.
 */
#include <string.h>

#include "../graph/graph_impl.h"
#include "family.h"

/* Rows of dx per block of BUCKET_INDICES, and so per SCATTER_ADD work-item, which keeps
 * them in an array of this size (opencl/index.cl, shaders/index.comp). */
#define SCATTER_TILE 32

static bool fits_i32(int64_t v)
{
    return v >= 0 && v < ((int64_t)1 << 31);
}

/* ==== GATHER and SCATTER_ADD ==== */

/* outer = prod(dims[0, axis)), inner = prod(dims[from, rank)) of s. */
static void outer_inner(const struct kiln_shape *s, int32_t axis, int32_t from, int64_t *outer,
                        int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int32_t k = 0; k < axis; k++) {
        *outer *= s->dims[k];
    }
    for (int32_t k = from; k < s->rank; k++) {
        *inner *= s->dims[k];
    }
}

static kiln_status check_sizes(const struct kiln_tensor *n, struct kiln__p_gather *p, int64_t outer,
                               int64_t v, int64_t j, int64_t inner)
{
    if (!fits_i32(outer) || !fits_i32(v) || !fits_i32(j) || !fits_i32(inner) ||
        !fits_i32(outer * j * inner) || !fits_i32(outer * v * inner)) {
        return KILN_FAIL(KILN_E_SHAPE, "%s: '%s' has 2^31 or more elements", kiln__ops[n->op]->name,
                         n->src[0]->name);
    }
    if (p->padding_idx < -1 || p->padding_idx >= v) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: padding_idx %d is outside -1..%lld",
                         kiln__ops[n->op]->name, p->padding_idx, (long long)v - 1);
    }
    p->outer = (int32_t)outer;
    p->v = (int32_t)v;
    p->j = (int32_t)j;
    p->inner = (int32_t)inner;
    p->tile = SCATTER_TILE;
    return KILN_OK;
}

static kiln_status infer_gather(struct kiln_tensor *n)
{
    struct kiln__p_gather *p = (struct kiln__p_gather *)n->params;
    const struct kiln_shape *x = &n->src[0]->shape, *ix = &n->src[1]->shape;
    char a[64], b[64];
    KILN_TRY(kiln__want_dtype(n, 1, KILN_DTYPE_I32));
    if (p->axis < 0 || p->axis >= x->rank || x->rank - 1 + ix->rank > KILN_MAX_DIMS) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "gather: axis %d of x %s with indices %s (the result has rank at most %d)",
                         p->axis, kiln__shape_str(x, a, sizeof(a)),
                         kiln__shape_str(ix, b, sizeof(b)), KILN_MAX_DIMS);
    }
    n->dtype = n->src[0]->dtype;
    n->shape.rank = 0;
    for (int32_t k = 0; k < x->rank; k++) {
        if (k == p->axis) {
            for (int32_t i = 0; i < ix->rank; i++) {
                n->shape.dims[n->shape.rank++] = ix->dims[i];
            }
        } else {
            n->shape.dims[n->shape.rank++] = x->dims[k];
        }
    }
    int64_t outer, inner;
    outer_inner(x, p->axis, p->axis + 1, &outer, &inner);
    return check_sizes(n, p, outer, x->dims[p->axis], kiln__shape_elems(ix), inner);
}

/* The blocks of `tile` rows of a table of v rows. */
static int64_t n_blocks(const struct kiln__p_gather *p)
{
    return (p->v + p->tile - 1) / p->tile;
}

static kiln_status infer_bucket(struct kiln_tensor *n)
{
    struct kiln__p_gather *p = (struct kiln__p_gather *)n->params;
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_I32));
    if (p->v < 1) {
        return KILN_FAIL(KILN_E_SHAPE, "bucket_indices: table size %d is not positive", p->v);
    }
    KILN_TRY(check_sizes(n, p, 1, p->v, n->src[0]->n_elems, 1));
    n->dtype = KILN_DTYPE_I32;
    n->shape.rank = 1;
    n->shape.dims[0] = n_blocks(p) + 1 + p->j;
    return KILN_OK;
}

static kiln_status infer_scatter_add(struct kiln_tensor *n)
{
    struct kiln__p_gather *p = (struct kiln__p_gather *)n->params;
    const struct kiln_shape *dy = &n->src[0]->shape, *ix = &n->src[1]->shape;
    char a[64], b[64];
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_dtype(n, 1, KILN_DTYPE_I32));
    KILN_TRY(kiln__want_dtype(n, 2, KILN_DTYPE_I32));
    bool ok = p->axis >= 0 && p->v >= 1 && p->axis + ix->rank <= dy->rank &&
              dy->rank - ix->rank + 1 <= KILN_MAX_DIMS;
    for (int32_t i = 0; ok && i < ix->rank; i++) {
        ok = dy->dims[p->axis + i] == ix->dims[i];
    }
    if (!ok) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "scatter_add: src %s does not hold indices %s at axis %d (or size %d "
                         "is not positive)",
                         kiln__shape_str(dy, a, sizeof(a)), kiln__shape_str(ix, b, sizeof(b)),
                         p->axis, p->v);
    }
    n->shape.rank = 0;
    for (int32_t k = 0; k < p->axis; k++) {
        n->shape.dims[n->shape.rank++] = dy->dims[k];
    }
    n->shape.dims[n->shape.rank++] = p->v;
    for (int32_t k = p->axis + ix->rank; k < dy->rank; k++) {
        n->shape.dims[n->shape.rank++] = dy->dims[k];
    }
    int64_t outer, inner;
    outer_inner(dy, p->axis, p->axis + ix->rank, &outer, &inner);
    KILN_TRY(check_sizes(n, p, outer, p->v, kiln__shape_elems(ix), inner));
    if (n->src[2]->n_elems != n_blocks(p) + 1 + p->j) {
        return KILN_FAIL(KILN_E_SHAPE, "scatter_add: '%s' is not the bucket_indices of '%s'",
                         n->src[2]->name, n->src[1]->name);
    }
    return KILN_OK;
}

static bool row_valid(const struct kiln__p_gather *p, int32_t v)
{
    return v >= 0 && v < p->v;
}

static kiln_status ref_gather(const struct kiln__op_args *args)
{
    const struct kiln__p_gather *p = kiln__params(args->node);
    const int32_t *x = args->in[0], *idx = args->in[1]; /* 4-byte elements of x's dtype */
    int32_t *y = args->out;
    size_t row = (size_t)p->inner * sizeof(int32_t);
    for (int64_t o = 0; o < p->outer; o++) {
        for (int64_t jj = 0; jj < p->j; jj++) {
            int32_t v = idx[jj];
            int32_t *dst = y + (o * p->j + jj) * p->inner;
            if (row_valid(p, v) && !(p->zero_pad && v == p->padding_idx)) {
                memcpy(dst, x + (o * p->v + v) * p->inner, row);
            } else {
                memset(dst, 0, row);
            }
        }
    }
    return KILN_OK;
}

/* dx[o, v, c] = the sum over jj with idx[jj] == v (v in range, not the padding row) of
 * dy[o, jj, c], added in the order of jj from 0.0: the GPU kernels add in the same order,
 * so their results are bitwise equal. */
static kiln_status ref_scatter_add(const struct kiln__op_args *args)
{
    const struct kiln__p_gather *p = kiln__params(args->node);
    const float *dy = args->in[0];
    const int32_t *idx = args->in[1];
    float *dx = args->out;
    memset(dx, 0, (size_t)args->node->n_elems * sizeof(float));
#pragma omp parallel for if (args->node->n_elems > KILN__PAR_MIN && p->outer > 1)
    for (int64_t o = 0; o < p->outer; o++) {
        for (int64_t jj = 0; jj < p->j; jj++) {
            int32_t v = idx[jj];
            if (!row_valid(p, v) || v == p->padding_idx) {
                continue;
            }
            const float *src = dy + (o * p->j + jj) * p->inner;
            float *dst = dx + (o * p->v + v) * p->inner;
            for (int64_t c = 0; c < p->inner; c++) {
                dst[c] += src[c];
            }
        }
    }
    return KILN_OK;
}

/* The positions of the indices in range [0, v) and not the padding row, grouped by block
 * of `tile` rows (idx / tile), in index order within each block: out[b] (b <= blocks) is
 * where block b's positions start in out[blocks + 1 ...] (out[blocks] = their count);
 * the rest of the list is -1. */
static kiln_status ref_bucket(const struct kiln__op_args *args)
{
    const struct kiln__p_gather *p = kiln__params(args->node);
    const int32_t *idx = args->in[0];
    int32_t *out = args->out, nb = (int32_t)n_blocks(p), *list = out + nb + 1;
    for (int32_t b = 0; b <= nb; b++) {
        out[b] = 0;
    }
    for (int32_t jj = 0; jj < p->j; jj++) {
        list[jj] = -1;
        if (row_valid(p, idx[jj]) && idx[jj] != p->padding_idx) {
            out[idx[jj] / p->tile + 1]++;
        }
    }
    for (int32_t b = 0; b < nb; b++) {
        out[b + 1] += out[b];
    }
    /* out[b] serves as block b's write cursor, which ends at block b + 1's start. */
    for (int32_t jj = 0; jj < p->j; jj++) {
        if (row_valid(p, idx[jj]) && idx[jj] != p->padding_idx) {
            list[out[idx[jj] / p->tile]++] = jj;
        }
    }
    for (int32_t b = nb; b > 0; b--) {
        out[b] = out[b - 1];
    }
    out[0] = 0;
    return KILN_OK;
}

static int64_t bucket_items(const struct kiln_tensor *n)
{
    return n_blocks(kiln__params(n));
}

static int64_t scatter_items(const struct kiln_tensor *n)
{
    const struct kiln__p_gather *p = kiln__params(n);
    return (int64_t)p->outer * n_blocks(p) * p->inner;
}

/* SCATTER_ADD of dy at the indices of GATHER node n (with its params). */
static struct kiln_tensor *scatter(kiln_graph *g, struct kiln_tensor *dy, struct kiln_tensor *idx,
                                   const struct kiln__p_gather *p)
{
    struct kiln_tensor *src[3] = {dy, idx, NULL};
    src[2] = kiln__node(g, KILN_OP_BUCKET_INDICES, 1, &idx, p, sizeof(*p));
    return kiln__node(g, KILN_OP_SCATTER_ADD, 3, src, p, sizeof(*p));
}

static void bwd_gather(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                       struct kiln_tensor **dx)
{
    dx[0] = scatter(g, dy, n->src[1], kiln__params(n));
}

/* The adjoint of SCATTER_ADD: every position reads its row of the table, positions of
 * the padding row (which got nothing) read 0. */
static void bwd_scatter_add(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                            struct kiln_tensor **dx)
{
    struct kiln__p_gather p = *(const struct kiln__p_gather *)kiln__params(n);
    struct kiln_tensor *src[2] = {dy, n->src[1]};
    p.zero_pad = 1;
    dx[0] = kiln__node(g, KILN_OP_GATHER, 2, src, &p, sizeof(p));
}

/* PyTorch: torch.index_select (F.embedding for axis 0), except that indices outside
 * [0, V) read zeros (PyTorch raises); tools/golden/make_goldens.py maps it. */
const struct kiln__op_desc kiln__desc_GATHER = {
    .name = "gather",
    .n_in = 2,
    .flags = KILN__OPF_GENERIC,
    .params_bytes = sizeof(struct kiln__p_gather),
    .infer = infer_gather,
    .backward = bwd_gather,
    .cpu_ref = ref_gather,
    .tol = {0, 0, 0}, /* copies */
};
/* No PyTorch counterpart; tools/golden/make_goldens.py computes the same lists. */
const struct kiln__op_desc kiln__desc_BUCKET_INDICES = {
    .name = "bucket_indices",
    .n_in = 1,
    .flags = KILN__OPF_GENERIC,
    .params_bytes = sizeof(struct kiln__p_gather),
    .infer = infer_bucket,
    .cpu_ref = ref_bucket,
    .tol = {0, 0, 0},
    .gpu_items = bucket_items,
};
/* PyTorch: Tensor.index_add_ into zeros, without the padding row and out-of-range
 * indices; src[2] is the BUCKET_INDICES of src[1] (the reference does not read it).
 * Every backend sums in index order, so results are bitwise equal between
 * backends (the op tests check that); the tolerance is that of a float sum of the
 * duplicates, against exact sums (the goldens). */
const struct kiln__op_desc kiln__desc_SCATTER_ADD = {
    .name = "scatter_add",
    .n_in = 3,
    .flags = KILN__OPF_GENERIC,
    .params_bytes = sizeof(struct kiln__p_gather),
    .infer = infer_scatter_add,
    .backward = bwd_scatter_add,
    .cpu_ref = ref_scatter_add,
    .tol = {1e-7, 1e-4, 1e-3}, /* kiln__tol_reduction */
    .gpu_items = scatter_items,
};

/* ==== WHERE ==== */

static kiln_status infer_where(struct kiln_tensor *n)
{
    struct kiln__p_where *p = (struct kiln__p_where *)n->params;
    const struct kiln_shape *s[3] = {&n->src[0]->shape, &n->src[1]->shape, &n->src[2]->shape};
    char a[64], b[64], c[64];
    if (n->src[0]->dtype != KILN_DTYPE_F32) {
        KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_I32));
    }
    KILN_TRY(kiln__want_dtype(n, 1, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_dtype(n, 2, KILN_DTYPE_F32));
    int32_t rank = 0;
    for (int i = 0; i < 3; i++) {
        rank = s[i]->rank > rank ? s[i]->rank : rank;
    }
    n->shape.rank = rank;
    for (int32_t k = 0; k < rank; k++) {
        int64_t d = 1;
        for (int i = 0; i < 3; i++) {
            int32_t ki = k - (rank - s[i]->rank);
            int64_t di = ki >= 0 ? s[i]->dims[ki] : 1;
            if (di != 1 && d != 1 && di != d) {
                return KILN_FAIL(KILN_E_SHAPE, "where: shapes %s, %s and %s do not broadcast",
                                 kiln__shape_str(s[0], a, sizeof(a)),
                                 kiln__shape_str(s[1], b, sizeof(b)),
                                 kiln__shape_str(s[2], c, sizeof(c)));
            }
            d = di != 1 ? di : d;
        }
        n->shape.dims[k] = d;
    }
    if (!fits_i32(kiln__shape_elems(&n->shape))) {
        return KILN_FAIL(KILN_E_SHAPE, "where: the result has 2^31 or more elements");
    }
    /* The merged iteration the GPU kernels take: dims, and per source the merged dims it
     * is broadcast along (its strides follow from them: it is contiguous otherwise). */
    const struct kiln_shape *ops[4] = {NULL, s[0], s[1], s[2]};
    struct kiln__iter it;
    kiln__iter_bcast(&n->shape, 4, ops, &it);
    p->cond_i32 = n->src[0]->dtype == KILN_DTYPE_I32;
    p->rank = it.rank;
    for (int32_t k = 0; k < KILN_MAX_DIMS; k++) {
        p->dims[k] = k < it.rank ? (uint32_t)it.dims[k] : 1u;
    }
    for (int i = 0; i < 3; i++) {
        p->bcast[i] = 0;
        for (int32_t k = 0; k < it.rank; k++) {
            if (it.strides[1 + i][k] == 0 && it.dims[k] != 1) {
                p->bcast[i] |= 1u << k;
            }
        }
    }
    return KILN_OK;
}

static bool nonzero(const void *cond, int64_t i, bool is_i32)
{
    return is_i32 ? ((const int32_t *)cond)[i] != 0 : ((const float *)cond)[i] != 0.0f;
}

static kiln_status ref_where(const struct kiln__op_args *args)
{
    const struct kiln_tensor *n = args->node;
    const struct kiln__p_where *p = kiln__params(n);
    const struct kiln_shape *ops[4] = {NULL, &n->src[0]->shape, &n->src[1]->shape,
                                       &n->src[2]->shape};
    const float *a = args->in[1], *b = args->in[2];
    float *y = args->out;
    struct kiln__iter it;
    kiln__iter_bcast(&n->shape, 4, ops, &it);
    int64_t total = n->n_elems;
#pragma omp parallel for if (total > KILN__PAR_MIN)
    for (int64_t o = 0; o < total; o++) {
        int64_t rem = o, off[3] = {0, 0, 0};
        for (int32_t k = it.rank - 1; k >= 0; k--) {
            int64_t c = rem % it.dims[k];
            rem /= it.dims[k];
            for (int i = 0; i < 3; i++) {
                off[i] += c * it.strides[1 + i][k];
            }
        }
        y[o] = nonzero(args->in[0], off[0], p->cond_i32) ? a[off[1]] : b[off[2]];
    }
    return KILN_OK;
}

/* a gets dy where cond holds, b where it does not (each summed back over the dims it
 * was broadcast along); cond gets no gradient. */
static void bwd_where(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                      struct kiln_tensor **dx)
{
    struct kiln_shape scalar = {0, {0}};
    struct kiln_tensor *zero = kiln__leaf(g, NULL, KILN_DTYPE_F32, &scalar, KILN__F_CONST);
    if (kiln__needs_grad(n->src[1])) {
        dx[1] = kiln__unbroadcast(g, kiln_where(g, n->src[0], dy, zero), n->src[1]);
    }
    if (kiln__needs_grad(n->src[2])) {
        dx[2] = kiln__unbroadcast(g, kiln_where(g, n->src[0], zero, dy), n->src[2]);
    }
}

/* PyTorch: torch.where(cond != 0, a, b). */
const struct kiln__op_desc kiln__desc_WHERE = {
    .name = "where",
    .n_in = 3,
    .flags = KILN__OPF_GENERIC,
    .params_bytes = sizeof(struct kiln__p_where),
    .infer = infer_where,
    .backward = bwd_where,
    .cpu_ref = ref_where,
    .tol = {0, 0, 0},
};

/* ==== SEQUENCE_MASK ==== */

static kiln_status infer_sequence_mask(struct kiln_tensor *n)
{
    const struct kiln__p_sequence_mask *p = kiln__params(n);
    const struct kiln_shape *s = &n->src[0]->shape;
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_I32));
    if (p->max_len < 1 || s->rank + 1 > KILN_MAX_DIMS) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "sequence_mask: max_len %d (must be positive) for lengths of rank %d",
                         p->max_len, s->rank);
    }
    n->shape = *s;
    n->shape.dims[n->shape.rank++] = p->max_len;
    if (!fits_i32(kiln__shape_elems(&n->shape))) {
        return KILN_FAIL(KILN_E_SHAPE, "sequence_mask: the mask has 2^31 or more elements");
    }
    return KILN_OK;
}

static kiln_status ref_sequence_mask(const struct kiln__op_args *args)
{
    const struct kiln__p_sequence_mask *p = kiln__params(args->node);
    const int32_t *len = args->in[0];
    float *y = args->out;
    for (int64_t o = 0; o < args->node->n_elems; o++) {
        y[o] = o % p->max_len < len[o / p->max_len] ? 1.0f : 0.0f;
    }
    return KILN_OK;
}

/* PyTorch: (torch.arange(max_len) < lengths[..., None]).float(). */
const struct kiln__op_desc kiln__desc_SEQUENCE_MASK = {
    .name = "sequence_mask",
    .n_in = 1,
    .flags = KILN__OPF_GENERIC,
    .params_bytes = sizeof(struct kiln__p_sequence_mask),
    .infer = infer_sequence_mask,
    .cpu_ref = ref_sequence_mask,
    .tol = {0, 0, 0},
};

/* ==== Builders ==== */

kiln_tensor *kiln_gather(kiln_graph *g, kiln_tensor *x, kiln_tensor *idx, int32_t axis)
{
    struct kiln__p_gather p = {.axis = axis, .padding_idx = -1};
    kiln_tensor *src[2] = {x, idx};
    return g == NULL ? NULL : kiln__node(g, KILN_OP_GATHER, 2, src, &p, sizeof(p));
}

kiln_tensor *kiln_embedding(kiln_graph *g, kiln_tensor *table, kiln_tensor *idx,
                            int32_t padding_idx)
{
    if (g == NULL) {
        return NULL;
    }
    if (table != NULL && !(table->flags & KILN__F_POISON) && table->shape.rank != 2) {
        char a[64];
        return kiln__graph_fail(g, KILN_E_SHAPE, "kiln_embedding: table '%s' is %s, not [V, D]",
                                table->name, kiln__shape_str(&table->shape, a, sizeof(a)));
    }
    struct kiln__p_gather p = {.axis = 0, .padding_idx = padding_idx};
    kiln_tensor *src[2] = {table, idx};
    return kiln__node(g, KILN_OP_GATHER, 2, src, &p, sizeof(p));
}

kiln_tensor *kiln_scatter_add(kiln_graph *g, kiln_tensor *src, kiln_tensor *idx, int32_t axis,
                              int64_t size)
{
    if (g == NULL) {
        return NULL;
    }
    if (size < 1 || !fits_i32(size)) {
        return kiln__graph_fail(g, KILN_E_SHAPE, "kiln_scatter_add: size %lld", (long long)size);
    }
    struct kiln__p_gather p = {.axis = axis, .padding_idx = -1, .v = (int32_t)size};
    return scatter(g, src, idx, &p);
}

kiln_tensor *kiln_where(kiln_graph *g, kiln_tensor *cond, kiln_tensor *a, kiln_tensor *b)
{
    struct kiln__p_where p;
    kiln_tensor *src[3] = {cond, a, b};
    memset(&p, 0, sizeof(p));
    return g == NULL ? NULL : kiln__node(g, KILN_OP_WHERE, 3, src, &p, sizeof(p));
}

kiln_tensor *kiln_sequence_mask(kiln_graph *g, kiln_tensor *lengths, int64_t max_len)
{
    if (g == NULL) {
        return NULL;
    }
    if (max_len < 1 || !fits_i32(max_len)) {
        return kiln__graph_fail(g, KILN_E_SHAPE, "kiln_sequence_mask: max_len %lld",
                                (long long)max_len);
    }
    struct kiln__p_sequence_mask p = {(int32_t)max_len};
    return kiln__node(g, KILN_OP_SEQUENCE_MASK, 1, &lengths, &p, sizeof(p));
}
