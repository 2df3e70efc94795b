/*
 * regression_csv.c - regression on a CSV table with the public API: scikit-learn's
 * diabetes data (tools/data/get_diabetes.sh) by default. Reads the table (numeric
 * features and a numeric target column), keeps the last --test rows for testing (as
 * scikit-learn's "Linear Regression Example" does with 20), standardizes the features
 * and the target with statistics fitted on the training rows only, trains a small MLP
 * (features -> --hidden ReLU units -> 1; --hidden 0: a linear model) on the mean
 * squared error with full-batch Adam, and prints its test MSE and R^2 beside the
 * linear least-squares baseline's (kiln_linreg_fit) on the same split.
 *
 * usage: regression_csv [--help] CSV [--target NAME] [--test N] [--hidden N]
 *                       [--steps N] [--lr X] [--wd X] [--seed S]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

struct args {
    const char *csv, *target;
    long test, hidden, steps, seed;
    double lr, wd;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: regression_csv [--help] CSV [--target NAME] [--test N] [--hidden N]\n"
               "                      [--steps N] [--lr X] [--wd X] [--seed S]\n\n"
               "Trains an MLP on the MSE of a CSV table's numeric target (standardized features\n"
               "and target, statistics of the training rows) and prints its test MSE and R^2\n"
               "beside linear least squares on the same split.\n\n"
               "  --target NAME   the target column (default: the last)\n"
               "  --test N        test on the last N rows (default: 20)\n"
               "  --hidden N      hidden ReLU units; 0: a linear model (default: 16)\n"
               "  --steps N       full-batch Adam steps (default: 1500)\n"
               "  --lr X          Adam's learning rate (default: 0.01)\n"
               "  --wd X          AdamW's decoupled weight decay (default: 0.01)\n"
               "  --seed S        initialization seed (default: 0)\n");
}

static int parse(int argc, char **argv, struct args *a)
{
    a->csv = NULL;
    a->target = NULL;
    a->test = 20;
    a->hidden = 16;
    a->steps = 1500;
    a->seed = 0;
    a->lr = 0.01;
    a->wd = 0.01;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage(stdout);
            exit(EXIT_SUCCESS);
        } else if (o[0] != '-' && a->csv == NULL) {
            a->csv = o;
            continue;
        } else if (v == NULL) {
            fprintf(stderr, "regression_csv: '%s' needs a value\n", o);
            return 0;
        } else if (strcmp(o, "--target") == 0) {
            a->target = v;
        } else if (strcmp(o, "--test") == 0) {
            a->test = atol(v);
        } else if (strcmp(o, "--hidden") == 0) {
            a->hidden = atol(v);
        } else if (strcmp(o, "--steps") == 0) {
            a->steps = atol(v);
        } else if (strcmp(o, "--seed") == 0) {
            a->seed = atol(v);
        } else if (strcmp(o, "--lr") == 0) {
            a->lr = atof(v);
        } else if (strcmp(o, "--wd") == 0) {
            a->wd = atof(v);
        } else {
            fprintf(stderr, "regression_csv: unknown option '%s'\n", o);
            return 0;
        }
        i++;
    }
    if (a->csv == NULL || a->test < 1 || a->hidden < 0 || a->steps < 1 || !(a->lr > 0) ||
        !(a->wd >= 0)) {
        fprintf(stderr, "regression_csv: a CSV file and valid options are needed (--help)\n");
        return 0;
    }
    return 1;
}

static int fail(const char *what)
{
    fprintf(stderr, "regression_csv: %s: %s\n", what, kiln_last_error());
    return EXIT_FAILURE;
}

/* Mean and population std of the target of t. */
static void target_stats(const struct kiln_table *t, double *mean, double *std)
{
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < t->n; i++) {
        s += t->y[i];
        s2 += (double)t->y[i] * t->y[i];
    }
    *mean = s / (double)t->n;
    double var = s2 / (double)t->n - *mean * *mean;
    *std = var > 0 ? sqrt(var) : 1.0;
}

/* MSE and R^2 of predictions p (original units) against t's targets. */
static void score(const struct kiln_table *t, const float *p, double *mse, double *r2)
{
    double m = 0, ss_res = 0, ss_tot = 0;
    for (int64_t i = 0; i < t->n; i++) {
        m += t->y[i];
    }
    m /= (double)t->n;
    for (int64_t i = 0; i < t->n; i++) {
        ss_res += ((double)p[i] - t->y[i]) * ((double)p[i] - t->y[i]);
        ss_tot += (t->y[i] - m) * (t->y[i] - m);
    }
    *mse = ss_res / (double)t->n;
    *r2 = 1.0 - ss_res / ss_tot;
}

