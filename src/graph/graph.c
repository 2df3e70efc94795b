/*
 * graph.c - graph lifetime, leaves, the generic node builder with its sticky error,
 * tensor accessors and shape helpers. Op-specific builders live with their op family
 * in src/ops/; autodiff, planning and execution are in the other files of this folder.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph_impl.h"

/* ==== Shapes ==== */

int64_t kiln__shape_elems(const struct kiln_shape *s)
{
    int64_t n = 1;
    for (int32_t i = 0; i < s->rank; i++) {
        n *= s->dims[i];
    }
    return n;
}

bool kiln__shape_eq(const struct kiln_shape *a, const struct kiln_shape *b)
{
    if (a->rank != b->rank) {
        return false;
    }
    for (int32_t i = 0; i < a->rank; i++) {
        if (a->dims[i] != b->dims[i]) {
            return false;
        }
    }
    return true;
}

const char *kiln__shape_str(const struct kiln_shape *s, char *buf, size_t n)
{
    size_t len = 0;
    len += (size_t)snprintf(buf, n, "[");
    for (int32_t i = 0; i < s->rank && len < n; i++) {
        len += (size_t)snprintf(buf + len, n - len, i ? ", %lld" : "%lld", (long long)s->dims[i]);
    }
    if (len < n) {
        snprintf(buf + len, n - len, "]");
    }
    return buf;
}

/* ==== Lifetime ==== */

static kiln_status graph_new(kiln_context *ctx, kiln_store *store, bool owns, kiln_graph **out)
{
    struct kiln_graph *g = kiln__calloc(ctx, sizeof(*g), "a graph");
    if (g == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    g->ctx = ctx;
    g->store = store;
    g->owns_store = owns;
    g->poison.graph = g;
    g->poison.flags = KILN__F_POISON;
    g->poison.op = KILN__OP_LEAF;
    g->poison.id = -1;
    g->poison.view_root = &g->poison;
    g->poison.src = g->poison.src_inline;
    snprintf(g->poison.name, sizeof(g->poison.name), "<error>");
    ctx->n_graphs++;
    store->n_graphs++;
    *out = g;
    return KILN_OK;
}

kiln_status kiln_graph_create(kiln_context *ctx, kiln_graph **out)
{
    if (ctx == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_graph_create: NULL argument");
    }
    *out = NULL;
    kiln_store *s;
    KILN_TRY(kiln_store_create(ctx, &s));
    kiln_status st = graph_new(ctx, s, true, out);
    if (st != KILN_OK) {
        kiln_store_destroy(s);
    }
    return st;
}

kiln_status kiln_graph_create_in(kiln_store *s, kiln_graph **out)
{
    if (s == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_graph_create_in: NULL argument");
    }
    *out = NULL;
    return graph_new(s->ctx, s, false, out);
}

kiln_store *kiln_graph_store(const kiln_graph *g)
{
    return g->store;
}

void kiln_graph_destroy(kiln_graph *g)
{
    if (g == NULL) {
        return;
    }
    struct kiln_context *ctx = g->ctx;
    if (g->arena != NULL) {
        ctx->be.ops->buffer_free(&ctx->be, g->arena);
    }
    if (g->persist != NULL) {
        ctx->be.ops->buffer_free(&ctx->be, g->persist);
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i]->src != g->nodes[i]->src_inline) {
            kiln__free(ctx, g->nodes[i]->src);
        }
        kiln__free(ctx, g->nodes[i]->const_data);
        kiln__free(ctx, g->nodes[i]);
    }
    kiln__free(ctx, g->nodes);
    kiln__free(ctx, g->run_mask);
    ctx->n_graphs--;
    g->store->n_graphs--;
    if (g->owns_store) {
        kiln_store_destroy(g->store);
    }
    kiln__free(ctx, g);
}

kiln_status kiln_graph_status(const kiln_graph *g)
{
    if (g == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_graph_status: graph is NULL");
    }
    if (g->status != KILN_OK) {
        return KILN_FAIL(g->status, "%s", g->status_msg);
    }
    return KILN_OK;
}

kiln_context *kiln_graph_context(const kiln_graph *g)
{
    return g->ctx;
}

int32_t kiln_graph_n_nodes(const kiln_graph *g)
{
    return g->n_nodes;
}

void kiln_graph_memory(const kiln_graph *g, size_t *arena_bytes, size_t *persistent_bytes)
{
    if (arena_bytes != NULL) {
        *arena_bytes = g->arena_bytes;
    }
    if (persistent_bytes != NULL) {
        *persistent_bytes = g->persist_bytes;
    }
}

