/*
 * op_list.h - the single list of kiln's ops (STYLE B.7). Include it after defining
 * KILN_OP(NAME, family, n_in); it is expanded into the op enum, the name table and the
 * descriptor table. Every op is described in src/ops/<family>.c; its parameters (if
 * any) are a POD struct in src/ops/op_desc.h. Ops ending in _BWD are the kernels that
 * backward rules emit; they have no backward of their own.
 *
 * An op with parameters may be declared with KILN_OP_P(NAME, family, n_in, tag, fields),
 * which also declares its parameter struct, struct kiln__p_<tag> { fields } (op_desc.h);
 * includers that only want the rows define KILN_OP alone.
 *
 * Adding an op: README.md "Adding an op" lists the files (this row, the family's C file,
 * its OpenCL kernel and shader, its test rows and its PyTorch mapping).
 */
#ifndef KILN_OP_P
#define KILN_OP_P(name, family, n_in, tag, fields) KILN_OP(name, family, n_in)
#define KILN__OP_P_DEFAULT
#endif

/*      name             family  n_in */
/* binary: numpy broadcasting over up to 8 dims */
KILN_OP(ADD, binary, 2)
KILN_OP(SUB, binary, 2)
KILN_OP(MUL, binary, 2)
KILN_OP(DIV, binary, 2)
KILN_OP(ADD_RELU, binary, 2) /* max(0, a + b): ADD then RELU in one kernel (planner fusion) */
/* unary: elementwise, same shape */
KILN_OP(SCALE_SHIFT, unary, 1)
KILN_OP(RELU, unary, 1)
KILN_OP(LEAKY_RELU, unary, 1)
KILN_OP(SIGMOID, unary, 1)
KILN_OP(TANH, unary, 1)
KILN_OP(GELU, unary, 1)
KILN_OP(EXP, unary, 1)
KILN_OP(LOG, unary, 1)
KILN_OP(SQRT, unary, 1)
KILN_OP(RELU_BWD, unary, 2)       /* (x, dy) -> dy * (x > 0) */
KILN_OP(LEAKY_RELU_BWD, unary, 2) /* (x, dy) -> dy * (x > 0 ? 1 : alpha) */
KILN_OP(SIGMOID_BWD, unary, 2)    /* (y, dy) -> dy * y * (1 - y) */
KILN_OP(TANH_BWD, unary, 2)       /* (y, dy) -> dy * (1 - y^2) */
KILN_OP(GELU_BWD, unary, 2)       /* (x, dy) -> dy * gelu'(x) */
/* gemm */
KILN_OP(MATMUL, gemm, 2)
KILN_OP_P(MATMUL_BIAS, gemm, 3, matmul_bias, /* (a, b, bias [n]): MATMUL + bias, relu if set */
          int32_t trans_a;
          int32_t trans_b;                           /* as MATMUL's (kiln__p_matmul first) */
          int32_t relu;)                             /* 1: then max(0, .) (planner fusion) */
KILN_OP_P(MATMUL_RELU_BWD, gemm, 3, matmul_relu_bwd, /* (a, b, y): RELU_BWD(y, MATMUL(a, b)) */
          int32_t trans_a;
          int32_t trans_b;) /* as MATMUL's (planner fusion) */
/* (a, b, db): MATMUL(a, b) with trans_a; db (written) = REDUCE_SUM of a over axis 0 */
KILN_OP_P(MATMUL_DB, gemm, 3, matmul_db, int32_t trans_a;
          int32_t trans_b;) /* as MATMUL's: 1, 0 (planner fusion) */
