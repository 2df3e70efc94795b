/*
 * fit.c - the classifier training loop (kiln_fit), evaluation (kiln_evaluate) and the
 * printing callback (kiln_fit_print). The loop batches on the host, uploads x and y,
 * runs one optimizer step per batch and reads the loss back every loss_every steps;
 * evaluation runs only the prediction's ancestors. The printing callback is the one
 * place that writes to a stream, and only when the caller passes it in.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../graph/graph_impl.h"
#include "fit_impl.h"
#include "kiln/train.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Checks input x and prediction pred of a classifier against ds; *batch is x's first dim. */
static kiln_status check_io(const struct kiln_tensor *x, const struct kiln_tensor *pred,
                            const struct kiln_tensor *y, const struct kiln_dataset *ds,
                            int64_t *batch)
{
    if (x->dtype != KILN_DTYPE_F32 || x->shape.rank < 1 || pred->dtype != KILN_DTYPE_I32 ||
        pred->shape.rank != 1 || pred->shape.dims[0] != x->shape.dims[0] ||
        (y != NULL && (y->dtype != KILN_DTYPE_I32 || y->n_elems != x->shape.dims[0]))) {
        return KILN_FAIL(KILN_E_SHAPE, "kiln_fit: x must be f32 [B, ...], y and pred i32 [B]");
    }
    *batch = x->shape.dims[0];
    if (*batch <= 0 || x->n_elems != *batch * ds->dim) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "kiln_fit: '%s' holds %lld values per item, the dataset %lld", x->name,
                         (long long)(*batch > 0 ? x->n_elems / *batch : 0), (long long)ds->dim);
    }
    return KILN_OK;
}

/* Batch size and checks that the model fits ds. */
static kiln_status check_model(const struct kiln_classifier *m, const struct kiln_dataset *ds,
                               int64_t *batch)
{
    if (m == NULL || ds == NULL || m->struct_size < sizeof(*m) || m->x == NULL || m->pred == NULL ||
        m->optimizer == NULL || ((m->eval_x == NULL) != (m->eval_pred == NULL))) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_fit: the classifier needs struct_size, optimizer, x and pred (and "
                         "eval_x with eval_pred)");
    }
    KILN_TRY(check_io(m->x, m->pred, m->y, ds, batch));
    return kiln__fit_check_onehot(m, *batch);
}

kiln_status kiln__fit_check_onehot(const struct kiln_classifier *m, int64_t batch)
{
    const struct kiln_tensor *t = m->y_onehot;
    if (t != NULL && (t->dtype != KILN_DTYPE_F32 || t->shape.rank != 2 ||
                      t->shape.dims[0] != batch || t->shape.dims[1] < 1)) {
        return KILN_FAIL(KILN_E_SHAPE, "kiln_fit: y_onehot ('%s') must be f32 [%lld, C]", t->name,
                         (long long)batch);
    }
    return KILN_OK;
}

kiln_status kiln__check_loss(float loss, int64_t step, int32_t epoch)
{
    if (isfinite(loss)) {
        return KILN_OK;
    }
    return KILN_FAIL(KILN_E_DIVERGED,
                     "training diverged: the loss is %g at step %lld (epoch %d); try a smaller "
                     "learning rate or gradient clipping, and KILN_CHECK=nan to find the first op "
                     "with non-finite values",
                     (double)loss, (long long)step, epoch);
}

