/*
 * test_errors.c - every kind of caller mistake comes back as a status with a message
 * (STYLE B.4): bad shapes, wrong dtypes, the sticky graph error of builders, calls in the
 * wrong state and NULL arguments. Each case asserts both the status and a substring of
 * kiln_last_error(). Backends, devices and the status tables are in test_status.c;
 * numerical behaviour is tested elsewhere.
 */

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

static kiln_tensor *f32(const char *name, int32_t rank, int64_t d0, int64_t d1)
{
    int64_t dims[2] = {d0, d1};
    return kiln_input(g, name, KILN_DTYPE_F32, rank, dims);
}

static kiln_tensor *i32(const char *name, int64_t d0)
{
    return kiln_input(g, name, KILN_DTYPE_I32, 1, &d0);
}

/* ==== Shapes ==== */

START_TEST(test_matmul_inner_mismatch)
{
    kiln_tensor *r = kiln_matmul(g, f32("a", 2, 2, 3), f32("b", 2, 4, 5), 0, 0);
    ck_assert_ptr_nonnull(r);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_SHAPE, "inner dimensions 3 and 4 differ");
}
END_TEST

START_TEST(test_matmul_transposed_mismatch)
{
    /* a^T is 3x2; b^T is 5x4: inner 2 vs 5. */
    kiln_matmul(g, f32("a", 2, 2, 3), f32("b", 2, 4, 5), 1, 1);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_SHAPE, "inner dimensions 2 and 5 differ");
}
END_TEST

START_TEST(test_matmul_rank_mismatch)
{
    kiln_matmul(g, f32("a", 2, 2, 3), f32("b", 1, 3, 0), 0, 0);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_SHAPE, "matmul: a is [2, 3] and b is [3]");
}
END_TEST

START_TEST(test_add_not_broadcastable)
{
    kiln_add(g, f32("a", 2, 2, 3), f32("b", 1, 4, 0));
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_SHAPE, "add: shapes [2, 3] and [4] do not broadcast");
}
END_TEST

START_TEST(test_add_broadcast_ok)
{
    /* The counterpart that must pass: [2, 3] + [3] and [2, 1] + [1, 3]. */
    kiln_add(g, f32("a", 2, 2, 3), f32("b", 1, 3, 0));
    kiln_mul(g, f32("c", 2, 2, 1), f32("d", 2, 1, 3));
    EXPECT_OK(kiln_graph_status(g));
}
END_TEST

START_TEST(test_reshape_wrong_count)
{
    int64_t dims[2] = {4, 2};
    kiln_reshape(g, f32("x", 2, 2, 3), 2, dims);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_SHAPE, "cannot become [4, 2]");
}
END_TEST

START_TEST(test_reshape_inferred_dim_does_not_divide)
{
    int64_t dims[2] = {-1, 4};
    kiln_reshape(g, f32("x", 2, 2, 3), 2, dims);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_SHAPE, "reshape");
}
END_TEST

START_TEST(test_reshape_two_inferred_dims)
{
    int64_t dims[3] = {-1, -1, 2};
    kiln_reshape(g, f32("x", 2, 2, 3), 3, dims);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_SHAPE, "dimension 1 is -1");
}
END_TEST

START_TEST(test_xent_label_count_mismatch)
{
    kiln_softmax_xent(g, f32("logits", 2, 4, 3), i32("labels", 5));
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_SHAPE,
                "scores 'logits' are [4, 3] but labels 'labels' are [5]");
}
END_TEST

START_TEST(test_mse_shape_mismatch)
{
    kiln_mse_loss(g, f32("pred", 2, 4, 3), f32("target", 2, 3, 4));
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_SHAPE, "mse: input 0 ('pred') is [4, 3]");
}
END_TEST

START_TEST(test_bad_leaf_shapes)
{
    int64_t dims[9] = {1, 2, 3, 4, 5, 1, 2, 3, 4};
    kiln_input(g, "x", KILN_DTYPE_F32, 9, dims);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_SHAPE, "rank 9 is outside 0..8");
}
END_TEST

START_TEST(test_zero_dim)
{
    int64_t dims[2] = {3, 0};
    kiln_param(g, "w", 2, dims, KILN_INIT_ZEROS, 0.0f, 1);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_SHAPE, "dimension 1 is 0; must be positive");
}
END_TEST

