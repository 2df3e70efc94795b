#version 450
/*
 * reduce.comp - the reduce family except softmax (softmax.comp):
 *   -DOP_REDUCE_SUM  y[o] = scale * sum over the reduced dims; one workgroup per
 *                    output (a uniform loop over outputs), a strided partial sum per
 *                    invocation, then a workgroup sum (wgreduce.glsl).
 *   -DOP_BROADCAST   y[o] = scale * x[broadcast index], elementwise.
 *   -DOP_ARGMAX      index of the first maximum of each last-axis row; NaN never wins
 *                    (a row of NaN only gives 0), as in the CPU reference; a strided
 *                    scan per invocation, then a workgroup argmax (wgreduce.glsl).
 * REDUCE_SUM and BROADCAST take 4 padded dims, or 8 with -DND; REDUCE_SUM and ARGMAX
 * also build with -DKILN_SUBGROUP (subgroup operations, wgreduce.glsl).
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "wgreduce.glsl"

#ifdef OP_ARGMAX
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { int y[]; };
#else
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
#endif

#ifdef ND
layout(push_constant) uniform PC {
    uint n;
    uint d[8], s[8], r[8]; /* as below, over 8 padded dims */
    uint n_red;
    float scale;
} pc;

/* The input offset of row-major index i over extents e (d or r), strides s. */
#define OFFSET_ND(i, e, out)                                                                      \
    {                                                                                             \
        uint q_ = (i);                                                                            \
        out = 0u;                                                                                 \
        for (int k_ = 7; k_ >= 0; k_--) {                                                         \
            out += (q_ % pc.e[k_]) * pc.s[k_];                                                    \
            q_ /= pc.e[k_];                                                                       \
        }                                                                                         \
    }
#else
layout(push_constant) uniform PC {
    uint n;         /* outputs (REDUCE_SUM, BROADCAST) or rows (ARGMAX) */
    uint d1, d2, d3; /* padded output dims 1..3; ARGMAX: d1 = columns */
    uint s0, s1, s2, s3; /* input strides (BROADCAST: 0 along broadcast dims) */
    uint r0, r1, r2, r3; /* REDUCE_SUM: input extent of each reduced dim, else 1 */
    uint n_red;
    float scale;
} pc;
#endif

#if defined(OP_REDUCE_SUM)
KILN_WG_SUM

void main()
{
    uint lid = gl_LocalInvocationID.x;
    for (uint o = gl_WorkGroupID.x; o < pc.n; o += gl_NumWorkGroups.x) {
#ifdef ND
        uint base;
        OFFSET_ND(o, d, base);
#else
        uint i3 = o % pc.d3;
        uint q = o / pc.d3;
        uint i2 = q % pc.d2;
        q /= pc.d2;
        uint i1 = q % pc.d1;
        uint i0 = q / pc.d1;
        uint base = i0 * pc.s0 + i1 * pc.s1 + i2 * pc.s2 + i3 * pc.s3;
#endif
        float acc = 0.0;
        for (uint r = lid; r < pc.n_red; r += WG) {
#ifdef ND
            uint off;
            OFFSET_ND(r, r, off);
            acc += x[base + off];
#else
            uint k3 = r % pc.r3;
            uint t = r / pc.r3;
            uint k2 = t % pc.r2;
            t /= pc.r2;
            uint k1 = t % pc.r1;
            uint k0 = t / pc.r1;
            acc += x[base + k0 * pc.s0 + k1 * pc.s1 + k2 * pc.s2 + k3 * pc.s3];
#endif
        }
        float sum = kiln_wg_sum(acc);
        if (lid == 0) {
            y[o] = pc.scale * sum;
        }
    }
}
#elif defined(OP_BROADCAST)
void main()
{
    for (uint i = GSTART; i < pc.n; i += GSTEP) {
#ifdef ND
        uint src;
        OFFSET_ND(i, d, src);
        y[i] = pc.scale * x[src];
#else
        uint i3 = i % pc.d3;
        uint q = i / pc.d3;
        uint i2 = q % pc.d2;
        q /= pc.d2;
        uint i1 = q % pc.d1;
        uint i0 = q / pc.d1;
        y[i] = pc.scale * x[i0 * pc.s0 + i1 * pc.s1 + i2 * pc.s2 + i3 * pc.s3];
#endif
    }
}
#elif defined(OP_ARGMAX)
KILN_WG_ARGMAX

void main()
{
    uint lid = gl_LocalInvocationID.x;
    uint cols = pc.d1;
    for (uint row = gl_WorkGroupID.x; row < pc.n; row += gl_NumWorkGroups.x) {
        uint base = row * cols;
        float bv = 0.0;
        int bi = -1;
        for (uint c = lid; c < cols; c += WG) {
            float v = x[base + c];
            if (!isnan(v) && (bi < 0 || v > bv)) {
                bv = v;
                bi = int(c);
            }
        }
        int r = kiln_wg_argmax(bv, bi);
        if (lid == 0) {
            y[row] = r < 0 ? 0 : r;
        }
    }
}
#else
#error "reduce.comp: no OP_ defined"
#endif
