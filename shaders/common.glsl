/*
 * common.glsl - included first by every kiln compute shader: the workgroup size as
 * specialization constant 0, the grid-stride loop bounds, and (variants built with
 * -DKILN_IEEE) the SignedZeroInfNanPreserve execution mode that keeps inf and NaN
 * under fast-math compilers such as MoltenVK's. The host picks an IEEE variant only
 * when shaderSignedZeroInfNanPreserveFloat32 is true.
 */
#ifdef KILN_IEEE
#extension GL_EXT_spirv_intrinsics : enable
spirv_execution_mode(extensions = ["SPV_KHR_float_controls"], capabilities = [4466], 4461, 32);
#endif

layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

/* Grid-stride loops: every invocation starts at its global id and steps by the whole
 * dispatch, so any element count is covered and nothing past n is touched. */
#define GSTART gl_GlobalInvocationID.x
#define GSTEP (gl_NumWorkGroups.x * WG)

/* Overflow-safe tanh: exp of a non-positive argument never overflows, and a short
 * series keeps relative accuracy near zero where 1 - t cancels. */
float kiln_tanh(float x)
{
    float ax = abs(x);
    if (ax < 0.0625) {
        float x2 = x * x;
        return x * (1.0 - x2 * (1.0 / 3.0 - x2 * (2.0 / 15.0)));
    }
    float t = exp(-2.0 * ax);
    return sign(x) * ((1.0 - t) / (1.0 + t));
}

/* Overflow-safe sigmoid through e^-|x| (the CPU reference's form). */
float kiln_sigmoid(float x)
{
    float e = exp(-abs(x));
    return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}
