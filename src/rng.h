/*
 * rng.h - Philox4x32-10, a counter-based generator (Salmon et al., SC'11).
 *
 * Each random number is a pure function of (seed, stream, element index), so any
 * backend can produce the same values bit for bit in any order: initializers use it on
 * the host, dropout masks on the device. The OpenCL and GLSL copies must match
 * kiln__philox exactly.
 */
#ifndef KILN_RNG_H
#define KILN_RNG_H

#include <stdint.h>

/* The four 32-bit outputs for counter (index, stream) under key seed. */
void kiln__philox(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]);

/* A float in [0, 1) from 24 high bits of x. */
static inline float kiln__u01(uint32_t x)
{
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}

/* Uniform in [0, 1) for element index. */
float kiln__rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);

/* Standard normal for element index (Box-Muller on the first two words). */
float kiln__rng_normal(uint64_t seed, uint64_t stream, uint64_t index);

#endif /* KILN_RNG_H */
