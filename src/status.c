/*
 * status.c - status names and the thread-local last-error record (STYLE B.4).
 * The record is per thread; nothing here is global mutable state shared across threads.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "status_impl.h"

struct kiln__error {
    kiln_status status;
    long native;
    const char *file;
    int line;
    char msg[512];
};

static _Thread_local struct kiln__error tl_err;

const char *kiln_status_name(kiln_status s)
{
    switch (s) {
#define KILN__NAME_CASE(name, value, desc)                                                         \
    case KILN_##name:                                                                              \
        return "KILN_" #name;
        KILN_STATUS_MAP(KILN__NAME_CASE)
#undef KILN__NAME_CASE
    }
    return "KILN_E_UNKNOWN";
}

const char *kiln_status_str(kiln_status s)
{
    switch (s) {
#define KILN__STR_CASE(name, value, desc)                                                          \
    case KILN_##name:                                                                              \
        return desc;
        KILN_STATUS_MAP(KILN__STR_CASE)
#undef KILN__STR_CASE
    }
    return "unknown status";
}

kiln_status kiln__fail(kiln_status s, long native, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tl_err.status = s;
    tl_err.native = native;
    tl_err.file = file;
    tl_err.line = line;
    va_start(ap, fmt);
    vsnprintf(tl_err.msg, sizeof(tl_err.msg), fmt, ap);
    va_end(ap);
    return s;
}

const char *kiln_last_error(void)
{
    return tl_err.msg;
}

kiln_status kiln_last_status(void)
{
    return tl_err.status;
}

long kiln_last_native_code(void)
{
    return tl_err.native;
}

void kiln_clear_error(void)
{
    memset(&tl_err, 0, sizeof(tl_err));
}

void kiln__panic(const char *file, int line, const char *cond)
{
    /* Internal invariants only; caller mistakes never reach this. The failure is recorded
     * so that release builds surface it as KILN_E_INTERNAL from the enclosing call. */
    kiln__fail(KILN_E_INTERNAL, 0, file, line, "internal invariant failed: %s (%s:%d)", cond, file,
               line);
#ifdef KILN_DEBUG
    __builtin_trap();
#endif
}
