#version 450
/*
 * matmul.comp - C = op(A) op(B), batched over workgroup z, register-blocked and tiled
 * through shared memory. Variants: -DTA (A stored transposed, [K, M]) and -DTB (B
 * stored transposed, [N, K]). A workgroup computes a BM x BN tile of C in steps of BK
 * along k; each invocation keeps TM x TN accumulators (TM and TN multiples of 4) as
 * vec4 columns. Shared tiles hold vec4s of four neighbouring rows (A) or columns (B)
 * per k, so the inner loop reads (TM + TN) / 4 vec4s for TM * TN multiply-adds.
 * Tile sizes are specialization constants chosen by the host from the device's shared
 * memory and workgroup limits, with WG = (BM / TM) * (BN / TN); the loops over them
 * are unrolled so that the accumulators stay in registers (a dynamically indexed array
 * goes to scratch memory on some drivers, lavapipe among them). Out-of-range rows,
 * columns and k are read as zero and never written.
 */
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : enable
#include "common.glsl"

layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 8;
layout(constant_id = 5) const uint TN = 8;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer C { float c[]; };

layout(push_constant) uniform PC {
    uint M, N, K;
    uint sa, sb, sc; /* batch strides in elements */
} pc;

/* As4[k * BM / 4 + m / 4][m % 4] = A(m0 + m, k0 + k); Bs4 likewise with columns. */
shared vec4 As4[BK * BM / 4];
shared vec4 Bs4[BK * BN / 4];

void main()
{
    const uint RM = BM / TM, RN = BN / TN; /* invocations along m and n */
    const uint QM = BM / 4, QN = BN / 4;   /* vec4s per k in each tile */
    uint lid = gl_LocalInvocationID.x;
    uint tx = lid % RN, ty = lid / RN;
    uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
    uint ao = gl_WorkGroupID.z * pc.sa, bo = gl_WorkGroupID.z * pc.sb;
    uint co = gl_WorkGroupID.z * pc.sc;

    /* acc[i * TN / 4 + j]: row (i / 4) * 4 * RM + 4 * ty + i % 4, columns of vec4 j. */
    vec4 acc[TM * TN / 4];
    [[unroll]] for (uint i = 0; i < TM * TN / 4; i++) {
        acc[i] = vec4(0.0);
    }
    vec4 ra[TM / 4];
    vec4 rb[TN / 4];

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
            As4[k * QM + m / 4][m % 4] = v;
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
            Bs4[k * QN + n / 4][n % 4] = v;
        }
        barrier();
        [[unroll]] for (uint kk = 0; kk < BK; kk++) {
            [[unroll]] for (uint i = 0; i < TM / 4; i++) {
                ra[i] = As4[kk * QM + i * RM + ty];
            }
            [[unroll]] for (uint j = 0; j < TN / 4; j++) {
                rb[j] = Bs4[kk * QN + j * RN + tx];
            }
            [[unroll]] for (uint i = 0; i < TM; i++) {
                float av = ra[i / 4][i % 4];
                [[unroll]] for (uint j = 0; j < TN / 4; j++) {
                    acc[i * (TN / 4) + j] = fma(vec4(av), rb[j], acc[i * (TN / 4) + j]);
                }
            }
        }
        barrier();
    }

    [[unroll]] for (uint i = 0; i < TM; i++) {
        uint gm = m0 + 4 * ((i / 4) * RM + ty) + i % 4;
        [[unroll]] for (uint j = 0; j < TN / 4; j++) {
            uint gn = n0 + 4 * (j * RN + tx);
            vec4 v = acc[i * (TN / 4) + j];
            [[unroll]] for (uint q = 0; q < 4; q++) {
                if (gm < pc.M && gn + q < pc.N) {
                    c[co + gm * pc.N + gn + q] = v[q];
                }
            }
        }
    }
}
