/*
 * test_image.c - kiln/image.h: PNG files written here with libpng (gray, gray + alpha,
 * RGB, RGBA, palette with and without transparency, 1-, 8- and 16-bit, interlaced) and
 * with kiln_png_write_grid read back exactly; missing, non-PNG, truncated and corrupt
 * files fail naming the file; kiln_image_convert's compositing, BT.601 luma, area and
 * bilinear resampling, gray to RGB and inversion give the documented values. Built
 * without libpng, the reader must say KILN_E_UNSUPPORTED.
 */
#include <math.h>
#include <stdint.h>

#ifndef KILN_TEST_NO_PNG
#include <png.h>
#endif

#include "train_util.h"

#ifndef KILN_TEST_NO_PNG
/* Writes a w x h PNG of colour type ct and bit depth bd whose packed rows are rows
 * (row_bytes each); palette (n_pal entries) and trns (n_trns alphas) when given. */
static void write_png(const char *name, uint32_t w, uint32_t h, int ct, int bd, int interlace,
                      const unsigned char *rows, size_t row_bytes, const png_color *palette,
                      int n_pal, const unsigned char *trns, int n_trns, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", tu_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert_int_eq(setjmp(png_jmpbuf(png)), 0);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, bd, ct, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette != NULL) {
        png_set_PLTE(png, info, palette, n_pal);
    }
    if (trns != NULL) {
        png_set_tRNS(png, info, trns, n_trns, NULL);
    }
    png_write_info(png, info);
    png_bytep *rp = malloc(h * sizeof(png_bytep));
    for (uint32_t y = 0; y < h; y++) {
        rp[y] = (png_bytep)(rows + y * row_bytes);
    }
    png_write_image(png, rp);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rp);
    ck_assert_int_eq(fclose(f), 0);
}

static struct kiln_image read_ok(const char *path, int c, int h, int w)
{
    struct kiln_image im;
    EXPECT_OK(kiln_png_read(path, &im));
    ck_assert_int_eq(im.c, c);
    ck_assert_int_eq(im.h, h);
    ck_assert_int_eq(im.w, w);
    return im;
}

