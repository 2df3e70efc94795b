/*
 * cl_reduce.c - launchers of the opencl backend's reductions (opencl/reduce.cl) and
 * losses (opencl/loss.cl): sums over axes in one or two passes, argmax, softmax and
 * log-softmax with their _BWD kernels, and the four losses with theirs. Every
 * reduction adds in a fixed order, so a result does not change from run to run.
 */
#include "../../ops/family.h"
#include "cl_impl.h"

/* The largest power-of-two work-group not above def that is not mostly idle for work
 * items of work each. */
static size_t fit_group(size_t def, uint64_t work)
{
    size_t g = def;
    while (g > 1 && g / 2 >= work) {
        g /= 2;
    }
    return g;
}

static kiln_status group_size(struct kiln_backend *be, enum kiln__cl_prog prog, const char *name,
                              uint64_t work, size_t *out)
{
    cl_kernel k;
    KILN_TRY(kiln__cl_kernel(be, prog, name, &k));
    *out = fit_group(kiln__cl_group_size(be, k), work);
    return KILN_OK;
}

static cl_long4 long4_of(const int64_t v[4])
{
    cl_long4 r;
    for (int i = 0; i < 4; i++) {
        r.s[i] = (cl_long)v[i];
    }
    return r;
}

static cl_long8 long8_of(const int64_t v[8])
{
    cl_long8 r;
    for (int i = 0; i < 8; i++) {
        r.s[i] = (cl_long)v[i];
    }
    return r;
}

/* ==== REDUCE_SUM ==== */

kiln_status kiln__cl_reduce_sum(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__p_reduce *p = kiln__params(n);
    int64_t id[KILN_MAX_DIMS] = {0}, od[KILN_MAX_DIMS] = {0}, is[KILN_MAX_DIMS] = {0};
    int64_t rd[KILN_MAX_DIMS] = {0};
    int32_t nd = kiln__gpu_reduce(n, id, od, is);
    cl_ulong n_red = 1, n_out = (cl_ulong)n->n_elems;
    for (int k = 0; k < nd; k++) {
        rd[k] = (od[k] == 1 && id[k] != 1) ? id[k] : 1;
        n_red *= (cl_ulong)rd[k];
    }
    if (n_out == 0) {
        return KILN_OK;
    }
    /* When the reduced dims form one strided run (each one's stride is the extent times
     * the stride of the next reduced dim, so no kept dim lies between them), element r of
     * a sum is at r * step from its base. */
    cl_long step = 0;
    int last = -1;
    for (int k = 0; k < nd; k++) {
        if (rd[k] > 1) {
            last = k;
        }
    }
    if (last >= 0) {
        step = (cl_long)is[last];
        int64_t inner = rd[last] * is[last];
        for (int k = last - 1; k >= 0 && step != 0; k--) {
            if (rd[k] > 1) {
                step = is[k] == inner ? step : 0;
                inner = rd[k] * is[k];
            }
        }
    }
    /* Fewer outputs than the device has compute units, over many elements: split each
     * sum in parts, then add the parts (a second launch). With as many outputs as units
     * (a convolution's bias gradient on a CPU device) one work-group per sum keeps the
     * device busy. */
    cl_ulong parts = 1;
    if (n_red >= 16384 && n_out < 64 && n_out < (cl_ulong)kiln__cl_of(be)->n_cu) {
        parts = n_red / 4096 < 256 ? n_red / 4096 : 256;
    }
    cl_mem mx, my, part;
    cl_ulong ox, oy;
    kiln__cl_tensor(n->src[0], &mx, &ox);
    kiln__cl_tensor(n, &my, &oy);
    KILN_TRY(kiln__cl_scratch(be, (size_t)(n_out * parts) * sizeof(float), &part));
    size_t local;
    const char *kname = nd > 4 ? "reduce_sum_nd" : "reduce_sum";
    KILN_TRY(group_size(be, KILN__CL_REDUCE, kname, (n_red + parts - 1) / parts, &local));
    cl_long4 d = long4_of(od), r = long4_of(rd), s = long4_of(is);
    cl_long8 d8 = long8_of(od), r8 = long8_of(rd), s8 = long8_of(is);
    cl_float scale = p->scale;
    cl_int chunked = kiln__cl_of(be)->is_cpu;
    struct kiln__cl_arg a[] = {KILN__CL_ARG(mx),    KILN__CL_ARG(ox),   KILN__CL_ARG(my),
                               KILN__CL_ARG(oy),    KILN__CL_ARG(part), KILN__CL_ARG(n_red),
                               KILN__CL_ARG(parts), KILN__CL_ARG(d),    KILN__CL_ARG(r),
                               KILN__CL_ARG(s),     KILN__CL_ARG(step), KILN__CL_ARG(chunked),
                               KILN__CL_ARG(scale)};
    if (nd > 4) {
        a[7] = (struct kiln__cl_arg)KILN__CL_ARG(d8);
        a[8] = (struct kiln__cl_arg)KILN__CL_ARG(r8);
        a[9] = (struct kiln__cl_arg)KILN__CL_ARG(s8);
    }
    KILN_TRY(kiln__cl_launch(be, KILN__CL_REDUCE, kname, (size_t)(n_out * parts) * local, local,
                             KILN__CL_N(a), a));
    if (parts == 1) {
        return KILN_OK;
    }
    KILN_TRY(group_size(be, KILN__CL_REDUCE, "reduce_parts", parts, &local));
    struct kiln__cl_arg b[] = {KILN__CL_ARG(part), KILN__CL_ARG(parts), KILN__CL_ARG(my),
                               KILN__CL_ARG(oy), KILN__CL_ARG(scale)};
    return kiln__cl_launch(be, KILN__CL_REDUCE, "reduce_parts", (size_t)n_out * local, local,
                           KILN__CL_N(b), b);
}

