#version 450
/*
 * conv.comp - direct 2-D convolution over NCHW tensors with stride, padding, dilation
 * and groups, matching src/ops/conv.c (which goes through im2col and GEMM):
 *   -DOP_CONV2D             y[b, k, oh, ow] = sum over c of the group, i, j of
 *                           w[k, c, i, j] x[b, g cg + c, oh sh - ph + i dh, ow sw - pw + j dw]
 *   -DOP_CONV2D_BWD_DATA    dx[b, c, ih, iw]: the same sum gathered over the (k, i, j)
 *                           whose window reaches (ih, iw)
 *   -DOP_CONV2D_BWD_FILTER  dw[k, c, i, j] = sum over b, oh, ow of dy x
 *   -DOP_BWD_FILTER_PART    the first level of a two-level filter gradient for few
 *                           outputs and long sums (LeNet conv1: 150 outputs of 50,176
 *                           products each): invocation (k, c, i, s) sums the products of
 *                           the kw outputs (k, c, i, 0..kw) over positions [s kchunk,
 *                           (s + 1) kchunk) of the batch, row by row (one dy load serves kw
 *                           taps), into part[s n + o]. convgemm.comp's OP_SPLIT_SUM then
 *                           adds the splits in order, so the result does not depend on
 *                           scheduling.
 * One invocation per output element (grid-stride); out-of-range taps read nothing.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) readonly buffer S0 { float s0[]; }; /* x, dy, x */
layout(std430, binding = 1) readonly buffer S1 { float s1[]; }; /* w, w, dy */
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform PC {
    uint n;
    int nb, c, h, w, k, kh, kw, oh, ow;
    int sh, sw, ph, pw, dh, dw;
    int cg, kg;
    uint kchunk, splits; /* OP_BWD_FILTER_PART: positions per split, splits */
} pc;

#ifdef OP_BWD_FILTER_PART
#define MAX_KW 8 /* taps per invocation; the host takes this path for kw <= MAX_KW */

