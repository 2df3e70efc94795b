#version 450
/*
 * matmul.comp - C = op(A) op(B), batched over workgroup z, through the tiled product
 * of gemm.glsl. Variants: -DTA (A stored transposed, [K, M]) and -DTB (B stored
 * transposed, [N, K]). The batch index z runs over nb merged batch dims bd (outermost
 * first); A and B move by sa and sb elements along each (0 where broadcast), C is
 * contiguous. -DBIAS (MATMUL_BIAS): a bias along the last dim is added to each result
 * (binding 2; C is binding 3), then max(0, .) when the relu push constant is set.
 * -DRELU_BWD (MATMUL_RELU_BWD): each result is kept where y (binding 2, C's shape) > 0,
 * else 0.
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
#if defined(BIAS)
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer C { float c[]; };
#elif defined(RELU_BWD)
layout(std430, binding = 2) readonly buffer Y { float y[]; };
layout(std430, binding = 3) writeonly buffer C { float c[]; };
#else
layout(std430, binding = 2) writeonly buffer C { float c[]; };
#endif

layout(push_constant) uniform PC {
    uint M, N, K;
    uint nb;           /* merged batch dims */
    uint bd[6];        /* their extents */
    uint sa[6], sb[6]; /* element strides of A and B along them */
    uint relu;         /* BIAS: 1 = max(0, .) after the bias */
} pc;

/* The first elements of this workgroup's A, B and C matrices. */
uint a0, b0, c0;

float gemm_a(uint m, uint k, uint ml, uint kl)
{
#ifdef TA
    return a[a0 + k * pc.M + m];
#else
    return a[a0 + m * pc.K + k];
#endif
}

float gemm_b(uint k, uint n, uint kl, uint nl)
{
#ifdef TB
    return b[b0 + n * pc.K + k];
#else
    return b[b0 + k * pc.N + n];
#endif
}

void gemm_c(uint m, uint n, uint ml, uint nl, float v)
{
#ifdef BIAS
    /* the rounded product, then the add and relu of the references */
    float s = v + bias[n];
    v = pc.relu != 0u && !(s > 0.0) ? 0.0 : s;
#elif defined(RELU_BWD)
    v = y[c0 + m * pc.N + n] > 0.0 ? v : 0.0;
#endif
    c[c0 + m * pc.N + n] = v;
}

void main()
{
    uint z = gl_WorkGroupID.z;
    a0 = 0u;
    b0 = 0u;
    c0 = z * pc.M * pc.N;
    for (int d = int(pc.nb) - 1; d >= 0; d--) {
        uint i = z % pc.bd[d];
        z /= pc.bd[d];
        a0 += i * pc.sa[d];
        b0 += i * pc.sb[d];
    }
    gemm_tile(pc.M, pc.N, 0, pc.K);
}
