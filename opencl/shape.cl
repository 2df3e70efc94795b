/*
 * shape.cl - transpose: a permuting copy of 4-byte elements (f32 or i32) over up to 4
 * dims, or 8 (transpose_nd; the CPU reference is src/ops/shape.c). od holds the padded
 * output dims and st the input element stride of each output dim. RESHAPE is a view and
 * has no kernel. OpenCL C 1.2; work-items past n return.
 */
kernel void transpose(global const uint *x, ulong ox, global uint *y, ulong oy, ulong n, long4 od,
                      long4 st)
{
    ulong i = get_global_id(0);
    if (i >= n) {
        return;
    }
    long r = (long)i;
    long i3 = r % od.w;
    r /= od.w;
    long i2 = r % od.z;
    r /= od.z;
    long i1 = r % od.y;
    long i0 = r / od.y;
    y[oy + i] = x[ox + i0 * st.x + i1 * st.y + i2 * st.z + i3 * st.w];
}

kernel void transpose_nd(global const uint *x, ulong ox, global uint *y, ulong oy, ulong n,
                         long8 od, long8 st)
{
    ulong i = get_global_id(0);
    if (i < n) {
        y[oy + i] = x[ox + offset8((long)i, od, st)];
    }
}
