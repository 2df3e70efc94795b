/*
 * fuzz_text.c - libFuzzer target for the text readers of kiln/text.h. Byte 0 chooses:
 * bit 0 set: the rest is a vocabulary's JSON for kiln_vocab_load (NUL-terminated here),
 * saved again and reloaded when accepted; bit 0 clear: a text classification data set
 * for kiln_text_data_load, bytes 1-2 and 3-4 (little-endian) the lengths of train.tsv
 * and test.tsv, the rest valid.tsv (written only when bit 1 is set). An accepted data
 * set must hold labels in range and non-empty texts of the counted characters; a
 * vocabulary is then built from it (with bigrams when bit 2 is set), every text
 * encoded, and the vocabulary saved and reloaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "kiln.h"
#include "kiln/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Saves v and loads the JSON back: it must give a vocabulary of the same size. */
static void save_load(const kiln_vocab *v)
{
    size_t n = 0;
    if (kiln_vocab_save(v, NULL, 0, &n) != KILN_OK) {
        return; /* out of memory only */
    }
    char *json = malloc(n + 1);
    kiln_vocab *back = NULL;
    if (json == NULL || kiln_vocab_save(v, json, n + 1, &n) != KILN_OK ||
        kiln_vocab_load(json, &back) != KILN_OK || kiln_vocab_size(back) != kiln_vocab_size(v) ||
        kiln_vocab_n_labels(back) != kiln_vocab_n_labels(v)) {
        abort();
    }
    kiln_vocab_destroy(back);
    free(json);
}

static void vocab_json(const uint8_t *data, size_t size)
{
    char *json = malloc(size + 1);
    kiln_vocab *v = NULL;
    if (json == NULL) {
        return;
    }
    memcpy(json, data, size);
    json[size] = '\0';
    if (kiln_vocab_load(json, &v) == KILN_OK) {
        save_load(v);
        kiln_vocab_destroy(v);
    }
    free(json);
}

static void check_split(const struct kiln_text_split *s, int32_t n_classes)
{
    for (int64_t i = 0; i < s->n; i++) {
        if (s->labels[i] < 0 || s->labels[i] >= n_classes || s->texts[i][0] == '\0' ||
            s->n_chars[i] < 1 || s->n_chars[i] > (int64_t)strlen(s->texts[i])) {
            abort();
        }
    }
}

static void data_set(const uint8_t *data, size_t size, uint8_t flags)
{
    char path[512];
    size_t n_train = (size_t)data[0] | (size_t)data[1] << 8;
    size_t n_test = (size_t)data[2] | (size_t)data[3] << 8;
    data += 4;
    size -= 4;
    n_train = n_train < size ? n_train : size;
    n_test = n_test < size - n_train ? n_test : size - n_train;
    fuzz_put("train.tsv", data, n_train, path, sizeof(path));
    fuzz_put("test.tsv", data + n_train, n_test, path, sizeof(path));
    fuzz_put("valid.tsv", data + n_train + n_test, size - n_train - n_test, path, sizeof(path));
    if (!(flags & 2)) {
        unlink(path);
    }
    struct kiln_text_data td;
    if (kiln_text_data_load(fuzz_tmpdir(), &td) != KILN_OK) {
        if (td.train.n != 0 || td.label_names != NULL) {
            abort(); /* zeroed on failure */
        }
        return;
    }
    if (td.n_classes < 1 || td.train.n < 1) {
        abort();
    }
    check_split(&td.train, td.n_classes);
    check_split(&td.valid, td.n_classes);
    check_split(&td.test, td.n_classes);
    struct kiln_vocab_options vo = KILN_VOCAB_OPTIONS_INIT;
    vo.bigrams = (flags & 4) != 0;
    kiln_vocab *v = NULL;
    if (kiln_vocab_build((const char *const *)td.train.texts, NULL, td.train.n, &vo, &v) ==
        KILN_OK) {
        int32_t ids[16];
        int64_t len;
        for (int64_t i = 0; i < td.test.n; i++) {
            if (kiln_vocab_encode(v, td.test.texts[i], strlen(td.test.texts[i]), ids, 16, &len) !=
                    KILN_OK ||
                kiln_vocab_encode_bigrams(v, td.test.texts[i], strlen(td.test.texts[i]), ids, 16,
                                          &len) != KILN_OK) {
                abort(); /* the texts were checked as UTF-8 */
            }
        }
        if (kiln_vocab_set_labels(v, (const char *const *)td.label_names, td.n_classes) !=
            KILN_OK) {
            abort();
        }
        save_load(v);
        kiln_vocab_destroy(v);
    }
    kiln_text_data_fini(&td);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t flags = data[0];
    if (flags & 1) {
        vocab_json(data + 1, size - 1);
    } else if (size >= 5) {
        data_set(data + 1, size - 1, flags);
    }
    return 0;
}
