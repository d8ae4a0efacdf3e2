/*
 * AVX2 + FMA + F16C row kernels. Compiled with target attributes and chosen at run time
 * (ops.c), so the library still runs on any x86-64.
 *
 * As in kernels_avx512.c, every float kernel is written once for R rows (R = 1 or 4 after
 * inlining) that share the loads of x and keep their own accumulators in the same order, so
 * dot4 and dot1 agree bit for bit; float rows end in a scalar loop for the last n % 8 values.
 * The quantized kernels take four rows and up to four tokens a call, one row (dot1) in all
 * four places, each (row, token) through the same steps whatever else shares the call.
 */
#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#include <limits.h>
#include <string.h>

#include "../../core/f16.h"
#include "vsum.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE AVX2 static inline __attribute__((always_inline))

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
        PA_UNROLL_ROWS                                                                       \
        for (int j = 0; j < R; j++) a[j] = b[j] = _mm256_setzero_ps();                       \
        int i = 0;                                                                           \
        for (; i + 32 <= n; i += 32) {                                                       \
            PA_UNROLL_ROWS                                                                   \
            for (int j = 0; j < R; j++)                                                      \
                for (int line = 0; line < 32 * (ELEM) / 64; line++)                          \
                    prefetch(rows[j] + (size_t)i * (ELEM) + 64 * line + PA_PREFETCH_BYTES);  \
            const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);       \
            const __m256 x2 = _mm256_loadu_ps(x + i + 16), x3 = _mm256_loadu_ps(x + i + 24); \
            PA_UNROLL_ROWS                                                                   \
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
            PA_UNROLL_ROWS                                                                   \
            for (int j = 0; j < R; j++)                                                      \
                a[j] = _mm256_fmadd_ps(LOAD(rows[j] + (size_t)i * (ELEM)), xv, a[j]);        \
        }                                                                                    \
        PA_UNROLL_ROWS                                                                       \
        for (int j = 0; j < R; j++) {                                                        \
            float sum = hsum8(_mm256_add_ps(a[j], b[j]));                                     \
            for (int k = i; k < n; k++) sum += SCALAR(rows[j] + (size_t)k * (ELEM)) * x[k];  \
            out[j] = sum;                                                                    \
        }                                                                                    \
    }

FLOAT_DOT(dot_f32, load_f32, scalar_f32, 4)
FLOAT_DOT(dot_f16, load_f16, scalar_f16, 2)
FLOAT_DOT(dot_bf16, load_bf16, scalar_bf16, 2)

/* ---------------------------------------------------------------------------------------- */
/* Quantized rows: four rows at a time, each row's integer Σ q_w·q_x per block exact, the four
 * rows' sums then gathered into one vector (four_rows_sums) that takes the scales and the
 * float add of all four in one multiply and one FMA; the x side of a step, which every group
 * of rows shares, made once per token where it can be (prepare_x: for a batch, or for a
 * thread's rows in decode). One row (dot1) goes through the same kernel in all four places. */

/* 8 signed bytes at p -> 8 floats */
INLINE __m256 widen_i8(const uint8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}
INLINE __m256 widen_i8_reg(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

/* The 32 nibbles of 16 bytes: the low halves, then the high halves (a q4_0 block in x order;
 * q4_K's sub-blocks 2c and 2c + 1 side by side). The 16 bytes are loaded into both halves of
 * the register (a load with no shuffle) and the upper half shifted by 4. */
INLINE __m256i q4_0_nibbles(const uint8_t *qs) {
    const __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    const __m256i shift = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
    return _mm256_and_si256(_mm256_srlv_epi32(raw, shift), _mm256_set1_epi8(0xf));
}

/* 16 bytes at `first` in the low half of a register and 16 at `second` in the high half; with
 * pair false the high half is zero and `second` is not read (a row's last block when their
 * number is odd: nothing past the row is read). */
INLINE __m256i pair_of_128(const uint8_t *first, const uint8_t *second, bool pair) {
    const __m128i a = _mm_loadu_si128((const __m128i *)first);
    if (!pair) return _mm256_zextsi128_si256(a);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(a),
                                   _mm_loadu_si128((const __m128i *)second), 1);
}

