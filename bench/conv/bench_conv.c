/*
 * bench_conv.c - GFLOP/s of kiln's 2-D convolutions (CONV2D, CONV2D_BWD_DATA,
 * CONV2D_BWD_FILTER) on the backend KILN_BACKEND picks, for a few layer shapes, next to
 * two alternatives measured in the same run:
 *  - "gemm": kiln's matrix product at the size of the equivalent im2col GEMM over the
 *    whole batch (forward [K, CKK] x [CKK, N OH OW]; data [CKK, K] x [K, N OH OW];
 *    filter [K, N OH OW] x [N OH OW, CKK]). It leaves out the im2col / col2im passes,
 *    so it is an upper bound on what an im2col + GEMM path would give.
 *  - "direct": kiln's direct kernels, where "fwd", "data" and "filter" may have gone
 *    another way: on opencl the forward through CLBlast's convgemm and all three of
 *    stride 1 through the row kernels of opencl/convrow.cl (KILN_CL_CONVGEMM=0 and
 *    KILN_CL_CONV=direct turn them off: conv.cl's generic kernels), on vulkan all three
 *    through the implicit GEMM of shaders/convgemm.comp (KILN_VK_CONV=direct turns it off).
 *  - "convgemm" (opencl with CLBlast only): CLBlastSconvgemm called directly on the same
 *    device (forward only, NCHW input, KCHW kernel, cross-correlation).
 * Each figure is the median of `rounds` timings (default 5), each over enough graph runs
 * for about 0.3 s, after a warm-up run (PoCL and lavapipe compile kernels on first use).
 * The load average is printed before and after: the machine may be shared.
 *
 * Usage: KILN_BACKEND=opencl|vulkan|cpu bench_conv [rounds]   (KILN_CHECK=1 validates every
 * kiln result against the CPU reference, and so times the check too)
 *        bench_conv --lines [rounds] [SHAPE...]
 * --lines prints only what kiln runs, one line per shape and op, for bench/compare.sh:
 * "conv SHAPE fwd|data|filter: X GFLOP/s (Y GFLOP per CPU-second)", for the named shapes
 * (default all); the second figure, over the CPU time of the whole process, stays
 * comparable on a loaded machine when the device is a CPU (lavapipe, PoCL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "context_impl.h"
#include "graph/graph_impl.h"
#include "kiln.h"
#include "ops/op_desc.h"

#ifdef BENCH_CLBLAST
#include <clblast_c.h>

#include "backend/opencl/cl_impl.h"
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the whole process (the threads of lavapipe, PoCL and BLAS included). */
static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* CPU seconds per run of the last time_graph (median over its rounds). */
static double last_cpu;

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        kiln_status s_ = (expr);                                                                   \
        if (s_ != KILN_OK) {                                                                       \
            fprintf(stderr, "%s failed: %s\n", #expr, kiln_last_error());                          \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

struct shape {
    const char *name;
    int64_t n, c, h, w, k, kh, kw;
    int32_t pad;
};

static const struct shape shapes[] = {
    {"lenet-conv1", 64, 1, 28, 28, 6, 5, 5, 2},
    {"lenet-conv2", 64, 6, 14, 14, 16, 5, 5, 0},
    {"resnet20-16", 64, 16, 32, 32, 16, 3, 3, 1},
    {"64x64@8x8", 64, 64, 8, 8, 64, 3, 3, 1},
    /* ResNet-20's three stages on 28x28 Fashion-MNIST images */
    {"resnet-16@28", 64, 16, 28, 28, 16, 3, 3, 1},
    {"resnet-32@14", 64, 32, 14, 14, 32, 3, 3, 1},
    {"resnet-64@7", 64, 64, 7, 7, 64, 3, 3, 1},
};

static int rounds = 5;

static void fill(float *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (float)rand_r(&seed) / RAND_MAX - 0.5f;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int reps_for(double t)
{
    int r = t > 0 ? (int)(0.3 / t) : 20;
    return r < 2 ? 2 : r > 100 ? 100 : r;
}

static double load_avg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1) {
            l = -1;
        }
        fclose(f);
    }
    return l;
}

/* Uploads random values to every input leaf of g. */
static void upload_inputs(kiln_tensor *const *in, int n_in)
{
    for (int i = 0; i < n_in; i++) {
        size_t cnt = (size_t)in[i]->n_elems;
        float *h = malloc(cnt * sizeof(float));
        fill(h, cnt, (unsigned)(i + 1));
        CHECK(kiln_tensor_upload(in[i], h, cnt * sizeof(float)));
        free(h);
    }
}

