/*
 * kiln/table.h - tabular data on the host: reading CSV files (a header, numeric
 * feature columns and one target column, which holds a number for regression or a
 * class name for classification), splitting tables by row, standardization fitted on
 * a training split (savable as JSON for a checkpoint's metadata), and a linear
 * least-squares baseline with its MSE and R^2.
 *
 * A table is a plain value struct owning its arrays (kiln_table_fini). Nothing here
 * touches a context or device; kiln_table_to_dataset hands a classification table to
 * the batching of kiln/data.h.
 */
#ifndef KILN_TABLE_H
#define KILN_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Tables and CSV ---- */

/* Rows of numeric features and a target. Exactly one of y and labels is non-NULL. */
struct kiln_table {
    int64_t n;          /* rows */
    int64_t n_features; /* feature columns */
    char **names;       /* [n_features] feature column names, owned */
    char *target_name;  /* owned */
    float *x;           /* [n, n_features], owned */
    float *y;           /* [n] regression targets, owned; NULL when classifying */
    int32_t *labels;    /* [n] class ids, owned; NULL for regression */
    int32_t n_classes;  /* 0 for regression */
    char **class_names; /* [n_classes], owned, byte-wise sorted unless given */
};

/* Releases t's arrays and zeroes it. NULL or a zeroed table is a no-op. */
KILN_API void kiln_table_fini(struct kiln_table *t);

/* KILN_CSV_BLANKS as the separator: fields are separated by runs of spaces and tabs,
 * leading and trailing blanks are ignored and there is no quoting (the layout of
 * scikit-learn's space-separated data files). */
#define KILN_CSV_BLANKS ' '

struct kiln_csv_options {
    uint32_t struct_size;       /* sizeof(struct kiln_csv_options) */
    const char *target;         /* name of the target column; NULL (default): the last */
    int32_t classify;           /* 1: the target is a class name; 0 (default): a number */
    int32_t header;             /* 1 (default): the first row names the columns; 0: they
                                   are named c1, c2, ... */
    char separator;             /* ',' (default), ';', '\t' or KILN_CSV_BLANKS */
    const char *const *classes; /* borrowed: with classify, the class names in id order
                                   (those of the training file, for a test file); a
                                   target naming another is an error. NULL (default):
                                   the sorted distinct targets of this file */
    int32_t n_classes;
};

#define KILN_CSV_OPTIONS_INIT                                                                      \
    {                                                                                              \
        sizeof(struct kiln_csv_options), NULL, 0, 1, ',', NULL, 0                                  \
    }

/*
 * Reads a CSV file (plain or gzip; UTF-8; a leading byte-order mark is skipped; LF or
 * CR LF line ends; empty lines are skipped). With a separator other than
 * KILN_CSV_BLANKS, fields follow RFC 4180: a field may be enclosed in double quotes,
 * inside which the separator, line breaks and "" (a quote) are literal. Feature fields
 * and a regression target are decimal numbers (strtod in the C locale; blanks around
 * them are ignored) that must be finite and fit a float. Every row must have as many
 * fields as the header.
 * [in] path, o: borrowed (o NULL: defaults). [out] out: filled on success
 * (kiln_table_fini); zeroed on failure.
 * Returns KILN_OK, KILN_E_IO, KILN_E_FORMAT (naming the file, the line and the column
 * by number and name: a row with the wrong number of fields, an empty or non-numeric
 * field, an unterminated or stray quote, invalid UTF-8, an unknown class, no data
 * rows, a header naming a column twice, no column named target),
 * KILN_E_INVALID_ARG, KILN_E_OUT_OF_HOST_MEMORY. Thread-safe.
 */
KILN_API kiln_status kiln_csv_read(const char *path, const struct kiln_csv_options *o,
                                   struct kiln_table *out);

/*
 * Copies rows [0, n_first) of src into first and the other rows into rest (scikit-learn's
 * diabetes example tests on the last 20 rows: n_first = n - 20).
 * [in] src: borrowed. [out] first, rest: new tables owned by the caller.
 * Returns KILN_OK, KILN_E_INVALID_ARG (n_first outside [0, n]), KILN_E_OUT_OF_HOST_MEMORY.
 */
