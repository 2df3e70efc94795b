/*
 * test_store.c - the parameter store seen from the public API: graphs of different
 * batch sizes over one store add up the same gradients as one graph over the joined
 * batch; an evaluation graph reads the trained parameters with no copy; parameters
 * are shared by name and checked for shape; parameters added after a compile go to a
 * new segment that optimizers pick up; frozen parameters get no gradient; shared
 * tensors carry data between graphs; the flat gradient view and the optimizer's hook;
 * optimizers over prefixes; checkpoints of a store with its optimizer state. Runs on
 * the backend named by the first argument (default cpu).
 */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "core_util.h"

static kiln_context *ctx;

static void setup(void)
{
    ctx = core_context();
}

static void teardown(void)
{
    kiln_context_destroy(ctx);
    ctx = NULL;
}

#define IN  5
#define HID 7
#define OUT 3

/* A two-layer net on x [batch, IN] with loss = sum((net(x) - t)^2), additive over the
 * batch; its parameters come from g's store ("fc1.weight", ...). */
struct net {
    kiln_graph *g;
    kiln_tensor *x, *t, *y, *loss;
};

static void build_net(kiln_store *s, int64_t batch, struct net *n)
{
    int64_t xd[2] = {batch, IN}, td[2] = {batch, OUT};
    struct kiln_dense_options o = KILN_DENSE_OPTIONS_INIT;
    o.seed = 11;
    EXPECT_OK(kiln_graph_create_in(s, &n->g));
    n->x = kiln_input(n->g, "x", KILN_DTYPE_F32, 2, xd);
    n->t = kiln_input(n->g, "t", KILN_DTYPE_F32, 2, td);
    kiln_tensor *h = kiln_tanh(n->g, kiln_dense(n->g, n->x, HID, "fc1", &o));
    n->y = kiln_tensor_keep(kiln_dense(n->g, h, OUT, "fc2", &o));
    kiln_tensor *d = kiln_sub(n->g, n->y, n->t);
    n->loss = kiln_tensor_keep(kiln_sum(n->g, kiln_mul(n->g, d, d), 3u, 0));
}

static void fill(float *v, int64_t n, unsigned seed)
{
    for (int64_t i = 0; i < n; i++) {
        v[i] = (float)((i * 7919 + seed * 104729) % 2001) / 1000.0f - 1.0f;
    }
}

static void upload_rows(struct net *n, const float *x, const float *t, int64_t rows)
{
    EXPECT_OK(kiln_tensor_upload(n->x, x, (size_t)(rows * IN) * sizeof(float)));
    EXPECT_OK(kiln_tensor_upload(n->t, t, (size_t)(rows * OUT) * sizeof(float)));
}

static void expect_near(const float *got, const float *want, int64_t n, float rel, const char *what)
{
    for (int64_t i = 0; i < n; i++) {
        float tol = rel * (fabsf(want[i]) + 1e-3f);
        ck_assert_msg(fabsf(got[i] - want[i]) <= tol, "%s[%lld]: got %.9g, expected %.9g", what,
                      (long long)i, got[i], want[i]);
    }
}

