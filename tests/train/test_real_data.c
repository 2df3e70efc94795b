/*
 * test_real_data.c - the data readers on the real data sets, when they are present (else
 * exit 77, SKIP):
 *   test_real_data fortunes DIR N   DIR holds fortunes-zh-N (tools/data/make_fortunes_zh.py):
 *                                   the split and class counts of DATASETS.md 4.1, the
 *                                   vocabulary, batches, a vocabulary JSON round trip and
 *                                   a naive Bayes classifier over character unigrams and
 *                                   bigrams well above the majority class;
 *   test_real_data moby [FILE]      Moby Dick (tools/data/get_moby_dick.sh; default
 *                                   $KILN_DATA_DIR or ~/.cache/kiln/data): 1,190,317
 *                                   characters, the 90/10 split, stream batches;
 *   test_real_data diabetes [FILE]  scikit-learn's diabetes data (tools/data/get_diabetes.sh,
 *                                   same default directory): 442 rows, and least squares on
 *                                   all ten features tested on the last 20 rows reproduces
 *                                   MSE 2004.5 and R^2 0.585 (DATASETS.md 6).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kiln.h"

#define SKIP 77

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                 \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        kiln_status s_ = (expr);                                                                   \
        if (s_ != KILN_OK) {                                                                       \
            printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, #expr, kiln_last_error());          \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Multinomial naive Bayes (add-one smoothing) over the unigram and bigram ids of each
 * text, trained on train and scored on test; returns the test accuracy. */
static double naive_bayes(const struct kiln_text_data *td, const kiln_vocab *v)
{
    int32_t n_ids = kiln_vocab_size(v), c = td->n_classes;
    double *count = calloc((size_t)n_ids * (size_t)c, sizeof(double));
    double *total = calloc((size_t)c, sizeof(double)), *prior = calloc((size_t)c, sizeof(double));
    enum { T = 4096 };
    static int32_t ids[T], bids[T];
    for (int64_t i = 0; i < td->train.n; i++) {
        int64_t n1, n2;
        const char *text = td->train.texts[i];
        int32_t y = td->train.labels[i];
        kiln_vocab_encode(v, text, strlen(text), ids, T, &n1);
        kiln_vocab_encode_bigrams(v, text, strlen(text), bids, T, &n2);
        for (int64_t k = 0; k < n1; k++) {
            count[(size_t)y * (size_t)n_ids + (size_t)ids[k]] += 1.0;
        }
        for (int64_t k = 0; k < n2; k++) {
            count[(size_t)y * (size_t)n_ids + (size_t)bids[k]] += 1.0;
        }
        total[y] += (double)(n1 + n2);
        prior[y] += 1.0;
    }
    int64_t right = 0;
    for (int64_t i = 0; i < td->test.n; i++) {
        int64_t n1, n2;
        const char *text = td->test.texts[i];
        kiln_vocab_encode(v, text, strlen(text), ids, T, &n1);
        kiln_vocab_encode_bigrams(v, text, strlen(text), bids, T, &n2);
        int32_t best = 0;
        double best_lp = -INFINITY;
        for (int32_t y = 0; y < c; y++) {
            const double *cy = count + (size_t)y * (size_t)n_ids;
            double denom = log(total[y] + n_ids), lp = log(prior[y] / (double)td->train.n);
            for (int64_t k = 0; k < n1; k++) {
                lp += log(cy[ids[k]] + 1.0) - denom;
            }
            for (int64_t k = 0; k < n2; k++) {
                lp += log(cy[bids[k]] + 1.0) - denom;
            }
            if (lp > best_lp) {
                best_lp = lp;
                best = y;
            }
        }
        right += best == td->test.labels[i];
    }
    free(count);
    free(total);
    free(prior);
    return (double)right / (double)td->test.n;
}

/* Bucketed batches of a split cover it once, with mostly characters in their cells. */
static int check_batches(const struct kiln_text_split *split, const kiln_vocab *w)
{
    struct kiln_text_iter_options o = KILN_TEXT_ITER_OPTIONS_INIT;
    o.batch_size = 64;
    o.max_len = 256;
    o.bucket_window = 1024;
    o.len_multiple = 16;
    kiln_text_iter *it;
    TRY(kiln_text_iter_create(split, w, &o, &it));
    struct kiln_text_batch b;
    int64_t seen = 0, cells = 0, real = 0;
    for (;;) {
        TRY(kiln_text_iter_next(it, &b));
        if (b.n == 0) {
            break;
        }
        seen += b.n;
        cells += b.batch * b.t;
        for (int64_t r = 0; r < b.n; r++) {
            real += b.lengths[r];
        }
    }
    printf("bucketed batches of 64 (windows of 1024, T a multiple of 16): %.1f%% of the id "
           "cells are characters\n",
           100.0 * (double)real / (double)cells);
    CHECK(seen == split->n, "%lld of %lld seen", (long long)seen, (long long)split->n);
    CHECK(real * 2 > cells, "bucketing left %lld of %lld cells padding", (long long)(cells - real),
          (long long)cells);
    kiln_text_iter_destroy(it);
    return 0;
}