/* The f16 at `off` in each of four rows (a block's scale), as [d0 d1 d2 d3] */
INLINE __m128 four_f16_scales(const uint8_t *const *rows, size_t off) {
    uint16_t b0, b1, b2, b3; /* spelled out: a loop over j went through the stack */
    memcpy(&b0, rows[0] + off, 2);
    memcpy(&b1, rows[1] + off, 2);
    memcpy(&b2, rows[2] + off, 2);
    memcpy(&b3, rows[3] + off, 2);
    return _mm_setr_ps(pa_f16_table[b0], pa_f16_table[b1], pa_f16_table[b2], pa_f16_table[b3]);
}

/* Before each loop over a call's (up to four) tokens: unrolled, the steps of different tokens
 * interleave (batches of rows in cache, one core: q4_0 and q8_0 +3-4 %, q4_K +2 %) */
#define UNROLL_TOKENS _Pragma("GCC unroll 4")

/* out[t * 4 + j] = lane j + lane 4 + j of acc[t]: row j's value from its two halves */
INLINE void store_halves_added(const __m256 *acc, int T, float *out) {
    for (int t = 0; t < T; t++)
        _mm_storeu_ps(out + 4 * t, _mm_add_ps(_mm256_castps256_ps128(acc[t]),
                                              _mm256_extractf128_ps(acc[t], 1)));
}

/* Four rows' sums of 8-lane int32 vectors p0..p3, each 128-bit half apart: lane j of a half is
 * the sum of p_j's four lanes there (two rounds of interleave and add). */
