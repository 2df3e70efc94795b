/*
 * cpu_conv.c - the CPU backend's fast convolutions: CONV2D, CONV2D_BWD_DATA and
 * CONV2D_BWD_FILTER: those of stride 1 and one group on direct kernels (below, "Direct
 * kernels"), the others over chunks of the batch, one GEMM (cut into pieces) per chunk and
 * group. CONV2D_BIAS (the planner's fusion of a layer's bias and ReLU) runs the forward
 * kernels, which add them to each chunk's (or image's) output as it is stored
 * (kiln__cpu_bias_rows).
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

/* ==== Direct kernels (stride 1) ==== */

/*
 * With stride 1 and one group, a convolution needs no column matrix: on the input planes
 * padded into a buffer of rows Ws wide, the tap (c, i, j) of output position p = oh Ws + ow
 * reads src[p + off], off = (c Hs + i dh) Ws + j dw, so that every row of the im2col
 * matrix is a contiguous run of src. The kernels below run the product on such runs
 * ("wide" rows: positions ow in [OW, Ws) are computed too and dropped), in registers
 * blocks of DMR output channels by DNV vectors of positions (forward), or of FMR rows of
 * dy by FNT taps, summed along the positions (filter). The data gradient is the forward
 * kernel on dy padded by (KH - 1) dh - ph rows and (KW - 1) dw - pw columns, with the
 * kernel flipped and its two channel axes swapped. These kernels are built for x86-64's
 * baseline and, with GCC, also for x86-64-v3 (AVX2, FMA) and v4 (AVX-512), one of which
 * the loader picks for the CPU; those two contract a product and its sum into one fused
 * multiply-add (ISO C mode leaves them apart), 20-40% faster on Zen 4 in bench_conv.
 */

#define VF  16 /* floats per vector */
#define DMR 6  /* output channels per block of the forward kernel */
#define DNV 2  /* vectors of positions per block of the forward kernel */
#define FMR 6  /* rows of dy per block of the filter kernel */
#define FNT 4  /* taps per block of the filter kernel */

/* Images per group of the filter kernel: their packed planes stay in L2 together. */
#define FILTER_GROUP 8

typedef float vf __attribute__((vector_size(VF * sizeof(float))));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define DIRECT_CLONES                                                                              \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"),                   \
                   optimize("fp-contract=fast")))
#else
#define DIRECT_CLONES
#endif

/* A direct kernel's layout: the padded source planes, the output and the blocks. */
struct dgeom {
    int64_t cs, hs, ws; /* source planes: channels, rows, row length (padded) */
    int64_t top, left;  /* padding before the first row, column */
    int64_t sh, sw;     /* unpadded source plane */
    int64_t co, ho, wo; /* output channels, plane */
    int64_t taps, tpad; /* cs KH KW, rounded up to FNT (filter) */
    int64_t rows;       /* co rounded up to DMR (forward) or FMR (filter) */
    int64_t pw;         /* wide positions per image: (ho - 1) ws + wo rounded up */
    int64_t wop;        /* in lanes: output positions per row, wo rounded up to DNV */
    int64_t src_floats; /* per packed image: cs hs ws and the slack that pw reads past */
};

/* Whether g's convolution runs on the direct kernels: stride 1, one group, padding of at
 * most the kernel's reach (for the data gradient's flipped kernel), and at least DMR / 2
 * output channels (of the kernel: dx's for the data gradient), since blocks of fewer
 * compute zeros mostly. The data gradient's wide rows are longer by the kernel's reach
 * on both sides; below a vector of images (no lanes) it takes the direct kernel only
 * where at least 7/8 of each row is output (measured: LeNet's conv2, 14 of 18, and 8x8
 * planes, 8 of 10, ran slower than on the column matrix). */
static bool direct_ok(const struct cgeom *g, bool data)
{
    int64_t reach = (g->kw - 1) * g->dw;
    return g->sh == 1 && g->sw == 1 && g->groups == 1 && g->ph <= (g->kh - 1) * g->dh &&
           g->pw <= reach && g->c * g->kh * g->kw <= INT_MAX / 4 &&
           g->k * g->kh * g->kw <= INT_MAX / 4 && (data ? g->c : g->k) >= DMR / 2 &&
           (!data || g->n >= VF || 8 * g->w >= 7 * (g->w + reach));
}

