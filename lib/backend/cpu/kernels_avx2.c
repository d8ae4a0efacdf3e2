/*
 * AVX2 + FMA + F16C row kernels. Compiled with target attributes and chosen at run time
 * (ops.c), so the library still runs on any x86-64.
 *
 * As in kernels_avx512.c, every kernel is written once for R rows (R = 1 or 4 after inlining)
 * that share the loads of x and keep their own accumulators in the same order, so dot4 and
 * dot1 agree bit for bit. Float rows end in a scalar loop for the last n % 8 values.
 */
#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

#include "../../core/f16.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE AVX2 static inline __attribute__((always_inline))

INLINE void prefetch(const uint8_t *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }

INLINE float f16_scale(const uint8_t *p) {
    uint16_t bits;
    memcpy(&bits, p, 2);
    return _cvtsh_ss(bits);
}

INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---------------------------------------------------------------------------------------- */
/* Float rows: 8 weights at a time as f32, two accumulators per row                          */

INLINE __m256 load_f32(const uint8_t *p) { return _mm256_loadu_ps((const float *)p); }
INLINE __m256 load_f16(const uint8_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
INLINE __m256 load_bf16(const uint8_t *p) {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
INLINE float scalar_f32(const uint8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}
INLINE float scalar_f16(const uint8_t *p) { return f16_scale(p); }
INLINE float scalar_bf16(const uint8_t *p) {
    uint16_t bits;
    memcpy(&bits, p, 2);
    return pa_bf16_to_f32(bits);
}

#define FLOAT_DOT(NAME, LOAD, SCALAR, ELEM)                                                   \
    INLINE void NAME(const uint8_t *const *rows, int R, const float *x, int n, float *out) {  \
        __m256 a[4], b[4];                                                                   \
        for (int j = 0; j < R; j++) a[j] = b[j] = _mm256_setzero_ps();                       \
        int i = 0;                                                                           \
        for (; i + 32 <= n; i += 32) {                                                       \
            for (int j = 0; j < R; j++)                                                      \
                for (int line = 0; line < 32 * (ELEM) / 64; line++)                          \
                    prefetch(rows[j] + (size_t)i * (ELEM) + 64 * line + PA_PREFETCH_BYTES);  \
            const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);       \
            const __m256 x2 = _mm256_loadu_ps(x + i + 16), x3 = _mm256_loadu_ps(x + i + 24); \
            for (int j = 0; j < R; j++) {                                                    \
                const uint8_t *w = rows[j] + (size_t)i * (ELEM);                             \
                a[j] = _mm256_fmadd_ps(LOAD(w), x0, a[j]);                                   \
                b[j] = _mm256_fmadd_ps(LOAD(w + 8 * (ELEM)), x1, b[j]);                      \
                a[j] = _mm256_fmadd_ps(LOAD(w + 16 * (ELEM)), x2, a[j]);                     \
                b[j] = _mm256_fmadd_ps(LOAD(w + 24 * (ELEM)), x3, b[j]);                     \
            }                                                                                \
        }                                                                                    \
        for (; i + 8 <= n; i += 8) {                                                         \
            const __m256 xv = _mm256_loadu_ps(x + i);                                        \
            for (int j = 0; j < R; j++)                                                      \
                a[j] = _mm256_fmadd_ps(LOAD(rows[j] + (size_t)i * (ELEM)), xv, a[j]);        \
        }                                                                                    \
        for (int j = 0; j < R; j++) {                                                        \
            float sum = hsum(_mm256_add_ps(a[j], b[j]));                                     \
            for (int k = i; k < n; k++) sum += SCALAR(rows[j] + (size_t)k * (ELEM)) * x[k];  \
            out[j] = sum;                                                                    \
        }                                                                                    \
    }

FLOAT_DOT(dot_f32, load_f32, scalar_f32, 4)
FLOAT_DOT(dot_f16, load_f16, scalar_f16, 2)
FLOAT_DOT(dot_bf16, load_bf16, scalar_bf16, 2)

/* ---------------------------------------------------------------------------------------- */
/* Quantized rows: per block, p = Σ q·x in 8 lanes, then acc += d · p                        */

/* 8 signed bytes at p -> 8 floats */
INLINE __m256 widen_i8(const uint8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}
INLINE __m256 widen_i8_reg(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

INLINE void dot_q8_0(const uint8_t *const *rows, int R, const float *x, int n, float *out) {
    __m256 acc[4];
    for (int j = 0; j < R; j++) acc[j] = _mm256_setzero_ps();
    for (int blk = 0; blk < n / PA_Q8_0_BLOCK; blk++) {
        const size_t off = (size_t)blk * PA_Q8_0_BYTES;
        if (blk % 2 == 0)
            for (int j = 0; j < R; j++) prefetch(rows[j] + off + PA_PREFETCH_BYTES);
        const float *xb = x + blk * 32;
        const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
        const __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
        for (int j = 0; j < R; j++) {
            const uint8_t *q = rows[j] + off + 2;
            __m256 p = _mm256_mul_ps(widen_i8(q), x0);
            p = _mm256_fmadd_ps(widen_i8(q + 8), x1, p);
            p = _mm256_fmadd_ps(widen_i8(q + 16), x2, p);
            p = _mm256_fmadd_ps(widen_i8(q + 24), x3, p);
            acc[j] = _mm256_fmadd_ps(p, _mm256_set1_ps(f16_scale(rows[j] + off)), acc[j]);
        }
    }
    for (int j = 0; j < R; j++) out[j] = hsum(acc[j]);
}

/* The 16 bytes of a q4_0 block as two vectors of signed values: lo (elements 0..15) and hi
 * (16..31), each nibble minus 8. */
INLINE void unpack_q4_0(const uint8_t *qs, __m128i *lo, __m128i *hi) {
    const __m128i low4 = _mm_set1_epi8(0xf), eight = _mm_set1_epi8(8);
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    *lo = _mm_sub_epi8(_mm_and_si128(q, low4), eight);
    *hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), low4), eight);
}

