/*
 * schedule.c - learning-rate schedules as pure functions of the step: step decay,
 * smooth exponential decay, cosine annealing and a linear warm-up (kiln/train.h). A
 * pure function needs no state in a checkpoint: a resumed run recomputes the rate of
 * its next step from the step count alone.
 */
#include <math.h>

#include "../status_impl.h"
#include "kiln/train.h"

kiln_status kiln_lr_schedule_check(const struct kiln_lr_schedule *s)
{
    if (s == NULL || s->struct_size < sizeof(*s)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "learning-rate schedule: NULL or bad struct_size");
    }
    if (!(s->lr > 0.0) || !isfinite(s->lr) || s->warmup_steps < 0) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "learning-rate schedule: lr %g must be finite and > 0, warmup_steps "
                         "%lld >= 0",
                         s->lr, (long long)s->warmup_steps);
    }
    switch (s->kind) {
    case KILN_LR_CONSTANT:
        return KILN_OK;
    case KILN_LR_STEP:
    case KILN_LR_EXPONENTIAL:
        if (s->step_size < 1 || !(s->gamma > 0.0) || !isfinite(s->gamma)) {
            return KILN_FAIL(KILN_E_INVALID_ARG,
                             "learning-rate schedule: step_size %lld must be >= 1 and gamma %g "
                             "finite and > 0",
                             (long long)s->step_size, s->gamma);
        }
        return KILN_OK;
    case KILN_LR_COSINE:
        if (s->total_steps < 1 || !(s->min_lr >= 0.0) || !isfinite(s->min_lr)) {
            return KILN_FAIL(KILN_E_INVALID_ARG,
                             "learning-rate schedule: total_steps %lld must be >= 1 and min_lr "
                             "%g finite and >= 0",
                             (long long)s->total_steps, s->min_lr);
        }
        return KILN_OK;
    }
    return KILN_FAIL(KILN_E_INVALID_ARG, "learning-rate schedule: unknown kind %d", (int)s->kind);
}

double kiln_lr_at(const struct kiln_lr_schedule *s, int64_t t)
{
    if (kiln_lr_schedule_check(s) != KILN_OK) {
        return NAN;
    }
    t = t < 0 ? 0 : t;
    double lr = s->lr;
    switch (s->kind) {
    case KILN_LR_CONSTANT:
        break;
    case KILN_LR_STEP:
        lr = s->lr * pow(s->gamma, (double)(t / s->step_size));
        break;
    case KILN_LR_EXPONENTIAL:
        lr = s->lr * pow(s->gamma, (double)t / (double)s->step_size);
        break;
    case KILN_LR_COSINE: {
        double f = t >= s->total_steps ? 1.0 : (double)t / (double)s->total_steps;
        lr = s->min_lr + (s->lr - s->min_lr) * 0.5 * (1.0 + cos(3.14159265358979323846 * f));
        break;
    }
    }
    if (t < s->warmup_steps) {
        lr *= (double)(t + 1) / (double)(s->warmup_steps + 1);
    }
    return lr;
}
