/*
 * loader.c - per-item image augmentation (pad, crop, flip, per-channel normalization)
 * and a loader that batches a dataset through kiln_batch_iter, augments each batch and,
 * with prefetch, does both on its own thread one batch ahead of the caller. Batch k of
 * an epoch always comes from the k-th kiln_batch_iter_next and draws its augmentation
 * from (seed, epoch, position), so the thread changes when a batch is made, never what
 * it holds.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../rng.h"
#include "../status_impl.h"
#include "kiln/data.h"

#define STREAM_AUGMENT 0x61756721u /* keeps augmentation draws apart from the shuffles */

/* ---- Augmentation ---- */

static kiln_status check_augment(const struct kiln_augment *a, int64_t h, int64_t w, int64_t *oh,
                                 int64_t *ow)
{
    if (a == NULL || a->struct_size < sizeof(*a) || a->channels < 1 || a->channels > 4 ||
        a->pad < 0 || a->crop_h < 0 || a->crop_w < 0 || h < 1 || w < 1) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_augment: bad options or item size %lldx%lld",
                         (long long)h, (long long)w);
    }
    *oh = a->crop_h > 0 ? a->crop_h : h;
    *ow = a->crop_w > 0 ? a->crop_w : w;
    if (*oh > h + 2 * a->pad || *ow > w + 2 * a->pad) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_augment: crop %lldx%lld exceeds the padded item %lldx%lld",
                         (long long)*oh, (long long)*ow, (long long)(h + 2 * a->pad),
                         (long long)(w + 2 * a->pad));
    }
    if (!(a->rotate_degrees >= 0.0f && a->rotate_degrees <= 180.0f)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_augment: rotate_degrees %g is not in [0, 180]",
                         (double)a->rotate_degrees);
    }
    for (int c = 0; a->normalize && c < a->channels; c++) {
        if (!(a->std[c] > 0.0f)) {
            return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_augment: std[%d] = %g must be > 0", c,
                             (double)a->std[c]);
        }
    }
    return KILN_OK;
}

/* A source rotation: the output pixel (x, y) samples the source at
 * (cx + cos (x - cx) - sin (y - cy), cy + sin (x - cx) + cos (y - cy)). */
struct rotation {
    float cs, sn, cx, cy;
    int on;
};

/* Plane p (h x w) at (x, y) through the rotation r: bilinear, zero outside. */
static float sample(const float *p, int64_t h, int64_t w, const struct rotation *r, int64_t x,
                    int64_t y)
{
    if (!r->on) {
        return p[y * w + x];
    }
    float dx = (float)x - r->cx, dy = (float)y - r->cy;
    float sx = r->cx + r->cs * dx - r->sn * dy, sy = r->cy + r->sn * dx + r->cs * dy;
    float fx = floorf(sx), fy = floorf(sy), tx = sx - fx, ty = sy - fy, v = 0.0f;
    int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
    for (int j = 0; j < 2; j++) {
        for (int i = 0; i < 2; i++) {
            int64_t xx = x0 + i, yy = y0 + j;
            float wgt = (i ? tx : 1.0f - tx) * (j ? ty : 1.0f - ty);
            if (xx >= 0 && xx < w && yy >= 0 && yy < h && wgt != 0.0f) {
                v += wgt * p[yy * w + xx];
            }
        }
    }
    return v;
}

kiln_status kiln_augment_apply(const struct kiln_augment *a, int64_t h, int64_t w, int64_t n,
                               const float *src, float *dst, uint64_t seed, uint64_t counter)
{
    int64_t oh, ow;
    KILN_TRY(check_augment(a, h, w, &oh, &ow));
    if (n < 0 || (n > 0 && (src == NULL || dst == NULL))) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_augment_apply: %lld items, src or dst NULL",
                         (long long)n);
    }
    int64_t ph = h + 2 * a->pad, pw = w + 2 * a->pad, nc = a->channels;
    for (int64_t i = 0; i < n; i++) {
        uint32_t r[4];
        kiln__philox(seed, STREAM_AUGMENT, counter + (uint64_t)i, r);
        /* crop origin in padded coordinates */
        int64_t y0 = (ph - oh) / 2, x0 = (pw - ow) / 2;
        if (a->random_crop) {
            y0 = (int64_t)(r[0] % (uint32_t)(ph - oh + 1));
            x0 = (int64_t)(r[1] % (uint32_t)(pw - ow + 1));
        }
        int flip = a->hflip && (r[2] & 1u);
        struct rotation rot = {1.0f, 0.0f, (float)(w - 1) * 0.5f, (float)(h - 1) * 0.5f, 0};
        if (a->rotate_degrees > 0.0f) {
            /* r[3] / 2^32 in [0, 1) -> an angle in [-degrees, degrees) */
            double t = ((double)r[3] * (1.0 / 4294967296.0) * 2.0 - 1.0) * a->rotate_degrees;
            rot.cs = (float)cos(t * 3.14159265358979323846 / 180.0);
            rot.sn = (float)sin(t * 3.14159265358979323846 / 180.0);
            rot.on = 1;
        }
        const float *s = src + i * nc * h * w;
        float *d = dst + i * nc * oh * ow;
        for (int64_t c = 0; c < nc; c++) {
            float mean = a->normalize ? a->mean[c] : 0.0f;
            float inv = a->normalize ? 1.0f / a->std[c] : 1.0f;
            for (int64_t y = 0; y < oh; y++) {
                int64_t sy = y0 + y - a->pad;
                for (int64_t x = 0; x < ow; x++) {
                    int64_t sx = x0 + (flip ? ow - 1 - x : x) - a->pad;
                    float v = sy >= 0 && sy < h && sx >= 0 && sx < w
                                  ? sample(s + c * h * w, h, w, &rot, sx, sy)
                                  : 0.0f;
                    d[(c * oh + y) * ow + x] = (v - mean) * inv;
                }
            }
        }
    }
    return KILN_OK;
}