/* The model on x [n, f]: an MLP "fc1", "fc2" (or one linear layer "fc1"). */
static kiln_tensor *model(kiln_graph *g, kiln_tensor *x, const struct args *a)
{
    struct kiln_dense_options d = KILN_DENSE_OPTIONS_INIT;
    int64_t sizes[2] = {a->hidden, 1}, one = 1;
    d.seed = (uint64_t)a->seed;
    if (a->hidden == 0) {
        return kiln_mlp(g, x, 1, &one, KILN_ACTIVATION_RELU, &d);
    }
    return kiln_mlp(g, x, 2, sizes, KILN_ACTIVATION_RELU, &d);
}

/* An evaluation graph of the model over rows t, sharing s's parameters. */
struct evalg {
    kiln_graph *g;
    kiln_tensor *x, *p;
    float *out; /* [t->n] predictions in original units */
};

static kiln_status eval_build(kiln_store *s, const struct kiln_table *t, const struct args *a,
                              struct evalg *e)
{
    int64_t d[2] = {t->n, t->n_features};
    e->out = malloc(sizeof(float) * (size_t)t->n);
    if (e->out == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    kiln_status st = kiln_graph_create_in(s, &e->g);
    if (st != KILN_OK) {
        return st;
    }
    e->x = kiln_input(e->g, "x", KILN_DTYPE_F32, 2, d);
    e->p = kiln_tensor_keep(model(e->g, e->x, a));
    st = kiln_graph_compile(e->g);
    return st == KILN_OK ? kiln_tensor_upload(e->x, t->x, sizeof(float) * (size_t)(t->n * d[1]))
                         : st;
}

/* Predictions of e in original units (the target was standardized with ym, ys). */
static kiln_status eval_run(struct evalg *e, int64_t n, double ym, double ys)
{
    kiln_status st = kiln_graph_eval(e->g, 1, &e->p);
    st = st == KILN_OK ? kiln_tensor_download(e->p, e->out, sizeof(float) * (size_t)n) : st;
    for (int64_t i = 0; st == KILN_OK && i < n; i++) {
        e->out[i] = (float)(e->out[i] * ys + ym);
    }
    return st;
}

static void eval_free(struct evalg *e)
{
    kiln_graph_destroy(e->g);
    free(e->out);
}

/*
 * Trains on fit for a.steps full-batch steps and, every 10 steps, evaluates the
 * validation rows; the test predictions of the step with the best validation MSE go to
 * best (early stopping without looking at the test rows). *best_step, *fit_loss report.
 */
static kiln_status train(kiln_context *ctx, const struct args *a, const struct kiln_table *fit,
                         const struct kiln_table *val, const struct kiln_table *test, double ym,
                         double ys, float *best, long *best_step)
{
    int64_t n = fit->n, f = fit->n_features, xd[2] = {n, f}, yd[2] = {n, 1};
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    struct evalg ev = {0}, et = {0};
    kiln_optimizer *opt = NULL;
    kiln_graph *g = NULL;
    float *yt = malloc(sizeof(float) * (size_t)n);
    kiln_status s = yt != NULL ? kiln_graph_create(ctx, &g) : KILN_E_OUT_OF_HOST_MEMORY;
    for (int64_t i = 0; yt != NULL && i < n; i++) {
        yt[i] = (float)((fit->y[i] - ym) / ys);
    }
    oo.kind = KILN_OPTIM_ADAM;
    oo.decoupled = 1;
    oo.lr = (float)a->lr;
    oo.weight_decay = (float)a->wd;
    kiln_tensor *x = s == KILN_OK ? kiln_input(g, "x", KILN_DTYPE_F32, 2, xd) : NULL;
    kiln_tensor *y = s == KILN_OK ? kiln_input(g, "y", KILN_DTYPE_F32, 2, yd) : NULL;
    kiln_tensor *loss = s == KILN_OK ? kiln_mse_loss(g, model(g, x, a), y) : NULL;
    s = s == KILN_OK ? kiln_graph_backward(g, loss) : s;
    s = s == KILN_OK ? kiln_graph_compile(g) : s;
    s = s == KILN_OK ? kiln_optimizer_create(kiln_graph_store(g), &oo, &opt) : s;
    s = s == KILN_OK ? kiln_tensor_upload(x, fit->x, sizeof(float) * (size_t)(n * f)) : s;
    s = s == KILN_OK ? kiln_tensor_upload(y, yt, sizeof(float) * (size_t)n) : s;
    s = s == KILN_OK ? eval_build(kiln_graph_store(g), val, a, &ev) : s;
    s = s == KILN_OK ? eval_build(kiln_graph_store(g), test, a, &et) : s;
    double best_mse = INFINITY;
    for (long t = 1; s == KILN_OK && t <= a->steps; t++) {
        s = kiln_train_step(g, opt);
        if (s == KILN_OK && (t % 10 == 0 || t == a->steps)) {
            double mse, r2;
            s = eval_run(&ev, val->n, ym, ys);
            score(val, ev.out, &mse, &r2);
            if (s == KILN_OK && mse < best_mse) {
                best_mse = mse;
                *best_step = t;
                s = eval_run(&et, test->n, ym, ys);
                memcpy(best, et.out, sizeof(float) * (size_t)test->n);
            }
        }
    }
    eval_free(&ev);
    eval_free(&et);
    kiln_graph_destroy(g);
    free(yt);
    return s;
}

int main(int argc, char **argv)
{
    struct args a;
    struct kiln_table all = {0}, train_rows = {0}, fit = {0}, val = {0}, test = {0};
    struct kiln_csv_options co = KILN_CSV_OPTIONS_INIT;
    struct kiln_standardizer st = {0};
    kiln_context *ctx = NULL;
    float *pred = NULL;
    int rc = EXIT_FAILURE;
    double w[257], base_mse, base_r2, ym, ys, mse, r2;
    long best_step = 0;
    if (!parse(argc, argv, &a)) {
        return 2;
    }
    co.target = a.target;
    if (kiln_csv_read(a.csv, &co, &all) != KILN_OK) {
        return fail("reading the table");
    }
    int64_t n_train = all.n - a.test, n_val = n_train / 10;
    if (n_train < 20 || all.n_features > 256) {
        fprintf(stderr, "regression_csv: %lld rows and %lld features do not fit (--test %ld)\n",
                (long long)all.n, (long long)all.n_features, a.test);
        goto done;
    }
    /* The baseline: least squares on all training rows. The MLP: the first 90% of them,
     * the last 10% choosing when to stop. Standardized with the training rows' stats. */
    if (kiln_table_split(&all, n_train, &train_rows, &test) != KILN_OK ||
        kiln_standardizer_fit(&train_rows, &st) != KILN_OK ||
        kiln_standardizer_apply(&st, &train_rows) != KILN_OK ||
        kiln_standardizer_apply(&st, &test) != KILN_OK ||
        kiln_table_split(&train_rows, n_train - n_val, &fit, &val) != KILN_OK ||
        kiln_linreg_fit(&train_rows, 0.0, w) != KILN_OK ||
        kiln_linreg_eval(&test, w, &base_mse, &base_r2) != KILN_OK ||
        (pred = malloc(sizeof(float) * (size_t)test.n)) == NULL) {
        rc = fail("preparing the data");
        goto done;
    }
    target_stats(&train_rows, &ym, &ys);
    if (kiln_context_create(NULL, &ctx) != KILN_OK ||
        train(ctx, &a, &fit, &val, &test, ym, ys, pred, &best_step) != KILN_OK) {
        rc = fail("training");
        goto done;
    }
    score(&test, pred, &mse, &r2);
    printf("data: %s: %lld rows, %lld features, target '%s'; test: the last %lld rows; "
           "training: the first %lld (standardized with their statistics), of which the last "
           "%lld are a validation split for early stopping\n",
           a.csv, (long long)all.n, (long long)all.n_features, all.target_name, (long long)test.n,
           (long long)n_train, (long long)n_val);
    printf("model: %s, full-batch AdamW (lr %g, weight decay %g), the weights of step %ld "
           "(the best validation MSE of %ld steps)\n",
           a.hidden > 0 ? "an MLP with one hidden ReLU layer" : "a linear layer", a.lr, a.wd,
           best_step, a.steps);
    printf("test MSE %.2f, R^2 %.4f (%s); linear least squares: MSE %.2f, R^2 %.4f\n", mse, r2,
           a.hidden > 0 ? "MLP" : "linear, trained", base_mse, base_r2);
    rc = EXIT_SUCCESS;

done:
    free(pred);
    kiln_context_destroy(ctx);
    kiln_standardizer_fini(&st);
    kiln_table_fini(&test);
    kiln_table_fini(&val);
    kiln_table_fini(&fit);
    kiln_table_fini(&train_rows);
    kiln_table_fini(&all);
    return rc;
}
