#version 450
/*
 * loss.comp - the losses of src/ops/loss.c (mean reduction, scalar output) and their
 * backward kernels, selected by -DOP_<NAME>:
 *   MSE, BCE_LOGITS          (a, b) -> y[0]: one workgroup sums over all elements.
 *   SOFTMAX_XENT, HINGE      (scores [rows, cols], labels i32) -> y[0]: one workgroup,
 *                            one row per invocation, then a shared-memory tree.
 *   MSE_BWD, BCE_LOGITS_BWD  elementwise, scaled by the scalar dy.
 *   SOFTMAX_XENT_BWD, HINGE_BWD  one row per invocation.
 *   SOFTMAX_XENT_FUSED       (scores, labels, dy) -> y[0 .. rows cols) the gradient,
 *                            y[rows cols] the loss: one workgroup, one row per
 *                            invocation (its max and sum once for both), then the tree.
 *                            With -DARGMAX a fourth binding, the rider pred (i32
 *                            [rows]), gets each row's ARGMAX from the pass that finds
 *                            its max: the first maximum, NaN never winning (build with
 *                            -DKILN_IEEE where the device keeps NaN, as ARGMAX).
 * Labels outside [0, cols) contribute zero loss and zero gradient.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#if defined(OP_MSE_BWD) || defined(OP_BCE_LOGITS_BWD) || defined(OP_SOFTMAX_XENT_BWD) ||         \
    defined(OP_HINGE_BWD)
#define BWD 1
#endif
#if defined(OP_SOFTMAX_XENT) || defined(OP_HINGE) || defined(OP_SOFTMAX_XENT_BWD) ||              \
    defined(OP_HINGE_BWD) || defined(OP_SOFTMAX_XENT_FUSED)
#define LABELS 1
#endif
#if defined(BWD) || defined(OP_SOFTMAX_XENT_FUSED)
#define WITH_DY 1
#endif

layout(std430, binding = 0) readonly buffer X { float x[]; };
#ifdef LABELS
layout(std430, binding = 1) readonly buffer L { int lab[]; };
#else
layout(std430, binding = 1) readonly buffer T { float t[]; };
#endif
#if defined(WITH_DY) && defined(ARGMAX)
layout(std430, binding = 2) readonly buffer DY { float dy[]; };
layout(std430, binding = 3) writeonly buffer P { int pred[]; };
layout(std430, binding = 4) writeonly buffer Y { float y[]; };
#elif defined(WITH_DY)
layout(std430, binding = 2) readonly buffer DY { float dy[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
#else
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#endif

layout(push_constant) uniform PC {
    uint n;      /* elements, or rows with labels */
    uint cols;   /* with labels */
    float scale; /* forward: 1 / count of the mean; MSE_BWD: 2 / n; others: 1 / count */
} pc;

#ifndef BWD
shared float red[WG];
#endif

