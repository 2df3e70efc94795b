/*
 * cl_program.c - the opencl backend's programs and launches: the kernel sources
 * (embedded from the .cl files of opencl/ at build time, or read from the source tree with
 * -Dopencl_kernels_from_disk=true), one program per family built on first use with
 * OpenCL C 1.2 and no fast-math, an on-disk cache of program binaries keyed by device,
 * driver, options and source, the kernel cache, and the launch helper that rounds the
 * global size up to whole work-groups.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl_impl.h"

#ifndef KILN_CL_KERNELS_DIR
#include "binary_cl.h"
#include "common_cl.h"
#include "conv_cl.h"
#include "index_cl.h"
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
    [KILN__CL_BINARY] = SRC(binary), [KILN__CL_UNARY] = SRC(unary), [KILN__CL_SHAPE] = SRC(shape),
    [KILN__CL_REDUCE] = SRC(reduce), [KILN__CL_LOSS] = SRC(loss),   [KILN__CL_OPTIM] = SRC(optim),
    [KILN__CL_LAYOUT] = SRC(layout), [KILN__CL_POOL] = SRC(pool),   [KILN__CL_CONV] = SRC(conv),
    [KILN__CL_RANDOM] = SRC(random), [KILN__CL_NORM] = SRC(norm),   [KILN__CL_RNN] = SRC(rnn),
    [KILN__CL_INDEX] = SRC(index),
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

void kiln__cl_cache_dir(char *out, size_t n)
{
    const char *d = getenv("KILN_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (d != NULL && d[0] != '\0') {
        snprintf(out, n, "%s", d);
    } else if (xdg != NULL && xdg[0] != '\0') {
        snprintf(out, n, "%s/kiln", xdg);
    } else if (home != NULL && home[0] != '\0') {
        snprintf(out, n, "%s/.cache/kiln", home);
    } else {
        out[0] = '\0';
    }
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h;
}

/* mkdir -p; failures show later as an unwritable cache, which is not an error. */
static void make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    mkdir(path, 0755);
}

static void cache_path(const struct kiln_backend *be, const char *name, const char *opts,
                       const char *src, size_t len, char *out, size_t n)
{
    const struct kiln__cl *cl = kiln__cl_of(be);
    char dir[768];
    uint64_t h = 0xcbf29ce484222325ull;
    const char *parts[] = {cl->platform_name, be->device_name, cl->driver_version,
                           cl->device_version, opts};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        h = fnv1a(h, parts[i], strlen(parts[i]) + 1);
    }
    h = fnv1a(h, src, len);
    kiln__cl_cache_dir(dir, sizeof(dir));
    if (dir[0] == '\0') {
        out[0] = '\0';
        return;
    }
    snprintf(out, n, "%s/opencl/%s-%016llx.bin", dir, name, (unsigned long long)h);
}

static cl_program load_binary(struct kiln_backend *be, const char *path, const char *opts)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    FILE *f = path[0] ? fopen(path, "rb") : NULL;
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bin = n > 0 ? malloc((size_t)n) : NULL;
    cl_program p = NULL;
    if (bin != NULL && fread(bin, 1, (size_t)n, f) == (size_t)n) {
        size_t len = (size_t)n;
        const unsigned char *bins[1] = {bin};
        cl_int st = CL_SUCCESS, err = CL_SUCCESS;
        p = clCreateProgramWithBinary(cl->context, 1, &cl->device, &len, bins, &st, &err);
        if (err != CL_SUCCESS || st != CL_SUCCESS ||
            clBuildProgram(p, 1, &cl->device, opts, NULL, NULL) != CL_SUCCESS) {
            if (p != NULL) {
                clReleaseProgram(p);
            }
            p = NULL;
        }
    }
    free(bin);
    fclose(f);
    return p;
}

static void save_binary(struct kiln_backend *be, cl_program p, const char *path)
{
    size_t size = 0;
    if (path[0] == '\0' ||
        clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof(size), &size, NULL) != CL_SUCCESS ||
        size == 0) {
        return;
    }
    unsigned char *bin = malloc(size);
    unsigned char *bins[1] = {bin};
    char dir[1024], tmp[1100];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (bin == NULL || slash == NULL ||
        clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof(bins), bins, NULL) != CL_SUCCESS) {
        free(bin);
        return;
    }
    *slash = '\0';
    make_dirs(dir);
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (f != NULL) {
        int ok = fwrite(bin, 1, size, f) == size;
        ok = fclose(f) == 0 && ok;
        if (!ok || rename(tmp, path) != 0) {
            remove(tmp);
            kiln__log(be->ctx, KILN_LOG_DEBUG, "opencl: cannot write the kernel cache %s", path);
        }
    }
    free(bin);
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
    char opts[128], path[1024];
    cl_int err = CL_SUCCESS;

    build_options(cl, opts, sizeof(opts));
    cache_path(be, name, opts, text, len, path, sizeof(path));
    cl_program p = load_binary(be, path, opts);
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
    save_binary(be, p, path);
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
    cl_int err = clEnqueueNDRangeKernel(cl->queue, k, 1, NULL, &global, &local, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        return KILN_FAIL_NATIVE(kiln__cl_status(err), err,
                                "opencl: clEnqueueNDRangeKernel(%s, global %zu, local %zu) "
                                "failed: %s (%d)",
                                name, global, local, kiln__cl_error_name(err), (int)err);
    }
    cl->pending++;
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
            cl->scratch = NULL;
            cl->scratch_bytes = 0;
        }
        cl->scratch = clCreateBuffer(cl->context, CL_MEM_READ_WRITE, size, NULL, &err);
        KILN_CL_CHECK_ERR(err, "clCreateBuffer (reduction scratch)");
        cl->scratch_bytes = size;
    }
    *out = cl->scratch;
    return KILN_OK;
}
