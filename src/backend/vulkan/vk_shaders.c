/*
 * vk_shaders.c - the one translation unit that includes the SPIR-V headers glslang
 * generates at build time (each defines a non-static const uint32_t array), and the
 * table of them indexed by enum kiln__vk_shader. A variant missing from the build is
 * a compile error here, not a run-time surprise.
 */
#include "vk_shaders.h"

#include <stdint.h>

#include "binary_add.spv.h"
#include "binary_div.spv.h"
#include "binary_div_ieee.spv.h"
#include "binary_mul.spv.h"
#include "binary_sub.spv.h"
#include "conv_bwd_data.spv.h"
#include "conv_bwd_filter.spv.h"
#include "conv_fwd.spv.h"
#include "convgemm_data.spv.h"
#include "convgemm_data_s.spv.h"
#include "convgemm_filter.spv.h"
#include "convgemm_filter_s.spv.h"
#include "convgemm_fwd.spv.h"
#include "convgemm_fwd_s.spv.h"
#include "convgemm_split_sum.spv.h"
#include "layout_copy_rows.spv.h"
#include "layout_slice_pad.spv.h"
#include "loss_bce_logits.spv.h"
#include "loss_bce_logits_bwd.spv.h"
#include "loss_hinge.spv.h"
#include "loss_hinge_bwd.spv.h"
#include "loss_mse.spv.h"
#include "loss_mse_bwd.spv.h"
#include "loss_softmax_xent.spv.h"
#include "loss_softmax_xent_bwd.spv.h"
#include "matmul_nn.spv.h"
#include "matmul_nt.spv.h"
#include "matmul_tn.spv.h"
#include "matmul_tt.spv.h"
#include "norm_bn_apply.spv.h"
#include "norm_bn_apply_bwd.spv.h"
#include "norm_bn_bwd_params.spv.h"
#include "norm_bn_running.spv.h"
#include "norm_bn_stats.spv.h"
#include "norm_bn_stats_bwd.spv.h"
#include "norm_lrn.spv.h"
#include "norm_lrn_bwd.spv.h"
#include "optim_accumulate.spv.h"
#include "optim_adam.spv.h"
#include "optim_sgd.spv.h"
#include "pool_avg.spv.h"
#include "pool_avg_bwd.spv.h"
#include "pool_max.spv.h"
#include "pool_max_bwd.spv.h"
#include "pool_max_bwd_ieee.spv.h"
#include "pool_max_ieee.spv.h"
#include "pool_upsample.spv.h"
#include "pool_upsample_bwd.spv.h"
#include "random_dropout.spv.h"
#include "reduce_argmax.spv.h"
#include "reduce_argmax_ieee.spv.h"
#include "reduce_broadcast.spv.h"
#include "reduce_sum.spv.h"
#include "rnn_bwd.spv.h"
#include "rnn_fwd.spv.h"
#include "rnngemm_nn_acc.spv.h"
#include "rnngemm_nt.spv.h"
#include "shape_transpose.spv.h"
#include "softmax_bwd.spv.h"
#include "softmax_fwd.spv.h"
#include "softmax_log_bwd.spv.h"
#include "softmax_log_fwd.spv.h"
#include "unary_exp.spv.h"
#include "unary_exp_ieee.spv.h"
#include "unary_gelu.spv.h"
#include "unary_gelu_bwd.spv.h"
#include "unary_leaky_relu.spv.h"
#include "unary_leaky_relu_bwd.spv.h"
#include "unary_log.spv.h"
#include "unary_log_ieee.spv.h"
#include "unary_relu.spv.h"
#include "unary_relu_bwd.spv.h"
#include "unary_scale_shift.spv.h"
#include "unary_sigmoid.spv.h"
#include "unary_sigmoid_bwd.spv.h"
#include "unary_sqrt.spv.h"
#include "unary_sqrt_ieee.spv.h"
#include "unary_tanh.spv.h"
#include "unary_tanh_bwd.spv.h"

