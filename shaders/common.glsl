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

/* e^y for y <= 0 within about an ULP, independent of the driver's exp (whose error may
 * grow to tens of ULP): y = n ln2 + r with a two-part ln2, a Taylor polynomial for
 * e^r on |r| <= ln2 / 2, and ldexp. Underflows to 0; NaN stays NaN. */
float kiln_exp_neg(float y)
{
    if (!(y > -104.0)) {
        return isnan(y) ? y : 0.0;
    }
    float n = round(y * 1.4426950408889634);
    float r = (y - n * 0.693145751953125) - n * 1.428606820309417e-6;
    float p = 1.0 + r * (1.0 / 7.0);
    p = 1.0 + r * (1.0 / 6.0) * p;
    p = 1.0 + r * 0.2 * p;
    p = 1.0 + r * 0.25 * p;
    p = 1.0 + r * (1.0 / 3.0) * p;
    p = 1.0 + r * 0.5 * p;
    p = 1.0 + r * p;
    return ldexp(p, int(n));
}

/* Overflow-safe tanh: tanh|x| = -m / (2 + m) with m = e^(-2|x|) - 1. Near zero m comes
 * from its Taylor series (no cancellation); elsewhere from kiln_exp_neg, whose argument
 * is never positive, so nothing overflows. */
float kiln_tanh(float x)
{
    float ax = abs(x);
    float y = -2.0 * ax;
    float m;
    if (ax < 0.35) {
        m = 1.0 + y * 0.1;
        m = 1.0 + y * (1.0 / 9.0) * m;
        m = 1.0 + y * 0.125 * m;
        m = 1.0 + y * (1.0 / 7.0) * m;
        m = 1.0 + y * (1.0 / 6.0) * m;
        m = 1.0 + y * 0.2 * m;
        m = 1.0 + y * 0.25 * m;
        m = 1.0 + y * (1.0 / 3.0) * m;
        m = 1.0 + y * 0.5 * m;
        m = y * m;
    } else {
        m = kiln_exp_neg(y) - 1.0;
    }
    float r = -m / (2.0 + m);
    return x < 0.0 ? -r : r;
}

/* Overflow-safe sigmoid through e^-|x| (the CPU reference's form). */
float kiln_sigmoid(float x)
{
    float e = kiln_exp_neg(-abs(x));
    return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}