START_TEST(test_two_batch_sizes_add_up)
{
    /* Graphs of batch 3 and 5 over one store: their gradients add up to those of one
     * graph of batch 8 over the joined batch (the same initial values: same names,
     * seeds and creation order in a second store). */
    kiln_store *s1, *s2;
    struct net a, b, c;
    EXPECT_OK(kiln_store_create(ctx, &s1));
    EXPECT_OK(kiln_store_create(ctx, &s2));
    build_net(s1, 3, &a);
    build_net(s1, 5, &b);
    build_net(s2, 8, &c);
    struct net *all[3] = {&a, &b, &c};
    for (int i = 0; i < 3; i++) {
        EXPECT_OK(kiln_graph_backward(all[i]->g, all[i]->loss));
        EXPECT_OK(kiln_graph_compile(all[i]->g));
    }
    ck_assert_int_eq(kiln_store_n_params(s1), 4);
    ck_assert_int_eq(kiln_store_n_param_elems(s1), IN * HID + HID + HID * OUT + OUT);
    float x[8 * IN], t[8 * OUT];
    fill(x, 8 * IN, 1);
    fill(t, 8 * OUT, 2);
    upload_rows(&a, x, t, 3);
    upload_rows(&b, x + 3 * IN, t + 3 * OUT, 5);
    upload_rows(&c, x, t, 8);
    EXPECT_OK(kiln_graph_run(a.g));
    EXPECT_OK(kiln_graph_run(b.g));
    EXPECT_OK(kiln_graph_run(c.g));
    int64_t n = kiln_store_n_param_elems(s1);
    float *g1 = malloc((size_t)n * sizeof(float)), *g2 = malloc((size_t)n * sizeof(float));
    ck_assert(g1 != NULL && g2 != NULL);
    EXPECT_OK(kiln_store_grads_download(s1, g1, n));
    EXPECT_OK(kiln_store_grads_download(s2, g2, n));
    expect_near(g1, g2, n, 1e-5f, "gradient of batches 3 + 5 vs batch 8");
    free(g1);
    free(g2);
    for (int i = 0; i < 3; i++) {
        kiln_graph_destroy(all[i]->g);
    }
    kiln_store_destroy(s1);
    kiln_store_destroy(s2);
}
END_TEST

START_TEST(test_eval_graph_reads_trained_params)
{
    /* A train graph of batch 64 and an eval graph of batch 1000 over one store: after
     * training, evaluating moves only the eval input and output between host and device
     * and computes with the trained parameters. */
    kiln_store *s;
    struct net tr, ev;
    EXPECT_OK(kiln_store_create(ctx, &s));
    build_net(s, 64, &tr);
    build_net(s, 1000, &ev);
    EXPECT_OK(kiln_graph_backward(tr.g, tr.loss));
    EXPECT_OK(kiln_graph_compile(tr.g));
    EXPECT_OK(kiln_graph_compile(ev.g));
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.lr = 0.01f;
    kiln_optimizer *opt;
    EXPECT_OK(kiln_optimizer_create(s, &oo, &opt));
    static float x[1000 * IN], t[1000 * OUT], y_ev[1000 * OUT], y_tr[64 * OUT], y0[1000 * OUT];
    fill(x, 1000 * IN, 3);
    fill(t, 1000 * OUT, 4);
    upload_rows(&ev, x, t, 1000);
    EXPECT_OK(kiln_graph_eval(ev.g, 1, &ev.y));
    EXPECT_OK(kiln_tensor_download(ev.y, y0, sizeof(y0)));
    upload_rows(&tr, x, t, 64);
    float l0 = 0, l = 0;
    for (int i = 0; i < 5; i++) {
        EXPECT_OK(kiln_train_step(tr.g, opt));
        EXPECT_OK(kiln_tensor_download(tr.loss, i == 0 ? &l0 : &l, sizeof(float)));
    }
    ck_assert_msg(l < l0, "loss %g -> %g", l0, l);
    EXPECT_OK(kiln_graph_eval(tr.g, 1, &tr.y));
    EXPECT_OK(kiln_tensor_download(tr.y, y_tr, sizeof(y_tr)));
    struct kiln_stats st;
    kiln_context_reset_stats(ctx);
    EXPECT_OK(kiln_tensor_upload(ev.x, x, sizeof(x)));
    EXPECT_OK(kiln_graph_eval(ev.g, 1, &ev.y));
    EXPECT_OK(kiln_tensor_download(ev.y, y_ev, sizeof(y_ev)));
    kiln_context_stats(ctx, &st);
    ck_assert_uint_eq(st.bytes_uploaded, sizeof(x));
    ck_assert_uint_eq(st.bytes_downloaded, sizeof(y_ev));
    /* The first 64 rows match the train graph's outputs and differ from the untrained. */
    expect_near(y_ev, y_tr, 64 * OUT, 1e-5f, "eval graph vs train graph");
    int changed = 0;
    for (int i = 0; i < 64 * OUT; i++) {
        changed += fabsf(y_ev[i] - y0[i]) > 1e-6f;
    }
    ck_assert_int_gt(changed, 64 * OUT / 2);
    kiln_graph_destroy(tr.g);
    kiln_graph_destroy(ev.g);
    kiln_store_destroy(s);
}
END_TEST

