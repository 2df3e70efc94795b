/*
 * run.h - a `kiln train` run around its training loop (run.c): the options with
 * --resume, checkpoints and the training position they record, the --log CSV, the
 * progress display and the summary. Used by train_image.c and train_gan.c.
 */
#ifndef KILN_TOOLS_RUN_H
#define KILN_TOOLS_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "cli.h"

/* Where a run is: what a checkpoint records besides the store (parameters, optimizer
 * state and step counts, run count). Index 1 of the sums is the GAN's generator loss. */
struct run_pos {
    int64_t epoch;           /* the epoch in progress or just finished (1-based) */
    int64_t step;            /* steps taken */
    int64_t steps_per_epoch; /* batches of a full epoch */
    double loss_sum[2];      /* the epoch's sampled losses so far */
    int64_t loss_n;
    double log_sum[2]; /* the losses of the open --log interval */
    int64_t log_n;
    double elapsed;  /* training seconds before this process */
    double best_val; /* early stopping: the best validation accuracy, and epochs since */
    int64_t bad_epochs;
    uint64_t noise; /* GAN: kiln_gan_noise_position */
};

/* The options of a `kiln train` command and where it resumes from. */
struct train_setup {
    char ckpt[4096]; /* the checkpoint --resume names (a file), "" when not resuming */
    kiln_meta *meta; /* its metadata (owned), NULL when not resuming */
    struct run_pos pos;
    void *hold; /* strings of the options read from meta (owned) */
};

/*
 * Parses the options of `kiln train MODEL` (model NULL: the model of --resume's
 * checkpoint) into a. With --resume the checkpoint's options come first and the
 * command line may change only the resumable ones (--epochs, --out...). Returns
 * EXIT_SUCCESS; -1 after printing the help (--help); or an exit status after printing
 * why. Release su with train_setup_fini in every case.
 */
int train_parse(const char *model, int argc, char **argv, struct train_args *a,
                struct train_setup *su);
void train_setup_fini(struct train_setup *su);

/* Loads --init-from (weights only) or su's --resume checkpoint (with the optimizer
 * state, step counts and run count) into store, saying so to info (may be NULL).
 * Returns EXIT_SUCCESS or EXIT_FAILURE after printing why. */
int run_load_weights(const struct train_args *a, const struct train_setup *su, kiln_store *store,
                     FILE *info);

/* Removes the temporary files that killed writers left in --out (reported to info,
 * may be NULL). */
void run_clean_out(const struct train_args *a, FILE *info);

/* Prints `kiln train MODEL --help` (model NULL: the models and common options). */
void train_help(FILE *f, const char *model);

struct run {
    /* ---- borrowed (never owned) ---- */
    const struct train_args *a;
    const struct model_cfg *cfg;
    kiln_store *store;
    const char *parallel; /* "parallel" metadata of checkpoints (JSON); NULL: none */
    FILE *out;            /* epoch lines and results: stdout, NULL with --quiet or --json */
    /* ---- owned ---- */
    FILE *log;
    int bar;   /* redraw a progress bar on stderr (a terminal) */
    int lines; /* plain progress lines on stderr (not a terminal) */
    int64_t log_every, total_steps, steps_per_epoch, start_step;
    double t0, last_draw;
    struct run_pos pos;
    char last_checkpoint[4096];
    double checkpoint_seconds;
    int stopped_early;
    int gan;
    const char *unit;       /* what the rates count: "images" (NULL), "texts", "characters" */
    const char *log_header; /* the --log columns; NULL: the classifiers' (or the GAN's) */
    int first_step_seen;    /* the first step of this process was reported */
    struct stats_track st;
};

/* Sets up r for a run of total_steps steps (steps_per_epoch each) from su's position:
 * output streams, progress mode, the --log file (rows past the checkpoint dropped when
 * resuming), stale temporary files in --out removed. Returns 0 after printing why. */
int run_begin(struct run *r, const struct train_args *a, const struct train_setup *su,
              const struct model_cfg *cfg, kiln_store *store, int64_t steps_per_epoch,
              int64_t total_steps);
void run_end(struct run *r);

/* 1 after saying so when the checkpoint su resumes from already reached total_steps
 * (the run is complete: only --epochs or --max-steps extend it), else 0. */
int run_complete(const struct train_setup *su, int64_t total_steps);

/* Elapsed training seconds of the whole run (before and in this process). */
double run_elapsed(const struct run *r);

/* Writes a checkpoint of r's store at pos into --out (final: MODEL.safetensors, else
 * MODEL-stepNNNNNNNN.safetensors, pruned to --keep). No-op without --out. Returns 0
 * after printing why. */
int run_checkpoint(struct run *r, const struct run_pos *pos, int final);

/* The final checkpoint MODEL.safetensors of r's position (no-op without --out). */
int run_checkpoint_final(struct run *r);

/* Appends a row to the --log file (no-op without one): fields as text. */
void run_log(struct run *r, const char *row);

/* Redraws (or prints, every tenth of an epoch) the progress of a step. */
void run_progress(struct run *r, int64_t epoch, int64_t n_epochs, int64_t step_in_epoch,
                  int64_t steps_in_epoch, const char *loss, double images_per_s);
/* Erases the progress bar before a line is printed. */
void run_progress_clear(struct run *r);

/* Says on stderr that the backend compiles kernels on a first run when ctx's kernel
 * cache is empty (GPU backends), and how long that takes. */
void run_compile_note(kiln_context *ctx, const struct train_args *a);

/* After the first step of this process: when it took more than 2 s (kernel
 * compilation), says so on stderr. */
void run_first_step(struct run *r);

/* The kiln_fit callback of the classifiers: log rows, progress, checkpoints, epoch
 * lines, early stopping. ud: the run. */
int run_classifier_progress(void *ud, const struct kiln_fit_progress *p);

#endif /* KILN_TOOLS_RUN_H */
