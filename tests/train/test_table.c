/*
 * test_table.c - kiln/table.h on small inline CSV files: quoting, CR LF, blank lines,
 * a named target in the middle, class names numbered in sorted order or by given
 * names, blank-separated files without a header, gzip; every malformed-row error with
 * its file, line and column; row splits and the conversion to a kiln_dataset;
 * standardization fitted on a training split, its exact JSON round trip and malformed
 * JSON; least squares recovering an exact linear law, ridge, collinear features, and
 * MSE and R^2.
 */
#include <math.h>
#include <stdint.h>
#include <zlib.h>

#include "train_util.h"

static struct kiln_csv_options csv_opts(const char *target, int classify)
{
    struct kiln_csv_options o = KILN_CSV_OPTIONS_INIT;
    o.target = target;
    o.classify = classify;
    return o;
}

START_TEST(test_csv_read)
{
    char p[512];
    /* The target "kind" sits between two features; a quoted class name holds the
     * separator and an escaped quote; CR LF; a blank line; blanks around numbers. */
    tu_write("a.csv",
             "\xEF\xBB\xBF"
             "a,kind,\"b\"\r\n"
             "1.5,cat, -2\r\n"
             "\r\n"
             "3,\"dog, \"\"big\"\"\",4e1\n"
             "  -0.25 ,cat,\"7\"\n",
             -1, p, sizeof(p));
    struct kiln_csv_options o = csv_opts("kind", 1);
    struct kiln_table t;
    EXPECT_OK(kiln_csv_read(p, &o, &t));
    ck_assert_int_eq(t.n, 3);
    ck_assert_int_eq(t.n_features, 2);
    ck_assert_str_eq(t.names[0], "a");
    ck_assert_str_eq(t.names[1], "b");
    ck_assert_str_eq(t.target_name, "kind");
    ck_assert_ptr_null(t.y);
    ck_assert_int_eq(t.n_classes, 2);
    ck_assert_str_eq(t.class_names[0], "cat");
    ck_assert_str_eq(t.class_names[1], "dog, \"big\"");
    int32_t want_labels[] = {0, 1, 0};
    ck_assert_mem_eq(t.labels, want_labels, sizeof(want_labels));
    float want_x[] = {1.5f, -2.0f, 3.0f, 40.0f, -0.25f, 7.0f};
    ck_assert_mem_eq(t.x, want_x, sizeof(want_x));

    struct kiln_dataset ds = {0};
    EXPECT_OK(kiln_table_to_dataset(&t, &ds));
    ck_assert_int_eq(ds.n, 3);
    ck_assert_int_eq(ds.dim, 2);
    ck_assert_int_eq(ds.n_classes, 2);
    ck_assert_mem_eq(ds.x, want_x, sizeof(want_x));
    ck_assert_mem_eq(ds.y, want_labels, sizeof(want_labels));
    kiln_dataset_fini(&ds);
    kiln_table_fini(&t);
    kiln_table_fini(&t);

    /* Given class names (a test file): ids follow them, an unknown one is an error. */
    const char *classes[] = {"dog, \"big\"", "cat", "eel"};
    o.classes = classes;
    o.n_classes = 3;
    EXPECT_OK(kiln_csv_read(p, &o, &t));
    int32_t want_given[] = {1, 0, 1};
    ck_assert_mem_eq(t.labels, want_given, sizeof(want_given));
    ck_assert_int_eq(t.n_classes, 3);
    ck_assert_str_eq(t.class_names[2], "eel");
    kiln_table_fini(&t);
    o.n_classes = 2;
    classes[1] = "eel";
    EXPECT_FAIL(kiln_csv_read(p, &o, &t), KILN_E_FORMAT,
                "a.csv': line 2, column 2 ('kind'): class 'cat' is not one of the 2 given");

    /* Regression on the last column; no header: columns c1, c2, c3. */
    tu_write("b.csv", "1,2,3\n4,5,6\n", -1, p, sizeof(p));
    o = csv_opts(NULL, 0);
    o.header = 0;
    EXPECT_OK(kiln_csv_read(p, &o, &t));
    ck_assert_int_eq(t.n, 2);
    ck_assert_str_eq(t.names[1], "c2");
    ck_assert_str_eq(t.target_name, "c3");
    ck_assert_float_eq(t.y[1], 6.0f);
    ck_assert_ptr_null(t.labels);
    EXPECT_FAIL(kiln_table_to_dataset(&t, &ds), KILN_E_INVALID_ARG, "classification");
    kiln_table_fini(&t);

    /* Blank-separated, as scikit-learn's diabetes_data_raw.csv; gzip-compressed. */
    snprintf(p, sizeof(p), "%s/c.csv.gz", tu_dir);
    gzFile gz = gzopen(p, "wb");
    ck_assert_ptr_nonnull(gz);
    gzputs(gz, "59 2 32.1 101.0\n  48\t1  21.6 87.0  \n\n");
    gzclose(gz);
    o.separator = KILN_CSV_BLANKS;
    EXPECT_OK(kiln_csv_read(p, &o, &t));
    ck_assert_int_eq(t.n, 2);
    ck_assert_int_eq(t.n_features, 3);
    ck_assert_float_eq(t.x[3], 48.0f);
    ck_assert_float_eq(t.x[5], 21.6f);
    ck_assert_float_eq(t.y[1], 87.0f);
    kiln_table_fini(&t);
}
END_TEST

