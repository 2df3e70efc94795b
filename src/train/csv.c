/*
 * csv.c - reading CSV files into a struct kiln_table (kiln/table.h): RFC 4180 fields
 * (quotes, "" escapes, separators and line breaks inside quotes) or blank-separated
 * fields, a header row, numeric features and a numeric or class-name target. Every
 * fault names the file, the line and the column (number and name). Splitting, the
 * conversion to a kiln_dataset, standardization and least squares are in table.c.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../checked.h"
#include "../status_impl.h"
#include "kiln/table.h"
#include "text_impl.h"

/* A field of the current record: NUL-terminated text in the scratch buffer. */
struct field {
    size_t off;
};

struct csv {
    const char *path;
    const char *buf;
    size_t n, pos;
    int64_t line;     /* line of the cursor */
    int64_t rec_line; /* line where the current record starts */
    char sep;
    char *scratch; /* [n + 1 + fields]: unescaped fields of the current record */
    size_t scratch_n;
    struct field *f;
    int64_t n_f, cap_f;
};

static kiln_status add_field(struct csv *c, size_t off)
{
    if (c->n_f == c->cap_f) {
        int64_t cap = c->cap_f ? 2 * c->cap_f : 16;
        size_t bytes;
        struct field *f = kiln__array_bytes(cap, sizeof(*f), &bytes) ? realloc(c->f, bytes) : NULL;
        if (f == NULL) {
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading '%s'", c->path);
        }
        c->f = f;
        c->cap_f = cap;
    }
    c->scratch[c->scratch_n++] = '\0';
    c->f[c->n_f++].off = off;
    return KILN_OK;
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int at_line_end(const struct csv *c)
{
    return c->pos >= c->n || c->buf[c->pos] == '\n' ||
           (c->buf[c->pos] == '\r' && c->pos + 1 < c->n && c->buf[c->pos + 1] == '\n');
}

/* Moves past the line end at the cursor (if any). */
static void eat_line_end(struct csv *c)
{
    if (c->pos < c->n && c->buf[c->pos] == '\r') {
        c->pos++;
    }
    if (c->pos < c->n && c->buf[c->pos] == '\n') {
        c->pos++;
        c->line++;
    }
}

/* Blank-separated fields up to the end of the line. */
static kiln_status record_blanks(struct csv *c)
{
    for (;;) {
        while (c->pos < c->n && is_blank(c->buf[c->pos])) {
            c->pos++;
        }
        if (at_line_end(c)) {
            eat_line_end(c);
            return KILN_OK;
        }
        size_t off = c->scratch_n;
        while (!at_line_end(c) && !is_blank(c->buf[c->pos])) {
            c->scratch[c->scratch_n++] = c->buf[c->pos++];
        }
        KILN_TRY(add_field(c, off));
    }
}

/* A quoted field, the cursor on its opening quote. */
static kiln_status quoted_field(struct csv *c)
{
    int64_t open_line = c->line, col = c->n_f + 1;
    c->pos++;
    for (;;) {
        if (c->pos >= c->n) {
            return KILN_FAIL(KILN_E_FORMAT,
                             "'%s': line %lld, column %lld: the quote opened there is never "
                             "closed",
                             c->path, (long long)open_line, (long long)col);
        }
        char ch = c->buf[c->pos++];
        if (ch == '"' && c->pos < c->n && c->buf[c->pos] == '"') {
            c->pos++;
        } else if (ch == '"') {
            break;
        }
        c->line += ch == '\n';
        c->scratch[c->scratch_n++] = ch;
    }
    if (!at_line_end(c) && c->buf[c->pos] != c->sep) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "'%s': line %lld, column %lld: '%c' after the closing quote (expected "
                         "'%c' or the line end)",
                         c->path, (long long)c->line, (long long)col, c->buf[c->pos], c->sep);
    }
    return KILN_OK;
}

