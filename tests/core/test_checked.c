/*
 * test_checked.c - the checked arithmetic of src/checked.h against 128-bit arithmetic on
 * the edges of size_t and int64_t (every pair of a list of boundary values, both signs),
 * the dims product with its range and zero rules, and kiln__parse_i64. Built twice by
 * tests/core/meson.build: with the compiler's overflow builtins and with the portable
 * fallback (KILN__NO_OVERFLOW_BUILTINS).
 */
#include <check.h>
#include <stdint.h>

#include "checked.h"
#include "core_util.h"

/* The reference: 128-bit arithmetic (a GCC and clang extension). */
__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

static const int64_t edges[] = {0,
                                1,
                                2,
                                3,
                                7,
                                1000,
                                INT64_C(1) << 30,
                                (INT64_C(1) << 31) - 1,
                                INT64_C(1) << 31,
                                INT64_C(1) << 32,
                                3037000499,
                                3037000500,
                                (INT64_C(1) << 62) - 1,
                                INT64_C(1) << 62,
                                INT64_MAX / 2,
                                INT64_MAX / 3,
                                INT64_MAX - 1,
                                INT64_MAX};
#define N_EDGES (sizeof(edges) / sizeof(edges[0]))

START_TEST(test_i64)
{
    int n = 0;
    for (size_t i = 0; i < N_EDGES; i++) {
        for (size_t j = 0; j < N_EDGES; j++) {
            for (int sign = 0; sign < 4; sign++) {
                int64_t a = (sign & 1) ? -edges[i] : edges[i];
                int64_t b = (sign & 2) ? -edges[j] : edges[j];
                i128 p = (i128)a * b, s = (i128)a + b;
                int64_t r = 42;
                bool fits = p >= INT64_MIN && p <= INT64_MAX;
                ck_assert_msg(kiln__i64_mul(a, b, &r) == fits, "%lld * %lld", (long long)a,
                              (long long)b);
                ck_assert(fits ? r == (int64_t)p : r == 42);
                r = 42;
                fits = s >= INT64_MIN && s <= INT64_MAX;
                ck_assert_msg(kiln__i64_add(a, b, &r) == fits, "%lld + %lld", (long long)a,
                              (long long)b);
                ck_assert(fits ? r == (int64_t)s : r == 42);
                n++;
            }
        }
    }
    /* INT64_MIN, which the negated edges do not reach. */
    int64_t r = 0;
    ck_assert(!kiln__i64_mul(INT64_MIN, -1, &r));
    ck_assert(!kiln__i64_mul(-1, INT64_MIN, &r));
    ck_assert(kiln__i64_mul(INT64_MIN, 1, &r) && r == INT64_MIN);
    ck_assert(!kiln__i64_mul(INT64_MIN, 2, &r));
    ck_assert(!kiln__i64_add(INT64_MIN, -1, &r));
    ck_assert(kiln__i64_add(INT64_MIN, INT64_MAX, &r) && r == -1);
    ck_assert_int_gt(n, 1000);
}
END_TEST

START_TEST(test_size)
{
    for (size_t i = 0; i < N_EDGES; i++) {
        for (size_t j = 0; j < N_EDGES; j++) {
            for (int big = 0; big < 2; big++) {
                /* the edges, and the edges counted down from SIZE_MAX */
                size_t a = big ? SIZE_MAX - (size_t)edges[i] : (size_t)edges[i];
                size_t b = (size_t)edges[j];
                u128 p = (u128)a * b, s = (u128)a + b;
                size_t r = 42;
                ck_assert(kiln__size_mul(a, b, &r) == (p <= SIZE_MAX));
                ck_assert(p <= SIZE_MAX ? r == (size_t)p : r == 42);
                r = 42;
                ck_assert(kiln__size_add(a, b, &r) == (s <= SIZE_MAX));
                ck_assert(s <= SIZE_MAX ? r == (size_t)s : r == 42);
            }
        }
    }
}
END_TEST

START_TEST(test_product)
{
    int64_t p = -1;
    int bad = -1;
    ck_assert(kiln__i64_product(NULL, 0, 10, &p, &bad) && p == 1); /* a scalar */
    const int64_t ok[] = {3, 5, 7};
    ck_assert(kiln__i64_product(ok, 3, 105, &p, &bad) && p == 105);
    ck_assert(!kiln__i64_product(ok, 3, 104, &p, &bad) && bad == 3);
    const int64_t neg[] = {3, -5, 7};
    ck_assert(!kiln__i64_product(neg, 3, INT64_MAX, &p, &bad) && bad == 1);
    /* Wraps int64_t on the way, but a later zero makes it 0. */
    const int64_t zero[] = {INT64_C(1) << 40, INT64_C(1) << 40, 0};
    ck_assert(kiln__i64_product(zero, 3, INT64_C(1) << 41, &p, &bad) && p == 0);
    /* A zero does not excuse a count above the limit. */
    const int64_t zero_big[] = {0, INT64_C(1) << 42};
    ck_assert(!kiln__i64_product(zero_big, 2, INT64_C(1) << 41, &p, &bad) && bad == 1);
    const int64_t wrap[] = {INT64_C(1) << 32, INT64_C(1) << 32, 4};
    p = 9;
    ck_assert(!kiln__i64_product(wrap, 3, INT64_MAX, &p, &bad) && bad == 3 && p == 9);
}
END_TEST

START_TEST(test_parse)
{
    int64_t x = 5;
    ck_assert(kiln__parse_i64("42", 0, 100, &x) && x == 42);
    ck_assert(kiln__parse_i64("-7", -10, 10, &x) && x == -7);
    ck_assert(kiln__parse_i64("9223372036854775807", 0, INT64_MAX, &x) && x == INT64_MAX);
    x = 5;
    ck_assert(!kiln__parse_i64("9223372036854775808", 0, INT64_MAX, &x));
    ck_assert(!kiln__parse_i64("101", 0, 100, &x));
    ck_assert(!kiln__parse_i64("", 0, 100, &x));
    ck_assert(!kiln__parse_i64(NULL, 0, 100, &x));
    ck_assert(!kiln__parse_i64(" 4", 0, 100, &x));
    ck_assert(!kiln__parse_i64("4 ", 0, 100, &x));
    ck_assert(!kiln__parse_i64("4x", 0, 100, &x));
    ck_assert(!kiln__parse_i64("1e3", 0, 10000, &x));
    ck_assert_int_eq(x, 5);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checked");
    TCase *tc = tcase_create("arithmetic");
    tcase_add_test(tc, test_i64);
    tcase_add_test(tc, test_size);
    tcase_add_test(tc, test_product);
    tcase_add_test(tc, test_parse);
    suite_add_tcase(s, tc);
    return core_run_suite(s);
}
