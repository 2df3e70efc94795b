/*
 * fuse.c - the planner's fusion pass: before memory is planned, pairs of nodes that a
 * backend would run as two launches (on the CPU, two passes over memory) with a tensor
 * between them become one node running a fused op. The pass keeps the graph's nodes, ids
 * and wiring: the first node of a pair takes the fused op (its sources stay) and the
 * second becomes a view of it, so every reader of the second reads the fused result and
 * no kernel runs for it. A fused op is defined by its parts composed (its CPU reference),
 * so KILN_CHECK and the op tests compare it against the CPU like any op. A fused node is
 * formed only where the backend's kernel for it runs it as one launch (runs(): its
 * supports and one_launch). The CPU backend's fast device says so where one of its fast
 * kernels takes the node (ADD_RELU, MAXPOOL2D_RELU_BWD and CONV2D_BIAS; their references
 * would run the parts one after the other, slower than the parts' own fast kernels) and
 * for the fused loss (a reference, as its parts are), and asks for none of the products'
 * fusions (fuse_matmul); its reference device does not fuse at all (the backend's
 * fuses), so it runs every graph as built. Patterns (only where the first node's result
 * has no other reader and is not kept for the caller):
 *
 *   RELU(ADD(a, b))                   -> ADD_RELU(a, b)
 *   RELU_BWD(x, MAXPOOL2D_BWD(x, dy)) -> MAXPOOL2D_RELU_BWD(x, dy)
 *   ADD(MATMUL(a, b), bias)           -> MATMUL_BIAS(a, b, bias), relu 0
 *   ADD_RELU(MATMUL(a, b), bias)      -> MATMUL_BIAS(a, b, bias), relu 1
 *   RELU_BWD(y, MATMUL(a, b))         -> MATMUL_RELU_BWD(a, b, y)
 *   ADD(CONV2D(x, w), bias)           -> CONV2D_BIAS(x, w, bias), relu 0
 *   ADD_RELU(CONV2D(x, w), bias)      -> CONV2D_BIAS(x, w, bias), relu 1
 *   MATMUL(a, b) a^T b and REDUCE_SUM(a) over axis 0
 *                                     -> MATMUL_DB(a, b, sum), the sum its rider
 *   SOFTMAX_XENT(x, l) and SOFTMAX_XENT_BWD(x, l, dy)
 *                                     -> SOFTMAX_XENT_FUSED(x, l, dy)
 *   ... and ARGMAX(x) before them     -> SOFTMAX_XENT_FUSED(x, l, dy, argmax), a rider
 *
 * The second pattern is the gradient of maxpool(relu(h)): RELU's rule reads its output
 * x, which is also what the pooling's gradient reads. The product patterns apply where
 * the bias or y holds its value when the product runs, the bias lies along the
 * product's last dim, and the backend runs the fused products as one launch
 * (fuse_matmul). The convolution patterns (a convolution layer's bias and ReLU) apply
 * where the bias holds one value per output channel, laid along dim 1, and holds it
 * when the convolution runs, and the backend's kernel for that node adds it in the same
 * launch (its one_launch says so; on the other convolution paths the ADD stays).
 *
 * A dense layer's bias gradient, the sum of dy over the batch, rides on its weight
 * gradient's product dy^T x, which reads all of dy anyway: the sum stays a node, whose
 * storage the product's kernel writes (a rider, kiln__ride), where dy holds its value
 * from the sum to the product and nothing but views reads the sum in between. Autodiff
 * emits the sum and its reshape to the bias's shape, then (kiln_dense creates the bias
 * after the product) the bias's gradient sink, then the products of the input's and
 * the weight's gradients; the sink moves to just after the latter (ids renumbered).
 *
 * The loss and its gradient are two results of one launch: a new node, inserted where
 * the loss was (the nodes after it renumbered), computes both into one storage, whose
 * first rows x cols elements the gradient becomes a view of and whose last the loss. It
 * applies where no node reads the loss (the host does, after the run) and dy (the
 * backward pass's seed) holds its value there.
 *
 * Riders: a node whose storage a later node's kernel writes (its writer, an op with
 * KILN__OPF_ALSO_WRITES; see graph_impl.h). ride() adds one to a fused node: the
 * training prediction argmax(x) kept beside the loss is written by SOFTMAX_XENT_FUSED,
 * which finds each row's maximum anyway; kiln_graph_eval of the prediction alone (the
 * writer left out) still runs the ARGMAX.
 */
