/*
 * train_lm.c - `kiln train charlm`: a character language model (kiln_char_lm: one-hot
 * characters, LSTM or GRU layers, a dense decoder) trained on a UTF-8 text by
 * truncated backpropagation through time over contiguous streams (the state carried
 * from one chunk to the next, and restarted at zero each epoch), with the held-out bits
 * per character after every epoch, inside the run of run.c (progress, --log, a
 * checkpoint after every epoch with the configuration and vocabulary in its metadata,
 * --resume); and `kiln sample`, which generates text from such a checkpoint.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

/* The --log columns of charlm: the losses are in bits per character. */
static const char *const lm_log_header =
    "kind,epoch,step,loss,lr,heldout_loss,chars_per_s,elapsed_s";

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

/* A training run's loop state. */
struct lm_loop {
    /* ---- borrowed (never owned) ---- */
    const struct train_args *a;
    struct run *r;
    const struct kiln_lm_text *lm;
    struct lm_net *tr, *ev;
    kiln_optimizer *opt;
    const struct kiln_lr_schedule *sched;
    /* ---- owned ---- */
    struct lm_buf tb, eb;
    int64_t vocab, per, total;
    double train_seconds, heldout;
};

/* A step's --log row and progress display (what run.c's step event does for the
 * classifiers). */
static void step_event(struct lm_loop *L, int32_t epoch, int64_t k, int64_t in_epoch, double bpc,
                       double lr, double chars_per_s)
{
    struct run *r = L->r;
    char row[256], loss[48];
    run_first_step(r);
    r->pos.log_sum[0] += bpc;
    r->pos.log_n++;
    if (r->pos.step % r->log_every == 0) {
        snprintf(row, sizeof(row), "step,%d,%lld,%.6g,%.6g,,%.1f,%.3f", epoch,
                 (long long)r->pos.step, r->pos.log_sum[0] / (double)r->pos.log_n, lr, chars_per_s,
                 run_elapsed(r));
        run_log(r, row);
        r->pos.log_sum[0] = 0.0;
        r->pos.log_n = 0;
    }
    snprintf(loss, sizeof(loss), "%.4f bits/char",
             r->pos.loss_n > 0 ? r->pos.loss_sum[0] / (double)r->pos.loss_n : NAN);
    run_progress(r, epoch, L->a->epochs, k, in_epoch, loss, chars_per_s);
}

/* The end of an epoch: the held-out bits per character, the epoch line and --log row,
 * and a checkpoint. Returns 0 on failure. */
static int epoch_end(struct lm_loop *L, int32_t epoch, int64_t steps, double secs)
{
    struct run *r = L->r;
    const struct kiln_lm_text *lm = L->lm;
    char row[256];
    double t0 = now_s(), train = r->pos.loss_n ? r->pos.loss_sum[0] / (double)r->pos.loss_n : NAN;
    double rate = secs > 0 ? (double)(steps * L->tr->t * L->tr->n) / secs : 0.0;
    if (eval_bpc(L->ev, lm->ids + lm->n_train, lm->n - lm->n_train, L->vocab, &L->eb,
                 &L->heldout) != KILN_OK) {
        fail("evaluating");
        return 0;
    }
    run_progress_clear(r);
    if (r->out != NULL) {
        fprintf(r->out,
                "epoch %d/%lld: train %.4f bits/char, held-out %.4f bits/char (%lld steps in "
                "%.1f s: %.0f characters/s; eval %.1f s; %.1f min in all)\n",
                epoch, (long long)L->a->epochs, train, L->heldout, (long long)steps, secs, rate,
                now_s() - t0, run_elapsed(r) / 60.0);
    }
    snprintf(row, sizeof(row), "epoch,%d,%lld,%.6g,%.6g,%.6g,%.1f,%.3f", epoch,
             (long long)r->pos.step, train, kiln_lr_at(L->sched, r->pos.step - 1), L->heldout, rate,
             run_elapsed(r));
    run_log(r, row);
    struct run_pos pos = r->pos;
    pos.elapsed = run_elapsed(r);
    return run_checkpoint(r, &pos, 0);
}

/* One epoch (1-based) from position *step; the chunks a resumed run took are skipped.
 * Returns 0 on failure. */
