/*
 * safetensors.c - the safetensors reader: the file read whole, its header parsed with
 * the strict token reader of st_json.c, every size checked before use, the tensors'
 * byte ranges checked to tile the data section. The format and the rules are described
 * in safetensors.h; the writer is in st_write.c. No graph knowledge here; see
 * checkpoint.c.
 */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../checked.h"
#include "../status_impl.h"
#include "st_json.h"

/* Every dtype of the safetensors specification, with its size in bits. */
static const struct {
    const char *name;
    enum kiln__st_dtype dtype;
    uint32_t bits;
} dtypes[] = {
    {"F32", KILN__ST_F32, 32},      {"F64", KILN__ST_F64, 64},      {"I32", KILN__ST_I32, 32},
    {"I64", KILN__ST_I64, 64},      {"BOOL", KILN__ST_OTHER, 8},    {"U8", KILN__ST_OTHER, 8},
    {"I8", KILN__ST_OTHER, 8},      {"F8_E5M2", KILN__ST_OTHER, 8}, {"F8_E4M3", KILN__ST_OTHER, 8},
    {"F8_E8M0", KILN__ST_OTHER, 8}, {"I16", KILN__ST_OTHER, 16},    {"U16", KILN__ST_OTHER, 16},
    {"F16", KILN__ST_OTHER, 16},    {"BF16", KILN__ST_OTHER, 16},   {"U32", KILN__ST_OTHER, 32},
    {"U64", KILN__ST_OTHER, 64},    {"C64", KILN__ST_OTHER, 64},    {"F4", KILN__ST_OTHER, 4},
    {"F6_E2M3", KILN__ST_OTHER, 6}, {"F6_E3M2", KILN__ST_OTHER, 6},
};
#define N_DTYPES (sizeof(dtypes) / sizeof(dtypes[0]))

size_t kiln__st_dtype_size(enum kiln__st_dtype dtype)
{
    for (size_t i = 0; i < N_DTYPES; i++) {
        if (dtypes[i].dtype == dtype && dtype != KILN__ST_OTHER) {
            return dtypes[i].bits / 8;
        }
    }
    return 0;
}

const char *kiln__st_dtype_str(enum kiln__st_dtype dtype)
{
    for (size_t i = 0; i < N_DTYPES; i++) {
        if (dtypes[i].dtype == dtype && dtype != KILN__ST_OTHER) {
            return dtypes[i].name;
        }
    }
    return NULL;
}

void kiln__st_free(struct kiln__st_file *f)
{
    if (f == NULL) {
        return;
    }
    if (f->buf != NULL) {
        free(f->buf - f->buf_pad);
    }
    for (int32_t i = 0; i < 2 * f->n_meta; i++) {
        free(f->meta[i]);
    }
    free(f->meta);
    free(f->tensors);
    f->buf = NULL;
    f->buf_pad = 0;
    f->tensors = NULL;
    f->meta = NULL;
    f->n_tensors = 0;
    f->n_meta = 0;
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

const char *kiln__st_meta(const struct kiln__st_file *f, const char *key)
{
    for (int32_t i = 0; i < f->n_meta; i++) {
        if (strcmp(f->meta[2 * i], key) == 0) {
            return f->meta[2 * i + 1];
        }
    }
    return NULL;
}

/* ==== Reading: the header ==== */

/* A tensor's byte range in the data section, for the layout check. */
struct span {
    uint64_t begin, end;
    int32_t tensor;
    uint32_t bits; /* of one element */
};

struct parse {
    struct kiln__st_file *f;
    struct kiln__json j;
    size_t data_start, data_bytes;
    struct span *spans; /* [n_tensors] */
    int32_t cap_tensors, cap_spans, cap_meta;
    bool seen_meta;
};

static kiln_status oom(const struct parse *ps)
{
    return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "%s: out of host memory reading the header",
                     ps->f->path);
}

/* Returns arr (of *cap elements of elem bytes) grown to hold index n, or NULL (arr left
 * as it was) when out of memory. */
