/*
 * treenet.c - the recursive tree net of kiln/treenet.h, batched by level: a state table
 * S starts as one zero row, and level k appends the vectors of its caps[k] slots,
 * composed from gathers of S (the children's rows) and the symbol embeddings; the roots
 * are gathered from the final table. Gathers backpropagate by SCATTER_ADD, so a
 * child's gradient adds up over its parent's two uses. Row numbers: 0 is the zero
 * vector, level k's slots start at 1 + caps[0] + ... + caps[k - 1].
 */
#include "kiln/treenet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../context_impl.h"
#include "../graph/graph_impl.h"
#include "kiln/attention.h"

/* ==== Capacities ==== */

static int cmp_desc(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x < y) - (x > y);
}

kiln_status kiln_tree_net_caps(const struct kiln_tree_set *s, int64_t batch,
                               struct kiln_tree_caps *c)
{
    if (s == NULL || c == NULL || batch < 1 || s->n_trees < 1) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_tree_net_caps: no trees, or batch %lld",
                         (long long)batch);
    }
    for (int64_t i = 0; i < s->n_nodes; i++) {
        if (s->level[i] < 0 || s->level[i] >= KILN_TREE_NET_MAX_LEVELS) {
            return KILN_FAIL(KILN_E_INVALID_ARG,
                             "kiln_tree_net_caps: a tree of height %d (at most %d)", s->level[i],
                             KILN_TREE_NET_MAX_LEVELS - 1);
        }
    }
    int32_t *cnt = calloc((size_t)s->n_trees, sizeof(int32_t));
    if (cnt == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_tree_net_caps: %lld counts",
                         (long long)s->n_trees);
    }
    for (int32_t k = 0; k < KILN_TREE_NET_MAX_LEVELS; k++) {
        int64_t any = 0, sum = 0;
        for (int64_t t = 0; t < s->n_trees; t++) {
            cnt[t] = 0;
            for (int64_t i = s->first[t]; i < s->first[t + 1]; i++) {
                cnt[t] += s->level[i] == k;
            }
            any += cnt[t];
        }
        if (any == 0) {
            continue;
        }
        qsort(cnt, (size_t)s->n_trees, sizeof(int32_t), cmp_desc);
        for (int64_t t = 0; t < s->n_trees && t < batch; t++) {
            sum += cnt[t];
        }
        c->caps[k] = sum > c->caps[k] ? sum : c->caps[k];
        c->n_levels = k + 1 > c->n_levels ? k + 1 : c->n_levels;
    }
    free(cnt);
    return KILN_OK;
}

/* ==== Builder ==== */

kiln_tensor *kiln_tree_net_build(kiln_graph *g, const struct kiln_tree_net_options *o,
                                 const struct kiln_tree_caps *c, struct kiln_tree_net *net)
{
    struct kiln_tree_net_options d = KILN_TREE_NET_OPTIONS_INIT;
    char nm[32];
    if (g == NULL) {
        return NULL;
    }
    o = o != NULL ? o : &d;
    if (c == NULL || net == NULL || o->struct_size < sizeof(*o) || o->batch < 1 || o->embed < 1 ||
        o->dim < 1 || o->hidden < 1 || o->n_classes < 1 || c->n_levels < 1 ||
        c->n_levels > KILN_TREE_NET_MAX_LEVELS) {
        return kiln__graph_fail(g, KILN_E_INVALID_ARG,
                                "kiln_tree_net_build: bad options or caps (no caps, sizes < 1)");
    }
    memset(net, 0, sizeof(*net));
    net->batch = o->batch;
    net->caps = *c;
    int64_t td[2] = {KILN_TREE_N_OPS, o->embed}, zd[2] = {1, o->dim}, bd[1] = {o->batch};
    kiln_tensor *table = kiln_param(g, "embedding.weight", 2, td, KILN_INIT_NORMAL, 1.0f, o->seed);
    float *zeros = calloc((size_t)o->dim, sizeof(float));
    if (zeros == NULL) {
        return kiln__graph_fail(g, KILN_E_OUT_OF_HOST_MEMORY, "kiln_tree_net_build: zeros");
    }
    kiln_tensor *s = kiln_constant(g, "tree.zero", KILN_DTYPE_F32, 2, zd, zeros);
    free(zeros);
    for (int32_t k = 0; k < c->n_levels; k++) {
        int64_t n = c->caps[k] > 0 ? c->caps[k] : 1;
        snprintf(nm, sizeof(nm), "tree.op%d", k);
        net->op[k] = kiln_input(g, nm, KILN_DTYPE_I32, 1, &n);
        snprintf(nm, sizeof(nm), "tree.left%d", k);
        net->left[k] = kiln_input(g, nm, KILN_DTYPE_I32, 1, &n);
        snprintf(nm, sizeof(nm), "tree.right%d", k);
        net->right[k] = kiln_input(g, nm, KILN_DTYPE_I32, 1, &n);
        kiln_tensor *x[3] = {kiln_embedding(g, table, net->op[k], -1),
                             kiln_gather(g, s, net->left[k], 0),
                             kiln_gather(g, s, net->right[k], 0)};
        kiln_tensor *h = kiln_relu(
            g, kiln_linear(g, kiln_concat(g, 3, x, 1), o->hidden, 1, "compose.0", o->seed));
        h = kiln_tanh(g, kiln_linear(g, h, o->dim, 1, "compose.2", o->seed));
        kiln_tensor *both[2] = {s, h};
        s = kiln_concat(g, 2, both, 0);
    }
    net->root = kiln_input(g, "tree.root", KILN_DTYPE_I32, 1, bd);
    net->logits = kiln_tensor_keep(
        kiln_linear(g, kiln_gather(g, s, net->root, 0), o->n_classes, 1, "fc", o->seed));
    return net->logits;
}

