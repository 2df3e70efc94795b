/*
 * checkpoint.c - a parameter store to and from safetensors files, by entry name:
 * parameters and buffers (batch norm's running statistics) and, when asked, the
 * optimizer state ("<parameter>.<state kind>", e.g. "fc1.weight.exp_avg"). The graph
 * calls (kiln_graph_save / kiln_graph_load) work on the graph's store.
 * kiln_checkpoint_save and kiln_checkpoint_load add the metadata (the caller's pairs and
 * kiln's: format, version, run count, each optimizer's kind, prefix and step count) and
 * the strict or partial matching of names and shapes that resuming and fine-tuning need.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
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

/* Writes the tensors of s (with their state when with_state) and the n_meta pairs of
 * meta (key, value, key, value...) to path. */
static kiln_status save_tensors(kiln_store *s, const char *path, int with_state,
                                const char *const *meta, int32_t n_meta)
{
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
        st = kiln__st_write_meta(path, ts, n, meta, n_meta);
    }
done:
    free(it);
    free(ts);
    free(data);
    return st;
}

kiln_status kiln_store_save(kiln_store *s, const char *path, int with_state)
{
    if (s == NULL || path == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_store_save: NULL argument");
    }
    return save_tensors(s, path, with_state, NULL, 0);
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

/* ==== Checkpoints with metadata ==== */

/* kiln.optimizers: [{"kind", "prefix", "steps", "lr"}] of s's optimizers. */
static char *optimizers_json(const struct kiln_store *s)
{
    cJSON *arr = cJSON_CreateArray();
    for (int32_t i = 0; arr != NULL && i < s->n_optims; i++) {
        const char *kind, *prefix;
        float lr;
        kiln__optimizer_info(s->optims[i], &kind, &prefix, &lr);
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(arr, o) ||
            cJSON_AddStringToObject(o, "kind", kind) == NULL ||
            cJSON_AddStringToObject(o, "prefix", prefix) == NULL ||
            cJSON_AddNumberToObject(o, "steps", (double)kiln_optimizer_steps(s->optims[i])) ==
                NULL ||
            cJSON_AddNumberToObject(o, "lr", (double)lr) == NULL) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    char *json = arr != NULL ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return json;
}

kiln_status kiln_checkpoint_save(kiln_store *s, const char *path, const struct kiln_save_options *o)
{
    struct kiln_save_options d = KILN_SAVE_OPTIONS_INIT;
    if (s == NULL || path == NULL || (o != NULL && o->struct_size < sizeof(*o))) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_checkpoint_save: NULL argument or bad options");
    }
    o = o != NULL ? o : &d;
    int32_t n_user = kiln_meta_count(o->meta);
    for (int32_t i = 0; i < n_user; i++) {
        if (strncmp(kiln_meta_key(o->meta, i), "kiln.", 5) == 0) {
            return KILN_FAIL(KILN_E_INVALID_ARG,
                             "kiln_checkpoint_save(%s): metadata key '%s' is reserved (kiln.*)",
                             path, kiln_meta_key(o->meta, i));
        }
    }
    const char **meta = malloc(sizeof(*meta) * (size_t)(2 * (n_user + 4)));
    char *optims = o->with_state ? optimizers_json(s) : NULL;
    char runs[32];
    kiln_status st = KILN_OK;
    if (meta == NULL || (o->with_state && optims == NULL)) {
        st = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_checkpoint_save(%s): out of host memory",
                       path);
        goto done;
    }
    int32_t n = 0;
    meta[2 * n] = "kiln.format";
    meta[2 * n++ + 1] = "1";
    meta[2 * n] = "kiln.version";
    meta[2 * n++ + 1] = kiln_version();
    if (o->with_state) {
        snprintf(runs, sizeof(runs), "%" PRIu64, s->runs);
        meta[2 * n] = "kiln.runs";
        meta[2 * n++ + 1] = runs;
        meta[2 * n] = "kiln.optimizers";
        meta[2 * n++ + 1] = optims;
    }
    for (int32_t i = 0; i < n_user; i++) {
        meta[2 * n] = kiln_meta_key(o->meta, i);
        meta[2 * n++ + 1] = kiln_meta_value(o->meta, i);
    }
    st = save_tensors(s, path, o->with_state, meta, n);
