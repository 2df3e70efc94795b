/*
 * test_plan.c - the memory planner and executor seen from the public API: the arena
 * reuses storage (and never storage still to be read, views included), kept tensors
 * survive runs, kiln_graph_eval runs only the targets' ancestors, reset restores the
 * initial parameters and optimizer state, steps are counted, and the SGD and Adam
 * updates follow torch.optim step by step, and contiguous slices are views (no kernel,
 * no storage) exactly where the backend can bind their offset. Runs on the backend
 * named by the first argument (default cpu). Per-op numerics are tested in tests/ops/.
 */
#include <math.h>

#include "core_util.h"
#include "graph/graph_impl.h"

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

static void expect_close(const float *got, const float *want, int n, float rel, const char *what)
{
    for (int i = 0; i < n; i++) {
        float tol = rel * fabsf(want[i]) + 1e-7f;
        ck_assert_msg(fabsf(got[i] - want[i]) <= tol, "%s[%d]: got %.9g, expected %.9g", what, i,
                      got[i], want[i]);
    }
}

/* ==== Memory reuse ==== */

#define CHAIN 32
#define WIDTH 256

START_TEST(test_arena_reuses_memory)
{
    int64_t d = WIDTH;
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 1, &d);
    kiln_tensor *h = x;
    for (int i = 0; i < CHAIN; i++) {
        h = (i % 2) ? kiln_tanh(g, h) : kiln_scale_shift(g, h, 1.5f, 0.25f);
    }
    kiln_tensor_keep(h);
    EXPECT_OK(kiln_graph_compile(g));
    size_t arena = 0, persist = 0;
    kiln_graph_memory(g, &arena, &persist);
    size_t one = WIDTH * sizeof(float);
    size_t intermediates = (CHAIN - 1) * one; /* every op result but the kept last one */
    ck_assert_uint_lt(arena, intermediates);
    /* A chain needs two live buffers at a time (input and output of the running node). */
    ck_assert_msg(arena <= 3 * one, "arena %zu bytes for a chain of %zu-byte tensors", arena, one);
    ck_assert_uint_ge(arena, 2 * one);
    ck_assert_uint_ge(persist, 2 * one); /* x and the kept result */
    ck_assert_uint_lt(persist, intermediates);

    float xs[WIDTH], want[WIDTH], got[WIDTH];
    for (int j = 0; j < WIDTH; j++) {
        xs[j] = (float)(j - WIDTH / 2) / 64.0f;
        want[j] = xs[j];
        for (int i = 0; i < CHAIN; i++) {
            want[j] = (i % 2) ? tanhf(want[j]) : 1.5f * want[j] + 0.25f;
        }
    }
    EXPECT_OK(kiln_tensor_upload(x, xs, sizeof(xs)));
    EXPECT_OK(kiln_graph_run(g));
    EXPECT_OK(kiln_tensor_download(h, got, sizeof(got)));
    /* 16 tanh nodes each within a few ULP of libm's on a GPU, and every second node
     * scales by 1.5: the differences compound to about 1e-5 relative (measured 1.2e-5
     * on lavapipe and PoCL), so the chain is held to 1e-4. */
    expect_close(got, want, WIDTH, 1e-4f, "chain");
}
END_TEST

START_TEST(test_arena_respects_liveness)
{
    /* y_i = tanh(y_{i-1}) + y_{i-3}: every result is read again three nodes later, and
     * one early result is read through a reshape view at the very end. */
    int64_t d[2] = {4, 8}, flat = 32;
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 2, d);
    kiln_tensor *early = kiln_scale(g, x, -2.0f);
    kiln_tensor *view = kiln_reshape(g, early, 1, &flat);
    kiln_tensor *y[12];
    y[0] = kiln_tanh(g, x);
    y[1] = kiln_tanh(g, y[0]);
    y[2] = kiln_tanh(g, y[1]);
    for (int i = 3; i < 12; i++) {
        y[i] = kiln_add(g, kiln_tanh(g, y[i - 1]), y[i - 3]);
    }
    kiln_tensor *out = kiln_tensor_keep(kiln_add(g, kiln_reshape(g, y[11], 1, &flat), view));
    EXPECT_OK(kiln_graph_compile(g));

    float xs[32], want[32], got[32];
    for (int j = 0; j < 32; j++) {
        float yy[12];
        xs[j] = (float)j / 16.0f - 1.0f;
        yy[0] = tanhf(xs[j]);
        yy[1] = tanhf(yy[0]);
        yy[2] = tanhf(yy[1]);
        for (int i = 3; i < 12; i++) {
            yy[i] = tanhf(yy[i - 1]) + yy[i - 3];
        }
        want[j] = yy[11] + -2.0f * xs[j];
    }
    EXPECT_OK(kiln_tensor_upload(x, xs, sizeof(xs)));
    EXPECT_OK(kiln_graph_run(g));
    EXPECT_OK(kiln_tensor_download(out, got, sizeof(got)));
    expect_close(got, want, 32, 1e-5f, "liveness");
}
END_TEST

