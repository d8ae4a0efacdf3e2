/*
 * AVX-512 (F, BW, VL, VNNI) row kernels, with F16C/FMA. Compiled with target attributes and
 * chosen at run time (ops.c), so the library still runs on any x86-64. Float rows use 16-wide
 * ZMM registers; the quantized kernels use VNNI's vpdpbusd on 8-wide YMM registers, which run
 * on three ports where ZMM code has two, and one of them would be busy converting.
 *
 * Every kernel is written once for R rows (R = 1 or 4, a compile-time constant after
 * inlining): the R rows share each load of x, and each row keeps its own accumulators, added
 * in the same order for R = 1 and R = 4 so that dot4 and dot1 agree bit for bit. Tails of
 * float rows use masked loads, so any length works without a scalar loop.
 */
#include "kernels.h"
#include "../../core/f16.h"
#include "vsum.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <limits.h>
#include <pthread.h>
#include <immintrin.h>
#include <string.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define INLINE AVX512 static inline __attribute__((always_inline))

INLINE void prefetch(const uint8_t *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }

/* The f16 at p, as f32 in all 8 lanes, from pa_f16_table */
INLINE __m256 table_scale(const uint8_t *p) {
    uint16_t bits;
    memcpy(&bits, p, 2);
    return _mm256_broadcast_ss(&pa_f16_table[bits]);
}

INLINE float f16_scale(const uint8_t *p) {
    uint16_t bits;
    memcpy(&bits, p, 2);
    return _cvtsh_ss(bits);
}

/* out[j] = hsum16(v[j]) for the R (1 or 4) rows of a pass */
INLINE void hsum_rows(const __m512 *v, int R, float *out) {
    if (R == 4) hsum16x4(v, out);
    else
        for (int j = 0; j < R; j++) out[j] = hsum16(v[j]);
}

/* ---------------------------------------------------------------------------------------- */
/* Float rows: 16 weights at a time as f32 (ELEM bytes each), two accumulators per row       */

INLINE __m512 load_f32(const uint8_t *p) { return _mm512_loadu_ps(p); }
INLINE __m512 load_f16(const uint8_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
INLINE __m512 load_bf16(const uint8_t *p) {
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}
INLINE __m512 load_f32_masked(const uint8_t *p, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, p);
}
INLINE __m512 load_f16_masked(const uint8_t *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}
INLINE __m512 load_bf16_masked(const uint8_t *p, __mmask16 m) {
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

/* out[j] = rows[j] · x for j < R, weights loaded by LOAD (ELEM bytes per weight). */
#define FLOAT_DOT(NAME, LOAD, ELEM)                                                           \
    INLINE void NAME(const uint8_t *const *rows, int R, const float *x, int n, float *out) {  \
        __m512 a[4], b[4];                                                                   \
        PA_UNROLL_ROWS                                                                       \
        for (int j = 0; j < R; j++) a[j] = b[j] = _mm512_setzero_ps();                       \
        int i = 0;                                                                           \
        for (; i + 32 <= n; i += 32) {                                                       \
            PA_UNROLL_ROWS                                                                   \
            for (int j = 0; j < R; j++)                                                      \
                for (int line = 0; line < 32 * (ELEM) / 64; line++)                          \
                    prefetch(rows[j] + (size_t)i * (ELEM) + 64 * line + PA_PREFETCH_BYTES);  \
            const __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);      \
            PA_UNROLL_ROWS                                                                   \
            for (int j = 0; j < R; j++) {                                                    \
                a[j] = _mm512_fmadd_ps(LOAD(rows[j] + (size_t)i * (ELEM)), x0, a[j]);         \
                b[j] = _mm512_fmadd_ps(LOAD(rows[j] + (size_t)(i + 16) * (ELEM)), x1, b[j]);  \
            }                                                                                \
        }                                                                                    \
        for (; i < n; i += 16) {                                                             \
            const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff                              \
                                            : (__mmask16)((1u << (n - i)) - 1);              \
            const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);                               \
            PA_UNROLL_ROWS                                                                   \
            for (int j = 0; j < R; j++)                                                      \
                a[j] = _mm512_fmadd_ps(LOAD##_masked(rows[j] + (size_t)i * (ELEM), m), xv,   \
                                       a[j]);                                                \
        }                                                                                    \
        PA_UNROLL_ROWS                                                                        \
        for (int j = 0; j < R; j++) a[j] = _mm512_add_ps(a[j], b[j]);                         \
        hsum_rows(a, R, out);                                                                 \
    }

FLOAT_DOT(dot_f32, load_f32, 4)
FLOAT_DOT(dot_f16, load_f16, 2)
FLOAT_DOT(dot_bf16, load_bf16, 2)

/* out[t * 4 + j] = rows[j] · x[t] for 4 rows and T tokens (2 or 3): each weight vector is
 * loaded (and converted) once for all T tokens, which is what decode of many agents and
 * speculative verification are bound by once the rows sit in cache. Every (row, token) pair
 * keeps FLOAT_DOT's own accumulators and order, so the result is bitwise dot1's. T = 3 holds
 * 24 accumulators + 6 x + 2 weights: all 32 ZMM registers, and 3 tokens per conversion ran
 * 11-21 % faster than 2 (f16, 4 rows of 384-2048 values in cache, 5 and 16 tokens). */
#define FLOAT_DOT_NX(NAME, T, LOAD, ELEM)                                                       \
    INLINE void NAME(const uint8_t *const *rows, const float *const *x, int n, float *out) {    \
        __m512 a[4][T], b[4][T];                                                               \
        PA_UNROLL_ROWS                                                                         \
        for (int j = 0; j < 4; j++)                                                            \
            _Pragma("GCC unroll 3") for (int t = 0; t < (T); t++)                              \
                a[j][t] = b[j][t] = _mm512_setzero_ps();                                       \
        int i = 0;                                                                             \
        for (; i + 32 <= n; i += 32) {                                                         \
            __m512 x0[T], x1[T];                                                               \
            _Pragma("GCC unroll 3") for (int t = 0; t < (T); t++) {                            \
                x0[t] = _mm512_loadu_ps(x[t] + i);                                             \
                x1[t] = _mm512_loadu_ps(x[t] + i + 16);                                        \
            }                                                                                  \
            PA_UNROLL_ROWS                                                                     \
            for (int j = 0; j < 4; j++) {                                                      \
                for (int line = 0; line < 32 * (ELEM) / 64; line++)                            \
                    prefetch(rows[j] + (size_t)i * (ELEM) + 64 * line + PA_PREFETCH_BYTES);    \
                const __m512 w0 = LOAD(rows[j] + (size_t)i * (ELEM));                          \
                const __m512 w1 = LOAD(rows[j] + (size_t)(i + 16) * (ELEM));                   \
                _Pragma("GCC unroll 3") for (int t = 0; t < (T); t++) {                        \
                    a[j][t] = _mm512_fmadd_ps(w0, x0[t], a[j][t]);                             \
                    b[j][t] = _mm512_fmadd_ps(w1, x1[t], b[j][t]);                             \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
        for (; i < n; i += 16) {                                                               \
            const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff                                \
                                            : (__mmask16)((1u << (n - i)) - 1);                \
            _Pragma("GCC unroll 3") for (int t = 0; t < (T); t++) {                            \
                const __m512 xv = _mm512_maskz_loadu_ps(m, x[t] + i);                          \
                PA_UNROLL_ROWS                                                                 \
                for (int j = 0; j < 4; j++)                                                    \
                    a[j][t] = _mm512_fmadd_ps(LOAD##_masked(rows[j] + (size_t)i * (ELEM), m),  \
                                              xv, a[j][t]);                                    \
            }                                                                                  \
        }                                                                                      \
        _Pragma("GCC unroll 3") for (int t = 0; t < (T); t++) {                                \
            __m512 sum[4];                                                                     \
            PA_UNROLL_ROWS                                                                     \
            for (int j = 0; j < 4; j++) sum[j] = _mm512_add_ps(a[j][t], b[j][t]);              \
            hsum16x4(sum, out + t * 4);                                                        \
        }                                                                                      \
    }

FLOAT_DOT_NX(dot2x_f32, 2, load_f32, 4)
FLOAT_DOT_NX(dot2x_f16, 2, load_f16, 2)
FLOAT_DOT_NX(dot2x_bf16, 2, load_bf16, 2)
FLOAT_DOT_NX(dot3x_f32, 3, load_f32, 4)
FLOAT_DOT_NX(dot3x_f16, 3, load_f16, 2)
FLOAT_DOT_NX(dot3x_bf16, 3, load_bf16, 2)

/* ---------------------------------------------------------------------------------------- */
/* Quantized rows: per block, p = Σ q·x in 16 lanes, then acc += d · p                       */

INLINE __m512 widen_i8(const uint8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

/* vpdpbusd multiplies unsigned by signed bytes, so weights w in [-k, k) go in as w + k and the
 * sum over a lane's four q_x times k comes back out. Each lane starts at -k times its own
 * four q_x: the offset leaves every lane exactly (one lane holding the whole block's offset
 * would leave large float terms that cancel only in the final sum: ~1e-3 of a q8_0 result). */
INLINE __m256i lane_offsets(__m256i k, __m256i xq) {
    const __m256i zero = _mm256_setzero_si256();
    return _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, k, xq));
}

/* acc[j] += d_w·d_x · Σ q_w·q_x over blocks [blk, end) of rows[j], one at a time */
INLINE void q8_0_blocks(const uint8_t *const *rows, int R, const pa_xq8 *x, int blk, int end,
                        __m256 *acc) {
    const __m256i top_bit = _mm256_set1_epi8((char)0x80);
    for (; blk < end; blk++) {
        const size_t off = (size_t)blk * PA_Q8_0_BYTES;
        if (blk % 2 == 0)
            PA_UNROLL_ROWS
            for (int j = 0; j < R; j++) prefetch(rows[j] + off + PA_PREFETCH_BYTES);
        const __m256i xq = _mm256_loadu_si256((const __m256i *)(x->q + 32 * blk));
        const __m256i offset = lane_offsets(top_bit, xq);
        const __m256 dxv = _mm256_broadcast_ss(&x->d[blk]);
        PA_UNROLL_ROWS
        for (int j = 0; j < R; j++) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)(rows[j] + off + 2));
            const __m256i dot = _mm256_dpbusd_epi32(offset, _mm256_xor_si256(w, top_bit), xq);
            const __m256 s = _mm256_mul_ps(table_scale(rows[j] + off), dxv);
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), s, acc[j]);
        }
    }
}

