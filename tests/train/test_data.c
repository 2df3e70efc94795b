/*
 * test_data.c - the IDX reader's error paths (missing, bad magic, bad dtype, truncated,
 * mismatched counts, labels out of range, truncated gzip, dimensions whose products do
 * not fit, headers claiming more than the file holds), reading raw and gzip files
 * and prefixes, the seeded split, normalization, the batch iterator, the dense layer's
 * parameters, and kiln_evaluate's coverage of a partial last batch.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "kiln.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/kiln_test_data_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Writes an IDX image file of n r x c images (pixel = (i + j) % 256), keeping only the
 * first keep bytes of the data; magic overrides the magic when non-zero. */
static void write_images(const char *path, uint32_t magic, uint32_t n, uint32_t r, uint32_t c,
                         size_t keep, int gz)
{
    unsigned char hdr[16];
    put_be32(hdr, magic ? magic : 0x00000803u);
    put_be32(hdr + 4, n);
    put_be32(hdr + 8, r);
    put_be32(hdr + 12, c);
    size_t nb = (size_t)n * r * c;
    nb = keep < nb ? keep : nb;
    unsigned char *d = malloc(nb + 1);
    for (size_t i = 0; i < nb; i++) {
        d[i] = (unsigned char)((i / (r * c)) + i % (r * c));
    }
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        gzwrite(f, hdr, 16);
        gzwrite(f, d, (unsigned)nb);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        fwrite(hdr, 1, 16, f);
        fwrite(d, 1, nb, f);
        fclose(f);
    }
    free(d);
}

/* Writes an IDX label file of n labels (label i = i % mod, or bad at index bad_at). */
static void write_labels(const char *path, uint32_t n, int mod, long bad_at)
{
    unsigned char hdr[8];
    put_be32(hdr, 0x00000801u);
    put_be32(hdr + 4, n);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(hdr, 1, 8, f);
    for (uint32_t i = 0; i < n; i++) {
        int v = (long)i == bad_at ? 200 : (int)(i % (uint32_t)mod);
        fputc(v, f);
    }
    fclose(f);
}

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* Asserts the status, that the message names the file (and offset when given), and
 * that the output stayed empty. */
static void expect_fail(kiln_status got, kiln_status want, const char *file, const char *offset,
                        const struct kiln_dataset *ds)
{
    const char *msg = kiln_last_error();
    ck_assert_msg(got == want, "status %s, want %s: %s", kiln_status_name(got),
                  kiln_status_name(want), msg);
    ck_assert_msg(strstr(msg, file) != NULL, "message does not name '%s': %s", file, msg);
    if (offset != NULL) {
        ck_assert_msg(strstr(msg, offset) != NULL, "message lacks '%s': %s", offset, msg);
    }
    ck_assert_ptr_null(ds->x);
    ck_assert_ptr_null(ds->y);
    ck_assert_int_eq(ds->n, 0);
}

START_TEST(test_idx_missing)
{
    char img[300], lab[300];
    struct kiln_dataset ds = {0};
    path_of(img, sizeof(img), "none-images");
    path_of(lab, sizeof(lab), "labels");
    write_labels(lab, 4, 10, -1);
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_IO, img, NULL, &ds);
    expect_fail(kiln_dataset_load_mnist(dir, "train", 0, &ds), KILN_E_IO, dir, NULL, &ds);
}
END_TEST

START_TEST(test_idx_bad_magic)
{
    char img[300], lab[300];
    struct kiln_dataset ds = {0};
    path_of(img, sizeof(img), "images");
    path_of(lab, sizeof(lab), "labels");
    write_labels(lab, 4, 10, -1);
    write_images(img, 0x12345678u, 4, 2, 2, 1000, 0);
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_FORMAT, img, "byte offset 0",
                &ds);
    write_images(img, 0x00000d03u, 4, 2, 2, 1000, 1); /* float data: unsupported */
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_FORMAT, img, "byte offset 2",
                &ds);
    write_images(img, 0x00000801u, 4, 2, 2, 1000, 0); /* a label file as images */
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_FORMAT, img, "byte offset 3",
                &ds);
    /* An empty file is truncated at offset 0. */
    FILE *f = fopen(img, "wb");
    fclose(f);
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_FORMAT, img, "byte offset 0",
                &ds);
}
END_TEST

