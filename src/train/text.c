/*
 * text.c - text classification data sets: a directory holding train.tsv, test.tsv and
 * optionally valid.tsv, one "label<TAB>text" example a line, read into
 * struct kiln_text_data. Every line is checked (tab, non-empty label and text, strict
 * UTF-8) and a fault is reported with the file, line and byte column. Labels are
 * numbered in byte-wise sorted order of the training split's label strings. The texts
 * stay in the file's buffer, NUL-terminated in place. Vocabularies are in vocab.c,
 * batching in text_iter.c.
 */
#include "kiln/text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../checked.h"
#include "../status_impl.h"
#include "text_impl.h"

/* One parsed line: the label and text are NUL-terminated in the file's buffer. */
struct row {
    char *label;
    char *text;
    int64_t n_chars;
    int64_t line;
};

/* Validates bytes [off, end) of a line as UTF-8 and counts its code points. */
static kiln_status check_utf8(const char *path, const char *buf, size_t off, size_t end,
                              size_t line_start, int64_t line, int64_t *n_chars)
{
    const unsigned char *u = (const unsigned char *)buf;
    int64_t k = 0;
    while (off < end) {
        int32_t cp;
        const char *why = kiln__utf8_next(u, end, &off, &cp);
        if (why != NULL) {
            return KILN_FAIL(KILN_E_FORMAT,
                             "'%s': line %lld, byte column %lld: invalid UTF-8 (byte 0x%02X): %s",
                             path, (long long)line, (long long)(off - line_start + 1), u[off], why);
        }
        k++;
    }
    *n_chars = k;
    return KILN_OK;
}

/* Parses the line [start, end) (its LF excluded) into r, NUL-terminating in place. */
static kiln_status parse_line(const char *path, char *buf, size_t start, size_t end, int64_t line,
                              struct row *r)
{
    if (end > start && buf[end - 1] == '\r') {
        end--;
    }
    char *cr = memchr(buf + start, '\r', end - start);
    if (cr != NULL) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "'%s': line %lld, byte column %lld: carriage return inside the line", path,
                         (long long)line, (long long)(cr - buf - (ptrdiff_t)start + 1));
    }
    char *tab = memchr(buf + start, '\t', end - start);
    if (tab == NULL) {
        return KILN_FAIL(KILN_E_FORMAT, "'%s': line %lld: no tab (expected label<TAB>text)%s", path,
                         (long long)line, end == start ? "; the line is empty" : "");
    }
    size_t t = (size_t)(tab - buf);
    if (t == start) {
        return KILN_FAIL(KILN_E_FORMAT, "'%s': line %lld, byte column 1: empty label", path,
                         (long long)line);
    }
    if (t + 1 == end) {
        return KILN_FAIL(KILN_E_FORMAT, "'%s': line %lld, byte column %lld: empty text", path,
                         (long long)line, (long long)(t - start + 2));
    }
    int64_t n_label;
    KILN_TRY(check_utf8(path, buf, start, t, start, line, &n_label));
    KILN_TRY(check_utf8(path, buf, t + 1, end, start, line, &r->n_chars));
    buf[t] = '\0';
    buf[end] = '\0';
    r->label = buf + start;
    r->text = buf + t + 1;
    r->line = line;
    return KILN_OK;
}

/* Reads and parses one file: *buf (owned by the caller) and *rows[*n_rows]. */
static kiln_status read_tsv(const char *path, char **buf, struct row **rows, int64_t *n_rows)
{
    size_t n;
    *rows = NULL;
    *n_rows = 0;
    KILN_TRY(kiln__read_file(path, buf, &n));
    kiln_status s;
    char *b = *buf;
    size_t pos = n >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    size_t max_rows = 1;
    for (size_t i = pos; i < n; i++) {
        max_rows += b[i] == '\n';
    }
    struct row *r = kiln__array_alloc((int64_t)max_rows, sizeof(*r));
    if (r == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading '%s'", path);
        goto fail;
    }
    int64_t k = 0;
    for (int64_t line = 1; pos < n; line++) {
        char *nl = memchr(b + pos, '\n', n - pos);
        size_t end = nl != NULL ? (size_t)(nl - b) : n;
        s = parse_line(path, b, pos, end, line, &r[k]);
        if (s != KILN_OK) {
            goto fail;
        }
        k++;
        pos = end + 1;
    }
    if (k == 0) {
        s = KILN_FAIL(KILN_E_FORMAT, "'%s': the file is empty (expected label<TAB>text lines)",
                      path);
        goto fail;
    }
    *rows = r;
    *n_rows = k;
    return KILN_OK;

fail:
    free(r);
    free(*buf);
    *buf = NULL;
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted distinct labels of rows, copied into td->label_names. */
static kiln_status collect_labels(const struct row *rows, int64_t n, struct kiln_text_data *td)
{
    char **tmp = kiln__array_alloc(n, sizeof(*tmp));
    if (tmp == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory sorting labels");
    }
    for (int64_t i = 0; i < n; i++) {
        tmp[i] = rows[i].label;
    }
    qsort(tmp, (size_t)n, sizeof(*tmp), cmp_str);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (m == 0 || strcmp(tmp[m - 1], tmp[i]) != 0) {
            tmp[m++] = tmp[i];
        }
    }
    if (m > INT32_MAX) {
        free(tmp);
        return KILN_FAIL(KILN_E_FORMAT, "%lld distinct labels are too many", (long long)m);
    }
    td->label_names = calloc((size_t)m, sizeof(char *));
    kiln_status s = td->label_names != NULL ? KILN_OK : KILN_E_OUT_OF_HOST_MEMORY;
    for (int64_t i = 0; s == KILN_OK && i < m; i++) {
        td->label_names[i] = strdup(tmp[i]);
        td->n_classes = (int32_t)(i + 1);
        s = td->label_names[i] != NULL ? KILN_OK : KILN_E_OUT_OF_HOST_MEMORY;
    }
    free(tmp);
    if (s != KILN_OK) {
        return KILN_FAIL(s, "out of host memory copying %lld labels", (long long)m);
    }
    return KILN_OK;
}

