/*
 * gemm.c - matrix products: C = op(A) op(B) for rank-2 operands, or batched over a
 * leading dim for rank-3 operands of equal batch. The CPU reference calls OpenBLAS's
 * cblas_sgemm. kiln_matmul also takes a rank-3 A with a rank-2 B by folding A's batch
 * into its rows.
 */
#include <cblas.h>

#include "../graph/graph_impl.h"
#include "family.h"

/* The m, n, k and batch of node n. */
static void dims_of(const struct kiln_tensor *n, int64_t *batch, int64_t *m, int64_t *nn,
                    int64_t *k)
{
    const struct kiln__p_matmul *p = kiln__params(n);
    const struct kiln_shape *a = &n->src[0]->shape, *b = &n->src[1]->shape;
    int32_t r = a->rank;
    *batch = r == 3 ? a->dims[0] : 1;
    *m = p->trans_a ? a->dims[r - 1] : a->dims[r - 2];
    *k = p->trans_a ? a->dims[r - 2] : a->dims[r - 1];
    *nn = p->trans_b ? b->dims[r - 2] : b->dims[r - 1];
}

static kiln_status infer_matmul(struct kiln_tensor *n)
{
    const struct kiln__p_matmul *p = kiln__params(n);
    const struct kiln_shape *a = &n->src[0]->shape, *b = &n->src[1]->shape;
    char sa[64], sb[64];
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_dtype(n, 1, KILN_DTYPE_F32));
    if (a->rank != b->rank || (a->rank != 2 && a->rank != 3) ||
        (a->rank == 3 && a->dims[0] != b->dims[0])) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "matmul: a is %s and b is %s; both must be rank 2, or rank 3 with equal "
                         "batch",
                         kiln__shape_str(a, sa, sizeof(sa)), kiln__shape_str(b, sb, sizeof(sb)));
    }
    int32_t r = a->rank;
    int64_t kb = p->trans_b ? b->dims[r - 1] : b->dims[r - 2];
    int64_t batch, m, nn, k;
    dims_of(n, &batch, &m, &nn, &k);
    if (k != kb) {
        return KILN_FAIL(
            KILN_E_SHAPE, "matmul: a%s is %s and b%s is %s; inner dimensions %lld and %lld differ",
            p->trans_a ? "^T" : "", kiln__shape_str(a, sa, sizeof(sa)), p->trans_b ? "^T" : "",
            kiln__shape_str(b, sb, sizeof(sb)), (long long)k, (long long)kb);
    }
    n->shape.rank = r;
    if (r == 3) {
        n->shape.dims[0] = batch;
    }
    n->shape.dims[r - 2] = m;
    n->shape.dims[r - 1] = nn;
    return KILN_OK;
}

static kiln_status ref_matmul(const struct kiln__op_args *args)
{
    const struct kiln_tensor *n = args->node;
    const struct kiln__p_matmul *p = kiln__params(n);
    int64_t batch, m, nn, k;
    dims_of(n, &batch, &m, &nn, &k);
    const float *a = args->in[0], *b = args->in[1];
    float *c = args->out;
    int lda = (int)(p->trans_a ? m : k), ldb = (int)(p->trans_b ? k : nn);
    for (int64_t i = 0; i < batch; i++) {
        cblas_sgemm(CblasRowMajor, p->trans_a ? CblasTrans : CblasNoTrans,
                    p->trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)nn, (int)k, 1.0f,
                    a + i * m * k, lda, b + i * k * nn, ldb, 0.0f, c + i * m * nn, (int)nn);
    }
    return KILN_OK;
}

static struct kiln_tensor *mm(kiln_graph *g, struct kiln_tensor *a, struct kiln_tensor *b, int ta,
                              int tb)
{
    struct kiln__p_matmul p = {ta != 0, tb != 0};
    struct kiln_tensor *src[2] = {a, b};
    return kiln__node(g, KILN_OP_MATMUL, 2, src, &p, sizeof(p));
}

static void bwd_matmul(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                       struct kiln_tensor **dx)
{
    const struct kiln__p_matmul *p = kiln__params(n);
    struct kiln_tensor *a = n->src[0], *b = n->src[1];
    int ta = p->trans_a, tb = p->trans_b;
    if (kiln__needs_grad(a)) {
        dx[0] = ta ? mm(g, b, dy, tb, 1) : mm(g, dy, b, 0, !tb);
    }
    if (kiln__needs_grad(b)) {
        dx[1] = tb ? mm(g, dy, a, 1, ta) : mm(g, a, dy, !ta, 0);
    }
}

const struct kiln__op_desc kiln__desc_MATMUL = {
    .name = "matmul",
    .n_in = 2,
    .params_bytes = sizeof(struct kiln__p_matmul),
    .infer = infer_matmul,
    .backward = bwd_matmul,
    .cpu_ref = ref_matmul,
    .tol = {1e-7, 1e-4, 1e-3}, /* kiln__tol_reduction: K-term sums in any order */
};

kiln_tensor *kiln_matmul(kiln_graph *g, kiln_tensor *a, kiln_tensor *b, int trans_a, int trans_b)
{
    if (g == NULL) {
        return NULL;
    }
    if (a != NULL && b != NULL && a->shape.rank == 3 && b->shape.rank == 2 && !trans_a &&
        !(a->flags & KILN__F_POISON) && !(b->flags & KILN__F_POISON)) {
        /* Fold the batch into the rows: [B, M, K] x [K, N] = ([B*M, K] x [K, N]). */
        int64_t flat[2] = {a->shape.dims[0] * a->shape.dims[1], a->shape.dims[2]};
        struct kiln_tensor *c = mm(g, kiln_reshape(g, a, 2, flat), b, 0, trans_b);
        if (c->flags & KILN__F_POISON) {
            return c;
        }
        int64_t out[3] = {a->shape.dims[0], a->shape.dims[1], c->shape.dims[1]};
        return kiln_reshape(g, c, 3, out);
    }
    return mm(g, a, b, trans_a, trans_b);
}
