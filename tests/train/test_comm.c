/*
 * test_comm.c - the pieces of data-parallel training that hold in one process: sharded
 * batch iterators and loaders give together exactly the batches (and augmentation) of
 * one iterator of the global batch, the one-process communicator's collectives are
 * identities, and bad arguments fail cleanly. Run as `test_train_comm mpi` under
 * `mpirun -np 2` (tests/train/meson.build) it checks the MPI side of the library: a
 * store broadcast from rank 0, and an optimizer step over gradients averaged across the
 * ranks; as `test_train_comm overlap` that kiln_train_step starts gradient buckets
 * during the backward pass with the same results (the CLI tests,
 * tests/tools/test_mpi.py, train whole models).
 */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

/* n items of dim features; item i's features are i + j / 100 and its label i. */
static void make_ds(struct kiln_dataset *ds, int64_t n, int32_t rank, int64_t d0, int64_t d1)
{
    memset(ds, 0, sizeof(*ds));
    ds->n = n;
    ds->rank = rank;
    ds->dims[0] = d0;
    ds->dims[1] = d1;
    ds->dim = rank == 1 ? d0 : d0 * d1;
    ds->n_classes = (int32_t)n;
    ds->x = malloc((size_t)(n * ds->dim) * sizeof(float));
    ds->y = malloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < ds->dim; j++) {
            ds->x[i * ds->dim + j] = (float)i + (float)j / 100.0f;
        }
        ds->y[i] = (int32_t)i;
    }
}

/* The shards' batches, side by side, are the global iterator's batches. */
static void check_shards(const struct kiln_dataset *ds, int64_t b, int32_t n_shards, int64_t epoch,
                         int64_t first)
{
    uint32_t fl = KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST;
    kiln_batch_iter *all, *sh[4];
    int64_t g = b * n_shards, d = ds->dim, n;
    float *xa = malloc((size_t)(g * d) * sizeof(float)),
          *xs = malloc((size_t)(b * d) * sizeof(float));
    int32_t *ya = malloc((size_t)g * sizeof(int32_t)), *ys = malloc((size_t)b * sizeof(int32_t));
    ck_assert_int_eq(kiln_batch_iter_create(ds, g, fl, 11, &all), KILN_OK);
    for (int32_t s = 0; s < n_shards; s++) {
        ck_assert_int_eq(kiln_batch_iter_create(ds, b, fl, 11, &sh[s]), KILN_OK);
        ck_assert_int_eq(kiln_batch_iter_shard(sh[s], s, n_shards), KILN_OK);
        ck_assert_int_eq(kiln_batch_iter_n_batches(sh[s]), kiln_batch_iter_n_batches(all));
        kiln_batch_iter_seek(sh[s], epoch, first);
    }
    kiln_batch_iter_seek(all, epoch, first);
    int64_t batches = 0;
    for (;;) {
        ck_assert_int_eq(kiln_batch_iter_next(all, xa, ya, &n), KILN_OK);
        for (int32_t s = 0; s < n_shards; s++) {
            int64_t m;
            ck_assert_int_eq(kiln_batch_iter_next(sh[s], xs, ys, &m), KILN_OK);
            ck_assert_int_eq(m, n == 0 ? 0 : b);
            for (int64_t i = 0; i < m; i++) {
                ck_assert_int_eq(ys[i], ya[s * b + i]);
                ck_assert(memcmp(xs + i * d, xa + (s * b + i) * d, (size_t)d * 4) == 0);
            }
        }
        if (n == 0) {
            break;
        }
        batches++;
    }
    ck_assert_int_eq(batches, kiln_batch_iter_n_batches(all) - first);
    for (int32_t s = 0; s < n_shards; s++) {
        kiln_batch_iter_destroy(sh[s]);
    }
    kiln_batch_iter_destroy(all);
    free(xa);
    free(xs);
    free(ya);
    free(ys);
}

