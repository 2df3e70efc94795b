/*
 * train_text.c - `kiln train textcnn|textrnn|textattn`: a text classifier (kiln_text_classifier)
 * on a directory of label<TAB>text files (fortunes-zh-5 by default) with a character
 * vocabulary built from the training split (or taken from the checkpoint it resumes or
 * starts from), length-bucketed batches, one graph per batch length over one parameter
 * store (text_common.c), and the run of run.c around its loop: progress, epoch lines
 * with the validation (valid.tsv) and test accuracy, the --log CSV, checkpoints whose
 * metadata holds the configuration, the vocabulary and the label names, and --resume.
 *
 * Under mpirun (dist.c) every rank iterates the same global batches of --batch texts
 * (one seed: the single-process order, bucketing and batch length T) and trains on its
 * slice of each: rank r takes rows [r B/N, (r + 1) B/N), padded to the global batch's
 * T as in one process, so the ranks agree on T and the union of their slices is the
 * one-process batch. The gradients are averaged by the communicator's optimizer hook,
 * the step losses averaged over the ranks, and evaluation is sharded by batches (rank r
 * evaluates every N-th batch of B/N texts) with the counts summed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

/* The data of a run. */
struct text_data {
    struct kiln_text_data td;
    kiln_vocab *v;
    kiln_text_iter *train, *val, *test;
};

static void text_data_fini(struct text_data *d)
{
    kiln_text_iter_destroy(d->train);
    kiln_text_iter_destroy(d->val);
    kiln_text_iter_destroy(d->test);
    kiln_vocab_destroy(d->v);
    kiln_text_data_fini(&d->td);
}

/* The vocabulary of the checkpoint being resumed or started from (its "vocab"
 * metadata), so that character ids keep meaning the embedding's rows; NULL when there
 * is none. Returns 0 after printing why. */
static int inherited_vocab(const struct train_args *a, const struct train_setup *su, kiln_vocab **v)
{
    kiln_meta *meta = NULL;
    const char *json = NULL;
    *v = NULL;
    if (su->meta != NULL) {
        json = kiln_meta_get(su->meta, "vocab");
    } else if (a->init_from != NULL && kiln_meta_read(a->init_from, &meta) == KILN_OK) {
        json = kiln_meta_get(meta, "vocab");
    }
    kiln_clear_error(); /* --init-from of a file without metadata builds a vocabulary */
    int ok = json == NULL || kiln_vocab_load(json, v) == KILN_OK;
    kiln_meta_destroy(meta);
    if (!ok) {
        fail("reading the checkpoint's vocabulary");
    }
    return ok;
}

