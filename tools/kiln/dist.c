/*
 * dist.c - `kiln train` under mpirun: the communicator of the run (kiln/comm.h), each
 * rank's device (a GPU picked by the rank's place on its machine unless KILN_DEVICE
 * says otherwise), the per-rank batch (--batch is the global batch), the line that
 * says how the run is spread and the "parallel" metadata of its checkpoints, the
 * communication counters, and the exit path after a failure: only the program may end
 * the other ranks (kiln_comm_abort), the library never does. With one process all of
 * this is a no-op and kiln train runs as it always has.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int dist_launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i]);
        if (v != NULL && atoi(v) > 0) {
            return atoi(v);
        }
    }
    return 0;
}

int dist_single(const char *model)
{
    int n = dist_launched();
    if ((text_scope(model) & SC_TEXT) != 0) {
        return EXIT_SUCCESS; /* the text classifiers shard their batches (train_text.c) */
    }
    if (n > 1) {
        fprintf(stderr,
                "kiln train %s: this model trains in one process; data-parallel training "
                "under mpirun covers the image classifiers (mlp, lenet, alexnet, vgg, "
                "googlenet, resnet) and the text classifiers (textcnn, textrnn, textattn), "
                "and %d processes were started\n",
                model, n);
        return EXIT_USAGE;
    }
    return EXIT_SUCCESS;
}

int dist_begin(struct dist *d, const struct train_args *a)
{
    struct kiln_comm_options o = KILN_COMM_OPTIONS_INIT;
    memset(d, 0, sizeof(*d));
    o.timeout_s = a->comm_timeout;
    o.first_timeout_s = a->comm_timeout > 900.0 ? a->comm_timeout : 900.0;
    if (kiln_comm_create(&o, &d->comm) != KILN_OK) {
        return fail("starting the communicator");
    }
    d->rank = kiln_comm_rank(d->comm);
    d->size = kiln_comm_size(d->comm);
    d->local_batch = a->batch / d->size;
    if (a->batch % d->size != 0) {
        if (d->rank == 0) {
            fprintf(stderr,
                    "kiln train: --batch %lld (the global batch) does not divide among %d ranks\n",
                    (long long)a->batch, (int)d->size);
        }
        return EXIT_USAGE;
    }
    return EXIT_SUCCESS;
}

void dist_quiet(const struct dist *d, struct train_args *a)
{
    if (d->rank != 0) {
        a->quiet = 1;
        a->json = 0;
        a->stats = 0;
        a->out = NULL;
        a->log = NULL;
    }
}

/* The device of this rank: its local rank modulo the backend's GPUs (NULL: the
 * default), when it shares its machine with other ranks and KILN_DEVICE is unset. */
static const char *rank_device(const struct dist *d, char *buf, size_t n)
{
    const char *env = getenv("KILN_DEVICE");
    const char *be = kiln_backend_resolve(NULL);
    struct kiln_device_info info[16];
    int32_t n_dev = 0;
    if (d->size == 1 || (env != NULL && env[0] != '\0') || be == NULL || strcmp(be, "cpu") == 0 ||
        kiln_backend_devices(be, info, 16, &n_dev) != KILN_OK || n_dev < 2) {
        kiln_clear_error();
        return NULL;
    }
    snprintf(buf, n, "%d", (int)(kiln_comm_local_rank(d->comm) % n_dev));
    return buf;
}

int dist_context(struct dist *d, kiln_context **ctx, FILE *info)
{
    struct kiln_context_options co = KILN_CONTEXT_OPTIONS_INIT;
    char dev[16], mine[192];
    co.device = rank_device(d, dev, sizeof(dev));
    if (kiln_context_create(&co, ctx) != KILN_OK) {
        fprintf(stderr, "kiln: rank %d: ", (int)d->rank);
        return fail("creating a context");
    }
    if (d->size == 1) {
        if (info != NULL) {
            fprintf(info, "backend: %s, device: %s%s\n", kiln_context_backend(*ctx),
                    kiln_context_device(*ctx), kiln_context_check(*ctx) ? " (KILN_CHECK on)" : "");
        }
        return EXIT_SUCCESS;
    }
    char *all = calloc((size_t)d->size, sizeof(mine));
    memset(mine, 0, sizeof(mine));
    snprintf(mine, sizeof(mine), "%s, device: %s%s", kiln_context_backend(*ctx),
             kiln_context_device(*ctx), kiln_context_check(*ctx) ? " (KILN_CHECK on)" : "");
    if (all == NULL || kiln_comm_allgather(d->comm, mine, sizeof(mine), all) != KILN_OK) {
        free(all);
        return fail("gathering the ranks' devices");
    }
    for (int32_t r = 0; info != NULL && r < d->size; r++) {
        fprintf(info, "rank %d (pid %lld on %s): backend: %s\n", (int)r,
                (long long)kiln_comm_pid(d->comm, r), kiln_comm_host(d->comm, r),
                all + (size_t)r * sizeof(mine));
    }
    free(all);
    return EXIT_SUCCESS;
}

void dist_describe(struct dist *d, FILE *info, const struct train_args *a, double lr)
{
    if (d->size == 1) {
        return;
    }
    snprintf(d->parallel, sizeof(d->parallel),
             "{\"ranks\": %d, \"global_batch\": %lld, \"batch_per_rank\": %lld, \"lr\": %.9g}",
             (int)d->size, (long long)a->batch, (long long)d->local_batch, lr);
    if (info != NULL) {
        fprintf(info,
                "data parallel: %d ranks (%s), global batch %lld = %d x %lld, learning rate %g; "
                "gradients averaged over the ranks; %s per rank\n",
                (int)d->size, kiln_comm_kind(d->comm), (long long)a->batch, (int)d->size,
                (long long)d->local_batch, lr,
                text_scope(a->model) != 0 ? "dropout masks" : "batch norm statistics");
    }
}

void dist_summary(struct dist *d, FILE *f)
{
    struct kiln_comm_stats st;
    if (d->size == 1 || f == NULL) {
        return;
    }
    kiln_comm_stats(d->comm, &st, 0);
    double n = st.reductions > 0 ? (double)st.reductions : 1.0;
    fprintf(f,
            "communication: %lld gradient reductions of %.0f bytes in %.0f messages (%s; %llu "
            "started during the backward pass), %.2f ms per step (%.2f ms waiting for MPI); "
            "%lld other collectives, %.2f s\n",
            (long long)st.reductions, (double)st.bytes_reduced / n, (double)st.messages / n,
            st.zero_copy > 0 ? "in place in the device buffers" : "through host buffers",
            (unsigned long long)st.overlapped, 1e3 * st.seconds / n, 1e3 * st.wait_seconds / n,
            (long long)st.collectives, st.other_seconds);
}

int dist_fail(struct dist *d, int rc)
{
    if (rc != EXIT_SUCCESS && d->comm != NULL && d->size > 1) {
        fprintf(stderr, "kiln train: rank %d failed: ending the run on every rank\n", (int)d->rank);
        fflush(stdout);
        fflush(stderr);
        kiln_comm_abort(d->comm, rc);
    }
    return rc;
}

void dist_end(struct dist *d)
{
    kiln_comm_destroy(d->comm);
    d->comm = NULL;
}
