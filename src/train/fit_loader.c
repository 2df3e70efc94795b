/*
 * fit_loader.c - the classifier training loop over a kiln_loader (augmented batches,
 * prepared on the loader's thread while the step runs). It mirrors kiln_fit: upload x
 * and y, one optimizer step, the loss read back every loss_every steps, evaluation with
 * kiln_evaluate after every epoch, progress through the same callback.
 */
#include <math.h>
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
                        size_t x_bytes, double *loss_sum, int64_t *loss_n)
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
    KILN_TRY(kiln_train_step(m->x->graph, m->optimizer));
    p->step++;
    p->step_in_epoch++;
    if (m->loss != NULL && opt->loss_every > 0 &&
        (p->step_in_epoch % opt->loss_every == 0 || p->step_in_epoch == p->steps_per_epoch)) {
        float loss;
        KILN_TRY(kiln_tensor_download(m->loss, &loss, sizeof(loss)));
        KILN_TRY(kiln__check_loss(loss, p->step, p->epoch));
        *loss_sum += loss;
        (*loss_n)++;
    }
    return KILN_OK;
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
        opt->max_steps < 0 || opt->loss_every < 0) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_fit_loader: bad model, loader or options");
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
    memset(&p, 0, sizeof(p));
    memset(&res, 0, sizeof(res));
    res.train_loss = res.val_accuracy = res.test_accuracy = NAN;
    p.n_epochs = opt->epochs;
    p.batch_size = batch;
    size_t x_bytes = (size_t)(batch * item) * sizeof(float);
    double t_start = now_s();
    for (int32_t e = 1; e <= opt->epochs && !stop; e++) {
        int64_t n_batches = kiln_loader_n_batches(train);
        if (opt->max_steps > 0 && p.step >= opt->max_steps) {
            break;
        }
        if (opt->max_steps > 0 && opt->max_steps - p.step < n_batches) {
            n_batches = opt->max_steps - p.step;
        }
        kiln_loader_reset(train, e - 1);
        p.epoch = e;
        p.event = KILN_FIT_STEP;
        p.steps_per_epoch = n_batches;
        p.step_in_epoch = 0;
        double loss_sum = 0.0, t0 = now_s();
        int64_t loss_n = 0;
        while (p.step_in_epoch < n_batches && !stop) {
            KILN_TRY(step(m, train, opt, &p, x_bytes, &loss_sum, &loss_n));
            p.seconds = now_s() - t0;
            p.train_loss = loss_n ? loss_sum / (double)loss_n : NAN;
            p.steps_per_s = (double)p.step_in_epoch / p.seconds;
            p.images_per_s = p.steps_per_s * (double)batch;
            if (opt->callback != NULL && opt->callback(opt->callback_ud, &p)) {
                stop = 1;
            }
        }
        double t1 = now_s();
        p.val_accuracy = p.test_accuracy = NAN;
        if (val != NULL && m->pred != NULL) {
            KILN_TRY(kiln_evaluate(m, val, &p.val_accuracy));
        }
        if (test != NULL && m->pred != NULL) {
            KILN_TRY(kiln_evaluate(m, test, &p.test_accuracy));
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
    res.images_per_s =
        res.train_seconds > 0 ? (double)(res.steps * batch) / res.train_seconds : 0.0;
    if (out != NULL) {
        *out = res;
    }
    return KILN_OK;
}
