/*
 * test_status.c - the status side of the API (STYLE B.4): unknown backend names (in
 * options and in KILN_BACKEND) and device indices come back with a message that says
 * what exists, every status has its name and description, and the last-error record is
 * cleared explicitly and kept per thread. Graph-level errors are in test_errors.c.
 */
#include <pthread.h>
#include <stdlib.h>

#include "core_util.h"

static kiln_context *ctx;
static kiln_graph *g;

static void setup(void)
{
    ctx = core_context();
    EXPECT_OK(kiln_graph_create(ctx, &g));
}

static void teardown(void)
{
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    g = NULL;
    ctx = NULL;
}

/* ==== Backends and devices ==== */

static void expect_backend_list(const char *msg)
{
    ck_assert_msg(strstr(msg, "available backends") != NULL, "no backend list in '%s'", msg);
    for (int32_t i = 0; i < kiln_backend_count(); i++) {
        ck_assert_msg(strstr(msg, kiln_backend_name(i)) != NULL, "'%s' does not list '%s'", msg,
                      kiln_backend_name(i));
    }
}

START_TEST(test_unknown_backend)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *c = (kiln_context *)&o; /* must be overwritten with NULL */
    o.backend = "nonsense";
    EXPECT_FAIL(kiln_context_create(&o, &c), KILN_E_INVALID_ARG, "unknown backend 'nonsense'");
    expect_backend_list(kiln_last_error());
    ck_assert_ptr_null(c);
    kiln_clear_error();
    ck_assert_ptr_null(kiln_backend_resolve("nonsense"));
    ck_assert_int_eq(kiln_last_status(), KILN_E_INVALID_ARG);
    expect_backend_list(kiln_last_error());
    int32_t n = 0;
    EXPECT_FAIL(kiln_backend_devices("nonsense", NULL, 0, &n), KILN_E_INVALID_ARG,
                "unknown backend 'nonsense'");
}
END_TEST

START_TEST(test_unknown_backend_from_environment)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *c = NULL;
    ck_assert_int_eq(setenv("KILN_BACKEND", "nonsense", 1), 0);
    EXPECT_FAIL(kiln_context_create(NULL, &c), KILN_E_INVALID_ARG, "unknown backend 'nonsense'");
    expect_backend_list(kiln_last_error());
    EXPECT_FAIL(kiln_context_create(&o, &c), KILN_E_INVALID_ARG, "unknown backend 'nonsense'");
    ck_assert_ptr_null(c);
    /* An explicit option wins over the environment. */
    o.backend = "cpu";
    EXPECT_OK(kiln_context_create(&o, &c));
    ck_assert_str_eq(kiln_context_backend(c), "cpu");
    kiln_context_destroy(c);
    ck_assert_int_eq(setenv("KILN_BACKEND", "cpu", 1), 0);
    EXPECT_OK(kiln_context_create(NULL, &c));
    ck_assert_str_eq(kiln_context_backend(c), "cpu");
    kiln_context_destroy(c);
    unsetenv("KILN_BACKEND");
}
END_TEST

START_TEST(test_backend_resolve)
{
    int found = 0;
    const char *autoname = kiln_backend_resolve("auto");
    ck_assert_ptr_nonnull(autoname);
    for (int32_t i = 0; i < kiln_backend_count(); i++) {
        found += strcmp(kiln_backend_name(i), autoname) == 0;
    }
    ck_assert_msg(found == 1, "'auto' resolves to '%s', not a compiled-in backend", autoname);
    ck_assert_str_eq(kiln_backend_resolve("cpu"), "cpu");
    ck_assert_ptr_null(kiln_backend_name(-1));
    ck_assert_ptr_null(kiln_backend_name(kiln_backend_count()));
    ck_assert_str_eq(kiln_backend_name(kiln_backend_count() - 1), "cpu");
}
END_TEST

