/*
 * test_golden.c - checks a backend against PyTorch. For every row of the op harness
 * (tests/ops/) and every extra case of golden_cases.c it loads the golden file under
 * data/ (inputs, params, PyTorch's outputs, gradients and updated tensors), builds the
 * case graph on the backend named by argv[1] (cpu, opencl, vulkan; exit 77 when it is
 * not available), runs it and compares: the output with the row's tolerance or the
 * loosest descriptor tolerance of its forward nodes, every gradient with that widened
 * by the tolerances of the backward nodes (as the harness does), see golden_tol() for
 * the one looser golden tolerance. A coverage test fails when an op of op_list.h or a
 * harness row has no golden file, or a golden file belongs to no case.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "graph/compare.h"
#include "op_harness.h"

static const char *backend = "cpu";
static const char *golden_dir = "tests/golden";

static kiln_context *make_ctx(void)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = backend;
    o.check = 0;
    kiln_context *ctx = NULL;
    ck_assert_msg(kiln_context_create(&o, &ctx) == KILN_OK, "%s", kiln_last_error());
    return ctx;
}

static const struct kiln__st_tensor *need(const struct kiln__st_file *f, const char *name,
                                          const struct gd_case *c)
{
    const struct kiln__st_tensor *t = kiln__st_find(f, name);
    ck_assert_msg(t != NULL, "golden %s (%s): no tensor '%s' in %s; regenerate the goldens",
                  c->name, kiln__ops[c->op]->name, name, f->path);
    return t;
}

static struct kiln__tol widen(struct kiln__tol a, struct kiln__tol b)
{
    struct kiln__tol r = {fmax(a.nmse, b.nmse), fmax(a.abs, b.abs), fmax(a.rel, b.rel)};
    return r;
}

static void expect(const struct gd_case *c, const char *what, const struct kiln__st_tensor *ref,
                   const void *got, int64_t n, kiln_dtype dt, const struct kiln__tol *tol)
{
    struct kiln__cmp r;
    ck_assert_msg(ref->n_elems == n, "golden %s (%s): '%s' has %lld elements, kiln %lld", c->name,
                  kiln__ops[c->op]->name, what, (long long)ref->n_elems, (long long)n);
    bool ok = dt == KILN_DTYPE_I32 ? kiln__compare_i32(ref->data, got, n, &r)
                                   : kiln__compare_f32(ref->data, got, n, tol, &r);
    if (getenv("KILN_GOLDEN_VERBOSE") != NULL) {
        printf("%-22s %-8s nmse %.2e max_abs %.2e max_rel %.2e (tol %g %g %g)\n", c->name, what,
               r.nmse, r.max_abs, r.max_rel, tol->nmse, tol->abs, tol->rel);
    }
    ck_assert_msg(ok,
                  "golden %s (op %s, backend %s): %s differs from PyTorch (%s): element %lld "
                  "torch %.9g kiln %.9g; nmse %.3g max_abs %.3g max_rel %.3g (tol nmse %g abs "
                  "%g rel %g)",
                  c->name, kiln__ops[c->op]->name, backend, what, r.why ? r.why : "?",
                  (long long)r.worst, r.ref_v, r.got_v, r.nmse, r.max_abs, r.max_rel, tol->nmse,
                  tol->abs, tol->rel);
}

/*
 * The golden tolerance of an op: its descriptor's, except where kiln's float32 formula
 * itself is less accurate than that against the exact (float64) PyTorch result.
 * GELU and GELU_BWD: the tanh form evaluates 1 + tanh(u), which cancels for x < -3, so
 * the float32 result has an absolute error of a few ulp(1) * |dy| (about 1e-6 for |dy|
 * up to 3; PyTorch's float32 kernel has the same cancellation). Every backend runs the
 * same formula, so the descriptor's abs 1e-6 holds between backends but not against the
 * exact value: abs 5e-6 here.
 */
static struct kiln__tol golden_tol(int op, const struct kiln__tol *t)
{
    struct kiln__tol r = *t;
    if (op == KILN_OP_GELU || op == KILN_OP_GELU_BWD) {
        r.abs = fmax(r.abs, 5e-6);
    }
    return r;
}

/* Whether a node of g has an op with no kernel at all on g's backend. */
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

/* A case graph built on the backend under test. */
struct built {
    kiln_graph *g;
    int n_in;
    kiln_tensor *in[OH_MAX_IN], *y, *w;
};

/*
 * Checks the case graph b against the golden file stem: the file must hold the row's
 * params bytes and input shapes; then the inputs (and w) are uploaded, the graph runs
 * steps times (an optimizer row gets the step's params and gradient each time) and the
 * output, every gradient and every updated input are compared with PyTorch's.
 */
