/*
 * loss.cl - losses with mean reduction (the CPU reference is src/ops/loss.c): partial
 * sums per work-group or per row, then one work-group adds the partials in a fixed
 * order and divides (loss_finish). Labels outside [0, C) add zero loss and zero
 * gradient but count in the mean. Work-groups are a power of two of at most 256 items.
 * OpenCL C 1.2; the work-group sums are in common.cl.
 */
#pragma OPENCL FP_CONTRACT OFF

#define MAX_GROUP 256

/* Elementwise losses: part[group] = the sum of the group's terms (grid-stride). */
#define ELEMENT_LOSS(name, term)                                                                   \
    kernel void name(global const float *p, ulong op, global const float *t, ulong ot, ulong n,    \
                     global float *part)                                                           \
    {                                                                                              \
        local float buf[MAX_GROUP];                                                                \
        float acc = 0.0f;                                                                          \
        for (ulong i = get_global_id(0); i < n; i += get_global_size(0)) {                         \
            float v = p[op + i], u = t[ot + i];                                                    \
            acc += (term);                                                                         \
        }                                                                                          \
        float s = group_sum(buf, acc);                                                             \
        if (get_local_id(0) == 0) {                                                                \
            part[get_group_id(0)] = s;                                                             \
        }                                                                                          \
    }

ELEMENT_LOSS(mse_part, (v - u) * (v - u))
ELEMENT_LOSS(bce_part, (v > 0.0f ? v : 0.0f) - v * u + log1p(exp(-fabs(v))))

/* y = (sum of n partials, in order) / div, by one work-group. */
kernel void loss_finish(global const float *part, ulong n, global float *y, ulong oy, float div)
{
    local float buf[MAX_GROUP];
    float acc = 0.0f;
    for (ulong i = get_local_id(0); i < n; i += get_local_size(0)) {
        acc += part[i];
    }
    float s = group_sum(buf, acc);
    if (get_local_id(0) == 0) {
        y[oy] = s / div;
    }
}

/* One work-group per row: log(sum exp(x - max)) + max - x[label] into part[row]. */
kernel void xent_rows(global const float *x, ulong ox, global const int *lab, ulong ol, ulong cols,
                      global float *part)
{
    local float buf[MAX_GROUP];
    ulong row = get_group_id(0);
    global const float *xr = x + ox + row * cols;
    int y = lab[ol + row];
    float mx = -INFINITY;
    for (ulong c = get_local_id(0); c < cols; c += get_local_size(0)) {
        mx = fmax(mx, xr[c]);
    }
    mx = group_max(buf, mx);
    float acc = 0.0f;
    for (ulong c = get_local_id(0); c < cols; c += get_local_size(0)) {
        acc += exp(xr[c] - mx);
    }
    float s = group_sum(buf, acc);
    if (get_local_id(0) == 0) {
        part[row] = (y >= 0 && (ulong)y < cols) ? log(s) + mx - xr[y] : 0.0f;
    }
}

/* dx = dy / rows * (softmax(x) - onehot(label)); rows with a bad label get 0. */
kernel void xent_bwd(global const float *x, ulong ox, global const int *lab, ulong ol,
                     global const float *dy, ulong od, global float *dx, ulong odx, ulong cols,
                     float rows)
{
    local float buf[MAX_GROUP];
    ulong row = get_group_id(0);
    global const float *xr = x + ox + row * cols;
    global float *dr = dx + odx + row * cols;
    int y = lab[ol + row];
    bool valid = y >= 0 && (ulong)y < cols;
    float k = dy[od] / rows;
    float mx = -INFINITY;
    for (ulong c = get_local_id(0); c < cols; c += get_local_size(0)) {
        mx = fmax(mx, xr[c]);
    }
    mx = group_max(buf, mx);
    float acc = 0.0f;
    for (ulong c = get_local_id(0); c < cols; c += get_local_size(0)) {
        acc += exp(xr[c] - mx);
    }
    float s = group_sum(buf, acc);
    for (ulong c = get_local_id(0); c < cols; c += get_local_size(0)) {
        float p = exp(xr[c] - mx) / s;
        dr[c] = valid ? k * (p - (c == (ulong)y ? 1.0f : 0.0f)) : 0.0f;
    }
}

/* SOFTMAX_XENT_FUSED, by one work-group: each item takes rows in turn, writes xent_bwd's
 * row of dx from the row's max and sum and adds xent_rows' term; then dx[rows cols] =
 * the terms' sum / rows. With has_pred, the rider pred (i32 [rows]) gets each row's
 * ARGMAX from the pass that finds its max: the first maximum, NaN never winning. */