static int run_epoch(struct lm_loop *L, int32_t epoch, int64_t *step)
{
    struct run *r = L->r;
    struct lm_net *tr = L->tr;
    int64_t first = (int64_t)(epoch - 1) * L->per, done = *step - first;
    int64_t in_epoch = L->total - first < L->per ? L->total - first : L->per;
    double t0 = now_s();
    memset(L->tb.h, 0, (size_t)tr->state * sizeof(float));
    memset(L->tb.c, 0, (size_t)tr->state * sizeof(float));
    if (done == 0) {
        r->pos.loss_sum[0] = 0.0;
        r->pos.loss_n = 0;
    } else if (r->out != NULL) {
        fprintf(r->out,
                "resuming in the middle of epoch %d: its carried state restarts at zero "
                "(checkpoints at epoch ends resume exactly)\n",
                epoch);
    }
    r->pos.epoch = epoch;
    for (int64_t k = done; k < in_epoch; k++) {
        float l;
        double lr = kiln_lr_at(L->sched, *step);
        kiln_optimizer_set_lr(L->opt, (float)lr);
        if (kiln_lm_stream_chunk(L->lm->ids, L->lm->n_train, tr->n, tr->t, k, L->tb.chunk) !=
                KILN_OK ||
            upload_chunk(tr, L->tb.chunk, L->vocab, L->tb.x, L->tb.y, L->tb.h, L->tb.c) !=
                KILN_OK ||
            kiln_train_step(tr->g, L->opt) != KILN_OK ||
            read_back(tr, &l, L->tb.h, L->tb.c) != KILN_OK) {
            fail("training");
            return 0;
        }
        if (!isfinite(l)) {
            run_progress_clear(r);
            fprintf(stderr, "kiln train: the loss is %g at step %lld: training diverged\n",
                    (double)l, (long long)*step + 1);
            return 0;
        }
        (*step)++;
        r->pos.step = *step;
        r->pos.loss_sum[0] += (double)l / log(2.0);
        r->pos.loss_n++;
        double secs = now_s() - t0;
        step_event(L, epoch, k + 1, in_epoch, (double)l / log(2.0), lr,
                   secs > 0 ? (double)((k + 1 - done) * tr->t * tr->n) / secs : 0.0);
    }
    L->train_seconds += now_s() - t0;
    return epoch_end(L, epoch, in_epoch - done, now_s() - t0);
}

static void print_summary(const struct lm_loop *L, kiln_context *ctx, int64_t start)
{
    const struct run *r = L->r;
    double rate = L->train_seconds > 0
                      ? (double)((r->pos.step - start) * L->tr->t * L->tr->n) / L->train_seconds
                      : 0.0;
    if (r->out != NULL) {
        printf("held-out bits per character: %.4f after %lld steps (training %.1f s, %.0f "
               "characters/s)\n",
               L->heldout, (long long)r->pos.step, L->train_seconds, rate);
        if (r->last_checkpoint[0] != '\0') {
            printf("checkpoint: %s\n", r->last_checkpoint);
        }
    }
    if (L->a->json) {
        char ck[4200] = "null";
        if (r->last_checkpoint[0] != '\0') {
            snprintf(ck, sizeof(ck), "\"%s\"", r->last_checkpoint);
        }
        printf("{\"model\": \"charlm\", \"backend\": \"%s\", \"device\": \"%s\", \"parameters\": "
               "%lld, \"steps\": %lld, \"train_bpc\": %.6g, \"heldout_bpc\": %.6g, "
               "\"train_seconds\": %.3f, \"chars_per_s\": %.1f, \"elapsed_s\": %.3f, "
               "\"checkpoint\": %s}\n",
               kiln_context_backend(ctx), kiln_context_device(ctx),
               (long long)kiln_store_n_param_elems(r->store), (long long)r->pos.step,
               r->pos.loss_n > 0 ? r->pos.loss_sum[0] / (double)r->pos.loss_n : NAN, L->heldout,
               L->train_seconds, rate, run_elapsed(r), ck);
    }
}

/* The epochs from su's position, then the final checkpoint and the summary. */
static int train_loop(struct lm_loop *L, const struct train_setup *su, kiln_context *ctx,
                      FILE *info)
{
    int64_t step = su->pos.step;
    if (!alloc_buf(L->tr, L->vocab, &L->tb) || !alloc_buf(L->ev, L->vocab, &L->eb)) {
        fprintf(stderr, "kiln: out of memory\n");
        return EXIT_FAILURE;
    }
    L->heldout = NAN;
    kiln_context_reset_stats(ctx);
    for (int32_t e = (int32_t)(step / L->per) + 1; step < L->total; e++) {
        if (!run_epoch(L, e, &step)) {
            return EXIT_FAILURE;
        }
    }
    if (!run_checkpoint_final(L->r)) {
        return EXIT_FAILURE;
    }
    print_summary(L, ctx, su->pos.step);
    if (L->a->stats && info != NULL) {
        struct kiln_stats now;
        kiln_context_stats(ctx, &now);
        add_stats_delta(&L->r->st.train, &L->r->st.mark, &now);
        print_stats(stdout, &L->r->st, step - su->pos.step);
    }
    return EXIT_SUCCESS;
}

