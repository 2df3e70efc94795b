/*
 * test_layernorm.c - case rows and double-precision evaluators of the layernorm family:
 * layer_norm over the last one and two dims (rows past a workgroup, an offset mean, a
 * large eps, no affine through the public builder with NULL gamma and beta; its
 * gradient through the row statistics is checked against finite differences), and
 * layer_norm_stats, layer_norm_bwd and layer_norm_bwd_params fed directly (statistics
 * as given, columns past a workgroup).
 */
#include <math.h>
#include <string.h>

#include "../ref64.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -2.0f, 2.0f                                                                    \
    }
#define POS                                                                                        \
    {                                                                                              \
        OH_UNIFORM, 0.2f, 1.5f                                                                     \
    }

/* ==== Evaluators ==== */

static void ln_stats64(const double *x, int64_t cols, double eps, double *mean, double *rstd)
{
    double s = 0.0, q = 0.0;
    for (int64_t c = 0; c < cols; c++) {
        s += x[c];
    }
    *mean = s / (double)cols;
    for (int64_t c = 0; c < cols; c++) {
        q += (x[c] - *mean) * (x[c] - *mean);
    }
    *rstd = 1.0 / sqrt(q / (double)cols + eps);
}

/* rows and cols of node n's x (its source 0) as the params say. */
static void ln_geom(const struct kiln_tensor *n, int64_t *rows, int64_t *cols)
{
    const struct kiln__p_layer_norm *p = (const void *)n->params;
    const struct kiln_shape *x = &n->src[0]->shape;
    *cols = 1;
    for (int32_t k = x->rank - p->norm_dims; k < x->rank; k++) {
        *cols *= x->dims[k];
    }
    *rows = n->src[0]->n_elems / *cols;
}

static void eval_layer_norm(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    const struct kiln__p_layer_norm *p = (const void *)n->params;
    int64_t rows, cols;
    (void)t;
    ln_geom(n, &rows, &cols);
    for (int64_t r = 0; r < rows; r++) {
        double mean, rstd;
        ln_stats64(in[0] + r * cols, cols, p->eps, &mean, &rstd);
        for (int64_t c = 0; c < cols; c++) {
            out[r * cols + c] = (in[0][r * cols + c] - mean) * rstd * in[1][c] + in[2][c];
        }
    }
}

static void eval_stats(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    const struct kiln__p_layer_norm *p = (const void *)n->params;
    int64_t rows, cols;
    (void)t;
    ln_geom(n, &rows, &cols);
    for (int64_t r = 0; r < rows; r++) {
        ln_stats64(in[0] + r * cols, cols, p->eps, &out[2 * r], &out[2 * r + 1]);
    }
}

/* dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy gamma, at the given statistics. */
static void eval_bwd(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    int64_t rows, cols;
    (void)t;
    ln_geom(n, &rows, &cols);
    for (int64_t r = 0; r < rows; r++) {
        const double *x = in[0] + r * cols, *dy = in[3] + r * cols;
        double mean = in[1][2 * r], rstd = in[1][2 * r + 1], s1 = 0.0, s2 = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            s1 += dy[c] * in[2][c];
            s2 += dy[c] * in[2][c] * (x[c] - mean) * rstd;
        }
        for (int64_t c = 0; c < cols; c++) {
            double g = dy[c] * in[2][c];
            out[r * cols + c] =
                rstd * (g - s1 / (double)cols - (x[c] - mean) * rstd * s2 / (double)cols);
        }
    }
}

static void eval_bwd_params(const struct kiln_tensor *n, double *const *in, double *out, int t)
{
    int64_t rows, cols;
    (void)t;
    ln_geom(n, &rows, &cols);
    memset(out, 0, 2 * (size_t)cols * sizeof(double));
    for (int64_t r = 0; r < rows; r++) {
        double mean = in[1][2 * r], rstd = in[1][2 * r + 1];
        for (int64_t c = 0; c < cols; c++) {
            double dy = in[2][r * cols + c];
            out[c] += dy * (in[0][r * cols + c] - mean) * rstd;
            out[cols + c] += dy;
        }
    }
}

/* A few roundings per element after sums in double, as batch norm: R64_TOL_BN (terms
 * such as (x - mean) rstd gamma + beta err relative to their parts, not the result). */
static const struct oh_eval evals[] = {
    {KILN_OP_LAYER_NORM, eval_layer_norm, R64_TOL_BN},
    {KILN_OP_LAYER_NORM_STATS, eval_stats, R64_TOL_BN},
    {KILN_OP_LAYER_NORM_BWD, eval_bwd, R64_TOL_BN},
    {KILN_OP_LAYER_NORM_BWD_PARAMS, eval_bwd_params, R64_TOL_BN},
};

