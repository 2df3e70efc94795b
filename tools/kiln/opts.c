/*
 * opts.c - table-driven options: one table per command says each option's name, type,
 * range or choices, where its value goes, which models take it and its help, so the
 * parser, `--help` (with every default read from a struct of defaults) and the
 * options recorded in a checkpoint cannot drift apart. The table of `kiln train` is
 * here too; the other commands keep theirs next to their code.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define FIELD(args, d, type) ((type *)(void *)((char *)(args) + (d)->off))

static int choice_ok(const char *choices, const char *v)
{
    size_t len = strlen(v);
    const char *p = choices;
    while (p != NULL && *p != '\0') {
        const char *bar = strchr(p, '|');
        size_t n = bar != NULL ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, v, n) == 0) {
            return 1;
        }
        p = bar != NULL ? bar + 1 : NULL;
    }
    return 0;
}

int opts_set(const char *cmd, const struct opt_def *d, void *args, const char *v)
{
    int64_t x;
    double r;
    switch (d->kind) {
    case OPT_FLAG:
    case OPT_UNFLAG:
        *FIELD(args, d, int) = d->kind == OPT_FLAG;
        return 1;
    case OPT_INT:
        if (!parse_int(cmd, d->name, v, d->lo, d->hi, &x)) {
            return 0;
        }
        *FIELD(args, d, int64_t) = x;
        return 1;
    case OPT_REAL:
    case OPT_REAL0:
        /* Finite, representable as a float, at most hi when hi > 0; OPT_REAL0 also
         * takes 0. */
        if (!parse_real(cmd, d->name, v, d->kind == OPT_REAL0, (double)d->hi, &r)) {
            return 0;
        }
        *FIELD(args, d, double) = r;
        return 1;
    case OPT_STR:
        if (v == NULL || v[0] == '\0') {
            fprintf(stderr, "kiln %s: %s expects %s\n", cmd, d->name, d->metavar);
            return 0;
        }
        *FIELD(args, d, const char *) = v;
        return 1;
    case OPT_CHOICE:
        if (v == NULL || !choice_ok(d->choices, v)) {
            fprintf(stderr, "kiln %s: %s expects one of %s, got '%s'\n", cmd, d->name, d->choices,
                    v != NULL ? v : "(nothing)");
            return 0;
        }
        *FIELD(args, d, const char *) = v;
        return 1;
    case OPT_DIR_OUT: {
        /* checked now, so that a long run does not end in a failed write */
        struct stat st;
        if (v == NULL || v[0] == '\0' || stat(v, &st) != 0 || !S_ISDIR(st.st_mode) ||
            access(v, W_OK) != 0) {
            fprintf(stderr, "kiln %s: %s expects a writable directory%s%s%s\n", cmd, d->name,
                    v != NULL ? " ('" : "", v != NULL ? v : "", v != NULL ? "' is not one)" : "");
            return 0;
        }
        *FIELD(args, d, const char *) = v;
        return 1;
    }
    }
    return 0;
}

static const struct opt_def *find_opt(const struct opt_def *defs, int n, unsigned scope,
                                      const char *name)
{
    for (int i = 0; i < n; i++) {
        if ((defs[i].scope & scope) && strcmp(defs[i].name, name) == 0) {
            return &defs[i];
        }
    }
    return NULL;
}

