/*
 * layout.c - ops that move values between layouts: CONCAT of 1..KILN__MAX_SRC inputs
 * along one axis (inception branches; the builder joins longer lists in a tree), SLICE (a
 * box of x, per-dim begin and size) and PAD (zeros around x, per-dim before and after).
 * SLICE and PAD are each other's adjoints, and CONCAT's backward is one SLICE per input.
 * All are exact copies; a SLICE whose box is one contiguous range of x is a view instead
 * (no copy) where the backend can bind its offset. The builders kiln_stack (N inputs
 * along a new axis), kiln_split and kiln_chunk (N outputs) are made of these.
 */
#include <string.h>

#include "../graph/graph_impl.h"
#include "family.h"

/* ==== CONCAT ==== */

static kiln_status infer_concat(struct kiln_tensor *n)
{
    const struct kiln__p_concat *p = kiln__params(n);
    const struct kiln_shape *s0 = &n->src[0]->shape;
    char a[64], b[64];
    if (p->axis < 0 || p->axis >= s0->rank) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "concat: axis %d is outside 0..%d", p->axis,
                         s0->rank - 1);
    }
    n->shape = *s0;
    for (int i = 0; i < n->n_src; i++) {
        const struct kiln_shape *s = &n->src[i]->shape;
        KILN_TRY(kiln__want_dtype(n, i, KILN_DTYPE_F32));
        bool ok = s->rank == s0->rank;
        for (int32_t k = 0; ok && k < s->rank; k++) {
            ok = k == p->axis || s->dims[k] == s0->dims[k];
        }
        if (!ok) {
            return KILN_FAIL(KILN_E_SHAPE, "concat along %d: input %d ('%s') is %s, input 0 is %s",
                             p->axis, i, n->src[i]->name, kiln__shape_str(s, a, sizeof(a)),
                             kiln__shape_str(s0, b, sizeof(b)));
        }
        if (i > 0) {
            n->shape.dims[p->axis] += s->dims[p->axis];
        }
    }
    return KILN_OK;
}

/* outer = prod(dims before axis), inner = prod(dims after axis). */
static void outer_inner(const struct kiln_shape *s, int32_t axis, int64_t *outer, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int32_t k = 0; k < s->rank; k++) {
        if (k < axis) {
            *outer *= s->dims[k];
        } else if (k > axis) {
            *inner *= s->dims[k];
        }
    }
}

static kiln_status ref_concat(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    int32_t axis = ((const struct kiln__p_concat *)kiln__params(n))->axis;
    int64_t outer, inner, off = 0, total = n->shape.dims[axis];
    outer_inner(&n->shape, axis, &outer, &inner);
    float *y = a->out;
    for (int i = 0; i < n->n_src; i++) {
        int64_t len = n->src[i]->shape.dims[axis] * inner;
        const float *x = a->in[i];
        for (int64_t o = 0; o < outer; o++) {
            memcpy(y + (o * total * inner) + off, x + o * len, (size_t)len * sizeof(float));
        }
        off += len;
    }
    return KILN_OK;
}

static struct kiln_tensor *slice_node(kiln_graph *g, struct kiln_tensor *x, const int32_t *begin,
                                      const struct kiln_shape *size)
{
    struct kiln__p_slice p;
    memset(&p, 0, sizeof(p));
    for (int32_t k = 0; k < size->rank; k++) {
        p.begin[k] = begin[k];
        p.size[k] = (int32_t)size->dims[k];
    }
    return kiln__node(g, KILN_OP_SLICE, 1, &x, &p, sizeof(p));
}

static void bwd_concat(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                       struct kiln_tensor **dx)
{
    int32_t axis = ((const struct kiln__p_concat *)kiln__params(n))->axis;
    int32_t begin[KILN_MAX_DIMS] = {0};
    for (int i = 0; i < n->n_src; i++) {
        if (kiln__needs_grad(n->src[i])) {
            dx[i] = slice_node(g, dy, begin, &n->src[i]->shape);
        }
        begin[axis] += (int32_t)n->src[i]->shape.dims[axis];
    }
}

/* ==== SLICE and PAD ==== */