static void *grow(void *arr, int32_t *cap, int32_t n, size_t elem)
{
    if (n < *cap) {
        return arr;
    }
    int32_t nc = *cap < 16 ? 16 : *cap * 2;
    size_t bytes;
    if (*cap > INT32_MAX / 2 || !kiln__size_mul((size_t)nc, elem, &bytes)) {
        return NULL;
    }
    void *na = realloc(arr, bytes);
    if (na != NULL) {
        *cap = nc;
    }
    return na;
}

/* Reads the "__metadata__" value: null, or an object of string values. */
static kiln_status parse_meta(struct parse *ps)
{
    struct kiln__st_file *f = ps->f;
    struct kiln__json *j = &ps->j;
    if (ps->seen_meta) {
        return KILN_FAIL(KILN_E_FORMAT, "%s: at byte %zu: \"__metadata__\" appears twice", f->path,
                         kiln__json_offset(j));
    }
    ps->seen_meta = true;
    if (kiln__json_null(j)) {
        return KILN_OK;
    }
    KILN_TRY(kiln__json_expect(j, '{', "to open __metadata__ (a map of strings)"));
    if (kiln__json_accept(j, '}')) {
        return KILN_OK;
    }
    do {
        char *key = NULL, *value = NULL;
        size_t n;
        char **nm = grow(f->meta, &ps->cap_meta, 2 * f->n_meta + 1, sizeof(char *));
        if (nm == NULL) {
            return oom(ps);
        }
        f->meta = nm;
        KILN_TRY(kiln__json_string(j, "a __metadata__ key", &key, &n));
        kiln_status s = kiln__json_expect(j, ':', "after a __metadata__ key");
        if (s == KILN_OK) {
            kiln__json_ws(j);
            if (j->p < j->end && *j->p != '"') {
                s = KILN_FAIL(KILN_E_FORMAT,
                              "%s: at byte %zu: __metadata__ '%s' is not a string (the "
                              "metadata maps strings to strings)",
                              f->path, kiln__json_offset(j), key);
            }
        }
        if (s == KILN_OK) {
            s = kiln__json_string(j, "a __metadata__ value", &value, &n);
        }
        if (s != KILN_OK) {
            free(key);
            return s;
        }
        f->meta[2 * f->n_meta] = key;
        f->meta[2 * f->n_meta + 1] = value;
        f->n_meta++;
    } while (kiln__json_accept(j, ','));
    return kiln__json_expect(j, '}', "to close __metadata__");
}

static kiln_status parse_dtype(struct parse *ps, struct kiln__st_tensor *t, uint32_t *bits)
{
    char *s = NULL;
    size_t n;
    size_t at = kiln__json_offset(&ps->j);
    KILN_TRY(kiln__json_string(&ps->j, "a dtype", &s, &n));
    for (size_t i = 0; i < N_DTYPES; i++) {
        if (strcmp(s, dtypes[i].name) == 0) {
            t->dtype = dtypes[i].dtype;
            t->dtype_name = dtypes[i].name;
            *bits = dtypes[i].bits;
            free(s);
            return KILN_OK;
        }
    }
    kiln_status st =
        KILN_FAIL(KILN_E_FORMAT, "%s: at byte %zu: tensor '%s' has unknown dtype '%.32s'",
                  ps->f->path, at, t->name, s);
    free(s);
    return st;
}

/* Reads the shape into t->dims (the first KILN__ST_MAX_RANK), t->rank and t->n_elems. */
static kiln_status parse_shape(struct parse *ps, struct kiln__st_tensor *t)
{
    struct kiln__json *j = &ps->j;
    int64_t n = 1;
    bool over = false, zero = false;
    KILN_TRY(kiln__json_expect(j, '[', "to open a shape"));
    if (!kiln__json_accept(j, ']')) {
        do {
            char what[KILN__ST_NAME_MAX + 48];
            uint64_t d;
            snprintf(what, sizeof(what), "dimension %d of tensor '%s'", (int)t->rank, t->name);
            KILN_TRY(kiln__json_uint(j, what, INT64_MAX, &d));
            if (t->rank < KILN__ST_MAX_RANK) {
                t->dims[t->rank] = (int64_t)d;
            }
            t->rank++;
            zero = zero || d == 0;
            over = over || !kiln__i64_mul(n, (int64_t)d, &n);
        } while (kiln__json_accept(j, ','));
        KILN_TRY(kiln__json_expect(j, ']', "to close a shape"));
    }
    if (over && !zero) {
        return KILN_FAIL(KILN_E_FORMAT, "%s: tensor '%s': its shape has more than 2^63 elements",
                         ps->f->path, t->name);
    }
    t->n_elems = zero ? 0 : n;
    return KILN_OK;
}

