/*
 * vk_kernels.c - the Vulkan backend's kernel table: one entry per op of
 * src/ops/op_list.h (RESHAPE is a view and runs nothing), each recording one dispatch
 * of a shader from shaders/ with a push-constant block mirrored here. The CPU
 * references in the src/ops family files define what each op computes. The supports hook rejects,
 * at compile time, tensors that one storage-buffer binding cannot reach.
 */
#include <string.h>

#include "../../ops/family.h"
#include "vk_impl.h"

#define PC_ASSERT(T) _Static_assert(sizeof(T) <= KILN_VK_PUSH_BYTES, #T " exceeds 128 bytes")

/* Push-constant blocks, mirrored from the shaders (std430: 4-byte scalars). */
struct pc_binary { /* binary.comp */
    uint32_t n, d1, d2, d3, sa[4], sb[4];
};
struct pc_unary { /* unary.comp */
    uint32_t n;
    float p0, p1;
};
struct pc_strided { /* shape.comp, reduce.comp */
    uint32_t n, d1, d2, d3, s[4], r[4], n_red;
    float scale;
};
/* The -DND variants of binary.comp, shape.comp and reduce.comp: 8 padded dims. */
struct pc_binary_nd {
    uint32_t n, d[8], sa[8], sb[8];
};
struct pc_strided_nd {
    uint32_t n, d[8], s[8], r[8], n_red;
    float scale;
};
struct pc_rows { /* softmax.comp */
    uint32_t rows, cols;
};
struct pc_loss { /* loss.comp */
    uint32_t n, cols;
    float scale;
};
struct pc_matmul { /* matmul.comp */
    uint32_t m, n, k, nb, bd[6], sa[6], sb[6];
    uint32_t relu; /* -DBIAS variants (MATMUL_BIAS) */
};
struct pc_sgd { /* optim.comp, OP_SGD */
    uint32_t n;
    float lr, momentum, dampening, weight_decay;
    int32_t nesterov, step, clear_grad;
};
struct pc_adam { /* optim.comp, OP_ADAM */
    uint32_t n;
    float lr, beta1, beta2, eps, weight_decay;
    int32_t decoupled;
    float bc1, bc2;
    int32_t clear_grad;
};
struct pc_rms_ada { /* optim.comp, OP_RMSPROP_UPDATE and OP_ADAGRAD_UPDATE */
    uint32_t n;
    float lr, alpha, eps, weight_decay;
};
PC_ASSERT(struct pc_binary);
PC_ASSERT(struct pc_unary);
PC_ASSERT(struct pc_strided);
PC_ASSERT(struct pc_binary_nd);
PC_ASSERT(struct pc_strided_nd);
PC_ASSERT(struct pc_rows);
PC_ASSERT(struct pc_loss);
PC_ASSERT(struct pc_matmul);
struct pc_accum { /* optim.comp, OP_ACCUM */
    uint32_t n;
    float alpha, beta;
};
PC_ASSERT(struct pc_sgd);
PC_ASSERT(struct pc_accum);
PC_ASSERT(struct pc_adam);
PC_ASSERT(struct pc_rms_ada);

/* ==== Helpers ==== */

static struct kiln__vk *vk_of(struct kiln_backend *be)
{
    return be->impl;
}

/* Workgroups for a grid-stride loop over n items. */
uint32_t kiln__vk_groups(const struct kiln__vk *vk, int64_t n, uint32_t wg)
{
    int64_t g = (n + wg - 1) / wg;
    int64_t lim = vk->props.limits.maxComputeWorkGroupCount[0];
    g = g < lim ? g : lim;
    return g > 0 ? (uint32_t)g : 1;
}

/* Binds src 0..n_src-1 then the output (when with_out). */
static int bind_node(const struct kiln_tensor *n, bool with_out, uint32_t write_mask,
                     struct kiln__vk_bind *b)
{
    int k = 0;
    for (int i = 0; i < n->n_src; i++) {
        b[k++] = kiln__vk_bind_tensor(n->src[i], (write_mask >> i) & 1u);
    }
    if (with_out) {
        b[k++] = kiln__vk_bind_tensor(n, true);
    }
    return k;
}

kiln_status kiln__vk_run_simple(struct kiln_backend *be, const struct kiln_tensor *n,
                                enum kiln__vk_shader sh, const void *pc, size_t pc_bytes,
                                uint32_t gx)
{
    struct kiln__vk_bind b[KILN_VK_MAX_BINDINGS];
    int nb = bind_node(n, true, 0, b);
    return kiln__vk_dispatch(vk_of(be), sh, nb, b, pc, pc_bytes, gx, 1, 1);
}

