/*
 * table.c - operations on tables of kiln/table.h: release, splitting by row, the
 * conversion to a kiln_dataset, standardization (fit, apply, JSON save and load) and the
 * linear least-squares baseline with its Cholesky solve. CSV reading is in csv.c.
 */
#include "kiln/table.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../checked.h"
#include "../status_impl.h"
#include "linalg.h"

static void free_names(char **names, int64_t n)
{
    for (int64_t i = 0; names != NULL && i < n; i++) {
        free(names[i]);
    }
    free(names);
}

void kiln_table_fini(struct kiln_table *t)
{
    if (t == NULL) {
        return;
    }
    free_names(t->names, t->n_features);
    free_names(t->class_names, t->n_classes);
    free(t->target_name);
    free(t->x);
    free(t->y);
    free(t->labels);
    memset(t, 0, sizeof(*t));
}

/* A copy of names[n] (NULL entries stay NULL), or NULL when out of memory. */
static char **copy_names(char *const *names, int64_t n)
{
    char **out = calloc((size_t)n + 1, sizeof(char *));
    for (int64_t i = 0; out != NULL && names != NULL && i < n; i++) {
        if (names[i] != NULL && (out[i] = strdup(names[i])) == NULL) {
            free_names(out, i);
            out = NULL;
        }
    }
    return out;
}

/* Copies rows [from, from + n) of src into a new table dst. */
static kiln_status copy_rows(const struct kiln_table *src, int64_t from, int64_t n,
                             struct kiln_table *dst)
{
    memset(dst, 0, sizeof(*dst));
    int64_t nf = src->n_features;
    dst->n = n;
    dst->n_features = nf;
    dst->n_classes = src->n_classes;
    dst->names = copy_names(src->names, nf);
    dst->class_names = copy_names(src->class_names, src->n_classes);
    dst->target_name = src->target_name != NULL ? strdup(src->target_name) : NULL;
    int64_t n_values = -1;
    if (!kiln__i64_mul(n, nf, &n_values) || n_values == INT64_MAX) {
        n_values = -2; /* kiln__array_alloc refuses it: out of memory */
    }
    dst->x = kiln__array_alloc(n_values + 1, sizeof(float));
    dst->y = src->y != NULL ? kiln__array_alloc(n + 1, sizeof(float)) : NULL;
    dst->labels = src->labels != NULL ? kiln__array_alloc(n + 1, sizeof(int32_t)) : NULL;
    if (dst->names == NULL || dst->class_names == NULL || dst->x == NULL ||
        (src->target_name != NULL && dst->target_name == NULL) ||
        (src->y != NULL && dst->y == NULL) || (src->labels != NULL && dst->labels == NULL)) {
        kiln_table_fini(dst);
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory copying %lld rows",
                         (long long)n);
    }
    memcpy(dst->x, src->x + from * nf, (size_t)n_values * sizeof(float));
    if (src->y != NULL) {
        memcpy(dst->y, src->y + from, (size_t)n * sizeof(float));
    }
    if (src->labels != NULL) {
        memcpy(dst->labels, src->labels + from, (size_t)n * sizeof(int32_t));
    }
    return KILN_OK;
}

kiln_status kiln_table_split(const struct kiln_table *src, int64_t n_first,
                             struct kiln_table *first, struct kiln_table *rest)
{
    if (src == NULL || first == NULL || rest == NULL || first == rest || n_first < 0 ||
        n_first > src->n) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_table_split: n_first %lld not in [0, %lld]",
                         (long long)n_first, (long long)(src != NULL ? src->n : 0));
    }
    KILN_TRY(copy_rows(src, 0, n_first, first));
    kiln_status s = copy_rows(src, n_first, src->n - n_first, rest);
    if (s != KILN_OK) {
        kiln_table_fini(first);
    }
    return s;
}