static void check_golden(const char *stem, int op, struct built *b, const void *raw,
                         const struct kiln__tol *row_tol, int steps, bool set_steps)
{
    const struct kiln__op_desc *d = kiln__ops[op];
    /* Output: the row's tolerance, or the loosest of the forward nodes' (a custom build
     * may end in another op than the row's, e.g. exp after a view). */
    struct kiln__tol tol_v = golden_tol(op, row_tol);
    for (int32_t i = 0; row_tol == &d->tol && i < b->g->n_nodes; i++) {
        const kiln_tensor *t = b->g->nodes[i];
        if (t->op != KILN__OP_LEAF && !(t->flags & KILN__F_BACKWARD)) {
            tol_v = widen(tol_v, golden_tol(t->op, &kiln__ops[t->op]->tol));
        }
        if (t == b->y) {
            break;
        }
    }
    const struct kiln__tol *tol = &tol_v;
    struct gd_case cc = {.name = stem, .op = op}; /* for messages */
    const struct gd_case *c = &cc;
    char path[1024];
    struct kiln__st_file f;
    snprintf(path, sizeof(path), "%s/data/%s.safetensors", golden_dir, stem);
    ck_assert_msg(kiln__st_read(path, &f) == KILN_OK, "%s (regenerate: tools/golden/README.md)",
                  kiln_last_error());
    const struct kiln__st_tensor *pt = need(&f, "params", c);
    /* The file holds at least the op's parameter bytes (older files all of a node's). */
    ck_assert_msg(pt->n_bytes >= d->params_bytes && memcmp(pt->data, raw, d->params_bytes) == 0,
                  "golden %s: params differ from the case row; regenerate the goldens", stem);
    int32_t gh[2];
    gd_graph_hash(b->g, b->y, gh);
    const struct kiln__st_tensor *ght = need(&f, "graph_hash", c);
    ck_assert_msg(ght->n_bytes == sizeof(gh) && memcmp(ght->data, gh, sizeof(gh)) == 0,
                  "golden %s: the case's graph differs from the golden's; regenerate the goldens",
                  stem);
    const struct kiln__st_tensor *ref_in[OH_MAX_IN] = {0};
    for (int i = 0; i < b->n_in; i++) {
        char nm[8];
        snprintf(nm, sizeof(nm), "in%d", i);
        ref_in[i] = need(&f, nm, c);
        struct kiln_shape s;
        kiln_tensor_shape(b->in[i], &s);
        bool shape_ok = ref_in[i]->rank == s.rank;
        for (int32_t k = 0; shape_ok && k < s.rank; k++) {
            shape_ok = ref_in[i]->dims[k] == s.dims[k];
        }
        ck_assert_msg(shape_ok, "golden %s: input %d shape differs from the case row", stem, i);
    }
    /* Gradients: the loosest of the output tolerance and every backward node's. */
    struct kiln__tol gtol = *tol;
    for (int32_t i = 0; i < b->g->n_nodes; i++) {
        const kiln_tensor *t = b->g->nodes[i];
        if ((t->flags & KILN__F_BACKWARD) && t->op != KILN__OP_LEAF) {
            gtol = widen(gtol, golden_tol(t->op, &kiln__ops[t->op]->tol));
        }
    }
    kiln_status cs = kiln_graph_compile(b->g);
    if (cs == KILN_E_UNSUPPORTED && missing_kernel(b->g)) {
        /* An op without a kernel on this backend yet: listed, not failed (as test_ops). */
        printf("UNSUPPORTED golden %s on %s: %s\n", stem, backend, kiln_last_error());
        kiln__st_free(&f);
        return;
    }
    ck_assert_msg(cs == KILN_OK, "golden %s: %s", stem, kiln_last_error());
    for (int i = 0; i < b->n_in; i++) {
        ck_assert_msg(kiln_tensor_upload(b->in[i], ref_in[i]->data, ref_in[i]->n_bytes) == KILN_OK,
                      "%s", kiln_last_error());
    }
    if (b->w != NULL) {
        const struct kiln__st_tensor *wt = need(&f, "w", c);
        ck_assert_msg(kiln_tensor_upload(b->w, wt->data, wt->n_bytes) == KILN_OK, "%s",
                      kiln_last_error());
    }
    bool inplace = (d->flags & KILN__OPF_INPLACE) != 0;
    for (int t = 1; t <= steps; t++) {
        if (inplace && set_steps) {
            gd_set_step(b->y, t);
        }
        if (t > 1) {
            char nm[16];
            snprintf(nm, sizeof(nm), "in1_s%d", t);
            const struct kiln__st_tensor *gt = need(&f, nm, c);
            ck_assert_int_eq(kiln_tensor_upload(b->in[1], gt->data, gt->n_bytes), KILN_OK);
        }
        ck_assert_msg(kiln_graph_run(b->g) == KILN_OK, "golden %s on %s: %s", stem, backend,
                      kiln_last_error());
    }
    if (inplace) {
        for (int i = 0; i < b->n_in; i++) {
            if (d->inplace_mask & (1u << i)) {
                char nm[8];
                snprintf(nm, sizeof(nm), "out%d", i);
                const struct kiln__st_tensor *ref = need(&f, nm, c);
                float *got = malloc(ref_in[i]->n_bytes + 4);
                ck_assert_int_eq(kiln_tensor_download(b->in[i], got, ref_in[i]->n_bytes), KILN_OK);
                expect(c, nm, ref, got, ref_in[i]->n_elems, KILN_DTYPE_F32, tol);
                free(got);
            }
        }
    } else if (kiln_tensor_n_elems(b->y) > 0) {
        const struct kiln__st_tensor *ref = need(&f, "out", c);
        size_t nb = kiln_tensor_n_bytes(b->y);
        void *got = malloc(nb + 4);
        ck_assert_int_eq(kiln_tensor_download(b->y, got, nb), KILN_OK);
        expect(c, "output", ref, got, kiln_tensor_n_elems(b->y), kiln_tensor_dtype(b->y), tol);
        free(got);
    }
    /* The inputs an op writes besides its output (its riders): out<i>, by dtype. */
    for (int i = 0; (d->flags & KILN__OPF_ALSO_WRITES) && i < b->n_in; i++) {
        if (d->inplace_mask & (1u << i)) {
            char nm[8];
            snprintf(nm, sizeof(nm), "out%d", i);
            const struct kiln__st_tensor *ref = need(&f, nm, c);
            void *got = malloc(ref_in[i]->n_bytes + 4);
            ck_assert_int_eq(kiln_tensor_download(b->in[i], got, ref_in[i]->n_bytes), KILN_OK);
            expect(c, nm, ref, got, ref_in[i]->n_elems, kiln_tensor_dtype(b->in[i]), tol);
            free(got);
        }
    }
    for (int i = 0; i < b->n_in; i++) {
        kiln_tensor *gt = kiln_tensor_grad(b->in[i]);
        if (gt == NULL) {
            continue;
        }
        char nm[8];
        snprintf(nm, sizeof(nm), "grad%d", i);
        const struct kiln__st_tensor *ref = need(&f, nm, c);
        float *got = malloc(ref_in[i]->n_bytes + 4);
        ck_assert_int_eq(kiln_tensor_download(gt, got, ref_in[i]->n_bytes), KILN_OK);
        expect(c, nm, ref, got, ref_in[i]->n_elems, KILN_DTYPE_F32, &gtol);
        free(got);
    }
    kiln__st_free(&f);
}

