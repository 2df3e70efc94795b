/*
 * cl_kernels.c - the opencl backend's kernel table (one entry per op of
 * src/ops/op_list.h) and the launchers of the elementwise families: binary ops with
 * broadcasting, unary ops and their _BWD kernels, transpose, and the optimizer updates.
 * Reductions, softmax and losses are in cl_reduce.c; matrix products in cl_gemm.c.
 */
#include <string.h>

#include "cl_impl.h"

static cl_long4 long4_of(const int64_t v[4])
{
    cl_long4 r;
    for (int i = 0; i < 4; i++) {
        r.s[i] = (cl_long)v[i];
    }
    return r;
}

static cl_long8 long8_of(const int64_t v[8])
{
    cl_long8 r;
    for (int i = 0; i < 8; i++) {
        r.s[i] = (cl_long)v[i];
    }
    return r;
}

/* ==== Binary ==== */

/* The kernel of op: over 4 dims (kind 0), for sources of the output's shape (1), over 8
 * dims (2). */
static const char *binary_name(int op, int kind)
{
    static const char *const names[5][3] = {
        {"add", "add_c", "add_nd"},
        {"sub", "sub_c", "sub_nd"},
        {"mul", "mul_c", "mul_nd"},
        {"div_", "div__c", "div__nd"},
        {"add_relu", "add_relu_c", "add_relu_nd"},
    };
    int i = op == KILN_OP_ADD        ? 0
            : op == KILN_OP_SUB      ? 1
            : op == KILN_OP_MUL      ? 2
            : op == KILN_OP_ADD_RELU ? 4
                                     : 3;
    return names[i][kind];
}

static kiln_status cl_binary(struct kiln_backend *be, const struct kiln_tensor *n)
{
    cl_mem ma, mb, my;
    cl_ulong oa, ob, oy, count = (cl_ulong)n->n_elems;
    kiln__cl_tensor(n->src[0], &ma, &oa);
    kiln__cl_tensor(n->src[1], &mb, &ob);
    kiln__cl_tensor(n, &my, &oy);
    bool same = kiln__shape_eq(&n->src[0]->shape, &n->shape) &&
                kiln__shape_eq(&n->src[1]->shape, &n->shape);
    if (same) {
        struct kiln__cl_arg a[] = {KILN__CL_ARG(ma),   KILN__CL_ARG(oa), KILN__CL_ARG(mb),
                                   KILN__CL_ARG(ob),   KILN__CL_ARG(my), KILN__CL_ARG(oy),
                                   KILN__CL_ARG(count)};
        return kiln__cl_launch(be, KILN__CL_BINARY, binary_name(n->op, 1), n->n_elems, 0,
                               KILN__CL_N(a), a);
    }
    struct kiln__iter it;
    if (kiln__gpu_iter_bcast(n, &it) > 4) {
        cl_long8 dd = long8_of(it.dims), ssa = long8_of(it.strides[1]);
        cl_long8 ssb = long8_of(it.strides[2]);
        struct kiln__cl_arg a[] = {KILN__CL_ARG(ma),    KILN__CL_ARG(oa), KILN__CL_ARG(mb),
                                   KILN__CL_ARG(ob),    KILN__CL_ARG(my), KILN__CL_ARG(oy),
                                   KILN__CL_ARG(count), KILN__CL_ARG(dd), KILN__CL_ARG(ssa),
                                   KILN__CL_ARG(ssb)};
        return kiln__cl_launch(be, KILN__CL_BINARY, binary_name(n->op, 2), n->n_elems, 0,
                               KILN__CL_N(a), a);
    }
    cl_long4 dd = long4_of(it.dims), ssa = long4_of(it.strides[1]), ssb = long4_of(it.strides[2]);
    struct kiln__cl_arg a[] = {KILN__CL_ARG(ma),    KILN__CL_ARG(oa), KILN__CL_ARG(mb),
                               KILN__CL_ARG(ob),    KILN__CL_ARG(my), KILN__CL_ARG(oy),
                               KILN__CL_ARG(count), KILN__CL_ARG(dd), KILN__CL_ARG(ssa),
                               KILN__CL_ARG(ssb)};
    return kiln__cl_launch(be, KILN__CL_BINARY, binary_name(n->op, 0), n->n_elems, 0, KILN__CL_N(a),
                           a);
}