/* q8_0 · x rounded to 8 bits: per block, d_w·d_x · Σ q_w·q_x, the weights in as q_w + 128 (a
 * flip of the top bit). */
INLINE void dot_q8_0(const uint8_t *const *rows, int R, const pa_xq8 *x, int n, float *out) {
    __m256 acc[4];
    PA_UNROLL_ROWS
    for (int j = 0; j < R; j++) acc[j] = _mm256_setzero_ps();
    q8_0_blocks(rows, R, x, 0, n / PA_Q8_0_BLOCK, acc);
    PA_UNROLL_ROWS
    for (int j = 0; j < R; j++) out[j] = hsum8(acc[j]);
}

/* acc[j][t] += d_j·dx_t · Σ (w_j - k)·q_x over one block of 32 weights of each of 4 rows, for
 * T tokens: the rows' weights come as unsigned bytes w[j] (the weight plus k) with scale d[j];
 * the tokens' block `blk`, with lane_offsets of k, as dot_q8_0 and dot_q4_0 take them alone. */
INLINE void block_nx(__m256 acc[4][3], int T, const __m256i w[4], const __m256 d[4], __m256i k,
                     const pa_xq8 *const *x, int blk) {
    __m256i xq[3], offset[3];
    __m256 dxv[3];
    _Pragma("GCC unroll 3") for (int t = 0; t < T; t++) {
        xq[t] = _mm256_loadu_si256((const __m256i *)(x[t]->q + 32 * blk));
        offset[t] = lane_offsets(k, xq[t]);
        dxv[t] = _mm256_broadcast_ss(&x[t]->d[blk]);
    }
    PA_UNROLL_ROWS
    for (int j = 0; j < 4; j++)
        _Pragma("GCC unroll 3") for (int t = 0; t < T; t++) {
            const __m256i dot = _mm256_dpbusd_epi32(offset[t], w[j], xq[t]);
            acc[j][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(d[j], dxv[t]),
                                        acc[j][t]);
        }
}

/* out[t * 4 + j] = rows[j] · x[t] for 4 rows and T tokens (2 or 3): dot_q8_0's arithmetic for
 * every (row, token), so each is bitwise dot1's, each row's block loaded once for T tokens. */
INLINE void dot_q8_0_nx(const uint8_t *const *rows, int T, const pa_xq8 *const *x, int n,
                        float *out) {
    const __m256i top_bit = _mm256_set1_epi8((char)0x80);
    __m256 acc[4][3];
    PA_UNROLL_ROWS
    for (int j = 0; j < 4; j++)
        _Pragma("GCC unroll 3") for (int t = 0; t < T; t++) acc[j][t] = _mm256_setzero_ps();
    for (int blk = 0; blk < n / PA_Q8_0_BLOCK; blk++) {
        const size_t off = (size_t)blk * PA_Q8_0_BYTES;
        if (blk % 2 == 0)
            PA_UNROLL_ROWS
            for (int j = 0; j < 4; j++) prefetch(rows[j] + off + PA_PREFETCH_BYTES);
        __m256i w[4];
        __m256 d[4];
        PA_UNROLL_ROWS
        for (int j = 0; j < 4; j++) {
            w[j] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(rows[j] + off + 2)),
                                    top_bit);
            d[j] = table_scale(rows[j] + off);
        }
        block_nx(acc, T, w, d, top_bit, x, blk);
    }
    _Pragma("GCC unroll 3") for (int t = 0; t < T; t++)
        PA_UNROLL_ROWS
        for (int j = 0; j < 4; j++) out[4 * t + j] = hsum8(acc[j][t]);
}

/* The 32 nibbles of a q4_0 block as bytes in x order: the low halves of its 16 bytes, then
 * the high halves. The 16 bytes are loaded into both halves of the register (a load with no
 * shuffle) and the upper half shifted by 4. */
INLINE __m256i q4_0_nibbles(const uint8_t *qs) {
    const __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    const __m256i shift = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
    return _mm256_and_si256(_mm256_srlv_epi32(raw, shift), _mm256_set1_epi8(0xf));
}

/* [lo | hi] of two 128-bit halves from two addresses */
INLINE __m256i load_2x128(const void *lo, const void *hi) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)lo)),
                                   _mm_loadu_si128((const __m128i *)hi), 1);
}

/* [*a x4 | *b x4] */
INLINE __m256 broadcast_pair(const float *a, const float *b) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_broadcast_ss(a)), _mm_broadcast_ss(b), 1);
}

/* [a | b]: the f16 scales at a and b, each in four lanes */
INLINE __m256 table_scale_pair(const uint8_t *a, const uint8_t *b) {
    uint16_t bits_a, bits_b;
    memcpy(&bits_a, a, 2), memcpy(&bits_b, b, 2);
    return broadcast_pair(&pa_f16_table[bits_a], &pa_f16_table[bits_b]);
}

/* The x side of q4_0 blocks blk, blk + 1 (see dot_q4_0), which all rows share */
typedef struct q4_0_pair_x {
    __m256i lo, hi;  /* [x_a 0..15 | x_b 0..15], [x_a 16..31 | x_b 16..31] */
    __m256i offset;  /* -8 · Σ of each lane's q_x (lane_offsets of both halves) */
    __m256 d;        /* [d_a x4 | d_b x4] */
} q4_0_pair_x;

INLINE q4_0_pair_x q4_0_pair_of(const pa_xq8 *x, int blk) {
    const __m256i eight = _mm256_set1_epi8(8), zero = _mm256_setzero_si256();
    const int8_t *xa = x->q + 32 * blk, *xb = xa + 32;
    q4_0_pair_x px;
    px.lo = load_2x128(xa, xb);
    px.hi = load_2x128(xa + 16, xb + 16);
    px.offset = _mm256_sub_epi32(
        zero, _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(zero, eight, px.lo), eight, px.hi));
    px.d = broadcast_pair(&x->d[blk], &x->d[blk + 1]);
    return px;
}

/* acc[j] += d_w·d_x · Σ (nibble - 8)·q_x over blocks [blk, end) of rows[j], one at a time: the
 * last blocks of a row that do not fill a pair (or a quad) */
INLINE void q4_0_rest_blocks(const uint8_t *const *rows, int R, const pa_xq8 *x, int blk,
                             int end, __m256 *acc) {
    const __m256i eight = _mm256_set1_epi8(8);
    for (; blk < end; blk++) {
        const size_t off = (size_t)blk * PA_Q4_0_BYTES;
        const __m256i xq = _mm256_loadu_si256((const __m256i *)(x->q + 32 * blk));
        const __m256i offset = lane_offsets(eight, xq);
        const __m256 dxv = _mm256_broadcast_ss(&x->d[blk]);
        PA_UNROLL_ROWS
        for (int j = 0; j < R; j++) {
            const __m256i dot = _mm256_dpbusd_epi32(offset, q4_0_nibbles(rows[j] + off + 2), xq);
            const __m256 s = _mm256_mul_ps(table_scale(rows[j] + off), dxv);
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), s, acc[j]);
        }
    }
}

/* q4_0 · x rounded to 8 bits: per block, d_w·d_x · Σ (nibble - 8)·q_x, the nibbles in as they
 * are and the 8 taken out by lane_offsets. Blocks go in pairs a, b: one register holds both
 * blocks' 16 bytes, [a | b], its low nibbles meet [x_a 0..15 | x_b 0..15] and its high
 * nibbles [x_a 16..31 | x_b 16..31], so two vpdpbusd leave a's sum in lanes 0-3 and b's in
 * 4-7, and one convert, scale and add serve both blocks (per row, the ALU ports' work per
 * weight is about 0.6 of one block at a time). The x side of each pair comes from `pairs`
 * (made once for many rows) or, where it is NULL, is made here. An odd last block goes
 * alone. */
INLINE void dot_q4_0_pairs(const uint8_t *const *rows, int R, const q4_0_pair_x *pairs,
                           const pa_xq8 *x, int n, float *out) {
    const __m256i low4 = _mm256_set1_epi8(0xf);
    const int n_blocks = n / PA_Q4_0_BLOCK;
    __m256 acc[4];
    PA_UNROLL_ROWS
    for (int j = 0; j < R; j++) acc[j] = _mm256_setzero_ps();
    int blk = 0;
    for (; blk + 2 <= n_blocks; blk += 2) {
        const size_t a = (size_t)blk * PA_Q4_0_BYTES, b = a + PA_Q4_0_BYTES;
        PA_UNROLL_ROWS
        for (int j = 0; j < R; j++) prefetch(rows[j] + a + PA_PREFETCH_BYTES); /* 36 bytes on */
        const q4_0_pair_x px = pairs ? pairs[blk / 2] : q4_0_pair_of(x, blk);
        PA_UNROLL_ROWS
        for (int j = 0; j < R; j++) {
            const __m256i raw = load_2x128(rows[j] + a + 2, rows[j] + b + 2);
            const __m256i lo = _mm256_and_si256(raw, low4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
            const __m256i dot = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(px.offset, lo, px.lo), hi, px.hi);
            const __m256 s = _mm256_mul_ps(table_scale_pair(rows[j] + a, rows[j] + b), px.d);
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), s, acc[j]);
        }
    }
    q4_0_rest_blocks(rows, R, x, blk, n_blocks, acc);
    PA_UNROLL_ROWS
    for (int j = 0; j < R; j++) out[j] = hsum8(acc[j]);
}

INLINE void dot_q4_0(const uint8_t *const *rows, int R, const pa_xq8 *x, int n, float *out) {
    dot_q4_0_pairs(rows, R, NULL, x, n, out);
}

