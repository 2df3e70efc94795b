/*
 * test_golden.c - checks a backend against PyTorch: for every op golden case it loads
 * data/<case>.safetensors (inputs, params, PyTorch's outputs and input gradients), runs
 * the op on the backend named by argv[1] (cpu, opencl, vulkan; exit 77 when it is not
 * available) and compares the output with the op's descriptor tolerance and every
 * gradient with that tolerance widened to kiln__tol_reduction (the gradient graph sums:
 * unbroadcast, matmul transposes). A second test fails when an op of op_list.h has no
 * case, a case has no golden file, or a golden file has no case.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "graph/compare.h"

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

static void case_path(const struct gd_case *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s/data/%s.safetensors", golden_dir, c->name);
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

START_TEST(test_case)
{
    const struct gd_case *c = &gd_cases[_i];
    const struct kiln__op_desc *d = kiln__ops[c->op];
    char path[1024];
    struct kiln__st_file f;
    case_path(c, path, sizeof(path));
    ck_assert_msg(kiln__st_read(path, &f) == KILN_OK, "%s", kiln_last_error());

    /* The file must describe this case: same params bytes, same input shapes. */
    union gd_params p;
    gd_params_of(c, &p);
    const struct kiln__st_tensor *pt = need(&f, "params", c);
    ck_assert_msg(pt->n_bytes == sizeof(p.raw) && memcmp(pt->data, p.raw, sizeof(p.raw)) == 0,
                  "golden %s: params differ from the case table; regenerate the goldens", c->name);
    int n_in = gd_n_in(c);
    kiln_context *ctx = make_ctx();
    kiln_graph *g;
    ck_assert_int_eq(kiln_graph_create(ctx, &g), KILN_OK);
    kiln_tensor *in[KILN__MAX_SRC] = {0};
    const struct kiln__st_tensor *ref_in[KILN__MAX_SRC] = {0};
    for (int i = 0; i < n_in; i++) {
        char nm[8];
        snprintf(nm, sizeof(nm), "in%d", i);
        ref_in[i] = need(&f, nm, c);
        bool shape_ok = ref_in[i]->rank == c->shape[i].rank;
        for (int32_t k = 0; shape_ok && k < c->shape[i].rank; k++) {
            shape_ok = ref_in[i]->dims[k] == c->shape[i].dims[k];
        }
        ck_assert_msg(shape_ok, "golden %s: input %d shape differs from the case table", c->name,
                      i);
        kiln_dtype dt = (c->i32_mask >> i) & 1 ? KILN_DTYPE_I32 : KILN_DTYPE_F32;
        if (gd_input_grad(c, i)) {
            in[i] = kiln_param(g, nm, c->shape[i].rank, c->shape[i].dims, KILN_INIT_ZEROS, 0, 0);
        } else {
            in[i] = kiln_input(g, nm, dt, c->shape[i].rank, c->shape[i].dims);
        }
    }
    kiln_tensor *y = kiln__node(g, c->op, n_in, in, &p, d->params_bytes);
    bool inplace = (d->flags & KILN__OPF_INPLACE) != 0;
    kiln_tensor *w = NULL;
    if (!inplace) {
        kiln_tensor_keep(y);
    }
    if (gd_has_backward(c)) {
        struct kiln_shape ys;
        kiln_tensor_shape(y, &ys);
        w = kiln_input(g, "w", KILN_DTYPE_F32, ys.rank, ys.dims);
        kiln_tensor *prod = kiln_mul(g, y, w);
        kiln_tensor *loss = ys.rank > 0 ? kiln_sum(g, prod, (1u << ys.rank) - 1, 0) : prod;
        ck_assert_msg(kiln_graph_backward(g, loss) == KILN_OK, "%s", kiln_last_error());
        for (int i = 0; i < n_in; i++) {
            if (gd_input_grad(c, i)) {
                kiln_tensor_keep(kiln_tensor_grad(in[i]));
            }
        }
    }
    ck_assert_msg(kiln_graph_compile(g) == KILN_OK, "golden %s: %s", c->name, kiln_last_error());
    for (int i = 0; i < n_in; i++) {
        ck_assert_msg(kiln_tensor_upload(in[i], ref_in[i]->data, ref_in[i]->n_bytes) == KILN_OK,
                      "%s", kiln_last_error());
    }
    if (w != NULL) {
        const struct kiln__st_tensor *wt = need(&f, "w", c);
        ck_assert_msg(kiln_tensor_upload(w, wt->data, wt->n_bytes) == KILN_OK, "%s",
                      kiln_last_error());
    }
    ck_assert_msg(kiln_graph_run(g) == KILN_OK, "golden %s on %s: %s", c->name, backend,
                  kiln_last_error());

    if (inplace) {
        for (int i = 0; i < n_in; i++) {
            if (d->inplace_mask & (1u << i)) {
                char nm[8];
                snprintf(nm, sizeof(nm), "out%d", i);
                const struct kiln__st_tensor *ref = need(&f, nm, c);
                float *got = malloc(ref_in[i]->n_bytes);
                ck_assert_int_eq(kiln_tensor_download(in[i], got, ref_in[i]->n_bytes), KILN_OK);
                expect(c, nm, ref, got, ref_in[i]->n_elems, KILN_DTYPE_F32, &d->tol);
                free(got);
            }
        }
    } else {
        const struct kiln__st_tensor *ref = need(&f, "out", c);
        size_t nb = kiln_tensor_n_bytes(y);
        void *got = malloc(nb + 4);
        ck_assert_int_eq(kiln_tensor_download(y, got, nb), KILN_OK);
        expect(c, "output", ref, got, kiln_tensor_n_elems(y), kiln_tensor_dtype(y), &d->tol);
        free(got);
    }
    struct kiln__tol gtol = widen(d->tol, kiln__tol_reduction);
    for (int i = 0; w != NULL && i < n_in; i++) {
        if (!gd_input_grad(c, i)) {
            continue;
        }
        char nm[8];
        snprintf(nm, sizeof(nm), "grad%d", i);
        const struct kiln__st_tensor *ref = need(&f, nm, c);
        kiln_tensor *gt = kiln_tensor_grad(in[i]);
        ck_assert_msg(gt != NULL, "golden %s: kiln has no gradient for input %d", c->name, i);
        float *got = malloc(ref_in[i]->n_bytes);
        ck_assert_int_eq(kiln_tensor_download(gt, got, ref_in[i]->n_bytes), KILN_OK);
        expect(c, nm, ref, got, ref_in[i]->n_elems, KILN_DTYPE_F32, &gtol);
        free(got);
    }
    kiln_graph_destroy(g);
    kiln_context_destroy(ctx);
    kiln__st_free(&f);
}
END_TEST