/* d for a source of cs planes sh x sw padded by top/left (and as much after: the output
 * is ho x wo), rows of output channels rounded up to mr, positions to step. */
static void dgeom_of(const struct cgeom *g, int64_t cs, int64_t sh, int64_t sw, int64_t top,
                     int64_t left, int64_t co, int64_t ho, int64_t wo, int64_t mr, int64_t step,
                     struct dgeom *d)
{
    d->cs = cs, d->sh = sh, d->sw = sw, d->top = top, d->left = left;
    d->hs = ho + (g->kh - 1) * g->dh;
    d->ws = wo + (g->kw - 1) * g->dw;
    d->co = co, d->ho = ho, d->wo = wo;
    d->taps = cs * g->kh * g->kw;
    d->tpad = (d->taps + FNT - 1) / FNT * FNT;
    d->rows = (co + mr - 1) / mr * mr;
    int64_t span = (ho - 1) * d->ws + wo;
    d->pw = (span + step - 1) / step * step;
    d->src_floats = cs * d->hs * d->ws + d->pw - span;
}

/* off[t] for the taps t = (c KH + i) KW + j of d's source; tpad - taps more at 0. */
static void offsets_of(const struct cgeom *g, const struct dgeom *d, int64_t *off)
{
    int64_t t = 0;
    for (int64_t c = 0; c < d->cs; c++) {
        for (int64_t i = 0; i < g->kh; i++) {
            for (int64_t j = 0; j < g->kw; j++) {
                off[t++] = (c * d->hs + i * g->dh) * d->ws + j * g->dw;
            }
        }
    }
    for (; t < d->tpad; t++) {
        off[t] = 0;
    }
}

/* The source planes src [cs, sh, sw] padded into dst [cs, hs, ws] and the slack. */
static void pack_source(const struct dgeom *d, const float *src, float *dst)
{
    memset(dst, 0, (size_t)d->src_floats * sizeof(float));
    for (int64_t c = 0; c < d->cs; c++) {
        for (int64_t h = 0; h < d->sh; h++) {
            memcpy(dst + (c * d->hs + h + d->top) * d->ws + d->left, src + (c * d->sh + h) * d->sw,
                   (size_t)d->sw * sizeof(float));
        }
    }
}

/* out [rows, pw] (wide rows) = wp src, with wp the packed kernel [rows / DMR, taps, DMR]. */
DIRECT_CLONES static void direct_image(const struct dgeom *d, const float *src, const float *wp,
                                       const int64_t *off, float *out)
{
    const vf zero = {0};
    for (int64_t mb = 0; mb < d->rows; mb += DMR) {
        const float *wb = wp + mb * d->taps;
        for (int64_t p = 0; p < d->pw; p += DNV * VF) {
            vf acc[DMR][DNV];
#pragma GCC unroll 16
            for (int m = 0; m < DMR; m++) {
#pragma GCC unroll 4
                for (int v = 0; v < DNV; v++) {
                    acc[m][v] = zero;
                }
            }
            for (int64_t t = 0; t < d->taps; t++) {
                const float *s = src + off[t] + p;
                vf x[DNV];
#pragma GCC unroll 4
                for (int v = 0; v < DNV; v++) {
                    memcpy(&x[v], s + v * VF, sizeof(vf));
                }
#pragma GCC unroll 16
                for (int m = 0; m < DMR; m++) {
                    float w = wb[t * DMR + m];
#pragma GCC unroll 4
                    for (int v = 0; v < DNV; v++) {
                        acc[m][v] += w * x[v];
                    }
                }
            }
#pragma GCC unroll 16
            for (int m = 0; m < DMR; m++) {
#pragma GCC unroll 4
                for (int v = 0; v < DNV; v++) {
                    vf r = acc[m][v];
                    memcpy(out + (mb + m) * d->pw + p + v * VF, &r, sizeof(vf));
                }
            }
        }
    }
}

