/*
 * op_harness.c - builds, runs and compares op test cases; see op_harness.h.
 */
#include "op_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned char oh_ops_seen[KILN_OP_COUNT];
int oh_n_unsupported;

const struct oh_family *const oh_families[] = {
    &oh_family_binary, &oh_family_unary, &oh_family_gemm,      &oh_family_shape,
    &oh_family_reduce, &oh_family_loss,  &oh_family_optim,     &oh_family_conv,
    &oh_family_pool,   &oh_family_norm,  &oh_family_layout,    &oh_family_random,
    &oh_family_index,  &oh_family_rnn,   &oh_family_layernorm, NULL,
};

/* ==== Deterministic data ==== */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A seed that depends on what the row is, not on where it sits in its table. */
static uint64_t case_seed(const struct oh_case *c)
{
    uint64_t h = mix64((uint64_t)c->op);
    for (const char *s = c->note ? c->note : ""; *s; s++) {
        h = mix64(h ^ (unsigned char)*s);
    }
    for (int i = 0; i < OH_MAX_IN; i++) {
        for (int k = 0; k < c->shape[i].rank; k++) {
            h = mix64(h ^ (uint64_t)c->shape[i].dims[k]);
        }
    }
    return h;
}

static double unit(uint64_t seed, uint64_t i)
{
    return (double)(mix64(seed ^ mix64(i)) >> 11) * (1.0 / 9007199254740992.0);
}

int oh_n_in(const struct oh_case *c)
{
    return c->n_in > 0 ? c->n_in : kiln__ops[c->op]->n_in;
}

void oh_fill_input(const struct oh_case *c, int i, uint64_t salt, void *dst)
{
    const struct oh_gen *gn = &c->gen[i];
    int64_t n = kiln__shape_elems(&c->shape[i]);
    uint64_t seed = mix64(case_seed(c) ^ mix64((uint64_t)i * 131 + salt));
    double lo = gn->lo, hi = gn->hi;
    if (gn->kind == OH_UNIFORM && lo == 0 && hi == 0) {
        lo = -1.0;
        hi = 1.0;
    }
    if (c->i32_mask & (1u << i)) {
        int32_t *d = dst;
        int32_t a = (int32_t)gn->lo, b = (int32_t)gn->hi;
        for (int64_t k = 0; k < n; k++) {
            d[k] = b > a ? a + (int32_t)(unit(seed, (uint64_t)k) * (b - a)) : a;
        }
        return;
    }
    float *d = dst;
    for (int64_t k = 0; k < n; k++) {
        double u = unit(seed, (uint64_t)k);
        switch (gn->kind) {
        case OH_AWAY: {
            double s = unit(seed, (uint64_t)k + 0x5555) < 0.5 ? -1.0 : 1.0;
            d[k] = (float)(s * (lo + u * (hi - lo)));
            break;
        }
        case OH_SPECIAL:
            if (c->n_special > 0 && k % 3 == 0) {
                d[k] = c->special[(k / 3) % c->n_special];
            } else {
                d[k] = (float)(-2.0 + 4.0 * u);
            }
            break;
        case OH_TIES:
            d[k] = (float)floor(lo + u * (hi - lo + 1.0));
            break;
        default:
            d[k] = (float)(lo + u * (hi - lo));
            break;
        }
    }
}

void oh_fill_weights(const struct oh_case *c, int64_t n, float *dst)
{
    uint64_t seed = mix64(case_seed(c) ^ 0x77);
    for (int64_t k = 0; k < n; k++) {
        dst[k] = (float)(2.0 * unit(seed, (uint64_t)k) - 1.0);
    }
}

const char *oh_case_desc(const struct oh_case *c, char *buf, size_t n)
{
    size_t len = 0;
    char sb[64];
    buf[0] = '\0';
    for (int i = 0; i < oh_n_in(c) && len < n; i++) {
        len += (size_t)snprintf(buf + len, n - len, "%s%s %s", i ? ", " : "",
                                (c->i32_mask & (1u << i)) ? "i32" : "f32",
                                kiln__shape_str(&c->shape[i], sb, sizeof(sb)));
    }
    return buf;
}

