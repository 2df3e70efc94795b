#version 450
/*
 * index.comp - the index family (src/ops/index.c), run by the generic launcher: the
 * sources then the output as storage buffers, a push-constant block of the header
 * (n items, training, run) and the op's params (its row in src/ops/op_list.h):
 *   -DOP_GATHER         y[o, j, c] = x[o, idx[j], c]; 0 for an index outside [0, v) and,
 *                       with zero_pad, for the padding row
 *   -DOP_BUCKET_INDICES one invocation per block of TILE table rows lists the positions
 *                       of the block's indices in index order (after the blocks' starts)
 *   -DOP_SCATTER_ADD    dx[o, v, c] = sum of dy[o, j, c] over idx[j] == v in index order;
 *                       one invocation per (o, block, c) adds its block's listed rows
 *                       (no atomics); the padding row and unindexed rows get 0
 *   -DOP_WHERE          y = cond != 0 ? a : b over the merged broadcast dims
 *   -DOP_SEQUENCE_MASK  y[.., t] = t < lengths[..] ? 1 : 0
 * Grid-stride loops over the items.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#if defined(OP_GATHER) || defined(OP_SCATTER_ADD) || defined(OP_BUCKET_INDICES)
layout(push_constant) uniform PC {
    uint n, training, run_lo, run_hi;
    int axis, padding_idx, zero_pad, outer, v, j, inner, tile;
} pc;
#elif defined(OP_WHERE)
layout(push_constant) uniform PC {
    uint n, training, run_lo, run_hi;
    int cond_i32, rank;
    uint dims[8];
    uint bcast[3];
} pc;
#elif defined(OP_SEQUENCE_MASK)
layout(push_constant) uniform PC {
    uint n, training, run_lo, run_hi;
    int max_len;
} pc;
#endif

#if defined(OP_GATHER)
layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) readonly buffer I { int idx[]; };
layout(std430, binding = 2) writeonly buffer Y { uint y[]; };

void main()
{
    uint inner = uint(pc.inner), nj = uint(pc.j);
    for (uint o = GSTART; o < pc.n; o += GSTEP) {
        uint c = o % inner, t = o / inner;
        uint jj = t % nj, oo = t / nj;
        int v = idx[jj];
        bool ok = v >= 0 && v < pc.v && !(pc.zero_pad != 0 && v == pc.padding_idx);
        y[o] = ok ? x[(oo * uint(pc.v) + uint(v)) * inner + c] : 0u;
    }
}
#elif defined(OP_BUCKET_INDICES)
layout(std430, binding = 0) readonly buffer I { int idx[]; };
layout(std430, binding = 1) writeonly buffer O { int outp[]; };

const uint TILE = 32u; /* rows per block (the host's tile) */

void main()
{
    uint nb = pc.n;
    for (uint b = GSTART; b < nb; b += GSTEP) {
        uint start = 0u, total = 0u;
        for (int jj = 0; jj < pc.j; jj++) {
            int v = idx[jj];
            if (v >= 0 && v < pc.v && v != pc.padding_idx) {
                start += uint(v) / TILE < b ? 1u : 0u;
                total++;
            }
        }
        outp[b] = int(start);
        uint k = nb + 1u + start;
        for (int jj = 0; jj < pc.j; jj++) {
            int v = idx[jj];
            if (v >= 0 && v < pc.v && v != pc.padding_idx && uint(v) / TILE == b) {
                outp[k++] = jj;
            }
        }
        if (b == nb - 1u) {
            outp[nb] = int(total);
            for (uint r = total; r < uint(pc.j); r++) {
                outp[nb + 1u + r] = -1;
            }
        }
    }
}
#elif defined(OP_SCATTER_ADD)
layout(std430, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, binding = 1) readonly buffer I { int idx[]; };
layout(std430, binding = 2) readonly buffer BK { int bk[]; };
layout(std430, binding = 3) writeonly buffer DX { float dx[]; };

const int TILE = 32; /* rows per block (the host's tile) */

void main()
{
    uint inner = uint(pc.inner), nj = uint(pc.j);
    uint nb = (uint(pc.v) + uint(TILE) - 1u) / uint(TILE);
    for (uint it = GSTART; it < pc.n; it += GSTEP) {
        uint c = it % inner, t = it / inner;
        uint b = t % nb, oo = t / nb;
        int v0 = int(b) * TILE;
        float acc[TILE];
        for (int r = 0; r < TILE; r++) {
            acc[r] = 0.0;
        }
        uint src = oo * nj * inner + c;
        for (int k = bk[b]; k < bk[b + 1u]; k++) {
            uint jj = uint(bk[nb + 1u + uint(k)]);
            acc[idx[jj] - v0] += dy[src + jj * inner];
        }
        uint dst = (oo * uint(pc.v) + uint(v0)) * inner + c;
        for (int r = 0; r < TILE && v0 + r < pc.v; r++) {
            dx[dst + uint(r) * inner] = acc[r];
        }
    }
}
#elif defined(OP_WHERE)
layout(std430, binding = 0) readonly buffer C { uint cond[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

void main()
{
    for (uint o = GSTART; o < pc.n; o += GSTEP) {
        uint rem = o;
        uvec3 off = uvec3(0u), st = uvec3(1u);
        for (int k = pc.rank - 1; k >= 0; k--) {
            uint d = pc.dims[k], c = rem % d;
            rem /= d;
            for (int s = 0; s < 3; s++) {
                if (((pc.bcast[s] >> uint(k)) & 1u) == 0u) {
                    off[s] += c * st[s];
                    st[s] *= d;
                }
            }
        }
        uint cv = cond[off[0]];
        bool t = pc.cond_i32 != 0 ? cv != 0u : (cv & 0x7fffffffu) != 0u;
        y[o] = t ? a[off[1]] : b[off[2]];
    }
}
#elif defined(OP_SEQUENCE_MASK)
layout(std430, binding = 0) readonly buffer L { int len[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };

void main()
{
    uint m = uint(pc.max_len);
    for (uint o = GSTART; o < pc.n; o += GSTEP) {
        y[o] = int(o % m) < len[o / m] ? 1.0 : 0.0;
    }
}
#else
#error "index.comp: no OP_ defined"
#endif