/* The label names of the data set must be those the vocabulary carries. */
static int same_labels(const kiln_vocab *v, const struct kiln_text_data *td)
{
    if (kiln_vocab_n_labels(v) != td->n_classes) {
        return 0;
    }
    for (int32_t i = 0; i < td->n_classes; i++) {
        if (strcmp(kiln_vocab_label(v, i), td->label_names[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

/* Reads the data set, builds (or inherits) the vocabulary, fills cfg and makes the
 * iterators. Returns 0 after printing why. */
static int prepare_data(const struct train_args *a, const struct train_setup *su,
                        const struct dist *dist, struct model_cfg *cfg, struct text_data *d,
                        FILE *info)
{
    int64_t eb = dist->local_batch; /* the evaluation graphs' batch */
    struct kiln_vocab_options vo = KILN_VOCAB_OPTIONS_INIT;
    if (kiln_text_data_load(a->data, &d->td) != KILN_OK) {
        fprintf(stderr, "kiln: cannot read the data set: %s\n", kiln_last_error());
        fprintf(stderr, "kiln: build fortunes-zh-5 with `ninja -C build tools/data/fortunes-zh-5` "
                        "(or tools/data/make_fortunes_zh.py DIR), or pass --data DIR with "
                        "train.tsv and test.tsv\n");
        return 0;
    }
    struct kiln_text_data *td = &d->td;
    if (a->train_limit > 0 && a->train_limit < td->train.n) {
        td->train.n = a->train_limit;
    }
    if (td->train.n < a->batch) {
        fprintf(stderr, "kiln train: %lld training texts make no batch of %lld\n",
                (long long)td->train.n, (long long)a->batch);
        return 0;
    }
    if (!inherited_vocab(a, su, &d->v)) {
        return 0;
    }
    vo.bigrams = a->bigrams;
    if (d->v == NULL && (kiln_vocab_build((const char *const *)td->train.texts, NULL, td->train.n,
                                          &vo, &d->v) != KILN_OK ||
                         kiln_vocab_set_labels(d->v, (const char *const *)td->label_names,
                                               td->n_classes) != KILN_OK)) {
        fail("building the vocabulary");
        return 0;
    }
    if (!same_labels(d->v, td) || (a->bigrams && kiln_vocab_n_bigrams(d->v) == 0)) {
        fprintf(stderr,
                "kiln train: the labels (or bigrams) of %s are not those of the "
                "checkpoint's vocabulary\n",
                a->data);
        return 0;
    }
    text_cfg_from_args(cfg, a, td->n_classes, kiln_vocab_size(d->v));
    for (int32_t i = 0; i < td->n_classes && i < MAX_CLASSES; i++) {
        cfg->labels[i] = strdup(td->label_names[i]);
    }
    cfg->vocab = text_vocab_json(d->v);
    if (cfg->vocab == NULL || td->n_classes > MAX_CLASSES ||
        !text_iter_for(cfg, &td->train, d->v, a->batch, 1, &d->train) ||
        (td->valid.n > 0 && !text_iter_for(cfg, &td->valid, d->v, eb, 0, &d->val)) ||
        !text_iter_for(cfg, &td->test, d->v, eb, 0, &d->test)) {
        return 0;
    }
    if (info != NULL) {
        fprintf(info,
                "data: %s: %lld training, %lld validation, %lld test texts, %d classes; "
                "vocabulary of %d characters and %d bigrams\n",
                a->data, (long long)td->train.n, (long long)td->valid.n, (long long)td->test.n,
                td->n_classes, kiln_vocab_n_chars(d->v) - 2, kiln_vocab_n_bigrams(d->v));
    }
    return 1;
}

static void describe(FILE *f, const struct train_args *a, const struct model_cfg *cfg,
                     kiln_store *store, kiln_optimizer *opt)
{
    const struct kiln_text_classifier_options *o = &cfg->text;
    if (f == NULL) {
        return;
    }
    fprintf(f, "model: %s, embedding %lld%s, ", a->model, (long long)o->embed,
            cfg->bigrams ? " (characters and bigrams)" : "");
    if (o->model == KILN_TEXT_CNN) {
        fprintf(f, "widths");
        for (int32_t i = 0; i < o->n_widths; i++) {
            fprintf(f, "%s%d", i ? ", " : " ", o->widths[i]);
        }
        fprintf(f, " with %lld filters each", (long long)o->filters);
    } else if (o->model == KILN_TEXT_ATTN) {
        fprintf(f, "%d pre-norm encoder layer%s of %d heads, feed-forward %lld", o->n_layers,
                o->n_layers == 1 ? "" : "s", o->n_heads, (long long)o->hidden);
    } else {
        fprintf(f, "%s%s, %d layer%s of %lld, %s", o->bidirectional ? "bidirectional " : "",
                kiln_rnn_cell_name(o->cell), o->n_layers, o->n_layers == 1 ? "" : "s",
                (long long)o->hidden,
                o->attn_pool ? "additive attention pooling" : "maximum over time");
    }
    fprintf(f, ", dropout %g: %lld parameters\n", (double)o->dropout,
            (long long)kiln_store_n_param_elems(store));
    fprintf(f,
            "training: %s lr %g%s, %s schedule%s%s, batch %lld, %lld epoch%s, texts cut at %lld "
            "characters\n",
            a->optimizer, (double)kiln_optimizer_lr(opt),
            strcmp(a->optimizer, "sgd") == 0 ? " momentum 0.9" : "",
            a->cosine ? "cosine" : a->schedule, a->clip > 0 ? ", gradient norm clipped" : "",
            a->wd > 0 ? ", weight decay" : "", (long long)a->batch, (long long)a->epochs,
            a->epochs == 1 ? "" : "s", (long long)a->max_len);
}

/* A training run's loop state. */
struct loop {
    /* ---- borrowed (never owned) ---- */
    const struct train_args *a;
    struct run *r;
    struct text_nets *nets;
    struct text_data *d;
    kiln_optimizer *opt;
    const struct kiln_lr_schedule *sched;
    struct dist *dist;
    /* ---- owned ---- */
    int32_t *len;
    int64_t per, total;
    double train_seconds;
    double test_accuracy, val_accuracy;
};

/* This rank's slice of the global batch g: rows [r B/N, (r + 1) B/N), views into g. */
static struct kiln_text_batch rank_slice(const struct dist *dist, const struct kiln_text_batch *g)
{
    struct kiln_text_batch b = *g;
    int64_t lb = dist->local_batch, first = (int64_t)dist->rank * lb, rows = first * g->t;
    b.batch = lb;
    b.n = g->n - first < 0 ? 0 : (g->n - first < lb ? g->n - first : lb);
    b.ids = g->ids + rows;
    b.bigram_ids = g->bigram_ids != NULL ? g->bigram_ids + rows : NULL;
    b.lengths = g->lengths + first;
    b.labels = g->labels + first;
    b.index = g->index + first;
    return b;
}

/* One training step on this rank's slice of the global batch g; *loss: the global
 * batch's loss (the mean of the ranks' slice means). */
static kiln_status train_step(struct loop *L, const struct kiln_text_batch *g, float *loss)
{
    struct kiln_text_batch slice = rank_slice(L->dist, g);
    const struct kiln_text_batch *b = &slice;
    struct text_net *m;
    size_t ib = (size_t)(b->batch * b->t) * sizeof(int32_t);
    size_t nb = (size_t)b->batch * sizeof(int32_t);
    text_lengths(b, L->len);
    KILN_TRY_CLI(text_nets_get(L->nets, b->t, &m));
    KILN_TRY_CLI(kiln_tensor_upload(m->ids, b->ids, ib));
    if (m->bi != NULL) {
        KILN_TRY_CLI(kiln_tensor_upload(m->bi, b->bigram_ids, ib));
    }
    KILN_TRY_CLI(kiln_tensor_upload(m->len, L->len, nb));
    KILN_TRY_CLI(kiln_tensor_upload(m->y, b->labels, nb));
    KILN_TRY_CLI(kiln_train_step(m->g, L->opt));
    KILN_TRY_CLI(kiln_tensor_download(m->loss, loss, sizeof(*loss)));
    if (L->dist->size > 1) {
        double v = *loss;
        KILN_TRY_CLI(kiln_comm_allreduce_sum(L->dist->comm, &v, 1));
        *loss = (float)(v / L->dist->size);
    }
    return KILN_OK;
}

/* The accuracy over an epoch of it: rank r evaluates batches r, r + N, ... and the counts
 * are summed over the ranks. Returns 0 after printing why. */
static int shard_accuracy(struct loop *L, kiln_text_iter *it, double *acc)
{
    struct kiln_text_batch b;
    const struct dist *dist = L->dist;
    int32_t *pred = malloc((size_t)L->nets->batch * sizeof(int32_t));
    double v[3] = {0.0, 0.0, 0.0}; /* right, texts, failed ranks */
    kiln_status st = pred != NULL ? KILN_OK : KILN_E_OUT_OF_HOST_MEMORY;
    kiln_text_iter_reset(it, 0);
    for (int64_t k = 0; st == KILN_OK && (st = kiln_text_iter_next(it, &b)) == KILN_OK && b.n > 0;
         k++) {
        if (k % dist->size != dist->rank) {
            continue;
        }
        st = text_nets_eval(L->nets, &b, NULL, pred);
        for (int64_t i = 0; st == KILN_OK && i < b.n; i++) {
            v[0] += pred[i] == b.labels[i];
        }
        v[1] += (double)b.n;
    }
    free(pred);
    v[2] = st == KILN_OK ? 0.0 : 1.0;
    /* Every rank joins the sum, even after failing, so that no rank waits for it. */
    if (dist->size > 1 && kiln_comm_allreduce_sum(dist->comm, v, 3) != KILN_OK && st == KILN_OK) {
        fail("summing the evaluation over the ranks");
        return 0;
    }
    if (st != KILN_OK) {
        fail("evaluating");
        return 0;
    }
    if (v[2] > 0) {
        fprintf(stderr, "kiln train: rank %d: another rank failed to evaluate\n", (int)dist->rank);
        return 0;
    }
    *acc = v[1] > 0 ? v[0] / v[1] : -1.0;
    return 1;
}

/* The end of an epoch: the accuracies and run.c's epoch event. Returns 1 to stop (early
 * stopping), 0 to go on, -1 on failure. */
static int epoch_end(struct loop *L, struct kiln_fit_progress *p)
{
    double t0 = now_s();
    p->event = KILN_FIT_EPOCH_END;
    p->val_accuracy = p->test_accuracy = NAN;
    if ((L->d->val != NULL && !shard_accuracy(L, L->d->val, &p->val_accuracy)) ||
        !shard_accuracy(L, L->d->test, &p->test_accuracy)) {
        return -1;
    }
    p->eval_seconds = now_s() - t0;
    L->val_accuracy = p->val_accuracy;
    L->test_accuracy = p->test_accuracy;
    if (run_classifier_progress(L->r, p) != 0) {
        return L->r->stopped_early ? 1 : -1;
    }
    return 0;
}

/* One epoch (1-based) from position step, skipping the batches a resumed run took. */
static int run_epoch(struct loop *L, int32_t epoch, int64_t *step)
{
    const struct train_args *a = L->a;
    struct kiln_text_batch b;
    struct kiln_fit_progress p;
    int64_t first = (int64_t)(epoch - 1) * L->per, k = 0, done = *step - first;
    int64_t in_epoch = L->total - first < L->per ? L->total - first : L->per;
    double t0 = now_s();
    memset(&p, 0, sizeof(p));
    p.epoch = epoch;
    p.n_epochs = (int32_t)a->epochs;
    p.steps_per_epoch = in_epoch;
    p.batch_size = a->batch;
    if (done > 0) { /* resumed in the middle of the epoch */
        p.loss_sum = L->r->pos.loss_sum[0];
        p.loss_n = L->r->pos.loss_n;
    }
    kiln_text_iter_reset(L->d->train, epoch - 1);
    for (k = 0; k < in_epoch; k++) {
        float loss;
        if (kiln_text_iter_next(L->d->train, &b) != KILN_OK || b.n == 0) {
            fail("batching");
            return -1;
        }
        if (k < done) {
            continue;
        }
        p.lr = kiln_lr_at(L->sched, *step);
        kiln_optimizer_set_lr(L->opt, (float)p.lr);
        if (train_step(L, &b, &loss) != KILN_OK) {
            fail("training");
            return -1;
        }
        if (!isfinite(loss)) { /* the mean over the ranks: every rank stops here */
            if (L->dist->rank == 0) {
                fprintf(stderr, "kiln train: the loss is %g at step %lld: training diverged\n",
                        (double)loss, (long long)*step + 1);
            }
            return -1;
        }
        (*step)++;
        p.event = KILN_FIT_STEP;
        p.step = *step;
        p.step_in_epoch = k + 1;
        p.loss = loss;
        p.loss_sum += loss;
        p.loss_n++;
        p.train_loss = p.loss_sum / (double)p.loss_n;
        p.seconds = now_s() - t0;
        p.steps_per_s = p.seconds > 0 ? (double)(k + 1 - done) / p.seconds : 0.0;
        p.images_per_s = p.steps_per_s * (double)a->batch;
        if (run_classifier_progress(L->r, &p) != 0) {
            return -1;
        }
    }
    L->train_seconds += now_s() - t0;
    return epoch_end(L, &p);
}

static void print_summary(const struct loop *L, kiln_context *ctx, int64_t steps)
{
    const struct run *r = L->r;
    const struct train_args *a = L->a;
    double rate = L->train_seconds > 0
                      ? (double)(steps - r->start_step) * (double)a->batch / L->train_seconds
                      : 0.0;
    if (r->out != NULL) {
        printf("test accuracy: %.4f on %lld texts after %lld steps (training %.2f s, %.0f "
               "texts/s; total with evaluation %.2f s)\n",
               L->test_accuracy, (long long)L->d->td.test.n, (long long)steps, L->train_seconds,
               rate, now_s() - r->t0);
        if (r->last_checkpoint[0] != '\0') {
            printf("checkpoint: %s\n", r->last_checkpoint);
        }
    }
    if (a->json) {
        char val[32] = "null", ck[4200] = "null";
        if (!isnan(L->val_accuracy)) {
            snprintf(val, sizeof(val), "%.6g", L->val_accuracy);
        }
        if (r->last_checkpoint[0] != '\0') {
            snprintf(ck, sizeof(ck), "\"%s\"", r->last_checkpoint);
        }
        printf("{\"model\": \"%s\", \"backend\": \"%s\", \"device\": \"%s\", \"parameters\": "
               "%lld, \"steps\": %lld, \"train_loss\": %.6g, \"val_accuracy\": %s, "
               "\"test_accuracy\": %.6g, \"train_seconds\": %.3f, \"texts_per_s\": %.1f, "
               "\"elapsed_s\": %.3f, \"stopped_early\": %s, \"checkpoint\": %s}\n",
               a->model, kiln_context_backend(ctx), kiln_context_device(ctx),
               (long long)kiln_store_n_param_elems(r->store), (long long)steps,
               r->pos.loss_n > 0 ? r->pos.loss_sum[0] / (double)r->pos.loss_n : NAN, val,
               L->test_accuracy, L->train_seconds, rate, run_elapsed(r),
               r->stopped_early ? "true" : "false", ck);
    }
}

/* The loop over the epochs from su's position; then the final checkpoint and summary. */
static int train_loop(struct loop *L, const struct train_setup *su, kiln_context *ctx, FILE *info)
{
    int64_t step = su->pos.step;
    int rc = 0;
    L->val_accuracy = L->test_accuracy = NAN;
    kiln_context_reset_stats(ctx);
    for (int32_t e = (int32_t)(step / L->per) + 1; rc == 0 && step < L->total; e++) {
        rc = run_epoch(L, e, &step);
    }
    run_progress_clear(L->r);
    if (rc < 0 || !run_checkpoint_final(L->r)) {
        return EXIT_FAILURE;
    }
    print_summary(L, ctx, step);
    dist_summary(L->dist, L->r->out);
    if (L->a->stats && info != NULL) {
        print_stats(stdout, &L->r->st, step - su->pos.step);
    }
    return EXIT_SUCCESS;
}

/* With several ranks: the graphs of every batch length (multiples of 16 up to
 * --max-len), built before the first step, so that no rank compiles a graph while the
 * others wait for it in a reduction (whose timeout is shorter after the first step). */
static kiln_status build_all_lengths(struct text_nets *nets, int64_t max_len)
{
    struct text_net *m;
    for (int64_t t = 16; t < max_len + 16; t += 16) {
        KILN_TRY_CLI(text_nets_get(nets, t < max_len ? t : max_len, &m));
    }
    return KILN_OK;
}

/* Builds nets' graphs (nets->cfg set) over a new store on ctx, every batch length's
 * with several ranks, and *opt with the communicator's gradient hook; loads --init-from
 * or the --resume checkpoint, then gives every rank rank 0's weights, optimizer state
 * and counts. Returns EXIT_SUCCESS or EXIT_FAILURE after printing why. */
static int build_model(const struct train_args *a, const struct train_setup *su,
                       const struct dist *dist, kiln_context *ctx, struct text_nets *nets,
                       kiln_optimizer **opt, FILE *info)
{
    struct kiln_optim_options oo = optim_options(a);
    struct text_net *first;
    nets->batch = dist->local_batch;
    nets->training = 1;
    if (kiln_store_create(ctx, &nets->store) != KILN_OK ||
        text_nets_get(nets, 16, &first) != KILN_OK ||
        (dist->size > 1 && build_all_lengths(nets, nets->cfg->max_len) != KILN_OK) ||
        kiln_optimizer_create(nets->store, &oo, opt) != KILN_OK ||
        kiln_comm_attach(dist->comm, *opt) != KILN_OK) {
        return fail("building the model");
    }
    if (run_load_weights(a, su, nets->store, info) != EXIT_SUCCESS) {
        return EXIT_FAILURE;
    }
    if (kiln_comm_broadcast_store(dist->comm, nets->store, 1) != KILN_OK) {
        return fail("broadcasting the parameters");
    }
    return EXIT_SUCCESS;
}

int cmd_train_text(const char *model, int argc, char **argv)
{
    struct train_args a;
    struct train_setup su;
    struct text_data d;
    struct model_cfg cfg;
    struct text_nets nets;
    struct run r;
    struct loop L;
    struct dist dist;
    kiln_context *ctx = NULL;
    kiln_optimizer *opt = NULL;
    int rc = train_parse(model, argc, argv, &a, &su);
    memset(&dist, 0, sizeof(dist));
    memset(&d, 0, sizeof(d));
    memset(&cfg, 0, sizeof(cfg));
    memset(&nets, 0, sizeof(nets));
    memset(&r, 0, sizeof(r));
    memset(&L, 0, sizeof(L));
    if (rc != EXIT_SUCCESS) {
        train_setup_fini(&su);
        return rc < 0 ? EXIT_SUCCESS : rc;
    }
    rc = dist_begin(&dist, &a);
    if (rc != EXIT_SUCCESS) {
        goto done;
    }
    dist_quiet(&dist, &a); /* only rank 0 prints and writes */
    rc = EXIT_FAILURE;
    FILE *info = a.quiet || a.json ? NULL : stdout;
    if (dist_context(&dist, &ctx, info) != EXIT_SUCCESS ||
        !prepare_data(&a, &su, &dist, &cfg, &d, info)) {
        goto done;
    }
    /* The seed keys the initializer (rank 0's weights are broadcast) and the dropout
     * masks: each rank draws its own masks for its rows. */
    cfg.text.seed += 0x9e3779b97f4a7c15ull * (uint64_t)dist.rank;
    nets.cfg = &cfg;
    if (build_model(&a, &su, &dist, ctx, &nets, &opt, info) != EXIT_SUCCESS) {
        goto done;
    }
    L.per = kiln_text_iter_n_batches(d.train);
    L.total = L.per * a.epochs;
    L.total = a.max_steps > 0 && a.max_steps < L.total ? a.max_steps : L.total;
    struct kiln_lr_schedule sched = lr_schedule(&a, L.per, L.total);
    r.st.ctx = ctx;
    r.unit = "texts";
    dist_describe(&dist, NULL, &a, kiln_optimizer_lr(opt));
    r.parallel = dist.parallel;
    if (!run_begin(&r, &a, &su, &cfg, nets.store, L.per, L.total)) {
        goto done;
    }
    if (run_complete(&su, L.total)) {
        rc = EXIT_SUCCESS;
        goto done;
    }
    describe(info, &a, &cfg, nets.store, opt);
    dist_describe(&dist, info, &a, kiln_optimizer_lr(opt));
    run_compile_note(ctx, &a);
    L.a = &a;
    L.r = &r;
    L.nets = &nets;
    L.d = &d;
    L.opt = opt;
    L.sched = &sched;
    L.dist = &dist;
    L.len = malloc((size_t)dist.local_batch * sizeof(int32_t));
    rc = L.len != NULL ? train_loop(&L, &su, ctx, info) : fail("allocating");

done:
    rc = dist_fail(&dist, rc);
    free(L.len);
    run_end(&r);
    text_nets_fini(&nets);
    kiln_store_destroy(nets.store);
    kiln_context_destroy(ctx);
    text_data_fini(&d);
    model_cfg_fini(&cfg);
    train_setup_fini(&su);
    dist_end(&dist);
    return rc;
}
