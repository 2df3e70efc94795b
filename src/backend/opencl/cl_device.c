/*
 * cl_device.c - OpenCL device discovery for the opencl backend: every device of every
 * platform (never only platform 0), GPUs and accelerators first, selection by index or
 * by a case-insensitive name substring (KILN_DEVICE), and the kiln_device_info
 * description. Context and queue creation are in cl_backend.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_impl.h"

#define MAX_PLATFORMS 16
#define MAX_DEVICES   64

#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif

void kiln__cl_device_str(cl_device_id dev, cl_device_info what, char *out, size_t n)
{
    size_t need = 0;
    out[0] = '\0';
    if (clGetDeviceInfo(dev, what, 0, NULL, &need) != CL_SUCCESS || need == 0) {
        return;
    }
    char *tmp = malloc(need + 1);
    if (tmp != NULL && clGetDeviceInfo(dev, what, need, tmp, NULL) == CL_SUCCESS) {
        tmp[need] = '\0';
        snprintf(out, n, "%s", tmp); /* truncated to n - 1 characters */
    }
    free(tmp);
}

void kiln__cl_platform_str(cl_platform_id p, cl_platform_info what, char *out, size_t n)
{
    size_t need = 0;
    snprintf(out, n, "?");
    if (clGetPlatformInfo(p, what, 0, NULL, &need) != CL_SUCCESS || need == 0) {
        return;
    }
    char *tmp = malloc(need + 1);
    if (tmp != NULL && clGetPlatformInfo(p, what, need, tmp, NULL) == CL_SUCCESS) {
        tmp[need] = '\0';
        snprintf(out, n, "%s", tmp);
    }
    free(tmp);
}

static int type_rank(cl_device_id d)
{
    cl_device_type t = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof(t), &t, NULL);
    if (t & CL_DEVICE_TYPE_GPU) {
        return 0;
    }
    if (t & CL_DEVICE_TYPE_ACCELERATOR) {
        return 1;
    }
    return 2;
}

kiln_status kiln__cl_enumerate(struct kiln__cl_dev *devs, int32_t max, int32_t *n)
{
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint n_plat = 0;
    struct kiln__cl_dev all[MAX_DEVICES];
    int32_t n_all = 0;
    char names[256] = "";

    *n = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, plats, &n_plat);
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && n_plat == 0)) {
        return KILN_FAIL_NATIVE(KILN_E_BACKEND_UNAVAILABLE, err,
                                "opencl: no OpenCL platform found: the ICD loader lists no "
                                "driver (install one, e.g. pocl-opencl-icd, or check "
                                "/etc/OpenCL/vendors and OCL_ICD_VENDORS)");
    }
    if (err != CL_SUCCESS) {
        return KILN_FAIL_NATIVE(KILN_E_BACKEND_UNAVAILABLE, err,
                                "opencl: clGetPlatformIDs failed: %s (%d)",
                                kiln__cl_error_name(err), (int)err);
    }
    if (n_plat > MAX_PLATFORMS) {
        n_plat = MAX_PLATFORMS;
    }
    for (cl_uint p = 0; p < n_plat; p++) {
        cl_device_id ids[MAX_DEVICES];
        cl_uint n_dev = 0;
        char pname[96];
        kiln__cl_platform_str(plats[p], CL_PLATFORM_NAME, pname, sizeof(pname));
        size_t len = strlen(names);
        snprintf(names + len, sizeof(names) - len, "%s'%s'", p ? ", " : "", pname);
        err = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, ids, &n_dev);
        if (err != CL_SUCCESS) {
            continue; /* CL_DEVICE_NOT_FOUND: a platform without devices */
        }
        for (cl_uint d = 0; d < n_dev && d < MAX_DEVICES && n_all < MAX_DEVICES; d++) {
            all[n_all].platform = plats[p];
            all[n_all].device = ids[d];
            n_all++;
        }
    }
    if (n_all == 0) {
        return KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE,
                         "opencl: %u OpenCL platform(s) found (%s) but none has a device",
                         (unsigned)n_plat, names);
    }
    /* Stable order: GPUs, then accelerators, then the rest, each in platform order. */
    for (int rank = 0; rank < 3; rank++) {
        for (int32_t i = 0; i < n_all; i++) {
            if (type_rank(all[i].device) == rank) {
                if (*n < max) {
                    devs[*n] = all[i];
                }
                (*n)++;
            }
        }
    }
    return KILN_OK;
}

static int all_digits(const char *s)
{
    if (*s == '\0') {
        return 0;
    }
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s)) {
            return 0;
        }
    }
    return 1;
}

static int contains_nocase(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) {
            i++;
        }
        if (i == nl) {
            return 1;
        }
    }
    return nl == 0;
}