void main()
{
    uint lid = gl_LocalInvocationID.x;
#ifndef BWD
    float acc = 0.0;
#ifdef OP_SOFTMAX_XENT_FUSED
    float k = dy[0] * pc.scale;
#endif
    for (uint i = lid; i < pc.n; i += WG) {
#if defined(OP_MSE)
        float d = x[i] - t[i];
        acc += d * d;
#elif defined(OP_BCE_LOGITS)
        float v = x[i];
        acc += max(v, 0.0) - v * t[i] + log(1.0 + exp(-abs(v)));
#elif defined(OP_SOFTMAX_XENT)
        int l = lab[i];
        if (l >= 0 && uint(l) < pc.cols) {
            uint base = i * pc.cols;
            float mx = x[base];
            for (uint c = 1; c < pc.cols; c++) {
                mx = max(mx, x[base + c]);
            }
            float s = 0.0;
            for (uint c = 0; c < pc.cols; c++) {
                s += exp(x[base + c] - mx);
            }
            acc += log(s) + mx - x[base + uint(l)];
        }
#elif defined(OP_SOFTMAX_XENT_FUSED)
        /* SOFTMAX_XENT_BWD's row, then SOFTMAX_XENT's term from the same max and sum. */
        int l = lab[i];
        bool valid = l >= 0 && uint(l) < pc.cols;
        uint base = i * pc.cols;
        float mx = x[base];
#ifdef ARGMAX
        uint best = 0u;
        float bv = mx;
#endif
        for (uint c = 1; c < pc.cols; c++) {
            float v = x[base + c];
            mx = max(mx, v);
#ifdef ARGMAX
            if (v > bv || (isnan(bv) && !isnan(v))) {
                best = c;
                bv = v;
            }
#endif
        }
#ifdef ARGMAX
        pred[i] = int(best);
#endif
        float s = 0.0;
        for (uint c = 0; c < pc.cols; c++) {
            s += exp(x[base + c] - mx);
        }
        float inv = 1.0 / s;
        for (uint c = 0; c < pc.cols; c++) {
            float p = exp(x[base + c] - mx) * inv;
            y[base + c] = valid ? k * (p - (int(c) == l ? 1.0 : 0.0)) : 0.0;
        }
        if (valid) {
            acc += log(s) + mx - x[base + uint(l)];
        }
#elif defined(OP_HINGE)
        int l = lab[i];
        if (l >= 0 && uint(l) < pc.cols) {
            uint base = i * pc.cols;
            float xy = x[base + uint(l)];
            for (uint c = 0; c < pc.cols; c++) {
                float m = 1.0 - xy + x[base + c];
                if (c != uint(l) && m > 0.0) {
                    acc += m;
                }
            }
        }
#else
#error "loss.comp: no OP_ defined"
#endif
    }
    red[lid] = acc;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (lid < s) {
            red[lid] += red[lid + s];
        }
        barrier();
    }
    if (lid == 0) {
#ifdef OP_SOFTMAX_XENT_FUSED
        y[pc.n * pc.cols] = red[0] * pc.scale;
#else
        y[0] = red[0] * pc.scale;
#endif
    }
#else
    float g = dy[0];
    for (uint i = GSTART; i < pc.n; i += GSTEP) {
#if defined(OP_MSE_BWD)
        y[i] = (pc.scale * g) * (x[i] - t[i]);
#elif defined(OP_BCE_LOGITS_BWD)
        y[i] = (g * pc.scale) * (kiln_sigmoid(x[i]) - t[i]);
#elif defined(OP_SOFTMAX_XENT_BWD)
        int l = lab[i];
        bool valid = l >= 0 && uint(l) < pc.cols;
        uint base = i * pc.cols;
        float mx = x[base];
        for (uint c = 1; c < pc.cols; c++) {
            mx = max(mx, x[base + c]);
        }
        float s = 0.0;
        for (uint c = 0; c < pc.cols; c++) {
            s += exp(x[base + c] - mx);
        }
        float k = g * pc.scale, inv = 1.0 / s;
        for (uint c = 0; c < pc.cols; c++) {
            float p = exp(x[base + c] - mx) * inv;
            y[base + c] = valid ? k * (p - (int(c) == l ? 1.0 : 0.0)) : 0.0;
        }
#elif defined(OP_HINGE_BWD)
        int l = lab[i];
        bool valid = l >= 0 && uint(l) < pc.cols;
        uint base = i * pc.cols;
        float k = g * pc.scale;
        float xy = valid ? x[base + uint(l)] : 0.0;
        float n_active = 0.0;
        for (uint c = 0; c < pc.cols; c++) {
            bool on = valid && int(c) != l && 1.0 - xy + x[base + c] > 0.0;
            y[base + c] = on ? k : 0.0;
            n_active += on ? 1.0 : 0.0;
        }
        if (valid) {
            y[base + uint(l)] = -k * n_active;
        }
#endif
    }
#endif
}
