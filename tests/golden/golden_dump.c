/*
 * golden_dump.c - writes the inputs of every op golden case to <dir>/<case>.safetensors:
 * in0..in3 (the op's inputs), w (the fixed weights of loss = sum(y * W) when the case
 * has gradients) and params (the op's raw parameter bytes, compared by the test), with
 * the op name, its params as JSON, the inputs that get gradients and the output shape
 * in __metadata__. tools/golden/make_goldens.py then adds PyTorch's results.
 *
 * Usage: golden_dump <dir> [case...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"

static int dump_case(kiln_context *ctx, const struct gd_case *c, const char *dir)
{
    kiln_graph *g = NULL;
    int n_in = gd_n_in(c), rc = 1;
    struct kiln__st_tensor ts[KILN__MAX_SRC + 2];
    void *bufs[KILN__MAX_SRC + 1] = {0};
    union gd_params p;
    memset(ts, 0, sizeof(ts));
    gd_params_of(c, &p);
    if (kiln_graph_create(ctx, &g) != KILN_OK) {
        return 1;
    }
    kiln_tensor *in[KILN__MAX_SRC] = {0};
    for (int i = 0; i < n_in; i++) {
        kiln_dtype dt = (c->i32_mask >> i) & 1 ? KILN_DTYPE_I32 : KILN_DTYPE_F32;
        char nm[8];
        snprintf(nm, sizeof(nm), "in%d", i);
        in[i] = kiln_input(g, nm, dt, c->shape[i].rank, c->shape[i].dims);
        struct kiln__st_tensor *t = &ts[i];
        snprintf(t->name, sizeof(t->name), "in%d", i);
        t->dtype = dt == KILN_DTYPE_I32 ? KILN__ST_I32 : KILN__ST_F32;
        t->rank = c->shape[i].rank;
        for (int32_t d = 0; d < t->rank; d++) {
            t->dims[d] = c->shape[i].dims[d];
        }
        t->n_elems = gd_elems(&c->shape[i]);
        t->n_bytes = (size_t)t->n_elems * 4;
        bufs[i] = calloc((size_t)t->n_elems + 1, 4);
        gd_fill_input(c, i, bufs[i]);
        t->data = bufs[i];
    }
    kiln_tensor *y = kiln__node(g, c->op, n_in, in, &p, kiln__ops[c->op]->params_bytes);
    if (kiln_graph_status(g) != KILN_OK) {
        fprintf(stderr, "%s: %s\n", c->name, kiln_last_error());
        goto done;
    }
    int n_t = n_in;
    struct kiln__st_tensor *pt = &ts[n_t++];
    snprintf(pt->name, sizeof(pt->name), "params");
    pt->dtype = KILN__ST_I32;
    pt->rank = 1;
    pt->dims[0] = KILN__PARAMS_BYTES / 4;
    pt->n_elems = pt->dims[0];
    pt->n_bytes = KILN__PARAMS_BYTES;
    pt->data = p.raw;
    if (gd_has_backward(c)) {
        struct kiln__st_tensor *wt = &ts[n_t++];
        snprintf(wt->name, sizeof(wt->name), "w");
        wt->dtype = KILN__ST_F32;
        wt->rank = y->shape.rank;
        for (int32_t d = 0; d < wt->rank; d++) {
            wt->dims[d] = y->shape.dims[d];
        }
        wt->n_elems = y->n_elems;
        wt->n_bytes = (size_t)y->n_elems * 4;
        bufs[KILN__MAX_SRC] = calloc((size_t)y->n_elems + 1, 4);
        gd_fill_weights(c, y->n_elems, bufs[KILN__MAX_SRC]);
        wt->data = bufs[KILN__MAX_SRC];
    }
    char params[512], grad[32] = "", n_in_s[8], out_shape[96] = "[", path[1024];
    gd_params_json(c, params, sizeof(params));
    for (int i = 0; i < n_in; i++) {
        if (gd_input_grad(c, i)) {
            size_t k = strlen(grad);
            snprintf(grad + k, sizeof(grad) - k, "%s%d", k ? "," : "", i);
        }
    }
    for (int32_t d = 0; d < y->shape.rank; d++) {
        size_t k = strlen(out_shape);
        snprintf(out_shape + k, sizeof(out_shape) - k, "%s%lld", d ? ", " : "",
                 (long long)y->shape.dims[d]);
    }
    strcat(out_shape, "]");
    snprintf(n_in_s, sizeof(n_in_s), "%d", n_in);
    const char *meta[] = {"op",        kiln__ops[c->op]->name,
                          "case",      c->name,
                          "params",    params,
                          "n_in",      n_in_s,
                          "grad",      grad,
                          "out_dtype", y->dtype == KILN_DTYPE_I32 ? "I32" : "F32",
                          "out_shape", out_shape};
    snprintf(path, sizeof(path), "%s/%s.safetensors", dir, c->name);
    if (kiln__st_write_meta(path, ts, n_t, meta, (int32_t)(sizeof(meta) / sizeof(meta[0]) / 2)) !=
        KILN_OK) {
        fprintf(stderr, "%s\n", kiln_last_error());
        goto done;
    }
    rc = 0;
done:
    for (int i = 0; i <= KILN__MAX_SRC; i++) {
        free(bufs[i]);
    }
    kiln_graph_destroy(g);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <dir> [case...]\n", argv[0]);
        return 2;
    }
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    o.backend = "cpu";
    kiln_context *ctx;
    if (kiln_context_create(&o, &ctx) != KILN_OK) {
        fprintf(stderr, "%s\n", kiln_last_error());
        return 1;
    }
    int fails = 0, n = 0;
    for (int i = 0; i < gd_n_cases; i++) {
        bool pick = argc == 2;
        for (int a = 2; a < argc; a++) {
            pick = pick || strcmp(argv[a], gd_cases[i].name) == 0;
        }
        if (pick) {
            fails += dump_case(ctx, &gd_cases[i], argv[1]);
            n++;
        }
    }
    kiln_context_destroy(ctx);
    printf("wrote %d case input files to %s (%d failed)\n", n - fails, argv[1], fails);
    return fails == 0 ? 0 : 1;
}
