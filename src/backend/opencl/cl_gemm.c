/*
 * cl_gemm.c - the opencl backend's matrix products: small ones (up to 16M multiply-adds
 * by default; KILN_CL_GEMM=own or clblast chooses for all) on kiln's own kernel
 * (opencl/gemm.cl), which also runs the fused MATMUL_BIAS, MATMUL_RELU_BWD and
 * MATMUL_DB as one launch, and the others through CLBlast's C API (row-major, with
 * element offsets into the pooled buffers, on the backend's queue): CLBlastSgemm
 * for one matrix, CLBlastSgemmStridedBatched when the batch merges into one dim (each
 * operand one stride, 0 where broadcast), CLBlastSgemmBatched with an offset per entry
 * otherwise), the one mapping of
 * CLBlastStatusCode to kiln statuses, and tuning: CLBlast tuner JSON files applied
 * through CLBlastOverrideParameters (KILN_CLBLAST_TUNING=<file.json or directory>).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_impl.h"

#ifdef KILN_HAVE_CLBLAST
#include <clblast_c.h>
#endif
#ifdef KILN_HAVE_CJSON
#include <cjson/cJSON.h>
#endif

/* CLBlast 1.5.3's kernel cache is not thread-safe (fixed in 1.6.1), so contexts on
 * different threads take turns calling it. The one piece of process-wide state. */
#ifdef KILN_HAVE_CLBLAST
static pthread_mutex_t clblast_lock = PTHREAD_MUTEX_INITIALIZER;
#endif

/* ==== CLBlast status ==== */

kiln_status kiln__cl_clblast_fail(int code, const char *what)
{
    kiln_status s;
    const char *why = "";
    if (code > -1000) {
        /* CLBlast passes OpenCL errors through with their own values. */
        s = kiln__cl_status((cl_int)code);
        why = kiln__cl_error_name((cl_int)code);
    } else if (code == -1024) {
        s = KILN_E_UNSUPPORTED;
        why = "not implemented";
    } else if (code >= -1022 && code <= -1007) {
        s = KILN_E_INTERNAL;
        why = "invalid matrix argument";
    } else if (code == -2050) {
        s = KILN_E_OUT_OF_DEVICE_MEMORY;
        why = "temporary buffer too small";
    } else if (code == -2048 || code == -2047) {
        s = KILN_E_INVALID_ARG;
        why = code == -2048 ? "invalid override kernel" : "missing override parameter";
    } else if (code == -2046 || code == -2045 || code == -2044) {
        s = KILN_E_UNSUPPORTED;
        why = code == -2046 ? "not enough local memory" : "precision not supported";
    } else if (code == -2041) {
        s = KILN_E_UNSUPPORTED;
        why = "no database entry for the device";
    } else {
        s = KILN_E_INTERNAL;
        why = "unknown CLBlast error";
    }
    return KILN_FAIL_NATIVE(s, code, "opencl: %s failed: CLBlast status %d (%s)", what, code, why);
}

/* ==== MATMUL ==== */

#ifdef KILN_HAVE_CLBLAST
/* CLBlastSgemmBatched with one offset per batch entry (the batch dims do not merge into
 * one): the offset and scalar arrays are the host's, CLBlast copies them. */
static CLBlastStatusCode gemm_offsets(struct kiln_backend *be, const struct kiln__mm *mm,
                                      CLBlastTranspose ta, CLBlastTranspose tb, cl_mem ma,
                                      size_t oa, size_t lda, cl_mem mb, size_t ob, size_t ldb,
                                      cl_mem mc, size_t oc, cl_event *ev, kiln_status *s)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    size_t n = (size_t)mm->batch;
    size_t *offs = kiln__alloc(be->ctx, 3 * n * sizeof(size_t), "matmul batch offsets");
    float *ab = kiln__alloc(be->ctx, 2 * n * sizeof(float), "matmul batch scalars");
    CLBlastStatusCode st = CLBlastSuccess;
    *s = KILN_OK;
    if (offs == NULL || ab == NULL) {
        *s = KILN_E_OUT_OF_HOST_MEMORY;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t da, db;
        kiln__matmul_batch(mm, (int64_t)i, &da, &db);
        offs[i] = oa + (size_t)da;
        offs[n + i] = ob + (size_t)db;
        offs[2 * n + i] = oc + i * (size_t)(mm->m * mm->n);
        ab[i] = 1.0f;
        ab[n + i] = 0.0f;
    }
    st = CLBlastSgemmBatched(CLBlastLayoutRowMajor, ta, tb, (size_t)mm->m, (size_t)mm->n,
                             (size_t)mm->k, ab, ma, offs, lda, mb, offs + n, ldb, ab + n, mc,
                             offs + 2 * n, (size_t)mm->n, n, &cl->queue, ev);