kiln_status kiln__cl_pick(const char *want, struct kiln__cl_dev *out, int32_t *index)
{
    struct kiln__cl_dev devs[MAX_DEVICES];
    int32_t n = 0;
    KILN_TRY(kiln__cl_enumerate(devs, MAX_DEVICES, &n));
    if (n > MAX_DEVICES) {
        n = MAX_DEVICES;
    }
    if (want == NULL) {
        *out = devs[0];
        *index = 0;
        return KILN_OK;
    }
    if (all_digits(want)) {
        long i = strtol(want, NULL, 10);
        if (i >= 0 && i < n) {
            *out = devs[i];
            *index = (int32_t)i;
            return KILN_OK;
        }
    } else {
        for (int32_t i = 0; i < n; i++) {
            char name[128], pname[128], both[260];
            kiln__cl_device_str(devs[i].device, CL_DEVICE_NAME, name, sizeof(name));
            kiln__cl_platform_str(devs[i].platform, CL_PLATFORM_NAME, pname, sizeof(pname));
            snprintf(both, sizeof(both), "%s: %s", pname, name);
            if (contains_nocase(both, want)) {
                *out = devs[i];
                *index = i;
                return KILN_OK;
            }
        }
    }
    char list[384] = "";
    for (int32_t i = 0; i < n; i++) {
        char name[96];
        size_t len = strlen(list);
        kiln__cl_device_str(devs[i].device, CL_DEVICE_NAME, name, sizeof(name));
        snprintf(list + len, sizeof(list) - len, "%s%d '%s'", i ? ", " : "", (int)i, name);
    }
    return KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE,
                     "opencl: no device matches '%s' (an index or a name substring); devices: %s",
                     want, list);
}

static const char *type_name(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU) {
        return "gpu";
    }
    if (t & CL_DEVICE_TYPE_CPU) {
        return "cpu";
    }
    return "other";
}

static const char *type_long(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU) {
        return "GPU";
    }
    if (t & CL_DEVICE_TYPE_CPU) {
        return "CPU";
    }
    if (t & CL_DEVICE_TYPE_ACCELERATOR) {
        return "accelerator";
    }
    return "custom";
}

/* What kiln knows of CLBlast's tuning for this device. */
static void clblast_tuning(cl_device_id dev, char *out, size_t n)
{
#ifdef KILN_HAVE_CLBLAST
    const char *path = getenv("KILN_CLBLAST_TUNING");
    int32_t n_match = 0;
    if (path != NULL && path[0] != '\0' &&
        kiln__cl_apply_tuning(dev, path, 0, &n_match) == KILN_OK && n_match > 0) {
        snprintf(out, n, "yes (%d kernel families from KILN_CLBLAST_TUNING=%s)", (int)n_match,
                 path);
    } else {
        kiln_clear_error();
        snprintf(out, n,
                 "no kiln tuning file (CLBlast's built-in database; a device it lacks runs on "
                 "generic defaults; see KILN_CLBLAST_TUNING)");
    }
#else
    (void)dev;
    snprintf(out, n, "n/a (built without CLBlast: no matrix products)");
#endif
}

void kiln__cl_describe(const struct kiln__cl_dev *d, int32_t index, struct kiln_device_info *info)
{
    char pname[128], vendor[128], dver[128], drv[128], cver[128], ext[4096], tuned[320];
    cl_device_type t = 0;
    cl_ulong gmem = 0, lmem = 0, maxalloc = 0;
    size_t wg = 0;
    cl_uint cu = 0, align_bits = 0;

    memset(info, 0, sizeof(*info));
    info->index = index;
    kiln__cl_device_str(d->device, CL_DEVICE_NAME, info->name, sizeof(info->name));
    kiln__cl_platform_str(d->platform, CL_PLATFORM_NAME, pname, sizeof(pname));
    kiln__cl_device_str(d->device, CL_DEVICE_VENDOR, vendor, sizeof(vendor));
    kiln__cl_device_str(d->device, CL_DEVICE_VERSION, dver, sizeof(dver));
    kiln__cl_device_str(d->device, CL_DRIVER_VERSION, drv, sizeof(drv));
    kiln__cl_device_str(d->device, CL_DEVICE_OPENCL_C_VERSION, cver, sizeof(cver));
    kiln__cl_device_str(d->device, CL_DEVICE_EXTENSIONS, ext, sizeof(ext));
    clGetDeviceInfo(d->device, CL_DEVICE_TYPE, sizeof(t), &t, NULL);
    clGetDeviceInfo(d->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof(gmem), &gmem, NULL);
    clGetDeviceInfo(d->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof(lmem), &lmem, NULL);
    clGetDeviceInfo(d->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof(maxalloc), &maxalloc, NULL);
    clGetDeviceInfo(d->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof(wg), &wg, NULL);
    clGetDeviceInfo(d->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(cu), &cu, NULL);
    clGetDeviceInfo(d->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof(align_bits), &align_bits,
                    NULL);
    snprintf(info->type, sizeof(info->type), "%s", type_name(t));
    clblast_tuning(d->device, tuned, sizeof(tuned));
    snprintf(info->details, sizeof(info->details),
             "platform: %s\n"
             "vendor: %s\n"
             "device type: %s\n"
             "device version: %s\n"
             "driver version: %s\n"
             "OpenCL C version: %s\n"
             "compute units: %u\n"
             "global memory: %llu bytes (%.0f MiB)\n"
             "local memory: %llu bytes\n"
             "max allocation: %llu bytes (%.0f MiB)\n"
             "max work-group size: %zu\n"
             "base address alignment: %u bits\n"
             "fp16: %s\n"
             "fp64: %s\n"
             "clblast: %s\n"
             "clblast tuned: %s",
             pname, vendor, type_long(t), dver, drv, cver, (unsigned)cu, (unsigned long long)gmem,
             (double)gmem / 1048576.0, (unsigned long long)lmem, (unsigned long long)maxalloc,
             (double)maxalloc / 1048576.0, wg, (unsigned)align_bits,
             strstr(ext, "cl_khr_fp16") ? "yes (cl_khr_fp16)" : "no",
             strstr(ext, "cl_khr_fp64") ? "yes (cl_khr_fp64)" : "no",
#ifdef KILN_HAVE_CLBLAST
             "yes",
#else
             "no",
#endif
             tuned);
}
