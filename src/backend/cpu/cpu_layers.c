/*
 * cpu_layers.c - the CPU backend's fast kernels for the cheap ops around a convolution
 * or a dense layer: ReLU and its gradient, additions with a broadcast operand (a bias, a
 * residual), broadcasts (the gradient of a mean), sums over the axes of a bias gradient,
 * and 2x2 stride-2 max pooling with its gradient; and the planner's fusions of them
 * (src/graph/fuse.c): ADD_RELU (a bias and ReLU in one pass), MAXPOOL2D_RELU_BWD (the ReLU's mask
 * applied as the pooling's gradient is spread) and the bias and ReLU that the forward convolution
 * adds to each chunk of its output (kiln__cpu_bias_rows, for CONV2D_BIAS). Each gives the same
 * values as its reference in src/ops (bitwise, except REDUCE_SUM, whose double-precision sums run
 * in another order); what differs is the loop structure: no per-element index arithmetic or bounds
 * tests, no branch on the data, and loops the compiler vectorizes
 * (`omp simd`, honoured at -O2 with -fopenmp or -fopenmp-simd). The loops run on the
 * calling thread below KILN__CPU_PAR_ELEMS elements (cpu_impl.h), on OpenMP threads
 * above.
 */
#include <math.h>
#include <string.h>

#include "../../context_impl.h"
#include "cpu_impl.h"

/* ==== ReLU ==== */

/* Elements per work item of the elementwise loops: the threads (above KILN__CPU_PAR_ELEMS) take
 * whole blocks, and each block is one vectorized loop. */
#define BLOCK ((int64_t)1 << 14)

static void relu_block(const float *x, float *y, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

static void relu_bwd_block(const float *x, const float *dy, float *dx, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], g = dy[i];
        dx[i] = v > 0.0f ? g : 0.0f;
    }
}

static kiln_status fast_relu(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    const float *x = a->in[0];
    float *y = a->out;
    int64_t n = a->node->n_elems, n_blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for if (n > KILN__CPU_PAR_ELEMS)
    for (int64_t b = 0; b < n_blocks; b++) {
        int64_t i = b * BLOCK;
        relu_block(x + i, y + i, n - i < BLOCK ? n - i : BLOCK);
    }
    return KILN_OK;
}

static kiln_status fast_relu_bwd(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    const float *x = a->in[0], *dy = a->in[1];
    float *dx = a->out;
    int64_t n = a->node->n_elems, n_blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for if (n > KILN__CPU_PAR_ELEMS)
    for (int64_t b = 0; b < n_blocks; b++) {
        int64_t i = b * BLOCK;
        relu_bwd_block(x + i, dy + i, dx + i, n - i < BLOCK ? n - i : BLOCK);
    }
    return KILN_OK;
}

/* ==== Broadcasting addition ==== */

/*
 * An operation over up to 4 dims where adjacent dims that every operand walks
 * contiguously (or not at all) have been merged: y[i0, i1, i2, i3] = a[...] + b[...],
 * with stride 0 along a broadcast dim. After merging, the last dim is usually the long
 * run: a whole plane for a per-channel bias, a row for a dense layer's bias.
 */
struct bcast {
    int32_t rank;
    int64_t d[4], sa[4], sb[4];
};

/* Merges the node's dims (kiln__iter_bcast); false when more than 4 remain. */
static bool bcast_of(const struct kiln_tensor *n, struct bcast *m)
{
    const struct kiln_shape *ops[3] = {NULL, &n->src[0]->shape, &n->src[1]->shape};
    struct kiln__iter it;
    kiln__iter_bcast(&n->shape, 3, ops, &it);
    if (it.rank > 4) {
        return false;
    }
    kiln__iter_pad(&it, 3, 4);
    m->rank = 4;
    for (int k = 0; k < 4; k++) {
        m->d[k] = it.dims[k];
        m->sa[k] = it.strides[1][k];
        m->sb[k] = it.strides[2][k];
    }
    return true;
}

/* y[0..n) = a[i sa] + b[i sb] for a run whose strides are 0 or 1. */
static void add_run(const float *a, int64_t sa, const float *b, int64_t sb, float *y, int64_t n)
{
    if (sa == 1 && sb == 1) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            y[i] = a[i] + b[i];
        }
    } else if (sa == 1) {
        float v = b[0];
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            y[i] = a[i] + v;
        }
    } else if (sb == 1) {
        float v = a[0];
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            y[i] = v + b[i];
        }
    } else {
        float v = a[0] + b[0];
        for (int64_t i = 0; i < n; i++) {
            y[i] = v;
        }
    }
}

