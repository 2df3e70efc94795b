/*
 * kiln/nn.h - (filled in by the nn part of the library).
 */
#ifndef KILN_NN_H
#define KILN_NN_H

#include "graph.h"

/* ==== Convolutional layers (src/nn/conv.c) ==== */

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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
 * "<name>.bias" (shape [out_channels, 1, 1], added by broadcasting). Both U(-b, b) with
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

#ifdef __cplusplus
}
#endif

#endif /* KILN_NN_H */
