/*
 * comm_reduce.c - the gradient reduction of data-parallel training: the optimizer hook
 * that kiln_comm_attach installs. At the first step (and whenever the store gains a
 * segment) it plans the reduction of the optimizer's gradients as a "wire" of elements
 * cut into buckets of at most bucket_bytes:
 *   - when every rank's store has the same layout (the same backend alignment), the
 *     wire is the maximal runs of the optimizer's parameters in the segments' gradient
 *     buffers (alignment gaps included: they hold zeros), cut from the end of each run
 *     at parameter starts (the last layers get buckets of their own); a bucket of a
 *     host-addressable buffer (the CPU backend) is all-reduced in place there, with no
 *     copy;
 *   - else (ranks on backends of different alignment) the wire packs the parameters in
 *     entry order, through host staging buffers.
 * Every rank starts the buckets in the same order, the last bucket first (the backward
 * pass finishes the gradients of the last parameters first), since MPI matches
 * collectives by their order. When kiln_train_step runs the graph before the step and
 * every bucket is reduced in place, a run observer (src/graph/exec.c) finds, for each
 * bucket, the last node of the run that reads or writes its range, and starts the
 * bucket's MPI_Iallreduce as soon as that node has run (and every bucket after it has
 * started), testing the requests in flight after every node so that MPI progresses
 * while the backward pass goes on. Otherwise (the first step, a store that grew,
 * staging, a run outside kiln_train_step: gradients accumulated over several runs) the
 * buckets start in the hook, after the backward pass: each is staged (downloaded) and
 * its all-reduce started at once, so the download of one bucket overlaps the reduction
 * of those before it. Then the host waits for all of them against the communicator's
 * deadline, divides by the number of ranks and uploads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/graph_impl.h"
#include "comm_impl.h"

/* A run of gradient elements of a segment, at wire position wire. */
struct span {
    int32_t seg;
    int64_t off, n, wire;
};

/* A bucket: wire elements [wire, wire + n); direct: their host address in the
 * backend's gradient buffer when they lie in one span of a host-addressable buffer. */
struct bucket {
    int64_t wire, n;
    float *direct;
};

struct kiln__comm_attach {
    /* ---- borrowed (never owned) ---- */
    kiln_comm *c;
    kiln_optimizer *o;
    /* ---- owned ---- */
    bool planned, packed;
    bool live;         /* the observer watches the run in progress */
    int32_t n_started; /* buckets started for this step: the last n_started */
    int32_t run_last;  /* the run's last node that runs */
    int32_t *last;     /* [n_buckets]: the run's last node touching each bucket, or -1 */
    uint32_t gen;      /* the store generation of the plan */
    struct span *spans;
    int32_t n_spans;
    struct bucket *buckets;
    int32_t n_buckets;
    int64_t n_wire;
    float *host; /* [n_wire] staging */
#ifdef KILN_HAVE_MPI
    MPI_Request *reqs; /* [n_buckets] */
#endif
};

static void plan_free(struct kiln__comm_attach *a)
{
    free(a->spans);
    free(a->buckets);
    free(a->host);
    free(a->last);
    a->spans = NULL;
    a->buckets = NULL;
    a->host = NULL;
    a->last = NULL;
#ifdef KILN_HAVE_MPI
    free(a->reqs);
    a->reqs = NULL;
#endif
    a->n_spans = a->n_buckets = 0;
    a->n_wire = 0;
    a->planned = false;
}

#ifdef KILN_HAVE_MPI
/* Completes the buckets a run started for a step that never came (the run failed), so
 * that no request outlives its step. */
static kiln_status drain(struct kiln__comm_attach *a)
{
    int32_t n = a->n_started;
    a->n_started = 0;
    a->live = false;
    if (n == 0 || a->c->broken) {
        return KILN_OK;
    }
    return kiln__comm_wait(a->c, a->reqs + (a->n_buckets - n), n,
                           "the gradient reduction of an unfinished step", NULL);
}
#endif

void kiln__comm_attach_free(struct kiln__comm_attach *a)
{
    if (a != NULL) {
#ifdef KILN_HAVE_MPI
        (void)drain(a);
#endif
        plan_free(a);
        free(a);
    }
}

#ifdef KILN_HAVE_MPI
/* The plan and the staging exist only with MPI: one process has nothing to reduce. */

static bool selected(const struct kiln__entry *e, const char *prefix)
{
    return e->kind == KILN_STORE_PARAM && e->seg >= 0 &&
           strncmp(e->name, prefix, strlen(prefix)) == 0;
}

