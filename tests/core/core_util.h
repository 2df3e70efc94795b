/*
 * core_util.h - small helpers shared by the core robustness tests: a CPU context, the
 * Check runner boilerplate, and an assertion that a call failed with a given status and
 * a message containing a given substring. Nothing here is part of the library.
 */
#ifndef KILN_TESTS_CORE_UTIL_H
#define KILN_TESTS_CORE_UTIL_H

#include <check.h>
#include <string.h>

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
        ck_assert_int_eq(kiln_last_status(), (st));                                                \
    } while (0)

/* Asserts that expr returns KILN_OK, printing the last error otherwise. */
#define EXPECT_OK(expr)                                                                            \
    do {                                                                                           \
        kiln_status got_ = (expr);                                                                 \
        ck_assert_msg(got_ == KILN_OK, "%s returned %s: %s", #expr, kiln_status_name(got_),        \
                      kiln_last_error());                                                          \
    } while (0)

/* A context on the CPU backend with default options. */
static inline kiln_context *core_cpu_context(void)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx = NULL;
    o.backend = "cpu";
    o.check = 0;
    EXPECT_OK(kiln_context_create(&o, &ctx));
    return ctx;
}

/* Runs suite s and returns the process exit status (0 when every test passed). */
static inline int core_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed == 0 ? 0 : 1;
}

#endif /* KILN_TESTS_CORE_UTIL_H */