/* RFC 4180 fields up to the end of the record. */
static kiln_status record_sep(struct csv *c)
{
    for (;;) {
        size_t off = c->scratch_n;
        if (c->pos < c->n && c->buf[c->pos] == '"') {
            KILN_TRY(quoted_field(c));
        } else {
            while (!at_line_end(c) && c->buf[c->pos] != c->sep) {
                if (c->buf[c->pos] == '"') {
                    return KILN_FAIL(KILN_E_FORMAT,
                                     "'%s': line %lld, column %lld: a quote inside an unquoted "
                                     "field",
                                     c->path, (long long)c->line, (long long)(c->n_f + 1));
                }
                c->scratch[c->scratch_n++] = c->buf[c->pos++];
            }
        }
        KILN_TRY(add_field(c, off));
        if (c->pos < c->n && c->buf[c->pos] == c->sep) {
            c->pos++;
            continue;
        }
        eat_line_end(c);
        return KILN_OK;
    }
}

/* Reads the next non-empty record into c->f; *got is 0 at the end of the file. */
static kiln_status next_record(struct csv *c, int *got)
{
    for (;;) {
        size_t p = c->pos;
        while (c->sep == KILN_CSV_BLANKS && p < c->n && is_blank(c->buf[p])) {
            p++;
        }
        size_t save = c->pos;
        c->pos = p;
        if (c->pos < c->n && at_line_end(c)) {
            eat_line_end(c);
            continue;
        }
        c->pos = save;
        break;
    }
    c->n_f = 0;
    c->scratch_n = 0;
    c->rec_line = c->line;
    *got = c->pos < c->n;
    if (!*got) {
        return KILN_OK;
    }
    return c->sep == KILN_CSV_BLANKS ? record_blanks(c) : record_sep(c);
}

static const char *field(const struct csv *c, int64_t i)
{
    return c->scratch + c->f[i].off;
}

/* ==== Columns ==== */

/* Copies field text without surrounding blanks. */
static char *trimmed_copy(const char *s)
{
    while (is_blank(*s)) {
        s++;
    }
    size_t len = strlen(s);
    while (len > 0 && is_blank(s[len - 1])) {
        len--;
    }
    char *out = malloc(len + 1);
    if (out != NULL) {
        memcpy(out, s, len);
        out[len] = '\0';
    }
    return out;
}

/* The state of one read: the column names and which one is the target. */
struct columns {
    int64_t n;    /* fields per row */
    char **names; /* [n] */
    int64_t target;
};

static void columns_fini(struct columns *cols)
{
    for (int64_t i = 0; cols->names != NULL && i < cols->n; i++) {
        free(cols->names[i]);
    }
    free(cols->names);
}

static kiln_status find_target(const struct csv *c, const struct columns *cols, const char *name)
{
    for (int64_t i = 0; i < cols->n; i++) {
        for (int64_t j = 0; j < i; j++) {
            if (strcmp(cols->names[i], cols->names[j]) == 0) {
                return KILN_FAIL(KILN_E_FORMAT,
                                 "'%s': line %lld: columns %lld and %lld are both "
                                 "named '%s'",
                                 c->path, (long long)c->rec_line, (long long)(j + 1),
                                 (long long)(i + 1), cols->names[i]);
            }
        }
    }
    for (int64_t i = 0; name != NULL && i < cols->n; i++) {
        if (strcmp(cols->names[i], name) == 0) {
            return KILN_OK;
        }
    }
    if (name == NULL) {
        return KILN_OK;
    }
    return KILN_FAIL(KILN_E_FORMAT,
                     "'%s': no column is named '%s' (the target); the first is "
                     "'%s', the last '%s'",
                     c->path, name, cols->names[0], cols->names[cols->n - 1]);
}

