/*
 * optim.c - in-place update ops, which write their inputs: SGD (momentum, dampening,
 * Nesterov, L2 weight decay; torch.optim.SGD), Adam/AdamW (torch.optim.Adam /
 * AdamW), RMSprop (torch.optim.RMSprop without momentum or centering) and Adagrad
 * (torch.optim.Adagrad), whose step-dependent params (learning rate, bias corrections,
 * Adagrad's decayed rate) the optimizer sets before each step (src/train/optim.c), and
 * ACCUMULATE (dst = alpha dst + beta x),
 * which adds gradients into the parameter store, clears them and copies between
 * graphs (kiln_assign).
 */
#include <math.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "family.h"

static kiln_status infer_update(struct kiln_tensor *n)
{
    for (int i = 0; i < n->n_src; i++) {
        KILN_TRY(kiln__want_dtype(n, i, KILN_DTYPE_F32));
        KILN_TRY(kiln__want_same_shape(n, 0, i));
    }
    n->shape.rank = 1;
    n->shape.dims[0] = 0;
    return KILN_OK;
}

static kiln_status ref_sgd(const struct kiln__op_args *args)
{
    const struct kiln__p_sgd *p = kiln__params(args->node);
    float *w = args->in[0], *v = args->in[2], *gr = args->in[1];
    int64_t n = args->node->src[0]->n_elems;
#pragma omp parallel for if (n > KILN__PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++) {
        float g = gr[i] + p->weight_decay * w[i];
        if (p->clear_grad) {
            gr[i] = 0.0f;
        }
        if (p->momentum != 0.0f) {
            float b = p->step <= 1 ? g : p->momentum * v[i] + (1.0f - p->dampening) * g;
            v[i] = b;
            g = p->nesterov ? g + p->momentum * b : b;
        }
        w[i] -= p->lr * g;
    }
    return KILN_OK;
}

static kiln_status ref_adam(const struct kiln__op_args *args)
{
    const struct kiln__p_adam *p = kiln__params(args->node);
    float *w = args->in[0], *m = args->in[2], *v = args->in[3], *gr = args->in[1];
    int64_t n = args->node->src[0]->n_elems;
#pragma omp parallel for if (n > KILN__PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++) {
        float g = gr[i];
        if (p->clear_grad) {
            gr[i] = 0.0f;
        }
        if (p->decoupled) {
            w[i] *= 1.0f - p->lr * p->weight_decay;
        } else {
            g += p->weight_decay * w[i];
        }
        m[i] = p->beta1 * m[i] + (1.0f - p->beta1) * g;
        v[i] = p->beta2 * v[i] + (1.0f - p->beta2) * g * g;
        float denom = sqrtf(v[i] / p->bc2) + p->eps;
        w[i] -= p->lr * (m[i] / p->bc1) / denom;
    }
    return KILN_OK;
}

/* An in-place update of w (src[0]) and its state (the sources in mask) from the
 * gradient; SGD and Adam also zero the gradient (src[1], in their masks) when their
 * clear_grad param is set, so the optimizer needs no separate launch to clear it. One step is a few
 * roundings per element; FMA contraction and sqrt/divide precision differ by an ULP or two between
 * devices. */
#define UPDATE_DESC(NAME, lname, nin, mask, ptype, ref)                                            \
    const struct kiln__op_desc kiln__desc_##NAME = {                                               \
        .name = lname,                                                                             \
        .n_in = nin,                                                                               \
        .flags = KILN__OPF_INPLACE,                                                                \
        .inplace_mask = mask,                                                                      \
        .params_bytes = sizeof(struct ptype),                                                      \
        .infer = infer_update,                                                                     \
        .cpu_ref = ref,                                                                            \
        .tol = {1e-12, 1e-6, 1e-5},                                                                \
    }

/* PyTorch: one torch.optim.SGD step. The velocity input is the momentum_buffer left by
 * the previous step; at step 1 (params.step <= 1) it is ignored and the buffer starts
 * as the gradient, as PyTorch creates it. */
UPDATE_DESC(SGD_UPDATE, "sgd_update", 3, (1u << 0) | (1u << 1) | (1u << 2), kiln__p_sgd, ref_sgd);

/* PyTorch: one torch.optim.Adam step (AdamW when decoupled). m and v are exp_avg and
 * exp_avg_sq left by step t - 1 (zeros before step 1: unlike PyTorch, kiln does not
 * create them, the planner zeroes optimizer state); bc1 and bc2 are PyTorch's bias
 * corrections for step t. */