static bool fits(const struct kiln__vk *vk, const struct kiln_tensor *n,
                 const struct kiln_tensor *t)
{
    size_t nb = kiln_tensor_n_bytes(t);
    if (nb <= vk->max_range && t->n_elems < ((int64_t)1 << 31)) {
        return true;
    }
    char s[64];
    KILN_FAIL(KILN_E_UNSUPPORTED,
              "tensor '%s' %s of node '%s' is %zu bytes, more than the %llu bytes one storage "
              "buffer binding may span on '%s' (maxStorageBufferRange); use a smaller batch or "
              "split the layer so that every tensor stays under that size",
              t->name, kiln__shape_str(&t->shape, s, sizeof(s)), n->name, nb,
              (unsigned long long)vk->max_range, vk->props.deviceName);
    return false;
}

bool kiln__vk_supports(const struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__vk *vk = be->impl;
    for (int i = 0; i < n->n_src; i++) {
        if (!fits(vk, n, n->src[i])) {
            return false;
        }
    }
    return fits(vk, n, n);
}

static void dims_u32(const int64_t *in, uint32_t *out, int n)
{
    for (int i = 0; i < n; i++) {
        out[i] = (uint32_t)in[i];
    }
}

/* ==== Binary ==== */

static kiln_status vk_binary(struct kiln_backend *be, const struct kiln_tensor *n)
{
    static const enum kiln__vk_shader sh[][2] = {
        [KILN_OP_ADD] = {KILN__VK_SH_ADD, KILN__VK_SH_ADD_ND},
        [KILN_OP_SUB] = {KILN__VK_SH_SUB, KILN__VK_SH_SUB_ND},
        [KILN_OP_MUL] = {KILN__VK_SH_MUL, KILN__VK_SH_MUL_ND},
        [KILN_OP_DIV] = {KILN__VK_SH_DIV, KILN__VK_SH_DIV_ND},
        [KILN_OP_ADD_RELU] = {KILN__VK_SH_ADD_RELU, KILN__VK_SH_ADD_RELU_ND},
    };
    struct kiln__vk *vk = vk_of(be);
    struct kiln__iter it;
    if (n->n_elems == 0) {
        return KILN_OK;
    }
    uint32_t g = kiln__vk_groups(vk, n->n_elems, vk->max_wg);
    if (kiln__gpu_iter_bcast(n, &it) > 4) {
        struct pc_binary_nd pc;
        pc.n = (uint32_t)n->n_elems;
        dims_u32(it.dims, pc.d, 8);
        dims_u32(it.strides[1], pc.sa, 8);
        dims_u32(it.strides[2], pc.sb, 8);
        enum kiln__vk_shader s = sh[n->op][1];
        s = s == KILN__VK_SH_DIV_ND && vk->ieee ? KILN__VK_SH_DIV_ND_IEEE : s;
        return kiln__vk_run_simple(be, n, s, &pc, sizeof(pc), g);
    }
    struct pc_binary pc;
    pc.n = (uint32_t)n->n_elems;
    pc.d1 = (uint32_t)it.dims[1];
    pc.d2 = (uint32_t)it.dims[2];
    pc.d3 = (uint32_t)it.dims[3];
    dims_u32(it.strides[1], pc.sa, 4);
    dims_u32(it.strides[2], pc.sb, 4);
    enum kiln__vk_shader s = sh[n->op][0];
    if (s == KILN__VK_SH_DIV && vk->ieee) {
        s = KILN__VK_SH_DIV_IEEE;
    }
    return kiln__vk_run_simple(be, n, s, &pc, sizeof(pc), g);
}

/* ==== Unary and their _BWD ==== */

