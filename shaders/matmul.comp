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
 * -DDB (MATMUL_DB, with -DTA): db (binding 2, one value per row of C) also gets the sums
 * of A's stored rows, db[m] = sum over k of A[k, m]: the workgroups of the first column
 * block, which load all of A's k for their rows, add each step's A tile in k order into
 * shared memory (invocation i owns rows i, i + WG, ...), so the result is deterministic.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#ifdef TA
#define GEMM_A_MFAST
#endif
#ifdef TB
#define GEMM_B_KFAST
#endif
#ifdef DB
#define GEMM_A_SEEN
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
#elif defined(DB)
layout(std430, binding = 2) writeonly buffer Db { float db[]; };
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

#ifdef DB
/* Row sums of this workgroup's rows of op(A) so far (first column block only). */
shared float dbs[BM];

void gemm_a_seen()
{
    if (gl_WorkGroupID.x != 0u) {
        return;
    }
    for (uint q = gl_LocalInvocationID.x; q < BM; q += WG) {
        float s = dbs[q];
        for (uint kk = 0u; kk < BK; kk++) {
            s += As4[kk * (BM / 4u) + q / 4u][q % 4u];
        }
        dbs[q] = s;
    }
}
#endif

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
#ifdef DB
    for (uint q = gl_LocalInvocationID.x; q < BM; q += WG) {
        dbs[q] = 0.0;
    }
#endif
    gemm_tile(pc.M, pc.N, 0, pc.K);
#ifdef DB
    /* Each invocation writes the sums it owns (rank 2: no batch). */
    uint m0 = gl_WorkGroupID.y * BM;
    for (uint q = gl_LocalInvocationID.x; gl_WorkGroupID.x == 0u && q < BM; q += WG) {
        if (m0 + q < pc.M) {
            db[m0 + q] = dbs[q];
        }
    }
#endif
}