#include <stdio.h>
#include <string.h>

#include "../backend_impl.h"
#include "graph_impl.h"

/* Whether backend be runs node n (an op rewritten in place) as it is, in one launch. */
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
    return k->one_launch == NULL || k->one_launch(be, n);
}

/* Makes first (now the fused op) the storage of second, a view of it, and of every view
 * of second (a reshape of a ReLU's output). Names stay: KILN_CHECK names the fused node
 * and its op (add_relu, matmul_bias, ...). */
static void absorb(kiln_graph *g, struct kiln_tensor *first, struct kiln_tensor *second)
{
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *t = g->nodes[i];
        if (t->view_root == second) {
            t->view_root = first;
        }
    }
    first->flags |= second->flags & KILN__F_KEEP;
}

/* RELU(ADD(a, b)) -> ADD_RELU(a, b) where the ADD has no other reader. */
static void fuse_add_relu(kiln_graph *g, const struct kiln_backend *be, struct kiln_tensor *n,
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
    absorb(g, a, n);
}

/* RELU_BWD(x, MAXPOOL2D_BWD(x, dy)) -> MAXPOOL2D_RELU_BWD(x, dy) where the pooling's
 * gradient has no other reader. */
static void fuse_pool_relu_bwd(kiln_graph *g, const struct kiln_backend *be, struct kiln_tensor *n,
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
    absorb(g, d, n);
}

/* Whether t holds its value when node at runs: a leaf or an earlier node's result,
 * written in place (or as a rider) by no node from at up to end (the node that reads t
 * now). */
static bool ready_at(const kiln_graph *g, const struct kiln_tensor *t, int32_t at, int32_t end)
{
    const struct kiln_tensor *r = t->view_root;
    if (r->op != KILN__OP_LEAF && r->id >= at) {
        return false;
    }
    for (int32_t i = at; i < end; i++) {
        const struct kiln_tensor *n = g->nodes[i];
        for (int j = 0; j < n->n_src; j++) {
            if (kiln__writes_src(n, j) && n->src[j]->view_root == r) {
                return false;
            }
        }
    }
    return true;
}

/* ADD or ADD_RELU (n) of a MATMUL and a bias -> MATMUL_BIAS where the product has no
 * other reader and the bias is ready when the product runs. */
static void fuse_matmul_bias(kiln_graph *g, const struct kiln_backend *be, struct kiln_tensor *n,
                             const int32_t *readers)
{
    struct kiln_tensor *m = n->src[0], *bias = n->src[1];
    if (m->op != KILN_OP_MATMUL || kiln__is_view(m) || readers[m->id] != 1 ||
        (m->flags & KILN__F_KEEP) || m->part != KILN__PART_NONE ||
        !ready_at(g, bias, m->id, n->id) || !kiln__shape_eq(&n->shape, &m->shape) ||
        m->n_src != 2 || m->src != m->src_inline) {
        return;
    }
    const struct kiln__p_matmul mp = *(const struct kiln__p_matmul *)kiln__params(m);
    struct kiln__p_matmul_bias p = {mp.trans_a, mp.trans_b, n->op == KILN_OP_ADD_RELU};
    memcpy(m->params, &p, sizeof(p));
    m->op = KILN_OP_MATMUL_BIAS;
    m->src[2] = bias;
    m->n_src = 3;
    /* infer checks that the bias lies along the last dim; it sets the same shape. */
    if (kiln__ops[KILN_OP_MATMUL_BIAS]->infer(m) != KILN_OK || !runs(be, m)) {
        kiln_clear_error();
        m->op = KILN_OP_MATMUL;
        m->n_src = 2;
        m->src[2] = NULL;
        memcpy(m->params, &mp, sizeof(mp));
        return;
    }
    absorb(g, m, n);
}

