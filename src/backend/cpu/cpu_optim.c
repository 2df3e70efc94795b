/*
 * cpu_optim.c - the CPU backend's fast SGD_UPDATE: the reference (src/ops/optim.c)
 * tests momentum, the first step and Nesterov for every element, which keeps the
 * compiler from vectorizing its loop; here those choices are made once per node and
 * each case is one vectorized loop over the same expressions, so the updated weights
 * and velocities are the reference's bit for bit. A clear_grad update zeroes the gradient
 * after the loop.
 */
#include <string.h>

#include "../../context_impl.h"
#include "cpu_impl.h"

/* w -= lr (g + wd w), no momentum. */
static void sgd_plain(float *w, const float *gr, int64_t n, float lr, float wd)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float g = gr[i] + wd * w[i];
        w[i] -= lr * g;
    }
}

/* With momentum: the velocity b is the gradient on the first step, else m v + (1 - d) g;
 * the step is b, or g + m b (Nesterov). */
static void sgd_momentum(float *w, const float *gr, float *v, int64_t n,
                         const struct kiln__p_sgd *p)
{
    float lr = p->lr, wd = p->weight_decay, m = p->momentum, keep = 1.0f - p->dampening;
    if (p->step <= 1 && !p->nesterov) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float g = gr[i] + wd * w[i];
            v[i] = g;
            w[i] -= lr * g;
        }
    } else if (p->step <= 1) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float g = gr[i] + wd * w[i];
            v[i] = g;
            w[i] -= lr * (g + m * g);
        }
    } else if (!p->nesterov) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float g = gr[i] + wd * w[i];
            float b = m * v[i] + keep * g;
            v[i] = b;
            w[i] -= lr * b;
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float g = gr[i] + wd * w[i];
            float b = m * v[i] + keep * g;
            v[i] = b;
            w[i] -= lr * (g + m * b);
        }
    }
}

static kiln_status fast_sgd(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    const struct kiln__p_sgd *p = kiln__params(a->node);
    float *w = a->in[0], *v = a->in[2], *gr = a->in[1];
    int64_t n = a->node->src[0]->n_elems;
    if (p->momentum != 0.0f) {
        sgd_momentum(w, gr, v, n, p);
    } else {
        sgd_plain(w, gr, n, p->lr, p->weight_decay);
    }
    if (p->clear_grad) {
        memset(gr, 0, (size_t)n * sizeof(float));
    }
    return KILN_OK;
}

/* Up to KILN__PAR_MIN / 4 elements, where the reference also stays on one thread. */
static bool sgd_accepts(const struct kiln_tensor *n)
{
    return n->src[0]->n_elems <= KILN__PAR_MIN / 4;
}

const struct kiln__cpu_fast kiln__cpu_sgd_update = {sgd_accepts, fast_sgd};
