/*
 * store.c - the parameter store: entries (parameters, buffers, shared tensors) by name,
 * their allocation into segments of flat device buffers with initial values, reads and
 * writes of values and gradients, the flat gradient view for reductions across
 * processes, clearing and resetting. Graph leaves bind to store storage in plan.c; the
 * optimizers are in src/train/optim.c and checkpoints in src/io/checkpoint.c.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../rng.h"
#include "graph_impl.h"
#include "store_impl.h"

/* ==== Lifetime ==== */

kiln_status kiln_store_create(kiln_context *ctx, kiln_store **out)
{
    if (ctx == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_store_create: NULL argument");
    }
    *out = NULL;
    struct kiln_store *s = kiln__calloc(ctx, sizeof(*s), "a parameter store");
    if (s == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    s->ctx = ctx;
    s->grads_zero = true;
    *out = s;
    return KILN_OK;
}

void kiln_store_destroy(kiln_store *s)
{
    if (s == NULL) {
        return;
    }
    struct kiln_context *ctx = s->ctx;
    struct kiln_backend *be = &ctx->be;
    for (int32_t i = s->n_optims - 1; i >= 0; i--) {
        kiln__optimizer_free(s->optims[i]);
    }
    /* Graphs that borrow the store must be gone (their leaves point into it). */
    KILN_ASSERT(s->n_graphs == 0);
    for (int32_t i = 0; i < s->n_segs; i++) {
        struct kiln__segment *sg = &s->segs[i];
        if (sg->vals != NULL) {
            be->ops->buffer_free(be, sg->vals);
        }
        if (sg->grads != NULL) {
            be->ops->buffer_free(be, sg->grads);
        }
        for (int k = 0; k < KILN__MAX_STATE; k++) {
            if (sg->state[k] != NULL) {
                be->ops->buffer_free(be, sg->state[k]);
            }
        }
    }
    for (int32_t i = 0; i < s->n_entries; i++) {
        kiln__free(ctx, s->entries[i]);
    }
    kiln__free(ctx, s->entries);
    kiln__free(ctx, s->segs);
    kiln__free(ctx, s->optims);
    kiln__free(ctx, s);
}

kiln_context *kiln_store_context(const kiln_store *s)
{
    return s->ctx;
}

uint64_t kiln_store_runs(const kiln_store *s)
{
    return s->runs;
}

void kiln_store_set_runs(kiln_store *s, uint64_t runs)
{
    s->runs = runs;
}

/* ==== Entries ==== */

/*
 * The list of n pointers (capacity *cap) with room for one more: list itself, or a copy
 * of twice its capacity (first for a new list) that replaces it; NULL when memory ran out
 * (list unchanged).
 */
static void *grow_list(struct kiln_store *s, void *list, int32_t n, int32_t *cap, int32_t first,
                       const char *what)
{
    if (n < *cap) {
        return list;
    }
    int32_t c = *cap ? 2 * *cap : first;
    void **l = kiln__alloc(s->ctx, sizeof(void *) * (size_t)c, what);
    if (l == NULL) {
        return NULL;
    }
    if (n > 0) {
        memcpy(l, list, sizeof(void *) * (size_t)n);
    }
    kiln__free(s->ctx, list);
    *cap = c;
    return l;
}

struct kiln__entry *kiln__store_lookup(const struct kiln_store *s, const char *name)
{
    for (int32_t i = 0; name != NULL && i < s->n_entries; i++) {
        if (strcmp(s->entries[i]->name, name) == 0) {
            return s->entries[i];
        }
    }
    return NULL;
}

struct kiln__entry *kiln__store_add(struct kiln_store *s, const char *name, kiln_store_kind kind,
                                    kiln_dtype dt, const struct kiln_shape *shape, kiln_init init,
                                    float arg, uint64_t seed)
{
    struct kiln__entry **list =
        grow_list(s, s->entries, s->n_entries, &s->cap_entries, 32, "store entries");
    if (list == NULL) {
        return NULL;
    }
    s->entries = list;
    struct kiln__entry *e = kiln__calloc(s->ctx, sizeof(*e), "a store entry");
    if (e == NULL) {
        return NULL;
    }
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->kind = kind;
    e->dtype = dt;
    e->shape = *shape;
    e->n_elems = 1;
    for (int32_t i = 0; i < shape->rank; i++) {
        e->n_elems *= shape->dims[i];
    }
    e->init = init;
    e->init_arg = arg;
    e->init_seed = seed;
    e->init_stream = kind == KILN_STORE_PARAM ? (uint64_t)s->n_streams++ : 0;
    e->seg = -1;
    s->entries[s->n_entries++] = e;
    return e;
}

int32_t kiln_store_n_entries(const kiln_store *s)
{
    return s->n_entries;
}

kiln_status kiln_store_entry(const kiln_store *s, int32_t i, struct kiln_store_entry *out)
{
    if (s == NULL || out == NULL || i < 0 || i >= s->n_entries) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_store_entry: no entry %d", i);
    }
    const struct kiln__entry *e = s->entries[i];
    out->name = e->name;
    out->kind = e->kind;
    out->dtype = e->dtype;
    out->shape = e->shape;
    out->allocated = e->seg >= 0;
    return KILN_OK;
}

