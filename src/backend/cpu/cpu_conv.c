/*
 * cpu_conv.c - the CPU backend's fast convolutions: CONV2D, CONV2D_BWD_DATA and
 * CONV2D_BWD_FILTER over chunks of the batch, one GEMM (cut into pieces) per chunk and group.
 * CONV2D_BIAS (the planner's fusion of a layer's bias and ReLU) runs the forward kernel,
 * which adds them to each chunk's output as it is stored (kiln__cpu_bias_rows).
 *
 * The reference (src/ops/conv.c) runs one im2col and one small sgemm per image and
 * group. Here the receptive fields of several images are gathered into one column
 * matrix col [C/groups KH KW, B OH OW] (B images side by side), so that each GEMM is B
 * times wider, and the gathering copies whole runs of a row instead of testing every
 * element against the padding:
 *  - forward:  y_chunk [K/groups, B OH OW] = w [K/groups, CKK] col, scattered to NCHW;
 *  - data:     col = w^T dy_chunk, then col2im adds the columns into dx;
 *  - filter:   dw += dy_chunk col^T, summed over the chunks in fixed slices of the batch.
 * Every GEMM call is cut into pieces of at most KILN__CPU_BLAS_PIECE multiply-adds
 * (cpu_impl.h), blocks of output columns (forward), of rows and columns of col (data)
 * or of dw and of the summed positions (filter), so that OpenBLAS runs each on the
 * calling thread: its own threads, woken for every larger call, spent most of a step
 * waiting for each other on the shared 2-core machine. The chunks of the batch are
 * then shared among OpenMP threads once the op has KILN__CPU_PAR_MACS multiply-adds.
 * Only wide layers, whose pieces would be a few columns thin (PIECE_COLS), keep whole
 * GEMMs, which OpenBLAS threads itself, on one kiln thread. B is chosen so that col
 * stays within COL_BYTES (a fraction of a core's L2 cache; more for larger images),
 * one image at least; where one image's GEMM is at most a piece, also so that the
 * chunk's GEMM is one piece (one call per chunk and group). Scratch memory is bounded
 * by those sizes (or one image's columns). The sums run in another order than the
 * reference's: results agree within the op's reduction tolerance, which the op tests
 * check against the reference.
 */
#include <cblas.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "../../context_impl.h"
#include "cpu_impl.h"

/* Column-matrix bytes per chunk: for images whose GEMM is at most a piece, for larger
 * ones cut into pieces, and for those of wide layers (whole GEMMs). */
#define COL_BYTES     ((size_t)128 * 1024)
#define CUT_COL_BYTES ((size_t)512 * 1024)
#define BIG_COL_BYTES ((size_t)2048 * 1024)

/* Output columns per GEMM piece, at least (fewer: the layer's GEMMs are not cut). */
#define PIECE_COLS 4

/* Summed positions per piece of the filter gradient's product, at least: fewer would
 * reload dw's block for every few positions. */
#define FILTER_SPAN 256

/* ==== Geometry ==== */

struct cgeom {
    int64_t n, c, h, w;     /* x (or dx) */
    int64_t k, kh, kw;      /* w (or dw): [k, cg, kh, kw] */
    int64_t oh, ow;         /* y (or dy) */
    int64_t groups, cg, kg; /* channels per group: input cg, output kg */
    int64_t ckk, ohw;       /* GEMM inner size (forward), output plane */
    int64_t nb;             /* images per chunk */
    int64_t piece;          /* the most multiply-adds per GEMM call (INT64_MAX: no limit) */
    int32_t sh, sw, ph, pw, dh, dw;
};

