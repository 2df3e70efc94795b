/*
 * kiln/nn.h - layers built from graph ops: a dense (fully connected) layer with named,
 * PyTorch-laid-out parameters, and a multi-layer perceptron made of them.
 *
 * Layers only append nodes and parameters to a graph; they own nothing. Like every
 * graph builder (kiln/graph.h) they return a tensor and record the graph's first error
 * on a bad argument, returning a poisoned tensor. Losses and optimizers are in
 * kiln/graph.h and kiln/optim.h; data loading and training loops in kiln/data.h and
 * kiln/train.h.
 */
#ifndef KILN_NN_H
#define KILN_NN_H

#include <stdint.h>

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Dense layer ---- */

/* Options of kiln_dense(). Initialize with KILN_DENSE_OPTIONS_INIT. */
struct kiln_dense_options {
    uint32_t struct_size;  /* sizeof(struct kiln_dense_options) */
    kiln_init weight_init; /* default KILN_INIT_FAN_IN_UNIFORM (PyTorch's nn.Linear) */
    float weight_arg;      /* the initializer's argument (KILN_INIT_UNIFORM, _NORMAL, ...) */
    /* KILN_INIT_FAN_IN_UNIFORM here means U(-1/sqrt(n_in), 1/sqrt(n_in)) with the layer's
     * n_in, as nn.Linear does; other initializers see the bias as a rank-1 tensor. */
    kiln_init bias_init;
    float bias_arg;
    int32_t use_bias; /* 1 (default): add "<name>.bias"; 0: no bias */
    uint64_t seed;    /* initializer seed; each parameter also draws from its own stream */
};

#define KILN_DENSE_OPTIONS_INIT                                                                    \
    {                                                                                              \
        sizeof(struct kiln_dense_options), KILN_INIT_FAN_IN_UNIFORM, 0.0f,                         \
            KILN_INIT_FAN_IN_UNIFORM, 0.0f, 1, 0                                                   \
    }

/*
 * A fully connected layer: y = x W^T + b, for x of shape [N, n_in] (a rank > 2 input is
 * flattened to [N, prod(rest)] first). Creates the parameters "<name>.weight" of shape
 * [n_out, n_in] (PyTorch's layout, so weights exchange with nn.Linear unchanged) and
 * "<name>.bias" of shape [n_out].
 * [in] g: the graph. [in] x: a tensor of g. [in] n_out: output features, > 0.
 * [in] name: parameter prefix, borrowed, unique in g, at most 56 characters.
 * [in] opt: borrowed; NULL means KILN_DENSE_OPTIONS_INIT.
 * Returns the [N, n_out] output, or the poisoned tensor with the error recorded in g
 * (KILN_E_INVALID_ARG for a bad name, n_out or option struct; KILN_E_SHAPE for a bad x).
 * Not thread-safe with respect to other builders on g.
 */
KILN_API kiln_tensor *kiln_dense(kiln_graph *g, kiln_tensor *x, int64_t n_out, const char *name,
                                 const struct kiln_dense_options *opt);

/* ---- Multi-layer perceptron ---- */

typedef enum kiln_activation {
    KILN_ACTIVATION_RELU = 0,
    KILN_ACTIVATION_TANH = 1,
    KILN_ACTIVATION_SIGMOID = 2,
    KILN_ACTIVATION_GELU = 3,
} kiln_activation;

/*
 * A stack of n_layers dense layers named "fc1", "fc2", ...; every layer but the last
 * is followed by act. kiln_mlp(g, x, 3, (int64_t[]){256, 128, 10}, KILN_ACTIVATION_RELU,
 * NULL) is the 784-256-128-10 classifier of `kiln train mlp` and returns its logits.
 * [in] sizes: borrowed, n_layers output widths. [in] opt: borrowed, applied to every
 * layer; NULL means KILN_DENSE_OPTIONS_INIT.
 * Returns the last layer's output or the poisoned tensor (errors as kiln_dense()).
 */
KILN_API kiln_tensor *kiln_mlp(kiln_graph *g, kiln_tensor *x, int32_t n_layers,
                               const int64_t *sizes, kiln_activation act,
                               const struct kiln_dense_options *opt);

/* Returns the total number of elements of g's trainable parameters. */
KILN_API int64_t kiln_graph_n_param_elems(const kiln_graph *g);

#ifdef __cplusplus
}
#endif

#endif /* KILN_NN_H */