kiln_status kiln_table_to_dataset(const struct kiln_table *t, struct kiln_dataset *out)
{
    if (t == NULL || out == NULL || t->labels == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_table_to_dataset: needs a classification table (class labels)");
    }
    memset(out, 0, sizeof(*out));
    int64_t n_values = -1;
    if (!kiln__i64_mul(t->n, t->n_features, &n_values) || n_values == INT64_MAX) {
        n_values = -2; /* kiln__array_alloc refuses it: out of memory */
    }
    out->x = kiln__array_alloc(n_values + 1, sizeof(float));
    out->y = kiln__array_alloc(t->n + 1, sizeof(int32_t));
    if (out->x == NULL || out->y == NULL) {
        kiln_dataset_fini(out);
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for %lld rows",
                         (long long)t->n);
    }
    memcpy(out->x, t->x, (size_t)n_values * sizeof(float));
    memcpy(out->y, t->labels, (size_t)t->n * sizeof(int32_t));
    out->n = t->n;
    out->dim = t->n_features;
    out->rank = 1;
    out->dims[0] = t->n_features;
    out->n_classes = t->n_classes;
    return KILN_OK;
}

/* ==== Standardization ==== */

void kiln_standardizer_fini(struct kiln_standardizer *s)
{
    if (s == NULL) {
        return;
    }
    free_names(s->names, s->n_features);
    free(s->mean);
    free(s->std);
    memset(s, 0, sizeof(*s));
}

static kiln_status standardizer_alloc(int64_t nf, struct kiln_standardizer *out)
{
    memset(out, 0, sizeof(*out));
    out->names = calloc((size_t)nf + 1, sizeof(char *));
    out->mean = calloc((size_t)nf + 1, sizeof(double));
    out->std = calloc((size_t)nf + 1, sizeof(double));
    if (out->names == NULL || out->mean == NULL || out->std == NULL) {
        kiln_standardizer_fini(out);
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for a standardizer");
    }
    out->n_features = nf;
    return KILN_OK;
}

kiln_status kiln_standardizer_fit(const struct kiln_table *t, struct kiln_standardizer *out)
{
    if (t == NULL || out == NULL || t->n < 1 || t->n_features < 1) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_standardizer_fit: empty table");
    }
    int64_t nf = t->n_features;
    KILN_TRY(standardizer_alloc(nf, out));
    for (int64_t j = 0; j < nf; j++) {
        if (t->names != NULL && t->names[j] != NULL &&
            (out->names[j] = strdup(t->names[j])) == NULL) {
            kiln_standardizer_fini(out);
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for a standardizer");
        }
        double m = 0.0, v = 0.0;
        for (int64_t i = 0; i < t->n; i++) {
            m += t->x[i * nf + j];
        }
        m /= (double)t->n;
        for (int64_t i = 0; i < t->n; i++) {
            double d = t->x[i * nf + j] - m;
            v += d * d;
        }
        double sd = sqrt(v / (double)t->n);
        out->mean[j] = m;
        out->std[j] = sd > 0.0 ? sd : 1.0;
    }
    return KILN_OK;
}

kiln_status kiln_standardizer_apply(const struct kiln_standardizer *s, struct kiln_table *t)
{
    if (s == NULL || t == NULL || s->n_features != t->n_features) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "kiln_standardizer_apply: fitted on %lld features, the "
                         "table has %lld",
                         (long long)(s != NULL ? s->n_features : 0),
                         (long long)(t != NULL ? t->n_features : 0));
    }
    int64_t nf = t->n_features;
    for (int64_t j = 0; j < nf; j++) {
        if (s->names != NULL && t->names != NULL && s->names[j] != NULL && t->names[j] != NULL &&
            strcmp(s->names[j], t->names[j]) != 0) {
            return KILN_FAIL(KILN_E_SHAPE,
                             "kiln_standardizer_apply: feature %lld is '%s', fitted on '%s'",
                             (long long)(j + 1), t->names[j], s->names[j]);
        }
    }
    for (int64_t i = 0; i < t->n; i++) {
        for (int64_t j = 0; j < nf; j++) {
            t->x[i * nf + j] = (float)((t->x[i * nf + j] - s->mean[j]) / s->std[j]);
        }
    }
    return KILN_OK;
}

#define STD_FORMAT  "kiln-standardizer"
#define STD_VERSION 1

