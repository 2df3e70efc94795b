/*
 * exec.c - running a compiled graph: the whole graph (training mode) or the ancestors
 * of some targets (inference mode), explicit uploads and downloads, and the KILN_CHECK
 * shadow that reruns every node on the CPU reference and stops at the first result
 * outside the op's tolerance, and the optional observer of a training run that hears of
 * every node once it has run (the data-parallel reduction starts the all-reduce of
 * gradients that are final while the backward pass goes on). Backend-independent: the
 * backend only sees nodes.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "compare.h"
#include "graph_impl.h"

/* ==== Transfers ==== */

static kiln_status check_transfer(const kiln_tensor *t, size_t n_bytes, const char *fn)
{
    if (t == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: tensor is NULL", fn);
    }
    if (!t->graph->compiled) {
        return KILN_FAIL(KILN_E_STATE, "%s('%s'): compile the graph first", fn, t->name);
    }
    if (n_bytes != kiln_tensor_n_bytes(t)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s('%s'): %zu bytes given, the tensor has %zu", fn,
                         t->name, n_bytes, kiln_tensor_n_bytes(t));
    }
    if (!(t->view_root->flags & KILN__F_KEEP) && t->view_root->op != KILN__OP_LEAF) {
        return KILN_FAIL(KILN_E_STATE,
                         "%s('%s'): its storage is reused during a run; mark it with "
                         "kiln_tensor_keep() before compiling",
                         fn, t->name);
    }
    return KILN_OK;
}

kiln_status kiln_tensor_upload(kiln_tensor *t, const void *src, size_t n_bytes)
{
    KILN_TRY(check_transfer(t, n_bytes, "kiln_tensor_upload"));
    if (src == NULL && n_bytes > 0) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_tensor_upload('%s'): src is NULL", t->name);
    }
    struct kiln_context *ctx = t->graph->ctx;
    size_t off;
    struct kiln_buffer *buf = kiln__tensor_buffer(t, &off);
    if (n_bytes == 0) {
        return KILN_OK;
    }
    KILN_TRY(ctx->be.ops->upload(&ctx->be, buf, off, src, n_bytes));
    ctx->stats.bytes_uploaded += n_bytes;
    return KILN_OK;
}

kiln_status kiln_tensor_download(const kiln_tensor *t, void *dst, size_t n_bytes)
{
    KILN_TRY(check_transfer(t, n_bytes, "kiln_tensor_download"));
    if (dst == NULL && n_bytes > 0) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_tensor_download('%s'): dst is NULL", t->name);
    }
    struct kiln_context *ctx = t->graph->ctx;
    size_t off;
    const struct kiln_buffer *buf = kiln__tensor_buffer(t, &off);
    if (n_bytes == 0) {
        return KILN_OK;
    }
    KILN_TRY(ctx->be.ops->download(&ctx->be, buf, off, dst, n_bytes));
    ctx->stats.bytes_downloaded += n_bytes;
    return KILN_OK;
}

/* ==== Kernels and their profile ==== */

/* The bytes node n reads and writes: its sources and output once, in-place sources
 * twice, the sources an ALSO_WRITES op writes (its riders) once (the profile's traffic
 * bound). */
