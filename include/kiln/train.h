/*
 * kiln/train.h - the classifier training loop: epochs of shuffled mini-batches through
 * an optimizer, per-epoch train loss, validation and test accuracy, throughput, and a
 * progress reporter for terminals and logs.
 *
 * The loop drives a graph the caller built and compiled (kiln/graph.h, kiln/nn.h,
 * kiln/optim.h); it owns nothing of it. Datasets and batching are in kiln/data.h.
 */
#ifndef KILN_TRAIN_H
#define KILN_TRAIN_H

#include <stdint.h>

#include "data.h"
#include "graph.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The model ---- */

/*
 * The tensors of one compiled classifier graph that the loop uses, all borrowed.
 * x is the f32 input whose first dim is the batch size B (B * item size elements), y
 * the i32 labels [B], loss the scalar loss (kept with kiln_tensor_keep, or NULL), pred
 * the kept i32 [B] predicted classes (kiln_argmax of the logits). Training runs
 * kiln_optimizer_step(optimizer); evaluation runs kiln_graph_eval() on pred only.
 */
struct kiln_classifier {
    uint32_t struct_size; /* sizeof(struct kiln_classifier) */
    kiln_optimizer *optimizer;
    kiln_tensor *x;
    kiln_tensor *y;
    kiln_tensor *loss;
    kiln_tensor *pred;
};

#define KILN_CLASSIFIER_INIT                                                                       \
    {                                                                                              \
        sizeof(struct kiln_classifier), NULL, NULL, NULL, NULL, NULL                               \
    }

/* ---- Progress ---- */

typedef enum kiln_fit_event {
    KILN_FIT_STEP = 0,      /* after each training step */
    KILN_FIT_EPOCH_END = 1, /* after an epoch's training and evaluation */
} kiln_fit_event;

/* What the loop reports to its callback. Times exclude evaluation unless named so. */
struct kiln_fit_progress {
    kiln_fit_event event;
    int32_t epoch; /* 1-based */
    int32_t n_epochs;
    int64_t step;            /* steps taken in total */
    int64_t step_in_epoch;   /* 1-based */
    int64_t steps_per_epoch; /* of this epoch, with max_steps applied */
    int64_t batch_size;
    double train_loss;    /* mean sampled loss of this epoch so far; NAN when not sampled */
    double val_accuracy;  /* EPOCH_END: accuracy on the validation set; NAN when none */
    double test_accuracy; /* EPOCH_END: accuracy on the test set; NAN when none */
    double seconds;       /* training time of this epoch so far */
    double eval_seconds;  /* EPOCH_END: evaluation time of this epoch */
    double steps_per_s;   /* this epoch so far */
    double images_per_s;  /* this epoch so far */
};

/* Called by kiln_fit(); a non-zero return stops training after the current step (the
 * epoch still ends with its evaluation). [in] p: valid during the call only. */
typedef int (*kiln_fit_callback)(void *ud, const struct kiln_fit_progress *p);

/*
 * A ready-made callback that prints. ud is a FILE * for the per-epoch lines (NULL:
 * stdout). Progress goes to stderr: a bar redrawn in place when stderr is a terminal
 * (isatty), else a plain line every tenth of an epoch. Always returns 0.
 */
KILN_API int kiln_fit_print(void *ud, const struct kiln_fit_progress *p);

/* ---- Training ---- */

struct kiln_fit_options {
    uint32_t struct_size;       /* sizeof(struct kiln_fit_options) */
    int32_t epochs;             /* default 1 */
    int64_t max_steps;          /* stop after this many steps in total; 0: no limit */
    uint64_t seed;              /* keys the shuffle of every epoch */
    int32_t loss_every;         /* download the loss every this many steps (default 1); 0: never */
    kiln_fit_callback callback; /* NULL: silent */
    void *callback_ud;
};

#define KILN_FIT_OPTIONS_INIT                                                                      \
    {                                                                                              \
        sizeof(struct kiln_fit_options), 1, 0, 0, 1, NULL, NULL                                    \
    }

/* What kiln_fit() achieved, from its last epoch. */
struct kiln_fit_result {
    int32_t epochs;       /* epochs run (the last may be cut by max_steps) */
    int64_t steps;        /* training steps taken */
    double train_loss;    /* last epoch's mean sampled loss; NAN when not sampled */
    double val_accuracy;  /* NAN without a validation set */
    double test_accuracy; /* NAN without a test set */
    double train_seconds; /* all training steps (batching, uploads, steps, loss reads) */
    double total_seconds; /* training plus evaluation */
    double images_per_s;  /* training throughput over all epochs */
};

/*
 * Trains m on train for opt->epochs epochs of full batches (a shuffled epoch drops its
 * last partial batch, as the graph's batch size is fixed), evaluating on val and test
 * after every epoch.
 * [in] m: borrowed; its graph compiled. [in] train: borrowed, its item size must match
 * m->x. [in] val, test: borrowed, may be NULL. [in] opt: borrowed, NULL for defaults.
 * [out] out: may be NULL.
 * Returns KILN_OK, KILN_E_INVALID_ARG, KILN_E_SHAPE (dataset and graph disagree),
 * KILN_E_OUT_OF_HOST_MEMORY, or the first error of a step or an evaluation.
 * Not thread-safe with respect to other calls on m's graph.
 */
KILN_API kiln_status kiln_fit(const struct kiln_classifier *m, const struct kiln_dataset *train,
                              const struct kiln_dataset *val, const struct kiln_dataset *test,
                              const struct kiln_fit_options *opt, struct kiln_fit_result *out);

/*
 * Computes m's accuracy on every item of ds, in batches of m's batch size (the last
 * batch padded; padded rows are not counted), in inference mode (kiln_graph_eval on
 * m->pred). [out] accuracy: correct / ds->n (NAN for an empty ds).
 * Returns as kiln_fit().
 */
KILN_API kiln_status kiln_evaluate(const struct kiln_classifier *m, const struct kiln_dataset *ds,
                                   double *accuracy);

#ifdef __cplusplus
}
#endif

#endif /* KILN_TRAIN_H */
