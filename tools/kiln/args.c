/*
 * args.c - the numbers of command-line options: integers and reals checked against
 * their ranges. The option tables that use them are in opts.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int parse_int(const char *opt, const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = v != NULL ? strtoll(v, &end, 10) : 0;
    if (v == NULL || v[0] == '\0' || *end != '\0' || errno != 0 || x < lo || x > hi) {
        fprintf(stderr, "kiln train: %s expects an integer in [%lld, %lld], got '%s'\n", opt,
                (long long)lo, (long long)hi, v != NULL ? v : "(nothing)");
        return 0;
    }
    *out = x;
    return 1;
}

int parse_real(const char *opt, const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = v != NULL ? strtod(v, &end) : 0.0;
    if (v == NULL || v[0] == '\0' || *end != '\0' || errno != 0 || !(x > 0.0) || isinf(x)) {
        fprintf(stderr, "kiln train: %s expects a positive number, got '%s'\n", opt,
                v != NULL ? v : "(nothing)");
        return 0;
    }
    *out = x;
    return 1;
}