done:
    kiln__free(be->ctx, offs);
    kiln__free(be->ctx, ab);
    return st;
}
#endif

/* ==== kiln's own kernel for small products (opencl/gemm.cl) ==== */

/* Products of at most this many multiply-adds (all batch entries) run on gemm_small by
 * default: LeNet's at batch 64 to 256 (the largest, fc1's at batch 256, is 12.3M). Its
 * launch carries the fused ops' bias, ReLU or ReLU mask, where CLBlast needs a second. */
#define OWN_MAX_MACS ((int64_t)1 << 24)
#define OWN_ROWS     4 /* rows of C per work-item (opencl/gemm.cl's ROWS) */

bool kiln__cl_gemm_own(const struct kiln_backend *be, const struct kiln_tensor *n)
{
    (void)be;
    const char *env = getenv("KILN_CL_GEMM");
    bool own = env != NULL && strcmp(env, "own") == 0;
    if (env != NULL && strcmp(env, "clblast") == 0) {
        return false;
    }
    struct kiln__mm mm;
    kiln__matmul_dims(n, &mm);
    const int64_t lim = (int64_t)1 << 31;
    /* One batch stride per operand (the batch dims merge into one) and every index of a
     * matrix in a uint. */
    bool fits = mm.nb <= 1 && mm.m < lim && mm.n < lim && mm.k < lim && n->src[0]->n_elems < lim &&
                n->src[1]->n_elems < lim && n->n_elems < lim;
#ifndef KILN_HAVE_CLBLAST
    own = true;
#endif
    return fits && (own || mm.m * mm.n * mm.k * mm.batch <= OWN_MAX_MACS);
}

kiln_status kiln__cl_gemm_small(struct kiln_backend *be, const struct kiln_tensor *n, int mode)
{
    const struct kiln__p_matmul *p = kiln__params(n);
    struct kiln__mm mm;
    kiln__matmul_dims(n, &mm);
    if (n->n_elems == 0) {
        return KILN_OK;
    }
    cl_mem ma, mb, mc, me;
    cl_ulong oa, ob, oc, oe = 0;
    kiln__cl_tensor(n->src[0], &ma, &oa);
    kiln__cl_tensor(n->src[1], &mb, &ob);
    kiln__cl_tensor(n, &mc, &oc);
    me = mc;
    if (mode != 0) {
        kiln__cl_tensor(n->src[2], &me, &oe);
    }
    cl_uint m = (cl_uint)mm.m, nn = (cl_uint)mm.n, k = (cl_uint)mm.k;
    /* A is [m, k] (trans_a: [k, m]), B [k, n] (trans_b: [n, k]), row-major. */
    cl_uint sam = p->trans_a ? 1 : k, sak = p->trans_a ? m : 1;
    cl_uint sbk = p->trans_b ? 1 : nn, sbn = p->trans_b ? k : 1;
    cl_ulong bsa = mm.nb == 1 ? (cl_ulong)mm.sa[0] : 0, bsb = mm.nb == 1 ? (cl_ulong)mm.sb[0] : 0;
    cl_uint row_blocks = (m + OWN_ROWS - 1) / OWN_ROWS;
    cl_ulong items = (cl_ulong)row_blocks * nn * (cl_ulong)mm.batch;
    cl_int md = mode;
    struct kiln__cl_arg a[] = {
        KILN__CL_ARG(ma),  KILN__CL_ARG(oa),         KILN__CL_ARG(mb),    KILN__CL_ARG(ob),
        KILN__CL_ARG(mc),  KILN__CL_ARG(oc),         KILN__CL_ARG(me),    KILN__CL_ARG(oe),
        KILN__CL_ARG(m),   KILN__CL_ARG(nn),         KILN__CL_ARG(k),     KILN__CL_ARG(sam),
        KILN__CL_ARG(sak), KILN__CL_ARG(sbk),        KILN__CL_ARG(sbn),   KILN__CL_ARG(bsa),
        KILN__CL_ARG(bsb), KILN__CL_ARG(row_blocks), KILN__CL_ARG(items), KILN__CL_ARG(md)};
    return kiln__cl_launch(be, KILN__CL_GEMM, mode == 4 ? "gemm_small_db" : "gemm_small",
                           (size_t)items, 0, KILN__CL_N(a), a);
}

