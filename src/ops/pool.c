/*
 * pool.c - windows over the H, W planes of NCHW tensors: max pooling (padding is -inf,
 * the first maximum of a window in row-major order wins, a NaN wins over numbers),
 * average pooling (zero padding; PyTorch's count_include_pad), and nearest-neighbour
 * upsampling by integer factors, each with its _BWD. MAXPOOL2D_BWD recomputes the
 * argmax from x, so no index tensor is stored. AVGPOOL2D_BWD and UPSAMPLE_NEAREST_BWD
 * are linear maps whose adjoints are the forward ops, so they have backward rules.
 * MAXPOOL2D_RELU_BWD is MAXPOOL2D_BWD followed by RELU_BWD on the same x (a pooled
 * ReLU output: the gradient masked where x > 0); it has no builder, the planner fuses
 * the pair into it where a backend runs it in one pass (the GPUs, the CPU's fast device;
 * src/graph/fuse.c). Every kernel works plane by plane; planes are independent (one work
 * item each).
 */
#include <math.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "family.h"

static kiln_status want_f32_4d(const struct kiln_tensor *n, int i)
{
    KILN_TRY(kiln__want_dtype(n, i, KILN_DTYPE_F32));
    return kiln__want_rank(n, i, 4);
}

/* ==== Pooling geometry ==== */

static int64_t pool_len(int64_t in, int32_t k, int32_t s, int32_t p)
{
    int64_t span = in + 2 * (int64_t)p - k;
    return span < 0 ? 0 : span / s + 1;
}

/* Validates p for an input plane h x w and returns the output plane in oh, ow. */
static kiln_status pool_geom(const struct kiln_tensor *n, int64_t h, int64_t w, int64_t *oh,
                             int64_t *ow)
{
    const struct kiln__p_pool2d *p = kiln__params(n);
    const char *op = kiln__ops[n->op]->name;
    for (int i = 0; i < 2; i++) {
        if (p->kernel[i] < 1 || p->stride[i] < 1 || p->pad[i] < 0 || 2 * p->pad[i] > p->kernel[i]) {
            return KILN_FAIL(KILN_E_INVALID_ARG,
                             "%s: kernel (%d, %d) and stride (%d, %d) must be >= 1, padding (%d, "
                             "%d) between 0 and half the kernel",
                             op, p->kernel[0], p->kernel[1], p->stride[0], p->stride[1], p->pad[0],
                             p->pad[1]);
        }
    }
    *oh = pool_len(h, p->kernel[0], p->stride[0], p->pad[0]);
    *ow = pool_len(w, p->kernel[1], p->stride[1], p->pad[1]);
    if (*oh < 1 || *ow < 1) {
        return KILN_FAIL(KILN_E_SHAPE, "%s: input plane %lldx%lld is smaller than the kernel %dx%d",
                         op, (long long)h, (long long)w, p->kernel[0], p->kernel[1]);
    }
    return KILN_OK;
}

static kiln_status infer_pool(struct kiln_tensor *n)
{
    KILN_TRY(want_f32_4d(n, 0));
    const int64_t *x = n->src[0]->shape.dims;
    int64_t oh, ow;
    KILN_TRY(pool_geom(n, x[2], x[3], &oh, &ow));
    n->shape = n->src[0]->shape;
    n->shape.dims[2] = oh;
    n->shape.dims[3] = ow;
    return KILN_OK;
}

static kiln_status infer_maxpool_bwd(struct kiln_tensor *n)
{
    KILN_TRY(want_f32_4d(n, 0));
    KILN_TRY(want_f32_4d(n, 1));
    const int64_t *x = n->src[0]->shape.dims, *dy = n->src[1]->shape.dims;
    int64_t oh, ow;
    KILN_TRY(pool_geom(n, x[2], x[3], &oh, &ow));
    if (dy[0] != x[0] || dy[1] != x[1] || dy[2] != oh || dy[3] != ow) {
        return KILN_FAIL(KILN_E_SHAPE, "%s: dy is not the pooled shape of x",
                         kiln__ops[n->op]->name);
    }
    n->shape = n->src[0]->shape;
    return KILN_OK;
}

