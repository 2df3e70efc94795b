/*
 * text_common.c - what the text commands of the kiln program share (train_lm.c,
 * train_text.c): their options on top of those of `kiln train`, one-hot rows of
 * character ids, and saving and loading a text model: the store's parameters plus the
 * model's configuration and vocabulary (which a checkpoint must carry to be usable).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int parse_text_args(int argc, char **argv, struct text_args *t, const char *cmd)
{
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    int n_rest = 0, ok = 1;
    if (rest == NULL) {
        fprintf(stderr, "kiln: out of memory\n");
        return 0;
    }
    for (int i = 0; i < argc && ok; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(o, "--rnn") == 0) {
            ok = v != NULL && (strcmp(v, "lstm") == 0 || strcmp(v, "gru") == 0);
            if (!ok) {
                fprintf(stderr, "kiln %s: --rnn expects lstm or gru, got '%s'\n", cmd,
                        v != NULL ? v : "(nothing)");
            }
            t->rnn = v;
        } else if (strcmp(o, "--bidirectional") == 0) {
            t->bidirectional = 1;
            takes = 0;
        } else if (strcmp(o, "--wd") == 0) {
            ok = parse_real(o, v, &t->base.wd);
        } else if (strcmp(o, "--cosine") == 0) {
            t->base.cosine = 1;
            takes = 0;
        } else if (strcmp(o, "--widths") == 0) {
            /* "2,3,4": one to four convolution widths in [1, 64] */
            int nw = 0, pos = 0, len = 0;
            int w[4];
            ok = v != NULL;
            while (ok && v[pos] != '\0' && nw < 4 && sscanf(v + pos, "%d%n", &w[nw], &len) == 1) {
                ok = w[nw] >= 1 && w[nw] <= 64;
                nw++;
                pos += len;
                if (v[pos] == ',') {
                    pos++;
                }
            }
            ok = ok && nw >= 1 && v[pos] == '\0';
            if (!ok) {
                fprintf(stderr, "kiln %s: --widths expects 1 to 4 widths in [1, 64], e.g. 2,3,4\n",
                        cmd);
            }
            for (int k = 0; ok && k < 4; k++) {
                t->widths[k] = k < nw ? w[k] : 0;
            }
            t->n_widths = nw;
        } else if (strcmp(o, "--bigrams") == 0) {
            t->bigrams = 1;
            takes = 0;
        } else if (strcmp(o, "--layers") == 0) {
            ok = parse_int(o, v, 1, 8, &t->layers);
        } else if (strcmp(o, "--hidden") == 0) {
            ok = parse_int(o, v, 1, 4096, &t->hidden);
        } else if (strcmp(o, "--embed") == 0) {
            ok = parse_int(o, v, 1, 4096, &t->embed);
        } else if (strcmp(o, "--bptt") == 0) {
            ok = parse_int(o, v, 1, 100000, &t->bptt);
        } else if (strcmp(o, "--max-len") == 0) {
            ok = parse_int(o, v, 1, 100000, &t->max_len);
        } else if (strcmp(o, "--dropout") == 0) {
            char *end;
            errno = 0;
            t->dropout = v != NULL ? strtod(v, &end) : -1.0;
            ok = v != NULL && *end == '\0' && errno == 0 && t->dropout >= 0.0 && t->dropout < 1.0;
            if (!ok) {
                fprintf(stderr, "kiln %s: --dropout expects a number in [0, 1)\n", cmd);
            }
        } else if (strcmp(o, "--clip") == 0) {
            ok = parse_real(o, v, &t->clip);
        } else if (strcmp(o, "--out") == 0) {
            /* checked now, so that a long training does not end in a failed write */
            struct stat st;
            ok = v != NULL && v[0] != '\0' && stat(v, &st) == 0 && S_ISDIR(st.st_mode) &&
                 access(v, W_OK) == 0;
            if (!ok) {
                fprintf(stderr, "kiln %s: --out expects a writable directory ('%s' is not one)\n",
                        cmd, v != NULL ? v : "");
            }
            t->out = v;
        } else {
            rest[n_rest++] = argv[i];
            takes = 0;
        }
        i += takes;
    }
    ok = ok && parse_train_args(n_rest, rest, &t->base);
    free(rest);
    return ok;
}

void one_hot_rows(const int32_t *ids, int64_t n, int64_t stride, int64_t vocab, float *out)
{
    memset(out, 0, (size_t)(n * vocab) * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        int32_t id = ids[i * stride];
        if (id >= 0 && id < vocab) {
            out[i * vocab + id] = 1.0f;
        }
    }
}

