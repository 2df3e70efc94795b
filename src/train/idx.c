/*
 * idx.c - reading IDX files (the MNIST / Fashion-MNIST format) into a kiln_dataset.
 *
 * An IDX file is a 4-byte magic (0, 0, dtype code, rank), rank big-endian 32-bit
 * dimensions, then the data row-major. Files are read through zlib's gzopen/gzread,
 * which also reads uncompressed files, and only the prefix that limit needs is read.
 * Every error names the file and the byte offset in the uncompressed stream. Datasets
 * hold plain malloc'd arrays because they belong to no context. Splits, normalization
 * and batching are in dataset.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../status_impl.h"
#include "kiln/data.h"

#define IDX_UBYTE 0x08

struct idx_file {
    gzFile f;
    const char *path;
    int64_t off; /* bytes consumed so far */
};

static kiln_status idx_open(struct idx_file *f, const char *path)
{
    f->path = path;
    f->off = 0;
    errno = 0;
    f->f = gzopen(path, "rb");
    if (f->f == NULL) {
        return KILN_FAIL_NATIVE(KILN_E_IO, errno, "cannot open '%s': %s", path,
                                errno ? strerror(errno) : "out of memory");
    }
    gzbuffer(f->f, 1 << 17);
    return KILN_OK;
}

/* Reads exactly n bytes of what; a short read is a truncated or unreadable file. */
static kiln_status idx_read(struct idx_file *f, void *buf, size_t n, const char *what)
{
    size_t got = 0;
    while (got < n) {
        size_t chunk = n - got > (1u << 30) ? (1u << 30) : n - got;
        int r = gzread(f->f, (unsigned char *)buf + got, (unsigned)chunk);
        if (r <= 0) {
            int zerr = Z_OK;
            const char *zmsg = gzerror(f->f, &zerr);
            int64_t at = f->off + (int64_t)got;
            if (zerr == Z_ERRNO) {
                return KILN_FAIL_NATIVE(KILN_E_IO, errno,
                                        "'%s': read error at byte offset %lld: %s", f->path,
                                        (long long)at, strerror(errno));
            }
            if (zerr != Z_OK && zerr != Z_BUF_ERROR) {
                return KILN_FAIL_NATIVE(KILN_E_FORMAT, zerr,
                                        "'%s': corrupt compressed data near byte offset %lld "
                                        "(reading %s): %s",
                                        f->path, (long long)at, what, zmsg);
            }
            return KILN_FAIL(KILN_E_FORMAT,
                             "'%s': truncated at byte offset %lld: %s needs %zu bytes from "
                             "offset %lld, the file ends after %zu",
                             f->path, (long long)at, what, n, (long long)f->off, got);
        }
        got += (size_t)r;
    }
    f->off += (int64_t)n;
    return KILN_OK;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Reads and validates the magic and dims of an unsigned-byte IDX file whose rank lies
 * in [rank_min, rank_max]. */
static kiln_status idx_header(struct idx_file *f, int rank_min, int rank_max, int *rank,
                              int64_t dims[4])
{
    unsigned char m[4], d[4];
    KILN_TRY(idx_read(f, m, 4, "the magic number"));
    if (m[0] != 0 || m[1] != 0) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "'%s': bad magic 0x%08x at byte offset 0; an IDX file starts with "
                         "00 00 <dtype> <rank>",
                         f->path, be32(m));
    }
    if (m[2] != IDX_UBYTE) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "'%s': dtype code 0x%02x at byte offset 2 is not supported; expected "
                         "0x08 (unsigned byte)",
                         f->path, m[2]);
    }
    if (m[3] < rank_min || m[3] > rank_max) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "'%s': rank %d at byte offset 3; expected %d to %d (magic 0x%08x)",
                         f->path, m[3], rank_min, rank_max, be32(m));
    }
    *rank = m[3];
    for (int i = 0; i < *rank; i++) {
        KILN_TRY(idx_read(f, d, 4, "a dimension"));
        dims[i] = (int64_t)be32(d);
        if ((i > 0 && dims[i] == 0) || dims[i] > (1 << 30)) {
            return KILN_FAIL(KILN_E_FORMAT, "'%s': dimension %d at byte offset %d is %lld", f->path,
                             i, 4 + 4 * i, (long long)dims[i]);
        }
    }
    return KILN_OK;
}

static kiln_status read_images(struct idx_file *f, struct kiln_dataset *ds)
{
    enum { CHUNK = 512 };
    unsigned char *tmp = malloc((size_t)(CHUNK * ds->dim));
    if (tmp == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading '%s'", f->path);
    }
    kiln_status s = KILN_OK;
    for (int64_t i = 0; i < ds->n && s == KILN_OK; i += CHUNK) {
        int64_t m = ds->n - i < CHUNK ? ds->n - i : CHUNK;
        s = idx_read(f, tmp, (size_t)(m * ds->dim), "the images");
        float *x = ds->x + i * ds->dim;
        for (int64_t j = 0; s == KILN_OK && j < m * ds->dim; j++) {
            x[j] = (float)tmp[j] * (1.0f / 255.0f);
        }
    }
    free(tmp);
    return s;
}