static kiln_status parse_offsets(struct parse *ps, const struct kiln__st_tensor *t, struct span *sp)
{
    struct kiln__json *j = &ps->j;
    char what[KILN__ST_NAME_MAX + 48];
    KILN_TRY(kiln__json_expect(j, '[', "to open data_offsets"));
    snprintf(what, sizeof(what), "data_offsets[0] of tensor '%s'", t->name);
    KILN_TRY(kiln__json_uint(j, what, UINT64_MAX, &sp->begin));
    KILN_TRY(kiln__json_expect(j, ',', "in data_offsets (two offsets: begin, end)"));
    snprintf(what, sizeof(what), "data_offsets[1] of tensor '%s'", t->name);
    KILN_TRY(kiln__json_uint(j, what, UINT64_MAX, &sp->end));
    return kiln__json_expect(j, ']', "after the two data_offsets");
}

/* Checks a tensor's byte range and size against its shape and the data section. */
static kiln_status check_tensor(struct parse *ps, struct kiln__st_tensor *t, const struct span *sp)
{
    const uint32_t bits = sp->bits;
    const char *path = ps->f->path;
    uint64_t n_bits;
    if (sp->end < sp->begin) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", path,
                         t->name, (unsigned long long)sp->begin, (unsigned long long)sp->end);
    }
    if (sp->end > ps->data_bytes) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "%s: tensor '%s': data_offsets [%llu, %llu] exceed the %zu data bytes "
                         "(data starts at byte %zu)",
                         path, t->name, (unsigned long long)sp->begin, (unsigned long long)sp->end,
                         ps->data_bytes, ps->data_start);
    }
    bool over = (uint64_t)t->n_elems > UINT64_MAX / bits;
    n_bits = over ? 0 : (uint64_t)t->n_elems * bits;
    if (over || n_bits % 8 != 0) {
        return KILN_FAIL(KILN_E_FORMAT, "%s: tensor '%s': %lld elements of %s %s", path, t->name,
                         (long long)t->n_elems, t->dtype_name,
                         over ? "overflow a size" : "are not a whole number of bytes");
    }
    if (sp->end - sp->begin != n_bits / 8) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "%s: tensor '%s' at byte %llu holds %llu bytes but its shape (%lld %s "
                         "elements) needs %llu",
                         path, t->name, (unsigned long long)(ps->data_start + sp->begin),
                         (unsigned long long)(sp->end - sp->begin), (long long)t->n_elems,
                         t->dtype_name, (unsigned long long)(n_bits / 8));
    }
    t->n_bytes = (size_t)(sp->end - sp->begin);
    t->data = ps->f->buf + ps->data_start + sp->begin;
    if (t->rank > KILN__ST_MAX_RANK) {
        t->dtype = KILN__ST_OTHER;
    }
    return KILN_OK;
}

/* Reads one tensor entry, {"dtype": ..., "shape": [...], "data_offsets": [b, e]} with
 * any other fields skipped (as the reference reader ignores them), into a new tensor. */
