/*
 * convrow.cl - convolutions of stride 1 and dilation 1 (LeNet's, ResNet's 3x3 ones) with
 * explicit vectors along an image row: each work-item computes RV consecutive output
 * columns for RB output channels, so every input vector it loads serves RB products and
 * every weight it loads RV. conv2d_row computes the forward convolution (with a bias per
 * output channel and a ReLU after it for CONV2D_BIAS) and, with the weights read
 * flipped and transposed (the strides passed in wp), the data gradient;
 * conv2d_bwd_filter_row computes the filter gradient over a slice of the batch (a part),
 * and conv2d_sum_parts adds the parts in part order. No local memory, no barriers: the
 * same code runs on any device; on a CPU device (PoCL) the vectors are the SIMD lanes.
 * The generic kernels of conv.cl cover other strides and dilations. OpenCL C 1.2.
 */
#pragma OPENCL FP_CONTRACT OFF

#define RV 8 /* columns per work-item: the vector width */
#define RB 8 /* channels per work-item (conv2d_row) */
#define FB 4 /* filters per work-item (conv2d_bwd_filter_row) */
#define TB 4 /* taps per work-item (conv2d_bwd_filter_row) */
typedef float8 floatv;
typedef int8 intv;
#define IOTA    ((intv)(0, 1, 2, 3, 4, 5, 6, 7))
#define vloadv  vload8
#define vstorev vstore8

/* Elements c .. c + RV - 1 of row r of an h x w plane, 0 outside it. Inside the plane
 * one vector load and a lane mask; a scalar loop only where the vector would leave it. */
static floatv load_row(global const float *plane, long r, long c, long h, long w)
{
    if (r < 0 || r >= h) {
        return (floatv)0.0f;
    }
    long s = r * w + c;
    if (s >= 0 && s + RV <= h * w) {
        intv col = IOTA + (int)c;
        return select((floatv)0.0f, vloadv(0, plane + s), (col >= 0) & (col < (int)w));
    }
    float t[RV];
    for (int l = 0; l < RV; l++) {
        t[l] = 0.0f;
        if (c + l >= 0 && c + l < w) {
            t[l] = plane[s + l];
        }
    }
    return vloadv(0, t);
}

/* Stores the first len (at most RV) lanes of v at p. */
static void store_row(global float *p, floatv v, long len)
{
    if (len >= RV) {
        vstorev(v, 0, p);
        return;
    }
    float t[RV];
    vstorev(v, 0, t);
    for (int l = 0; l < len; l++) {
        p[l] = t[l];
    }
}

/* The sum of v's lanes, in lane order. */
static float lane_sum(floatv v)
{
    float t[RV], s = 0.0f;
    vstorev(v, 0, t);
    for (int l = 0; l < RV; l++) {
        s += t[l];
    }
    return s;
}

/* y[b, o, r, c] = sum over the group's input channels q and taps (i, j) of
 * w[w0 + g gs + (o - g og) so + q sq + i si + j sj] x[b, q, r + i - pad h, c + j - pad w].
 * xs = (N, input channels, input h, input w), ys = (output channels, output h, output w,
 * groups), kd = (KH, KW, pad h, pad w), wp = (gs, so, sq, si, sj, w0). Work-item (b,
 * group, block of RB channels, r, block of RV columns); n work-items. mode 1 then adds
 * bias[ob + o] to each rounded sum, mode 2 also takes max(0, .) (0 for NaN), as
 * src/ops/conv.c's CONV2D_BIAS reference does; mode 0 reads no bias. */
kernel void conv2d_row(global const float *x, ulong ox, global const float *w, ulong owt,
                       global float *y, ulong oy, ulong n, int4 xs, int4 ys, int4 kd, long8 wp,
                       global const float *bias, ulong ob, int mode)
{
    ulong id = get_global_id(0);
    if (id >= n) {
        return;
    }
    long IH = xs.z, IW = xs.w, OH = ys.y, OW = ys.z, ig = xs.y / ys.w, og = ys.x / ys.w;
    long ncol = (OW + RV - 1) / RV, nblk = (og + RB - 1) / RB;
    long q = (long)id, c0 = (q % ncol) * RV;
    q /= ncol;
    long r = q % OH;
    q /= OH;
    long blk = q % (nblk * ys.w), b = q / (nblk * ys.w);
    long g = blk / nblk, o0 = (blk % nblk) * RB, on = min((long)RB, og - o0);
    long woff[RB];
    floatv acc[RB];
    for (int t = 0; t < RB; t++) {
        woff[t] = wp.s5 + g * wp.s0 + (o0 + min((long)t, on - 1)) * wp.s1;
        acc[t] = (floatv)0.0f;
    }
    for (long c = 0; c < ig; c++) {
        global const float *xp = x + ox + ((b * xs.y + g * ig + c) * IH) * IW;
        global const float *wc = w + owt + c * wp.s2;
        for (long i = 0; i < kd.x; i++) {
            long ih = r + i - kd.z;
            if (ih < 0 || ih >= IH) {
                continue;
            }
            for (long j = 0; j < kd.y; j++) {
                floatv v = load_row(xp, ih, c0 + j - kd.w, IH, IW);
                long wi = i * wp.s3 + j * wp.s4;
                for (int t = 0; t < RB; t++) {
                    acc[t] += wc[woff[t] + wi] * v;
                }
            }
        }
    }
    global float *yp = y + oy + ((b * ys.x + g * og + o0) * OH + r) * OW + c0;
    for (int t = 0; t < RB; t++) {
        if (t < on) {
            floatv v = acc[t];
            if (mode != 0) {
                v += bias[ob + g * og + o0 + t];
            }
            if (mode == 2) {
                v = select((floatv)0.0f, v, isgreater(v, (floatv)0.0f));
            }
            store_row(yp + t * OH * OW, v, OW - c0);
        }
    }
}

