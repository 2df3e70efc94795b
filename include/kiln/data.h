/*
 * kiln/data.h - labelled datasets on the host: reading IDX files (MNIST, Fashion-MNIST,
 * gzip-compressed or raw), a seeded train/validation split, normalization, and a
 * seeded, shuffled mini-batch iterator that fills host arrays ready for
 * kiln_tensor_upload().
 *
 * A dataset is a plain value: f32 features [n, dim] and i32 labels [n], owned by the
 * struct and released with kiln_dataset_fini(). Nothing here touches a device or a
 * context; the training loop is in kiln/train.h.
 */
#ifndef KILN_DATA_H
#define KILN_DATA_H

#include <stdint.h>

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Datasets ---- */

/* A labelled dataset. Zero-initialize it ({0}) before a loader fills it. */
struct kiln_dataset {
    int64_t n;         /* number of items */
    int64_t dim;       /* features per item (784 for 28x28 images) */
    int32_t rank;      /* rank of one item (2 for images) */
    int64_t dims[3];   /* shape of one item ({28, 28}) */
    int32_t n_classes; /* labels lie in [0, n_classes) */
    float *x;          /* [n, dim], owned; pixels scaled to [0, 1] by the IDX loader */
    int32_t *y;        /* [n], owned */
};

/* Releases ds's arrays and zeroes it. NULL or a zeroed dataset is a no-op. */
KILN_API void kiln_dataset_fini(struct kiln_dataset *ds);

/*
 * Reads an IDX image file and its IDX label file (raw or gzip, through zlib), keeping
 * at most limit items (limit <= 0: all). Only the needed prefix of each file is read.
 * Pixels (unsigned bytes) become f32 in [0, 1] (x / 255, as torchvision's ToTensor).
 * [in] images_path, labels_path: borrowed. [in] n_classes: labels must lie in
 * [0, n_classes), 1..256. [out] out: filled on success (release with
 * kiln_dataset_fini); left zeroed on failure.
 * Returns KILN_OK; KILN_E_IO (cannot open or read a file); KILN_E_FORMAT (bad magic,
 * dtype code other than unsigned byte, labels file not rank 1, image and label counts
 * differ, data shorter than the header says, a label out of range); KILN_E_INVALID_ARG;
 * KILN_E_OUT_OF_HOST_MEMORY. The message names the file and the byte offset (in the
 * uncompressed stream) where the problem lies. Thread-safe.
 */
KILN_API kiln_status kiln_dataset_load_idx(const char *images_path, const char *labels_path,
                                           int64_t limit, int32_t n_classes,
                                           struct kiln_dataset *out);

/*
 * Reads the MNIST-layout files of directory dir: "<split>-images-idx3-ubyte.gz" and
 * "<split>-labels-idx1-ubyte.gz" (or the same names without ".gz"), where split is
 * "train" or "t10k"; 10 classes. Fashion-MNIST uses the same names.
 * Returns as kiln_dataset_load_idx(); a missing file is KILN_E_IO naming the paths tried.
 */
KILN_API kiln_status kiln_dataset_load_mnist(const char *dir, const char *split, int64_t limit,
                                             struct kiln_dataset *out);

/*
 * Splits src into a training part and a validation part of n_val items, chosen by a
 * permutation seeded with seed (each part keeps src's order). [in] src: borrowed, not
 * modified. [out] train, val: new datasets owned by the caller.
 * Returns KILN_OK, KILN_E_INVALID_ARG (n_val < 0 or > src->n), KILN_E_OUT_OF_HOST_MEMORY.
 */
KILN_API kiln_status kiln_dataset_split(const struct kiln_dataset *src, int64_t n_val,
                                        uint64_t seed, struct kiln_dataset *train,
                                        struct kiln_dataset *val);

/*
 * Computes the mean and standard deviation of every feature of every item, as single
 * scalars (torchvision's Normalize((0.2860,), (0.3530,)) recipe for Fashion-MNIST uses
 * the training set's). Accumulates in double. The std is the population one.
 * Returns KILN_OK or KILN_E_INVALID_ARG (empty dataset).
 */
KILN_API kiln_status kiln_dataset_stats(const struct kiln_dataset *ds, double *mean, double *std);

/* Replaces every feature x by (x - mean) / std. Returns KILN_OK or KILN_E_INVALID_ARG
 * (std <= 0). */
KILN_API kiln_status kiln_dataset_normalize(struct kiln_dataset *ds, double mean, double std);

/* ---- Mini-batches ---- */

typedef struct kiln_batch_iter kiln_batch_iter;

enum {
    KILN_BATCH_SHUFFLE = 1u << 0,   /* a new seeded permutation every epoch */
    KILN_BATCH_DROP_LAST = 1u << 1, /* skip a last batch smaller than batch_size */
};

/*
 * Creates an iterator over ds in batches of batch_size items. With
 * KILN_BATCH_DROP_LAST the epoch has floor(n / batch_size) batches (for training with
 * a fixed-shape graph); without it the last batch is partial and is padded (see
 * kiln_batch_iter_next), so every item is visited once (for evaluation).
 * [in] ds: retained (borrowed until destroy; must not change meanwhile).
 * [in] flags: KILN_BATCH_*. [in] seed: keys the shuffles (epoch e uses (seed, e)).
 * [out] out: owned by the caller (kiln_batch_iter_destroy).
 * Returns KILN_OK, KILN_E_INVALID_ARG, KILN_E_OUT_OF_HOST_MEMORY.
 */
KILN_API kiln_status kiln_batch_iter_create(const struct kiln_dataset *ds, int64_t batch_size,
                                            uint32_t flags, uint64_t seed, kiln_batch_iter **out);

/* Destroys it. NULL is a no-op. */
KILN_API void kiln_batch_iter_destroy(kiln_batch_iter *it);

/* Number of batches in one epoch. */
KILN_API int64_t kiln_batch_iter_n_batches(const kiln_batch_iter *it);

/* Starts epoch epoch (0-based): rewinds and, with KILN_BATCH_SHUFFLE, draws the
 * epoch's permutation. The iterator starts at epoch 0. */
KILN_API void kiln_batch_iter_reset(kiln_batch_iter *it, int64_t epoch);

/*
 * Copies the next batch into x ([batch_size, dim] floats) and y ([batch_size] labels).
 * *n_out receives the number of real items: batch_size, fewer for a last partial batch
 * (whose remaining rows are zero features with label -1, which kiln_softmax_xent
 * ignores), or 0 when the epoch is over. [out] x, y: borrowed, caller storage; y may be
 * NULL. Returns KILN_OK or KILN_E_INVALID_ARG.
 */
KILN_API kiln_status kiln_batch_iter_next(kiln_batch_iter *it, float *x, int32_t *y,
                                          int64_t *n_out);

#ifdef __cplusplus
}
#endif

#endif /* KILN_DATA_H */
