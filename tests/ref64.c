/*
 * ref64.c - double-precision op evaluator and the checks built on it; see ref64.h.
 *
 * Nothing here calls kiln's reference kernels or its broadcasting helpers: indices are
 * computed from the shapes, every op from its definition.
 */
#include "ref64.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Tolerances (all of them, with their reasons) ==== */

/*
 * Forward: the CPU backend's f32 result against the exact (double) value of the op on
 * the same f32 inputs, compared as kiln__compare_f32 does (NMSE, then every element
 * within abs or rel * (|a| + |b|)).
 *  - EXACT: one IEEE operation or a pure data movement (add, sub, mul, div, relu,
 *    leaky relu, broadcast, transpose, reshape, argmax, relu_bwd): f32 rounds the exact
 *    result correctly, so the f32 result equals the double one rounded to f32.
 *  - FEW_ROUNDINGS: a handful of f32 operations and libm's f32 functions (expf, tanhf,
 *    logf, sqrtf: within 1-2 ULP in glibc); rel 1e-6 of |a| + |b| is about 16 ULP, abs
 *    1e-6 covers results that cancel (gelu of negative x, scale-shift near zero).
 *  - DOUBLE_ACC: reductions, softmax and losses accumulate in double and round once;
 *    the bound is that of FEW_ROUNDINGS.
 *  - GEMM: OpenBLAS sums K products in f32; the error grows like sqrt(K) eps times the
 *    size of the terms (K <= 1031, terms <= 1 here), about 1e-5 at worst.
 *  - UPDATE: a few roundings per step, and steps compound (Adam divides by sqrt(v)).
 */
static const struct kiln__tol r64_tol_exact = {0.0, 0.0, 0.0};
static const struct kiln__tol r64_tol_few_roundings = {1e-12, 1e-6, 1e-6};
/*  - GELU_BWD: 1 - t^2 with t = tanhf(u) near -1 cancels: t's rounding (6e-8) times
 *    0.5 |x| K (1 + 3 C x^2) (about 9 at x = -5) and |dy| (<= 3 here) gives 2e-6
 *    absolute where the exact result is about 1e-5 (measured 1e-6). */
static const struct kiln__tol r64_tol_gelu_bwd = {1e-12, 1e-5, 1e-6};
static const struct kiln__tol r64_tol_double_acc = {1e-12, 1e-6, 1e-6};
static const struct kiln__tol r64_tol_gemm = {1e-10, 1e-4, 1e-5};
static const struct kiln__tol r64_tol_update = {1e-12, 1e-6, 1e-5};

/*
 * Gradients: kiln's f32 gradient g against the central difference
 * fd = (L(x + h) - L(x - h)) / 2h of L = sum(y * W) in double, h = 1e-4 max(1, |x|).
 * The difference's own error is h^2 |L'''| / 6 (about 1e-9 for these smooth ops) plus
 * 1e-16 |L| / h; kiln's gradient is a chain of f32 ops whose error is relative to the
 * size of the terms it sums, not to the result. An element passes when
 * |g - fd| <= R64_FD_ABS * scale + R64_FD_REL * |fd|, scale = the largest |fd| of the
 * input's sampled elements. A wrong rule (a missing factor, a wrong sign, a broadcast
 * not summed back) errs by the size of the gradient itself. Elements on a kink
 * (relu at 0, a hinge margin at 0) are detected and skipped (R64_FD_KINK); rows of
 * special values say OH_NO_FD. Measured worst err / scale over all
 * rows: 4e-6 (softmax, whose backward subtracts a row sum), 1e-7 to 4e-7 elsewhere.
 */
#define R64_FD_H       1e-4
#define R64_FD_ABS     2e-5
#define R64_FD_REL     1e-4
#define R64_FD_KINK    1e-2 /* smooth ops: one-sided slopes differ by h |f''| <= 1e-3 |f'| */
#define R64_FD_SAMPLES 16   /* elements checked per input (evenly spaced, first and last) */