/* Reads the text (with the vocabulary of the checkpoint resumed or started from, when
 * it has one) and fills cfg. Returns 0 after printing why. */
static int prepare_text(const struct train_args *a, const struct train_setup *su,
                        struct model_cfg *cfg, struct kiln_lm_text *lm, FILE *info)
{
    struct kiln_lm_options lmo = KILN_LM_OPTIONS_INIT;
    kiln_meta *meta = NULL;
    kiln_vocab *v = NULL;
    const char *json = su->meta != NULL ? kiln_meta_get(su->meta, "vocab") : NULL;
    if (json == NULL && a->init_from != NULL && kiln_meta_read(a->init_from, &meta) == KILN_OK) {
        json = kiln_meta_get(meta, "vocab");
    }
    kiln_clear_error();
    int ok = json == NULL || kiln_vocab_load(json, &v) == KILN_OK;
    kiln_meta_destroy(meta);
    if (!ok) {
        fail("reading the checkpoint's vocabulary");
        return 0;
    }
    lmo.limit = a->train_limit;
    lmo.use_vocab = v;
    kiln_status s = kiln_lm_text_load(a->data, &lmo, lm);
    kiln_vocab_destroy(v);
    if (s != KILN_OK) {
        fprintf(stderr, "kiln: cannot read the text: %s\n", kiln_last_error());
        fprintf(stderr, "kiln: pass --data FILE (any UTF-8 text), or fetch Moby Dick with "
                        "tools/data/get_moby_dick.sh\n");
        return 0;
    }
    text_cfg_from_args(cfg, a, 0, kiln_vocab_size(lm->vocab));
    cfg->vocab = text_vocab_json(lm->vocab);
    if (info != NULL) {
        fprintf(info,
                "data: %s: %lld characters (%d distinct, and the padding and unknown ids), "
                "%lld for training, %lld held out\n",
                a->data, (long long)lm->n, kiln_vocab_n_chars(lm->vocab) - 2,
                (long long)lm->n_train, (long long)(lm->n - lm->n_train));
    }
    return cfg->vocab != NULL;
}

static void describe(FILE *f, const struct train_args *a, const struct kiln_char_lm_options *lo,
                     kiln_store *store, kiln_optimizer *opt)
{
    if (f == NULL) {
        return;
    }
    fprintf(f, "model: char %s, %d layer%s of %lld, vocabulary %lld: %lld parameters\n",
            kiln_rnn_cell_name(lo->cell), lo->n_layers, lo->n_layers == 1 ? "" : "s",
            (long long)lo->hidden, (long long)lo->vocab,
            (long long)kiln_store_n_param_elems(store));
    fprintf(f,
            "training: %s lr %g (%s schedule), gradient norm clipped at %g, %lld streams of "
            "%lld-step chunks (truncated BPTT, state carried), dropout %g, %lld epoch%s\n",
            a->optimizer, (double)kiln_optimizer_lr(opt), a->cosine ? "cosine" : a->schedule,
            a->clip, (long long)a->batch, (long long)a->bptt, a->dropout, (long long)a->epochs,
            a->epochs == 1 ? "" : "s");
}