START_TEST(test_idx_truncated)
{
    char img[300], lab[300];
    struct kiln_dataset ds = {0};
    path_of(img, sizeof(img), "images");
    path_of(lab, sizeof(lab), "labels");
    write_labels(lab, 5, 10, -1);
    write_images(img, 0, 5, 2, 2, 13, 0); /* 5 images of 4 bytes, 13 bytes present */
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_FORMAT, img, "byte offset 29",
                &ds);
    /* A prefix that fits in the data is fine. */
    ck_assert_int_eq(kiln_dataset_load_idx(img, lab, 3, 10, &ds), KILN_OK);
    ck_assert_int_eq(ds.n, 3);
    kiln_dataset_fini(&ds);
    /* The same through gzip, and a gzip stream cut short. */
    path_of(img, sizeof(img), "images.gz");
    write_images(img, 0, 5, 2, 2, 13, 1);
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_FORMAT, img, "byte offset 29",
                &ds);
    write_images(img, 0, 5, 2, 2, 1000, 1);
    ck_assert_int_eq(truncate(img, 20), 0);
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_FORMAT, img, "byte offset",
                &ds);
    /* Labels cut short. */
    write_images(img, 0, 5, 2, 2, 1000, 1);
    write_labels(lab, 5, 10, -1);
    ck_assert_int_eq(truncate(lab, 10), 0);
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_FORMAT, lab, "byte offset 10",
                &ds);
}
END_TEST

START_TEST(test_idx_mismatch)
{
    char img[300], lab[300];
    struct kiln_dataset ds = {0};
    path_of(img, sizeof(img), "images");
    path_of(lab, sizeof(lab), "labels");
    write_images(img, 0, 5, 2, 2, 1000, 0);
    write_labels(lab, 6, 10, -1);
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_FORMAT, lab, "byte offset 4",
                &ds);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), img));
    write_labels(lab, 5, 10, 3);
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_FORMAT, lab, "byte offset 11",
                &ds);
    write_labels(lab, 5, 10, -1);
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 4, &ds), KILN_E_FORMAT, lab, "byte offset", &ds);
}
END_TEST

/* Writes an IDX file with the given magic and dims followed by n_data bytes of 7. */
static void write_raw_idx(const char *path, uint32_t magic, const uint32_t *dims, int rank,
                          size_t n_data)
{
    unsigned char b[4];
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    put_be32(b, magic);
    fwrite(b, 1, 4, f);
    for (int i = 0; i < rank; i++) {
        put_be32(b, dims[i]);
        fwrite(b, 1, 4, f);
    }
    for (size_t i = 0; i < n_data; i++) {
        fputc(7, f);
    }
    fclose(f);
}

/* Headers whose dimensions each pass the per-dimension limit but whose products do not
 * fit: the sizes wrapped size_t (a tiny malloc that the reads overran) or overflowed
 * int64_t. Each must fail cleanly, naming the file and the dimensions' offset. */
