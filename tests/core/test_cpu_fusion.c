/*
 * test_cpu_fusion.c - the planner's fusion pass on the CPU backend (src/graph/fuse.c):
 * a LeNet training graph compiled on the fast device ("cpu") holds the fused nodes its
 * fast kernels run in one pass (CONV2D_BIAS with the layer's ReLU, ADD_RELU for the
 * dense layers, MAXPOOL2D_RELU_BWD for the pooled ReLUs' gradients), the fused loss, and
 * none of their parts, but none of the products' fusions; the same graph on the reference device
 * ("cpu-reference") stays as built, every node an op the graph was built from. One training step on
 * each device gives the same loss and parameter gradients (within the convolutions' reduction
 * tolerance: the fast convolutions sum in another order). KILN_CHECK=1 on the fast device names a
 * fused node that produced a non-finite value. Not the kernels' values op by op: the op harness
 * checks those (tests/test_ops.c, tests/test_cpu_fast.c).
 */
#include <math.h>
#include <stdlib.h>

#include "core_util.h"
#include "graph/graph_impl.h"

#define BATCH 4

/* A LeNet training graph on the cpu backend's device dev, compiled, with an input batch
 * and labels uploaded; *loss is its kept loss. check: KILN_CHECK. */
struct lenet {
    kiln_context *ctx;
    kiln_graph *g;
    kiln_tensor *x, *loss;
};

static void lenet_build(struct lenet *m, const char *dev, int check)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    struct kiln_model_options mo = KILN_MODEL_OPTIONS_INIT;
    int64_t xd[4] = {BATCH, 1, 28, 28}, n = BATCH;
    o.backend = "cpu";
    o.device = dev;
    o.check = check;
    EXPECT_OK(kiln_context_create(&o, &m->ctx));
    EXPECT_OK(kiln_graph_create(m->ctx, &m->g));
    m->x = kiln_input(m->g, "x", KILN_DTYPE_F32, 4, xd);
    kiln_tensor *lab = kiln_input(m->g, "labels", KILN_DTYPE_I32, 1, &n);
    kiln_tensor *logits = kiln_model_build(m->g, KILN_MODEL_LENET, m->x, &mo);
    m->loss = kiln_tensor_keep(kiln_softmax_xent(m->g, logits, lab));
    EXPECT_OK(kiln_graph_backward(m->g, m->loss));
    EXPECT_OK(kiln_graph_compile(m->g));
    static float x[BATCH * 28 * 28];
    int32_t labels[BATCH] = {3, 0, 7, 9};
    for (int i = 0; i < BATCH * 28 * 28; i++) {
        x[i] = (float)((i * 37) % 19) / 9.0f - 1.0f;
    }
    EXPECT_OK(kiln_tensor_upload(m->x, x, sizeof(x)));
    EXPECT_OK(kiln_tensor_upload(lab, labels, sizeof(labels)));
}

static void lenet_free(struct lenet *m)
{
    kiln_graph_destroy(m->g);
    kiln_context_destroy(m->ctx);
}

/* How many of g's nodes that run a kernel (not views) run op. */
static int count_op(const kiln_graph *g, int op)
{
    int n = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        n += g->nodes[i]->op == op && !kiln__is_view(g->nodes[i]);
    }
    return n;
}

START_TEST(test_fast_device_fuses)
{
    struct lenet m;
    lenet_build(&m, "cpu", 0);
    /* conv1 and conv2: conv2d + bias + relu each */
    ck_assert_int_eq(count_op(m.g, KILN_OP_CONV2D_BIAS), 2);
    ck_assert_int_eq(count_op(m.g, KILN_OP_CONV2D), 0);
    /* fc1 and fc2: matmul, then bias + relu (fc3's bias stays an ADD) */
    ck_assert_int_eq(count_op(m.g, KILN_OP_ADD_RELU), 2);
    ck_assert_int_eq(count_op(m.g, KILN_OP_ADD), 1);
    ck_assert_int_eq(count_op(m.g, KILN_OP_RELU), 0);
    /* the gradients of maxpool(relu(.)) after conv1 and conv2; fc1's and fc2's
     * RELU_BWDs stay */
    ck_assert_int_eq(count_op(m.g, KILN_OP_MAXPOOL2D_RELU_BWD), 2);
    ck_assert_int_eq(count_op(m.g, KILN_OP_MAXPOOL2D_BWD), 0);
    ck_assert_int_eq(count_op(m.g, KILN_OP_RELU_BWD), 2);
    /* the loss and its gradient in one node (their references composed, as the parts
     * run them); the products' fusions are not formed on the cpu */
    ck_assert_int_eq(count_op(m.g, KILN_OP_SOFTMAX_XENT_FUSED), 1);
    ck_assert_int_eq(count_op(m.g, KILN_OP_SOFTMAX_XENT), 0);
    ck_assert_int_eq(count_op(m.g, KILN_OP_MATMUL_BIAS), 0);
    ck_assert_int_eq(count_op(m.g, KILN_OP_MATMUL_RELU_BWD), 0);
    ck_assert_int_eq(count_op(m.g, KILN_OP_MATMUL_DB), 0);
    lenet_free(&m);
}
END_TEST

