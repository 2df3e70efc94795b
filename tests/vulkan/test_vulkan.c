/*
 * test_vulkan.c - the Vulkan backend: device listing and selection, transfers at odd
 * offsets on every memory path (mapped, staging, non-coherent), graphs checked node by
 * node against the CPU reference (KILN_CHECK), deliberate KILN_CHECK faults (in a fused
 * dense layer and a fused convolution layer), one submission and one host wait per
 * training step, the workgroup reductions on both variants (subgroup operations,
 * shared memory), and the storage-range limit. Every
 * test runs under VK_LAYER_KHRONOS_validation (KILN_VK_VALIDATION, enabled here unless
 * the caller set it) and fails on any validation warning or error. Exits 77 (SKIP)
 * when there is no Vulkan loader, driver or device.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/vulkan/vk_impl.h"
#include "context_impl.h"
#include "kiln.h"

#define SKIP 77

static kiln_context *open_ctx(int check)
{
    kiln_context *ctx = NULL;
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = "vulkan";
    o.check = check;
    kiln_status s = kiln_context_create(&o, &ctx);
    ck_assert_msg(s == KILN_OK, "context: %s", kiln_last_error());
    return ctx;
}

/* Fails the test on any validation message, then destroys the context. */
static void close_ctx(kiln_context *ctx)
{
    uint32_t n = kiln__vk_validation_count(&ctx->be);
    kiln_context_destroy(ctx);
    ck_assert_msg(n == 0, "%u validation message(s); run with KILN_LOG=warn to see them", n);
}

/* ==== Devices ==== */

START_TEST(test_devices)
{
    struct kiln_device_info info[8];
    int32_t n = 0;
    ck_assert_int_eq(kiln_backend_devices("vulkan", info, 8, &n), KILN_OK);
    ck_assert_int_ge(n, 1);
    ck_assert_msg(strstr(info[0].details, "maxStorageBufferRange") != NULL, "%s", info[0].details);
    ck_assert_msg(strstr(info[0].details, "subgroup size") != NULL, "%s", info[0].details);
    ck_assert(info[0].name[0] != '\0' && info[0].type[0] != '\0');

    /* By index, by a case-swapped name substring, and a name that matches nothing. */
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx;
    o.backend = "vulkan";
    o.device = "0";
    ck_assert_int_eq(kiln_context_create(&o, &ctx), KILN_OK);
    ck_assert_str_eq(kiln_context_device(ctx), info[0].name);
    close_ctx(ctx);
    char sub[8];
    snprintf(sub, sizeof(sub), "%.4s", info[0].name);
    for (char *c = sub; *c; c++) {
        *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : (*c >= 'A' && *c <= 'Z' ? *c + 32 : *c));
    }
    o.device = sub;
    ck_assert_msg(kiln_context_create(&o, &ctx) == KILN_OK, "%s", kiln_last_error());
    close_ctx(ctx);
    o.device = "no-such-gpu";
    ck_assert_int_eq(kiln_context_create(&o, &ctx), KILN_E_BACKEND_UNAVAILABLE);
    ck_assert_msg(strstr(kiln_last_error(), "no-such-gpu") != NULL, "%s", kiln_last_error());
    o.device = "99";
    ck_assert_int_eq(kiln_context_create(&o, &ctx), KILN_E_BACKEND_UNAVAILABLE);
}
END_TEST

/* ==== Transfers ==== */

static const char *const modes[][2] = {
    {NULL, NULL},
    {"KILN_VK_FORCE_STAGING", NULL},
    {"KILN_VK_FORCE_NONCOHERENT", NULL},
    {"KILN_VK_FORCE_STAGING", "KILN_VK_FORCE_NONCOHERENT"},
};

static void set_mode(int i, int on)
{
    for (int k = 0; k < 2; k++) {
        if (modes[i][k] != NULL) {
            if (on) {
                setenv(modes[i][k], "1", 1);
            } else {
                unsetenv(modes[i][k]);
            }
        }
    }
}

