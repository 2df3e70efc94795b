/*
 * checkpoint.c - a parameter store to and from safetensors files, by entry name:
 * parameters and buffers (batch norm's running statistics) and, when asked, the
 * optimizer state ("<parameter>.<state kind>", e.g. "fc1.weight.exp_avg"). The graph
 * calls (kiln_graph_save / kiln_graph_load) work on the graph's store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "kiln/io.h"
#include "safetensors.h"

/* One tensor of a checkpoint: an entry's values (state < 0) or its state kind state. */
struct item {
    const struct kiln__entry *e;
    int32_t state;
    char name[128];
};

/* The tensors a checkpoint of s holds, in entry order; *n_out their count. */
static struct item *items_of(const struct kiln_store *s, int with_state, int32_t *n_out)
{
    int32_t cap = s->n_entries * (1 + (with_state ? s->n_state : 0)) + 1, n = 0;
    struct item *it = calloc((size_t)cap, sizeof(*it));
    for (int32_t i = 0; it != NULL && i < s->n_entries; i++) {
        const struct kiln__entry *e = s->entries[i];
        if (e->kind == KILN_STORE_SHARED || e->seg < 0) {
            continue;
        }
        it[n].e = e;
        it[n].state = -1;
        snprintf(it[n].name, sizeof(it[n].name), "%s", e->name);
        n++;
        for (int32_t k = 0; with_state && e->kind == KILN_STORE_PARAM && k < s->n_state; k++) {
            it[n].e = e;
            it[n].state = k;
            snprintf(it[n].name, sizeof(it[n].name), "%s.%s", e->name, s->state_names[k]);
            n++;
        }
    }
    *n_out = n;
    return it;
}

static kiln_status item_transfer(struct kiln_store *s, const struct item *it, void *host, bool up)
{
    struct kiln_backend *be = &s->ctx->be;
    int part = it->state < 0 ? KILN__PART_VALUE : KILN__PART_STATE + it->state;
    struct kiln_buffer *b = kiln__store_buffer(s, it->e->seg, part);
    size_t nb = (size_t)it->e->n_elems * sizeof(float), off = (size_t)it->e->off * sizeof(float);
    if (up) {
        s->ctx->stats.bytes_uploaded += nb;
        return be->ops->upload(be, b, off, host, nb);
    }
    s->ctx->stats.bytes_downloaded += nb;
    return be->ops->download(be, b, off, host, nb);
}

kiln_status kiln_store_save(kiln_store *s, const char *path, int with_state)
{
    if (s == NULL || path == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_store_save: NULL argument");
    }
    int32_t n = 0;
    struct item *it = items_of(s, with_state, &n);
    size_t total = 0;
    for (int32_t i = 0; it != NULL && i < n; i++) {
        total += (size_t)it[i].e->n_elems * sizeof(float);
    }
    struct kiln__st_tensor *ts = calloc((size_t)(n ? n : 1), sizeof(*ts));
    unsigned char *data = malloc(total ? total : 1);
    kiln_status st = KILN_OK;
    if (it == NULL || ts == NULL || data == NULL) {
        st = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_store_save(%s): out of host memory", path);
        goto done;
    }
    size_t off = 0;
    for (int32_t i = 0; i < n && st == KILN_OK; i++) {
        const struct kiln__entry *e = it[i].e;
        struct kiln__st_tensor *t = &ts[i];
        snprintf(t->name, sizeof(t->name), "%s", it[i].name);
        t->dtype = KILN__ST_F32;
        t->rank = e->shape.rank;
        for (int32_t d = 0; d < e->shape.rank; d++) {
            t->dims[d] = e->shape.dims[d];
        }
        t->n_elems = e->n_elems;
        t->n_bytes = (size_t)e->n_elems * sizeof(float);
        t->data = data + off;
        st = item_transfer(s, &it[i], data + off, false);
        off += t->n_bytes;
    }
    if (st == KILN_OK) {
        st = kiln__st_write(path, ts, n);
    }
done:
    free(it);
    free(ts);
    free(data);
    return st;
}

/* Checks file tensor ft against item it (dtype and shape). */
static kiln_status check_item(const char *path, const struct item *it,
                              const struct kiln__st_tensor *ft)
{
    char a[96], b[96];
    if (ft->dtype != KILN__ST_F32) {
        return KILN_FAIL(KILN_E_DTYPE, "%s: tensor '%s' is not F32", path, it->name);
    }
    struct kiln_shape fs;
    memset(&fs, 0, sizeof(fs));
    fs.rank = ft->rank <= KILN_MAX_DIMS ? ft->rank : -1;
    for (int32_t d = 0; d < ft->rank && d < KILN_MAX_DIMS; d++) {
        fs.dims[d] = ft->dims[d];
    }
    if (!kiln__shape_eq(&fs, &it->e->shape)) {
        return KILN_FAIL(KILN_E_SHAPE, "%s: tensor '%s' is %s in the file but %s in the store",
                         path, it->name, kiln__shape_str(&fs, a, sizeof(a)),
                         kiln__shape_str(&it->e->shape, b, sizeof(b)));
    }
    return KILN_OK;
}

kiln_status kiln_store_load(kiln_store *s, const char *path, int allow_missing)
{
    if (s == NULL || path == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_store_load: NULL argument");
    }
    KILN_TRY(kiln_store_alloc(s));
    struct kiln__st_file f;
    KILN_TRY(kiln__st_read(path, &f));
    int32_t n = 0;
    struct item *it = items_of(s, 1, &n);
    kiln_status st = it != NULL ? KILN_OK
                                : KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY,
                                            "kiln_store_load(%s): out of host memory", path);
    /* Check everything before writing anything, so a bad file changes nothing. */
    for (int pass = 0; pass < 2 && st == KILN_OK; pass++) {
        for (int32_t i = 0; i < n && st == KILN_OK; i++) {
            const struct kiln__st_tensor *ft = kiln__st_find(&f, it[i].name);
            if (ft == NULL) {
                if (!allow_missing && it[i].state < 0) {
                    st = KILN_FAIL(KILN_E_FORMAT, "%s: %s '%s' is missing", path,
                                   it[i].e->kind == KILN_STORE_PARAM ? "parameter" : "buffer",
                                   it[i].name);
                }
                continue;
            }
            st = check_item(path, &it[i], ft);
            if (st == KILN_OK && pass == 1) {
                st = item_transfer(s, &it[i], (void *)ft->data, true);
            }
        }
    }
    free(it);
    kiln__st_free(&f);
    return st;
}

kiln_status kiln_graph_save(kiln_graph *g, const char *path, int with_state)
{
    if (g == NULL || path == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_graph_save: NULL argument");
    }
    if (!g->compiled) {
        return KILN_FAIL(KILN_E_STATE, "kiln_graph_save(%s): compile the graph first", path);
    }
    return kiln_store_save(g->store, path, with_state);
}

kiln_status kiln_graph_load(kiln_graph *g, const char *path, int allow_missing)
{
    if (g == NULL || path == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_graph_load: NULL argument");
    }
    if (!g->compiled) {
        return KILN_FAIL(KILN_E_STATE, "kiln_graph_load(%s): compile the graph first", path);
    }
    return kiln_store_load(g->store, path, allow_missing);
}
