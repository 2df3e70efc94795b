/*
 * loss.c - losses with mean reduction and scalar output: mean squared error, softmax
 * cross-entropy with integer labels (fused and stable), binary cross-entropy with
 * logits, and the multi-class hinge loss, each with the _BWD kernel its backward rule
 * emits, and SOFTMAX_XENT_FUSED, both of softmax cross-entropy in one output (planner
 * fusion). Labels outside [0, C) contribute zero loss and zero gradient but still count
 * in the mean, on every backend. Targets and labels are not differentiated.
 */
#include <math.h>

#include "../graph/graph_impl.h"
#include "family.h"

/* Rows N and classes C of a [N, C] score tensor checked against i32 labels [N]. */
static kiln_status check_labels(struct kiln_tensor *n)
{
    char a[64], b[64];
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_dtype(n, 1, KILN_DTYPE_I32));
    KILN_TRY(kiln__want_rank(n, 0, 2));
    KILN_TRY(kiln__want_rank(n, 1, 1));
    if (n->src[0]->shape.dims[0] != n->src[1]->shape.dims[0]) {
        return KILN_FAIL(KILN_E_SHAPE, "%s: scores '%s' are %s but labels '%s' are %s",
                         kiln__ops[n->op]->name, n->src[0]->name,
                         kiln__shape_str(&n->src[0]->shape, a, sizeof(a)), n->src[1]->name,
                         kiln__shape_str(&n->src[1]->shape, b, sizeof(b)));
    }
    return KILN_OK;
}

static kiln_status infer_labels(struct kiln_tensor *n)
{
    KILN_TRY(check_labels(n));
    kiln__set_scalar(n);
    return KILN_OK;
}

static kiln_status infer_pair(struct kiln_tensor *n)
{
    KILN_TRY(kiln__want_dtype(n, 0, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_dtype(n, 1, KILN_DTYPE_F32));
    KILN_TRY(kiln__want_same_shape(n, 0, 1));
    kiln__set_scalar(n);
    return KILN_OK;
}

/* _BWD ops: (scores, targets or labels, dy scalar) -> shape of scores. */
static kiln_status infer_bwd(struct kiln_tensor *n)
{
    if (n->src[1]->dtype == KILN_DTYPE_I32) {
        KILN_TRY(check_labels(n));
    } else {
        KILN_TRY(infer_pair(n));
    }
    KILN_TRY(kiln__want_dtype(n, 2, KILN_DTYPE_F32));
    if (n->src[2]->n_elems != 1) {
        return KILN_FAIL(KILN_E_SHAPE, "%s: the incoming gradient must be a scalar",
                         kiln__ops[n->op]->name);
    }
    n->shape = n->src[0]->shape;
    return KILN_OK;
}

static void bwd_generic(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                        struct kiln_tensor **dx, int op)
{
    struct kiln_tensor *src[3] = {n->src[0], n->src[1], dy};
    dx[0] = kiln__node(g, op, 3, src, NULL, 0);
}

/* ==== MSE ==== */

static kiln_status ref_mse(const struct kiln__op_args *args)
{
    const float *p = args->in[0], *t = args->in[1];
    int64_t n = args->node->src[0]->n_elems;
    double acc = 0.0;
#pragma omp parallel for reduction(+ : acc) if (n > KILN__PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++) {
        double d = (double)p[i] - t[i];
        acc += d * d;
    }
    *(float *)args->out = (float)(acc / (double)n);
    return KILN_OK;
}

static kiln_status ref_mse_bwd(const struct kiln__op_args *args)
{
    const float *p = args->in[0], *t = args->in[1], *dy = args->in[2];
    float *dx = args->out;
    int64_t n = args->node->n_elems;
    float k = (float)(2.0 / (double)n) * dy[0];
#pragma omp parallel for if (n > KILN__PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++) {
        dx[i] = k * (p[i] - t[i]);
    }
    return KILN_OK;
}

static void bwd_mse(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                    struct kiln_tensor **dx)
{
    bwd_generic(g, n, dy, dx, KILN_OP_MSE_BWD);
    if (kiln__needs_grad(n->src[1])) {
        dx[1] = kiln_scale(g, dx[0], -1.0f);
    }
}