INLINE void dot_q4_0(const uint8_t *const *rows, int R, const float *x, int n, float *out) {
    __m256 acc[4];
    for (int j = 0; j < R; j++) acc[j] = _mm256_setzero_ps();
    for (int blk = 0; blk < n / PA_Q4_0_BLOCK; blk++) {
        const size_t off = (size_t)blk * PA_Q4_0_BYTES;
        if (blk % 4 == 0)
            for (int j = 0; j < R; j++) prefetch(rows[j] + off + PA_PREFETCH_BYTES);
        const float *xb = x + blk * 32;
        const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
        const __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
        for (int j = 0; j < R; j++) {
            __m128i lo, hi;
            unpack_q4_0(rows[j] + off + 2, &lo, &hi);
            __m256 p = _mm256_mul_ps(widen_i8_reg(lo), x0);
            p = _mm256_fmadd_ps(widen_i8_reg(_mm_srli_si128(lo, 8)), x1, p);
            p = _mm256_fmadd_ps(widen_i8_reg(hi), x2, p);
            p = _mm256_fmadd_ps(widen_i8_reg(_mm_srli_si128(hi, 8)), x3, p);
            acc[j] = _mm256_fmadd_ps(p, _mm256_set1_ps(f16_scale(rows[j] + off)), acc[j]);
        }
    }
    for (int j = 0; j < R; j++) out[j] = hsum(acc[j]);
}

/* Σ over 32 values of one q4_K sub-block: nibbles (as bytes in q) times x */
INLINE __m256 q4_k_sub_dot(__m128i q_a, __m128i q_b, const float *xs) {
    __m256 p = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q_a)), _mm256_loadu_ps(xs));
    p = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(q_a, 8))),
                        _mm256_loadu_ps(xs + 8), p);
    p = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q_b)), _mm256_loadu_ps(xs + 16), p);
    p = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(q_b, 8))),
                        _mm256_loadu_ps(xs + 24), p);
    return p;
}

