#version 450
/*
 * layernorm.comp - the layernorm family (src/ops/layernorm.c), run by the generic
 * launcher: the sources then the output as storage buffers, a push-constant block of the
 * header (n items, training, run) and the op's params (its row in src/ops/op_list.h).
 * x is [rows, cols]:
 *   -DOP_LAYER_NORM            y = (x - mean) rstd gamma + beta, one invocation per row
 *   -DOP_LAYER_NORM_STATS      [rows, 2] mean and rstd = 1 / sqrt(var + eps) per row
 *   -DOP_LAYER_NORM_BWD        dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy gamma,
 *                              one invocation per row
 *   -DOP_LAYER_NORM_BWD_PARAMS [2, cols]: sums over the rows of dy xhat and dy, one
 *                              invocation per column
 * Sums are in float, in index order (as opencl/layernorm.cl). Grid-stride loops.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(push_constant) uniform PC {
    uint n, training, run_lo, run_hi;
    float eps;
    int norm_dims, rows, cols;
} pc;

#if defined(OP_LAYER_NORM) || defined(OP_LAYER_NORM_STATS)
layout(std430, binding = 0) readonly buffer X { float x[]; };

/* Mean and rstd of the row starting at x[base]: two passes. */
void row_stats(uint base, out float mean, out float rstd)
{
    uint cols = uint(pc.cols);
    float s = 0.0, q = 0.0;
    for (uint c = 0u; c < cols; c++) {
        s += x[base + c];
    }
    float m = s / float(cols);
    for (uint c = 0u; c < cols; c++) {
        float d = x[base + c] - m;
        q += d * d;
    }
    mean = m;
    rstd = 1.0 / sqrt(q / float(cols) + pc.eps);
}
#endif

#if defined(OP_LAYER_NORM)
layout(std430, binding = 1) readonly buffer G { float gm[]; };
layout(std430, binding = 2) readonly buffer B { float bt[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

void main()
{
    uint cols = uint(pc.cols);
    for (uint r = GSTART; r < pc.n; r += GSTEP) {
        uint base = r * cols;
        float mean, rstd;
        row_stats(base, mean, rstd);
        for (uint c = 0u; c < cols; c++) {
            y[base + c] = (x[base + c] - mean) * rstd * gm[c] + bt[c];
        }
    }
}
#elif defined(OP_LAYER_NORM_STATS)
layout(std430, binding = 1) writeonly buffer S { float st[]; };

void main()
{
    for (uint r = GSTART; r < pc.n; r += GSTEP) {
        float mean, rstd;
        row_stats(r * uint(pc.cols), mean, rstd);
        st[2u * r] = mean;
        st[2u * r + 1u] = rstd;
    }
}
#elif defined(OP_LAYER_NORM_BWD)
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer S { float st[]; };
layout(std430, binding = 2) readonly buffer G { float gm[]; };
layout(std430, binding = 3) readonly buffer DY { float dy[]; };
layout(std430, binding = 4) writeonly buffer DX { float dx[]; };

void main()
{
    uint cols = uint(pc.cols);
    for (uint r = GSTART; r < pc.n; r += GSTEP) {
        uint base = r * cols;
        float mean = st[2u * r], rstd = st[2u * r + 1u];
        float s1 = 0.0, s2 = 0.0;
        for (uint c = 0u; c < cols; c++) {
            float g = dy[base + c] * gm[c];
            s1 += g;
            s2 += g * ((x[base + c] - mean) * rstd);
        }
        s1 /= float(cols);
        s2 /= float(cols);
        for (uint c = 0u; c < cols; c++) {
            float g = dy[base + c] * gm[c];
            dx[base + c] = rstd * (g - s1 - (x[base + c] - mean) * rstd * s2);
        }
    }
}
#elif defined(OP_LAYER_NORM_BWD_PARAMS)
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer S { float st[]; };
layout(std430, binding = 2) readonly buffer DY { float dy[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };

void main()
{
    uint cols = uint(pc.cols), rows = uint(pc.rows);
    for (uint c = GSTART; c < pc.n; c += GSTEP) {
        float sg = 0.0, sb = 0.0;
        for (uint r = 0u; r < rows; r++) {
            uint i = r * cols + c;
            float g = dy[i];
            sg += g * ((x[i] - st[2u * r]) * st[2u * r + 1u]);
            sb += g;
        }
        o[c] = sg;
        o[cols + c] = sb;
    }
}
#else
#error "layernorm.comp: no OP_ defined"
#endif