/* ADD_RELU's run: max(0, a + b) of the rounded sum, as ADD then RELU give it. */
static inline float relu_of(float s)
{
    return s > 0.0f ? s : 0.0f;
}

static void add_relu_run(const float *a, int64_t sa, const float *b, int64_t sb, float *y,
                         int64_t n)
{
    if (sa == 1 && sb == 1) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            y[i] = relu_of(a[i] + b[i]);
        }
    } else if (sa == 1) {
        float v = b[0];
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            y[i] = relu_of(a[i] + v);
        }
    } else if (sb == 1) {
        float v = a[0];
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            y[i] = relu_of(v + b[i]);
        }
    } else {
        float v = relu_of(a[0] + b[0]);
        for (int64_t i = 0; i < n; i++) {
            y[i] = v;
        }
    }
}

/* The last merged dim is walked with stride 0 or 1 by both operands. */
static bool add_accepts(const struct kiln_tensor *n)
{
    struct bcast m;
    return n->n_elems > 0 && bcast_of(n, &m) && (m.sa[3] == 0 || m.sa[3] == 1) &&
           (m.sb[3] == 0 || m.sb[3] == 1);
}

/* One run of the merged last dim: add_run or add_relu_run. */
typedef void (*run_fn)(const float *a, int64_t sa, const float *b, int64_t sb, float *y, int64_t n);

static void bcast_rows(const struct kiln__op_args *a, run_fn run)
{
    struct bcast m;
    bcast_of(a->node, &m);
    const float *pa = a->in[0], *pb = a->in[1];
    float *y = a->out;
    int64_t rows = m.d[0] * m.d[1] * m.d[2];
#pragma omp parallel for if (a->node->n_elems > KILN__CPU_PAR_ELEMS)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i0 = r / (m.d[1] * m.d[2]), i1 = (r / m.d[2]) % m.d[1], i2 = r % m.d[2];
        run(pa + i0 * m.sa[0] + i1 * m.sa[1] + i2 * m.sa[2], m.sa[3],
            pb + i0 * m.sb[0] + i1 * m.sb[1] + i2 * m.sb[2], m.sb[3], y + r * m.d[3], m.d[3]);
    }
}

static kiln_status fast_add(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    bcast_rows(a, add_run);
    return KILN_OK;
}

/* ==== Broadcast ==== */

/* BROADCAST's dims merged as ADD's (bcast_of), x's strides in sa. */
static bool expand_of(const struct kiln_tensor *n, struct bcast *m)
{
    const struct kiln_shape *ops[2] = {NULL, &n->src[0]->shape};
    struct kiln__iter it;
    kiln__iter_bcast(&n->shape, 2, ops, &it);
    if (it.rank > 4) {
        return false;
    }
    kiln__iter_pad(&it, 2, 4);
    for (int k = 0; k < 4; k++) {
        m->d[k] = it.dims[k];
        m->sa[k] = it.strides[1][k];
        m->sb[k] = 0;
    }
    m->rank = 4;
    return true;
}

/* The last merged dim is copied (stride 1) or filled (stride 0): the gradient of a
 * global average pool, a mean over trailing axes. */
static bool broadcast_accepts(const struct kiln_tensor *n)
{
    struct bcast m;
    return n->n_elems > 0 && expand_of(n, &m) && (m.sa[3] == 0 || m.sa[3] == 1);
}

static kiln_status fast_broadcast(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    float scale = ((const struct kiln__p_broadcast *)kiln__params(a->node))->scale;
    struct bcast m;
    expand_of(a->node, &m);
    const float *x = a->in[0];
    float *y = a->out;
    int64_t rows = m.d[0] * m.d[1] * m.d[2], len = m.d[3];
#pragma omp parallel for if (a->node->n_elems > KILN__CPU_PAR_ELEMS)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i0 = r / (m.d[1] * m.d[2]), i1 = (r / m.d[2]) % m.d[1], i2 = r % m.d[2];
        const float *xr = x + i0 * m.sa[0] + i1 * m.sa[1] + i2 * m.sa[2];
        float *yr = y + r * len;
        if (m.sa[3] == 1) {
#pragma omp simd
            for (int64_t i = 0; i < len; i++) {
                yr[i] = scale * xr[i];
            }
        } else {
            float v = scale * xr[0];
#pragma omp simd
            for (int64_t i = 0; i < len; i++) {
                yr[i] = v;
            }
        }
    }
    return KILN_OK;
}

/* ADD_RELU (the planner's fusion of ADD then RELU): one pass instead of two. */
static kiln_status fast_add_relu(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    bcast_rows(a, add_relu_run);
    return KILN_OK;
}

/* ==== A convolution's bias and ReLU ==== */

