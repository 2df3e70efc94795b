/*
 * test_tree.c - kiln/tree.h: generation is a pure function of the seed, labels are
 * exactly balanced in every even prefix, depths stay in range, the post-order arrays are
 * consistent (children before parents inside their tree, arities, levels) and every
 * stored value matches an independent evaluation; trees are unique; S-expressions parse
 * and print back; parse errors name the byte offset; the bag-of-symbols baseline solves
 * a task its counts decide and stays near chance on the XOR task.
 */
#include <stdint.h>

#include "train_util.h"

static struct kiln_tree_set gen_set(int64_t n, int min_depth, int max_depth, uint64_t seed)
{
    struct kiln_tree_options o = KILN_TREE_OPTIONS_INIT;
    struct kiln_tree_set s;
    o.n_trees = n;
    o.min_depth = min_depth;
    o.max_depth = max_depth;
    o.seed = seed;
    EXPECT_OK(kiln_tree_generate(&o, &s));
    return s;
}

/* Evaluates node k recursively (independently of the stored values) and checks its
 * structure; returns its value. */
static int eval_node(const struct kiln_tree_set *s, int64_t lo, int32_t k, int *height)
{
    int32_t op = s->op[k], l = s->left[k], r = s->right[k];
    ck_assert(op >= 0 && op < KILN_TREE_N_OPS);
    if (op == KILN_TREE_FALSE || op == KILN_TREE_TRUE) {
        ck_assert_int_eq(l, -1);
        ck_assert_int_eq(r, -1);
        *height = 0;
        return op == KILN_TREE_TRUE;
    }
    ck_assert(l >= lo && l < k);
    int hl, hr = -1, a = eval_node(s, lo, l, &hl), b = 0;
    if (op == KILN_TREE_NOT) {
        ck_assert_int_eq(r, -1);
    } else {
        ck_assert(r >= lo && r < k && r != l);
        b = eval_node(s, lo, r, &hr);
    }
    *height = 1 + (hl > hr ? hl : hr);
    ck_assert_int_eq(s->level[k], *height);
    int v = op == KILN_TREE_NOT   ? !a
            : op == KILN_TREE_AND ? (a & b)
            : op == KILN_TREE_OR  ? (a | b)
                                  : (a ^ b);
    ck_assert_int_eq(s->value[k], v);
    return v;
}

