/*
 * png.c - PNG files through libpng (when kiln is built with it: KILN_HAVE_PNG): writing
 * a grid of grayscale images as an 8-bit PNG, and reading any PNG into f32 planes
 * (kiln/image.h). libpng reports errors by longjmp; the functions that call setjmp
 * keep everything they must free in memory that outlives the jump (their caller's
 * structs), never in their own locals.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef KILN_HAVE_PNG
#include <png.h>
#endif

#include "../checked.h"
#include "../file.h"
#include "../status_impl.h"
#include "kiln/image.h"
#include "kiln/train.h"

#ifdef KILN_HAVE_PNG
/* libpng reports errors through longjmp; the file and the row buffer are closed by the
 * caller, so nothing leaks when it jumps. */
static int write_rows(FILE *f, uint8_t *pix, uint32_t gw, uint32_t gh)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png != NULL ? png_create_info_struct(png) : NULL;
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        return 0;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return 0;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, gw, gh, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (uint32_t y = 0; y < gh; y++) {
        png_write_row(png, pix + (size_t)y * gw);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 1;
}
#endif

kiln_status kiln_png_write_grid(const char *path, const float *images, int64_t n, int64_t h,
                                int64_t w, int32_t cols, float lo, float hi)
{
    enum { BORDER = 2 };
    if (path == NULL || images == NULL || n < 1 || h < 1 || w < 1 || cols < 1 || !(hi > lo) ||
        h > 4096 || w > 4096 || n > 65536) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_png_write_grid: bad arguments");
    }
#ifndef KILN_HAVE_PNG
    return KILN_FAIL(KILN_E_UNSUPPORTED, "kiln_png_write_grid: kiln was built without libpng "
                                         "(install libpng-dev and reconfigure)");
#else
    int64_t c = cols < n ? cols : n, r = (n + c - 1) / c;
    int64_t gw = c * (w + BORDER) + BORDER, gh = r * (h + BORDER) + BORDER;
    uint8_t *pix = calloc((size_t)(gw * gh), 1);
    if (pix == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_png_write_grid: %lldx%lld pixels",
                         (long long)gw, (long long)gh);
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t oy = (i / c) * (h + BORDER) + BORDER, ox = (i % c) * (w + BORDER) + BORDER;
        for (int64_t y = 0; y < h; y++) {
            for (int64_t x = 0; x < w; x++) {
                float v = (images[(i * h + y) * w + x] - lo) / (hi - lo);
                v = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
                pix[(oy + y) * gw + ox + x] = (uint8_t)(v * 255.0f + 0.5f);
            }
        }
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        free(pix);
        return KILN_FAIL(KILN_E_IO, "kiln_png_write_grid: cannot open '%s': %s", path,
                         strerror(errno));
    }
    int ok = write_rows(f, pix, (uint32_t)gw, (uint32_t)gh);
    ok = fclose(f) == 0 && ok;
    free(pix);
    if (!ok) {
        return KILN_FAIL(KILN_E_IO, "kiln_png_write_grid: writing '%s' failed", path);
    }
    return KILN_OK;
#endif
}

/* ==== Reading ==== */

#define MAX_SIDE   65535
#define MAX_PIXELS ((int64_t)1 << 26)

#ifdef KILN_HAVE_PNG
/* What read_png fills; it lives in kiln_png_read's frame, so it survives a longjmp. */
struct png_read_ctx {
    const char *path;
    FILE *f;
    png_structp png;
    png_infop info;
    unsigned char *pixels;
    png_bytep *rows;
    uint32_t w, h;
    int channels, depth;
    char msg[200];
};

static void png_error_fn(png_structp png, png_const_charp msg)
{
    struct png_read_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof(c->msg), "%s", msg);
    png_longjmp(png, 1);
}

static void png_warning_fn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* Decodes c->f into c->pixels (8- or 16-bit samples, channels interleaved). Returns 0,
 * 1 after a libpng error (c->msg), or 2 when the image is too large or memory runs out. */
