/*
 * kiln/image.h - images as model input: reading PNG files of any colour type and bit
 * depth into f32 planes in [0, 1], and converting an image of any size to a model's
 * input of C x H x W (alpha compositing, ITU-R BT.601 luma, area or bilinear
 * resampling, optional inversion) for predictions on a user's pictures.
 *
 * Host memory only. Writing image grids is kiln_png_write_grid in kiln/train.h. PNG
 * support needs libpng at build time; without it the reader returns
 * KILN_E_UNSUPPORTED.
 */
#ifndef KILN_IMAGE_H
#define KILN_IMAGE_H

#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An image as planes [c, h, w] of floats in [0, 1]. c is 1 (gray), 2 (gray, alpha),
 * 3 (red, green, blue) or 4 (red, green, blue, alpha); alpha is straight (not
 * premultiplied), 1 = opaque.
 */
struct kiln_image {
    int32_t c, h, w;
    float *data; /* [c, h, w], owned */
};

/* Releases im's pixels and zeroes it. NULL or a zeroed image is a no-op. */
KILN_API void kiln_image_fini(struct kiln_image *im);

/*
 * Reads a PNG file: gray, gray + alpha, RGB, RGBA or palette, at 1, 2, 4, 8 or 16 bits,
 * interlaced or not. A palette becomes RGB (RGBA when it has transparency), a tRNS
 * colour key becomes an alpha channel, and each sample s of b bits becomes
 * s / (2^b - 1). Samples are taken as stored: gAMA, cHRM and ICC profiles are ignored.
 * Images of more than 2^26 pixels or a side above 65,535 are refused.
 * [in] path: borrowed. [out] out: filled on success (kiln_image_fini); zeroed on
 * failure.
 * Returns KILN_OK, KILN_E_IO (cannot open), KILN_E_FORMAT (not a PNG file, corrupt or
 * truncated data: libpng's message, naming the file), KILN_E_UNSUPPORTED (built
 * without libpng), KILN_E_INVALID_ARG, KILN_E_OUT_OF_HOST_MEMORY. Thread-safe.
 */
KILN_API kiln_status kiln_png_read(const char *path, struct kiln_image *out);

/* How kiln_image_convert maps an image to a model's input. */
struct kiln_image_convert_options {
    uint32_t struct_size; /* sizeof(struct kiln_image_convert_options) */
    int32_t channels;     /* 1 or 3: the model's input channels; default 1 */
    int32_t h, w;         /* the model's input size, 1..16384; default 28 x 28 */
    float background;     /* alpha is composited over this gray level: 0 (default,
                             black, the background of MNIST-style data) .. 1 (white) */
    int32_t invert;       /* 1: every output value v becomes 1 - v (for dark-on-light
                             drawings fed to a light-on-dark model); default 0. Never
                             automatic */
};

#define KILN_IMAGE_CONVERT_OPTIONS_INIT                                                            \
    {                                                                                              \
        sizeof(struct kiln_image_convert_options), 1, 28, 28, 0.0f, 0                              \
    }

/*
 * Converts src to o->channels x o->h x o->w values in [0, 1], in this order:
 *  1. alpha compositing: v = a v + (1 - a) background, for each colour sample;
 *  2. channels: to one channel, RGB becomes the ITU-R BT.601 luma
 *     0.299 R + 0.587 G + 0.114 B (on the stored, gamma-encoded values, as PIL's
 *     convert("L") does); to three, gray is copied to each of R, G and B;
 *  3. size: each axis separately (width, then height), stretching to the target
 *     without keeping the aspect ratio: an axis that shrinks is resampled by area
 *     averaging (each output pixel is the mean of the input span it covers, partial
 *     pixels weighted by their overlap, as OpenCV's INTER_AREA); an axis that grows or
 *     keeps its size is bilinear with pixel centres aligned (output x samples input
 *     (x + 0.5) in / out - 0.5, clamped at the borders; align_corners = false), which
 *     is the identity at the same size;
 *  4. inversion, when asked.
 * Normalization (mean and std) is left to the model's own preprocessing.
 * [in] src, o: borrowed (o NULL: defaults). [out] dst: caller storage of
 * channels * h * w floats.
 * Returns KILN_OK, KILN_E_INVALID_ARG (bad image or options), KILN_E_OUT_OF_HOST_MEMORY.
 * Thread-safe.
 */
KILN_API kiln_status kiln_image_convert(const struct kiln_image *src,
                                        const struct kiln_image_convert_options *o, float *dst);

#ifdef __cplusplus
}
#endif

#endif /* KILN_IMAGE_H */
