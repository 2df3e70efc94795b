/*
 * train_text.c - `kiln train textcnn|textrnn`: a text classifier (kiln_text_classifier)
 * on a data set of label<TAB>text files (fortunes-zh-5 by default), with a character
 * vocabulary built from the training split, length-bucketed batches, one graph per
 * batch length over one parameter store (built when a length first occurs), the test
 * accuracy after every epoch, and --out saving the parameters with the configuration,
 * vocabulary and label names.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Graphs of one batch length: training (with labels and backward) and evaluation. */
struct text_net {
    int64_t t;
    kiln_graph *g, *eg;
    kiln_tensor *ids, *bi, *len, *y, *loss; /* training graph */
    kiln_tensor *eids, *ebi, *elen, *pred;  /* evaluation graph */
};

struct text_nets {
    kiln_store *store;
    const struct kiln_text_classifier_options *o;
    int64_t batch;
    int bigrams;
    struct text_net nets[64];
    int32_t n;
};

static void free_nets(struct text_nets *s)
{
    for (int32_t i = 0; i < s->n; i++) {
        kiln_graph_destroy(s->nets[i].g);
        kiln_graph_destroy(s->nets[i].eg);
    }
    s->n = 0;
}

/* The graphs for batches of t columns, built and compiled on first use. */
static kiln_status net_for(struct text_nets *s, int64_t t, struct text_net **out)
{
    for (int32_t i = 0; i < s->n; i++) {
        if (s->nets[i].t == t) {
            *out = &s->nets[i];
            return KILN_OK;
        }
    }
    if (s->n == (int32_t)(sizeof(s->nets) / sizeof(s->nets[0]))) {
        fprintf(stderr,
                "kiln: more than %d batch lengths (multiples of 16 up to --max-len); use "
                "a smaller --max-len\n",
                (int)(sizeof(s->nets) / sizeof(s->nets[0])));
        return KILN_E_INVALID_ARG;
    }
    struct text_net *m = &s->nets[s->n];
    memset(m, 0, sizeof(*m));
    m->t = t;
    int64_t idd[2] = {s->batch, t}, nd[1] = {s->batch};
    KILN_TRY_CLI(kiln_graph_create_in(s->store, &m->g));
    s->n++;
    m->ids = kiln_input(m->g, "ids", KILN_DTYPE_I32, 2, idd);
    m->bi = s->bigrams ? kiln_input(m->g, "bigram_ids", KILN_DTYPE_I32, 2, idd) : NULL;
    m->len = kiln_input(m->g, "lengths", KILN_DTYPE_I32, 1, nd);
    m->y = kiln_input(m->g, "labels", KILN_DTYPE_I32, 1, nd);
    kiln_tensor *logits = kiln_text_classifier(m->g, m->ids, m->bi, m->len, s->o);
    m->loss = kiln_tensor_keep(kiln_softmax_xent(m->g, logits, m->y));
    KILN_TRY_CLI(kiln_graph_backward(m->g, m->loss));
    KILN_TRY_CLI(kiln_graph_compile(m->g));
    KILN_TRY_CLI(kiln_graph_create_in(s->store, &m->eg));
    m->eids = kiln_input(m->eg, "ids", KILN_DTYPE_I32, 2, idd);
    m->ebi = s->bigrams ? kiln_input(m->eg, "bigram_ids", KILN_DTYPE_I32, 2, idd) : NULL;
    m->elen = kiln_input(m->eg, "lengths", KILN_DTYPE_I32, 1, nd);
    m->pred = kiln_tensor_keep(
        kiln_argmax(m->eg, kiln_text_classifier(m->eg, m->eids, m->ebi, m->elen, s->o)));
    KILN_TRY_CLI(kiln_graph_status(m->eg));
    KILN_TRY_CLI(kiln_graph_compile(m->eg));
    *out = m;
    return KILN_OK;
}

/* Padded rows of a batch (length 0) read one padding character, so that every row of
 * the graph has a real step; their labels are -1 and count nowhere. */
static void fix_lengths(const struct kiln_text_batch *b, int32_t *len)
{
    for (int64_t i = 0; i < b->batch; i++) {
        len[i] = b->lengths[i] > 0 ? b->lengths[i] : 1;
    }
}

