/*
 * reduce.cl - sums over axes, broadcast (their adjoint), argmax, and softmax /
 * log-softmax along the last axis with their _BWD kernels (the CPU reference is
 * src/ops/reduce.c, which accumulates in double; here each work-group adds in a fixed
 * tree order in float, so results are deterministic on one device). Work-groups are a
 * power of two of at most 256 items. OpenCL C 1.2; the work-group sums are in common.cl.
 */
#pragma OPENCL FP_CONTRACT OFF

#define MAX_GROUP 256

static long4 unravel(long i, long4 d)
{
    long4 c;
    c.w = i % d.w;
    i /= d.w;
    c.z = i % d.z;
    i /= d.z;
    c.y = i % d.y;
    c.x = i / d.y;
    return c;
}

/* This work-item's share of the reduced elements [lo, hi) of one output when they are
 * the strided run x[base + r * step] (chunked: a contiguous span of them rather than
 * every local-size-th). */
static float strided_part(global const float *x, ulong lo, ulong hi, long step, int chunked)
{
    float acc = 0.0f;
    if (chunked) {
        /* CPU devices: each work-item adds a contiguous span (what caches prefetch). */
        ulong span = (hi - lo + get_local_size(0) - 1) / get_local_size(0);
        ulong a = min(hi, lo + get_local_id(0) * span), b = min(hi, a + span);
        for (ulong r = a; r < b; r++) {
            acc += x[(long)r * step];
        }
    } else {
        /* No index arithmetic per element, and neighbouring work-items read neighbouring
         * elements (coalesced on GPUs). */
        for (ulong r = lo + get_local_id(0); r < hi; r += get_local_size(0)) {
            acc += x[(long)r * step];
        }
    }
    return acc;
}

/* Sums acc over the work-group: scale * the sum to y[o] when parts == 1, else the
 * partial sum to part[g]. */
static void finish_part(local float *buf, float acc, global float *y, ulong o, global float *part,
                        ulong g, ulong parts, float scale)
{
    float s = group_sum(buf, acc);
    if (get_local_id(0) == 0) {
        if (parts == 1) {
            y[o] = s * scale;
        } else {
            part[g] = s;
        }
    }
}

/*
 * Work-group g sums part (g % parts) of the reduced elements of output g / parts. od:
 * output dims (1 on reduced dims); rd: reduced extents (1 on kept dims); is: input
 * strides; step: when nonzero, the reduced elements are base + r * step. With parts == 1
 * it writes scale * sum to y, else the partial sum to part. reduce_sum_nd: the same over
 * 8 dims.
 */
kernel void reduce_sum(global const float *x, ulong ox, global float *y, ulong oy,
                       global float *part, ulong n_red, ulong parts, long4 od, long4 rd, long4 is,
                       long step, int chunked, float scale)
{
    local float buf[MAX_GROUP];
    ulong g = get_group_id(0), o = g / parts, p = g % parts;
    ulong per = (n_red + parts - 1) / parts;
    ulong lo = p * per, hi = min(n_red, lo + per);
    long4 c = unravel((long)o, od);
    long base = c.x * is.x + c.y * is.y + c.z * is.z + c.w * is.w;
    float acc = 0.0f;
    if (step != 0) {
        acc = strided_part(x + ox + base, lo, hi, step, chunked);
    } else {
        for (ulong r = lo + get_local_id(0); r < hi; r += get_local_size(0)) {
            long4 k = unravel((long)r, rd);
            acc += x[ox + base + k.x * is.x + k.y * is.y + k.z * is.z + k.w * is.w];
        }
    }
    finish_part(buf, acc, y + oy, o, part, g, parts, scale);
}

kernel void reduce_sum_nd(global const float *x, ulong ox, global float *y, ulong oy,
                          global float *part, ulong n_red, ulong parts, long8 od, long8 rd,
                          long8 is, long step, int chunked, float scale)
{
    local float buf[MAX_GROUP];
    ulong g = get_group_id(0), o = g / parts, p = g % parts;
    ulong per = (n_red + parts - 1) / parts;
    ulong lo = p * per, hi = min(n_red, lo + per);
    long base = offset8((long)o, od, is);
    float acc = 0.0f;
    if (step != 0) {
        acc = strided_part(x + ox + base, lo, hi, step, chunked);
    } else {
        for (ulong r = lo + get_local_id(0); r < hi; r += get_local_size(0)) {
            acc += x[ox + base + offset8((long)r, rd, is)];
        }
    }
    finish_part(buf, acc, y + oy, o, part, g, parts, scale);
}