/* Slices of an input and of an intermediate: contiguous boxes are views where the
 * backend binds their byte offset (view_alignment), copies otherwise; every result and
 * every consumer of a view reads the right elements, and an intermediate stays alive
 * while a view of it is read. */
START_TEST(test_slice_views)
{
    int64_t d[2] = {7, 3};
    size_t va = ctx->be.view_alignment;
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 2, d);
    kiln_tensor *a = kiln_slice(g, x, 0, 4, 2); /* rows 4..5: offset 48 bytes */
    kiln_tensor *b = kiln_slice(g, x, 0, 1, 3); /* rows 1..3: offset 12 bytes */
    kiln_tensor *c = kiln_slice(g, x, 1, 1, 1); /* a column: not contiguous */
    kiln_tensor *h = kiln_scale(g, x, 2.0f);    /* an intermediate */
    kiln_tensor *v = kiln_slice(g, h, 0, 6, 1); /* its last row: offset 72 bytes */
    kiln_tensor *late = kiln_tanh(g, kiln_tanh(g, kiln_tanh(g, x))); /* reuses freed storage */
    kiln_tensor *ea = kiln_tensor_keep(kiln_exp(g, a));
    kiln_tensor *eb = kiln_tensor_keep(kiln_exp(g, b));
    kiln_tensor_keep(c);
    kiln_tensor *ev = kiln_tensor_keep(kiln_add(g, kiln_exp(g, v), kiln_slice(g, late, 0, 0, 1)));
    ck_assert(kiln__is_view(a) == (va > 0 && 48 % va == 0));
    ck_assert(kiln__is_view(b) == (va > 0 && 12 % va == 0));
    ck_assert(!kiln__is_view(c));
    ck_assert(kiln__is_view(v) == (va > 0 && 72 % va == 0));
    EXPECT_OK(kiln_graph_compile(g));
    float xs[21], got[6];
    for (int i = 0; i < 21; i++) {
        xs[i] = (float)i / 8.0f - 1.0f;
    }
    EXPECT_OK(kiln_tensor_upload(x, xs, sizeof(xs)));
    kiln_context_reset_stats(ctx);
    EXPECT_OK(kiln_graph_run(g));
    struct kiln_stats st;
    kiln_context_stats(ctx, &st);
    /* scale, 3 tanh, 3 exp, add and the column, and the slices that are copies (the first
     * row of late starts at offset 0: always a view). */
    ck_assert(kiln__is_view(ev->src[1]));
    uint64_t want = 9 + !kiln__is_view(a) + !kiln__is_view(b) + !kiln__is_view(v);
    ck_assert_uint_eq(st.nodes, want);
    float w[6];
    EXPECT_OK(kiln_tensor_download(ea, got, 6 * sizeof(float)));
    for (int i = 0; i < 6; i++) {
        w[i] = expf(xs[12 + i]);
    }
    expect_close(got, w, 6, 1e-5f, "exp of rows 4..5");
    float gb[9], wb[9];
    EXPECT_OK(kiln_tensor_download(eb, gb, sizeof(gb)));
    for (int i = 0; i < 9; i++) {
        wb[i] = expf(xs[3 + i]);
    }
    expect_close(gb, wb, 9, 1e-5f, "exp of rows 1..3");
    float gc[7];
    EXPECT_OK(kiln_tensor_download(c, gc, sizeof(gc)));
    for (int i = 0; i < 7; i++) {
        ck_assert_float_eq(gc[i], xs[3 * i + 1]);
    }
    EXPECT_OK(kiln_tensor_download(ev, got, 3 * sizeof(float)));
    for (int i = 0; i < 3; i++) {
        w[i] = expf(2.0f * xs[18 + i]) + tanhf(tanhf(tanhf(xs[i])));
    }
    expect_close(got, w, 3, 1e-5f, "a view of an intermediate");
}
END_TEST

