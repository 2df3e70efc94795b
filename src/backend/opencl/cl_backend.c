/*
 * cl_backend.c - the opencl backend's vtable: context and queue creation on the device
 * picked by cl_device.c, the buffer pool (buffers carved out of large cl_mem chunks no
 * larger than CL_DEVICE_MAX_MEM_ALLOC_SIZE), explicit transfers, run bracketing (one
 * clFlush per run, no host waits until a download) and the mapping of cl_int codes to
 * kiln statuses. Kernels are in cl_kernels.c, cl_reduce.c and cl_gemm.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_impl.h"

/* Chunks are at least this large (unless the device's max allocation is smaller), so
 * small buffers of several graphs share one cl_mem. */
#define CHUNK_BYTES ((size_t)64 << 20)

/* ==== Errors ==== */

#define CL_ERRORS(X)                                                                               \
    X(CL_DEVICE_NOT_FOUND, KILN_E_BACKEND_UNAVAILABLE)                                             \
    X(CL_DEVICE_NOT_AVAILABLE, KILN_E_BACKEND_UNAVAILABLE)                                         \
    X(CL_COMPILER_NOT_AVAILABLE, KILN_E_KERNEL_BUILD)                                              \
    X(CL_MEM_OBJECT_ALLOCATION_FAILURE, KILN_E_OUT_OF_DEVICE_MEMORY)                               \
    X(CL_OUT_OF_RESOURCES, KILN_E_OUT_OF_DEVICE_MEMORY)                                            \
    X(CL_OUT_OF_HOST_MEMORY, KILN_E_OUT_OF_HOST_MEMORY)                                            \
    X(CL_PROFILING_INFO_NOT_AVAILABLE, KILN_E_INTERNAL)                                            \
    X(CL_MEM_COPY_OVERLAP, KILN_E_INTERNAL)                                                        \
    X(CL_BUILD_PROGRAM_FAILURE, KILN_E_KERNEL_BUILD)                                               \
    X(CL_MAP_FAILURE, KILN_E_INTERNAL)                                                             \
    X(CL_MISALIGNED_SUB_BUFFER_OFFSET, KILN_E_INTERNAL)                                            \
    X(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST, KILN_E_DEVICE_LOST)                            \
    X(CL_COMPILE_PROGRAM_FAILURE, KILN_E_KERNEL_BUILD)                                             \
    X(CL_LINKER_NOT_AVAILABLE, KILN_E_KERNEL_BUILD)                                                \
    X(CL_LINK_PROGRAM_FAILURE, KILN_E_KERNEL_BUILD)                                                \
    X(CL_INVALID_VALUE, KILN_E_INTERNAL)                                                           \
    X(CL_INVALID_DEVICE, KILN_E_BACKEND_UNAVAILABLE)                                               \
    X(CL_INVALID_PLATFORM, KILN_E_BACKEND_UNAVAILABLE)                                             \
    X(CL_INVALID_CONTEXT, KILN_E_INTERNAL)                                                         \
    X(CL_INVALID_COMMAND_QUEUE, KILN_E_INTERNAL)                                                   \
    X(CL_INVALID_MEM_OBJECT, KILN_E_INTERNAL)                                                      \
    X(CL_INVALID_BINARY, KILN_E_KERNEL_BUILD)                                                      \
    X(CL_INVALID_BUILD_OPTIONS, KILN_E_KERNEL_BUILD)                                               \
    X(CL_INVALID_PROGRAM, KILN_E_KERNEL_BUILD)                                                     \
    X(CL_INVALID_PROGRAM_EXECUTABLE, KILN_E_KERNEL_BUILD)                                          \
    X(CL_INVALID_KERNEL_NAME, KILN_E_KERNEL_BUILD)                                                 \
    X(CL_INVALID_KERNEL, KILN_E_INTERNAL)                                                          \
    X(CL_INVALID_ARG_INDEX, KILN_E_INTERNAL)                                                       \
    X(CL_INVALID_ARG_VALUE, KILN_E_INTERNAL)                                                       \
    X(CL_INVALID_ARG_SIZE, KILN_E_INTERNAL)                                                        \
    X(CL_INVALID_KERNEL_ARGS, KILN_E_INTERNAL)                                                     \
    X(CL_INVALID_WORK_DIMENSION, KILN_E_INTERNAL)                                                  \
    X(CL_INVALID_WORK_GROUP_SIZE, KILN_E_INTERNAL)                                                 \
    X(CL_INVALID_WORK_ITEM_SIZE, KILN_E_INTERNAL)                                                  \
    X(CL_INVALID_GLOBAL_OFFSET, KILN_E_INTERNAL)                                                   \
    X(CL_INVALID_EVENT_WAIT_LIST, KILN_E_INTERNAL)                                                 \
    X(CL_INVALID_EVENT, KILN_E_INTERNAL)                                                           \
    X(CL_INVALID_OPERATION, KILN_E_INTERNAL)                                                       \
    X(CL_INVALID_BUFFER_SIZE, KILN_E_OUT_OF_DEVICE_MEMORY)                                         \
    X(CL_INVALID_GLOBAL_WORK_SIZE, KILN_E_INTERNAL)

