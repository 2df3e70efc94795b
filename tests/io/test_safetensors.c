/*
 * test_safetensors.c - the safetensors reader against crafted files: every malformed
 * case the specification forbids (duplicate names, overlapping or aliased ranges,
 * holes, bytes after the data, non-integer or fractional shapes and offsets, garbage
 * after the JSON, NUL in names, overflowing shapes, unknown dtypes, bad UTF-8, oversized
 * headers) fails with KILN_E_FORMAT and a message naming the file, the tensor and the
 * reason; FIFOs and devices are refused without blocking; what the specification allows
 * (every dtype, metadata, empty and rank-8 tensors, unknown fields, padding, escapes)
 * loads; the writer round-trips metadata and refuses what the reader would reject; and
 * a checkpoint with an extra BF16 tensor loads into a graph.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "kiln.h"

static char dir[256], path[300];

static void setup(void)
{
    const char *base = getenv("KILN_TEST_TMP");
    snprintf(dir, sizeof(dir), "%s/st_XXXXXX", base != NULL ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t.safetensors", dir);
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes a file: the header length (or len_override when non-zero), the n bytes of
 * JSON with ' for ", then n_data bytes of pattern. */
static void write_raw(const char *json, size_t n, size_t n_data, uint64_t len_override)
{
    char *h = malloc(n + 1);
    for (size_t i = 0; i <= n; i++) {
        h[i] = json[i] == '\'' ? '"' : json[i];
    }
    uint64_t len = len_override ? len_override : n;
    unsigned char hl[8];
    for (int i = 0; i < 8; i++) {
        hl[i] = (unsigned char)(len >> (8 * i));
    }
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(hl, 1, 8, f);
    fwrite(h, 1, n, f);
    for (size_t i = 0; i < n_data; i++) {
        fputc((int)(i * 7 % 251), f);
    }
    fclose(f);
    free(h);
}

static void write_file(const char *json, size_t n_data, uint64_t len_override)
{
    write_raw(json, strlen(json), n_data, len_override);
}

/* Reading the file fails with KILN_E_FORMAT; the message names the file and holds
 * each of the (up to two) substrings. */
static void expect_bad_n(const char *json, size_t n, size_t n_data, const char *sub1,
                         const char *sub2)
{
    struct kiln__st_file f;
    write_raw(json, n, n_data, 0);
    kiln_status s = kiln__st_read(path, &f);
    const char *msg = kiln_last_error();
    ck_assert_msg(s == KILN_E_FORMAT, "%s: got %s (%s)", json, kiln_status_name(s),
                  s == KILN_OK ? "accepted" : msg);
    ck_assert_msg(strstr(msg, path) != NULL, "%s: no file name in '%s'", json, msg);
    ck_assert_msg(strstr(msg, sub1) != NULL, "%s: '%s' lacks '%s'", json, msg, sub1);
    ck_assert_msg(sub2 == NULL || strstr(msg, sub2) != NULL, "%s: '%s' lacks '%s'", json, msg,
                  sub2);
    ck_assert_ptr_null(f.buf);
    ck_assert_ptr_null(f.tensors);
    ck_assert_int_eq(f.n_tensors, 0);
}

static void expect_bad(const char *json, size_t n_data, const char *sub1, const char *sub2)
{
    expect_bad_n(json, strlen(json), n_data, sub1, sub2);
}

#define A8  "'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}"
#define B4  "'b':{'dtype':'F32','shape':[1],'data_offsets':[8,12]}"
#define ENT "'dtype':'F32','shape':[2],'data_offsets'"