static const struct kiln__tol *forward_tol(int op)
{
    switch (op) {
    case KILN_OP_ADD:
    case KILN_OP_SUB:
    case KILN_OP_MUL:
    case KILN_OP_DIV:
    case KILN_OP_RELU:
    case KILN_OP_LEAKY_RELU:
    case KILN_OP_RELU_BWD:
    case KILN_OP_LEAKY_RELU_BWD:
    case KILN_OP_RESHAPE:
    case KILN_OP_TRANSPOSE:
    case KILN_OP_BROADCAST:
    case KILN_OP_ARGMAX:
        return &r64_tol_exact;
    case KILN_OP_MATMUL:
        return &r64_tol_gemm;
    case KILN_OP_REDUCE_SUM:
    case KILN_OP_SOFTMAX:
    case KILN_OP_LOG_SOFTMAX:
    case KILN_OP_SOFTMAX_BWD:
    case KILN_OP_LOG_SOFTMAX_BWD:
    case KILN_OP_MSE:
    case KILN_OP_MSE_BWD:
    case KILN_OP_SOFTMAX_XENT:
    case KILN_OP_SOFTMAX_XENT_BWD:
    case KILN_OP_BCE_LOGITS:
    case KILN_OP_BCE_LOGITS_BWD:
    case KILN_OP_HINGE:
    case KILN_OP_HINGE_BWD:
        return &r64_tol_double_acc;
    case KILN_OP_SGD_UPDATE:
    case KILN_OP_ADAM_UPDATE:
        return &r64_tol_update;
    case KILN_OP_GELU_BWD:
        return &r64_tol_gelu_bwd;
    default:
        return &r64_tol_few_roundings;
    }
}

/* ==== Index arithmetic ==== */

static void unravel(const struct kiln_shape *s, int64_t i, int64_t *c)
{
    for (int32_t k = s->rank - 1; k >= 0; k--) {
        c[k] = i % s->dims[k];
        i /= s->dims[k];
    }
}

static int64_t ravel(const struct kiln_shape *s, const int64_t *c)
{
    int64_t i = 0;
    for (int32_t k = 0; k < s->rank; k++) {
        i = i * s->dims[k] + c[k];
    }
    return i;
}

/* The element of `in` that element o of `out` reads under numpy broadcasting. */
static int64_t bcast_index(const struct kiln_shape *out, const struct kiln_shape *in, int64_t o)
{
    int64_t oc[4], i = 0;
    unravel(out, o, oc);
    int32_t lead = out->rank - in->rank;
    for (int32_t k = 0; k < in->rank; k++) {
        int64_t c = in->dims[k] == 1 ? 0 : oc[k + lead];
        i = i * in->dims[k] + c;
    }
    return i;
}

static void last_axis(const struct kiln_shape *s, int64_t *rows, int64_t *cols)
{
    int64_t n = 1;
    for (int32_t k = 0; k < s->rank; k++) {
        n *= s->dims[k];
    }
    *cols = s->rank > 0 ? s->dims[s->rank - 1] : 1;
    *rows = n / *cols;
}

/* ==== The ops in double ==== */

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

#define GELU_K 0.79788456080286535588 /* sqrt(2 / pi) */
#define GELU_C 0.044715

static double gelu(double x)
{
    return 0.5 * x * (1.0 + tanh(GELU_K * (x + GELU_C * x * x * x)));
}

static double gelu_deriv(double x)
{
    double u = GELU_K * (x + GELU_C * x * x * x);
    double sech2 = 1.0 / (cosh(u) * cosh(u));
    return 0.5 * (1.0 + tanh(u)) + 0.5 * x * sech2 * GELU_K * (1.0 + 3.0 * GELU_C * x * x);
}

static double unary(int op, const struct kiln_tensor *n, double x)
{
    switch (op) {
    case KILN_OP_SCALE_SHIFT: {
        const struct kiln__p_scale_shift *p = (const void *)n->params;
        return (double)p->scale * x + (double)p->shift;
    }
    case KILN_OP_RELU:
        return x > 0 ? x : 0.0;
    case KILN_OP_LEAKY_RELU:
        return x > 0 ? x
                     : (double)((const struct kiln__p_alpha *)(const void *)n->params)->alpha * x;
    case KILN_OP_SIGMOID:
        return sigmoid(x);
    case KILN_OP_TANH:
        return tanh(x);
    case KILN_OP_GELU:
        return gelu(x);
    case KILN_OP_EXP:
        return exp(x);
    case KILN_OP_LOG:
        return log(x);
    default: /* SQRT */
        return sqrt(x);
    }
}

