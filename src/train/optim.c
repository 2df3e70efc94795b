/*
 * optim.c - optimizers: create the state tensors and one update node per trainable
 * parameter, and set the step-dependent update params (learning rate, step count,
 * Adam's bias corrections) before each training step. The update kernels are the
 * SGD_UPDATE and ADAM_UPDATE ops (src/ops/optim.c).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../graph/graph_impl.h"

static struct kiln_tensor *state_like(kiln_graph *g, const struct kiln_tensor *p,
                                      const char *suffix)
{
    char name[64];
    if (strlen(p->name) + 1 + strlen(suffix) < sizeof(name)) {
        snprintf(name, sizeof(name), "%s.%s", p->name, suffix);
    } else {
        /* Too long to keep the parameter's name: the state is named by its id. */
        snprintf(name, sizeof(name), "param%d.%s", p->id, suffix);
    }
    struct kiln_tensor *t =
        kiln__leaf(g, name, KILN_DTYPE_F32, &p->shape, KILN__F_STATE | KILN__F_KEEP);
    if (!(t->flags & KILN__F_POISON)) {
        t->init = KILN_INIT_ZEROS;
    }
    return t;
}

static kiln_status check_options(const struct kiln_optim_options *o)
{
    if (o->struct_size < sizeof(*o)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "optimizer: struct_size %u is too small",
                         o->struct_size);
    }
    if (o->kind != KILN_OPTIM_SGD && o->kind != KILN_OPTIM_ADAM) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "optimizer: unknown kind %d", (int)o->kind);
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
    return KILN_OK;
}

kiln_status kiln_optimizer_create(kiln_graph *g, kiln_tensor *loss,
                                  const struct kiln_optim_options *opt, kiln_optimizer **out)
{
    if (g == NULL || loss == NULL || opt == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_optimizer_create: NULL argument");
    }
    *out = NULL;
    KILN_TRY(check_options(opt));
    if (g->compiled) {
        return KILN_FAIL(KILN_E_STATE, "kiln_optimizer_create: the graph is already compiled");
    }
    if (!g->differentiated) {
        KILN_TRY(kiln_graph_backward(g, loss));
    }
    struct kiln_optimizer **list =
        kiln__alloc(g->ctx, sizeof(*list) * (size_t)(g->n_optims + 1), "an optimizer");
    if (list == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    struct kiln_optimizer *o = kiln__calloc(g->ctx, sizeof(*o), "an optimizer");
    int32_t n_params = kiln_graph_n_params(g);
    struct kiln_tensor **upd =
        kiln__alloc(g->ctx, sizeof(*upd) * (size_t)(n_params ? n_params : 1), "an optimizer");
    if (o == NULL || upd == NULL) {
        kiln__free(g->ctx, list);
        kiln__free(g->ctx, o);
        kiln__free(g->ctx, upd);
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    if (g->n_optims > 0) {
        memcpy(list, g->optims, sizeof(*list) * (size_t)g->n_optims);
    }
    kiln__free(g->ctx, g->optims);
    g->optims = list;
    g->optims[g->n_optims++] = o;
    o->graph = g;
    o->opt = *opt;
    o->updates = upd;

    int32_t n_nodes = g->n_nodes;
    for (int32_t i = 0; i < n_nodes; i++) {
        struct kiln_tensor *p = g->nodes[i];
        if (!(p->flags & KILN__F_PARAM) || p->grad == NULL) {
            continue;
        }
        struct kiln_tensor *u;
        if (opt->kind == KILN_OPTIM_SGD) {
            struct kiln__p_sgd sp = {opt->lr,           opt->momentum, opt->dampening,
                                     opt->weight_decay, opt->nesterov, 1};
            struct kiln_tensor *src[3] = {p, p->grad, state_like(g, p, "momentum_buffer")};
            u = kiln__node(g, KILN_OP_SGD_UPDATE, 3, src, &sp, sizeof(sp));
        } else {
            struct kiln__p_adam ap = {opt->lr,           opt->beta1,     opt->beta2, opt->eps,
                                      opt->weight_decay, opt->decoupled, 1.0f,       1.0f};
            struct kiln_tensor *src[4] = {p, p->grad, state_like(g, p, "exp_avg"),
                                          state_like(g, p, "exp_avg_sq")};
            u = kiln__node(g, KILN_OP_ADAM_UPDATE, 4, src, &ap, sizeof(ap));
        }
        if (u->flags & KILN__F_POISON) {
            break;
        }
        u->flags |= KILN__F_UPDATE;
        o->updates[o->n_updates++] = u;
    }
    KILN_TRY(kiln_graph_status(g));
    *out = o;
    return KILN_OK;
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

void kiln__optimizer_prepare(struct kiln_optimizer *o)
{
    int64_t t = o->steps + 1;
    for (int32_t i = 0; i < o->n_updates; i++) {
        struct kiln_tensor *u = o->updates[i];
        if (u->op == KILN_OP_SGD_UPDATE) {
            struct kiln__p_sgd *p = (struct kiln__p_sgd *)u->params;
            p->lr = o->opt.lr;
            p->step = t > INT32_MAX ? INT32_MAX : (int32_t)t;
        } else {
            struct kiln__p_adam *p = (struct kiln__p_adam *)u->params;
            p->lr = o->opt.lr;
            p->bc1 = (float)(1.0 - pow((double)o->opt.beta1, (double)t));
            p->bc2 = (float)(1.0 - pow((double)o->opt.beta2, (double)t));
        }
    }
}

kiln_status kiln_optimizer_step(kiln_optimizer *o)
{
    if (o == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_optimizer_step: optimizer is NULL");
    }
    /* A run of the whole graph is a step of every optimizer of the graph. */
    return kiln_graph_run(o->graph);
}
