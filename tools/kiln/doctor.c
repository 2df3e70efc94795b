/*
 * doctor.c - `kiln doctor`: a health report of the selected backend to read or attach
 * to a bug report. It checks the KILN_* environment, lists the backend's devices with
 * their limits and features (subgroups, fp16, memory, largest allocation), runs the op
 * self-check (kiln_selfcheck: every op, forward and gradients, on the device against
 * the CPU reference), times a matrix product on the device and on the CPU backend, and
 * gives hints where a BLAS, driver or kiln setting is slow. Everything printed also goes
 * to the report file. Exit status: 0 healthy, 1 an op failed (the last line names the
 * failing ops) or the device cannot be used, 2 a usage or configuration error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"

struct doctor_args {
    const char *report, *op;
    int no_report, verbose;
};

#define DA(f) offsetof(struct doctor_args, f)

static const struct opt_def doctor_opts[] = {
    {"--report", "FILE", OPT_STR, DA(report), 0, 0, NULL, 1, NULL, "also write the report to FILE",
     0},
    {"--no-report", NULL, OPT_FLAG, DA(no_report), 0, 0, NULL, 1, NULL, "write no report file", 0},
    {"--op", "NAME", OPT_STR, DA(op), 0, 0, NULL, 1, "every op",
     "check only the cases of one op (as KILN_CHECK names ops, e.g. conv2d)", 0},
    {"--verbose", NULL, OPT_FLAG, DA(verbose), 0, 0, NULL, 1, NULL,
     "list every case with its time, not only failures", 0},
};

#define N_OPTS ((int)(sizeof(doctor_opts) / sizeof(doctor_opts[0])))

static void doctor_defaults(struct doctor_args *a)
{
    memset(a, 0, sizeof(*a));
    a->report = "kiln-doctor.txt";
}

void doctor_help(FILE *f)
{
    struct doctor_args d;
    doctor_defaults(&d);
    fprintf(f, "usage: kiln doctor [options]\n\n"
               "Checks the KILN_* environment, lists the selected backend's devices with their\n"
               "limits and features, runs every op (forward and gradients) on the device against\n"
               "the CPU reference, times a matrix product, and hints at slow settings. The report\n"
               "is also written to a file to attach to a bug report. Exit status 1 names the\n"
               "failing ops. KILN_BACKEND and KILN_DEVICE select the device.\n\noptions:\n");
    opts_help(f, doctor_opts, N_OPTS, 1, &d);
}

/* Output to stdout and the report file. */
struct tee {
    FILE *file;
};

static void say(struct tee *t, const char *fmt, ...) KILN_TOOL_PRINTF(2, 3);

static void say(struct tee *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (t->file != NULL) {
        va_start(ap, fmt);
        vfprintf(t->file, fmt, ap);
        va_end(ap);
    }
}

/* Indented "key: value" lines. */
static void say_details(struct tee *t, const char *details)
{
    const char *p = details;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        int len = nl != NULL ? (int)(nl - p) : (int)strlen(p);
        say(t, "    %.*s\n", len, p);
        p += len + (nl != NULL);
    }
}

/* GFLOP/s of a 512 x 512 by 512 x 512 matrix product on ctx (best of 5 after a warm
 * run); -1 on failure. */
static double matmul_gflops(kiln_context *ctx)
{
    enum { N = 512 };
    int64_t d[2] = {N, N};
    kiln_graph *g = NULL;
    double best = -1.0;
    float *buf = malloc(sizeof(float) * N * N);
    if (buf == NULL || kiln_graph_create(ctx, &g) != KILN_OK) {
        free(buf);
        return -1.0;
    }
    kiln_tensor *a = kiln_input(g, "a", KILN_DTYPE_F32, 2, d);
    kiln_tensor *b = kiln_input(g, "b", KILN_DTYPE_F32, 2, d);
    kiln_tensor *c = kiln_tensor_keep(kiln_matmul(g, a, b, 0, 0));
    for (int i = 0; i < N * N; i++) {
        buf[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    }
    if (kiln_graph_compile(g) == KILN_OK &&
        kiln_tensor_upload(a, buf, sizeof(float) * N * N) == KILN_OK &&
        kiln_tensor_upload(b, buf, sizeof(float) * N * N) == KILN_OK) {
        for (int r = 0; r < 6; r++) {
            double t0 = now_s();
            if (kiln_graph_eval(g, 1, &c) != KILN_OK ||
                kiln_tensor_download(c, buf, sizeof(float) * N * N) != KILN_OK) {
                best = -1.0;
                break;
            }
            double gf = 2.0 * N * N * N / (now_s() - t0) / 1e9;
            best = r > 0 && gf > best ? gf : best;
        }
    }
    kiln_clear_error();
    kiln_graph_destroy(g);
    free(buf);
    return best;
}

/* Whether /proc/cpuinfo lists flag (e.g. "avx2") for the first CPU. */
static int cpu_has(const char *flag)
{
    char line[8192];
    int found = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "flags", 5) == 0) {
            char pat[64];
            snprintf(pat, sizeof(pat), " %s", flag);
            char *p = strstr(line, pat);
            found = p != NULL && (p[strlen(pat)] == ' ' || p[strlen(pat)] == '\n');
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return found;
}