/* Writes data to bad.csv and expects kiln_csv_read with o to fail naming what. */
static void expect_csv_fail(const char *data, const struct kiln_csv_options *o, const char *what)
{
    char p[512];
    tu_write("bad.csv", data, -1, p, sizeof(p));
    struct kiln_table t;
    EXPECT_FAIL(kiln_csv_read(p, o, &t), KILN_E_FORMAT, what);
    ck_assert_msg(strstr(kiln_last_error(), "bad.csv") != NULL, "%s", kiln_last_error());
    ck_assert_ptr_null(t.x);
    ck_assert_int_eq(t.n, 0);
}

START_TEST(test_csv_errors)
{
    struct kiln_csv_options o = csv_opts("y", 0);
    expect_csv_fail("a,b,y\n1,2,3\n4,5\n", &o, "line 3: 2 fields, but the header has 3");
    expect_csv_fail("a,b,y\n1,2,3\n\n4,5,6,7\n", &o, "line 4: 4 fields");
    expect_csv_fail("a,b,y\n1,x2,3\n", &o, "line 2, column 2 ('b'): not a number: 'x2'");
    expect_csv_fail("a,b,y\n1,2,3\n1,,3\n", &o, "line 3, column 2 ('b'): empty field");
    expect_csv_fail("a,b,y\n1,2,nan\n", &o, "line 2, column 3 ('y'): not a finite number");
    expect_csv_fail("a,b,y\n1,2,inf\n", &o, "not a finite number");
    expect_csv_fail("a,b,y\n1e39,2,3\n", &o,
                    "line 2, column 1 ('a'): not a finite number in "
                    "the range of a float");
    expect_csv_fail("a,b,y\n1,2 3,3\n", &o, "not a number: '2 3'");
    expect_csv_fail("a,b,y\n1,2,3\n\"4,5,6\n7,8,9\n", &o,
                    "line 3, column 1: the quote opened there is never closed");
    expect_csv_fail("a,b,y\n1,2\"x\",3\n", &o, "line 2, column 2: a quote inside an unquoted");
    expect_csv_fail("a,b,y\n1,\"2\"x,3\n", &o, "line 2, column 2: 'x' after the closing quote");
    expect_csv_fail("a,b,y\n1,2,3\n1,2,\xE9t\xE9\n", &o,
                    "line 3, byte column 5: invalid UTF-8 (byte 0xE9)");
    expect_csv_fail("a,b,c\n1,2,3\n", &o,
                    "no column is named 'y' (the target); the first is "
                    "'a', the last 'c'");
    expect_csv_fail("a,b,a\n1,2,3\n", &o, "line 1: columns 1 and 3 are both named 'a'");
    expect_csv_fail("", &o, "the file is empty");
    expect_csv_fail("\n\n", &o, "the file is empty");
    expect_csv_fail("a,b,y\n", &o, "no data rows after the header");
    expect_csv_fail("y\n1\n", &o, "line 1: 1 column");
    o = csv_opts("y", 1);
    expect_csv_fail("a,y\n1,dog\n2, \n", &o, "line 3, column 2 ('y'): empty class name");

    char p[512];
    struct kiln_table t;
    snprintf(p, sizeof(p), "%s/missing.csv", tu_dir);
    EXPECT_FAIL(kiln_csv_read(p, NULL, &t), KILN_E_IO, "missing.csv");
    ck_assert_int_eq(mkfifo(p, 0600), 0); /* must not block */
    EXPECT_FAIL(kiln_csv_read(p, NULL, &t), KILN_E_IO, "missing.csv': is a FIFO");
    o.separator = '|';
    EXPECT_FAIL(kiln_csv_read(p, &o, &t), KILN_E_INVALID_ARG, "separator");
}
END_TEST

