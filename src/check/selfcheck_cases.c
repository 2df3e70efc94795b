/*
 * selfcheck_cases.c - the cases of kiln_selfcheck: for every op family of the op table,
 * a few small graphs that select its code paths (odd and prime sizes, a size past a
 * workgroup, broadcasting, transposes, strides, padding, groups), built with the public
 * builders so that the backward pass brings in the gradient ops. A parameter input
 * (grad_mask) makes the case compare gradients too. Adding an op: add a case here, or
 * the self-check reports it as unchecked.
 */
#include "kiln/nn.h"
#include "selfcheck_impl.h"

#define S1(a)                                                                                      \
    {                                                                                              \
        1,                                                                                         \
        {                                                                                          \
            a                                                                                      \
        }                                                                                          \
    }
#define S2(a, b)                                                                                   \
    {                                                                                              \
        2,                                                                                         \
        {                                                                                          \
            a, b                                                                                   \
        }                                                                                          \
    }
#define S3(a, b, c)                                                                                \
    {                                                                                              \
        3,                                                                                         \
        {                                                                                          \
            a, b, c                                                                                \
        }                                                                                          \
    }
#define S4(a, b, c, d)                                                                             \
    {                                                                                              \
        4,                                                                                         \
        {                                                                                          \
            a, b, c, d                                                                             \
        }                                                                                          \
    }

/* ==== Builders ==== */