int opts_parse(const char *cmd, const struct opt_def *defs, int n_defs, unsigned scope, int argc,
               char **argv, void *args, const char **pos, int max_pos, int *n_pos, int *help)
{
    int np = 0;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            *help = 1;
            continue;
        }
        if (o[0] != '-' || o[1] == '\0') {
            if (np >= max_pos) {
                fprintf(stderr, "kiln %s: unexpected argument '%s'\n", cmd, o);
                return 0;
            }
            pos[np++] = o;
            continue;
        }
        const struct opt_def *d = find_opt(defs, n_defs, scope, o);
        if (d == NULL) {
            const struct opt_def *other = find_opt(defs, n_defs, ~0u, o);
            fprintf(stderr, "kiln %s: %s option '%s'\n", cmd,
                    other != NULL ? "this model does not take the" : "unknown", o);
            return 0;
        }
        int flag = d->kind == OPT_FLAG || d->kind == OPT_UNFLAG;
        const char *v = flag ? NULL : (i + 1 < argc ? argv[i + 1] : NULL);
        if (!flag && v == NULL) {
            fprintf(stderr, "kiln %s: %s expects %s\n", cmd, d->name, d->metavar);
            return 0;
        }
        if (!opts_set(cmd, d, args, v)) {
            return 0;
        }
        i += !flag;
    }
    if (n_pos != NULL) {
        *n_pos = np;
    }
    return 1;
}

void opts_format(const struct opt_def *d, const void *args, char *buf, size_t n)
{
    const void *a = args;
    switch (d->kind) {
    case OPT_FLAG:
        snprintf(buf, n, "%d", *FIELD(a, d, const int));
        return;
    case OPT_UNFLAG:
        snprintf(buf, n, "%d", !*FIELD(a, d, const int));
        return;
    case OPT_INT:
        snprintf(buf, n, "%" PRId64, *FIELD(a, d, const int64_t));
        return;
    case OPT_REAL:
    case OPT_REAL0:
        snprintf(buf, n, "%.17g", *FIELD(a, d, const double));
        return;
    case OPT_STR:
    case OPT_CHOICE:
    case OPT_DIR_OUT: {
        const char *s = *FIELD(a, d, const char *const);
        snprintf(buf, n, "%s", s != NULL ? s : "");
        return;
    }
    }
    buf[0] = '\0';
}

/* The default as the help shows it. */
static void default_text(const struct opt_def *d, const void *defaults, char *buf, size_t n)
{
    char v[256];
    opts_format(d, defaults, v, sizeof(v));
    int is_zero = v[0] == '\0' || strcmp(v, "0") == 0;
    if (d->kind == OPT_FLAG || d->kind == OPT_UNFLAG) {
        snprintf(buf, n, "%s", is_zero ? "off" : "on");
    } else if (is_zero && d->zero != NULL) {
        snprintf(buf, n, "%s", d->zero);
    } else if (d->kind == OPT_REAL || d->kind == OPT_REAL0) {
        snprintf(buf, n, "%g", *FIELD(defaults, d, const double));
    } else {
        snprintf(buf, n, "%s", v);
    }
}

void opts_wrap(FILE *f, const char *text, int col, int indent, int width)
{
    const char *p = text;
    while (*p != '\0') {
        size_t word = strcspn(p, " ");
        if (col > indent && col + 1 + (int)word > width) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%.*s", (int)word, p);
        col += (int)word;
        p += word;
        while (*p == ' ') {
            p++;
        }
    }
    fputc('\n', f);
}

void opts_help(FILE *f, const struct opt_def *defs, int n_defs, unsigned scope,
               const void *defaults)
{
    enum { INDENT = 26, WIDTH = 100 };
    for (int i = 0; i < n_defs; i++) {
        const struct opt_def *d = &defs[i];
        char head[96], def[256], text[1024];
        if (!(d->scope & scope)) {
            continue;
        }
        if (d->kind == OPT_CHOICE) {
            snprintf(head, sizeof(head), "  %s %s", d->name, d->choices);
        } else {
            snprintf(head, sizeof(head), "  %s%s%s", d->name, d->metavar ? " " : "",
                     d->metavar ? d->metavar : "");
        }
        default_text(d, defaults, def, sizeof(def));
        snprintf(text, sizeof(text), "%s (default: %s)", d->help, def);
        int col = (int)strlen(head);
        fputs(head, f);
        if (col + 2 > INDENT) {
            fprintf(f, "\n%*s", INDENT, "");
        } else {
            fprintf(f, "%*s", INDENT - col, "");
        }
        opts_wrap(f, text, INDENT, INDENT, WIDTH);
    }
}

/* ==== The options of kiln train ==== */

