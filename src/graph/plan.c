/*
 * plan.c - graph compilation: checks that the backend runs every node, fuses what the
 * backend can run fused (fuse.c), allocates the parameter store's new entries and binds
 * the leaves that borrow store storage, plans the graph's own device memory (inputs, kept tensors
 * and constants in one buffer; intermediates in an arena where buffers are reused once their last
 * reader has run), allocates both buffers on the backend and writes the constants' initial values.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph_impl.h"

static size_t align_up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

struct kiln_buffer *kiln__tensor_buffer(const struct kiln_tensor *t, size_t *offset)
{
    const struct kiln_tensor *r = t->view_root;
    *offset = r->offset + t->view_offset;
    return r->buf;
}

static bool is_persistent(const struct kiln_tensor *t)
{
    return t->op == KILN__OP_LEAF || (t->flags & KILN__F_KEEP) != 0;
}

static bool owns_storage(const struct kiln_tensor *t)
{
    return t->view_root == t && t->n_elems > 0 && t->part == KILN__PART_NONE &&
           (t->op == KILN__OP_LEAF || !(kiln__ops[t->op]->flags & KILN__OPF_INPLACE));
}

static kiln_status check_kernels(kiln_graph *g)
{
    const struct kiln_backend *be = &g->ctx->be;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct kiln_tensor *n = g->nodes[i];
        if (n->op == KILN__OP_LEAF || kiln__is_view(n)) {
            continue;
        }
        const struct kiln_kernel *k = kiln__kernel_of(be, n->op);
        if (k == NULL) {
            return KILN_FAIL(KILN_E_UNSUPPORTED,
                             "op '%s' (node '%s') has no kernel on backend '%s'",
                             kiln__ops[n->op]->name, n->name, be->ops->name);
        }
        if (k->supports != NULL && !k->supports(be, n)) {
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", kiln_last_error());
            return KILN_FAIL(KILN_E_UNSUPPORTED, "op '%s' (node '%s') is not supported on '%s': %s",
                             kiln__ops[n->op]->name, n->name, be->ops->name, msg);
        }
    }
    return KILN_OK;
}

struct live {
    size_t off, size;
    int32_t last_use;
};

/* First-fit placement of intermediates in the arena after a leading gap of lead bytes,
 * each followed by guard bytes; returns the peak size. */
static kiln_status plan_arena(kiln_graph *g, size_t align, size_t lead, size_t guard, size_t *peak)
{
    struct live *lv = kiln__alloc(g->ctx, sizeof(*lv) * (size_t)(g->n_nodes + 1), "the planner");
    if (lv == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    int32_t n_live = 0;
    *peak = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *t = g->nodes[i];
        if (is_persistent(t) || !owns_storage(t)) {
            continue;
        }
        /* Release storage whose last reader ran before this node. */
        int32_t k = 0;
        for (int32_t j = 0; j < n_live; j++) {
            if (lv[j].last_use >= i) {
                lv[k++] = lv[j];
            }
        }
        n_live = k;
        size_t size = align_up(kiln_tensor_n_bytes(t) + guard, align);
        /* Live blocks sorted by offset (insertion sort: the list is short). */
        for (int32_t a = 1; a < n_live; a++) {
            struct live x = lv[a];
            int32_t b = a - 1;
            while (b >= 0 && lv[b].off > x.off) {
                lv[b + 1] = lv[b];
                b--;
            }
            lv[b + 1] = x;
        }
        size_t off = lead;
        for (int32_t j = 0; j < n_live; j++) {
            if (lv[j].off >= off + size) {
                break;
            }
            if (lv[j].off + lv[j].size > off) {
                off = lv[j].off + lv[j].size;
            }
        }
        t->offset = off;
        lv[n_live].off = off;
        lv[n_live].size = size;
        lv[n_live].last_use = t->last_use;
        n_live++;
        if (off + size > *peak) {
            *peak = off + size;
        }
    }
    kiln__free(g->ctx, lv);
    return KILN_OK;
}

