/*
 * models.c - ready-made image classifiers (LeNet-5, AlexNet-, VGG-, GoogLeNet- and
 * ResNet-style nets sized for 28x28 images), a DCGAN generator and discriminator, and a
 * FLOP counter over a graph's forward nodes. Everything here is a chain of the layers of
 * conv.c and dense.c; nothing runs a kernel.
 */
#include <stdio.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "kiln/nn.h"

static const char *const model_names[KILN_MODEL_COUNT] = {
    [KILN_MODEL_LENET] = "lenet",   [KILN_MODEL_ALEXNET] = "alexnet",
    [KILN_MODEL_VGG] = "vgg",       [KILN_MODEL_GOOGLENET] = "googlenet",
    [KILN_MODEL_RESNET] = "resnet",
};

const char *kiln_model_name(kiln_model m)
{
    return (int)m >= 0 && m < KILN_MODEL_COUNT ? model_names[m] : NULL;
}

kiln_status kiln_model_from_name(const char *name, kiln_model *out)
{
    if (name == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_model_from_name: NULL argument");
    }
    for (int i = 0; i < KILN_MODEL_COUNT; i++) {
        if (strcmp(name, model_names[i]) == 0) {
            *out = (kiln_model)i;
            return KILN_OK;
        }
    }
    return KILN_FAIL(KILN_E_INVALID_ARG,
                     "unknown model '%s' (lenet, alexnet, vgg, googlenet, resnet)", name);
}

/* ---- Small helpers ---- */

static kiln_tensor *conv(kiln_graph *g, kiln_tensor *x, int64_t out_ch, int32_t k, int32_t pad,
                         int32_t stride, int bias, const char *name, uint64_t seed)
{
    struct kiln_conv2d_opts o = KILN_CONV2D_OPTS_INIT;
    o.padding[0] = o.padding[1] = pad;
    o.stride[0] = o.stride[1] = stride;
    return kiln_conv2d_layer(g, x, out_ch, k, k, &o, bias, name, seed);
}

static kiln_tensor *maxpool(kiln_graph *g, kiln_tensor *x, int32_t k, int32_t stride, int32_t pad)
{
    struct kiln_pool2d_opts o = {{k, k}, {stride, stride}, {pad, pad}, 1};
    return kiln_max_pool2d(g, x, &o);
}

static kiln_tensor *dense(kiln_graph *g, kiln_tensor *x, int64_t n, const char *name, uint64_t seed)
{
    struct kiln_dense_options o = KILN_DENSE_OPTIONS_INIT;
    o.seed = seed;
    return kiln_dense(g, x, n, name, &o);
}

/* conv (no bias), batch norm "<name>.bn"-style name bn, ReLU. */
static kiln_tensor *conv_bn_relu(kiln_graph *g, kiln_tensor *x, int64_t out_ch, int32_t k,
                                 int32_t stride, const char *cname, const char *bname,
                                 uint64_t seed)
{
    kiln_tensor *y = conv(g, x, out_ch, k, k / 2, stride, 0, cname, seed);
    return kiln_relu(g, kiln_batch_norm(g, y, bname, 0.1f, 1e-5f));
}

/* ---- The classifiers ---- */

static kiln_tensor *lenet(kiln_graph *g, kiln_tensor *x, const struct kiln_model_options *o)
{
    uint64_t s = o->seed;
    kiln_tensor *h = kiln_relu(g, conv(g, x, 6, 5, 2, 1, 1, "conv1", s));
    h = maxpool(g, h, 2, 2, 0);
    h = kiln_relu(g, conv(g, h, 16, 5, 0, 1, 1, "conv2", s));
    h = maxpool(g, h, 2, 2, 0);
    h = kiln_relu(g, dense(g, kiln_flatten(g, h), 120, "fc1", s));
    h = kiln_relu(g, dense(g, h, 84, "fc2", s));
    return dense(g, h, o->n_classes, "fc3", s);
}

static kiln_tensor *alexnet(kiln_graph *g, kiln_tensor *x, const struct kiln_model_options *o)
{
    uint64_t s = o->seed;
    kiln_tensor *h = kiln_relu(g, conv(g, x, 32, 5, 2, 1, 1, "conv1", s));
    h = maxpool(g, kiln_lrn(g, h, 5, 1e-4f, 0.75f, 2.0f), 3, 2, 0);
    h = kiln_relu(g, conv(g, h, 64, 3, 1, 1, 1, "conv2", s));
    h = maxpool(g, kiln_lrn(g, h, 5, 1e-4f, 0.75f, 2.0f), 3, 2, 0);
    h = kiln_relu(g, conv(g, h, 96, 3, 1, 1, 1, "conv3", s));
    h = kiln_relu(g, conv(g, h, 96, 3, 1, 1, 1, "conv4", s));
    h = kiln_relu(g, conv(g, h, 64, 3, 1, 1, 1, "conv5", s));
    h = kiln_flatten(g, maxpool(g, h, 3, 2, 0));
    h = kiln_relu(g, dense(g, kiln_dropout(g, h, o->dropout, s + 1), 256, "fc1", s));
    h = kiln_relu(g, dense(g, kiln_dropout(g, h, o->dropout, s + 2), 256, "fc2", s));
    return dense(g, h, o->n_classes, "fc3", s);
}

