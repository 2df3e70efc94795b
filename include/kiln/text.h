/*
 * kiln/text.h - text data for sequence models, on the host: strict UTF-8 decoding,
 * text classification data sets (a directory of label<TAB>text files), a character
 * vocabulary (with optional character bigrams) that can be saved with a model,
 * encoding texts to padded id matrices, a seeded batch iterator with length
 * bucketing, and plain text for character language models (a held-out tail, stream
 * and random-window batches).
 *
 * Everything here works on host memory and touches no context or device; batches come
 * out as i32 arrays ready for kiln_tensor_upload(). Image and IDX data are in
 * kiln/data.h, CSV tables in kiln/table.h.
 */
#ifndef KILN_TEXT_H
#define KILN_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- UTF-8 ---- */

/*
 * Decodes n_bytes of UTF-8 at s into Unicode code points. The decoding is strict: an
 * overlong form, a surrogate (U+D800..U+DFFF), a value above U+10FFFF, a stray or
 * missing continuation byte, a truncated sequence and the bytes 0xC0, 0xC1, 0xF5..0xFF
 * are errors, as is U+0000 (texts are C strings).
 * [in] s: borrowed. [out] cps: caller storage for up to n_bytes code points, or NULL to
 * only validate. [out] n_cps: the number of code points; may be NULL.
 * Returns KILN_OK, KILN_E_FORMAT (naming the byte offset and the fault),
 * KILN_E_INVALID_ARG (s NULL with n_bytes > 0). Thread-safe.
 */
KILN_API kiln_status kiln_utf8_decode(const char *s, size_t n_bytes, int32_t *cps, int64_t *n_cps);

/* ---- Text classification data sets ---- */

/*
 * One split of a text classification data set: n texts and their labels. texts[i] is
 * NUL-terminated valid UTF-8 (no tab, no line break, never empty) pointing into buf.
 */
struct kiln_text_split {
    int64_t n;
    int32_t *labels;  /* [n], in [0, n_classes) of the data set */
    char **texts;     /* [n], views into buf */
    int64_t *n_chars; /* [n], code points of each text */
    int64_t *lines;   /* [n], 1-based line of each text in its file */
    char *buf;        /* owned storage of the texts */
};

/*
 * A text classification data set read from a directory. Labels are the distinct label
 * strings of the training split, numbered in byte-wise sorted (strcmp) order.
 */
struct kiln_text_data {
    int32_t n_classes;
    char **label_names;           /* [n_classes], owned, sorted */
    struct kiln_text_split train; /* train.tsv */
    struct kiln_text_split valid; /* valid.tsv; n = 0 when the file does not exist */
    struct kiln_text_split test;  /* test.tsv */
};

/* Releases everything td owns and zeroes it. NULL or a zeroed struct is a no-op. */
KILN_API void kiln_text_data_fini(struct kiln_text_data *td);

/*
 * Reads dir/train.tsv, dir/test.tsv and, when it exists, dir/valid.tsv. Each file is
 * UTF-8 (a leading byte-order mark is skipped), one example a line: label, a tab, then
 * the text (everything after the first tab). Lines end with LF or CR LF; the last may
 * lack its end. A line without a tab, with an empty label or text, or with invalid
 * UTF-8 (see kiln_utf8_decode) is an error naming the file, line and byte column; an
 * empty file is an error, as is a label of test.tsv or valid.tsv that train.tsv lacks
 * (naming it). Labels are compared byte for byte, without trimming.
 * [in] dir: borrowed. [out] out: filled on success (release with kiln_text_data_fini);
 * zeroed on failure.
 * Returns KILN_OK, KILN_E_IO (a file cannot be opened or read), KILN_E_FORMAT,
 * KILN_E_INVALID_ARG, KILN_E_OUT_OF_HOST_MEMORY. Thread-safe.
 */
KILN_API kiln_status kiln_text_data_load(const char *dir, struct kiln_text_data *out);

/* ---- Character vocabulary ---- */

/*
 * A character vocabulary: id 0 is padding (KILN_VOCAB_PAD), id 1 stands for any
 * unknown character or bigram (KILN_VOCAB_UNK), ids 2 .. n_chars - 1 are characters by
 * descending count in the texts it was built from (ties by ascending code point).
 * With bigrams, ids n_chars .. size - 1 are character bigrams (pairs of adjacent
 * characters inside one text) by descending count, ties by (first, second) code
 * point: one id space, so a model can embed characters and bigrams with one table of
 * size rows. It may carry the label names of a classification task, so that saving it
 * with a model's checkpoint is enough to map predictions back to names. Immutable once
 * built: every function taking a const kiln_vocab * is thread-safe.
 */
