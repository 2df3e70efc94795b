/*
 * h_train.c - include/kiln/train.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/train.h"

int kiln_test_header_train(void);

int kiln_test_header_train(void)
{
    return 0;
}
