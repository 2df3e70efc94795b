/*
 * train_lm.c - `kiln train charlm`: a character language model (kiln_char_lm: one-hot
 * characters, LSTM or GRU layers, a dense decoder) trained on a UTF-8 text by
 * truncated backpropagation through time over contiguous streams (the state carried
 * from one chunk to the next), with the held-out bits per character after every epoch;
 * and `kiln sample`, which generates text from a saved model.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Moby Dick where tools/data/get_moby_dick.sh puts it, under $HOME. */
#define MOBY_DICK "/.cache/kiln/data/moby-dick/data.txt"

/* One graph over the model's store: t steps of n streams. */
struct lm_net {
    kiln_graph *g;
    kiln_tensor *x, *y, *h0, *c0, *loss, *logits, *hn, *cn;
    int64_t t, n, state; /* state: floats of h (and of c) */
};

static void free_net(struct lm_net *m)
{
    kiln_graph_destroy(m->g);
    memset(m, 0, sizeof(*m));
}

/* Builds the model on t x n one-hot inputs; with labels, the mean cross-entropy (and,
 * when train, its backward pass). */
static kiln_status build_net(kiln_store *s, const struct kiln_char_lm_options *o, int64_t t,
                             int64_t n, int labels, int train, struct lm_net *m)
{
    memset(m, 0, sizeof(*m));
    m->t = t;
    m->n = n;
    m->state = (int64_t)o->n_layers * n * o->hidden;
    KILN_TRY_CLI(kiln_graph_create_in(s, &m->g));
    int64_t xd[3] = {t, n, o->vocab}, sd[3] = {o->n_layers, n, o->hidden};
    int64_t yd[1] = {t * n}, flat[2] = {t * n, o->vocab};
    m->x = kiln_input(m->g, "x", KILN_DTYPE_F32, 3, xd);
    m->h0 = kiln_input(m->g, "h0", KILN_DTYPE_F32, 3, sd);
    m->c0 = o->cell == KILN_RNN_LSTM ? kiln_input(m->g, "c0", KILN_DTYPE_F32, 3, sd) : NULL;
    m->logits = kiln_tensor_keep(kiln_char_lm(m->g, m->x, m->h0, m->c0, o, &m->hn, &m->cn));
    kiln_tensor_keep(m->hn);
    if (m->cn != NULL) {
        kiln_tensor_keep(m->cn);
    }
    if (labels) {
        m->y = kiln_input(m->g, "y", KILN_DTYPE_I32, 1, yd);
        m->loss =
            kiln_tensor_keep(kiln_softmax_xent(m->g, kiln_reshape(m->g, m->logits, 2, flat), m->y));
    }
    if (train) {
        KILN_TRY_CLI(kiln_graph_backward(m->g, m->loss));
    }
    KILN_TRY_CLI(kiln_graph_status(m->g));
    return kiln_graph_compile(m->g);
}

/* Uploads chunk [n, t + 1] (inputs, next-character labels) and the carried state. */
static kiln_status upload_chunk(struct lm_net *m, const int32_t *chunk, int64_t vocab, float *x,
                                int32_t *y, const float *h, const float *c)
{
    for (int64_t s = 0; s < m->t; s++) {
        for (int64_t b = 0; b < m->n; b++) {
            one_hot_rows(&chunk[b * (m->t + 1) + s], 1, 1, vocab, x + (s * m->n + b) * vocab);
            y[s * m->n + b] = chunk[b * (m->t + 1) + s + 1];
        }
    }
    size_t sb = (size_t)m->state * sizeof(float);
    KILN_TRY_CLI(kiln_tensor_upload(m->x, x, (size_t)(m->t * m->n * vocab) * sizeof(float)));
    KILN_TRY_CLI(kiln_tensor_upload(m->y, y, (size_t)(m->t * m->n) * sizeof(int32_t)));
    KILN_TRY_CLI(kiln_tensor_upload(m->h0, h, sb));
    return m->c0 != NULL ? kiln_tensor_upload(m->c0, c, sb) : KILN_OK;
}

/* Reads the loss and the final state (the next chunk's initial state). */
static kiln_status read_back(const struct lm_net *m, float *loss, float *h, float *c)
{
    size_t sb = (size_t)m->state * sizeof(float);
    KILN_TRY_CLI(kiln_tensor_download(m->loss, loss, sizeof(float)));
    KILN_TRY_CLI(kiln_tensor_download(m->hn, h, sb));
    return m->cn != NULL ? kiln_tensor_download(m->cn, c, sb) : KILN_OK;
}

/* Scratch for one chunk of a net. */
struct lm_buf {
    int32_t *chunk, *y;
    float *x, *h, *c;
};

