/*
 * text_common.c - what the text models of the kiln program share (train_text.c,
 * train_lm.c, and the text handlers of eval.c and predict.c): the table of text
 * models, their defaults and default data, their configuration as checkpoint metadata
 * (the model's options in "config", the vocabulary with the label names in "vocab"),
 * the graphs of a text classifier (one per batch length over one parameter store,
 * built when a length first occurs), opening a text classifier's checkpoint for
 * inference, and one-hot rows of character ids. The option rows of the text models
 * are in opts.c's table with the others.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ==== The text models ==== */

/* A text model of `kiln train`: its scope bit and, for a classifier, its
 * kiln_text_classifier kind (-1: the character language model). */
static const struct {
    const char *name;
    unsigned scope;
    int kind;
} text_models[] = {
    {"textcnn", SC_TEXTCNN, KILN_TEXT_CNN},
    {"textrnn", SC_TEXTRNN, KILN_TEXT_RNN},
    {"textattn", SC_TEXTATTN, KILN_TEXT_ATTN},
    {"charlm", SC_CHARLM, -1},
};

#define N_TEXT_MODELS ((int)(sizeof(text_models) / sizeof(text_models[0])))

unsigned text_scope(const char *model)
{
    for (int i = 0; model != NULL && i < N_TEXT_MODELS; i++) {
        if (strcmp(model, text_models[i].name) == 0) {
            return text_models[i].scope;
        }
    }
    return 0;
}

static int text_kind(const char *model)
{
    for (int i = 0; model != NULL && i < N_TEXT_MODELS; i++) {
        if (strcmp(model, text_models[i].name) == 0) {
            return text_models[i].kind;
        }
    }
    return -1;
}