const char *kiln__cl_error_name(cl_int err)
{
#define CL_NAME(code, status)                                                                      \
    if (err == code) {                                                                             \
        return #code;                                                                              \
    }
    CL_ERRORS(CL_NAME)
#undef CL_NAME
    if (err == -1001) {
        return "CL_PLATFORM_NOT_FOUND_KHR";
    }
    return "CL_UNKNOWN";
}

kiln_status kiln__cl_status(cl_int err)
{
    if (err == CL_SUCCESS) {
        return KILN_OK;
    }
#define CL_MAP(code, status)                                                                       \
    if (err == code) {                                                                             \
        return status;                                                                             \
    }
    CL_ERRORS(CL_MAP)
#undef CL_MAP
    if (err == -1001) {
        return KILN_E_BACKEND_UNAVAILABLE;
    }
    return KILN_E_INTERNAL;
}

kiln_status kiln__cl_check(cl_int err, const char *call, const char *file, int line)
{
    if (err == CL_SUCCESS) {
        return KILN_OK;
    }
    return kiln__fail(kiln__cl_status(err), (long)err, file, line, "opencl: %s failed: %s (%d)",
                      call, kiln__cl_error_name(err), (int)err);
}

/* The error of every call after the device was lost. */
static kiln_status lost_error(void)
{
    return KILN_FAIL(KILN_E_DEVICE_LOST,
                     "opencl: the device was lost earlier (it did not run queued work; see the "
                     "first error): nothing more can run on this context: destroy it (a new "
                     "context may reopen the device)");
}

/* ==== Context ==== */

static kiln_status query_device(struct kiln_backend *be, struct kiln__cl *cl)
{
    cl_uint align_bits = 0;
    char ext[4096];
    kiln__cl_platform_str(cl->platform, CL_PLATFORM_NAME, cl->platform_name,
                          sizeof(cl->platform_name));
    kiln__cl_device_str(cl->device, CL_DEVICE_NAME, be->device_name, sizeof(be->device_name));
    kiln__cl_device_str(cl->device, CL_DRIVER_VERSION, cl->driver_version,
                        sizeof(cl->driver_version));
    kiln__cl_device_str(cl->device, CL_DEVICE_VERSION, cl->device_version,
                        sizeof(cl->device_version));
    kiln__cl_device_str(cl->device, CL_DEVICE_OPENCL_C_VERSION, cl->cl_c_version,
                        sizeof(cl->cl_c_version));
    kiln__cl_device_str(cl->device, CL_DEVICE_EXTENSIONS, ext, sizeof(ext));
    KILN_CL_CHECK(clGetDeviceInfo(cl->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof(cl->max_alloc),
                                  &cl->max_alloc, NULL));
    KILN_CL_CHECK(clGetDeviceInfo(cl->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof(cl->global_mem),
                                  &cl->global_mem, NULL));
    KILN_CL_CHECK(clGetDeviceInfo(cl->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof(cl->local_mem),
                                  &cl->local_mem, NULL));
    KILN_CL_CHECK(clGetDeviceInfo(cl->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof(cl->max_wg),
                                  &cl->max_wg, NULL));
    KILN_CL_CHECK(clGetDeviceInfo(cl->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof(align_bits),
                                  &align_bits, NULL));
    cl->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
    cl_device_type type = 0;
    KILN_CL_CHECK(clGetDeviceInfo(cl->device, CL_DEVICE_TYPE, sizeof(type), &type, NULL));
    cl->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    KILN_CL_CHECK(clGetDeviceInfo(cl->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(cl->n_cu),
                                  &cl->n_cu, NULL));
    /* Sub-allocated tensors start at offsets that are valid buffer origins. */
    be->alignment = align_bits / 8 > 256 ? align_bits / 8 : 256;
    be->view_alignment = 4; /* kernels and CLBlast take element offsets */
    return KILN_OK;
}

