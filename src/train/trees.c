/*
 * trees.c - the boolean-expression tree task of kiln/tree.h: seeded generation with
 * balanced labels by rejection, S-expression parsing and printing, and the
 * bag-of-symbols logistic regression baseline. Nodes are appended in post-order to
 * growable arrays; a rejected candidate is dropped by truncating them. Random numbers
 * come from the Philox generator (src/rng.h), keyed by (seed, tree index), so tree i
 * never depends on how many trees follow it.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../checked.h"
#include "../rng.h"
#include "../status_impl.h"
#include "kiln/tree.h"
#include "linalg.h"

#define STREAM_TREE     (UINT64_C(0x5452) << 48) /* + tree index */
#define STREAM_PAIR     UINT64_C(0x54525041)
#define MAX_DRAWS       100000 /* candidates per tree before giving up */
#define MAX_PARSE_DEPTH 64

/* ==== Building sets ==== */

static int arity(int32_t op)
{
    return op == KILN_TREE_NOT ? 1 : op >= KILN_TREE_AND ? 2 : 0;
}

void kiln_tree_set_fini(struct kiln_tree_set *s)
{
    if (s == NULL) {
        return;
    }
    free(s->first);
    free(s->op);
    free(s->left);
    free(s->right);
    free(s->level);
    free(s->value);
    free(s->label);
    memset(s, 0, sizeof(*s));
}

/* Room for the node arrays; cap_trees trees are allocated up front. */
struct builder {
    struct kiln_tree_set *s;
    int64_t cap;
};

static int grow(struct builder *b)
{
    if (b->s->n_nodes < b->cap) {
        return 1;
    }
    int64_t cap = b->cap ? 2 * b->cap : 1024;
    if (cap > INT32_MAX) {
        return 0;
    }
    int32_t **arrays[] = {&b->s->op, &b->s->left, &b->s->right, &b->s->level, &b->s->value};
    for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++) {
        int32_t *p = realloc(*arrays[i], (size_t)cap * sizeof(int32_t)); /* cap <= 2^31 */
        if (p == NULL) {
            return 0;
        }
        *arrays[i] = p;
    }
    b->cap = cap;
    return 1;
}

/* Appends a node over children l, r (-1: none); returns its index, or -1 when out of
 * memory. */
static int32_t push(struct builder *b, int32_t op, int32_t l, int32_t r)
{
    if (!grow(b)) {
        return -1;
    }
    struct kiln_tree_set *s = b->s;
    int32_t k = (int32_t)s->n_nodes++;
    int32_t vl = l >= 0 ? s->value[l] : 0, vr = r >= 0 ? s->value[r] : 0;
    int32_t hl = l >= 0 ? s->level[l] : -1, hr = r >= 0 ? s->level[r] : -1;
    s->op[k] = op;
    s->left[k] = l;
    s->right[k] = r;
    s->level[k] = 1 + (hl > hr ? hl : hr);
    switch (op) {
    case KILN_TREE_NOT:
        s->value[k] = !vl;
        break;
    case KILN_TREE_AND:
        s->value[k] = vl & vr;
        break;
    case KILN_TREE_OR:
        s->value[k] = vl | vr;
        break;
    case KILN_TREE_XOR:
        s->value[k] = vl ^ vr;
        break;
    default:
        s->value[k] = op == KILN_TREE_TRUE;
    }
    return k;
}

static kiln_status builder_init(struct builder *b, struct kiln_tree_set *s, int64_t n_trees)
{
    memset(s, 0, sizeof(*s));
    b->s = s;
    b->cap = 0;
    s->first = kiln__array_alloc(n_trees + 1, sizeof(int64_t));
    s->label = kiln__array_alloc(n_trees + 1, sizeof(int32_t));
    if (s->first == NULL || s->label == NULL || !grow(b)) {
        kiln_tree_set_fini(s);
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for %lld trees",
                         (long long)n_trees);
    }
    s->first[0] = 0;
    return KILN_OK;
}

/* Closes tree t, whose nodes end at n_nodes. */
static void close_tree(struct kiln_tree_set *s, int64_t t)
{
    s->first[t + 1] = s->n_nodes;
    s->label[t] = s->value[s->n_nodes - 1];
    s->n_trees = t + 1;
}

/* ==== Generation ==== */

struct draws {
    uint64_t seed, stream, counter;
    uint32_t buf[4];
    int k;
};

static uint32_t draw(struct draws *d)
{
    if (d->k == 4) {
        kiln__philox(d->seed, d->stream, d->counter++, d->buf);
        d->k = 0;
    }
    return d->buf[d->k++];
}

