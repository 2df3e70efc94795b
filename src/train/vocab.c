/*
 * vocab.c - the character vocabulary of kiln/text.h: building it from texts (counting
 * characters and, optionally, adjacent character pairs by sorting), looking ids up by
 * binary search, encoding texts to padded id rows, carrying label names, and saving
 * and loading it as JSON (cJSON) for a checkpoint's metadata. A vocabulary never
 * changes after it is built, except for its label names.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../checked.h"
#include "../status_impl.h"
#include "kiln/text.h"
#include "text_impl.h"

#define FIRST_CHAR_ID  2                  /* after KILN_VOCAB_PAD and KILN_VOCAB_UNK */
#define MAX_TEXT_BYTES (INT64_C(1) << 40) /* what kiln_vocab_build reads in all */

/* A character or a bigram (a << 21 | b) with its id or its count. */
struct entry {
    int64_t key;
    int64_t val;
};

struct kiln_vocab {
    /* ---- owned ---- */
    int32_t n_chars;     /* FIRST_CHAR_ID + number of characters */
    int32_t n_bigrams;   /* number of bigrams; their ids start at n_chars */
    int64_t *keys;       /* [n_chars - 2 + n_bigrams]: the key of each id from 2 on */
    struct entry *chars; /* [n_chars - 2] (code point, id), sorted by code point */
    struct entry *pairs; /* [n_bigrams] (key, id), sorted by key */
    int32_t n_labels;
    char **labels; /* [n_labels] */
};

static int64_t pair_key(int32_t a, int32_t b)
{
    return (int64_t)a << 21 | b;
}

static int cmp_key(const void *a, const void *b)
{
    int64_t x = ((const struct entry *)a)->key, y = ((const struct entry *)b)->key;
    return (x > y) - (x < y);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Descending count, then ascending key. */
static int cmp_count(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->val != y->val) {
        return x->val < y->val ? 1 : -1;
    }
    return (x->key > y->key) - (x->key < y->key);
}

static int64_t find(const struct entry *e, int64_t n, int64_t key)
{
    struct entry k = {key, 0};
    const struct entry *hit = n > 0 ? bsearch(&k, e, (size_t)n, sizeof(*e), cmp_key) : NULL;
    return hit != NULL ? hit->val : KILN_VOCAB_UNK;
}

int32_t kiln_vocab_char_id(const kiln_vocab *v, int32_t cp)
{
    return (int32_t)find(v->chars, v->n_chars - FIRST_CHAR_ID, cp);
}

int32_t kiln_vocab_bigram_id(const kiln_vocab *v, int32_t a, int32_t b)
{
    if (a < 0 || b < 0 || a > 0x10FFFF || b > 0x10FFFF) {
        return KILN_VOCAB_UNK;
    }
    return (int32_t)find(v->pairs, v->n_bigrams, pair_key(a, b));
}

int32_t kiln_vocab_char(const kiln_vocab *v, int32_t id)
{
    return id >= FIRST_CHAR_ID && id < v->n_chars ? (int32_t)v->keys[id - FIRST_CHAR_ID] : -1;
}

int32_t kiln_vocab_size(const kiln_vocab *v)
{
    return v->n_chars + v->n_bigrams;
}

int32_t kiln_vocab_n_chars(const kiln_vocab *v)
{
    return v->n_chars;
}

int32_t kiln_vocab_n_bigrams(const kiln_vocab *v)
{
    return v->n_bigrams;
}

static void free_labels(kiln_vocab *v)
{
    for (int32_t i = 0; i < v->n_labels; i++) {
        free(v->labels[i]);
    }
    free(v->labels);
    v->labels = NULL;
    v->n_labels = 0;
}

void kiln_vocab_destroy(kiln_vocab *v)
{
    if (v == NULL) {
        return;
    }
    free_labels(v);
    free(v->keys);
    free(v->chars);
    free(v->pairs);
    free(v);
}