static void cgeom_of(const struct kiln_tensor *n, struct cgeom *g)
{
    const struct kiln_shape *x, *w, *y;
    if (n->op == KILN_OP_CONV2D || n->op == KILN_OP_CONV2D_BIAS) {
        x = &n->src[0]->shape, w = &n->src[1]->shape, y = &n->shape;
    } else if (n->op == KILN_OP_CONV2D_BWD_DATA) {
        x = &n->shape, w = &n->src[1]->shape, y = &n->src[0]->shape;
    } else {
        x = &n->src[0]->shape, w = &n->shape, y = &n->src[1]->shape;
    }
    const struct kiln__p_conv2d *p = kiln__params(n);
    g->n = x->dims[0], g->c = x->dims[1], g->h = x->dims[2], g->w = x->dims[3];
    g->k = w->dims[0], g->kh = w->dims[2], g->kw = w->dims[3];
    g->oh = y->dims[2], g->ow = y->dims[3];
    g->groups = p->groups;
    g->cg = g->c / g->groups;
    g->kg = g->k / g->groups;
    g->ckk = g->cg * g->kh * g->kw;
    g->ohw = g->oh * g->ow;
    g->sh = p->stride[0], g->sw = p->stride[1];
    g->ph = p->pad[0], g->pw = p->pad[1];
    g->dh = p->dilation[0], g->dw = p->dilation[1];
    /* Pieces of at least PIECE_COLS output columns (forward), and at least as many
     * columns of dw per FILTER_SPAN positions (filter); beyond that (wide layers) every
     * GEMM is one call, which OpenBLAS threads itself. */
    bool cut = g->kg * g->ckk * PIECE_COLS <= KILN__CPU_BLAS_PIECE &&
               g->kg * FILTER_SPAN * PIECE_COLS <= KILN__CPU_BLAS_PIECE;
    g->piece = cut ? KILN__CPU_BLAS_PIECE : INT64_MAX;
    size_t per_image = (size_t)(g->ckk * g->ohw) * sizeof(float);
    int64_t macs = g->kg * g->ckk * g->ohw; /* of one image's GEMM */
    if (macs > KILN__CPU_BLAS_PIECE) {
        /* cut: chunks only set the work per thread; whole GEMMs, threaded by OpenBLAS,
         * wait for its threads less often when fewer and larger */
        size_t bytes = cut ? CUT_COL_BYTES : BIG_COL_BYTES;
        g->nb = per_image > 0 ? (int64_t)(bytes / per_image) : 1;
    } else {
        g->nb = per_image > 0 ? (int64_t)(COL_BYTES / per_image) : 1;
        g->nb =
            macs > 0 && KILN__CPU_BLAS_PIECE / macs < g->nb ? KILN__CPU_BLAS_PIECE / macs : g->nb;
    }
    g->nb = g->nb < 1 ? 1 : g->nb > g->n ? g->n : g->nb;
}

/* Every shape the op accepts, except empty ones and GEMM sizes beyond int. */
static bool conv_accepts(const struct kiln_tensor *n)
{
    struct cgeom g;
    cgeom_of(n, &g);
    return g.n > 0 && g.ckk > 0 && g.ohw > 0 && g.kg > 0 && g.h * g.w > 0 &&
           g.nb * g.ohw <= INT_MAX && g.ckk <= INT_MAX && g.kg <= INT_MAX;
}

/* The outputs o in [0, n_out) whose input o s + off lies in [0, n_in): [*lo, *hi). */
static void valid_range(int64_t n_in, int64_t n_out, int64_t s, int64_t off, int64_t *lo,
                        int64_t *hi)
{
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = n_in - 1 - off < 0 ? 0 : (n_in - 1 - off) / s + 1;
    h = h < n_out ? h : n_out;
    *lo = l < h ? l : h;
    *hi = h;
}

/* One (i, j) offset of the kernel window: its input offsets and the valid output box. */
struct tap {
    int64_t ioff, joff; /* input row, column of output (0, 0) */
    int64_t oh0, oh1;   /* output rows with an in-range input row */
    int64_t ow0, ow1;   /* output columns with an in-range input column */
    bool plane;         /* the valid box is one contiguous run of x (stride 1, full rows) */
};

