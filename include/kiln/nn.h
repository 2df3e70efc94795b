/*
 * kiln/nn.h - layers built from graph ops: a dense (fully connected) layer with named,
 * PyTorch-laid-out parameters, a multi-layer perceptron made of them, and the
 * convolutional layers and blocks (conv, transposed conv, batch norm, residual and
 * inception blocks).
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

/* ==== Convolutional layers (src/nn/conv.c) ==== */

/*
 * Layers over NCHW f32 tensors, with PyTorch's parameter names, layouts and default
 * initialization, so weights exchange with torch.nn unchanged. Like kiln_dense they
 * append nodes and parameters to g, return a tensor, and on a bad argument record the
 * graph's first error and return the poisoned tensor. name is a prefix of 1 to 48
 * characters, unique in g; seed keys the initializers (each parameter draws from its
 * own stream). Parameterless layers are the op builders of kiln/graph.h:
 * kiln_max_pool2d, kiln_avg_pool2d, kiln_global_avg_pool2d, kiln_lrn, kiln_dropout.
 */

/* nn.Conv2d(C, out_channels, (kernel_h, kernel_w), ...) on x [N, C, H, W]: parameters
 * "<name>.weight" [out_channels, C/groups, kernel_h, kernel_w] and, when use_bias,
 * "<name>.bias" [out_channels] (added as an [out_channels, 1, 1] view). Both U(-b, b) with
 * b = 1 / sqrt(C/groups kernel_h kernel_w): PyTorch's kaiming_uniform_(a = sqrt(5)).
 * opts: stride, padding, dilation, groups (NULL: KILN_CONV2D_OPTS_INIT). */
KILN_API kiln_tensor *kiln_conv2d_layer(kiln_graph *g, kiln_tensor *x, int64_t out_channels,
                                        int32_t kernel_h, int32_t kernel_w,
                                        const struct kiln_conv2d_opts *opts, int use_bias,
                                        const char *name, uint64_t seed);

/* nn.ConvTranspose2d(C, out_channels, ...): "<name>.weight" [C, out_channels/groups,
 * kernel_h, kernel_w], bias as kiln_conv2d_layer; b = 1 / sqrt(out_channels/groups
 * kernel_h kernel_w) as PyTorch computes it. opts.output_padding applies. */
KILN_API kiln_tensor *kiln_conv_transpose2d_layer(kiln_graph *g, kiln_tensor *x,
                                                  int64_t out_channels, int32_t kernel_h,
                                                  int32_t kernel_w,
                                                  const struct kiln_conv2d_opts *opts, int use_bias,
                                                  const char *name, uint64_t seed);

/*
 * nn.BatchNorm1d/2d(C, eps, momentum) over dim 1 of x [N, C], [N, C, L] or [N, C, H, W].
 * Parameters "<name>.weight" (gamma, ones) and "<name>.bias" (beta, zeros); running
 * statistics "<name>.running_mean" (zeros) and "<name>.running_var" (ones) are buffers
 * (saved and loaded with the parameters by kiln_graph_save/load, never trained,
 * re-initialized by kiln_graph_reset_params). Training runs
 * (kiln_graph_run) normalize with the batch mean and biased variance and then update the
 * running statistics (r = (1 - momentum) r + momentum batch, unbiased variance);
 * kiln_graph_eval normalizes with the running statistics. PyTorch: momentum 0.1, eps
 * 1e-5.
 */
KILN_API kiln_tensor *kiln_batch_norm(kiln_graph *g, kiln_tensor *x, const char *name,
                                      float momentum, float eps);

/*
 * torchvision's ResNet BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)),
 * conv1 3x3 with stride, conv2 3x3, both padding 1 without bias; the shortcut is x, or
 * when stride != 1 or the channel count changes a 1x1 conv with stride and a batch norm
 * ("<name>.downsample.0", "<name>.downsample.1"). Names: "<name>.conv1", "<name>.bn1", ...
 */
KILN_API kiln_tensor *kiln_basic_block(kiln_graph *g, kiln_tensor *x, int64_t out_channels,
                                       int32_t stride, const char *name, uint64_t seed);

/*
 * GoogLeNet's inception block (v1, with biases and ReLUs): four branches concatenated
 * along channels - a 1x1 conv (widths[0]); 1x1 (widths[1]) then 3x3 padding 1
 * (widths[2]); 1x1 (widths[3]) then 5x5 padding 2 (widths[4]); 3x3 max pool stride 1
 * padding 1 then 1x1 (widths[5]). Output channels: widths[0] + widths[2] + widths[4] +
 * widths[5]. Names: "<name>.branch1", "<name>.branch2.0", "<name>.branch2.1", ...
 */