static int check_fortunes(const char *dir, int n_classes)
{
    /* DATASETS.md 4.1: train and test counts per class, in label order. */
    static const char *names[] = {"analects", "caigentan", "poetry", "proverb", "zengguang"};
    static const int64_t want_train[] = {430, 288, 327, 608, 279};
    static const int64_t want_test[] = {107, 71, 81, 151, 69};
    char path[4096];
    snprintf(path, sizeof(path), "%s/train.tsv", dir);
    if (!exists(path)) {
        printf("SKIP: %s not found (Debian package fortunes-zh not installed when configured)\n",
               path);
        return SKIP;
    }
    struct kiln_text_data td;
    TRY(kiln_text_data_load(dir, &td));
    if (td.n_classes != n_classes) {
        printf("FAIL: %d classes, expected %d\n", td.n_classes, n_classes);
        return 1;
    }
    int64_t tr[5] = {0}, te[5] = {0};
    for (int64_t i = 0; i < td.train.n; i++) {
        tr[td.train.labels[i]]++;
    }
    for (int64_t i = 0; i < td.test.n; i++) {
        te[td.test.labels[i]]++;
    }
    for (int32_t k = 0; k < td.n_classes && k < n_classes; k++) {
        CHECK(strcmp(td.label_names[k], names[k]) == 0, "label %d is %s", k, td.label_names[k]);
        CHECK(tr[k] == want_train[k] && te[k] == want_test[k], "%s: %lld train, %lld test",
              names[k], (long long)tr[k], (long long)te[k]);
    }
    CHECK(td.train.n == (n_classes == 5 ? 1932 : 1653), "%lld train", (long long)td.train.n);
    CHECK(td.test.n == (n_classes == 5 ? 479 : 410), "%lld test", (long long)td.test.n);

    struct kiln_vocab_options vo = KILN_VOCAB_OPTIONS_INIT;
    vo.bigrams = 1;
    vo.bigram_min_count = 1;
    kiln_vocab *v;
    TRY(kiln_vocab_build((const char *const *)td.train.texts, NULL, td.train.n, &vo, &v));
    TRY(kiln_vocab_set_labels(v, (const char *const *)td.label_names, td.n_classes));
    /* Held-out characters missing from the training vocabulary become unknown. */
    int64_t unk = 0, chars = 0;
    for (int64_t i = 0; i < td.test.n; i++) {
        int32_t ids[1024];
        int64_t n;
        TRY(kiln_vocab_encode(v, td.test.texts[i], strlen(td.test.texts[i]), ids, 1024, &n));
        for (int64_t k = 0; k < n; k++) {
            unk += ids[k] == KILN_VOCAB_UNK;
        }
        chars += n;
    }
    double acc = naive_bayes(&td, v);
    printf("fortunes-zh-%d: %lld train, %lld test, %d characters and %d bigrams in the "
           "training vocabulary, %.2f%% of test characters unknown; naive Bayes on character "
           "unigrams + bigrams: test accuracy %.4f\n",
           n_classes, (long long)td.train.n, (long long)td.test.n, kiln_vocab_n_chars(v) - 2,
           kiln_vocab_n_bigrams(v), 100.0 * (double)unk / (double)chars, acc);
    CHECK(kiln_vocab_n_chars(v) - 2 > 3000 && kiln_vocab_n_chars(v) - 2 < 3642, "%d characters",
          kiln_vocab_n_chars(v) - 2);
    /* The majority class is 31.5% (5 classes) or 36.8% (4 classes) of the test set. */
    CHECK(acc > (n_classes == 5 ? 0.70 : 0.85), "naive Bayes accuracy %.4f", acc);

    size_t len;
    TRY(kiln_vocab_save(v, NULL, 0, &len));
    char *json = malloc(len + 1);
    kiln_vocab *w;
    TRY(kiln_vocab_save(v, json, len + 1, &len));
    TRY(kiln_vocab_load(json, &w));
    CHECK(kiln_vocab_size(w) == kiln_vocab_size(v) && kiln_vocab_n_labels(w) == n_classes &&
              strcmp(kiln_vocab_label(w, 2), "poetry") == 0 &&
              kiln_vocab_char_id(w, 0x5B50) == kiln_vocab_char_id(v, 0x5B50),
          "the JSON round trip changed the vocabulary");
    free(json);

    if (check_batches(&td.train, w) != 0) {
        return 1;
    }
    kiln_vocab_destroy(w);
    kiln_vocab_destroy(v);
    kiln_text_data_fini(&td);
    return failures ? 1 : 0;
}

