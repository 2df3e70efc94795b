/*
 * run.c - what a `kiln train` run shows and records while its loop runs: the progress
 * display (a bar fitted to the terminal's width with elapsed time, ETA, loss and
 * throughput, or plain lines when stderr is not a terminal), epoch lines, the --log
 * CSV (rows past a resumed checkpoint dropped, so a resumed run's log reads as an
 * uninterrupted one's), checkpoints every --checkpoint-every steps and at every epoch
 * end, early stopping, the note about compiling kernels on a first run, and the help
 * of `kiln train`. Checkpoint files and --resume are in resume.c.
 */
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ==== The --log file ==== */

static const char *const header_classifier =
    "kind,epoch,step,loss,lr,val_accuracy,test_accuracy,images_per_s,elapsed_s";
static const char *const header_gan = "kind,epoch,step,d_loss,g_loss,lr,images_per_s,elapsed_s";

/* Rewrites path keeping its header and the rows up to step `upto` (resuming). */
static int truncate_log(const char *path, int64_t upto)
{
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        return errno == ENOENT;
    }
    char tmp[4200], line[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    FILE *out = fopen(tmp, "w");
    int first = 1, ok = out != NULL;
    while (ok && fgets(line, sizeof(line), in) != NULL) {
        long long step = 0;
        char kind[16];
        int keep = first ||
                   (sscanf(line, "%15[^,],%*[^,],%lld", kind, &step) == 2 && (int64_t)step <= upto);
        first = 0;
        if (keep) {
            ok = fputs(line, out) >= 0;
        }
    }
    fclose(in);
    if (out != NULL) {
        ok = fclose(out) == 0 && ok;
    }
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "kiln train: cannot rewrite the log %s: %s\n", path, strerror(errno));
        remove(tmp);
        return 0;
    }
    return 1;
}

static int open_log(struct run *r, int resuming)
{
    const char *path = r->a->log;
    struct stat st;
    if (path == NULL) {
        return 1;
    }
    if (resuming && !truncate_log(path, r->pos.step)) {
        return 0;
    }
    int fresh = !resuming || stat(path, &st) != 0 || st.st_size == 0;
    r->log = fopen(path, fresh ? "w" : "a");
    if (r->log == NULL) {
        fprintf(stderr, "kiln train: cannot open the log %s: %s\n", path, strerror(errno));
        return 0;
    }
    if (fresh) {
        fprintf(r->log, "%s\n",
                r->log_header != NULL ? r->log_header : (r->gan ? header_gan : header_classifier));
        fflush(r->log);
    }
    return 1;
}

void run_log(struct run *r, const char *row)
{
    if (r->log != NULL) {
        fprintf(r->log, "%s\n", row);
        fflush(r->log);
    }
}

/* ==== Setup ==== */

int run_complete(const struct train_setup *su, int64_t total_steps)
{
    if (su->meta == NULL || su->pos.step < total_steps) {
        return 0;
    }
    fprintf(stderr,
            "kiln train: the run of %s is complete (step %lld of %lld); --epochs or "
            "--max-steps extend it\n",
            su->ckpt, (long long)su->pos.step, (long long)total_steps);
    return 1;
}

double run_elapsed(const struct run *r)
{
    return r->pos.elapsed + (now_s() - r->t0);
}

int run_begin(struct run *r, const struct train_args *a, const struct train_setup *su,
              const struct model_cfg *cfg, kiln_store *store, int64_t steps_per_epoch,
              int64_t total_steps)
{
    int gan = r->gan;
    const char *unit = r->unit, *header = r->log_header;
    struct stats_track st = r->st;
    const char *parallel = r->parallel;
    memset(r, 0, sizeof(*r));
    r->gan = gan;
    r->unit = unit != NULL ? unit : "images";
    r->log_header = header;
    r->st = st;
    r->parallel = parallel;
    r->a = a;
    r->cfg = cfg;
    r->store = store;
    r->out = a->quiet || a->json ? NULL : stdout;
    r->bar = !a->quiet && isatty(STDERR_FILENO);
    r->lines = !a->quiet && !r->bar;
    r->steps_per_epoch = steps_per_epoch;
    r->total_steps = total_steps;
    r->log_every =
        a->log_every > 0 ? a->log_every : (steps_per_epoch >= 10 ? steps_per_epoch / 10 : 1);
    r->pos.steps_per_epoch = steps_per_epoch;
    r->pos.best_val = -1.0;
    if (su->meta != NULL) {
        r->pos = su->pos;
        if (su->pos.steps_per_epoch != steps_per_epoch) {
            fprintf(stderr,
                    "kiln train: the data gives %lld batches per epoch, the checkpoint's run "
                    "had %lld: is --data the same?\n",
                    (long long)steps_per_epoch, (long long)su->pos.steps_per_epoch);
            return 0;
        }
    }
    r->start_step = r->pos.step;
    run_clean_out(a, r->out);
    if (!open_log(r, su->meta != NULL)) {
        return 0;
    }
    r->t0 = now_s();
    return 1;
}

