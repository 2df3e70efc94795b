/*
 * test_gemm.c - case rows and the double-precision evaluators of the matrix products:
 * tiny and odd sizes, k = 1, a long inner dimension, about 67x129x33 in every transpose
 * combination, batched (rank 3) plain and transposed, batched over several dims with
 * NumPy broadcasting of the batch dims (one side rank 2, size-1 dims, rank 8 whose batch
 * merges into no fewer than 6 dims), and the public builder's batch-by-matrix form; the
 * product with a bias and a relu, and the product masked by a ReLU's output, fed directly
 * and made by the planner's fusion from dense layers (a product, a bias and a relu; the
 * gradient through the next layer's weights) on the backends that fuse them; a^T b that
 * also writes the column sums of a (matmul_db, a dense layer's weight and bias
 * gradients), over row counts that fill no tile evenly.
 */
#include "../ref64.h"

/* C = op(A) op(B) over the last two dims, batch dims broadcast (right-aligned). */
static void eval_matmul(const struct kiln_tensor *n, double *const *in, double *c, int t)
{
    const struct kiln__p_matmul *p = (const void *)n->params;
    const struct kiln_shape *sa = &n->src[0]->shape, *sb = &n->src[1]->shape, *so = &n->shape;
    int32_t ra = sa->rank, rb = sb->rank, ro = so->rank;
    int64_t m = so->dims[ro - 2], nn = so->dims[ro - 1];
    int64_t k = p->trans_a ? sa->dims[ra - 2] : sa->dims[ra - 1];
    int64_t batch = n->n_elems / (m * nn);
    (void)t;
    for (int64_t bi = 0; bi < batch; bi++) {
        /* The batch coordinates of entry bi, then each operand's entry under broadcasting. */
        int64_t crd[KILN_MAX_DIMS], rem = bi, ia = 0, ib = 0;
        for (int32_t d = ro - 3; d >= 0; d--) {
            crd[d] = rem % so->dims[d];
            rem /= so->dims[d];
        }
        for (int32_t d = 0; d < ra - 2; d++) {
            ia = ia * sa->dims[d] + (sa->dims[d] == 1 ? 0 : crd[d + ro - ra]);
        }
        for (int32_t d = 0; d < rb - 2; d++) {
            ib = ib * sb->dims[d] + (sb->dims[d] == 1 ? 0 : crd[d + ro - rb]);
        }
        const double *ab = in[0] + ia * m * k, *bb = in[1] + ib * k * nn;
        for (int64_t i = 0; i < m; i++) {
            for (int64_t j = 0; j < nn; j++) {
                double acc = 0.0;
                for (int64_t q = 0; q < k; q++) {
                    double x = p->trans_a ? ab[q * m + i] : ab[i * k + q];
                    double y = p->trans_b ? bb[j * k + q] : bb[q * nn + j];
                    acc += x * y;
                }
                c[bi * m * nn + i * nn + j] = acc;
            }
        }
    }
}

/* The product, plus the bias along the last dim, then max(0, .) when relu is set. */
static void eval_matmul_bias(const struct kiln_tensor *n, double *const *in, double *c, int t)
{
    const struct kiln__p_matmul_bias *p = (const void *)n->params;
    int64_t cols = n->shape.dims[n->shape.rank - 1];
    eval_matmul(n, in, c, t);
    for (int64_t i = 0; i < n->n_elems; i++) {
        double v = c[i] + in[2][i % cols];
        c[i] = p->relu && !(v > 0.0) ? 0.0 : v;
    }
}

/* The product, kept where y > 0, else 0. */
static void eval_matmul_relu_bwd(const struct kiln_tensor *n, double *const *in, double *c, int t)
{
    eval_matmul(n, in, c, t);
    for (int64_t i = 0; i < n->n_elems; i++) {
        c[i] = in[2][i] > 0.0 ? c[i] : 0.0;
    }
}