/*
 * Makes a vocabulary from n_c character and n_b bigram keys in id order, building the
 * sorted lookup tables. Checks for duplicates (a caller's file may hold them) and, for
 * each bigram, that both characters are in the vocabulary.
 */
static kiln_status vocab_from_keys(const int64_t *keys, int64_t n_c, int64_t n_b, kiln_vocab **out)
{
    *out = NULL;
    if (n_c + n_b + FIRST_CHAR_ID > INT32_MAX) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "vocabulary of %lld entries passes INT32_MAX",
                         (long long)(n_c + n_b));
    }
    kiln_vocab *v = calloc(1, sizeof(*v));
    size_t n = (size_t)(n_c + n_b);
    if (v == NULL || (v->keys = kiln__array_alloc(n_c + n_b + 1, sizeof(int64_t))) == NULL ||
        (v->chars = kiln__array_alloc(n_c + 1, sizeof(struct entry))) == NULL ||
        (v->pairs = kiln__array_alloc(n_b + 1, sizeof(struct entry))) == NULL) {
        kiln_vocab_destroy(v);
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for a vocabulary");
    }
    memcpy(v->keys, keys, n * sizeof(int64_t));
    v->n_chars = (int32_t)(FIRST_CHAR_ID + n_c);
    v->n_bigrams = (int32_t)n_b;
    for (int64_t i = 0; i < n_c + n_b; i++) {
        struct entry *e = i < n_c ? &v->chars[i] : &v->pairs[i - n_c];
        e->key = keys[i];
        e->val = FIRST_CHAR_ID + i;
    }
    qsort(v->chars, (size_t)n_c, sizeof(struct entry), cmp_key);
    qsort(v->pairs, (size_t)n_b, sizeof(struct entry), cmp_key);
    kiln_status s = KILN_OK;
    for (int64_t i = 1; s == KILN_OK && i < n_c; i++) {
        if (v->chars[i].key == v->chars[i - 1].key) {
            s = KILN_FAIL(KILN_E_FORMAT, "vocabulary: character U+%04llX occurs twice",
                          (long long)v->chars[i].key);
        }
    }
    for (int64_t i = 0; s == KILN_OK && i < n_b; i++) {
        int32_t a = (int32_t)(v->pairs[i].key >> 21), b = (int32_t)(v->pairs[i].key & 0x1FFFFF);
        if (i > 0 && v->pairs[i].key == v->pairs[i - 1].key) {
            s = KILN_FAIL(KILN_E_FORMAT, "vocabulary: bigram (U+%04X, U+%04X) occurs twice", a, b);
        } else if (kiln_vocab_char_id(v, a) == KILN_VOCAB_UNK ||
                   kiln_vocab_char_id(v, b) == KILN_VOCAB_UNK) {
            s = KILN_FAIL(KILN_E_FORMAT,
                          "vocabulary: bigram (U+%04X, U+%04X) has a character not in it", a, b);
        }
    }
    if (s != KILN_OK) {
        kiln_vocab_destroy(v);
        return s;
    }
    *out = v;
    return KILN_OK;
}

/* ==== Building ==== */

/* Sorts keys[n], counts equal runs into e (returning how many distinct), keeps those
 * with count >= min_count, orders them by descending count and keeps at most max. */
static int64_t count_keys(int64_t *keys, int64_t n, struct entry *e, int64_t min_count, int64_t max)
{
    qsort(keys, (size_t)n, sizeof(int64_t), cmp_i64);
    int64_t m = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && keys[j] == keys[i]) {
            j++;
        }
        if (j - i >= min_count) {
            e[m].key = keys[i];
            e[m].val = j - i;
            m++;
        }
        i = j;
    }
    qsort(e, (size_t)m, sizeof(*e), cmp_count);
    return max > 0 && m > max ? max : m;
}

/* Decodes every text into cps (caller storage of the total byte count) and records
 * where each text starts in starts[n_texts + 1]. */
