/*
 * test_checkpoint_meta.c - checkpoints with metadata and training state
 * (kiln_checkpoint_save / kiln_checkpoint_load): a run resumed from a checkpoint in a
 * fresh context continues bit for bit (parameters, Adam state, step counts and the run
 * count that keys dropout); the metadata reads back from the header; strict loads name
 * a missing, extra or mis-shaped tensor, partial loads skip and count them; a file
 * without state or with other optimizers is refused for resuming, changing nothing.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln.h"

struct model {
    kiln_context *ctx;
    kiln_graph *g;
    kiln_tensor *x, *y, *loss;
    kiln_optimizer *opt;
};

static char path[512];

/* x [8, 3] -> dense(hidden) -> relu -> dropout 0.5 -> dense(4) [-> extra dense(4)]. */
static void build(struct model *m, int64_t hidden, int extra, kiln_optim_kind kind)
{
    int64_t xd[2] = {8, 3}, yd[1] = {8};
    struct kiln_dense_options d = KILN_DENSE_OPTIONS_INIT;
    d.seed = 5;
    ck_assert_int_eq(kiln_context_create(NULL, &m->ctx), KILN_OK);
    ck_assert_int_eq(kiln_graph_create(m->ctx, &m->g), KILN_OK);
    kiln_graph *g = m->g;
    m->x = kiln_input(g, "x", KILN_DTYPE_F32, 2, xd);
    m->y = kiln_input(g, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *h = kiln_dropout(g, kiln_relu(g, kiln_dense(g, m->x, hidden, "fc1", &d)), 0.5f, 9);
    kiln_tensor *logits = kiln_dense(g, h, 4, "fc2", &d);
    if (extra) {
        logits = kiln_dense(g, logits, 4, "fc3", &d);
    }
    m->loss = kiln_tensor_keep(kiln_softmax_xent(g, logits, m->y));
    ck_assert_int_eq(kiln_graph_backward(g, m->loss), KILN_OK);
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    struct kiln_optim_options o = KILN_OPTIM_OPTIONS_INIT;
    o.kind = kind;
    o.lr = 0.05f;
    o.momentum = kind == KILN_OPTIM_SGD ? 0.9f : 0.0f;
    ck_assert_int_eq(kiln_optimizer_create(kiln_graph_store(g), &o, &m->opt), KILN_OK);
    float xs[24];
    int32_t ys[8];
    for (int i = 0; i < 24; i++) {
        xs[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
    }
    for (int i = 0; i < 8; i++) {
        ys[i] = i % 4;
    }
    ck_assert_int_eq(kiln_tensor_upload(m->x, xs, sizeof(xs)), KILN_OK);
    ck_assert_int_eq(kiln_tensor_upload(m->y, ys, sizeof(ys)), KILN_OK);
}

static void destroy(struct model *m)
{
    kiln_graph_destroy(m->g);
    kiln_context_destroy(m->ctx);
    memset(m, 0, sizeof(*m));
}

static void setup(void)
{
    const char *dir = getenv("KILN_TEST_TMP");
    snprintf(path, sizeof(path), "%s/ckpt_meta_%d.safetensors", dir ? dir : "/tmp", (int)getpid());
}

static void teardown(void)
{
    remove(path);
}

/* Steps m n times; the losses to loss[] and then fc1.weight to w (32 x 3 floats). */
static void steps(struct model *m, int n, float *loss, float *w)
{
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(kiln_train_step(m->g, m->opt), KILN_OK);
        ck_assert_int_eq(kiln_tensor_download(m->loss, &loss[i], sizeof(float)), KILN_OK);
    }
    ck_assert_int_eq(kiln_store_read(kiln_graph_store(m->g), "fc1.weight", w, 96 * sizeof(float)),
                     KILN_OK);
}

static void save(struct model *m, int with_state)
{
    kiln_meta *meta;
    ck_assert_int_eq(kiln_meta_create(&meta), KILN_OK);
    ck_assert_int_eq(kiln_meta_set(meta, "model", "toy"), KILN_OK);
    ck_assert_int_eq(kiln_meta_set(meta, "epoch", "1"), KILN_OK);
    ck_assert_int_eq(kiln_meta_set(meta, "epoch", "2"), KILN_OK); /* replaces */
    struct kiln_save_options so = KILN_SAVE_OPTIONS_INIT;
    so.with_state = with_state;
    so.meta = meta;
    ck_assert_msg(kiln_checkpoint_save(kiln_graph_store(m->g), path, &so) == KILN_OK, "%s",
                  kiln_last_error());
    kiln_meta_destroy(meta);
}

START_TEST(test_resume_exact)
{
    for (int k = 0; k < 2; k++) {
        kiln_optim_kind kind = k == 0 ? KILN_OPTIM_ADAM : KILN_OPTIM_SGD;
        struct model a, b;
        float la[8], lb[8], wa[96], wb[96];
        build(&a, 32, 0, kind);
        steps(&a, 3, la, wa);
        save(&a, 1);
        steps(&a, 4, la, wa);
        ck_assert_int_eq(kiln_optimizer_steps(a.opt), 7);
        destroy(&a);

        /* A fresh context: everything the next steps depend on comes from the file. */
        build(&b, 32, 0, kind);
        struct kiln_load_options lo = KILN_LOAD_OPTIONS_INIT;
        struct kiln_load_report r;
        lo.with_state = 1;
        ck_assert_msg(kiln_checkpoint_load(kiln_graph_store(b.g), path, &lo, &r) == KILN_OK, "%s",
                      kiln_last_error());
        ck_assert_int_eq(r.n_loaded, 4);
        ck_assert_int_eq(r.n_state, kind == KILN_OPTIM_ADAM ? 8 : 4);
        ck_assert_int_eq(kiln_optimizer_steps(b.opt), 3);
        ck_assert_uint_eq(kiln_store_runs(kiln_graph_store(b.g)), 3);
        steps(&b, 4, lb, wb);
        ck_assert_mem_eq(la, lb, sizeof(la[0]) * 4);
        ck_assert_mem_eq(wa, wb, sizeof(wa));
        destroy(&b);
    }
}
END_TEST

START_TEST(test_meta_read)
{
    struct model m;
    build(&m, 32, 0, KILN_OPTIM_ADAM);
    float l[2], w[96];
    steps(&m, 2, l, w);
    save(&m, 1);
    kiln_meta *meta;
    ck_assert_msg(kiln_meta_read(path, &meta) == KILN_OK, "%s", kiln_last_error());
    ck_assert_str_eq(kiln_meta_get(meta, "model"), "toy");
    ck_assert_str_eq(kiln_meta_get(meta, "epoch"), "2");
    ck_assert_str_eq(kiln_meta_get(meta, "kiln.format"), "1");
    ck_assert_str_eq(kiln_meta_get(meta, "kiln.version"), kiln_version());
    ck_assert_str_eq(kiln_meta_get(meta, "kiln.runs"), "2");
    ck_assert_ptr_nonnull(strstr(kiln_meta_get(meta, "kiln.optimizers"), "\"steps\":2"));
    ck_assert_ptr_null(kiln_meta_get(meta, "nothing"));
    ck_assert_int_eq(kiln_meta_count(meta), 6);
    ck_assert_str_eq(kiln_meta_key(meta, 0), "kiln.format");
    ck_assert_ptr_null(kiln_meta_key(meta, 6));
    kiln_meta_destroy(meta);

    /* Reserved keys are refused; a file without metadata reads as an empty set. */
    ck_assert_int_eq(kiln_meta_create(&meta), KILN_OK);
    ck_assert_int_eq(kiln_meta_set(meta, "kiln.runs", "7"), KILN_OK);
    struct kiln_save_options so = KILN_SAVE_OPTIONS_INIT;
    so.meta = meta;
    ck_assert_int_eq(kiln_checkpoint_save(kiln_graph_store(m.g), path, &so), KILN_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "kiln.runs"));
    kiln_meta_destroy(meta);
    ck_assert_int_eq(kiln_store_save(kiln_graph_store(m.g), path, 0), KILN_OK);
    ck_assert_int_eq(kiln_meta_read(path, &meta), KILN_OK);
    ck_assert_int_eq(kiln_meta_count(meta), 0);
    kiln_meta_destroy(meta);
    ck_assert_int_eq(kiln_meta_read("/nonexistent/x.safetensors", &meta), KILN_E_IO);
    destroy(&m);
}
END_TEST

