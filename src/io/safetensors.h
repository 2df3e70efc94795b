/*
 * safetensors.h - a small reader and writer of the safetensors format: an 8-byte
 * little-endian header length, a JSON header mapping names to {dtype, shape,
 * data_offsets}, then the raw little-endian data. Used by checkpoints and the tests'
 * golden files. Supports F32, F64, I32 and I64 tensors of rank 0 to 8.
 */
#ifndef KILN_SAFETENSORS_H
#define KILN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/status.h"

#define KILN__ST_MAX_RANK 8

enum kiln__st_dtype {
    KILN__ST_F32,
    KILN__ST_F64,
    KILN__ST_I32,
    KILN__ST_I64,
};

struct kiln__st_tensor {
    char name[128];
    enum kiln__st_dtype dtype;
    int32_t rank;
    int64_t dims[KILN__ST_MAX_RANK];
    int64_t n_elems;
    const void *data; /* view into the file's buffer */
    size_t n_bytes;
};

struct kiln__st_file {
    char path[512];
    unsigned char *buf; /* owned: the whole file */
    size_t n_bytes;
    int32_t n_tensors;
    struct kiln__st_tensor *tensors; /* owned */
};

/* Reads and validates a whole file. On failure nothing is left allocated.
 * Errors: KILN_E_IO, KILN_E_FORMAT (with file and byte offset), KILN_E_OUT_OF_HOST_MEMORY. */
kiln_status kiln__st_read(const char *path, struct kiln__st_file *out);
void kiln__st_free(struct kiln__st_file *f);
/* Returns the tensor named name, or NULL. */
const struct kiln__st_tensor *kiln__st_find(const struct kiln__st_file *f, const char *name);

/* Writes tensors to path atomically: a temporary file "<path>.tmp.<pid>", fsync,
 * rename over path, fsync of the directory. */
kiln_status kiln__st_write(const char *path, const struct kiln__st_tensor *tensors, int32_t n);

/* Like kiln__st_write, with a "__metadata__" object of n_meta string pairs: meta[2 i]
 * is a key and meta[2 i + 1] its value. The reader skips the metadata. */
kiln_status kiln__st_write_meta(const char *path, const struct kiln__st_tensor *tensors, int32_t n,
                                const char *const *meta, int32_t n_meta);

#endif /* KILN_SAFETENSORS_H */