START_TEST(test_kept_tensors_survive_runs)
{
    int64_t d = 64;
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 1, &d);
    kiln_tensor *z = kiln_input(g, "z", KILN_DTYPE_F32, 1, &d);
    kiln_tensor *kept = kiln_tensor_keep(kiln_scale_shift(g, x, 2.0f, 1.0f));
    kiln_tensor *h = kiln_exp(g, kept); /* reads kept, then many arena tensors follow */
    kiln_tensor *w = z;
    for (int i = 0; i < 10; i++) {
        w = kiln_scale_shift(g, w, 0.5f, 3.0f);
    }
    kiln_tensor *out = kiln_tensor_keep(kiln_add(g, h, w));
    kiln_tensor *zout = kiln_tensor_keep(kiln_relu(g, w));
    EXPECT_OK(kiln_graph_compile(g));

    float xs[64], zs[64], got[64], want[64];
    for (int i = 0; i < 64; i++) {
        xs[i] = (float)i / 32.0f;
        zs[i] = -(float)i;
        want[i] = 2.0f * xs[i] + 1.0f;
    }
    EXPECT_OK(kiln_tensor_upload(x, xs, sizeof(xs)));
    EXPECT_OK(kiln_tensor_upload(z, zs, sizeof(zs)));
    EXPECT_OK(kiln_graph_run(g));
    EXPECT_OK(kiln_tensor_download(kept, got, sizeof(got)));
    expect_close(got, want, 64, 0.0f, "kept after run");
    EXPECT_OK(kiln_tensor_download(out, got, sizeof(got)));
    /* New z, evaluating only the z branch: the kept value of the x branch stays. */
    for (int i = 0; i < 64; i++) {
        zs[i] = (float)i * 7.0f;
    }
    EXPECT_OK(kiln_tensor_upload(z, zs, sizeof(zs)));
    for (int r = 0; r < 3; r++) {
        EXPECT_OK(kiln_graph_eval(g, 1, &zout));
    }
    EXPECT_OK(kiln_tensor_download(kept, got, sizeof(got)));
    expect_close(got, want, 64, 0.0f, "kept after eval of another branch");
    /* And kept values change when their inputs do. */
    xs[5] = 100.0f;
    want[5] = 201.0f;
    EXPECT_OK(kiln_tensor_upload(x, xs, sizeof(xs)));
    EXPECT_OK(kiln_graph_run(g));
    EXPECT_OK(kiln_tensor_download(kept, got, sizeof(got)));
    expect_close(got, want, 64, 0.0f, "kept after a second run");
}
END_TEST

/* ==== Executor ==== */

START_TEST(test_eval_runs_only_ancestors)
{
    int64_t d = 4, d2[2] = {2, 2};
    struct kiln_stats st;
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 1, &d);
    kiln_tensor *a = kiln_relu(g, x);
    kiln_tensor *b = kiln_tensor_keep(kiln_tanh(g, kiln_reshape(g, a, 2, d2))); /* 2 kernels */
    kiln_tensor *c = kiln_exp(g, x);
    kiln_tensor *e = kiln_tensor_keep(kiln_sum(g, c, 1u, 0)); /* 2 kernels */
    kiln_tensor *both[2] = {b, e};
    EXPECT_OK(kiln_graph_compile(g));
    float xs[4] = {-1.0f, 0.5f, 2.0f, -3.0f}, got[4];
    EXPECT_OK(kiln_tensor_upload(x, xs, sizeof(xs)));

    kiln_context_reset_stats(ctx);
    EXPECT_OK(kiln_graph_eval(g, 1, &b));
    kiln_context_stats(ctx, &st);
    ck_assert_uint_eq(st.nodes, 2);
    ck_assert_uint_eq(st.runs, 1);
    EXPECT_OK(kiln_tensor_download(b, got, sizeof(got)));
    ck_assert_float_eq_tol(got[1], tanhf(0.5f), 1e-6f);
    ck_assert_float_eq(got[0], 0.0f);

    kiln_context_reset_stats(ctx);
    EXPECT_OK(kiln_graph_eval(g, 1, &e));
    kiln_context_stats(ctx, &st);
    ck_assert_uint_eq(st.nodes, 2);

    kiln_context_reset_stats(ctx);
    EXPECT_OK(kiln_graph_eval(g, 2, both));
    kiln_context_stats(ctx, &st);
    ck_assert_uint_eq(st.nodes, 4);

    kiln_context_reset_stats(ctx);
    EXPECT_OK(kiln_graph_eval(g, 1, &x));
    EXPECT_OK(kiln_graph_eval(g, 0, NULL));
    kiln_context_stats(ctx, &st);
    ck_assert_uint_eq(st.nodes, 0);
    ck_assert_uint_eq(st.runs, 2);

    kiln_context_reset_stats(ctx);
    EXPECT_OK(kiln_graph_run(g));
    EXPECT_OK(kiln_tensor_download(e, got, sizeof(float)));
    kiln_context_stats(ctx, &st);
    ck_assert_uint_eq(st.nodes, 4);
    ck_assert_uint_eq(st.runs, 1);
    ck_assert_uint_eq(st.bytes_downloaded, sizeof(float));
    ck_assert_float_eq_tol(got[0], expf(-1.0f) + expf(0.5f) + expf(2.0f) + expf(-3.0f), 1e-5f);
}
END_TEST

