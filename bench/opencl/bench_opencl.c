/*
 * bench_opencl.c - throughput of kiln's opencl backend: SGEMM GFLOP/s at 256..2048
 * through a kiln graph next to CLBlast called directly on the same device in the same
 * run (the difference is kiln's overhead), and the GB/s achieved by a large elementwise
 * add and a full sum, next to the host's memcpy bandwidth for scale. Not a test.
 *
 * Usage: bench_opencl [max_n]   (KILN_DEVICE picks the device; max_n defaults to 2048)
 */
#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/opencl/cl_impl.h"
#include "context_impl.h"
#include "kiln.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        kiln_status s_ = (expr);                                                                   \
        if (s_ != KILN_OK) {                                                                       \
            fprintf(stderr, "%s failed: %s\n", #expr, kiln_last_error());                          \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CL_OK(expr)                                                                                \
    do {                                                                                           \
        cl_int e_ = (expr);                                                                        \
        if (e_ != CL_SUCCESS) {                                                                    \
            fprintf(stderr, "%s failed: %d\n", #expr, (int)e_);                                    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static void fill(float *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (float)rand_r(&seed) / RAND_MAX - 0.5f;
    }
}

/* Runs eval of target reps times and waits; returns seconds per run. */
static double time_eval(kiln_context *ctx, kiln_graph *g, kiln_tensor *target, int reps)
{
    struct kiln_backend *be = &ctx->be;
    double t0 = now();
    for (int r = 0; r < reps; r++) {
        CHECK(kiln_graph_eval(g, 1, &target));
    }
    CHECK(be->ops->synchronize(be));
    return (now() - t0) / reps;
}

/* Enough repetitions for about half a second, from one timed run. */
static int reps_for(double t)
{
    int r = t > 0 ? (int)(0.5 / t) : 50;
    return r < 3 ? 3 : r > 50 ? 50 : r;
}

static double kiln_gemm(kiln_context *ctx, int64_t n)
{
    kiln_graph *g;
    int64_t d[2] = {n, n};
    CHECK(kiln_graph_create(ctx, &g));
    kiln_tensor *a = kiln_input(g, "a", KILN_DTYPE_F32, 2, d);
    kiln_tensor *b = kiln_input(g, "b", KILN_DTYPE_F32, 2, d);
    kiln_tensor *c = kiln_tensor_keep(kiln_matmul(g, a, b, 0, 0));
    CHECK(kiln_graph_compile(g));
    float *h = malloc(sizeof(float) * (size_t)(n * n));
    fill(h, (size_t)(n * n), 1);
    CHECK(kiln_tensor_upload(a, h, sizeof(float) * (size_t)(n * n)));
    CHECK(kiln_tensor_upload(b, h, sizeof(float) * (size_t)(n * n)));
    free(h);
    double t = time_eval(ctx, g, c, 1); /* warm-up: CLBlast builds its kernels */
    t = time_eval(ctx, g, c, 1);
    t = time_eval(ctx, g, c, reps_for(t));
    kiln_graph_destroy(g);
    return 2.0 * (double)n * (double)n * (double)n / t * 1e-9;
}

static double direct_gemm(cl_context cx, cl_command_queue q, size_t n)
{
    cl_int err;
    size_t bytes = sizeof(float) * n * n;
    float *h = malloc(bytes);
    fill(h, n * n, 1);
    cl_mem a = clCreateBuffer(cx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes, h, &err);
    CL_OK(err);
    cl_mem b = clCreateBuffer(cx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes, h, &err);
    CL_OK(err);
    cl_mem c = clCreateBuffer(cx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    CL_OK(err);
    free(h);
    double t = 0;
    int reps = 1;
    for (int pass = 0; pass < 3; pass++) {
        double t0 = now();
        for (int r = 0; r < reps; r++) {
            CLBlastStatusCode st =
                CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, n, n, n,
                             1.0f, a, 0, n, b, 0, n, 0.0f, c, 0, n, &q, NULL);
            if (st != CLBlastSuccess) {
                fprintf(stderr, "CLBlastSgemm failed: %d\n", (int)st);
                exit(1);
            }
        }
        CL_OK(clFinish(q));
        t = (now() - t0) / reps;
        reps = pass == 0 ? 1 : reps_for(t);
    }
    clReleaseMemObject(a);
    clReleaseMemObject(b);
    clReleaseMemObject(c);
    return 2.0 * (double)n * (double)n * (double)n / t * 1e-9;
}

/* GB/s of y = a + b (op 0) or of a full sum of a (op 1) over n floats. */
static double stream(kiln_context *ctx, int64_t n, int op)
{
    kiln_graph *g;
    CHECK(kiln_graph_create(ctx, &g));
    kiln_tensor *a = kiln_input(g, "a", KILN_DTYPE_F32, 1, &n);
    kiln_tensor *b = kiln_input(g, "b", KILN_DTYPE_F32, 1, &n);
    kiln_tensor *y = kiln_tensor_keep(op == 0 ? kiln_add(g, a, b) : kiln_sum(g, a, 1, 0));
    CHECK(kiln_graph_compile(g));
    float *h = malloc(sizeof(float) * (size_t)n);
    fill(h, (size_t)n, 2);
    CHECK(kiln_tensor_upload(a, h, sizeof(float) * (size_t)n));
    CHECK(kiln_tensor_upload(b, h, sizeof(float) * (size_t)n));
    free(h);
    double t = time_eval(ctx, g, y, 1);
    t = time_eval(ctx, g, y, reps_for(t));
    kiln_graph_destroy(g);
    double bytes = (op == 0 ? 3.0 : 1.0) * 4.0 * (double)n;
    return bytes / t * 1e-9;
}

static double host_memcpy(size_t bytes)
{
    char *a = malloc(bytes), *b = malloc(bytes);
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        memcpy(b, a, bytes);
        double t = now() - t0;
        best = t < best ? t : best;
    }
    volatile char sink = b[bytes / 2];
    (void)sink;
    free(a);
    free(b);
    return 2.0 * (double)bytes / best * 1e-9; /* read + write */
}

int main(int argc, char **argv)
{
    int64_t max_n = argc > 1 ? atoll(argv[1]) : 2048;
    kiln_context *ctx;
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = "opencl";
    o.check = 0;
    if (kiln_context_create(&o, &ctx) != KILN_OK) {
        fprintf(stderr, "opencl unavailable: %s\n", kiln_last_error());
        return 77;
    }
    struct kiln__cl *cl = kiln__cl_of(&ctx->be);
    cl_int err;
    cl_context cx = clCreateContext(NULL, 1, &cl->device, NULL, NULL, &err);
    CL_OK(err);
    cl_command_queue q = clCreateCommandQueue(cx, cl->device, 0, &err);
    CL_OK(err);

    printf("device: %s (%s, driver %s)\n", kiln_context_device(ctx), cl->platform_name,
           cl->driver_version);
    printf("\nSGEMM, row-major NN, GFLOP/s\n");
    printf("%6s %12s %12s %9s\n", "n", "kiln", "CLBlast", "kiln/CLB");
    for (int64_t n = 256; n <= max_n; n *= 2) {
        double k = kiln_gemm(ctx, n);
        double d = direct_gemm(cx, q, (size_t)n);
        printf("%6lld %12.1f %12.1f %8.0f%%\n", (long long)n, k, d, 100.0 * k / d);
        fflush(stdout);
    }
    int64_t n = (int64_t)1 << 24;
    printf("\nmemory-bound ops over %lld floats (%.0f MiB per tensor), GB/s\n", (long long)n,
           (double)n * 4 / 1048576.0);
    printf("%-28s %8.1f\n", "add (read 2, write 1)", stream(ctx, n, 0));
    printf("%-28s %8.1f\n", "sum of all (read 1)", stream(ctx, n, 1));
    printf("%-28s %8.1f\n", "host memcpy (read + write)", host_memcpy((size_t)n * 4));

    clReleaseCommandQueue(q);
    clReleaseContext(cx);
    kiln_context_destroy(ctx);
    return 0;
}
