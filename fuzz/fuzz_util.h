/*
 * fuzz_util.h - what the file-reading fuzz targets share: one private temporary
 * directory per process (removed at exit) and writing an input's bytes to a file in it,
 * for readers that take a path. Failures of the harness itself abort.
 */
#ifndef KILN_FUZZ_UTIL_H
#define KILN_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir[256];

static void fuzz_remove_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fuzz_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "fuzz: cannot remove %s\n", fuzz_dir);
    }
}

/* The process's temporary directory, made on first use. */
static inline const char *fuzz_tmpdir(void)
{
    if (fuzz_dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/kiln_fuzz_XXXXXX",
                 tmp != NULL && tmp[0] ? tmp : "/tmp");
        if (mkdtemp(fuzz_dir) == NULL) {
            abort();
        }
        atexit(fuzz_remove_dir);
    }
    return fuzz_dir;
}

/* Writes n bytes to fuzz_tmpdir()/name; out gets the path. */
static inline void fuzz_put(const char *name, const uint8_t *p, size_t n, char *out, size_t out_n)
{
    snprintf(out, out_n, "%s/%s", fuzz_tmpdir(), name);
    FILE *f = fopen(out, "wb");
    if (f == NULL || (n > 0 && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        abort();
    }
}

#endif /* KILN_FUZZ_UTIL_H */