/* ==== Rows ==== */

/* The public builder without affine parameters (constant ones and zeros). */
static kiln_tensor *build_no_affine(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    return kiln_layer_norm(g, in[0], NULL, NULL, c->p.layer_norm.norm_dims, c->p.layer_norm.eps);
}

/* The public builder on a transformer-like [N, T, D] input with [D] parameters. */
static kiln_tensor *build_affine(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    return kiln_layer_norm(g, in[0], in[1], in[2], c->p.layer_norm.norm_dims, c->p.layer_norm.eps);
}

static const struct oh_case cases[] = {
    {.op = KILN_OP_LAYER_NORM,
     .note = "7x13 over the last dim",
     .shape = {OH_S2(7, 13), OH_S1(13), OH_S1(13)},
     .p.layer_norm = {.eps = 1e-5f, .norm_dims = 1},
     .gen = {U, U, U}},
    {.op = KILN_OP_LAYER_NORM,
     .note = "2x3x5x4 over the last two dims, eps 1e-3",
     .shape = {OH_S4(2, 3, 5, 4), OH_S2(5, 4), OH_S2(5, 4)},
     .p.layer_norm = {.eps = 1e-3f, .norm_dims = 2},
     .gen = {U, U, U}},
    {.op = KILN_OP_LAYER_NORM,
     .note = "300 rows of 17 (several workgroups), offset mean",
     .shape = {OH_S2(300, 17), OH_S1(17), OH_S1(17)},
     .p.layer_norm = {.eps = 1e-5f, .norm_dims = 1},
     .gen = {{OH_UNIFORM, 3.0f, 5.0f}, U, U}},
    {.op = KILN_OP_LAYER_NORM,
     .note = "3x5x67, eps 0.5 (public builder)",
     .shape = {OH_S3(3, 5, 67), OH_S1(67), OH_S1(67)},
     .p.layer_norm = {.eps = 0.5f, .norm_dims = 1},
     .gen = {U, U, U},
     .build = build_affine},
    {.op = KILN_OP_LAYER_NORM,
     .note = "no affine: NULL gamma and beta (public builder)",
     .n_in = 1,
     .shape = {OH_S3(4, 3, 11)},
     .p.layer_norm = {.eps = 1e-5f, .norm_dims = 1},
     .gen = {U},
     .build = build_no_affine},
    {.op = KILN_OP_LAYER_NORM_STATS,
     .note = "5x11",
     .shape = {OH_S2(5, 11)},
     .p.layer_norm = {.eps = 1e-5f, .norm_dims = 1},
     .gen = {U}},
    {.op = KILN_OP_LAYER_NORM_STATS,
     .note = "3x2x6 over two dims, 70 rows",
     .shape = {OH_S4(70, 3, 2, 6)},
     .p.layer_norm = {.eps = 1e-2f, .norm_dims = 2},
     .gen = {{OH_UNIFORM, -1.0f, 3.0f}}},
    {.op = KILN_OP_LAYER_NORM_BWD,
     .note = "6x9, given statistics",
     .shape = {OH_S2(6, 9), OH_S2(6, 2), OH_S1(9), OH_S2(6, 9)},
     .p.layer_norm = {.eps = 1e-5f, .norm_dims = 1},
     .gen = {U, POS, U, U}},
    {.op = KILN_OP_LAYER_NORM_BWD,
     .note = "2x67x3x5 over two dims (134 rows)",
     .shape = {OH_S4(2, 67, 3, 5), OH_S2(134, 2), OH_S2(3, 5), OH_S4(2, 67, 3, 5)},
     .p.layer_norm = {.eps = 1e-5f, .norm_dims = 2},
     .gen = {U, POS, U, U}},
    {.op = KILN_OP_LAYER_NORM_BWD_PARAMS,
     .note = "13x70 (columns past a workgroup)",
     .shape = {OH_S2(13, 70), OH_S2(13, 2), OH_S2(13, 70)},
     .p.layer_norm = {.eps = 1e-5f, .norm_dims = 1},
     .gen = {U, POS, U}},
    {.op = KILN_OP_LAYER_NORM_BWD_PARAMS,
     .note = "5x7x2x3 over two dims",
     .shape = {OH_S4(5, 7, 2, 3), OH_S2(35, 2), OH_S4(5, 7, 2, 3)},
     .p.layer_norm = {.eps = 1e-5f, .norm_dims = 2},
     .gen = {U, POS, U}},
};

const struct oh_family oh_family_layernorm = {"layernorm", cases,
                                              (int)(sizeof(cases) / sizeof(cases[0])), evals,
                                              (int)(sizeof(evals) / sizeof(evals[0]))};