static kiln_status infer_avgpool_bwd(struct kiln_tensor *n)
{
    const struct kiln__p_pool2d *p = kiln__params(n);
    KILN_TRY(want_f32_4d(n, 0));
    const int64_t *dy = n->src[0]->shape.dims;
    int64_t oh, ow;
    KILN_TRY(pool_geom(n, p->in_hw[0], p->in_hw[1], &oh, &ow));
    if (dy[2] != oh || dy[3] != ow) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "avgpool2d_bwd: dy's plane %lldx%lld is not the pooled "
                         "size of the input plane %dx%d",
                         (long long)dy[2], (long long)dy[3], p->in_hw[0], p->in_hw[1]);
    }
    n->shape = n->src[0]->shape;
    n->shape.dims[2] = p->in_hw[0];
    n->shape.dims[3] = p->in_hw[1];
    return KILN_OK;
}

/* ==== Max pooling ==== */

/* The index in the plane of the winner of window (oh, ow): the first maximum in
 * row-major window order over in-range elements; a NaN beats any number. */
static int64_t window_argmax(const float *x, int64_t h, int64_t w, const struct kiln__p_pool2d *p,
                             int64_t oh, int64_t ow)
{
    int64_t best = -1;
    float m = 0.0f;
    for (int32_t i = 0; i < p->kernel[0]; i++) {
        int64_t ih = oh * p->stride[0] - p->pad[0] + i;
        if (ih < 0 || ih >= h) {
            continue;
        }
        for (int32_t j = 0; j < p->kernel[1]; j++) {
            int64_t iw = ow * p->stride[1] - p->pad[1] + j;
            if (iw < 0 || iw >= w) {
                continue;
            }
            float v = x[ih * w + iw];
            if (best < 0 || v > m || (isnan(v) && !isnan(m))) {
                best = ih * w + iw;
                m = v;
            }
        }
    }
    return best; /* >= 0: padding <= kernel / 2 leaves an in-range element in every window */
}

static kiln_status ref_maxpool(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_pool2d *p = kiln__params(n);
    const int64_t *xd = n->src[0]->shape.dims, *yd = n->shape.dims;
    int64_t planes = xd[0] * xd[1], ihw = xd[2] * xd[3], ohw = yd[2] * yd[3];
    const float *x = a->in[0];
    float *y = a->out;
#pragma omp parallel for if (n->src[0]->n_elems > KILN__PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * ihw;
        for (int64_t o = 0; o < ohw; o++) {
            y[pl * ohw + o] = xp[window_argmax(xp, xd[2], xd[3], p, o / yd[3], o % yd[3])];
        }
    }
    return KILN_OK;
}

static kiln_status ref_maxpool_bwd(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_pool2d *p = kiln__params(n);
    const int64_t *xd = n->shape.dims, *yd = n->src[1]->shape.dims;
    int64_t planes = xd[0] * xd[1], ihw = xd[2] * xd[3], ohw = yd[2] * yd[3];
    const float *x = a->in[0], *dy = a->in[1];
    float *dx = a->out;
#pragma omp parallel for if (n->n_elems > KILN__PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * ihw;
        float *dp = dx + pl * ihw;
        memset(dp, 0, (size_t)ihw * sizeof(float));
        for (int64_t o = 0; o < ohw; o++) {
            dp[window_argmax(xp, xd[2], xd[3], p, o / yd[3], o % yd[3])] += dy[pl * ohw + o];
        }
    }
    return KILN_OK;
}

/* ref_maxpool_bwd, then ref_relu_bwd's x > 0 ? g : 0 with the same x. */
static kiln_status ref_maxpool_relu_bwd(const struct kiln__op_args *a)
{
    KILN_TRY(ref_maxpool_bwd(a));
    const float *x = a->in[0];
    float *dx = a->out;
    for (int64_t i = 0; i < a->node->n_elems; i++) {
        dx[i] = x[i] > 0.0f ? dx[i] : 0.0f;
    }
    return KILN_OK;
}

static void bwd_maxpool(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                        struct kiln_tensor **dx)
{
    struct kiln_tensor *src[2] = {n->src[0], dy};
    dx[0] = kiln__node(g, KILN_OP_MAXPOOL2D_BWD, 2, src, n->params, sizeof(struct kiln__p_pool2d));
}