/* ==== Softmax cross-entropy ==== */

/* The mean loss over rows of [rows, cols] scores x. */
static float xent_loss(const float *x, const int32_t *y, int64_t rows, int64_t cols)
{
    double acc = 0.0;
#pragma omp parallel for reduction(+ : acc) if (rows * cols > KILN__PAR_MIN / 8)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        if (y[r] < 0 || y[r] >= cols) {
            continue;
        }
        float mx;
        double s = kiln__row_sumexp(xr, cols, &mx);
        acc += log(s) + mx - xr[y[r]];
    }
    return (float)(acc / (double)rows);
}

static kiln_status ref_softmax_xent(const struct kiln__op_args *args)
{
    const struct kiln_shape *s = &args->node->src[0]->shape;
    *(float *)args->out = xent_loss(args->in[0], args->in[1], s->dims[0], s->dims[1]);
    return KILN_OK;
}

/* dx = dy[0] d(mean loss)/dx over rows of [rows, cols] scores x. */
static void xent_grad(const float *x, const int32_t *y, const float *dy, int64_t rows, int64_t cols,
                      float *dx)
{
    double k = (double)dy[0] / (double)rows;
#pragma omp parallel for if (rows * cols > KILN__PAR_MIN / 8)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *dr = dx + r * cols;
        bool valid = y[r] >= 0 && y[r] < cols;
        float mx;
        double s = kiln__row_sumexp(xr, cols, &mx);
        for (int64_t c = 0; c < cols; c++) {
            double p = exp((double)xr[c] - mx) / s;
            dr[c] = valid ? (float)(k * (p - (c == y[r] ? 1.0 : 0.0))) : 0.0f;
        }
    }
}

static kiln_status ref_softmax_xent_bwd(const struct kiln__op_args *args)
{
    const struct kiln_shape *s = &args->node->shape;
    xent_grad(args->in[0], args->in[1], args->in[2], s->dims[0], s->dims[1], args->out);
    return KILN_OK;
}

/* SOFTMAX_XENT_FUSED (scores, labels, dy[, pred]): the gradient (SOFTMAX_XENT_BWD's
 * [N, C]) followed by the loss (SOFTMAX_XENT's scalar) in one [N*C + 1] output, so one
 * launch computes both. No builder: the planner puts it in place of a loss that no node
 * reads and its gradient (src/graph/fuse.c), which become views of it. The optional
 * fourth source is a rider (KILN__OPF_ALSO_WRITES): an i32 [N] ARGMAX of the same scores
 * that the kernel writes, from the row maxima it finds anyway. */
static kiln_status infer_xent_fused(struct kiln_tensor *n)
{
    if (n->n_src < 3) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "softmax_xent_fused: takes 3 or 4 sources, not %d",
                         n->n_src);
    }
    KILN_TRY(infer_bwd(n));
    if (n->n_src == 4) {
        const struct kiln_tensor *p = n->src[3];
        KILN_TRY(kiln__want_dtype(n, 3, KILN_DTYPE_I32));
        if (p->shape.rank != 1 || p->shape.dims[0] != n->src[0]->shape.dims[0]) {
            char a[64], b[64];
            return KILN_FAIL(KILN_E_SHAPE,
                             "softmax_xent_fused: the argmax '%s' is %s, not one per row of "
                             "scores '%s' %s",
                             p->name, kiln__shape_str(&p->shape, a, sizeof(a)), n->src[0]->name,
                             kiln__shape_str(&n->src[0]->shape, b, sizeof(b)));
        }
    }
    n->shape.rank = 1;
    n->shape.dims[0] = n->src[0]->n_elems + 1;
    return KILN_OK;
}

/* ref_softmax_xent_bwd, then ref_softmax_xent, into the two parts of the output, and
 * ARGMAX's rows into the fourth source when there is one. */
