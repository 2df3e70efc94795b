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
 * kiln_train_step(graph of x, optimizer); the optimizer must be over that graph's store.
 * Evaluation runs kiln_graph_eval() on pred only - or, when eval_x and eval_pred are set,
 * on an evaluation graph over the same store (another batch size E; eval_x f32 [E, ...],
 * eval_pred i32 [E]), which reads the trained parameters with no copy.
 */
struct kiln_classifier {
    uint32_t struct_size; /* sizeof(struct kiln_classifier) */
    kiln_optimizer *optimizer;
    kiln_tensor *x;
    kiln_tensor *y;
    kiln_tensor *loss;
    kiln_tensor *pred;
    kiln_tensor *eval_x;    /* optional */
    kiln_tensor *eval_pred; /* optional, with eval_x */
    /* Optional f32 input [B, C] (kiln 0.2): the loops upload the one-hot encoding of each
     * batch's labels into it (a row of zeros for a label outside [0, C)), for a loss on
     * targets such as kiln_mse_loss of the logits. */
    kiln_tensor *y_onehot;
};

#define KILN_CLASSIFIER_INIT                                                                       \
    {                                                                                              \
        sizeof(struct kiln_classifier), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL             \
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
    double seconds;       /* training time of this epoch so far (in this process) */
    double eval_seconds;  /* EPOCH_END: evaluation time of this epoch */
    double steps_per_s;   /* this epoch so far */
    double images_per_s;  /* this epoch so far */
    /* Appended fields (kiln 0.2). */
    double loss;     /* STEP: this step's loss; NAN when it was not sampled */
    double loss_sum; /* the sampled losses of this epoch so far and their count */
    int64_t loss_n;  /* (train_loss = loss_sum / loss_n); what a checkpoint keeps */
    double lr;       /* the learning rate of the last step */
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

/* ---- Learning-rate schedules (src/train/schedule.c) ---- */

typedef enum kiln_lr_kind {
    KILN_LR_CONSTANT = 0,    /* lr */
    KILN_LR_STEP = 1,        /* lr gamma^floor(t / step_size): PyTorch's StepLR */
    KILN_LR_EXPONENTIAL = 2, /* lr gamma^(t / step_size): a factor gamma per step_size
                                steps, applied smoothly at every step */
    KILN_LR_COSINE = 3,      /* min_lr + (lr - min_lr) (1 + cos(pi t / total_steps)) / 2,
                                min_lr from total_steps on: CosineAnnealingLR */
} kiln_lr_kind;

/*
 * The learning rate of step t (0-based: the number of steps taken before it). A linear
 * warm-up multiplies any schedule by min(1, (t + 1) / (warmup_steps + 1)) (0: none).
 */
struct kiln_lr_schedule {
    uint32_t struct_size; /* sizeof(struct kiln_lr_schedule) */
    kiln_lr_kind kind;
    double lr;            /* the base rate, > 0 */
    int64_t step_size;    /* STEP, EXPONENTIAL: > 0 */
    double gamma;         /* STEP, EXPONENTIAL: > 0 */
    int64_t total_steps;  /* COSINE: > 0 */
    double min_lr;        /* COSINE: >= 0 */
    int64_t warmup_steps; /* >= 0 */
};

#define KILN_LR_SCHEDULE_INIT                                                                      \
    {                                                                                              \
        sizeof(struct kiln_lr_schedule), KILN_LR_CONSTANT, 0.01, 1, 1.0, 1, 0.0, 0                 \
    }

/* Checks s. Returns KILN_OK or KILN_E_INVALID_ARG naming the bad field. */
KILN_API kiln_status kiln_lr_schedule_check(const struct kiln_lr_schedule *s);

/* The learning rate of step t >= 0 under s (checked with kiln_lr_schedule_check;
 * NAN for an invalid s). Thread-safe. */
KILN_API double kiln_lr_at(const struct kiln_lr_schedule *s, int64_t t);

struct kiln_fit_options {
    uint32_t struct_size;       /* sizeof(struct kiln_fit_options) */
    int32_t epochs;             /* default 1 */
    int64_t max_steps;          /* stop after this many steps in total; 0: no limit */
    uint64_t seed;              /* keys the shuffle of every epoch */
    int32_t loss_every;         /* download the loss every this many steps (default 1); 0: never */
    kiln_fit_callback callback; /* NULL: silent */
    void *callback_ud;
    /* Appended fields (kiln 0.2). */
    /* Resuming: the steps already taken. The loop starts in epoch start_step / B + 1 (B
     * the batches of an epoch) at its batch start_step % B, and these batches are the
     * ones an uninterrupted run takes there: shuffles and augmentation depend only on
     * the epoch and the position. max_steps counts them. Default 0. */
    int64_t start_step;
    /* The sampled loss of the interrupted epoch (the progress's loss_sum and loss_n at
     * the checkpoint), so that the epoch's mean continues. */
    double start_loss_sum;
    int64_t start_loss_n;
    /* Optional (borrowed): before each step the optimizer's learning rate is set to
     * kiln_lr_at(schedule, steps taken). NULL: the optimizer's rate is left alone. */
    const struct kiln_lr_schedule *schedule;
};

#define KILN_FIT_OPTIONS_INIT                                                                      \
    {                                                                                              \
        sizeof(struct kiln_fit_options), 1, 0, 0, 1, NULL, NULL, 0, 0.0, 0, NULL                   \
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

/* ---- Training from a loader (src/train/fit_loader.c) ---- */

/*
 * As kiln_fit(), but the training batches come from train (kiln/data.h: augmented,
 * prepared on the loader's thread while the step runs); epoch e calls
 * kiln_loader_reset(train, e). opt->seed is unused (the loader has its own). val and
 * test are evaluated as by kiln_evaluate(), so their items must already be in the
 * model's input layout and normalization. [in] train: borrowed, its item size must
 * match m->x and its batch size m's.
 * Returns as kiln_fit().
 */
KILN_API kiln_status kiln_fit_loader(const struct kiln_classifier *m, kiln_loader *train,
                                     const struct kiln_dataset *val,
                                     const struct kiln_dataset *test,
                                     const struct kiln_fit_options *opt,
                                     struct kiln_fit_result *out);

/* ---- GAN training (src/train/gan.c) ---- */

/*
 * A DCGAN (kiln/nn.h: kiln_dcgan_generator, kiln_dcgan_discriminator) for 28x28
 * one-channel images in [-1, 1], trained with BCE-with-logits and two Adam optimizers.
 * It lives in two graphs on one context: the discriminator's (real and generated
 * images in one batch of 2 B, targets 1 and 0) and the generator's, which ends in a
 * frozen copy of the discriminator (its weights are inputs, refreshed after every
 * discriminator step) so that its loss back-propagates into the generator only.
 */
typedef struct kiln_gan kiln_gan;

struct kiln_gan_options {
    uint32_t struct_size; /* sizeof(struct kiln_gan_options) */
    int64_t batch_size;   /* B, default 64 */
    int64_t nz;           /* noise features, default 64 */
    int64_t g_width;      /* generator width (kiln_dcgan_generator), default 16 */
    int64_t d_width;      /* discriminator width, default 32 */
    float lr;             /* Adam learning rate of both nets, default 2e-4 */
    float beta1;          /* Adam beta1 of both nets, default 0.5 (beta2 0.999) */
    uint64_t seed;        /* initializers and noise */
};

#define KILN_GAN_OPTIONS_INIT                                                                      \
    {                                                                                              \
        sizeof(struct kiln_gan_options), 64, 64, 16, 32, 2e-4f, 0.5f, 0                            \
    }

/* Builds and compiles both graphs on ctx. [in] ctx: retained until destroy. [in] o:
 * borrowed, NULL for defaults. [out] out: owned by the caller (kiln_gan_destroy).
 * Returns KILN_OK, KILN_E_INVALID_ARG, or a build, compile or device error. */
KILN_API kiln_status kiln_gan_create(kiln_context *ctx, const struct kiln_gan_options *o,
                                     kiln_gan **out);

/* Destroys gan and its graphs. NULL is a no-op. */
KILN_API void kiln_gan_destroy(kiln_gan *gan);

/* Trainable parameter counts of the generator and the discriminator. */
KILN_API void kiln_gan_n_params(const kiln_gan *gan, int64_t *generator, int64_t *discriminator);

/* Forward FLOPs per image of the generator and the discriminator (kiln_graph_flops). */
KILN_API void kiln_gan_flops(const kiln_gan *gan, double *generator, double *discriminator);

/*
 * One training step: a generator step on fresh noise (loss BCE(D(G(z)), 1)), then a
 * discriminator step on real and the generated images (mean BCE over both halves).
 * [in] real: borrowed, [B, 1, 28, 28] in [-1, 1]. [out] d_loss, g_loss: may be NULL.
 * Returns KILN_OK or the first error of a run or a transfer.
 */
KILN_API kiln_status kiln_gan_step(kiln_gan *gan, const float *real, float *d_loss, float *g_loss);

/* Generates B images into images ([B, 1, 28, 28], in [-1, 1]) from a fixed noise batch,
 * with the generator in inference mode (batch norm's running statistics). */
KILN_API kiln_status kiln_gan_sample(kiln_gan *gan, float *images);

/* Returns the generator's graph (e.g. for kiln_graph_save). */
KILN_API kiln_graph *kiln_gan_generator_graph(const kiln_gan *gan);

/* Returns the parameter store of both networks, their batch norm statistics and their
 * optimizers' state: what a checkpoint of the GAN saves and loads (kiln/io.h). The
 * optimizers are the generator's ("gen." prefix) then the discriminator's ("disc."). */
KILN_API kiln_store *kiln_gan_store(const kiln_gan *gan);

/* The noise values drawn for training so far, and setting it: a resumed run continues
 * the noise sequence where the checkpoint left it. */
KILN_API uint64_t kiln_gan_noise_position(const kiln_gan *gan);
KILN_API void kiln_gan_set_noise_position(kiln_gan *gan, uint64_t position);

/*
 * Writes n grayscale images ([n, h, w] floats, lo maps to black and hi to white,
 * clamped) as one 8-bit PNG grid of cols columns with a 2-pixel black border around
 * every image. [in] path, images: borrowed.
 * Returns KILN_OK, KILN_E_INVALID_ARG, KILN_E_IO, or KILN_E_UNSUPPORTED when kiln was
 * built without libpng.
 */
KILN_API kiln_status kiln_png_write_grid(const char *path, const float *images, int64_t n,
                                         int64_t h, int64_t w, int32_t cols, float lo, float hi);

#ifdef __cplusplus
}
#endif

#endif /* KILN_TRAIN_H */