START_TEST(test_shared_by_name)
{
    kiln_store *s;
    kiln_graph *g1, *g2;
    int64_t d3 = 3, d4 = 4;
    EXPECT_OK(kiln_store_create(ctx, &s));
    EXPECT_OK(kiln_graph_create_in(s, &g1));
    EXPECT_OK(kiln_graph_create_in(s, &g2));
    kiln_tensor *w1 = kiln_param(g1, "w", 1, &d3, KILN_INIT_CONSTANT, 2.0f, 0);
    /* Within a graph the same name is the same tensor (a layer used twice). */
    ck_assert_ptr_eq(kiln_param(g1, "w", 1, &d3, KILN_INIT_ZEROS, 0.0f, 0), w1);
    /* The second graph's initializer is ignored: the entry exists. */
    kiln_tensor *w2 = kiln_param(g2, "w", 1, &d3, KILN_INIT_ZEROS, 0.0f, 0);
    kiln_tensor_keep(kiln_relu(g1, w1));
    kiln_tensor_keep(kiln_relu(g2, w2));
    EXPECT_OK(kiln_graph_compile(g1));
    EXPECT_OK(kiln_graph_compile(g2));
    ck_assert_int_eq(kiln_store_n_entries(s), 1);
    float v[3] = {1, 2, 3}, r[3];
    EXPECT_OK(kiln_tensor_upload(w1, v, sizeof(v)));
    EXPECT_OK(kiln_tensor_download(w2, r, sizeof(r)));
    ck_assert_mem_eq(v, r, sizeof(v));
    /* A mismatched shape or kind is an error naming both. */
    kiln_graph *g3;
    EXPECT_OK(kiln_graph_create_in(s, &g3));
    kiln_param(g3, "w", 1, &d4, KILN_INIT_ZEROS, 0.0f, 0);
    EXPECT_FAIL(kiln_graph_status(g3), KILN_E_SHAPE, "'w' is a parameter f32 [3]");
    kiln_graph_destroy(g3);
    EXPECT_OK(kiln_graph_create_in(s, &g3));
    kiln_store_tensor(g3, "w", KILN_STORE_BUFFER, KILN_DTYPE_F32, 1, &d3, KILN_INIT_ZEROS, 0.0f, 0);
    EXPECT_FAIL(kiln_graph_status(g3), KILN_E_SHAPE, "here a buffer f32 [3] is asked for");
    kiln_graph_destroy(g3);
    EXPECT_FAIL(kiln_store_read(s, "nope", r, sizeof(r)), KILN_E_INVALID_ARG, "no entry 'nope'");
    EXPECT_FAIL(kiln_store_read(s, "w", r, 8), KILN_E_INVALID_ARG, "8 bytes given");
    kiln_graph_destroy(g1);
    kiln_graph_destroy(g2);
    kiln_store_destroy(s);
}
END_TEST

