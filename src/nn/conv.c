/*
 * conv.c - convolutional layers built from graph ops: conv2d and transposed conv2d with
 * PyTorch's parameter layouts, names and default initialization, batch norm with
 * running statistics, and two blocks made of them: ResNet's basic residual block and
 * GoogLeNet's inception block. Layers add parameters and nodes, no kernels.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "kiln/nn.h"

#define MAX_PREFIX 48 /* leaves room for ".downsample.1.running_mean" */

static bool bad_name(kiln_graph *g, const char *fn, const char *name)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > MAX_PREFIX) {
        kiln__graph_fail(g, KILN_E_INVALID_ARG, "%s: the layer needs a name of 1 to %d characters",
                         fn, MAX_PREFIX);
        return true;
    }
    return false;
}

static bool bad_x(kiln_graph *g, const char *fn, const char *name, const kiln_tensor *x,
                  int32_t rank)
{
    if (x == NULL) {
        kiln__graph_fail(g, KILN_E_INVALID_ARG, "%s '%s': x is NULL", fn, name);
        return true;
    }
    if (x->flags & KILN__F_POISON) {
        return true;
    }
    if (x->dtype != KILN_DTYPE_F32 || (rank > 0 && x->shape.rank != rank) || x->shape.rank < 2) {
        char sb[64];
        kiln__graph_fail(g, KILN_E_SHAPE, "%s '%s': x ('%s') is %s %s; expected f32 %s", fn, name,
                         x->name, kiln_dtype_name(x->dtype),
                         kiln__shape_str(&x->shape, sb, sizeof(sb)),
                         rank == 4 ? "[N, C, H, W]" : "[N, C, ...]");
        return true;
    }
    return false;
}

/* PyTorch's _ConvNd.reset_parameters: kaiming_uniform_(a = sqrt(5)) on the weight is
 * U(-b, b) with b = gain sqrt(3 / fan_in), gain = sqrt(2 / (1 + 5)), so b = 1/sqrt(fan_in)
 * (KILN_INIT_FAN_IN_UNIFORM; fan_in = dims[1] KH KW of the weight as laid out, which for a
 * transposed conv is C_out/groups KH KW, as PyTorch computes it); the bias is
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the same fan_in. */
static kiln_tensor *conv_layer(kiln_graph *g, kiln_tensor *x, int64_t out_ch, int32_t kh,
                               int32_t kw, const struct kiln_conv2d_opts *opts, int use_bias,
                               const char *name, uint64_t seed, int transposed)
{
    const char *fn = transposed ? "kiln_conv_transpose2d_layer" : "kiln_conv2d_layer";
    struct kiln_conv2d_opts d = KILN_CONV2D_OPTS_INIT;
    char wname[64], bname[64];
    if (g == NULL) {
        return NULL;
    }
    if (bad_name(g, fn, name) || bad_x(g, fn, name, x, 4)) {
        return &g->poison;
    }
    opts = opts != NULL ? opts : &d;
    int64_t in_ch = x->shape.dims[1], grp = opts->groups;
    if (out_ch < 1 || kh < 1 || kw < 1 || grp < 1 || in_ch % grp != 0 || out_ch % grp != 0) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                "%s '%s': %lld -> %lld channels, kernel %dx%d, %lld groups", fn,
                                name, (long long)in_ch, (long long)out_ch, kh, kw, (long long)grp);
    }
    int64_t wd[4] = {out_ch, in_ch / grp, kh, kw};
    if (transposed) {
        wd[0] = in_ch;
        wd[1] = out_ch / grp;
    }
    snprintf(wname, sizeof(wname), "%s.weight", name);
    snprintf(bname, sizeof(bname), "%s.bias", name);
    kiln_tensor *w = kiln_param(g, wname, 4, wd, KILN_INIT_FAN_IN_UNIFORM, 0.0f, seed);
    kiln_tensor *y = transposed ? kiln_conv_transpose2d(g, x, w, opts) : kiln_conv2d(g, x, w, opts);
    if (!use_bias) {
        return y;
    }
    /* Stored as [K] like nn.Conv2d's bias, added as a [K, 1, 1] view that broadcasts
     * over H and W (the initial values depend only on the element count). */
    int64_t bd[3] = {out_ch, 1, 1};
    float bound = (float)(1.0 / sqrt((double)(wd[1] * kh * kw)));
    kiln_tensor *b = kiln_param(g, bname, 1, bd, KILN_INIT_UNIFORM, bound, seed);
    return kiln_add(g, y, kiln_reshape(g, b, 3, bd));
}

kiln_tensor *kiln_conv2d_layer(kiln_graph *g, kiln_tensor *x, int64_t out_channels,
                               int32_t kernel_h, int32_t kernel_w,
                               const struct kiln_conv2d_opts *opts, int use_bias, const char *name,
                               uint64_t seed)
{
    return conv_layer(g, x, out_channels, kernel_h, kernel_w, opts, use_bias, name, seed, 0);
}

kiln_tensor *kiln_conv_transpose2d_layer(kiln_graph *g, kiln_tensor *x, int64_t out_channels,
                                         int32_t kernel_h, int32_t kernel_w,
                                         const struct kiln_conv2d_opts *opts, int use_bias,
                                         const char *name, uint64_t seed)
{
    return conv_layer(g, x, out_channels, kernel_h, kernel_w, opts, use_bias, name, seed, 1);
}

