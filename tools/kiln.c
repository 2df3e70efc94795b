/*
 * kiln.c - the kiln command-line program: `kiln info` lists the backends compiled in,
 * their devices (or why they are unavailable) and what "auto" picks; `kiln train mlp`
 * trains the 784-256-128-10 MLP on Fashion-MNIST and reports accuracy and throughput;
 * `kiln train lenet|alexnet|vgg|googlenet|resnet` trains a conv net from batches
 * augmented and prefetched on a loader thread; `kiln train gan` trains a DCGAN and
 * writes a PNG grid of samples every epoch. It uses the public API only, and the
 * header-only checked arithmetic of src/checked.h to parse numbers.
 */
#include "kiln.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checked.h"

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

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln info\n"
               "       kiln train mlp [--epochs N] [--max-steps N] [--batch B] [--lr X]\n"
               "                      [--optimizer sgd|adam] [--data DIR] [--seed S] [--val N]\n"
               "                      [--train-limit N] [--test-limit N] [--stats]\n"
               "       kiln train lenet|alexnet|vgg|googlenet|resnet [the options of mlp]\n"
               "                      [--augment] [--size 28|32] [--no-prefetch] [--wd X]\n"
               "                      [--cosine] [--depth N] [--width N]\n"
               "       kiln train gan [--epochs N] [--max-steps N] [--batch B] [--lr X]\n"
               "                      [--data DIR] [--seed S] [--train-limit N] [--out DIR]\n"
               "                      [--width N]\n"
               "       kiln --version | --help\n"
               "\n"
               "Environment: KILN_BACKEND (auto, cpu, opencl, vulkan), KILN_DEVICE (index or\n"
               "name substring), KILN_CHECK=1 (check every node against the CPU reference),\n"
               "KILN_LOG (error, warn, info, debug), KILN_CACHE_DIR (kernel cache).\n");
}

/* ==== kiln info ==== */

static void print_details(const char *details)
{
    const char *p = details;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        int len = nl != NULL ? (int)(nl - p) : (int)strlen(p);
        printf("      %.*s\n", len, p);
        p += len + (nl != NULL);
    }
}

static int cmd_info(void)
{
    struct kiln_device_info devs[16];
    const char *env = getenv("KILN_BACKEND"), *sel = NULL;
    if (env != NULL && env[0] != '\0') {
        sel = kiln_backend_resolve(env);
        if (sel == NULL) {
            fprintf(stderr, "kiln: KILN_BACKEND=%s: %s\n", env, kiln_last_error());
            return EXIT_FAILURE;
        }
    }
    printf("kiln %s\n", kiln_version());
    printf("backends compiled in:");
    for (int32_t i = 0; i < kiln_backend_count(); i++) {
        printf(" %s", kiln_backend_name(i));
    }
    printf("\n");
    for (int32_t i = 0; i < kiln_backend_count(); i++) {
        const char *name = kiln_backend_name(i);
        int32_t n = 0;
        kiln_status s = kiln_backend_devices(name, devs, 16, &n);
        if (s != KILN_OK) {
            printf("%s: unavailable: %s\n", name, kiln_last_error());
            kiln_clear_error();
            continue;
        }
        printf("%s: %d device%s\n", name, n, n == 1 ? "" : "s");
        for (int32_t d = 0; d < n && d < 16; d++) {
            printf("  %d: %s (%s)\n", devs[d].index, devs[d].name, devs[d].type);
            print_details(devs[d].details);
        }
    }
    const char *automatic = kiln_backend_resolve("auto");
    printf("auto resolves to: %s\n", automatic != NULL ? automatic : "(none)");
    if (sel != NULL) {
        printf("KILN_BACKEND=%s selects: %s\n", env, sel);
    }
    return EXIT_SUCCESS;
}

/* ==== Argument parsing ==== */

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

/* Integer options: the whole value, decimal, in [lo, hi] (src/checked.h, which refuses
 * what does not fit int64_t instead of wrapping). */
static int parse_int(const char *opt, const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (!kiln__parse_i64(v, lo, hi, out)) {
        fprintf(stderr, "kiln train: %s expects an integer in [%lld, %lld], got '%s'\n", opt,
                (long long)lo, (long long)hi, v != NULL ? v : "(nothing)");
        return 0;
    }
    return 1;
}

/* Real options, used as single-precision floats: finite, positive (or zero when
 * allow_zero), and representable: a value that would become 0, a denormal or infinity
 * as a float (--lr 1e-50, 1e300) is refused rather than silently changed. */