INLINE __m256i four_rows_sums(__m256i p0, __m256i p1, __m256i p2, __m256i p3) {
    const __m256i a = _mm256_add_epi32(_mm256_unpacklo_epi32(p0, p1),
                                       _mm256_unpackhi_epi32(p0, p1));
    const __m256i b = _mm256_add_epi32(_mm256_unpacklo_epi32(p2, p3),
                                       _mm256_unpackhi_epi32(p2, p3));
    return _mm256_add_epi32(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
}

/* One row's Σ nibble·q_x over each block of a pair (or q4_K sub-block), spread over its
 * half's four lanes: maddubs (nibbles unsigned, at most 2·15·127 a pair of products), the two
 * halves of the block added as 16 bits, then widened in pairs. */
INLINE __m256i q4_0_pair_dot(__m256i w_lo, __m256i w_hi, __m256i x_lo, __m256i x_hi) {
    const __m256i sum16 = _mm256_add_epi16(_mm256_maddubs_epi16(w_lo, x_lo),
                                           _mm256_maddubs_epi16(w_hi, x_hi));
    return _mm256_madd_epi16(sum16, _mm256_set1_epi16(1));
}

/* [a a a a b b b b] */
INLINE __m256 halves_of(float a, float b) {
    return _mm256_set_m128(_mm_set1_ps(b), _mm_set1_ps(a));
}

/* The x side of a pair of blocks, which all rows share: made as a step needs it, or once per
 * token for a batch or a thread's rows (prepare_x_q4_0; 2 bytes per value) */
typedef struct q4_0_x_pair {
    __m256i lo, hi;  /* [x values 0-15 of block blk | of blk + 1], then values 16-31 */
    __m256i offset;  /* [-8·Σ q_x of blk x4 | of blk + 1 x4] */
    __m256 d;        /* [d_x of blk x4 | of blk + 1 x4] */
} q4_0_x_pair;

INLINE q4_0_x_pair q4_0_x_pair_of(const pa_xq8 *x, int blk, bool pair) {
    const uint8_t *q = (const uint8_t *)(x->q + 32 * blk);
    const int32_t *sum = x->sum + blk;
    const float *d = x->d + blk;
    q4_0_x_pair p;
    p.lo = pair_of_128(q, q + 32, pair);
    p.hi = pair_of_128(q + 16, q + 48, pair);
    p.offset = pair ? _mm256_set_m128i(_mm_set1_epi32(-8 * sum[1]), _mm_set1_epi32(-8 * sum[0]))
                    : _mm256_zextsi128_si256(_mm_set1_epi32(-8 * sum[0]));
    p.d = pair ? halves_of(d[0], d[1]) : _mm256_zextps128_ps256(_mm_set1_ps(d[0]));
    return p;
}

/* Steps of two blocks, the last alone where their number is odd */
static inline int q4_0_pairs(int n) { return (n / PA_Q4_0_BLOCK + 1) / 2; }

/* Pair i (blocks 2i, 2i + 1) of four rows with T tokens, each token's x side from px[t]
 * (prepared) or made here from x[t] (px NULL) */
INLINE void q4_0_pair_step(const uint8_t *const *rows, int T, const pa_xq8 *const *x,
                           const q4_0_x_pair *const *px, int i, bool pair, __m256 *acc) {
    const int blk = 2 * i;
    const size_t off = (size_t)blk * PA_Q4_0_BYTES;
    const __m256i low4 = _mm256_set1_epi8(0xf);
    __m256i w_lo[4], w_hi[4];
    PA_UNROLL_ROWS
    for (int j = 0; j < 4; j++) {
        if (i % 2 == 0) prefetch(rows[j] + off + PA_PREFETCH_BYTES);
        const __m256i raw = pair_of_128(rows[j] + off + 2, rows[j] + off + 20, pair);
        w_lo[j] = _mm256_and_si256(raw, low4);
        w_hi[j] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
    }
    const __m128 d0 = four_f16_scales(rows, off);
    const __m256 dw = pair ? _mm256_set_m128(four_f16_scales(rows, off + PA_Q4_0_BYTES), d0)
                           : _mm256_zextps128_ps256(d0);
    UNROLL_TOKENS
    for (int t = 0; t < T; t++) {
        const q4_0_x_pair xp = px ? px[t][i] : q4_0_x_pair_of(x[t], blk, pair);
        __m256i p[4];
        PA_UNROLL_ROWS
        for (int j = 0; j < 4; j++) p[j] = q4_0_pair_dot(w_lo[j], w_hi[j], xp.lo, xp.hi);
        const __m256i sums = _mm256_add_epi32(four_rows_sums(p[0], p[1], p[2], p[3]), xp.offset);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(dw, xp.d), acc[t]);
    }
}

/* out[t * 4 + j] = rows[j] · x[t] for 4 rows and T tokens (1 to 4), x rounded to 8 bits (its
 * x side prepared in px[t], or px NULL). Per block, Σ (nibble - 8)·q_x = Σ nibble·q_x - 8·Σ q_x
 * as an exact integer, two blocks a step, the rows' sums gathered into one vector (lane j and
 * 4 + j: row j's sums over the two blocks) that takes its scales d_w·d_x in one multiply and
 * its float add in one FMA; row j's value is lane j + lane 4 + j at the end. Each step is per
 * (row, token) and a prepared x side holds what a step makes, so any T, prepared or not, gives
 * the same bits for a (row, token). Against one vector per row and block (its scale multiply,
 * conversion and FMA per row), 768 x 768 q4_0 rows in cache on one Zen 5 core: one token
 * 29.2 -> 33.0 GB/s, 4 to 27 tokens 53-54 -> 79-81 billion products a second, and batches
 * no longer go to sgemm (pp512 +20 % on one core: sgemm ran at its f32 peak). */
INLINE void dot_q4_0_nx(const uint8_t *const *rows, int T, const pa_xq8 *const *x,
                        const q4_0_x_pair *const *px, int n, float *out) {
    __m256 acc[4];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    const int blocks = n / PA_Q4_0_BLOCK;
    int i = 0;
    for (; 2 * i + 2 <= blocks; i++) q4_0_pair_step(rows, T, x, px, i, true, acc);
    if (2 * i < blocks) q4_0_pair_step(rows, T, x, px, i, false, acc);
    store_halves_added(acc, T, out);
}