static int alloc_buf(const struct lm_net *m, int64_t vocab, struct lm_buf *b)
{
    b->chunk = malloc((size_t)(m->n * (m->t + 1)) * sizeof(int32_t));
    b->y = malloc((size_t)(m->t * m->n) * sizeof(int32_t));
    b->x = malloc((size_t)(m->t * m->n * vocab) * sizeof(float));
    b->h = calloc((size_t)m->state, sizeof(float));
    b->c = calloc((size_t)m->state, sizeof(float));
    return b->chunk != NULL && b->y != NULL && b->x != NULL && b->h != NULL && b->c != NULL;
}

static void free_buf(struct lm_buf *b)
{
    free(b->chunk);
    free(b->y);
    free(b->x);
    free(b->h);
    free(b->c);
}

/* Bits per character of ids[0 .. n) as contiguous streams of m (inference mode). */
static kiln_status eval_bpc(struct lm_net *m, const int32_t *ids, int64_t n, int64_t vocab,
                            struct lm_buf *b, double *bpc)
{
    int64_t chunks = kiln_lm_stream_n_chunks(n, m->n, m->t);
    double sum = 0.0;
    memset(b->h, 0, (size_t)m->state * sizeof(float));
    memset(b->c, 0, (size_t)m->state * sizeof(float));
    kiln_tensor *targets[3] = {m->loss, m->hn, m->cn};
    for (int64_t k = 0; k < chunks; k++) {
        float l;
        KILN_TRY_CLI(kiln_lm_stream_chunk(ids, n, m->n, m->t, k, b->chunk));
        KILN_TRY_CLI(upload_chunk(m, b->chunk, vocab, b->x, b->y, b->h, b->c));
        KILN_TRY_CLI(kiln_graph_eval(m->g, m->cn != NULL ? 3 : 2, targets));
        KILN_TRY_CLI(read_back(m, &l, b->h, b->c));
        sum += l;
    }
    *bpc = chunks > 0 ? sum / (double)chunks / log(2.0) : NAN;
    return KILN_OK;
}

static const char *home_path(char *buf, size_t n, const char *tail)
{
    const char *home = getenv("HOME");
    snprintf(buf, n, "%s%s", home != NULL ? home : "", tail);
    return buf;
}

/* The model's configuration for save_text_model and kiln sample. */
static void config_json(const struct kiln_char_lm_options *o, char *buf, size_t n)
{
    snprintf(buf, n,
             "{\"model\": \"charlm\", \"cell\": \"%s\", \"layers\": %d, \"hidden\": %lld, "
             "\"vocab_size\": %lld}",
             kiln_rnn_cell_name(o->cell), o->n_layers, (long long)o->hidden, (long long)o->vocab);
}

/* The training loop: epochs of contiguous streams, the held-out bits per character
 * after each. */
static int train_epochs(const struct text_args *a, const struct kiln_lm_text *lm,
                        const struct kiln_char_lm_options *lo, struct lm_net *tr, struct lm_net *ev,
                        kiln_optimizer *opt)
{
    struct lm_buf tb = {0}, eb = {0};
    int rc = EXIT_FAILURE;
    const struct train_args *ba = &a->base;
    if (!alloc_buf(tr, lo->vocab, &tb) || !alloc_buf(ev, lo->vocab, &eb)) {
        fprintf(stderr, "kiln: out of memory\n");
        goto done;
    }
    int64_t chunks = kiln_lm_stream_n_chunks(lm->n_train, tr->n, tr->t), step = 0;
    double start = now_s();
    for (int32_t e = 1; e <= ba->epochs && (ba->max_steps == 0 || step < ba->max_steps); e++) {
        double sum = 0.0, t0 = now_s(), bpc;
        int64_t k = 0;
        memset(tb.h, 0, (size_t)tr->state * sizeof(float));
        memset(tb.c, 0, (size_t)tr->state * sizeof(float));
        for (; k < chunks && (ba->max_steps == 0 || step < ba->max_steps); k++, step++) {
            float l;
            if (kiln_lm_stream_chunk(lm->ids, lm->n_train, tr->n, tr->t, k, tb.chunk) != KILN_OK ||
                upload_chunk(tr, tb.chunk, lo->vocab, tb.x, tb.y, tb.h, tb.c) != KILN_OK ||
                kiln_train_step(tr->g, opt) != KILN_OK ||
                read_back(tr, &l, tb.h, tb.c) != KILN_OK) {
                rc = fail("training");
                goto done;
            }
            if (!isfinite(l)) {
                fprintf(stderr, "kiln: the loss is %g at step %lld: training diverged\n", l,
                        (long long)step + 1);
                goto done;
            }
            sum += l;
            if ((k + 1) % 50 == 0) {
                fprintf(stderr, "epoch %d step %lld/%lld: train %.4f bits/char\n", e,
                        (long long)k + 1, (long long)chunks, sum / (double)(k + 1) / log(2.0));
            }
        }
        double secs = now_s() - t0;
        if (eval_bpc(ev, lm->ids + lm->n_train, lm->n - lm->n_train, lo->vocab, &eb, &bpc) !=
            KILN_OK) {
            rc = fail("evaluating");
            goto done;
        }
        printf("epoch %d: train %.4f bits/char, held-out %.4f bits/char (%lld steps in %.1f s, "
               "%.0f chars/s; %.1f min in all)\n",
               e, k ? sum / (double)k / log(2.0) : NAN, bpc, (long long)k, secs,
               secs > 0 ? (double)(k * tr->t * tr->n) / secs : 0.0, (now_s() - start) / 60.0);
    }
    rc = EXIT_SUCCESS;
done:
    free_buf(&tb);
    free_buf(&eb);
    return rc;
}

