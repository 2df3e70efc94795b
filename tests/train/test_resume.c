/*
 * test_resume.c - resuming the training loops and learning-rate schedules: a seeked
 * batch iterator or loader gives the batches (and augmentation) of one that went
 * through the earlier ones, with and without the prefetching thread; kiln_fit and
 * kiln_fit_loader resumed from a checkpoint (kiln_checkpoint_save with the optimizer
 * state, start_step and the epoch's loss sums) in a fresh context repeat the rest of an
 * uninterrupted run bit for bit: every later loss, the epoch's mean loss and the final
 * weights, through dropout and augmentation; kiln_lr_at follows PyTorch's StepLR,
 * ExponentialLR and CosineAnnealingLR formulas with a linear warm-up, and kiln_fit
 * applies it; the random rotation of kiln_augment turns a point about the centre within
 * the angle range, both ways, reproducibly. CPU backend, generated data.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln.h"

#define N_ITEMS 96
#define SIDE    6
#define BATCH   8
#define CLASSES 3

static char ckpt[512];

/* A learnable set: SIDE x SIDE images, the class sets one row of pixels high. */
static void make_data(struct kiln_dataset *ds)
{
    memset(ds, 0, sizeof(*ds));
    ds->n = N_ITEMS;
    ds->dim = SIDE * SIDE;
    ds->rank = 2;
    ds->dims[0] = ds->dims[1] = SIDE;
    ds->n_classes = CLASSES;
    ds->x = malloc(sizeof(float) * (size_t)(N_ITEMS * SIDE * SIDE));
    ds->y = malloc(sizeof(int32_t) * N_ITEMS);
    uint64_t r = 42;
    for (int64_t i = 0; i < N_ITEMS; i++) {
        ds->y[i] = (int32_t)(i % CLASSES);
        for (int64_t k = 0; k < SIDE * SIDE; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            float noise = (float)((r >> 40) & 0xffff) / 65536.0f * 0.4f;
            ds->x[i * SIDE * SIDE + k] = noise + (k / SIDE == 2 * ds->y[i] ? 1.0f : 0.0f);
        }
    }
}

struct run {
    kiln_context *ctx;
    kiln_graph *g;
    struct kiln_classifier m;
    float losses[64];
    int64_t save_at; /* save a checkpoint after this step (0: never) */
    double saved_sum;
    int64_t saved_n;
};

