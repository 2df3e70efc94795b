/*
 * cpu_impl.h - the CPU backend's fast kernels: the ops of a training step where the
 * reference kernel's plain loops cost the most (convolutions and their gradients as a
 * few large GEMMs over chunks of the batch, pooling, ReLU, bias additions and their
 * reductions). Each computes what its op's reference in src/ops defines, in another
 * order or shape of loops; the references stay the definitions, and the op tests run
 * the fast kernels against them (the CPU backend's "reference" device runs references
 * only). A fast kernel takes only the nodes its predicate accepts; the reference runs
 * the rest. Not installed.
 */
#ifndef KILN_CPU_IMPL_H
#define KILN_CPU_IMPL_H

#include <stdbool.h>

#include "../../graph/graph_impl.h"

/* A fast kernel of one op. */
struct kiln__cpu_fast {
    /* optional: NULL = every node of the op. Whether run handles node n (shapes,
     * parameters); no message is recorded when it does not. */
    bool (*accepts)(const struct kiln_tensor *n);
    /* Computes a->node into a->out from a->in, like the op's reference. Scratch memory
     * comes from ctx's allocator and is freed before returning. Returns KILN_OK or
     * KILN_E_OUT_OF_HOST_MEMORY. */
    kiln_status (*run)(struct kiln_context *ctx, const struct kiln__op_args *a);
};

/*
 * OpenBLAS runs a product of up to 65536 x GEMM_MULTITHREAD_THRESHOLD (4 by default)
 * multiply-adds on the calling thread and wakes its threads for larger ones. Below
 * KILN__CPU_SERIAL_MACS in all, waking them costs more than it saves wherever the cores
 * are shared (a step waits for the slowest thread, and on a busy machine that one may
 * not be running), so the fast kernels cut such products into pieces of at most
 * KILN__CPU_BLAS_PIECE multiply-adds, which stay on the calling thread. Larger matrix
 * products, up to KILN__CPU_TILE_MACS, are cut the same way, into tiles that kiln's
 * OpenMP threads share (cpu_gemm.c); what is left whole to OpenBLAS's threads (larger
 * products, the GEMMs of wide convolution layers) runs outside any OpenMP region of
 * kiln's.
 */
#define KILN__CPU_BLAS_PIECE  ((int64_t)1 << 18)
#define KILN__CPU_SERIAL_MACS ((int64_t)1 << 22)

/* Where every BLAS call of a kernel is at most a piece, the kernel may run its pieces
 * on OpenMP threads itself (no BLAS threads nest inside), once it has at least
 * KILN__CPU_PAR_MACS multiply-adds: a few hundred microseconds of work on one core,
 * against tens for waking a thread. Up to KILN__CPU_MAX_THREADS threads. */
#define KILN__CPU_PAR_MACS    ((int64_t)1 << 22)
#define KILN__CPU_MAX_THREADS 16

/* Matrix products of more multiply-adds per batch item than this are left whole to
 * OpenBLAS, whose own blocking and threads beat kiln's tiles there: square SGEMM 2048
 * ran at 0.67x of OpenBLAS's direct call in tiles against 0.88x whole, and the MLP's
 * first layer at batch 256 (51M) lost as much. The MLP's at batch 64 (12.8M) stays in
 * tiles, steadier on a shared machine. */
#define KILN__CPU_TILE_MACS ((int64_t)1 << 25)

/* Elementwise and per-channel loops (ReLU, additions, pooling, batch normalization) run
 * on OpenMP threads above this many elements: a ResNet activation at batch 64 (802,816)
 * is half a millisecond of memory traffic on one core, worth waking a thread for, while
 * LeNet's (at most 301,056) stay on the calling thread, as does everything beside an
 * OpenBLAS-threaded product (the MLP's), whose threads the waiting ones would compete
 * with. The references keep KILN__PAR_MIN. */
#define KILN__CPU_PAR_ELEMS ((int64_t)1 << 19)

/* Optimizer updates (three or four arrays per element, all in the cache's way) run on
 * OpenMP threads above this many elements. Below it, on the 2-core machine with other
 * work running, waking a second thread cost more than the loop: the MLP's 235,146
 * parameters take about 50 us on one core and 60-400 us shared between two. */
#define KILN__CPU_OPTIM_PAR_ELEMS ((int64_t)1 << 20)

/* omp_get_max_threads() capped at KILN__CPU_MAX_THREADS (1 without OpenMP). */
int kiln__cpu_max_threads(void);

/* omp_get_thread_num() (0 without OpenMP). */
int kiln__cpu_thread(void);

/* ---- cpu_gemm.c ---- */

extern const struct kiln__cpu_fast kiln__cpu_matmul;

/* ---- cpu_conv.c ---- */

extern const struct kiln__cpu_fast kiln__cpu_conv2d, kiln__cpu_conv2d_bias,
    kiln__cpu_conv2d_bwd_data, kiln__cpu_conv2d_bwd_filter;

/* ---- cpu_layers.c ---- */

extern const struct kiln__cpu_fast kiln__cpu_relu, kiln__cpu_relu_bwd, kiln__cpu_add,
    kiln__cpu_add_relu, kiln__cpu_reduce_sum, kiln__cpu_maxpool2d, kiln__cpu_maxpool2d_bwd,
    kiln__cpu_maxpool2d_relu_bwd;

/* y[r, 0..ld) += bias[r] for the rows r < rows of a row-major [rows, ld] block, then
 * max(0, .) where relu: CONV2D_BIAS's epilogue, bitwise ADD then RELU of its reference,
 * run by the forward convolution on each chunk of its output as it is stored. */
void kiln__cpu_bias_rows(float *y, int64_t rows, int64_t ld, const float *bias, bool relu);
extern const struct kiln__cpu_fast kiln__cpu_broadcast;

/* ---- cpu_optim.c ---- */

extern const struct kiln__cpu_fast kiln__cpu_sgd_update, kiln__cpu_adam_update;

/* ---- cpu_norm.c ---- */

extern const struct kiln__cpu_fast kiln__cpu_bn_stats, kiln__cpu_bn_stats_bwd, kiln__cpu_bn_apply,
    kiln__cpu_bn_apply_bwd_params;

#endif /* KILN_CPU_IMPL_H */
