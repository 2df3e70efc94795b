/*
 * context.c - context creation (backend selection from options or the environment),
 * the host allocator, logging, counters and the backend registry. Graph code is in
 * src/graph/.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_impl.h"
#include "ops/op_desc.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

/* Preference order for "auto": GPUs through Vulkan, then OpenCL; the CPU last. */
const struct kiln_backend_ops *const kiln__backends[] = {
#ifdef KILN_HAVE_VULKAN
    &kiln__vk_backend,
#endif
#ifdef KILN_HAVE_OPENCL
    &kiln__cl_backend,
#endif
    &kiln__cpu_backend,
};
const int32_t kiln__n_backends = (int32_t)(sizeof(kiln__backends) / sizeof(kiln__backends[0]));

const char *kiln_version(void)
{
    return KILN_VERSION;
}

int32_t kiln_backend_count(void)
{
    return kiln__n_backends;
}

const char *kiln_backend_name(int32_t i)
{
    if (i < 0 || i >= kiln__n_backends) {
        return NULL;
    }
    return kiln__backends[i]->name;
}

/* ==== Host memory ==== */

static void *default_alloc(void *ud, size_t n, size_t align)
{
    (void)ud;
    void *p = NULL;
    if (align < sizeof(void *)) {
        align = sizeof(void *);
    }
    if (posix_memalign(&p, align, n ? n : 1) != 0) {
        return NULL;
    }
    return p;
}

static void default_free(void *ud, void *p)
{
    (void)ud;
    free(p);
}

void *kiln__alloc(struct kiln_context *ctx, size_t n_bytes, const char *what)
{
    void *p = ctx->alloc.alloc(ctx->alloc.ud, n_bytes, 64);
    if (p == NULL) {
        KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory allocating %zu bytes for %s",
                  n_bytes, what);
    }
    return p;
}

void *kiln__calloc(struct kiln_context *ctx, size_t n_bytes, const char *what)
{
    void *p = kiln__alloc(ctx, n_bytes, what);
    if (p != NULL) {
        memset(p, 0, n_bytes);
    }
    return p;
}

void kiln__free(struct kiln_context *ctx, void *p)
{
    if (p != NULL) {
        ctx->alloc.free(ctx->alloc.ud, p);
    }
}

/* ==== Logging ==== */

static void default_log(void *ud, kiln_log_level level, const char *msg)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    (void)ud;
    fprintf(stderr, "kiln: %s: %s\n", names[level], msg);
}

void kiln__log(struct kiln_context *ctx, kiln_log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (ctx == NULL || level > ctx->log_level) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ctx->log(ctx->log_ud, level, msg);
}

static int parse_log_level(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (s != NULL && strcmp(s, names[i]) == 0) {
            return i;
        }
    }
    return KILN_LOG_WARN;
}

/* ==== Backend selection ==== */

static const struct kiln_backend_ops *find_backend(const char *name)
{
    for (int32_t i = 0; i < kiln__n_backends; i++) {
        if (strcmp(kiln__backends[i]->name, name) == 0) {
            return kiln__backends[i];
        }
    }
    return NULL;
}

static kiln_status unknown_backend(const char *name)
{
    char list[256] = "auto";
    for (int32_t i = 0; i < kiln__n_backends; i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof(list) - len, ", %s", kiln__backends[i]->name);
    }
    return KILN_FAIL(KILN_E_INVALID_ARG, "unknown backend '%s'; available backends: %s", name,
                     list);
}

/* Whether backend ops lists at least one device that is a GPU. */
static int has_gpu(const struct kiln_backend_ops *ops)
{
    struct kiln_device_info info[8];
    int32_t n = 0;
    if (ops->devices == NULL || ops->devices(info, 8, &n) != KILN_OK) {
        kiln_clear_error();
        return 0;
    }
    for (int32_t i = 0; i < n && i < 8; i++) {
        if (strcmp(info[i].type, "cpu") != 0) {
            return 1;
        }
    }
    return 0;
}

const char *kiln_backend_resolve(const char *name)
{
    if (name == NULL || name[0] == '\0') {
        name = getenv("KILN_BACKEND");
    }
    if (name == NULL || name[0] == '\0' || strcmp(name, "auto") == 0) {
        for (int32_t i = 0; i < kiln__n_backends; i++) {
            if (kiln__backends[i] != &kiln__cpu_backend && has_gpu(kiln__backends[i])) {
                return kiln__backends[i]->name;
            }
        }
        return kiln__cpu_backend.name;
    }
    const struct kiln_backend_ops *ops = find_backend(name);
    if (ops == NULL) {
        unknown_backend(name);
        return NULL;
    }
    return ops->name;
}