START_TEST(test_strict_and_partial)
{
    struct model a, b;
    float w0[96], w1[96];
    build(&a, 32, 1, KILN_OPTIM_SGD); /* has fc3 */
    save(&a, 0);
    destroy(&a);

    build(&b, 32, 0, KILN_OPTIM_SGD);
    kiln_store *s = kiln_graph_store(b.g);
    ck_assert_int_eq(kiln_store_read(s, "fc1.weight", w0, sizeof(w0)), KILN_OK);
    /* strict: the extra tensor is an error naming it, and nothing is written */
    ck_assert_int_eq(kiln_checkpoint_load(s, path, NULL, NULL), KILN_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "fc3.weight"));
    ck_assert_int_eq(kiln_store_read(s, "fc1.weight", w1, sizeof(w1)), KILN_OK);
    ck_assert_mem_eq(w0, w1, sizeof(w0));
    /* partial: the rest loads */
    struct kiln_load_options lo = KILN_LOAD_OPTIONS_INIT;
    struct kiln_load_report r;
    lo.partial = 1;
    ck_assert_int_eq(kiln_checkpoint_load(s, path, &lo, &r), KILN_OK);
    ck_assert_int_eq(r.n_loaded, 4);
    ck_assert_int_eq(r.n_extra, 2);
    ck_assert_str_eq(r.first_extra, "fc3.weight");
    /* a file without state cannot resume */
    lo.partial = 0;
    lo.with_state = 1;
    ck_assert_int_eq(kiln_checkpoint_load(s, path, &lo, NULL), KILN_E_FORMAT);
    destroy(&b);

    /* missing and mis-shaped: errors naming the tensor, or counted when partial */
    build(&a, 32, 0, KILN_OPTIM_SGD);
    save(&a, 1);
    destroy(&a);
    build(&b, 16, 1, KILN_OPTIM_SGD);
    s = kiln_graph_store(b.g);
    ck_assert_int_eq(kiln_checkpoint_load(s, path, NULL, NULL), KILN_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "fc1.weight"));
    lo.with_state = 0;
    lo.partial = 1;
    ck_assert_int_eq(kiln_checkpoint_load(s, path, &lo, &r), KILN_OK);
    ck_assert_int_eq(r.n_mismatched, 3); /* fc1.weight, fc1.bias, fc2.weight */
    ck_assert_str_eq(r.first_mismatched, "fc1.weight");
    ck_assert_int_eq(r.n_missing, 2); /* fc3 */
    ck_assert_str_eq(r.first_missing, "fc3.weight");
    ck_assert_int_eq(r.n_loaded, 1); /* fc2.bias */
    lo.partial = 0;
    ck_assert_int_eq(kiln_checkpoint_load(s, path, &lo, NULL), KILN_E_SHAPE);
    destroy(&b);
}
END_TEST

START_TEST(test_other_optimizer)
{
    struct model a, b;
    float l[2], w[96];
    build(&a, 32, 0, KILN_OPTIM_SGD);
    steps(&a, 2, l, w);
    save(&a, 1);
    destroy(&a);
    build(&b, 32, 0, KILN_OPTIM_ADAM);
    struct kiln_load_options lo = KILN_LOAD_OPTIONS_INIT;
    lo.with_state = 1;
    ck_assert_int_eq(kiln_checkpoint_load(kiln_graph_store(b.g), path, &lo, NULL), KILN_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "exp_avg"));
    ck_assert_int_eq(kiln_optimizer_steps(b.opt), 0);
    /* the weights alone load into any optimizer's model */
    lo.with_state = 0;
    ck_assert_int_eq(kiln_checkpoint_load(kiln_graph_store(b.g), path, &lo, NULL), KILN_OK);
    destroy(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkpoint-meta");
    TCase *tc = tcase_create("checkpoint");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_resume_exact);
    tcase_add_test(tc, test_meta_read);
    tcase_add_test(tc, test_strict_and_partial);
    tcase_add_test(tc, test_other_optimizer);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