/* ==== Average pooling ==== */

/* The divisor of window (oh, ow). */
static float window_div(int64_t h, int64_t w, const struct kiln__p_pool2d *p, int64_t oh,
                        int64_t ow)
{
    if (p->count_include_pad) {
        return (float)(p->kernel[0] * p->kernel[1]);
    }
    int64_t h0 = oh * p->stride[0] - p->pad[0], w0 = ow * p->stride[1] - p->pad[1];
    int64_t h1 = h0 + p->kernel[0] < h ? h0 + p->kernel[0] : h;
    int64_t w1 = w0 + p->kernel[1] < w ? w0 + p->kernel[1] : w;
    h0 = h0 > 0 ? h0 : 0;
    w0 = w0 > 0 ? w0 : 0;
    return (float)((h1 - h0) * (w1 - w0));
}

static kiln_status ref_avgpool(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_pool2d *p = kiln__params(n);
    const int64_t *xd = n->src[0]->shape.dims, *yd = n->shape.dims;
    int64_t planes = xd[0] * xd[1], ihw = xd[2] * xd[3], ohw = yd[2] * yd[3];
    const float *x = a->in[0];
    float *y = a->out;
#pragma omp parallel for if (n->src[0]->n_elems > KILN__PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * ihw;
        for (int64_t o = 0; o < ohw; o++) {
            int64_t oh = o / yd[3], ow = o % yd[3];
            double s = 0.0;
            for (int32_t i = 0; i < p->kernel[0]; i++) {
                int64_t ih = oh * p->stride[0] - p->pad[0] + i;
                for (int32_t j = 0; ih >= 0 && ih < xd[2] && j < p->kernel[1]; j++) {
                    int64_t iw = ow * p->stride[1] - p->pad[1] + j;
                    s += iw >= 0 && iw < xd[3] ? xp[ih * xd[3] + iw] : 0.0f;
                }
            }
            y[pl * ohw + o] = (float)(s / window_div(xd[2], xd[3], p, oh, ow));
        }
    }
    return KILN_OK;
}

static kiln_status ref_avgpool_bwd(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_pool2d *p = kiln__params(n);
    const int64_t *xd = n->shape.dims, *yd = n->src[0]->shape.dims;
    int64_t planes = xd[0] * xd[1], ihw = xd[2] * xd[3], ohw = yd[2] * yd[3];
    const float *dy = a->in[0];
    float *dx = a->out;
#pragma omp parallel for if (n->n_elems > KILN__PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *dp = dx + pl * ihw;
        memset(dp, 0, (size_t)ihw * sizeof(float));
        for (int64_t o = 0; o < ohw; o++) {
            int64_t oh = o / yd[3], ow = o % yd[3];
            float v = dy[pl * ohw + o] / window_div(xd[2], xd[3], p, oh, ow);
            for (int32_t i = 0; i < p->kernel[0]; i++) {
                int64_t ih = oh * p->stride[0] - p->pad[0] + i;
                for (int32_t j = 0; ih >= 0 && ih < xd[2] && j < p->kernel[1]; j++) {
                    int64_t iw = ow * p->stride[1] - p->pad[1] + j;
                    if (iw >= 0 && iw < xd[3]) {
                        dp[ih * xd[3] + iw] += v;
                    }
                }
            }
        }
    }
    return KILN_OK;
}

static void bwd_avgpool(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                        struct kiln_tensor **dx)
{
    struct kiln__p_pool2d p = *(const struct kiln__p_pool2d *)kiln__params(n);
    p.in_hw[0] = (int32_t)n->src[0]->shape.dims[2];
    p.in_hw[1] = (int32_t)n->src[0]->shape.dims[3];
    dx[0] = kiln__node(g, KILN_OP_AVGPOOL2D_BWD, 1, &dy, &p, sizeof(p));
}

static void bwd_avgpool_bwd(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *gz,
                            struct kiln_tensor **dx)
{
    struct kiln__p_pool2d p = *(const struct kiln__p_pool2d *)kiln__params(n);
    p.in_hw[0] = p.in_hw[1] = 0;
    dx[0] = kiln__node(g, KILN_OP_AVGPOOL2D, 1, &gz, &p, sizeof(p));
}