/* ==== MATMUL through CLBlast ==== */

bool kiln__cl_matmul_supports(const struct kiln_backend *be, const struct kiln_tensor *n)
{
    if (kiln__cl_gemm_own(be, n)) {
        return true;
    }
#ifdef KILN_HAVE_CLBLAST
    /* CLBlast 1.5.3 passes sizes and offsets to kernels as int. */
    const int64_t lim = (int64_t)1 << 31;
    if (n->src[0]->n_elems >= lim || n->src[1]->n_elems >= lim || n->n_elems >= lim) {
        KILN_FAIL(KILN_E_UNSUPPORTED, "CLBlast needs every matrix under 2^31 elements");
        return false;
    }
    return true;
#else
    KILN_FAIL(KILN_E_UNSUPPORTED,
              "kiln was built without CLBlast, which matrix products kiln's own kernel cannot "
              "take need");
    return false;
#endif
}

kiln_status kiln__cl_matmul(struct kiln_backend *be, const struct kiln_tensor *n)
{
    if (n->op == KILN_OP_MATMUL && kiln__cl_gemm_own(be, n)) {
        return kiln__cl_gemm_small(be, n, 0);
    }
#ifdef KILN_HAVE_CLBLAST
    struct kiln__cl *cl = kiln__cl_of(be);
    const struct kiln__p_matmul *p = kiln__params(n);
    struct kiln__mm mm;
    kiln__matmul_dims(n, &mm);
    int64_t batch = mm.batch, m = mm.m, nn = mm.n, k = mm.k;
    cl_mem ma, mb, mc;
    cl_ulong oa, ob, oc;
    kiln__cl_tensor(n->src[0], &ma, &oa);
    kiln__cl_tensor(n->src[1], &mb, &ob);
    kiln__cl_tensor(n, &mc, &oc);
    if (n->n_elems == 0) {
        return KILN_OK;
    }
    if (k == 0) {
        /* An empty sum: CLBlast rejects K = 0, the product is zeros. */
        const cl_uint zero = 0;
        KILN_CL_CHECK(clEnqueueFillBuffer(cl->queue, mc, &zero, sizeof(zero), oc * 4,
                                          (size_t)n->n_elems * 4, 0, NULL, NULL));
        cl->pending++;
        return KILN_OK;
    }
    CLBlastTranspose ta = p->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = p->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    size_t lda = (size_t)(p->trans_a ? m : k), ldb = (size_t)(p->trans_b ? k : nn);
    CLBlastStatusCode st;
    kiln_status hs = KILN_OK;
    char what[160];
    cl_event *ev = kiln__cl_event_slot(be);
    pthread_mutex_lock(&clblast_lock);
    if (batch == 1) {
        st = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, (size_t)m, (size_t)nn, (size_t)k, 1.0f, ma,
                          (size_t)oa, lda, mb, (size_t)ob, ldb, 0.0f, mc, (size_t)oc, (size_t)nn,
                          &cl->queue, ev);
        snprintf(what, sizeof(what), "CLBlastSgemm(%s%s, m %lld, n %lld, k %lld) of node '%s'",
                 p->trans_a ? "T" : "N", p->trans_b ? "T" : "N", (long long)m, (long long)nn,
                 (long long)k, n->name);
    } else if (mm.nb == 1) {
        st = CLBlastSgemmStridedBatched(
            CLBlastLayoutRowMajor, ta, tb, (size_t)m, (size_t)nn, (size_t)k, 1.0f, ma, (size_t)oa,
            lda, (size_t)mm.sa[0], mb, (size_t)ob, ldb, (size_t)mm.sb[0], 0.0f, mc, (size_t)oc,
            (size_t)nn, (size_t)(m * nn), (size_t)batch, &cl->queue, ev);
        snprintf(what, sizeof(what),
                 "CLBlastSgemmStridedBatched(%s%s, batch %lld, m %lld, n %lld, k %lld) of node "
                 "'%s'",
                 p->trans_a ? "T" : "N", p->trans_b ? "T" : "N", (long long)batch, (long long)m,
                 (long long)nn, (long long)k, n->name);
    } else {
        st = gemm_offsets(be, &mm, ta, tb, ma, (size_t)oa, lda, mb, (size_t)ob, ldb, mc, (size_t)oc,
                          ev, &hs);
        snprintf(what, sizeof(what),
                 "CLBlastSgemmBatched(%s%s, batch %lld, m %lld, n %lld, k %lld) of node '%s'",
                 p->trans_a ? "T" : "N", p->trans_b ? "T" : "N", (long long)batch, (long long)m,
                 (long long)nn, (long long)k, n->name);
    }
    pthread_mutex_unlock(&clblast_lock);
    kiln__cl_launched(be, st == CLBlastSuccess ? ev : NULL);
    KILN_TRY(hs);
    if (st != CLBlastSuccess) {
        return kiln__cl_clblast_fail((int)st, what);
    }
    return KILN_OK;