/* DIR/NAME.safetensors and DIR/NAME.json. */
static void paths(const char *dir, const char *name, char *st, char *js, size_t n)
{
    snprintf(st, n, "%s/%s.safetensors", dir, name);
    snprintf(js, n, "%s/%s.json", dir, name);
}

/* The configuration file of a checkpoint: CHECKPOINT with .safetensors replaced by
 * .json (or .json appended). */
static void config_path(const char *checkpoint, char *js, size_t n)
{
    size_t len = strlen(checkpoint), ext = strlen(".safetensors");
    if (len > ext && strcmp(checkpoint + len - ext, ".safetensors") == 0) {
        snprintf(js, n, "%.*s.json", (int)(len - ext), checkpoint);
    } else {
        snprintf(js, n, "%s.json", checkpoint);
    }
}

int save_text_model(kiln_store *s, const char *dir, const char *name, const char *config_json,
                    const kiln_vocab *v)
{
    char st[4096], js[4096], tmp[4200];
    size_t nv = 0;
    char *vocab = NULL, *text = NULL;
    cJSON *root = NULL, *cfg = NULL, *voc = NULL;
    int rc = EXIT_FAILURE;
    paths(dir, name, st, js, sizeof(st));
    if (kiln_store_save(s, st, 0) != KILN_OK) {
        return fail("saving the parameters");
    }
    if (kiln_vocab_save(v, NULL, 0, &nv) != KILN_OK || (vocab = malloc(nv + 1)) == NULL ||
        kiln_vocab_save(v, vocab, nv + 1, &nv) != KILN_OK) {
        rc = fail("writing the vocabulary");
        goto done;
    }
    root = cJSON_CreateObject();
    cfg = cJSON_Parse(config_json);
    voc = cJSON_Parse(vocab);
    if (root == NULL || cfg == NULL || voc == NULL) {
        fprintf(stderr, "kiln: cannot compose the model description of %s\n", js);
        goto done;
    }
    cJSON_AddStringToObject(root, "format", "kiln-text-model");
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON_AddItemToObject(root, "config", cfg);
    cfg = NULL;
    cJSON_AddItemToObject(root, "vocab", voc);
    voc = NULL;
    text = cJSON_Print(root);
    snprintf(tmp, sizeof(tmp), "%s.tmp", js);
    FILE *f = text != NULL ? fopen(tmp, "w") : NULL;
    int bad = f == NULL || fputs(text, f) < 0 || fputc('\n', f) < 0;
    bad |= f != NULL && fclose(f) != 0;
    if (bad || rename(tmp, js) != 0) {
        fprintf(stderr, "kiln: cannot write %s: %s\n", js, strerror(errno));
        unlink(tmp);
        goto done;
    }
    printf("saved: %s (parameters), %s (configuration and vocabulary)\n", st, js);
    rc = EXIT_SUCCESS;
done:
    cJSON_Delete(cfg);
    cJSON_Delete(voc);
    cJSON_Delete(root);
    free(text);
    free(vocab);
    return rc;
}

int load_text_model(const char *checkpoint, char **config_json, kiln_vocab **v)
{
    char js[4096];
    config_path(checkpoint, js, sizeof(js));
    FILE *f = fopen(js, "rb");
    char *buf = NULL, *vocab = NULL;
    cJSON *root = NULL;
    int rc = EXIT_FAILURE;
    *config_json = NULL;
    *v = NULL;
    if (f == NULL) {
        fprintf(stderr, "kiln: cannot open %s, the configuration saved with %s: %s\n", js,
                checkpoint, strerror(errno));
        return EXIT_FAILURE;
    }
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)len + 1)) == NULL ||
        fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "kiln: cannot read %s\n", js);
        goto done;
    }
    buf[len] = '\0';
    root = cJSON_Parse(buf);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    const cJSON *voc = cJSON_GetObjectItemCaseSensitive(root, "vocab");
    if (root == NULL || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, "kiln-text-model") != 0 ||
        !cJSON_IsObject(cfg) || !cJSON_IsObject(voc)) {
        fprintf(stderr, "kiln: %s is not a kiln text model description\n", js);
        goto done;
    }
    vocab = cJSON_PrintUnformatted(voc);
    *config_json = cJSON_PrintUnformatted(cfg);
    if (vocab == NULL || *config_json == NULL) {
        fprintf(stderr, "kiln: out of memory reading %s\n", js);
        goto done;
    }
    if (kiln_vocab_load(vocab, v) != KILN_OK) {
        fail("reading the vocabulary");
        goto done;
    }
    rc = EXIT_SUCCESS;
done:
    if (rc != EXIT_SUCCESS) {
        free(*config_json);
        *config_json = NULL;
    }
    fclose(f);
    cJSON_Delete(root);
    free(vocab);
    free(buf);
    return rc;
}
