#version 450
/*
 * binary.comp - add, sub, mul, div and relu(a + b) (-DOP_ADD ... -DOP_ADD_RELU: the
 * planner's fusion of an add and a relu) with numpy broadcasting over 4
 * padded dims, or 8 with -DND: the host passes the output dims and each source's
 * element strides (0 along broadcast dims), as kiln__gpu_iter_bcast computes them.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

#ifdef ND
layout(push_constant) uniform PC {
    uint n;
    uint d[8], sa[8], sb[8];
} pc;
#else
layout(push_constant) uniform PC {
    uint n;
    uint d1, d2, d3;
    uint sa0, sa1, sa2, sa3;
    uint sb0, sb1, sb2, sb3;
} pc;
#endif

void main()
{
    for (uint i = GSTART; i < pc.n; i += GSTEP) {
#ifdef ND
        uint r = i, ia = 0u, ib = 0u;
        for (int k = 7; k >= 0; k--) {
            uint c = r % pc.d[k];
            r /= pc.d[k];
            ia += c * pc.sa[k];
            ib += c * pc.sb[k];
        }
        float x = a[ia];
        float z = b[ib];
#else
        uint i3 = i % pc.d3;
        uint r = i / pc.d3;
        uint i2 = r % pc.d2;
        r /= pc.d2;
        uint i1 = r % pc.d1;
        uint i0 = r / pc.d1;
        float x = a[i0 * pc.sa0 + i1 * pc.sa1 + i2 * pc.sa2 + i3 * pc.sa3];
        float z = b[i0 * pc.sb0 + i1 * pc.sb1 + i2 * pc.sb2 + i3 * pc.sb3];
#endif
#if defined(OP_ADD)
        y[i] = x + z;
#elif defined(OP_SUB)
        y[i] = x - z;
#elif defined(OP_MUL)
        y[i] = x * z;
#elif defined(OP_DIV)
        y[i] = x / z;
#elif defined(OP_ADD_RELU)
        float s = x + z;
        y[i] = s > 0.0 ? s : 0.0;
#else
#error "binary.comp: no OP_ defined"
#endif
    }
}