/* ==== Sticky errors and node creation ==== */

struct kiln_tensor *kiln__graph_fail(kiln_graph *g, kiln_status s, const char *fmt, ...)
{
    if (g->status == KILN_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->status_msg, sizeof(g->status_msg), fmt, ap);
        va_end(ap);
        g->status = s;
        KILN_FAIL(s, "%s", g->status_msg);
    }
    return &g->poison;
}

static struct kiln_tensor *append(kiln_graph *g, const char *what)
{
    if (g->compiled) {
        return kiln__graph_fail(g, KILN_E_STATE, "%s: the graph is already compiled", what);
    }
    if (g->n_nodes == g->cap_nodes) {
        int32_t cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        struct kiln_tensor **nodes = kiln__alloc(g->ctx, sizeof(*nodes) * (size_t)cap, what);
        if (nodes == NULL) {
            return kiln__graph_fail(g, KILN_E_OUT_OF_HOST_MEMORY, "%s", kiln_last_error());
        }
        if (g->n_nodes > 0) {
            memcpy(nodes, g->nodes, sizeof(*nodes) * (size_t)g->n_nodes);
        }
        kiln__free(g->ctx, g->nodes);
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    struct kiln_tensor *t = kiln__calloc(g->ctx, sizeof(*t), what);
    if (t == NULL) {
        return kiln__graph_fail(g, KILN_E_OUT_OF_HOST_MEMORY, "%s", kiln_last_error());
    }
    t->graph = g;
    t->src = t->src_inline;
    t->id = g->n_nodes;
    t->view_root = t;
    t->last_use = t->id;
    g->nodes[g->n_nodes++] = t;
    return t;
}

static bool valid_shape(kiln_graph *g, const char *what, int32_t rank, const int64_t *dims)
{
    if (rank < 0 || rank > KILN_MAX_DIMS || (rank > 0 && dims == NULL)) {
        kiln__graph_fail(g, KILN_E_SHAPE, "%s: rank %d is outside 0..%d", what, rank,
                         KILN_MAX_DIMS);
        return false;
    }
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] <= 0 || dims[i] > (INT64_C(1) << 40)) {
            kiln__graph_fail(g, KILN_E_SHAPE, "%s: dimension %d is %lld; must be positive", what, i,
                             (long long)dims[i]);
            return false;
        }
    }
    return true;
}

struct kiln_tensor *kiln__leaf(kiln_graph *g, const char *name, kiln_dtype dt,
                               const struct kiln_shape *shape, uint32_t flags)
{
    if (g->status != KILN_OK) {
        return &g->poison;
    }
    if (dt != KILN_DTYPE_F32 && dt != KILN_DTYPE_I32) {
        return kiln__graph_fail(g, KILN_E_DTYPE, "tensor '%s': unknown dtype %d", name ? name : "?",
                                (int)dt);
    }
    if (!valid_shape(g, name ? name : "tensor", shape->rank, shape->dims)) {
        return &g->poison;
    }
    if (name != NULL && strlen(name) >= sizeof(g->poison.name)) {
        /* A cut name could neither be found nor told apart from one with its prefix. */
        return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                "tensor name '%.32s...' is longer than %zu bytes", name,
                                sizeof(g->poison.name) - 1);
    }
    if (name != NULL && kiln_graph_find(g, name) != NULL) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "tensor name '%s' is already used", name);
    }
    struct kiln_tensor *t = append(g, "a tensor");
    if (t->flags & KILN__F_POISON) {
        return t;
    }
    t->op = KILN__OP_LEAF;
    t->dtype = dt;
    t->shape = *shape;
    t->n_elems = kiln__shape_elems(shape);
    t->flags = flags;
    if (name != NULL) {
        snprintf(t->name, sizeof(t->name), "%s", name);
    } else {
        snprintf(t->name, sizeof(t->name), "leaf#%d", t->id);
    }
    return t;
}

