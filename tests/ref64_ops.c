/*
 * ref64_ops.c - every op of op_list.h reimplemented in double from its definition
 * (include/kiln/graph.h, op_list.h, PyTorch for the optimizers), and the table of
 * evaluators and forward tolerances (ref64.h). Nothing here calls kiln's reference
 * kernels or its broadcasting helpers: indices are computed from the shapes.
 */
#include <math.h>
#include <string.h>

#include "ref64.h"

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
    int64_t oc[KILN_MAX_DIMS], i = 0;
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

/* ==== The ops in double, by family ==== */

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

static void eval_sgd(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    (void)out;
    const struct kiln__p_sgd *p = (const void *)n->params;
    double *w = in[0], *v = in[2], *gr = in[1];
    double lr = p->lr, mom = p->momentum, damp = p->dampening, wd = p->weight_decay;
    for (int64_t i = 0; i < n->src[0]->n_elems; i++) {
        /* torch.optim.SGD: d = g + wd w; b = t == 1 ? d : mom b + (1 - damp) d;
         * d = nesterov ? d + mom b : b (when mom != 0); w -= lr d. Then zero_grad()
         * when clear_grad is set. */
        double d = gr[i] + wd * w[i];
        gr[i] = p->clear_grad ? 0.0 : gr[i];
        if (mom != 0.0) {
            v[i] = t == 1 ? d : mom * v[i] + (1.0 - damp) * d;
            d = p->nesterov ? d + mom * v[i] : v[i];
        }
        w[i] -= lr * d;
    }
}

static void eval_accum(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    (void)out;
    (void)t;
    const struct kiln__p_accum *p = (const void *)n->params;
    for (int64_t i = 0; i < n->src[0]->n_elems; i++) {
        /* dst = alpha dst + beta x, a zero coefficient dropping its term */
        double v = p->alpha == 0.0f ? 0.0 : p->alpha * in[0][i];
        in[0][i] = p->beta == 0.0f ? v : v + p->beta * in[1][i];
    }
}

