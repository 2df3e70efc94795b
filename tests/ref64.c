/*
 * ref64.c - evaluating a case graph in double (ref64_ops.c) and the two checks of the
 * CPU backend built on it: forward against double, gradients against central
 * differences; see ref64.h.
 */
#include "ref64.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Evaluating a case graph ==== */

struct r64_op r64_op_of(int op)
{
    for (int f = 0; oh_families[f] != NULL; f++) {
        for (int i = 0; i < oh_families[f]->n_evals; i++) {
            const struct oh_eval *e = &oh_families[f]->evals[i];
            if (e->op == op) {
                struct r64_op r = {e->eval, e->tol};
                return r;
            }
        }
    }
    return r64_ops[op];
}

struct r64_graph {
    const struct oh_side *sd;
    int32_t n; /* nodes evaluated: ids 0..n-1 */
    double **val;
};

static void r64_free(struct r64_graph *e)
{
    for (int32_t i = 0; e->val != NULL && i < e->n; i++) {
        free(e->val[i]);
    }
    free(e->val);
    e->val = NULL;
}

/* Allocates a value array per node up to the case output and loads the leaves. */
static bool r64_init(struct r64_graph *e, const struct oh_side *sd, void *const *data, int n_in)
{
    e->sd = sd;
    e->n = sd->y->id + 1;
    e->val = calloc((size_t)e->n, sizeof(*e->val));
    if (e->val == NULL) {
        return false;
    }
    for (int32_t i = 0; i < e->n; i++) {
        const struct kiln_tensor *t = sd->g->nodes[i];
        int64_t ne = t->n_elems;
        e->val[i] = calloc((size_t)(ne > 0 ? ne : 1), sizeof(double));
        if (e->val[i] == NULL) {
            return false;
        }
        /* Constant leaves made by builders (ones for a missing gamma, kiln_constant's
         * data): their values as the graph uploads them. */
        if (t->op == KILN__OP_LEAF && (t->flags & KILN__F_CONST) && ne > 0) {
            float *host = malloc((size_t)ne * sizeof(float));
            bool ok = host != NULL && kiln__leaf_init_data(t, host) == KILN_OK;
            for (int64_t j = 0; ok && j < ne; j++) {
                e->val[i][j] = t->dtype == KILN_DTYPE_I32 ? (double)((const int32_t *)host)[j]
                                                          : (double)host[j];
            }
            free(host);
            if (!ok) {
                return false;
            }
        }
    }
    for (int k = 0; k < n_in; k++) {
        const struct kiln_tensor *t = sd->in[k];
        double *v = e->val[t->id];
        for (int64_t j = 0; j < t->n_elems; j++) {
            v[j] = t->dtype == KILN_DTYPE_I32 ? (double)((const int32_t *)data[k])[j]
                                              : (double)((const float *)data[k])[j];
        }
    }
    return true;
}

/* Evaluates every op node up to the output (in-place updates at step t). */
static bool r64_forward(struct r64_graph *e, int t)
{
    for (int32_t i = 0; i < e->n; i++) {
        const struct kiln_tensor *nd = e->sd->g->nodes[i];
        if (nd->op == KILN__OP_LEAF) {
            continue;
        }
        double *in[KILN__MAX_SRC] = {NULL};
        for (int k = 0; k < nd->n_src; k++) {
            in[k] = e->val[nd->src[k]->id];
        }
        struct r64_op op = r64_op_of(nd->op);
        if (op.eval == NULL) {
            return false;
        }
        op.eval(nd, in, e->val[i], t);
    }
    return true;
}

/* The largest tolerance of the forward nodes of the case. */
static struct kiln__tol case_forward_tol(const struct r64_graph *e)
{
    struct kiln__tol t = {0, 0, 0};
    for (int32_t i = 0; i < e->n; i++) {
        const struct kiln_tensor *nd = e->sd->g->nodes[i];
        if (nd->op != KILN__OP_LEAF) {
            struct r64_op op = r64_op_of(nd->op);
            const struct kiln__tol *o = &op.tol;
            t.nmse = fmax(t.nmse, o->nmse);
            t.abs = fmax(t.abs, o->abs);
            t.rel = fmax(t.rel, o->rel);
        }
    }
    return t;
}

static void **alloc_inputs(const struct oh_case *c)
{
    void **data = calloc(OH_MAX_IN, sizeof(void *));
    if (data == NULL) {
        return NULL;
    }
    for (int i = 0; i < oh_n_in(c); i++) {
        int64_t ne = kiln__shape_elems(&c->shape[i]);
        data[i] = malloc((size_t)(ne > 0 ? ne : 1) * 4);
        if (data[i] == NULL) {
            return data;
        }
        oh_fill_input(c, i, 0, data[i]);
    }
    return data;
}

