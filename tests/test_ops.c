/*
 * test_ops.c - every op case of tests/ops/ on one backend against the CPU reference:
 * `test_ops cpu|opencl|vulkan`. The reference side is the CPU backend's "cpu-reference"
 * device, which runs every op's reference kernel, so on the cpu backend (device "cpu",
 * or KILN_DEVICE) the cases check its fast kernels against the references. Exits 77
 * (a meson SKIP) when the backend is not compiled in or has no device. One TCase per op family
 * loops over its table; GPU backends run without fork (driver state must not cross a fork) on one
 * context per process. On the cpu backend it also runs the double-precision checks (ref64.c), the
 * out-of-memory sweep and the op coverage check. Exit status: 0 all passed, 1 a failure, 77 the
 * backend is absent or (with no failure) some cases need kernels it lacks; those are listed as
 * UNSUPPORTED lines. Under KILN_VK_VALIDATION the vulkan run also fails on any
 * validation message. On vulkan it records the shaders each case dispatched; after the
 * whole matrix it fails unless the gpuav subset (KILN_TEST_SUBSET=gpuav, the rows run
 * under GPU-assisted validation) dispatches every one of them (check_pipelines).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "op_harness.h"
#include "ref64.h"

static struct oh_env env;

#ifdef KILN_HAVE_VULKAN
/* src/backend/vulkan/vk_device.c: validation messages the backend received. */
uint32_t kiln__vk_validation_count(const struct kiln_backend *be);
/* src/backend/vulkan/vk_exec.c: workgroups dispatched per shader since the last call. */
uint32_t kiln__vk_take_dispatched(struct kiln_backend *be, uint64_t *n_groups, uint32_t cap);
const char *kiln__vk_shader_name(uint32_t i);
#endif

/* Guard band after every tensor: larger than any workgroup's overrun of a few lanes. */
#define GUARD_BYTES 256

/* KILN_TEST_OP=<op name> runs only that op's rows (a kernel under development);
 * KILN_TEST_SUBSET=<name> only the rows of that subset (oh_in_subset). */
static bool case_selected(const struct oh_case *c)
{
    const char *only = getenv("KILN_TEST_OP");
    const char *subset = getenv("KILN_TEST_SUBSET");
    if (subset != NULL && subset[0] != '\0' && !oh_in_subset(c, subset)) {
        return false;
    }
    return only == NULL || only[0] == '\0' || strcmp(only, kiln__op_name(c->op)) == 0;
}

static const struct oh_case *flat_case(int idx);
static int n_all_cases(void);

/* ---- Pipeline coverage (Vulkan) ---- */

/* Shaders at most (the Vulkan backend has fewer; more fails the coverage check). */
#define MAX_SHADERS 512

/* Per case of the matrix: the workgroups of each Vulkan shader's largest dispatch for it
 * (NULL on the other backends); the shaders the backend has; the cases run. */
static uint64_t (*case_groups)[MAX_SHADERS];
static double *case_ms; /* and the process CPU time the case took in ms (every thread) */
static uint32_t n_shaders;
static int n_cases_run;

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Records what case i dispatched since the last call (the Vulkan backend only). */
static void record_dispatched(int i)
{
#ifdef KILN_HAVE_VULKAN
    uint64_t scratch[MAX_SHADERS];
    if (case_groups != NULL) {
        n_shaders =
            kiln__vk_take_dispatched(&env.be->be, i >= 0 ? case_groups[i] : scratch, MAX_SHADERS);
    }
#else
    (void)i;
#endif
}

/* Case _i of all families in order; each family's TCase loops over its own range. */
START_TEST(test_case)
{
    char msg[2048];
    const struct oh_case *c = flat_case(_i);
    if (!case_selected(c)) {
        return;
    }
    record_dispatched(-1); /* drops what ran outside any case */
    double t0 = cpu_ms();
    bool ok = oh_run_case(&env, c, msg, sizeof(msg));
    record_dispatched(_i);
    if (case_ms != NULL) {
        case_ms[_i] = cpu_ms() - t0;
    }
    n_cases_run++;
    ck_assert_msg(ok, "case %d: %s", _i, msg);
}
END_TEST