static kiln_tensor *b_add(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_add(g, in[0], in[1]);
}
/* The fused op itself (the planner makes it from relu(add) on GPU backends only). */
static kiln_tensor *b_add_relu(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln__node(g, KILN_OP_ADD_RELU, 2, in, NULL, 0);
}
static kiln_tensor *b_sub(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_sub(g, in[0], in[1]);
}
static kiln_tensor *b_mul(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_mul(g, in[0], in[1]);
}
static kiln_tensor *b_div(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_div(g, in[0], in[1]);
}
static kiln_tensor *b_scale_shift(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_scale_shift(g, in[0], 1.5f, -0.25f);
}
static kiln_tensor *b_relu(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_relu(g, in[0]);
}
static kiln_tensor *b_leaky_relu(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_leaky_relu(g, in[0], 0.1f);
}
static kiln_tensor *b_sigmoid(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_sigmoid(g, in[0]);
}
static kiln_tensor *b_tanh(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_tanh(g, in[0]);
}
static kiln_tensor *b_gelu(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_gelu(g, in[0]);
}
static kiln_tensor *b_exp(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_exp(g, in[0]);
}
static kiln_tensor *b_log(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_log(g, in[0]);
}
static kiln_tensor *b_sqrt(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_sqrt(g, in[0]);
}
static kiln_tensor *b_matmul(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_matmul(g, in[0], in[1], 0, 0);
}
static kiln_tensor *b_matmul_tt(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_matmul(g, in[0], in[1], 1, 1);
}
static kiln_tensor *b_transpose(kiln_graph *g, kiln_tensor *const *in)
{
    static const int32_t perm[3] = {2, 0, 1};
    return kiln_transpose(g, in[0], perm);
}
static kiln_tensor *b_sum(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_sum(g, in[0], 5u, 1);
}
static kiln_tensor *b_mean(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_mean(g, in[0], 2u, 0);
}
static kiln_tensor *b_argmax(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_argmax(g, in[0]);
}
static kiln_tensor *b_softmax(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_softmax(g, in[0]);
}
static kiln_tensor *b_log_softmax(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_log_softmax(g, in[0]);
}
static kiln_tensor *b_mse(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_mse_loss(g, in[0], in[1]);
}
static kiln_tensor *b_xent(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_softmax_xent(g, in[0], in[1]);
}
static kiln_tensor *b_bce(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_bce_logits(g, in[0], in[1]);
}
static kiln_tensor *b_hinge(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_hinge_loss(g, in[0], in[1]);
}
static kiln_tensor *b_sgd(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln__p_sgd p = {0.1f, 0.9f, 0.0f, 0.01f, 1, 2, 0};
    return kiln__node(g, KILN_OP_SGD_UPDATE, 3, in, &p, sizeof(p));
}
/* The optimizer's form: the gradient zeroed once read. */
static kiln_tensor *b_sgd_clear(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln__p_sgd p = {0.05f, 0.9f, 0.0f, 0.0f, 0, 2, 1};
    return kiln__node(g, KILN_OP_SGD_UPDATE, 3, in, &p, sizeof(p));
}
static kiln_tensor *b_adam(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln__p_adam p = {0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, 1, 0.19f, 0.001999f, 1};
    return kiln__node(g, KILN_OP_ADAM_UPDATE, 4, in, &p, sizeof(p));
}
static kiln_tensor *b_rmsprop(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln__p_rmsprop p = {0.01f, 0.9f, 1e-6f, 0.01f};
    return kiln__node(g, KILN_OP_RMSPROP_UPDATE, 3, in, &p, sizeof(p));
}
static kiln_tensor *b_adagrad(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln__p_adagrad p = {0.1f, 1e-10f, 0.01f};
    return kiln__node(g, KILN_OP_ADAGRAD_UPDATE, 3, in, &p, sizeof(p));
}
static kiln_tensor *b_accumulate(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln__accumulate(g, in[0], in[1], 0.5f, 2.0f);
}
static kiln_tensor *b_conv(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln_conv2d_opts o = KILN_CONV2D_OPTS_INIT;
    o.padding[0] = o.padding[1] = 1;
    return kiln_conv2d(g, in[0], in[1], &o);
}
static kiln_tensor *b_conv_strided(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln_conv2d_opts o = KILN_CONV2D_OPTS_INIT;
    o.stride[0] = 2;
    o.stride[1] = 3;
    o.padding[0] = 2;
    o.dilation[1] = 2;
    o.groups = 2;
    return kiln_conv2d(g, in[0], in[1], &o);
}
static kiln_tensor *b_conv_wide(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_conv2d(g, in[0], in[1], NULL); /* a GEMM-sized convolution */
}
static kiln_tensor *b_conv_transpose(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln_conv2d_opts o = KILN_CONV2D_OPTS_INIT;
    o.stride[0] = o.stride[1] = 2;
    o.padding[0] = o.padding[1] = 1;
    o.output_padding[0] = 1;
    return kiln_conv_transpose2d(g, in[0], in[1], &o);
}
static kiln_tensor *b_maxpool(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln_pool2d_opts o = {{3, 3}, {2, 2}, {1, 1}, 1};
    return kiln_max_pool2d(g, in[0], &o);
}
/* The fused op itself (the planner makes it on GPU backends only): in[0] is the pooled
 * tensor, in[1] the gradient of its 3x3 stride 2 pad 1 pooling. */
static kiln_tensor *b_maxpool_relu_bwd(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln__p_pool2d p = {{3, 3}, {2, 2}, {1, 1}, 0, {0, 0}};
    return kiln__node(g, KILN_OP_MAXPOOL2D_RELU_BWD, 2, in, &p, sizeof(p));
}
/* The fused op itself (the planner makes it from a dense layer where the backend runs it
 * as one launch): relu(in[0] in[1]^T + in[2]). */
static kiln_tensor *b_matmul_bias(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln__p_matmul_bias p = {0, 1, 1};
    return kiln__node(g, KILN_OP_MATMUL_BIAS, 3, in, &p, sizeof(p));
}
/* The fused op itself (the planner makes it from a convolution layer where the backend's
 * kernel adds the bias): relu(conv2d(in[0], in[1]) + in[2] per channel), 5x5 pad 2. */
