/*
 * test_cache.c - the on-disk cache entries of src/cache.h: a round trip, and every way
 * an entry can be bad (truncated, padded, corrupt, made for another key, another format,
 * not an entry, not a regular file) is ignored with one warning. With a GPU backend as
 * argument (opencl, vulkan), the backend's real cache: a run writes it; truncating or
 * corrupting the files (and, on Vulkan, a valid entry whose pipeline cache header names
 * another device) between two runs makes the second run warn, succeed with the same
 * results and rewrite a valid file; an unwritable KILN_CACHE_DIR is one warning per
 * context. Exits 77 (SKIP) without the backend's device.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "core_util.h"

static char dir[256];
static int n_warn;
static char last_warn[1024];

static void on_log(void *ud, kiln_log_level level, const char *msg)
{
    (void)ud;
    if (level == KILN_LOG_WARN) {
        n_warn++;
        snprintf(last_warn, sizeof(last_warn), "%s", msg);
    }
}

/* A context on backend with warnings counted by on_log. */
static kiln_context *logged_context(const char *backend)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx = NULL;
    o.backend = backend;
    o.check = 0;
    o.log = on_log;
    o.log_level = KILN_LOG_WARN;
    EXPECT_OK(kiln_context_create(&o, &ctx));
    return ctx;
}