#else
    (void)be;
    return KILN_FAIL(KILN_E_UNSUPPORTED, "matmul '%s': kiln was built without CLBlast", n->name);
#endif
}

/* ==== A product inside another op's launcher ==== */

kiln_status kiln__cl_sgemm(struct kiln_backend *be, const struct kiln__cl_gemm *gm,
                           const char *what)
{
#ifdef KILN_HAVE_CLBLAST
    struct kiln__cl *cl = kiln__cl_of(be);
    pthread_mutex_lock(&clblast_lock);
    CLBlastStatusCode st =
        CLBlastSgemm(CLBlastLayoutRowMajor, gm->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                     gm->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, gm->m, gm->n, gm->k,
                     1.0f, gm->a, gm->off_a, gm->ld_a, gm->b, gm->off_b, gm->ld_b, gm->beta, gm->c,
                     gm->off_c, gm->ld_c, &cl->queue, NULL);
    pthread_mutex_unlock(&clblast_lock);
    cl->pending++;
    if (st != CLBlastSuccess) {
        return kiln__cl_clblast_fail((int)st, what);
    }
    return KILN_OK;
#else
    (void)be;
    (void)gm;
    return KILN_FAIL(KILN_E_UNSUPPORTED, "%s: kiln was built without CLBlast", what);
#endif
}

/* ==== CONV2D through CLBlast's convgemm ==== */

/*
 * CLBlastSconvgemm (NCHW input, [K][C][KH][KW] kernel, NCHW output, cross-correlation;
 * stride, padding and dilation, no groups) is the forward convolution where bench/conv
 * measured it faster than the direct kernel on PoCL: 1.2x to 2.6x at 16 and 64 input
 * channels, but 1.2x to 2.3x slower at 6 and 3.5x to 7x slower at 1 (LeNet). So it runs for groups
 * == 1 and at least 16 input channels, with every size and offset under 2^31 (CLBlast passes them
 * to its kernel as int), and only where the row kernels of opencl/convrow.cl do not
 * (stride or dilation other than 1; cl_layers.c decides that first). KILN_CL_CONVGEMM=0
 * keeps every CONV2D off it (bench/conv uses it to time both in one run).
 */