AVX2 static size_t prepared_bytes_q4_0(int n) {
    return (size_t)q4_0_pairs(n) * sizeof(q4_0_x_pair);
}

AVX2 static void prepare_x_q4_0(const void *x, int n, void *out) {
    q4_0_x_pair *pairs = out;
    const int blocks = n / PA_Q4_0_BLOCK;
    for (int i = 0; 2 * i < blocks; i++)
        pairs[i] = q4_0_x_pair_of(x, 2 * i, 2 * i + 2 <= blocks);
}

/* dot4, dot1, dot4xn, dot4xn_prepared and dot4_stripes of a type whose kernel dot_<type>_nx(rows,
 * T, x, px, n, out) takes four rows and its x side as X_SIDE units, each token's prepared
 * (px[t]) or made by each step (px NULL): dot1 puts its row in all four places, dot4xn takes
 * four tokens a call (T a constant in each), and the stripes make a token's x side once for
 * all of a thread's rows where it fits in 16 KiB of stack (rows of 8192 values), longer rows
 * per step. */
#define STRIPE_X_BYTES 16384
#define PREPARED_ENTRY_POINTS(type, X_SIDE)                                                   \
    AVX2 static void dot4_##type(const void *const rows[4], const void *x, int n,             \
                                 float out[4]) {                                              \
        const pa_xq8 *xs[1] = {x};                                                            \
        dot_##type##_nx((const uint8_t *const *)rows, 1, xs, NULL, n, out);                   \
    }                                                                                         \
    AVX2 static float dot1_##type(const void *row, const void *x, int n) {                    \
        const uint8_t *rows[4] = {row, row, row, row}; /* the row in all four places */       \
        const pa_xq8 *xs[1] = {x};                                                            \
        float out[4];                                                                         \
        dot_##type##_nx(rows, 1, xs, NULL, n, out);                                           \
        return out[0];                                                                        \
    }                                                                                         \
    INLINE void type##_tokens(const uint8_t *const *rows, const pa_xq8 *const *x,              \
                              const X_SIDE *const *px, int n_x, int n, float *out) {           \
        int t = 0;                                                                            \
        for (; t + 4 <= n_x; t += 4)                                                          \
            dot_##type##_nx(rows, 4, x + t, px ? px + t : NULL, n, out + 4 * t);               \
        const X_SIDE *const *px_left = px ? px + t : NULL;                                    \
        if (n_x - t == 3) dot_##type##_nx(rows, 3, x + t, px_left, n, out + 4 * t);           \
        else if (n_x - t == 2) dot_##type##_nx(rows, 2, x + t, px_left, n, out + 4 * t);      \
        else if (n_x - t == 1) dot_##type##_nx(rows, 1, x + t, px_left, n, out + 4 * t);      \
    }                                                                                         \
    AVX2 static void dot4xn_##type(const void *const rows[4], const void *const *x, int n_x,  \
                                   int n, float *out) {                                       \
        type##_tokens((const uint8_t *const *)rows, (const pa_xq8 *const *)x, NULL, n_x, n,   \
                      out);                                                                   \
    }                                                                                         \
    AVX2 static void dot4xn_prepared_##type(const void *const rows[4], const void *const *x,  \
                                            const void *const *prepared, int n_x, int n,      \
                                            float *out) {                                     \
        type##_tokens((const uint8_t *const *)rows, (const pa_xq8 *const *)x,                 \
                      (const X_SIDE *const *)prepared, n_x, n, out);                          \
    }                                                                                         \
    AVX2 static void dot4_stripes_##type(const void *first, size_t row_bytes, int64_t stripe, \
                                         const void *x, int n, float *y) {                    \
        X_SIDE units[STRIPE_X_BYTES / sizeof(X_SIDE)];                                        \
        const X_SIDE *made = NULL;                                                            \
        if (prepared_bytes_##type(n) <= sizeof units) {                                       \
            prepare_x_##type(x, n, units);                                                    \
            made = units;                                                                     \
        }                                                                                     \
        const pa_xq8 *xs[1] = {x};                                                            \
        for (int64_t i = 0; i < stripe; i++) {                                                \
            const uint8_t *rows[4];                                                           \
            for (int j = 0; j < 4; j++)                                                       \
                rows[j] = (const uint8_t *)first + (uint64_t)(j * stripe + i) * row_bytes;    \
            float out[4];                                                                     \
            dot_##type##_nx(rows, 1, xs, made ? &made : NULL, n, out);                        \
            for (int j = 0; j < 4; j++) y[j * stripe + i] = out[j];                           \
        }                                                                                     \
    }
