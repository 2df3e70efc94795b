/*
 * vk_kernels_cnn.c - the Vulkan kernels of the conv-net ops: convolution and its two
 * gradients (the direct shaders of shaders/conv.comp, the implicit GEMM of
 * convgemm.comp, the register-blocked shaders of convblk.comp and convrow.comp, and
 * the choice among them), max and average pooling and nearest
 * upsampling with their _BWD (shaders/pool.comp), concat, slice and pad
 * (shaders/layout.comp), dropout (shaders/random.comp, the reference's Philox mask
 * bit for bit), batch norm and local response norm (shaders/norm.comp). Push-constant
 * blocks are mirrored here; the table is in vk_kernels.c.
 */
#include <stdlib.h>
#include <string.h>

#include "vk_impl.h"

#define PC_ASSERT(T) _Static_assert(sizeof(T) <= KILN_VK_PUSH_BYTES, #T " exceeds 128 bytes")

struct pc_conv { /* conv.comp */
    uint32_t n;
    int32_t nb, c, h, w, k, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, cg, kg;
    uint32_t kchunk, splits; /* OP_BWD_FILTER_PART, convblk OP_FILTER: positions per split */
    uint32_t nblk, unused;   /* convblk.comp: blocks of channels per group */
};
struct pc_pool { /* pool.comp */
    uint32_t n;
    int32_t h, w, oh, ow, kh, kw, sh, sw, ph, pw, count_include_pad;
};
struct pc_slice_pad { /* layout.comp, OP_SLICE_PAD */
    uint32_t n, od1, od2, od3;
    int32_t id[4];
    uint32_t is[4];
    int32_t off[4];
    int32_t sign;
};
struct pc_slice_pad_nd { /* layout.comp, OP_SLICE_PAD with ND */
    uint32_t n, od[8];
    int32_t id[8], off[8];
    int32_t sign;
};
struct pc_copy_rows { /* layout.comp, OP_COPY_ROWS */
    uint32_t n, len, dst_stride, dst_off;
};
struct pc_dropout { /* random.comp */
    uint32_t n;
    float p, scale;
    uint32_t seed_lo, seed_hi, t_lo, t_hi, training;
};
PC_ASSERT(struct pc_conv);
PC_ASSERT(struct pc_pool);
PC_ASSERT(struct pc_slice_pad);
PC_ASSERT(struct pc_slice_pad_nd);
PC_ASSERT(struct pc_copy_rows);
PC_ASSERT(struct pc_dropout);

/* ==== Convolution ==== */

struct pc_convgemm { /* convgemm.comp */
    uint32_t m, n, k, kchunk;
    int32_t nb, c, h, w, ko, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, cg, kg, groups;
};
PC_ASSERT(struct pc_convgemm);

/* How a convolution node runs: the direct shader, an implicit GEMM with its tile and,
 * for the filter gradient, the number of k splits summed by a second pass, or (filter
 * gradients only) the two-level reduction of conv.comp's OP_BWD_FILTER_PART over
 * splits of the batch's positions, summed by the same second pass. */
struct conv_plan {
    struct pc_conv d;     /* geometry; the direct and two-level shaders' push constants */
    struct pc_convgemm g; /* the GEMM's, when gemm */
    bool gemm, reduce, blk;
    enum kiln__vk_shader sh;
    uint32_t gx, gy, splits;
};

/* KILN_VK_CONV=direct|gemm|reduce|blocked|row forces one implementation (tests,
 * bench/conv; reduce applies to filter gradients, whose other ways are then the default
 * ones; row to stride 1 and kernel widths 3 and 5, the other nodes going the default
 * way). On CPU devices (lavapipe), where every load is a scalar load per invocation of
 * a SIMD batch, the row-blocked shaders of convrow.comp run every node they fit, since
 * they need the fewest loads per multiply-add (bench/conv/README.md). Otherwise the GEMM
 * runs when its M (output channels per group, or input channels per group for
 * the data gradient) is at least 4 and, for the filter gradient, its N (input channels
 * per group times the kernel size) at least 32, where its tiles are not mostly empty
 * (bench/conv/README.md); a filter gradient that does not run as a GEMM runs as the
 * two-level reduction when its sums have at least REDUCE_MIN_K products and its kernel
 * is at most REDUCE_MAX_KW wide. */