START_TEST(test_backward_needs_scalar)
{
    kiln_tensor *w = kiln_param(g, "w", 2, (int64_t[]){2, 3}, KILN_INIT_ONES, 0.0f, 1);
    EXPECT_FAIL(kiln_graph_backward(g, kiln_relu(g, w)), KILN_E_SHAPE,
                "must be an f32 scalar, is f32 [2, 3]");
}
END_TEST

/* ==== Dtypes ==== */

START_TEST(test_relu_i32)
{
    kiln_relu(g, i32("x", 4));
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_DTYPE, "relu: input 0 ('x') is i32, expected f32");
}
END_TEST

START_TEST(test_xent_f32_labels)
{
    kiln_softmax_xent(g, f32("logits", 2, 4, 3), f32("labels", 1, 4, 0));
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_DTYPE, "input 1 ('labels') is f32, expected i32");
}
END_TEST

START_TEST(test_matmul_i32)
{
    kiln_matmul(g, f32("a", 2, 2, 3), kiln_input(g, "b", KILN_DTYPE_I32, 2, (int64_t[]){3, 2}), 0,
                0);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_DTYPE, "matmul: input 1 ('b') is i32");
}
END_TEST

START_TEST(test_unknown_dtype)
{
    kiln_input(g, "x", (kiln_dtype)7, 1, (int64_t[]){3});
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_DTYPE, "unknown dtype 7");
}
END_TEST

/* ==== Sticky graph errors ==== */

START_TEST(test_sticky_first_error_wins)
{
    kiln_tensor *x = f32("x", 2, 2, 3);
    int32_t n_before = kiln_graph_n_nodes(g);
    kiln_tensor *bad = kiln_matmul(g, x, f32("w", 2, 4, 5), 0, 0); /* first error: shape */
    int32_t n_after_error = kiln_graph_n_nodes(g);
    ck_assert_int_eq(n_after_error, n_before + 1); /* w was added, the matmul was not */
    /* Later builders pass the poison through and add nothing, even valid ones. */
    kiln_tensor *r = kiln_relu(g, kiln_add(g, bad, x));
    ck_assert_ptr_eq(r, bad);
    kiln_tensor *ok = kiln_relu(g, x);
    ck_assert_ptr_eq(ok, bad);
    kiln_relu(g, i32("labels", 2)); /* a second, different error is not recorded */
    ck_assert_int_eq(kiln_graph_n_nodes(g), n_after_error);
    ck_assert_str_eq(kiln_tensor_name(bad), "<error>");
    ck_assert_int_eq(kiln_tensor_n_elems(bad), 0);
    /* The message is the first one even after the thread's error was cleared. */
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_SHAPE, "inner dimensions 3 and 4 differ");
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_SHAPE, "inner dimensions 3 and 4 differ");
}
END_TEST

START_TEST(test_sticky_error_from_backward_and_optimizer)
{
    kiln_tensor *w = kiln_param(g, "w", 1, (int64_t[]){3}, KILN_INIT_ONES, 0.0f, 1);
    kiln_tensor *loss = kiln_mse_loss(g, w, f32("t", 1, 3, 0));
    kiln_add(g, w, f32("u", 1, 4, 0)); /* poisons */
    EXPECT_FAIL(kiln_graph_backward(g, loss), KILN_E_SHAPE, "do not broadcast");
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    kiln_optimizer *opt = NULL;
    EXPECT_OK(kiln_optimizer_create(kiln_graph_store(g), &oo, &opt));
    EXPECT_FAIL(kiln_train_step(g, opt), KILN_E_SHAPE, "do not broadcast");
    ck_assert_int_eq(kiln_optimizer_steps(opt), 0);
}
END_TEST

START_TEST(test_sticky_error_from_compile)
{
    kiln_relu(g, i32("x", 4));
    EXPECT_FAIL(kiln_graph_compile(g), KILN_E_DTYPE, "relu: input 0 ('x') is i32");
    /* Still the same error on a second try. */
    EXPECT_FAIL(kiln_graph_compile(g), KILN_E_DTYPE, "relu: input 0 ('x') is i32");
}
END_TEST