START_TEST(test_reference_device_does_not_fuse)
{
    struct lenet m;
    lenet_build(&m, "cpu-reference", 0);
    static const int fused[] = {KILN_OP_ADD_RELU,           KILN_OP_CONV2D_BIAS,
                                KILN_OP_MAXPOOL2D_RELU_BWD, KILN_OP_MATMUL_BIAS,
                                KILN_OP_MATMUL_RELU_BWD,    KILN_OP_MATMUL_DB,
                                KILN_OP_SOFTMAX_XENT_FUSED};
    for (size_t i = 0; i < sizeof(fused) / sizeof(fused[0]); i++) {
        ck_assert_msg(count_op(m.g, fused[i]) == 0, "cpu-reference formed %s",
                      kiln__op_name(fused[i]));
    }
    ck_assert_int_eq(count_op(m.g, KILN_OP_CONV2D), 2);
    ck_assert_int_eq(count_op(m.g, KILN_OP_ADD), 5);
    ck_assert_int_eq(count_op(m.g, KILN_OP_RELU), 4);
    ck_assert_int_eq(count_op(m.g, KILN_OP_MAXPOOL2D_BWD), 2);
    ck_assert_int_eq(count_op(m.g, KILN_OP_RELU_BWD), 4);
    lenet_free(&m);
}
END_TEST

/* The kernels one run of m's graph runs (the context's node count). */
static uint64_t nodes_per_run(struct lenet *m)
{
    struct kiln_stats before, after;
    kiln_context_stats(m->ctx, &before);
    EXPECT_OK(kiln_graph_run(m->g));
    kiln_context_stats(m->ctx, &after);
    return after.nodes - before.nodes;
}

/* A step runs 9 fewer kernels: conv1's and conv2's ADD and RELU, folded into CONV2D_BIAS
 * (4), fc1's and fc2's RELU, folded into ADD_RELU (2), the two pooled ReLUs' RELU_BWD,
 * folded into MAXPOOL2D_RELU_BWD (2), and the loss's gradient, computed with the loss
 * (1). */
START_TEST(test_fewer_kernels_per_step)
{
    struct lenet f, r;
    lenet_build(&f, "cpu", 0);
    lenet_build(&r, "cpu-reference", 0);
    uint64_t nf = nodes_per_run(&f), nr = nodes_per_run(&r);
    ck_assert_msg(nr == nf + 9, "%llu kernels per run on cpu, %llu on cpu-reference",
                  (unsigned long long)nf, (unsigned long long)nr);
    lenet_free(&f);
    lenet_free(&r);
}
END_TEST

/* relu(a + b) whose broadcast leaves more dims than the fast ADD_RELU walks (8, every
 * other one broadcast): its reference would run the parts one after the other, so the
 * fast device keeps the ADD and the RELU, each with its own kernel. */
