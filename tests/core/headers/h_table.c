/*
 * h_table.c - include/kiln/table.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/table.h"

int kiln_test_header_table(void);

int kiln_test_header_table(void)
{
    return 0;
}