kiln_status kiln__leaf_init_data(const struct kiln_tensor *t, float *host)
{
    if (t->const_data != NULL) {
        memcpy(host, t->const_data, kiln_tensor_n_bytes(t));
        return KILN_OK;
    }
    return kiln__init_values(&t->shape, t->init, t->init_arg, t->init_seed, t->init_stream, t->name,
                             host);
}

/* Writes the initial values of the graph's own constants (the gradient seed). */
static kiln_status init_consts(kiln_graph *g)
{
    struct kiln_backend *be = &g->ctx->be;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *t = g->nodes[i];
        if (t->op != KILN__OP_LEAF || !(t->flags & KILN__F_CONST) || t->n_elems == 0) {
            continue;
        }
        size_t nb = kiln_tensor_n_bytes(t);
        float *host = kiln__alloc(g->ctx, nb, "initial values");
        if (host == NULL) {
            return KILN_E_OUT_OF_HOST_MEMORY;
        }
        kiln_status s = kiln__leaf_init_data(t, host);
        if (s == KILN_OK) {
            s = be->ops->upload(be, t->buf, t->offset, host, nb);
            g->ctx->stats.bytes_uploaded += nb;
        }
        kiln__free(g->ctx, host);
        KILN_TRY(s);
    }
    return KILN_OK;
}

/* Allocates the store's new entries and binds every leaf that borrows store storage. */
static kiln_status bind_store(kiln_graph *g)
{
    struct kiln_store *st = g->store;
    KILN_TRY(kiln_store_alloc(st));
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *t = g->nodes[i];
        if (t->part == KILN__PART_NONE) {
            continue;
        }
        if (t->entry != NULL) {
            t->seg = t->entry->seg;
            t->soff = t->entry->off;
        }
        KILN_ASSERT(t->seg >= 0 && t->seg < st->n_segs);
        t->buf = kiln__store_buffer(st, t->seg, t->part);
        t->offset = (size_t)t->soff * sizeof(float);
        if (t->buf == NULL) {
            return KILN_FAIL(KILN_E_INTERNAL, "tensor '%s' binds store storage that is missing",
                             t->name);
        }
    }
    return KILN_OK;
}

/* Finds the gradient sinks whose source can be computed straight into the store: an op
 * result (not a leaf, not a view of another tensor's storage) of the gradient's size that
 * nothing but the sink reads. Views run no kernel, so a view between the result and the
 * sink (the reshape after a bias gradient's sum) is not a reader: its readers are. A
 * rider's writer does not read it either; it writes the rider where route_grads points
 * it (src/graph/exec.c), the store's gradient in a direct run. */
static kiln_status find_direct(kiln_graph *g)
{
    int32_t *readers = kiln__calloc(g->ctx, sizeof(*readers) * (size_t)g->n_nodes, "the planner");
    if (readers == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct kiln_tensor *n = g->nodes[i];
        if (kiln__is_view(n)) {
            continue;
        }
        for (int j = 0; j < n->n_src; j++) {
            /* The slot where a writer fills its rider (which it does not read) is not a
             * reader: a rider can be a gradient computed straight into the store. */
            if (n->src[j]->writer == n && kiln__writes_src(n, j)) {
                continue;
            }
            readers[n->src[j]->view_root->id]++;
        }
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *n = g->nodes[i];
        n->direct = NULL;
        if (!(n->flags & KILN__F_GRAD_SINK)) {
            continue;
        }
        struct kiln_tensor *r = n->src[1]->view_root;
        if (r->op != KILN__OP_LEAF && owns_storage(r) && !is_persistent(r) && readers[r->id] == 1 &&
            kiln_tensor_n_bytes(r) == kiln_tensor_n_bytes(n->src[0])) {
            n->direct = r;
            r->plan_buf = r->buf;
            r->plan_offset = r->offset;
        }
    }
    kiln__free(g->ctx, readers);
    return KILN_OK;
}

