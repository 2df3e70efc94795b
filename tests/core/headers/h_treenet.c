/*
 * h_treenet.c - include/kiln/treenet.h compiles on its own, and twice (its include
 * guard works), with nothing included before it (STYLE B.2).
 */
#include "kiln/treenet.h"

int kiln_test_header_treenet(void);

int kiln_test_header_treenet(void)
{
    return 0;
}
