/*
 * args.c - the numbers of command-line options: integers parsed whole and
 * range-checked with the header-only src/checked.h (nothing wraps), and reals that must
 * be finite and representable as floats. The option tables that use them are in opts.c.
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
