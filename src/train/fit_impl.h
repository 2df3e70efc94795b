/*
 * fit_impl.h - what the two classifier training loops share: kiln_fit (fit.c, batches
 * from a kiln_batch_iter) and kiln_fit_loader (fit_loader.c, batches from a
 * kiln_loader) set the learning rate of a schedule and sample the loss the same way.
 */
#ifndef KILN_FIT_IMPL_H
#define KILN_FIT_IMPL_H

#include <stdint.h>

#include "kiln/train.h"

/* Sets o's learning rate for the step after `step` steps from opt->schedule, if any. */
void kiln__fit_schedule_lr(const struct kiln_fit_options *opt, kiln_optimizer *o, int64_t step);

/* After a step: samples the loss into p (p->loss, loss_sum, loss_n; every loss_every
 * steps of the epoch and at its last step), updates p->train_loss and p->lr. */
kiln_status kiln__fit_sample_loss(const struct kiln_classifier *m,
                                  const struct kiln_fit_options *opt, struct kiln_fit_progress *p);

#endif /* KILN_FIT_IMPL_H */