/* Names the columns from the header record (or c1, c2, ... without one). */
static kiln_status read_columns(const struct csv *c, const struct kiln_csv_options *o,
                                struct columns *cols)
{
    cols->n = c->n_f;
    cols->names = calloc((size_t)c->n_f, sizeof(char *));
    if (cols->names == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading '%s'", c->path);
    }
    for (int64_t i = 0; i < c->n_f; i++) {
        char tmp[32];
        snprintf(tmp, sizeof(tmp), "c%lld", (long long)(i + 1));
        cols->names[i] = trimmed_copy(o->header ? field(c, i) : tmp);
        if (cols->names[i] == NULL) {
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading '%s'", c->path);
        }
    }
    if (c->n_f < 2) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "'%s': line %lld: %lld column; at least a feature and a "
                         "target are needed",
                         c->path, (long long)c->rec_line, (long long)c->n_f);
    }
    KILN_TRY(find_target(c, cols, o->target));
    cols->target = cols->n - 1;
    for (int64_t i = 0; o->target != NULL && i < cols->n; i++) {
        if (strcmp(cols->names[i], o->target) == 0) {
            cols->target = i;
        }
    }
    return KILN_OK;
}

/* Parses field i of the record as a float. */
static kiln_status number(const struct csv *c, const struct columns *cols, int64_t i, float *v)
{
    const char *s = field(c, i);
    while (is_blank(*s)) {
        s++;
    }
    char *end;
    double d = *s != '\0' ? strtod(s, &end) : 0.0;
    const char *why = NULL;
    if (*s == '\0') {
        why = "empty field";
    } else {
        while (is_blank(*end)) {
            end++;
        }
        if (end == s || *end != '\0') {
            why = "not a number";
        } else if (!isfinite(d) || fabs(d) > FLT_MAX) {
            why = "not a finite number in the range of a float";
        }
    }
    if (why != NULL) {
        return KILN_FAIL(KILN_E_FORMAT, "'%s': line %lld, column %lld ('%s'): %s: '%.40s'", c->path,
                         (long long)c->rec_line, (long long)(i + 1), cols->names[i], why,
                         field(c, i));
    }
    *v = (float)d;
    return KILN_OK;
}

/* ==== Rows ==== */

/* The rows read so far; class names stay strings until every row is read. */
struct rows {
    int64_t n, cap, nf; /* rows, capacity, features per row */
    float *x, *y;
    char **cls;
};

static void rows_fini(struct rows *r)
{
    for (int64_t i = 0; r->cls != NULL && i < r->n; i++) {
        free(r->cls[i]);
    }
    free(r->cls);
    free(r->x);
    free(r->y);
}

static int rows_grow(struct rows *r, int classify)
{
    if (r->n < r->cap) {
        return 1;
    }
    int64_t cap = r->cap ? 2 * r->cap : 256;
    size_t x_bytes, t_bytes;
    /* At most 2^40 values in all (the file holds at least a byte per value). */
    if (cap > (INT64_C(1) << 40) / (r->nf + 1) ||
        !kiln__array_bytes(cap * r->nf, sizeof(float), &x_bytes) ||
        !kiln__array_bytes(cap, classify ? sizeof(char *) : sizeof(float), &t_bytes)) {
        return 0;
    }
    float *x = realloc(r->x, x_bytes);
    r->x = x != NULL ? x : r->x;
    if (x == NULL) {
        return 0;
    }
    void *t = classify ? realloc(r->cls, t_bytes) : realloc(r->y, t_bytes);
    if (t == NULL) {
        return 0;
    }
    if (classify) {
        r->cls = t;
    } else {
        r->y = t;
    }
    r->cap = cap;
    return 1;
}

/* Checks that a class name is one of the given ones. */
static kiln_status known_class(const struct csv *c, const struct columns *cols,
                               const struct kiln_csv_options *o, const char *name)
{
    for (int32_t k = 0; o->classes != NULL && k < o->n_classes; k++) {
        if (strcmp(o->classes[k], name) == 0) {
            return KILN_OK;
        }
    }
    if (o->classes == NULL) {
        return KILN_OK;
    }
    return KILN_FAIL(KILN_E_FORMAT,
                     "'%s': line %lld, column %lld ('%s'): class '%s' is not one of the %d given",
                     c->path, (long long)c->rec_line, (long long)(cols->target + 1),
                     cols->names[cols->target], name, o->n_classes);
}

