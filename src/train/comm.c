/*
 * comm.c - the communicator of data-parallel training (kiln/comm.h): creation over MPI
 * or for one process, every rank's host and pid for messages, the wait that polls a
 * collective against a deadline and, when it passes, asks every rank whether it is
 * alive to name those that are not, small collectives (sums of metrics, a barrier,
 * agreement on a hash) and the broadcast of a store from rank 0. The bucketed gradient
 * reduction is in comm_reduce.c. Nothing here prints, exits or aborts, except
 * kiln_comm_abort, which a program calls.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../graph/graph_impl.h"
#include "comm_impl.h"

/* Point-to-point tags of the timeout protocol (on the control communicator). */
enum { TAG_ASK = 0x6b31, TAG_ANSWER = 0x6b32 };

/* Broadcasts move at most this many elements per message (MPI counts are ints). */
#define BCAST_CHUNK ((int64_t)1 << 26)

double kiln__comm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t kiln__comm_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ull;
    }
    return h;
}

kiln_status kiln__comm_usable(const kiln_comm *c, const char *fn)
{
    if (c == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "%s: the communicator is NULL", fn);
    }
    if (c->broken) {
        return KILN_FAIL(KILN_E_STATE,
                         "%s: an earlier collective of this communicator failed (a rank did not "
                         "respond); the run cannot continue",
                         fn);
    }
    return KILN_OK;
}

/* Whether an MPI launcher started this process, and the size it announces. */
static int launched_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i]);
        if (v != NULL && atoi(v) > 0) {
            return atoi(v);
        }
    }
    return getenv("PMIX_RANK") != NULL ? 2 : 0;
}

static kiln_status check_options(const struct kiln_comm_options *o)
{
    if (o->struct_size < sizeof(*o) || o->mode < KILN_COMM_AUTO || o->mode > KILN_COMM_MPI ||
        isnan(o->timeout_s) || isnan(o->first_timeout_s) || o->bucket_bytes < 4) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_comm_create: bad options (struct_size %u, mode %d, bucket_bytes "
                         "%lld)",
                         o->struct_size, (int)o->mode, (long long)o->bucket_bytes);
    }
    return KILN_OK;
}

/* The one-process communicator's identity. */
static kiln_status single_init(kiln_comm *c)
{
    c->rank = 0;
    c->size = 1;
    c->local_rank = 0;
    c->hosts = calloc(1, sizeof(*c->hosts));
    c->pids = calloc(1, sizeof(*c->pids));
    if (c->hosts == NULL || c->pids == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_comm_create: rank table");
    }
    gethostname(c->hosts[0], KILN__COMM_HOST_LEN - 1);
    c->pids[0] = (int64_t)getpid();
    return KILN_OK;
}

#ifdef KILN_HAVE_MPI

kiln_status kiln__comm_mpi_fail(kiln_comm *c, int rc, const char *call)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    c->broken = true;
    return KILN_FAIL_NATIVE(KILN_E_PEER, rc, "rank %d: %s failed: %s (a rank may have died)",
                            (int)c->rank, call, msg);
}

static kiln_status mpi_init(kiln_comm *c)
{
    int inited = 0, provided = 0, rc;
    MPI_Initialized(&inited);
    if (!inited) {
        rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) {
            return KILN_FAIL_NATIVE(KILN_E_PEER, rc, "kiln_comm_create: MPI_Init_thread failed");
        }
        c->owns_init = true;
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &c->world);
    MPI_Comm_dup(MPI_COMM_WORLD, &c->ctl);
    MPI_Comm_set_errhandler(c->world, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(c->ctl, MPI_ERRORS_RETURN);
    int rank, size, local;
    MPI_Comm_rank(c->world, &rank);
    MPI_Comm_size(c->world, &size);
    MPI_Comm node;
    MPI_Comm_split_type(c->world, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local);
    MPI_Comm_free(&node);
    c->rank = rank;
    c->size = size;
    c->local_rank = local;
    c->hosts = calloc((size_t)size, sizeof(*c->hosts));
    c->pids = calloc((size_t)size, sizeof(*c->pids));
    c->answers = calloc((size_t)size, sizeof(*c->answers));
    if (c->hosts == NULL || c->pids == NULL || c->answers == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_comm_create: rank table");
    }
    char host[KILN__COMM_HOST_LEN] = "";
    gethostname(host, sizeof(host) - 1);
    int64_t pid = (int64_t)getpid();
    rc = MPI_Allgather(host, KILN__COMM_HOST_LEN, MPI_CHAR, c->hosts, KILN__COMM_HOST_LEN, MPI_CHAR,
                       c->world);
    if (rc == MPI_SUCCESS) {
        rc = MPI_Allgather(&pid, 1, MPI_INT64_T, c->pids, 1, MPI_INT64_T, c->world);
    }
    return rc == MPI_SUCCESS ? KILN_OK : kiln__comm_mpi_fail(c, rc, "MPI_Allgather");
}

