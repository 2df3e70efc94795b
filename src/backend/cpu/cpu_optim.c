/*
 * cpu_optim.c - the CPU backend's fast SGD_UPDATE and ADAM_UPDATE: the references
 * (src/ops/optim.c) test momentum, the first step, Nesterov, decoupled decay and the
 * gradient clear for every element, which keeps the compiler from vectorizing their
 * loops; here those choices are made once per node and each case is one vectorized
 * loop over the same expressions, so the updated weights and optimizer state are the
 * references' bit for bit. The elements are cut into blocks of BLOCK (64 KiB of each
 * array, which stay in the core's cache); a clear_grad update zeroes each block's
 * gradient right after updating it, while it is still cached. Above
 * KILN__CPU_OPTIM_PAR_ELEMS (cpu_impl.h) OpenMP threads share the blocks (each element's
 * update reads only its own inputs, so which thread runs a block changes nothing).
 */
#include <math.h>
#include <string.h>

#include "../../context_impl.h"
#include "cpu_impl.h"

/* Elements per work item. */
#define BLOCK ((int64_t)1 << 14)

/* ==== SGD ==== */

/*
 * One SGD block of n elements. Without momentum: w -= lr (g + wd w). With momentum the
 * velocity b is the gradient on the first step, else m v + (1 - d) g, and the step is
 * b, or g + m b (Nesterov).
 */
static void sgd_block(float *w, const float *gr, float *v, int64_t n, const struct kiln__p_sgd *p)
{
    float lr = p->lr, wd = p->weight_decay, m = p->momentum, keep = 1.0f - p->dampening;
    if (m == 0.0f) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float g = gr[i] + wd * w[i];
            w[i] -= lr * g;
        }
    } else if (p->step <= 1 && !p->nesterov) {
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
    int64_t n = a->node->src[0]->n_elems, n_blocks = (n + BLOCK - 1) / BLOCK;
    bool clear = p->clear_grad != 0;
#pragma omp parallel for schedule(static) if (n > KILN__CPU_OPTIM_PAR_ELEMS)
    for (int64_t b = 0; b < n_blocks; b++) {
        int64_t i = b * BLOCK, len = n - i < BLOCK ? n - i : BLOCK;
        sgd_block(w + i, gr + i, v + i, len, p);
        if (clear) {
            memset(gr + i, 0, (size_t)len * sizeof(float));
        }
    }
    return KILN_OK;
}

/* ==== Adam ==== */

/*
 * One Adam block: g = grad (+ wd w unless decoupled, where w *= 1 - lr wd first),
 * m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g g, w -= lr (m / bc1) / (sqrt(v / bc2) + eps).
 * GCC leaves these loops scalar (sqrtf may set errno; the build does not pass
 * -fno-math-errno), so the gain over the reference is its branches and threads.
 */
static void adam_block(float *w, const float *gr, float *m, float *v, int64_t n,
                       const struct kiln__p_adam *p)
{
    float lr = p->lr, wd = p->weight_decay, b1 = p->beta1, b2 = p->beta2, eps = p->eps;
    float k1 = 1.0f - b1, k2 = 1.0f - b2, bc1 = p->bc1, bc2 = p->bc2;
    if (p->decoupled) {
        float shrink = 1.0f - lr * wd;
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float g = gr[i];
            w[i] *= shrink;
            float mi = b1 * m[i] + k1 * g, vi = b2 * v[i] + k2 * g * g;
            m[i] = mi;
            v[i] = vi;
            float denom = sqrtf(vi / bc2) + eps;
            w[i] -= lr * (mi / bc1) / denom;
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float g = gr[i] + wd * w[i];
            float mi = b1 * m[i] + k1 * g, vi = b2 * v[i] + k2 * g * g;
            m[i] = mi;
            v[i] = vi;
            float denom = sqrtf(vi / bc2) + eps;
            w[i] -= lr * (mi / bc1) / denom;
        }
    }
}

static kiln_status fast_adam(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    const struct kiln__p_adam *p = kiln__params(a->node);
    float *w = a->in[0], *gr = a->in[1], *m = a->in[2], *v = a->in[3];
    int64_t n = a->node->src[0]->n_elems, n_blocks = (n + BLOCK - 1) / BLOCK;
    bool clear = p->clear_grad != 0;
#pragma omp parallel for schedule(static) if (n > KILN__CPU_OPTIM_PAR_ELEMS)
    for (int64_t b = 0; b < n_blocks; b++) {
        int64_t i = b * BLOCK, len = n - i < BLOCK ? n - i : BLOCK;
        adam_block(w + i, gr + i, m + i, v + i, len, p);
        if (clear) {
            memset(gr + i, 0, (size_t)len * sizeof(float));
        }
    }
    return KILN_OK;
}

const struct kiln__cpu_fast kiln__cpu_sgd_update = {NULL, fast_sgd};
const struct kiln__cpu_fast kiln__cpu_adam_update = {NULL, fast_adam};