static const struct oh_case *flat_case(int idx)
{
    for (int f = 0; oh_families[f] != NULL; f++) {
        if (idx < oh_families[f]->n_cases) {
            return &oh_families[f]->cases[idx];
        }
        idx -= oh_families[f]->n_cases;
    }
    return NULL;
}

static int n_all_cases(void)
{
    int n = 0;
    for (int f = 0; oh_families[f] != NULL; f++) {
        n += oh_families[f]->n_cases;
    }
    return n;
}

#ifdef KILN_HAVE_VULKAN
/* Shader s over the cases run: the first case that dispatched it, the first that did
 * with more than one workgroup, and whether the gpuav subset has such cases. */
struct shader_use {
    int first, first_multi;
    bool sub, sub_multi;
};

static struct shader_use shader_use(uint32_t s)
{
    struct shader_use u = {-1, -1, false, false};
    for (int i = 0; i < n_all_cases(); i++) {
        uint64_t g = case_groups[i][s];
        bool in_sub = oh_in_subset(flat_case(i), "gpuav");
        u.first = g > 0 && u.first < 0 ? i : u.first;
        u.first_multi = g > 1 && u.first_multi < 0 ? i : u.first_multi;
        u.sub = u.sub || (g > 0 && in_sub);
        u.sub_multi = u.sub_multi || (g > 1 && in_sub);
    }
    return u;
}

/*
 * Counts the shaders the cases run dispatched (KILN_TEST_PIPELINES=1 lists them with
 * the first case of each). After the whole matrix, also checks the gpuav subset
 * (oh_in_subset, run under GPU-assisted validation): it must dispatch every one of
 * them, and with more than one workgroup (interior and edge tiles) wherever some case
 * does. Returns the number of failures (0 or 1).
 */
static int check_pipelines(void)
{
    const char *subset = getenv("KILN_TEST_SUBSET"), *only = getenv("KILN_TEST_OP");
    bool whole = n_cases_run == n_all_cases() && (subset == NULL || subset[0] == '\0') &&
                 (only == NULL || only[0] == '\0');
    bool list = getenv("KILN_TEST_PIPELINES") != NULL;
    int n_reached = 0, n_sub = 0, n_sub_cases = 0, bad = 0;
    for (int i = 0; i < n_all_cases(); i++) {
        const struct oh_case *c = flat_case(i);
        n_sub_cases += oh_in_subset(c, "gpuav");
        for (uint32_t s = 0; list && s < n_shaders && s < MAX_SHADERS; s++) {
            if (case_groups[i][s] > 0) {
                printf("case %d (%s [%s], %.0f ms): %s x %llu\n", i, kiln__op_name(c->op),
                       c->note ? c->note : "", case_ms[i], kiln__vk_shader_name(s),
                       (unsigned long long)case_groups[i][s]);
            }
        }
    }
    for (uint32_t s = 0; s < n_shaders && s < MAX_SHADERS; s++) {
        struct shader_use u = shader_use(s);
        if (u.first < 0) {
            continue;
        }
        n_reached++;
        n_sub += u.sub;
        const struct oh_case *c = flat_case(u.first);
        if (list) {
            printf("shader %s: first case %d (%s [%s]), more than one workgroup %s\n",
                   kiln__vk_shader_name(s), u.first, kiln__op_name(c->op), c->note ? c->note : "",
                   u.first_multi >= 0 ? "in some case" : "in none");
        }
        if (whole && (!u.sub || (u.first_multi >= 0 && !u.sub_multi))) {
            c = flat_case(u.sub ? u.first_multi : u.first);
            printf("FAIL: the gpuav subset (tests/op_harness.c) runs shader %s %s; case %d "
                   "does: op %s [%s]\n",
                   kiln__vk_shader_name(s), u.sub ? "on one workgroup only" : "nowhere",
                   u.sub ? u.first_multi : u.first, kiln__op_name(c->op), c->note ? c->note : "");
            bad = 1;
        }
    }
    printf("pipelines: %d of %u shaders dispatched by %d case(s)", n_reached, n_shaders,
           n_cases_run);
    if (whole) {
        printf("; the gpuav subset's %d case(s) dispatch %d of them", n_sub_cases, n_sub);
    }
    printf("\n");
    if (n_shaders > MAX_SHADERS) {
        printf("FAIL: the Vulkan backend has %u shaders, MAX_SHADERS in %s is %d\n", n_shaders,
               __FILE__, MAX_SHADERS);
        bad = 1;
    }
    return bad;
}
#endif

