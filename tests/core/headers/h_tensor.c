/*
 * h_tensor.c - include/kiln/tensor.h compiles on its own, and twice (its include guard works),
 * with nothing included before it (STYLE B.2).
 */
#include "kiln/tensor.h"

int kiln_test_header_tensor(void);

int kiln_test_header_tensor(void)
{
    struct kiln_shape s = {0, {0, 0, 0, 0}};
    return s.rank + (int)KILN_DTYPE_F32;
}
