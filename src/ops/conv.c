/*
 * conv.c - 2-D convolution over NCHW tensors (PyTorch's Conv2d: stride, zero padding,
 * dilation and groups, depthwise included) and its two adjoints:
 *  - CONV2D_BWD_DATA(dy, w) -> dx, the adjoint in x. With dy an input it is also the
 *    transposed convolution (PyTorch's ConvTranspose2d, whose weight [C_in, C_out/groups,
 *    KH, KW] is exactly a conv2d weight [K, C/groups, KH, KW] read the other way).
 *  - CONV2D_BWD_FILTER(x, dy) -> dw, the adjoint in w.
 * CONV2D_BIAS is a CONV2D, then ADD of a bias per output channel, then (relu set) RELU:
 * the references composed. It has no builder and no backward rule: the planner puts it
 * in place of a CONV2D read only by such an ADD or ADD_RELU (a convolution layer's bias
 * and ReLU) on backends whose kernel for the node adds them (src/graph/fuse.c).
 * The three are linear in each input, so each one's backward rule is written with the
 * other two: the family is closed under differentiation (transposed convolutions train,
 * and second derivatives exist).
 *
 * CPU reference: per image and group, im2col (the receptive fields as columns) and one
 * cblas_sgemm; the data adjoint is sgemm then col2im, accumulating overlapping windows.
 * GPU kernels may compute any summation order: the tolerance is a reduction's.
 */
#include <cblas.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "family.h"

/* ==== Geometry ==== */

struct geom {
    int64_t n, c, h, w;     /* x (or dx) */
    int64_t k, kh, kw;      /* w (or dw): [k, cg, kh, kw] */
    int64_t oh, ow;         /* y (or dy) */
    int64_t groups, cg, kg; /* channels per group: input cg = c / groups, output kg */
    const struct kiln__p_conv2d *p;
};

static int64_t out_len(int64_t in, int64_t k, int32_t s, int32_t p, int32_t d)
{
    int64_t span = in + 2 * (int64_t)p - (int64_t)d * (k - 1) - 1;
    return span < 0 ? 0 : span / s + 1;
}

/* The shapes of x, w and y of node n, whichever of them is its output. */
static void geom_of(const struct kiln_tensor *n, struct geom *g)
{
    const struct kiln_shape *x, *w, *y;
    if (n->op == KILN_OP_CONV2D || n->op == KILN_OP_CONV2D_BIAS) {
        x = &n->src[0]->shape, w = &n->src[1]->shape, y = &n->shape;
    } else if (n->op == KILN_OP_CONV2D_BWD_DATA) {
        x = &n->shape, w = &n->src[1]->shape, y = &n->src[0]->shape;
    } else {
        x = &n->src[0]->shape, w = &n->shape, y = &n->src[1]->shape;
    }
    g->p = kiln__params(n);
    g->n = x->dims[0], g->c = x->dims[1], g->h = x->dims[2], g->w = x->dims[3];
    g->k = w->dims[0], g->kh = w->dims[2], g->kw = w->dims[3];
    g->oh = y->dims[2], g->ow = y->dims[3];
    g->groups = g->p->groups;
    g->cg = g->c / g->groups;
    g->kg = g->k / g->groups;
}

static kiln_status bad_params(const struct kiln_tensor *n)
{
    const struct kiln__p_conv2d *p = kiln__params(n);
    for (int i = 0; i < 2; i++) {
        if (p->stride[i] < 1 || p->dilation[i] < 1 || p->pad[i] < 0) {
            return KILN_FAIL(KILN_E_INVALID_ARG,
                             "%s: stride (%d, %d) and dilation (%d, %d) must be >= 1 and padding "
                             "(%d, %d) >= 0",
                             kiln__ops[n->op]->name, p->stride[0], p->stride[1], p->dilation[0],
                             p->dilation[1], p->pad[0], p->pad[1]);
        }
    }
    if (p->groups < 1) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: groups is %d; must be >= 1",
                         kiln__ops[n->op]->name, p->groups);
    }
    return KILN_OK;
}