/* ==== MATMUL_BIAS, MATMUL_RELU_BWD, MATMUL_DB ==== */

/* One launch of kiln's own product with the bias (and ReLU) for small products; else
 * CLBlast's product, then the add (or add_relu) kernel in place with the bias as a row
 * broadcast along the output's rows. */
static kiln_status cl_matmul_bias(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__p_matmul_bias *p = kiln__params(n);
    if (kiln__cl_gemm_own(be, n)) {
        return kiln__cl_gemm_small(be, n, p->relu ? 2 : 1);
    }
    KILN_TRY(kiln__cl_matmul(be, n));
    if (n->n_elems == 0) {
        return KILN_OK;
    }
    cl_mem mb, my;
    cl_ulong ob, oy, count = (cl_ulong)n->n_elems;
    kiln__cl_tensor(n->src[2], &mb, &ob);
    kiln__cl_tensor(n, &my, &oy);
    cl_long cols = (cl_long)n->shape.dims[n->shape.rank - 1];
    cl_long4 dd = {{1, 1, (cl_long)n->n_elems / cols, cols}};
    cl_long4 ssa = {{0, 0, cols, 1}}, ssb = {{0, 0, 0, 1}};
    struct kiln__cl_arg a[] = {KILN__CL_ARG(my),    KILN__CL_ARG(oy), KILN__CL_ARG(mb),
                               KILN__CL_ARG(ob),    KILN__CL_ARG(my), KILN__CL_ARG(oy),
                               KILN__CL_ARG(count), KILN__CL_ARG(dd), KILN__CL_ARG(ssa),
                               KILN__CL_ARG(ssb)};
    return kiln__cl_launch(be, KILN__CL_BINARY, p->relu ? "add_relu" : "add", n->n_elems, 0,
                           KILN__CL_N(a), a);
}

/* Kiln's own product with the mask (small products), or CLBlast's product, then the
 * relu_bwd kernel in place: out = y > 0 ? out : 0. */
static kiln_status cl_matmul_relu_bwd(struct kiln_backend *be, const struct kiln_tensor *n)
{
    if (kiln__cl_gemm_own(be, n)) {
        return kiln__cl_gemm_small(be, n, 3);
    }
    KILN_TRY(kiln__cl_matmul(be, n));
    if (n->n_elems == 0) {
        return KILN_OK;
    }
    cl_mem mx, my;
    cl_ulong ox, oy, count = (cl_ulong)n->n_elems;
    cl_float p0 = 0.0f;
    kiln__cl_tensor(n->src[2], &mx, &ox);
    kiln__cl_tensor(n, &my, &oy);
    struct kiln__cl_arg a[] = {KILN__CL_ARG(mx),    KILN__CL_ARG(ox), KILN__CL_ARG(my),
                               KILN__CL_ARG(oy),    KILN__CL_ARG(my), KILN__CL_ARG(oy),
                               KILN__CL_ARG(count), KILN__CL_ARG(p0)};
    return kiln__cl_launch(be, KILN__CL_UNARY, "relu_bwd", n->n_elems, 0, KILN__CL_N(a), a);
}

/* MATMUL_DB's product with the sums of a's columns in the same launch on kiln's own
 * kernel; where CLBlast runs the product (large ones), its product, then the sums
 * (col_sums), the two launches of the parts. */
static bool cl_matmul_db_supports(const struct kiln_backend *be, const struct kiln_tensor *n)
{
    return n->n_elems == 0 || kiln__cl_matmul_supports(be, n);
}