/* part [rows, tpad] += dyw src^T over n images: dyw [rows, pw] (wide rows, zero outside
 * the output) and src packed, images dy_img and src_img apart. */
DIRECT_CLONES static void filter_images(const struct dgeom *d, int64_t n, const float *src,
                                        int64_t src_img, const float *dyw, int64_t dy_img,
                                        const int64_t *off, float *part)
{
    const vf zero = {0};
    for (int64_t mb = 0; mb < d->rows; mb += FMR) {
        for (int64_t tb = 0; tb < d->tpad; tb += FNT) {
            vf acc[FMR][FNT];
#pragma GCC unroll 16
            for (int m = 0; m < FMR; m++) {
#pragma GCC unroll 8
                for (int u = 0; u < FNT; u++) {
                    acc[m][u] = zero;
                }
            }
            for (int64_t b = 0; b < n; b++) {
                const float *dyb = dyw + b * dy_img + mb * d->pw;
                const float *sb = src + b * src_img;
                for (int64_t p = 0; p < d->pw; p += VF) {
                    vf dv[FMR];
#pragma GCC unroll 16
                    for (int m = 0; m < FMR; m++) {
                        memcpy(&dv[m], dyb + m * d->pw + p, sizeof(vf));
                    }
#pragma GCC unroll 8
                    for (int u = 0; u < FNT; u++) {
                        vf x;
                        memcpy(&x, sb + off[tb + u] + p, sizeof(vf));
#pragma GCC unroll 16
                        for (int m = 0; m < FMR; m++) {
                            acc[m][u] += dv[m] * x;
                        }
                    }
                }
            }
#pragma GCC unroll 16
            for (int m = 0; m < FMR; m++) {
#pragma GCC unroll 8
                for (int u = 0; u < FNT; u++) {
                    float s = 0.0f;
                    for (int l = 0; l < VF; l++) {
                        s += acc[m][u][l];
                    }
                    part[(mb + m) * d->tpad + tb + u] += s;
                }
            }
        }
    }
}

/*
 * Small planes waste much of a wide row (LeNet's conv2: 10 outputs of 14): there the
 * kernels below put VF images in the lanes of a vector instead. Packed, position p of
 * channel c of the group's images is the vector at src[(c hs ws + p) VF], so that every
 * tap of every output position is one aligned vector and only the output's positions
 * are computed; the images' values are spread into the lanes (and gathered back) around
 * the product, and lanes past the last image stay zero.
 */

/* Whether d's planes go into lanes: at least a vector of images and wide rows of less
 * than 7/8 output. */
static bool use_lanes(const struct cgeom *g, const struct dgeom *d)
{
    return g->n >= VF && 8 * d->wo < 7 * d->ws;
}

/* d's layout for lanes: rows of wop (wo rounded up to DNV) outputs, and the slack that
 * the last row reads past. */
static void lanes_of(struct dgeom *d)
{
    d->wop = (d->wo + DNV - 1) / DNV * DNV;
    d->src_floats = (d->cs * d->hs * d->ws + d->wop - d->wo) * VF;
}

/* The planes [cs, sh, sw] of nb <= VF images (img floats apart) into dst's lanes,
 * padded. */
static void pack_lanes(const struct dgeom *d, const float *src, int64_t img, int64_t nb, float *dst)
{
    memset(dst, 0, (size_t)d->src_floats * sizeof(float));
    for (int64_t c = 0; c < d->cs; c++) {
        for (int64_t h = 0; h < d->sh; h++) {
            float *r = dst + ((c * d->hs + h + d->top) * d->ws + d->left) * VF;
            for (int64_t b = 0; b < nb; b++) {
                const float *s = src + b * img + (c * d->sh + h) * d->sw;
                for (int64_t w = 0; w < d->sw; w++) {
                    r[w * VF + b] = s[w];
                }
            }
        }
    }
}