kiln_status kiln_graph_reset_params(kiln_graph *g)
{
    if (g == NULL || !g->compiled) {
        return KILN_FAIL(KILN_E_STATE, "kiln_graph_reset_params: the graph is not compiled");
    }
    return kiln_store_reset(g->store);
}

/* ==== Guard bands ==== */

/* The canary, byte by byte from a 4-aligned offset: 0x7fa5c0de, a NaN as f32. */
static const unsigned char canary[4] = {0xde, 0xc0, 0xa5, 0x7f};

kiln_status kiln__graph_set_guard(kiln_graph *g, size_t bytes)
{
    if (g == NULL || g->compiled) {
        return KILN_FAIL(KILN_E_STATE, "kiln__graph_set_guard: call before kiln_graph_compile");
    }
    g->guard_bytes = bytes;
    return KILN_OK;
}

static kiln_status fill_canary(kiln_graph *g, struct kiln_buffer *buf, size_t n_bytes)
{
    struct kiln_backend *be = &g->ctx->be;
    unsigned char *host = kiln__alloc(g->ctx, n_bytes, "guard bands");
    if (host == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    for (size_t i = 0; i < n_bytes; i++) {
        host[i] = canary[i % 4];
    }
    kiln_status s = be->ops->upload(be, buf, 0, host, n_bytes);
    kiln__free(g->ctx, host);
    return s;
}

static kiln_status check_buffer(kiln_graph *g, struct kiln_buffer *buf, size_t n_bytes,
                                const char *which)
{
    struct kiln_backend *be = &g->ctx->be;
    unsigned char *host = kiln__alloc(g->ctx, n_bytes, "the guard check");
    unsigned char *owned = kiln__calloc(g->ctx, n_bytes, "the guard check");
    kiln_status s = KILN_OK;
    if (host == NULL || owned == NULL) {
        s = KILN_E_OUT_OF_HOST_MEMORY;
        goto done;
    }
    s = be->ops->download(be, buf, 0, host, n_bytes);
    if (s != KILN_OK) {
        goto done;
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct kiln_tensor *t = g->nodes[i];
        if (owns_storage(t) && t->buf == buf) {
            memset(owned + t->offset, 1, kiln_tensor_n_bytes(t));
        }
    }
    for (size_t b = 0; b < n_bytes; b++) {
        if (owned[b] || host[b] == canary[b % 4]) {
            continue;
        }
        /* The tensor that ends nearest before the byte (the last such on ties). */
        const struct kiln_tensor *culprit = NULL;
        size_t end = 0;
        for (int32_t i = 0; i < g->n_nodes; i++) {
            const struct kiln_tensor *t = g->nodes[i];
            size_t e = t->offset + kiln_tensor_n_bytes(t);
            if (owns_storage(t) && t->buf == buf && e <= b && (culprit == NULL || e >= end)) {
                culprit = t;
                end = e;
            }
        }
        size_t b4 = b & ~(size_t)3;
        uint32_t word = (uint32_t)host[b4] | (uint32_t)host[b4 + 1] << 8 |
                        (uint32_t)host[b4 + 2] << 16 | (uint32_t)host[b4 + 3] << 24;
        char sb[64];
        if (culprit == NULL) {
            s = KILN_FAIL(KILN_E_CHECK,
                          "guard band: the leading guard of the %s buffer on '%s' was overwritten "
                          "at byte %zu (word 0x%08x)",
                          which, be->ops->name, b, word);
        } else {
            s = KILN_FAIL(KILN_E_CHECK,
                          "guard band after tensor '%s' (op %s, %s %s) in the %s buffer on '%s' "
                          "was overwritten %zu bytes past its end (element %zu past it; word "
                          "0x%08x)",
                          culprit->name, kiln__op_name(culprit->op),
                          kiln_dtype_name(culprit->dtype),
                          kiln__shape_str(&culprit->shape, sb, sizeof(sb)), which, be->ops->name,
                          b - end, (b - end) / 4, word);
        }
        goto done;
    }
done:
    kiln__free(g->ctx, host);
    kiln__free(g->ctx, owned);
    return s;
}

kiln_status kiln__graph_check_guards(kiln_graph *g)
{
    if (g == NULL || !g->compiled) {
        return KILN_FAIL(KILN_E_STATE, "kiln__graph_check_guards: the graph is not compiled");
    }
    if (g->guard_bytes == 0) {
        return KILN_OK;
    }
    size_t align = g->ctx->be.alignment;
    KILN_TRY(
        check_buffer(g, g->persist, g->persist_bytes ? g->persist_bytes : align, "persistent"));
    return check_buffer(g, g->arena, g->arena_bytes ? g->arena_bytes : align, "arena");
}

/* Liveness (the last node reading each storage root), then the offsets of persistent
 * tensors after a leading gap of lead bytes, each followed by guard bytes. Returns the
 * persistent buffer's size (0 when it holds nothing). */
static size_t plan_persistent(kiln_graph *g, size_t align, size_t lead, size_t guard)
{
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *t = g->nodes[i];
        t->last_use = t->id;
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *t = g->nodes[i];
        for (int j = 0; j < t->n_src; j++) {
            struct kiln_tensor *r = t->src[j]->view_root;
            if (r->last_use < i) {
                r->last_use = i;
            }
        }
    }
    size_t persist = lead;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *t = g->nodes[i];
        if (is_persistent(t) && owns_storage(t)) {
            t->offset = persist;
            persist += align_up(kiln_tensor_n_bytes(t) + guard, align);
        }
    }
    return persist == lead ? 0 : persist;
}