START_TEST(test_iter_shards)
{
    struct kiln_dataset ds;
    make_ds(&ds, 103, 1, 3, 0);
    check_shards(&ds, 8, 3, 0, 0); /* 4 batches of 24; 7 items left out */
    check_shards(&ds, 8, 3, 1, 0);
    check_shards(&ds, 8, 3, 2, 2); /* a resumed run */
    check_shards(&ds, 5, 2, 0, 0);
    check_shards(&ds, 7, 1, 3, 1);
    kiln_batch_iter *it;
    ck_assert_int_eq(kiln_batch_iter_create(&ds, 8, KILN_BATCH_SHUFFLE, 1, &it), KILN_OK);
    ck_assert_int_eq(kiln_batch_iter_shard(it, 0, 2), KILN_E_INVALID_ARG); /* no drop_last */
    ck_assert_int_eq(kiln_batch_iter_shard(it, 0, 1), KILN_OK);
    kiln_batch_iter_destroy(it);
    ck_assert_int_eq(kiln_batch_iter_create(&ds, 8, KILN_BATCH_DROP_LAST, 1, &it), KILN_OK);
    ck_assert_int_eq(kiln_batch_iter_shard(it, 2, 2), KILN_E_INVALID_ARG);
    ck_assert_int_eq(kiln_batch_iter_shard(it, -1, 2), KILN_E_INVALID_ARG);
    ck_assert_int_eq(kiln_batch_iter_shard(it, 0, 0), KILN_E_INVALID_ARG);
    ck_assert_int_eq(kiln_batch_iter_shard(NULL, 0, 1), KILN_E_INVALID_ARG);
    kiln_batch_iter_destroy(it);
    kiln_dataset_fini(&ds);
}
END_TEST

/* Sharded loaders with augmentation give the global loader's items, augmented alike. */
START_TEST(test_loader_shards)
{
    struct kiln_dataset ds;
    struct kiln_augment aug = KILN_AUGMENT_INIT;
    struct kiln_loader_options lo = KILN_LOADER_OPTIONS_INIT;
    make_ds(&ds, 50, 2, 6, 6);
    aug.pad = 2;
    aug.random_crop = aug.hflip = 1;
    aug.rotate_degrees = 15.0f;
    lo.augment = &aug;
    lo.seed = 4;
    lo.batch_size = 12;
    kiln_loader *all, *sh[2];
    ck_assert_int_eq(kiln_loader_create(&ds, &lo, &all), KILN_OK);
    lo.batch_size = 6;
    lo.n_shards = 2;
    for (int s = 0; s < 2; s++) {
        lo.shard = s;
        lo.prefetch = s; /* with and without the loader thread */
        ck_assert_int_eq(kiln_loader_create(&ds, &lo, &sh[s]), KILN_OK);
        ck_assert_int_eq(kiln_loader_n_batches(sh[s]), kiln_loader_n_batches(all));
    }
    lo.shard = 2;
    kiln_loader *bad = NULL;
    ck_assert_int_eq(kiln_loader_create(&ds, &lo, &bad), KILN_E_INVALID_ARG);
    ck_assert_ptr_null(bad);
    for (int64_t epoch = 0; epoch < 2; epoch++) {
        kiln_loader_seek(all, epoch, epoch);
        kiln_loader_seek(sh[0], epoch, epoch);
        kiln_loader_seek(sh[1], epoch, epoch);
        for (;;) {
            const float *xa, *xs;
            const int32_t *ya, *ys;
            int64_t n, m;
            ck_assert_int_eq(kiln_loader_next(all, &xa, &ya, &n), KILN_OK);
            for (int s = 0; s < 2; s++) {
                ck_assert_int_eq(kiln_loader_next(sh[s], &xs, &ys, &m), KILN_OK);
                ck_assert_int_eq(m, n == 0 ? 0 : 6);
                for (int64_t i = 0; i < m; i++) {
                    ck_assert_int_eq(ys[i], ya[s * 6 + i]);
                    ck_assert(memcmp(xs + i * 36, xa + (s * 6 + i) * 36, 36 * 4) == 0);
                }
            }
            if (n == 0) {
                break;
            }
        }
    }
    kiln_loader_destroy(sh[0]);
    kiln_loader_destroy(sh[1]);
    kiln_loader_destroy(all);
    kiln_dataset_fini(&ds);
}
END_TEST