/* Appends a random subtree of height at most depth; returns its root or -1 (OOM). */
static int32_t gen(struct builder *b, struct draws *d, int depth, int root, double leaf_prob)
{
    int leaf = depth == 0 || (!root && kiln__u01(draw(d)) < (float)leaf_prob);
    if (leaf) {
        return push(b, (int32_t)(draw(d) & 1u), -1, -1);
    }
    int32_t op = KILN_TREE_NOT + (int32_t)(draw(d) % 4u);
    int32_t l = gen(b, d, depth - 1, 0, leaf_prob);
    int32_t r = l >= 0 && arity(op) == 2 ? gen(b, d, depth - 1, 0, leaf_prob) : -1;
    if (l < 0 || (arity(op) == 2 && r < 0)) {
        return -1;
    }
    return push(b, op, l, r);
}

/* FNV-1a over a tree's post-order symbols, which identify it (arities are fixed). */
static uint64_t tree_hash(const struct kiln_tree_set *s, int64_t from, int64_t to)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (int64_t i = from; i < to; i++) {
        h = (h ^ (uint64_t)s->op[i]) * UINT64_C(1099511628211);
    }
    return h | 1; /* 0 marks an empty slot */
}

/* Inserts h into the open-addressing table (mask + 1 slots); 0 when already there. */
static int insert_hash(uint64_t *table, uint64_t mask, uint64_t h)
{
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        if (table[i] == h) {
            return 0;
        }
        if (table[i] == 0) {
            table[i] = h;
            return 1;
        }
    }
}

static kiln_status check_tree_options(const struct kiln_tree_options *o)
{
    if (o->struct_size < sizeof(*o) || o->n_trees < 1 || o->n_trees > (INT64_C(1) << 26) ||
        o->max_depth < 1 || o->max_depth > 6 || o->min_depth < 1 || o->min_depth > o->max_depth ||
        !(o->leaf_prob >= 0.0 && o->leaf_prob < 1.0)) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_tree_generate: bad options (n_trees %lld, depth %d..%d, "
                         "leaf_prob %g)",
                         (long long)o->n_trees, o->min_depth, o->max_depth, o->leaf_prob);
    }
    return KILN_OK;
}

/* Draws tree t until it has the wanted label and height and, with a table, is new. */
static kiln_status gen_tree(struct builder *b, const struct kiln_tree_options *o, int64_t t,
                            int32_t want, uint64_t *table, uint64_t mask)
{
    struct kiln_tree_set *s = b->s;
    struct draws d = {o->seed, STREAM_TREE + (uint64_t)t, 0, {0}, 4};
    for (int64_t tries = 0; tries < MAX_DRAWS; tries++) {
        s->n_nodes = s->first[t];
        int32_t root = gen(b, &d, o->max_depth, 1, o->leaf_prob);
        if (root < 0) {
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for tree %lld",
                             (long long)t);
        }
        if (s->value[root] == want && s->level[root] >= o->min_depth &&
            (table == NULL || insert_hash(table, mask, tree_hash(s, s->first[t], s->n_nodes)))) {
            close_tree(s, t);
            return KILN_OK;
        }
    }
    return KILN_FAIL(KILN_E_INVALID_ARG,
                     "kiln_tree_generate: no%s tree of depth %d..%d with value %d in %d draws "
                     "for tree %lld; ask for fewer%s trees, a larger depth or a lower leaf_prob",
                     table ? " new" : "", o->min_depth, o->max_depth, want, MAX_DRAWS, (long long)t,
                     table ? " unique" : "");
}

kiln_status kiln_tree_generate(const struct kiln_tree_options *o, struct kiln_tree_set *out)
{
    struct kiln_tree_options def = KILN_TREE_OPTIONS_INIT;
    o = o != NULL ? o : &def;
    if (out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_tree_generate: NULL out");
    }
    memset(out, 0, sizeof(*out));
    KILN_TRY(check_tree_options(o));
    struct builder b;
    KILN_TRY(builder_init(&b, out, o->n_trees));
    uint64_t mask = 0, *table = NULL;
    if (o->unique) {
        for (mask = 1; mask < 2 * (uint64_t)o->n_trees; mask <<= 1) {
        }
        table = calloc(mask, sizeof(uint64_t));
        mask -= 1;
        if (table == NULL) {
            kiln_tree_set_fini(out);
            return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for %lld trees",
                             (long long)o->n_trees);
        }
    }
    kiln_status s = KILN_OK;
    for (int64_t t = 0; s == KILN_OK && t < o->n_trees; t++) {
        uint32_t coin[4];
        kiln__philox(o->seed, STREAM_PAIR, (uint64_t)(t / 2), coin);
        int32_t want = (int32_t)((coin[0] & 1u) ^ (uint32_t)(t & 1));
        s = gen_tree(&b, o, t, want, table, mask);
    }
    free(table);
    if (s != KILN_OK) {
        kiln_tree_set_fini(out);
    }
    return s;
}

/* ==== Parsing and printing ==== */

