/*
 * image.c - kiln_image_convert (kiln/image.h): an image of any size and channel layout
 * to a model's C x H x W input in [0, 1]. Alpha is composited over a gray background,
 * colour becomes BT.601 luma or gray is replicated, and each axis is resampled by area
 * averaging when it shrinks and bilinearly when it grows, through per-axis tap tables
 * (a separable filter: rows first, then columns). PNG reading is in png.c.
 */
#include "kiln/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../checked.h"
#include "../status_impl.h"

#define MAX_OUT_SIDE 16384

/* The taps of one axis: output i is the sum over k < n[i] of
 * w[first_w[i] + k] * src[j0[i] + k]. */
struct taps {
    int64_t *j0, *n, *first_w;
    double *w;
};

static void taps_fini(struct taps *t)
{
    free(t->j0);
    free(t->n);
    free(t->first_w);
    free(t->w);
}

/* Bilinear (out >= in) or area (out < in) taps from in samples to out. */
static kiln_status taps_init(struct taps *t, int64_t in, int64_t out)
{
    /* most taps one output can have; out * per is about in + 2 out, far from overflow
     * (in <= 2^31, out <= MAX_OUT_SIDE) */
    int64_t per = out >= in ? 2 : in / out + 2;
    t->j0 = kiln__array_alloc(out, sizeof(int64_t));
    t->n = kiln__array_alloc(out, sizeof(int64_t));
    t->first_w = kiln__array_alloc(out, sizeof(int64_t));
    t->w = kiln__array_alloc(out * per, sizeof(double));
    if (t->j0 == NULL || t->n == NULL || t->first_w == NULL || t->w == NULL) {
        taps_fini(t);
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory resampling an image");
    }
    double scale = (double)in / (double)out;
    for (int64_t i = 0; i < out; i++) {
        double *w = t->w + i * per;
        t->first_w[i] = i * per;
        if (out >= in) {
            double x = (i + 0.5) * scale - 0.5;
            x = x < 0.0 ? 0.0 : x;
            int64_t x0 = (int64_t)x;
            x0 = x0 > in - 1 ? in - 1 : x0;
            double f = x - (double)x0;
            t->j0[i] = x0;
            t->n[i] = x0 + 1 < in ? 2 : 1;
            w[0] = t->n[i] == 2 ? 1.0 - f : 1.0;
            w[1] = f;
            continue;
        }
        /* The span [lo, hi) of input covered by output pixel i. */
        double lo = i * scale, hi = (i + 1) * scale;
        int64_t a = (int64_t)floor(lo), b = (int64_t)ceil(hi);
        b = b > in ? in : b;
        t->j0[i] = a;
        t->n[i] = b - a;
        for (int64_t j = a; j < b; j++) {
            double cover = fmin(hi, (double)(j + 1)) - fmax(lo, (double)j);
            w[j - a] = cover / scale;
        }
    }
    return KILN_OK;
}

/* Resamples n_lines lines of in samples (src stride between samples s_step, between
 * lines s_line) to out samples each (dst likewise). */
static void apply_taps(const struct taps *t, int64_t out, int64_t n_lines, const float *src,
                       int64_t s_step, int64_t s_line, float *dst, int64_t d_step, int64_t d_line)
{
    for (int64_t l = 0; l < n_lines; l++) {
        const float *s = src + l * s_line;
        float *d = dst + l * d_line;
        for (int64_t i = 0; i < out; i++) {
            const double *w = t->w + t->first_w[i];
            double v = 0.0;
            for (int64_t k = 0; k < t->n[i]; k++) {
                v += w[k] * s[(t->j0[i] + k) * s_step];
            }
            d[i * d_step] = (float)v;
        }
    }
}

/* Composites and converts the channels of src into planes[channels][h * w]. */
static void to_channels(const struct kiln_image *src, int32_t channels, float bg, float *planes)
{
    int64_t n = (int64_t)src->h * src->w;
    int has_alpha = src->c == 2 || src->c == 4, color = src->c >= 3;
    const float *a = has_alpha ? src->data + (src->c - 1) * n : NULL;
    for (int64_t i = 0; i < n; i++) {
        float alpha = a != NULL ? a[i] : 1.0f, rgb[3];
        for (int k = 0; k < 3; k++) {
            float v = src->data[(color ? k : 0) * n + i];
            rgb[k] = alpha * v + (1.0f - alpha) * bg;
        }
        if (channels == 1) {
            planes[i] = color ? 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2] : rgb[0];
        } else {
            for (int k = 0; k < 3; k++) {
                planes[k * n + i] = rgb[k];
            }
        }
    }
}

static kiln_status check_convert(const struct kiln_image *src,
                                 const struct kiln_image_convert_options *o, const float *dst)
{
    if (src == NULL || dst == NULL || src->data == NULL || src->c < 1 || src->c > 4 || src->h < 1 ||
        src->w < 1 || (int64_t)src->h * src->w > (INT64_C(1) << 31)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_image_convert: bad image");
    }
    if (o->struct_size < sizeof(*o) || (o->channels != 1 && o->channels != 3) || o->h < 1 ||
        o->w < 1 || o->h > MAX_OUT_SIDE || o->w > MAX_OUT_SIDE || !(o->background >= 0.0f) ||
        !(o->background <= 1.0f)) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_image_convert: bad options (%d channels, %dx%d, background %g)",
                         o->channels, o->h, o->w, (double)o->background);
    }
    return KILN_OK;
}

kiln_status kiln_image_convert(const struct kiln_image *src,
                               const struct kiln_image_convert_options *o, float *dst)
{
    struct kiln_image_convert_options def = KILN_IMAGE_CONVERT_OPTIONS_INIT;
    o = o != NULL ? o : &def;
    KILN_TRY(check_convert(src, o, dst));
    int64_t c = o->channels, h = src->h, w = src->w, oh = o->h, ow = o->w;
    struct taps tx, ty;
    KILN_TRY(taps_init(&tx, w, ow));
    kiln_status s = taps_init(&ty, h, oh);
    if (s != KILN_OK) {
        taps_fini(&tx);
        return s;
    }
    float *planes = kiln__array_alloc(c * h * w, sizeof(float)); /* h w <= 2^31, c <= 3 */
    float *mid = kiln__array_alloc(c * h * ow, sizeof(float));
    if (planes == NULL || mid == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory converting a %dx%d image",
                      src->h, src->w);
        goto done;
    }
    to_channels(src, o->channels, o->background, planes);
    for (int64_t k = 0; k < c; k++) {
        /* Rows: h lines of w samples to ow; then columns: ow lines of h samples to oh. */
        apply_taps(&tx, ow, h, planes + k * h * w, 1, w, mid + k * h * ow, 1, ow);
        apply_taps(&ty, oh, ow, mid + k * h * ow, ow, 1, dst + k * oh * ow, ow, 1);
    }
    for (int64_t i = 0; i < c * oh * ow; i++) {
        float v = dst[i] < 0.0f ? 0.0f : (dst[i] > 1.0f ? 1.0f : dst[i]);
        dst[i] = o->invert ? 1.0f - v : v;
    }
done:
    free(planes);
    free(mid);
    taps_fini(&tx);
    taps_fini(&ty);
    return s;
}