/* Checks a full geometry: channel counts against groups, and the output size. */
static kiln_status check_geom(const struct kiln_tensor *n, int64_t c, int64_t wc, int64_t k,
                              int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t oh, int64_t ow)
{
    const struct kiln__p_conv2d *p = kiln__params(n);
    const char *op = kiln__ops[n->op]->name;
    if (c % p->groups != 0 || k % p->groups != 0 || wc * p->groups != c) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "%s: %lld input and %lld output channels with %d groups need a weight "
                         "of %lld channels per group, got %lld",
                         op, (long long)c, (long long)k, p->groups, (long long)(c / p->groups),
                         (long long)wc);
    }
    int64_t eh = out_len(h, kh, p->stride[0], p->pad[0], p->dilation[0]);
    int64_t ew = out_len(w, kw, p->stride[1], p->pad[1], p->dilation[1]);
    if (eh < 1 || ew < 1 || (oh >= 0 && (eh != oh || ew != ow))) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "%s: input %lldx%lld with kernel %lldx%lld, stride (%d, %d), padding "
                         "(%d, %d), dilation (%d, %d) gives output %lldx%lld%s",
                         op, (long long)h, (long long)w, (long long)kh, (long long)kw, p->stride[0],
                         p->stride[1], p->pad[0], p->pad[1], p->dilation[0], p->dilation[1],
                         (long long)eh, (long long)ew, oh >= 0 ? ", not the gradient's size" : "");
    }
    return KILN_OK;
}

static kiln_status want_f32_4d(const struct kiln_tensor *n, int i)
{
    KILN_TRY(kiln__want_dtype(n, i, KILN_DTYPE_F32));
    return kiln__want_rank(n, i, 4);
}

static kiln_status infer_conv(struct kiln_tensor *n)
{
    KILN_TRY(want_f32_4d(n, 0));
    KILN_TRY(want_f32_4d(n, 1));
    KILN_TRY(bad_params(n));
    const int64_t *x = n->src[0]->shape.dims, *w = n->src[1]->shape.dims;
    const struct kiln__p_conv2d *p = kiln__params(n);
    KILN_TRY(check_geom(n, x[1], w[1], w[0], x[2], x[3], w[2], w[3], -1, -1));
    n->shape.rank = 4;
    n->shape.dims[0] = x[0];
    n->shape.dims[1] = w[0];
    n->shape.dims[2] = out_len(x[2], w[2], p->stride[0], p->pad[0], p->dilation[0]);
    n->shape.dims[3] = out_len(x[3], w[3], p->stride[1], p->pad[1], p->dilation[1]);
    return KILN_OK;
}

/* Whether a bias of shape b lies along dim 1 (the channels) of y [N, K, OH, OW]: K
 * elements, [K] itself or, right-aligned against y, 1 everywhere but at dim 1 ([K, 1, 1],
 * [1, K, 1, 1]: a convolution layer's bias as its ADD broadcasts it). */
static bool bias_fits(const struct kiln_shape *b, const struct kiln_shape *y)
{
    int64_t k = y->dims[1];
    if (y->rank != 4 || b->rank < 1 || b->rank > 4 || kiln__shape_elems(b) != k) {
        return false;
    }
    if (b->rank == 1) {
        return true;
    }
    for (int32_t d = 0; d < b->rank; d++) {
        if (b->dims[d] != 1 && 4 - b->rank + d != 1) {
            return false;
        }
    }
    return true;
}

/* The convolution's sources and params, then a bias of K elements, one per output
 * channel. */
static kiln_status infer_conv_bias(struct kiln_tensor *n)
{
    KILN_TRY(infer_conv(n));
    KILN_TRY(kiln__want_dtype(n, 2, KILN_DTYPE_F32));
    char sb[64];
    if (!bias_fits(&n->src[2]->shape, &n->shape)) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "conv2d_bias: the bias is %s; it must hold one value per output channel "
                         "(%lld), as [K] or along dim 1",
                         kiln__shape_str(&n->src[2]->shape, sb, sizeof(sb)),
                         (long long)n->shape.dims[1]);
    }
    return KILN_OK;
}