static kiln_status vk_unary(struct kiln_backend *be, const struct kiln_tensor *n)
{
    static const enum kiln__vk_shader sh[] = {
        [KILN_OP_SCALE_SHIFT] = KILN__VK_SH_SCALE_SHIFT,
        [KILN_OP_RELU] = KILN__VK_SH_RELU,
        [KILN_OP_LEAKY_RELU] = KILN__VK_SH_LEAKY_RELU,
        [KILN_OP_SIGMOID] = KILN__VK_SH_SIGMOID,
        [KILN_OP_TANH] = KILN__VK_SH_TANH,
        [KILN_OP_GELU] = KILN__VK_SH_GELU,
        [KILN_OP_EXP] = KILN__VK_SH_EXP,
        [KILN_OP_LOG] = KILN__VK_SH_LOG,
        [KILN_OP_SQRT] = KILN__VK_SH_SQRT,
        [KILN_OP_RELU_BWD] = KILN__VK_SH_RELU_BWD,
        [KILN_OP_LEAKY_RELU_BWD] = KILN__VK_SH_LEAKY_RELU_BWD,
        [KILN_OP_SIGMOID_BWD] = KILN__VK_SH_SIGMOID_BWD,
        [KILN_OP_TANH_BWD] = KILN__VK_SH_TANH_BWD,
        [KILN_OP_GELU_BWD] = KILN__VK_SH_GELU_BWD,
    };
    struct kiln__vk *vk = vk_of(be);
    struct pc_unary pc = {(uint32_t)n->n_elems, 0.0f, 0.0f};
    if (n->n_elems == 0) {
        return KILN_OK;
    }
    if (n->op == KILN_OP_SCALE_SHIFT) {
        const struct kiln__p_scale_shift *p = kiln__params(n);
        pc.p0 = p->scale;
        pc.p1 = p->shift;
    } else if (n->op == KILN_OP_LEAKY_RELU || n->op == KILN_OP_LEAKY_RELU_BWD) {
        pc.p0 = ((const struct kiln__p_alpha *)kiln__params(n))->alpha;
    }
    enum kiln__vk_shader s = sh[n->op];
    if (vk->ieee) {
        s = s == KILN__VK_SH_EXP    ? KILN__VK_SH_EXP_IEEE
            : s == KILN__VK_SH_LOG  ? KILN__VK_SH_LOG_IEEE
            : s == KILN__VK_SH_SQRT ? KILN__VK_SH_SQRT_IEEE
                                    : s;
    }
    return kiln__vk_run_simple(be, n, s, &pc, sizeof(pc),
                               kiln__vk_groups(vk, n->n_elems, vk->max_wg));
}

/* ==== Matmul ==== */

static bool vk_matmul_supports(const struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__vk *vk = be->impl;
    struct kiln__mm mm;
    if (!kiln__vk_supports(be, n)) {
        return false;
    }
    kiln__matmul_dims(n, &mm);
    if (n->op == KILN_OP_MATMUL_DB && mm.n == 0 && mm.m > 0) {
        /* The sums are written by the product's workgroups, of which there are none. */
        KILN_FAIL(KILN_E_UNSUPPORTED, "matmul_db '%s': an empty product (n = 0)", n->name);
        return false;
    }
    const uint32_t *lim = vk->props.limits.maxComputeWorkGroupCount;
    if ((mm.n + vk->mm_tile[1] - 1) / vk->mm_tile[1] > lim[0] ||
        (mm.m + vk->mm_tile[0] - 1) / vk->mm_tile[0] > lim[1] || mm.batch > lim[2]) {
        KILN_FAIL(KILN_E_UNSUPPORTED,
                  "matmul '%s': %lld x %lld x %lld (batch %lld) needs more workgroups than "
                  "maxComputeWorkGroupCount allows on '%s'; use a smaller batch",
                  n->name, (long long)mm.m, (long long)mm.n, (long long)mm.k, (long long)mm.batch,
                  vk->props.deviceName);
        return false;
    }
    return true;
}

static kiln_status vk_matmul(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__vk *vk = vk_of(be);
    const struct kiln__p_matmul *p = kiln__params(n);
    struct kiln__mm mm;
    kiln__matmul_dims(n, &mm);
    int64_t m = mm.m, nn = mm.n;
    if (n->n_elems == 0) {
        return KILN_OK;
    }
    /* At most KILN_MAX_DIMS - 2 = 6 batch dims remain after merging. */
    struct pc_matmul pc;
    memset(&pc, 0, sizeof(pc));
    pc.m = (uint32_t)m;
    pc.n = (uint32_t)nn;
    pc.k = (uint32_t)mm.k;
    pc.nb = (uint32_t)mm.nb;
    for (int32_t i = 0; i < mm.nb; i++) {
        pc.bd[i] = (uint32_t)mm.bdims[i];
        pc.sa[i] = (uint32_t)mm.sa[i];
        pc.sb[i] = (uint32_t)mm.sb[i];
    }
    /* MATMUL_BIAS, MATMUL_RELU_BWD: the same product with the bias (and relu) or the
     * ReLU gradient's mask in its epilogue; MATMUL_DB (a^T b only) also writes the sums
     * of a's rows into its source db. */
    static const enum kiln__vk_shader shs[4][4] = {
        {KILN__VK_SH_MATMUL_NN, KILN__VK_SH_MATMUL_NT, KILN__VK_SH_MATMUL_TN,
         KILN__VK_SH_MATMUL_TT},
        {KILN__VK_SH_MATMUL_BIAS_NN, KILN__VK_SH_MATMUL_BIAS_NT, KILN__VK_SH_MATMUL_BIAS_TN,
         KILN__VK_SH_MATMUL_BIAS_TT},
        {KILN__VK_SH_MATMUL_RELU_BWD_NN, KILN__VK_SH_MATMUL_RELU_BWD_NT,
         KILN__VK_SH_MATMUL_RELU_BWD_TN, KILN__VK_SH_MATMUL_RELU_BWD_TT},
        {KILN__VK_SH_MATMUL_DB_TN, KILN__VK_SH_MATMUL_DB_TN, KILN__VK_SH_MATMUL_DB_TN,
         KILN__VK_SH_MATMUL_DB_TN},
    };
    int v = n->op == KILN_OP_MATMUL_BIAS       ? 1
            : n->op == KILN_OP_MATMUL_RELU_BWD ? 2
            : n->op == KILN_OP_MATMUL_DB       ? 3
                                               : 0;
    pc.relu = v == 1 ? (uint32_t)((const struct kiln__p_matmul_bias *)kiln__params(n))->relu : 0u;
    enum kiln__vk_shader sh = shs[v][(p->trans_a ? 2 : 0) + (p->trans_b ? 1 : 0)];
    struct kiln__vk_bind b[4];
    int nb = bind_node(n, true, v == 3 ? 1u << 2 : 0u, b);
    uint32_t gx = (uint32_t)((nn + vk->mm_tile[1] - 1) / vk->mm_tile[1]);
    uint32_t gy = (uint32_t)((m + vk->mm_tile[0] - 1) / vk->mm_tile[0]);
    return kiln__vk_dispatch(vk, sh, nb, b, &pc, sizeof(pc), gx, gy, (uint32_t)mm.batch);
}