static int parse_real(const char *opt, const char *v, int allow_zero, double *out)
{
    char *end = NULL;
    errno = 0;
    double x = v != NULL ? strtod(v, &end) : 0.0;
    const char *why = NULL;
    if (v == NULL || v[0] == '\0' || *end != '\0' || isnan(x)) {
        why = "a number";
    } else if (x < 0.0 || (x == 0.0 && !allow_zero)) {
        why = allow_zero ? "a number >= 0" : "a number > 0";
    } else if (x > FLT_MAX) {
        why = "a number at most 3.4e38 (the largest float)";
    } else if (x != 0.0 && x < FLT_MIN) {
        why = allow_zero ? "0 or a number at least 1.2e-38 (the smallest normal float)"
                         : "a number at least 1.2e-38 (the smallest normal float)";
    }
    if (why != NULL) {
        fprintf(stderr, "kiln train: %s expects %s, got '%s'\n", opt, why,
                v != NULL ? v : "(nothing)");
        return 0;
    }
    *out = x;
    return 1;
}

static int parse_train_args(int argc, char **argv, struct train_args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t x = 0;
        int ok = 1, takes = 1;
        if (strcmp(o, "--epochs") == 0) {
            ok = parse_int(o, v, 1, 100000, &x);
            a->epochs = (int32_t)x;
        } else if (strcmp(o, "--max-steps") == 0) {
            ok = parse_int(o, v, 1, INT64_MAX / 2, &a->max_steps);
        } else if (strcmp(o, "--batch") == 0) {
            ok = parse_int(o, v, 1, 65536, &a->batch);
        } else if (strcmp(o, "--train-limit") == 0) {
            ok = parse_int(o, v, 1, INT64_MAX / 2, &a->train_limit);
        } else if (strcmp(o, "--test-limit") == 0) {
            ok = parse_int(o, v, 1, INT64_MAX / 2, &a->test_limit);
        } else if (strcmp(o, "--val") == 0) {
            ok = parse_int(o, v, 0, INT64_MAX / 2, &a->val);
        } else if (strcmp(o, "--seed") == 0) {
            ok = parse_int(o, v, 0, INT64_MAX, &x);
            a->seed = (uint64_t)x;
        } else if (strcmp(o, "--lr") == 0) {
            ok = parse_real(o, v, 0, &a->lr);
            a->lr_given = 1;
        } else if (strcmp(o, "--optimizer") == 0) {
            ok = v != NULL && (strcmp(v, "sgd") == 0 || strcmp(v, "adam") == 0);
            if (!ok) {
                fprintf(stderr, "kiln train: --optimizer expects sgd or adam, got '%s'\n",
                        v != NULL ? v : "(nothing)");
            }
            a->optimizer = v;
        } else if (strcmp(o, "--data") == 0) {
            ok = v != NULL && v[0] != '\0';
            if (!ok) {
                fprintf(stderr, "kiln train: --data expects a directory\n");
            }
            a->data = v;
        } else if (strcmp(o, "--stats") == 0) {
            a->stats = 1;
            takes = 0;
        } else if (a->conv && strcmp(o, "--augment") == 0) {
            a->augment = 1;
            takes = 0;
        } else if (a->conv && strcmp(o, "--no-prefetch") == 0) {
            a->no_prefetch = 1;
            takes = 0;
        } else if (a->conv && strcmp(o, "--cosine") == 0) {
            a->cosine = 1;
            takes = 0;
        } else if (a->conv && strcmp(o, "--size") == 0) {
            ok = parse_int(o, v, 28, 32, &a->size) && (a->size == 28 || a->size == 32);
            if (!ok) {
                fprintf(stderr, "kiln train: --size expects 28 or 32\n");
            }
        } else if (a->conv && strcmp(o, "--depth") == 0) {
            ok = parse_int(o, v, 1, 64, &a->depth);
        } else if (a->conv && strcmp(o, "--width") == 0) {
            ok = parse_int(o, v, 1, 1024, &a->width);
        } else if (a->conv && strcmp(o, "--wd") == 0) {
            ok = parse_real(o, v, 1, &a->wd);
        } else if (a->conv && strcmp(o, "--out") == 0) {
            /* checked now, so that a long training does not end in a failed write */
            struct stat st;
            ok = v != NULL && v[0] != '\0' && stat(v, &st) == 0 && S_ISDIR(st.st_mode) &&
                 access(v, W_OK) == 0;
            if (!ok) {
                fprintf(stderr, "kiln train: --out expects a writable directory%s%s%s\n",
                        v != NULL ? " ('" : "", v != NULL ? v : "",
                        v != NULL ? "' is not one)" : "");
            }
            a->out = v;
        } else {
            fprintf(stderr, "kiln train: unknown option '%s'\n", o);
            ok = 0;
        }
        if (!ok) {
            return 0;
        }
        i += takes;
    }
    return 1;
}

