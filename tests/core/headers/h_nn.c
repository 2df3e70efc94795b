/*
 * h_nn.c - include/kiln/nn.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/nn.h"

int kiln_test_header_nn(void);

int kiln_test_header_nn(void)
{
    return 0;
}
