#version 450
/*
 * convrow.comp - 2-D convolution over NCHW tensors, stride 1 and dilation 1, for a
 * kernel width KW fixed when the variant is built (-DKW=5, -DKW=3), as direct loops
 * blocked in registers along a row of pixels and a block of channels. It is built for
 * devices whose loads cost far more than their multiply-adds: CPU devices such as
 * lavapipe run every buffer or shared-memory load as one scalar load per invocation of
 * a SIMD batch, while a multiply-add covers the whole batch in one instruction. So each
 * invocation loads a row segment of its input once into registers and reuses every
 * value for a block of channels and all KW taps (the index of a tap inside the segment
 * is a constant once the loops are unrolled), and no shared memory or barrier is used.
 * Same meaning as conv.comp, convgemm.comp and src/ops/conv.c; per group g, cg = C /
 * groups input and kg = K / groups output channels:
 *   -DOP_FWD     y[b, g kg + k, oy, ox] = sum over c < cg, i, j of w[g kg + k, c, i, j]
 *                x[b, g cg + c, oy - ph + i, ox - pw + j]; invocation: (b, block of KB
 *                output channels, PY rows, run of PX pixels of each). The KB x KW
 *                weights of a kernel row are loaded once for the PY rows.
 *   -DOP_DATA    dx[b, g cg + c, iy, ix] = sum over k < kg, i, j of w[g kg + k, c, i, j]
 *                dy[b, g kg + k, iy + ph - i, ix + pw - j] (the forward sum with the
 *                kernel turned around); invocation: (b, block of KB input channels, PY
 *                rows, run of PX pixels).
 *   -DOP_FILTER  dw[g kg + k, c, i, j] summed over whole output rows (b, oy) of one
 *                split of the batch: invocation (split, block of KB output channels, c,
 *                block of IB kernel rows) keeps KB x IB x KW sums and, along each row,
 *                one window of KW inputs per kernel row that moves by one pixel per
 *                step (one new load), so a position costs KB + IB loads for KB IB KW
 *                multiply-adds. It writes part[split][...]; convgemm.comp's
 *                OP_SPLIT_SUM adds the splits in order (deterministic).
 *   -DBIAS       (with OP_FWD; CONV2D_BIAS) then adds bias[g kg + k] (binding 2; y is
 *                binding 3) to each rounded sum and, where the relu push constant is
 *                set, takes max(0, .), as src/ops/conv.c's reference does.
 *   -DOP_BIAS    the same epilogue alone, in place over y (binding 1) with the bias at
 *                binding 0: CONV2D_BIAS on the paths whose shaders have no epilogue.
 *                Invocation: one element of y (n = N K OH OW).
 * Blocks past the last channel reread that channel's weights or gradients and write
 * nothing; taps outside the image read a clamped address and use zero. Grid-stride.
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable
#include "common.glsl"

#ifndef KW
#error "convrow.comp: build with -DKW=<kernel width>"
#endif
/* Block sizes, mirrored by vk_kernels_cnn.c's ROW_KB, ROW_PX, ROW_PY and ROW_IB. */
#define KB 8 /* channels per invocation */
#define PX 8 /* pixels of a row per invocation (OP_FWD, OP_DATA) */
#define PY 2 /* rows per invocation (OP_FWD, OP_DATA) */
#define IB 5 /* kernel rows per invocation (OP_FILTER) */

#if defined(OP_BIAS)
layout(std430, binding = 0) readonly buffer Bias { float bias[]; };
layout(std430, binding = 1) buffer Y { float y[]; };
#elif defined(BIAS)
layout(std430, binding = 0) readonly buffer S0 { float s0[]; }; /* x */
layout(std430, binding = 1) readonly buffer S1 { float s1[]; }; /* w */
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
#else
layout(std430, binding = 0) readonly buffer S0 { float s0[]; }; /* x, dy, x */
layout(std430, binding = 1) readonly buffer S1 { float s1[]; }; /* w, w, dy */
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#endif

layout(push_constant) uniform PC {
    uint n; /* invocations of work */
    int nb, c, h, w, k, kh, kw, oh, ow;
    int sh, sw, ph, pw, dh, dw;
    int cg, kg;
    uint kchunk, splits; /* OP_FILTER: output rows per split, splits */
    uint nblk;           /* blocks of KB channels per group */
    uint relu;           /* BIAS: 1 = max(0, .) after the bias */
} pc;

