/*
 * linalg.h - the small dense linear algebra of kiln's baselines (not installed): a
 * Cholesky solve in double, used by the least-squares baseline of tables (linreg.c)
 * and the Newton steps of the tree task's bag-of-symbols baseline (trees.c).
 */
#ifndef KILN_LINALG_H
#define KILN_LINALG_H

#include <stdint.h>

/*
 * Solves a x = b for a symmetric positive definite a [n, n] (row-major). a is
 * overwritten by its Cholesky factor and b by x. Returns 0, or -1 (a and b then hold
 * garbage) when a is not positive definite to working precision.
 */
int kiln__cholesky_solve(double *a, double *b, int64_t n);

#endif /* KILN_LINALG_H */