static uint64_t node_bytes(const struct kiln_tensor *n)
{
    const struct kiln__op_desc *d = kiln__ops[n->op];
    uint64_t b = (d->flags & KILN__OPF_INPLACE) ? 0 : kiln_tensor_n_bytes(n);
    for (int i = 0; i < n->n_src; i++) {
        uint64_t sb = kiln_tensor_n_bytes(n->src[i]);
        bool twice = (d->flags & KILN__OPF_INPLACE) && kiln__writes_src(n, i);
        b += twice ? 2 * sb : sb;
    }
    return b;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs n's kernel, charging it to n's op in the profile when profiling. */
static kiln_status run_kernel(struct kiln_context *ctx, struct kiln_tensor *n)
{
    struct kiln_backend *be = &ctx->be;
    if (!ctx->prof.on) {
        if (be->ops->host_timed) {
            kiln__count_dispatch(ctx);
        }
        return kiln__kernel_of(be, n->op)->run(be, n);
    }
    struct kiln__prof_row *row = &ctx->prof.rows[n->op];
    row->nodes++;
    row->bytes += node_bytes(n);
    ctx->prof.op = n->op;
    double t0 = be->ops->host_timed ? seconds_now() : 0.0;
    if (be->ops->host_timed) {
        kiln__count_dispatch(ctx);
    }
    kiln_status s = kiln__kernel_of(be, n->op)->run(be, n);
    if (be->ops->host_timed) {
        row->seconds += seconds_now() - t0;
    }
    ctx->prof.op = KILN__PROF_OTHER;
    return s;
}

/* ==== The KILN_CHECK shadow ==== */

static kiln_status download_raw(struct kiln_context *ctx, const struct kiln_tensor *t, void *dst)
{
    size_t off;
    const struct kiln_buffer *buf = kiln__tensor_buffer(t, &off);
    size_t nb = kiln_tensor_n_bytes(t);
    if (nb == 0) {
        return KILN_OK;
    }
    KILN_TRY(ctx->be.ops->download(&ctx->be, buf, off, dst, nb));
    ctx->stats.bytes_downloaded += nb;
    return KILN_OK;
}

/* KILN_CHECK_REPAIR: puts the reference's result for t (host copy src) on the backend. */
static kiln_status repair(struct kiln_context *ctx, const struct kiln_tensor *t, const void *src)
{
    size_t off;
    struct kiln_buffer *buf = kiln__tensor_buffer(t, &off);
    size_t nb = kiln_tensor_n_bytes(t);
    if (nb == 0) {
        return KILN_OK;
    }
    KILN_TRY(ctx->be.ops->upload(&ctx->be, buf, off, src, nb));
    ctx->stats.bytes_uploaded += nb;
    return KILN_OK;
}

static kiln_status report(const struct kiln_tensor *n, const char *what, const struct kiln__cmp *c,
                          const struct kiln__tol *tol)
{
    char shapes[256] = "", sb[64];
    size_t len = 0;
    for (int i = 0; i < n->n_src && len < sizeof(shapes); i++) {
        len += (size_t)snprintf(shapes + len, sizeof(shapes) - len, "%s%s %s", i ? ", " : "",
                                kiln_dtype_name(n->src[i]->dtype),
                                kiln__shape_str(&n->src[i]->shape, sb, sizeof(sb)));
    }
    return KILN_FAIL(KILN_E_CHECK,
                     "KILN_CHECK: node '%s' (op %s, inputs %s -> %s %s) on '%s' differs from the "
                     "CPU reference in %s: %s check failed; max abs err %.3g, max rel err %.3g, "
                     "nmse %.3g (tolerance nmse %.1g, abs %.1g, rel %.1g); worst element %lld: "
                     "reference %.9g, backend %.9g",
                     n->name, kiln__ops[n->op]->name, shapes, kiln_dtype_name(n->dtype),
                     kiln__shape_str(&n->shape, sb, sizeof(sb)), n->graph->ctx->be.ops->name, what,
                     c->why, c->max_abs, c->max_rel, c->nmse, tol->nmse, tol->abs, tol->rel,
                     (long long)c->worst, c->ref_v, c->got_v);
}

/* ==== Non-finite values (KILN_CHECK=nan, and divergence under KILN_CHECK=1) ==== */

/* Index of the first non-finite element of f32 tensor t's host copy v, or -1. */
static int64_t first_nonfinite(const struct kiln_tensor *t, const float *v)
{
    if (t->dtype != KILN_DTYPE_F32) {
        return -1;
    }
    for (int64_t i = 0; i < t->n_elems; i++) {
        if (!isfinite(v[i])) {
            return i;
        }
    }
    return -1;
}

/* The divergence report for node n whose result what (host copy v) holds a non-finite
 * value at i; in (host copies of n's sources, or NULL; an entry is NULL for a source
 * that n writes) tells whether they were finite. */
static kiln_status diverged(const struct kiln_tensor *n, const char *what, const float *v,
                            int64_t i, void *const *in)
{
    char sb[64], src[160] = "finite inputs";
    for (int j = 0; in != NULL && j < n->n_src; j++) {
        if (in[j] == NULL) { /* a source the node writes (a rider): not an input */
            continue;
        }
        int64_t k = first_nonfinite(n->src[j], in[j]);
        if (k >= 0) {
            snprintf(src, sizeof(src), "input %d ('%s') already non-finite (element %lld is %g)", j,
                     n->src[j]->name, (long long)k, (double)((const float *)in[j])[k]);
            break;
        }
    }
    return KILN_FAIL(KILN_E_DIVERGED,
                     "KILN_CHECK: node '%s' (op %s -> %s %s) on '%s' produced non-finite values in "
                     "%s from %s: element %lld is %g. The run diverged here (not a backend "
                     "mismatch); a smaller learning rate or gradient clipping may help",
                     n->name, kiln__ops[n->op]->name, kiln_dtype_name(n->dtype),
                     kiln__shape_str(&n->shape, sb, sizeof(sb)), n->graph->ctx->be.ops->name, what,
                     src, (long long)i, (double)v[i]);
}

/* After node n ran: downloads what it wrote and fails with KILN_E_DIVERGED at the first
 * non-finite value, naming whether its inputs were finite. */
static kiln_status watch_node(kiln_graph *g, struct kiln_tensor *n)
{
    struct kiln_context *ctx = g->ctx;
    const struct kiln__op_desc *d = kiln__ops[n->op];
    kiln_status s = KILN_OK;
    int64_t bad = -1;
    const struct kiln_tensor *t = NULL;
    float *v = NULL;
    for (int i = -1; i < n->n_src && bad < 0 && s == KILN_OK; i++) {
        t = i < 0 ? n : n->src[i];
        bool written = i < 0 ? !(d->flags & KILN__OPF_INPLACE) : kiln__writes_src(n, i);
        if (!written || t->dtype != KILN_DTYPE_F32 || t->n_elems == 0) {
            continue;
        }
        kiln__free(ctx, v);
        v = kiln__alloc(ctx, kiln_tensor_n_bytes(t), "KILN_CHECK=nan");
        s = v != NULL ? download_raw(ctx, t, v) : KILN_E_OUT_OF_HOST_MEMORY;
        bad = s == KILN_OK ? first_nonfinite(t, v) : -1;
    }
    if (bad >= 0) {
        void *in[KILN__MAX_SRC] = {NULL};
        for (int j = 0; j < n->n_src && s == KILN_OK; j++) {
            if (kiln__writes_src(n, j) && !(d->flags & KILN__OPF_INPLACE)) {
                continue; /* a rider the node wrote: not an input */
            }
            in[j] = kiln__alloc(ctx, kiln_tensor_n_bytes(n->src[j]) + 4, "KILN_CHECK=nan");
            s = in[j] != NULL ? download_raw(ctx, n->src[j], in[j]) : KILN_E_OUT_OF_HOST_MEMORY;
        }
        /* In-place ops overwrote their inputs: their finiteness before is unknown. */
        bool known = !(d->flags & KILN__OPF_INPLACE);
        char what[96];
        snprintf(what, sizeof(what), "%s '%s'",
                 t == n                           ? "its output"
                 : (d->flags & KILN__OPF_INPLACE) ? "updated input"
                                                  : "written input",
                 t->name);
        s = s == KILN_OK ? diverged(n, what, v, bad, known ? in : NULL) : s;
        for (int j = 0; j < n->n_src; j++) {
            kiln__free(ctx, in[j]);
        }
    }
    kiln__free(ctx, v);
    return s;
}

static bool compare_tensor(const struct kiln_tensor *t, const void *ref, const void *got,
                           const struct kiln__tol *tol, struct kiln__cmp *c)
{
    if (t->dtype == KILN_DTYPE_I32) {
        return kiln__compare_i32(ref, got, t->n_elems, c);
    }
    return kiln__compare_f32(ref, got, t->n_elems, tol, c);
}

static kiln_status shadow_node(kiln_graph *g, struct kiln_tensor *n)
{
    struct kiln_context *ctx = g->ctx;
    const struct kiln__op_desc *d = kiln__ops[n->op];
    void *in[KILN__MAX_SRC] = {NULL};
    void *ref_out = NULL, *got = NULL;
    kiln_status s = KILN_OK;
    struct kiln__op_args a;

    for (int i = 0; i < n->n_src; i++) {
        in[i] = kiln__alloc(ctx, kiln_tensor_n_bytes(n->src[i]) + 4, "the KILN_CHECK shadow");
        if (in[i] == NULL) {
            s = KILN_E_OUT_OF_HOST_MEMORY;
            goto done;
        }
        s = download_raw(ctx, n->src[i], in[i]);
        if (s != KILN_OK) {
            goto done;
        }
    }
    size_t max_bytes = kiln_tensor_n_bytes(n);
    for (int i = 0; i < n->n_src; i++) {
        size_t nb = kiln_tensor_n_bytes(n->src[i]);
        max_bytes = nb > max_bytes ? nb : max_bytes;
    }
    ref_out = kiln__alloc(ctx, kiln_tensor_n_bytes(n) + 4, "the KILN_CHECK shadow");
    got = kiln__alloc(ctx, max_bytes + 4, "the KILN_CHECK shadow");
    if (ref_out == NULL || got == NULL) {
        s = KILN_E_OUT_OF_HOST_MEMORY;
        goto done;
    }
    s = run_kernel(ctx, n);
    if (s != KILN_OK) {
        goto done;
    }
    ctx->stats.nodes++;
    if (ctx->fault_op == n->op) {
        ctx->fault_pending = 1;
    }
    a.node = n;
    a.out = (d->flags & KILN__OPF_INPLACE) ? NULL : ref_out;
    a.in = in;
    s = d->cpu_ref(&a);
    if (s != KILN_OK) {
        goto done;
    }
    struct kiln__cmp c;
    bool fix = (ctx->check_repair[n->op / 64] >> (n->op % 64)) & 1u;
    /* What n wrote: its output (i = -1) unless it is in place, and the sources it writes
     * (in-place ops' updated inputs, an ALSO_WRITES op's riders), each against the
     * reference's (ref_out, or in[i] that the reference overwrote). */
    void *read[KILN__MAX_SRC] = {NULL}; /* the sources n only reads, for the report */
    for (int i = 0; i < n->n_src; i++) {
        read[i] = kiln__writes_src(n, i) ? NULL : in[i];
    }
    for (int i = -1; i < n->n_src; i++) {
        if (i < 0 ? (d->flags & KILN__OPF_INPLACE) != 0 : !kiln__writes_src(n, i)) {
            continue;
        }
        const struct kiln_tensor *t = i < 0 ? n : n->src[i];
        void *ref = i < 0 ? ref_out : in[i];
        char what[96];
        if (i < 0) {
            snprintf(what, sizeof(what), "its output");
        } else {
            snprintf(what, sizeof(what), "%s input %d ('%s')",
                     (d->flags & KILN__OPF_INPLACE) ? "updated" : "written", i, t->name);
        }
        s = download_raw(ctx, t, got);
        if (s != KILN_OK) {
            goto done;
        }
        if (ctx->fault_pending && ctx->fault_src == i && t->n_elems > 0) {
            /* Test hook: pretend the backend's kernel is wrong. */
            if (t->dtype == KILN_DTYPE_I32) {
                ((int32_t *)got)[t->n_elems / 2] += 1;
            } else {
                ((float *)got)[t->n_elems / 2] += 1.0f;
            }
            ctx->fault_pending = 0;
        }
        /* Non-finite values are the run diverging, not the backend disagreeing. */
        int64_t bad = first_nonfinite(t, ref);
        bad = bad >= 0 ? bad : first_nonfinite(t, got);
        if (bad >= 0) {
            /* In-place ops overwrote their inputs: their finiteness before is unknown. */
            bool known = !(d->flags & KILN__OPF_INPLACE);
            s = diverged(n, what, first_nonfinite(t, ref) >= 0 ? ref : got, bad,
                         known ? read : NULL);
            goto done;
        }
        if (!compare_tensor(t, ref, got, &d->tol, &c)) {
            s = report(n, what, &c, &d->tol);
            goto done;
        }
        if (fix) {
            s = repair(ctx, t, ref);
            if (s != KILN_OK) {
                goto done;
            }
        }
    }

done:
    for (int i = 0; i < n->n_src; i++) {
        kiln__free(ctx, in[i]);
    }
    kiln__free(ctx, ref_out);
    kiln__free(ctx, got);
    return s;
}

kiln_status kiln__exec_node(kiln_graph *g, struct kiln_tensor *n)
{
    struct kiln_context *ctx = g->ctx;
    struct kiln_backend *be = &ctx->be;
    if (n->op == KILN__OP_LEAF || kiln__is_view(n)) {
        return KILN_OK;
    }
    if (ctx->check == KILN__CHECK_FULL && !be->ops->is_reference) {
        return shadow_node(g, n);
    }
    ctx->stats.nodes++;
    KILN_TRY(run_kernel(ctx, n));
    /* KILN_CHECK=nan on any backend; KILN_CHECK=1 on the reference backend itself. */
    return ctx->check ? watch_node(g, n) : KILN_OK;
}

/* ==== Runs ==== */

kiln_status kiln__exec_begin(struct kiln_context *ctx)
{
    struct kiln_backend *be = &ctx->be;
    if (ctx->run_depth++ == 0 && be->ops->run_begin != NULL) {
        kiln_status s = be->ops->run_begin(be);
        if (s != KILN_OK) {
            ctx->run_depth--;
            return s;
        }
    }
    return KILN_OK;
}

kiln_status kiln__exec_end(struct kiln_context *ctx, kiln_status s)
{
    struct kiln_backend *be = &ctx->be;
    KILN_ASSERT(ctx->run_depth > 0);
    if (--ctx->run_depth == 0 && be->ops->run_end != NULL) {
        kiln_status e = be->ops->run_end(be);
        s = s != KILN_OK ? s : e;
    }
    return s;
}

/* Points every direct gradient tensor at the store's gradient (direct) or back at its
 * planned storage. */
static void route_grads(kiln_graph *g, bool direct)
{
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const struct kiln_tensor *n = g->nodes[i];
        if (n->direct != NULL) {
            n->direct->buf = direct ? n->src[0]->buf : n->direct->plan_buf;
            n->direct->offset = direct ? n->src[0]->offset : n->direct->plan_offset;
        }
    }
}