static kiln_status cl_matmul_db(struct kiln_backend *be, const struct kiln_tensor *n)
{
    bool own = kiln__cl_gemm_own(be, n);
    if (own && n->n_elems > 0) {
        return kiln__cl_gemm_small(be, n, 4);
    }
    if (!own) {
        KILN_TRY(kiln__cl_matmul(be, n));
    }
    cl_mem ma, md;
    cl_ulong oa, od;
    kiln__cl_tensor(n->src[0], &ma, &oa);
    kiln__cl_tensor(n->src[2], &md, &od);
    cl_uint m = (cl_uint)n->src[0]->shape.dims[1], k = (cl_uint)n->src[0]->shape.dims[0];
    if (m == 0) {
        return KILN_OK;
    }
    struct kiln__cl_arg a[] = {KILN__CL_ARG(ma), KILN__CL_ARG(oa), KILN__CL_ARG(md),
                               KILN__CL_ARG(od), KILN__CL_ARG(m),  KILN__CL_ARG(k)};
    return kiln__cl_launch(be, KILN__CL_GEMM, "col_sums", (size_t)m, 0, KILN__CL_N(a), a);
}

/* ==== Unary ==== */

static const char *unary_name(int op)
{
    switch (op) {
    case KILN_OP_SCALE_SHIFT:
        return "scale_shift";
    case KILN_OP_RELU:
        return "relu";
    case KILN_OP_LEAKY_RELU:
        return "leaky_relu";
    case KILN_OP_SIGMOID:
        return "sigmoid";
    case KILN_OP_TANH:
        return "tanh_";
    case KILN_OP_GELU:
        return "gelu";
    case KILN_OP_EXP:
        return "exp_";
    case KILN_OP_LOG:
        return "log_";
    case KILN_OP_SQRT:
        return "sqrt_";
    case KILN_OP_RELU_BWD:
        return "relu_bwd";
    case KILN_OP_LEAKY_RELU_BWD:
        return "leaky_relu_bwd";
    case KILN_OP_SIGMOID_BWD:
        return "sigmoid_bwd";
    case KILN_OP_TANH_BWD:
        return "tanh_bwd";
    default:
        return "gelu_bwd";
    }
}

static kiln_status cl_unary(struct kiln_backend *be, const struct kiln_tensor *n)
{
    cl_mem mx, my;
    cl_ulong ox, oy, count = (cl_ulong)n->n_elems;
    cl_float p0 = 0.0f, p1 = 0.0f;
    if (n->op == KILN_OP_SCALE_SHIFT) {
        const struct kiln__p_scale_shift *p = kiln__params(n);
        p0 = p->scale;
        p1 = p->shift;
    } else if (n->op == KILN_OP_LEAKY_RELU || n->op == KILN_OP_LEAKY_RELU_BWD) {
        p0 = ((const struct kiln__p_alpha *)kiln__params(n))->alpha;
    }
    kiln__cl_tensor(n->src[0], &mx, &ox);
    kiln__cl_tensor(n, &my, &oy);
    if (n->n_src == 1) {
        struct kiln__cl_arg a[] = {KILN__CL_ARG(mx), KILN__CL_ARG(ox),    KILN__CL_ARG(my),
                                   KILN__CL_ARG(oy), KILN__CL_ARG(count), KILN__CL_ARG(p0),
                                   KILN__CL_ARG(p1)};
        return kiln__cl_launch(be, KILN__CL_UNARY, unary_name(n->op), n->n_elems, 0, KILN__CL_N(a),
                               a);
    }
    cl_mem mg;
    cl_ulong og;
    kiln__cl_tensor(n->src[1], &mg, &og);
    struct kiln__cl_arg a[] = {KILN__CL_ARG(mx),    KILN__CL_ARG(ox), KILN__CL_ARG(mg),
                               KILN__CL_ARG(og),    KILN__CL_ARG(my), KILN__CL_ARG(oy),
                               KILN__CL_ARG(count), KILN__CL_ARG(p0)};
    return kiln__cl_launch(be, KILN__CL_UNARY, unary_name(n->op), n->n_elems, 0, KILN__CL_N(a), a);
}

