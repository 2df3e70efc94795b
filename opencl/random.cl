/*
 * random.cl - dropout with the counter-based Philox4x32-10 generator of src/rng.c: the
 * mask of element i in run t is a pure function of (seed, t, i), so it matches the CPU
 * reference (src/ops/random.c) bit for bit. OpenCL C 1.2; work-items past n return.
 */
#pragma OPENCL FP_CONTRACT OFF

/* The first 32-bit output of Philox4x32-10 for counter (index, stream) under key seed. */
static uint philox0(ulong seed, ulong stream, ulong index)
{
    uint c0 = (uint)index, c1 = (uint)(index >> 32), c2 = (uint)stream, c3 = (uint)(stream >> 32);
    uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint hi0 = mul_hi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        uint hi1 = mul_hi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c0;
}

/* training: y = x * scale where u01 >= p, else 0; otherwise y = x. */
kernel void dropout(global const float *x, ulong ox, global float *y, ulong oy, ulong n, float p,
                    float scale, ulong seed, ulong run, int training)
{
    ulong i = get_global_id(0);
    if (i >= n) {
        return;
    }
    float v = x[ox + i];
    if (training) {
        float u = (float)(philox0(seed, run, i) >> 8) * (1.0f / 16777216.0f);
        v = u >= p ? v * scale : 0.0f;
    }
    y[oy + i] = v;
}
