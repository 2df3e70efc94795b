/*
 * safetensors.c - safetensors reading (whole file, validated: header length, JSON,
 * dtypes, shapes, offsets in bounds and consistent with the shapes) and atomic
 * writing. JSON goes through cJSON. No graph knowledge here; see checkpoint.c.
 */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../status_impl.h"

static const char *const dtype_names[] = {"F32", "F64", "I32", "I64"};
static const size_t dtype_sizes[] = {4, 8, 4, 8};

void kiln__st_free(struct kiln__st_file *f)
{
    if (f != NULL) {
        free(f->buf);
        free(f->tensors);
        f->buf = NULL;
        f->tensors = NULL;
        f->n_tensors = 0;
    }
}

const struct kiln__st_tensor *kiln__st_find(const struct kiln__st_file *f, const char *name)
{
    for (int32_t i = 0; i < f->n_tensors; i++) {
        if (strcmp(f->tensors[i].name, name) == 0) {
            return &f->tensors[i];
        }
    }
    return NULL;
}

static kiln_status read_all(const char *path, unsigned char **out, size_t *n_out)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return KILN_FAIL_NATIVE(KILN_E_IO, errno, "%s: cannot open: %s", path, strerror(errno));
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf != NULL) {
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) {
            break;
        }
    }
    int err = ferror(fp);
    fclose(fp);
    if (buf == NULL || (n == cap && !err)) {
        free(buf);
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "%s: out of memory reading the file", path);
    }
    if (err) {
        free(buf);
        return KILN_FAIL(KILN_E_IO, "%s: read error", path);
    }
    *out = buf;
    *n_out = n;
    return KILN_OK;
}

static kiln_status parse_tensor(const char *path, const cJSON *item, size_t data_bytes,
                                size_t data_start, struct kiln__st_tensor *t)
{
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", item->string);
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "%s: header entry '%s' needs dtype, shape and two data_offsets", path,
                         t->name);
    }
    int k = -1;
    for (int i = 0; i < 4; i++) {
        if (strcmp(dt->valuestring, dtype_names[i]) == 0) {
            k = i;
        }
    }
    if (k < 0) {
        return KILN_FAIL(KILN_E_FORMAT, "%s: tensor '%s' has unsupported dtype '%s'", path, t->name,
                         dt->valuestring);
    }
    t->dtype = (enum kiln__st_dtype)k;
    t->rank = cJSON_GetArraySize(shape);
    if (t->rank > KILN__ST_MAX_RANK) {
        return KILN_FAIL(KILN_E_FORMAT, "%s: tensor '%s' has rank %d > %d", path, t->name, t->rank,
                         KILN__ST_MAX_RANK);
    }
    t->n_elems = 1;
    for (int32_t i = 0; i < t->rank; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e15) {
            return KILN_FAIL(KILN_E_FORMAT, "%s: tensor '%s' has a bad dimension %d", path, t->name,
                             i);
        }
        t->dims[i] = (int64_t)d->valuedouble;
        t->n_elems *= t->dims[i];
    }
    double b = cJSON_GetArrayItem(offs, 0)->valuedouble,
           e = cJSON_GetArrayItem(offs, 1)->valuedouble;
    if (b < 0 || e < b || e > (double)data_bytes) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "%s: tensor '%s' data_offsets [%.0f, %.0f] exceed the %zu data bytes "
                         "(data starts at byte %zu)",
                         path, t->name, b, e, data_bytes, data_start);
    }
    t->n_bytes = (size_t)(e - b);
    if (t->n_bytes != (size_t)t->n_elems * dtype_sizes[k]) {
        return KILN_FAIL(
            KILN_E_FORMAT, "%s: tensor '%s' at byte %zu holds %zu bytes but its shape needs %zu",
            path, t->name, data_start + (size_t)b, t->n_bytes, (size_t)t->n_elems * dtype_sizes[k]);
    }
    t->data = (const void *)(uintptr_t)(size_t)b; /* fixed up by the caller */
    return KILN_OK;
}

kiln_status kiln__st_read(const char *path, struct kiln__st_file *out)
{
    kiln_status s;
    cJSON *root = NULL;
    memset(out, 0, sizeof(*out));
    snprintf(out->path, sizeof(out->path), "%s", path);
    KILN_TRY(read_all(path, &out->buf, &out->n_bytes));
    if (out->n_bytes < 8) {
        s = KILN_FAIL(KILN_E_FORMAT,
                      "%s: %zu bytes is too short for a safetensors header "
                      "length (byte 0)",
                      path, out->n_bytes);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) {
        hlen = (hlen << 8) | out->buf[i];
    }
    if (hlen > out->n_bytes - 8 || hlen > (100u << 20)) {
        s = KILN_FAIL(KILN_E_FORMAT,
                      "%s: header length %llu at byte 0 exceeds the file (%zu bytes)", path,
                      (unsigned long long)hlen, out->n_bytes);
        goto fail;
    }
    root = cJSON_ParseWithLength((const char *)out->buf + 8, (size_t)hlen);
    if (root == NULL || !cJSON_IsObject(root)) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at != NULL ? (size_t)(at - (const char *)out->buf) : 8;
        s = KILN_FAIL(KILN_E_FORMAT, "%s: malformed JSON header near byte %zu", path, off);
        goto fail;
    }
    size_t data_start = 8 + (size_t)hlen, data_bytes = out->n_bytes - data_start;
    int n = cJSON_GetArraySize(root);
    out->tensors = calloc((size_t)(n > 0 ? n : 1), sizeof(*out->tensors));
    if (out->tensors == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        if (strcmp(item->string, "__metadata__") == 0) {
            continue;
        }
        struct kiln__st_tensor *t = &out->tensors[out->n_tensors];
        s = parse_tensor(path, item, data_bytes, data_start, t);
        if (s != KILN_OK) {
            goto fail;
        }
        t->data = out->buf + data_start + (size_t)(uintptr_t)t->data;
        out->n_tensors++;
    }
    cJSON_Delete(root);
    return KILN_OK;