START_TEST(test_tree_generate)
{
    struct kiln_tree_set a = gen_set(1000, 3, 6, 11), b = gen_set(1000, 3, 6, 11);
    struct kiln_tree_set c = gen_set(1000, 3, 6, 12);
    ck_assert_int_eq(a.n_trees, 1000);
    ck_assert_int_eq(a.n_nodes, b.n_nodes);
    ck_assert_mem_eq(a.first, b.first, 1001 * sizeof(int64_t));
    ck_assert_mem_eq(a.op, b.op, (size_t)a.n_nodes * sizeof(int32_t));
    ck_assert_mem_eq(a.label, b.label, 1000 * sizeof(int32_t));
    ck_assert(a.n_nodes != c.n_nodes || memcmp(a.op, c.op, (size_t)a.n_nodes * 4) != 0);
    int64_t ones = 0;
    int64_t depth_count[7] = {0};
    for (int64_t t = 0; t < a.n_trees; t++) {
        int32_t root = (int32_t)(a.first[t + 1] - 1);
        int h;
        ck_assert(a.first[t + 1] > a.first[t]);
        ck_assert_int_eq(eval_node(&a, a.first[t], root, &h), a.label[t]);
        ck_assert(h >= 3 && h <= 6);
        depth_count[h]++;
        ones += a.label[t];
        if (t % 2 == 1) {
            ck_assert_int_eq(ones, (t + 1) / 2); /* every even prefix is balanced */
        }
    }
    ck_assert_int_eq(ones, 500);
    ck_assert_int_gt(depth_count[6], 100); /* most trees reach the limit */
    /* Unique: the printed forms all differ. */
    char *forms = malloc(1000 * 400);
    for (int64_t t = 0; t < a.n_trees; t++) {
        size_t n;
        EXPECT_OK(kiln_tree_format(&a, t, forms + t * 400, 400, &n));
        ck_assert_uint_lt(n, 400);
        for (int64_t u = 0; u < t; u++) {
            ck_assert_str_ne(forms + t * 400, forms + u * 400);
        }
    }
    free(forms);
    /* A shorter set is a prefix of a longer one with the same seed. */
    struct kiln_tree_set p = gen_set(10, 3, 6, 11);
    ck_assert_mem_eq(p.op, a.op, (size_t)p.n_nodes * sizeof(int32_t));
    kiln_tree_set_fini(&p);
    kiln_tree_set_fini(&a);
    kiln_tree_set_fini(&b);
    kiln_tree_set_fini(&c);
    kiln_tree_set_fini(&c);

    struct kiln_tree_set d = gen_set(200, 1, 2, 5);
    for (int64_t t = 0; t < d.n_trees; t++) {
        ck_assert_int_le(d.level[d.first[t + 1] - 1], 2);
    }
    kiln_tree_set_fini(&d);
    struct kiln_tree_options o = KILN_TREE_OPTIONS_INIT;
    o.max_depth = 7;
    EXPECT_FAIL(kiln_tree_generate(&o, &d), KILN_E_INVALID_ARG, "depth 3..7");
    o.max_depth = 2;
    o.min_depth = 1;
    o.n_trees = 2000; /* far more than the distinct trees of height <= 2 */
    EXPECT_FAIL(kiln_tree_generate(&o, &d), KILN_E_INVALID_ARG, "unique");
    ck_assert_ptr_null(d.op);
    o.unique = 0;
    EXPECT_OK(kiln_tree_generate(&o, &d));
    kiln_tree_set_fini(&d);
}
END_TEST

