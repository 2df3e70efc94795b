/*
 * char_lm.c - a character language model with kiln's public API.
 *
 * Copy this file to start your own sequence model. It reads a UTF-8 text (Moby Dick from
 * tools/data/get_moby_dick.sh by default; any file works) and holds out its last 10%,
 * builds an LSTM over one-hot characters (kiln_char_lm) on a training graph of 32
 * streams of 64-step chunks and an evaluation graph of one step and one stream over the
 * same parameter store, trains by truncated backpropagation through time (the state of
 * each chunk carried into the next), prints the held-out bits per character, and
 * generates text from the model. The backend comes from KILN_BACKEND.
 *
 *   cc char_lm.c $(pkg-config --cflags --libs kiln) -lm -o char_lm
 *   ./char_lm [TEXT [STEPS]]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

#define STREAMS 32
#define STEPS_T 64
#define HIDDEN  256

static int die(const char *what)
{
    fprintf(stderr, "%s failed: %s\n", what, kiln_last_error());
    return 1;
}

/* x [t, n, v] one-hot rows of chunk [n, t + 1]'s first t ids; y [t n] the next ids. */
static void one_hot(const int32_t *chunk, int64_t t, int64_t n, int64_t v, float *x, int32_t *y)
{
    memset(x, 0, (size_t)(t * n * v) * sizeof(float));
    for (int64_t s = 0; s < t; s++) {
        for (int64_t b = 0; b < n; b++) {
            x[(s * n + b) * v + chunk[b * (t + 1) + s]] = 1.0f;
            if (y != NULL) {
                y[s * n + b] = chunk[b * (t + 1) + s + 1];
            }
        }
    }
}

