/*
 * h_io.c - include/kiln/io.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/io.h"

int kiln_test_header_io(void);

int kiln_test_header_io(void)
{
    kiln_status (*f)(kiln_graph *, const char *, int) = kiln_graph_save;
    return f != 0 ? 0 : 1;
}
