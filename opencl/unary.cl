/*
 * unary.cl - elementwise ops of one f32 tensor and the _BWD kernels of their backward
 * rules, in the overflow-safe forms of the CPU reference (src/ops/unary.c): sigmoid
 * through e^-|x|, and tanh exactly +-1 for |x| >= 10 (where the correctly rounded
 * tanhf is +-1 already), so no driver's tanh sees an argument that overflows and a
 * tanh one ULP short of 1 cannot leave 1 + tanh(x) nonzero in gelu. p0 and p1 are op
 * parameters (scale and shift, or the leaky-relu slope). OpenCL C 1.2; work-items past
 * n return.
 */
#pragma OPENCL FP_CONTRACT OFF

#define GELU_K 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_C 0.044715f

static float safe_tanh(float x)
{
    return fabs(x) >= 10.0f ? copysign(1.0f, x) : tanh(x);
}

static float sigmoid_f(float x)
{
    float e = exp(-fabs(x));
    return x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

static float gelu_f(float x)
{
    return 0.5f * x * (1.0f + safe_tanh(GELU_K * (x + GELU_C * x * x * x)));
}

static float gelu_grad(float x)
{
    float t = safe_tanh(GELU_K * (x + GELU_C * x * x * x));
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
}

#define UNARY(name, expr)                                                                          \
    kernel void name(global const float *x, ulong ox, global float *y, ulong oy, ulong n,          \
                     float p0, float p1)                                                           \
    {                                                                                              \
        ulong i = get_global_id(0);                                                                \
        if (i < n) {                                                                               \
            float v = x[ox + i];                                                                   \
            y[oy + i] = (expr);                                                                    \
        }                                                                                          \
    }

#define UNARY_BWD(name, expr)                                                                      \
    kernel void name(global const float *x, ulong ox, global const float *dy, ulong od,            \
                     global float *y, ulong oy, ulong n, float p0)                                 \
    {                                                                                              \
        ulong i = get_global_id(0);                                                                \
        if (i < n) {                                                                               \
            float v = x[ox + i], g = dy[od + i];                                                   \
            y[oy + i] = (expr);                                                                    \
        }                                                                                          \
    }

UNARY(scale_shift, p0 *v + p1)
UNARY(relu, v > 0.0f ? v : 0.0f)
UNARY(leaky_relu, v > 0.0f ? v : p0 * v)
UNARY(sigmoid, sigmoid_f(v))
UNARY(tanh_, safe_tanh(v))
UNARY(gelu, gelu_f(v))
UNARY(exp_, exp(v))
UNARY(log_, log(v))
UNARY(sqrt_, sqrt(v))

UNARY_BWD(relu_bwd, v > 0.0f ? g : 0.0f)
UNARY_BWD(leaky_relu_bwd, v > 0.0f ? g : p0 * g)
UNARY_BWD(sigmoid_bwd, g *v *(1.0f - v))
UNARY_BWD(tanh_bwd, g *(1.0f - v * v))
UNARY_BWD(gelu_bwd, g *gelu_grad(v))
