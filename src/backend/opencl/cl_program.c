/*
 * cl_program.c - the opencl backend's programs and launches: the kernel sources
 * (embedded from the .cl files of opencl/ at build time, or read from the source tree with
 * -Dopencl_kernels_from_disk=true), one program per family built on first use with
 * OpenCL C 1.2 and no fast-math, an on-disk cache of program binaries (checked entries
 * of src/cache.h keyed by kiln's version, device, driver, options and source), the
 * kernel cache, and the launch helper that rounds the global size up to whole
 * work-groups.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cache.h"
#include "cl_impl.h"

#ifndef KILN_CL_KERNELS_DIR
#include "binary_cl.h"
#include "common_cl.h"
#include "conv_cl.h"
#include "convrow_cl.h"
#include "gemm_cl.h"
#include "index_cl.h"
#include "layernorm_cl.h"
#include "layout_cl.h"
#include "loss_cl.h"
#include "norm_cl.h"
#include "optim_cl.h"
#include "pool_cl.h"
#include "random_cl.h"
#include "reduce_cl.h"
#include "rnn_cl.h"
#include "shape_cl.h"
#include "unary_cl.h"
#define SRC(name)                                                                                  \
    {                                                                                              \
#name, kiln_cl_##name, sizeof(kiln_cl_##name) - 1                                          \
    }
#else
#define SRC(name)                                                                                  \
    {                                                                                              \
#name, NULL, 0                                                                             \
    }
#endif

static const struct {
    const char *name;
    const char *text;
    size_t len;
} sources[KILN__CL_N_PROGS] = {
    [KILN__CL_BINARY] = SRC(binary),   [KILN__CL_UNARY] = SRC(unary),
    [KILN__CL_SHAPE] = SRC(shape),     [KILN__CL_REDUCE] = SRC(reduce),
    [KILN__CL_LOSS] = SRC(loss),       [KILN__CL_OPTIM] = SRC(optim),
    [KILN__CL_LAYOUT] = SRC(layout),   [KILN__CL_POOL] = SRC(pool),
    [KILN__CL_CONV] = SRC(conv),       [KILN__CL_RANDOM] = SRC(random),
    [KILN__CL_NORM] = SRC(norm),       [KILN__CL_INDEX] = SRC(index),
    [KILN__CL_RNN] = SRC(rnn),         [KILN__CL_LAYERNORM] = SRC(layernorm),
    [KILN__CL_CONVROW] = SRC(convrow), [KILN__CL_GEMM] = SRC(gemm),
};

/* ==== Sources ==== */

#ifdef KILN_CL_KERNELS_DIR
static kiln_status read_source(struct kiln_context *ctx, const char *name, char **out, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.cl", KILN_CL_KERNELS_DIR, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return KILN_FAIL_NATIVE(KILN_E_IO, errno, "opencl: cannot open kernel source %s", path);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = n >= 0 ? kiln__alloc(ctx, (size_t)n + 1, "a kernel source") : NULL;
    if (text == NULL || fread(text, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        kiln__free(ctx, text);
        return text == NULL ? KILN_E_OUT_OF_HOST_MEMORY
                            : KILN_FAIL(KILN_E_IO, "opencl: cannot read %s", path);
    }
    fclose(f);
    text[n] = '\0';
    *out = text;
    *len = (size_t)n;
    return KILN_OK;
}
#endif

/* ==== Binary cache ==== */

static uint64_t fnv1a(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h;
}

/* Everything a program binary depends on: kiln's version, the platform, device and
 * driver, the build options and the source (by length and hash). */
static void cache_key(const struct kiln_backend *be, const char *name, const char *opts,
                      const char *src, size_t len, char *out, size_t n)
{
    const struct kiln__cl *cl = kiln__cl_of(be);
    snprintf(out, n,
             "kiln %s opencl program %s; platform '%s'; device '%s'; driver '%s'; '%s'; "
             "options '%s'; source %zu bytes, fnv1a %016llx",
             KILN_VERSION, name, cl->platform_name, be->device_name, cl->driver_version,
             cl->device_version, opts, len, (unsigned long long)fnv1a(src, len));
}

#define CACHE_WHAT "opencl: program cache entry"

/* The program from a valid cache entry, built for the device; NULL in *out when there
 * is none (or the driver refuses it: then it is rebuilt and replaced). */
static kiln_status load_binary(struct kiln_backend *be, const char *path, const char *key,
                               const char *opts, cl_program *out)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    void *bin = NULL;
    size_t len = 0;
    *out = NULL;
    KILN_TRY(kiln__cache_load(be->ctx, CACHE_WHAT, path, key, &bin, &len));
    if (bin == NULL) {
        return KILN_OK;
    }
    const unsigned char *bins[1] = {bin};
    cl_int st = CL_SUCCESS, err = CL_SUCCESS;
    cl_program p = clCreateProgramWithBinary(cl->context, 1, &cl->device, &len, bins, &st, &err);
    if (err != CL_SUCCESS || st != CL_SUCCESS ||
        (err = clBuildProgram(p, 1, &cl->device, opts, NULL, NULL)) != CL_SUCCESS) {
        kiln__log(be->ctx, KILN_LOG_WARN, "%s %s: the driver refused it (%s); rebuilding it",
                  CACHE_WHAT, path, kiln__cl_error_name(err != CL_SUCCESS ? err : st));
        if (p != NULL) {
            clReleaseProgram(p);
        }
        p = NULL;
    }
    kiln__free(be->ctx, bin);
    *out = p;
    return KILN_OK;
}

