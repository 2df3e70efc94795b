/*
 * pool.cl - NCHW max and average pooling, nearest upsampling and their backward
 * kernels (the CPU reference is src/ops/pool.c). One work-item per output element; the
 * backward kernels gather, visiting windows in the reference's row-major order, so
 * they need no atomics. h, w: input plane; oh, ow: output plane. OpenCL C 1.2.
 */
#pragma OPENCL FP_CONTRACT OFF

/* The winner of window (wy, wx) in plane xp: first maximum, a NaN beats any number. */
static long window_argmax(global const float *xp, long h, long w, int kh, int kw, int sh, int sw,
                          int ph, int pw, long wy, long wx)
{
    long best = -1;
    float m = 0.0f;
    for (int i = 0; i < kh; i++) {
        long ih = wy * sh - ph + i;
        if (ih < 0 || ih >= h) {
            continue;
        }
        for (int j = 0; j < kw; j++) {
            long iw = wx * sw - pw + j;
            if (iw < 0 || iw >= w) {
                continue;
            }
            float v = xp[ih * w + iw];
            if (best < 0 || v > m || (isnan(v) && !isnan(m))) {
                best = ih * w + iw;
                m = v;
            }
        }
    }
    return best;
}

static float window_div(long h, long w, int kh, int kw, int sh, int sw, int ph, int pw, int incl,
                        long wy, long wx)
{
    if (incl) {
        return (float)(kh * kw);
    }
    long h0 = wy * sh - ph, w0 = wx * sw - pw;
    long h1 = min(h0 + kh, h), w1 = min(w0 + kw, w);
    return (float)((h1 - max(h0, 0L)) * (w1 - max(w0, 0L)));
}

kernel void maxpool(global const float *x, ulong ox, global float *y, ulong oy, ulong n, long h,
                    long w, long oh, long ow, int kh, int kw, int sh, int sw, int ph, int pw)
{
    ulong o = get_global_id(0);
    if (o >= n) {
        return;
    }
    long pl = (long)o / (oh * ow), r = (long)o % (oh * ow);
    global const float *xp = x + ox + pl * h * w;
    y[oy + o] = xp[window_argmax(xp, h, w, kh, kw, sh, sw, ph, pw, r / ow, r % ow)];
}

/* The windows (first and last, inclusive) along one axis that contain input index i. */
static long2 windows_of(long i, int k, int s, int p, long n_out)
{
    long lo = i + p - k + 1;
    lo = lo <= 0 ? 0 : (lo + s - 1) / s;
    long hi = min((i + p) / s, n_out - 1);
    return (long2)(lo, hi);
}

kernel void maxpool_bwd(global const float *x, ulong ox, global const float *dy, ulong ody,
                        global float *dx, ulong odx, ulong n, long h, long w, long oh, long ow,
                        int kh, int kw, int sh, int sw, int ph, int pw, int relu)
{
    ulong o = get_global_id(0);
    if (o >= n) {
        return;
    }
    long pl = (long)o / (h * w), idx = (long)o % (h * w);
    global const float *xp = x + ox + pl * h * w;
    global const float *gp = dy + ody + pl * oh * ow;
    long2 wy = windows_of(idx / w, kh, sh, ph, oh), wx = windows_of(idx % w, kw, sw, pw, ow);
    float s = 0.0f;
    for (long a = wy.x; a <= wy.y; a++) {
        for (long b = wx.x; b <= wx.y; b++) {
            if (window_argmax(xp, h, w, kh, kw, sh, sw, ph, pw, a, b) == idx) {
                s += gp[a * ow + b];
            }
        }
    }
    /* relu: MAXPOOL2D_RELU_BWD, RELU_BWD fused with x the pooled ReLU output */
    dx[odx + o] = relu && !(xp[idx] > 0.0f) ? 0.0f : s;
}

kernel void avgpool(global const float *x, ulong ox, global float *y, ulong oy, ulong n, long h,
                    long w, long oh, long ow, int kh, int kw, int sh, int sw, int ph, int pw,
                    int incl)
{
    ulong o = get_global_id(0);
    if (o >= n) {
        return;
    }
    long pl = (long)o / (oh * ow), r = (long)o % (oh * ow), wy = r / ow, wx = r % ow;
    global const float *xp = x + ox + pl * h * w;
    float s = 0.0f;
    for (int i = 0; i < kh; i++) {
        long ih = wy * sh - ph + i;
        for (int j = 0; ih >= 0 && ih < h && j < kw; j++) {
            long iw = wx * sw - pw + j;
            s += iw >= 0 && iw < w ? xp[ih * w + iw] : 0.0f;
        }
    }
    y[oy + o] = s / window_div(h, w, kh, kw, sh, sw, ph, pw, incl, wy, wx);
}

kernel void avgpool_bwd(global const float *dy, ulong ody, global float *dx, ulong odx, ulong n,
                        long h, long w, long oh, long ow, int kh, int kw, int sh, int sw, int ph,
                        int pw, int incl)
{
    ulong o = get_global_id(0);
    if (o >= n) {
        return;
    }
    long pl = (long)o / (h * w), idx = (long)o % (h * w);
    global const float *gp = dy + ody + pl * oh * ow;
    long2 wy = windows_of(idx / w, kh, sh, ph, oh), wx = windows_of(idx % w, kw, sw, pw, ow);
    float s = 0.0f;
    for (long a = wy.x; a <= wy.y; a++) {
        for (long b = wx.x; b <= wx.y; b++) {
            s += gp[a * ow + b] / window_div(h, w, kh, kw, sh, sw, ph, pw, incl, a, b);
        }
    }
    dx[odx + o] = s;
}

/* y[pl, i, j] = x[pl, i / fh, j / fw]; h, w: the output plane; ih, iw: the input's. */
kernel void upsample_nearest(global const float *x, ulong ox, global float *y, ulong oy, ulong n,
                             long h, long w, long ih, long iw, int fh, int fw)
{
    ulong o = get_global_id(0);
    if (o < n) {
        long j = (long)o % w, i = ((long)o / w) % h, pl = (long)o / (h * w);
        y[oy + o] = x[ox + (pl * ih + i / fh) * iw + j / fw];
    }
}

/* dx[pl, i, j] = the sum of dy over its fh x fw block, row-major. h, w: dx's plane. */
kernel void upsample_nearest_bwd(global const float *dy, ulong ody, global float *dx, ulong odx,
                                 ulong n, long h, long w, int fh, int fw)
{
    ulong o = get_global_id(0);
    if (o >= n) {
        return;
    }
    long j = (long)o % w, i = ((long)o / w) % h, pl = (long)o / (h * w);
    long yh = h * fh, yw = w * fw;
    float s = 0.0f;
    for (int a = 0; a < fh; a++) {
        global const float *row = dy + ody + (pl * yh + i * fh + a) * yw;
        for (int b = 0; b < fw; b++) {
            s += row[j * fw + b];
        }
    }
    dx[odx + o] = s;
}
