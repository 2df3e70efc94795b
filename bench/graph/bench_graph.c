/*
 * bench_graph.c - what another graph over an existing parameter store costs: building,
 * differentiating, compiling and the first run (forward and backward) of
 *   - the LeNet-5 graph at a new batch size, the store and the backend's pipelines or
 *     programs already warm from a first graph, and
 *   - a tree-net graph over a random binary tree of 30 leaves (a shared composition
 *     layer h = tanh(W [l; r] + b) at every inner node, a classifier at the root: about
 *     60 nodes forward), a new tree shape each time,
 * against a training step of an already compiled graph of the same kind. The backend
 * comes from KILN_BACKEND. Prints medians over the repetitions (first argument, default
 * 20). Not part of the tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"

#define DIM 32

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int die(const char *what)
{
    fprintf(stderr, "bench_graph: %s: %s\n", what, kiln_last_error());
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Phase times of one graph: build (with backward), compile, first run, a later run. */
struct phases {
    double build, compile, first, step;
    int32_t nodes;
};

static kiln_status lenet_graph(kiln_store *s, int64_t batch, kiln_graph **g, kiln_tensor **x,
                               kiln_tensor **y)
{
    struct kiln_model_options mo = KILN_MODEL_OPTIONS_INIT;
    int64_t xd[4] = {batch, 1, 28, 28};
    kiln_status st = kiln_graph_create_in(s, g);
    if (st != KILN_OK) {
        return st;
    }
    *x = kiln_input(*g, "x", KILN_DTYPE_F32, 4, xd);
    *y = kiln_input(*g, "y", KILN_DTYPE_I32, 1, &batch);
    kiln_tensor *loss = kiln_tensor_keep(
        kiln_softmax_xent(*g, kiln_model_build(*g, KILN_MODEL_LENET, *x, &mo), *y));
    return kiln_graph_backward(*g, loss);
}

static int time_lenet(kiln_store *s, kiln_optimizer *o, int64_t batch, struct phases *p)
{
    kiln_graph *g;
    kiln_tensor *x, *y;
    double t0 = now_s();
    if (lenet_graph(s, batch, &g, &x, &y) != KILN_OK) {
        return die("building LeNet");
    }
    double t1 = now_s();
    if (kiln_graph_compile(g) != KILN_OK) {
        return die("compiling LeNet");
    }
    double t2 = now_s();
    float *xs = calloc((size_t)(batch * 784), sizeof(float));
    int32_t *ys = calloc((size_t)batch, sizeof(int32_t));
    float b[10];
    /* The first step, waited for by reading a parameter back. */
    if (xs == NULL || ys == NULL || kiln_tensor_upload(x, xs, (size_t)batch * 784 * 4) != KILN_OK ||
        kiln_tensor_upload(y, ys, (size_t)batch * 4) != KILN_OK ||
        kiln_train_step(g, o) != KILN_OK ||
        kiln_store_read(s, "fc3.bias", b, sizeof(b)) != KILN_OK) {
        return die("the first step");
    }
    double t3 = now_s();
    if (kiln_train_step(g, o) != KILN_OK ||
        kiln_store_read(s, "fc3.bias", b, sizeof(b)) != KILN_OK) {
        return die("a step");
    }
    double t4 = now_s();
    p->build = t1 - t0;
    p->compile = t2 - t1;
    p->first = t3 - t2;
    p->step = t4 - t3;
    p->nodes = kiln_graph_n_nodes(g);
    kiln_graph_destroy(g);
    free(xs);
    free(ys);
    return 0;
}

/* A random binary tree of n_leaves leaves, composed bottom-up; returns the root. */
static kiln_tensor *compose(kiln_graph *g, kiln_tensor *const *leaves, int32_t n, unsigned *seed)
{
    if (n == 1) {
        return leaves[0];
    }
    int32_t k = 1 + (int32_t)(rand_r(seed) % (unsigned)(n - 1));
    kiln_tensor *lr[2] = {compose(g, leaves, k, seed), compose(g, leaves + k, n - k, seed)};
    kiln_tensor *cat = kiln_concat(g, 2, lr, 1);
    int64_t wd[2] = {DIM, 2 * DIM}, bd[1] = {DIM};
    kiln_tensor *w = kiln_param(g, "compose.weight", 2, wd, KILN_INIT_XAVIER_UNIFORM, 0, 1);
    kiln_tensor *b = kiln_param(g, "compose.bias", 1, bd, KILN_INIT_ZEROS, 0, 1);
    return kiln_tanh(g, kiln_add(g, kiln_matmul(g, cat, w, 0, 1), b));
}