static kiln_tensor *b_conv_bias(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln__p_conv2d_bias p = {{1, 1}, {2, 2}, {1, 1}, 1, {0, 0}, {0, 0}, 1};
    return kiln__node(g, KILN_OP_CONV2D_BIAS, 3, in, &p, sizeof(p));
}
/* The fused loss and gradient: [17 10] gradient for dy = in[2], then the loss. */
static kiln_tensor *b_xent_fused(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln__node(g, KILN_OP_SOFTMAX_XENT_FUSED, 3, in, NULL, 0);
}
/* The same with its rider in[3], into which it writes the scores' argmax. */
static kiln_tensor *b_xent_fused_argmax(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln__node(g, KILN_OP_SOFTMAX_XENT_FUSED, 4, in, NULL, 0);
}
/* The fused op itself: in[0] in[1] masked where in[2] > 0. */
static kiln_tensor *b_matmul_relu_bwd(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln__p_matmul_relu_bwd p = {0, 0};
    return kiln__node(g, KILN_OP_MATMUL_RELU_BWD, 3, in, &p, sizeof(p));
}
/* The fused op itself: in[0]^T in[1], and in[2] written with in[0]'s column sums. */
static kiln_tensor *b_matmul_db(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln__p_matmul_db p = {1, 0};
    return kiln__node(g, KILN_OP_MATMUL_DB, 3, in, &p, sizeof(p));
}
static kiln_tensor *b_avgpool(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln_pool2d_opts o = {{3, 2}, {2, 2}, {1, 1}, 0};
    return kiln_avg_pool2d(g, in[0], &o);
}
static kiln_tensor *b_upsample(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_upsample_nearest2d(g, in[0], 2, 3);
}
static kiln_tensor *b_batch_norm(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_batch_norm(g, in[0], "bn", 0.1f, 1e-5f);
}
static kiln_tensor *b_lrn(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_lrn(g, in[0], 5, 0.5f, 0.75f, 2.0f);
}
static kiln_tensor *b_concat(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_concat(g, 3, in, 1);
}
static kiln_tensor *b_slice(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_slice(g, in[0], 1, 2, 5);
}
static kiln_tensor *b_pad(kiln_graph *g, kiln_tensor *const *in)
{
    static const int32_t before[3] = {0, 1, 2}, after[3] = {1, 0, 3};
    return kiln_pad(g, in[0], before, after);
}
static kiln_tensor *b_dropout(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_dropout(g, in[0], 0.3f, 7);
}

/* ==== Cases ==== */

/* An elementwise unary case: forward and its gradient, on [7, 13] and past a
 * workgroup (1031 elements). */
#define UNARY(OP, B, LO, HI)                                                                       \
    {.op = OP,                                                                                     \
     .note = "7x13",                                                                               \
     .n_in = 1,                                                                                    \
     .shape = {S2(7, 13)},                                                                         \
     .grad_mask = 1,                                                                               \
     .lo = LO,                                                                                     \
     .hi = HI,                                                                                     \
     .build = B},                                                                                  \
    {                                                                                              \
        .op = OP, .note = "1031", .n_in = 1, .shape = {S1(1031)}, .grad_mask = 1, .lo = LO,        \
        .hi = HI, .build = B                                                                       \
    }

/* A binary case with numpy broadcasting in both directions, both inputs with gradients. */
#define BINARY(OP, B, LO, HI)                                                                      \
    {.op = OP,                                                                                     \
     .note = "7x13 + row",                                                                         \
     .n_in = 2,                                                                                    \
     .shape = {S2(7, 13), S1(13)},                                                                 \
     .grad_mask = 3,                                                                               \
     .lo = LO,                                                                                     \
     .hi = HI,                                                                                     \
     .build = B},                                                                                  \
    {                                                                                              \
        .op = OP, .note = "rank 4, both broadcast", .n_in = 2,                                     \
        .shape = {S4(2, 1, 5, 7), S3(3, 1, 7)}, .grad_mask = 3, .lo = LO, .hi = HI, .build = B     \
    }

/* Index ops: an embedding-style gather (its backward brings in BUCKET_INDICES and
 * SCATTER_ADD), a scatter-add of its own, WHERE and SEQUENCE_MASK. */