/* ==== ARGMAX, SOFTMAX ==== */

kiln_status kiln__cl_argmax(struct kiln_backend *be, const struct kiln_tensor *n)
{
    int64_t rows, cols;
    kiln__rows_cols(&n->src[0]->shape, &rows, &cols);
    cl_mem mx, my;
    cl_ulong ox, oy, r = (cl_ulong)rows, c = (cl_ulong)cols;
    kiln__cl_tensor(n->src[0], &mx, &ox);
    kiln__cl_tensor(n, &my, &oy);
    struct kiln__cl_arg a[] = {KILN__CL_ARG(mx), KILN__CL_ARG(ox), KILN__CL_ARG(my),
                               KILN__CL_ARG(oy), KILN__CL_ARG(r),  KILN__CL_ARG(c)};
    return kiln__cl_launch(be, KILN__CL_REDUCE, "argmax", (size_t)rows, 0, KILN__CL_N(a), a);
}

kiln_status kiln__cl_softmax(struct kiln_backend *be, const struct kiln_tensor *n)
{
    int64_t rows, cols;
    kiln__rows_cols(&n->shape, &rows, &cols);
    cl_mem mx, my;
    cl_ulong ox, oy, c = (cl_ulong)cols;
    cl_int log_form = n->op == KILN_OP_LOG_SOFTMAX;
    size_t local;
    kiln__cl_tensor(n->src[0], &mx, &ox);
    kiln__cl_tensor(n, &my, &oy);
    KILN_TRY(group_size(be, KILN__CL_REDUCE, "softmax", c, &local));
    struct kiln__cl_arg a[] = {KILN__CL_ARG(mx), KILN__CL_ARG(ox), KILN__CL_ARG(my),
                               KILN__CL_ARG(oy), KILN__CL_ARG(c),  KILN__CL_ARG(log_form)};
    return kiln__cl_launch(be, KILN__CL_REDUCE, "softmax", (size_t)rows * local, local,
                           KILN__CL_N(a), a);
}