static double unary_bwd(int op, const struct kiln_tensor *n, double v, double g)
{
    switch (op) {
    case KILN_OP_RELU_BWD:
        return v > 0 ? g : 0.0;
    case KILN_OP_LEAKY_RELU_BWD:
        return v > 0 ? g
                     : (double)((const struct kiln__p_alpha *)(const void *)n->params)->alpha * g;
    case KILN_OP_SIGMOID_BWD: /* v = sigmoid(x) */
        return g * v * (1.0 - v);
    case KILN_OP_TANH_BWD: /* v = tanh(x) */
        return g * (1.0 - v * v);
    default: /* GELU_BWD, v = x */
        return g * gelu_deriv(v);
    }
}

static void matmul(const struct kiln_tensor *n, const double *a, const double *b, double *c)
{
    const struct kiln__p_matmul *p = (const void *)n->params;
    const struct kiln_shape *sa = &n->src[0]->shape, *sb = &n->src[1]->shape;
    int32_t r = sa->rank;
    int64_t batch = r == 3 ? sa->dims[0] : 1;
    int64_t m = p->trans_a ? sa->dims[r - 1] : sa->dims[r - 2];
    int64_t k = p->trans_a ? sa->dims[r - 2] : sa->dims[r - 1];
    int64_t nn = p->trans_b ? sb->dims[r - 2] : sb->dims[r - 1];
    for (int64_t bi = 0; bi < batch; bi++) {
        const double *ab = a + bi * m * k, *bb = b + bi * k * nn;
        for (int64_t i = 0; i < m; i++) {
            for (int64_t j = 0; j < nn; j++) {
                double acc = 0.0;
                for (int64_t q = 0; q < k; q++) {
                    double x = p->trans_a ? ab[q * m + i] : ab[i * k + q];
                    double y = p->trans_b ? bb[j * k + q] : bb[q * nn + j];
                    acc += x * y;
                }
                c[bi * m * nn + i * nn + j] = acc;
            }
        }
    }
}

static void softmax_row(const double *x, int64_t cols, double *y, int log_form)
{
    double mx = -INFINITY, s = 0.0;
    for (int64_t c = 0; c < cols; c++) {
        mx = fmax(mx, x[c]);
    }
    for (int64_t c = 0; c < cols; c++) {
        s += exp(x[c] - mx);
    }
    for (int64_t c = 0; c < cols; c++) {
        y[c] = log_form ? x[c] - mx - log(s) : exp(x[c] - mx) / s;
    }
}

static bool valid_label(double y, int64_t cols)
{
    return y >= 0 && y < (double)cols;
}

static void sgd(const struct kiln_tensor *n, double *const *in, int t)
{
    const struct kiln__p_sgd *p = (const void *)n->params;
    double *w = in[0], *v = in[2];
    const double *gr = in[1];
    double lr = p->lr, mom = p->momentum, damp = p->dampening, wd = p->weight_decay;
    for (int64_t i = 0; i < n->src[0]->n_elems; i++) {
        /* torch.optim.SGD: d = g + wd w; b = t == 1 ? d : mom b + (1 - damp) d;
         * d = nesterov ? d + mom b : b (when mom != 0); w -= lr d. */
        double d = gr[i] + wd * w[i];
        if (mom != 0.0) {
            v[i] = t == 1 ? d : mom * v[i] + (1.0 - damp) * d;
            d = p->nesterov ? d + mom * v[i] : v[i];
        }
        w[i] -= lr * d;
    }
}

static void adam(const struct kiln_tensor *n, double *const *in, int t)
{
    const struct kiln__p_adam *p = (const void *)n->params;
    double *w = in[0], *m = in[2], *v = in[3];
    const double *gr = in[1];
    double lr = p->lr, b1 = p->beta1, b2 = p->beta2, eps = p->eps, wd = p->weight_decay;
    double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
    for (int64_t i = 0; i < n->src[0]->n_elems; i++) {
        /* torch.optim.Adam / AdamW */
        double g = gr[i];
        if (p->decoupled) {
            w[i] *= 1.0 - lr * wd;
        } else {
            g += wd * w[i];
        }
        m[i] = b1 * m[i] + (1.0 - b1) * g;
        v[i] = b2 * v[i] + (1.0 - b2) * g * g;
        w[i] -= lr * (m[i] / bc1) / (sqrt(v[i] / bc2) + eps);
    }
}