START_TEST(test_sticky_error_from_run)
{
    /* graph.h: the first error comes back from kiln_graph_status, compile and run. */
    kiln_relu(g, i32("x", 4));
    EXPECT_FAIL(kiln_graph_run(g), KILN_E_DTYPE, "relu: input 0 ('x') is i32");
}
END_TEST

START_TEST(test_builder_after_compile_poisons_run)
{
    kiln_tensor *x = f32("x", 1, 4, 0);
    kiln_tensor *y = kiln_tensor_keep(kiln_relu(g, x));
    EXPECT_OK(kiln_graph_compile(g));
    kiln_tensor *late = kiln_relu(g, y);
    ck_assert_int_ne(kiln_tensor_n_elems(late), 4);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_STATE, "already compiled");
    EXPECT_FAIL(kiln_graph_run(g), KILN_E_STATE, "already compiled");
}
END_TEST

START_TEST(test_eval_of_poisoned_tensor)
{
    /* A tensor returned by a failed builder after compile is not a node of the graph:
     * evaluating it must fail cleanly (under ASan: without touching memory outside
     * the graph's bookkeeping). */
    kiln_tensor *x = f32("x", 1, 4, 0);
    kiln_tensor_keep(kiln_relu(g, x));
    EXPECT_OK(kiln_graph_compile(g));
    kiln_tensor *late = kiln_relu(g, x);
    kiln_clear_error();
    kiln_status s = kiln_graph_eval(g, 1, &late);
    ck_assert_msg(s != KILN_OK, "eval of a poisoned tensor returned KILN_OK");
}
END_TEST

/* ==== State ==== */

START_TEST(test_upload_before_compile)
{
    kiln_tensor *x = f32("x", 1, 4, 0);
    float v[4] = {0};
    EXPECT_FAIL(kiln_tensor_upload(x, v, sizeof(v)), KILN_E_STATE,
                "kiln_tensor_upload('x'): compile the graph first");
    EXPECT_FAIL(kiln_tensor_download(x, v, sizeof(v)), KILN_E_STATE, "compile the graph first");
}
END_TEST

START_TEST(test_download_not_kept)
{
    kiln_tensor *x = f32("x", 1, 4, 0);
    kiln_tensor *h = kiln_relu(g, x);
    kiln_tensor *y = kiln_tensor_keep(kiln_sigmoid(g, h));
    EXPECT_OK(kiln_graph_compile(g));
    float v[4] = {1, -2, 3, -4};
    EXPECT_OK(kiln_tensor_upload(x, v, sizeof(v)));
    EXPECT_OK(kiln_graph_run(g));
    EXPECT_FAIL(kiln_tensor_download(h, v, sizeof(v)), KILN_E_STATE, "kiln_tensor_keep()");
    EXPECT_FAIL(kiln_tensor_upload(h, v, sizeof(v)), KILN_E_STATE, "kiln_tensor_keep()");
    EXPECT_OK(kiln_tensor_download(y, v, sizeof(v)));
}
END_TEST

START_TEST(test_transfer_wrong_size)
{
    kiln_tensor *x = f32("x", 1, 4, 0);
    kiln_tensor_keep(kiln_relu(g, x));
    EXPECT_OK(kiln_graph_compile(g));
    float v[5] = {0};
    EXPECT_FAIL(kiln_tensor_upload(x, v, sizeof(v)), KILN_E_INVALID_ARG,
                "20 bytes given, the tensor has 16");
    EXPECT_FAIL(kiln_tensor_download(x, v, 8), KILN_E_INVALID_ARG, "8 bytes given");
}
END_TEST

START_TEST(test_compile_twice)
{
    kiln_tensor_keep(kiln_relu(g, f32("x", 1, 4, 0)));
    EXPECT_OK(kiln_graph_compile(g));
    EXPECT_FAIL(kiln_graph_compile(g), KILN_E_STATE, "already compiled");
}
END_TEST

START_TEST(test_backward_twice)
{
    kiln_tensor *w = kiln_param(g, "w", 1, (int64_t[]){3}, KILN_INIT_ONES, 0.0f, 1);
    kiln_tensor *loss = kiln_mse_loss(g, w, f32("t", 1, 3, 0));
    EXPECT_OK(kiln_graph_backward(g, loss));
    EXPECT_FAIL(kiln_graph_backward(g, loss), KILN_E_STATE, "already differentiated");
}
END_TEST