START_TEST(test_roundtrip)
{
    set_mode(_i, 1);
    kiln_context *ctx = open_ctx(0);
    struct kiln_backend *be = &ctx->be;
    struct kiln_buffer *buf;
    enum { N = 5000 };
    unsigned char src[N], dst[N];
    for (int i = 0; i < N; i++) {
        src[i] = (unsigned char)(i * 7 + 3);
    }
    ck_assert_int_eq(be->ops->buffer_alloc(be, N, &buf), KILN_OK);
    static const size_t offs[][2] = {{0, N}, {1, 5}, {7, 101}, {333, 4000}, {4999, 1}, {65, 64}};
    for (size_t k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
        size_t off = offs[k][0], len = offs[k][1];
        ck_assert_int_eq(be->ops->upload(be, buf, off, src + k, len), KILN_OK);
        memset(dst, 0, sizeof(dst));
        ck_assert_int_eq(be->ops->download(be, buf, off, dst, len), KILN_OK);
        ck_assert_msg(memcmp(dst, src + k, len) == 0, "mode %d: bytes %zu+%zu differ", _i, off,
                      len);
    }
    /* Bytes outside an upload keep their value. */
    ck_assert_int_eq(be->ops->upload(be, buf, 0, src, N), KILN_OK);
    ck_assert_int_eq(be->ops->upload(be, buf, 100, src + 500, 3), KILN_OK);
    ck_assert_int_eq(be->ops->download(be, buf, 0, dst, N), KILN_OK);
    ck_assert(memcmp(dst, src, 100) == 0 && memcmp(dst + 100, src + 500, 3) == 0);
    ck_assert(memcmp(dst + 103, src + 103, N - 103) == 0);
    be->ops->buffer_free(be, buf);
    close_ctx(ctx);
    set_mode(_i, 0);
}
END_TEST

/* ==== Training ==== */

struct mlp {
    kiln_graph *g;
    kiln_tensor *x, *y, *loss, *h;
    kiln_optimizer *opt;
};

