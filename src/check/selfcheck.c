/*
 * selfcheck.c - kiln_selfcheck: runs the cases of selfcheck_cases.c on a context's
 * backend and on the CPU reference with identical data, and compares the outputs, the
 * parameters' gradients, inputs updated in place and store buffers under the
 * tolerances of the ops that computed them (compare.h, as KILN_CHECK does). A case
 * whose graph needs an op the backend has no kernel for is "unsupported"; an op of
 * the table that no case runs is reported as a failure.
 */
#include "kiln/selfcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../graph/compare.h"
#include "selfcheck_impl.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double unit(uint64_t seed, uint64_t i)
{
    return (double)(mix64(seed ^ mix64(i)) >> 11) * (1.0 / 9007199254740992.0);
}

/* Input i of case c (i < 0: the weights W of the loss sum(y W)), n elements. */
static void fill(const struct kiln__sc_case *c, int32_t ci, int i, int64_t n, void *dst)
{
    uint64_t seed = mix64((uint64_t)ci * 977 + (uint64_t)(i + 1) * 131);
    if (i >= 0 && (c->i32_mask & (1u << i))) {
        for (int64_t k = 0; k < n; k++) {
            ((int32_t *)dst)[k] = (int32_t)(unit(seed, (uint64_t)k) * c->labels);
        }
        return;
    }
    double lo = i >= 0 && (c->lo != 0.0f || c->hi != 0.0f) ? c->lo : -1.0;
    double hi = i >= 0 && (c->lo != 0.0f || c->hi != 0.0f) ? c->hi : 1.0;
    for (int64_t k = 0; k < n; k++) {
        ((float *)dst)[k] = (float)(lo + unit(seed, (uint64_t)k) * (hi - lo));
    }
}

/* One side of a case: its graph and what it downloaded. */
struct side {
    kiln_graph *g;
    kiln_tensor *in[KILN__SC_MAX_IN], *y, *w;
    void *out, *grad[KILN__SC_MAX_IN], *upd[KILN__SC_MAX_IN];
    float *buf[2];
    int64_t buf_n[2];
    struct kiln__tol out_tol, grad_tol;
    bool unsupported;
};

static void side_free(struct side *s)
{
    free(s->out);
    for (int i = 0; i < KILN__SC_MAX_IN; i++) {
        free(s->grad[i]);
        free(s->upd[i]);
    }
    free(s->buf[0]);
    free(s->buf[1]);
    kiln_graph_destroy(s->g);
    memset(s, 0, sizeof(*s));
}

static void tol_max(struct kiln__tol *a, const struct kiln__tol *b)
{
    a->nmse = fmax(a->nmse, b->nmse);
    a->abs = fmax(a->abs, b->abs);
    a->rel = fmax(a->rel, b->rel);
}

static kiln_status build(struct side *s, const struct kiln__sc_case *c)
{
    kiln_graph *g = s->g;
    for (int i = 0; i < c->n_in; i++) {
        char name[16];
        const struct kiln_shape *sh = &c->shape[i];
        snprintf(name, sizeof(name), "in%d", i);
        if (c->i32_mask & (1u << i)) {
            s->in[i] = kiln_input(g, name, KILN_DTYPE_I32, sh->rank, sh->dims);
        } else if (c->grad_mask & (1u << i)) {
            s->in[i] = kiln_param(g, name, sh->rank, sh->dims, KILN_INIT_ZEROS, 0.0f, 0);
        } else {
            s->in[i] = kiln_input(g, name, KILN_DTYPE_F32, sh->rank, sh->dims);
        }
    }
    s->y = kiln_tensor_keep(c->build(g, s->in));
    KILN_TRY(kiln_graph_status(g));
    if (c->grad_mask != 0 && s->y->dtype == KILN_DTYPE_F32 && s->y->n_elems > 0) {
        const struct kiln_shape *sh = &s->y->shape;
        s->w = kiln_input(g, "w", KILN_DTYPE_F32, sh->rank, sh->dims);
        kiln_tensor *loss = kiln_sum(g, kiln_mul(g, s->y, s->w), (1u << sh->rank) - 1u, 0);
        KILN_TRY(kiln_graph_status(g));
        KILN_TRY(kiln_graph_backward(g, loss));
    }
    s->out_tol = kiln__tol_exact;
    s->grad_tol = kiln__tol_exact;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const kiln_tensor *t = g->nodes[i];
        if (t->op == KILN__OP_LEAF) {
            continue;
        }
        tol_max(&s->grad_tol, &kiln__ops[t->op]->tol);
        if (!(t->flags & KILN__F_BACKWARD)) {
            tol_max(&s->out_tol, &kiln__ops[t->op]->tol);
        }
    }
    tol_max(&s->grad_tol, &s->out_tol);
    return KILN_OK;
}