static kiln_status infer_bwd_data(struct kiln_tensor *n)
{
    KILN_TRY(want_f32_4d(n, 0));
    KILN_TRY(want_f32_4d(n, 1));
    KILN_TRY(bad_params(n));
    const int64_t *dy = n->src[0]->shape.dims, *w = n->src[1]->shape.dims;
    const struct kiln__p_conv2d *p = kiln__params(n);
    if (dy[1] != w[0] || p->in_hw[0] < 1 || p->in_hw[1] < 1) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "conv2d_bwd_data: dy has %lld channels, the weight %lld outputs; input "
                         "size %dx%d",
                         (long long)dy[1], (long long)w[0], p->in_hw[0], p->in_hw[1]);
    }
    int64_t c = w[1] * p->groups;
    KILN_TRY(check_geom(n, c, w[1], w[0], p->in_hw[0], p->in_hw[1], w[2], w[3], dy[2], dy[3]));
    n->shape.rank = 4;
    n->shape.dims[0] = dy[0];
    n->shape.dims[1] = c;
    n->shape.dims[2] = p->in_hw[0];
    n->shape.dims[3] = p->in_hw[1];
    return KILN_OK;
}

static kiln_status infer_bwd_filter(struct kiln_tensor *n)
{
    KILN_TRY(want_f32_4d(n, 0));
    KILN_TRY(want_f32_4d(n, 1));
    KILN_TRY(bad_params(n));
    const int64_t *x = n->src[0]->shape.dims, *dy = n->src[1]->shape.dims;
    const struct kiln__p_conv2d *p = kiln__params(n);
    if (x[0] != dy[0] || p->kernel[0] < 1 || p->kernel[1] < 1) {
        return KILN_FAIL(KILN_E_SHAPE, "conv2d_bwd_filter: batch %lld vs %lld; kernel %dx%d",
                         (long long)x[0], (long long)dy[0], p->kernel[0], p->kernel[1]);
    }
    int64_t wc = x[1] / p->groups;
    KILN_TRY(check_geom(n, x[1], wc, dy[1], x[2], x[3], p->kernel[0], p->kernel[1], dy[2], dy[3]));
    n->shape.rank = 4;
    n->shape.dims[0] = dy[1];
    n->shape.dims[1] = wc;
    n->shape.dims[2] = p->kernel[0];
    n->shape.dims[3] = p->kernel[1];
    return KILN_OK;
}

/* ==== CPU reference ==== */

/* col[(c KH + i) KW + j][oh OW + ow] = x[c, oh sh - ph + i dh, ow sw - pw + j dw] (0 out of
 * range), for the cg channels of one group of one image. */
static void im2col(const float *x, const struct geom *g, float *col)
{
    const struct kiln__p_conv2d *p = g->p;
    int64_t ohw = g->oh * g->ow;
    for (int64_t c = 0; c < g->cg; c++) {
        for (int64_t i = 0; i < g->kh; i++) {
            for (int64_t j = 0; j < g->kw; j++) {
                float *row = col + ((c * g->kh + i) * g->kw + j) * ohw;
                for (int64_t oh = 0; oh < g->oh; oh++) {
                    int64_t ih = oh * p->stride[0] - p->pad[0] + i * p->dilation[0];
                    const float *xr = x + (c * g->h + ih) * g->w;
                    for (int64_t ow = 0; ow < g->ow; ow++) {
                        int64_t iw = ow * p->stride[1] - p->pad[1] + j * p->dilation[1];
                        bool in = ih >= 0 && ih < g->h && iw >= 0 && iw < g->w;
                        row[oh * g->ow + ow] = in ? xr[iw] : 0.0f;
                    }
                }
            }
        }
    }
}

