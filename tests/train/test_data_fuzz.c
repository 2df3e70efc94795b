/*
 * test_data_fuzz.c - the data readers on seeded random corruptions of valid inputs
 * (bytes flipped, inserted, deleted, duplicated): UTF-8 decoding against an independent
 * table of well-formed sequences (Unicode Table 3-7), and the TSV, CSV, vocabulary JSON,
 * tree expression and PNG readers, which must either succeed with consistent output or
 * fail with KILN_E_FORMAT, and never crash or leak (run under the sanitizers in CI).
 */
#include <math.h>
#include <stdint.h>

#include "train_util.h"

static uint64_t rng_state;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Applies 1..3 random edits to src[n] into dst (room for n + 64); returns the length. */
static size_t mutate(const char *src, size_t n, char *dst)
{
    static const char pick[] = {
        ',', '"',        '\t',       '\n',       '\r',       ' ',        '(',        ')',       '0',
        '1', '9',        'e',        '-',        '.',        '[',        ']',        '{',       '}',
        ':', (char)0x80, (char)0xC0, (char)0xE0, (char)0xED, (char)0xF4, (char)0xFF, (char)0xE4};
    memcpy(dst, src, n);
    int edits = 1 + (int)(rnd() % 3);
    for (int e = 0; e < edits && n > 0; e++) {
        size_t at = rnd() % n;
        switch (rnd() % 4) {
        case 0:
            dst[at] = rnd() % 2 ? pick[rnd() % sizeof(pick)] : (char)rnd();
            break;
        case 1:
            memmove(dst + at + 1, dst + at, n - at);
            dst[at] = pick[rnd() % sizeof(pick)];
            n++;
            break;
        case 2:
            memmove(dst + at, dst + at + 1, n - at - 1);
            n--;
            break;
        default: {
            size_t len = 1 + rnd() % 8;
            len = at + len > n ? n - at : len;
            len = len > 16 ? 16 : len;
            memmove(dst + at + len, dst + at, n - at);
            n += len;
        }
        }
    }
    return n;
}

/* 1 when s[n] is well-formed UTF-8 without U+0000, by Unicode's Table 3-7. */
static int reference_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned b = s[i];
        int len;
        unsigned lo = 0x80, hi = 0xBF;
        if (b == 0) {
            return 0;
        } else if (b < 0x80) {
            len = 1;
        } else if (b >= 0xC2 && b <= 0xDF) {
            len = 2;
        } else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            lo = b == 0xE0 ? 0xA0 : 0x80;
            hi = b == 0xED ? 0x9F : 0xBF;
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            lo = b == 0xF0 ? 0x90 : 0x80;
            hi = b == 0xF4 ? 0x8F : 0xBF;
        } else {
            return 0;
        }
        if (i + (size_t)len > n) {
            return 0;
        }
        for (int k = 1; k < len; k++) {
            unsigned c = s[i + (size_t)k];
            if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) {
                return 0;
            }
        }
        i += (size_t)len;
    }
    return 1;
}

START_TEST(test_fuzz_utf8)
{
    rng_state = 0x9E3779B97F4A7C15u;
    unsigned char buf[8];
    int valid = 0;
    for (int it = 0; it < 200000; it++) {
        size_t n = 1 + rnd() % 6;
        for (size_t i = 0; i < n; i++) {
            /* Bias towards lead and continuation bytes. */
            uint32_t r = rnd();
            buf[i] = (unsigned char)(r % 3 == 0 ? 0x80 + (r >> 8) % 64 : r >> 8);
        }
        int want = reference_utf8(buf, n);
        kiln_status got = kiln_utf8_decode((const char *)buf, n, NULL, NULL);
        ck_assert_msg((got == KILN_OK) == want, "bytes %02x %02x %02x %02x: kiln %s, reference %d",
                      buf[0], n > 1 ? buf[1] : 0, n > 2 ? buf[2] : 0, n > 3 ? buf[3] : 0,
                      kiln_status_name(got), want);
        valid += want;
    }
    ck_assert_int_gt(valid, 10000);
}
END_TEST

/* Asserts that st is KILN_OK or KILN_E_FORMAT. */
static void ok_or_format(kiln_status st, const char *what, int it)
{
    ck_assert_msg(st == KILN_OK || st == KILN_E_FORMAT, "%s, iteration %d: %s: %s", what, it,
                  kiln_status_name(st), kiln_last_error());
}