const char *text_default_data(const char *model)
{
    static char lm_buf[4096], buf[4096];
    if (text_scope(model) == SC_CHARLM) {
        char *b = lm_buf;
        /* where tools/data/get_moby_dick.sh puts Moby Dick */
        const char *d = getenv("KILN_DATA_DIR"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
        if (d != NULL && d[0] != '\0') {
            snprintf(b, sizeof(lm_buf), "%s/moby-dick/data.txt", d);
        } else if (x != NULL && x[0] != '\0') {
            snprintf(b, sizeof(lm_buf), "%s/kiln/data/moby-dick/data.txt", x);
        } else {
            snprintf(b, sizeof(lm_buf), "%s/.cache/kiln/data/moby-dick/data.txt",
                     h != NULL ? h : "");
        }
        return b;
    }
    /* fortunes-zh-5 where Meson builds it: data/ next to this program (build/tools) */
    ssize_t len = readlink("/proc/self/exe", buf, sizeof(buf) - 32);
    if (len <= 0) {
        return "fortunes-zh-5";
    }
    buf[len] = '\0';
    char *slash = strrchr(buf, '/');
    snprintf(slash != NULL ? slash : buf, 32, "%sdata/fortunes-zh-5", slash != NULL ? "/" : "");
    return buf;
}

void text_defaults(const char *model, struct train_args *a)
{
    a->optimizer = "adam";
    a->rnn = "lstm";
    a->pool = "max";
    a->layers = 1;
    a->data = text_default_data(model);
    if (text_scope(model) == SC_CHARLM) {
        /* measured on Moby Dick: more updates per character beat longer chunks */
        a->epochs = 10;
        a->batch = 32;
        a->bptt = 64;
        a->clip = 5.0;
        a->hidden = 256;
        return;
    }
    a->epochs = 20;
    a->batch = 64;
    a->schedule = "cosine";
    a->embed = 128;
    a->max_len = 128;
    a->dropout = 0.5;
    a->hidden = text_scope(model) == SC_TEXTCNN ? 200 : 128;
    a->widths = "1,2,3,4";
    a->heads = 4;
    a->embed_std = 1.0; /* nn.Embedding's */
    /* measured on fortunes-zh-5 (README): bigram embeddings lift the recurrent and the
     * attention classifiers above a linear model on n-grams; textcnn's convolutions see
     * the character n-grams themselves */
    a->bigrams = text_scope(model) != SC_TEXTCNN;
    if (text_scope(model) == SC_TEXTATTN) {
        /* measured on fortunes-zh-5 (README): with nn.Embedding's N(0, 1), Adam's steps
         * barely move the embeddings and a mean-pooled encoder underfits; at 0.1 they
         * learn */
        a->embed = 64;
        a->embed_std = 0.1;
        a->hidden = 256;
        a->dropout = 0.1;
        a->batch = 32;
        a->epochs = 15;
    }
}

int text_widths(const char *s, int32_t *w)
{
    int n = 0, pos = 0, len = 0, ok = s != NULL;
    while (ok && s[pos] != '\0' && n < 4 && sscanf(s + pos, "%d%n", &w[n], &len) == 1) {
        ok = len > 0 && w[n] >= 1 && w[n] <= 64 && (s[pos] >= '0' && s[pos] <= '9');
        n++;
        pos += len;
        pos += s[pos] == ',' && s[pos + 1] != '\0';
    }
    return ok && n >= 1 && s[pos] == '\0' ? n : 0;
}

const char *text_check(const struct train_args *a)
{
    int32_t w[4];
    if (a->dropout >= 1.0) {
        return "--dropout expects a probability in [0, 1)";
    }
    if (text_scope(a->model) == SC_TEXTCNN && text_widths(a->widths, w) == 0) {
        return "--widths expects 1 to 4 widths in [1, 64] separated by commas, e.g. 2,3,4";
    }
    if (text_scope(a->model) == SC_TEXTATTN && a->embed % a->heads != 0) {
        return "--heads must divide --embed (each head reads embed / heads features)";
    }
    return NULL;
}

/* ==== Configuration ==== */

void text_cfg_from_args(struct model_cfg *cfg, const struct train_args *a, int32_t n_classes,
                        int64_t vocab_size)
{
    struct kiln_text_classifier_options to = KILN_TEXT_CLASSIFIER_OPTIONS_INIT;
    struct kiln_char_lm_options lo = KILN_CHAR_LM_OPTIONS_INIT;
    kiln_rnn_cell cell = strcmp(a->rnn, "gru") == 0 ? KILN_RNN_GRU : KILN_RNN_LSTM;
    snprintf(cfg->model, sizeof(cfg->model), "%s", a->model);
    snprintf(cfg->input_kind, sizeof(cfg->input_kind), "text");
    snprintf(cfg->loss, sizeof(cfg->loss), "xent");
    cfg->n_classes = n_classes;
    cfg->seed = (uint64_t)a->seed;
    cfg->max_len = a->max_len;
    cfg->bigrams = a->bigrams;
    if (text_scope(a->model) == SC_CHARLM) {
        lo.cell = cell;
        lo.vocab = vocab_size;
        lo.hidden = a->hidden;
        lo.n_layers = (int32_t)a->layers;
        lo.dropout = (float)a->dropout;
        lo.seed = (uint64_t)a->seed;
        cfg->lm = lo;
        return;
    }
    to.model = (kiln_text_model)text_kind(a->model);
    to.vocab = vocab_size;
    to.n_classes = n_classes;
    to.embed = a->embed;
    to.cell = cell;
    to.hidden = a->hidden;
    to.filters = a->hidden;
    to.n_layers = (int32_t)a->layers;
    to.bidirectional = a->bidirectional;
    to.n_heads = (int32_t)a->heads;
    to.attn_pool = strcmp(a->pool, "attn") == 0;
    to.embed_std = (float)a->embed_std;
    to.dropout = (float)a->dropout;
    to.seed = (uint64_t)a->seed;
    if (to.model == KILN_TEXT_CNN) {
        memset(to.widths, 0, sizeof(to.widths));
        to.n_widths = text_widths(a->widths, to.widths);
    }
    cfg->text = to;
}

void text_cfg_to_json(const struct model_cfg *cfg, struct cJSON *c)
{
    int lm = text_scope(cfg->model) == SC_CHARLM;
    const struct kiln_text_classifier_options *t = &cfg->text;
    kiln_rnn_cell cell = lm ? cfg->lm.cell : t->cell;
    cJSON_AddStringToObject(c, "cell", kiln_rnn_cell_name(cell));
    cJSON_AddNumberToObject(c, "hidden", (double)(lm ? cfg->lm.hidden : t->hidden));
    cJSON_AddNumberToObject(c, "layers", lm ? cfg->lm.n_layers : t->n_layers);
    cJSON_AddNumberToObject(c, "vocab_size", (double)(lm ? cfg->lm.vocab : t->vocab));
    cJSON_AddNumberToObject(c, "dropout", lm ? cfg->lm.dropout : t->dropout);
    if (lm) {
        return;
    }
    cJSON_AddNumberToObject(c, "embed", (double)t->embed);
    cJSON_AddNumberToObject(c, "bidirectional", t->bidirectional);
    cJSON_AddNumberToObject(c, "heads", t->n_heads);
    cJSON_AddStringToObject(c, "pool", t->attn_pool ? "attn" : "max");
    cJSON_AddNumberToObject(c, "filters", (double)t->filters);
    cJSON *w = cJSON_CreateIntArray(t->widths, t->n_widths);
    if (w != NULL) {
        cJSON_AddItemToObject(c, "widths", w);
    }
    cJSON_AddNumberToObject(c, "bigrams", cfg->bigrams);
    cJSON_AddNumberToObject(c, "max_len", (double)cfg->max_len);
}

/* A number of c named key in [lo, hi]; *ok = 0 when it is missing or out of range. */
static double num_in(const cJSON *c, const char *key, double lo, double hi, int *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) {
        *ok = 0;
        return lo;
    }
    return v->valuedouble;
}