START_TEST(test_backward_after_compile)
{
    kiln_tensor *w = kiln_param(g, "w", 1, (int64_t[]){3}, KILN_INIT_ONES, 0.0f, 1);
    kiln_tensor *loss = kiln_tensor_keep(kiln_mse_loss(g, w, f32("t", 1, 3, 0)));
    EXPECT_OK(kiln_graph_compile(g));
    EXPECT_FAIL(kiln_graph_backward(g, loss), KILN_E_STATE, "already compiled");
}
END_TEST

START_TEST(test_builders_after_compile)
{
    kiln_tensor *x = f32("x", 1, 4, 0);
    kiln_tensor_keep(kiln_relu(g, x));
    EXPECT_OK(kiln_graph_compile(g));
    kiln_input(g, "late", KILN_DTYPE_F32, 1, (int64_t[]){4});
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_STATE, "already compiled");
}
END_TEST

START_TEST(test_keep_after_compile)
{
    kiln_tensor *x = f32("x", 1, 4, 0);
    kiln_tensor *h = kiln_relu(g, x);
    kiln_tensor_keep(kiln_exp(g, h));
    EXPECT_OK(kiln_graph_compile(g));
    kiln_tensor_keep(h);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_STATE, "kiln_tensor_keep('relu#1')");
}
END_TEST

START_TEST(test_run_before_compile)
{
    kiln_tensor *y = kiln_relu(g, f32("x", 1, 4, 0));
    EXPECT_FAIL(kiln_graph_run(g), KILN_E_STATE, "kiln_graph_run: compile the graph first");
    EXPECT_FAIL(kiln_graph_eval(g, 1, &y), KILN_E_STATE, "compile the graph first");
    EXPECT_FAIL(kiln_graph_reset_params(g), KILN_E_STATE, "not compiled");
}
END_TEST

START_TEST(test_step_before_compile)
{
    kiln_tensor *w = kiln_param(g, "w", 1, (int64_t[]){3}, KILN_INIT_ONES, 0.0f, 1);
    kiln_tensor *loss = kiln_mse_loss(g, w, f32("t", 1, 3, 0));
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    kiln_optimizer *opt = NULL;
    EXPECT_OK(kiln_graph_backward(g, loss));
    EXPECT_OK(kiln_optimizer_create(kiln_graph_store(g), &oo, &opt));
    EXPECT_FAIL(kiln_train_step(g, opt), KILN_E_STATE, "compile the graph first");
    ck_assert_int_eq(kiln_optimizer_steps(opt), 0);
}
END_TEST

START_TEST(test_duplicate_name)
{
    f32("x", 1, 4, 0);
    kiln_param(g, "x", 1, (int64_t[]){4}, KILN_INIT_ZEROS, 0.0f, 1);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_INVALID_ARG, "tensor name 'x' is already used");
}
END_TEST

START_TEST(test_tensor_of_other_graph)
{
    kiln_graph *g2 = NULL;
    EXPECT_OK(kiln_graph_create(ctx, &g2));
    kiln_tensor *mine = f32("mine", 1, 4, 0);
    int64_t d = 4;
    kiln_tensor *other = kiln_input(g2, "x", KILN_DTYPE_F32, 1, &d);
    kiln_relu(g, other);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_INVALID_ARG, "relu: input 0 belongs to another graph");
    EXPECT_OK(kiln_graph_status(g2));
    kiln_tensor *y = kiln_tensor_keep(kiln_relu(g2, other));
    EXPECT_OK(kiln_graph_compile(g2));
    EXPECT_FAIL(kiln_graph_eval(g2, 1, &mine), KILN_E_INVALID_ARG, "target 0 is not of this graph");
    EXPECT_OK(kiln_graph_eval(g2, 1, &y));
    kiln_graph_destroy(g2);
}
END_TEST