/* ADD or ADD_RELU (n) of a CONV2D and a bias along its channels -> CONV2D_BIAS where
 * the convolution has no other reader and the bias is ready when the convolution runs. */
static void fuse_conv_bias(kiln_graph *g, const struct kiln_backend *be, struct kiln_tensor *n,
                           const int32_t *readers)
{
    struct kiln_tensor *c = n->src[0], *bias = n->src[1];
    /* A bias of rank 1 is added along the last dim (the columns), not the channels,
     * unless it is a single value. */
    if (c->op != KILN_OP_CONV2D || kiln__is_view(c) || readers[c->id] != 1 ||
        (c->flags & KILN__F_KEEP) || c->part != KILN__PART_NONE ||
        !ready_at(g, bias, c->id, n->id) || !kiln__shape_eq(&n->shape, &c->shape) ||
        (bias->shape.rank < 2 && bias->n_elems != 1) || c->n_src != 2 || c->src != c->src_inline) {
        return;
    }
    struct kiln__p_conv2d cp = *(const struct kiln__p_conv2d *)kiln__params(c);
    struct kiln__p_conv2d_bias p;
    memcpy(p.stride, cp.stride, sizeof(p.stride));
    memcpy(p.pad, cp.pad, sizeof(p.pad));
    memcpy(p.dilation, cp.dilation, sizeof(p.dilation));
    p.groups = cp.groups;
    memcpy(p.in_hw, cp.in_hw, sizeof(p.in_hw));
    memcpy(p.kernel, cp.kernel, sizeof(p.kernel));
    p.relu = n->op == KILN_OP_ADD_RELU;
    memcpy(c->params, &p, sizeof(p));
    c->op = KILN_OP_CONV2D_BIAS;
    c->src[2] = bias;
    c->n_src = 3;
    /* infer checks that the bias holds one value per channel; it sets the same shape. */
    if (kiln__ops[KILN_OP_CONV2D_BIAS]->infer(c) != KILN_OK || !runs(be, c)) {
        kiln_clear_error();
        c->op = KILN_OP_CONV2D;
        c->n_src = 2;
        c->src[2] = NULL;
        memcpy(c->params, &cp, sizeof(cp));
        return;
    }
    absorb(g, c, n);
}

/* RELU_BWD(y, MATMUL(a, b)) (n) -> MATMUL_RELU_BWD(a, b, y) where the product has no
 * other reader and y is ready when the product runs. */
static void fuse_matmul_relu_bwd(kiln_graph *g, const struct kiln_backend *be,
                                 struct kiln_tensor *n, const int32_t *readers)
{
    struct kiln_tensor *m = n->src[1], *y = n->src[0];
    if (m->op != KILN_OP_MATMUL || kiln__is_view(m) || readers[m->id] != 1 ||
        (m->flags & KILN__F_KEEP) || m->part != KILN__PART_NONE || !ready_at(g, y, m->id, n->id) ||
        m->n_src != 2 || m->src != m->src_inline) {
        return;
    }
    m->op = KILN_OP_MATMUL_RELU_BWD; /* its params are MATMUL's */
    m->src[2] = y;
    m->n_src = 3;
    if (kiln__ops[KILN_OP_MATMUL_RELU_BWD]->infer(m) != KILN_OK || !runs(be, m)) {
        kiln_clear_error();
        m->op = KILN_OP_MATMUL;
        m->n_src = 2;
        m->src[2] = NULL;
        return;
    }
    absorb(g, m, n);
}