fail:
    cJSON_Delete(root);
    kiln__st_free(out);
    return s;
}

static kiln_status write_header(FILE *fp, const char *path, const struct kiln__st_tensor *ts,
                                int32_t n, const char *const *meta, int32_t n_meta)
{
    kiln_status s = KILN_OK;
    cJSON *root = cJSON_CreateObject();
    char *json = NULL;
    size_t off = 0;
    if (root == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "%s: out of memory", path);
    }
    cJSON *md = n_meta > 0 ? cJSON_AddObjectToObject(root, "__metadata__") : NULL;
    for (int32_t i = 0; i < n_meta; i++) {
        if (md == NULL || cJSON_AddStringToObject(md, meta[2 * i], meta[2 * i + 1]) == NULL) {
            s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "%s: out of memory", path);
            goto done;
        }
    }
    for (int32_t i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, ts[i].name);
        cJSON *shape = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
        cJSON *offs = e ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        if (shape == NULL || offs == NULL ||
            cJSON_AddStringToObject(e, "dtype", dtype_names[ts[i].dtype]) == NULL) {
            s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "%s: out of memory", path);
            goto done;
        }
        for (int32_t d = 0; d < ts[i].rank; d++) {
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)ts[i].dims[d]));
        }
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += ts[i].n_bytes;
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    }
    json = cJSON_PrintUnformatted(root);
    if (json == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "%s: out of memory", path);
        goto done;
    }
    size_t len = strlen(json), padded = (len + 7) / 8 * 8;
    unsigned char hl[8];
    for (int i = 0; i < 8; i++) {
        hl[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    }
    if (fwrite(hl, 1, 8, fp) != 8 || fwrite(json, 1, len, fp) != len) {
        s = KILN_FAIL_NATIVE(KILN_E_IO, errno, "%s: write failed: %s", path, strerror(errno));
        goto done;
    }
    for (size_t i = len; i < padded; i++) {
        fputc(' ', fp);
    }
done:
    free(json);
    cJSON_Delete(root);
    return s;
}

/* Makes a rename into path's directory durable: fsync of the directory. */
static kiln_status sync_dir(const char *path)
{
    char dir[600];
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
    } else {
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        return KILN_FAIL_NATIVE(KILN_E_IO, errno, "%s: cannot open its directory %s: %s", path, dir,
                                strerror(errno));
    }
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    /* Some file systems cannot sync a directory (EINVAL); the rename itself is done. */
    if (rc != 0 && err != EINVAL) {
        return KILN_FAIL_NATIVE(KILN_E_IO, err, "%s: fsync of the directory %s failed: %s", path,
                                dir, strerror(err));
    }
    return KILN_OK;
}

kiln_status kiln__st_write(const char *path, const struct kiln__st_tensor *ts, int32_t n)
{
    return kiln__st_write_meta(path, ts, n, NULL, 0);
}

kiln_status kiln__st_write_meta(const char *path, const struct kiln__st_tensor *ts, int32_t n,
                                const char *const *meta, int32_t n_meta)
{
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    if (fp == NULL) {
        return KILN_FAIL_NATIVE(KILN_E_IO, errno, "%s: cannot create: %s", tmp, strerror(errno));
    }
    kiln_status s = write_header(fp, path, ts, n, meta, n_meta);
    for (int32_t i = 0; s == KILN_OK && i < n; i++) {
        if (ts[i].n_bytes > 0 && fwrite(ts[i].data, 1, ts[i].n_bytes, fp) != ts[i].n_bytes) {
            s = KILN_FAIL_NATIVE(KILN_E_IO, errno, "%s: write failed: %s", tmp, strerror(errno));
        }
    }
    if (s == KILN_OK && (fflush(fp) != 0 || fsync(fileno(fp)) != 0)) {
        s = KILN_FAIL_NATIVE(KILN_E_IO, errno, "%s: flush failed: %s", tmp, strerror(errno));
    }
    if (fclose(fp) != 0 && s == KILN_OK) {
        s = KILN_FAIL_NATIVE(KILN_E_IO, errno, "%s: close failed: %s", tmp, strerror(errno));
    }
    if (s == KILN_OK && rename(tmp, path) != 0) {
        s = KILN_FAIL_NATIVE(KILN_E_IO, errno, "%s: rename to %s failed: %s", tmp, path,
                             strerror(errno));
    }
    if (s != KILN_OK) {
        remove(tmp);
        return s;
    }
    return sync_dir(path);
}
