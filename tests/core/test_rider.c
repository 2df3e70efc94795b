/*
 * test_rider.c - riders (src/graph/graph_impl.h): a node whose storage the kernel of a
 * later node (its writer, an op with KILN__OPF_ALSO_WRITES) fills. The first writer is
 * SOFTMAX_XENT_FUSED, which writes the ARGMAX of its scores into its fourth source. A
 * run that runs the writer runs no kernel for the rider and the rider holds ARGMAX's
 * values; kiln_graph_eval of the rider alone runs ARGMAX itself; the planner still
 * computes a rider that is a parameter's gradient straight into the store; the fusion
 * pass makes a training graph's kept prediction a rider of the fused loss, and (GPU
 * backends) KILN_CHECK=1 names a wrong value written into it. Runs on the
 * backend named by the first argument (default cpu).
 */
#include <math.h>

#include "core_util.h"
#include "graph/graph_impl.h"

#define ROWS 5
#define COLS 7

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

static uint64_t nodes_run(void)
{
    struct kiln_stats st;
    kiln_context_stats(ctx, &st);
    return st.nodes;
}

/* The scores, with ties (row 1: the first of two maxima; row 3: all equal), and the
 * index of each row's first maximum. */
static void scores(float *x, int32_t *want)
{
    for (int r = 0; r < ROWS; r++) {
        for (int c = 0; c < COLS; c++) {
            x[r * COLS + c] = (float)((r * 5 + c * 3) % 11) * 0.25f - 1.0f;
        }
    }
    x[1 * COLS + 2] = 9.0f;
    x[1 * COLS + 5] = 9.0f;
    for (int c = 0; c < COLS; c++) {
        x[3 * COLS + c] = 0.5f;
    }
    for (int r = 0; r < ROWS; r++) {
        int best = 0;
        for (int c = 1; c < COLS; c++) {
            best = x[r * COLS + c] > x[r * COLS + best] ? c : best;
        }
        want[r] = best;
    }
}

struct xent {
    kiln_tensor *x, *lab, *dy, *pred, *fused;
};

/* pred = argmax(x), kept, then a SOFTMAX_XENT_FUSED of x whose rider pred becomes. */
static struct xent build_xent(void)
{
    struct xent m;
    int64_t xd[2] = {ROWS, COLS}, n = ROWS;
    m.x = kiln_input(g, "x", KILN_DTYPE_F32, 2, xd);
    m.lab = kiln_input(g, "labels", KILN_DTYPE_I32, 1, &n);
    m.dy = kiln_input(g, "dy", KILN_DTYPE_F32, 0, NULL);
    m.pred = kiln_tensor_keep(kiln_argmax(g, m.x));
    kiln_tensor *src[3] = {m.x, m.lab, m.dy};
    m.fused = kiln_tensor_keep(kiln__node(g, KILN_OP_SOFTMAX_XENT_FUSED, 3, src, NULL, 0));
    EXPECT_OK(kiln_graph_status(g));
    ck_assert_msg(kiln__ride(g, m.fused, m.pred), "ride refused: %s", kiln_last_error());
    ck_assert_ptr_eq(m.pred->writer, m.fused);
    ck_assert_int_eq(m.fused->n_src, 4);
    ck_assert_ptr_eq(m.fused->src[3], m.pred);
    EXPECT_OK(kiln_graph_compile(g));
    float x[ROWS * COLS], dy = 1.0f;
    int32_t lab[ROWS] = {0, 3, 6, 2, 1}, want[ROWS];
    scores(x, want);
    EXPECT_OK(kiln_tensor_upload(m.x, x, sizeof(x)));
    EXPECT_OK(kiln_tensor_upload(m.lab, lab, sizeof(lab)));
    EXPECT_OK(kiln_tensor_upload(m.dy, &dy, sizeof(dy)));
    return m;
}

/* Fills pred with -1 (no index), to see whether a run wrote it. */
static void clear_pred(const struct xent *m)
{
    int32_t junk[ROWS];
    for (int r = 0; r < ROWS; r++) {
        junk[r] = -1;
    }
    EXPECT_OK(kiln_tensor_upload(m->pred, junk, sizeof(junk)));
}

static void expect_pred(const struct xent *m, const char *what)
{
    float x[ROWS * COLS];
    int32_t want[ROWS], got[ROWS];
    scores(x, want);
    EXPECT_OK(kiln_tensor_download(m->pred, got, sizeof(got)));
    for (int r = 0; r < ROWS; r++) {
        ck_assert_msg(got[r] == want[r], "%s: pred[%d] = %d, expected %d", what, r, got[r],
                      want[r]);
    }
}

/* ==== The executor ==== */

