/*
 * png.c - writes a grid of grayscale images as an 8-bit PNG through libpng (when kiln
 * is built with it: KILN_HAVE_PNG).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef KILN_HAVE_PNG
#include <png.h>
#endif

#include "../status_impl.h"
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