/* ---- Double-precision checks of the CPU backend (ref64.c) ---- */

START_TEST(test_double_forward)
{
    char msg[2048];
    bool ok = r64_check_forward(env.cpu, flat_case(_i), msg, sizeof(msg));
    ck_assert_msg(ok, "case %d: %s", _i, msg);
}
END_TEST

START_TEST(test_double_gradient)
{
    char msg[2048];
    bool ok = r64_check_gradient(env.cpu, flat_case(_i), msg, sizeof(msg));
    ck_assert_msg(ok, "case %d: %s", _i, msg);
}
END_TEST

/* ---- Coverage: every op of op_list.h appears in some case graph ---- */

START_TEST(test_coverage)
{
    memset(oh_ops_seen, 0, sizeof(oh_ops_seen));
    for (int i = 0; i < n_all_cases(); i++) {
        kiln_graph *g;
        kiln_tensor *in[OH_MAX_IN], *y, *w;
        ck_assert_int_eq(kiln_graph_create(env.cpu, &g), KILN_OK);
        kiln_status s = oh_build(g, flat_case(i), in, &y, &w);
        ck_assert_msg(s == KILN_OK, "case %d (%s): %s", i, kiln__op_name(flat_case(i)->op),
                      kiln_last_error());
        s = kiln_graph_compile(g);
        ck_assert_msg(s == KILN_OK, "case %d: %s", i, kiln_last_error());
        kiln_graph_destroy(g);
    }
    char missing[1024] = "";
    size_t len = 0;
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        if (!oh_ops_seen[op] && len < sizeof(missing)) {
            len += (size_t)snprintf(missing + len, sizeof(missing) - len, " %s", kiln__op_name(op));
        }
    }
    ck_assert_msg(len == 0, "ops that no case executes:%s", missing);
    /* And every op has a row of its own (the _BWD kernels are also fed directly). */
    unsigned char has_row[KILN_OP_COUNT] = {0};
    for (int i = 0; i < n_all_cases(); i++) {
        has_row[flat_case(i)->op] = 1;
    }
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        if (!has_row[op] && len < sizeof(missing)) {
            len += (size_t)snprintf(missing + len, sizeof(missing) - len, " %s", kiln__op_name(op));
        }
    }
    ck_assert_msg(len == 0, "ops without a case row in tests/ops/:%s", missing);
}
END_TEST

/* ---- Guard bands: a write just past a tensor is caught and named ---- */

/* Runs a two-node graph with guards, checks they hold, then writes one float just past
 * an intermediate (what a kernel without a bounds check in its last workgroup does)
 * and checks that the guard check names it. Cleans up before returning, so that a
 * failure in a no-fork run leaves no graph behind. */
static bool guard_roundtrip(char *msg, size_t n)
{
    kiln_graph *g = NULL;
    int64_t d[1] = {7};
    float xs[7] = {0, 1, 2, 3, 4, 5, 6}, zs[7], junk = 1.0f;
    bool ok = false;
    size_t off;
    if (kiln_graph_create(env.be, &g) != KILN_OK) {
        snprintf(msg, n, "kiln_graph_create: %s", kiln_last_error());
        return false;
    }
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 1, d);
    kiln_tensor *y = kiln_exp(g, x);
    kiln_tensor *z = kiln_tensor_keep(kiln_relu(g, y));
    if (kiln__graph_set_guard(g, GUARD_BYTES) != KILN_OK || kiln_graph_compile(g) != KILN_OK ||
        kiln_tensor_upload(x, xs, sizeof(xs)) != KILN_OK || kiln_graph_run(g) != KILN_OK ||
        kiln_tensor_download(z, zs, sizeof(zs)) != KILN_OK) {
        snprintf(msg, n, "running the graph: %s", kiln_last_error());
        goto done;
    }
    if (kiln__graph_check_guards(g) != KILN_OK) {
        snprintf(msg, n, "guards broken by a correct run: %s", kiln_last_error());
        goto done;
    }
    struct kiln_backend *be = &g->ctx->be;
    struct kiln_buffer *buf = kiln__tensor_buffer(y, &off);
    if (be->ops->upload(be, buf, off + 7 * sizeof(float), &junk, sizeof(junk)) != KILN_OK) {
        snprintf(msg, n, "writing past y: %s", kiln_last_error());
        goto done;
    }
    if (kiln__graph_check_guards(g) != KILN_E_CHECK) {
        snprintf(msg, n, "a write just past '%s' was not caught", y->name);
        goto done;
    }
    if (strstr(kiln_last_error(), y->name) == NULL ||
        strstr(kiln_last_error(), "0 bytes past its end") == NULL) {
        snprintf(msg, n, "the guard check does not name '%s' at offset 0: %s", y->name,
                 kiln_last_error());
        goto done;
    }
    ok = true;
