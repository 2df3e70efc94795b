/*
 * cli.h - what the files of the kiln command-line program share: the option tables
 * that both parse the command line and print the help (opts.c), the options of
 * `kiln train`, data loading and the optimizer options (common.c), the models and
 * their configuration as checkpoint metadata (model.c), a training run's checkpoints,
 * metrics log and progress display (run.c), and the commands (main.c dispatches them).
 * Public API only.
 */
#ifndef KILN_TOOLS_CLI_H
#define KILN_TOOLS_CLI_H

#include <stddef.h>
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

#if defined(__GNUC__)
#define KILN_TOOL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KILN_TOOL_PRINTF(a, b)
#endif

/* ==== Option tables (opts.c) ==== */

enum opt_kind {
    OPT_FLAG,    /* int, set to 1 */
    OPT_UNFLAG,  /* int, set to 0 (--no-X of a flag that defaults to on; not saved) */
    OPT_INT,     /* int64_t in [lo, hi] */
    OPT_REAL,    /* double > 0 (at most hi when hi > 0) */
    OPT_REAL0,   /* double >= 0 (at most hi when hi > 0) */
    OPT_STR,     /* const char *, non-empty */
    OPT_CHOICE,  /* const char *, one of choices ("a|b|c") */
    OPT_DIR_OUT, /* const char *, an existing writable directory */
};

/* One option: where its value goes in the command's argument struct, which commands
 * or models take it (scope bits), and its help. */
struct opt_def {
    const char *name;    /* "--epochs" */
    const char *metavar; /* "N"; NULL for flags */
    enum opt_kind kind;
    size_t off; /* offsetof the field in the argument struct */
    int64_t lo, hi;
    const char *choices;
    unsigned scope;
    const char *zero; /* how a default of 0 or NULL reads ("no limit"); NULL: the value */
    const char *help;
    unsigned flags; /* OPTF_* */
};

enum {
    OPTF_RESUMABLE = 1u << 0, /* train: may differ from the checkpoint when resuming */
    OPTF_NOT_SAVED = 1u << 1, /* train: not recorded in a checkpoint's options */
};

/*
 * Parses argv into args by the rows of defs whose scope has a bit of `scope`; other
 * words are positional and go to pos (at most max_pos; NULL: none allowed). "--help"
 * or "-h" sets *help. On an error prints "kiln <cmd>: ..." and returns 0.
 */
int opts_parse(const char *cmd, const struct opt_def *defs, int n_defs, unsigned scope, int argc,
               char **argv, void *args, const char **pos, int max_pos, int *n_pos, int *help);

/* Prints the options of defs within scope with their help and their defaults, read
 * from the argument struct defaults. */
void opts_help(FILE *f, const struct opt_def *defs, int n_defs, unsigned scope,
               const void *defaults);

/* Prints text wrapped at width columns, the cursor being at column col; continuation
 * lines are indented by indent. */
void opts_wrap(FILE *f, const char *text, int col, int indent, int width);

/* Formats the value of option d in args ("" for an unset string). */
void opts_format(const struct opt_def *d, const void *args, char *buf, size_t n);

/* Sets option d of args from text v (as on the command line); returns 0 when v is bad. */
int opts_set(const char *cmd, const struct opt_def *d, void *args, const char *v);

/* Parses an integer in [lo, hi], or a real for option opt: finite, positive (or zero
 * when allow_zero), at most hi when hi > 0, and representable as a float, so that a
 * value that would become 0, a denormal or infinity as a float (--lr 1e-50, 1e300) is
 * refused rather than silently changed. On failure prints "kiln <cmd>: " and why,
 * naming opt, and returns 0. */
int parse_int(const char *cmd, const char *opt, const char *v, int64_t lo, int64_t hi,
              int64_t *out);
int parse_real(const char *cmd, const char *opt, const char *v, int allow_zero, double hi,
               double *out);

/* ==== kiln train (common.c, train_*.c) ==== */

/* Scope bits of the train options. */
enum {
    SC_MLP = 1u << 0,
    SC_CONV = 1u << 1,
    SC_RESNET = 1u << 2,
    SC_GAN = 1u << 3,
    SC_TEXTCNN = 1u << 4,
    SC_TEXTRNN = 1u << 5,
    SC_CHARLM = 1u << 6,
    SC_TEXTATTN = 1u << 7,
    SC_CLASSIFIER = SC_MLP | SC_CONV | SC_RESNET,
    SC_TEXT = SC_TEXTCNN | SC_TEXTRNN | SC_TEXTATTN, /* text classifiers (text_common.c) */
    SC_SEQ = SC_TEXT | SC_CHARLM,                    /* models of text */
    SC_TRAIN = SC_CLASSIFIER | SC_GAN | SC_SEQ,
};