static kiln_tensor *b_gather(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_gather(g, in[0], in[1], 0);
}
static kiln_tensor *b_scatter_add(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_scatter_add(g, in[0], in[1], 0, 11);
}
static kiln_tensor *b_where(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_where(g, in[0], in[1], in[2]);
}
static kiln_tensor *b_sequence_mask(kiln_graph *g, kiln_tensor *const *in)
{
    return kiln_sequence_mask(g, in[0], 9);
}
/* A bidirectional GRU, batch first, over 3 sequences of up to 7 steps masked by their
 * lengths (in[1]; a length of 0 leaves a row all padding). */
static kiln_tensor *b_rnn_gru(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln_rnn_options o = KILN_RNN_OPTIONS_INIT;
    o.cell = KILN_RNN_GRU;
    o.hidden = 6;
    o.bidirectional = 1;
    o.batch_first = 1;
    o.seed = 3;
    kiln_tensor *mask = kiln_sequence_mask(g, in[1], 7);
    return kiln_rnn(g, in[0], mask, NULL, NULL, &o, "rnn", NULL, NULL);
}
/* A 2-layer LSTM, time first, from initial states in[1], in[2]. */
static kiln_tensor *b_rnn_lstm(kiln_graph *g, kiln_tensor *const *in)
{
    struct kiln_rnn_options o = KILN_RNN_OPTIONS_INIT;
    o.hidden = 5;
    o.n_layers = 2;
    o.seed = 5;
    return kiln_rnn(g, in[0], NULL, in[1], in[2], &o, "rnn", NULL, NULL);
}

/* Layer norm over the last dim (its backward brings in LAYER_NORM_STATS, _BWD and
 * _BWD_PARAMS) and over the last two. */
