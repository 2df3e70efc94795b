/*
 * cpu_gemm.c - the CPU backend's fast MATMUL: C = op(A) op(B) (rank 2, or batched over
 * a leading dim), computed in pieces of at most KILN__CPU_BLAS_PIECE multiply-adds, so
 * that OpenBLAS runs every piece on the calling thread (cpu_impl.h says why).
 * Mid-sized products (at most KILN__CPU_SERIAL_MACS multiply-adds per batch item) are
 * blocks of rows of C, run in order on the calling thread. Larger ones up to
 * KILN__CPU_TILE_MACS per batch item, and those whose single row is larger than a
 * piece, are tiles of C (at most LARGE_TILE x LARGE_TILE), each the sum of pieces along
 * k accumulated in order by one call after another; the tiles are shared among OpenMP
 * threads from KILN__CPU_PAR_MACS multiply-adds (dynamic scheduling: a thread the
 * machine does not run takes fewer tiles, and which thread computes a tile changes
 * none of its bits). The reference (src/ops/gemm.c) makes one call per batch item; the
 * elements of C are the same dot products either way, summed in an order that may
 * differ with the block sizes (within the op's reduction tolerance).
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

/* Whether n is a mid-sized product: between one piece (OpenBLAS stays serial anyway)
 * and KILN__CPU_SERIAL_MACS, with rows of at most a piece. */
static bool rows_fit(int64_t m, int64_t nn, int64_t k)
{
    return nn * k <= KILN__CPU_BLAS_PIECE && m * nn * k <= KILN__CPU_SERIAL_MACS;
}

/* Every product larger than a piece and at most KILN__CPU_TILE_MACS per batch item. */
static bool matmul_accepts(const struct kiln_tensor *n)
{
    int64_t batch, m, nn, k;
    mm_dims(n, &batch, &m, &nn, &k);
    return batch > 0 && m > 0 && nn > 0 && k > 0 && m * nn * k > KILN__CPU_BLAS_PIECE &&
           m * nn * k <= KILN__CPU_TILE_MACS;
}

/* The row blocks of a mid-sized product. */
static void matmul_rows(const struct kiln__p_matmul *p, int64_t batch, int64_t m, int64_t nn,
                        int64_t k, const float *pa, const float *pb, float *pc)
{
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
}

/* Tiles of C in a large product are at most LARGE_TILE rows by LARGE_TILE columns; the
 * pieces along k then hold at least KILN__CPU_BLAS_PIECE / LARGE_TILE^2 = 64 terms. */
#define LARGE_TILE 64

/* A large product's tiling: batch x tm x tn tiles of mb x nb elements of C, each the sum
 * of pieces of kb terms. */
struct tiling {
    int64_t m, nn, k, mb, nb, kb, tm, tn;
};

/* The tiling of an m x nn x k product: tiles of up to LARGE_TILE x LARGE_TILE, and
 * pieces along k of all of k or the largest multiple of 16 terms that fits a piece. */
static void tiling_of(int64_t m, int64_t nn, int64_t k, struct tiling *t)
{
    t->m = m;
    t->nn = nn;
    t->k = k;
    t->mb = m < LARGE_TILE ? m : LARGE_TILE;
    t->nb = nn < LARGE_TILE ? nn : LARGE_TILE;
    t->kb = KILN__CPU_BLAS_PIECE / (t->mb * t->nb);
    t->kb = t->kb >= k ? k : t->kb - t->kb % 16;
    t->tm = (m + t->mb - 1) / t->mb;
    t->tn = (nn + t->nb - 1) / t->nb;
}

/* Tile (i0, j0) of C = op(A) op(B) for one batch item: its pieces along k in order, the
 * first writing C, the others adding to it. */
static void large_tile(const struct kiln__p_matmul *p, const struct tiling *t, int64_t i0,
                       int64_t j0, const float *a, const float *b, float *c)
{
    int64_t mb = t->m - i0 < t->mb ? t->m - i0 : t->mb,
            nb = t->nn - j0 < t->nb ? t->nn - j0 : t->nb;
    int lda = (int)(p->trans_a ? t->m : t->k), ldb = (int)(p->trans_b ? t->k : t->nn);
    for (int64_t k0 = 0; k0 < t->k; k0 += t->kb) {
        int64_t kb = t->k - k0 < t->kb ? t->k - k0 : t->kb;
        /* element (i, l) of op(A) and (l, j) of op(B) */
        const float *ap = p->trans_a ? a + k0 * lda + i0 : a + i0 * lda + k0;
        const float *bp = p->trans_b ? b + j0 * ldb + k0 : b + k0 * ldb + j0;
        cblas_sgemm(CblasRowMajor, p->trans_a ? CblasTrans : CblasNoTrans,
                    p->trans_b ? CblasTrans : CblasNoTrans, (int)mb, (int)nb, (int)kb, 1.0f, ap,
                    lda, bp, ldb, k0 == 0 ? 0.0f : 1.0f, c + i0 * t->nn + j0, (int)t->nn);
    }
}

/* The tiles of a large product, on OpenMP threads from KILN__CPU_PAR_MACS multiply-adds. */
static void matmul_tiles(const struct kiln__p_matmul *p, int64_t batch, int64_t m, int64_t nn,
                         int64_t k, const float *pa, const float *pb, float *pc)
{
    struct tiling t;
    tiling_of(m, nn, k, &t);
    int64_t per_item = t.tm * t.tn, tiles = batch * per_item;
    int nt = batch * m * nn * k >= KILN__CPU_PAR_MACS ? kiln__cpu_max_threads() : 1;
    nt = tiles < nt ? (int)tiles : nt;
#pragma omp parallel for schedule(dynamic) num_threads(nt) if (nt > 1)
    for (int64_t q = 0; q < tiles; q++) {
        int64_t i = q / per_item, r = q % per_item;
        large_tile(p, &t, r / t.tn * t.mb, r % t.tn * t.nb, pa + i * m * k, pb + i * k * nn,
                   pc + i * m * nn);
    }
}

static kiln_status fast_matmul(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    (void)ctx;
    const struct kiln__p_matmul *p = kiln__params(a->node);
    int64_t batch, m, nn, k;
    mm_dims(a->node, &batch, &m, &nn, &k);
    if (rows_fit(m, nn, k)) {
        matmul_rows(p, batch, m, nn, k, a->in[0], a->in[1], a->out);
    } else {
        matmul_tiles(p, batch, m, nn, k, a->in[0], a->in[1], a->out);
    }
    return KILN_OK;
}

const struct kiln__cpu_fast kiln__cpu_matmul = {matmul_accepts, fast_matmul};