/* UTF-8 of code point c to stdout. */
static void put_char(int32_t c)
{
    if (c < 0x80) {
        putchar(c);
    } else if (c < 0x800) {
        putchar(0xc0 | (c >> 6));
        putchar(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        putchar(0xe0 | (c >> 12));
        putchar(0x80 | ((c >> 6) & 0x3f));
        putchar(0x80 | (c & 0x3f));
    } else {
        putchar(0xf0 | (c >> 18));
        putchar(0x80 | ((c >> 12) & 0x3f));
        putchar(0x80 | ((c >> 6) & 0x3f));
        putchar(0x80 | (c & 0x3f));
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: char_lm [TEXT [STEPS]]\n\n"
               "Trains a character LSTM on TEXT (default: Moby Dick from\n"
               "tools/data/get_moby_dick.sh) for STEPS steps (default 300) of 32 streams of\n"
               "64-step chunks, prints the held-out bits per character and a sample.\n"
               "KILN_BACKEND picks the backend.\n");
        return 0;
    }
    char def[4096];
    snprintf(def, sizeof(def), "%s/.cache/kiln/data/moby-dick/data.txt",
             getenv("HOME") != NULL ? getenv("HOME") : "");
    const char *path = argc > 1 ? argv[1] : def;
    int64_t max_steps = argc > 2 ? atoll(argv[2]) : 300;
    struct kiln_lm_text lm;

    /* 1. Text: character ids, the vocabulary built from the first 90%. */
    if (kiln_lm_text_load(path, NULL, &lm) != KILN_OK) {
        return die("reading the text (fetch Moby Dick with tools/data/get_moby_dick.sh)");
    }
    int64_t v = kiln_vocab_size(lm.vocab), held = lm.n - lm.n_train;
    printf("%s: %lld characters, vocabulary %lld, %lld held out\n", path, (long long)lm.n,
           (long long)v, (long long)held);

    /* 2. One store, two graphs: training chunks, and one character at a time. */
    kiln_context *ctx;
    kiln_store *store;
    kiln_graph *train, *gen;
    if (kiln_context_create(NULL, &ctx) != KILN_OK || kiln_store_create(ctx, &store) != KILN_OK ||
        kiln_graph_create_in(store, &train) != KILN_OK ||
        kiln_graph_create_in(store, &gen) != KILN_OK) {
        return die("creating the context and graphs");
    }
    struct kiln_char_lm_options o = KILN_CHAR_LM_OPTIONS_INIT;
    o.vocab = v;
    o.hidden = HIDDEN;
    int64_t xd[3] = {STEPS_T, STREAMS, v}, sd[3] = {1, STREAMS, HIDDEN};
    int64_t yd[1] = {STEPS_T * STREAMS}, flat[2] = {STEPS_T * STREAMS, v};
    kiln_tensor *x = kiln_input(train, "x", KILN_DTYPE_F32, 3, xd);
    kiln_tensor *y = kiln_input(train, "y", KILN_DTYPE_I32, 1, yd);
    kiln_tensor *h0 = kiln_input(train, "h0", KILN_DTYPE_F32, 3, sd);
    kiln_tensor *c0 = kiln_input(train, "c0", KILN_DTYPE_F32, 3, sd);
    kiln_tensor *hn, *cn;
    kiln_tensor *logits = kiln_char_lm(train, x, h0, c0, &o, &hn, &cn);
    kiln_tensor *loss =
        kiln_tensor_keep(kiln_softmax_xent(train, kiln_reshape(train, logits, 2, flat), y));
    kiln_tensor_keep(hn);
    kiln_tensor_keep(cn);

    int64_t gxd[3] = {1, 1, v}, gsd[3] = {1, 1, HIDDEN};
    kiln_tensor *gx = kiln_input(gen, "x", KILN_DTYPE_F32, 3, gxd);
    kiln_tensor *gh0 = kiln_input(gen, "h0", KILN_DTYPE_F32, 3, gsd);
    kiln_tensor *gc0 = kiln_input(gen, "c0", KILN_DTYPE_F32, 3, gsd);
    kiln_tensor *ghn, *gcn;
    kiln_tensor *glogits = kiln_tensor_keep(kiln_char_lm(gen, gx, gh0, gc0, &o, &ghn, &gcn));
    kiln_tensor_keep(ghn);
    kiln_tensor_keep(gcn);

    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    oo.kind = KILN_OPTIM_ADAM;
    oo.lr = 0.002f;
    oo.clip_norm = 5.0f;
    kiln_optimizer *opt;
    if (kiln_graph_backward(train, loss) != KILN_OK || kiln_graph_compile(train) != KILN_OK ||
        kiln_graph_compile(gen) != KILN_OK || kiln_optimizer_create(store, &oo, &opt) != KILN_OK) {
        return die("building the model");
    }

    /* 3. Training: contiguous streams, the final state of a chunk starts the next. */
    size_t sb = sizeof(float) * STREAMS * HIDDEN;
    int32_t *chunk = malloc(sizeof(int32_t) * STREAMS * (STEPS_T + 1));
    int32_t *ys = malloc(sizeof(int32_t) * STEPS_T * STREAMS);
    float *xs = malloc(sizeof(float) * (size_t)(STEPS_T * STREAMS * v));
    float *h = calloc(STREAMS * HIDDEN, sizeof(float)),
          *c = calloc(STREAMS * HIDDEN, sizeof(float));
    float *p = malloc(sizeof(float) * (size_t)v);
    int64_t chunks = kiln_lm_stream_n_chunks(lm.n_train, STREAMS, STEPS_T);
    double sum = 0.0;
    for (int64_t step = 0; step < max_steps; step++) {
        float l;
        if (step % chunks == 0) {
            memset(h, 0, sb);
            memset(c, 0, sb);
        }
        kiln_lm_stream_chunk(lm.ids, lm.n_train, STREAMS, STEPS_T, step % chunks, chunk);
        one_hot(chunk, STEPS_T, STREAMS, v, xs, ys);
        if (kiln_tensor_upload(x, xs, sizeof(float) * (size_t)(STEPS_T * STREAMS * v)) != KILN_OK ||
            kiln_tensor_upload(y, ys, sizeof(int32_t) * STEPS_T * STREAMS) != KILN_OK ||
            kiln_tensor_upload(h0, h, sb) != KILN_OK || kiln_tensor_upload(c0, c, sb) != KILN_OK ||
            kiln_train_step(train, opt) != KILN_OK ||
            kiln_tensor_download(loss, &l, sizeof(l)) != KILN_OK ||
            kiln_tensor_download(hn, h, sb) != KILN_OK ||
            kiln_tensor_download(cn, c, sb) != KILN_OK) {
            return die("training");
        }
        sum += l;
        if ((step + 1) % 50 == 0) {
            printf("step %lld: %.3f bits/char\n", (long long)step + 1, sum / 50.0 / log(2.0));
            sum = 0.0;
        }
    }

    /* 4. Held-out bits per character, one character at a time on the generation graph. */
    size_t gb = sizeof(float) * HIDDEN;
    double nats = 0.0;
    int64_t n_eval = held < 5000 ? held : 5000;
    memset(h, 0, gb);
    memset(c, 0, gb);
    kiln_tensor *targets[3] = {glogits, ghn, gcn};
    const int32_t *ids = lm.ids + lm.n_train;
    for (int64_t i = 0; i + 1 < n_eval; i++) {
        one_hot(&ids[i], 1, 1, v, xs, NULL);
        if (kiln_tensor_upload(gx, xs, sizeof(float) * (size_t)v) != KILN_OK ||
            kiln_tensor_upload(gh0, h, gb) != KILN_OK ||
            kiln_tensor_upload(gc0, c, gb) != KILN_OK ||
            kiln_graph_eval(gen, 3, targets) != KILN_OK ||
            kiln_tensor_download(glogits, p, sizeof(float) * (size_t)v) != KILN_OK ||
            kiln_tensor_download(ghn, h, gb) != KILN_OK ||
            kiln_tensor_download(gcn, c, gb) != KILN_OK) {
            return die("evaluating");
        }
        double mx = p[0], z = 0.0;
        for (int64_t k = 1; k < v; k++) {
            mx = p[k] > mx ? p[k] : mx;
        }
        for (int64_t k = 0; k < v; k++) {
            z += exp(p[k] - mx);
        }
        nats += log(z) + mx - p[ids[i + 1]];
    }
    printf("held-out (first %lld characters): %.3f bits/char\n", (long long)n_eval,
           nats / (double)(n_eval - 1) / log(2.0));

    /* 5. Generation: sample each next character from the softmax (temperature 0.8). */
    uint64_t rng = 7;
    int32_t cur = kiln_vocab_char_id(lm.vocab, 'T');
    memset(h, 0, gb);
    memset(c, 0, gb);
    putchar('T');
    for (int i = 0; i < 300; i++) {
        one_hot(&cur, 1, 1, v, xs, NULL);
        if (kiln_tensor_upload(gx, xs, sizeof(float) * (size_t)v) != KILN_OK ||
            kiln_tensor_upload(gh0, h, gb) != KILN_OK ||
            kiln_tensor_upload(gc0, c, gb) != KILN_OK ||
            kiln_graph_eval(gen, 3, targets) != KILN_OK ||
            kiln_tensor_download(glogits, p, sizeof(float) * (size_t)v) != KILN_OK ||
            kiln_tensor_download(ghn, h, gb) != KILN_OK ||
            kiln_tensor_download(gcn, c, gb) != KILN_OK) {
            return die("sampling");
        }
        double mx = p[2], z = 0.0;
        for (int64_t k = 2; k < v; k++) {
            mx = p[k] > mx ? p[k] : mx;
        }
        for (int64_t k = 2; k < v; k++) {
            z += exp((p[k] - mx) / 0.8);
        }
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(rng >> 11) / 9007199254740992.0 * z;
        cur = (int32_t)(v - 1);
        for (int64_t k = 2; k < v; k++) { /* ids 0 and 1 are padding and unknown */
            u -= exp((p[k] - mx) / 0.8);
            if (u < 0.0) {
                cur = (int32_t)k;
                break;
            }
        }
        put_char(kiln_vocab_char(lm.vocab, cur));
    }
    putchar('\n');

    free(chunk);
    free(ys);
    free(xs);
    free(h);
    free(c);
    free(p);
    kiln_graph_destroy(train);
    kiln_graph_destroy(gen);
    kiln_store_destroy(store);
    kiln_context_destroy(ctx);
    kiln_lm_text_fini(&lm);
    return 0;
}