/* taps[i KW + j] for the KH KW offsets of g's kernel. */
static void taps_of(const struct cgeom *g, struct tap *taps)
{
    for (int64_t i = 0; i < g->kh; i++) {
        for (int64_t j = 0; j < g->kw; j++) {
            struct tap *t = &taps[i * g->kw + j];
            t->ioff = i * g->dh - g->ph;
            t->joff = j * g->dw - g->pw;
            valid_range(g->h, g->oh, g->sh, t->ioff, &t->oh0, &t->oh1);
            valid_range(g->w, g->ow, g->sw, t->joff, &t->ow0, &t->ow1);
            t->plane = g->sh == 1 && g->sw == 1 && g->ow == g->w && t->joff == 0;
        }
    }
}

/* d[0..n) = s[0..n): runs are short (a row of an output plane), so whole vectors first
 * and no alignment prologue. */
static inline void copy_run(float *d, const float *s, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(d + i, s + i, 8 * sizeof(float));
    }
    if (i + 4 <= n) {
        memcpy(d + i, s + i, 4 * sizeof(float));
        i += 4;
    }
    for (; i < n; i++) {
        d[i] = s[i];
    }
}

/* d[0..n) += s[0..n) (d and s do not overlap). */
static inline void add_run(float *d, const float *s, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
#pragma omp simd
        for (int t = 0; t < 8; t++) {
            d[i + t] += s[i + t];
        }
    }
    for (; i < n; i++) {
        d[i] += s[i];
    }
}

/* ==== Column matrices ==== */

/* The col rows of one image's channel: c's KH KW taps over its plane xc, each row at
 * d + (tap) ld. */
static void im2col_plane(const float *xc, const struct cgeom *g, const struct tap *taps, int64_t ld,
                         float *d)
{
    for (int64_t q = 0; q < g->kh * g->kw; q++, d += ld) {
        const struct tap *t = &taps[q];
        memset(d, 0, (size_t)(t->oh0 * g->ow) * sizeof(float));
        if (t->plane) {
            memcpy(d + t->oh0 * g->ow, xc + (t->oh0 + t->ioff) * g->w,
                   (size_t)((t->oh1 - t->oh0) * g->ow) * sizeof(float));
        } else {
            int64_t n_mid = t->ow1 - t->ow0;
            for (int64_t oh = t->oh0; oh < t->oh1; oh++) {
                const float *xr = xc + (oh * g->sh + t->ioff) * g->w + t->joff;
                float *dr = d + oh * g->ow;
                for (int64_t ow = 0; ow < t->ow0; ow++) {
                    dr[ow] = 0.0f;
                }
                if (g->sw == 1) {
                    copy_run(dr + t->ow0, xr + t->ow0, n_mid);
                } else {
                    for (int64_t ow = t->ow0; ow < t->ow1; ow++) {
                        dr[ow] = xr[ow * g->sw];
                    }
                }
                for (int64_t ow = t->ow1; ow < g->ow; ow++) {
                    dr[ow] = 0.0f;
                }
            }
        }
        memset(d + t->oh1 * g->ow, 0, (size_t)((g->oh - t->oh1) * g->ow) * sizeof(float));
    }
}

/*
 * col[(c KH + i) KW + j][b OH OW + oh OW + ow] = x_b[c, oh sh + ioff, ow sw + joff] (zero
 * outside the plane), for the cg channels of one group of nb images. [in] x: channel 0
 * of the group in the first image; images are img apart.
 */
static void im2col(const float *x, int64_t img, int64_t nb, const struct cgeom *g,
                   const struct tap *taps, float *col)
{
    int64_t ld = nb * g->ohw, kk = g->kh * g->kw;
    for (int64_t b = 0; b < nb; b++) {
        for (int64_t c = 0; c < g->cg; c++) {
            im2col_plane(x + b * img + c * g->h * g->w, g, taps, ld,
                         col + c * kk * ld + b * g->ohw);
        }
    }
}

