/*
 * h_comm.c - include/kiln/comm.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/comm.h"

int kiln_test_header_comm(void);

int kiln_test_header_comm(void)
{
    struct kiln_comm_options o = KILN_COMM_OPTIONS_INIT;
    return o.mode == KILN_COMM_AUTO ? 0 : 1;
}