#define TA(field) offsetof(struct train_args, field)
#define RES       OPTF_RESUMABLE

const struct opt_def train_opts[] = {
    {"--epochs", "N", OPT_INT, TA(epochs), 1, 100000, NULL, SC_TRAIN, NULL,
     "epochs to train; a resumed run may extend it", RES},
    {"--max-steps", "N", OPT_INT, TA(max_steps), 1, INT64_MAX / 2, NULL, SC_TRAIN, "no limit",
     "stop after N training steps in all", RES},
    {"--batch", "B", OPT_INT, TA(batch), 1, 65536, NULL, SC_TRAIN, NULL, "batch size", 0},
    {"--lr", "X", OPT_REAL, TA(lr), 0, 0, NULL, SC_TRAIN,
     "0.01 with sgd (resnet: 0.05), rmsprop and adagrad; 0.001 with adam (gan: 0.0002, "
     "charlm: 0.003)",
     "learning rate", 0},
    {"--optimizer", NULL, OPT_CHOICE, TA(optimizer), 0, 0, "sgd|adam|rmsprop|adagrad",
     SC_CLASSIFIER | SC_SEQ, NULL,
     "SGD with momentum 0.9, Adam, RMSprop (alpha 0.99, eps 1e-8) or Adagrad (eps 1e-10), as "
     "torch.optim defines them",
     0},
    {"--wd", "X", OPT_REAL0, TA(wd), 0, 0, NULL, SC_CLASSIFIER | SC_SEQ, NULL, "L2 weight decay",
     0},
    {"--loss", NULL, OPT_CHOICE, TA(loss), 0, 0, "xent|hinge|mse", SC_CLASSIFIER, NULL,
     "softmax cross-entropy, multi-class hinge (the SVM loss of PyTorch's MultiMarginLoss), or "
     "the mean squared error of the logits against one-hot labels",
     0},
    {"--label-smoothing", "E", OPT_REAL0, TA(label_smoothing), 0, 0, NULL, SC_CLASSIFIER, NULL,
     "with xent: the target is 1 - E on the label plus E spread evenly over all classes "
     "(PyTorch's CrossEntropyLoss(label_smoothing=E))",
     0},
    {"--schedule", NULL, OPT_CHOICE, TA(schedule), 0, 0, "constant|step|exp|cosine", SC_TRAIN, NULL,
     "learning rate per step: constant; times --gamma every --step-epochs epochs; times "
     "--gamma per epoch, smoothly; cosine from --lr to --min-lr over all steps",
     0},
    {"--cosine", NULL, OPT_FLAG, TA(cosine), 0, 0, NULL, SC_CLASSIFIER | SC_SEQ, NULL,
     "same as --schedule cosine", 0},
    {"--step-epochs", "N", OPT_INT, TA(step_epochs), 1, 100000, NULL, SC_TRAIN, NULL,
     "--schedule step: epochs between decays", 0},
    {"--gamma", "X", OPT_REAL, TA(gamma), 0, 0, NULL, SC_TRAIN, NULL,
     "--schedule step and exp: the decay factor", 0},
    {"--min-lr", "X", OPT_REAL0, TA(min_lr), 0, 0, NULL, SC_TRAIN, NULL,
     "--schedule cosine: the final learning rate", 0},
    {"--warmup", "N", OPT_INT, TA(warmup), 0, INT64_MAX / 2, NULL, SC_TRAIN, "none",
     "linear warm-up over the first N steps, multiplying the schedule by (t + 1) / (N + 1)", 0},
    {"--patience", "N", OPT_INT, TA(patience), 0, 100000, NULL, SC_CLASSIFIER, "off",
     "early stopping: stop after N epochs without a better validation accuracy (needs --val)", 0},
    {"--data", "DIR", OPT_STR, TA(data), 0, 0, NULL, SC_CLASSIFIER | SC_GAN, NULL,
     "directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]", RES},
    {"--data", "DIR", OPT_STR, TA(data), 0, 0, NULL, SC_TEXT, "fortunes-zh-5 as Meson builds it",
     "directory with train.tsv and test.tsv (and optionally valid.tsv): UTF-8 lines "
     "label<TAB>text",
     RES},
    {"--data", "FILE", OPT_STR, TA(data), 0, 0, NULL, SC_CHARLM, NULL,
     "a UTF-8 text file; its last 10% is held out (default: Moby Dick as "
     "tools/data/get_moby_dick.sh fetches it)",
     RES},
    {"--seed", "S", OPT_INT, TA(seed), 0, INT64_MAX, NULL, SC_TRAIN, NULL,
     "seed of the initialization, the shuffles, augmentation and the validation split", 0},
    {"--val", "N", OPT_INT, TA(val), 0, INT64_MAX / 2, NULL, SC_CLASSIFIER, "none",
     "hold out N training images for validation", 0},
    {"--train-limit", "N", OPT_INT, TA(train_limit), 1, INT64_MAX / 2, NULL, SC_CLASSIFIER | SC_GAN,
     "all", "use only the first N training images", 0},
    {"--train-limit", "N", OPT_INT, TA(train_limit), 1, INT64_MAX / 2, NULL, SC_TEXT, "all",
     "use only the first N training texts", 0},
    {"--train-limit", "N", OPT_INT, TA(train_limit), 1, INT64_MAX / 2, NULL, SC_CHARLM, "all",
     "read only the first N characters of the file", 0},
    {"--test-limit", "N", OPT_INT, TA(test_limit), 1, INT64_MAX / 2, NULL, SC_CLASSIFIER, "all",
     "use only the first N test images", RES},
    {"--augment", NULL, OPT_FLAG, TA(augment), 0, 0, NULL, SC_CONV | SC_RESNET, NULL,
     "random crop from 2-pixel zero padding and random horizontal flip", 0},
    {"--rotate", "DEG", OPT_REAL0, TA(rotate), 0, 180, NULL, SC_CONV | SC_RESNET, "none",
     "random rotation by an angle drawn uniformly from [-DEG, DEG] (bilinear, zero fill), "
     "before the crop and flip",
     0},
    {"--size", "28|32", OPT_INT, TA(size), 28, 32, NULL, SC_CONV | SC_RESNET, NULL,
     "input size; 32 pads the images (centred) to 32x32", 0},
    {"--no-prefetch", NULL, OPT_FLAG, TA(no_prefetch), 0, 0, NULL, SC_CONV | SC_RESNET, NULL,
     "make each batch in the training loop instead of on the loader thread", RES | OPTF_NOT_SAVED},
    {"--depth", "N", OPT_INT, TA(depth), 1, 64, NULL, SC_RESNET, NULL,
     "basic blocks per stage (ResNet-(6N+2))", 0},
    {"--width", "N", OPT_INT, TA(width), 1, 1024, NULL, SC_RESNET | SC_GAN, NULL,
     "resnet: first-stage width; gan: generator width (the discriminator's is twice that)", 0},
    {"--class-names", "LIST", OPT_STR, TA(class_names), 0, 0, NULL, SC_CLASSIFIER,
     "Fashion-MNIST's",
     "comma-separated class names recorded in checkpoints for eval and predict ('digits': 0 "
     "to 9)",
     0},
    {"--rnn", NULL, OPT_CHOICE, TA(rnn), 0, 0, "lstm|gru", SC_TEXTRNN | SC_CHARLM, NULL,
     "the recurrent layer: nn.LSTM or nn.GRU", 0},
    {"--pool", NULL, OPT_CHOICE, TA(pool), 0, 0, "max|attn", SC_TEXTRNN, NULL,
     "summary of the recurrent outputs: their maximum over the real characters, or additive "
     "(Bahdanau) attention pooling",
     0},
    {"--bidirectional", NULL, OPT_FLAG, TA(bidirectional), 0, 0, NULL, SC_TEXTRNN, NULL,
     "a second direction reading each text backwards, its outputs concatenated", 0},
    {"--layers", "N", OPT_INT, TA(layers), 1, 8, NULL, SC_TEXTRNN | SC_CHARLM, NULL,
     "stacked recurrent layers", 0},
    {"--layers", "N", OPT_INT, TA(layers), 1, 8, NULL, SC_TEXTATTN, NULL,
     "stacked transformer encoder layers", 0},
    {"--heads", "N", OPT_INT, TA(heads), 1, 64, NULL, SC_TEXTATTN, NULL,
     "attention heads per layer (they must divide --embed)", 0},
    {"--hidden", "N", OPT_INT, TA(hidden), 1, 4096, NULL, SC_SEQ & ~SC_TEXTATTN, NULL,
     "recurrent units (textcnn: filters per width)", 0},
    {"--hidden", "N", OPT_INT, TA(hidden), 1, 16384, NULL, SC_TEXTATTN, NULL,
     "width of the encoder layers' feed-forward part", 0},
    {"--embed", "N", OPT_INT, TA(embed), 1, 4096, NULL, SC_TEXT, NULL,
     "width of the character embeddings", 0},
    {"--embed-std", "X", OPT_REAL, TA(embed_std), 0, 0, NULL, SC_TEXT, NULL,
     "standard deviation of the embeddings' normal initialization", 0},
    {"--widths", "LIST", OPT_STR, TA(widths), 0, 0, NULL, SC_TEXTCNN, NULL,
     "1 to 4 convolution widths in [1, 64], e.g. 2,3,4", 0},
    {"--bigrams", NULL, OPT_FLAG, TA(bigrams), 0, 0, NULL, SC_TEXT, NULL,
     "also embed each step's character bigram (those seen twice in the training texts), "
     "added to the character's embedding",
     0},
    {"--no-bigrams", NULL, OPT_UNFLAG, TA(bigrams), 0, 0, NULL, SC_TEXTRNN | SC_TEXTATTN, NULL,
     "embed the characters alone", OPTF_NOT_SAVED},
    {"--max-len", "T", OPT_INT, TA(max_len), 1, 100000, NULL, SC_TEXT, NULL,
     "characters kept of each text; a batch is as long as its longest text rounded up to a "
     "multiple of 16",
     0},
    {"--bptt", "T", OPT_INT, TA(bptt), 1, 100000, NULL, SC_CHARLM, NULL,
     "steps per chunk of truncated backpropagation through time", 0},
    {"--dropout", "P", OPT_REAL0, TA(dropout), 0, 0, NULL, SC_SEQ, NULL,
     "dropout probability in [0, 1) (textcnn, textrnn: on the pooled features; textattn: "
     "also on the embeddings and in every layer; charlm: between layers and before the "
     "decoder)",
     0},
    {"--clip", "X", OPT_REAL0, TA(clip), 0, 0, NULL, SC_SEQ, "off",
     "clip the gradients' global norm at X (as torch.nn.utils.clip_grad_norm_)", 0},
    {"--out", "DIR", OPT_DIR_OUT, TA(out), 0, 0, NULL, SC_TRAIN, "none",
     "write checkpoints to DIR: after every epoch (MODEL-stepNNNNNNNN.safetensors) and at the "
     "end (MODEL.safetensors); GAN sample grids too",
     RES},
    {"--checkpoint-every", "N", OPT_INT, TA(checkpoint_every), 1, INT64_MAX / 2, NULL,
     SC_TRAIN & ~SC_CHARLM, "only at epoch ends",
     "also write a checkpoint every N steps (needs --out)", RES},
    {"--keep", "K", OPT_INT, TA(keep), 1, 1000000, NULL, SC_TRAIN, NULL,
     "keep the newest K step checkpoints in --out, deleting older ones", RES},
    {"--resume", "FILE", OPT_STR, TA(resume), 0, 0, NULL, SC_TRAIN, "none",
     "continue the run of a checkpoint (or of the newest checkpoint in a directory) exactly "
     "where it was written, with its options",
     RES | OPTF_NOT_SAVED},
    {"--init-from", "FILE", OPT_STR, TA(init_from), 0, 0, NULL, SC_TRAIN, "none",
     "start from the weights of a safetensors file (a missing, extra or mis-shaped tensor is "
     "an error unless --partial)",
     OPTF_NOT_SAVED},
    {"--partial", NULL, OPT_FLAG, TA(partial), 0, 0, NULL, SC_TRAIN, NULL,
     "--init-from: load the tensors that match by name and shape, skip the others", 0},
    {"--log", "FILE.csv", OPT_STR, TA(log), 0, 0, NULL, SC_TRAIN, "none",
     "append metrics rows (per --log-every steps and per epoch) to a CSV file for kiln plot", RES},
    {"--log-every", "N", OPT_INT, TA(log_every), 1, INT64_MAX / 2, NULL, SC_TRAIN,
     "a tenth of an epoch", "steps per step row of --log", RES},
    {"--json", NULL, OPT_FLAG, TA(json), 0, 0, NULL, SC_TRAIN, NULL,
     "print only a JSON summary on stdout at the end", RES | OPTF_NOT_SAVED},
    {"--quiet", NULL, OPT_FLAG, TA(quiet), 0, 0, NULL, SC_TRAIN, NULL, "print nothing but errors",
     RES | OPTF_NOT_SAVED},
    {"--stats", NULL, OPT_FLAG, TA(stats), 0, 0, NULL, SC_TRAIN, NULL,
     "print device counters per training step and for evaluation", RES | OPTF_NOT_SAVED},
    {"--comm-timeout", "S", OPT_REAL, TA(comm_timeout), 0, 0, NULL, SC_CLASSIFIER | SC_TEXT, NULL,
     "under mpirun: a rank that does not reach a gradient reduction within S seconds stops "
     "the run with an error naming it (the first step may take up to max(S, 900) s)",
     RES | OPTF_NOT_SAVED},
};