/* shape */
KILN_OP(RESHAPE, shape, 1) /* a view: no kernel runs */
KILN_OP(TRANSPOSE, shape, 1)
/* reduce */
KILN_OP(REDUCE_SUM, reduce, 1) /* scale * sum over axes, reduced axes kept as 1 */
KILN_OP(BROADCAST, reduce, 1)  /* scale * x expanded to a larger shape */
KILN_OP(ARGMAX, reduce, 1)
KILN_OP(SOFTMAX, reduce, 1)
KILN_OP(LOG_SOFTMAX, reduce, 1)
KILN_OP(SOFTMAX_BWD, reduce, 2)     /* (y, dy) -> y * (dy - sum(dy * y)) */
KILN_OP(LOG_SOFTMAX_BWD, reduce, 2) /* (y, dy) -> dy - exp(y) * sum(dy) */
/* loss: scalar outputs, mean reduction */
KILN_OP(MSE, loss, 2)              /* (pred, target) */
KILN_OP(MSE_BWD, loss, 3)          /* (pred, target, dy) -> d/dpred */
KILN_OP(SOFTMAX_XENT, loss, 2)     /* (logits [N,C], labels i32 [N]) */
KILN_OP(SOFTMAX_XENT_BWD, loss, 3) /* (logits, labels, dy) -> d/dlogits */
/* (logits, labels, dy) -> [N*C + 1]: SOFTMAX_XENT_BWD, then SOFTMAX_XENT (planner fusion) */
KILN_OP(SOFTMAX_XENT_FUSED, loss, 3)
KILN_OP(BCE_LOGITS, loss, 2)     /* (logits, targets) */
KILN_OP(BCE_LOGITS_BWD, loss, 3) /* (logits, targets, dy) -> d/dlogits */
KILN_OP(HINGE, loss, 2)          /* (scores [N,C], labels i32 [N]) */
KILN_OP(HINGE_BWD, loss, 3)      /* (scores, labels, dy) -> d/dscores */
/* optim: update parameters and state in place; the output is empty */
KILN_OP(SGD_UPDATE, optim, 3)     /* (param, grad, velocity) */
KILN_OP(ADAM_UPDATE, optim, 4)    /* (param, grad, m, v) */
KILN_OP(RMSPROP_UPDATE, optim, 3) /* (param, grad, square_avg) */
KILN_OP(ADAGRAD_UPDATE, optim, 3) /* (param, grad, sum) */
KILN_OP(ACCUMULATE, optim, 2)     /* (dst, x): dst = alpha dst + beta x, in place */
/* conv: NCHW convolutions; w is [K, C/groups, KH, KW] (PyTorch's Conv2d layout) */
KILN_OP(CONV2D, conv, 2)            /* (x [N,C,H,W], w) -> [N,K,OH,OW] */
KILN_OP(CONV2D_BWD_DATA, conv, 2)   /* (dy, w) -> dx [N,C,in_hw]; also transposed conv */
KILN_OP(CONV2D_BWD_FILTER, conv, 2) /* (x, dy) -> dw [K,C/groups,kernel] */
/* (x, w, bias [K]) -> CONV2D + bias per output channel, relu if set (planner fusion) */
KILN_OP_P(CONV2D_BIAS, conv, 3, conv2d_bias, /* kiln__p_conv2d's fields, then relu */
          int32_t stride[2];
          int32_t pad[2]; int32_t dilation[2];                 /* as CONV2D's */
          int32_t groups; int32_t in_hw[2]; int32_t kernel[2]; /* as CONV2D's */
          int32_t relu;)                                       /* 1: then max(0, .) */
