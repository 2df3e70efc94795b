/*
 * bench_scatter.c - times the embedding lookup (gather) and its gradient (scatter_add)
 * on the backend KILN_BACKEND picks, at the sizes of a word-level language model:
 * a table of V rows of D floats and J = N * T indices (default V 5000, J 8000, D 128;
 * or V J D as arguments). The indices repeat (Zipf-like: small ids are frequent), so
 * scatter_add sums many rows per table row. Each op runs in its own graph, timed over
 * repeated runs with one wait at the end, and its result is checked once against a
 * plain C computation (scatter_add in index order, which every backend must match bit
 * for bit). Prints ms per op and the effective bandwidth.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs g `reps` times after a warm-up run and returns the seconds per run; y is
 * downloaded to out once after the warm-up and once at the end (the wait). */
static double time_runs(kiln_graph *g, kiln_tensor *y, float *out, int reps)
{
    size_t nb = kiln_tensor_n_bytes(y);
    if (kiln_graph_run(g) != KILN_OK || kiln_tensor_download(y, out, nb) != KILN_OK) {
        return -1.0;
    }
    double t0 = now();
    for (int r = 0; r < reps; r++) {
        if (kiln_graph_run(g) != KILN_OK) {
            return -1.0;
        }
    }
    if (kiln_tensor_download(y, out, nb) != KILN_OK) {
        return -1.0;
    }
    return (now() - t0) / reps;
}

int main(int argc, char **argv)
{
    int64_t v = argc > 3 ? atoll(argv[1]) : 5000, j = argc > 3 ? atoll(argv[2]) : 8000;
    int64_t d = argc > 3 ? atoll(argv[3]) : 128;
    int reps = getenv("BENCH_REPS") != NULL ? atoi(getenv("BENCH_REPS")) : 5;
    kiln_context *ctx = NULL;
    kiln_graph *gg = NULL, *gs = NULL;
    float *table = malloc((size_t)(v * d) * 4), *dy = malloc((size_t)(j * d) * 4);
    float *out = malloc((size_t)((v > j ? v : j) * d) * 4), *want = calloc((size_t)(v * d), 4);
    int32_t *idx = malloc((size_t)j * 4);
    int rc = 1;
    if (table == NULL || dy == NULL || out == NULL || want == NULL || idx == NULL ||
        kiln_context_create(NULL, &ctx) != KILN_OK) {
        fprintf(stderr, "setup: %s\n", kiln_last_error());
        goto done;
    }
    srand(7);
    for (int64_t i = 0; i < v * d; i++) {
        table[i] = (float)rand() / RAND_MAX - 0.5f;
    }
    for (int64_t i = 0; i < j * d; i++) {
        dy[i] = (float)rand() / RAND_MAX - 0.5f;
    }
    for (int64_t i = 0; i < j; i++) {
        double u = (double)rand() / RAND_MAX;
        idx[i] = (int32_t)((double)v * u * u * u); /* frequent small ids */
    }
    for (int64_t i = 0; i < j; i++) {
        for (int64_t c = 0; c < d; c++) {
            want[idx[i] * d + c] += dy[i * d + c];
        }
    }
    printf("backend %s (%s): V %lld, J %lld, D %lld\n", kiln_context_backend(ctx),
           kiln_context_device(ctx), (long long)v, (long long)j, (long long)d);

    /* gather: [V, D] table, J ids -> [J, D] */
    int64_t td[2] = {v, d}, jd[1] = {j}, yd[2] = {j, d};
    if (kiln_graph_create(ctx, &gg) != KILN_OK || kiln_graph_create(ctx, &gs) != KILN_OK) {
        goto done;
    }
    kiln_tensor *t = kiln_input(gg, "table", KILN_DTYPE_F32, 2, td);
    kiln_tensor *ig = kiln_input(gg, "ids", KILN_DTYPE_I32, 1, jd);
    kiln_tensor *y = kiln_tensor_keep(kiln_embedding(gg, t, ig, -1));
    kiln_tensor *g = kiln_input(gs, "dy", KILN_DTYPE_F32, 2, yd);
    kiln_tensor *is = kiln_input(gs, "ids", KILN_DTYPE_I32, 1, jd);
    kiln_tensor *dx = kiln_tensor_keep(kiln_scatter_add(gs, g, is, 0, v));
    if (kiln_graph_compile(gg) != KILN_OK || kiln_graph_compile(gs) != KILN_OK ||
        kiln_tensor_upload(t, table, (size_t)(v * d) * 4) != KILN_OK ||
        kiln_tensor_upload(ig, idx, (size_t)j * 4) != KILN_OK ||
        kiln_tensor_upload(g, dy, (size_t)(j * d) * 4) != KILN_OK ||
        kiln_tensor_upload(is, idx, (size_t)j * 4) != KILN_OK) {
        fprintf(stderr, "%s\n", kiln_last_error());
        goto done;
    }
    double tg = time_runs(gg, y, out, reps);
    for (int64_t i = 0; tg > 0 && i < j; i++) {
        if (memcmp(out + i * d, table + idx[i] * d, (size_t)d * 4) != 0) {
            fprintf(stderr, "gather: row %lld differs\n", (long long)i);
            goto done;
        }
    }
    double ts = time_runs(gs, dx, out, reps);
    if (tg < 0 || ts < 0) {
        fprintf(stderr, "%s\n", kiln_last_error());
        goto done;
    }
    if (memcmp(out, want, (size_t)(v * d) * 4) != 0) {
        fprintf(stderr, "scatter_add: not bitwise equal to the sum in index order\n");
        goto done;
    }
    double mb = (double)(j * d) * 4 * 2 / 1e6; /* reads and writes of the J rows */
    printf("gather       %8.3f ms  (%.0f MB/s)\n", 1e3 * tg, mb / tg);
    printf("scatter_add  %8.3f ms  (%.0f MB/s), bitwise equal to the sum in index order\n",
           1e3 * ts, mb / ts);
    rc = 0;
done:
    kiln_graph_destroy(gg);
    kiln_graph_destroy(gs);
    kiln_context_destroy(ctx);
    free(table);
    free(dy);
    free(out);
    free(want);
    free(idx);
    return rc;
}