INLINE __m256 sum32(const float *xs) {
    return _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(xs), _mm256_loadu_ps(xs + 8)),
                         _mm256_add_ps(_mm256_loadu_ps(xs + 16), _mm256_loadu_ps(xs + 24)));
}

INLINE void dot_q4_k(const uint8_t *const *rows, int R, const float *x, int n, float *out) {
    const __m128i low4 = _mm_set1_epi8(0xf);
    __m256 acc[4];
    for (int j = 0; j < R; j++) acc[j] = _mm256_setzero_ps();
    for (int blk = 0; blk < n / PA_Q4_K_BLOCK; blk++, x += PA_Q4_K_BLOCK) {
        const size_t off = (size_t)blk * PA_Q4_K_BYTES;
        float scale[4][8], min[4][8];
        for (int j = 0; j < R; j++) {
            const uint8_t *b = rows[j] + off;
            prefetch(b + PA_PREFETCH_BYTES);
            prefetch(b + 64 + PA_PREFETCH_BYTES);
            const float d = f16_scale(b), dmin = f16_scale(b + 2);
            for (int s = 0; s < 8; s++) {
                int sc, m;
                pa_q4_k_scale_min(b + 4, s, &sc, &m);
                scale[j][s] = d * (float)sc;
                min[j][s] = dmin * (float)m;
            }
        }
        for (int c = 0; c < 4; c++) {
            const float *xc = x + 64 * c;
            const __m256 xsum_lo = sum32(xc), xsum_hi = sum32(xc + 32);
            for (int j = 0; j < R; j++) {
                const uint8_t *q = rows[j] + off + 16 + 32 * c;
                const __m128i qa = _mm_loadu_si128((const __m128i *)q);
                const __m128i qb = _mm_loadu_si128((const __m128i *)(q + 16));
                const __m256 lo = q4_k_sub_dot(_mm_and_si128(qa, low4), _mm_and_si128(qb, low4), xc);
                const __m256 hi = q4_k_sub_dot(_mm_and_si128(_mm_srli_epi16(qa, 4), low4),
                                               _mm_and_si128(_mm_srli_epi16(qb, 4), low4), xc + 32);
                acc[j] = _mm256_fmadd_ps(lo, _mm256_set1_ps(scale[j][2 * c]), acc[j]);
                acc[j] = _mm256_fnmadd_ps(xsum_lo, _mm256_set1_ps(min[j][2 * c]), acc[j]);
                acc[j] = _mm256_fmadd_ps(hi, _mm256_set1_ps(scale[j][2 * c + 1]), acc[j]);
                acc[j] = _mm256_fnmadd_ps(xsum_hi, _mm256_set1_ps(min[j][2 * c + 1]), acc[j]);
            }
        }
    }
    for (int j = 0; j < R; j++) out[j] = hsum(acc[j]);
}

/* ---------------------------------------------------------------------------------------- */
/* Rows to f32                                                                               */

AVX2 static void to_f32_f32(const void *row, float *out, int n) {
    memcpy(out, row, (size_t)n * sizeof(float));
}

AVX2 static void to_f32_f16(const void *row, float *out, int n) {
    const uint8_t *w = row;
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load_f16(w + 2 * (size_t)i));
    for (; i < n; i++) out[i] = scalar_f16(w + 2 * (size_t)i);
}

AVX2 static void to_f32_bf16(const void *row, float *out, int n) {
    const uint8_t *w = row;
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load_bf16(w + 2 * (size_t)i));
    for (; i < n; i++) out[i] = scalar_bf16(w + 2 * (size_t)i);
}

AVX2 static void to_f32_q8_0(const void *row, float *out, int n) {
    const uint8_t *b = row;
    for (int i = 0; i < n; i += PA_Q8_0_BLOCK, b += PA_Q8_0_BYTES) {
        const __m256 d = _mm256_set1_ps(f16_scale(b));
        for (int k = 0; k < 32; k += 8) _mm256_storeu_ps(out + i + k, _mm256_mul_ps(d, widen_i8(b + 2 + k)));
    }
}

