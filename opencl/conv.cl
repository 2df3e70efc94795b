/*
 * conv.cl - direct NCHW convolution and its data and filter gradients (the CPU
 * reference is src/ops/conv.c, im2col + SGEMM). One work-item per output element, each
 * a plain sum: correct everywhere, not fast. xs = (N, C, H, W), ws = (K, C / groups, KH,
 * KW), ys = (OH, OW, groups, 0), sp = (stride h, stride w, pad h, pad w), dl = dilation.
 * conv2d_blk and conv2d_bwd_data_blk compute 8 channels per work-item (used when a group has
 * at least 4 output or input channels).
 * OpenCL C 1.2; work-items past n return.
 */
#pragma OPENCL FP_CONTRACT OFF

kernel void conv2d(global const float *x, ulong ox, global const float *w, ulong ow_,
                   global float *y, ulong oy, ulong n, int4 xs, int4 ws, int4 ys, int4 sp, int2 dl)
{
    ulong o = get_global_id(0);
    if (o >= n) {
        return;
    }
    long OH = ys.x, OW = ys.y, kg = ws.x / ys.z;
    long q = (long)o;
    long ow = q % OW, oh = (q / OW) % OH, k = (q / (OW * OH)) % ws.x, b = q / (OW * OH * ws.x);
    long c0 = (k / kg) * ws.y;
    float s = 0.0f;
    for (long c = 0; c < ws.y; c++) {
        global const float *xp = x + ox + ((b * xs.y + c0 + c) * xs.z) * xs.w;
        global const float *wp = w + ow_ + ((k * ws.y + c) * ws.z) * ws.w;
        for (long i = 0; i < ws.z; i++) {
            long ih = oh * sp.x - sp.z + i * dl.x;
            for (long j = 0; ih >= 0 && ih < xs.z && j < ws.w; j++) {
                long iw = ow * sp.y - sp.w + j * dl.y;
                if (iw >= 0 && iw < xs.w) {
                    s += wp[i * ws.w + j] * xp[ih * xs.w + iw];
                }
            }
        }
    }
    y[oy + o] = s;
}

/* dx[b, c, ih, iw] = sum of w[k, c', i, j] dy[b, k, oh, ow] over the taps that read it. */
kernel void conv2d_bwd_data(global const float *dy, ulong ody, global const float *w, ulong ow_,
                            global float *dx, ulong odx, ulong n, int4 xs, int4 ws, int4 ys,
                            int4 sp, int2 dl)
{
    ulong o = get_global_id(0);
    if (o >= n) {
        return;
    }
    long OH = ys.x, OW = ys.y, kg = ws.x / ys.z;
    long q = (long)o;
    long iw = q % xs.w, ih = (q / xs.w) % xs.z, c = (q / (xs.w * xs.z)) % xs.y;
    long b = q / ((long)xs.w * xs.z * xs.y);
    long gr = c / ws.y, cc = c % ws.y;
    float s = 0.0f;
    for (long k = gr * kg; k < (gr + 1) * kg; k++) {
        global const float *gp = dy + ody + (b * ws.x + k) * OH * OW;
        global const float *wp = w + ow_ + ((k * ws.y + cc) * ws.z) * ws.w;
        for (long i = 0; i < ws.z; i++) {
            long th = ih + sp.z - i * dl.x;
            if (th < 0 || th % sp.x != 0 || th / sp.x >= OH) {
                continue;
            }
            for (long j = 0; j < ws.w; j++) {
                long tw = iw + sp.w - j * dl.y;
                if (tw >= 0 && tw % sp.y == 0 && tw / sp.y < OW) {
                    s += wp[i * ws.w + j] * gp[(th / sp.x) * OW + tw / sp.y];
                }
            }
        }
    }
    dx[odx + o] = s;
}

/* dw[k, c', i, j] = sum over images and output positions of dy x. */
kernel void conv2d_bwd_filter(global const float *x, ulong ox, global const float *dy, ulong ody,
                              global float *dw, ulong odw, ulong n, int4 xs, int4 ws, int4 ys,
                              int4 sp, int2 dl)
{
    ulong o = get_global_id(0);
    if (o >= n) {
        return;
    }
    long OH = ys.x, OW = ys.y, kg = ws.x / ys.z;
    long q = (long)o;
    long j = q % ws.w, i = (q / ws.w) % ws.z, cc = (q / (ws.w * ws.z)) % ws.y;
    long k = q / ((long)ws.w * ws.z * ws.y);
    long c = (k / kg) * ws.y + cc;
    float s = 0.0f;
    for (long b = 0; b < xs.x; b++) {
        global const float *xp = x + ox + (b * xs.y + c) * xs.z * xs.w;
        global const float *gp = dy + ody + (b * ws.x + k) * OH * OW;
        for (long oh = 0; oh < OH; oh++) {
            long ih = oh * sp.x - sp.z + i * dl.x;
            for (long ow = 0; ih >= 0 && ih < xs.z && ow < OW; ow++) {
                long iw = ow * sp.y - sp.w + j * dl.y;
                if (iw >= 0 && iw < xs.w) {
                    s += gp[oh * OW + ow] * xp[ih * xs.w + iw];
                }
            }
        }
    }
    dw[odw + o] = s;
}