/* Appends a span (growing the array). */
static kiln_status add_span(struct kiln__comm_attach *a, int32_t *cap, struct span sp)
{
    if (a->n_spans == *cap) {
        int32_t nc = *cap ? 2 * *cap : 16;
        struct span *l = realloc(a->spans, sizeof(*l) * (size_t)nc);
        if (l == NULL) {
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "gradient reduction: spans");
        }
        a->spans = l;
        *cap = nc;
    }
    sp.wire = a->n_wire;
    a->spans[a->n_spans++] = sp;
    a->n_wire += sp.n;
    return KILN_OK;
}

/* The spans: runs of the selected parameters per segment, or (packed) one per entry. */
static kiln_status plan_spans(struct kiln__comm_attach *a, const kiln_store *s, const char *prefix)
{
    int32_t cap = 0;
    if (a->packed) {
        for (int32_t i = 0; i < s->n_entries; i++) {
            const struct kiln__entry *e = s->entries[i];
            if (selected(e, prefix)) {
                KILN_TRY(add_span(a, &cap, (struct span){e->seg, e->off, e->n_elems, 0}));
            }
        }
        return KILN_OK;
    }
    for (int32_t g = 0; g < s->n_segs; g++) {
        bool open = false;
        for (int32_t i = 0; i < s->n_entries; i++) {
            const struct kiln__entry *e = s->entries[i];
            if (e->seg != g || e->kind != KILN_STORE_PARAM) {
                continue;
            }
            if (!selected(e, prefix)) {
                open = false;
                continue;
            }
            struct span *last = open ? &a->spans[a->n_spans - 1] : NULL;
            if (last != NULL && e->off >= last->off + last->n) {
                int64_t grow = e->off + e->n_elems - (last->off + last->n);
                last->n += grow;
                a->n_wire += grow;
                continue;
            }
            KILN_TRY(add_span(a, &cap, (struct span){g, e->off, e->n_elems, 0}));
            open = true;
        }
    }
    return KILN_OK;
}

/* Cuts span sp of an unpacked wire into buckets from its end, each as large as cap
 * allows while it starts where a parameter starts (a parameter larger than cap is cut
 * into pieces of cap from its end): the gradients of the last layers, which the
 * backward pass finishes first, fill buckets of their own, as in PyTorch's DDP. Every
 * rank cuts the same layout the same way, whether it reduces in place (base: the host
 * address of the span's gradient buffer) or stages. Appends at *n, in wire order. */
static void cut_span(struct kiln__comm_attach *a, const kiln_store *s, const char *prefix,
                     const struct span *sp, unsigned char *base, int64_t cap, int32_t *n)
{
    int32_t first = *n;
    int64_t hi = sp->off + sp->n;
    while (hi > sp->off) {
        int64_t lo = hi;
        for (int32_t i = 0; i < s->n_entries; i++) {
            const struct kiln__entry *e = s->entries[i];
            if (selected(e, prefix) && e->seg == sp->seg && e->off >= sp->off && e->off < lo &&
                e->off >= hi - cap) {
                lo = e->off;
            }
        }
        if (lo == hi) {
            lo = hi - cap > sp->off ? hi - cap : sp->off;
        }
        struct bucket *k = &a->buckets[(*n)++];
        *k = (struct bucket){sp->wire + (lo - sp->off), hi - lo, NULL};
        if (base != NULL) {
            k->direct = (float *)(base + (size_t)lo * sizeof(float));
        }
        hi = lo;
    }
    for (int32_t i = first, j = *n - 1; i < j; i++, j--) {
        struct bucket t = a->buckets[i];
        a->buckets[i] = a->buckets[j];
        a->buckets[j] = t;
    }
}

/* Cuts the wire into buckets of at most cap elements: unpacked, per span (cut_span);
 * packed (staged), in cap pieces that gather small spans into one message. */
