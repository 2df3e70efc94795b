/*
 * context_impl.h - the context object: backend instance, host allocator, log sink,
 * options read from the environment, and counters. Internal helpers for host memory
 * and logging used by every part of the library.
 */
#ifndef KILN_CONTEXT_IMPL_H
#define KILN_CONTEXT_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend_impl.h"
#include "kiln/backend.h"
#include "status_impl.h"

/* One op's profile counters (kiln_context_set_profiling). */
struct kiln__prof_row {
    uint64_t nodes, dispatches, barriers, bytes;
    double seconds;
};

/* The profile: rows by op, and the row of launches made outside any node. */
#define KILN__PROF_OTHER KILN_OP_COUNT
struct kiln__prof {
    bool on;
    int32_t op; /* the op of the node being run, else KILN__PROF_OTHER */
    struct kiln__prof_row rows[KILN_OP_COUNT + 1];
};

struct kiln_context {
    /* ---- borrowed (never owned) ---- */
    struct kiln_allocator alloc; /* copied; its ud is borrowed */
    kiln_log_fn log;
    void *log_ud;
    /* ---- owned ---- */
    struct kiln_backend be;
    int check; /* 0, KILN__CHECK_FULL or KILN__CHECK_NAN */
    /* KILN_CHECK_REPAIR: bit op set when the shadow replaces that op's backend results
     * by the reference's after comparing them */
    uint64_t check_repair[2];
    kiln_log_level log_level;
    struct kiln_stats stats;
    struct kiln__prof prof;
    int n_graphs;
    int run_depth; /* open kiln__exec_begin brackets */
    /* test hook: the shadow treats the next result of this op as wrong (-1: off) */
    int fault_op;
    int fault_src; /* the written source of fault_op corrupted instead of its output (-1) */
    int fault_pending;
    /* the backend's device memory (kiln_context_memory), kept by the backends through
     * kiln__dev_reserve / kiln__dev_release and kiln__dev_use */
    struct kiln_memory_stats mem;
    /* KILN_TEST_FAULT: fail the oom_at-th buffer allocation, lose the device at the
     * lost_at-th submission (0: never); the counts so far */
    int64_t oom_at, lost_at;
    int64_t n_buffer_allocs, n_fault_submits;
};

enum {
    KILN__CHECK_FULL = 1, /* KILN_CHECK=1: shadow every node on the CPU reference */
    KILN__CHECK_NAN = 2,  /* KILN_CHECK=nan: stop at the first node with non-finite values */
};

/* Host memory through the context's allocator. kiln__alloc fails with
 * KILN_E_OUT_OF_HOST_MEMORY recorded (naming what) and returns NULL. */
void *kiln__alloc(struct kiln_context *ctx, size_t n_bytes, const char *what);
void *kiln__calloc(struct kiln_context *ctx, size_t n_bytes, const char *what);
void kiln__free(struct kiln_context *ctx, void *p);

/* ---- Device memory and injected faults (context.c) ---- */

/*
 * The pool of the backend takes n_bytes more from the driver (a block, a chunk, a CPU
 * buffer) for what: KILN_E_OUT_OF_DEVICE_MEMORY, naming what and the limit, when
 * KILN_MAX_DEVICE_MEMORY would be passed; else counts them as reserved.
 */
kiln_status kiln__dev_reserve(struct kiln_context *ctx, uint64_t n_bytes, const char *what);
/* The pool gave n_bytes back to the driver. */
void kiln__dev_release(struct kiln_context *ctx, uint64_t n_bytes);
/* Bytes the pool may still reserve under KILN_MAX_DEVICE_MEMORY (UINT64_MAX: no limit),
 * so that a pool sizes its next block to fit. */
uint64_t kiln__dev_headroom(const struct kiln_context *ctx);
/* Live buffers grew (delta > 0) or shrank by |delta| bytes. */
void kiln__dev_use(struct kiln_context *ctx, int64_t delta);
/* Called by every backend's buffer_alloc first: KILN_E_OUT_OF_DEVICE_MEMORY when
 * KILN_TEST_FAULT=oom:N names this allocation, else KILN_OK. */
kiln_status kiln__fault_alloc(struct kiln_context *ctx, size_t n_bytes);
/* Called by a GPU backend at each submission (what kiln_stats counts): true when
 * KILN_TEST_FAULT=lost:N names this one, and the backend must then fail it as its
 * driver reports a lost device (VK_ERROR_DEVICE_LOST, CL_OUT_OF_RESOURCES). */
bool kiln__fault_lose(struct kiln_context *ctx);
/* Parses KILN_TEST_FAULT ("oom:N", "lost:N", or both, comma-separated; N >= 1) into
 * *oom_at and *lost_at (0 when absent). Returns false when malformed. */
bool kiln__parse_fault(const char *v, int64_t *oom_at, int64_t *lost_at);
/* Parses KILN_MAX_DEVICE_MEMORY: bytes, optionally with a K, M or G suffix (KiB, MiB,
 * GiB), at least 1. Returns false when malformed. */
bool kiln__parse_bytes(const char *v, uint64_t *out);

/* Test hook for KILN_CHECK: corrupt the shadowed result of op (-1 disables). */
void kiln__context_set_fault(struct kiln_context *ctx, int op);
/* The same for the source src that op writes (KILN__OPF_ALSO_WRITES: a rider) instead of
 * its output. */
void kiln__context_set_fault_src(struct kiln_context *ctx, int op, int src);

/* KILN_CHECK_REPAIR's list of op names ("all" or comma-separated) as op bits. */
kiln_status kiln__parse_repair(const char *env, uint64_t bits[2]);

/* Checks the KILN_* variables that a context created with opt would read (src/env.c). */
kiln_status kiln__env_check_context(const struct kiln_context_options *opt);

/* Counts a kernel launch, and charges it to the running node's op when profiling. */
static inline void kiln__count_dispatch(struct kiln_context *ctx)
{
    ctx->stats.dispatches++;
    if (ctx->prof.on) {
        ctx->prof.rows[ctx->prof.op].dispatches++;
    }
}

/* Counts a barrier between launches, likewise. */
static inline void kiln__count_barrier(struct kiln_context *ctx)
{
    ctx->stats.barriers++;
    if (ctx->prof.on) {
        ctx->prof.rows[ctx->prof.op].barriers++;
    }
}

/* Charges seconds of device time to op's row (KILN__PROF_OTHER: outside nodes). */
static inline void kiln__prof_time(struct kiln_context *ctx, int32_t op, double seconds)
{
    if (op >= 0 && op <= KILN__PROF_OTHER) {
        ctx->prof.rows[op].seconds += seconds;
    }
}

void kiln__log(struct kiln_context *ctx, kiln_log_level level, const char *fmt, ...)
    KILN__PRINTF(3, 4);

#endif /* KILN_CONTEXT_IMPL_H */