kiln_tensor *kiln_batch_norm(kiln_graph *g, kiln_tensor *x, const char *name, float momentum,
                             float eps)
{
    char nm[64];
    if (g == NULL) {
        return NULL;
    }
    if (bad_name(g, "kiln_batch_norm", name) || bad_x(g, "kiln_batch_norm", name, x, 0)) {
        return &g->poison;
    }
    if (!(momentum >= 0.0f && momentum <= 1.0f) || !(eps >= 0.0f)) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                "kiln_batch_norm '%s': momentum %g must be in [0, 1], eps %g >= 0",
                                name, (double)momentum, (double)eps);
    }
    int64_t c = x->shape.dims[1];
    snprintf(nm, sizeof(nm), "%s.weight", name);
    kiln_tensor *gamma = kiln_param(g, nm, 1, &c, KILN_INIT_ONES, 0.0f, 0);
    snprintf(nm, sizeof(nm), "%s.bias", name);
    kiln_tensor *beta = kiln_param(g, nm, 1, &c, KILN_INIT_ZEROS, 0.0f, 0);
    /* Running statistics: buffer leaves (saved and loaded with the parameters, never
     * trained), initialized like PyTorch's: mean 0, variance 1. */
    snprintf(nm, sizeof(nm), "%s.running_mean", name);
    kiln_tensor *rm = kiln_store_tensor(g, nm, KILN_STORE_BUFFER, KILN_DTYPE_F32, 1, &c,
                                        KILN_INIT_ZEROS, 0.0f, 0);
    snprintf(nm, sizeof(nm), "%s.running_var", name);
    kiln_tensor *rv =
        kiln_store_tensor(g, nm, KILN_STORE_BUFFER, KILN_DTYPE_F32, 1, &c, KILN_INIT_ONES, 0.0f, 0);
    kiln_tensor *st = kiln_bn_stats(g, x, rm, rv);
    kiln_bn_running_update(g, rm, rv, st, x, momentum);
    return kiln_bn_apply(g, x, st, gamma, beta, eps);
}

/* conv (no bias) then batch norm, the unit of ResNet blocks. */
static kiln_tensor *conv_bn(kiln_graph *g, kiln_tensor *x, int64_t out_ch, int32_t k,
                            int32_t stride, const char *name, const char *conv, const char *bn,
                            uint64_t seed)
{
    char cn[64], bnn[64];
    struct kiln_conv2d_opts o = KILN_CONV2D_OPTS_INIT;
    o.stride[0] = o.stride[1] = stride;
    o.padding[0] = o.padding[1] = k / 2;
    snprintf(cn, sizeof(cn), "%s.%s", name, conv);
    snprintf(bnn, sizeof(bnn), "%s.%s", name, bn);
    kiln_tensor *y = kiln_conv2d_layer(g, x, out_ch, k, k, &o, 0, cn, seed);
    return kiln_batch_norm(g, y, bnn, 0.1f, 1e-5f);
}

kiln_tensor *kiln_basic_block(kiln_graph *g, kiln_tensor *x, int64_t out_channels, int32_t stride,
                              const char *name, uint64_t seed)
{
    if (g == NULL) {
        return NULL;
    }
    if (bad_name(g, "kiln_basic_block", name) || bad_x(g, "kiln_basic_block", name, x, 4)) {
        return &g->poison;
    }
    if (stride < 1 || out_channels < 1) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                "kiln_basic_block '%s': stride %d, %lld "
                                "channels",
                                name, stride, (long long)out_channels);
    }
    kiln_tensor *y = conv_bn(g, x, out_channels, 3, stride, name, "conv1", "bn1", seed);
    y = kiln_relu(g, y);
    y = conv_bn(g, y, out_channels, 3, 1, name, "conv2", "bn2", seed);
    kiln_tensor *sc = x;
    if (stride != 1 || x->shape.dims[1] != out_channels) {
        sc = conv_bn(g, x, out_channels, 1, stride, name, "downsample.0", "downsample.1", seed);
    }
    return kiln_relu(g, kiln_add(g, y, sc));
}

static kiln_tensor *conv_relu(kiln_graph *g, kiln_tensor *x, int64_t out_ch, int32_t k,
                              const char *name, const char *part, uint64_t seed)
{
    char nm[64];
    struct kiln_conv2d_opts o = KILN_CONV2D_OPTS_INIT;
    o.padding[0] = o.padding[1] = k / 2;
    snprintf(nm, sizeof(nm), "%s.%s", name, part);
    return kiln_relu(g, kiln_conv2d_layer(g, x, out_ch, k, k, &o, 1, nm, seed));
}

kiln_tensor *kiln_inception_block(kiln_graph *g, kiln_tensor *x, const int64_t widths[6],
                                  const char *name, uint64_t seed)
{
    if (g == NULL) {
        return NULL;
    }
    if (bad_name(g, "kiln_inception_block", name) || bad_x(g, "kiln_inception_block", name, x, 4)) {
        return &g->poison;
    }
    if (widths == NULL) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_inception_block '%s': widths NULL",
                                name);
    }
    struct kiln_pool2d_opts po = {{3, 3}, {1, 1}, {1, 1}, 1};
    kiln_tensor *br[4];
    br[0] = conv_relu(g, x, widths[0], 1, name, "branch1", seed);
    br[1] = conv_relu(g, conv_relu(g, x, widths[1], 1, name, "branch2.0", seed), widths[2], 3, name,
                      "branch2.1", seed);
    br[2] = conv_relu(g, conv_relu(g, x, widths[3], 1, name, "branch3.0", seed), widths[4], 5, name,
                      "branch3.1", seed);
    br[3] = conv_relu(g, kiln_max_pool2d(g, x, &po), widths[5], 1, name, "branch4.1", seed);
    return kiln_concat(g, 4, br, 1);
}