struct train_args {
    const char *model; /* "mlp", "lenet", ..., "gan" */
    int64_t epochs, max_steps, batch, train_limit, test_limit, val, seed;
    double lr; /* 0: the optimizer's default */
    const char *optimizer;
    double wd;
    const char *data;
    int stats;
    /* conv nets and the GAN */
    int augment, no_prefetch, cosine;
    double rotate;
    int64_t size, depth, width;
    /* objectives and schedules */
    const char *loss;
    double label_smoothing;
    const char *schedule;
    int64_t step_epochs, warmup, patience;
    double gamma, min_lr;
    const char *class_names;
    /* checkpoints, logs and output */
    const char *out;
    int64_t checkpoint_every, keep;
    const char *resume, *init_from;
    int partial;
    const char *log;
    int64_t log_every;
    int json, quiet;
    /* data-parallel runs (mpirun): seconds before a silent rank stops the run */
    double comm_timeout;
    /* text classifiers and the character language model */
    const char *rnn, *widths, *pool;
    int64_t layers, hidden, embed, max_len, bptt, heads;
    double dropout, clip, embed_std;
    int bidirectional, bigrams;
};

/* The train option table. */
extern const struct opt_def train_opts[];
extern const int n_train_opts;

/* The scope bit of a model name (0 for an unknown one). */
unsigned train_scope(const char *model);

/* The defaults of model's options. */
void train_defaults(const char *model, struct train_args *a);

/* The optimizer's learning rate: --lr, else the default of the optimizer and model. */
double train_lr(const struct train_args *a);

/* Seconds of a monotonic clock. */
double now_s(void);

/* Prints the failure of what with the last error; returns EXIT_FAILURE. */
int fail(const char *what);

/* Loads and splits the data and prints what was read (see common.c). */
int load_data(const struct train_args *a, struct kiln_dataset *train, struct kiln_dataset *val,
              struct kiln_dataset *test, int normalize_train, const char *scaling, double *mean_out,
              double *std_out, FILE *info);

/* The optimizer of --optimizer, --lr, --wd and --clip. */
struct kiln_optim_options optim_options(const struct train_args *a);

/* The learning-rate schedule of --schedule (or --cosine) over total steps of
 * steps_per_epoch each. */
struct kiln_lr_schedule lr_schedule(const struct train_args *a, int64_t steps_per_epoch,
                                    int64_t total_steps);

/* One op's profile: its counters at the last note and what training and evaluation
 * added since profiling started. */
struct stats_op {
    const char *op, *family;
    struct kiln_profile_row mark, train, eval;
};
#define STATS_MAX_OPS 128

/* Counter deltas of the training steps (and, with --stats, the per-op profile). */
struct stats_track {
    kiln_context *ctx;
    struct kiln_stats mark, train, eval;
    int profile; /* kiln_context_set_profiling is on */
    int32_t n_ops;
    struct stats_op ops[STATS_MAX_OPS];
};

/* Adds the counters of b minus those of a to acc. */
void add_stats_delta(struct kiln_stats *acc, const struct kiln_stats *a,
                     const struct kiln_stats *b);

/* Accumulates the counters of a progress event into t. */
void stats_note(struct stats_track *t, const struct kiln_fit_progress *p);

/* Switches profiling on for t's context (--stats); a failure is a warning. */
void stats_profile_start(struct stats_track *t);

/* Takes the profile's deltas since the last call: into t's training (train = 1) or
 * evaluation (0) sums, or nowhere (-1). */
void stats_profile_note(struct stats_track *t, int train);

/* Prints the counters per training step and of all evaluations. */
void print_stats(FILE *f, const struct stats_track *t, int64_t steps);

/* Creates the context of KILN_BACKEND / KILN_DEVICE (before any data is read, so that a
 * bad device is reported first); prints the backend line to info (may be NULL). */
int open_context(kiln_context **ctx, FILE *info);

/* ==== Data-parallel runs under mpirun (dist.c) ==== */

/* The ranks of a `kiln train` run: one process without an MPI launcher. */
struct dist {
    kiln_comm *comm; /* owned */
    int32_t rank, size;
    int64_t local_batch; /* --batch / size */
    char parallel[512];  /* the checkpoints' "parallel" metadata (JSON), "" with one rank */
};

