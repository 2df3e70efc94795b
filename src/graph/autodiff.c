/*
 * autodiff.c - reverse-mode differentiation: walks the nodes from the loss back to the
 * leaves, asks each op's backward rule for its sources' gradient contributions, and
 * sums contributions where a tensor feeds several nodes; each parameter's gradient is
 * then added into the parameter store's, as soon as it is complete. The rules
 * themselves are in the op families (src/ops/); this file knows no op but REDUCE_SUM,
 * used to undo broadcasting, and ACCUMULATE.
 */
#include <stdio.h>
#include <string.h>

#include "graph_impl.h"

struct kiln_tensor *kiln__grad_add(kiln_graph *g, struct kiln_tensor *a, struct kiln_tensor *b)
{
    if (a == NULL) {
        return b;
    }
    if (b == NULL) {
        return a;
    }
    return kiln_add(g, a, b);
}

struct kiln_tensor *kiln__unbroadcast(kiln_graph *g, struct kiln_tensor *dy,
                                      const struct kiln_tensor *target)
{
    if (kiln__shape_eq(&dy->shape, &target->shape)) {
        return dy;
    }
    struct kiln__p_reduce p = {0, 1.0f};
    int32_t lead = dy->shape.rank - target->shape.rank;
    for (int32_t i = 0; i < dy->shape.rank; i++) {
        if (i < lead || (target->shape.dims[i - lead] == 1 && dy->shape.dims[i] != 1)) {
            p.axes |= 1u << i;
        }
    }
    struct kiln_tensor *r = dy;
    if (p.axes != 0) {
        r = kiln__node(g, KILN_OP_REDUCE_SUM, 1, &dy, &p, sizeof(p));
    }
    return kiln_reshape(g, r, target->shape.rank, target->shape.dims);
}

/* The store's gradient of parameter p as a leaf of g, after a node adding local (this
 * graph's complete gradient of p) into it. Nodes after the last reader of local, so
 * local's storage is free again right away. */
static struct kiln_tensor *store_grad(kiln_graph *g, struct kiln_tensor *p,
                                      struct kiln_tensor *local)
{
    char name[KILN_MAX_NAME];
    snprintf(name, sizeof(name), "grad#%d", p->id);
    struct kiln_tensor *t = kiln__leaf(g, name, KILN_DTYPE_F32, &p->shape, KILN__F_KEEP);
    if (t->flags & KILN__F_POISON) {
        return t;
    }
    t->entry = p->entry;
    t->part = KILN__PART_GRAD;
    t->seg = -1;
    struct kiln_tensor *sink = kiln__accumulate(g, t, local, 1.0f, 1.0f);
    sink->flags |= KILN__F_GRAD_SINK;
    g->has_grads = true;
    return t;
}

kiln_status kiln_graph_backward(kiln_graph *g, kiln_tensor *loss)
{
    if (g == NULL || loss == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_graph_backward: NULL argument");
    }
    KILN_TRY(kiln_graph_status(g));
    if (loss->graph != g) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_graph_backward: loss belongs to another graph");
    }
    if (g->differentiated || g->compiled) {
        return KILN_FAIL(KILN_E_STATE, "kiln_graph_backward: the graph is already %s",
                         g->compiled ? "compiled" : "differentiated");
    }
    if (loss->dtype != KILN_DTYPE_F32 || loss->n_elems != 1) {
        char sb[64];
        return KILN_FAIL(KILN_E_SHAPE,
                         "kiln_graph_backward: loss '%s' must be an f32 scalar, is %s %s",
                         loss->name, kiln_dtype_name(loss->dtype),
                         kiln__shape_str(&loss->shape, sb, sizeof(sb)));
    }
    int32_t n_fwd = loss->id + 1;
    int32_t first_new = g->n_nodes;
    struct kiln_tensor **grads =
        kiln__calloc(g->ctx, sizeof(*grads) * (size_t)n_fwd, "gradient bookkeeping");
    if (grads == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    g->differentiated = true;
    struct kiln_tensor *seed =
        kiln__leaf(g, "grad_seed", KILN_DTYPE_F32, &loss->shape, KILN__F_CONST | KILN__F_KEEP);
    if (!(seed->flags & KILN__F_POISON)) {
        seed->init = KILN_INIT_ONES;
    }
    grads[loss->id] = seed;

    for (int32_t i = n_fwd - 1; i >= 0 && g->status == KILN_OK; i--) {
        struct kiln_tensor *n = g->nodes[i];
        if (grads[i] == NULL || !kiln__needs_grad(n)) {
            continue;
        }
        n->grad = grads[i];
        if (n->op == KILN__OP_LEAF) {
            if (n->flags & KILN__F_PARAM) {
                n->grad = store_grad(g, n, grads[i]);
            }
            continue;
        }
        struct kiln_tensor *dx[KILN__MAX_SRC] = {NULL};
        kiln__ops[n->op]->backward(g, n, grads[i], dx);
        for (int j = 0; j < n->n_src; j++) {
            if (dx[j] != NULL && kiln__needs_grad(n->src[j])) {
                int32_t sid = n->src[j]->id;
                grads[sid] = kiln__grad_add(g, grads[sid], dx[j]);
            }
        }
    }
    for (int32_t i = first_new; i < g->n_nodes; i++) {
        g->nodes[i]->flags |= KILN__F_BACKWARD;
    }
    kiln__free(g->ctx, grads);
    return kiln_graph_status(g);
}