START_TEST(test_bad_optimizer_options)
{
    kiln_store *s = kiln_graph_store(g);
    kiln_optimizer *opt = NULL;
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.lr = -1.0f;
    EXPECT_FAIL(kiln_optimizer_create(s, &oo, &opt), KILN_E_INVALID_ARG, "must be >= 0");
    oo.lr = 0.1f;
    oo.nesterov = 1;
    EXPECT_FAIL(kiln_optimizer_create(s, &oo, &opt), KILN_E_INVALID_ARG, "Nesterov");
    oo.nesterov = 0;
    oo.kind = KILN_OPTIM_ADAM;
    oo.beta1 = 1.0f;
    EXPECT_FAIL(kiln_optimizer_create(s, &oo, &opt), KILN_E_INVALID_ARG, "Adam needs");
    oo.kind = (kiln_optim_kind)9;
    EXPECT_FAIL(kiln_optimizer_create(s, &oo, &opt), KILN_E_INVALID_ARG, "unknown kind 9");
    oo.kind = KILN_OPTIM_SGD;
    oo.clip_norm = -1.0f;
    EXPECT_FAIL(kiln_optimizer_create(s, &oo, &opt), KILN_E_INVALID_ARG, "clip_norm -1");
    oo.clip_norm = 0.0f;
    oo.grad_scale = 0.0f;
    EXPECT_FAIL(kiln_optimizer_create(s, &oo, &opt), KILN_E_INVALID_ARG, "grad_scale 0");
    oo.kind = KILN_OPTIM_SGD;
    oo.struct_size = 4;
    EXPECT_FAIL(kiln_optimizer_create(s, &oo, &opt), KILN_E_INVALID_ARG,
                "struct_size 4 is too small");
    ck_assert_ptr_null(opt);
}
END_TEST

START_TEST(test_bad_initializer)
{
    kiln_param(g, "w", 1, (int64_t[]){3}, (kiln_init)99, 0.0f, 1);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_INVALID_ARG, "unknown initializer 99");
}
END_TEST

START_TEST(test_long_name)
{
    /* Names are stored in 64 bytes: a longer one must not be cut silently (it could
     * then neither be found nor told apart from another with the same prefix). */
    char name[91];
    memset(name, 'b', 90);
    name[90] = '\0';
    kiln_input(g, name, KILN_DTYPE_F32, 1, (int64_t[]){4});
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_INVALID_ARG, "is longer than 63 bytes");
}
END_TEST

START_TEST(test_long_name_at_limit)
{
    char name[64];
    memset(name, 'c', 63);
    name[63] = '\0';
    kiln_tensor *x = kiln_input(g, name, KILN_DTYPE_F32, 1, (int64_t[]){4});
    EXPECT_OK(kiln_graph_status(g));
    ck_assert_ptr_eq(kiln_graph_find(g, name), x);
}
END_TEST

START_TEST(test_adam_long_param_name)
{
    /* Adam's two state tensors are named after the parameter; with a 56-byte name the
     * names "<name>.exp_avg" and "<name>.exp_avg_sq" must still be distinct. */
    char name[57];
    memset(name, 'p', 56);
    name[56] = '\0';
    kiln_tensor *w = kiln_param(g, name, 1, (int64_t[]){3}, KILN_INIT_ONES, 0.0f, 1);
    kiln_tensor *loss = kiln_mse_loss(g, w, f32("t", 1, 3, 0));
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    kiln_optimizer *opt = NULL;
    oo.kind = KILN_OPTIM_ADAM;
    EXPECT_OK(kiln_graph_backward(g, loss));
    EXPECT_OK(kiln_optimizer_create(kiln_graph_store(g), &oo, &opt));
    EXPECT_OK(kiln_graph_compile(g));
    EXPECT_OK(kiln_train_step(g, opt));
}
END_TEST

START_TEST(test_backward_loss_of_other_graph)
{
    kiln_graph *g2 = NULL;
    EXPECT_OK(kiln_graph_create(ctx, &g2));
    int64_t d = 1;
    kiln_tensor *w = kiln_param(g2, "w", 1, &d, KILN_INIT_ONES, 0.0f, 1);
    kiln_tensor *loss = kiln_mse_loss(g2, w, kiln_input(g2, "t", KILN_DTYPE_F32, 1, &d));
    EXPECT_FAIL(kiln_graph_backward(g, loss), KILN_E_INVALID_ARG, "loss belongs to another graph");
    kiln_graph_destroy(g2);
}
END_TEST