/* Max pooling selects (exact; GPU kernels must use the same tie and NaN rules). Its
 * _BWD adds at most kernel_h kernel_w values of dy into one element: a short sum. Average
 * pooling sums a window and divides: kiln__tol_reduction. */
const struct kiln__op_desc kiln__desc_MAXPOOL2D = {
    .name = "maxpool2d",
    .n_in = 1,
    .params_bytes = sizeof(struct kiln__p_pool2d),
    .infer = infer_pool,
    .backward = bwd_maxpool,
    .cpu_ref = ref_maxpool,
    .tol = {0, 0, 0},
};
const struct kiln__op_desc kiln__desc_MAXPOOL2D_BWD = {
    .name = "maxpool2d_bwd",
    .n_in = 2,
    .params_bytes = sizeof(struct kiln__p_pool2d),
    .infer = infer_maxpool_bwd,
    .cpu_ref = ref_maxpool_bwd,
    .tol = {1e-7, 1e-5, 1e-4},
};
const struct kiln__op_desc kiln__desc_MAXPOOL2D_RELU_BWD = {
    .name = "maxpool2d_relu_bwd",
    .n_in = 2,
    .params_bytes = sizeof(struct kiln__p_pool2d),
    .infer = infer_maxpool_bwd,
    .cpu_ref = ref_maxpool_relu_bwd,
    .tol = {1e-7, 1e-5, 1e-4},
};
const struct kiln__op_desc kiln__desc_AVGPOOL2D = {
    .name = "avgpool2d",
    .n_in = 1,
    .params_bytes = sizeof(struct kiln__p_pool2d),
    .infer = infer_pool,
    .backward = bwd_avgpool,
    .cpu_ref = ref_avgpool,
    .tol = {1e-7, 1e-4, 1e-3},
};
const struct kiln__op_desc kiln__desc_AVGPOOL2D_BWD = {
    .name = "avgpool2d_bwd",
    .n_in = 1,
    .params_bytes = sizeof(struct kiln__p_pool2d),
    .infer = infer_avgpool_bwd,
    .backward = bwd_avgpool_bwd,
    .cpu_ref = ref_avgpool_bwd,
    .tol = {1e-7, 1e-4, 1e-3},
};

/* ==== Nearest upsampling ==== */

static kiln_status infer_upsample(struct kiln_tensor *n)
{
    const struct kiln__p_upsample *p = kiln__params(n);
    KILN_TRY(want_f32_4d(n, 0));
    if (p->factor[0] < 1 || p->factor[1] < 1) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: factors (%d, %d) must be >= 1",
                         kiln__ops[n->op]->name, p->factor[0], p->factor[1]);
    }
    n->shape = n->src[0]->shape;
    for (int i = 0; i < 2; i++) {
        int64_t d = n->shape.dims[2 + i];
        if (n->op == KILN_OP_UPSAMPLE_NEAREST) {
            n->shape.dims[2 + i] = d * p->factor[i];
        } else if (d % p->factor[i] != 0) {
            return KILN_FAIL(KILN_E_SHAPE,
                             "upsample_nearest_bwd: dim %d (%lld) is not a "
                             "multiple of the factor %d",
                             2 + i, (long long)d, p->factor[i]);
        } else {
            n->shape.dims[2 + i] = d / p->factor[i];
        }
    }
    return KILN_OK;
}

static kiln_status ref_upsample(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_upsample *p = kiln__params(n);
    const int64_t *xd = n->src[0]->shape.dims, *yd = n->shape.dims;
    const float *x = a->in[0];
    float *y = a->out;
    int64_t total = n->n_elems;
#pragma omp parallel for if (total > KILN__PAR_MIN)
    for (int64_t o = 0; o < total; o++) {
        int64_t j = o % yd[3], i = (o / yd[3]) % yd[2], pl = o / (yd[2] * yd[3]);
        y[o] = x[(pl * xd[2] + i / p->factor[0]) * xd[3] + j / p->factor[1]];
    }
    return KILN_OK;
}