kiln_status kiln_evaluate(const struct kiln_classifier *m, const struct kiln_dataset *ds,
                          double *accuracy)
{
    int64_t batch, n, correct = 0;
    kiln_batch_iter *it = NULL;
    if (accuracy == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_evaluate: accuracy is NULL");
    }
    KILN_TRY(check_model(m, ds, &batch));
    kiln_tensor *ex = m->eval_x != NULL ? m->eval_x : m->x;
    kiln_tensor *target = m->eval_x != NULL ? m->eval_pred : m->pred;
    KILN_TRY(check_io(ex, target, NULL, ds, &batch));
    *accuracy = NAN;
    if (ds->n == 0) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_evaluate: the dataset has no items");
    }
    struct kiln_context *ctx = ex->graph->ctx;
    float *x = kiln__alloc(ctx, (size_t)(batch * ds->dim) * sizeof(float), "an evaluation batch");
    int32_t *y = kiln__alloc(ctx, (size_t)batch * sizeof(int32_t), "an evaluation batch");
    int32_t *pred = kiln__alloc(ctx, (size_t)batch * sizeof(int32_t), "an evaluation batch");
    kiln_status s = x && y && pred ? KILN_OK : KILN_E_OUT_OF_HOST_MEMORY;
    if (s == KILN_OK) {
        s = kiln_batch_iter_create(ds, batch, 0, 0, &it);
    }
    while (s == KILN_OK) {
        s = kiln_batch_iter_next(it, x, y, &n);
        if (s != KILN_OK || n == 0) {
            break;
        }
        s = kiln_tensor_upload(ex, x, (size_t)(batch * ds->dim) * sizeof(float));
        if (s == KILN_OK) {
            s = kiln_graph_eval(ex->graph, 1, &target);
        }
        if (s == KILN_OK) {
            s = kiln_tensor_download(target, pred, (size_t)batch * sizeof(int32_t));
        }
        for (int64_t i = 0; s == KILN_OK && i < n; i++) {
            correct += pred[i] == y[i];
        }
    }
    kiln_batch_iter_destroy(it);
    kiln__free(ctx, pred);
    kiln__free(ctx, y);
    kiln__free(ctx, x);
    if (s == KILN_OK) {
        *accuracy = (double)correct / (double)ds->n;
    }
    return s;
}

/* The loop's working state. */
struct fit_state {
    const struct kiln_classifier *m;
    const struct kiln_fit_options *opt;
    kiln_batch_iter *it;
    float *x;
    int32_t *y;
    float *onehot; /* with m->y_onehot */
    int64_t batch, dim;
    struct kiln_fit_progress p;
    int stop;
};

/* Sets the learning rate of the next step from the schedule, if any. */
void kiln__fit_schedule_lr(const struct kiln_fit_options *opt, kiln_optimizer *o, int64_t step)
{
    if (opt->schedule != NULL) {
        kiln_optimizer_set_lr(o, (float)kiln_lr_at(opt->schedule, step));
    }
}

/* Samples this step's loss into p (every loss_every steps of the epoch and its last). */
kiln_status kiln__fit_sample_loss(const struct kiln_classifier *m,
                                  const struct kiln_fit_options *opt, struct kiln_fit_progress *p)
{
    p->loss = NAN;
    if (m->loss != NULL && opt->loss_every > 0 &&
        (p->step_in_epoch % opt->loss_every == 0 || p->step_in_epoch == p->steps_per_epoch)) {
        float loss;
        KILN_TRY(kiln_tensor_download(m->loss, &loss, sizeof(loss)));
        KILN_TRY(kiln__check_loss(loss, p->step, p->epoch));
        p->loss = loss;
        p->loss_sum += loss;
        p->loss_n++;
    }
    p->train_loss = p->loss_n ? p->loss_sum / (double)p->loss_n : NAN;
    p->lr = kiln_optimizer_lr(m->optimizer);
    return KILN_OK;
}

kiln_status kiln__fit_upload_onehot(const struct kiln_classifier *m, const int32_t *y,
                                    float *scratch)
{
    const struct kiln_tensor *t = m->y_onehot;
    if (t == NULL) {
        return KILN_OK;
    }
    int64_t b = t->shape.dims[0], c = t->shape.dims[1];
    memset(scratch, 0, (size_t)(b * c) * sizeof(float));
    for (int64_t i = 0; i < b; i++) {
        if (y[i] >= 0 && y[i] < c) {
            scratch[i * c + y[i]] = 1.0f;
        }
    }
    return kiln_tensor_upload(m->y_onehot, scratch, (size_t)(b * c) * sizeof(float));
}

static kiln_status train_step(struct fit_state *st)
{
    const struct kiln_classifier *m = st->m;
    int64_t n;
    KILN_TRY(kiln_batch_iter_next(st->it, st->x, st->y, &n));
    if (n != st->batch) {
        return KILN_FAIL(KILN_E_INTERNAL, "kiln_fit: short batch of %lld", (long long)n);
    }
    KILN_TRY(kiln_tensor_upload(m->x, st->x, (size_t)(st->batch * st->dim) * sizeof(float)));
    if (m->y != NULL) {
        KILN_TRY(kiln_tensor_upload(m->y, st->y, (size_t)st->batch * sizeof(int32_t)));
    }
    KILN_TRY(kiln__fit_upload_onehot(m, st->y, st->onehot));
    kiln__fit_schedule_lr(st->opt, m->optimizer, st->p.step);
    KILN_TRY(kiln_train_step(m->x->graph, m->optimizer));
    st->p.step++;
    st->p.step_in_epoch++;
    return kiln__fit_sample_loss(m, st->opt, &st->p);
}