/* out[t * 4 + j] = rows[j] · x[t] for 4 rows and T tokens (2 or 3): dot_q4_0's arithmetic for
 * every (row, token), so each is bitwise dot1's, with each row's nibbles and scales unpacked
 * once for all T tokens (what batches of agents and speculative verification are bound by once
 * the rows sit in cache). */
INLINE void dot_q4_0_nx(const uint8_t *const *rows, int T, const pa_xq8 *const *x, int n,
                        float *out) {
    const __m256i low4 = _mm256_set1_epi8(0xf), eight = _mm256_set1_epi8(8);
    const int n_blocks = n / PA_Q4_0_BLOCK;
    __m256 acc[4][3];
    PA_UNROLL_ROWS
    for (int j = 0; j < 4; j++)
        _Pragma("GCC unroll 3") for (int t = 0; t < T; t++) acc[j][t] = _mm256_setzero_ps();
    int blk = 0;
    for (; blk + 2 <= n_blocks; blk += 2) {
        const size_t a = (size_t)blk * PA_Q4_0_BYTES, b = a + PA_Q4_0_BYTES;
        PA_UNROLL_ROWS
        for (int j = 0; j < 4; j++) prefetch(rows[j] + a + PA_PREFETCH_BYTES);
        q4_0_pair_x px[3];
        _Pragma("GCC unroll 3") for (int t = 0; t < T; t++) px[t] = q4_0_pair_of(x[t], blk);
        PA_UNROLL_ROWS
        for (int j = 0; j < 4; j++) {
            const __m256i raw = load_2x128(rows[j] + a + 2, rows[j] + b + 2);
            const __m256i lo = _mm256_and_si256(raw, low4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
            const __m256 d = table_scale_pair(rows[j] + a, rows[j] + b);
            _Pragma("GCC unroll 3") for (int t = 0; t < T; t++) {
                const __m256i dot = _mm256_dpbusd_epi32(
                    _mm256_dpbusd_epi32(px[t].offset, lo, px[t].lo), hi, px[t].hi);
                const __m256 s = _mm256_mul_ps(d, px[t].d);
                acc[j][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), s, acc[j][t]);
            }
        }
    }
    for (; blk < n_blocks; blk++) {
        const size_t off = (size_t)blk * PA_Q4_0_BYTES;
        __m256i w[4];
        __m256 d[4];
        PA_UNROLL_ROWS
        for (int j = 0; j < 4; j++) {
            w[j] = q4_0_nibbles(rows[j] + off + 2);
            d[j] = table_scale(rows[j] + off);
        }
        block_nx(acc, T, w, d, eight, x, blk);
    }
    _Pragma("GCC unroll 3") for (int t = 0; t < T; t++)
        PA_UNROLL_ROWS
        for (int j = 0; j < 4; j++) out[4 * t + j] = hsum8(acc[j][t]);
}

/* out[j] += the sum over blocks [blk, end) of rows[j], one block at a time by `blocks` (the
 * last blocks of a row that do not fill a ZMM register's group) */
typedef void rest_blocks_fn(const uint8_t *const *rows, int R, const pa_xq8 *x, int blk, int end,
                            __m256 *acc);
INLINE void add_rest_blocks(rest_blocks_fn *blocks, const uint8_t *const *rows, int R,
                            const pa_xq8 *x, int blk, int end, float *out) {
    if (blk >= end) return;
    __m256 rest[4];
    PA_UNROLL_ROWS
    for (int j = 0; j < R; j++) rest[j] = _mm256_setzero_ps();
    blocks(rows, R, x, blk, end, rest);
    PA_UNROLL_ROWS
    for (int j = 0; j < R; j++) out[j] += hsum8(rest[j]);
}

/* ---------------------------------------------------------------------------------------- */
/* q4_0 and q8_0 four blocks (a quad) at a time in ZMM registers (AVX-512 VBMI)               */

#define AVX512_VBMI                                                                           \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,avx2,fma,f16c")))
#define INLINE_VBMI AVX512_VBMI static inline __attribute__((always_inline))

/* The x side of blocks blk..blk + 3 as the quad kernels read it, which all rows share */
typedef struct quad_x {
    __m512i lo, hi;  /* [x_a 0..15 | x_b 0..15 | x_c 0..15 | x_d 0..15], then 16..31 */
    __m512i offset;  /* -bias · Σ of each lane's q_x: the weights come in as q_w + bias */
    __m512 d;        /* [d_a x4 | d_b x4 | d_c x4 | d_d x4] */
} quad_x;

/* x's blocks blk..blk + 3 as [x_a 0..15 | x_b 0..15 | x_c 0..15 | x_d 0..15] (lo) and their
 * values 16..31 likewise (hi): the order in which q4_0 (and q4_K) keep their nibbles */
INLINE void x_four_blocks_split(const pa_xq8 *x, int blk, __m512i *lo, __m512i *hi) {
    const __m512i ab = _mm512_loadu_si512(x->q + 32 * blk);
    const __m512i cd = _mm512_loadu_si512(x->q + 32 * blk + 64);
    *lo = _mm512_shuffle_i64x2(ab, cd, 0x88); /* 128-bit parts 0, 2 of ab, then of cd */
    *hi = _mm512_shuffle_i64x2(ab, cd, 0xdd); /* parts 1, 3 */
}

/* bias: what the weights come in as beyond q_w, unsigned for vpdpbusd (8 for q4_0's nibbles,
 * stored as q_w + 8; 128 for q8_0, its top bits flipped) */
INLINE_VBMI quad_x quad_x_of(const pa_xq8 *x, int blk, int bias) {
    const __m512i b = _mm512_set1_epi8((char)bias), zero = _mm512_setzero_si512();
    quad_x qx;
    x_four_blocks_split(x, blk, &qx.lo, &qx.hi);
    qx.offset =
        _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, b, qx.lo), b, qx.hi));
    const __m512i each_four = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    qx.d = _mm512_permutexvar_ps(each_four, _mm512_castps128_ps512(_mm_loadu_ps(x->d + blk)));
    return qx;
}

/* A quad of a row against x: Σ (q_w + bias)·q_x - bias·Σ q_x in 16 lanes, block b's 32
 * products in lanes 4b..4b+3 (lo and hi: the row's weights in quad_x's order) */
INLINE_VBMI __m512i quad_isum(__m512i lo, __m512i hi, const quad_x *qx) {
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(qx->offset, lo, qx->lo), hi, qx->hi);
}

/* Four rows' quad sums (quad_isum) added up per block: lane 4b + j = row j's sum of block b.
 * Integer adds, so exact in any order; what follows (one convert, scale product and FMA for
 * four rows, where each row had its own) is the same per lane for any row. */
INLINE_VBMI __m512i sum_blocks_x4(const __m512i isum[4]) {
    const __m512i r01 = _mm512_add_epi32(_mm512_unpacklo_epi32(isum[0], isum[1]),
                                         _mm512_unpackhi_epi32(isum[0], isum[1]));
    const __m512i r23 = _mm512_add_epi32(_mm512_unpacklo_epi32(isum[2], isum[3]),
                                         _mm512_unpackhi_epi32(isum[2], isum[3]));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(r01, r23), _mm512_unpackhi_epi64(r01, r23));
}

/* acc += d_w·d_x · Σ per (block, row) lane, d holding the rows' scales in sum_blocks_x4's
 * order */
INLINE_VBMI __m512 quad_scaled(__m512 acc, __m512i sums, __m512 d, const quad_x *qx) {
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_mul_ps(d, qx->d), acc);
}

/* [Σ_b lane 4b + j for j = 0..3], each as (l_j + l_8+j) + (l_4+j + l_12+j) */
INLINE_VBMI __m128 sum_rows_x4(__m512 acc) {
    const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
    const __m256 half = _mm256_add_ps(_mm512_castps512_ps256(acc), high);
    return _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
}

/* q4_0: the 72 bytes of a quad come in as two loads, `first`, its first 64, and `second`, its
 * last 8 (a second 64-byte load 8 bytes on, reading the same lines again, made decode from
 * memory 6-20 % slower on Zen 5). One vpermt2b picks the four blocks' 16 quant bytes (block
 * b's at 18b + 2) into the four 128-bit parts, indexes 64 and up reading `second`. */
static const uint8_t q4_0_quad_quants[64] = {
    2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,  15,  16,  17,  /* a */
    20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,  33,  34,  35,  /* b */
    38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50,  51,  52,  53,  /* c */
    56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, /* d */
};

/* The f16 scales of four rows' q4_0 quads in the order of sum_blocks_x4: word 4b + j = row j's
 * block b (block b's scale is word 9b of the quad's first 64 bytes). Rows 0 and 1 come from
 * one vpermt2w, rows 2 and 3 from another, and a blend joins them. */
static const uint16_t q4_0_quad_scales_01[32] = {0, 32, 0, 0, 9,  41, 0, 0,
                                                 18, 50, 0, 0, 27, 59, 0, 0};
static const uint16_t q4_0_quad_scales_23[32] = {0, 0, 0, 32, 0, 0, 9,  41,
                                                 0, 0, 18, 50, 0, 0, 27, 59};

/* One q4_0 quad of a row: its first 64 bytes (where the scales are) and its nibbles as bytes
 * in quad_x's order */
INLINE_VBMI void q4_0_quad_unpack(const uint8_t *quad, __m512i *first, __m512i *lo,
                                  __m512i *hi) {
    const __m512i low4 = _mm512_set1_epi8(0xf);
    *first = _mm512_loadu_si512(quad);
    const __m512i second = _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)(quad + 64)));
    const __m512i raw =
        _mm512_permutex2var_epi8(*first, _mm512_loadu_si512(q4_0_quad_quants), second);
    *lo = _mm512_and_si512(raw, low4);
    *hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);
}