PREPARED_ENTRY_POINTS(q4_0, q4_0_x_pair)

/* q8_0: the x side of a block widened to 16 bits, which all rows share (prepared: 2 bytes per
 * value) */
typedef struct q8_0_x_block {
    __m256i lo, hi; /* x values 0-15, 16-31 */
} q8_0_x_block;

INLINE q8_0_x_block q8_0_x_block_of(const pa_xq8 *x, int blk) {
    const int8_t *q = x->q + 32 * blk;
    q8_0_x_block b;
    b.lo = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)q));
    b.hi = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + 16)));
    return b;
}

/* Block blk of four rows with T tokens: per row, Σ q_w·q_x with the products widened to 16 bits
 * (exact for every int8, -128 included, where maddubs's unsigned operand is not), lanes of a
 * half holding values 0-7 and 16-23 (low) or 8-15 and 24-31 (high); the rows' sums gathered
 * into one vector as in q4_0_pair_step, scaled by [d_w·d_x | d_w·d_x]. */
INLINE void q8_0_block_step(const uint8_t *const *rows, int T, const pa_xq8 *const *x,
                            const q8_0_x_block *const *px, int blk, __m256 *acc) {
    const size_t off = (size_t)blk * PA_Q8_0_BYTES;
    __m256i w_lo[4], w_hi[4];
    PA_UNROLL_ROWS
    for (int j = 0; j < 4; j++) {
        if (blk % 2 == 0) prefetch(rows[j] + off + PA_PREFETCH_BYTES);
        const uint8_t *q = rows[j] + off + 2;
        w_lo[j] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)q));
        w_hi[j] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + 16)));
    }
    const __m128 d4 = four_f16_scales(rows, off);
    const __m256 dw = _mm256_set_m128(d4, d4);
    UNROLL_TOKENS
    for (int t = 0; t < T; t++) {
        const q8_0_x_block xb = px ? px[t][blk] : q8_0_x_block_of(x[t], blk);
        __m256i p[4];
        PA_UNROLL_ROWS
        for (int j = 0; j < 4; j++)
            p[j] = _mm256_add_epi32(_mm256_madd_epi16(w_lo[j], xb.lo),
                                    _mm256_madd_epi16(w_hi[j], xb.hi));
        const __m256 sums = _mm256_cvtepi32_ps(four_rows_sums(p[0], p[1], p[2], p[3]));
        const __m256 s = _mm256_mul_ps(dw, _mm256_broadcast_ss(&x[t]->d[blk]));
        acc[t] = _mm256_fmadd_ps(sums, s, acc[t]);
    }
}

INLINE void dot_q8_0_nx(const uint8_t *const *rows, int T, const pa_xq8 *const *x,
                        const q8_0_x_block *const *px, int n, float *out) {
    __m256 acc[4];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int blk = 0; blk < n / PA_Q8_0_BLOCK; blk++) q8_0_block_step(rows, T, x, px, blk, acc);
    store_halves_added(acc, T, out);
}

AVX2 static size_t prepared_bytes_q8_0(int n) {
    return (size_t)(n / PA_Q8_0_BLOCK) * sizeof(q8_0_x_block);
}

AVX2 static void prepare_x_q8_0(const void *x, int n, void *out) {
    q8_0_x_block *blocks = out;
    for (int blk = 0; blk < n / PA_Q8_0_BLOCK; blk++) blocks[blk] = q8_0_x_block_of(x, blk);
}