kiln_status kiln_standardizer_save(const struct kiln_standardizer *s, char *buf, size_t cap,
                                   size_t *n_bytes)
{
    if (s == NULL || n_bytes == NULL || (buf == NULL && cap > 0) || s->n_features < 1 ||
        s->n_features > INT32_MAX) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_standardizer_save: bad argument");
    }
    int n = (int)s->n_features;
    cJSON *root = cJSON_CreateObject(), *names = cJSON_CreateArray();
    int ok = root != NULL && names != NULL && cJSON_AddItemToObject(root, "names", names);
    if (!ok) {
        cJSON_Delete(names);
    }
    ok = ok && cJSON_AddStringToObject(root, "format", STD_FORMAT) != NULL &&
         cJSON_AddNumberToObject(root, "version", STD_VERSION) != NULL &&
         cJSON_AddItemToObject(root, "mean", cJSON_CreateDoubleArray(s->mean, n)) &&
         cJSON_AddItemToObject(root, "std", cJSON_CreateDoubleArray(s->std, n));
    for (int i = 0; ok && i < n; i++) {
        const char *name = s->names != NULL && s->names[i] != NULL ? s->names[i] : "";
        ok = cJSON_AddItemToArray(names, cJSON_CreateString(name));
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (text == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory writing a standardizer");
    }
    *n_bytes = strlen(text);
    if (cap > *n_bytes) {
        memcpy(buf, text, *n_bytes + 1);
    }
    cJSON_free(text);
    return KILN_OK;
}

/* Reads the array key of root: numbers (into d) or strings (copied into names). */
static kiln_status json_array(const cJSON *root, const char *key, int64_t n, double *d,
                              char **names)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key), *it;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) {
        return KILN_FAIL(KILN_E_FORMAT, "standardizer JSON: \"%s\" is not an array of %lld", key,
                         (long long)n);
    }
    int64_t i = 0;
    cJSON_ArrayForEach(it, a)
    {
        if (d != NULL && (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))) {
            return KILN_FAIL(KILN_E_FORMAT, "standardizer JSON: %s[%lld] is not a finite number",
                             key, (long long)i);
        }
        if (names != NULL && !cJSON_IsString(it)) {
            return KILN_FAIL(KILN_E_FORMAT, "standardizer JSON: %s[%lld] is not a string", key,
                             (long long)i);
        }
        if (d != NULL) {
            d[i] = it->valuedouble;
        } else if ((names[i] = strdup(it->valuestring)) == NULL) {
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading names");
        }
        i++;
    }
    return KILN_OK;
}

kiln_status kiln_standardizer_load(const char *json, struct kiln_standardizer *out)
{
    if (json == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_standardizer_load: NULL argument");
    }
    memset(out, 0, sizeof(*out));
    cJSON *root = cJSON_Parse(json);
    const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "format"));
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *mean = cJSON_GetObjectItemCaseSensitive(root, "mean");
    int64_t n = cJSON_IsArray(mean) ? cJSON_GetArraySize(mean) : 0;
    kiln_status s = KILN_OK;
    if (root == NULL || fmt == NULL || strcmp(fmt, STD_FORMAT) != 0 || !cJSON_IsNumber(ver) ||
        ver->valuedouble != STD_VERSION || n < 1) {
        s = KILN_FAIL(KILN_E_FORMAT, "standardizer JSON: %s",
                      root == NULL ? "not JSON"
                                   : "expected \"format\": \"" STD_FORMAT "\", \"version\": 1 "
                                     "and a non-empty \"mean\"");
    }
    s = s == KILN_OK ? standardizer_alloc(n, out) : s;
    s = s == KILN_OK ? json_array(root, "mean", n, out->mean, NULL) : s;
    s = s == KILN_OK ? json_array(root, "std", n, out->std, NULL) : s;
    s = s == KILN_OK ? json_array(root, "names", n, NULL, out->names) : s;
    for (int64_t j = 0; s == KILN_OK && j < n; j++) {
        if (!(out->std[j] > 0.0)) {
            s = KILN_FAIL(KILN_E_FORMAT, "standardizer JSON: std[%lld] = %g is not positive",
                          (long long)j, out->std[j]);
        }
    }
    cJSON_Delete(root);
    if (s != KILN_OK) {
        kiln_standardizer_fini(out);
    }
    return s;
}

/* ==== Least squares ==== */

