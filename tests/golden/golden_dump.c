/*
 * golden_dump.c - writes the inputs of every op golden case, the cases of the op
 * harness (tests/ops/, as data/<family>/<op>_<note>.safetensors) and the extra cases of
 * golden_cases.c (data/<case>.safetensors). Each file holds in0..in3 (the inputs), for
 * optimizer rows with several steps in1_s<t> (the gradient of step t), w (the fixed
 * weights of loss = sum(y * w)) when the case has gradients, and params (the row's raw
 * parameter bytes, compared by the test). __metadata__ holds the case's forward graph
 * as JSON (every node's op, sources, params and shape), the inputs that get gradients,
 * and the optimizer steps. tools/golden/make_goldens.py then adds PyTorch's results.
 *
 * Usage: golden_dump <data dir>
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "golden.h"
#include "op_harness.h"

struct job {
    const char *stem;
    int op;
    int n_in;
    kiln_tensor **in;
    kiln_tensor *y, *w;
    void *const *data;
    const void *raw_params;
    int step0, steps;
    const struct oh_case *hc; /* harness row (gradients of later steps), or NULL */
};

static void append(char *buf, size_t n, const char *fmt, const char *a)
{
    size_t k = strlen(buf);
    snprintf(buf + k, n - k, fmt, a);
}

static void shape_str(const struct kiln_shape *s, char *b, size_t n)
{
    size_t k = (size_t)snprintf(b, n, "[");
    for (int32_t i = 0; i < s->rank && k < n; i++) {
        k += (size_t)snprintf(b + k, n - k, "%s%lld", i ? ", " : "", (long long)s->dims[i]);
    }
    if (k < n) {
        snprintf(b + k, n - k, "]");
    }
}

static void src_name(const struct job *j, const kiln_tensor *t, char *b, size_t n)
{
    for (int i = 0; i < j->n_in; i++) {
        if (j->in[i] == t) {
            snprintf(b, n, "in%d", i);
            return;
        }
    }
    snprintf(b, n, "n%d", t->id);
}

/* The forward graph up to y as a JSON array of nodes. */
static void graph_json(kiln_graph *g, const struct job *j, char *buf, size_t n)
{
    snprintf(buf, n, "[");
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const kiln_tensor *t = g->nodes[i];
        if (t->op != KILN__OP_LEAF) {
            char item[2048], params[512], shape[96], srcs[1024] = "", nm[16];
            gd_params_json(t->op, t->params, j->step0, params, sizeof(params));
            shape_str(&t->shape, shape, sizeof(shape));
            for (int s = 0; s < t->n_src; s++) {
                src_name(j, t->src[s], nm, sizeof(nm));
                size_t k = strlen(srcs);
                snprintf(srcs + k, sizeof(srcs) - k, "%s\"%s\"", s ? ", " : "", nm);
            }
            snprintf(item, sizeof(item),
                     "%s{\"id\": \"n%d\", \"op\": \"%s\", \"src\": [%s], \"params\": %s, "
                     "\"shape\": %s}",
                     buf[1] ? ", " : "", t->id, kiln__op_name(t->op), srcs, params, shape);
            append(buf, n, "%s", item);
        }
        if (t == j->y) {
            break;
        }
    }
    append(buf, n, "%s", "]");
}

static void st_tensor(struct kiln__st_tensor *t, const char *name, kiln_dtype dt,
                      const struct kiln_shape *s, const void *data)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->dtype = dt == KILN_DTYPE_I32 ? KILN__ST_I32 : KILN__ST_F32;
    t->rank = s->rank;
    for (int32_t d = 0; d < s->rank; d++) {
        t->dims[d] = s->dims[d];
    }
    t->n_elems = gd_elems(s);
    t->n_bytes = (size_t)t->n_elems * 4;
    t->data = data;
}

