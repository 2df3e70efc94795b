/*
 * golden_cases.c - the op golden cases (one row per case, every op of op_list.h at least
 * once) and the deterministic input generators they share with the dump program and
 * the test. Shapes are small so that the committed files stay small.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "golden.h"
#include "op_harness.h"

#define U(lo, hi)                                                                                  \
    {                                                                                              \
        GD_UNIFORM, lo, hi                                                                         \
    }
#define AWAY(lo, hi)                                                                               \
    {                                                                                              \
        GD_AWAY, lo, hi                                                                            \
    }
#define LAB(lo, hi)                                                                                \
    {                                                                                              \
        GD_LABELS, lo, hi                                                                          \
    }

#define I1 (1u << 1) /* input 1 is i32 */

const struct gd_case gd_cases[] = {
    /* ---- binary ---- */
    {"add_same", KILN_OP_ADD, {GD_S2(3, 5), GD_S2(3, 5)}},
    {"add_bcast_row", KILN_OP_ADD, {GD_S2(4, 5), GD_S1(5)}},
    {"add_bcast_both", KILN_OP_ADD, {GD_S2(3, 1), GD_S2(1, 4)}},
    {"add_bcast_3d", KILN_OP_ADD, {GD_S3(2, 3, 4), GD_S2(3, 1)}},
    {"sub_bcast", KILN_OP_SUB, {GD_S3(2, 3, 4), GD_S1(4)}},
    {"sub_same", KILN_OP_SUB, {GD_S2(4, 3), GD_S2(4, 3)}},
    {"mul_same", KILN_OP_MUL, {GD_S2(4, 6), GD_S2(4, 6)}},
    {"mul_bcast_4d", KILN_OP_MUL, {GD_S4(2, 3, 2, 4), GD_S4(1, 3, 1, 4)}},
    {"div_same", KILN_OP_DIV, {GD_S2(3, 5), GD_S2(3, 5)}, .gen = {U(-2, 2), AWAY(0.5f, 2)}},
    {"div_bcast", KILN_OP_DIV, {GD_S2(4, 5), GD_S1(5)}, .gen = {U(-2, 2), AWAY(0.5f, 2)}},
    /* ---- unary ---- */
    {"scale_shift", KILN_OP_SCALE_SHIFT, {GD_S2(4, 5)}, .p.ss = {1.5f, -0.25f}},
    {"relu", KILN_OP_RELU, {GD_S2(5, 7)}, .gen = {U(-2, 2)}},
    {"leaky_relu", KILN_OP_LEAKY_RELU, {GD_S2(5, 7)}, .p.alpha = {0.1f}, .gen = {U(-2, 2)}},
    {"sigmoid", KILN_OP_SIGMOID, {GD_S2(4, 8)}, .gen = {U(-8, 8)}},
    {"tanh", KILN_OP_TANH, {GD_S2(4, 8)}, .gen = {U(-4, 4)}},
    {"gelu", KILN_OP_GELU, {GD_S2(4, 8)}, .gen = {U(-5, 5)}},
    {"exp", KILN_OP_EXP, {GD_S2(4, 6)}, .gen = {U(-4, 4)}},
    {"log", KILN_OP_LOG, {GD_S2(4, 6)}, .gen = {U(0.1f, 5)}},
    {"sqrt", KILN_OP_SQRT, {GD_S2(4, 6)}, .gen = {U(0.1f, 5)}},
    {"relu_bwd", KILN_OP_RELU_BWD, {GD_S2(4, 6), GD_S2(4, 6)}, .gen = {U(-2, 2)}},
    {"leaky_relu_bwd",
     KILN_OP_LEAKY_RELU_BWD,
     {GD_S2(4, 6), GD_S2(4, 6)},
     .p.alpha = {0.2f},
     .gen = {U(-2, 2)}},
    {"sigmoid_bwd",
     KILN_OP_SIGMOID_BWD,
     {GD_S2(4, 6), GD_S2(4, 6)},
     .gen = {{GD_SIGMOID_OF, -4, 4}}},
    {"tanh_bwd", KILN_OP_TANH_BWD, {GD_S2(4, 6), GD_S2(4, 6)}, .gen = {{GD_TANH_OF, -2, 2}}},
    {"gelu_bwd", KILN_OP_GELU_BWD, {GD_S2(4, 6), GD_S2(4, 6)}, .gen = {U(-4, 4)}},
    /* ---- gemm ---- */
    {"matmul_nn", KILN_OP_MATMUL, {GD_S2(5, 7), GD_S2(7, 3)}},
    {"matmul_tn", KILN_OP_MATMUL, {GD_S2(7, 5), GD_S2(7, 3)}, .p.mm = {1, 0}},
    {"matmul_nt", KILN_OP_MATMUL, {GD_S2(5, 7), GD_S2(3, 7)}, .p.mm = {0, 1}},
    {"matmul_tt", KILN_OP_MATMUL, {GD_S2(7, 5), GD_S2(3, 7)}, .p.mm = {1, 1}},
    {"matmul_batched", KILN_OP_MATMUL, {GD_S3(2, 4, 6), GD_S3(2, 6, 3)}},
    {"matmul_batched_nt", KILN_OP_MATMUL, {GD_S3(2, 4, 6), GD_S3(2, 3, 6)}, .p.mm = {0, 1}},
    {"matmul_wide", KILN_OP_MATMUL, {GD_S2(8, 33), GD_S2(33, 17)}},
    /* ---- shape ---- */
    {"reshape", KILN_OP_RESHAPE, {GD_S2(3, 4)}, .p.rs = {GD_S3(2, 2, 3)}},
    {"transpose_2d", KILN_OP_TRANSPOSE, {GD_S2(3, 5)}, .p.tr = {{1, 0}}},
    {"transpose_3d", KILN_OP_TRANSPOSE, {GD_S3(2, 3, 4)}, .p.tr = {{2, 0, 1}}},
    {"transpose_4d", KILN_OP_TRANSPOSE, {GD_S4(2, 3, 2, 4)}, .p.tr = {{0, 2, 3, 1}}},
    /* ---- reduce ---- */
    {"reduce_sum_all", KILN_OP_REDUCE_SUM, {GD_S2(3, 4)}, .p.red = {3u, 1.0f}},
    {"reduce_sum_rows", KILN_OP_REDUCE_SUM, {GD_S2(4, 6)}, .p.red = {2u, 0.5f}},
    {"reduce_sum_mid", KILN_OP_REDUCE_SUM, {GD_S3(2, 3, 4)}, .p.red = {2u, 1.0f}},
    {"reduce_sum_4d", KILN_OP_REDUCE_SUM, {GD_S4(2, 3, 2, 4)}, .p.red = {0xau, 0.25f}},
    {"broadcast_rows", KILN_OP_BROADCAST, {GD_S2(1, 4)}, .p.bc = {2.0f, GD_S2(3, 4)}},
    {"broadcast_rank", KILN_OP_BROADCAST, {GD_S1(4)}, .p.bc = {1.0f, GD_S3(2, 3, 4)}},
    {"broadcast_mid", KILN_OP_BROADCAST, {GD_S3(2, 1, 3)}, .p.bc = {-0.5f, GD_S3(2, 4, 3)}},
    {"argmax_ties", KILN_OP_ARGMAX, {GD_S2(5, 6)}, .gen = {{GD_TIES, 0, 3}}},
    {"argmax_3d", KILN_OP_ARGMAX, {GD_S3(2, 3, 7)}},
    {"softmax", KILN_OP_SOFTMAX, {GD_S2(4, 7)}, .gen = {U(-5, 5)}},
    {"softmax_3d", KILN_OP_SOFTMAX, {GD_S3(2, 3, 5)}, .gen = {U(-5, 5)}},
    {"softmax_large", KILN_OP_SOFTMAX, {GD_S2(3, 6)}, .gen = {U(80, 100)}},
    {"log_softmax", KILN_OP_LOG_SOFTMAX, {GD_S2(4, 7)}, .gen = {U(-5, 5)}},
    {"log_softmax_3d", KILN_OP_LOG_SOFTMAX, {GD_S3(2, 3, 5)}, .gen = {U(-5, 5)}},
    {"softmax_bwd",
     KILN_OP_SOFTMAX_BWD,
     {GD_S2(4, 7), GD_S2(4, 7)},
     .gen = {{GD_SOFTMAX_OF, -3, 3}}},
    {"log_softmax_bwd",
     KILN_OP_LOG_SOFTMAX_BWD,
     {GD_S2(4, 7), GD_S2(4, 7)},
     .gen = {{GD_LOGSOFTMAX_OF, -3, 3}}},
    /* ---- loss ---- */
    {"mse", KILN_OP_MSE, {GD_S2(4, 5), GD_S2(4, 5)}},
    {"mse_const_target", KILN_OP_MSE, {GD_S1(9), GD_S1(9)}, .const_mask = 2u},
    {"mse_bwd", KILN_OP_MSE_BWD, {GD_S2(4, 5), GD_S2(4, 5), GD_S0}},
    {"softmax_xent",
     KILN_OP_SOFTMAX_XENT,
     {GD_S2(6, 5), GD_S1(6)},
     I1,
     .gen = {U(-3, 3), LAB(0, 5)}},
    {"softmax_xent_invalid",
     KILN_OP_SOFTMAX_XENT,
     {GD_S2(8, 4), GD_S1(8)},
     I1,
     .gen = {U(-3, 3), LAB(-1, 6)}},
    {"softmax_xent_bwd",
     KILN_OP_SOFTMAX_XENT_BWD,
     {GD_S2(6, 5), GD_S1(6), GD_S0},
     I1,
     .gen = {U(-3, 3), LAB(-1, 5)}},
    {"bce_logits",
     KILN_OP_BCE_LOGITS,
     {GD_S2(4, 5), GD_S2(4, 5)},
     .const_mask = 2u,
     .gen = {U(-6, 6), U(0, 1)}},
    {"bce_logits_bwd",
     KILN_OP_BCE_LOGITS_BWD,
     {GD_S2(4, 5), GD_S2(4, 5), GD_S0},
     .gen = {U(-6, 6), U(0, 1)}},
    {"hinge", KILN_OP_HINGE, {GD_S2(6, 5), GD_S1(6)}, I1, .gen = {U(-2, 2), LAB(0, 5)}},
    {"hinge_invalid", KILN_OP_HINGE, {GD_S2(8, 4), GD_S1(8)}, I1, .gen = {U(-2, 2), LAB(-1, 6)}},
    {"hinge_bwd",
     KILN_OP_HINGE_BWD,
     {GD_S2(6, 5), GD_S1(6), GD_S0},
     I1,
     .gen = {U(-2, 2), LAB(-1, 5)}},
    /* ---- optim: (param, grad, state...) updated in place ---- */
    {"sgd_plain",
     KILN_OP_SGD_UPDATE,
     {GD_S2(4, 5), GD_S2(4, 5), GD_S2(4, 5)},
     .p.sgd = {0.1f, 0.0f, 0.0f, 0.0f, 0, 1},
     .step = 1},
    {"sgd_momentum_first",
     KILN_OP_SGD_UPDATE,
     {GD_S2(4, 5), GD_S2(4, 5), GD_S2(4, 5)},
     .p.sgd = {0.05f, 0.9f, 0.0f, 0.0f, 0, 1},
     .step = 1},
    {"sgd_momentum",
     KILN_OP_SGD_UPDATE,
     {GD_S1(20), GD_S1(20), GD_S1(20)},
     .p.sgd = {0.05f, 0.9f, 0.1f, 0.01f, 0, 3},
     .step = 3},
    {"sgd_nesterov",
     KILN_OP_SGD_UPDATE,
     {GD_S1(20), GD_S1(20), GD_S1(20)},
     .p.sgd = {0.05f, 0.9f, 0.0f, 0.001f, 1, 2},
     .step = 2},
    {"adam_first",
     KILN_OP_ADAM_UPDATE,
     {GD_S2(4, 5), GD_S2(4, 5), GD_S2(4, 5), GD_S2(4, 5)},
     .p.adam = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0},
     .gen = {U(-1, 1), U(-1, 1), U(0, 0), U(0, 0)},
     .step = 1},
    {"adam_l2",
     KILN_OP_ADAM_UPDATE,
     {GD_S1(20), GD_S1(20), GD_S1(20), GD_S1(20)},
     .p.adam = {1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, 0},
     .gen = {U(-1, 1), U(-1, 1), U(-0.1f, 0.1f), U(0, 0.01f)},
     .step = 5},
    {"adamw",
     KILN_OP_ADAM_UPDATE,
     {GD_S1(20), GD_S1(20), GD_S1(20), GD_S1(20)},
     .p.adam = {1e-2f, 0.8f, 0.99f, 1e-6f, 0.1f, 1},
     .gen = {U(-1, 1), U(-1, 1), U(-0.1f, 0.1f), U(0, 0.01f)},
     .step = 5},
};