static kiln_status cl_init(struct kiln_backend *be, const char *device)
{
    struct kiln_context *ctx = be->ctx;
    struct kiln__cl_dev d;
    int32_t index = 0;
    cl_int err = CL_SUCCESS;

    KILN_TRY(kiln__cl_pick(device, &d, &index));
    struct kiln__cl *cl = kiln__calloc(ctx, sizeof(*cl), "the opencl backend");
    if (cl == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    be->impl = cl;
    cl->platform = d.platform;
    cl->device = d.device;
    KILN_TRY(query_device(be, cl));

    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)cl->platform, 0};
    cl->context = clCreateContext(props, 1, &cl->device, NULL, NULL, &err);
    KILN_CL_CHECK_ERR(err, "clCreateContext");
    cl->queue = clCreateCommandQueue(cl->context, cl->device, 0, &err);
    KILN_CL_CHECK_ERR(err, "clCreateCommandQueue");

    const char *tuning = getenv("KILN_CLBLAST_TUNING");
    if (tuning != NULL && tuning[0] != '\0') {
        int32_t n_applied = 0;
        KILN_TRY(kiln__cl_apply_tuning(cl->device, tuning, 1, &n_applied));
        if (n_applied > 0) {
            snprintf(cl->tuning, sizeof(cl->tuning), "%s", tuning);
        }
        kiln__log(ctx, KILN_LOG_INFO, "opencl: %d CLBlast kernel families tuned from %s",
                  (int)n_applied, tuning);
    }
    kiln__log(ctx, KILN_LOG_INFO,
              "opencl: device %d '%s' on '%s' (%s, driver %s, %s), max alloc %llu, "
              "alignment %zu",
              (int)index, be->device_name, cl->platform_name, cl->device_version,
              cl->driver_version, cl->cl_c_version, (unsigned long long)cl->max_alloc,
              be->alignment);
    return KILN_OK;
}

static void cl_fini(struct kiln_backend *be)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    if (cl == NULL) {
        return;
    }
    if (cl->queue != NULL) {
        clFinish(cl->queue);
    }
    kiln__cl_profile_fini(be);
    kiln__cl_programs_release(cl);
    for (int32_t i = 0; i < cl->n_stage; i++) {
        kiln__free(be->ctx, cl->stage[i].p);
    }
    for (int32_t i = 0; i < cl->n_chunks; i++) {
        if (cl->chunks[i].mem != NULL) {
            clReleaseMemObject(cl->chunks[i].mem);
            kiln__dev_release(be->ctx, cl->chunks[i].size);
        }
        kiln__free(be->ctx, cl->chunks[i].blocks);
    }
    kiln__free(be->ctx, cl->chunks);
    if (cl->scratch != NULL) {
        clReleaseMemObject(cl->scratch);
        kiln__dev_use(be->ctx, -(int64_t)cl->scratch_bytes);
        kiln__dev_release(be->ctx, cl->scratch_bytes);
    }
    if (cl->queue != NULL) {
        clReleaseCommandQueue(cl->queue);
    }
    if (cl->context != NULL) {
        clReleaseContext(cl->context);
    }
    kiln__free(be->ctx, cl);
    be->impl = NULL;
}