static void eval_adam(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    (void)out;
    const struct kiln__p_adam *p = (const void *)n->params;
    double *w = in[0], *m = in[2], *v = in[3], *gr = in[1];
    double lr = p->lr, b1 = p->beta1, b2 = p->beta2, eps = p->eps, wd = p->weight_decay;
    double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
    for (int64_t i = 0; i < n->src[0]->n_elems; i++) {
        /* torch.optim.Adam / AdamW, then zero_grad() when clear_grad is set */
        double g = gr[i];
        gr[i] = p->clear_grad ? 0.0 : gr[i];
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

static void eval_rmsprop(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    (void)out;
    (void)t;
    const struct kiln__p_rmsprop *p = (const void *)n->params;
    double *w = in[0], *v = in[2];
    const double *gr = in[1];
    for (int64_t i = 0; i < n->src[0]->n_elems; i++) {
        /* torch.optim.RMSprop (no momentum, not centered) */
        double g = gr[i] + (double)p->weight_decay * w[i];
        v[i] = (double)p->alpha * v[i] + (1.0 - (double)p->alpha) * g * g;
        w[i] -= (double)p->lr * g / (sqrt(v[i]) + (double)p->eps);
    }
}

static void eval_adagrad(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    (void)out;
    (void)t;
    const struct kiln__p_adagrad *p = (const void *)n->params;
    double *w = in[0], *s = in[2];
    const double *gr = in[1];
    for (int64_t i = 0; i < n->src[0]->n_elems; i++) {
        /* torch.optim.Adagrad with the step's rate lr */
        double g = gr[i] + (double)p->weight_decay * w[i];
        s[i] += g * g;
        w[i] -= (double)p->lr * g / (sqrt(s[i]) + (double)p->eps);
    }
}

static void eval_binary(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    const struct kiln_shape *os = &n->shape;
    (void)t;
    for (int64_t o = 0; o < n->n_elems; o++) {
        double a = in[0][bcast_index(os, &n->src[0]->shape, o)];
        double b = in[1][bcast_index(os, &n->src[1]->shape, o)];
        out[o] = n->op == KILN_OP_ADD        ? a + b
                 : n->op == KILN_OP_SUB      ? a - b
                 : n->op == KILN_OP_MUL      ? a * b
                 : n->op == KILN_OP_ADD_RELU ? (a + b > 0.0 ? a + b : 0.0)
                                             : a / b;
    }
}

static void eval_unary(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    (void)t;
    for (int64_t o = 0; o < n->n_elems; o++) {
        out[o] = unary(n->op, n, in[0][o]);
    }
}

static void eval_unary_bwd(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    (void)t;
    for (int64_t o = 0; o < n->n_elems; o++) {
        out[o] = unary_bwd(n->op, n, in[0][o], in[1][o]);
    }
}

static void eval_reshape(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    (void)t;
    memcpy(out, in[0], (size_t)n->n_elems * sizeof(double));
}

static void eval_transpose(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    const struct kiln__p_transpose *p = (const void *)n->params;
    (void)t;
    for (int64_t o = 0; o < n->n_elems; o++) {
        int64_t oc[KILN_MAX_DIMS], ic[KILN_MAX_DIMS];
        unravel(&n->shape, o, oc);
        for (int32_t k = 0; k < n->shape.rank; k++) {
            ic[p->perm[k]] = oc[k];
        }
        out[o] = in[0][ravel(&n->src[0]->shape, ic)];
    }
}

static void eval_reduce_sum(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    const struct kiln__p_reduce *p = (const void *)n->params;
    const struct kiln_shape *is = &n->src[0]->shape;
    (void)t;
    memset(out, 0, (size_t)n->n_elems * sizeof(double));
    for (int64_t i = 0; i < n->src[0]->n_elems; i++) {
        int64_t c[KILN_MAX_DIMS];
        unravel(is, i, c);
        for (int32_t k = 0; k < is->rank; k++) {
            if (p->axes & (1u << k)) {
                c[k] = 0;
            }
        }
        out[ravel(&n->shape, c)] += in[0][i];
    }
    for (int64_t o = 0; o < n->n_elems; o++) {
        out[o] *= (double)p->scale;
    }
}

static void eval_broadcast(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    double scale = ((const struct kiln__p_broadcast *)(const void *)n->params)->scale;
    (void)t;
    for (int64_t o = 0; o < n->n_elems; o++) {
        out[o] = scale * in[0][bcast_index(&n->shape, &n->src[0]->shape, o)];
    }
}

static void eval_argmax(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    int64_t rows, cols;
    (void)t;
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
}

static void eval_softmax(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    int64_t rows, cols;
    (void)t;
    last_axis(&n->shape, &rows, &cols);
    for (int64_t r = 0; r < rows; r++) {
        softmax_row(in[0] + r * cols, cols, out + r * cols, n->op == KILN_OP_LOG_SOFTMAX);
    }
}

/* (y, dy): softmax y (dy - sum(dy y)); log-softmax dy - e^y sum(dy). */
static void eval_softmax_bwd(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    int64_t rows, cols;
    bool soft = n->op == KILN_OP_SOFTMAX_BWD;
    (void)t;
    last_axis(&n->shape, &rows, &cols);
    for (int64_t r = 0; r < rows; r++) {
        const double *y = in[0] + r * cols, *g = in[1] + r * cols;
        double s = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            s += soft ? g[c] * y[c] : g[c];
        }
        for (int64_t c = 0; c < cols; c++) {
            out[r * cols + c] = soft ? y[c] * (g[c] - s) : g[c] - exp(y[c]) * s;
        }
    }
}

/* mse and bce with logits: means over all elements. */
static void eval_pair_loss(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    int64_t m = n->src[0]->n_elems;
    double acc = 0.0;
    (void)t;
    for (int64_t i = 0; i < m; i++) {
        double x = in[0][i], y = in[1][i];
        if (n->op == KILN_OP_MSE) {
            acc += (x - y) * (x - y);
        } else {
            /* -(y log s(x) + (1 - y) log(1 - s(x))), in a form exact for large |x| */
            acc += fmax(x, 0.0) - x * y + log1p(exp(-fabs(x)));
        }
    }
    out[0] = acc / (double)m;
}

static void eval_pair_loss_bwd(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    int64_t ne = n->n_elems;
    (void)t;
    for (int64_t i = 0; i < ne; i++) {
        double x = in[0][i], y = in[1][i], dy = in[2][0];
        out[i] = n->op == KILN_OP_MSE_BWD ? 2.0 * (x - y) * dy / (double)ne
                                          : (sigmoid(x) - y) * dy / (double)ne;
    }
}

/* softmax cross-entropy and hinge: means over rows; invalid labels add 0. */
static void eval_label_loss(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    int64_t rows = n->src[0]->shape.dims[0], cols = n->src[0]->shape.dims[1];
    double acc = 0.0;
    (void)t;
    for (int64_t r = 0; r < rows; r++) {
        const double *x = in[0] + r * cols;
        if (!valid_label(in[1][r], cols)) {
            continue;
        }
        int64_t y = (int64_t)in[1][r];
        if (n->op == KILN_OP_SOFTMAX_XENT) {
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
                acc += c != y ? fmax(0.0, 1.0 - x[y] + x[c]) / (double)cols : 0.0;
            }
        }
    }
    out[0] = acc / (double)rows;
}