/* The number of processes an MPI launcher started (0 without one). */
int dist_launched(void);
/* EXIT_SUCCESS, or EXIT_USAGE with a message when model (not an image or text
 * classifier: the GAN, charlm and treenn) was started as several processes by mpirun. */
int dist_single(const char *model);

/* Creates the communicator (the --comm-timeout of a) and checks that --batch divides
 * among the ranks. Returns EXIT_SUCCESS or an exit status after printing why. */
int dist_begin(struct dist *d, const struct train_args *a);

/* Ranks other than 0 print nothing and write no checkpoint or log: their copy of the
 * options says so. */
void dist_quiet(const struct dist *d, struct train_args *a);

/* Creates the context as open_context does, a GPU device picked by the local rank
 * unless KILN_DEVICE is set; rank 0 prints every rank's backend and device to info. */
int dist_context(struct dist *d, kiln_context **ctx, FILE *info);

/* Prints the data-parallel line (ranks, global batch, learning rate) to info and fills
 * d->parallel. */
void dist_describe(struct dist *d, FILE *info, const struct train_args *a, double lr);

/* Prints the communication per step (with one rank nothing). */
void dist_summary(struct dist *d, FILE *f);

/* After a failure with more than one rank: ends every rank (their collectives would
 * wait for this one); otherwise returns rc. */
int dist_fail(struct dist *d, int rc);

void dist_end(struct dist *d);

/* ==== Models and their configuration (model.c) ==== */

#define MAX_CLASSES 256

/* What a checkpoint's metadata says of a model: enough to rebuild it for evaluation,
 * prediction or resuming. */
struct model_cfg {
    char model[16];                  /* "mlp", "lenet", ..., "gan" */
    int64_t channels, height, width; /* the input */
    int64_t image_h, image_w;        /* the images before centred zero padding to the input */
    int32_t n_classes;
    int32_t depth, width_param;
    uint64_t seed;
    char loss[8]; /* "xent", "hinge", "mse" */
    double label_smoothing;
    double mean, std;   /* input normalization: (x - mean) / std of pixels in [0, 1] */
    char input_kind[8]; /* "image"; "text" for text models (see predict.c) */
    char *labels[MAX_CLASSES];
    /* GAN */
    int64_t nz, g_width, d_width;
    /* text models (textmodel.c): the model's options, the characters kept of a text,
     * the vocabulary as kiln_vocab_save's JSON (owned) and the data set trained on
     * (owned; NULL when unknown) */
    struct kiln_text_classifier_options text;
    struct kiln_char_lm_options lm;
    int64_t max_len;
    int bigrams;
    char *vocab, *data;
    const char *source; /* the checkpoint model_open read (borrowed) */
};

/* Fills cfg from the train options and the data's normalization. */
void model_cfg_from_args(struct model_cfg *cfg, const struct train_args *a, double mean,
                         double std);
void model_cfg_fini(struct model_cfg *cfg);

/* Writes cfg as metadata ("model", "config", "normalization", "labels"). */
kiln_status model_cfg_to_meta(const struct model_cfg *cfg, kiln_meta *meta);

/* Reads cfg from a checkpoint's metadata; on failure prints why (naming path). */
int model_cfg_from_meta(struct model_cfg *cfg, const kiln_meta *meta, const char *path);

/* The built graph of a classifier: x [batch, input], logits, and the training parts. */
struct classifier {
    kiln_graph *g;
    kiln_tensor *x, *y, *y_onehot, *logits, *probs, *loss, *pred;
};

/*
 * Builds cfg's classifier on a new graph over store (NULL: the graph's own) with batch
 * size batch. training: adds the loss (cfg->loss), its backward pass and compiles;
 * otherwise the softmax probabilities, compiled for kiln_graph_eval.
 */
kiln_status classifier_build(kiln_context *ctx, kiln_store *store, const struct model_cfg *cfg,
                             int64_t batch, int training, struct classifier *c);

/* Writes the input of cfg's model for an image of h x w pixels in [0, 1] (c planes):
 * centred zero padding to the input size, then the normalization. [out] dst: the
 * model's input (channels x height x width). */
void model_prepare_input(const struct model_cfg *cfg, const float *img, float *dst);

/*
 * Opens the classifier of checkpoint path for inference with batch size batch: its
 * metadata (*meta, owned), configuration, a context (created as open_context does) and
 * the evaluation graph with the checkpoint's weights. A model whose input_kind is not
 * "image" is described only (*ctx NULL, c empty): its kind's handler builds it. Returns
 * EXIT_SUCCESS or EXIT_FAILURE after printing why; release with model_close.
 */