START_TEST(test_names)
{
    expect_bad("{" A8 ",'a':{'dtype':'F32','shape':[1],'data_offsets':[8,12]}}", 12, "'a'",
               "twice");
    expect_bad("{'a\\u0000b':{" ENT ":[0,8]}}", 8, "NUL", "tensor name");
    expect_bad("{'a\\u0000':{" ENT ":[0,8]}}", 8, "NUL", NULL);
    expect_bad("{'a\xff':{" ENT ":[0,8]}}", 8, "invalid UTF-8", NULL);
    expect_bad("{'a\xc0\xae':{" ENT ":[0,8]}}", 8, "invalid UTF-8", NULL); /* overlong */
    expect_bad("{'\\ud800x':{" ENT ":[0,8]}}", 8, "surrogate", NULL);
    expect_bad("{'a\tb':{" ENT ":[0,8]}}", 8, "control character", NULL);
    char longname[400];
    snprintf(longname, sizeof(longname), "{'%0300d':{" ENT ":[0,8]}}", 7);
    expect_bad(longname, 8, "at most 255 bytes", NULL);
    expect_bad("{'__metadata__':{'k':'v','k':'w'}," A8 "}", 8, "'k'", "twice");
    expect_bad("{'__metadata__':{},'__metadata__':{}," A8 "}", 8, "__metadata__", "twice");
    expect_bad("{'__metadata__':{'k':1}," A8 "}", 8, "'k'", "not a string");
    expect_bad("{'__metadata__':['k']," A8 "}", 8, "__metadata__", NULL);
}
END_TEST

START_TEST(test_offsets)
{
    /* Overlapping, aliased, holes, bytes after the data, out of bounds, reversed. */
    expect_bad("{" A8 ",'b':{'dtype':'F32','shape':[2],'data_offsets':[4,12]}}", 12, "'b'",
               "overlap tensor 'a'");
    expect_bad("{" A8 ",'b':{" ENT ":[0,8]}}", 8, "overlap", "[0, 8]");
    expect_bad("{" A8 ",'b':{'dtype':'F32','shape':[1],'data_offsets':[12,16]}}", 16,
               "[8, 12) of the data section", "hole before tensor 'b'");
    expect_bad("{'a':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}", 8, "[0, 4)", "'a'");
    expect_bad("{" A8 "," B4 "}", 16, "4 bytes after the last tensor", NULL);
    expect_bad("{}", 3, "3 bytes after the last tensor", NULL);
    expect_bad("{" A8 "," B4 "}", 11, "'b'", "exceed the 11 data bytes");
    expect_bad("{'a':{" ENT ":[8,0]}}", 8, "'a'", "end before they begin");
    expect_bad("{'a':{" ENT ":[0,12]}}", 12, "'a'", "needs 8");
    /* Not integers: strings, null, fractions, exponents, signs, huge, missing. */
    expect_bad("{'a':{" ENT ":['x',8]}}", 8, "data_offsets[0] of tensor 'a' is a string", NULL);
    expect_bad("{'a':{" ENT ":[null,8]}}", 8, "data_offsets[0] of tensor 'a' is null", NULL);
    expect_bad("{'a':{" ENT ":[0,8.0]}}", 8, "data_offsets[1] of tensor 'a' is not an integer",
               "8.0");
    expect_bad("{'a':{" ENT ":[0,0.8e1]}}", 8, "not an integer", NULL);
    expect_bad("{'a':{" ENT ":[0,8e0]}}", 8, "not an integer", NULL);
    expect_bad("{'a':{" ENT ":[-0,8]}}", 8, "'a'", "negative zero");
    expect_bad("{'a':{" ENT ":[0,18446744073709551616]}}", 8, "'a'", "too large");
    expect_bad("{'a':{" ENT ":[0,08]}}", 8, "'a'", "leading zero");
    expect_bad("{'a':{" ENT ":[0]}}", 8, "expected ','", "two offsets");
    expect_bad("{'a':{" ENT ":[0,8,16]}}", 16, "expected ']'", NULL);
    expect_bad("{'a':{'dtype':'F32','shape':[2]}}", 8, "'a'", "has no 'data_offsets'");
    expect_bad("{'a':{" ENT ":[0,8],'data_offsets':[0,8]}}", 8, "'a'", "two 'data_offsets'");
}
END_TEST