START_TEST(test_bad_axes)
{
    kiln_tensor *x = f32("x", 2, 2, 3);
    kiln_sum(g, x, 0x4u, 0);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_INVALID_ARG, "axes mask 0x4 names dims beyond rank 2");
}
END_TEST

START_TEST(test_bad_perm)
{
    kiln_transpose(g, f32("x", 2, 2, 3), (int32_t[]){0, 0});
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_INVALID_ARG, "perm is not a permutation of 0..1");
}
END_TEST

/* ==== NULL arguments ==== */

START_TEST(test_null_arguments)
{
    kiln_context *c2 = NULL;
    kiln_graph *g2 = NULL;
    float v[4] = {0};
    EXPECT_FAIL(kiln_context_create(NULL, NULL), KILN_E_INVALID_ARG, "out is NULL");
    EXPECT_FAIL(kiln_graph_create(NULL, &g2), KILN_E_INVALID_ARG, "kiln_graph_create");
    EXPECT_FAIL(kiln_graph_create(ctx, NULL), KILN_E_INVALID_ARG, "kiln_graph_create");
    EXPECT_FAIL(kiln_graph_status(NULL), KILN_E_INVALID_ARG, "graph is NULL");
    EXPECT_FAIL(kiln_graph_compile(NULL), KILN_E_INVALID_ARG, "graph is NULL");
    EXPECT_FAIL(kiln_graph_run(NULL), KILN_E_INVALID_ARG, "graph is NULL");
    EXPECT_FAIL(kiln_graph_eval(NULL, 0, NULL), KILN_E_INVALID_ARG, "graph is NULL");
    EXPECT_FAIL(kiln_graph_backward(NULL, NULL), KILN_E_INVALID_ARG, "NULL argument");
    EXPECT_FAIL(kiln_graph_backward(g, NULL), KILN_E_INVALID_ARG, "NULL argument");
    EXPECT_FAIL(kiln_graph_reset_params(NULL), KILN_E_STATE, "kiln_graph_reset_params");
    EXPECT_FAIL(kiln_tensor_upload(NULL, v, sizeof(v)), KILN_E_INVALID_ARG, "tensor is NULL");
    EXPECT_FAIL(kiln_tensor_download(NULL, v, sizeof(v)), KILN_E_INVALID_ARG, "tensor is NULL");
    EXPECT_FAIL(kiln_optimizer_create(NULL, NULL, NULL), KILN_E_INVALID_ARG, "NULL argument");
    EXPECT_FAIL(kiln_optimizer_step(NULL), KILN_E_INVALID_ARG, "optimizer is NULL");
    int32_t n = 0;
    EXPECT_FAIL(kiln_backend_devices(NULL, NULL, 0, &n), KILN_E_INVALID_ARG, "NULL argument");
    EXPECT_FAIL(kiln_backend_devices("cpu", NULL, 1, &n), KILN_E_INVALID_ARG, "NULL argument");
    EXPECT_FAIL(kiln_backend_devices("cpu", NULL, 0, NULL), KILN_E_INVALID_ARG, "NULL argument");
    /* Builders on a NULL graph return NULL; NULL inputs poison the graph. */
    ck_assert_ptr_null(kiln_input(NULL, "x", KILN_DTYPE_F32, 1, (int64_t[]){4}));
    ck_assert_ptr_null(kiln_param(NULL, "w", 1, (int64_t[]){4}, KILN_INIT_ZEROS, 0, 1));
    ck_assert_ptr_null(kiln_reshape(NULL, NULL, 0, NULL));
    /* Destroying NULL is a no-op. */
    kiln_graph_destroy(NULL);
    kiln_context_destroy(NULL);
    ck_assert_ptr_null(c2);
    ck_assert_ptr_null(g2);
}
END_TEST

START_TEST(test_null_builder_input)
{
    kiln_matmul(g, NULL, f32("b", 2, 3, 3), 0, 0);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_INVALID_ARG, "matmul: input 0 is NULL");
}
END_TEST

START_TEST(test_null_param_name)
{
    kiln_param(g, NULL, 1, (int64_t[]){4}, KILN_INIT_ZEROS, 0.0f, 1);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_INVALID_ARG, "a parameter needs a name");
}
END_TEST

