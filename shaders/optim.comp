#version 450
/*
 * optim.comp - in-place updates (-DOP_SGD_UPDATE: param, grad, velocity;
 * -DOP_ADAM_UPDATE: param, grad, m, v, both zeroing the gradient once read when
 * clear_grad is set; -DOP_RMSPROP_UPDATE: param, grad, square_avg; -DOP_ADAGRAD_UPDATE:
 * param, grad, sum; -DOP_ACCUMULATE: dst, x with dst = alpha dst + beta x), elementwise,
 * matching src/ops/optim.c (torch.optim semantics for the updates).
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#ifdef OP_ACCUMULATE
layout(std430, binding = 0) buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(push_constant) uniform PC {
    uint n;
    float alpha, beta;
} pc;

void main()
{
    for (uint i = GSTART; i < pc.n; i += GSTEP) {
        float v = pc.alpha == 0.0 ? 0.0 : pc.alpha * y[i];
        y[i] = pc.beta == 0.0 ? v : v + pc.beta * x[i];
    }
}
#elif defined(OP_RMSPROP_UPDATE) || defined(OP_ADAGRAD_UPDATE)
layout(std430, binding = 0) buffer W { float w[]; };
layout(std430, binding = 1) readonly buffer G { float gr[]; };
layout(std430, binding = 2) buffer S { float st[]; };
layout(push_constant) uniform PC {
    uint n;
    float lr, alpha, eps, weight_decay; /* alpha: RMSprop only */
} pc;

void main()
{
    for (uint i = GSTART; i < pc.n; i += GSTEP) {
        float wi = w[i];
        float g = gr[i] + pc.weight_decay * wi;
#ifdef OP_RMSPROP_UPDATE
        float si = pc.alpha * st[i] + (1.0 - pc.alpha) * g * g;
#else
        float si = st[i] + g * g;
#endif
        st[i] = si;
        w[i] = wi - pc.lr * (g / (sqrt(si) + pc.eps));
    }
}
#else
/* The gradient is written too: zeroed once read when clear_grad is set. */
layout(std430, binding = 0) buffer W { float w[]; };
layout(std430, binding = 1) buffer G { float gr[]; };
#ifdef OP_SGD_UPDATE
layout(std430, binding = 2) buffer V { float vel[]; };
layout(push_constant) uniform PC {
    uint n;
    float lr, momentum, dampening, weight_decay;
    int nesterov, step, clear_grad;
} pc;
#else
layout(std430, binding = 2) buffer M { float m[]; };
layout(std430, binding = 3) buffer V { float v[]; };
layout(push_constant) uniform PC {
    uint n;
    float lr, beta1, beta2, eps, weight_decay;
    int decoupled;
    float bc1, bc2;
    int clear_grad;
} pc;
#endif

void main()
{
    for (uint i = GSTART; i < pc.n; i += GSTEP) {
#ifdef OP_SGD_UPDATE
        float g = gr[i] + pc.weight_decay * w[i];
        if (pc.clear_grad != 0) {
            gr[i] = 0.0;
        }
        if (pc.momentum != 0.0) {
            float b = pc.step <= 1 ? g : pc.momentum * vel[i] + (1.0 - pc.dampening) * g;
            vel[i] = b;
            g = pc.nesterov != 0 ? g + pc.momentum * b : b;
        }
        w[i] = w[i] - pc.lr * g;
#else
        float g = gr[i];
        float wi = w[i];
        if (pc.clear_grad != 0) {
            gr[i] = 0.0;
        }
        if (pc.decoupled != 0) {
            wi *= 1.0 - pc.lr * pc.weight_decay;
        } else {
            g += pc.weight_decay * wi;
        }
        float mi = pc.beta1 * m[i] + (1.0 - pc.beta1) * g;
        float vi = pc.beta2 * v[i] + (1.0 - pc.beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrt(vi / pc.bc2) + pc.eps;
        w[i] = wi - pc.lr * (mi / pc.bc1) / denom;
#endif
    }
}
#endif
