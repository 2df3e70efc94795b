/*
 * args.c - the options of `kiln train`: integers parsed whole and range-checked with
 * the header-only src/checked.h (nothing wraps), reals that must be finite and
 * representable as floats, and the option table shared by every model.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checked.h"
#include "cli.h"

int parse_int(const char *opt, const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (!kiln__parse_i64(v, lo, hi, out)) {
        fprintf(stderr, "kiln train: %s expects an integer in [%lld, %lld], got '%s'\n", opt,
                (long long)lo, (long long)hi, v != NULL ? v : "(nothing)");
        return 0;
    }
    return 1;
}

int parse_real(const char *opt, const char *v, int allow_zero, double *out)
{
    char *end = NULL;
    errno = 0;
    double x = v != NULL ? strtod(v, &end) : 0.0;
    const char *why = NULL;
    if (v == NULL || v[0] == '\0' || *end != '\0' || isnan(x)) {
        why = "a number";
    } else if (x < 0.0 || (x == 0.0 && !allow_zero)) {
        why = allow_zero ? "a number >= 0" : "a number > 0";
    } else if (x > FLT_MAX) {
        why = "a number at most 3.4e38 (the largest float)";
    } else if (x != 0.0 && x < FLT_MIN) {
        why = allow_zero ? "0 or a number at least 1.2e-38 (the smallest normal float)"
                         : "a number at least 1.2e-38 (the smallest normal float)";
    }
    if (why != NULL) {
        fprintf(stderr, "kiln train: %s expects %s, got '%s'\n", opt, why,
                v != NULL ? v : "(nothing)");
        return 0;
    }
    *out = x;
    return 1;
}

int parse_train_args(int argc, char **argv, struct train_args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t x = 0;
        int ok = 1, takes = 1;
        if (strcmp(o, "--epochs") == 0) {
            ok = parse_int(o, v, 1, 100000, &x);
            a->epochs = (int32_t)x;
        } else if (strcmp(o, "--max-steps") == 0) {
            ok = parse_int(o, v, 1, INT64_MAX / 2, &a->max_steps);
        } else if (strcmp(o, "--batch") == 0) {
            ok = parse_int(o, v, 1, 65536, &a->batch);
        } else if (strcmp(o, "--train-limit") == 0) {
            ok = parse_int(o, v, 1, INT64_MAX / 2, &a->train_limit);
        } else if (strcmp(o, "--test-limit") == 0) {
            ok = parse_int(o, v, 1, INT64_MAX / 2, &a->test_limit);
        } else if (strcmp(o, "--val") == 0) {
            ok = parse_int(o, v, 0, INT64_MAX / 2, &a->val);
        } else if (strcmp(o, "--seed") == 0) {
            ok = parse_int(o, v, 0, INT64_MAX, &x);
            a->seed = (uint64_t)x;
        } else if (strcmp(o, "--lr") == 0) {
            ok = parse_real(o, v, 0, &a->lr);
            a->lr_given = 1;
        } else if (strcmp(o, "--optimizer") == 0) {
            ok = v != NULL && (strcmp(v, "sgd") == 0 || strcmp(v, "adam") == 0);
            if (!ok) {
                fprintf(stderr, "kiln train: --optimizer expects sgd or adam, got '%s'\n",
                        v != NULL ? v : "(nothing)");
            }
            a->optimizer = v;
        } else if (strcmp(o, "--data") == 0) {
            ok = v != NULL && v[0] != '\0';
            if (!ok) {
                fprintf(stderr, "kiln train: --data expects a directory\n");
            }
            a->data = v;
        } else if (strcmp(o, "--stats") == 0) {
            a->stats = 1;
            takes = 0;
        } else if (a->conv && strcmp(o, "--augment") == 0) {
            a->augment = 1;
            takes = 0;
        } else if (a->conv && strcmp(o, "--no-prefetch") == 0) {
            a->no_prefetch = 1;
            takes = 0;
        } else if (a->conv && strcmp(o, "--cosine") == 0) {
            a->cosine = 1;
            takes = 0;
        } else if (a->conv && strcmp(o, "--size") == 0) {
            ok = parse_int(o, v, 28, 32, &a->size) && (a->size == 28 || a->size == 32);
            if (!ok) {
                fprintf(stderr, "kiln train: --size expects 28 or 32\n");
            }
        } else if (a->conv && strcmp(o, "--depth") == 0) {
            ok = parse_int(o, v, 1, 64, &a->depth);
        } else if (a->conv && strcmp(o, "--width") == 0) {
            ok = parse_int(o, v, 1, 1024, &a->width);
        } else if (a->conv && strcmp(o, "--wd") == 0) {
            ok = parse_real(o, v, 1, &a->wd);
        } else if (a->conv && strcmp(o, "--out") == 0) {
            /* checked now, so that a long training does not end in a failed write */
            struct stat st;
            ok = v != NULL && v[0] != '\0' && stat(v, &st) == 0 && S_ISDIR(st.st_mode) &&
                 access(v, W_OK) == 0;
            if (!ok) {
                fprintf(stderr, "kiln train: --out expects a writable directory%s%s%s\n",
                        v != NULL ? " ('" : "", v != NULL ? v : "",
                        v != NULL ? "' is not one)" : "");
            }
            a->out = v;
        } else {
            fprintf(stderr, "kiln train: unknown option '%s'\n", o);
            ok = 0;
        }
        if (!ok) {
            return 0;
        }
        i += takes;
    }
    return 1;
}
