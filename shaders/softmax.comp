#version 450
/*
 * softmax.comp - softmax and log-softmax along the last axis (-DOP_SOFTMAX,
 * -DOP_LOG_SOFTMAX) and their backward kernels (-DOP_SOFTMAX_BWD: y * (dy - sum(dy y)),
 * -DOP_LOG_SOFTMAX_BWD: dy - exp(y) sum(dy)). One workgroup per row (a uniform loop
 * over rows); row max and sums go through a shared-memory tree (WG a power of two).
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

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

shared float red[WG];

/* Tree reduction of red[]; every invocation gets the result. is_max: max, else sum. */
float reduce_shared(float v, bool is_max)
{
    uint lid = gl_LocalInvocationID.x;
    red[lid] = v;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (lid < s) {
            red[lid] = is_max ? max(red[lid], red[lid + s]) : red[lid] + red[lid + s];
        }
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

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
        float s = reduce_shared(acc, false);
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
        mx = reduce_shared(mx, true);
        float acc = 0.0;
        for (uint c = lid; c < pc.cols; c += WG) {
            acc += exp(x[base + c] - mx);
        }
        float s = reduce_shared(acc, false);
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