/* The one-parameter problem of the optimizer table: loss = (w - 0.5)^2, w0 = 1.5. */
static kiln_optimizer *one_param_problem(const struct kiln_optim_options *oo, kiln_tensor **w_out)
{
    int64_t one = 1;
    kiln_tensor *w = kiln_param(g, "w", 1, &one, KILN_INIT_CONSTANT, 1.5f, 0);
    kiln_tensor *t = kiln_input(g, "t", KILN_DTYPE_F32, 1, &one);
    kiln_tensor *loss = kiln_mse_loss(g, w, t);
    kiln_optimizer *opt = NULL;
    EXPECT_OK(kiln_graph_backward(g, loss));
    EXPECT_OK(kiln_graph_compile(g));
    EXPECT_OK(kiln_optimizer_create(kiln_graph_store(g), oo, &opt));
    float target = 0.5f;
    EXPECT_OK(kiln_tensor_upload(t, &target, sizeof(target)));
    *w_out = w;
    return opt;
}

/* KILN_CHECK=nan (check 2) and KILN_CHECK=1 (check 1) stop at the first node whose
 * result is not finite and call it divergence, naming the node; without a check the run
 * goes on. exp(100) overflows float; the sum after it is inf too. */
START_TEST(test_check_catches_divergence)
{
    for (int mode = 0; mode <= 2; mode++) {
        struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
        kiln_context *c = NULL;
        kiln_graph *gg = NULL;
        int64_t n = 3;
        o.backend = core_backend;
        o.check = mode;
        EXPECT_OK(kiln_context_create(&o, &c));
        EXPECT_OK(kiln_graph_create(c, &gg));
        kiln_tensor *x = kiln_input(gg, "x", KILN_DTYPE_F32, 1, &n);
        kiln_tensor *e = kiln_exp(gg, kiln_scale(gg, x, 2.0f));
        kiln_tensor_keep(kiln_sum(gg, e, 1u, 0));
        EXPECT_OK(kiln_graph_compile(gg));
        float v[3] = {1.0f, 50.0f, -2.0f};
        EXPECT_OK(kiln_tensor_upload(x, v, sizeof(v)));
        if (mode == 0) {
            EXPECT_OK(kiln_graph_run(gg));
        } else {
            EXPECT_FAIL(kiln_graph_run(gg), KILN_E_DIVERGED, "node 'exp#2' (op exp -> f32 [3]) on");
            ck_assert_msg(strstr(kiln_last_error(), "from finite inputs: element 1 is inf") != NULL,
                          "%s", kiln_last_error());
        }
        kiln_graph_destroy(gg);
        kiln_context_destroy(c);
    }
}
END_TEST

START_TEST(test_eval_does_not_train)
{
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    kiln_tensor *w;
    oo.lr = 0.1f;
    kiln_optimizer *opt = one_param_problem(&oo, &w);
    float v;
    EXPECT_OK(kiln_graph_eval(g, 1, &w));
    EXPECT_OK(kiln_tensor_download(w, &v, sizeof(v)));
    ck_assert_float_eq(v, 1.5f);
    ck_assert_int_eq(kiln_optimizer_steps(opt), 0);
}
END_TEST