const struct kiln__sc_case kiln__sc_cases[] = {
    BINARY(KILN_OP_ADD, b_add, -1.0f, 1.0f),
    BINARY(KILN_OP_SUB, b_sub, -1.0f, 1.0f),
    BINARY(KILN_OP_MUL, b_mul, -1.0f, 1.0f),
    BINARY(KILN_OP_DIV, b_div, 0.5f, 2.0f),
    BINARY(KILN_OP_ADD_RELU, b_add_relu, -1.0f, 1.0f),
    UNARY(KILN_OP_SCALE_SHIFT, b_scale_shift, -1.0f, 1.0f),
    UNARY(KILN_OP_RELU, b_relu, -1.0f, 1.0f),
    UNARY(KILN_OP_LEAKY_RELU, b_leaky_relu, -1.0f, 1.0f),
    UNARY(KILN_OP_SIGMOID, b_sigmoid, -3.0f, 3.0f),
    UNARY(KILN_OP_TANH, b_tanh, -3.0f, 3.0f),
    UNARY(KILN_OP_GELU, b_gelu, -3.0f, 3.0f),
    UNARY(KILN_OP_EXP, b_exp, -2.0f, 2.0f),
    UNARY(KILN_OP_LOG, b_log, 0.25f, 4.0f),
    UNARY(KILN_OP_SQRT, b_sqrt, 0.25f, 4.0f),
    {.op = KILN_OP_MATMUL,
     .note = "17x33 by 33x9",
     .n_in = 2,
     .shape = {S2(17, 33), S2(33, 9)},
     .grad_mask = 3,
     .build = b_matmul},
    {.op = KILN_OP_MATMUL,
     .note = "both transposed, 67x129 by 33x67",
     .n_in = 2,
     .shape = {S2(67, 129), S2(33, 67)},
     .grad_mask = 3,
     .build = b_matmul_tt},
    {.op = KILN_OP_MATMUL,
     .note = "batched 3x5x7 by 3x7x4",
     .n_in = 2,
     .shape = {S3(3, 5, 7), S3(3, 7, 4)},
     .grad_mask = 3,
     .build = b_matmul},
    {.op = KILN_OP_MATMUL_BIAS,
     .note = "relu(67x129 by (33x129)^T + bias)",
     .n_in = 3,
     .shape = {S2(67, 129), S2(33, 129), S1(33)},
     .lo = -1.0f,
     .hi = 1.0f,
     .build = b_matmul_bias},
    {.op = KILN_OP_MATMUL_RELU_BWD,
     .note = "33x65 by 65x17 masked by a 33x17 y",
     .n_in = 3,
     .shape = {S2(33, 65), S2(65, 17), S2(33, 17)},
     .lo = -1.0f,
     .hi = 1.0f,
     .build = b_matmul_relu_bwd},
    {.op = KILN_OP_MATMUL_DB,
     .note = "(65x33)^T by 65x17, the 33 column sums of a written",
     .n_in = 3,
     .shape = {S2(65, 33), S2(65, 17), S2(1, 33)},
     .inplace_mask = 4,
     .lo = -1.0f,
     .hi = 1.0f,
     .build = b_matmul_db},
    {.op = KILN_OP_TRANSPOSE,
     .note = "3x5x7, perm 2 0 1",
     .n_in = 1,
     .shape = {S3(3, 5, 7)},
     .grad_mask = 1,
     .build = b_transpose},
    {.op = KILN_OP_REDUCE_SUM,
     .note = "axes 0 and 2 of 5x7x11, kept",
     .n_in = 1,
     .shape = {S3(5, 7, 11)},
     .grad_mask = 1,
     .build = b_sum},
    {.op = KILN_OP_REDUCE_SUM,
     .note = "mean over axis 1 of 13x129",
     .n_in = 1,
     .shape = {S2(13, 129)},
     .grad_mask = 1,
     .build = b_mean},
    {.op = KILN_OP_ARGMAX, .note = "9x31", .n_in = 1, .shape = {S2(9, 31)}, .build = b_argmax},
    {.op = KILN_OP_SOFTMAX,
     .note = "9x31",
     .n_in = 1,
     .shape = {S2(9, 31)},
     .grad_mask = 1,
     .lo = -4.0f,
     .hi = 4.0f,
     .build = b_softmax},
    {.op = KILN_OP_LOG_SOFTMAX,
     .note = "5x3x257",
     .n_in = 1,
     .shape = {S3(5, 3, 257)},
     .grad_mask = 1,
     .lo = -4.0f,
     .hi = 4.0f,
     .build = b_log_softmax},
    {.op = KILN_OP_MSE,
     .note = "7x13",
     .n_in = 2,
     .shape = {S2(7, 13), S2(7, 13)},
     .grad_mask = 1,
     .build = b_mse},
    {.op = KILN_OP_SOFTMAX_XENT,
     .note = "17 x 10 classes",
     .n_in = 2,
     .shape = {S2(17, 10), S1(17)},
     .i32_mask = 2,
     .labels = 10,
     .grad_mask = 1,
     .lo = -3.0f,
     .hi = 3.0f,
     .build = b_xent},
    {.op = KILN_OP_SOFTMAX_XENT_FUSED,
     .note = "17 x 10 classes, the gradient then the loss",
     .n_in = 3,
     .shape = {S2(17, 10), S1(17), S1(1)},
     .i32_mask = 2,
     .labels = 10,
     .lo = -3.0f,
     .hi = 3.0f,
     .build = b_xent_fused},
    {.op = KILN_OP_SOFTMAX_XENT_FUSED,
     .note = "17 x 10 classes, and the argmax written into the fourth input",
     .n_in = 4,
     .shape = {S2(17, 10), S1(17), S1(1), S1(17)},
     .i32_mask = 2 | 8,
     .inplace_mask = 8,
     .labels = 10,
     .lo = -3.0f,
     .hi = 3.0f,
     .build = b_xent_fused_argmax},
    {.op = KILN_OP_BCE_LOGITS,
     .note = "13x3, targets in [0, 1]",
     .n_in = 2,
     .shape = {S2(13, 3), S2(13, 3)},
     .grad_mask = 1,
     .lo = 0.0f,
     .hi = 1.0f,
     .build = b_bce},
    {.op = KILN_OP_HINGE,
     .note = "17 x 7 classes",
     .n_in = 2,
     .shape = {S2(17, 7), S1(17)},
     .i32_mask = 2,
     .labels = 7,
     .grad_mask = 1,
     .build = b_hinge},
    {.op = KILN_OP_SGD_UPDATE,
     .note = "Nesterov momentum, weight decay, 2 steps",
     .n_in = 3,
     .shape = {S1(1031), S1(1031), S1(1031)},
     .inplace_mask = 5,
     .steps = 2,
     .build = b_sgd},
    {.op = KILN_OP_SGD_UPDATE,
     .note = "momentum, the gradient cleared",
     .n_in = 3,
     .shape = {S1(1031), S1(1031), S1(1031)},
     .inplace_mask = 7,
     .build = b_sgd_clear},
    {.op = KILN_OP_ADAM_UPDATE,
     .note = "AdamW, the gradient cleared, 2 steps",
     .n_in = 4,
     .shape = {S1(1031), S1(1031), S1(1031), S1(1031)},
     .inplace_mask = 15,
     .lo = 0.0f,
     .hi = 1.0f,
     .steps = 2,
     .build = b_adam},
    {.op = KILN_OP_RMSPROP_UPDATE,
     .note = "weight decay, 2 steps",
     .n_in = 3,
     .shape = {S1(1031), S1(1031), S1(1031)},
     .inplace_mask = 5,
     .lo = 0.0f,
     .hi = 1.0f,
     .steps = 2,
     .build = b_rmsprop},
    {.op = KILN_OP_ADAGRAD_UPDATE,
     .note = "weight decay, 2 steps",
     .n_in = 3,
     .shape = {S1(1031), S1(1031), S1(1031)},
     .inplace_mask = 5,
     .lo = 0.0f,
     .hi = 1.0f,
     .steps = 2,
     .build = b_adagrad},
    {.op = KILN_OP_ACCUMULATE,
     .note = "dst = 0.5 dst + 2 x",
     .n_in = 2,
     .shape = {S1(1031), S1(1031)},
     .inplace_mask = 1,
     .build = b_accumulate},
    {.op = KILN_OP_CONV2D,
     .note = "3x3 padding 1",
     .n_in = 2,
     .shape = {S4(2, 3, 9, 11), S4(5, 3, 3, 3)},
     .grad_mask = 3,
     .build = b_conv},
    {.op = KILN_OP_CONV2D,
     .note = "strides 2x3, dilation, 2 groups",
     .n_in = 2,
     .shape = {S4(2, 4, 13, 17), S4(6, 2, 3, 3)},
     .grad_mask = 3,
     .build = b_conv_strided},
    {.op = KILN_OP_CONV2D,
     .note = "16 to 32 channels, 5x5",
     .n_in = 2,
     .shape = {S4(4, 16, 12, 12), S4(32, 16, 5, 5)},
     .grad_mask = 3,
     .lo = -0.5f,
     .hi = 0.5f,
     .build = b_conv_wide},
    {.op = KILN_OP_CONV2D_BIAS,
     .note = "relu(5x5 padding 2, 6 to 13 channels, + bias)",
     .n_in = 3,
     .shape = {S4(3, 6, 11, 13), S4(13, 6, 5, 5), S1(13)},
     .lo = -1.0f,
     .hi = 1.0f,
     .build = b_conv_bias},
    {.op = KILN_OP_CONV2D_BWD_DATA,
     .note = "transposed 3x3 stride 2",
     .n_in = 2,
     .shape = {S4(2, 4, 5, 6), S4(4, 3, 3, 3)},
     .grad_mask = 3,
     .build = b_conv_transpose},
    {.op = KILN_OP_MAXPOOL2D,
     .note = "3x3 stride 2 padding 1",
     .n_in = 1,
     .shape = {S4(2, 3, 11, 9)},
     .grad_mask = 1,
     .build = b_maxpool},
    {.op = KILN_OP_MAXPOOL2D_RELU_BWD,
     .note = "3x3 stride 2 padding 1",
     .n_in = 2,
     .shape = {S4(2, 3, 11, 9), S4(2, 3, 6, 5)},
     .lo = -1.0f,
     .hi = 1.0f,
     .build = b_maxpool_relu_bwd},
    {.op = KILN_OP_AVGPOOL2D,
     .note = "3x2 stride 2 padding 1, padding not counted",
     .n_in = 1,
     .shape = {S4(2, 3, 11, 9)},
     .grad_mask = 1,
     .build = b_avgpool},
    {.op = KILN_OP_UPSAMPLE_NEAREST,
     .note = "factors 2x3",
     .n_in = 1,
     .shape = {S4(2, 3, 5, 4)},
     .grad_mask = 1,
     .build = b_upsample},
    {.op = KILN_OP_BN_STATS,
     .note = "batch norm over 4x5x7x3, 2 training runs",
     .n_in = 1,
     .shape = {S4(4, 5, 7, 3)},
     .grad_mask = 1,
     .steps = 2,
     .buffers = {"bn.running_mean", "bn.running_var"},
     .build = b_batch_norm},
    {.op = KILN_OP_LRN,
     .note = "size 5 over 7 channels",
     .n_in = 1,
     .shape = {S4(2, 7, 5, 3)},
     .grad_mask = 1,
     .build = b_lrn},
    {.op = KILN_OP_CONCAT,
     .note = "three along axis 1",
     .n_in = 3,
     .shape = {S3(3, 2, 5), S3(3, 7, 5), S3(3, 1, 5)},
     .grad_mask = 7,
     .build = b_concat},
    {.op = KILN_OP_SLICE,
     .note = "5 of 9 along axis 1",
     .n_in = 1,
     .shape = {S3(3, 9, 7)},
     .grad_mask = 1,
     .build = b_slice},
    {.op = KILN_OP_PAD,
     .note = "before 0 1 2, after 1 0 3",
     .n_in = 1,
     .shape = {S3(3, 5, 7)},
     .grad_mask = 1,
     .build = b_pad},
    {.op = KILN_OP_DROPOUT,
     .note = "p 0.3 over 1031",
     .n_in = 1,
     .shape = {S1(1031)},
     .grad_mask = 1,
     .steps = 2,
     .build = b_dropout},
    {.op = KILN_OP_GATHER,
     .note = "rows of a 37 x 9 table by 5 x 7 ids",
     .n_in = 2,
     .shape = {S2(37, 9), S2(5, 7)},
     .i32_mask = 2,
     .labels = 37,
     .grad_mask = 1,
     .build = b_gather},
    {.op = KILN_OP_SCATTER_ADD,
     .note = "13 rows of 6 into 11",
     .n_in = 2,
     .shape = {S2(13, 6), S1(13)},
     .i32_mask = 2,
     .labels = 11,
     .grad_mask = 1,
     .build = b_scatter_add},
    {.op = KILN_OP_WHERE,
     .note = "i32 condition broadcast over 4 x 5 x 6",
     .n_in = 3,
     .shape = {S3(4, 1, 6), S3(4, 5, 6), S2(5, 1)},
     .i32_mask = 1,
     .labels = 2,
     .grad_mask = 6,
     .build = b_where},
    {.op = KILN_OP_SEQUENCE_MASK,
     .note = "7 lengths, 9 steps",
     .n_in = 1,
     .shape = {S1(7)},
     .i32_mask = 1,
     .labels = 10,
     .build = b_sequence_mask},
    {.op = KILN_OP_RNN_SEQ,
     .note = "bidirectional GRU, 3 sequences of up to 7 steps of 5 features, masked",
     .n_in = 2,
     .shape = {S3(3, 7, 5), S1(3)},
     .i32_mask = 2,
     .labels = 8,
     .grad_mask = 1,
     .build = b_rnn_gru},
    {.op = KILN_OP_RNN_SEQ_BWD,
     .note = "2-layer LSTM, 6 steps of 4 sequences of 3 features, initial states",
     .n_in = 3,
     .shape = {S3(6, 4, 3), S3(2, 4, 5), S3(2, 4, 5)},
     .grad_mask = 7,
     .build = b_rnn_lstm},
};

const int32_t kiln__sc_n_cases = (int32_t)(sizeof(kiln__sc_cases) / sizeof(kiln__sc_cases[0]));