struct kiln_tensor *kiln__node(kiln_graph *g, int op, int n_src, struct kiln_tensor *const *src,
                               const void *params, size_t params_bytes)
{
    const struct kiln__op_desc *d = kiln__ops[op];
    if (g->status != KILN_OK) {
        return &g->poison;
    }
    for (int i = 0; i < n_src; i++) {
        if (src[i] == NULL) {
            return kiln__graph_fail(g, KILN_E_INVALID_ARG, "%s: input %d is NULL", d->name, i);
        }
        if (src[i]->graph != g) {
            return kiln__graph_fail(g, KILN_E_INVALID_ARG, "%s: input %d belongs to another graph",
                                    d->name, i);
        }
        if (src[i]->flags & KILN__F_POISON) {
            return &g->poison;
        }
    }
    KILN_ASSERT(
        (n_src == d->n_in || ((d->flags & KILN__OPF_VARIADIC) && n_src >= 1 && n_src < d->n_in)) &&
        n_src <= KILN__MAX_SRC && params_bytes == d->params_bytes &&
        params_bytes <= KILN__PARAMS_BYTES);
    struct kiln_tensor *t = append(g, d->name);
    if (t->flags & KILN__F_POISON) {
        return t;
    }
    if (n_src > KILN__SRC_INLINE) {
        t->src = kiln__alloc(g->ctx, sizeof(*t->src) * (size_t)n_src, d->name);
        if (t->src == NULL) {
            t->src = t->src_inline;
            g->n_nodes--;
            kiln__free(g->ctx, t);
            return kiln__graph_fail(g, KILN_E_OUT_OF_HOST_MEMORY, "%s", kiln_last_error());
        }
    }
    t->op = op;
    t->n_src = n_src;
    for (int i = 0; i < n_src; i++) {
        t->src[i] = src[i];
        if (src[i]->flags & KILN__F_NEEDS_GRAD) {
            t->flags |= KILN__F_NEEDS_GRAD;
        }
    }
    if (params_bytes > 0) {
        memcpy(t->params, params, params_bytes);
    }
    snprintf(t->name, sizeof(t->name), "%s#%d", d->name, t->id);
    t->dtype = KILN_DTYPE_F32;
    kiln_status s = d->infer(t);
    if (s != KILN_OK) {
        /* Unlink the half-made node; the message was set by infer. */
        g->n_nodes--;
        if (t->src != t->src_inline) {
            kiln__free(g->ctx, t->src);
        }
        kiln__free(g->ctx, t);
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", kiln_last_error());
        return kiln__graph_fail(g, s, "%s", msg);
    }
    t->n_elems = kiln__shape_elems(&t->shape);
    if (d->backward == NULL) {
        t->flags &= ~(uint32_t)KILN__F_NEEDS_GRAD;
    }
    size_t off = 0;
    size_t va = g->ctx->be.view_alignment;
    if ((d->flags & KILN__OPF_VIEW) ||
        (d->view != NULL && d->view(t, &off) && (off == 0 || (va > 0 && off % va == 0)))) {
        t->view_root = src[0]->view_root;
        t->view_offset = src[0]->view_offset + off;
    }
    return t;
}

/* ==== Leaves (public) ==== */

static int set_shape(kiln_graph *g, const char *what, int32_t rank, const int64_t *dims,
                     struct kiln_shape *s)
{
    memset(s, 0, sizeof(*s));
    if (g == NULL) {
        return 0;
    }
    if (g->status != KILN_OK) {
        return 0;
    }
    if (!valid_shape(g, what, rank, dims)) {
        return 0;
    }
    s->rank = rank;
    for (int32_t i = 0; i < rank; i++) {
        s->dims[i] = dims[i];
    }
    return 1;
}

kiln_tensor *kiln_input(kiln_graph *g, const char *name, kiln_dtype dt, int32_t rank,
                        const int64_t *dims)
{
    struct kiln_shape s;
    if (g == NULL) {
        return NULL;
    }
    if (!set_shape(g, name ? name : "input", rank, dims, &s)) {
        return &g->poison;
    }
    return kiln__leaf(g, name, dt, &s, KILN__F_INPUT | KILN__F_KEEP);
}

kiln_tensor *kiln_constant(kiln_graph *g, const char *name, kiln_dtype dt, int32_t rank,
                           const int64_t *dims, const void *data)
{
    struct kiln_shape s;
    if (g == NULL) {
        return NULL;
    }
    if (!set_shape(g, name ? name : "constant", rank, dims, &s)) {
        return &g->poison;
    }
    if (data == NULL) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_constant('%s'): data is NULL",
                                name ? name : "");
    }
    struct kiln_tensor *t = kiln__leaf(g, name, dt, &s, KILN__F_CONST);
    if (t->flags & KILN__F_POISON) {
        return t;
    }
    size_t nb = kiln_tensor_n_bytes(t);
    t->const_data = kiln__alloc(g->ctx, nb > 0 ? nb : 1, "a constant's data");
    if (t->const_data == NULL) {
        return kiln__graph_fail(g, KILN_E_OUT_OF_HOST_MEMORY, "%s", kiln_last_error());
    }
    memcpy(t->const_data, data, nb);
    return t;
}