/* ==== Batches ==== */

kiln_status kiln_tree_net_upload(const struct kiln_tree_net *net, const struct kiln_tree_set *s,
                                 const int64_t *trees, int64_t n)
{
    if (net == NULL || s == NULL || (trees == NULL && n > 0) || n < 0 || n > net->batch ||
        net->root == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_tree_net_upload: %lld trees for a batch of %lld",
                         (long long)n, net != NULL ? (long long)net->batch : 0LL);
    }
    const struct kiln_tree_caps *c = &net->caps;
    int64_t total = 0, start[KILN_TREE_NET_MAX_LEVELS], used[KILN_TREE_NET_MAX_LEVELS] = {0};
    int64_t max_nodes = 0;
    for (int32_t k = 0; k < c->n_levels; k++) {
        start[k] = 1 + total;
        total += c->caps[k] > 0 ? c->caps[k] : 1;
    }
    for (int64_t j = 0; j < n; j++) {
        if (trees[j] < 0 || trees[j] >= s->n_trees) {
            return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_tree_net_upload: tree %lld of %lld",
                             (long long)trees[j], (long long)s->n_trees);
        }
        int64_t m = s->first[trees[j] + 1] - s->first[trees[j]];
        max_nodes = m > max_nodes ? m : max_nodes;
    }
    /* host arrays: op, left, right of every slot (3 total), the roots, a row per node */
    int32_t *h = calloc((size_t)(3 * total + net->batch + max_nodes + 1), sizeof(int32_t));
    if (h == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "kiln_tree_net_upload: %lld slots",
                         (long long)total);
    }
    int32_t *op = h, *left = h + total, *right = h + 2 * total, *root = h + 3 * total;
    int32_t *row = root + net->batch;
    kiln_status st = KILN_OK;
    for (int64_t j = 0; j < n && st == KILN_OK; j++) {
        int64_t f = s->first[trees[j]], e = s->first[trees[j] + 1];
        for (int64_t i = f; i < e; i++) {
            int32_t k = s->level[i];
            if (k >= c->n_levels || used[k] >= c->caps[k]) {
                st = KILN_FAIL(KILN_E_INVALID_ARG,
                               "kiln_tree_net_upload: the batch has more level-%d nodes than the "
                               "graph's %lld slots (kiln_tree_net_caps)",
                               k, k < c->n_levels ? (long long)c->caps[k] : 0LL);
                break;
            }
            int64_t slot = start[k] + used[k]++, at = slot - 1; /* at: index of the arrays */
            row[i - f] = (int32_t)slot;
            op[at] = s->op[i];
            left[at] = s->left[i] >= 0 ? row[s->left[i] - f] : 0;
            right[at] = s->right[i] >= 0 ? row[s->right[i] - f] : 0;
        }
        root[j] = row[e - 1 - f];
    }
    for (int32_t k = 0; k < c->n_levels && st == KILN_OK; k++) {
        size_t off = (size_t)(start[k] - 1), nb = (size_t)(c->caps[k] > 0 ? c->caps[k] : 1) * 4;
        st = kiln_tensor_upload(net->op[k], op + off, nb);
        st = st == KILN_OK ? kiln_tensor_upload(net->left[k], left + off, nb) : st;
        st = st == KILN_OK ? kiln_tensor_upload(net->right[k], right + off, nb) : st;
    }
    if (st == KILN_OK) {
        st = kiln_tensor_upload(net->root, root, (size_t)net->batch * sizeof(int32_t));
    }
    free(h);
    return st;
}