/* ==== Shape ==== */

static kiln_status vk_transpose(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__vk *vk = vk_of(be);
    struct kiln__iter it;
    struct pc_strided pc;
    if (n->n_elems == 0) {
        return KILN_OK;
    }
    uint32_t g = kiln__vk_groups(vk, n->n_elems, vk->max_wg);
    if (kiln__gpu_iter_transpose(n, &it) > 4) {
        struct pc_strided_nd p8;
        memset(&p8, 0, sizeof(p8));
        p8.n = (uint32_t)n->n_elems;
        dims_u32(it.dims, p8.d, 8);
        dims_u32(it.strides[1], p8.s, 8);
        /* shape.comp -DND reads n, d and s. */
        return kiln__vk_run_simple(be, n, KILN__VK_SH_TRANSPOSE_ND, &p8, 17 * sizeof(uint32_t), g);
    }
    memset(&pc, 0, sizeof(pc));
    pc.n = (uint32_t)n->n_elems;
    pc.d1 = (uint32_t)it.dims[1];
    pc.d2 = (uint32_t)it.dims[2];
    pc.d3 = (uint32_t)it.dims[3];
    dims_u32(it.strides[1], pc.s, 4);
    /* shape.comp reads the first 8 words of the block. */
    return kiln__vk_run_simple(be, n, KILN__VK_SH_TRANSPOSE, &pc, 8 * sizeof(uint32_t), g);
}

/* ==== Reduce ==== */

enum kiln__vk_shader kiln__vk_reduction(const struct kiln__vk *vk, enum kiln__vk_shader plain,
                                        enum kiln__vk_shader sub)
{
    return vk->subgroup ? sub : plain;
}

static kiln_status vk_reduce_sum(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__vk *vk = vk_of(be);
    const struct kiln__p_reduce *p = kiln__params(n);
    int64_t id[KILN_MAX_DIMS], od[KILN_MAX_DIMS], is[KILN_MAX_DIMS];
    if (n->n_elems == 0) {
        return KILN_OK;
    }
    int32_t r = kiln__gpu_reduce(n, id, od, is);
    uint32_t rd[KILN_MAX_DIMS], n_red = 1;
    for (int k = 0; k < r; k++) {
        rd[k] = (od[k] == 1 && id[k] != 1) ? (uint32_t)id[k] : 1u;
        n_red *= rd[k];
    }
    uint32_t g = (uint32_t)(n->n_elems < vk->props.limits.maxComputeWorkGroupCount[0]
                                ? n->n_elems
                                : vk->props.limits.maxComputeWorkGroupCount[0]);
    if (r > 4) {
        struct pc_strided_nd p8 = {.n = (uint32_t)n->n_elems, .n_red = n_red, .scale = p->scale};
        dims_u32(od, p8.d, 8);
        dims_u32(is, p8.s, 8);
        memcpy(p8.r, rd, sizeof(p8.r));
        return kiln__vk_run_simple(
            be, n, kiln__vk_reduction(vk, KILN__VK_SH_REDUCE_SUM_ND, KILN__VK_SH_REDUCE_SUM_ND_SG),
            &p8, sizeof(p8), g);
    }
    struct pc_strided pc;
    pc.n = (uint32_t)n->n_elems;
    pc.d1 = (uint32_t)od[1];
    pc.d2 = (uint32_t)od[2];
    pc.d3 = (uint32_t)od[3];
    dims_u32(is, pc.s, 4);
    memcpy(pc.r, rd, sizeof(pc.r));
    pc.n_red = n_red;
    pc.scale = p->scale;
    return kiln__vk_run_simple(
        be, n, kiln__vk_reduction(vk, KILN__VK_SH_REDUCE_SUM, KILN__VK_SH_REDUCE_SUM_SG), &pc,
        sizeof(pc), g);
}

