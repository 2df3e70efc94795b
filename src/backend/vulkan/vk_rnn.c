/*
 * vk_rnn.c - the Vulkan launcher of the recurrent ops (src/ops/rnn.c): T steps, each a
 * product over all sequences (shaders/rnngemm.comp, the tiled product of gemm.glsl on
 * parts of tensors) and one cell dispatch (shaders/rnn.comp), recorded in order; the
 * hazard tracking of kiln__vk_dispatch puts a barrier between each dependent pair. The
 * forward product h_{t-1} W_hh^T goes to the scratch block at the end of the output; the
 * backward cell writes step t's gate gradients and the carries, then dh += dG_t W_hh
 * prepares step t - 1.
 */
#include "vk_impl.h"

#define PC_ASSERT(T) _Static_assert(sizeof(T) <= KILN_VK_PUSH_BYTES, #T " exceeds 128 bytes")

struct pc_rnn_gemm { /* rnngemm.comp */
    uint32_t m, n, k, oa, lda, ob, ldb, oc, ldc;
};
struct pc_rnn { /* rnn.comp */
    uint32_t n, h, tnh, tng, dx_elems, t;
    int32_t tp;
    uint32_t cell, first;
};
PC_ASSERT(struct pc_rnn_gemm);
PC_ASSERT(struct pc_rnn);

/* One product C = A op(B) (+ C) of parts of tensors a, b, c (offsets and row strides in
 * elements). */
static kiln_status gemm(struct kiln__vk *vk, enum kiln__vk_shader sh, const struct kiln_tensor *a,
                        const struct kiln_tensor *b, const struct kiln_tensor *c,
                        const struct pc_rnn_gemm *pc)
{
    struct kiln__vk_bind bind[3] = {kiln__vk_bind_tensor(a, false), kiln__vk_bind_tensor(b, false),
                                    kiln__vk_bind_tensor(c, true)};
    uint32_t gx = (pc->n + vk->mm_tile[1] - 1) / vk->mm_tile[1];
    uint32_t gy = (pc->m + vk->mm_tile[0] - 1) / vk->mm_tile[0];
    return kiln__vk_dispatch(vk, sh, 3, bind, pc, sizeof(*pc), gx, gy, 1);
}

static kiln_status cell(struct kiln__vk *vk, const struct kiln_tensor *n, enum kiln__vk_shader sh,
                        const struct pc_rnn *pc)
{
    struct kiln__vk_bind bind[5];
    for (int i = 0; i < 5; i++) {
        /* forward (xg, w_hh, b_hh, s0, mask): xg, b_hh, s0, mask; backward (y, dy, w_hh,
         * s0, mask): y, dy, s0, mask */
        static const int fwd[4] = {0, 2, 3, 4}, bwd[4] = {0, 1, 3, 4};
        if (i < 4) {
            bind[i] =
                kiln__vk_bind_tensor(n->src[sh == KILN__VK_SH_RNN_SEQ ? fwd[i] : bwd[i]], false);
        }
    }
    bind[4] = kiln__vk_bind_tensor(n, true);
    return kiln__vk_dispatch(vk, sh, 5, bind, pc, sizeof(*pc),
                             kiln__vk_groups(vk, pc->n * pc->h, vk->max_wg), 1, 1);
}

bool kiln__vk_rnn_supports(const struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__vk *vk = be->impl;
    struct kiln__rnn_dims d;
    if (!kiln__vk_supports(be, n)) {
        return false;
    }
    kiln__rnn_dims(n, &d);
    const uint32_t *lim = vk->props.limits.maxComputeWorkGroupCount;
    if ((d.g + vk->mm_tile[1] - 1) / vk->mm_tile[1] > lim[0] ||
        (d.n + vk->mm_tile[0] - 1) / vk->mm_tile[0] > lim[1]) {
        KILN_FAIL(KILN_E_UNSUPPORTED,
                  "%s '%s': its step products need more workgroups than "
                  "maxComputeWorkGroupCount allows on '%s'",
                  kiln__op_name(n->op), n->name, vk->props.deviceName);
        return false;
    }
    return true;
}

kiln_status kiln__vk_rnn(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__vk *vk = be->impl;
    const struct kiln__p_rnn *p = kiln__params(n);
    struct kiln__rnn_dims d;
    kiln__rnn_dims(n, &d);
    struct pc_rnn pc = {(uint32_t)d.n,
                        (uint32_t)d.h,
                        (uint32_t)d.tnh,
                        (uint32_t)d.tng,
                        (uint32_t)d.dx_elems,
                        0,
                        0,
                        (uint32_t)p->cell,
                        0};
    bool fwd = n->op == KILN_OP_RNN_SEQ;
    for (int64_t k = 0; k < d.t; k++) {
        int64_t s = fwd ? k : d.t - 1 - k; /* position in processing order */
        int64_t t = p->reverse ? d.t - 1 - s : s;
        int64_t tp = s == 0 ? -1 : (p->reverse ? t + 1 : t - 1);
        pc.t = (uint32_t)t;
        pc.tp = (int32_t)tp;
        pc.first = k == 0;
        if (fwd) {
            const struct kiln_tensor *a = tp < 0 ? n->src[3] : n;
            struct pc_rnn_gemm g = {(uint32_t)d.n, (uint32_t)d.g,
                                    (uint32_t)d.h, tp < 0 ? 0 : (uint32_t)(tp * d.n * d.h),
                                    (uint32_t)d.h, 0,
                                    (uint32_t)d.h, (uint32_t)(kiln__rnn_blocks(p->cell) * d.tnh),
                                    (uint32_t)d.g};
            KILN_TRY(gemm(vk, KILN__VK_SH_RNN_GEMM_NT, a, n->src[1], n, &g));
            KILN_TRY(cell(vk, n, KILN__VK_SH_RNN_SEQ, &pc));
        } else {
            KILN_TRY(cell(vk, n, KILN__VK_SH_RNN_SEQ_BWD, &pc));
            uint64_t dgh = p->cell == KILN__RNN_GRU ? (uint64_t)d.tng : 0;
            struct pc_rnn_gemm g = {(uint32_t)d.n, (uint32_t)d.h,
                                    (uint32_t)d.g, (uint32_t)(dgh + (uint64_t)(t * d.n * d.g)),
                                    (uint32_t)d.g, 0,
                                    (uint32_t)d.h, (uint32_t)d.dx_elems,
                                    (uint32_t)d.h};
            KILN_TRY(gemm(vk, KILN__VK_SH_RNN_GEMM_NN_ACC, n, n->src[2], n, &g));
        }
    }
    return KILN_OK;
}
