/*
 * test_device_fault.c - device faults on the backend named by the first argument
 * (default cpu): device memory running out at compile and in the middle of training
 * (KILN_MAX_DEVICE_MEMORY, the pools' limit), every device buffer allocation failing in
 * turn (KILN_TEST_FAULT=oom:N) and, on the GPU backends, the device lost at every
 * submission in turn (KILN_TEST_FAULT=lost:N, which the backends turn into the
 * VK_ERROR_DEVICE_LOST or CL_OUT_OF_RESOURCES of a real driver). Each fault must come
 * back as KILN_E_OUT_OF_DEVICE_MEMORY or KILN_E_DEVICE_LOST with a message naming it,
 * a lost device must stay lost, everything must be destroyable with every host
 * allocation returned and nothing left in the device pools but the backend's own
 * buffers, and a checkpoint written before the fault must stay as it was: a save that
 * meets the fault writes nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core_util.h"

/* ==== A counting host allocator ==== */

struct counting {
    long live;
};

static void *counting_alloc(void *ud, size_t n, size_t align)
{
    struct counting *c = ud;
    void *p = NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n ? n : 1) != 0) {
        return NULL;
    }
    c->live++;
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
#define N_EVAL    11
#define N_IN      24
#define N_HIDDEN  64
#define N_CLASSES 5

static char ckpt[512];

/* What a run reads back, and how far it got. */
struct result {
    float loss[3];
    float w1[N_HIDDEN * N_IN];
    float eval_logits[N_EVAL * N_CLASSES];
    int stage;                             /* the last stage that completed (see scenario) */
    uint64_t in_use_compiled;              /* device bytes in use after the first compile */
    uint64_t in_use_after, reserved_after; /* after every graph was destroyed */
    char msg[512];                         /* the message of the failure */
    unsigned char *first;                  /* the first checkpoint's bytes (malloc'd) */
    size_t n_first;
};

/* The bytes of the file at path (NULL when absent); *n its size. */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* A two-layer perceptron over store s at batch n (training: with its loss). */
static kiln_status build(kiln_store *s, int64_t n, int training, kiln_graph **g, kiln_tensor **x,
                         kiln_tensor **y, kiln_tensor **out)
{
    kiln_status st = kiln_graph_create_in(s, g);
    if (st != KILN_OK) {
        return st;
    }
    int64_t xd[2] = {n, N_IN}, yd[1] = {n}, w1d[2] = {N_HIDDEN, N_IN}, b1d[1] = {N_HIDDEN},
            w2d[2] = {N_CLASSES, N_HIDDEN}, b2d[1] = {N_CLASSES};
    kiln_graph *gr = *g;
    *x = kiln_input(gr, "x", KILN_DTYPE_F32, 2, xd);
    kiln_tensor *w1 = kiln_param(gr, "fc1.weight", 2, w1d, KILN_INIT_HE_UNIFORM, 0.0f, 7);
    kiln_tensor *b1 = kiln_param(gr, "fc1.bias", 1, b1d, KILN_INIT_FAN_IN_UNIFORM, 0.0f, 7);
    kiln_tensor *w2 = kiln_param(gr, "fc2.weight", 2, w2d, KILN_INIT_XAVIER_NORMAL, 0.0f, 7);
    kiln_tensor *b2 = kiln_param(gr, "fc2.bias", 1, b2d, KILN_INIT_ZEROS, 0.0f, 7);
    kiln_tensor *h = kiln_relu(gr, kiln_add(gr, kiln_matmul(gr, *x, w1, 0, 1), b1));
    kiln_tensor *logits = kiln_add(gr, kiln_matmul(gr, h, w2, 0, 1), b2);
    if (training) {
        *y = kiln_input(gr, "y", KILN_DTYPE_I32, 1, yd);
        *out = kiln_tensor_keep(kiln_softmax_xent(gr, logits, *y));
        st = kiln_graph_backward(gr, *out);
    } else {
        *out = kiln_tensor_keep(logits);
        st = kiln_graph_status(gr);
    }
    return st == KILN_OK ? kiln_graph_compile(gr) : st;
}