START_TEST(test_tree_parse)
{
    struct kiln_tree_set s;
    EXPECT_OK(kiln_tree_parse(" (XOR 1 0)\n(and 1 (or 0 1))  (not (not 0))\t1 "
                              "(xor (not 1) (and 0 1)) (Or 0\n(xor 1 (not 0)))",
                              &s));
    ck_assert_int_eq(s.n_trees, 6);
    int32_t want[] = {1, 1, 0, 1, 0, 0};
    ck_assert_mem_eq(s.label, want, sizeof(want));
    ck_assert_int_eq(s.first[1], 3);
    int32_t ops0[] = {KILN_TREE_TRUE, KILN_TREE_FALSE, KILN_TREE_XOR};
    ck_assert_mem_eq(s.op, ops0, sizeof(ops0));
    ck_assert_int_eq(s.left[2], 0);
    ck_assert_int_eq(s.right[2], 1);
    ck_assert_int_eq(s.level[2], 1);
    char buf[64];
    size_t n;
    EXPECT_OK(kiln_tree_format(&s, 5, buf, sizeof(buf), &n));
    ck_assert_str_eq(buf, "(or 0 (xor 1 (not 0)))");
    EXPECT_OK(kiln_tree_format(&s, 5, NULL, 0, &n));
    ck_assert_uint_eq(n, strlen("(or 0 (xor 1 (not 0)))"));
    EXPECT_OK(kiln_tree_format(&s, 3, buf, sizeof(buf), &n));
    ck_assert_str_eq(buf, "1");
    EXPECT_FAIL(kiln_tree_format(&s, 6, buf, sizeof(buf), &n), KILN_E_INVALID_ARG, "tree 6");
    kiln_tree_set_fini(&s);

    /* Generated trees print and parse back to the same arrays. */
    struct kiln_tree_set g = gen_set(50, 1, 6, 3), back;
    char *text = calloc(50, 400);
    for (int64_t t = 0; t < g.n_trees; t++) {
        EXPECT_OK(kiln_tree_format(&g, t, text + strlen(text), 400, &n));
        strcat(text, "\n");
    }
    EXPECT_OK(kiln_tree_parse(text, &back));
    ck_assert_int_eq(back.n_trees, g.n_trees);
    ck_assert_int_eq(back.n_nodes, g.n_nodes);
    ck_assert_mem_eq(back.op, g.op, (size_t)g.n_nodes * sizeof(int32_t));
    ck_assert_mem_eq(back.left, g.left, (size_t)g.n_nodes * sizeof(int32_t));
    ck_assert_mem_eq(back.level, g.level, (size_t)g.n_nodes * sizeof(int32_t));
    ck_assert_mem_eq(back.label, g.label, (size_t)g.n_trees * sizeof(int32_t));
    free(text);
    kiln_tree_set_fini(&g);
    kiln_tree_set_fini(&back);

    static const struct {
        const char *text, *why;
    } bad[] = {
        {"(nand 1 0)", "byte offset 1: expected not, and, or or xor"},
        {"(and 1)", "byte offset 6: expected 0, 1 or '('"},
        {"(not 1 0)", "byte offset 7: expected ')'"},
        {"(and 1 0", "byte offset 8: expected ')'"},
        {"(and 1 (or 0", "byte offset 12: expected 0, 1 or '(' before the end"},
        {"2", "byte offset 0: expected 0, 1 or '('"},
        {"1 01", "byte offset 3: expected white space"},
        {"(notx 1)", "byte offset 1"},
        {"  \n", "no expression"},
        {")", "byte offset 0"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT_FAIL(kiln_tree_parse(bad[i].text, &s), KILN_E_FORMAT, bad[i].why);
        ck_assert_ptr_null(s.op);
    }
    char deep[600] = "";
    for (int i = 0; i < 70; i++) {
        strcat(deep, "(not ");
    }
    strcat(deep, "1");
    EXPECT_FAIL(kiln_tree_parse(deep, &s), KILN_E_FORMAT, "nested deeper than 64");
}
END_TEST

START_TEST(test_tree_baseline)
{
    /* Labels that symbol counts decide: (not 0) and (or 1 1) are true, (not 1) and
     * (and 0 0) false; the baseline must learn them. */
    static const char *forms[] = {"(not 0)", "(not 1)", "(or 1 1)", "(and 0 0)"};
    char text[4096] = "";
    for (int i = 0; i < 200; i++) {
        strcat(text, forms[(i * 7 + i / 3) % 4]);
        strcat(text, " ");
    }
    struct kiln_tree_set s;
    double tr, te;
    EXPECT_OK(kiln_tree_parse(text, &s));
    EXPECT_OK(kiln_tree_bag_baseline(&s, 150, &tr, &te));
    ck_assert_double_eq(tr, 1.0);
    ck_assert_double_eq(te, 1.0);
    EXPECT_FAIL(kiln_tree_bag_baseline(&s, 200, &tr, &te), KILN_E_INVALID_ARG, "n_train 200");
    kiln_tree_set_fini(&s);

    /* On the XOR task the counts say little: well below 0.95, near chance. */
    s = gen_set(4000, 3, 6, 1);
    EXPECT_OK(kiln_tree_bag_baseline(&s, 3000, &tr, &te));
    printf("bag-of-symbols baseline, 3000/1000 trees of depth 3..6: train %.4f, test %.4f\n", tr,
           te);
    ck_assert_double_lt(te, 0.7);
    ck_assert_double_gt(te, 0.4);
    ck_assert_double_lt(tr, 0.7);
    kiln_tree_set_fini(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train-tree");
    TCase *tc = tcase_create("tree");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tree_generate);
    tcase_add_test(tc, test_tree_parse);
    tcase_add_test(tc, test_tree_baseline);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
