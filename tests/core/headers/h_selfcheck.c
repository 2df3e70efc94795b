/*
 * h_selfcheck.c - include/kiln/selfcheck.h compiles on its own, and twice (its include
 * guard works), with nothing included before it (STYLE B.2).
 */
#include "kiln/selfcheck.h"

int kiln_test_header_selfcheck(void);

int kiln_test_header_selfcheck(void)
{
    kiln_status (*f)(kiln_context *, const char *, kiln_selfcheck_fn, void *,
                     struct kiln_selfcheck_summary *) = kiln_selfcheck;
    return f != 0 ? 0 : 1;
}
