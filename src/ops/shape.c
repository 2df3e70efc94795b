/*
 * shape.c - reshape (a view: the output aliases its input's storage and no kernel
 * runs), flatten (a reshape) and transpose (a permuting copy, up to KILN_MAX_DIMS dims).
 */
#include <string.h>

#include "../graph/graph_impl.h"
#include "family.h"

static kiln_status infer_reshape(struct kiln_tensor *n)
{
    const struct kiln__p_reshape *p = kiln__params(n);
    char a[64], b[64];
    if (kiln__shape_elems(&p->shape) != n->src[0]->n_elems) {
        return KILN_FAIL(KILN_E_SHAPE, "reshape: '%s' is %s (%lld elements), cannot become %s",
                         n->src[0]->name, kiln__shape_str(&n->src[0]->shape, a, sizeof(a)),
                         (long long)n->src[0]->n_elems, kiln__shape_str(&p->shape, b, sizeof(b)));
    }
    n->shape = p->shape;
    n->dtype = n->src[0]->dtype;
    return KILN_OK;
}

static kiln_status ref_reshape(const struct kiln__op_args *args)
{
    /* A view never runs; the reference copies so that a harness comparing it works. */
    if (args->out != args->in[0]) {
        memcpy(args->out, args->in[0], kiln_tensor_n_bytes(args->node));
    }
    return KILN_OK;
}

static void bwd_reshape(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                        struct kiln_tensor **dx)
{
    dx[0] = kiln_reshape(g, dy, n->src[0]->shape.rank, n->src[0]->shape.dims);
}

const struct kiln__op_desc kiln__desc_RESHAPE = {
    .name = "reshape",
    .n_in = 1,
    .flags = KILN__OPF_VIEW,
    .params_bytes = sizeof(struct kiln__p_reshape),
    .infer = infer_reshape,
    .backward = bwd_reshape,
    .cpu_ref = ref_reshape,
    .tol = {0, 0, 0},
};

kiln_tensor *kiln_reshape(kiln_graph *g, kiln_tensor *x, int32_t rank, const int64_t *dims)
{
    struct kiln__p_reshape p;
    if (g == NULL) {
        return NULL;
    }
    memset(&p, 0, sizeof(p));
    if (rank < 0 || rank > KILN_MAX_DIMS || (rank > 0 && dims == NULL)) {
        return kiln__graph_fail(g, KILN_E_SHAPE, "reshape: rank %d is outside 0..%d", rank,
                                KILN_MAX_DIMS);
    }
    if (x == NULL || (x->flags & KILN__F_POISON)) {
        return kiln__node(g, KILN_OP_RESHAPE, 1, &x, &p, sizeof(p));
    }
    p.shape.rank = rank;
    int32_t infer_at = -1;
    int64_t known = 1;
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] == -1 && infer_at < 0) {
            infer_at = i;
            continue;
        }
        if (dims[i] <= 0) {
            return kiln__graph_fail(g, KILN_E_SHAPE, "reshape of '%s': dimension %d is %lld",
                                    x->name, i, (long long)dims[i]);
        }
        p.shape.dims[i] = dims[i];
        known *= dims[i];
    }
    if (infer_at >= 0) {
        p.shape.dims[infer_at] = known > 0 ? x->n_elems / known : 0;
    }
    if (kiln__shape_eq(&p.shape, &x->shape)) {
        return x;
    }
    return kiln__node(g, KILN_OP_RESHAPE, 1, &x, &p, sizeof(p));
}

kiln_tensor *kiln_flatten(kiln_graph *g, kiln_tensor *x)
{
    if (g == NULL) {
        return NULL;
    }
    if (x == NULL || (x->flags & KILN__F_POISON) || x->shape.rank < 1) {
        return kiln__graph_fail(g, x == NULL ? KILN_E_INVALID_ARG : KILN_E_SHAPE,
                                "flatten: needs a tensor of rank >= 1");
    }
    int64_t dims[2] = {x->shape.dims[0], x->n_elems / x->shape.dims[0]};
    return kiln_reshape(g, x, 2, dims);
}

