/*
 * common.c - helpers every `kiln train` command uses: the clock, failure messages, the
 * context (created before any data is read), loading Fashion-MNIST, the optimizer and
 * learning-rate schedule of the options, and the --stats counters.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int fail(const char *what)
{
    fprintf(stderr, "kiln: %s: %s (%s)\n", what, kiln_last_error(),
            kiln_status_name(kiln_last_status()));
    return EXIT_FAILURE;
}

int open_context(kiln_context **ctx, FILE *info)
{
    if (kiln_context_create(NULL, ctx) != KILN_OK) {
        return fail("creating a context");
    }
    if (info != NULL) {
        fprintf(info, "backend: %s, device: %s%s\n", kiln_context_backend(*ctx),
                kiln_context_device(*ctx), kiln_context_check(*ctx) ? " (KILN_CHECK on)" : "");
    }
    return EXIT_SUCCESS;
}

/* Loads and splits the data and prints what was read to info (NULL: nothing); the
 * training images are normalized here when normalize_train, and `scaling` (NULL: the
 * mean and std) says in that line how the caller will scale them; *mean_out, *std_out
 * get the training set's statistics. On failure prints why and how to get the data. */
int load_data(const struct train_args *a, struct kiln_dataset *train, struct kiln_dataset *val,
              struct kiln_dataset *test, int normalize_train, const char *scaling, double *mean_out,
              double *std_out, FILE *info)
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
        if (info != NULL) {
            fprintf(info, "data: %s: %lld training, %lld validation, %lld test images; %s\n",
                    a->data, (long long)train->n, (long long)val->n, (long long)test->n,
                    scaling != NULL ? scaling : norm);
        }
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

/* The optimizer of --optimizer, --lr, --wd and --clip: SGD with momentum 0.9, Adam,
 * RMSprop or Adagrad with PyTorch's defaults. */
struct kiln_optim_options optim_options(const struct train_args *a)
{
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.lr = (float)train_lr(a);
    if (strcmp(a->optimizer, "adam") == 0) {
        oo.kind = KILN_OPTIM_ADAM;
    } else if (strcmp(a->optimizer, "rmsprop") == 0) {
        oo.kind = KILN_OPTIM_RMSPROP;
    } else if (strcmp(a->optimizer, "adagrad") == 0) {
        oo.kind = KILN_OPTIM_ADAGRAD;
        oo.eps = 1e-10f; /* PyTorch's default for Adagrad */
    } else {
        oo.momentum = 0.9f;
    }
    oo.weight_decay = (float)a->wd;
    oo.clip_norm = (float)a->clip;
    return oo;
}

struct kiln_lr_schedule lr_schedule(const struct train_args *a, int64_t steps_per_epoch,
                                    int64_t total_steps)
{
    struct kiln_lr_schedule s = KILN_LR_SCHEDULE_INIT;
    int64_t per = steps_per_epoch > 0 ? steps_per_epoch : 1;
    s.lr = train_lr(a);
    s.warmup_steps = a->warmup;
    s.gamma = a->gamma;
    if (a->cosine || strcmp(a->schedule, "cosine") == 0) {
        s.kind = KILN_LR_COSINE;
        s.total_steps = total_steps > 0 ? total_steps : 1;
        s.min_lr = a->min_lr;
    } else if (strcmp(a->schedule, "step") == 0) {
        s.kind = KILN_LR_STEP;
        s.step_size = a->step_epochs * per;
    } else if (strcmp(a->schedule, "exp") == 0) {
        s.kind = KILN_LR_EXPONENTIAL;
        s.step_size = per;
    }
    return s;
}

void stats_profile_start(struct stats_track *t)
{
    if (t->ctx == NULL || kiln_context_set_profiling(t->ctx, 1) != KILN_OK) {
        fprintf(stderr, "kiln: warning: no per-op profile: %s\n", kiln_last_error());
        return;
    }
    t->profile = 1;
}

static void prof_add(struct kiln_profile_row *acc, const struct kiln_profile_row *a,
                     const struct kiln_profile_row *b)
{
    acc->nodes += b->nodes - a->nodes;
    acc->dispatches += b->dispatches - a->dispatches;
    acc->barriers += b->barriers - a->barriers;
    acc->bytes += b->bytes - a->bytes;
    acc->seconds += b->seconds - a->seconds;
}

void stats_profile_note(struct stats_track *t, int train)
{
    struct kiln_profile_row rows[STATS_MAX_OPS];
    if (!t->profile) {
        return;
    }
    int32_t n = kiln_context_profile(t->ctx, rows, STATS_MAX_OPS);
    for (int32_t i = 0; i < n && i < STATS_MAX_OPS; i++) {
        int32_t j = 0;
        while (j < t->n_ops && t->ops[j].op != rows[i].op) {
            j++;
        }
        if (j == t->n_ops) {
            if (j == STATS_MAX_OPS) {
                continue;
            }
            memset(&t->ops[j], 0, sizeof(t->ops[j]));
            t->ops[j].op = rows[i].op;
            t->ops[j].family = rows[i].family;
            t->n_ops++;
        }
        struct stats_op *o = &t->ops[j];
        if (train >= 0) {
            prof_add(train ? &o->train : &o->eval, &o->mark, &rows[i]);
        }
        o->mark = rows[i];
    }
}