static kiln_status save_binary(struct kiln_backend *be, cl_program p, const char *path,
                               const char *key)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    size_t size = 0;
    if (path[0] == '\0' ||
        clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof(size), &size, NULL) != CL_SUCCESS ||
        size == 0) {
        return KILN_OK;
    }
    unsigned char *bin = kiln__alloc(be->ctx, size, "a program binary");
    unsigned char *bins[1] = {bin};
    if (bin == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof(bins), bins, NULL) == CL_SUCCESS) {
        kiln__cache_store(be->ctx, CACHE_WHAT, path, key, bin, size, &cl->cache_warned);
    }
    kiln__free(be->ctx, bin);
    return KILN_OK;
}

/* ==== Programs ==== */

static kiln_status build_failed(struct kiln_backend *be, cl_program p, const char *name, cl_int err)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    size_t n = 0;
    char *log = NULL;
    if (clGetProgramBuildInfo(p, cl->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) == CL_SUCCESS &&
        n > 0) {
        log = malloc(n + 1);
        if (log != NULL && clGetProgramBuildInfo(p, cl->device, CL_PROGRAM_BUILD_LOG, n, log,
                                                 NULL) == CL_SUCCESS) {
            log[n] = '\0';
        } else {
            free(log);
            log = NULL;
        }
    }
    if (log != NULL) {
        kiln__log(be->ctx, KILN_LOG_ERROR, "opencl: build log of %s.cl:\n%.900s", name, log);
    }
    /* The message keeps the start of the log, where the first error is. */
    kiln_status s = KILN_FAIL_NATIVE(
        KILN_E_KERNEL_BUILD, err, "opencl: building %s.cl for '%s' failed: %s (%d); log: %.300s%s",
        name, be->device_name, kiln__cl_error_name(err), (int)err, log != NULL ? log : "(none)",
        log != NULL && strlen(log) > 300 ? " [...]" : "");
    free(log);
    clReleaseProgram(p);
    return s;
}

static void build_options(const struct kiln__cl *cl, char *out, size_t n)
{
    /* OpenCL C 1.2 where the device has it; never -cl-fast-relaxed-math. */
    int major = 1, minor = 0;
    if (sscanf(cl->cl_c_version, "OpenCL C %d.%d", &major, &minor) == 2 &&
        (major > 1 || minor >= 2)) {
        snprintf(out, n, "-cl-std=CL1.2");
    } else {
        out[0] = '\0';
    }
}