/* ==== Building ==== */

bool oh_has_backward(const struct oh_case *c)
{
    const struct kiln__op_desc *d = kiln__ops[c->op];
    return d->backward != NULL && !(c->flags & (OH_NO_BWD | OH_EVAL)) &&
           !(d->flags & KILN__OPF_INPLACE);
}

kiln_status oh_build(kiln_graph *g, const struct oh_case *c, kiln_tensor **in, kiln_tensor **y,
                     kiln_tensor **w)
{
    int n = oh_n_in(c);
    bool bwd = oh_has_backward(c);
    *y = NULL;
    *w = NULL;
    for (int i = 0; i < n; i++) {
        char name[16];
        const struct kiln_shape *s = &c->shape[i];
        snprintf(name, sizeof(name), "in%d", i);
        if (c->i32_mask & (1u << i)) {
            in[i] = kiln_input(g, name, KILN_DTYPE_I32, s->rank, s->dims);
        } else if (!bwd || (c->const_mask & (1u << i))) {
            in[i] = kiln_input(g, name, KILN_DTYPE_F32, s->rank, s->dims);
        } else {
            in[i] = kiln_param(g, name, s->rank, s->dims, KILN_INIT_ZEROS, 0.0f, 0);
        }
    }
    if (c->build != NULL) {
        *y = c->build(g, in, c);
    } else {
        *y = kiln__node(g, c->op, n, in, &c->p, kiln__ops[c->op]->params_bytes);
    }
    kiln_tensor_keep(*y);
    KILN_TRY(kiln_graph_status(g));
    if (bwd && (*y)->dtype == KILN_DTYPE_F32 && (*y)->n_elems > 0) {
        const struct kiln_shape *s = &(*y)->shape;
        *w = kiln_input(g, "w", KILN_DTYPE_F32, s->rank, s->dims);
        uint32_t all = (1u << s->rank) - 1u;
        kiln_tensor *loss = kiln_sum(g, kiln_mul(g, *y, *w), all, 0);
        KILN_TRY(kiln_graph_status(g));
        KILN_TRY(kiln_graph_backward(g, loss));
        for (int i = 0; i < n; i++) {
            kiln_tensor *gr = kiln_tensor_grad(in[i]);
            if (gr != NULL) {
                kiln_tensor_keep(gr);
            }
        }
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i]->op != KILN__OP_LEAF) {
            oh_ops_seen[g->nodes[i]->op] = 1;
        }
    }
    return kiln_graph_status(g);
}

/* ==== Running one side ==== */

void oh_side_free(struct oh_side *s)
{
    free(s->out);
    for (int i = 0; i < OH_MAX_IN; i++) {
        free(s->grad[i]);
        free(s->upd[i]);
    }
    kiln_graph_destroy(s->g);
    memset(s, 0, sizeof(*s));
}

static void tol_max(struct kiln__tol *a, const struct kiln__tol *b)
{
    a->nmse = fmax(a->nmse, b->nmse);
    a->abs = fmax(a->abs, b->abs);
    a->rel = fmax(a->rel, b->rel);
}

/* Sets the step-dependent params of an update node for step t, as src/train/optim.c. */
static void set_step(kiln_tensor *u, int t)
{
    if (u->op == KILN_OP_SGD_UPDATE) {
        ((struct kiln__p_sgd *)u->params)->step = t;
    } else if (u->op == KILN_OP_ADAM_UPDATE) {
        struct kiln__p_adam *p = (struct kiln__p_adam *)u->params;
        p->bc1 = (float)(1.0 - pow((double)p->beta1, (double)t));
        p->bc2 = (float)(1.0 - pow((double)p->beta2, (double)t));
    }
}