static void fill(float *x, int64_t n, int32_t *y)
{
    for (int64_t i = 0; i < n * N_IN; i++) {
        x[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
    }
    for (int64_t i = 0; y != NULL && i < n; i++) {
        y[i] = (int32_t)(i % N_CLASSES);
    }
}

/* After a failure first: every later call fails the same way (a lost device stays
 * lost), and a save writes nothing. */
static void check_sticky(kiln_status first, kiln_graph *g, kiln_store *st, kiln_tensor *x,
                         kiln_tensor *loss)
{
    float v[N_BATCH * N_IN] = {0};
    ck_assert_int_eq(kiln_graph_run(g), first);
    ck_assert_int_eq(kiln_tensor_download(loss, v, sizeof(float)), first);
    ck_assert_int_eq(kiln_tensor_upload(x, v, sizeof(v)), first);
    ck_assert_int_eq(kiln_store_save(st, ckpt, 1), first);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "lost"));
}

/*
 * Stages: 1 the training graph compiled, 2 two Adam steps (the optimizer's state and
 * update graph are made at the first), 3 a checkpoint (its bytes kept in r->first),
 * 4 an evaluation graph of another batch size over the same store (compiled in the
 * middle of training) run once, 5 a third step, 6 a second checkpoint over the first.
 * Returns the first failing status (its message in r->msg) after destroying
 * everything; r->stage says how far it got. With sticky, the calls after a failure
 * must fail the same way.
 */
static kiln_status scenario(const struct kiln_allocator *a, struct result *r, int sticky)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx = NULL;
    kiln_store *st = NULL;
    kiln_graph *g = NULL, *eg = NULL;
    kiln_optimizer *opt = NULL;
    kiln_tensor *x = NULL, *y = NULL, *loss = NULL, *ex = NULL, *ey = NULL, *elogits = NULL;
    float xs[N_EVAL * N_IN];
    int32_t ys[N_BATCH];
    memset(r, 0, sizeof(*r));
    remove(ckpt);
    o.backend = core_backend;
    o.check = 0;
    o.allocator = a;
    kiln_status s = kiln_context_create(&o, &ctx);
    s = s == KILN_OK ? kiln_store_create(ctx, &st) : s;
    s = s == KILN_OK ? build(st, N_BATCH, 1, &g, &x, &y, &loss) : s;
    if (s == KILN_OK) {
        struct kiln_memory_stats m;
        kiln_context_memory(ctx, &m);
        r->in_use_compiled = m.in_use;
        r->stage = 1;
        struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
        oo.kind = KILN_OPTIM_ADAM;
        oo.lr = 0.01f;
        s = kiln_optimizer_create(st, &oo, &opt);
    }
    fill(xs, N_BATCH, ys);
    s = s == KILN_OK ? kiln_tensor_upload(x, xs, sizeof(float) * N_BATCH * N_IN) : s;
    s = s == KILN_OK ? kiln_tensor_upload(y, ys, sizeof(ys)) : s;
    for (int k = 0; k < 2 && s == KILN_OK; k++) {
        s = kiln_train_step(g, opt);
        s = s == KILN_OK ? kiln_tensor_download(loss, &r->loss[k], sizeof(float)) : s;
    }
    r->stage = s == KILN_OK ? 2 : r->stage;
    s = s == KILN_OK ? kiln_store_save(st, ckpt, 1) : s;
    if (s == KILN_OK) {
        r->first = slurp(ckpt, &r->n_first);
        r->stage = 3;
    }
    s = s == KILN_OK ? build(st, N_EVAL, 0, &eg, &ex, &ey, &elogits) : s;
    fill(xs, N_EVAL, NULL);
    s = s == KILN_OK ? kiln_tensor_upload(ex, xs, sizeof(xs)) : s;
    s = s == KILN_OK ? kiln_graph_run(eg) : s;
    s = s == KILN_OK ? kiln_tensor_download(elogits, r->eval_logits, sizeof(r->eval_logits)) : s;
    r->stage = s == KILN_OK ? 4 : r->stage;
    s = s == KILN_OK ? kiln_train_step(g, opt) : s;
    s = s == KILN_OK ? kiln_tensor_download(loss, &r->loss[2], sizeof(float)) : s;
    s = s == KILN_OK ? kiln_store_read(st, "fc1.weight", r->w1, sizeof(r->w1)) : s;
    r->stage = s == KILN_OK ? 5 : r->stage;
    s = s == KILN_OK ? kiln_store_save(st, ckpt, 1) : s;
    r->stage = s == KILN_OK ? 6 : r->stage;
    snprintf(r->msg, sizeof(r->msg), "%s", s != KILN_OK ? kiln_last_error() : "");
    if (s != KILN_OK && sticky && r->stage >= 1) {
        check_sticky(s, g, st, x, loss);
    }
    kiln_graph_destroy(eg);
    kiln_graph_destroy(g);
    kiln_store_destroy(st);
    if (ctx != NULL) {
        struct kiln_memory_stats m;
        kiln_context_memory(ctx, &m);
        r->in_use_after = m.in_use;
        r->reserved_after = m.reserved;
    }
    kiln_context_destroy(ctx);
    return s;
}