static int conv_mode(void)
{
    const char *e = getenv("KILN_VK_CONV");
    return e == NULL                   ? 0
           : strcmp(e, "direct") == 0  ? 1
           : strcmp(e, "gemm") == 0    ? 2
           : strcmp(e, "reduce") == 0  ? 3
           : strcmp(e, "blocked") == 0 ? 4
           : strcmp(e, "row") == 0     ? 5
                                       : 0;
}

#define BLK_CB 8 /* convblk.comp's CB */

/* The register-blocked direct shaders of convblk.comp: invocations, and for the filter
 * gradient the splits of the batch's positions (as reduce_plan chooses them). */
static void blk_plan(const struct kiln__vk *vk, const struct kiln_tensor *n, struct conv_plan *cp)
{
    struct pc_conv *d = &cp->d;
    uint64_t khw = (uint64_t)d->kh * (uint64_t)d->kw, groups = (uint64_t)(d->c / d->cg);
    cp->blk = true;
    cp->splits = 1;
    if (n->op == KILN_OP_CONV2D) {
        d->nblk = (uint32_t)((d->kg + BLK_CB - 1) / BLK_CB);
        d->n = (uint32_t)((uint64_t)d->nb * groups * d->nblk * (uint64_t)(d->oh * d->ow));
        cp->sh = KILN__VK_SH_CONVBLK_FWD;
        return;
    }
    if (n->op == KILN_OP_CONV2D_BWD_DATA) {
        d->nblk = (uint32_t)((d->cg + BLK_CB - 1) / BLK_CB);
        d->n = (uint32_t)((uint64_t)d->nb * groups * d->nblk * (uint64_t)(d->h * d->w));
        cp->sh = KILN__VK_SH_CONVBLK_DATA;
        return;
    }
    d->nblk = (uint32_t)((d->kg + BLK_CB - 1) / BLK_CB);
    uint64_t per = groups * d->nblk * (uint64_t)d->cg * khw;
    uint64_t k = (uint64_t)d->nb * (uint64_t)(d->oh * d->ow);
    uint64_t want = (16u * vk->max_wg + per - 1) / per;
    uint64_t most = k / 256, by_range = vk->max_range / ((VkDeviceSize)n->n_elems * 4 + 1);
    want = want < most ? want : most;
    want = want < 256 ? want : 256;
    want = want < by_range ? want : by_range;
    want = want > 1 ? want : 1;
    d->kchunk = (uint32_t)((k + want - 1) / want);
    d->splits = (uint32_t)((k + d->kchunk - 1) / d->kchunk);
    d->n = (uint32_t)(per * d->splits);
    cp->splits = d->splits;
    cp->sh = KILN__VK_SH_CONVBLK_FILTER;
}

#define ROW_KB 8 /* convrow.comp's KB: channels per invocation */
#define ROW_PX 8 /* its PX: pixels of a row per invocation */
#define ROW_PY 2 /* its PY: rows per invocation */
#define ROW_IB 5 /* its IB: kernel rows per filter-gradient invocation */

/* Whether convrow.comp has a variant for the node: stride and dilation 1, kernel width
 * 3 or 5. */
static bool row_fits(const struct pc_conv *d)
{
    return d->sh == 1 && d->sw == 1 && d->dh == 1 && d->dw == 1 && (d->kw == 3 || d->kw == 5);
}

/* The row-blocked shaders of convrow.comp: invocations, and for the filter gradient the
 * splits of the batch's output rows (whole rows, so that the invocations of a SIMD batch
 * walk the same rows): enough for 16 full workgroups, but few enough that writing and
 * summing the partial sums (a store and a load each) costs at most a sixteenth of the
 * first level's loads (on lavapipe more splits measured slower: bench/conv/README.md),
 * and the partial sums within one binding; KILN_VK_CONV_SPLIT overrides. */