bool kiln__ride(kiln_graph *g, struct kiln_tensor *writer, struct kiln_tensor *rider)
{
    const struct kiln_backend *be = &g->ctx->be;
    const struct kiln__op_desc *d = kiln__ops[writer->op];
    int slot = writer->n_src;
    if (!(d->flags & KILN__OPF_ALSO_WRITES) || !(d->inplace_mask & (1u << slot)) ||
        slot >= KILN__SRC_INLINE || writer->src != writer->src_inline || kiln__is_view(writer) ||
        rider->op == KILN__OP_LEAF || kiln__is_view(rider) || rider->writer != NULL ||
        rider->direct != NULL || rider->part != KILN__PART_NONE || rider->id >= writer->id ||
        writer->graph != g || rider->graph != g) {
        return false;
    }
    for (int32_t i = rider->id + 1; i < writer->id; i++) {
        const struct kiln_tensor *n = g->nodes[i];
        /* A view runs no kernel: it reads nothing where it stands (its readers do, and
         * they find the rider as their source's view root), unless the host reads it. */
        if (kiln__is_view(n) && !(n->flags & KILN__F_KEEP)) {
            continue;
        }
        for (int j = 0; j < n->n_src; j++) {
            if (n->src[j]->view_root == rider) {
                return false;
            }
        }
    }
    writer->src[slot] = rider;
    writer->n_src = slot + 1;
    if (d->infer(writer) != KILN_OK || !runs(be, writer)) {
        kiln_clear_error();
        writer->src[slot] = NULL;
        writer->n_src = slot;
        /* infer of the shorter source list gave the node its shape before */
        (void)d->infer(writer);
        kiln_clear_error();
        return false;
    }
    rider->writer = writer;
    return true;
}

/* The fusion pass's name for kiln__ride (graph_impl.h): makes rider a rider of writer. */
static inline bool ride(kiln_graph *g, struct kiln_tensor *writer, struct kiln_tensor *rider)
{
    return kiln__ride(g, writer, rider);
}

/* The REDUCE_SUM over axis 0 (scale 1) of m's 2-D a before m, or NULL. */
static struct kiln_tensor *column_sum_of(const kiln_graph *g, const struct kiln_tensor *m)
{
    for (int32_t i = m->id - 1; i >= 0; i--) {
        struct kiln_tensor *r = g->nodes[i];
        if (r->op != KILN_OP_REDUCE_SUM || kiln__is_view(r) || r->src[0] != m->src[0]) {
            continue;
        }
        const struct kiln__p_reduce *p = kiln__params(r);
        if (p->axes == 1u && p->scale == 1.0f && r->src[0]->shape.rank == 2) {
            return r;
        }
    }
    return NULL;
}

/* Moves the node at from to position to, the nodes between shifting by one, and
 * renumbers them (the planner sets last_use after the pass). */
static void move_node(kiln_graph *g, int32_t from, int32_t to)
{
    struct kiln_tensor *t = g->nodes[from];
    if (to < from) {
        memmove(&g->nodes[to + 1], &g->nodes[to], sizeof(*g->nodes) * (size_t)(from - to));
    } else {
        memmove(&g->nodes[from], &g->nodes[from + 1], sizeof(*g->nodes) * (size_t)(to - from));
    }
    g->nodes[to] = t;
    int32_t lo = to < from ? to : from, hi = to < from ? from : to;
    for (int32_t i = lo; i <= hi; i++) {
        g->nodes[i]->id = i;
        g->nodes[i]->last_use = i;
    }
}

/* Whether node n reads t (a source whose storage is t's). */
static bool reads(const struct kiln_tensor *n, const struct kiln_tensor *t)
{
    for (int j = 0; j < n->n_src; j++) {
        if (n->src[j]->view_root == t->view_root) {
            return true;
        }
    }
    return false;
}

/* Moves the gradient sinks between r and m that read r to just after m, keeping their
 * order, where nothing else from r to m reads r (views aside) and no node from a sink
 * to m reads the store gradient it adds into (the optimizer does, after the pass).
 * Returns false, moving nothing, otherwise. */
static bool sinks_after(kiln_graph *g, const struct kiln_tensor *r, struct kiln_tensor *m)
{
    for (int32_t i = r->id + 1; i < m->id; i++) {
        const struct kiln_tensor *n = g->nodes[i];
        if ((kiln__is_view(n) && !(n->flags & KILN__F_KEEP)) || !reads(n, r)) {
            continue;
        }
        if (!(n->flags & KILN__F_GRAD_SINK)) {
            return false;
        }
        for (int32_t j = i + 1; j <= m->id; j++) {
            if (reads(g->nodes[j], n->src[0])) {
                return false;
            }
        }
    }
    for (int32_t i = r->id + 1; i < m->id;) {
        const struct kiln_tensor *n = g->nodes[i];
        if ((n->flags & KILN__F_GRAD_SINK) && reads(n, r)) {
            move_node(g, i, m->id); /* m moves up by one */
        } else {
            i++;
        }
    }
    return true;
}

