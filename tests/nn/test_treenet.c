/*
 * test_treenet.c - the level-batched tree net on a backend (`test_treenet cpu`): a
 * batch of trees (with two unused batch rows and the slack of its level slots) gives
 * the logits and the parameter gradients that each tree gives alone in a graph of
 * batch 1 (gradients summed in the store); trees that do not fit the slots are refused.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "kiln/treenet.h"

static const char *backend = "cpu";
static kiln_context *ctx;

enum { N_TREES = 6, BATCH = 8, CLASSES = 2 };

static void setup(void)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = backend;
    ck_assert_msg(kiln_context_create(&o, &ctx) == KILN_OK, "%s", kiln_last_error());
}

static void teardown(void)
{
    kiln_context_destroy(ctx);
}

/* A graph of net over s with loss sum(logits * c), c an input [batch, CLASSES]. */
static kiln_tensor *make(kiln_store *s, const struct kiln_tree_caps *caps, int64_t batch,
                         struct kiln_tree_net *net, kiln_graph **g)
{
    struct kiln_tree_net_options o = KILN_TREE_NET_OPTIONS_INIT;
    o.batch = batch;
    o.dim = 12;
    o.hidden = 20;
    o.embed = 5;
    o.seed = 3;
    ck_assert_int_eq(kiln_graph_create_in(s, g), KILN_OK);
    kiln_tensor *y = kiln_tensor_keep(kiln_tree_net_build(*g, &o, caps, net));
    int64_t cd[2] = {batch, CLASSES};
    kiln_tensor *c = kiln_input(*g, "c", KILN_DTYPE_F32, 2, cd);
    kiln_tensor *loss = kiln_sum(*g, kiln_mul(*g, y, c), 3, 0);
    ck_assert_msg(kiln_graph_backward(*g, loss) == KILN_OK, "%s", kiln_last_error());
    ck_assert_msg(kiln_graph_compile(*g) == KILN_OK, "%s", kiln_last_error());
    return c;
}

START_TEST(test_batch_vs_alone)
{
    struct kiln_tree_options to = KILN_TREE_OPTIONS_INIT;
    struct kiln_tree_set set;
    to.n_trees = N_TREES;
    to.max_depth = 5;
    to.seed = 3;
    ck_assert_int_eq(kiln_tree_generate(&to, &set), KILN_OK);
    struct kiln_tree_caps cb = {0}, c1 = {0};
    ck_assert_int_eq(kiln_tree_net_caps(&set, BATCH, &cb), KILN_OK);
    ck_assert_int_eq(kiln_tree_net_caps(&set, 1, &c1), KILN_OK);
    kiln_store *s;
    ck_assert_int_eq(kiln_store_create(ctx, &s), KILN_OK);
    struct kiln_tree_net nb, n1;
    kiln_graph *gb, *g1;
    kiln_tensor *cbt = make(s, &cb, BATCH, &nb, &gb);
    kiln_tensor *c1t = make(s, &c1, 1, &n1, &g1);
    /* The trees in reverse order; rows N_TREES.. unused (weight 0). */
    int64_t order[N_TREES];
    float cs[BATCH * CLASSES] = {0}, yb[BATCH * CLASSES];
    for (int j = 0; j < N_TREES; j++) {
        order[j] = N_TREES - 1 - j;
        cs[j * CLASSES] = 0.5f + 0.25f * (float)j;
        cs[j * CLASSES + 1] = -1.0f + 0.3f * (float)j;
    }
    ck_assert_msg(kiln_tree_net_upload(&nb, &set, order, N_TREES) == KILN_OK, "%s",
                  kiln_last_error());
    ck_assert_int_eq(kiln_tensor_upload(cbt, cs, sizeof(cs)), KILN_OK);
    ck_assert_msg(kiln_graph_run(gb) == KILN_OK, "%s", kiln_last_error());
    ck_assert_int_eq(kiln_tensor_download(nb.logits, yb, sizeof(yb)), KILN_OK);
    int32_t np = kiln_store_n_entries(s);
    float *grad[16] = {0};
    size_t nbytes[16] = {0};
    ck_assert_int_le(np, 16);
    for (int32_t p = 0; p < np; p++) {
        struct kiln_store_entry e;
        ck_assert_int_eq(kiln_store_entry(s, p, &e), KILN_OK);
        nbytes[p] = sizeof(float);
        for (int32_t d = 0; d < e.shape.rank; d++) {
            nbytes[p] *= (size_t)e.shape.dims[d];
        }
        grad[p] = malloc(nbytes[p]);
        ck_assert_int_eq(kiln_store_read_grad(s, e.name, grad[p], nbytes[p]), KILN_OK);
    }
    ck_assert_int_eq(kiln_store_zero_grad(s), KILN_OK);
    for (int j = 0; j < N_TREES; j++) {
        float y1[CLASSES];
        ck_assert_int_eq(kiln_tree_net_upload(&n1, &set, &order[j], 1), KILN_OK);
        ck_assert_int_eq(kiln_tensor_upload(c1t, cs + j * CLASSES, sizeof(y1)), KILN_OK);
        ck_assert_msg(kiln_graph_run(g1) == KILN_OK, "%s", kiln_last_error());
        ck_assert_int_eq(kiln_tensor_download(n1.logits, y1, sizeof(y1)), KILN_OK);
        for (int k = 0; k < CLASSES; k++) {
            float b = yb[j * CLASSES + k];
            ck_assert_msg(fabsf(b - y1[k]) <= 1e-5f * (1.0f + fabsf(y1[k])),
                          "tree %d logit %d: batch %.7g, alone %.7g", j, k, (double)b,
                          (double)y1[k]);
        }
    }
    for (int32_t p = 0; p < np; p++) {
        struct kiln_store_entry e;
        ck_assert_int_eq(kiln_store_entry(s, p, &e), KILN_OK);
        float *a = malloc(nbytes[p]);
        ck_assert_int_eq(kiln_store_read_grad(s, e.name, a, nbytes[p]), KILN_OK);
        for (size_t i = 0; i < nbytes[p] / sizeof(float); i++) {
            ck_assert_msg(fabsf(grad[p][i] - a[i]) <= 1e-4f * (1.0f + fabsf(a[i])),
                          "gradient of %s[%zu]: batch %.7g, trees alone %.7g", e.name, i,
                          (double)grad[p][i], (double)a[i]);
        }
        free(a);
        free(grad[p]);
    }
    /* A batch graph of one tree's slots refuses a larger batch. */
    int64_t all[2] = {0, 1};
    ck_assert_int_eq(kiln_tree_net_upload(&n1, &set, all, 2), KILN_E_INVALID_ARG);
    kiln_graph_destroy(g1);
    kiln_graph_destroy(gb);
    kiln_store_destroy(s);
    kiln_tree_set_fini(&set);
}
END_TEST

int main(int argc, char **argv)
{
    backend = argc > 1 ? argv[1] : "cpu";
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *probe;
    o.backend = backend;
    if (kiln_context_create(&o, &probe) != KILN_OK) {
        printf("SKIP: backend '%s': %s\n", backend, kiln_last_error());
        return 77;
    }
    kiln_context_destroy(probe);
    Suite *s = suite_create("treenet");
    TCase *tc = tcase_create("treenet");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_batch_vs_alone);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    if (strcmp(backend, "cpu") != 0) {
        srunner_set_fork_status(sr, CK_NOFORK);
    }
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