static void row_plan(const struct kiln__vk *vk, const struct kiln_tensor *n, struct conv_plan *cp)
{
    struct pc_conv *d = &cp->d;
    uint64_t groups = (uint64_t)(d->c / d->cg);
    bool k5 = d->kw == 5;
    cp->blk = true;
    cp->splits = 1;
    if (n->op == KILN_OP_CONV2D) {
        d->nblk = (uint32_t)((d->kg + ROW_KB - 1) / ROW_KB);
        d->n = (uint32_t)((uint64_t)d->nb * groups * d->nblk *
                          (uint64_t)((d->oh + ROW_PY - 1) / ROW_PY) *
                          (uint64_t)((d->ow + ROW_PX - 1) / ROW_PX));
        cp->sh = k5 ? KILN__VK_SH_CONVROW_FWD_K5 : KILN__VK_SH_CONVROW_FWD_K3;
        return;
    }
    if (n->op == KILN_OP_CONV2D_BWD_DATA) {
        d->nblk = (uint32_t)((d->cg + ROW_KB - 1) / ROW_KB);
        d->n = (uint32_t)((uint64_t)d->nb * groups * d->nblk *
                          (uint64_t)((d->h + ROW_PY - 1) / ROW_PY) *
                          (uint64_t)((d->w + ROW_PX - 1) / ROW_PX));
        cp->sh = k5 ? KILN__VK_SH_CONVROW_DATA_K5 : KILN__VK_SH_CONVROW_DATA_K3;
        return;
    }
    d->nblk = (uint32_t)((d->kg + ROW_KB - 1) / ROW_KB);
    uint64_t iblk = (uint64_t)((d->kh + ROW_IB - 1) / ROW_IB);
    uint64_t per = groups * d->nblk * (uint64_t)d->cg * iblk;
    uint64_t rows = (uint64_t)d->nb * (uint64_t)d->oh;
    uint64_t loads = rows * (uint64_t)d->ow * per * (ROW_KB + ROW_IB);
    uint64_t by_cost = loads / (32u * (uint64_t)n->n_elems);
    const char *e = getenv("KILN_VK_CONV_SPLIT");
    uint64_t want = (16u * vk->max_wg + per - 1) / per;
    want = want < by_cost ? want : by_cost;
    want = e != NULL ? (uint64_t)atoll(e) : want;
    uint64_t by_range = vk->max_range / ((VkDeviceSize)n->n_elems * 4 + 1);
    want = want < rows ? want : rows;
    want = want < by_range ? want : by_range;
    want = want > 1 ? want : 1;
    d->kchunk = (uint32_t)((rows + want - 1) / want);
    d->splits = (uint32_t)((rows + d->kchunk - 1) / d->kchunk);
    d->n = (uint32_t)(per * d->splits);
    cp->splits = d->splits;
    cp->sh = k5 ? KILN__VK_SH_CONVROW_FILTER_K5 : KILN__VK_SH_CONVROW_FILTER_K3;
}

#define REDUCE_MIN_K  4096
#define REDUCE_MAX_KW 8 /* conv.comp's MAX_KW */

/* The two-level filter gradient's splits: enough invocations (a row of kw taps and a
 * split each) for 16 full workgroups, each summing at least 256 positions, with at most
 * 256 splits and their partial sums within one binding. */
static void reduce_plan(const struct kiln__vk *vk, const struct kiln_tensor *n,
                        struct conv_plan *cp)
{
    struct pc_conv *d = &cp->d;
    uint64_t k = (uint64_t)d->nb * (uint64_t)(d->oh * d->ow);
    uint64_t rows = d->n / (uint32_t)d->kw;
    uint64_t want = (16u * vk->max_wg + rows - 1) / rows;
    uint64_t most = k / 256, by_range = vk->max_range / ((VkDeviceSize)n->n_elems * 4 + 1);
    want = want < most ? want : most;
    want = want < 256 ? want : 256;
    want = want < by_range ? want : by_range;
    want = want > 1 ? want : 1;
    d->kchunk = (uint32_t)((k + want - 1) / want);
    d->splits = (uint32_t)((k + d->kchunk - 1) / d->kchunk);
    cp->splits = d->splits;
    cp->sh = KILN__VK_SH_CONV2D_BWD_FILTER_PART;
    cp->reduce = true;
}