static void *download_new(const kiln_tensor *t, kiln_status *s)
{
    size_t nb = kiln_tensor_n_bytes(t);
    void *p = malloc(nb ? nb : 4);
    if (p == NULL) {
        *s = KILN_E_OUT_OF_HOST_MEMORY;
        return NULL;
    }
    *s = kiln_tensor_download(t, p, nb);
    return p;
}

#define SIDE_TRY(expr, what)                                                                       \
    do {                                                                                           \
        kiln_status s_ = (expr);                                                                   \
        if (s_ != KILN_OK) {                                                                       \
            char desc_[256];                                                                       \
            snprintf(msg, n, "op %s [%s] inputs (%s) on %s: %s failed: %s: %s", opname,            \
                     c->note ? c->note : "", oh_case_desc(c, desc_, sizeof(desc_)), bname, what,   \
                     kiln_status_name(s_), kiln_last_error());                                     \
            return false;                                                                          \
        }                                                                                          \
    } while (0)

/* Uploads generated data to t: input i of case c with salt, or W when i < 0. */
static kiln_status upload_generated(kiln_tensor *t, const struct oh_case *c, int i, uint64_t salt)
{
    size_t nb = kiln_tensor_n_bytes(t);
    void *d = malloc(nb ? nb : 4);
    if (d == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    if (i < 0) {
        oh_fill_weights(c, t->n_elems, d);
    } else {
        oh_fill_input(c, i, salt, d);
    }
    kiln_status s = kiln_tensor_upload(t, d, nb);
    free(d);
    return s;
}

/* Runs the compiled case graph twice (a kernel that accumulates into its output
 * without clearing it first doubles its result), or for the row's steps of an in-place
 * update with a new gradient (input 1 of every update op) at each step after the
 * first. */
static bool side_steps(const struct oh_env *env, const struct oh_case *c, struct oh_side *sd,
                       char *msg, size_t n)
{
    const char *opname = kiln__op_name(c->op);
    const char *bname = kiln_context_backend(sd->g->ctx);
    bool inplace = (kiln__ops[c->op]->flags & KILN__OPF_INPLACE) != 0;
    int steps = !inplace ? 2 : c->steps > 0 ? c->steps : 1;
    for (int t = 1; t <= steps; t++) {
        if (inplace) {
            set_step(sd->y, t);
        }
        if (inplace && t > 1) {
            SIDE_TRY(upload_generated(sd->in[1], c, 1, (uint64_t)t), "uploading the gradient");
        }
        if (c->flags & OH_EVAL) {
            SIDE_TRY(kiln_graph_eval(sd->g, 1, &sd->y), "kiln_graph_eval");
        } else {
            /* Gradients add up in the store: each run starts from zero. */
            SIDE_TRY(kiln_store_zero_grad(kiln_graph_store(sd->g)), "kiln_store_zero_grad");
            SIDE_TRY(kiln_graph_run(sd->g), "kiln_graph_run");
        }
        if (env->guard_bytes > 0) {
            SIDE_TRY(kiln__graph_check_guards(sd->g), "the guard band check");
        }
    }
    return true;
}

/* Downloads the output, every gradient and every input the op writes (the updated
 * inputs of in-place ops, those of an op with KILN__OPF_ALSO_WRITES). */
static bool side_download(const struct oh_case *c, struct oh_side *sd, char *msg, size_t n)
{
    const char *opname = kiln__op_name(c->op);
    const char *bname = kiln_context_backend(sd->g->ctx);
    const struct kiln__op_desc *d = kiln__ops[c->op];
    kiln_status s = KILN_OK;
    if (sd->y->n_elems > 0) {
        sd->out = download_new(sd->y, &s);
        SIDE_TRY(s, "downloading the output");
    }
    for (int i = 0; i < oh_n_in(c); i++) {
        kiln_tensor *gr = kiln_tensor_grad(sd->in[i]);
        if (gr != NULL) {
            sd->grad[i] = download_new(gr, &s);
            SIDE_TRY(s, "downloading a gradient");
        }
        if ((d->flags & (KILN__OPF_INPLACE | KILN__OPF_ALSO_WRITES)) &&
            (d->inplace_mask & (1u << i))) {
            sd->upd[i] = download_new(sd->in[i], &s);
            SIDE_TRY(s, "downloading an updated input");
        }
    }
    return true;
}

/* Whether an op of g has no kernel at all on g's backend: only that is "unsupported";
 * a kernel's supports() refusing a shape is a failure. */
static bool missing_kernel(const kiln_graph *g)
{
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const kiln_tensor *t = g->nodes[i];
        if (t->op != KILN__OP_LEAF && !kiln__is_view(t) &&
            kiln__kernel_of(&g->ctx->be, t->op) == NULL) {
            return true;
        }
    }
    return false;
}