/* ==== transpose ==== */

static kiln_status infer_transpose(struct kiln_tensor *n)
{
    const struct kiln__p_transpose *p = kiln__params(n);
    const struct kiln_shape *s = &n->src[0]->shape;
    unsigned seen = 0;
    for (int32_t i = 0; i < s->rank; i++) {
        if (p->perm[i] < 0 || p->perm[i] >= s->rank || (seen & (1u << p->perm[i]))) {
            return KILN_FAIL(KILN_E_INVALID_ARG,
                             "transpose of '%s': perm is not a permutation of 0..%d",
                             n->src[0]->name, s->rank - 1);
        }
        seen |= 1u << p->perm[i];
        n->shape.dims[i] = s->dims[p->perm[i]];
    }
    n->shape.rank = s->rank;
    n->dtype = n->src[0]->dtype;
    return KILN_OK;
}

static kiln_status ref_transpose(const struct kiln__op_args *args)
{
    const struct kiln_tensor *n = args->node;
    const struct kiln__p_transpose *p = kiln__params(n);
    const struct kiln_shape *s = &n->src[0]->shape;
    int32_t r = s->rank, lead = KILN_MAX_DIMS - r;
    int64_t in_str[KILN_MAX_DIMS];
    struct kiln__iter it;
    kiln__strides_nd(s, in_str);
    it.rank = KILN_MAX_DIMS;
    kiln__dims_nd(&n->shape, it.dims);
    kiln__strides_nd(&n->shape, it.strides[0]);
    /* Stride in the input of each padded output dim. */
    for (int32_t i = 0; i < KILN_MAX_DIMS; i++) {
        it.strides[1][i] = i < lead ? 0 : in_str[lead + p->perm[i - lead]];
    }
    kiln__iter_merge(&it, 2);
    const int32_t *x = args->in[0]; /* 4-byte elements of either dtype */
    int32_t *y = args->out;
    int64_t total = n->n_elems;
#pragma omp parallel for if (total > KILN__PAR_MIN)
    for (int64_t o = 0; o < total; o++) {
        int64_t rem = o, src = 0;
        for (int32_t k = it.rank - 1; k >= 0; k--) {
            src += (rem % it.dims[k]) * it.strides[1][k];
            rem /= it.dims[k];
        }
        y[o] = x[src];
    }
    return KILN_OK;
}

static void bwd_transpose(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                          struct kiln_tensor **dx)
{
    const struct kiln__p_transpose *p = kiln__params(n);
    int32_t inv[KILN_MAX_DIMS] = {0};
    for (int32_t i = 0; i < n->shape.rank; i++) {
        inv[p->perm[i]] = i;
    }
    dx[0] = kiln_transpose(g, dy, inv);
}

const struct kiln__op_desc kiln__desc_TRANSPOSE = {
    .name = "transpose",
    .n_in = 1,
    .params_bytes = sizeof(struct kiln__p_transpose),
    .infer = infer_transpose,
    .backward = bwd_transpose,
    .cpu_ref = ref_transpose,
    .tol = {0, 0, 0},
};

kiln_tensor *kiln_transpose(kiln_graph *g, kiln_tensor *x, const int32_t *perm)
{
    struct kiln__p_transpose p = {{0}};
    if (g == NULL) {
        return NULL;
    }
    if (perm == NULL) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "transpose: perm is NULL");
    }
    int32_t r = (x != NULL && !(x->flags & KILN__F_POISON)) ? x->shape.rank : 0;
    for (int32_t i = 0; i < r; i++) {
        p.perm[i] = perm[i];
    }
    return kiln__node(g, KILN_OP_TRANSPOSE, 1, &x, &p, sizeof(p));
}