bool r64_eval_node(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    const struct kiln_shape *os = &n->shape;
    int64_t ne = n->n_elems;
    int op = n->op;
    switch (op) {
    case KILN_OP_ADD:
    case KILN_OP_SUB:
    case KILN_OP_MUL:
    case KILN_OP_DIV:
        for (int64_t o = 0; o < ne; o++) {
            double a = in[0][bcast_index(os, &n->src[0]->shape, o)];
            double b = in[1][bcast_index(os, &n->src[1]->shape, o)];
            out[o] = op == KILN_OP_ADD   ? a + b
                     : op == KILN_OP_SUB ? a - b
                     : op == KILN_OP_MUL ? a * b
                                         : a / b;
        }
        return true;
    case KILN_OP_SCALE_SHIFT:
    case KILN_OP_RELU:
    case KILN_OP_LEAKY_RELU:
    case KILN_OP_SIGMOID:
    case KILN_OP_TANH:
    case KILN_OP_GELU:
    case KILN_OP_EXP:
    case KILN_OP_LOG:
    case KILN_OP_SQRT:
        for (int64_t o = 0; o < ne; o++) {
            out[o] = unary(op, n, in[0][o]);
        }
        return true;
    case KILN_OP_RELU_BWD:
    case KILN_OP_LEAKY_RELU_BWD:
    case KILN_OP_SIGMOID_BWD:
    case KILN_OP_TANH_BWD:
    case KILN_OP_GELU_BWD:
        for (int64_t o = 0; o < ne; o++) {
            out[o] = unary_bwd(op, n, in[0][o], in[1][o]);
        }
        return true;
    case KILN_OP_MATMUL:
        matmul(n, in[0], in[1], out);
        return true;
    case KILN_OP_RESHAPE:
        memcpy(out, in[0], (size_t)ne * sizeof(double));
        return true;
    case KILN_OP_TRANSPOSE: {
        const struct kiln__p_transpose *p = (const void *)n->params;
        for (int64_t o = 0; o < ne; o++) {
            int64_t oc[4], ic[4];
            unravel(os, o, oc);
            for (int32_t k = 0; k < os->rank; k++) {
                ic[p->perm[k]] = oc[k];
            }
            out[o] = in[0][ravel(&n->src[0]->shape, ic)];
        }
        return true;
    }
    case KILN_OP_REDUCE_SUM: {
        const struct kiln__p_reduce *p = (const void *)n->params;
        const struct kiln_shape *is = &n->src[0]->shape;
        memset(out, 0, (size_t)ne * sizeof(double));
        for (int64_t i = 0; i < n->src[0]->n_elems; i++) {
            int64_t c[4];
            unravel(is, i, c);
            for (int32_t k = 0; k < is->rank; k++) {
                if (p->axes & (1u << k)) {
                    c[k] = 0;
                }
            }
            out[ravel(os, c)] += in[0][i];
        }
        for (int64_t o = 0; o < ne; o++) {
            out[o] *= (double)p->scale;
        }
        return true;
    }
    case KILN_OP_BROADCAST: {
        double scale = ((const struct kiln__p_broadcast *)(const void *)n->params)->scale;
        for (int64_t o = 0; o < ne; o++) {
            out[o] = scale * in[0][bcast_index(os, &n->src[0]->shape, o)];
        }
        return true;
    }
    case KILN_OP_ARGMAX: {
        int64_t rows, cols;
        last_axis(&n->src[0]->shape, &rows, &cols);
        for (int64_t r = 0; r < rows; r++) {
            const double *x = in[0] + r * cols;
            /* The first maximum among the non-NaN elements; 0 when all are NaN. */
            int64_t best = -1;
            for (int64_t c = 0; c < cols; c++) {
                if (!isnan(x[c]) && (best < 0 || x[c] > x[best])) {
                    best = c;
                }
            }
            out[r] = best < 0 ? 0.0 : (double)best;
        }
        return true;
    }
    case KILN_OP_SOFTMAX:
    case KILN_OP_LOG_SOFTMAX: {
        int64_t rows, cols;
        last_axis(os, &rows, &cols);
        for (int64_t r = 0; r < rows; r++) {
            softmax_row(in[0] + r * cols, cols, out + r * cols, op == KILN_OP_LOG_SOFTMAX);
        }
        return true;
    }
    case KILN_OP_SOFTMAX_BWD:
    case KILN_OP_LOG_SOFTMAX_BWD: {
        int64_t rows, cols;
        last_axis(os, &rows, &cols);
        for (int64_t r = 0; r < rows; r++) {
            const double *y = in[0] + r * cols, *g = in[1] + r * cols;
            double s = 0.0;
            for (int64_t c = 0; c < cols; c++) {
                s += op == KILN_OP_SOFTMAX_BWD ? g[c] * y[c] : g[c];
            }
            for (int64_t c = 0; c < cols; c++) {
                out[r * cols + c] =
                    op == KILN_OP_SOFTMAX_BWD ? y[c] * (g[c] - s) : g[c] - exp(y[c]) * s;
            }
        }
        return true;
    }
    case KILN_OP_MSE:
    case KILN_OP_BCE_LOGITS: {
        int64_t m = n->src[0]->n_elems;
        double acc = 0.0;
        for (int64_t i = 0; i < m; i++) {
            double x = in[0][i], y = in[1][i];
            if (op == KILN_OP_MSE) {
                acc += (x - y) * (x - y);
            } else {
                /* -(y log s(x) + (1 - y) log(1 - s(x))), in a form exact for large |x| */
                acc += fmax(x, 0.0) - x * y + log1p(exp(-fabs(x)));
            }
        }
        out[0] = acc / (double)m;
        return true;
    }
    case KILN_OP_MSE_BWD:
    case KILN_OP_BCE_LOGITS_BWD:
        for (int64_t i = 0; i < ne; i++) {
            double x = in[0][i], y = in[1][i], dy = in[2][0];
            out[i] = op == KILN_OP_MSE_BWD ? 2.0 * (x - y) * dy / (double)ne
                                           : (sigmoid(x) - y) * dy / (double)ne;
        }
        return true;
    case KILN_OP_SOFTMAX_XENT:
    case KILN_OP_HINGE: {
        int64_t rows = n->src[0]->shape.dims[0], cols = n->src[0]->shape.dims[1];
        double acc = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            const double *x = in[0] + r * cols;
            double lab = in[1][r];
            if (!valid_label(lab, cols)) {
                continue;
            }
            int64_t y = (int64_t)lab;
            if (op == KILN_OP_SOFTMAX_XENT) {
                double mx = -INFINITY, s = 0.0;
                for (int64_t c = 0; c < cols; c++) {
                    mx = fmax(mx, x[c]);
                }
                for (int64_t c = 0; c < cols; c++) {
                    s += exp(x[c] - mx);
                }
                acc += mx + log(s) - x[y];
            } else {
                for (int64_t c = 0; c < cols; c++) {
                    if (c != y) {
                        acc += fmax(0.0, 1.0 - x[y] + x[c]) / (double)cols;
                    }
                }
            }
        }
        out[0] = acc / (double)rows;
        return true;
    }
    case KILN_OP_SOFTMAX_XENT_BWD:
    case KILN_OP_HINGE_BWD: {
        int64_t rows = os->dims[0], cols = os->dims[1];
        double dy = in[2][0];
        for (int64_t r = 0; r < rows; r++) {
            const double *x = in[0] + r * cols;
            double *d = out + r * cols, lab = in[1][r];
            for (int64_t c = 0; c < cols; c++) {
                d[c] = 0.0;
            }
            if (!valid_label(lab, cols)) {
                continue;
            }
            int64_t y = (int64_t)lab;
            if (op == KILN_OP_SOFTMAX_XENT_BWD) {
                softmax_row(x, cols, d, 0);
                d[y] -= 1.0;
                for (int64_t c = 0; c < cols; c++) {
                    d[c] *= dy / (double)rows;
                }
            } else {
                double k = dy / ((double)rows * (double)cols);
                for (int64_t c = 0; c < cols; c++) {
                    if (c != y && 1.0 - x[y] + x[c] > 0.0) {
                        d[c] += k;
                        d[y] -= k;
                    }
                }
            }
        }
        return true;
    }
    case KILN_OP_SGD_UPDATE:
        sgd(n, in, t);
        return true;
    case KILN_OP_ADAM_UPDATE:
        adam(n, in, t);
        return true;
    default:
        return false;
    }
}