bool oh_run_side(kiln_context *ctx, const struct oh_env *env, const struct oh_case *c,
                 void *const *data, struct oh_side *sd, char *msg, size_t n)
{
    const char *opname = kiln__op_name(c->op);
    const char *bname = kiln_context_backend(ctx);
    memset(sd, 0, sizeof(*sd));
    SIDE_TRY(kiln_graph_create(ctx, &sd->g), "kiln_graph_create");
    SIDE_TRY(oh_build(sd->g, c, sd->in, &sd->y, &sd->w), "building the case graph");
    sd->out_tol = c->tol ? *c->tol : kiln__ops[c->op]->tol;
    for (int32_t i = 0; i <= sd->y->id && c->tol == NULL; i++) {
        const kiln_tensor *t = sd->g->nodes[i];
        if (t->op != KILN__OP_LEAF) {
            tol_max(&sd->out_tol, &kiln__ops[t->op]->tol);
        }
    }
    sd->grad_tol = sd->out_tol;
    for (int32_t i = 0; i < sd->g->n_nodes; i++) {
        const kiln_tensor *t = sd->g->nodes[i];
        if ((t->flags & KILN__F_BACKWARD) && t->op != KILN__OP_LEAF) {
            tol_max(&sd->grad_tol, &kiln__ops[t->op]->tol);
        }
    }
    if (env->guard_bytes > 0) {
        SIDE_TRY(kiln__graph_set_guard(sd->g, env->guard_bytes), "kiln__graph_set_guard");
    }
    kiln_status cs = kiln_graph_compile(sd->g);
    if (cs == KILN_E_UNSUPPORTED && missing_kernel(sd->g)) {
        sd->unsupported = true;
        snprintf(msg, n, "%s [%s] on %s: %s", opname, c->note ? c->note : "", bname,
                 kiln_last_error());
        return false;
    }
    SIDE_TRY(cs, "kiln_graph_compile");
    for (int i = 0; i < oh_n_in(c); i++) {
        SIDE_TRY(kiln_tensor_upload(sd->in[i], data[i], kiln_tensor_n_bytes(sd->in[i])),
                 "uploading an input");
    }
    if (sd->w != NULL) {
        SIDE_TRY(upload_generated(sd->w, c, -1, 0), "uploading W");
    }
    return side_steps(env, c, sd, msg, n) && side_download(c, sd, msg, n);
}

/* ==== Comparing ==== */