static kiln_status plan_buckets(struct kiln__comm_attach *a, const kiln_store *s,
                                const char *prefix, int64_t cap)
{
    struct kiln_backend *be = &s->ctx->be;
    int32_t n = 0, max = s->n_entries;
    for (int32_t i = 0; i < a->n_spans; i++) {
        max += (int32_t)((a->spans[i].n + cap - 1) / cap) + 1;
    }
    a->buckets = calloc((size_t)(max > 0 ? max : 1), sizeof(*a->buckets));
    if (a->buckets == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "gradient reduction: buckets");
    }
    for (int32_t i = 0; i < a->n_spans; i++) {
        const struct span *sp = &a->spans[i];
        unsigned char *base = NULL;
        if (!a->packed) {
            if (be->ops->host_ptr != NULL) {
                base = be->ops->host_ptr(be, kiln__store_buffer(s, sp->seg, KILN__PART_GRAD));
            }
            cut_span(a, s, prefix, sp, base, cap, &n);
            continue;
        }
        for (int64_t k = 0; k < sp->n; k += cap) {
            int64_t m = sp->n - k < cap ? sp->n - k : cap;
            struct bucket *prev = n > 0 ? &a->buckets[n - 1] : NULL;
            /* Staged buckets gather small spans (packed biases) into one message. */
            if (prev != NULL && prev->n + m <= cap && prev->wire + prev->n == sp->wire + k) {
                prev->n += m;
                continue;
            }
            a->buckets[n++] = (struct bucket){sp->wire + k, m, NULL};
        }
    }
    a->n_buckets = n;
    return KILN_OK;
}

/* A hash of the selected entries' names and sizes (content), and of where they lie
 * (layout). */
static void plan_hashes(const kiln_store *s, const char *prefix, uint64_t *content,
                        uint64_t *layout)
{
    uint64_t h = 0xcbf29ce484222325ull, l = h;
    for (int32_t i = 0; i < s->n_entries; i++) {
        const struct kiln__entry *e = s->entries[i];
        if (e->kind != KILN_STORE_PARAM || strncmp(e->name, prefix, strlen(prefix)) != 0) {
            continue;
        }
        h = kiln__comm_hash(h, e->name, strlen(e->name) + 1);
        h = kiln__comm_hash(h, &e->n_elems, sizeof(e->n_elems));
        h = kiln__comm_hash(h, &e->seg, sizeof(e->seg));
        l = kiln__comm_hash(l, &e->seg, sizeof(e->seg));
        l = kiln__comm_hash(l, &e->off, sizeof(e->off));
    }
    *content = h;
    *layout = kiln__comm_hash(l, &h, sizeof(h));
}

static kiln_status plan(struct kiln__comm_attach *a, kiln_store *s)
{
    const char *kind, *prefix;
    float lr;
    uint64_t content, layout;
    int same;
    plan_free(a);
    kiln__optimizer_info(a->o, &kind, &prefix, &lr);
    plan_hashes(s, prefix, &content, &layout);
    KILN_TRY(kiln__comm_agree(a->c, content, "the comparison of the ranks' parameters", &same));
    if (!same) {
        return KILN_FAIL(KILN_E_STATE,
                         "gradient reduction: the ranks' parameters differ (names, sizes or "
                         "allocation): build the same model on every rank");
    }
    KILN_TRY(kiln__comm_agree(a->c, layout, "the comparison of the ranks' layouts", &same));
    a->packed = !same;
    KILN_TRY(plan_spans(a, s, prefix));
    int64_t cap = a->c->opt.bucket_bytes / (int64_t)sizeof(float);
    KILN_TRY(plan_buckets(a, s, prefix, cap > 0 ? cap : 1));
    a->host = malloc((size_t)(a->n_wire > 0 ? a->n_wire : 1) * sizeof(float));
    a->reqs = calloc((size_t)(a->n_buckets > 0 ? a->n_buckets : 1), sizeof(*a->reqs));
    a->last = calloc((size_t)(a->n_buckets > 0 ? a->n_buckets : 1), sizeof(*a->last));
    if (a->reqs == NULL || a->last == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "gradient reduction: requests");
    }
    if (a->host == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "gradient reduction: %lld staging floats",
                         (long long)a->n_wire);
    }
    a->gen = s->gen;
    a->planned = true;
    return KILN_OK;
}

/* Copies the part of the wire [w0, w0 + n) between the gradient buffers and host. */
static kiln_status stage(struct kiln__comm_attach *a, kiln_store *s, int64_t w0, int64_t n, bool up)
{
    struct kiln_backend *be = &s->ctx->be;
    for (int32_t i = 0; i < a->n_spans; i++) {
        const struct span *sp = &a->spans[i];
        int64_t lo = w0 > sp->wire ? w0 : sp->wire;
        int64_t hi = w0 + n < sp->wire + sp->n ? w0 + n : sp->wire + sp->n;
        if (lo >= hi) {
            continue;
        }
        struct kiln_buffer *b = kiln__store_buffer(s, sp->seg, KILN__PART_GRAD);
        size_t off = (size_t)(sp->off + lo - sp->wire) * sizeof(float);
        size_t nb = (size_t)(hi - lo) * sizeof(float);
        if (up) {
            s->ctx->stats.bytes_uploaded += nb;
            KILN_TRY(be->ops->upload(be, b, off, a->host + lo, nb));
        } else {
            s->ctx->stats.bytes_downloaded += nb;
            KILN_TRY(be->ops->download(be, b, off, a->host + lo, nb));
        }
    }
    return KILN_OK;
}