static kiln_status parse_entry(struct parse *ps, const char *name, size_t name_len, size_t at)
{
    struct kiln__st_file *f = ps->f;
    struct kiln__json *j = &ps->j;
    if (name_len >= KILN__ST_NAME_MAX) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "%s: at byte %zu: tensor name '%.40s...' is %zu bytes long; kiln "
                         "reads names of at most %d bytes",
                         f->path, at, name, name_len, KILN__ST_NAME_MAX - 1);
    }
    struct kiln__st_tensor *nt = grow(f->tensors, &ps->cap_tensors, f->n_tensors, sizeof(*nt));
    if (nt == NULL) {
        return oom(ps);
    }
    f->tensors = nt;
    struct span *ns = grow(ps->spans, &ps->cap_spans, f->n_tensors, sizeof(*ns));
    if (ns == NULL) {
        return oom(ps);
    }
    ps->spans = ns;
    struct kiln__st_tensor *t = &f->tensors[f->n_tensors];
    struct span *sp = &ps->spans[f->n_tensors];
    memset(t, 0, sizeof(*t));
    memcpy(t->name, name, name_len + 1);
    sp->tensor = f->n_tensors;
    static const char *const fields[] = {"dtype", "shape", "data_offsets"};
    bool seen[3] = {false, false, false};
    uint32_t bits = 0;
    KILN_TRY(kiln__json_expect(j, '{', "to open a tensor entry"));
    if (!kiln__json_accept(j, '}')) {
        do {
            char *key = NULL;
            size_t n, key_at = kiln__json_offset(j);
            KILN_TRY(kiln__json_string(j, "a field name", &key, &n));
            int k = 0;
            while (k < 3 && strcmp(key, fields[k]) != 0) {
                k++;
            }
            free(key);
            KILN_TRY(kiln__json_expect(j, ':', "after a field name"));
            if (k < 3 && seen[k]) {
                return KILN_FAIL(KILN_E_FORMAT, "%s: at byte %zu: tensor '%s' has two '%s'",
                                 f->path, key_at, t->name, fields[k]);
            }
            if (k < 3) {
                seen[k] = true;
            }
            KILN_TRY(k == 0   ? parse_dtype(ps, t, &bits)
                     : k == 1 ? parse_shape(ps, t)
                     : k == 2 ? parse_offsets(ps, t, sp)
                              : kiln__json_skip(j));
        } while (kiln__json_accept(j, ','));
        KILN_TRY(kiln__json_expect(j, '}', "to close a tensor entry"));
    }
    for (int k = 0; k < 3; k++) {
        if (!seen[k]) {
            return KILN_FAIL(KILN_E_FORMAT, "%s: at byte %zu: tensor '%s' has no '%s'", f->path, at,
                             t->name, fields[k]);
        }
    }
    sp->bits = bits;
    f->n_tensors++;
    return KILN_OK;
}

/* The header's top-level object: tensor entries and "__metadata__", then only
 * whitespace to the end of the header. */
static kiln_status parse_header(struct parse *ps)
{
    struct kiln__json *j = &ps->j;
    const char *path = ps->f->path;
    if (j->p >= j->end || *j->p != '{') {
        return KILN_FAIL(KILN_E_FORMAT,
                         "%s: malformed JSON header: byte 8 is not '{' (a header is a JSON object)",
                         path);
    }
    j->p++;
    if (!kiln__json_accept(j, '}')) {
        do {
            char *key = NULL;
            size_t n;
            kiln__json_ws(j);
            size_t at = kiln__json_offset(j);
            KILN_TRY(kiln__json_string(j, "a tensor name", &key, &n));
            kiln_status s = kiln__json_expect(j, ':', "after a tensor name");
            if (s == KILN_OK) {
                s = strcmp(key, "__metadata__") == 0 ? parse_meta(ps) : parse_entry(ps, key, n, at);
            }
            free(key);
            KILN_TRY(s);
        } while (kiln__json_accept(j, ','));
        KILN_TRY(kiln__json_expect(j, '}', "to close the header"));
    }
    kiln__json_ws(j);
    if (j->p != j->end) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "%s: malformed JSON header: bytes %zu to %zu follow the JSON object "
                         "(only whitespace may pad the header)",
                         path, kiln__json_offset(j), (size_t)(j->end - j->base) - 1);
    }
    return KILN_OK;
}

/* ==== Reading: names and layout ==== */

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

kiln_status kiln__st_check_unique(const char *path, const char **strs, int32_t n, const char *what)
{
    if (n > 1) {
        qsort(strs, (size_t)n, sizeof(*strs), cmp_str_ptr);
    }
    for (int32_t i = 1; i < n; i++) {
        if (strcmp(strs[i - 1], strs[i]) == 0) {
            return KILN_FAIL(KILN_E_FORMAT,
                             "%s: %s '%s' appears twice in the header (duplicate keys are not "
                             "allowed)",
                             path, what, strs[i]);
        }
    }
    return KILN_OK;
}