/* Fills split from rows (taking ownership of buf) with label ids from td's names. */
static kiln_status fill_split(const char *path, const struct kiln_text_data *td, char *buf,
                              const struct row *rows, int64_t n, struct kiln_text_split *split)
{
    memset(split, 0, sizeof(*split));
    split->buf = buf;
    split->labels = kiln__array_alloc(n, sizeof(int32_t));
    split->texts = kiln__array_alloc(n, sizeof(char *));
    split->n_chars = kiln__array_alloc(n, sizeof(int64_t));
    split->lines = kiln__array_alloc(n, sizeof(int64_t));
    if (split->labels == NULL || split->texts == NULL || split->n_chars == NULL ||
        split->lines == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for '%s'", path);
    }
    split->n = n;
    for (int64_t i = 0; i < n; i++) {
        char **hit = bsearch(&rows[i].label, td->label_names, (size_t)td->n_classes, sizeof(char *),
                             cmp_str);
        if (hit == NULL) {
            return KILN_FAIL(KILN_E_FORMAT,
                             "'%s': line %lld: label '%s' does not occur in the training split",
                             path, (long long)rows[i].line, rows[i].label);
        }
        split->labels[i] = (int32_t)(hit - td->label_names);
        split->texts[i] = rows[i].text;
        split->n_chars[i] = rows[i].n_chars;
        split->lines[i] = rows[i].line;
    }
    return KILN_OK;
}

static void split_fini(struct kiln_text_split *s)
{
    free(s->labels);
    free(s->texts);
    free(s->n_chars);
    free(s->lines);
    free(s->buf);
    memset(s, 0, sizeof(*s));
}

void kiln_text_data_fini(struct kiln_text_data *td)
{
    if (td == NULL) {
        return;
    }
    split_fini(&td->train);
    split_fini(&td->valid);
    split_fini(&td->test);
    for (int32_t i = 0; td->label_names != NULL && i < td->n_classes; i++) {
        free(td->label_names[i]);
    }
    free(td->label_names);
    memset(td, 0, sizeof(*td));
}

/* Reads dir/name into split; the training split (td->label_names still NULL) also
 * defines the labels. */
static kiln_status load_split(const char *dir, const char *name, struct kiln_text_data *td,
                              struct kiln_text_split *split)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_text_data_load: directory name too long");
    }
    char *buf;
    struct row *rows;
    int64_t n;
    KILN_TRY(read_tsv(path, &buf, &rows, &n));
    kiln_status s = KILN_OK;
    if (td->label_names == NULL) {
        s = collect_labels(rows, n, td);
    }
    if (s == KILN_OK) {
        s = fill_split(path, td, buf, rows, n, split);
    } else {
        free(buf);
    }
    free(rows);
    return s;
}

kiln_status kiln_text_data_load(const char *dir, struct kiln_text_data *out)
{
    if (dir == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_text_data_load: NULL argument");
    }
    memset(out, 0, sizeof(*out));
    kiln_status s = load_split(dir, "train.tsv", out, &out->train);
    if (s == KILN_OK) {
        s = load_split(dir, "test.tsv", out, &out->test);
    }
    char path[4096];
    struct stat st;
    snprintf(path, sizeof(path), "%s/valid.tsv", dir);
    if (s == KILN_OK && stat(path, &st) == 0) {
        s = load_split(dir, "valid.tsv", out, &out->valid);
    }
    if (s != KILN_OK) {
        kiln_text_data_fini(out);
    }
    return s;
}