static int time_tree(kiln_store *s, kiln_optimizer *o, unsigned seed, struct phases *p)
{
    enum { LEAVES = 30 };
    kiln_graph *g;
    double t0 = now_s();
    if (kiln_graph_create_in(s, &g) != KILN_OK) {
        return die("a tree graph");
    }
    int64_t one = 1;
    kiln_tensor *leaves[LEAVES];
    kiln_tensor *x = kiln_input(g, "leaves", KILN_DTYPE_F32, 2, (int64_t[]){LEAVES, DIM});
    for (int i = 0; i < LEAVES; i++) {
        leaves[i] = kiln_slice(g, x, 0, i, 1);
    }
    kiln_tensor *root = compose(g, leaves, LEAVES, &seed);
    struct kiln_dense_options dopt = KILN_DENSE_OPTIONS_INIT;
    kiln_tensor *label = kiln_input(g, "label", KILN_DTYPE_I32, 1, &one);
    kiln_tensor *loss =
        kiln_tensor_keep(kiln_softmax_xent(g, kiln_dense(g, root, 2, "out", &dopt), label));
    if (kiln_graph_backward(g, loss) != KILN_OK) {
        return die("differentiating a tree");
    }
    double t1 = now_s();
    if (kiln_graph_compile(g) != KILN_OK) {
        return die("compiling a tree");
    }
    double t2 = now_s();
    float xs[LEAVES * DIM], l;
    int32_t lab = (int32_t)(seed % 2);
    for (int i = 0; i < LEAVES * DIM; i++) {
        xs[i] = (float)((i * 37 + (int)seed) % 17) / 17.0f - 0.5f;
    }
    if (kiln_tensor_upload(x, xs, sizeof(xs)) != KILN_OK ||
        kiln_tensor_upload(label, &lab, sizeof(lab)) != KILN_OK ||
        kiln_train_step(g, o) != KILN_OK || kiln_tensor_download(loss, &l, sizeof(l)) != KILN_OK) {
        return die("the first tree step");
    }
    double t3 = now_s();
    if (kiln_train_step(g, o) != KILN_OK || kiln_tensor_download(loss, &l, sizeof(l)) != KILN_OK) {
        return die("a tree step");
    }
    double t4 = now_s();
    p->build = t1 - t0;
    p->compile = t2 - t1;
    p->first = t3 - t2;
    p->step = t4 - t3;
    p->nodes = kiln_graph_n_nodes(g);
    kiln_graph_destroy(g);
    return 0;
}

static void report(const char *what, struct phases *ph, int n)
{
    double b[256], c[256], f[256], st[256];
    int32_t nodes = ph[0].nodes;
    for (int i = 0; i < n; i++) {
        b[i] = ph[i].build;
        c[i] = ph[i].compile;
        f[i] = ph[i].first;
        st[i] = ph[i].step;
    }
    double mb = median(b, n), mc = median(c, n), mf = median(f, n), ms = median(st, n);
    printf("| %s | %d | %.3f | %.3f | %.3f | %.3f | %.2f | %.3f |\n", what, nodes, mb * 1e3,
           mc * 1e3, mf * 1e3, ms * 1e3, (mb + mc) * 1e6 / nodes, (mb + mc + mf - ms) / ms);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 20;
    reps = reps < 1 ? 1 : reps > 256 ? 256 : reps;
    kiln_context *ctx;
    kiln_store *s;
    kiln_optimizer *o;
    struct kiln_optim_options oo = KILN_OPTIM_OPTIONS_INIT;
    struct phases ph[256], warm;
    oo.lr = 0.01f;
    oo.momentum = 0.9f;
    if (kiln_context_create(NULL, &ctx) != KILN_OK || kiln_store_create(ctx, &s) != KILN_OK ||
        kiln_optimizer_create(s, &oo, &o) != KILN_OK) {
        return die("creating the context");
    }
    printf("backend %s, device %s, %d repetitions (medians, ms)\n\n", kiln_context_backend(ctx),
           kiln_context_device(ctx), reps);
    printf("| graph | nodes | build + backward | compile | first step | later step | "
           "build + compile per node (us) | (build + compile + first - step) / step |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    /* Warm-up: the first LeNet graph allocates the store and compiles pipelines/programs. */
    if (time_lenet(s, o, 64, &warm) != 0) {
        return 1;
    }
    printf("| LeNet-5, first graph (cold: pipelines, store) | %d | %.3f | %.3f | %.3f | %.3f | | "
           "|\n",
           warm.nodes, warm.build * 1e3, warm.compile * 1e3, warm.first * 1e3, warm.step * 1e3);
    for (int i = 0; i < reps; i++) {
        if (time_lenet(s, o, 48 + i % 32, &ph[i]) != 0) {
            return 1;
        }
    }
    report("LeNet-5 at a new batch size (48-79)", ph, reps);
    if (time_tree(s, o, 12345, &warm) != 0) {
        return 1;
    }
    for (int i = 0; i < reps; i++) {
        if (time_tree(s, o, 1000u + (unsigned)i, &ph[i]) != 0) {
            return 1;
        }
    }
    report("tree net, 30 leaves, a new shape each", ph, reps);
    kiln_store_destroy(s);
    kiln_context_destroy(ctx);
    return 0;
}
