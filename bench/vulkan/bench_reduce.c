/*
 * bench_reduce.c - GB/s of the Vulkan backend's workgroup reductions (REDUCE_SUM over
 * rows, over the batch and spatial axes of a bias gradient, and softmax) on their two
 * variants: subgroup operations (KILN_VK_SUBGROUP=1, where the device has them) and the
 * shared-memory tree (KILN_VK_SUBGROUP=0). One context per variant; rounds alternate
 * between them so that a loaded machine slows both alike, and each round times a batch
 * of graph runs with one wait at the end. A graph holds 16 independent copies of the op
 * (so that small shapes measure shaders, not submissions). Bytes are the op's reads and
 * writes; GB per CPU-second (the process's, lavapipe's threads included) stays
 * comparable on a loaded machine when the device is lavapipe. The two variants'
 * results are compared (they group float additions differently, so a small relative
 * difference is expected). Usage: bench_reduce [rounds [name]] (default 5 rounds; name:
 * only the shapes whose description contains it).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "kiln.h"

#define COPIES 16

enum kind { SUM_ROWS, SUM_BIAS, SOFTMAX };

struct shape {
    enum kind kind;
    int64_t d[4];
    const char *what;
};

/* One variant's graph of COPIES ops. */
struct run {
    kiln_context *ctx;
    kiln_graph *g;
    kiln_tensor *x[COPIES], *y[COPIES];
    double secs, cpu;
    int n_runs;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static int64_t n_in(const struct shape *s)
{
    return s->d[0] * s->d[1] * s->d[2] * s->d[3];
}

static int64_t n_out(const struct shape *s)
{
    return s->kind == SUM_ROWS   ? s->d[0] * s->d[1] * s->d[2]
           : s->kind == SUM_BIAS ? s->d[1]
                                 : n_in(s);
}

/* Builds the graph and uploads x (n_in floats) to every copy. */
static int build(struct run *r, const struct shape *s, const float *x)
{
    if (kiln_graph_create(r->ctx, &r->g) != KILN_OK) {
        return 1;
    }
    for (int k = 0; k < COPIES; k++) {
        char name[16];
        snprintf(name, sizeof(name), "x%d", k);
        r->x[k] = kiln_input(r->g, name, KILN_DTYPE_F32, 4, s->d);
        kiln_tensor *y = s->kind == SUM_ROWS   ? kiln_sum(r->g, r->x[k], 1u << 3, 0)
                         : s->kind == SUM_BIAS ? kiln_sum(r->g, r->x[k], 0xd, 0)
                                               : kiln_softmax(r->g, r->x[k]);
        r->y[k] = kiln_tensor_keep(y);
    }
    if (kiln_graph_compile(r->g) != KILN_OK) {
        return 1;
    }
    for (int k = 0; k < COPIES; k++) {
        if (kiln_tensor_upload(r->x[k], x, (size_t)n_in(s) * sizeof(float)) != KILN_OK) {
            return 1;
        }
    }
    return kiln_graph_run(r->g) != KILN_OK; /* pipelines are built here */
}

/* Times reps runs of the graph, then one download (the wait). */
static int timed(struct run *r, int reps, float *out, size_t n_bytes)
{
    double t0 = now(), c0 = cpu_now();
    for (int i = 0; i < reps; i++) {
        if (kiln_graph_run(r->g) != KILN_OK) {
            return 1;
        }
    }
    if (kiln_tensor_download(r->y[0], out, n_bytes) != KILN_OK) {
        return 1;
    }
    r->secs += now() - t0;
    r->cpu += cpu_now() - c0;
    r->n_runs += reps;
    return 0;
}

static int bench(struct run *v, const struct shape *s, int rounds)
{
    size_t in_bytes = (size_t)n_in(s) * sizeof(float), out_bytes = (size_t)n_out(s) * 4;
    float *x = malloc(in_bytes), *o[2] = {malloc(out_bytes), malloc(out_bytes)};
    int rc = 1;
    if (x == NULL || o[0] == NULL || o[1] == NULL) {
        goto done;
    }
    srand(3);
    for (int64_t i = 0; i < n_in(s); i++) {
        x[i] = (float)rand() / RAND_MAX * 4.0f - 2.0f;
    }
    for (int p = 0; p < 2; p++) {
        v[p].g = NULL;
        v[p].secs = v[p].cpu = 0;
        v[p].n_runs = 0;
        if (build(&v[p], s, x) != 0) {
            goto done;
        }
    }
    double bytes = (double)COPIES * (double)(in_bytes + out_bytes);
    int reps = (int)(3e7 / bytes) + 1; /* about a tenth of a second per round on lavapipe */
    reps = reps > 100 ? 100 : reps;
    for (int round = 0; round < rounds; round++) {
        for (int p = 0; p < 2; p++) {
            if (timed(&v[(round + p) % 2], reps, o[(round + p) % 2], out_bytes) != 0) {
                goto done;
            }
        }
    }
    double diff = 0, mag = 0;
    for (int64_t i = 0; i < n_out(s); i++) {
        diff = fmax(diff, fabs((double)o[0][i] - o[1][i]));
        mag = fmax(mag, fabs((double)o[1][i]));
    }
    printf("%-36s", s->what);
    for (int p = 0; p < 2; p++) {
        double t = v[p].secs / v[p].n_runs, ct = v[p].cpu / v[p].n_runs;
        printf("  %8.3f ms %6.2f GB/s %6.2f GB/cpu-s", t * 1e3, bytes / t * 1e-9,
               bytes / ct * 1e-9);
    }
    printf("  %5.2fx  (max diff %.1e of %.1e)\n", v[1].secs / v[0].secs * v[0].n_runs / v[1].n_runs,
           diff, mag);
    rc = 0;
done:
    if (rc != 0) {
        fprintf(stderr, "bench_reduce: %s: %s\n", s->what, kiln_last_error());
    }
    kiln_graph_destroy(v[0].g);
    kiln_graph_destroy(v[1].g);
    free(x);
    free(o[0]);
    free(o[1]);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct shape shapes[] = {
        {SUM_BIAS, {64, 6, 24, 24}, "sum bias grad 64x6x24x24 (LeNet c1)"},
        {SUM_BIAS, {64, 16, 8, 8}, "sum bias grad 64x16x8x8 (LeNet c2)"},
        {SUM_ROWS, {1, 1, 64, 120}, "sum rows 64x120 (LeNet dense)"},
        {SUM_ROWS, {1, 1, 1024, 64}, "sum rows 1024x64"},
        {SUM_ROWS, {1, 1, 256, 4096}, "sum rows 256x4096"},
        {SOFTMAX, {1, 1, 64, 10}, "softmax 64x10"},
        {SOFTMAX, {1, 1, 1024, 1000}, "softmax 1024x1000"},
        {SOFTMAX, {1, 1, 64, 32768}, "softmax 64x32768"},
    };
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    struct run v[2];
    memset(v, 0, sizeof(v));
    static const char *const flag[2] = {"1", "0"};
    for (int p = 0; p < 2; p++) {
        struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
        o.backend = "vulkan";
        setenv("KILN_VK_SUBGROUP", flag[p], 1);
        if (kiln_context_create(&o, &v[p].ctx) != KILN_OK) {
            fprintf(stderr, "bench_reduce: %s\n", kiln_last_error());
            kiln_context_destroy(v[0].ctx);
            return 77;
        }
    }
    printf("kiln vulkan workgroup reductions on %s, %d copies per graph, %d rounds\n"
           "%-36s  %-42s  %-42s  tree/subgroup time\n",
           kiln_context_device(v[0].ctx), COPIES, rounds < 1 ? 1 : rounds, "op",
           "subgroup (KILN_VK_SUBGROUP=1)", "shared-memory tree (KILN_VK_SUBGROUP=0)");
    int rc = 0;
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        if (argc < 3 || strstr(shapes[i].what, argv[2]) != NULL) {
            rc |= bench(v, &shapes[i], rounds < 1 ? 1 : rounds);
        }
    }
    kiln_context_destroy(v[0].ctx);
    kiln_context_destroy(v[1].ctx);
    return rc;
}