int model_open(const char *path, int64_t batch, struct model_cfg *cfg, kiln_meta **meta,
               kiln_context **ctx, struct classifier *c);
void model_close(struct model_cfg *cfg, kiln_meta *meta, kiln_context *ctx, struct classifier *c);

/* ==== Text models (text_common.c) ==== */

struct cJSON;

/* The scope bit of a text model's name (textcnn, textrnn, charlm); 0 for another. */
unsigned text_scope(const char *model);

/* The data a text model trains on by default: fortunes-zh-5 as Meson builds it next to
 * this program, or Moby Dick in the data cache (charlm). A view of a static buffer. */
const char *text_default_data(const char *model);

/* Sets the defaults of a text model's options over train_defaults' (train_defaults
 * calls it). */
void text_defaults(const char *model, struct train_args *a);

/* Parses --widths ("2,3,4": one to four widths in [1, 64]) into w; returns how many,
 * 0 when s is malformed. */
int text_widths(const char *s, int32_t *w);

/* Why a text model's options do not go together, or NULL. */
const char *text_check(const struct train_args *a);

/* Fills the text part of cfg (and its name, kind, classes, seed) from the options and
 * the vocabulary's size (labels and cfg->vocab are the caller's). */
void text_cfg_from_args(struct model_cfg *cfg, const struct train_args *a, int32_t n_classes,
                        int64_t vocab_size);

/* Adds the text model's options to the "config" object c, or reads them from it (after
 * model, classes and seed); text_cfg_from_json returns 0 when they are malformed. */
void text_cfg_to_json(const struct model_cfg *cfg, struct cJSON *c);
int text_cfg_from_json(struct model_cfg *cfg, const struct cJSON *c);

/* The vocabulary as JSON (free()), or NULL after printing why. */
char *text_vocab_json(const kiln_vocab *v);

/* The graphs of one batch length t over a text classifier's store: for training (ids,
 * bigram ids, lengths, labels -> the loss with its backward pass; NULL when the nets
 * are for inference only), and for evaluation (-> probabilities and predicted class). */
struct text_net {
    int64_t t;
    kiln_graph *g, *eg;
    kiln_tensor *ids, *bi, *len, *y, *loss;
    kiln_tensor *eids, *ebi, *elen, *probs, *pred;
};

#define TEXT_MAX_NETS 64

/* The graphs of a text classifier, built when a batch length first occurs. */
struct text_nets {
    /* ---- borrowed (never owned) ---- */
    kiln_store *store;
    const struct model_cfg *cfg;
    /* ---- owned ---- */
    int64_t batch;
    int training; /* also build the training graphs */
    struct text_net nets[TEXT_MAX_NETS];
    int32_t n;
};

/* The graphs of batch length t (built and compiled on first use). */
kiln_status text_nets_get(struct text_nets *s, int64_t t, struct text_net **out);
void text_nets_fini(struct text_nets *s);

/* The lengths the graphs take for batch b: a padding row reads one padding character.
 * [out] len: [b->batch]. */
void text_lengths(const struct kiln_text_batch *b, int32_t *len);

/* Evaluates batch b: probs [b->batch, classes] and pred [b->batch] (either may be
 * NULL). */
kiln_status text_nets_eval(struct text_nets *s, const struct kiln_text_batch *b, float *probs,
                           int32_t *pred);

/* An iterator over split as cfg's model reads it: texts cut to max_len, batches cut to
 * a multiple of 16 characters; training: shuffled, bucketed by length, the last partial
 * batch dropped. Returns 0 after printing why. */
int text_iter_for(const struct model_cfg *cfg, const struct kiln_text_split *split,
                  const kiln_vocab *v, int64_t batch, int training, kiln_text_iter **it);

/* Opens the text classifier of cfg (from model_open; cfg->source is the checkpoint) for
 * inference with batch size batch: a context, the vocabulary and the graphs with the
 * checkpoint's weights. Returns EXIT_SUCCESS or EXIT_FAILURE after printing why;
 * release with text_close in every case. */
int text_open(const struct model_cfg *cfg, int64_t batch, kiln_context **ctx, kiln_vocab **v,
              struct text_nets *nets);
void text_close(kiln_context *ctx, kiln_vocab *v, struct text_nets *nets);

/* out[i, :] = the one-hot row of ids[i * stride] (ids outside [0, vocab) give zeros),
 * for n rows of vocab floats. */
void one_hot_rows(const int32_t *ids, int64_t n, int64_t stride, int64_t vocab, float *out);

#endif /* KILN_TOOLS_CLI_H */
