/*
 * norm.cl - batch normalization (statistics, apply, their gradients, running averages)
 * and local response normalization (the CPU reference is src/ops/norm.c, in double;
 * here in float with fixed-order tree sums). x is [N, C, S...] with S the product of
 * the trailing dims. Per-channel sums use one work-group per channel (a power of two of
 * at most 256 items). OpenCL C 1.2; the work-group sums are in common.cl.
 */
#pragma OPENCL FP_CONTRACT OFF

#define MAX_GROUP 256

/* st = [mean; biased variance] per channel over N and S (training mode; outside it the
 * host copies the running statistics). */
kernel void bn_stats(global const float *x, ulong ox, global float *st, ulong ost, long N, long C,
                     long S)
{
    local float buf[MAX_GROUP];
    long c = get_group_id(0), m = N * S;
    float acc = 0.0f;
    for (long r = get_local_id(0); r < m; r += get_local_size(0)) {
        acc += x[ox + ((r / S) * C + c) * S + r % S];
    }
    float mean = group_sum(buf, acc) / (float)m;
    acc = 0.0f;
    for (long r = get_local_id(0); r < m; r += get_local_size(0)) {
        float d = x[ox + ((r / S) * C + c) * S + r % S] - mean;
        acc += d * d;
    }
    float var = group_sum(buf, acc) / (float)m;
    if (get_local_id(0) == 0) {
        st[ost + c] = mean;
        st[ost + C + c] = var;
    }
}

/* dx = (dmean + 2 dvar (x - mean)) / M with ds = [dmean; dvar]. */
kernel void bn_stats_bwd(global const float *x, ulong ox, global const float *st, ulong ost,
                         global const float *ds, ulong ods, global float *dx, ulong odx, ulong n,
                         long C, long S, float inv_m)
{
    ulong i = get_global_id(0);
    if (i < n) {
        long c = ((long)i / S) % C;
        dx[odx + i] = (ds[ods + c] + 2.0f * ds[ods + C + c] * (x[ox + i] - st[ost + c])) * inv_m;
    }
}

/* apply: y = (x - mean) r gamma + beta; otherwise (t is dy) y = dy gamma r; r = 1 / sqrt(var
 * + eps). */
kernel void bn_apply(global const float *x, ulong ox, global const float *st, ulong ost,
                     global const float *gm, ulong ogm, global const float *t, ulong ot,
                     global float *y, ulong oy, ulong n, long C, long S, float eps, int apply)
{
    ulong i = get_global_id(0);
    if (i >= n) {
        return;
    }
    long c = ((long)i / S) % C;
    float r = 1.0f / sqrt(st[ost + C + c] + eps);
    y[oy + i] = apply ? (x[ox + i] - st[ost + c]) * r * gm[ogm + c] + t[ot + c]
                      : t[ot + i] * gm[ogm + c] * r;
}

/* Per channel: [dmean; dvar; dgamma; dbeta] from s1 = sum dy, s2 = sum dy (x - mean). */
kernel void bn_apply_bwd_params(global const float *x, ulong ox, global const float *st, ulong ost,
                                global const float *gm, ulong ogm, global const float *dy,
                                ulong ody, global float *o, ulong oo, long N, long C, long S,
                                float eps)
{
    local float buf[MAX_GROUP];
    long c = get_group_id(0), m = N * S;
    float mean = st[ost + c], a1 = 0.0f, a2 = 0.0f;
    for (long r = get_local_id(0); r < m; r += get_local_size(0)) {
        long i = ((r / S) * C + c) * S + r % S;
        float g = dy[ody + i];
        a1 += g;
        a2 += g * (x[ox + i] - mean);
    }
    float s1 = group_sum(buf, a1), s2 = group_sum(buf, a2);
    if (get_local_id(0) == 0) {
        float r = 1.0f / sqrt(st[ost + C + c] + eps), g = gm[ogm + c];
        o[oo + c] = -g * r * s1;
        o[oo + C + c] = -0.5f * g * s2 * r * r * r;
        o[oo + 2 * C + c] = s2 * r;
        o[oo + 3 * C + c] = s1;
    }
}

/* In place: running = (1 - momentum) running + momentum stat (variance unbiased). */
kernel void bn_running(global float *rm, ulong orm, global float *rv, ulong orv,
                       global const float *st, ulong ost, ulong C, float momentum, float unbias)
{
    ulong i = get_global_id(0);
    if (i < C) {
        rm[orm + i] = (1.0f - momentum) * rm[orm + i] + momentum * st[ost + i];
        rv[orv + i] = (1.0f - momentum) * rv[orv + i] + momentum * (st[ost + C + i] * unbias);
    }
}

/* k + alpha / size * the sum of squares over the window of channel c (column xc). */
static float lrn_den(global const float *xc, long S, long C, long c, int size, float alpha, float k)
{
    long lo = max(c - size / 2, 0L), hi = min(c + (size - 1) / 2, C - 1);
    float sum = 0.0f;
    for (long j = lo; j <= hi; j++) {
        sum += xc[j * S] * xc[j * S];
    }
    return k + alpha / (float)size * sum;
}

/* fwd: y = x d^-beta; otherwise (dy given) the gradient of the reference's comment. */
kernel void lrn(global const float *x, ulong ox, global const float *dy, ulong ody, global float *y,
                ulong oy, ulong n, long C, long S, int size, float alpha, float beta, float k,
                int fwd)
{
    ulong i = get_global_id(0);
    if (i >= n) {
        return;
    }
    long s = (long)i % S, c = ((long)i / S) % C, b = (long)i / (S * C);
    global const float *xc = x + ox + b * C * S + s;
    float d = lrn_den(xc, S, C, c, size, alpha, k);
    if (fwd) {
        y[oy + i] = x[ox + i] * pow(d, -beta);
        return;
    }
    global const float *gc = dy + ody + b * C * S + s;
    float acc = 0.0f;
    long lo = max(c - (size - 1) / 2, 0L), hi = min(c + size / 2, C - 1);
    for (long cc = lo; cc <= hi; cc++) {
        float dc = lrn_den(xc, S, C, cc, size, alpha, k);
        acc += gc[cc * S] * xc[cc * S] * pow(dc, -beta - 1.0f);
    }
    y[oy + i] = dy[ody + i] * pow(d, -beta) - 2.0f * alpha * beta / (float)size * x[ox + i] * acc;
}