/* The extra cases of golden_cases.c. */
START_TEST(test_own_case)
{
    const struct gd_case *c = &gd_cases[_i];
    union gd_params p;
    struct built b = {.n_in = gd_n_in(c)};
    gd_params_of(c, &p);
    kiln_context *ctx = make_ctx();
    ck_assert_int_eq(kiln_graph_create(ctx, &b.g), KILN_OK);
    ck_assert_msg(gd_build(b.g, c, b.in, &b.y, &b.w) == KILN_OK, "%s", kiln_last_error());
    check_golden(c->name, c->op, &b, p.raw, &kiln__ops[c->op]->tol, 1, false);
    kiln_graph_destroy(b.g);
    kiln_context_destroy(ctx);
}
END_TEST

static int n_harness_cases(void)
{
    int n = 0;
    for (int fi = 0; oh_families[fi] != NULL; fi++) {
        n += oh_families[fi]->n_cases;
    }
    return n;
}

/* Harness row number idx over all families. [out] f, k. */
static void harness_row(int idx, const struct oh_family **f, int *k)
{
    for (int fi = 0; oh_families[fi] != NULL; fi++) {
        if (idx < oh_families[fi]->n_cases) {
            *f = oh_families[fi];
            *k = idx;
            return;
        }
        idx -= oh_families[fi]->n_cases;
    }
    *f = NULL;
}