kiln_status kiln__cl_build(struct kiln_backend *be, const char *name, const char *text, size_t len,
                           cl_program *out)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    char opts[128], path[1024], key[1024];
    cl_int err = CL_SUCCESS;

    build_options(cl, opts, sizeof(opts));
    cache_key(be, name, opts, text, len, key, sizeof(key));
    kiln__cache_path("opencl", name, key, path, sizeof(path));
    cl_program p = NULL;
    KILN_TRY(load_binary(be, path, key, opts, &p));
    if (p != NULL) {
        kiln__log(be->ctx, KILN_LOG_DEBUG, "opencl: %s.cl loaded from %s", name, path);
        *out = p;
        return KILN_OK;
    }
    p = clCreateProgramWithSource(cl->context, 1, &text, &len, &err);
    KILN_CL_CHECK_ERR(err, "clCreateProgramWithSource");
    err = clBuildProgram(p, 1, &cl->device, opts, NULL, NULL);
    if (err != CL_SUCCESS) {
        return build_failed(be, p, name, err);
    }
    kiln_status s = save_binary(be, p, path, key);
    if (s != KILN_OK) {
        clReleaseProgram(p);
        return s;
    }
    *out = p;
    return KILN_OK;
}

/* The source of common.cl: prepended to every family's source. */
static kiln_status common_source(struct kiln_context *ctx, const char **text, size_t *len,
                                 char **owned)
{
    *owned = NULL;
#ifdef KILN_CL_KERNELS_DIR
    KILN_TRY(read_source(ctx, "common", owned, len));
    *text = *owned;
#else
    (void)ctx;
    *text = kiln_cl_common;
    *len = sizeof(kiln_cl_common) - 1;
#endif
    return KILN_OK;
}

static kiln_status build_program(struct kiln_backend *be, enum kiln__cl_prog prog)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    const char *common, *family;
    char *common_owned = NULL, *family_owned = NULL, *text = NULL;
    size_t common_len, family_len;
    kiln_status s = common_source(be->ctx, &common, &common_len, &common_owned);
    if (s != KILN_OK) {
        return s;
    }
#ifdef KILN_CL_KERNELS_DIR
    s = read_source(be->ctx, sources[prog].name, &family_owned, &family_len);
    if (s != KILN_OK) {
        goto done;
    }
    family = family_owned;
#else
    family = sources[prog].text;
    family_len = sources[prog].len;
#endif
    text = kiln__alloc(be->ctx, common_len + family_len + 2, "a kernel source");
    if (text == NULL) {
        s = KILN_E_OUT_OF_HOST_MEMORY;
        goto done;
    }
    memcpy(text, common, common_len);
    text[common_len] = '\n';
    memcpy(text + common_len + 1, family, family_len);
    text[common_len + 1 + family_len] = '\0';
    s = kiln__cl_build(be, sources[prog].name, text, common_len + 1 + family_len, &cl->progs[prog]);
done:
    kiln__free(be->ctx, text);
    kiln__free(be->ctx, family_owned);
    kiln__free(be->ctx, common_owned);
    return s;
}

kiln_status kiln__cl_kernel(struct kiln_backend *be, enum kiln__cl_prog prog, const char *name,
                            cl_kernel *out)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    cl_int err = CL_SUCCESS;
    for (int32_t i = 0; i < cl->n_kernels; i++) {
        if (strcmp(cl->kernels[i].name, name) == 0) {
            *out = cl->kernels[i].kernel;
            return KILN_OK;
        }
    }
    if (cl->n_kernels == KILN__CL_MAX_KERNELS) {
        return KILN_FAIL(KILN_E_INTERNAL, "opencl: more than %d kernels", KILN__CL_MAX_KERNELS);
    }
    if (cl->progs[prog] == NULL) {
        KILN_TRY(build_program(be, prog));
    }
    cl_kernel k = clCreateKernel(cl->progs[prog], name, &err);
    if (err != CL_SUCCESS) {
        return KILN_FAIL_NATIVE(kiln__cl_status(err), err,
                                "opencl: clCreateKernel('%s') of %s.cl failed: %s (%d)", name,
                                sources[prog].name, kiln__cl_error_name(err), (int)err);
    }
    cl->kernels[cl->n_kernels].name = name;
    cl->kernels[cl->n_kernels].kernel = k;
    cl->n_kernels++;
    *out = k;
    return KILN_OK;
}

kiln_status kiln__cl_family_prog(const char *family, enum kiln__cl_prog *out)
{
    for (int i = 0; i < KILN__CL_N_PROGS; i++) {
        if (strcmp(sources[i].name, family) == 0) {
            *out = (enum kiln__cl_prog)i;
            return KILN_OK;
        }
    }
    return KILN_FAIL(KILN_E_UNSUPPORTED, "opencl: no kernel file opencl/%s.cl", family);
}

