/*
 * cl_layers.c - launchers of the opencl backend's layout ops (opencl/layout.cl: concat,
 * slice, pad) and pooling ops (opencl/pool.cl: max and average pooling, nearest
 * upsampling and their backward kernels) and convolutions: row-vector kernels for stride 1
 * and dilation 1 (opencl/convrow.cl), direct kernels for the rest (opencl/conv.cl).
 */
#include <stdlib.h>
#include <string.h>

#include "cl_impl.h"

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

/* ==== Layout ==== */

kiln_status kiln__cl_concat(struct kiln_backend *be, const struct kiln_tensor *n)
{
    int32_t axis = ((const struct kiln__p_concat *)kiln__params(n))->axis;
    int64_t inner = 1;
    for (int32_t k = axis + 1; k < n->shape.rank; k++) {
        inner *= n->shape.dims[k];
    }
    cl_mem my;
    cl_ulong oy, row_len = (cl_ulong)(n->shape.dims[axis] * inner), off = 0;
    kiln__cl_tensor(n, &my, &oy);
    for (int i = 0; i < n->n_src; i++) {
        cl_mem mx;
        cl_ulong ox, count = (cl_ulong)n->src[i]->n_elems;
        cl_ulong len = (cl_ulong)(n->src[i]->shape.dims[axis] * inner);
        kiln__cl_tensor(n->src[i], &mx, &ox);
        struct kiln__cl_arg a[] = {KILN__CL_ARG(mx),      KILN__CL_ARG(ox),    KILN__CL_ARG(my),
                                   KILN__CL_ARG(oy),      KILN__CL_ARG(count), KILN__CL_ARG(len),
                                   KILN__CL_ARG(row_len), KILN__CL_ARG(off)};
        if (len > 0) {
            KILN_TRY(kiln__cl_launch(be, KILN__CL_LAYOUT, "concat_part", (size_t)count, 0,
                                     KILN__CL_N(a), a));
        }
        off += len;
    }
    return KILN_OK;
}

kiln_status kiln__cl_slice_pad(struct kiln_backend *be, const struct kiln_tensor *n)
{
    int64_t od[KILN_MAX_DIMS], id[KILN_MAX_DIMS], is[KILN_MAX_DIMS], offs[KILN_MAX_DIMS];
    int32_t r = kiln__gpu_box(n, od, id, is, offs);
    cl_mem mx, my;
    cl_ulong ox, oy, count = (cl_ulong)n->n_elems;
    cl_long sign = n->op == KILN_OP_SLICE ? 1 : -1;
    kiln__cl_tensor(n->src[0], &mx, &ox);
    kiln__cl_tensor(n, &my, &oy);
    if (r > 4) {
        cl_long8 d = long8_of(od), i8 = long8_of(id), o8 = long8_of(offs);
        struct kiln__cl_arg a[] = {KILN__CL_ARG(mx), KILN__CL_ARG(ox),    KILN__CL_ARG(my),
                                   KILN__CL_ARG(oy), KILN__CL_ARG(count), KILN__CL_ARG(d),
                                   KILN__CL_ARG(i8), KILN__CL_ARG(o8),    KILN__CL_ARG(sign)};
        return kiln__cl_launch(be, KILN__CL_LAYOUT, "slice_pad_nd", (size_t)count, 0, KILN__CL_N(a),
                               a);
    }
    cl_long4 d = long4_of(od), i4 = long4_of(id), s = long4_of(is), o4 = long4_of(offs);
    struct kiln__cl_arg a[] = {
        KILN__CL_ARG(mx), KILN__CL_ARG(ox), KILN__CL_ARG(my), KILN__CL_ARG(oy), KILN__CL_ARG(count),
        KILN__CL_ARG(d),  KILN__CL_ARG(i4), KILN__CL_ARG(s),  KILN__CL_ARG(o4), KILN__CL_ARG(sign)};
    return kiln__cl_launch(be, KILN__CL_LAYOUT, "slice_pad", (size_t)count, 0, KILN__CL_N(a), a);
}

/* ==== Pooling ==== */