int text_cfg_from_json(struct model_cfg *cfg, const struct cJSON *c)
{
    struct kiln_text_classifier_options t = KILN_TEXT_CLASSIFIER_OPTIONS_INIT;
    struct kiln_char_lm_options lo = KILN_CHAR_LM_OPTIONS_INIT;
    const cJSON *cell = cJSON_GetObjectItemCaseSensitive(c, "cell");
    int ok = cJSON_IsString(cell) && text_scope(cfg->model) != 0;
    kiln_rnn_cell k = ok && strcmp(cell->valuestring, "gru") == 0 ? KILN_RNN_GRU : KILN_RNN_LSTM;
    ok = ok && (strcmp(cell->valuestring, "gru") == 0 || strcmp(cell->valuestring, "lstm") == 0);
    int64_t hidden = (int64_t)num_in(c, "hidden", 1, 65536, &ok);
    int32_t layers = (int32_t)num_in(c, "layers", 1, 64, &ok);
    int64_t vocab = (int64_t)num_in(c, "vocab_size", 2, 2147483647.0, &ok);
    float dropout = (float)num_in(c, "dropout", 0, 0.999, &ok);
    if (ok && text_scope(cfg->model) == SC_CHARLM) {
        lo.cell = k;
        lo.hidden = hidden;
        lo.n_layers = layers;
        lo.vocab = vocab;
        lo.dropout = dropout;
        lo.seed = cfg->seed;
        cfg->lm = lo;
        return 1;
    }
    t.model = (kiln_text_model)text_kind(cfg->model);
    t.vocab = vocab;
    t.n_classes = cfg->n_classes;
    t.cell = k;
    t.hidden = hidden;
    t.n_layers = layers;
    t.dropout = dropout;
    t.seed = cfg->seed;
    t.embed = (int64_t)num_in(c, "embed", 1, 65536, &ok);
    t.bidirectional = (int32_t)num_in(c, "bidirectional", 0, 1, &ok);
    const cJSON *pool = cJSON_GetObjectItemCaseSensitive(c, "pool");
    if (pool != NULL) { /* absent in the first text checkpoints: the maximum */
        ok = ok && cJSON_IsString(pool) &&
             (strcmp(pool->valuestring, "max") == 0 || strcmp(pool->valuestring, "attn") == 0);
        t.attn_pool = ok && strcmp(pool->valuestring, "attn") == 0;
    }
    if (cJSON_GetObjectItemCaseSensitive(c, "heads") != NULL || t.model == KILN_TEXT_ATTN) {
        t.n_heads = (int32_t)num_in(c, "heads", 1, 4096, &ok);
        ok = ok && t.embed % t.n_heads == 0;
    }
    t.filters = (int64_t)num_in(c, "filters", 1, 65536, &ok);
    cfg->bigrams = (int)num_in(c, "bigrams", 0, 1, &ok);
    cfg->max_len = (int64_t)num_in(c, "max_len", 1, 100000, &ok);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(c, "widths");
    int nw = cJSON_IsArray(w) ? cJSON_GetArraySize(w) : -1;
    ok = ok && nw >= 0 && nw <= 4 && (t.model != KILN_TEXT_CNN || nw >= 1);
    memset(t.widths, 0, sizeof(t.widths));
    for (int i = 0; ok && i < nw; i++) {
        const cJSON *e = cJSON_GetArrayItem(w, i);
        ok = cJSON_IsNumber(e) && e->valuedouble >= 1 && e->valuedouble <= 64;
        t.widths[i] = ok ? (int32_t)e->valuedouble : 0;
    }
    t.n_widths = nw > 0 ? nw : t.n_widths;
    cfg->text = t;
    return ok;
}

