/*
 * lm_text.c - plain UTF-8 text for character language models: reading a file into
 * character ids with a held-out tail and a vocabulary built from the training part,
 * and the two ways of cutting batches out of an id stream: contiguous streams for
 * truncated backpropagation through time (as char-rnn) and seeded random windows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../checked.h"
#include "../rng.h"
#include "../status_impl.h"
#include "kiln/text.h"
#include "text_impl.h"

#define STREAM_LM_WINDOWS 0x4c4d0000u

void kiln_lm_text_fini(struct kiln_lm_text *lm)
{
    if (lm == NULL) {
        return;
    }
    free(lm->ids);
    kiln_vocab_destroy(lm->vocab);
    memset(lm, 0, sizeof(*lm));
}

/* Decodes text[0 .. n_bytes) into cps, stopping after limit characters (0: all);
 * *end receives the byte offset where decoding stopped. */
static kiln_status decode_text(const char *path, const char *text, size_t n_bytes, int64_t limit,
                               int32_t *cps, int64_t *n_cps, size_t *end)
{
    const unsigned char *u = (const unsigned char *)text;
    size_t pos = 0;
    int64_t k = 0;
    while (pos < n_bytes && (limit <= 0 || k < limit)) {
        const char *why = kiln__utf8_next(u, n_bytes, &pos, &cps[k]);
        if (why != NULL) {
            int64_t line, col;
            kiln__line_col(text, pos, &line, &col);
            return KILN_FAIL(KILN_E_FORMAT,
                             "'%s': line %lld, byte column %lld (byte offset %zu): invalid UTF-8 "
                             "(byte 0x%02X): %s",
                             path, (long long)line, (long long)col, pos, u[pos], why);
        }
        k++;
    }
    *n_cps = k;
    *end = pos;
    return KILN_OK;
}

/* The byte length of the first n characters of valid UTF-8 text. */
static size_t prefix_bytes(const char *text, size_t n_bytes, int64_t n)
{
    size_t pos = 0;
    int32_t cp;
    for (int64_t i = 0; i < n; i++) {
        kiln__utf8_next((const unsigned char *)text, n_bytes, &pos, &cp);
    }
    return pos;
}

static kiln_status check_lm_options(const char *path, const struct kiln_lm_options *o,
                                    struct kiln_lm_text *out)
{
    if (path == NULL || out == NULL || o->struct_size < sizeof(*o) || !(o->held_out >= 0.0) ||
        !(o->held_out < 1.0) || o->limit < 0) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_lm_text_load: bad arguments (held_out %g must lie in [0, 1))",
                         o->held_out);
    }
    return KILN_OK;
}

kiln_status kiln_lm_text_load(const char *path, const struct kiln_lm_options *o,
                              struct kiln_lm_text *out)
{
    struct kiln_lm_options def = KILN_LM_OPTIONS_INIT;
    o = o != NULL ? o : &def;
    KILN_TRY(check_lm_options(path, o, out));
    memset(out, 0, sizeof(*out));
    char *buf;
    size_t n_bytes;
    KILN_TRY(kiln__read_file(path, &buf, &n_bytes));
    kiln_status s;
    size_t skip = n_bytes >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0, end = 0;
    const char *text = buf + skip;
    /* kiln__read_file keeps n_bytes far below INT64_MAX */
    int32_t *cps = kiln__array_alloc((int64_t)n_bytes + 1, sizeof(int32_t));
    if (cps == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading '%s'", path);
        goto done;
    }
    s = decode_text(path, text, n_bytes - skip, o->limit, cps, &out->n, &end);
    if (s != KILN_OK) {
        goto done;
    }
    out->n_train = (int64_t)((1.0 - o->held_out) * (double)out->n);
    if (out->n == 0 || out->n_train < 1 || (o->held_out > 0.0 && out->n_train == out->n)) {
        s = KILN_FAIL(out->n == 0 ? KILN_E_FORMAT : KILN_E_INVALID_ARG,
                      "'%s': %lld characters cannot be split into a training part and a held-out "
                      "%g",
                      path, (long long)out->n, o->held_out);
        goto done;
    }
    if (o->use_vocab != NULL) {
        s = kiln_vocab_clone(o->use_vocab, &out->vocab);
    } else {
        size_t nb = prefix_bytes(text, end, out->n_train);
        s = kiln_vocab_build(&text, &nb, 1, o->vocab, &out->vocab);
    }
    if (s != KILN_OK) {
        goto done;
    }
    for (int64_t i = 0; i < out->n; i++) {
        cps[i] = kiln_vocab_char_id(out->vocab, cps[i]);
    }
    out->ids = cps;
    cps = NULL;
done:
    free(cps);
    free(buf);
    if (s != KILN_OK) {
        kiln_lm_text_fini(out);
    }
    return s;
}

/* ==== Batches ==== */

int64_t kiln_lm_stream_n_chunks(int64_t n, int64_t batch, int64_t t)
{
    if (n < 2 || batch < 1 || t < 1) {
        return 0;
    }
    return (n - 1) / batch / t;
}

kiln_status kiln_lm_stream_chunk(const int32_t *ids, int64_t n, int64_t batch, int64_t t, int64_t k,
                                 int32_t *out)
{
    int64_t n_chunks = kiln_lm_stream_n_chunks(n, batch, t);
    if (ids == NULL || out == NULL || k < 0 || k >= n_chunks) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_lm_stream_chunk: chunk %lld of %lld (n %lld, batch %lld, t %lld)",
                         (long long)k, (long long)n_chunks, (long long)n, (long long)batch,
                         (long long)t);
    }
    int64_t len = (n - 1) / batch;
    for (int64_t b = 0; b < batch; b++) {
        memcpy(out + b * (t + 1), ids + b * len + k * t, (size_t)(t + 1) * sizeof(int32_t));
    }
    return KILN_OK;
}

kiln_status kiln_lm_random_windows(const int32_t *ids, int64_t n, int64_t batch, int64_t t,
                                   uint64_t seed, int64_t step, int32_t *out)
{
    int64_t cells;
    /* n > t makes t + 1 safe; batch rows of t + 1 ids must be addressable. */
    if (ids == NULL || out == NULL || batch < 1 || t < 1 || n <= t || step < 0 ||
        !kiln__i64_mul(batch, t + 1, &cells) || (uint64_t)cells > SIZE_MAX / sizeof(int32_t)) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_lm_random_windows: bad arguments (n %lld, batch %lld, t %lld)",
                         (long long)n, (long long)batch, (long long)t);
    }
    for (int64_t r = 0; r < batch; r++) {
        uint32_t w[4];
        kiln__philox(seed, STREAM_LM_WINDOWS, (uint64_t)step * (uint64_t)batch + (uint64_t)r, w);
        uint64_t u = (uint64_t)w[0] << 32 | w[1];
        int64_t off = (int64_t)(u % (uint64_t)(n - t));
        memcpy(out + r * (t + 1), ids + off, (size_t)(t + 1) * sizeof(int32_t));
    }
    return KILN_OK;
}
