/*
 * gemm.c - matrix products: C = op(A) op(B) over the last two dims, batched over the
 * others (ranks 2 to KILN_MAX_DIMS) with NumPy broadcasting of the batch dims; the
 * backward rule sums the products back over the dims an operand was broadcast along.
 * The CPU reference calls OpenBLAS's cblas_sgemm once per batch entry. kiln_matmul
 * folds the batch of A into its rows when B is a rank-2 matrix (one product).
 * MATMUL_BIAS is a MATMUL, then ADD of a bias along the last dim, then (relu set) RELU:
 * the references composed. It has no builder: the planner puts it in place of a MATMUL
 * read only by such an ADD or ADD_RELU on backends that run it as one launch
 * (src/graph/fuse.c). MATMUL_RELU_BWD likewise is a MATMUL then RELU_BWD with the mask
 * source y (the product of a ReLU's gradient through the next layer's weights).
 * MATMUL_DB is a dense layer's weight gradient dW = dy^T x (a MATMUL with trans_a of dy
 * and x) that also writes its source db, the REDUCE_SUM of dy over axis 0 (the layer's
 * bias gradient): the planner makes that sum a rider of the product, whose kernels read
 * all of dy's rows anyway (KILN__OPF_ALSO_WRITES).
 */
#include <cblas.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "family.h"

void kiln__matmul_dims(const struct kiln_tensor *n, struct kiln__mm *mm)
{
    const struct kiln__p_matmul *p = kiln__params(n);
    const struct kiln_shape *a = &n->src[0]->shape, *b = &n->src[1]->shape;
    int32_t ra = a->rank, rb = b->rank, ro = n->shape.rank;
    mm->m = p->trans_a ? a->dims[ra - 1] : a->dims[ra - 2];
    mm->k = p->trans_a ? a->dims[ra - 2] : a->dims[ra - 1];
    mm->n = p->trans_b ? b->dims[rb - 2] : b->dims[rb - 1];
    /* The batch dims (all but the last two) of the output and of each operand, merged
     * where both operands allow, in units of whole matrices. */
    struct kiln_shape bo = {ro - 2, {0}}, ba = {ra - 2, {0}}, bb = {rb - 2, {0}};
    memcpy(bo.dims, n->shape.dims, sizeof(int64_t) * (size_t)bo.rank);
    memcpy(ba.dims, a->dims, sizeof(int64_t) * (size_t)ba.rank);
    memcpy(bb.dims, b->dims, sizeof(int64_t) * (size_t)bb.rank);
    const struct kiln_shape *ops[3] = {NULL, &ba, &bb};
    struct kiln__iter it;
    kiln__iter_bcast(&bo, 3, ops, &it);
    mm->nb = it.rank;
    mm->batch = kiln__shape_elems(&bo);
    for (int32_t i = 0; i < it.rank; i++) {
        mm->bdims[i] = it.dims[i];
        mm->sa[i] = it.strides[1][i] * mm->m * mm->k;
        mm->sb[i] = it.strides[2][i] * mm->k * mm->n;
    }
}

void kiln__matmul_batch(const struct kiln__mm *mm, int64_t i, int64_t *oa, int64_t *ob)
{
    *oa = 0;
    *ob = 0;
    for (int32_t d = mm->nb - 1; d >= 0; d--) {
        int64_t c = i % mm->bdims[d];
        i /= mm->bdims[d];
        *oa += c * mm->sa[d];
        *ob += c * mm->sb[d];
    }
}

static kiln_status infer_matmul(struct kiln_tensor *n)
{
    const struct kiln__p_matmul *p = kiln__params(n);
    const struct kiln_shape *a = &n->src[0]->shape, *b = &n->src[1]->shape;
    char sa[64], sb[64];
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_dtype(n, 1, KILN_DTYPE_F32));
    int32_t ra = a->rank, rb = b->rank, ro = ra > rb ? ra : rb;
    bool ok = ra >= 2 && rb >= 2;
    /* Batch dims (all but the last two) broadcast like NumPy's, right-aligned. */
    for (int32_t i = 0; ok && i < ro - 2; i++) {
        int32_t ia = i - (ro - ra), ib = i - (ro - rb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        ok = da == db || da == 1 || db == 1;
        n->shape.dims[i] = da > db ? da : db;
    }
    if (!ok) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "matmul: a is %s and b is %s; both need rank >= 2 and batch dims (all "
                         "but the last two) that broadcast",
                         kiln__shape_str(a, sa, sizeof(sa)), kiln__shape_str(b, sb, sizeof(sb)));
    }
    int64_t m = p->trans_a ? a->dims[ra - 1] : a->dims[ra - 2];
    int64_t k = p->trans_a ? a->dims[ra - 2] : a->dims[ra - 1];
    int64_t kb = p->trans_b ? b->dims[rb - 1] : b->dims[rb - 2];
    int64_t nn = p->trans_b ? b->dims[rb - 2] : b->dims[rb - 1];
    if (k != kb) {
        return KILN_FAIL(
            KILN_E_SHAPE, "matmul: a%s is %s and b%s is %s; inner dimensions %lld and %lld differ",
            p->trans_a ? "^T" : "", kiln__shape_str(a, sa, sizeof(sa)), p->trans_b ? "^T" : "",
            kiln__shape_str(b, sb, sizeof(sb)), (long long)k, (long long)kb);
    }
    n->shape.rank = ro;
    n->shape.dims[ro - 2] = m;
    n->shape.dims[ro - 1] = nn;
    return KILN_OK;
}