static kiln_status check_names(struct parse *ps)
{
    struct kiln__st_file *f = ps->f;
    int32_t n = f->n_tensors > f->n_meta ? f->n_tensors : f->n_meta;
    const char **strs = malloc((size_t)(n > 0 ? n : 1) * sizeof(*strs));
    if (strs == NULL) {
        return oom(ps);
    }
    for (int32_t i = 0; i < f->n_tensors; i++) {
        strs[i] = f->tensors[i].name;
    }
    kiln_status s = kiln__st_check_unique(f->path, strs, f->n_tensors, "tensor");
    for (int32_t i = 0; s == KILN_OK && i < f->n_meta; i++) {
        strs[i] = f->meta[2 * i];
    }
    if (s == KILN_OK) {
        s = kiln__st_check_unique(f->path, strs, f->n_meta, "__metadata__ key");
    }
    free(strs);
    return s;
}

static int cmp_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->begin != y->begin) {
        return x->begin < y->begin ? -1 : 1;
    }
    if (x->end != y->end) {
        return x->end < y->end ? -1 : 1;
    }
    return x->tensor < y->tensor ? -1 : x->tensor > y->tensor;
}

/* The tensors' ranges must tile the data section: sorted by begin, each starts where
 * the previous ended (empty tensors anywhere in between), the last ends at its end. */
static kiln_status check_layout(struct parse *ps)
{
    const struct kiln__st_file *f = ps->f;
    if (f->n_tensors > 1) { /* spans is NULL when there is no tensor */
        qsort(ps->spans, (size_t)f->n_tensors, sizeof(*ps->spans), cmp_span);
    }
    uint64_t at = 0;
    const struct span *prev = NULL;
    for (int32_t i = 0; i < f->n_tensors; i++) {
        const struct span *sp = &ps->spans[i];
        const char *name = f->tensors[sp->tensor].name;
        if (sp->begin < at) {
            return KILN_FAIL(KILN_E_FORMAT,
                             "%s: tensor '%s' data_offsets [%llu, %llu] overlap tensor '%s' "
                             "[%llu, %llu] (tensors may not share bytes)",
                             f->path, name, (unsigned long long)sp->begin,
                             (unsigned long long)sp->end, f->tensors[prev->tensor].name,
                             (unsigned long long)prev->begin, (unsigned long long)prev->end);
        }
        if (sp->begin > at) {
            return KILN_FAIL(KILN_E_FORMAT,
                             "%s: bytes [%llu, %llu) of the data section (from byte %llu) belong "
                             "to no tensor (a hole before tensor '%s')",
                             f->path, (unsigned long long)at, (unsigned long long)sp->begin,
                             (unsigned long long)(ps->data_start + at), name);
        }
        if (sp->end > sp->begin || prev == NULL) {
            prev = sp;
        }
        at = sp->end;
    }
    if (at != ps->data_bytes) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "%s: %llu bytes after the last tensor's data (from byte %llu to the end "
                         "of the file) belong to no tensor",
                         f->path, (unsigned long long)(ps->data_bytes - at),
                         (unsigned long long)(ps->data_start + at));
    }
    return KILN_OK;
}

/* ==== Reading: entry points ==== */

static uint64_t le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | b[i];
    }
    return v;
}

/* Checks the header length n_header of a file of n_bytes bytes. */
static kiln_status check_header_len(const char *path, uint64_t n_header, size_t n_bytes)
{
    if (n_bytes < 8) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "%s: %zu bytes is too short for a safetensors header length (byte 0)",
                         path, n_bytes);
    }
    if (n_header > n_bytes - 8 || n_header > KILN__ST_HEADER_MAX) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "%s: header length %llu at byte 0 exceeds the file (%zu bytes) or the "
                         "%u MiB limit",
                         path, (unsigned long long)n_header, n_bytes, KILN__ST_HEADER_MAX >> 20);
    }
    return KILN_OK;
}