static void conv_plan(const struct kiln__vk *vk, const struct kiln_tensor *n, struct conv_plan *cp)
{
    static const enum kiln__vk_shader direct[] = {
        [KILN_OP_CONV2D] = KILN__VK_SH_CONV2D,
        [KILN_OP_CONV2D_BWD_DATA] = KILN__VK_SH_CONV2D_BWD_DATA,
        [KILN_OP_CONV2D_BWD_FILTER] = KILN__VK_SH_CONV2D_BWD_FILTER,
    };
    const struct kiln__p_conv2d *p = kiln__params(n);
    const int64_t *x, *w, *y; /* the shapes of x (or dx), w (or dw), y (or dy) */
    if (n->op == KILN_OP_CONV2D) {
        x = n->src[0]->shape.dims, w = n->src[1]->shape.dims, y = n->shape.dims;
    } else if (n->op == KILN_OP_CONV2D_BWD_DATA) {
        x = n->shape.dims, w = n->src[1]->shape.dims, y = n->src[0]->shape.dims;
    } else {
        x = n->src[0]->shape.dims, w = n->shape.dims, y = n->src[1]->shape.dims;
    }
    memset(cp, 0, sizeof(*cp));
    cp->d = (struct pc_conv){(uint32_t)n->n_elems,
                             (int32_t)x[0],
                             (int32_t)x[1],
                             (int32_t)x[2],
                             (int32_t)x[3],
                             (int32_t)w[0],
                             (int32_t)w[2],
                             (int32_t)w[3],
                             (int32_t)y[2],
                             (int32_t)y[3],
                             p->stride[0],
                             p->stride[1],
                             p->pad[0],
                             p->pad[1],
                             p->dilation[0],
                             p->dilation[1],
                             (int32_t)(x[1] / p->groups),
                             (int32_t)(w[0] / p->groups),
                             0,
                             0,
                             0,
                             0};
    const struct pc_conv *d = &cp->d;
    int64_t khw = (int64_t)d->kh * d->kw;
    int64_t m, nn, k;
    enum kiln__vk_shader sh, sh_s;
    if (n->op == KILN_OP_CONV2D) {
        m = d->kg, nn = (int64_t)d->nb * d->oh * d->ow, k = d->cg * khw;
        sh = KILN__VK_SH_CONVGEMM_FWD, sh_s = KILN__VK_SH_CONVGEMM_FWD_S;
    } else if (n->op == KILN_OP_CONV2D_BWD_DATA) {
        m = d->cg, nn = (int64_t)d->nb * d->h * d->w, k = d->kg * khw;
        sh = KILN__VK_SH_CONVGEMM_DATA, sh_s = KILN__VK_SH_CONVGEMM_DATA_S;
    } else {
        m = d->kg, nn = d->cg * khw, k = (int64_t)d->nb * d->oh * d->ow;
        sh = KILN__VK_SH_CONVGEMM_FILTER, sh_s = KILN__VK_SH_CONVGEMM_FILTER_S;
    }
    int mode = conv_mode();
    bool cpu = vk->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    if (row_fits(d) && (mode == 5 || (mode == 0 && cpu))) {
        row_plan(vk, n, cp);
        return;
    }
    /* A data gradient of 4 to BLK_CB input channels per group fills at most one block of
     * convblk.comp but a quarter of the GEMM's smallest M tile (LeNet conv2's: about 1.8x
     * the GEMM's GFLOP/s on lavapipe). */
    if (mode == 4 || (mode == 0 && n->op == KILN_OP_CONV2D_BWD_DATA && m >= 4 && m <= BLK_CB)) {
        blk_plan(vk, n, cp);
        return;
    }
    cp->sh = direct[n->op];
    cp->gemm =
        mode == 2 || (mode != 1 && m >= 4 && (n->op != KILN_OP_CONV2D_BWD_FILTER || nn >= 32));
    if (n->op == KILN_OP_CONV2D_BWD_FILTER && mode != 1 && mode != 2 && d->kw <= REDUCE_MAX_KW &&
        (mode == 3 || (!cp->gemm && k >= REDUCE_MIN_K))) {
        cp->gemm = false;
        reduce_plan(vk, n, cp);
        return;
    }
    if (!cp->gemm) {
        return;
    }
    cp->sh = m <= 16 ? sh_s : sh;
    const uint32_t *t = kiln__vk_tile_of(vk, cp->sh);
    cp->gx = (uint32_t)((nn + t[1] - 1) / t[1]);
    cp->gy = (uint32_t)((m + t[0] - 1) / t[0]);
    cp->splits = 1;
    if (n->op == KILN_OP_CONV2D_BWD_FILTER) {
        /* Split the long k range until there are enough workgroups to fill the device,
         * keeping at least 32 k steps per split and the partials within one binding. */
        const char *e = getenv("KILN_VK_CONV_SPLIT");
        int64_t tiles = (int64_t)cp->gx * cp->gy * p->groups;
        int64_t want = e != NULL ? atoll(e) : (64 + tiles - 1) / tiles;
        int64_t most = (k + 32 * t[2] - 1) / (32 * t[2]);
        if (e == NULL && want > most) {
            want = most;
        }
        int64_t out_bytes = (int64_t)n->n_elems * 4;
        int64_t by_range = (int64_t)(vk->max_range / (VkDeviceSize)(out_bytes > 0 ? out_bytes : 1));
        want = want < by_range ? want : by_range;
        want = want < 64 ? want : 64;
        want = want > 1 ? want : 1;
        int64_t chunk = (k + want - 1) / want;
        chunk = chunk > 0 ? (chunk + t[2] - 1) / t[2] * t[2] : t[2];
        cp->splits = (uint32_t)((k + chunk - 1) / chunk);
    }
    uint32_t kchunk = (uint32_t)((k + cp->splits - 1) / cp->splits);
    kchunk = (kchunk + t[2] - 1) / t[2] * t[2];
    cp->g = (struct pc_convgemm){(uint32_t)m, (uint32_t)nn, (uint32_t)k, kchunk,   d->nb, d->c,
                                 d->h,        d->w,         d->k,        d->kh,    d->kw, d->oh,
                                 d->ow,       d->sh,        d->sw,       d->ph,    d->pw, d->dh,
                                 d->dw,       d->cg,        d->kg,       p->groups};
}