kiln_status kiln__cl_pool(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__p_pool2d *p = kiln__params(n);
    /* MAXPOOL2D_RELU_BWD: maxpool_bwd masked by x > 0 (relu). */
    cl_int relu = n->op == KILN_OP_MAXPOOL2D_RELU_BWD;
    bool max_bwd = n->op == KILN_OP_MAXPOOL2D_BWD || relu;
    bool bwd = max_bwd || n->op == KILN_OP_AVGPOOL2D_BWD;
    /* The input plane is dx's for the backward kernels. */
    const int64_t *xd = bwd ? n->shape.dims : n->src[0]->shape.dims;
    const int64_t *yd = max_bwd                          ? n->src[1]->shape.dims
                        : n->op == KILN_OP_AVGPOOL2D_BWD ? n->src[0]->shape.dims
                                                         : n->shape.dims;
    cl_long h = xd[2], w = xd[3], oh = yd[2], ow = yd[3];
    cl_int kh = p->kernel[0], kw = p->kernel[1], sh = p->stride[0], sw = p->stride[1];
    cl_int ph = p->pad[0], pw = p->pad[1], incl = p->count_include_pad != 0;
    cl_mem m0, m1, my;
    cl_ulong o0, o1, oy, count = (cl_ulong)n->n_elems;
    kiln__cl_tensor(n->src[0], &m0, &o0);
    kiln__cl_tensor(n, &my, &oy);
    if (max_bwd) {
        kiln__cl_tensor(n->src[1], &m1, &o1);
        struct kiln__cl_arg a[] = {KILN__CL_ARG(m0),    KILN__CL_ARG(o0), KILN__CL_ARG(m1),
                                   KILN__CL_ARG(o1),    KILN__CL_ARG(my), KILN__CL_ARG(oy),
                                   KILN__CL_ARG(count), KILN__CL_ARG(h),  KILN__CL_ARG(w),
                                   KILN__CL_ARG(oh),    KILN__CL_ARG(ow), KILN__CL_ARG(kh),
                                   KILN__CL_ARG(kw),    KILN__CL_ARG(sh), KILN__CL_ARG(sw),
                                   KILN__CL_ARG(ph),    KILN__CL_ARG(pw), KILN__CL_ARG(relu)};
        return kiln__cl_launch(be, KILN__CL_POOL, "maxpool_bwd", (size_t)count, 0, KILN__CL_N(a),
                               a);
    }
    const char *name = n->op == KILN_OP_MAXPOOL2D   ? "maxpool"
                       : n->op == KILN_OP_AVGPOOL2D ? "avgpool"
                                                    : "avgpool_bwd";
    struct kiln__cl_arg a[] = {
        KILN__CL_ARG(m0),    KILN__CL_ARG(o0), KILN__CL_ARG(my), KILN__CL_ARG(oy),
        KILN__CL_ARG(count), KILN__CL_ARG(h),  KILN__CL_ARG(w),  KILN__CL_ARG(oh),
        KILN__CL_ARG(ow),    KILN__CL_ARG(kh), KILN__CL_ARG(kw), KILN__CL_ARG(sh),
        KILN__CL_ARG(sw),    KILN__CL_ARG(ph), KILN__CL_ARG(pw), KILN__CL_ARG(incl)};
    /* maxpool takes no count_include_pad argument. */
    cl_uint n_args = n->op == KILN_OP_MAXPOOL2D ? KILN__CL_N(a) - 1 : KILN__CL_N(a);
    return kiln__cl_launch(be, KILN__CL_POOL, name, (size_t)count, 0, n_args, a);
}