typedef struct kiln_vocab kiln_vocab;

enum {
    KILN_VOCAB_PAD = 0,
    KILN_VOCAB_UNK = 1,
};

struct kiln_vocab_options {
    uint32_t struct_size;     /* sizeof(struct kiln_vocab_options) */
    int64_t min_count;        /* characters seen fewer times are unknown; default 1 */
    int64_t max_chars;        /* keep at most this many characters; 0 (default): all */
    int32_t bigrams;          /* 1: add character bigrams; default 0 */
    int64_t bigram_min_count; /* bigrams seen fewer times are unknown; default 2 */
    int64_t max_bigrams;      /* keep at most this many bigrams; 0 (default): all */
};

#define KILN_VOCAB_OPTIONS_INIT                                                                    \
    {                                                                                              \
        sizeof(struct kiln_vocab_options), 1, 0, 0, 2, 0                                           \
    }

/*
 * Builds a vocabulary from n_texts UTF-8 texts (usually a training split).
 * [in] texts: borrowed, [n_texts]. [in] n_bytes: [n_texts] byte lengths, or NULL when
 * the texts are NUL-terminated. [in] o: borrowed; NULL: defaults. [out] out: owned by
 * the caller (kiln_vocab_destroy).
 * Returns KILN_OK, KILN_E_FORMAT (invalid UTF-8, naming the text and byte offset),
 * KILN_E_INVALID_ARG, KILN_E_OUT_OF_HOST_MEMORY (also when the ids would pass
 * INT32_MAX). Thread-safe.
 */
KILN_API kiln_status kiln_vocab_build(const char *const *texts, const size_t *n_bytes,
                                      int64_t n_texts, const struct kiln_vocab_options *o,
                                      kiln_vocab **out);

/* Destroys v. NULL is a no-op. */
KILN_API void kiln_vocab_destroy(kiln_vocab *v);

/* Makes an independent copy of v (with its labels) in *out. Returns KILN_OK,
 * KILN_E_INVALID_ARG, KILN_E_OUT_OF_HOST_MEMORY. */
KILN_API kiln_status kiln_vocab_clone(const kiln_vocab *v, kiln_vocab **out);

/* The number of ids (rows of an embedding table), the first bigram id (= 2 + the
 * number of characters), and the number of bigrams. */
KILN_API int32_t kiln_vocab_size(const kiln_vocab *v);
KILN_API int32_t kiln_vocab_n_chars(const kiln_vocab *v);
KILN_API int32_t kiln_vocab_n_bigrams(const kiln_vocab *v);

/* The id of code point cp (KILN_VOCAB_UNK when absent), and of the bigram (a, b). */
KILN_API int32_t kiln_vocab_char_id(const kiln_vocab *v, int32_t cp);
KILN_API int32_t kiln_vocab_bigram_id(const kiln_vocab *v, int32_t a, int32_t b);

/* The code point of character id id, or -1 for the padding, unknown and bigram ids and
 * ids out of range. */
KILN_API int32_t kiln_vocab_char(const kiln_vocab *v, int32_t id);

/*
 * Encodes a UTF-8 text to t ids: the first min(len, t) characters' ids, then padding
 * (0). *len receives the number of ids that are characters (min(len, t)), for masks.
 * kiln_vocab_encode_bigrams writes, at position i, the id of the bigram of characters i
 * and i + 1 (KILN_VOCAB_UNK for an unknown pair; every id is UNK when v has no bigrams)
 * for i < min(len, t) - 1, then padding; *len receives that count.
 * [in] text: borrowed, n_bytes long (need not be NUL-terminated). [out] ids: caller
 * storage of t entries. [out] len: may be NULL.
 * Returns KILN_OK, KILN_E_FORMAT (invalid UTF-8, naming the byte offset),
 * KILN_E_INVALID_ARG (t < 1, NULL pointers). Thread-safe.
 */
KILN_API kiln_status kiln_vocab_encode(const kiln_vocab *v, const char *text, size_t n_bytes,
                                       int32_t *ids, int64_t t, int64_t *len);
KILN_API kiln_status kiln_vocab_encode_bigrams(const kiln_vocab *v, const char *text,
                                               size_t n_bytes, int32_t *ids, int64_t t,
                                               int64_t *len);

/*
 * Stores a copy of n label names in v, replacing any it had (n = 0 removes them), for a
 * classifier's outputs 0 .. n - 1. Not thread-safe against readers of the same v.
 * Returns KILN_OK, KILN_E_INVALID_ARG (NULL or non-UTF-8 name), KILN_E_OUT_OF_HOST_MEMORY.
 */
