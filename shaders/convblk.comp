#version 450
/*
 * convblk.comp - 2-D convolution over NCHW tensors as register-blocked direct loops,
 * the way CPU devices (lavapipe) run a convolution fastest: each invocation computes
 * one pixel for a block of CB channels, keeping the CB sums in registers, so that one
 * load of the pixel's input serves CB multiply-adds and neighbouring invocations (the
 * pixels of a row) load neighbouring addresses. Only the taps that fall inside the
 * image are visited. Same meaning as conv.comp, convgemm.comp and src/ops/conv.c; per
 * group g, cg = C / groups input and kg = K / groups output channels:
 *   -DOP_FWD     y[b, g kg + k, oy, ox] = sum over c < cg, i, j of w[g kg + k, c, i, j]
 *                x[b, g cg + c, oy sh - ph + i dh, ox sw - pw + j dw]; invocation: (b,
 *                block of CB output channels, oy, ox). The weights are staged in shared
 *                memory when they fit (WS_MAX floats).
 *   -DOP_DATA    dx[b, g cg + c, iy, ix] = sum over k < kg and the taps (i, j) whose
 *                window reaches (iy, ix) of w[g kg + k, c, i, j] dy[b, g kg + k, oy, ox];
 *                invocation: (b, block of CB input channels, iy, ix).
 *   -DOP_FILTER  dw[g kg + k, c, i, j] summed over the positions of one split of the
 *                batch's (b, oy, ox): invocation (block of CB output channels, c, i, j,
 *                split) writes part[split][...]; convgemm.comp's OP_SPLIT_SUM adds the
 *                splits in order (deterministic). The dy value of a position is the same
 *                for all invocations of a block, so it is read once per position.
 * Grid-stride; invocations past the end do nothing.
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable
#include "common.glsl"

#define CB 8 /* channels per invocation */

layout(std430, binding = 0) readonly buffer S0 { float s0[]; }; /* x, dy, x */
layout(std430, binding = 1) readonly buffer S1 { float s1[]; }; /* w, w, dy */
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform PC {
    uint n; /* invocations of work */
    int nb, c, h, w, k, kh, kw, oh, ow;
    int sh, sw, ph, pw, dh, dw;
    int cg, kg;
    uint kchunk, splits; /* OP_FILTER: positions per split, splits */
    uint nblk, unused;   /* blocks of CB channels per group */
} pc;