const int gd_n_cases = (int)(sizeof(gd_cases) / sizeof(gd_cases[0]));

void gd_params_of(const struct gd_case *c, union gd_params *out)
{
    *out = c->p;
    if (c->op == KILN_OP_ADAM_UPDATE) {
        out->adam.bc1 = (float)(1.0 - pow((double)c->p.adam.beta1, (double)c->step));
        out->adam.bc2 = (float)(1.0 - pow((double)c->p.adam.beta2, (double)c->step));
    }
}

int gd_n_in(const struct gd_case *c)
{
    return kiln__ops[c->op]->n_in;
}

int64_t gd_elems(const struct kiln_shape *s)
{
    int64_t n = 1;
    for (int32_t i = 0; i < s->rank; i++) {
        n *= s->dims[i];
    }
    return n;
}

bool gd_has_backward(const struct gd_case *c)
{
    return kiln__ops[c->op]->backward != NULL && !(c->flags & GD_NO_BWD) && c->op != KILN_OP_ARGMAX;
}

bool gd_input_grad(const struct gd_case *c, int i)
{
    return gd_has_backward(c) && !(c->i32_mask & (1u << i)) && !(c->const_mask & (1u << i));
}

/* ---- Deterministic generator: splitmix64 keyed by the case name ---- */

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    }
    return h;
}