static void mlp_build(kiln_context *ctx, struct mlp *m, kiln_optim_kind kind)
{
    int64_t xd[2] = {64, 2}, yd[1] = {64}, w1d[2] = {16, 2}, b1d[1] = {16}, w2d[2] = {2, 16},
            b2d[1] = {2};
    ck_assert_int_eq(kiln_graph_create(ctx, &m->g), KILN_OK);
    kiln_graph *g = m->g;
    m->x = kiln_input(g, "x", KILN_DTYPE_F32, 2, xd);
    m->y = kiln_input(g, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *w1 = kiln_param(g, "w1", 2, w1d, KILN_INIT_HE_UNIFORM, 0, 1);
    kiln_tensor *b1 = kiln_param(g, "b1", 1, b1d, KILN_INIT_ZEROS, 0, 1);
    kiln_tensor *w2 = kiln_param(g, "w2", 2, w2d, KILN_INIT_XAVIER_UNIFORM, 0, 1);
    kiln_tensor *b2 = kiln_param(g, "b2", 1, b2d, KILN_INIT_ZEROS, 0, 1);
    m->h = kiln_relu(g, kiln_add(g, kiln_matmul(g, m->x, w1, 0, 1), b1));
    kiln_tensor *logits = kiln_add(g, kiln_matmul(g, m->h, w2, 0, 1), b2);
    m->loss = kiln_tensor_keep(kiln_softmax_xent(g, logits, m->y));
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.kind = kind;
    oo.lr = kind == KILN_OPTIM_SGD ? 0.1f : 0.01f;
    oo.momentum = 0.9f;
    ck_assert_int_eq(kiln_graph_backward(g, m->loss), KILN_OK);
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(kiln_optimizer_create(kiln_graph_store(g), &oo, &m->opt), KILN_OK);
}

static kiln_status mlp_step(struct mlp *m, unsigned *seed, float *loss)
{
    float xs[128];
    int32_t ys[64];
    for (int i = 0; i < 64; i++) {
        float a = (float)rand_r(seed) / RAND_MAX * 2 - 1,
              b = (float)rand_r(seed) / RAND_MAX * 2 - 1;
        xs[2 * i] = a;
        xs[2 * i + 1] = b;
        ys[i] = a * b > 0;
    }
    KILN_TRY(kiln_tensor_upload(m->x, xs, sizeof(xs)));
    KILN_TRY(kiln_tensor_upload(m->y, ys, sizeof(ys)));
    KILN_TRY(kiln_train_step(m->g, m->opt));
    return kiln_tensor_download(m->loss, loss, sizeof(*loss));
}

START_TEST(test_mlp_checked)
{
    kiln_context *ctx = open_ctx(1);
    struct mlp m;
    unsigned seed = 1;
    float first = 0, last = 0;
    mlp_build(ctx, &m, _i == 0 ? KILN_OPTIM_SGD : KILN_OPTIM_ADAM);
    for (int step = 0; step < 100; step++) {
        ck_assert_msg(mlp_step(&m, &seed, &last) == KILN_OK, "step %d: %s", step,
                      kiln_last_error());
        first = step == 0 ? last : first;
    }
    ck_assert_msg(last < 0.5f * first, "loss %g -> %g", first, last);
    kiln_graph_destroy(m.g);
    close_ctx(ctx);
}
END_TEST

START_TEST(test_check_fault)
{
    kiln_context *ctx = open_ctx(1);
    struct mlp m;
    unsigned seed = 2;
    float loss;
    mlp_build(ctx, &m, KILN_OPTIM_SGD);
    /* The node computing h: the planner fused the product, its bias and the ReLU into
     * one matmul_bias node, of which h is a view; the report names it and its op. */
    int op = m.h->view_root->op;
    char want[64];
    snprintf(want, sizeof(want), "op %s", kiln__op_name(op));
    kiln__context_set_fault(ctx, op);
    ck_assert_int_eq(mlp_step(&m, &seed, &loss), KILN_E_CHECK);
    const char *msg = kiln_last_error();
    ck_assert_int_eq(op, KILN_OP_MATMUL_BIAS);
    ck_assert_msg(strstr(msg, want) != NULL && strstr(msg, m.h->view_root->name) != NULL, "%s",
                  msg);
    kiln__context_set_fault(ctx, -1);
    ck_assert_msg(mlp_step(&m, &seed, &loss) == KILN_OK, "%s", kiln_last_error());
    kiln_graph_destroy(m.g);
    close_ctx(ctx);
}
END_TEST

/* A convolution layer under KILN_CHECK with a fault in CONV2D_BIAS: relu(conv2d(x, w) + b
 * as [6, 1, 1]), 5x5 pad 2 (LeNet's conv1), of which the planner makes one conv2d_bias
 * node (the row kernels add the bias and ReLU); the report names that node and its op,
 * and without the fault the same graph runs clean. */
static void conv_layer_fault(kiln_context *ctx)
{
    kiln_graph *g;
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    int64_t xd[4] = {3, 1, 28, 28}, wd[4] = {6, 1, 5, 5}, bd[1] = {6}, b3[3] = {6, 1, 1};
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
    kiln_tensor *w = kiln_param(g, "w", 4, wd, KILN_INIT_UNIFORM, 0.5f, 3);
    kiln_tensor *b = kiln_param(g, "b", 1, bd, KILN_INIT_UNIFORM, 0.5f, 4);
    struct kiln_conv2d_opts o = KILN_CONV2D_OPTS_INIT;
    o.padding[0] = o.padding[1] = 2;
    kiln_tensor *y = kiln_relu(g, kiln_add(g, kiln_conv2d(g, x, w, &o), kiln_reshape(g, b, 3, b3)));
    kiln_tensor_keep(y);
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    static float xv[3 * 28 * 28];
    for (size_t i = 0; i < sizeof(xv) / 4; i++) {
        xv[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    }
    ck_assert_int_eq(kiln_tensor_upload(x, xv, sizeof(xv)), KILN_OK);
    int op = y->view_root->op;
    char want[64];
    snprintf(want, sizeof(want), "op %s", kiln__op_name(op));
    ck_assert_int_eq(op, KILN_OP_CONV2D_BIAS);
    kiln__context_set_fault(ctx, op);
    ck_assert_int_eq(kiln_graph_eval(g, 1, &y), KILN_E_CHECK);
    const char *msg = kiln_last_error();
    ck_assert_msg(strstr(msg, want) != NULL && strstr(msg, y->view_root->name) != NULL, "%s", msg);
    kiln__context_set_fault(ctx, -1);
    ck_assert_msg(kiln_graph_eval(g, 1, &y) == KILN_OK, "%s", kiln_last_error());
    kiln_graph_destroy(g);
}

START_TEST(test_check_fault_conv)
{
    kiln_context *ctx = open_ctx(1);
    conv_layer_fault(ctx);
    close_ctx(ctx);
}
END_TEST

/* The first fused MATMUL_DB node of g that carries its rider (a layer's weight and bias
 * gradients), and how many there are. */
static struct kiln_tensor *db_node(const kiln_graph *g, int *n_found)
{
    struct kiln_tensor *first = NULL;
    *n_found = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *n = g->nodes[i];
        if (n->op == KILN_OP_MATMUL_DB && n->n_src == 3 && n->src[2]->writer == n) {
            first = first != NULL ? first : n;
            (*n_found)++;
        }
    }
    return first;
}

/* Both dense layers' bias gradients ride on their weight gradients' products; a wrong
 * bias gradient (the first fused node's rider): KILN_CHECK names that node, its op and
 * the written input. */
START_TEST(test_check_fault_db)
{
    kiln_context *ctx = open_ctx(1);
    struct mlp m;
    unsigned seed = 2;
    float loss;
    mlp_build(ctx, &m, KILN_OPTIM_SGD);
    int n_db;
    struct kiln_tensor *f = db_node(m.g, &n_db);
    ck_assert_int_eq(n_db, 2);
    kiln__context_set_fault_src(ctx, KILN_OP_MATMUL_DB, 2);
    ck_assert_int_eq(mlp_step(&m, &seed, &loss), KILN_E_CHECK);
    const char *msg = kiln_last_error();
    ck_assert_msg(strstr(msg, "op matmul_db") != NULL && strstr(msg, "written input 2") != NULL &&
                      strstr(msg, f->name) != NULL,
                  "%s", msg);
    kiln__context_set_fault(ctx, -1);
    ck_assert_msg(mlp_step(&m, &seed, &loss) == KILN_OK, "%s", kiln_last_error());
    kiln_graph_destroy(m.g);
    close_ctx(ctx);
}
END_TEST

/* kiln_dense creates a layer's bias after its product, so autodiff puts the bias's
 * gradient sink between the bias gradient's sum and the weight gradient's product; the
 * pass moves the sink after the product and the sum rides on it (both layers). Under
 * KILN_CHECK every node of every step matches the CPU, the riders included. */
START_TEST(test_dense_db_rides)
{
    kiln_context *ctx = open_ctx(1);
    kiln_graph *g;
    kiln_optimizer *opt;
    int64_t xd[2] = {37, 5}, yd[1] = {37};
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 2, xd);
    kiln_tensor *y = kiln_input(g, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *h = kiln_relu(g, kiln_dense(g, x, 7, "fc1", NULL));
    kiln_tensor *loss = kiln_tensor_keep(kiln_softmax_xent(g, kiln_dense(g, h, 3, "fc2", NULL), y));
    ck_assert_int_eq(kiln_graph_backward(g, loss), KILN_OK);
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    int n_db = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *f = g->nodes[i];
        if (f->op != KILN_OP_MATMUL_DB || f->n_src != 3 || f->src[2]->writer != f) {
            continue;
        }
        n_db++;
        /* The rider's readers (its sink, through a reshape) all come after its writer. */
        for (int32_t j = 0; j < g->n_nodes; j++) {
            const struct kiln_tensor *n = g->nodes[j];
            for (int k = 0; k < n->n_src && n != f && !kiln__is_view(n); k++) {
                ck_assert(n->src[k]->view_root != f->src[2] || j > f->id);
            }
        }
    }
    ck_assert_int_eq(n_db, 2);
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.lr = 0.1f;
    ck_assert_int_eq(kiln_optimizer_create(kiln_graph_store(g), &oo, &opt), KILN_OK);
    unsigned seed = 5;
    float xs[37 * 5];
    int32_t ys[37];
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < 37 * 5; i++) {
            xs[i] = (float)rand_r(&seed) / RAND_MAX * 2 - 1;
        }
        for (int i = 0; i < 37; i++) {
            ys[i] = (int32_t)(rand_r(&seed) % 3);
        }
        ck_assert_int_eq(kiln_tensor_upload(x, xs, sizeof(xs)), KILN_OK);
        ck_assert_int_eq(kiln_tensor_upload(y, ys, sizeof(ys)), KILN_OK);
        ck_assert_msg(kiln_train_step(g, opt) == KILN_OK, "step %d: %s", step, kiln_last_error());
    }
    kiln_optimizer_destroy(opt);
    kiln_graph_destroy(g);
    close_ctx(ctx);
}
END_TEST

