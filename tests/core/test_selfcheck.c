/*
 * test_selfcheck.c - kiln_selfcheck, the op matrix of `kiln doctor`: on the given
 * backend every case passes against the CPU reference (or is unsupported where the
 * backend lacks a kernel) and every op of the table that computes something runs in a
 * passing case; a kernel made wrong with the fault hook fails its cases, naming the op,
 * the tensor and both values; only_op selects one op's cases and an unknown name is
 * refused. `test_selfcheck [cpu|opencl|vulkan]`; 77 (skip) without the device.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_impl.h"
#include "kiln.h"
#include "ops/op_desc.h"

static const char *backend = "cpu";
static kiln_context *ctx;

struct seen {
    int n, failed;
    char first_fail[1024];
    char ops[4096];
};

static void collect(void *ud, const struct kiln_selfcheck_case *c)
{
    struct seen *s = ud;
    s->n++;
    if (c->result == KILN_SELFCHECK_FAIL) {
        if (s->failed++ == 0) {
            snprintf(s->first_fail, sizeof(s->first_fail), "%s [%s] (%s): %s", c->op, c->note,
                     c->shapes, c->message);
        }
    }
    if (c->result == KILN_SELFCHECK_UNSUPPORTED) {
        printf("unsupported: %s [%s]: %s\n", c->op, c->note, c->message);
    }
    if (strstr(s->ops, c->op) == NULL && strlen(s->ops) + strlen(c->op) + 2 < sizeof(s->ops)) {
        strcat(s->ops, c->op);
        strcat(s->ops, " ");
    }
}

START_TEST(test_all_pass)
{
    struct kiln_selfcheck_summary sum;
    struct seen s;
    memset(&s, 0, sizeof(s));
    ck_assert_msg(kiln_selfcheck(ctx, NULL, collect, &s, &sum) == KILN_OK, "%s", kiln_last_error());
    printf("%s: %d cases, %d passed, %d failed, %d unsupported; %d of %d ops checked; %.2f s\n",
           backend, sum.n_cases, sum.n_passed, sum.n_failed, sum.n_unsupported, sum.n_ops_checked,
           sum.n_ops, sum.seconds);
    ck_assert_msg(sum.n_failed == 0, "%d failed, first: %s", sum.n_failed, s.first_fail);
    ck_assert_int_eq(s.n, sum.n_cases);
    ck_assert_int_eq(sum.n_cases, sum.n_passed + sum.n_failed + sum.n_unsupported);
    ck_assert_int_ge(sum.n_cases, 50);
    if (sum.n_unsupported == 0) {
        ck_assert_int_eq(sum.n_ops_checked, sum.n_ops);
    }
}
END_TEST

START_TEST(test_fault_named)
{
    struct kiln_selfcheck_summary sum;
    struct seen s;
    memset(&s, 0, sizeof(s));
    kiln__context_set_fault(ctx, KILN_OP_CONV2D);
    ck_assert_int_eq(kiln_selfcheck(ctx, "conv2d", collect, &s, &sum), KILN_OK);
    kiln__context_set_fault(ctx, -1);
    ck_assert_int_eq(sum.n_cases, 3);
    ck_assert_int_eq(sum.n_failed, 3);
    ck_assert_ptr_nonnull(strstr(s.first_fail, "conv2d"));
    ck_assert_ptr_nonnull(strstr(s.first_fail, "output"));
    ck_assert_ptr_nonnull(strstr(s.first_fail, "worst index"));
    ck_assert_str_eq(s.ops, "conv2d ");
    /* without the fault the same cases pass */
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(kiln_selfcheck(ctx, "conv2d", collect, &s, &sum), KILN_OK);
    ck_assert_int_eq(sum.n_failed, 0);
    ck_assert_int_eq(kiln_selfcheck(ctx, "no_such_op", NULL, NULL, NULL), KILN_E_INVALID_ARG);
    ck_assert_int_eq(kiln_selfcheck(NULL, NULL, NULL, NULL, NULL), KILN_E_INVALID_ARG);
}
END_TEST

int main(int argc, char **argv)
{
    struct kiln_context_options co = KILN_CONTEXT_OPTIONS_INIT;
    backend = argc > 1 ? argv[1] : "cpu";
    co.backend = backend;
    if (kiln_context_create(&co, &ctx) != KILN_OK) {
        printf("no %s device: %s\n", backend, kiln_last_error());
        return 77;
    }
    Suite *su = suite_create("selfcheck");
    TCase *tc = tcase_create(backend);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_all_pass);
    tcase_add_test(tc, test_fault_named);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    kiln_context_destroy(ctx);
    return nf == 0 ? 0 : 1;
}