static void free_inputs(void **data)
{
    for (int i = 0; data != NULL && i < OH_MAX_IN; i++) {
        free(data[i]);
    }
    free(data);
}

static bool compare_double(const struct oh_case *c, const char *what, const double *ref,
                           const void *got, int64_t ne, kiln_dtype dt, const struct kiln__tol *tol,
                           char *msg, size_t n)
{
    char desc[256];
    struct kiln__cmp r;
    bool ok;
    if (dt == KILN_DTYPE_I32) {
        int32_t *ri = malloc((size_t)(ne > 0 ? ne : 1) * sizeof(int32_t));
        if (ri == NULL) {
            return false;
        }
        for (int64_t i = 0; i < ne; i++) {
            ri[i] = (int32_t)ref[i];
        }
        ok = kiln__compare_i32(ri, got, ne, &r);
        free(ri);
    } else {
        float *rf = malloc((size_t)(ne > 0 ? ne : 1) * sizeof(float));
        if (rf == NULL) {
            return false;
        }
        for (int64_t i = 0; i < ne; i++) {
            rf[i] = (float)ref[i];
        }
        ok = kiln__compare_f32(rf, got, ne, tol, &r);
        free(rf);
    }
    if (!ok) {
        snprintf(msg, n,
                 "op %s [%s] inputs (%s): cpu %s vs double: %s check failed; max abs %.3g, max "
                 "rel %.3g, nmse %.3g (tol nmse %.1g abs %.1g rel %.1g); worst index %lld: "
                 "double %.9g, cpu %.9g",
                 kiln__op_name(c->op), c->note ? c->note : "", oh_case_desc(c, desc, sizeof(desc)),
                 what, r.why, r.max_abs, r.max_rel, r.nmse, tol->nmse, tol->abs, tol->rel,
                 (long long)r.worst, r.ref_v, r.got_v);
    }
    return ok;
}

bool r64_check_forward(kiln_context *cpu, const struct oh_case *c, char *msg, size_t n)
{
    struct oh_env env = {cpu, cpu, "cpu", 0};
    struct oh_side sd;
    struct r64_graph e = {NULL, 0, NULL};
    bool ok = false;
    msg[0] = '\0';
    memset(&sd, 0, sizeof(sd));
    if (c->flags & OH_NO_DOUBLE) {
        return true;
    }
    void **data = alloc_inputs(c);
    if (data == NULL || !oh_run_side(cpu, &env, c, data, &sd, msg, n)) {
        goto done;
    }
    if (!r64_init(&e, &sd, data, oh_n_in(c))) {
        snprintf(msg, n, "out of host memory");
        goto done;
    }
    const struct kiln__op_desc *d = kiln__ops[c->op];
    int steps = c->steps > 0 ? c->steps : 1;
    for (int t = 1; t <= steps; t++) {
        if ((d->flags & KILN__OPF_INPLACE) && t > 1) {
            const struct kiln_tensor *gt = sd.in[1];
            float *gnew = malloc((size_t)gt->n_elems * sizeof(float));
            if (gnew == NULL) {
                goto done;
            }
            oh_fill_input(c, 1, (uint64_t)t, gnew);
            for (int64_t j = 0; j < gt->n_elems; j++) {
                e.val[gt->id][j] = gnew[j];
            }
            free(gnew);
        }
        if (!r64_forward(&e, t)) {
            snprintf(msg, n, "ref64 has no evaluator for an op of case %s [%s]",
                     kiln__op_name(c->op), c->note ? c->note : "");
            goto done;
        }
    }
    struct kiln__tol tol = case_forward_tol(&e);
    if (d->flags & KILN__OPF_INPLACE) {
        for (int i = 0; i < oh_n_in(c); i++) {
            if (sd.upd[i] != NULL) {
                char what[64];
                snprintf(what, sizeof(what), "updated input %d after %d step(s)", i, steps);
                if (!compare_double(c, what, e.val[sd.in[i]->id], sd.upd[i], sd.in[i]->n_elems,
                                    KILN_DTYPE_F32, &tol, msg, n)) {
                    goto done;
                }
            }
        }
    } else if (!compare_double(c, "output", e.val[sd.y->id], sd.out, sd.y->n_elems, sd.y->dtype,
                               &tol, msg, n)) {
        goto done;
    }
    for (int i = 0; (d->flags & KILN__OPF_ALSO_WRITES) && i < oh_n_in(c); i++) {
        char what[64];
        snprintf(what, sizeof(what), "written input %d", i);
        if (sd.upd[i] != NULL &&
            !compare_double(c, what, e.val[sd.in[i]->id], sd.upd[i], sd.in[i]->n_elems,
                            sd.in[i]->dtype, &tol, msg, n)) {
            goto done;
        }
    }
    ok = true;
done:
    r64_free(&e);
    oh_side_free(&sd);
    free_inputs(data);
    return ok;
}