void run_end(struct run *r)
{
    if (r->log != NULL) {
        fclose(r->log);
        r->log = NULL;
    }
}

/* ==== Progress ==== */

static int terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) {
        return ws.ws_col;
    }
    const char *c = getenv("COLUMNS");
    int n = c != NULL ? atoi(c) : 0;
    return n >= 20 && n <= 1000 ? n : 80;
}

static void clock_text(double s, char *buf, size_t n)
{
    long t = s > 0 && s < 1e8 ? (long)(s + 0.5) : 0;
    if (t >= 3600) {
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    } else {
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
    }
}

void run_progress_clear(struct run *r)
{
    if (r->bar && r->last_draw > 0) {
        fprintf(stderr, "\r%*s\r", terminal_width() - 1, "");
        fflush(stderr);
        r->last_draw = 0;
    }
}

void run_progress(struct run *r, int64_t epoch, int64_t n_epochs, int64_t step_in_epoch,
                  int64_t steps_in_epoch, const char *loss, double images_per_s)
{
    double now = now_s();
    int last = step_in_epoch == steps_in_epoch;
    int64_t every = steps_in_epoch >= 10 ? steps_in_epoch / 10 : 1;
    if ((r->bar && !last && now - r->last_draw < 0.1) ||
        (r->lines && !last && step_in_epoch % every != 0) || (!r->bar && !r->lines)) {
        return;
    }
    int64_t step = r->pos.step, done = step - r->start_step;
    double rate = done > 0 ? (double)done / (now - r->t0) : 0.0;
    char el[32], eta[32], right[256], left[64];
    clock_text(run_elapsed(r), el, sizeof(el));
    clock_text(rate > 0 ? (double)(r->total_steps - step) / rate : 0, eta, sizeof(eta));
    snprintf(left, sizeof(left), "epoch %lld/%lld", (long long)epoch, (long long)n_epochs);
    snprintf(right, sizeof(right), "%lld/%lld %s | %.0f %.4s/s | %s ETA %s",
             (long long)step_in_epoch, (long long)steps_in_epoch, loss, images_per_s,
             strcmp(r->unit, "images") == 0 ? "img" : r->unit, el, rate > 0 ? eta : "?");
    if (r->lines) {
        fprintf(stderr, "%s step %s\n", left, right);
        return;
    }
    int width = terminal_width() - 1, used = (int)(strlen(left) + strlen(right)) + 4;
    int barw = width - used > 40 ? 40 : width - used;
    char bar[48] = "";
    if (barw >= 8) {
        int fill =
            (int)((int64_t)(barw - 2) * step_in_epoch / (steps_in_epoch ? steps_in_epoch : 1));
        bar[0] = '[';
        for (int i = 0; i < barw - 2; i++) {
            bar[i + 1] = i < fill ? '=' : (i == fill ? '>' : ' ');
        }
        bar[barw - 1] = ']';
        bar[barw] = '\0';
    }
    char line[512];
    snprintf(line, sizeof(line), "%s %s%s%s", left, bar, bar[0] ? " " : "", right);
    fprintf(stderr, "\r%.*s", width, line);
    fflush(stderr);
    r->last_draw = now;
}

/* ==== The first compile ==== */