START_TEST(test_shapes)
{
    expect_bad("{'a':{'dtype':'F32','shape':[2.0],'data_offsets':[0,8]}}", 8,
               "dimension 0 of tensor 'a' is not an integer", NULL);
    expect_bad("{'a':{'dtype':'F32','shape':[1,2.5],'data_offsets':[0,8]}}", 8, "dimension 1",
               "not an integer");
    expect_bad("{'a':{'dtype':'F32','shape':[-2],'data_offsets':[0,8]}}", 8, "dimension 0",
               "negative");
    expect_bad("{'a':{'dtype':'F32','shape':['2'],'data_offsets':[0,8]}}", 8, "dimension 0",
               "a string");
    expect_bad("{'a':{'dtype':'F32','shape':[true],'data_offsets':[0,8]}}", 8, "dimension 0",
               "a boolean");
    expect_bad("{'a':{'dtype':'F32','shape':2,'data_offsets':[0,8]}}", 8, "'['", NULL);
    /* Shape products that do not fit int64_t, and sizes in bits that do not fit uint64_t. */
    expect_bad("{'a':{'dtype':'F32','shape':[4294967296,4294967296],'data_offsets':[0,8]}}", 8,
               "'a'", "more than 2^63 elements");
    expect_bad("{'a':{'dtype':'F32','shape':[9223372036854775807,2],'data_offsets':[0,8]}}", 8,
               "'a'", "more than 2^63");
    expect_bad("{'a':{'dtype':'F32','shape':[2305843009213693952,2],'data_offsets':[0,8]}}", 8,
               "'a'", "overflow a size");
    expect_bad("{'a':{'dtype':'F32','shape':[9223372036854775808],'data_offsets':[0,8]}}", 8,
               "dimension 0", "too large");
    expect_bad("{'a':{'dtype':'F4','shape':[3],'data_offsets':[0,2]}}", 2, "'a'",
               "not a whole number of bytes");
    expect_bad("{'a':{'dtype':'F17','shape':[2],'data_offsets':[0,8]}}", 8, "'a'",
               "unknown dtype 'F17'");
    expect_bad("{'a':{'dtype':32,'shape':[2],'data_offsets':[0,8]}}", 8, "a dtype", NULL);
}
END_TEST

START_TEST(test_header)
{
    expect_bad("{" A8 "}xyz     ", 8, "follow the JSON object", NULL);
    expect_bad("{" A8 "}{}", 8, "follow the JSON object", NULL);
    expect_bad_n("{" A8 "}\0\0\0", strlen("{" A8 "}") + 3, 8, "follow the JSON object", NULL);
    expect_bad(" {" A8 "}", 8, "byte 8 is not '{'", NULL);
    expect_bad("[]", 0, "byte 8 is not '{'", NULL);
    expect_bad("{" A8, 8, "expected '}'", NULL);
    expect_bad("{" A8 ",}", 8, "expected a tensor name", NULL);
    expect_bad("{'a' " ENT "}", 8, "expected ':'", NULL);
    expect_bad("{'a':{" ENT ":[0,8],'x':tru}}", 8, "not a value", NULL);
    char deep[400] = "{'a':{" ENT ":[0,8],'x':";
    for (int i = 0; i < 80; i++) {
        strcat(deep, "[");
    }
    strcat(deep, "}}");
    expect_bad(deep, 8, "nested deeper than 64", NULL);

    /* A header length beyond the file, and above 100 MiB in a (sparse) file big enough
     * to hold it: both refused before the file is read. */
    struct kiln__st_file f;
    write_file("{}", 0, 1000);
    ck_assert_int_eq(kiln__st_read(path, &f), KILN_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "header length 1000"));
    write_file("{}", 0, (100u << 20) + 8);
    ck_assert_int_eq(truncate(path, (101 << 20)), 0);
    ck_assert_int_eq(kiln__st_read(path, &f), KILN_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "100 MiB"));
    write_file("", 0, 0);
    ck_assert_int_eq(truncate(path, 5), 0);
    ck_assert_int_eq(kiln__st_read(path, &f), KILN_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "too short"));
}
END_TEST