/* MATMUL (m) of a^T b and REDUCE_SUM (r) of a over axis 0 -> MATMUL_DB(a, b, r) with r
 * as its rider (a dense layer's weight gradient dy^T x and bias gradient), where a
 * holds its value from r to m. The bias's gradient sink comes between the two
 * (autodiff reaches the bias, a parameter created after the product, first); it moves
 * to just after m (sinks_after). Where the backend then refuses the fused node, the
 * sink stays there: it adds into the store gradient that only the optimizer reads. */
static void fuse_matmul_db(kiln_graph *g, struct kiln_tensor *m)
{
    const struct kiln__p_matmul *p = kiln__params(m);
    if (!p->trans_a || p->trans_b || kiln__is_view(m) || m->part != KILN__PART_NONE ||
        m->n_src != 2 || m->src != m->src_inline || m->src[0]->shape.rank != 2 ||
        m->src[1]->shape.rank != 2) {
        return;
    }
    struct kiln_tensor *r = column_sum_of(g, m);
    if (r == NULL || !ready_at(g, r->src[0], r->id, m->id) || !sinks_after(g, r, m)) {
        return;
    }
    m->op = KILN_OP_MATMUL_DB; /* its params are MATMUL's */
    if (!ride(g, m, r)) {
        m->op = KILN_OP_MATMUL;
    }
}

/* Makes t, a node without views so far (the loss), a view of root at byte offset off,
 * with every view of t. */
static void absorb_at(kiln_graph *g, struct kiln_tensor *root, struct kiln_tensor *t, size_t off)
{
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *v = g->nodes[i];
        if (v->view_root == t) {
            v->view_root = root;
            v->view_offset += off;
        }
    }
    root->flags |= t->flags & KILN__F_KEEP;
}

/* The loss of n (SOFTMAX_XENT_BWD): the SOFTMAX_XENT of the same scores and labels. */
static struct kiln_tensor *xent_loss_of(const kiln_graph *g, const struct kiln_tensor *n)
{
    for (int32_t i = n->id - 1; i >= 0; i--) {
        struct kiln_tensor *l = g->nodes[i];
        if (l->op == KILN_OP_SOFTMAX_XENT && !kiln__is_view(l) && l->src[0] == n->src[0] &&
            l->src[1] == n->src[1]) {
            return l;
        }
    }
    return NULL;
}

/* An ARGMAX of f's scores (SOFTMAX_XENT_FUSED's source 0) before f, one index per row,
 * whose scores hold the same values when f runs (the training prediction), or NULL. */
static struct kiln_tensor *argmax_of(const kiln_graph *g, const struct kiln_tensor *f)
{
    const struct kiln_tensor *x = f->src[0];
    for (int32_t i = f->id - 1; i >= 0; i--) {
        struct kiln_tensor *a = g->nodes[i];
        if (a->op == KILN_OP_ARGMAX && !kiln__is_view(a) && a->src[0] == x && a->shape.rank == 1 &&
            a->shape.dims[0] == x->shape.dims[0] && ready_at(g, x, a->id, f->id)) {
            return a;
        }
    }
    return NULL;
}

/* SOFTMAX_XENT (l) and SOFTMAX_XENT_BWD (n) of the same scores and labels ->
 * SOFTMAX_XENT_FUSED inserted at l's place, where no node reads l and dy is ready there;
 * an ARGMAX of the scores before it becomes its rider. Returns false when the graph could not take
 * the new node (its status says why). */