/* Appends the current record to r. */
static kiln_status add_row(const struct csv *c, const struct columns *cols,
                           const struct kiln_csv_options *o, struct rows *r)
{
    int classify = o->classify != 0;
    if (c->n_f != cols->n) {
        return KILN_FAIL(KILN_E_FORMAT, "'%s': line %lld: %lld fields, but the %s has %lld",
                         c->path, (long long)c->rec_line, (long long)c->n_f,
                         o->header ? "header" : "first row", (long long)cols->n);
    }
    if (!rows_grow(r, classify)) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading '%s' (%lld rows)",
                         c->path, (long long)r->n);
    }
    float *x = r->x + r->n * r->nf;
    for (int64_t i = 0, k = 0; i < cols->n; i++) {
        if (i != cols->target) {
            KILN_TRY(number(c, cols, i, &x[k++]));
        } else if (!classify) {
            KILN_TRY(number(c, cols, i, &r->y[r->n]));
        }
    }
    if (classify) {
        char *name = trimmed_copy(field(c, cols->target));
        if (name == NULL) {
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading '%s'", c->path);
        }
        r->cls[r->n++] = name;
        if (name[0] == '\0') {
            return KILN_FAIL(KILN_E_FORMAT, "'%s': line %lld, column %lld ('%s'): empty class name",
                             c->path, (long long)c->rec_line, (long long)(cols->target + 1),
                             cols->names[cols->target]);
        }
        return known_class(c, cols, o, name);
    }
    r->n++;
    return KILN_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The class names: o's, or the sorted distinct names of the rows. */
static kiln_status class_names(const struct rows *r, const struct kiln_csv_options *o,
                               struct kiln_table *t)
{
    int64_t m = o->classes != NULL ? o->n_classes : r->n;
    t->class_names = calloc((size_t)m + 1, sizeof(char *));
    if (t->class_names == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for class names");
    }
    for (int64_t i = 0; i < m; i++) {
        t->class_names[i] = o->classes != NULL ? (char *)o->classes[i] : r->cls[i];
    }
    if (o->classes == NULL) {
        qsort(t->class_names, (size_t)m, sizeof(char *), cmp_str);
        int64_t k = 0;
        for (int64_t i = 0; i < m; i++) {
            if (k == 0 || strcmp(t->class_names[k - 1], t->class_names[i]) != 0) {
                t->class_names[k++] = t->class_names[i];
            }
        }
        m = k;
    }
    /* The pointers so far are borrowed; make them owned. */
    for (int64_t i = 0; i < m; i++) {
        t->class_names[i] = strdup(t->class_names[i]);
        t->n_classes = (int32_t)(i + 1);
        if (t->class_names[i] == NULL) {
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for class names");
        }
    }
    return KILN_OK;
}

/* The id of class name in t (sorted: by binary search), or -1. */
static int64_t class_id(const struct kiln_table *t, const char *name, int sorted)
{
    if (sorted) {
        char **hit = bsearch(&name, t->class_names, (size_t)t->n_classes, sizeof(char *), cmp_str);
        return hit != NULL ? hit - t->class_names : -1;
    }
    for (int32_t k = 0; k < t->n_classes; k++) {
        if (strcmp(t->class_names[k], name) == 0) {
            return k;
        }
    }
    return -1;
}

/* Moves the rows into t (features, targets or numbered classes). */
static kiln_status fill_table(struct rows *r, const struct columns *cols,
                              const struct kiln_csv_options *o, struct kiln_table *t)
{
    t->n = r->n;
    t->n_features = r->nf;
    t->x = r->x;
    r->x = NULL;
    t->y = r->y;
    r->y = NULL;
    t->names = calloc((size_t)r->nf + 1, sizeof(char *));
    t->target_name = strdup(cols->names[cols->target]);
    if (t->names == NULL || t->target_name == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for column names");
    }
    for (int64_t i = 0, k = 0; i < cols->n; i++) {
        if (i != cols->target && (t->names[k++] = strdup(cols->names[i])) == NULL) {
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for column names");
        }
    }
    if (!o->classify) {
        return KILN_OK;
    }
    KILN_TRY(class_names(r, o, t));
    t->labels = kiln__array_alloc(r->n + 1, sizeof(int32_t));
    if (t->labels == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for labels");
    }
    for (int64_t i = 0; i < r->n; i++) {
        t->labels[i] = (int32_t)class_id(t, r->cls[i], o->classes == NULL);
    }
    return KILN_OK;
}