KILN_API kiln_tensor *kiln_inception_block(kiln_graph *g, kiln_tensor *x, const int64_t widths[6],
                                           const char *name, uint64_t seed);

/* ==== Image classifiers and a DCGAN (src/nn/models.c) ==== */

/*
 * Ready-made convolutional classifiers for small NCHW images (designed for 28x28
 * Fashion-MNIST and MNIST; 32x32 works too), assembled from the layers above. Parameter
 * names are "<layer>.weight"/".bias" as the layers make them (e.g. "conv1.weight",
 * "fc3.bias", "layer2.0.conv1.weight").
 */
typedef enum kiln_model {
    KILN_MODEL_LENET = 0, /* LeNet-5: conv5x5(6, pad 2)-relu-maxpool, conv5x5(16)-relu-
                             maxpool, fc 120-84-classes */
    KILN_MODEL_ALEXNET,   /* AlexNet-style: conv-relu-LRN-maxpool stem twice, three 3x3
                             convs, max pool, fc layers with dropout */
    KILN_MODEL_VGG,       /* VGG-style: three stages of two 3x3 conv-BN-relu and a 2x2 max
                             pool, fc 128 with dropout, fc classes */
    KILN_MODEL_GOOGLENET, /* a 3x3 conv-BN-relu stem, max pool, three inception blocks,
                             global average pool, fc classes */
    KILN_MODEL_RESNET,    /* ResNet-(6n+2) for small images: 3x3 conv-BN-relu, three stages
                             of n basic blocks (width, 2 width, 4 width channels; strides 1,
                             2, 2), global average pool, fc classes */
    KILN_MODEL_COUNT
} kiln_model;

struct kiln_model_options {
    uint32_t struct_size; /* sizeof(struct kiln_model_options) */
    int32_t n_classes;    /* default 10 */
    int32_t depth;        /* KILN_MODEL_RESNET: blocks per stage n (depth 6n + 2); default 3 */
    int32_t width;        /* KILN_MODEL_RESNET: channels of the first stage; default 16 */
    float dropout;        /* KILN_MODEL_ALEXNET, _VGG: drop probability; default 0.5 */
    uint64_t seed;        /* initializer and dropout seed */
};

#define KILN_MODEL_OPTIONS_INIT                                                                    \
    {                                                                                              \
        sizeof(struct kiln_model_options), 10, 3, 16, 0.5f, 0                                      \
    }

/* Returns "lenet", "alexnet", "vgg", "googlenet" or "resnet"; NULL for a bad value. */
KILN_API const char *kiln_model_name(kiln_model m);

/* Finds the model called name (as kiln_model_name returns it). [out] out: the model.
 * Returns KILN_OK or KILN_E_INVALID_ARG. */
KILN_API kiln_status kiln_model_from_name(const char *name, kiln_model *out);

/*
 * Appends model m to g on x [N, C, H, W] (H, W >= 28; resnet takes any size >= 8) and
 * returns its logits [N, n_classes]. [in] o: borrowed; NULL means
 * KILN_MODEL_OPTIONS_INIT. Errors are recorded in g as for every builder.
 */
KILN_API kiln_tensor *kiln_model_build(kiln_graph *g, kiln_model m, kiln_tensor *x,
                                       const struct kiln_model_options *o);

/*
 * Floating-point operations of one forward pass through g's forward nodes (those not
 * added by kiln_graph_backward or an optimizer): 2 per multiply-add of convolutions and
 * matrix products plus 1 per output element of every other op, divided by batch (> 0),
 * so that it gives FLOPs per image.
 */
KILN_API double kiln_graph_flops(const kiln_graph *g, int64_t batch);

/*
 * DCGAN-style generator for 28x28 one-channel images: z [N, nz] is viewed as
 * [N, nz, 1, 1] and projected by a 7x7 transposed conv to 4 width channels at 7x7;
 * then nearest upsampling x2 and a 3x3 conv (2 width, 14x14), nearest upsampling x2
 * and a 3x3 conv (width, 28x28), each followed by batch norm and ReLU, and a 3x3 conv
 * with bias to 1 channel and tanh, so images lie in [-1, 1]. Upsampling + conv instead
 * of stride-2 transposed convs keeps the samples free of checkerboard artifacts.
 * Weights N(0, 0.02) as in the DCGAN paper. Names "gen.deconv1.weight", "gen.bn1",
 * "gen.conv2.weight", ..., "gen.conv4.bias". Returns [N, 1, 28, 28].
 */