/* The adjoint of im2col: x[...] += col[...] for every in-range entry. */
static void col2im(const float *col, const struct geom *g, float *x)
{
    const struct kiln__p_conv2d *p = g->p;
    int64_t ohw = g->oh * g->ow;
    for (int64_t c = 0; c < g->cg; c++) {
        for (int64_t i = 0; i < g->kh; i++) {
            for (int64_t j = 0; j < g->kw; j++) {
                const float *row = col + ((c * g->kh + i) * g->kw + j) * ohw;
                for (int64_t oh = 0; oh < g->oh; oh++) {
                    int64_t ih = oh * p->stride[0] - p->pad[0] + i * p->dilation[0];
                    if (ih < 0 || ih >= g->h) {
                        continue;
                    }
                    float *xr = x + (c * g->h + ih) * g->w;
                    for (int64_t ow = 0; ow < g->ow; ow++) {
                        int64_t iw = ow * p->stride[1] - p->pad[1] + j * p->dilation[1];
                        if (iw >= 0 && iw < g->w) {
                            xr[iw] += row[oh * g->ow + ow];
                        }
                    }
                }
            }
        }
    }
}

static float *alloc_col(const struct kiln_tensor *n, const struct geom *g)
{
    size_t nb = (size_t)(g->cg * g->kh * g->kw * g->oh * g->ow) * sizeof(float);
    return kiln__alloc(n->graph->ctx, nb ? nb : sizeof(float), "a convolution's column buffer");
}

static kiln_status ref_conv(const struct kiln__op_args *a)
{
    struct geom g;
    geom_of(a->node, &g);
    float *col = alloc_col(a->node, &g);
    if (col == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    const float *x = a->in[0], *w = a->in[1];
    float *y = a->out;
    int64_t ohw = g.oh * g.ow, ckk = g.cg * g.kh * g.kw;
    for (int64_t b = 0; b < g.n; b++) {
        for (int64_t gr = 0; gr < g.groups; gr++) {
            im2col(x + (b * g.c + gr * g.cg) * g.h * g.w, &g, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g.kg, (int)ohw, (int)ckk,
                        1.0f, w + gr * g.kg * ckk, (int)ckk, col, (int)ohw, 0.0f,
                        y + (b * g.k + gr * g.kg) * ohw, (int)ohw);
        }
    }
    kiln__free(a->node->graph->ctx, col);
    return KILN_OK;
}

/* ref_conv, then ref_add's sum of the rounded convolution and its channel's bias, then
 * ref_relu's x > 0 ? x : 0. */
static kiln_status ref_conv_bias(const struct kiln__op_args *a)
{
    const struct kiln__p_conv2d_bias *p = kiln__params(a->node);
    KILN_TRY(ref_conv(a));
    const int64_t *y = a->node->shape.dims;
    const float *bias = a->in[2];
    float *out = a->out;
    int64_t hw = y[2] * y[3];
    for (int64_t i = 0; i < a->node->n_elems; i++) {
        float v = out[i] + bias[(i / hw) % y[1]];
        out[i] = p->relu && !(v > 0.0f) ? 0.0f : v;
    }
    return KILN_OK;
}

static kiln_status ref_bwd_data(const struct kiln__op_args *a)
{
    struct geom g;
    geom_of(a->node, &g);
    float *col = alloc_col(a->node, &g);
    if (col == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    const float *dy = a->in[0], *w = a->in[1];
    float *dx = a->out;
    int64_t ohw = g.oh * g.ow, ckk = g.cg * g.kh * g.kw;
    memset(dx, 0, (size_t)a->node->n_elems * sizeof(float));
    for (int64_t b = 0; b < g.n; b++) {
        for (int64_t gr = 0; gr < g.groups; gr++) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ckk, (int)ohw, (int)g.kg,
                        1.0f, w + gr * g.kg * ckk, (int)ckk, dy + (b * g.k + gr * g.kg) * ohw,
                        (int)ohw, 0.0f, col, (int)ohw);
            col2im(col, &g, dx + (b * g.c + gr * g.cg) * g.h * g.w);
        }
    }
    kiln__free(a->node->graph->ctx, col);
    return KILN_OK;
}

