/*
 * vk_shaders.h - the SPIR-V shader variants built from the shaders folder at build time
 * (one Meson custom_target each, see meson.build) and embedded by vk_shaders.c. The
 * X-macro row is (ENUM, symbol, storage buffers); the symbol names the generated
 * header <symbol>.spv.h and its array <symbol>_spv. _IEEE variants declare
 * SignedZeroInfNanPreserve and are used when the device supports it.
 */
#ifndef KILN_VK_SHADERS_H
#define KILN_VK_SHADERS_H

#include <stddef.h>
#include <stdint.h>

#define KILN_VK_SHADERS(X)                                                                         \
    X(ADD, binary_add, 3)                                                                          \
    X(SUB, binary_sub, 3)                                                                          \
    X(MUL, binary_mul, 3)                                                                          \
    X(DIV, binary_div, 3)                                                                          \
    X(DIV_IEEE, binary_div_ieee, 3)                                                                \
    X(SCALE_SHIFT, unary_scale_shift, 2)                                                           \
    X(RELU, unary_relu, 2)                                                                         \
    X(LEAKY_RELU, unary_leaky_relu, 2)                                                             \
    X(SIGMOID, unary_sigmoid, 2)                                                                   \
    X(TANH, unary_tanh, 2)                                                                         \
    X(GELU, unary_gelu, 2)                                                                         \
    X(EXP, unary_exp, 2)                                                                           \
    X(EXP_IEEE, unary_exp_ieee, 2)                                                                 \
    X(LOG, unary_log, 2)                                                                           \
    X(LOG_IEEE, unary_log_ieee, 2)                                                                 \
    X(SQRT, unary_sqrt, 2)                                                                         \
    X(SQRT_IEEE, unary_sqrt_ieee, 2)                                                               \
    X(RELU_BWD, unary_relu_bwd, 3)                                                                 \
    X(LEAKY_RELU_BWD, unary_leaky_relu_bwd, 3)                                                     \
    X(SIGMOID_BWD, unary_sigmoid_bwd, 3)                                                           \
    X(TANH_BWD, unary_tanh_bwd, 3)                                                                 \
    X(GELU_BWD, unary_gelu_bwd, 3)                                                                 \
    X(MATMUL_NN, matmul_nn, 3)                                                                     \
    X(MATMUL_NT, matmul_nt, 3)                                                                     \
    X(MATMUL_TN, matmul_tn, 3)                                                                     \
    X(MATMUL_TT, matmul_tt, 3)                                                                     \
    X(TRANSPOSE, shape_transpose, 2)                                                               \
    X(REDUCE_SUM, reduce_sum, 2)                                                                   \
    X(BROADCAST, reduce_broadcast, 2)                                                              \
    X(ARGMAX, reduce_argmax, 2)                                                                    \
    X(ARGMAX_IEEE, reduce_argmax_ieee, 2)                                                          \
    X(SOFTMAX, softmax_fwd, 2)                                                                     \
    X(LOG_SOFTMAX, softmax_log_fwd, 2)                                                             \
    X(SOFTMAX_BWD, softmax_bwd, 3)                                                                 \
    X(LOG_SOFTMAX_BWD, softmax_log_bwd, 3)                                                         \
    X(MSE, loss_mse, 3)                                                                            \
    X(MSE_BWD, loss_mse_bwd, 4)                                                                    \
    X(SOFTMAX_XENT, loss_softmax_xent, 3)                                                          \
    X(SOFTMAX_XENT_BWD, loss_softmax_xent_bwd, 4)                                                  \
    X(BCE_LOGITS, loss_bce_logits, 3)                                                              \
    X(BCE_LOGITS_BWD, loss_bce_logits_bwd, 4)                                                      \
    X(HINGE, loss_hinge, 3)                                                                        \
    X(HINGE_BWD, loss_hinge_bwd, 4)                                                                \
    X(SGD, optim_sgd, 3)                                                                           \
    X(ADAM, optim_adam, 4)                                                                         \
    X(ACCUMULATE, optim_accumulate, 2)                                                             \
    X(CONV2D, conv_fwd, 3)                                                                         \
    X(CONV2D_BWD_DATA, conv_bwd_data, 3)                                                           \
    X(CONV2D_BWD_FILTER, conv_bwd_filter, 3)                                                       \
    X(CONVGEMM_FWD, convgemm_fwd, 3)                                                               \
    X(CONVGEMM_FWD_S, convgemm_fwd_s, 3)                                                           \
    X(CONVGEMM_DATA, convgemm_data, 3)                                                             \
    X(CONVGEMM_DATA_S, convgemm_data_s, 3)                                                         \
    X(CONVGEMM_FILTER, convgemm_filter, 3)                                                         \
    X(CONVGEMM_FILTER_S, convgemm_filter_s, 3)                                                     \
    X(CONVGEMM_SPLIT_SUM, convgemm_split_sum, 2)                                                   \
    X(MAXPOOL2D, pool_max, 2)                                                                      \
    X(MAXPOOL2D_BWD, pool_max_bwd, 3)                                                              \
    X(MAXPOOL2D_IEEE, pool_max_ieee, 2)                                                            \
    X(MAXPOOL2D_BWD_IEEE, pool_max_bwd_ieee, 3)                                                    \
    X(AVGPOOL2D, pool_avg, 2)                                                                      \
    X(AVGPOOL2D_BWD, pool_avg_bwd, 2)                                                              \
    X(UPSAMPLE, pool_upsample, 2)                                                                  \
    X(UPSAMPLE_BWD, pool_upsample_bwd, 2)                                                          \
    X(SLICE_PAD, layout_slice_pad, 2)                                                              \
    X(COPY_ROWS, layout_copy_rows, 2)                                                              \
    X(DROPOUT, random_dropout, 2)                                                                  \
    X(BN_STATS, norm_bn_stats, 4)                                                                  \
    X(BN_STATS_BWD, norm_bn_stats_bwd, 4)                                                          \
    X(BN_APPLY, norm_bn_apply, 5)                                                                  \
    X(BN_APPLY_BWD, norm_bn_apply_bwd, 5)                                                          \
    X(BN_APPLY_BWD_PARAMS, norm_bn_bwd_params, 5)                                                  \
    X(BN_RUNNING_UPDATE, norm_bn_running, 3)                                                       \
    X(LRN, norm_lrn, 2)                                                                            \
    X(LRN_BWD, norm_lrn_bwd, 3)                                                                    \
    X(RNN_FWD, rnn_fwd, 5)                                                                         \
    X(RNN_BWD, rnn_bwd, 5)                                                                         \
    X(RNN_GEMM_NT, rnngemm_nt, 3)                                                                  \
    X(RNN_GEMM_NN_ACC, rnngemm_nn_acc, 3)

enum kiln__vk_shader {
#define KILN_VK_SHADER_ENUM(e, sym, nb) KILN__VK_SH_##e,
    KILN_VK_SHADERS(KILN_VK_SHADER_ENUM)
#undef KILN_VK_SHADER_ENUM
        KILN__VK_SHADER_COUNT
};

struct kiln__vk_shader_info {
    const char *name;
    const uint32_t *words;
    size_t n_bytes;
    int n_bindings;
};

extern const struct kiln__vk_shader_info kiln__vk_shaders[KILN__VK_SHADER_COUNT];

#endif /* KILN_VK_SHADERS_H */