int32_t kiln_store_find(const kiln_store *s, const char *name)
{
    for (int32_t i = 0; s != NULL && name != NULL && i < s->n_entries; i++) {
        if (strcmp(s->entries[i]->name, name) == 0) {
            return i;
        }
    }
    return -1;
}

int32_t kiln_store_n_params(const kiln_store *s)
{
    int32_t n = 0;
    for (int32_t i = 0; i < s->n_entries; i++) {
        n += s->entries[i]->kind == KILN_STORE_PARAM;
    }
    return n;
}

int64_t kiln_store_n_param_elems(const kiln_store *s)
{
    int64_t n = 0;
    for (int32_t i = 0; i < s->n_entries; i++) {
        if (s->entries[i]->kind == KILN_STORE_PARAM) {
            n += s->entries[i]->n_elems;
        }
    }
    return n;
}

/* ==== Initial values ==== */

kiln_status kiln__init_values(const struct kiln_shape *sh, kiln_init init, float arg, uint64_t seed,
                              uint64_t st, const char *name, float *host)
{
    int64_t n = 1;
    for (int32_t i = 0; i < sh->rank; i++) {
        n *= sh->dims[i];
    }
    double fan_in = 1.0, fan_out = 1.0, a;
    if (sh->rank >= 2) {
        double rf = 1.0;
        for (int32_t i = 2; i < sh->rank; i++) {
            rf *= (double)sh->dims[i];
        }
        fan_in = (double)sh->dims[1] * rf;
        fan_out = (double)sh->dims[0] * rf;
    } else if (sh->rank == 1) {
        fan_in = fan_out = (double)sh->dims[0];
    }
    switch (init) {
    case KILN_INIT_ZEROS:
        memset(host, 0, (size_t)n * sizeof(float));
        return KILN_OK;
    case KILN_INIT_ONES:
    case KILN_INIT_CONSTANT:
        for (int64_t i = 0; i < n; i++) {
            host[i] = init == KILN_INIT_ONES ? 1.0f : arg;
        }
        return KILN_OK;
    case KILN_INIT_UNIFORM:
        a = arg;
        break;
    case KILN_INIT_XAVIER_UNIFORM:
        a = sqrt(6.0 / (fan_in + fan_out));
        break;
    case KILN_INIT_HE_UNIFORM:
        a = sqrt(6.0 / fan_in);
        break;
    case KILN_INIT_FAN_IN_UNIFORM:
        a = 1.0 / sqrt(fan_in);
        break;
    case KILN_INIT_NORMAL:
    case KILN_INIT_XAVIER_NORMAL:
    case KILN_INIT_HE_NORMAL: {
        double sd = init == KILN_INIT_NORMAL          ? arg
                    : init == KILN_INIT_XAVIER_NORMAL ? sqrt(2.0 / (fan_in + fan_out))
                                                      : sqrt(2.0 / fan_in);
        for (int64_t i = 0; i < n; i++) {
            host[i] = (float)(sd * kiln__rng_normal(seed, st, (uint64_t)i));
        }
        return KILN_OK;
    }
    default:
        return KILN_FAIL(KILN_E_INVALID_ARG, "tensor '%s': unknown initializer %d", name,
                         (int)init);
    }
    for (int64_t i = 0; i < n; i++) {
        host[i] = (float)(a * (2.0 * kiln__rng_uniform(seed, st, (uint64_t)i) - 1.0));
    }
    return KILN_OK;
}