uint64_t kiln__comm_begin(kiln_comm *c)
{
    return ++c->seq;
}

/* Answers the questions other ranks ask after a timeout: this rank's collective count. */
static void answer(kiln_comm *c, uint64_t *answers)
{
    int flag = 0;
    MPI_Status st;
    while (MPI_Iprobe(MPI_ANY_SOURCE, TAG_ASK, c->ctl, &flag, &st) == MPI_SUCCESS && flag) {
        uint64_t q;
        MPI_Request r;
        if (MPI_Recv(&q, 1, MPI_UINT64_T, st.MPI_SOURCE, TAG_ASK, c->ctl, MPI_STATUS_IGNORE) !=
            MPI_SUCCESS) {
            return;
        }
        answers[st.MPI_SOURCE] = c->seq;
        if (MPI_Isend(&answers[st.MPI_SOURCE], 1, MPI_UINT64_T, st.MPI_SOURCE, TAG_ANSWER, c->ctl,
                      &r) == MPI_SUCCESS) {
            MPI_Request_free(&r);
        }
    }
}

/* Appends "rank r (pid P on HOST)" to buf. */
static void name_rank(const kiln_comm *c, int32_t r, char *buf, size_t n)
{
    size_t l = strlen(buf);
    snprintf(buf + l, n - l, "%srank %d (pid %lld on %s)", l > 0 ? ", " : "", (int)r,
             (long long)c->pids[r], c->hosts[r]);
}

/* After a timeout: asks every other rank for its collective count, waits a grace
 * period for the answers, and fails naming the ranks that gave none. */