static kiln_status ref_bwd_filter(const struct kiln__op_args *a)
{
    struct geom g;
    geom_of(a->node, &g);
    float *col = alloc_col(a->node, &g);
    if (col == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    const float *x = a->in[0], *dy = a->in[1];
    float *dw = a->out;
    int64_t ohw = g.oh * g.ow, ckk = g.cg * g.kh * g.kw;
    for (int64_t b = 0; b < g.n; b++) {
        for (int64_t gr = 0; gr < g.groups; gr++) {
            im2col(x + (b * g.c + gr * g.cg) * g.h * g.w, &g, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g.kg, (int)ckk, (int)ohw,
                        1.0f, dy + (b * g.k + gr * g.kg) * ohw, (int)ohw, col, (int)ohw,
                        b == 0 ? 0.0f : 1.0f, dw + gr * g.kg * ckk, (int)ckk);
        }
    }
    kiln__free(a->node->graph->ctx, col);
    return KILN_OK;
}

/* ==== Backward rules ==== */

static struct kiln_tensor *conv_node(kiln_graph *g, int op, struct kiln_tensor *a,
                                     struct kiln_tensor *b, const struct kiln__p_conv2d *base,
                                     const struct kiln_shape *x, const struct kiln_shape *w)
{
    struct kiln__p_conv2d p = *base;
    struct kiln_tensor *src[2] = {a, b};
    p.in_hw[0] = p.in_hw[1] = 0;
    p.kernel[0] = p.kernel[1] = 0;
    if (op == KILN_OP_CONV2D_BWD_DATA) {
        p.in_hw[0] = (int32_t)x->dims[2];
        p.in_hw[1] = (int32_t)x->dims[3];
    } else if (op == KILN_OP_CONV2D_BWD_FILTER) {
        p.kernel[0] = (int32_t)w->dims[2];
        p.kernel[1] = (int32_t)w->dims[3];
    }
    return kiln__node(g, op, 2, src, &p, sizeof(p));
}

/* y = conv(x, w): dx = bwd_data(dy, w), dw = bwd_filter(x, dy). */
static void bwd_conv(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                     struct kiln_tensor **dx)
{
    const struct kiln__p_conv2d *p = kiln__params(n);
    struct kiln_tensor *x = n->src[0], *w = n->src[1];
    if (kiln__needs_grad(x)) {
        dx[0] = conv_node(g, KILN_OP_CONV2D_BWD_DATA, dy, w, p, &x->shape, &w->shape);
    }
    if (kiln__needs_grad(w)) {
        dx[1] = conv_node(g, KILN_OP_CONV2D_BWD_FILTER, x, dy, p, &x->shape, &w->shape);
    }
}

/* z = bwd_data(d, w) (z has x's shape): dd = conv(G, w), dw = bwd_filter(G, d). */
static void bwd_bwd_data(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *gz,
                         struct kiln_tensor **dx)
{
    const struct kiln__p_conv2d *p = kiln__params(n);
    struct kiln_tensor *d = n->src[0], *w = n->src[1];
    if (kiln__needs_grad(d)) {
        dx[0] = conv_node(g, KILN_OP_CONV2D, gz, w, p, &n->shape, &w->shape);
    }
    if (kiln__needs_grad(w)) {
        dx[1] = conv_node(g, KILN_OP_CONV2D_BWD_FILTER, gz, d, p, &n->shape, &w->shape);
    }
}

/* z = bwd_filter(x, d) (z has w's shape): dx = bwd_data(d, G), dd = conv(x, G). */
static void bwd_bwd_filter(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *gz,
                           struct kiln_tensor **dx)
{
    const struct kiln__p_conv2d *p = kiln__params(n);
    struct kiln_tensor *x = n->src[0], *d = n->src[1];
    if (kiln__needs_grad(x)) {
        dx[0] = conv_node(g, KILN_OP_CONV2D_BWD_DATA, d, gz, p, &x->shape, &n->shape);
    }
    if (kiln__needs_grad(d)) {
        dx[1] = conv_node(g, KILN_OP_CONV2D, x, gz, p, &x->shape, &n->shape);
    }
}

/* Sums of C/groups KH KW (forward), K/groups KH KW (data) or N OH OW (filter) products,
 * in any order on each backend: kiln__tol_reduction. */
#define CONV_DESC(NAME, lname, inf, bwd, ref)                                                      \
    const struct kiln__op_desc kiln__desc_##NAME = {                                               \
        .name = lname,                                                                             \
        .n_in = 2,                                                                                 \
        .params_bytes = sizeof(struct kiln__p_conv2d),                                             \
        .infer = inf,                                                                              \
        .backward = bwd,                                                                           \
        .cpu_ref = ref,                                                                            \
        .tol = {1e-7, 1e-4, 1e-3},                                                                 \
    }

