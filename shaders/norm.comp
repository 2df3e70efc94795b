#version 450
/*
 * norm.comp - batch norm and local response norm over [N, C, spatial...] tensors
 * (S = the product of the spatial dims), matching src/ops/norm.c:
 *   -DOP_BN_STATS             st = [mean; biased var] per channel (one workgroup per
 *                             channel, workgroup sums of wgreduce.glsl; two passes; also
 *                             built with -DKILN_SUBGROUP); outside training,
 *                             the running statistics.
 *   -DOP_BN_STATS_BWD         dx = (dmean + 2 dvar (x - mean)) / M
 *   -DOP_BN_APPLY             y = (x - mean) r gamma + beta, r = 1 / sqrt(var + eps)
 *   -DOP_BN_APPLY_BWD         dx = dy gamma r
 *   -DOP_BN_APPLY_BWD_PARAMS  [4, C]: d mean, d var, d gamma, d beta (per-channel sums,
 *                             as BN_STATS)
 *   -DOP_BN_RUNNING_UPDATE    running mean and var updated in place (training only)
 *   -DOP_LRN, -DOP_LRN_BWD    across channels, one invocation per element
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "wgreduce.glsl"

#if defined(OP_BN_STATS) || defined(OP_BN_STATS_BWD)
layout(std430, binding = 0) readonly buffer B0 { float x[]; };
layout(std430, binding = 1) readonly buffer B1 { float b1[]; }; /* running mean | st */
layout(std430, binding = 2) readonly buffer B2 { float b2[]; }; /* running var | dstats */
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
#elif defined(OP_BN_APPLY) || defined(OP_BN_APPLY_BWD) || defined(OP_BN_APPLY_BWD_PARAMS)
layout(std430, binding = 0) readonly buffer B0 { float x[]; };
layout(std430, binding = 1) readonly buffer B1 { float st[]; };
layout(std430, binding = 2) readonly buffer B2 { float gm[]; };
layout(std430, binding = 3) readonly buffer B3 { float b3[]; }; /* beta | dy */
layout(std430, binding = 4) writeonly buffer Y { float y[]; };
#elif defined(OP_BN_RUNNING_UPDATE)
layout(std430, binding = 0) buffer B0 { float rm[]; };
layout(std430, binding = 1) buffer B1 { float rv[]; };
layout(std430, binding = 2) readonly buffer B2 { float st[]; };
#else
layout(std430, binding = 0) readonly buffer B0 { float x[]; };
#ifdef OP_LRN_BWD
layout(std430, binding = 1) readonly buffer B1 { float dy[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#else
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
#endif
#endif

layout(push_constant) uniform PC {
    uint n;       /* elements (or channels for the per-channel kernels) */
    uint nb, c, s; /* N, C, S */
    float f0, f1, f2, f3; /* eps | 1/M | momentum, unbias | LRN alpha, beta, k */
    int size;     /* LRN window */
    uint training;
} pc;

#if defined(OP_BN_STATS)
KILN_WG_SUM
#elif defined(OP_BN_APPLY_BWD_PARAMS)
KILN_WG_SUM2
#endif

#if defined(OP_LRN) || defined(OP_LRN_BWD)
float lrn_den(uint base, int ch)
{
    int lo = max(ch - pc.size / 2, 0), hi = min(ch + (pc.size - 1) / 2, int(pc.c) - 1);
    float sum = 0.0;
    for (int j = lo; j <= hi; j++) {
        float v = x[base + uint(j) * pc.s];
        sum += v * v;
    }
    return pc.f2 + pc.f0 / float(pc.size) * sum;
}
#endif

void main()
{
#if defined(OP_BN_STATS) || defined(OP_BN_APPLY_BWD_PARAMS)
    uint lid = gl_LocalInvocationID.x, m = pc.nb * pc.s;
    for (uint ch = gl_WorkGroupID.x; ch < pc.c; ch += gl_NumWorkGroups.x) {
#ifdef OP_BN_STATS
        if (pc.training == 0u) {
            if (lid == 0u) {
                y[ch] = b1[ch];
                y[pc.c + ch] = b2[ch];
            }
            continue;
        }
        float sum = 0.0;
        for (uint e = lid; e < m; e += WG) {
            sum += x[((e / pc.s) * pc.c + ch) * pc.s + e % pc.s];
        }
        float mean = kiln_wg_sum(sum) / float(m);
        float sq = 0.0;
        for (uint e = lid; e < m; e += WG) {
            float d = x[((e / pc.s) * pc.c + ch) * pc.s + e % pc.s] - mean;
            sq += d * d;
        }
        float var = kiln_wg_sum(sq) / float(m);
        if (lid == 0u) {
            y[ch] = mean;
            y[pc.c + ch] = var;
        }
#else
        float s1 = 0.0, s2 = 0.0, mean = st[ch];
        for (uint e = lid; e < m; e += WG) {
            uint i = ((e / pc.s) * pc.c + ch) * pc.s + e % pc.s;
            s1 += b3[i];
            s2 += b3[i] * (x[i] - mean);
        }
        vec2 t = kiln_wg_sum2(vec2(s1, s2));
        float r = 1.0 / sqrt(st[pc.c + ch] + pc.f0);
        if (lid == 0u) {
            y[ch] = -gm[ch] * r * t.x;
            y[pc.c + ch] = -0.5 * gm[ch] * t.y * r * r * r;
            y[2u * pc.c + ch] = t.y * r;
            y[3u * pc.c + ch] = t.x;
        }
#endif
    }
#else
    for (uint i = GSTART; i < pc.n; i += GSTEP) {
        uint ch = (i / pc.s) % pc.c;
#if defined(OP_BN_STATS_BWD)
        y[i] = (b2[ch] + 2.0 * b2[pc.c + ch] * (x[i] - b1[ch])) * pc.f1;
#elif defined(OP_BN_APPLY)
        float r = 1.0 / sqrt(st[pc.c + ch] + pc.f0);
        y[i] = (x[i] - st[ch]) * r * gm[ch] + b3[ch];
#elif defined(OP_BN_APPLY_BWD)
        float r = 1.0 / sqrt(st[pc.c + ch] + pc.f0);
        y[i] = b3[i] * gm[ch] * r;
#elif defined(OP_BN_RUNNING_UPDATE)
        if (pc.training != 0u) {
            rm[i] = (1.0 - pc.f0) * rm[i] + pc.f0 * st[i];
            rv[i] = (1.0 - pc.f0) * rv[i] + pc.f0 * (st[pc.n + i] * pc.f1);
        }
#else
        uint sp = i % pc.s, b = i / (pc.s * pc.c);
        uint base = b * pc.c * pc.s + sp;
        float d = lrn_den(base, int(ch));
#ifdef OP_LRN
        y[i] = x[i] * pow(d, -pc.f1);
#else
        int lo = max(int(ch) - (pc.size - 1) / 2, 0), hi = min(int(ch) + pc.size / 2, int(pc.c) - 1);
        float acc = 0.0;
        for (int cc = lo; cc <= hi; cc++) {
            uint j = base + uint(cc) * pc.s;
            acc += dy[j] * x[j] * pow(lrn_den(base, cc), -pc.f1 - 1.0);
        }
        y[i] = dy[i] * pow(d, -pc.f1) - 2.0 * pc.f0 * pc.f1 / float(pc.size) * x[i] * acc;
#endif
#endif
    }
#endif
}
