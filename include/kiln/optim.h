/*
 * kiln/optim.h - optimizers as graph nodes.
 *
 * An optimizer appends one update node per trainable parameter to the graph, so a
 * training step (forward, backward, update) runs entirely on the backend. SGD follows
 * PyTorch's torch.optim.SGD (momentum, dampening, Nesterov, L2 weight decay) and Adam
 * follows torch.optim.Adam and AdamW (decoupled weight decay).
 */
#ifndef KILN_OPTIM_H
#define KILN_OPTIM_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_optimizer kiln_optimizer;

typedef enum kiln_optim_kind {
    KILN_OPTIM_SGD = 0,
    KILN_OPTIM_ADAM = 1,
} kiln_optim_kind;

struct kiln_optim_options {
    uint32_t struct_size;
    kiln_optim_kind kind;
    float lr;
    float momentum;          /* SGD */
    float dampening;         /* SGD */
    int32_t nesterov;        /* SGD */
    float weight_decay;      /* L2 added to the gradient; AdamW: decoupled */
    float beta1, beta2, eps; /* Adam */
    int32_t decoupled;       /* Adam: 1 = AdamW */
};

#define KILN_OPTIM_OPTIONS_INIT                                                                    \
    {                                                                                              \
        sizeof(struct kiln_optim_options), KILN_OPTIM_SGD, 0.01f, 0.0f, 0.0f, 0, 0.0f, 0.9f,       \
            0.999f, 1e-8f, 0                                                                       \
    }

/*
 * Differentiates loss (if kiln_graph_backward was not called yet) and appends an update
 * node for every trainable parameter. Call before kiln_graph_compile.
 * [out] out: the optimizer, owned by g (it lives until kiln_graph_destroy).
 * Returns KILN_OK, KILN_E_INVALID_ARG, KILN_E_STATE, KILN_E_OUT_OF_HOST_MEMORY.
 */
KILN_API kiln_status kiln_optimizer_create(kiln_graph *g, kiln_tensor *loss,
                                           const struct kiln_optim_options *opt,
                                           kiln_optimizer **out);

/* Sets the learning rate used from the next step on. */
KILN_API void kiln_optimizer_set_lr(kiln_optimizer *o, float lr);
KILN_API float kiln_optimizer_lr(const kiln_optimizer *o);

/* Runs one training step: forward, backward and every update, on the backend. */
KILN_API kiln_status kiln_optimizer_step(kiln_optimizer *o);

/* Number of steps taken. */
KILN_API int64_t kiln_optimizer_steps(const kiln_optimizer *o);

#ifdef __cplusplus
}
#endif

#endif /* KILN_OPTIM_H */
