/*
 * kiln/selfcheck.h - checking a context's backend against the CPU reference, op by op:
 * the self-check that `kiln doctor` runs on the user's device. Every op of kiln's op
 * table runs in small generated cases (odd and prime sizes, broadcasting, the
 * parameters that select its code paths), forward and, through the backward pass, its
 * gradient ops, and in-place updates for a few steps; each output, gradient and
 * updated tensor is compared with the CPU backend's under the tolerances of the ops
 * that computed it (the same rule as KILN_CHECK and the test suite). An op that no
 * case runs is reported as failing, so a new op cannot go unchecked.
 *
 * The test suite's op matrix (tests/ops/) is larger; this one is sized to finish in
 * seconds on a CPU driver.
 */
#ifndef KILN_SELFCHECK_H
#define KILN_SELFCHECK_H

#include <stdint.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kiln_selfcheck_result {
    KILN_SELFCHECK_PASS = 0,
    KILN_SELFCHECK_FAIL = 1,        /* outside tolerance, an error, or an op without a case */
    KILN_SELFCHECK_UNSUPPORTED = 2, /* the backend has no kernel for an op of the case */
} kiln_selfcheck_result;

/* One case as the callback sees it; the strings are views valid during the call. */
struct kiln_selfcheck_case {
    const char *op;     /* the op the case is about, as KILN_CHECK names ops ("conv2d") */
    const char *note;   /* what the case is about */
    const char *shapes; /* its inputs, e.g. "f32 [7, 13], f32 [13]" */
    kiln_selfcheck_result result;
    const char *message; /* why it failed or is unsupported; "" when it passed */
    double seconds;      /* both sides, compile included */
};

typedef void (*kiln_selfcheck_fn)(void *ud, const struct kiln_selfcheck_case *c);

struct kiln_selfcheck_summary {
    int32_t n_cases, n_passed, n_failed, n_unsupported;
    int32_t n_ops;         /* ops in the op table that compute something (no views) */
    int32_t n_ops_checked; /* of those, the ops that ran in a case that passed */
    double seconds;
};

/*
 * Runs the cases (those of op only_op when it is not NULL, as KILN_CHECK names ops) on
 * ctx's backend and on a CPU context it creates, calling fn after each case (fn may be
 * NULL). [in] ctx: borrowed. [in] ud: passed to fn. [out] out: may be NULL.
 * Returns KILN_OK when the cases ran, whatever they found (see *out); KILN_E_INVALID_ARG
 * (NULL ctx, unknown only_op), KILN_E_OUT_OF_HOST_MEMORY, or the error of creating the
 * CPU context. Not thread-safe with respect to other calls on ctx.
 */
KILN_API kiln_status kiln_selfcheck(kiln_context *ctx, const char *only_op, kiln_selfcheck_fn fn,
                                    void *ud, struct kiln_selfcheck_summary *out);

#ifdef __cplusplus
}
#endif

#endif /* KILN_SELFCHECK_H */