char *text_vocab_json(const kiln_vocab *v)
{
    size_t n = 0;
    char *s = NULL;
    if (kiln_vocab_save(v, NULL, 0, &n) != KILN_OK || (s = malloc(n + 1)) == NULL ||
        kiln_vocab_save(v, s, n + 1, &n) != KILN_OK) {
        fail("writing the vocabulary");
        free(s);
        return NULL;
    }
    return s;
}

/* ==== The graphs of a text classifier ==== */

/* Builds the graphs of batch length t into m (the training graph when s->training). */
static kiln_status build_net(struct text_nets *s, int64_t t, struct text_net *m)
{
    const struct kiln_text_classifier_options *o = &s->cfg->text;
    int64_t idd[2] = {s->batch, t}, nd[1] = {s->batch};
    m->t = t;
    if (s->training) {
        KILN_TRY_CLI(kiln_graph_create_in(s->store, &m->g));
        m->ids = kiln_input(m->g, "ids", KILN_DTYPE_I32, 2, idd);
        m->bi = s->cfg->bigrams ? kiln_input(m->g, "bigram_ids", KILN_DTYPE_I32, 2, idd) : NULL;
        m->len = kiln_input(m->g, "lengths", KILN_DTYPE_I32, 1, nd);
        m->y = kiln_input(m->g, "labels", KILN_DTYPE_I32, 1, nd);
        kiln_tensor *logits = kiln_text_classifier(m->g, m->ids, m->bi, m->len, o);
        m->loss = kiln_tensor_keep(kiln_softmax_xent(m->g, logits, m->y));
        KILN_TRY_CLI(kiln_graph_backward(m->g, m->loss));
        KILN_TRY_CLI(kiln_graph_compile(m->g));
    }
    KILN_TRY_CLI(kiln_graph_create_in(s->store, &m->eg));
    m->eids = kiln_input(m->eg, "ids", KILN_DTYPE_I32, 2, idd);
    m->ebi = s->cfg->bigrams ? kiln_input(m->eg, "bigram_ids", KILN_DTYPE_I32, 2, idd) : NULL;
    m->elen = kiln_input(m->eg, "lengths", KILN_DTYPE_I32, 1, nd);
    kiln_tensor *logits = kiln_text_classifier(m->eg, m->eids, m->ebi, m->elen, o);
    m->probs = kiln_tensor_keep(kiln_softmax(m->eg, logits));
    m->pred = kiln_tensor_keep(kiln_argmax(m->eg, logits));
    KILN_TRY_CLI(kiln_graph_status(m->eg));
    return kiln_graph_compile(m->eg);
}

kiln_status text_nets_get(struct text_nets *s, int64_t t, struct text_net **out)
{
    for (int32_t i = 0; i < s->n; i++) {
        if (s->nets[i].t == t) {
            *out = &s->nets[i];
            return KILN_OK;
        }
    }
    if (s->n == TEXT_MAX_NETS) {
        fprintf(stderr,
                "kiln: more than %d batch lengths (multiples of 16 up to --max-len); use a "
                "smaller --max-len\n",
                TEXT_MAX_NETS);
        return KILN_E_INVALID_ARG;
    }
    struct text_net *m = &s->nets[s->n++];
    memset(m, 0, sizeof(*m));
    *out = m;
    return build_net(s, t, m);
}

void text_nets_fini(struct text_nets *s)
{
    for (int32_t i = 0; i < s->n; i++) {
        kiln_graph_destroy(s->nets[i].g);
        kiln_graph_destroy(s->nets[i].eg);
    }
    s->n = 0;
}

void text_lengths(const struct kiln_text_batch *b, int32_t *len)
{
    /* A padded row (length 0) reads one padding character, so that every row of a
     * graph has a real step; its label is -1 and it counts nowhere. */
    for (int64_t i = 0; i < b->batch; i++) {
        len[i] = b->lengths[i] > 0 ? b->lengths[i] : 1;
    }
}