int cmd_train_charlm(int argc, char **argv)
{
    struct train_args a;
    struct train_setup su;
    struct model_cfg cfg;
    struct kiln_lm_text lm = {0};
    struct lm_net tr = {0}, ev = {0};
    struct run r;
    struct lm_loop L;
    kiln_context *ctx = NULL;
    kiln_store *store = NULL;
    kiln_optimizer *opt = NULL;
    int rc = train_parse("charlm", argc, argv, &a, &su);
    memset(&cfg, 0, sizeof(cfg));
    memset(&r, 0, sizeof(r));
    memset(&L, 0, sizeof(L));
    if (rc != EXIT_SUCCESS) {
        train_setup_fini(&su);
        return rc < 0 ? EXIT_SUCCESS : rc;
    }
    rc = EXIT_FAILURE;
    FILE *info = a.quiet || a.json ? NULL : stdout;
    if (open_context(&ctx, info) != EXIT_SUCCESS || !prepare_text(&a, &su, &cfg, &lm, info)) {
        goto done;
    }
    struct kiln_optim_options oo = optim_options(&a);
    if (kiln_store_create(ctx, &store) != KILN_OK ||
        build_net(store, &cfg.lm, a.bptt, a.batch, 1, 1, &tr) != KILN_OK ||
        build_net(store, &cfg.lm, a.bptt, a.batch, 1, 0, &ev) != KILN_OK ||
        kiln_optimizer_create(store, &oo, &opt) != KILN_OK) {
        rc = fail("building the model");
        goto done;
    }
    if (run_load_weights(&a, &su, store, info) != EXIT_SUCCESS) {
        goto done;
    }
    L.per = kiln_lm_stream_n_chunks(lm.n_train, a.batch, a.bptt);
    if (L.per < 1) {
        fprintf(stderr,
                "kiln train: %lld training characters make no chunk of %lld streams of "
                "%lld steps\n",
                (long long)lm.n_train, (long long)a.batch, (long long)a.bptt);
        goto done;
    }
    L.total = L.per * a.epochs;
    L.total = a.max_steps > 0 && a.max_steps < L.total ? a.max_steps : L.total;
    struct kiln_lr_schedule sched = lr_schedule(&a, L.per, L.total);
    r.st.ctx = ctx;
    r.unit = "characters";
    r.log_header = lm_log_header;
    if (!run_begin(&r, &a, &su, &cfg, store, L.per, L.total)) {
        goto done;
    }
    if (run_complete(&su, L.total)) {
        rc = EXIT_SUCCESS;
        goto done;
    }
    describe(info, &a, &cfg.lm, store, opt);
    run_compile_note(ctx, &a);
    L.a = &a;
    L.r = &r;
    L.lm = &lm;
    L.tr = &tr;
    L.ev = &ev;
    L.opt = opt;
    L.sched = &sched;
    L.vocab = cfg.lm.vocab;
    rc = train_loop(&L, &su, ctx, info);

done:
    free_buf(&L.tb);
    free_buf(&L.eb);
    run_end(&r);
    free_net(&tr);
    free_net(&ev);
    kiln_store_destroy(store);
    kiln_context_destroy(ctx);
    kiln_lm_text_fini(&lm);
    model_cfg_fini(&cfg);
    train_setup_fini(&su);
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
    const char *prompt;
    int64_t length, seed;
    double temperature;
};

#define SA(f) offsetof(struct sample_args, f)

static const struct opt_def sample_opts[] = {
    {"--prompt", "TEXT", OPT_STR, SA(prompt), 0, 0, NULL, 1, NULL,
     "text that starts the sample (it sets the state; it is printed first)", 0},
    {"--length", "N", OPT_INT, SA(length), 0, 10000000, NULL, 1, NULL,
     "characters to generate after the prompt", 0},
    {"--temperature", "T", OPT_REAL, SA(temperature), 0, 0, NULL, 1, NULL,
     "each character is drawn from the softmax of the logits divided by T (below 1: more "
     "likely characters, above 1: more varied ones)",
     0},
    {"--seed", "S", OPT_INT, SA(seed), 0, INT64_MAX, NULL, 1, NULL,
     "seed of the draws (the same seed gives the same text)", 0},
};

#define N_SAMPLE_OPTS ((int)(sizeof(sample_opts) / sizeof(sample_opts[0])))

static void sample_defaults(struct sample_args *a)
{
    memset(a, 0, sizeof(*a));
    a->prompt = "The ";
    a->length = 500;
    a->temperature = 0.8;
}

void sample_help(FILE *f)
{
    struct sample_args d;
    sample_defaults(&d);
    fprintf(f, "usage: kiln sample CHECKPOINT [options]\n\n"
               "Generates text with the character language model of a `kiln train charlm`\n"
               "checkpoint: the prompt runs through the model, then each next character is\n"
               "drawn from its predicted distribution and fed back.\n\noptions:\n");
    opts_help(f, sample_opts, N_SAMPLE_OPTS, 1, &d);
}

/* Runs one character through m (state in b) and reads the logits of the next. */
static kiln_status feed(struct lm_net *m, struct lm_buf *b, int32_t id, int64_t vocab,
                        float *logits)
{
    kiln_tensor *targets[3] = {m->logits, m->hn, m->cn};
    size_t sb = (size_t)m->state * sizeof(float);
    one_hot_rows(&id, 1, 1, vocab, b->x);
    KILN_TRY_CLI(kiln_tensor_upload(m->x, b->x, (size_t)vocab * sizeof(float)));
    KILN_TRY_CLI(kiln_tensor_upload(m->h0, b->h, sb));
    if (m->c0 != NULL) {
        KILN_TRY_CLI(kiln_tensor_upload(m->c0, b->c, sb));
    }
    KILN_TRY_CLI(kiln_graph_eval(m->g, m->cn != NULL ? 3 : 2, targets));
    KILN_TRY_CLI(kiln_tensor_download(m->logits, logits, (size_t)vocab * sizeof(float)));
    KILN_TRY_CLI(kiln_tensor_download(m->hn, b->h, sb));
    return m->cn != NULL ? kiln_tensor_download(m->cn, b->c, sb) : KILN_OK;
}