AVX2 static void to_f32_q4_0(const void *row, float *out, int n) {
    const uint8_t *b = row;
    for (int i = 0; i < n; i += PA_Q4_0_BLOCK, b += PA_Q4_0_BYTES) {
        const __m256 d = _mm256_set1_ps(f16_scale(b));
        __m128i lo, hi;
        unpack_q4_0(b + 2, &lo, &hi);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(d, widen_i8_reg(lo)));
        _mm256_storeu_ps(out + i + 8, _mm256_mul_ps(d, widen_i8_reg(_mm_srli_si128(lo, 8))));
        _mm256_storeu_ps(out + i + 16, _mm256_mul_ps(d, widen_i8_reg(hi)));
        _mm256_storeu_ps(out + i + 24, _mm256_mul_ps(d, widen_i8_reg(_mm_srli_si128(hi, 8))));
    }
}

/* Multiply, then subtract (not fused), as the portable and ggml's dequantization do. */
AVX2 static void to_f32_q4_k(const void *row, float *out, int n) {
    const __m128i low4 = _mm_set1_epi8(0xf);
    const uint8_t *b = row;
    for (int i = 0; i < n; i += PA_Q4_K_BLOCK, b += PA_Q4_K_BYTES) {
        const float d = f16_scale(b), dmin = f16_scale(b + 2);
        for (int s = 0; s < 8; s++) {
            int sc, m;
            pa_q4_k_scale_min(b + 4, s, &sc, &m);
            const __m256 scale = _mm256_set1_ps(d * (float)sc), min = _mm256_set1_ps(dmin * (float)m);
            const uint8_t *q = b + 16 + 32 * (s / 2);
            for (int k = 0; k < 32; k += 8) {
                __m128i v = _mm_loadl_epi64((const __m128i *)(q + k));
                if (s & 1) v = _mm_srli_epi16(v, 4);
                v = _mm_and_si128(v, low4);
                const __m256 prod = _mm256_mul_ps(scale, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)));
                _mm256_storeu_ps(out + i + 32 * s + k, _mm256_sub_ps(prod, min));
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------- */

#define ENTRY_POINTS(type)                                                                    \
    AVX2 static void dot4_##type(const void *const rows[4], const float *x, int n,            \
                                 float out[4]) {                                              \
        dot_##type((const uint8_t *const *)rows, 4, x, n, out);                               \
    }                                                                                         \
    AVX2 static float dot1_##type(const void *row, const float *x, int n) {                   \
        const uint8_t *rows[1] = {row};                                                       \
        float out;                                                                            \
        dot_##type(rows, 1, x, n, &out);                                                      \
        return out;                                                                           \
    }
ENTRY_POINTS(f32)
ENTRY_POINTS(f16)
ENTRY_POINTS(bf16)
ENTRY_POINTS(q8_0)
ENTRY_POINTS(q4_0)
ENTRY_POINTS(q4_k)

static const pa_kernel_set avx2 = {
    "AVX2+FMA+F16C",
    {
        [PA_W_F32] = {dot4_f32, dot1_f32, to_f32_f32},
        [PA_W_F16] = {dot4_f16, dot1_f16, to_f32_f16},
        [PA_W_BF16] = {dot4_bf16, dot1_bf16, to_f32_bf16},
        [PA_W_Q8_0] = {dot4_q8_0, dot1_q8_0, to_f32_q8_0},
        [PA_W_Q4_0] = {dot4_q4_0, dot1_q4_0, to_f32_q4_0},
        [PA_W_Q4_K] = {dot4_q4_k, dot1_q4_k, to_f32_q4_k},
    },
};

const pa_kernel_set *pa_kernels_avx2(void) { return pa_cpu_has_avx2() ? &avx2 : NULL; }

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
