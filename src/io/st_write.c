/*
 * st_write.c - the safetensors writer: the header built as JSON by hand (names and
 * metadata escaped, integers exact), padded with spaces to keep the data section
 * 8-aligned, and the file written to a temporary file, synced and renamed (and the directory
 * synced). It refuses (KILN_E_INVALID_ARG) what the reader of safetensors.c would reject, so kiln
 * never writes a file it cannot read back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../checked.h"
#include "../status_impl.h"
#include "safetensors.h"
#include "st_json.h"

/* A growing string for the header; a failed allocation is remembered in oom. */
struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap < 256 ? 256 : b->cap;
        while (nc < b->len + n + 1) {
            nc *= 2;
        }
        char *ns = realloc(b->s, nc);
        if (ns == NULL) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_u64(struct sbuf *b, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
    sb_put(b, t, (size_t)n);
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void sb_json(struct sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_put(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof(e), "\\u%04x", c);
            sb_put(b, e, 6);
        } else {
            sb_put(b, p, 1);
        }
    }
    sb_put(b, "\"", 1);
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

/* Refuses tensors and metadata the reader would reject. */
static kiln_status check_write(const char *path, const struct kiln__st_tensor *ts, int32_t n,
                               const char *const *meta, int32_t n_meta)
{
    if (n < 0 || n_meta < 0 || (n > 0 && ts == NULL) || (n_meta > 0 && meta == NULL)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: bad tensor or metadata count", path);
    }
    for (int32_t i = 0; i < n; i++) {
        const struct kiln__st_tensor *t = &ts[i];
        const char *nul = memchr(t->name, '\0', sizeof(t->name));
        int64_t elems = 1;
        int bad = 0;
        const char *why = NULL;
        if (nul == NULL || nul == t->name || !kiln__json_utf8(t->name, (size_t)(nul - t->name)) ||
            strcmp(t->name, "__metadata__") == 0) {
            why = "an empty, unterminated, non-UTF-8 or reserved name";
        } else if (kiln__st_dtype_str(t->dtype) == NULL) {
            why = "a dtype kiln cannot write";
        } else if (t->rank < 0 || t->rank > KILN__ST_MAX_RANK ||
                   !kiln__i64_product(t->dims, t->rank, INT64_MAX, &elems, &bad)) {
            why = "a bad rank or dimension";
        } else if (elems != t->n_elems ||
                   (uint64_t)elems > SIZE_MAX / kiln__st_dtype_size(t->dtype) ||
                   t->n_bytes != (size_t)elems * kiln__st_dtype_size(t->dtype) ||
                   (t->n_bytes > 0 && t->data == NULL)) {
            why = "n_elems, n_bytes or data not matching the shape";
        }
        if (why != NULL) {
            return KILN_FAIL(KILN_E_INVALID_ARG, "%s: tensor %d ('%.*s') has %s", path, (int)i,
                             nul != NULL ? (int)(nul - t->name) : 64, t->name, why);
        }
    }
    for (int32_t i = 0; i < 2 * n_meta; i++) {
        if (meta[i] == NULL || !kiln__json_utf8(meta[i], strlen(meta[i]))) {
            return KILN_FAIL(KILN_E_INVALID_ARG, "%s: metadata %s %d is NULL or not UTF-8", path,
                             i % 2 ? "value" : "key", (int)(i / 2));
        }
    }
    /* Unique names and keys, through the reader's check. */
    int32_t m = n > n_meta ? n : n_meta;
    const char **strs = malloc((size_t)(m > 0 ? m : 1) * sizeof(*strs));
    if (strs == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
    }
    for (int32_t i = 0; i < n; i++) {
        strs[i] = ts[i].name;
    }
    kiln_status s = kiln__st_check_unique(path, strs, n, "tensor");
    for (int32_t i = 0; s == KILN_OK && i < n_meta; i++) {
        strs[i] = meta[2 * i];
    }
    if (s == KILN_OK) {
        s = kiln__st_check_unique(path, strs, n_meta, "__metadata__ key");
    }
    free(strs);
    if (s == KILN_E_FORMAT) { /* the same message, as a caller's mistake */
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", kiln_last_error());
        s = KILN_FAIL(KILN_E_INVALID_ARG, "%s", msg);
    }
    return s;
}

static kiln_status build_header(const char *path, const struct kiln__st_tensor *ts, int32_t n,
                                const char *const *meta, int32_t n_meta, struct sbuf *b)
{
    uint64_t off = 0;
    sb_str(b, "{");
    if (n_meta > 0) {
        sb_str(b, "\"__metadata__\":{");
        for (int32_t i = 0; i < n_meta; i++) {
            sb_str(b, i ? "," : "");
            sb_json(b, meta[2 * i]);
            sb_str(b, ":");
            sb_json(b, meta[2 * i + 1]);
        }
        sb_str(b, "}");
    }
    for (int32_t i = 0; i < n; i++) {
        sb_str(b, i || n_meta > 0 ? "," : "");
        sb_json(b, ts[i].name);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, kiln__st_dtype_str(ts[i].dtype));
        sb_str(b, "\",\"shape\":[");
        for (int32_t d = 0; d < ts[i].rank; d++) {
            sb_str(b, d ? "," : "");
            sb_u64(b, (uint64_t)ts[i].dims[d]);
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_u64(b, off);
        sb_str(b, ",");
        off += ts[i].n_bytes;
        sb_u64(b, off);
        sb_str(b, "]}");
    }
    sb_str(b, "}");
    while (b->len % 8 != 0) { /* spaces keep the data section 8-aligned */
        sb_str(b, " ");
    }
    if (b->oom) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
    }
    if (b->len > KILN__ST_HEADER_MAX) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: the header would be %zu bytes, above %u MiB",
                         path, b->len, KILN__ST_HEADER_MAX >> 20);
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
    struct sbuf hb = {0};
    unsigned char hl[8];
    KILN_TRY(check_write(path, ts, n, meta, n_meta));
    kiln_status s = build_header(path, ts, n, meta, n_meta, &hb);
    if (s != KILN_OK) {
        free(hb.s);
        return s;
    }
    for (int i = 0; i < 8; i++) {
        hl[i] = (unsigned char)((uint64_t)hb.len >> (8 * i));
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    if (fp == NULL) {
        free(hb.s);
        return KILN_FAIL_NATIVE(KILN_E_IO, errno, "%s: cannot create: %s", tmp, strerror(errno));
    }
    if (fwrite(hl, 1, 8, fp) != 8 || fwrite(hb.s, 1, hb.len, fp) != hb.len) {
        s = KILN_FAIL_NATIVE(KILN_E_IO, errno, "%s: write failed: %s", tmp, strerror(errno));
    }
    free(hb.s);
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
