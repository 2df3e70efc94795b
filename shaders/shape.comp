#version 450
/*
 * shape.comp - transpose: a permuting copy of 4-byte elements (f32 or i32 alike). The
 * host passes the padded output dims (4, or 8 with -DND) and, for each, the input
 * element stride.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) writeonly buffer Y { uint y[]; };

#ifdef ND
layout(push_constant) uniform PC {
    uint n;
    uint d[8], s[8];
} pc;

void main()
{
    for (uint i = GSTART; i < pc.n; i += GSTEP) {
        uint r = i, src = 0u;
        for (int k = 7; k >= 0; k--) {
            src += (r % pc.d[k]) * pc.s[k];
            r /= pc.d[k];
        }
        y[i] = x[src];
    }
}
#else
layout(push_constant) uniform PC {
    uint n;
    uint d1, d2, d3;
    uint s0, s1, s2, s3;
} pc;

void main()
{
    for (uint i = GSTART; i < pc.n; i += GSTEP) {
        uint i3 = i % pc.d3;
        uint r = i / pc.d3;
        uint i2 = r % pc.d2;
        r /= pc.d2;
        uint i1 = r % pc.d1;
        uint i0 = r / pc.d1;
        y[i] = x[i0 * pc.s0 + i1 * pc.s1 + i2 * pc.s2 + i3 * pc.s3];
    }
}
#endif