kiln_status kiln_graph_compile(kiln_graph *g)
{
    if (g == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_graph_compile: graph is NULL");
    }
    KILN_TRY(kiln_graph_status(g));
    if (g->compiled) {
        return KILN_FAIL(KILN_E_STATE, "kiln_graph_compile: the graph is already compiled");
    }
    struct kiln_backend *be = &g->ctx->be;
    KILN_TRY(check_kernels(g));
    KILN_TRY(kiln__graph_fuse(g));
    KILN_TRY(bind_store(g));

    size_t align = be->alignment;
    size_t guard = g->guard_bytes;
    size_t lead = guard > 0 ? align_up(guard, align) : 0;
    size_t persist = plan_persistent(g, align, lead, guard);
    size_t peak = 0;
    KILN_TRY(plan_arena(g, align, lead, guard, &peak));

    g->run_mask = kiln__calloc(g->ctx, (size_t)g->n_nodes, "the run mask");
    if (g->run_mask == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    kiln_status s = be->ops->buffer_alloc(be, persist ? persist : align, &g->persist);
    if (s != KILN_OK) {
        goto fail_persist;
    }
    s = be->ops->buffer_alloc(be, peak ? peak : align, &g->arena);
    if (s != KILN_OK) {
        goto fail_arena;
    }
    g->persist_bytes = persist;
    g->arena_bytes = peak;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *t = g->nodes[i];
        if (owns_storage(t)) {
            t->buf = is_persistent(t) ? g->persist : g->arena;
        }
    }
    if (guard > 0) {
        s = fill_canary(g, g->persist, persist ? persist : align);
        s = s == KILN_OK ? fill_canary(g, g->arena, peak ? peak : align) : s;
    }
    s = s == KILN_OK ? init_consts(g) : s;
    s = s == KILN_OK ? find_direct(g) : s;
    if (s != KILN_OK) {
        goto fail_init;
    }
    g->compiled = true;
    kiln__log(g->ctx, KILN_LOG_DEBUG, "compiled %d nodes: %zu bytes persistent, %zu bytes arena",
              g->n_nodes, persist, peak);
    return KILN_OK;

fail_init:
    be->ops->buffer_free(be, g->arena);
    g->arena = NULL;
fail_arena:
    be->ops->buffer_free(be, g->persist);
    g->persist = NULL;
fail_persist:
    kiln__free(g->ctx, g->run_mask);
    g->run_mask = NULL;
    return s;
}