/* The product a^T b, and db (in[2], written) = the sums of a's columns. */
static void eval_matmul_db(const struct kiln_tensor *n, double *const *in, double *c, int t)
{
    int64_t rows = n->src[0]->shape.dims[0], cols = n->src[0]->shape.dims[1];
    eval_matmul(n, in, c, t);
    for (int64_t j = 0; j < cols; j++) {
        double acc = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            acc += in[0][r * cols + j];
        }
        in[2][j] = acc;
    }
}

static const struct oh_eval evals[] = {
    {KILN_OP_MATMUL, eval_matmul, R64_TOL_GEMM},
    {KILN_OP_MATMUL_BIAS, eval_matmul_bias, R64_TOL_GEMM},
    {KILN_OP_MATMUL_RELU_BWD, eval_matmul_relu_bwd, R64_TOL_GEMM},
    {KILN_OP_MATMUL_DB, eval_matmul_db, R64_TOL_GEMM}};

#define U                                                                                          \
    {                                                                                              \
        OH_UNIFORM, -1.0f, 1.0f                                                                    \
    }

static kiln_tensor *build_public(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    return kiln_matmul(g, in[0], in[1], c->p.mm.trans_a, c->p.mm.trans_b);
}

/* A dense layer, x w^T + b (relu of it with p.mmb.relu) through the public builders: one
 * matmul_bias where the backend fuses it. */
static kiln_tensor *build_dense(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    kiln_tensor *y = kiln_add(g, kiln_matmul(g, in[0], in[1], 0, 1), in[2]);
    return c->p.mmb.relu ? kiln_relu(g, y) : y;
}

/* The dense layer's output reshaped: a view of the fused node's storage. */
static kiln_tensor *build_dense_view(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    int64_t d[1] = {in[0]->shape.dims[0] * in[1]->shape.dims[0]};
    return kiln_reshape(g, build_dense(g, in, c), 1, d);
}

/* Two dense layers with a ReLU between: the first layer's gradient is the second's
 * weights' product masked by the ReLU's output (matmul_relu_bwd where fused). */
static kiln_tensor *build_two_dense(kiln_graph *g, kiln_tensor *const *in, const struct oh_case *c)
{
    (void)c;
    kiln_tensor *h = kiln_relu(g, kiln_matmul(g, in[0], in[1], 0, 1));
    return kiln_matmul(g, h, in[2], 0, 1);
}

/* A dense layer's weight and bias gradients from its output's gradient dy (in[0]) and
 * input x (in[1]): dy^T x, plus the sum of dy over the batch along its rows (one
 * output that depends on both). One matmul_db with the sum as its rider where fused. */
static kiln_tensor *build_dense_grads(kiln_graph *g, kiln_tensor *const *in,
                                      const struct oh_case *c)
{
    (void)c;
    int64_t d[2] = {in[0]->shape.dims[1], 1};
    kiln_tensor *db = kiln_reshape(g, kiln_sum(g, in[0], 1u, 1), 2, d);
    return kiln_add(g, kiln_matmul(g, in[0], in[1], 1, 0), db);
}

#define MMR(a, b, y, ta, tb, nt)                                                                   \
    {                                                                                              \
        .op = KILN_OP_MATMUL_RELU_BWD, .note = nt, .n_in = 3, .shape = {a, b, y},                  \
        .p.mmr = {ta, tb}, .gen = {U, U, {OH_TIES, -1.0f, 1.0f}},                                  \
    }

/* a [K, M], b [K, N], db of M: a^T b, db the column sums of a. */
#define MMD(a, b, db, nt)                                                                          \
    {                                                                                              \
        .op = KILN_OP_MATMUL_DB, .note = nt, .n_in = 3, .shape = {a, b, db}, .p.mmd = {1, 0},      \
        .gen = {U, U, U},                                                                          \
    }

#define MMB(a, b, bias, ta, tb, r, nt)                                                             \
    {                                                                                              \
        .op = KILN_OP_MATMUL_BIAS, .note = nt, .n_in = 3, .shape = {a, b, bias},                   \
        .p.mmb = {ta, tb, r}, .gen = {U, U, U},                                                    \
    }

#define MM(a, b, ta, tb, nt)                                                                       \
    {                                                                                              \
        .op = KILN_OP_MATMUL, .note = nt, .shape = {a, b}, .p.mm = {ta, tb}, .gen = {U, U},        \
    }