START_TEST(test_single)
{
    struct kiln_comm_options o = KILN_COMM_OPTIONS_INIT;
    kiln_comm *c = NULL;
    o.mode = KILN_COMM_SINGLE;
    ck_assert_int_eq(kiln_comm_create(&o, &c), KILN_OK);
    ck_assert_int_eq(kiln_comm_rank(c), 0);
    ck_assert_int_eq(kiln_comm_size(c), 1);
    ck_assert_int_eq(kiln_comm_local_rank(c), 0);
    ck_assert_str_eq(kiln_comm_kind(c), "single");
    ck_assert_str_eq(kiln_comm_host(c, 1), "");
    double v[3] = {1.5, -2.0, 7.0};
    ck_assert_int_eq(kiln_comm_allreduce_sum(c, v, 3), KILN_OK);
    ck_assert(v[0] == 1.5 && v[1] == -2.0 && v[2] == 7.0);
    ck_assert_int_eq(kiln_comm_allreduce_sum(c, NULL, 2), KILN_E_INVALID_ARG);
    char a[4] = "abc", b[4] = "";
    ck_assert_int_eq(kiln_comm_allgather(c, a, 4, b), KILN_OK);
    ck_assert_str_eq(b, "abc");
    ck_assert_int_eq(kiln_comm_barrier(c), KILN_OK);
    ck_assert_int_eq(kiln_comm_broadcast_store(c, NULL, 1), KILN_E_INVALID_ARG);
    ck_assert_int_eq(kiln_comm_attach(c, NULL), KILN_E_INVALID_ARG);
    ck_assert_int_eq(kiln_comm_abort(c, 3), KILN_OK); /* one process: the program exits */
    struct kiln_comm_stats st;
    kiln_comm_stats(c, &st, 1);
    ck_assert_int_eq((int)st.reductions, 0);
    kiln_comm_destroy(c);
    kiln_comm_destroy(NULL);
    o.bucket_bytes = 0;
    ck_assert_int_eq(kiln_comm_create(&o, &c), KILN_E_INVALID_ARG);
    ck_assert_int_eq(kiln_comm_create(NULL, NULL), KILN_E_INVALID_ARG);
#ifndef KILN_HAVE_MPI
    o = (struct kiln_comm_options)KILN_COMM_OPTIONS_INIT;
    o.mode = KILN_COMM_MPI;
    ck_assert_int_eq(kiln_comm_create(&o, &c), KILN_E_UNSUPPORTED);
#endif
}
END_TEST

#ifdef KILN_HAVE_MPI
/* Under mpirun -np 2: rank 0's store reaches rank 1, and a step uses the mean of the
 * ranks' gradients. Prints its failures; returns the number of failures. */
static int run_mpi(void)
{
    kiln_context *ctx;
    kiln_graph *g;
    kiln_comm *c;
    kiln_optimizer *opt;
    struct kiln_comm_options co = KILN_COMM_OPTIONS_INIT;
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    int bad = 0;
    co.mode = KILN_COMM_MPI;
    co.bucket_bytes = 64; /* 16 floats: several buckets, some staged together */
    if (kiln_comm_create(&co, &c) != KILN_OK || kiln_context_create(NULL, &ctx) != KILN_OK ||
        kiln_graph_create(ctx, &g) != KILN_OK) {
        printf("setup: %s\n", kiln_last_error());
        return 1;
    }
    int r = kiln_comm_rank(c);
    if (kiln_comm_size(c) != 2) {
        printf("SKIP: needs mpirun -np 2 (%d ranks)\n", kiln_comm_size(c));
        kiln_graph_destroy(g);
        kiln_context_destroy(ctx);
        kiln_comm_destroy(c);
        return -1;
    }
    kiln_store *s = kiln_graph_store(g);
    int64_t dw[2] = {7, 5}, db = 3;
    kiln_param(g, "w", 2, dw, KILN_INIT_CONSTANT, 0.0f, 0);
    kiln_param(g, "b", 1, &db, KILN_INIT_CONSTANT, 0.0f, 0);
    oo.lr = 1.0f;
    if (kiln_store_alloc(s) != KILN_OK || kiln_optimizer_create(s, &oo, &opt) != KILN_OK ||
        kiln_comm_attach(c, opt) != KILN_OK) {
        printf("rank %d: %s\n", r, kiln_last_error());
        return 1;
    }
    float w[35], b[3], gw[35], gb[3];
    for (int i = 0; i < 35; i++) {
        w[i] = (float)(r * 100 + i);
        gw[i] = (float)(r + 1) * (float)i;
    }
    for (int i = 0; i < 3; i++) {
        b[i] = (float)(r * 10 - i);
        gb[i] = (float)(r + 1);
    }
    kiln_store_write(s, "w", w, sizeof(w));
    kiln_store_write(s, "b", b, sizeof(b));
    kiln_optimizer_set_steps(opt, r == 0 ? 4 : 9);
    if (kiln_comm_broadcast_store(c, s, 1) != KILN_OK) {
        printf("rank %d: broadcast: %s\n", r, kiln_last_error());
        return 1;
    }
    bad += kiln_optimizer_steps(opt) != 4;
    kiln_store_write_grad(s, "w", gw, sizeof(gw));
    kiln_store_write_grad(s, "b", gb, sizeof(gb));
    if (kiln_optimizer_step(opt) != KILN_OK) {
        printf("rank %d: step: %s\n", r, kiln_last_error());
        return 1;
    }
    /* w = w0 - mean(g): rank 0's w0 = i, the gradients i and 2 i */
    kiln_store_read(s, "w", w, sizeof(w));
    kiln_store_read(s, "b", b, sizeof(b));
    for (int i = 0; i < 35; i++) {
        bad += fabsf(w[i] - ((float)i - 1.5f * (float)i)) > 1e-5f;
    }
    for (int i = 0; i < 3; i++) {
        bad += fabsf(b[i] - (float)(-i - 1.5)) > 1e-5f;
    }
    struct kiln_comm_stats st;
    kiln_comm_stats(c, &st, 0);
    bad += st.reductions != 1 || st.bytes_reduced < 38 * sizeof(float) || st.messages < 3;
    double v = r + 1.0;
    bad += kiln_comm_allreduce_sum(c, &v, 1) != KILN_OK || v != 3.0;
    printf("rank %d of %d: %d failures (%llu bytes in %llu messages, %llu in place)\n", r,
           kiln_comm_size(c), bad, (unsigned long long)st.bytes_reduced,
           (unsigned long long)st.messages, (unsigned long long)st.zero_copy);
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    kiln_comm_destroy(c);
    return bad;
}

