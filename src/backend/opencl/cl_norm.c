/*
 * cl_norm.c - launchers of the opencl backend's normalization kernels (opencl/norm.cl):
 * batch-norm statistics, apply, their gradients and the running averages, and local
 * response normalization with its gradient.
 */
#include "cl_impl.h"

/* N, C and S (the product of the trailing dims) of a [N, C, ...] shape. */
static void ncs(const struct kiln_shape *x, cl_long *n, cl_long *c, cl_long *s)
{
    *n = x->dims[0];
    *c = x->rank > 1 ? x->dims[1] : 1;
    *s = 1;
    for (int32_t i = 2; i < x->rank; i++) {
        *s *= x->dims[i];
    }
}

/* The work-group size for per-channel sums of m terms. */
static kiln_status channel_group(struct kiln_backend *be, const char *name, cl_long m,
                                 size_t *local)
{
    cl_kernel k;
    KILN_TRY(kiln__cl_kernel(be, KILN__CL_NORM, name, &k));
    size_t g = kiln__cl_group_size(be, k);
    while (g > 1 && (cl_long)(g / 2) >= m) {
        g /= 2;
    }
    *local = g;
    return KILN_OK;
}

kiln_status kiln__cl_bn(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__p_bn *p = kiln__params(n);
    cl_long N, C, S;
    ncs(&n->src[0]->shape, &N, &C, &S); /* unused by BN_RUNNING_UPDATE */
    cl_mem m[4], my;
    cl_ulong o[4], oy, count = (cl_ulong)n->n_elems;
    for (int i = 0; i < n->n_src; i++) {
        kiln__cl_tensor(n->src[i], &m[i], &o[i]);
    }
    cl_float eps = p->eps;
    size_t local = 0;
    if (n->op == KILN_OP_BN_RUNNING_UPDATE) {
        if (!n->graph->training) {
            return KILN_OK;
        }
        cl_ulong c = (cl_ulong)n->src[0]->n_elems;
        cl_float mom = p->momentum;
        cl_float unbias = p->count > 1 ? (float)p->count / (float)(p->count - 1) : 1.0f;
        struct kiln__cl_arg a[] = {KILN__CL_ARG(m[0]), KILN__CL_ARG(o[0]), KILN__CL_ARG(m[1]),
                                   KILN__CL_ARG(o[1]), KILN__CL_ARG(m[2]), KILN__CL_ARG(o[2]),
                                   KILN__CL_ARG(c),    KILN__CL_ARG(mom),  KILN__CL_ARG(unbias)};
        return kiln__cl_launch(be, KILN__CL_NORM, "bn_running", (size_t)c, 0, KILN__CL_N(a), a);
    }
    kiln__cl_tensor(n, &my, &oy);
    if (n->op == KILN_OP_BN_STATS && !n->graph->training) {
        /* Evaluation uses the running statistics: two copies, no kernel. */
        struct kiln__cl *cl = kiln__cl_of(be);
        size_t cb = (size_t)C * sizeof(float);
        KILN_CL_CHECK(
            clEnqueueCopyBuffer(cl->queue, m[1], my, o[1] * 4, oy * 4, cb, 0, NULL, NULL));
        KILN_CL_CHECK(
            clEnqueueCopyBuffer(cl->queue, m[2], my, o[2] * 4, oy * 4 + cb, cb, 0, NULL, NULL));
        cl->pending++;
        return KILN_OK;
    }
    if (n->op == KILN_OP_BN_STATS) {
        KILN_TRY(channel_group(be, "bn_stats", N * S, &local));
        struct kiln__cl_arg a[] = {KILN__CL_ARG(m[0]), KILN__CL_ARG(o[0]), KILN__CL_ARG(my),
                                   KILN__CL_ARG(oy),   KILN__CL_ARG(N),    KILN__CL_ARG(C),
                                   KILN__CL_ARG(S)};
        return kiln__cl_launch(be, KILN__CL_NORM, "bn_stats", (size_t)C * local, local,
                               KILN__CL_N(a), a);
    }
    if (n->op == KILN_OP_BN_STATS_BWD) {
        cl_float inv_m = (float)(1.0 / (double)(N * S));
        struct kiln__cl_arg a[] = {KILN__CL_ARG(m[0]), KILN__CL_ARG(o[0]), KILN__CL_ARG(m[1]),
                                   KILN__CL_ARG(o[1]), KILN__CL_ARG(m[2]), KILN__CL_ARG(o[2]),
                                   KILN__CL_ARG(my),   KILN__CL_ARG(oy),   KILN__CL_ARG(count),
                                   KILN__CL_ARG(C),    KILN__CL_ARG(S),    KILN__CL_ARG(inv_m)};
        return kiln__cl_launch(be, KILN__CL_NORM, "bn_stats_bwd", (size_t)count, 0, KILN__CL_N(a),
                               a);
    }
    if (n->op == KILN_OP_BN_APPLY_BWD_PARAMS) {
        KILN_TRY(channel_group(be, "bn_apply_bwd_params", N * S, &local));
        struct kiln__cl_arg a[] = {KILN__CL_ARG(m[0]), KILN__CL_ARG(o[0]), KILN__CL_ARG(m[1]),
                                   KILN__CL_ARG(o[1]), KILN__CL_ARG(m[2]), KILN__CL_ARG(o[2]),
                                   KILN__CL_ARG(m[3]), KILN__CL_ARG(o[3]), KILN__CL_ARG(my),
                                   KILN__CL_ARG(oy),   KILN__CL_ARG(N),    KILN__CL_ARG(C),
                                   KILN__CL_ARG(S),    KILN__CL_ARG(eps)};
        return kiln__cl_launch(be, KILN__CL_NORM, "bn_apply_bwd_params", (size_t)C * local, local,
                               KILN__CL_N(a), a);
    }
    cl_int apply = n->op == KILN_OP_BN_APPLY;
    struct kiln__cl_arg a[] = {KILN__CL_ARG(m[0]), KILN__CL_ARG(o[0]),  KILN__CL_ARG(m[1]),
                               KILN__CL_ARG(o[1]), KILN__CL_ARG(m[2]),  KILN__CL_ARG(o[2]),
                               KILN__CL_ARG(m[3]), KILN__CL_ARG(o[3]),  KILN__CL_ARG(my),
                               KILN__CL_ARG(oy),   KILN__CL_ARG(count), KILN__CL_ARG(C),
                               KILN__CL_ARG(S),    KILN__CL_ARG(eps),   KILN__CL_ARG(apply)};
    return kiln__cl_launch(be, KILN__CL_NORM, "bn_apply", (size_t)count, 0, KILN__CL_N(a), a);
}