bool kiln__cl_conv_uses_convgemm(const struct kiln_tensor *n)
{
#ifdef KILN_HAVE_CLBLAST
    const struct kiln__p_conv2d *p = kiln__params(n);
    const int64_t lim = (int64_t)1 << 31;
    const char *env = getenv("KILN_CL_CONVGEMM");
    if (env != NULL && strcmp(env, "0") == 0) {
        return false;
    }
    return n->op == KILN_OP_CONV2D && p->groups == 1 && n->src[0]->shape.dims[1] >= 16 &&
           n->n_elems > 0 && n->src[0]->n_elems < lim && n->src[1]->n_elems < lim &&
           n->n_elems < lim;
#else
    (void)n;
    return false;
#endif
}

kiln_status kiln__cl_conv_convgemm(struct kiln_backend *be, const struct kiln_tensor *n)
{
#ifdef KILN_HAVE_CLBLAST
    struct kiln__cl *cl = kiln__cl_of(be);
    const struct kiln__p_conv2d *p = kiln__params(n);
    const int64_t *x = n->src[0]->shape.dims, *w = n->src[1]->shape.dims;
    cl_mem mx, mw, my;
    cl_ulong ox, ow, oy;
    kiln__cl_tensor(n->src[0], &mx, &ox);
    kiln__cl_tensor(n->src[1], &mw, &ow);
    kiln__cl_tensor(n, &my, &oy);
    cl_event *ev = kiln__cl_event_slot(be);
    pthread_mutex_lock(&clblast_lock);
    CLBlastStatusCode st = CLBlastSconvgemm(
        CLBlastKernelModeCrossCorrelation, (size_t)x[1], (size_t)x[2], (size_t)x[3], (size_t)w[2],
        (size_t)w[3], (size_t)p->pad[0], (size_t)p->pad[1], (size_t)p->stride[0],
        (size_t)p->stride[1], (size_t)p->dilation[0], (size_t)p->dilation[1], (size_t)w[0],
        (size_t)x[0], mx, (size_t)ox, mw, (size_t)ow, my, (size_t)oy, &cl->queue, ev);
    pthread_mutex_unlock(&clblast_lock);
    kiln__cl_launched(be, st == CLBlastSuccess ? ev : NULL);
    if (st != CLBlastSuccess) {
        char what[160];
        snprintf(what, sizeof(what),
                 "CLBlastSconvgemm(x [%lld, %lld, %lld, %lld], w [%lld, %lld, %lld, %lld]) of node "
                 "'%s'",
                 (long long)x[0], (long long)x[1], (long long)x[2], (long long)x[3],
                 (long long)w[0], (long long)w[1], (long long)w[2], (long long)w[3], n->name);
        return kiln__cl_clblast_fail((int)st, what);
    }
    return KILN_OK;
#else
    (void)be;
    return KILN_FAIL(KILN_E_UNSUPPORTED, "conv2d '%s': kiln was built without CLBlast", n->name);
#endif
}

/* ==== Tuning ==== */

#if defined(KILN_HAVE_CLBLAST) && defined(KILN_HAVE_CJSON)

#define MAX_PARAMS 32

/* "xgemm_direct_1" -> "XgemmDirect": the name CLBlastOverrideParameters expects. */
static void family_name(const char *fam, char *out, size_t n)
{
    size_t o = 0;
    int start = 1;
    for (const char *c = fam; *c && o + 1 < n; c++) {
        if (*c == '_') {
            start = 1;
            continue;
        }
        if (start && isdigit((unsigned char)*c)) {
            while (c[1] && c[1] != '_') {
                c++;
            }
            continue;
        }
        out[o++] = start ? (char)toupper((unsigned char)*c) : *c;
        start = 0;
    }
    out[o] = '\0';
}

