/*
 * env.c - the KILN_* environment variables that configure contexts and backends, each
 * with the values it accepts: kiln_env_vars lists them with their state for `kiln
 * info` and `kiln doctor`, kiln_env_check reports the first malformed one, and context
 * creation refuses a malformed value of a variable it would use, so that a typo is an
 * error naming the variable and its accepted values instead of a silent default.
 * The backends still read their variables where they use them; this file only judges
 * the values.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "context_impl.h"

static bool is_one_of(const char *v, const char *const *list)
{
    for (int i = 0; list[i] != NULL; i++) {
        if (strcmp(v, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool v_backend(const char *v)
{
    if (strcmp(v, "auto") == 0) {
        return true;
    }
    for (int32_t i = 0; i < kiln_backend_count(); i++) {
        if (strcmp(v, kiln_backend_name(i)) == 0) {
            return true;
        }
    }
    return false;
}

static bool v_any(const char *v)
{
    return v[0] != '\0';
}

static bool v_flag(const char *v)
{
    static const char *const ok[] = {"0", "1", NULL};
    return is_one_of(v, ok);
}

static bool v_check(const char *v)
{
    static const char *const ok[] = {"0", "1", "nan", NULL};
    return is_one_of(v, ok);
}

static bool v_log(const char *v)
{
    static const char *const ok[] = {"error", "warn", "info", "debug", NULL};
    return is_one_of(v, ok);
}

static bool v_repair(const char *v)
{
    uint64_t bits[2];
    bool ok = kiln__parse_repair(v, bits) == KILN_OK;
    kiln_clear_error();
    return ok;
}

static bool v_dir(const char *v)
{
    struct stat st;
    return v[0] != '\0' && (stat(v, &st) != 0 || S_ISDIR(st.st_mode));
}

static bool v_validation(const char *v)
{
    if (strcmp(v, "0") == 0 || strcmp(v, "1") == 0) {
        return true;
    }
    const char *p = v;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        if (!((n == 4 && strncmp(p, "sync", 4) == 0) || (n == 3 && strncmp(p, "gpu", 3) == 0))) {
            return false;
        }
        p += n + (p[n] == ',');
    }
    return v[0] != '\0';
}

static bool v_conv(const char *v)
{
    static const char *const ok[] = {"gemm", "direct", "reduce", "blocked", "row", NULL};
    return is_one_of(v, ok);
}

static bool v_cl_gemm(const char *v)
{
    static const char *const ok[] = {"auto", "own", "clblast", NULL};
    return is_one_of(v, ok);
}

static bool v_cl_conv(const char *v)
{
    static const char *const ok[] = {"row", "direct", NULL};
    return is_one_of(v, ok);
}

static bool v_tile(const char *v)
{
    unsigned t[5];
    int used = 0;
    return sscanf(v, "%u,%u,%u,%u,%u%n", &t[0], &t[1], &t[2], &t[3], &t[4], &used) == 5 &&
           v[used] == '\0' && t[0] > 0 && t[1] > 0 && t[2] > 0 && t[3] > 0 && t[4] > 0;
}

static bool v_split(const char *v)
{
    char *end;
    long n = strtol(v, &end, 10);
    return end != v && *end == '\0' && n >= 1 && n <= 64;
}

static bool v_bytes(const char *v)
{
    uint64_t n;
    return kiln__parse_bytes(v, &n);
}

static bool v_fault(const char *v)
{
    int64_t a, b;
    return kiln__parse_fault(v, &a, &b);
}

/* What the variables accept. "backends" lists the compiled-in ones at run time. */
static const struct {
    const char *name;
    const char *accepted;
    bool (*valid)(const char *v);
} vars[] = {
    {"KILN_BACKEND", "auto or a compiled-in backend", v_backend},
    {"KILN_DEVICE", "a device index or a case-insensitive substring of a device name", v_any},
    {"KILN_CHECK", "0, 1 (every node against the CPU reference) or nan (non-finite values)",
     v_check},
    {"KILN_CHECK_REPAIR", "'all' or a comma-separated list of op names (e.g. conv2d,matmul)",
     v_repair},
    {"KILN_LOG", "error, warn, info or debug", v_log},
    {"KILN_CACHE_DIR", "a directory (created when missing)", v_dir},
    {"KILN_MAX_DEVICE_MEMORY",
     "the most device memory the backend's pool may take: bytes, or a number with K, M or G "
     "(KiB, MiB, GiB), at least 1",
     v_bytes},
    {"KILN_TEST_FAULT",
     "test hook: oom:N (buffer allocation N fails), lost:N (submission N loses the device), "
     "or both comma-separated; N >= 1",
     v_fault},
    {"KILN_VK_VALIDATION", "0, 1, sync, gpu or sync,gpu", v_validation},
    {"KILN_VK_FORCE_STAGING", "0 or 1", v_flag},
    {"KILN_VK_FORCE_NONCOHERENT", "0 or 1", v_flag},
    {"KILN_VK_SUBGROUP", "0 or 1", v_flag},
    {"KILN_VK_MATMUL_TILE", "BM,BN,BK,TM,TN (five positive integers)", v_tile},
    {"KILN_VK_CONV", "gemm, direct, reduce, blocked or row", v_conv},
    {"KILN_VK_CONV_TILE", "BM,BN,BK,TM,TN (five positive integers)", v_tile},
    {"KILN_VK_CONV_TILE_S", "BM,BN,BK,TM,TN (five positive integers)", v_tile},
    {"KILN_VK_CONV_TILE_F", "BM,BN,BK,TM,TN (five positive integers)", v_tile},
    {"KILN_VK_CONV_SPLIT", "an integer from 1 to 64", v_split},
    {"KILN_CL_CONVGEMM", "0 or 1", v_flag},
    {"KILN_CL_GEMM", "auto, own or clblast", v_cl_gemm},
    {"KILN_CL_CONV", "row or direct", v_cl_conv},
    {"KILN_CL_CONV_PARTS", "an integer from 1 to 64", v_split},
    /* a missing file is the OpenCL backend's KILN_E_IO, naming it, when it opens */
    {"KILN_CLBLAST_TUNING", "a JSON file or a directory of CLBlast tuning results", v_any},
};

