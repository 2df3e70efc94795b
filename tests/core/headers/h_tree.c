/*
 * h_tree.c - include/kiln/tree.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/tree.h"

int kiln_test_header_tree(void);

int kiln_test_header_tree(void)
{
    return 0;
}