START_TEST(test_no_fusion_where_the_fast_kernel_refuses)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx = NULL;
    kiln_graph *g = NULL;
    int64_t ad[8] = {2, 1, 3, 1, 2, 1, 3, 1}, bd[8] = {1, 2, 1, 3, 1, 2, 1, 3};
    o.backend = "cpu";
    o.device = "cpu";
    o.check = 0;
    EXPECT_OK(kiln_context_create(&o, &ctx));
    EXPECT_OK(kiln_graph_create(ctx, &g));
    kiln_tensor *a = kiln_input(g, "a", KILN_DTYPE_F32, 8, ad);
    kiln_tensor *b = kiln_input(g, "b", KILN_DTYPE_F32, 8, bd);
    (void)kiln_tensor_keep(kiln_relu(g, kiln_add(g, a, b)));
    EXPECT_OK(kiln_graph_compile(g));
    ck_assert_int_eq(count_op(g, KILN_OP_ADD_RELU), 0);
    ck_assert_int_eq(count_op(g, KILN_OP_ADD), 1);
    ck_assert_int_eq(count_op(g, KILN_OP_RELU), 1);
    /* and beside it, a [K, 1, 1] bias (4 dims or fewer): fused */
    kiln_graph *g2 = NULL;
    int64_t xd[4] = {2, 3, 4, 5}, cd[3] = {3, 1, 1};
    EXPECT_OK(kiln_graph_create(ctx, &g2));
    kiln_tensor *x = kiln_input(g2, "x", KILN_DTYPE_F32, 4, xd);
    kiln_tensor *c = kiln_input(g2, "c", KILN_DTYPE_F32, 3, cd);
    (void)kiln_tensor_keep(kiln_relu(g2, kiln_add(g2, x, c)));
    EXPECT_OK(kiln_graph_compile(g2));
    ck_assert_int_eq(count_op(g2, KILN_OP_ADD_RELU), 1);
    ck_assert_int_eq(count_op(g2, KILN_OP_RELU), 0);
    kiln_graph_destroy(g2);
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
}
END_TEST

/* Whether a and b agree within the convolutions' tolerance (abs 1e-4, rel 1e-3). */
static bool close_to(float a, float b)
{
    float d = fabsf(a - b);
    return d <= 1e-4f || d <= 1e-3f * (fabsf(a) + fabsf(b));
}

START_TEST(test_fused_step_matches_reference)
{
    struct lenet f, r;
    lenet_build(&f, "cpu", 0);
    lenet_build(&r, "cpu-reference", 0);
    EXPECT_OK(kiln_graph_run(f.g));
    EXPECT_OK(kiln_graph_run(r.g));
    float lf, lr;
    EXPECT_OK(kiln_tensor_download(f.loss, &lf, sizeof(lf)));
    EXPECT_OK(kiln_tensor_download(r.loss, &lr, sizeof(lr)));
    ck_assert_msg(close_to(lf, lr), "loss %g on cpu, %g on cpu-reference", (double)lf, (double)lr);
    ck_assert_int_eq(kiln_graph_n_params(f.g), kiln_graph_n_params(r.g));
    for (int32_t p = 0; p < kiln_graph_n_params(f.g); p++) {
        kiln_tensor *gf = kiln_tensor_grad(kiln_graph_param(f.g, p));
        kiln_tensor *gr = kiln_tensor_grad(kiln_graph_param(r.g, p));
        size_t nb = kiln_tensor_n_bytes(gf);
        float *a = malloc(nb), *b = malloc(nb);
        ck_assert(a != NULL && b != NULL);
        EXPECT_OK(kiln_tensor_download(gf, a, nb));
        EXPECT_OK(kiln_tensor_download(gr, b, nb));
        for (size_t i = 0; i < nb / sizeof(float); i++) {
            ck_assert_msg(close_to(a[i], b[i]),
                          "the gradient of %s [%zu]: %g on cpu, %g on "
                          "cpu-reference",
                          kiln_tensor_name(kiln_graph_param(f.g, p)), i, (double)a[i],
                          (double)b[i]);
        }
        free(a);
        free(b);
    }
    lenet_free(&f);
    lenet_free(&r);
}
END_TEST

/* KILN_CHECK=1 on the cpu backend watches every node's output for non-finite values (it
 * shadows only the other backends); the first non-finite one is a fused node's. */
START_TEST(test_check_names_fused_node)
{
    struct lenet m;
    lenet_build(&m, "cpu", 1);
    EXPECT_OK(kiln_graph_run(m.g));
    static float x[BATCH * 28 * 28];
    EXPECT_OK(kiln_tensor_download(m.x, x, sizeof(x)));
    x[100] = INFINITY;
    EXPECT_OK(kiln_tensor_upload(m.x, x, sizeof(x)));
    EXPECT_FAIL(kiln_graph_run(m.g), KILN_E_DIVERGED, "op conv2d_bias");
    lenet_free(&m);
}
END_TEST

static Suite *fusion_suite(void)
{
    Suite *s = suite_create("cpu-fusion");
    TCase *tc = tcase_create("lenet");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fast_device_fuses);
    tcase_add_test(tc, test_reference_device_does_not_fuse);
    tcase_add_test(tc, test_fewer_kernels_per_step);
    tcase_add_test(tc, test_no_fusion_where_the_fast_kernel_refuses);
    tcase_add_test(tc, test_fused_step_matches_reference);
    tcase_add_test(tc, test_check_names_fused_node);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return core_run_suite(fusion_suite());
}