/* The reference run (no fault): its results, its first checkpoint (r.first) and its
 * last (last). */
struct reference {
    struct result r;
    unsigned char *last;
    size_t n_last;
};

static void reference(const struct kiln_allocator *a, struct reference *ref)
{
    unsetenv("KILN_TEST_FAULT");
    unsetenv("KILN_MAX_DEVICE_MEMORY");
    kiln_status s = scenario(a, &ref->r, 0);
    ck_assert_msg(s == KILN_OK, "the reference run failed: %s", ref->r.msg);
    ck_assert_int_eq(ref->r.stage, 6);
    ck_assert_uint_le(ref->r.in_use_after, ref->r.reserved_after);
    if (strcmp(core_backend, "cpu") == 0) { /* no buffers of its own */
        ck_assert(ref->r.in_use_after == 0 && ref->r.reserved_after == 0);
    }
    ck_assert_ptr_nonnull(ref->r.first);
    ref->last = slurp(ckpt, &ref->n_last);
    ck_assert_ptr_nonnull(ref->last);
    remove(ckpt);
}

static void reference_fini(struct reference *ref)
{
    free(ref->r.first);
    free(ref->last);
}

/* What a faulted run left: nothing before its first save succeeded, the reference's
 * first checkpoint after it, its last after the second: never a partial file, never a
 * temporary one. Then the run's host allocations are all returned and the device pools
 * are empty (but for a backend's own scratch, which is reserved whole). */
static void check_after(const struct result *r, const struct reference *ref,
                        const struct counting *c, const char *what)
{
    size_t n;
    unsigned char *b = slurp(ckpt, &n);
    if (r->stage < 3) {
        ck_assert_msg(b == NULL, "%s: a checkpoint appeared before any save succeeded", what);
    } else if (r->stage < 6) {
        ck_assert_msg(b != NULL && n == ref->r.n_first && memcmp(b, ref->r.first, n) == 0,
                      "%s (stage %d): the checkpoint written before the fault changed", what,
                      r->stage);
    } else {
        ck_assert_msg(b != NULL && n == ref->n_last && memcmp(b, ref->last, n) == 0,
                      "%s: the final checkpoint differs from the reference run's", what);
    }
    free(b);
    char tmp[700];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", ckpt, (int)getpid());
    ck_assert_msg(access(tmp, F_OK) != 0, "%s: a temporary file was left behind", what);
    ck_assert_msg(c->live == 0, "%s: %ld host allocations leaked", what, c->live);
    /* what a faulted run leaves in the pool is at most what the complete run leaves
     * (a backend's own staging ring and scratch) */
    ck_assert_msg(
        r->in_use_after <= ref->r.in_use_after && r->reserved_after <= ref->r.reserved_after,
        "%s: the pool keeps %llu bytes in use, %llu reserved after every graph was "
        "destroyed (a complete run: %llu, %llu)",
        what, (unsigned long long)r->in_use_after, (unsigned long long)r->reserved_after,
        (unsigned long long)ref->r.in_use_after, (unsigned long long)ref->r.reserved_after);
    remove(ckpt);
}

/* ==== Tests ==== */

/* The pools' counters: nothing before a compile, the compiled graphs' bytes after, all
 * of it back when the graphs are gone. */