START_TEST(test_cpu_device_index)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *c = NULL;
    o.backend = "cpu";
    o.device = "2";
    EXPECT_FAIL(kiln_context_create(&o, &c), KILN_E_BACKEND_UNAVAILABLE, "no device '2'");
    ck_assert_ptr_null(c);
    o.device = "gpu";
    EXPECT_FAIL(kiln_context_create(&o, &c), KILN_E_BACKEND_UNAVAILABLE, "no device 'gpu'");
    o.device = "0";
    EXPECT_OK(kiln_context_create(&o, &c));
    ck_assert_str_eq(kiln_context_device(c), "cpu");
    kiln_context_destroy(c);
    /* Device 1 runs the reference kernels; a name substring picks it too. */
    o.device = "1";
    EXPECT_OK(kiln_context_create(&o, &c));
    ck_assert_str_eq(kiln_context_device(c), "cpu-reference");
    kiln_context_destroy(c);
    o.device = "REFER";
    EXPECT_OK(kiln_context_create(&o, &c));
    ck_assert_str_eq(kiln_context_device(c), "cpu-reference");
    kiln_context_destroy(c);
    o.device = "cpu";
    EXPECT_OK(kiln_context_create(&o, &c));
    ck_assert_str_eq(kiln_context_device(c), "cpu");
    kiln_context_destroy(c);
    /* The same through KILN_DEVICE. */
    o.device = NULL;
    ck_assert_int_eq(setenv("KILN_DEVICE", "7", 1), 0);
    EXPECT_FAIL(kiln_context_create(&o, &c), KILN_E_BACKEND_UNAVAILABLE, "no device '7'");
    unsetenv("KILN_DEVICE");
    int32_t n = 0;
    struct kiln_device_info info;
    EXPECT_OK(kiln_backend_devices("cpu", &info, 1, &n));
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(info.type, "cpu");
    ck_assert_str_eq(info.name, "cpu");
}
END_TEST

START_TEST(test_context_struct_size)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *c = NULL;
    o.backend = "cpu";
    o.struct_size = 8;
    EXPECT_FAIL(kiln_context_create(&o, &c), KILN_E_INVALID_ARG, "struct_size 8 is too small");
}
END_TEST

/* ==== Status names ==== */

START_TEST(test_status_names)
{
    static const struct {
        kiln_status s;
        const char *name, *desc;
    } all[] = {
#define ROW(name, value, desc) {KILN_##name, "KILN_" #name, desc},
        KILN_STATUS_MAP(ROW)
#undef ROW
    };
    int n = (int)(sizeof(all) / sizeof(all[0]));
    ck_assert_int_ge(n, 15);
    for (int i = 0; i < n; i++) {
        ck_assert_str_eq(kiln_status_name(all[i].s), all[i].name);
        ck_assert_str_eq(kiln_status_str(all[i].s), all[i].desc);
        ck_assert_int_gt((int)strlen(all[i].desc), 0);
        ck_assert(i == 0 ? all[i].s == KILN_OK : all[i].s < 0);
        for (int j = 0; j < i; j++) {
            ck_assert_int_ne(all[i].s, all[j].s);
        }
    }
    ck_assert_str_eq(kiln_status_name(KILN_E_SHAPE), "KILN_E_SHAPE");
    ck_assert_str_eq(kiln_status_str(KILN_E_SHAPE), "shape mismatch");
    ck_assert_str_eq(kiln_status_name((kiln_status)-999), "KILN_E_UNKNOWN");
    ck_assert_str_eq(kiln_status_str((kiln_status)5), "unknown status");
}
END_TEST

START_TEST(test_clear_error)
{
    kiln_graph_status(NULL);
    ck_assert_int_eq(kiln_last_status(), KILN_E_INVALID_ARG);
    ck_assert_int_gt((int)strlen(kiln_last_error()), 0);
    kiln_clear_error();
    ck_assert_int_eq(kiln_last_status(), KILN_OK);
    ck_assert_str_eq(kiln_last_error(), "");
    ck_assert_int_eq(kiln_last_native_code(), 0);
    /* A successful call does not clear a recorded error. */
    kiln_graph_status(NULL);
    EXPECT_OK(kiln_graph_status(g));
    ck_assert_int_eq(kiln_last_status(), KILN_E_INVALID_ARG);
}
END_TEST

static void *fail_on_thread(void *arg)
{
    (void)arg;
    kiln_graph_compile(NULL);
    return (void *)(intptr_t)kiln_last_status();
}

START_TEST(test_last_error_is_per_thread)
{
    void *other = NULL;
    pthread_t th;
    kiln_clear_error();
    ck_assert_int_eq(pthread_create(&th, NULL, fail_on_thread, NULL), 0);
    ck_assert_int_eq(pthread_join(th, &other), 0);
    ck_assert_int_eq((int)(intptr_t)other, KILN_E_INVALID_ARG);
    /* The other thread's failure left this thread's record alone. */
    ck_assert_int_eq(kiln_last_status(), KILN_OK);
    ck_assert_str_eq(kiln_last_error(), "");
}
END_TEST

static Suite *status_suite(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("backends");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_unknown_backend);
    tcase_add_test(tc, test_unknown_backend_from_environment);
    tcase_add_test(tc, test_backend_resolve);
    tcase_add_test(tc, test_cpu_device_index);
    tcase_add_test(tc, test_context_struct_size);
    suite_add_tcase(s, tc);
    tc = tcase_create("status");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_status_names);
    tcase_add_test(tc, test_clear_error);
    tcase_add_test(tc, test_last_error_is_per_thread);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return core_run_suite(status_suite());
}
