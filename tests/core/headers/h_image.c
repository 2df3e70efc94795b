/*
 * h_image.c - include/kiln/image.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/image.h"

int kiln_test_header_image(void);

int kiln_test_header_image(void)
{
    return 0;
}
