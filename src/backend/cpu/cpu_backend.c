/*
 * cpu_backend.c - the CPU backend: buffers are host memory from the context's
 * allocator, transfers are memcpy, and every op's kernel is its CPU reference
 * (OpenMP loops; OpenBLAS for matrix products). It is the definition the GPU backends
 * are checked against, and the fallback of "auto" when no GPU is found.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../../graph/graph_impl.h"

struct kiln_buffer {
    size_t n_bytes;
    unsigned char *data;
};

static kiln_status cpu_init(struct kiln_backend *be, const char *device)
{
    if (device != NULL && strcmp(device, "0") != 0 && strstr("cpu", device) == NULL) {
        return KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE,
                         "cpu backend: no device '%s'; the only device is 0 ('cpu')", device);
    }
    snprintf(be->device_name, sizeof(be->device_name), "cpu");
    be->alignment = 64;
    be->view_alignment = 4;
    return KILN_OK;
}

static void cpu_fini(struct kiln_backend *be)
{
    (void)be;
}

static kiln_status cpu_devices(struct kiln_device_info *out, int32_t max, int32_t *n_out)
{
    *n_out = 1;
    if (max < 1) {
        return KILN_OK;
    }
    memset(out, 0, sizeof(*out));
    out->index = 0;
    snprintf(out->name, sizeof(out->name), "cpu");
    snprintf(out->type, sizeof(out->type), "cpu");
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    snprintf(out->details, sizeof(out->details),
             "online processors: %ld\nOpenMP threads: %d\nmatrix products: OpenBLAS (cblas)",
             sysconf(_SC_NPROCESSORS_ONLN), threads);
    return KILN_OK;
}

static kiln_status cpu_buffer_alloc(struct kiln_backend *be, size_t n_bytes,
                                    struct kiln_buffer **out)
{
    struct kiln_context *ctx = be->ctx;
    struct kiln_buffer *b = kiln__alloc(ctx, sizeof(*b), "a cpu buffer");
    if (b == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    b->n_bytes = n_bytes;
    b->data = kiln__calloc(ctx, n_bytes, "a cpu buffer");
    if (b->data == NULL) {
        kiln__free(ctx, b);
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    *out = b;
    return KILN_OK;
}

static void cpu_buffer_free(struct kiln_backend *be, struct kiln_buffer *buf)
{
    if (buf != NULL) {
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

static kiln_status cpu_run(struct kiln_backend *be, const struct kiln_tensor *n)
{
    (void)be;
    struct kiln__op_args a;
    void *in[KILN__MAX_SRC];
    const struct kiln__op_desc *d = kiln__ops[n->op];
    a.node = n;
    a.out = (d->flags & KILN__OPF_INPLACE) ? NULL : data_of(n);
    for (int i = 0; i < n->n_src; i++) {
        in[i] = data_of(n->src[i]);
    }
    a.in = in;
    return d->cpu_ref(&a);
}

static const struct kiln_kernel cpu_kernels[KILN_OP_COUNT] = {
#define KILN_OP(name, family, n_in) [KILN_OP_##name] = {cpu_run, NULL},
#include "../../ops/op_list.h"
#undef KILN_OP
};

const struct kiln_backend_ops kiln__cpu_backend = {
    .abi = KILN__BACKEND_ABI,
    .name = "cpu",
    .is_reference = true,
    .init = cpu_init,
    .fini = cpu_fini,
    .devices = cpu_devices,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .kernels = cpu_kernels,
};