static kiln_status ref_matmul(const struct kiln__op_args *args)
{
    const struct kiln_tensor *n = args->node;
    const struct kiln__p_matmul *p = kiln__params(n);
    struct kiln__mm mm;
    kiln__matmul_dims(n, &mm);
    const float *a = args->in[0], *b = args->in[1];
    float *c = args->out;
    int lda = (int)(p->trans_a ? mm.m : mm.k), ldb = (int)(p->trans_b ? mm.k : mm.n);
    for (int64_t i = 0; i < mm.batch; i++) {
        int64_t oa, ob;
        kiln__matmul_batch(&mm, i, &oa, &ob);
        cblas_sgemm(CblasRowMajor, p->trans_a ? CblasTrans : CblasNoTrans,
                    p->trans_b ? CblasTrans : CblasNoTrans, (int)mm.m, (int)mm.n, (int)mm.k, 1.0f,
                    a + oa, lda, b + ob, ldb, 0.0f, c + i * mm.m * mm.n, (int)mm.n);
    }
    return KILN_OK;
}

/* The product's sources and params, then a bias of n elements along the last dim. */
static kiln_status infer_matmul_bias(struct kiln_tensor *n)
{
    KILN_TRY(infer_matmul(n));
    KILN_TRY(kiln__want_dtype(n, 2, KILN_DTYPE_F32));
    const struct kiln_shape *b = &n->src[2]->shape;
    int64_t cols = n->shape.dims[n->shape.rank - 1];
    char sb[64];
    bool ok = b->rank >= 1 && b->dims[b->rank - 1] == cols && kiln__shape_elems(b) == cols &&
              b->rank <= n->shape.rank;
    if (!ok) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "matmul_bias: the bias is %s; it must hold the %lld columns of the "
                         "product along its last dim",
                         kiln__shape_str(b, sb, sizeof(sb)), (long long)cols);
    }
    return KILN_OK;
}

/* ref_matmul, then ref_add's a + b of the rounded product and the bias, then ref_relu. */
static kiln_status ref_matmul_bias(const struct kiln__op_args *args)
{
    const struct kiln_tensor *n = args->node;
    const struct kiln__p_matmul_bias *p = kiln__params(n);
    KILN_TRY(ref_matmul(args));
    const float *bias = args->in[2];
    float *c = args->out;
    int64_t cols = n->shape.dims[n->shape.rank - 1];
    for (int64_t i = 0; i < n->n_elems; i++) {
        float v = c[i] + bias[i % cols];
        c[i] = p->relu && !(v > 0.0f) ? 0.0f : v;
    }
    return KILN_OK;
}

/* The product's sources and params, then y of the product's shape. */
static kiln_status infer_matmul_relu_bwd(struct kiln_tensor *n)
{
    KILN_TRY(infer_matmul(n));
    KILN_TRY(kiln__want_dtype(n, 2, KILN_DTYPE_F32));
    char sy[64], so[64];
    if (!kiln__shape_eq(&n->src[2]->shape, &n->shape)) {
        return KILN_FAIL(KILN_E_SHAPE, "matmul_relu_bwd: y is %s, the product %s",
                         kiln__shape_str(&n->src[2]->shape, sy, sizeof(sy)),
                         kiln__shape_str(&n->shape, so, sizeof(so)));
    }
    return KILN_OK;
}

/* ref_matmul, then ref_relu_bwd's y > 0 ? g : 0. */
static kiln_status ref_matmul_relu_bwd(const struct kiln__op_args *args)
{
    KILN_TRY(ref_matmul(args));
    const float *y = args->in[2];
    float *c = args->out;
    for (int64_t i = 0; i < args->node->n_elems; i++) {
        c[i] = y[i] > 0.0f ? c[i] : 0.0f;
    }
    return KILN_OK;
}

/* The product's sources and params (a^T b of 2-D a and b), then db of op(a)'s rows.
 * Before the planner's ride() adds db (two sources), the product alone. */