PREPARED_ENTRY_POINTS(q8_0, q8_0_x_block)

/* q4_K: the x side of 64 values (a chunk of 32 weight bytes: sub-blocks 2c and 2c + 1), which
 * all rows share (prepared: 2 bytes per value) */
typedef struct q4_k_x_chunk {
    __m256i lo, hi; /* [x values 0-15 of sub-block 2c | of 2c + 1], then values 16-31 */
    __m256 d, dsum; /* [d_x of 2c x4 | of 2c + 1 x4], the same of d_x·Σ q_x */
} q4_k_x_chunk;

INLINE q4_k_x_chunk q4_k_x_chunk_of(const pa_xq8 *x, int chunk) {
    const int xb = 2 * chunk; /* x block of sub-block 2c */
    const uint8_t *q = (const uint8_t *)(x->q + 32 * xb);
    q4_k_x_chunk c;
    c.lo = pair_of_128(q, q + 32, true);
    c.hi = pair_of_128(q + 16, q + 48, true);
    c.d = halves_of(x->d[xb], x->d[xb + 1]);
    c.dsum = halves_of(x->dsum[xb], x->dsum[xb + 1]);
    return c;
}

/* Rows j = 0..3 of a 4 x 8 matrix of floats (v[j]) as four vectors, vector s holding column s
 * in its low half and column s + 4 in its high half */
INLINE void columns_s_and_s4(const __m256 v[4], __m256 out[4]) {
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    out[0] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    out[1] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    out[2] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    out[3] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
}

/* 8 bytes in the order 0 2 4 6 1 3 5 7, as floats times `scale`: columns_s_and_s4 then pairs
 * column 2c with 2c + 1 */
INLINE __m256 evens_then_odds(const uint8_t v[8], __m256 scale) {
    const __m128i order = _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i b = _mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)v), order);
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)), scale);
}

/* Block blk of four rows with T tokens, a chunk of 32 bytes at a time: chunk c holds sub-blocks
 * 2c (low nibbles) and 2c + 1 (high), which go side by side in the two halves of a register
 * as q4_0's pairs of blocks do; per token the rows' Σ nibble·q_x come out in one vector,
 * scaled by d·sc·d_x, less dmin·m·(d_x·Σ q_x), one FMA each for four rows. */
INLINE void q4_k_block_step(const uint8_t *const *rows, int T, const pa_xq8 *const *x,
                            const q4_k_x_chunk *const *px, int blk, __m256 *acc) {
    const size_t off = (size_t)blk * PA_Q4_K_BYTES;
    __m256 sc[4], m[4]; /* row j's d·sc and dmin·m, evens then odds */
    PA_UNROLL_ROWS
    for (int j = 0; j < 4; j++) {
        const uint8_t *b = rows[j] + off;
        prefetch(b + PA_PREFETCH_BYTES);
        prefetch(b + 64 + PA_PREFETCH_BYTES);
        uint8_t scales[8], mins[8];
        pa_q4_k_scales_mins(b + 4, scales, mins);
        sc[j] = evens_then_odds(scales, table_scale(b));
        m[j] = evens_then_odds(mins, table_scale(b + 2));
    }
    __m256 scale[4], min[4]; /* chunk c: [rows' values of sub-block 2c | of 2c + 1] */
    columns_s_and_s4(sc, scale);
    columns_s_and_s4(m, min);
    for (int c = 0; c < 4; c++) {
        __m256i w_lo[4], w_hi[4]; /* [2c values 0-15 | 2c + 1 values 0-15], then 16-31 */
        PA_UNROLL_ROWS
        for (int j = 0; j < 4; j++) {
            const uint8_t *qs = rows[j] + off + 16 + 32 * c;
            w_lo[j] = q4_0_nibbles(qs);
            w_hi[j] = q4_0_nibbles(qs + 16);
        }
        UNROLL_TOKENS
        for (int t = 0; t < T; t++) {
            const q4_k_x_chunk xc = px ? px[t][4 * blk + c] : q4_k_x_chunk_of(x[t], 4 * blk + c);
            __m256i p[4];
            PA_UNROLL_ROWS
            for (int j = 0; j < 4; j++) p[j] = q4_0_pair_dot(w_lo[j], w_hi[j], xc.lo, xc.hi);
            const __m256 sums = _mm256_cvtepi32_ps(four_rows_sums(p[0], p[1], p[2], p[3]));
            acc[t] = _mm256_fmadd_ps(sums, _mm256_mul_ps(scale[c], xc.d), acc[t]);
            acc[t] = _mm256_fnmadd_ps(min[c], xc.dsum, acc[t]);
        }
    }
}