/* ==== Segments ==== */

struct kiln_buffer *kiln__store_buffer(const struct kiln_store *s, int32_t seg, int part)
{
    const struct kiln__segment *sg = &s->segs[seg];
    if (part == KILN__PART_VALUE) {
        return sg->vals;
    }
    if (part == KILN__PART_GRAD) {
        return sg->grads;
    }
    return sg->state[part - KILN__PART_STATE];
}

/* A zeroed device buffer of n elements (at least one alignment unit). */
static kiln_status zero_buffer(struct kiln_store *s, int64_t n, struct kiln_buffer **out)
{
    struct kiln_backend *be = &s->ctx->be;
    size_t nb = (size_t)n * sizeof(float);
    if (nb < be->alignment) {
        nb = be->alignment;
    }
    KILN_TRY(be->ops->buffer_alloc(be, nb, out));
    float *z = kiln__calloc(s->ctx, nb, "zeros");
    kiln_status st = z != NULL ? be->ops->upload(be, *out, 0, z, nb) : KILN_E_OUT_OF_HOST_MEMORY;
    kiln__free(s->ctx, z);
    if (st != KILN_OK) {
        be->ops->buffer_free(be, *out);
        *out = NULL;
    }
    s->ctx->stats.bytes_uploaded += nb;
    return st;
}

/* Initial values of every entry of segment seg into host (n_vals floats, zeroed gaps). */
static kiln_status segment_image(struct kiln_store *s, int32_t seg, float *host)
{
    memset(host, 0, (size_t)s->segs[seg].n_vals * sizeof(float));
    for (int32_t i = 0; i < s->n_entries; i++) {
        const struct kiln__entry *e = s->entries[i];
        if (e->seg != seg) {
            continue;
        }
        if (e->kind == KILN_STORE_SHARED) {
            continue; /* zeros, of either dtype */
        }
        KILN_TRY(kiln__init_values(&e->shape, e->init, e->init_arg, e->init_seed, e->init_stream,
                                   e->name, host + e->off));
    }
    return KILN_OK;
}