/* Accuracy on a split. */
static kiln_status accuracy(struct text_nets *s, kiln_text_iter *it, double *acc)
{
    struct kiln_text_batch b;
    int32_t *pred = malloc((size_t)s->batch * sizeof(int32_t));
    int32_t *len = malloc((size_t)s->batch * sizeof(int32_t));
    int64_t right = 0, n = 0;
    kiln_status st = pred != NULL && len != NULL ? KILN_OK : KILN_E_OUT_OF_HOST_MEMORY;
    kiln_text_iter_reset(it, 0);
    while (st == KILN_OK && (st = kiln_text_iter_next(it, &b)) == KILN_OK && b.n > 0) {
        struct text_net *m;
        fix_lengths(&b, len);
        size_t ib = (size_t)(b.batch * b.t) * sizeof(int32_t), nb = (size_t)b.batch * 4;
        if ((st = net_for(s, b.t, &m)) != KILN_OK ||
            (st = kiln_tensor_upload(m->eids, b.ids, ib)) != KILN_OK ||
            (m->ebi != NULL && (st = kiln_tensor_upload(m->ebi, b.bigram_ids, ib)) != KILN_OK) ||
            (st = kiln_tensor_upload(m->elen, len, nb)) != KILN_OK ||
            (st = kiln_graph_eval(m->eg, 1, &m->pred)) != KILN_OK ||
            (st = kiln_tensor_download(m->pred, pred, nb)) != KILN_OK) {
            break;
        }
        for (int64_t i = 0; i < b.n; i++) {
            right += pred[i] == b.labels[i];
        }
        n += b.n;
    }
    *acc = n > 0 ? (double)right / (double)n : NAN;
    free(pred);
    free(len);
    return st;
}

/* One epoch of training; *loss: the mean training loss. */
/* The learning rate of step (0-based) of total: lr, or its cosine decay to 0. */
static float lr_at(const struct text_args *a, int64_t step, int64_t total)
{
    if (!a->base.cosine || total <= 0) {
        return (float)a->base.lr;
    }
    return (float)(0.5 * a->base.lr * (1.0 + cos(M_PI * (double)step / (double)total)));
}

static kiln_status train_epoch(struct text_nets *s, const struct text_args *a, kiln_text_iter *it,
                               kiln_optimizer *opt, int64_t epoch, int64_t total, int64_t *step,
                               double *loss)
{
    int64_t max_steps = a->base.max_steps;
    struct kiln_text_batch b;
    int32_t *len = malloc((size_t)s->batch * sizeof(int32_t));
    double sum = 0.0;
    int64_t k = 0;
    kiln_status st = len != NULL ? KILN_OK : KILN_E_OUT_OF_HOST_MEMORY;
    kiln_text_iter_reset(it, epoch);
    while (st == KILN_OK && (max_steps == 0 || *step < max_steps) &&
           (st = kiln_text_iter_next(it, &b)) == KILN_OK && b.n > 0) {
        struct text_net *m;
        float l;
        fix_lengths(&b, len);
        kiln_optimizer_set_lr(opt, lr_at(a, *step, total));
        size_t ib = (size_t)(b.batch * b.t) * sizeof(int32_t), nb = (size_t)b.batch * 4;
        if ((st = net_for(s, b.t, &m)) != KILN_OK ||
            (st = kiln_tensor_upload(m->ids, b.ids, ib)) != KILN_OK ||
            (m->bi != NULL && (st = kiln_tensor_upload(m->bi, b.bigram_ids, ib)) != KILN_OK) ||
            (st = kiln_tensor_upload(m->len, len, nb)) != KILN_OK ||
            (st = kiln_tensor_upload(m->y, b.labels, nb)) != KILN_OK ||
            (st = kiln_train_step(m->g, opt)) != KILN_OK ||
            (st = kiln_tensor_download(m->loss, &l, sizeof(l))) != KILN_OK) {
            break;
        }
        if (!isfinite(l)) {
            fprintf(stderr, "kiln: the loss is %g at step %lld: training diverged\n", (double)l,
                    (long long)*step + 1);
            st = KILN_E_DIVERGED;
            break;
        }
        sum += l;
        k++;
        (*step)++;
    }
    *loss = k > 0 ? sum / (double)k : NAN;
    free(len);
    return st;
}

/* fortunes-zh-5 where Meson builds it: data/ next to this program (build/tools). */
static const char *default_data(char *buf, size_t n)
{
    ssize_t len = readlink("/proc/self/exe", buf, n - 1);
    if (len <= 0) {
        return "fortunes-zh-5";
    }
    buf[len] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    size_t used = strlen(buf);
    snprintf(buf + used, n - used, "/data/fortunes-zh-5");
    return buf;
}