/* conv2d [4, 6, 14, 14] x [16, 6, 5, 5] on a context of the backend (check, repair as
 * KILN_CHECK_REPAIR) or of the CPU's reference device (what the check compares with and
 * repairs from; the fast device's direct convolution sums in another order): the output,
 * 4 * 16 * 10 * 10 floats. */
static void conv_run(const char *backend, int check, const char *repair, float *out)
{
    if (repair != NULL) {
        setenv("KILN_CHECK_REPAIR", repair, 1);
    }
    kiln_context *ctx = NULL;
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = backend;
    o.device = strcmp(backend, "cpu") == 0 ? "cpu-reference" : NULL;
    o.check = check;
    ck_assert_msg(kiln_context_create(&o, &ctx) == KILN_OK, "%s", kiln_last_error());
    unsetenv("KILN_CHECK_REPAIR");
    kiln_graph *g;
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    int64_t xd[4] = {4, 6, 14, 14}, wd[4] = {16, 6, 5, 5};
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
    kiln_tensor *w = kiln_input(g, "w", KILN_DTYPE_F32, 4, wd);
    kiln_tensor *y = kiln_tensor_keep(kiln_relu(g, kiln_conv2d(g, x, w, NULL)));
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    static float xv[4 * 6 * 14 * 14], wv[16 * 6 * 5 * 5];
    unsigned seed = 7;
    for (size_t i = 0; i < sizeof(xv) / 4; i++) {
        xv[i] = (float)rand_r(&seed) / RAND_MAX - 0.5f;
    }
    for (size_t i = 0; i < sizeof(wv) / 4; i++) {
        wv[i] = (float)rand_r(&seed) / RAND_MAX - 0.5f;
    }
    ck_assert_int_eq(kiln_tensor_upload(x, xv, sizeof(xv)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(w, wv, sizeof(wv)), KILN_OK);
    ck_assert_msg(kiln_graph_eval(g, 1, &y) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(kiln_tensor_download(y, out, 4 * 16 * 10 * 10 * 4), KILN_OK);
    kiln_graph_destroy(g);
    if (strcmp(backend, "vulkan") == 0) {
        close_ctx(ctx);
    } else {
        kiln_context_destroy(ctx);
    }
}

/* KILN_CHECK_REPAIR=conv2d puts the reference's conv result on the device, so what
 * follows it computes from the CPU reference's values: the result equals the
 * reference's bit for bit, where the device's own sums (in another order than
 * OpenBLAS's) differ in the last bits. An unknown op name is refused when the context is created.
 */
START_TEST(test_check_repair)
{
    enum { N = 4 * 16 * 10 * 10 };
    static float cpu[N], own[N], fixed[N];
    conv_run("cpu", 0, NULL, cpu);
    conv_run("vulkan", 1, NULL, own);
    conv_run("vulkan", 1, "relu,conv2d", fixed);
    int n_own = 0, n_fixed = 0;
    for (int i = 0; i < N; i++) {
        n_own += memcmp(&own[i], &cpu[i], 4) != 0;
        n_fixed += memcmp(&fixed[i], &cpu[i], 4) != 0;
    }
    ck_assert_msg(n_own > 0, "the device's conv sums equal OpenBLAS's bit for bit");
    ck_assert_msg(n_fixed == 0, "%d of %d repaired results differ from the CPU's", n_fixed, N);

    setenv("KILN_CHECK_REPAIR", "conv2d,bogus", 1);
    kiln_context *ctx = NULL;
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = "vulkan";
    kiln_status s = kiln_context_create(&o, &ctx);
    unsetenv("KILN_CHECK_REPAIR");
    ck_assert_int_eq(s, KILN_E_INVALID_ARG);
    ck_assert_msg(strstr(kiln_last_error(), "'bogus'") != NULL, "%s", kiln_last_error());
}
END_TEST

START_TEST(test_one_submission_per_step)
{
    kiln_context *ctx = open_ctx(0);
    struct mlp m;
    unsigned seed = 3;
    float loss;
    struct kiln_stats st;
    mlp_build(ctx, &m, KILN_OPTIM_SGD);
    ck_assert_int_eq(mlp_step(&m, &seed, &loss), KILN_OK); /* pipelines are built here */
    for (int step = 0; step < 5; step++) {
        kiln_context_reset_stats(ctx);
        ck_assert_int_eq(mlp_step(&m, &seed, &loss), KILN_OK);
        kiln_context_stats(ctx, &st);
        ck_assert_msg(st.submissions == 1 && st.host_waits == 1,
                      "step %d: %llu submissions, %llu host waits", step,
                      (unsigned long long)st.submissions, (unsigned long long)st.host_waits);
    }
    kiln_graph_destroy(m.g);
    close_ctx(ctx);
}
END_TEST

/* ==== Every op family under KILN_CHECK ==== */

START_TEST(test_ops_checked)
{
    kiln_context *ctx = open_ctx(1);
    kiln_graph *g;
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    int64_t ad[3] = {3, 37, 29}, bd[3] = {3, 29, 45}, vd[1] = {45}, ld[1] = {111},
            td[2] = {111, 45};
    kiln_tensor *a = kiln_param(g, "a", 3, ad, KILN_INIT_NORMAL, 1.0f, 7);
    kiln_tensor *b = kiln_param(g, "b", 3, bd, KILN_INIT_NORMAL, 1.0f, 8);
    kiln_tensor *v = kiln_param(g, "v", 1, vd, KILN_INIT_UNIFORM, 1.0f, 9);
    kiln_tensor *lab = kiln_input(g, "labels", KILN_DTYPE_I32, 1, ld);
    kiln_tensor *tgt = kiln_input(g, "targets", KILN_DTYPE_F32, 2, td);
    kiln_tensor *c = kiln_matmul(g, a, b, 0, 0);  /* [3, 37, 45] */
    kiln_tensor *ct = kiln_matmul(g, b, a, 1, 1); /* [3, 45, 37] */
    int32_t perm[3] = {0, 2, 1};
    kiln_tensor *c2 = kiln_add(g, kiln_transpose(g, ct, perm), c); /* [3, 37, 45] */
    kiln_tensor *h =
        kiln_div(g, kiln_gelu(g, c2), kiln_shift(g, kiln_exp(g, kiln_scale(g, v, 0.1f)), 1.0f));
    h = kiln_sub(g, kiln_tanh(g, h), kiln_sigmoid(g, kiln_leaky_relu(g, h, 0.1f)));
    h = kiln_mul(g, h, kiln_sqrt(g, kiln_shift(g, kiln_relu(g, h), 1.0f)));
    h = kiln_add(g, h, kiln_log(g, kiln_shift(g, kiln_softmax(g, h), 1.0f)));
    int64_t flat[2] = {111, 45};
    kiln_tensor *s = kiln_reshape(g, kiln_log_softmax(g, h), 2, flat);
    kiln_tensor *l1 = kiln_softmax_xent(g, s, lab);
    kiln_tensor *l2 = kiln_hinge_loss(g, s, lab);
    kiln_tensor *l3 = kiln_bce_logits(g, s, tgt);
    kiln_tensor *l4 = kiln_mse_loss(g, s, tgt);
    kiln_tensor *l5 = kiln_mean(g, kiln_sum(g, c, 1u << 1, 1), 0x7, 0);
    kiln_tensor *loss = kiln_add(g, kiln_add(g, kiln_add(g, l1, l2), kiln_add(g, l3, l4)), l5);
    kiln_tensor *am = kiln_tensor_keep(kiln_argmax(g, s));
    kiln_tensor_keep(loss);
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.kind = KILN_OPTIM_ADAM;
    kiln_optimizer *opt;
    ck_assert_int_eq(kiln_graph_backward(g, loss), KILN_OK);
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(kiln_optimizer_create(kiln_graph_store(g), &oo, &opt), KILN_OK);
    int32_t labels[111];
    float targets[111 * 45];
    for (int i = 0; i < 111; i++) {
        labels[i] = i == 5 ? -1 : (i * 13) % 45; /* one label out of range */
    }
    for (int i = 0; i < 111 * 45; i++) {
        targets[i] = (float)((i * 37) % 101) / 100.0f;
    }
    ck_assert_int_eq(kiln_tensor_upload(lab, labels, sizeof(labels)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(tgt, targets, sizeof(targets)), KILN_OK);
    for (int step = 0; step < 2; step++) {
        ck_assert_msg(kiln_train_step(g, opt) == KILN_OK, "%s", kiln_last_error());
    }
    ck_assert_msg(kiln_graph_eval(g, 1, &am) == KILN_OK, "%s", kiln_last_error());
    kiln_graph_destroy(g);
    close_ctx(ctx);
}
END_TEST

/* ==== Workgroup reductions ==== */

/* REDUCE_SUM, softmax, log-softmax and ARGMAX (with ties) over rows longer than a
 * workgroup, on the subgroup variants (_i 0, where the device has them) and on the
 * shared-memory tree (_i 1, KILN_VK_SUBGROUP=0): the backend picks the variant the
 * device and the variable call for, and two evaluations give the same bits. */
START_TEST(test_reduce_paths)
{
    enum { R = 7, C = 3001 };
    if (_i == 1) {
        setenv("KILN_VK_SUBGROUP", "0", 1);
    }
    kiln_context *ctx = open_ctx(0);
    unsetenv("KILN_VK_SUBGROUP");
    const struct kiln__vk *vk = ctx->be.impl;
    struct kiln_device_info info;
    int32_t n_dev = 0;
    ck_assert_int_eq(kiln_backend_devices("vulkan", &info, 1, &n_dev), KILN_OK);
    bool arith = strstr(info.details, "subgroup operations in compute shaders: arithmetic") != NULL;
    bool mvk_amd = strstr(info.details, "driver: MoltenVK") != NULL &&
                   strstr(info.details, "vendor id: 0x1002") != NULL;
    bool want = _i == 0 && arith && !mvk_amd && vk->max_wg % vk->subgroup_size == 0;
    ck_assert_msg(vk->subgroup == want, "subgroup reductions %s, expected %s",
                  vk->subgroup ? "on" : "off", want ? "on" : "off");
    kiln_graph *g;
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    int64_t d[2] = {R, C};
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 2, d);
    kiln_tensor *out[6] = {
        kiln_sum(g, x, 1u << 1, 0), kiln_sum(g, x, 1u << 0, 0), kiln_sum(g, x, 0x3, 0),
        kiln_softmax(g, x),         kiln_log_softmax(g, x),     kiln_argmax(g, x),
    };
    for (int k = 0; k < 6; k++) {
        kiln_tensor_keep(out[k]);
    }
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    static float xs[R * C];
    for (int i = 0; i < R * C; i++) { /* 61 levels: many ties for the max */
        xs[i] = (float)((i * 7919) % 61) * 0.125f - 3.0f + (float)(i % 3) * 1e-3f;
    }
    ck_assert_int_eq(kiln_tensor_upload(x, xs, sizeof(xs)), KILN_OK);
    static float first[6][R * C], again[R * C];
    for (int run = 0; run < 2; run++) {
        ck_assert_msg(kiln_graph_eval(g, 6, out) == KILN_OK, "%s", kiln_last_error());
        for (int k = 0; k < 6; k++) {
            size_t nb = kiln_tensor_n_bytes(out[k]);
            ck_assert_int_eq(kiln_tensor_download(out[k], run ? again : first[k], nb), KILN_OK);
            ck_assert_msg(run == 0 || memcmp(again, first[k], nb) == 0,
                          "output %d differs between two runs", k);
        }
    }
    int32_t am[R];
    memcpy(am, first[5], sizeof(am));
    for (int r = 0; r < R; r++) { /* the first maximum */
        int best = 0;
        for (int c = 1; c < C; c++) {
            best = xs[r * C + c] > xs[r * C + best] ? c : best;
        }
        ck_assert_msg(am[r] == best, "row %d: argmax %d, expected %d", r, am[r], best);
    }
    kiln_graph_destroy(g);
    close_ctx(ctx);
}
END_TEST

/* ==== Limits ==== */

START_TEST(test_storage_range_limit)
{
    setenv("KILN_VK_MAX_STORAGE_RANGE", "4096", 1);
    kiln_context *ctx = open_ctx(0);
    unsetenv("KILN_VK_MAX_STORAGE_RANGE");
    kiln_graph *g;
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    int64_t d[2] = {32, 64};
    kiln_tensor *x = kiln_input(g, "big", KILN_DTYPE_F32, 2, d);
    kiln_tensor_keep(kiln_relu(g, x));
    ck_assert_int_eq(kiln_graph_compile(g), KILN_E_UNSUPPORTED);
    const char *msg = kiln_last_error();
    ck_assert_msg(strstr(msg, "maxStorageBufferRange") != NULL && strstr(msg, "big") != NULL &&
                      strstr(msg, "smaller batch") != NULL,
                  "%s", msg);
    kiln_graph_destroy(g);
    close_ctx(ctx);
}
END_TEST

START_TEST(test_suballocation_and_oom)
{
    /* With one device allocation allowed, a training graph's two buffers share a block. */
    setenv("KILN_VK_MAX_ALLOCATIONS", "1", 1);
    kiln_context *ctx = open_ctx(0);
    unsetenv("KILN_VK_MAX_ALLOCATIONS");
    struct mlp m;
    unsigned seed = 4;
    float loss;
    mlp_build(ctx, &m, KILN_OPTIM_ADAM);
    ck_assert_msg(mlp_step(&m, &seed, &loss) == KILN_OK, "%s", kiln_last_error());
    /* A second block is refused with a message naming the limit. */
    struct kiln_backend *be = &ctx->be;
    struct kiln_buffer *buf = NULL;
    ck_assert_int_eq(be->ops->buffer_alloc(be, (size_t)64 << 20, &buf),
                     KILN_E_OUT_OF_DEVICE_MEMORY);
    ck_assert_msg(strstr(kiln_last_error(), "maxMemoryAllocationCount") != NULL, "%s",
                  kiln_last_error());
    /* More than one allocation may hold: the message names the request and the limit. */
    ck_assert_int_eq(be->ops->buffer_alloc(be, (size_t)1 << 40, &buf), KILN_E_OUT_OF_DEVICE_MEMORY);
    ck_assert_msg(strstr(kiln_last_error(), "1099511627776") != NULL, "%s", kiln_last_error());
    kiln_graph_destroy(m.g);
    close_ctx(ctx);
}
END_TEST

int main(void)
{
    struct kiln_device_info info;
    int32_t n = 0;
    if (getenv("KILN_VK_VALIDATION") == NULL) {
        setenv("KILN_VK_VALIDATION", "1", 1);
    }
    if (kiln_backend_devices("vulkan", &info, 1, &n) != KILN_OK || n == 0) {
        fprintf(stderr, "SKIP: %s\n", n == 0 ? "no Vulkan device" : kiln_last_error());
        return SKIP;
    }
    kiln_context *probe = NULL;
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = "vulkan";
    if (kiln_context_create(&o, &probe) != KILN_OK) {
        const char *msg = kiln_last_error();
        const char *ci = getenv("CI");
        fprintf(stderr, "%s: %s\n", ci ? "FAIL" : "SKIP", msg);
        return ci ? 1 : SKIP;
    }
    kiln_context_destroy(probe);

    Suite *s = suite_create("vulkan");
    TCase *tc = tcase_create("backend");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_devices);
    tcase_add_loop_test(tc, test_roundtrip, 0, 4);
    tcase_add_loop_test(tc, test_mlp_checked, 0, 2);
    tcase_add_test(tc, test_check_fault);
    tcase_add_test(tc, test_check_fault_conv);
    tcase_add_test(tc, test_check_fault_db);
    tcase_add_test(tc, test_dense_db_rides);
    tcase_add_test(tc, test_check_repair);
    tcase_add_test(tc, test_one_submission_per_step);
    tcase_add_test(tc, test_ops_checked);
    tcase_add_loop_test(tc, test_reduce_paths, 0, 2);
    tcase_add_test(tc, test_storage_range_limit);
    tcase_add_test(tc, test_suballocation_and_oom);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
