/*
 * h_backend.c - include/kiln/backend.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/backend.h"

int kiln_test_header_backend(void);

int kiln_test_header_backend(void)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    return o.struct_size == sizeof(o) ? 0 : 1;
}
