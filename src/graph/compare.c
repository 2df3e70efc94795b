/*
 * compare.c - result comparison under a tolerance; see compare.h.
 */
#include "compare.h"

#include <math.h>
#include <string.h>

static bool same_nonfinite(float a, float b)
{
    if (isnan(a) || isnan(b)) {
        return isnan(a) && isnan(b);
    }
    if (isinf(a) || isinf(b)) {
        return a == b;
    }
    return true;
}

bool kiln__compare_f32(const float *ref, const float *got, int64_t n, const struct kiln__tol *tol,
                       struct kiln__cmp *r)
{
    double num = 0.0, den = 0.0, worst_excess = 0.0;
    memset(r, 0, sizeof(*r));
    r->worst = -1;
    for (int64_t i = 0; i < n; i++) {
        float a = ref[i], b = got[i];
        if (!isfinite(a) || !isfinite(b)) {
            if (!same_nonfinite(a, b)) {
                if (r->n_nonfinite++ == 0) {
                    r->worst = i;
                    r->ref_v = a;
                    r->got_v = b;
                }
            }
            continue;
        }
        double d = fabs((double)a - (double)b);
        double m = fabs((double)a) + fabs((double)b);
        num += d * d;
        den += (double)a * (double)a;
        if (d > r->max_abs) {
            r->max_abs = d;
        }
        double rel = m > 0 ? d / m : 0.0;
        if (rel > r->max_rel) {
            r->max_rel = rel;
        }
        /* How far the element is outside both bounds; the largest names the worst. */
        double excess = fmin(d - tol->abs, d - tol->rel * m);
        if (excess > worst_excess || (r->worst < 0 && excess > 0)) {
            worst_excess = excess;
            r->worst = i;
            r->ref_v = a;
            r->got_v = b;
        }
    }
    /* The NMSE's scale is at least the absolute tolerance per element: a reference that
     * is all cancellation noise (a sum of gradients that is 0 in exact arithmetic, such
     * as a bias gradient ahead of a layer norm) has no signal to be relative to, and the
     * absolute bound is what its elements are held to. */
    den = fmax(den, (double)n * tol->abs * tol->abs);
    r->nmse = den > 0 ? num / den : num;
    if (r->n_nonfinite > 0) {
        r->why = "nan/inf";
    } else if (r->nmse > tol->nmse) {
        r->why = "nmse";
    } else if (worst_excess > 0) {
        r->why = "element";
    }
    return r->why == NULL;
}

bool kiln__compare_i32(const int32_t *ref, const int32_t *got, int64_t n, struct kiln__cmp *r)
{
    memset(r, 0, sizeof(*r));
    r->worst = -1;
    for (int64_t i = 0; i < n; i++) {
        if (ref[i] != got[i]) {
            double d = fabs((double)ref[i] - (double)got[i]);
            if (r->worst < 0) {
                r->worst = i;
                r->ref_v = ref[i];
                r->got_v = got[i];
            }
            if (d > r->max_abs) {
                r->max_abs = d;
            }
        }
    }
    r->why = r->worst >= 0 ? "element" : NULL;
    return r->why == NULL;
}
