/*
 * AVX2 + FMA + F16C dot products of a weight row with an f32 activation row. Compiled for those
 * extensions with target attributes and chosen at run time (ops.c), so the library still runs
 * on any x86-64. Four independent 8-wide accumulators hide the FMA latency.
 */
#include "dot.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static __m256 load_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

AVX2 static __m256 load_bf16(const uint16_t *p) {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

/* The three float-weight kernels differ only in how 8 weights are loaded. */
#define DOT_BODY(LOAD, TAIL)                                                                  \
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                              \
    int i = 0;                                                                               \
    for (; i + 32 <= n; i += 32) {                                                           \
        a0 = _mm256_fmadd_ps(LOAD(w + i), _mm256_loadu_ps(x + i), a0);                       \
        a1 = _mm256_fmadd_ps(LOAD(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);               \
        a2 = _mm256_fmadd_ps(LOAD(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);             \
        a3 = _mm256_fmadd_ps(LOAD(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);             \
    }                                                                                        \
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(LOAD(w + i), _mm256_loadu_ps(x + i), a0); \
    float sum = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));           \
    for (; i < n; i++) sum += TAIL(w[i]) * x[i];                                             \
    return sum;

static inline float same(float v) { return v; }

AVX2 float pa_dot_f32_avx2(const float *w, const float *x, int n) { DOT_BODY(_mm256_loadu_ps, same) }
AVX2 float pa_dot_f16_avx2(const uint16_t *w, const float *x, int n) { DOT_BODY(load_f16, pa_f16_to_f32) }
AVX2 float pa_dot_bf16_avx2(const uint16_t *w, const float *x, int n) { DOT_BODY(load_bf16, pa_bf16_to_f32) }

/* Q8_0: per block of 32, d * Σ q·x with the int8 weights widened to f32 in four groups of 8. */
AVX2 float pa_dot_q8_0_avx2(const uint8_t *w, const float *x, int n) {
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / 32; b++, w += 34, x += 32) {
        uint16_t d_bits;
        memcpy(&d_bits, w, 2);
        const __m128i q_lo = _mm_loadu_si128((const __m128i *)(w + 2));
        const __m128i q_hi = _mm_loadu_si128((const __m128i *)(w + 18));
        __m256 block = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q_lo)),
                                     _mm256_loadu_ps(x));
        block = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q_lo, 8))),
                                _mm256_loadu_ps(x + 8), block);
        block = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q_hi)),
                                _mm256_loadu_ps(x + 16), block);
        block = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q_hi, 8))),
                                _mm256_loadu_ps(x + 24), block);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(pa_f16_to_f32(d_bits)), block, acc);
    }
    return hsum(acc);
}

/* f16 row -> f32 (dequantizing tiles for sgemm) */
AVX2 void pa_f16_row_to_f32_avx2(const uint16_t *w, float *out, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load_f16(w + i));
    for (; i < n; i++) out[i] = pa_f16_to_f32(w[i]);
}

/* CPUID: AVX2 (leaf 7 EBX bit 5), FMA and F16C (leaf 1 ECX bits 12, 29), and the OS saving
 * YMM registers (OSXSAVE, then XCR0 bits 1-2). Written out because not every compiler's
 * __builtin_cpu_supports knows "f16c". */
bool pa_cpu_has_avx2(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const bool fma = c & (1u << 12), osxsave = c & (1u << 27), f16c = c & (1u << 29);
    if (!fma || !osxsave || !f16c) return false;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 6) != 6) return false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return b & (1u << 5);
}

#endif