/* One epoch from its batch `first` (non-zero only where a resumed run starts). */
static kiln_status run_epoch(struct fit_state *st, const struct kiln_dataset *val,
                             const struct kiln_dataset *test, int64_t first)
{
    const struct kiln_fit_options *opt = st->opt;
    int64_t n_batches = kiln_batch_iter_n_batches(st->it), before = st->p.step - first;
    if (opt->max_steps > 0 && opt->max_steps - before < n_batches) {
        n_batches = opt->max_steps - before;
    }
    kiln_batch_iter_seek(st->it, st->p.epoch - 1, first);
    st->p.event = KILN_FIT_STEP;
    st->p.steps_per_epoch = n_batches;
    st->p.step_in_epoch = first;
    st->p.loss_sum = first > 0 ? opt->start_loss_sum : 0.0;
    st->p.loss_n = first > 0 ? opt->start_loss_n : 0;
    double t0 = now_s();
    while (st->p.step_in_epoch < n_batches && !st->stop) {
        KILN_TRY(train_step(st));
        st->p.seconds = now_s() - t0;
        st->p.steps_per_s = (double)(st->p.step_in_epoch - first) / st->p.seconds;
        st->p.images_per_s = st->p.steps_per_s * (double)st->batch;
        if (opt->callback != NULL && opt->callback(opt->callback_ud, &st->p)) {
            st->stop = 1;
        }
    }
    double t1 = now_s();
    st->p.val_accuracy = st->p.test_accuracy = NAN;
    if (val != NULL) {
        KILN_TRY(kiln_evaluate(st->m, val, &st->p.val_accuracy));
    }
    if (test != NULL) {
        KILN_TRY(kiln_evaluate(st->m, test, &st->p.test_accuracy));
    }
    st->p.eval_seconds = now_s() - t1;
    st->p.event = KILN_FIT_EPOCH_END;
    if (opt->callback != NULL && opt->callback(opt->callback_ud, &st->p)) {
        st->stop = 1;
    }
    return KILN_OK;
}

kiln_status kiln_fit(const struct kiln_classifier *m, const struct kiln_dataset *train,
                     const struct kiln_dataset *val, const struct kiln_dataset *test,
                     const struct kiln_fit_options *opt, struct kiln_fit_result *out)
{
    struct kiln_fit_options defaults = KILN_FIT_OPTIONS_INIT;
    struct fit_state st;
    struct kiln_fit_result res;
    kiln_status s;

    memset(&st, 0, sizeof(st));
    if (opt == NULL) {
        opt = &defaults;
    }
    if (opt->struct_size < sizeof(*opt) || opt->epochs < 0 || opt->max_steps < 0 ||
        opt->loss_every < 0 || opt->start_step < 0 || opt->start_loss_n < 0) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_fit: bad options (epochs %d, max_steps %lld, start_step %lld)",
                         opt->epochs, (long long)opt->max_steps, (long long)opt->start_step);
    }
    if (opt->schedule != NULL) {
        KILN_TRY(kiln_lr_schedule_check(opt->schedule));
    }
    KILN_TRY(check_model(m, train, &st.batch));
    if ((val != NULL && val->dim != train->dim) || (test != NULL && test->dim != train->dim)) {
        return KILN_FAIL(KILN_E_SHAPE, "kiln_fit: the datasets' item sizes differ");
    }
    if (train->n < st.batch) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_fit: %lld training items make no batch of %lld",
                         (long long)train->n, (long long)st.batch);
    }
    struct kiln_context *ctx = m->x->graph->ctx;
    st.m = m;
    st.opt = opt;
    st.dim = train->dim;
    st.p.n_epochs = opt->epochs;
    st.p.batch_size = st.batch;
    memset(&res, 0, sizeof(res));
    res.train_loss = res.val_accuracy = res.test_accuracy = NAN;
    st.x = kiln__alloc(ctx, (size_t)(st.batch * st.dim) * sizeof(float), "a training batch");
    st.y = kiln__alloc(ctx, (size_t)st.batch * sizeof(int32_t), "a training batch");
    if (m->y_onehot != NULL) {
        st.onehot =
            kiln__alloc(ctx, (size_t)m->y_onehot->n_elems * sizeof(float), "one-hot labels");
    }
    if (st.x == NULL || st.y == NULL || (m->y_onehot != NULL && st.onehot == NULL)) {
        s = KILN_E_OUT_OF_HOST_MEMORY;
        goto done;
    }
    s = kiln_batch_iter_create(train, st.batch, KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST,
                               opt->seed, &st.it);
    double t0 = now_s();
    int64_t per = s == KILN_OK ? kiln_batch_iter_n_batches(st.it) : 1;
    int32_t e0 = (int32_t)(opt->start_step / per) + 1;
    st.p.step = opt->start_step;
    for (int32_t e = e0; s == KILN_OK && e <= opt->epochs && !st.stop; e++) {
        if (opt->max_steps > 0 && st.p.step >= opt->max_steps) {
            break;
        }
        st.p.epoch = e;
        s = run_epoch(&st, val, test, e == e0 ? opt->start_step % per : 0);
        if (s == KILN_OK) {
            res.epochs = e;
            res.train_loss = st.p.train_loss;
            res.val_accuracy = st.p.val_accuracy;
            res.test_accuracy = st.p.test_accuracy;
            res.train_seconds += st.p.seconds;
        }
    }
    res.steps = st.p.step;
    res.total_seconds = now_s() - t0;
    res.images_per_s = res.train_seconds > 0
                           ? (double)((res.steps - opt->start_step) * st.batch) / res.train_seconds
                           : 0.0;