START_TEST(test_idx_huge)
{
    char img[300], lab[300];
    struct kiln_dataset ds = {0};
    path_of(img, sizeof(img), "images");
    path_of(lab, sizeof(lab), "labels");
    write_labels(lab, 128, 10, -1);
    /* 128 x 2^30 x 2^25 bytes: 2^62 values, 2^64 bytes as floats. */
    const uint32_t wrap[3] = {128, 1u << 30, 1u << 25};
    write_raw_idx(img, 0x00000803u, wrap, 3, 4096);
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_FORMAT, img, "byte offset 4",
                &ds);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "1073741824 x 33554432"));
    /* Rank-4 items of 2^30 x 2^30 x 2^30: the item size overflows int64_t. */
    write_labels(lab, 2, 10, -1);
    const uint32_t r4[4] = {2, 1u << 30, 1u << 30, 1u << 30};
    write_raw_idx(img, 0x00000804u, r4, 4, 4096);
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_FORMAT, img, "byte offset 4",
                &ds);
    /* A limit does not make an unaddressable item size acceptable. */
    expect_fail(kiln_dataset_load_idx(img, lab, 1, 10, &ds), KILN_E_FORMAT, img, "byte offset 4",
                &ds);
    /* A dimension above 2^30 names its offset. */
    const uint32_t big[3] = {2, (1u << 30) + 1, 1};
    write_raw_idx(img, 0x00000803u, big, 3, 64);
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_FORMAT, img, "byte offset 8",
                &ds);
    /* Addressable but far larger than the file (1024 images of 2^15 x 2^15, 4 TiB as
     * floats): memory follows the data read, so this is a truncated file, not an
     * allocation of what the header claims. */
    write_labels(lab, 1024, 10, -1);
    const uint32_t claim[3] = {1024, 1u << 15, 1u << 15};
    write_raw_idx(img, 0x00000803u, claim, 3, 100000);
    expect_fail(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_E_FORMAT, img,
                "truncated at byte offset 100016", &ds);
    /* The same header through a prefix that the file holds loads. */
    const uint32_t small[3] = {1024, 10, 10};
    write_raw_idx(img, 0x00000803u, small, 3, 1024 * 100);
    ck_assert_msg(kiln_dataset_load_idx(img, lab, 0, 10, &ds) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(ds.n, 1024);
    ck_assert_int_eq(ds.dim, 100);
    ck_assert_float_eq_tol(ds.x[1024 * 100 - 1], 7.0f / 255.0f, 1e-7f);
    ck_assert_int_eq(ds.y[1023], 1023 % 10);
    kiln_dataset_fini(&ds);
}
END_TEST

START_TEST(test_idx_read)
{
    char img[300], lab[300];
    struct kiln_dataset ds = {0};
    for (int gz = 0; gz < 2; gz++) {
        path_of(img, sizeof(img), gz ? "train-images-idx3-ubyte.gz" : "images");
        path_of(lab, sizeof(lab), "train-labels-idx1-ubyte");
        write_images(img, 0, 7, 3, 2, 1000, gz);
        write_labels(lab, 7, 10, -1);
        ck_assert_int_eq(kiln_dataset_load_idx(img, lab, 0, 10, &ds), KILN_OK);
        ck_assert_int_eq(ds.n, 7);
        ck_assert_int_eq(ds.dim, 6);
        ck_assert_int_eq(ds.rank, 2);
        ck_assert_int_eq(ds.dims[0], 3);
        ck_assert_int_eq(ds.dims[1], 2);
        ck_assert_int_eq(ds.n_classes, 10);
        ck_assert_float_eq(ds.x[6 * 6 + 5], (6.0f + 5.0f) / 255.0f);
        ck_assert_int_eq(ds.y[6], 6);
        kiln_dataset_fini(&ds);
        ck_assert_ptr_null(ds.x);
    }
    /* kiln_dataset_load_mnist finds the .gz images next to the raw labels. */
    ck_assert_int_eq(kiln_dataset_load_mnist(dir, "train", 2, &ds), KILN_E_IO);
    path_of(lab, sizeof(lab), "train-labels-idx1-ubyte.gz");
    write_labels(lab, 7, 10, -1);
    ck_assert_msg(kiln_dataset_load_mnist(dir, "train", 2, &ds) == KILN_OK, "%s",
                  kiln_last_error());
    ck_assert_int_eq(ds.n, 2);
    kiln_dataset_fini(&ds);
    kiln_dataset_fini(NULL);
}
END_TEST

/* A dataset of n items of dim features where item i's features are all i and label i. */
static void make_ds(struct kiln_dataset *ds, int64_t n, int64_t dim)
{
    memset(ds, 0, sizeof(*ds));
    ds->n = n;
    ds->dim = dim;
    ds->rank = 1;
    ds->dims[0] = dim;
    ds->n_classes = (int32_t)n;
    ds->x = malloc((size_t)(n * dim) * sizeof(float));
    ds->y = malloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < dim; j++) {
            ds->x[i * dim + j] = (float)i;
        }
        ds->y[i] = (int32_t)i;
    }
}