/* Waits for the backend's queued work (the cpu backend has none). */
static void sync_backend(struct kiln_backend *be)
{
    if (be->ops->synchronize != NULL) {
        CHECK(be->ops->synchronize(be));
    }
}

/* Median seconds per kiln_graph_eval of target. */
static double time_graph(kiln_context *ctx, kiln_graph *g, kiln_tensor *target)
{
    struct kiln_backend *be = &ctx->be;
    double v[16];
    CHECK(kiln_graph_eval(g, 1, &target)); /* warm-up: kernel compilation */
    sync_backend(be);
    double t0 = now();
    CHECK(kiln_graph_eval(g, 1, &target));
    sync_backend(be);
    int reps = reps_for(now() - t0);
    double c[16];
    for (int r = 0; r < rounds; r++) {
        t0 = now();
        double c0 = cpu_now();
        for (int i = 0; i < reps; i++) {
            CHECK(kiln_graph_eval(g, 1, &target));
        }
        sync_backend(be);
        v[r] = (now() - t0) / reps;
        c[r] = (cpu_now() - c0) / reps;
    }
    last_cpu = median(c, rounds);
    return median(v, rounds);
}

static double flops_of(const struct shape *s, int64_t oh, int64_t ow)
{
    return 2.0 * (double)s->n * (double)s->k * (double)(s->c * s->kh * s->kw) * (double)(oh * ow);
}

/* One convolution op (0 forward, 1 data, 2 filter) through a kiln graph. */
static double kiln_conv(kiln_context *ctx, const struct shape *s, int op, int64_t oh, int64_t ow)
{
    kiln_graph *g;
    CHECK(kiln_graph_create(ctx, &g));
    struct kiln__p_conv2d p;
    memset(&p, 0, sizeof(p));
    p.stride[0] = p.stride[1] = 1;
    p.dilation[0] = p.dilation[1] = 1;
    p.pad[0] = p.pad[1] = s->pad;
    p.groups = 1;
    int64_t xd[4] = {s->n, s->c, s->h, s->w}, wd[4] = {s->k, s->c, s->kh, s->kw};
    int64_t yd[4] = {s->n, s->k, oh, ow};
    kiln_tensor *a, *b;
    int kop;
    if (op == 0) {
        a = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
        b = kiln_input(g, "w", KILN_DTYPE_F32, 4, wd);
        kop = KILN_OP_CONV2D;
    } else if (op == 1) {
        a = kiln_input(g, "dy", KILN_DTYPE_F32, 4, yd);
        b = kiln_input(g, "w", KILN_DTYPE_F32, 4, wd);
        p.in_hw[0] = (int32_t)s->h, p.in_hw[1] = (int32_t)s->w;
        kop = KILN_OP_CONV2D_BWD_DATA;
    } else {
        a = kiln_input(g, "x", KILN_DTYPE_F32, 4, xd);
        b = kiln_input(g, "dy", KILN_DTYPE_F32, 4, yd);
        p.kernel[0] = (int32_t)s->kh, p.kernel[1] = (int32_t)s->kw;
        kop = KILN_OP_CONV2D_BWD_FILTER;
    }
    kiln_tensor *src[2] = {a, b};
    kiln_tensor *y = kiln_tensor_keep(kiln__node(g, kop, 2, src, &p, sizeof(p)));
    CHECK(kiln_graph_compile(g));
    upload_inputs(src, 2);
    double t = time_graph(ctx, g, y);
    kiln_graph_destroy(g);
    return flops_of(s, oh, ow) / t * 1e-9;
}

/* kiln's matrix product [m, k] x [k, n]. */
static double kiln_gemm(kiln_context *ctx, int64_t m, int64_t n, int64_t k)
{
    kiln_graph *g;
    CHECK(kiln_graph_create(ctx, &g));
    int64_t ad[2] = {m, k}, bd[2] = {k, n};
    kiln_tensor *src[2] = {kiln_input(g, "a", KILN_DTYPE_F32, 2, ad),
                           kiln_input(g, "b", KILN_DTYPE_F32, 2, bd)};
    kiln_tensor *c = kiln_tensor_keep(kiln_matmul(g, src[0], src[1], 0, 0));
    CHECK(kiln_graph_compile(g));
    upload_inputs(src, 2);
    double t = time_graph(ctx, g, c);
    kiln_graph_destroy(g);
    return 2.0 * (double)m * (double)n * (double)k / t * 1e-9;
}

