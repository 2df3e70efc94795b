#version 450
/*
 * softmax.comp - softmax and log-softmax along the last axis (-DOP_SOFTMAX,
 * -DOP_LOG_SOFTMAX) and their backward kernels (-DOP_SOFTMAX_BWD: y * (dy - sum(dy y)),
 * -DOP_LOG_SOFTMAX_BWD: dy - exp(y) sum(dy)). One workgroup per row (a uniform loop
 * over rows); the row max and sums are workgroup reductions (wgreduce.glsl: a
 * shared-memory tree, or subgroup operations with -DKILN_SUBGROUP).
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "wgreduce.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
#if defined(OP_SOFTMAX_BWD) || defined(OP_LOG_SOFTMAX_BWD)
#define BWD 1
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#else
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
#endif

layout(push_constant) uniform PC {
    uint rows, cols;
} pc;

KILN_WG_SUM
#ifndef BWD
KILN_WG_MAX
#endif

void main()
{
    uint lid = gl_LocalInvocationID.x;
    for (uint row = gl_WorkGroupID.x; row < pc.rows; row += gl_NumWorkGroups.x) {
        uint base = row * pc.cols;
#ifdef BWD
        float acc = 0.0;
        for (uint c = lid; c < pc.cols; c += WG) {
#ifdef OP_SOFTMAX_BWD
            acc += dy[base + c] * x[base + c];
#else
            acc += dy[base + c];
#endif
        }
        float s = kiln_wg_sum(acc);
        for (uint c = lid; c < pc.cols; c += WG) {
#ifdef OP_SOFTMAX_BWD
            y[base + c] = x[base + c] * (dy[base + c] - s);
#else
            y[base + c] = dy[base + c] - exp(x[base + c]) * s;
#endif
        }
#else
        float mx = x[base];
        for (uint c = lid; c < pc.cols; c += WG) {
            mx = max(mx, x[base + c]);
        }
        mx = kiln_wg_max(mx);
        float acc = 0.0;
        for (uint c = lid; c < pc.cols; c += WG) {
            acc += exp(x[base + c] - mx);
        }
        float s = kiln_wg_sum(acc);
#ifdef OP_LOG_SOFTMAX
        float ls = log(s);
        for (uint c = lid; c < pc.cols; c += WG) {
            y[base + c] = (x[base + c] - mx) - ls;
        }
#else
        float inv = 1.0 / s;
        for (uint c = lid; c < pc.cols; c += WG) {
            y[base + c] = exp(x[base + c] - mx) * inv;
        }
#endif
#endif
    }
}