/* out [rows, ho, wop] (vectors of lanes) = wp src, with wp packed as for direct_image. */
DIRECT_CLONES static void lanes_image(const struct dgeom *d, const float *src, const float *wp,
                                      const int64_t *off, float *out)
{
    const vf zero = {0};
    for (int64_t mb = 0; mb < d->rows; mb += DMR) {
        const float *wb = wp + mb * d->taps;
        for (int64_t oh = 0; oh < d->ho; oh++) {
            for (int64_t ow = 0; ow < d->wop; ow += DNV) {
                const float *s0 = src + (oh * d->ws + ow) * VF;
                vf acc[DMR][DNV];
#pragma GCC unroll 16
                for (int m = 0; m < DMR; m++) {
#pragma GCC unroll 4
                    for (int v = 0; v < DNV; v++) {
                        acc[m][v] = zero;
                    }
                }
                for (int64_t t = 0; t < d->taps; t++) {
                    const float *s = s0 + off[t] * VF;
                    vf x[DNV];
#pragma GCC unroll 4
                    for (int v = 0; v < DNV; v++) {
                        memcpy(&x[v], s + v * VF, sizeof(vf));
                    }
#pragma GCC unroll 16
                    for (int m = 0; m < DMR; m++) {
                        float w = wb[t * DMR + m];
#pragma GCC unroll 4
                        for (int v = 0; v < DNV; v++) {
                            acc[m][v] += w * x[v];
                        }
                    }
                }
#pragma GCC unroll 16
                for (int m = 0; m < DMR; m++) {
#pragma GCC unroll 4
                    for (int v = 0; v < DNV; v++) {
                        vf r = acc[m][v];
                        memcpy(out + (((mb + m) * d->ho + oh) * d->wop + ow + v) * VF, &r,
                               sizeof(vf));
                    }
                }
            }
        }
    }
}

/* The store of a forward (or data gradient) in lanes: out's lanes into the outputs
 * [co, ho, wo] of nb images, img floats apart; with a bias, as store_image. */
static void store_lanes(const struct dgeom *d, const float *out, int64_t nb, const float *bias,
                        bool relu, float *dst, int64_t img)
{
    for (int64_t k = 0; k < d->co; k++) {
        for (int64_t h = 0; h < d->ho; h++) {
            const float *r = out + (k * d->ho + h) * d->wop * VF;
            for (int64_t b = 0; b < nb; b++) {
                float *o = dst + b * img + (k * d->ho + h) * d->wo;
                for (int64_t w = 0; w < d->wo; w++) {
                    o[w] = r[w * VF + b];
                }
            }
        }
    }
    for (int64_t b = 0; bias != NULL && b < nb; b++) {
        kiln__cpu_bias_rows(dst + b * img, d->co, d->ho * d->wo, bias, relu);
    }
}

/* The gradients dy [K, OH, OW] of nb images (img floats apart) into lanes dyl [rows, ho,
 * wo], rows past co zero. */
static void pack_dy_lanes(const struct dgeom *d, const float *dy, int64_t img, int64_t nb,
                          float *dyl)
{
    int64_t plane = d->ho * d->wo;
    memset(dyl, 0, (size_t)(d->rows * plane * VF) * sizeof(float));
    for (int64_t k = 0; k < d->co; k++) {
        for (int64_t b = 0; b < nb; b++) {
            const float *s = dy + b * img + k * plane;
            float *r = dyl + k * plane * VF + b;
            for (int64_t p = 0; p < plane; p++) {
                r[p * VF] = s[p];
            }
        }
    }
}

