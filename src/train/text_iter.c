/*
 * text_iter.c - mini-batches of encoded texts (kiln_text_iter): a seeded permutation per
 * epoch, optional length bucketing (sort windows of the permutation by length, cut
 * batches, shuffle the batches), and per-batch encoding with the vocabulary into
 * [batch, T] id rows with lengths and labels. Texts are encoded when their batch is
 * made, so the iterator holds only one batch. Language-model batches are in lm_text.c.
 */
#include <stdlib.h>
#include <string.h>

#include "../checked.h"
#include "../rng.h"
#include "../status_impl.h"
#include "kiln/text.h"

/* Stream ids of the generator, apart from dataset.c's (0x5350, 0x45500000 + epoch). */
#define STREAM_TEXT_EPOCH   0x54580000u
#define STREAM_TEXT_BATCHES 0x54420000u

/* An example while bucketing: its kept length, place in the shuffled order, index. */
struct sort_item {
    int64_t key, pos, item;
};

struct kiln_text_iter {
    /* ---- borrowed (never owned) ---- */
    const struct kiln_text_split *split;
    const kiln_vocab *vocab;
    /* ---- owned ---- */
    struct kiln_text_iter_options o;
    int64_t n_batches; /* per epoch */
    int64_t pos;       /* next batch of the epoch */
    int64_t *order;    /* [n] examples in visiting order */
    int64_t *batches;  /* [n_batches] batch b of the epoch is rows batches[b] * batch_size .. */
    struct sort_item *sort; /* [n] scratch for bucketing */
    int32_t *ids, *bigram_ids, *lengths, *labels;
    int64_t *index;
};

/* Fills perm with a uniformly random permutation of 0..n-1 (Fisher-Yates). */
static void permute(int64_t *perm, int64_t n, uint64_t seed, uint64_t stream)
{
    for (int64_t i = 0; i < n; i++) {
        perm[i] = i;
    }
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t r[4];
        kiln__philox(seed, stream, (uint64_t)i, r);
        uint64_t u = (uint64_t)r[0] << 32 | r[1];
        int64_t j = (int64_t)(u % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static int64_t kept_len(const struct kiln_text_iter *it, int64_t item)
{
    int64_t n = it->split->n_chars[item];
    return n < it->o.max_len ? n : it->o.max_len;
}

static kiln_status check_options(const struct kiln_text_split *split, const kiln_vocab *v,
                                 const struct kiln_text_iter_options *o)
{
    if (split == NULL || v == NULL || o->struct_size < sizeof(*o) || o->batch_size < 1 ||
        o->max_len < 1 || o->bucket_window < 0 || o->len_multiple < 0 || split->n < 0 ||
        split->n > INT64_MAX - o->batch_size ||
        (o->flags & ~(uint32_t)(KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST)) ||
        o->batch_size > INT32_MAX || o->max_len > INT32_MAX / o->batch_size) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_text_iter_create: bad split, vocabulary or options (batch %lld, "
                         "max_len %lld)",
                         (long long)o->batch_size, (long long)o->max_len);
    }
    if (split->n > 0 && (split->texts == NULL || split->labels == NULL || split->n_chars == NULL)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_text_iter_create: the split lacks its arrays");
    }
    for (int64_t i = 0; i < split->n; i++) {
        if (split->texts[i] == NULL || split->n_chars[i] < 0) {
            return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_text_iter_create: text %lld is missing",
                             (long long)i);
        }
    }
    return KILN_OK;
}

kiln_status kiln_text_iter_create(const struct kiln_text_split *split, const kiln_vocab *v,
                                  const struct kiln_text_iter_options *o, kiln_text_iter **out)
{
    struct kiln_text_iter_options def = KILN_TEXT_ITER_OPTIONS_INIT;
    o = o != NULL ? o : &def;
    if (out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_text_iter_create: NULL out");
    }
    *out = NULL;
    KILN_TRY(check_options(split, v, o));
    struct kiln_text_iter *it = calloc(1, sizeof(*it));
    if (it == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for a text iterator");
    }
    it->split = split;
    it->vocab = v;
    it->o = *o;
    it->o.struct_size = sizeof(it->o);
    int64_t n = split->n, b = o->batch_size;
    if (o->bucket_window > 0) {
        /* Whole batches per window, so only the epoch's last batch can be partial. */
        int64_t w = o->bucket_window < n ? o->bucket_window : n;
        it->o.bucket_window = (w + b - 1) / b * b;
    }
    it->n_batches = (o->flags & KILN_BATCH_DROP_LAST) ? n / b : (n + b - 1) / b;
    /* check_options bounds b * max_len by INT32_MAX */
    int64_t cells = b * o->max_len;
    it->order = kiln__array_alloc(n, sizeof(int64_t));
    it->batches = kiln__array_alloc(it->n_batches + 1, sizeof(int64_t));
    it->sort = kiln__array_alloc(n, sizeof(*it->sort));
    it->ids = kiln__array_alloc(cells, sizeof(int32_t));
    it->bigram_ids = o->bigrams ? kiln__array_alloc(cells, sizeof(int32_t)) : NULL;
    it->lengths = kiln__array_alloc(b, sizeof(int32_t));
    it->labels = kiln__array_alloc(b, sizeof(int32_t));
    it->index = kiln__array_alloc(b, sizeof(int64_t));
    if (it->order == NULL || it->batches == NULL || it->sort == NULL || it->ids == NULL ||
        (o->bigrams && it->bigram_ids == NULL) || it->lengths == NULL || it->labels == NULL ||
        it->index == NULL) {
        kiln_text_iter_destroy(it);
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for a text iterator");
    }
    kiln_text_iter_reset(it, 0);
    *out = it;
    return KILN_OK;
}