static int write_job(kiln_graph *g, const struct job *j, const char *dir)
{
    enum { MAX_T = 24 };
    struct kiln__st_tensor ts[MAX_T];
    void *owned[MAX_T] = {0};
    int n_t = 0, n_owned = 0, rc = 1;
    for (int i = 0; i < j->n_in; i++) {
        char nm[8];
        snprintf(nm, sizeof(nm), "in%d", i);
        st_tensor(&ts[n_t++], nm, j->in[i]->dtype, &j->in[i]->shape, j->data[i]);
    }
    for (int t = 2; j->hc != NULL && t <= j->steps && n_t < MAX_T - 3; t++) {
        char nm[16];
        void *gbuf = calloc((size_t)j->in[1]->n_elems + 1, 4);
        oh_fill_input(j->hc, 1, (uint64_t)t, gbuf);
        owned[n_owned++] = gbuf;
        snprintf(nm, sizeof(nm), "in1_s%d", t);
        st_tensor(&ts[n_t++], nm, KILN_DTYPE_F32, &j->in[1]->shape, gbuf);
    }
    int32_t gh[2];
    struct kiln_shape hs = {1, {2, 0, 0, 0}};
    gd_graph_hash(g, j->y, gh);
    st_tensor(&ts[n_t++], "graph_hash", KILN_DTYPE_I32, &hs, gh);
    /* The op's parameter bytes (at least one word, so that the tensor is not empty). */
    size_t pb = kiln__ops[j->op]->params_bytes;
    struct kiln_shape ps = {1, {pb > 4 ? (int64_t)(pb + 3) / 4 : 1}};
    st_tensor(&ts[n_t++], "params", KILN_DTYPE_I32, &ps, j->raw_params);
    if (j->w != NULL) {
        float *wd = calloc((size_t)j->w->n_elems + 1, 4);
        gd_fill_weights(j->stem, j->w->n_elems, wd);
        owned[n_owned++] = wd;
        st_tensor(&ts[n_t++], "w", KILN_DTYPE_F32, &j->w->shape, wd);
    }
    static char graph[1 << 17];
    char grad[32] = "", n_in_s[8], steps_s[8], step0_s[8], out_shape[96], path[1024];
    graph_json(g, j, graph, sizeof(graph));
    for (int i = 0; i < j->n_in; i++) {
        if (kiln_tensor_grad(j->in[i]) != NULL) {
            char b[8];
            snprintf(b, sizeof(b), "%s%d", grad[0] ? "," : "", i);
            append(grad, sizeof(grad), "%s", b);
        }
    }
    shape_str(&j->y->shape, out_shape, sizeof(out_shape));
    snprintf(n_in_s, sizeof(n_in_s), "%d", j->n_in);
    snprintf(steps_s, sizeof(steps_s), "%d", j->steps);
    snprintf(step0_s, sizeof(step0_s), "%d", j->step0);
    const char *meta[] = {
        "case",      j->stem,
        "graph",     graph,
        "n_in",      n_in_s,
        "grad",      grad,
        "out_dtype", j->y->dtype == KILN_DTYPE_I32 ? "I32" : "F32",
        "out_shape", out_shape,
        "steps",     steps_s,
        "step0",     step0_s,
        "precision", j->hc != NULL && (j->hc->flags & OH_NO_DOUBLE) ? "f32" : "f64"};
    snprintf(path, sizeof(path), "%s/%s.safetensors", dir, j->stem);
    if (kiln__st_write_meta(path, ts, n_t, meta, (int32_t)(sizeof(meta) / sizeof(meta[0]) / 2)) !=
        KILN_OK) {
        fprintf(stderr, "%s\n", kiln_last_error());
        goto done;
    }
    rc = 0;
done:
    for (int i = 0; i < n_owned; i++) {
        free(owned[i]);
    }
    return rc;
}

static int dump_own(kiln_context *ctx, const struct gd_case *c, const char *dir)
{
    kiln_graph *g = NULL;
    kiln_tensor *in[OH_MAX_IN] = {0}, *y, *w;
    void *bufs[OH_MAX_IN] = {0};
    union gd_params p;
    int n_in = gd_n_in(c), rc = 1;
    gd_params_of(c, &p);
    if (kiln_graph_create(ctx, &g) != KILN_OK) {
        return 1;
    }
    for (int i = 0; i < n_in; i++) {
        bufs[i] = calloc((size_t)gd_elems(&c->shape[i]) + 1, 4);
        gd_fill_input(c, i, bufs[i]);
    }
    if (gd_build(g, c, in, &y, &w) != KILN_OK) {
        fprintf(stderr, "%s: %s\n", c->name, kiln_last_error());
    } else {
        struct job j = {c->name, c->op, n_in, in, y, w, bufs, p.raw, c->step, 1, NULL};
        rc = write_job(g, &j, dir);
    }
    for (int i = 0; i < n_in; i++) {
        free(bufs[i]);
    }
    kiln_graph_destroy(g);
    return rc;
}

static int dump_harness(kiln_context *ctx, const struct oh_family *f, int k, const char *dir)
{
    const struct oh_case *c = &f->cases[k];
    kiln_graph *g = NULL;
    kiln_tensor *in[OH_MAX_IN] = {0}, *y, *w;
    void *bufs[OH_MAX_IN] = {0};
    char stem[256];
    int n_in = oh_n_in(c), rc = 1;
    gd_harness_stem(f->name, f->cases, k, stem, sizeof(stem));
    if (kiln_graph_create(ctx, &g) != KILN_OK) {
        return 1;
    }
    for (int i = 0; i < n_in; i++) {
        bufs[i] = calloc((size_t)kiln__shape_elems(&c->shape[i]) + 1, 4);
        oh_fill_input(c, i, 0, bufs[i]);
    }
    if (oh_build(g, c, in, &y, &w) != KILN_OK) {
        fprintf(stderr, "%s: %s\n", stem, kiln_last_error());
    } else {
        struct job j = {stem, c->op, n_in, in, y, w, bufs, &c->p, 1, c->steps > 0 ? c->steps : 1,
                        c};
        rc = write_job(g, &j, dir);
    }
    for (int i = 0; i < n_in; i++) {
        free(bufs[i]);
    }
    kiln_graph_destroy(g);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <data dir>\n", argv[0]);
        return 2;
    }
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = "cpu";
    kiln_context *ctx;
    if (kiln_context_create(&o, &ctx) != KILN_OK) {
        fprintf(stderr, "%s\n", kiln_last_error());
        return 1;
    }
    int fails = 0, n = 0;
    for (int i = 0; i < gd_n_cases; i++, n++) {
        fails += dump_own(ctx, &gd_cases[i], argv[1]);
    }
    for (int fi = 0; oh_families[fi] != NULL; fi++) {
        const struct oh_family *f = oh_families[fi];
        char sub[1024];
        snprintf(sub, sizeof(sub), "%s/%s", argv[1], f->name);
        if (mkdir(sub, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "%s: %s\n", sub, strerror(errno));
            return 1;
        }
        for (int k = 0; k < f->n_cases; k++, n++) {
            fails += dump_harness(ctx, f, k, argv[1]);
        }
    }
    kiln_context_destroy(ctx);
    printf("wrote %d case input files to %s (%d failed)\n", n - fails, argv[1], fails);
    return fails == 0 ? 0 : 1;
}
