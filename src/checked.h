/*
 * checked.h - overflow-checked arithmetic for sizes and counts that come from outside
 * kiln: file headers (IDX dimensions, safetensors shapes and offsets) and command-line
 * numbers. Each helper returns false instead of wrapping (size_t) or overflowing
 * (int64_t, undefined behaviour) and then leaves *out unchanged, so a caller checks the
 * result before it reaches malloc, a loop bound or a pointer. Header-only (static
 * inline), so the kiln program can use it without linking internal symbols. Limits on
 * what each reader accepts are documented with the reader; this file only refuses what
 * does not fit the type.
 */
#ifndef KILN_CHECKED_H
#define KILN_CHECKED_H

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* The compilers' overflow builtins where they exist (GCC, clang); the portable tests
 * otherwise. tests/core/test_checked.c builds both with KILN__NO_OVERFLOW_BUILTINS. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(KILN__NO_OVERFLOW_BUILTINS)
#define KILN__HAVE_OVERFLOW_BUILTINS 1
#endif

/* *out = a * b when it fits in size_t. */
static inline bool kiln__size_mul(size_t a, size_t b, size_t *out)
{
#ifdef KILN__HAVE_OVERFLOW_BUILTINS
    size_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        return false;
    }
    *out = r;
    return true;
#else
    if (b != 0 && a > SIZE_MAX / b) {
        return false;
    }
    *out = a * b;
    return true;
#endif
}

/* *out = a + b when it fits in size_t. */
static inline bool kiln__size_add(size_t a, size_t b, size_t *out)
{
    if (a > SIZE_MAX - b) {
        return false;
    }
    *out = a + b;
    return true;
}

/* *out = a * b when it fits in int64_t (any signs). */
static inline bool kiln__i64_mul(int64_t a, int64_t b, int64_t *out)
{
#ifdef KILN__HAVE_OVERFLOW_BUILTINS
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        return false;
    }
    *out = r;
    return true;
#else
    bool over;
    if (a > 0) {
        over = b > 0 ? a > INT64_MAX / b : b < INT64_MIN / a;
    } else {
        over = b > 0 ? a < INT64_MIN / b : (a != 0 && b < INT64_MAX / a);
    }
    if (over) {
        return false;
    }
    *out = a * b;
    return true;
#endif
}

/* *out = a + b when it fits in int64_t (any signs). */
static inline bool kiln__i64_add(int64_t a, int64_t b, int64_t *out)
{
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b)) {
        return false;
    }
    *out = a + b;
    return true;
}

/*
 * The product of n counts (dims of a shape), each in [0, max]; the empty product is 1.
 * Returns false when a count is negative or above max, or the product exceeds max (a
 * zero anywhere makes the product 0, but every count is still range-checked). *bad gets
 * the index of the offending count, or n when only the product is too large.
 */
static inline bool kiln__i64_product(const int64_t *v, int n, int64_t max, int64_t *out, int *bad)
{
    int64_t p = 1;
    bool over = false;
    for (int i = 0; i < n; i++) {
        if (v[i] < 0 || v[i] > max) {
            *bad = i;
            return false;
        }
        if (!over && (!kiln__i64_mul(p, v[i], &p) || p > max)) {
            over = true;
        }
    }
    for (int i = 0; over && i < n; i++) {
        if (v[i] == 0) {
            over = false;
            p = 0;
        }
    }
    if (over) {
        *bad = n;
        return false;
    }
    *out = p;
    return true;
}

/*
 * Parses all of s as a decimal integer in [lo, hi]: an optional sign and digits, no
 * spaces, no base prefix. Returns false (leaving *out) for NULL, empty, trailing
 * characters, values outside int64_t or outside [lo, hi].
 */
static inline bool kiln__parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    if (s == NULL || s[0] == '\0' || isspace((unsigned char)s[0])) {
        return false;
    }
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || x < lo || x > hi) {
        return false;
    }
    *out = (int64_t)x;
    return true;
}

#endif /* KILN_CHECKED_H */
