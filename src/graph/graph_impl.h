/*
 * graph_impl.h - the tensor (node) and graph structs, shared by the graph builders,
 * autodiff, the planner and executor, the op families and the backends.
 */
#ifndef KILN_GRAPH_IMPL_H
#define KILN_GRAPH_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "../context_impl.h"
#include "../ops/op_desc.h"
#include "kiln/graph.h"
#include "kiln/optim.h"

enum {
    KILN__F_INPUT = 1u << 0, /* uploaded by the caller */
    KILN__F_PARAM = 1u << 1, /* trainable parameter */
    KILN__F_STATE = 1u << 2, /* optimizer state (zeroed at compile) */
    KILN__F_CONST = 1u << 3, /* constant leaf filled at compile */
    KILN__F_KEEP = 1u << 4,  /* never reused by the planner */
    KILN__F_NEEDS_GRAD = 1u << 5,
    KILN__F_BACKWARD = 1u << 6, /* appended by autodiff */
    KILN__F_UPDATE = 1u << 7,   /* appended by an optimizer */
    KILN__F_POISON = 1u << 8,   /* result of a failed builder */
    /* A non-trainable leaf saved and loaded with the parameters and initialized with
     * them (PyTorch's module buffers: batch norm's running statistics). */
    KILN__F_BUFFER = 1u << 9,
};

struct kiln_tensor {
    /* ---- borrowed (never owned) ---- */
    struct kiln_graph *graph;
    struct kiln_tensor **src; /* n_src sources: src_inline, or an owned array beyond it */
    struct kiln_tensor *grad;
    struct kiln_tensor *view_root; /* the tensor whose storage a view aliases, else self */
    struct kiln_buffer *buf;       /* set at compile */
    /* ---- owned ---- */
    int32_t id;
    int32_t op; /* enum kiln_op or KILN__OP_LEAF */
    kiln_dtype dtype;
    uint32_t flags;
    int32_t n_src;
    struct kiln_tensor *src_inline[KILN__SRC_INLINE];
    struct kiln_shape shape;
    int64_t n_elems;
    _Alignas(8) unsigned char params[KILN__PARAMS_BYTES];
    char name[64];
    size_t offset;      /* byte offset in buf */
    size_t view_offset; /* a view's byte offset in view_root's storage (else 0) */
    int32_t last_use;   /* id of the last node reading this storage */
    /* leaves: initializer */
    kiln_init init;
    float init_arg;
    uint64_t init_seed;
    uint64_t init_stream;
};

struct kiln_optimizer {
    struct kiln_graph *graph;
    struct kiln_optim_options opt;
    int64_t steps;
    int32_t n_updates;
    struct kiln_tensor **updates; /* owned array; the nodes belong to the graph */
};

struct kiln_graph {
    /* ---- borrowed (never owned) ---- */
    struct kiln_context *ctx;
    /* ---- owned ---- */
    struct kiln_tensor **nodes;
    int32_t n_nodes, cap_nodes;
    struct kiln_tensor poison; /* returned by failed builders */
    kiln_status status;        /* first build error */
    char status_msg[512];
    bool differentiated, compiled;
    int training; /* 1 during kiln_graph_run, 0 during kiln_graph_eval */
    /* Training runs so far, counting the one in progress: kiln_graph_run increments it
     * before running any node, so kernels read 1 on the first run. Dropout uses it as
     * the Philox stream, so masks change every step yet are a pure function of
     * (seed, run_count, index) on every backend. */
    uint64_t run_count;
    struct kiln_buffer *arena, *persist;
    size_t arena_bytes, persist_bytes;
    struct kiln_optimizer **optims;
    int32_t n_optims;
    uint64_t n_params;
    unsigned char *run_mask; /* scratch for eval */
    size_t guard_bytes;      /* test option: canary gap after every tensor (0: none) */
};

/* ---- Builder helpers (src/graph/graph.c) ---- */

/* Records the first build error on g (with message) and returns the poison tensor. */
struct kiln_tensor *kiln__graph_fail(kiln_graph *g, kiln_status s, const char *fmt, ...)
    KILN__PRINTF(3, 4);

/*
 * Appends a node for op with the given sources and params, runs its shape inference,
 * and returns it; on any failure (poisoned source, bad shape, out of memory) records
 * the error and returns the poison tensor.
 */
struct kiln_tensor *kiln__node(kiln_graph *g, int op, int n_src, struct kiln_tensor *const *src,
                               const void *params, size_t params_bytes);

/* Appends a leaf with flags. */
struct kiln_tensor *kiln__leaf(kiln_graph *g, const char *name, kiln_dtype dt,
                               const struct kiln_shape *shape, uint32_t flags);

static inline bool kiln__needs_grad(const struct kiln_tensor *t)
{
    return t != NULL && (t->flags & KILN__F_NEEDS_GRAD) != 0;
}

static inline const void *kiln__params(const struct kiln_tensor *t)
{
    return t->params;
}

/* Whether node t aliases another tensor's storage (no kernel runs for it). */
static inline bool kiln__is_view(const struct kiln_tensor *t)
{
    return t->op != KILN__OP_LEAF && t->view_root != t;
}

/* Shape helpers. */
int64_t kiln__shape_elems(const struct kiln_shape *s);
bool kiln__shape_eq(const struct kiln_shape *a, const struct kiln_shape *b);
/* "[2, 3, 4]" into buf. */
const char *kiln__shape_str(const struct kiln_shape *s, char *buf, size_t n);

/* Gradient accumulation used by autodiff and backward rules: a + b, or the non-NULL. */
struct kiln_tensor *kiln__grad_add(kiln_graph *g, struct kiln_tensor *a, struct kiln_tensor *b);

/* Sums dy over the dims where target was broadcast, and reshapes it to target's shape. */
struct kiln_tensor *kiln__unbroadcast(kiln_graph *g, struct kiln_tensor *dy,
                                      const struct kiln_tensor *target);

/* ---- Optimizers (src/train/optim.c) ---- */

/* Writes the step-dependent params (learning rate, step, bias corrections) of every
 * update node of o for its next step. */
void kiln__optimizer_prepare(struct kiln_optimizer *o);

/* ---- Guard bands (src/graph/plan.c; used by the op tests) ---- */

/*
 * Makes the planner leave a gap of at least bytes after every tensor (and before the
 * first) in both device buffers and fill every byte that no tensor owns with a canary
 * pattern (a NaN when read as f32) at compile. Call before kiln_graph_compile.
 * Returns KILN_OK or KILN_E_STATE (already compiled).
 */
kiln_status kiln__graph_set_guard(kiln_graph *g, size_t bytes);

/*
 * Downloads both buffers of a compiled graph and checks that every byte outside every
 * tensor still holds the canary. Fails with KILN_E_CHECK naming the tensor whose guard
 * was overwritten (the nearest tensor ending before the byte), the byte's distance past
 * its end and the value found. KILN_OK when guards are off.
 */
kiln_status kiln__graph_check_guards(kiln_graph *g);

/* ---- Executor (src/graph/exec.c) ---- */

/* Runs one node on the backend, with the KILN_CHECK shadow when enabled. */
kiln_status kiln__exec_node(kiln_graph *g, struct kiln_tensor *n);

/* Fills a leaf's initial host data (parameters, constants, zeros). [out] host: n_bytes. */
kiln_status kiln__leaf_init_data(const struct kiln_tensor *t, float *host);

#endif /* KILN_GRAPH_IMPL_H */
