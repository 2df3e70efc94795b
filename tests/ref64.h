/*
 * ref64.h - independent double-precision evaluation of kiln's ops, for checking the
 * CPU backend (STYLE B.9 "Gradients").
 *
 * Every op is reimplemented in double from its definition (ref64_ops.c), without
 * calling kiln's reference kernels. A case graph built by the harness is evaluated
 * node by node in double (kiln supplies only the graph: shapes, params and wiring):
 *  - r64_check_forward compares the CPU backend's output (or updated tensors for
 *    in-place updates; and the inputs an op with KILN__OPF_ALSO_WRITES writes) against
 *    the double evaluation;
 *  - r64_check_gradient compares the CPU backend's gradients (kiln's backward rules)
 *    against central finite differences of loss = sum(y * W) taken in double.
 * All tolerances of both checks and their reasons are below.
 */
#ifndef KILN_TEST_REF64_H
#define KILN_TEST_REF64_H

#include <stdbool.h>
#include <stddef.h>

#include "op_harness.h"

/* ==== Tolerances (all of them, with their reasons) ==== */

/*
 * Forward: the CPU backend's f32 result against the exact (double) value of the op on
 * the same f32 inputs, compared as kiln__compare_f32 does (NMSE, then every element
 * within abs or rel * (|a| + |b|)). A case of several nodes uses the loosest class of
 * its nodes. The class of each op is in the table of ref64_ops.c.
 *  - EXACT: one IEEE operation or a pure data movement (add, sub, mul, div, relu,
 *    leaky relu, broadcast, transpose, reshape, argmax, relu_bwd): f32 rounds the exact
 *    result correctly, so the f32 result equals the double one rounded to f32.
 *  - FEW_ROUNDINGS: a handful of f32 operations and libm's f32 functions (expf, tanhf,
 *    logf, sqrtf: within 1-2 ULP in glibc); rel 1e-6 of |a| + |b| is about 16 ULP, abs
 *    1e-6 covers results that cancel (gelu of negative x, scale-shift near zero).
 *  - GELU_BWD: 1 - t^2 with t = tanhf(u) near -1 cancels: t's rounding (6e-8) times
 *    0.5 |x| K (1 + 3 C x^2) (about 9 at x = -5) and |dy| (<= 3 here) gives 2e-6
 *    absolute where the exact result is about 1e-5 (measured 1e-6).
 *  - DOUBLE_ACC: reductions, softmax and losses accumulate in double and round once;
 *    the bound is that of FEW_ROUNDINGS.
 *  - GEMM: OpenBLAS sums K products in f32; the error grows like sqrt(K) eps times the
 *    size of the terms (K <= 1031, terms <= 1 here), about 1e-5 at worst.
 *  - UPDATE: a few roundings per step, and steps compound (Adam divides by sqrt(v)).
 */
#define R64_TOL_EXACT                                                                              \
    {                                                                                              \
        0.0, 0.0, 0.0                                                                              \
    }
#define R64_TOL_FEW_ROUNDINGS                                                                      \
    {                                                                                              \
        1e-12, 1e-6, 1e-6                                                                          \
    }
#define R64_TOL_GELU_BWD                                                                           \
    {                                                                                              \
        1e-12, 1e-5, 1e-6                                                                          \
    }
#define R64_TOL_DOUBLE_ACC                                                                         \
    {                                                                                              \
        1e-12, 1e-6, 1e-6                                                                          \
    }
#define R64_TOL_GEMM                                                                               \
    {                                                                                              \
        1e-10, 1e-4, 1e-5                                                                          \
    }
#define R64_TOL_UPDATE                                                                             \
    {                                                                                              \
        1e-12, 1e-6, 1e-5                                                                          \
    }

/*
 * Gradients: kiln's f32 gradient g against the central difference
 * fd = (L(x + h) - L(x - h)) / 2h of L = sum(y * W) in double, h = R64_FD_H max(1, |x|).
 * The difference's own error is h^2 |L'''| / 6 (about 1e-9 for these smooth ops) plus
 * 1e-16 |L| / h; kiln's gradient is a chain of f32 ops whose error is relative to the
 * size of the terms it sums, not to the result. An element passes when
 * |g - fd| <= R64_FD_ABS * scale + R64_FD_REL * |fd|, scale = the largest |fd| of the
 * input's sampled elements. A wrong rule (a missing factor, a wrong sign, a broadcast
 * not summed back) errs by the size of the gradient itself; a 0.1% error in div's
 * backward is caught. Elements on a kink (relu at 0, a hinge margin at 0) show as
 * one-sided slopes that differ by more than R64_FD_KINK of their size and are skipped
 * (smooth ops: the slopes differ by h |f''| <= 1e-3 |f'| here); rows of special values
 * say OH_NO_FD. Measured worst err / scale over all rows: 4e-6 (softmax, whose
 * backward subtracts a row sum), 1e-7 to 4e-7 elsewhere.
 */
#define R64_FD_H       1e-4
#define R64_FD_ABS     2e-5
#define R64_FD_REL     1e-4
#define R64_FD_KINK    1e-2
#define R64_FD_SAMPLES 48 /* elements checked per input (evenly spaced, first and last) */

/* ==== Evaluators ==== */

/* Evaluates node n in double: oh_eval_fn (op_harness.h). */
typedef oh_eval_fn r64_eval_fn;

struct r64_op {
    r64_eval_fn eval;     /* NULL: no evaluator (the double checks fail for the op) */
    struct kiln__tol tol; /* the forward tolerance class */
};

/* Indexed by enum kiln_op (ref64_ops.c): the ops whose family table has no evaluators. */
extern const struct r64_op r64_ops[KILN_OP_COUNT];

/* The evaluator of op: from its family's table (tests/ops/test_<family>.c), else from
 * r64_ops. */
struct r64_op r64_op_of(int op);

/* ==== Checks ==== */

/* The convolutional-network ops (conv, pool, norm, layout, random families), in
 * ref64_conv.c; their table entries are in ref64_ops.c. Tolerance classes:
 *  - CONV: conv2d and its adjoints, OpenBLAS sums of up to a few hundred f32 products
 *    (about 1e-6 relative to the terms).
 *  - BN: a few f32 roundings per element, but terms such as (x - mean) r gamma + beta
 *    err relative to their parts (|x|, |beta| <= 2 here), not to the result.
 * Copies and selections (maxpool2d, upsample_nearest, concat, slice, pad) are EXACT;
 * short window sums (maxpool2d_bwd, avgpool2d(_bwd), upsample_nearest_bwd), lrn and
 * dropout are FEW_ROUNDINGS. */
#define R64_TOL_CONV                                                                               \
    {                                                                                              \
        1e-10, 1e-5, 1e-5                                                                          \
    }
#define R64_TOL_BN                                                                                 \
    {                                                                                              \
        1e-12, 2e-6, 2e-6                                                                          \
    }
void r64_eval_conv(const struct kiln_tensor *n, double *const *in, double *out, int t);

/* CPU forward of case c vs the double evaluation. True when they agree (or the row
 * says OH_NO_DOUBLE); otherwise writes msg. */
bool r64_check_forward(kiln_context *cpu, const struct oh_case *c, char *msg, size_t n);

/* CPU gradients of case c vs central finite differences in double. True when they
 * agree (or the case has no backward, or the row says OH_NO_FD / OH_NO_DOUBLE). */
bool r64_check_gradient(kiln_context *cpu, const struct oh_case *c, char *msg, size_t n);

#endif /* KILN_TEST_REF64_H */