static void eval_label_loss_bwd(const struct kiln_tensor *n, double *const *in, double *out, int t);

/* SOFTMAX_XENT_FUSED: the gradient's rows cols values, then the loss, as the two ops;
 * with a fourth source (a rider), ARGMAX of the scores written into it. */
static void eval_xent_fused(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    int64_t rows = n->src[0]->shape.dims[0], cols = n->src[0]->shape.dims[1];
    double acc = 0.0;
    eval_label_loss_bwd(n, in, out, t);
    for (int64_t r = 0; r < rows; r++) {
        const double *x = in[0] + r * cols;
        if (!valid_label(in[1][r], cols)) {
            continue;
        }
        double mx = -INFINITY, s = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            mx = fmax(mx, x[c]);
        }
        for (int64_t c = 0; c < cols; c++) {
            s += exp(x[c] - mx);
        }
        acc += mx + log(s) - x[(int64_t)in[1][r]];
    }
    out[rows * cols] = acc / (double)rows;
    if (n->n_src == 4) {
        eval_argmax(n, in, in[3], t); /* it reads n->src[0]'s shape and in[0] */
    }
}

static void eval_label_loss_bwd(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    int64_t rows = n->src[0]->shape.dims[0], cols = n->src[0]->shape.dims[1];
    double dy = in[2][0];
    (void)t;
    memset(out, 0, (size_t)(rows * cols) * sizeof(double));
    for (int64_t r = 0; r < rows; r++) {
        const double *x = in[0] + r * cols;
        double *d = out + r * cols;
        if (!valid_label(in[1][r], cols)) {
            continue;
        }
        int64_t y = (int64_t)in[1][r];
        if (n->op != KILN_OP_HINGE_BWD) {
            softmax_row(x, cols, d, 0);
            d[y] -= 1.0;
            for (int64_t c = 0; c < cols; c++) {
                d[c] *= dy / (double)rows;
            }
            continue;
        }
        double k = dy / ((double)rows * (double)cols);
        for (int64_t c = 0; c < cols; c++) {
            if (c != y && 1.0 - x[y] + x[c] > 0.0) {
                d[c] += k;
                d[y] -= k;
            }
        }
    }
}

/* ==== The table: evaluator and forward tolerance (ref64.h) of every op ==== */