static kiln_status upload_values(struct kiln_store *s, int32_t seg)
{
    struct kiln_backend *be = &s->ctx->be;
    struct kiln__segment *sg = &s->segs[seg];
    size_t nb = (size_t)sg->n_vals * sizeof(float);
    float *host = kiln__alloc(s->ctx, nb ? nb : 4, "initial values");
    if (host == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    kiln_status st = segment_image(s, seg, host);
    if (st == KILN_OK && nb > 0) {
        st = be->ops->upload(be, sg->vals, 0, host, nb);
        s->ctx->stats.bytes_uploaded += nb;
    }
    kiln__free(s->ctx, host);
    return st;
}

static int64_t align_elems(const struct kiln_store *s, int64_t n)
{
    int64_t a = (int64_t)(s->ctx->be.alignment / sizeof(float));
    a = a < 1 ? 1 : a;
    return (n + a - 1) / a * a;
}

static void free_segment(struct kiln_store *s, struct kiln__segment *sg)
{
    struct kiln_backend *be = &s->ctx->be;
    if (sg->vals != NULL) {
        be->ops->buffer_free(be, sg->vals);
    }
    if (sg->grads != NULL) {
        be->ops->buffer_free(be, sg->grads);
    }
    for (int k = 0; k < KILN__MAX_STATE; k++) {
        if (sg->state[k] != NULL) {
            be->ops->buffer_free(be, sg->state[k]);
        }
    }
    memset(sg, 0, sizeof(*sg));
}

/* Places every unallocated entry in a new segment: parameters first, each aligned. */
static kiln_status plan_segment(struct kiln_store *s, int32_t seg, struct kiln__segment *sg)
{
    int64_t off = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int32_t i = 0; i < s->n_entries; i++) {
            struct kiln__entry *e = s->entries[i];
            if (e->seg >= 0 || (e->kind == KILN_STORE_PARAM) != (pass == 0)) {
                continue;
            }
            e->off = off;
            off = align_elems(s, off + e->n_elems);
            if (off > (INT64_C(1) << 40)) {
                return KILN_FAIL(KILN_E_OUT_OF_DEVICE_MEMORY,
                                 "parameter store: %lld elements do not fit one segment",
                                 (long long)off);
            }
        }
        if (pass == 0) {
            sg->n_param = off;
        }
    }
    sg->n_vals = off;
    (void)seg;
    return KILN_OK;
}

kiln_status kiln_store_alloc(kiln_store *s)
{
    bool pending = false;
    for (int32_t i = 0; i < s->n_entries && !pending; i++) {
        pending = s->entries[i]->seg < 0;
    }
    if (!pending) {
        return KILN_OK;
    }
    if (s->n_segs == s->cap_segs) {
        int32_t cap = s->cap_segs ? 2 * s->cap_segs : 4;
        struct kiln__segment *sg = kiln__calloc(s->ctx, sizeof(*sg) * (size_t)cap, "segments");
        if (sg == NULL) {
            return KILN_E_OUT_OF_HOST_MEMORY;
        }
        if (s->n_segs > 0) {
            memcpy(sg, s->segs, sizeof(*sg) * (size_t)s->n_segs);
        }
        kiln__free(s->ctx, s->segs);
        s->segs = sg;
        s->cap_segs = cap;
    }
    int32_t seg = s->n_segs;
    struct kiln__segment *sg = &s->segs[seg];
    struct kiln_backend *be = &s->ctx->be;
    memset(sg, 0, sizeof(*sg));
    kiln_status st = plan_segment(s, seg, sg);
    if (st == KILN_OK) {
        size_t nb = (size_t)sg->n_vals * sizeof(float);
        st = be->ops->buffer_alloc(be, nb > be->alignment ? nb : be->alignment, &sg->vals);
    }
    if (st == KILN_OK && sg->n_param > 0) {
        st = zero_buffer(s, sg->n_param, &sg->grads);
        for (int32_t k = 0; k < s->n_state && st == KILN_OK; k++) {
            st = zero_buffer(s, sg->n_param, &sg->state[k]);
        }
    }
    if (st != KILN_OK) {
        free_segment(s, sg);
        return st;
    }
    /* The entries belong to the segment from here on; their values are uploaded now. */
    for (int32_t i = 0; i < s->n_entries; i++) {
        if (s->entries[i]->seg < 0) {
            s->entries[i]->seg = seg;
        }
    }
    s->n_segs++;
    s->gen++;
    st = upload_values(s, seg);
    kiln__log(s->ctx, KILN_LOG_DEBUG,
              "parameter store: segment %d of %lld parameter and %lld other elements", seg,
              (long long)sg->n_param, (long long)(sg->n_vals - sg->n_param));
    return st;
}