static kiln_status timed_out(kiln_comm *c, const char *what, double limit)
{
    int32_t n = c->size;
    uint64_t *replies = calloc((size_t)n, sizeof(*replies));
    MPI_Request *reqs = calloc((size_t)n, sizeof(*reqs));
    int *got = calloc((size_t)n, sizeof(*got));
    uint64_t *answers = c->answers;
    c->broken = true;
    if (replies == NULL || reqs == NULL || got == NULL || answers == NULL) {
        free(replies);
        free(reqs);
        free(got);
        return KILN_FAIL(KILN_E_PEER, "rank %d: %s did not complete within %.0f s", (int)c->rank,
                         what, limit);
    }
    c->question = c->seq;
    for (int32_t r = 0; r < n; r++) {
        reqs[r] = MPI_REQUEST_NULL;
        if (r == c->rank) {
            got[r] = 1;
            continue;
        }
        MPI_Request s;
        if (MPI_Isend(&c->question, 1, MPI_UINT64_T, r, TAG_ASK, c->ctl, &s) == MPI_SUCCESS) {
            MPI_Request_free(&s);
        }
        MPI_Irecv(&replies[r], 1, MPI_UINT64_T, r, TAG_ANSWER, c->ctl, &reqs[r]);
    }
    double grace = limit / 4 < 2.0 ? 2.0 : (limit / 4 > 10.0 ? 10.0 : limit / 4);
    double t0 = kiln__comm_now();
    int32_t missing = n;
    while (missing > 0 && kiln__comm_now() - t0 < grace) {
        missing = 0;
        for (int32_t r = 0; r < n; r++) {
            if (!got[r]) {
                int flag = 0;
                if (MPI_Test(&reqs[r], &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag) {
                    got[r] = 1;
                } else {
                    missing++;
                }
            }
        }
        answer(c, answers);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    char names[1024] = "", behind[1024] = "";
    for (int32_t r = 0; r < n; r++) {
        if (!got[r]) {
            name_rank(c, r, names, sizeof(names));
            MPI_Cancel(&reqs[r]);
            MPI_Request_free(&reqs[r]);
        } else if (r != c->rank && replies[r] != c->seq) {
            size_t l = strlen(behind);
            snprintf(behind + l, sizeof(behind) - l, "%srank %d at collective %llu",
                     l > 0 ? ", " : "", (int)r, (unsigned long long)replies[r]);
        }
    }
    free(replies);
    free(reqs);
    free(got);
    if (names[0] != '\0') {
        return KILN_FAIL(KILN_E_PEER,
                         "rank %d: %s did not complete within %.0f s: %s did not respond (it "
                         "died, hangs, or is slower than the timeout)",
                         (int)c->rank, what, limit, names);
    }
    return KILN_FAIL(KILN_E_PEER,
                     "rank %d: %s did not complete within %.0f s, yet every rank answered: they "
                     "wait in different collectives (this rank at collective %llu%s%s)",
                     (int)c->rank, what, limit, (unsigned long long)c->seq,
                     behind[0] != '\0' ? ", " : "", behind);
}

kiln_status kiln__comm_wait(kiln_comm *c, MPI_Request *reqs, int n, const char *what,
                            double *wait_s)
{
    double t0 = kiln__comm_now(), limit = c->opt.timeout_s;
    if (!c->first_done && limit > 0) {
        limit = c->opt.first_timeout_s > limit ? c->opt.first_timeout_s : limit;
    }
    uint64_t *answers = c->answers;
    long polls = 0;
    for (;;) {
        int done = 0;
        int rc = MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) {
            return kiln__comm_mpi_fail(c, rc, what);
        }
        if (done) {
            break;
        }
        double t = kiln__comm_now();
        if (limit > 0 && t - t0 > limit) {
            return timed_out(c, what, limit);
        }
        /* Spin for the first polls (a reduction of a few steps), then nap, so that a rank
         * that waits for a slower one leaves the processor to the others. */
        if (++polls % 64 == 0) {
            answer(c, answers);
        }
        if (t - t0 > 2e-4) {
            struct timespec ts = {0, t - t0 > 0.01 ? 500000 : 50000};
            nanosleep(&ts, NULL);
        }
    }
    if (wait_s != NULL) {
        *wait_s = kiln__comm_now() - t0;
    }
    return KILN_OK;
}

kiln_status kiln__comm_agree(kiln_comm *c, uint64_t v, const char *what, int *same)
{
    *same = 1;
    if (!c->mpi || c->size == 1) {
        return KILN_OK;
    }
    uint64_t buf[2] = {v, ~v};
    MPI_Request r;
    kiln__comm_begin(c);
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, 2, MPI_UINT64_T, MPI_MAX, c->world, &r);
    if (rc != MPI_SUCCESS) {
        return kiln__comm_mpi_fail(c, rc, what);
    }
    KILN_TRY(kiln__comm_wait(c, &r, 1, what, NULL));
    *same = buf[0] == ~buf[1];
    return KILN_OK;
}

#else /* !KILN_HAVE_MPI */

kiln_status kiln__comm_agree(kiln_comm *c, uint64_t v, const char *what, int *same)
{
    (void)c;
    (void)v;
    (void)what;
    *same = 1;
    return KILN_OK;
}

#endif

kiln_status kiln_comm_create(const struct kiln_comm_options *o, kiln_comm **out)
{
    struct kiln_comm_options d = KILN_COMM_OPTIONS_INIT;
    if (out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_comm_create: out is NULL");
    }
    *out = NULL;
    o = o != NULL ? o : &d;
    KILN_TRY(check_options(o));
    int launched = launched_size();
    bool want_mpi = o->mode == KILN_COMM_MPI || (o->mode == KILN_COMM_AUTO && launched > 0);
#ifndef KILN_HAVE_MPI
    if (want_mpi && (o->mode == KILN_COMM_MPI || launched > 1)) {
        return KILN_FAIL(KILN_E_UNSUPPORTED,
                         "kiln_comm_create: %s, but kiln was built without MPI (install "
                         "libopenmpi-dev and rebuild with -Dmpi=enabled)",
                         o->mode == KILN_COMM_MPI ? "MPI was asked for"
                                                  : "an MPI launcher started this process");
    }
    want_mpi = false;
#endif
    kiln_comm *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_comm_create: the communicator");
    }
    c->opt = *o;
    c->mpi = want_mpi;
    kiln_status s;