static kiln_tensor *vgg(kiln_graph *g, kiln_tensor *x, const struct kiln_model_options *o)
{
    static const int64_t widths[3] = {16, 32, 64};
    char cn[32], bn[32];
    kiln_tensor *h = x;
    int layer = 1;
    for (int st = 0; st < 3; st++) {
        for (int i = 0; i < 2; i++, layer++) {
            snprintf(cn, sizeof(cn), "conv%d", layer);
            snprintf(bn, sizeof(bn), "bn%d", layer);
            h = conv_bn_relu(g, h, widths[st], 3, 1, cn, bn, o->seed);
        }
        h = maxpool(g, h, 2, 2, 0);
    }
    h = kiln_relu(g, dense(g, kiln_flatten(g, h), 128, "fc1", o->seed));
    return dense(g, kiln_dropout(g, h, o->dropout, o->seed + 1), o->n_classes, "fc2", o->seed);
}

static kiln_tensor *googlenet(kiln_graph *g, kiln_tensor *x, const struct kiln_model_options *o)
{
    static const int64_t w3a[6] = {16, 16, 24, 4, 8, 8};   /* -> 56 */
    static const int64_t w3b[6] = {24, 24, 32, 4, 8, 16};  /* -> 80 */
    static const int64_t w4a[6] = {32, 32, 48, 8, 16, 16}; /* -> 112 */
    kiln_tensor *h = conv_bn_relu(g, x, 32, 3, 1, "conv1", "bn1", o->seed);
    h = maxpool(g, h, 2, 2, 0);
    h = kiln_inception_block(g, h, w3a, "inception3a", o->seed);
    h = kiln_inception_block(g, h, w3b, "inception3b", o->seed);
    h = maxpool(g, h, 3, 2, 1);
    h = kiln_inception_block(g, h, w4a, "inception4a", o->seed);
    h = kiln_flatten(g, kiln_global_avg_pool2d(g, h));
    return dense(g, h, o->n_classes, "fc", o->seed);
}

static kiln_tensor *resnet(kiln_graph *g, kiln_tensor *x, const struct kiln_model_options *o)
{
    char nm[32];
    kiln_tensor *h = conv_bn_relu(g, x, o->width, 3, 1, "conv1", "bn1", o->seed);
    for (int st = 0; st < 3; st++) {
        for (int b = 0; b < o->depth; b++) {
            snprintf(nm, sizeof(nm), "layer%d.%d", st + 1, b);
            h = kiln_basic_block(g, h, (int64_t)o->width << st, st > 0 && b == 0 ? 2 : 1, nm,
                                 o->seed);
        }
    }
    h = kiln_flatten(g, kiln_global_avg_pool2d(g, h));
    return dense(g, h, o->n_classes, "fc", o->seed);
}

kiln_tensor *kiln_model_build(kiln_graph *g, kiln_model m, kiln_tensor *x,
                              const struct kiln_model_options *o)
{
    static kiln_tensor *(*const build[KILN_MODEL_COUNT])(kiln_graph *, kiln_tensor *,
                                                         const struct kiln_model_options *) = {
        [KILN_MODEL_LENET] = lenet,         [KILN_MODEL_ALEXNET] = alexnet, [KILN_MODEL_VGG] = vgg,
        [KILN_MODEL_GOOGLENET] = googlenet, [KILN_MODEL_RESNET] = resnet,
    };
    struct kiln_model_options d = KILN_MODEL_OPTIONS_INIT;
    if (g == NULL) {
        return NULL;
    }
    if (o != NULL && o->struct_size < sizeof(*o)) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_model_build: bad struct_size");
    }
    o = o != NULL ? o : &d;
    if ((int)m < 0 || m >= KILN_MODEL_COUNT || o->n_classes < 1 || o->depth < 1 || o->width < 1 ||
        !(o->dropout >= 0.0f && o->dropout < 1.0f)) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                "kiln_model_build: model %d, %d classes, depth %d, width %d, "
                                "dropout %g",
                                (int)m, o->n_classes, o->depth, o->width, (double)o->dropout);
    }
    if (x == NULL) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_model_build: x is NULL");
    }
    if (x->flags & KILN__F_POISON) {
        return x;
    }
    int64_t min_hw = m == KILN_MODEL_RESNET ? 8 : 28;
    if (x->dtype != KILN_DTYPE_F32 || x->shape.rank != 4 || x->shape.dims[2] < min_hw ||
        x->shape.dims[3] < min_hw) {
        char sb[64];
        return kiln__graph_fail(g, KILN_E_SHAPE,
                                "kiln_model_build %s: x ('%s') is %s; expected f32 [N, C, H, W] "
                                "with H, W >= %lld",
                                model_names[m], x->name, kiln__shape_str(&x->shape, sb, sizeof(sb)),
                                (long long)min_hw);
    }
    return build[m](g, x, o);
}