START_TEST(test_split)
{
    struct kiln_dataset all, tr, va, tr2, va2;
    make_ds(&all, 100, 3);
    ck_assert_int_eq(kiln_dataset_split(&all, 30, 7, &tr, &va), KILN_OK);
    ck_assert_int_eq(tr.n, 70);
    ck_assert_int_eq(va.n, 30);
    int seen[100] = {0};
    for (int64_t i = 0; i < tr.n; i++) {
        seen[tr.y[i]]++;
        ck_assert_float_eq(tr.x[i * 3 + 2], (float)tr.y[i]);
        ck_assert(i == 0 || tr.y[i] > tr.y[i - 1]); /* order kept */
    }
    for (int64_t i = 0; i < va.n; i++) {
        seen[va.y[i]]++;
    }
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(seen[i], 1);
    }
    /* Same seed, same split; another seed, another split. */
    ck_assert_int_eq(kiln_dataset_split(&all, 30, 7, &tr2, &va2), KILN_OK);
    ck_assert_mem_eq(va.y, va2.y, 30 * sizeof(int32_t));
    kiln_dataset_fini(&tr2);
    kiln_dataset_fini(&va2);
    ck_assert_int_eq(kiln_dataset_split(&all, 30, 8, &tr2, &va2), KILN_OK);
    ck_assert(memcmp(va.y, va2.y, 30 * sizeof(int32_t)) != 0);
    kiln_dataset_fini(&tr2);
    kiln_dataset_fini(&va2);
    ck_assert_int_eq(kiln_dataset_split(&all, 101, 7, &tr2, &va2), KILN_E_INVALID_ARG);
    kiln_dataset_fini(&tr);
    kiln_dataset_fini(&va);
    kiln_dataset_fini(&all);
}
END_TEST

START_TEST(test_normalize)
{
    struct kiln_dataset ds;
    double mean, std;
    make_ds(&ds, 4, 2); /* values 0,0,1,1,2,2,3,3: mean 1.5, std sqrt(1.25) */
    ck_assert_int_eq(kiln_dataset_stats(&ds, &mean, &std), KILN_OK);
    ck_assert_double_eq_tol(mean, 1.5, 1e-12);
    ck_assert_double_eq_tol(std, sqrt(1.25), 1e-12);
    ck_assert_int_eq(kiln_dataset_normalize(&ds, mean, std), KILN_OK);
    ck_assert_int_eq(kiln_dataset_stats(&ds, &mean, &std), KILN_OK);
    ck_assert_double_eq_tol(mean, 0.0, 1e-6);
    ck_assert_double_eq_tol(std, 1.0, 1e-6);
    ck_assert_int_eq(kiln_dataset_normalize(&ds, 0.0, 0.0), KILN_E_INVALID_ARG);
    kiln_dataset_fini(&ds);
}
END_TEST

START_TEST(test_batches)
{
    struct kiln_dataset ds;
    kiln_batch_iter *it;
    float x[8 * 2];
    int32_t y[8], first[16];
    int64_t n;
    make_ds(&ds, 21, 2);
    /* Shuffled, dropping the last partial batch: 2 batches of 8 per epoch. */
    ck_assert_int_eq(
        kiln_batch_iter_create(&ds, 8, KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST, 3, &it), KILN_OK);
    ck_assert_int_eq(kiln_batch_iter_n_batches(it), 2);
    for (int epoch = 0; epoch < 2; epoch++) {
        int seen[21] = {0};
        kiln_batch_iter_reset(it, epoch);
        for (int b = 0; b < 2; b++) {
            ck_assert_int_eq(kiln_batch_iter_next(it, x, y, &n), KILN_OK);
            ck_assert_int_eq(n, 8);
            for (int i = 0; i < 8; i++) {
                ck_assert_float_eq(x[2 * i + 1], (float)y[i]);
                seen[y[i]]++;
                if (epoch == 0) {
                    first[b * 8 + i] = y[i];
                } else if (b == 0 && i == 0) {
                    ck_assert(memcmp(first, y, sizeof(y)) != 0); /* a new order */
                }
            }
        }
        ck_assert_int_eq(kiln_batch_iter_next(it, x, y, &n), KILN_OK);
        ck_assert_int_eq(n, 0);
        for (int i = 0; i < 21; i++) {
            ck_assert_int_le(seen[i], 1);
        }
    }
    kiln_batch_iter_reset(it, 0); /* the same epoch repeats exactly */
    ck_assert_int_eq(kiln_batch_iter_next(it, x, y, &n), KILN_OK);
    ck_assert_mem_eq(first, y, sizeof(y));
    kiln_batch_iter_destroy(it);
    /* In order, keeping the last partial batch, padded with label -1. */
    ck_assert_int_eq(kiln_batch_iter_create(&ds, 8, 0, 0, &it), KILN_OK);
    ck_assert_int_eq(kiln_batch_iter_n_batches(it), 3);
    int64_t total = 0;
    for (;;) {
        ck_assert_int_eq(kiln_batch_iter_next(it, x, y, &n), KILN_OK);
        if (n == 0) {
            break;
        }
        for (int64_t i = 0; i < n; i++) {
            ck_assert_int_eq(y[i], total + i);
        }
        total += n;
    }
    ck_assert_int_eq(total, 21);
    ck_assert_int_eq(y[4], 4 + 16);
    ck_assert_int_eq(y[5], -1);
    ck_assert_float_eq(x[7 * 2], 0.0f);
    kiln_batch_iter_destroy(it);
    ck_assert_int_eq(kiln_batch_iter_create(&ds, 0, 0, 0, &it), KILN_E_INVALID_ARG);
    kiln_batch_iter_destroy(NULL);
    kiln_dataset_fini(&ds);
}
END_TEST