START_TEST(test_rider_skipped_when_writer_runs)
{
    struct xent m = build_xent();
    clear_pred(&m);
    uint64_t before = nodes_run();
    EXPECT_OK(kiln_graph_run(g));
    /* One kernel: the writer's; it filled pred. */
    ck_assert_uint_eq(nodes_run() - before, 1);
    expect_pred(&m, "kiln_graph_run");
    ck_assert(!kiln__exec_runs(g, m.pred->id, false));
    ck_assert(kiln__exec_runs(g, m.fused->id, false));
    /* An eval that runs the writer (the loss part) skips the rider as well. */
    clear_pred(&m);
    before = nodes_run();
    kiln_tensor *both[2] = {m.pred, m.fused};
    EXPECT_OK(kiln_graph_eval(g, 2, both));
    ck_assert_uint_eq(nodes_run() - before, 1);
    expect_pred(&m, "kiln_graph_eval of the writer and the rider");
}
END_TEST

START_TEST(test_rider_runs_alone_without_writer)
{
    struct xent m = build_xent();
    /* The writer's output, to see that it did not run. */
    float mark[ROWS * COLS + 1];
    for (int i = 0; i < ROWS * COLS + 1; i++) {
        mark[i] = 123.0f;
    }
    EXPECT_OK(kiln_tensor_upload(m.fused, mark, sizeof(mark)));
    clear_pred(&m);
    uint64_t before = nodes_run();
    EXPECT_OK(kiln_graph_eval(g, 1, &m.pred));
    ck_assert_uint_eq(nodes_run() - before, 1); /* ARGMAX, not the writer */
    expect_pred(&m, "kiln_graph_eval of the rider alone");
    float got[ROWS * COLS + 1];
    EXPECT_OK(kiln_tensor_download(m.fused, got, sizeof(got)));
    for (int i = 0; i < ROWS * COLS + 1; i++) {
        ck_assert_msg(got[i] == 123.0f, "the writer ran: element %d is %g", i, (double)got[i]);
    }
}
END_TEST

/* ride refuses a rider that a node between it and the writer reads, a leaf, a rider of
 * the wrong dtype and a writer whose op writes no source. */
START_TEST(test_ride_refusals)
{
    int64_t xd[2] = {ROWS, COLS}, n = ROWS;
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 2, xd);
    kiln_tensor *lab = kiln_input(g, "labels", KILN_DTYPE_I32, 1, &n);
    kiln_tensor *dy = kiln_input(g, "dy", KILN_DTYPE_F32, 0, NULL);
    kiln_tensor *pred = kiln_argmax(g, x);
    kiln_tensor *sum = kiln_sum(g, x, 2u, 0); /* f32 [ROWS] */
    kiln_tensor *other = kiln_argmax(g, x);
    kiln_tensor *add = kiln_add(g, sum, sum);
    kiln_tensor *src[3] = {x, lab, dy};
    kiln_tensor *f = kiln__node(g, KILN_OP_SOFTMAX_XENT_FUSED, 3, src, NULL, 0);
    EXPECT_OK(kiln_graph_status(g));
    ck_assert(!kiln__ride(g, f, lab));     /* a leaf */
    ck_assert(!kiln__ride(g, f, sum));     /* f32: infer refuses it */
    ck_assert(!kiln__ride(g, add, other)); /* ADD writes no source */
    ck_assert_int_eq(f->n_src, 3);
    ck_assert(sum->writer == NULL && other->writer == NULL);
    ck_assert(kiln__ride(g, f, other));
    ck_assert(!kiln__ride(g, f, pred)); /* no fifth slot */
    ck_assert_ptr_eq(other->writer, f);
}
END_TEST

/* A node between the rider and the writer reads the rider: refused. */
START_TEST(test_ride_refuses_read_rider)
{
    int64_t xd[2] = {ROWS, COLS}, n = ROWS;
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 2, xd);
    kiln_tensor *lab = kiln_input(g, "labels", KILN_DTYPE_I32, 1, &n);
    kiln_tensor *dy = kiln_input(g, "dy", KILN_DTYPE_F32, 0, NULL);
    kiln_tensor *pred = kiln_argmax(g, x);
    int64_t vd[2] = {ROWS, 1};
    kiln_tensor_keep(kiln_reshape(g, pred, 2, vd)); /* a view of pred, kept: a reader */
    kiln_tensor *src[3] = {x, lab, dy};
    kiln_tensor *f = kiln__node(g, KILN_OP_SOFTMAX_XENT_FUSED, 3, src, NULL, 0);
    EXPECT_OK(kiln_graph_status(g));
    ck_assert(!kiln__ride(g, f, pred));
    ck_assert_int_eq(f->n_src, 3);
    ck_assert(pred->writer == NULL);
}
END_TEST

