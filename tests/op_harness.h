/*
 * op_harness.h - the data-driven op test harness (STYLE B.9).
 *
 * A case row names an op, the shapes and dtypes of its inputs, its params, how each
 * input is generated and, optionally, a tolerance that replaces the op's descriptor
 * tolerance. The harness builds a small graph for the row (float inputs that carry a
 * gradient are parameters), runs it on the backend under test and on the CPU backend
 * with identical input data, and compares the output; then it compares the gradient
 * of loss = sum(output * W) (W fixed random weights) with respect to every parameter.
 * In-place optimizer updates are run for the row's number of steps and their updated
 * parameter and state tensors are compared; so are the inputs that an op with
 * KILN__OPF_ALSO_WRITES writes (its riders; i32 ones exactly). Every graph is compiled
 * with guard bands (kiln__graph_set_guard), checked after each run.
 *
 * Tolerances: outputs and updated tensors use the row's tol, else the loosest
 * descriptor tolerance of the case's forward nodes (the op's own, unless a custom build
 * adds others); gradients use the loosest of that and the descriptor tolerances of
 * every backward node (a gradient is as exact as the least exact op that computed it).
 *
 * Rows live in tests/ops/test_<family>.c, one table per family, with the double-precision
 * evaluators of the family's ops (struct oh_eval; ref64.h). Adding a family: its file
 * defining oh_family_<family>, its extern below, its entry in oh_families[]
 * (op_harness.c) and its file in tests/meson.build and tests/golden/meson.build;
 * test_ops makes its TCase. Adding an op: add rows for it (odd and prime sizes, one
 * larger than a workgroup, the broadcasting or axis patterns it takes, its special
 * values) and its evaluator with its forward tolerance class to its family's table (the
 * ops from before that table existed have theirs in tests/ref64_ops.c); the coverage
 * check fails until both exist.
 * Run one family with CK_RUN_CASE=<family>, one op's rows with KILN_TEST_OP=<op name>
 * (e.g. matmul), a named subset with KILN_TEST_SUBSET=<name> (oh_in_subset), without
 * fork with CK_FORK=no; KILN_TEST_VERBOSE=1 prints every comparison's errors next to its
 * tolerance, KILN_TEST_PIPELINES=1 (vulkan) the shaders each case dispatched.
 */
#ifndef KILN_TEST_OP_HARNESS_H
#define KILN_TEST_OP_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph/compare.h"
#include "graph/graph_impl.h"
#include "kiln.h"

/* Inputs of one case row at most (rows of variadic ops say how many they use). */
#define OH_MAX_IN 8

/* ---- Shapes in table rows ---- */

#define OH_S0                                                                                      \
    {                                                                                              \
        0,                                                                                         \
        {                                                                                          \
            0, 0, 0, 0                                                                             \
        }                                                                                          \
    }
#define OH_S1(a)                                                                                   \
    {                                                                                              \
        1,                                                                                         \
        {                                                                                          \
            a, 0, 0, 0                                                                             \
        }                                                                                          \
    }
#define OH_S2(a, b)                                                                                \
    {                                                                                              \
        2,                                                                                         \
        {                                                                                          \
            a, b, 0, 0                                                                             \
        }                                                                                          \
    }
#define OH_S3(a, b, c)                                                                             \
    {                                                                                              \
        3,                                                                                         \
        {                                                                                          \
            a, b, c, 0                                                                             \
        }                                                                                          \
    }
#define OH_S4(a, b, c, d)                                                                          \
    {                                                                                              \
        4,                                                                                         \
        {                                                                                          \
            a, b, c, d                                                                             \
        }                                                                                          \
    }
#define OH_S5(a, b, c, d, e)                                                                       \
    {                                                                                              \
        5,                                                                                         \
        {                                                                                          \
            a, b, c, d, e                                                                          \
        }                                                                                          \
    }
#define OH_S6(a, b, c, d, e, f)                                                                    \
    {                                                                                              \
        6,                                                                                         \
        {                                                                                          \
            a, b, c, d, e, f                                                                       \
        }                                                                                          \
    }
#define OH_S7(a, b, c, d, e, f, g)                                                                 \
    {                                                                                              \
        7,                                                                                         \
        {                                                                                          \
            a, b, c, d, e, f, g                                                                    \
        }                                                                                          \
    }
#define OH_S8(a, b, c, d, e, f, g, h)                                                              \
    {                                                                                              \
        8,                                                                                         \
        {                                                                                          \
            a, b, c, d, e, f, g, h                                                                 \
        }                                                                                          \
    }

/* ---- Input generators ---- */