/* The adjoint of im2col: adds every in-range column entry into dx (same layout as x). */
static void col2im(const float *col, int64_t img, int64_t nb, const struct cgeom *g,
                   const struct tap *taps, float *dx)
{
    int64_t ld = nb * g->ohw, kk = g->kh * g->kw;
    for (int64_t b = 0; b < nb; b++) {
        for (int64_t c = 0; c < g->cg; c++) {
            float *xc = dx + b * img + c * g->h * g->w;
            const float *s = col + c * kk * ld + b * g->ohw;
            for (int64_t q = 0; q < kk; q++, s += ld) {
                const struct tap *t = &taps[q];
                for (int64_t oh = t->oh0; oh < t->oh1; oh++) {
                    float *xr = xc + (oh * g->sh + t->ioff) * g->w + t->joff;
                    const float *sr = s + oh * g->ow;
                    if (g->sw == 1) {
                        add_run(xr + t->ow0, sr + t->ow0, t->ow1 - t->ow0);
                    } else {
                        for (int64_t ow = t->ow0; ow < t->ow1; ow++) {
                            xr[ow * g->sw] += sr[ow];
                        }
                    }
                }
            }
        }
    }
}

/* dyc[k][b OH OW + p] = dy_b[koff + k][p] for the kg channels from koff of nb images
 * (planes of OH OW, images img apart): one group's gradient as a [kg, nb OH OW] matrix. */
static void gather(const float *dy, int64_t img, int64_t nb, const struct cgeom *g, float *dyc)
{
    for (int64_t k = 0; k < g->kg; k++) {
        for (int64_t b = 0; b < nb; b++) {
            memcpy(dyc + (k * nb + b) * g->ohw, dy + b * img + k * g->ohw,
                   (size_t)g->ohw * sizeof(float));
        }
    }
}

/* The inverse of gather: y_b[k][p] = yc[k][b OH OW + p]. */
static void scatter(const float *yc, int64_t img, int64_t nb, const struct cgeom *g, float *y)
{
    for (int64_t k = 0; k < g->kg; k++) {
        for (int64_t b = 0; b < nb; b++) {
            memcpy(y + b * img + k * g->ohw, yc + (k * nb + b) * g->ohw,
                   (size_t)g->ohw * sizeof(float));
        }
    }
}

/* ==== Products in pieces ==== */

/* Rows of col per piece of the data gradient's product: blocks of rows keep the piece's
 * share of w in registers across more columns than single columns of all rows would. */
#define DATA_ROWS 64

/* max(1, min(v, hi)) */
static int64_t clamp1(int64_t v, int64_t hi)
{
    v = v < hi ? v : hi;
    return v < 1 ? 1 : v;
}

/* c[m, n] = a[m, k] b[k, n] (row-major, leading dimensions lda, ldb, ldc), in blocks of
 * columns of at most piece multiply-adds each. */
static void gemm_nn(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                    int64_t ldb, float *c, int64_t ldc, int64_t piece)
{
    int64_t nb = m * n * k <= piece ? n : clamp1(piece / (m * k), n);
    for (int64_t j = 0; j < n; j += nb) {
        int64_t w = n - j < nb ? n - j : nb;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)w, (int)k, 1.0f, a,
                    (int)lda, b + j, (int)ldb, 0.0f, c + j, (int)ldc);
    }
}

/* c[m, n] = a^T b with a [k, m] (lda) and b [k, n] (ldb), in blocks of at most piece
 * multiply-adds: DATA_ROWS rows by as many columns as fit. */
static void gemm_tn(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                    int64_t ldb, float *c, int64_t ldc, int64_t piece)
{
    int64_t mb = m, nb = n;
    if (m * n * k > piece) {
        mb = clamp1(DATA_ROWS, m);
        nb = clamp1(piece / (mb * k), n);
    }
    for (int64_t i = 0; i < m; i += mb) {
        int64_t h = m - i < mb ? m - i : mb;
        for (int64_t j = 0; j < n; j += nb) {
            int64_t w = n - j < nb ? n - j : nb;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)h, (int)w, (int)k, 1.0f,
                        a + i, (int)lda, b + j, (int)ldb, 0.0f, c + i * ldc + j, (int)ldc);
        }
    }
}