static const char *json_str(const cJSON *root, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

kiln_status kiln__cl_apply_tuning_json(cl_device_id dev, const char *json, const char *origin,
                                       int apply, int32_t *applied)
{
    char dev_name[256], family[64], buf[1024];
    const char *names[MAX_PARAMS];
    size_t values[MAX_PARAMS], n_params = 0;
    kiln_status s = KILN_OK;

    *applied = 0;
    cJSON *root = cJSON_Parse(json);
    if (root == NULL) {
        return KILN_FAIL(KILN_E_FORMAT, "opencl: %s is not valid JSON", origin);
    }
    const char *fam = json_str(root, "kernel_family");
    const char *prec = json_str(root, "precision");
    const char *best = json_str(root, "best_parameters");
    const char *device = json_str(root, "device");
    if (fam == NULL || prec == NULL || best == NULL || device == NULL) {
        s = KILN_FAIL(KILN_E_FORMAT,
                      "opencl: %s is not CLBlast tuner output (needs kernel_family, precision, "
                      "best_parameters and device)",
                      origin);
        goto done;
    }
    kiln__cl_device_str(dev, CL_DEVICE_NAME, dev_name, sizeof(dev_name));
    if (strcmp(device, dev_name) != 0) {
        goto done; /* tuned for another device */
    }
    family_name(fam, family, sizeof(family));
    snprintf(buf, sizeof(buf), "%s", best);
    for (char *tok = strtok(buf, " "); tok != NULL; tok = strtok(NULL, " ")) {
        char *eq = strchr(tok, '=');
        if (eq == NULL || n_params == MAX_PARAMS) {
            s = KILN_FAIL(KILN_E_FORMAT, "opencl: %s: bad best_parameters '%s'", origin, best);
            goto done;
        }
        *eq = '\0';
        if (strcmp(tok, "PRECISION") == 0) {
            continue;
        }
        names[n_params] = tok;
        values[n_params] = (size_t)strtoull(eq + 1, NULL, 10);
        n_params++;
    }
    if (apply) {
        pthread_mutex_lock(&clblast_lock);
        CLBlastStatusCode st = CLBlastOverrideParameters(dev, family, (CLBlastPrecision)atoi(prec),
                                                         n_params, names, values);
        pthread_mutex_unlock(&clblast_lock);
        if (st != CLBlastSuccess) {
            char what[320];
            snprintf(what, sizeof(what), "CLBlastOverrideParameters('%s') from %s", family, origin);
            s = kiln__cl_clblast_fail((int)st, what);
            goto done;
        }
    }
    *applied = 1;
done:
    cJSON_Delete(root);
    return s;
}

static kiln_status apply_file(cl_device_id dev, const char *path, int apply, int32_t *n_applied)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return KILN_FAIL_NATIVE(KILN_E_IO, errno, "opencl: cannot open CLBlast tuning file %s",
                                path);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = n >= 0 && n < (1L << 24) ? malloc((size_t)n + 1) : NULL;
    if (text == NULL || fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        fclose(f);
        return KILN_FAIL(KILN_E_IO, "opencl: cannot read CLBlast tuning file %s", path);
    }
    fclose(f);
    text[n] = '\0';
    int32_t one = 0;
    kiln_status s = kiln__cl_apply_tuning_json(dev, text, path, apply, &one);
    free(text);
    *n_applied += one;
    return s;
}

kiln_status kiln__cl_apply_tuning(cl_device_id dev, const char *path, int apply, int32_t *n_applied)
{
    *n_applied = 0;
    DIR *d = opendir(path);
    if (d == NULL) {
        return apply_file(dev, path, apply, n_applied);
    }
    kiln_status s = KILN_OK;
    struct dirent *e;
    while (s == KILN_OK && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) {
            char file[1024];
            snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
            s = apply_file(dev, file, apply, n_applied);
        }
    }
    closedir(d);
    return s;
}

#else

kiln_status kiln__cl_apply_tuning_json(cl_device_id dev, const char *json, const char *origin,
                                       int apply, int32_t *applied)
{
    (void)dev;
    (void)json;
    (void)apply;
    *applied = 0;
    return KILN_FAIL(KILN_E_UNSUPPORTED,
                     "opencl: cannot apply %s: kiln was built without CLBlast or cJSON", origin);
}

kiln_status kiln__cl_apply_tuning(cl_device_id dev, const char *path, int apply, int32_t *n_applied)
{
    (void)dev;
    (void)apply;
    *n_applied = 0;
    return KILN_FAIL(KILN_E_UNSUPPORTED,
                     "opencl: KILN_CLBLAST_TUNING=%s: kiln was built without CLBlast or cJSON",
                     path);
}

#endif