kernel void xent_fused(global const float *x, ulong ox, global const int *lab, ulong ol,
                       global const float *dy, ulong od, global float *dx, ulong odx, ulong rows,
                       ulong cols, global int *pred, ulong op, int has_pred)
{
    local float buf[MAX_GROUP];
    float k = dy[od] / (float)rows, acc = 0.0f;
    for (ulong row = get_local_id(0); row < rows; row += get_local_size(0)) {
        global const float *xr = x + ox + row * cols;
        global float *dr = dx + odx + row * cols;
        int y = lab[ol + row];
        bool valid = y >= 0 && (ulong)y < cols;
        float mx = -INFINITY;
        ulong best = 0;
        for (ulong c = 0; c < cols; c++) {
            mx = fmax(mx, xr[c]);
            if (xr[c] > xr[best] || (isnan(xr[best]) && !isnan(xr[c]))) {
                best = c;
            }
        }
        if (has_pred) {
            pred[op + row] = (int)best;
        }
        float s = 0.0f;
        for (ulong c = 0; c < cols; c++) {
            s += exp(xr[c] - mx);
        }
        for (ulong c = 0; c < cols; c++) {
            float p = exp(xr[c] - mx) / s;
            dr[c] = valid ? k * (p - (c == (ulong)y ? 1.0f : 0.0f)) : 0.0f;
        }
        acc += valid ? log(s) + mx - xr[y] : 0.0f;
    }
    float total = group_sum(buf, acc);
    if (get_local_id(0) == 0) {
        dx[odx + rows * cols] = total / (float)rows;
    }
}

/* One work-group per row: the sum of max(0, 1 - x[label] + x[c]) over c != label. */
kernel void hinge_rows(global const float *x, ulong ox, global const int *lab, ulong ol, ulong cols,
                       global float *part)
{
    local float buf[MAX_GROUP];
    ulong row = get_group_id(0);
    global const float *xr = x + ox + row * cols;
    int y = lab[ol + row];
    bool valid = y >= 0 && (ulong)y < cols;
    float xy = valid ? xr[y] : 0.0f;
    float acc = 0.0f;
    for (ulong c = get_local_id(0); c < cols; c += get_local_size(0)) {
        float m = 1.0f - xy + xr[c];
        if (valid && c != (ulong)y && m > 0.0f) {
            acc += m;
        }
    }
    float s = group_sum(buf, acc);
    if (get_local_id(0) == 0) {
        part[row] = s;
    }
}

/* dx[c] = k for each active margin, dx[label] = -k * (number active); k = dy / (N C). */
kernel void hinge_bwd(global const float *x, ulong ox, global const int *lab, ulong ol,
                      global const float *dy, ulong od, global float *dx, ulong odx, ulong cols,
                      float n_terms)
{
    local float buf[MAX_GROUP];
    ulong row = get_group_id(0);
    global const float *xr = x + ox + row * cols;
    global float *dr = dx + odx + row * cols;
    int y = lab[ol + row];
    bool valid = y >= 0 && (ulong)y < cols;
    float xy = valid ? xr[y] : 0.0f;
    float k = dy[od] / n_terms;
    float count = 0.0f;
    for (ulong c = get_local_id(0); c < cols; c += get_local_size(0)) {
        count += (valid && c != (ulong)y && 1.0f - xy + xr[c] > 0.0f) ? 1.0f : 0.0f;
    }
    float n_active = group_sum(buf, count);
    for (ulong c = get_local_id(0); c < cols; c += get_local_size(0)) {
        bool active = valid && c != (ulong)y && 1.0f - xy + xr[c] > 0.0f;
        dr[c] = (valid && c == (ulong)y) ? -k * n_active : (active ? k : 0.0f);
    }
}

/* Elementwise gradients: mse dx = k * (p - t) with k = (2 / n) * dy; bce dx = dy / n *
 * (sigmoid(x) - t). */
kernel void mse_bwd(global const float *p, ulong op, global const float *t, ulong ot,
                    global const float *dy, ulong od, global float *dx, ulong odx, ulong n,
                    float two_over_n)
{
    ulong i = get_global_id(0);
    if (i < n) {
        float k = two_over_n * dy[od];
        dx[odx + i] = k * (p[op + i] - t[ot + i]);
    }
}

kernel void bce_bwd(global const float *x, ulong ox, global const float *t, ulong ot,
                    global const float *dy, ulong od, global float *dx, ulong odx, ulong n,
                    float count)
{
    ulong i = get_global_id(0);
    if (i < n) {
        float v = x[ox + i];
        float e = exp(-fabs(v));
        float s = v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
        dx[odx + i] = dy[od] / count * (s - t[ot + i]);
    }
}
