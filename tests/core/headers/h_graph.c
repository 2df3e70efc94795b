/*
 * h_graph.c - include/kiln/graph.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/graph.h"

int kiln_test_header_graph(void);

int kiln_test_header_graph(void)
{
    kiln_init i = KILN_INIT_ZEROS;
    return (int)i;
}