START_TEST(test_counters)
{
    kiln_context *ctx = core_context();
    struct kiln_memory_stats m;
    kiln_context_memory(ctx, &m);
    ck_assert(m.in_use == 0 && m.reserved == 0 && m.limit == 0 && m.n_blocks == 0);
    kiln_store *st;
    kiln_graph *g;
    kiln_tensor *x, *y, *loss;
    EXPECT_OK(kiln_store_create(ctx, &st));
    EXPECT_OK(build(st, N_BATCH, 1, &g, &x, &y, &loss));
    kiln_context_memory(ctx, &m);
    /* at least the parameters and their gradients */
    uint64_t params = (N_HIDDEN * N_IN + N_HIDDEN + N_CLASSES * N_HIDDEN + N_CLASSES) * 4;
    ck_assert_uint_ge(m.in_use, 2 * params);
    ck_assert_uint_ge(m.reserved, m.in_use);
    ck_assert_uint_ge(m.peak_reserved, m.reserved);
    ck_assert_uint_ge(m.n_blocks, 1);
    uint64_t peak = m.peak_reserved;
    kiln_graph_destroy(g);
    kiln_store_destroy(st);
    kiln_context_memory(ctx, &m);
    /* what is left is the backend's own (staging ring, scratch): none on the cpu */
    ck_assert_uint_le(m.in_use, m.reserved);
    ck_assert_uint_le(m.in_use, UINT64_C(4) << 20);
    if (strcmp(core_backend, "cpu") == 0) {
        ck_assert(m.in_use == 0 && m.reserved == 0 && m.n_blocks == 0);
    }
    ck_assert_uint_eq(m.peak_reserved, peak);
    kiln_context_destroy(ctx);
}
END_TEST

/* KILN_MAX_DEVICE_MEMORY below what the training graph needs: the compile fails, naming
 * the limit. Just above it: the compile succeeds and the first step, which makes the
 * optimizer's state, runs out in the middle of training, leaving the parameters as
 * they were; the evaluation graph compiled later runs out likewise. */
START_TEST(test_limit)
{
    struct counting c = {0};
    struct kiln_allocator a = {counting_alloc, counting_free, &c};
    struct reference ref;
    struct result r;
    char v[64];
    reference(&a, &ref);

    setenv("KILN_MAX_DEVICE_MEMORY", "4K", 1);
    ck_assert_int_eq(scenario(&a, &r, 0), KILN_E_OUT_OF_DEVICE_MEMORY);
    ck_assert_int_eq(r.stage, 0);
    ck_assert_msg(strstr(r.msg, "KILN_MAX_DEVICE_MEMORY=4096") != NULL, "%s", r.msg);
    check_after(&r, &ref, &c, "4 KiB limit");

    /* The compiled graph's bytes and room for alignment, but not for Adam's state (two
     * floats per parameter, 15 KiB here). */
    snprintf(v, sizeof(v), "%llu", (unsigned long long)(ref.r.in_use_compiled + 4096));
    setenv("KILN_MAX_DEVICE_MEMORY", v, 1);
    ck_assert_int_eq(scenario(&a, &r, 0), KILN_E_OUT_OF_DEVICE_MEMORY);
    /* (with a staging ring, the ring's first upload already finds no room) */
    const char *staging = getenv("KILN_VK_FORCE_STAGING");
    ck_assert_int_eq(r.stage, staging != NULL && strcmp(staging, "1") == 0 ? 0 : 1);
    ck_assert_msg(strstr(r.msg, "KILN_MAX_DEVICE_MEMORY") != NULL, "%s", r.msg);
    check_after(&r, &ref, &c, "limit after the compile");

    /* With the limit found by halving between the two, every run either completes as
     * the reference does or fails cleanly at some stage. */
    uint64_t lo = ref.r.in_use_compiled, hi = 64 << 20;
    int stages_seen = 0;
    for (int k = 0; k < 12; k++) {
        uint64_t mid = lo + (hi - lo) / 2;
        snprintf(v, sizeof(v), "%llu", (unsigned long long)mid);
        setenv("KILN_MAX_DEVICE_MEMORY", v, 1);
        kiln_status s = scenario(&a, &r, 0);
        if (s == KILN_OK) {
            ck_assert_mem_eq(r.loss, ref.r.loss, sizeof(r.loss));
            ck_assert_mem_eq(r.w1, ref.r.w1, sizeof(r.w1));
            hi = mid;
        } else {
            ck_assert_msg(s == KILN_E_OUT_OF_DEVICE_MEMORY, "limit %s: %s", v, r.msg);
            stages_seen |= 1 << r.stage;
            lo = mid;
        }
        free(r.first);
        check_after(&r, &ref, &c, v);
    }
    ck_assert_msg(stages_seen != 0, "no limit between %llu and 64 MiB failed",
                  (unsigned long long)ref.r.in_use_compiled);
    reference_fini(&ref);
}
END_TEST

