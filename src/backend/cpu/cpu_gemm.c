/*
 * cpu_gemm.c - the CPU backend's fast MATMUL for mid-sized products: C = op(A) op(B)
 * (rank 2, or batched over a leading dim) of at most KILN__CPU_SERIAL_MACS
 * multiply-adds per batch item, computed as blocks of rows of C of at most
 * KILN__CPU_BLAS_PIECE multiply-adds each, so that OpenBLAS runs every piece on the
 * calling thread (cpu_impl.h says why). The reference (src/ops/gemm.c) makes one call
 * per batch item; rows of C are the same dot products either way, summed in an order
 * that may differ with the block size (within the op's reduction tolerance). Larger
 * products, and those whose single row is larger than a piece, run the reference.
 */
#include <cblas.h>

#include "../../context_impl.h"
#include "cpu_impl.h"

/* The batch, m, n and k of node n. */
static void mm_dims(const struct kiln_tensor *n, int64_t *batch, int64_t *m, int64_t *nn,
                    int64_t *k)
{
    const struct kiln__p_matmul *p = kiln__params(n);
    const struct kiln_shape *a = &n->src[0]->shape, *b = &n->src[1]->shape;
    int32_t r = a->rank;
    *batch = r == 3 ? a->dims[0] : 1;
    *m = p->trans_a ? a->dims[r - 1] : a->dims[r - 2];
    *k = p->trans_a ? a->dims[r - 2] : a->dims[r - 1];
    *nn = p->trans_b ? b->dims[r - 2] : b->dims[r - 1];
}

/* Between one piece (OpenBLAS stays serial anyway) and KILN__CPU_SERIAL_MACS. */
static bool matmul_accepts(const struct kiln_tensor *n)
{
    int64_t batch, m, nn, k;
    mm_dims(n, &batch, &m, &nn, &k);
    return batch > 0 && m > 0 && nn > 0 && k > 0 && nn * k <= KILN__CPU_BLAS_PIECE &&
           m * nn * k > KILN__CPU_BLAS_PIECE && m * nn * k <= KILN__CPU_SERIAL_MACS;
}

static kiln_status fast_matmul(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    const struct kiln__p_matmul *p = kiln__params(a->node);
    int64_t batch, m, nn, k;
    mm_dims(a->node, &batch, &m, &nn, &k);
    const float *pa = a->in[0], *pb = a->in[1];
    float *pc = a->out;
    int lda = (int)(p->trans_a ? m : k), ldb = (int)(p->trans_b ? k : nn);
    int64_t rows = KILN__CPU_BLAS_PIECE / (nn * k);
    for (int64_t i = 0; i < batch; i++) {
        const float *ai = pa + i * m * k, *bi = pb + i * k * nn;
        float *ci = pc + i * m * nn;
        for (int64_t r0 = 0; r0 < m; r0 += rows) {
            int64_t mb = m - r0 < rows ? m - r0 : rows;
            /* rows r0.. of op(A): rows of A, or columns of A when transposed */
            cblas_sgemm(CblasRowMajor, p->trans_a ? CblasTrans : CblasNoTrans,
                        p->trans_b ? CblasTrans : CblasNoTrans, (int)mb, (int)nn, (int)k, 1.0f,
                        p->trans_a ? ai + r0 : ai + r0 * k, lda, bi, ldb, 0.0f, ci + r0 * nn,
                        (int)nn);
        }
    }
    return KILN_OK;
}

const struct kiln__cpu_fast kiln__cpu_matmul = {matmul_accepts, fast_matmul};