/* ==== Shape ==== */

static kiln_status cl_transpose(struct kiln_backend *be, const struct kiln_tensor *n)
{
    struct kiln__iter it;
    int32_t r = kiln__gpu_iter_transpose(n, &it);
    cl_mem mx, my;
    cl_ulong ox, oy, count = (cl_ulong)n->n_elems;
    kiln__cl_tensor(n->src[0], &mx, &ox);
    kiln__cl_tensor(n, &my, &oy);
    if (r > 4) {
        cl_long8 d = long8_of(it.dims), t = long8_of(it.strides[1]);
        struct kiln__cl_arg a[] = {KILN__CL_ARG(mx), KILN__CL_ARG(ox),    KILN__CL_ARG(my),
                                   KILN__CL_ARG(oy), KILN__CL_ARG(count), KILN__CL_ARG(d),
                                   KILN__CL_ARG(t)};
        return kiln__cl_launch(be, KILN__CL_SHAPE, "transpose_nd", n->n_elems, 0, KILN__CL_N(a), a);
    }
    cl_long4 d = long4_of(it.dims), t = long4_of(it.strides[1]);
    struct kiln__cl_arg a[] = {KILN__CL_ARG(mx), KILN__CL_ARG(ox),    KILN__CL_ARG(my),
                               KILN__CL_ARG(oy), KILN__CL_ARG(count), KILN__CL_ARG(d),
                               KILN__CL_ARG(t)};
    return kiln__cl_launch(be, KILN__CL_SHAPE, "transpose", n->n_elems, 0, KILN__CL_N(a), a);
}

static kiln_status cl_broadcast(struct kiln_backend *be, const struct kiln_tensor *n)
{
    cl_float scale = ((const struct kiln__p_broadcast *)kiln__params(n))->scale;
    struct kiln__iter it;
    int32_t r = kiln__gpu_iter_bcast(n, &it);
    cl_mem mx, my;
    cl_ulong ox, oy, count = (cl_ulong)n->n_elems;
    kiln__cl_tensor(n->src[0], &mx, &ox);
    kiln__cl_tensor(n, &my, &oy);
    if (r > 4) {
        cl_long8 dd = long8_of(it.dims), ss = long8_of(it.strides[1]);
        struct kiln__cl_arg a[] = {KILN__CL_ARG(mx), KILN__CL_ARG(ox),    KILN__CL_ARG(my),
                                   KILN__CL_ARG(oy), KILN__CL_ARG(count), KILN__CL_ARG(dd),
                                   KILN__CL_ARG(ss), KILN__CL_ARG(scale)};
        return kiln__cl_launch(be, KILN__CL_REDUCE, "broadcast_nd", n->n_elems, 0, KILN__CL_N(a),
                               a);
    }
    cl_long4 dd = long4_of(it.dims), ss = long4_of(it.strides[1]);
    struct kiln__cl_arg a[] = {KILN__CL_ARG(mx), KILN__CL_ARG(ox),    KILN__CL_ARG(my),
                               KILN__CL_ARG(oy), KILN__CL_ARG(count), KILN__CL_ARG(dd),
                               KILN__CL_ARG(ss), KILN__CL_ARG(scale)};
    return kiln__cl_launch(be, KILN__CL_REDUCE, "broadcast", n->n_elems, 0, KILN__CL_N(a), a);
}

/* ==== Optimizers ==== */

