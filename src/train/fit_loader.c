/*
 * fit_loader.c - the classifier training loop over a kiln_loader (augmented batches,
 * prepared on the loader's thread while the step runs). It mirrors kiln_fit: upload x
 * and y, one optimizer step, the loss read back every loss_every steps, evaluation with
 * kiln_evaluate after every epoch, progress through the same callback.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../graph/graph_impl.h"
#include "fit_impl.h"
#include "kiln/train.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static kiln_status step(const struct kiln_classifier *m, kiln_loader *l,
                        const struct kiln_fit_options *opt, struct kiln_fit_progress *p,
                        size_t x_bytes, float *onehot)
{
    const float *x;
    const int32_t *y;
    int64_t n;
    KILN_TRY(kiln_loader_next(l, &x, &y, &n));
    if (n != p->batch_size) {
        return KILN_FAIL(KILN_E_INTERNAL, "kiln_fit_loader: short batch of %lld", (long long)n);
    }
    KILN_TRY(kiln_tensor_upload(m->x, x, x_bytes));
    if (m->y != NULL) {
        KILN_TRY(kiln_tensor_upload(m->y, y, (size_t)n * sizeof(int32_t)));
    }
    KILN_TRY(kiln__fit_upload_onehot(m, y, onehot));
    kiln__fit_schedule_lr(opt, m->optimizer, p->step);
    KILN_TRY(kiln_train_step(m->x->graph, m->optimizer));
    p->step++;
    p->step_in_epoch++;
    return kiln__fit_sample_loss(m, opt, p);
}

kiln_status kiln_fit_loader(const struct kiln_classifier *m, kiln_loader *train,
                            const struct kiln_dataset *val, const struct kiln_dataset *test,
                            const struct kiln_fit_options *opt, struct kiln_fit_result *out)
{
    struct kiln_fit_options defaults = KILN_FIT_OPTIONS_INIT;
    struct kiln_fit_progress p;
    struct kiln_fit_result res;
    int64_t dims[3];
    int stop = 0;

    opt = opt != NULL ? opt : &defaults;
    if (m == NULL || train == NULL || m->struct_size < sizeof(*m) || m->x == NULL ||
        m->optimizer == NULL || opt->struct_size < sizeof(*opt) || opt->epochs < 0 ||
        opt->max_steps < 0 || opt->loss_every < 0 || opt->start_step < 0 || opt->start_loss_n < 0) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_fit_loader: bad model, loader or options");
    }
    if (opt->schedule != NULL) {
        KILN_TRY(kiln_lr_schedule_check(opt->schedule));
    }
    kiln_loader_item_dims(train, dims);
    int64_t batch = m->x->shape.rank > 0 ? m->x->shape.dims[0] : 0;
    int64_t item = dims[0] * dims[1] * dims[2];
    if (batch < 1 || m->x->n_elems != batch * item) {
        return KILN_FAIL(KILN_E_SHAPE,
                         "kiln_fit_loader: '%s' has %lld elements; the loader gives items of "
                         "%lld",
                         m->x->name, (long long)m->x->n_elems, (long long)item);
    }
    KILN_TRY(kiln__fit_check_onehot(m, batch));
    float *onehot = NULL;
    kiln_status s = KILN_OK;
    if (m->y_onehot != NULL) {
        onehot = malloc((size_t)m->y_onehot->n_elems * sizeof(float));
        if (onehot == NULL) {
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_fit_loader: one-hot labels");
        }
    }
    memset(&p, 0, sizeof(p));
    memset(&res, 0, sizeof(res));
    res.train_loss = res.val_accuracy = res.test_accuracy = NAN;
    p.n_epochs = opt->epochs;
    p.batch_size = batch;
    size_t x_bytes = (size_t)(batch * item) * sizeof(float);
    double t_start = now_s();
    int64_t per = kiln_loader_n_batches(train) > 0 ? kiln_loader_n_batches(train) : 1;
    int32_t e0 = (int32_t)(opt->start_step / per) + 1;
    p.step = opt->start_step;
    for (int32_t e = e0; e <= opt->epochs && !stop; e++) {
        int64_t n_batches = kiln_loader_n_batches(train);
        int64_t first = e == e0 ? opt->start_step % per : 0, before = p.step - first;
        if (opt->max_steps > 0 && p.step >= opt->max_steps) {
            break;
        }
        if (opt->max_steps > 0 && opt->max_steps - before < n_batches) {
            n_batches = opt->max_steps - before;
        }
        kiln_loader_seek(train, e - 1, first);
        p.epoch = e;
        p.event = KILN_FIT_STEP;
        p.steps_per_epoch = n_batches;
        p.step_in_epoch = first;
        p.loss_sum = first > 0 ? opt->start_loss_sum : 0.0;
        p.loss_n = first > 0 ? opt->start_loss_n : 0;
        double t0 = now_s();
        while (p.step_in_epoch < n_batches && !stop) {
            s = step(m, train, opt, &p, x_bytes, onehot);
            if (s != KILN_OK) {
                goto done;
            }
            p.seconds = now_s() - t0;
            p.steps_per_s = (double)(p.step_in_epoch - first) / p.seconds;
            p.images_per_s = p.steps_per_s * (double)batch;
            if (opt->callback != NULL && opt->callback(opt->callback_ud, &p)) {
                stop = 1;
            }
        }
        double t1 = now_s();
        p.val_accuracy = p.test_accuracy = NAN;
        if (val != NULL && m->pred != NULL) {
            s = kiln_evaluate(m, val, &p.val_accuracy);
        }
        if (s == KILN_OK && test != NULL && m->pred != NULL) {
            s = kiln_evaluate(m, test, &p.test_accuracy);
        }
        if (s != KILN_OK) {
            goto done;
        }
        p.eval_seconds = now_s() - t1;
        p.event = KILN_FIT_EPOCH_END;
        if (opt->callback != NULL && opt->callback(opt->callback_ud, &p)) {
            stop = 1;
        }
        res.epochs = e;
        res.train_loss = p.train_loss;
        res.val_accuracy = p.val_accuracy;
        res.test_accuracy = p.test_accuracy;
        res.train_seconds += p.seconds;
    }
    res.steps = p.step;
    res.total_seconds = now_s() - t_start;
    res.images_per_s = res.train_seconds > 0
                           ? (double)((res.steps - opt->start_step) * batch) / res.train_seconds
                           : 0.0;
    if (out != NULL) {
        *out = res;
    }
done:
    free(onehot);
    return s;
}
