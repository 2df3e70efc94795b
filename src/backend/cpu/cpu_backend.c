/*
 * cpu_backend.c - the CPU backend: buffers are host memory from the context's
 * allocator, transfers are memcpy, and ops run their CPU reference kernels (OpenMP
 * loops; OpenBLAS for matrix products), except those with a fast kernel (cpu_impl.h:
 * convolutions, mid-sized matrix products, pooling, ReLU, bias additions and sums,
 * batch normalization, SGD updates, and the fused ops ADD_RELU, MAXPOOL2D_RELU_BWD and
 * CONV2D_BIAS that the planner forms for them) where it accepts the node. It has two
 * devices: 0 "cpu", with the fast kernels, and 1 "cpu-reference", which runs
 * every op's reference kernel: the definition the other backends and the fast kernels
 * are checked against (tests/test_ops.c), and the fallback of "auto" when no GPU is
 * found.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../../context_impl.h"
#include "cpu_impl.h"

/* The devices: index 1 runs references only. */
static const char *const cpu_device_names[2] = {"cpu", "cpu-reference"};

struct cpu_state {
    int reference; /* 1: every op runs its reference kernel */
};

struct kiln_buffer {
    size_t n_bytes;
    unsigned char *data;
};

/* Whether s (case-insensitively) occurs in name. */
static int name_has(const char *name, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = name; *p != '\0'; p++) {
        size_t i = 0;
        while (i < n && p[i] != '\0' &&
               tolower((unsigned char)p[i]) == tolower((unsigned char)s[i])) {
            i++;
        }
        if (i == n) {
            return 1;
        }
    }
    return n == 0;
}

/* The device picked by an index or a name substring (the first match); -1 for none. */
static int pick_device(const char *device)
{
    if (device == NULL) {
        return 0;
    }
    char *end;
    long idx = strtol(device, &end, 10);
    if (end != device && *end == '\0') {
        return idx >= 0 && idx < 2 ? (int)idx : -1;
    }
    for (int i = 0; i < 2; i++) {
        if (name_has(cpu_device_names[i], device)) {
            return i;
        }
    }
    return -1;
}

static kiln_status cpu_init(struct kiln_backend *be, const char *device)
{
    int dev = pick_device(device);
    if (dev < 0) {
        return KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE,
                         "cpu backend: no device '%s'; the devices are 0 ('cpu', fast kernels) "
                         "and 1 ('cpu-reference', reference kernels only)",
                         device);
    }
    struct cpu_state *st = kiln__alloc(be->ctx, sizeof(*st), "the cpu backend's state");
    if (st == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    st->reference = dev == 1;
    be->impl = st;
    snprintf(be->device_name, sizeof(be->device_name), "%s", cpu_device_names[dev]);
    be->alignment = 64;
    be->view_alignment = 4;
    return KILN_OK;
}

static void cpu_fini(struct kiln_backend *be)
{
    kiln__free(be->ctx, be->impl);
    be->impl = NULL;
}

static kiln_status cpu_devices(struct kiln_device_info *out, int32_t max, int32_t *n_out)
{
    *n_out = 2;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    for (int32_t i = 0; i < 2 && i < max; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].index = i;
        snprintf(out[i].name, sizeof(out[i].name), "%s", cpu_device_names[i]);
        snprintf(out[i].type, sizeof(out[i].type), "cpu");
        snprintf(out[i].details, sizeof(out[i].details),
                 "online processors: %ld\nOpenMP threads: %d\nmatrix products: OpenBLAS "
                 "(cblas)\nkernels: %s",
                 sysconf(_SC_NPROCESSORS_ONLN), threads,
                 i == 0 ? "fast convolutions, pooling and elementwise ops; references elsewhere"
                        : "every op's reference (the definition the others are checked against)");
    }
    return KILN_OK;
}

