/*
 * text_attention.c - a transformer-encoder text classifier with kiln's public API, on a
 * directory of train.tsv and test.tsv (`label<TAB>text`, UTF-8), such as the
 * fortunes-zh-5 set that Meson builds in build/tools/data/fortunes-zh-5.
 *
 * Builds a character vocabulary with bigrams from the training texts, batches texts by
 * length (each batch padded to a multiple of 16 characters, at most 128), and trains
 * kiln_text_transformer (kiln/attention.h: embeddings of characters and bigrams,
 * sinusoidal positions, pre-norm encoder layers masking the padding, the mean over the
 * real steps, a linear layer) with AdamW. One training and one evaluation graph per
 * batch length share a parameter store. Prints the test accuracy after every epoch.
 * The backend comes from KILN_BACKEND (auto, cpu, opencl, vulkan).
 *
 *   cc text_attention.c $(pkg-config --cflags --libs kiln) -o text_attention
 *   ./text_attention DIR [EPOCHS [SEED]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"

#define BATCH   32
#define MAX_LEN 128
#define STEP    16 /* batch lengths are multiples of this */
#define N_LENS  (MAX_LEN / STEP)

static int die(const char *what)
{
    fprintf(stderr, "%s failed: %s\n", what, kiln_last_error());
    return 1;
}

/* The graphs of one batch length. */
struct net {
    kiln_graph *g, *eg;
    kiln_tensor *ids, *bi, *len, *labels, *loss;
    kiln_tensor *eids, *ebi, *elen, *logits;
};

/* Builds the classifier on g over ids, bigram ids and lengths of t steps. */
static kiln_tensor *build(kiln_graph *g, int64_t t, const struct kiln_text_transformer_options *o,
                          kiln_tensor **ids, kiln_tensor **bi, kiln_tensor **len)
{
    int64_t d[2] = {BATCH, t};
    *ids = kiln_input(g, "ids", KILN_DTYPE_I32, 2, d);
    *bi = kiln_input(g, "bigram_ids", KILN_DTYPE_I32, 2, d);
    *len = kiln_input(g, "lengths", KILN_DTYPE_I32, 1, d);
    return kiln_text_transformer(g, *ids, *bi, *len, o);
}

static kiln_status make_net(struct net *n, kiln_store *s, int64_t t,
                            const struct kiln_text_transformer_options *o)
{
    int64_t b = BATCH;
    if (kiln_graph_create_in(s, &n->g) != KILN_OK || kiln_graph_create_in(s, &n->eg) != KILN_OK) {
        return kiln_graph_status(n->g);
    }
    kiln_tensor *y = build(n->g, t, o, &n->ids, &n->bi, &n->len);
    n->labels = kiln_input(n->g, "labels", KILN_DTYPE_I32, 1, &b);
    n->loss = kiln_tensor_keep(kiln_softmax_xent(n->g, y, n->labels));
    n->logits = kiln_tensor_keep(build(n->eg, t, o, &n->eids, &n->ebi, &n->elen));
    kiln_status st = kiln_graph_backward(n->g, n->loss);
    st = st == KILN_OK ? kiln_graph_compile(n->g) : st;
    return st == KILN_OK ? kiln_graph_compile(n->eg) : st;
}

