/*
 * train_util.h - helpers shared by the data tests of tests/train: status assertions that
 * also check the error message, a scratch directory per test, and writing small files
 * into it. Nothing here is part of the library.
 */
#ifndef KILN_TESTS_TRAIN_UTIL_H
#define KILN_TESTS_TRAIN_UTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln.h"

/* Asserts that expr returns status st and that kiln_last_error() contains sub. */
#define EXPECT_FAIL(expr, st, sub)                                                                 \
    do {                                                                                           \
        kiln_clear_error();                                                                        \
        kiln_status got_ = (expr);                                                                 \
        ck_assert_msg(got_ == (st), "%s returned %s (%s), expected %s", #expr,                     \
                      kiln_status_name(got_), kiln_last_error(), kiln_status_name(st));            \
        ck_assert_msg(strstr(kiln_last_error(), (sub)) != NULL,                                    \
                      "%s: message '%s' does not contain '%s'", #expr, kiln_last_error(), (sub));  \
    } while (0)

/* Asserts that expr returns KILN_OK, printing the last error otherwise. */
#define EXPECT_OK(expr)                                                                            \
    do {                                                                                           \
        kiln_status got_ = (expr);                                                                 \
        ck_assert_msg(got_ == KILN_OK, "%s returned %s: %s", #expr, kiln_status_name(got_),        \
                      kiln_last_error());                                                          \
    } while (0)

/* The scratch directory of the running test (made by tu_setup, removed by tu_teardown). */
static char tu_dir[256];

static inline void tu_setup(void)
{
    snprintf(tu_dir, sizeof(tu_dir), "/tmp/kiln_test_train_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tu_dir));
}

static inline void tu_teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tu_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes n bytes of data (n < 0: strlen) to tu_dir/name; out receives the path. */
static inline void tu_write(const char *name, const char *data, long n, char *out, size_t cap)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tu_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    size_t len = n < 0 ? strlen(data) : (size_t)n;
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    if (out != NULL) {
        snprintf(out, cap, "%s", path);
    }
}

/* Runs suite s and returns the process status: 0 when every test passed. */
static inline int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}

#endif /* KILN_TESTS_TRAIN_UTIL_H */
