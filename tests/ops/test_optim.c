/*
 * test_optim.c - case rows for the in-place updates: SGD (plain, momentum, dampening,
 * Nesterov, weight decay), Adam/AdamW, RMSprop and Adagrad, one step and several steps
 * (a new gradient each step), SGD and Adam also with the gradient zeroed once read (the
 * optimizer's form), on odd sizes and sizes larger than a workgroup, and the in-place
 * accumulate of the parameter store (sum, clear, copy, scaled sum). The updated
 * parameter and state tensors are compared.
 */
#include "../op_harness.h"

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -1.0f, 1.0f                                                                    \
    }
#define V01                                                                                        \
    {                                                                                              \
        OH_UNIFORM, 0.0f, 0.1f                                                                     \
    } /* Adam's second moment is >= 0 */

#define SGD(s, lr, mom, damp, wd, nest, st, nt)                                                    \
    {                                                                                              \
        .op = KILN_OP_SGD_UPDATE, .note = nt, .shape = {s, s, s},                                  \
        .p.sgd = {lr, mom, damp, wd, nest, 1, 0}, .gen = {U, U, U}, .steps = st,                   \
    }
/* The optimizer's form of SGD and Adam: the gradient (also compared) zeroed once read. */
#define SGD_CLEAR(s, mom, st, nt)                                                                  \
    {                                                                                              \
        .op = KILN_OP_SGD_UPDATE, .note = nt, .shape = {s, s, s},                                  \
        .p.sgd = {0.05f, mom, 0.0f, 0.01f, 0, 1, 1}, .gen = {U, U, U}, .steps = st,                \
    }
#define ADAM_CLEAR(s, dec, st, nt)                                                                 \
    {                                                                                              \
        .op = KILN_OP_ADAM_UPDATE, .note = nt, .shape = {s, s, s, s},                              \
        .p.adam = {0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, dec, 1.0f, 1.0f, 1}, .gen = {U, U, U, V01},  \
        .steps = st,                                                                               \
    }
#define ADAM(s, lr, wd, dec, st, nt)                                                               \
    {                                                                                              \
        .op = KILN_OP_ADAM_UPDATE, .note = nt, .shape = {s, s, s, s},                              \
        .p.adam = {lr, 0.9f, 0.999f, 1e-8f, wd, dec, 1.0f, 1.0f, 0}, .gen = {U, U, U, V01},        \
        .steps = st,                                                                               \
    }

#define RMS(s, lr, alpha, eps, wd, st, nt)                                                         \
    {                                                                                              \
        .op = KILN_OP_RMSPROP_UPDATE, .note = nt, .shape = {s, s, s},                              \
        .p.rms = {lr, alpha, eps, wd}, .gen = {U, U, V01}, .steps = st,                            \
    }
#define ADA(s, lr, eps, wd, st, nt)                                                                \
    {                                                                                              \
        .op = KILN_OP_ADAGRAD_UPDATE, .note = nt, .shape = {s, s, s}, .p.ada = {lr, eps, wd},      \
        .gen = {U, U, V01}, .steps = st,                                                           \
    }

#define ACC(s, a, b, st, nt)                                                                       \
    {                                                                                              \
        .op = KILN_OP_ACCUMULATE, .note = nt, .shape = {s, s}, .p.acc = {a, b}, .gen = {U, U},     \
        .steps = st,                                                                               \
    }

static const struct oh_case cases[] = {
    SGD(OH_S1(1), 0.1f, 0.0f, 0.0f, 0.0f, 0, 1, "plain, 1"),
    SGD(OH_S1(1031), 0.1f, 0.0f, 0.0f, 0.0f, 0, 1, "plain"),
    SGD(OH_S2(13, 11), 0.1f, 0.0f, 0.0f, 0.05f, 0, 2, "weight decay without momentum, 2 steps"),
    SGD(OH_S2(13, 11), 0.05f, 0.9f, 0.0f, 0.0f, 0, 1, "momentum, first step"),
    SGD(OH_S2(13, 11), 0.05f, 0.9f, 0.0f, 0.0f, 0, 4, "momentum, 4 steps"),
    SGD(OH_S1(1031), 0.05f, 0.9f, 0.5f, 0.01f, 0, 3, "dampening and weight decay, 3 steps"),
    SGD(OH_S3(3, 5, 7), 0.05f, 0.9f, 0.0f, 0.001f, 1, 3, "nesterov, 3 steps"),
    ADAM(OH_S1(1), 0.01f, 0.0f, 0, 1, "1, one step"),
    ADAM(OH_S1(1031), 0.01f, 0.0f, 0, 1, "one step"),
    ADAM(OH_S2(13, 11), 0.01f, 0.0f, 0, 4, "4 steps"),
    ADAM(OH_S1(1031), 0.001f, 0.01f, 0, 3, "L2 weight decay, 3 steps"),
    ADAM(OH_S3(3, 5, 7), 0.001f, 0.01f, 1, 3, "AdamW, 3 steps"),
    ADAM(OH_S1(129), 0.1f, 0.1f, 1, 1, "AdamW, one large step"),
    SGD_CLEAR(OH_S1(1), 0.9f, 1, "gradient cleared, 1"),
    SGD_CLEAR(OH_S1(1031), 0.9f, 3, "momentum, gradient cleared, 3 steps"),
    SGD_CLEAR(OH_S2(13, 11), 0.0f, 2, "plain, gradient cleared, 2 steps"),
    ADAM_CLEAR(OH_S1(1031), 0, 2, "gradient cleared, 2 steps"),
    ADAM_CLEAR(OH_S3(3, 5, 7), 1, 3, "AdamW, gradient cleared, 3 steps"),
    RMS(OH_S1(1), 0.01f, 0.99f, 1e-8f, 0.0f, 1, "1, one step"),
    RMS(OH_S1(1031), 0.01f, 0.99f, 1e-8f, 0.0f, 1, "one step"),
    RMS(OH_S2(13, 11), 0.01f, 0.9f, 1e-6f, 0.01f, 4, "weight decay, 4 steps"),
    ADA(OH_S1(1), 0.01f, 1e-10f, 0.0f, 1, "1, one step"),
    ADA(OH_S1(1031), 0.01f, 1e-10f, 0.0f, 1, "one step"),
    ADA(OH_S3(3, 5, 7), 0.1f, 1e-10f, 0.01f, 3, "weight decay, 3 steps"),
    ACC(OH_S1(1), 1.0f, 1.0f, 1, "sum, 1"),
    ACC(OH_S2(37, 29), 1.0f, 1.0f, 3, "sum, 3 steps"),
    ACC(OH_S1(1031), 0.0f, 0.0f, 1, "clear"),
    ACC(OH_S3(3, 5, 7), 0.0f, 1.0f, 1, "copy"),
    ACC(OH_S1(257), 0.5f, -2.0f, 2, "scaled, 2 steps"),
};

const struct oh_family oh_family_optim = {"optim", cases, (int)(sizeof(cases) / sizeof(cases[0]))};