START_TEST(test_reset_params_and_step_count)
{
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    kiln_tensor *w;
    oo.lr = 0.1f;
    oo.momentum = 0.9f;
    kiln_optimizer *opt = one_param_problem(&oo, &w);
    float w0, w1, w3, v;
    EXPECT_OK(kiln_tensor_download(w, &w0, sizeof(w0)));
    ck_assert_float_eq(w0, 1.5f);
    ck_assert_int_eq(kiln_optimizer_steps(opt), 0);
    EXPECT_OK(kiln_train_step(g, opt));
    EXPECT_OK(kiln_tensor_download(w, &w1, sizeof(w1)));
    EXPECT_OK(kiln_train_step(g, opt));
    EXPECT_OK(kiln_train_step(g, opt));
    EXPECT_OK(kiln_tensor_download(w, &w3, sizeof(w3)));
    ck_assert_int_eq(kiln_optimizer_steps(opt), 3);
    ck_assert_float_ne(w3, w0);

    EXPECT_OK(kiln_graph_reset_params(g));
    ck_assert_int_eq(kiln_optimizer_steps(opt), 0);
    EXPECT_OK(kiln_tensor_download(w, &v, sizeof(v)));
    ck_assert_float_eq(v, w0);
    /* The momentum buffer was zeroed and the step count restarted: the same trajectory. */
    EXPECT_OK(kiln_train_step(g, opt));
    EXPECT_OK(kiln_tensor_download(w, &v, sizeof(v)));
    ck_assert_float_eq(v, w1);
    EXPECT_OK(kiln_train_step(g, opt));
    EXPECT_OK(kiln_train_step(g, opt));
    EXPECT_OK(kiln_tensor_download(w, &v, sizeof(v)));
    ck_assert_float_eq(v, w3);
    ck_assert_int_eq(kiln_optimizer_steps(opt), 3);
}
END_TEST

/* ==== Optimizers against torch.optim ==== */

/*
 * w after each of 3 steps of torch.optim on loss = (w - 0.5)^2 from w0 = 1.5
 * (tests/core/optim_ref.py prints these). By hand for SGD with momentum 0.9, lr 0.1:
 * g1 = 2, buf1 = g1 = 2 (the first step takes the gradient as it is), w1 = 1.3;
 * g2 = 1.6, buf2 = 0.9 * 2 + 1.6 = 3.4, w2 = 0.96; g3 = 0.92, buf3 = 3.98, w3 = 0.562.
 * Nesterov: w1 = 1.5 - 0.1 * (2 + 0.9 * 2) = 1.12. Dampening 0.5: buf2 = 1.8 + 0.8 = 2.6,
 * w2 = 1.04. Adam step 1: m = 0.2, v = 0.004, m^ = 2, v^ = 4, w1 = 1.5 - 0.1 = 1.4.
 */
struct optim_case {
    const char *name;
    kiln_optim_kind kind;
    float lr, momentum, dampening;
    int32_t nesterov;
    float weight_decay, beta1, beta2, eps;
    int32_t decoupled;
    float lr_after_first; /* 0: unchanged */
    float w[3];
};

static const struct optim_case optim_cases[] = {
    {"sgd",
     KILN_OPTIM_SGD,
     0.1f,
     0,
     0,
     0,
     0,
     0.9f,
     0.999f,
     1e-8f,
     0,
     0,
     {1.29999995f, 1.13999999f, 1.01199996f}},
    {"sgd_momentum",
     KILN_OPTIM_SGD,
     0.1f,
     0.9f,
     0,
     0,
     0,
     0.9f,
     0.999f,
     1e-8f,
     0,
     0,
     {1.29999995f, 0.959999979f, 0.562000036f}},
    {"sgd_dampening",
     KILN_OPTIM_SGD,
     0.1f,
     0.9f,
     0.5f,
     0,
     0,
     0.9f,
     0.999f,
     1e-8f,
     0,
     0,
     {1.29999995f, 1.03999996f, 0.751999974f}},
    {"sgd_nesterov",
     KILN_OPTIM_SGD,
     0.1f,
     0.9f,
     0,
     1,
     0,
     0.9f,
     0.999f,
     1e-8f,
     0,
     0,
     {1.12f, 0.72240001f, 0.391648024f}},
    {"sgd_weight_decay",
     KILN_OPTIM_SGD,
     0.1f,
     0.9f,
     0,
     0,
     0.1f,
     0.9f,
     0.999f,
     1e-8f,
     0,
     0,
     {1.28499997f, 0.921649933f, 0.50108844f}},
    {"adam",
     KILN_OPTIM_ADAM,
     0.1f,
     0,
     0,
     0,
     0,
     0.9f,
     0.999f,
     1e-8f,
     0,
     0,
     {1.39999998f, 1.30041218f, 1.20158625f}},
    {"adam_weight_decay",
     KILN_OPTIM_ADAM,
     0.1f,
     0,
     0,
     0,
     0.1f,
     0.9f,
     0.999f,
     1e-8f,
     0,
     0,
     {1.39999998f, 1.30039883f, 1.20153284f}},
    {"adamw",
     KILN_OPTIM_ADAM,
     0.1f,
     0,
     0,
     0,
     0.1f,
     0.9f,
     0.999f,
     1e-8f,
     1,
     0,
     {1.38499999f, 1.27165306f, 1.16037655f}},
    {"adam_betas",
     KILN_OPTIM_ADAM,
     0.05f,
     0,
     0,
     0,
     0,
     0.5f,
     0.9f,
     1e-3f,
     0,
     0,
     {1.45002496f, 1.40042686f, 1.35143971f}},
    {"sgd_lr_change",
     KILN_OPTIM_SGD,
     0.1f,
     0.9f,
     0,
     0,
     0,
     0.9f,
     0.999f,
     1e-8f,
     0,
     0.02f,
     {1.29999995f, 1.23199999f, 1.14152002f}},
    {"adam_lr_change",
     KILN_OPTIM_ADAM,
     0.1f,
     0,
     0,
     0,
     0,
     0.9f,
     0.999f,
     1e-8f,
     0,
     0.02f,
     {1.39999998f, 1.38008237f, 1.36020303f}},
};
#define N_OPTIM_CASES ((int)(sizeof(optim_cases) / sizeof(optim_cases[0])))

