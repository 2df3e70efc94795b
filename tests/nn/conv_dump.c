/*
 * conv_dump.c - runs each convolutional-network layer once on the cpu backend with
 * fixed inputs and writes its inputs, output and gradients (of loss = sum(y^2) / 2) to
 * DIR/<case>_<tensor>.bin (raw f32), for torch_conv_ref.py to compare with PyTorch.
 * Usage: conv_dump DIR. Prints one line per case: name and output shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "kiln/nn.h"

static const char *dir;

static void fill(float *a, int64_t n, unsigned s)
{
    for (int64_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        a[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

static int save(const char *tag, const char *what, const kiln_tensor *t)
{
    char p[512];
    size_t nb = kiln_tensor_n_bytes(t);
    float *a = malloc(nb);
    if (a == NULL || kiln_tensor_download(t, a, nb) != KILN_OK) {
        fprintf(stderr, "%s %s: %s\n", tag, what, kiln_last_error());
        free(a);
        return 1;
    }
    snprintf(p, sizeof(p), "%s/%s_%s.bin", dir, tag, what);
    FILE *f = fopen(p, "wb");
    int bad = f == NULL || fwrite(a, 1, nb, f) != nb;
    if (f != NULL) {
        fclose(f);
    }
    free(a);
    return bad;
}

enum { CONV, TCONV, MAXP, AVGP, AVGP0, LRN, BN, UP, CAT, PAD };

static kiln_tensor *layer(kiln_graph *g, int which, kiln_tensor *x, kiln_tensor *w)
{
    struct kiln_conv2d_opts o = KILN_CONV2D_OPTS_INIT;
    struct kiln_pool2d_opts po = {{3, 3}, {2, 2}, {1, 1}, 1};
    int32_t before[4] = {0, 1, 2, 0}, after[4] = {1, 0, 1, 3};
    switch (which) {
    case CONV:
        o.stride[0] = 2, o.padding[0] = 1, o.padding[1] = 2, o.dilation[0] = 2, o.groups = 2;
        return kiln_conv2d(g, x, w, &o);
    case TCONV:
        o.stride[0] = 2, o.stride[1] = 3, o.padding[0] = 1, o.output_padding[0] = 1;
        o.output_padding[1] = 2, o.groups = 2, o.dilation[1] = 2;
        return kiln_conv_transpose2d(g, x, w, &o);
    case MAXP:
        return kiln_max_pool2d(g, x, &po);
    case AVGP:
        return kiln_avg_pool2d(g, x, &po);
    case AVGP0:
        po.count_include_pad = 0;
        return kiln_avg_pool2d(g, x, &po);
    case LRN:
        return kiln_lrn(g, x, 4, 0.3f, 0.75f, 1.5f);
    case BN:
        return kiln_batch_norm(g, x, "bn", 0.1f, 1e-5f);
    case UP:
        return kiln_upsample_nearest2d(g, x, 2, 3);
    case CAT: {
        kiln_tensor *xs[3] = {x, w, x};
        return kiln_concat(g, 3, xs, 1);
    }
    default:
        return kiln_pad(g, x, before, after);
    }
}

static int run(kiln_context *ctx, const char *tag, int which, const int64_t *xd, const int64_t *wd)
{
    kiln_graph *g;
    int bad = 0;
    if (kiln_graph_create(ctx, &g) != KILN_OK) {
        return 1;
    }
    kiln_tensor *x = kiln_param(g, "x", 4, xd, KILN_INIT_ZEROS, 0.0f, 0);
    kiln_tensor *w = wd ? kiln_param(g, "w", 4, wd, KILN_INIT_ZEROS, 0.0f, 0) : NULL;
    kiln_tensor *y = kiln_tensor_keep(layer(g, which, x, w));
    kiln_tensor *loss = kiln_scale(g, kiln_sum(g, kiln_mul(g, y, y), 15, 0), 0.5f);
    if (kiln_graph_backward(g, loss) == KILN_OK) {
        kiln_tensor_keep(kiln_tensor_grad(x));
        if (w != NULL) {
            kiln_tensor_keep(kiln_tensor_grad(w));
        }
        if (which == BN) {
            kiln_tensor_keep(kiln_tensor_grad(kiln_graph_find(g, "bn.weight")));
        }
    }
    if (kiln_graph_status(g) != KILN_OK || kiln_graph_compile(g) != KILN_OK) {
        fprintf(stderr, "%s: %s\n", tag, kiln_last_error());
        kiln_graph_destroy(g);
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        kiln_tensor *t = i == 0 ? x : w;
        if (t != NULL) {
            int64_t n = kiln_tensor_n_elems(t);
            float *a = malloc((size_t)n * sizeof(float));
            fill(a, n, 7u + 13u * (unsigned)which + (unsigned)i);
            bad |= kiln_tensor_upload(t, a, (size_t)n * sizeof(float)) != KILN_OK;
            free(a);
        }
    }
    bad |= kiln_graph_run(g) != KILN_OK;
    bad |= save(tag, "x", x) | save(tag, "y", y) | save(tag, "dx", kiln_tensor_grad(x));
    if (w != NULL) {
        bad |= save(tag, "w", w) | save(tag, "dw", kiln_tensor_grad(w));
    }
    if (which == BN) {
        bad |= save(tag, "running_var", kiln_graph_find(g, "bn.running_var"));
        bad |= save(tag, "dgamma", kiln_tensor_grad(kiln_graph_find(g, "bn.weight")));
        bad |= kiln_graph_eval(g, 1, &y) != KILN_OK;
        bad |= save(tag, "eval", y);
    }
    struct kiln_shape s;
    kiln_tensor_shape(y, &s);
    printf("%s", tag);
    for (int32_t i = 0; i < s.rank; i++) {
        printf(" %lld", (long long)s.dims[i]);
    }
    printf("\n");
    kiln_graph_destroy(g);
    return bad;
}

int main(int argc, char **argv)
{
    struct kiln_context_options o = KILN_CONTEXT_OPTIONS_INIT;
    kiln_context *ctx;
    if (argc != 2) {
        fprintf(stderr, "usage: conv_dump DIR\n");
        return 2;
    }
    dir = argv[1];
    o.backend = "cpu";
    if (kiln_context_create(&o, &ctx) != KILN_OK) {
        fprintf(stderr, "%s\n", kiln_last_error());
        return 1;
    }
    int64_t x0[4] = {2, 4, 9, 8}, w0[4] = {6, 2, 3, 2}, x1[4] = {2, 4, 3, 4}, w1[4] = {4, 3, 3, 2},
            x2[4] = {2, 3, 7, 8}, x5[4] = {2, 6, 2, 3}, x6[4] = {4, 3, 2, 3}, x7[4] = {1, 2, 2, 3},
            w8[4] = {1, 5, 2, 3};
    int bad = run(ctx, "conv", CONV, x0, w0) | run(ctx, "tconv", TCONV, x1, w1) |
              run(ctx, "maxpool", MAXP, x2, NULL) | run(ctx, "avgpool", AVGP, x2, NULL) |
              run(ctx, "avgpool_nopad", AVGP0, x2, NULL) | run(ctx, "lrn", LRN, x5, NULL) |
              run(ctx, "bn", BN, x6, NULL) | run(ctx, "upsample", UP, x7, NULL) |
              run(ctx, "concat", CAT, x7, w8) | run(ctx, "pad", PAD, x7, NULL);
    kiln_context_destroy(ctx);
    return bad;
}