KILN_API kiln_status kiln_vocab_set_labels(kiln_vocab *v, const char *const *names, int32_t n);

/* The number of label names, and name i (a view valid while v lives and its labels are
 * not replaced; NULL when i is out of range). */
KILN_API int32_t kiln_vocab_n_labels(const kiln_vocab *v);
KILN_API const char *kiln_vocab_label(const kiln_vocab *v, int32_t i);

/*
 * Writes v (characters, bigrams, labels) as a JSON object, for a checkpoint's
 * metadata: {"format": "kiln-vocab", "version": 1, "chars": [code points in id
 * order, from id 2], "bigrams": [[a, b], ...] in id order, "labels": [names]}.
 * [out] buf: caller storage of cap bytes, or NULL with cap 0 to ask for the size.
 * [out] n_bytes: the JSON's length without the NUL. The text and a NUL are written only
 * when cap > *n_bytes. Returns KILN_OK, KILN_E_INVALID_ARG, KILN_E_OUT_OF_HOST_MEMORY.
 */
KILN_API kiln_status kiln_vocab_save(const kiln_vocab *v, char *buf, size_t cap, size_t *n_bytes);

/*
 * Reads a vocabulary written by kiln_vocab_save. [in] json: borrowed, NUL-terminated.
 * [out] out: owned by the caller. Returns KILN_OK, KILN_E_FORMAT (not JSON, wrong format
 * or version, a code point that is not a Unicode scalar value, a duplicate character or
 * bigram, a bigram of unknown characters; naming the entry), KILN_E_INVALID_ARG,
 * KILN_E_OUT_OF_HOST_MEMORY. Thread-safe.
 */
KILN_API kiln_status kiln_vocab_load(const char *json, kiln_vocab **out);

/* ---- Batches of texts ---- */

typedef struct kiln_text_iter kiln_text_iter;

struct kiln_text_iter_options {
    uint32_t struct_size;  /* sizeof(struct kiln_text_iter_options) */
    int64_t batch_size;    /* > 0; default 32 */
    int64_t max_len;       /* T: a longer text keeps its first T characters; default 128 */
    uint32_t flags;        /* KILN_BATCH_SHUFFLE, KILN_BATCH_DROP_LAST; default shuffle */
    uint64_t seed;         /* keys the shuffles: epoch e uses (seed, e) */
    int64_t bucket_window; /* > 0: after the shuffle, sort each window of this many
                              texts (rounded up to a multiple of batch_size) by length,
                              cut batches, and visit the batches in a shuffled order;
                              0 (default): no bucketing */
    int64_t len_multiple;  /* > 0: a batch's T is its longest kept text rounded up to a
                              multiple of this, at most max_len (few distinct shapes for
                              a graph cache); 0 (default): T = max_len always */
    int32_t bigrams;       /* 1: also fill bigram_ids; default 0 */
};

#define KILN_TEXT_ITER_OPTIONS_INIT                                                                \
    {                                                                                              \
        sizeof(struct kiln_text_iter_options), 32, 128, KILN_BATCH_SHUFFLE, 0, 0, 0, 0             \
    }

/* One batch, as views owned by the iterator (valid until its next next, reset or
 * destroy). Rows past n are padding: ids 0, length 0, label -1, index -1. */
struct kiln_text_batch {
    int64_t n;                 /* real examples; 0 when the epoch is over */
    int64_t batch;             /* rows (the batch size) */
    int64_t t;                 /* columns of ids */
    const int32_t *ids;        /* [batch, t] character ids, row-major */
    const int32_t *bigram_ids; /* [batch, t] as kiln_vocab_encode_bigrams, or NULL */
    const int32_t *lengths;    /* [batch] characters kept per row (<= t) */
    const int32_t *labels;     /* [batch] */
    const int64_t *index;      /* [batch] example index in the split */
};

/*
 * Creates an iterator over a split's texts, encoded with v once at creation (each text
 * cut to max_len). With KILN_BATCH_DROP_LAST an epoch has floor(n / batch_size)
 * batches, else every example is visited once. The batches are a pure function of
 * (split, v, options, epoch).
 * [in] split, v: retained (borrowed until destroy; must not change). [in] o: borrowed;
 * NULL: defaults. [out] out: owned by the caller (kiln_text_iter_destroy).
 * Returns KILN_OK, KILN_E_INVALID_ARG, KILN_E_FORMAT, KILN_E_OUT_OF_HOST_MEMORY.
 * An iterator is used by one thread at a time.
 */