static bool frozen(const kiln_graph *g, const char *name)
{
    for (int32_t i = 0; i < g->n_frozen; i++) {
        if (strncmp(name, g->frozen[i], strlen(g->frozen[i])) == 0) {
            return true;
        }
    }
    return false;
}

void kiln_graph_freeze(kiln_graph *g, const char *prefix)
{
    if (g == NULL) {
        return;
    }
    if (prefix == NULL || strlen(prefix) >= sizeof(g->frozen[0]) ||
        g->n_frozen == KILN__MAX_FROZEN) {
        kiln__graph_fail(g, KILN_E_INVALID_ARG,
                         "kiln_graph_freeze: prefix missing, too long, or more than %d",
                         KILN__MAX_FROZEN);
        return;
    }
    snprintf(g->frozen[g->n_frozen++], sizeof(g->frozen[0]), "%s", prefix);
}

static const char *kind_name(kiln_store_kind k)
{
    return k == KILN_STORE_PARAM    ? "parameter"
           : k == KILN_STORE_BUFFER ? "buffer"
                                    : "shared tensor";
}

/* The store entry name (created on first use) after checking it against the request. */
static struct kiln__entry *store_entry(kiln_graph *g, const char *name, kiln_store_kind kind,
                                       kiln_dtype dt, const struct kiln_shape *s, kiln_init init,
                                       float arg, uint64_t seed)
{
    struct kiln__entry *e = kiln__store_lookup(g->store, name);
    char a[96], b[96];
    if (e == NULL) {
        e = kiln__store_add(g->store, name, kind, dt, s, init, arg, seed);
        if (e == NULL) {
            kiln__graph_fail(g, KILN_E_OUT_OF_HOST_MEMORY, "%s", kiln_last_error());
        }
        return e;
    }
    if (e->kind != kind || e->dtype != dt || !kiln__shape_eq(&e->shape, s)) {
        kiln__graph_fail(g, KILN_E_SHAPE,
                         "'%s' is a %s %s %s in the parameter store; here a %s %s %s is asked for",
                         name, kind_name(e->kind), kiln_dtype_name(e->dtype),
                         kiln__shape_str(&e->shape, a, sizeof(a)), kind_name(kind),
                         kiln_dtype_name(dt), kiln__shape_str(s, b, sizeof(b)));
        return NULL;
    }
    return e;
}

kiln_tensor *kiln_store_tensor(kiln_graph *g, const char *name, kiln_store_kind kind, kiln_dtype dt,
                               int32_t rank, const int64_t *dims, kiln_init init, float arg,
                               uint64_t seed)
{
    struct kiln_shape s;
    if (g == NULL) {
        return NULL;
    }
    if (g->status != KILN_OK) {
        return &g->poison;
    }
    if (name == NULL || name[0] == '\0') {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_param: a %s needs a name",
                                kind_name(kind));
    }
    if ((int)init < KILN_INIT_ZEROS || (int)init > KILN_INIT_FAN_IN_UNIFORM) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_param '%s': unknown initializer %d",
                                name, (int)init);
    }
    if ((int)kind < KILN_STORE_PARAM || (int)kind > KILN_STORE_SHARED ||
        (kind != KILN_STORE_SHARED && dt != KILN_DTYPE_F32)) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                "kiln_store_tensor '%s': kind %d of dtype %s (parameters and "
                                "buffers are f32)",
                                name, (int)kind, kiln_dtype_name(dt));
    }
    if (!set_shape(g, name, rank, dims, &s)) {
        return &g->poison;
    }
    struct kiln_tensor *had =
        strlen(name) < sizeof(g->poison.name) ? kiln_graph_find(g, name) : NULL;
    if (had != NULL) {
        /* The same store tensor again in this graph (a layer applied at several places:
         * a recurrent cell at every step, a tree net's composition at every node). */
        if (had->entry != NULL && had->part == KILN__PART_VALUE) {
            return store_entry(g, name, kind, dt, &s, init, arg, seed) != NULL ? had : &g->poison;
        }
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "tensor name '%s' is already used", name);
    }
    /* The leaf first: it checks the name's length and the dtype before the store
     * records anything. */
    uint32_t flags = KILN__F_KEEP;
    bool freeze = kind == KILN_STORE_PARAM && frozen(g, name);
    flags |= kind == KILN_STORE_BUFFER   ? KILN__F_BUFFER
             : kind == KILN_STORE_SHARED ? KILN__F_SHARED
             : freeze                    ? KILN__F_FROZEN
                                         : KILN__F_PARAM | KILN__F_NEEDS_GRAD;
    struct kiln_tensor *t = kiln__leaf(g, name, dt, &s, flags);
    if (t->flags & KILN__F_POISON) {
        return t;
    }
    struct kiln__entry *e = store_entry(g, name, kind, dt, &s, init, arg, seed);
    if (e == NULL) {
        return &g->poison;
    }
    t->entry = e;
    t->part = KILN__PART_VALUE;
    t->seg = -1;
    return t;
}