START_TEST(test_optimizer_matches_torch)
{
    const struct optim_case *c = &optim_cases[_i];
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    kiln_tensor *w;
    oo.kind = c->kind;
    oo.lr = c->lr;
    oo.momentum = c->momentum;
    oo.dampening = c->dampening;
    oo.nesterov = c->nesterov;
    oo.weight_decay = c->weight_decay;
    oo.beta1 = c->beta1;
    oo.beta2 = c->beta2;
    oo.eps = c->eps;
    oo.decoupled = c->decoupled;
    kiln_optimizer *opt = one_param_problem(&oo, &w);
    for (int step = 0; step < 3; step++) {
        float v;
        if (step == 1 && c->lr_after_first > 0.0f) {
            kiln_optimizer_set_lr(opt, c->lr_after_first);
            ck_assert_float_eq(kiln_optimizer_lr(opt), c->lr_after_first);
        }
        EXPECT_OK(kiln_train_step(g, opt));
        EXPECT_OK(kiln_tensor_download(w, &v, sizeof(v)));
        ck_assert_msg(fabsf(v - c->w[step]) <= 2e-6f * fabsf(c->w[step]),
                      "%s step %d: w = %.9g, torch.optim gives %.9g", c->name, step + 1, v,
                      c->w[step]);
    }
    ck_assert_int_eq(kiln_optimizer_steps(opt), 3);
}
END_TEST

START_TEST(test_optimizer_state_is_per_parameter)
{
    /* Two parameters with different gradients keep separate momentum buffers: each
     * follows its own one-parameter trajectory. loss = (a - 0.5)^2 + (b - 0.5)^2 with
     * a0 = 1.5 and b0 = -0.5 (gradient -2 on step 1). */
    int64_t one = 1;
    kiln_tensor *a = kiln_param(g, "a", 1, &one, KILN_INIT_CONSTANT, 1.5f, 0);
    kiln_tensor *b = kiln_param(g, "b", 1, &one, KILN_INIT_CONSTANT, -0.5f, 0);
    kiln_tensor *t = kiln_input(g, "t", KILN_DTYPE_F32, 1, &one);
    kiln_tensor *loss = kiln_add(g, kiln_mse_loss(g, a, t), kiln_mse_loss(g, b, t));
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.lr = 0.1f;
    oo.momentum = 0.9f;
    kiln_optimizer *opt = NULL;
    EXPECT_OK(kiln_graph_backward(g, loss));
    EXPECT_OK(kiln_graph_compile(g));
    EXPECT_OK(kiln_optimizer_create(kiln_graph_store(g), &oo, &opt));
    float target = 0.5f, va, vb;
    EXPECT_OK(kiln_tensor_upload(t, &target, sizeof(target)));
    for (int i = 0; i < 3; i++) {
        EXPECT_OK(kiln_train_step(g, opt));
    }
    EXPECT_OK(kiln_tensor_download(a, &va, sizeof(va)));
    EXPECT_OK(kiln_tensor_download(b, &vb, sizeof(vb)));
    /* By symmetry about 0.5, b = 1 - a. */
    ck_assert_float_eq_tol(va, 0.562000036f, 1e-6f);
    ck_assert_float_eq_tol(vb, 1.0f - 0.562000036f, 1e-6f);
}
END_TEST

