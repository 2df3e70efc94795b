/*
 * h_status.c - include/kiln/status.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/status.h"

int kiln_test_header_status(void);

int kiln_test_header_status(void)
{
    kiln_status s = KILN_OK;
    return (int)s;
}