/* Parses the file at buf (n_bytes, allocated pad bytes earlier; owned). */
static kiln_status parse_owned(const char *name, unsigned char *buf, size_t pad, size_t n_bytes,
                               struct kiln__st_file *out)
{
    struct parse ps = {.f = out};
    kiln_status s;
    memset(out, 0, sizeof(*out));
    snprintf(out->path, sizeof(out->path), "%s", name);
    out->buf = buf;
    out->buf_pad = pad;
    out->n_bytes = n_bytes;
    uint64_t n_header = n_bytes >= 8 ? le64(buf) : 0;
    s = check_header_len(out->path, n_header, n_bytes);
    if (s != KILN_OK) {
        goto fail;
    }
    ps.data_start = 8 + (size_t)n_header;
    ps.data_bytes = n_bytes - ps.data_start;
    ps.j = (struct kiln__json){out->path, buf, buf + 8, buf + ps.data_start};
    s = parse_header(&ps);
    for (int32_t i = 0; s == KILN_OK && i < out->n_tensors; i++) {
        s = check_tensor(&ps, &out->tensors[i], &ps.spans[i]);
    }
    if (s == KILN_OK) {
        s = check_names(&ps);
    }
    if (s == KILN_OK) {
        s = check_layout(&ps);
    }
    if (s != KILN_OK) {
        goto fail;
    }
    free(ps.spans);
    return KILN_OK;

fail:
    free(ps.spans);
    kiln__st_free(out);
    return s;
}

/* The bytes to allocate before a file of header length n_header so that its data
 * section starts 8-aligned (malloc's alignment is at least 8). */
static size_t data_pad(uint64_t n_header)
{
    return (size_t)((8 - (8 + n_header) % 8) % 8);
}

kiln_status kiln__st_parse(const char *name, unsigned char *buf, size_t n_bytes,
                           struct kiln__st_file *out)
{
    uint64_t n_header = n_bytes >= 8 ? le64(buf) : 0;
    size_t pad = data_pad(n_header), total;
    if (pad != 0 && kiln__size_add(n_bytes, pad, &total)) {
        unsigned char *nb = malloc(total);
        if (nb == NULL) {
            free(buf);
            memset(out, 0, sizeof(*out));
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "%s: out of host memory", name);
        }
        memcpy(nb + pad, buf, n_bytes);
        free(buf);
        buf = nb + pad;
    } else {
        pad = 0;
    }
    return parse_owned(name, buf, pad, n_bytes, out);
}

static const char *file_kind(mode_t m)
{
    return S_ISFIFO(m)   ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISDIR(m)  ? "a directory"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

/* Reads n bytes at offset off of fd into buf. */
static bool read_at(int fd, unsigned char *buf, size_t n, off_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r =
            pread(fd, buf + got, n - got > (1u << 30) ? (1u << 30) : n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        got += (size_t)r;
    }
    return true;
}

kiln_status kiln__st_read(const char *path, struct kiln__st_file *out)
{
    struct stat st;
    unsigned char head[8], *alloc = NULL;
    kiln_status s = KILN_OK;
    memset(out, 0, sizeof(*out));
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return KILN_FAIL_NATIVE(KILN_E_IO, errno, "%s: cannot open: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        s = KILN_FAIL_NATIVE(KILN_E_IO, errno, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        s = KILN_FAIL(KILN_E_IO, "%s: is %s, not a regular file (a safetensors file is read whole)",
                      path, file_kind(st.st_mode));
        goto done;
    }
    size_t n = (size_t)st.st_size, pad = 0, total;
    uint64_t n_header = 0;
    if (n >= 8) {
        if (!read_at(fd, head, 8, 0)) {
            s = KILN_FAIL_NATIVE(KILN_E_IO, errno, "%s: read error at byte 0", path);
            goto done;
        }
        n_header = le64(head);
    }
    s = check_header_len(path, n_header, n); /* before allocating the file's size */
    if (s != KILN_OK) {
        goto done;
    }
    pad = data_pad(n_header);
    alloc = kiln__size_add(n, pad, &total) ? malloc(total) : NULL;
    if (alloc == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "%s: out of host memory for its %zu bytes", path,
                      n);
        goto done;
    }
    if (!read_at(fd, alloc + pad, n, 0)) {
        s = KILN_FAIL_NATIVE(KILN_E_IO, errno,
                             "%s: read error, or the file shrank while it was read (%zu bytes)",
                             path, n);
        free(alloc);
        goto done;
    }
    close(fd);
    return parse_owned(path, alloc + pad, pad, n, out);

done:
    close(fd);
    return s;
}