/* conv2d_bwd_data for 8 input channels of a group at once (cb = 8): work-item (b, group,
 * block of cb channels, ih, iw) reads each dy value it needs once for the block's
 * channels. The sums run in the same order as conv2d_bwd_data's, so the results are
 * the same. Past the group's last channel a block rereads that channel's weights and
 * does not write the sums. */
kernel void conv2d_bwd_data_blk(global const float *dy, ulong ody, global const float *w, ulong ow_,
                                global float *dx, ulong odx, ulong n, int4 xs, int4 ws, int4 ys,
                                int4 sp, int2 dl)
{
    ulong o = get_global_id(0);
    if (o >= n) {
        return;
    }
    long OH = ys.x, OW = ys.y, kg = ws.x / ys.z, cg = ws.y, hw = (long)xs.z * xs.w;
    long khw = (long)ws.z * ws.w, nblk = (cg + 7) / 8;
    long q = (long)o, p = q % hw, r = q / hw;
    long blk = r % (nblk * ys.z), b = r / (nblk * ys.z);
    long gr = blk / nblk, c0 = (blk % nblk) * 8, cn = min(8L, cg - c0);
    long ih = p / xs.w, iw = p % xs.w;
    long woff[8];
    float s[8];
    for (int t = 0; t < 8; t++) {
        woff[t] = min((long)t, cn - 1) * khw;
        s[t] = 0.0f;
    }
    for (long k = gr * kg; k < (gr + 1) * kg; k++) {
        global const float *gp = dy + ody + (b * ws.x + k) * OH * OW;
        global const float *wp = w + ow_ + (k * cg + c0) * khw;
        for (long i = 0; i < ws.z; i++) {
            long th = ih + sp.z - i * dl.x;
            if (th < 0 || th % sp.x != 0 || th / sp.x >= OH) {
                continue;
            }
            for (long j = 0; j < ws.w; j++) {
                long tw = iw + sp.w - j * dl.y;
                if (tw >= 0 && tw % sp.y == 0 && tw / sp.y < OW) {
                    float v = gp[(th / sp.x) * OW + tw / sp.y];
                    long wi = i * ws.w + j;
                    for (int t = 0; t < 8; t++) {
                        s[t] += wp[woff[t] + wi] * v;
                    }
                }
            }
        }
    }
    global float *dp = dx + odx + (b * xs.y + gr * cg + c0) * hw + p;
    for (int t = 0; t < 8; t++) {
        if (t < cn) {
            dp[t * hw] = s[t];
        }
    }
}

/* conv2d for 8 output channels of a group at once: work-item (b, group, block of 8
 * channels, oh, ow) reads each x value it needs once for the block's channels, in
 * conv2d's order (the same results). Past the group's last channel a block rereads
 * that channel's weights and does not write the sums. */
kernel void conv2d_blk(global const float *x, ulong ox, global const float *w, ulong ow_,
                       global float *y, ulong oy, ulong n, int4 xs, int4 ws, int4 ys, int4 sp,
                       int2 dl)
{
    ulong o = get_global_id(0);
    if (o >= n) {
        return;
    }
    long OH = ys.x, OW = ys.y, kg = ws.x / ys.z, ohw = OH * OW;
    long khw = (long)ws.z * ws.w, nblk = (kg + 7) / 8;
    long q = (long)o, p = q % ohw, r = q / ohw;
    long blk = r % (nblk * ys.z), b = r / (nblk * ys.z);
    long gr = blk / nblk, k0 = gr * kg + (blk % nblk) * 8, kn = min(8L, (gr + 1) * kg - k0);
    long oh = p / OW, ow = p % OW;
    long woff[8];
    float s[8];
    for (int t = 0; t < 8; t++) {
        woff[t] = min((long)t, kn - 1) * ws.y * khw;
        s[t] = 0.0f;
    }
    for (long c = 0; c < ws.y; c++) {
        global const float *xp = x + ox + ((b * xs.y + gr * ws.y + c) * xs.z) * xs.w;
        global const float *wp = w + ow_ + (k0 * ws.y + c) * khw;
        for (long i = 0; i < ws.z; i++) {
            long ih = oh * sp.x - sp.z + i * dl.x;
            for (long j = 0; ih >= 0 && ih < xs.z && j < ws.w; j++) {
                long iw = ow * sp.y - sp.w + j * dl.y;
                if (iw >= 0 && iw < xs.w) {
                    float v = xp[ih * xs.w + iw];
                    long wi = i * ws.w + j;
                    for (int t = 0; t < 8; t++) {
                        s[t] += wp[woff[t] + wi] * v;
                    }
                }
            }
        }
    }
    global float *yp = y + oy + (b * ws.x + k0) * ohw + p;
    for (int t = 0; t < 8; t++) {
        if (t < kn) {
            yp[t * ohw] = s[t];
        }
    }
}