#ifdef KILN_HAVE_MPI
    s = want_mpi ? mpi_init(c) : single_init(c);
#else
    s = single_init(c);
#endif
    if (s != KILN_OK) {
        kiln_comm_destroy(c);
        return s;
    }
    *out = c;
    return KILN_OK;
}

void kiln_comm_destroy(kiln_comm *c)
{
    if (c == NULL) {
        return;
    }
    for (int32_t i = 0; i < c->n_attached; i++) {
        kiln__comm_attach_free(c->attached[i]);
    }
    free(c->attached);
#ifdef KILN_HAVE_MPI
    if (c->mpi) {
        if (c->world != MPI_COMM_NULL && c->world != 0) {
            MPI_Comm_free(&c->world);
        }
        if (c->ctl != MPI_COMM_NULL && c->ctl != 0) {
            MPI_Comm_free(&c->ctl);
        }
        /* A broken run has collectives that never complete: finalizing would wait for
         * them. The program aborts it instead (kiln_comm_abort). */
        if (c->owns_init && !c->broken) {
            MPI_Finalize();
        }
    }
    free(c->answers);
#endif
    free(c->hosts);
    free(c->pids);
    free(c);
}

int32_t kiln_comm_rank(const kiln_comm *c)
{
    return c != NULL ? c->rank : 0;
}

int32_t kiln_comm_size(const kiln_comm *c)
{
    return c != NULL ? c->size : 1;
}

int32_t kiln_comm_local_rank(const kiln_comm *c)
{
    return c != NULL ? c->local_rank : 0;
}

const char *kiln_comm_kind(const kiln_comm *c)
{
    return c != NULL && c->mpi ? "mpi" : "single";
}

const char *kiln_comm_host(const kiln_comm *c, int32_t r)
{
    return c != NULL && r >= 0 && r < c->size ? c->hosts[r] : "";
}

int64_t kiln_comm_pid(const kiln_comm *c, int32_t r)
{
    return c != NULL && r >= 0 && r < c->size ? c->pids[r] : 0;
}

kiln_status kiln_comm_abort(kiln_comm *c, int code)
{
#ifdef KILN_HAVE_MPI
    if (c != NULL && c->mpi) {
        MPI_Abort(MPI_COMM_WORLD, code);
    }
#endif
    (void)c;
    (void)code;
    return KILN_OK;
}

void kiln_comm_stats(kiln_comm *c, struct kiln_comm_stats *out, int reset)
{
    if (c == NULL) {
        return;
    }
    if (out != NULL) {
        *out = c->stats;
    }
    if (reset) {
        memset(&c->stats, 0, sizeof(c->stats));
    }
}

kiln_status kiln_comm_allreduce_sum(kiln_comm *c, double *v, int32_t n)
{
    KILN_TRY(kiln__comm_usable(c, "kiln_comm_allreduce_sum"));
    if (n < 0 || (n > 0 && v == NULL)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_comm_allreduce_sum: %d values, v NULL", n);
    }
    if (!c->mpi || c->size == 1 || n == 0) {
        return KILN_OK;
    }
#ifdef KILN_HAVE_MPI
    double t0 = kiln__comm_now();
    MPI_Request r;
    char what[64];
    snprintf(what, sizeof(what), "a sum of %d metric values", n);
    kiln__comm_begin(c);
    int rc = MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, c->world, &r);
    if (rc != MPI_SUCCESS) {
        return kiln__comm_mpi_fail(c, rc, "MPI_Iallreduce");
    }
    KILN_TRY(kiln__comm_wait(c, &r, 1, what, NULL));
    c->stats.collectives++;
    c->stats.other_seconds += kiln__comm_now() - t0;
#endif
    return KILN_OK;
}