kiln_status kiln__cl_softmax_bwd(struct kiln_backend *be, const struct kiln_tensor *n)
{
    int64_t rows, cols;
    kiln__rows_cols(&n->shape, &rows, &cols);
    cl_mem my, mg, md;
    cl_ulong oy, og, od, c = (cl_ulong)cols;
    cl_int log_form = n->op == KILN_OP_LOG_SOFTMAX_BWD;
    size_t local;
    kiln__cl_tensor(n->src[0], &my, &oy);
    kiln__cl_tensor(n->src[1], &mg, &og);
    kiln__cl_tensor(n, &md, &od);
    KILN_TRY(group_size(be, KILN__CL_REDUCE, "softmax_bwd", c, &local));
    struct kiln__cl_arg a[] = {KILN__CL_ARG(my), KILN__CL_ARG(oy),      KILN__CL_ARG(mg),
                               KILN__CL_ARG(og), KILN__CL_ARG(md),      KILN__CL_ARG(od),
                               KILN__CL_ARG(c),  KILN__CL_ARG(log_form)};
    return kiln__cl_launch(be, KILN__CL_REDUCE, "softmax_bwd", (size_t)rows * local, local,
                           KILN__CL_N(a), a);
}

/* ==== Losses ==== */

/* y = the sum of n_part partials / div. */
static kiln_status finish(struct kiln_backend *be, cl_mem part, cl_ulong n_part,
                          const struct kiln_tensor *n, float div)
{
    cl_mem my;
    cl_ulong oy;
    cl_float d = div;
    size_t local;
    kiln__cl_tensor(n, &my, &oy);
    KILN_TRY(group_size(be, KILN__CL_LOSS, "loss_finish", n_part, &local));
    struct kiln__cl_arg a[] = {KILN__CL_ARG(part), KILN__CL_ARG(n_part), KILN__CL_ARG(my),
                               KILN__CL_ARG(oy), KILN__CL_ARG(d)};
    return kiln__cl_launch(be, KILN__CL_LOSS, "loss_finish", local, local, KILN__CL_N(a), a);
}

kiln_status kiln__cl_loss(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln_tensor *x = n->src[0];
    cl_mem mx, mt, part;
    cl_ulong ox, ot;
    size_t local;
    kiln__cl_tensor(x, &mx, &ox);
    kiln__cl_tensor(n->src[1], &mt, &ot);
    if (n->op == KILN_OP_MSE || n->op == KILN_OP_BCE_LOGITS) {
        const char *name = n->op == KILN_OP_MSE ? "mse_part" : "bce_part";
        cl_ulong count = (cl_ulong)x->n_elems;
        KILN_TRY(group_size(be, KILN__CL_LOSS, name, count, &local));
        cl_ulong groups = (count + local - 1) / local;
        groups = groups < 1 ? 1 : groups > 256 ? 256 : groups;
        KILN_TRY(kiln__cl_scratch(be, (size_t)groups * sizeof(float), &part));
        struct kiln__cl_arg a[] = {KILN__CL_ARG(mx), KILN__CL_ARG(ox),    KILN__CL_ARG(mt),
                                   KILN__CL_ARG(ot), KILN__CL_ARG(count), KILN__CL_ARG(part)};
        KILN_TRY(kiln__cl_launch(be, KILN__CL_LOSS, name, (size_t)groups * local, local,
                                 KILN__CL_N(a), a));
        return finish(be, part, groups, n, (float)count);
    }
    int64_t rows = x->shape.dims[0], cols = x->shape.dims[1];
    cl_ulong c = (cl_ulong)cols;
    const char *name = n->op == KILN_OP_SOFTMAX_XENT ? "xent_rows" : "hinge_rows";
    KILN_TRY(group_size(be, KILN__CL_LOSS, name, c, &local));
    KILN_TRY(kiln__cl_scratch(be, (size_t)(rows > 0 ? rows : 1) * sizeof(float), &part));
    struct kiln__cl_arg a[] = {KILN__CL_ARG(mx), KILN__CL_ARG(ox), KILN__CL_ARG(mt),
                               KILN__CL_ARG(ot), KILN__CL_ARG(c),  KILN__CL_ARG(part)};
    KILN_TRY(
        kiln__cl_launch(be, KILN__CL_LOSS, name, (size_t)rows * local, local, KILN__CL_N(a), a));
    double div = n->op == KILN_OP_SOFTMAX_XENT ? (double)rows : (double)rows * (double)cols;
    return finish(be, part, (cl_ulong)rows, n, (float)div);
}