/* out[t * 4 + j] = rows[j] · x[t] for 4 rows and T tokens (1 to 4), x rounded to 8 bits (its x
 * side prepared in px[t], or px NULL): per sub-block s, (d·sc[s])·d_x · Σ nibble·q_x -
 * (dmin·m[s])·(d_x·Σ q_x), in q4_k_block_step's lanes; row j's value is lane j + lane 4 + j
 * at the end. Each step is per (row, token), so any T gives the same bits for a (row, token). */
INLINE void dot_q4_k_nx(const uint8_t *const *rows, int T, const pa_xq8 *const *x,
                        const q4_k_x_chunk *const *px, int n, float *out) {
    __m256 acc[4];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int blk = 0; blk < n / PA_Q4_K_BLOCK; blk++) q4_k_block_step(rows, T, x, px, blk, acc);
    store_halves_added(acc, T, out);
}

AVX2 static size_t prepared_bytes_q4_k(int n) {
    return (size_t)(n / 64) * sizeof(q4_k_x_chunk);
}

AVX2 static void prepare_x_q4_k(const void *x, int n, void *out) {
    q4_k_x_chunk *chunks = out;
    for (int c = 0; c < n / 64; c++) chunks[c] = q4_k_x_chunk_of(x, c);
}

PREPARED_ENTRY_POINTS(q4_k, q4_k_x_chunk)

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
        const __m256i q = _mm256_sub_epi8(q4_0_nibbles(b + 2), _mm256_set1_epi8(8));
        const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
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

/* dot4 and dot1 of a type, x being an X (const float or const pa_xq8) */
#define ENTRY_POINTS(type, X)                                                                 \
    AVX2 static void dot4_##type(const void *const rows[4], const void *x, int n,             \
                                 float out[4]) {                                              \
        dot_##type((const uint8_t *const *)rows, 4, (X *)x, n, out);                          \
    }                                                                                         \
    AVX2 static float dot1_##type(const void *row, const void *x, int n) {                    \
        const uint8_t *rows[1] = {row};                                                       \
        float out;                                                                            \
        dot_##type(rows, 1, (X *)x, n, &out);                                                 \
        return out;                                                                           \
    }
ENTRY_POINTS(f32, const float)
ENTRY_POINTS(f16, const float)
ENTRY_POINTS(bf16, const float)

