/*
 * resume.c - the options of `kiln train` with --resume, and the checkpoint files of a
 * run: finding the newest checkpoint in a directory, the "options" and "training"
 * metadata a checkpoint records (the run's options, and its position: epoch, step, loss
 * sums, elapsed time, early-stopping state, the GAN's noise position), removing the
 * temporary files of killed writers and keeping the newest --keep checkpoints. A
 * resumed run takes its options from the checkpoint; the command line may change only
 * those that do not change what is computed (--epochs, --out, --log...).
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checked.h"
#include "run.h"

/* ==== Checkpoint files ==== */

static void remove_stale_temps(const char *dir, FILE *info)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    static const char tag[] = ".safetensors.tmp.";
    while (d != NULL && (e = readdir(d)) != NULL) {
        const char *t = strstr(e->d_name, tag);
        char *end;
        if (t == NULL) {
            continue;
        }
        long pid = strtol(t + strlen(tag), &end, 10);
        /* a writer that still runs keeps its file */
        if (*end != '\0' || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (remove(path) == 0 && info != NULL) {
            fprintf(info, "removed the temporary file of an interrupted write: %s\n", path);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
}

/* The step of a file name "<model>-stepNNNNNNNN.safetensors", or -1. */
static int64_t step_of_name(const char *model, const char *name)
{
    size_t ml = strlen(model);
    char tail[64];
    long long step;
    int used = 0;
    if (strncmp(name, model, ml) != 0 || sscanf(name + ml, "-step%lld%n", &step, &used) != 1 ||
        step < 0) {
        return -1;
    }
    snprintf(tail, sizeof(tail), "-step%08lld.safetensors", step);
    return strcmp(name + ml, tail) == 0 ? (int64_t)step : -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Deletes all but the newest keep step checkpoints of model in dir. */
static void prune(const char *dir, const char *model, int64_t keep)
{
    enum { MAX_FILES = 4096 };
    int64_t *steps = malloc(sizeof(*steps) * MAX_FILES);
    int n = 0;
    DIR *d = steps != NULL ? opendir(dir) : NULL;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL && n < MAX_FILES) {
        int64_t s = step_of_name(model, e->d_name);
        if (s >= 0) {
            steps[n++] = s;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    if (n > 1) {
        qsort(steps, (size_t)n, sizeof(steps[0]), cmp_i64);
    }
    for (int i = 0; i < n - keep; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s-step%08" PRId64 ".safetensors", dir, model, steps[i]);
        remove(path);
    }
    free(steps);
}

/* The "training" object of a checkpoint's metadata; sums as exact decimal strings, so
 * that a resumed mean is bit-identical. */
static char *position_json(const struct run_pos *p)
{
    cJSON *o = cJSON_CreateObject();
    char buf[64];
    if (o == NULL) {
        return NULL;
    }
    cJSON_AddNumberToObject(o, "epoch", (double)p->epoch);
    cJSON_AddNumberToObject(o, "step", (double)p->step);
    cJSON_AddNumberToObject(o, "steps_per_epoch", (double)p->steps_per_epoch);
    for (int i = 0; i < 2; i++) {
        snprintf(buf, sizeof(buf), "%.17g", p->loss_sum[i]);
        cJSON_AddStringToObject(o, i == 0 ? "loss_sum" : "loss2_sum", buf);
        snprintf(buf, sizeof(buf), "%.17g", p->log_sum[i]);
        cJSON_AddStringToObject(o, i == 0 ? "log_sum" : "log2_sum", buf);
    }
    cJSON_AddNumberToObject(o, "loss_n", (double)p->loss_n);
    cJSON_AddNumberToObject(o, "log_n", (double)p->log_n);
    snprintf(buf, sizeof(buf), "%.17g", p->elapsed);
    cJSON_AddStringToObject(o, "elapsed", buf);
    snprintf(buf, sizeof(buf), "%.17g", p->best_val);
    cJSON_AddStringToObject(o, "best_val", buf);
    cJSON_AddNumberToObject(o, "bad_epochs", (double)p->bad_epochs);
    snprintf(buf, sizeof(buf), "%" PRIu64, p->noise);
    cJSON_AddStringToObject(o, "noise", buf);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* A real of the "training" object: a JSON number or a decimal string (the sums are
 * written as exact "%.17g" strings), finite. Clears *ok otherwise. */
static double field(const cJSON *o, const char *key, int *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char *end;
    double x = NAN;
    if (cJSON_IsNumber(v)) {
        x = v->valuedouble;
    } else if (cJSON_IsString(v) && v->valuestring[0] != '\0') {
        x = strtod(v->valuestring, &end);
        x = *end == '\0' ? x : NAN;
    }
    if (!isfinite(x)) {
        *ok = 0;
        return 0.0;
    }
    return x;
}

/* A count of the "training" object in [lo, hi]: a JSON number that is a whole number
 * (converting 1e300 or -1e300 to int64_t would be undefined), or a string of digits.
 * Clears *ok otherwise. */
static int64_t count_field(const cJSON *o, const char *key, int64_t lo, int64_t hi, int *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int64_t x = 0;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d >= (double)lo && d <= (double)hi && d == floor(d)) {
            return (int64_t)d;
        }
    } else if (cJSON_IsString(v) && kiln__parse_i64(v->valuestring, lo, hi, &x)) {
        return x;
    }
    *ok = 0;
    return lo;
}

/* Reads the position of a checkpoint; quietly returns 0 when it has none or when one
 * of its numbers is out of range (the file is not kiln's, or was damaged). */
static int position_from_meta(const kiln_meta *meta, struct run_pos *p)
{
    /* Steps and counts of any real run stay far below 2^53. */
    const int64_t max = INT64_C(1) << 53;
    const char *json = kiln_meta_get(meta, "training");
    cJSON *o = json != NULL ? cJSON_Parse(json) : NULL;
    int ok = cJSON_IsObject(o);
    memset(p, 0, sizeof(*p));
    p->epoch = count_field(o, "epoch", 0, max, &ok);
    p->step = count_field(o, "step", 0, max, &ok);
    p->steps_per_epoch = count_field(o, "steps_per_epoch", 1, max, &ok);
    p->loss_sum[0] = field(o, "loss_sum", &ok);
    p->loss_sum[1] = field(o, "loss2_sum", &ok);
    p->loss_n = count_field(o, "loss_n", 0, max, &ok);
    p->log_sum[0] = field(o, "log_sum", &ok);
    p->log_sum[1] = field(o, "log2_sum", &ok);
    p->log_n = count_field(o, "log_n", 0, max, &ok);
    p->elapsed = field(o, "elapsed", &ok);
    p->best_val = field(o, "best_val", &ok);
    p->bad_epochs = count_field(o, "bad_epochs", 0, max, &ok);
    const cJSON *nz = cJSON_GetObjectItemCaseSensitive(o, "noise");
    const char *nzs = cJSON_IsString(nz) ? nz->valuestring : "0";
    char *end = NULL;
    errno = 0;
    /* Digits only: strtoull alone takes a sign ("-1" as 2^64 - 1) and blanks. */
    p->noise = nzs[0] >= '0' && nzs[0] <= '9' ? strtoull(nzs, &end, 10) : 0;
    ok = ok && end != NULL && *end == '\0' && errno == 0 && p->elapsed >= 0.0;
    cJSON_Delete(o);
    return ok;
}

/* The checkpoint --resume path means: the file, or the one of model with the most
 * steps in a directory. */
static int find_checkpoint(const char *path, const char *model, char *out, size_t n)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "kiln train: --resume %s: %s\n", path, strerror(errno));
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(out, n, "%s", path);
        return 1;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    int64_t best = -1;
    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        char file[4096];
        kiln_meta *meta = NULL;
        struct run_pos pos;
        if (len < 12 || strcmp(e->d_name + len - 12, ".safetensors") != 0) {
            continue;
        }
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        if (kiln_meta_read(file, &meta) != KILN_OK) {
            kiln_clear_error();
            continue;
        }
        const char *m = kiln_meta_get(meta, "model");
        if (m != NULL && (model == NULL || strcmp(m, model) == 0) &&
            position_from_meta(meta, &pos) && pos.step > best) {
            best = pos.step;
            snprintf(out, n, "%s", file);
        }
        kiln_meta_destroy(meta);
    }
    if (d != NULL) {
        closedir(d);
    }
    if (best < 0) {
        fprintf(stderr, "kiln train: --resume %s: no checkpoint%s%s in the directory\n", path,
                model != NULL ? " of " : "", model != NULL ? model : "");
        return 0;
    }
    return 1;
}