static int hints(struct tee *t, kiln_context *ctx, const struct kiln_device_info *dev)
{
    int n = 0;
    const char *be = kiln_context_backend(ctx);
    be = be != NULL ? be : "?";
    struct kiln_context_options co = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *cpu = NULL;
    double here = matmul_gflops(ctx), on_cpu = here;
    co.backend = "cpu";
    if (strcmp(be, "cpu") != 0 && kiln_context_create(&co, &cpu) == KILN_OK) {
        on_cpu = matmul_gflops(cpu);
        kiln_context_destroy(cpu);
    }
    kiln_clear_error();
    say(t, "\nspeed: a 512x512 matrix product runs at %.1f GFLOP/s on %s", here, be);
    if (strcmp(be, "cpu") != 0) {
        say(t, ", %.1f GFLOP/s on the cpu backend", on_cpu);
    }
    say(t, "\n");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (strcmp(be, "cpu") == 0 && getenv("OPENBLAS_CORETYPE") == NULL && cpu_has("avx2") &&
        here > 0 && here < 8.0 * (double)(cores > 0 ? cores : 1)) {
        say(t,
            "hint: %.1f GFLOP/s on %ld cores is slow for a CPU with AVX2: OpenBLAS may use "
            "generic kernels for an unrecognized (virtual) CPU; try "
            "OPENBLAS_CORETYPE=Haswell (or SkylakeX with AVX-512) and run kiln doctor "
            "again\n",
            here, cores);
        n++;
    }
    if (strcmp(be, "cpu") != 0 && dev != NULL && strcmp(dev->type, "cpu") == 0) {
        say(t,
            "hint: %s runs on a CPU driver (%s): it checks kernels but is no GPU; "
            "KILN_BACKEND=cpu trains faster on this machine\n",
            be, dev->name);
        n++;
    }
    if (dev != NULL && strstr(dev->details, "clblast tuned: no") != NULL) {
        say(t, "hint: CLBlast has no tuning for this device: its tuners' JSON results in "
               "KILN_CLBLAST_TUNING speed up matrix products\n");
        n++;
    }
    if (kiln_context_check(ctx)) {
        say(t, "hint: KILN_CHECK is on: every node also runs on the CPU reference, many times "
               "slower\n");
        n++;
    }
    const char *val = getenv("KILN_VK_VALIDATION");
    if (strcmp(be, "vulkan") == 0 && val != NULL && val[0] != '\0' && strcmp(val, "0") != 0) {
        say(t, "hint: KILN_VK_VALIDATION is on: the validation layer slows every call\n");
        n++;
    }
    return n;
}

/* The self-check's callback: failures (and with --verbose every case), and the names of
 * failing ops. */
struct run_ctx {
    struct tee *t;
    int verbose;
    char failing[2048];
};

static void on_case(void *ud, const struct kiln_selfcheck_case *c)
{
    struct run_ctx *r = ud;
    static const char *const words[] = {"ok", "FAIL", "unsupported"};
    if (c->result != KILN_SELFCHECK_PASS || r->verbose) {
        say(r->t, "  %-12s %-20s [%s] (%s) %.3f s%s%s\n", words[c->result], c->op, c->note,
            c->shapes, c->seconds, c->message[0] ? ": " : "", c->message);
    }
    if (c->result == KILN_SELFCHECK_FAIL && strstr(r->failing, c->op) == NULL &&
        strlen(r->failing) + strlen(c->op) + 3 < sizeof(r->failing)) {
        strcat(r->failing, r->failing[0] ? ", " : "");
        strcat(r->failing, c->op);
    }
}