START_TEST(test_standardize)
{
    char p[512];
    /* a: 1..6, b constant, y = 2a + 1. The last two rows are the test split. */
    tu_write("s.csv", "a,b,y\n1,5,3\n2,5,5\n3,5,7\n4,5,9\n5,5,11\n6,5,13\n", -1, p, sizeof(p));
    struct kiln_table t, tr, te;
    EXPECT_OK(kiln_csv_read(p, NULL, &t));
    EXPECT_OK(kiln_table_split(&t, 4, &tr, &te));
    ck_assert_int_eq(tr.n, 4);
    ck_assert_int_eq(te.n, 2);
    ck_assert_float_eq(te.x[0], 5.0f);
    ck_assert_float_eq(te.y[1], 13.0f);
    ck_assert_str_eq(te.names[1], "b");
    EXPECT_FAIL(kiln_table_split(&t, 7, &tr, &te), KILN_E_INVALID_ARG, "n_first 7");

    struct kiln_standardizer s, back;
    EXPECT_OK(kiln_standardizer_fit(&tr, &s));
    ck_assert_double_eq_tol(s.mean[0], 2.5, 1e-12);
    ck_assert_double_eq_tol(s.std[0], sqrt(1.25), 1e-12);
    ck_assert_double_eq(s.std[1], 1.0); /* constant column */
    EXPECT_OK(kiln_standardizer_apply(&s, &tr));
    EXPECT_OK(kiln_standardizer_apply(&s, &te));
    double sum = 0.0, sq = 0.0;
    for (int i = 0; i < 4; i++) {
        sum += tr.x[i * 2];
        sq += tr.x[i * 2] * tr.x[i * 2];
        ck_assert_float_eq(tr.x[i * 2 + 1], 0.0f);
    }
    ck_assert_double_eq_tol(sum, 0.0, 1e-6);
    ck_assert_double_eq_tol(sq / 4.0, 1.0, 1e-6);
    ck_assert_double_eq_tol(te.x[0], (5.0 - 2.5) / sqrt(1.25), 1e-6); /* training statistics */

    size_t n;
    EXPECT_OK(kiln_standardizer_save(&s, NULL, 0, &n));
    char *json = malloc(n + 1);
    EXPECT_OK(kiln_standardizer_save(&s, json, n + 1, &n));
    EXPECT_OK(kiln_standardizer_load(json, &back));
    ck_assert_int_eq(back.n_features, 2);
    ck_assert_mem_eq(back.mean, s.mean, 2 * sizeof(double)); /* exact */
    ck_assert_mem_eq(back.std, s.std, 2 * sizeof(double));
    ck_assert_str_eq(back.names[0], "a");
    free(json);
    kiln_standardizer_fini(&back);
    EXPECT_FAIL(kiln_standardizer_load("[1", &back), KILN_E_FORMAT, "not JSON");
    EXPECT_FAIL(kiln_standardizer_load("{\"format\":\"kiln-standardizer\",\"version\":1,"
                                       "\"mean\":[1],\"std\":[0],\"names\":[\"a\"]}",
                                       &back),
                KILN_E_FORMAT, "std[0] = 0 is not positive");
    EXPECT_FAIL(kiln_standardizer_load("{\"format\":\"kiln-standardizer\",\"version\":1,"
                                       "\"mean\":[1,2],\"std\":[1],\"names\":[\"a\",\"b\"]}",
                                       &back),
                KILN_E_FORMAT, "\"std\" is not an array of 2");
    EXPECT_FAIL(kiln_standardizer_load("{\"format\":\"kiln-standardizer\",\"version\":1,"
                                       "\"mean\":[1],\"std\":[1],\"names\":[3]}",
                                       &back),
                KILN_E_FORMAT, "names[0] is not a string");
    ck_assert_ptr_null(back.mean);

    /* Another table's columns do not fit. */
    free(te.names[1]);
    te.names[1] = strdup("c");
    EXPECT_FAIL(kiln_standardizer_apply(&s, &te), KILN_E_SHAPE, "feature 2 is 'c', fitted on 'b'");
    kiln_standardizer_fini(&s);
    kiln_table_fini(&t);
    kiln_table_fini(&tr);
    kiln_table_fini(&te);
}
END_TEST

