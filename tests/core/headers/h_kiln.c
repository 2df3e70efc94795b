/*
 * h_kiln.c - include/kiln.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln.h"

int kiln_test_header_kiln(void);

int kiln_test_header_kiln(void)
{
    kiln_status (*f)(kiln_graph *) = kiln_graph_compile;
    return f != NULL && KILN_MAX_DIMS == 8 ? 0 : 1;
}