/* Every op has a case, every case a golden file, every golden file a case. */
START_TEST(test_coverage)
{
    char missing[4096] = "";
    for (int op = 0; op < KILN_OP_COUNT; op++) {
        bool found = false;
        for (int i = 0; i < gd_n_cases && !found; i++) {
            found = gd_cases[i].op == op;
        }
        if (!found) {
            size_t k = strlen(missing);
            snprintf(missing + k, sizeof(missing) - k, " op:%s", kiln__ops[op]->name);
        }
    }
    for (int i = 0; i < gd_n_cases; i++) {
        char path[1024];
        case_path(&gd_cases[i], path, sizeof(path));
        FILE *fp = fopen(path, "rb");
        if (fp == NULL) {
            size_t k = strlen(missing);
            snprintf(missing + k, sizeof(missing) - k, " file:%s", path);
        } else {
            fclose(fp);
        }
    }
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/data", golden_dir);
    DIR *dp = opendir(dir);
    ck_assert_msg(dp != NULL, "cannot open %s", dir);
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        const char *dot = strstr(e->d_name, ".safetensors");
        if (dot == NULL || strcmp(dot, ".safetensors") != 0) {
            continue;
        }
        bool found = false;
        for (int i = 0; i < gd_n_cases && !found; i++) {
            found = strlen(gd_cases[i].name) == (size_t)(dot - e->d_name) &&
                    strncmp(gd_cases[i].name, e->d_name, (size_t)(dot - e->d_name)) == 0;
        }
        if (!found) {
            size_t k = strlen(missing);
            snprintf(missing + k, sizeof(missing) - k, " stale:%s", e->d_name);
        }
    }
    closedir(dp);
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
    tcase_add_loop_test(tc, test_case, 0, gd_n_cases);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
