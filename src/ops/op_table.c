/*
 * op_table.c - the descriptor table built from op_list.h, op names, the shared
 * tolerances with their reasons, and the broadcasting helpers every backend uses.
 */
#include <math.h>

#include "../graph/graph_impl.h"
#include "op_desc.h"

#define KILN_OP(name, family, n_in) extern const struct kiln__op_desc kiln__desc_##name;
#include "op_list.h"
#undef KILN_OP

const struct kiln__op_desc *const kiln__ops[KILN_OP_COUNT] = {
#define KILN_OP(name, family, n_in) [KILN_OP_##name] = &kiln__desc_##name,
#include "op_list.h"
#undef KILN_OP
};

const char *kiln__op_name(int op)
{
    if (op >= 0 && op < KILN_OP_COUNT) {
        return kiln__ops[op]->name;
    }
    return "leaf";
}

/* Ops that move or select values (relu, transpose, argmax, add of two floats) are
 * correctly rounded on every conforming device, so any difference is a bug. */
const struct kiln__tol kiln__tol_exact = {0.0, 0.0, 0.0};

/* Transcendental elementwise ops: GLSL guarantees exp/log within 3 + 2|x| ULP and
 * division within 2.5 ULP, OpenCL within 3-4 ULP (PORTABILITY.md 4.3). rel 1e-5 of
 * |a| + |b| allows about 80 ULP; abs 1e-6 covers results that cancel near zero
 * (tanh(x) = (1 - t) / (1 + t) for small x). */
const struct kiln__tol kiln__tol_elementwise = {1e-10, 1e-6, 1e-5};

/* Sums (matmul, reductions, softmax, losses) may add in another order on each backend;
 * the error of a float sum of K terms grows like sqrt(K) eps |terms|. NMSE 1e-7 is the
 * ggml default for f32; elementwise bounds catch one bad element in a good average. */
const struct kiln__tol kiln__tol_reduction = {1e-7, 1e-4, 1e-3};

void kiln__dims4(const struct kiln_shape *s, int64_t out[4])
{
    int32_t lead = 4 - s->rank;
    for (int i = 0; i < 4; i++) {
        out[i] = i < lead ? 1 : s->dims[i - lead];
    }
}

void kiln__strides4(const struct kiln_shape *s, int64_t out[4])
{
    int64_t d[4];
    kiln__dims4(s, d);
    out[3] = 1;
    for (int i = 2; i >= 0; i--) {
        out[i] = out[i + 1] * d[i + 1];
    }
}

void kiln__bcast_strides(const struct kiln_tensor *n, int i, int64_t strides[4])
{
    int64_t od[4], sd[4], ss[4];
    const struct kiln_shape *s = &n->src[i]->shape;
    kiln__dims4(&n->shape, od);
    kiln__dims4(s, sd);
    kiln__strides4(s, ss);
    for (int k = 0; k < 4; k++) {
        strides[k] = (sd[k] == 1 && od[k] != 1) ? 0 : ss[k];
    }
}