static kiln_status cl_sgd(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__p_sgd *p = kiln__params(n);
    cl_mem mw, mg, mv;
    cl_ulong ow, og, ov, count = (cl_ulong)n->src[0]->n_elems;
    kiln__cl_tensor(n->src[0], &mw, &ow);
    kiln__cl_tensor(n->src[1], &mg, &og);
    kiln__cl_tensor(n->src[2], &mv, &ov);
    cl_float lr = p->lr, mom = p->momentum, damp = p->dampening, wd = p->weight_decay;
    cl_int nest = p->nesterov != 0, first = p->step <= 1, clear = p->clear_grad != 0;
    struct kiln__cl_arg a[] = {KILN__CL_ARG(mw),    KILN__CL_ARG(ow),   KILN__CL_ARG(mg),
                               KILN__CL_ARG(og),    KILN__CL_ARG(mv),   KILN__CL_ARG(ov),
                               KILN__CL_ARG(count), KILN__CL_ARG(lr),   KILN__CL_ARG(mom),
                               KILN__CL_ARG(damp),  KILN__CL_ARG(wd),   KILN__CL_ARG(nest),
                               KILN__CL_ARG(first), KILN__CL_ARG(clear)};
    return kiln__cl_launch(be, KILN__CL_OPTIM, "sgd_update", (size_t)count, 0, KILN__CL_N(a), a);
}

static kiln_status cl_adam(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__p_adam *p = kiln__params(n);
    cl_mem mw, mg, mm, mv;
    cl_ulong ow, og, om, ov, count = (cl_ulong)n->src[0]->n_elems;
    kiln__cl_tensor(n->src[0], &mw, &ow);
    kiln__cl_tensor(n->src[1], &mg, &og);
    kiln__cl_tensor(n->src[2], &mm, &om);
    kiln__cl_tensor(n->src[3], &mv, &ov);
    cl_float lr = p->lr, b1 = p->beta1, b2 = p->beta2, eps = p->eps, wd = p->weight_decay;
    cl_float bc1 = p->bc1, bc2 = p->bc2;
    cl_int dec = p->decoupled != 0, clear = p->clear_grad != 0;
    struct kiln__cl_arg a[] = {KILN__CL_ARG(mw),  KILN__CL_ARG(ow),  KILN__CL_ARG(mg),
                               KILN__CL_ARG(og),  KILN__CL_ARG(mm),  KILN__CL_ARG(om),
                               KILN__CL_ARG(mv),  KILN__CL_ARG(ov),  KILN__CL_ARG(count),
                               KILN__CL_ARG(lr),  KILN__CL_ARG(b1),  KILN__CL_ARG(b2),
                               KILN__CL_ARG(eps), KILN__CL_ARG(wd),  KILN__CL_ARG(dec),
                               KILN__CL_ARG(bc1), KILN__CL_ARG(bc2), KILN__CL_ARG(clear)};
    return kiln__cl_launch(be, KILN__CL_OPTIM, "adam_update", (size_t)count, 0, KILN__CL_N(a), a);
}