/* ==== Evaluating a case graph ==== */

struct r64_graph {
    const struct oh_side *sd;
    int32_t n; /* nodes evaluated: ids 0..n-1 */
    double **val;
};

static void r64_free(struct r64_graph *e)
{
    for (int32_t i = 0; e->val != NULL && i < e->n; i++) {
        free(e->val[i]);
    }
    free(e->val);
    e->val = NULL;
}

/* Allocates a value array per node up to the case output and loads the leaves. */
static bool r64_init(struct r64_graph *e, const struct oh_side *sd, void *const *data, int n_in)
{
    e->sd = sd;
    e->n = sd->y->id + 1;
    e->val = calloc((size_t)e->n, sizeof(*e->val));
    if (e->val == NULL) {
        return false;
    }
    for (int32_t i = 0; i < e->n; i++) {
        const struct kiln_tensor *t = sd->g->nodes[i];
        int64_t ne = t->n_elems;
        e->val[i] = calloc((size_t)(ne > 0 ? ne : 1), sizeof(double));
        if (e->val[i] == NULL) {
            return false;
        }
    }
    for (int k = 0; k < n_in; k++) {
        const struct kiln_tensor *t = sd->in[k];
        double *v = e->val[t->id];
        for (int64_t j = 0; j < t->n_elems; j++) {
            v[j] = t->dtype == KILN_DTYPE_I32 ? (double)((const int32_t *)data[k])[j]
                                              : (double)((const float *)data[k])[j];
        }
    }
    return true;
}

