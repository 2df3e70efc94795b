/*
 * h_store.c - include/kiln/store.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/store.h"

int kiln_test_header_store(void);

int kiln_test_header_store(void)
{
    struct kiln_store_entry e = {0};
    return e.kind == KILN_STORE_PARAM ? 0 : 1;
}
