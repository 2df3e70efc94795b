/*
 * test_opencl.c - the opencl backend: device listing and selection, transfers at odd
 * offsets and the max-allocation limit, run counters, CLBlast tuning files, the
 * KILN_CHECK fault hook, and small training graphs run under KILN_CHECK (every node
 * compared with the CPU reference) that reach every op family. Exits 77 (SKIP) when
 * OpenCL or a device is missing. Runs without fork: driver state must not cross one.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/opencl/cl_impl.h"
#include "context_impl.h"
#include "kiln.h"

#define SKIP 77

/* Graphs with matrix products need CLBlast; without it those tests pass vacuously. */
#ifdef KILN_HAVE_CLBLAST
#define NEEDS_CLBLAST() ((void)0)
#else
#define NEEDS_CLBLAST()                                                                            \
    do {                                                                                           \
        printf("%s: skipped, built without CLBlast\n", __func__);                                  \
        return;                                                                                    \
    } while (0)
#endif

static struct kiln_device_info g_info[8];
static int32_t g_n_dev;

static kiln_context *open_ctx(const char *device, int check)
{
    kiln_context *ctx = NULL;
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = "opencl";
    o.device = device;
    o.check = check;
    kiln_status s = kiln_context_create(&o, &ctx);
    ck_assert_msg(s == KILN_OK, "context: %s", kiln_last_error());
    return ctx;
}

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && (hay[i] | 32) == (needle[i] | 32)) {
            i++;
        }
        if (i == n) {
            return 1;
        }
    }
    return n == 0;
}

/* ==== Devices ==== */

START_TEST(test_devices)
{
    ck_assert_int_ge(g_n_dev, 1);
    for (int32_t i = 0; i < g_n_dev && i < 8; i++) {
        const struct kiln_device_info *d = &g_info[i];
        ck_assert_int_eq(d->index, i);
        ck_assert_msg(d->name[0] != '\0', "device %d has no name", i);
        ck_assert_msg(strcmp(d->type, "gpu") == 0 || strcmp(d->type, "cpu") == 0 ||
                          strcmp(d->type, "other") == 0,
                      "type '%s'", d->type);
        const char *keys[] = {
            "platform: ",     "driver version: ", "OpenCL C version: ",    "global memory: ",
            "local memory: ", "max allocation: ", "max work-group size: ", "fp16: ",
            "clblast tuned: "};
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            ck_assert_msg(strstr(d->details, keys[k]) != NULL, "device %d lacks '%s':\n%s", i,
                          keys[k], d->details);
        }
    }
    /* GPUs are listed first. */
    for (int32_t i = 1; i < g_n_dev && i < 8; i++) {
        ck_assert_msg(!(strcmp(g_info[i].type, "gpu") == 0 && strcmp(g_info[0].type, "gpu") != 0),
                      "a GPU is listed after a non-GPU");
    }
}
END_TEST