done:
    kiln_graph_destroy(g);
    return ok;
}

START_TEST(test_guard_detects_overrun)
{
    char msg[1024];
    bool ok = guard_roundtrip(msg, sizeof(msg));
    ck_assert_msg(ok, "%s on %s", msg, env.backend);
}
END_TEST

/* ---- Out of host memory: fail allocation i for every i (cpu only) ---- */

struct fault_alloc {
    long calls, fail_at, live;
    int failed;
};

static void *fa_alloc(void *ud, size_t n, size_t align)
{
    struct fault_alloc *f = ud;
    void *p = NULL;
    if (f->calls++ == f->fail_at) {
        f->failed = 1;
        return NULL;
    }
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n ? n : 1) != 0) {
        return NULL;
    }
    f->live++;
    return p;
}

static void fa_free(void *ud, void *p)
{
    struct fault_alloc *f = ud;
    if (p != NULL) {
        f->live--;
        free(p);
    }
}

/* Builds, differentiates, compiles and runs case c once on ctx; the first error. */
static kiln_status run_once(kiln_context *ctx, const struct oh_case *c)
{
    kiln_graph *g;
    kiln_tensor *in[OH_MAX_IN], *y, *w;
    KILN_TRY(kiln_graph_create(ctx, &g));
    kiln_status s = oh_build(g, c, in, &y, &w);
    if (s == KILN_OK) {
        s = kiln__graph_set_guard(g, 64);
    }
    if (s == KILN_OK) {
        s = kiln_graph_compile(g);
    }
    for (int i = 0; s == KILN_OK && i < oh_n_in(c); i++) {
        size_t nb = kiln_tensor_n_bytes(in[i]);
        void *d = malloc(nb ? nb : 4);
        oh_fill_input(c, i, 0, d);
        s = kiln_tensor_upload(in[i], d, nb);
        free(d);
    }
    if (s == KILN_OK) {
        s = kiln_graph_run(g);
    }
    if (s == KILN_OK) {
        s = kiln__graph_check_guards(g);
    }
    kiln_graph_destroy(g);
    return s;
}

START_TEST(test_oom)
{
    struct fault_alloc fa = {0, -1, 0, 0};
    struct kiln_allocator al = {fa_alloc, fa_free, &fa};
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx;
    o.backend = "cpu";
    o.check = 0;
    o.allocator = &al;
    ck_assert_int_eq(kiln_context_create(&o, &ctx), KILN_OK);
    const struct oh_case *c = flat_case(_i);
    long base = fa.live;
    for (long k = 0;; k++) {
        fa.calls = 0;
        fa.fail_at = k;
        fa.failed = 0;
        kiln_status s = run_once(ctx, c);
        ck_assert_msg(fa.live == base, "%s: failing allocation %ld leaks %ld blocks",
                      kiln__op_name(c->op), k, fa.live - base);
        if (!fa.failed) {
            ck_assert_msg(s == KILN_OK, "%s: %s", kiln__op_name(c->op), kiln_last_error());
            break;
        }
        ck_assert_msg(s == KILN_E_OUT_OF_HOST_MEMORY,
                      "%s: failing allocation %ld gave %s (%s), not KILN_E_OUT_OF_HOST_MEMORY",
                      kiln__op_name(c->op), k, kiln_status_name(s), kiln_last_error());
    }
    kiln_context_destroy(ctx);
}
END_TEST