static kiln_status vk_broadcast(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__vk *vk = vk_of(be);
    struct kiln__iter it;
    struct pc_strided pc;
    float scale = ((const struct kiln__p_broadcast *)kiln__params(n))->scale;
    if (n->n_elems == 0) {
        return KILN_OK;
    }
    uint32_t g = kiln__vk_groups(vk, n->n_elems, vk->max_wg);
    if (kiln__gpu_iter_bcast(n, &it) > 4) {
        struct pc_strided_nd p8;
        memset(&p8, 0, sizeof(p8));
        p8.n = (uint32_t)n->n_elems;
        dims_u32(it.dims, p8.d, 8);
        dims_u32(it.strides[1], p8.s, 8);
        p8.scale = scale;
        return kiln__vk_run_simple(be, n, KILN__VK_SH_BROADCAST_ND, &p8, sizeof(p8), g);
    }
    memset(&pc, 0, sizeof(pc));
    pc.n = (uint32_t)n->n_elems;
    pc.d1 = (uint32_t)it.dims[1];
    pc.d2 = (uint32_t)it.dims[2];
    pc.d3 = (uint32_t)it.dims[3];
    dims_u32(it.strides[1], pc.s, 4);
    pc.scale = scale;
    return kiln__vk_run_simple(be, n, KILN__VK_SH_BROADCAST, &pc, sizeof(pc), g);
}

static uint32_t row_groups(const struct kiln__vk *vk, int64_t rows)
{
    int64_t lim = vk->props.limits.maxComputeWorkGroupCount[0];
    return rows < 1 ? 1u : (uint32_t)(rows < lim ? rows : lim);
}

static kiln_status vk_argmax(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__vk *vk = vk_of(be);
    int64_t rows, cols;
    struct pc_strided pc;
    kiln__rows_cols(&n->src[0]->shape, &rows, &cols);
    if (rows == 0 || cols == 0) {
        return KILN_OK;
    }
    memset(&pc, 0, sizeof(pc));
    pc.n = (uint32_t)rows;
    pc.d1 = (uint32_t)cols;
    enum kiln__vk_shader sh =
        vk->ieee ? kiln__vk_reduction(vk, KILN__VK_SH_ARGMAX_IEEE, KILN__VK_SH_ARGMAX_IEEE_SG)
                 : kiln__vk_reduction(vk, KILN__VK_SH_ARGMAX, KILN__VK_SH_ARGMAX_SG);
    return kiln__vk_run_simple(be, n, sh, &pc, sizeof(pc), row_groups(vk, rows));
}

static kiln_status vk_softmax(struct kiln_backend *be, const struct kiln_tensor *n)
{
    static const enum kiln__vk_shader sh[][2] = {
        [KILN_OP_SOFTMAX] = {KILN__VK_SH_SOFTMAX, KILN__VK_SH_SOFTMAX_SG},
        [KILN_OP_LOG_SOFTMAX] = {KILN__VK_SH_LOG_SOFTMAX, KILN__VK_SH_LOG_SOFTMAX_SG},
        [KILN_OP_SOFTMAX_BWD] = {KILN__VK_SH_SOFTMAX_BWD, KILN__VK_SH_SOFTMAX_BWD_SG},
        [KILN_OP_LOG_SOFTMAX_BWD] = {KILN__VK_SH_LOG_SOFTMAX_BWD, KILN__VK_SH_LOG_SOFTMAX_BWD_SG},
    };
    struct kiln__vk *vk = vk_of(be);
    int64_t rows, cols;
    kiln__rows_cols(&n->shape, &rows, &cols);
    if (rows == 0 || cols == 0) {
        return KILN_OK;
    }
    struct pc_rows pc = {(uint32_t)rows, (uint32_t)cols};
    return kiln__vk_run_simple(be, n, kiln__vk_reduction(vk, sh[n->op][0], sh[n->op][1]), &pc,
                               sizeof(pc), row_groups(vk, rows));
}

/* ==== Losses ==== */