/* L = sum(y * W) in double at the current leaf values. */
static bool loss_at(struct r64_graph *e, const float *w, double *out)
{
    if (!r64_forward(e, 1)) {
        return false;
    }
    const struct kiln_tensor *y = e->sd->y;
    double l = 0.0;
    for (int64_t j = 0; j < y->n_elems; j++) {
        l += e->val[y->id][j] * (double)w[j];
    }
    *out = l;
    return true;
}

/* Checks the gradient g of input i of case c at R64_FD_SAMPLES elements. */
static bool fd_check_input(struct r64_graph *e, const float *w, const struct oh_case *c, int i,
                           const float *g, char *msg, size_t n)
{
    const struct kiln_tensor *t = e->sd->in[i];
    double *x = e->val[t->id];
    int64_t ne = t->n_elems, n_s = ne < R64_FD_SAMPLES ? ne : R64_FD_SAMPLES, n_checked = 0;
    double fd[R64_FD_SAMPLES], scale = 0.0;
    bool kink[R64_FD_SAMPLES];
    int64_t idx[R64_FD_SAMPLES];
    for (int64_t s = 0; s < n_s; s++) {
        idx[s] = n_s > 1 ? s * (ne - 1) / (n_s - 1) : 0;
        double x0 = x[idx[s]], h = R64_FD_H * fmax(1.0, fabs(x0)), lp = 0, lm = 0, l0 = 0;
        bool ok = loss_at(e, w, &l0);
        x[idx[s]] = x0 + h;
        ok = ok && loss_at(e, w, &lp);
        x[idx[s]] = x0 - h;
        ok = ok && loss_at(e, w, &lm);
        x[idx[s]] = x0;
        if (!ok) {
            snprintf(msg, n, "ref64 has no evaluator for an op of case %s", kiln__op_name(c->op));
            return false;
        }
        fd[s] = (lp - lm) / (2.0 * h);
        /* A kink inside [x - h, x + h] shows as one-sided slopes that disagree. */
        double fwd = (lp - l0) / h, bwd = (l0 - lm) / h;
        kink[s] = fabs(fwd - bwd) > R64_FD_KINK * (fabs(fwd) + fabs(bwd));
        scale = kink[s] ? scale : fmax(scale, fabs(fd[s]));
    }
    for (int64_t s = 0; s < n_s; s++) {
        if (kink[s]) {
            continue;
        }
        n_checked++;
        double err = fabs((double)g[idx[s]] - fd[s]);
        if (!(err <= R64_FD_ABS * scale + R64_FD_REL * fabs(fd[s]))) {
            char desc[256];
            snprintf(msg, n,
                     "op %s [%s] inputs (%s): gradient of input %d, element %lld: kiln (cpu) "
                     "%.9g, central difference in double %.9g (|err| %.3g > %.1g * %.3g + "
                     "%.1g * |fd|)",
                     kiln__op_name(c->op), c->note ? c->note : "",
                     oh_case_desc(c, desc, sizeof(desc)), i, (long long)idx[s], (double)g[idx[s]],
                     fd[s], err, R64_FD_ABS, scale, R64_FD_REL);
            return false;
        }
    }
    if (n_checked == 0) {
        snprintf(msg, n, "op %s [%s]: every sampled element of input %d sits on a kink",
                 kiln__op_name(c->op), c->note ? c->note : "", i);
        return false;
    }
    return true;
}

bool r64_check_gradient(kiln_context *cpu, const struct oh_case *c, char *msg, size_t n)
{
    struct oh_env env = {cpu, cpu, "cpu", 0};
    struct oh_side sd;
    struct r64_graph e = {NULL, 0, NULL};
    float *w = NULL;
    bool ok = false;
    msg[0] = '\0';
    memset(&sd, 0, sizeof(sd));
    if (!oh_has_backward(c) || (c->flags & (OH_NO_FD | OH_NO_DOUBLE))) {
        return true;
    }
    void **data = alloc_inputs(c);
    if (data == NULL || !oh_run_side(cpu, &env, c, data, &sd, msg, n)) {
        goto done;
    }
    if (sd.w == NULL) {
        ok = true; /* i32 or empty output: nothing to differentiate */
        goto done;
    }
    w = malloc((size_t)sd.y->n_elems * sizeof(float));
    if (w == NULL || !r64_init(&e, &sd, data, oh_n_in(c))) {
        snprintf(msg, n, "out of host memory");
        goto done;
    }
    oh_fill_weights(c, sd.y->n_elems, w);
    for (int i = 0; i < oh_n_in(c); i++) {
        if (sd.grad[i] != NULL && !fd_check_input(&e, w, c, i, sd.grad[i], msg, n)) {
            goto done;
        }
    }
    ok = true;
done:
    r64_free(&e);
    oh_side_free(&sd);
    free_inputs(data);
    free(w);
    return ok;
}