START_TEST(test_linreg)
{
    char p[512];
    /* y = 2 a - 3 b + 5 exactly, plus a column c = a + b (collinear). */
    char data[4096] = "a,b,c,y\n";
    for (int i = 0; i < 30; i++) {
        double a = (i * 7) % 11 - 5.0, b = (i * 5) % 13 * 0.5;
        char row[128];
        snprintf(row, sizeof(row), "%g,%g,%g,%g\n", a, b, a + b, 2 * a - 3 * b + 5);
        strcat(data, row);
    }
    tu_write("l.csv", data, -1, p, sizeof(p));
    struct kiln_table t, ab, c;
    EXPECT_OK(kiln_csv_read(p, NULL, &t));
    double w[4], mse, r2;
    EXPECT_FAIL(kiln_linreg_fit(&t, 0.0, w), KILN_E_INVALID_ARG, "collinear");
    /* With a ridge the collinear system is solvable and still nearly exact. */
    EXPECT_OK(kiln_linreg_fit(&t, 1e-6, w));
    EXPECT_OK(kiln_linreg_eval(&t, w, &mse, &r2));
    ck_assert_double_lt(mse, 1e-6);
    ck_assert_double_gt(r2, 0.999999);

    /* Drop c: the exact law comes back. */
    t.n_features = 2;
    for (int64_t i = 0; i < t.n; i++) {
        memmove(t.x + i * 2, t.x + i * 3, 2 * sizeof(float));
    }
    EXPECT_OK(kiln_table_split(&t, 20, &ab, &c));
    EXPECT_OK(kiln_linreg_fit(&ab, 0.0, w));
    ck_assert_double_eq_tol(w[0], 2.0, 1e-9);
    ck_assert_double_eq_tol(w[1], -3.0, 1e-9);
    ck_assert_double_eq_tol(w[2], 5.0, 1e-9);
    EXPECT_OK(kiln_linreg_eval(&c, w, &mse, &r2));
    ck_assert_double_lt(mse, 1e-12);
    ck_assert_double_eq_tol(r2, 1.0, 1e-12);
    /* A constant predictor at the mean has R^2 0; MSE is then the variance. */
    double w0[3] = {0.0, 0.0, 0.0};
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < c.n; i++) {
        mean += c.y[i] / (double)c.n;
    }
    for (int64_t i = 0; i < c.n; i++) {
        var += (c.y[i] - mean) * (c.y[i] - mean) / (double)c.n;
    }
    w0[2] = mean;
    EXPECT_OK(kiln_linreg_eval(&c, w0, &mse, &r2));
    ck_assert_double_eq_tol(r2, 0.0, 1e-12);
    ck_assert_double_eq_tol(mse, var, 1e-9);
    t.n_features = 3;
    kiln_table_fini(&t);
    kiln_table_fini(&ab);
    kiln_table_fini(&c);
    EXPECT_FAIL(kiln_linreg_fit(&ab, 0.0, w), KILN_E_INVALID_ARG, "regression table");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train-table");
    TCase *tc = tcase_create("csv");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_add_test(tc, test_csv_read);
    tcase_add_test(tc, test_csv_errors);
    tcase_add_test(tc, test_standardize);
    tcase_add_test(tc, test_linreg);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
