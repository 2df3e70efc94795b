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

#include "../checked.h"
#include "../status_impl.h"
#include "kiln/data.h"

#define IDX_UBYTE      0x08
/* Each dimension is at most 2^30; the values read (images x item size) at most 2^60,
 * so that their size in bytes as floats fits in int64_t and size_t with room to spare.
 * Beyond what memory holds, the allocation fails (KILN_E_OUT_OF_HOST_MEMORY) or the
 * file is shorter than its header says (KILN_E_FORMAT). */
#define IDX_MAX_DIM    (INT64_C(1) << 30)
#define IDX_MAX_VALUES (INT64_C(1) << 60)

/* "a x b x c" of a shape, for messages. */
struct dims_text {
    char s[80];
};

static struct dims_text dims_str(const int64_t *d, int n)
{
    struct dims_text t = {{0}};
    size_t used = 0;
    for (int i = 0; i < n && used < sizeof(t.s); i++) {
        int w = snprintf(t.s + used, sizeof(t.s) - used, "%s%lld", i ? " x " : "", (long long)d[i]);
        used += w > 0 ? (size_t)w : 0;
    }
    return t;
}

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

/* Reads exactly n bytes of what, which spans what_bytes bytes from byte offset
 * what_start (n may be one chunk of it); a short read is a truncated or unreadable file. */
static kiln_status idx_read(struct idx_file *f, void *buf, size_t n, const char *what,
                            int64_t what_start, size_t what_bytes)
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
                             "offset %lld, the file ends after %lld",
                             f->path, (long long)at, what, what_bytes, (long long)what_start,
                             (long long)(at - what_start));
        }
        got += (size_t)r;
    }
    f->off += (int64_t)n;
    return KILN_OK;
}

/* Reads a small header field of n bytes. */
static kiln_status idx_field(struct idx_file *f, void *buf, size_t n, const char *what)
{
    return idx_read(f, buf, n, what, f->off, n);
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
    KILN_TRY(idx_field(f, m, 4, "the magic number"));
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
        KILN_TRY(idx_field(f, d, 4, "a dimension"));
        dims[i] = (int64_t)be32(d);
        if ((i > 0 && dims[i] == 0) || dims[i] > IDX_MAX_DIM) {
            return KILN_FAIL(KILN_E_FORMAT, "'%s': dimension %d at byte offset %d is %lld", f->path,
                             i, 4 + 4 * i, (long long)dims[i]);
        }
    }
    return KILN_OK;
}

/* Converts n bytes of images to floats in [0, 1]. */
static kiln_status conv_pixels(struct idx_file *f, const unsigned char *src, size_t n, void *dst,
                               int64_t first, int32_t n_classes)
{
    (void)f, (void)first, (void)n_classes;
    float *x = dst;
    for (size_t j = 0; j < n; j++) {
        x[j] = (float)src[j] * (1.0f / 255.0f);
    }
    return KILN_OK;
}

/* Converts n labels, the first at byte offset first, checking each is a class. */
static kiln_status conv_labels(struct idx_file *f, const unsigned char *src, size_t n, void *dst,
                               int64_t first, int32_t n_classes)
{
    int32_t *y = dst;
    for (size_t j = 0; j < n; j++) {
        if (src[j] >= n_classes) {
            return KILN_FAIL(KILN_E_FORMAT, "'%s': label %d at byte offset %lld is outside [0, %d)",
                             f->path, src[j], (long long)(first + (int64_t)j), n_classes);
        }
        y[j] = src[j];
    }
    return KILN_OK;
}

/*
 * Reads n_bytes bytes of what into a new array of n_bytes 4-byte values (conv turns
 * each chunk). The array grows as the data arrives, so a header that claims more data
 * than the file holds fails as truncated after allocating at most about twice what the
 * file held, not what it claimed. On success *out is the array (malloc'd).
 */
static kiln_status read_data(struct idx_file *f, size_t n_bytes, const char *what,
                             int32_t n_classes,
                             kiln_status (*conv)(struct idx_file *, const unsigned char *, size_t,
                                                 void *, int64_t, int32_t),
                             void **out)
{
    enum { CHUNK = 1 << 16, FIRST = 1 << 22 };
    const int64_t start = f->off;
    unsigned char *tmp = malloc(CHUNK);
    unsigned char *arr = NULL;
    size_t cap = 0, done = 0;
    kiln_status s = KILN_OK;
    if (tmp == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading '%s'", f->path);
    }
    while (s == KILN_OK && done < n_bytes) {
        size_t m = n_bytes - done < CHUNK ? n_bytes - done : CHUNK;
        s = idx_read(f, tmp, m, what, start, n_bytes);
        if (s == KILN_OK && done + m > cap) {
            /* n_bytes * 4 fits in size_t: the caller checked it */
            size_t want = cap < FIRST / 2 ? FIRST : 2 * cap;
            want = want < n_bytes ? want : n_bytes;
            unsigned char *na = realloc(arr, want * 4);
            if (na == NULL) {
                s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY,
                              "out of host memory for %zu bytes of %s of '%s'", want * 4, what,
                              f->path);
                break;
            }
            arr = na;
            cap = want;
        }
        if (s == KILN_OK) {
            s = conv(f, tmp, m, arr + 4 * done, start + (int64_t)done, n_classes);
        }
        done += m;
    }
    free(tmp);
    if (s == KILN_OK && arr == NULL) {
        arr = malloc(4); /* no data: an empty, non-NULL array */
        if (arr == NULL) {
            s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading '%s'", f->path);
        }
    }
    if (s != KILN_OK) {
        free(arr);
        return s;
    }
    *out = arr;
    return KILN_OK;
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
    for (int i = 1; i < ri; i++) {
        ds.dims[i - 1] = di[i];
    }
    /* Every size below derives from the header: check that the item size and the
     * images read, as 4-byte floats, fit before anything is allocated. */
    int bad = 0;
    int64_t n_values = 0;
    if (!kiln__i64_product(di + 1, ri - 1, IDX_MAX_VALUES, &ds.dim, &bad) ||
        !kiln__i64_mul(ds.n, ds.dim, &n_values) || n_values > IDX_MAX_VALUES ||
        (uint64_t)n_values > SIZE_MAX / sizeof(float)) {
        s = KILN_FAIL(KILN_E_FORMAT,
                      "'%s': %lld images of %s values (dimensions at byte offset 4) are more "
                      "than kiln can address (at most %lld values)",
                      images_path, (long long)ds.n, dims_str(di + 1, ri - 1).s,
                      (long long)IDX_MAX_VALUES);
        ds.dim = 0;
        goto fail_header;
    }
    ds.n_classes = n_classes;
    void *x = NULL, *y = NULL;
    s = read_data(&fi, (size_t)n_values, "the images", n_classes, conv_pixels, &x);
    ds.x = x;
    if (s == KILN_OK) {
        s = read_data(&fl, (size_t)ds.n, "the labels", n_classes, conv_labels, &y);
        ds.y = y;
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