struct parser {
    const char *text;
    size_t pos;
    struct builder *b;
};

static void skip_space(struct parser *p)
{
    while (isspace((unsigned char)p->text[p->pos])) {
        p->pos++;
    }
}

static int at_delimiter(const struct parser *p)
{
    char c = p->text[p->pos];
    return c == '\0' || c == '(' || c == ')' || isspace((unsigned char)c);
}

/* Reads an operator name after '(' into *op. */
static kiln_status parse_op(struct parser *p, int32_t *op)
{
    static const struct {
        const char *name;
        int32_t op;
    } ops[] = {{"not", KILN_TREE_NOT},
               {"and", KILN_TREE_AND},
               {"or", KILN_TREE_OR},
               {"xor", KILN_TREE_XOR}};
    size_t start = p->pos;
    while (isalpha((unsigned char)p->text[p->pos])) {
        p->pos++;
    }
    size_t len = p->pos - start;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (len == strlen(ops[i].name) && strncasecmp(p->text + start, ops[i].name, len) == 0 &&
            at_delimiter(p)) {
            *op = ops[i].op;
            return KILN_OK;
        }
    }
    return KILN_FAIL(KILN_E_FORMAT,
                     "tree expression: byte offset %zu: expected not, and, or or xor after '('",
                     start);
}

static kiln_status parse_expr(struct parser *p, int depth, int32_t *node)
{
    skip_space(p);
    char c = p->text[p->pos];
    if (depth > MAX_PARSE_DEPTH) {
        return KILN_FAIL(KILN_E_FORMAT, "tree expression: byte offset %zu: nested deeper than %d",
                         p->pos, MAX_PARSE_DEPTH);
    }
    if (c == '0' || c == '1') {
        p->pos++;
        if (!at_delimiter(p)) {
            return KILN_FAIL(KILN_E_FORMAT,
                             "tree expression: byte offset %zu: expected white space or a "
                             "parenthesis after the literal",
                             p->pos);
        }
        *node = push(p->b, c == '1' ? KILN_TREE_TRUE : KILN_TREE_FALSE, -1, -1);
        return *node >= 0 ? KILN_OK : KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    if (c != '(') {
        return KILN_FAIL(KILN_E_FORMAT, "tree expression: byte offset %zu: expected 0, 1 or '('%s",
                         p->pos, c == '\0' ? " before the end" : "");
    }
    p->pos++;
    skip_space(p);
    int32_t op = KILN_TREE_NOT, l = -1, r = -1;
    KILN_TRY(parse_op(p, &op));
    KILN_TRY(parse_expr(p, depth + 1, &l));
    if (arity(op) == 2) {
        KILN_TRY(parse_expr(p, depth + 1, &r));
    }
    skip_space(p);
    if (p->text[p->pos] != ')') {
        return KILN_FAIL(KILN_E_FORMAT, "tree expression: byte offset %zu: expected ')'", p->pos);
    }
    p->pos++;
    *node = push(p->b, op, l, r);
    return *node >= 0 ? KILN_OK : KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory");
}

kiln_status kiln_tree_parse(const char *text, struct kiln_tree_set *out)
{
    if (text == NULL || out == NULL) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_tree_parse: NULL argument");
    }
    /* Every tree takes at least one byte, so there are at most strlen + 1 of them. */
    size_t len = strlen(text);
    if (len > (size_t)INT32_MAX) { /* nodes are numbered by int32_t */
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_tree_parse: %zu bytes of text; at most 2^31 - 1",
                         len);
    }
    struct builder b;
    KILN_TRY(builder_init(&b, out, (int64_t)len + 1));
    struct parser p = {text, 0, &b};
    kiln_status s = KILN_OK;
    int64_t t = 0;
    for (skip_space(&p); s == KILN_OK && text[p.pos] != '\0'; skip_space(&p)) {
        int32_t root;
        s = parse_expr(&p, 1, &root);
        if (s == KILN_OK) {
            close_tree(out, t++);
        }
    }
    if (s == KILN_OK && t == 0) {
        s = KILN_FAIL(KILN_E_FORMAT, "tree expression: no expression in the text");
    }
    if (s != KILN_OK) {
        kiln_tree_set_fini(out);
    }
    return s;
}

/* Appends s to buf[*n ..] while it fits below cap, and counts its length. */
static void put(char *buf, size_t cap, size_t *n, const char *s)
{
    size_t len = strlen(s);
    if (*n + len < cap) {
        memcpy(buf + *n, s, len);
    }
    *n += len;
}

