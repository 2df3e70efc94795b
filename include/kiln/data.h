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
 * Limits: images of rank 1 to 3 (file rank 2 to 4), each dimension at most 2^30, and at
 * most 2^60 pixel values read in all; memory grows with the data actually read, so a
 * header that claims more than its file holds fails as truncated without allocating
 * what it claims.
 * Returns KILN_OK; KILN_E_IO (cannot open or read a file); KILN_E_FORMAT (bad magic,
 * dtype code other than unsigned byte, labels file not rank 1, image and label counts
 * differ, a dimension or size beyond the limits, data shorter than the header says, a
 * label out of range); KILN_E_INVALID_ARG; KILN_E_OUT_OF_HOST_MEMORY. The message names
 * the file and the byte offset (in the uncompressed stream) where the problem lies.
 * Thread-safe.
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

/* Starts epoch epoch (0-based) at its batch `batch` (0-based; clamped to the epoch's
 * end): kiln_batch_iter_reset, then skipping batch batches without copying them, so the
 * next batch is the one an iterator that went through them would give (resuming). */
KILN_API void kiln_batch_iter_seek(kiln_batch_iter *it, int64_t epoch, int64_t batch);

/*
 * Copies the next batch into x ([batch_size, dim] floats) and y ([batch_size] labels).
 * *n_out receives the number of real items: batch_size, fewer for a last partial batch
 * (whose remaining rows are zero features with label -1, which kiln_softmax_xent
 * ignores), or 0 when the epoch is over. [out] x, y: borrowed, caller storage; y may be
 * NULL. Returns KILN_OK or KILN_E_INVALID_ARG.
 */
KILN_API kiln_status kiln_batch_iter_next(kiln_batch_iter *it, float *x, int32_t *y,
                                          int64_t *n_out);

/* ---- Augmentation and the prefetching loader (src/train/loader.c) ---- */

/*
 * Per-item image augmentation, as torchvision's RandomRotation(degrees,
 * InterpolationMode.BILINEAR), RandomCrop(size, padding), RandomHorizontalFlip() and
 * Normalize(mean, std) in that order. An item of dim features is channels planes of
 * H x W (dim = channels H W). When rotate_degrees > 0 it is rotated about its centre
 * ((W - 1) / 2, (H - 1) / 2) by an angle drawn uniformly from [-rotate_degrees,
 * rotate_degrees] (positive is counter-clockwise as displayed), each output pixel the
 * bilinear interpolation of the source at the inversely rotated position, with zeros
 * outside the source; then it is zero-padded by pad on every side, cropped to
 * crop_h x crop_w (at a random position when random_crop, else centred), flipped
 * left-right with probability 1/2 when hflip, and each channel c is mapped to
 * (x - mean[c]) / std[c] when normalize. Random draws are a pure function of
 * (seed, counter): the same on every run and thread.
 */
struct kiln_augment {
    uint32_t struct_size;   /* sizeof(struct kiln_augment) */
    int32_t channels;       /* 1..4; default 1 */
    int32_t pad;            /* >= 0; default 0 */
    int32_t crop_h, crop_w; /* output size, <= padded size; 0: the item's own size */
    int32_t random_crop;    /* default 0 (centre crop) */
    int32_t hflip;          /* default 0 */
    int32_t normalize;      /* default 0 */
    float mean[4], std[4];  /* per channel; std > 0 */
    float rotate_degrees;   /* in [0, 180]; default 0 (no rotation). Appended in kiln 0.2 */
};

#define KILN_AUGMENT_INIT                                                                          \
    {                                                                                              \
        sizeof(struct kiln_augment), 1, 0, 0, 0, 0, 0, 0, {0, 0, 0, 0}, {1, 1, 1, 1}, 0.0f         \
    }

/*
 * Augments n items of src ([n, channels h w]) into dst ([n, channels, crop_h, crop_w]);
 * item i draws its crop offset and flip from (seed, counter + i).
 * [in] a: borrowed. [in] src, dst: borrowed, must not overlap.
 * Returns KILN_OK or KILN_E_INVALID_ARG (bad options or sizes).
 */
KILN_API kiln_status kiln_augment_apply(const struct kiln_augment *a, int64_t h, int64_t w,
                                        int64_t n, const float *src, float *dst, uint64_t seed,
                                        uint64_t counter);

typedef struct kiln_loader kiln_loader;

struct kiln_loader_options {
    uint32_t struct_size; /* sizeof(struct kiln_loader_options) */
    int64_t batch_size;   /* > 0; default 64 */
    uint32_t flags;       /* KILN_BATCH_*; default shuffle and drop last */
    uint64_t seed;        /* keys the shuffles and the augmentation */
    int32_t prefetch;     /* 1 (default): a loader thread prepares the next batch while the
                             caller uses the current one; 0: batches are made in next() */
    const struct kiln_augment *augment; /* borrowed for the call (copied); NULL: none */
};

#define KILN_LOADER_OPTIONS_INIT                                                                   \
    {                                                                                              \
        sizeof(struct kiln_loader_options), 64, KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST, 0, 1,   \
            NULL                                                                                   \
    }

/*
 * Creates a loader over ds: the batches of kiln_batch_iter (same shuffles for the same
 * seed and flags), each item augmented. With or without prefetch it yields the same
 * batches. The item layout is [channels, H, W] with H, W = ds->dims[0], ds->dims[1]
 * (rank-2 items) or ds->dims[1], ds->dims[2] (rank-3 items [C, H, W]).
 * [in] ds: retained, must outlive the loader unchanged. [in] o: borrowed; NULL: defaults.
 * [out] out: owned by the caller (kiln_loader_destroy).
 * Returns KILN_OK, KILN_E_INVALID_ARG, KILN_E_OUT_OF_HOST_MEMORY, KILN_E_INTERNAL (no thread).
 */
KILN_API kiln_status kiln_loader_create(const struct kiln_dataset *ds,
                                        const struct kiln_loader_options *o, kiln_loader **out);

/* Stops the loader thread and frees l. NULL is a no-op. */
KILN_API void kiln_loader_destroy(kiln_loader *l);

/* Batches per epoch, and the shape of one output item ([C, H, W] after the crop). */
KILN_API int64_t kiln_loader_n_batches(const kiln_loader *l);
KILN_API void kiln_loader_item_dims(const kiln_loader *l, int64_t dims[3]);

/* Starts epoch epoch (0-based), dropping any batch prepared for the previous one. The
 * loader starts at epoch 0. */
KILN_API void kiln_loader_reset(kiln_loader *l, int64_t epoch);

/* Starts epoch epoch (0-based) at its batch `batch`, as kiln_batch_iter_seek: the next
 * batch (and its augmentation) is the one a loader that went through the earlier ones
 * would give. */
KILN_API void kiln_loader_seek(kiln_loader *l, int64_t epoch, int64_t batch);

/*
 * Returns the next batch of the epoch: *x [batch_size, C, H, W] and *y [batch_size]
 * (views valid until the next call of next, reset or destroy), and *n_out its real
 * items (0 at the end of the epoch; padded rows as kiln_batch_iter_next). y may be NULL.
 * Returns KILN_OK or KILN_E_INVALID_ARG.
 */
KILN_API kiln_status kiln_loader_next(kiln_loader *l, const float **x, const int32_t **y,
                                      int64_t *n_out);

#ifdef __cplusplus
}
#endif

#endif /* KILN_DATA_H */
