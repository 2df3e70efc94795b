/*
 * info.c - `kiln info`: the version, the backends compiled in, every backend's devices
 * (or why it is unavailable), what "auto" picks, and the KILN_* environment: each
 * variable kiln reads that is set, flagged when its value is malformed (with the values
 * it accepts), and KILN_* names kiln does not know (probably misspelt).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

extern char **environ;

void info_help(FILE *f)
{
    fprintf(f, "usage: kiln info\n\n"
               "Prints the version, the backends compiled in with their devices (limits and\n"
               "features) or why a backend is unavailable, what KILN_BACKEND=auto picks, and\n"
               "the KILN_* variables that are set, flagging malformed values and unknown names.\n"
               "Exits 1 when KILN_BACKEND names an unknown backend or a variable is malformed.\n");
}

static void print_details(const char *details)
{
    const char *p = details;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        int len = nl != NULL ? (int)(nl - p) : (int)strlen(p);
        printf("      %.*s\n", len, p);
        p += len + (nl != NULL);
    }
}

/* Prints the KILN_* variables that are set; returns the number of malformed ones. */
static int print_env(FILE *f)
{
    struct kiln_env_var vars[64];
    int32_t n = kiln_env_vars(vars, 64), bad = 0, shown = 0;
    for (int32_t i = 0; i < n && i < 64; i++) {
        if (vars[i].state == 0) {
            continue;
        }
        if (shown++ == 0) {
            fprintf(f, "environment:\n");
        }
        if (vars[i].state < 0) {
            bad++;
            fprintf(f, "  %s=%s: MALFORMED; accepted values: %s\n", vars[i].name, vars[i].value,
                    vars[i].accepted);
        } else {
            fprintf(f, "  %s=%s\n", vars[i].name, vars[i].value);
        }
    }
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        char name[128];
        size_t len = strcspn(*e, "=");
        if (strncmp(*e, "KILN_", 5) != 0 || len >= sizeof(name)) {
            continue;
        }
        memcpy(name, *e, len);
        name[len] = '\0';
        if (!kiln_env_known(name)) {
            if (shown++ == 0) {
                fprintf(f, "environment:\n");
            }
            fprintf(f, "  %s: not a variable kiln reads (misspelt?)\n", name);
        }
    }
    return bad;
}

int cmd_info(int argc, char **argv)
{
    struct kiln_device_info devs[16];
    if (argc > 0) {
        if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
            info_help(stdout);
            return EXIT_SUCCESS;
        }
        fprintf(stderr, "kiln info: takes no arguments (got '%s')\n", argv[0]);
        return EXIT_USAGE;
    }
    const char *env = getenv("KILN_BACKEND"), *sel = NULL;
    if (env != NULL && env[0] != '\0') {
        sel = kiln_backend_resolve(env);
        if (sel == NULL) {
            fprintf(stderr, "kiln: KILN_BACKEND=%s: %s\n", env, kiln_last_error());
            return EXIT_FAILURE;
        }
    }
    printf("kiln %s\n", kiln_version());
    printf("backends compiled in:");
    for (int32_t i = 0; i < kiln_backend_count(); i++) {
        printf(" %s", kiln_backend_name(i));
    }
    printf("\n");
    for (int32_t i = 0; i < kiln_backend_count(); i++) {
        const char *name = kiln_backend_name(i);
        int32_t n = 0;
        kiln_status s = kiln_backend_devices(name, devs, 16, &n);
        if (s != KILN_OK) {
            printf("%s: unavailable: %s\n", name, kiln_last_error());
            kiln_clear_error();
            continue;
        }
        printf("%s: %d device%s\n", name, n, n == 1 ? "" : "s");
        for (int32_t d = 0; d < n && d < 16; d++) {
            printf("  %d: %s (%s)\n", devs[d].index, devs[d].name, devs[d].type);
            print_details(devs[d].details);
        }
    }
    const char *automatic = kiln_backend_resolve("auto");
    printf("auto resolves to: %s\n", automatic != NULL ? automatic : "(none)");
    if (sel != NULL) {
        printf("KILN_BACKEND=%s selects: %s\n", env, sel);
    }
    if (print_env(stdout) > 0) {
        fprintf(stderr, "kiln info: malformed KILN_* values (see above): %s\n",
                kiln_env_check() != KILN_OK ? kiln_last_error() : "");
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}
