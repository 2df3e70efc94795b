/*
 * test_optim_kinds.c - RMSprop and Adagrad over the parameter store against
 * torch.optim: four steps on loss = (w - 0.5)^2 from w0 = 1.5 (tests/core/optim_ref.py
 * prints the values), with weight decay, RMSprop's alpha and eps and Adagrad's learning
 * rate decay; their state (square_avg, sum) in a checkpoint resumes the run exactly;
 * bad options are refused. `test_optim_kinds [cpu|opencl|vulkan]`, 77 without a device.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln.h"

static const char *backend = "cpu";

struct kind_case {
    const char *name;
    kiln_optim_kind kind;
    float lr, alpha, eps, weight_decay, lr_decay;
    float w[4];
};

/* torch 1.13, tests/core/optim_ref.py */
static const struct kind_case cases[] = {
    {"rmsprop",
     KILN_OPTIM_RMSPROP,
     0.01f,
     0.99f,
     1e-8f,
     0.0f,
     0.0f,
     {1.39999998f, 1.33291793f, 1.27998221f, 1.23538899f}},
    {"rmsprop_alpha_wd",
     KILN_OPTIM_RMSPROP,
     0.05f,
     0.9f,
     1e-6f,
     0.1f,
     0.0f,
     {1.34188628f, 1.2366823f, 1.15374279f, 1.08386993f}},
    {"adagrad",
     KILN_OPTIM_ADAGRAD,
     0.1f,
     0.99f,
     1e-10f,
     0.0f,
     0.0f,
     {1.39999998f, 1.33310354f, 1.28045619f, 1.2362231f}},
    {"adagrad_decay_wd",
     KILN_OPTIM_ADAGRAD,
     0.1f,
     0.99f,
     1e-10f,
     0.1f,
     0.5f,
     {1.39999998f, 1.35533881f, 1.32845998f, 1.30997407f}},
};

struct problem {
    kiln_context *ctx;
    kiln_graph *g;
    kiln_tensor *w;
    kiln_optimizer *opt;
};

static void setup_problem(struct problem *p, const struct kind_case *c)
{
    struct kiln_context_options co = KILN_CONTEXT_OPTIONS_INIT;
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    int64_t one = 1;
    float target = 0.5f;
    co.backend = backend;
    ck_assert_int_eq(kiln_context_create(&co, &p->ctx), KILN_OK);
    ck_assert_int_eq(kiln_graph_create(p->ctx, &p->g), KILN_OK);
    p->w = kiln_param(p->g, "w", 1, &one, KILN_INIT_CONSTANT, 1.5f, 0);
    kiln_tensor *t = kiln_input(p->g, "t", KILN_DTYPE_F32, 1, &one);
    ck_assert_int_eq(kiln_graph_backward(p->g, kiln_mse_loss(p->g, p->w, t)), KILN_OK);
    ck_assert_int_eq(kiln_graph_compile(p->g), KILN_OK);
    oo.kind = c->kind;
    oo.lr = c->lr;
    oo.alpha = c->alpha;
    oo.eps = c->eps;
    oo.weight_decay = c->weight_decay;
    oo.lr_decay = c->lr_decay;
    ck_assert_msg(kiln_optimizer_create(kiln_graph_store(p->g), &oo, &p->opt) == KILN_OK, "%s",
                  kiln_last_error());
    ck_assert_int_eq(kiln_tensor_upload(t, &target, sizeof(target)), KILN_OK);
}

static void teardown_problem(struct problem *p)
{
    kiln_graph_destroy(p->g);
    kiln_context_destroy(p->ctx);
}

START_TEST(test_matches_torch)
{
    const struct kind_case *c = &cases[_i];
    struct problem p;
    setup_problem(&p, c);
    for (int step = 0; step < 4; step++) {
        float v;
        ck_assert_int_eq(kiln_train_step(p.g, p.opt), KILN_OK);
        ck_assert_int_eq(kiln_tensor_download(p.w, &v, sizeof(v)), KILN_OK);
        ck_assert_msg(fabsf(v - c->w[step]) <= 2e-6f * fabsf(c->w[step]),
                      "%s on %s, step %d: w = %.9g, torch.optim gives %.9g", c->name, backend,
                      step + 1, (double)v, (double)c->w[step]);
    }
    teardown_problem(&p);
}
END_TEST

