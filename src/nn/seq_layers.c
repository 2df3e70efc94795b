/*
 * seq_layers.c - layers over sequences of feature vectors [N, C, L]: PyTorch's nn.Conv1d
 * (as a convolution of height 1), and the maximum and the mean over time of padded
 * sequences under a mask, where a padded step never wins the maximum and never counts
 * in the mean. Like every layer they only append nodes and parameters to a graph.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "kiln/nn.h"

/* The value padded steps get before the maximum: far below any activation, and small
 * enough that x - 1e30 stays finite. */
#define MASKED (-1e30f)

static bool bad_seq(kiln_graph *g, const char *fn, kiln_tensor *x, kiln_tensor *mask)
{
    char sb[64], mb[64];
    if (x == NULL) {
        kiln__graph_fail(g, KILN_E_INVALID_ARG, "%s: x is NULL", fn);
        return true;
    }
    if (x->flags & KILN__F_POISON) {
        return true;
    }
    if (x->dtype != KILN_DTYPE_F32 || x->shape.rank != 3) {
        kiln__graph_fail(g, KILN_E_SHAPE, "%s: x ('%s') is %s %s; it must be f32 [N, C, L]", fn,
                         x->name, kiln_dtype_name(x->dtype),
                         kiln__shape_str(&x->shape, sb, sizeof(sb)));
        return true;
    }
    if (mask != NULL &&
        (mask->dtype != KILN_DTYPE_F32 || mask->shape.rank != 2 ||
         mask->shape.dims[0] != x->shape.dims[0] || mask->shape.dims[1] != x->shape.dims[2])) {
        kiln__graph_fail(g, KILN_E_SHAPE, "%s: mask ('%s') is %s for x %s; it must be f32 [N, L]",
                         fn, mask->name, kiln__shape_str(&mask->shape, mb, sizeof(mb)),
                         kiln__shape_str(&x->shape, sb, sizeof(sb)));
        return true;
    }
    return false;
}

kiln_tensor *kiln_conv1d_layer(kiln_graph *g, kiln_tensor *x, int64_t out_channels, int32_t kernel,
                               int32_t padding, int use_bias, const char *name, uint64_t seed)
{
    char wname[64], bname[64];
    if (g == NULL) {
        return NULL;
    }
    if (bad_seq(g, "kiln_conv1d_layer", x, NULL)) {
        return &g->poison;
    }
    if (name == NULL || name[0] == '\0' || strlen(name) > 48 || out_channels < 1 || kernel < 1 ||
        padding < 0) {
        return kiln__graph_fail(
            g, KILN_E_INVALID_ARG, "kiln_conv1d_layer '%s': %lld channels, kernel %d, padding %d",
            name != NULL ? name : "(null)", (long long)out_channels, kernel, padding);
    }
    int64_t n = x->shape.dims[0], c = x->shape.dims[1], l = x->shape.dims[2];
    int64_t wd[3] = {out_channels, c, kernel}, w4[4] = {out_channels, c, 1, kernel};
    int64_t x4[4] = {n, c, 1, l}, bd[1] = {out_channels}, b2[2] = {out_channels, 1};
    snprintf(wname, sizeof(wname), "%s.weight", name);
    snprintf(bname, sizeof(bname), "%s.bias", name);
    /* nn.Conv1d's default: kaiming_uniform_(a = sqrt(5)) = U(-b, b), b = 1 / sqrt(C k). */
    float bound = (float)(1.0 / sqrt((double)(c * kernel)));
    kiln_tensor *w = kiln_param(g, wname, 3, wd, KILN_INIT_UNIFORM, bound, seed);
    struct kiln_conv2d_opts o = KILN_CONV2D_OPTS_INIT;
    o.padding[1] = padding;
    kiln_tensor *y = kiln_conv2d(g, kiln_reshape(g, x, 4, x4), kiln_reshape(g, w, 4, w4), &o);
    if (y->flags & KILN__F_POISON) {
        return y;
    }
    int64_t yd[3] = {n, out_channels, y->shape.dims[3]};
    y = kiln_reshape(g, y, 3, yd);
    if (!use_bias) {
        return y;
    }
    kiln_tensor *b = kiln_param(g, bname, 1, bd, KILN_INIT_UNIFORM, bound, seed);
    return kiln_add(g, y, kiln_reshape(g, b, 2, b2));
}

kiln_tensor *kiln_max_over_time(kiln_graph *g, kiln_tensor *x, kiln_tensor *mask)
{
    if (g == NULL) {
        return NULL;
    }
    if (bad_seq(g, "kiln_max_over_time", x, mask)) {
        return &g->poison;
    }
    int64_t n = x->shape.dims[0], c = x->shape.dims[1], l = x->shape.dims[2];
    int64_t x4[4] = {n, c, 1, l}, m3[3] = {n, 1, l}, out[2] = {n, c};
    if (mask != NULL) {
        /* x + (mask - 1) 1e30: real steps unchanged, padded ones far below any value. */
        x = kiln_add(g, x, kiln_reshape(g, kiln_scale_shift(g, mask, -MASKED, MASKED), 3, m3));
    }
    struct kiln_pool2d_opts po = {{1, (int32_t)l}, {1, 1}, {0, 0}, 1};
    return kiln_reshape(g, kiln_max_pool2d(g, kiln_reshape(g, x, 4, x4), &po), 2, out);
}

kiln_tensor *kiln_mean_over_time(kiln_graph *g, kiln_tensor *x, kiln_tensor *mask)
{
    if (g == NULL) {
        return NULL;
    }
    if (bad_seq(g, "kiln_mean_over_time", x, mask)) {
        return &g->poison;
    }
    if (mask == NULL) {
        return kiln_mean(g, x, 4u, 0);
    }
    int64_t n = x->shape.dims[0], l = x->shape.dims[2], m3[3] = {n, 1, l}, cnt[2] = {n, 1};
    kiln_tensor *sum = kiln_sum(g, kiln_mul(g, x, kiln_reshape(g, mask, 3, m3)), 4u, 0);
    return kiln_div(g, sum, kiln_reshape(g, kiln_sum(g, mask, 2u, 0), 2, cnt));
}
