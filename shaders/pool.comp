#version 450
/*
 * pool.comp - windows over the H x W planes of NCHW tensors, matching src/ops/pool.c:
 *   -DOP_MAXPOOL2D             y = the first maximum of each window (row-major; NaN
 *                              beats numbers)
 *   -DOP_MAXPOOL2D_BWD         dx[e] = sum of dy over the windows whose maximum is e
 *   -DOP_MAXPOOL2D_RELU_BWD    the same, then 0 where !(x[e] > 0) (relu_bwd fused)
 *   -DOP_AVGPOOL2D             y = window sum / divisor (count_include_pad or in-range
 *                              count)
 *   -DOP_AVGPOOL2D_BWD         dx[e] = sum over windows holding e of dy / divisor
 *   -DOP_UPSAMPLE_NEAREST      y[i, j] = x[i / fh, j / fw]
 *   -DOP_UPSAMPLE_NEAREST_BWD  dx[i, j] = sum of its fh x fw block of dy
 * One invocation per output element (grid-stride). The backward kernels gather over the
 * windows that cover an element, in the reference's row-major order, instead of
 * scattering, so no atomics are needed and sums match the reference's order.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#if defined(OP_MAXPOOL2D_RELU_BWD)
#define OP_MAXPOOL2D_BWD
#define RELU_MASK
#endif

layout(std430, binding = 0) readonly buffer X { float x[]; };
#if defined(OP_MAXPOOL2D_BWD)
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#else
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
#endif

layout(push_constant) uniform PC {
    uint n;      /* output elements */
    int h, w;    /* the larger plane: input of forward ops, dx of backward ones */
    int oh, ow;  /* the pooled (or upsampled) plane */
    int kh, kw, sh, sw, ph, pw;
    int count_include_pad;
} pc;

/* Plane offset of the winner of window (i, j) in the plane at base (see pool.c). */
int window_argmax(uint base, int i, int j)
{
    int best = -1;
    float m = 0.0;
    for (int a = 0; a < pc.kh; a++) {
        int ih = i * pc.sh - pc.ph + a;
        if (ih < 0 || ih >= pc.h) {
            continue;
        }
        for (int b = 0; b < pc.kw; b++) {
            int iw = j * pc.sw - pc.pw + b;
            if (iw < 0 || iw >= pc.w) {
                continue;
            }
            float v = x[base + uint(ih * pc.w + iw)];
            if (best < 0 || v > m || (isnan(v) && !isnan(m))) {
                best = ih * pc.w + iw;
                m = v;
            }
        }
    }
    return best;
}

float window_div(int i, int j)
{
    if (pc.count_include_pad != 0) {
        return float(pc.kh * pc.kw);
    }
    int h0 = i * pc.sh - pc.ph, w0 = j * pc.sw - pc.pw;
    int h1 = min(h0 + pc.kh, pc.h), w1 = min(w0 + pc.kw, pc.w);
    return float((h1 - max(h0, 0)) * (w1 - max(w0, 0)));
}

/* The windows covering row ih span [lo, hi] (empty when lo > hi). */
void cover(int e, int k, int s, int p, int len, out int lo, out int hi)
{
    int first = e + p - k + 1;
    lo = first <= 0 ? 0 : (first + s - 1) / s;
    hi = min((e + p) / s, len - 1);
}

void main()
{
    for (uint o = GSTART; o < pc.n; o += GSTEP) {
#if defined(OP_MAXPOOL2D) || defined(OP_AVGPOOL2D) || defined(OP_UPSAMPLE_NEAREST)
        uint plane = o / uint(pc.oh * pc.ow);
        int r = int(o % uint(pc.oh * pc.ow));
        int i = r / pc.ow, j = r % pc.ow;
        uint base = plane * uint(pc.h * pc.w);
#if defined(OP_MAXPOOL2D)
        y[o] = x[base + uint(window_argmax(base, i, j))];
#elif defined(OP_AVGPOOL2D)
        float s = 0.0;
        for (int a = 0; a < pc.kh; a++) {
            int ih = i * pc.sh - pc.ph + a;
            for (int b = 0; ih >= 0 && ih < pc.h && b < pc.kw; b++) {
                int iw = j * pc.sw - pc.pw + b;
                s += iw >= 0 && iw < pc.w ? x[base + uint(ih * pc.w + iw)] : 0.0;
            }
        }
        y[o] = s / window_div(i, j);
#else
        /* upsample: here h, w is the small input plane; kh, kw the factors */
        y[o] = x[plane * uint(pc.h * pc.w) + uint((i / pc.kh) * pc.w + j / pc.kw)];
#endif
#else
        uint plane = o / uint(pc.h * pc.w);
        int e = int(o % uint(pc.h * pc.w));
        int ih = e / pc.w, iw = e % pc.w;
        uint obase = plane * uint(pc.oh * pc.ow);
#if defined(OP_UPSAMPLE_NEAREST_BWD)
        float s = 0.0;
        for (int a = 0; a < pc.kh; a++) {
            for (int b = 0; b < pc.kw; b++) {
                s += x[obase + uint((ih * pc.kh + a) * pc.ow + iw * pc.kw + b)];
            }
        }
        y[o] = s;
#else
        int i0, i1, j0, j1;
        cover(ih, pc.kh, pc.sh, pc.ph, pc.oh, i0, i1);
        cover(iw, pc.kw, pc.sw, pc.pw, pc.ow, j0, j1);
        float s = 0.0;
        for (int i = i0; i <= i1; i++) {
            for (int j = j0; j <= j1; j++) {
#if defined(OP_MAXPOOL2D_BWD)
                if (window_argmax(plane * uint(pc.h * pc.w), i, j) == e) {
                    s += dy[obase + uint(i * pc.ow + j)];
                }
#else
                s += x[obase + uint(i * pc.ow + j)] / window_div(i, j);
#endif
            }
        }
#if defined(RELU_MASK)
        s = x[o] > 0.0 ? s : 0.0;
#endif
        y[o] = s;
#endif
#endif
    }
}