/* Whether an op of g has no kernel on g's backend (then the case is unsupported). */
static bool missing_kernel(const kiln_graph *g)
{
    const struct kiln_kernel *k = g->ctx->be.ops->kernels;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        int op = g->nodes[i]->op;
        if (op != KILN__OP_LEAF && !(kiln__ops[op]->flags & KILN__OPF_VIEW) && k[op].run == NULL) {
            return true;
        }
    }
    return false;
}

static void *download_new(const kiln_tensor *t, kiln_status *st)
{
    size_t nb = kiln_tensor_n_bytes(t);
    void *p = malloc(nb ? nb : 4);
    *st = p == NULL ? KILN_E_OUT_OF_HOST_MEMORY : kiln_tensor_download(t, p, nb);
    return p;
}

/* Builds, compiles, runs and downloads one side; on failure the message is in msg. */
static kiln_status run_side(kiln_context *ctx, const struct kiln__sc_case *c, int32_t ci,
                            void *const *data, struct side *s)
{
    memset(s, 0, sizeof(*s));
    KILN_TRY(kiln_graph_create(ctx, &s->g));
    KILN_TRY(build(s, c));
    kiln_status st = kiln_graph_compile(s->g);
    if (st == KILN_E_UNSUPPORTED && missing_kernel(s->g)) {
        s->unsupported = true;
    }
    KILN_TRY(st);
    for (int i = 0; i < c->n_in; i++) {
        KILN_TRY(kiln_tensor_upload(s->in[i], data[i], kiln_tensor_n_bytes(s->in[i])));
    }
    if (s->w != NULL) {
        float *w = malloc((size_t)s->w->n_elems * sizeof(float));
        if (w == NULL) {
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "selfcheck: out of host memory");
        }
        fill(c, ci, -1, s->w->n_elems, w);
        st = kiln_tensor_upload(s->w, w, (size_t)s->w->n_elems * sizeof(float));
        free(w);
        KILN_TRY(st);
    }
    for (int t = 0; t < (c->steps > 0 ? c->steps : 1); t++) {
        KILN_TRY(kiln_store_zero_grad(kiln_graph_store(s->g)));
        KILN_TRY(kiln_graph_run(s->g));
    }
    if (s->y->n_elems > 0) {
        s->out = download_new(s->y, &st);
        KILN_TRY(st);
    }
    for (int i = 0; i < c->n_in; i++) {
        kiln_tensor *gr = kiln_tensor_grad(s->in[i]);
        if ((c->grad_mask & (1u << i)) && gr != NULL) {
            s->grad[i] = download_new(gr, &st);
            KILN_TRY(st);
        }
        if (c->inplace_mask & (1u << i)) {
            s->upd[i] = download_new(s->in[i], &st);
            KILN_TRY(st);
        }
    }
    for (int b = 0; b < 2 && c->buffers[b] != NULL; b++) {
        kiln_store *store = kiln_graph_store(s->g);
        struct kiln_store_entry e;
        int32_t k = kiln_store_find(store, c->buffers[b]);
        KILN_TRY(kiln_store_entry(store, k, &e));
        int64_t n = kiln__shape_elems(&e.shape);
        s->buf_n[b] = n;
        s->buf[b] = malloc((size_t)n * sizeof(float));
        if (s->buf[b] == NULL) {
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "selfcheck: out of host memory");
        }
        KILN_TRY(kiln_store_read(store, c->buffers[b], s->buf[b], (size_t)n * sizeof(float)));
    }
    return KILN_OK;
}