static kiln_status cl_devices(struct kiln_device_info *out, int32_t max, int32_t *n_out)
{
    struct kiln__cl_dev devs[64];
    int32_t n = 0;
    KILN_TRY(kiln__cl_enumerate(devs, 64, &n));
    *n_out = n;
    for (int32_t i = 0; i < n && i < max && i < 64; i++) {
        kiln__cl_describe(&devs[i], i, &out[i]);
    }
    return KILN_OK;
}

/* ==== Buffer pool ==== */

static size_t align_up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

/* First fit in chunk c; returns the offset or SIZE_MAX. */
static size_t chunk_fit(const struct kiln__cl_chunk *c, size_t size)
{
    size_t off = 0;
    for (int32_t i = 0; i < c->n_blocks; i++) {
        if (c->blocks[i].off >= off + size) {
            return off;
        }
        off = c->blocks[i].off + c->blocks[i].size;
    }
    return off + size <= c->size ? off : SIZE_MAX;
}

static kiln_status chunk_insert(struct kiln_context *ctx, struct kiln__cl_chunk *c, size_t off,
                                size_t size)
{
    if (c->n_blocks == c->cap_blocks) {
        int32_t cap = c->cap_blocks ? 2 * c->cap_blocks : 8;
        struct kiln__cl_block *b = kiln__alloc(ctx, sizeof(*b) * (size_t)cap, "the buffer pool");
        if (b == NULL) {
            return KILN_E_OUT_OF_HOST_MEMORY;
        }
        if (c->n_blocks > 0) {
            memcpy(b, c->blocks, sizeof(*b) * (size_t)c->n_blocks);
        }
        kiln__free(ctx, c->blocks);
        c->blocks = b;
        c->cap_blocks = cap;
    }
    int32_t i = c->n_blocks;
    while (i > 0 && c->blocks[i - 1].off > off) {
        c->blocks[i] = c->blocks[i - 1];
        i--;
    }
    c->blocks[i].off = off;
    c->blocks[i].size = size;
    c->n_blocks++;
    return KILN_OK;
}

static kiln_status new_chunk(struct kiln_backend *be, size_t size, int32_t *out)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    cl_int err = CL_SUCCESS;
    int32_t slot = -1;
    for (int32_t i = 0; i < cl->n_chunks; i++) {
        if (cl->chunks[i].mem == NULL) {
            slot = i;
            break;
        }
    }
    if (slot < 0) {
        struct kiln__cl_chunk *c =
            kiln__calloc(be->ctx, sizeof(*c) * (size_t)(cl->n_chunks + 1), "the buffer pool");
        if (c == NULL) {
            return KILN_E_OUT_OF_HOST_MEMORY;
        }
        if (cl->n_chunks > 0) {
            memcpy(c, cl->chunks, sizeof(*c) * (size_t)cl->n_chunks);
        }
        kiln__free(be->ctx, cl->chunks);
        cl->chunks = c;
        slot = cl->n_chunks++;
    }
    size_t chunk = CHUNK_BYTES < cl->max_alloc ? CHUNK_BYTES : (size_t)cl->max_alloc;
    /* When KILN_MAX_DEVICE_MEMORY leaves less than a chunk, chunks are cut to the
     * request (in MiB steps): one chunk taking all that is left would starve the
     * reduction scratch, which is a buffer of its own. */
    uint64_t room = kiln__dev_headroom(be->ctx);
    if (room < chunk) {
        size_t mib = (size_t)1 << 20;
        chunk = (size + mib - 1) / mib * mib;
        chunk = room < chunk ? (size_t)room : chunk;
    }
    size = size > chunk ? size : chunk;
    KILN_TRY(kiln__dev_reserve(be->ctx, size, "a buffer pool chunk"));
    cl_mem mem = clCreateBuffer(cl->context, CL_MEM_READ_WRITE, size, NULL, &err);
    if (err != CL_SUCCESS) {
        kiln__dev_release(be->ctx, size);
        return KILN_FAIL_NATIVE(kiln__cl_status(err), err,
                                "opencl: clCreateBuffer of %zu bytes failed: %s (%d) on '%s'", size,
                                kiln__cl_error_name(err), (int)err, be->device_name);
    }
    cl->chunks[slot].mem = mem;
    cl->chunks[slot].size = size;
    cl->chunks[slot].n_blocks = 0;
    *out = slot;
    return KILN_OK;
}