/* RMSprop and Adagrad: (param, grad, state) and three float params. */
static kiln_status cl_rms_ada(struct kiln_backend *be, const struct kiln_tensor *n)
{
    cl_mem mw, mg, ms;
    cl_ulong ow, og, os, count = (cl_ulong)n->src[0]->n_elems;
    kiln__cl_tensor(n->src[0], &mw, &ow);
    kiln__cl_tensor(n->src[1], &mg, &og);
    kiln__cl_tensor(n->src[2], &ms, &os);
    if (n->op == KILN_OP_RMSPROP_UPDATE) {
        const struct kiln__p_rmsprop *p = kiln__params(n);
        cl_float lr = p->lr, alpha = p->alpha, eps = p->eps, wd = p->weight_decay;
        struct kiln__cl_arg a[] = {KILN__CL_ARG(mw),    KILN__CL_ARG(ow), KILN__CL_ARG(mg),
                                   KILN__CL_ARG(og),    KILN__CL_ARG(ms), KILN__CL_ARG(os),
                                   KILN__CL_ARG(count), KILN__CL_ARG(lr), KILN__CL_ARG(alpha),
                                   KILN__CL_ARG(eps),   KILN__CL_ARG(wd)};
        return kiln__cl_launch(be, KILN__CL_OPTIM, "rmsprop_update", (size_t)count, 0,
                               KILN__CL_N(a), a);
    }
    const struct kiln__p_adagrad *p = kiln__params(n);
    cl_float lr = p->lr, eps = p->eps, wd = p->weight_decay;
    struct kiln__cl_arg a[] = {KILN__CL_ARG(mw),    KILN__CL_ARG(ow), KILN__CL_ARG(mg),
                               KILN__CL_ARG(og),    KILN__CL_ARG(ms), KILN__CL_ARG(os),
                               KILN__CL_ARG(count), KILN__CL_ARG(lr), KILN__CL_ARG(eps),
                               KILN__CL_ARG(wd)};
    return kiln__cl_launch(be, KILN__CL_OPTIM, "adagrad_update", (size_t)count, 0, KILN__CL_N(a),
                           a);
}

static kiln_status cl_accumulate(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__p_accum *p = kiln__params(n);
    cl_mem my, mx;
    cl_ulong oy, ox, count = (cl_ulong)n->src[0]->n_elems;
    kiln__cl_tensor(n->src[0], &my, &oy);
    kiln__cl_tensor(n->src[1], &mx, &ox);
    cl_float alpha = p->alpha, beta = p->beta;
    struct kiln__cl_arg a[] = {KILN__CL_ARG(my),  KILN__CL_ARG(oy),    KILN__CL_ARG(mx),
                               KILN__CL_ARG(ox),  KILN__CL_ARG(count), KILN__CL_ARG(alpha),
                               KILN__CL_ARG(beta)};
    if (count == 0) {
        return KILN_OK;
    }
    return kiln__cl_launch(be, KILN__CL_OPTIM, "accumulate", (size_t)count, 0, KILN__CL_N(a), a);
}

/* ==== The generic launcher (op_desc.h: KILN__OPF_GENERIC) ==== */

/* Buffers a generic kernel takes at most (as a Vulkan shader may bind). */
#define GENERIC_MAX_BUFS 8

static int64_t generic_items(const struct kiln_tensor *n)
{
    const struct kiln__op_desc *d = kiln__ops[n->op];
    return d->gpu_items != NULL ? d->gpu_items(n) : n->n_elems;
}

static bool cl_generic_supports(const struct kiln_backend *be, const struct kiln_tensor *n)
{
    enum kiln__cl_prog prog;
    (void)be;
    if (kiln__cl_family_prog(kiln__op_family(n->op), &prog) != KILN_OK) {
        return false;
    }
    if (n->n_src + 1 > GENERIC_MAX_BUFS || generic_items(n) >= ((int64_t)1 << 32)) {
        KILN_FAIL(KILN_E_UNSUPPORTED, "node '%s' (op %s): more than %d buffers or 2^32 items",
                  n->name, kiln__op_name(n->op), GENERIC_MAX_BUFS);
        return false;
    }
    return true;
}

/* Kernel <op name> of the family's program: (buffer, element offset) for each source
 * in order, then for the output (none when in place), the header, the params struct. */