kiln_status kiln__cl_upsample(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__p_upsample *p = kiln__params(n);
    cl_mem mx, my;
    cl_ulong ox, oy, count = (cl_ulong)n->n_elems;
    cl_int fh = p->factor[0], fw = p->factor[1];
    cl_long h = n->shape.dims[2], w = n->shape.dims[3];
    kiln__cl_tensor(n->src[0], &mx, &ox);
    kiln__cl_tensor(n, &my, &oy);
    if (n->op == KILN_OP_UPSAMPLE_NEAREST) {
        cl_long ih = n->src[0]->shape.dims[2], iw = n->src[0]->shape.dims[3];
        struct kiln__cl_arg a[] = {KILN__CL_ARG(mx), KILN__CL_ARG(ox),    KILN__CL_ARG(my),
                                   KILN__CL_ARG(oy), KILN__CL_ARG(count), KILN__CL_ARG(h),
                                   KILN__CL_ARG(w),  KILN__CL_ARG(ih),    KILN__CL_ARG(iw),
                                   KILN__CL_ARG(fh), KILN__CL_ARG(fw)};
        return kiln__cl_launch(be, KILN__CL_POOL, "upsample_nearest", (size_t)count, 0,
                               KILN__CL_N(a), a);
    }
    struct kiln__cl_arg a[] = {KILN__CL_ARG(mx), KILN__CL_ARG(ox),    KILN__CL_ARG(my),
                               KILN__CL_ARG(oy), KILN__CL_ARG(count), KILN__CL_ARG(h),
                               KILN__CL_ARG(w),  KILN__CL_ARG(fh),    KILN__CL_ARG(fw)};
    return kiln__cl_launch(be, KILN__CL_POOL, "upsample_nearest_bwd", (size_t)count, 0,
                           KILN__CL_N(a), a);
}

/* ==== Convolution ==== */

/* The row-vector kernels (opencl/convrow.cl) take every convolution of stride 1 and
 * dilation 1, ahead of CLBlast's convgemm (bench/conv measured their forward 7x to 10x
 * faster at ResNet's 3x3 shapes on PoCL, 8x and 41x at LeNet's);
 * KILN_CL_CONV=direct keeps all of them on convgemm or conv.cl's generic kernels (the op
 * tests and bench/conv run both ways). */
static bool conv_row_fits(const struct kiln_tensor *n)
{
    const struct kiln__p_conv2d *p = kiln__params(n);
    const char *env = getenv("KILN_CL_CONV");
    if (env != NULL && strcmp(env, "direct") == 0) {
        return false;
    }
    return p->stride[0] == 1 && p->stride[1] == 1 && p->dilation[0] == 1 && p->dilation[1] == 1;
}

/* The work-group size of row kernel name over n_items: on a CPU device (PoCL runs each
 * group on one thread) at most 64 and small enough to give the cores 32 groups or more,
 * within the kernel's limit; elsewhere the default. [out] local. */
static kiln_status row_group(struct kiln_backend *be, const char *name, size_t n_items,
                             size_t *local)
{
    cl_kernel k;
    size_t g = 64;
    *local = 0;
    if (!kiln__cl_of(be)->is_cpu) {
        return KILN_OK;
    }
    KILN_TRY(kiln__cl_kernel(be, KILN__CL_CONVROW, name, &k));
    size_t lim = kiln__cl_group_size(be, k);
    while (g > 1 && (g * 32 > n_items || g > lim)) {
        g /= 2;
    }
    *local = g;
    return KILN_OK;
}

/* The row-vector convolutions per work-item: RV columns by RB channels (convrow.cl). */
#define ROW_RV 8
#define ROW_RB 8
/* The filter gradient's work-item: FB filters by TB taps (convrow.cl). */
#define ROW_FB 4
#define ROW_TB 4

/* CONV2D, CONV2D_BIAS and CONV2D_BWD_DATA of stride 1: conv2d_row (CONV2D_BIAS's bias
 * and ReLU in its epilogue), the data gradient as the correlation of dy with the
 * flipped, transposed weights. */