/* U[0, 1) with 24 random bits. */
static double unit(uint64_t key, uint64_t j)
{
    return (double)(mix(key ^ mix(j)) >> 40) / 16777216.0;
}

static void fill(const struct gd_case *c, uint64_t key, const struct gd_gen *gn, int32_t i32,
                 const struct kiln_shape *s, void *dst)
{
    int64_t n = gd_elems(s);
    float lo = gn->lo, hi = gn->hi;
    if (lo == 0 && hi == 0 && gn->kind != GD_LABELS) {
        lo = -1;
        hi = 1;
    }
    if (i32) {
        int32_t *d = dst;
        for (int64_t j = 0; j < n; j++) {
            d[j] = (int32_t)floor(lo + unit(key, (uint64_t)j) * (hi - lo));
        }
        return;
    }
    float *d = dst;
    for (int64_t j = 0; j < n; j++) {
        double u = unit(key, (uint64_t)j), v = lo + u * (hi - lo);
        switch (gn->kind) {
        case GD_AWAY:
            v = (unit(key, (uint64_t)j + 0x5555555) < 0.5 ? -1 : 1) * v;
            break;
        case GD_TIES:
            v = floor(lo + u * (hi - lo + 1));
            break;
        case GD_SIGMOID_OF:
            v = 1.0 / (1.0 + exp(-v));
            break;
        case GD_TANH_OF:
            v = tanh(v);
            break;
        default:
            break;
        }
        d[j] = (float)v;
    }
    if (gn->kind == GD_SOFTMAX_OF || gn->kind == GD_LOGSOFTMAX_OF) {
        int64_t cols = s->rank > 0 ? s->dims[s->rank - 1] : 1;
        for (int64_t r = 0; r < n / cols; r++) {
            float *row = d + r * cols;
            double sum = 0;
            for (int64_t k = 0; k < cols; k++) {
                sum += exp((double)row[k]);
            }
            for (int64_t k = 0; k < cols; k++) {
                double lv = (double)row[k] - log(sum);
                row[k] = (float)(gn->kind == GD_SOFTMAX_OF ? exp(lv) : lv);
            }
        }
    }
    (void)c;
}