/* The path of name in the data cache of tools/data/ (into path). */
static const char *cached(const char *name, char *path, size_t cap)
{
    const char *d = getenv("KILN_DATA_DIR"), *home = getenv("HOME");
    if (d != NULL) {
        snprintf(path, cap, "%s/%s", d, name);
    } else {
        snprintf(path, cap, "%s/.cache/kiln/data/%s", home ? home : ".", name);
    }
    return path;
}

static int check_moby(const char *file)
{
    char path[4096];
    file = file != NULL ? file : cached("moby-dick/data.txt", path, sizeof(path));
    if (!exists(file)) {
        printf("SKIP: %s not found (run tools/data/get_moby_dick.sh)\n", file);
        return SKIP;
    }
    struct kiln_lm_text lm;
    TRY(kiln_lm_text_load(file, NULL, &lm));
    printf("Moby Dick: %lld characters, %lld for training, %d ids\n", (long long)lm.n,
           (long long)lm.n_train, kiln_vocab_size(lm.vocab));
    CHECK(lm.n == 1190317, "%lld characters", (long long)lm.n);
    CHECK(lm.n_train == 1071285, "%lld training characters", (long long)lm.n_train);
    CHECK(kiln_vocab_size(lm.vocab) == 85, "vocabulary of %d", kiln_vocab_size(lm.vocab));
    CHECK(kiln_vocab_char(lm.vocab, 2) == ' ' && kiln_vocab_char(lm.vocab, 3) == 'e',
          "the most frequent characters are not space and e");
    int64_t nc = kiln_lm_stream_n_chunks(lm.n_train, 32, 128);
    CHECK(nc == (lm.n_train - 1) / 32 / 128, "%lld chunks", (long long)nc);
    int32_t *chunk = malloc(32 * 129 * sizeof(int32_t));
    TRY(kiln_lm_stream_chunk(lm.ids, lm.n_train, 32, 128, nc - 1, chunk));
    free(chunk);
    kiln_lm_text_fini(&lm);
    return failures ? 1 : 0;
}

static int check_diabetes(const char *file)
{
    char path[4096];
    file = file != NULL ? file : cached("diabetes/diabetes.csv", path, sizeof(path));
    if (!exists(file)) {
        printf("SKIP: %s not found (run tools/data/get_diabetes.sh)\n", file);
        return SKIP;
    }
    struct kiln_csv_options o = KILN_CSV_OPTIONS_INIT;
    struct kiln_table t, train, test;
    double w[11], mse, r2, mse_bmi, r2_bmi;
    o.target = "target";
    TRY(kiln_csv_read(file, &o, &t));
    CHECK(t.n == 442 && t.n_features == 10, "%lld rows of %lld features", (long long)t.n,
          (long long)t.n_features);
    TRY(kiln_table_split(&t, t.n - 20, &train, &test));
    TRY(kiln_linreg_fit(&train, 0.0, w));
    TRY(kiln_linreg_eval(&test, w, &mse, &r2));
    /* bmi alone: scikit-learn's "Linear Regression Example" (MSE 2548.07, R^2 0.47). */
    struct kiln_table *parts[2] = {&train, &test};
    for (int k = 0; k < 2; k++) {
        for (int64_t i = 0; i < parts[k]->n; i++) {
            parts[k]->x[i] = parts[k]->x[i * 10 + 2];
        }
        parts[k]->n_features = 1;
    }
    TRY(kiln_linreg_fit(&train, 0.0, w));
    TRY(kiln_linreg_eval(&test, w, &mse_bmi, &r2_bmi));
    printf("diabetes, least squares, tested on the last 20 rows: all features MSE %.2f R^2 %.4f; "
           "bmi alone MSE %.2f R^2 %.4f\n",
           mse, r2, mse_bmi, r2_bmi);
    CHECK(fabs(mse - 2004.5) < 0.1 && fabs(r2 - 0.585) < 0.001, "MSE %.3f R^2 %.4f", mse, r2);
    CHECK(fabs(mse_bmi - 2548.07) < 0.01 && fabs(r2_bmi - 0.47) < 0.005, "MSE %.3f R^2 %.4f",
          mse_bmi, r2_bmi);
    for (int k = 0; k < 2; k++) {
        parts[k]->n_features = 10; /* so that fini frees every name */
    }
    kiln_table_fini(&train);
    kiln_table_fini(&test);
    kiln_table_fini(&t);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "fortunes") == 0) {
        return check_fortunes(argv[2], atoi(argv[3]));
    }
    if ((argc == 2 || argc == 3) && strcmp(argv[1], "moby") == 0) {
        return check_moby(argc == 3 ? argv[2] : NULL);
    }
    if ((argc == 2 || argc == 3) && strcmp(argv[1], "diabetes") == 0) {
        return check_diabetes(argc == 3 ? argv[2] : NULL);
    }
    fprintf(stderr, "usage: test_real_data fortunes DIR 5|4 | moby [FILE] | diabetes [FILE]\n");
    return 2;
}
