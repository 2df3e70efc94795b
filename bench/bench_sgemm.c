/*
 * bench_sgemm.c - GFLOP/s of a square f32 matrix product C = A B, the SGEMM rows of
 * bench/compare.sh, by one implementation per run:
 *
 *   bench_sgemm kiln|openblas|clblast [--time S] N...
 *
 *  - kiln: kiln_matmul through a graph on the backend KILN_BACKEND picks (public API);
 *    each timed run evaluates the product and a sum of C, and the host waits once, by
 *    reading the sum, after the last run (the sum adds N^2 of N^3 work);
 *  - openblas: cblas_sgemm called directly, with OpenBLAS's own threads;
 *  - clblast: CLBlastSgemm called directly on the first OpenCL GPU (else the first
 *    device), the device kiln's opencl backend picks by default.
 * For each N, after one warm-up run (kernel builds), the runs repeat for about S
 * seconds (default 0.5) and one line is printed:
 *
 *   sgemm IMPL N: X GFLOP/s (R runs in T s)
 *
 * Exits 77 when the implementation is unavailable (no device, not compiled in).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"

#ifdef BENCH_CLBLAST
#include <clblast_c.h>
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double min_time = 0.5;

static float *random_matrix(int64_t n, unsigned seed)
{
    float *p = malloc((size_t)(n * n) * sizeof(float));
    for (int64_t i = 0; p != NULL && i < n * n; i++) {
        p[i] = (float)rand_r(&seed) / (float)RAND_MAX - 0.5f;
    }
    return p;
}

static void report(const char *impl, int64_t n, int runs, double secs)
{
    double flops = 2.0 * (double)n * (double)n * (double)n * runs;
    printf("sgemm %s %lld: %.2f GFLOP/s (%d runs in %.3f s)\n", impl, (long long)n,
           flops / secs * 1e-9, runs, secs);
    fflush(stdout);
}

/* ---- kiln ---- */

static int kiln_one(kiln_context *ctx, int64_t n)
{
    kiln_graph *g = NULL;
    int64_t d[2] = {n, n};
    float *h = random_matrix(n, 1), s;
    int rc = 1;
    if (h == NULL || kiln_graph_create(ctx, &g) != KILN_OK) {
        goto done;
    }
    kiln_tensor *a = kiln_input(g, "a", KILN_DTYPE_F32, 2, d);
    kiln_tensor *b = kiln_input(g, "b", KILN_DTYPE_F32, 2, d);
    kiln_tensor *sum = kiln_tensor_keep(kiln_sum(g, kiln_matmul(g, a, b, 0, 0), 3, 0));
    size_t nb = (size_t)(n * n) * sizeof(float);
    if (kiln_graph_compile(g) != KILN_OK || kiln_tensor_upload(a, h, nb) != KILN_OK ||
        kiln_tensor_upload(b, h, nb) != KILN_OK || kiln_graph_eval(g, 1, &sum) != KILN_OK ||
        kiln_tensor_download(sum, &s, sizeof(s)) != KILN_OK) {
        goto done;
    }
    int runs = 0;
    double t0 = now(), t;
    do {
        if (kiln_graph_eval(g, 1, &sum) != KILN_OK) {
            goto done;
        }
        runs++;
        /* a wait every few runs keeps the measurement from queueing far ahead */
        if (runs % 4 == 0 && kiln_tensor_download(sum, &s, sizeof(s)) != KILN_OK) {
            goto done;
        }
        t = now() - t0;
    } while (t < min_time);
    if (kiln_tensor_download(sum, &s, sizeof(s)) != KILN_OK) {
        goto done;
    }
    report(kiln_context_backend(ctx), n, runs, now() - t0);
    rc = 0;
done:
    if (rc != 0) {
        fprintf(stderr, "bench_sgemm: kiln %lld: %s\n", (long long)n, kiln_last_error());
    }
    kiln_graph_destroy(g);
    free(h);
    return rc;
}

static int run_kiln(int n_sizes, const int64_t *sizes)
{
    kiln_context *ctx;
    if (kiln_context_create(NULL, &ctx) != KILN_OK) {
        fprintf(stderr, "bench_sgemm: kiln: %s\n", kiln_last_error());
        return 77;
    }
    int rc = 0;
    for (int i = 0; i < n_sizes; i++) {
        rc |= kiln_one(ctx, sizes[i]);
    }
    kiln_context_destroy(ctx);
    return rc;
}

/* ---- OpenBLAS ---- */

static int run_openblas(int n_sizes, const int64_t *sizes)
{
    for (int i = 0; i < n_sizes; i++) {
        int64_t n = sizes[i];
        float *a = random_matrix(n, 1), *b = random_matrix(n, 2), *c = random_matrix(n, 3);
        if (a == NULL || b == NULL || c == NULL) {
            fprintf(stderr, "bench_sgemm: out of memory\n");
            return 1;
        }
        int runs = 0, in = (int)n;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, in, in, in, 1.0f, a, in, b, in, 0.0f,
                    c, in);
        double t0 = now();
        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, in, in, in, 1.0f, a, in, b, in,
                        0.0f, c, in);
            runs++;
        } while (now() - t0 < min_time);
        report("openblas", n, runs, now() - t0);
        free(a);
        free(b);
        free(c);
    }
    return 0;
}