static kiln_status infer_slice_pad(struct kiln_tensor *n)
{
    const struct kiln_shape *s = &n->src[0]->shape;
    char a[64];
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    n->shape = *s;
    for (int32_t k = 0; k < s->rank; k++) {
        int64_t d = s->dims[k];
        if (n->op == KILN_OP_SLICE) {
            const struct kiln__p_slice *p = kiln__params(n);
            if (p->begin[k] < 0 || p->size[k] < 1 || p->begin[k] + (int64_t)p->size[k] > d) {
                return KILN_FAIL(
                    KILN_E_SHAPE, "slice of '%s' (%s): dim %d begin %d size %d is out of range",
                    n->src[0]->name, kiln__shape_str(s, a, sizeof(a)), k, p->begin[k], p->size[k]);
            }
            n->shape.dims[k] = p->size[k];
        } else {
            const struct kiln__p_pad *p = kiln__params(n);
            if (p->before[k] < 0 || p->after[k] < 0) {
                return KILN_FAIL(KILN_E_INVALID_ARG,
                                 "pad of '%s': dim %d before %d after %d must "
                                 "be >= 0",
                                 n->src[0]->name, k, p->before[k], p->after[k]);
            }
            n->shape.dims[k] = d + p->before[k] + p->after[k];
        }
    }
    return KILN_OK;
}

/* The box of the larger tensor that holds the smaller one: for SLICE the larger is the
 * input, for PAD the output; offs are right-aligned to KILN_MAX_DIMS dims like
 * kiln__dims_nd. */
static void box_of(const struct kiln_tensor *n, int64_t offs[KILN_MAX_DIMS])
{
    int32_t r = n->shape.rank, lead = KILN_MAX_DIMS - r;
    for (int k = 0; k < KILN_MAX_DIMS; k++) {
        offs[k] = 0;
    }
    for (int32_t k = 0; k < r; k++) {
        offs[lead + k] = n->op == KILN_OP_SLICE
                             ? ((const struct kiln__p_slice *)kiln__params(n))->begin[k]
                             : ((const struct kiln__p_pad *)kiln__params(n))->before[k];
    }
}

/* A slice is one contiguous range of x when every dim after the last one it cuts (begin
 * or size not the whole dim) is whole and every dim before that one has size 1. */
static bool view_slice(const struct kiln_tensor *n, size_t *offset)
{
    const struct kiln__p_slice *p = kiln__params(n);
    const struct kiln_shape *x = &n->src[0]->shape;
    int32_t cut = -1;
    int64_t off = 0, stride = 1;
    for (int32_t k = x->rank - 1; k >= 0; k--) {
        if (cut < 0 && (p->begin[k] != 0 || p->size[k] != x->dims[k])) {
            cut = k;
        }
        if (cut >= 0 && k < cut && p->size[k] != 1) {
            return false;
        }
        off += p->begin[k] * stride;
        stride *= x->dims[k];
    }
    *offset = (size_t)off * kiln_dtype_size(n->src[0]->dtype);
    return true;
}

/* SLICE and PAD copy whole runs: the box is contiguous in both tensors over its
 * innermost dims where it spans the larger tensor, so the copy is one memcpy per run
 * (PAD clears its output first). */
static kiln_status ref_slice_pad(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    bool slice = n->op == KILN_OP_SLICE;
    int64_t od[KILN_MAX_DIMS], id[KILN_MAX_DIMS], offs[KILN_MAX_DIMS];
    int64_t big_s[KILN_MAX_DIMS];
    kiln__dims_nd(&n->shape, od);
    kiln__dims_nd(&n->src[0]->shape, id);
    kiln__strides_nd(slice ? &n->src[0]->shape : &n->shape, big_s);
    box_of(n, offs);
    const int64_t *small = slice ? od : id, *big = slice ? id : od;
    int k0 = KILN_MAX_DIMS - 1;
    while (k0 > 0 && small[k0] == big[k0]) {
        k0--;
    }
    int64_t run = 1, n_runs = 1;
    for (int k = k0; k < KILN_MAX_DIMS; k++) {
        run *= small[k];
    }
    for (int k = 0; k < k0; k++) {
        n_runs *= small[k];
    }
    const float *x = a->in[0];
    float *y = a->out;
    if (!slice) {
        memset(y, 0, (size_t)n->n_elems * sizeof(float));
    }
    if (run == 0) {
        return KILN_OK;
    }
#pragma omp parallel for if (n->n_elems > KILN__PAR_MIN)
    for (int64_t r = 0; r < n_runs; r++) {
        int64_t rem = r, off = offs[k0] * big_s[k0];
        for (int k = k0 - 1; k >= 0; k--) {
            off += (rem % small[k] + offs[k]) * big_s[k];
            rem /= small[k];
        }
        if (slice) {
            memcpy(y + r * run, x + off, (size_t)run * sizeof(float));
        } else {
            memcpy(y + off, x + r * run, (size_t)run * sizeof(float));
        }
    }
    return KILN_OK;
}