START_TEST(test_select)
{
    kiln_context *ctx = open_ctx("0", 0);
    ck_assert_str_eq(kiln_context_device(ctx), g_info[0].name);
    ck_assert_str_eq(kiln_context_backend(ctx), "opencl");
    kiln_context_destroy(ctx);

    /* A case-swapped substring of the last device's name selects it. */
    const char *name = g_info[g_n_dev > 8 ? 7 : g_n_dev - 1].name;
    char sub[16] = "";
    size_t len = strlen(name), from = len > 12 ? 3 : 0, n = len - from < 8 ? len - from : 8;
    for (size_t i = 0; i < n; i++) {
        char c = name[from + i];
        sub[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    sub[n] = '\0';
    ctx = open_ctx(sub, 0);
    ck_assert_msg(contains_nocase(kiln_context_device(ctx), sub), "'%s' selected '%s'", sub,
                  kiln_context_device(ctx));
    kiln_context_destroy(ctx);

    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = "opencl";
    o.device = "no such device, surely";
    ck_assert_int_eq(kiln_context_create(&o, &ctx), KILN_E_BACKEND_UNAVAILABLE);
    ck_assert_msg(strstr(kiln_last_error(), "no device matches") != NULL, "%s", kiln_last_error());
    o.device = "4096";
    ck_assert_int_eq(kiln_context_create(&o, &ctx), KILN_E_BACKEND_UNAVAILABLE);
}
END_TEST

/* ==== Memory ==== */

START_TEST(test_roundtrip)
{
    kiln_context *ctx = open_ctx(NULL, 0);
    struct kiln_backend *be = &ctx->be;
    struct kiln_buffer *a = NULL, *b = NULL;
    ck_assert_int_ge(be->alignment, 256);
    ck_assert_int_eq(be->alignment % 4, 0);
    ck_assert_int_eq(be->ops->buffer_alloc(be, 10001, &a), KILN_OK);
    ck_assert_int_eq(be->ops->buffer_alloc(be, 777, &b), KILN_OK);
    unsigned char src[4096], dst[4096];
    for (int i = 0; i < 4096; i++) {
        src[i] = (unsigned char)(i * 7 + 3);
    }
    const size_t offs[] = {0, 1, 3, 7, 255, 1001, 5905};
    const size_t lens[] = {1, 13, 4096, 333, 4000, 2047, 4096};
    for (size_t t = 0; t < sizeof(offs) / sizeof(offs[0]); t++) {
        ck_assert_int_eq(be->ops->upload(be, a, offs[t], src, lens[t]), KILN_OK);
        memset(dst, 0, sizeof(dst));
        ck_assert_int_eq(be->ops->download(be, a, offs[t], dst, lens[t]), KILN_OK);
        ck_assert_msg(memcmp(src, dst, lens[t]) == 0, "offset %zu length %zu", offs[t], lens[t]);
    }
    /* Writes to b do not touch a (both live in one pooled chunk). */
    ck_assert_int_eq(be->ops->upload(be, b, 5, src, 700), KILN_OK);
    ck_assert_int_eq(be->ops->download(be, a, 5905, dst, 4096), KILN_OK);
    ck_assert_int_eq(memcmp(src, dst, 4096), 0);
    ck_assert_int_eq(be->ops->download(be, b, 5, dst, 700), KILN_OK);
    ck_assert_int_eq(memcmp(src, dst, 700), 0);
    /* Fresh buffers are zeroed. */
    ck_assert_int_eq(be->ops->download(be, b, 0, dst, 5), KILN_OK);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(dst[i], 0);
    }
    be->ops->buffer_free(be, b);
    be->ops->buffer_free(be, a);

    /* More than the device's max allocation fails clearly, naming the limit. */
    const char *p = strstr(g_info[0].details, "max allocation: ");
    ck_assert_ptr_nonnull(p);
    unsigned long long max_alloc = strtoull(p + strlen("max allocation: "), NULL, 10);
    ck_assert_int_eq(be->ops->buffer_alloc(be, (size_t)max_alloc + 4096, &a),
                     KILN_E_OUT_OF_DEVICE_MEMORY);
    ck_assert_msg(strstr(kiln_last_error(), "CL_DEVICE_MAX_MEM_ALLOC_SIZE") != NULL, "%s",
                  kiln_last_error());
    kiln_context_destroy(ctx);
}
END_TEST

/* ==== Graphs ==== */

struct mlp {
    kiln_graph *g;
    kiln_tensor *x, *y, *loss, *h;
    kiln_optimizer *opt;
};

/* The smoke-test network: two dense layers, relu, softmax cross-entropy, SGD. */
static void mlp_build(kiln_context *ctx, struct mlp *m, int adam)
{
    ck_assert_int_eq(kiln_graph_create(ctx, &m->g), KILN_OK);
    kiln_graph *g = m->g;
    int64_t xd[2] = {64, 2}, yd[1] = {64}, w1d[2] = {16, 2}, b1d[1] = {16}, w2d[2] = {2, 16},
            b2d[1] = {2};
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
    oo.kind = adam ? KILN_OPTIM_ADAM : KILN_OPTIM_SGD;
    oo.lr = adam ? 0.01f : 0.1f;
    oo.momentum = 0.9f;
    ck_assert_int_eq(kiln_graph_backward(g, m->loss), KILN_OK);
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(kiln_optimizer_create(kiln_graph_store(g), &oo, &m->opt), KILN_OK);
}

static void mlp_batch(struct mlp *m, unsigned *seed)
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
    ck_assert_int_eq(kiln_tensor_upload(m->x, xs, sizeof(xs)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(m->y, ys, sizeof(ys)), KILN_OK);
}

START_TEST(test_check_fault)
{
    NEEDS_CLBLAST();
    kiln_context *ctx = open_ctx(NULL, 1);
    struct mlp m;
    unsigned seed = 1;
    mlp_build(ctx, &m, 0);
    mlp_batch(&m, &seed);
    /* The node computing h: the planner fused the product, the bias and the ReLU into
     * one matmul_bias node (kiln's own kernel for this small product), of which h is a
     * view; the report names it and its op. */
    int op = m.h->view_root->op;
    char want[64];
    snprintf(want, sizeof(want), "op %s", kiln__op_name(op));
    kiln__context_set_fault(ctx, op);
    kiln_status s = kiln_train_step(m.g, m.opt);
    ck_assert_int_eq(op, KILN_OP_MATMUL_BIAS);
    ck_assert_int_eq(s, KILN_E_CHECK);
    const char *msg = kiln_last_error();
    ck_assert_msg(strstr(msg, "KILN_CHECK") != NULL && strstr(msg, want) != NULL &&
                      strstr(msg, kiln_tensor_name(m.h->view_root)) != NULL &&
                      strstr(msg, "opencl") != NULL,
                  "%s", msg);
    kiln__context_set_fault(ctx, -1);
    ck_assert_msg(kiln_train_step(m.g, m.opt) == KILN_OK, "%s", kiln_last_error());
    kiln_graph_destroy(m.g);
    kiln_context_destroy(ctx);
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
    kiln_context *ctx = open_ctx(NULL, 1);
    conv_layer_fault(ctx);
    kiln_context_destroy(ctx);
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
    NEEDS_CLBLAST();
    kiln_context *ctx = open_ctx(NULL, 1);
    struct mlp m;
    unsigned seed = 1;
    mlp_build(ctx, &m, 0);
    mlp_batch(&m, &seed);
    int n_db;
    struct kiln_tensor *f = db_node(m.g, &n_db);
    ck_assert_int_eq(n_db, 2);
    kiln__context_set_fault_src(ctx, KILN_OP_MATMUL_DB, 2);
    kiln_status s = kiln_train_step(m.g, m.opt);
    ck_assert_int_eq(s, KILN_E_CHECK);
    const char *msg = kiln_last_error();
    ck_assert_msg(strstr(msg, "op matmul_db") != NULL && strstr(msg, "written input 2") != NULL &&
                      strstr(msg, f->name) != NULL,
                  "%s", msg);
    kiln__context_set_fault(ctx, -1);
    ck_assert_msg(kiln_train_step(m.g, m.opt) == KILN_OK, "%s", kiln_last_error());
    kiln_graph_destroy(m.g);
    kiln_context_destroy(ctx);
}
END_TEST

/* kiln_dense creates a layer's bias after its product, so autodiff puts the bias's
 * gradient sink between the bias gradient's sum and the weight gradient's product; the
 * pass moves the sink after the product and the sum rides on it (both layers). Under
 * KILN_CHECK every node of every step matches the CPU, the riders included. */
START_TEST(test_dense_db_rides)
{
    kiln_context *ctx = open_ctx(NULL, 1);
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
    kiln_context_destroy(ctx);
}
END_TEST

/* The smoke MLP under KILN_CHECK: every node of every step matches the CPU, and it learns. */
START_TEST(test_check_clean)
{
    NEEDS_CLBLAST();
    for (int adam = 0; adam < 2; adam++) {
        kiln_context *ctx = open_ctx(NULL, 1);
        struct mlp m;
        unsigned seed = 7;
        float first = 0, last = 0;
        mlp_build(ctx, &m, adam);
        for (int step = 0; step < 60; step++) {
            mlp_batch(&m, &seed);
            ck_assert_msg(kiln_train_step(m.g, m.opt) == KILN_OK, "%s step %d: %s",
                          adam ? "adam" : "sgd", step, kiln_last_error());
            ck_assert_int_eq(kiln_tensor_download(m.loss, &last, sizeof(last)), KILN_OK);
            if (step == 0) {
                first = last;
            }
        }
        ck_assert_msg(last < 0.8f * first, "loss %g -> %g", first, last);
        kiln_graph_destroy(m.g);
        kiln_context_destroy(ctx);
    }
}
END_TEST

/* A run enqueues everything and flushes once; only the download waits. */
START_TEST(test_counters)
{
    NEEDS_CLBLAST();
    kiln_context *ctx = open_ctx(NULL, 0);
    struct mlp m;
    struct kiln_stats st;
    unsigned seed = 3;
    float loss;
    mlp_build(ctx, &m, 0);
    mlp_batch(&m, &seed);
    kiln_context_reset_stats(ctx);
    ck_assert_int_eq(kiln_train_step(m.g, m.opt), KILN_OK);
    kiln_context_stats(ctx, &st);
    ck_assert_int_eq(st.submissions, 1);
    ck_assert_int_eq(st.host_waits, 0);
    /* The fused step: 2 products with bias (and ReLU), the loss and its gradient, the
     * products and ReLU mask of the backward pass (the weight gradients' products also
     * sum the bias gradients), the update. */
    ck_assert_int_ge(st.nodes, 7);
    ck_assert_int_eq(kiln_tensor_download(m.loss, &loss, sizeof(loss)), KILN_OK);
    kiln_context_stats(ctx, &st);
    ck_assert_int_eq(st.host_waits, 1);
    kiln_graph_destroy(m.g);
    kiln_context_destroy(ctx);
}
END_TEST

/* Every op family once, forward and backward, under KILN_CHECK. */
START_TEST(test_families)
{
    NEEDS_CLBLAST();
    kiln_context *ctx = open_ctx(NULL, 1);
    kiln_graph *g;
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    int64_t xd[3] = {3, 5, 7}, bd[2] = {1, 7}, wd[3] = {3, 7, 6}, ld[1] = {15}, td[2] = {15, 6};
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 3, xd);
    kiln_tensor *lab = kiln_input(g, "labels", KILN_DTYPE_I32, 1, ld);
    kiln_tensor *tgt = kiln_input(g, "targets", KILN_DTYPE_F32, 2, td);
    kiln_tensor *bias = kiln_param(g, "bias", 2, bd, KILN_INIT_UNIFORM, 0.5f, 2);
    kiln_tensor *w = kiln_param(g, "w", 3, wd, KILN_INIT_HE_UNIFORM, 0, 3);
    kiln_tensor *h = kiln_add(g, kiln_mul(g, x, bias), kiln_div(g, bias, kiln_shift(g, x, 3.0f)));
    h = kiln_sub(g, kiln_gelu(g, h), kiln_scale(g, kiln_tanh(g, h), 0.5f));
    h = kiln_add(g, kiln_sigmoid(g, h), kiln_leaky_relu(g, h, 0.1f));
    h = kiln_mul(g, h, kiln_sqrt(g, kiln_exp(g, kiln_scale(g, h, 0.1f))));
    h = kiln_add(g, h, kiln_log(g, kiln_shift(g, kiln_relu(g, h), 1.0f)));
    int32_t perm[3] = {0, 2, 1};
    kiln_tensor *ht = kiln_transpose(g, h, perm);   /* [3, 7, 5] */
    kiln_tensor *mm = kiln_matmul(g, ht, w, 1, 0);  /* [3, 5, 6] batched, a^T */
    kiln_tensor *flat = kiln_reshape(g, mm, 2, td); /* [15, 6] */
    kiln_tensor *sm = kiln_softmax(g, flat);
    kiln_tensor *lsm = kiln_log_softmax(g, flat);
    kiln_tensor *l1 = kiln_softmax_xent(g, flat, lab);
    kiln_tensor *l2 = kiln_hinge_loss(g, flat, lab);
    kiln_tensor *l3 = kiln_bce_logits(g, flat, tgt);
    kiln_tensor *l4 = kiln_mse_loss(g, sm, tgt);
    kiln_tensor *l5 = kiln_mean(g, kiln_mul(g, lsm, tgt), 3, 0);
    kiln_tensor *l6 = kiln_mean(g, kiln_sum(g, mm, 2, 1), 7, 0);
    kiln_tensor *loss = kiln_add(g, kiln_add(g, kiln_add(g, l1, l2), kiln_add(g, l3, l4)),
                                 kiln_add(g, l5, kiln_scale(g, l6, 0.01f)));
    kiln_tensor_keep(loss);
    kiln_tensor *am = kiln_tensor_keep(kiln_argmax(g, flat));
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.kind = KILN_OPTIM_ADAM;
    oo.weight_decay = 0.01f;
    oo.decoupled = 1;
    kiln_optimizer *opt;
    ck_assert_int_eq(kiln_graph_backward(g, loss), KILN_OK);
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(kiln_optimizer_create(kiln_graph_store(g), &oo, &opt), KILN_OK);
    float xs[105], ts[90];
    int32_t ls[15];
    unsigned seed = 11;
    for (int i = 0; i < 105; i++) {
        xs[i] = (float)rand_r(&seed) / RAND_MAX * 4 - 2;
    }
    for (int i = 0; i < 90; i++) {
        ts[i] = (float)rand_r(&seed) / RAND_MAX;
    }
    for (int i = 0; i < 15; i++) {
        ls[i] = i == 4 ? -1 : i == 9 ? 6 : i % 6; /* two labels out of range */
    }
    ck_assert_int_eq(kiln_tensor_upload(x, xs, sizeof(xs)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(lab, ls, sizeof(ls)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(tgt, ts, sizeof(ts)), KILN_OK);
    for (int step = 0; step < 3; step++) {
        ck_assert_msg(kiln_train_step(g, opt) == KILN_OK, "step %d: %s", step, kiln_last_error());
    }
    int32_t amax[15];
    ck_assert_int_eq(kiln_tensor_download(am, amax, sizeof(amax)), KILN_OK);
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
}
END_TEST

/* Large reductions take the two-pass path; compare with the CPU through KILN_CHECK. */
START_TEST(test_big_reduce)
{
    kiln_context *ctx = open_ctx(NULL, 1);
    kiln_graph *g;
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    int64_t xd[2] = {3, 100003};
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 2, xd);
    kiln_tensor *s = kiln_tensor_keep(kiln_sum(g, x, 2, 0));
    kiln_tensor *t = kiln_tensor_keep(kiln_mean(g, x, 3, 0));
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    float *xs = malloc(sizeof(float) * 300009);
    unsigned seed = 5;
    for (int i = 0; i < 300009; i++) {
        xs[i] = (float)rand_r(&seed) / RAND_MAX - 0.25f;
    }
    ck_assert_int_eq(kiln_tensor_upload(x, xs, sizeof(float) * 300009), KILN_OK);
    kiln_tensor *targets[2] = {s, t};
    ck_assert_msg(kiln_graph_eval(g, 2, targets) == KILN_OK, "%s", kiln_last_error());
    free(xs);
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
}
END_TEST

/* A kernel that does not compile fails with KILN_E_KERNEL_BUILD, the native code and the
 * start of the build log. */
START_TEST(test_build_error)
{
    kiln_context *ctx = open_ctx(NULL, 0);
    const char *src = "kernel void broken(global float *x) { x[0] = undeclared_thing; }\n";
    cl_program p = NULL;
    kiln_status s = kiln__cl_build(&ctx->be, "broken", src, strlen(src), &p);
    ck_assert_int_eq(s, KILN_E_KERNEL_BUILD);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(kiln_last_native_code(), CL_BUILD_PROGRAM_FAILURE);
    const char *msg = kiln_last_error();
    ck_assert_msg(strstr(msg, "broken.cl") != NULL && strstr(msg, "undeclared_thing") != NULL, "%s",
                  msg);
    kiln_context_destroy(ctx);
}
END_TEST

/* ==== CLBlast tuning files ==== */

START_TEST(test_tuning_json)
{
#if defined(KILN_HAVE_CLBLAST) && defined(KILN_HAVE_CJSON)
    kiln_context *ctx = open_ctx(NULL, 0);
    cl_device_id dev = kiln__cl_of(&ctx->be)->device;
    char json[1024];
    int32_t applied = -1;
    const char *fmt = "{\"kernel_family\": \"xaxpy\", \"precision\": \"32\", \"best_kernel\": "
                      "\"XaxpyFastest\", \"best_parameters\": \"%s\", \"device\": \"%s\"}";
    snprintf(json, sizeof(json), fmt, "PRECISION=32 VW=1 WGS=64 WPT=1", kiln_context_device(ctx));
    ck_assert_msg(kiln__cl_apply_tuning_json(dev, json, "test", 1, &applied) == KILN_OK, "%s",
                  kiln_last_error());
    ck_assert_int_eq(applied, 1);
    snprintf(json, sizeof(json), fmt, "PRECISION=32 VW=1 WGS=64 WPT=1", "another device");
    ck_assert_int_eq(kiln__cl_apply_tuning_json(dev, json, "test", 1, &applied), KILN_OK);
    ck_assert_int_eq(applied, 0);
    snprintf(json, sizeof(json), fmt, "PRECISION=32 VW=1", kiln_context_device(ctx));
    ck_assert_int_eq(kiln__cl_apply_tuning_json(dev, json, "test", 1, &applied),
                     KILN_E_INVALID_ARG);
    ck_assert_int_eq(kiln_last_native_code(), -2047);
    ck_assert_int_eq(kiln__cl_apply_tuning_json(dev, "{not json", "test", 1, &applied),
                     KILN_E_FORMAT);
    ck_assert_int_eq(kiln__cl_apply_tuning(dev, "/nonexistent/tuning.json", 1, &applied),
                     KILN_E_IO);
    kiln_context_destroy(ctx);

    /* KILN_CLBLAST_TUNING: a directory with a file for this device is applied at context
     * creation and reported by the device list; a bad path fails creation half-way (after
     * the OpenCL context and queue exist), which must release them. */
    char dir[] = "/tmp/kiln-tuning-XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/clblast_xaxpy_32.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, fmt, "PRECISION=32 VW=1 WGS=64 WPT=1", g_info[0].name);
    fclose(f);
    setenv("KILN_CLBLAST_TUNING", dir, 1);
    struct kiln_device_info info;
    int32_t n = 0;
    ck_assert_int_eq(kiln_backend_devices("opencl", &info, 1, &n), KILN_OK);
    ck_assert_msg(strstr(info.details, "clblast tuned: yes") != NULL, "%s", info.details);
    ctx = open_ctx("0", 0);
    kiln_context_destroy(ctx);
    setenv("KILN_CLBLAST_TUNING", "/nonexistent/kiln-tuning.json", 1);
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = "opencl";
    ck_assert_int_eq(kiln_context_create(&o, &ctx), KILN_E_IO);
    unsetenv("KILN_CLBLAST_TUNING");
    remove(path);
    rmdir(dir);
#endif
}
END_TEST

/* Run with an ICD loader that finds no driver: listing and context creation fail with
 * KILN_E_BACKEND_UNAVAILABLE saying why. Returns the process exit status. */
static int expect_unavailable(void)
{
    kiln_context *ctx = NULL;
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_status s = kiln_backend_devices("opencl", g_info, 8, &g_n_dev);
    if (s != KILN_E_BACKEND_UNAVAILABLE ||
        strstr(kiln_last_error(), "no OpenCL platform") == NULL) {
        printf("FAIL: listing gave %s: %s\n", kiln_status_name(s), kiln_last_error());
        return 1;
    }
    printf("listing: %s\n", kiln_last_error());
    o.backend = "opencl";
    s = kiln_context_create(&o, &ctx);
    if (s != KILN_E_BACKEND_UNAVAILABLE ||
        strstr(kiln_last_error(), "no OpenCL platform") == NULL) {
        printf("FAIL: context gave %s: %s\n", kiln_status_name(s), kiln_last_error());
        return 1;
    }
    printf("context: %s\n", kiln_last_error());
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--expect-unavailable") == 0) {
        return expect_unavailable();
    }
    kiln_status s = kiln_backend_devices("opencl", g_info, 8, &g_n_dev);
    if (s != KILN_OK) {
        printf("SKIP: opencl unavailable: %s\n", kiln_last_error());
        return SKIP;
    }
    Suite *su = suite_create("opencl");
    TCase *tc = tcase_create("backend");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_devices);
    tcase_add_test(tc, test_select);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_build_error);
    tcase_add_test(tc, test_big_reduce);
    tcase_add_test(tc, test_counters);
    tcase_add_test(tc, test_check_fault);
    tcase_add_test(tc, test_check_fault_conv);
    tcase_add_test(tc, test_check_fault_db);
    tcase_add_test(tc, test_dense_db_rides);
    tcase_add_test(tc, test_check_clean);
    tcase_add_test(tc, test_families);
    tcase_add_test(tc, test_tuning_json);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