START_TEST(test_png_types)
{
    char p[512];
    /* Gray 8-bit, 3 x 2. */
    unsigned char g8[6] = {0, 51, 255, 1, 128, 254};
    write_png("g8.png", 3, 2, PNG_COLOR_TYPE_GRAY, 8, 0, g8, 3, NULL, 0, NULL, 0, p, sizeof(p));
    struct kiln_image im = read_ok(p, 1, 2, 3);
    for (int i = 0; i < 6; i++) {
        ck_assert_float_eq(im.data[i], (float)g8[i] / 255.0f);
    }
    kiln_image_fini(&im);
    kiln_image_fini(&im);

    /* Gray 16-bit (big-endian samples). */
    unsigned char g16[4] = {0x12, 0x34, 0xFF, 0xFF};
    write_png("g16.png", 2, 1, PNG_COLOR_TYPE_GRAY, 16, 0, g16, 4, NULL, 0, NULL, 0, p, sizeof(p));
    im = read_ok(p, 1, 1, 2);
    ck_assert_float_eq(im.data[0], (float)0x1234 / 65535.0f);
    ck_assert_float_eq(im.data[1], 1.0f);
    kiln_image_fini(&im);

    /* Gray + alpha; RGB; RGBA: planes come out channel by channel. */
    unsigned char ga[4] = {10, 20, 30, 40};
    write_png("ga.png", 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, ga, 4, NULL, 0, NULL, 0, p,
              sizeof(p));
    im = read_ok(p, 2, 1, 2);
    ck_assert_float_eq(im.data[1], 30.0f / 255.0f); /* gray of pixel 1 */
    ck_assert_float_eq(im.data[2], 20.0f / 255.0f); /* alpha of pixel 0 */
    kiln_image_fini(&im);
    unsigned char rgba[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    write_png("rgb.png", 2, 1, PNG_COLOR_TYPE_RGB, 8, 0, rgba, 6, NULL, 0, NULL, 0, p, sizeof(p));
    im = read_ok(p, 3, 1, 2);
    float want_rgb[6] = {1, 4, 2, 5, 3, 6};
    for (int i = 0; i < 6; i++) {
        ck_assert_float_eq(im.data[i], want_rgb[i] / 255.0f);
    }
    kiln_image_fini(&im);
    write_png("rgba.png", 2, 1, PNG_COLOR_TYPE_RGBA, 8, 0, rgba, 8, NULL, 0, NULL, 0, p, sizeof(p));
    im = read_ok(p, 4, 1, 2);
    ck_assert_float_eq(im.data[6], 4.0f / 255.0f);
    ck_assert_float_eq(im.data[7], 8.0f / 255.0f);
    kiln_image_fini(&im);

    /* Palette (4-bit indices), then with transparency. */
    png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 51}};
    unsigned char idx[1] = {0x21}; /* pixels 2, 1 */
    write_png("pal.png", 2, 1, PNG_COLOR_TYPE_PALETTE, 4, 0, idx, 1, pal, 3, NULL, 0, p, sizeof(p));
    im = read_ok(p, 3, 1, 2);
    float want_pal[6] = {0, 0, 0, 1, 0.2f, 0};
    for (int i = 0; i < 6; i++) {
        ck_assert_float_eq_tol(im.data[i], want_pal[i], 1e-7);
    }
    kiln_image_fini(&im);
    unsigned char alpha[3] = {255, 0, 128};
    write_png("palt.png", 2, 1, PNG_COLOR_TYPE_PALETTE, 4, 0, idx, 1, pal, 3, alpha, 3, p,
              sizeof(p));
    im = read_ok(p, 4, 1, 2);
    ck_assert_float_eq(im.data[6], 128.0f / 255.0f);
    ck_assert_float_eq(im.data[7], 0.0f);
    kiln_image_fini(&im);

    /* 1-bit gray: 0 and 1 become 0 and 1. */
    unsigned char bits[1] = {0xA0}; /* 1 0 1 */
    write_png("g1.png", 3, 1, PNG_COLOR_TYPE_GRAY, 1, 0, bits, 1, NULL, 0, NULL, 0, p, sizeof(p));
    im = read_ok(p, 1, 1, 3);
    ck_assert_float_eq(im.data[0], 1.0f);
    ck_assert_float_eq(im.data[1], 0.0f);
    ck_assert_float_eq(im.data[2], 1.0f);
    kiln_image_fini(&im);

    /* Interlaced (Adam7) reads the same as the plain image. */
    unsigned char big[9 * 7];
    for (int i = 0; i < 63; i++) {
        big[i] = (unsigned char)(i * 4);
    }
    write_png("il.png", 9, 7, PNG_COLOR_TYPE_GRAY, 8, 1, big, 9, NULL, 0, NULL, 0, p, sizeof(p));
    im = read_ok(p, 1, 7, 9);
    for (int i = 0; i < 63; i++) {
        ck_assert_float_eq(im.data[i], (float)big[i] / 255.0f);
    }
    kiln_image_fini(&im);
}
END_TEST