kiln_status kiln_comm_allgather(kiln_comm *c, const void *mine, size_t n_bytes, void *all)
{
    KILN_TRY(kiln__comm_usable(c, "kiln_comm_allgather"));
    if (mine == NULL || all == NULL || n_bytes > (size_t)1 << 30) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_comm_allgather: NULL buffer or %zu bytes",
                         n_bytes);
    }
    if (!c->mpi || c->size == 1) {
        memmove(all, mine, n_bytes);
        return KILN_OK;
    }
#ifdef KILN_HAVE_MPI
    double t0 = kiln__comm_now();
    MPI_Request r;
    kiln__comm_begin(c);
    int rc =
        MPI_Iallgather(mine, (int)n_bytes, MPI_BYTE, all, (int)n_bytes, MPI_BYTE, c->world, &r);
    if (rc != MPI_SUCCESS) {
        return kiln__comm_mpi_fail(c, rc, "MPI_Iallgather");
    }
    KILN_TRY(kiln__comm_wait(c, &r, 1, "an all-gather", NULL));
    c->stats.collectives++;
    c->stats.other_seconds += kiln__comm_now() - t0;
#endif
    return KILN_OK;
}

kiln_status kiln_comm_barrier(kiln_comm *c)
{
    KILN_TRY(kiln__comm_usable(c, "kiln_comm_barrier"));
    if (!c->mpi || c->size == 1) {
        return KILN_OK;
    }
#ifdef KILN_HAVE_MPI
    double t0 = kiln__comm_now();
    MPI_Request r;
    kiln__comm_begin(c);
    int rc = MPI_Ibarrier(c->world, &r);
    if (rc != MPI_SUCCESS) {
        return kiln__comm_mpi_fail(c, rc, "MPI_Ibarrier");
    }
    KILN_TRY(kiln__comm_wait(c, &r, 1, "a barrier", NULL));
    c->stats.collectives++;
    c->stats.other_seconds += kiln__comm_now() - t0;
#endif
    return KILN_OK;
}

/* ==== Broadcasting a store ==== */

#ifdef KILN_HAVE_MPI
/* Whether entry e's values take part in a broadcast. */
static bool broadcast_entry(const struct kiln__entry *e)
{
    return e->seg >= 0 && (e->kind == KILN_STORE_PARAM || e->kind == KILN_STORE_BUFFER);
}

/* A hash of what a broadcast moves: the entries' names, kinds and sizes, the state
 * kinds and the optimizers' count. */
static uint64_t store_hash(const kiln_store *s, int with_state, int64_t *n_vals)
{
    uint64_t h = 0xcbf29ce484222325ull;
    *n_vals = 0;
    for (int32_t i = 0; i < s->n_entries; i++) {
        const struct kiln__entry *e = s->entries[i];
        if (!broadcast_entry(e)) {
            continue;
        }
        h = kiln__comm_hash(h, e->name, strlen(e->name) + 1);
        h = kiln__comm_hash(h, &e->kind, sizeof(e->kind));
        h = kiln__comm_hash(h, &e->n_elems, sizeof(e->n_elems));
        *n_vals += e->n_elems;
        if (with_state && e->kind == KILN_STORE_PARAM) {
            *n_vals += e->n_elems * s->n_state;
        }
    }
    if (with_state) {
        for (int32_t k = 0; k < s->n_state; k++) {
            h = kiln__comm_hash(h, s->state_names[k], strlen(s->state_names[k]) + 1);
        }
        h = kiln__comm_hash(h, &s->n_optims, sizeof(s->n_optims));
    }
    return h;
}

/* Copies every broadcast value between the store and host (in entry order: values,
 * then each state kind of the parameters). */
static kiln_status store_transfer(kiln_store *s, int with_state, float *host, bool up)
{
    struct kiln_backend *be = &s->ctx->be;
    int64_t pos = 0;
    for (int32_t part = 0; part <= (with_state ? s->n_state : 0); part++) {
        for (int32_t i = 0; i < s->n_entries; i++) {
            const struct kiln__entry *e = s->entries[i];
            if (!broadcast_entry(e) || (part > 0 && e->kind != KILN_STORE_PARAM)) {
                continue;
            }
            int p = part == 0 ? KILN__PART_VALUE : KILN__PART_STATE + part - 1;
            struct kiln_buffer *b = kiln__store_buffer(s, e->seg, p);
            size_t nb = (size_t)e->n_elems * sizeof(float), off = (size_t)e->off * sizeof(float);
            if (b == NULL) {
                return KILN_FAIL(KILN_E_INTERNAL, "broadcast: entry '%s' has no buffer", e->name);
            }
            KILN_TRY(up ? be->ops->upload(be, b, off, host + pos, nb)
                        : be->ops->download(be, b, off, host + pos, nb));
            pos += e->n_elems;
        }
    }
    return KILN_OK;
}