static bool compare(const struct oh_env *env, const struct oh_case *c, const char *what,
                    kiln_dtype dt, const void *ref, const void *got, int64_t n_el,
                    const struct kiln__tol *tol, char *msg, size_t n)
{
    struct kiln__cmp r;
    bool ok = dt == KILN_DTYPE_I32 ? kiln__compare_i32(ref, got, n_el, &r)
                                   : kiln__compare_f32(ref, got, n_el, tol, &r);
    char desc[256];
    if (getenv("KILN_TEST_VERBOSE") != NULL) {
        printf("%s %s [%s] (%s) %s: max abs %.3g, max rel %.3g, nmse %.3g (tol %.1g %.1g "
               "%.1g)\n",
               ok ? "ok  " : "FAIL", kiln__op_name(c->op), c->note ? c->note : "",
               oh_case_desc(c, desc, sizeof(desc)), what, r.max_abs, r.max_rel, r.nmse, tol->nmse,
               tol->abs, tol->rel);
    }
    if (ok) {
        return true;
    }
    snprintf(msg, n,
             "op %s [%s] inputs (%s) on %s: %s (%s, %lld elements): %s check failed; max abs "
             "%.3g, max rel %.3g, nmse %.3g (tol nmse %.1g abs %.1g rel %.1g); worst index "
             "%lld: cpu %.9g, %s %.9g",
             kiln__op_name(c->op), c->note ? c->note : "", oh_case_desc(c, desc, sizeof(desc)),
             env->backend, what, kiln_dtype_name(dt), (long long)n_el, r.why, r.max_abs, r.max_rel,
             r.nmse, tol->nmse, tol->abs, tol->rel, (long long)r.worst, r.ref_v, env->backend,
             r.got_v);
    return false;
}

static bool all_finite(const float *v, int64_t n_el)
{
    for (int64_t i = 0; i < n_el; i++) {
        if (!isfinite(v[i])) {
            return false;
        }
    }
    return true;
}

/* Compares everything the two sides downloaded. */
static bool compare_sides(const struct oh_env *env, const struct oh_case *c,
                          const struct oh_side *ref, const struct oh_side *got, char *msg, size_t n)
{
    bool bitwise = (c->flags & OH_BITWISE) != 0;
    const struct kiln__tol *tol = bitwise ? &kiln__tol_exact : &ref->out_tol;
    const struct kiln__tol *grad_tol = bitwise ? &kiln__tol_exact : &ref->grad_tol;
    int64_t ny = ref->y->n_elems;
    if (ny > 0 && !compare(env, c, "output", ref->y->dtype, ref->out, got->out, ny, tol, msg, n)) {
        return false;
    }
    if (ny > 0 && (c->flags & OH_FINITE) && ref->y->dtype == KILN_DTYPE_F32 &&
        (!all_finite(ref->out, ny) || !all_finite(got->out, ny))) {
        snprintf(msg, n, "op %s [%s] on %s: the output has inf or nan (cpu %s, %s %s)",
                 kiln__op_name(c->op), c->note ? c->note : "", env->backend,
                 all_finite(ref->out, ny) ? "finite" : "not finite", env->backend,
                 all_finite(got->out, ny) ? "finite" : "not finite");
        return false;
    }
    for (int i = 0; i < oh_n_in(c); i++) {
        char what[64];
        int64_t ne = ref->in[i]->n_elems;
        if ((ref->grad[i] == NULL) != (got->grad[i] == NULL)) {
            snprintf(msg, n, "op %s [%s]: input %d has a gradient on one backend only",
                     kiln__op_name(c->op), c->note ? c->note : "", i);
            return false;
        }
        snprintf(what, sizeof(what), "gradient of input %d", i);
        if (ref->grad[i] != NULL && !compare(env, c, what, KILN_DTYPE_F32, ref->grad[i],
                                             got->grad[i], ne, grad_tol, msg, n)) {
            return false;
        }
        if (kiln__ops[c->op]->flags & KILN__OPF_INPLACE) {
            snprintf(what, sizeof(what), "updated input %d after %d step(s)", i,
                     c->steps > 0 ? c->steps : 1);
        } else {
            snprintf(what, sizeof(what), "written input %d", i); /* KILN__OPF_ALSO_WRITES */
        }
        if (ref->upd[i] != NULL &&
            !compare(env, c, what, ref->in[i]->dtype, ref->upd[i], got->upd[i], ne, tol, msg, n)) {
            return false;
        }
    }
    return true;
}