kiln_status kiln__cl_lrn(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__p_lrn *p = kiln__params(n);
    cl_long N, C, S;
    ncs(&n->shape, &N, &C, &S);
    cl_mem mx, mg, my;
    cl_ulong ox, og, oy, count = (cl_ulong)n->n_elems;
    cl_int size = p->size, fwd = n->op == KILN_OP_LRN;
    cl_float alpha = p->alpha, beta = p->beta, k = p->k;
    kiln__cl_tensor(n->src[0], &mx, &ox);
    kiln__cl_tensor(n->src[fwd ? 0 : 1], &mg, &og);
    kiln__cl_tensor(n, &my, &oy);
    struct kiln__cl_arg a[] = {KILN__CL_ARG(mx),    KILN__CL_ARG(ox),    KILN__CL_ARG(mg),
                               KILN__CL_ARG(og),    KILN__CL_ARG(my),    KILN__CL_ARG(oy),
                               KILN__CL_ARG(count), KILN__CL_ARG(C),     KILN__CL_ARG(S),
                               KILN__CL_ARG(size),  KILN__CL_ARG(alpha), KILN__CL_ARG(beta),
                               KILN__CL_ARG(k),     KILN__CL_ARG(fwd)};
    return kiln__cl_launch(be, KILN__CL_NORM, "lrn", (size_t)count, 0, KILN__CL_N(a), a);
}