KILN_API kiln_tensor *kiln_dcgan_generator(kiln_graph *g, kiln_tensor *z, int64_t width,
                                           uint64_t seed);

/*
 * DCGAN-style discriminator for x [N, 1, 28, 28]: 4x4 stride-2 convs (width, then
 * 2 width channels) with leaky ReLU (0.2), then a 7x7 conv to one logit; returns [N, 1]
 * (train it with kiln_bce_logits). Names "disc.conv1.weight", ..., "disc.conv3.bias".
 * With frozen != 0 the builder freezes "disc." in g (kiln_graph_freeze): g borrows the
 * store's discriminator parameters without computing their gradients, so that a
 * generator's graph back-propagates through the discriminator that another graph over
 * the same store trains, with no copy.
 */
KILN_API kiln_tensor *kiln_dcgan_discriminator(kiln_graph *g, kiln_tensor *x, int64_t width,
                                               int frozen, uint64_t seed);

/* ==== Recurrent layers (src/nn/rnn.c) ==== */

/* The cell of a recurrent layer, with PyTorch's equations and gate order:
 *  - KILN_RNN_TANH, KILN_RNN_RELU (nn.RNN): h' = act(W_ih x + b_ih + W_hh h + b_hh);
 *  - KILN_RNN_LSTM (nn.LSTM): gates i, f, g, o (in that order in the weights' rows),
 *    c' = f c + i g, h' = o tanh(c');
 *  - KILN_RNN_GRU (nn.GRU): gates r, z, n, n = tanh(W_in x + b_in + r (W_hn h + b_hn)),
 *    h' = (1 - z) n + z h. */
typedef enum kiln_rnn_cell {
    KILN_RNN_TANH = 0,
    KILN_RNN_RELU = 1,
    KILN_RNN_LSTM = 2,
    KILN_RNN_GRU = 3,
} kiln_rnn_cell;

/* Options of kiln_rnn(). Initialize with KILN_RNN_OPTIONS_INIT and set hidden. */
struct kiln_rnn_options {
    uint32_t struct_size; /* sizeof(struct kiln_rnn_options) */
    kiln_rnn_cell cell;   /* default KILN_RNN_LSTM */
    int64_t hidden;       /* H, > 0 (no default) */
    int32_t n_layers;     /* stacked layers; default 1 */
    int32_t bidirectional;
    int32_t batch_first; /* 1: x is [N, T, C], the mask [N, T] and y [N, T, D H] */
    int32_t use_bias;    /* default 1: b_ih and b_hh */
    float dropout;       /* on every layer's output but the last's, in training runs */
    uint64_t seed;       /* initializer and dropout seed */
};

#define KILN_RNN_OPTIONS_INIT                                                                      \
    {                                                                                              \
        sizeof(struct kiln_rnn_options), KILN_RNN_LSTM, 0, 1, 0, 0, 1, 0.0f, 0                     \
    }

/* Returns "rnn_tanh", "rnn_relu", "lstm" or "gru"; NULL for a bad value. */
KILN_API const char *kiln_rnn_cell_name(kiln_rnn_cell cell);

/*
 * PyTorch's nn.RNN / nn.LSTM / nn.GRU(C, hidden, n_layers, bias, batch_first, dropout,
 * bidirectional) over x [T, N, C] (time first, as PyTorch by default): returns y
 * [T, N, D H] (D = 2 when bidirectional: the forward direction's H features, then the
 * reverse direction's), the last layer's h at every step.
 * Parameters "<name>.weight_ih_l<k>" [G, C_k], "<name>.weight_hh_l<k>" [G, H],
 * "<name>.bias_ih_l<k>", "<name>.bias_hh_l<k>" [G], and the reverse direction's with
 * "_reverse" appended (G = H, 4 H or 3 H), all U(-1/sqrt(H), 1/sqrt(H)) as PyTorch
 * initializes them, so state dicts exchange with PyTorch unchanged.
 * Variable lengths: mask (f32 [T, N], or [N, T] with batch_first; NULL: every step is
 * real) marks real steps with 1 and padding with 0. Padding must follow each
 * sequence's real steps. A padded step keeps the state unchanged, its outputs in y are
 * 0, and it contributes nothing to any gradient, so each sequence of a padded batch
 * gets the outputs, final states and gradients it gets alone (as with PyTorch's packed
 * sequences).
 * [in] h0, c0: initial states [L D, N, H] (layer-major, directions inner, as PyTorch;
 * c0 for an LSTM only), or NULL for zeros; they get gradients like any tensor.
 * [out] h_n, c_n: when not NULL, the final states [L D, N, H] (for each sequence, the
 * state after its last real step; c_n only for an LSTM, else set to NULL).
 * [in] o: borrowed; name: parameter prefix of 1 to 40 characters.
 * Returns y, or the poisoned tensor with the error recorded in g (KILN_E_INVALID_ARG,
 * KILN_E_SHAPE). Not thread-safe with respect to other builders on g.
 */