static kiln_status check_csv_options(const char *path, const struct kiln_csv_options *o,
                                     const struct kiln_table *out)
{
    const char *seps = ",;\t ";
    if (path == NULL || out == NULL || o->struct_size < sizeof(*o) || o->separator == '\0' ||
        strchr(seps, o->separator) == NULL || (o->classes != NULL && o->n_classes < 1) ||
        (o->classes != NULL && !o->classify)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_csv_read: bad arguments (separator, classes)");
    }
    for (int32_t k = 0; o->classes != NULL && k < o->n_classes; k++) {
        if (o->classes[k] == NULL) {
            return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_csv_read: class %d is NULL", k);
        }
    }
    return KILN_OK;
}

/* Reads the records of c (already validated as UTF-8) into out. */
static kiln_status read_records(struct csv *c, const struct kiln_csv_options *o,
                                struct kiln_table *out)
{
    struct columns cols = {0, NULL, 0};
    struct rows r = {0, 0, 0, NULL, NULL, NULL};
    int got;
    kiln_status s = next_record(c, &got);
    if (s == KILN_OK && !got) {
        s = KILN_FAIL(KILN_E_FORMAT, "'%s': the file is empty", c->path);
    }
    if (s == KILN_OK) {
        s = read_columns(c, o, &cols);
    }
    r.nf = cols.n - 1;
    if (s == KILN_OK && !o->header) {
        s = add_row(c, &cols, o, &r);
    }
    while (s == KILN_OK && (s = next_record(c, &got)) == KILN_OK && got) {
        s = add_row(c, &cols, o, &r);
    }
    if (s == KILN_OK && r.n == 0) {
        s = KILN_FAIL(KILN_E_FORMAT, "'%s': no data rows after the header", c->path);
    }
    if (s == KILN_OK) {
        s = fill_table(&r, &cols, o, out);
    }
    rows_fini(&r);
    columns_fini(&cols);
    return s;
}

kiln_status kiln_csv_read(const char *path, const struct kiln_csv_options *o,
                          struct kiln_table *out)
{
    struct kiln_csv_options def = KILN_CSV_OPTIONS_INIT;
    o = o != NULL ? o : &def;
    KILN_TRY(check_csv_options(path, o, out));
    memset(out, 0, sizeof(*out));
    struct csv c = {path, NULL, 0, 0, 1, 1, o->separator, NULL, 0, NULL, 0, 0};
    char *buf;
    size_t n;
    KILN_TRY(kiln__read_file(path, &buf, &n));
    size_t skip = n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0, bad = skip;
    const unsigned char *u = (const unsigned char *)buf;
    int32_t cp;
    const char *why = NULL;
    while (bad < n && (why = kiln__utf8_next(u, n, &bad, &cp)) == NULL) {
    }
    kiln_status s = KILN_OK;
    if (why != NULL) {
        int64_t line, col;
        kiln__line_col(buf, bad, &line, &col);
        s = KILN_FAIL(KILN_E_FORMAT,
                      "'%s': line %lld, byte column %lld: invalid UTF-8 (byte "
                      "0x%02X): %s",
                      path, (long long)line, (long long)col, u[bad], why);
    }
    c.buf = buf + skip;
    c.n = n - skip;
    /* Each field adds at most its bytes and a NUL; a field holds at least a separator.
     * kiln__read_file keeps c.n far below INT64_MAX / 2. */
    c.scratch = s == KILN_OK ? kiln__array_alloc(2 * (int64_t)c.n + 2, 1) : NULL;
    if (s == KILN_OK && c.scratch == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading '%s'", path);
    }
    if (s == KILN_OK) {
        s = read_records(&c, o, out);
    }
    free(c.scratch);
    free(c.f);
    free(buf);
    if (s != KILN_OK) {
        kiln_table_fini(out);
    }
    return s;
}