static kiln_status cl_buffer_alloc(struct kiln_backend *be, size_t n_bytes,
                                   struct kiln_buffer **out)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    size_t size = align_up(n_bytes ? n_bytes : 1, be->alignment);
    if (cl->lost) {
        return lost_error();
    }
    KILN_TRY(kiln__fault_alloc(be->ctx, n_bytes));
    if (size > cl->max_alloc) {
        return KILN_FAIL(KILN_E_OUT_OF_DEVICE_MEMORY,
                         "opencl: a buffer of %zu bytes was requested but '%s' allows at most "
                         "%llu bytes per allocation (CL_DEVICE_MAX_MEM_ALLOC_SIZE); use a smaller "
                         "batch or model",
                         n_bytes, be->device_name, (unsigned long long)cl->max_alloc);
    }
    int32_t ci = -1;
    size_t off = SIZE_MAX;
    for (int32_t i = 0; i < cl->n_chunks && off == SIZE_MAX; i++) {
        if (cl->chunks[i].mem != NULL) {
            off = chunk_fit(&cl->chunks[i], size);
            ci = i;
        }
    }
    if (off == SIZE_MAX) {
        KILN_TRY(new_chunk(be, size, &ci));
        off = 0;
    }
    struct kiln_buffer *b = kiln__alloc(be->ctx, sizeof(*b), "an opencl buffer");
    if (b == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    kiln_status s = chunk_insert(be->ctx, &cl->chunks[ci], off, size);
    if (s != KILN_OK) {
        kiln__free(be->ctx, b);
        return s;
    }
    b->mem = cl->chunks[ci].mem;
    b->base = off;
    b->n_bytes = n_bytes;
    b->chunk = ci;
    kiln__dev_use(be->ctx, (int64_t)size);
    *out = b;
    /* Zero the block like the CPU backend does; this also makes lazily allocating
     * drivers commit the memory now, so running out shows here. */
    const cl_uint zero = 0;
    s = KILN_CL_STATUS(
        clEnqueueFillBuffer(cl->queue, b->mem, &zero, sizeof(zero), off, size, 0, NULL, NULL));
    if (s != KILN_OK) {
        be->ops->buffer_free(be, b);
        *out = NULL;
        return s;
    }
    cl->pending++;
    return KILN_OK;
}

static void cl_buffer_free(struct kiln_backend *be, struct kiln_buffer *buf)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    if (buf == NULL) {
        return;
    }
    struct kiln__cl_chunk *c = &cl->chunks[buf->chunk];
    for (int32_t i = 0; i < c->n_blocks; i++) {
        if (c->blocks[i].off == buf->base) {
            kiln__dev_use(be->ctx, -(int64_t)c->blocks[i].size);
            memmove(&c->blocks[i], &c->blocks[i + 1],
                    sizeof(*c->blocks) * (size_t)(c->n_blocks - i - 1));
            c->n_blocks--;
            break;
        }
    }
    if (c->n_blocks == 0) {
        /* The runtime keeps the memory alive until enqueued work using it has finished. */
        clReleaseMemObject(c->mem);
        kiln__dev_release(be->ctx, c->size);
        kiln__free(be->ctx, c->blocks);
        memset(c, 0, sizeof(*c));
    }
    kiln__free(be->ctx, buf);
    /* With every buffer gone the pool holds nothing: what a graph took is all returned. */
    int32_t in_use = 0;
    for (int32_t i = 0; i < cl->n_chunks; i++) {
        in_use += cl->chunks[i].mem != NULL;
    }
    if (in_use == 0) {
        kiln__free(be->ctx, cl->chunks);
        cl->chunks = NULL;
        cl->n_chunks = 0;
        /* No buffer is left for a staged upload to land in: return the staging too. */
        clFinish(cl->queue);
        for (int32_t i = 0; i < cl->n_stage; i++) {
            kiln__free(be->ctx, cl->stage[i].p);
        }
        cl->n_stage = 0;
        cl->staged_bytes = 0;
    }
}