START_TEST(test_runs_accumulate_until_a_step)
{
    /* kiln_graph_run adds the gradient into the store and changes no parameter; two runs
     * then one step is one SGD step with the doubled gradient: g = 2 (w - 0.5) = 2, twice,
     * w = 1.5 - 0.1 * 4. The step clears the gradients. */
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    kiln_tensor *w;
    oo.lr = 0.1f;
    oo.momentum = 0.9f;
    kiln_optimizer *opt = one_param_problem(&oo, &w);
    float v, gr;
    EXPECT_OK(kiln_graph_run(g));
    EXPECT_OK(kiln_graph_run(g));
    EXPECT_OK(kiln_tensor_download(w, &v, sizeof(v)));
    ck_assert_float_eq(v, 1.5f);
    EXPECT_OK(kiln_tensor_download(kiln_tensor_grad(w), &gr, sizeof(gr)));
    ck_assert_float_eq(gr, 4.0f);
    EXPECT_OK(kiln_store_read_grad(kiln_graph_store(g), "w", &gr, sizeof(gr)));
    ck_assert_float_eq(gr, 4.0f);
    EXPECT_OK(kiln_optimizer_step(opt));
    EXPECT_OK(kiln_tensor_download(w, &v, sizeof(v)));
    ck_assert_float_eq_tol(v, 1.1f, 1e-6f);
    EXPECT_OK(kiln_tensor_download(kiln_tensor_grad(w), &gr, sizeof(gr)));
    ck_assert_float_eq(gr, 0.0f);
    ck_assert_int_eq(kiln_optimizer_steps(opt), 1);
    /* kiln_store_zero_grad clears without stepping. */
    EXPECT_OK(kiln_graph_run(g));
    EXPECT_OK(kiln_store_zero_grad(kiln_graph_store(g)));
    EXPECT_OK(kiln_store_read_grad(kiln_graph_store(g), "w", &gr, sizeof(gr)));
    ck_assert_float_eq(gr, 0.0f);
}
END_TEST

/* ==== Gradient clipping against torch.nn.utils.clip_grad_norm_ ==== */

/* optim_ref.py prints these: a = [1.5, -2, 0.25], b = [3, -1], loss = sum((a - 0.5)^2) +
 * sum((b - 0.5)^2), clipped to max_norm before each of 3 steps; runs graph runs add up
 * before each step, scaled by 1 / runs. norm: the global norm clip_grad_norm_ returned. */
struct clip_case {
    const char *name;
    float max_norm;
    int runs;
    float norm[3];
    float v[3][5]; /* a then b after each step */
};

static const struct clip_case clip_cases[] = {
    {"sgd_clip",
     1.0f,
     1,
     {7.95298672f, 7.75298691f, 7.37298679f},
     {{1.4748522f, -1.93713057f, 0.256286949f, 2.93713045f, -0.962278306f},
      {1.42707145f, -1.81767857f, 0.268232137f, 2.81767845f, -0.890607119f},
      {1.35892093f, -1.64730239f, 0.285269767f, 2.64730215f, -0.788381398f}}},
    {"adam_clip",
     0.5f,
     1,
     {7.95298672f, 7.56637335f, 7.18696117f},
     {{1.39999998f, -1.89999998f, 0.349999964f, 2.9000001f, -0.900000036f},
      {1.30018306f, -1.79997754f, 0.446377248f, 2.79997754f, -0.80005455f},
      {1.20072699f, -1.69991815f, 0.532001734f, 2.69991803f, -0.700214267f}}},
    {"sgd_clip_two_runs",
     1.0f,
     2,
     {7.95298672f, 7.75298691f, 7.37298679f},
     {{1.4748522f, -1.93713057f, 0.256286949f, 2.93713045f, -0.962278306f},
      {1.42707145f, -1.81767857f, 0.268232137f, 2.81767845f, -0.890607119f},
      {1.35892093f, -1.64730239f, 0.285269767f, 2.64730215f, -0.788381398f}}},
    {"sgd_no_clip_needed",
     100.0f,
     1,
     {7.95298672f, 7.79392672f, 7.63804865f},
     {{1.48000002f, -1.95000005f, 0.254999995f, 2.95000005f, -0.970000029f},
      {1.46039999f, -1.90100002f, 0.259900004f, 2.90100002f, -0.940600038f},
      {1.44119203f, -1.85298002f, 0.264701992f, 2.85298014f, -0.911788046f}}},
};