static kiln_status decode_all(const char *const *texts, const size_t *n_bytes, int64_t n_texts,
                              int32_t *cps, int64_t *starts)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n_texts; i++) {
        size_t nb = n_bytes != NULL ? n_bytes[i] : strlen(texts[i]);
        int64_t m;
        starts[i] = k;
        if (kiln_utf8_decode(texts[i], nb, cps + k, &m) != KILN_OK) {
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", kiln_last_error());
            return KILN_FAIL(KILN_E_FORMAT, "kiln_vocab_build: text %lld: %s", (long long)i, msg);
        }
        k += m;
    }
    starts[n_texts] = k;
    return KILN_OK;
}

static kiln_status check_options(const struct kiln_vocab_options *o, const char *const *texts,
                                 int64_t n_texts)
{
    if (o->struct_size < sizeof(*o) || o->min_count < 1 || o->max_chars < 0 ||
        o->bigram_min_count < 1 || o->max_bigrams < 0 || n_texts < 0 || n_texts == INT64_MAX ||
        (texts == NULL && n_texts > 0)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_vocab_build: bad options or texts");
    }
    for (int64_t i = 0; i < n_texts; i++) {
        if (texts[i] == NULL) {
            return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_vocab_build: text %lld is NULL",
                             (long long)i);
        }
    }
    return KILN_OK;
}

/* Collects the keys of the bigrams of known characters inside each text. */
static int64_t bigram_keys(const kiln_vocab *chars, const int32_t *cps, const int64_t *starts,
                           int64_t n_texts, int64_t *keys)
{
    int64_t m = 0;
    for (int64_t t = 0; t < n_texts; t++) {
        for (int64_t i = starts[t]; i + 1 < starts[t + 1]; i++) {
            if (kiln_vocab_char_id(chars, cps[i]) != KILN_VOCAB_UNK &&
                kiln_vocab_char_id(chars, cps[i + 1]) != KILN_VOCAB_UNK) {
                keys[m++] = pair_key(cps[i], cps[i + 1]);
            }
        }
    }
    return m;
}

kiln_status kiln_vocab_build(const char *const *texts, const size_t *n_bytes, int64_t n_texts,
                             const struct kiln_vocab_options *o, kiln_vocab **out)
{
    struct kiln_vocab_options def = KILN_VOCAB_OPTIONS_INIT;
    o = o != NULL ? o : &def;
    if (out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_vocab_build: NULL out");
    }
    *out = NULL;
    KILN_TRY(check_options(o, texts, n_texts));
    /* At most 2^40 bytes of text, so that the counts below fit in int64_t with room
     * (the arrays' byte sizes are checked again as they are allocated). */
    int64_t total = 0;
    for (int64_t i = 0; i < n_texts; i++) {
        size_t nb = n_bytes != NULL ? n_bytes[i] : strlen(texts[i]);
        if (nb > (uint64_t)(MAX_TEXT_BYTES - total)) {
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY,
                             "kiln_vocab_build: the texts hold more than 2^40 bytes");
        }
        total += (int64_t)nb;
    }
    kiln_status s;
    kiln_vocab *chars = NULL;
    int32_t *cps = kiln__array_alloc(total + 1, sizeof(int32_t));
    int64_t *starts = kiln__array_alloc(n_texts + 1, sizeof(int64_t));
    /* Room for the characters' keys and, after them, every bigram's key. */
    int64_t *keys = kiln__array_alloc(2 * total + 1, sizeof(int64_t));
    struct entry *e = kiln__array_alloc(total + 1, sizeof(struct entry));
    if (cps == NULL || starts == NULL || keys == NULL || e == NULL) {
        s = KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory building a vocabulary");
        goto done;
    }
    s = decode_all(texts, n_bytes, n_texts, cps, starts);
    if (s != KILN_OK) {
        goto done;
    }
    int64_t n_cps = starts[n_texts];
    for (int64_t i = 0; i < n_cps; i++) {
        keys[i] = cps[i];
    }
    int64_t n_c = count_keys(keys, n_cps, e, o->min_count, o->max_chars);
    for (int64_t i = 0; i < n_c; i++) {
        keys[i] = e[i].key;
    }
    s = vocab_from_keys(keys, n_c, 0, &chars);
    if (s != KILN_OK || !o->bigrams) {
        *out = chars;
        goto done;
    }
    /* keys[0 .. n_c) keep the characters; the bigram keys are counted after them. */
    int64_t n_pairs = bigram_keys(chars, cps, starts, n_texts, keys + n_c);
    int64_t n_b = count_keys(keys + n_c, n_pairs, e, o->bigram_min_count, o->max_bigrams);
    for (int64_t i = 0; i < n_b; i++) {
        keys[n_c + i] = e[i].key;
    }
    s = vocab_from_keys(keys, n_c, n_b, out);
    kiln_vocab_destroy(chars);