static void bwd_slice(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                      struct kiln_tensor **dx)
{
    const struct kiln__p_slice *s = kiln__params(n);
    struct kiln__p_pad p;
    memset(&p, 0, sizeof(p));
    for (int32_t k = 0; k < n->shape.rank; k++) {
        p.before[k] = s->begin[k];
        p.after[k] = (int32_t)(n->src[0]->shape.dims[k] - s->begin[k] - s->size[k]);
    }
    dx[0] = kiln__node(g, KILN_OP_PAD, 1, &dy, &p, sizeof(p));
}

static void bwd_pad(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                    struct kiln_tensor **dx)
{
    const struct kiln__p_pad *p = kiln__params(n);
    dx[0] = slice_node(g, dy, p->before, &n->src[0]->shape);
}

const struct kiln__op_desc kiln__desc_CONCAT = {
    .name = "concat",
    .n_in = KILN__MAX_SRC,
    .flags = KILN__OPF_VARIADIC,
    .params_bytes = sizeof(struct kiln__p_concat),
    .infer = infer_concat,
    .backward = bwd_concat,
    .cpu_ref = ref_concat,
    .tol = {0, 0, 0}, /* copies */
};
/* A view where the box is contiguous and the backend can bind its offset (CPU and
 * OpenCL at any element, Vulkan at multiples of minStorageBufferOffsetAlignment); the
 * reference (and the kernels, for a copy) run otherwise. */
const struct kiln__op_desc kiln__desc_SLICE = {
    .name = "slice",
    .n_in = 1,
    .params_bytes = sizeof(struct kiln__p_slice),
    .infer = infer_slice_pad,
    .backward = bwd_slice,
    .cpu_ref = ref_slice_pad,
    .tol = {0, 0, 0},
    .view = view_slice,
};
const struct kiln__op_desc kiln__desc_PAD = {
    .name = "pad",
    .n_in = 1,
    .params_bytes = sizeof(struct kiln__p_pad),
    .infer = infer_slice_pad,
    .backward = bwd_pad,
    .cpu_ref = ref_slice_pad,
    .tol = {0, 0, 0},
};

/* ==== Builders ==== */

kiln_tensor *kiln_concat(kiln_graph *g, int32_t n, kiln_tensor *const *xs, int32_t axis)
{
    if (g == NULL) {
        return NULL;
    }
    if (n < 1 || xs == NULL) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_concat: %d inputs; at least 1", n);
    }
    struct kiln__p_concat p = {axis};
    if (n <= KILN__MAX_SRC) {
        return kiln__node(g, KILN_OP_CONCAT, n, xs, &p, sizeof(p));
    }
    /* A longer list is joined in groups, then the groups' results. */
    kiln_tensor *parts[KILN__MAX_SRC];
    int32_t per = (n + KILN__MAX_SRC - 1) / KILN__MAX_SRC, n_parts = 0;
    for (int32_t i = 0; i < n; i += per) {
        parts[n_parts++] = kiln_concat(g, n - i < per ? n - i : per, xs + i, axis);
    }
    return kiln__node(g, KILN_OP_CONCAT, n_parts, parts, &p, sizeof(p));
}

kiln_tensor *kiln_slice(kiln_graph *g, kiln_tensor *x, int32_t axis, int64_t start, int64_t length)
{
    if (g == NULL) {
        return NULL;
    }
    if (x == NULL || (x->flags & KILN__F_POISON)) {
        return kiln__node(g, KILN_OP_SLICE, 1, &x, NULL, sizeof(struct kiln__p_slice));
    }
    if (axis < 0 || axis >= x->shape.rank || start < 0 || length < 1 ||
        start + length > x->shape.dims[axis]) {
        return kiln__graph_fail(g, KILN_E_SHAPE,
                                "kiln_slice('%s'): axis %d, start %lld, length %lld out of range",
                                x->name, axis, (long long)start, (long long)length);
    }
    int32_t begin[KILN_MAX_DIMS] = {0};
    struct kiln_shape s = x->shape;
    begin[axis] = (int32_t)start;
    s.dims[axis] = length;
    return slice_node(g, x, begin, &s);
}

kiln_tensor *kiln_pad(kiln_graph *g, kiln_tensor *x, const int32_t *before, const int32_t *after)
{
    if (g == NULL) {
        return NULL;
    }
    struct kiln__p_pad p;
    memset(&p, 0, sizeof(p));
    if (x != NULL && !(x->flags & KILN__F_POISON)) {
        if (before == NULL || after == NULL) {
            return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_pad: before/after are NULL");
        }
        for (int32_t k = 0; k < x->shape.rank; k++) {
            p.before[k] = before[k];
            p.after[k] = after[k];
        }
    }
    return kiln__node(g, KILN_OP_PAD, 1, &x, &p, sizeof(p));
}

