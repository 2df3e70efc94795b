/*
 * test_mlp.c - end to end on the CPU backend: the 784-256-128-10 MLP trained with
 * kiln_fit on the first 2,000 Fashion-MNIST training images reaches at least 0.75
 * accuracy on the first 1,000 test images within a minute. Exits 77 (skip) when the
 * dataset is not installed (`apt-get install dataset-fashion-mnist`).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"

#define DATA_DIR "/usr/share/datasets/fashion-mnist"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

START_TEST(test_mlp_fashion_mnist_tiny)
{
    struct kiln_dataset train = {0}, test = {0};
    struct kiln_context_options co = KILN_CONTEXT_OPTIONS_INIT;
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    struct kiln_fit_options fo = KILN_FIT_OPTIONS_INIT;
    struct kiln_classifier m = KILN_CLASSIFIER_INIT;
    struct kiln_fit_result res;
    kiln_context *ctx;
    kiln_graph *g;
    double mean, std, t0 = now_s();
    static const int64_t sizes[3] = {256, 128, 10};

    ck_assert_msg(kiln_dataset_load_mnist(DATA_DIR, "train", 2000, &train) == KILN_OK, "%s",
                  kiln_last_error());
    ck_assert_msg(kiln_dataset_load_mnist(DATA_DIR, "t10k", 1000, &test) == KILN_OK, "%s",
                  kiln_last_error());
    ck_assert_int_eq(train.n, 2000);
    ck_assert_int_eq(test.n, 1000);
    ck_assert_int_eq(kiln_dataset_stats(&train, &mean, &std), KILN_OK);
    ck_assert_int_eq(kiln_dataset_normalize(&train, mean, std), KILN_OK);
    ck_assert_int_eq(kiln_dataset_normalize(&test, mean, std), KILN_OK);

    co.backend = "cpu";
    ck_assert_int_eq(kiln_context_create(&co, &ctx), KILN_OK);
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    int64_t xd[2] = {64, 784}, yd[1] = {64};
    m.x = kiln_input(g, "x", KILN_DTYPE_F32, 2, xd);
    m.y = kiln_input(g, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *logits = kiln_mlp(g, m.x, 3, sizes, KILN_ACTIVATION_RELU, NULL);
    m.loss = kiln_tensor_keep(kiln_softmax_xent(g, logits, m.y));
    m.pred = kiln_tensor_keep(kiln_argmax(g, logits));
    oo.lr = 0.01f;
    oo.momentum = 0.9f;
    ck_assert_msg(kiln_graph_backward(g, m.loss) == KILN_OK, "%s", kiln_last_error());
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "%s", kiln_last_error());
    ck_assert_msg(kiln_optimizer_create(kiln_graph_store(g), &oo, &m.optimizer) == KILN_OK, "%s",
                  kiln_last_error());
    ck_assert_int_eq(kiln_graph_n_param_elems(g), 235146);

    fo.epochs = 10;
    fo.seed = 1;
    ck_assert_msg(kiln_fit(&m, &train, NULL, &test, &fo, &res) == KILN_OK, "%s", kiln_last_error());
    double secs = now_s() - t0;
    printf("tiny Fashion-MNIST: %lld steps, train loss %.4f, test accuracy %.4f, %.2f s\n",
           (long long)res.steps, res.train_loss, res.test_accuracy, secs);
    ck_assert_int_eq(res.steps, 10 * (2000 / 64));
    ck_assert_msg(res.test_accuracy >= 0.75, "accuracy %.4f", res.test_accuracy);
    ck_assert_msg(secs < 60.0, "took %.1f s", secs);

    /* kiln_evaluate covers the partial last batch: 1000 = 15 * 64 + 40. */
    double acc;
    ck_assert_int_eq(kiln_evaluate(&m, &test, &acc), KILN_OK);
    ck_assert_double_eq_tol(acc, res.test_accuracy, 1e-12);
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    kiln_dataset_fini(&test);
    kiln_dataset_fini(&train);
}
END_TEST

int main(void)
{
    if (access(DATA_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0 &&
        access(DATA_DIR "/train-images-idx3-ubyte", R_OK) != 0) {
        printf("SKIP: Fashion-MNIST is not installed in " DATA_DIR
               " (apt-get install dataset-fashion-mnist)\n");
        return 77;
    }
    Suite *s = suite_create("train-mlp");
    TCase *tc = tcase_create("fashion-mnist");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_mlp_fashion_mnist_tiny);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
