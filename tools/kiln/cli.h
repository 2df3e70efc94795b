/*
 * cli.h - what the files of the kiln command-line program share: the options of
 * `kiln train` and their parser, data loading, the optimizer options, the counters
 * printed by --stats, and the commands (main.c dispatches them). Public API only.
 */
#ifndef KILN_TOOLS_CLI_H
#define KILN_TOOLS_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "kiln.h"

#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

/* Returns a failing status from a function that builds a graph. */
#define KILN_TRY_CLI(expr)                                                                         \
    do {                                                                                           \
        kiln_status try_s_ = (expr);                                                               \
        if (try_s_ != KILN_OK) {                                                                   \
            return try_s_;                                                                         \
        }                                                                                          \
    } while (0)

enum { EXIT_USAGE = 2 };

/* ==== Options of kiln train (args.c) ==== */

struct train_args {
    int32_t epochs;
    int64_t max_steps, batch, train_limit, test_limit, val;
    double lr;
    int lr_given;
    const char *optimizer;
    const char *data;
    uint64_t seed;
    int stats;
    /* conv nets and the GAN */
    int conv; /* accept the conv-net options */
    int augment, no_prefetch, cosine;
    int64_t size, depth, width;
    double wd;
    const char *out;
};

/* Parses an integer in [lo, hi] or a positive finite real for option opt; on failure
 * prints why and returns 0. */
int parse_int(const char *opt, const char *v, int64_t lo, int64_t hi, int64_t *out);
int parse_real(const char *opt, const char *v, double *out);

/* Parses the options of kiln train into a (defaults preset by the caller); on failure
 * prints why and returns 0. */
int parse_train_args(int argc, char **argv, struct train_args *a);

/* ==== Shared helpers (common.c) ==== */

/* Seconds of a monotonic clock. */
double now_s(void);

/* Prints the failure of what with the last error; returns EXIT_FAILURE. */
int fail(const char *what);

/* Loads and splits the data and prints what was read (see common.c). */
int load_data(const struct train_args *a, struct kiln_dataset *train, struct kiln_dataset *val,
              struct kiln_dataset *test, int normalize_train, const char *scaling, double *mean_out,
              double *std_out);

/* The optimizer of --optimizer, --lr and --wd. */
struct kiln_optim_options optim_options(const struct train_args *a);

/* Counter deltas of the training steps, kept by the callback. */
struct stats_track {
    kiln_context *ctx;
    struct kiln_stats mark, train, eval;
};

/* Adds the counters of b minus those of a to acc. */
void add_stats_delta(struct kiln_stats *acc, const struct kiln_stats *a,
                     const struct kiln_stats *b);

/* The kiln_fit callback of --stats: prints progress and accumulates the counters. */
int track(void *ud, const struct kiln_fit_progress *p);

/* Prints the counters per training step and of all evaluations. */
void print_stats(const struct stats_track *t, int64_t steps);

/* ==== Text commands (text_common.c) ==== */

/* The options of the text commands: those of kiln train plus the model's. */
struct text_args {
    struct train_args base;
    const char *rnn; /* "lstm" or "gru" */
    int bidirectional, bigrams;
    int32_t n_widths, widths[4];                  /* textcnn's --widths (n_widths 0: the default) */
    int64_t layers, hidden, embed, bptt, max_len; /* textcnn: --hidden is filters per width */
    double dropout, clip;
    const char *out; /* a writable directory, or NULL */
};

/* Parses the text options and passes the others to parse_train_args; cmd names the
 * command in messages. Prints why and returns 0 on failure. */
int parse_text_args(int argc, char **argv, struct text_args *t, const char *cmd);

/* out[i, :] = the one-hot row of ids[i * stride] (ids outside [0, vocab) give zeros),
 * for n rows of vocab floats. */
void one_hot_rows(const int32_t *ids, int64_t n, int64_t stride, int64_t vocab, float *out);

/*
 * The one place a text model is saved: the store's parameters and buffers to
 * DIR/NAME.safetensors, and its configuration (config_json, an object) with the
 * vocabulary (and label names) to DIR/NAME.json, written atomically. Returns
 * EXIT_SUCCESS or prints why and returns EXIT_FAILURE.
 */
int save_text_model(kiln_store *s, const char *dir, const char *name, const char *config_json,
                    const kiln_vocab *v);

/* Reads what save_text_model wrote next to CHECKPOINT (NAME.safetensors): the
 * configuration as JSON text (*config_json, free()) and the vocabulary (*v,
 * kiln_vocab_destroy). Returns EXIT_SUCCESS or prints why and returns EXIT_FAILURE. */
int load_text_model(const char *checkpoint, char **config_json, kiln_vocab **v);

/* ==== Commands ==== */

int cmd_train_mlp(int argc, char **argv);                         /* train_image.c */
int cmd_train_conv(kiln_model model, int argc, char **argv);      /* train_image.c */
int cmd_train_gan(int argc, char **argv);                         /* train_gan.c */
int cmd_train_charlm(int argc, char **argv);                      /* train_lm.c */
int cmd_sample(int argc, char **argv);                            /* train_lm.c */
int cmd_train_text(kiln_text_model model, int argc, char **argv); /* train_text.c */

#endif /* KILN_TOOLS_CLI_H */