#ifdef BENCH_CLBLAST
#define CL_OK(expr)                                                                                \
    do {                                                                                           \
        cl_int e_ = (expr);                                                                        \
        if (e_ != CL_SUCCESS) {                                                                    \
            fprintf(stderr, "%s failed: %d\n", #expr, (int)e_);                                    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static cl_mem random_buffer(cl_context cx, size_t n, unsigned seed)
{
    cl_int err;
    float *h = malloc(n * sizeof(float));
    fill(h, n, seed);
    cl_mem m =
        clCreateBuffer(cx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, n * sizeof(float), h, &err);
    CL_OK(err);
    free(h);
    return m;
}

static void convgemm(cl_command_queue q, const struct shape *s, cl_mem x, cl_mem w, cl_mem y)
{
    CLBlastStatusCode st =
        CLBlastSconvgemm(CLBlastKernelModeCrossCorrelation, (size_t)s->c, (size_t)s->h,
                         (size_t)s->w, (size_t)s->kh, (size_t)s->kw, (size_t)s->pad, (size_t)s->pad,
                         1, 1, 1, 1, (size_t)s->k, (size_t)s->n, x, 0, w, 0, y, 0, &q, NULL);
    if (st != CLBlastSuccess) {
        fprintf(stderr, "CLBlastSconvgemm failed: %d\n", (int)st);
        exit(1);
    }
}

/* CLBlast's convgemm forward on its own context over the same device. */
static double clblast_conv(cl_context cx, cl_command_queue q, const struct shape *s, int64_t oh,
                           int64_t ow)
{
    cl_int err;
    cl_mem x = random_buffer(cx, (size_t)(s->n * s->c * s->h * s->w), 1);
    cl_mem w = random_buffer(cx, (size_t)(s->k * s->c * s->kh * s->kw), 2);
    cl_mem y = clCreateBuffer(cx, CL_MEM_READ_WRITE,
                              sizeof(float) * (size_t)(s->n * s->k * oh * ow), NULL, &err);
    CL_OK(err);
    double v[16];
    convgemm(q, s, x, w, y); /* warm-up: CLBlast compiles its kernel */
    CL_OK(clFinish(q));
    double t0 = now();
    convgemm(q, s, x, w, y);
    CL_OK(clFinish(q));
    int reps = reps_for(now() - t0);
    for (int r = 0; r < rounds; r++) {
        t0 = now();
        for (int i = 0; i < reps; i++) {
            convgemm(q, s, x, w, y);
        }
        CL_OK(clFinish(q));
        v[r] = (now() - t0) / reps;
    }
    clReleaseMemObject(x);
    clReleaseMemObject(w);
    clReleaseMemObject(y);
    return flops_of(s, oh, ow) / median(v, rounds) * 1e-9;
}
#endif

static int64_t out_len(const struct shape *s, int64_t in, int64_t k)
{
    return in + 2 * s->pad - k + 1;
}

/* --lines: kiln's three ops for the shapes named in names[0..n) (all when n is 0). */
static int lines(kiln_context *ctx, char **names, int n)
{
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        const struct shape *s = &shapes[i];
        int want = n == 0;
        for (int j = 0; j < n; j++) {
            want |= strcmp(names[j], s->name) == 0;
        }
        if (!want) {
            continue;
        }
        static const char *const op_names[3] = {"fwd", "data", "filter"};
        for (int op = 0; op < 3; op++) {
            int64_t oh = out_len(s, s->h, s->kh), ow = out_len(s, s->w, s->kw);
            double gf = kiln_conv(ctx, s, op, oh, ow);
            printf("conv %s %s: %.3f GFLOP/s (%.3f GFLOP per CPU-second)\n", s->name, op_names[op],
                   gf, flops_of(s, oh, ow) / last_cpu * 1e-9);
            fflush(stdout);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int line_mode = argc > 1 && strcmp(argv[1], "--lines") == 0;
    int arg = line_mode ? 2 : 1;
    if (argc > arg) {
        rounds = atoi(argv[arg++]);
        rounds = rounds < 1 ? 1 : rounds > 16 ? 16 : rounds;
    }
    kiln_context *ctx;
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    if (kiln_context_create(&o, &ctx) != KILN_OK) {
        fprintf(stderr, "backend unavailable: %s\n", kiln_last_error());
        return 77;
    }
    if (line_mode) {
        int rc = lines(ctx, argv + arg, argc - arg);
        kiln_context_destroy(ctx);
        return rc;
    }
    const char *backend = getenv("KILN_BACKEND");
    int use_clblast = 0;
#ifdef BENCH_CLBLAST
    cl_context cx = NULL;
    cl_command_queue q = NULL;
    if (backend != NULL && strcmp(backend, "opencl") == 0) {
        struct kiln__cl *cl = kiln__cl_of(&ctx->be);
        cl_int err;
        cx = clCreateContext(NULL, 1, &cl->device, NULL, NULL, &err);
        CL_OK(err);
        q = clCreateCommandQueue(cx, cl->device, 0, &err);
        CL_OK(err);
        use_clblast = 1;
    }
#endif
    printf("backend %s, device %s; median of %d rounds; load average %.2f\n",
           backend != NULL ? backend : "(default)", kiln_context_device(ctx), rounds, load_avg());
    printf("GFLOP/s (2 N K C KH KW OH OW flops per op)\n");
    /* the variable that selects the direct kernels, and its value */
    const char *dir_var = NULL, *dir_value = NULL;
    if (backend != NULL && strcmp(backend, "opencl") == 0) {
        dir_var = "KILN_CL_CONV", dir_value = "direct";
    } else if (backend != NULL && strcmp(backend, "vulkan") == 0) {
        dir_var = "KILN_VK_CONV", dir_value = "direct";
    }
    if (dir_var != NULL) {
        printf("direct: %s=%s%s\n", dir_var, dir_value,
               strcmp(dir_var, "KILN_CL_CONV") == 0 ? " KILN_CL_CONVGEMM=0" : "");
    }
    printf("%-12s %-30s %6s %6s %6s %8s %6s %6s %6s %6s %6s %6s\n", "shape", "x * w", "fwd",
           "direct", "gemm", "convgemm", "data", "direct", "gemm", "filter", "direct", "gemm");
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        const struct shape *s = &shapes[i];
        int64_t oh = s->h + 2 * s->pad - s->kh + 1, ow = s->w + 2 * s->pad - s->kw + 1;
        int64_t ckk = s->c * s->kh * s->kw, nohw = s->n * oh * ow;
        char desc[64];
        snprintf(desc, sizeof(desc), "[%lld,%lld,%lld,%lld]x[%lld,%lld,%lld,%lld] p%d",
                 (long long)s->n, (long long)s->c, (long long)s->h, (long long)s->w,
                 (long long)s->k, (long long)s->c, (long long)s->kh, (long long)s->kw, s->pad);
        double fwd = kiln_conv(ctx, s, 0, oh, ow);
        double fg = kiln_gemm(ctx, s->k, nohw, ckk);
        double cg = -1;
#ifdef BENCH_CLBLAST
        if (use_clblast) {
            cg = clblast_conv(cx, q, s, oh, ow);
        }
#endif
        double dat = kiln_conv(ctx, s, 1, oh, ow);
        double dg = kiln_gemm(ctx, ckk, nohw, s->k);
        double fil = kiln_conv(ctx, s, 2, oh, ow);
        double flg = kiln_gemm(ctx, s->k, ckk, nohw);
        double dir[3] = {-1, -1, -1};
        if (dir_var != NULL) {
            setenv(dir_var, dir_value, 1);
            setenv("KILN_CL_CONVGEMM", "0", 1);
            for (int op = 0; op < 3; op++) {
                dir[op] = kiln_conv(ctx, s, op, oh, ow);
            }
            unsetenv(dir_var);
            unsetenv("KILN_CL_CONVGEMM");
        }
        char cgs[16], ds[3][16];
        snprintf(cgs, sizeof(cgs), use_clblast ? "%.2f" : "-", cg);
        for (int op = 0; op < 3; op++) {
            snprintf(ds[op], sizeof(ds[op]), dir[op] >= 0 ? "%.2f" : "-", dir[op]);
        }
        printf("%-12s %-30s %6.2f %6s %6.2f %8s %6.2f %6s %6.2f %6.2f %6s %6.2f\n", s->name, desc,
               fwd, ds[0], fg, cgs, dat, ds[1], dg, fil, ds[2], flg);
        fflush(stdout);
    }
    printf("load average at the end %.2f\n", load_avg());
#ifdef BENCH_CLBLAST
    if (q != NULL) {
        clReleaseCommandQueue(q);
        clReleaseContext(cx);
    }
#endif
    kiln_context_destroy(ctx);
    return 0;
}