/* One data-parallel MLP (20-64-32-4, mean squared error) over a store of its own. */
struct mlp {
    kiln_graph *g;
    kiln_tensor *x, *y, *loss;
    kiln_optimizer *opt;
};

static int mlp_build(kiln_context *ctx, kiln_comm *c, struct mlp *m)
{
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.lr = 0.05f;
    oo.momentum = 0.9f;
    if (kiln_graph_create(ctx, &m->g) != KILN_OK) {
        return 1;
    }
    m->x = kiln_input(m->g, "x", KILN_DTYPE_F32, 2, (int64_t[]){16, 20});
    m->y = kiln_input(m->g, "y", KILN_DTYPE_F32, 2, (int64_t[]){16, 4});
    kiln_tensor *out = kiln_mlp(m->g, m->x, 3, (int64_t[]){64, 32, 4}, KILN_ACTIVATION_RELU, NULL);
    m->loss = kiln_mse_loss(m->g, out, m->y);
    kiln_tensor_keep(m->loss);
    if (kiln_graph_backward(m->g, m->loss) != KILN_OK || kiln_graph_compile(m->g) != KILN_OK ||
        kiln_optimizer_create(kiln_graph_store(m->g), &oo, &m->opt) != KILN_OK ||
        kiln_comm_attach(c, m->opt) != KILN_OK ||
        kiln_comm_broadcast_store(c, kiln_graph_store(m->g), 1) != KILN_OK) {
        return 1;
    }
    return 0;
}

/* Trains m for n steps on rank r's two batches (observed: kiln_train_step, which may
 * start buckets during the backward pass; else a run and a separate step, which
 * reduce after it), recording the loss of every step. */
static int mlp_train(struct mlp *m, int r, int n, bool observed, float *losses)
{
    float x[16 * 20], y[16 * 4];
    for (int step = 0; step < n; step++) {
        for (int i = 0; i < 16 * 20; i++) {
            x[i] = sinf(0.37f * (float)(i + 1) + 0.2f * (float)(step % 2) + 2.1f * (float)r);
        }
        for (int i = 0; i < 16 * 4; i++) {
            y[i] = cosf(0.11f * (float)i + (float)r);
        }
        if (kiln_tensor_upload(m->x, x, sizeof(x)) != KILN_OK ||
            kiln_tensor_upload(m->y, y, sizeof(y)) != KILN_OK) {
            return 1;
        }
        kiln_status st = observed ? kiln_train_step(m->g, m->opt) : kiln_graph_run(m->g);
        if (st == KILN_OK && !observed) {
            st = kiln_optimizer_step(m->opt);
        }
        if (st != KILN_OK ||
            kiln_tensor_download(m->loss, &losses[step], sizeof(float)) != KILN_OK) {
            return 1;
        }
    }
    return 0;
}

/* Under mpirun -np 2 with every rank on the CPU backend: an MLP whose gradients make
 * several buckets trains with kiln_train_step, which starts buckets while the backward
 * pass runs, and the same MLP with a run and a separate step, which starts them after
 * it; the loss curves and the parameters are bit-identical (the same buckets summed in
 * the same order) and only the first reduced buckets early. Prints its failures;
 * returns their number (-1: not two ranks, or not on the CPU backend). */
