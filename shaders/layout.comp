#version 450
/*
 * layout.comp - copies between boxes of 4-byte elements, matching src/ops/layout.c:
 *   -DOP_SLICE_PAD  y[o] = x[o + sign * offs] inside x, else 0 (SLICE: sign 1, the box
 *                   start in x; PAD: sign -1, the zeros before x), 4 padded dims.
 *   -DOP_COPY_ROWS  one CONCAT input: y[r * dst_stride + dst_off + c] = x[r * len + c]
 *                   for r < n / len, c < len.
 * -DOP_SLICE_PAD -DND: the same over 8 padded dims (x contiguous in its dims id).
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) buffer Y { uint y[]; };

#if defined(OP_SLICE_PAD) && defined(ND)
layout(push_constant) uniform PC {
    uint n;
    uint od[8];
    int id[8], off[8];
    int sign;
} pc;
#elif defined(OP_SLICE_PAD)
layout(push_constant) uniform PC {
    uint n;
    uint od1, od2, od3;
    int id0, id1, id2, id3;
    uint is0, is1, is2, is3;
    int off0, off1, off2, off3;
    int sign;
} pc;
#else
layout(push_constant) uniform PC {
    uint n, len, dst_stride, dst_off;
} pc;
#endif

void main()
{
    for (uint o = GSTART; o < pc.n; o += GSTEP) {
#if defined(OP_SLICE_PAD) && defined(ND)
        uint r = o, src = 0u, stride = 1u;
        bool in_x = true;
        for (int k = 7; k >= 0; k--) {
            int c = int(r % pc.od[k]) + pc.sign * pc.off[k];
            r /= pc.od[k];
            in_x = in_x && c >= 0 && c < pc.id[k];
            src += uint(c) * stride;
            stride *= uint(pc.id[k]);
        }
        y[o] = in_x ? x[src] : 0u;
#elif defined(OP_SLICE_PAD)
        uint r = o;
        int c3 = int(r % pc.od3) + pc.sign * pc.off3;
        r /= pc.od3;
        int c2 = int(r % pc.od2) + pc.sign * pc.off2;
        r /= pc.od2;
        int c1 = int(r % pc.od1) + pc.sign * pc.off1;
        int c0 = int(r / pc.od1) + pc.sign * pc.off0;
        bool in_x = c0 >= 0 && c0 < pc.id0 && c1 >= 0 && c1 < pc.id1 && c2 >= 0 &&
                    c2 < pc.id2 && c3 >= 0 && c3 < pc.id3;
        y[o] = in_x ? x[uint(c0) * pc.is0 + uint(c1) * pc.is1 + uint(c2) * pc.is2 +
                        uint(c3) * pc.is3]
                    : 0u;
#else
        y[(o / pc.len) * pc.dst_stride + pc.dst_off + o % pc.len] = x[o];
#endif
    }
}