static kiln_status conv_row(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__p_conv2d *p = kiln__params(n);
    const int64_t *w = n->src[1]->shape.dims, *x = n->src[0]->shape.dims, *y = n->shape.dims;
    int64_t kh = w[2], kw = w[3], khw = kh * kw, kg = w[0] / p->groups, cg = w[1];
    int64_t ph = p->pad[0], pw = p->pad[1], og;
    cl_long8 wp = {{kg * cg * khw, cg * khw, khw, kw, 1, 0, 0, 0}};
    if (n->op == KILN_OP_CONV2D_BWD_DATA) {
        /* dx[c] sums dy[k] over the group's k with w[k][c] turned by 180 degrees. */
        wp = (cl_long8){{kg * cg * khw, khw, cg * khw, -kw, -1, khw - 1, 0, 0}};
        ph = kh - 1 - ph, pw = kw - 1 - pw;
        og = cg;
    } else {
        og = kg;
    }
    cl_int4 xs = {{(cl_int)x[0], (cl_int)x[1], (cl_int)x[2], (cl_int)x[3]}};
    cl_int4 ys = {{(cl_int)y[1], (cl_int)y[2], (cl_int)y[3], p->groups}};
    cl_int4 kd = {{(cl_int)kh, (cl_int)kw, (cl_int)ph, (cl_int)pw}};
    int64_t blocks = (og + ROW_RB - 1) / ROW_RB, cols = (y[3] + ROW_RV - 1) / ROW_RV;
    cl_ulong count = (cl_ulong)(y[0] * p->groups * blocks * y[2] * cols);
    cl_mem m0, m1, my, mb;
    cl_ulong o0, o1, oy, ob;
    cl_int mode = 0;
    kiln__cl_tensor(n->src[0], &m0, &o0);
    kiln__cl_tensor(n->src[1], &m1, &o1);
    kiln__cl_tensor(n, &my, &oy);
    mb = my, ob = oy; /* read by mode 1 and 2 only */
    if (n->op == KILN_OP_CONV2D_BIAS) {
        kiln__cl_tensor(n->src[2], &mb, &ob);
        mode = ((const struct kiln__p_conv2d_bias *)kiln__params(n))->relu ? 2 : 1;
    }
    struct kiln__cl_arg a[] = {KILN__CL_ARG(m0),    KILN__CL_ARG(o0),  KILN__CL_ARG(m1),
                               KILN__CL_ARG(o1),    KILN__CL_ARG(my),  KILN__CL_ARG(oy),
                               KILN__CL_ARG(count), KILN__CL_ARG(xs),  KILN__CL_ARG(ys),
                               KILN__CL_ARG(kd),    KILN__CL_ARG(wp),  KILN__CL_ARG(mb),
                               KILN__CL_ARG(ob),    KILN__CL_ARG(mode)};
    size_t local;
    KILN_TRY(row_group(be, "conv2d_row", (size_t)count, &local));
    return kiln__cl_launch(be, KILN__CL_CONVROW, "conv2d_row", (size_t)count, local, KILN__CL_N(a),
                           a);
}

/* CONV2D_BWD_FILTER of stride 1: the batch is cut into parts, enough for 16 work-items
 * per compute unit on a CPU device (one part, so no second launch, where the filters
 * alone give that many) and 16K work-items elsewhere; KILN_CL_CONV_PARTS=n fixes the
 * number. Each work-item sums its filters over one part, and conv2d_sum_parts adds the
 * parts in a fixed order. A single part writes dw directly. */
