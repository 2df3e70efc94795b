/*
 * golden.h - the op golden cases: shapes, parameters and input generators of every op
 * case whose PyTorch result is committed under tests/golden/data (see
 * tools/golden/README.md). golden_dump writes each case's inputs; make_goldens.py adds
 * PyTorch's outputs and gradients; test_golden runs the case on a backend and compares.
 */
#ifndef KILN_TEST_GOLDEN_H
#define KILN_TEST_GOLDEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph/graph_impl.h"
#include "io/safetensors.h"
#include "kiln.h"
#include "op_harness.h"

#define GD_S0                                                                                      \
    {                                                                                              \
        0,                                                                                         \
        {                                                                                          \
            0, 0, 0, 0                                                                             \
        }                                                                                          \
    }
#define GD_S1(a)                                                                                   \
    {                                                                                              \
        1,                                                                                         \
        {                                                                                          \
            a, 0, 0, 0                                                                             \
        }                                                                                          \
    }
#define GD_S2(a, b)                                                                                \
    {                                                                                              \
        2,                                                                                         \
        {                                                                                          \
            a, b, 0, 0                                                                             \
        }                                                                                          \
    }
#define GD_S3(a, b, c)                                                                             \
    {                                                                                              \
        3,                                                                                         \
        {                                                                                          \
            a, b, c, 0                                                                             \
        }                                                                                          \
    }
#define GD_S4(a, b, c, d)                                                                          \
    {                                                                                              \
        4,                                                                                         \
        {                                                                                          \
            a, b, c, d                                                                             \
        }                                                                                          \
    }

enum gd_gen_kind {
    GD_UNIFORM = 0,  /* U(lo, hi); lo = hi = 0 means U(-1, 1) */
    GD_AWAY,         /* magnitude U(lo, hi) with a random sign (denominators) */
    GD_LABELS,       /* i32 in [lo, hi) (wider than [0, C): invalid labels) */
    GD_TIES,         /* integers in [lo, hi] as floats: equal values (argmax ties) */
    GD_SIGMOID_OF,   /* sigmoid(U(lo, hi)): an output of SIGMOID */
    GD_TANH_OF,      /* tanh(U(lo, hi)): an output of TANH */
    GD_SOFTMAX_OF,   /* softmax of U(lo, hi) rows (last axis): an output of SOFTMAX */
    GD_LOGSOFTMAX_OF /* log-softmax of U(lo, hi) rows: an output of LOG_SOFTMAX */
};

struct gd_gen {
    int kind; /* enum gd_gen_kind */
    float lo, hi;
};

union gd_params {
    struct kiln__p_scale_shift ss;
    struct kiln__p_alpha alpha;
    struct kiln__p_matmul mm;
    struct kiln__p_transpose tr;
    struct kiln__p_reduce red;
    struct kiln__p_broadcast bc;
    struct kiln__p_reshape rs;
    struct kiln__p_sgd sgd;
    struct kiln__p_adam adam;
    struct kiln__p_rmsprop rms;
    struct kiln__p_adagrad ada;
    struct kiln__p_accum acc;
    unsigned char raw[KILN__PARAMS_BYTES];
};

enum {
    GD_NO_BWD = 1u << 0, /* forward only, even when the op has a backward rule */
};

struct gd_case {
    const char *name; /* file stem: data/<name>.safetensors */
    int op;           /* enum kiln_op */
    struct kiln_shape shape[OH_MAX_IN];
    uint32_t i32_mask;   /* bit i: input i is i32 */
    uint32_t const_mask; /* bit i: f32 input i gets no gradient */
    union gd_params p;   /* ADAM_UPDATE: bc1 and bc2 are set from step */
    struct gd_gen gen[OH_MAX_IN];
    uint32_t flags; /* GD_* */
    int step;       /* SGD_UPDATE / ADAM_UPDATE: the optimizer step t (1 = first) */
};

extern const struct gd_case gd_cases[];
extern const int gd_n_cases;

/* The case's params as the op node gets them (ADAM_UPDATE: bias corrections from step). */
void gd_params_of(const struct gd_case *c, union gd_params *out);

/* Number of inputs (the descriptor's n_in). */
int gd_n_in(const struct gd_case *c);

/* Whether the golden holds gradients: the op has a backward rule, the output is f32 and
 * the case does not say GD_NO_BWD. */
bool gd_has_backward(const struct gd_case *c);

/* Whether input i of c gets a gradient. */
bool gd_input_grad(const struct gd_case *c, int i);

/* Element count of a shape. */
int64_t gd_elems(const struct kiln_shape *s);

/* Fills input i (n_elems 4-byte elements) deterministically from the case name. */
void gd_fill_input(const struct gd_case *c, int i, void *dst);

/* Fills the loss weights W (loss = sum(y * W)), n elements, keyed by the file stem. */
void gd_fill_weights(const char *stem, int64_t n, float *dst);

/* Builds own case c on g as the harness builds its rows: leaves in0.. (parameters for
 * inputs with gradients), the op node y (kept), and when the case has gradients the
 * input w, loss = sum(y * w) and the backward nodes (gradients kept). [out] w: NULL
 * without gradients. */
kiln_status gd_build(kiln_graph *g, const struct gd_case *c, kiln_tensor **in, kiln_tensor **y,
                     kiln_tensor **w);

/* An op's params as a JSON object string for the metadata. step: the optimizer step
 * of the first update (SGD_UPDATE, ADAM_UPDATE). */
void gd_params_json(int op, const void *params, int step, char *buf, size_t n);

/* The params of a convolutional-network op (conv, pool, norm, layout, random families)
 * as JSON; "{}" for other ops. Called by gd_params_json. */
void gd_conv_params_json(int op, const void *params, char *buf, size_t n);

/* ---- Cases of the op harness (tests/op_harness.h) ---- */

struct oh_case;

/* File stem of harness case k of a family: "<family>/<op>_<note>" made file-safe, with
 * "_<n>" appended for the n-th row with the same stem. [out] buf. */
void gd_harness_stem(const char *family, const struct oh_case *cases, int k, char *buf, size_t n);

/* Sets the step-dependent params of an update node for step t, as src/train/optim.c. */
void gd_set_step(kiln_tensor *u, int t);

/* A fingerprint of g's forward graph up to y: the op names, source indices and shapes
 * of its nodes (not the op enum values, which move when ops are added). Stored in the
 * golden file as "graph_hash" so that the test notices a row whose custom build
 * changed. [out] out: two 32-bit halves. */
void gd_graph_hash(const kiln_graph *g, const kiln_tensor *y, int32_t out[2]);

#endif /* KILN_TEST_GOLDEN_H */
