/*
 * family.h - small helpers shared by the op family files: dtype and shape checks that
 * record a message naming the op and the source.
 */
#ifndef KILN_OPS_FAMILY_H
#define KILN_OPS_FAMILY_H

#include "../graph/graph_impl.h"

/* Fails with KILN_E_DTYPE unless source i of n has dtype dt. */
kiln_status kiln__want_dtype(const struct kiln_tensor *n, int i, kiln_dtype dt);

/* Fails with KILN_E_SHAPE unless sources i and j of n have the same shape. */
kiln_status kiln__want_same_shape(const struct kiln_tensor *n, int i, int j);

/* Fails with KILN_E_SHAPE unless source i of n has the given rank. */
kiln_status kiln__want_rank(const struct kiln_tensor *n, int i, int32_t rank);

/* Sets n's shape to a scalar (rank 0). */
void kiln__set_scalar(struct kiln_tensor *n);

/* For a node whose last axis is the reduction axis: rows = prod(other dims), cols. */
void kiln__rows_cols(const struct kiln_shape *s, int64_t *rows, int64_t *cols);

/* For a row x[0..n): sets *mx to its largest element and returns sum(exp(x - mx)) in
 * double, the stable core of softmax, log-softmax and cross-entropy. */
double kiln__row_sumexp(const float *x, int64_t n, float *mx);

/* ARGMAX of one row of n >= 1 values (reduce.c): the index of the first maximum; NaN
 * never wins (a row of NaN gives 0). */
int32_t kiln__row_argmax(const float *row, int64_t n);

#endif /* KILN_OPS_FAMILY_H */