static void build(struct run *r)
{
    struct kiln_dense_options d = KILN_DENSE_OPTIONS_INIT;
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    struct kiln_classifier init = KILN_CLASSIFIER_INIT;
    int64_t xd[2] = {BATCH, SIDE * SIDE}, yd[1] = {BATCH};
    memset(r->losses, 0, sizeof(r->losses));
    r->m = init;
    d.seed = 3;
    ck_assert_int_eq(kiln_context_create(NULL, &r->ctx), KILN_OK);
    ck_assert_int_eq(kiln_graph_create(r->ctx, &r->g), KILN_OK);
    r->m.x = kiln_input(r->g, "x", KILN_DTYPE_F32, 2, xd);
    r->m.y = kiln_input(r->g, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *h = kiln_relu(r->g, kiln_dense(r->g, r->m.x, 16, "fc1", &d));
    kiln_tensor *logits = kiln_dense(r->g, kiln_dropout(r->g, h, 0.3f, 11), CLASSES, "fc2", &d);
    r->m.loss = kiln_tensor_keep(kiln_softmax_xent(r->g, logits, r->m.y));
    r->m.pred = kiln_tensor_keep(kiln_argmax(r->g, logits));
    ck_assert_int_eq(kiln_graph_backward(r->g, r->m.loss), KILN_OK);
    ck_assert_int_eq(kiln_graph_compile(r->g), KILN_OK);
    oo.kind = KILN_OPTIM_ADAM;
    oo.lr = 0.01f;
    ck_assert_int_eq(kiln_optimizer_create(kiln_graph_store(r->g), &oo, &r->m.optimizer), KILN_OK);
}

static void destroy(struct run *r)
{
    kiln_graph_destroy(r->g);
    kiln_context_destroy(r->ctx);
}

static int record(void *ud, const struct kiln_fit_progress *p)
{
    struct run *r = ud;
    if (p->event != KILN_FIT_STEP) {
        return 0;
    }
    ck_assert_int_lt(p->step, 64);
    r->losses[p->step] = (float)p->loss;
    if (p->step == r->save_at) {
        struct kiln_save_options so = KILN_SAVE_OPTIONS_INIT;
        ck_assert_msg(kiln_checkpoint_save(kiln_graph_store(r->g), ckpt, &so) == KILN_OK, "%s",
                      kiln_last_error());
        r->saved_sum = p->loss_sum;
        r->saved_n = p->loss_n;
    }
    return 0;
}

static void read_weights(struct run *r, float *w)
{
    ck_assert_int_eq(
        kiln_store_read(kiln_graph_store(r->g), "fc1.weight", w, 16 * SIDE * SIDE * sizeof(float)),
        KILN_OK);
}

/* Trains 3 epochs (36 steps) uninterrupted, saving after step save_at, then resumes a
 * fresh run there; with_loader selects kiln_fit_loader with augmentation. */
static void check_resume(int with_loader, int prefetch, int64_t save_at)
{
    struct kiln_dataset ds;
    struct kiln_augment aug = KILN_AUGMENT_INIT;
    struct kiln_loader_options lo = KILN_LOADER_OPTIONS_INIT;
    struct kiln_fit_options fo = KILN_FIT_OPTIONS_INIT;
    struct kiln_fit_result ra, rb;
    struct run a, b;
    float wa[16 * SIDE * SIDE], wb[16 * SIDE * SIDE];
    kiln_loader *la = NULL, *lb = NULL;
    make_data(&ds);
    aug.pad = 1;
    aug.random_crop = aug.hflip = 1;
    lo.batch_size = BATCH;
    lo.seed = 7;
    lo.prefetch = prefetch;
    lo.augment = &aug;
    fo.epochs = 3;
    fo.seed = 7;
    fo.callback = record;

    build(&a);
    a.save_at = save_at;
    fo.callback_ud = &a;
    if (with_loader) {
        ck_assert_int_eq(kiln_loader_create(&ds, &lo, &la), KILN_OK);
        ck_assert_int_eq(kiln_fit_loader(&a.m, la, NULL, &ds, &fo, &ra), KILN_OK);
    } else {
        ck_assert_int_eq(kiln_fit(&a.m, &ds, NULL, &ds, &fo, &ra), KILN_OK);
    }
    ck_assert_int_eq(ra.steps, 36);
    read_weights(&a, wa);

    build(&b);
    b.save_at = 0;
    struct kiln_load_options opts = KILN_LOAD_OPTIONS_INIT;
    opts.with_state = 1;
    ck_assert_msg(kiln_checkpoint_load(kiln_graph_store(b.g), ckpt, &opts, NULL) == KILN_OK, "%s",
                  kiln_last_error());
    fo.callback_ud = &b;
    fo.start_step = save_at;
    fo.start_loss_sum = a.saved_sum;
    fo.start_loss_n = a.saved_n;
    if (with_loader) {
        ck_assert_int_eq(kiln_loader_create(&ds, &lo, &lb), KILN_OK);
        ck_assert_int_eq(kiln_fit_loader(&b.m, lb, NULL, &ds, &fo, &rb), KILN_OK);
    } else {
        ck_assert_int_eq(kiln_fit(&b.m, &ds, NULL, &ds, &fo, &rb), KILN_OK);
    }
    read_weights(&b, wb);
    ck_assert_int_eq(rb.steps, 36);
    for (int64_t s = save_at + 1; s <= 36; s++) {
        ck_assert_msg(a.losses[s] == b.losses[s],
                      "step %lld: loss %.9g uninterrupted, %.9g resumed", (long long)s,
                      (double)a.losses[s], (double)b.losses[s]);
    }
    ck_assert_mem_eq(wa, wb, sizeof(wa));
    ck_assert(ra.train_loss == rb.train_loss);
    ck_assert(ra.test_accuracy == rb.test_accuracy);
    kiln_loader_destroy(la);
    kiln_loader_destroy(lb);
    destroy(&a);
    destroy(&b);
    kiln_dataset_fini(&ds);
}

START_TEST(test_fit_resume)
{
    check_resume(0, 0, 17); /* mid epoch 2 */
    check_resume(0, 0, 24); /* an epoch boundary */
}
END_TEST

START_TEST(test_fit_loader_resume)
{
    check_resume(1, 1, 17);
    check_resume(1, 0, 5);
}
END_TEST

START_TEST(test_seek)
{
    struct kiln_dataset ds;
    struct kiln_augment aug = KILN_AUGMENT_INIT;
    struct kiln_loader_options lo = KILN_LOADER_OPTIONS_INIT;
    float x[BATCH * SIDE * SIDE], x2[BATCH * SIDE * SIDE];
    int32_t y[BATCH], y2[BATCH];
    int64_t n;
    make_data(&ds);
    kiln_batch_iter *it, *it2;
    uint32_t fl = KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST;
    ck_assert_int_eq(kiln_batch_iter_create(&ds, BATCH, fl, 5, &it), KILN_OK);
    ck_assert_int_eq(kiln_batch_iter_create(&ds, BATCH, fl, 5, &it2), KILN_OK);
    kiln_batch_iter_reset(it, 2);
    for (int k = 0; k < 5; k++) {
        ck_assert_int_eq(kiln_batch_iter_next(it, x, y, &n), KILN_OK);
    }
    kiln_batch_iter_seek(it2, 2, 4);
    ck_assert_int_eq(kiln_batch_iter_next(it2, x2, y2, &n), KILN_OK);
    ck_assert_int_eq(n, BATCH);
    ck_assert_mem_eq(x, x2, sizeof(x));
    ck_assert_mem_eq(y, y2, sizeof(y));
    kiln_batch_iter_seek(it2, 2, 99); /* past the end: the epoch is over */
    ck_assert_int_eq(kiln_batch_iter_next(it2, x2, y2, &n), KILN_OK);
    ck_assert_int_eq(n, 0);
    kiln_batch_iter_destroy(it);
    kiln_batch_iter_destroy(it2);

    aug.pad = 2;
    aug.random_crop = aug.hflip = 1;
    lo.batch_size = BATCH;
    lo.augment = &aug;
    for (int prefetch = 0; prefetch < 2; prefetch++) {
        kiln_loader *l, *l2;
        const float *lx, *lx2;
        const int32_t *ly, *ly2;
        lo.prefetch = prefetch;
        ck_assert_int_eq(kiln_loader_create(&ds, &lo, &l), KILN_OK);
        ck_assert_int_eq(kiln_loader_create(&ds, &lo, &l2), KILN_OK);
        kiln_loader_reset(l, 1);
        for (int k = 0; k < 7; k++) {
            ck_assert_int_eq(kiln_loader_next(l, &lx, &ly, &n), KILN_OK);
        }
        kiln_loader_seek(l2, 1, 6);
        ck_assert_int_eq(kiln_loader_next(l2, &lx2, &ly2, &n), KILN_OK);
        ck_assert_int_eq(n, BATCH);
        ck_assert_mem_eq(lx, lx2, sizeof(float) * BATCH * SIDE * SIDE);
        ck_assert_mem_eq(ly, ly2, sizeof(int32_t) * BATCH);
        kiln_loader_destroy(l);
        kiln_loader_destroy(l2);
    }
    kiln_dataset_fini(&ds);
}
END_TEST

START_TEST(test_schedules)
{
    struct kiln_lr_schedule s = KILN_LR_SCHEDULE_INIT;
    const double pi = 3.14159265358979323846;
    s.lr = 0.1;
    ck_assert(kiln_lr_at(&s, 0) == 0.1 && kiln_lr_at(&s, 1000) == 0.1);
    s.kind = KILN_LR_STEP; /* StepLR(step_size=10, gamma=0.5) */
    s.step_size = 10;
    s.gamma = 0.5;
    ck_assert(kiln_lr_at(&s, 9) == 0.1);
    ck_assert(kiln_lr_at(&s, 10) == 0.05);
    ck_assert(fabs(kiln_lr_at(&s, 25) - 0.025) < 1e-15);
    s.kind = KILN_LR_EXPONENTIAL; /* a factor 0.5 per 10 steps, smoothly */
    ck_assert(fabs(kiln_lr_at(&s, 5) - 0.1 * pow(0.5, 0.5)) < 1e-15);
    ck_assert(fabs(kiln_lr_at(&s, 20) - 0.025) < 1e-15);
    s.kind = KILN_LR_COSINE; /* CosineAnnealingLR(T_max=100, eta_min=0.01) */
    s.total_steps = 100;
    s.min_lr = 0.01;
    ck_assert(kiln_lr_at(&s, 0) == 0.1);
    ck_assert(fabs(kiln_lr_at(&s, 30) - (0.01 + 0.09 * 0.5 * (1 + cos(pi * 0.3)))) < 1e-15);
    ck_assert(fabs(kiln_lr_at(&s, 100) - 0.01) < 1e-15);
    ck_assert(fabs(kiln_lr_at(&s, 500) - 0.01) < 1e-15);
    double at3 = kiln_lr_at(&s, 3), at4 = kiln_lr_at(&s, 4);
    s.warmup_steps = 4; /* linear warm-up: 1/5, 2/5, ... of the schedule */
    ck_assert(fabs(kiln_lr_at(&s, 0) - 0.1 / 5.0) < 1e-15);
    ck_assert(fabs(kiln_lr_at(&s, 3) - at3 * 4.0 / 5.0) < 1e-15);
    ck_assert(kiln_lr_at(&s, 4) == at4);
    /* invalid schedules */
    s.total_steps = 0;
    ck_assert_int_eq(kiln_lr_schedule_check(&s), KILN_E_INVALID_ARG);
    ck_assert(isnan(kiln_lr_at(&s, 1)));
    s.kind = KILN_LR_STEP;
    s.gamma = 0.0;
    ck_assert_int_eq(kiln_lr_schedule_check(&s), KILN_E_INVALID_ARG);
    s.kind = (kiln_lr_kind)9;
    ck_assert_int_eq(kiln_lr_schedule_check(&s), KILN_E_INVALID_ARG);
}
END_TEST

static int check_lr(void *ud, const struct kiln_fit_progress *p)
{
    const struct kiln_lr_schedule *s = ud;
    if (p->event == KILN_FIT_STEP) {
        ck_assert_msg(fabs(p->lr - (double)(float)kiln_lr_at(s, p->step - 1)) < 1e-12,
                      "step %lld: lr %g", (long long)p->step, p->lr);
    }
    return 0;
}

START_TEST(test_fit_schedule)
{
    struct kiln_dataset ds;
    struct kiln_fit_options fo = KILN_FIT_OPTIONS_INIT;
    struct kiln_lr_schedule s = KILN_LR_SCHEDULE_INIT;
    struct run r;
    make_data(&ds);
    build(&r);
    s.kind = KILN_LR_COSINE;
    s.lr = 0.02;
    s.total_steps = 24;
    s.warmup_steps = 3;
    fo.epochs = 2;
    fo.schedule = &s;
    fo.callback = check_lr;
    fo.callback_ud = &s;
    ck_assert_int_eq(kiln_fit(&r.m, &ds, NULL, NULL, &fo, NULL), KILN_OK);
    ck_assert_float_eq(kiln_optimizer_lr(r.m.optimizer), (float)kiln_lr_at(&s, 23));
    s.total_steps = 0;
    ck_assert_int_eq(kiln_fit(&r.m, &ds, NULL, NULL, &fo, NULL), KILN_E_INVALID_ARG);
    destroy(&r);
    kiln_dataset_fini(&ds);
}
END_TEST

/* The intensity centroid of a side x side image, relative to its centre. */
static void centroid(const float *im, int side, double *cx, double *cy, double *mass)
{
    double sx = 0, sy = 0, m = 0, c = (side - 1) / 2.0;
    for (int y = 0; y < side; y++) {
        for (int x = 0; x < side; x++) {
            m += im[y * side + x];
            sx += im[y * side + x] * (x - c);
            sy += im[y * side + x] * (y - c);
        }
    }
    *cx = sx / m;
    *cy = sy / m;
    *mass = m;
}

START_TEST(test_rotation)
{
    enum { RS = 15, N_ITEMS_ROT = 64 };
    struct kiln_augment a = KILN_AUGMENT_INIT;
    static float src[N_ITEMS_ROT * RS * RS], dst[N_ITEMS_ROT * RS * RS],
        again[N_ITEMS_ROT * RS * RS];
    /* one bright pixel 4 to the right of the centre (7, 7) in every item */
    memset(src, 0, sizeof(src));
    for (int i = 0; i < N_ITEMS_ROT; i++) {
        src[i * RS * RS + 7 * RS + 11] = 1.0f;
    }
    ck_assert_int_eq(kiln_augment_apply(&a, RS, RS, N_ITEMS_ROT, src, dst, 3, 0), KILN_OK);
    ck_assert_mem_eq(src, dst, sizeof(src)); /* no rotation: unchanged */
    a.rotate_degrees = 90.0f;
    ck_assert_int_eq(kiln_augment_apply(&a, RS, RS, N_ITEMS_ROT, src, dst, 3, 0), KILN_OK);
    int up = 0, down = 0;
    for (int i = 0; i < N_ITEMS_ROT; i++) {
        double cx, cy, m;
        centroid(dst + i * RS * RS, RS, &cx, &cy, &m);
        double r = sqrt(cx * cx + cy * cy), deg = atan2(-cy, cx) * 180.0 / 3.14159265358979;
        /* the point turns about the centre by at most 90 degrees either way (positive:
         * counter-clockwise as displayed, so up, y decreasing) */
        ck_assert_msg(fabs(r - 4.0) < 0.2 && deg >= -90.5 && deg <= 90.5,
                      "item %d: centroid at radius %g, angle %g", i, r, deg);
        ck_assert_msg(m > 0.5 && m < 1.5, "item %d: mass %g", i, m);
        up += deg > 10.0;
        down += deg < -10.0;
    }
    ck_assert_msg(up > 10 && down > 10, "angles drawn both ways: %d up, %d down", up, down);
    /* the same (seed, counter) draws the same rotation; the loader's batches too */
    ck_assert_int_eq(kiln_augment_apply(&a, RS, RS, N_ITEMS_ROT, src, again, 3, 0), KILN_OK);
    ck_assert_mem_eq(dst, again, sizeof(dst));
    ck_assert_int_eq(kiln_augment_apply(&a, RS, RS, N_ITEMS_ROT, src, again, 3, 1), KILN_OK);
    ck_assert(memcmp(dst, again, sizeof(dst)) != 0);
    /* a centred disc is (nearly) invariant */
    for (int y = 0; y < RS; y++) {
        for (int x = 0; x < RS; x++) {
            src[y * RS + x] = (x - 7) * (x - 7) + (y - 7) * (y - 7) <= 16 ? 1.0f : 0.0f;
        }
    }
    ck_assert_int_eq(kiln_augment_apply(&a, RS, RS, 1, src, dst, 5, 0), KILN_OK);
    double cx, cy, m;
    centroid(dst, RS, &cx, &cy, &m);
    ck_assert(fabs(cx) < 0.05 && fabs(cy) < 0.05 && dst[7 * RS + 7] == 1.0f);
    a.rotate_degrees = 181.0f;
    ck_assert_int_eq(kiln_augment_apply(&a, RS, RS, 1, src, dst, 5, 0), KILN_E_INVALID_ARG);
    a.rotate_degrees = NAN;
    ck_assert_int_eq(kiln_augment_apply(&a, RS, RS, 1, src, dst, 5, 0), KILN_E_INVALID_ARG);
}
END_TEST

int main(void)
{
    const char *dir = getenv("KILN_TEST_TMP");
    snprintf(ckpt, sizeof(ckpt), "%s/resume_%d.safetensors", dir ? dir : "/tmp", (int)getpid());
    Suite *su = suite_create("resume");
    TCase *tc = tcase_create("resume");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_seek);
    tcase_add_test(tc, test_fit_resume);
    tcase_add_test(tc, test_fit_loader_resume);
    tcase_add_test(tc, test_schedules);
    tcase_add_test(tc, test_fit_schedule);
    tcase_add_test(tc, test_rotation);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove(ckpt);
    return nf == 0 ? 0 : 1;
}