static void format_node(const struct kiln_tree_set *s, int32_t k, char *buf, size_t cap, size_t *n)
{
    static const char *names[KILN_TREE_N_OPS] = {"0", "1", "(not ", "(and ", "(or ", "(xor "};
    put(buf, cap, n, names[s->op[k]]);
    if (s->left[k] >= 0) {
        format_node(s, s->left[k], buf, cap, n);
    }
    if (s->right[k] >= 0) {
        put(buf, cap, n, " ");
        format_node(s, s->right[k], buf, cap, n);
    }
    if (arity(s->op[k]) > 0) {
        put(buf, cap, n, ")");
    }
}

kiln_status kiln_tree_format(const struct kiln_tree_set *s, int64_t t, char *buf, size_t cap,
                             size_t *n_bytes)
{
    if (s == NULL || n_bytes == NULL || t < 0 || t >= s->n_trees || (buf == NULL && cap > 0)) {
        return KILN_FAIL(KILN_E_INVALID_ARG, "kiln_tree_format: bad argument (tree %lld)",
                         (long long)t);
    }
    size_t n = 0;
    format_node(s, (int32_t)(s->first[t + 1] - 1), buf, cap, &n);
    if (n < cap) {
        buf[n] = '\0';
    }
    *n_bytes = n;
    return KILN_OK;
}

/* ==== The bag-of-symbols baseline ==== */

#define N_FEAT (KILN_TREE_N_OPS + 1) /* symbol counts and a constant */

static void features(const struct kiln_tree_set *s, int64_t t, double *x)
{
    for (int k = 0; k < KILN_TREE_N_OPS; k++) {
        x[k] = 0.0;
    }
    for (int64_t i = s->first[t]; i < s->first[t + 1]; i++) {
        x[s->op[i]] += 1.0;
    }
    x[KILN_TREE_N_OPS] = 1.0;
}

static double sigmoid(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

/* One Newton step of L2-regularized logistic regression on rows [0, n) of x; returns
 * the size of the step, or -1 when the Hessian is singular. */
static double newton_step(const double *x, const int32_t *y, int64_t n, double *w)
{
    double g[N_FEAT] = {0}, h[N_FEAT * N_FEAT] = {0};
    const double lambda = 1e-3;
    for (int64_t i = 0; i < n; i++) {
        const double *xi = x + i * N_FEAT;
        double z = 0.0;
        for (int j = 0; j < N_FEAT; j++) {
            z += w[j] * xi[j];
        }
        double p = sigmoid(z), r = p * (1.0 - p);
        for (int j = 0; j < N_FEAT; j++) {
            g[j] += (p - y[i]) * xi[j];
            for (int k = 0; k < N_FEAT; k++) {
                h[j * N_FEAT + k] += r * xi[j] * xi[k];
            }
        }
    }
    for (int j = 0; j < N_FEAT; j++) {
        g[j] += lambda * w[j];
        h[j * N_FEAT + j] += lambda;
    }
    if (kiln__cholesky_solve(h, g, N_FEAT) != 0) {
        return -1.0;
    }
    double step = 0.0;
    for (int j = 0; j < N_FEAT; j++) {
        w[j] -= g[j];
        step = fmax(step, fabs(g[j]));
    }
    return step;
}

static double accuracy(const double *x, const int32_t *y, int64_t n, const double *w)
{
    int64_t right = 0;
    for (int64_t i = 0; i < n; i++) {
        double z = 0.0;
        for (int j = 0; j < N_FEAT; j++) {
            z += w[j] * x[i * N_FEAT + j];
        }
        right += (z > 0.0) == (y[i] == 1);
    }
    return (double)right / (double)n;
}

kiln_status kiln_tree_bag_baseline(const struct kiln_tree_set *s, int64_t n_train,
                                   double *train_acc, double *test_acc)
{
    if (s == NULL || n_train < 1 || n_train >= s->n_trees) {
        return KILN_FAIL(KILN_E_INVALID_ARG,
                         "kiln_tree_bag_baseline: n_train %lld leaves a part of the %lld trees "
                         "empty",
                         (long long)n_train, (long long)(s != NULL ? s->n_trees : 0));
    }
    double *x = kiln__array_alloc(s->n_trees, N_FEAT * sizeof(double));
    if (x == NULL) {
        return KILN_FAIL(KILN_E_OUT_OF_HOST_MEMORY, "out of host memory for the baseline");
    }
    for (int64_t t = 0; t < s->n_trees; t++) {
        features(s, t, x + t * N_FEAT);
    }
    double w[N_FEAT] = {0};
    for (int it = 0; it < 50; it++) {
        double step = newton_step(x, s->label, n_train, w);
        if (step < 1e-10) {
            break; /* converged, or singular (cannot happen with the ridge term) */
        }
    }
    if (train_acc != NULL) {
        *train_acc = accuracy(x, s->label, n_train, w);
    }
    if (test_acc != NULL) {
        *test_acc = accuracy(x + n_train * N_FEAT, s->label + n_train, s->n_trees - n_train, w);
    }
    free(x);
    return KILN_OK;
}