kiln_status kiln_backend_devices(const char *backend, struct kiln_device_info *out, int32_t max,
                                 int32_t *n_out)
{
    if (backend == NULL || n_out == NULL || (out == NULL && max > 0)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_backend_devices: NULL argument");
    }
    const struct kiln_backend_ops *ops = find_backend(backend);
    if (ops == NULL) {
        return unknown_backend(backend);
    }
    *n_out = 0;
    return ops->devices(out, max, n_out);
}

/* Names of the backends that list at least one device, comma-separated. */
static void available_backends(char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < kiln__n_backends; i++) {
        struct kiln_device_info info;
        int32_t count = 0;
        if (kiln__backends[i]->devices(&info, 1, &count) == KILN_OK && count > 0 && len < n) {
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "",
                                    kiln__backends[i]->name);
        }
    }
}

/* ==== Context ==== */

_Static_assert(KILN_OP_COUNT <= 128, "check_repair holds 128 op bits");

/* KILN_CHECK_REPAIR: a comma-separated list of op names (as KILN_CHECK's messages name
 * them) or "all". With KILN_CHECK on, the shadow uploads the CPU reference's result
 * over the backend's for those ops after comparing them, so the run continues from the
 * reference's values there: rerunning with chosen ops repaired tells which op's
 * rounding (or error) a training curve's difference comes from. */
kiln_status kiln__parse_repair(const char *env, uint64_t bits[2])
{
    bits[0] = bits[1] = 0;
    if (env == NULL) {
        return KILN_OK;
    }
    const char *p = env;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        if (len == 3 && strncmp(p, "all", 3) == 0) {
            bits[0] = bits[1] = ~(uint64_t)0;
        } else if (len > 0) {
            int op = 0;
            while (op < KILN_OP_COUNT && (strlen(kiln__ops[op]->name) != len ||
                                          strncmp(kiln__ops[op]->name, p, len) != 0)) {
                op++;
            }
            if (op == KILN_OP_COUNT) {
                return KILN_FAIL(KILN_E_INVALID_ARG,
                                 "KILN_CHECK_REPAIR: unknown op '%.*s' (use op names as KILN_CHECK "
                                 "reports them, e.g. conv2d,matmul, or 'all')",
                                 (int)len, p);
            }
            bits[op / 64] |= (uint64_t)1 << (op % 64);
        }
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    return KILN_OK;
}

kiln_status kiln_context_create(const struct kiln_context_options *opt, kiln_context **out)
{
    struct kiln_context_options defaults = KILN_CONTEXT_OPTIONS_INIT;
    struct kiln_context *ctx;
    kiln_status s;

    if (out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_context_create: out is NULL");
    }
    *out = NULL;
    if (opt == NULL) {
        opt = &defaults;
    }
    if (opt->struct_size < sizeof(struct kiln_context_options)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_context_create: struct_size %u is too small",
                         opt->struct_size);
    }
    KILN_TRY(kiln__env_check_context(opt));
    const char *name = kiln_backend_resolve(opt->backend);
    if (name == NULL) {
        return KILN_E_INVALID_ARG; /* message set by kiln_backend_resolve */
    }
    const struct kiln_backend_ops *ops = find_backend(name);

    struct kiln_allocator alloc = {default_alloc, default_free, NULL};
    if (opt->allocator != NULL) {
        alloc = *opt->allocator;
    }
    ctx = alloc.alloc(alloc.ud, sizeof(*ctx), 64);
    if (ctx == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory creating a context");
    }
    memset(ctx, 0, sizeof(*ctx));
    ctx->alloc = alloc;
    ctx->log = opt->log != NULL ? opt->log : default_log;
    ctx->log_ud = opt->log_ud;
    ctx->log_level = opt->log_level >= 0 ? (kiln_log_level)opt->log_level
                                         : (kiln_log_level)parse_log_level(getenv("KILN_LOG"));
    if (opt->check >= 0) {
        ctx->check = opt->check == 2 ? KILN__CHECK_NAN : opt->check != 0 ? KILN__CHECK_FULL : 0;
    } else {
        const char *c = getenv("KILN_CHECK");
        ctx->check = c == NULL || c[0] == '\0' || strcmp(c, "0") == 0 ? 0
                     : strcmp(c, "nan") == 0                          ? KILN__CHECK_NAN
                                                                      : KILN__CHECK_FULL;
    }
    s = kiln__parse_repair(getenv("KILN_CHECK_REPAIR"), ctx->check_repair);
    if (s != KILN_OK) {
        alloc.free(alloc.ud, ctx);
        return s;
    }
    ctx->be.ops = ops;
    ctx->be.ctx = ctx;
    ctx->be.alignment = 256;
    ctx->fault_op = -1;
    ctx->fault_src = -1;
    /* both were checked by kiln__env_check_context */
    const char *cap = getenv("KILN_MAX_DEVICE_MEMORY");
    if (cap != NULL && cap[0] != '\0') {
        (void)kiln__parse_bytes(cap, &ctx->mem.limit);
    }
    (void)kiln__parse_fault(getenv("KILN_TEST_FAULT"), &ctx->oom_at, &ctx->lost_at);
    const char *device = opt->device != NULL ? opt->device : getenv("KILN_DEVICE");
    if (device != NULL && device[0] == '\0') {
        device = NULL;
    }
    s = ops->init(&ctx->be, device);
    if (s != KILN_OK) {
        goto fail_init;
    }
    *out = ctx;
    return KILN_OK;