KILN_API kiln_tensor *kiln_rnn(kiln_graph *g, kiln_tensor *x, kiln_tensor *mask, kiln_tensor *h0,
                               kiln_tensor *c0, const struct kiln_rnn_options *o, const char *name,
                               kiln_tensor **h_n, kiln_tensor **c_n);

/* ==== Sequence layers (src/nn/seq_layers.c) ==== */

/*
 * nn.Conv1d(C, out_channels, kernel, padding=padding) on x [N, C, L] (zero padding,
 * stride 1): "<name>.weight" [out_channels, C, kernel] and, when use_bias,
 * "<name>.bias" [out_channels], both U(-b, b) with b = 1 / sqrt(C kernel) as PyTorch
 * initializes them. Returns [N, out_channels, L + 2 padding - kernel + 1]. name: 1 to
 * 48 characters. Errors are recorded in g as for every builder.
 */
KILN_API kiln_tensor *kiln_conv1d_layer(kiln_graph *g, kiln_tensor *x, int64_t out_channels,
                                        int32_t kernel, int32_t padding, int use_bias,
                                        const char *name, uint64_t seed);

/*
 * The maximum and the mean over the steps of x [N, C, L] -> [N, C]. mask: f32 [N, L],
 * 1 at real steps and 0 at padding, or NULL when every step is real; each sequence needs
 * a real step. A padded step never wins the maximum (it is pushed 1e30 below before the
 * max, so it gets no gradient) and does not count in the mean (the sum of the real
 * steps divided by their number).
 */
KILN_API kiln_tensor *kiln_max_over_time(kiln_graph *g, kiln_tensor *x, kiln_tensor *mask);
KILN_API kiln_tensor *kiln_mean_over_time(kiln_graph *g, kiln_tensor *x, kiln_tensor *mask);

/* ==== Sequence models (src/nn/seq_models.c) ==== */

/* Options of kiln_char_lm(). Initialize with KILN_CHAR_LM_OPTIONS_INIT and set vocab. */
struct kiln_char_lm_options {
    uint32_t struct_size; /* sizeof(struct kiln_char_lm_options) */
    kiln_rnn_cell cell;   /* default KILN_RNN_LSTM */
    int64_t vocab;        /* V: characters, the one-hot width and the logits (no default) */
    int64_t hidden;       /* default 256 */
    int32_t n_layers;     /* default 1 */
    float dropout;        /* between layers and before the decoder, in training runs */
    uint64_t seed;        /* initializer and dropout seed */
};

#define KILN_CHAR_LM_OPTIONS_INIT                                                                  \
    {                                                                                              \
        sizeof(struct kiln_char_lm_options), KILN_RNN_LSTM, 0, 256, 1, 0.0f, 0                     \
    }

/*
 * A character language model (char-rnn): x f32 [T, N, V], each step's character as a
 * one-hot row (so the first layer's input weight is the character embedding), through
 * kiln_rnn ("rnn.weight_ih_l0", ...; time first, every step real) and a dense decoder
 * ("decoder.weight" [V, H], "decoder.bias" [V]) to logits [T, N, V] for the next
 * character (train with kiln_softmax_xent on [T N, V]). [in] h0, c0: initial states
 * [L, N, H] (c0 for an LSTM only) or NULL for zeros, so that training on contiguous
 * streams carries the state from one chunk to the next. [out] h_n, c_n: the final
 * states (may be NULL; c_n NULL unless LSTM). [in] o: borrowed.
 * Returns the logits or the poisoned tensor (errors as kiln_rnn).
 */
KILN_API kiln_tensor *kiln_char_lm(kiln_graph *g, kiln_tensor *x, kiln_tensor *h0, kiln_tensor *c0,
                                   const struct kiln_char_lm_options *o, kiln_tensor **h_n,
                                   kiln_tensor **c_n);

