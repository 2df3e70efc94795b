/*
 * dataset.c - operations on host datasets: release, a seeded train/validation split,
 * scalar mean/std normalization, and the shuffled mini-batch iterator. Permutations
 * come from the Philox generator (src/rng.h), so a seed gives the same batches on every
 * machine. IDX reading is in idx.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../rng.h"
#include "../status_impl.h"
#include "kiln/data.h"

/* Stream ids of the generator, so splits and epochs never share random numbers. */
#define STREAM_SPLIT 0x5350u
#define STREAM_EPOCH 0x45500000u

void kiln_dataset_fini(struct kiln_dataset *ds)
{
    if (ds == NULL) {
        return;
    }
    free(ds->x);
    free(ds->y);
    memset(ds, 0, sizeof(*ds));
}

/* Fills perm with a uniformly random permutation of 0..n-1 (Fisher-Yates). */
static void permute(int64_t *perm, int64_t n, uint64_t seed, uint64_t stream)
{
    for (int64_t i = 0; i < n; i++) {
        perm[i] = i;
    }
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t r[4];
        kiln__philox(seed, stream, (uint64_t)i, r);
        uint64_t u = (uint64_t)r[0] << 32 | r[1];
        int64_t j = (int64_t)(u % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static kiln_status alloc_like(const struct kiln_dataset *src, int64_t n, struct kiln_dataset *out)
{
    memset(out, 0, sizeof(*out));
    out->n = n;
    out->dim = src->dim;
    out->rank = src->rank;
    memcpy(out->dims, src->dims, sizeof(out->dims));
    out->n_classes = src->n_classes;
    out->x = malloc((size_t)(n * src->dim > 0 ? n * src->dim : 1) * sizeof(float));
    out->y = malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
    if (out->x == NULL || out->y == NULL) {
        kiln_dataset_fini(out);
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory splitting %lld items",
                         (long long)n);
    }
    return KILN_OK;
}

kiln_status kiln_dataset_split(const struct kiln_dataset *src, int64_t n_val, uint64_t seed,
                               struct kiln_dataset *train, struct kiln_dataset *val)
{
    kiln_status s;
    if (src == NULL || train == NULL || val == NULL || train == val) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_dataset_split: NULL or aliased argument");
    }
    if (n_val < 0 || n_val > src->n) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_dataset_split: n_val %lld not in [0, %lld]",
                         (long long)n_val, (long long)src->n);
    }
    int64_t *perm = malloc((size_t)(src->n > 0 ? src->n : 1) * sizeof(int64_t));
    unsigned char *in_val = calloc((size_t)(src->n > 0 ? src->n : 1), 1);
    if (perm == NULL || in_val == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory splitting a dataset");
        goto fail_scratch;
    }
    s = alloc_like(src, src->n - n_val, train);
    if (s != KILN_OK) {
        goto fail_scratch;
    }
    s = alloc_like(src, n_val, val);
    if (s != KILN_OK) {
        goto fail_val;
    }
    permute(perm, src->n, seed, STREAM_SPLIT);
    for (int64_t i = 0; i < n_val; i++) {
        in_val[perm[i]] = 1;
    }
    int64_t it = 0, iv = 0;
    for (int64_t i = 0; i < src->n; i++) {
        struct kiln_dataset *d = in_val[i] ? val : train;
        int64_t *k = in_val[i] ? &iv : &it;
        memcpy(d->x + *k * src->dim, src->x + i * src->dim, (size_t)src->dim * sizeof(float));
        d->y[*k] = src->y[i];
        (*k)++;
    }
    free(in_val);
    free(perm);
    return KILN_OK;

fail_val:
    kiln_dataset_fini(train);
fail_scratch:
    free(in_val);
    free(perm);
    return s;
}

kiln_status kiln_dataset_stats(const struct kiln_dataset *ds, double *mean, double *std)
{
    if (ds == NULL || mean == NULL || std == NULL || ds->n * ds->dim <= 0) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_dataset_stats: empty dataset or NULL argument");
    }
    int64_t n = ds->n * ds->dim;
    double s1 = 0.0, s2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double v = ds->x[i];
        s1 += v;
        s2 += v * v;
    }
    double m = s1 / (double)n, var = s2 / (double)n - m * m;
    *mean = m;
    *std = sqrt(var > 0.0 ? var : 0.0);
    return KILN_OK;
}

