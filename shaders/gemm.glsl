/*
 * gemm.glsl - the tiled, register-blocked product C = A B shared by matmul.comp and
 * convgemm.comp. The including shader defines how elements are found:
 *   float gemm_a(uint m, uint k), float gemm_b(uint k, uint n)  (called in range only)
 *   void gemm_c(uint m, uint n, float v)                        (called in range only)
 * and, before including, GEMM_A_MFAST / GEMM_B_KFAST when neighbouring invocations
 * should load neighbouring m of A (A stored [K, M]) or neighbouring k of B (B stored
 * [N, K]), so that the tile loads read memory in order. gemm_tile(M, N, k0, k1)
 * computes the BM x BN tile at workgroup (x, y) over k in [k0, k1).
 *
 * A workgroup steps along k by BK; each invocation keeps TM x TN accumulators (TM and
 * TN multiples of 4) as vec4 columns. Shared tiles hold vec4s of four neighbouring rows
 * (A) or columns (B) per k, so the inner loop reads (TM + TN) / 4 vec4s for TM * TN
 * multiply-adds. Tile sizes are specialization constants chosen by the host from the
 * device's shared memory and workgroup limits, with WG = (BM / TM) * (BN / TN); the
 * loops over them are unrolled so that the accumulators stay in registers (a
 * dynamically indexed array goes to scratch memory on some drivers, lavapipe among
 * them). Out-of-range rows, columns and k are read as zero and never written.
 * With GEMM_A_SEEN defined, the including shader's gemm_a_seen() is called after each
 * step's A tile is loaded (between the barriers), so that it can read As4.
 */
#extension GL_EXT_control_flow_attributes : enable

layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 8;
layout(constant_id = 5) const uint TN = 8;

/* As4[k * BM / 4 + m / 4][m % 4] = A(m0 + m, k0 + k); Bs4 likewise with columns. */
shared vec4 As4[BK * BM / 4];
shared vec4 Bs4[BK * BN / 4];

float gemm_a(uint m, uint k, uint ml, uint kl);
float gemm_b(uint k, uint n, uint kl, uint nl);
void gemm_c(uint m, uint n, uint ml, uint nl, float v);
#ifdef GEMM_SETUP
void gemm_setup_tile(uint m0, uint n0);
void gemm_setup_k(uint k0);
#endif
#ifdef GEMM_A_SEEN
void gemm_a_seen();
#endif

void gemm_tile(uint M, uint N, uint kbeg, uint kend)
{
    const uint RM = BM / TM, RN = BN / TN; /* invocations along m and n */
    const uint QM = BM / 4, QN = BN / 4;   /* vec4s per k in each tile */
    uint lid = gl_LocalInvocationID.x;
    uint tx = lid % RN, ty = lid / RN;
    uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;

    /* acc[i * TN / 4 + j]: row (i / 4) * 4 * RM + 4 * ty + i % 4, columns of vec4 j. */
    vec4 acc[TM * TN / 4];
    [[unroll]] for (uint i = 0; i < TM * TN / 4; i++) {
        acc[i] = vec4(0.0);
    }
    vec4 ra[TM / 4];
    vec4 rb[TN / 4];
#ifdef GEMM_SETUP
    gemm_setup_tile(m0, n0);
    barrier();
#endif

    for (uint k0 = kbeg; k0 < kend; k0 += BK) {
#ifdef GEMM_SETUP
        gemm_setup_k(k0);
        barrier();
#endif
        for (uint idx = lid; idx < BM * BK; idx += WG) {
#ifdef GEMM_A_MFAST
            uint k = idx / BM, m = idx % BM;
#else
            uint m = idx / BK, k = idx % BK;
#endif
            uint gm = m0 + m, gk = k0 + k;
            float v = 0.0;
            if (gm < M && gk < kend) {
                v = gemm_a(gm, gk, m, k);
            }
            As4[k * QM + m / 4][m % 4] = v;
        }
        for (uint idx = lid; idx < BN * BK; idx += WG) {
#ifdef GEMM_B_KFAST
            uint n = idx / BK, k = idx % BK;
#else
            uint k = idx / BN, n = idx % BN;
#endif
            uint gn = n0 + n, gk = k0 + k;
            float v = 0.0;
            if (gn < N && gk < kend) {
                v = gemm_b(gk, gn, k, n);
            }
            Bs4[k * QN + n / 4][n % 4] = v;
        }
        barrier();
#ifdef GEMM_A_SEEN
        gemm_a_seen();
#endif
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
        uint ml = 4 * ((i / 4) * RM + ty) + i % 4;
        [[unroll]] for (uint j = 0; j < TN / 4; j++) {
            uint nl = 4 * (j * RN + tx);
            vec4 v = acc[i * (TN / 4) + j];
            [[unroll]] for (uint q = 0; q < 4; q++) {
                if (m0 + ml < M && n0 + nl + q < N) {
                    gemm_c(m0 + ml, n0 + nl + q, ml, nl + q, v[q]);
                }
            }
        }
    }
}
