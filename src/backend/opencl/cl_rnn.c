/*
 * cl_rnn.c - the opencl launcher of the recurrent ops (src/ops/rnn.c): T steps, each a
 * CLBlast product over all sequences and one cell kernel (opencl/rnn.cl), enqueued in
 * order on the backend's queue. The forward product h_{t-1} W_hh^T goes to the scratch
 * block at the end of the output; the backward cell writes step t's gate gradients and
 * the carries, then dh += dG_t W_hh (beta 1) prepares step t - 1.
 */
#include <stdio.h>

#include "cl_impl.h"

bool kiln__cl_rnn_supports(const struct kiln_backend *be, const struct kiln_tensor *n)
{
    (void)be;
    /* CLBlast 1.5.3 passes sizes and offsets to its kernels as int. */
    const int64_t lim = (int64_t)1 << 31;
    for (int i = 0; i < n->n_src; i++) {
        if (n->src[i]->n_elems >= lim) {
            KILN_FAIL(KILN_E_UNSUPPORTED,
                      "%s '%s': CLBlast needs every tensor under 2^31 "
                      "elements",
                      kiln__op_name(n->op), n->name);
            return false;
        }
    }
    if (n->n_elems >= lim) {
        KILN_FAIL(KILN_E_UNSUPPORTED, "%s '%s': CLBlast needs every tensor under 2^31 elements",
                  kiln__op_name(n->op), n->name);
        return false;
    }
    return true;
}

static kiln_status rnn_fwd(struct kiln_backend *be, const struct kiln_tensor *n,
                           const struct kiln__rnn_dims *d)
{
    const struct kiln__p_rnn *p = kiln__params(n);
    cl_mem mx, mw, mb, ms, mm, my;
    cl_ulong ox, ow, ob, os, om, oy;
    kiln__cl_tensor(n->src[0], &mx, &ox);
    kiln__cl_tensor(n->src[1], &mw, &ow);
    kiln__cl_tensor(n->src[2], &mb, &ob);
    kiln__cl_tensor(n->src[3], &ms, &os);
    kiln__cl_tensor(n->src[4], &mm, &om);
    kiln__cl_tensor(n, &my, &oy);
    cl_long nn = d->n, h = d->h, tnh = d->tnh;
    cl_int cell = p->cell;
    char what[160];
    snprintf(what, sizeof(what), "the step product of %s '%s'", kiln__op_name(n->op), n->name);
    for (int64_t s = 0; s < d->t; s++) {
        cl_long t = p->reverse ? d->t - 1 - s : s;
        cl_long tp = s == 0 ? -1 : (p->reverse ? t + 1 : t - 1);
        struct kiln__cl_gemm gm = {
            .trans_b = 1,
            .m = (size_t)d->n,
            .n = (size_t)d->g,
            .k = (size_t)d->h,
            .a = tp < 0 ? ms : my,
            .off_a = tp < 0 ? (size_t)os : (size_t)(oy + (cl_ulong)(tp * d->n * d->h)),
            .ld_a = (size_t)d->h,
            .b = mw,
            .off_b = (size_t)ow,
            .ld_b = (size_t)d->h,
            .c = my,
            .off_c = (size_t)(oy + (cl_ulong)(kiln__rnn_blocks(p->cell) * d->tnh)),
            .ld_c = (size_t)d->g,
            .beta = 0.0f,
        };
        KILN_TRY(kiln__cl_sgemm(be, &gm, what));
        struct kiln__cl_arg a[] = {
            KILN__CL_ARG(mx),  KILN__CL_ARG(ox), KILN__CL_ARG(mb), KILN__CL_ARG(ob),
            KILN__CL_ARG(ms),  KILN__CL_ARG(os), KILN__CL_ARG(mm), KILN__CL_ARG(om),
            KILN__CL_ARG(my),  KILN__CL_ARG(oy), KILN__CL_ARG(nn), KILN__CL_ARG(h),
            KILN__CL_ARG(tnh), KILN__CL_ARG(t),  KILN__CL_ARG(tp), KILN__CL_ARG(cell)};
        KILN_TRY(kiln__cl_launch(be, KILN__CL_RNN, "rnn_fwd", (size_t)(d->n * d->h), 0,
                                 KILN__CL_N(a), a));
    }
    return KILN_OK;
}