/* The scales of four rows' q4_0 quads (their `first` bytes) as f32 in sum_blocks_x4's order */
INLINE_VBMI __m512 q4_0_quad_scales_x4(const __m512i first[4]) {
    const __m512i s01 = _mm512_permutex2var_epi16(
        first[0], _mm512_loadu_si512(q4_0_quad_scales_01), first[1]);
    const __m512i s23 = _mm512_permutex2var_epi16(
        first[2], _mm512_loadu_si512(q4_0_quad_scales_23), first[3]);
    const __m512i s = _mm512_mask_blend_epi16(0xcccccccc, s01, s23);
    return _mm512_cvtph_ps(_mm512_castsi512_si256(s));
}

/* q8_0: each pair of blocks of a quad (68 bytes, at 0 and 68) comes in as its first 64 bytes
 * and its last 4; one vpermt2b per pair picks its two blocks' 32 weights ([a | b], [c | d]:
 * block b's at 34b + 2, indexes 64 and up reading the last 4), and two 128-bit shuffles of the
 * pairs give quad_x's order. Four 64-byte loads of the quad (at 0, 64, 8 and 72, no shuffles)
 * made decode from cache 12 % slower than the pair kernel on Zen 5. */
static const uint8_t q8_0_pair_weights[64] = {
    2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17,
    18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, /* a */
    36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, /* b */
};
/* Row j's four scales (block b's at word 17b of each pair's first 64 bytes) to words 4b + j */
static const uint16_t q8_0_quad_scales[4][32] = {
    {0, 0, 0, 0, 17, 0, 0, 0, 32, 0, 0, 0, 49, 0, 0, 0},
    {0, 0, 0, 0, 0, 17, 0, 0, 0, 32, 0, 0, 0, 49, 0, 0},
    {0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 32, 0, 0, 0, 49, 0},
    {0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 32, 0, 0, 0, 49},
};

/* One q8_0 quad of row j: its weights + 128 as bytes in quad_x's order, and its four f16
 * scales into words 4b + j of *scales (the other words kept) */
INLINE_VBMI void q8_0_quad_unpack(const uint8_t *quad, int j, __m512i *lo, __m512i *hi,
                                  __m512i *scales) {
    const __m512i top_bit = _mm512_set1_epi8((char)0x80);
    const __m512i pick = _mm512_loadu_si512(q8_0_pair_weights);
    const __m512i first_ab = _mm512_loadu_si512(quad);
    const __m512i first_cd = _mm512_loadu_si512(quad + 68);
    const __m512i ab = _mm512_permutex2var_epi8(
        first_ab, pick, _mm512_castsi128_si512(_mm_loadu_si32(quad + 64)));
    const __m512i cd = _mm512_permutex2var_epi8(
        first_cd, pick, _mm512_castsi128_si512(_mm_loadu_si32(quad + 132)));
    *lo = _mm512_xor_si512(_mm512_shuffle_i32x4(ab, cd, 0x88), top_bit); /* 0..15 of a..d */
    *hi = _mm512_xor_si512(_mm512_shuffle_i32x4(ab, cd, 0xdd), top_bit); /* 16..31 */
    const __m512i mine =
        _mm512_permutex2var_epi16(first_ab, _mm512_loadu_si512(q8_0_quad_scales[j]), first_cd);
    *scales = _mm512_mask_blend_epi16(0x11111111u << j, *scales, mine);
}

/* The most tokens the quad kernels take at once: each a 16-lane sum in a register beside the
 * four rows' unpacked quads (q4_0, Zen 5, 768 x 768 in cache, 16 and 27 tokens: 3 -> 6 tokens
 * 164 -> 192 GMAC/s; 8 no better) */
#define QUAD_NX 6

/* out[t * 4 + j] = rows[j] · x[t] for R rows (1 or 4) and T tokens (1..QUAD_NX), `type` q4_0
 * or q8_0 (a constant). Per quad and row the integer sums of the four blocks in 16 lanes, the
 * weights gathered by permutes; then the four rows' sums per block (sum_blocks_x4) share one
 * convert, one scale product and one FMA per token, and their scales one convert, where each
 * row had its own (q4_0, Zen 5, one core, 2048 rows of 768 in cache: 62 -> 67-70 GB/s; decode
 * from memory is no faster, batches are). Every (row, token) lane sees the same operations for
 * any R and T (rows past R add zero sums), so dot1, dot4 and the batches agree bit for bit. The
 * last n/32 % 4 blocks go one at a time, as in dot_q4_0 and dot_q8_0, into an 8-lane sum of
 * their own. The x side of token t's quads comes from prepared[t] (made once for many rows) or,
 * where prepared is NULL, is made here. */
INLINE_VBMI void dot_quads(pa_wtype type, const uint8_t *const *rows, int R, int T,
                           const pa_xq8 *const *x, const quad_x *const *prepared, int n,
                           float *out) {
    const size_t block_bytes = type == PA_W_Q4_0 ? PA_Q4_0_BYTES : PA_Q8_0_BYTES;
    const int bias = type == PA_W_Q4_0 ? 8 : 128;
    const int n_blocks = n / 32, n_quads = n_blocks / 4;
    __m512 acc[QUAD_NX];
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    for (int q = 0; q < n_quads; q++) {
        const size_t off = (size_t)q * 4 * block_bytes;
        __m512i lo[4], hi[4];
        __m512 d;
        if (type == PA_W_Q4_0) {
            __m512i first[4];
            PA_UNROLL_ROWS
            for (int j = 0; j < 4; j++) {
                if (j >= R) { /* R = 1: rows 1..3 add nothing */
                    first[j] = first[0];
                    continue;
                }
                prefetch(rows[j] + off + PA_PREFETCH_BYTES_4BIT);
                q4_0_quad_unpack(rows[j] + off, &first[j], &lo[j], &hi[j]);
            }
            d = q4_0_quad_scales_x4(first);
        } else {
            __m512i scales = _mm512_setzero_si512();
            PA_UNROLL_ROWS
            for (int j = 0; j < R; j++) {
                prefetch(rows[j] + off + PA_PREFETCH_BYTES);
                prefetch(rows[j] + off + 64 + PA_PREFETCH_BYTES);
                q8_0_quad_unpack(rows[j] + off, j, &lo[j], &hi[j], &scales);
            }
            d = _mm512_cvtph_ps(_mm512_castsi512_si256(scales));
        }
        _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
            const quad_x qx = prepared ? prepared[t][q] : quad_x_of(x[t], 4 * q, bias);
            __m512i isum[4];
            PA_UNROLL_ROWS
            for (int j = 0; j < 4; j++)
                isum[j] = j < R ? quad_isum(lo[j], hi[j], &qx) : _mm512_setzero_si512();
            acc[t] = quad_scaled(acc[t], sum_blocks_x4(isum), d, &qx);
        }
    }
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
        float sums[4];
        _mm_storeu_ps(sums, sum_rows_x4(acc[t]));
        if (4 * n_quads < n_blocks) {
            if (type == PA_W_Q4_0)
                add_rest_blocks(q4_0_rest_blocks, rows, R, x[t], 4 * n_quads, n_blocks, sums);
            else add_rest_blocks(q8_0_blocks, rows, R, x[t], 4 * n_quads, n_blocks, sums);
        }
        for (int j = 0; j < R; j++) out[4 * t + j] = sums[j];
    }
}

/* dot_quads over n_x tokens and four rows, QUAD_NX tokens at a time, then the rest (T a
 * constant in each call, so that the sums stay in registers) */
INLINE_VBMI void quads_tokens(pa_wtype type, const uint8_t *const *rows, const pa_xq8 *const *x,
                              const quad_x *const *prepared, int n_x, int n, float *out) {
    int t = 0;
    for (; n_x - t >= QUAD_NX; t += QUAD_NX)
        dot_quads(type, rows, 4, QUAD_NX, x + t, prepared ? prepared + t : NULL, n, out + 4 * t);
    const quad_x *const *p = prepared ? prepared + t : NULL;
    switch (n_x - t) {
    case 1: dot_quads(type, rows, 4, 1, x + t, p, n, out + 4 * t); break;
    case 2: dot_quads(type, rows, 4, 2, x + t, p, n, out + 4 * t); break;
    case 3: dot_quads(type, rows, 4, 3, x + t, p, n, out + 4 * t); break;
    case 4: dot_quads(type, rows, 4, 4, x + t, p, n, out + 4 * t); break;
    case 5: dot_quads(type, rows, 4, 5, x + t, p, n, out + 4 * t); break;
    }
}

/* A token's x side of every quad, made once for a batch or for a thread's rows */
INLINE_VBMI void quads_of(const pa_xq8 *x, int n, int bias, quad_x *quads) {
    for (int q = 0; q < n / 128; q++) quads[q] = quad_x_of(x, 4 * q, bias);
}

/* dot_quads over a thread's four stripes of rows (dot4_stripes), the x side made once for
 * all of them (rows of up to 8192 values: 16 KiB of stack; longer ones make it per four rows) */
#define QUAD_STRIPE_QUADS 64
INLINE_VBMI void quads_stripes(pa_wtype type, const void *first, size_t row_bytes,
                               int64_t stripe, const pa_xq8 *x, int n, float *y) {
    quad_x quads[QUAD_STRIPE_QUADS];
    const quad_x *made = NULL;
    if (n / 128 <= QUAD_STRIPE_QUADS) {
        quads_of(x, n, type == PA_W_Q4_0 ? 8 : 128, quads);
        made = quads;
    }
    for (int64_t i = 0; i < stripe; i++) {
        const uint8_t *rows[4];
        for (int j = 0; j < 4; j++)
            rows[j] = (const uint8_t *)first + (uint64_t)(j * stripe + i) * row_bytes;
        float out[4];
        dot_quads(type, rows, 4, 1, &x, made ? &made : NULL, n, out);
        for (int j = 0; j < 4; j++) y[j * stripe + i] = out[j];
    }
}

/* The 8 sub-block scales and mins of the q4_K block at b, as f32 */
INLINE void q4_k_scales_mins_f32(const uint8_t *b, __m256 *sc, __m256 *m) {
    uint8_t sc8[8], m8[8];
    pa_q4_k_scales_mins(b + 4, sc8, m8);
    *sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)sc8)));
    *m = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)m8)));
}

