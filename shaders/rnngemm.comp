#version 450
/*
 * rnngemm.comp - the per-step product of the recurrent ops (src/backend/vulkan/vk_rnn.c)
 * through the tiled product of gemm.glsl: C = A op(B) (+ C when ACC is set), where A,
 * B and C are parts of tensors given by an element offset and a row stride, so that a
 * step reads h_{t-1} or dG_t out of a larger tensor and writes into another part of one.
 * A and C may be bindings of the same buffer (disjoint parts). Variants: -DTB (B stored
 * transposed, [N, K]: the forward product h W_hh^T) and without (dh += dG W_hh, -DACC).
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#ifdef TB
#define GEMM_B_KFAST
#endif
#include "gemm.glsl"

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) buffer C { float c[]; };

layout(push_constant) uniform PC {
    uint M, N, K;
    uint oa, lda, ob, ldb, oc, ldc;
} pc;

float gemm_a(uint m, uint k, uint ml, uint kl)
{
    return a[pc.oa + m * pc.lda + k];
}

float gemm_b(uint k, uint n, uint kl, uint nl)
{
#ifdef TB
    return b[pc.ob + n * pc.ldb + k];
#else
    return b[pc.ob + k * pc.ldb + n];
#endif
}

void gemm_c(uint m, uint n, uint ml, uint nl, float v)
{
#ifdef ACC
    c[pc.oc + m * pc.ldc + n] += v;
#else
    c[pc.oc + m * pc.ldc + n] = v;
#endif
}

void main()
{
    gemm_tile(pc.M, pc.N, 0, pc.K);
}