/* A FIFO (nobody writing: reading would block forever) and /dev/zero (endless) are
 * refused before any read. */
START_TEST(test_not_regular)
{
    struct kiln__st_file f;
    char fifo[320];
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(kiln__st_read(fifo, &f), KILN_E_IO);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "a FIFO, not a regular file"));
    ck_assert_int_eq(kiln__st_read("/dev/zero", &f), KILN_E_IO);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "/dev/zero: is a character device"));
    ck_assert_int_eq(kiln__st_read(dir, &f), KILN_E_IO);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "a directory"));
    ck_assert_ptr_null(f.buf);
}
END_TEST

/* What the specification allows loads: every dtype kiln does not use is listed (not
 * loadable) next to loadable ones; metadata; empty, scalar, rank-8 and rank-9 tensors;
 * unknown fields; whitespace and padding; escapes. */
START_TEST(test_valid)
{
    struct kiln__st_file f;
    write_file("{ '__metadata__' : {'format':'pt','model':'r\\u00e9snet \\\"8\\\"'},\n"
               "'w':{'shape':[2],'dtype':'F32','data_offsets':[0,8],'extra':{'x':[1,null]}},"
               "'h':{'dtype':'BF16','shape':[3],'data_offsets':[8,14]},"
               "'e':{'dtype':'F32','shape':[0,3],'data_offsets':[14,14]},"
               "'u':{'dtype':'U8','shape':[2],'data_offsets':[14,16]},"
               "'q':{'dtype':'BOOL','shape':[],'data_offsets':[16,17]},"
               "'f':{'dtype':'F16','shape':[1],'data_offsets':[17,19]},"
               "'i':{'dtype':'I8','shape':[1],'data_offsets':[19,20]},"
               "'s':{'dtype':'F32','shape':[],'data_offsets':[20,24]},"
               "'r8':{'dtype':'F32','shape':[1,1,1,1,1,1,1,2],'data_offsets':[24,32]},"
               "'r9':{'dtype':'F32','shape':[1,1,1,1,1,1,1,1,1],'data_offsets':[32,36]},"
               "'d':{'dtype':'F64','shape':[1],'data_offsets':[36,44]},"
               "'l':{'dtype':'I64','shape':[1],'data_offsets':[44,52]},"
               "'n\\u00e9\\ud83d\\ude00\\/':{'dtype':'F4','shape':[4],'data_offsets':[52,54]}"
               "}    ",
               54, 0);
    ck_assert_msg(kiln__st_read(path, &f) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(f.n_tensors, 13);
    ck_assert_str_eq(kiln__st_meta(&f, "format"), "pt");
    ck_assert_str_eq(kiln__st_meta(&f, "model"), "r\xc3\xa9snet \"8\"");
    ck_assert_ptr_null(kiln__st_meta(&f, "nothing"));
    const struct kiln__st_tensor *t = kiln__st_find(&f, "w");
    ck_assert_int_eq(t->dtype, KILN__ST_F32);
    ck_assert_uint_eq(t->n_bytes, 8);
    ck_assert_ptr_eq(t->data, f.buf + 8 + (f.n_bytes - 8 - 54));
    ck_assert_uint_eq(((uintptr_t)t->data) % 8, 0); /* aligned although the header is not */
    static const char *const other[] = {"h", "u", "q", "f", "i", "r9"};
    for (int i = 0; i < 6; i++) {
        t = kiln__st_find(&f, other[i]);
        ck_assert_ptr_nonnull(t);
        ck_assert_msg(t->dtype == KILN__ST_OTHER, "%s", other[i]);
    }
    ck_assert_str_eq(kiln__st_find(&f, "h")->dtype_name, "BF16");
    ck_assert_uint_eq(kiln__st_find(&f, "h")->n_bytes, 6);
    ck_assert_str_eq(kiln__st_find(&f, "r9")->dtype_name, "F32");
    ck_assert_int_eq(kiln__st_find(&f, "r9")->rank, 9);
    t = kiln__st_find(&f, "r8");
    ck_assert_int_eq(t->dtype, KILN__ST_F32);
    ck_assert_int_eq(t->rank, 8);
    ck_assert_int_eq(t->dims[7], 2);
    ck_assert_int_eq(kiln__st_find(&f, "e")->n_elems, 0);
    ck_assert_int_eq(kiln__st_find(&f, "s")->rank, 0);
    ck_assert_int_eq(kiln__st_find(&f, "s")->n_elems, 1);
    ck_assert_int_eq(kiln__st_find(&f, "d")->dtype, KILN__ST_F64);
    ck_assert_int_eq(kiln__st_find(&f, "l")->dtype, KILN__ST_I64);
    ck_assert_ptr_nonnull(kiln__st_find(&f, "n\xc3\xa9\xf0\x9f\x98\x80/"));
    kiln__st_free(&f);
    kiln__st_free(&f); /* twice is harmless */

    /* null metadata, an empty file of tensors, empty tensors at the end. */
    write_file("{'__metadata__':null,'z':{'dtype':'F32','shape':[0],'data_offsets':[0,0]}}", 0, 0);
    ck_assert_msg(kiln__st_read(path, &f) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(f.n_meta, 0);
    kiln__st_free(&f);
    write_file("{}", 0, 0);
    ck_assert_msg(kiln__st_read(path, &f) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(f.n_tensors, 0);
    kiln__st_free(&f);
}
END_TEST

/* kiln__st_parse takes a buffer it owns: from memory, at any alignment. */
START_TEST(test_parse_memory)
{
    const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t n = strlen(json);
    for (int shift = 0; shift < 8; shift++) {
        size_t total = 8 + n + shift + 8;
        unsigned char *buf = calloc(1, total);
        uint64_t len = n + (size_t)shift;
        for (int i = 0; i < 8; i++) {
            buf[i] = (unsigned char)(len >> (8 * i));
        }
        memcpy(buf + 8, json, n);
        memset(buf + 8 + n, ' ', (size_t)shift);
        float v[2] = {1.5f, -2.0f};
        memcpy(buf + 8 + n + shift, v, 8);
        struct kiln__st_file f;
        ck_assert_msg(kiln__st_parse("mem", buf, total, &f) == KILN_OK, "%s", kiln_last_error());
        ck_assert_uint_eq(((uintptr_t)f.tensors[0].data) % 8, 0);
        ck_assert_mem_eq(f.tensors[0].data, v, 8);
        kiln__st_free(&f);
    }
    unsigned char *bad = malloc(4);
    struct kiln__st_file f;
    ck_assert_int_eq(kiln__st_parse("mem", bad, 4, &f), KILN_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "mem: 4 bytes is too short"));
}
END_TEST

START_TEST(test_write)
{
    float w[6] = {1, 2, 3, 4, 5, 6};
    int32_t k[1] = {7};
    struct kiln__st_tensor ts[3] = {
        {.name = "w \"q\" \\ \x01",
         .dtype = KILN__ST_F32,
         .rank = 8,
         .dims = {1, 1, 1, 1, 1, 1, 2, 3},
         .n_elems = 6,
         .data = w,
         .n_bytes = 24},
        {.name = "k", .dtype = KILN__ST_I32, .rank = 0, .n_elems = 1, .data = k, .n_bytes = 4},
        {.name = "e", .dtype = KILN__ST_F32, .rank = 1}};
    const char *meta[] = {"model", "resnet", "config", "{\"depth\": 1}\n"};
    ck_assert_msg(kiln__st_write_meta(path, ts, 3, meta, 2) == KILN_OK, "%s", kiln_last_error());
    struct kiln__st_file f;
    ck_assert_msg(kiln__st_read(path, &f) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(f.n_tensors, 3);
    ck_assert_str_eq(kiln__st_meta(&f, "config"), "{\"depth\": 1}\n");
    const struct kiln__st_tensor *t = kiln__st_find(&f, "w \"q\" \\ \x01");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->rank, 8);
    ck_assert_mem_eq(t->data, w, sizeof(w));
    ck_assert_int_eq(*(const int32_t *)kiln__st_find(&f, "k")->data, 7);
    ck_assert_uint_eq((uintptr_t)f.tensors[0].data % 8, 0);
    kiln__st_free(&f);

    /* What the reader would reject is not written (and the old file stays). */
    struct kiln__st_tensor dup[2] = {ts[1], ts[1]};
    ck_assert_int_eq(kiln__st_write(path, dup, 2), KILN_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "'k' appears twice"));
    struct kiln__st_tensor bad = ts[1];
    bad.dtype = KILN__ST_OTHER;
    ck_assert_int_eq(kiln__st_write(path, &bad, 1), KILN_E_INVALID_ARG);
    bad = ts[1];
    bad.n_bytes = 8;
    ck_assert_int_eq(kiln__st_write(path, &bad, 1), KILN_E_INVALID_ARG);
    bad = ts[1];
    snprintf(bad.name, sizeof(bad.name), "__metadata__");
    ck_assert_int_eq(kiln__st_write(path, &bad, 1), KILN_E_INVALID_ARG);
    const char *dup_meta[] = {"a", "1", "a", "2"};
    ck_assert_int_eq(kiln__st_write_meta(path, ts, 1, dup_meta, 2), KILN_E_INVALID_ARG);
    ck_assert_int_eq(kiln__st_read(path, &f), KILN_OK);
    ck_assert_int_eq(f.n_tensors, 3);
    kiln__st_free(&f);
}
END_TEST

/* kiln_graph_load ignores tensors the graph does not have, whatever their dtype: a
 * checkpoint with an extra BF16 tensor loads. */
START_TEST(test_checkpoint_extra_dtype)
{
    kiln_context *ctx = NULL;
    kiln_graph *g = NULL;
    ck_assert_int_eq(kiln_context_create(NULL, &ctx), KILN_OK);
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    int64_t wd[2] = {2, 3};
    kiln_tensor *w = kiln_param(g, "fc.weight", 2, wd, KILN_INIT_ZEROS, 0, 1);
    kiln_tensor_keep(kiln_relu(g, w));
    ck_assert_int_eq(kiln_graph_compile(g), KILN_OK);
    write_file("{'__metadata__':{'format':'pt'},"
               "'fc.weight':{'dtype':'F32','shape':[2,3],'data_offsets':[0,24]},"
               "'emb':{'dtype':'BF16','shape':[4],'data_offsets':[24,32]}}",
               0, 0);
    FILE *fp = fopen(path, "ab");
    float v[6] = {1, 2, 3, 4, 5, 6};
    fwrite(v, 1, sizeof(v), fp);
    fwrite(v, 1, 8, fp);
    fclose(fp);
    ck_assert_msg(kiln_graph_load(g, path, 0) == KILN_OK, "%s", kiln_last_error());
    float got[6];
    ck_assert_int_eq(kiln_tensor_download(w, got, sizeof(got)), KILN_OK);
    ck_assert_mem_eq(got, v, sizeof(v));
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("reader");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_offsets);
    tcase_add_test(tc, test_shapes);
    tcase_add_test(tc, test_header);
    tcase_add_test(tc, test_not_regular);
    tcase_add_test(tc, test_valid);
    tcase_add_test(tc, test_parse_memory);
    tcase_add_test(tc, test_write);
    tcase_add_test(tc, test_checkpoint_extra_dtype);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
