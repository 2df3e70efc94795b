/*
 * h_attention.c - include/kiln/attention.h compiles on its own, and twice (its include
 * guard works), with nothing included before it (STYLE B.2).
 */
#include "kiln/attention.h"

int kiln_test_header_attention(void);

int kiln_test_header_attention(void)
{
    return 0;
}