kiln_status kiln__store_state_kind(struct kiln_store *s, const char *name, int32_t *k)
{
    for (int32_t i = 0; i < s->n_state; i++) {
        if (strcmp(s->state_names[i], name) == 0) {
            *k = i;
            return KILN_OK;
        }
    }
    if (s->n_state == KILN__MAX_STATE || strlen(name) >= KILN__STATE_NAME_LEN) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "parameter store: no room for optimizer state '%s'",
                         name);
    }
    int32_t i = s->n_state;
    for (int32_t g = 0; g < s->n_segs; g++) {
        if (s->segs[g].n_param > 0) {
            KILN_TRY(zero_buffer(s, s->segs[g].n_param, &s->segs[g].state[i]));
        }
    }
    snprintf(s->state_names[i], sizeof(s->state_names[i]), "%s", name);
    s->n_state++;
    *k = i;
    return KILN_OK;
}

kiln_status kiln__store_add_optim(struct kiln_store *s, struct kiln_optimizer *o)
{
    struct kiln_optimizer **list =
        grow_list(s, s->optims, s->n_optims, &s->cap_optims, 4, "optimizers");
    if (list == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    s->optims = list;
    s->optims[s->n_optims++] = o;
    return KILN_OK;
}

void kiln__store_remove_optim(struct kiln_store *s, struct kiln_optimizer *o)
{
    for (int32_t i = 0; i < s->n_optims; i++) {
        if (s->optims[i] == o) {
            memmove(&s->optims[i], &s->optims[i + 1],
                    sizeof(*s->optims) * (size_t)(s->n_optims - i - 1));
            s->n_optims--;
            return;
        }
    }
}

/* ==== Reading and writing ==== */

static kiln_status entry_of(kiln_store *s, const char *name, size_t n_bytes, bool grad,
                            const char *fn, struct kiln__entry **out)
{
    if (s == NULL || name == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: NULL argument", fn);
    }
    struct kiln__entry *e = kiln__store_lookup(s, name);
    if (e == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: the store has no entry '%s'", fn, name);
    }
    if (grad && e->kind != KILN_STORE_PARAM) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s('%s'): not a trainable parameter", fn, name);
    }
    if (n_bytes != (size_t)e->n_elems * sizeof(float)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s('%s'): %zu bytes given, the entry has %zu", fn,
                         name, n_bytes, (size_t)e->n_elems * sizeof(float));
    }
    if (e->seg < 0) {
        return KILN_FAIL(KILN_E_STATE,
                         "%s('%s'): not allocated yet (compile a graph using it, or call "
                         "kiln_store_alloc)",
                         fn, name);
    }
    *out = e;
    return KILN_OK;
}

static kiln_status transfer(kiln_store *s, const struct kiln__entry *e, int part, void *host,
                            bool up)
{
    struct kiln_backend *be = &s->ctx->be;
    struct kiln_buffer *b = kiln__store_buffer(s, e->seg, part);
    size_t nb = (size_t)e->n_elems * sizeof(float), off = (size_t)e->off * sizeof(float);
    if (up) {
        s->ctx->stats.bytes_uploaded += nb;
        return be->ops->upload(be, b, off, host, nb);
    }
    s->ctx->stats.bytes_downloaded += nb;
    return be->ops->download(be, b, off, host, nb);
}

kiln_status kiln_store_read(kiln_store *s, const char *name, void *dst, size_t n_bytes)
{
    struct kiln__entry *e;
    KILN_TRY(entry_of(s, name, n_bytes, false, "kiln_store_read", &e));
    return transfer(s, e, KILN__PART_VALUE, dst, false);
}

kiln_status kiln_store_write(kiln_store *s, const char *name, const void *src, size_t n_bytes)
{
    struct kiln__entry *e;
    KILN_TRY(entry_of(s, name, n_bytes, false, "kiln_store_write", &e));
    return transfer(s, e, KILN__PART_VALUE, (void *)src, true);
}

