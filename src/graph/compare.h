/*
 * compare.h - comparison of a result against its reference under an op tolerance
 * (STYLE B.9): NaN/Inf agreement first, then NMSE (relative to the reference's
 * energy, or to abs per element when that is larger), then every element within
 * abs or rel * (|a| + |b|). Used by the KILN_CHECK shadow and by the tests.
 */
#ifndef KILN_COMPARE_H
#define KILN_COMPARE_H

#include <stdbool.h>
#include <stdint.h>

#include "../ops/op_desc.h"

struct kiln__cmp {
    double nmse;
    double max_abs, max_rel;
    int64_t worst;       /* index of the worst element, -1 when none */
    double ref_v, got_v; /* values at worst */
    int64_t n_nonfinite; /* elements where NaN/Inf disagree */
    const char *why;     /* "nan/inf", "nmse", "element" or NULL when ok */
};

bool kiln__compare_f32(const float *ref, const float *got, int64_t n, const struct kiln__tol *tol,
                       struct kiln__cmp *r);
bool kiln__compare_i32(const int32_t *ref, const int32_t *got, int64_t n, struct kiln__cmp *r);

#endif /* KILN_COMPARE_H */
