#version 450
/*
 * matmul.comp - C = op(A) op(B), batched over workgroup z, through the tiled product
 * of gemm.glsl. Variants: -DTA (A stored transposed, [K, M]) and -DTB (B stored
 * transposed, [N, K]).
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#ifdef TA
#define GEMM_A_MFAST
#endif
#ifdef TB
#define GEMM_B_KFAST
#endif
#include "gemm.glsl"

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer C { float c[]; };

layout(push_constant) uniform PC {
    uint M, N, K;
    uint sa, sb, sc; /* batch strides in elements */
} pc;

float gemm_a(uint m, uint k, uint ml, uint kl)
{
#ifdef TA
    return a[gl_WorkGroupID.z * pc.sa + k * pc.M + m];
#else
    return a[gl_WorkGroupID.z * pc.sa + m * pc.K + k];
#endif
}

float gemm_b(uint k, uint n, uint kl, uint nl)
{
#ifdef TB
    return b[gl_WorkGroupID.z * pc.sb + n * pc.K + k];
#else
    return b[gl_WorkGroupID.z * pc.sb + k * pc.N + n];
#endif
}

void gemm_c(uint m, uint n, uint ml, uint nl, float v)
{
    c[gl_WorkGroupID.z * pc.sc + m * pc.N + n] = v;
}

void main()
{
    gemm_tile(pc.M, pc.N, 0, pc.K);
}