/* ---- FLOPs ---- */

double kiln_graph_flops(const kiln_graph *g, int64_t batch)
{
    double f = 0.0;
    if (g == NULL || batch <= 0) {
        return 0.0;
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct kiln_tensor *n = g->nodes[i];
        if (n->op == KILN__OP_LEAF || (n->flags & KILN__F_BACKWARD) || n->op == KILN_OP_RESHAPE ||
            (n->flags & KILN__F_POISON)) {
            continue;
        }
        if (n->op == KILN_OP_CONV2D || n->op == KILN_OP_CONV2D_BIAS) {
            /* out [N, K, OH, OW], w [K, C/g, KH, KW]: each output sums C/g KH KW products
             * (CONV2D_BIAS: fused with the add and relu after it, counted as views) */
            const struct kiln_tensor *w = n->src[1];
            f += 2.0 * (double)n->n_elems * (double)(w->n_elems / w->shape.dims[0]);
        } else if (n->op == KILN_OP_CONV2D_BWD_DATA) {
            /* a transposed conv: x [N, C_in, H, W], w [C_in, C_out/g, KH, KW]: every input
             * element scatters into C_out/g KH KW outputs */
            const struct kiln_tensor *x = n->src[0], *w = n->src[1];
            f += 2.0 * (double)x->n_elems * (double)(w->n_elems / w->shape.dims[0]);
        } else if (n->op == KILN_OP_MATMUL || n->op == KILN_OP_MATMUL_BIAS) {
            /* MATMUL_BIAS: a product the planner fused with the add (and relu) after it,
             * which stay in the graph as views and are counted there */
            const struct kiln__p_matmul *p = (const void *)n->params;
            const struct kiln_tensor *a = n->src[0];
            int32_t r = a->shape.rank;
            int64_t k = p->trans_a ? a->shape.dims[r - 2] : a->shape.dims[r - 1];
            f += 2.0 * (double)n->n_elems * (double)k;
        } else {
            f += (double)n->n_elems;
        }
    }
    return f / (double)batch;
}

/* ---- DCGAN ---- */

kiln_tensor *kiln_dcgan_generator(kiln_graph *g, kiln_tensor *z, int64_t width, uint64_t seed)
{
    if (g == NULL) {
        return NULL;
    }
    if (z == NULL || width < 1) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_dcgan_generator: z NULL or width %lld",
                                (long long)width);
    }
    if (z->flags & KILN__F_POISON) {
        return z;
    }
    if (z->dtype != KILN_DTYPE_F32 || z->shape.rank != 2) {
        return kiln__graph_fail(g, KILN_E_SHAPE, "kiln_dcgan_generator: z must be f32 [N, nz]");
    }
    int64_t nz = z->shape.dims[1];
    int64_t zd[4] = {z->shape.dims[0], nz, 1, 1};
    int64_t w1[4] = {nz, 4 * width, 7, 7}, w2[4] = {2 * width, 4 * width, 3, 3};
    int64_t w3[4] = {width, 2 * width, 3, 3}, w4[4] = {1, width, 3, 3}, bd[3] = {1, 1, 1};
    struct kiln_conv2d_opts o1 = KILN_CONV2D_OPTS_INIT, o3 = KILN_CONV2D_OPTS_INIT;
    o3.padding[0] = o3.padding[1] = 1;
    /* 1x1 -> 7x7 projection, then nearest upsampling + 3x3 convs to 14x14 and 28x28:
     * unlike stride-2 transposed convs, neighbouring output pixels get the same number
     * of kernel taps, so the samples carry no checkerboard */
    kiln_tensor *h = kiln_reshape(g, z, 4, zd);
    h = kiln_conv_transpose2d(
        g, h, kiln_param(g, "gen.deconv1.weight", 4, w1, KILN_INIT_NORMAL, 0.02f, seed), &o1);
    h = kiln_relu(g, kiln_batch_norm(g, h, "gen.bn1", 0.1f, 1e-5f));
    h = kiln_upsample_nearest2d(g, h, 2, 2);
    h = kiln_conv2d(g, h, kiln_param(g, "gen.conv2.weight", 4, w2, KILN_INIT_NORMAL, 0.02f, seed),
                    &o3);
    h = kiln_relu(g, kiln_batch_norm(g, h, "gen.bn2", 0.1f, 1e-5f));
    h = kiln_upsample_nearest2d(g, h, 2, 2);
    h = kiln_conv2d(g, h, kiln_param(g, "gen.conv3.weight", 4, w3, KILN_INIT_NORMAL, 0.02f, seed),
                    &o3);
    h = kiln_relu(g, kiln_batch_norm(g, h, "gen.bn3", 0.1f, 1e-5f));
    h = kiln_conv2d(g, h, kiln_param(g, "gen.conv4.weight", 4, w4, KILN_INIT_NORMAL, 0.02f, seed),
                    &o3);
    /* the bias is [1] as nn.Conv2d's, added as a [1, 1, 1] view */
    kiln_tensor *b = kiln_param(g, "gen.conv4.bias", 1, bd, KILN_INIT_ZEROS, 0.0f, seed);
    h = kiln_add(g, h, kiln_reshape(g, b, 3, bd));
    return kiln_tanh(g, h);
}

