/*
 * test_fault.c - host allocation failure injection (STYLE B.9 "OOM"). A counting
 * kiln_allocator fails exactly allocation number i; for i = 0, 1, ... a small MLP is
 * built, trained for two steps and read back until a run sees no failure. Every
 * injected failure must come back as KILN_E_OUT_OF_HOST_MEMORY from some call (builders
 * poison the graph, so the status may surface later), and destroying everything must
 * return every allocation. The run that completes must give the same numbers as a run
 * without the hook. Runs on the backend named by the first argument (default cpu).
 * Device memory failures are not simulated here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core_util.h"

/* ==== The counting allocator ==== */

struct counting {
    long n_calls; /* allocations attempted */
    long fail_at; /* index of the allocation to fail; -1: none */
    int failed;   /* 1 once the failure was injected */
    long live;    /* allocations not yet freed */
    long max_live;
};

static void *counting_alloc(void *ud, size_t n, size_t align)
{
    struct counting *c = ud;
    void *p = NULL;
    if (c->n_calls++ == c->fail_at) {
        c->failed = 1;
        return NULL;
    }
    if (align < sizeof(void *)) {
        align = sizeof(void *);
    }
    if (posix_memalign(&p, align, n ? n : 1) != 0) {
        return NULL;
    }
    c->live++;
    if (c->live > c->max_live) {
        c->max_live = c->live;
    }
    return p;
}

static void counting_free(void *ud, void *p)
{
    struct counting *c = ud;
    if (p != NULL) {
        c->live--;
        free(p);
    }
}

/* ==== The scenario ==== */

#define N_BATCH   6
#define N_IN      5
#define N_HIDDEN  7
#define N_CLASSES 3

enum variant { SGD_MOMENTUM, SGD_NESTEROV, ADAM, ADAMW, N_VARIANTS };

static const char *const variant_names[N_VARIANTS] = {"sgd+momentum", "sgd+nesterov", "adam",
                                                      "adamw"};

/* What a complete run reads back. */
struct result {
    float loss[2];
    float w1[N_HIDDEN * N_IN];
    float logits[N_BATCH * N_CLASSES];
};