bool oh_run_case(const struct oh_env *env, const struct oh_case *c, char *msg, size_t n)
{
    int n_in = oh_n_in(c);
    void *data[OH_MAX_IN] = {NULL};
    struct oh_side ref, got;
    bool ok = false;
    memset(&ref, 0, sizeof(ref));
    memset(&got, 0, sizeof(got));
    msg[0] = '\0';
    for (int i = 0; i < n_in; i++) {
        int64_t ne = kiln__shape_elems(&c->shape[i]);
        data[i] = malloc((size_t)(ne > 0 ? ne : 1) * 4);
        if (data[i] == NULL) {
            snprintf(msg, n, "out of host memory");
            goto done;
        }
        oh_fill_input(c, i, 0, data[i]);
    }
    if (!oh_run_side(env->cpu, env, c, data, &ref, msg, n)) {
        goto done;
    }
    if (!oh_run_side(env->be, env, c, data, &got, msg, n)) {
        if (got.unsupported) {
            oh_n_unsupported++;
            printf("UNSUPPORTED: %s\n", msg);
            fflush(stdout);
            ok = true;
        }
        goto done;
    }
    ok = compare_sides(env, c, &ref, &got, msg, n);
done:
    oh_side_free(&ref);
    oh_side_free(&got);
    for (int i = 0; i < n_in; i++) {
        free(data[i]);
    }
    return ok;
}

/* ==== Subsets ==== */

/* The gpuav subset: rows named by op and note (every row with that op and note; "" for
 * rows without one). Chosen from what the whole matrix dispatches (KILN_TEST_PIPELINES=1
 * test_ops vulkan lists per case its shaders and the workgroups of each one's largest
 * dispatch), at the default tiles and at the GPU-AV run's small ones: every shader,
 * with more than one workgroup where some row has that, from the rows whose shaders
 * compile fastest. A row added to the matrix that reaches a new shader makes ops-vulkan
 * fail, naming a row to add here. */