START_TEST(test_state_resumes)
{
    const struct kind_case *c = &cases[_i];
    char path[512];
    const char *dir = getenv("KILN_TEST_TMP");
    snprintf(path, sizeof(path), "%s/optim_kinds_%d.safetensors", dir ? dir : "/tmp",
             (int)getpid());
    struct problem a, b;
    float wa, wb;
    setup_problem(&a, c);
    ck_assert_int_eq(kiln_train_step(a.g, a.opt), KILN_OK);
    ck_assert_int_eq(kiln_train_step(a.g, a.opt), KILN_OK);
    ck_assert_int_eq(kiln_checkpoint_save(kiln_graph_store(a.g), path, NULL), KILN_OK);
    ck_assert_int_eq(kiln_train_step(a.g, a.opt), KILN_OK);
    ck_assert_int_eq(kiln_tensor_download(a.w, &wa, sizeof(wa)), KILN_OK);
    setup_problem(&b, c);
    struct kiln_load_options lo = KILN_LOAD_OPTIONS_INIT;
    lo.with_state = 1;
    ck_assert_msg(kiln_checkpoint_load(kiln_graph_store(b.g), path, &lo, NULL) == KILN_OK, "%s",
                  kiln_last_error());
    ck_assert_int_eq(kiln_optimizer_steps(b.opt), 2);
    ck_assert_int_eq(kiln_train_step(b.g, b.opt), KILN_OK);
    ck_assert_int_eq(kiln_tensor_download(b.w, &wb, sizeof(wb)), KILN_OK);
    ck_assert_msg(wa == wb, "%s: %.9g after a resume, %.9g without", c->name, (double)wb,
                  (double)wa);
    ck_assert_float_eq_tol(wa, c->w[2], 2e-6f * fabsf(c->w[2]));
    teardown_problem(&a);
    teardown_problem(&b);
    remove(path);
}
END_TEST

START_TEST(test_bad_options)
{
    struct problem p;
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    kiln_optimizer *o = NULL;
    setup_problem(&p, &cases[0]);
    oo.kind = KILN_OPTIM_RMSPROP;
    oo.momentum = 0.9f;
    ck_assert_int_eq(kiln_optimizer_create(kiln_graph_store(p.g), &oo, &o), KILN_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "RMSprop"));
    oo.momentum = 0.0f;
    oo.alpha = 1.0f;
    ck_assert_int_eq(kiln_optimizer_create(kiln_graph_store(p.g), &oo, &o), KILN_E_INVALID_ARG);
    oo.kind = KILN_OPTIM_ADAGRAD;
    oo.lr_decay = -1.0f;
    ck_assert_int_eq(kiln_optimizer_create(kiln_graph_store(p.g), &oo, &o), KILN_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(kiln_last_error(), "Adagrad"));
    oo.kind = (kiln_optim_kind)7;
    ck_assert_int_eq(kiln_optimizer_create(kiln_graph_store(p.g), &oo, &o), KILN_E_INVALID_ARG);
    teardown_problem(&p);
}
END_TEST

int main(int argc, char **argv)
{
    struct kiln_context_options co = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *probe = NULL;
    backend = argc > 1 ? argv[1] : "cpu";
    co.backend = backend;
    if (kiln_context_create(&co, &probe) != KILN_OK) {
        printf("no %s device: %s\n", backend, kiln_last_error());
        return 77;
    }
    kiln_context_destroy(probe);
    int n = (int)(sizeof(cases) / sizeof(cases[0]));
    Suite *su = suite_create("optim-kinds");
    TCase *tc = tcase_create(backend);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_matches_torch, 0, n);
    tcase_add_loop_test(tc, test_state_resumes, 0, n);
    tcase_add_test(tc, test_bad_options);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