/* Second pass: output o is scale * the sum of its parts, in part order. */
kernel void reduce_parts(global const float *part, ulong parts, global float *y, ulong oy,
                         float scale)
{
    local float buf[MAX_GROUP];
    ulong o = get_group_id(0);
    float acc = 0.0f;
    for (ulong p = get_local_id(0); p < parts; p += get_local_size(0)) {
        acc += part[o * parts + p];
    }
    float s = group_sum(buf, acc);
    if (get_local_id(0) == 0) {
        y[oy + o] = s * scale;
    }
}

/* y = scale * x expanded: od the output dims, s the source strides (0 where broadcast). */
kernel void broadcast(global const float *x, ulong ox, global float *y, ulong oy, ulong n, long4 od,
                      long4 s, float scale)
{
    ulong i = get_global_id(0);
    if (i >= n) {
        return;
    }
    long4 c = unravel((long)i, od);
    y[oy + i] = scale * x[ox + c.x * s.x + c.y * s.y + c.z * s.z + c.w * s.w];
}

kernel void broadcast_nd(global const float *x, ulong ox, global float *y, ulong oy, ulong n,
                         long8 od, long8 s, float scale)
{
    ulong i = get_global_id(0);
    if (i < n) {
        y[oy + i] = scale * x[ox + offset8((long)i, od, s)];
    }
}

/* One work-item per row: the first maximum; NaN never wins, not even at index 0. */
kernel void argmax(global const float *x, ulong ox, global int *y, ulong oy, ulong rows, ulong cols)
{
    ulong r = get_global_id(0);
    if (r >= rows) {
        return;
    }
    global const float *row = x + ox + r * cols;
    ulong best = 0;
    for (ulong c = 1; c < cols; c++) {
        if (row[c] > row[best] || (isnan(row[best]) && !isnan(row[c]))) {
            best = c;
        }
    }
    y[oy + r] = (int)best;
}

/* One work-group per row of cols: softmax, or log-softmax when log_form. */
kernel void softmax(global const float *x, ulong ox, global float *y, ulong oy, ulong cols,
                    int log_form)
{
    local float buf[MAX_GROUP];
    ulong row = get_group_id(0);
    global const float *xr = x + ox + row * cols;
    global float *yr = y + oy + row * cols;
    float mx = -INFINITY;
    for (ulong c = get_local_id(0); c < cols; c += get_local_size(0)) {
        mx = fmax(mx, xr[c]);
    }
    mx = group_max(buf, mx);
    float acc = 0.0f;
    for (ulong c = get_local_id(0); c < cols; c += get_local_size(0)) {
        acc += exp(xr[c] - mx);
    }
    float sum = group_sum(buf, acc);
    float ls = log(sum);
    for (ulong c = get_local_id(0); c < cols; c += get_local_size(0)) {
        float v = xr[c] - mx;
        yr[c] = log_form ? v - ls : exp(v) / sum;
    }
}

/* dx = y * (dy - sum(dy * y)), or for log-softmax dx = dy - exp(y) * sum(dy). */
kernel void softmax_bwd(global const float *y, ulong oy, global const float *dy, ulong od,
                        global float *dx, ulong odx, ulong cols, int log_form)
{
    local float buf[MAX_GROUP];
    ulong row = get_group_id(0);
    global const float *yr = y + oy + row * cols;
    global const float *gr = dy + od + row * cols;
    global float *dr = dx + odx + row * cols;
    float acc = 0.0f;
    for (ulong c = get_local_id(0); c < cols; c += get_local_size(0)) {
        acc += log_form ? gr[c] : gr[c] * yr[c];
    }
    float s = group_sum(buf, acc);
    for (ulong c = get_local_id(0); c < cols; c += get_local_size(0)) {
        dr[c] = log_form ? gr[c] - exp(yr[c]) * s : yr[c] * (gr[c] - s);
    }
}