static kiln_status rnn_bwd(struct kiln_backend *be, const struct kiln_tensor *n,
                           const struct kiln__rnn_dims *d)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    const struct kiln__p_rnn *p = kiln__params(n);
    cl_mem my, mdy, mw, ms, mm, md;
    cl_ulong oy, ody, ow, os, om, od;
    kiln__cl_tensor(n->src[0], &my, &oy);
    kiln__cl_tensor(n->src[1], &mdy, &ody);
    kiln__cl_tensor(n->src[2], &mw, &ow);
    kiln__cl_tensor(n->src[3], &ms, &os);
    kiln__cl_tensor(n->src[4], &mm, &om);
    kiln__cl_tensor(n, &md, &od);
    cl_long nn = d->n, h = d->h, tnh = d->tnh, tng = d->tng, dxe = d->dx_elems;
    cl_int cell = p->cell;
    const cl_uint zero = 0;
    /* The carries dh and dc start at zero. */
    KILN_CL_CHECK(clEnqueueFillBuffer(cl->queue, md, &zero, sizeof(zero),
                                      (size_t)(od + (cl_ulong)d->dx_elems) * 4,
                                      (size_t)(2 * d->n * d->h) * 4, 0, NULL, NULL));
    cl->pending++;
    char what[160];
    snprintf(what, sizeof(what), "the step product of %s '%s'", kiln__op_name(n->op), n->name);
    size_t dgh = (size_t)od + (p->cell == KILN__RNN_GRU ? (size_t)d->tng : 0);
    for (int64_t s = d->t - 1; s >= 0; s--) {
        cl_long t = p->reverse ? d->t - 1 - s : s;
        cl_long tp = s == 0 ? -1 : (p->reverse ? t + 1 : t - 1);
        struct kiln__cl_arg a[] = {KILN__CL_ARG(my),  KILN__CL_ARG(oy),  KILN__CL_ARG(mdy),
                                   KILN__CL_ARG(ody), KILN__CL_ARG(ms),  KILN__CL_ARG(os),
                                   KILN__CL_ARG(mm),  KILN__CL_ARG(om),  KILN__CL_ARG(md),
                                   KILN__CL_ARG(od),  KILN__CL_ARG(nn),  KILN__CL_ARG(h),
                                   KILN__CL_ARG(tnh), KILN__CL_ARG(tng), KILN__CL_ARG(dxe),
                                   KILN__CL_ARG(t),   KILN__CL_ARG(tp),  KILN__CL_ARG(cell)};
        KILN_TRY(kiln__cl_launch(be, KILN__CL_RNN, "rnn_bwd", (size_t)(d->n * d->h), 0,
                                 KILN__CL_N(a), a));
        struct kiln__cl_gemm gm = {
            .m = (size_t)d->n,
            .n = (size_t)d->h,
            .k = (size_t)d->g,
            .a = md,
            .off_a = dgh + (size_t)(t * d->n * d->g),
            .ld_a = (size_t)d->g,
            .b = mw,
            .off_b = (size_t)ow,
            .ld_b = (size_t)d->h,
            .c = md,
            .off_c = (size_t)(od + (cl_ulong)d->dx_elems),
            .ld_c = (size_t)d->h,
            .beta = 1.0f,
        };
        KILN_TRY(kiln__cl_sgemm(be, &gm, what));
    }
    return KILN_OK;
}

kiln_status kiln__cl_rnn(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__rnn_dims d;
    kiln__rnn_dims(n, &d);
    return n->op == KILN_OP_RNN_SEQ ? rnn_fwd(be, n, &d) : rnn_bwd(be, n, &d);
}