int kiln__cholesky_solve(double *a, double *b, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        double d = a[j * n + j];
        for (int64_t k = 0; k < j; k++) {
            d -= a[j * n + k] * a[j * n + k];
        }
        if (!(d > 1e-12 * fabs(a[j * n + j])) || !(d > 0.0)) {
            return -1;
        }
        a[j * n + j] = sqrt(d);
        for (int64_t i = j + 1; i < n; i++) {
            double v = a[i * n + j];
            for (int64_t k = 0; k < j; k++) {
                v -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = v / a[j * n + j];
        }
    }
    for (int64_t i = 0; i < n; i++) { /* L z = b */
        for (int64_t k = 0; k < i; k++) {
            b[i] -= a[i * n + k] * b[k];
        }
        b[i] /= a[i * n + i];
    }
    for (int64_t i = n - 1; i >= 0; i--) { /* L^T x = z */
        for (int64_t k = i + 1; k < n; k++) {
            b[i] -= a[k * n + i] * b[k];
        }
        b[i] /= a[i * n + i];
    }
    return 0;
}

kiln_status kiln_linreg_fit(const struct kiln_table *t, double ridge, double *w)
{
    if (t == NULL || w == NULL || t->y == NULL || t->n < 1 || t->n_features < 1 ||
        !(ridge >= 0.0) || t->n_features > 4096) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_linreg_fit: needs a regression table with "
                                             "rows, at most 4096 features, and ridge >= 0");
    }
    int64_t n = t->n, d = t->n_features;
    double *a = calloc((size_t)(d * d + 2 * d + 1), sizeof(double));
    if (a == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for least squares");
    }
    double *mx = a + d * d, *b = mx + d, my = 0.0;
    /* Centering first keeps the normal equations well conditioned. */
    for (int64_t i = 0; i < n; i++) {
        my += t->y[i];
        for (int64_t j = 0; j < d; j++) {
            mx[j] += t->x[i * d + j];
        }
    }
    my /= (double)n;
    for (int64_t j = 0; j < d; j++) {
        mx[j] /= (double)n;
    }
    for (int64_t i = 0; i < n; i++) {
        const float *xi = t->x + i * d;
        double yi = t->y[i] - my;
        for (int64_t j = 0; j < d; j++) {
            double xj = xi[j] - mx[j];
            b[j] += xj * yi;
            for (int64_t k = 0; k <= j; k++) {
                a[j * d + k] += xj * (xi[k] - mx[k]);
            }
        }
    }
    for (int64_t j = 0; j < d; j++) {
        a[j * d + j] += ridge;
        for (int64_t k = 0; k < j; k++) {
            a[k * d + j] = a[j * d + k];
        }
    }
    kiln_status s = KILN_OK;
    if (kiln__cholesky_solve(a, b, d) != 0) {
        s = KILN_FAIL(KILN_E_INVALID_ARG, "kiln_linreg_fit: the features are collinear (or "
                                          "constant); use a ridge > 0");
    } else {
        w[d] = my;
        for (int64_t j = 0; j < d; j++) {
            w[j] = b[j];
            w[d] -= b[j] * mx[j];
        }
    }
    free(a);
    return s;
}

kiln_status kiln_linreg_eval(const struct kiln_table *t, const double *w, double *mse, double *r2)
{
    if (t == NULL || w == NULL || t->y == NULL || t->n < 1) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_linreg_eval: needs a regression table with "
                                             "rows");
    }
    int64_t n = t->n, d = t->n_features;
    double my = 0.0, ss_res = 0.0, ss_tot = 0.0;
    for (int64_t i = 0; i < n; i++) {
        my += t->y[i];
    }
    my /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        double p = w[d];
        for (int64_t j = 0; j < d; j++) {
            p += w[j] * t->x[i * d + j];
        }
        ss_res += (t->y[i] - p) * (t->y[i] - p);
        ss_tot += (t->y[i] - my) * (t->y[i] - my);
    }
    if (mse != NULL) {
        *mse = ss_res / (double)n;
    }
    if (r2 != NULL) {
        *r2 = ss_tot > 0.0 ? 1.0 - ss_res / ss_tot : 0.0;
    }
    return KILN_OK;
}
