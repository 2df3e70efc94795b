/*
 * selfcheck_impl.h - the cases of kiln_selfcheck (selfcheck_cases.c) and what the
 * runner (selfcheck.c) needs to know of each: the op reported, the inputs (shapes,
 * dtypes, value ranges, which get gradients, which an in-place update writes) and a
 * builder that makes the case's output from its leaves.
 */
#ifndef KILN_SELFCHECK_IMPL_H
#define KILN_SELFCHECK_IMPL_H

#include <stdint.h>

#include "../graph/graph_impl.h"

#define KILN__SC_MAX_IN 4

struct kiln__sc_case {
    int op;           /* the op the case is about (enum kiln_op) */
    const char *note; /* what it is about */
    int n_in;
    struct kiln_shape shape[KILN__SC_MAX_IN];
    uint32_t i32_mask;     /* bit i: input i is i32, drawn from [0, labels) */
    uint32_t grad_mask;    /* bit i: f32 input i is a parameter whose gradient is compared */
    uint32_t inplace_mask; /* bit i: input i is written (in place, or a rider); compared */
    int32_t labels;
    float lo, hi; /* f32 inputs: U(lo, hi) */
    int steps;    /* runs of the graph (0: 1) */
    /* store buffers written by the case (batch norm's running statistics), compared */
    const char *buffers[2];
    /* the case's output from its leaves; it may be empty (in-place updates) */
    kiln_tensor *(*build)(kiln_graph *g, kiln_tensor *const *in);
};

extern const struct kiln__sc_case kiln__sc_cases[];
extern const int32_t kiln__sc_n_cases;

#endif /* KILN_SELFCHECK_IMPL_H */