static kiln_status ref_upsample_bwd(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_upsample *p = kiln__params(n);
    const int64_t *xd = n->shape.dims, *yd = n->src[0]->shape.dims;
    const float *dy = a->in[0];
    float *dx = a->out;
    int64_t total = n->n_elems;
#pragma omp parallel for if (n->src[0]->n_elems > KILN__PAR_MIN)
    for (int64_t o = 0; o < total; o++) {
        int64_t j = o % xd[3], i = (o / xd[3]) % xd[2], pl = o / (xd[2] * xd[3]);
        float s = 0.0f; /* row-major over the block */
        for (int32_t a0 = 0; a0 < p->factor[0]; a0++) {
            const float *row = dy + (pl * yd[2] + i * p->factor[0] + a0) * yd[3];
            for (int32_t b0 = 0; b0 < p->factor[1]; b0++) {
                s += row[j * p->factor[1] + b0];
            }
        }
        dx[o] = s;
    }
    return KILN_OK;
}

static void bwd_upsample(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                         struct kiln_tensor **dx)
{
    dx[0] = kiln__node(g, KILN_OP_UPSAMPLE_NEAREST_BWD, 1, &dy, n->params,
                       sizeof(struct kiln__p_upsample));
}

static void bwd_upsample_bwd(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *gz,
                             struct kiln_tensor **dx)
{
    dx[0] =
        kiln__node(g, KILN_OP_UPSAMPLE_NEAREST, 1, &gz, n->params, sizeof(struct kiln__p_upsample));
}

const struct kiln__op_desc kiln__desc_UPSAMPLE_NEAREST = {
    .name = "upsample_nearest",
    .n_in = 1,
    .params_bytes = sizeof(struct kiln__p_upsample),
    .infer = infer_upsample,
    .backward = bwd_upsample,
    .cpu_ref = ref_upsample,
    .tol = {0, 0, 0}, /* a copy */
};
const struct kiln__op_desc kiln__desc_UPSAMPLE_NEAREST_BWD = {
    .name = "upsample_nearest_bwd",
    .n_in = 1,
    .params_bytes = sizeof(struct kiln__p_upsample),
    .infer = infer_upsample,
    .backward = bwd_upsample_bwd,
    .cpu_ref = ref_upsample_bwd,
    .tol = {1e-7, 1e-5, 1e-4}, /* a sum of factor_h factor_w values, in any order */
};

/* ==== Builders ==== */

static struct kiln__p_pool2d pool_params(const struct kiln_pool2d_opts *o)
{
    struct kiln__p_pool2d p;
    memset(&p, 0, sizeof(p));
    for (int i = 0; i < 2; i++) {
        p.kernel[i] = o->kernel[i];
        p.stride[i] = o->stride[i] > 0 ? o->stride[i] : o->kernel[i];
        p.pad[i] = o->padding[i];
    }
    p.count_include_pad = o->count_include_pad;
    return p;
}

kiln_tensor *kiln_max_pool2d(kiln_graph *g, kiln_tensor *x, const struct kiln_pool2d_opts *o)
{
    if (g == NULL) {
        return NULL;
    }
    if (o == NULL) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_max_pool2d: options are NULL");
    }
    struct kiln__p_pool2d p = pool_params(o);
    return kiln__node(g, KILN_OP_MAXPOOL2D, 1, &x, &p, sizeof(p));
}

kiln_tensor *kiln_avg_pool2d(kiln_graph *g, kiln_tensor *x, const struct kiln_pool2d_opts *o)
{
    if (g == NULL) {
        return NULL;
    }
    if (o == NULL) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_avg_pool2d: options are NULL");
    }
    struct kiln__p_pool2d p = pool_params(o);
    return kiln__node(g, KILN_OP_AVGPOOL2D, 1, &x, &p, sizeof(p));
}

kiln_tensor *kiln_global_avg_pool2d(kiln_graph *g, kiln_tensor *x)
{
    return kiln_mean(g, x, (1u << 2) | (1u << 3), 1);
}

kiln_tensor *kiln_upsample_nearest2d(kiln_graph *g, kiln_tensor *x, int32_t factor_h,
                                     int32_t factor_w)
{
    if (g == NULL) {
        return NULL;
    }
    struct kiln__p_upsample p = {{factor_h, factor_w}};
    return kiln__node(g, KILN_OP_UPSAMPLE_NEAREST, 1, &x, &p, sizeof(p));
}