static kiln_tensor *disc_leaf(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims,
                              kiln_init init, int frozen, uint64_t seed)
{
    (void)frozen; /* frozen: the caller froze "disc." in g */
    return kiln_param(g, name, rank, dims, init, init == KILN_INIT_NORMAL ? 0.02f : 0.0f, seed);
}

/* h + the bias "<name>" [K] (nn.Conv2d's shape) as a [K, 1, 1] view, zeros initially. */
static kiln_tensor *disc_bias(kiln_graph *g, kiln_tensor *h, const char *name, int64_t k,
                              int frozen, uint64_t seed)
{
    int64_t bd[3] = {k, 1, 1};
    kiln_tensor *b = disc_leaf(g, name, 1, bd, KILN_INIT_ZEROS, frozen, seed);
    return kiln_add(g, h, kiln_reshape(g, b, 3, bd));
}

kiln_tensor *kiln_dcgan_discriminator(kiln_graph *g, kiln_tensor *x, int64_t width, int frozen,
                                      uint64_t seed)
{
    if (g == NULL) {
        return NULL;
    }
    if (x == NULL || width < 1) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                "kiln_dcgan_discriminator: x NULL or width %lld", (long long)width);
    }
    if (frozen) {
        kiln_graph_freeze(g, "disc.");
    }
    if (x->flags & KILN__F_POISON) {
        return x;
    }
    if (x->dtype != KILN_DTYPE_F32 || x->shape.rank != 4 || x->shape.dims[1] != 1 ||
        x->shape.dims[2] != 28 || x->shape.dims[3] != 28) {
        return kiln__graph_fail(g, KILN_E_SHAPE,
                                "kiln_dcgan_discriminator: x must be f32 [N, 1, 28, 28]");
    }
    int64_t w1[4] = {width, 1, 4, 4}, w2[4] = {2 * width, width, 4, 4};
    int64_t w3[4] = {1, 2 * width, 7, 7}, od[2] = {x->shape.dims[0], 1};
    struct kiln_conv2d_opts o = KILN_CONV2D_OPTS_INIT, o3 = KILN_CONV2D_OPTS_INIT;
    o.stride[0] = o.stride[1] = 2;
    o.padding[0] = o.padding[1] = 1;
    kiln_tensor *h = kiln_conv2d(
        g, x, disc_leaf(g, "disc.conv1.weight", 4, w1, KILN_INIT_NORMAL, frozen, seed), &o);
    h = disc_bias(g, h, "disc.conv1.bias", width, frozen, seed);
    h = kiln_leaky_relu(g, h, 0.2f);
    h = kiln_conv2d(g, h, disc_leaf(g, "disc.conv2.weight", 4, w2, KILN_INIT_NORMAL, frozen, seed),
                    &o);
    h = disc_bias(g, h, "disc.conv2.bias", 2 * width, frozen, seed);
    h = kiln_leaky_relu(g, h, 0.2f);
    h = kiln_conv2d(g, h, disc_leaf(g, "disc.conv3.weight", 4, w3, KILN_INIT_NORMAL, frozen, seed),
                    &o3);
    h = disc_bias(g, h, "disc.conv3.bias", 1, frozen, seed);
    return kiln_reshape(g, h, 2, od);
}
