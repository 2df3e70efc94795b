/*
 * checkpoint.c - kiln_graph_save and kiln_graph_load: parameters (and optimizer state)
 * of a compiled graph to and from safetensors files, by tensor name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "kiln/io.h"
#include "safetensors.h"

static bool saved(const struct kiln_tensor *t, int with_state)
{
    return t->op == KILN__OP_LEAF && ((t->flags & (KILN__F_PARAM | KILN__F_BUFFER)) ||
                                      (with_state && (t->flags & KILN__F_STATE)));
}

kiln_status kiln_graph_save(kiln_graph *g, const char *path, int with_state)
{
    if (g == NULL || path == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_graph_save: NULL argument");
    }
    if (!g->compiled) {
        return KILN_FAIL(KILN_E_STATE, "kiln_graph_save(%s): compile the graph first", path);
    }
    int32_t n = 0;
    size_t total = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (saved(g->nodes[i], with_state)) {
            n++;
            total += kiln_tensor_n_bytes(g->nodes[i]);
        }
    }
    struct kiln__st_tensor *ts = calloc((size_t)(n ? n : 1), sizeof(*ts));
    unsigned char *data = malloc(total ? total : 1);
    kiln_status s = KILN_OK;
    if (ts == NULL || data == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_graph_save(%s): out of host memory", path);
        goto done;
    }
    size_t off = 0;
    int32_t k = 0;
    for (int32_t i = 0; i < g->n_nodes && s == KILN_OK; i++) {
        const struct kiln_tensor *t = g->nodes[i];
        if (!saved(t, with_state)) {
            continue;
        }
        struct kiln__st_tensor *st = &ts[k++];
        snprintf(st->name, sizeof(st->name), "%s", t->name);
        st->dtype = KILN__ST_F32;
        st->rank = t->shape.rank;
        for (int32_t d = 0; d < t->shape.rank; d++) {
            st->dims[d] = t->shape.dims[d];
        }
        st->n_elems = t->n_elems;
        st->n_bytes = kiln_tensor_n_bytes(t);
        st->data = data + off;
        s = kiln_tensor_download(t, data + off, st->n_bytes);
        off += st->n_bytes;
    }
    if (s == KILN_OK) {
        s = kiln__st_write(path, ts, n);
    }
done:
    free(ts);
    free(data);
    return s;
}

kiln_status kiln_graph_load(kiln_graph *g, const char *path, int allow_missing)
{
    if (g == NULL || path == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_graph_load: NULL argument");
    }
    if (!g->compiled) {
        return KILN_FAIL(KILN_E_STATE, "kiln_graph_load(%s): compile the graph first", path);
    }
    struct kiln__st_file f;
    KILN_TRY(kiln__st_read(path, &f));
    kiln_status s = KILN_OK;
    char a[64], b[64];
    /* Check everything before writing anything, so a bad file changes nothing. */
    for (int pass = 0; pass < 2 && s == KILN_OK; pass++) {
        for (int32_t i = 0; i < g->n_nodes && s == KILN_OK; i++) {
            struct kiln_tensor *t = g->nodes[i];
            if (!saved(t, 1)) {
                continue;
            }
            const struct kiln__st_tensor *st = kiln__st_find(&f, t->name);
            if (st == NULL) {
                if (!allow_missing && (t->flags & (KILN__F_PARAM | KILN__F_BUFFER))) {
                    s = KILN_FAIL(KILN_E_FORMAT, "%s: %s '%s' is missing", path,
                                  (t->flags & KILN__F_PARAM) ? "parameter" : "buffer", t->name);
                }
                continue;
            }
            if (st->dtype != KILN__ST_F32) {
                s = KILN_FAIL(KILN_E_DTYPE, "%s: tensor '%s' is not F32", path, t->name);
                continue;
            }
            struct kiln_shape fs = {st->rank <= KILN_MAX_DIMS ? st->rank : -1, {0, 0, 0, 0}};
            for (int32_t d = 0; d < st->rank && d < KILN_MAX_DIMS; d++) {
                fs.dims[d] = st->dims[d];
            }
            if (!kiln__shape_eq(&fs, &t->shape)) {
                s = KILN_FAIL(KILN_E_SHAPE, "%s: tensor '%s' is %s in the file but %s in the graph",
                              path, t->name, kiln__shape_str(&fs, a, sizeof(a)),
                              kiln__shape_str(&t->shape, b, sizeof(b)));
                continue;
            }
            if (pass == 1) {
                s = kiln_tensor_upload(t, st->data, st->n_bytes);
            }
        }
    }
    kiln__st_free(&f);
    return s;
}