/* part [rows, tpad] += dyl src^T summed over the positions and lanes of one group. */
DIRECT_CLONES static void lanes_filter(const struct dgeom *d, const float *src, const float *dyl,
                                       const int64_t *off, float *part)
{
    const vf zero = {0};
    int64_t plane = d->ho * d->wo;
    for (int64_t mb = 0; mb < d->rows; mb += FMR) {
        for (int64_t tb = 0; tb < d->tpad; tb += FNT) {
            vf acc[FMR][FNT];
#pragma GCC unroll 16
            for (int m = 0; m < FMR; m++) {
#pragma GCC unroll 8
                for (int u = 0; u < FNT; u++) {
                    acc[m][u] = zero;
                }
            }
            for (int64_t oh = 0; oh < d->ho; oh++) {
                for (int64_t ow = 0; ow < d->wo; ow++) {
                    const float *dp = dyl + ((mb * d->ho + oh) * d->wo + ow) * VF;
                    const float *sp = src + (oh * d->ws + ow) * VF;
                    vf dv[FMR];
#pragma GCC unroll 16
                    for (int m = 0; m < FMR; m++) {
                        memcpy(&dv[m], dp + m * plane * VF, sizeof(vf));
                    }
#pragma GCC unroll 8
                    for (int u = 0; u < FNT; u++) {
                        vf x;
                        memcpy(&x, sp + off[tb + u] * VF, sizeof(vf));
#pragma GCC unroll 16
                        for (int m = 0; m < FMR; m++) {
                            acc[m][u] += dv[m] * x;
                        }
                    }
                }
            }
#pragma GCC unroll 16
            for (int m = 0; m < FMR; m++) {
#pragma GCC unroll 8
                for (int u = 0; u < FNT; u++) {
                    float s = 0.0f;
                    for (int l = 0; l < VF; l++) {
                        s += acc[m][u][l];
                    }
                    part[(mb + m) * d->tpad + tb + u] += s;
                }
            }
        }
    }
}

/* Threads for a direct kernel over items (images or slices): as threads_for, every call
 * being this file's own. */
static int direct_threads(const struct cgeom *g, int64_t items)
{
    if (g->k * g->ckk * g->ohw * g->n < KILN__CPU_PAR_MACS) {
        return 1;
    }
    int64_t t = kiln__cpu_max_threads();
    t = t < items ? t : items;
    return t < 1 ? 1 : (int)t;
}

/* A direct kernel's scratch memory: the packed kernel (forward) or the partial sums
 * (filter), the offsets, and per thread the packed source and output (forward) or dy
 * (filter) planes. */
struct dscratch {
    float *shared;
    int64_t *off;
    int n_threads;
    float *buf[KILN__CPU_MAX_THREADS];
};

static void dscratch_free(struct kiln_context *ctx, struct dscratch *s)
{
    kiln__free(ctx, s->shared);
    kiln__free(ctx, s->off);
    for (int t = 0; t < s->n_threads; t++) {
        kiln__free(ctx, s->buf[t]);
    }
}