bool kiln__vk_conv_supports(const struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__vk *vk = be->impl;
    struct conv_plan cp;
    if (!kiln__vk_supports(be, n)) {
        return false;
    }
    conv_plan(vk, n, &cp);
    if (cp.reduce || (cp.blk && cp.splits > 1)) {
        return kiln__vk_scratch_reserve(vk, (VkDeviceSize)cp.splits * n->n_elems * 4) == KILN_OK;
    }
    if (cp.blk) {
        return true;
    }
    if (!cp.gemm) {
        return true;
    }
    const uint32_t *lim = vk->props.limits.maxComputeWorkGroupCount;
    if (cp.gx > lim[0] || cp.gy > lim[1] || (uint64_t)cp.g.groups * cp.splits > lim[2]) {
        KILN_FAIL(KILN_E_UNSUPPORTED,
                  "conv '%s': %u x %u x %u workgroups exceed maxComputeWorkGroupCount on '%s'; "
                  "use a smaller batch",
                  n->name, cp.gx, cp.gy, (unsigned)(cp.g.groups * cp.splits), vk->props.deviceName);
        return false;
    }
    if (cp.splits > 1) {
        return kiln__vk_scratch_reserve(vk, (VkDeviceSize)cp.splits * n->n_elems * 4) == KILN_OK;
    }
    return true;
}

/* Sums the splits' partials part [splits, n] in split order into n's output. */
static kiln_status split_sum(struct kiln__vk *vk, const struct kiln_tensor *n,
                             struct kiln__vk_bind part, uint32_t splits)
{
    struct pc_convgemm sum;
    memset(&sum, 0, sizeof(sum));
    sum.m = splits;
    sum.n = (uint32_t)n->n_elems;
    part.write = false;
    struct kiln__vk_bind sb[2] = {part, kiln__vk_bind_tensor(n, true)};
    return kiln__vk_dispatch(vk, KILN__VK_SH_CONVGEMM_SPLIT_SUM, 2, sb, &sum, sizeof(sum),
                             kiln__vk_groups(vk, n->n_elems, vk->max_wg), 1, 1);
}

/* The two-level filter gradient: partial sums per split, then their ordered sum. */
static kiln_status conv_reduce(struct kiln__vk *vk, const struct kiln_tensor *n,
                               const struct conv_plan *cp)
{
    VkDeviceSize bytes = (VkDeviceSize)cp->splits * n->n_elems * 4;
    KILN_ASSERT(vk->scratch != NULL && vk->scratch_bytes >= bytes);
    struct kiln__vk_bind part = {vk->scratch, 0, bytes, true};
    struct kiln__vk_bind b[3] = {kiln__vk_bind_tensor(n->src[0], false),
                                 kiln__vk_bind_tensor(n->src[1], false), part};
    uint64_t invocations = cp->blk ? cp->d.n : (uint64_t)cp->d.n * cp->splits;
    KILN_TRY(kiln__vk_dispatch(vk, cp->sh, 3, b, &cp->d, sizeof(cp->d),
                               kiln__vk_groups(vk, (int64_t)invocations, vk->max_wg), 1, 1));
    return split_sum(vk, n, part, cp->splits);
}