/* ---- CLBlast ---- */

#ifdef BENCH_CLBLAST
/* The first GPU of any platform, else the first device. */
static int pick_device(cl_device_id *out)
{
    cl_platform_id plats[16];
    cl_uint n_plats = 0;
    int found = 0;
    if (clGetPlatformIDs(16, plats, &n_plats) != CL_SUCCESS) {
        return 0;
    }
    for (int gpu = 1; gpu >= 0 && !found; gpu--) {
        for (cl_uint p = 0; p < n_plats && p < 16 && !found; p++) {
            cl_uint n = 0;
            cl_device_type type = gpu ? CL_DEVICE_TYPE_GPU : CL_DEVICE_TYPE_ALL;
            found = clGetDeviceIDs(plats[p], type, 1, out, &n) == CL_SUCCESS && n > 0;
        }
    }
    return found;
}

static int clblast_one(cl_context cx, cl_command_queue q, int64_t n)
{
    size_t sn = (size_t)n, bytes = sizeof(float) * sn * sn;
    float *h = random_matrix(n, 1);
    cl_int e1, e2, e3;
    cl_mem a = clCreateBuffer(cx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes, h, &e1);
    cl_mem b = clCreateBuffer(cx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes, h, &e2);
    cl_mem c = clCreateBuffer(cx, CL_MEM_READ_WRITE, bytes, NULL, &e3);
    free(h);
    int rc = 1, runs = -1;
    double t0 = 0.0;
    if (e1 != CL_SUCCESS || e2 != CL_SUCCESS || e3 != CL_SUCCESS) {
        fprintf(stderr, "bench_sgemm: clblast: buffers of %zu bytes: %d %d %d\n", bytes, (int)e1,
                (int)e2, (int)e3);
        goto done;
    }
    do { /* run -1 is the warm-up (CLBlast builds its kernel) */
        CLBlastStatusCode st =
            CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, sn, sn, sn,
                         1.0f, a, 0, sn, b, 0, sn, 0.0f, c, 0, sn, &q, NULL);
        if (st != CLBlastSuccess || (runs % 4 == 0 && clFinish(q) != CL_SUCCESS)) {
            fprintf(stderr, "bench_sgemm: CLBlastSgemm %lld: status %d\n", (long long)n, (int)st);
            goto done;
        }
        if (runs++ == -1) {
            clFinish(q);
            t0 = now();
        }
    } while (runs < 1 || now() - t0 < min_time);
    clFinish(q);
    report("clblast", n, runs, now() - t0);
    rc = 0;
done:
    clReleaseMemObject(a);
    clReleaseMemObject(b);
    clReleaseMemObject(c);
    return rc;
}

static int run_clblast(int n_sizes, const int64_t *sizes)
{
    cl_device_id dev;
    cl_int err;
    if (!pick_device(&dev)) {
        fprintf(stderr, "bench_sgemm: clblast: no OpenCL device\n");
        return 77;
    }
    cl_context cx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "bench_sgemm: clblast: clCreateContext: %d\n", (int)err);
        return 77;
    }
    cl_command_queue q = clCreateCommandQueue(cx, dev, 0, &err);
    int rc = err == CL_SUCCESS ? 0 : 1;
    for (int i = 0; rc == 0 && i < n_sizes; i++) {
        rc |= clblast_one(cx, q, sizes[i]);
    }
    if (q != NULL) {
        clReleaseCommandQueue(q);
    }
    clReleaseContext(cx);
    return rc;
}
#endif

int main(int argc, char **argv)
{
    int64_t sizes[16];
    int n_sizes = 0;
    const char *impl = argc > 1 ? argv[1] : "";
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--time") == 0 && i + 1 < argc) {
            min_time = atof(argv[++i]);
        } else if (n_sizes < 16 && atoll(argv[i]) > 0) {
            sizes[n_sizes++] = atoll(argv[i]);
        } else {
            n_sizes = 0;
            break;
        }
    }
    if (n_sizes == 0) {
        fprintf(stderr, "usage: bench_sgemm kiln|openblas|clblast [--time S] N...\n");
        return 2;
    }
    if (strcmp(impl, "kiln") == 0) {
        return run_kiln(n_sizes, sizes);
    }
    if (strcmp(impl, "openblas") == 0) {
        return run_openblas(n_sizes, sizes);
    }
    if (strcmp(impl, "clblast") == 0) {
#ifdef BENCH_CLBLAST
        return run_clblast(n_sizes, sizes);
#else
        fprintf(stderr, "bench_sgemm: built without CLBlast\n");
        return 77;
#endif
    }
    fprintf(stderr, "bench_sgemm: unknown implementation '%s'\n", impl);
    return 2;
}
