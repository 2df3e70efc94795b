/*
 * kiln/backend.h - contexts, backend selection, devices and counters.
 *
 * A kiln_context owns one backend instance (cpu, opencl or vulkan) and the host
 * allocator and log sink that every graph of the context uses. The backend comes from
 * kiln_context_options, else from the KILN_BACKEND environment variable, else "auto"
 * (the first GPU found through Vulkan, then OpenCL, else the CPU). Graphs are in
 * kiln/graph.h.
 */
#ifndef KILN_BACKEND_H
#define KILN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_context kiln_context;

/* ---- Host allocator ---- */

/* A replaceable host allocator. alloc returns NULL on failure; free(NULL) must be a
 * no-op. align is a power of two no larger than 4096. */
struct kiln_allocator {
    void *(*alloc)(void *ud, size_t n_bytes, size_t align);
    void (*free)(void *ud, void *p);
    void *ud;
};

/* ---- Logging ---- */

typedef enum kiln_log_level {
    KILN_LOG_ERROR = 0,
    KILN_LOG_WARN = 1,
    KILN_LOG_INFO = 2,
    KILN_LOG_DEBUG = 3,
} kiln_log_level;

typedef void (*kiln_log_fn)(void *ud, kiln_log_level level, const char *msg);

/* ---- Context ---- */

struct kiln_context_options {
    uint32_t struct_size; /* sizeof(struct kiln_context_options) */
    const char *backend;  /* "cpu", "opencl", "vulkan", "auto"; NULL: KILN_BACKEND */
    const char *device;   /* index or name substring; NULL: KILN_DEVICE */
    int32_t check;        /* 1: shadow every node on the CPU; 2: only watch for non-finite
                             values (KILN_CHECK=nan); -1: KILN_CHECK */
    int32_t log_level;    /* a kiln_log_level; -1: KILN_LOG, default warn */
    const struct kiln_allocator *allocator; /* NULL: malloc; borrowed, must outlive ctx */
    kiln_log_fn log;                        /* NULL: write to stderr */
    void *log_ud;
};

#define KILN_CONTEXT_OPTIONS_INIT                                                                  \
    {                                                                                              \
        sizeof(struct kiln_context_options), NULL, NULL, -1, -1, NULL, NULL, NULL                  \
    }

/*
 * Creates a context on the selected backend and device.
 * [in] opt: borrowed; NULL means all defaults (environment variables apply).
 * [out] out: receives the context, owned by the caller (kiln_context_destroy).
 * Returns KILN_OK, KILN_E_INVALID_ARG (unknown backend name: the message lists the
 * compiled-in ones; a malformed KILN_* variable that it would read: the message names
 * it and its accepted values, see kiln_env_check), KILN_E_BACKEND_UNAVAILABLE (no
 * runtime or device: the message says why), KILN_E_OUT_OF_HOST_MEMORY. Thread-safe.
 */
KILN_API kiln_status kiln_context_create(const struct kiln_context_options *opt,
                                         kiln_context **out);

/* Destroys a context and everything it owns. Every graph of the context must have been
 * destroyed. NULL is a no-op. */
KILN_API void kiln_context_destroy(kiln_context *ctx);

/* Returns the name of the context's backend ("cpu"); static string. */
KILN_API const char *kiln_context_backend(const kiln_context *ctx);

/* Returns the name of the context's device; valid while ctx lives. */
KILN_API const char *kiln_context_device(const kiln_context *ctx);

/* Returns 1 when KILN_CHECK shadowing is on for this context. */
KILN_API int kiln_context_check(const kiln_context *ctx);

/* ---- Counters ---- */

struct kiln_stats {
    uint64_t runs;             /* graph runs */
    uint64_t nodes;            /* node kernels executed */
    uint64_t submissions;      /* command-buffer submissions / queue flushes */
    uint64_t host_waits;       /* host waits on the device (fences, clFinish) */
    uint64_t bytes_uploaded;   /* host to device */
    uint64_t bytes_downloaded; /* device to host */
};

/* Writes the counters accumulated since creation or the last reset to *out. */
KILN_API void kiln_context_stats(const kiln_context *ctx, struct kiln_stats *out);

/* Resets the counters to zero. */
KILN_API void kiln_context_reset_stats(kiln_context *ctx);

/* ---- Backends and devices ---- */

/* Returns the number of backends compiled into this library. */
KILN_API int32_t kiln_backend_count(void);

/* Returns the name of compiled-in backend i, or NULL when i is out of range. */
KILN_API const char *kiln_backend_name(int32_t i);

/* What kiln_backend_devices() reports of one device. */
struct kiln_device_info {
    int32_t index;
    char name[128];
    char type[16];      /* "gpu", "cpu", "integrated", "discrete", "virtual", "other" */
    char details[2048]; /* lines of "key: value", backend-specific */
};

/*
 * Lists the devices a backend can use. [out] out: borrowed array of max entries;
 * [out] n_out: the number of devices found (may exceed max).
 * Returns KILN_OK, KILN_E_INVALID_ARG (unknown backend), or KILN_E_BACKEND_UNAVAILABLE
 * with a message saying why (no ICD, no loader, no device).
 */
KILN_API kiln_status kiln_backend_devices(const char *backend, struct kiln_device_info *out,
                                          int32_t max, int32_t *n_out);

/*
 * Resolves "auto" (or the KILN_BACKEND value when name is NULL) to the backend a
 * context would use. Returns a static string, or NULL on an unknown name (see
 * kiln_last_error()).
 */
KILN_API const char *kiln_backend_resolve(const char *name);

/* Returns the library version string ("0.1.0"). */
KILN_API const char *kiln_version(void);

/* ---- Configuration from the environment (src/env.c) ---- */

/* A KILN_* variable that kiln reads, as kiln_env_vars reports it. */
struct kiln_env_var {
    const char *name;     /* static */
    const char *accepted; /* static: the values it takes */
    const char *value;    /* a view into the environment; NULL when unset */
    int32_t state;        /* 0: unset, 1: set and well-formed, -1: malformed */
};

/*
 * Describes every KILN_* variable that contexts and backends read (KILN_BACKEND,
 * KILN_DEVICE, KILN_CHECK, KILN_CHECK_REPAIR, KILN_LOG, KILN_CACHE_DIR, the KILN_VK_* and
 * OpenCL knobs), each judged against its accepted values. [out] out: borrowed array of
 * max entries (may be NULL when max is 0). Returns the number of variables (may exceed
 * max). Not thread-safe with respect to changes of the environment.
 */
KILN_API int32_t kiln_env_vars(struct kiln_env_var *out, int32_t max);

/*
 * Checks every variable of kiln_env_vars. Returns KILN_OK, or KILN_E_INVALID_ARG with
 * the message "NAME=value: accepted values: ..." for the first malformed one.
 * kiln_context_create makes the same check of the variables it would read.
 */
KILN_API kiln_status kiln_env_check(void);

/* Returns 1 when name is a variable that kiln or its programs read (an unknown KILN_*
 * name is probably misspelt), else 0. */
KILN_API int kiln_env_known(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* KILN_BACKEND_H */