/* Broadcasts n elements of type t at p from rank 0, in chunks. */
static kiln_status bcast(kiln_comm *c, void *p, int64_t n, MPI_Datatype t, size_t elem,
                         const char *what)
{
    for (int64_t i = 0; i < n; i += BCAST_CHUNK) {
        int64_t m = n - i < BCAST_CHUNK ? n - i : BCAST_CHUNK;
        MPI_Request r;
        kiln__comm_begin(c);
        int rc = MPI_Ibcast((char *)p + (size_t)i * elem, (int)m, t, 0, c->world, &r);
        if (rc != MPI_SUCCESS) {
            return kiln__comm_mpi_fail(c, rc, "MPI_Ibcast");
        }
        KILN_TRY(kiln__comm_wait(c, &r, 1, what, NULL));
    }
    return KILN_OK;
}
#endif

kiln_status kiln_comm_broadcast_store(kiln_comm *c, kiln_store *s, int with_state)
{
    KILN_TRY(kiln__comm_usable(c, "kiln_comm_broadcast_store"));
    if (s == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_comm_broadcast_store: store is NULL");
    }
    if (!c->mpi || c->size == 1) {
        return KILN_OK;
    }
#ifdef KILN_HAVE_MPI
    double t0 = kiln__comm_now();
    int64_t n = 0;
    int same;
    uint64_t h = store_hash(s, with_state, &n);
    KILN_TRY(kiln__comm_agree(c, h, "the comparison of the ranks' stores", &same));
    if (!same) {
        return KILN_FAIL(KILN_E_STATE,
                         "kiln_comm_broadcast_store: the ranks' stores differ (entries, sizes, "
                         "optimizers or allocation): build the same model on every rank");
    }
    float *host = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    int64_t n_small = 1 + (with_state ? s->n_optims : 0);
    int64_t *small = calloc((size_t)n_small, sizeof(int64_t));
    kiln_status st =
        host != NULL && small != NULL
            ? KILN_OK
            : KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "broadcast: %lld values", (long long)n);
    if (st == KILN_OK && c->rank == 0) {
        st = store_transfer(s, with_state, host, false);
        small[0] = (int64_t)s->runs;
        for (int32_t i = 0; with_state && i < s->n_optims; i++) {
            small[1 + i] = kiln_optimizer_steps(s->optims[i]);
        }
    }
    /* Every rank takes part even after a local failure, so that the others do not wait
     * for it until the timeout; a rank that failed sends its failure along. */
    int64_t ok = st == KILN_OK;
    if (st == KILN_OK || c->rank == 0) {
        kiln_status b = bcast(c, &ok, 1, MPI_INT64_T, sizeof(ok), "the broadcast of the store");
        st = st == KILN_OK ? b : st;
        if (st == KILN_OK && !ok) {
            st = KILN_FAIL(KILN_E_PEER, "broadcast: rank 0 could not read its store");
        }
    }
    if (st == KILN_OK) {
        st = bcast(c, host, n, MPI_FLOAT, sizeof(float), "the broadcast of the store");
    }
    if (st == KILN_OK) {
        st = bcast(c, small, n_small, MPI_INT64_T, sizeof(int64_t), "the broadcast of the store");
    }
    if (st == KILN_OK && c->rank != 0) {
        st = store_transfer(s, with_state, host, true);
        if (with_state) {
            s->runs = (uint64_t)small[0];
            for (int32_t i = 0; i < s->n_optims; i++) {
                kiln_optimizer_set_steps(s->optims[i], small[1 + i]);
            }
        }
    }
    free(host);
    free(small);
    c->stats.collectives++;
    c->stats.other_seconds += kiln__comm_now() - t0;
    return st;
#else
    (void)with_state;
    return KILN_OK;
#endif
}