void gd_fill_input(const struct gd_case *c, int i, void *dst)
{
    uint64_t key = mix(name_hash(c->name) + (uint64_t)i);
    fill(c, key, &c->gen[i], (c->i32_mask >> i) & 1, &c->shape[i], dst);
}

void gd_fill_weights(const char *stem, int64_t n, float *dst)
{
    struct gd_gen g = {GD_UNIFORM, -1, 1};
    struct kiln_shape s = {1, {n, 0, 0, 0}};
    fill(NULL, mix(name_hash(stem) + 97), &g, 0, &s, dst);
}

kiln_status gd_build(kiln_graph *g, const struct gd_case *c, kiln_tensor **in, kiln_tensor **y,
                     kiln_tensor **w)
{
    union gd_params p;
    int n_in = gd_n_in(c);
    gd_params_of(c, &p);
    *w = NULL;
    for (int i = 0; i < n_in; i++) {
        char nm[8];
        snprintf(nm, sizeof(nm), "in%d", i);
        kiln_dtype dt = (c->i32_mask >> i) & 1 ? KILN_DTYPE_I32 : KILN_DTYPE_F32;
        if (gd_input_grad(c, i)) {
            in[i] = kiln_param(g, nm, c->shape[i].rank, c->shape[i].dims, KILN_INIT_ZEROS, 0, 0);
        } else {
            in[i] = kiln_input(g, nm, dt, c->shape[i].rank, c->shape[i].dims);
        }
    }
    *y = kiln__node(g, c->op, n_in, in, &p, kiln__ops[c->op]->params_bytes);
    if (!(kiln__ops[c->op]->flags & KILN__OPF_INPLACE)) {
        kiln_tensor_keep(*y);
    }
    KILN_TRY(kiln_graph_status(g));
    if (gd_has_backward(c)) {
        const struct kiln_shape *s = &(*y)->shape;
        *w = kiln_input(g, "w", KILN_DTYPE_F32, s->rank, s->dims);
        kiln_tensor *prod = kiln_mul(g, *y, *w);
        kiln_tensor *loss = s->rank > 0 ? kiln_sum(g, prod, (1u << s->rank) - 1, 0) : prod;
        KILN_TRY(kiln_graph_status(g));
        KILN_TRY(kiln_graph_backward(g, loss));
        for (int i = 0; i < n_in; i++) {
            if (kiln_tensor_grad(in[i]) != NULL) {
                kiln_tensor_keep(kiln_tensor_grad(in[i]));
            }
        }
    }
    return kiln_graph_status(g);
}