static kiln_status cl_generic(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct kiln__op_desc *d = kiln__ops[n->op];
    cl_mem mem[GENERIC_MAX_BUFS];
    cl_ulong off[GENERIC_MAX_BUFS];
    struct kiln__cl_arg a[2 * GENERIC_MAX_BUFS + 2];
    enum kiln__cl_prog prog;
    int64_t items = generic_items(n);
    uint64_t run = n->graph->run_count;
    if (items == 0) {
        return KILN_OK;
    }
    KILN_TRY(kiln__cl_family_prog(kiln__op_family(n->op), &prog));
    int nb = n->n_src, k = 0;
    for (int i = 0; i < nb; i++) {
        kiln__cl_tensor(n->src[i], &mem[i], &off[i]);
    }
    if (!(d->flags & KILN__OPF_INPLACE)) {
        kiln__cl_tensor(n, &mem[nb], &off[nb]);
        nb++;
    }
    for (int i = 0; i < nb; i++) {
        a[k++] = (struct kiln__cl_arg)KILN__CL_ARG(mem[i]);
        a[k++] = (struct kiln__cl_arg)KILN__CL_ARG(off[i]);
    }
    struct kiln__gen_hdr h = {(uint32_t)items, (uint32_t)(n->graph->training != 0), (uint32_t)run,
                              (uint32_t)(run >> 32)};
    a[k++] = (struct kiln__cl_arg)KILN__CL_ARG(h);
    if (d->params_bytes > 0) {
        a[k++] = (struct kiln__cl_arg){d->params_bytes, n->params};
    }
    return kiln__cl_launch(be, prog, d->name, (size_t)items, 0, (cl_uint)k, a);
}

const struct kiln_kernel kiln__cl_generic = {cl_generic, cl_generic_supports, NULL};

/* ==== The table ==== */

