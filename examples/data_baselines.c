/*
 * data_baselines.c - the data sets of kiln's sequence, tree and regression tasks and the
 * baselines a model must beat, through the public API only:
 *
 *   data_baselines trees [N_TRAIN N_TEST [SEED]]  random boolean-expression trees (depth
 *       3..6; default 8000 + 2000, seed 1): a few examples, sizes, balance, and the
 *       bag-of-symbols logistic regression's accuracy;
 *   data_baselines diabetes FILE   the CSV of tools/data/get_diabetes.sh: least squares on
 *       the last-20 split, with all features and with bmi alone (MSE and R^2);
 *   data_baselines text DIR        a label<TAB>text directory (fortunes-zh-5 is built by
 *       tools/data/make_fortunes_zh.py): classes, counts, the character vocabulary;
 *   data_baselines lm FILE         a UTF-8 text for a character language model (Moby Dick
 *       from tools/data/get_moby_dick.sh): characters, the held-out split, vocabulary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

static int fail(const char *what)
{
    fprintf(stderr, "data_baselines: %s: %s\n", what, kiln_last_error());
    return 1;
}

static int trees(int64_t n_train, int64_t n_test, uint64_t seed)
{
    struct kiln_tree_options o = KILN_TREE_OPTIONS_INIT;
    struct kiln_tree_set s;
    o.n_trees = n_train + n_test;
    o.seed = seed;
    if (kiln_tree_generate(&o, &s) != KILN_OK) {
        return fail("kiln_tree_generate");
    }
    char buf[1024];
    size_t n;
    for (int64_t t = 0; t < 3; t++) {
        kiln_tree_format(&s, t, buf, sizeof(buf), &n);
        printf("tree %lld (value %d, height %d): %s\n", (long long)t, s.label[t],
               s.level[s.first[t + 1] - 1], n < sizeof(buf) ? buf : "(long)");
    }
    int64_t ones = 0;
    for (int64_t t = 0; t < s.n_trees; t++) {
        ones += s.label[t];
    }
    printf("%lld trees (depth %d..%d), %.1f nodes per tree, %lld true\n", (long long)s.n_trees,
           o.min_depth, o.max_depth, (double)s.n_nodes / (double)s.n_trees, (long long)ones);
    double tr, te;
    if (kiln_tree_bag_baseline(&s, n_train, &tr, &te) != KILN_OK) {
        return fail("kiln_tree_bag_baseline");
    }
    printf("bag-of-symbols logistic regression: train accuracy %.4f, test accuracy %.4f "
           "(%lld / %lld trees)\n",
           tr, te, (long long)n_train, (long long)n_test);
    kiln_tree_set_fini(&s);
    return 0;
}

static int diabetes(const char *path)
{
    struct kiln_csv_options o = KILN_CSV_OPTIONS_INIT;
    struct kiln_table t, train, test;
    o.target = "target";
    if (kiln_csv_read(path, &o, &t) != KILN_OK ||
        kiln_table_split(&t, t.n - 20, &train, &test) != KILN_OK) {
        return fail(path);
    }
    double w[64], mse, r2;
    if (t.n_features > 63 || kiln_linreg_fit(&train, 0.0, w) != KILN_OK ||
        kiln_linreg_eval(&test, w, &mse, &r2) != KILN_OK) {
        return fail("least squares");
    }
    printf("%s: %lld rows, %lld features, target '%s'\n", path, (long long)t.n,
           (long long)t.n_features, t.target_name);
    printf("least squares on the first %lld rows, tested on the last 20: MSE %.2f, R^2 %.4f\n",
           (long long)train.n, mse, r2);
    /* Standardized with the training statistics, the fit predicts the same. */
    struct kiln_standardizer st;
    if (kiln_standardizer_fit(&train, &st) != KILN_OK ||
        kiln_standardizer_apply(&st, &train) != KILN_OK ||
        kiln_standardizer_apply(&st, &test) != KILN_OK || kiln_linreg_fit(&train, 0.0, w) ||
        kiln_linreg_eval(&test, w, &mse, &r2)) {
        return fail("standardized least squares");
    }
    printf("  the same on standardized features: MSE %.2f, R^2 %.4f; weights", mse, r2);
    for (int64_t j = 0; j < t.n_features; j++) {
        printf(" %s %.2f", t.names[j], w[j]);
    }
    printf("\n");
    kiln_standardizer_fini(&st);
    kiln_table_fini(&train);
    kiln_table_fini(&test);
    kiln_table_fini(&t);
    return 0;
}