done:
    free(cps);
    free(starts);
    free(keys);
    free(e);
    return s;
}

kiln_status kiln_vocab_clone(const kiln_vocab *v, kiln_vocab **out)
{
    if (v == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_vocab_clone: NULL argument");
    }
    KILN_TRY(vocab_from_keys(v->keys, v->n_chars - FIRST_CHAR_ID, v->n_bigrams, out));
    kiln_status s = kiln_vocab_set_labels(*out, (const char *const *)v->labels, v->n_labels);
    if (s != KILN_OK) {
        kiln_vocab_destroy(*out);
        *out = NULL;
    }
    return s;
}

/* ==== Encoding ==== */

static kiln_status encode(const kiln_vocab *v, const char *text, size_t n_bytes, int32_t *ids,
                          int64_t t, int64_t *len, int bigrams)
{
    if (v == NULL || (text == NULL && n_bytes > 0) || ids == NULL || t < 1) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_vocab_encode: bad argument (t %lld)",
                         (long long)t);
    }
    const unsigned char *u = (const unsigned char *)text;
    size_t pos = 0;
    int64_t n_read = 0, k = 0;
    int32_t prev = 0;
    while (pos < n_bytes && n_read < t) {
        int32_t cp;
        const char *why = kiln__utf8_next(u, n_bytes, &pos, &cp);
        if (why != NULL) {
            return KILN_FAIL(KILN_E_FORMAT,
                             "kiln_vocab_encode: invalid UTF-8 at byte offset %zu (byte 0x%02X): "
                             "%s",
                             pos, u[pos], why);
        }
        if (!bigrams) {
            ids[k++] = kiln_vocab_char_id(v, cp);
        } else if (n_read > 0) {
            ids[k++] = kiln_vocab_bigram_id(v, prev, cp);
        }
        prev = cp;
        n_read++;
    }
    if (len != NULL) {
        *len = k;
    }
    for (int64_t i = k; i < t; i++) {
        ids[i] = KILN_VOCAB_PAD;
    }
    return KILN_OK;
}

kiln_status kiln_vocab_encode(const kiln_vocab *v, const char *text, size_t n_bytes, int32_t *ids,
                              int64_t t, int64_t *len)
{
    return encode(v, text, n_bytes, ids, t, len, 0);
}

kiln_status kiln_vocab_encode_bigrams(const kiln_vocab *v, const char *text, size_t n_bytes,
                                      int32_t *ids, int64_t t, int64_t *len)
{
    return encode(v, text, n_bytes, ids, t, len, 1);
}

/* ==== Labels ==== */