void kiln__cpu_bias_rows(float *y, int64_t rows, int64_t ld, const float *bias, bool relu)
{
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * ld;
        if (relu) {
            add_relu_run(yr, 1, bias + r, 0, yr, ld);
        } else {
            add_run(yr, 1, bias + r, 0, yr, ld);
        }
    }
}

/* ==== Sums over the axes of a bias gradient ==== */

/*
 * REDUCE_SUM of x viewed as [outer, kept, inner], summing over outer and inner: the
 * gradient of a per-channel bias ([N, C, H, W] over N, H, W: outer N, kept C, inner
 * H W), of a dense layer's bias ([N, F] over N: inner 1), or a sum over trailing or all
 * axes. Accumulates in double, as the reference does.
 */
struct okl {
    int64_t outer, kept, inner;
};

/* Whether the reduced axes are a leading and a trailing block around the kept ones. */
static bool okl_of(const struct kiln_tensor *n, struct okl *s)
{
    const struct kiln__p_reduce *p = kiln__params(n);
    const struct kiln_shape *x = &n->src[0]->shape;
    int32_t k = 0;
    s->outer = s->kept = s->inner = 1;
    for (; k < x->rank && (p->axes & (1u << k)); k++) {
        s->outer *= x->dims[k];
    }
    for (; k < x->rank && !(p->axes & (1u << k)); k++) {
        s->kept *= x->dims[k];
    }
    for (; k < x->rank && (p->axes & (1u << k)); k++) {
        s->inner *= x->dims[k];
    }
    return k == x->rank;
}

static bool reduce_accepts(const struct kiln_tensor *n)
{
    struct okl s;
    return okl_of(n, &s) && n->src[0]->n_elems > 0;
}