START_TEST(test_png_grid_and_errors)
{
    char p[512];
    float img[2 * 3 * 4];
    for (int i = 0; i < 24; i++) {
        img[i] = (float)i / 23.0f;
    }
    snprintf(p, sizeof(p), "%s/grid.png", tu_dir);
    EXPECT_OK(kiln_png_write_grid(p, img, 2, 3, 4, 2, 0.0f, 1.0f));
    struct kiln_image im = read_ok(p, 1, 2 + 3 + 2, 2 + 2 * (4 + 2));
    /* Image 1 starts at row 2, column 2 + 4 + 2 = 8. */
    for (int y = 0; y < 3; y++) {
        for (int x = 0; x < 4; x++) {
            float want = floorf(img[12 + y * 4 + x] * 255.0f + 0.5f) / 255.0f;
            ck_assert_float_eq(im.data[(2 + y) * im.w + 8 + x], want);
        }
    }
    ck_assert_float_eq(im.data[0], 0.0f);
    kiln_image_fini(&im);

    /* A missing file, a text file, a truncated PNG and one with a bad CRC. */
    snprintf(p, sizeof(p), "%s/none.png", tu_dir);
    EXPECT_FAIL(kiln_png_read(p, &im), KILN_E_IO, "none.png");
    tu_write("text.png", "hello, world\n", -1, p, sizeof(p));
    EXPECT_FAIL(kiln_png_read(p, &im), KILN_E_FORMAT, "text.png': not a PNG file");
    tu_write("tiny.png", "\x89PNG", 4, p, sizeof(p));
    EXPECT_FAIL(kiln_png_read(p, &im), KILN_E_FORMAT, "not a PNG file");
    snprintf(p, sizeof(p), "%s/grid.png", tu_dir);
    FILE *f = fopen(p, "rb");
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    tu_write("cut.png", (const char *)buf, (long)(n - 20), p, sizeof(p));
    EXPECT_FAIL(kiln_png_read(p, &im), KILN_E_FORMAT, "cut.png': bad PNG data");
    ck_assert_ptr_null(im.data);
    buf[20] ^= 0xFF; /* inside IHDR: its CRC no longer matches */
    tu_write("crc.png", (const char *)buf, (long)n, p, sizeof(p));
    EXPECT_FAIL(kiln_png_read(p, &im), KILN_E_FORMAT, "crc.png': bad PNG data");
    EXPECT_FAIL(kiln_png_read(NULL, &im), KILN_E_INVALID_ARG, "NULL");
    snprintf(p, sizeof(p), "%s/fifo.png", tu_dir);
    ck_assert_int_eq(mkfifo(p, 0600), 0); /* must not block */
    EXPECT_FAIL(kiln_png_read(p, &im), KILN_E_IO, "fifo.png': is a FIFO");
    EXPECT_FAIL(kiln_png_read("/dev/zero", &im), KILN_E_IO, "a character device");
}
END_TEST
#else
START_TEST(test_png_unsupported)
{
    struct kiln_image im;
    EXPECT_FAIL(kiln_png_read("/nonexistent.png", &im), KILN_E_UNSUPPORTED, "without libpng");
}
END_TEST
#endif

/* A one-row-major image with c planes of h x w from values. */
static struct kiln_image make_image(int c, int h, int w, const float *values)
{
    struct kiln_image im = {c, h, w, malloc(sizeof(float) * (size_t)(c * h * w))};
    memcpy(im.data, values, sizeof(float) * (size_t)(c * h * w));
    return im;
}

static struct kiln_image_convert_options conv(int c, int h, int w)
{
    struct kiln_image_convert_options o = KILN_IMAGE_CONVERT_OPTIONS_INIT;
    o.channels = c;
    o.h = h;
    o.w = w;
    return o;
}