void main()
{
    uint ohw = uint(pc.oh * pc.ow), total = uint(pc.nb) * ohw;
    uint rows = pc.n / uint(pc.kw); /* (k, c, i) triples; each invocation does a row of taps */
    for (uint t = GSTART; t < rows * pc.splits; t += GSTEP) {
        uint o = t % rows, split = t / rows;
        int i = int(o % uint(pc.kh));
        uint r = o / uint(pc.kh);
        int cl = int(r % uint(pc.cg));
        int kk = int(r / uint(pc.cg));
        int ci = (kk / pc.kg) * pc.cg + cl;
        float acc[MAX_KW];
        for (int j = 0; j < MAX_KW; j++) {
            acc[j] = 0.0;
        }
        uint q = split * pc.kchunk, q1 = min(total, q + pc.kchunk);
        while (q < q1) { /* one output row (image b, row oy) of the split at a time */
            int b = int(q / ohw);
            uint p = q % ohw;
            int oy = int(p / uint(pc.ow)), ox0 = int(p % uint(pc.ow));
            int ox1 = int(min(uint(pc.ow), uint(ox0) + (q1 - q)));
            int ih = oy * pc.sh - pc.ph + i * pc.dh;
            if (ih >= 0 && ih < pc.h) {
                uint yrow = uint(((b * pc.k + kk) * pc.oh + oy) * pc.ow);
                int xrow = ((b * pc.c + ci) * pc.h + ih) * pc.w;
                for (int ox = ox0; ox < ox1; ox++) {
                    float g = s1[yrow + uint(ox)];
                    int iw0 = ox * pc.sw - pc.pw;
                    for (int j = 0; j < MAX_KW; j++) {
                        int iw = iw0 + j * pc.dw;
                        if (j < pc.kw && iw >= 0 && iw < pc.w) {
                            acc[j] += g * s0[uint(xrow + iw)];
                        }
                    }
                }
            }
            q += uint(ox1 - ox0);
        }
        for (int j = 0; j < MAX_KW; j++) {
            if (j < pc.kw) {
                y[split * pc.n + o * uint(pc.kw) + uint(j)] = acc[j];
            }
        }
    }
}
#else
void main()
{
    for (uint o = GSTART; o < pc.n; o += GSTEP) {
        float acc = 0.0;
#if defined(OP_CONV2D)
        int ox = int(o % uint(pc.ow));
        uint r = o / uint(pc.ow);
        int oy = int(r % uint(pc.oh));
        r /= uint(pc.oh);
        int kk = int(r % uint(pc.k));
        int b = int(r / uint(pc.k));
        int c0 = (kk / pc.kg) * pc.cg;
        for (int c = 0; c < pc.cg; c++) {
            uint xb = uint((b * pc.c + c0 + c) * pc.h) * uint(pc.w);
            uint wb = uint((kk * pc.cg + c) * pc.kh) * uint(pc.kw);
            for (int i = 0; i < pc.kh; i++) {
                int ih = oy * pc.sh - pc.ph + i * pc.dh;
                if (ih < 0 || ih >= pc.h) {
                    continue;
                }
                for (int j = 0; j < pc.kw; j++) {
                    int iw = ox * pc.sw - pc.pw + j * pc.dw;
                    if (iw >= 0 && iw < pc.w) {
                        acc += s1[wb + uint(i * pc.kw + j)] * s0[xb + uint(ih * pc.w + iw)];
                    }
                }
            }
        }
#elif defined(OP_CONV2D_BWD_DATA)
        int iw = int(o % uint(pc.w));
        uint r = o / uint(pc.w);
        int ih = int(r % uint(pc.h));
        r /= uint(pc.h);
        int ci = int(r % uint(pc.c));
        int b = int(r / uint(pc.c));
        int grp = ci / pc.cg, cl = ci % pc.cg;
        for (int kk = grp * pc.kg; kk < (grp + 1) * pc.kg; kk++) {
            uint yb = uint((b * pc.k + kk) * pc.oh) * uint(pc.ow);
            uint wb = uint((kk * pc.cg + cl) * pc.kh) * uint(pc.kw);
            for (int i = 0; i < pc.kh; i++) {
                int ty = ih + pc.ph - i * pc.dh;
                if (ty < 0 || ty % pc.sh != 0 || ty / pc.sh >= pc.oh) {
                    continue;
                }
                for (int j = 0; j < pc.kw; j++) {
                    int tx = iw + pc.pw - j * pc.dw;
                    if (tx >= 0 && tx % pc.sw == 0 && tx / pc.sw < pc.ow) {
                        acc += s1[wb + uint(i * pc.kw + j)] *
                               s0[yb + uint((ty / pc.sh) * pc.ow + tx / pc.sw)];
                    }
                }
            }
        }
#elif defined(OP_CONV2D_BWD_FILTER)
        int j = int(o % uint(pc.kw));
        uint r = o / uint(pc.kw);
        int i = int(r % uint(pc.kh));
        r /= uint(pc.kh);
        int cl = int(r % uint(pc.cg));
        int kk = int(r / uint(pc.cg));
        int ci = (kk / pc.kg) * pc.cg + cl;
        for (int b = 0; b < pc.nb; b++) {
            uint xb = uint((b * pc.c + ci) * pc.h) * uint(pc.w);
            uint yb = uint((b * pc.k + kk) * pc.oh) * uint(pc.ow);
            for (int oy = 0; oy < pc.oh; oy++) {
                int ih = oy * pc.sh - pc.ph + i * pc.dh;
                if (ih < 0 || ih >= pc.h) {
                    continue;
                }
                for (int ox = 0; ox < pc.ow; ox++) {
                    int iw = ox * pc.sw - pc.pw + j * pc.dw;
                    if (iw >= 0 && iw < pc.w) {
                        acc += s1[yb + uint(oy * pc.ow + ox)] * s0[xb + uint(ih * pc.w + iw)];
                    }
                }
            }
        }
#else
#error "conv.comp: no OP_ defined"
#endif
        y[o] = acc;
    }
}
#endif