done:
    cJSON_free(optims);
    free(meta);
    return st;
}

/* Whether a tensor name of a file is the state of a parameter of s: "<param>.<kind>"
 * with a kind without dots. */
static bool is_state_name(const struct kiln_store *s, const char *name)
{
    const char *dot = strrchr(name, '.');
    char base[KILN_MAX_NAME];
    if (dot == NULL || dot == name || (size_t)(dot - name) >= sizeof(base) || dot[1] == '\0') {
        return false;
    }
    memcpy(base, name, (size_t)(dot - name));
    base[dot - name] = '\0';
    const struct kiln__entry *e = kiln__store_lookup(s, base);
    return e != NULL && e->kind == KILN_STORE_PARAM;
}

static bool is_value_name(const struct item *it, int32_t n, const char *name)
{
    for (int32_t i = 0; i < n; i++) {
        if (it[i].state < 0 && strcmp(it[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

static void note(char *dst, const char *name, int32_t count)
{
    if (count == 1) {
        snprintf(dst, KILN_MAX_NAME, "%s", name);
    }
}

/* Decides, for every item, whether it is loaded (load[i]); fills the report. */
static kiln_status match_items(const struct kiln_store *s, const char *path,
                               const struct kiln__st_file *f, const struct item *it, int32_t n,
                               const struct kiln_load_options *o, bool *load,
                               struct kiln_load_report *r)
{
    for (int32_t i = 0; i < n; i++) {
        load[i] = false;
        if (it[i].state >= 0 && !o->with_state) {
            continue;
        }
        const struct kiln__st_tensor *ft = kiln__st_find(f, it[i].name);
        if (ft == NULL) {
            const char *what = it[i].state >= 0                    ? "optimizer state"
                               : it[i].e->kind == KILN_STORE_PARAM ? "parameter"
                                                                   : "buffer";
            if (it[i].state >= 0 || !o->partial) {
                return KILN_FAIL(KILN_E_FORMAT, "%s: %s '%s' is missing%s", path, what, it[i].name,
                                 it[i].state >= 0 ? " (was it saved without optimizer state?)"
                                                  : "");
            }
            note(r->first_missing, it[i].name, ++r->n_missing);
            continue;
        }
        kiln_status st = check_item(path, &it[i], ft);
        if (st != KILN_OK) {
            if (!o->partial || it[i].state >= 0) {
                return st;
            }
            kiln_clear_error();
            note(r->first_mismatched, it[i].name, ++r->n_mismatched);
            continue;
        }
        load[i] = true;
        if (it[i].state >= 0) {
            r->n_state++;
        } else {
            r->n_loaded++;
        }
    }
    for (int32_t j = 0; j < f->n_tensors; j++) {
        const char *name = f->tensors[j].name;
        if (is_value_name(it, n, name) || is_state_name(s, name)) {
            continue;
        }
        if (!o->partial) {
            return KILN_FAIL(KILN_E_FORMAT,
                             "%s: tensor '%s' is not a parameter or buffer of the model (a "
                             "partial load skips it)",
                             path, name);
        }
        note(r->first_extra, name, ++r->n_extra);
    }
    return KILN_OK;
}

/* Checks the file's kiln.optimizers against s's optimizers; their steps to steps[]. */
static kiln_status match_optimizers(const struct kiln_store *s, const char *path,
                                    const kiln_meta *meta, int64_t *steps, uint64_t *runs)
{
    const char *json = kiln_meta_get(meta, "kiln.optimizers");
    const char *rs = kiln_meta_get(meta, "kiln.runs");
    char *end = NULL;
    if (json == NULL || rs == NULL) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "%s: no optimizer metadata (kiln.optimizers, kiln.runs): the file was "
                         "not saved with its training state",
                         path);
    }
    *runs = strtoull(rs, &end, 10);
    cJSON *arr = cJSON_Parse(json);
    kiln_status st = KILN_OK;
    if (end == rs || *end != '\0' || !cJSON_IsArray(arr)) {
        st = KILN_FAIL(KILN_E_FORMAT, "%s: malformed kiln.runs or kiln.optimizers", path);
        goto done;
    }
    if (cJSON_GetArraySize(arr) != s->n_optims) {
        st = KILN_FAIL(KILN_E_FORMAT, "%s: the checkpoint has %d optimizer(s), the model %d", path,
                       cJSON_GetArraySize(arr), s->n_optims);
        goto done;
    }
    for (int32_t i = 0; i < s->n_optims; i++) {
        const cJSON *e = cJSON_GetArrayItem(arr, i);
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "kind");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "prefix");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "steps");
        const char *kind, *prefix;
        float lr;
        kiln__optimizer_info(s->optims[i], &kind, &prefix, &lr);
        if (!cJSON_IsString(k) || !cJSON_IsString(p) || !cJSON_IsNumber(n) || n->valuedouble < 0) {
            st = KILN_FAIL(KILN_E_FORMAT, "%s: malformed entry %d of kiln.optimizers", path, i);
            goto done;
        }
        if (strcmp(k->valuestring, kind) != 0 || strcmp(p->valuestring, prefix) != 0) {
            st = KILN_FAIL(KILN_E_FORMAT,
                           "%s: optimizer %d is %s over '%s' in the checkpoint but %s over '%s' "
                           "in the model",
                           path, i, k->valuestring, p->valuestring, kind, prefix);
            goto done;
        }
        steps[i] = (int64_t)n->valuedouble;
    }
done:
    cJSON_Delete(arr);
    return st;
}

