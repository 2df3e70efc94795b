/* test_smoke.c - a two-layer net learns a synthetic problem on the default backend. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "kiln.h"

START_TEST(test_mlp_learns)
{
    kiln_context *ctx;
    kiln_graph *g;
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    /* KILN_BACKEND=vulkan (or opencl) runs it there; otherwise the CPU. */
    const char *env = getenv("KILN_BACKEND");
    o.backend = env != NULL && env[0] != '\0' ? NULL : "cpu";
    ck_assert_int_eq(kiln_context_create(&o, &ctx), KILN_OK);
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    int64_t xd[2] = {64, 2}, yd[1] = {64}, w1d[2] = {16, 2}, b1d[1] = {16}, w2d[2] = {2, 16},
            b2d[1] = {2};
    kiln_tensor *x = kiln_input(g, "x", KILN_DTYPE_F32, 2, xd);
    kiln_tensor *y = kiln_input(g, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *w1 = kiln_param(g, "w1", 2, w1d, KILN_INIT_HE_UNIFORM, 0, 1);
    kiln_tensor *b1 = kiln_param(g, "b1", 1, b1d, KILN_INIT_ZEROS, 0, 1);
    kiln_tensor *w2 = kiln_param(g, "w2", 2, w2d, KILN_INIT_XAVIER_UNIFORM, 0, 1);
    kiln_tensor *b2 = kiln_param(g, "b2", 1, b2d, KILN_INIT_ZEROS, 0, 1);
    kiln_tensor *h = kiln_relu(g, kiln_add(g, kiln_matmul(g, x, w1, 0, 1), b1));
    kiln_tensor *logits = kiln_add(g, kiln_matmul(g, h, w2, 0, 1), b2);
    kiln_tensor *loss = kiln_tensor_keep(kiln_softmax_xent(g, logits, y));
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.lr = 0.1f;
    oo.momentum = 0.9f;
    kiln_optimizer *opt;
    ck_assert_int_eq(kiln_graph_backward(g, loss), KILN_OK);
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(kiln_optimizer_create(kiln_graph_store(g), &oo, &opt), KILN_OK);
    float xs[128];
    int32_t ys[64];
    float first = 0, last = 0;
    for (int step = 0; step < 200; step++) {
        for (int i = 0; i < 64; i++) {
            float a = (float)rand() / RAND_MAX * 2 - 1, b = (float)rand() / RAND_MAX * 2 - 1;
            xs[2 * i] = a;
            xs[2 * i + 1] = b;
            ys[i] = a * b > 0;
        }
        ck_assert_int_eq(kiln_tensor_upload(x, xs, sizeof(xs)), KILN_OK);
        ck_assert_int_eq(kiln_tensor_upload(y, ys, sizeof(ys)), KILN_OK);
        ck_assert_msg(kiln_train_step(g, opt) == KILN_OK, "%s", kiln_last_error());
        ck_assert_int_eq(kiln_tensor_download(loss, &last, sizeof(last)), KILN_OK);
        if (step == 0) {
            first = last;
        }
    }
    ck_assert_msg(last < 0.5f * first, "loss %g -> %g", first, last);
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("smoke");
    TCase *tc = tcase_create("mlp");
    tcase_add_test(tc, test_mlp_learns);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