static int text(const char *dir)
{
    struct kiln_text_data td;
    if (kiln_text_data_load(dir, &td) != KILN_OK) {
        return fail(dir);
    }
    printf("%s: %lld train, %lld valid, %lld test; %d classes:", dir, (long long)td.train.n,
           (long long)td.valid.n, (long long)td.test.n, td.n_classes);
    for (int32_t k = 0; k < td.n_classes; k++) {
        int64_t n = 0;
        for (int64_t i = 0; i < td.train.n; i++) {
            n += td.train.labels[i] == k;
        }
        printf(" %d %s (%lld)", k, td.label_names[k], (long long)n);
    }
    printf("\n");
    struct kiln_vocab_options vo = KILN_VOCAB_OPTIONS_INIT;
    vo.bigrams = 1;
    kiln_vocab *v;
    if (kiln_vocab_build((const char *const *)td.train.texts, NULL, td.train.n, &vo, &v) !=
            KILN_OK ||
        kiln_vocab_set_labels(v, (const char *const *)td.label_names, td.n_classes) != KILN_OK) {
        return fail("kiln_vocab_build");
    }
    size_t n_json;
    kiln_vocab_save(v, NULL, 0, &n_json);
    printf("vocabulary of the training split: %d characters, %d bigrams seen twice or more, "
           "%d ids; %zu bytes of JSON\n",
           kiln_vocab_n_chars(v) - 2, kiln_vocab_n_bigrams(v), kiln_vocab_size(v), n_json);
    kiln_vocab_destroy(v);
    kiln_text_data_fini(&td);
    return 0;
}

static int lm(const char *path)
{
    struct kiln_lm_text t;
    if (kiln_lm_text_load(path, NULL, &t) != KILN_OK) {
        return fail(path);
    }
    printf("%s: %lld characters, %lld for training, %lld held out; %d ids (padding, unknown "
           "and %d characters); the most frequent:",
           path, (long long)t.n, (long long)t.n_train, (long long)(t.n - t.n_train),
           kiln_vocab_size(t.vocab), kiln_vocab_n_chars(t.vocab) - 2);
    for (int32_t id = 2; id < 12 && id < kiln_vocab_n_chars(t.vocab); id++) {
        printf(" U+%04X", kiln_vocab_char(t.vocab, id));
    }
    printf("\nstreams of batch 64, T 128: %lld chunks per epoch\n",
           (long long)kiln_lm_stream_n_chunks(t.n_train, 64, 128));
    kiln_lm_text_fini(&t);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: data_baselines trees [N_TRAIN N_TEST [SEED]] | diabetes FILE | text DIR | "
               "lm FILE\n\n"
               "Prints the baselines of kiln's data sets: the bag-of-symbols logistic regression\n"
               "on generated boolean-expression trees, least squares on diabetes.csv, naive Bayes\n"
               "on a label<TAB>text data set, and character n-gram statistics of a text.\n");
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "trees") == 0 && (argc == 2 || argc == 4 || argc == 5)) {
        int64_t n_train = argc >= 4 ? atoll(argv[2]) : 8000,
                n_test = argc >= 4 ? atoll(argv[3]) : 2000;
        return trees(n_train, n_test, argc == 5 ? strtoull(argv[4], NULL, 10) : 1);
    }
    if (argc == 3 && strcmp(argv[1], "diabetes") == 0) {
        return diabetes(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "text") == 0) {
        return text(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "lm") == 0) {
        return lm(argv[2]);
    }
    fprintf(stderr, "usage: data_baselines trees [N_TRAIN N_TEST [SEED]] | diabetes FILE | "
                    "text DIR | lm FILE\n");
    return 2;
}