/* q4_K · x rounded to 8 bits: per sub-block s, (d·sc[s])·d_x · Σ nibble·q_x, minus
 * (dmin·m[s]) · d_x·Σ q_x summed apart. Sub-blocks 2c and 2c+1 are the low and high nibbles of
 * the same 32 bytes; their halves are paired as q4_0's blocks are ([2c 0..15 | 2c+1 0..15]
 * and [2c 16..31 | 2c+1 16..31], two lane swaps), so that two vpdpbusd leave 2c's sum in
 * lanes 0-3 and 2c+1's in 4-7 and one convert and add serve both (kernel alone +5-7 %). */
INLINE void dot_q4_k(const uint8_t *const *rows, int R, const pa_xq8 *x, int n, float *out) {
    const __m256i low4 = _mm256_set1_epi8(0xf), zero = _mm256_setzero_si256();
    __m256 acc[4], mins[4];
    PA_UNROLL_ROWS
    for (int j = 0; j < R; j++) acc[j] = mins[j] = _mm256_setzero_ps();
    for (int blk = 0; blk < n / PA_Q4_K_BLOCK; blk++) {
        const size_t off = (size_t)blk * PA_Q4_K_BYTES;
        const int xb = 8 * blk; /* x block of sub-block 0 */
        const __m256 xd = _mm256_loadu_ps(x->d + xb), xdsum = _mm256_loadu_ps(x->dsum + xb);
        __m256 scale[4]; /* per row, sub-block s's (d·sc[s])·d_x in lane s */
        PA_UNROLL_ROWS
        for (int j = 0; j < R; j++) {
            const uint8_t *b = rows[j] + off;
            prefetch(b + PA_PREFETCH_BYTES);
            prefetch(b + 64 + PA_PREFETCH_BYTES);
            __m256 scf, mf;
            q4_k_scales_mins_f32(b, &scf, &mf);
            scale[j] = _mm256_mul_ps(scf, _mm256_mul_ps(table_scale(b), xd));
            mins[j] = _mm256_fmadd_ps(mf, _mm256_mul_ps(table_scale(b + 2), xdsum), mins[j]);
        }
        _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
            const int8_t *x_lo = x->q + 32 * (xb + 2 * c), *x_hi = x_lo + 32;
            const __m256i x_first = load_2x128(x_lo, x_hi);
            const __m256i x_second = load_2x128(x_lo + 16, x_hi + 16);
            const __m256i pick = _mm256_setr_epi32(2 * c, 2 * c, 2 * c, 2 * c, 2 * c + 1, 2 * c + 1,
                                                   2 * c + 1, 2 * c + 1);
            PA_UNROLL_ROWS
            for (int j = 0; j < R; j++) {
                const __m256i raw = _mm256_loadu_si256((const __m256i *)(rows[j] + off + 16 + 32 * c));
                const __m256i lo = _mm256_and_si256(raw, low4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
                const __m256i first = _mm256_permute2x128_si256(lo, hi, 0x20);
                const __m256i second = _mm256_permute2x128_si256(lo, hi, 0x31);
                const __m256i dot = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(zero, first, x_first),
                                                        second, x_second);
                acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot),
                                         _mm256_permutexvar_ps(pick, scale[j]), acc[j]);
            }
        }
    }
    PA_UNROLL_ROWS
    for (int j = 0; j < R; j++) out[j] = hsum8(acc[j]) - hsum8(mins[j]);
}

/* out[t * 4 + j] = rows[j] · x[t] for 4 rows and 2 tokens: dot_q4_k's arithmetic for every
 * (row, token), so each is bitwise dot1's, each row's nibbles and 6-bit scales unpacked once
 * for both tokens (two: three would take more than the 32 registers). */
INLINE void dot_q4_k_2x(const uint8_t *const *rows, const pa_xq8 *const *x, int n, float *out) {
    const __m256i low4 = _mm256_set1_epi8(0xf), zero = _mm256_setzero_si256();
    __m256 acc[4][2], mins[4][2];
    PA_UNROLL_ROWS
    for (int j = 0; j < 4; j++)
        for (int t = 0; t < 2; t++) acc[j][t] = mins[j][t] = _mm256_setzero_ps();
    for (int blk = 0; blk < n / PA_Q4_K_BLOCK; blk++) {
        const size_t off = (size_t)blk * PA_Q4_K_BYTES;
        const int xb = 8 * blk;
        __m256 scale[4][2];
        PA_UNROLL_ROWS
        for (int j = 0; j < 4; j++) {
            const uint8_t *b = rows[j] + off;
            prefetch(b + PA_PREFETCH_BYTES);
            prefetch(b + 64 + PA_PREFETCH_BYTES);
            __m256 scf, mf;
            q4_k_scales_mins_f32(b, &scf, &mf);
            const __m256 d = table_scale(b), dmin = table_scale(b + 2);
            for (int t = 0; t < 2; t++) {
                const __m256 xd = _mm256_loadu_ps(x[t]->d + xb);
                const __m256 xdsum = _mm256_loadu_ps(x[t]->dsum + xb);
                scale[j][t] = _mm256_mul_ps(scf, _mm256_mul_ps(d, xd));
                mins[j][t] = _mm256_fmadd_ps(mf, _mm256_mul_ps(dmin, xdsum), mins[j][t]);
            }
        }
        _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
            __m256i x_first[2], x_second[2];
            for (int t = 0; t < 2; t++) {
                const int8_t *x_lo = x[t]->q + 32 * (xb + 2 * c), *x_hi = x_lo + 32;
                x_first[t] = load_2x128(x_lo, x_hi);
                x_second[t] = load_2x128(x_lo + 16, x_hi + 16);
            }
            const __m256i pick = _mm256_setr_epi32(2 * c, 2 * c, 2 * c, 2 * c, 2 * c + 1, 2 * c + 1,
                                                   2 * c + 1, 2 * c + 1);
            PA_UNROLL_ROWS
            for (int j = 0; j < 4; j++) {
                const __m256i raw = _mm256_loadu_si256((const __m256i *)(rows[j] + off + 16 + 32 * c));
                const __m256i lo = _mm256_and_si256(raw, low4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
                const __m256i first = _mm256_permute2x128_si256(lo, hi, 0x20);
                const __m256i second = _mm256_permute2x128_si256(lo, hi, 0x31);
                for (int t = 0; t < 2; t++) {
                    const __m256i dot = _mm256_dpbusd_epi32(
                        _mm256_dpbusd_epi32(zero, first, x_first[t]), second, x_second[t]);
                    const __m256 s = _mm256_permutexvar_ps(pick, scale[j][t]);
                    acc[j][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), s, acc[j][t]);
                }
            }
        }
    }
    for (int t = 0; t < 2; t++)
        PA_UNROLL_ROWS
        for (int j = 0; j < 4; j++) out[4 * t + j] = hsum8(acc[j][t]) - hsum8(mins[j][t]);
}

/* ---------------------------------------------------------------------------------------- */
/* q4_K in ZMM registers (the VBMI set)                                                       */

/* The x side of half h of a q4_K block (sub-blocks 4h..4h + 3), as dot_q4_k_zmm reads it:
 * its values in x_four_blocks_split's order, and per lane 4g + j (any row j) sub-block
 * 4h + g's d_x and d_x·Σ q_x */
typedef struct q4_k_half_x {
    __m512i first, second;
    __m512 d, dsum;
} q4_k_half_x;

INLINE_VBMI q4_k_half_x q4_k_half_of(const pa_xq8 *x, int blk, int h) {
    const int xb = 8 * blk + 4 * h; /* x block of the half's first sub-block */
    const __m512i each_four = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    q4_k_half_x hx;
    x_four_blocks_split(x, xb, &hx.first, &hx.second);
    hx.d = _mm512_permutexvar_ps(each_four, _mm512_castps128_ps512(_mm_loadu_ps(x->d + xb)));
    hx.dsum = _mm512_permutexvar_ps(each_four, _mm512_castps128_ps512(_mm_loadu_ps(x->dsum + xb)));
    return hx;
}

/* Half h (64 bytes, sub-blocks 4h..4h+3) of a q4_K block's nibbles in the x side's order: the
 * low nibbles of its 64 bytes are sub-blocks 4h and 4h + 2, the high ones 4h + 1 and 4h + 3 */
INLINE_VBMI void q4_k_half_unpack(const uint8_t *qs, __m512i *first, __m512i *second) {
    const __m512i low4 = _mm512_set1_epi8(0xf);
    const __m512i raw = _mm512_loadu_si512(qs);
    const __m512i lo = _mm512_and_si512(raw, low4);
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);
    *first = _mm512_permutex2var_epi64(lo, _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi);
    *second = _mm512_permutex2var_epi64(lo, _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15), hi);
}

/* Four rows' q4_K block headers side by side (row j's d, dmin and 12 scale bytes at 16j..16j+15)
 * -> their sub-block scales and mins as bytes in the order of sum_blocks_x4: byte 16h + 4g + j
 * is row j's sc[4h + g], byte 32 + 16h + 4g + j its m[4h + g]. `primary` picks the byte with a
 * value's low bits, `secondary` the one with its top 2 (pa_q4_k_scale_min), `low_bits` masks
 * the primary's (63 for s < 4, 15 for sc[s >= 4]; m[s >= 4] takes its high nibble instead), and
 * `top_bits` keeps the secondary's only for s >= 4. */
static uint8_t q4_k_primary[64], q4_k_secondary[64], q4_k_low_bits[64], q4_k_top_bits[64];
static uint16_t q4_k_d_words[32]; /* d of row j to words 4g + j, dmin to 16 + 4g + j */
static uint64_t q4_k_high_nibble; /* bit p: byte p takes the primary's high nibble */

