/*
 * test_profile.c - the launch counters of kiln_stats and the per-op profile of
 * kiln_context_set_profiling / kiln_context_profile seen from the public API: a training
 * step of a small convolutional net is charged to its ops (nodes, launches, barriers,
 * bytes and time), the rows add up to the context's counters, come ordered by time,
 * are cleared by kiln_context_reset_stats, stop growing when profiling is off, and bad
 * arguments fail; the launches that the planner saves (gradients straight into the
 * store, bias + ReLU fused) are gone. Runs on the backend named by the first
 * argument (default cpu).
 */
#include <string.h>

#include "core_util.h"

#define MAX_ROWS 64

static kiln_context *ctx;
static kiln_graph *g;
static kiln_optimizer *opt;
static kiln_tensor *x, *lab, *loss;

/* conv 1->4 3x3 + bias + ReLU, max-pool, linear to 3 classes, softmax cross-entropy,
 * SGD with momentum: every op family of a LeNet step once. */
static void setup(void)
{
    int64_t xd[4] = {8, 1, 8, 8}, ld[1] = {8}, wd[4] = {4, 1, 3, 3}, bd[3] = {4, 1, 1},
            fd[2] = {3, 36}, fbd[1] = {3}, flat[2] = {8, 36};
    ctx = core_context();
    EXPECT_OK(kiln_graph_create(ctx, &g));
    x = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
    lab = kiln_input(g, "labels", KILN_DTYPE_I32, 1, ld);
    kiln_tensor *w = kiln_param(g, "w", 4, wd, KILN_INIT_HE_UNIFORM, 0, 1);
    kiln_tensor *b = kiln_param(g, "b", 3, bd, KILN_INIT_ZEROS, 0, 1);
    kiln_tensor *fw = kiln_param(g, "fw", 2, fd, KILN_INIT_XAVIER_UNIFORM, 0, 2);
    kiln_tensor *fb = kiln_param(g, "fb", 1, fbd, KILN_INIT_ZEROS, 0, 2);
    struct kiln_pool2d_opts po = {{2, 2}, {2, 2}, {0, 0}, 1};
    kiln_tensor *h = kiln_conv2d(g, x, w, NULL);              /* [8, 4, 6, 6] */
    h = kiln_relu(g, kiln_add(g, h, b));                      /* bias + ReLU */
    h = kiln_reshape(g, kiln_max_pool2d(g, h, &po), 2, flat); /* [8, 36] */
    kiln_tensor *logits = kiln_add(g, kiln_matmul(g, h, fw, 0, 1), fb);
    loss = kiln_tensor_keep(kiln_softmax_xent(g, logits, lab));
    ck_assert_ptr_nonnull(loss);
    EXPECT_OK(kiln_graph_backward(g, loss));
    EXPECT_OK(kiln_graph_compile(g));
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.lr = 0.05f;
    oo.momentum = 0.9f;
    EXPECT_OK(kiln_optimizer_create(kiln_graph_store(g), &oo, &opt));
    float xs[8 * 64];
    int32_t ys[8];
    for (int i = 0; i < 8 * 64; i++) {
        xs[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
    }
    for (int i = 0; i < 8; i++) {
        ys[i] = i % 3;
    }
    EXPECT_OK(kiln_tensor_upload(x, xs, sizeof(xs)));
    EXPECT_OK(kiln_tensor_upload(lab, ys, sizeof(ys)));
}

static void teardown(void)
{
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    g = NULL;
    ctx = NULL;
}

/* One training step with the loss read back (every launch has finished after it). */
static void step(void)
{
    float l = 0.0f;
    EXPECT_OK(kiln_train_step(g, opt));
    EXPECT_OK(kiln_tensor_download(loss, &l, sizeof(l)));
}

static const struct kiln_profile_row *find(const struct kiln_profile_row *rows, int32_t n,
                                           const char *op)
{
    for (int32_t i = 0; i < n; i++) {
        if (strcmp(rows[i].op, op) == 0) {
            return &rows[i];
        }
    }
    return NULL;
}

START_TEST(test_counts_launches)
{
    struct kiln_stats st;
    step(); /* kernel builds, pipelines */
    kiln_context_reset_stats(ctx);
    step();
    kiln_context_stats(ctx, &st);
    /* Every node launches at least one kernel except views; at least conv, its two
     * gradients (one here: x needs none), pool and its gradient, the product, the loss,
     * its gradient and the update. */
    ck_assert_uint_ge(st.dispatches, 8);
    ck_assert_uint_le(st.dispatches, 4 * st.nodes);
    ck_assert_int_eq(kiln_context_profile(ctx, NULL, 0), 0); /* profiling is off */
}
END_TEST

START_TEST(test_profile_rows)
{
    struct kiln_profile_row rows[MAX_ROWS];
    struct kiln_stats st;
    step();
    EXPECT_OK(kiln_context_set_profiling(ctx, 1));
    kiln_context_reset_stats(ctx);
    step();
    step();
    kiln_context_stats(ctx, &st);
    int32_t n = kiln_context_profile(ctx, rows, MAX_ROWS);
    ck_assert_int_gt(n, 5);
    ck_assert_int_le(n, MAX_ROWS);
    uint64_t nodes = 0, launches = 0, barriers = 0;
    double seconds = 0.0;
    for (int32_t i = 0; i < n; i++) {
        ck_assert_ptr_nonnull(rows[i].op);
        ck_assert_ptr_nonnull(rows[i].family);
        ck_assert_msg(rows[i].seconds >= 0.0, "%s: %g s", rows[i].op, rows[i].seconds);
        if (i > 0) {
            ck_assert_msg(rows[i - 1].seconds >= rows[i].seconds, "rows %d, %d out of order",
                          (int)i - 1, (int)i);
        }
        nodes += rows[i].nodes;
        launches += rows[i].dispatches;
        barriers += rows[i].barriers;
        seconds += rows[i].seconds;
    }
    ck_assert_uint_eq(nodes, st.nodes);
    ck_assert_uint_eq(launches, st.dispatches);
    ck_assert_uint_eq(barriers, st.barriers);
    ck_assert_msg(seconds > 0.0, "no time measured");

    /* The convolution takes its bias and ReLU (conv2d_bias). */
    const struct kiln_profile_row *conv = find(rows, n, "conv2d_bias");
    ck_assert_ptr_nonnull(conv);
    ck_assert_str_eq(conv->family, "conv");
    ck_assert_uint_eq(conv->nodes, 2); /* one per step */
    ck_assert_uint_ge(conv->dispatches, 2);
    /* x [8,1,8,8], w [4,1,3,3], b [4,1,1] and y [8,4,6,6] per run, as floats */
    ck_assert_uint_eq(conv->bytes, 2 * 4 * (512 + 36 + 4 + 1152));
    ck_assert_ptr_nonnull(find(rows, n, "conv2d_bwd_filter"));
    ck_assert_ptr_null(find(rows, n, "conv2d_bwd_data")); /* x needs no gradient */

    /* A smaller array gets the rows with the most time. */
    struct kiln_profile_row top[2];
    ck_assert_int_eq(kiln_context_profile(ctx, top, 2), n);
    ck_assert_str_eq(top[0].op, rows[0].op);
    ck_assert_msg(top[1].seconds == rows[1].seconds, "%s %g, %s %g", top[1].op, top[1].seconds,
                  rows[1].op, rows[1].seconds);

    /* Off: the rows stay as they are. Reset: they are gone. */
    EXPECT_OK(kiln_context_set_profiling(ctx, 0));
    step();
    struct kiln_profile_row again[MAX_ROWS];
    ck_assert_int_eq(kiln_context_profile(ctx, again, MAX_ROWS), n);
    ck_assert_uint_eq(find(again, n, conv->op)->nodes, 2);
    kiln_context_reset_stats(ctx);
    ck_assert_int_eq(kiln_context_profile(ctx, again, MAX_ROWS), 0);

    /* On again (a second time: the backends keep what they set up the first time). */
    EXPECT_OK(kiln_context_set_profiling(ctx, 1));
    step();
    n = kiln_context_profile(ctx, again, MAX_ROWS);
    ck_assert_int_gt(n, 5);
    ck_assert_uint_eq(find(again, n, "conv2d_bias")->nodes, 1);
}
END_TEST

/* The gradients are computed straight into the store's (the store's gradients are zero
 * at every step, after the optimizer cleared them): the bias gradients too, whose sums
 * reach their sinks through a reshape. SGD clears the gradients as it reads them, so no
 * accumulate is left: the step's optim family is the one update. */
START_TEST(test_direct_gradients)
{
    struct kiln_profile_row rows[MAX_ROWS];
    step();
    EXPECT_OK(kiln_context_set_profiling(ctx, 1));
    kiln_context_reset_stats(ctx);
    step();
    int32_t n = kiln_context_profile(ctx, rows, MAX_ROWS);
    ck_assert_ptr_null(find(rows, n, "accumulate"));
    const struct kiln_profile_row *upd = find(rows, n, "sgd_update");
    ck_assert_ptr_nonnull(upd);
    ck_assert_uint_eq(upd->nodes, 1);
    /* The update left the gradients at zero. */
    float gr[3 * 36];
    EXPECT_OK(kiln_store_read_grad(kiln_graph_store(g), "fw", gr, sizeof(gr)));
    for (int i = 0; i < 3 * 36; i++) {
        ck_assert_msg(gr[i] == 0.0f, "fw's gradient %d is %g after the step", i, (double)gr[i]);
    }
}
END_TEST

/* The planner runs the convolution, its bias and ReLU as one conv2d_bias launch (the
 * ReLU's gradient reads its output, so the sum is not kept; the row kernels of both GPU
 * backends and the CPU's forward convolution add the bias), the ReLU's gradient inside
 * the max-pool's (maxpool2d_relu_bwd), the loss and its gradient as one, and, on the GPU
 * backends, the logits' bias inside their product. */
START_TEST(test_fused_launches)
{
    struct kiln_profile_row rows[MAX_ROWS];
    EXPECT_OK(kiln_context_set_profiling(ctx, 1));
    kiln_context_reset_stats(ctx);
    step();
    int32_t n = kiln_context_profile(ctx, rows, MAX_ROWS);
    const struct kiln_profile_row *fused = find(rows, n, "conv2d_bias");
    const struct kiln_profile_row *relu = find(rows, n, "relu");
    const struct kiln_profile_row *add = find(rows, n, "add");
    const struct kiln_profile_row *pool_relu = find(rows, n, "maxpool2d_relu_bwd");
    /* The logits' product and bias: one matmul_bias on the GPU backends, whose small
     * products are their own kernels (OpenCL's larger ones are CLBlast calls); two
     * launches on the CPU backend (the bias's add the only one: the convolution's is in
     * conv2d_bias). */
    const struct kiln_profile_row *mmb = find(rows, n, "matmul_bias");
    if (strcmp(core_backend, "cpu") != 0) {
        ck_assert_ptr_nonnull(mmb);
        ck_assert_uint_eq(mmb->nodes, 1);
        ck_assert_ptr_null(add);
    } else {
        ck_assert_ptr_null(mmb);
        ck_assert_ptr_nonnull(add);
        ck_assert_uint_eq(add->nodes, 1);
    }
    /* The loss and its gradient: one softmax_xent_fused launch. */
    const struct kiln_profile_row *xent = find(rows, n, "softmax_xent_fused");
    ck_assert_ptr_nonnull(xent);
    ck_assert_uint_eq(xent->nodes, 1);
    ck_assert_str_eq(xent->family, "loss");
    ck_assert_ptr_null(find(rows, n, "softmax_xent"));
    ck_assert_ptr_null(find(rows, n, "softmax_xent_bwd"));
    ck_assert_ptr_null(find(rows, n, "add_relu"));
    ck_assert_ptr_nonnull(fused);
    ck_assert_uint_eq(fused->nodes, 1);
    ck_assert_str_eq(fused->family, "conv");
    ck_assert_ptr_null(find(rows, n, "conv2d"));
    ck_assert_ptr_null(relu);
    ck_assert_ptr_nonnull(pool_relu);
    ck_assert_uint_eq(pool_relu->nodes, 1);
    ck_assert_ptr_null(find(rows, n, "relu_bwd"));
    ck_assert_ptr_null(find(rows, n, "maxpool2d_bwd"));
}
END_TEST

/* The loss read by itself (kiln_graph_eval) is the loss a training run computes, also
 * where the loss is a view of the fused loss-and-gradient node (which must then run). */
START_TEST(test_eval_loss)
{
    float run = 0.0f, ev = -1.0f;
    EXPECT_OK(kiln_graph_run(g));
    EXPECT_OK(kiln_tensor_download(loss, &run, sizeof(run)));
    EXPECT_OK(kiln_store_zero_grad(kiln_graph_store(g)));
    float zero = 0.0f;
    EXPECT_OK(kiln_tensor_upload(loss, &zero, sizeof(zero)));
    EXPECT_OK(kiln_graph_eval(g, 1, &loss));
    EXPECT_OK(kiln_tensor_download(loss, &ev, sizeof(ev)));
    ck_assert_msg(run > 0.5f && ev == run, "run %g, eval %g", (double)run, (double)ev);
}
END_TEST

START_TEST(test_bad_arguments)
{
    struct kiln_profile_row r;
    EXPECT_FAIL(kiln_context_set_profiling(NULL, 1), KILN_E_INVALID_ARG, "ctx is NULL");
    kiln_clear_error();
    ck_assert_int_eq(kiln_context_profile(NULL, &r, 1), KILN_E_INVALID_ARG);
    ck_assert_int_eq(kiln_context_profile(ctx, NULL, 1), KILN_E_INVALID_ARG);
    ck_assert_int_eq(kiln_context_profile(ctx, &r, -1), KILN_E_INVALID_ARG);
    EXPECT_OK(kiln_context_set_profiling(ctx, 1));
    EXPECT_OK(kiln_context_set_profiling(ctx, 1)); /* already on */
}
END_TEST

int main(int argc, char **argv)
{
    int skip = core_parse_args(argc, argv);
    if (skip != 0) {
        return skip;
    }
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("profile");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_counts_launches);
    tcase_add_test(tc, test_profile_rows);
    tcase_add_test(tc, test_direct_gradients);
    tcase_add_test(tc, test_eval_loss);
    tcase_add_test(tc, test_fused_launches);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    return core_run_suite(s);
}