int cmd_train_charlm(int argc, char **argv)
{
    char moby[4096], cfg[512];
    struct text_args a = {.base = {.epochs = 10,
                                   .batch = 32,
                                   .lr = 3e-3,
                                   .optimizer = "adam",
                                   .data = home_path(moby, sizeof(moby), MOBY_DICK)},
                          .rnn = "lstm",
                          .layers = 1,
                          .hidden = 256,
                          .bptt = 64,
                          .clip = 5.0};
    struct kiln_lm_options lmo = KILN_LM_OPTIONS_INIT;
    struct kiln_char_lm_options lo = KILN_CHAR_LM_OPTIONS_INIT;
    struct kiln_lm_text lm = {0};
    struct lm_net tr = {0}, ev = {0};
    kiln_context *ctx = NULL;
    kiln_store *store = NULL;
    kiln_optimizer *opt = NULL;
    int rc = EXIT_FAILURE;
    if (!parse_text_args(argc, argv, &a, "train charlm")) {
        fprintf(stderr, "kiln train: see `kiln --help`\n");
        return EXIT_USAGE;
    }
    if (!a.base.lr_given && strcmp(a.base.optimizer, "adam") == 0) {
        a.base.lr = 3e-3; /* measured on Moby Dick, not the image models' 1e-3 */
        a.base.lr_given = 1;
    }
    lmo.limit = a.base.train_limit;
    if (kiln_lm_text_load(a.base.data, &lmo, &lm) != KILN_OK) {
        fprintf(stderr, "kiln: cannot read the text: %s\n", kiln_last_error());
        fprintf(stderr, "kiln: pass --data FILE (any UTF-8 text), or fetch Moby Dick with "
                        "tools/data/get_moby_dick.sh\n");
        return EXIT_FAILURE;
    }
    lo.cell = strcmp(a.rnn, "gru") == 0 ? KILN_RNN_GRU : KILN_RNN_LSTM;
    lo.vocab = kiln_vocab_size(lm.vocab);
    lo.hidden = a.hidden;
    lo.n_layers = (int32_t)a.layers;
    lo.dropout = (float)a.dropout;
    lo.seed = a.base.seed;
    printf("data: %s: %lld characters (%d distinct + padding and unknown), %lld for training, "
           "%lld held out\n",
           a.base.data, (long long)lm.n, kiln_vocab_n_chars(lm.vocab) - 2, (long long)lm.n_train,
           (long long)(lm.n - lm.n_train));
    if (kiln_context_create(NULL, &ctx) != KILN_OK || kiln_store_create(ctx, &store) != KILN_OK) {
        rc = fail("creating a context");
        goto done;
    }
    printf("backend: %s, device: %s%s\n", kiln_context_backend(ctx), kiln_context_device(ctx),
           kiln_context_check(ctx) ? " (KILN_CHECK on)" : "");
    if (build_net(store, &lo, a.bptt, a.base.batch, 1, 1, &tr) != KILN_OK ||
        build_net(store, &lo, a.bptt, a.base.batch, 1, 0, &ev) != KILN_OK) {
        rc = fail("building the model");
        goto done;
    }
    struct kiln_optim_options oo = optim_options(&a.base);
    oo.clip_norm = (float)a.clip;
    if (kiln_optimizer_create(store, &oo, &opt) != KILN_OK) {
        rc = fail("creating the optimizer");
        goto done;
    }
    printf("model: char %s, %d layer%s of %lld, vocabulary %lld: %lld parameters\n",
           kiln_rnn_cell_name(lo.cell), lo.n_layers, lo.n_layers == 1 ? "" : "s",
           (long long)lo.hidden, (long long)lo.vocab, (long long)kiln_store_n_param_elems(store));
    printf("training: %s lr %g, gradient norm clipped at %g, %lld streams of %lld-step chunks "
           "(truncated BPTT, state carried), dropout %g, %d epoch%s\n",
           a.base.optimizer, (double)oo.lr, a.clip, (long long)a.base.batch, (long long)a.bptt,
           a.dropout, a.base.epochs, a.base.epochs == 1 ? "" : "s");
    if (train_epochs(&a, &lm, &lo, &tr, &ev, opt) != EXIT_SUCCESS) {
        goto done;
    }
    config_json(&lo, cfg, sizeof(cfg));
    if (a.out != NULL && save_text_model(store, a.out, "charlm", cfg, lm.vocab) != EXIT_SUCCESS) {
        goto done;
    }
    rc = EXIT_SUCCESS;
done:
    free_net(&tr);
    free_net(&ev);
    kiln_store_destroy(store);
    kiln_context_destroy(ctx);
    kiln_lm_text_fini(&lm);
    return rc;
}