kiln_status kiln_checkpoint_load(kiln_store *s, const char *path, const struct kiln_load_options *o,
                                 struct kiln_load_report *report)
{
    struct kiln_load_options d = KILN_LOAD_OPTIONS_INIT;
    struct kiln_load_report r;
    struct kiln__st_file f;
    kiln_meta *meta = NULL;
    if (s == NULL || path == NULL || (o != NULL && o->struct_size < sizeof(*o))) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_checkpoint_load: NULL argument or bad options");
    }
    o = o != NULL ? o : &d;
    memset(&r, 0, sizeof(r));
    KILN_TRY(kiln_store_alloc(s));
    KILN_TRY(kiln__st_read(path, &f));
    int32_t n = 0;
    struct item *it = items_of(s, 1, &n);
    bool *load = calloc((size_t)(n > 0 ? n : 1), sizeof(*load));
    int64_t *steps = calloc((size_t)(s->n_optims > 0 ? s->n_optims : 1), sizeof(*steps));
    uint64_t runs = 0;
    kiln_status st = KILN_OK;
    if (it == NULL || load == NULL || steps == NULL) {
        st = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_checkpoint_load(%s): out of host memory",
                       path);
        goto done;
    }
    st = match_items(s, path, &f, it, n, o, load, &r);
    if (st == KILN_OK && o->with_state) {
        st = kiln_meta_read(path, &meta);
        st = st == KILN_OK ? match_optimizers(s, path, meta, steps, &runs) : st;
    }
    /* Everything checked: write. */
    for (int32_t i = 0; i < n && st == KILN_OK; i++) {
        if (load[i]) {
            st = item_transfer(s, &it[i], (void *)kiln__st_find(&f, it[i].name)->data, true);
        }
    }
    if (st == KILN_OK && o->with_state) {
        for (int32_t i = 0; i < s->n_optims; i++) {
            kiln_optimizer_set_steps(s->optims[i], steps[i]);
        }
        s->runs = runs;
    }
done:
    free(steps);
    free(load);
    free(it);
    kiln_meta_destroy(meta);
    kiln__st_free(&f);
    if (st == KILN_OK && report != NULL) {
        *report = r;
    }
    return st;
}
