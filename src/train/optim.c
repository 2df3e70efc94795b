/*
 * optim.c - optimizers over a parameter store. Each keeps an internal graph over the
 * store's flat buffers: for every contiguous run of its parameters, the update op
 * (SGD_UPDATE, ADAM_UPDATE, RMSPROP_UPDATE or ADAGRAD_UPDATE, src/ops/optim.c) over the
 * run's values, gradients and
 * state, and the clearing of the run's gradients: SGD and Adam zero them as they read
 * them (their clear_grad param: no launch of its own), the others with an ACCUMULATE
 * after the updates. With gradient scaling or clipping, the scaled gradients come first
 * (the clipping coefficient computed on the device from the global norm) and every
 * optimizer clears with ACCUMULATEs, after all runs were updated. The graph is rebuilt
 * when the store gains a segment. Before each step the host writes the step-dependent
 * params (learning rate, step, Adam's bias corrections) into the update nodes.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../graph/graph_impl.h"

/* A run longer than this is split, so that every binding stays far below the smallest
 * storage-buffer range a Vulkan device may have (128 MiB). */
#define RUN_MAX ((int64_t)1 << 24)

struct kiln_optimizer {
    /* ---- borrowed (never owned) ---- */
    struct kiln_store *store;
    struct kiln_tensor **updates; /* the update nodes of ug (owned array) */
    struct kiln_tensor *norm;     /* the global gradient norm, when clipping */
    /* ---- owned ---- */
    struct kiln_optim_options opt;
    char prefix[KILN_MAX_NAME];
    int64_t steps;
    int32_t state[2]; /* the store's state kinds this optimizer uses */
    kiln_grad_hook hook;
    void *hook_ud;
    /* The observer of the run before the step in kiln_train_step (the hook's owner
     * watches the backward pass through it); obs.begin == NULL: none. */
    struct kiln__run_observer obs;
    kiln_graph *ug; /* the update graph, NULL until the first step */
    uint32_t gen;   /* the store generation ug was built for */
    int32_t n_updates, cap_updates;
    bool stepped;
};

static kiln_status check_options(const struct kiln_optim_options *o)
{
    if (o->struct_size < sizeof(*o)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "optimizer: struct_size %u is too small",
                         o->struct_size);
    }
    if (o->kind != KILN_OPTIM_SGD && o->kind != KILN_OPTIM_ADAM && o->kind != KILN_OPTIM_RMSPROP &&
        o->kind != KILN_OPTIM_ADAGRAD) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "optimizer: unknown kind %d", (int)o->kind);
    }
    if (o->kind == KILN_OPTIM_RMSPROP &&
        (o->momentum != 0.0f || !(o->alpha >= 0.0f && o->alpha < 1.0f) || !(o->eps > 0.0f))) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "optimizer: RMSprop needs 0 <= alpha < 1 and eps > 0 (got %g, %g), and "
                         "takes no momentum (got %g)",
                         o->alpha, o->eps, o->momentum);
    }
    if (o->kind == KILN_OPTIM_ADAGRAD &&
        (o->momentum != 0.0f || !(o->lr_decay >= 0.0f) || !(o->eps > 0.0f))) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "optimizer: Adagrad needs lr_decay >= 0 and eps > 0 (got %g, %g), and "
                         "takes no momentum (got %g)",
                         o->lr_decay, o->eps, o->momentum);
    }
    if (!(o->lr >= 0.0f) || !(o->momentum >= 0.0f) || !(o->weight_decay >= 0.0f)) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "optimizer: lr %g, momentum %g and weight_decay %g must be >= 0", o->lr,
                         o->momentum, o->weight_decay);
    }
    if (o->kind == KILN_OPTIM_SGD && o->nesterov && (o->momentum <= 0.0f || o->dampening != 0.0f)) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "optimizer: Nesterov momentum needs momentum > 0 and zero dampening");
    }
    if (o->kind == KILN_OPTIM_ADAM && !(o->beta1 >= 0.0f && o->beta1 < 1.0f && o->beta2 >= 0.0f &&
                                        o->beta2 < 1.0f && o->eps > 0.0f)) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "optimizer: Adam needs 0 <= beta1, beta2 < 1 and eps > 0 (got %g, %g, %g)",
                         o->beta1, o->beta2, o->eps);
    }
    if (!isfinite(o->grad_scale) || o->grad_scale == 0.0f || !(o->clip_norm >= 0.0f) ||
        !isfinite(o->clip_norm)) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "optimizer: grad_scale %g must be finite and non-zero, clip_norm %g "
                         "finite and >= 0",
                         o->grad_scale, o->clip_norm);
    }
    if (o->prefix != NULL && strlen(o->prefix) >= KILN_MAX_NAME) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "optimizer: prefix longer than %d bytes",
                         KILN_MAX_NAME - 1);
    }
    return KILN_OK;
}