/* Evaluates every op node up to the output (in-place updates at step t). */
static bool r64_forward(struct r64_graph *e, int t)
{
    for (int32_t i = 0; i < e->n; i++) {
        const struct kiln_tensor *nd = e->sd->g->nodes[i];
        if (nd->op == KILN__OP_LEAF) {
            continue;
        }
        double *in[KILN__MAX_SRC] = {NULL, NULL, NULL, NULL};
        for (int k = 0; k < nd->n_src; k++) {
            in[k] = e->val[nd->src[k]->id];
        }
        if (!r64_eval_node(nd, in, e->val[i], t)) {
            return false;
        }
    }
    return true;
}

/* The largest tolerance of the forward nodes of the case. */
static struct kiln__tol case_forward_tol(const struct r64_graph *e)
{
    struct kiln__tol t = {0, 0, 0};
    for (int32_t i = 0; i < e->n; i++) {
        const struct kiln_tensor *nd = e->sd->g->nodes[i];
        if (nd->op != KILN__OP_LEAF) {
            const struct kiln__tol *o = forward_tol(nd->op);
            t.nmse = fmax(t.nmse, o->nmse);
            t.abs = fmax(t.abs, o->abs);
            t.rel = fmax(t.rel, o->rel);
        }
    }
    return t;
}

static void **alloc_inputs(const struct oh_case *c)
{
    void **data = calloc(KILN__MAX_SRC, sizeof(void *));
    if (data == NULL) {
        return NULL;
    }
    for (int i = 0; i < oh_n_in(c); i++) {
        int64_t ne = kiln__shape_elems(&c->shape[i]);
        data[i] = malloc((size_t)(ne > 0 ? ne : 1) * 4);
        if (data[i] == NULL) {
            return data;
        }
        oh_fill_input(c, i, 0, data[i]);
    }
    return data;
}

static void free_inputs(void **data)
{
    for (int i = 0; data != NULL && i < KILN__MAX_SRC; i++) {
        free(data[i]);
    }
    free(data);
}