/* Every device buffer allocation fails in turn (KILN_TEST_FAULT=oom:N): at compile, at
 * the first step (the optimizer) and at the evaluation graph's compile. Each is
 * KILN_E_OUT_OF_DEVICE_MEMORY naming the hook, nothing leaks, and the earlier
 * checkpoint stays. */
START_TEST(test_every_buffer_can_fail)
{
    struct counting c = {0};
    struct kiln_allocator a = {counting_alloc, counting_free, &c};
    struct reference ref;
    struct result r;
    reference(&a, &ref);
    int n;
    for (n = 1; n < 200; n++) {
        char v[32];
        snprintf(v, sizeof(v), "oom:%d", n);
        setenv("KILN_TEST_FAULT", v, 1);
        kiln_status s = scenario(&a, &r, 0);
        if (s == KILN_OK) {
            ck_assert_mem_eq(r.loss, ref.r.loss, sizeof(r.loss));
            ck_assert_mem_eq(r.eval_logits, ref.r.eval_logits, sizeof(r.eval_logits));
            free(r.first);
            check_after(&r, &ref, &c, v);
            break;
        }
        ck_assert_msg(s == KILN_E_OUT_OF_DEVICE_MEMORY, "%s: %s", v, r.msg);
        ck_assert_msg(strstr(r.msg, "KILN_TEST_FAULT") != NULL, "%s: %s", v, r.msg);
        free(r.first);
        check_after(&r, &ref, &c, v);
    }
    /* the store's segments, the graphs' arenas, the optimizer's state */
    ck_assert_int_ge(n, 5);
    reference_fini(&ref);
}
END_TEST

/* The device is lost at every submission in turn (KILN_TEST_FAULT=lost:N; GPU
 * backends): KILN_E_DEVICE_LOST naming the failed call, every later call fails the
 * same way, nothing leaks, the earlier checkpoint stays. */
START_TEST(test_device_lost)
{
    struct counting c = {0};
    struct kiln_allocator a = {counting_alloc, counting_free, &c};
    struct reference ref;
    struct result r;
    reference(&a, &ref);
    int n, stages_seen = 0;
    for (n = 1; n < 200; n++) {
        char v[32];
        snprintf(v, sizeof(v), "lost:%d", n);
        setenv("KILN_TEST_FAULT", v, 1);
        kiln_status s = scenario(&a, &r, 1);
        if (s == KILN_OK) {
            ck_assert_mem_eq(r.loss, ref.r.loss, sizeof(r.loss));
            free(r.first);
            check_after(&r, &ref, &c, v);
            break;
        }
        ck_assert_msg(s == KILN_E_DEVICE_LOST, "%s: %s", v, r.msg);
        ck_assert_msg(strstr(r.msg, strcmp(core_backend, "vulkan") == 0 ? "VK_ERROR_DEVICE_LOST"
                                                                        : "CL_OUT_OF_RESOURCES"),
                      "%s: %s", v, r.msg);
        stages_seen |= 1 << r.stage;
        free(r.first);
        check_after(&r, &ref, &c, v);
    }
    /* lost while training, after the first checkpoint, and in the evaluation graph */
    ck_assert_int_ge(n, 4);
    ck_assert_msg((stages_seen & (1 << 1)) && (stages_seen & (1 << 3)),
                  "stages that met the fault: 0x%x", stages_seen);
    reference_fini(&ref);
}
END_TEST

static void setup(void)
{
    const char *dir = getenv("KILN_TEST_TMP");
    snprintf(ckpt, sizeof(ckpt), "%s/devfault_%d.safetensors", dir ? dir : "/tmp", (int)getpid());
}

static void teardown(void)
{
    remove(ckpt);
    unsetenv("KILN_TEST_FAULT");
    unsetenv("KILN_MAX_DEVICE_MEMORY");
}

int main(int argc, char **argv)
{
    int rc = core_parse_args(argc, argv);
    if (rc != 0) {
        return rc;
    }
    Suite *s = suite_create("device-fault");
    TCase *tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_counters);
    tcase_add_test(tc, test_limit);
    tcase_add_test(tc, test_every_buffer_can_fail);
    if (strcmp(core_backend, "cpu") != 0) { /* the cpu backend has no submissions */
        tcase_add_test(tc, test_device_lost);
    }
    suite_add_tcase(s, tc);
    return core_run_suite(s);
}
