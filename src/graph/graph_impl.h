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
#include "store_impl.h"

enum {
    KILN__F_INPUT = 1u << 0, /* uploaded by the caller */
    KILN__F_PARAM = 1u << 1, /* trainable parameter */
    KILN__F_CONST = 1u << 3, /* constant leaf filled at compile */
    KILN__F_KEEP = 1u << 4,  /* never reused by the planner */
    KILN__F_NEEDS_GRAD = 1u << 5,
    KILN__F_BACKWARD = 1u << 6, /* appended by autodiff */
    KILN__F_POISON = 1u << 8,   /* result of a failed builder */
    /* A non-trainable leaf saved and loaded with the parameters and initialized with
     * them (PyTorch's module buffers: batch norm's running statistics). */
    KILN__F_BUFFER = 1u << 9,
    KILN__F_SHARED = 1u << 10, /* a store tensor graphs hand to each other (kiln_assign) */
    KILN__F_FROZEN = 1u << 11, /* a store parameter without a gradient in this graph */
    /* An ACCUMULATE adding a parameter's gradient into the store (autodiff). */
    KILN__F_GRAD_SINK = 1u << 12,
};

struct kiln_tensor {
    /* ---- borrowed (never owned) ---- */
    struct kiln_graph *graph;
    struct kiln_tensor **src; /* n_src sources: src_inline, or an owned array beyond it */
    struct kiln_tensor *grad;
    struct kiln_tensor *view_root; /* the tensor whose storage a view aliases, else self */
    struct kiln_buffer *buf;       /* set at compile */
    /* A rider: a node whose storage the kernel of node writer (an op with
     * KILN__OPF_ALSO_WRITES, set by the fusion pass) fills, NULL for every other node.
     * writer lists the rider among its sources at a bit of its op's inplace_mask;
     * writer->id > id and no node between the two reads the rider. A run that runs
     * writer runs no kernel for the rider; one that leaves writer out (kiln_graph_eval
     * of the rider alone) runs the rider's own op. */
    struct kiln_tensor *writer;
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
    /* leaves: initializer (graph-owned constants; store entries keep their own) */
    kiln_init init;
    float init_arg;
    uint64_t init_seed;
    uint64_t init_stream;
    /* leaves bound to parameter-store storage: the entry (NULL for a raw range), the part
     * (enum kiln__part; KILN__PART_NONE for every other tensor), and where, once known */
    struct kiln__entry *entry; /* borrowed */
    int32_t part;
    int32_t seg;
    int64_t soff; /* element offset in the segment's part buffer */
    /* A gradient sink whose source's storage can be the store's gradient itself: when a
     * run starts with the store's gradients at zero, that tensor (borrowed) is computed
     * straight into the store and the sink is skipped (src/graph/exec.c). */
    struct kiln_tensor *direct;
    struct kiln_buffer *plan_buf; /* the planned storage of a direct tensor */
    size_t plan_offset;
    /* kiln_constant leaves: their host data (n_bytes, owned), uploaded at compile */
    void *const_data;
};

#define KILN__MAX_FROZEN 8