enum oh_gen_kind {
    OH_UNIFORM = 0, /* U(lo, hi); lo = hi = 0 means U(-1, 1) */
    OH_AWAY,        /* magnitude U(lo, hi) with a random sign (denominators) */
    OH_SPECIAL,     /* the row's special values in turn, U(-2, 2) between them */
    OH_LABELS,      /* i32 in [lo, hi) (a range wider than [0, C) tests invalid labels) */
    OH_TIES,        /* integers in [lo, hi]: many equal values (argmax ties) */
};

struct oh_gen {
    int kind; /* enum oh_gen_kind */
    float lo, hi;
};

#define OH_MAX_SPECIAL 8

/* ---- Rows ---- */

union oh_params {
    struct kiln__p_scale_shift ss;
    struct kiln__p_alpha alpha;
    struct kiln__p_matmul mm;
    struct kiln__p_matmul_bias mmb;
    struct kiln__p_matmul_relu_bwd mmr;
    struct kiln__p_matmul_db mmd;
    struct kiln__p_transpose tr;
    struct kiln__p_reduce red;
    struct kiln__p_broadcast bc;
    struct kiln__p_reshape rs;
    struct kiln__p_sgd sgd;
    struct kiln__p_adam adam;
    struct kiln__p_rmsprop rms;
    struct kiln__p_adagrad ada;
    struct kiln__p_accum acc;
    struct kiln__p_conv2d conv;
    struct kiln__p_pool2d pool;
    struct kiln__p_upsample up;
    struct kiln__p_bn bn;
    struct kiln__p_lrn lrn;
    struct kiln__p_concat cat;
    struct kiln__p_slice sl;
    struct kiln__p_pad pad;
    struct kiln__p_dropout drop;
    struct kiln__p_rnn rnn;
    /* The params of the op_list.h rows that declare theirs (KILN_OP_P): .p.<tag>. */
#define KILN_OP(name, family, n_in)
#define KILN_OP_P(name, family, n_in, tag, fields) struct kiln__p_##tag tag;
#include "ops/op_list.h"
#undef KILN_OP_P
#undef KILN_OP
    unsigned char raw[KILN__PARAMS_BYTES];
};

enum {
    OH_NO_BWD = 1u << 0,    /* forward only, even when the op has a backward rule */
    OH_FINITE = 1u << 1,    /* every output must be finite (no overflow to inf/nan) */
    OH_NO_FD = 1u << 2,     /* skip the finite-difference check (kinks, special values) */
    OH_NO_DOUBLE = 1u << 3, /* skip the double-precision forward check */
    OH_EVAL = 1u << 4,      /* forward only, in inference mode (kiln_graph_eval) */
    /* every backend's output and gradients must equal the CPU's bit for bit (ops that
     * promise the reference's order of summation); goldens keep the tolerance */
    OH_BITWISE = 1u << 5,
};

struct oh_case;

/* A row's custom graph: builds the case's output from its leaves (NULL: one kiln__node
 * of the row's op with the row's params). Used for public builders that emit several
 * nodes (matmul of rank 3 by rank 2, mean, flatten) and for views of intermediates. */
typedef kiln_tensor *(*oh_build_fn)(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c);

struct oh_case {
    int op;           /* enum kiln_op: the op under test */
    const char *note; /* what the row is about */
    int n_in;         /* 0: the descriptor's n_in */
    struct kiln_shape shape[OH_MAX_IN];
    uint32_t i32_mask;   /* bit i: input i is i32 */
    uint32_t const_mask; /* bit i: f32 input i is a plain input (no gradient) */
    union oh_params p;
    struct oh_gen gen[OH_MAX_IN];
    float special[OH_MAX_SPECIAL];
    int n_special;
    uint32_t flags;              /* OH_* */
    int steps;                   /* in-place updates: runs (0 = 1) */
    const struct kiln__tol *tol; /* NULL: the descriptor's tolerance */
    oh_build_fn build;
};

/* Evaluates node n in double (tests/ref64.h). in[i]: the values of n's sources (i32 data
 * as integer values); out: n->n_elems values. In-place updates write their inputs (the
 * bits of inplace_mask) instead, at step t (1-based). */
typedef void (*oh_eval_fn)(const struct kiln_tensor *n, double *const *in, double *out, int t);

/* An op's double-precision evaluator and its forward tolerance class (ref64.h). */
struct oh_eval {
    int op; /* enum kiln_op */
    oh_eval_fn eval;
    struct kiln__tol tol;
};

struct oh_family {
    const char *name;
    const struct oh_case *cases;
    int n_cases;
    const struct oh_eval *evals; /* the family's ops' evaluators (NULL: in ref64_ops.c) */
    int n_evals;
};

