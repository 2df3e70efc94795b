/*
 * fit_impl.h - what the two classifier training loops share inside the library:
 * kiln_fit (fit.c, batches from a kiln_batch_iter) and kiln_fit_loader (fit_loader.c,
 * batches from a prefetching kiln_loader) check the loss, set the learning rate of a
 * schedule, sample the loss and upload one-hot labels the same way.
 */
#ifndef KILN_FIT_IMPL_H
#define KILN_FIT_IMPL_H

#include <stdint.h>

#include "kiln/status.h"
#include "kiln/train.h"

/* KILN_OK for a finite loss; else KILN_E_DIVERGED with a message naming the step and
 * epoch (1-based) and what to try. */
kiln_status kiln__check_loss(float loss, int64_t step, int32_t epoch);

/* Sets o's learning rate for the step after `step` steps from opt->schedule, if any. */
void kiln__fit_schedule_lr(const struct kiln_fit_options *opt, kiln_optimizer *o, int64_t step);

/* After a step: samples the loss into p (p->loss, loss_sum, loss_n; every loss_every
 * steps of the epoch and at its last step; KILN_E_DIVERGED for a non-finite one),
 * updates p->train_loss and p->lr. */
kiln_status kiln__fit_sample_loss(const struct kiln_classifier *m,
                                  const struct kiln_fit_options *opt, struct kiln_fit_progress *p);

/* Checks m->y_onehot (when set) against the batch size. */
kiln_status kiln__fit_check_onehot(const struct kiln_classifier *m, int64_t batch);

/* Uploads the one-hot encoding of labels y (m->y_onehot's batch) when m has y_onehot;
 * scratch: m->y_onehot's element count of floats (NULL when it has none). */
kiln_status kiln__fit_upload_onehot(const struct kiln_classifier *m, const int32_t *y,
                                    float *scratch);

#endif /* KILN_FIT_IMPL_H */