static const struct oh_case cases[] = {
    MM(OH_S2(1, 1), OH_S2(1, 1), 0, 0, "1x1x1"),
    MM(OH_S2(5, 7), OH_S2(7, 11), 0, 0, "5x7x11"),
    MM(OH_S2(13, 1), OH_S2(1, 5), 0, 0, "k = 1"),
    MM(OH_S2(1, 1031), OH_S2(1031, 1), 0, 0, "dot of 1031"),
    MM(OH_S2(3, 127), OH_S2(127, 129), 0, 0, "3x127x129"),
    MM(OH_S2(67, 129), OH_S2(129, 33), 0, 0, "67x129x33"),
    MM(OH_S2(129, 67), OH_S2(129, 33), 1, 0, "67x129x33 a^T"),
    MM(OH_S2(67, 129), OH_S2(33, 129), 0, 1, "67x129x33 b^T"),
    MM(OH_S2(129, 67), OH_S2(33, 129), 1, 1, "67x129x33 a^T b^T"),
    MM(OH_S2(17, 64), OH_S2(64, 16), 0, 0, "17x64x16"),
    /* Larger than one piece of the CPU backend's fast matmul (src/backend/cpu/cpu_gemm.c):
     * blocks of rows, a short last one. */
    MM(OH_S2(24, 160), OH_S2(160, 72), 0, 0, "24x160x72, row blocks"),
    MM(OH_S3(2, 160, 23), OH_S3(2, 72, 160), 1, 1, "batched a^T b^T, row blocks"),
    MM(OH_S3(3, 5, 7), OH_S3(3, 7, 11), 0, 0, "batched"),
    MM(OH_S3(3, 7, 5), OH_S3(3, 11, 7), 1, 1, "batched a^T b^T"),
    MM(OH_S3(2, 33, 65), OH_S3(2, 65, 17), 0, 0, "batched 2x33x65x17"),
    MM(OH_S3(4, 13, 9), OH_S3(4, 13, 6), 1, 0, "batched a^T"),
    {.op = KILN_OP_MATMUL,
     .note = "rank 3 by rank 2 (public builder)",
     .shape = {OH_S3(3, 13, 17), OH_S2(17, 9)},
     .gen = {U, U},
     .build = build_public},
    {.op = KILN_OP_MATMUL,
     .note = "rank 3 by rank 2, b^T (public builder)",
     .shape = {OH_S3(2, 5, 31), OH_S2(7, 31)},
     .p.mm = {0, 1},
     .gen = {U, U},
     .build = build_public},
    {.op = KILN_OP_MATMUL,
     .note = "rank 4 by rank 2 (public builder)",
     .shape = {OH_S4(2, 3, 5, 7), OH_S2(7, 4)},
     .gen = {U, U},
     .build = build_public},
    MM(OH_S4(2, 3, 5, 7), OH_S4(2, 3, 7, 4), 0, 0, "2x3 batch of 5x7x4"),
    MM(OH_S4(2, 3, 7, 5), OH_S4(2, 3, 4, 7), 1, 1, "2x3 batch a^T b^T"),
    MM(OH_S2(7, 5), OH_S4(2, 3, 7, 4), 1, 0, "a^T rank 2 by a 2x3 batch"),
    MM(OH_S4(3, 1, 5, 7), OH_S3(4, 7, 6), 0, 0, "batch 3x1 by batch 4"),
    MM(OH_S4(1, 4, 6, 5), OH_S4(3, 1, 6, 7), 1, 0, "batch 1x4 a^T by batch 3x1"),
    MM(OH_S5(2, 1, 3, 9, 33), OH_S5(1, 2, 1, 33, 65), 0, 0, "batch 2x1x3 by 1x2x1, 9x33x65"),
    MM(OH_S8(2, 1, 2, 1, 2, 1, 5, 3), OH_S8(1, 2, 1, 2, 1, 2, 3, 4), 0, 0,
       "rank 8, six batch dims broadcast in turn"),
    MMB(OH_S2(5, 7), OH_S2(7, 11), OH_S1(11), 0, 0, 0, "5x7x11 + bias"),
    MMB(OH_S2(67, 129), OH_S2(33, 129), OH_S1(33), 0, 1, 1, "67x129x33 b^T, relu"),
    MMB(OH_S2(129, 67), OH_S2(129, 33), OH_S2(1, 33), 1, 0, 1, "67x129x33 a^T, [1, n] bias, relu"),
    MMB(OH_S2(129, 67), OH_S2(33, 129), OH_S1(33), 1, 1, 0, "a^T b^T + bias"),
    MMB(OH_S3(3, 7, 5), OH_S3(3, 11, 7), OH_S1(11), 1, 1, 1, "batched a^T b^T, relu"),
    {.op = KILN_OP_MATMUL_BIAS,
     .note = "fused: relu(x w^T + b)",
     .n_in = 3,
     .shape = {OH_S2(64, 45), OH_S2(17, 45), OH_S1(17)},
     .p.mmb = {0, 1, 1},
     .gen = {U, U, U},
     .build = build_dense},
    {.op = KILN_OP_MATMUL_BIAS,
     .note = "fused: x w^T + b",
     .n_in = 3,
     .shape = {OH_S2(13, 9), OH_S2(10, 9), OH_S1(10)},
     .gen = {U, U, U},
     .build = build_dense},
    {.op = KILN_OP_MATMUL_BIAS,
     .note = "fused: relu(x w^T + b) reshaped",
     .n_in = 3,
     .shape = {OH_S2(6, 9), OH_S2(5, 9), OH_S1(5)},
     .p.mmb = {0, 1, 1},
     .gen = {U, U, U},
     .build = build_dense_view},
    MMR(OH_S2(5, 7), OH_S2(7, 11), OH_S2(5, 11), 0, 0, "5x7x11, y with zeros"),
    MMR(OH_S2(67, 129), OH_S2(129, 33), OH_S2(67, 33), 0, 0, "67x129x33"),
    MMR(OH_S2(129, 67), OH_S2(33, 129), OH_S2(67, 33), 1, 1, "67x129x33 a^T b^T"),
    MMR(OH_S3(3, 5, 7), OH_S3(3, 7, 11), OH_S3(3, 5, 11), 0, 0, "batched"),
    {.op = KILN_OP_MATMUL_RELU_BWD,
     .note = "fused: the gradient between two dense layers",
     .n_in = 3,
     .shape = {OH_S2(33, 19), OH_S2(23, 19), OH_S2(7, 23)},
     .gen = {U, U, U},
     .build = build_two_dense},
    MMD(OH_S2(1, 1), OH_S2(1, 1), OH_S2(1, 1), "1x1x1"),
    MMD(OH_S2(7, 5), OH_S2(7, 11), OH_S2(1, 5), "(7x5)^T by 7x11"),
    MMD(OH_S2(5, 1), OH_S2(5, 3), OH_S1(1), "one row of c, a db of 1"),
    MMD(OH_S2(129, 67), OH_S2(129, 33), OH_S1(67), "67x129x33"),
    MMD(OH_S2(64, 84), OH_S2(64, 120), OH_S2(1, 84), "a dense layer's 84x64x120"),
    MMD(OH_S2(3, 131), OH_S2(3, 257), OH_S2(1, 131), "131x3x257, several row blocks"),
    MMD(OH_S2(1031, 13), OH_S2(1031, 3), OH_S1(13), "13x1031x3, a long sum"),
    MMD(OH_S2(2, 300), OH_S2(2, 5), OH_S1(300), "300x2x5, rows past a 256-row tile"),
    {.op = KILN_OP_MATMUL_DB,
     .note = "fused: a dense layer's weight and bias gradients",
     .n_in = 2,
     .shape = {OH_S2(37, 23), OH_S2(37, 19)},
     .gen = {U, U},
     .build = build_dense_grads},
};

const struct oh_family oh_family_gemm = {"gemm", cases, (int)(sizeof(cases) / sizeof(cases[0])),
                                         evals, 4};