kiln_status kiln__vk_conv(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__vk *vk = be->impl;
    struct conv_plan cp;
    if (n->n_elems == 0) {
        return KILN_OK;
    }
    conv_plan(vk, n, &cp);
    if (cp.reduce || (cp.blk && cp.splits > 1)) {
        return conv_reduce(vk, n, &cp);
    }
    if (cp.blk) {
        return kiln__vk_run_simple(be, n, cp.sh, &cp.d, sizeof(cp.d),
                                   kiln__vk_groups(vk, cp.d.n, vk->max_wg));
    }
    if (!cp.gemm) {
        return kiln__vk_run_simple(be, n, cp.sh, &cp.d, sizeof(cp.d),
                                   kiln__vk_groups(vk, n->n_elems, vk->max_wg));
    }
    struct kiln__vk_bind b[3] = {kiln__vk_bind_tensor(n->src[0], false),
                                 kiln__vk_bind_tensor(n->src[1], false),
                                 kiln__vk_bind_tensor(n, true)};
    uint32_t gz = (uint32_t)cp.g.groups * cp.splits;
    if (cp.splits == 1) {
        return kiln__vk_dispatch(vk, cp.sh, 3, b, &cp.g, sizeof(cp.g), cp.gx, cp.gy, gz);
    }
    VkDeviceSize part = (VkDeviceSize)cp.splits * n->n_elems * 4;
    KILN_ASSERT(vk->scratch != NULL && vk->scratch_bytes >= part);
    struct kiln__vk_bind s = {vk->scratch, 0, part, true};
    struct kiln__vk_bind gb[3] = {b[0], b[1], s};
    KILN_TRY(kiln__vk_dispatch(vk, cp.sh, 3, gb, &cp.g, sizeof(cp.g), cp.gx, cp.gy, gz));
    return split_sum(vk, n, s, cp.splits);
}

/* ==== Pooling and upsampling ==== */

kiln_status kiln__vk_pool(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__vk *vk = be->impl;
    struct pc_pool pc;
    enum kiln__vk_shader sh;
    const int64_t *big, *small; /* the un-pooled and pooled (or small and upsampled) plane */
    memset(&pc, 0, sizeof(pc));
    if (n->n_elems == 0) {
        return KILN_OK;
    }
    pc.n = (uint32_t)n->n_elems;
    if (n->op == KILN_OP_UPSAMPLE_NEAREST || n->op == KILN_OP_UPSAMPLE_NEAREST_BWD) {
        const struct kiln__p_upsample *p = kiln__params(n);
        bool fwd = n->op == KILN_OP_UPSAMPLE_NEAREST;
        small = fwd ? n->src[0]->shape.dims : n->shape.dims;
        big = fwd ? n->shape.dims : n->src[0]->shape.dims;
        pc.h = (int32_t)small[2], pc.w = (int32_t)small[3];
        pc.oh = (int32_t)big[2], pc.ow = (int32_t)big[3];
        pc.kh = p->factor[0], pc.kw = p->factor[1];
        sh = fwd ? KILN__VK_SH_UPSAMPLE_NEAREST : KILN__VK_SH_UPSAMPLE_NEAREST_BWD;
    } else {
        const struct kiln__p_pool2d *p = kiln__params(n);
        bool fwd = n->op == KILN_OP_MAXPOOL2D || n->op == KILN_OP_AVGPOOL2D;
        big = fwd ? n->src[0]->shape.dims : n->shape.dims;
        small = fwd ? n->shape.dims : n->src[n->n_src - 1]->shape.dims;
        pc.h = (int32_t)big[2], pc.w = (int32_t)big[3];
        pc.oh = (int32_t)small[2], pc.ow = (int32_t)small[3];
        pc.kh = p->kernel[0], pc.kw = p->kernel[1];
        pc.sh = p->stride[0], pc.sw = p->stride[1];
        pc.ph = p->pad[0], pc.pw = p->pad[1];
        pc.count_include_pad = p->count_include_pad;
        sh = n->op == KILN_OP_MAXPOOL2D            ? KILN__VK_SH_MAXPOOL2D
             : n->op == KILN_OP_MAXPOOL2D_BWD      ? KILN__VK_SH_MAXPOOL2D_BWD
             : n->op == KILN_OP_MAXPOOL2D_RELU_BWD ? KILN__VK_SH_MAXPOOL2D_RELU_BWD
             : n->op == KILN_OP_AVGPOOL2D          ? KILN__VK_SH_AVGPOOL2D
                                                   : KILN__VK_SH_AVGPOOL2D_BWD;
        if (vk->ieee && sh == KILN__VK_SH_MAXPOOL2D) { /* NaN must win: keep isnan */
            sh = KILN__VK_SH_MAXPOOL2D_IEEE;
        } else if (vk->ieee && sh == KILN__VK_SH_MAXPOOL2D_BWD) {
            sh = KILN__VK_SH_MAXPOOL2D_BWD_IEEE;
        } else if (vk->ieee && sh == KILN__VK_SH_MAXPOOL2D_RELU_BWD) {
            sh = KILN__VK_SH_MAXPOOL2D_RELU_BWD_IEEE;
        }
    }
    return kiln__vk_run_simple(be, n, sh, &pc, sizeof(pc),
                               kiln__vk_groups(vk, n->n_elems, vk->max_wg));
}