kiln_status kiln_vocab_set_labels(kiln_vocab *v, const char *const *names, int32_t n)
{
    if (v == NULL || n < 0 || (names == NULL && n > 0)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_vocab_set_labels: bad argument");
    }
    for (int32_t i = 0; i < n; i++) {
        if (names[i] == NULL ||
            kiln_utf8_decode(names[i], strlen(names[i]), NULL, NULL) != KILN_OK) {
            return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_vocab_set_labels: label %d is %s", i,
                             names[i] == NULL ? "NULL" : "not valid UTF-8");
        }
    }
    char **copy = calloc((size_t)n + 1, sizeof(char *));
    for (int32_t i = 0; copy != NULL && i < n; i++) {
        copy[i] = strdup(names[i]);
        if (copy[i] == NULL) {
            for (int32_t j = 0; j < i; j++) {
                free(copy[j]);
            }
            free(copy);
            copy = NULL;
        }
    }
    if (copy == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory copying %d labels", n);
    }
    free_labels(v);
    v->labels = copy;
    v->n_labels = n;
    return KILN_OK;
}

int32_t kiln_vocab_n_labels(const kiln_vocab *v)
{
    return v->n_labels;
}

const char *kiln_vocab_label(const kiln_vocab *v, int32_t i)
{
    return i >= 0 && i < v->n_labels ? v->labels[i] : NULL;
}

/* ==== JSON ==== */

#define VOCAB_FORMAT  "kiln-vocab"
#define VOCAB_VERSION 1

static cJSON *to_json(const kiln_vocab *v)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *chars = cJSON_AddArrayToObject(root, "chars");
    cJSON *pairs = cJSON_AddArrayToObject(root, "bigrams");
    cJSON *labels = cJSON_AddArrayToObject(root, "labels");
    int ok = cJSON_AddStringToObject(root, "format", VOCAB_FORMAT) != NULL &&
             cJSON_AddNumberToObject(root, "version", VOCAB_VERSION) != NULL && chars != NULL &&
             pairs != NULL && labels != NULL;
    int32_t n_c = v->n_chars - FIRST_CHAR_ID;
    for (int32_t i = 0; ok && i < n_c + v->n_bigrams; i++) {
        int64_t k = v->keys[i];
        if (i < n_c) {
            ok = cJSON_AddItemToArray(chars, cJSON_CreateNumber((double)k));
        } else {
            int pair[2] = {(int)(k >> 21), (int)(k & 0x1FFFFF)};
            ok = cJSON_AddItemToArray(pairs, cJSON_CreateIntArray(pair, 2));
        }
    }
    for (int32_t i = 0; ok && i < v->n_labels; i++) {
        ok = cJSON_AddItemToArray(labels, cJSON_CreateString(v->labels[i]));
    }
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

kiln_status kiln_vocab_save(const kiln_vocab *v, char *buf, size_t cap, size_t *n_bytes)
{
    if (v == NULL || n_bytes == NULL || (buf == NULL && cap > 0)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_vocab_save: bad argument");
    }
    cJSON *root = to_json(v);
    char *text = root != NULL ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (text == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory writing a vocabulary");
    }
    size_t n = strlen(text);
    *n_bytes = n;
    if (cap > n) {
        memcpy(buf, text, n + 1);
    }
    cJSON_free(text);
    return KILN_OK;
}

/* Reads code point item (a JSON number) of what[i]. */
static kiln_status json_cp(const cJSON *item, const char *what, int i, int32_t *cp)
{
    double d = cJSON_IsNumber(item) ? item->valuedouble : -1.0;
    if (!(d == floor(d)) || !kiln__utf8_valid_cp((int64_t)(d >= 0 && d < 0x7fffffff ? d : -1))) {
        return KILN_FAIL(KILN_E_FORMAT,
                         "vocabulary JSON: %s[%d] is not a Unicode scalar value above U+0000", what,
                         i);
    }
    *cp = (int32_t)d;
    return KILN_OK;
}

