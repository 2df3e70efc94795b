#version 450
/*
 * matmul.comp - C = op(A) op(B), batched over workgroup z, register-blocked and tiled
 * through shared memory. Variants: -DTA (A stored transposed, [K, M]) and -DTB (B
 * stored transposed, [N, K]). A workgroup computes a BM x BN tile of C; each
 * invocation keeps TM x TN accumulators, strided so that neighbouring invocations read
 * neighbouring shared-memory words. Tile sizes are specialization constants chosen by
 * the host from the device's shared memory and workgroup limits, with
 * WG = (BM / TM) * (BN / TN). Out-of-range rows, columns and k are read as zero and
 * never written.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer C { float c[]; };

layout(push_constant) uniform PC {
    uint M, N, K;
    uint sa, sb, sc; /* batch strides in elements */
} pc;

shared float As[BK * BM];
shared float Bs[BK * BN];

void main()
{
    const uint RM = BM / TM, RN = BN / TN;
    uint lid = gl_LocalInvocationID.x;
    uint tx = lid % RN, ty = lid / RN;
    uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
    uint ao = gl_WorkGroupID.z * pc.sa, bo = gl_WorkGroupID.z * pc.sb;
    uint co = gl_WorkGroupID.z * pc.sc;

    float acc[TM * TN];
    for (uint i = 0; i < TM * TN; i++) {
        acc[i] = 0.0;
    }
    float ra[TM];
    float rb[TN];

    for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        for (uint idx = lid; idx < BM * BK; idx += WG) {
#ifdef TA
            uint k = idx / BM, m = idx % BM;
#else
            uint m = idx / BK, k = idx % BK;
#endif
            uint gm = m0 + m, gk = k0 + k;
            float v = 0.0;
            if (gm < pc.M && gk < pc.K) {
#ifdef TA
                v = a[ao + gk * pc.M + gm];
#else
                v = a[ao + gm * pc.K + gk];
#endif
            }
            As[k * BM + m] = v;
        }
        for (uint idx = lid; idx < BN * BK; idx += WG) {
#ifdef TB
            uint n = idx / BK, k = idx % BK;
#else
            uint k = idx / BN, n = idx % BN;
#endif
            uint gn = n0 + n, gk = k0 + k;
            float v = 0.0;
            if (gn < pc.N && gk < pc.K) {
#ifdef TB
                v = b[bo + gn * pc.K + gk];
#else
                v = b[bo + gk * pc.N + gn];
#endif
            }
            Bs[k * BN + n] = v;
        }
        barrier();
        for (uint kk = 0; kk < BK; kk++) {
            for (uint i = 0; i < TM; i++) {
                ra[i] = As[kk * BM + ty + i * RM];
            }
            for (uint j = 0; j < TN; j++) {
                rb[j] = Bs[kk * BN + tx + j * RN];
            }
            for (uint i = 0; i < TM; i++) {
                for (uint j = 0; j < TN; j++) {
                    acc[i * TN + j] = fma(ra[i], rb[j], acc[i * TN + j]);
                }
            }
        }
        barrier();
    }

    for (uint i = 0; i < TM; i++) {
        uint gm = m0 + ty + i * RM;
        for (uint j = 0; j < TN; j++) {
            uint gn = n0 + tx + j * RN;
            if (gm < pc.M && gn < pc.N) {
                c[co + gm * pc.N + gn] = acc[i * TN + j];
            }
        }
    }
}