/* Starts the all-reduce of the next bucket (the last one not started), which is in
 * place or staged already. The first start of a step counts the collective. */
static kiln_status start_next(struct kiln__comm_attach *a)
{
    kiln_comm *c = a->c;
    int32_t b = a->n_buckets - 1 - a->n_started;
    struct bucket *k = &a->buckets[b];
    if (a->n_started == 0) {
        kiln__comm_begin(c);
        for (int32_t i = 0; i < a->n_buckets; i++) {
            a->reqs[i] = MPI_REQUEST_NULL;
        }
    }
    float *p = k->direct != NULL ? k->direct : a->host + k->wire;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, p, (int)k->n, MPI_FLOAT, MPI_SUM, c->world, &a->reqs[b]);
    if (rc != MPI_SUCCESS) {
        return kiln__comm_mpi_fail(c, rc, "MPI_Iallreduce");
    }
    a->n_started++;
    return KILN_OK;
}

/* Lets MPI progress the buckets in flight (without waiting). */
static void progress(struct kiln__comm_attach *a)
{
    int flag;
    MPI_Testall(a->n_started, a->reqs + (a->n_buckets - a->n_started), &flag, MPI_STATUSES_IGNORE);
}

/* Starts the all-reduce of every bucket not started during the run, each as soon as it
 * is staged, the last bucket first. */
static kiln_status start_buckets(struct kiln__comm_attach *a, kiln_store *s)
{
    while (a->n_started < a->n_buckets) {
        struct bucket *k = &a->buckets[a->n_buckets - 1 - a->n_started];
        if (k->direct == NULL) {
            KILN_TRY(stage(a, s, k->wire, k->n, false));
        }
        KILN_TRY(start_next(a));
        progress(a);
    }
    return KILN_OK;
}

/* ==== Starting buckets during the backward pass ==== */

/* Whether tensor t's storage (the whole of its view root's) overlaps bucket k. */
static bool touches(struct kiln_backend *be, const struct kiln_tensor *t, const struct bucket *k)
{
    const struct kiln_tensor *r = t->view_root != NULL ? t->view_root : t;
    size_t off;
    struct kiln_buffer *buf = kiln__tensor_buffer(r, &off);
    size_t nb = kiln_tensor_n_bytes(r);
    if (buf == NULL || nb == 0) {
        return false;
    }
    const unsigned char *lo = (const unsigned char *)be->ops->host_ptr(be, buf);
    if (lo == NULL) {
        return false;
    }
    lo += off;
    const unsigned char *klo = (const unsigned char *)k->direct;
    const unsigned char *khi = klo + (size_t)k->n * sizeof(float);
    return lo < khi && klo < lo + nb;
}

/* Starts, the last first, the buckets whose last touching node is at or before node i
 * (-1: before the first); a bucket started before the run's last node counts as
 * started during the backward pass. */
static kiln_status start_final(struct kiln__comm_attach *a, int32_t i)
{
    while (a->n_started < a->n_buckets) {
        int32_t b = a->n_buckets - 1 - a->n_started;
        if (a->buckets[b].direct == NULL || a->last[b] > i) {
            break;
        }
        KILN_TRY(start_next(a));
        if (i < a->run_last) {
            a->c->stats.overlapped++;
        }
    }
    if (a->n_started > 0) {
        progress(a);
    }
    return KILN_OK;
}

/* The observer's start of a run: watches it when the plan is current and every bucket
 * is reduced in place in host memory that the nodes write as they run (the reference
 * backend runs each node on the host when the executor issues it). */
static kiln_status run_begin(void *ud, kiln_graph *g, bool direct)
{
    struct kiln__comm_attach *a = ud;
    kiln_store *s = g->store;
    struct kiln_backend *be = &s->ctx->be;
    KILN_TRY(drain(a));
    if (!a->planned || a->gen != s->gen || a->packed || a->n_buckets == 0 || a->c->broken ||
        be->ops->host_ptr == NULL || !be->ops->is_reference) {
        return KILN_OK;
    }
    for (int32_t b = 0; b < a->n_buckets; b++) {
        if (a->buckets[b].direct == NULL) {
            return KILN_OK;
        }
        a->last[b] = -1;
    }
    a->run_last = -1;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (!kiln__exec_runs(g, i, direct)) {
            continue;
        }
        const struct kiln_tensor *n = g->nodes[i];
        a->run_last = i;
        for (int32_t b = 0; b < a->n_buckets; b++) {
            bool hit = touches(be, n, &a->buckets[b]);
            for (int j = 0; j < n->n_src && !hit; j++) {
                hit = touches(be, n->src[j], &a->buckets[b]);
            }
            if (hit) {
                a->last[b] = i;
            }
        }
    }
    a->live = true;
    return start_final(a, -1);
}