fail_init:
    if (s == KILN_E_BACKEND_UNAVAILABLE) {
        char msg[512], avail[128];
        long native = kiln_last_native_code();
        snprintf(msg, sizeof(msg), "%s", kiln_last_error());
        available_backends(avail, sizeof(avail));
        KILN_FAIL_NATIVE(s, native, "%s; available backends: %s", msg, avail);
    }
    ops->fini(&ctx->be);
    alloc.free(alloc.ud, ctx);
    return s;
}

void kiln_context_destroy(kiln_context *ctx)
{
    if (ctx == NULL) {
        return;
    }
    KILN_ASSERT(ctx->n_graphs == 0);
    ctx->be.ops->fini(&ctx->be);
    struct kiln_allocator alloc = ctx->alloc;
    alloc.free(alloc.ud, ctx);
}

const char *kiln_context_backend(const kiln_context *ctx)
{
    return ctx->be.ops->name;
}

const char *kiln_context_device(const kiln_context *ctx)
{
    return ctx->be.device_name;
}

int kiln_context_check(const kiln_context *ctx)
{
    return ctx->check;
}

void kiln_context_stats(const kiln_context *ctx, struct kiln_stats *out)
{
    *out = ctx->stats;
}

void kiln_context_reset_stats(kiln_context *ctx)
{
    memset(&ctx->stats, 0, sizeof(ctx->stats));
    memset(ctx->prof.rows, 0, sizeof(ctx->prof.rows));
}

kiln_status kiln_context_set_profiling(kiln_context *ctx, int on)
{
    if (ctx == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_context_set_profiling: ctx is NULL");
    }
    if (ctx->run_depth > 0) {
        return KILN_FAIL(KILN_E_STATE, "kiln_context_set_profiling: called during a run");
    }
    if ((on != 0) == ctx->prof.on) {
        return KILN_OK;
    }
    if (ctx->be.ops->set_profiling != NULL) {
        KILN_TRY(ctx->be.ops->set_profiling(&ctx->be, on != 0));
    }
    ctx->prof.on = on != 0;
    ctx->prof.op = KILN__PROF_OTHER;
    return KILN_OK;
}

int32_t kiln_context_profile(kiln_context *ctx, struct kiln_profile_row *rows, int32_t max)
{
    if (ctx == NULL || max < 0 || (max > 0 && rows == NULL)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_context_profile: bad arguments");
    }
    if (ctx->run_depth == 0 && ctx->be.ops->synchronize != NULL) {
        KILN_TRY(ctx->be.ops->synchronize(&ctx->be));
    }
    int32_t n = 0;
    for (int32_t op = 0; op <= KILN__PROF_OTHER; op++) {
        const struct kiln__prof_row *r = &ctx->prof.rows[op];
        if (r->nodes == 0 && r->dispatches == 0 && r->seconds == 0.0) {
            continue;
        }
        /* Insertion by descending time into the first max places. */
        int32_t at = n < max ? n : max;
        while (at > 0 && rows[at - 1].seconds < r->seconds) {
            if (at < max) {
                rows[at] = rows[at - 1];
            }
            at--;
        }
        if (at < max) {
            rows[at] = (struct kiln_profile_row){
                op < KILN__PROF_OTHER ? kiln__op_name(op) : "(outside nodes)",
                op < KILN__PROF_OTHER ? kiln__op_family(op) : "other",
                r->nodes,
                r->dispatches,
                r->barriers,
                r->bytes,
                r->seconds};
        }
        n++;
    }
    return n;
}

void kiln_context_memory(const kiln_context *ctx, struct kiln_memory_stats *out)
{
    *out = ctx->mem;
}

/* ==== Device memory and injected faults ==== */