void kiln__cl_programs_release(struct kiln__cl *cl)
{
    for (int32_t i = 0; i < cl->n_kernels; i++) {
        clReleaseKernel(cl->kernels[i].kernel);
    }
    cl->n_kernels = 0;
    for (int i = 0; i < KILN__CL_N_PROGS; i++) {
        if (cl->progs[i] != NULL) {
            clReleaseProgram(cl->progs[i]);
            cl->progs[i] = NULL;
        }
    }
}

/* ==== Launches ==== */

size_t kiln__cl_group_size(struct kiln_backend *be, cl_kernel k)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    size_t wg = 0, g = 256;
    if (clGetKernelWorkGroupInfo(k, cl->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof(wg), &wg, NULL) !=
        CL_SUCCESS) {
        wg = cl->max_wg;
    }
    while (g > 1 && (g > wg || g > cl->max_wg)) {
        g /= 2;
    }
    return g;
}

kiln_status kiln__cl_launch(struct kiln_backend *be, enum kiln__cl_prog prog, const char *name,
                            size_t n_items, size_t local, cl_uint n_args,
                            const struct kiln__cl_arg *args)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    cl_kernel k;
    if (n_items == 0) {
        return KILN_OK;
    }
    KILN_TRY(kiln__cl_kernel(be, prog, name, &k));
    for (cl_uint i = 0; i < n_args; i++) {
        cl_int err = clSetKernelArg(k, i, args[i].size, args[i].ptr);
        if (err != CL_SUCCESS) {
            return KILN_FAIL_NATIVE(kiln__cl_status(err), err,
                                    "opencl: clSetKernelArg(%s, %u) failed: %s (%d)", name,
                                    (unsigned)i, kiln__cl_error_name(err), (int)err);
        }
    }
    if (local == 0) {
        local = kiln__cl_group_size(be, k);
    }
    size_t global = (n_items + local - 1) / local * local;
    cl_event *ev = kiln__cl_event_slot(be);
    cl_int err = clEnqueueNDRangeKernel(cl->queue, k, 1, NULL, &global, &local, 0, NULL, ev);
    if (err != CL_SUCCESS) {
        return KILN_FAIL_NATIVE(kiln__cl_status(err), err,
                                "opencl: clEnqueueNDRangeKernel(%s, global %zu, local %zu) "
                                "failed: %s (%d)",
                                name, global, local, kiln__cl_error_name(err), (int)err);
    }
    kiln__cl_launched(be, ev);
    return KILN_OK;
}

void kiln__cl_tensor(const struct kiln_tensor *t, cl_mem *mem, cl_ulong *off)
{
    size_t o;
    const struct kiln_buffer *b = kiln__tensor_buffer(t, &o);
    *mem = b->mem;
    *off = (cl_ulong)((b->base + o) / 4);
}

kiln_status kiln__cl_scratch(struct kiln_backend *be, size_t n_bytes, cl_mem *out)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    cl_int err = CL_SUCCESS;
    if (n_bytes > cl->scratch_bytes) {
        size_t size = n_bytes > 65536 ? n_bytes : 65536;
        /* Enqueued kernels keep the old buffer alive until they finish. */
        if (cl->scratch != NULL) {
            clReleaseMemObject(cl->scratch);
            kiln__dev_use(be->ctx, -(int64_t)cl->scratch_bytes);
            kiln__dev_release(be->ctx, cl->scratch_bytes);
            cl->scratch = NULL;
            cl->scratch_bytes = 0;
        }
        KILN_TRY(kiln__dev_reserve(be->ctx, size, "the reduction scratch"));
        cl->scratch = clCreateBuffer(cl->context, CL_MEM_READ_WRITE, size, NULL, &err);
        if (err != CL_SUCCESS) {
            kiln__dev_release(be->ctx, size);
        }
        KILN_CL_CHECK_ERR(err, "clCreateBuffer (reduction scratch)");
        cl->scratch_bytes = size;
        kiln__dev_use(be->ctx, (int64_t)size);
    }
    *out = cl->scratch;
    return KILN_OK;
}