#define N_VARS ((int32_t)(sizeof(vars) / sizeof(vars[0])))

/* Checks one variable; an unset or empty one is fine (the default). */
static kiln_status check_var(int32_t i)
{
    const char *v = getenv(vars[i].name);
    if (v == NULL || v[0] == '\0' || vars[i].valid(v)) {
        return KILN_OK;
    }
    if (vars[i].valid == v_repair) {
        uint64_t bits[2];
        return kiln__parse_repair(v, bits); /* its message names the unknown op */
    }
    if (strcmp(vars[i].name, "KILN_BACKEND") == 0) {
        char list[128] = "auto";
        for (int32_t b = 0; b < kiln_backend_count(); b++) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof(list) - len, ", %s", kiln_backend_name(b));
        }
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "KILN_BACKEND=%s: unknown backend '%s'; available backends: %s", v, v,
                         list);
    }
    return KILN_FAIL(KILN_E_INVALID_ARG, "%s=%s: accepted values: %s", vars[i].name, v,
                     vars[i].accepted);
}

int32_t kiln_env_vars(struct kiln_env_var *out, int32_t max)
{
    for (int32_t i = 0; i < N_VARS && i < max && out != NULL; i++) {
        const char *v = getenv(vars[i].name);
        out[i].name = vars[i].name;
        out[i].accepted = vars[i].accepted;
        out[i].value = v;
        out[i].state = v == NULL ? 0 : (check_var(i) == KILN_OK ? 1 : -1);
        kiln_clear_error();
    }
    return N_VARS;
}

kiln_status kiln_env_check(void)
{
    for (int32_t i = 0; i < N_VARS; i++) {
        KILN_TRY(check_var(i));
    }
    return KILN_OK;
}

kiln_status kiln__env_check_context(const struct kiln_context_options *opt)
{
    for (int32_t i = 0; i < N_VARS; i++) {
        const char *n = vars[i].name;
        /* a setting the options give explicitly does not read its variable */
        if ((opt->backend != NULL && strcmp(n, "KILN_BACKEND") == 0) ||
            (opt->device != NULL && strcmp(n, "KILN_DEVICE") == 0) ||
            (opt->check >= 0 && strcmp(n, "KILN_CHECK") == 0) ||
            (opt->log_level >= 0 && strcmp(n, "KILN_LOG") == 0)) {
            continue;
        }
        KILN_TRY(check_var(i));
    }
    return KILN_OK;
}

int kiln_env_known(const char *name)
{
    static const char *const tools[] = {"KILN_DATA_DIR", "KILN_NO_APT", NULL};
    for (int32_t i = 0; name != NULL && i < N_VARS; i++) {
        if (strcmp(name, vars[i].name) == 0) {
            return true;
        }
    }
    return name != NULL && (is_one_of(name, tools) || strncmp(name, "KILN_TEST_", 10) == 0);
}