START_TEST(test_clip_grad_norm)
{
    const struct clip_case *c = &clip_cases[_i];
    int64_t three = 3, two = 2;
    kiln_tensor *a = kiln_param(g, "a", 1, &three, KILN_INIT_ZEROS, 0.0f, 0);
    kiln_tensor *b = kiln_param(g, "b", 1, &two, KILN_INIT_ZEROS, 0.0f, 0);
    kiln_tensor *t = kiln_input(g, "t", KILN_DTYPE_F32, 0, NULL);
    kiln_tensor *da = kiln_sub(g, a, t), *db = kiln_sub(g, b, t);
    kiln_tensor *loss = kiln_add(g, kiln_sum(g, kiln_mul(g, da, da), 1u, 0),
                                 kiln_sum(g, kiln_mul(g, db, db), 1u, 0));
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.lr = 0.1f;
    oo.momentum = 0.9f;
    if (strstr(c->name, "adam") != NULL) {
        oo.kind = KILN_OPTIM_ADAM;
    } else if (strstr(c->name, "no_clip") != NULL) {
        oo.lr = 0.01f;
        oo.momentum = 0.0f;
    }
    oo.clip_norm = c->max_norm;
    oo.grad_scale = 1.0f / (float)c->runs;
    kiln_optimizer *opt = NULL;
    EXPECT_OK(kiln_graph_backward(g, loss));
    EXPECT_OK(kiln_graph_compile(g));
    EXPECT_OK(kiln_optimizer_create(kiln_graph_store(g), &oo, &opt));
    float a0[3] = {1.5f, -2.0f, 0.25f}, b0[2] = {3.0f, -1.0f}, half = 0.5f, norm;
    EXPECT_OK(kiln_store_write(kiln_graph_store(g), "a", a0, sizeof(a0)));
    EXPECT_OK(kiln_store_write(kiln_graph_store(g), "b", b0, sizeof(b0)));
    EXPECT_OK(kiln_tensor_upload(t, &half, sizeof(half)));
    EXPECT_FAIL(kiln_optimizer_grad_norm(opt, &norm), KILN_E_STATE, "no clipping step");
    for (int step = 0; step < 3; step++) {
        for (int r = 1; r < c->runs; r++) {
            EXPECT_OK(kiln_graph_run(g));
        }
        EXPECT_OK(kiln_train_step(g, opt));
        EXPECT_OK(kiln_optimizer_grad_norm(opt, &norm));
        ck_assert_msg(fabsf(norm - c->norm[step]) <= 1e-5f * c->norm[step],
                      "%s step %d: norm %.9g, torch %.9g", c->name, step + 1, norm, c->norm[step]);
        float v[5];
        EXPECT_OK(kiln_tensor_download(a, v, 3 * sizeof(float)));
        EXPECT_OK(kiln_tensor_download(b, v + 3, 2 * sizeof(float)));
        expect_close(v, c->v[step], 5, 2e-6f, c->name);
    }
}
END_TEST

static Suite *plan_suite(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("memory");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_arena_reuses_memory);
    tcase_add_test(tc, test_arena_respects_liveness);
    tcase_add_test(tc, test_kept_tensors_survive_runs);
    tcase_add_test(tc, test_slice_views);
    suite_add_tcase(s, tc);
    tc = tcase_create("exec");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_eval_runs_only_ancestors);
    tcase_add_test(tc, test_eval_does_not_train);
    tcase_add_test(tc, test_check_catches_divergence);
    tcase_add_test(tc, test_reset_params_and_step_count);
    suite_add_tcase(s, tc);
    tc = tcase_create("optim");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_optimizer_matches_torch, 0, N_OPTIM_CASES);
    tcase_add_test(tc, test_optimizer_state_is_per_parameter);
    tcase_add_test(tc, test_runs_accumulate_until_a_step);
    tcase_add_loop_test(tc, test_clip_grad_norm, 0,
                        (int)(sizeof(clip_cases) / sizeof(clip_cases[0])));
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    int skip = core_parse_args(argc, argv);
    return skip ? skip : core_run_suite(plan_suite());
}