kiln_tensor *kiln_stack(kiln_graph *g, int32_t n, kiln_tensor *const *xs, int32_t axis)
{
    if (g == NULL) {
        return NULL;
    }
    if (n < 1 || xs == NULL) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_stack: %d inputs; at least 1", n);
    }
    kiln_tensor *inline_parts[16], **parts = inline_parts;
    if (n > 16) {
        parts = kiln__alloc(g->ctx, sizeof(*parts) * (size_t)n, "kiln_stack");
        if (parts == NULL) {
            return kiln__graph_fail(g, KILN_E_OUT_OF_HOST_MEMORY, "%s", kiln_last_error());
        }
    }
    kiln_tensor *r = NULL;
    for (int32_t i = 0; i < n && r == NULL; i++) {
        const kiln_tensor *x = xs[i];
        if (x == NULL || (x->flags & KILN__F_POISON)) {
            r = x == NULL
                    ? kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_stack: input %d is NULL", i)
                    : (kiln_tensor *)x;
        } else if (axis < 0 || axis > x->shape.rank || x->shape.rank >= KILN_MAX_DIMS) {
            r = kiln__graph_fail(g, KILN_E_SHAPE, "kiln_stack: axis %d of inputs of rank %d", axis,
                                 x->shape.rank);
        } else {
            /* x with a dim of 1 inserted at axis: a view. */
            struct kiln_shape s = {x->shape.rank + 1, {0}};
            for (int32_t k = 0; k < s.rank; k++) {
                s.dims[k] = k < axis ? x->shape.dims[k] : k == axis ? 1 : x->shape.dims[k - 1];
            }
            parts[i] = kiln_reshape(g, xs[i], s.rank, s.dims);
        }
    }
    if (r == NULL) {
        r = kiln_concat(g, n, parts, axis);
    }
    if (parts != inline_parts) {
        kiln__free(g->ctx, parts);
    }
    return r;
}

void kiln_split(kiln_graph *g, kiln_tensor *x, int32_t axis, int32_t n, const int64_t *sizes,
                kiln_tensor **out)
{
    if (g == NULL || out == NULL || n < 1) {
        if (g != NULL) {
            kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_split: %d outputs into %p", n,
                             (void *)out);
        }
        return;
    }
    int64_t total = 0;
    bool ok = x != NULL && !(x->flags & KILN__F_POISON) && sizes != NULL && axis >= 0 &&
              axis < x->shape.rank;
    for (int32_t i = 0; ok && i < n; i++) {
        ok = sizes[i] >= 1;
        total += sizes[i];
    }
    kiln_tensor *bad = NULL;
    if (x == NULL || (x->flags & KILN__F_POISON)) {
        bad = x != NULL ? x : kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_split: x is NULL");
    } else if (!ok || total != x->shape.dims[axis]) {
        bad = kiln__graph_fail(g, KILN_E_SHAPE,
                               "kiln_split('%s'): %d sizes along axis %d do not add up to its "
                               "extent",
                               x->name, n, axis);
    }
    int64_t start = 0;
    for (int32_t i = 0; i < n; i++) {
        out[i] = bad != NULL ? bad : kiln_slice(g, x, axis, start, sizes[i]);
        start += bad != NULL ? 0 : sizes[i];
    }
}

void kiln_chunk(kiln_graph *g, kiln_tensor *x, int32_t axis, int32_t n, kiln_tensor **out)
{
    if (g == NULL || out == NULL || n < 1) {
        kiln_split(g, x, axis, n, NULL, out);
        return;
    }
    if (x == NULL || (x->flags & KILN__F_POISON) || axis < 0 || axis >= x->shape.rank ||
        x->shape.dims[axis] < n) {
        for (int32_t i = 0; i < n; i++) {
            out[i] =
                x != NULL && (x->flags & KILN__F_POISON)
                    ? x
                    : kiln__graph_fail(g, KILN_E_SHAPE, "kiln_chunk: %d chunks of axis %d of %s", n,
                                       axis, x != NULL ? x->name : "NULL");
        }
        return;
    }
    int64_t d = x->shape.dims[axis], start = 0;
    for (int32_t i = 0; i < n; i++) {
        int64_t len = d / n + (i < d % n ? 1 : 0);
        out[i] = kiln_slice(g, x, axis, start, len);
        start += len;
    }
}