static void make_q4_k_tables(void) {
    for (int p = 0; p < 64; p++) {
        const int is_min = p >= 32, h = (p / 16) % 2, g = (p % 16) / 4, j = p % 4, sb = 4 * h + g;
        const int row = 16 * j + 4; /* the row's scale bytes */
        if (sb < 4) {
            q4_k_primary[p] = (uint8_t)(row + (is_min ? sb + 4 : sb));
            q4_k_low_bits[p] = 63;
        } else {
            q4_k_primary[p] = (uint8_t)(row + sb + 4);
            q4_k_secondary[p] = (uint8_t)(row + (is_min ? sb : sb - 4));
            q4_k_low_bits[p] = is_min ? 0 : 15;
            q4_k_top_bits[p] = 0x30;
            if (is_min) q4_k_high_nibble |= 1ull << p;
        }
    }
    for (int w = 0; w < 32; w++) q4_k_d_words[w] = (uint16_t)(8 * (w % 4) + (w >= 16));
}

/* Four rows' q4_K block scales d·sc[s] and mins dmin·m[s] in the order of sum_blocks_x4, half
 * h's lane 4g + j = row j's sub-block 4h + g, unpacked for the four rows at once in one ZMM
 * register (one row at a time with 32-bit operations took more than the rows' dot products).
 * b: the four rows' blocks (a pass of fewer rows repeats one; its other lanes go unused). */
INLINE_VBMI void q4_k_rows_scales(const uint8_t *const b[4], __m512 scale[2], __m512 min[2]) {
    __m512i heads = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)b[0]));
    heads = _mm512_inserti32x4(heads, _mm_loadu_si128((const __m128i *)b[1]), 1);
    heads = _mm512_inserti32x4(heads, _mm_loadu_si128((const __m128i *)b[2]), 2);
    heads = _mm512_inserti32x4(heads, _mm_loadu_si128((const __m128i *)b[3]), 3);
    const __m512i primary = _mm512_permutexvar_epi8(_mm512_loadu_si512(q4_k_primary), heads);
    const __m512i secondary = _mm512_permutexvar_epi8(_mm512_loadu_si512(q4_k_secondary), heads);
    const __m512i nibble = _mm512_set1_epi8(0xf);
    const __m512i high = _mm512_and_si512(_mm512_srli_epi16(primary, 4), nibble);
    const __m512i low = _mm512_mask_blend_epi8(
        q4_k_high_nibble, _mm512_and_si512(primary, _mm512_loadu_si512(q4_k_low_bits)), high);
    const __m512i top = _mm512_and_si512(
        _mm512_srli_epi16(_mm512_and_si512(secondary, _mm512_set1_epi8((char)0xc0)), 2),
        _mm512_loadu_si512(q4_k_top_bits));
    const __m512i six_bits = _mm512_or_si512(low, top);
    const __m512i d_words = _mm512_permutexvar_epi16(_mm512_loadu_si512(q4_k_d_words), heads);
    const __m512 d = _mm512_cvtph_ps(_mm512_castsi512_si256(d_words));
    const __m512 dmin = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(d_words, 1));
    const __m128i part[4] = {_mm512_extracti32x4_epi32(six_bits, 0), /* sc, half 0 */
                             _mm512_extracti32x4_epi32(six_bits, 1), /* sc, half 1 */
                             _mm512_extracti32x4_epi32(six_bits, 2), /* m, half 0 */
                             _mm512_extracti32x4_epi32(six_bits, 3)};
    for (int h = 0; h < 2; h++) {
        scale[h] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(part[h])), d);
        min[h] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(part[2 + h])), dmin);
    }
}

/* Σ nibble·q_x of a row's half block in 16 lanes, sub-block 4h + g's in lanes 4g..4g+3 */
INLINE_VBMI __m512i q4_k_half_isum(__m512i first, __m512i second, const q4_k_half_x *hx) {
    const __m512i zero = _mm512_setzero_si512();
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, first, hx->first), second, hx->second);
}

/* out[t * 4 + j] = rows[j] · x[t] for R rows (1 or 4) and T tokens (1..QUAD_NX, as the
 * quads): per sub-block s, (d·sc[s])·d_x · Σ nibble·q_x, less (dmin·m[s])·d_x·Σ q_x. A block's
 * 128 bytes of nibbles are two halves of four sub-blocks, each row's half a ZMM register whose
 * 16 lanes sum four sub-blocks (two vpdpbusd); the four rows' sums are added up per sub-block
 * (sum_blocks_x4) and share one convert, one FMA for the scales and one for the mins per half
 * and token, where each row had its own, and the four rows' scales are unpacked at once
 * (q4_k_rows_scales). 768 x 768 in cache, Zen 5, one core: 27 tokens 112 -> 197 GMAC/s,
 * decode 40 -> 51 GB/s. Every (row, token) lane sees the same operations for any R and T, so
 * dot1, dot4 and the batches agree bit for bit. The x side of token t's halves comes from
 * prepared[t] (2 per block, made once for a batch or for all of a thread's rows) or, where
 * prepared is NULL, is made here. */
INLINE_VBMI void dot_q4_k_zmm(const uint8_t *const *rows, int R, int T, const pa_xq8 *const *x,
                              const q4_k_half_x *const *prepared, int n, float *out) {
    __m512 acc[QUAD_NX];
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    for (int blk = 0; blk < n / PA_Q4_K_BLOCK; blk++) {
        const size_t off = (size_t)blk * PA_Q4_K_BYTES;
        const uint8_t *b[4];
        PA_UNROLL_ROWS
        for (int j = 0; j < 4; j++) b[j] = rows[j < R ? j : 0] + off;
        PA_UNROLL_ROWS
        for (int j = 0; j < R; j++) {
            prefetch(b[j] + PA_PREFETCH_BYTES_4BIT);
            prefetch(b[j] + 64 + PA_PREFETCH_BYTES_4BIT);
        }
        __m512 scale[2], min[2];
        q4_k_rows_scales(b, scale, min);
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
            __m512i first[4], second[4];
            PA_UNROLL_ROWS
            for (int j = 0; j < R; j++) q4_k_half_unpack(b[j] + 16 + 64 * h, &first[j], &second[j]);
            _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
                const q4_k_half_x hx =
                    prepared ? prepared[t][2 * blk + h] : q4_k_half_of(x[t], blk, h);
                __m512i isum[4];
                PA_UNROLL_ROWS
                for (int j = 0; j < 4; j++) /* rows j >= R add nothing */
                    isum[j] = j < R ? q4_k_half_isum(first[j], second[j], &hx)
                                    : _mm512_setzero_si512();
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum_blocks_x4(isum)),
                                         _mm512_mul_ps(scale[h], hx.d), acc[t]);
                acc[t] = _mm512_fnmadd_ps(min[h], hx.dsum, acc[t]);
            }
        }
    }
    _Pragma("GCC unroll 8") for (int t = 0; t < T; t++) {
        if (R == 4) _mm_storeu_ps(out + 4 * t, sum_rows_x4(acc[t]));
        else out[4 * t] = _mm_cvtss_f32(sum_rows_x4(acc[t]));
    }
}

/* dot_q4_k_zmm over n_x tokens, QUAD_NX at a time, then the rest (T a constant in each call) */
INLINE_VBMI void q4_k_zmm_tokens(const uint8_t *const *rows, const pa_xq8 *const *x,
                                 const q4_k_half_x *const *prepared, int n_x, int n,
                                 float *out) {
    int t = 0;
    for (; n_x - t >= QUAD_NX; t += QUAD_NX)
        dot_q4_k_zmm(rows, 4, QUAD_NX, x + t, prepared ? prepared + t : NULL, n, out + 4 * t);
    const q4_k_half_x *const *p = prepared ? prepared + t : NULL;
    switch (n_x - t) {
    case 1: dot_q4_k_zmm(rows, 4, 1, x + t, p, n, out + 4 * t); break;
    case 2: dot_q4_k_zmm(rows, 4, 2, x + t, p, n, out + 4 * t); break;
    case 3: dot_q4_k_zmm(rows, 4, 3, x + t, p, n, out + 4 * t); break;
    case 4: dot_q4_k_zmm(rows, 4, 4, x + t, p, n, out + 4 * t); break;
    case 5: dot_q4_k_zmm(rows, 4, 5, x + t, p, n, out + 4 * t); break;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Rows to f32 (tiles for sgemm, embedding lookups)                                          */

AVX512 static void to_f32_f16(const void *row, float *out, int n) {
    const uint8_t *w = row;
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, load_f16(w + 2 * (size_t)i));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(out + i, m, load_f16_masked(w + 2 * (size_t)i, m));
    }
}

AVX512 static void to_f32_bf16(const void *row, float *out, int n) {
    const uint8_t *w = row;
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, load_bf16(w + 2 * (size_t)i));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(out + i, m, load_bf16_masked(w + 2 * (size_t)i, m));
    }
}

AVX512 static void to_f32_q8_0(const void *row, float *out, int n) {
    const uint8_t *b = row;
    for (int i = 0; i < n; i += PA_Q8_0_BLOCK, b += PA_Q8_0_BYTES) {
        const __m512 d = _mm512_set1_ps(f16_scale(b));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(d, widen_i8(b + 2)));
        _mm512_storeu_ps(out + i + 16, _mm512_mul_ps(d, widen_i8(b + 18)));
    }
}

AVX512 static void to_f32_q4_0(const void *row, float *out, int n) {
    const __m512i low4 = _mm512_set1_epi32(0xf), eight = _mm512_set1_epi32(8);
    const uint8_t *b = row;
    for (int i = 0; i < n; i += PA_Q4_0_BLOCK, b += PA_Q4_0_BYTES) {
        const __m512 d = _mm512_set1_ps(f16_scale(b));
        const __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b + 2)));
        const __m512i lo = _mm512_sub_epi32(_mm512_and_si512(q, low4), eight);
        const __m512i hi = _mm512_sub_epi32(_mm512_srli_epi32(q, 4), eight);
        _mm512_storeu_ps(out + i, _mm512_mul_ps(d, _mm512_cvtepi32_ps(lo)));
        _mm512_storeu_ps(out + i + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(hi)));
    }
}