kiln_status kiln_optimizer_create(kiln_store *s, const struct kiln_optim_options *opt,
                                  kiln_optimizer **out)
{
    if (s == NULL || opt == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_optimizer_create: NULL argument");
    }
    *out = NULL;
    KILN_TRY(check_options(opt));
    struct kiln_optimizer *o = kiln__calloc(s->ctx, sizeof(*o), "an optimizer");
    if (o == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    o->store = s;
    o->opt = *opt;
    snprintf(o->prefix, sizeof(o->prefix), "%s", opt->prefix != NULL ? opt->prefix : "");
    o->opt.prefix = NULL;
    kiln_status st;
    if (opt->kind == KILN_OPTIM_SGD) {
        st = kiln__store_state_kind(s, "momentum_buffer", &o->state[0]);
    } else if (opt->kind == KILN_OPTIM_RMSPROP) {
        st = kiln__store_state_kind(s, "square_avg", &o->state[0]);
    } else if (opt->kind == KILN_OPTIM_ADAGRAD) {
        st = kiln__store_state_kind(s, "sum", &o->state[0]);
    } else {
        st = kiln__store_state_kind(s, "exp_avg", &o->state[0]);
        st = st == KILN_OK ? kiln__store_state_kind(s, "exp_avg_sq", &o->state[1]) : st;
    }
    st = st == KILN_OK ? kiln__store_add_optim(s, o) : st;
    if (st != KILN_OK) {
        kiln__free(s->ctx, o);
        return st;
    }
    *out = o;
    return KILN_OK;
}

void kiln__optimizer_free(struct kiln_optimizer *o)
{
    kiln_graph_destroy(o->ug);
    kiln__free(o->store->ctx, o->updates);
    kiln__free(o->store->ctx, o);
}

void kiln_optimizer_destroy(kiln_optimizer *o)
{
    if (o == NULL) {
        return;
    }
    kiln__store_remove_optim(o->store, o);
    kiln__optimizer_free(o);
}

void kiln__optimizer_info(const struct kiln_optimizer *o, const char **kind, const char **prefix,
                          float *lr)
{
    static const char *const names[] = {"sgd", "adam", "rmsprop", "adagrad"};
    *kind = names[o->opt.kind];
    *prefix = o->prefix;
    *lr = o->opt.lr;
}

void kiln__optimizer_reset(struct kiln_optimizer *o)
{
    o->steps = 0;
    o->stepped = false;
}

void kiln_optimizer_set_lr(kiln_optimizer *o, float lr)
{
    o->opt.lr = lr;
}

float kiln_optimizer_lr(const kiln_optimizer *o)
{
    return o->opt.lr;
}

int64_t kiln_optimizer_steps(const kiln_optimizer *o)
{
    return o->steps;
}

void kiln_optimizer_set_steps(kiln_optimizer *o, int64_t steps)
{
    o->steps = steps < 0 ? 0 : steps;
}

void kiln_optimizer_set_grad_hook(kiln_optimizer *o, kiln_grad_hook hook, void *ud)
{
    o->hook = hook;
    o->hook_ud = ud;
}

void kiln__optimizer_set_run_observer(struct kiln_optimizer *o,
                                      const struct kiln__run_observer *obs)
{
    if (obs != NULL) {
        o->obs = *obs;
    } else {
        memset(&o->obs, 0, sizeof(o->obs));
    }
}

/* ==== The update graph ==== */

static bool selected(const struct kiln_optimizer *o, const struct kiln__entry *e)
{
    return e->kind == KILN_STORE_PARAM && e->seg >= 0 &&
           strncmp(e->name, o->prefix, strlen(o->prefix)) == 0;
}

/* A run of parameters [off, end) of segment seg. */
struct run {
    int32_t seg;
    int64_t off, end;
};

/* Appends the maximal runs of o's parameters (gaps between neighbours included: they
 * hold zeros), split at RUN_MAX elements. */
static int32_t find_runs(const struct kiln_optimizer *o, struct run *runs, int32_t max)
{
    const struct kiln_store *s = o->store;
    int32_t n = 0;
    for (int32_t g = 0; g < s->n_segs; g++) {
        bool open = false;
        for (int32_t i = 0; i < s->n_entries; i++) {
            const struct kiln__entry *e = s->entries[i];
            if (e->seg != g || e->kind != KILN_STORE_PARAM) {
                continue;
            }
            if (!selected(o, e)) {
                open = false;
                continue;
            }
            int64_t end = e->off + e->n_elems;
            if (open && end - runs[n - 1].off <= RUN_MAX) {
                runs[n - 1].end = end;
                continue;
            }
            if (n == max) {
                return -1;
            }
            runs[n++] = (struct run){g, e->off, end};
            open = true;
        }
    }
    return n;
}

static kiln_status add_update(struct kiln_optimizer *o, struct kiln_tensor *u)
{
    if (u->flags & KILN__F_POISON) {
        return kiln_graph_status(u->graph);
    }
    if (o->n_updates == o->cap_updates) {
        int32_t cap = o->cap_updates ? 2 * o->cap_updates : 8;
        struct kiln_tensor **l = kiln__alloc(o->store->ctx, sizeof(*l) * (size_t)cap, "updates");
        if (l == NULL) {
            return KILN_E_OUT_OF_HOST_MEMORY;
        }
        if (o->n_updates > 0) {
            memcpy(l, o->updates, sizeof(*l) * (size_t)o->n_updates);
        }
        kiln__free(o->store->ctx, o->updates);
        o->updates = l;
        o->cap_updates = cap;
    }
    o->updates[o->n_updates++] = u;
    return KILN_OK;
}

/* The factor every gradient is multiplied by: grad_scale, times min(1, clip_norm /
 * (norm + 1e-6)) of the scaled gradients' global norm when clipping. NULL when it is 1. */
static struct kiln_tensor *grad_coef(struct kiln_optimizer *o, kiln_graph *g,
                                     struct kiln_tensor *const *grads, int32_t n)
{
    float scale = o->opt.grad_scale;
    o->norm = NULL;
    if (o->opt.clip_norm <= 0.0f) {
        return NULL;
    }
    struct kiln__p_reduce all = {1u, 1.0f};
    struct kiln_tensor *total = NULL;
    for (int32_t r = 0; r < n; r++) {
        struct kiln_tensor *sq = kiln_mul(g, grads[r], grads[r]);
        struct kiln_tensor *sum = kiln__node(g, KILN_OP_REDUCE_SUM, 1, &sq, &all, sizeof(all));
        total = total == NULL ? sum : kiln_add(g, total, sum);
    }
    /* The norm of the scaled gradients, then PyTorch's clip_grad_norm_ coefficient,
     * min(1, c) written as 1 - relu(1 - c). */
    o->norm = kiln_tensor_keep(kiln_scale(g, kiln_sqrt(g, total), fabsf(scale)));
    int64_t one = 1;
    struct kiln_tensor *maxn = kiln_input(g, NULL, KILN_DTYPE_F32, 1, &one);
    if (!(maxn->flags & KILN__F_POISON)) {
        maxn->flags |= KILN__F_CONST;
        maxn->init = KILN_INIT_CONSTANT;
        maxn->init_arg = o->opt.clip_norm;
    }
    struct kiln_tensor *c = kiln_div(g, maxn, kiln_shift(g, o->norm, 1e-6f));
    c = kiln_scale_shift(g, kiln_relu(g, kiln_scale_shift(g, c, -1.0f, 1.0f)), -1.0f, 1.0f);
    return scale == 1.0f ? c : kiln_scale(g, c, scale);
}

static kiln_status build_updates(struct kiln_optimizer *o)
{
    struct kiln_store *s = o->store;
    kiln_graph_destroy(o->ug);
    o->ug = NULL;
    o->n_updates = 0;
    int32_t max = s->n_entries + s->n_segs + 1;
    struct run *runs = kiln__alloc(s->ctx, sizeof(*runs) * (size_t)max, "optimizer runs");
    struct kiln_tensor **gr = kiln__alloc(s->ctx, sizeof(*gr) * (size_t)max, "optimizer runs");
    kiln_status st = runs != NULL && gr != NULL ? KILN_OK : KILN_E_OUT_OF_HOST_MEMORY;
    int32_t n = st == KILN_OK ? find_runs(o, runs, max) : 0;
    st = st == KILN_OK ? kiln_graph_create_in(s, &o->ug) : st;
    if (st != KILN_OK || n < 0) {
        st = st != KILN_OK ? st : KILN_FAIL(KILN_E_INTERNAL, "optimizer: too many runs");
        goto done;
    }
    kiln_graph *g = o->ug;
    for (int32_t r = 0; r < n; r++) {
        gr[r] = kiln__store_range(g, runs[r].seg, KILN__PART_GRAD, runs[r].off,
                                  runs[r].end - runs[r].off);
    }
    struct kiln_tensor *coef = grad_coef(o, g, gr, n);
    /* Whether the update nodes read the store's gradients themselves and clear them. */
    bool clear_in_update = coef == NULL && o->opt.grad_scale == 1.0f &&
                           (o->opt.kind == KILN_OPTIM_SGD || o->opt.kind == KILN_OPTIM_ADAM);
    for (int32_t r = 0; r < n && st == KILN_OK; r++) {
        int64_t off = runs[r].off, len = runs[r].end - off;
        struct kiln_tensor *src[4] = {
            kiln__store_range(g, runs[r].seg, KILN__PART_VALUE, off, len), gr[r],
            kiln__store_range(g, runs[r].seg, KILN__PART_STATE + o->state[0], off, len), NULL};
        if (coef != NULL) {
            src[1] = kiln_mul(g, gr[r], coef);
        } else if (o->opt.grad_scale != 1.0f) {
            src[1] = kiln_scale(g, gr[r], o->opt.grad_scale);
        }
        struct kiln_tensor *u;
        if (o->opt.kind == KILN_OPTIM_SGD) {
            struct kiln__p_sgd sp = {o->opt.lr,           o->opt.momentum, o->opt.dampening,
                                     o->opt.weight_decay, o->opt.nesterov, 1,
                                     clear_in_update};
            u = kiln__node(g, KILN_OP_SGD_UPDATE, 3, src, &sp, sizeof(sp));
        } else if (o->opt.kind == KILN_OPTIM_RMSPROP) {
            struct kiln__p_rmsprop rp = {o->opt.lr, o->opt.alpha, o->opt.eps, o->opt.weight_decay};
            u = kiln__node(g, KILN_OP_RMSPROP_UPDATE, 3, src, &rp, sizeof(rp));
        } else if (o->opt.kind == KILN_OPTIM_ADAGRAD) {
            struct kiln__p_adagrad ap = {o->opt.lr, o->opt.eps, o->opt.weight_decay};
            u = kiln__node(g, KILN_OP_ADAGRAD_UPDATE, 3, src, &ap, sizeof(ap));
        } else {
            src[3] = kiln__store_range(g, runs[r].seg, KILN__PART_STATE + o->state[1], off, len);
            struct kiln__p_adam ap = {
                o->opt.lr,        o->opt.beta1, o->opt.beta2, o->opt.eps,     o->opt.weight_decay,
                o->opt.decoupled, 1.0f,         1.0f,         clear_in_update};
            u = kiln__node(g, KILN_OP_ADAM_UPDATE, 4, src, &ap, sizeof(ap));
        }
        st = add_update(o, u);
    }
    /* The gradients are cleared after every run was updated (the clipping coefficient
     * reads all of them). */
    for (int32_t r = 0; r < n && st == KILN_OK && !clear_in_update; r++) {
        kiln__accumulate(g, gr[r], gr[r], 0.0f, 0.0f);
    }
    st = st == KILN_OK ? kiln_graph_compile(g) : st;
    o->gen = s->gen;
done:
    kiln__free(s->ctx, runs);
    kiln__free(s->ctx, gr);
    if (st != KILN_OK) {
        kiln_graph_destroy(o->ug);
        o->ug = NULL;
        o->n_updates = 0;
    }
    return st;
}

/* The step-dependent params of every update node for step steps + 1. */
static void prepare(struct kiln_optimizer *o)
{
    int64_t t = o->steps + 1;
    for (int32_t i = 0; i < o->n_updates; i++) {
        struct kiln_tensor *u = o->updates[i];
        if (u->op == KILN_OP_SGD_UPDATE) {
            struct kiln__p_sgd *p = (struct kiln__p_sgd *)u->params;
            p->lr = o->opt.lr;
            p->step = t > INT32_MAX ? INT32_MAX : (int32_t)t;
        } else if (u->op == KILN_OP_RMSPROP_UPDATE) {
            ((struct kiln__p_rmsprop *)u->params)->lr = o->opt.lr;
        } else if (u->op == KILN_OP_ADAGRAD_UPDATE) {
            /* PyTorch's clr, computed in double as its Python float arithmetic does */
            double clr = (double)o->opt.lr / (1.0 + (double)(t - 1) * (double)o->opt.lr_decay);
            ((struct kiln__p_adagrad *)u->params)->lr = (float)clr;
        } else {
            struct kiln__p_adam *p = (struct kiln__p_adam *)u->params;
            p->lr = o->opt.lr;
            p->bc1 = (float)(1.0 - pow((double)o->opt.beta1, (double)t));
            p->bc2 = (float)(1.0 - pow((double)o->opt.beta2, (double)t));
        }
    }
}

static kiln_status ensure_built(struct kiln_optimizer *o)
{
    if (o->ug == NULL || o->gen != o->store->gen) {
        KILN_TRY(build_updates(o));
    }
    return KILN_OK;
}

/* The update itself, after the hook. */
static kiln_status update(struct kiln_optimizer *o)
{
    KILN_TRY(ensure_built(o));
    prepare(o);
    KILN_TRY(kiln__graph_exec(o->ug));
    o->steps++;
    o->stepped = true;
    if (o->prefix[0] == '\0') {
        o->store->grads_zero = true;
    }
    return KILN_OK;
}

kiln_status kiln_optimizer_step(kiln_optimizer *o)
{
    if (o == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_optimizer_step: optimizer is NULL");
    }
    if (o->hook != NULL) {
        KILN_TRY(o->hook(o->hook_ud, o->store));
    }
    return update(o);
}

kiln_status kiln_train_step(kiln_graph *g, kiln_optimizer *o)
{
    if (g == NULL || o == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_train_step: NULL argument");
    }
    if (g->store != o->store) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_train_step: the graph and the optimizer use different stores");
    }
    if (o->hook != NULL) {
        /* The hook reads the gradients on the host: the run must be submitted first. The
         * run is the last before the step, so the observer may start reducing gradients
         * as soon as they are final. */
        KILN_TRY(kiln__graph_run_observed(g, o->obs.begin != NULL ? &o->obs : NULL));
        return kiln_optimizer_step(o);
    }
    /* Allocations and uploads of a first build happen before the recording starts. */
    KILN_TRY(ensure_built(o));
    KILN_TRY(kiln__exec_begin(g->ctx));
    kiln_status s = kiln_graph_run(g);
    if (s == KILN_OK) {
        s = update(o);
    }
    return kiln__exec_end(g->ctx, s);
}

kiln_status kiln_optimizer_grad_norm(kiln_optimizer *o, float *out)
{
    if (o == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_optimizer_grad_norm: NULL argument");
    }
    if (o->opt.clip_norm <= 0.0f || !o->stepped || o->norm == NULL) {
        return KILN_FAIL(KILN_E_STATE,
                         "kiln_optimizer_grad_norm: no clipping step has run (clip_norm %g)",
                         (double)o->opt.clip_norm);
    }
    return kiln_tensor_download(o->norm, out, sizeof(float));
}