done:
    kiln_batch_iter_destroy(st.it);
    kiln__free(ctx, st.onehot);
    kiln__free(ctx, st.y);
    kiln__free(ctx, st.x);
    if (s == KILN_OK && out != NULL) {
        *out = res;
    }
    return s;
}

/* ==== Printing ==== */

static void print_bar(FILE *f, const struct kiln_fit_progress *p)
{
    enum { WIDTH = 30 };
    int fill = (int)(WIDTH * p->step_in_epoch / (p->steps_per_epoch ? p->steps_per_epoch : 1));
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++) {
        bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    }
    bar[WIDTH] = '\0';
    fprintf(f, "\repoch %d/%d [%s] %lld/%lld loss %.4f %.1f steps/s %.0f images/s ", p->epoch,
            p->n_epochs, bar, (long long)p->step_in_epoch, (long long)p->steps_per_epoch,
            p->train_loss, p->steps_per_s, p->images_per_s);
    fflush(f);
}

int kiln_fit_print(void *ud, const struct kiln_fit_progress *p)
{
    FILE *lines = ud != NULL ? (FILE *)ud : stdout;
    int tty = isatty(fileno(stderr));
    if (p->event == KILN_FIT_STEP) {
        int64_t every = p->steps_per_epoch / (tty ? 100 : 10);
        every = every > 0 ? every : 1;
        if (p->step_in_epoch % every != 0 && p->step_in_epoch != p->steps_per_epoch) {
            return 0;
        }
        if (tty) {
            print_bar(stderr, p);
        } else {
            fprintf(stderr, "epoch %d/%d step %lld/%lld loss %.4f %.1f steps/s %.0f images/s\n",
                    p->epoch, p->n_epochs, (long long)p->step_in_epoch,
                    (long long)p->steps_per_epoch, p->train_loss, p->steps_per_s, p->images_per_s);
        }
        return 0;
    }
    if (tty) {
        fprintf(stderr, "\r%*s\r", 110, "");
        fflush(stderr);
    }
    fprintf(lines, "epoch %d/%d: train loss %.4f", p->epoch, p->n_epochs, p->train_loss);
    if (!isnan(p->val_accuracy)) {
        fprintf(lines, ", val accuracy %.4f", p->val_accuracy);
    }
    if (!isnan(p->test_accuracy)) {
        fprintf(lines, ", test accuracy %.4f", p->test_accuracy);
    }
    fprintf(lines, " (%lld steps in %.2f s: %.1f steps/s, %.0f images/s; eval %.2f s)\n",
            (long long)p->steps_per_epoch, p->seconds, p->steps_per_s, p->images_per_s,
            p->eval_seconds);
    fflush(lines);
    return 0;
}
