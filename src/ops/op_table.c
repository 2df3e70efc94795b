/*
 * op_table.c - the descriptor table built from op_list.h, op names, the shared
 * tolerances with their reasons, and the broadcasting helpers every backend uses.
 */
#include <math.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "op_desc.h"

#define KILN_OP(name, family, n_in) extern const struct kiln__op_desc kiln__desc_##name;
#include "op_list.h"
#undef KILN_OP

const struct kiln__op_desc *const kiln__ops[KILN_OP_COUNT] = {
#define KILN_OP(name, family, n_in) [KILN_OP_##name] = &kiln__desc_##name,
#include "op_list.h"
#undef KILN_OP
};

const char *kiln__op_name(int op)
{
    if (op >= 0 && op < KILN_OP_COUNT) {
        return kiln__ops[op]->name;
    }
    return "leaf";
}

static const char *const families[KILN_OP_COUNT] = {
#define KILN_OP(name, family, n_in) [KILN_OP_##name] = #family,
#include "op_list.h"
#undef KILN_OP
};

const char *kiln__op_family(int op)
{
    return op >= 0 && op < KILN_OP_COUNT ? families[op] : "leaf";
}

/* The parameter structs of op_list.h rows are what the generic kernels get whole. */
#define KILN_OP(name, family, n_in)
#define KILN_OP_P(name, family, n_in, tag, fields)                                                 \
    _Static_assert(sizeof(struct kiln__p_##tag) <= KILN__GEN_PARAMS_MAX,                           \
                   "the parameters of " #name " do not fit a push-constant block");                \
    _Static_assert(sizeof(struct kiln__p_##tag) % 4 == 0, #name ": parameters of 4-byte fields");
#include "op_list.h"
#undef KILN_OP_P
#undef KILN_OP

/* Ops that move or select values (relu, transpose, argmax, add of two floats) are
 * correctly rounded on every conforming device, so any difference is a bug. */
const struct kiln__tol kiln__tol_exact = {0.0, 0.0, 0.0};

/* Transcendental elementwise ops: GLSL guarantees exp/log within 3 + 2|x| ULP and
 * division within 2.5 ULP, OpenCL within 3-4 ULP (PORTABILITY.md 4.3). rel 1e-5 of
 * |a| + |b| allows about 80 ULP; abs 1e-6 covers results that cancel near zero
 * (tanh(x) = (1 - t) / (1 + t) for small x). */
const struct kiln__tol kiln__tol_elementwise = {1e-10, 1e-6, 1e-5};

/* Sums (matmul, reductions, softmax, losses) may add in another order on each backend;
 * the error of a float sum of K terms grows like sqrt(K) eps |terms|. NMSE 1e-7 is the
 * ggml default for f32; elementwise bounds catch one bad element in a good average. */
const struct kiln__tol kiln__tol_reduction = {1e-7, 1e-4, 1e-3};

void kiln__dims_nd(const struct kiln_shape *s, int64_t out[KILN_MAX_DIMS])
{
    int32_t lead = KILN_MAX_DIMS - s->rank;
    for (int i = 0; i < KILN_MAX_DIMS; i++) {
        out[i] = i < lead ? 1 : s->dims[i - lead];
    }
}

void kiln__strides_nd(const struct kiln_shape *s, int64_t out[KILN_MAX_DIMS])
{
    int64_t d[KILN_MAX_DIMS];
    kiln__dims_nd(s, d);
    out[KILN_MAX_DIMS - 1] = 1;
    for (int i = KILN_MAX_DIMS - 2; i >= 0; i--) {
        out[i] = out[i + 1] * d[i + 1];
    }
}

void kiln__bcast_strides_nd(const struct kiln_shape *out, const struct kiln_shape *src,
                            int64_t strides[KILN_MAX_DIMS])
{
    int64_t od[KILN_MAX_DIMS], sd[KILN_MAX_DIMS], ss[KILN_MAX_DIMS];
    kiln__dims_nd(out, od);
    kiln__dims_nd(src, sd);
    kiln__strides_nd(src, ss);
    for (int k = 0; k < KILN_MAX_DIMS; k++) {
        strides[k] = (sd[k] == 1 && od[k] != 1) ? 0 : ss[k];
    }
}

void kiln__iter_merge(struct kiln__iter *it, int n_ops)
{
    int32_t r = 0;
    for (int32_t i = 0; i < it->rank; i++) {
        if (it->dims[i] == 1) {
            continue;
        }
        bool merge = r > 0;
        for (int k = 0; merge && k < n_ops; k++) {
            merge = it->strides[k][r - 1] == it->strides[k][i] * it->dims[i];
        }
        if (merge) {
            it->dims[r - 1] *= it->dims[i];
            for (int k = 0; k < n_ops; k++) {
                it->strides[k][r - 1] = it->strides[k][i];
            }
            continue;
        }
        it->dims[r] = it->dims[i];
        for (int k = 0; k < n_ops; k++) {
            it->strides[k][r] = it->strides[k][i];
        }
        r++;
    }
    if (r == 0) {
        r = 1;
        it->dims[0] = 1;
        for (int k = 0; k < n_ops; k++) {
            it->strides[k][0] = 0;
        }
    }
    it->rank = r;
}

void kiln__iter_bcast(const struct kiln_shape *out, int n_ops, const struct kiln_shape *const *ops,
                      struct kiln__iter *it)
{
    KILN_ASSERT(n_ops >= 1 && n_ops <= KILN__ITER_OPS);
    it->rank = KILN_MAX_DIMS;
    kiln__dims_nd(out, it->dims);
    for (int k = 0; k < n_ops; k++) {
        if (ops[k] == NULL) {
            kiln__strides_nd(out, it->strides[k]);
        } else {
            kiln__bcast_strides_nd(out, ops[k], it->strides[k]);
        }
    }
    kiln__iter_merge(it, n_ops);
}

void kiln__iter_pad(struct kiln__iter *it, int n_ops, int32_t r)
{
    KILN_ASSERT(r >= it->rank && r <= KILN_MAX_DIMS);
    int32_t lead = r - it->rank;
    for (int32_t i = r - 1; i >= 0; i--) {
        bool pad = i < lead;
        it->dims[i] = pad ? 1 : it->dims[i - lead];
        for (int k = 0; k < n_ops; k++) {
            it->strides[k][i] = pad ? 0 : it->strides[k][i - lead];
        }
    }
    it->rank = r;
}

void kiln__dims4(const struct kiln_shape *s, int64_t out[4])
{
    KILN_ASSERT(s->rank <= 4);
    int32_t lead = 4 - s->rank;
    for (int i = 0; i < 4; i++) {
        out[i] = i < lead ? 1 : s->dims[i - lead];
    }
}

void kiln__strides4(const struct kiln_shape *s, int64_t out[4])
{
    int64_t d[4];
    kiln__dims4(s, d);
    out[3] = 1;
    for (int i = 2; i >= 0; i--) {
        out[i] = out[i + 1] * d[i + 1];
    }
}

void kiln__bcast_strides(const struct kiln_tensor *n, int i, int64_t strides[4])
{
    int64_t od[4], sd[4], ss[4];
    const struct kiln_shape *s = &n->src[i]->shape;
    kiln__dims4(&n->shape, od);
    kiln__dims4(s, sd);
    kiln__strides4(s, ss);
    for (int k = 0; k < 4; k++) {
        strides[k] = (sd[k] == 1 && od[k] != 1) ? 0 : ss[k];
    }
}

/* ==== Shapes for the GPU kernels: 4 dims, else 8 ==== */

/* The padded rank for a merged rank r. */
static int32_t gpu_rank(int32_t r)
{
    return r <= 4 ? 4 : KILN_MAX_DIMS;
}

int32_t kiln__gpu_iter_bcast(const struct kiln_tensor *n, struct kiln__iter *it)
{
    const struct kiln_shape *ops[KILN__ITER_OPS] = {NULL};
    int n_ops = 1 + n->n_src;
    KILN_ASSERT(n_ops <= KILN__ITER_OPS);
    for (int i = 0; i < n->n_src; i++) {
        ops[1 + i] = &n->src[i]->shape;
    }
    kiln__iter_bcast(&n->shape, n_ops, ops, it);
    int32_t r = gpu_rank(it->rank);
    kiln__iter_pad(it, n_ops, r);
    return r;
}

int32_t kiln__gpu_iter_transpose(const struct kiln_tensor *n, struct kiln__iter *it)
{
    const int32_t *perm = ((const int32_t *)(const void *)n->params);
    const struct kiln_shape *s = &n->src[0]->shape;
    int32_t lead = KILN_MAX_DIMS - s->rank;
    int64_t in_str[KILN_MAX_DIMS];
    kiln__strides_nd(s, in_str);
    it->rank = KILN_MAX_DIMS;
    kiln__dims_nd(&n->shape, it->dims);
    kiln__strides_nd(&n->shape, it->strides[0]);
    for (int32_t i = 0; i < KILN_MAX_DIMS; i++) {
        it->strides[1][i] = i < lead ? 0 : in_str[lead + perm[i - lead]];
    }
    kiln__iter_merge(it, 2);
    int32_t r = gpu_rank(it->rank);
    kiln__iter_pad(it, 2, r);
    return r;
}

/* Pads the first m of each of n_arr arrays (dims) to exactly r entries with leading
 * ones (fill[k] for array k). */
static void pad_front(int64_t *const *arr, const int64_t *fill, int n_arr, int32_t m, int32_t r)
{
    for (int a = 0; a < n_arr; a++) {
        for (int32_t k = r - 1; k >= 0; k--) {
            arr[a][k] = k < r - m ? fill[a] : arr[a][k - (r - m)];
        }
    }
}

/* Row-major strides of dims d (r of them). */
static void strides_of(const int64_t *d, int32_t r, int64_t *s)
{
    s[r - 1] = 1;
    for (int32_t k = r - 2; k >= 0; k--) {
        s[k] = s[k + 1] * d[k + 1];
    }
}

int32_t kiln__gpu_reduce(const struct kiln_tensor *n, int64_t id[KILN_MAX_DIMS],
                         int64_t od[KILN_MAX_DIMS], int64_t is[KILN_MAX_DIMS])
{
    int64_t i8[KILN_MAX_DIMS], o8[KILN_MAX_DIMS];
    kiln__dims_nd(&n->src[0]->shape, i8);
    kiln__dims_nd(&n->shape, o8);
    int32_t m = 0;
    bool prev_red = false;
    for (int k = 0; k < KILN_MAX_DIMS; k++) {
        if (i8[k] == 1) {
            continue;
        }
        bool red = o8[k] == 1;
        if (m > 0 && red == prev_red) {
            id[m - 1] *= i8[k];
            od[m - 1] *= o8[k];
        } else {
            id[m] = i8[k];
            od[m] = o8[k];
            m++;
        }
        prev_red = red;
    }
    int32_t r = gpu_rank(m);
    int64_t *arr[2] = {id, od};
    const int64_t fill[2] = {1, 1};
    pad_front(arr, fill, 2, m, r);
    strides_of(id, r, is);
    return r;
}

int32_t kiln__gpu_box(const struct kiln_tensor *n, int64_t od[KILN_MAX_DIMS],
                      int64_t id[KILN_MAX_DIMS], int64_t is[KILN_MAX_DIMS],
                      int64_t offs[KILN_MAX_DIMS])
{
    int64_t o8[KILN_MAX_DIMS], i8[KILN_MAX_DIMS], f8[KILN_MAX_DIMS] = {0};
    kiln__dims_nd(&n->shape, o8);
    kiln__dims_nd(&n->src[0]->shape, i8);
    int32_t rank = n->shape.rank, lead = KILN_MAX_DIMS - rank;
    for (int32_t k = 0; k < rank; k++) {
        f8[lead + k] = n->op == KILN_OP_SLICE
                           ? ((const struct kiln__p_slice *)kiln__params(n))->begin[k]
                           : ((const struct kiln__p_pad *)kiln__params(n))->before[k];
    }
    /* A dim the box spans whole (same extent, offset 0) merges into the dim before it. */
    int32_t m = 0;
    for (int k = 0; k < KILN_MAX_DIMS; k++) {
        if (i8[k] == 1 && o8[k] == 1) {
            continue;
        }
        if (m > 0 && i8[k] == o8[k] && f8[k] == 0) {
            od[m - 1] *= o8[k];
            id[m - 1] *= i8[k];
            offs[m - 1] *= i8[k];
            continue;
        }
        od[m] = o8[k];
        id[m] = i8[k];
        offs[m] = f8[k];
        m++;
    }
    int32_t r = gpu_rank(m);
    int64_t *arr[3] = {od, id, offs};
    const int64_t fill[3] = {1, 1, 0};
    pad_front(arr, fill, 3, m, r);
    strides_of(id, r, is);
    return r;
}