/* Multiply, then subtract (not fused), as the portable and ggml's dequantization do. */
AVX512 static void to_f32_q4_k(const void *row, float *out, int n) {
    const __m512i low4 = _mm512_set1_epi32(0xf);
    const uint8_t *b = row;
    for (int i = 0; i < n; i += PA_Q4_K_BLOCK, b += PA_Q4_K_BYTES) {
        const float d = f16_scale(b), dmin = f16_scale(b + 2);
        for (int s = 0; s < 8; s++) {
            int sc, m;
            pa_q4_k_scale_min(b + 4, s, &sc, &m);
            const __m512 scale = _mm512_set1_ps(d * (float)sc), min = _mm512_set1_ps(dmin * (float)m);
            const uint8_t *q = b + 16 + 32 * (s / 2);
            for (int half = 0; half < 2; half++) {
                __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(q + 16 * half)));
                v = _mm512_and_si512(_mm512_srli_epi32(v, 4 * (s & 1)), low4);
                const __m512 prod = _mm512_mul_ps(scale, _mm512_cvtepi32_ps(v));
                _mm512_storeu_ps(out + i + 32 * s + 16 * half, _mm512_sub_ps(prod, min));
            }
        }
    }
}

AVX512 static void to_f32_f32(const void *row, float *out, int n) {
    memcpy(out, row, (size_t)n * sizeof(float));
}

/* ---------------------------------------------------------------------------------------- */

/* dot4 and dot1 of a type, x being an X (const float or const pa_xq8) */
#define ENTRY_POINTS(type, X)                                                                 \
    AVX512 static void dot4_##type(const void *const rows[4], const void *x, int n,           \
                                   float out[4]) {                                            \
        dot_##type((const uint8_t *const *)rows, 4, (X *)x, n, out);                          \
    }                                                                                         \
    AVX512 static float dot1_##type(const void *row, const void *x, int n) {                  \
        const uint8_t *rows[1] = {row};                                                       \
        float out;                                                                            \
        dot_##type(rows, 1, (X *)x, n, &out);                                                 \
        return out;                                                                           \
    }

#define STRIPES_ENTRY_POINT(type, X)                                                          \
    AVX512 static void dot4_stripes_##type(const void *first, size_t row_bytes,               \
                                           int64_t stripe, const void *x, int n, float *y) {  \
        PA_STRIPE_ROWS(dot_##type, (X *)x)                                                    \
    }

ENTRY_POINTS(f32, const float)
ENTRY_POINTS(f16, const float)
ENTRY_POINTS(bf16, const float)
STRIPES_ENTRY_POINT(f32, const float)
STRIPES_ENTRY_POINT(f16, const float)
STRIPES_ENTRY_POINT(bf16, const float)

/* dot4 of n_x tokens: threes through the three-token kernel, then pairs (a remainder of 1
 * is taken as 2 + 2 rather than 3 + 1: one token alone converts each weight for itself), and
 * a single token through dot4 */
#define MULTI_ENTRY_POINT(type)                                                               \
    AVX512 static void dot4xn_##type(const void *const rows[4], const void *const *x,         \
                                     int n_x, int n, float *out) {                            \
        const uint8_t *const *r = (const uint8_t *const *)rows;                               \
        const float *const *xf = (const float *const *)x;                                     \
        int t = 0;                                                                            \
        for (; n_x - t >= 5 || n_x - t == 3; t += 3) dot3x_##type(r, xf + t, n, out + 4 * t); \
        for (; t + 2 <= n_x; t += 2) dot2x_##type(r, xf + t, n, out + 4 * t);                 \
        if (t < n_x) dot4_##type(rows, x[t], n, out + 4 * t);                                 \
    }
MULTI_ENTRY_POINT(f32)
MULTI_ENTRY_POINT(f16)
MULTI_ENTRY_POINT(bf16)
ENTRY_POINTS(q8_0, const pa_xq8)
ENTRY_POINTS(q4_0, const pa_xq8)
ENTRY_POINTS(q4_k, const pa_xq8)
STRIPES_ENTRY_POINT(q8_0, const pa_xq8)
STRIPES_ENTRY_POINT(q4_k, const pa_xq8)

/* q4_0's stripes make the x side of the block pairs once for all the rows (rows of up to
 * 8192 values: 16 KiB of stack; longer ones make it per four rows, as dot4 does). */
#define Q4_0_STRIPE_PAIRS 128
AVX512 static void dot4_stripes_q4_0(const void *first, size_t row_bytes, int64_t stripe,
                                     const void *x, int n, float *y) {
    q4_0_pair_x pairs[Q4_0_STRIPE_PAIRS];
    const int n_pairs = n / (2 * PA_Q4_0_BLOCK);
    const q4_0_pair_x *made = NULL;
    if (n_pairs <= Q4_0_STRIPE_PAIRS) {
        for (int p = 0; p < n_pairs; p++) pairs[p] = q4_0_pair_of(x, 2 * p);
        made = pairs;
    }
    PA_STRIPE_ROWS(dot_q4_0_pairs, made, (const pa_xq8 *)x)
}

/* dot4 of n_x tokens for a quantized type, split as the float types' (MULTI_ENTRY_POINT);
 * TARGET the function's target attribute */
#define QUANT_MULTI_ENTRY_POINT(TARGET, type)                                                 \
    TARGET static void dot4xn_##type(const void *const rows[4], const void *const *x,         \
                                     int n_x, int n, float *out) {                            \
        const uint8_t *const *r = (const uint8_t *const *)rows;                               \
        const pa_xq8 *const *xq = (const pa_xq8 *const *)x;                                   \
        int t = 0;                                                                            \
        for (; n_x - t >= 5 || n_x - t == 3; t += 3)                                          \
            dot_##type##_nx(r, 3, xq + t, n, out + 4 * t);                                    \
        for (; t + 2 <= n_x; t += 2) dot_##type##_nx(r, 2, xq + t, n, out + 4 * t);           \
        if (t < n_x) dot4_##type(rows, x[t], n, out + 4 * t);                                 \
    }
QUANT_MULTI_ENTRY_POINT(AVX512, q8_0)
QUANT_MULTI_ENTRY_POINT(AVX512, q4_0)

/* q4_0 and q8_0 in quads: dot4, dot1, dot4xn, its prepared x, and the stripes */
#define QUAD_ENTRY_POINTS(type, TYPE, bias)                                                   \
    AVX512_VBMI static void dot4_##type##_quads(const void *const rows[4], const void *x,     \
                                                int n, float out[4]) {                        \
        const pa_xq8 *xs[1] = {x};                                                            \
        dot_quads(TYPE, (const uint8_t *const *)rows, 4, 1, xs, NULL, n, out);                \
    }                                                                                         \
    AVX512_VBMI static float dot1_##type##_quads(const void *row, const void *x, int n) {     \
        const uint8_t *rows[1] = {row};                                                       \
        const pa_xq8 *xs[1] = {x};                                                            \
        float out;                                                                            \
        dot_quads(TYPE, rows, 1, 1, xs, NULL, n, &out);                                       \
        return out;                                                                           \
    }                                                                                         \
    AVX512_VBMI static void dot4xn_##type##_quads(const void *const rows[4],                  \
                                                  const void *const *x, int n_x, int n,       \
                                                  float *out) {                               \
        quads_tokens(TYPE, (const uint8_t *const *)rows, (const pa_xq8 *const *)x, NULL, n_x, \
                     n, out);                                                                 \
    }                                                                                         \
    AVX512_VBMI static void prepare_x_##type##_quads(const void *x, int n, void *out) {       \
        quads_of(x, n, bias, out);                                                            \
    }                                                                                         \
    AVX512_VBMI static void dot4xn_prepared_##type##_quads(                                   \
        const void *const rows[4], const void *const *x, const void *const *prepared,         \
        int n_x, int n, float *out) {                                                         \
        quads_tokens(TYPE, (const uint8_t *const *)rows, (const pa_xq8 *const *)x,            \
                     (const quad_x *const *)prepared, n_x, n, out);                           \
    }                                                                                         \
    AVX512_VBMI static void dot4_stripes_##type##_quads(const void *first, size_t row_bytes,  \
                                                        int64_t stripe, const void *x, int n, \
                                                        float *y) {                           \
        quads_stripes(TYPE, first, row_bytes, stripe, x, n, y);                               \
    }
QUAD_ENTRY_POINTS(q4_0, PA_W_Q4_0, 8)
QUAD_ENTRY_POINTS(q8_0, PA_W_Q8_0, 128)

/* A token's x side of every quad (quad_x_of), for dot4xn_prepared */
static size_t prepared_bytes_quads(int n) { return (size_t)(n / 128) * sizeof(quad_x); }

/* The kernels of QUAD_ENTRY_POINTS(type) into the row kernels k */
#define USE_QUADS(k, type)                                                                        do {                                                                                              (k)->dot4 = dot4_##type##_quads;                                                              (k)->dot1 = dot1_##type##_quads;                                                              (k)->dot4xn = dot4xn_##type##_quads;                                                          (k)->prepared_bytes = prepared_bytes_quads;                                                   (k)->prepare_x = prepare_x_##type##_quads;                                                    (k)->dot4xn_prepared = dot4xn_prepared_##type##_quads;                                        (k)->dot4_stripes = dot4_stripes_##type##_quads;                                          } while (0)

/* q4_K in ZMM registers: dot4, dot1, dot4xn and its prepared x (prompts +2-6 % on Zen 5), and
 * the stripes, whose x side is made once for all the rows (rows of up to 16384 values: 32 KiB
 * of stack; longer ones make it per four rows) */
AVX512_VBMI static void dot4_q4_k_zmm4(const void *const rows[4], const void *x, int n,
                                       float out[4]) {
    const pa_xq8 *xs[1] = {x};
    dot_q4_k_zmm((const uint8_t *const *)rows, 4, 1, xs, NULL, n, out);
}

AVX512_VBMI static float dot1_q4_k_zmm(const void *row, const void *x, int n) {
    const uint8_t *rows[1] = {row};
    const pa_xq8 *xs[1] = {x};
    float out;
    dot_q4_k_zmm(rows, 1, 1, xs, NULL, n, &out);
    return out;
}

