#version 450
/*
 * convgemm.comp - 2-D convolution over NCHW tensors as an implicit GEMM: the tiled
 * product of gemm.glsl with the im2col matrix gathered while the shared tiles are
 * loaded, so no column buffer is written. Same meaning as conv.comp and
 * src/ops/conv.c; per group g (workgroup z % groups), with cg = C / groups input and
 * kg = K / groups output channels:
 *   -DOP_FWD     y = W_g col(x):   M = kg, N = nb oh ow, K = cg kh kw
 *   -DOP_DATA    dx = W_g^T dy, gathered per input pixel (the taps whose window
 *                reaches it; with stride s only every s-th tap does):
 *                                  M = cg, N = nb h w,   K = kg kh kw
 *   -DOP_FILTER  dw = dy col(x)^T: M = kg, N = cg kh kw, K = nb oh ow; the long k range
 *                may be split (workgroup z / groups is the split, each covering
 *                kchunk of k) into partial products written one after the other
 *   -DOP_SPLIT_SUM  y[i] = sum over the M splits of part[s * N + i], in split order, so
 *                that the result does not depend on scheduling.
 * Integer division is slow on some devices (CPU devices emulate vector division), so
 * the decomposition of a column index (image, pixel) is done once per tile and that of
 * a k index (channel, tap) once per step along k, into shared tables (GEMM_SETUP);
 * the element loads then need only multiplies and adds.
 * -DSMALL_TILE builds the same code for the host's small-M tile specialization.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#ifdef OP_FILTER
#define GEMM_B_KFAST
#endif
#ifndef OP_SPLIT_SUM
#define GEMM_SETUP
#include "gemm.glsl"
#endif

layout(std430, binding = 0) readonly buffer S0 { float s0[]; }; /* x, dy, x, part */
#ifdef OP_SPLIT_SUM
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
#else
layout(std430, binding = 1) readonly buffer S1 { float s1[]; }; /* w, w, dy */
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#endif

layout(push_constant) uniform PC {
    uint M, N, K, kchunk; /* the GEMM; the k range of one split (OP_FILTER) */
    int nb, c, h, w, k, kh, kw, oh, ow;
    int sh, sw, ph, pw, dh, dw;
    int cg, kg, groups;
} pc;

#ifndef OP_SPLIT_SUM
uint g_grp; /* this workgroup's group */

/* Per column of the tile (nl) and per k of the current step (kl): base offsets and
 * the row / column coordinates the taps add to. */
shared int c_base[BN], c_y[BN], c_x[BN], c_out[BN];
shared int r_base[BK], r_y[BK], r_x[BK], r_a[BK];
#endif

#if defined(OP_FWD)
void gemm_setup_tile(uint m0, uint n0)
{
    uint ohw = uint(pc.oh * pc.ow);
    for (uint nl = gl_LocalInvocationID.x; nl < BN; nl += WG) {
        uint n = min(n0 + nl, pc.N - 1);
        uint b = n / ohw, p = n % ohw;
        c_base[nl] = int((b * uint(pc.c) + g_grp * uint(pc.cg)) * uint(pc.h * pc.w));
        c_y[nl] = int(p / uint(pc.ow)) * pc.sh - pc.ph;
        c_x[nl] = int(p % uint(pc.ow)) * pc.sw - pc.pw;
        c_out[nl] = int((b * uint(pc.k) + g_grp * uint(pc.kg)) * ohw + p);
    }
}

void gemm_setup_k(uint k0)
{
    uint khw = uint(pc.kh * pc.kw);
    for (uint kl = gl_LocalInvocationID.x; kl < BK; kl += WG) {
        uint kk = k0 + kl;
        uint ci = kk / khw, r = kk % khw;
        r_base[kl] = int(ci) * pc.h * pc.w;
        r_y[kl] = int(r / uint(pc.kw)) * pc.dh;
        r_x[kl] = int(r % uint(pc.kw)) * pc.dw;
    }
}

float gemm_a(uint m, uint kk, uint ml, uint kl)
{
    return s1[(g_grp * uint(pc.kg) + m) * pc.K + kk];
}

float gemm_b(uint kk, uint n, uint kl, uint nl)
{
    int ih = c_y[nl] + r_y[kl], iw = c_x[nl] + r_x[kl];
    if (ih < 0 || ih >= pc.h || iw < 0 || iw >= pc.w) {
        return 0.0;
    }
    return s0[c_base[nl] + r_base[kl] + ih * pc.w + iw];
}

void gemm_c(uint m, uint n, uint ml, uint nl, float v)
{
    y[c_out[nl] + int(m) * pc.oh * pc.ow] = v;
}
#elif defined(OP_DATA)
void gemm_setup_tile(uint m0, uint n0)
{
    uint hw = uint(pc.h * pc.w), ohw = uint(pc.oh * pc.ow);
    for (uint nl = gl_LocalInvocationID.x; nl < BN; nl += WG) {
        uint n = min(n0 + nl, pc.N - 1);
        uint b = n / hw, p = n % hw;
        c_base[nl] = int((b * uint(pc.k) + g_grp * uint(pc.kg)) * ohw);
        c_y[nl] = int(p / uint(pc.w)) + pc.ph;
        c_x[nl] = int(p % uint(pc.w)) + pc.pw;
        c_out[nl] = int((b * uint(pc.c) + g_grp * uint(pc.cg)) * hw + p);
    }
}