UPDATE_DESC(ADAM_UPDATE, "adam_update", 4, (1u << 0) | (1u << 1) | (1u << 2) | (1u << 3),
            kiln__p_adam, ref_adam);

/* PyTorch: one torch.optim.RMSprop step (momentum 0, centered False): g = grad + wd w,
 * v = alpha v + (1 - alpha) g^2, w -= lr g / (sqrt(v) + eps), in that order. */
static kiln_status ref_rmsprop(const struct kiln__op_args *args)
{
    const struct kiln__p_rmsprop *p = kiln__params(args->node);
    float *w = args->in[0], *v = args->in[2];
    const float *gr = args->in[1];
    int64_t n = args->node->src[0]->n_elems;
#pragma omp parallel for if (n > KILN__PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++) {
        float g = gr[i] + p->weight_decay * w[i];
        float vi = p->alpha * v[i] + (1.0f - p->alpha) * g * g;
        v[i] = vi;
        w[i] -= p->lr * (g / (sqrtf(vi) + p->eps));
    }
    return KILN_OK;
}

/* PyTorch: one torch.optim.Adagrad step: g = grad + wd w, s += g^2,
 * w -= clr g / (sqrt(s) + eps) with the host's clr = lr / (1 + (t - 1) lr_decay). */
static kiln_status ref_adagrad(const struct kiln__op_args *args)
{
    const struct kiln__p_adagrad *p = kiln__params(args->node);
    float *w = args->in[0], *s = args->in[2];
    const float *gr = args->in[1];
    int64_t n = args->node->src[0]->n_elems;
#pragma omp parallel for if (n > KILN__PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++) {
        float g = gr[i] + p->weight_decay * w[i];
        float si = s[i] + g * g;
        s[i] = si;
        w[i] -= p->lr * (g / (sqrtf(si) + p->eps));
    }
    return KILN_OK;
}

/* square_avg starts at zero (the planner zeroes optimizer state), as PyTorch's. */
UPDATE_DESC(RMSPROP_UPDATE, "rmsprop_update", 3, (1u << 0) | (1u << 2), kiln__p_rmsprop,
            ref_rmsprop);

/* The sum starts at zero: PyTorch's initial_accumulator_value = 0. */
UPDATE_DESC(ADAGRAD_UPDATE, "adagrad_update", 3, (1u << 0) | (1u << 2), kiln__p_adagrad,
            ref_adagrad);

/* ==== ACCUMULATE ==== */

static kiln_status infer_accum(struct kiln_tensor *n)
{
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_dtype(n, 1, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_same_shape(n, 0, 1));
    n->shape.rank = 1;
    n->shape.dims[0] = 0;
    return KILN_OK;
}

static kiln_status ref_accum(const struct kiln__op_args *args)
{
    const struct kiln__p_accum *p = kiln__params(args->node);
    float *y = args->in[0];
    const float *x = args->in[1];
    int64_t n = args->node->src[0]->n_elems;
    float a = p->alpha, b = p->beta;
    /* The common cases as plain loops: the sum of gradients, the clear and the copy. */
    if (a == 1.0f && b == 1.0f) {
        for (int64_t i = 0; i < n; i++) {
            y[i] += x[i];
        }
    } else if (a == 0.0f && b == 0.0f) {
        memset(y, 0, (size_t)n * sizeof(float));
    } else if (a == 0.0f && b == 1.0f) {
        memmove(y, x, (size_t)n * sizeof(float));
    } else {
        for (int64_t i = 0; i < n; i++) {
            float v = a == 0.0f ? 0.0f : a * y[i];
            y[i] = b == 0.0f ? v : v + b * x[i];
        }
    }
    return KILN_OK;
}

/* One multiply-add per element at most; exact for the gradient sum (alpha = beta = 1),
 * the clear (0, 0) and the copy (0, 1). */
const struct kiln__op_desc kiln__desc_ACCUMULATE = {
    .name = "accumulate",
    .n_in = 2,
    .flags = KILN__OPF_INPLACE,
    .inplace_mask = 1u << 0,
    .params_bytes = sizeof(struct kiln__p_accum),
    .infer = infer_accum,
    .cpu_ref = ref_accum,
    .tol = {1e-12, 1e-6, 1e-5},
};

struct kiln_tensor *kiln__accumulate(kiln_graph *g, struct kiln_tensor *dst, struct kiln_tensor *x,
                                     float alpha, float beta)
{
    struct kiln__p_accum p = {alpha, beta};
    struct kiln_tensor *src[2] = {dst, x};
    return kiln__node(g, KILN_OP_ACCUMULATE, 2, src, &p, sizeof(p));
}