AVX512_VBMI static void dot4xn_q4_k_zmm(const void *const rows[4], const void *const *x, int n_x,
                                        int n, float *out) {
    q4_k_zmm_tokens((const uint8_t *const *)rows, (const pa_xq8 *const *)x, NULL, n_x, n, out);
}

/* A token's x side of every half block (q4_k_half_of), made once for a batch or for a
 * thread's rows */
AVX512_VBMI static void prepare_x_q4_k_zmm(const void *x, int n, void *out) {
    q4_k_half_x *halves = out;
    for (int blk = 0; blk < n / PA_Q4_K_BLOCK; blk++)
        for (int h = 0; h < 2; h++) halves[2 * blk + h] = q4_k_half_of(x, blk, h);
}

static size_t prepared_bytes_q4_k_zmm(int n) {
    return (size_t)(n / PA_Q4_K_BLOCK) * 2 * sizeof(q4_k_half_x);
}

AVX512_VBMI static void dot4xn_prepared_q4_k_zmm(const void *const rows[4], const void *const *x,
                                                 const void *const *prepared, int n_x, int n,
                                                 float *out) {
    q4_k_zmm_tokens((const uint8_t *const *)rows, (const pa_xq8 *const *)x,
                    (const q4_k_half_x *const *)prepared, n_x, n, out);
}

#define Q4_K_STRIPE_BLOCKS 64
AVX512_VBMI static void dot4_stripes_q4_k_zmm(const void *first, size_t row_bytes,
                                              int64_t stripe, const void *x, int n, float *y) {
    q4_k_half_x halves[2 * Q4_K_STRIPE_BLOCKS];
    const q4_k_half_x *made = NULL;
    if (n / PA_Q4_K_BLOCK <= Q4_K_STRIPE_BLOCKS) {
        prepare_x_q4_k_zmm(x, n, halves);
        made = halves;
    }
    const pa_xq8 *xs[1] = {x};
    for (int64_t i = 0; i < stripe; i++) {
        const uint8_t *rows[4];
        for (int j = 0; j < 4; j++)
            rows[j] = (const uint8_t *)first + (uint64_t)(j * stripe + i) * row_bytes;
        float out[4];
        dot_q4_k_zmm(rows, 4, 1, xs, made ? &made : NULL, n, out);
        for (int j = 0; j < 4; j++) y[j * stripe + i] = out[j];
    }
}

/* dot4 of n_x tokens for q4_K: pairs of tokens, a last odd one through dot4 */
AVX512 static void dot4xn_q4_k(const void *const rows[4], const void *const *x, int n_x, int n,
                               float *out) {
    int t = 0;
    for (; t + 2 <= n_x; t += 2)
        dot_q4_k_2x((const uint8_t *const *)rows, (const pa_xq8 *const *)x + t, n, out + 4 * t);
    if (t < n_x) dot4_q4_k(rows, x[t], n, out + 4 * t);
}

/* pa_xq8_quantize, 32 values at a time, bit for bit: the maximum is exact in any order (max_ps
 * keeps the running value when a lane is NaN, as the scalar compare does), d and 1/d are the
 * same scalar operations, vcvtps2dq rounds to nearest even as lrintf does (and gives the same
 * 0x80000000 for NaN), and vpmovdb keeps the low byte as the cast to int8_t does. */
AVX512 static void quantize_x(const float *x, int n, const pa_xq8 *out) {
    for (int blk = 0; blk < n / 32; blk++) {
        const __m512 lo = _mm512_loadu_ps(x + 32 * blk), hi = _mm512_loadu_ps(x + 32 * blk + 16);
        __m512 m = _mm512_max_ps(_mm512_abs_ps(lo), _mm512_setzero_ps());
        m = _mm512_max_ps(_mm512_abs_ps(hi), m);
        const float amax = _mm512_reduce_max_ps(m);
        const float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        const __m512 idv = _mm512_set1_ps(id);
        const __m128i q_lo = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(lo, idv)));
        const __m128i q_hi = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(hi, idv)));
        _mm_storeu_si128((__m128i *)(out->q + 32 * blk), q_lo);
        _mm_storeu_si128((__m128i *)(out->q + 32 * blk + 16), q_hi);
        const int32_t sum = _mm512_reduce_add_epi32(
            _mm512_add_epi32(_mm512_cvtepi8_epi32(q_lo), _mm512_cvtepi8_epi32(q_hi)));
        out->d[blk] = d;
        out->sum[blk] = sum;
        out->dsum[blk] = d * (float)sum;
    }
}

/* pa_f32_to_f16 sixteen at a time, as the AVX2 set's (kernels_avx2.c) */
AVX512 static void to_f16(const float *x, int n, uint16_t *out) {
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        const __m512 quiet = _mm512_castsi512_ps(_mm512_or_si512(
            _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u)),
            _mm512_set1_epi32(0x7fc00000)));
        const __m512 clean =
            _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v, quiet);
        _mm256_storeu_si256((__m256i *)(out + i),
                            _mm512_cvtps_ph(clean, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (; i < n; i++) out[i] = pa_f32_to_f16(x[i]);
}

/* sgemm_from: the quantized rows keep up with sgemm much longer than the one-token kernels of
 * the other sets (8 / 12 / 16) thanks to dot4xn: q8_0 rows ran prompts of 8-48 tokens 1.1-2x
 * faster than sgemm, even at 64, behind from 96; q4_0 1.1-1.9x faster at 16-128 tokens, sgemm
 * 2-4 % ahead at 512; q4_K 1.2-1.3x faster at 16-32, behind from 64. */
static const pa_kernel_set avx512 = {
    "AVX-512+VNNI",
    quantize_x,
    to_f16,
    {
        [PA_W_F32] = {false, dot4_f32, dot1_f32, to_f32_f32, dot4xn_f32, dot4_stripes_f32,
                      20},
        [PA_W_F16] = {false, dot4_f16, dot1_f16, to_f32_f16, dot4xn_f16, dot4_stripes_f16,
                      28},
        [PA_W_BF16] = {false, dot4_bf16, dot1_bf16, to_f32_bf16, dot4xn_bf16, dot4_stripes_bf16,
                      28},
        [PA_W_Q8_0] = {true, dot4_q8_0, dot1_q8_0, to_f32_q8_0, dot4xn_q8_0, dot4_stripes_q8_0,
                      64},
        [PA_W_Q4_0] = {true, dot4_q4_0, dot1_q4_0, to_f32_q4_0, dot4xn_q4_0, dot4_stripes_q4_0,
                      256},
        [PA_W_Q4_K] = {true, dot4_q4_k, dot1_q4_k, to_f32_q4_k, dot4xn_q4_k, dot4_stripes_q4_k,
                      48},
    },
};

const pa_kernel_set *pa_kernels_avx512(void) {
    if (!pa_cpu_has_avx512()) return NULL;
    pa_f16_table_fill();
    return &avx512;
}

/* The AVX-512 set with q4_0 in quads where the CPU has VBMI's byte permutes (Intel Ice Lake
 * and later, AMD Zen 4 and later) */
static pa_kernel_set avx512_vbmi;
static void make_avx512_vbmi(void) {
    if (!pa_kernels_avx512() || !pa_cpu_has_avx512_vbmi()) return;
    make_q4_k_tables();
    avx512_vbmi = avx512;
    avx512_vbmi.name = "AVX-512+VNNI+VBMI";
    USE_QUADS(&avx512_vbmi.types[PA_W_Q4_0], q4_0);
    avx512_vbmi.types[PA_W_Q4_0].prefetch_bytes = PA_PREFETCH_BYTES_4BIT;
    USE_QUADS(&avx512_vbmi.types[PA_W_Q8_0], q8_0);
    pa_row_kernels *q4_k = &avx512_vbmi.types[PA_W_Q4_K];
    q4_k->dot4 = dot4_q4_k_zmm4;
    q4_k->dot1 = dot1_q4_k_zmm;
    q4_k->dot4xn = dot4xn_q4_k_zmm;
    q4_k->prepared_bytes = prepared_bytes_q4_k_zmm;
    q4_k->prepare_x = prepare_x_q4_k_zmm;
    q4_k->dot4xn_prepared = dot4xn_prepared_q4_k_zmm;
    q4_k->dot4_stripes = dot4_stripes_q4_k_zmm;
    q4_k->prefetch_bytes = PA_PREFETCH_BYTES_4BIT;
    /* No sgemm but for f32: on Zen 5 (no AMX; OpenBLAS 0.3.21 runs its Haswell kernels
     * there) the row kernels stayed ahead at every length measured, pp16-pp2048, one thread,
     * pp512: q4_0 1243 against 577 tokens/s through sgemm, q8_0 1035 / 574, q4_K 700 / 598,
     * f16 887 / 593, bf16 892 / 584; f32 rows 464 against 636. */
    for (int t = 0; t < PA_W_COUNT; t++)
        if (t != PA_W_F32) avx512_vbmi.types[t].sgemm_from = INT_MAX;
}

const pa_kernel_set *pa_kernels_avx512_vbmi(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, make_avx512_vbmi);
    return avx512_vbmi.name ? &avx512_vbmi : NULL;
}

/* CPUID leaf 7: EBX AVX-512 F (bit 16), BW (30), VL (31), ECX VNNI (11); XCR0 bits 5-7 say the
 * OS saves the opmask and ZMM state. AVX2/FMA/F16C are required too: the kernels use them
 * alongside. */
bool pa_cpu_has_avx512(void) {
    if (!pa_cpu_has_avx2()) return false;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const unsigned needed = (1u << 16) | (1u << 30) | (1u << 31);
    if ((b & needed) != needed || !(c & (1u << 11))) return false;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    return (xcr0_lo & 0xe6) == 0xe6;
}

/* CPUID leaf 7: ECX AVX-512 VBMI (bit 1), beside the set above */
bool pa_cpu_has_avx512_vbmi(void) {
    unsigned a, b, c, d;
    return pa_cpu_has_avx512() && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c & (1u << 1));
}

#endif
