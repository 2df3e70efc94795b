/*
 * bench_data.h - the random stand-in data set of the training benchmarks (bench_mlp,
 * bench_train) when Fashion-MNIST is not installed: 60,000 28x28 items, 10 classes,
 * the same values in every run (srand(1)).
 */
#ifndef KILN_BENCH_DATA_H
#define KILN_BENCH_DATA_H

#include "kiln.h"

/*
 * Fills ds with the stand-in data; the caller frees it with kiln_dataset_free.
 * Returns 1, or 0 when memory ran out.
 */
int bench_fake_data(struct kiln_dataset *ds);

#endif
