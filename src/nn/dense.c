/*
 * dense.c - the dense layer (y = x W^T + b with PyTorch's [out, in] weight layout and
 * nn.Linear's default initialization) and the multi-layer perceptron built from it.
 * Layers are compositions of graph ops: they add parameters and nodes, no kernels.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "kiln/nn.h"

static int valid_init(kiln_init i)
{
    return (int)i >= KILN_INIT_ZEROS && (int)i <= KILN_INIT_FAN_IN_UNIFORM;
}

kiln_tensor *kiln_dense(kiln_graph *g, kiln_tensor *x, int64_t n_out, const char *name,
                        const struct kiln_dense_options *opt)
{
    struct kiln_dense_options defaults = KILN_DENSE_OPTIONS_INIT;
    char wname[64], bname[64];
    if (g == NULL) {
        return NULL;
    }
    if (x == NULL) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_dense: x is NULL");
    }
    if (x->flags & KILN__F_POISON) {
        return x;
    }
    if (opt == NULL) {
        opt = &defaults;
    }
    if (opt->struct_size < sizeof(*opt)) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_dense: struct_size %u is too small",
                                opt->struct_size);
    }
    if (name == NULL || name[0] == '\0' || strlen(name) > 56) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                "kiln_dense: the layer needs a name of 1 to 56 characters");
    }
    if (n_out <= 0) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_dense '%s': n_out is %lld", name,
                                (long long)n_out);
    }
    if (!valid_init(opt->weight_init) || !valid_init(opt->bias_init)) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_dense '%s': unknown initializer",
                                name);
    }
    if (x->dtype != KILN_DTYPE_F32 || x->shape.rank < 2) {
        char sb[64];
        return kiln__graph_fail(
            g, KILN_E_SHAPE, "kiln_dense '%s': x ('%s') is %s %s; it must be f32 [N, n_in]", name,
            x->name, kiln_dtype_name(x->dtype), kiln__shape_str(&x->shape, sb, sizeof(sb)));
    }
    if (x->shape.rank > 2) {
        x = kiln_flatten(g, x);
    }
    int64_t n_in = x->shape.dims[1];
    int64_t wd[2] = {n_out, n_in}, bd[1] = {n_out};
    snprintf(wname, sizeof(wname), "%s.weight", name);
    snprintf(bname, sizeof(bname), "%s.bias", name);
    kiln_tensor *w = kiln_param(g, wname, 2, wd, opt->weight_init, opt->weight_arg, opt->seed);
    kiln_tensor *y = kiln_matmul(g, x, w, 0, 1);
    if (!opt->use_bias) {
        return y;
    }
    kiln_init bi = opt->bias_init;
    float barg = opt->bias_arg;
    if (bi == KILN_INIT_FAN_IN_UNIFORM) {
        /* nn.Linear draws the bias from U(-1/sqrt(in), 1/sqrt(in)) of the weight's fan_in. */
        bi = KILN_INIT_UNIFORM;
        barg = (float)(1.0 / sqrt((double)n_in));
    }
    kiln_tensor *b = kiln_param(g, bname, 1, bd, bi, barg, opt->seed);
    return kiln_add(g, y, b);
}

static kiln_tensor *activate(kiln_graph *g, kiln_tensor *x, kiln_activation act)
{
    switch (act) {
    case KILN_ACTIVATION_RELU:
        return kiln_relu(g, x);
    case KILN_ACTIVATION_TANH:
        return kiln_tanh(g, x);
    case KILN_ACTIVATION_SIGMOID:
        return kiln_sigmoid(g, x);
    case KILN_ACTIVATION_GELU:
        return kiln_gelu(g, x);
    }
    return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_mlp: unknown activation %d", (int)act);
}

kiln_tensor *kiln_mlp(kiln_graph *g, kiln_tensor *x, int32_t n_layers, const int64_t *sizes,
                      kiln_activation act, const struct kiln_dense_options *opt)
{
    char name[32];
    if (g == NULL) {
        return NULL;
    }
    if (n_layers <= 0 || sizes == NULL) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG, "kiln_mlp: %d layers, sizes %s", n_layers,
                                sizes == NULL ? "NULL" : "given");
    }
    for (int32_t i = 0; i < n_layers; i++) {
        snprintf(name, sizeof(name), "fc%d", i + 1);
        x = kiln_dense(g, x, sizes[i], name, opt);
        if (i + 1 < n_layers) {
            x = activate(g, x, act);
        }
    }
    return x;
}

int64_t kiln_graph_n_param_elems(const kiln_graph *g)
{
    int64_t n = 0;
    for (int32_t i = 0; g != NULL && i < g->n_nodes; i++) {
        if (g->nodes[i]->flags & KILN__F_PARAM) {
            n += g->nodes[i]->n_elems;
        }
    }
    return n;
}
