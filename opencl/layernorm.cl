/*
 * layernorm.cl - layer_norm, layer_norm_stats, layer_norm_bwd and layer_norm_bwd_params
 * (the CPU references and the formulas are in src/ops/layernorm.c), launched by the
 * generic launcher: the sources' and the output's (buffer, element offset) pairs, the
 * header, the op's params. x is [rows, cols]; one work-item per row, except
 * layer_norm_bwd_params (one per column, summing over the rows in order). Sums are in
 * float, in index order. OpenCL C 1.2; work-items past n return.
 */

/* src/ops/op_list.h: struct kiln__p_layer_norm. */
typedef struct {
    float eps;
    int norm_dims, rows, cols;
} layer_norm_params;

/* Mean and rstd of row x[0..cols): two passes, rstd = 1 / sqrt(var + eps). */
static void ln_row_stats(global const float *x, int cols, float eps, float *mean, float *rstd)
{
    float s = 0.0f, q = 0.0f;
    for (int c = 0; c < cols; c++) {
        s += x[c];
    }
    float m = s / (float)cols;
    for (int c = 0; c < cols; c++) {
        float d = x[c] - m;
        q += d * d;
    }
    *mean = m;
    *rstd = 1.0f / sqrt(q / (float)cols + eps);
}

kernel void layer_norm(global const float *x, ulong ox, global const float *gm, ulong og,
                       global const float *bt, ulong ob, global float *y, ulong oy, kiln_hdr h,
                       layer_norm_params p)
{
    uint r = get_global_id(0);
    if (r >= h.n) {
        return;
    }
    ulong base = (ulong)r * (uint)p.cols;
    global const float *xr = x + ox + base;
    global float *yr = y + oy + base;
    float mean, rstd;
    ln_row_stats(xr, p.cols, p.eps, &mean, &rstd);
    for (int c = 0; c < p.cols; c++) {
        yr[c] = (xr[c] - mean) * rstd * gm[og + c] + bt[ob + c];
    }
}

kernel void layer_norm_stats(global const float *x, ulong ox, global float *st, ulong os,
                             kiln_hdr h, layer_norm_params p)
{
    uint r = get_global_id(0);
    if (r >= h.n) {
        return;
    }
    float mean, rstd;
    ln_row_stats(x + ox + (ulong)r * (uint)p.cols, p.cols, p.eps, &mean, &rstd);
    st[os + 2 * (ulong)r] = mean;
    st[os + 2 * (ulong)r + 1] = rstd;
}

/* dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy gamma. */
kernel void layer_norm_bwd(global const float *x, ulong ox, global const float *st, ulong os,
                           global const float *gm, ulong og, global const float *dy, ulong od,
                           global float *dx, ulong oo, kiln_hdr h, layer_norm_params p)
{
    uint r = get_global_id(0);
    if (r >= h.n) {
        return;
    }
    ulong base = (ulong)r * (uint)p.cols;
    global const float *xr = x + ox + base, *gr = dy + od + base;
    global float *dr = dx + oo + base;
    float mean = st[os + 2 * (ulong)r], rstd = st[os + 2 * (ulong)r + 1];
    float s1 = 0.0f, s2 = 0.0f;
    for (int c = 0; c < p.cols; c++) {
        float g = gr[c] * gm[og + c];
        s1 += g;
        s2 += g * ((xr[c] - mean) * rstd);
    }
    s1 /= (float)p.cols;
    s2 /= (float)p.cols;
    for (int c = 0; c < p.cols; c++) {
        float g = gr[c] * gm[og + c];
        dr[c] = rstd * (g - s1 - (xr[c] - mean) * rstd * s2);
    }
}

/* Column c: d gamma = sum over rows of dy xhat, d beta = sum of dy. */
kernel void layer_norm_bwd_params(global const float *x, ulong ox, global const float *st, ulong os,
                                  global const float *dy, ulong od, global float *o, ulong oo,
                                  kiln_hdr h, layer_norm_params p)
{
    uint c = get_global_id(0);
    if (c >= h.n) {
        return;
    }
    float sg = 0.0f, sb = 0.0f;
    for (int r = 0; r < p.rows; r++) {
        ulong i = (ulong)r * (uint)p.cols + c;
        float g = dy[od + i];
        sg += g * ((x[ox + i] - st[os + 2 * (ulong)r]) * st[os + 2 * (ulong)r + 1]);
        sb += g;
    }
    o[oo + c] = sg;
    o[oo + (uint)p.cols + c] = sb;
}