void gemm_setup_k(uint k0)
{
    uint khw = uint(pc.kh * pc.kw);
    for (uint kl = gl_LocalInvocationID.x; kl < BK; kl += WG) {
        uint kk = k0 + kl;
        uint ko = kk / khw, r = kk % khw;
        r_base[kl] = int(ko) * pc.oh * pc.ow;
        r_y[kl] = int(r / uint(pc.kw)) * pc.dh;
        r_x[kl] = int(r % uint(pc.kw)) * pc.dw;
        r_a[kl] = int((g_grp * uint(pc.kg) + ko) * uint(pc.cg) * khw + r);
    }
}

float gemm_a(uint m, uint kk, uint ml, uint kl)
{
    return s1[r_a[kl] + int(m) * pc.kh * pc.kw];
}

float gemm_b(uint kk, uint n, uint kl, uint nl)
{
    int ty = c_y[nl] - r_y[kl], tx = c_x[nl] - r_x[kl];
    if (ty < 0 || tx < 0) {
        return 0.0;
    }
    if (pc.sh != 1 || pc.sw != 1) {
        if (ty % pc.sh != 0 || tx % pc.sw != 0) {
            return 0.0;
        }
        ty /= pc.sh;
        tx /= pc.sw;
    }
    if (ty >= pc.oh || tx >= pc.ow) {
        return 0.0;
    }
    return s0[c_base[nl] + r_base[kl] + ty * pc.ow + tx];
}

void gemm_c(uint m, uint n, uint ml, uint nl, float v)
{
    y[c_out[nl] + int(m) * pc.h * pc.w] = v;
}
#elif defined(OP_FILTER)
void gemm_setup_tile(uint m0, uint n0)
{
    uint khw = uint(pc.kh * pc.kw);
    for (uint nl = gl_LocalInvocationID.x; nl < BN; nl += WG) {
        uint n = min(n0 + nl, pc.N - 1);
        uint ci = n / khw, r = n % khw;
        c_base[nl] = int(g_grp * uint(pc.cg) + ci) * pc.h * pc.w;
        c_y[nl] = int(r / uint(pc.kw)) * pc.dh;
        c_x[nl] = int(r % uint(pc.kw)) * pc.dw;
    }
}

void gemm_setup_k(uint k0)
{
    uint ohw = uint(pc.oh * pc.ow);
    for (uint kl = gl_LocalInvocationID.x; kl < BK; kl += WG) {
        uint kk = min(k0 + kl, pc.K - 1);
        uint b = kk / ohw, p = kk % ohw;
        r_base[kl] = int(b * uint(pc.c) * uint(pc.h * pc.w));
        r_y[kl] = int(p / uint(pc.ow)) * pc.sh - pc.ph;
        r_x[kl] = int(p % uint(pc.ow)) * pc.sw - pc.pw;
        r_a[kl] = int((b * uint(pc.k) + g_grp * uint(pc.kg)) * ohw + p);
    }
}

float gemm_a(uint m, uint kk, uint ml, uint kl)
{
    return s1[r_a[kl] + int(m) * pc.oh * pc.ow];
}

float gemm_b(uint kk, uint n, uint kl, uint nl)
{
    int ih = r_y[kl] + c_y[nl], iw = r_x[kl] + c_x[nl];
    if (ih < 0 || ih >= pc.h || iw < 0 || iw >= pc.w) {
        return 0.0;
    }
    return s0[r_base[kl] + c_base[nl] + ih * pc.w + iw];
}

void gemm_c(uint m, uint n, uint ml, uint nl, float v)
{
    uint split = gl_WorkGroupID.z / uint(pc.groups);
    y[split * uint(pc.k) * pc.N + (g_grp * uint(pc.kg) + m) * pc.N + n] = v;
}
#elif !defined(OP_SPLIT_SUM)
#error "convgemm.comp: no OP_ defined"
#endif

#ifdef OP_SPLIT_SUM
void main()
{
    for (uint o = GSTART; o < pc.N; o += GSTEP) {
        float acc = 0.0;
        for (uint s = 0; s < pc.M; s++) {
            acc += s0[s * pc.N + o];
        }
        y[o] = acc;
    }
}
#else
void main()
{
    g_grp = gl_WorkGroupID.z % uint(pc.groups);
    uint split = gl_WorkGroupID.z / uint(pc.groups);
    uint kbeg = split * pc.kchunk;
    gemm_tile(pc.M, pc.N, kbeg, min(pc.K, kbeg + pc.kchunk));
}
#endif