/* ==== Layout ==== */

kiln_status kiln__vk_concat(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__vk *vk = be->impl;
    int32_t axis = ((const struct kiln__p_concat *)kiln__params(n))->axis;
    int64_t inner = 1, off = 0;
    for (int32_t k = axis + 1; k < n->shape.rank; k++) {
        inner *= n->shape.dims[k];
    }
    int64_t dst_stride = n->shape.dims[axis] * inner;
    /* One copy per input into its column range of the output rows; the ranges are
     * disjoint, the hazard tracker orders them anyway (same output binding). */
    for (int i = 0; i < n->n_src; i++) {
        const struct kiln_tensor *x = n->src[i];
        int64_t len = x->shape.dims[axis] * inner;
        if (x->n_elems > 0) {
            struct pc_copy_rows pc = {(uint32_t)x->n_elems, (uint32_t)len, (uint32_t)dst_stride,
                                      (uint32_t)off};
            struct kiln__vk_bind b[2] = {kiln__vk_bind_tensor(x, false),
                                         kiln__vk_bind_tensor(n, true)};
            KILN_TRY(kiln__vk_dispatch(vk, KILN__VK_SH_COPY_ROWS, 2, b, &pc, sizeof(pc),
                                       kiln__vk_groups(vk, x->n_elems, vk->max_wg), 1, 1));
        }
        off += len;
    }
    return KILN_OK;
}

kiln_status kiln__vk_slice_pad(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__vk *vk = be->impl;
    int64_t od[KILN_MAX_DIMS], id[KILN_MAX_DIMS], is[KILN_MAX_DIMS], offs[KILN_MAX_DIMS];
    struct pc_slice_pad pc;
    if (n->n_elems == 0) {
        return KILN_OK;
    }
    memset(&pc, 0, sizeof(pc));
    uint32_t g = kiln__vk_groups(vk, n->n_elems, vk->max_wg);
    if (kiln__gpu_box(n, od, id, is, offs) > 4) {
        struct pc_slice_pad_nd p8;
        p8.n = (uint32_t)n->n_elems;
        for (int k = 0; k < 8; k++) {
            p8.od[k] = (uint32_t)od[k];
            p8.id[k] = (int32_t)id[k];
            p8.off[k] = (int32_t)offs[k];
        }
        p8.sign = n->op == KILN_OP_SLICE ? 1 : -1;
        return kiln__vk_run_simple(be, n, KILN__VK_SH_SLICE_PAD_ND, &p8, sizeof(p8), g);
    }
    for (int k = 0; k < 4; k++) {
        pc.off[k] = (int32_t)offs[k];
    }
    pc.n = (uint32_t)n->n_elems;
    pc.od1 = (uint32_t)od[1], pc.od2 = (uint32_t)od[2], pc.od3 = (uint32_t)od[3];
    for (int k = 0; k < 4; k++) {
        pc.id[k] = (int32_t)id[k];
        pc.is[k] = (uint32_t)is[k];
    }
    pc.sign = n->op == KILN_OP_SLICE ? 1 : -1;
    return kiln__vk_run_simple(be, n, KILN__VK_SH_SLICE_PAD, &pc, sizeof(pc), g);
}

/* ==== Dropout ==== */

kiln_status kiln__vk_dropout(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__vk *vk = be->impl;
    const struct kiln__p_dropout *p = kiln__params(n);
    uint64_t t = n->graph->run_count;
    if (n->n_elems == 0) {
        return KILN_OK;
    }
    struct pc_dropout pc = {(uint32_t)n->n_elems,
                            p->p,
                            p->scale,
                            (uint32_t)p->seed,
                            (uint32_t)(p->seed >> 32),
                            (uint32_t)t,
                            (uint32_t)(t >> 32),
                            (uint32_t)(n->graph->training != 0)};
    return kiln__vk_run_simple(be, n, KILN__VK_SH_DROPOUT, &pc, sizeof(pc),
                               kiln__vk_groups(vk, n->n_elems, vk->max_wg));
}