const int n_train_opts = (int)(sizeof(train_opts) / sizeof(train_opts[0]));

unsigned train_scope(const char *model)
{
    kiln_model m;
    if (model == NULL) {
        return 0;
    }
    if (text_scope(model) != 0) {
        return text_scope(model);
    }
    if (strcmp(model, "mlp") == 0) {
        return SC_MLP;
    }
    if (strcmp(model, "gan") == 0) {
        return SC_GAN;
    }
    if (kiln_model_from_name(model, &m) != KILN_OK) {
        kiln_clear_error();
        return 0;
    }
    return m == KILN_MODEL_RESNET ? SC_RESNET : SC_CONV;
}

void train_defaults(const char *model, struct train_args *a)
{
    memset(a, 0, sizeof(*a));
    a->model = model;
    a->epochs = 1;
    a->batch = 64;
    a->optimizer = "sgd";
    a->data = DEFAULT_DATA;
    a->size = 28;
    a->loss = "xent";
    a->schedule = "constant";
    a->step_epochs = 1;
    a->gamma = 0.1;
    a->keep = 3;
    a->depth = 3;
    a->width = 16;
    a->comm_timeout = 120.0;
    if (model != NULL && strcmp(model, "resnet") == 0) {
        a->wd = 5e-4;
    }
    if (model != NULL && strcmp(model, "gan") == 0) {
        a->optimizer = "adam";
    }
    if (text_scope(model) != 0) {
        text_defaults(model, a);
    }
}

double train_lr(const struct train_args *a)
{
    int resnet = a->model != NULL && strcmp(a->model, "resnet") == 0;
    int gan = a->model != NULL && strcmp(a->model, "gan") == 0;
    if (a->lr > 0.0) {
        return a->lr;
    }
    if (gan) {
        return 2e-4;
    }
    if (text_scope(a->model) == SC_CHARLM && strcmp(a->optimizer, "adam") == 0) {
        return 3e-3; /* measured on Moby Dick */
    }
    if (strcmp(a->optimizer, "adam") == 0) {
        return 0.001;
    }
    return resnet && strcmp(a->optimizer, "sgd") == 0 ? 0.05 : 0.01;
}
