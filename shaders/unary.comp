#version 450
/*
 * unary.comp - elementwise ops of one tensor (-DOP_RELU ...) and the _BWD kernels of
 * (x or y, dy) (-DOP_RELU_BWD ...). p0 and p1 carry the op's parameters (scale and
 * shift, or alpha). Matches src/ops/unary.c.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#if defined(OP_RELU_BWD) || defined(OP_LEAKY_RELU_BWD) || defined(OP_SIGMOID_BWD) ||             \
    defined(OP_TANH_BWD) || defined(OP_GELU_BWD)
#define BWD 1
#endif

#define GELU_K 0.7978845608028654
#define GELU_C 0.044715

layout(std430, binding = 0) readonly buffer X { float x[]; };
#ifdef BWD
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#else
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
#endif

layout(push_constant) uniform PC {
    uint n;
    float p0, p1;
} pc;

float gelu_grad(float v)
{
    float t = kiln_tanh(GELU_K * (v + GELU_C * v * v * v));
    return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * GELU_K * (1.0 + 3.0 * GELU_C * v * v);
}

void main()
{
    for (uint i = GSTART; i < pc.n; i += GSTEP) {
        float v = x[i];
#ifdef BWD
        float g = dy[i];
#endif
#if defined(OP_SCALE_SHIFT)
        precise float r = pc.p0 * v + pc.p1; /* no fused multiply-add: as the reference */
        y[i] = r;
#elif defined(OP_RELU)
        y[i] = v > 0.0 ? v : 0.0;
#elif defined(OP_LEAKY_RELU)
        y[i] = v > 0.0 ? v : pc.p0 * v;
#elif defined(OP_SIGMOID)
        y[i] = kiln_sigmoid(v);
#elif defined(OP_TANH)
        y[i] = kiln_tanh(v);
#elif defined(OP_GELU)
        y[i] = 0.5 * v * (1.0 + kiln_tanh(GELU_K * (v + GELU_C * v * v * v)));
#elif defined(OP_EXP)
        y[i] = exp(v);
#elif defined(OP_LOG)
        y[i] = log(v);
#elif defined(OP_SQRT)
        y[i] = sqrt(v);
#elif defined(OP_RELU_BWD)
        y[i] = v > 0.0 ? g : 0.0;
#elif defined(OP_LEAKY_RELU_BWD)
        y[i] = v > 0.0 ? g : pc.p0 * g;
#elif defined(OP_SIGMOID_BWD)
        y[i] = g * v * (1.0 - v);
#elif defined(OP_TANH_BWD)
        y[i] = g * (1.0 - v * v);
#elif defined(OP_GELU_BWD)
        y[i] = g * gelu_grad(v);
#else
#error "unary.comp: no OP_ defined"
#endif
    }
}
