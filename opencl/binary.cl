/*
 * binary.cl - add, sub, mul, div and relu(a + b) (add_relu, the planner's fusion of an
 * add and a relu) of two f32 tensors with numpy broadcasting over up to 4 dims (the CPU
 * reference is src/ops/binary.c). Every buffer comes with an element offset; d holds
 * the 4 padded output dims and sa/sb the element strides of each source (0 along
 * broadcast dims). The _c variants are for sources of the output's shape, the _nd ones
 * for shapes that need 8 dims after merging. OpenCL C 1.2; work-items past n return.
 */
#pragma OPENCL FP_CONTRACT OFF

#define BINARY(name, F)                                                                            \
    kernel void name(global const float *a, ulong oa, global const float *b, ulong ob,             \
                     global float *y, ulong oy, ulong n, long4 d, long4 sa, long4 sb)              \
    {                                                                                              \
        ulong i = get_global_id(0);                                                                \
        if (i >= n) {                                                                              \
            return;                                                                                \
        }                                                                                          \
        long r = (long)i;                                                                          \
        long i3 = r % d.w;                                                                         \
        r /= d.w;                                                                                  \
        long i2 = r % d.z;                                                                         \
        r /= d.z;                                                                                  \
        long i1 = r % d.y;                                                                         \
        long i0 = r / d.y;                                                                         \
        float u = a[oa + i0 * sa.x + i1 * sa.y + i2 * sa.z + i3 * sa.w];                           \
        float v = b[ob + i0 * sb.x + i1 * sb.y + i2 * sb.z + i3 * sb.w];                           \
        y[oy + i] = F(u, v);                                                                       \
    }                                                                                              \
    kernel void name##_c(global const float *a, ulong oa, global const float *b, ulong ob,         \
                         global float *y, ulong oy, ulong n)                                       \
    {                                                                                              \
        ulong i = get_global_id(0);                                                                \
        if (i < n) {                                                                               \
            y[oy + i] = F(a[oa + i], b[ob + i]);                                                   \
        }                                                                                          \
    }                                                                                              \
    kernel void name##_nd(global const float *a, ulong oa, global const float *b, ulong ob,        \
                          global float *y, ulong oy, ulong n, long8 d, long8 sa, long8 sb)         \
    {                                                                                              \
        ulong i = get_global_id(0);                                                                \
        if (i < n) {                                                                               \
            y[oy + i] = F(a[oa + offset8((long)i, d, sa)], b[ob + offset8((long)i, d, sb)]);       \
        }                                                                                          \
    }

#define F_ADD(u, v) ((u) + (v))
#define F_SUB(u, v) ((u) - (v))
#define F_MUL(u, v) ((u) * (v))
#define F_DIV(u, v) ((u) / (v))

/* relu of the rounded sum, as the reference's add then relu */
static float add_relu_f(float u, float v)
{
    float s = u + v;
    return s > 0.0f ? s : 0.0f;
}

BINARY(add, F_ADD)
BINARY(sub, F_SUB)
BINARY(mul, F_MUL)
BINARY(div_, F_DIV)
BINARY(add_relu, add_relu_f)