/* The sample itself: the prompt's characters, then length drawn ones. */
static int generate(const struct sample_args *sa, const kiln_vocab *v, struct lm_net *m,
                    struct lm_buf *b, int64_t vocab)
{
    int64_t n_prompt = 0, len = (int64_t)strlen(sa->prompt);
    int32_t *ids = malloc((size_t)(len + 1) * sizeof(int32_t));
    float *logits = malloc((size_t)vocab * sizeof(float));
    double *p = malloc((size_t)vocab * sizeof(double));
    uint64_t rng = (uint64_t)sa->seed;
    int rc = EXIT_FAILURE;
    if (ids == NULL || logits == NULL || p == NULL ||
        kiln_vocab_encode(v, sa->prompt, (size_t)len, ids, len, &n_prompt) != KILN_OK) {
        fail("encoding the prompt");
        goto done;
    }
    fputs(sa->prompt, stdout);
    int32_t cur = ids[0];
    for (int64_t i = 0; i < n_prompt - 1 + sa->length; i++) {
        if (feed(m, b, cur, vocab, logits) != KILN_OK) {
            fail("sampling");
            goto done;
        }
        if (i + 1 < n_prompt) {
            cur = ids[i + 1];
            continue;
        }
        cur = draw(logits, vocab, sa->temperature, &rng, p);
        put_utf8(stdout, kiln_vocab_char(v, cur));
    }
    fputc('\n', stdout);
    rc = EXIT_SUCCESS;
done:
    free(ids);
    free(logits);
    free(p);
    return rc;
}

int cmd_sample(int argc, char **argv)
{
    struct sample_args sa;
    struct model_cfg cfg;
    struct kiln_load_options lo = KILN_LOAD_OPTIONS_INIT;
    const char *pos[1];
    int n_pos = 0, help = 0, rc = EXIT_FAILURE;
    kiln_meta *meta = NULL;
    kiln_vocab *v = NULL;
    kiln_context *ctx = NULL;
    kiln_store *store = NULL;
    struct lm_net m = {0};
    struct lm_buf b = {0};
    sample_defaults(&sa);
    memset(&cfg, 0, sizeof(cfg));
    if (!opts_parse("sample", sample_opts, N_SAMPLE_OPTS, 1, argc, argv, &sa, pos, 1, &n_pos,
                    &help)) {
        return EXIT_USAGE;
    }
    if (help) {
        sample_help(stdout);
        return EXIT_SUCCESS;
    }
    if (n_pos != 1) {
        fprintf(stderr, "kiln sample: expects one checkpoint (see kiln help sample)\n");
        return EXIT_USAGE;
    }
    if (kiln_meta_read(pos[0], &meta) != KILN_OK) {
        return fail("reading the checkpoint");
    }
    if (!model_cfg_from_meta(&cfg, meta, pos[0])) {
        goto done;
    }
    if (text_scope(cfg.model) != SC_CHARLM) {
        fprintf(stderr,
                "kiln sample: %s is a checkpoint of %s, not of a character language "
                "model (kiln train charlm)\n",
                pos[0], cfg.model);
        goto done;
    }
    if (kiln_vocab_load(cfg.vocab, &v) != KILN_OK || kiln_vocab_size(v) != cfg.lm.vocab) {
        rc = fail("reading the checkpoint's vocabulary");
        goto done;
    }
    if (open_context(&ctx, NULL) != EXIT_SUCCESS || kiln_store_create(ctx, &store) != KILN_OK ||
        build_net(store, &cfg.lm, 1, 1, 0, 0, &m) != KILN_OK ||
        kiln_checkpoint_load(store, pos[0], &lo, NULL) != KILN_OK ||
        !alloc_buf(&m, cfg.lm.vocab, &b)) {
        rc = fail("loading the model");
        goto done;
    }
    rc = generate(&sa, v, &m, &b, cfg.lm.vocab);
done:
    free_buf(&b);
    free_net(&m);
    kiln_store_destroy(store);
    kiln_context_destroy(ctx);
    kiln_vocab_destroy(v);
    kiln_meta_destroy(meta);
    model_cfg_fini(&cfg);
    return rc;
}