static kiln_status conv_row_filter(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__p_conv2d *p = kiln__params(n);
    const int64_t *x = n->src[0]->shape.dims, *dy = n->src[1]->shape.dims, *w = n->shape.dims;
    int64_t kg = w[0] / p->groups, blocks = (kg + ROW_FB - 1) / ROW_FB;
    int64_t per_part = p->groups * blocks * w[1] * ((w[2] * w[3] + ROW_TB - 1) / ROW_TB);
    struct kiln__cl *cl = kiln__cl_of(be);
    cl_uint units = 1;
    if (clGetDeviceInfo(cl->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(units), &units, NULL) !=
            CL_SUCCESS ||
        units == 0) {
        units = 1;
    }
    int64_t want = cl->is_cpu ? 16 * (int64_t)units : 16384;
    int64_t parts = (want + per_part - 1) / per_part;
    const char *env = getenv("KILN_CL_CONV_PARTS");
    if (env != NULL && atoi(env) > 0) {
        parts = atoi(env);
    }
    parts = parts < x[0] ? parts : x[0];
    parts = parts > 1 ? parts : 1;
    cl_int4 xs = {{(cl_int)x[0], (cl_int)x[1], (cl_int)x[2], (cl_int)x[3]}};
    cl_int4 ws = {{(cl_int)w[0], (cl_int)w[1], (cl_int)w[2], (cl_int)w[3]}};
    cl_int4 ys = {{(cl_int)dy[2], (cl_int)dy[3], p->groups, (cl_int)parts}};
    cl_int2 pd = {{p->pad[0], p->pad[1]}};
    cl_mem m0, m1, my, part;
    cl_ulong o0, o1, oy, op = 0, count = (cl_ulong)(per_part * parts);
    cl_ulong n_out = (cl_ulong)n->n_elems, n_parts = (cl_ulong)parts;
    kiln__cl_tensor(n->src[0], &m0, &o0);
    kiln__cl_tensor(n->src[1], &m1, &o1);
    kiln__cl_tensor(n, &my, &oy);
    if (parts == 1) {
        part = my, op = oy;
    } else {
        KILN_TRY(kiln__cl_scratch(be, (size_t)(n_out * n_parts) * sizeof(float), &part));
    }
    struct kiln__cl_arg a[] = {KILN__CL_ARG(m0),    KILN__CL_ARG(o0),   KILN__CL_ARG(m1),
                               KILN__CL_ARG(o1),    KILN__CL_ARG(part), KILN__CL_ARG(op),
                               KILN__CL_ARG(count), KILN__CL_ARG(xs),   KILN__CL_ARG(ws),
                               KILN__CL_ARG(ys),    KILN__CL_ARG(pd)};
    size_t local;
    KILN_TRY(row_group(be, "conv2d_bwd_filter_row", (size_t)count, &local));
    KILN_TRY(kiln__cl_launch(be, KILN__CL_CONVROW, "conv2d_bwd_filter_row", (size_t)count, local,
                             KILN__CL_N(a), a));
    if (parts == 1) {
        return KILN_OK;
    }
    struct kiln__cl_arg b[] = {KILN__CL_ARG(part), KILN__CL_ARG(n_parts), KILN__CL_ARG(my),
                               KILN__CL_ARG(oy), KILN__CL_ARG(n_out)};
    KILN_TRY(row_group(be, "conv2d_sum_parts", (size_t)n_out, &local));
    return kiln__cl_launch(be, KILN__CL_CONVROW, "conv2d_sum_parts", (size_t)n_out, local,
                           KILN__CL_N(b), b);
}

bool kiln__cl_conv_one_launch(const struct kiln_backend *be, const struct kiln_tensor *n)
{
    (void)be;
    return conv_row_fits(n);
}

/* CONV2D_BIAS on the kernels without its epilogue: the bias (and ReLU) in place over the
 * convolution's output y [N, K, OH, OW]. */
static kiln_status conv_add_bias(struct kiln_backend *be, const struct kiln_tensor *n)
{
    cl_mem my, mb;
    cl_ulong oy, ob, count = (cl_ulong)n->n_elems;
    cl_long plane = (cl_long)(n->shape.dims[2] * n->shape.dims[3]);
    cl_long k = (cl_long)n->shape.dims[1];
    cl_int relu = ((const struct kiln__p_conv2d_bias *)kiln__params(n))->relu != 0;
    kiln__cl_tensor(n, &my, &oy);
    kiln__cl_tensor(n->src[2], &mb, &ob);
    struct kiln__cl_arg a[] = {KILN__CL_ARG(my), KILN__CL_ARG(oy),    KILN__CL_ARG(mb),
                               KILN__CL_ARG(ob), KILN__CL_ARG(count), KILN__CL_ARG(plane),
                               KILN__CL_ARG(k),  KILN__CL_ARG(relu)};
    return kiln__cl_launch(be, KILN__CL_CONVROW, "conv2d_add_bias", (size_t)count, 0, KILN__CL_N(a),
                           a);
}

