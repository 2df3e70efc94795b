/*
 * bench_data.c - the random stand-in data set of the training benchmarks.
 */
#include "bench_data.h"

#include <stdlib.h>
#include <string.h>

int bench_fake_data(struct kiln_dataset *ds)
{
    memset(ds, 0, sizeof(*ds));
    ds->n = 60000;
    ds->dim = 784;
    ds->rank = 2;
    ds->dims[0] = ds->dims[1] = 28;
    ds->n_classes = 10;
    ds->x = malloc((size_t)(ds->n * ds->dim) * sizeof(float));
    ds->y = malloc((size_t)ds->n * sizeof(int32_t));
    if (ds->x == NULL || ds->y == NULL) {
        return 0;
    }
    srand(1);
    for (int64_t i = 0; i < ds->n * ds->dim; i++) {
        ds->x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    }
    for (int64_t i = 0; i < ds->n; i++) {
        ds->y[i] = rand() % 10;
    }
    return 1;
}