static void config_json(const struct kiln_text_classifier_options *o, int bigrams, char *buf,
                        size_t n)
{
    snprintf(buf, n,
             "{\"model\": \"%s\", \"embed\": %lld, \"cell\": \"%s\", \"hidden\": %lld, "
             "\"layers\": %d, \"bidirectional\": %d, \"filters\": %lld, \"widths\": [%d, %d, "
             "%d], \"bigrams\": %d, \"n_classes\": %lld, \"vocab_size\": %lld}",
             o->model == KILN_TEXT_CNN ? "textcnn" : "textrnn", (long long)o->embed,
             kiln_rnn_cell_name(o->cell), (long long)o->hidden, o->n_layers, o->bidirectional,
             (long long)o->filters, o->widths[0], o->widths[1], o->widths[2], bigrams,
             (long long)o->n_classes, (long long)o->vocab);
}

/* Builds the vocabulary and the iterators of the data set. */
static int prepare(const struct text_args *a, const struct kiln_text_data *td, kiln_vocab **v,
                   kiln_text_iter **train, kiln_text_iter **test)
{
    struct kiln_text_iter_options io = KILN_TEXT_ITER_OPTIONS_INIT;
    struct kiln_vocab_options vo = KILN_VOCAB_OPTIONS_INIT;
    vo.bigrams = a->bigrams;
    if (kiln_vocab_build((const char *const *)td->train.texts, NULL, td->train.n, &vo, v) !=
            KILN_OK ||
        kiln_vocab_set_labels(*v, (const char *const *)td->label_names, td->n_classes) != KILN_OK) {
        return fail("building the vocabulary");
    }
    io.batch_size = a->base.batch;
    io.max_len = a->max_len;
    io.len_multiple = 16; /* a few batch lengths, so a few graphs */
    io.bucket_window = 8 * a->base.batch;
    io.seed = a->base.seed;
    io.flags = KILN_BATCH_SHUFFLE | KILN_BATCH_DROP_LAST;
    io.bigrams = a->bigrams;
    if (kiln_text_iter_create(&td->train, *v, &io, train) != KILN_OK) {
        return fail("batching the training split");
    }
    io.flags = 0;
    io.bucket_window = 0;
    if (kiln_text_iter_create(&td->test, *v, &io, test) != KILN_OK) {
        return fail("batching the test split");
    }
    return EXIT_SUCCESS;
}