/* Collects the character and bigram keys of root into *keys (malloc'd). */
static kiln_status json_keys(const cJSON *root, int64_t **keys, int64_t *n_c, int64_t *n_b)
{
    const cJSON *chars = cJSON_GetObjectItemCaseSensitive(root, "chars");
    const cJSON *pairs = cJSON_GetObjectItemCaseSensitive(root, "bigrams");
    if (!cJSON_IsArray(chars) || (pairs != NULL && !cJSON_IsArray(pairs))) {
        return KILN_FAIL(KILN_E_FORMAT, "vocabulary JSON: \"chars\" (and \"bigrams\") must be "
                                        "arrays");
    }
    *n_c = cJSON_GetArraySize(chars);
    *n_b = pairs != NULL ? cJSON_GetArraySize(pairs) : 0;
    *keys = kiln__array_alloc(*n_c + *n_b + 1, sizeof(int64_t));
    if (*keys == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory reading a vocabulary");
    }
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, chars)
    {
        int32_t cp;
        KILN_TRY(json_cp(it, "chars", i, &cp));
        (*keys)[i++] = cp;
    }
    int j = 0;
    cJSON_ArrayForEach(it, pairs)
    {
        int32_t a, b;
        if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2) {
            return KILN_FAIL(KILN_E_FORMAT, "vocabulary JSON: bigrams[%d] is not a pair", j);
        }
        KILN_TRY(json_cp(cJSON_GetArrayItem(it, 0), "bigrams", j, &a));
        KILN_TRY(json_cp(cJSON_GetArrayItem(it, 1), "bigrams", j, &b));
        (*keys)[i++] = pair_key(a, b);
        j++;
    }
    return KILN_OK;
}

static kiln_status json_labels(const cJSON *root, kiln_vocab *v)
{
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(root, "labels");
    if (labels == NULL) {
        return KILN_OK;
    }
    int n = cJSON_IsArray(labels) ? cJSON_GetArraySize(labels) : -1;
    const char **names = n >= 0 ? calloc((size_t)n + 1, sizeof(char *)) : NULL;
    if (names == NULL) {
        return n < 0 ? KILN_FAIL(KILN_E_FORMAT, "vocabulary JSON: \"labels\" is not an array")
                     : KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for labels");
    }
    kiln_status s = KILN_OK;
    for (int i = 0; s == KILN_OK && i < n; i++) {
        names[i] = cJSON_GetStringValue(cJSON_GetArrayItem(labels, i));
        if (names[i] == NULL) {
            s = KILN_FAIL(KILN_E_FORMAT, "vocabulary JSON: labels[%d] is not a string", i);
        }
    }
    if (s == KILN_OK && kiln_vocab_set_labels(v, names, n) != KILN_OK) {
        s = KILN_FAIL(KILN_E_FORMAT, "vocabulary JSON: %s", kiln_last_error());
    }
    free(names);
    return s;
}

kiln_status kiln_vocab_load(const char *json, kiln_vocab **out)
{
    if (json == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_vocab_load: NULL argument");
    }
    *out = NULL;
    cJSON *root = cJSON_Parse(json);
    if (root == NULL) {
        const char *at = cJSON_GetErrorPtr();
        return KILN_FAIL(KILN_E_FORMAT, "vocabulary JSON: parse error at byte offset %lld",
                         (long long)(at != NULL && at >= json ? at - json : 0));
    }
    kiln_status s = KILN_OK;
    int64_t *keys = NULL, n_c = 0, n_b = 0;
    const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "format"));
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (fmt == NULL || strcmp(fmt, VOCAB_FORMAT) != 0 || !cJSON_IsNumber(ver) ||
        ver->valuedouble != VOCAB_VERSION) {
        s = KILN_FAIL(KILN_E_FORMAT,
                      "vocabulary JSON: expected \"format\": \"%s\" and "
                      "\"version\": %d",
                      VOCAB_FORMAT, VOCAB_VERSION);
    }
    if (s == KILN_OK) {
        s = json_keys(root, &keys, &n_c, &n_b);
    }
    if (s == KILN_OK) {
        s = vocab_from_keys(keys, n_c, n_b, out);
    }
    if (s == KILN_OK && (s = json_labels(root, *out)) != KILN_OK) {
        kiln_vocab_destroy(*out);
        *out = NULL;
    }
    free(keys);
    cJSON_Delete(root);
    return s;
}