/* Lengths for the graphs: a padding row reads one padding character (length >= 1). */
static void lengths(const struct kiln_text_batch *b, int32_t *len)
{
    for (int64_t i = 0; i < b->batch; i++) {
        len[i] = b->lengths[i] > 0 ? b->lengths[i] : 1;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("usage: text_attention DIR [EPOCHS [SEED]]\n\n"
               "Trains a 2-layer transformer-encoder classifier on DIR/train.tsv (default 10\n"
               "epochs, AdamW lr 0.001, batch 32) and prints the test accuracy on DIR/test.tsv\n"
               "after every epoch. KILN_BACKEND picks the backend.\n");
        return argc < 2 ? 2 : 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* a line per epoch, also into a file */
    int64_t epochs = argc > 2 ? atoll(argv[2]) : 10;
    uint64_t seed = argc > 3 ? (uint64_t)atoll(argv[3]) : 1;
    struct kiln_text_data td = {0};
    kiln_vocab *v = NULL;
    kiln_text_iter *train = NULL, *test = NULL;
    kiln_context *ctx = NULL;
    kiln_store *s = NULL;
    kiln_optimizer *opt = NULL;
    struct net nets[N_LENS + 1];
    int rc = 1;
    memset(nets, 0, sizeof(nets));
    if (kiln_text_data_load(argv[1], &td) != KILN_OK) {
        rc = die("loading the data");
        goto done;
    }
    struct kiln_vocab_options vo = KILN_VOCAB_OPTIONS_INIT;
    vo.bigrams = 1;
    struct kiln_text_iter_options io = KILN_TEXT_ITER_OPTIONS_INIT;
    io.batch_size = BATCH;
    io.max_len = MAX_LEN;
    io.len_multiple = STEP;
    io.bigrams = 1;
    io.seed = seed;
    io.bucket_window = 20 * BATCH;
    io.flags = KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST;
    if (kiln_vocab_build((const char *const *)td.train.texts, NULL, td.train.n, &vo, &v) !=
            KILN_OK ||
        kiln_text_iter_create(&td.train, v, &io, &train) != KILN_OK) {
        rc = die("preparing the training texts");
        goto done;
    }
    io.flags = 0;
    io.bucket_window = 0;
    if (kiln_text_iter_create(&td.test, v, &io, &test) != KILN_OK ||
        kiln_context_create(NULL, &ctx) != KILN_OK || kiln_store_create(ctx, &s) != KILN_OK) {
        rc = die("setting up");
        goto done;
    }
    struct kiln_text_transformer_options to = KILN_TEXT_TRANSFORMER_OPTIONS_INIT;
    to.vocab = kiln_vocab_size(v);
    to.n_classes = td.n_classes;
    to.embed = 64;
    to.n_heads = 4;
    to.n_layers = 2;
    to.dropout = 0.1f;
    to.seed = seed;
    printf("backend %s: %lld training and %lld test texts, %lld classes, vocabulary %d\n",
           kiln_context_backend(ctx), (long long)td.train.n, (long long)td.test.n,
           (long long)td.n_classes, kiln_vocab_size(v));
    for (int64_t e = 0; e < epochs; e++) {
        struct kiln_text_batch b;
        double sum = 0.0;
        int64_t steps = 0, right = 0, seen = 0;
        int32_t len[BATCH];
        kiln_text_iter_reset(train, e);
        while (kiln_text_iter_next(train, &b) == KILN_OK && b.n > 0) {
            struct net *n = &nets[b.t / STEP];
            float l;
            if (n->g == NULL && make_net(n, s, b.t, &to) != KILN_OK) {
                rc = die("building a graph");
                goto done;
            }
            if (opt == NULL) {
                struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
                oo.kind = KILN_OPTIM_ADAM;
                oo.lr = 0.001f;
                oo.weight_decay = 0.01f;
                oo.decoupled = 1;
                if (kiln_optimizer_create(s, &oo, &opt) != KILN_OK) {
                    rc = die("creating the optimizer");
                    goto done;
                }
            }
            lengths(&b, len);
            size_t nb = (size_t)(b.batch * b.t) * sizeof(int32_t);
            if (kiln_tensor_upload(n->ids, b.ids, nb) != KILN_OK ||
                kiln_tensor_upload(n->bi, b.bigram_ids, nb) != KILN_OK ||
                kiln_tensor_upload(n->len, len, sizeof(len)) != KILN_OK ||
                kiln_tensor_upload(n->labels, b.labels, sizeof(len)) != KILN_OK ||
                kiln_train_step(n->g, opt) != KILN_OK ||
                kiln_tensor_download(n->loss, &l, sizeof(l)) != KILN_OK) {
                rc = die("training");
                goto done;
            }
            sum += l;
            steps++;
        }
        kiln_text_iter_reset(test, 0);
        while (kiln_text_iter_next(test, &b) == KILN_OK && b.n > 0) {
            struct net *n = &nets[b.t / STEP];
            float logits[BATCH * 64];
            if (n->g == NULL && make_net(n, s, b.t, &to) != KILN_OK) {
                rc = die("building a graph");
                goto done;
            }
            lengths(&b, len);
            size_t nb = (size_t)(b.batch * b.t) * sizeof(int32_t);
            kiln_tensor *y = n->logits;
            if (kiln_tensor_upload(n->eids, b.ids, nb) != KILN_OK ||
                kiln_tensor_upload(n->ebi, b.bigram_ids, nb) != KILN_OK ||
                kiln_tensor_upload(n->elen, len, sizeof(len)) != KILN_OK ||
                kiln_graph_eval(n->eg, 1, &y) != KILN_OK ||
                kiln_tensor_download(y, logits, (size_t)(BATCH * td.n_classes) * sizeof(float)) !=
                    KILN_OK) {
                rc = die("evaluating");
                goto done;
            }
            for (int64_t i = 0; i < b.n; i++) {
                int64_t best = 0;
                for (int64_t k = 1; k < td.n_classes; k++) {
                    best =
                        logits[i * td.n_classes + k] > logits[i * td.n_classes + best] ? k : best;
                }
                right += best == b.labels[i];
                seen++;
            }
        }
        printf("epoch %lld: loss %.4f, test accuracy %.4f\n", (long long)e + 1,
               steps > 0 ? sum / (double)steps : 0.0,
               seen > 0 ? (double)right / (double)seen : 0.0);
    }
    rc = 0;
done:
    for (int i = 0; i <= N_LENS; i++) {
        kiln_graph_destroy(nets[i].eg);
        kiln_graph_destroy(nets[i].g);
    }
    kiln_store_destroy(s);
    kiln_context_destroy(ctx);
    kiln_text_iter_destroy(test);
    kiln_text_iter_destroy(train);
    kiln_vocab_destroy(v);
    kiln_text_data_fini(&td);
    return rc;
}
