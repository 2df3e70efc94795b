#version 450
/*
 * random.comp - dropout, bit for bit as src/ops/random.c: for element i in training run
 * t, r = Philox4x32-10(key seed, counter (i, 0, t lo, t hi)), u = (r0 >> 8) 2^-24,
 * y = u >= p ? x scale : 0. With training == 0, y = x.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };

layout(push_constant) uniform PC {
    uint n;
    float p, scale;
    uint seed_lo, seed_hi, t_lo, t_hi;
    uint training;
} pc;

uint philox_word0(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
{
    for (int r = 0; r < 10; r++) {
        uint hi0, lo0, hi1, lo1;
        umulExtended(0xD2511F53u, c0, hi0, lo0);
        umulExtended(0xCD9E8D57u, c2, hi1, lo1);
        uint n0 = hi1 ^ c1 ^ k0;
        uint n2 = hi0 ^ c3 ^ k1;
        c1 = lo1;
        c3 = lo0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c0;
}

void main()
{
    for (uint i = GSTART; i < pc.n; i += GSTEP) {
        if (pc.training == 0u) {
            y[i] = x[i];
            continue;
        }
        uint r0 = philox_word0(i, 0u, pc.t_lo, pc.t_hi, pc.seed_lo, pc.seed_hi);
        float u = float(r0 >> 8) * (1.0 / 16777216.0);
        y[i] = u >= pc.p ? x[i] * pc.scale : 0.0;
    }
}