#if defined(OP_FWD) || defined(OP_DATA)
void main()
{
    int khw = pc.kh * KW;
#ifdef OP_FWD
    int ih = pc.h, iw = pc.w, oh = pc.oh, ow = pc.ow; /* input and output planes */
    int nsum = pc.cg, nout = pc.kg, cin = pc.c, cout = pc.k;
    int wq = pc.cg * khw, ws = khw; /* weight strides of an output and a summed channel */
    int coff = -pc.pw;              /* column of tap 0 (OP_DATA: of tap KW - 1) at pixel 0 */
#else
    int ih = pc.oh, iw = pc.ow, oh = pc.h, ow = pc.w;
    int nsum = pc.kg, nout = pc.cg, cin = pc.k, cout = pc.c;
    int wq = khw, ws = pc.cg * khw;
    int coff = pc.pw - (KW - 1);
#endif
    uint nxb = uint(ow + PX - 1) / PX, nyb = uint(oh + PY - 1) / PY;
    uint groups = uint(pc.c / pc.cg);
    for (uint t = GSTART; t < pc.n; t += GSTEP) {
        uint xb = t % nxb, r = t / nxb;
        int oy0 = int(r % nyb) * PY;
        r /= nyb;
        uint blk = r % (pc.nblk * groups), b = r / (pc.nblk * groups);
        uint g = blk / pc.nblk;
        int q0 = int(blk % pc.nblk) * KB;
        int qn = min(KB, nout - q0);
        int ox0 = int(xb) * PX;
        float acc[PY * KB * PX];
        [[unroll]] for (int a = 0; a < PY * KB * PX; a++) {
            acc[a] = 0.0;
        }
        int woff[KB];
        [[unroll]] for (int q = 0; q < KB; q++) {
            woff[q] = min(q, qn - 1) * wq;
        }
#ifdef OP_FWD
        int wbase = (int(g) * pc.kg + q0) * wq;
#else
        int wbase = int(g) * pc.kg * ws + q0 * wq;
#endif
        int c0 = ox0 + coff;
        for (int s = 0; s < nsum; s++) {
            int plane = (int(b) * cin + int(g) * nsum + s) * ih;
            for (int i = 0; i < pc.kh; i++) {
                int wrow = wbase + s * ws + i * KW;
                float wv[KB * KW];
                [[unroll]] for (int q = 0; q < KB; q++) {
                    [[unroll]] for (int u = 0; u < KW; u++) {
#ifdef OP_FWD
                        wv[q * KW + u] = s1[wrow + woff[q] + u];
#else
                        wv[q * KW + u] = s1[wrow + woff[q] + (KW - 1 - u)];
#endif
                    }
                }
                [[unroll]] for (int yy = 0; yy < PY; yy++) {
#ifdef OP_FWD
                    int row = oy0 + yy - pc.ph + i;
#else
                    int row = oy0 + yy + pc.ph - i;
#endif
                    bool rin = row >= 0 && row < ih;
                    int xo = (plane + clamp(row, 0, ih - 1)) * iw;
                    float xv[PX + KW - 1];
                    [[unroll]] for (int u = 0; u < PX + KW - 1; u++) {
                        int col = c0 + u;
                        float v = s0[xo + clamp(col, 0, iw - 1)];
                        xv[u] = rin && col >= 0 && col < iw ? v : 0.0;
                    }
                    [[unroll]] for (int q = 0; q < KB; q++) {
                        [[unroll]] for (int u = 0; u < KW; u++) {
                            [[unroll]] for (int p = 0; p < PX; p++) {
                                int a = (yy * KB + q) * PX + p;
                                acc[a] = fma(wv[q * KW + u], xv[p + u], acc[a]);
                            }
                        }
                    }
                }
            }
        }
        int obase = ((int(b) * cout + int(g) * nout + q0) * oh + oy0) * ow + ox0;
        int pn = min(PX, ow - ox0), yn = min(PY, oh - oy0);
#ifdef BIAS
        float bv[KB];
        [[unroll]] for (int q = 0; q < KB; q++) {
            bv[q] = bias[int(g) * nout + q0 + min(q, qn - 1)];
        }
#endif
        [[unroll]] for (int yy = 0; yy < PY; yy++) {
            [[unroll]] for (int q = 0; q < KB; q++) {
                [[unroll]] for (int p = 0; p < PX; p++) {
                    float v = acc[(yy * KB + q) * PX + p];
#ifdef BIAS
                    float s = v + bv[q];
                    v = pc.relu != 0u && !(s > 0.0) ? 0.0 : s;
#endif
                    if (q < qn && p < pn && yy < yn) {
                        y[obase + (q * oh + yy) * ow + p] = v;
                    }
                }
            }
        }
    }
}
#elif defined(OP_FILTER)
void main()
{
    int khw = pc.kh * KW;
    uint groups = uint(pc.c / pc.cg);
    uint iblk = uint(pc.kh + IB - 1) / IB;
    uint per_split = pc.nblk * groups * uint(pc.cg) * iblk; /* invocations of one split */
    uint outs = uint(pc.k * pc.cg * khw);                   /* dw elements */
    uint rows = uint(pc.nb * pc.oh);
    for (uint t = GSTART; t < pc.n; t += GSTEP) {
        uint split = t / per_split, r = t % per_split;
        int i0 = int(r % iblk) * IB;
        r /= iblk;
        int ci = int(r % uint(pc.cg));
        uint blk = r / uint(pc.cg);
        uint g = blk / pc.nblk;
        int k0 = int(g) * pc.kg + int(blk % pc.nblk) * KB;
        int kn = min(KB, (int(g) + 1) * pc.kg - k0);
        float acc[KB * IB * KW];
        [[unroll]] for (int a = 0; a < KB * IB * KW; a++) {
            acc[a] = 0.0;
        }
        int yoff[KB];
        [[unroll]] for (int q = 0; q < KB; q++) {
            yoff[q] = min(q, kn - 1) * pc.oh * pc.ow;
        }
        uint row1 = min(rows, (split + 1u) * pc.kchunk);
        for (uint row = split * pc.kchunk; row < row1; row++) {
            int b = int(row / uint(pc.oh)), oy = int(row % uint(pc.oh));
            int ybase = ((b * pc.k + k0) * pc.oh + oy) * pc.ow;
            int xplane = (b * pc.c + int(g) * pc.cg + ci) * pc.h;
            int xo[IB];
            bool rin[IB];
            float xw[IB * KW];
            [[unroll]] for (int ib = 0; ib < IB; ib++) {
                int iy = oy - pc.ph + i0 + ib;
                rin[ib] = iy >= 0 && iy < pc.h && i0 + ib < pc.kh;
                xo[ib] = (xplane + clamp(iy, 0, pc.h - 1)) * pc.w;
                [[unroll]] for (int u = 0; u < KW - 1; u++) {
                    int col = u - pc.pw;
                    float v = s0[xo[ib] + clamp(col, 0, pc.w - 1)];
                    xw[ib * KW + u + 1] = rin[ib] && col >= 0 && col < pc.w ? v : 0.0;
                }
            }
            for (int ox = 0; ox < pc.ow; ox++) {
                float dv[KB];
                [[unroll]] for (int q = 0; q < KB; q++) {
                    dv[q] = s1[ybase + yoff[q] + ox];
                }
                int col = ox - pc.pw + KW - 1;
                [[unroll]] for (int ib = 0; ib < IB; ib++) {
                    [[unroll]] for (int u = 0; u < KW - 1; u++) {
                        xw[ib * KW + u] = xw[ib * KW + u + 1];
                    }
                    float v = s0[xo[ib] + clamp(col, 0, pc.w - 1)];
                    xw[ib * KW + KW - 1] = rin[ib] && col >= 0 && col < pc.w ? v : 0.0;
                }
                [[unroll]] for (int q = 0; q < KB; q++) {
                    [[unroll]] for (int a = 0; a < IB * KW; a++) {
                        acc[q * IB * KW + a] = fma(dv[q], xw[a], acc[q * IB * KW + a]);
                    }
                }
            }
        }
        [[unroll]] for (int q = 0; q < KB; q++) {
            [[unroll]] for (int ib = 0; ib < IB; ib++) {
                [[unroll]] for (int u = 0; u < KW; u++) {
                    if (q < kn && i0 + ib < pc.kh) {
                        y[split * outs + uint(((k0 + q) * pc.cg + ci) * khw + (i0 + ib) * KW + u)] =
                            acc[(q * IB + ib) * KW + u];
                    }
                }
            }
        }
    }
}
#elif defined(OP_BIAS)
void main()
{
    uint plane = uint(pc.oh * pc.ow);
    for (uint t = GSTART; t < pc.n; t += GSTEP) {
        float s = y[t] + bias[(t / plane) % uint(pc.k)];
        y[t] = pc.relu != 0u && !(s > 0.0) ? 0.0 : s;
    }
}
#else
#error "convrow.comp: no OP_ defined"
#endif