static kiln_status fast_reduce(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    const struct kiln__p_reduce *p = kiln__params(a->node);
    struct okl s;
    okl_of(a->node, &s);
    const float *x = a->in[0];
    float *y = a->out;
    if (s.inner > 1 || s.outer == 1) {
#pragma omp parallel for if (a->node->src[0]->n_elems > KILN__CPU_PAR_ELEMS)
        for (int64_t k = 0; k < s.kept; k++) {
            double acc = 0.0;
            for (int64_t o = 0; o < s.outer; o++) {
                const float *row = x + (o * s.kept + k) * s.inner;
#pragma omp simd reduction(+ : acc)
                for (int64_t i = 0; i < s.inner; i++) {
                    acc += row[i];
                }
            }
            y[k] = (float)(acc * p->scale);
        }
        return KILN_OK;
    }
    /* inner == 1: rows of kept sums, accumulated across outer rows. */
    double *acc = kiln__calloc(ctx, (size_t)s.kept * sizeof(double), "a sum's accumulators");
    if (acc == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    for (int64_t o = 0; o < s.outer; o++) {
        const float *row = x + o * s.kept;
#pragma omp simd
        for (int64_t k = 0; k < s.kept; k++) {
            acc[k] += row[k];
        }
    }
    for (int64_t k = 0; k < s.kept; k++) {
        y[k] = (float)(acc[k] * p->scale);
    }
    kiln__free(ctx, acc);
    return KILN_OK;
}

/* ==== 2x2 stride-2 max pooling ==== */

/* Kernel 2x2, stride 2, no padding: windows tile the plane without overlap. */
static bool pool_accepts(const struct kiln_tensor *n)
{
    const struct kiln__p_pool2d *p = kiln__params(n);
    return p->kernel[0] == 2 && p->kernel[1] == 2 && p->stride[0] == 2 && p->stride[1] == 2 &&
           p->pad[0] == 0 && p->pad[1] == 0;
}

/* The reference's rule for the next element v of a window whose winner so far is m:
 * v wins when larger, or when NaN over a number; the first of equals stays. */
static inline bool wins(float v, float m)
{
    return v > m || (isnan(v) && !isnan(m));
}

static kiln_status fast_maxpool(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    const int64_t *xd = a->node->src[0]->shape.dims, *yd = a->node->shape.dims;
    int64_t planes = xd[0] * xd[1], w = xd[3], oh = yd[2], ow = yd[3];
    const float *x = a->in[0];
    float *y = a->out;
#pragma omp parallel for if (a->node->src[0]->n_elems > KILN__CPU_PAR_ELEMS)
    for (int64_t pl = 0; pl < planes; pl++) {
        for (int64_t r = 0; r < oh; r++) {
            const float *x0 = x + pl * xd[2] * w + 2 * r * w, *x1 = x0 + w;
            float *yr = y + (pl * oh + r) * ow;
#pragma omp simd
            for (int64_t c = 0; c < ow; c++) {
                float m = x0[2 * c], v = x0[2 * c + 1];
                m = wins(v, m) ? v : m;
                v = x1[2 * c];
                m = wins(v, m) ? v : m;
                v = x1[2 * c + 1];
                yr[c] = wins(v, m) ? v : m;
            }
        }
    }
    return KILN_OK;
}

/* MAXPOOL2D_BWD of a->node, then (relu) RELU_BWD's mask x > 0 applied to each pair of rows
 * of dx while they are in cache: MAXPOOL2D_RELU_BWD in one pass over dx. The mask stays out
 * of the window loop, which the compiler vectorizes only as it stands. */
static void pool_bwd(const struct kiln__op_args *a, bool relu)
{
    const int64_t *xd = a->node->shape.dims, *yd = a->node->src[1]->shape.dims;
    int64_t planes = xd[0] * xd[1], h = xd[2], w = xd[3], oh = yd[2], ow = yd[3];
    const float *x = a->in[0], *dy = a->in[1];
    float *dx = a->out;
#pragma omp parallel for if (a->node->n_elems > KILN__CPU_PAR_ELEMS)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *dp = dx + pl * h * w;
        for (int64_t r = 0; r < oh; r++) {
            const float *x0 = x + pl * h * w + 2 * r * w, *x1 = x0 + w;
            const float *g = dy + (pl * oh + r) * ow;
            float *d0 = dp + 2 * r * w, *d1 = d0 + w;
#pragma omp simd
            for (int64_t c = 0; c < ow; c++) {
                /* winner q in window order 0..3, as the reference's scan picks it */
                float m = x0[2 * c], v = x0[2 * c + 1];
                int q = 0;
                q = wins(v, m) ? 1 : q;
                m = wins(v, m) ? v : m;
                v = x1[2 * c];
                q = wins(v, m) ? 2 : q;
                m = wins(v, m) ? v : m;
                v = x1[2 * c + 1];
                q = wins(v, m) ? 3 : q;
                /* the reference adds dy to a zeroed plane: 0 + dy (+0 for a dy of -0) */
                float gv = 0.0f + g[c];
                d0[2 * c] = q == 0 ? gv : 0.0f;
                d0[2 * c + 1] = q == 1 ? gv : 0.0f;
                d1[2 * c] = q == 2 ? gv : 0.0f;
                d1[2 * c + 1] = q == 3 ? gv : 0.0f;
            }
            /* an odd last column belongs to no window */
            if (w > 2 * ow) {
                memset(d0 + 2 * ow, 0, (size_t)(w - 2 * ow) * sizeof(float));
                memset(d1 + 2 * ow, 0, (size_t)(w - 2 * ow) * sizeof(float));
            }
            if (relu) {
                /* RELU_BWD's x > 0 ? g : 0 over both rows (x0, x1 and d0, d1 are
                 * adjacent) */
#pragma omp simd
                for (int64_t i = 0; i < 2 * w; i++) {
                    d0[i] = x0[i] > 0.0f ? d0[i] : 0.0f;
                }
            }
        }
        /* and so does an odd last row */
        memset(dp + 2 * oh * w, 0, (size_t)((h - 2 * oh) * w) * sizeof(float));
    }
}

static kiln_status fast_maxpool_bwd(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    pool_bwd(a, false);
    return KILN_OK;
}

/* MAXPOOL2D_RELU_BWD (the planner's fusion of MAXPOOL2D_BWD then RELU_BWD on the same x):
 * the ReLU's mask applied as the gradient is spread, one pass over dx instead of two. */
static kiln_status fast_maxpool_relu_bwd(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    pool_bwd(a, true);
    return KILN_OK;
}

const struct kiln__cpu_fast kiln__cpu_relu = {NULL, fast_relu};
const struct kiln__cpu_fast kiln__cpu_relu_bwd = {NULL, fast_relu_bwd};
const struct kiln__cpu_fast kiln__cpu_add = {add_accepts, fast_add};
const struct kiln__cpu_fast kiln__cpu_add_relu = {add_accepts, fast_add_relu};
const struct kiln__cpu_fast kiln__cpu_reduce_sum = {reduce_accepts, fast_reduce};
const struct kiln__cpu_fast kiln__cpu_broadcast = {broadcast_accepts, fast_broadcast};
const struct kiln__cpu_fast kiln__cpu_maxpool2d = {pool_accepts, fast_maxpool};
const struct kiln__cpu_fast kiln__cpu_maxpool2d_bwd = {pool_accepts, fast_maxpool_bwd};
const struct kiln__cpu_fast kiln__cpu_maxpool2d_relu_bwd = {pool_accepts, fast_maxpool_relu_bwd};