/* Compares one tensor; on a mismatch writes why to msg and returns false. */
static bool same(const char *what, kiln_dtype dt, const void *ref, const void *got, int64_t n,
                 const struct kiln__tol *tol, const char *backend, char *msg, size_t msg_n)
{
    struct kiln__cmp r;
    bool ok = dt == KILN_DTYPE_I32 ? kiln__compare_i32(ref, got, n, &r)
                                   : kiln__compare_f32(ref, got, n, tol, &r);
    if (!ok) {
        snprintf(msg, msg_n,
                 "%s (%lld elements): %s check failed; max abs %.3g, max rel %.3g, nmse %.3g "
                 "(tolerance nmse %.1g, abs %.1g, rel %.1g); worst index %lld: cpu %.9g, %s %.9g",
                 what, (long long)n, r.why, r.max_abs, r.max_rel, r.nmse, tol->nmse, tol->abs,
                 tol->rel, (long long)r.worst, r.ref_v, backend, r.got_v);
    }
    return ok;
}

static bool compare(const struct kiln__sc_case *c, const struct side *ref, const struct side *got,
                    const char *backend, char *msg, size_t n)
{
    if (ref->y->n_elems > 0 && !same("output", ref->y->dtype, ref->out, got->out, ref->y->n_elems,
                                     &ref->out_tol, backend, msg, n)) {
        return false;
    }
    for (int i = 0; i < c->n_in; i++) {
        char what[64];
        int64_t ne = ref->in[i]->n_elems;
        snprintf(what, sizeof(what), "gradient of input %d", i);
        if (ref->grad[i] != NULL && !same(what, KILN_DTYPE_F32, ref->grad[i], got->grad[i], ne,
                                          &ref->grad_tol, backend, msg, n)) {
            return false;
        }
        snprintf(what, sizeof(what), "input %d %s", i,
                 (kiln__ops[c->op]->flags & KILN__OPF_INPLACE) ? "updated in place" : "written");
        if (ref->upd[i] != NULL && !same(what, ref->in[i]->dtype, ref->upd[i], got->upd[i], ne,
                                         &ref->out_tol, backend, msg, n)) {
            return false;
        }
    }
    for (int b = 0; b < 2 && c->buffers[b] != NULL; b++) {
        if (!same(c->buffers[b], KILN_DTYPE_F32, ref->buf[b], got->buf[b], ref->buf_n[b],
                  &ref->out_tol, backend, msg, n)) {
            return false;
        }
    }
    return true;
}

static const char *shapes_of(const struct kiln__sc_case *c, char *buf, size_t n)
{
    size_t len = 0;
    char sb[64];
    buf[0] = '\0';
    for (int i = 0; i < c->n_in && len < n; i++) {
        len += (size_t)snprintf(buf + len, n - len, "%s%s %s", i ? ", " : "",
                                (c->i32_mask & (1u << i)) ? "i32" : "f32",
                                kiln__shape_str(&c->shape[i], sb, sizeof(sb)));
    }
    return buf;
}

/* Runs case c (the ci-th: its inputs' seed) on ctx and cpu; fills r (message into msg). */
static void run_case(kiln_context *ctx, kiln_context *cpu, const struct kiln__sc_case *c,
                     int32_t ci, struct kiln_selfcheck_case *r, char *msg, size_t n,
                     unsigned char *ran, unsigned char *seen)
{
    void *data[KILN__SC_MAX_IN] = {NULL};
    struct side ref, got;
    memset(&ref, 0, sizeof(ref));
    memset(&got, 0, sizeof(got));
    msg[0] = '\0';
    r->result = KILN_SELFCHECK_FAIL;
    for (int i = 0; i < c->n_in; i++) {
        int64_t ne = kiln__shape_elems(&c->shape[i]);
        data[i] = malloc((size_t)(ne > 0 ? ne : 1) * 4);
        if (data[i] == NULL) {
            snprintf(msg, n, "out of host memory");
            goto done;
        }
        fill(c, ci, i, ne, data[i]);
    }
    if (run_side(cpu, c, ci, data, &ref) != KILN_OK) {
        snprintf(msg, n, "on the CPU reference: %s", kiln_last_error());
        goto done;
    }
    for (int32_t i = 0; i < ref.g->n_nodes; i++) {
        ran[ref.g->nodes[i]->op != KILN__OP_LEAF ? ref.g->nodes[i]->op : 0] |=
            ref.g->nodes[i]->op != KILN__OP_LEAF;
    }
    kiln_status st = run_side(ctx, c, ci, data, &got);
    if (st != KILN_OK) {
        r->result = got.unsupported ? KILN_SELFCHECK_UNSUPPORTED : KILN_SELFCHECK_FAIL;
        snprintf(msg, n, "%s: %s", kiln_status_name(st), kiln_last_error());
        goto done;
    }
    if (ctx->fault_op == c->op && got.out != NULL && got.y->dtype == KILN_DTYPE_F32) {
        /* Test hook (kiln__context_set_fault): pretend the backend's kernel is wrong. */
        ((float *)got.out)[got.y->n_elems / 2] += 1.0f;
    }
    if (compare(c, &ref, &got, kiln_context_backend(ctx), msg, n)) {
        r->result = KILN_SELFCHECK_PASS;
        for (int32_t i = 0; i < ref.g->n_nodes; i++) {
            if (ref.g->nodes[i]->op != KILN__OP_LEAF) {
                seen[ref.g->nodes[i]->op] = 1;
            }
        }
    }
done:
    kiln_clear_error();
    side_free(&ref);
    side_free(&got);
    for (int i = 0; i < c->n_in; i++) {
        free(data[i]);
    }
}