kiln_status kiln__dev_reserve(struct kiln_context *ctx, uint64_t n_bytes, const char *what)
{
    struct kiln_memory_stats *m = &ctx->mem;
    if (m->limit > 0 && (n_bytes > m->limit || m->reserved > m->limit - n_bytes)) {
        return KILN_FAIL(KILN_E_OUT_OF_DEVICE_MEMORY,
                         "%s: out of device memory: %llu bytes more for %s would pass "
                         "KILN_MAX_DEVICE_MEMORY=%llu (%llu bytes reserved in %llu blocks, "
                         "%llu in use)",
                         ctx->be.ops->name, (unsigned long long)n_bytes, what,
                         (unsigned long long)m->limit, (unsigned long long)m->reserved,
                         (unsigned long long)m->n_blocks, (unsigned long long)m->in_use);
    }
    m->reserved += n_bytes;
    m->n_blocks++;
    m->peak_reserved = m->reserved > m->peak_reserved ? m->reserved : m->peak_reserved;
    return KILN_OK;
}

void kiln__dev_release(struct kiln_context *ctx, uint64_t n_bytes)
{
    KILN_ASSERT(ctx->mem.reserved >= n_bytes && ctx->mem.n_blocks > 0);
    ctx->mem.reserved -= n_bytes;
    ctx->mem.n_blocks--;
}

uint64_t kiln__dev_headroom(const struct kiln_context *ctx)
{
    const struct kiln_memory_stats *m = &ctx->mem;
    if (m->limit == 0) {
        return UINT64_MAX;
    }
    return m->reserved < m->limit ? m->limit - m->reserved : 0;
}

void kiln__dev_use(struct kiln_context *ctx, int64_t delta)
{
    KILN_ASSERT(delta >= 0 || ctx->mem.in_use >= (uint64_t)-delta);
    ctx->mem.in_use += (uint64_t)delta; /* modulo 2^64: adds or subtracts */
}

kiln_status kiln__fault_alloc(struct kiln_context *ctx, size_t n_bytes)
{
    if (++ctx->n_buffer_allocs != ctx->oom_at) {
        return KILN_OK;
    }
    return KILN_FAIL(KILN_E_OUT_OF_DEVICE_MEMORY,
                     "%s: out of device memory allocating a buffer of %zu bytes (buffer "
                     "allocation %lld failed as KILN_TEST_FAULT asks)",
                     ctx->be.ops->name, n_bytes, (long long)ctx->oom_at);
}

bool kiln__fault_lose(struct kiln_context *ctx)
{
    return ++ctx->n_fault_submits == ctx->lost_at;
}

/* Parses digits (at least one) at *p into *out, advancing *p; false on overflow. */
static bool parse_digits(const char **p, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    if (*s < '0' || *s > '9') {
        return false;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *out = v;
    return true;
}

bool kiln__parse_bytes(const char *v, uint64_t *out)
{
    uint64_t n;
    const char *p = v;
    if (v == NULL || !parse_digits(&p, &n)) {
        return false;
    }
    unsigned shift = *p == 'K' ? 10 : *p == 'M' ? 20 : *p == 'G' ? 30 : 0;
    p += shift > 0;
    if (*p != '\0' || n == 0 || n > (UINT64_MAX >> shift)) {
        return false;
    }
    *out = n << shift;
    return true;
}

bool kiln__parse_fault(const char *v, int64_t *oom_at, int64_t *lost_at)
{
    *oom_at = 0;
    *lost_at = 0;
    if (v == NULL || v[0] == '\0') {
        return true;
    }
    const char *p = v;
    for (;;) {
        int64_t *at = NULL;
        if (strncmp(p, "oom:", 4) == 0) {
            at = oom_at;
        } else if (strncmp(p, "lost:", 5) == 0) {
            at = lost_at;
        }
        uint64_t n;
        if (at == NULL) {
            return false;
        }
        p += at == oom_at ? 4 : 5;
        if (!parse_digits(&p, &n) || n == 0 || n > (uint64_t)INT64_MAX || *at != 0) {
            return false;
        }
        *at = (int64_t)n;
        if (*p == '\0') {
            return true;
        }
        if (*p++ != ',') {
            return false;
        }
    }
}

void kiln__context_set_fault(struct kiln_context *ctx, int op)
{
    ctx->fault_op = op;
    ctx->fault_src = -1;
    ctx->fault_pending = 0;
}

void kiln__context_set_fault_src(struct kiln_context *ctx, int op, int src)
{
    ctx->fault_op = op;
    ctx->fault_src = src;
    ctx->fault_pending = 0;
}