KILN_API kiln_status kiln_table_split(const struct kiln_table *src, int64_t n_first,
                                      struct kiln_table *first, struct kiln_table *rest);

/*
 * Copies a classification table into a kiln_dataset (rank 1 items of n_features, the
 * table's labels and class count) for kiln_batch_iter and the training loop.
 * Returns KILN_OK, KILN_E_INVALID_ARG (a regression table), KILN_E_OUT_OF_HOST_MEMORY.
 */
KILN_API kiln_status kiln_table_to_dataset(const struct kiln_table *t, struct kiln_dataset *out);

/* ---- Standardization ---- */

/* Per-feature mean and (population) standard deviation, fitted on a training split. */
struct kiln_standardizer {
    int64_t n_features;
    char **names; /* [n_features] the columns it was fitted on, owned */
    double *mean; /* [n_features], owned */
    double *std;  /* [n_features], owned; a constant column has std 1 (it maps to 0) */
};

/* Releases s's arrays and zeroes it. NULL or a zeroed struct is a no-op. */
KILN_API void kiln_standardizer_fini(struct kiln_standardizer *s);

/*
 * Fits mean and std (in double, dividing by n) of every feature of t.
 * [in] t: borrowed. [out] out: filled on success (kiln_standardizer_fini).
 * Returns KILN_OK, KILN_E_INVALID_ARG (no rows), KILN_E_OUT_OF_HOST_MEMORY.
 */
KILN_API kiln_status kiln_standardizer_fit(const struct kiln_table *t,
                                           struct kiln_standardizer *out);

/*
 * Replaces every feature x of t by (x - mean) / std. The table must have the same
 * number of features, with the same names when both have them.
 * Returns KILN_OK or KILN_E_SHAPE (naming the first difference).
 */
KILN_API kiln_status kiln_standardizer_apply(const struct kiln_standardizer *s,
                                             struct kiln_table *t);

/*
 * Writes s as JSON: {"format": "kiln-standardizer", "version": 1, "names": [...],
 * "mean": [...], "std": [...]}, doubles printed so they read back exactly. Buffer
 * protocol as kiln_vocab_save: [out] buf of cap bytes (NULL, 0: size only); *n_bytes
 * is the length without the NUL, written with the NUL only when cap > *n_bytes.
 * kiln_standardizer_load reads it back (KILN_E_FORMAT naming what is wrong).
 * Returns KILN_OK, KILN_E_INVALID_ARG, KILN_E_FORMAT, KILN_E_OUT_OF_HOST_MEMORY.
 */
KILN_API kiln_status kiln_standardizer_save(const struct kiln_standardizer *s, char *buf,
                                            size_t cap, size_t *n_bytes);
KILN_API kiln_status kiln_standardizer_load(const char *json, struct kiln_standardizer *out);

/* ---- Linear least squares ---- */

/*
 * Fits y ~ x w + b by least squares (with ridge >= 0 added to the diagonal of the
 * centered normal equations, which are solved by a Cholesky factorization in double).
 * [in] t: a regression table, borrowed. [out] w: caller storage of n_features + 1:
 * the weights, then the intercept b.
 * Returns KILN_OK, KILN_E_INVALID_ARG (classification table, fewer rows than 1,
 * ridge < 0, or collinear features with ridge 0), KILN_E_OUT_OF_HOST_MEMORY.
 */
KILN_API kiln_status kiln_linreg_fit(const struct kiln_table *t, double ridge, double *w);

/*
 * Mean squared error of the predictions x w + b on t, and R^2 = 1 - SS_res / SS_tot
 * with SS_tot about t's own target mean (scikit-learn's r2_score); either output may
 * be NULL. Returns KILN_OK or KILN_E_INVALID_ARG.
 */
KILN_API kiln_status kiln_linreg_eval(const struct kiln_table *t, const double *w, double *mse,
                                      double *r2);

#ifdef __cplusplus
}
#endif

#endif /* KILN_TABLE_H */
