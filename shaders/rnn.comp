#version 450
/*
 * rnn.comp - the cells of the recurrent ops, one step for every (sequence, unit) per
 * dispatch; vk_rnn.c records the step's product (rnngemm.comp) before the forward cell
 * and after the backward cell. Layouts and equations are those of the CPU reference
 * (src/ops/rnn.c): blocks of [T, N, H] in y (RNN h; LSTM h, c, i, f, g, o, tanh c; GRU
 * h, r, z, hn, n) then the [N, G] product; the backward output holds dX [T, N, G], a
 * GRU's dH [T, N, G], then the carried dh and dc [N, H]. Cells: 0 tanh, 1 relu, 2 LSTM,
 * 3 GRU. Variants -DOP_RNN_SEQ (forward) and -DOP_RNN_SEQ_BWD.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#ifdef OP_RNN_SEQ
layout(std430, binding = 0) readonly buffer XG { float xg[]; };
layout(std430, binding = 1) readonly buffer BH { float bh[]; };
layout(std430, binding = 2) readonly buffer S0 { float s0[]; };
layout(std430, binding = 3) readonly buffer MK { float mask[]; };
layout(std430, binding = 4) buffer Y { float y[]; };
#else
layout(std430, binding = 0) readonly buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) readonly buffer S0 { float s0[]; };
layout(std430, binding = 3) readonly buffer MK { float mask[]; };
layout(std430, binding = 4) buffer D { float d[]; };
#endif

layout(push_constant) uniform PC {
    uint N, H, tnh, tng, dx_elems;
    uint t;
    int tp;   /* the step before t; -1: the initial state */
    uint cell;
    uint first; /* backward: the first step processed, whose carries start at zero */
} pc;

void main()
{
    uint H = pc.H, N = pc.N, t = pc.t, tnh = pc.tnh;
    uint G = (pc.cell == 2u ? 4u : pc.cell == 3u ? 3u : 1u) * H;
    for (uint id = GSTART; id < N * H; id += GSTEP) {
        uint i = id / H, j = id % H;
        uint row = (t * N + i) * H + j;
        bool init = pc.tp < 0;
        uint prow = init ? 0u : (uint(pc.tp) * N + i) * H + j;
        bool real = mask[t * N + i] != 0.0;
#ifdef OP_RNN_SEQ
        uint nb = pc.cell == 2u ? 7u : pc.cell == 3u ? 5u : 1u;
        float hp = init ? s0[i * H + j] : y[prow];
        float cp = pc.cell != 2u ? 0.0 : (init ? s0[(N + i) * H + j] : y[tnh + prow]);
        uint xo = (t * N + i) * G, ao = nb * tnh + i * G;
        if (!real) {
            y[row] = hp;
            for (uint k = 1u; k < nb; k++) {
                y[k * tnh + row] = k == 1u && pc.cell == 2u ? cp : 0.0;
            }
        } else if (pc.cell == 2u) {
            float gi = kiln_sigmoid(xg[xo + j] + y[ao + j] + bh[j]);
            float gf = kiln_sigmoid(xg[xo + H + j] + y[ao + H + j] + bh[H + j]);
            float gg = kiln_tanh(xg[xo + 2u * H + j] + y[ao + 2u * H + j] + bh[2u * H + j]);
            float go = kiln_sigmoid(xg[xo + 3u * H + j] + y[ao + 3u * H + j] + bh[3u * H + j]);
            float c = gf * cp + gi * gg, tc = kiln_tanh(c);
            y[row] = go * tc;
            y[tnh + row] = c;
            y[2u * tnh + row] = gi;
            y[3u * tnh + row] = gf;
            y[4u * tnh + row] = gg;
            y[5u * tnh + row] = go;
            y[6u * tnh + row] = tc;
        } else if (pc.cell == 3u) {
            float gr = kiln_sigmoid(xg[xo + j] + y[ao + j] + bh[j]);
            float gz = kiln_sigmoid(xg[xo + H + j] + y[ao + H + j] + bh[H + j]);
            float hn = y[ao + 2u * H + j] + bh[2u * H + j];
            float gn = kiln_tanh(xg[xo + 2u * H + j] + gr * hn);
            y[row] = (1.0 - gz) * gn + gz * hp;
            y[tnh + row] = gr;
            y[2u * tnh + row] = gz;
            y[3u * tnh + row] = hn;
            y[4u * tnh + row] = gn;
        } else {
            float v = xg[xo + j] + y[ao + j] + bh[j];
            y[row] = pc.cell == 0u ? kiln_tanh(v) : max(v, 0.0);
        }
#else
        uint xo = (t * N + i) * G;
        uint ho = pc.cell == 3u ? pc.tng + xo : xo;
        uint dho = pc.dx_elems + i * H + j, dco = dho + N * H;
        float dhc = pc.first != 0u ? 0.0 : d[dho];
        float dcc = pc.first != 0u ? 0.0 : d[dco];
        float dht = dy[row] + dhc;
        if (!real) {
            d[dho] = dht;
            d[dco] = pc.cell == 2u ? dcc + dy[tnh + row] : 0.0;
            for (uint k = j; k < G; k += H) {
                d[xo + k] = 0.0;
                d[ho + k] = 0.0;
            }
        } else if (pc.cell == 2u) {
            float cp = init ? s0[(N + i) * H + j] : y[tnh + prow];
            float gi = y[2u * tnh + row], gf = y[3u * tnh + row], gg = y[4u * tnh + row];
            float go = y[5u * tnh + row], tc = y[6u * tnh + row];
            float dct = dy[tnh + row] + dcc + dht * go * (1.0 - tc * tc);
            d[xo + j] = dct * gg * gi * (1.0 - gi);
            d[xo + H + j] = dct * cp * gf * (1.0 - gf);
            d[xo + 2u * H + j] = dct * gi * (1.0 - gg * gg);
            d[xo + 3u * H + j] = dht * tc * go * (1.0 - go);
            d[dco] = dct * gf;
            d[dho] = 0.0;
        } else if (pc.cell == 3u) {
            float hp = init ? s0[i * H + j] : y[prow];
            float gr = y[tnh + row], gz = y[2u * tnh + row], hn = y[3u * tnh + row];
            float gn = y[4u * tnh + row];
            float dan = dht * (1.0 - gz) * (1.0 - gn * gn);
            float dar = dan * hn * gr * (1.0 - gr);
            float daz = dht * (hp - gn) * gz * (1.0 - gz);
            d[xo + j] = dar;
            d[xo + H + j] = daz;
            d[xo + 2u * H + j] = dan;
            d[ho + j] = dar;
            d[ho + H + j] = daz;
            d[ho + 2u * H + j] = dan * gr;
            d[dho] = dht * gz;
            d[dco] = 0.0;
        } else {
            float v = y[row];
            d[xo + j] = pc.cell == 0u ? dht * (1.0 - v * v) : (v > 0.0 ? dht : 0.0);
            d[dho] = 0.0;
            d[dco] = 0.0;
        }
#endif
    }
}