/* ---- The loader ---- */

struct slot {
    float *x;
    int32_t *y;
    int64_t n;
    kiln_status status;
    char msg[256];
};

struct kiln_loader {
    /* ---- borrowed (never owned) ---- */
    const struct kiln_dataset *ds;
    /* ---- owned ---- */
    kiln_batch_iter *it;
    struct kiln_augment aug;
    int64_t batch, n_batches, h, w, oh, ow;
    uint64_t seed;
    int prefetch;
    float *raw; /* [batch, dim]: what the iterator copies out */
    struct slot slots[2];
    /* Shared with the thread, under mu: batch p of the epoch goes to slots[p % 2]; the
     * thread makes batch `produced` when produced <= consumed (the caller holds batch
     * consumed - 1 in the other slot). gen changes on every reset, so a batch made for
     * an old epoch is dropped. */
    int64_t epoch, produced, consumed;
    uint64_t gen;
    int busy, quit;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int thread_started;
};

/* Makes batch idx of the current epoch into s (the iterator must be at batch idx). */
static void make_batch(kiln_loader *l, int64_t epoch, int64_t idx, struct slot *s)
{
    kiln_status st = kiln_batch_iter_next(l->it, l->raw, s->y, &s->n);
    uint64_t counter =
        ((uint64_t)epoch * (uint64_t)l->n_batches + (uint64_t)idx) * (uint64_t)l->batch;
    if (st == KILN_OK) {
        st = kiln_augment_apply(&l->aug, l->h, l->w, l->batch, l->raw, s->x, l->seed, counter);
    }
    s->status = st;
    if (st != KILN_OK) {
        snprintf(s->msg, sizeof(s->msg), "%s", kiln_last_error());
    }
}

static void *loader_thread(void *arg)
{
    kiln_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->quit) {
        if (l->produced < l->n_batches && l->produced <= l->consumed) {
            int64_t idx = l->produced, epoch = l->epoch;
            uint64_t gen = l->gen;
            l->busy = 1;
            pthread_mutex_unlock(&l->mu);
            make_batch(l, epoch, idx, &l->slots[idx % 2]);
            pthread_mutex_lock(&l->mu);
            l->busy = 0;
            if (gen == l->gen) {
                l->produced++;
            }
            pthread_cond_broadcast(&l->cv);
        } else {
            pthread_cond_wait(&l->cv, &l->mu);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

kiln_status kiln_loader_create(const struct kiln_dataset *ds, const struct kiln_loader_options *o,
                               kiln_loader **out)
{
    struct kiln_loader_options d = KILN_LOADER_OPTIONS_INIT;
    struct kiln_augment none = KILN_AUGMENT_INIT;
    kiln_status s = KILN_OK;
    if (out == NULL || ds == NULL || (o != NULL && o->struct_size < sizeof(*o))) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_loader_create: bad arguments");
    }
    *out = NULL;
    o = o != NULL ? o : &d;
    const struct kiln_augment *a = o->augment != NULL ? o->augment : &none;
    if (a->struct_size < sizeof(*a) || o->batch_size < 1 || ds->rank < 2 || ds->rank > 3) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_loader_create: batch %lld, items of rank %d (need 2 or 3)",
                         (long long)o->batch_size, ds->rank);
    }
    int64_t c = ds->rank == 3 ? ds->dims[0] : 1;
    int64_t h = ds->dims[ds->rank - 2], w = ds->dims[ds->rank - 1];
    if (c != a->channels || c * h * w != ds->dim) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_loader_create: items of %lld channels of %lldx%lld (%lld "
                         "features), augmentation for %d channels",
                         (long long)c, (long long)h, (long long)w, (long long)ds->dim, a->channels);
    }
    kiln_loader *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_loader_create: the loader");
    }
    l->ds = ds;
    l->aug = *a;
    l->batch = o->batch_size;
    l->seed = o->seed;
    l->prefetch = o->prefetch != 0;
    l->h = h;
    l->w = w;
    s = check_augment(&l->aug, h, w, &l->oh, &l->ow);
    if (s != KILN_OK) {
        goto fail_options;
    }
    s = kiln_batch_iter_create(ds, l->batch, o->flags, o->seed, &l->it);
    if (s != KILN_OK) {
        goto fail_options;
    }
    l->n_batches = kiln_batch_iter_n_batches(l->it);
    l->raw = malloc((size_t)(l->batch * ds->dim) * sizeof(float));
    for (int i = 0; i < 2; i++) {
        l->slots[i].x = malloc((size_t)(l->batch * c * l->oh * l->ow) * sizeof(float));
        l->slots[i].y = malloc((size_t)l->batch * sizeof(int32_t));
    }
    if (l->raw == NULL || l->slots[0].x == NULL || l->slots[0].y == NULL || l->slots[1].x == NULL ||
        l->slots[1].y == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_loader_create: batch buffers");
        goto fail_buffers;
    }
    if (l->prefetch) {
        pthread_mutex_init(&l->mu, NULL);
        pthread_cond_init(&l->cv, NULL);
        if (pthread_create(&l->thread, NULL, loader_thread, l) != 0) {
            pthread_cond_destroy(&l->cv);
            pthread_mutex_destroy(&l->mu);
            s = KILN_FAIL(KILN_E_INTERNAL, "kiln_loader_create: cannot start the loader thread");
            goto fail_buffers;
        }
        l->thread_started = 1;
    }
    *out = l;
    return KILN_OK;