const struct r64_op r64_ops[KILN_OP_COUNT] = {
    [KILN_OP_ADD] = {eval_binary, R64_TOL_EXACT},
    [KILN_OP_SUB] = {eval_binary, R64_TOL_EXACT},
    [KILN_OP_MUL] = {eval_binary, R64_TOL_EXACT},
    [KILN_OP_DIV] = {eval_binary, R64_TOL_EXACT},
    [KILN_OP_ADD_RELU] = {eval_binary, R64_TOL_EXACT},
    [KILN_OP_SCALE_SHIFT] = {eval_unary, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_RELU] = {eval_unary, R64_TOL_EXACT},
    [KILN_OP_LEAKY_RELU] = {eval_unary, R64_TOL_EXACT},
    [KILN_OP_SIGMOID] = {eval_unary, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_TANH] = {eval_unary, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_GELU] = {eval_unary, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_EXP] = {eval_unary, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_LOG] = {eval_unary, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_SQRT] = {eval_unary, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_RELU_BWD] = {eval_unary_bwd, R64_TOL_EXACT},
    [KILN_OP_LEAKY_RELU_BWD] = {eval_unary_bwd, R64_TOL_EXACT},
    [KILN_OP_SIGMOID_BWD] = {eval_unary_bwd, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_TANH_BWD] = {eval_unary_bwd, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_GELU_BWD] = {eval_unary_bwd, R64_TOL_GELU_BWD},
    /* MATMUL: tests/ops/test_gemm.c */
    [KILN_OP_RESHAPE] = {eval_reshape, R64_TOL_EXACT},
    [KILN_OP_TRANSPOSE] = {eval_transpose, R64_TOL_EXACT},
    [KILN_OP_REDUCE_SUM] = {eval_reduce_sum, R64_TOL_DOUBLE_ACC},
    [KILN_OP_BROADCAST] = {eval_broadcast, R64_TOL_EXACT},
    [KILN_OP_ARGMAX] = {eval_argmax, R64_TOL_EXACT},
    [KILN_OP_SOFTMAX] = {eval_softmax, R64_TOL_DOUBLE_ACC},
    [KILN_OP_LOG_SOFTMAX] = {eval_softmax, R64_TOL_DOUBLE_ACC},
    [KILN_OP_SOFTMAX_BWD] = {eval_softmax_bwd, R64_TOL_DOUBLE_ACC},
    [KILN_OP_LOG_SOFTMAX_BWD] = {eval_softmax_bwd, R64_TOL_DOUBLE_ACC},
    [KILN_OP_MSE] = {eval_pair_loss, R64_TOL_DOUBLE_ACC},
    [KILN_OP_MSE_BWD] = {eval_pair_loss_bwd, R64_TOL_DOUBLE_ACC},
    [KILN_OP_SOFTMAX_XENT] = {eval_label_loss, R64_TOL_DOUBLE_ACC},
    [KILN_OP_SOFTMAX_XENT_BWD] = {eval_label_loss_bwd, R64_TOL_DOUBLE_ACC},
    [KILN_OP_SOFTMAX_XENT_FUSED] = {eval_xent_fused, R64_TOL_DOUBLE_ACC},
    [KILN_OP_BCE_LOGITS] = {eval_pair_loss, R64_TOL_DOUBLE_ACC},
    [KILN_OP_BCE_LOGITS_BWD] = {eval_pair_loss_bwd, R64_TOL_DOUBLE_ACC},
    [KILN_OP_HINGE] = {eval_label_loss, R64_TOL_DOUBLE_ACC},
    [KILN_OP_HINGE_BWD] = {eval_label_loss_bwd, R64_TOL_DOUBLE_ACC},
    [KILN_OP_SGD_UPDATE] = {eval_sgd, R64_TOL_UPDATE},
    [KILN_OP_ADAM_UPDATE] = {eval_adam, R64_TOL_UPDATE},
    [KILN_OP_RMSPROP_UPDATE] = {eval_rmsprop, R64_TOL_UPDATE},
    [KILN_OP_ADAGRAD_UPDATE] = {eval_adagrad, R64_TOL_UPDATE},
    [KILN_OP_ACCUMULATE] = {eval_accum, R64_TOL_UPDATE},
    /* convolutional-network ops: ref64_conv.c */
    [KILN_OP_CONV2D] = {r64_eval_conv, R64_TOL_CONV},
    [KILN_OP_CONV2D_BWD_DATA] = {r64_eval_conv, R64_TOL_CONV},
    [KILN_OP_CONV2D_BWD_FILTER] = {r64_eval_conv, R64_TOL_CONV},
    [KILN_OP_MAXPOOL2D] = {r64_eval_conv, R64_TOL_EXACT},
    [KILN_OP_MAXPOOL2D_BWD] = {r64_eval_conv, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_MAXPOOL2D_RELU_BWD] = {r64_eval_conv, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_AVGPOOL2D] = {r64_eval_conv, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_AVGPOOL2D_BWD] = {r64_eval_conv, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_UPSAMPLE_NEAREST] = {r64_eval_conv, R64_TOL_EXACT},
    [KILN_OP_UPSAMPLE_NEAREST_BWD] = {r64_eval_conv, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_BN_STATS] = {r64_eval_conv, R64_TOL_BN},
    [KILN_OP_BN_STATS_BWD] = {r64_eval_conv, R64_TOL_BN},
    [KILN_OP_BN_APPLY] = {r64_eval_conv, R64_TOL_BN},
    [KILN_OP_BN_APPLY_BWD] = {r64_eval_conv, R64_TOL_BN},
    [KILN_OP_BN_APPLY_BWD_PARAMS] = {r64_eval_conv, R64_TOL_BN},
    [KILN_OP_BN_RUNNING_UPDATE] = {r64_eval_conv, R64_TOL_UPDATE},
    [KILN_OP_LRN] = {r64_eval_conv, R64_TOL_FEW_ROUNDINGS},
    [KILN_OP_LRN_BWD] = {r64_eval_conv, R64_TOL_BN},
    [KILN_OP_CONCAT] = {r64_eval_conv, R64_TOL_EXACT},
    [KILN_OP_SLICE] = {r64_eval_conv, R64_TOL_EXACT},
    [KILN_OP_PAD] = {r64_eval_conv, R64_TOL_EXACT},
    [KILN_OP_DROPOUT] = {r64_eval_conv, R64_TOL_FEW_ROUNDINGS},
};