static void fill_batch(float *x, int32_t *y)
{
    for (int i = 0; i < N_BATCH * N_IN; i++) {
        x[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
    }
    for (int i = 0; i < N_BATCH; i++) {
        y[i] = i % N_CLASSES;
    }
}

static void optim_options(enum variant v, struct kiln_optim_options *oo)
{
    struct kiln_optim_options d = KILN_OPTIM_OPTIONS_INIT;
    *oo = d;
    oo->lr = 0.05f;
    switch (v) {
    case SGD_MOMENTUM:
        oo->momentum = 0.9f;
        oo->dampening = 0.1f;
        oo->weight_decay = 1e-3f;
        break;
    case SGD_NESTEROV:
        oo->momentum = 0.8f;
        oo->nesterov = 1;
        break;
    case ADAM:
        oo->kind = KILN_OPTIM_ADAM;
        oo->weight_decay = 1e-3f;
        break;
    case ADAMW:
        oo->kind = KILN_OPTIM_ADAM;
        oo->weight_decay = 1e-2f;
        oo->decoupled = 1;
        break;
    default:
        break;
    }
}

/*
 * Builds, compiles and trains the model with allocator a. Returns the first non-OK
 * status of any call (builders are checked through kiln_graph_status at the points
 * where a model author would), or KILN_OK with *out filled. Always destroys everything.
 */
static kiln_status scenario(enum variant v, const struct kiln_allocator *a, struct result *out)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx = NULL;
    kiln_graph *g = NULL;
    kiln_optimizer *opt = NULL;
    struct kiln_optim_options oo;
    float x[N_BATCH * N_IN];
    int32_t y[N_BATCH];
    kiln_status s;

    o.backend = core_backend;
    o.check = 0;
    o.allocator = a;
    s = kiln_context_create(&o, &ctx);
    if (s != KILN_OK) {
        goto done;
    }
    s = kiln_graph_create(ctx, &g);
    if (s != KILN_OK) {
        goto done;
    }
    int64_t xd[2] = {N_BATCH, N_IN}, yd[1] = {N_BATCH}, w1d[2] = {N_HIDDEN, N_IN},
            b1d[1] = {N_HIDDEN}, w2d[2] = {N_CLASSES, N_HIDDEN}, b2d[1] = {N_CLASSES};
    kiln_tensor *tx = kiln_input(g, "x", KILN_DTYPE_F32, 2, xd);
    kiln_tensor *ty = kiln_input(g, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *w1 = kiln_param(g, "fc1.weight", 2, w1d, KILN_INIT_HE_UNIFORM, 0.0f, 7);
    kiln_tensor *b1 = kiln_param(g, "fc1.bias", 1, b1d, KILN_INIT_FAN_IN_UNIFORM, 0.0f, 7);
    kiln_tensor *w2 = kiln_param(g, "fc2.weight", 2, w2d, KILN_INIT_XAVIER_NORMAL, 0.0f, 7);
    kiln_tensor *b2 = kiln_param(g, "fc2.bias", 1, b2d, KILN_INIT_ZEROS, 0.0f, 7);
    kiln_tensor *h = kiln_relu(g, kiln_add(g, kiln_matmul(g, tx, w1, 0, 1), b1));
    kiln_tensor *logits = kiln_tensor_keep(kiln_add(g, kiln_matmul(g, h, w2, 0, 1), b2));
    kiln_tensor *loss = kiln_tensor_keep(kiln_softmax_xent(g, logits, ty));
    s = kiln_graph_status(g);
    if (s != KILN_OK) {
        goto done;
    }
    optim_options(v, &oo);
    s = kiln_graph_backward(g, loss);
    if (s != KILN_OK) {
        goto done;
    }
    s = kiln_graph_compile(g);
    if (s != KILN_OK) {
        goto done;
    }
    s = kiln_optimizer_create(kiln_graph_store(g), &oo, &opt);
    if (s != KILN_OK) {
        goto done;
    }
    fill_batch(x, y);
    s = kiln_tensor_upload(tx, x, sizeof(x));
    if (s == KILN_OK) {
        s = kiln_tensor_upload(ty, y, sizeof(y));
    }
    for (int step = 0; step < 2 && s == KILN_OK; step++) {
        s = kiln_train_step(g, opt);
        if (s == KILN_OK) {
            s = kiln_tensor_download(loss, &out->loss[step], sizeof(float));
        }
    }
    if (s == KILN_OK) {
        s = kiln_tensor_download(w1, out->w1, sizeof(out->w1));
    }
    if (s == KILN_OK) {
        s = kiln_graph_eval(g, 1, &logits);
    }
    if (s == KILN_OK) {
        s = kiln_tensor_download(logits, out->logits, sizeof(out->logits));
    }
    if (s == KILN_OK) {
        s = kiln_graph_reset_params(g);
    }

done:
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    return s;
}

START_TEST(test_every_allocation_can_fail)
{
    enum variant v = (enum variant)_i;
    struct result clean, got;
    struct counting c = {0, -1, 0, 0, 0};
    struct kiln_allocator a = {counting_alloc, counting_free, &c};

    /* A run without failures gives the reference numbers and the allocation count. The
     * first run may write the on-disk caches of compiled programs and pipelines that
     * every later run reads (allocating for it), so the count comes from a second run. */
    EXPECT_OK(scenario(v, &a, &clean));
    c.n_calls = 0;
    EXPECT_OK(scenario(v, &a, &clean));
    ck_assert_int_eq(c.live, 0);
    long n_total = c.n_calls;
    ck_assert_int_gt(n_total, 10);

    long i;
    for (i = 0; i <= n_total; i++) {
        struct counting ci = {0, i, 0, 0, 0};
        a.ud = &ci;
        kiln_clear_error();
        kiln_status s = scenario(v, &a, &got);
        ck_assert_msg(ci.live == 0, "%s, failing allocation %ld: %ld allocations leaked (%s)",
                      variant_names[v], i, ci.live, kiln_last_error());
        if (!ci.failed) {
            /* Past the last allocation: the run must succeed and match the clean run. */
            ck_assert_msg(s == KILN_OK, "%s: run without a failure returned %s: %s",
                          variant_names[v], kiln_status_name(s), kiln_last_error());
            ck_assert_mem_eq(&got, &clean, sizeof(got));
            break;
        }
        ck_assert_msg(s == KILN_E_OUT_OF_HOST_MEMORY,
                      "%s, failing allocation %ld of %ld: got %s (%s), expected "
                      "KILN_E_OUT_OF_HOST_MEMORY",
                      variant_names[v], i, n_total, kiln_status_name(s), kiln_last_error());
        ck_assert_msg(strstr(kiln_last_error(), "out of host memory") != NULL,
                      "%s, failing allocation %ld: message '%s'", variant_names[v], i,
                      kiln_last_error());
    }
    ck_assert_int_eq(i, n_total);
}
END_TEST

START_TEST(test_allocator_sees_every_free)
{
    /* The hook is used for everything: with it, nothing goes through malloc unseen,
     * so a graph's destruction returns exactly what it took. */
    struct counting c = {0, -1, 0, 0, 0};
    struct kiln_allocator a = {counting_alloc, counting_free, &c};
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx = NULL;
    kiln_graph *g = NULL;
    o.backend = core_backend;
    o.allocator = &a;
    EXPECT_OK(kiln_context_create(&o, &ctx));
    long after_ctx = c.live;
    ck_assert_int_ge(after_ctx, 1);
    EXPECT_OK(kiln_graph_create(ctx, &g));
    int64_t d[2] = {3, 4};
    kiln_tensor *w = kiln_param(g, "w", 2, d, KILN_INIT_NORMAL, 1.0f, 1);
    kiln_tensor_keep(kiln_sum(g, kiln_relu(g, w), 3u, 0));
    EXPECT_OK(kiln_graph_compile(g));
    EXPECT_OK(kiln_graph_run(g));
    ck_assert_int_gt(c.live, after_ctx);
    kiln_graph_destroy(g);
    ck_assert_int_eq(c.live, after_ctx);
    kiln_context_destroy(ctx);
    ck_assert_int_eq(c.live, 0);
}
END_TEST

START_TEST(test_failed_compile_can_be_retried)
{
    /* A compile that ran out of memory leaves the graph uncompiled and intact: once
     * memory is back, compiling again works and gives the same parameters. */
    struct counting c = {0, -1, 0, 0, 0};
    struct kiln_allocator a = {counting_alloc, counting_free, &c};
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx = NULL;
    kiln_graph *g = NULL;
    o.backend = core_backend;
    o.allocator = &a;
    EXPECT_OK(kiln_context_create(&o, &ctx));
    EXPECT_OK(kiln_graph_create(ctx, &g));
    int64_t d[2] = {3, 4};
    kiln_tensor *w = kiln_param(g, "w", 2, d, KILN_INIT_UNIFORM, 0.5f, 1);
    kiln_tensor_keep(kiln_sum(g, kiln_tanh(g, w), 3u, 0));
    EXPECT_OK(kiln_graph_status(g));
    int failures = 0;
    for (long k = 0; k < 1000; k++) {
        /* Fail the k-th allocation of this compile. */
        c.fail_at = c.n_calls + k;
        c.failed = 0;
        kiln_status s = kiln_graph_compile(g);
        if (!c.failed) {
            EXPECT_OK(s);
            break;
        }
        ck_assert_msg(s == KILN_E_OUT_OF_HOST_MEMORY, "compile, failing allocation %ld: %s (%s)", k,
                      kiln_status_name(s), kiln_last_error());
        failures++;
    }
    ck_assert_int_ge(failures, 1);
    c.fail_at = -1;
    EXPECT_FAIL(kiln_graph_compile(g), KILN_E_STATE, "already compiled");
    float v[12];
    EXPECT_OK(kiln_tensor_download(w, v, sizeof(v)));
    for (int i = 0; i < 12; i++) {
        ck_assert(v[i] >= -0.5f && v[i] < 0.5f);
    }
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    ck_assert_int_eq(c.live, 0);
}
END_TEST

static Suite *fault_suite(void)
{
    Suite *s = suite_create("fault");
    TCase *tc = tcase_create("oom");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_every_allocation_can_fail, 0, N_VARIANTS);
    tcase_add_test(tc, test_allocator_sees_every_free);
    tcase_add_test(tc, test_failed_compile_can_be_retried);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    int skip = core_parse_args(argc, argv);
    return skip ? skip : core_run_suite(fault_suite());
}
