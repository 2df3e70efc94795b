/*
 * rnn.cl - the cells of the recurrent ops, one step for every (sequence, unit) per
 * launch; the host (cl_rnn.c) enqueues the step's product h_{t-1} W_hh^T (CLBlast)
 * before the forward cell and dh += dG W_hh after the backward cell. Layouts and
 * equations are those of the CPU reference (src/ops/rnn.c): blocks of [T, N, H] in y
 * (RNN h; LSTM h, c, i, f, g, o, tanh c; GRU h, r, z, hn, n) then the [N, G] product;
 * the backward output holds dX [T, N, G], a GRU's dH [T, N, G], then the carried dh and
 * dc [N, H]. Cells: 0 tanh, 1 relu, 2 LSTM, 3 GRU. OpenCL C 1.2.
 */
#pragma OPENCL FP_CONTRACT OFF

/* The unary family's overflow-safe forms (opencl/unary.cl). */
static float rnn_sigmoid(float x)
{
    float e = exp(-fabs(x));
    return x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

static float rnn_tanh(float x)
{
    return fabs(x) >= 10.0f ? copysign(1.0f, x) : tanh(x);
}

/* One step t (tp: the step before, -1 for the initial state s0) of the forward pass. */
kernel void rnn_fwd(global const float *xg, ulong oxg, global const float *b, ulong ob,
                    global const float *s0, ulong os0, global const float *mask, ulong om,
                    global float *y, ulong oy, long N, long H, long tnh, long t, long tp, int cell)
{
    long id = get_global_id(0);
    if (id >= N * H) {
        return;
    }
    long i = id / H, j = id % H;
    int nb = cell == 2 ? 7 : cell == 3 ? 5 : 1;
    long G = (cell == 2 ? 4 : cell == 3 ? 3 : 1) * H;
    long row = (t * N + i) * H + j, prow = (tp * N + i) * H + j;
    global float *yy = y + oy;
    float hp = tp < 0 ? s0[os0 + i * H + j] : yy[prow];
    float cp = tp < 0 ? (cell == 2 ? s0[os0 + (N + i) * H + j] : 0.0f) : yy[tnh + prow];
    global const float *x = xg + oxg + (t * N + i) * G;
    global const float *a = yy + nb * tnh + i * G;
    global const float *bb = b + ob;
    if (mask[om + t * N + i] == 0.0f) {
        yy[row] = hp;
        for (int k = 1; k < nb; k++) {
            yy[k * tnh + row] = k == 1 && cell == 2 ? cp : 0.0f;
        }
        return;
    }
    if (cell == 2) {
        float gi = rnn_sigmoid(x[j] + a[j] + bb[j]);
        float gf = rnn_sigmoid(x[H + j] + a[H + j] + bb[H + j]);
        float gg = rnn_tanh(x[2 * H + j] + a[2 * H + j] + bb[2 * H + j]);
        float go = rnn_sigmoid(x[3 * H + j] + a[3 * H + j] + bb[3 * H + j]);
        float c = gf * cp + gi * gg, tc = rnn_tanh(c);
        yy[row] = go * tc;
        yy[tnh + row] = c;
        yy[2 * tnh + row] = gi;
        yy[3 * tnh + row] = gf;
        yy[4 * tnh + row] = gg;
        yy[5 * tnh + row] = go;
        yy[6 * tnh + row] = tc;
    } else if (cell == 3) {
        float gr = rnn_sigmoid(x[j] + a[j] + bb[j]);
        float gz = rnn_sigmoid(x[H + j] + a[H + j] + bb[H + j]);
        float hn = a[2 * H + j] + bb[2 * H + j];
        float gn = rnn_tanh(x[2 * H + j] + gr * hn);
        yy[row] = (1.0f - gz) * gn + gz * hp;
        yy[tnh + row] = gr;
        yy[2 * tnh + row] = gz;
        yy[3 * tnh + row] = hn;
        yy[4 * tnh + row] = gn;
    } else {
        float v = x[j] + a[j] + bb[j];
        yy[row] = cell == 0 ? rnn_tanh(v) : (v > 0.0f ? v : 0.0f);
    }
}

/* One step t of the backward pass: the gate gradients of step t and the carries (the
 * host then adds dG_t W_hh to dh). dx_elems: the elements of dX (and dH). */
kernel void rnn_bwd(global const float *y, ulong oy, global const float *dy, ulong ody,
                    global const float *s0, ulong os0, global const float *mask, ulong om,
                    global float *d, ulong od, long N, long H, long tnh, long tng, long dx_elems,
                    long t, long tp, int cell)
{
    long id = get_global_id(0);
    if (id >= N * H) {
        return;
    }
    long i = id / H, j = id % H;
    long G = (cell == 2 ? 4 : cell == 3 ? 3 : 1) * H;
    long row = (t * N + i) * H + j, prow = (tp * N + i) * H + j;
    global const float *yy = y + oy, *gy = dy + ody;
    global float *dx = d + od + (t * N + i) * G;
    global float *dhg = cell == 3 ? dx + tng : dx;
    global float *dh = d + od + dx_elems + i * H + j, *dc = dh + N * H;
    float dht = gy[row] + *dh;
    if (mask[om + t * N + i] == 0.0f) {
        *dh = dht;
        if (cell == 2) {
            *dc += gy[tnh + row];
        }
        for (long k = j; k < G; k += H) {
            dx[k] = 0.0f;
            dhg[k] = 0.0f;
        }
        return;
    }
    if (cell == 2) {
        float cp = tp < 0 ? s0[os0 + (N + i) * H + j] : yy[tnh + prow];
        float gi = yy[2 * tnh + row], gf = yy[3 * tnh + row], gg = yy[4 * tnh + row];
        float go = yy[5 * tnh + row], tc = yy[6 * tnh + row];
        float dct = gy[tnh + row] + *dc + dht * go * (1.0f - tc * tc);
        dx[j] = dct * gg * gi * (1.0f - gi);
        dx[H + j] = dct * cp * gf * (1.0f - gf);
        dx[2 * H + j] = dct * gi * (1.0f - gg * gg);
        dx[3 * H + j] = dht * tc * go * (1.0f - go);
        *dc = dct * gf;
        *dh = 0.0f;
    } else if (cell == 3) {
        float hp = tp < 0 ? s0[os0 + i * H + j] : yy[prow];
        float gr = yy[tnh + row], gz = yy[2 * tnh + row], hn = yy[3 * tnh + row];
        float gn = yy[4 * tnh + row];
        float dan = dht * (1.0f - gz) * (1.0f - gn * gn);
        float dar = dan * hn * gr * (1.0f - gr);
        float daz = dht * (hp - gn) * gz * (1.0f - gz);
        dx[j] = dar;
        dx[H + j] = daz;
        dx[2 * H + j] = dan;
        dhg[j] = dar;
        dhg[H + j] = daz;
        dhg[2 * H + j] = dan * gr;
        *dh = dht * gz;
    } else {
        float v = yy[row];
        dx[j] = cell == 0 ? dht * (1.0f - v * v) : (v > 0.0f ? dht : 0.0f);
        *dh = 0.0f;
    }
}
