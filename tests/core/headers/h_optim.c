/*
 * h_optim.c - include/kiln/optim.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/optim.h"

int kiln_test_header_optim(void);

int kiln_test_header_optim(void)
{
    struct kiln_optim_options o = KILN_OPTIM_OPTIONS_INIT;
    return o.struct_size == sizeof(o) ? 0 : 1;
}