/* ==== Batch norm and local response norm ==== */

struct pc_norm { /* norm.comp */
    uint32_t n, nb, c, s;
    float f0, f1, f2, f3;
    int32_t size;
    uint32_t training;
};
PC_ASSERT(struct pc_norm);

kiln_status kiln__vk_norm(struct kiln_backend *be, const struct kiln_tensor *n)
{
    static const enum kiln__vk_shader sh[] = {
        [KILN_OP_BN_STATS] = KILN__VK_SH_BN_STATS,
        [KILN_OP_BN_STATS_BWD] = KILN__VK_SH_BN_STATS_BWD,
        [KILN_OP_BN_APPLY] = KILN__VK_SH_BN_APPLY,
        [KILN_OP_BN_APPLY_BWD] = KILN__VK_SH_BN_APPLY_BWD,
        [KILN_OP_BN_APPLY_BWD_PARAMS] = KILN__VK_SH_BN_APPLY_BWD_PARAMS,
        [KILN_OP_BN_RUNNING_UPDATE] = KILN__VK_SH_BN_RUNNING_UPDATE,
        [KILN_OP_LRN] = KILN__VK_SH_LRN,
        [KILN_OP_LRN_BWD] = KILN__VK_SH_LRN_BWD,
    };
    struct kiln__vk *vk = be->impl;
    struct pc_norm pc;
    memset(&pc, 0, sizeof(pc));
    const struct kiln_shape *xs = &n->src[0]->shape; /* x, or running mean (in place) */
    pc.nb = (uint32_t)xs->dims[0];
    pc.c = xs->rank > 1 ? (uint32_t)xs->dims[1] : 1u;
    pc.s = 1;
    for (int32_t i = 2; i < xs->rank; i++) {
        pc.s *= (uint32_t)xs->dims[i];
    }
    pc.training = n->graph->training != 0;
    bool per_channel = n->op == KILN_OP_BN_STATS || n->op == KILN_OP_BN_APPLY_BWD_PARAMS;
    if (n->op == KILN_OP_LRN || n->op == KILN_OP_LRN_BWD) {
        const struct kiln__p_lrn *p = kiln__params(n);
        pc.f0 = p->alpha, pc.f1 = p->beta, pc.f2 = p->k;
        pc.size = p->size;
    } else if (n->op == KILN_OP_BN_RUNNING_UPDATE) {
        const struct kiln__p_bn *p = kiln__params(n);
        pc.f0 = p->momentum;
        pc.f1 = p->count > 1 ? (float)p->count / (float)(p->count - 1) : 1.0f;
        pc.c = (uint32_t)n->src[0]->n_elems;
        pc.s = 1;
        pc.n = pc.c;
        struct kiln__vk_bind b[3] = {kiln__vk_bind_tensor(n->src[0], true),
                                     kiln__vk_bind_tensor(n->src[1], true),
                                     kiln__vk_bind_tensor(n->src[2], false)};
        return kiln__vk_dispatch(vk, sh[n->op], 3, b, &pc, sizeof(pc),
                                 kiln__vk_groups(vk, pc.n, vk->max_wg), 1, 1);
    } else if (n->op == KILN_OP_BN_STATS_BWD) {
        pc.f1 = (float)(1.0 / ((double)pc.nb * (double)pc.s));
    } else if (n->op != KILN_OP_BN_STATS) {
        pc.f0 = ((const struct kiln__p_bn *)kiln__params(n))->eps;
    }
    pc.n = per_channel ? pc.c : (uint32_t)n->n_elems;
    if (pc.n == 0) {
        return KILN_OK;
    }
    uint32_t lim = vk->props.limits.maxComputeWorkGroupCount[0];
    uint32_t g = per_channel ? (pc.c < lim ? pc.c : lim) : kiln__vk_groups(vk, pc.n, vk->max_wg);
    enum kiln__vk_shader v = sh[n->op];
    if (n->op == KILN_OP_BN_STATS) {
        v = kiln__vk_reduction(vk, v, KILN__VK_SH_BN_STATS_SG);
    } else if (n->op == KILN_OP_BN_APPLY_BWD_PARAMS) {
        v = kiln__vk_reduction(vk, v, KILN__VK_SH_BN_APPLY_BWD_PARAMS_SG);
    }
    return kiln__vk_run_simple(be, n, v, &pc, sizeof(pc), g);
}