START_TEST(test_params_added_after_compile)
{
    /* An optimizer created before a graph adds a parameter updates it as well (the store
     * gains a segment; the optimizer rebuilds its update). loss = sum(a^2) + sum(b^2):
     * SGD lr 0.25 halves both. */
    kiln_store *s;
    kiln_graph *g1, *g2;
    int64_t d = 3;
    EXPECT_OK(kiln_store_create(ctx, &s));
    EXPECT_OK(kiln_graph_create_in(s, &g1));
    kiln_tensor *a = kiln_param(g1, "a", 1, &d, KILN_INIT_CONSTANT, 2.0f, 0);
    kiln_tensor *l1 = kiln_sum(g1, kiln_mul(g1, a, a), 1u, 0);
    EXPECT_OK(kiln_graph_backward(g1, l1));
    EXPECT_OK(kiln_graph_compile(g1));
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.lr = 0.25f;
    kiln_optimizer *opt;
    EXPECT_OK(kiln_optimizer_create(s, &oo, &opt));
    EXPECT_OK(kiln_train_step(g1, opt));
    float v[3];
    EXPECT_OK(kiln_store_read(s, "a", v, sizeof(v)));
    ck_assert_float_eq(v[0], 1.0f);
    EXPECT_OK(kiln_graph_create_in(s, &g2));
    kiln_tensor *a2 = kiln_param(g2, "a", 1, &d, KILN_INIT_ZEROS, 0.0f, 0);
    kiln_tensor *b = kiln_param(g2, "b", 1, &d, KILN_INIT_CONSTANT, 4.0f, 0);
    kiln_tensor *l2 = kiln_add(g2, kiln_sum(g2, kiln_mul(g2, a2, a2), 1u, 0),
                               kiln_sum(g2, kiln_mul(g2, b, b), 1u, 0));
    EXPECT_OK(kiln_graph_backward(g2, l2));
    EXPECT_OK(kiln_graph_compile(g2));
    struct kiln_store_entry e;
    EXPECT_OK(kiln_store_entry(s, 1, &e));
    ck_assert_str_eq(e.name, "b");
    ck_assert_int_eq(e.allocated, 1);
    EXPECT_OK(kiln_train_step(g2, opt));
    EXPECT_OK(kiln_store_read(s, "a", v, sizeof(v)));
    ck_assert_float_eq(v[2], 0.5f);
    EXPECT_OK(kiln_store_read(s, "b", v, sizeof(v)));
    ck_assert_float_eq(v[1], 2.0f);
    ck_assert_int_eq(kiln_optimizer_steps(opt), 2);
    kiln_graph_destroy(g1);
    kiln_graph_destroy(g2);
    kiln_store_destroy(s);
}
END_TEST

START_TEST(test_freeze_and_shared)
{
    /* Graph 1 computes y = d * x with d frozen, copies y into a shared tensor and trains
     * g on loss (g y - 1)^2; graph 2 reads the shared tensor. d gets no gradient in
     * graph 1 and keeps its value after graph 1's steps. */
    kiln_store *s;
    kiln_graph *g1, *g2;
    int64_t d = 4;
    EXPECT_OK(kiln_store_create(ctx, &s));
    EXPECT_OK(kiln_graph_create_in(s, &g1));
    kiln_graph_freeze(g1, "disc.");
    kiln_tensor *x = kiln_input(g1, "x", KILN_DTYPE_F32, 1, &d);
    kiln_tensor *dd = kiln_param(g1, "disc.w", 1, &d, KILN_INIT_CONSTANT, 3.0f, 0);
    kiln_tensor *gw = kiln_param(g1, "gen.w", 1, &d, KILN_INIT_CONSTANT, 0.5f, 0);
    kiln_tensor *y = kiln_mul(g1, dd, x);
    kiln_tensor *sh = kiln_store_tensor(g1, "y.shared", KILN_STORE_SHARED, KILN_DTYPE_F32, 1, &d,
                                        KILN_INIT_ZEROS, 0.0f, 0);
    kiln_assign(g1, sh, y);
    kiln_tensor *r = kiln_shift(g1, kiln_mul(g1, gw, y), -1.0f);
    EXPECT_OK(kiln_graph_backward(g1, kiln_sum(g1, kiln_mul(g1, r, r), 1u, 0)));
    ck_assert_ptr_null(kiln_tensor_grad(dd));
    ck_assert_ptr_nonnull(kiln_tensor_grad(gw));
    ck_assert_int_eq(kiln_graph_n_params(g1), 1);
    EXPECT_OK(kiln_graph_compile(g1));
    EXPECT_OK(kiln_graph_create_in(s, &g2));
    kiln_tensor *sh2 = kiln_store_tensor(g2, "y.shared", KILN_STORE_SHARED, KILN_DTYPE_F32, 1, &d,
                                         KILN_INIT_ZEROS, 0.0f, 0);
    kiln_tensor *z = kiln_tensor_keep(kiln_scale(g2, sh2, 2.0f));
    EXPECT_OK(kiln_graph_compile(g2));
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.lr = 0.01f;
    kiln_optimizer *opt;
    EXPECT_OK(kiln_optimizer_create(s, &oo, &opt));
    float xv[4] = {1, -1, 2, 0.5f}, v[4];
    EXPECT_OK(kiln_tensor_upload(x, xv, sizeof(xv)));
    EXPECT_OK(kiln_train_step(g1, opt));
    EXPECT_OK(kiln_store_read(s, "disc.w", v, sizeof(v)));
    ck_assert_float_eq(v[3], 3.0f);
    EXPECT_OK(kiln_store_read(s, "gen.w", v, sizeof(v)));
    ck_assert_float_ne(v[0], 0.5f);
    EXPECT_OK(kiln_graph_run(g2));
    EXPECT_OK(kiln_tensor_download(z, v, sizeof(v)));
    for (int i = 0; i < 4; i++) {
        ck_assert_float_eq(v[i], 6.0f * xv[i]);
    }
    kiln_graph_destroy(g1);
    kiln_graph_destroy(g2);
    kiln_store_destroy(s);
}
END_TEST

