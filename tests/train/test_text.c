/*
 * test_text.c - kiln/text.h on small inline data: strict UTF-8 (every class of invalid
 * sequence), reading a label<TAB>text directory (label order, CR LF, byte-order mark,
 * valid.tsv) and each of its errors with file, line and byte column, the character
 * vocabulary (order, min count, max size, bigrams, encoding, labels, JSON round trip
 * and malformed JSON), the batch iterator (coverage, padding, determinism, bucketing),
 * and language-model text (held-out split, vocabulary from the training part, stream
 * chunks and random windows).
 */
#include <stdint.h>

#include "train_util.h"

/* ==== UTF-8 ==== */

START_TEST(test_utf8_valid)
{
    int32_t cps[16];
    int64_t n;
    /* "aé中😀": 1-, 2-, 3- and 4-byte sequences. */
    const char *s = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80";
    EXPECT_OK(kiln_utf8_decode(s, strlen(s), cps, &n));
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(cps[0], 'a');
    ck_assert_int_eq(cps[1], 0xE9);
    ck_assert_int_eq(cps[2], 0x4E2D);
    ck_assert_int_eq(cps[3], 0x1F600);
    /* The extremes that are allowed. */
    EXPECT_OK(kiln_utf8_decode("\xEF\xBF\xBF\xF4\x8F\xBF\xBF\xED\x9F\xBF", 10, cps, &n));
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(cps[0], 0xFFFF);
    ck_assert_int_eq(cps[1], 0x10FFFF);
    ck_assert_int_eq(cps[2], 0xD7FF);
    EXPECT_OK(kiln_utf8_decode("", 0, NULL, &n));
    ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_utf8_invalid)
{
    static const struct {
        const char *bytes;
        const char *why;
    } bad[] = {
        {"ab\xC0\x80", "byte offset 2 (byte 0xC0): overlong"},
        {"\xC1\xBF", "overlong"},
        {"x\xE0\x80\x80", "byte offset 1 (byte 0xE0): overlong"},
        {"\xF0\x80\x80\x80", "overlong"},
        {"\xED\xA0\x80", "surrogate"},
        {"\xED\xBF\xBF", "surrogate"},
        {"\xF4\x90\x80\x80", "above U+10FFFF"},
        {"\xF5\x80\x80\x80", "above U+10FFFF"},
        {"\xF8\x88\x80\x80\x80", "invalid byte"},
        {"a\x80", "byte offset 1 (byte 0x80): unexpected continuation"},
        {"\xE4\xB8", "truncated"},
        {"\xE4\x41\x41", "missing continuation"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT_FAIL(kiln_utf8_decode(bad[i].bytes, strlen(bad[i].bytes), NULL, NULL), KILN_E_FORMAT,
                    bad[i].why);
    }
    EXPECT_FAIL(kiln_utf8_decode("a\0b", 3, NULL, NULL), KILN_E_FORMAT, "NUL");
    EXPECT_FAIL(kiln_utf8_decode(NULL, 3, NULL, NULL), KILN_E_INVALID_ARG, "NULL");
}
END_TEST

/* ==== Text classification directories ==== */

START_TEST(test_tsv_read)
{
    char p[512];
    /* A byte-order mark, CR LF, CJK, a tab inside the text, no final line end. */
    tu_write("train.tsv",
             "\xEF\xBB\xBFpos\tgood day\r\nneg\tbad\xE4\xB8\xAD\r\n"
             "b\xC3\xA9\ta\tb\nneg\tworse",
             -1, p, sizeof(p));
    tu_write("test.tsv", "neg\tmeh\npos\tfine\n", -1, p, sizeof(p));
    struct kiln_text_data td;
    EXPECT_OK(kiln_text_data_load(tu_dir, &td));
    /* Byte-wise order: "bé" (0x62 0xC3) < "neg" < "pos". */
    ck_assert_int_eq(td.n_classes, 3);
    ck_assert_str_eq(td.label_names[0], "b\xC3\xA9");
    ck_assert_str_eq(td.label_names[1], "neg");
    ck_assert_str_eq(td.label_names[2], "pos");
    ck_assert_int_eq(td.train.n, 4);
    ck_assert_int_eq(td.train.labels[0], 2);
    ck_assert_str_eq(td.train.texts[0], "good day");
    ck_assert_int_eq(td.train.labels[1], 1);
    ck_assert_str_eq(td.train.texts[1], "bad\xE4\xB8\xAD");
    ck_assert_int_eq(td.train.n_chars[1], 4);
    ck_assert_int_eq(td.train.labels[2], 0);
    ck_assert_str_eq(td.train.texts[2], "a\tb");
    ck_assert_str_eq(td.train.texts[3], "worse");
    ck_assert_int_eq(td.train.lines[3], 4);
    ck_assert_int_eq(td.test.n, 2);
    ck_assert_int_eq(td.test.labels[0], 1);
    ck_assert_int_eq(td.test.labels[1], 2);
    ck_assert_int_eq(td.valid.n, 0);
    kiln_text_data_fini(&td);
    ck_assert_ptr_null(td.label_names);
    kiln_text_data_fini(&td);

    tu_write("valid.tsv", "pos\tok\n", -1, p, sizeof(p));
    EXPECT_OK(kiln_text_data_load(tu_dir, &td));
    ck_assert_int_eq(td.valid.n, 1);
    ck_assert_int_eq(td.valid.labels[0], 2);
    kiln_text_data_fini(&td);
}
END_TEST

/* Writes train.tsv (and a good test.tsv) and expects loading to fail naming what. */
static void expect_tsv_fail(const char *train, kiln_status st, const char *what)
{
    char p[512];
    tu_write("train.tsv", train, -1, p, sizeof(p));
    tu_write("test.tsv", "a\tx\n", -1, NULL, 0);
    struct kiln_text_data td;
    EXPECT_FAIL(kiln_text_data_load(tu_dir, &td), st, what);
    ck_assert_msg(strstr(kiln_last_error(), "train.tsv") != NULL, "%s", kiln_last_error());
    ck_assert_ptr_null(td.label_names);
    ck_assert_int_eq(td.train.n, 0);
}

START_TEST(test_tsv_errors)
{
    expect_tsv_fail("a\tx\nno tab here\n", KILN_E_FORMAT, "line 2: no tab");
    expect_tsv_fail("a\tx\n\na\ty\n", KILN_E_FORMAT,
                    "line 2: no tab (expected label<TAB>text); "
                    "the line is empty");
    expect_tsv_fail("a\tx\na\t\n", KILN_E_FORMAT, "line 2, byte column 3: empty text");
    expect_tsv_fail("a\tx\n\tx\n", KILN_E_FORMAT, "line 2, byte column 1: empty label");
    expect_tsv_fail("a\tx\na\tok\xC0\xAF\n", KILN_E_FORMAT,
                    "line 2, byte column 5: invalid UTF-8 (byte 0xC0): overlong");
    expect_tsv_fail("a\tx\na\t\xED\xA0\x80\n", KILN_E_FORMAT, "line 2, byte column 3");
    expect_tsv_fail("a\tx\na\t\xF4\x90\x80\x80\n", KILN_E_FORMAT, "above U+10FFFF");
    expect_tsv_fail("a\t1\r2\n", KILN_E_FORMAT, "line 1, byte column 4: carriage return");
    expect_tsv_fail("", KILN_E_FORMAT, "the file is empty");
    expect_tsv_fail("\xEF\xBB\xBF", KILN_E_FORMAT, "the file is empty");

    char p[512];
    struct kiln_text_data td;
    tu_write("train.tsv", "a\tx\nb\ty\n", -1, p, sizeof(p));
    tu_write("test.tsv", "a\tx\nzz\ty\n", -1, p, sizeof(p));
    EXPECT_FAIL(kiln_text_data_load(tu_dir, &td), KILN_E_FORMAT,
                "test.tsv': line 2: label 'zz' does not occur in the training split");
    tu_write("test.tsv", "", -1, p, sizeof(p));
    EXPECT_FAIL(kiln_text_data_load(tu_dir, &td), KILN_E_FORMAT, "test.tsv': the file is empty");
    unlink(p);
    EXPECT_FAIL(kiln_text_data_load(tu_dir, &td), KILN_E_IO, "test.tsv");
    EXPECT_FAIL(kiln_text_data_load(NULL, &td), KILN_E_INVALID_ARG, "NULL");
    /* A FIFO without a writer would block the reader; it is refused before any read. */
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    EXPECT_FAIL(kiln_text_data_load(tu_dir, &td), KILN_E_IO, "test.tsv': is a FIFO");
    struct kiln_lm_text lm;
    EXPECT_FAIL(kiln_lm_text_load(p, NULL, &lm), KILN_E_IO, "is a FIFO, not a regular file");
    EXPECT_FAIL(kiln_lm_text_load("/dev/zero", NULL, &lm), KILN_E_IO, "a character device");
}
END_TEST

/* ==== Vocabulary ==== */

static kiln_vocab *small_vocab(const struct kiln_vocab_options *o)
{
    /* a 2, 中 2, b 1, c 1, 文 1; bigrams ab, bc, ca, 中文, 文中 once each. */
    const char *texts[] = {"abca", "\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD"};
    kiln_vocab *v = NULL;
    EXPECT_OK(kiln_vocab_build(texts, NULL, 2, o, &v));
    return v;
}

START_TEST(test_vocab_order)
{
    kiln_vocab *v = small_vocab(NULL);
    ck_assert_int_eq(kiln_vocab_size(v), 7);
    ck_assert_int_eq(kiln_vocab_n_chars(v), 7);
    ck_assert_int_eq(kiln_vocab_n_bigrams(v), 0);
    /* Descending count; ties by code point: a (2) < 中 (2), then b, c, 文. */
    ck_assert_int_eq(kiln_vocab_char(v, 2), 'a');
    ck_assert_int_eq(kiln_vocab_char(v, 3), 0x4E2D);
    ck_assert_int_eq(kiln_vocab_char(v, 4), 'b');
    ck_assert_int_eq(kiln_vocab_char(v, 5), 'c');
    ck_assert_int_eq(kiln_vocab_char(v, 6), 0x6587);
    ck_assert_int_eq(kiln_vocab_char(v, KILN_VOCAB_PAD), -1);
    ck_assert_int_eq(kiln_vocab_char(v, KILN_VOCAB_UNK), -1);
    ck_assert_int_eq(kiln_vocab_char(v, 7), -1);
    ck_assert_int_eq(kiln_vocab_char_id(v, 'c'), 5);
    ck_assert_int_eq(kiln_vocab_char_id(v, 'z'), KILN_VOCAB_UNK);
    kiln_vocab_destroy(v);

    struct kiln_vocab_options o = KILN_VOCAB_OPTIONS_INIT;
    o.min_count = 2;
    v = small_vocab(&o);
    ck_assert_int_eq(kiln_vocab_size(v), 4);
    ck_assert_int_eq(kiln_vocab_char_id(v, 'b'), KILN_VOCAB_UNK);
    kiln_vocab_destroy(v);
    o.min_count = 1;
    o.max_chars = 3;
    v = small_vocab(&o);
    ck_assert_int_eq(kiln_vocab_size(v), 5);
    ck_assert_int_eq(kiln_vocab_char(v, 4), 'b');
    kiln_vocab_destroy(v);

    o.min_count = 0;
    EXPECT_FAIL(kiln_vocab_build(NULL, NULL, 0, &o, &v), KILN_E_INVALID_ARG, "kiln_vocab_build");
    const char *bad[] = {"ok", "\xC3"};
    EXPECT_FAIL(kiln_vocab_build(bad, NULL, 2, NULL, &v), KILN_E_FORMAT, "text 1");
    ck_assert_ptr_null(v);
    /* Explicit byte lengths need no NUL. */
    const char *raw[] = {"xyzzy"};
    size_t nb[] = {2};
    EXPECT_OK(kiln_vocab_build(raw, nb, 1, NULL, &v));
    ck_assert_int_eq(kiln_vocab_size(v), 4);
    kiln_vocab_destroy(v);
    kiln_vocab_destroy(NULL);
}
END_TEST

START_TEST(test_vocab_encode)
{
    struct kiln_vocab_options o = KILN_VOCAB_OPTIONS_INIT;
    o.bigrams = 1;
    o.bigram_min_count = 1;
    kiln_vocab *v = small_vocab(&o);
    ck_assert_int_eq(kiln_vocab_n_chars(v), 7);
    ck_assert_int_eq(kiln_vocab_n_bigrams(v), 5);
    ck_assert_int_eq(kiln_vocab_size(v), 12);
    /* All counts 1: ordered by (first, second) code point. */
    ck_assert_int_eq(kiln_vocab_bigram_id(v, 'a', 'b'), 7);
    ck_assert_int_eq(kiln_vocab_bigram_id(v, 'b', 'c'), 8);
    ck_assert_int_eq(kiln_vocab_bigram_id(v, 'c', 'a'), 9);
    ck_assert_int_eq(kiln_vocab_bigram_id(v, 0x4E2D, 0x6587), 10);
    ck_assert_int_eq(kiln_vocab_bigram_id(v, 0x6587, 0x4E2D), 11);
    ck_assert_int_eq(kiln_vocab_bigram_id(v, 'a', 'c'), KILN_VOCAB_UNK);
    ck_assert_int_eq(kiln_vocab_char(v, 8), -1);

    int32_t ids[6];
    int64_t len;
    EXPECT_OK(kiln_vocab_encode(v, "abz", 3, ids, 5, &len));
    ck_assert_int_eq(len, 3);
    int32_t want[] = {2, 4, KILN_VOCAB_UNK, 0, 0};
    ck_assert_mem_eq(ids, want, sizeof(want));
    EXPECT_OK(kiln_vocab_encode(v, "abz", 3, ids, 2, &len));
    ck_assert_int_eq(len, 2);
    ck_assert_int_eq(ids[1], 4);
    EXPECT_OK(kiln_vocab_encode_bigrams(v, "abca", 4, ids, 5, &len));
    ck_assert_int_eq(len, 3);
    int32_t wantb[] = {7, 8, 9, 0, 0};
    ck_assert_mem_eq(ids, wantb, sizeof(wantb));
    /* Truncated to t characters, so only t - 1 pairs. */
    EXPECT_OK(kiln_vocab_encode_bigrams(v, "abca", 4, ids, 2, &len));
    ck_assert_int_eq(len, 1);
    ck_assert_int_eq(ids[0], 7);
    ck_assert_int_eq(ids[1], 0);
    EXPECT_OK(kiln_vocab_encode_bigrams(v, "a", 1, ids, 3, &len));
    ck_assert_int_eq(len, 0);
    EXPECT_FAIL(kiln_vocab_encode(v, "a\xFF", 2, ids, 3, &len), KILN_E_FORMAT, "byte offset 1");
    EXPECT_FAIL(kiln_vocab_encode(v, "a", 1, ids, 0, &len), KILN_E_INVALID_ARG, "t 0");
    kiln_vocab_destroy(v);
}
END_TEST

/* Asserts that a and b map every id to the same character or bigram. */
static void expect_same_vocab(const kiln_vocab *a, const kiln_vocab *b)
{
    ck_assert_int_eq(kiln_vocab_size(a), kiln_vocab_size(b));
    ck_assert_int_eq(kiln_vocab_n_chars(a), kiln_vocab_n_chars(b));
    for (int32_t id = 0; id < kiln_vocab_size(a); id++) {
        ck_assert_int_eq(kiln_vocab_char(a, id), kiln_vocab_char(b, id));
        int32_t cp = kiln_vocab_char(a, id);
        if (cp >= 0) {
            ck_assert_int_eq(kiln_vocab_char_id(b, cp), id);
        }
    }
    ck_assert_int_eq(kiln_vocab_n_labels(a), kiln_vocab_n_labels(b));
    for (int32_t i = 0; i < kiln_vocab_n_labels(a); i++) {
        ck_assert_str_eq(kiln_vocab_label(a, i), kiln_vocab_label(b, i));
    }
}

START_TEST(test_vocab_json)
{
    struct kiln_vocab_options o = KILN_VOCAB_OPTIONS_INIT;
    o.bigrams = 1;
    o.bigram_min_count = 1;
    kiln_vocab *v = small_vocab(&o), *w = NULL, *c = NULL;
    const char *names[] = {"\xE8\xAE\xBA\xE8\xAF\xAD", "quote \" and \\ tab\t"};
    EXPECT_OK(kiln_vocab_set_labels(v, names, 2));
    ck_assert_int_eq(kiln_vocab_n_labels(v), 2);
    ck_assert_ptr_null(kiln_vocab_label(v, 2));
    size_t n;
    EXPECT_OK(kiln_vocab_save(v, NULL, 0, &n));
    char *buf = malloc(n + 1);
    char small[8] = "unset";
    EXPECT_OK(kiln_vocab_save(v, small, sizeof(small), &n));
    ck_assert_str_eq(small, "unset"); /* too small: nothing written */
    EXPECT_OK(kiln_vocab_save(v, buf, n + 1, &n));
    ck_assert_uint_eq(strlen(buf), n);
    ck_assert_ptr_nonnull(strstr(buf, "\"format\":\"kiln-vocab\""));
    EXPECT_OK(kiln_vocab_load(buf, &w));
    expect_same_vocab(v, w);
    ck_assert_int_eq(kiln_vocab_bigram_id(w, 0x6587, 0x4E2D), 11);
    EXPECT_OK(kiln_vocab_clone(v, &c));
    expect_same_vocab(v, c);
    EXPECT_OK(kiln_vocab_set_labels(c, NULL, 0));
    ck_assert_int_eq(kiln_vocab_n_labels(c), 0);
    ck_assert_int_eq(kiln_vocab_n_labels(v), 2);
    free(buf);
    kiln_vocab_destroy(v);
    kiln_vocab_destroy(w);
    kiln_vocab_destroy(c);

    static const struct {
        const char *json;
        const char *why;
    } bad[] = {
        {"{\"format\":\"kiln-vocab\",", "parse error"},
        {"{\"format\":\"other\",\"version\":1,\"chars\":[]}", "\"format\""},
        {"{\"format\":\"kiln-vocab\",\"version\":2,\"chars\":[]}", "\"version\": 1"},
        {"{\"format\":\"kiln-vocab\",\"version\":1}", "\"chars\""},
        {"{\"format\":\"kiln-vocab\",\"version\":1,\"chars\":[97,55296]}", "chars[1]"},
        {"{\"format\":\"kiln-vocab\",\"version\":1,\"chars\":[97,1114112]}", "chars[1]"},
        {"{\"format\":\"kiln-vocab\",\"version\":1,\"chars\":[97.5]}", "chars[0]"},
        {"{\"format\":\"kiln-vocab\",\"version\":1,\"chars\":[0]}", "chars[0]"},
        {"{\"format\":\"kiln-vocab\",\"version\":1,\"chars\":[97,98,97]}", "U+0061 occurs twice"},
        {"{\"format\":\"kiln-vocab\",\"version\":1,\"chars\":[97],\"bigrams\":[[97,98]]}",
         "not in it"},
        {"{\"format\":\"kiln-vocab\",\"version\":1,\"chars\":[97],\"bigrams\":[[97]]}",
         "bigrams[0] is not a pair"},
        {"{\"format\":\"kiln-vocab\",\"version\":1,\"chars\":[97],\"bigrams\":[[97,97],[97,97]]}",
         "occurs twice"},
        {"{\"format\":\"kiln-vocab\",\"version\":1,\"chars\":[97],\"labels\":[\"a\",3]}",
         "labels[1]"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT_FAIL(kiln_vocab_load(bad[i].json, &w), KILN_E_FORMAT, bad[i].why);
        ck_assert_ptr_null(w);
    }
}
END_TEST

/* ==== Batches ==== */

/* A split of n texts: text i is i % 7 + 1 copies of 'a' + i % 3, label i % 2. */
struct toy_split {
    struct kiln_text_split s;
    char *texts[64];
    int32_t labels[64];
    int64_t n_chars[64];
    char store[64][16];
};

static void toy_split(struct toy_split *t, int64_t n)
{
    memset(t, 0, sizeof(*t));
    for (int64_t i = 0; i < n; i++) {
        int64_t len = i % 7 + 1;
        memset(t->store[i], 'a' + (int)(i % 3), (size_t)len);
        t->texts[i] = t->store[i];
        t->n_chars[i] = len;
        t->labels[i] = (int32_t)(i % 2);
    }
    t->s.n = n;
    t->s.texts = t->texts;
    t->s.labels = t->labels;
    t->s.n_chars = t->n_chars;
}

START_TEST(test_text_iter_epoch)
{
    static struct toy_split t;
    toy_split(&t, 23);
    kiln_vocab *v = NULL;
    EXPECT_OK(kiln_vocab_build((const char *const *)t.texts, NULL, 23, NULL, &v));
    struct kiln_text_iter_options o = KILN_TEXT_ITER_OPTIONS_INIT;
    o.batch_size = 5;
    o.max_len = 4;
    o.seed = 7;
    kiln_text_iter *it = NULL;
    EXPECT_OK(kiln_text_iter_create(&t.s, v, &o, &it));
    ck_assert_int_eq(kiln_text_iter_n_batches(it), 5);
    int seen[23] = {0};
    struct kiln_text_batch b;
    int64_t total = 0, first_index = -1;
    for (int k = 0; k < 5; k++) {
        EXPECT_OK(kiln_text_iter_next(it, &b));
        ck_assert_int_eq(b.batch, 5);
        ck_assert_int_eq(b.t, 4);
        ck_assert_ptr_null(b.bigram_ids);
        first_index = k == 0 ? b.index[0] : first_index;
        for (int64_t r = 0; r < b.batch; r++) {
            if (r >= b.n) {
                ck_assert_int_eq(b.labels[r], -1);
                ck_assert_int_eq(b.index[r], -1);
                ck_assert_int_eq(b.lengths[r], 0);
                ck_assert_int_eq(b.ids[r * b.t], 0);
                continue;
            }
            int64_t i = b.index[r];
            seen[i]++;
            ck_assert_int_eq(b.labels[r], i % 2);
            ck_assert_int_eq(b.lengths[r], i % 7 + 1 < 4 ? i % 7 + 1 : 4);
            for (int64_t c = 0; c < b.t; c++) {
                int32_t want =
                    c < b.lengths[r] ? kiln_vocab_char_id(v, 'a' + (int)(i % 3)) : KILN_VOCAB_PAD;
                ck_assert_int_eq(b.ids[r * b.t + c], want);
            }
        }
        total += b.n;
    }
    ck_assert_int_eq(total, 23);
    for (int i = 0; i < 23; i++) {
        ck_assert_int_eq(seen[i], 1);
    }
    EXPECT_OK(kiln_text_iter_next(it, &b));
    ck_assert_int_eq(b.n, 0);
    /* The same epoch again gives the same order; the next epoch another. */
    kiln_text_iter_reset(it, 0);
    EXPECT_OK(kiln_text_iter_next(it, &b));
    ck_assert_int_eq(b.index[0], first_index);
    int same = 1;
    int64_t e0[5];
    memcpy(e0, b.index, sizeof(e0));
    kiln_text_iter_reset(it, 1);
    EXPECT_OK(kiln_text_iter_next(it, &b));
    same = memcmp(e0, b.index, sizeof(e0)) == 0;
    ck_assert_msg(!same, "epochs 0 and 1 start with the same batch");
    kiln_text_iter_destroy(it);

    o.flags |= KILN_BATCH_DROP_LAST;
    EXPECT_OK(kiln_text_iter_create(&t.s, v, &o, &it));
    ck_assert_int_eq(kiln_text_iter_n_batches(it), 4);
    kiln_text_iter_destroy(it);
    o.batch_size = 0;
    EXPECT_FAIL(kiln_text_iter_create(&t.s, v, &o, &it), KILN_E_INVALID_ARG, "batch 0");
    struct kiln_text_split bare = {3, NULL, NULL, NULL, NULL, NULL};
    EXPECT_FAIL(kiln_text_iter_create(&bare, v, NULL, &it), KILN_E_INVALID_ARG, "lacks");
    kiln_vocab_destroy(v);
}
END_TEST

/* Collects every (batch, row) index and t of an epoch into idx/ts. */
static int64_t epoch_signature(kiln_text_iter *it, int64_t *idx, int64_t *ts)
{
    struct kiln_text_batch b;
    int64_t k = 0, nb = 0;
    for (;;) {
        EXPECT_OK(kiln_text_iter_next(it, &b));
        if (b.n == 0) {
            return k;
        }
        ts[nb++] = b.t;
        for (int64_t r = 0; r < b.batch; r++) {
            idx[k++] = b.index[r];
        }
    }
}

START_TEST(test_text_iter_bucket)
{
    static struct toy_split t;
    toy_split(&t, 64);
    kiln_vocab *v = NULL;
    struct kiln_vocab_options vo = KILN_VOCAB_OPTIONS_INIT;
    vo.bigrams = 1;
    vo.bigram_min_count = 1;
    EXPECT_OK(kiln_vocab_build((const char *const *)t.texts, NULL, 64, &vo, &v));
    struct kiln_text_iter_options o = KILN_TEXT_ITER_OPTIONS_INIT;
    o.batch_size = 8;
    o.max_len = 6;
    o.seed = 3;
    o.bucket_window = 30; /* rounded up to 32 */
    o.len_multiple = 2;
    o.bigrams = 1;
    kiln_text_iter *a, *c;
    EXPECT_OK(kiln_text_iter_create(&t.s, v, &o, &a));
    EXPECT_OK(kiln_text_iter_create(&t.s, v, &o, &c));
    int64_t ia[64], ic[64], ta[8], tc[8];
    ck_assert_int_eq(epoch_signature(a, ia, ta), 64);
    ck_assert_int_eq(epoch_signature(c, ic, tc), 64);
    ck_assert_mem_eq(ia, ic, sizeof(ia)); /* deterministic for a seed */
    ck_assert_mem_eq(ta, tc, sizeof(ta));
    /* Within a bucketed batch lengths ascend; T is the longest rounded up to 2, <= 6. */
    kiln_text_iter_reset(a, 0);
    struct kiln_text_batch b;
    int64_t padded_cells = 0, order_in_epoch[8];
    for (int k = 0; k < 8; k++) {
        EXPECT_OK(kiln_text_iter_next(a, &b));
        ck_assert_int_eq(b.n, 8);
        int32_t longest = 0;
        for (int64_t r = 0; r < 8; r++) {
            if (r > 0) {
                ck_assert_int_le(b.lengths[r - 1], b.lengths[r]);
            }
            longest = b.lengths[r] > longest ? b.lengths[r] : longest;
            padded_cells += b.t - b.lengths[r];
            int64_t i = b.index[r];
            for (int64_t c2 = 0; c2 + 1 < b.lengths[r]; c2++) {
                char ch = (char)('a' + i % 3);
                ck_assert_int_eq(b.bigram_ids[r * b.t + c2], kiln_vocab_bigram_id(v, ch, ch));
            }
            ck_assert_int_eq(b.bigram_ids[r * b.t + b.lengths[r] - 1], 0);
        }
        ck_assert_int_eq(b.t, longest % 2 ? longest + 1 : longest);
        order_in_epoch[k] = b.index[0];
    }
    /* Sorting windows of 32 leaves far less padding than random batches of max_len 6. */
    ck_assert_int_lt(padded_cells, 64);
    (void)order_in_epoch;
    kiln_text_iter_destroy(a);
    kiln_text_iter_destroy(c);
    kiln_vocab_destroy(v);
}
END_TEST

/* ==== Language-model text ==== */

START_TEST(test_lm_text)
{
    char p[512];
    /* 32 characters; the last 4 (n_train = int(0.9 * 32) = 28) are held out, with 'z'
     * only there. */
    tu_write("lm.txt",
             "\xEF\xBB\xBF"
             "abcabcabc\nabcabcabc\nabcab\xE4\xB8\xAD"
             "cabzz\n",
             -1, p, sizeof(p));
    struct kiln_lm_text lm;
    EXPECT_OK(kiln_lm_text_load(p, NULL, &lm));
    ck_assert_int_eq(lm.n, 32);
    ck_assert_int_eq(lm.n_train, 28);
    ck_assert_int_eq(kiln_vocab_char_id(lm.vocab, 'z'), KILN_VOCAB_UNK);
    ck_assert_int_eq(lm.ids[29], KILN_VOCAB_UNK);
    ck_assert_int_eq(lm.ids[0], kiln_vocab_char_id(lm.vocab, 'a'));
    ck_assert_int_eq(lm.ids[25], kiln_vocab_char_id(lm.vocab, 0x4E2D));
    ck_assert_int_ne(lm.ids[25], KILN_VOCAB_UNK);
    ck_assert_int_eq(lm.ids[9], kiln_vocab_char_id(lm.vocab, '\n'));

    /* Streams: 2 streams of (32 - 1) / 2 = 15 ids, chunks of 4 + 1. */
    int64_t nc = kiln_lm_stream_n_chunks(lm.n, 2, 4);
    ck_assert_int_eq(nc, 3);
    int32_t prev[10], cur[10];
    for (int64_t k = 0; k < nc; k++) {
        EXPECT_OK(kiln_lm_stream_chunk(lm.ids, lm.n, 2, 4, k, cur));
        for (int b = 0; b < 2; b++) {
            ck_assert_mem_eq(cur + b * 5, lm.ids + b * 15 + k * 4, 5 * sizeof(int32_t));
            if (k > 0) {
                ck_assert_int_eq(cur[b * 5], prev[b * 5 + 4]);
            }
        }
        memcpy(prev, cur, sizeof(cur));
    }
    EXPECT_FAIL(kiln_lm_stream_chunk(lm.ids, lm.n, 2, 4, nc, cur), KILN_E_INVALID_ARG,
                "chunk 3 of 3");

    int32_t w1[3 * 5], w2[3 * 5];
    EXPECT_OK(kiln_lm_random_windows(lm.ids, lm.n_train, 3, 4, 9, 5, w1));
    EXPECT_OK(kiln_lm_random_windows(lm.ids, lm.n_train, 3, 4, 9, 5, w2));
    ck_assert_mem_eq(w1, w2, sizeof(w1));
    for (int r = 0; r < 3; r++) {
        int found = 0;
        for (int64_t off = 0; off + 5 <= lm.n_train && !found; off++) {
            found = memcmp(lm.ids + off, w1 + r * 5, sizeof(int32_t) * 5) == 0;
        }
        ck_assert(found);
    }
    EXPECT_FAIL(kiln_lm_random_windows(lm.ids, 4, 3, 4, 9, 5, w1), KILN_E_INVALID_ARG, "n 4");
    /* batch rows of t + 1 ids that no array can hold (the product overflows int64_t)
     * are refused before anything is written. */
    EXPECT_FAIL(kiln_lm_random_windows(lm.ids, lm.n_train, INT64_MAX / 2, 4, 9, 5, w1),
                KILN_E_INVALID_ARG, "bad arguments");
    EXPECT_FAIL(kiln_lm_random_windows(lm.ids, lm.n_train, INT64_C(1) << 61, 4, 9, 5, w1),
                KILN_E_INVALID_ARG, "bad arguments");

    /* A given vocabulary is copied; limit and held_out = 0. */
    struct kiln_lm_options o = KILN_LM_OPTIONS_INIT;
    struct kiln_lm_text lm2;
    o.use_vocab = lm.vocab;
    o.limit = 5;
    o.held_out = 0.0;
    EXPECT_OK(kiln_lm_text_load(p, &o, &lm2));
    ck_assert_int_eq(lm2.n, 5);
    ck_assert_int_eq(lm2.n_train, 5);
    ck_assert_int_eq(kiln_vocab_size(lm2.vocab), kiln_vocab_size(lm.vocab));
    ck_assert_mem_eq(lm2.ids, lm.ids, 5 * sizeof(int32_t));
    kiln_lm_text_fini(&lm2);
    kiln_lm_text_fini(&lm);

    tu_write("bad.txt", "fine\nfine\nab\xE0\x80\xAF\n", -1, p, sizeof(p));
    EXPECT_FAIL(kiln_lm_text_load(p, NULL, &lm), KILN_E_FORMAT,
                "line 3, byte column 3 (byte offset 12): invalid UTF-8 (byte 0xE0): overlong");
    ck_assert_ptr_null(lm.ids);
    tu_write("empty.txt", "", 0, p, sizeof(p));
    EXPECT_FAIL(kiln_lm_text_load(p, NULL, &lm), KILN_E_FORMAT, "0 characters");
    o.use_vocab = NULL;
    o.held_out = 1.0;
    EXPECT_FAIL(kiln_lm_text_load(p, &o, &lm), KILN_E_INVALID_ARG, "held_out 1");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train-text");
    TCase *tc = tcase_create("utf8");
    tcase_add_test(tc, test_utf8_valid);
    tcase_add_test(tc, test_utf8_invalid);
    suite_add_tcase(s, tc);
    tc = tcase_create("tsv");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_add_test(tc, test_tsv_read);
    tcase_add_test(tc, test_tsv_errors);
    tcase_add_test(tc, test_lm_text);
    suite_add_tcase(s, tc);
    tc = tcase_create("vocab");
    tcase_add_test(tc, test_vocab_order);
    tcase_add_test(tc, test_vocab_encode);
    tcase_add_test(tc, test_vocab_json);
    tcase_add_test(tc, test_text_iter_epoch);
    tcase_add_test(tc, test_text_iter_bucket);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