static bool compare_double(const struct oh_case *c, const char *what, const double *ref,
                           const void *got, int64_t ne, kiln_dtype dt, const struct kiln__tol *tol,
                           char *msg, size_t n)
{
    char desc[256];
    struct kiln__cmp r;
    bool ok;
    if (dt == KILN_DTYPE_I32) {
        int32_t *ri = malloc((size_t)(ne > 0 ? ne : 1) * sizeof(int32_t));
        if (ri == NULL) {
            return false;
        }
        for (int64_t i = 0; i < ne; i++) {
            ri[i] = (int32_t)ref[i];
        }
        ok = kiln__compare_i32(ri, got, ne, &r);
        free(ri);
    } else {
        float *rf = malloc((size_t)(ne > 0 ? ne : 1) * sizeof(float));
        if (rf == NULL) {
            return false;
        }
        for (int64_t i = 0; i < ne; i++) {
            rf[i] = (float)ref[i];
        }
        ok = kiln__compare_f32(rf, got, ne, tol, &r);
        free(rf);
    }
    if (!ok) {
        snprintf(msg, n,
                 "op %s [%s] inputs (%s): cpu %s vs double: %s check failed; max abs %.3g, max "
                 "rel %.3g, nmse %.3g (tol nmse %.1g abs %.1g rel %.1g); worst index %lld: "
                 "double %.9g, cpu %.9g",
                 kiln__op_name(c->op), c->note ? c->note : "", oh_case_desc(c, desc, sizeof(desc)),
                 what, r.why, r.max_abs, r.max_rel, r.nmse, tol->nmse, tol->abs, tol->rel,
                 (long long)r.worst, r.ref_v, r.got_v);
    }
    return ok;
}

bool r64_check_forward(kiln_context *cpu, const struct oh_case *c, char *msg, size_t n)
{
    struct oh_env env = {cpu, cpu, "cpu", 0};
    struct oh_side sd;
    struct r64_graph e = {NULL, 0, NULL};
    bool ok = false;
    msg[0] = '\0';
    memset(&sd, 0, sizeof(sd));
    if (c->flags & OH_NO_DOUBLE) {
        return true;
    }
    void **data = alloc_inputs(c);
    if (data == NULL || !oh_run_side(cpu, &env, c, data, &sd, msg, n)) {
        goto done;
    }
    if (!r64_init(&e, &sd, data, oh_n_in(c))) {
        snprintf(msg, n, "out of host memory");
        goto done;
    }
    const struct kiln__op_desc *d = kiln__ops[c->op];
    int steps = c->steps > 0 ? c->steps : 1;
    for (int t = 1; t <= steps; t++) {
        if ((d->flags & KILN__OPF_INPLACE) && t > 1) {
            const struct kiln_tensor *gt = sd.in[1];
            float *gnew = malloc((size_t)gt->n_elems * sizeof(float));
            if (gnew == NULL) {
                goto done;
            }
            oh_fill_input(c, 1, (uint64_t)t, gnew);
            for (int64_t j = 0; j < gt->n_elems; j++) {
                e.val[gt->id][j] = gnew[j];
            }
            free(gnew);
        }
        if (!r64_forward(&e, t)) {
            snprintf(msg, n, "ref64 has no evaluator for an op of case %s [%s]",
                     kiln__op_name(c->op), c->note ? c->note : "");
            goto done;
        }
    }
    struct kiln__tol tol = case_forward_tol(&e);
    if (d->flags & KILN__OPF_INPLACE) {
        for (int i = 0; i < oh_n_in(c); i++) {
            if (sd.upd[i] != NULL) {
                char what[64];
                snprintf(what, sizeof(what), "updated input %d after %d step(s)", i, steps);
                if (!compare_double(c, what, e.val[sd.in[i]->id], sd.upd[i], sd.in[i]->n_elems,
                                    KILN_DTYPE_F32, &tol, msg, n)) {
                    goto done;
                }
            }
        }
    } else if (!compare_double(c, "output", e.val[sd.y->id], sd.out, sd.y->n_elems, sd.y->dtype,
                               &tol, msg, n)) {
        goto done;
    }
    ok = true;
done:
    r64_free(&e);
    oh_side_free(&sd);
    free_inputs(data);
    return ok;
}

/* L = sum(y * W) in double at the current leaf values. */
static bool loss_at(struct r64_graph *e, const float *w, double *out)
{
    if (!r64_forward(e, 1)) {
        return false;
    }
    const struct kiln_tensor *y = e->sd->y;
    double l = 0.0;
    for (int64_t j = 0; j < y->n_elems; j++) {
        l += e->val[y->id][j] * (double)w[j];
    }
    *out = l;
    return true;
}