/* The "options" object: every saved train option of a's model as text. */
static char *options_json(const struct train_args *a)
{
    cJSON *o = cJSON_CreateObject();
    unsigned scope = train_scope(a->model);
    for (int i = 0; o != NULL && i < n_train_opts; i++) {
        const struct opt_def *d = &train_opts[i];
        char v[1024];
        if (!(d->scope & scope) || (d->flags & OPTF_NOT_SAVED)) {
            continue;
        }
        opts_format(d, a, v, sizeof(v));
        cJSON_AddStringToObject(o, d->name + 2, v);
    }
    char *s = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

/* Applies the "options" of a checkpoint to a (its strings stay in *hold). */
static int options_from_meta(const kiln_meta *meta, const char *path, struct train_args *a,
                             void **hold)
{
    const char *json = kiln_meta_get(meta, "options");
    cJSON *o = json != NULL ? cJSON_Parse(json) : NULL;
    unsigned scope = train_scope(a->model);
    int ok = cJSON_IsObject(o);
    for (int i = 0; ok && i < n_train_opts; i++) {
        const struct opt_def *d = &train_opts[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, d->name + 2);
        void *field_ptr = (char *)a + d->off;
        if (!(d->scope & scope) || (d->flags & OPTF_NOT_SAVED) || v == NULL) {
            continue;
        }
        if (!cJSON_IsString(v)) {
            ok = 0;
        } else if (d->kind == OPT_FLAG) {
            *(int *)field_ptr = strcmp(v->valuestring, "1") == 0;
        } else if (d->kind == OPT_STR || d->kind == OPT_CHOICE || d->kind == OPT_DIR_OUT) {
            /* unset strings stay unset; a directory is checked where it is used */
            *(const char **)field_ptr = v->valuestring[0] != '\0' ? v->valuestring : NULL;
        } else if (strtod(v->valuestring, NULL) != 0.0 || d->kind == OPT_REAL0) {
            ok = opts_set("train", d, a, v->valuestring);
        }
    }
    if (!ok) {
        fprintf(stderr, "kiln train: %s: malformed \"options\" metadata\n", path);
        cJSON_Delete(o);
        return 0;
    }
    *hold = o;
    return 1;
}

/* The value of --name in argv (NULL when absent). */
static const char *arg_value(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return NULL;
}

/* Checks the combinations of options a single option's range cannot. */
static int check_combinations(const struct train_args *a)
{
    const char *why = NULL;
    if (a->checkpoint_every > 0 && a->out == NULL) {
        why = "--checkpoint-every needs --out DIR";
    } else if (a->patience > 0 && a->val == 0) {
        why = "--patience (early stopping on the validation accuracy) needs --val N";
    } else if (a->label_smoothing > 0.0 && strcmp(a->loss, "xent") != 0) {
        why = "--label-smoothing applies to --loss xent only";
    } else if (a->label_smoothing >= 1.0) {
        why = "--label-smoothing expects a number in [0, 1)";
    } else if (a->size != 28 && a->size != 32) {
        why = "--size expects 28 or 32";
    } else if (a->resume != NULL && a->init_from != NULL) {
        why = "--resume and --init-from exclude each other (a resumed run has its weights)";
    } else if (a->partial && a->init_from == NULL) {
        why = "--partial applies to --init-from";
    } else if (a->json && a->quiet) {
        why = "--json and --quiet exclude each other";
    } else if (text_scope(a->model) != 0) {
        why = text_check(a);
    }
    if (why != NULL) {
        fprintf(stderr, "kiln train: %s\n", why);
        return 0;
    }
    return 1;
}

int train_parse(const char *model, int argc, char **argv, struct train_args *a,
                struct train_setup *su)
{
    struct train_args saved;
    int help = 0;
    memset(su, 0, sizeof(*su));
    const char *resume = arg_value(argc, argv, "--resume");
    if (resume != NULL) {
        if (!find_checkpoint(resume, model, su->ckpt, sizeof(su->ckpt))) {
            return EXIT_FAILURE;
        }
        if (kiln_meta_read(su->ckpt, &su->meta) != KILN_OK) {
            return fail("reading the checkpoint to resume");
        }
        const char *m = kiln_meta_get(su->meta, "model");
        if (m == NULL || train_scope(m) == 0) {
            fprintf(stderr, "kiln train: %s: no kiln model in its metadata\n", su->ckpt);
            return EXIT_FAILURE;
        }
        if (model != NULL && strcmp(model, m) != 0) {
            fprintf(stderr, "kiln train: %s is a checkpoint of %s, not %s\n", su->ckpt, m, model);
            return EXIT_USAGE;
        }
        model = kiln_meta_get(su->meta, "model");
        if (!position_from_meta(su->meta, &su->pos)) {
            fprintf(stderr,
                    "kiln train: %s has no training position, or a malformed one "
                    "(\"training\" metadata): use --init-from to start from its weights\n",
                    su->ckpt);
            return EXIT_FAILURE;
        }
    }
    if (model == NULL) {
        fprintf(stderr, "kiln train: name a model or --resume a checkpoint (see kiln help "
                        "train)\n");
        return EXIT_USAGE;
    }
    train_defaults(model, a);
    if (su->meta != NULL && !options_from_meta(su->meta, su->ckpt, a, &su->hold)) {
        return EXIT_FAILURE;
    }
    saved = *a;
    if (!opts_parse("train", train_opts, n_train_opts, train_scope(model), argc, argv, a, NULL, 0,
                    NULL, &help)) {
        fprintf(stderr, "kiln train: see `kiln train %s --help`\n", model);
        return EXIT_USAGE;
    }
    if (help) {
        train_help(stdout, model);
        return -1;
    }
    a->model = model;
    for (int i = 0; su->meta != NULL && i < n_train_opts; i++) {
        const struct opt_def *d = &train_opts[i];
        char was[1024], now[1024];
        if (!(d->scope & train_scope(model)) || (d->flags & OPTF_RESUMABLE)) {
            continue;
        }
        opts_format(d, &saved, was, sizeof(was));
        opts_format(d, a, now, sizeof(now));
        if (strcmp(was, now) != 0) {
            fprintf(stderr,
                    "kiln train: %s %s differs from the checkpoint's %s: a resumed run keeps "
                    "its options (start a new run with --init-from to change them)\n",
                    d->name, now, was[0] ? was : "(none)");
            return EXIT_USAGE;
        }
    }
    return check_combinations(a) ? EXIT_SUCCESS : EXIT_USAGE;
}

void train_setup_fini(struct train_setup *su)
{
    kiln_meta_destroy(su->meta);
    cJSON_Delete(su->hold);
    su->meta = NULL;
    su->hold = NULL;
}

/* ==== Reading and writing checkpoints ==== */

int run_load_weights(const struct train_args *a, const struct train_setup *su, kiln_store *store,
                     FILE *info)
{
    struct kiln_load_options lo = KILN_LOAD_OPTIONS_INIT;
    struct kiln_load_report rep;
    if (su->meta != NULL) {
        lo.with_state = 1;
        if (kiln_checkpoint_load(store, su->ckpt, &lo, &rep) != KILN_OK) {
            return fail("resuming");
        }
        if (info != NULL) {
            fprintf(info, "resuming %s at epoch %lld, step %lld\n", su->ckpt,
                    (long long)(su->pos.step / su->pos.steps_per_epoch + 1),
                    (long long)su->pos.step);
        }
    } else if (a->init_from != NULL) {
        lo.partial = a->partial;
        if (kiln_checkpoint_load(store, a->init_from, &lo, &rep) != KILN_OK) {
            return fail("loading --init-from");
        }
        if (info != NULL) {
            fprintf(info, "weights: %d tensors from %s", rep.n_loaded, a->init_from);
            if (rep.n_missing + rep.n_extra + rep.n_mismatched > 0) {
                fprintf(info,
                        "; not loaded: %d missing (first %s), %d extra (first %s), %d of "
                        "another shape (first %s)",
                        rep.n_missing, rep.n_missing ? rep.first_missing : "-", rep.n_extra,
                        rep.n_extra ? rep.first_extra : "-", rep.n_mismatched,
                        rep.n_mismatched ? rep.first_mismatched : "-");
            }
            fprintf(info, "\n");
        }
    }
    return EXIT_SUCCESS;
}

int run_checkpoint(struct run *r, const struct run_pos *pos, int final)
{
    const struct train_args *a = r->a;
    char path[4096];
    kiln_meta *meta = NULL;
    if (a->out == NULL) {
        return 1;
    }
    if (final) {
        snprintf(path, sizeof(path), "%s/%s.safetensors", a->out, a->model);
    } else {
        snprintf(path, sizeof(path), "%s/%s-step%08" PRId64 ".safetensors", a->out, a->model,
                 pos->step);
    }
    struct kiln_save_options so = KILN_SAVE_OPTIONS_INIT;
    char *opts = options_json(a), *train = position_json(pos);
    kiln_status s = opts != NULL && train != NULL ? KILN_OK : KILN_E_OUT_OF_HOST_MEMORY;
    s = s == KILN_OK ? kiln_meta_create(&meta) : s;
    s = s == KILN_OK ? model_cfg_to_meta(r->cfg, meta) : s;
    s = s == KILN_OK ? kiln_meta_set(meta, "options", opts) : s;
    s = s == KILN_OK ? kiln_meta_set(meta, "training", train) : s;
    if (r->parallel != NULL && r->parallel[0] != '\0') {
        s = s == KILN_OK ? kiln_meta_set(meta, "parallel", r->parallel) : s;
    }
    so.meta = meta;
    double t0 = now_s();
    s = s == KILN_OK ? kiln_checkpoint_save(r->store, path, &so) : s;
    cJSON_free(opts);
    cJSON_free(train);
    kiln_meta_destroy(meta);
    if (s != KILN_OK) {
        fail("writing a checkpoint");
        return 0;
    }
    r->checkpoint_seconds += now_s() - t0;
    snprintf(r->last_checkpoint, sizeof(r->last_checkpoint), "%s", path);
    if (!final) {
        prune(a->out, a->model, a->keep);
    }
    return 1;
}

void run_clean_out(const struct train_args *a, FILE *info)
{
    if (a->out != NULL) {
        remove_stale_temps(a->out, info);
    }
}
