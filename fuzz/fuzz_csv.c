/*
 * fuzz_csv.c - libFuzzer target for the CSV reader (kiln_csv_read) through a temporary
 * file. Byte 0 chooses the options: bits 0-1 the separator (',', ';', tab, blanks),
 * bit 2 no header row, bit 3 a class target; the rest is the file (plain or gzip). An
 * accepted table must hold finite features and targets and labels in range; it is then
 * split, standardized (saved as JSON and loaded back) and turned into a dataset.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "kiln.h"
#include "kiln/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void use_table(const struct kiln_table *t)
{
    struct kiln_table a = {0}, b = {0};
    struct kiln_standardizer st = {0}, back = {0};
    struct kiln_dataset ds = {0};
    if (kiln_table_split(t, t->n / 2, &a, &b) == KILN_OK &&
        kiln_standardizer_fit(t, &st) == KILN_OK) {
        size_t n = 0;
        if (kiln_standardizer_save(&st, NULL, 0, &n) == KILN_OK) {
            char *json = malloc(n + 1);
            if (json == NULL || kiln_standardizer_save(&st, json, n + 1, &n) != KILN_OK ||
                kiln_standardizer_load(json, &back) != KILN_OK) {
                abort(); /* what kiln saves it must load */
            }
            free(json);
        }
    }
    if (t->labels != NULL && kiln_table_to_dataset(t, &ds) == KILN_OK && ds.n != t->n) {
        abort();
    }
    kiln_dataset_fini(&ds);
    kiln_standardizer_fini(&back);
    kiln_standardizer_fini(&st);
    kiln_table_fini(&b);
    kiln_table_fini(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char seps[4] = {',', ';', '\t', KILN_CSV_BLANKS};
    char path[512];
    if (size < 1) {
        return 0;
    }
    struct kiln_csv_options o = KILN_CSV_OPTIONS_INIT;
    o.separator = seps[data[0] & 3];
    o.header = !(data[0] & 4);
    o.classify = (data[0] & 8) != 0;
    fuzz_put("table.csv", data + 1, size - 1, path, sizeof(path));
    struct kiln_table t;
    if (kiln_csv_read(path, &o, &t) != KILN_OK) {
        if (t.x != NULL || t.names != NULL || t.n != 0) {
            abort(); /* zeroed on failure */
        }
        return 0;
    }
    if (t.n < 1 || t.n_features < 0 || (t.y == NULL) == (t.labels == NULL)) {
        abort();
    }
    for (int64_t i = 0; i < t.n; i++) {
        for (int64_t j = 0; j < t.n_features; j++) {
            if (!isfinite(t.x[i * t.n_features + j])) {
                abort();
            }
        }
        if ((t.y != NULL && !isfinite(t.y[i])) ||
            (t.labels != NULL && (t.labels[i] < 0 || t.labels[i] >= t.n_classes))) {
            abort();
        }
    }
    use_table(&t);
    kiln_table_fini(&t);
    return 0;
}
