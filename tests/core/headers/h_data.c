/*
 * h_data.c - include/kiln/data.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/data.h"

int kiln_test_header_data(void);

int kiln_test_header_data(void)
{
    return 0;
}