void add_stats_delta(struct kiln_stats *acc, const struct kiln_stats *a, const struct kiln_stats *b)
{
    acc->runs += b->runs - a->runs;
    acc->nodes += b->nodes - a->nodes;
    acc->submissions += b->submissions - a->submissions;
    acc->host_waits += b->host_waits - a->host_waits;
    acc->bytes_uploaded += b->bytes_uploaded - a->bytes_uploaded;
    acc->bytes_downloaded += b->bytes_downloaded - a->bytes_downloaded;
    acc->dispatches += b->dispatches - a->dispatches;
    acc->barriers += b->barriers - a->barriers;
}

void stats_note(struct stats_track *t, const struct kiln_fit_progress *p)
{
    struct kiln_stats now;
    if (t->ctx == NULL || (p->event == KILN_FIT_STEP && p->step_in_epoch != p->steps_per_epoch)) {
        return;
    }
    kiln_context_stats(t->ctx, &now);
    add_stats_delta(p->event == KILN_FIT_STEP ? &t->train : &t->eval, &t->mark, &now);
    t->mark = now;
    stats_profile_note(t, p->event == KILN_FIT_STEP);
}

/* The training profile per step, one line per op family (most time first) with its
 * ops' times. */
static void print_profile(FILE *f, const struct stats_track *t, double n)
{
    struct fam {
        const char *name;
        struct kiln_profile_row sum;
        char ops[160];
    } fam[STATS_MAX_OPS];
    int32_t n_fam = 0;
    double total = 0.0;
    for (int32_t i = 0; i < t->n_ops; i++) {
        const struct stats_op *o = &t->ops[i];
        if (o->train.nodes == 0 && o->train.dispatches == 0) {
            continue;
        }
        int32_t j = 0;
        while (j < n_fam && strcmp(fam[j].name, o->family) != 0) {
            j++;
        }
        if (j == n_fam) {
            memset(&fam[j], 0, sizeof(fam[j]));
            fam[j].name = o->family;
            n_fam++;
        }
        struct kiln_profile_row zero = {0};
        prof_add(&fam[j].sum, &zero, &o->train);
        size_t len = strlen(fam[j].ops);
        snprintf(fam[j].ops + len, sizeof(fam[j].ops) - len, "%s%s %.2f", len ? ", " : "", o->op,
                 1e3 * o->train.seconds / n);
        total += o->train.seconds;
    }
    for (int32_t i = 1; i < n_fam; i++) { /* by time, most first */
        for (int32_t j = i; j > 0 && fam[j].sum.seconds > fam[j - 1].sum.seconds; j--) {
            struct fam x = fam[j];
            fam[j] = fam[j - 1];
            fam[j - 1] = x;
        }
    }
    fprintf(f, "profile per training step (%.2f ms of device time):\n", 1e3 * total / n);
    fprintf(f, "  %-8s %9s %6s %10s %8s %9s  %s\n", "family", "time ms", "share", "dispatches",
            "barriers", "MB moved", "ops (ms)");
    for (int32_t i = 0; i < n_fam; i++) {
        const struct kiln_profile_row *r = &fam[i].sum;
        fprintf(f, "  %-8s %9.2f %5.1f%% %10.1f %8.1f %9.2f  %s\n", fam[i].name,
                1e3 * r->seconds / n, total > 0 ? 100.0 * r->seconds / total : 0.0,
                (double)r->dispatches / n, (double)r->barriers / n, 1e-6 * (double)r->bytes / n,
                fam[i].ops);
    }
}

void print_stats(FILE *f, const struct stats_track *t, int64_t steps)
{
    double n = steps > 0 ? (double)steps : 1.0;
    const struct kiln_stats *s = &t->train;
    fprintf(f,
            "stats per training step (%lld steps): %.2f runs, %.1f nodes, %.1f dispatches, "
            "%.1f barriers, %.2f submissions, %.2f host waits, %.0f bytes up, %.0f bytes down\n",
            (long long)steps, (double)s->runs / n, (double)s->nodes / n, (double)s->dispatches / n,
            (double)s->barriers / n, (double)s->submissions / n, (double)s->host_waits / n,
            (double)s->bytes_uploaded / n, (double)s->bytes_downloaded / n);
    if (t->profile) {
        print_profile(f, t, n);
    }
    s = &t->eval;
    fprintf(f,
            "stats of all evaluations: %llu runs, %llu nodes, %llu submissions, %llu host waits, "
            "%llu bytes up, %llu bytes down\n",
            (unsigned long long)s->runs, (unsigned long long)s->nodes,
            (unsigned long long)s->submissions, (unsigned long long)s->host_waits,
            (unsigned long long)s->bytes_uploaded, (unsigned long long)s->bytes_downloaded);
}