CONV_DESC(CONV2D, "conv2d", infer_conv, bwd_conv, ref_conv);
CONV_DESC(CONV2D_BWD_DATA, "conv2d_bwd_data", infer_bwd_data, bwd_bwd_data, ref_bwd_data);
CONV_DESC(CONV2D_BWD_FILTER, "conv2d_bwd_filter", infer_bwd_filter, bwd_bwd_filter, ref_bwd_filter);

/* Formed by the planner after differentiation: no backward rule. */
const struct kiln__op_desc kiln__desc_CONV2D_BIAS = {
    .name = "conv2d_bias",
    .n_in = 3,
    .params_bytes = sizeof(struct kiln__p_conv2d_bias),
    .infer = infer_conv_bias,
    .cpu_ref = ref_conv_bias,
    .tol = {1e-7, 1e-4, 1e-3}, /* as CONV2D's */
};

/* ==== Builders ==== */

static struct kiln__p_conv2d params_of(const struct kiln_conv2d_opts *o)
{
    struct kiln_conv2d_opts d = KILN_CONV2D_OPTS_INIT;
    struct kiln__p_conv2d p;
    memset(&p, 0, sizeof(p));
    if (o == NULL) {
        o = &d;
    }
    for (int i = 0; i < 2; i++) {
        p.stride[i] = o->stride[i];
        p.pad[i] = o->padding[i];
        p.dilation[i] = o->dilation[i];
    }
    p.groups = o->groups;
    return p;
}

kiln_tensor *kiln_conv2d(kiln_graph *g, kiln_tensor *x, kiln_tensor *w,
                         const struct kiln_conv2d_opts *o)
{
    if (g == NULL) {
        return NULL;
    }
    struct kiln__p_conv2d p = params_of(o);
    struct kiln_tensor *src[2] = {x, w};
    return kiln__node(g, KILN_OP_CONV2D, 2, src, &p, sizeof(p));
}

kiln_tensor *kiln_conv_transpose2d(kiln_graph *g, kiln_tensor *x, kiln_tensor *w,
                                   const struct kiln_conv2d_opts *o)
{
    if (g == NULL) {
        return NULL;
    }
    struct kiln_conv2d_opts d = KILN_CONV2D_OPTS_INIT;
    o = o != NULL ? o : &d;
    struct kiln__p_conv2d p = params_of(o);
    struct kiln_tensor *src[2] = {x, w};
    if (x == NULL || w == NULL || (x->flags & KILN__F_POISON) || (w->flags & KILN__F_POISON)) {
        return kiln__node(g, KILN_OP_CONV2D_BWD_DATA, 2, src, &p, sizeof(p));
    }
    if (x->shape.rank != 4 || w->shape.rank != 4) {
        return kiln__graph_fail(g, KILN_E_SHAPE,
                                "conv_transpose2d: x ('%s') and w ('%s') must be rank 4", x->name,
                                w->name);
    }
    for (int i = 0; i < 2; i++) {
        if (o->output_padding[i] < 0 || o->output_padding[i] >= o->stride[i]) {
            return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                    "conv_transpose2d: output_padding %d must be in [0, stride %d)",
                                    o->output_padding[i], o->stride[i]);
        }
        /* (in - 1) stride - 2 pad + dilation (k - 1) + output_padding + 1 */
        int64_t len = (x->shape.dims[2 + i] - 1) * o->stride[i] - 2 * (int64_t)o->padding[i] +
                      (int64_t)o->dilation[i] * (w->shape.dims[2 + i] - 1) + o->output_padding[i] +
                      1;
        p.in_hw[i] = (int32_t)(len > 0 ? len : 0);
    }
    return kiln__node(g, KILN_OP_CONV2D_BWD_DATA, 2, src, &p, sizeof(p));
}
