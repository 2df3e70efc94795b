/*
 * fuse.c - the planner's fusion pass: before memory is planned, pairs of nodes that a
 * GPU backend would run as two launches with a tensor between them become one node
 * running a fused op. The pass keeps the graph's nodes, ids and wiring: the first node
 * of a pair takes the fused op (its sources stay) and the second becomes a view of it,
 * so every reader of the second reads the fused result and no kernel runs for it. A
 * fused op is defined by its parts composed (its CPU reference), so KILN_CHECK and the
 * op tests compare it against the CPU like any op. The CPU backends do not fuse: their
 * fast kernels already run the parts at memory speed. Patterns (only where the first
 * node's result has no other reader and is not kept for the caller):
 *
 *   RELU(ADD(a, b))                   -> ADD_RELU(a, b)
 *   RELU_BWD(x, MAXPOOL2D_BWD(x, dy)) -> MAXPOOL2D_RELU_BWD(x, dy)
 *
 * The second is the gradient of maxpool(relu(h)): RELU's rule reads its output x, which
 * is also what the pooling's gradient reads.
 */
#include "../backend_impl.h"
#include "graph_impl.h"

/* Whether backend be runs node n (an op rewritten in place) as it is. */
static bool runs(const struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln_kernel *k = kiln__kernel_of(be, n->op);
    if (k == NULL) {
        return false;
    }
    if (k->supports != NULL && !k->supports(be, n)) {
        kiln_clear_error();
        return false;
    }
    return true;
}

/* Makes the fused op of first (now fused) the storage of second, a view of it. */
static void absorb(struct kiln_tensor *first, struct kiln_tensor *second)
{
    second->view_root = first;
    second->view_offset = 0;
    first->flags |= second->flags & KILN__F_KEEP;
}

/* RELU(ADD(a, b)) -> ADD_RELU(a, b) where the ADD has no other reader. */
static void fuse_add_relu(const struct kiln_backend *be, struct kiln_tensor *n,
                          const int32_t *readers)
{
    struct kiln_tensor *a = n->src[0];
    if (a->op != KILN_OP_ADD || kiln__is_view(a) || readers[a->id] != 1 ||
        (a->flags & KILN__F_KEEP) || a->part != KILN__PART_NONE) {
        return;
    }
    a->op = KILN_OP_ADD_RELU;
    if (!runs(be, a)) {
        a->op = KILN_OP_ADD;
        return;
    }
    absorb(a, n);
}

/* RELU_BWD(x, MAXPOOL2D_BWD(x, dy)) -> MAXPOOL2D_RELU_BWD(x, dy) where the pooling's
 * gradient has no other reader. */
static void fuse_pool_relu_bwd(const struct kiln_backend *be, struct kiln_tensor *n,
                               const int32_t *readers)
{
    struct kiln_tensor *d = n->src[1];
    if (d->op != KILN_OP_MAXPOOL2D_BWD || d->src[0] != n->src[0] || kiln__is_view(d) ||
        readers[d->id] != 1 || (d->flags & KILN__F_KEEP) || d->part != KILN__PART_NONE) {
        return;
    }
    d->op = KILN_OP_MAXPOOL2D_RELU_BWD;
    if (!runs(be, d)) {
        d->op = KILN_OP_MAXPOOL2D_BWD;
        return;
    }
    absorb(d, n);
}

kiln_status kiln__graph_fuse(kiln_graph *g)
{
    const struct kiln_backend *be = &g->ctx->be;
    if (be->ops->is_reference || g->n_nodes == 0) {
        return KILN_OK;
    }
    int32_t *readers = kiln__calloc(g->ctx, sizeof(*readers) * (size_t)g->n_nodes, "fusion");
    if (readers == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct kiln_tensor *n = g->nodes[i];
        for (int j = 0; j < n->n_src; j++) {
            readers[n->src[j]->id]++;
        }
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *n = g->nodes[i];
        if (kiln__is_view(n)) {
            continue;
        }
        if (n->op == KILN_OP_RELU) {
            fuse_add_relu(be, n, readers);
        } else if (n->op == KILN_OP_RELU_BWD) {
            fuse_pool_relu_bwd(be, n, readers);
        }
    }
    kiln__free(g->ctx, readers);
    return KILN_OK;
}