kiln_status kiln__cl_loss_bwd(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln_tensor *x = n->src[0];
    cl_mem mx, mt, mg, md;
    cl_ulong ox, ot, og, od;
    kiln__cl_tensor(x, &mx, &ox);
    kiln__cl_tensor(n->src[1], &mt, &ot);
    kiln__cl_tensor(n->src[2], &mg, &og);
    kiln__cl_tensor(n, &md, &od);
    if (n->op == KILN_OP_MSE_BWD || n->op == KILN_OP_BCE_LOGITS_BWD) {
        cl_ulong count = (cl_ulong)n->n_elems;
        /* mse: k = (float)(2 / n) * dy as in the reference; bce: dy / n. */
        cl_float k = n->op == KILN_OP_MSE_BWD ? (float)(2.0 / (double)count) : (float)count;
        const char *name = n->op == KILN_OP_MSE_BWD ? "mse_bwd" : "bce_bwd";
        struct kiln__cl_arg a[] = {KILN__CL_ARG(mx), KILN__CL_ARG(ox), KILN__CL_ARG(mt),
                                   KILN__CL_ARG(ot), KILN__CL_ARG(mg), KILN__CL_ARG(og),
                                   KILN__CL_ARG(md), KILN__CL_ARG(od), KILN__CL_ARG(count),
                                   KILN__CL_ARG(k)};
        return kiln__cl_launch(be, KILN__CL_LOSS, name, (size_t)count, 0, KILN__CL_N(a), a);
    }
    int64_t rows = x->shape.dims[0], cols = x->shape.dims[1];
    cl_ulong c = (cl_ulong)cols;
    if (n->op == KILN_OP_SOFTMAX_XENT_FUSED) {
        /* One work-group for the gradient and the loss, and the ARGMAX of the scores
         * into the rider (source 3) when there is one (else the output stands in for
         * the unused argument). */
        cl_ulong r = (cl_ulong)rows;
        cl_mem mp = md;
        cl_ulong opred = od;
        cl_int has_pred = n->n_src == 4;
        if (has_pred) {
            kiln__cl_tensor(n->src[3], &mp, &opred);
        }
        size_t local;
        KILN_TRY(group_size(be, KILN__CL_LOSS, "xent_fused", r, &local));
        struct kiln__cl_arg a[] = {KILN__CL_ARG(mx),      KILN__CL_ARG(ox), KILN__CL_ARG(mt),
                                   KILN__CL_ARG(ot),      KILN__CL_ARG(mg), KILN__CL_ARG(og),
                                   KILN__CL_ARG(md),      KILN__CL_ARG(od), KILN__CL_ARG(r),
                                   KILN__CL_ARG(c),       KILN__CL_ARG(mp), KILN__CL_ARG(opred),
                                   KILN__CL_ARG(has_pred)};
        return kiln__cl_launch(be, KILN__CL_LOSS, "xent_fused", local, local, KILN__CL_N(a), a);
    }
    bool xent = n->op == KILN_OP_SOFTMAX_XENT_BWD;
    const char *name = xent ? "xent_bwd" : "hinge_bwd";
    cl_float div = xent ? (float)rows : (float)((double)rows * (double)cols);
    size_t local;
    KILN_TRY(group_size(be, KILN__CL_LOSS, name, c, &local));
    struct kiln__cl_arg a[] = {
        KILN__CL_ARG(mx), KILN__CL_ARG(ox), KILN__CL_ARG(mt), KILN__CL_ARG(ot), KILN__CL_ARG(mg),
        KILN__CL_ARG(og), KILN__CL_ARG(md), KILN__CL_ARG(od), KILN__CL_ARG(c),  KILN__CL_ARG(div)};
    return kiln__cl_launch(be, KILN__CL_LOSS, name, (size_t)rows * local, local, KILN__CL_N(a), a);
}
