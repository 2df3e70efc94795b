/*
 * ref64.h - independent double-precision evaluation of kiln's ops, for checking the
 * CPU backend (STYLE B.9 "Gradients").
 *
 * Every op is reimplemented here in double from its definition (include/kiln/graph.h,
 * op_list.h), without calling kiln's reference kernels. A case graph built by the
 * harness is evaluated node by node in double (kiln supplies only the graph: shapes,
 * params and wiring), then:
 *  - r64_check_forward compares the CPU backend's output (or updated tensors for
 *    in-place updates) against the double evaluation;
 *  - r64_check_gradient compares the CPU backend's gradients (kiln's backward rules)
 *    against central finite differences of loss = sum(y * W) taken with the double
 *    evaluator.
 * The tolerances of both checks, with their reasons, are in ref64.c (r64_tol_*).
 */
#ifndef KILN_TEST_REF64_H
#define KILN_TEST_REF64_H

#include <stdbool.h>
#include <stddef.h>

#include "op_harness.h"

/* Evaluates node n in double. in[i]: the values of n's sources (i32 data as integer
 * values); out: n->n_elems values. In-place updates write their inputs (in[i] for the
 * bits of inplace_mask) and need t, the 1-based step. Returns false for an op it does
 * not know. */
bool r64_eval_node(const struct kiln_tensor *n, double *const *in, double *out, int t);

/* CPU forward of case c vs the double evaluation. True when they agree (or the row
 * says OH_NO_DOUBLE); otherwise writes msg. */
bool r64_check_forward(kiln_context *cpu, const struct oh_case *c, char *msg, size_t n);

/* CPU gradients of case c vs central finite differences in double. True when they
 * agree (or the case has no backward, or the row says OH_NO_FD / OH_NO_DOUBLE). */
bool r64_check_gradient(kiln_context *cpu, const struct oh_case *c, char *msg, size_t n);

#endif /* KILN_TEST_REF64_H */