struct kiln_graph {
    /* ---- borrowed (never owned) ---- */
    struct kiln_context *ctx;
    /* ---- optionally owned (see owns_store) ---- */
    struct kiln_store *store;
    bool owns_store;
    /* ---- owned ---- */
    struct kiln_tensor **nodes;
    int32_t n_nodes, cap_nodes;
    struct kiln_tensor poison; /* returned by failed builders */
    kiln_status status;        /* first build error */
    char status_msg[512];
    bool differentiated, compiled;
    int training; /* 1 during kiln_graph_run, 0 during kiln_graph_eval */
    /* The store's training-run count for the run in progress: kiln_graph_run
     * increments the store's count and copies it here before running any node, so
     * kernels read 1 on the first run of the store. Dropout uses it as the Philox
     * stream, so masks change every step of any graph of the store yet are a pure
     * function of (seed, run_count, index) on every backend. */
    uint64_t run_count;
    struct kiln_buffer *arena, *persist;
    size_t arena_bytes, persist_bytes;
    char frozen[KILN__MAX_FROZEN][KILN_MAX_NAME]; /* kiln_graph_freeze prefixes */
    int32_t n_frozen;
    bool has_grads;          /* a backward pass adds gradients into the store */
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

/* Whether node n's kernel writes its source i: the sources of an in-place op, and those
 * of an op with KILN__OPF_ALSO_WRITES (its riders), as the op's inplace_mask says. */
static inline bool kiln__writes_src(const struct kiln_tensor *n, int i)
{
    if (n->op == KILN__OP_LEAF) {
        return false;
    }
    const struct kiln__op_desc *d = kiln__ops[n->op];
    return (d->flags & (KILN__OPF_INPLACE | KILN__OPF_ALSO_WRITES)) &&
           (d->inplace_mask & (1u << i));
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

/* An in-place ACCUMULATE node: dst = alpha dst + beta x (src/ops/optim.c). */
struct kiln_tensor *kiln__accumulate(kiln_graph *g, struct kiln_tensor *dst, struct kiln_tensor *x,
                                     float alpha, float beta);

/* A leaf of g bound to n elements of part (enum kiln__part) of store segment seg from
 * element off: the flat views optimizers and gradient clearing run over. */
struct kiln_tensor *kiln__store_range(kiln_graph *g, int32_t seg, int part, int64_t off, int64_t n);

/* ---- Fusion (src/graph/fuse.c) ---- */

/*
 * Rewrites pairs of nodes of g that the backend can run as one fused op (the patterns
 * are listed in fuse.c): the first node takes the fused op, the second becomes a view
 * of it. Nothing on the CPU backends. Called by kiln_graph_compile after every node's
 * kernel was found and before memory is planned. Returns KILN_OK or
 * KILN_E_OUT_OF_HOST_MEMORY (the graph is then unchanged).
 */
kiln_status kiln__graph_fuse(kiln_graph *g);

/*
 * Makes rider a rider of writer (the writer field above): appends rider to writer's
 * sources, at a slot that writer's op (KILN__OPF_ALSO_WRITES) marks in its inplace_mask,
 * and sets rider->writer. Refuses (returns false, g unchanged) unless rider is a node
 * (not a leaf, not a view, not yet a rider or store storage) before writer, no node
 * between them reads it, and the op's infer and the backend accept writer with the new
 * source. The fusion pass calls it (as ride) once it counted its readers: the counts do
 * not include the new slot. The caller makes sure that writer's kernel computes what
 * rider's op would (same inputs, holding the same values). Also used by the tests.
 */
bool kiln__ride(kiln_graph *g, struct kiln_tensor *writer, struct kiln_tensor *rider);

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

/* Brackets runs that the backend records into one submission: nested pairs submit at
 * the outermost end. */
kiln_status kiln__exec_begin(struct kiln_context *ctx);
kiln_status kiln__exec_end(struct kiln_context *ctx, kiln_status s);

/* Runs every node of compiled g in training mode without counting a training run of
 * the store (the internal graphs of optimizers and gradient clearing). */
kiln_status kiln__graph_exec(kiln_graph *g);

/*
 * An observer of one training run (the data-parallel gradient reduction). begin is
 * called once the gradients are routed and before the first node runs; direct: the run
 * computes the gradients straight into the store (kiln__exec_runs says which nodes run
 * then). node_done is called on the host after node i has run, in plan order; on a
 * backend that runs nodes on the host as they are issued (the CPU backend), whatever
 * node i wrote is in memory then. A status other than KILN_OK stops the run with it.
 */
struct kiln__run_observer {
    kiln_status (*begin)(void *ud, kiln_graph *g, bool direct);
    kiln_status (*node_done)(void *ud, kiln_graph *g, int32_t i);
    void *ud; /* borrowed */
};

/* Whether node i of g runs (and node_done hears of it) in a training run with direct. */
bool kiln__exec_runs(const kiln_graph *g, int32_t i, bool direct);

/* kiln_graph_run with an observer (NULL: none). [in] obs: borrowed for the call. */
kiln_status kiln__graph_run_observed(kiln_graph *g, const struct kiln__run_observer *obs);

/* Fills a graph-owned leaf's initial host data (constants, zeros). [out] host: n_bytes. */
kiln_status kiln__leaf_init_data(const struct kiln_tensor *t, float *host);

#endif /* KILN_GRAPH_IMPL_H */