static kiln_status vk_loss(struct kiln_backend *be, const struct kiln_tensor *n)
{
    static const enum kiln__vk_shader sh[] = {
        [KILN_OP_MSE] = KILN__VK_SH_MSE,
        [KILN_OP_MSE_BWD] = KILN__VK_SH_MSE_BWD,
        [KILN_OP_SOFTMAX_XENT] = KILN__VK_SH_SOFTMAX_XENT,
        [KILN_OP_SOFTMAX_XENT_BWD] = KILN__VK_SH_SOFTMAX_XENT_BWD,
        [KILN_OP_SOFTMAX_XENT_FUSED] = KILN__VK_SH_SOFTMAX_XENT_FUSED,
        [KILN_OP_BCE_LOGITS] = KILN__VK_SH_BCE_LOGITS,
        [KILN_OP_BCE_LOGITS_BWD] = KILN__VK_SH_BCE_LOGITS_BWD,
        [KILN_OP_HINGE] = KILN__VK_SH_HINGE,
        [KILN_OP_HINGE_BWD] = KILN__VK_SH_HINGE_BWD,
    };
    struct kiln__vk *vk = vk_of(be);
    const struct kiln_tensor *x = n->src[0];
    bool labels = n->src[1]->dtype == KILN_DTYPE_I32;
    /* The fused loss and gradient is one workgroup, as the forward losses. */
    bool bwd = n->n_src == 3 && n->op != KILN_OP_SOFTMAX_XENT_FUSED;
    struct pc_loss pc = {0, 0, 1.0f};
    int64_t rows = labels ? x->shape.dims[0] : x->n_elems;
    int64_t cols = labels ? x->shape.dims[1] : 1;
    pc.n = (uint32_t)rows;
    pc.cols = (uint32_t)cols;
    double count = (double)rows;
    if (n->op == KILN_OP_HINGE || n->op == KILN_OP_HINGE_BWD) {
        count = (double)rows * (double)cols;
    }
    pc.scale = (float)((n->op == KILN_OP_MSE_BWD ? 2.0 : 1.0) / count);
    if (bwd && (rows == 0 || cols == 0)) {
        return KILN_OK;
    }
    if (n->op == KILN_OP_SOFTMAX_XENT_FUSED && n->n_src == 4) {
        /* Its rider, the ARGMAX of the scores (source 3), is bound for writing. */
        struct kiln__vk_bind b[KILN_VK_MAX_BINDINGS];
        int nb = bind_node(n, true, kiln__ops[n->op]->inplace_mask, b);
        enum kiln__vk_shader s = vk->ieee ? KILN__VK_SH_SOFTMAX_XENT_FUSED_ARGMAX_IEEE
                                          : KILN__VK_SH_SOFTMAX_XENT_FUSED_ARGMAX;
        return kiln__vk_dispatch(vk, s, nb, b, &pc, sizeof(pc), 1, 1, 1);
    }
    return kiln__vk_run_simple(be, n, sh[n->op], &pc, sizeof(pc),
                               bwd ? kiln__vk_groups(vk, rows, vk->max_wg) : 1);
}

/* ==== Optimizer updates (in place) ==== */

static kiln_status vk_optim(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__vk *vk = vk_of(be);
    struct kiln__vk_bind b[KILN_VK_MAX_BINDINGS];
    int64_t count = n->src[0]->n_elems;
    if (count == 0) {
        return KILN_OK;
    }
    int nb = bind_node(n, false, kiln__ops[n->op]->inplace_mask, b);
    uint32_t g = kiln__vk_groups(vk, count, vk->max_wg);
    if (n->op == KILN_OP_ACCUMULATE) {
        const struct kiln__p_accum *p = kiln__params(n);
        struct pc_accum pc = {(uint32_t)count, p->alpha, p->beta};
        return kiln__vk_dispatch(vk, KILN__VK_SH_ACCUMULATE, nb, b, &pc, sizeof(pc), g, 1, 1);
    }
    if (n->op == KILN_OP_SGD_UPDATE) {
        const struct kiln__p_sgd *p = kiln__params(n);
        struct pc_sgd pc = {(uint32_t)count, p->lr,       p->momentum, p->dampening,
                            p->weight_decay, p->nesterov, p->step,     p->clear_grad};
        return kiln__vk_dispatch(vk, KILN__VK_SH_SGD_UPDATE, nb, b, &pc, sizeof(pc), g, 1, 1);
    }
    if (n->op == KILN_OP_RMSPROP_UPDATE) {
        const struct kiln__p_rmsprop *p = kiln__params(n);
        struct pc_rms_ada pc = {(uint32_t)count, p->lr, p->alpha, p->eps, p->weight_decay};
        return kiln__vk_dispatch(vk, KILN__VK_SH_RMSPROP_UPDATE, nb, b, &pc, sizeof(pc), g, 1, 1);
    }
    if (n->op == KILN_OP_ADAGRAD_UPDATE) {
        const struct kiln__p_adagrad *p = kiln__params(n);
        struct pc_rms_ada pc = {(uint32_t)count, p->lr, 0.0f, p->eps, p->weight_decay};
        return kiln__vk_dispatch(vk, KILN__VK_SH_ADAGRAD_UPDATE, nb, b, &pc, sizeof(pc), g, 1, 1);
    }
    const struct kiln__p_adam *p = kiln__params(n);
    struct pc_adam pc = {(uint32_t)count, p->lr,        p->beta1, p->beta2, p->eps,
                         p->weight_decay, p->decoupled, p->bc1,   p->bc2,   p->clear_grad};
    return kiln__vk_dispatch(vk, KILN__VK_SH_ADAM_UPDATE, nb, b, &pc, sizeof(pc), g, 1, 1);
}