kiln_tensor *kiln_param(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims,
                        kiln_init init, float arg, uint64_t seed)
{
    return kiln_store_tensor(g, name, KILN_STORE_PARAM, KILN_DTYPE_F32, rank, dims, init, arg,
                             seed);
}

struct kiln_tensor *kiln__store_range(kiln_graph *g, int32_t seg, int part, int64_t off, int64_t n)
{
    struct kiln_shape s = {1, {n}};
    struct kiln_tensor *t = kiln__leaf(g, NULL, KILN_DTYPE_F32, &s, KILN__F_KEEP);
    if (!(t->flags & KILN__F_POISON)) {
        t->part = part;
        t->seg = seg;
        t->soff = off;
    }
    return t;
}

kiln_tensor *kiln_assign(kiln_graph *g, kiln_tensor *dst, kiln_tensor *src)
{
    if (g == NULL) {
        return NULL;
    }
    if (dst != NULL && !(dst->flags & KILN__F_POISON) &&
        (dst->part != KILN__PART_VALUE || !(dst->flags & (KILN__F_SHARED | KILN__F_BUFFER)))) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                "kiln_assign: '%s' is not a shared or buffer tensor of the store",
                                dst->name);
    }
    return kiln__accumulate(g, dst, src, 0.0f, 1.0f);
}

kiln_tensor *kiln_graph_find(const kiln_graph *g, const char *name)
{
    for (int32_t i = 0; g != NULL && name != NULL && i < g->n_nodes; i++) {
        if (strcmp(g->nodes[i]->name, name) == 0) {
            return g->nodes[i];
        }
    }
    return NULL;
}

int32_t kiln_graph_n_params(const kiln_graph *g)
{
    int32_t n = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        n += (g->nodes[i]->flags & KILN__F_PARAM) != 0;
    }
    return n;
}

kiln_tensor *kiln_graph_param(const kiln_graph *g, int32_t idx)
{
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if ((g->nodes[i]->flags & KILN__F_PARAM) && idx-- == 0) {
            return g->nodes[i];
        }
    }
    return NULL;
}

/* ==== Tensor accessors ==== */

kiln_dtype kiln_tensor_dtype(const kiln_tensor *t)
{
    return t->dtype;
}

void kiln_tensor_shape(const kiln_tensor *t, struct kiln_shape *out)
{
    *out = t->shape;
}

int64_t kiln_tensor_n_elems(const kiln_tensor *t)
{
    return t->n_elems;
}

size_t kiln_tensor_n_bytes(const kiln_tensor *t)
{
    return (size_t)t->n_elems * kiln_dtype_size(t->dtype);
}

const char *kiln_tensor_name(const kiln_tensor *t)
{
    return t->name;
}

kiln_tensor *kiln_tensor_grad(const kiln_tensor *t)
{
    return t->grad;
}

kiln_graph *kiln_tensor_graph(const kiln_tensor *t)
{
    return t->graph;
}

kiln_tensor *kiln_tensor_keep(kiln_tensor *t)
{
    if (t != NULL) {
        if (t->graph->compiled) {
            kiln__graph_fail(t->graph, KILN_E_STATE,
                             "kiln_tensor_keep('%s'): call before kiln_graph_compile", t->name);
        } else {
            t->view_root->flags |= KILN__F_KEEP;
            t->flags |= KILN__F_KEEP;
        }
    }
    return t;
}

const char *kiln_dtype_name(kiln_dtype dt)
{
    return dt == KILN_DTYPE_F32 ? "f32" : dt == KILN_DTYPE_I32 ? "i32" : "?";
}

size_t kiln_dtype_size(kiln_dtype dt)
{
    (void)dt;
    return 4;
}
