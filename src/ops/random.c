/*
 * random.c - DROPOUT with counter-based masks (src/rng.h), identical on every backend.
 *
 * The mask, bit for bit: for element i (row-major index in x) of a node with params
 * (p, scale, seed) in the training run number t = graph->run_count (1 on the first
 * kiln_graph_run, incremented before each run):
 *     r = kiln__philox(key = seed, counter = (i low 32, i high 32, t low 32, t high 32))
 *     u = (float)(r[0] >> 8) * 2^-24          (word 0 only: kiln__u01, exact in f32)
 *     y_i = u >= p ? x_i * scale : 0.0f       (scale = 1/(1-p) rounded to f32 by the host)
 * Both the comparison and the product are exact IEEE operations, so every device gives
 * the same bits. In inference (graph->training == 0) y = x. Masks change every step yet
 * are a pure function of (seed, t, i); layers give each dropout its own seed.
 *
 * Dropout is linear in x with a mask that does not depend on x, so it is its own
 * adjoint: the backward rule is DROPOUT of dy with the same params (which recomputes
 * the mask of the same run), and no separate _BWD kernel exists.
 */
#include "../graph/graph_impl.h"
#include "../rng.h"
#include "family.h"

static kiln_status infer_dropout(struct kiln_tensor *n)
{
    const struct kiln__p_dropout *p = kiln__params(n);
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    if (!(p->p >= 0.0f && p->p <= 1.0f)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "dropout of '%s': p = %g is outside [0, 1]",
                         n->src[0]->name, (double)p->p);
    }
    n->shape = n->src[0]->shape;
    return KILN_OK;
}

static kiln_status ref_dropout(const struct kiln__op_args *a)
{
    const struct kiln_tensor *n = a->node;
    const struct kiln__p_dropout *p = kiln__params(n);
    const float *x = a->in[0];
    float *y = a->out;
    int64_t total = n->n_elems;
    if (!n->graph->training) {
        for (int64_t i = 0; i < total; i++) {
            y[i] = x[i];
        }
        return KILN_OK;
    }
    uint64_t t = n->graph->run_count;
#pragma omp parallel for if (total > KILN__PAR_MIN / 16)
    for (int64_t i = 0; i < total; i++) {
        uint32_t r[4];
        kiln__philox(p->seed, t, (uint64_t)i, r);
        y[i] = kiln__u01(r[0]) >= p->p ? x[i] * p->scale : 0.0f;
    }
    return KILN_OK;
}

static void bwd_dropout(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                        struct kiln_tensor **dx)
{
    dx[0] = kiln__node(g, KILN_OP_DROPOUT, 1, &dy, n->params, sizeof(struct kiln__p_dropout));
}

const struct kiln__op_desc kiln__desc_DROPOUT = {
    .name = "dropout",
    .n_in = 1,
    .params_bytes = sizeof(struct kiln__p_dropout),
    .infer = infer_dropout,
    .backward = bwd_dropout,
    .cpu_ref = ref_dropout,
    .tol = {0, 0, 0}, /* a compare and one multiply: exact everywhere */
};

kiln_tensor *kiln_dropout(kiln_graph *g, kiln_tensor *x, float p, uint64_t seed)
{
    if (g == NULL) {
        return NULL;
    }
    struct kiln__p_dropout d = {p, p < 1.0f ? 1.0f / (1.0f - p) : 0.0f, seed};
    return kiln__node(g, KILN_OP_DROPOUT, 1, &x, &d, sizeof(d));
}