bool r64_check_gradient(kiln_context *cpu, const struct oh_case *c, char *msg, size_t n)
{
    struct oh_env env = {cpu, cpu, "cpu", 0};
    struct oh_side sd;
    struct r64_graph e = {NULL, 0, NULL};
    float *w = NULL;
    bool ok = false;
    msg[0] = '\0';
    memset(&sd, 0, sizeof(sd));
    if (!oh_has_backward(c) || (c->flags & (OH_NO_FD | OH_NO_DOUBLE))) {
        return true;
    }
    void **data = alloc_inputs(c);
    if (data == NULL || !oh_run_side(cpu, &env, c, data, &sd, msg, n)) {
        goto done;
    }
    if (sd.w == NULL) {
        ok = true; /* i32 or empty output: nothing to differentiate */
        goto done;
    }
    w = malloc((size_t)sd.y->n_elems * sizeof(float));
    if (w == NULL || !r64_init(&e, &sd, data, oh_n_in(c))) {
        snprintf(msg, n, "out of host memory");
        goto done;
    }
    oh_fill_weights(c, sd.y->n_elems, w);
    for (int i = 0; i < oh_n_in(c); i++) {
        if (sd.grad[i] == NULL) {
            continue;
        }
        const struct kiln_tensor *t = sd.in[i];
        const float *g = sd.grad[i];
        double *x = e.val[t->id];
        int64_t ne = t->n_elems, n_s = ne < R64_FD_SAMPLES ? ne : R64_FD_SAMPLES;
        double fd[R64_FD_SAMPLES], scale = 0.0;
        bool kink[R64_FD_SAMPLES];
        int64_t idx[R64_FD_SAMPLES];
        for (int64_t s = 0; s < n_s; s++) {
            idx[s] = n_s > 1 ? s * (ne - 1) / (n_s - 1) : 0;
            double x0 = x[idx[s]], h = R64_FD_H * fmax(1.0, fabs(x0)), lp, lm, l0;
            bool ok0 = loss_at(&e, w, &l0);
            x[idx[s]] = x0 + h;
            bool okp = loss_at(&e, w, &lp);
            x[idx[s]] = x0 - h;
            bool okm = loss_at(&e, w, &lm);
            x[idx[s]] = x0;
            if (!ok0 || !okp || !okm) {
                snprintf(msg, n, "ref64 has no evaluator for an op of case %s",
                         kiln__op_name(c->op));
                goto done;
            }
            fd[s] = (lp - lm) / (2.0 * h);
            /* A kink inside [x - h, x + h] (relu at 0, a hinge margin at 0) shows as
             * one-sided differences that disagree; such an element is skipped. */
            double fwd = (lp - l0) / h, bwd = (l0 - lm) / h;
            kink[s] = fabs(fwd - bwd) > R64_FD_KINK * (fabs(fwd) + fabs(bwd));
            if (!kink[s]) {
                scale = fmax(scale, fabs(fd[s]));
            }
        }
        int64_t n_checked = 0;
        for (int64_t s = 0; s < n_s; s++) {
            if (kink[s]) {
                continue;
            }
            n_checked++;
            double err = fabs((double)g[idx[s]] - fd[s]);
            if (getenv("R64_VERBOSE") != NULL) {
                printf("fd %s [%s] input %d element %lld: kiln %.9g fd %.9g err/scale %.3g\n",
                       kiln__op_name(c->op), c->note ? c->note : "", i, (long long)idx[s],
                       (double)g[idx[s]], fd[s], scale > 0 ? err / scale : err);
            }
            if (!(err <= R64_FD_ABS * scale + R64_FD_REL * fabs(fd[s]))) {
                char desc[256];
                snprintf(msg, n,
                         "op %s [%s] inputs (%s): gradient of input %d, element %lld: kiln (cpu) "
                         "%.9g, central difference in double %.9g (|err| %.3g > %.1g * %.3g + "
                         "%.1g * |fd|)",
                         kiln__op_name(c->op), c->note ? c->note : "",
                         oh_case_desc(c, desc, sizeof(desc)), i, (long long)idx[s],
                         (double)g[idx[s]], fd[s], err, R64_FD_ABS, scale, R64_FD_REL);
                goto done;
            }
        }
        if (n_checked == 0) {
            snprintf(msg, n, "op %s [%s]: every sampled element of input %d sits on a kink",
                     kiln__op_name(c->op), c->note ? c->note : "", i);
            goto done;
        }
    }
    ok = true;
done:
    r64_free(&e);
    oh_side_free(&sd);
    free_inputs(data);
    free(w);
    return ok;
}