static const char *const gpuav_rows[][2] = {
    {"add", "rank 8, every other dim broadcast"},
    {"sub", "1031"},
    {"sub", "rank 8, every other dim broadcast"},
    {"mul", "rank 8, every other dim broadcast"},
    {"div", "rank 8, every other dim broadcast"},
    {"add_relu", "rank 8, every other dim broadcast"},
    {"add_relu", "fused: relu(conv-like + bias)"},
    {"div", "by zero"},
    {"leaky_relu", "1031"},
    {"sigmoid", "1031"},
    {"tanh", "1031"},
    {"gelu", "1031"},
    {"exp", "1031"},
    {"log", "1031"},
    {"sqrt", "1031"},
    {"gelu", "inference mode"},
    {"log", "0, negative, inf"},
    {"sqrt", "0, negative, inf"},
    {"leaky_relu_bwd", "129"},
    {"sigmoid_bwd", "129"},
    {"tanh_bwd", "3x5x7"},
    {"gelu_bwd", "129"},
    {"matmul", "batched a^T b^T"},
    {"matmul", "2x3 batch of 5x7x4"},
    {"matmul_bias", "5x7x11 + bias"},
    {"matmul_bias", "67x129x33 a^T, [1, n] bias, relu"},
    {"matmul_bias", "batched a^T b^T, relu"},
    {"matmul_bias", "fused: relu(x w^T + b)"},
    {"matmul_relu_bwd", "67x129x33 a^T b^T"},
    {"matmul_relu_bwd", "batched"},
    {"matmul_db", "131x3x257, several row blocks"},
    {"matmul_db", "fused: a dense layer's weight and bias gradients"},
    {"transpose", "rank 8, pairs kept together"},
    {"transpose", "rank 6"},
    {"transpose", "i32 13x11"},
    {"reduce_sum", "axes 0, 2 and 5 of rank 8, scale 0.5"},
    {"argmax", "5x1"},
    {"log_softmax", "large logits stay finite"},
    {"softmax_bwd", "13x11"},
    {"log_softmax_bwd", "13x11"},
    {"mse", "3x5x7, constant target"},
    {"softmax_xent", "7x129"},
    {"bce_logits", "1031, large logits"},
    {"hinge", "7x129"},
    {"mse_bwd", "1031"},
    {"softmax_xent_bwd", "invalid labels"},
    {"softmax_xent_fused", "1x1"},
    {"softmax_xent_fused", "rider: 1x1"},
    {"bce_logits_bwd", "13x11"},
    {"hinge_bwd", "invalid labels"},
    {"sgd_update", "plain"},
    {"adam_update", "one step"},
    {"rmsprop_update", "one step"},
    {"adagrad_update", "one step"},
    {"conv2d", "1x1"},
    {"conv2d", "2 groups, chunks of the batch"},
    {"conv2d_bias", "stride 2, pad 1, [1, K, 1, 1] bias"},
    {"conv2d_bias", "dilation 2, depthwise, relu"},
    {"conv2d_bias", "fused: relu(LeNet conv1 + b)"},
    {"conv2d_bias", "fused: 3x3 pad 1 + b, 11 filters"},
    {"conv2d_bwd_data", "9 input channels, 3x3, pad 2"},
    {"conv2d_bwd_filter", "13 filters per group, 2 groups, 3x4, pad (1, 2), width 19"},
    {"conv2d_bwd_data", "12 channels per group, 2 groups, stride 2, dilation 2"},
    {"maxpool2d", "2x2 stride 2, odd input"},
    {"maxpool2d_bwd", "2x2 stride 2, ties, odd input"},
    {"maxpool2d_relu_bwd", "3x3 stride 2 pad 1, overlapping"},
    {"maxpool2d_relu_bwd", "fused: the gradient of maxpool(relu(x))"},
    {"avgpool2d", "2x2 stride 2"},
    {"upsample_nearest_bwd", "2x2 blocks"},
    {"bn_stats", "[N, C, H, W], sums of 1311 (more than a workgroup)"},
    {"bn_stats_bwd", "[N, C, H, W]"},
    {"bn_apply", "[N, C], eps 0.1"},
    {"bn_apply_bwd", "[N, C, H, W]"},
    {"bn_apply_bwd_params", "[N, C, H, W]"},
    {"bn_running_update", "3 steps, momentum 0.3"},
    {"lrn", "size 2 (even), k 2"},
    {"lrn_bwd", "size 5"},
    {"concat", "1 input"},
    {"pad", "every dim of rank 8"},
    {"pad", "spatial of rank 4"},
    {"dropout", "p 0.1, 1031"},
    {"gather", "embedding with padding row 3, out-of-range ids (public builder)"},
    {"gather", "i32 table"},
    {"bucket_indices", "43 ids into 7 rows, padding row 2, out of range"},
    {"where", "1031, NaN and -0 in the condition"},
    {"where", "masked softmax of 3x5x7 scores"},
    {"sequence_mask", "40 lengths, max_len 37 (several workgroups)"},
    {"rnn_seq", "lstm, H 67 past a workgroup"},
    {"rnn_seq", "lstm, every block"},
    {"rnn_seq_bwd", "gru reverse, H 67"},
    {"layer_norm", "300 rows of 17 (several workgroups), offset mean"},
    {"layer_norm_stats", "5x11"},
    {"layer_norm_bwd", "6x9, given statistics"},
    {"layer_norm_bwd_params", "13x70 (columns past a workgroup)"},
};

bool oh_in_subset(const struct oh_case *c, const char *subset)
{
    if (strcmp(subset, "gpuav") != 0) {
        return false;
    }
    const char *op = kiln__op_name(c->op), *note = c->note ? c->note : "";
    for (size_t i = 0; i < sizeof(gpuav_rows) / sizeof(gpuav_rows[0]); i++) {
        if (strcmp(gpuav_rows[i][0], op) == 0 && strcmp(gpuav_rows[i][1], note) == 0) {
            return true;
        }
    }
    return false;
}