/* The family tables (tests/ops/test_<family>.c). */
extern const struct oh_family oh_family_binary, oh_family_unary, oh_family_gemm, oh_family_shape,
    oh_family_reduce, oh_family_loss, oh_family_optim, oh_family_conv, oh_family_pool,
    oh_family_norm, oh_family_layout, oh_family_random, oh_family_index, oh_family_rnn,
    oh_family_layernorm;

/* All families, NULL-terminated. */
extern const struct oh_family *const oh_families[];

/* ---- Running cases ---- */

struct oh_env {
    kiln_context *be;  /* the backend under test */
    kiln_context *cpu; /* the CPU reference */
    const char *backend;
    size_t guard_bytes; /* guard band after every tensor (0: off) */
};

/* Ops seen in any node of any case graph built so far (coverage). */
extern unsigned char oh_ops_seen[KILN_OP_COUNT];

/* Cases whose graph the backend under test cannot compile because an op has no kernel
 * there (KILN_E_UNSUPPORTED with an empty kernel-table entry; a supports() refusal
 * fails the case). oh_run_case prints each and counts it as passed; the
 * test program reports them as a SKIP. Counted in this process only. */
extern int oh_n_unsupported;

/* Fills host data for input i of case c (deterministic in (c, i, salt)). [out] dst:
 * n_elems 4-byte elements (float or int32 as the row says). */
void oh_fill_input(const struct oh_case *c, int i, uint64_t salt, void *dst);

/* The fixed random weights W of loss = sum(y * W) for a case whose output has n
 * elements, the same on every backend. */
void oh_fill_weights(const struct oh_case *c, int64_t n, float *dst);

/* The case's shape list for messages: "f32 [3, 5], i32 [3]". */
const char *oh_case_desc(const struct oh_case *c, char *buf, size_t n);

/*
 * Runs case c on env->be and env->cpu and compares outputs, gradients and updated
 * tensors. Returns true when everything agrees (or the backend lacks a kernel the case
 * needs: see oh_n_unsupported); otherwise writes a message naming the op, dtypes,
 * shapes, backend, tensor, worst index and both values to msg.
 */
bool oh_run_case(const struct oh_env *env, const struct oh_case *c, char *msg, size_t n);

/*
 * Builds the case graph on ctx: leaves (parameters for inputs with gradients), the
 * row's op, and, when the op has a backward rule and the row allows it, loss =
 * sum(y * W) and the backward nodes. Records every node's op in oh_ops_seen.
 * [out] in: the leaves; [out] y: the case's output; [out] w: the weight input or NULL.
 */
kiln_status oh_build(kiln_graph *g, const struct oh_case *c, kiln_tensor **in, kiln_tensor **y,
                     kiln_tensor **w);

/* One case run on one context: the graph, its tensors and what was downloaded. */
struct oh_side {
    kiln_graph *g;
    kiln_tensor *in[OH_MAX_IN], *y, *w;
    void *out;                 /* y's data (NULL when y is empty) */
    void *grad[OH_MAX_IN];     /* d loss / d in[i], NULL when none */
    void *upd[OH_MAX_IN];      /* inputs the op wrote (in place or as riders), last step */
    struct kiln__tol out_tol;  /* the row's, else the loosest of the forward nodes */
    struct kiln__tol grad_tol; /* the loosest of out_tol and the backward nodes' */
    bool unsupported;          /* compile said KILN_E_UNSUPPORTED (a missing kernel) */
};

/*
 * Builds case c on ctx, compiles it (with env's guard bands), uploads data[i] to input
 * i and W, runs it (the row's number of steps for in-place updates, with the gradient
 * input refilled with salt t at step t > 1), checks the guards and downloads the
 * output, the gradients and the updated inputs into *sd. On failure writes msg and
 * returns false; release *sd with oh_side_free in both cases.
 */
bool oh_run_side(kiln_context *ctx, const struct oh_env *env, const struct oh_case *c,
                 void *const *data, struct oh_side *sd, char *msg, size_t n);
void oh_side_free(struct oh_side *sd);

/* Whether the harness differentiates case c (the op has a backward rule, the output is
 * f32 and non-empty, and the row does not say OH_NO_BWD). */
bool oh_has_backward(const struct oh_case *c);

/* The number of inputs of c. */
int oh_n_in(const struct oh_case *c);

/* Whether case c belongs to the named subset of the matrix (KILN_TEST_SUBSET). "gpuav":
 * the rows run under GPU-assisted validation, which together dispatch every Vulkan
 * shader the whole matrix dispatches, with more than one workgroup wherever some row
 * does (test_ops on vulkan checks this after the whole matrix). Unknown names: false. */
bool oh_in_subset(const struct oh_case *c, const char *subset);

#endif /* KILN_TEST_OP_HARNESS_H */
