/*
 * index.cl - gather, bucket_indices, scatter_add, where and sequence_mask (the CPU
 * references are in src/ops/index.c), launched by the generic launcher: the sources'
 * and the output's (buffer, element offset) pairs, the header, the op's params. One
 * work-item per output element, except bucket_indices (one per block of TILE table
 * rows: it lists the positions of that block's indices in index order) and scatter_add
 * (one per (outer, block, inner column): it adds the listed rows in index order, as the
 * reference does, without atomics). OpenCL C 1.2; work-items past n return.
 */

/* src/ops/op_list.h: struct kiln__p_gather, kiln__p_where, kiln__p_sequence_mask. */
typedef struct {
    int axis, padding_idx, zero_pad, outer, v, j, inner, tile;
} gather_params;
typedef struct {
    int cond_i32, rank;
    uint dims[8];
    uint bcast[3];
} where_params;
typedef struct {
    int max_len;
} sequence_mask_params;

/* Rows per block (the host's tile, src/ops/index.c). */
#define TILE 32

kernel void gather(global const uint *x, ulong ox, global const int *idx, ulong oi, global uint *y,
                   ulong oy, kiln_hdr h, gather_params p)
{
    uint o = get_global_id(0);
    if (o >= h.n) {
        return;
    }
    uint c = o % (uint)p.inner, t = o / (uint)p.inner;
    uint jj = t % (uint)p.j, oo = t / (uint)p.j;
    int v = idx[oi + jj];
    bool ok = v >= 0 && v < p.v && !(p.zero_pad && v == p.padding_idx);
    y[oy + o] = ok ? x[ox + ((ulong)oo * (uint)p.v + (uint)v) * (uint)p.inner + c] : 0u;
}

/* Work-item b: where block b's positions start among the valid ones (those of lower
 * blocks come first), then its positions in index order; the last block also writes the
 * total and fills the unused end of the list with -1. */
kernel void bucket_indices(global const int *idx, ulong oi, global int *out, ulong oo, kiln_hdr h,
                           gather_params p)
{
    uint b = get_global_id(0);
    if (b >= h.n) {
        return;
    }
    uint nb = h.n, start = 0, total = 0;
    global int *list = out + oo + nb + 1;
    for (int jj = 0; jj < p.j; jj++) {
        int v = idx[oi + (uint)jj];
        if (v >= 0 && v < p.v && v != p.padding_idx) {
            start += (uint)v / TILE < b;
            total++;
        }
    }
    out[oo + b] = (int)start;
    uint k = start;
    for (int jj = 0; jj < p.j; jj++) {
        int v = idx[oi + (uint)jj];
        if (v >= 0 && v < p.v && v != p.padding_idx && (uint)v / TILE == b) {
            list[k++] = jj;
        }
    }
    if (b == nb - 1) {
        out[oo + nb] = (int)total;
        for (uint r = total; r < (uint)p.j; r++) {
            list[r] = -1;
        }
    }
}

kernel void scatter_add(global const float *dy, ulong od, global const int *idx, ulong oi,
                        global const int *bk, ulong ob, global float *dx, ulong ox, kiln_hdr h,
                        gather_params p)
{
    uint it = get_global_id(0);
    if (it >= h.n) {
        return;
    }
    uint nb = ((uint)p.v + TILE - 1) / TILE;
    uint c = it % (uint)p.inner, t = it / (uint)p.inner;
    uint b = t % nb, oo = t / nb;
    int v0 = (int)b * TILE;
    float acc[TILE];
    for (int r = 0; r < TILE; r++) {
        acc[r] = 0.0f;
    }
    global const float *src = dy + od + (ulong)oo * (uint)p.j * (uint)p.inner + c;
    global const int *list = bk + ob + nb + 1;
    for (int k = bk[ob + b]; k < bk[ob + b + 1]; k++) {
        int jj = list[k];
        acc[idx[oi + (uint)jj] - v0] += src[(ulong)jj * (uint)p.inner];
    }
    global float *dst = dx + ox + ((ulong)oo * (uint)p.v + (uint)v0) * (uint)p.inner + c;
    for (int r = 0; r < TILE && v0 + r < p.v; r++) {
        dst[(ulong)r * (uint)p.inner] = acc[r];
    }
}

/* The sources' offsets follow from the merged dims: each is contiguous except along the
 * dims of its bcast mask. f32 cond: nonzero unless +0 or -0 (NaN counts). */
kernel void where(global const uint *cond, ulong oc, global const float *a, ulong oa,
                  global const float *b, ulong ob, global float *y, ulong oy, kiln_hdr h,
                  where_params p)
{
    uint o = get_global_id(0);
    if (o >= h.n) {
        return;
    }
    uint rem = o, off[3] = {0, 0, 0}, st[3] = {1, 1, 1};
    for (int k = p.rank - 1; k >= 0; k--) {
        uint d = p.dims[k], c = rem % d;
        rem /= d;
        for (int s = 0; s < 3; s++) {
            if (!((p.bcast[s] >> k) & 1u)) {
                off[s] += c * st[s];
                st[s] *= d;
            }
        }
    }
    uint cv = cond[oc + off[0]];
    bool t = p.cond_i32 ? cv != 0u : (cv & 0x7fffffffu) != 0u;
    y[oy + o] = t ? a[oa + off[1]] : b[ob + off[2]];
}

kernel void sequence_mask(global const int *len, ulong ol, global float *y, ulong oy, kiln_hdr h,
                          sequence_mask_params p)
{
    uint o = get_global_id(0);
    if (o >= h.n) {
        return;
    }
    uint m = (uint)p.max_len;
    y[oy + o] = (int)(o % m) < len[ol + o / m] ? 1.0f : 0.0f;
}