fail_buffers:
    for (int i = 0; i < 2; i++) {
        free(l->slots[i].x);
        free(l->slots[i].y);
    }
    free(l->raw);
    kiln_batch_iter_destroy(l->it);
fail_options:
    free(l);
    return s;
}

void kiln_loader_destroy(kiln_loader *l)
{
    if (l == NULL) {
        return;
    }
    if (l->thread_started) {
        pthread_mutex_lock(&l->mu);
        l->quit = 1;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
        pthread_cond_destroy(&l->cv);
        pthread_mutex_destroy(&l->mu);
    }
    for (int i = 0; i < 2; i++) {
        free(l->slots[i].x);
        free(l->slots[i].y);
    }
    free(l->raw);
    kiln_batch_iter_destroy(l->it);
    free(l);
}

int64_t kiln_loader_n_batches(const kiln_loader *l)
{
    return l != NULL ? l->n_batches : 0;
}

void kiln_loader_item_dims(const kiln_loader *l, int64_t dims[3])
{
    dims[0] = l != NULL ? l->aug.channels : 0;
    dims[1] = l != NULL ? l->oh : 0;
    dims[2] = l != NULL ? l->ow : 0;
}

void kiln_loader_reset(kiln_loader *l, int64_t epoch)
{
    kiln_loader_seek(l, epoch, 0);
}

void kiln_loader_seek(kiln_loader *l, int64_t epoch, int64_t batch)
{
    if (l == NULL) {
        return;
    }
    if (l->thread_started) {
        pthread_mutex_lock(&l->mu);
        l->gen++;
        while (l->busy) {
            pthread_cond_wait(&l->cv, &l->mu);
        }
    }
    batch = batch < 0 ? 0 : batch > l->n_batches ? l->n_batches : batch;
    kiln_batch_iter_seek(l->it, epoch, batch);
    l->epoch = epoch;
    /* Batch p goes to slots[p % 2] and draws its augmentation from its index, so
     * starting the counts at batch keeps both as they would have been. */
    l->produced = l->consumed = batch;
    if (l->thread_started) {
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
    }
}

kiln_status kiln_loader_next(kiln_loader *l, const float **x, const int32_t **y, int64_t *n_out)
{
    if (l == NULL || x == NULL || n_out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_loader_next: NULL argument");
    }
    *n_out = 0;
    if (l->consumed >= l->n_batches) {
        return KILN_OK;
    }
    struct slot *s = &l->slots[l->consumed % 2];
    if (!l->thread_started) {
        make_batch(l, l->epoch, l->consumed, s);
        l->consumed++;
    } else {
        pthread_mutex_lock(&l->mu);
        /* Taking batch `consumed` releases the previous one: the thread may now fill
         * its slot with the batch after this one. */
        while (l->produced <= l->consumed) {
            pthread_cond_wait(&l->cv, &l->mu);
        }
        l->consumed++;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
    }
    if (s->status != KILN_OK) {
        return KILN_FAIL(s->status, "kiln_loader_next: %s", s->msg);
    }
    *x = s->x;
    if (y != NULL) {
        *y = s->y;
    }
    *n_out = s->n;
    return KILN_OK;
}