/* The observer's node: starts the buckets that node i made final. */
static kiln_status run_node_done(void *ud, kiln_graph *g, int32_t i)
{
    struct kiln__comm_attach *a = ud;
    (void)g;
    return a->live ? start_final(a, i) : KILN_OK;
}

/* Divides by the number of ranks and puts the sums back. */
static kiln_status finish_buckets(struct kiln__comm_attach *a, kiln_store *s)
{
    float inv = 1.0f / (float)a->c->size;
    for (int32_t b = 0; b < a->n_buckets; b++) {
        struct bucket *k = &a->buckets[b];
        float *p = k->direct != NULL ? k->direct : a->host + k->wire;
        for (int64_t i = 0; i < k->n; i++) {
            p[i] *= inv;
        }
        if (k->direct == NULL) {
            KILN_TRY(stage(a, s, k->wire, k->n, true));
        } else {
            a->c->stats.zero_copy++;
        }
    }
    s->grads_zero = false;
    return KILN_OK;
}
#endif

/* The optimizer hook. */
static kiln_status reduce_hook(void *ud, kiln_store *s)
{
    struct kiln__comm_attach *a = ud;
    kiln_comm *c = a->c;
    KILN_TRY(kiln__comm_usable(c, "the gradient reduction"));
    if (!c->mpi || c->size == 1) {
        return KILN_OK;
    }
#ifdef KILN_HAVE_MPI
    double t0 = kiln__comm_now(), wait = 0.0;
    if (!a->live) {
        KILN_TRY(drain(a)); /* buckets of a run whose step failed */
    }
    if (!a->planned || a->gen != s->gen) {
        /* Planning waits for every rank's first step: counted apart from the reductions. */
        KILN_TRY(plan(a, s));
        c->stats.collectives += 2;
        c->stats.other_seconds += kiln__comm_now() - t0;
        t0 = kiln__comm_now();
    }
    struct kiln_backend *be = &s->ctx->be;
    if (be->ops->synchronize != NULL) {
        KILN_TRY(be->ops->synchronize(be));
    }
    char what[96];
    snprintf(what, sizeof(what), "the gradient reduction of step %lld",
             (long long)kiln_optimizer_steps(a->o) + 1);
    a->live = false;
    KILN_TRY(start_buckets(a, s));
    a->n_started = 0;
    KILN_TRY(kiln__comm_wait(c, a->reqs, a->n_buckets, what, &wait));
    KILN_TRY(finish_buckets(a, s));
    c->first_done = true;
    c->stats.reductions++;
    c->stats.messages += (uint64_t)a->n_buckets;
    c->stats.bytes_reduced += (uint64_t)a->n_wire * sizeof(float);
    c->stats.seconds += kiln__comm_now() - t0;
    c->stats.wait_seconds += wait;
#else
    (void)s;
#endif
    return KILN_OK;
}

kiln_status kiln_comm_attach(kiln_comm *c, kiln_optimizer *o)
{
    KILN_TRY(kiln__comm_usable(c, "kiln_comm_attach"));
    if (o == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_comm_attach: optimizer is NULL");
    }
    if (c->size == 1) {
        return KILN_OK;
    }
    if (c->n_attached == c->cap_attached) {
        int32_t cap = c->cap_attached ? 2 * c->cap_attached : 4;
        struct kiln__comm_attach **l = realloc(c->attached, sizeof(*l) * (size_t)cap);
        if (l == NULL) {
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_comm_attach");
        }
        c->attached = l;
        c->cap_attached = cap;
    }
    struct kiln__comm_attach *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_comm_attach");
    }
    a->c = c;
    a->o = o;
    c->attached[c->n_attached++] = a;
    kiln_optimizer_set_grad_hook(o, reduce_hook, a);
#ifdef KILN_HAVE_MPI
    if (c->mpi) {
        struct kiln__run_observer obs = {run_begin, run_node_done, a};
        kiln__optimizer_set_run_observer(o, &obs);
    }
#endif
    return KILN_OK;
}