kiln_status kiln_store_read_grad(kiln_store *s, const char *name, float *dst, size_t n_bytes)
{
    struct kiln__entry *e;
    KILN_TRY(entry_of(s, name, n_bytes, true, "kiln_store_read_grad", &e));
    return transfer(s, e, KILN__PART_GRAD, dst, false);
}

kiln_status kiln_store_write_grad(kiln_store *s, const char *name, const float *src, size_t n_bytes)
{
    struct kiln__entry *e;
    KILN_TRY(entry_of(s, name, n_bytes, true, "kiln_store_write_grad", &e));
    s->grads_zero = false;
    return transfer(s, e, KILN__PART_GRAD, (void *)src, true);
}

/* Copies every parameter's gradient between the flat host array and the segments. */
static kiln_status grads_flat(kiln_store *s, float *host, int64_t n, bool up, const char *fn)
{
    if (s == NULL || (host == NULL && n > 0)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: NULL argument", fn);
    }
    int64_t want = kiln_store_n_param_elems(s);
    if (n != want) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: %lld elements given, the store has %lld", fn,
                         (long long)n, (long long)want);
    }
    int64_t pos = 0;
    for (int32_t i = 0; i < s->n_entries; i++) {
        const struct kiln__entry *e = s->entries[i];
        if (e->kind != KILN_STORE_PARAM) {
            continue;
        }
        if (e->seg < 0) {
            return KILN_FAIL(KILN_E_STATE, "%s: parameter '%s' is not allocated yet", fn, e->name);
        }
        KILN_TRY(transfer(s, e, KILN__PART_GRAD, host + pos, up));
        pos += e->n_elems;
    }
    if (up) {
        s->grads_zero = false;
    }
    return KILN_OK;
}

kiln_status kiln_store_grads_download(kiln_store *s, float *dst, int64_t n)
{
    return grads_flat(s, dst, n, false, "kiln_store_grads_download");
}

kiln_status kiln_store_grads_upload(kiln_store *s, const float *src, int64_t n)
{
    return grads_flat(s, (float *)src, n, true, "kiln_store_grads_upload");
}

/* ==== Clearing and resetting ==== */

/* Zeroes the gradient (or state k) buffers of every segment with an in-place ACCUMULATE
 * of each, run on the device by a graph over the store built for the purpose. */
static kiln_status clear_part(kiln_store *s, int part)
{
    kiln_graph *g = NULL;
    KILN_TRY(kiln_graph_create_in(s, &g));
    for (int32_t i = 0; i < s->n_segs; i++) {
        int64_t n = s->segs[i].n_param;
        if (n > 0) {
            struct kiln_tensor *t = kiln__store_range(g, i, part, 0, n);
            kiln__accumulate(g, t, t, 0.0f, 0.0f);
        }
    }
    kiln_status st = kiln_graph_compile(g);
    if (st == KILN_OK) {
        st = kiln__graph_exec(g);
    }
    kiln_graph_destroy(g);
    return st;
}

kiln_status kiln_store_zero_grad(kiln_store *s)
{
    if (s == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_store_zero_grad: store is NULL");
    }
    if (s->grads_zero) {
        return KILN_OK;
    }
    KILN_TRY(clear_part(s, KILN__PART_GRAD));
    s->grads_zero = true;
    return KILN_OK;
}

kiln_status kiln_store_reset(kiln_store *s)
{
    if (s == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_store_reset: store is NULL");
    }
    for (int32_t i = 0; i < s->n_segs; i++) {
        KILN_TRY(upload_values(s, i));
    }
    s->grads_zero = false;
    KILN_TRY(kiln_store_zero_grad(s));
    for (int32_t k = 0; k < s->n_state; k++) {
        KILN_TRY(clear_part(s, KILN__PART_STATE + k));
    }
    for (int32_t i = 0; i < s->n_optims; i++) {
        kiln__optimizer_reset(s->optims[i]);
    }
    s->runs = 0;
    return KILN_OK;
}