int cmd_train_text(kiln_text_model model, int argc, char **argv)
{
    char data[4096], cfg[1024];
    const char *name = model == KILN_TEXT_CNN ? "textcnn" : "textrnn";
    struct text_args a = {.base = {.epochs = 20,
                                   .batch = 64,
                                   .cosine = 1,
                                   .lr = 1e-3,
                                   .optimizer = "adam",
                                   .data = default_data(data, sizeof(data))},
                          .rnn = "lstm",
                          .layers = 1,
                          .hidden = model == KILN_TEXT_CNN ? 200 : 128,
                          .embed = 128,
                          .max_len = 128,
                          .dropout = 0.5};
    struct kiln_text_classifier_options o = KILN_TEXT_CLASSIFIER_OPTIONS_INIT;
    struct kiln_text_data td = {0};
    struct text_nets nets = {0};
    kiln_vocab *v = NULL;
    kiln_text_iter *train = NULL, *test = NULL;
    kiln_context *ctx = NULL;
    kiln_optimizer *opt = NULL;
    int rc = EXIT_FAILURE;
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "train %s", name);
    if (!parse_text_args(argc, argv, &a, cmd)) {
        fprintf(stderr, "kiln train: see `kiln --help`\n");
        return EXIT_USAGE;
    }
    if (kiln_text_data_load(a.base.data, &td) != KILN_OK) {
        fprintf(stderr, "kiln: cannot read the data set: %s\n", kiln_last_error());
        fprintf(stderr, "kiln: build fortunes-zh-5 with `ninja -C build tools/data/fortunes-zh-5` "
                        "or tools/data/make_fortunes_zh.py DIR, or pass --data DIR (train.tsv, "
                        "test.tsv)\n");
        return EXIT_FAILURE;
    }
    if (prepare(&a, &td, &v, &train, &test) != EXIT_SUCCESS) {
        goto done;
    }
    o.model = model;
    o.vocab = kiln_vocab_size(v);
    o.n_classes = td.n_classes;
    o.embed = a.embed;
    o.cell = strcmp(a.rnn, "gru") == 0 ? KILN_RNN_GRU : KILN_RNN_LSTM;
    o.hidden = a.hidden;
    o.filters = a.hidden;
    o.n_layers = (int32_t)a.layers;
    o.bidirectional = a.bidirectional;
    o.dropout = (float)a.dropout;
    o.seed = a.base.seed;
    if (a.n_widths > 0) {
        o.n_widths = a.n_widths;
        memcpy(o.widths, a.widths, sizeof(o.widths));
    }
    printf("data: %s: %lld training, %lld test texts, %d classes; vocabulary %d characters, %d "
           "bigrams\n",
           a.base.data, (long long)td.train.n, (long long)td.test.n, td.n_classes,
           kiln_vocab_n_chars(v) - 2, kiln_vocab_n_bigrams(v));
    if (kiln_context_create(NULL, &ctx) != KILN_OK ||
        kiln_store_create(ctx, &nets.store) != KILN_OK) {
        rc = fail("creating a context");
        goto done;
    }
    printf("backend: %s, device: %s%s\n", kiln_context_backend(ctx), kiln_context_device(ctx),
           kiln_context_check(ctx) ? " (KILN_CHECK on)" : "");
    nets.o = &o;
    nets.batch = a.base.batch;
    nets.bigrams = a.bigrams;
    struct text_net *first;
    struct kiln_optim_options oo = optim_options(&a.base);
    if (a.clip > 0) {
        oo.clip_norm = (float)a.clip;
    }
    if (net_for(&nets, 16, &first) != KILN_OK ||
        kiln_optimizer_create(nets.store, &oo, &opt) != KILN_OK) {
        rc = fail("building the model");
        goto done;
    }
    if (model == KILN_TEXT_CNN) {
        printf("model: textcnn, embedding %lld, %d widths (", (long long)o.embed, o.n_widths);
        for (int32_t i = 0; i < o.n_widths; i++) {
            printf("%s%d", i ? ", " : "", o.widths[i]);
        }
        printf(") with %lld filters each: %lld parameters\n", (long long)o.filters,
               (long long)kiln_store_n_param_elems(nets.store));
    } else {
        printf("model: textrnn, embedding %lld, %s%s %d layer%s of %lld: %lld parameters\n",
               (long long)o.embed, o.bidirectional ? "bidirectional " : "",
               kiln_rnn_cell_name(o.cell), o.n_layers, o.n_layers == 1 ? "" : "s",
               (long long)o.hidden, (long long)kiln_store_n_param_elems(nets.store));
    }
    printf("training: %s lr %g%s, batch %lld, dropout %g, %d epochs\n", a.base.optimizer,
           (double)oo.lr, a.base.cosine ? " with a cosine decay to 0" : "", (long long)a.base.batch,
           a.dropout, a.base.epochs);
    int64_t step = 0;
    double acc = NAN;
    for (int32_t e = 1; e <= a.base.epochs && (a.base.max_steps == 0 || step < a.base.max_steps);
         e++) {
        double t0 = now_s(), loss = NAN;
        int64_t s0 = step;
        int64_t total = kiln_text_iter_n_batches(train) * a.base.epochs;
        if (a.base.max_steps > 0 && a.base.max_steps < total) {
            total = a.base.max_steps;
        }
        if (train_epoch(&nets, &a, train, opt, e - 1, total, &step, &loss) != KILN_OK) {
            rc = fail("training");
            goto done;
        }
        double secs = now_s() - t0;
        if (accuracy(&nets, test, &acc) != KILN_OK) {
            rc = fail("evaluating");
            goto done;
        }
        printf("epoch %d: train loss %.4f, test accuracy %.4f (%lld steps in %.1f s; %d graphs)\n",
               e, loss, acc, (long long)(step - s0), secs, nets.n);
    }
    printf("test accuracy: %.4f\n", acc);
    config_json(&o, a.bigrams, cfg, sizeof(cfg));
    if (a.out != NULL && save_text_model(nets.store, a.out, name, cfg, v) != EXIT_SUCCESS) {
        goto done;
    }
    rc = EXIT_SUCCESS;
done:
    free_nets(&nets);
    kiln_store_destroy(nets.store);
    kiln_context_destroy(ctx);
    kiln_text_iter_destroy(train);
    kiln_text_iter_destroy(test);
    kiln_vocab_destroy(v);
    kiln_text_data_fini(&td);
    return rc;
}