/* The text classifiers of kiln_text_classifier(). */
typedef enum kiln_text_model {
    KILN_TEXT_CNN = 0,  /* convolutions of several widths, max over time (Kim, 2014) */
    KILN_TEXT_RNN = 1,  /* a recurrent layer, max over time of its outputs */
    KILN_TEXT_ATTN = 2, /* pre-norm transformer encoder layers (kiln_text_transformer) */
} kiln_text_model;

/* Options of kiln_text_classifier(). Initialize with KILN_TEXT_CLASSIFIER_OPTIONS_INIT
 * and set vocab and n_classes. */
struct kiln_text_classifier_options {
    uint32_t struct_size;  /* sizeof(struct kiln_text_classifier_options) */
    kiln_text_model model; /* default KILN_TEXT_RNN */
    int64_t vocab;         /* rows of the embedding (id 0 is padding); no default */
    int64_t n_classes;     /* no default */
    int64_t embed;         /* embedding width; default 128 */
    kiln_rnn_cell cell;    /* KILN_TEXT_RNN: default KILN_RNN_LSTM */
    int64_t hidden;        /* KILN_TEXT_RNN: default 128; KILN_TEXT_ATTN: the feed-forward
                              width (0: 4 embed) */
    int32_t n_layers;      /* KILN_TEXT_RNN, KILN_TEXT_ATTN: default 1 */
    int32_t bidirectional; /* KILN_TEXT_RNN: default 0 */
    int64_t filters;       /* KILN_TEXT_CNN: filters per width; default 200 */
    int32_t n_widths;      /* KILN_TEXT_CNN: 1 to 4 widths; default 4 */
    int32_t widths[4];     /* KILN_TEXT_CNN: default 1, 2, 3, 4 */
    float dropout;         /* on the pooled features, in training runs; default 0.5
                              (KILN_TEXT_ATTN: also in the encoder layers) */
    uint64_t seed;         /* initializer and dropout seed */
    int32_t n_heads;       /* KILN_TEXT_ATTN: attention heads, dividing embed; default 4 */
    int32_t attn_pool;     /* KILN_TEXT_RNN: 1: additive attention pooling of the outputs
                              instead of their maximum; default 0 */
    float embed_std;       /* the embedding's N(0, embed_std^2) init; default 1
                              (nn.Embedding's) */
};

#define KILN_TEXT_CLASSIFIER_OPTIONS_INIT                                                          \
    {                                                                                              \
        sizeof(struct kiln_text_classifier_options), KILN_TEXT_RNN, 0, 0, 128, KILN_RNN_LSTM, 128, \
            1, 0, 200, 4, {1, 2, 3, 4}, 0.5f, 0, 4, 0, 1.0f                                        \
    }

/*
 * A text classifier over padded id matrices (kiln_text_iter's batches): ids i32 [N, T]
 * (0 is padding), lengths i32 [N] (each >= 1), and optionally bigram_ids i32 [N, T]
 * (the character bigram at each step, in the same id space; NULL: none). The ids are
 * embedded ("embedding.weight" [vocab, embed], N(0, 1) as nn.Embedding; the padding row
 * gets no gradient and id 0 reads zeros), a step's bigram embedding added to its
 * character's (as fastText sums n-gram embeddings), then
 *  - KILN_TEXT_CNN: for each width k, nn.Conv1d(embed, filters, k, padding=k-1)
 *    ("convs.<i>.weight", "convs.<i>.bias"), ReLU, and the maximum and the mean over
 *    the windows that hold a real character (kiln_max_over_time, kiln_mean_over_time:
 *    which features occur, and how often); the widths' 2 filters features concatenated;
 *  - KILN_TEXT_RNN: kiln_rnn ("rnn.*", batch first, masked by the lengths), and the
 *    maximum of its outputs over the real steps (attn_pool: their additive attention
 *    pooling, kiln_additive_attention_pool "pool", attention width = the outputs');
 *  - KILN_TEXT_ATTN: kiln_text_transformer (kiln/attention.h) with embed, n_heads,
 *    n_layers, hidden as the feed-forward width and dropout, which pools and ends in
 *    "fc" itself (its embedding is the same "embedding.weight");
 * otherwise dropout and a dense layer "fc" to logits [N, n_classes] (train with
 * kiln_softmax_xent). [in] o: borrowed. Returns the logits or the poisoned tensor
 * (errors recorded in g as for every builder).
 */
KILN_API kiln_tensor *kiln_text_classifier(kiln_graph *g, kiln_tensor *ids, kiln_tensor *bigram_ids,
                                           kiln_tensor *lengths,
                                           const struct kiln_text_classifier_options *o);

#ifdef __cplusplus
}
#endif

#endif /* KILN_NN_H */
