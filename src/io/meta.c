/*
 * meta.c - checkpoint metadata: kiln_meta, an ordered set of string pairs, and reading a
 * safetensors file's "__metadata__" from its header alone (the tensor data is not
 * read, so inspecting a large checkpoint is cheap). Writing the metadata is part of
 * kiln_checkpoint_save (checkpoint.c, through kiln__st_write_meta).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../status_impl.h"
#include "kiln/io.h"

/* The largest header kiln reads (the safetensors reader's limit too). */
#define MAX_HEADER ((uint64_t)100 << 20)

struct kiln_meta {
    int32_t n, cap;
    char **keys;   /* owned, each */
    char **values; /* owned, each */
};

kiln_status kiln_meta_create(kiln_meta **out)
{
    if (out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_meta_create: out is NULL");
    }
    *out = calloc(1, sizeof(**out));
    if (*out == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_meta_create: out of host memory");
    }
    return KILN_OK;
}

void kiln_meta_destroy(kiln_meta *m)
{
    if (m == NULL) {
        return;
    }
    for (int32_t i = 0; i < m->n; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->keys);
    free(m->values);
    free(m);
}

static int32_t find(const kiln_meta *m, const char *key)
{
    for (int32_t i = 0; m != NULL && key != NULL && i < m->n; i++) {
        if (strcmp(m->keys[i], key) == 0) {
            return i;
        }
    }
    return -1;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

kiln_status kiln_meta_set(kiln_meta *m, const char *key, const char *value)
{
    if (m == NULL || key == NULL || key[0] == '\0' || value == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_meta_set: NULL meta, key or value, or empty key");
    }
    char *v = dup_str(value);
    if (v == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_meta_set(%s): out of host memory", key);
    }
    int32_t i = find(m, key);
    if (i >= 0) {
        free(m->values[i]);
        m->values[i] = v;
        return KILN_OK;
    }
    if (m->n == m->cap) {
        int32_t cap = m->cap ? 2 * m->cap : 16;
        char **k = realloc(m->keys, sizeof(*k) * (size_t)cap);
        if (k != NULL) {
            m->keys = k;
        }
        char **vs = k != NULL ? realloc(m->values, sizeof(*vs) * (size_t)cap) : NULL;
        if (vs == NULL) {
            free(v);
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_meta_set(%s): out of host memory",
                             key);
        }
        m->values = vs;
        m->cap = cap;
    }
    m->keys[m->n] = dup_str(key);
    if (m->keys[m->n] == NULL) {
        free(v);
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_meta_set(%s): out of host memory", key);
    }
    m->values[m->n++] = v;
    return KILN_OK;
}

const char *kiln_meta_get(const kiln_meta *m, const char *key)
{
    int32_t i = find(m, key);
    return i >= 0 ? m->values[i] : NULL;
}

int32_t kiln_meta_count(const kiln_meta *m)
{
    return m != NULL ? m->n : 0;
}

const char *kiln_meta_key(const kiln_meta *m, int32_t i)
{
    return m != NULL && i >= 0 && i < m->n ? m->keys[i] : NULL;
}

const char *kiln_meta_value(const kiln_meta *m, int32_t i)
{
    return m != NULL && i >= 0 && i < m->n ? m->values[i] : NULL;
}

/* Reads the JSON header of a safetensors file into a NUL-terminated buffer. */
static kiln_status read_header(const char *path, char **out)
{
    unsigned char len8[8];
    kiln_status s = KILN_OK;
    char *json = NULL;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return KILN_FAIL_NATIVE(KILN_E_IO, errno, "%s: cannot open: %s", path, strerror(errno));
    }
    if (fread(len8, 1, 8, fp) != 8) {
        s = KILN_FAIL(KILN_E_FORMAT, "%s: too short for a safetensors header length (byte 0)",
                      path);
        goto done;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) {
        hlen = (hlen << 8) | len8[i];
    }
    if (hlen < 2 || hlen > MAX_HEADER) {
        s = KILN_FAIL(KILN_E_FORMAT, "%s: header length %llu at byte 0 is out of range", path,
                      (unsigned long long)hlen);
        goto done;
    }
    json = malloc((size_t)hlen + 1);
    if (json == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "%s: out of host memory for the header", path);
        goto done;
    }
    if (fread(json, 1, (size_t)hlen, fp) != (size_t)hlen) {
        s = KILN_FAIL(KILN_E_FORMAT, "%s: the header of %llu bytes at byte 8 is truncated", path,
                      (unsigned long long)hlen);
        goto done;
    }
    json[hlen] = '\0';
done:
    fclose(fp);
    if (s != KILN_OK) {
        free(json);
        json = NULL;
    }
    *out = json;
    return s;
}

kiln_status kiln_meta_read(const char *path, kiln_meta **out)
{
    char *json = NULL;
    kiln_meta *m = NULL;
    if (path == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_meta_read: NULL argument");
    }
    *out = NULL;
    KILN_TRY(read_header(path, &json));
    kiln_status s = KILN_OK;
    cJSON *root = cJSON_Parse(json);
    if (root == NULL || !cJSON_IsObject(root)) {
        const char *at = cJSON_GetErrorPtr();
        s = KILN_FAIL(KILN_E_FORMAT, "%s: malformed JSON header near byte %zu", path,
                      at != NULL && root == NULL ? (size_t)(at - json) + 8 : (size_t)8);
        goto done;
    }
    s = kiln_meta_create(&m);
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    if (s == KILN_OK && md != NULL && !cJSON_IsObject(md)) {
        s = KILN_FAIL(KILN_E_FORMAT, "%s: __metadata__ is not an object", path);
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, md)
    {
        if (s != KILN_OK) {
            break;
        }
        if (!cJSON_IsString(it)) {
            s = KILN_FAIL(KILN_E_FORMAT, "%s: metadata '%s' is not a string", path, it->string);
            break;
        }
        s = kiln_meta_set(m, it->string, it->valuestring);
    }
done:
    cJSON_Delete(root);
    free(json);
    if (s != KILN_OK) {
        kiln_meta_destroy(m);
        return s;
    }
    *out = m;
    return KILN_OK;
}