const struct kiln_kernel kiln__cl_kernels[KILN_OP_COUNT] = {
    [KILN_OP_ADD] = {cl_binary, NULL},
    [KILN_OP_SUB] = {cl_binary, NULL},
    [KILN_OP_MUL] = {cl_binary, NULL},
    [KILN_OP_DIV] = {cl_binary, NULL},
    [KILN_OP_ADD_RELU] = {cl_binary, NULL},
    [KILN_OP_SCALE_SHIFT] = {cl_unary, NULL},
    [KILN_OP_RELU] = {cl_unary, NULL},
    [KILN_OP_LEAKY_RELU] = {cl_unary, NULL},
    [KILN_OP_SIGMOID] = {cl_unary, NULL},
    [KILN_OP_TANH] = {cl_unary, NULL},
    [KILN_OP_GELU] = {cl_unary, NULL},
    [KILN_OP_EXP] = {cl_unary, NULL},
    [KILN_OP_LOG] = {cl_unary, NULL},
    [KILN_OP_SQRT] = {cl_unary, NULL},
    [KILN_OP_RELU_BWD] = {cl_unary, NULL},
    [KILN_OP_LEAKY_RELU_BWD] = {cl_unary, NULL},
    [KILN_OP_SIGMOID_BWD] = {cl_unary, NULL},
    [KILN_OP_TANH_BWD] = {cl_unary, NULL},
    [KILN_OP_GELU_BWD] = {cl_unary, NULL},
    [KILN_OP_MATMUL] = {kiln__cl_matmul, kiln__cl_matmul_supports},
    [KILN_OP_MATMUL_BIAS] = {cl_matmul_bias, kiln__cl_matmul_supports},
    [KILN_OP_MATMUL_RELU_BWD] = {cl_matmul_relu_bwd, kiln__cl_matmul_supports},
    [KILN_OP_MATMUL_DB] = {cl_matmul_db, cl_matmul_db_supports},
    [KILN_OP_RESHAPE] = {NULL, NULL}, /* a view: the executor runs no kernel */
    [KILN_OP_TRANSPOSE] = {cl_transpose, NULL},
    [KILN_OP_REDUCE_SUM] = {kiln__cl_reduce_sum, NULL},
    [KILN_OP_BROADCAST] = {cl_broadcast, NULL},
    [KILN_OP_ARGMAX] = {kiln__cl_argmax, NULL},
    [KILN_OP_SOFTMAX] = {kiln__cl_softmax, NULL},
    [KILN_OP_LOG_SOFTMAX] = {kiln__cl_softmax, NULL},
    [KILN_OP_SOFTMAX_BWD] = {kiln__cl_softmax_bwd, NULL},
    [KILN_OP_LOG_SOFTMAX_BWD] = {kiln__cl_softmax_bwd, NULL},
    [KILN_OP_MSE] = {kiln__cl_loss, NULL},
    [KILN_OP_MSE_BWD] = {kiln__cl_loss_bwd, NULL},
    [KILN_OP_SOFTMAX_XENT] = {kiln__cl_loss, NULL},
    [KILN_OP_SOFTMAX_XENT_BWD] = {kiln__cl_loss_bwd, NULL},
    [KILN_OP_SOFTMAX_XENT_FUSED] = {kiln__cl_loss_bwd, NULL},
    [KILN_OP_BCE_LOGITS] = {kiln__cl_loss, NULL},
    [KILN_OP_BCE_LOGITS_BWD] = {kiln__cl_loss_bwd, NULL},
    [KILN_OP_HINGE] = {kiln__cl_loss, NULL},
    [KILN_OP_HINGE_BWD] = {kiln__cl_loss_bwd, NULL},
    [KILN_OP_SGD_UPDATE] = {cl_sgd, NULL},
    [KILN_OP_ADAM_UPDATE] = {cl_adam, NULL},
    [KILN_OP_RMSPROP_UPDATE] = {cl_rms_ada, NULL},
    [KILN_OP_ADAGRAD_UPDATE] = {cl_rms_ada, NULL},
    [KILN_OP_ACCUMULATE] = {cl_accumulate, NULL},
    [KILN_OP_CONV2D] = {kiln__cl_conv, NULL},
    [KILN_OP_CONV2D_BWD_DATA] = {kiln__cl_conv, NULL},
    [KILN_OP_CONV2D_BWD_FILTER] = {kiln__cl_conv, NULL},
    [KILN_OP_CONV2D_BIAS] = {kiln__cl_conv, NULL, kiln__cl_conv_one_launch},
    [KILN_OP_MAXPOOL2D] = {kiln__cl_pool, NULL},
    [KILN_OP_MAXPOOL2D_BWD] = {kiln__cl_pool, NULL},
    [KILN_OP_MAXPOOL2D_RELU_BWD] = {kiln__cl_pool, NULL},
    [KILN_OP_AVGPOOL2D] = {kiln__cl_pool, NULL},
    [KILN_OP_AVGPOOL2D_BWD] = {kiln__cl_pool, NULL},
    [KILN_OP_UPSAMPLE_NEAREST] = {kiln__cl_upsample, NULL},
    [KILN_OP_UPSAMPLE_NEAREST_BWD] = {kiln__cl_upsample, NULL},
    [KILN_OP_CONCAT] = {kiln__cl_concat, NULL},
    [KILN_OP_SLICE] = {kiln__cl_slice_pad, NULL},
    [KILN_OP_PAD] = {kiln__cl_slice_pad, NULL},
    [KILN_OP_DROPOUT] = {kiln__cl_dropout, NULL},
    [KILN_OP_BN_STATS] = {kiln__cl_bn, NULL},
    [KILN_OP_BN_STATS_BWD] = {kiln__cl_bn, NULL},
    [KILN_OP_BN_APPLY] = {kiln__cl_bn, NULL},
    [KILN_OP_BN_APPLY_BWD] = {kiln__cl_bn, NULL},
    [KILN_OP_BN_APPLY_BWD_PARAMS] = {kiln__cl_bn, NULL},
    [KILN_OP_BN_RUNNING_UPDATE] = {kiln__cl_bn, NULL},
    [KILN_OP_LRN] = {kiln__cl_lrn, NULL},
    [KILN_OP_LRN_BWD] = {kiln__cl_lrn, NULL},
    [KILN_OP_RNN_SEQ] = {kiln__cl_rnn, kiln__cl_rnn_supports},
    [KILN_OP_RNN_SEQ_BWD] = {kiln__cl_rnn, kiln__cl_rnn_supports},
};
