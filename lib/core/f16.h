/* Half-precision conversions (IEEE binary16 and bfloat16), exact and branch-light. */
#ifndef PA_CORE_F16_H
#define PA_CORE_F16_H

#include <stdint.h>
#include <string.h>

static inline float pa_f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t pa_bits_from_f32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* binary16 -> binary32, exact for every input (normals, subnormals, inf, NaN). */
static inline float pa_f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    const uint32_t man = h & 0x3ff;
    if (exp == 0x1f) return pa_f32_from_bits(sign | 0x7f800000u | (man << 13));
    if (exp != 0) return pa_f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
    /* subnormal or zero: man * 2^-24 */
    float f = (float)man * 5.9604644775390625e-8f;
    return sign ? -f : f;
}

/* binary32 -> binary16, round to nearest even; overflow gives inf, NaN stays NaN. */
static inline uint16_t pa_f32_to_f16(float f) {
    const uint32_t x = pa_bits_from_f32(f);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return sign | 0x7e00; /* NaN */
    if (ax >= 0x477ff000u) return sign | 0x7c00; /* rounds to >= 65520: inf */
    if (ax < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        /* adding 0.5 (2^-1) puts the half-subnormal bits at the bottom of the mantissa, with
         * the FPU doing round-to-nearest-even */
        float r = pa_f32_from_bits(ax) + 0.5f;
        return sign | (uint16_t)(pa_bits_from_f32(r) - 0x3f000000u);
    }
    uint32_t mant_odd = (ax >> 13) & 1;
    uint32_t rounded = ax + 0xc8000fffu + mant_odd; /* rebias exponent (-112<<23) and round */
    return sign | (uint16_t)(rounded >> 13);
}

/* bfloat16 is the top half of a binary32. */
static inline float pa_bf16_to_f32(uint16_t h) { return pa_f32_from_bits((uint32_t)h << 16); }

static inline uint16_t pa_f32_to_bf16(float f) {
    uint32_t x = pa_bits_from_f32(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

#endif