KILN_API kiln_status kiln_text_iter_create(const struct kiln_text_split *split, const kiln_vocab *v,
                                           const struct kiln_text_iter_options *o,
                                           kiln_text_iter **out);

/* Destroys it. NULL is a no-op. */
KILN_API void kiln_text_iter_destroy(kiln_text_iter *it);

/* Number of batches in one epoch. */
KILN_API int64_t kiln_text_iter_n_batches(const kiln_text_iter *it);

/* Starts epoch epoch (0-based). The iterator starts at epoch 0. */
KILN_API void kiln_text_iter_reset(kiln_text_iter *it, int64_t epoch);

/* Fills *b with the next batch (b->n == 0 at the end of the epoch).
 * Returns KILN_OK or KILN_E_INVALID_ARG. */
KILN_API kiln_status kiln_text_iter_next(kiln_text_iter *it, struct kiln_text_batch *b);

/* ---- Plain text for character language models ---- */

/* A text as character ids: ids[0 .. n_train) is the training part, the rest held out. */
struct kiln_lm_text {
    int64_t n;         /* characters */
    int64_t n_train;   /* characters in the training part */
    int32_t *ids;      /* [n], owned */
    kiln_vocab *vocab; /* owned */
};

struct kiln_lm_options {
    uint32_t struct_size;                   /* sizeof(struct kiln_lm_options) */
    double held_out;                        /* fraction held out at the end; default 0.1 */
    int64_t limit;                          /* read only the first limit characters; 0: all */
    const struct kiln_vocab_options *vocab; /* borrowed; NULL: defaults */
    const kiln_vocab *use_vocab;            /* borrowed: copy this vocabulary instead of
                                               building one; NULL (default): build */
};

#define KILN_LM_OPTIONS_INIT                                                                       \
    {                                                                                              \
        sizeof(struct kiln_lm_options), 0.1, 0, NULL, NULL                                         \
    }

/* Releases lm's ids and vocabulary and zeroes it. NULL is a no-op. */
KILN_API void kiln_lm_text_fini(struct kiln_lm_text *lm);

/*
 * Reads a UTF-8 text file (validated as kiln_utf8_decode; a leading byte-order mark is
 * skipped; line breaks are characters like any other) and maps it to ids. The last
 * held_out of its characters are held out: n_train = (int64_t)((1 - held_out) * n).
 * The vocabulary is built from the training part only, so a held-out character it
 * lacks becomes KILN_VOCAB_UNK.
 * [in] path: borrowed. [in] o: borrowed; NULL: defaults. [out] out: filled on success
 * (kiln_lm_text_fini); zeroed on failure.
 * Returns KILN_OK, KILN_E_IO, KILN_E_FORMAT (invalid UTF-8 naming the line and byte
 * column; an empty file), KILN_E_INVALID_ARG (held_out outside [0, 1), a part left
 * empty), KILN_E_OUT_OF_HOST_MEMORY. Thread-safe.
 */
KILN_API kiln_status kiln_lm_text_load(const char *path, const struct kiln_lm_options *o,
                                       struct kiln_lm_text *out);

/*
 * Contiguous streams for truncated backpropagation through time (as char-rnn): the n
 * ids are cut into batch streams of L = (n - 1) / batch ids each (the rest unused),
 * stream b starting at b L, and chunk k (0 <= k < kiln_lm_stream_n_chunks) is, for each
 * stream, the t + 1 ids from b L + k t: inputs are the first t, targets the last t, and
 * chunk k + 1 continues where chunk k stopped, so a recurrent state carries over.
 * [in] ids: borrowed, [n]. [out] out: caller storage [batch, t + 1].
 * Returns KILN_OK or KILN_E_INVALID_ARG (k out of range, bad sizes). Thread-safe.
 */
KILN_API int64_t kiln_lm_stream_n_chunks(int64_t n, int64_t batch, int64_t t);
KILN_API kiln_status kiln_lm_stream_chunk(const int32_t *ids, int64_t n, int64_t batch, int64_t t,
                                          int64_t k, int32_t *out);

/*
 * Random windows: row r of out is the t + 1 ids from an offset drawn uniformly in
 * [0, n - t - 1] as a pure function of (seed, step, r).
 * [in] ids: borrowed, [n], n > t. [out] out: caller storage [batch, t + 1].
 * Returns KILN_OK or KILN_E_INVALID_ARG. Thread-safe.
 */
KILN_API kiln_status kiln_lm_random_windows(const int32_t *ids, int64_t n, int64_t batch, int64_t t,
                                            uint64_t seed, int64_t step, int32_t *out);

#ifdef __cplusplus
}
#endif

#endif /* KILN_TEXT_H */
