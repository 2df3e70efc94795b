/*
 * kiln/treenet.h - a recursive (tree-structured) neural network over the trees of
 * kiln/tree.h: every node's vector is composed from its symbol's embedding and its
 * children's vectors by one shared layer, leaves first, up to the root, whose vector a
 * linear layer classifies.
 *
 * The nodes of a batch of trees are computed level by level (a node's level is its
 * height): one graph holds, for each level, a fixed number of node slots (enough for
 * any batch of the trees it is made for, kiln_tree_net_caps), so the same compiled graph
 * serves every batch; the batch's structure is data (symbol and child-row inputs, filled
 * by kiln_tree_net_upload). Slots a batch does not use compute a vector nobody reads.
 */
#ifndef KILN_TREENET_H
#define KILN_TREENET_H

#include <stdint.h>

#include "graph.h"
#include "tree.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most levels (tree heights 0 .. 15) a tree net handles. */
#define KILN_TREE_NET_MAX_LEVELS 16

/* Options of kiln_tree_net_build(). Initialize with KILN_TREE_NET_OPTIONS_INIT. */
struct kiln_tree_net_options {
    uint32_t struct_size; /* sizeof(struct kiln_tree_net_options) */
    int64_t batch;        /* trees per run; default 32 */
    int64_t embed;        /* symbol embedding size; default 16 */
    int64_t dim;          /* node vector size D; default 64 */
    int64_t hidden;       /* hidden units of the composition; default 128 */
    int64_t n_classes;    /* default 2 (false, true) */
    uint64_t seed;        /* initializer seed */
};

#define KILN_TREE_NET_OPTIONS_INIT                                                                 \
    {                                                                                              \
        sizeof(struct kiln_tree_net_options), 32, 16, 64, 128, 2, 0                                \
    }

/* The node slots of a tree-net graph: n_levels levels of caps[k] slots each. */
struct kiln_tree_caps {
    int32_t n_levels;
    int64_t caps[KILN_TREE_NET_MAX_LEVELS];
};

/*
 * Raises c (zeroed, or from an earlier call) to fit any batch of `batch` trees of s:
 * level k gets at least the sum of the `batch` largest per-tree counts of level-k
 * nodes, and n_levels at least 1 + the highest level. Call it for every set whose
 * batches the graph will run. Returns KILN_OK or KILN_E_INVALID_ARG (a tree higher
 * than 15, batch < 1) or KILN_E_OUT_OF_HOST_MEMORY.
 */
KILN_API kiln_status kiln_tree_net_caps(const struct kiln_tree_set *s, int64_t batch,
                                        struct kiln_tree_caps *c);

/* The inputs and output of a tree-net graph (tensors of the graph, borrowed). */
struct kiln_tree_net {
    int64_t batch;
    struct kiln_tree_caps caps;
    kiln_tensor *op[KILN_TREE_NET_MAX_LEVELS];    /* i32 [caps[k]]: each slot's symbol */
    kiln_tensor *left[KILN_TREE_NET_MAX_LEVELS];  /* i32 [caps[k]]: its children's rows */
    kiln_tensor *right[KILN_TREE_NET_MAX_LEVELS]; /* (0: the zero vector) */
    kiln_tensor *root;                            /* i32 [batch]: the roots' rows */
    kiln_tensor *logits;                          /* f32 [batch, n_classes], kept */
};

/*
 * Builds the tree net on g for trees that fit c: parameters "embedding.weight"
 * [KILN_TREE_N_OPS, embed] (N(0, 1)), the composition "compose.0" [hidden, embed + 2
 * dim] and "compose.2" [dim, hidden] (nn.Linear's init and names, as
 * nn.Sequential(Linear, ReLU, Linear)), and the classifier "fc" [n_classes, dim]. A
 * node's vector is tanh(compose(embedding[symbol], left child, right child)), a missing
 * child being the zero vector. Graphs over one store (a training and an evaluation
 * batch size, other caps) share the parameters. [in] o: borrowed (NULL: defaults).
 * [out] net: filled. Returns the logits, or the poisoned tensor with the error
 * recorded in g.
 */
KILN_API kiln_tensor *kiln_tree_net_build(kiln_graph *g, const struct kiln_tree_net_options *o,
                                          const struct kiln_tree_caps *c,
                                          struct kiln_tree_net *net);

/*
 * Uploads trees[0 .. n - 1] of s (n <= net->batch) as the net's batch: their nodes into
 * the level slots, the unused slots and roots pointing at the zero vector (the logits
 * of rows n .. batch - 1 are then meaningless). Returns KILN_OK, KILN_E_INVALID_ARG
 * (the trees do not fit the caps, n > batch, a bad index), KILN_E_OUT_OF_HOST_MEMORY or
 * a device error.
 */
KILN_API kiln_status kiln_tree_net_upload(const struct kiln_tree_net *net,
                                          const struct kiln_tree_set *s, const int64_t *trees,
                                          int64_t n);

#ifdef __cplusplus
}
#endif

#endif /* KILN_TREENET_H */
