/*
 * kiln/optim.h - optimizers over a parameter store.
 *
 * An optimizer updates the trainable parameters of a store (kiln/store.h) from the
 * gradients that graph runs added there, on the device, and clears the gradients. It
 * lives outside every graph: several graph runs may add up before one step (micro-
 * batches, trees), and between the backward passes and the update a step can clip the
 * gradients by their global norm (as torch.nn.utils.clip_grad_norm_), scale them, and
 * hand them to a hook (reducing them across processes). The update is one launch per
 * contiguous run of parameters over the store's flat buffers. SGD follows PyTorch's
 * torch.optim.SGD (momentum, dampening, Nesterov, L2 weight decay), Adam follows
 * torch.optim.Adam and AdamW (decoupled weight decay), RMSprop torch.optim.RMSprop
 * (without momentum or centering) and Adagrad torch.optim.Adagrad; the state
 * (momentum_buffer, exp_avg, exp_avg_sq, square_avg, sum) lives in the store and is
 * saved with checkpoints.
 */
#ifndef KILN_OPTIM_H
#define KILN_OPTIM_H

#include "graph.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_optimizer kiln_optimizer;

typedef enum kiln_optim_kind {
    KILN_OPTIM_SGD = 0,
    KILN_OPTIM_ADAM = 1,
    KILN_OPTIM_RMSPROP = 2, /* torch.optim.RMSprop (momentum 0, not centered): state square_avg */
    KILN_OPTIM_ADAGRAD = 3, /* torch.optim.Adagrad (initial accumulator 0): state sum */
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
    /* Before the update: gradients scaled by grad_scale (e.g. 1 / micro-batches), then,
     * when clip_norm > 0, by min(1, clip_norm / (global L2 norm + 1e-6)) as
     * torch.nn.utils.clip_grad_norm_ does. */
    float grad_scale; /* default 1 */
    float clip_norm;  /* default 0: no clipping */
    /* Only parameters whose names start with prefix (NULL or "": every trainable
     * parameter of the store). Copied. */
    const char *prefix;
    /* Appended in kiln 0.2. eps above is also RMSprop's and Adagrad's (PyTorch's defaults:
     * RMSprop 1e-8, Adagrad 1e-10). */
    float alpha;    /* RMSprop's smoothing constant, in [0, 1); default 0.99 */
    float lr_decay; /* Adagrad: step t uses lr / (1 + (t - 1) lr_decay); default 0 */
};

#define KILN_OPTIM_OPTIONS_INIT                                                                    \
    {                                                                                              \
        sizeof(struct kiln_optim_options), KILN_OPTIM_SGD, 0.01f, 0.0f, 0.0f, 0, 0.0f, 0.9f,       \
            0.999f, 1e-8f, 0, 1.0f, 0.0f, NULL, 0.99f, 0.0f                                        \
    }

/*
 * Creates an optimizer over the trainable parameters of s (those matching opt->prefix),
 * including parameters added to s later. Its state entries are created in s and zeroed.
 * [in] s: retained; the optimizer is owned by s (destroyed with it, or earlier by
 * kiln_optimizer_destroy). [in] opt: borrowed.
 * Returns KILN_OK, KILN_E_INVALID_ARG (bad options), KILN_E_OUT_OF_HOST_MEMORY, or a
 * device error. Not thread-safe with respect to other calls on s.
 */
KILN_API kiln_status kiln_optimizer_create(kiln_store *s, const struct kiln_optim_options *opt,
                                           kiln_optimizer **out);

/* Destroys o (its state stays in the store). NULL is a no-op. */
KILN_API void kiln_optimizer_destroy(kiln_optimizer *o);

/* Sets the learning rate used from the next step on. */
KILN_API void kiln_optimizer_set_lr(kiln_optimizer *o, float lr);
KILN_API float kiln_optimizer_lr(const kiln_optimizer *o);

/* Steps taken, and setting it (a resumed run continues the count: SGD's first step and
 * Adam's bias corrections depend on it). */
KILN_API int64_t kiln_optimizer_steps(const kiln_optimizer *o);
KILN_API void kiln_optimizer_set_steps(kiln_optimizer *o, int64_t steps);

/*
 * Called by kiln_optimizer_step after the gradients are complete and before they are
 * scaled, clipped and used: the place to reduce them across processes
 * (kiln_store_grads_download / _upload). A non-OK return aborts the step with that
 * status. [in] ud: the pointer given to kiln_optimizer_set_grad_hook.
 */
typedef kiln_status (*kiln_grad_hook)(void *ud, kiln_store *s);

/* Installs hook (NULL removes it). [in] ud: borrowed, passed to every call. */
KILN_API void kiln_optimizer_set_grad_hook(kiln_optimizer *o, kiln_grad_hook hook, void *ud);

/*
 * One optimizer step: the hook, then gradient scaling and clipping, the update of every
 * parameter of the optimizer, and the clearing of their gradients, all on the device.
 * Returns KILN_OK, the hook's status, or a device error.
 */
KILN_API kiln_status kiln_optimizer_step(kiln_optimizer *o);

/*
 * The global L2 norm of the gradients the last step clipped, before clipping (requires
 * clip_norm > 0; waits for the step). Returns KILN_OK, KILN_E_STATE (no clipping, or no
 * step yet) or a device error.
 */
KILN_API kiln_status kiln_optimizer_grad_norm(kiln_optimizer *o, float *out);

/*
 * A training step: kiln_graph_run(g) (forward and backward) and kiln_optimizer_step(o),
 * recorded as one submission to the device when o has no hook. g and o must share a
 * store. Returns as those two.
 */
KILN_API kiln_status kiln_train_step(kiln_graph *g, kiln_optimizer *o);

#ifdef __cplusplus
}
#endif

#endif /* KILN_OPTIM_H */