/* The environment and the devices; returns the index of the device in use in devs. */
static int describe(struct tee *t, kiln_context *ctx, struct kiln_device_info *devs, int *n_devs)
{
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&now));
    say(t, "kiln doctor: kiln %s, %s\n", kiln_version(), when);
    say(t, "backends compiled in:");
    for (int32_t i = 0; i < kiln_backend_count(); i++) {
        say(t, " %s", kiln_backend_name(i));
    }
    say(t, "\nselected: %s, device %s%s\n", kiln_context_backend(ctx), kiln_context_device(ctx),
        kiln_context_check(ctx) ? " (KILN_CHECK on)" : "");
    int32_t n = 0, cur = -1;
    if (kiln_backend_devices(kiln_context_backend(ctx), devs, 16, &n) != KILN_OK) {
        kiln_clear_error();
        n = 0;
    }
    *n_devs = n < 16 ? n : 16;
    say(t, "\n%s devices:\n", kiln_context_backend(ctx));
    for (int32_t d = 0; d < *n_devs; d++) {
        int used = strcmp(devs[d].name, kiln_context_device(ctx)) == 0 && cur < 0;
        cur = used ? d : cur;
        say(t, "  %d: %s (%s)%s\n", devs[d].index, devs[d].name, devs[d].type,
            used ? "  <- in use" : "");
        say_details(t, devs[d].details);
    }
    return cur;
}

/* Reports the KILN_* variables that are set; returns the number of malformed ones. */
static int environment(struct tee *t)
{
    struct kiln_env_var vars[64];
    int32_t n = kiln_env_vars(vars, 64), bad = 0;
    say(t, "\nenvironment:");
    for (int32_t i = 0; i < n && i < 64; i++) {
        if (vars[i].state != 0) {
            say(t, "\n  %s=%s%s%s", vars[i].name, vars[i].value,
                vars[i].state < 0 ? ": MALFORMED; accepted values: " : "",
                vars[i].state < 0 ? vars[i].accepted : "");
            bad += vars[i].state < 0;
        }
    }
    say(t, "%s\n", bad == 0 ? " (the KILN_* variables that are set are well-formed)" : "");
    return bad;
}

int cmd_doctor(int argc, char **argv)
{
    struct doctor_args a;
    struct tee t = {NULL};
    struct kiln_device_info devs[16];
    struct kiln_selfcheck_summary sum;
    kiln_context *ctx = NULL;
    int help = 0, n_devs = 0;
    doctor_defaults(&a);
    if (!opts_parse("doctor", doctor_opts, N_OPTS, 1, argc, argv, &a, NULL, 0, NULL, &help)) {
        return EXIT_USAGE;
    }
    if (help) {
        doctor_help(stdout);
        return EXIT_SUCCESS;
    }
    if (kiln_env_check() != KILN_OK) {
        fprintf(stderr, "kiln doctor: %s\n", kiln_last_error());
        return EXIT_USAGE;
    }
    if (!a.no_report && (t.file = fopen(a.report, "w")) == NULL) {
        fprintf(stderr, "kiln doctor: cannot write the report %s\n", a.report);
        return EXIT_FAILURE;
    }
    if (kiln_context_create(NULL, &ctx) != KILN_OK) {
        say(&t, "kiln doctor: cannot use the selected backend: %s\n", kiln_last_error());
        if (t.file != NULL) {
            fclose(t.file);
        }
        return EXIT_FAILURE;
    }
    int cur = describe(&t, ctx, devs, &n_devs);
    environment(&t);
    struct run_ctx rc = {&t, a.verbose, ""};
    say(&t, "\nop self-check on %s (%s) against the CPU reference:\n", kiln_context_backend(ctx),
        kiln_context_device(ctx));
    kiln_status s = kiln_selfcheck(ctx, a.op, on_case, &rc, &sum);
    int status = EXIT_SUCCESS;
    if (s != KILN_OK) {
        say(&t, "kiln doctor: the self-check could not run: %s\n", kiln_last_error());
        status = s == KILN_E_INVALID_ARG ? EXIT_USAGE : EXIT_FAILURE;
    } else {
        say(&t,
            "  %d cases: %d passed, %d failed, %d unsupported; %d of %d ops checked in %.1f s\n",
            sum.n_cases, sum.n_passed, sum.n_failed, sum.n_unsupported, sum.n_ops_checked,
            sum.n_ops, sum.seconds);
        hints(&t, ctx, cur >= 0 ? &devs[cur] : NULL);
        if (sum.n_failed > 0) {
            say(&t, "\nfailing ops: %s\n", rc.failing);
            status = EXIT_FAILURE;
        } else {
            say(&t, "\nhealthy: every op%s agrees with the CPU reference\n",
                sum.n_unsupported > 0 ? " the backend runs" : "");
        }
    }
    if (t.file != NULL) {
        fclose(t.file);
        printf("report: %s\n", a.report);
    }
    kiln_context_destroy(ctx);
    return status;
}