/* ==== kiln train mlp ==== */

static int fail(const char *what)
{
    fprintf(stderr, "kiln: %s: %s (%s)\n", what, kiln_last_error(),
            kiln_status_name(kiln_last_status()));
    return EXIT_FAILURE;
}

/* Loads, splits and normalizes the data (the training set only when normalize_train:
 * a loader may normalize it instead); *mean_out, *std_out get the training set's
 * statistics. On failure prints why and how to get it. */
/* Loads and splits the data and prints what was read; the training images are
 * normalized here when normalize_train, and `scaling` (NULL: the mean and std) says in
 * that line how the caller will scale them. */
static int load_data(const struct train_args *a, struct kiln_dataset *train,
                     struct kiln_dataset *val, struct kiln_dataset *test, int normalize_train,
                     const char *scaling, double *mean_out, double *std_out)
{
    struct kiln_dataset all = {0};
    double mean = 0.0, std = 1.0;
    kiln_status s = kiln_dataset_load_mnist(a->data, "train", a->train_limit, &all);
    if (s == KILN_OK) {
        s = kiln_dataset_load_mnist(a->data, "t10k", a->test_limit, test);
    }
    if (s != KILN_OK) {
        fprintf(stderr, "kiln: cannot read Fashion-MNIST: %s\n", kiln_last_error());
        if (s == KILN_E_IO) {
            fprintf(stderr, "kiln: on Debian, install it with `apt-get install "
                            "dataset-fashion-mnist` (files go to " DEFAULT_DATA "),\n"
                            "      or pass --data DIR with train-images-idx3-ubyte.gz, "
                            "train-labels-idx1-ubyte.gz,\n"
                            "      t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz\n");
        }
        kiln_dataset_fini(&all);
        return 0;
    }
    if (a->val >= all.n) {
        fprintf(stderr, "kiln train: --val %lld leaves no training images (%lld loaded)\n",
                (long long)a->val, (long long)all.n);
        kiln_dataset_fini(&all);
        return 0;
    }
    if (a->val > 0) {
        s = kiln_dataset_split(&all, a->val, a->seed, train, val);
        kiln_dataset_fini(&all);
    } else {
        *train = all; /* no validation set: keep the data without a copy */
    }
    if (s == KILN_OK) {
        s = kiln_dataset_stats(train, &mean, &std);
    }
    if (s == KILN_OK) {
        char norm[96];
        snprintf(norm, sizeof(norm), "normalized with mean %.4f, std %.4f", mean, std);
        printf("data: %s: %lld training, %lld validation, %lld test images; %s\n", a->data,
               (long long)train->n, (long long)val->n, (long long)test->n,
               scaling != NULL ? scaling : norm);
        *mean_out = mean;
        *std_out = std;
        if (normalize_train) {
            s = kiln_dataset_normalize(train, mean, std);
        }
    }
    if (s == KILN_OK && val->n > 0) {
        s = kiln_dataset_normalize(val, mean, std);
    }
    if (s == KILN_OK) {
        s = kiln_dataset_normalize(test, mean, std);
    }
    if (s != KILN_OK) {
        fail("preparing the data");
        return 0;
    }
    return 1;
}

/* The optimizer of --optimizer, --lr and --wd: SGD with momentum 0.9, or Adam (lr
 * 0.001 unless --lr is given). */
static struct kiln_optim_options optim_options(const struct train_args *a)
{
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    if (strcmp(a->optimizer, "adam") == 0) {
        oo.kind = KILN_OPTIM_ADAM;
        oo.lr = a->lr_given ? (float)a->lr : 0.001f;
    } else {
        oo.lr = (float)a->lr;
        oo.momentum = 0.9f;
    }
    oo.weight_decay = (float)a->wd;
    return oo;
}