static kiln_status ref_softmax_xent_fused(const struct kiln__op_args *args)
{
    const struct kiln_shape *s = &args->node->src[0]->shape;
    float *out = args->out;
    xent_grad(args->in[0], args->in[1], args->in[2], s->dims[0], s->dims[1], out);
    out[s->dims[0] * s->dims[1]] = xent_loss(args->in[0], args->in[1], s->dims[0], s->dims[1]);
    if (args->node->n_src == 4) {
        const float *x = args->in[0];
        int32_t *pred = args->in[3];
        for (int64_t r = 0; r < s->dims[0]; r++) {
            pred[r] = kiln__row_argmax(x + r * s->dims[1], s->dims[1]);
        }
    }
    return KILN_OK;
}

static void bwd_softmax_xent(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                             struct kiln_tensor **dx)
{
    bwd_generic(g, n, dy, dx, KILN_OP_SOFTMAX_XENT_BWD);
}

/* ==== Binary cross-entropy with logits ==== */

static kiln_status ref_bce(const struct kiln__op_args *args)
{
    const float *x = args->in[0], *t = args->in[1];
    int64_t n = args->node->src[0]->n_elems;
    double acc = 0.0;
#pragma omp parallel for reduction(+ : acc) if (n > KILN__PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        acc += (v > 0 ? v : 0) - v * t[i] + log1p(exp(-fabs(v)));
    }
    *(float *)args->out = (float)(acc / (double)n);
    return KILN_OK;
}

static kiln_status ref_bce_bwd(const struct kiln__op_args *args)
{
    const float *x = args->in[0], *t = args->in[1], *dy = args->in[2];
    float *dx = args->out;
    int64_t n = args->node->n_elems;
    double k = (double)dy[0] / (double)n;
#pragma omp parallel for if (n > KILN__PAR_MIN / 4)
    for (int64_t i = 0; i < n; i++) {
        double e = exp(-fabs((double)x[i]));
        double s = x[i] >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        dx[i] = (float)(k * (s - t[i]));
    }
    return KILN_OK;
}

static void bwd_bce(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                    struct kiln_tensor **dx)
{
    bwd_generic(g, n, dy, dx, KILN_OP_BCE_LOGITS_BWD);
}

/* ==== Multi-class hinge ==== */

static kiln_status ref_hinge(const struct kiln__op_args *args)
{
    const float *x = args->in[0];
    const int32_t *y = args->in[1];
    int64_t rows = args->node->src[0]->shape.dims[0], cols = args->node->src[0]->shape.dims[1];
    double acc = 0.0;
#pragma omp parallel for reduction(+ : acc) if (rows * cols > KILN__PAR_MIN / 8)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        if (y[r] < 0 || y[r] >= cols) {
            continue;
        }
        for (int64_t c = 0; c < cols; c++) {
            double m = 1.0 - xr[y[r]] + xr[c];
            if (c != y[r] && m > 0) {
                acc += m;
            }
        }
    }
    *(float *)args->out = (float)(acc / ((double)rows * (double)cols));
    return KILN_OK;
}

static kiln_status ref_hinge_bwd(const struct kiln__op_args *args)
{
    const float *x = args->in[0], *dy = args->in[2];
    const int32_t *y = args->in[1];
    float *dx = args->out;
    int64_t rows = args->node->shape.dims[0], cols = args->node->shape.dims[1];
    float k = (float)((double)dy[0] / ((double)rows * (double)cols));
#pragma omp parallel for if (rows * cols > KILN__PAR_MIN / 8)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *dr = dx + r * cols;
        bool valid = y[r] >= 0 && y[r] < cols;
        int64_t n_active = 0;
        for (int64_t c = 0; c < cols; c++) {
            bool active = valid && c != y[r] && 1.0f - xr[y[r]] + xr[c] > 0.0f;
            dr[c] = active ? k : 0.0f;
            n_active += active;
        }
        if (valid) {
            dr[y[r]] = -k * (float)n_active;
        }
    }
    return KILN_OK;
}

static void bwd_hinge(kiln_graph *g, struct kiln_tensor *n, struct kiln_tensor *dy,
                      struct kiln_tensor **dx)
{
    bwd_generic(g, n, dy, dx, KILN_OP_HINGE_BWD);
}

/* ==== Descriptors ==== */