/* ==== Transfers and runs ==== */

/* A call that waits for or submits queued work (clFlush, clFinish, a blocking read)
 * failed with err. CL_OUT_OF_RESOURCES there means the device could not run the work
 * (a faulting kernel, a reset, a lost device: NVIDIA's drivers report these so), as
 * does an event's execution error; the context then stays lost. Other errors map as
 * usual. */
static kiln_status exec_fail(struct kiln_backend *be, cl_int err, const char *call)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    if (err == CL_OUT_OF_RESOURCES || err == CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST) {
        cl->lost = true;
        return KILN_FAIL_NATIVE(KILN_E_DEVICE_LOST, err,
                                "opencl: %s failed: %s (%d) on '%s': the device did not run the "
                                "queued work (a faulting kernel, a reset or a lost device); the "
                                "work of this run is lost and nothing more can run on this "
                                "context",
                                call, kiln__cl_error_name(err), (int)err, be->device_name);
    }
    return kiln__cl_check(err, call, __FILE__, __LINE__);
}

/* The queue is drained: every staged upload has been read by the device. Keeps the
 * largest staging block for the next uploads and frees the others. */
static void stage_reset(struct kiln_backend *be, struct kiln__cl *cl)
{
    int32_t keep = 0;
    for (int32_t i = 1; i < cl->n_stage; i++) {
        if (cl->stage[i].size > cl->stage[keep].size) {
            keep = i;
        }
    }
    for (int32_t i = 0; i < cl->n_stage; i++) {
        if (i != keep) {
            kiln__free(be->ctx, cl->stage[i].p);
        }
    }
    if (cl->n_stage > 0) {
        cl->stage[0] = cl->stage[keep];
        cl->stage[0].used = 0;
        cl->n_stage = 1;
    }
    cl->staged_bytes = 0;
}

/* Room for n bytes in the staging blocks, draining the queue first when too much is in
 * flight. Returns NULL (error recorded) when out of host memory. */
static unsigned char *stage_take(struct kiln_backend *be, struct kiln__cl *cl, size_t n)
{
    if (cl->n_stage > 0) {
        struct kiln__cl_stage *last = &cl->stage[cl->n_stage - 1];
        if (last->size - last->used >= n) {
            unsigned char *p = last->p + last->used;
            last->used += (n + 63) & ~(size_t)63;
            cl->staged_bytes += n;
            return p;
        }
    }
    if (cl->n_stage == KILN__CL_MAX_STAGE || cl->staged_bytes + n > KILN__CL_STAGE_LIMIT) {
        cl_int err = clFinish(cl->queue);
        if (err != CL_SUCCESS) {
            exec_fail(be, err, "clFinish (staging an upload)");
            return NULL;
        }
        be->ctx->stats.host_waits++;
        kiln__cl_collect(be);
        stage_reset(be, cl);
        return stage_take(be, cl, n);
    }
    size_t size = n > ((size_t)1 << 20) ? n : ((size_t)1 << 20);
    unsigned char *p = kiln__alloc(be->ctx, size, "an opencl upload staging block");
    if (p == NULL) {
        return NULL;
    }
    cl->stage[cl->n_stage].p = p;
    cl->stage[cl->n_stage].size = size;
    cl->stage[cl->n_stage].used = 0;
    cl->n_stage++;
    return stage_take(be, cl, n);
}

