/*
 * kiln/status.h - status codes and the thread-local last-error message.
 *
 * Every fallible kiln function returns a kiln_status. KILN_OK is zero and every
 * error is negative. The failing call also records a message (which call, which
 * argument, which shape, which file and offset) readable through kiln_last_error().
 * This header holds no other API.
 */
#ifndef KILN_STATUS_H
#define KILN_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && !defined(KILN_STATIC)
#ifdef KILN_BUILD
#define KILN_API __declspec(dllexport)
#else
#define KILN_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define KILN_API __attribute__((visibility("default")))
#else
#define KILN_API
#endif

/* X(name, value, description) */
#define KILN_STATUS_MAP(X)                                                                         \
    X(OK, 0, "success")                                                                            \
    X(E_INVALID_ARG, -1, "invalid argument")                                                       \
    X(E_SHAPE, -2, "shape mismatch")                                                               \
    X(E_DTYPE, -3, "dtype mismatch")                                                               \
    X(E_OUT_OF_HOST_MEMORY, -4, "out of host memory")                                              \
    X(E_OUT_OF_DEVICE_MEMORY, -5, "out of device memory")                                          \
    X(E_UNSUPPORTED, -6, "operation not supported on this backend")                                \
    X(E_BACKEND_UNAVAILABLE, -7, "backend unavailable")                                            \
    X(E_DEVICE_LOST, -8, "device lost")                                                            \
    X(E_KERNEL_BUILD, -9, "kernel build failed")                                                   \
    X(E_IO, -10, "input/output error")                                                             \
    X(E_FORMAT, -11, "malformed file")                                                             \
    X(E_CHECK, -12, "backend result differs from the CPU reference")                               \
    X(E_STATE, -13, "call not valid in this state")                                                \
    X(E_INTERNAL, -14, "internal error")                                                           \
    X(E_DIVERGED, -15, "non-finite values: the computation diverged")

typedef enum kiln_status {
#define KILN__STATUS_ENUM(name, value, desc) KILN_##name = value,
    KILN_STATUS_MAP(KILN__STATUS_ENUM)
#undef KILN__STATUS_ENUM
} kiln_status;

/* ---- Status names and messages ---- */

/*
 * Returns the constant name of a status ("KILN_E_SHAPE"), or "KILN_E_UNKNOWN".
 * Thread-safe; the string is static.
 */
KILN_API const char *kiln_status_name(kiln_status s);

/*
 * Returns a short English description of a status ("shape mismatch").
 * Thread-safe; the string is static.
 */
KILN_API const char *kiln_status_str(kiln_status s);

/*
 * Returns the message recorded by the last failing kiln call on this thread, or ""
 * when none failed since the last kiln_clear_error(). The string is owned by kiln and
 * stays valid until the next failing call on the same thread.
 */
KILN_API const char *kiln_last_error(void);

/* Returns the status of the last failing kiln call on this thread, or KILN_OK. */
KILN_API kiln_status kiln_last_status(void);

/*
 * Returns the native error code (OpenCL cl_int, VkResult, CLBlast status or errno)
 * behind the last failure on this thread, or 0 when it had none.
 */
KILN_API long kiln_last_native_code(void);

/* Forgets the last error of this thread. */
KILN_API void kiln_clear_error(void);

#ifdef __cplusplus
}
#endif

#endif /* KILN_STATUS_H */
