/*
 * fit_impl.h - what the two training loops (fit.c over a dataset, fit_loader.c over a
 * prefetching loader) share inside the library.
 */
#ifndef KILN_FIT_IMPL_H
#define KILN_FIT_IMPL_H

#include <stdint.h>

#include "kiln/status.h"

/* KILN_OK for a finite loss; else KILN_E_DIVERGED with a message naming the step and
 * epoch (1-based) and what to try. */
kiln_status kiln__check_loss(float loss, int64_t step, int32_t epoch);

#endif /* KILN_FIT_IMPL_H */