static kiln_status cl_upload(struct kiln_backend *be, struct kiln_buffer *dst, size_t off,
                             const void *src, size_t n_bytes)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    KILN_ASSERT(off + n_bytes <= dst->n_bytes);
    if (cl->lost) {
        return lost_error();
    }
    /* The caller may free src as soon as this returns, so the write reads a staged copy
     * and does not block: the host waits only when it reads a result. */
    unsigned char *copy = stage_take(be, cl, n_bytes);
    if (copy == NULL) {
        return kiln_last_status();
    }
    memcpy(copy, src, n_bytes);
    KILN_CL_CHECK(clEnqueueWriteBuffer(cl->queue, dst->mem, CL_FALSE, dst->base + off, n_bytes,
                                       copy, 0, NULL, NULL));
    return KILN_OK;
}

static kiln_status cl_download(struct kiln_backend *be, const struct kiln_buffer *src, size_t off,
                               void *dst, size_t n_bytes)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    KILN_ASSERT(off + n_bytes <= src->n_bytes);
    if (cl->lost) {
        return lost_error();
    }
    /* A blocking read submits the work recorded so far and waits for it (in order).
     * KILN_TEST_FAULT=lost:N: that submission fails as a driver reports a lost device. */
    cl_int err = cl->pending > 0 && kiln__fault_lose(be->ctx)
                     ? CL_OUT_OF_RESOURCES
                     : clEnqueueReadBuffer(cl->queue, src->mem, CL_TRUE, src->base + off, n_bytes,
                                           dst, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        return exec_fail(be, err, "clEnqueueReadBuffer (blocking)");
    }
    if (cl->pending > 0) {
        be->ctx->stats.submissions++;
        cl->pending = 0;
    }
    be->ctx->stats.host_waits++;
    kiln__cl_collect(be);
    stage_reset(be, cl);
    return KILN_OK;
}

static kiln_status cl_run_begin(struct kiln_backend *be)
{
    return kiln__cl_of(be)->lost ? lost_error() : KILN_OK;
}

static kiln_status cl_run_end(struct kiln_backend *be)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    if (cl->lost) {
        return lost_error();
    }
    if (cl->pending > 0) {
        /* KILN_TEST_FAULT=lost:N: this submission fails as a driver reports a lost device */
        cl_int err = kiln__fault_lose(be->ctx) ? CL_OUT_OF_RESOURCES : clFlush(cl->queue);
        if (err != CL_SUCCESS) {
            return exec_fail(be, err, "clFlush");
        }
        be->ctx->stats.submissions++;
        cl->pending = 0;
    }
    return KILN_OK;
}

static kiln_status cl_synchronize(struct kiln_backend *be)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    KILN_TRY(cl_run_end(be));
    cl_int err = clFinish(cl->queue);
    if (err != CL_SUCCESS) {
        return exec_fail(be, err, "clFinish");
    }
    be->ctx->stats.host_waits++;
    kiln__cl_collect(be);
    stage_reset(be, cl);
    return KILN_OK;
}

const struct kiln_backend_ops kiln__cl_backend = {
    .abi = KILN__BACKEND_ABI,
    .name = "opencl",
    .init = cl_init,
    .fini = cl_fini,
    .devices = cl_devices,
    .buffer_alloc = cl_buffer_alloc,
    .buffer_free = cl_buffer_free,
    .upload = cl_upload,
    .download = cl_download,
    .run_begin = cl_run_begin,
    .run_end = cl_run_end,
    .synchronize = cl_synchronize,
    .set_profiling = kiln__cl_set_profiling,
    .kernels = kiln__cl_kernels,
    .generic = &kiln__cl_generic,
    /* Small products run on kiln's own kernel with the bias or ReLU mask inside. */
    .fuse_matmul = true,
};