/* The hook doubles every gradient through the flat host view. */
static kiln_status double_grads(void *ud, kiln_store *s)
{
    int *calls = ud;
    int64_t n = kiln_store_n_param_elems(s);
    float *g = malloc((size_t)n * sizeof(float));
    if (g == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    kiln_status st = kiln_store_grads_download(s, g, n);
    for (int64_t i = 0; st == KILN_OK && i < n; i++) {
        g[i] *= 2.0f;
    }
    if (st == KILN_OK) {
        st = kiln_store_grads_upload(s, g, n);
    }
    free(g);
    (*calls)++;
    return st;
}

START_TEST(test_grad_hook_and_prefixes)
{
    /* loss = sum(a^2) + sum(b^2) with a = 1, b = 1 (gradient 2 each); optimizer A over
     * "a" with a hook doubling every gradient (lr 0.1: a = 1 - 0.4), optimizer B over
     * "b" (lr 0.1: b = 1 - 0.2) - B clears only b's gradient, A only a's. */
    kiln_graph *g;
    int64_t d = 2;
    EXPECT_OK(kiln_graph_create(ctx, &g));
    kiln_tensor *a = kiln_param(g, "a", 1, &d, KILN_INIT_ONES, 0.0f, 0);
    kiln_tensor *b = kiln_param(g, "b", 1, &d, KILN_INIT_ONES, 0.0f, 0);
    kiln_tensor *l =
        kiln_add(g, kiln_sum(g, kiln_mul(g, a, a), 1u, 0), kiln_sum(g, kiln_mul(g, b, b), 1u, 0));
    EXPECT_OK(kiln_graph_backward(g, l));
    EXPECT_OK(kiln_graph_compile(g));
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.lr = 0.1f;
    oo.prefix = "b";
    kiln_optimizer *ob, *oa;
    EXPECT_OK(kiln_optimizer_create(kiln_graph_store(g), &oo, &ob));
    oo.prefix = "a";
    EXPECT_OK(kiln_optimizer_create(kiln_graph_store(g), &oo, &oa));
    int calls = 0;
    kiln_optimizer_set_grad_hook(oa, double_grads, &calls);
    EXPECT_OK(kiln_graph_run(g));
    EXPECT_OK(kiln_optimizer_step(ob));
    float v[2];
    EXPECT_OK(kiln_tensor_download(kiln_tensor_grad(a), v, sizeof(v)));
    ck_assert_float_eq(v[0], 2.0f);
    EXPECT_OK(kiln_tensor_download(kiln_tensor_grad(b), v, sizeof(v)));
    ck_assert_float_eq(v[0], 0.0f);
    EXPECT_OK(kiln_optimizer_step(oa));
    ck_assert_int_eq(calls, 1);
    EXPECT_OK(kiln_tensor_download(a, v, sizeof(v)));
    ck_assert_float_eq_tol(v[1], 0.6f, 1e-6f);
    EXPECT_OK(kiln_tensor_download(b, v, sizeof(v)));
    ck_assert_float_eq_tol(v[1], 0.8f, 1e-6f);
    EXPECT_FAIL(kiln_store_grads_download(kiln_graph_store(g), v, 2), KILN_E_INVALID_ARG,
                "2 elements given, the store has 4");
    kiln_graph_destroy(g);
}
END_TEST

START_TEST(test_store_checkpoint)
{
    /* A store saved with its Adam state loads into a new store of the same entries
     * (before any graph compiled there); the next steps then match exactly. */
    const char *dir = getenv("KILN_TEST_TMP");
    char path[512];
    snprintf(path, sizeof(path), "%s/store_%d.safetensors", dir ? dir : "/tmp", (int)getpid());
    kiln_store *s1, *s2;
    struct net n1, n2;
    float x[4 * IN], t[4 * OUT], l1, l2;
    fill(x, 4 * IN, 5);
    fill(t, 4 * OUT, 6);
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.kind = KILN_OPTIM_ADAM;
    oo.lr = 0.01f;
    kiln_optimizer *o1, *o2;
    EXPECT_OK(kiln_store_create(ctx, &s1));
    build_net(s1, 4, &n1);
    EXPECT_OK(kiln_graph_backward(n1.g, n1.loss));
    EXPECT_OK(kiln_graph_compile(n1.g));
    EXPECT_OK(kiln_optimizer_create(s1, &oo, &o1));
    upload_rows(&n1, x, t, 4);
    for (int i = 0; i < 3; i++) {
        EXPECT_OK(kiln_train_step(n1.g, o1));
    }
    EXPECT_OK(kiln_store_save(s1, path, 1));
    EXPECT_OK(kiln_store_create(ctx, &s2));
    build_net(s2, 4, &n2);
    EXPECT_OK(kiln_graph_backward(n2.g, n2.loss));
    EXPECT_OK(kiln_optimizer_create(s2, &oo, &o2));
    EXPECT_OK(kiln_store_load(s2, path, 0));
    EXPECT_OK(kiln_graph_compile(n2.g));
    kiln_optimizer_set_steps(o2, kiln_optimizer_steps(o1));
    upload_rows(&n2, x, t, 4);
    for (int i = 0; i < 3; i++) {
        EXPECT_OK(kiln_train_step(n1.g, o1));
        EXPECT_OK(kiln_train_step(n2.g, o2));
        EXPECT_OK(kiln_tensor_download(n1.loss, &l1, sizeof(l1)));
        EXPECT_OK(kiln_tensor_download(n2.loss, &l2, sizeof(l2)));
        ck_assert_msg(l1 == l2, "step %d: %.9g vs %.9g", i, l1, l2);
    }
    remove(path);
    kiln_graph_destroy(n1.g);
    kiln_graph_destroy(n2.g);
    kiln_store_destroy(s1);
    kiln_store_destroy(s2);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_two_batch_sizes_add_up);
    tcase_add_test(tc, test_eval_graph_reads_trained_params);
    tcase_add_test(tc, test_shared_by_name);
    tcase_add_test(tc, test_params_added_after_compile);
    tcase_add_test(tc, test_freeze_and_shared);
    tcase_add_test(tc, test_grad_hook_and_prefixes);
    tcase_add_test(tc, test_store_checkpoint);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    int skip = core_parse_args(argc, argv);
    if (skip != 0) {
        return skip;
    }
    return core_run_suite(store_suite());
}