static bool fuse_xent(kiln_graph *g, const struct kiln_backend *be, struct kiln_tensor *n,
                      const int32_t *readers)
{
    struct kiln_tensor *l = xent_loss_of(g, n);
    if (l == NULL || readers[l->id] != 0 || l->part != KILN__PART_NONE ||
        n->part != KILN__PART_NONE || !ready_at(g, n->src[2], l->id, n->id)) {
        return true;
    }
    int32_t at = l->id;
    struct kiln_tensor *src[3] = {n->src[0], n->src[1], n->src[2]};
    struct kiln_tensor *f = kiln__node(g, KILN_OP_SOFTMAX_XENT_FUSED, 3, src, NULL, 0);
    if (f->flags & KILN__F_POISON) {
        return false;
    }
    if (!runs(be, f)) {
        g->n_nodes--;
        kiln__free(g->ctx, f);
        return true;
    }
    /* The new node takes l's place; the loss names it (KILN_CHECK, the profile). */
    move_node(g, g->n_nodes - 1, at);
    snprintf(f->name, sizeof(f->name), "%s", l->name);
    f->flags &= ~(uint32_t)KILN__F_NEEDS_GRAD;
    absorb(g, f, n);
    absorb_at(g, f, l, (size_t)n->n_elems * sizeof(float));
    struct kiln_tensor *a = argmax_of(g, f);
    if (a != NULL) {
        (void)ride(g, f, a); /* refused: the ARGMAX runs on its own */
    }
    return true;
}

/* readers[i]: how many source slots of g's nodes name node i. */
static void count_readers(const kiln_graph *g, int32_t *readers)
{
    memset(readers, 0, sizeof(*readers) * (size_t)g->n_nodes);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct kiln_tensor *n = g->nodes[i];
        for (int j = 0; j < n->n_src; j++) {
            readers[n->src[j]->id]++;
        }
    }
}

kiln_status kiln__graph_fuse(kiln_graph *g)
{
    const struct kiln_backend *be = &g->ctx->be;
    if ((be->ops->fuses != NULL && !be->ops->fuses(be)) || g->n_nodes == 0) {
        return KILN_OK;
    }
    int32_t *readers = kiln__calloc(g->ctx, sizeof(*readers) * (size_t)g->n_nodes, "fusion");
    if (readers == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    count_readers(g, readers);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *n = g->nodes[i];
        if (kiln__is_view(n)) {
            continue;
        }
        if (n->op == KILN_OP_RELU) {
            fuse_add_relu(g, be, n, readers);
        } else if (n->op == KILN_OP_RELU_BWD) {
            fuse_pool_relu_bwd(g, be, n, readers);
        }
    }
    /* After the first pass, which made the ADD_RELUs. */
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *n = g->nodes[i];
        bool add = n->op == KILN_OP_ADD || n->op == KILN_OP_ADD_RELU;
        if (kiln__is_view(n)) {
            continue;
        }
        if (add && n->src[0]->op == KILN_OP_CONV2D) {
            fuse_conv_bias(g, be, n, readers);
        } else if (add && be->ops->fuse_matmul) {
            fuse_matmul_bias(g, be, n, readers);
        } else if (n->op == KILN_OP_RELU_BWD && be->ops->fuse_matmul) {
            fuse_matmul_relu_bwd(g, be, n, readers);
        }
    }
    /* After the products' other fusions: a MATMUL that took a bias or a ReLU mask
     * stays as it is. It moves nodes (ids change; readers are counted again after). */
    for (int32_t i = 0; i < g->n_nodes && be->ops->fuse_matmul; i++) {
        if (g->nodes[i]->op == KILN_OP_MATMUL) {
            fuse_matmul_db(g, g->nodes[i]);
        }
    }
    count_readers(g, readers);
    /* Last: it inserts a node, after which readers' ids are stale. */
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *n = g->nodes[i];
        if (n->op == KILN_OP_SOFTMAX_XENT_BWD && !kiln__is_view(n)) {
            if (!fuse_xent(g, be, n, readers)) {
                kiln__free(g->ctx, readers);
                return kiln_graph_status(g);
            }
            break;
        }
    }
    kiln__free(g->ctx, readers);
    return KILN_OK;
}