/* pool: NCHW windows */
KILN_OP(MAXPOOL2D, pool, 1)
KILN_OP(MAXPOOL2D_BWD, pool, 2)      /* (x, dy) -> dx: dy to the first maximum of each window */
KILN_OP(MAXPOOL2D_RELU_BWD, pool, 2) /* RELU_BWD(x, MAXPOOL2D_BWD(x, dy)) (planner fusion) */
KILN_OP(AVGPOOL2D, pool, 1)
KILN_OP(AVGPOOL2D_BWD, pool, 1)        /* (dy) -> dx [N,C,in_hw] */
KILN_OP(UPSAMPLE_NEAREST, pool, 1)     /* [N,C,H,W] -> [N,C,H*fh,W*fw] */
KILN_OP(UPSAMPLE_NEAREST_BWD, pool, 1) /* (dy) -> dx: sums over each fh x fw block */
/* norm: batch norm (dim 1 = channels), local response norm */
KILN_OP(BN_STATS, norm, 3)            /* (x, running_mean, running_var) -> [2,C] mean, var */
KILN_OP(BN_STATS_BWD, norm, 3)        /* (x, stats, dstats) -> dx */
KILN_OP(BN_APPLY, norm, 4)            /* (x, stats, gamma, beta) -> y */
KILN_OP(BN_APPLY_BWD, norm, 4)        /* (x, stats, gamma, dy) -> dy * gamma * rstd */
KILN_OP(BN_APPLY_BWD_PARAMS, norm, 4) /* (x, stats, gamma, dy) -> [4,C] */
KILN_OP(BN_RUNNING_UPDATE, norm, 3)   /* (running_mean, running_var, stats), in place */
KILN_OP(LRN, norm, 1)
KILN_OP(LRN_BWD, norm, 2) /* (x, dy) -> dx */
/* layout: concatenation, slices, zero padding */
KILN_OP(CONCAT, layout, 4) /* 1..KILN__MAX_SRC inputs along one axis */
KILN_OP(SLICE, layout, 1)
KILN_OP(PAD, layout, 1)
/* random */
KILN_OP(DROPOUT, random, 1) /* its own adjoint: the backward is DROPOUT of dy */
/* index: gathers and scatters along an axis, selection by a condition, masks */
KILN_OP_P(GATHER, index, 2, gather, /* (x, idx i32) -> x.shape[:axis] + idx.shape + ... */
          int32_t axis;             /* the gathered axis of x */
          int32_t padding_idx;      /* rows that get no gradient; -1: none */
          int32_t zero_pad;         /* 1: padding rows read as 0 (scatter_add's adjoint) */
          int32_t outer; int32_t v; /* derived by infer: prod(dims before axis), x.dims[axis] */
          int32_t j; int32_t inner; /* derived: idx elements, prod(dims after axis) */
          int32_t tile;)            /* rows per block of BUCKET_INDICES (derived) */
KILN_OP(BUCKET_INDICES, index, 1)   /* (idx) -> i32 block offsets and positions; as GATHER's */
KILN_OP(SCATTER_ADD, index, 3)      /* (dy, idx, buckets) -> dx [.., v, ..]; as GATHER's */
KILN_OP_P(WHERE, index, 3, where,   /* (cond f32 or i32, a, b): cond != 0 ? a : b */
          int32_t cond_i32;         /* derived: cond is i32 */
          int32_t rank;             /* derived: the merged iteration over the output */
          uint32_t dims[8];         /* its extents, outermost first */
          uint32_t bcast[3];)       /* bit k: source i is broadcast along merged dim k */
KILN_OP_P(SEQUENCE_MASK, index, 1, sequence_mask, /* (lengths i32) -> f32 [.., max_len] */
          int32_t max_len;)
/* rnn: one direction of a recurrent layer over a padded batch (see src/ops/rnn.c) */
KILN_OP(RNN_SEQ, rnn, 5)     /* (xg [T,N,G], w_hh [G,H], b_hh [G], s0, mask [T,N]) -> flat */
KILN_OP(RNN_SEQ_BWD, rnn, 5) /* (y, dy, w_hh, s0, mask) -> flat gate and state gradients */
/* layernorm: over the last norm_dims dims, viewed as [rows, cols] (src/ops/layernorm.c) */
KILN_OP_P(LAYER_NORM, layernorm, 3, layer_norm, /* (x, gamma, beta) -> y, gamma [cols] */
          float eps;                            /* PyTorch's eps */
          int32_t norm_dims;                    /* the normalized trailing dims */
          int32_t rows;                         /* derived: the rows of x as [rows, cols] */
          int32_t cols;)                        /* derived: the product of those dims */
KILN_OP(LAYER_NORM_STATS, layernorm, 1)         /* (x) -> [rows, 2] mean, rstd */
KILN_OP(LAYER_NORM_BWD, layernorm, 4)           /* (x, stats, gamma, dy) -> dx */
KILN_OP(LAYER_NORM_BWD_PARAMS, layernorm, 3)    /* (x, stats, dy) -> [2, cols] dgamma, dbeta */
#ifdef KILN__OP_P_DEFAULT
#undef KILN_OP_P
#undef KILN__OP_P_DEFAULT
#endif
