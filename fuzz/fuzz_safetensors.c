/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors reader: each input is a
 * whole file, parsed from memory by kiln__st_parse. A file that is accepted must index
 * only bytes of its own data section, with sizes that match the shapes, names that
 * kiln__st_find finds and metadata that kiln__st_meta returns; anything else is a
 * finding (as are crashes, leaks and sanitizer reports).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln__st_file f;
    unsigned char *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    if (kiln__st_parse("fuzz", buf, size, &f) != KILN_OK) {
        if (f.buf != NULL || f.tensors != NULL || f.meta != NULL) {
            abort(); /* a failed read leaves nothing allocated */
        }
        return 0;
    }
    volatile unsigned sum = 0;
    size_t covered = 0;
    for (int32_t i = 0; i < f.n_tensors; i++) {
        const struct kiln__st_tensor *t = &f.tensors[i];
        const unsigned char *p = t->data;
        if (p < f.buf || p + t->n_bytes > f.buf + f.n_bytes || t->n_elems < 0 ||
            kiln__st_find(&f, t->name) != t) {
            abort();
        }
        if (t->dtype != KILN__ST_OTHER &&
            (t->rank > KILN__ST_MAX_RANK ||
             t->n_bytes != (size_t)t->n_elems * kiln__st_dtype_size(t->dtype))) {
            abort();
        }
        for (size_t k = 0; k < t->n_bytes; k++) {
            sum += p[k];
        }
        covered += t->n_bytes;
    }
    if (f.n_bytes < 8 || covered > f.n_bytes - 8) {
        abort(); /* the ranges tile the data section, so they cannot exceed it */
    }
    for (int32_t i = 0; i < f.n_meta; i++) {
        if (kiln__st_meta(&f, f.meta[2 * i]) != f.meta[2 * i + 1]) {
            abort();
        }
    }
    (void)sum; /* the reads are what matters: ASan checks each */
    kiln__st_free(&f);
    return 0;
}