static kiln_status dscratch_alloc(struct kiln_context *ctx, const struct cgeom *g,
                                  const struct dgeom *d, int n_threads, int64_t shared_floats,
                                  int64_t thread_floats, struct dscratch *s)
{
    memset(s, 0, sizeof(*s));
    s->n_threads = n_threads;
    s->shared = kiln__alloc(ctx, (size_t)shared_floats * sizeof(float),
                            "a convolution's packed kernel or partial sums");
    s->off = kiln__alloc(ctx, (size_t)d->tpad * sizeof(int64_t), "a convolution's tap offsets");
    bool ok = s->shared != NULL && s->off != NULL;
    for (int t = 0; ok && t < n_threads; t++) {
        s->buf[t] = kiln__alloc(ctx, (size_t)thread_floats * sizeof(float),
                                "a convolution's packed planes");
        ok = s->buf[t] != NULL;
    }
    if (!ok) {
        dscratch_free(ctx, s);
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    offsets_of(g, d, s->off);
    return KILN_OK;
}

/* The valid positions of out's wide rows (one image) into dst [co, ho, wo]: the store of
 * a direct forward's (or data gradient's) output; with a bias (CONV2D_BIAS), plus the
 * bias of each output channel (then ReLU where relu). */
static void store_image(const struct dgeom *d, const float *out, const float *bias, bool relu,
                        float *dst)
{
    for (int64_t k = 0; k < d->co; k++) {
        for (int64_t h = 0; h < d->ho; h++) {
            memcpy(dst + (k * d->ho + h) * d->wo, out + k * d->pw + h * d->ws,
                   (size_t)d->wo * sizeof(float));
        }
    }
    if (bias != NULL) {
        kiln__cpu_bias_rows(dst, d->co, d->ho * d->wo, bias, relu);
    }
}

/* The kernel packed for direct_image: wp [rows / DMR, taps, DMR] from w [K, C, KH, KW],
 * for the forward (rows: K, taps: C KH KW) or, flipped with its channel axes swapped, for
 * the data gradient (rows: C, taps: K KH KW). Rows past co are zero. */
static void pack_kernel(const struct cgeom *g, const struct dgeom *d, bool data, const float *w,
                        float *wp)
{
    int64_t kk = g->kh * g->kw;
    for (int64_t r = 0; r < d->rows; r++) {
        for (int64_t t = 0; t < d->taps; t++) {
            float v = 0.0f;
            if (r < d->co && !data) {
                v = w[r * d->taps + t];
            } else if (r < d->co) {
                int64_t k = t / kk, q = t % kk;
                v = w[(k * g->c + r) * kk + kk - 1 - q];
            }
            wp[r / DMR * d->taps * DMR + t * DMR + r % DMR] = v;
        }
    }
}

/* y = conv(x, w) (data: dx = the data gradient of dy and w) on the direct kernel, one image
 * (or group of VF images) at a time; with a bias (CONV2D_BIAS, not data), plus the bias,
 * then ReLU where relu. */
static kiln_status direct_forward(struct kiln_context *ctx, const struct cgeom *g, bool data,
                                  const float *src, const float *w, const float *bias, bool relu,
                                  float *dst)
{
    struct dgeom d;
    struct dscratch sc;
    if (!data) {
        dgeom_of(g, g->c, g->h, g->w, g->ph, g->pw, g->k, g->oh, g->ow, DMR, DNV * VF, &d);
    } else {
        dgeom_of(g, g->k, g->oh, g->ow, (g->kh - 1) * g->dh - g->ph, (g->kw - 1) * g->dw - g->pw,
                 g->c, g->h, g->w, DMR, DNV * VF, &d);
    }
    bool lanes = use_lanes(g, &d);
    int64_t per = 1, out_floats = d.rows * d.pw;
    if (lanes) {
        lanes_of(&d);
        per = VF, out_floats = d.rows * d.ho * d.wop * VF;
    }
    int64_t items = (g->n + per - 1) / per;
    int nt = direct_threads(g, items);
    KILN_TRY(dscratch_alloc(ctx, g, &d, nt, d.rows * d.taps, d.src_floats + out_floats, &sc));
    pack_kernel(g, &d, data, w, sc.shared);
    int64_t src_img = d.cs * d.sh * d.sw, dst_img = d.co * d.ho * d.wo;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t it = 0; it < items; it++) {
        float *sbuf = sc.buf[kiln__cpu_thread()], *obuf = sbuf + d.src_floats;
        int64_t b = it * per, nb = g->n - b < per ? g->n - b : per;
        if (lanes) {
            pack_lanes(&d, src + b * src_img, src_img, nb, sbuf);
            lanes_image(&d, sbuf, sc.shared, sc.off, obuf);
            store_lanes(&d, obuf, nb, bias, relu, dst + b * dst_img, dst_img);
        } else {
            pack_source(&d, src + b * src_img, sbuf);
            direct_image(&d, sbuf, sc.shared, sc.off, obuf);
            store_image(&d, obuf, bias, relu, dst + b * dst_img);
        }
    }
    dscratch_free(ctx, &sc);
    return KILN_OK;
}

/* One image's dy [K, OH, OW] into wide rows dyw [rows, pw], zero outside the output. */
static void pack_dy(const struct dgeom *d, const float *dy, float *dyw)
{
    memset(dyw, 0, (size_t)(d->rows * d->pw) * sizeof(float));
    for (int64_t k = 0; k < d->co; k++) {
        for (int64_t h = 0; h < d->ho; h++) {
            memcpy(dyw + k * d->pw + h * d->ws, dy + (k * d->ho + h) * d->wo,
                   (size_t)d->wo * sizeof(float));
        }
    }
}

/* dw = the filter gradient of x and dy on the direct kernel: the images in FILTER_SLICES
 * fixed slices, each summed into its own partial sums in groups of FILTER_GROUP, the
 * slices then added in order. */
