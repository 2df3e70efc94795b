/*
 * fuzz_png.c - libFuzzer target for the PNG reader (kiln_png_read) through a temporary
 * file: each input is a whole file. An accepted image must have 1 to 4 channels, a size
 * within the reader's limits and every sample in [0, 1]; it is then converted to a
 * model's 1 x 28 x 28 and 3 x 7 x 40 inputs, whose values must stay in [0, 1].
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "kiln.h"
#include "kiln/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void convert(const struct kiln_image *im, int32_t c, int32_t h, int32_t w)
{
    struct kiln_image_convert_options o = KILN_IMAGE_CONVERT_OPTIONS_INIT;
    float *out = malloc((size_t)c * (size_t)h * (size_t)w * sizeof(float));
    o.channels = c;
    o.h = h;
    o.w = w;
    o.background = 0.5f;
    if (out == NULL || kiln_image_convert(im, &o, out) != KILN_OK) {
        abort();
    }
    for (int32_t i = 0; i < c * h * w; i++) {
        if (!(out[i] >= 0.0f && out[i] <= 1.0f)) {
            abort();
        }
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_put("image.png", data, size, path, sizeof(path));
    struct kiln_image im;
    if (kiln_png_read(path, &im) != KILN_OK) {
        if (im.data != NULL) {
            abort(); /* zeroed on failure */
        }
        return 0;
    }
    int64_t n = (int64_t)im.c * im.h * im.w;
    if (im.c < 1 || im.c > 4 || im.h < 1 || im.w < 1 || im.h > 65535 || im.w > 65535 ||
        (int64_t)im.h * im.w > (INT64_C(1) << 26)) {
        abort();
    }
    for (int64_t i = 0; i < n; i++) {
        if (!(im.data[i] >= 0.0f && im.data[i] <= 1.0f)) {
            abort();
        }
    }
    convert(&im, 1, 28, 28);
    convert(&im, 3, 7, 40);
    kiln_image_fini(&im);
    return 0;
}