/* Every case of the op harness (tests/ops/). */
START_TEST(test_harness_case)
{
    const struct oh_family *f;
    int k = 0;
    char stem[256];
    harness_row(_i, &f, &k);
    const struct oh_case *c = &f->cases[k];
    gd_harness_stem(f->name, f->cases, k, stem, sizeof(stem));
    struct built b = {.n_in = oh_n_in(c)};
    kiln_context *ctx = make_ctx();
    ck_assert_int_eq(kiln_graph_create(ctx, &b.g), KILN_OK);
    ck_assert_msg(oh_build(b.g, c, b.in, &b.y, &b.w) == KILN_OK, "%s", kiln_last_error());
    check_golden(stem, c->op, &b, c->p.raw, c->tol ? c->tol : &kiln__ops[c->op]->tol,
                 c->steps > 0 ? c->steps : 1, true);
    kiln_graph_destroy(b.g);
    kiln_context_destroy(ctx);
}
END_TEST

/* Adds " stale:<file>" to missing for every golden file under dir whose stem (relative
 * to data/) is not in stems. */
static void find_stale(const char *dir, const char *prefix, char **stems, int n_stems,
                       char *missing, size_t n)
{
    DIR *dp = opendir(dir);
    if (dp == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        const char *dot = strstr(e->d_name, ".safetensors");
        if (dot == NULL || strcmp(dot, ".safetensors") != 0) {
            continue;
        }
        char stem[512];
        snprintf(stem, sizeof(stem), "%s%.*s", prefix, (int)(dot - e->d_name), e->d_name);
        bool found = false;
        for (int i = 0; i < n_stems && !found; i++) {
            found = strcmp(stems[i], stem) == 0;
        }
        if (!found) {
            size_t k = strlen(missing);
            snprintf(missing + k, n - k, " stale:%s", stem);
        }
    }
    closedir(dp);
}

/* Every op of op_list.h and every harness row has a golden file; every golden file
 * belongs to a case. */
START_TEST(test_coverage)
{
    static char missing[16384];
    int n_h = n_harness_cases(), n_stems = 0;
    char **stems = calloc((size_t)(gd_n_cases + n_h), sizeof(char *));
    unsigned char covered[KILN_OP_COUNT] = {0};
    missing[0] = '\0';
    for (int i = 0; i < gd_n_cases; i++) {
        stems[n_stems++] = strdup(gd_cases[i].name);
        covered[gd_cases[i].op] = 1;
    }
    for (int i = 0; i < n_h; i++) {
        const struct oh_family *f;
        int k;
        char stem[256];
        harness_row(i, &f, &k);
        gd_harness_stem(f->name, f->cases, k, stem, sizeof(stem));
        stems[n_stems++] = strdup(stem);
        covered[f->cases[k].op] = 1;
    }
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        if (!covered[op]) {
            size_t k = strlen(missing);
            snprintf(missing + k, sizeof(missing) - k, " op:%s", kiln__ops[op]->name);
        }
    }
    for (int i = 0; i < n_stems; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/data/%s.safetensors", golden_dir, stems[i]);
        FILE *fp = fopen(path, "rb");
        if (fp == NULL) {
            size_t k = strlen(missing);
            snprintf(missing + k, sizeof(missing) - k, " no-file:%s", stems[i]);
        } else {
            fclose(fp);
        }
    }
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/data", golden_dir);
    find_stale(dir, "", stems, n_stems, missing, sizeof(missing));
    for (int fi = 0; oh_families[fi] != NULL; fi++) {
        char sub[1200], prefix[64];
        snprintf(sub, sizeof(sub), "%s/%s", dir, oh_families[fi]->name);
        snprintf(prefix, sizeof(prefix), "%s/", oh_families[fi]->name);
        find_stale(sub, prefix, stems, n_stems, missing, sizeof(missing));
    }
    for (int i = 0; i < n_stems; i++) {
        free(stems[i]);
    }
    free(stems);
    ck_assert_msg(missing[0] == '\0', "golden coverage (see tools/golden/README.md):%s", missing);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1) {
        backend = argv[1];
    }
    const char *env = getenv("KILN_GOLDEN_DIR");
    if (env != NULL) {
        golden_dir = env;
    }
    int32_t n_dev = 0;
    if (kiln_backend_devices(backend, NULL, 0, &n_dev) != KILN_OK || n_dev == 0) {
        printf("SKIP: backend %s unavailable: %s\n", backend, kiln_last_error());
        return 77;
    }
    Suite *s = suite_create("golden");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_coverage);
    tcase_add_loop_test(tc, test_own_case, 0, gd_n_cases);
    tcase_add_loop_test(tc, test_harness_case, 0, n_harness_cases());
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