START_TEST(test_null_dims)
{
    kiln_input(g, "x", KILN_DTYPE_F32, 2, NULL);
    EXPECT_FAIL(kiln_graph_status(g), KILN_E_SHAPE, "rank 2 is outside");
}
END_TEST

START_TEST(test_null_transfer_pointer)
{
    kiln_tensor *x = f32("x", 1, 4, 0);
    kiln_tensor_keep(kiln_relu(g, x));
    EXPECT_OK(kiln_graph_compile(g));
    EXPECT_FAIL(kiln_tensor_upload(x, NULL, 16), KILN_E_INVALID_ARG, "src is NULL");
    EXPECT_FAIL(kiln_tensor_download(x, NULL, 16), KILN_E_INVALID_ARG, "dst is NULL");
    EXPECT_FAIL(kiln_graph_eval(g, 1, NULL), KILN_E_INVALID_ARG, "bad target list");
    EXPECT_FAIL(kiln_graph_eval(g, 1, (kiln_tensor *[]){NULL}), KILN_E_INVALID_ARG,
                "target 0 is not of this graph");
}
END_TEST

static Suite *errors_suite(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("shapes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_matmul_inner_mismatch);
    tcase_add_test(tc, test_matmul_transposed_mismatch);
    tcase_add_test(tc, test_matmul_rank_mismatch);
    tcase_add_test(tc, test_add_not_broadcastable);
    tcase_add_test(tc, test_add_broadcast_ok);
    tcase_add_test(tc, test_reshape_wrong_count);
    tcase_add_test(tc, test_reshape_inferred_dim_does_not_divide);
    tcase_add_test(tc, test_reshape_two_inferred_dims);
    tcase_add_test(tc, test_xent_label_count_mismatch);
    tcase_add_test(tc, test_mse_shape_mismatch);
    tcase_add_test(tc, test_bad_leaf_shapes);
    tcase_add_test(tc, test_zero_dim);
    tcase_add_test(tc, test_backward_needs_scalar);
    suite_add_tcase(s, tc);

    tc = tcase_create("dtypes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_relu_i32);
    tcase_add_test(tc, test_xent_f32_labels);
    tcase_add_test(tc, test_matmul_i32);
    tcase_add_test(tc, test_unknown_dtype);
    suite_add_tcase(s, tc);

    tc = tcase_create("sticky");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_sticky_first_error_wins);
    tcase_add_test(tc, test_sticky_error_from_backward_and_optimizer);
    tcase_add_test(tc, test_sticky_error_from_compile);
    tcase_add_test(tc, test_sticky_error_from_run);
    tcase_add_test(tc, test_builder_after_compile_poisons_run);
    tcase_add_test(tc, test_eval_of_poisoned_tensor);
    suite_add_tcase(s, tc);

    tc = tcase_create("state");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_upload_before_compile);
    tcase_add_test(tc, test_download_not_kept);
    tcase_add_test(tc, test_transfer_wrong_size);
    tcase_add_test(tc, test_compile_twice);
    tcase_add_test(tc, test_backward_twice);
    tcase_add_test(tc, test_backward_after_compile);
    tcase_add_test(tc, test_builders_after_compile);
    tcase_add_test(tc, test_keep_after_compile);
    tcase_add_test(tc, test_run_before_compile);
    tcase_add_test(tc, test_step_before_compile);
    tcase_add_test(tc, test_duplicate_name);
    tcase_add_test(tc, test_tensor_of_other_graph);
    tcase_add_test(tc, test_bad_optimizer_options);
    tcase_add_test(tc, test_bad_initializer);
    tcase_add_test(tc, test_long_name);
    tcase_add_test(tc, test_long_name_at_limit);
    tcase_add_test(tc, test_adam_long_param_name);
    tcase_add_test(tc, test_backward_loss_of_other_graph);
    tcase_add_test(tc, test_bad_axes);
    tcase_add_test(tc, test_bad_perm);
    suite_add_tcase(s, tc);

    tc = tcase_create("null");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_null_arguments);
    tcase_add_test(tc, test_null_builder_input);
    tcase_add_test(tc, test_null_param_name);
    tcase_add_test(tc, test_null_dims);
    tcase_add_test(tc, test_null_transfer_pointer);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    return core_run_suite(errors_suite());
}