/* Builds and compiles the classifier graph. */
static kiln_status build_mlp(kiln_context *ctx, const struct train_args *a, int64_t dim,
                             kiln_graph **g, struct kiln_classifier *m)
{
    static const int64_t sizes[3] = {256, 128, 10};
    struct kiln_dense_options dense = KILN_DENSE_OPTIONS_INIT;
    int64_t xd[2] = {a->batch, dim}, yd[1] = {a->batch};
    kiln_status s = kiln_graph_create(ctx, g);
    if (s != KILN_OK) {
        return s;
    }
    dense.seed = a->seed;
    m->x = kiln_input(*g, "x", KILN_DTYPE_F32, 2, xd);
    m->y = kiln_input(*g, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *logits = kiln_mlp(*g, m->x, 3, sizes, KILN_ACTIVATION_RELU, &dense);
    m->loss = kiln_tensor_keep(kiln_softmax_xent(*g, logits, m->y));
    m->pred = kiln_tensor_keep(kiln_argmax(*g, logits));
    struct kiln_optim_options oo = optim_options(a);
    s = kiln_optimizer_create(*g, m->loss, &oo, &m->optimizer);
    if (s == KILN_OK) {
        s = kiln_graph_compile(*g);
    }
    return s;
}

/* Counter deltas of the training steps, kept by the callback. */
struct stats_track {
    kiln_context *ctx;
    struct kiln_stats mark, train, eval;
};

static void add_delta(struct kiln_stats *acc, const struct kiln_stats *a,
                      const struct kiln_stats *b)
{
    acc->runs += b->runs - a->runs;
    acc->nodes += b->nodes - a->nodes;
    acc->submissions += b->submissions - a->submissions;
    acc->host_waits += b->host_waits - a->host_waits;
    acc->bytes_uploaded += b->bytes_uploaded - a->bytes_uploaded;
    acc->bytes_downloaded += b->bytes_downloaded - a->bytes_downloaded;
}

static int track(void *ud, const struct kiln_fit_progress *p)
{
    struct stats_track *t = ud;
    struct kiln_stats now;
    kiln_fit_print(stdout, p);
    if (p->event == KILN_FIT_STEP && p->step_in_epoch != p->steps_per_epoch) {
        return 0;
    }
    kiln_context_stats(t->ctx, &now);
    add_delta(p->event == KILN_FIT_STEP ? &t->train : &t->eval, &t->mark, &now);
    t->mark = now;
    return 0;
}

static void print_stats(const struct stats_track *t, int64_t steps)
{
    double n = steps > 0 ? (double)steps : 1.0;
    const struct kiln_stats *s = &t->train;
    printf("stats per training step (%lld steps): %.2f runs, %.1f nodes, %.2f submissions, "
           "%.2f host waits, %.0f bytes up, %.0f bytes down\n",
           (long long)steps, (double)s->runs / n, (double)s->nodes / n, (double)s->submissions / n,
           (double)s->host_waits / n, (double)s->bytes_uploaded / n,
           (double)s->bytes_downloaded / n);
    s = &t->eval;
    printf("stats of all evaluations: %llu runs, %llu nodes, %llu submissions, %llu host waits, "
           "%llu bytes up, %llu bytes down\n",
           (unsigned long long)s->runs, (unsigned long long)s->nodes,
           (unsigned long long)s->submissions, (unsigned long long)s->host_waits,
           (unsigned long long)s->bytes_uploaded, (unsigned long long)s->bytes_downloaded);
}

static int cmd_train_mlp(int argc, char **argv)
{
    struct train_args a = {
        .epochs = 1, .batch = 64, .lr = 0.01, .optimizer = "sgd", .data = DEFAULT_DATA, .size = 28};
    struct kiln_dataset train = {0}, val = {0}, test = {0};
    struct kiln_classifier m = KILN_CLASSIFIER_INIT;
    struct kiln_fit_options fo = KILN_FIT_OPTIONS_INIT;
    struct kiln_fit_result res;
    kiln_context *ctx = NULL;
    kiln_graph *g = NULL;
    int rc = EXIT_FAILURE;

    if (!parse_train_args(argc, argv, &a)) {
        fprintf(stderr, "kiln train: see `kiln --help`\n");
        return EXIT_USAGE;
    }
    double mean, std;
    if (!load_data(&a, &train, &val, &test, 1, NULL, &mean, &std)) {
        goto done;
    }
    if (train.n < a.batch) {
        fprintf(stderr, "kiln train: %lld training images make no batch of %lld\n",
                (long long)train.n, (long long)a.batch);
        goto done;
    }
    if (kiln_context_create(NULL, &ctx) != KILN_OK) {
        rc = fail("creating a context");
        goto done;
    }
    printf("backend: %s, device: %s%s\n", kiln_context_backend(ctx), kiln_context_device(ctx),
           kiln_context_check(ctx) ? " (KILN_CHECK on)" : "");
    if (build_mlp(ctx, &a, train.dim, &g, &m) != KILN_OK) {
        rc = fail("building the MLP");
        goto done;
    }
    printf("model: MLP %lld-256-128-10, ReLU, %lld parameters; %s lr %g%s, batch %lld, "
           "%d epoch%s%s\n",
           (long long)train.dim, (long long)kiln_graph_n_param_elems(g), a.optimizer,
           (double)kiln_optimizer_lr(m.optimizer),
           strcmp(a.optimizer, "sgd") == 0 ? " momentum 0.9" : "", (long long)a.batch, a.epochs,
           a.epochs == 1 ? "" : "s", a.max_steps ? " (step limit)" : "");
    struct stats_track st = {ctx, {0}, {0}, {0}};
    kiln_context_reset_stats(ctx);
    fo.epochs = a.epochs;
    fo.max_steps = a.max_steps;
    fo.seed = a.seed;
    fo.callback = track;
    fo.callback_ud = &st;
    if (kiln_fit(&m, &train, val.n > 0 ? &val : NULL, &test, &fo, &res) != KILN_OK) {
        rc = fail("training");
        goto done;
    }
    printf("test accuracy: %.4f on %lld images after %lld steps (training %.2f s, %.0f "
           "images/s; total with evaluation %.2f s)\n",
           res.test_accuracy, (long long)test.n, (long long)res.steps, res.train_seconds,
           res.images_per_s, res.total_seconds);
    if (a.stats) {
        print_stats(&st, res.steps);
    }
    rc = EXIT_SUCCESS;

done:
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    kiln_dataset_fini(&test);
    kiln_dataset_fini(&val);
    kiln_dataset_fini(&train);
    return rc;
}

/* ==== kiln train lenet|alexnet|vgg|googlenet|resnet ==== */

/* Pads (centred) a normalized evaluation set to size x size items in place of ds. */
static kiln_status pad_dataset(struct kiln_dataset *ds, int64_t size)
{
    struct kiln_augment aug = KILN_AUGMENT_INIT;
    int64_t h = ds->dims[0], w = ds->dims[1];
    if (ds->n == 0 || (h == size && w == size)) {
        return KILN_OK;
    }
    aug.pad = (int32_t)((size - h + 1) / 2);
    aug.crop_h = aug.crop_w = (int32_t)size;
    float *x = malloc((size_t)(ds->n * size * size) * sizeof(float));
    if (x == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    kiln_status s = kiln_augment_apply(&aug, h, w, ds->n, ds->x, x, 0, 0);
    if (s != KILN_OK) {
        free(x);
        return s;
    }
    free(ds->x);
    ds->x = x;
    ds->dim = size * size;
    ds->dims[0] = ds->dims[1] = size;
    return KILN_OK;
}

/* The progress printer plus an optional cosine learning-rate schedule over all steps. */
struct conv_track {
    struct stats_track st;
    kiln_optimizer *opt;
    double lr0;
    int64_t total_steps;
    int cosine;
};

static int conv_track_cb(void *ud, const struct kiln_fit_progress *p)
{
    struct conv_track *t = ud;
    if (t->cosine && p->event == KILN_FIT_STEP && t->total_steps > 0) {
        double f = (double)p->step / (double)t->total_steps;
        kiln_optimizer_set_lr(t->opt, (float)(0.5 * t->lr0 * (1.0 + cos(3.14159265358979 * f))));
    }
    return track(&t->st, p);
}

static kiln_status build_conv(kiln_context *ctx, const struct train_args *a, kiln_model model,
                              kiln_graph **g, struct kiln_classifier *m)
{
    struct kiln_model_options mo = KILN_MODEL_OPTIONS_INIT;
    int64_t xd[4] = {a->batch, 1, a->size, a->size}, yd[1] = {a->batch};
    KILN_TRY_CLI(kiln_graph_create(ctx, g));
    mo.seed = a->seed;
    if (a->depth > 0) {
        mo.depth = (int32_t)a->depth;
    }
    if (a->width > 0) {
        mo.width = (int32_t)a->width;
    }
    m->x = kiln_input(*g, "x", KILN_DTYPE_F32, 4, xd);
    m->y = kiln_input(*g, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *logits = kiln_model_build(*g, model, m->x, &mo);
    m->loss = kiln_tensor_keep(kiln_softmax_xent(*g, logits, m->y));
    m->pred = kiln_tensor_keep(kiln_argmax(*g, logits));
    struct kiln_optim_options oo = optim_options(a);
    KILN_TRY_CLI(kiln_optimizer_create(*g, m->loss, &oo, &m->optimizer));
    return kiln_graph_compile(*g);
}

static int cmd_train_conv(kiln_model model, int argc, char **argv)
{
    struct train_args a = {.epochs = 1,
                           .batch = 64,
                           .lr = 0.01,
                           .optimizer = "sgd",
                           .data = DEFAULT_DATA,
                           .size = 28,
                           .conv = 1};
    struct kiln_dataset train = {0}, val = {0}, test = {0};
    struct kiln_classifier m = KILN_CLASSIFIER_INIT;
    struct kiln_fit_options fo = KILN_FIT_OPTIONS_INIT;
    struct kiln_loader_options lo = KILN_LOADER_OPTIONS_INIT;
    struct kiln_augment aug = KILN_AUGMENT_INIT;
    struct kiln_fit_result res;
    kiln_context *ctx = NULL;
    kiln_graph *g = NULL;
    kiln_loader *loader = NULL;
    double mean, std;
    int rc = EXIT_FAILURE;

    if (model == KILN_MODEL_RESNET) {
        a.lr = 0.05;
        a.wd = 5e-4;
    }
    if (!parse_train_args(argc, argv, &a)) {
        fprintf(stderr, "kiln train: see `kiln --help`\n");
        return EXIT_USAGE;
    }
    if (!load_data(&a, &train, &val, &test, 0, NULL, &mean, &std)) {
        goto done;
    }
    if (train.n < a.batch) {
        fprintf(stderr, "kiln train: %lld training images make no batch of %lld\n",
                (long long)train.n, (long long)a.batch);
        goto done;
    }
    if (pad_dataset(&test, a.size) != KILN_OK || pad_dataset(&val, a.size) != KILN_OK) {
        rc = fail("padding the evaluation data");
        goto done;
    }
    /* torchvision's order: pad and crop the raw image, flip, then normalize */
    aug.pad = (int32_t)(a.size - 28) / 2 + (a.augment ? 2 : 0);
    aug.crop_h = aug.crop_w = (int32_t)a.size;
    aug.random_crop = aug.hflip = a.augment;
    aug.normalize = 1;
    aug.mean[0] = (float)mean;
    aug.std[0] = (float)std;
    lo.batch_size = a.batch;
    lo.seed = a.seed;
    lo.prefetch = !a.no_prefetch;
    lo.augment = &aug;
    if (kiln_loader_create(&train, &lo, &loader) != KILN_OK) {
        rc = fail("creating the loader");
        goto done;
    }
    if (kiln_context_create(NULL, &ctx) != KILN_OK) {
        rc = fail("creating a context");
        goto done;
    }
    printf("backend: %s, device: %s%s\n", kiln_context_backend(ctx), kiln_context_device(ctx),
           kiln_context_check(ctx) ? " (KILN_CHECK on)" : "");
    if (build_conv(ctx, &a, model, &g, &m) != KILN_OK) {
        rc = fail("building the model");
        goto done;
    }
    printf("model: %s, %lld parameters, %.2f MFLOPs per image (forward), input 1x%lldx%lld\n",
           kiln_model_name(model), (long long)kiln_graph_n_param_elems(g),
           kiln_graph_flops(g, a.batch) / 1e6, (long long)a.size, (long long)a.size);
    char wd[48] = "";
    if (a.wd > 0) {
        snprintf(wd, sizeof(wd), ", weight decay %g", a.wd);
    }
    printf("training: %s lr %g%s%s%s, batch %lld, %d epoch%s%s; loader: %s%s\n", a.optimizer,
           (double)kiln_optimizer_lr(m.optimizer),
           strcmp(a.optimizer, "sgd") == 0 ? " momentum 0.9" : "", wd,
           a.cosine ? ", cosine schedule" : "", (long long)a.batch, a.epochs,
           a.epochs == 1 ? "" : "s", a.max_steps ? " (step limit)" : "",
           a.augment ? "random crop (padding 2) and flip, normalized" : "normalized",
           a.no_prefetch ? "" : ", prefetching thread");
    struct conv_track ct = {{ctx, {0}, {0}, {0}}, m.optimizer, 0.0, 0, a.cosine};
    ct.lr0 = kiln_optimizer_lr(m.optimizer);
    ct.total_steps = kiln_loader_n_batches(loader) * a.epochs;
    if (a.max_steps > 0 && a.max_steps < ct.total_steps) {
        ct.total_steps = a.max_steps;
    }
    kiln_context_reset_stats(ctx);
    fo.epochs = a.epochs;
    fo.max_steps = a.max_steps;
    fo.callback = conv_track_cb;
    fo.callback_ud = &ct;
    if (kiln_fit_loader(&m, loader, val.n > 0 ? &val : NULL, &test, &fo, &res) != KILN_OK) {
        rc = fail("training");
        goto done;
    }
    printf("test accuracy: %.4f on %lld images after %lld steps (training %.2f s, %.0f "
           "images/s; total with evaluation %.2f s)\n",
           res.test_accuracy, (long long)test.n, (long long)res.steps, res.train_seconds,
           res.images_per_s, res.total_seconds);
    if (a.stats) {
        print_stats(&ct.st, res.steps);
    }
    if (a.out != NULL) { /* the trained weights (and batch norm's running statistics) */
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s.safetensors", a.out, kiln_model_name(model));
        if (kiln_graph_save(g, path, 0) != KILN_OK) {
            rc = fail("saving the weights");
            goto done;
        }
        printf("weights: %s\n", path);
    }
    rc = EXIT_SUCCESS;

done:
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    kiln_loader_destroy(loader);
    kiln_dataset_fini(&test);
    kiln_dataset_fini(&val);
    kiln_dataset_fini(&train);
    return rc;
}

/* ==== kiln train gan ==== */

static int write_samples(kiln_gan *gan, const char *dir, int32_t epoch, float *images, int64_t n,
                         int *png_ok)
{
    char path[4096];
    if (kiln_gan_sample(gan, images) != KILN_OK) {
        return fail("sampling the generator");
    }
    if (!*png_ok) {
        return EXIT_SUCCESS;
    }
    snprintf(path, sizeof(path), "%s/gan_epoch_%03d.png", dir, epoch);
    kiln_status s = kiln_png_write_grid(path, images, n < 64 ? n : 64, 28, 28, 8, -1.0f, 1.0f);
    if (s == KILN_E_UNSUPPORTED) {
        fprintf(stderr, "kiln: cannot write sample grids: %s\n", kiln_last_error());
        *png_ok = 0;
        return EXIT_SUCCESS;
    }
    if (s != KILN_OK) {
        return fail("writing the sample grid");
    }
    printf("samples: %s\n", path);
    return EXIT_SUCCESS;
}

static int cmd_train_gan(int argc, char **argv)
{
    struct train_args a = {.epochs = 1,
                           .batch = 64,
                           .lr = 2e-4,
                           .optimizer = "adam",
                           .data = DEFAULT_DATA,
                           .size = 28,
                           .conv = 1,
                           .out = "."};
    struct kiln_dataset train = {0}, val = {0}, test = {0};
    struct kiln_gan_options go = KILN_GAN_OPTIONS_INIT;
    kiln_batch_iter *it = NULL;
    kiln_context *ctx = NULL;
    kiln_gan *gan = NULL;
    float *real = NULL, *images = NULL;
    int rc = EXIT_FAILURE, png_ok = 1;
    double mean, std;

    a.test_limit = 1;
    if (!parse_train_args(argc, argv, &a)) {
        fprintf(stderr, "kiln train: see `kiln --help`\n");
        return EXIT_USAGE;
    }
    if (!load_data(&a, &train, &val, &test, 0,
                   "scaled to [-1, 1] as (x - 0.5) / 0.5, the range of the generator's tanh", &mean,
                   &std)) {
        goto done;
    }
    /* tanh outputs: real images go to [-1, 1] */
    if (kiln_dataset_normalize(&train, 0.5, 0.5) != KILN_OK) {
        rc = fail("scaling the data");
        goto done;
    }
    go.batch_size = a.batch;
    if (a.width > 0) {
        go.g_width = a.width;
        go.d_width = 2 * a.width;
    }
    go.lr = (float)a.lr;
    go.seed = a.seed;
    if (kiln_context_create(NULL, &ctx) != KILN_OK) {
        rc = fail("creating a context");
        goto done;
    }
    printf("backend: %s, device: %s%s\n", kiln_context_backend(ctx), kiln_context_device(ctx),
           kiln_context_check(ctx) ? " (KILN_CHECK on)" : "");
    if (kiln_gan_create(ctx, &go, &gan) != KILN_OK) {
        rc = fail("building the GAN");
        goto done;
    }
    int64_t gp, dp;
    double gf, df;
    kiln_gan_n_params(gan, &gp, &dp);
    kiln_gan_flops(gan, &gf, &df);
    printf("model: DCGAN, generator %lld parameters, %.2f MFLOPs per image; discriminator %lld "
           "parameters, %.2f MFLOPs per image\n",
           (long long)gp, gf / 1e6, (long long)dp, df / 1e6);
    printf("training: Adam lr %g betas (%g, 0.999) for both nets, batch %lld, %d epoch%s%s\n",
           (double)go.lr, (double)go.beta1, (long long)a.batch, a.epochs, a.epochs == 1 ? "" : "s",
           a.max_steps ? " (step limit)" : "");
    real = malloc((size_t)(a.batch * train.dim) * sizeof(float));
    images = malloc((size_t)(a.batch * 28 * 28) * sizeof(float));
    if (real == NULL || images == NULL ||
        kiln_batch_iter_create(&train, a.batch, KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST, a.seed,
                               &it) != KILN_OK) {
        rc = fail("preparing batches");
        goto done;
    }
    int64_t step = 0;
    for (int32_t e = 1; e <= a.epochs && (a.max_steps == 0 || step < a.max_steps); e++) {
        double dsum = 0.0, gsum = 0.0, t0 = now_s();
        int64_t n = 0, got;
        kiln_batch_iter_reset(it, e - 1);
        while (a.max_steps == 0 || step < a.max_steps) {
            float dl, gl;
            if (kiln_batch_iter_next(it, real, NULL, &got) != KILN_OK) {
                rc = fail("batching");
                goto done;
            }
            if (got == 0) {
                break;
            }
            if (kiln_gan_step(gan, real, &dl, &gl) != KILN_OK) {
                rc = fail("training");
                goto done;
            }
            dsum += dl;
            gsum += gl;
            n++;
            step++;
            if (n % 100 == 0) {
                fprintf(stderr, "epoch %d step %lld: loss D %.4f G %.4f\n", e, (long long)n,
                        dsum / (double)n, gsum / (double)n);
            }
        }
        double secs = now_s() - t0;
        printf("epoch %d/%d: loss D %.4f (mean BCE over real and fake), G %.4f (%lld steps in "
               "%.2f s, %.0f images/s)\n",
               e, a.epochs, n ? dsum / (double)n : NAN, n ? gsum / (double)n : NAN, (long long)n,
               secs, secs > 0 ? (double)(n * a.batch) / secs : 0.0);
        if (write_samples(gan, a.out, e, images, a.batch, &png_ok) != EXIT_SUCCESS) {
            goto done;
        }
    }
    rc = EXIT_SUCCESS;

done:
    kiln_batch_iter_destroy(it);
    free(images);
    free(real);
    kiln_gan_destroy(gan);
    kiln_context_destroy(ctx);
    kiln_dataset_fini(&test);
    kiln_dataset_fini(&val);
    kiln_dataset_fini(&train);
    return rc;
}

int main(int argc, char **argv)
{
    /* Line-buffered, so epoch lines and the progress on stderr interleave in order. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_SUCCESS;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("kiln %s\n", kiln_version());
        return EXIT_SUCCESS;
    }
    if (strcmp(argv[1], "info") == 0) {
        if (argc > 2) {
            fprintf(stderr, "kiln info: takes no arguments (got '%s')\n", argv[2]);
            return EXIT_USAGE;
        }
        return cmd_info();
    }
    if (strcmp(argv[1], "train") == 0) {
        kiln_model model;
        if (argc >= 3 && strcmp(argv[2], "mlp") == 0) {
            return cmd_train_mlp(argc - 3, argv + 3);
        }
        if (argc >= 3 && strcmp(argv[2], "gan") == 0) {
            return cmd_train_gan(argc - 3, argv + 3);
        }
        if (argc < 3 || kiln_model_from_name(argv[2], &model) != KILN_OK) {
            fprintf(stderr,
                    "kiln train: unknown model '%s'; available: mlp, lenet, alexnet, vgg, "
                    "googlenet, resnet, gan\n",
                    argc < 3 ? "" : argv[2]);
            return EXIT_USAGE;
        }
        return cmd_train_conv(model, argc - 3, argv + 3);
    }
    fprintf(stderr, "kiln: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