static int read_png(struct png_read_ctx *c)
{
    if (setjmp(png_jmpbuf(c->png))) {
        return 1;
    }
    png_init_io(c->png, c->f);
    png_set_user_limits(c->png, MAX_SIDE, MAX_SIDE);
    png_read_info(c->png, c->info);
    png_set_expand(c->png); /* palette to RGB, low bit depths to 8, tRNS to alpha */
    png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);
    c->w = png_get_image_width(c->png, c->info);
    c->h = png_get_image_height(c->png, c->info);
    c->channels = png_get_channels(c->png, c->info);
    c->depth = png_get_bit_depth(c->png, c->info);
    size_t row_bytes = png_get_rowbytes(c->png, c->info);
    if ((int64_t)c->w * (int64_t)c->h > MAX_PIXELS || c->channels < 1 || c->channels > 4 ||
        (c->depth != 8 && c->depth != 16) ||
        row_bytes != (size_t)c->w * (size_t)c->channels * (size_t)(c->depth / 8)) {
        snprintf(c->msg, sizeof(c->msg),
                 "%ux%u pixels of %d channels at %d bits is not supported "
                 "(at most 2^26 pixels)",
                 c->w, c->h, c->channels, c->depth);
        return 2;
    }
    /* w h <= 2^26 and row_bytes matches w: nothing below can overflow */
    c->pixels = kiln__array_alloc((int64_t)c->h, row_bytes);
    c->rows = kiln__array_alloc((int64_t)c->h, sizeof(png_bytep));
    if (c->pixels == NULL || c->rows == NULL) {
        snprintf(c->msg, sizeof(c->msg), "out of host memory for %ux%u pixels", c->w, c->h);
        return 2;
    }
    for (uint32_t y = 0; y < c->h; y++) {
        c->rows[y] = c->pixels + (size_t)y * row_bytes;
    }
    png_read_image(c->png, c->rows);
    png_read_end(c->png, NULL);
    return 0;
}

/* Moves the decoded samples into planes of floats in [0, 1]. */
static kiln_status to_planes(const struct png_read_ctx *c, struct kiln_image *out)
{
    size_t n = (size_t)c->w * c->h;
    out->data = kiln__array_alloc((int64_t)n * c->channels, sizeof(float));
    if (out->data == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "'%s': out of host memory for %ux%u pixels",
                         c->path, c->w, c->h);
    }
    out->c = c->channels;
    out->h = (int32_t)c->h;
    out->w = (int32_t)c->w;
    float max = c->depth == 16 ? 65535.0f : 255.0f;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < c->channels; k++) {
            size_t at = i * (size_t)c->channels + (size_t)k;
            unsigned v = c->depth == 16 ? (unsigned)c->pixels[2 * at] << 8 | c->pixels[2 * at + 1]
                                        : c->pixels[at];
            out->data[(size_t)k * n + i] = (float)v / max;
        }
    }
    return KILN_OK;
}
#endif

void kiln_image_fini(struct kiln_image *im)
{
    if (im != NULL) {
        free(im->data);
        memset(im, 0, sizeof(*im));
    }
}

kiln_status kiln_png_read(const char *path, struct kiln_image *out)
{
    if (path == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_png_read: NULL argument");
    }
    memset(out, 0, sizeof(*out));
#ifndef KILN_HAVE_PNG
    return KILN_FAIL(KILN_E_UNSUPPORTED,
                     "kiln_png_read: kiln was built without libpng "
                     "(install libpng-dev and reconfigure); cannot read '%s'",
                     path);
#else
    struct png_read_ctx c;
    memset(&c, 0, sizeof(c));
    c.path = path;
    int fd;
    KILN_TRY(kiln__open_regular(path, "a PNG file is read whole", &fd));
    c.f = fdopen(fd, "rb");
    if (c.f == NULL) {
        int e = errno;
        close(fd);
        return KILN_FAIL_NATIVE(KILN_E_IO, e, "cannot open '%s': %s", path, strerror(e));
    }
    unsigned char sig[8];
    kiln_status s = KILN_OK;
    if (fread(sig, 1, 8, c.f) != 8 || png_sig_cmp(sig, 0, 8) != 0) {
        s = KILN_FAIL(KILN_E_FORMAT,
                      "'%s': not a PNG file (its first 8 bytes are not the PNG "
                      "signature)",
                      path);
        goto done;
    }
    rewind(c.f);
    c.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, png_error_fn, png_warning_fn);
    c.info = c.png != NULL ? png_create_info_struct(c.png) : NULL;
    if (c.info == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading '%s'", path);
        goto done;
    }
    int r = read_png(&c);
    if (r == 1) {
        s = KILN_FAIL(KILN_E_FORMAT, "'%s': bad PNG data: %s", path, c.msg);
    } else if (r == 2) {
        s = KILN_FAIL(strncmp(c.msg, "out of", 6) == 0 ? KILN_E_OUT_OF_HOST_MEMORY : KILN_E_FORMAT,
                      "'%s': %s", path, c.msg);
    } else {
        s = to_planes(&c, out);
    }
done:
    png_destroy_read_struct(&c.png, &c.info, NULL);
    free(c.rows);
    free(c.pixels);
    fclose(c.f);
    if (s != KILN_OK) {
        kiln_image_fini(out);
    }
    return s;
#endif
}