/* Whether the run that mask selects (NULL: all) skips node n: a rider whose writer
 * runs (the writer's kernel fills its storage), or with direct a gradient sink. */
static bool skipped(const struct kiln_tensor *n, const unsigned char *mask, bool direct)
{
    if (n->writer != NULL && (mask == NULL || mask[n->writer->id])) {
        return true;
    }
    return direct && n->direct != NULL;
}

bool kiln__exec_runs(const kiln_graph *g, int32_t i, bool direct)
{
    const struct kiln_tensor *n = g->nodes[i];
    return n->op != KILN__OP_LEAF && !kiln__is_view(n) && !skipped(n, NULL, direct);
}

/* Runs the nodes of g selected by mask (NULL: all). With direct, the store's gradients
 * are known to be zero: the gradients are computed straight into the store and their
 * sinks skipped, which gives the same values as adding them to zeros. A rider runs no
 * kernel when its writer runs, and its own op when the mask leaves the writer out. obs
 * (may be NULL) hears of the run's start and of every node that ran. */
static kiln_status run_nodes_ex(kiln_graph *g, const unsigned char *mask, bool direct,
                                const struct kiln__run_observer *obs)
{
    struct kiln_context *ctx = g->ctx;
    KILN_TRY(kiln__exec_begin(ctx));
    kiln_status s = KILN_OK;
    route_grads(g, direct);
    if (obs != NULL) {
        s = obs->begin(obs->ud, g, direct);
    }
    for (int32_t i = 0; i < g->n_nodes && s == KILN_OK; i++) {
        if ((mask == NULL || mask[i]) && !skipped(g->nodes[i], mask, direct)) {
            s = kiln__exec_node(g, g->nodes[i]);
            if (s == KILN_OK && obs != NULL && kiln__exec_runs(g, i, direct)) {
                s = obs->node_done(obs->ud, g, i);
            }
        }
    }
    ctx->stats.runs++;
    return kiln__exec_end(ctx, s);
}

