/*
 * context_impl.h - the context object: backend instance, host allocator, log sink,
 * options read from the environment, and counters. Internal helpers for host memory
 * and logging used by every part of the library.
 */
#ifndef KILN_CONTEXT_IMPL_H
#define KILN_CONTEXT_IMPL_H

#include <stddef.h>

#include "backend_impl.h"
#include "kiln/backend.h"
#include "status_impl.h"

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
    int n_graphs;
    int run_depth; /* open kiln__exec_begin brackets */
    /* test hook: the shadow treats the next result of this op as wrong (-1: off) */
    int fault_op;
    int fault_pending;
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

/* Test hook for KILN_CHECK: corrupt the shadowed result of op (-1 disables). */
void kiln__context_set_fault(struct kiln_context *ctx, int op);

/* KILN_CHECK_REPAIR's list of op names ("all" or comma-separated) as op bits. */
kiln_status kiln__parse_repair(const char *env, uint64_t bits[2]);

/* Checks the KILN_* variables that a context created with opt would read (src/env.c). */
kiln_status kiln__env_check_context(const struct kiln_context_options *opt);

void kiln__log(struct kiln_context *ctx, kiln_log_level level, const char *fmt, ...)
    KILN__PRINTF(3, 4);

#endif /* KILN_CONTEXT_IMPL_H */
