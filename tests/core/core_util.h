/*
 * core_util.h - small helpers shared by the core robustness tests: a CPU context, the
 * Check runner boilerplate, and an assertion that a call failed with a given status and
 * a message containing a given substring. Nothing here is part of the library.
 */
#ifndef KILN_TESTS_CORE_UTIL_H
#define KILN_TESTS_CORE_UTIL_H

#include <check.h>
#include <stdio.h>
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

/* The backend the tests run on: "cpu" unless the first command-line argument names
 * another (see core_parse_args). */
static const char *core_backend = "cpu";

/* A context on core_backend with default options and KILN_CHECK off. */
static inline kiln_context *core_context(void)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx = NULL;
    o.backend = core_backend;
    o.check = 0;
    EXPECT_OK(kiln_context_create(&o, &ctx));
    return ctx;
}

/* Takes the backend from argv[1] (default "cpu"). Returns 77 (meson's SKIP) with the
 * reason on stdout when it is not compiled in or has no device, else 0. */
static inline int core_parse_args(int argc, char **argv)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx = NULL;
    if (argc > 1) {
        core_backend = argv[1];
    }
    o.backend = core_backend;
    o.check = 0;
    kiln_status s = kiln_context_create(&o, &ctx);
    if (s != KILN_OK) {
        printf("SKIP: backend '%s': %s: %s\n", core_backend, kiln_status_name(s),
               kiln_last_error());
        return 77;
    }
    kiln_context_destroy(ctx);
    return 0;
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