static kiln_status run_nodes(kiln_graph *g, const unsigned char *mask)
{
    return run_nodes_ex(g, mask, false, NULL);
}

static kiln_status check_compiled(const kiln_graph *g, const char *fn)
{
    if (g == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: graph is NULL", fn);
    }
    KILN_TRY(kiln_graph_status(g));
    if (!g->compiled) {
        return KILN_FAIL(KILN_E_STATE, "%s: compile the graph first", fn);
    }
    return KILN_OK;
}

kiln_status kiln__graph_run_observed(kiln_graph *g, const struct kiln__run_observer *obs)
{
    KILN_TRY(check_compiled(g, "kiln_graph_run"));
    g->training = 1;
    g->run_count = ++g->store->runs;
    bool direct = g->store->grads_zero;
    if (g->has_grads) {
        g->store->grads_zero = false;
    }
    return run_nodes_ex(g, NULL, direct, obs);
}

kiln_status kiln_graph_run(kiln_graph *g)
{
    return kiln__graph_run_observed(g, NULL);
}

kiln_status kiln__graph_exec(kiln_graph *g)
{
    KILN_TRY(check_compiled(g, "kiln__graph_exec"));
    g->training = 1;
    return run_nodes(g, NULL);
}

kiln_status kiln_graph_eval(kiln_graph *g, int32_t n_targets, kiln_tensor *const *targets)
{
    KILN_TRY(check_compiled(g, "kiln_graph_eval"));
    if (n_targets < 0 || (n_targets > 0 && targets == NULL)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_graph_eval: bad target list");
    }
    memset(g->run_mask, 0, (size_t)g->n_nodes);
    for (int32_t i = 0; i < n_targets; i++) {
        if (targets[i] == NULL || targets[i]->graph != g || targets[i]->id < 0) {
            return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_graph_eval: target %d is not of this graph",
                             i);
        }
        g->run_mask[targets[i]->id] = 1;
    }
    for (int32_t i = g->n_nodes - 1; i >= 0; i--) {
        if (g->run_mask[i]) {
            const struct kiln_tensor *n = g->nodes[i];
            /* A view's storage is computed by its root (a fused node, which the planner
             * places before the views it gives values to). */
            g->run_mask[n->view_root->id] = 1;
            if (n->writer != NULL && g->run_mask[n->writer->id]) {
                continue; /* a rider that its writer computes from the writer's sources */
            }
            for (int j = 0; j < n->n_src; j++) {
                g->run_mask[n->src[j]->id] = 1;
            }
        }
    }
    g->training = 0;
    kiln_status s = run_nodes(g, g->run_mask);
    g->training = 1;
    return s;
}