START_TEST(test_dense)
{
    kiln_context *ctx;
    kiln_graph *g;
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = "cpu";
    ck_assert_int_eq(kiln_context_create(&o, &ctx), KILN_OK);
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    int64_t xd[3] = {4, 5, 5};
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 3, xd);
    kiln_tensor *h = kiln_dense(g, x, 7, "fc1", NULL);
    struct kiln_shape s;
    kiln_tensor_shape(h, &s);
    ck_assert_int_eq(s.rank, 2);
    ck_assert_int_eq(s.dims[1], 7);
    kiln_tensor *w = kiln_graph_find(g, "fc1.weight"), *b = kiln_graph_find(g, "fc1.bias");
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_nonnull(b);
    kiln_tensor_shape(w, &s);
    ck_assert_int_eq(s.dims[0], 7);
    ck_assert_int_eq(s.dims[1], 25);
    ck_assert_int_eq(kiln_graph_n_param_elems(g), 7 * 25 + 7);
    ck_assert_int_eq(kiln_graph_status(g), KILN_OK);
    kiln_tensor_keep(h);
    ck_assert_int_eq(kiln_graph_compile(g), KILN_OK);
    float wv[175], bv[7];
    ck_assert_int_eq(kiln_tensor_download(w, wv, sizeof(wv)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_download(b, bv, sizeof(bv)), KILN_OK);
    float lim = 1.0f / 5.0f, wmax = 0, bmax = 0;
    for (int i = 0; i < 175; i++) {
        wmax = fmaxf(wmax, fabsf(wv[i]));
    }
    for (int i = 0; i < 7; i++) {
        bmax = fmaxf(bmax, fabsf(bv[i]));
    }
    ck_assert(wmax <= lim && wmax > 0.5f * lim);
    ck_assert(bmax <= lim && bmax > 0.0f);
    kiln_graph_destroy(g);
    /* Bad arguments poison the graph. */
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    x = kiln_input(g, "x", KILN_DTYPE_F32, 3, xd);
    h = kiln_dense(g, x, 0, "fc1", NULL);
    ck_assert_int_eq(kiln_graph_status(g), KILN_E_INVALID_ARG);
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train-data");
    TCase *tc = tcase_create("idx");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_idx_missing);
    tcase_add_test(tc, test_idx_bad_magic);
    tcase_add_test(tc, test_idx_truncated);
    tcase_add_test(tc, test_idx_mismatch);
    tcase_add_test(tc, test_idx_huge);
    tcase_add_test(tc, test_idx_read);
    suite_add_tcase(s, tc);
    tc = tcase_create("dataset");
    tcase_add_test(tc, test_split);
    tcase_add_test(tc, test_normalize);
    tcase_add_test(tc, test_batches);
    tcase_add_test(tc, test_dense);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