static kiln_status read_labels(struct idx_file *f, struct kiln_dataset *ds)
{
    unsigned char *tmp = malloc((size_t)(ds->n > 0 ? ds->n : 1));
    if (tmp == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading '%s'", f->path);
    }
    int64_t start = f->off;
    kiln_status s = idx_read(f, tmp, (size_t)ds->n, "the labels");
    for (int64_t i = 0; s == KILN_OK && i < ds->n; i++) {
        if (tmp[i] >= ds->n_classes) {
            s = KILN_FAIL(KILN_E_FORMAT, "'%s': label %d at byte offset %lld is outside [0, %d)",
                          f->path, tmp[i], (long long)(start + i), ds->n_classes);
        }
        ds->y[i] = tmp[i];
    }
    free(tmp);
    return s;
}

kiln_status kiln_dataset_load_idx(const char *images_path, const char *labels_path, int64_t limit,
                                  int32_t n_classes, struct kiln_dataset *out)
{
    struct idx_file fi = {NULL, images_path, 0}, fl = {NULL, labels_path, 0};
    struct kiln_dataset ds;
    int64_t di[4] = {0}, dl[4] = {0};
    int ri = 0, rl = 0;
    kiln_status s;

    if (images_path == NULL || labels_path == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_dataset_load_idx: NULL argument");
    }
    memset(out, 0, sizeof(*out));
    if (n_classes < 1 || n_classes > 256) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_dataset_load_idx: n_classes %d not in 1..256",
                         n_classes);
    }
    memset(&ds, 0, sizeof(ds));
    s = idx_open(&fi, images_path);
    if (s != KILN_OK) {
        goto fail_open_images;
    }
    s = idx_open(&fl, labels_path);
    if (s != KILN_OK) {
        goto fail_open_labels;
    }
    s = idx_header(&fi, 2, 4, &ri, di);
    if (s == KILN_OK) {
        s = idx_header(&fl, 1, 1, &rl, dl);
    }
    if (s != KILN_OK) {
        goto fail_header;
    }
    if (di[0] != dl[0]) {
        s = KILN_FAIL(KILN_E_FORMAT,
                      "'%s' holds %lld images (count at byte offset 4) but '%s' holds %lld labels "
                      "(count at byte offset 4)",
                      images_path, (long long)di[0], labels_path, (long long)dl[0]);
        goto fail_header;
    }
    ds.n = limit > 0 && limit < di[0] ? limit : di[0];
    ds.rank = ri - 1;
    ds.dim = 1;
    for (int i = 1; i < ri; i++) {
        ds.dims[i - 1] = di[i];
        ds.dim *= di[i];
    }
    ds.n_classes = n_classes;
    ds.x = malloc((size_t)(ds.n * ds.dim > 0 ? ds.n * ds.dim : 1) * sizeof(float));
    ds.y = malloc((size_t)(ds.n > 0 ? ds.n : 1) * sizeof(int32_t));
    if (ds.x == NULL || ds.y == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for %lld items of '%s'",
                      (long long)ds.n, images_path);
        goto fail_data;
    }
    s = read_images(&fi, &ds);
    if (s == KILN_OK) {
        s = read_labels(&fl, &ds);
    }
    if (s != KILN_OK) {
        goto fail_data;
    }
    gzclose(fl.f);
    gzclose(fi.f);
    *out = ds;
    return KILN_OK;

fail_data:
    kiln_dataset_fini(&ds);
fail_header:
    gzclose(fl.f);
fail_open_labels:
    gzclose(fi.f);
fail_open_images:
    return s;
}

/* Whether path names a readable file. */
static int readable(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f != NULL) {
        fclose(f);
    }
    return f != NULL;
}

kiln_status kiln_dataset_load_mnist(const char *dir, const char *split, int64_t limit,
                                    struct kiln_dataset *out)
{
    char img[1024], lab[1024];
    if (dir == NULL || split == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_dataset_load_mnist: NULL argument");
    }
    memset(out, 0, sizeof(*out));
    snprintf(img, sizeof(img), "%s/%s-images-idx3-ubyte.gz", dir, split);
    snprintf(lab, sizeof(lab), "%s/%s-labels-idx1-ubyte.gz", dir, split);
    if (!readable(img) || !readable(lab)) {
        snprintf(img, sizeof(img), "%s/%s-images-idx3-ubyte", dir, split);
        snprintf(lab, sizeof(lab), "%s/%s-labels-idx1-ubyte", dir, split);
        if (!readable(img) || !readable(lab)) {
            return KILN_FAIL(KILN_E_IO,
                             "no '%s' data in '%s': need %s-images-idx3-ubyte[.gz] and "
                             "%s-labels-idx1-ubyte[.gz]",
                             split, dir, split, split);
        }
    }
    return kiln_dataset_load_idx(img, lab, limit, 10, out);
}