/* ==== kiln sample ==== */

/* Appends code point cp as UTF-8 to f. */
static void put_utf8(FILE *f, int32_t cp)
{
    if (cp < 0x80) {
        fputc(cp, f);
    } else if (cp < 0x800) {
        fputc(0xc0 | (cp >> 6), f);
        fputc(0x80 | (cp & 0x3f), f);
    } else if (cp < 0x10000) {
        fputc(0xe0 | (cp >> 12), f);
        fputc(0x80 | ((cp >> 6) & 0x3f), f);
        fputc(0x80 | (cp & 0x3f), f);
    } else {
        fputc(0xf0 | (cp >> 18), f);
        fputc(0x80 | ((cp >> 12) & 0x3f), f);
        fputc(0x80 | ((cp >> 6) & 0x3f), f);
        fputc(0x80 | (cp & 0x3f), f);
    }
}

/* A uniform double in [0, 1) from a splitmix64 state. */
static double next_unit(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

/* Draws a character id from softmax(logits / temperature) over the characters (the
 * padding and unknown ids are never drawn). */
static int32_t draw(const float *logits, int64_t vocab, double temp, uint64_t *rng, double *p)
{
    double mx = -INFINITY, sum = 0.0;
    for (int64_t i = KILN_VOCAB_UNK + 1; i < vocab; i++) {
        mx = logits[i] > mx ? logits[i] : mx;
    }
    for (int64_t i = KILN_VOCAB_UNK + 1; i < vocab; i++) {
        p[i] = exp(((double)logits[i] - mx) / temp);
        sum += p[i];
    }
    double u = next_unit(rng) * sum;
    for (int64_t i = KILN_VOCAB_UNK + 1; i < vocab; i++) {
        if (u < p[i]) {
            return (int32_t)i;
        }
        u -= p[i];
    }
    return (int32_t)(vocab - 1);
}

struct sample_args {
    const char *checkpoint, *prompt;
    int64_t length;
    double temperature;
    uint64_t seed;
};

static int parse_sample_args(int argc, char **argv, struct sample_args *s)
{
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t x;
        int ok = 1;
        if (strcmp(o, "--prompt") == 0) {
            ok = v != NULL;
            s->prompt = v;
        } else if (strcmp(o, "--length") == 0) {
            ok = parse_int(o, v, 0, 10000000, &s->length);
        } else if (strcmp(o, "--temperature") == 0) {
            ok = parse_real(o, v, &s->temperature);
        } else if (strcmp(o, "--seed") == 0) {
            ok = parse_int(o, v, 0, INT64_MAX, &x);
            s->seed = (uint64_t)x;
        } else if (o[0] != '-' && s->checkpoint == NULL) {
            s->checkpoint = o;
            i--;
        } else {
            fprintf(stderr, "kiln sample: unknown option '%s'\n", o);
            ok = 0;
        }
        if (!ok) {
            return 0;
        }
        i++;
    }
    if (s->checkpoint == NULL) {
        fprintf(stderr, "kiln sample: which checkpoint? (kiln sample CHECKPOINT)\n");
        return 0;
    }
    return 1;
}