static void shape_json(const struct kiln_shape *s, char *b, size_t n)
{
    size_t k = (size_t)snprintf(b, n, "[");
    for (int32_t i = 0; i < s->rank && k < n; i++) {
        k += (size_t)snprintf(b + k, n - k, "%s%lld", i ? ", " : "", (long long)s->dims[i]);
    }
    if (k < n) {
        snprintf(b + k, n - k, "]");
    }
}

/* pre, the KILN_MAX_DIMS values of v separated by commas, post. */
static void ints_json(const char *pre, const int32_t *v, const char *post, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "%s", pre);
    for (int i = 0; i < KILN_MAX_DIMS && k < n; i++) {
        k += (size_t)snprintf(buf + k, n - k, "%s%d", i ? ", " : "", v[i]);
    }
    if (k < n) {
        snprintf(buf + k, n - k, "%s", post);
    }
}

void gd_params_json(int op, const void *params, int step, char *buf, size_t n)
{
    union gd_params p;
    char sh[96];
    memcpy(&p, params, sizeof(p));
    switch (op) {
    case KILN_OP_SCALE_SHIFT:
        snprintf(buf, n, "{\"scale\": %.9g, \"shift\": %.9g}", p.ss.scale, p.ss.shift);
        break;
    case KILN_OP_LEAKY_RELU:
    case KILN_OP_LEAKY_RELU_BWD:
        snprintf(buf, n, "{\"alpha\": %.9g}", p.alpha.alpha);
        break;
    case KILN_OP_MATMUL:
        snprintf(buf, n, "{\"trans_a\": %d, \"trans_b\": %d}", p.mm.trans_a, p.mm.trans_b);
        break;
    case KILN_OP_TRANSPOSE:
        ints_json("{\"perm\": [", p.tr.perm, "]}", buf, n);
        break;
    case KILN_OP_REDUCE_SUM:
        snprintf(buf, n, "{\"axes\": %u, \"scale\": %.9g}", p.red.axes, p.red.scale);
        break;
    case KILN_OP_BROADCAST:
        shape_json(&p.bc.shape, sh, sizeof(sh));
        snprintf(buf, n, "{\"scale\": %.9g, \"shape\": %s}", p.bc.scale, sh);
        break;
    case KILN_OP_RESHAPE:
        shape_json(&p.rs.shape, sh, sizeof(sh));
        snprintf(buf, n, "{\"shape\": %s}", sh);
        break;
    case KILN_OP_SGD_UPDATE:
        snprintf(buf, n,
                 "{\"lr\": %.9g, \"momentum\": %.9g, \"dampening\": %.9g, \"weight_decay\": "
                 "%.9g, \"nesterov\": %d, \"step\": %d, \"clear_grad\": %d}",
                 p.sgd.lr, p.sgd.momentum, p.sgd.dampening, p.sgd.weight_decay, p.sgd.nesterov,
                 step, p.sgd.clear_grad);
        break;
    case KILN_OP_ADAM_UPDATE:
        snprintf(buf, n,
                 "{\"lr\": %.9g, \"beta1\": %.9g, \"beta2\": %.9g, \"eps\": %.9g, "
                 "\"weight_decay\": %.9g, \"decoupled\": %d, \"step\": %d, \"clear_grad\": %d}",
                 p.adam.lr, p.adam.beta1, p.adam.beta2, p.adam.eps, p.adam.weight_decay,
                 p.adam.decoupled, step, p.adam.clear_grad);
        break;
    case KILN_OP_RMSPROP_UPDATE:
        snprintf(buf, n,
                 "{\"lr\": %.9g, \"alpha\": %.9g, \"eps\": %.9g, \"weight_decay\": %.9g, "
                 "\"step\": %d}",
                 p.rms.lr, p.rms.alpha, p.rms.eps, p.rms.weight_decay, step);
        break;
    case KILN_OP_ADAGRAD_UPDATE:
        snprintf(buf, n, "{\"lr\": %.9g, \"eps\": %.9g, \"weight_decay\": %.9g, \"step\": %d}",
                 p.ada.lr, p.ada.eps, p.ada.weight_decay, step);
        break;
    case KILN_OP_ACCUMULATE:
        snprintf(buf, n, "{\"alpha\": %.9g, \"beta\": %.9g, \"step\": %d}", p.acc.alpha, p.acc.beta,
                 step);
        break;
    default:
        gd_conv_params_json(op, params, buf, n);
        break;
    }
}