/* CONV2D_BIAS on the other convolution kernels: y[oy + i] += bias[ob + channel of i],
 * then (relu) max(0, .) with 0 for NaN, in place over the n elements of y [N, K, plane]. */
kernel void conv2d_add_bias(global float *y, ulong oy, global const float *bias, ulong ob, ulong n,
                            long plane, long k, int relu)
{
    ulong i = get_global_id(0);
    if (i >= n) {
        return;
    }
    float s = y[oy + i] + bias[ob + ((long)i / plane) % k];
    y[oy + i] = relu && !(s > 0.0f) ? 0.0f : s;
}

/* Part p of dw[k, c', i, j]: the sum of dy[b, k, r, col] x[b, c, r + i - pad h, col + j -
 * pad w] over the images b of part p (p N / parts to (p + 1) N / parts) and all (r, col).
 * xs = (N, C, H, W), ws = (K, C / groups, KH, KW), ys = (OH, OW, groups, parts), pd = pads.
 * Work-item (part, group, block of FB filters, c', block of TB taps (i, j)): a vector of
 * dy serves TB taps, one of x FB filters. Output (k, c', i, j) of part p goes to
 * part[op + (((k C' + c') KH + i) KW + j) parts + p]. */
kernel void conv2d_bwd_filter_row(global const float *x, ulong ox, global const float *dy,
                                  ulong ody, global float *part, ulong op, ulong n, int4 xs,
                                  int4 ws, int4 ys, int2 pd)
{
    ulong id = get_global_id(0);
    if (id >= n) {
        return;
    }
    long H = xs.z, W = xs.w, OH = ys.x, OW = ys.y, kg = ws.x / ys.z, cg = ws.y;
    long khw = (long)ws.z * ws.w, nblk = (kg + FB - 1) / FB, ntap = (khw + TB - 1) / TB;
    long parts = ys.w;
    long q = (long)id, u0 = (q % ntap) * TB;
    q /= ntap;
    long cc = q % cg;
    q /= cg;
    long blk = q % (nblk * ys.z), p = q / (nblk * ys.z);
    long g = blk / nblk, k0 = g * kg + (blk % nblk) * FB, kn = min((long)FB, (g + 1) * kg - k0);
    long un = min((long)TB, khw - u0), ti[TB], tj[TB];
    for (int u = 0; u < TB; u++) {
        long tap = u0 + min((long)u, un - 1);
        ti[u] = tap / ws.w - pd.x;
        tj[u] = tap % ws.w - pd.y;
    }
    floatv acc[FB][TB];
    for (int t = 0; t < FB; t++) {
        for (int u = 0; u < TB; u++) {
            acc[t][u] = (floatv)0.0f;
        }
    }
    for (long b = p * xs.x / parts; b < (p + 1) * xs.x / parts; b++) {
        global const float *xp = x + ox + (b * xs.y + g * cg + cc) * H * W;
        global const float *gp = dy + ody + (b * ws.x + k0) * OH * OW;
        for (long r = 0; r < OH; r++) {
            for (long c0 = 0; c0 < OW; c0 += RV) {
                floatv d[FB];
                for (int t = 0; t < FB; t++) {
                    d[t] = load_row(gp + min((long)t, kn - 1) * OH * OW, r, c0, OH, OW);
                }
                for (int u = 0; u < TB; u++) {
                    floatv v = load_row(xp, r + ti[u], c0 + tj[u], H, W);
                    for (int t = 0; t < FB; t++) {
                        acc[t][u] += d[t] * v;
                    }
                }
            }
        }
    }
    for (int t = 0; t < FB; t++) {
        for (int u = 0; u < TB; u++) {
            if (t < kn && u < un) {
                long o = ((k0 + t) * cg + cc) * khw + u0 + u;
                part[op + o * parts + p] = lane_sum(acc[t][u]);
            }
        }
    }
}

/* y[oy + o] = the sum of part[o parts + p] over p, in order; n outputs. */
kernel void conv2d_sum_parts(global const float *part, ulong parts, global float *y, ulong oy,
                             ulong n)
{
    ulong o = get_global_id(0);
    if (o >= n) {
        return;
    }
    float s = 0.0f;
    for (ulong p = 0; p < parts; p++) {
        s += part[o * parts + p];
    }
    y[oy + o] = s;
}