START_TEST(test_convert)
{
    float out[64];
    /* Same size, gray: the identity; invert. */
    float g[6] = {0, 0.2f, 0.4f, 0.6f, 0.8f, 1};
    struct kiln_image im = make_image(1, 2, 3, g);
    struct kiln_image_convert_options o = conv(1, 2, 3);
    EXPECT_OK(kiln_image_convert(&im, &o, out));
    ck_assert_mem_eq(out, g, sizeof(g));
    o.invert = 1;
    EXPECT_OK(kiln_image_convert(&im, &o, out));
    ck_assert_float_eq_tol(out[1], 0.8f, 1e-7);
    /* Gray to three channels. */
    o = conv(3, 2, 3);
    EXPECT_OK(kiln_image_convert(&im, &o, out));
    ck_assert_mem_eq(out + 12, g, sizeof(g));
    kiln_image_fini(&im);

    /* RGB to BT.601 luma; RGBA composited over black, then over white. */
    float rgba[4] = {1.0f, 0.5f, 0.25f, 0.5f}; /* one pixel: R G B A */
    im = make_image(3, 1, 1, rgba);
    o = conv(1, 1, 1);
    EXPECT_OK(kiln_image_convert(&im, &o, out));
    ck_assert_float_eq_tol(out[0], 0.299f + 0.587f * 0.5f + 0.114f * 0.25f, 1e-6);
    kiln_image_fini(&im);
    im = make_image(4, 1, 1, rgba);
    EXPECT_OK(kiln_image_convert(&im, &o, out));
    ck_assert_float_eq_tol(out[0], 0.5f * (0.299f + 0.587f * 0.5f + 0.114f * 0.25f), 1e-6);
    o.background = 1.0f;
    EXPECT_OK(kiln_image_convert(&im, &o, out));
    ck_assert_float_eq_tol(out[0], 0.5f * (0.299f + 0.587f * 0.5f + 0.114f * 0.25f) + 0.5f, 1e-6);
    kiln_image_fini(&im);

    /* Shrinking by 2: the mean of each 2 x 2 block. */
    float b[16];
    for (int i = 0; i < 16; i++) {
        b[i] = (float)i / 16.0f;
    }
    im = make_image(1, 4, 4, b);
    o = conv(1, 2, 2);
    EXPECT_OK(kiln_image_convert(&im, &o, out));
    ck_assert_float_eq_tol(out[0], (b[0] + b[1] + b[4] + b[5]) / 4, 1e-6);
    ck_assert_float_eq_tol(out[3], (b[10] + b[11] + b[14] + b[15]) / 4, 1e-6);
    kiln_image_fini(&im);
    /* Shrinking 3 -> 2 (one row): output 0 covers pixel 0 and half of pixel 1. */
    float r3[3] = {0.3f, 0.6f, 0.9f};
    im = make_image(1, 1, 3, r3);
    o = conv(1, 1, 2);
    EXPECT_OK(kiln_image_convert(&im, &o, out));
    ck_assert_float_eq_tol(out[0], (0.3f + 0.5f * 0.6f) / 1.5f, 1e-6);
    ck_assert_float_eq_tol(out[1], (0.5f * 0.6f + 0.9f) / 1.5f, 1e-6);
    kiln_image_fini(&im);
    /* Growing 2 -> 4: half-pixel centres, clamped at the borders. */
    float r2[2] = {0.2f, 1.0f};
    im = make_image(1, 2, 1, r2); /* a column: the vertical axis grows */
    o = conv(1, 4, 1);
    EXPECT_OK(kiln_image_convert(&im, &o, out));
    float want[4] = {0.2f, 0.75f * 0.2f + 0.25f, 0.25f * 0.2f + 0.75f, 1.0f};
    for (int i = 0; i < 4; i++) {
        ck_assert_float_eq_tol(out[i], want[i], 1e-6);
    }
    kiln_image_fini(&im);
    /* Any size to any size keeps a constant image constant. */
    float *flat = malloc(sizeof(float) * 37 * 23);
    for (int i = 0; i < 37 * 23; i++) {
        flat[i] = 0.6f;
    }
    im = make_image(1, 37, 23, flat);
    float *o28 = malloc(sizeof(float) * 28 * 28);
    o = conv(1, 28, 28);
    EXPECT_OK(kiln_image_convert(&im, &o, o28));
    for (int i = 0; i < 28 * 28; i++) {
        ck_assert_float_eq_tol(o28[i], 0.6f, 1e-6);
    }
    free(o28);
    free(flat);

    o = conv(2, 28, 28);
    EXPECT_FAIL(kiln_image_convert(&im, &o, out), KILN_E_INVALID_ARG, "2 channels");
    o = conv(1, 0, 28);
    EXPECT_FAIL(kiln_image_convert(&im, &o, out), KILN_E_INVALID_ARG, "0x28");
    im.c = 5;
    EXPECT_FAIL(kiln_image_convert(&im, NULL, out), KILN_E_INVALID_ARG, "bad image");
    kiln_image_fini(&im);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train-image");
    TCase *tc = tcase_create("png");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
#ifndef KILN_TEST_NO_PNG
    tcase_add_test(tc, test_png_types);
    tcase_add_test(tc, test_png_grid_and_errors);
#else
    tcase_add_test(tc, test_png_unsupported);
#endif
    tcase_add_test(tc, test_convert);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