/* Ops without a mapping above (every op added since, whose params struct its row in
 * op_list.h declares): {"raw": [the struct's 4-byte words as int32]}, which
 * tools/golden/make_goldens.py decodes by the op's field list; "{}" without params. */
static void raw_params_json(int op, const void *params, char *buf, size_t n)
{
    size_t words = kiln__ops[op]->params_bytes / 4, k = (size_t)snprintf(buf, n, "{");
    for (size_t i = 0; i < words && k < n; i++) {
        int32_t w;
        memcpy(&w, (const unsigned char *)params + 4 * i, sizeof(w));
        k += (size_t)snprintf(buf + k, n - k, "%s%d", i ? ", " : "\"raw\": [", (int)w);
    }
    if (k < n) {
        snprintf(buf + k, n - k, "%s}", words ? "]" : "");
    }
}

void gd_conv_params_json(int op, const void *params, char *buf, size_t n)
{
    const unsigned char *raw = params;
    struct kiln__p_conv2d cv;
    struct kiln__p_pool2d pl;
    struct kiln__p_bn bn;
    struct kiln__p_lrn lrn;
    struct kiln__p_slice sl;
    struct kiln__p_pad pd;
    struct kiln__p_dropout dr;
    struct kiln__p_rnn rn;
    int32_t i2[2];
    char b1[160], b2[160];
    switch (op) {
    case KILN_OP_CONV2D:
    case KILN_OP_CONV2D_BWD_DATA:
    case KILN_OP_CONV2D_BWD_FILTER:
        memcpy(&cv, raw, sizeof(cv));
        snprintf(buf, n,
                 "{\"stride\": [%d, %d], \"pad\": [%d, %d], \"dilation\": [%d, %d], "
                 "\"groups\": %d, \"in_hw\": [%d, %d], \"kernel\": [%d, %d]}",
                 cv.stride[0], cv.stride[1], cv.pad[0], cv.pad[1], cv.dilation[0], cv.dilation[1],
                 cv.groups, cv.in_hw[0], cv.in_hw[1], cv.kernel[0], cv.kernel[1]);
        break;
    case KILN_OP_MAXPOOL2D:
    case KILN_OP_MAXPOOL2D_BWD:
    case KILN_OP_MAXPOOL2D_RELU_BWD:
    case KILN_OP_AVGPOOL2D:
    case KILN_OP_AVGPOOL2D_BWD:
        memcpy(&pl, raw, sizeof(pl));
        snprintf(buf, n,
                 "{\"kernel\": [%d, %d], \"stride\": [%d, %d], \"pad\": [%d, %d], "
                 "\"count_include_pad\": %d, \"in_hw\": [%d, %d]}",
                 pl.kernel[0], pl.kernel[1], pl.stride[0], pl.stride[1], pl.pad[0], pl.pad[1],
                 pl.count_include_pad, pl.in_hw[0], pl.in_hw[1]);
        break;
    case KILN_OP_UPSAMPLE_NEAREST:
    case KILN_OP_UPSAMPLE_NEAREST_BWD:
        memcpy(i2, raw, sizeof(i2));
        snprintf(buf, n, "{\"factor\": [%d, %d]}", i2[0], i2[1]);
        break;
    case KILN_OP_BN_APPLY:
    case KILN_OP_BN_APPLY_BWD:
    case KILN_OP_BN_APPLY_BWD_PARAMS:
    case KILN_OP_BN_RUNNING_UPDATE:
        memcpy(&bn, raw, sizeof(bn));
        snprintf(buf, n, "{\"eps\": %.9g, \"momentum\": %.9g, \"count\": %d}", bn.eps, bn.momentum,
                 bn.count);
        break;
    case KILN_OP_LRN:
    case KILN_OP_LRN_BWD:
        memcpy(&lrn, raw, sizeof(lrn));
        snprintf(buf, n, "{\"size\": %d, \"alpha\": %.9g, \"beta\": %.9g, \"k\": %.9g}", lrn.size,
                 lrn.alpha, lrn.beta, lrn.k);
        break;
    case KILN_OP_CONCAT:
        memcpy(i2, raw, sizeof(int32_t));
        snprintf(buf, n, "{\"axis\": %d}", i2[0]);
        break;
    case KILN_OP_SLICE:
        memcpy(&sl, raw, sizeof(sl));
        ints_json("{\"begin\": [", sl.begin, "], ", b1, sizeof(b1));
        ints_json("\"size\": [", sl.size, "]}", b2, sizeof(b2));
        snprintf(buf, n, "%s%s", b1, b2);
        break;
    case KILN_OP_PAD:
        memcpy(&pd, raw, sizeof(pd));
        ints_json("{\"before\": [", pd.before, "], ", b1, sizeof(b1));
        ints_json("\"after\": [", pd.after, "]}", b2, sizeof(b2));
        snprintf(buf, n, "%s%s", b1, b2);
        break;
    case KILN_OP_RNN_SEQ:
    case KILN_OP_RNN_SEQ_BWD:
        memcpy(&rn, raw, sizeof(rn));
        snprintf(buf, n, "{\"cell\": %d, \"reverse\": %d}", rn.cell, rn.reverse);
        break;
    case KILN_OP_DROPOUT:
        memcpy(&dr, raw, sizeof(dr));
        /* The seed as a decimal string: JSON numbers lose 64-bit integers in some readers. */
        snprintf(buf, n, "{\"p\": %.9g, \"scale\": %.9g, \"seed\": \"%llu\"}", dr.p, dr.scale,
                 (unsigned long long)dr.seed);
        break;
    default:
        raw_params_json(op, params, buf, n);
        break;
    }
}