/* c[m, n] (+)= a b^T with a [m, k] (lda) and b [n, k] (ldb), written where first, else
 * added, in blocks of at most piece multiply-adds: at least FILTER_SPAN of the k summed
 * positions (all of them if fewer) by as many columns as fit. The pieces of one column
 * block add up in order of k. */
static void gemm_nt(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                    int64_t ldb, float *c, int64_t ldc, bool first, int64_t piece)
{
    int64_t kb = k, nb = n;
    if (m * n * k > piece) {
        int64_t span = piece / (m * n);
        kb = clamp1(span > FILTER_SPAN ? span : FILTER_SPAN, k);
        nb = clamp1(piece / (m * kb), n);
    }
    for (int64_t j = 0; j < n; j += nb) {
        int64_t w = n - j < nb ? n - j : nb;
        for (int64_t p = 0; p < k; p += kb) {
            int64_t d = k - p < kb ? k - p : kb;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)w, (int)d, 1.0f,
                        a + p, (int)lda, b + j * ldb + p, (int)ldb, first && p == 0 ? 0.0f : 1.0f,
                        c + j, (int)ldc);
        }
    }
}

/* ==== Kernels ==== */

/* Filter gradients sum their chunks in this many slices of consecutive chunks, each into
 * its own partial sum, then add the slices in order: the result does not depend on how
 * the threads shared the chunks, nor on their number. */
#define FILTER_SLICES 4

/* A kernel's scratch memory: per thread a column matrix and, with several images per
 * chunk, the [kg, nb OH OW] matrix of the output (forward) or of dy (gradients). */
struct scratch {
    struct tap *taps; /* [KH KW], shared */
    int n_threads;
    float *col[KILN__CPU_MAX_THREADS];
    float *mat[KILN__CPU_MAX_THREADS]; /* NULL with one image per chunk */
    float *part;                       /* filter gradient: slices 1.. of the partial sums */
};

static void scratch_free(struct kiln_context *ctx, struct scratch *s)
{
    kiln__free(ctx, s->taps);
    for (int t = 0; t < s->n_threads; t++) {
        kiln__free(ctx, s->col[t]);
        kiln__free(ctx, s->mat[t]);
    }
    kiln__free(ctx, s->part);
}

/* The chunks of the batch. */
static int64_t n_chunks(const struct cgeom *g)
{
    return (g->n + g->nb - 1) / g->nb;
}

/* Threads for an op: several when every GEMM call is at most a piece (OpenBLAS runs it
 * on its calling thread) and the op is large enough to pay for waking them; else 1
 * (OpenBLAS threads a wide layer's GEMMs itself). */
static int threads_for(const struct cgeom *g, int64_t items)
{
    int64_t image_macs = g->kg * g->ckk * g->ohw;
    if ((image_macs * g->nb > KILN__CPU_BLAS_PIECE && g->piece == INT64_MAX) ||
        image_macs * g->groups * g->n < KILN__CPU_PAR_MACS) {
        return 1;
    }
    int64_t t = kiln__cpu_max_threads();
    t = t < items ? t : items;
    return t < 1 ? 1 : (int)t;
}

