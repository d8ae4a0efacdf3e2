/* Horizontal sums of 16 float lanes for the AVX-512 kernels (kernels_avx512.c, attention.c):
 * one tree, written out (compilers' reduce intrinsics need not pair lanes alike): lanes j and
 * j + 8, then j and j + 4, j and j + 2, j and j + 1. Short rows (a draft model's 128 values, a
 * head's 64) spend as long summing as multiplying, so four sums can be taken at once, lanes of
 * the four interleaved, with exactly the same pairs: a sum does not depend on what shares it. */
#ifndef PA_BACKEND_CPU_VSUM_H
#define PA_BACKEND_CPU_VSUM_H

#include "kernels.h"

#ifdef PA_HAVE_X86_KERNELS
#include <immintrin.h>

#define PA_VSUM_AVX512 __attribute__((target("avx512f,avx2,fma,f16c"), always_inline))

PA_VSUM_AVX512 static inline float hsum16(__m512 v) {
    const __m256 t3 = _mm256_add_ps(_mm512_castps512_ps256(v),
                                    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    const __m128 t6 = _mm_add_ps(_mm256_castps256_ps128(t3), _mm256_extractf128_ps(t3, 1));
    const __m128 t8 = _mm_add_ps(t6, _mm_shuffle_ps(t6, t6, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(_mm_add_ss(t8, _mm_shuffle_ps(t8, t8, _MM_SHUFFLE(2, 3, 0, 1))));
}

/* The first two steps of hsum16 for four vectors at once: 128-bit part j of the result holds
 * v[j]'s four sums of lanes i + (i + 8) + (i + 4) + (i + 12), i < 4. */
PA_VSUM_AVX512 static inline __m512 hsum16_parts4(const __m512 v[4]) {
    /* lanes j + (j + 8): [v0 | v1] and [v2 | v3], 8 sums each */
    const __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(v[0], v[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm512_shuffle_f32x4(v[0], v[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(v[2], v[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm512_shuffle_f32x4(v[2], v[3], _MM_SHUFFLE(3, 2, 3, 2)));
    /* j + (j + 4): one 128-bit part per vector, in order */
    return _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(s01, s23, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* out[j] = hsum16(v[j]) for j < 4, bit for bit */
PA_VSUM_AVX512 static inline void hsum16x4(const __m512 v[4], float out[4]) {
    const __m512 s = hsum16_parts4(v);
    /* j + (j + 2), then j + (j + 1), within each part */
    const __m512 t = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(1, 0, 3, 2)));
    const __m512 u = _mm512_add_ps(t, _mm512_permute_ps(t, _MM_SHUFFLE(2, 3, 0, 1)));
    _mm_storeu_ps(out, _mm512_castps512_ps128(_mm512_permutexvar_ps(
                           _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), u)));
}

/* lane p = hsum16(v[p]) for p < 16, bit for bit: hsum16_parts4 per four vectors,
 * then the last two with the four-sum groups of two vectors side by side, so that every add
 * serves 16 lanes (a position's score at a time spent as long summing as multiplying). */
PA_VSUM_AVX512 static inline __m512 hsum16x16(const __m512 v[16]) {
    __m512 s[4]; /* s[k]: 128-bit part i holds v[4k + i]'s four sums (hsum16_parts4) */
    for (int k = 0; k < 4; k++) s[k] = hsum16_parts4(v + 4 * k);
    /* j + (j + 2) of two vectors' parts at once: part i of t01 = [v[i]'s two | v[4 + i]'s two] */
    const __m512 t01 = _mm512_add_ps(_mm512_shuffle_ps(s[0], s[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm512_shuffle_ps(s[0], s[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 t23 = _mm512_add_ps(_mm512_shuffle_ps(s[2], s[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                     _mm512_shuffle_ps(s[2], s[3], _MM_SHUFFLE(3, 2, 3, 2)));
    /* j + (j + 1): part i = [v[i], v[4 + i], v[8 + i], v[12 + i]] */
    const __m512 u = _mm512_add_ps(_mm512_shuffle_ps(t01, t23, _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_ps(t01, t23, _MM_SHUFFLE(3, 1, 3, 1)));
    /* lane p of the result is part p % 4, lane p / 4 */
    return _mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), u);
}

#define PA_VSUM_AVX2 __attribute__((target("avx2,fma"), always_inline))

/* The sum of 8 float lanes (kernels_avx2.c, kernels_avx512.c, ops.c): lanes j and j + 4, then
 * j and j + 2, j and j + 1 */
PA_VSUM_AVX2 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* lane p = the sum of d[p]'s 8 lanes, as one tree per vector (pairs, then pairs of pairs, then
 * the halves), so a lane's sum does not depend on what shares the call (attention.c,
 * attention_rows.c) */
PA_VSUM_AVX2 static inline __m256 hsum8x8(const __m256 d[8]) {
    const __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(d[0], d[1]), _mm256_hadd_ps(d[2], d[3]));
    const __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(d[4], d[5]), _mm256_hadd_ps(d[6], d[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                         _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* The largest of 8 float lanes, in the same pairs (max_ps: where a lane is NaN, the second
 * operand) */
PA_VSUM_AVX2 static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

#endif

#endif