static kiln_status direct_filter(struct kiln_context *ctx, const struct cgeom *g, const float *x,
                                 const float *dy, float *dw)
{
    struct dgeom d;
    struct dscratch sc;
    dgeom_of(g, g->c, g->h, g->w, g->ph, g->pw, g->k, g->oh, g->ow, FMR, VF, &d);
    bool lanes = use_lanes(g, &d);
    int64_t slices = g->n < FILTER_SLICES ? g->n : FILTER_SLICES, part = d.rows * d.tpad;
    int64_t group = g->n < FILTER_GROUP ? g->n : FILTER_GROUP, dy_floats = d.rows * d.pw;
    if (lanes) {
        /* slices of at least a vector of images each */
        lanes_of(&d);
        group = VF, dy_floats = d.rows * d.ho * d.wo * VF;
        slices = g->n / VF < slices ? g->n / VF : slices;
    }
    int64_t thread_floats = lanes ? d.src_floats + dy_floats : group * (d.src_floats + dy_floats);
    int nt = direct_threads(g, slices);
    KILN_TRY(dscratch_alloc(ctx, g, &d, nt, slices * part, thread_floats, &sc));
    memset(sc.shared, 0, (size_t)(slices * part) * sizeof(float));
    int64_t ximg = g->c * g->h * g->w, yimg = g->k * g->ohw;
#pragma omp parallel for schedule(dynamic) num_threads(nt) if (nt > 1)
    for (int64_t sl = 0; sl < slices; sl++) {
        float *src = sc.buf[kiln__cpu_thread()];
        float *dyw = src + (lanes ? d.src_floats : group * d.src_floats);
        int64_t end = (sl + 1) * g->n / slices;
        for (int64_t b0 = sl * g->n / slices; b0 < end; b0 += group) {
            int64_t nb = end - b0 < group ? end - b0 : group;
            if (lanes) {
                pack_lanes(&d, x + b0 * ximg, ximg, nb, src);
                pack_dy_lanes(&d, dy + b0 * yimg, yimg, nb, dyw);
                lanes_filter(&d, src, dyw, sc.off, sc.shared + sl * part);
                continue;
            }
            for (int64_t b = 0; b < nb; b++) {
                pack_source(&d, x + (b0 + b) * ximg, src + b * d.src_floats);
                pack_dy(&d, dy + (b0 + b) * yimg, dyw + b * dy_floats);
            }
            filter_images(&d, nb, src, d.src_floats, dyw, dy_floats, sc.off, sc.shared + sl * part);
        }
    }
    for (int64_t k = 0; k < g->k; k++) {
        for (int64_t t = 0; t < d.taps; t++) {
            float s = sc.shared[k * d.tpad + t];
            for (int64_t sl = 1; sl < slices; sl++) {
                s += sc.shared[sl * part + k * d.tpad + t];
            }
            dw[k * d.taps + t] = s;
        }
    }
    dscratch_free(ctx, &sc);
    return KILN_OK;
}

static kiln_status fast_conv(struct kiln_context *ctx, const struct kiln__op_args *a)
{
    struct cgeom g;
    struct scratch sc;
    cgeom_of(a->node, &g);
    /* CONV2D_BIAS: the layer's bias (and ReLU), added as each chunk is stored */
    bool fused = a->node->op == KILN_OP_CONV2D_BIAS;
    const float *bias = fused ? a->in[2] : NULL;
    bool relu = fused && ((const struct kiln__p_conv2d_bias *)kiln__params(a->node))->relu;
    if (direct_ok(&g, false)) {
        return direct_forward(ctx, &g, false, a->in[0], a->in[1], bias, relu, a->out);
    }
    int64_t chunks = n_chunks(&g);
    int nt = threads_for(&g, chunks);
    KILN_TRY(scratch_alloc(ctx, &g, nt, 0, &sc));
    const float *x = a->in[0], *w = a->in[1];
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
    if (direct_ok(&g, true)) {
        return direct_forward(ctx, &g, true, a->in[0], a->in[1], NULL, false, a->out);
    }
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
    if (direct_ok(&g, false)) {
        return direct_filter(ctx, &g, a->in[0], a->in[1], a->out);
    }
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