const struct kiln__vk_shader_info kiln__vk_shaders[KILN__VK_SHADER_COUNT] = {
    [KILN__VK_SH_ADD] = {"binary_add", binary_add_spv, sizeof(binary_add_spv), 3},
    [KILN__VK_SH_SUB] = {"binary_sub", binary_sub_spv, sizeof(binary_sub_spv), 3},
    [KILN__VK_SH_MUL] = {"binary_mul", binary_mul_spv, sizeof(binary_mul_spv), 3},
    [KILN__VK_SH_DIV] = {"binary_div", binary_div_spv, sizeof(binary_div_spv), 3},
    [KILN__VK_SH_DIV_IEEE] = {"binary_div_ieee", binary_div_ieee_spv, sizeof(binary_div_ieee_spv),
                              3},
    [KILN__VK_SH_SCALE_SHIFT] = {"unary_scale_shift", unary_scale_shift_spv,
                                 sizeof(unary_scale_shift_spv), 2},
    [KILN__VK_SH_RELU] = {"unary_relu", unary_relu_spv, sizeof(unary_relu_spv), 2},
    [KILN__VK_SH_LEAKY_RELU] = {"unary_leaky_relu", unary_leaky_relu_spv,
                                sizeof(unary_leaky_relu_spv), 2},
    [KILN__VK_SH_SIGMOID] = {"unary_sigmoid", unary_sigmoid_spv, sizeof(unary_sigmoid_spv), 2},
    [KILN__VK_SH_TANH] = {"unary_tanh", unary_tanh_spv, sizeof(unary_tanh_spv), 2},
    [KILN__VK_SH_GELU] = {"unary_gelu", unary_gelu_spv, sizeof(unary_gelu_spv), 2},
    [KILN__VK_SH_EXP] = {"unary_exp", unary_exp_spv, sizeof(unary_exp_spv), 2},
    [KILN__VK_SH_EXP_IEEE] = {"unary_exp_ieee", unary_exp_ieee_spv, sizeof(unary_exp_ieee_spv), 2},
    [KILN__VK_SH_LOG] = {"unary_log", unary_log_spv, sizeof(unary_log_spv), 2},
    [KILN__VK_SH_LOG_IEEE] = {"unary_log_ieee", unary_log_ieee_spv, sizeof(unary_log_ieee_spv), 2},
    [KILN__VK_SH_SQRT] = {"unary_sqrt", unary_sqrt_spv, sizeof(unary_sqrt_spv), 2},
    [KILN__VK_SH_SQRT_IEEE] = {"unary_sqrt_ieee", unary_sqrt_ieee_spv, sizeof(unary_sqrt_ieee_spv),
                               2},
    [KILN__VK_SH_RELU_BWD] = {"unary_relu_bwd", unary_relu_bwd_spv, sizeof(unary_relu_bwd_spv), 3},
    [KILN__VK_SH_LEAKY_RELU_BWD] = {"unary_leaky_relu_bwd", unary_leaky_relu_bwd_spv,
                                    sizeof(unary_leaky_relu_bwd_spv), 3},
    [KILN__VK_SH_SIGMOID_BWD] = {"unary_sigmoid_bwd", unary_sigmoid_bwd_spv,
                                 sizeof(unary_sigmoid_bwd_spv), 3},
    [KILN__VK_SH_TANH_BWD] = {"unary_tanh_bwd", unary_tanh_bwd_spv, sizeof(unary_tanh_bwd_spv), 3},
    [KILN__VK_SH_GELU_BWD] = {"unary_gelu_bwd", unary_gelu_bwd_spv, sizeof(unary_gelu_bwd_spv), 3},
    [KILN__VK_SH_MATMUL_NN] = {"matmul_nn", matmul_nn_spv, sizeof(matmul_nn_spv), 3},
    [KILN__VK_SH_MATMUL_NT] = {"matmul_nt", matmul_nt_spv, sizeof(matmul_nt_spv), 3},
    [KILN__VK_SH_MATMUL_TN] = {"matmul_tn", matmul_tn_spv, sizeof(matmul_tn_spv), 3},
    [KILN__VK_SH_MATMUL_TT] = {"matmul_tt", matmul_tt_spv, sizeof(matmul_tt_spv), 3},
    [KILN__VK_SH_TRANSPOSE] = {"shape_transpose", shape_transpose_spv, sizeof(shape_transpose_spv),
                               2},
    [KILN__VK_SH_REDUCE_SUM] = {"reduce_sum", reduce_sum_spv, sizeof(reduce_sum_spv), 2},
    [KILN__VK_SH_BROADCAST] = {"reduce_broadcast", reduce_broadcast_spv,
                               sizeof(reduce_broadcast_spv), 2},
    [KILN__VK_SH_ARGMAX] = {"reduce_argmax", reduce_argmax_spv, sizeof(reduce_argmax_spv), 2},
    [KILN__VK_SH_ARGMAX_IEEE] = {"reduce_argmax_ieee", reduce_argmax_ieee_spv,
                                 sizeof(reduce_argmax_ieee_spv), 2},
    [KILN__VK_SH_SOFTMAX] = {"softmax_fwd", softmax_fwd_spv, sizeof(softmax_fwd_spv), 2},
    [KILN__VK_SH_LOG_SOFTMAX] = {"softmax_log_fwd", softmax_log_fwd_spv,
                                 sizeof(softmax_log_fwd_spv), 2},
    [KILN__VK_SH_SOFTMAX_BWD] = {"softmax_bwd", softmax_bwd_spv, sizeof(softmax_bwd_spv), 3},
    [KILN__VK_SH_LOG_SOFTMAX_BWD] = {"softmax_log_bwd", softmax_log_bwd_spv,
                                     sizeof(softmax_log_bwd_spv), 3},
    [KILN__VK_SH_MSE] = {"loss_mse", loss_mse_spv, sizeof(loss_mse_spv), 3},
    [KILN__VK_SH_MSE_BWD] = {"loss_mse_bwd", loss_mse_bwd_spv, sizeof(loss_mse_bwd_spv), 4},
    [KILN__VK_SH_SOFTMAX_XENT] = {"loss_softmax_xent", loss_softmax_xent_spv,
                                  sizeof(loss_softmax_xent_spv), 3},
    [KILN__VK_SH_SOFTMAX_XENT_BWD] = {"loss_softmax_xent_bwd", loss_softmax_xent_bwd_spv,
                                      sizeof(loss_softmax_xent_bwd_spv), 4},
    [KILN__VK_SH_BCE_LOGITS] = {"loss_bce_logits", loss_bce_logits_spv, sizeof(loss_bce_logits_spv),
                                3},
    [KILN__VK_SH_BCE_LOGITS_BWD] = {"loss_bce_logits_bwd", loss_bce_logits_bwd_spv,
                                    sizeof(loss_bce_logits_bwd_spv), 4},
    [KILN__VK_SH_HINGE] = {"loss_hinge", loss_hinge_spv, sizeof(loss_hinge_spv), 3},
    [KILN__VK_SH_HINGE_BWD] = {"loss_hinge_bwd", loss_hinge_bwd_spv, sizeof(loss_hinge_bwd_spv), 4},
    [KILN__VK_SH_SGD] = {"optim_sgd", optim_sgd_spv, sizeof(optim_sgd_spv), 3},
    [KILN__VK_SH_ACCUMULATE] = {"optim_accumulate", optim_accumulate_spv,
                                sizeof(optim_accumulate_spv), 2},
    [KILN__VK_SH_ADAM] = {"optim_adam", optim_adam_spv, sizeof(optim_adam_spv), 4},
    [KILN__VK_SH_CONV2D] = {"conv_fwd", conv_fwd_spv, sizeof(conv_fwd_spv), 3},
    [KILN__VK_SH_CONV2D_BWD_DATA] = {"conv_bwd_data", conv_bwd_data_spv, sizeof(conv_bwd_data_spv),
                                     3},
    [KILN__VK_SH_CONV2D_BWD_FILTER] = {"conv_bwd_filter", conv_bwd_filter_spv,
                                       sizeof(conv_bwd_filter_spv), 3},
    [KILN__VK_SH_CONVGEMM_FWD] = {"convgemm_fwd", convgemm_fwd_spv, sizeof(convgemm_fwd_spv), 3},
    [KILN__VK_SH_CONVGEMM_FWD_S] = {"convgemm_fwd_s", convgemm_fwd_s_spv,
                                    sizeof(convgemm_fwd_s_spv), 3},
    [KILN__VK_SH_CONVGEMM_DATA] = {"convgemm_data", convgemm_data_spv, sizeof(convgemm_data_spv),
                                   3},
    [KILN__VK_SH_CONVGEMM_DATA_S] = {"convgemm_data_s", convgemm_data_s_spv,
                                     sizeof(convgemm_data_s_spv), 3},
    [KILN__VK_SH_CONVGEMM_FILTER] = {"convgemm_filter", convgemm_filter_spv,
                                     sizeof(convgemm_filter_spv), 3},
    [KILN__VK_SH_CONVGEMM_FILTER_S] = {"convgemm_filter_s", convgemm_filter_s_spv,
                                       sizeof(convgemm_filter_s_spv), 3},
    [KILN__VK_SH_CONVGEMM_SPLIT_SUM] = {"convgemm_split_sum", convgemm_split_sum_spv,
                                        sizeof(convgemm_split_sum_spv), 2},
    [KILN__VK_SH_MAXPOOL2D] = {"pool_max", pool_max_spv, sizeof(pool_max_spv), 2},
    [KILN__VK_SH_MAXPOOL2D_BWD] = {"pool_max_bwd", pool_max_bwd_spv, sizeof(pool_max_bwd_spv), 3},
    [KILN__VK_SH_MAXPOOL2D_IEEE] = {"pool_max_ieee", pool_max_ieee_spv, sizeof(pool_max_ieee_spv),
                                    2},
    [KILN__VK_SH_MAXPOOL2D_BWD_IEEE] = {"pool_max_bwd_ieee", pool_max_bwd_ieee_spv,
                                        sizeof(pool_max_bwd_ieee_spv), 3},
    [KILN__VK_SH_AVGPOOL2D] = {"pool_avg", pool_avg_spv, sizeof(pool_avg_spv), 2},
    [KILN__VK_SH_AVGPOOL2D_BWD] = {"pool_avg_bwd", pool_avg_bwd_spv, sizeof(pool_avg_bwd_spv), 2},
    [KILN__VK_SH_UPSAMPLE] = {"pool_upsample", pool_upsample_spv, sizeof(pool_upsample_spv), 2},
    [KILN__VK_SH_UPSAMPLE_BWD] = {"pool_upsample_bwd", pool_upsample_bwd_spv,
                                  sizeof(pool_upsample_bwd_spv), 2},
    [KILN__VK_SH_SLICE_PAD] = {"layout_slice_pad", layout_slice_pad_spv,
                               sizeof(layout_slice_pad_spv), 2},
    [KILN__VK_SH_COPY_ROWS] = {"layout_copy_rows", layout_copy_rows_spv,
                               sizeof(layout_copy_rows_spv), 2},
    [KILN__VK_SH_DROPOUT] = {"random_dropout", random_dropout_spv, sizeof(random_dropout_spv), 2},
    [KILN__VK_SH_BN_STATS] = {"norm_bn_stats", norm_bn_stats_spv, sizeof(norm_bn_stats_spv), 4},
    [KILN__VK_SH_BN_STATS_BWD] = {"norm_bn_stats_bwd", norm_bn_stats_bwd_spv,
                                  sizeof(norm_bn_stats_bwd_spv), 4},
    [KILN__VK_SH_BN_APPLY] = {"norm_bn_apply", norm_bn_apply_spv, sizeof(norm_bn_apply_spv), 5},
    [KILN__VK_SH_BN_APPLY_BWD] = {"norm_bn_apply_bwd", norm_bn_apply_bwd_spv,
                                  sizeof(norm_bn_apply_bwd_spv), 5},
    [KILN__VK_SH_BN_APPLY_BWD_PARAMS] = {"norm_bn_bwd_params", norm_bn_bwd_params_spv,
                                         sizeof(norm_bn_bwd_params_spv), 5},
    [KILN__VK_SH_BN_RUNNING_UPDATE] = {"norm_bn_running", norm_bn_running_spv,
                                       sizeof(norm_bn_running_spv), 3},
    [KILN__VK_SH_LRN] = {"norm_lrn", norm_lrn_spv, sizeof(norm_lrn_spv), 2},
    [KILN__VK_SH_LRN_BWD] = {"norm_lrn_bwd", norm_lrn_bwd_spv, sizeof(norm_lrn_bwd_spv), 3},
    [KILN__VK_SH_RNN_FWD] = {"rnn_fwd", rnn_fwd_spv, sizeof(rnn_fwd_spv), 5},
    [KILN__VK_SH_RNN_BWD] = {"rnn_bwd", rnn_bwd_spv, sizeof(rnn_bwd_spv), 5},
    [KILN__VK_SH_RNN_GEMM_NT] = {"rnngemm_nt", rnngemm_nt_spv, sizeof(rnngemm_nt_spv), 3},
    [KILN__VK_SH_RNN_GEMM_NN_ACC] = {"rnngemm_nn_acc", rnngemm_nn_acc_spv,
                                     sizeof(rnngemm_nn_acc_spv), 3},
};
