/*
 * h_text.c - include/kiln/text.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/text.h"

int kiln_test_header_text(void);

int kiln_test_header_text(void)
{
    return 0;
}