kiln_status kiln__cl_conv(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__p_conv2d *p = kiln__params(n);
    const struct kiln_shape *x, *w, *y;
    const char *name;
    bool fwd = n->op == KILN_OP_CONV2D || n->op == KILN_OP_CONV2D_BIAS;
    if (conv_row_fits(n)) {
        return n->op == KILN_OP_CONV2D_BWD_FILTER ? conv_row_filter(be, n) : conv_row(be, n);
    }
    if (kiln__cl_conv_uses_convgemm(n)) {
        return kiln__cl_conv_convgemm(be, n);
    }
    if (fwd) {
        x = &n->src[0]->shape, w = &n->src[1]->shape, y = &n->shape, name = "conv2d";
    } else if (n->op == KILN_OP_CONV2D_BWD_DATA) {
        x = &n->shape, w = &n->src[1]->shape, y = &n->src[0]->shape, name = "conv2d_bwd_data";
    } else {
        x = &n->src[0]->shape, w = &n->shape, y = &n->src[1]->shape, name = "conv2d_bwd_filter";
    }
    cl_int4 xs = {{(cl_int)x->dims[0], (cl_int)x->dims[1], (cl_int)x->dims[2], (cl_int)x->dims[3]}};
    cl_int4 ws = {{(cl_int)w->dims[0], (cl_int)w->dims[1], (cl_int)w->dims[2], (cl_int)w->dims[3]}};
    cl_int4 ys = {{(cl_int)y->dims[2], (cl_int)y->dims[3], p->groups, 0}};
    cl_int4 sp = {{p->stride[0], p->stride[1], p->pad[0], p->pad[1]}};
    cl_int2 dl = {{p->dilation[0], p->dilation[1]}};
    cl_mem m0, m1, my;
    cl_ulong o0, o1, oy, count = (cl_ulong)n->n_elems;
    if (n->op == KILN_OP_CONV2D_BWD_DATA && ws.s[1] >= 4) {
        /* 8 channels per work-item (conv.cl): a load of dy serves 8 products. */
        int64_t blocks = (ws.s[1] + 7) / 8;
        count = (cl_ulong)(x->dims[0] * p->groups * blocks * x->dims[2] * x->dims[3]);
        name = "conv2d_bwd_data_blk";
    } else if (fwd && ws.s[0] / p->groups >= 4) {
        int64_t blocks = (ws.s[0] / p->groups + 7) / 8;
        count = (cl_ulong)(x->dims[0] * p->groups * blocks * y->dims[2] * y->dims[3]);
        name = "conv2d_blk";
    }
    kiln__cl_tensor(n->src[0], &m0, &o0);
    kiln__cl_tensor(n->src[1], &m1, &o1);
    kiln__cl_tensor(n, &my, &oy);
    struct kiln__cl_arg a[] = {KILN__CL_ARG(m0),    KILN__CL_ARG(o0), KILN__CL_ARG(m1),
                               KILN__CL_ARG(o1),    KILN__CL_ARG(my), KILN__CL_ARG(oy),
                               KILN__CL_ARG(count), KILN__CL_ARG(xs), KILN__CL_ARG(ws),
                               KILN__CL_ARG(ys),    KILN__CL_ARG(sp), KILN__CL_ARG(dl)};
    KILN_TRY(kiln__cl_launch(be, KILN__CL_CONV, name, (size_t)count, 0, KILN__CL_N(a), a));
    return n->op == KILN_OP_CONV2D_BIAS ? conv_add_bias(be, n) : KILN_OK;
}

/* ==== Dropout ==== */

kiln_status kiln__cl_dropout(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__p_dropout *p = kiln__params(n);
    cl_mem mx, my;
    cl_ulong ox, oy, count = (cl_ulong)n->n_elems, seed = p->seed, run = n->graph->run_count;
    cl_float prob = p->p, scale = p->scale;
    cl_int training = n->graph->training != 0;
    kiln__cl_tensor(n->src[0], &mx, &ox);
    kiln__cl_tensor(n, &my, &oy);
    struct kiln__cl_arg a[] = {KILN__CL_ARG(mx),      KILN__CL_ARG(ox),    KILN__CL_ARG(my),
                               KILN__CL_ARG(oy),      KILN__CL_ARG(count), KILN__CL_ARG(prob),
                               KILN__CL_ARG(scale),   KILN__CL_ARG(seed),  KILN__CL_ARG(run),
                               KILN__CL_ARG(training)};
    return kiln__cl_launch(be, KILN__CL_RANDOM, "dropout", (size_t)count, 0, KILN__CL_N(a), a);
}