#define STRIPES_ENTRY_POINT(type, X)                                                          \
    AVX2 static void dot4_stripes_##type(const void *first, size_t row_bytes, int64_t stripe, \
                                         const void *x, int n, float *y) {                    \
        PA_STRIPE_ROWS(dot_##type, (X *)x)                                                    \
    }
STRIPES_ENTRY_POINT(f32, const float)
STRIPES_ENTRY_POINT(f16, const float)
STRIPES_ENTRY_POINT(bf16, const float)

/* pa_f32_to_f16 eight at a time: F16C rounds to nearest even, overflows to infinity and keeps
 * subnormals as the scalar code does; only a NaN's payload would differ, so NaNs become the
 * quiet NaN of their sign first (sign | 0x7e00 then). */
AVX2 static void to_f16(const float *x, int n, uint16_t *out) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 quiet = _mm256_or_ps(_mm256_and_ps(v, _mm256_set1_ps(-0.0f)),
                                          _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000)));
        const __m256 clean = _mm256_blendv_ps(v, quiet, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        _mm_storeu_si128((__m128i *)(out + i),
                         _mm256_cvtps_ph(clean, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (; i < n; i++) out[i] = pa_f32_to_f16(x[i]);
}

/* pa_xq8_quantize, 32 values at a time, bit for bit: the maximum is exact in any order (max_ps
 * keeps the running value when a lane is NaN, as the scalar compare does), d and 1/d are the
 * same scalar operations, vcvtps2dq rounds to nearest even as lrintf does (and gives the same
 * 0x80000000 for NaN), and each int32 keeps its low byte as the cast to int8_t does (masked,
 * then packed without saturation). */
AVX2 static void quantize_x(const float *x, int n, const pa_xq8 *out) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i low_byte = _mm256_set1_epi32(0xff);
    for (int blk = 0; blk < n / 32; blk++) {
        const float *xb = x + 32 * blk;
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(xb + 8 * k);
            m = _mm256_max_ps(_mm256_and_ps(v[k], abs_mask), m);
        }
        const float amax = hmax8(m);
        const float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        __m256i q[4];
        for (int k = 0; k < 4; k++)
            q[k] = _mm256_and_si256(_mm256_cvtps_epi32(_mm256_mul_ps(v[k], _mm256_set1_ps(id))),
                                    low_byte);
        /* packs interleave 128-bit halves: bytes come out as dwords 0 4 1 5 2 6 3 7 */
        const __m256i bytes = _mm256_permutevar8x32_epi32(
            _mm256_packus_epi16(_mm256_packus_epi32(q[0], q[1]), _mm256_packus_epi32(q[2], q[3])),
            _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(out->q + 32 * blk), bytes);
        /* Σ of the bytes as int8: maddubs by 1 (unsigned 1 times signed byte), then pairs */
        const __m256i sums = _mm256_madd_epi16(
            _mm256_maddubs_epi16(_mm256_set1_epi8(1), bytes), _mm256_set1_epi16(1));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
        const int32_t sum = _mm_cvtsi128_si32(s4);
        out->d[blk] = d;
        out->sum[blk] = sum;
        out->dsum[blk] = d * (float)sum;
    }
}

static const pa_kernel_set avx2 = {
    "AVX2+FMA+F16C",
    quantize_x,
    to_f16,
    {
        [PA_W_F32] = {false, dot4_f32, dot1_f32, to_f32_f32, NULL, dot4_stripes_f32, 20},
        [PA_W_F16] = {false, dot4_f16, dot1_f16, to_f32_f16, NULL, dot4_stripes_f16, 28},
        [PA_W_BF16] = {false, dot4_bf16, dot1_bf16, to_f32_bf16, NULL, dot4_stripes_bf16, 28},
        /* the quantized rows at any batch length: on a Zen 5 core capped to AVX2 they led
         * sgemm at every length measured (pp512: Q4_0 +34 %, Q4_K +27 %, Q8_0 +1 %) */
        [PA_W_Q8_0] = {true, dot4_q8_0, dot1_q8_0, to_f32_q8_0, dot4xn_q8_0, dot4_stripes_q8_0,
                       INT_MAX, 0, prepared_bytes_q8_0, prepare_x_q8_0, dot4xn_prepared_q8_0,
                       0},
        [PA_W_Q4_0] = {true, dot4_q4_0, dot1_q4_0, to_f32_q4_0, dot4xn_q4_0, dot4_stripes_q4_0,
                       INT_MAX, 0, prepared_bytes_q4_0, prepare_x_q4_0, dot4xn_prepared_q4_0,
                       0},
        [PA_W_Q4_K] = {true, dot4_q4_k, dot1_q4_k, to_f32_q4_k, dot4xn_q4_k, dot4_stripes_q4_k,
                       INT_MAX, 0, prepared_bytes_q4_k, prepare_x_q4_k, dot4xn_prepared_q4_k,
                       0},
    },
};

const pa_kernel_set *pa_kernels_avx2(void) {
    if (!pa_cpu_has_avx2()) return NULL;
    pa_f16_table_fill();
    return &avx2;
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
