/*
 * layout.cl - concatenation, slices and zero padding of 4-byte elements (the CPU
 * reference is src/ops/layout.c). Dims are padded to 4 like kiln__dims4, or to 8 for the
 * _nd kernel. OpenCL C 1.2; work-items past n return.
 */

/* One input of a concat: its element o goes to row o / len, column off + o % len of an
 * output whose rows are row_len long. */
kernel void concat_part(global const uint *x, ulong ox, global uint *y, ulong oy, ulong n,
                        ulong len, ulong row_len, ulong off)
{
    ulong o = get_global_id(0);
    if (o < n) {
        y[oy + (o / len) * row_len + off + o % len] = x[ox + o];
    }
}

/* out[c] = x[c + sign * offs] where in range, else 0 (slice: sign 1; pad: sign -1). */
kernel void slice_pad(global const uint *x, ulong ox, global uint *y, ulong oy, ulong n, long4 od,
                      long4 id, long4 is, long4 offs, long sign)
{
    ulong o = get_global_id(0);
    if (o >= n) {
        return;
    }
    long rem = (long)o;
    long c3 = rem % od.w + sign * offs.w;
    rem /= od.w;
    long c2 = rem % od.z + sign * offs.z;
    rem /= od.z;
    long c1 = rem % od.y + sign * offs.y;
    long c0 = rem / od.y + sign * offs.x;
    bool in = c0 >= 0 && c0 < id.x && c1 >= 0 && c1 < id.y && c2 >= 0 && c2 < id.z && c3 >= 0 &&
              c3 < id.w;
    y[oy + o] = in ? x[ox + c0 * is.x + c1 * is.y + c2 * is.z + c3 * is.w] : 0u;
}

/* slice_pad over 8 dims: the input is contiguous, its strides follow from id. */
kernel void slice_pad_nd(global const uint *x, ulong ox, global uint *y, ulong oy, ulong n,
                         long8 od, long8 id, long8 offs, long sign)
{
    ulong o = get_global_id(0);
    if (o >= n) {
        return;
    }
    long dd[8], ii[8], ff[8], rem = (long)o, src = 0, stride = 1;
    vstore8(od, 0, dd);
    vstore8(id, 0, ii);
    vstore8(offs, 0, ff);
    bool in = true;
    for (int k = 7; k >= 0; k--) {
        long c = rem % dd[k] + sign * ff[k];
        rem /= dd[k];
        in = in && c >= 0 && c < ii[k];
        src += c * stride;
        stride *= ii[k];
    }
    y[oy + o] = in ? x[ox + src] : 0u;
}