kiln_status kiln_selfcheck(kiln_context *ctx, const char *only_op, kiln_selfcheck_fn fn, void *ud,
                           struct kiln_selfcheck_summary *out)
{
    struct kiln_selfcheck_summary sum;
    struct kiln_context_options co = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *cpu = NULL;
    unsigned char seen[KILN_OP_COUNT], ran[KILN_OP_COUNT];
    char msg[1024], shapes[256];
    int only = -1;
    if (ctx == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_selfcheck: ctx is NULL");
    }
    for (int op = 0; only_op != NULL && op < KILN_OP_COUNT; op++) {
        only = strcmp(kiln__op_name(op), only_op) == 0 ? op : only;
    }
    if (only_op != NULL && only < 0) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_selfcheck: unknown op '%s'", only_op);
    }
    co.backend = "cpu";
    co.check = 0;
    co.log_level = KILN_LOG_ERROR;
    KILN_TRY(kiln_context_create(&co, &cpu));
    memset(&sum, 0, sizeof(sum));
    memset(seen, 0, sizeof(seen));
    memset(ran, 0, sizeof(ran));
    double t_all = now_s();
    /* the table's cases, then those of the ops' descriptors */
    int32_t n_all = kiln__sc_n_cases;
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        n_all += kiln__ops[op]->n_checks;
    }
    for (int32_t i = 0, op = 0, k = 0; i < n_all; i++) {
        const struct kiln__sc_case *c = NULL;
        if (i < kiln__sc_n_cases) {
            c = &kiln__sc_cases[i];
        } else {
            while (k >= kiln__ops[op]->n_checks) {
                op++;
                k = 0;
            }
            c = &kiln__ops[op]->checks[k++];
        }
        struct kiln_selfcheck_case r = {
            kiln__op_name(c->op), c->note, shapes_of(c, shapes, sizeof(shapes)),
            KILN_SELFCHECK_PASS,  msg,     0.0};
        if (only >= 0 && c->op != only) {
            continue;
        }
        double t0 = now_s();
        run_case(ctx, cpu, c, i, &r, msg, sizeof(msg), ran, seen);
        r.seconds = now_s() - t0;
        sum.n_cases++;
        sum.n_passed += r.result == KILN_SELFCHECK_PASS;
        sum.n_failed += r.result == KILN_SELFCHECK_FAIL;
        sum.n_unsupported += r.result == KILN_SELFCHECK_UNSUPPORTED;
        if (fn != NULL) {
            fn(ud, &r);
        }
    }
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        if (kiln__ops[op]->flags & KILN__OPF_VIEW) {
            continue;
        }
        sum.n_ops++;
        sum.n_ops_checked += seen[op];
        if (!ran[op] && only < 0) {
            struct kiln_selfcheck_case r = {kiln__op_name(op),
                                            "coverage",
                                            "",
                                            KILN_SELFCHECK_FAIL,
                                            "no case of the self-check runs this op",
                                            0.0};
            sum.n_cases++;
            sum.n_failed++;
            if (fn != NULL) {
                fn(ud, &r);
            }
        }
    }
    sum.seconds = now_s() - t_all;
    kiln_context_destroy(cpu);
    if (out != NULL) {
        *out = sum;
    }
    return KILN_OK;
}