/* ==== The planner ==== */

/* The gradient sink of parameter p in g: an ACCUMULATE into p's store gradient. */
static struct kiln_tensor *sink_of(const kiln_tensor *p)
{
    for (int32_t i = 0; i < g->n_nodes; i++) {
        struct kiln_tensor *n = g->nodes[i];
        if ((n->flags & KILN__F_GRAD_SINK) && n->src[0]->entry == p->entry) {
            return n;
        }
    }
    return NULL;
}

/* The gradient r of a parameter, read by its sink only, is computed straight into the
 * store; a writer that lists r as its rider does not read it, so that stays so, while
 * any other reader stops it. The writer here is wired by hand (SOFTMAX_XENT_FUSED takes
 * an i32 rider, a gradient is f32): the graph is compiled, not run. */
static struct kiln_tensor *grad_graph(bool as_rider)
{
    int64_t n = ROWS, xd[2] = {ROWS, COLS};
    kiln_tensor *b = kiln_param(g, "b", 1, &n, KILN_INIT_ZEROS, 0.0f, 0);
    kiln_tensor *w = kiln_input(g, "w", KILN_DTYPE_F32, 1, &n);
    kiln_tensor *loss = kiln_tensor_keep(kiln_sum(g, kiln_mul(g, b, w), 1u, 0));
    EXPECT_OK(kiln_graph_backward(g, loss));
    struct kiln_tensor *sink = sink_of(b);
    ck_assert_ptr_nonnull(sink);
    struct kiln_tensor *r = sink->src[1]->view_root;
    ck_assert(r->op != KILN__OP_LEAF);
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 2, xd);
    kiln_tensor *lab = kiln_input(g, "labels", KILN_DTYPE_I32, 1, &n);
    kiln_tensor *src[3] = {x, lab, loss};
    struct kiln_tensor *f =
        kiln_tensor_keep(kiln__node(g, KILN_OP_SOFTMAX_XENT_FUSED, 3, src, NULL, 0));
    EXPECT_OK(kiln_graph_status(g));
    ck_assert_int_gt(f->id, r->id);
    f->src[3] = r;
    f->n_src = 4;
    r->writer = as_rider ? f : NULL;
    EXPECT_OK(kiln_graph_compile(g));
    return sink;
}

START_TEST(test_rider_gradient_stays_direct)
{
    struct kiln_tensor *sink = grad_graph(true);
    ck_assert_ptr_nonnull(sink->direct);
    ck_assert_ptr_eq(sink->direct, sink->src[1]->view_root);
}
END_TEST

START_TEST(test_reader_stops_direct)
{
    struct kiln_tensor *sink = grad_graph(false);
    ck_assert_ptr_null(sink->direct);
}
END_TEST

/* ==== The fusion pass: the training prediction rides on the loss ==== */

struct net {
    kiln_tensor *x, *w, *lab, *logits, *pred, *loss;
};

/* logits = x w (w a parameter), pred = argmax(logits) kept before the loss, as
 * tools/kiln's classifiers build their training graph; compiled with inputs uploaded. */
static struct net build_net(kiln_graph *gr)
{
    struct net m;
    int64_t xd[2] = {ROWS, 3}, wd[2] = {3, COLS}, n = ROWS;
    m.x = kiln_input(gr, "x", KILN_DTYPE_F32, 2, xd);
    m.w = kiln_param(gr, "w", 2, wd, KILN_INIT_UNIFORM, 1.0f, 3);
    m.lab = kiln_input(gr, "labels", KILN_DTYPE_I32, 1, &n);
    m.logits = kiln_matmul(gr, m.x, m.w, 0, 0);
    m.pred = kiln_tensor_keep(kiln_argmax(gr, m.logits));
    m.loss = kiln_tensor_keep(kiln_softmax_xent(gr, m.logits, m.lab));
    EXPECT_OK(kiln_graph_backward(gr, m.loss));
    EXPECT_OK(kiln_graph_compile(gr));
    float x[ROWS * 3];
    int32_t lab[ROWS] = {1, 0, 6, 2, 4};
    for (int i = 0; i < ROWS * 3; i++) {
        x[i] = (float)((i * 7) % 5) - 2.0f;
    }
    EXPECT_OK(kiln_tensor_upload(m.x, x, sizeof(x)));
    EXPECT_OK(kiln_tensor_upload(m.lab, lab, sizeof(lab)));
    return m;
}