static void setup(void)
{
    const char *base = getenv("KILN_TEST_TMP");
    snprintf(dir, sizeof(dir), "%s/cache_XXXXXX", base != NULL ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(setenv("KILN_CACHE_DIR", dir, 1), 0);
    n_warn = 0;
    last_warn[0] = '\0';
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static size_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/* Loads path for key; returns whether there was a valid entry and checks the payload. */
static int load(kiln_context *ctx, const char *path, const char *key, const char *want)
{
    void *data = NULL;
    size_t n = 0;
    EXPECT_OK(kiln__cache_load(ctx, "test: cache entry", path, key, &data, &n));
    if (data == NULL) {
        return 0;
    }
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_mem_eq(data, want, n);
    kiln__free(ctx, data);
    return 1;
}

/* Loading path fails validation with one warning naming the file and reason. */
static void expect_bad(kiln_context *ctx, const char *path, const char *key, const char *reason)
{
    n_warn = 0;
    ck_assert_int_eq(load(ctx, path, key, ""), 0);
    ck_assert_int_eq(n_warn, 1);
    ck_assert_msg(strstr(last_warn, path) != NULL && strstr(last_warn, reason) != NULL,
                  "warning '%s' lacks '%s'", last_warn, reason);
}

START_TEST(test_entries)
{
    kiln_context *ctx = logged_context("cpu");
    char path[512], cmd[700];
    const char *key = "kiln test; device 'x'";
    bool warned = false;
    kiln__cache_path("sub", "stem", key, path, sizeof(path));
    ck_assert_ptr_nonnull(strstr(path, dir));
    ck_assert_int_eq(load(ctx, path, key, ""), 0); /* absent: no warning */
    ck_assert_int_eq(n_warn, 0);
    kiln__cache_store(ctx, "test: cache entry", path, key, "payload bytes", 13, &warned);
    ck_assert(!warned);
    ck_assert_int_eq(load(ctx, path, key, "payload bytes"), 1);
    ck_assert_int_eq(n_warn, 0);
    size_t full = file_size(path);
    ck_assert_uint_eq(full, KILN__CACHE_HEADER_BYTES + strlen(key) + 13);

    expect_bad(ctx, path, "kiln test; device 'y'", "another kiln version, device");
    ck_assert_int_eq(truncate(path, (off_t)full - 1), 0);
    expect_bad(ctx, path, key, "truncated or damaged");
    ck_assert_int_eq(truncate(path, 20), 0);
    expect_bad(ctx, path, key, "truncated before the end of its header");
    ck_assert_int_eq(truncate(path, (off_t)full + 5), 0);
    expect_bad(ctx, path, key, "truncated or damaged");
    kiln__cache_store(ctx, "test: cache entry", path, key, "payload bytes", 13, &warned);
    FILE *f = fopen(path, "r+b");
    fseek(f, (long)full - 3, SEEK_SET);
    fputc('X', f);
    fclose(f);
    expect_bad(ctx, path, key, "checksum does not match");
    f = fopen(path, "r+b");
    fseek(f, 8, SEEK_SET);
    fputc(9, f); /* format version */
    fclose(f);
    expect_bad(ctx, path, key, "format version 9");
    snprintf(cmd, sizeof(cmd), "head -c 100 /dev/urandom > '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
    expect_bad(ctx, path, key, "not a kiln cache file");
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkfifo(path, 0600), 0); /* must not block */
    expect_bad(ctx, path, key, "not a regular file");
    ck_assert_int_eq(unlink(path), 0);
    kiln__cache_store(ctx, "test: cache entry", path, key, "again", 5, &warned);
    ck_assert_int_eq(load(ctx, path, key, "again"), 1);

    /* Unwritable: one warning, then debug lines only. */
    char file[300];
    snprintf(file, sizeof(file), "%s/plain-file", dir);
    f = fopen(file, "wb");
    fclose(f);
    snprintf(path, sizeof(path), "%s/sub/entry.kcache", file);
    n_warn = 0;
    kiln__cache_store(ctx, "test: cache entry", path, key, "x", 1, &warned);
    kiln__cache_store(ctx, "test: cache entry", path, key, "x", 1, &warned);
    ck_assert(warned);
    ck_assert_int_eq(n_warn, 1);
    ck_assert_ptr_nonnull(strstr(last_warn, "cannot create its directory"));
    kiln_context_destroy(ctx);
}
END_TEST

/* ==== The backends' caches ==== */

static const char *gpu_backend = "cpu";

/* Runs y = relu(x) + x * 2 on a fresh context (two OpenCL programs, three Vulkan
 * pipelines) and checks y. Returns the warnings logged. */
static int run_graph(void)
{
    n_warn = 0; /* Vulkan reads its cache when the context is created */
    kiln_context *ctx = logged_context(gpu_backend);
    kiln_graph *g = NULL;
    int64_t dims[1] = {37};
    float x[37], y[37];
    EXPECT_OK(kiln_graph_create(ctx, &g));
    kiln_tensor *xt = kiln_input(g, "x", KILN_DTYPE_F32, 1, dims);
    kiln_tensor *yt = kiln_tensor_keep(kiln_add(g, kiln_relu(g, xt), kiln_add(g, xt, xt)));
    EXPECT_OK(kiln_graph_compile(g));
    for (int i = 0; i < 37; i++) {
        x[i] = (float)(i - 18) * 0.5f;
    }
    EXPECT_OK(kiln_tensor_upload(xt, x, sizeof(x)));
    EXPECT_OK(kiln_graph_run(g));
    EXPECT_OK(kiln_tensor_download(yt, y, sizeof(y)));
    for (int i = 0; i < 37; i++) {
        ck_assert_float_eq(y[i], (x[i] > 0 ? x[i] : 0.0f) + 2 * x[i]);
    }
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    return n_warn;
}

/* The entry files under dir/<backend>/, up to max; returns how many. */
static int list_entries(char paths[][512], int max)
{
    char sub[300];
    int n = 0;
    snprintf(sub, sizeof(sub), "%s/%s", dir, gpu_backend);
    DIR *d = opendir(sub);
    ck_assert_msg(d != NULL, "no cache directory %s", sub);
    for (struct dirent *e; (e = readdir(d)) != NULL && n < max;) {
        if (strstr(e->d_name, ".kcache") != NULL) {
            snprintf(paths[n++], 512, "%s/%s", sub, e->d_name);
        }
    }
    closedir(d);
    return n;
}

/* Whether path is a valid entry (by its own key, which it stores). */
static int valid_entry(const char *path)
{
    unsigned char h[KILN__CACHE_HEADER_BYTES];
    char key[1024];
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t klen = fread(h, 1, sizeof(h), f) == sizeof(h) ? h[12] | (size_t)h[13] << 8 : 0;
    ck_assert_uint_lt(klen, sizeof(key));
    ck_assert_uint_eq(fread(key, 1, klen, f), klen);
    fclose(f);
    key[klen] = '\0';
    kiln_context *ctx = logged_context("cpu");
    void *data = NULL;
    size_t n = 0;
    n_warn = 0;
    EXPECT_OK(kiln__cache_load(ctx, "test", path, key, &data, &n));
    int ok = data != NULL && n_warn == 0;
    kiln__free(ctx, data);
    kiln_context_destroy(ctx);
    return ok;
}

START_TEST(test_backend_rebuild)
{
    char paths[16][512];
    ck_assert_int_eq(run_graph(), 0);
    int n = list_entries(paths, 16);
    ck_assert_int_ge(n, 1);
    for (int mode = 0; mode < 3; mode++) {
        size_t size = file_size(paths[0]);
        if (mode == 0) { /* truncated, as by a crash or a full disk */
            ck_assert_int_eq(truncate(paths[0], (off_t)size / 2), 0);
        } else if (mode == 1) { /* one byte of the payload changed */
            FILE *f = fopen(paths[0], "r+b");
            fseek(f, (long)size - 10, SEEK_SET);
            int c = fgetc(f);
            fseek(f, (long)size - 10, SEEK_SET);
            fputc(c ^ 0x5a, f);
            fclose(f);
        } else { /* every file cut to its header */
            for (int i = 0; i < n; i++) {
                ck_assert_int_eq(truncate(paths[i], KILN__CACHE_HEADER_BYTES), 0);
            }
        }
        int warned = run_graph();
        ck_assert_msg(warned == (mode == 2 ? n : 1), "mode %d: %d warnings (last: %s)", mode,
                      warned, last_warn);
        ck_assert_ptr_nonnull(strstr(last_warn, "it will be rebuilt"));
        for (int i = 0; i < n; i++) {
            ck_assert_msg(valid_entry(paths[i]), "mode %d: %s not rewritten", mode, paths[i]);
        }
        ck_assert_int_eq(run_graph(), 0); /* and read back without complaint */
    }
}
END_TEST

/* A valid entry whose pipeline cache data claims another device: the header is checked
 * before the driver sees the data. */
START_TEST(test_vulkan_header)
{
    char paths[4][512], key[1024];
    FILE *f;
    if (strcmp(gpu_backend, "vulkan") != 0) {
        return;
    }
    ck_assert_int_eq(run_graph(), 0);
    ck_assert_int_eq(list_entries(paths, 4), 1);
    size_t size = file_size(paths[0]);
    ck_assert_uint_gt(size, KILN__CACHE_HEADER_BYTES);
    unsigned char *buf = malloc(size);
    ck_assert_ptr_nonnull(buf);
    f = fopen(paths[0], "rb");
    ck_assert_uint_eq(fread(buf, 1, size, f), size);
    fclose(f);
    size_t klen = buf[12] | (size_t)buf[13] << 8, off = KILN__CACHE_HEADER_BYTES + klen;
    ck_assert_uint_lt(klen, sizeof(key));
    ck_assert_uint_ge(size, off + 32);
    for (size_t i = 0; i < klen; i++) {
        key[i] = (char)buf[KILN__CACHE_HEADER_BYTES + i];
    }
    key[klen] = '\0';
    buf[off + 8] ^= 0xff; /* vendorID */
    kiln_context *ctx = logged_context("cpu");
    bool warned = false;
    kiln__cache_store(ctx, "test", paths[0], key, buf + off, size - off, &warned);
    kiln_context_destroy(ctx);
    ck_assert_int_eq(run_graph(), 1);
    ck_assert_ptr_nonnull(strstr(last_warn, "another device"));
    ck_assert_int_eq(run_graph(), 0);
    free(buf);
}
END_TEST

START_TEST(test_backend_unwritable)
{
    char file[300], sub[400];
    snprintf(file, sizeof(file), "%s/plain-file", dir);
    FILE *f = fopen(file, "wb");
    fclose(f);
    snprintf(sub, sizeof(sub), "%s/sub", file);
    ck_assert_int_eq(setenv("KILN_CACHE_DIR", sub, 1), 0);
    ck_assert_int_eq(run_graph(), 1);
    ck_assert_ptr_nonnull(strstr(last_warn, "cannot create its directory"));
    ck_assert_ptr_nonnull(strstr(last_warn, gpu_backend));
}
END_TEST

int main(int argc, char **argv)
{
    int skip = core_parse_args(argc, argv);
    if (skip != 0) {
        return skip;
    }
    gpu_backend = core_backend;
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create(core_backend);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    if (strcmp(core_backend, "cpu") == 0) {
        tcase_add_test(tc, test_entries);
    } else {
        tcase_add_test(tc, test_backend_rebuild);
        tcase_add_test(tc, test_vulkan_header);
        tcase_add_test(tc, test_backend_unwritable);
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    /* GPU driver state must not cross a fork. */
    srunner_set_fork_status(sr, strcmp(core_backend, "cpu") == 0 ? CK_FORK : CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed == 0 ? 0 : 1;
}