/* "<op>_<note>" with every run of other characters than [a-z0-9] made one '_'. */
static void sanitize(const struct oh_case *c, char *b, size_t n)
{
    char raw[160];
    size_t len =
        (size_t)snprintf(raw, sizeof(raw), "%s_%s", kiln__op_name(c->op), c->note ? c->note : "");
    size_t o = 0;
    bool sep = false;
    for (size_t i = 0; i < len && i < sizeof(raw) && o + 1 < n; i++) {
        unsigned char ch = (unsigned char)raw[i];
        if (ch >= 'A' && ch <= 'Z') {
            ch = (unsigned char)(ch - 'A' + 'a');
        }
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            b[o++] = (char)ch;
            sep = false;
        } else if (!sep && o > 0) {
            b[o++] = '_';
            sep = true;
        }
    }
    while (o > 0 && b[o - 1] == '_') {
        o--;
    }
    b[o] = '\0';
}

void gd_harness_stem(const char *family, const struct oh_case *cases, int k, char *buf, size_t n)
{
    char base[160], other[160];
    int dup = 0;
    sanitize(&cases[k], base, sizeof(base));
    for (int j = 0; j < k; j++) {
        sanitize(&cases[j], other, sizeof(other));
        dup += strcmp(base, other) == 0;
    }
    if (dup > 0) {
        snprintf(buf, n, "%s/%s_%d", family, base, dup + 1);
    } else {
        snprintf(buf, n, "%s/%s", family, base);
    }
}

