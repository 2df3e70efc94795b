/*
 * fuzz_idx.c - libFuzzer target for the IDX reader (kiln_dataset_load_idx), through two
 * temporary files rewritten for every input (fuzz_util.h). An input is: byte 0 the item limit (0:
 * all), byte 1 the number of classes minus one, bytes 2-3 the length L of the image file
 * (little-endian), then L bytes of image file and the rest as the label file (raw or
 * gzip: zlib reads both). A load that succeeds must give a dataset within the limit whose
 * every value can be read and lies in range; anything else is a finding.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "kiln.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char paths[2][512];
    if (size < 4) {
        return 0;
    }
    int64_t limit = data[0];
    int32_t n_classes = (int32_t)data[1] + 1;
    size_t n_img = (size_t)data[2] | (size_t)data[3] << 8;
    data += 4;
    size -= 4;
    n_img = n_img < size ? n_img : size;
    fuzz_put("images", data, n_img, paths[0], sizeof(paths[0]));
    fuzz_put("labels", data + n_img, size - n_img, paths[1], sizeof(paths[1]));

    struct kiln_dataset ds;
    if (kiln_dataset_load_idx(paths[0], paths[1], limit, n_classes, &ds) != KILN_OK) {
        if (ds.x != NULL || ds.y != NULL || ds.n != 0) {
            abort(); /* a failed load leaves the dataset empty */
        }
        return 0;
    }
    if (ds.n < 0 || (limit > 0 && ds.n > limit) || ds.dim < 1 || ds.n_classes != n_classes ||
        ds.rank < 1 || ds.rank > 3) {
        abort();
    }
    for (int64_t i = 0; i < ds.n; i++) {
        if (ds.y[i] < 0 || ds.y[i] >= n_classes) {
            abort();
        }
        for (int64_t j = 0; j < ds.dim; j++) {
            float v = ds.x[i * ds.dim + j];
            if (!(v >= 0.0f && v <= 1.0f)) {
                abort();
            }
        }
    }
    kiln_dataset_fini(&ds);
    return 0;
}