#if defined(OP_FWD)
#define WS_MAX 4096
shared float ws[WS_MAX];
void main()
{
    uint ohw = uint(pc.oh * pc.ow);
    uint groups = uint(pc.c / pc.cg);
    uint wtot = uint(pc.k * pc.cg * pc.kh * pc.kw);
    /* The weights in shared memory when they fit (uniform over the dispatch). */
    bool cached = wtot <= WS_MAX;
    for (uint i = gl_LocalInvocationID.x; cached && i < wtot; i += WG) {
        ws[i] = s1[i];
    }
    barrier();
    for (uint t = GSTART; t < pc.n; t += GSTEP) {
        uint p = t % ohw, r = t / ohw;
        uint blk = r % (pc.nblk * groups), b = r / (pc.nblk * groups);
        uint g = blk / pc.nblk, k0 = (blk % pc.nblk) * CB;
        int oy = int(p / uint(pc.ow)), ox = int(p % uint(pc.ow));
        float acc[CB];
        [[unroll]] for (int q = 0; q < CB; q++) {
            acc[q] = 0.0;
        }
        uint kbase = g * uint(pc.kg) + k0;
        int khw = pc.kh * pc.kw;
        /* Past the group's last channel the block rereads that channel's weights (its
         * sums are not written), so that nothing outside w is read. */
        uint kn = min(uint(CB), uint(pc.kg) - k0);
        int woff[CB];
        [[unroll]] for (uint q = 0; q < CB; q++) {
            woff[q] = int(min(q, kn - 1u)) * pc.cg * khw;
        }
        for (int ci = 0; ci < pc.cg; ci++) {
            int xrow = (int(b) * pc.c + int(g) * pc.cg + ci) * pc.h;
            int wbase = int(kbase) * pc.cg * khw + ci * khw;
            for (int i = 0; i < pc.kh; i++) {
                int iy = oy * pc.sh - pc.ph + i * pc.dh;
                if (iy < 0 || iy >= pc.h) {
                    continue;
                }
                int xoff = (xrow + iy) * pc.w;
                for (int j = 0; j < pc.kw; j++) {
                    int ix = ox * pc.sw - pc.pw + j * pc.dw;
                    if (ix < 0 || ix >= pc.w) {
                        continue;
                    }
                    float v = s0[xoff + ix];
                    int wi = wbase + i * pc.kw + j;
                    [[unroll]] for (int q = 0; q < CB; q++) {
                        acc[q] = fma(cached ? ws[wi + woff[q]] : s1[wi + woff[q]], v, acc[q]);
                    }
                }
            }
        }
        uint obase = (b * uint(pc.k) + kbase) * ohw + p;
        [[unroll]] for (uint q = 0; q < CB; q++) {
            if (q < kn) {
                y[obase + q * ohw] = acc[q];
            }
        }
    }
}
#elif defined(OP_DATA)
void main()
{
    uint hw = uint(pc.h * pc.w);
    uint groups = uint(pc.c / pc.cg);
    int khw = pc.kh * pc.kw;
    for (uint t = GSTART; t < pc.n; t += GSTEP) {
        uint p = t % hw, r = t / hw;
        uint blk = r % (pc.nblk * groups), b = r / (pc.nblk * groups);
        uint g = blk / pc.nblk, c0 = (blk % pc.nblk) * CB;
        int iy = int(p / uint(pc.w)), ix = int(p % uint(pc.w));
        float acc[CB];
        [[unroll]] for (int q = 0; q < CB; q++) {
            acc[q] = 0.0;
        }
        uint cn = min(uint(CB), uint(pc.cg) - c0);
        int woff[CB];
        [[unroll]] for (uint q = 0; q < CB; q++) {
            woff[q] = int(min(q, cn - 1u)) * khw;
        }
        /* The taps i whose output row oy = (iy + ph - i dh) / sh is whole and in range. */
        for (int kk = 0; kk < pc.kg; kk++) {
            int ko = int(g) * pc.kg + kk;
            int yrow = (int(b) * pc.k + ko) * pc.oh;
            int wbase = (ko * pc.cg + int(c0)) * khw;
            for (int i = 0; i < pc.kh; i++) {
                int ty = iy + pc.ph - i * pc.dh;
                if (ty < 0 || ty % pc.sh != 0 || ty / pc.sh >= pc.oh) {
                    continue;
                }
                int yoff = (yrow + ty / pc.sh) * pc.ow;
                for (int j = 0; j < pc.kw; j++) {
                    int tx = ix + pc.pw - j * pc.dw;
                    if (tx < 0 || tx % pc.sw != 0 || tx / pc.sw >= pc.ow) {
                        continue;
                    }
                    float v = s0[yoff + tx / pc.sw];
                    int wi = wbase + i * pc.kw + j;
                    [[unroll]] for (int q = 0; q < CB; q++) {
                        acc[q] = fma(s1[wi + woff[q]], v, acc[q]);
                    }
                }
            }
        }
        uint obase = (b * uint(pc.c) + g * uint(pc.cg) + c0) * hw + p;
        [[unroll]] for (uint q = 0; q < CB; q++) {
            if (q < cn) {
                y[obase + q * hw] = acc[q];
            }
        }
    }
}
#elif defined(OP_FILTER)
void main()
{
    uint ohw = uint(pc.oh * pc.ow), total = uint(pc.nb) * ohw;
    uint khw = uint(pc.kh * pc.kw);
    uint groups = uint(pc.c / pc.cg);
    uint per_split = pc.nblk * groups * uint(pc.cg) * khw; /* invocations of one split */
    uint outs = uint(pc.k) * uint(pc.cg) * khw;            /* dw elements */
    for (uint t = GSTART; t < pc.n; t += GSTEP) {
        uint split = t / per_split, r = t % per_split;
        uint tap = r % khw;
        r /= khw;
        uint ci = r % uint(pc.cg), blk = r / uint(pc.cg);
        uint g = blk / pc.nblk, k0 = (blk % pc.nblk) * CB;
        int i = int(tap) / pc.kw, j = int(tap) % pc.kw;
        uint kbase = g * uint(pc.kg) + k0;
        uint kn = min(uint(CB), uint(pc.kg) - k0);
        float acc[CB];
        [[unroll]] for (int q = 0; q < CB; q++) {
            acc[q] = 0.0;
        }
        uint q0 = split * pc.kchunk, q1 = min(total, q0 + pc.kchunk);
        for (uint pos = q0; pos < q1; pos++) {
            uint b = pos / ohw, p = pos % ohw;
            int oy = int(p / uint(pc.ow)), ox = int(p % uint(pc.ow));
            int iy = oy * pc.sh - pc.ph + i * pc.dh, ix = ox * pc.sw - pc.pw + j * pc.dw;
            if (iy < 0 || iy >= pc.h || ix < 0 || ix >= pc.w) {
                continue;
            }
            float v = s0[((int(b) * pc.c + int(g) * pc.cg + int(ci)) * pc.h + iy) * pc.w + ix];
            uint ybase = (b * uint(pc.k) + kbase) * ohw + p;
            [[unroll]] for (uint q = 0; q < CB; q++) {
                if (q < kn) {
                    acc[q] = fma(s1[ybase + q * ohw], v, acc[q]);
                }
            }
        }
        [[unroll]] for (uint q = 0; q < CB; q++) {
            if (q < kn) {
                y[split * outs + ((kbase + q) * uint(pc.cg) + ci) * khw + tap] = acc[q];
            }
        }
    }
}
#else
#error "convblk.comp: no OP_ defined"
#endif