void kiln_text_iter_destroy(kiln_text_iter *it)
{
    if (it == NULL) {
        return;
    }
    free(it->order);
    free(it->batches);
    free(it->sort);
    free(it->ids);
    free(it->bigram_ids);
    free(it->lengths);
    free(it->labels);
    free(it->index);
    free(it);
}

int64_t kiln_text_iter_n_batches(const kiln_text_iter *it)
{
    return it->n_batches;
}

static int cmp_sort(const void *a, const void *b)
{
    const struct sort_item *x = a, *y = b;
    if (x->key != y->key) {
        return x->key < y->key ? -1 : 1;
    }
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Sorts each window of it->order by kept length (ties keep the shuffled order). */
static void bucket(struct kiln_text_iter *it)
{
    int64_t n = it->split->n, w = it->o.bucket_window;
    for (int64_t i = 0; i < n; i++) {
        it->sort[i].key = kept_len(it, it->order[i]);
        it->sort[i].pos = i;
        it->sort[i].item = it->order[i];
    }
    for (int64_t s = 0; s < n; s += w) {
        int64_t m = n - s < w ? n - s : w;
        qsort(it->sort + s, (size_t)m, sizeof(*it->sort), cmp_sort);
    }
    for (int64_t i = 0; i < n; i++) {
        it->order[i] = it->sort[i].item;
    }
}

void kiln_text_iter_reset(kiln_text_iter *it, int64_t epoch)
{
    int64_t n = it->split->n;
    int shuffle = (it->o.flags & KILN_BATCH_SHUFFLE) != 0;
    it->pos = 0;
    if (shuffle) {
        permute(it->order, n, it->o.seed, STREAM_TEXT_EPOCH + (uint64_t)epoch);
    } else {
        for (int64_t i = 0; i < n; i++) {
            it->order[i] = i;
        }
    }
    if (it->o.bucket_window > 0) {
        bucket(it);
    }
    if (it->o.bucket_window > 0 && shuffle) {
        permute(it->batches, it->n_batches, it->o.seed, STREAM_TEXT_BATCHES + (uint64_t)epoch);
    } else {
        for (int64_t i = 0; i < it->n_batches; i++) {
            it->batches[i] = i;
        }
    }
}

/* The batch's T: max_len, or its longest kept text rounded up to len_multiple. */
static int64_t batch_t(const struct kiln_text_iter *it, const int64_t *items, int64_t m)
{
    if (it->o.len_multiple <= 0) {
        return it->o.max_len;
    }
    int64_t longest = 1, q = it->o.len_multiple;
    for (int64_t i = 0; i < m; i++) {
        int64_t l = kept_len(it, items[i]);
        longest = l > longest ? l : longest;
    }
    int64_t t = (longest + q - 1) / q * q;
    return t < it->o.max_len ? t : it->o.max_len;
}

kiln_status kiln_text_iter_next(kiln_text_iter *it, struct kiln_text_batch *b)
{
    if (it == NULL || b == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_text_iter_next: NULL argument");
    }
    const struct kiln_text_split *sp = it->split;
    int64_t bs = it->o.batch_size;
    memset(b, 0, sizeof(*b));
    b->batch = bs;
    if (it->pos >= it->n_batches) {
        return KILN_OK;
    }
    int64_t first = it->batches[it->pos] * bs;
    int64_t m = sp->n - first < bs ? sp->n - first : bs;
    const int64_t *items = it->order + first;
    int64_t t = batch_t(it, items, m);
    for (int64_t r = 0; r < bs; r++) {
        int32_t *row = it->ids + r * t, *brow = it->bigram_ids ? it->bigram_ids + r * t : NULL;
        int64_t len = 0;
        if (r >= m) {
            memset(row, 0, (size_t)t * sizeof(int32_t));
            if (brow != NULL) {
                memset(brow, 0, (size_t)t * sizeof(int32_t));
            }
            it->labels[r] = -1;
            it->index[r] = -1;
            it->lengths[r] = 0;
            continue;
        }
        const char *text = sp->texts[items[r]];
        size_t nb = strlen(text);
        KILN_TRY(kiln_vocab_encode(it->vocab, text, nb, row, t, &len));
        if (brow != NULL) {
            KILN_TRY(kiln_vocab_encode_bigrams(it->vocab, text, nb, brow, t, NULL));
        }
        it->lengths[r] = (int32_t)len;
        it->labels[r] = sp->labels[items[r]];
        it->index[r] = items[r];
    }
    it->pos++;
    b->n = m;
    b->t = t;
    b->ids = it->ids;
    b->bigram_ids = it->bigram_ids;
    b->lengths = it->lengths;
    b->labels = it->labels;
    b->index = it->index;
    return KILN_OK;
}