void gd_set_step(kiln_tensor *u, int t)
{
    if (u->op == KILN_OP_SGD_UPDATE) {
        ((struct kiln__p_sgd *)u->params)->step = t;
    } else if (u->op == KILN_OP_ADAM_UPDATE) {
        struct kiln__p_adam *p = (struct kiln__p_adam *)u->params;
        p->bc1 = (float)(1.0 - pow((double)p->beta1, (double)t));
        p->bc2 = (float)(1.0 - pow((double)p->beta2, (double)t));
    }
}

void gd_graph_hash(const kiln_graph *g, const kiln_tensor *y, int32_t out[2])
{
    uint64_t h = 0x6b696c6e;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const kiln_tensor *t = g->nodes[i];
        if (t->op != KILN__OP_LEAF) {
            h = mix(h ^ name_hash(kiln__op_name(t->op)));
            for (int s = 0; s < t->n_src; s++) {
                h = mix(h ^ (uint64_t)(uint32_t)t->src[s]->id);
            }
            for (int32_t d = 0; d < t->shape.rank; d++) {
                h = mix(h ^ (uint64_t)t->shape.dims[d]);
            }
        }
        if (t == y) {
            break;
        }
    }
    out[0] = (int32_t)(uint32_t)h;
    out[1] = (int32_t)(uint32_t)(h >> 32);
}
