/*
 * kiln/tree.h - the boolean-expression tree task for tree-structured networks: seeded
 * random trees of AND, OR, XOR (binary) and NOT (unary) over the literals 0 and 1,
 * labelled with their value, exactly half true and half false; parsing and printing
 * them as S-expressions; and the bag-of-symbols baseline (logistic regression on the
 * count of each symbol), which XOR keeps near chance because a tree's value is not a
 * function of its symbol counts.
 *
 * Trees are stored for a tree net as flat arrays in post-order (children before their
 * parent, the root last), with each node's height, so the nodes of many trees can be
 * batched level by level. Host memory only; no context or device.
 */
#ifndef KILN_TREE_H
#define KILN_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Node symbols; the values are stable (a model may embed them). */
enum kiln_tree_op {
    KILN_TREE_FALSE = 0, /* leaf: the literal 0 */
    KILN_TREE_TRUE = 1,  /* leaf: the literal 1 */
    KILN_TREE_NOT = 2,   /* one child (left) */
    KILN_TREE_AND = 3,   /* two children */
    KILN_TREE_OR = 4,
    KILN_TREE_XOR = 5,
    KILN_TREE_N_OPS = 6
};

/*
 * A set of trees. The nodes of tree t are first[t] .. first[t + 1] - 1 in post-order, so
 * its root is first[t + 1] - 1. Child indices are node indices of the set (a node's
 * children come before it, inside its own tree): a batch of trees t0 .. t1 - 1 is the
 * contiguous node range first[t0] .. first[t1] - 1, and subtracting first[t0] from
 * its child indices makes them batch-local. level is the height (leaves 0, a node is 1
 * + its highest child), so every node of level k can be computed once level k - 1 is.
 */
struct kiln_tree_set {
    int64_t n_trees;
    int64_t n_nodes;
    int64_t *first; /* [n_trees + 1] */
    int32_t *op;    /* [n_nodes] enum kiln_tree_op */
    int32_t *left;  /* [n_nodes] first child, -1 for leaves */
    int32_t *right; /* [n_nodes] second child, -1 for leaves and NOT */
    int32_t *level; /* [n_nodes] height of the node's subtree */
    int32_t *value; /* [n_nodes] value (0 or 1) of the node's subtree */
    int32_t *label; /* [n_trees] value of each tree: its root's value */
};

/* Releases s's arrays and zeroes it. NULL or a zeroed set is a no-op. */
KILN_API void kiln_tree_set_fini(struct kiln_tree_set *s);

struct kiln_tree_options {
    uint32_t struct_size; /* sizeof(struct kiln_tree_options) */
    int64_t n_trees;      /* > 0; default 1000 */
    int32_t max_depth;    /* 1..6: the root's height is at most this; default 6 */
    int32_t min_depth;    /* 1..max_depth: and at least this; default 3 */
    double leaf_prob;     /* [0, 1): chance that a node below the root and above
                             max_depth is a leaf (else an operator, each of the four
                             equally likely); default 0.3 */
    int32_t unique;       /* 1 (default): no two trees of the set are identical */
    uint64_t seed;
};

#define KILN_TREE_OPTIONS_INIT                                                                     \
    {                                                                                              \
        sizeof(struct kiln_tree_options), 1000, 6, 3, 0.3, 1, 0                                    \
    }

/*
 * Generates n_trees random trees. Trees 2p and 2p + 1 get opposite labels (which is
 * true is a seeded coin), and each is drawn again until its value is its label and its
 * height is at least min_depth (and, with unique, until it differs from every earlier
 * tree): any even-length prefix, e.g. a training part and the test part after it, is
 * exactly half true. Tree i depends only on (seed, i) and the trees before it.
 * [in] o: borrowed; NULL: defaults. [out] out: filled on success (kiln_tree_set_fini);
 * zeroed on failure.
 * Returns KILN_OK, KILN_E_INVALID_ARG (bad options, or 100,000 draws found no fitting
 * tree: with unique, more trees asked for than the depths allow), KILN_E_OUT_OF_HOST_MEMORY.
 * Thread-safe.
 */
KILN_API kiln_status kiln_tree_generate(const struct kiln_tree_options *o,
                                        struct kiln_tree_set *out);

/*
 * Parses one or more S-expressions separated by white space: "0", "1", "(not E)",
 * "(and E E)", "(or E E)", "(xor E E)" (operators in any case), each becoming a tree
 * of the set in order, labelled with its value. Nesting deeper than 64 is refused.
 * [in] text: borrowed, NUL-terminated. [out] out: filled on success; zeroed on failure.
 * Returns KILN_OK, KILN_E_FORMAT (naming the byte offset and what was expected; also
 * for no expression at all), KILN_E_INVALID_ARG, KILN_E_OUT_OF_HOST_MEMORY. Thread-safe.
 */
KILN_API kiln_status kiln_tree_parse(const char *text, struct kiln_tree_set *out);

/*
 * Writes tree t of s as an S-expression (the syntax of kiln_tree_parse, lower case).
 * [out] buf: caller storage of cap bytes, or NULL with cap 0 to ask for the size.
 * [out] n_bytes: the length without the NUL; the text and a NUL are written only when
 * cap > *n_bytes. Returns KILN_OK or KILN_E_INVALID_ARG. Thread-safe.
 */
KILN_API kiln_status kiln_tree_format(const struct kiln_tree_set *s, int64_t t, char *buf,
                                      size_t cap, size_t *n_bytes);

/*
 * The bag-of-symbols baseline: each tree becomes the counts of its six symbols (plus
 * a constant), and an L2-regularized (1e-3) logistic regression fitted by Newton's
 * method on trees 0 .. n_train - 1 predicts the label of trees n_train .. n_trees - 1.
 * [in] s: borrowed. [out] train_acc, test_acc: accuracies on the two parts (either
 * may be NULL). Returns KILN_OK, KILN_E_INVALID_ARG (a part empty),
 * KILN_E_OUT_OF_HOST_MEMORY. Thread-safe.
 */
KILN_API kiln_status kiln_tree_bag_baseline(const struct kiln_tree_set *s, int64_t n_train,
                                            double *train_acc, double *test_acc);

#ifdef __cplusplus
}
#endif

#endif /* KILN_TREE_H */
