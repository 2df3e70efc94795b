/*
 * safetensors.h - a strict reader and an atomic writer of the safetensors format: an
 * 8-byte little-endian header length N, N bytes of a UTF-8 JSON object starting with
 * '{' (optionally padded with spaces) that maps tensor names to {dtype, shape,
 * data_offsets} plus an optional "__metadata__" map of strings, then the data section.
 * data_offsets are [begin, end) byte offsets into the data section; the tensors must
 * cover it exactly, with no hole, no overlap and nothing after the last one.
 *
 * The reader follows the specification of huggingface/safetensors and its reference
 * reader, and rejects (KILN_E_FORMAT, naming the file, the tensor and the reason) what
 * they reject: a header length beyond the file or above 100 MiB, invalid JSON or UTF-8,
 * anything but spaces after the JSON, duplicate names or keys, unknown dtypes, shapes and
 * offsets that are not non-negative integers, sizes that do not match or overflow, and
 * the layout errors above. kiln adds: names hold no NUL and are shorter than
 * KILN__ST_NAME_MAX bytes. Tensors of every safetensors dtype are read; those kiln does
 * not load (BF16, F16, U8, BOOL, ...) or of rank above KILN__ST_MAX_RANK are listed
 * with dtype KILN__ST_OTHER. Used by checkpoints and the tests' golden files.
 */
#ifndef KILN_SAFETENSORS_H
#define KILN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/status.h"

#define KILN__ST_MAX_RANK   8
#define KILN__ST_NAME_MAX   256          /* bytes of a name, with its NUL */
#define KILN__ST_HEADER_MAX (100u << 20) /* the reference reader's limit */

enum kiln__st_dtype {
    KILN__ST_F32,
    KILN__ST_F64,
    KILN__ST_I32,
    KILN__ST_I64,
    /* Any other safetensors dtype, or a rank above KILN__ST_MAX_RANK: listed and
     * validated, not loadable; see dtype_name. Never written. */
    KILN__ST_OTHER,
};

struct kiln__st_tensor {
    char name[KILN__ST_NAME_MAX];
    enum kiln__st_dtype dtype;
    int32_t rank;                    /* may exceed KILN__ST_MAX_RANK for KILN__ST_OTHER */
    int64_t dims[KILN__ST_MAX_RANK]; /* the first KILN__ST_MAX_RANK dims */
    int64_t n_elems;
    const void *data; /* view into the file's buffer; may be unaligned (read with memcpy) */
    size_t n_bytes;
    const char *dtype_name; /* reader: the file's dtype, e.g. "BF16" (static); writer: unused */
};

struct kiln__st_file {
    char path[512];
    unsigned char *buf; /* the whole file (owned, with buf_pad bytes before it) */
    size_t n_bytes;
    int32_t n_tensors;
    struct kiln__st_tensor *tensors; /* owned, in header order */
    int32_t n_meta;
    char **meta; /* owned: n_meta "__metadata__" pairs, meta[2 i] a key, meta[2 i + 1] its value */
    size_t buf_pad; /* bytes allocated before buf, so that the data section is 8-aligned */
};

/*
 * Reads and validates a whole file. Refuses anything but a regular file (a FIFO or a
 * device such as /dev/zero: KILN_E_IO) before reading it, and checks the header length
 * against the file's size before allocating. [in] path: borrowed. [out] out: on
 * failure zeroed, nothing left allocated; else release with kiln__st_free.
 * Errors: KILN_E_IO, KILN_E_FORMAT (naming the file, the tensor or key, and the byte
 * offset or reason), KILN_E_OUT_OF_HOST_MEMORY.
 */
kiln_status kiln__st_read(const char *path, struct kiln__st_file *out);

/*
 * Validates and indexes a safetensors file held in memory, as kiln__st_read does.
 * [in] name: the file's name in messages (borrowed). [in] buf: n_bytes bytes from
 * malloc; ownership is taken (freed on failure, else by kiln__st_free). [out] out.
 */
kiln_status kiln__st_parse(const char *name, unsigned char *buf, size_t n_bytes,
                           struct kiln__st_file *out);

/* Releases what a successful read owns and zeroes the counts; NULL is a no-op. */
void kiln__st_free(struct kiln__st_file *f);

/* Returns the tensor named name, or NULL. The view is valid until kiln__st_free. */
const struct kiln__st_tensor *kiln__st_find(const struct kiln__st_file *f, const char *name);

/* Returns the "__metadata__" value of key, or NULL. Valid until kiln__st_free. */
const char *kiln__st_meta(const struct kiln__st_file *f, const char *key);

/* The size in bytes of one element of a loadable dtype (not KILN__ST_OTHER), else 0. */
size_t kiln__st_dtype_size(enum kiln__st_dtype dtype);

/* The safetensors name of a loadable dtype ("F32"), or NULL for KILN__ST_OTHER. */
const char *kiln__st_dtype_str(enum kiln__st_dtype dtype);

/* Fails with KILN_E_FORMAT, naming path and what ("tensor"), when two of the n strings
 * are equal. Sorts strs (the pointers, not the strings). */
kiln_status kiln__st_check_unique(const char *path, const char **strs, int32_t n, const char *what);

/*
 * Writes n tensors to path atomically (a temporary file "<path>.tmp.<pid>", fsync,
 * rename over path, fsync of the directory), laid out in
 * the given order. Refuses (KILN_E_INVALID_ARG, writing nothing) what the reader would
 * reject: an empty, duplicate, over-long or non-UTF-8 name, "__metadata__" as a name,
 * KILN__ST_OTHER, a rank outside 0..KILN__ST_MAX_RANK, n_elems or n_bytes not matching
 * the dims. [in] tensors: borrowed. Errors: also KILN_E_IO, KILN_E_OUT_OF_HOST_MEMORY.
 */
kiln_status kiln__st_write(const char *path, const struct kiln__st_tensor *tensors, int32_t n);

/* Like kiln__st_write, with a "__metadata__" object of n_meta string pairs: meta[2 i]
 * is a key and meta[2 i + 1] its value (UTF-8, keys unique; borrowed). The reader
 * returns them through kiln__st_meta. */
kiln_status kiln__st_write_meta(const char *path, const struct kiln__st_tensor *tensors, int32_t n,
                                const char *const *meta, int32_t n_meta);

#endif /* KILN_SAFETENSORS_H */