/* Whether kiln's kernel cache for backend has anything in it. */
static int cache_warm(const char *backend)
{
    char dir[1024];
    const char *d = getenv("KILN_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
    if (d != NULL && d[0] != '\0') {
        snprintf(dir, sizeof(dir), "%s", d);
    } else if (xdg != NULL && xdg[0] != '\0') {
        snprintf(dir, sizeof(dir), "%s/kiln", xdg);
    } else if (home != NULL && home[0] != '\0') {
        snprintf(dir, sizeof(dir), "%s/.cache/kiln", home);
    } else {
        return 0;
    }
    int opencl = strcmp(backend, "opencl") == 0, found = 0;
    if (opencl) {
        strncat(dir, "/opencl", sizeof(dir) - strlen(dir) - 1);
    }
    DIR *dd = opendir(dir);
    struct dirent *e;
    while (dd != NULL && !found && (e = readdir(dd)) != NULL) {
        found = opencl ? e->d_name[0] != '.' : strncmp(e->d_name, "vulkan-", 7) == 0;
    }
    if (dd != NULL) {
        closedir(dd);
    }
    return found;
}

void run_compile_note(kiln_context *ctx, const struct train_args *a)
{
    const char *be = kiln_context_backend(ctx);
    if (a->quiet || strcmp(be, "cpu") == 0 || cache_warm(be)) {
        return;
    }
    if (strcmp(be, "opencl") == 0) {
        fprintf(stderr,
                "opencl: first run on %s: the OpenCL kernels compile while the first steps run "
                "(PoCL on a CPU: about 1 to 3 minutes; later runs load them from the cache)\n",
                kiln_context_device(ctx));
    } else {
        fprintf(stderr,
                "%s: first run on %s: the pipelines are created while the first steps run "
                "(seconds; later runs load them from the pipeline cache)\n",
                be, kiln_context_device(ctx));
    }
}

/* ==== The classifiers' loop ==== */

static void epoch_line(struct run *r, const struct kiln_fit_progress *p)
{
    FILE *f = r->out;
    if (f == NULL) {
        return;
    }
    fprintf(f, "epoch %d/%d: train loss %.4f", p->epoch, p->n_epochs, p->train_loss);
    if (!isnan(p->val_accuracy)) {
        fprintf(f, ", val accuracy %.4f", p->val_accuracy);
    }
    if (!isnan(p->test_accuracy)) {
        fprintf(f, ", test accuracy %.4f", p->test_accuracy);
    }
    fprintf(f, " (%lld steps in %.2f s: %.1f steps/s, %.0f %s/s; eval %.2f s)\n",
            (long long)p->steps_per_epoch, p->seconds, p->steps_per_s, p->images_per_s, r->unit,
            p->eval_seconds);
}

static void fmt_num(char *buf, size_t n, double v)
{
    if (isnan(v)) {
        buf[0] = '\0';
    } else {
        snprintf(buf, n, "%.6g", v);
    }
}

/* A checkpoint of the current position (elapsed time of the whole run). */
static int checkpoint_now(struct run *r, int final)
{
    struct run_pos pos = r->pos;
    pos.elapsed = run_elapsed(r);
    return run_checkpoint(r, &pos, final);
}

int run_checkpoint_final(struct run *r)
{
    return checkpoint_now(r, 1);
}

void run_first_step(struct run *r)
{
    double secs = now_s() - r->t0;
    if (!r->first_step_seen && !r->a->quiet && secs > 2.0) {
        run_progress_clear(r);
        fprintf(stderr,
                "first step: %.1f s (kernels compiled or loaded from the cache; the "
                "next steps are faster)\n",
                secs);
    }
    r->first_step_seen = 1;
}

static void step_event(struct run *r, const struct kiln_fit_progress *p)
{
    char row[512], loss[32];
    run_first_step(r);
    if (!isnan(p->loss)) {
        r->pos.log_sum[0] += p->loss;
        r->pos.log_n++;
    }
    if (p->step % r->log_every == 0) {
        fmt_num(loss, sizeof(loss), r->pos.log_n ? r->pos.log_sum[0] / (double)r->pos.log_n : NAN);
        snprintf(row, sizeof(row), "step,%d,%lld,%s,%.6g,,,%.1f,%.3f", p->epoch, (long long)p->step,
                 loss, p->lr, p->images_per_s, run_elapsed(r));
        run_log(r, row);
        r->pos.log_sum[0] = 0.0;
        r->pos.log_n = 0;
    }
    snprintf(loss, sizeof(loss), "loss %.4f", p->train_loss);
    run_progress(r, p->epoch, p->n_epochs, p->step_in_epoch, p->steps_per_epoch, loss,
                 p->images_per_s);
}

int run_classifier_progress(void *ud, const struct kiln_fit_progress *p)
{
    struct run *r = ud;
    const struct train_args *a = r->a;
    stats_note(&r->st, p);
    r->pos.epoch = p->epoch;
    r->pos.step = p->step;
    r->pos.loss_sum[0] = p->loss_sum;
    r->pos.loss_n = p->loss_n;
    if (p->event == KILN_FIT_STEP) {
        step_event(r, p);
        if (a->checkpoint_every > 0 && p->step % a->checkpoint_every == 0 &&
            p->step_in_epoch != p->steps_per_epoch) {
            return !checkpoint_now(r, 0);
        }
        return 0;
    }
    char row[512], val[32], test[32];
    int stop = 0;
    run_progress_clear(r);
    epoch_line(r, p);
    fmt_num(val, sizeof(val), p->val_accuracy);
    fmt_num(test, sizeof(test), p->test_accuracy);
    snprintf(row, sizeof(row), "epoch,%d,%lld,%.6g,%.6g,%s,%s,%.1f,%.3f", p->epoch,
             (long long)p->step, p->train_loss, p->lr, val, test, p->images_per_s, run_elapsed(r));
    run_log(r, row);
    if (!isnan(p->val_accuracy)) {
        if (p->val_accuracy > r->pos.best_val) {
            r->pos.best_val = p->val_accuracy;
            r->pos.bad_epochs = 0;
        } else {
            r->pos.bad_epochs++;
        }
        if (a->patience > 0 && r->pos.bad_epochs >= a->patience) {
            r->stopped_early = stop = 1;
            if (r->out != NULL) {
                fprintf(r->out,
                        "early stopping: no better validation accuracy than %.4f for %lld "
                        "epochs\n",
                        r->pos.best_val, (long long)r->pos.bad_epochs);
            }
        }
    }
    if (!checkpoint_now(r, 0)) {
        return 1;
    }
    return stop;
}

/* ==== Help ==== */

static const char *const model_help[][2] = {
    {"mlp", "a 784-256-128-10 ReLU MLP (layers fc1, fc2, fc3), inputs normalized with the "
            "training set's mean and std"},
    {"lenet", "LeNet-5: conv5x5(6, pad 2)-ReLU-maxpool, conv5x5(16)-ReLU-maxpool, fc "
              "120-84-10 (61,706 parameters)"},
    {"alexnet", "AlexNet-style: conv5x5(32)-ReLU-LRN-maxpool, conv3x3(64)-ReLU-LRN-maxpool, "
                "conv3x3 96-96-64, maxpool, dropout-fc256-dropout-fc256-fc10"},
    {"vgg", "VGG-style: 3 stages of two conv3x3-BN-ReLU (16, 32, 64) and maxpool2, "
            "fc128-dropout-fc10"},
    {"googlenet", "GoogLeNet-style: conv3x3(32)-BN-ReLU, maxpool2, inception blocks 3a, 3b, "
                  "maxpool, 4a, global average pool, fc10"},
    {"resnet", "ResNet-(6N+2) for small images: conv3x3(16)-BN-ReLU, 3 stages of N basic "
               "blocks, global average pool, fc10"},
    {"gan", "a DCGAN on Fashion-MNIST scaled to [-1, 1]: generator and discriminator trained "
            "with their own Adam; sample grids and checkpoints of both networks"},
    {"textcnn", "a text classifier over character (and optionally bigram) embeddings: "
                "convolutions of several widths, ReLU, the maximum and mean of each filter over "
                "the real characters, dropout, a dense layer"},
    {"textrnn", "a text classifier over character (and optionally bigram) embeddings: an LSTM "
                "or GRU (stacked, bidirectional), the maximum of its outputs over the real "
                "characters (or their additive attention pooling), dropout, a dense layer"},
    {"textattn", "a text classifier over character and bigram embeddings: sinusoidal "
                 "positions, pre-norm transformer encoder layers (multi-head self-attention "
                 "masking the padding, GELU feed-forward), layer norm, the mean over the real "
                 "characters, dropout, a dense layer"},
    {"charlm", "a character language model: one-hot characters, LSTM or GRU layers and a dense "
               "decoder, trained by truncated backpropagation through time on contiguous "
               "streams of a text (kiln sample generates from it)"},
};

void train_help(FILE *f, const char *model)
{
    struct train_args d;
    unsigned scope = model != NULL ? train_scope(model) : SC_TRAIN;
    fprintf(f, "usage: kiln train %s [options]\n", model != NULL ? model : "MODEL");
    fprintf(f, "       kiln train [%s] --resume CHECKPOINT|DIR [options]\n\n",
            model != NULL ? model : "MODEL");
    for (size_t i = 0; i < sizeof(model_help) / sizeof(model_help[0]); i++) {
        if (model == NULL || strcmp(model, model_help[i][0]) == 0) {
            fprintf(f, "  %-10s ", model_help[i][0]);
            opts_wrap(f, model_help[i][1], 13, 13, 100);
        }
    }
    if (model == NULL) {
        fprintf(f, "  %-10s ", "treenn");
        opts_wrap(f,
                  "a recursive tree net on boolean-expression trees, with options of its own "
                  "(kiln train treenn --help)",
                  13, 13, 100);
    }
    if (scope & SC_CLASSIFIER) {
        fprintf(f, "\nImage models train on Fashion-MNIST and print the loss and accuracies per "
                   "epoch.\n");
    }
    if (scope & SC_TEXT) {
        fprintf(f, "\nText classifiers train on a directory of label<TAB>text files (default: "
                   "fortunes-zh-5)\nand print the loss and accuracies per epoch.\n");
    }
    if (scope & SC_CHARLM) {
        fprintf(f, "\ncharlm trains on a UTF-8 text (default: Moby Dick) and prints the held-out "
                   "bits per\ncharacter per epoch.\n");
    }
    fprintf(f, "\n");
    fprintf(f, model != NULL ? "options:\n"
                             : "options (defaults of lenet; `kiln train MODEL "
                               "--help` lists a model's own):\n");
    train_defaults(model != NULL ? model : "lenet", &d);
    opts_help(f, train_opts, n_train_opts, scope, &d);
}