/* The host's argmax of the logits x w, from the downloaded parameter. */
static void net_pred(const struct net *m, int32_t *want)
{
    float w[3 * COLS];
    EXPECT_OK(kiln_tensor_download(m->w, w, sizeof(w)));
    for (int r = 0; r < ROWS; r++) {
        float best = -INFINITY;
        for (int c = 0; c < COLS; c++) {
            float v = 0.0f;
            for (int k = 0; k < 3; k++) {
                v += (float)((r * 3 + k) * 7 % 5 - 2) * w[k * COLS + c];
            }
            if (v > best) {
                best = v;
                want[r] = c;
            }
        }
    }
}

START_TEST(test_fused_prediction)
{
    struct net m = build_net(g);
    struct kiln_tensor *root = m.loss->view_root;
    ck_assert_int_eq(root->op, KILN_OP_SOFTMAX_XENT_FUSED);
    ck_assert_ptr_eq(m.pred->writer, root);
    ck_assert_int_eq(root->n_src, 4);
    /* The prediction of the training graph alone, as kiln_fit's evaluation takes it:
     * the product and the ARGMAX, not the loss. */
    int32_t want[ROWS], got[ROWS];
    net_pred(&m, want);
    uint64_t before = nodes_run();
    EXPECT_OK(kiln_graph_eval(g, 1, &m.pred));
    ck_assert_uint_eq(nodes_run() - before, 2);
    EXPECT_OK(kiln_tensor_download(m.pred, got, sizeof(got)));
    for (int r = 0; r < ROWS; r++) {
        ck_assert_msg(got[r] == want[r], "eval: pred[%d] = %d, expected %d", r, got[r], want[r]);
    }
    /* A training run: no ARGMAX kernel where the loss writes the prediction; the
     * prediction is that of the parameters before the update. */
    int32_t junk[ROWS] = {-1, -1, -1, -1, -1};
    EXPECT_OK(kiln_tensor_upload(m.pred, junk, sizeof(junk)));
    EXPECT_OK(kiln_graph_run(g));
    EXPECT_OK(kiln_tensor_download(m.pred, got, sizeof(got)));
    for (int r = 0; r < ROWS; r++) {
        ck_assert_msg(got[r] == want[r], "run: pred[%d] = %d, expected %d", r, got[r], want[r]);
    }
}
END_TEST

/* KILN_CHECK=1 names a wrong value in what the fused loss writes into its rider, and
 * in its output. GPU backends only: on the CPU backend KILN_CHECK=1 watches for
 * non-finite values and shadows nothing. */
START_TEST(test_check_names_written_source)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *cc = NULL;
    kiln_graph *cg = NULL;
    o.backend = core_backend;
    o.check = 1;
    EXPECT_OK(kiln_context_create(&o, &cc));
    EXPECT_OK(kiln_graph_create(cc, &cg));
    struct net m = build_net(cg);
    struct kiln_tensor *f = m.loss->view_root;
    ck_assert_ptr_eq(m.pred->writer, f);
    EXPECT_OK(kiln_graph_run(cg));
    char want[160];
    snprintf(want, sizeof(want), "written input 3 ('%s')", m.pred->name);
    kiln__context_set_fault_src(cc, KILN_OP_SOFTMAX_XENT_FUSED, 3);
    EXPECT_FAIL(kiln_graph_run(cg), KILN_E_CHECK, want);
    ck_assert_msg(strstr(kiln_last_error(), "op softmax_xent_fused") != NULL &&
                      strstr(kiln_last_error(), f->name) != NULL,
                  "%s", kiln_last_error());
    kiln__context_set_fault(cc, KILN_OP_SOFTMAX_XENT_FUSED);
    EXPECT_FAIL(kiln_graph_run(cg), KILN_E_CHECK, "in its output");
    kiln__context_set_fault(cc, -1);
    EXPECT_OK(kiln_graph_run(cg));
    kiln_graph_destroy(cg);
    kiln_context_destroy(cc);
}
END_TEST

static Suite *rider_suite(void)
{
    Suite *s = suite_create("rider");
    TCase *tc = tcase_create("exec");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_rider_skipped_when_writer_runs);
    tcase_add_test(tc, test_rider_runs_alone_without_writer);
    tcase_add_test(tc, test_ride_refusals);
    tcase_add_test(tc, test_ride_refuses_read_rider);
    suite_add_tcase(s, tc);
    tc = tcase_create("plan");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_rider_gradient_stays_direct);
    tcase_add_test(tc, test_reader_stops_direct);
    suite_add_tcase(s, tc);
    tc = tcase_create("fusion");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_fused_prediction);
    if (strcmp(core_backend, "cpu") != 0) {
        tcase_add_test(tc, test_check_names_written_source);
    }
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    int skip = core_parse_args(argc, argv);
    return skip ? skip : core_run_suite(rider_suite());
}