/* ==== The generic launcher (op_desc.h: KILN__OPF_GENERIC) ==== */

static int64_t generic_items(const struct kiln_tensor *n)
{
    const struct kiln__op_desc *d = kiln__ops[n->op];
    return d->gpu_items != NULL ? d->gpu_items(n) : n->n_elems;
}

static bool vk_generic_supports(const struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__op_desc *d = kiln__ops[n->op];
    int n_binds = n->n_src + ((d->flags & KILN__OPF_INPLACE) ? 0 : 1);
    if (!kiln__vk_supports(be, n)) {
        return false;
    }
    if (kiln__vk_op_shader[n->op] == 0 || n_binds > KILN_VK_MAX_BINDINGS ||
        generic_items(n) >= ((int64_t)1 << 32)) {
        KILN_FAIL(KILN_E_UNSUPPORTED, "node '%s' (op %s): %s", n->name, d->name,
                  kiln__vk_op_shader[n->op] == 0
                      ? "no shader variant <family>_<op> was built for the op"
                  : n_binds > KILN_VK_MAX_BINDINGS ? "more storage buffers than a shader may bind"
                                                   : "more than 2^32 work-items");
        return false;
    }
    return true;
}

/* Binds the sources in order (written when in place), then the output; pushes the
 * header and the node's params; one grid-stride dispatch over the items. */
static kiln_status vk_generic(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__vk *vk = vk_of(be);
    const struct kiln__op_desc *d = kiln__ops[n->op];
    struct kiln__vk_bind b[KILN_VK_MAX_BINDINGS];
    unsigned char pc[KILN_VK_PUSH_BYTES];
    int64_t items = generic_items(n);
    uint64_t run = n->graph->run_count;
    if (items == 0) {
        return KILN_OK;
    }
    bool inplace = (d->flags & KILN__OPF_INPLACE) != 0;
    int nb = bind_node(n, !inplace, inplace ? d->inplace_mask : 0, b);
    struct kiln__gen_hdr h = {(uint32_t)items, (uint32_t)(n->graph->training != 0), (uint32_t)run,
                              (uint32_t)(run >> 32)};
    memcpy(pc, &h, sizeof(h));
    memcpy(pc + KILN__GEN_HDR_BYTES, n->params, d->params_bytes);
    enum kiln__vk_shader sh = (enum kiln__vk_shader)(kiln__vk_op_shader[n->op] - 1);
    return kiln__vk_dispatch(vk, sh, nb, b, pc, KILN__GEN_HDR_BYTES + d->params_bytes,
                             kiln__vk_groups(vk, items, vk->max_wg), 1, 1);
}

const struct kiln_kernel kiln__vk_generic = {vk_generic, vk_generic_supports, NULL};

/* ==== The table ==== */

#define K(fn)                                                                                      \
    {                                                                                              \
        fn, kiln__vk_supports                                                                      \
    }