/* The character model's options from the configuration saved with it. */
static int read_config(const char *json, struct kiln_char_lm_options *o)
{
    cJSON *c = cJSON_Parse(json);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(c, "model");
    const cJSON *cell = cJSON_GetObjectItemCaseSensitive(c, "cell");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(c, "layers");
    const cJSON *hidden = cJSON_GetObjectItemCaseSensitive(c, "hidden");
    int ok = c != NULL && cJSON_IsString(model) && strcmp(model->valuestring, "charlm") == 0 &&
             cJSON_IsString(cell) && cJSON_IsNumber(layers) && cJSON_IsNumber(hidden);
    if (ok) {
        o->cell = strcmp(cell->valuestring, "gru") == 0 ? KILN_RNN_GRU : KILN_RNN_LSTM;
        o->n_layers = (int32_t)layers->valuedouble;
        o->hidden = (int64_t)hidden->valuedouble;
    }
    cJSON_Delete(c);
    return ok;
}

int cmd_sample(int argc, char **argv)
{
    struct sample_args sa = {NULL, "The ", 500, 0.8, 0};
    struct kiln_char_lm_options lo = KILN_CHAR_LM_OPTIONS_INIT;
    kiln_vocab *v = NULL;
    kiln_context *ctx = NULL;
    kiln_store *store = NULL;
    struct lm_net m = {0};
    struct lm_buf b = {0};
    char *cfg = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    double *p = NULL;
    int rc = EXIT_FAILURE;
    if (!parse_sample_args(argc, argv, &sa)) {
        return EXIT_USAGE;
    }
    if (load_text_model(sa.checkpoint, &cfg, &v) != EXIT_SUCCESS) {
        return EXIT_FAILURE;
    }
    if (!read_config(cfg, &lo)) {
        fprintf(stderr, "kiln sample: %s is not a character language model\n", sa.checkpoint);
        goto done;
    }
    lo.vocab = kiln_vocab_size(v);
    int64_t n_prompt = 0, len = (int64_t)strlen(sa.prompt);
    ids = malloc((size_t)(len + 1) * sizeof(int32_t));
    logits = malloc((size_t)lo.vocab * sizeof(float));
    p = malloc((size_t)lo.vocab * sizeof(double));
    if (ids == NULL || logits == NULL || p == NULL ||
        (len > 0 && kiln_vocab_encode(v, sa.prompt, (size_t)len, ids, len, &n_prompt) != KILN_OK)) {
        rc = fail("encoding the prompt");
        goto done;
    }
    if (kiln_context_create(NULL, &ctx) != KILN_OK || kiln_store_create(ctx, &store) != KILN_OK ||
        build_net(store, &lo, 1, 1, 0, 0, &m) != KILN_OK ||
        kiln_store_load(store, sa.checkpoint, 0) != KILN_OK || !alloc_buf(&m, lo.vocab, &b)) {
        rc = fail("loading the model");
        goto done;
    }
    uint64_t rng = sa.seed;
    /* The prompt feeds the state; without one, generation starts from a line break. */
    int32_t cur = n_prompt > 0 ? ids[0] : kiln_vocab_char_id(v, '\n');
    fputs(sa.prompt, stdout);
    kiln_tensor *targets[3] = {m.logits, m.hn, m.cn};
    for (int64_t i = 0; i < n_prompt - 1 + sa.length; i++) {
        one_hot_rows(&cur, 1, 1, lo.vocab, b.x);
        size_t sb = (size_t)m.state * sizeof(float);
        if (kiln_tensor_upload(m.x, b.x, (size_t)lo.vocab * sizeof(float)) != KILN_OK ||
            kiln_tensor_upload(m.h0, b.h, sb) != KILN_OK ||
            (m.c0 != NULL && kiln_tensor_upload(m.c0, b.c, sb) != KILN_OK) ||
            kiln_graph_eval(m.g, m.cn != NULL ? 3 : 2, targets) != KILN_OK ||
            kiln_tensor_download(m.logits, logits, (size_t)lo.vocab * sizeof(float)) != KILN_OK ||
            kiln_tensor_download(m.hn, b.h, sb) != KILN_OK ||
            (m.cn != NULL && kiln_tensor_download(m.cn, b.c, sb) != KILN_OK)) {
            rc = fail("sampling");
            goto done;
        }
        if (i + 1 < n_prompt) {
            cur = ids[i + 1];
            continue;
        }
        cur = draw(logits, lo.vocab, sa.temperature, &rng, p);
        put_utf8(stdout, kiln_vocab_char(v, cur));
    }
    fputc('\n', stdout);
    rc = EXIT_SUCCESS;
done:
    free_buf(&b);
    free_net(&m);
    kiln_store_destroy(store);
    kiln_context_destroy(ctx);
    kiln_vocab_destroy(v);
    free(cfg);
    free(ids);
    free(logits);
    free(p);
    return rc;
}
