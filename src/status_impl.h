/*
 * status_impl.h - internal error helpers: KILN_FAIL records the thread-local message
 * where an error is detected, KILN_TRY propagates a status without touching it, and
 * KILN_ASSERT checks kiln's own invariants through a replaceable panic hook.
 */
#ifndef KILN_STATUS_IMPL_H
#define KILN_STATUS_IMPL_H

#include "kiln/status.h"

#if defined(__GNUC__)
#define KILN__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KILN__PRINTF(a, b)
#endif

/* Records an error for this thread and returns s. */
kiln_status kiln__fail(kiln_status s, long native, const char *file, int line, const char *fmt, ...)
    KILN__PRINTF(5, 6);

#define KILN_FAIL(s, ...) kiln__fail((s), 0, __FILE__, __LINE__, __VA_ARGS__)
#define KILN_FAIL_NATIVE(s, native, ...)                                                           \
    kiln__fail((s), (long)(native), __FILE__, __LINE__, __VA_ARGS__)

#define KILN_TRY(expr)                                                                             \
    do {                                                                                           \
        kiln_status kiln__s = (expr);                                                              \
        if (kiln__s != KILN_OK) {                                                                  \
            return kiln__s;                                                                        \
        }                                                                                          \
    } while (0)

/* Called when an internal invariant fails; the default hook aborts in debug builds only. */
void kiln__panic(const char *file, int line, const char *cond);

#define KILN_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            kiln__panic(__FILE__, __LINE__, #cond);                                                \
        }                                                                                          \
    } while (0)

#endif /* KILN_STATUS_IMPL_H */