static int run_overlap(void)
{
    kiln_context *ctx;
    kiln_comm *c;
    struct kiln_comm_options co = KILN_COMM_OPTIONS_INIT;
    struct mlp a, b;
    enum { STEPS = 12 };
    float la[STEPS], lb[STEPS];
    int bad = 0;
    co.mode = KILN_COMM_MPI;
    co.bucket_bytes = 4096; /* 3556 parameters: at least 4 buckets */
    if (kiln_comm_create(&co, &c) != KILN_OK) {
        printf("setup: %s\n", kiln_last_error());
        return 1;
    }
    if (kiln_context_create(NULL, &ctx) != KILN_OK) {
        printf("setup: %s\n", kiln_last_error());
        kiln_comm_destroy(c);
        return 1;
    }
    if (kiln_comm_size(c) != 2 || strcmp(kiln_context_backend(ctx), "cpu") != 0) {
        printf("SKIP: needs mpirun -np 2 on the cpu backend (KILN_BACKEND=cpu)\n");
        kiln_context_destroy(ctx);
        kiln_comm_destroy(c);
        return -1;
    }
    int r = kiln_comm_rank(c);
    if (mlp_build(ctx, c, &a) != 0 || mlp_build(ctx, c, &b) != 0) {
        printf("rank %d: build: %s\n", r, kiln_last_error());
        return 1;
    }
    struct kiln_comm_stats sa, sb;
    kiln_comm_stats(c, &sa, 1);
    if (mlp_train(&a, r, STEPS, true, la) != 0) {
        printf("rank %d: observed training: %s\n", r, kiln_last_error());
        return 1;
    }
    kiln_comm_stats(c, &sa, 1);
    if (mlp_train(&b, r, STEPS, false, lb) != 0) {
        printf("rank %d: training: %s\n", r, kiln_last_error());
        return 1;
    }
    kiln_comm_stats(c, &sb, 1);
    /* Every step but the first (which plans the buckets) starts some buckets early. */
    bad += sa.reductions != STEPS || sa.messages < 4 * STEPS || sa.overlapped < STEPS - 1;
    bad += sb.reductions != STEPS || sb.messages != sa.messages || sb.overlapped != 0;
    bad += memcmp(la, lb, sizeof(la)) != 0;
    double mean[2] = {la[0], la[STEPS - 1]}; /* the curve of the global batch falls */
    bad += kiln_comm_allreduce_sum(c, mean, 2) != KILN_OK || !(mean[1] < mean[0]);
    float pa[64 * 20], pb[64 * 20];
    bad += kiln_store_read(kiln_graph_store(a.g), "fc1.weight", pa, sizeof(pa)) != KILN_OK ||
           kiln_store_read(kiln_graph_store(b.g), "fc1.weight", pb, sizeof(pb)) != KILN_OK ||
           memcmp(pa, pb, sizeof(pa)) != 0;
    /* Both ranks hold the same parameters. */
    double sum = 0.0;
    for (int i = 0; i < 64 * 20; i++) {
        sum += pa[i];
    }
    double both[2] = {r == 0 ? sum : 0.0, r == 1 ? sum : 0.0};
    bad += kiln_comm_allreduce_sum(c, both, 2) != KILN_OK || both[0] != both[1];
    printf("rank %d: %d failures; %llu of %llu buckets started during the backward pass; "
           "loss %.6f -> %.6f (%.6f -> %.6f after it)\n",
           r, bad, (unsigned long long)sa.overlapped, (unsigned long long)sa.messages,
           (double)la[0], (double)la[STEPS - 1], (double)lb[0], (double)lb[STEPS - 1]);
    kiln_graph_destroy(a.g);
    kiln_graph_destroy(b.g);
    kiln_context_destroy(ctx);
    kiln_comm_destroy(c);
    return bad;
}
#endif

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "mpi") == 0 || strcmp(argv[1], "overlap") == 0)) {
#ifdef KILN_HAVE_MPI
        int bad = strcmp(argv[1], "mpi") == 0 ? run_mpi() : run_overlap();
        return bad < 0 ? 77 : bad == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
#else
        printf("SKIP: built without MPI\n");
        return 77;
#endif
    }
    Suite *s = suite_create("comm");
    TCase *tc = tcase_create("comm");
    tcase_add_test(tc, test_iter_shards);
    tcase_add_test(tc, test_loader_shards);
    tcase_add_test(tc, test_single);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