static void add_loop(Suite *s, const char *name, const TTest *fn, int start, int end, int fork)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, fork ? 60 : 0);
    tcase_add_loop_test(tc, fn, start, end);
    suite_add_tcase(s, tc);
}

/* One TCase per family; on the cpu backend also the double-precision checks, the
 * out-of-memory sweep and the coverage check. */
static Suite *ops_suite(int is_cpu)
{
    static char sname[64];
    snprintf(sname, sizeof(sname), "ops-%s", env.backend);
    Suite *s = suite_create(sname);
    int start = 0;
    for (int f = 0; oh_families[f] != NULL; f++) {
        add_loop(s, oh_families[f]->name, test_case, start, start + oh_families[f]->n_cases,
                 is_cpu);
        start += oh_families[f]->n_cases;
    }
    add_loop(s, "guard", test_guard_detects_overrun, 0, 1, is_cpu);
    if (is_cpu) {
        add_loop(s, "double_forward", test_double_forward, 0, n_all_cases(), is_cpu);
        add_loop(s, "double_gradient", test_double_gradient, 0, n_all_cases(), is_cpu);
        add_loop(s, "oom", test_oom, 0, n_all_cases(), is_cpu);
        add_loop(s, "coverage", test_coverage, 0, 1, is_cpu);
    }
    return s;
}

int main(int argc, char **argv)
{
    const char *backend = argc > 1 ? argv[1] : "cpu";
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = backend;
    o.check = 0;
    kiln_status st = kiln_context_create(&o, &env.be);
    if (st == KILN_E_BACKEND_UNAVAILABLE || st == KILN_E_INVALID_ARG) {
        printf("SKIP: backend '%s' is not usable here: %s\n", backend, kiln_last_error());
        return 77;
    }
    if (st != KILN_OK) {
        fprintf(stderr, "kiln_context_create(%s): %s\n", backend, kiln_last_error());
        return 1;
    }
    o.backend = "cpu";
    o.device = "cpu-reference";
    if (kiln_context_create(&o, &env.cpu) != KILN_OK) {
        fprintf(stderr, "kiln_context_create(cpu-reference): %s\n", kiln_last_error());
        return 1;
    }
    env.backend = kiln_context_backend(env.be);
    env.guard_bytes = GUARD_BYTES;
    printf("ops on backend '%s', device '%s', against '%s'\n", env.backend,
           kiln_context_device(env.be), kiln_context_device(env.cpu));
    int is_cpu = strcmp(env.backend, "cpu") == 0;
    if (strcmp(env.backend, "vulkan") == 0) {
        case_groups = calloc((size_t)n_all_cases(), sizeof(*case_groups));
        case_ms = calloc((size_t)n_all_cases(), sizeof(*case_ms));
        if (case_groups == NULL || case_ms == NULL) {
            fprintf(stderr, "out of host memory\n");
            return 1;
        }
    }
    SRunner *sr = srunner_create(ops_suite(is_cpu));
    if (!is_cpu) {
        srunner_set_fork_status(sr, CK_NOFORK); /* GPU driver state must not cross a fork */
    }
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
#ifdef KILN_HAVE_VULKAN
    uint32_t n_val =
        strcmp(env.backend, "vulkan") == 0 ? kiln__vk_validation_count(&env.be->be) : 0;
    if (n_val > 0) {
        printf("FAIL: %u Vulkan validation message(s); run with KILN_LOG=warn to see them\n",
               n_val);
        nf++;
    }
    if (case_groups != NULL) {
        nf += check_pipelines();
    }
#endif
    free(case_groups);
    free(case_ms);
    kiln_context_destroy(env.be);
    kiln_context_destroy(env.cpu);
    if (nf == 0 && oh_n_unsupported > 0) {
        /* Every case that ran agreed, but some ops have no kernel yet: a visible gap. */
        printf("SKIP: %d case(s) need kernels that backend '%s' lacks (lines UNSUPPORTED "
               "above)\n",
               oh_n_unsupported, backend);
        return 77;
    }
    return nf == 0 ? 0 : 1;
}