static kiln_status cpu_buffer_alloc(struct kiln_backend *be, size_t n_bytes,
                                    struct kiln_buffer **out)
{
    struct kiln_context *ctx = be->ctx;
    KILN_TRY(kiln__fault_alloc(ctx, n_bytes));
    /* The buffers are the pool: each one is reserved and in use while it lives. */
    KILN_TRY(kiln__dev_reserve(ctx, n_bytes, "a cpu buffer"));
    struct kiln_buffer *b = kiln__alloc(ctx, sizeof(*b), "a cpu buffer");
    if (b == NULL) {
        kiln__dev_release(ctx, n_bytes);
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    b->n_bytes = n_bytes;
    b->data = kiln__calloc(ctx, n_bytes, "a cpu buffer");
    if (b->data == NULL) {
        kiln__free(ctx, b);
        kiln__dev_release(ctx, n_bytes);
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    kiln__dev_use(ctx, (int64_t)n_bytes);
    *out = b;
    return KILN_OK;
}

static void cpu_buffer_free(struct kiln_backend *be, struct kiln_buffer *buf)
{
    if (buf != NULL) {
        kiln__dev_use(be->ctx, -(int64_t)buf->n_bytes);
        kiln__dev_release(be->ctx, buf->n_bytes);
        kiln__free(be->ctx, buf->data);
        kiln__free(be->ctx, buf);
    }
}

static kiln_status cpu_upload(struct kiln_backend *be, struct kiln_buffer *dst, size_t off,
                              const void *src, size_t n_bytes)
{
    (void)be;
    KILN_ASSERT(off + n_bytes <= dst->n_bytes);
    memcpy(dst->data + off, src, n_bytes);
    return KILN_OK;
}

static void *cpu_host_ptr(struct kiln_backend *be, struct kiln_buffer *buf)
{
    (void)be;
    return buf->data;
}

static kiln_status cpu_download(struct kiln_backend *be, const struct kiln_buffer *src, size_t off,
                                void *dst, size_t n_bytes)
{
    (void)be;
    KILN_ASSERT(off + n_bytes <= src->n_bytes);
    memcpy(dst, src->data + off, n_bytes);
    return KILN_OK;
}

static void *data_of(const struct kiln_tensor *t)
{
    size_t off;
    struct kiln_buffer *b = kiln__tensor_buffer(t, &off);
    return b->data + off;
}

int kiln__cpu_max_threads(void)
{
#ifdef _OPENMP
    int t = omp_get_max_threads();
    return t < 1 ? 1 : t > KILN__CPU_MAX_THREADS ? KILN__CPU_MAX_THREADS : t;
#else
    return 1;
#endif
}

int kiln__cpu_thread(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* The fast kernels by op (cpu_impl.h); NULL: the reference runs. */
static const struct kiln__cpu_fast *const cpu_fast[KILN_OP_COUNT] = {
    [KILN_OP_CONV2D] = &kiln__cpu_conv2d,
    [KILN_OP_CONV2D_BIAS] = &kiln__cpu_conv2d_bias,
    [KILN_OP_CONV2D_BWD_DATA] = &kiln__cpu_conv2d_bwd_data,
    [KILN_OP_CONV2D_BWD_FILTER] = &kiln__cpu_conv2d_bwd_filter,
    [KILN_OP_RELU] = &kiln__cpu_relu,
    [KILN_OP_RELU_BWD] = &kiln__cpu_relu_bwd,
    [KILN_OP_ADD] = &kiln__cpu_add,
    [KILN_OP_ADD_RELU] = &kiln__cpu_add_relu,
    [KILN_OP_REDUCE_SUM] = &kiln__cpu_reduce_sum,
    [KILN_OP_BROADCAST] = &kiln__cpu_broadcast,
    [KILN_OP_MAXPOOL2D] = &kiln__cpu_maxpool2d,
    [KILN_OP_MAXPOOL2D_BWD] = &kiln__cpu_maxpool2d_bwd,
    [KILN_OP_MAXPOOL2D_RELU_BWD] = &kiln__cpu_maxpool2d_relu_bwd,
    [KILN_OP_MATMUL] = &kiln__cpu_matmul,
    [KILN_OP_SGD_UPDATE] = &kiln__cpu_sgd_update,
    [KILN_OP_ADAM_UPDATE] = &kiln__cpu_adam_update,
    [KILN_OP_BN_STATS] = &kiln__cpu_bn_stats,

    [KILN_OP_BN_STATS_BWD] = &kiln__cpu_bn_stats_bwd,
    [KILN_OP_BN_APPLY] = &kiln__cpu_bn_apply,
    [KILN_OP_BN_APPLY_BWD] = &kiln__cpu_bn_apply,
    [KILN_OP_BN_APPLY_BWD_PARAMS] = &kiln__cpu_bn_apply_bwd_params,
};

static kiln_status cpu_run(struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct cpu_state *st = be->impl;
    const struct kiln__cpu_fast *fast = cpu_fast[n->op];
    struct kiln__op_args a;
    void *in[KILN__MAX_SRC];
    const struct kiln__op_desc *d = kiln__ops[n->op];
    a.node = n;
    a.out = (d->flags & KILN__OPF_INPLACE) ? NULL : data_of(n);
    for (int i = 0; i < n->n_src; i++) {
        in[i] = data_of(n->src[i]);
    }
    a.in = in;
    if (!st->reference && fast != NULL && (fast->accepts == NULL || fast->accepts(n))) {
        return fast->run(be->ctx, &a);
    }
    return d->cpu_ref(&a);
}

/* The fusion pass runs on the fast device only: the reference device keeps every graph
 * as built, its nodes the references of the ops the graph was built from. */
static bool cpu_fuses(const struct kiln_backend *be)
{
    const struct cpu_state *st = be->impl;
    return !st->reference;
}

/* Whether node n (a fused op, when the planner asks) runs as one pass. A fused op with a
 * fast kernel (ADD_RELU, CONV2D_BIAS, ...) does where that kernel takes the node; where it
 * does not, the reference would run the parts one after the other, slower than the parts'
 * own fast kernels. One without (the fused loss) runs its reference, as its parts would:
 * nothing is lost. The products' fusions are not asked for (fuse_matmul is false): the
 * reference of MATMUL_DB would wake OpenBLAS's threads for products that the fast MATMUL
 * cuts into pieces. */
static bool cpu_one_launch(const struct kiln_backend *be, const struct kiln_tensor *n)
{
    const struct cpu_state *st = be->impl;
    const struct kiln__cpu_fast *fast = cpu_fast[n->op];
    return st->reference || fast == NULL || fast->accepts == NULL || fast->accepts(n);
}

static const struct kiln_kernel cpu_kernels[KILN_OP_COUNT] = {
#define KILN_OP(name, family, n_in) [KILN_OP_##name] = {cpu_run, NULL, cpu_one_launch},
#include "../../ops/op_list.h"
#undef KILN_OP
};

const struct kiln_backend_ops kiln__cpu_backend = {
    .abi = KILN__BACKEND_ABI,
    .name = "cpu",
    .is_reference = true,
    .host_timed = true,
    .init = cpu_init,
    .fini = cpu_fini,
    .devices = cpu_devices,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .host_ptr = cpu_host_ptr,
    .fuses = cpu_fuses,
    .kernels = cpu_kernels,
};