static kiln_status scratch_alloc(struct kiln_context *ctx, const struct cgeom *g, int n_threads,
                                 int64_t part_floats, struct scratch *s)
{
    bool ok = true;
    memset(s, 0, sizeof(*s));
    s->n_threads = n_threads;
    s->taps = kiln__alloc(ctx, (size_t)(g->kh * g->kw) * sizeof(struct tap),
                          "a convolution's kernel offsets");
    ok = s->taps != NULL;
    for (int t = 0; ok && t < n_threads; t++) {
        s->col[t] = kiln__alloc(ctx, (size_t)(g->ckk * g->nb * g->ohw) * sizeof(float),
                                "a convolution's column matrix");
        if (s->col[t] != NULL && g->nb > 1) {
            s->mat[t] = kiln__alloc(ctx, (size_t)(g->kg * g->nb * g->ohw) * sizeof(float),
                                    "a convolution's chunk of the batch");
        }
        ok = s->col[t] != NULL && (g->nb == 1 || s->mat[t] != NULL);
    }
    if (ok && part_floats > 0) {
        s->part = kiln__alloc(ctx, (size_t)part_floats * sizeof(float),
                              "a filter gradient's partial sums");
        ok = s->part != NULL;
    }
    if (!ok) {
        scratch_free(ctx, s);
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    taps_of(g, s->taps);
    return KILN_OK;
}

/* The images [b0, b0 + nb) of chunk c. */
static int64_t chunk_images(const struct cgeom *g, int64_t c, int64_t *b0)
{
    *b0 = c * g->nb;
    return g->n - *b0 < g->nb ? g->n - *b0 : g->nb;
}

/* y for the images of chunk c, every group; with a bias (CONV2D_BIAS), plus the bias of
 * each output channel (then ReLU where relu). */
static void conv_chunk(const struct cgeom *g, const struct tap *taps, float *col, float *yc,
                       const float *x, const float *w, const float *bias, bool relu, float *y,
                       int64_t c)
{
    int64_t b0, nb = chunk_images(g, c, &b0);
    int64_t ximg = g->c * g->h * g->w, yimg = g->k * g->ohw, ld = nb * g->ohw;
    for (int64_t gr = 0; gr < g->groups; gr++) {
        float *yb = y + b0 * yimg + gr * g->kg * g->ohw;
        im2col(x + b0 * ximg + gr * g->cg * g->h * g->w, ximg, nb, g, taps, col);
        gemm_nn(g->kg, ld, g->ckk, w + gr * g->kg * g->ckk, g->ckk, col, ld, nb > 1 ? yc : yb, ld,
                g->piece);
        if (bias != NULL) {
            /* the chunk's [kg, nb OH OW] output, still in cache */
            kiln__cpu_bias_rows(nb > 1 ? yc : yb, g->kg, ld, bias + gr * g->kg, relu);
        }
        if (nb > 1) {
            scatter(yc, yimg, nb, g, yb);
        }
    }
}

/* dx for the images of chunk c (zeroed first), every group. */
static void data_chunk(const struct cgeom *g, const struct tap *taps, float *col, float *dyc,
                       const float *dy, const float *w, float *dx, int64_t c)
{
    int64_t b0, nb = chunk_images(g, c, &b0);
    int64_t ximg = g->c * g->h * g->w, yimg = g->k * g->ohw, ld = nb * g->ohw;
    memset(dx + b0 * ximg, 0, (size_t)(nb * ximg) * sizeof(float));
    for (int64_t gr = 0; gr < g->groups; gr++) {
        const float *dyb = dy + b0 * yimg + gr * g->kg * g->ohw;
        if (nb > 1) {
            gather(dyb, yimg, nb, g, dyc);
        }
        gemm_tn(g->ckk, ld, g->kg, w + gr * g->kg * g->ckk, g->ckk, nb > 1 ? dyc : dyb, ld, col, ld,
                g->piece);
        col2im(col, ximg, nb, g, taps, dx + b0 * ximg + gr * g->cg * g->h * g->w);
    }
}

/* dw (every group) of the images of chunk c, written (first) or added to sum. */
static void filter_chunk(const struct cgeom *g, const struct tap *taps, float *col, float *dyc,
                         const float *x, const float *dy, float *sum, bool first, int64_t c)
{
    int64_t b0, nb = chunk_images(g, c, &b0);
    int64_t ximg = g->c * g->h * g->w, yimg = g->k * g->ohw, ld = nb * g->ohw;
    for (int64_t gr = 0; gr < g->groups; gr++) {
        const float *dyb = dy + b0 * yimg + gr * g->kg * g->ohw;
        im2col(x + b0 * ximg + gr * g->cg * g->h * g->w, ximg, nb, g, taps, col);
        if (nb > 1) {
            gather(dyb, yimg, nb, g, dyc);
        }
        gemm_nt(g->kg, g->ckk, ld, nb > 1 ? dyc : dyb, ld, col, ld, sum + gr * g->kg * g->ckk,
                g->ckk, first, g->piece);
    }
}

static kiln_status fast_conv(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    struct cgeom g;
    struct scratch sc;
    cgeom_of(a->node, &g);
    int64_t chunks = n_chunks(&g);
    int nt = threads_for(&g, chunks);
    KILN_TRY(scratch_alloc(ctx, &g, nt, 0, &sc));
    const float *x = a->in[0], *w = a->in[1];
    /* CONV2D_BIAS: the layer's bias (and ReLU), added as each chunk is stored */
    bool fused = a->node->op == KILN_OP_CONV2D_BIAS;
    const float *bias = fused ? a->in[2] : NULL;
    bool relu = fused && ((const struct kiln__p_conv2d_bias *)kiln__params(a->node))->relu;
    float *y = a->out;
#pragma omp parallel for schedule(dynamic) num_threads(nt) if (nt > 1)
    for (int64_t c = 0; c < chunks; c++) {
        int t = kiln__cpu_thread();
        conv_chunk(&g, sc.taps, sc.col[t], sc.mat[t], x, w, bias, relu, y, c);
    }
    scratch_free(ctx, &sc);
    return KILN_OK;
}

static kiln_status fast_bwd_data(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    struct cgeom g;
    struct scratch sc;
    cgeom_of(a->node, &g);
    int64_t chunks = n_chunks(&g);
    int nt = threads_for(&g, chunks);
    KILN_TRY(scratch_alloc(ctx, &g, nt, 0, &sc));
    const float *dy = a->in[0], *w = a->in[1];
    float *dx = a->out;
#pragma omp parallel for schedule(dynamic) num_threads(nt) if (nt > 1)
    for (int64_t c = 0; c < chunks; c++) {
        int t = kiln__cpu_thread();
        data_chunk(&g, sc.taps, sc.col[t], sc.mat[t], dy, w, dx, c);
    }
    scratch_free(ctx, &sc);
    return KILN_OK;
}

static kiln_status fast_bwd_filter(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    struct cgeom g;
    struct scratch sc;
    cgeom_of(a->node, &g);
    int64_t chunks = n_chunks(&g), slices = chunks < FILTER_SLICES ? chunks : FILTER_SLICES;
    int64_t dw_floats = a->node->n_elems;
    int nt = threads_for(&g, slices);
    KILN_TRY(scratch_alloc(ctx, &g, nt, (slices - 1) * dw_floats, &sc));
    const float *x = a->in[0], *dy = a->in[1];
    float *dw = a->out;
#pragma omp parallel for schedule(dynamic) num_threads(nt) if (nt > 1)
    for (int64_t sl = 0; sl < slices; sl++) {
        int t = kiln__cpu_thread();
        float *sum = sl == 0 ? dw : sc.part + (sl - 1) * dw_floats;
        for (int64_t c = sl * chunks / slices; c < (sl + 1) * chunks / slices; c++) {
            filter_chunk(&g, sc.taps, sc.col[t], sc.mat[t], x, dy, sum, c == sl * chunks / slices,
                         c);
        }
    }
    for (int64_t sl = 1; sl < slices; sl++) {
        const float *p = sc.part + (sl - 1) * dw_floats;
#pragma omp simd
        for (int64_t i = 0; i < dw_floats; i++) {
            dw[i] += p[i];
        }
    }
    scratch_free(ctx, &sc);
    return KILN_OK;
}

const struct kiln__cpu_fast kiln__cpu_conv2d = {conv_accepts, fast_conv};
const struct kiln__cpu_fast kiln__cpu_conv2d_bias = {conv_accepts, fast_conv};
const struct kiln__cpu_fast kiln__cpu_conv2d_bwd_data = {conv_accepts, fast_bwd_data};
const struct kiln__cpu_fast kiln__cpu_conv2d_bwd_filter = {conv_accepts, fast_bwd_filter};