START_TEST(test_fuzz_readers)
{
    static const char tsv[] = "pos\tgood \xE4\xB8\xAD day\nneg\tbad\r\nb\tx\ty\n";
    static const char csv[] = "a,\"b\",y\n1.5,\"2.5\",cat\n-3,4e1,\"d\"\"g\"\n\n"
                              "12345678, 9876 ,cat\n\"1\",2,\"a,b\"\n";
    static const char expr[] = "(xor (not 1) (and 0 (or 1 0))) 1 (not 0)";
    char mut[256], p[512];
    rng_state = 12345;
    int n_ok[4] = {0};
    tu_write("test.tsv", "pos\tfine\n", -1, NULL, 0);
    for (int it = 0; it < 3000; it++) {
        size_t n = mutate(tsv, sizeof(tsv) - 1, mut);
        tu_write("train.tsv", mut, (long)n, p, sizeof(p));
        struct kiln_text_data td;
        kiln_status st = kiln_text_data_load(tu_dir, &td);
        ck_assert_msg(st == KILN_OK || st == KILN_E_FORMAT, "tsv %d: %s", it, kiln_last_error());
        for (int64_t i = 0; st == KILN_OK && i < td.train.n; i++) {
            int64_t nc;
            const char *t = td.train.texts[i];
            EXPECT_OK(kiln_utf8_decode(t, strlen(t), NULL, &nc));
            ck_assert_int_eq(nc, td.train.n_chars[i]);
            ck_assert(nc > 0 && strpbrk(t, "\n\r") == NULL);
            ck_assert(td.train.labels[i] >= 0 && td.train.labels[i] < td.n_classes);
        }
        n_ok[0] += st == KILN_OK;
        kiln_text_data_fini(&td);

        n = mutate(csv, sizeof(csv) - 1, mut);
        tu_write("f.csv", mut, (long)n, p, sizeof(p));
        struct kiln_csv_options o = KILN_CSV_OPTIONS_INIT;
        struct kiln_table tab;
        o.classify = 1;
        st = kiln_csv_read(p, &o, &tab);
        ok_or_format(st, "csv", it);
        for (int64_t i = 0; st == KILN_OK && i < tab.n * tab.n_features; i++) {
            ck_assert(isfinite(tab.x[i]));
        }
        n_ok[1] += st == KILN_OK;
        kiln_table_fini(&tab);

        n = mutate(expr, sizeof(expr) - 1, mut);
        mut[n] = '\0';
        struct kiln_tree_set s;
        st = strlen(mut) == n ? kiln_tree_parse(mut, &s) : KILN_E_FORMAT;
        ok_or_format(st, "tree", it);
        for (int64_t t = 0; st == KILN_OK && t < s.n_trees; t++) {
            char back[512];
            size_t len;
            struct kiln_tree_set one;
            EXPECT_OK(kiln_tree_format(&s, t, back, sizeof(back), &len));
            EXPECT_OK(kiln_tree_parse(back, &one));
            ck_assert_int_eq(one.label[0], s.label[t]);
            kiln_tree_set_fini(&one);
        }
        n_ok[2] += st == KILN_OK;
        kiln_tree_set_fini(&s);
    }
    printf("corruptions read without error: tsv %d, csv %d, trees %d of 3000\n", n_ok[0], n_ok[1],
           n_ok[2]);
    /* Enough corruptions must still parse for the checks on success to mean something
     * (few tree expressions do: most edits break a literal or a parenthesis). */
    ck_assert_int_gt(n_ok[0], 300);
    ck_assert_int_gt(n_ok[1], 50);
    ck_assert_int_gt(n_ok[2], 50);
}
END_TEST

START_TEST(test_fuzz_vocab_json)
{
    struct kiln_vocab_options vo = KILN_VOCAB_OPTIONS_INIT;
    const char *texts[] = {"abcab", "\xE4\xB8\xAD\xE6\x96\x87\xE4\xB8\xAD\xE6\x96\x87"};
    const char *labels[] = {"x", "y"};
    kiln_vocab *v, *w, *u;
    vo.bigrams = 1;
    EXPECT_OK(kiln_vocab_build(texts, NULL, 2, &vo, &v));
    EXPECT_OK(kiln_vocab_set_labels(v, labels, 2));
    char json[512], mut[600], again[600];
    size_t n, m;
    EXPECT_OK(kiln_vocab_save(v, json, sizeof(json), &n));
    ck_assert_uint_lt(n, sizeof(json));
    rng_state = 777;
    int ok = 0;
    for (int it = 0; it < 5000; it++) {
        size_t k = mutate(json, n, mut);
        mut[k] = '\0';
        kiln_status st = kiln_vocab_load(mut, &w);
        ok_or_format(st, "vocab json", it);
        if (st == KILN_OK) {
            ok++;
            EXPECT_OK(kiln_vocab_save(w, again, sizeof(again), &m));
            ck_assert_uint_lt(m, sizeof(again));
            EXPECT_OK(kiln_vocab_load(again, &u));
            ck_assert_int_eq(kiln_vocab_size(u), kiln_vocab_size(w));
            kiln_vocab_destroy(u);
        }
        kiln_vocab_destroy(w);
    }
    ck_assert_int_gt(ok, 100);
    kiln_vocab_destroy(v);
}
END_TEST

START_TEST(test_fuzz_png)
{
    char p[512];
    float img[4 * 5 * 6];
    for (int i = 0; i < 120; i++) {
        img[i] = (float)(i % 17) / 16.0f;
    }
    snprintf(p, sizeof(p), "%s/ok.png", tu_dir);
    if (kiln_png_write_grid(p, img, 4, 5, 6, 2, 0.0f, 1.0f) == KILN_E_UNSUPPORTED) {
        return; /* built without libpng: nothing to read */
    }
    FILE *f = fopen(p, "rb");
    char png[4096], mut[4200];
    size_t n = fread(png, 1, sizeof(png), f);
    fclose(f);
    rng_state = 4242;
    for (int it = 0; it < 2000; it++) {
        /* Keep the signature so that libpng's own checks are reached. */
        size_t k = mutate(png + 8, n - 8, mut + 8);
        memcpy(mut, png, 8);
        tu_write("m.png", mut, (long)(k + 8), p, sizeof(p));
        struct kiln_image im;
        kiln_status st = kiln_png_read(p, &im);
        ok_or_format(st, "png", it);
        if (st == KILN_OK) {
            ck_assert(im.c >= 1 && im.c <= 4 && im.h >= 1 && im.w >= 1);
            for (int64_t i = 0; i < (int64_t)im.c * im.h * im.w; i++) {
                ck_assert(im.data[i] >= 0.0f && im.data[i] <= 1.0f);
            }
        }
        kiln_image_fini(&im);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train-data-fuzz");
    TCase *tc = tcase_create("fuzz");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_add_test(tc, test_fuzz_utf8);
    tcase_add_test(tc, test_fuzz_readers);
    tcase_add_test(tc, test_fuzz_vocab_json);
    tcase_add_test(tc, test_fuzz_png);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