static kiln_status infer_matmul_db(struct kiln_tensor *n)
{
    const struct kiln__p_matmul_db *p = kiln__params(n);
    KILN_TRY(infer_matmul(n));
    if (n->n_src < 3) {
        return KILN_OK;
    }
    KILN_TRY(kiln__want_dtype(n, 2, KILN_DTYPE_F32));
    char sa[64], sd[64];
    const struct kiln_shape *a = &n->src[0]->shape;
    if (!p->trans_a || p->trans_b || a->rank != 2 || n->src[1]->shape.rank != 2 ||
        n->src[2]->n_elems != a->dims[1]) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "matmul_db: a is %s, db %s; it takes a^T b of 2-D a and b (trans_a 1, "
                         "trans_b 0, here %d, %d) and a db of a's %lld columns",
                         kiln__shape_str(a, sa, sizeof(sa)),
                         kiln__shape_str(&n->src[2]->shape, sd, sizeof(sd)), (int)p->trans_a,
                         (int)p->trans_b, (long long)a->dims[a->rank - 1]);
    }
    return KILN_OK;
}

/* ref_matmul, then ref_reduce's sum of a over axis 0 (scale 1): each column accumulated
 * in double in row order, as REDUCE_SUM's reference does. */
static kiln_status ref_matmul_db(const struct kiln__op_args *args)
{
    const struct kiln_tensor *n = args->node;
    KILN_TRY(ref_matmul(args));
    const float *a = args->in[0];
    float *db = args->in[2];
    int64_t rows = n->src[0]->shape.dims[0], cols = n->src[0]->shape.dims[1];
    for (int64_t c = 0; c < cols; c++) {
        double acc = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            acc += a[r * cols + c];
        }
        db[c] = (float)acc;
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
    /* Products over the output's batch, summed back over the batch dims an operand was
     * broadcast along. */
    if (kiln__needs_grad(a)) {
        dx[0] = kiln__unbroadcast(g, ta ? mm(g, b, dy, tb, 1) : mm(g, dy, b, 0, !tb), a);
    }
    if (kiln__needs_grad(b)) {
        dx[1] = kiln__unbroadcast(g, tb ? mm(g, dy, a, 1, ta) : mm(g, a, dy, !ta, 0), b);
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

/* Formed by the planner after differentiation: no backward rules. */
const struct kiln__op_desc kiln__desc_MATMUL_BIAS = {
    .name = "matmul_bias",
    .n_in = 3,
    .params_bytes = sizeof(struct kiln__p_matmul_bias),
    .infer = infer_matmul_bias,
    .cpu_ref = ref_matmul_bias,
    .tol = {1e-7, 1e-4, 1e-3}, /* as MATMUL's */
};
const struct kiln__op_desc kiln__desc_MATMUL_RELU_BWD = {
    .name = "matmul_relu_bwd",
    .n_in = 3,
    .params_bytes = sizeof(struct kiln__p_matmul_relu_bwd),
    .infer = infer_matmul_relu_bwd,
    .cpu_ref = ref_matmul_relu_bwd,
    .tol = {1e-7, 1e-4, 1e-3}, /* as MATMUL's */
};

const struct kiln__op_desc kiln__desc_MATMUL_DB = {
    .name = "matmul_db",
    .n_in = 3,
    .flags = KILN__OPF_ALSO_WRITES,
    .inplace_mask = 1u << 2,
    .params_bytes = sizeof(struct kiln__p_matmul_db),
    .infer = infer_matmul_db,
    .cpu_ref = ref_matmul_db,
    .tol = {1e-7, 1e-4, 1e-3}, /* as MATMUL's and REDUCE_SUM's */
};

kiln_tensor *kiln_matmul(kiln_graph *g, kiln_tensor *a, kiln_tensor *b, int trans_a, int trans_b)
{
    if (g == NULL) {
        return NULL;
    }
    if (a != NULL && b != NULL && a->shape.rank >= 3 && b->shape.rank == 2 && !trans_a &&
        !(a->flags & KILN__F_POISON) && !(b->flags & KILN__F_POISON)) {
        /* Fold the batch into the rows: [B..., M, K] x [K, N] = ([B... M, K] x [K, N]), one
         * product instead of one per batch entry. */
        int32_t r = a->shape.rank;
        int64_t flat[2] = {a->n_elems / a->shape.dims[r - 1], a->shape.dims[r - 1]};
        struct kiln_tensor *c = mm(g, kiln_reshape(g, a, 2, flat), b, 0, trans_b);
        if (c->flags & KILN__F_POISON) {
            return c;
        }
        struct kiln_shape out = a->shape;
        out.dims[r - 1] = c->shape.dims[1];
        return kiln_reshape(g, c, r, out.dims);
    }
    return mm(g, a, b, trans_a, trans_b);
}