kiln_status text_nets_eval(struct text_nets *s, const struct kiln_text_batch *b, float *probs,
                           int32_t *pred)
{
    struct text_net *m;
    size_t ib = (size_t)(b->batch * b->t) * sizeof(int32_t);
    size_t nb = (size_t)b->batch * sizeof(int32_t);
    int32_t *len = malloc(nb);
    kiln_status st = len != NULL ? text_nets_get(s, b->t, &m) : KILN_E_OUT_OF_HOST_MEMORY;
    kiln_tensor *targets[2];
    int n_targets = 0;
    if (st == KILN_OK) {
        text_lengths(b, len);
        targets[n_targets++] = probs != NULL ? m->probs : m->pred;
        if (probs != NULL && pred != NULL) {
            targets[n_targets++] = m->pred;
        }
        st = kiln_tensor_upload(m->eids, b->ids, ib);
    }
    if (st == KILN_OK && m->ebi != NULL) {
        st = kiln_tensor_upload(m->ebi, b->bigram_ids, ib);
    }
    st = st == KILN_OK ? kiln_tensor_upload(m->elen, len, nb) : st;
    st = st == KILN_OK ? kiln_graph_eval(m->eg, n_targets, targets) : st;
    if (st == KILN_OK && probs != NULL) {
        st = kiln_tensor_download(m->probs, probs,
                                  (size_t)(b->batch * s->cfg->n_classes) * sizeof(float));
    }
    if (st == KILN_OK && pred != NULL) {
        st = kiln_tensor_download(m->pred, pred, nb);
    }
    free(len);
    return st;
}

int text_iter_for(const struct model_cfg *cfg, const struct kiln_text_split *split,
                  const kiln_vocab *v, int64_t batch, int training, kiln_text_iter **it)
{
    struct kiln_text_iter_options io = KILN_TEXT_ITER_OPTIONS_INIT;
    io.batch_size = batch;
    io.max_len = cfg->max_len;
    io.len_multiple = 16; /* a few batch lengths, so a few graphs */
    io.seed = cfg->seed;
    io.bigrams = cfg->bigrams;
    io.flags = training ? KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST : 0;
    io.bucket_window = training ? 8 * batch : 0;
    if (kiln_text_iter_create(split, v, &io, it) != KILN_OK) {
        fail("batching the texts");
        return 0;
    }
    return 1;
}

/* ==== Inference ==== */

int text_open(const struct model_cfg *cfg, int64_t batch, kiln_context **ctx, kiln_vocab **v,
              struct text_nets *nets)
{
    struct kiln_load_options lo = KILN_LOAD_OPTIONS_INIT;
    struct text_net *first;
    memset(nets, 0, sizeof(*nets));
    *ctx = NULL;
    *v = NULL;
    if (text_scope(cfg->model) == SC_CHARLM || cfg->vocab == NULL) {
        fprintf(stderr, "kiln: %s is not a text classifier with its vocabulary\n", cfg->source);
        return EXIT_FAILURE;
    }
    if (kiln_vocab_load(cfg->vocab, v) != KILN_OK) {
        return fail("reading the checkpoint's vocabulary");
    }
    if (kiln_vocab_size(*v) != cfg->text.vocab) {
        fprintf(stderr, "kiln: %s: the vocabulary has %d entries, the model %lld\n", cfg->source,
                kiln_vocab_size(*v), (long long)cfg->text.vocab);
        return EXIT_FAILURE;
    }
    if (open_context(ctx, NULL) != EXIT_SUCCESS) {
        return EXIT_FAILURE;
    }
    nets->cfg = cfg;
    nets->batch = batch;
    if (kiln_store_create(*ctx, &nets->store) != KILN_OK ||
        text_nets_get(nets, 16, &first) != KILN_OK) {
        return fail("building the model");
    }
    if (kiln_checkpoint_load(nets->store, cfg->source, &lo, NULL) != KILN_OK) {
        return fail("loading the weights");
    }
    return EXIT_SUCCESS;
}

void text_close(kiln_context *ctx, kiln_vocab *v, struct text_nets *nets)
{
    text_nets_fini(nets);
    kiln_store_destroy(nets->store);
    nets->store = NULL;
    kiln_vocab_destroy(v);
    kiln_context_destroy(ctx);
}

/* ==== Character models ==== */

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
