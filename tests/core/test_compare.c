/*
 * test_compare.c - the result comparison of KILN_CHECK and the op tests
 * (src/graph/compare.h): NaN/Inf must agree, a result with the reference's signal but
 * noise above the NMSE bound fails, an element outside both its bounds fails, and a
 * reference that is cancellation noise (a sum that is 0 in exact arithmetic) is held to
 * the absolute bound rather than to an NMSE relative to nothing.
 */
#include <check.h>
#include <math.h>

#include "../../src/graph/compare.h"
#include "core_util.h"

#define N 64

static const struct kiln__tol tol = {1e-7, 1e-4, 1e-3};

START_TEST(test_close_passes)
{
    float ref[N], got[N];
    struct kiln__cmp r;
    for (int i = 0; i < N; i++) {
        ref[i] = sinf((float)i) + 2.0f;
        got[i] = ref[i] * (1.0f + 1e-6f);
    }
    ck_assert(kiln__compare_f32(ref, got, N, &tol, &r));
    ck_assert_ptr_null(r.why);
}
END_TEST

START_TEST(test_noise_fails_nmse)
{
    float ref[N], got[N];
    struct kiln__cmp r;
    for (int i = 0; i < N; i++) {
        ref[i] = sinf((float)i);
        got[i] = ref[i] + (i % 2 ? 1e-3f : -1e-3f); /* NMSE about 2e-6 */
    }
    ck_assert(!kiln__compare_f32(ref, got, N, &tol, &r));
    ck_assert_str_eq(r.why, "nmse");
}
END_TEST

START_TEST(test_element_fails)
{
    float ref[N], got[N];
    struct kiln__cmp r;
    for (int i = 0; i < N; i++) {
        ref[i] = 100.0f + (float)i;
        got[i] = ref[i];
    }
    got[17] += 0.5f; /* NMSE 2e-7, but 0.5 > 1e-4 and > 1e-3 * 234 */
    const struct kiln__tol loose = {1e-5, 1e-4, 1e-3};
    ck_assert(!kiln__compare_f32(ref, got, N, &loose, &r));
    ck_assert_str_eq(r.why, "element");
    ck_assert_int_eq(r.worst, 17);
}
END_TEST

START_TEST(test_nonfinite)
{
    float ref[N] = {0}, got[N] = {0};
    struct kiln__cmp r;
    ref[3] = NAN;
    got[3] = NAN;
    ref[5] = INFINITY;
    got[5] = INFINITY;
    ck_assert(kiln__compare_f32(ref, got, N, &tol, &r));
    got[5] = -INFINITY;
    ck_assert(!kiln__compare_f32(ref, got, N, &tol, &r));
    ck_assert_str_eq(r.why, "nan/inf");
}
END_TEST

START_TEST(test_cancellation_noise)
{
    /* A bias gradient ahead of a layer norm: 0 in exact arithmetic, 1e-10 either way
     * in float; the reference has no signal for an NMSE to be relative to. */
    float ref[N], got[N];
    struct kiln__cmp r;
    for (int i = 0; i < N; i++) {
        ref[i] = (i % 3 - 1) * 1e-10f;
        got[i] = (i % 5 - 2) * 1e-10f;
    }
    ck_assert(kiln__compare_f32(ref, got, N, &tol, &r));
    /* ... but it is still held to the absolute bound */
    got[9] = 3e-4f;
    ck_assert(!kiln__compare_f32(ref, got, N, &tol, &r));
    ck_assert_int_eq(r.worst, 9);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("compare");
    TCase *tc = tcase_create("f32");
    tcase_add_test(tc, test_close_passes);
    tcase_add_test(tc, test_noise_fails_nmse);
    tcase_add_test(tc, test_element_fails);
    tcase_add_test(tc, test_nonfinite);
    tcase_add_test(tc, test_cancellation_noise);
    suite_add_tcase(s, tc);
    return core_run_suite(s);
}