kiln_status kiln_dataset_normalize(struct kiln_dataset *ds, double mean, double std)
{
    if (ds == NULL || !(std > 0.0)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_dataset_normalize: std %g must be > 0", std);
    }
    int64_t n = ds->n * ds->dim;
    float m = (float)mean, inv = (float)(1.0 / std);
    for (int64_t i = 0; i < n; i++) {
        ds->x[i] = (ds->x[i] - m) * inv;
    }
    return KILN_OK;
}

/* ==== Mini-batch iterator ==== */

struct kiln_batch_iter {
    /* ---- borrowed (never owned) ---- */
    const struct kiln_dataset *ds;
    /* ---- owned ---- */
    int64_t batch, n_batches, pos;
    uint32_t flags;
    uint64_t seed;
    int64_t *order; /* this epoch's item order */
};

kiln_status kiln_batch_iter_create(const struct kiln_dataset *ds, int64_t batch_size,
                                   uint32_t flags, uint64_t seed, kiln_batch_iter **out)
{
    if (ds == NULL || out == NULL || batch_size <= 0 || ds->n < 0) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_batch_iter_create: bad argument (batch %lld)",
                         (long long)batch_size);
    }
    *out = NULL;
    if (flags & ~(uint32_t)(KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_batch_iter_create: unknown flags 0x%x", flags);
    }
    struct kiln_batch_iter *it = calloc(1, sizeof(*it));
    int64_t *order = malloc((size_t)(ds->n > 0 ? ds->n : 1) * sizeof(int64_t));
    if (it == NULL || order == NULL) {
        free(it);
        free(order);
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for a batch iterator");
    }
    it->ds = ds;
    it->batch = batch_size;
    it->flags = flags;
    it->seed = seed;
    it->order = order;
    it->n_batches =
        (flags & KILN_BATCH_DROP_LAST) ? ds->n / batch_size : (ds->n + batch_size - 1) / batch_size;
    kiln_batch_iter_reset(it, 0);
    *out = it;
    return KILN_OK;
}

void kiln_batch_iter_destroy(kiln_batch_iter *it)
{
    if (it != NULL) {
        free(it->order);
        free(it);
    }
}

int64_t kiln_batch_iter_n_batches(const kiln_batch_iter *it)
{
    return it->n_batches;
}

void kiln_batch_iter_reset(kiln_batch_iter *it, int64_t epoch)
{
    it->pos = 0;
    if (it->flags & KILN_BATCH_SHUFFLE) {
        permute(it->order, it->ds->n, it->seed, STREAM_EPOCH + (uint64_t)epoch);
    } else {
        for (int64_t i = 0; i < it->ds->n; i++) {
            it->order[i] = i;
        }
    }
}

void kiln_batch_iter_seek(kiln_batch_iter *it, int64_t epoch, int64_t batch)
{
    kiln_batch_iter_reset(it, epoch);
    if (batch > 0) {
        it->pos = batch < it->n_batches ? batch * it->batch : it->ds->n;
    }
}

kiln_status kiln_batch_iter_next(kiln_batch_iter *it, float *x, int32_t *y, int64_t *n_out)
{
    if (it == NULL || x == NULL || n_out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_batch_iter_next: NULL argument");
    }
    const struct kiln_dataset *ds = it->ds;
    int64_t left = ds->n - it->pos, d = ds->dim;
    int64_t m = left < it->batch ? left : it->batch;
    if (m <= 0 || (m < it->batch && (it->flags & KILN_BATCH_DROP_LAST))) {
        *n_out = 0;
        return KILN_OK;
    }
    for (int64_t i = 0; i < m; i++) {
        int64_t k = it->order[it->pos + i];
        memcpy(x + i * d, ds->x + k * d, (size_t)d * sizeof(float));
        if (y != NULL) {
            y[i] = ds->y[k];
        }
    }
    if (m < it->batch) {
        memset(x + m * d, 0, (size_t)((it->batch - m) * d) * sizeof(float));
        for (int64_t i = m; y != NULL && i < it->batch; i++) {
            y[i] = -1;
        }
    }
    it->pos += m;
    *n_out = m;
    return KILN_OK;
}