const struct kiln_kernel kiln__vk_kernels[KILN_OP_COUNT] = {
    [KILN_OP_ADD] = {vk_binary, kiln__vk_supports},
    [KILN_OP_SUB] = {vk_binary, kiln__vk_supports},
    [KILN_OP_MUL] = {vk_binary, kiln__vk_supports},
    [KILN_OP_DIV] = {vk_binary, kiln__vk_supports},
    [KILN_OP_ADD_RELU] = {vk_binary, kiln__vk_supports},
    [KILN_OP_SCALE_SHIFT] = K(vk_unary),
    [KILN_OP_RELU] = K(vk_unary),
    [KILN_OP_LEAKY_RELU] = K(vk_unary),
    [KILN_OP_SIGMOID] = K(vk_unary),
    [KILN_OP_TANH] = K(vk_unary),
    [KILN_OP_GELU] = K(vk_unary),
    [KILN_OP_EXP] = K(vk_unary),
    [KILN_OP_LOG] = K(vk_unary),
    [KILN_OP_SQRT] = K(vk_unary),
    [KILN_OP_RELU_BWD] = K(vk_unary),
    [KILN_OP_LEAKY_RELU_BWD] = K(vk_unary),
    [KILN_OP_SIGMOID_BWD] = K(vk_unary),
    [KILN_OP_TANH_BWD] = K(vk_unary),
    [KILN_OP_GELU_BWD] = K(vk_unary),
    [KILN_OP_MATMUL] = {vk_matmul, vk_matmul_supports},
    [KILN_OP_MATMUL_BIAS] = {vk_matmul, vk_matmul_supports},
    [KILN_OP_MATMUL_RELU_BWD] = {vk_matmul, vk_matmul_supports},
    [KILN_OP_MATMUL_DB] = {vk_matmul, vk_matmul_supports},
    [KILN_OP_TRANSPOSE] = {vk_transpose, kiln__vk_supports},
    [KILN_OP_REDUCE_SUM] = {vk_reduce_sum, kiln__vk_supports},
    [KILN_OP_BROADCAST] = {vk_broadcast, kiln__vk_supports},
    [KILN_OP_ARGMAX] = K(vk_argmax),
    [KILN_OP_SOFTMAX] = K(vk_softmax),
    [KILN_OP_LOG_SOFTMAX] = K(vk_softmax),
    [KILN_OP_SOFTMAX_BWD] = K(vk_softmax),
    [KILN_OP_LOG_SOFTMAX_BWD] = K(vk_softmax),
    [KILN_OP_MSE] = K(vk_loss),
    [KILN_OP_MSE_BWD] = K(vk_loss),
    [KILN_OP_SOFTMAX_XENT] = K(vk_loss),
    [KILN_OP_SOFTMAX_XENT_BWD] = K(vk_loss),
    [KILN_OP_SOFTMAX_XENT_FUSED] = K(vk_loss),
    [KILN_OP_BCE_LOGITS] = K(vk_loss),
    [KILN_OP_BCE_LOGITS_BWD] = K(vk_loss),
    [KILN_OP_HINGE] = K(vk_loss),
    [KILN_OP_HINGE_BWD] = K(vk_loss),
    [KILN_OP_SGD_UPDATE] = K(vk_optim),
    [KILN_OP_ADAM_UPDATE] = K(vk_optim),
    [KILN_OP_RMSPROP_UPDATE] = K(vk_optim),
    [KILN_OP_ADAGRAD_UPDATE] = K(vk_optim),
    [KILN_OP_ACCUMULATE] = K(vk_optim),
    [KILN_OP_CONV2D] = {kiln__vk_conv, kiln__vk_conv_supports},
    [KILN_OP_CONV2D_BWD_DATA] = {kiln__vk_conv, kiln__vk_conv_supports},
    [KILN_OP_CONV2D_BWD_FILTER] = {kiln__vk_conv, kiln__vk_conv_supports},
    [KILN_OP_CONV2D_BIAS] = {kiln__vk_conv, kiln__vk_conv_supports, kiln__vk_conv_one_launch},
    [KILN_OP_MAXPOOL2D] = K(kiln__vk_pool),
    [KILN_OP_MAXPOOL2D_BWD] = K(kiln__vk_pool),
    [KILN_OP_MAXPOOL2D_RELU_BWD] = K(kiln__vk_pool),
    [KILN_OP_AVGPOOL2D] = K(kiln__vk_pool),
    [KILN_OP_AVGPOOL2D_BWD] = K(kiln__vk_pool),
    [KILN_OP_UPSAMPLE_NEAREST] = K(kiln__vk_pool),
    [KILN_OP_UPSAMPLE_NEAREST_BWD] = K(kiln__vk_pool),
    [KILN_OP_CONCAT] = K(kiln__vk_concat),
    [KILN_OP_SLICE] = {kiln__vk_slice_pad, kiln__vk_supports},
    [KILN_OP_PAD] = {kiln__vk_slice_pad, kiln__vk_supports},
    [KILN_OP_DROPOUT] = K(kiln__vk_dropout),
    [KILN_OP_BN_STATS] = K(kiln__vk_norm),
    [KILN_OP_BN_STATS_BWD] = K(kiln__vk_norm),
    [KILN_OP_BN_APPLY] = K(kiln__vk_norm),
    [KILN_OP_BN_APPLY_BWD] = K(kiln__vk_norm),
    [KILN_OP_BN_APPLY_BWD_PARAMS] = K(kiln__vk_norm),
    [KILN_OP_BN_RUNNING_UPDATE] = K(kiln__vk_norm),
    [KILN_OP_LRN] = K(kiln__vk_norm),
    [KILN_OP_LRN_BWD] = K(kiln__vk_norm),
    [KILN_OP_RNN_SEQ] = {kiln__vk_rnn, kiln__vk_rnn_supports},
    [KILN_OP_RNN_SEQ_BWD] = {kiln__vk_rnn, kiln__vk_rnn_supports},
};