#define LOSS_DESC(NAME, lname, nin, inf, bwd, ref)                                                 \
    const struct kiln__op_desc kiln__desc_##NAME = {                                               \
        .name = lname,                                                                             \
        .n_in = nin,                                                                               \
        .infer = inf,                                                                              \
        .backward = bwd,                                                                           \
        .cpu_ref = ref,                                                                            \
        .tol = {1e-7, 1e-5, 1e-4}, /* a mean over the batch: a sum in any order */                 \
    }

/* PyTorch equivalents (tools/golden/make_goldens.py):
 * - MSE: F.mse_loss (mean).
 * - SOFTMAX_XENT: F.cross_entropy with integer labels. Differs on labels outside
 *   [0, C): PyTorch fails (or, with ignore_index, divides by the number of valid rows);
 *   kiln gives those rows zero loss and divides by N, i.e. cross_entropy(x, y,
 *   ignore_index=-100, reduction="sum") / N with invalid labels set to -100.
 * - BCE_LOGITS: F.binary_cross_entropy_with_logits (mean).
 * - HINGE: F.multi_margin_loss(p=1, margin=1) (mean over N of the row sum / C); invalid
 *   labels as for SOFTMAX_XENT (zero rows, divided by N).
 * - The _BWD kernels: autograd of the forward loss with the incoming scalar gradient.
 * - SOFTMAX_XENT_FUSED: that gradient flattened, then the loss, concatenated; its
 *   optional fourth source torch.argmax(scores, dim=-1) (as ARGMAX, NaN apart). */
LOSS_DESC(MSE, "mse", 2, infer_pair, bwd_mse, ref_mse);
LOSS_DESC(MSE_BWD, "mse_bwd", 3, infer_bwd, NULL, ref_mse_bwd);
LOSS_DESC(SOFTMAX_XENT, "softmax_xent", 2, infer_labels, bwd_softmax_xent, ref_softmax_xent);
LOSS_DESC(SOFTMAX_XENT_BWD, "softmax_xent_bwd", 3, infer_bwd, NULL, ref_softmax_xent_bwd);
const struct kiln__op_desc kiln__desc_SOFTMAX_XENT_FUSED = {
    .name = "softmax_xent_fused",
    .n_in = 4,
    .flags = KILN__OPF_VARIADIC | KILN__OPF_ALSO_WRITES,
    .inplace_mask = 1u << 3,
    .infer = infer_xent_fused,
    .cpu_ref = ref_softmax_xent_fused,
    .tol = {1e-7, 1e-5, 1e-4}, /* as the other losses; the argmax part compares exactly */
};
LOSS_DESC(BCE_LOGITS, "bce_logits", 2, infer_pair, bwd_bce, ref_bce);
LOSS_DESC(BCE_LOGITS_BWD, "bce_logits_bwd", 3, infer_bwd, NULL, ref_bce_bwd);
LOSS_DESC(HINGE, "hinge", 2, infer_labels, bwd_hinge, ref_hinge);
LOSS_DESC(HINGE_BWD, "hinge_bwd", 3, infer_bwd, NULL, ref_hinge_bwd);

/* ==== Builders ==== */

static kiln_tensor *loss2(kiln_graph *g, int op, kiln_tensor *a, kiln_tensor *b)
{
    if (g == NULL) {
        return NULL;
    }
    kiln_tensor *src[2] = {a, b};
    return kiln__node(g, op, 2, src, NULL, 0);
}

kiln_tensor *kiln_mse_loss(kiln_graph *g, kiln_tensor *pred, kiln_tensor *target)
{
    return loss2(g, KILN_OP_MSE, pred, target);
}

kiln_tensor *kiln_softmax_xent(kiln_graph *g, kiln_tensor *logits, kiln_tensor *labels)
{
    return loss2(g, KILN_OP_SOFTMAX_XENT, logits, labels);
}

kiln_tensor *kiln_bce_logits(kiln_graph *g, kiln_tensor *logits, kiln_tensor *targets)
{
    return loss2(g, KILN_OP_BCE_LOGITS, logits, targets);
}

kiln_tensor *kiln_hinge_loss(kiln_graph *g, kiln_tensor *scores, kiln_tensor *labels)
{
    return loss2(g, KILN_OP_HINGE, scores, labels);
}
