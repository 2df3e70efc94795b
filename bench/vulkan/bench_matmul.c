/*
 * bench_matmul.c - GFLOP/s of kiln's f32 matrix product on the Vulkan backend for
 * square sizes (default 256, 512, 1024, 2048; or the sizes given as arguments). Each
 * size is checked once against a plain double-precision product on a few rows, then
 * timed over repeated graph runs with one wait at the end. Besides wall-clock GFLOP/s
 * it prints GFLOP per CPU-second of the process, which stays comparable on a loaded
 * machine when the device is lavapipe (a CPU). KILN_DEVICE picks the device
 * and KILN_VK_MATMUL_TILE="BM,BN,BK,TM,TN" overrides the tile the backend chooses.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "kiln.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the whole process (lavapipe's worker threads included). */
static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static int bench(kiln_context *ctx, int64_t n)
{
    kiln_graph *g = NULL;
    int64_t d[2] = {n, n};
    size_t nb = (size_t)(n * n) * sizeof(float);
    float *a = malloc(nb), *b = malloc(nb), *c = malloc(nb);
    int rc = 1;
    if (a == NULL || b == NULL || c == NULL || kiln_graph_create(ctx, &g) != KILN_OK) {
        goto done;
    }
    kiln_tensor *ta = kiln_input(g, "a", KILN_DTYPE_F32, 2, d);
    kiln_tensor *tb = kiln_input(g, "b", KILN_DTYPE_F32, 2, d);
    kiln_tensor *tc = kiln_tensor_keep(kiln_matmul(g, ta, tb, 0, 0));
    if (kiln_graph_compile(g) != KILN_OK) {
        goto done;
    }
    srand(1);
    for (int64_t i = 0; i < n * n; i++) {
        a[i] = (float)rand() / RAND_MAX - 0.5f;
        b[i] = (float)rand() / RAND_MAX - 0.5f;
    }
    if (kiln_tensor_upload(ta, a, nb) != KILN_OK || kiln_tensor_upload(tb, b, nb) != KILN_OK ||
        kiln_graph_run(g) != KILN_OK || kiln_tensor_download(tc, c, nb) != KILN_OK) {
        goto done;
    }
    double max_err = 0;
    for (int64_t i = 0; i < n; i += n / 7 + 1) {
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t k = 0; k < n; k++) {
                s += (double)a[i * n + k] * b[k * n + j];
            }
            max_err = fmax(max_err, fabs(s - c[i * n + j]));
        }
    }
    double flop = 2.0 * (double)n * (double)n * (double)n;
    int reps = (int)(2e9 / flop) + 1; /* about a second or two of device work */
    reps = reps > 50 ? 50 : reps;
    double t0 = now(), c0 = cpu_now();
    for (int r = 0; r < reps; r++) {
        if (kiln_graph_run(g) != KILN_OK) {
            goto done;
        }
    }
    if (kiln_tensor_download(tc, c, nb) != KILN_OK) {
        goto done;
    }
    double t = (now() - t0) / reps, ct = (cpu_now() - c0) / reps;
    printf("%6lld  %9.3f ms  %8.2f GFLOP/s  %8.2f GFLOP per CPU-second  (max abs err %.2g, %d "
           "runs)\n",
           (long long)n, t * 1e3, flop / t * 1e-9, flop / ct * 1e-9, max_err, reps);
    rc = max_err < 1e-3 * sqrt((double)n) ? 0 : 1;
done:
    if (rc != 0 && kiln_last_status() != KILN_OK) {
        fprintf(stderr, "bench_matmul: n = %lld: %s\n", (long long)n, kiln_last_error());
    }
    kiln_graph_destroy(g);
    free(a);
    free(b);
    free(c);
    return rc;
}

int main(int argc, char **argv)
{
    static const int64_t sizes[] = {256, 512, 1024, 2048};
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx;
    o.backend = "vulkan";
    if (kiln_context_create(&o, &ctx) != KILN_OK) {
        fprintf(stderr, "bench_matmul: %s\n", kiln_last_error());
        return 77;
    }
    printf("kiln vulkan f32 matmul on %s\n     n       time     throughput\n",
           kiln_context_device(ctx));
    int rc = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            rc |= bench(ctx, strtoll(argv[i], NULL, 10));
        }
    } else {
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            rc |= bench(ctx, sizes[i]);
        }
    }
    kiln_context_destroy(ctx);
    return rc;
}
