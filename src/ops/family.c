/*
 * family.c - checks and row helpers shared by the op families; see family.h.
 */
#include "family.h"

#include <math.h>

kiln_status kiln__want_dtype(const struct kiln_tensor *n, int i, kiln_dtype dt)
{
    if (n->src[i]->dtype != dt) {
        return KILN_FAIL(KILN_E_DTYPE, "%s: input %d ('%s') is %s, expected %s",
                         kiln__ops[n->op]->name, i, n->src[i]->name,
                         kiln_dtype_name(n->src[i]->dtype), kiln_dtype_name(dt));
    }
    return KILN_OK;
}

kiln_status kiln__want_same_shape(const struct kiln_tensor *n, int i, int j)
{
    char a[64], b[64];
    if (!kiln__shape_eq(&n->src[i]->shape, &n->src[j]->shape)) {
        return KILN_FAIL(KILN_E_SHAPE, "%s: input %d ('%s') is %s but input %d ('%s') is %s",
                         kiln__ops[n->op]->name, i, n->src[i]->name,
                         kiln__shape_str(&n->src[i]->shape, a, sizeof(a)), j, n->src[j]->name,
                         kiln__shape_str(&n->src[j]->shape, b, sizeof(b)));
    }
    return KILN_OK;
}

kiln_status kiln__want_rank(const struct kiln_tensor *n, int i, int32_t rank)
{
    char a[64];
    if (n->src[i]->shape.rank != rank) {
        return KILN_FAIL(KILN_E_SHAPE, "%s: input %d ('%s') is %s; expected rank %d",
                         kiln__ops[n->op]->name, i, n->src[i]->name,
                         kiln__shape_str(&n->src[i]->shape, a, sizeof(a)), rank);
    }
    return KILN_OK;
}

void kiln__set_scalar(struct kiln_tensor *n)
{
    n->shape.rank = 0;
}

void kiln__rows_cols(const struct kiln_shape *s, int64_t *rows, int64_t *cols)
{
    *cols = s->rank > 0 ? s->dims[s->rank - 1] : 1;
    *rows = *cols > 0 ? kiln__shape_elems(s) / *cols : 0;
}

double kiln__row_sumexp(const float *x, int64_t n, float *mx)
{
    float m = x[0];
    for (int64_t c = 1; c < n; c++) {
        m = x[c] > m ? x[c] : m;
    }
    double s = 0.0;
    for (int64_t c = 0; c < n; c++) {
        s += exp((double)x[c] - m);
    }
    *mx = m;
    return s;
}
