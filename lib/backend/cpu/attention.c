/*
 * Attention over one KV block: the scores of a query against the block's keys, and the
 * weighted sum of its values. K and V rows are f32 or f16 (the KV store's element type),
 * head_dim values each, `stride` elements apart. Decoding many agents reads every agent's
 * whole KV each step, so these loops are as hot as the weight GEMVs: AVX2 versions convert f16
 * with F16C and keep the output row in registers; portable C elsewhere (and for head sizes
 * that are not a multiple of 8).
 */
#include "attention.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "../../core/f16.h"
#include "kernels.h"
#include "ops.h"
#include "vexp.h"
#include "vsum.h"

/* ----------------------------------------------------------------------------------------- */
/* Portable                                                                                    */

/* Q8_0: value i is block i / 32's scale times its int8 i % 32 */
static float q8_scale(const uint8_t *row, int i) {
    uint16_t d;
    memcpy(&d, row + (size_t)(i / 32) * 34, 2);
    return pa_f16_to_f32(d);
}

static float load_kv(const void *row, int i, int elem_type) {
    if (elem_type == PA_ATTN_F16) return pa_f16_to_f32(((const uint16_t *)row)[i]);
    if (elem_type == PA_ATTN_Q8_0) {
        const uint8_t *b = row;
        return q8_scale(b, i) * (float)(int8_t)b[(size_t)(i / 32) * 34 + 2 + i % 32];
    }
    return ((const float *)row)[i];
}

static const void *kv_row(const void *base, size_t stride, int p, int elem_type) {
    (void)elem_type; /* stride is in bytes */
    return (const uint8_t *)base + (size_t)p * stride;
}

static void scores_portable(float *scores, const float *q, const void *k, size_t stride,
                            int first, int n, int hd, int elem_type, float scale) {
    for (int p = 0; p < n; p++) {
        const void *row = kv_row(k, stride, p, elem_type);
        float sum = 0;
        for (int i = 0; i < hd; i++) sum += q[i] * load_kv(row, first + i, elem_type);
        scores[p] = sum * scale;
    }
}

static void accumulate_portable(float *out, const float *w, const void *v, size_t stride,
                                int first, int n, int hd, int elem_type) {
    for (int p = 0; p < n; p++) {
        const void *row = kv_row(v, stride, p, elem_type);
        for (int i = 0; i < hd; i++) out[i] += w[p] * load_kv(row, first + i, elem_type);
    }
}

static void online_portable(float *acc, float *m, float *l, const float *q, const void *k,
                            const void *v, size_t stride, int first, int n, int hd,
                            int elem_type, float scale) {
    for (int p = 0; p < n; p++) {
        float s;
        scores_portable(&s, q, kv_row(k, stride, p, elem_type), 0, first, 1, hd, elem_type,
                        scale);
        if (s > *m) {
            const float c = expf(*m - s);
            *l *= c;
            for (int i = 0; i < hd; i++) acc[i] *= c;
            *m = s;
        }
        const float w = expf(s - *m);
        *l += w;
        accumulate_portable(acc, &w, kv_row(v, stride, p, elem_type), 0, first, 1, hd,
                            elem_type);
    }
}

/* Bytes of a head's hd values in a row of elem_type (Q8_0: hd a multiple of 32). */
static inline size_t slice_bytes(int hd, int elem_type) {
    return elem_type == PA_ATTN_F32   ? (size_t)hd * 4
           : elem_type == PA_ATTN_F16 ? (size_t)hd * 2
                                      : (size_t)(hd / 32) * 34;
}

/* Asks for row p of a slice read next (`bytes` from `slice` in row 0, rows `stride` apart):
 * the K loop asks for the next slice's K rows, the V loop for its V rows, one row for each row
 * read, so that the requests spread over the arithmetic (a block's worth at once stalled the
 * core until the memory system had taken them). */
static inline void request_row(const void *slice, size_t stride, int p, size_t bytes) {
    const uintptr_t row = (uintptr_t)slice + (size_t)p * stride;
    for (uintptr_t off = 0; off < bytes + (row & 63); off += 64)
        __builtin_prefetch((const void *)((row & ~(uintptr_t)63) + off));
}

/* ----------------------------------------------------------------------------------------- */
/* AVX2 + FMA + F16C                                                                           */

#ifdef PA_HAVE_X86_KERNELS
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline __m256 load8(const void *row, int i, int elem_type) {
    if (elem_type == PA_ATTN_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    if (elem_type == PA_ATTN_Q8_0) { /* 8 int8 of one block, times its scale */
        const uint8_t *b = (const uint8_t *)row + (size_t)(i / 32) * 34;
        int64_t q;
        memcpy(&q, b + 2 + i % 32, 8);
        const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(q)));
        return _mm256_mul_ps(v, _mm256_set1_ps(q8_scale(b - (size_t)(i / 32) * 34, i)));
    }
    return _mm256_loadu_ps((const float *)row + i);
}

/* Blocks of 8 positions: their scores at once (hsum8x8), the running maximum position by
 * position, their exponentials at once (pa_exp256), then the sequential update, so each
 * position still goes through exactly the steps online_portable describes, in order. A
 * position's score and exponential do not depend on the other positions of its block, so
 * splitting the positions into calls of any sizes gives bitwise the same state. Asks for a
 * row of the k_next / v_next slices for each K / V row it reads, as the AVX-512 kernels do
 * (one head at a time, from memory, it otherwise waited on every row). */
AVX2 static void online_avx2(float *acc, float *m, float *l, const float *q, const void *k,
                             const void *v, const void *k_next, const void *v_next,
                             size_t stride, int first, int n, int hd, int elem_type,
                             float scale) {
    const size_t next_bytes = slice_bytes(hd, elem_type);
    float mm = *m, ll = *l;
    for (int p0 = 0; p0 < n; p0 += 8) {
        const int np = n - p0 < 8 ? n - p0 : 8;
        __m256 d[8];
        for (int p = 0; p < 8; p++) { /* the block's scores */
            d[p] = _mm256_setzero_ps();
            if (p >= np) continue;
            if (k_next) request_row(k_next, stride, p0 + p, next_bytes);
            const void *row = kv_row(k, stride, p0 + p, elem_type);
            d[p] = _mm256_mul_ps(_mm256_loadu_ps(q), load8(row, first, elem_type));
            for (int i = 8; i < hd; i += 8)
                d[p] = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(row, first + i, elem_type),
                                       d[p]);
        }
        float s[8], m_before[8], m_at[8], w[8], c_up[8];
        _mm256_storeu_ps(s, _mm256_mul_ps(hsum8x8(d), _mm256_set1_ps(scale)));
        for (int p = 0; p < 8; p++) { /* the running maximum, position by position */
            m_before[p] = mm;
            if (p < np && s[p] > mm) mm = s[p];
            m_at[p] = mm;
        }
        const __m256 sv = _mm256_loadu_ps(s);
        _mm256_storeu_ps(w, pa_exp256(_mm256_sub_ps(sv, _mm256_loadu_ps(m_at))));
        _mm256_storeu_ps(c_up, pa_exp256(_mm256_sub_ps(_mm256_loadu_ps(m_before), sv)));
        for (int p = 0; p < np; p++) {
            if (k_next) request_row(v_next, stride, p0 + p, next_bytes);
            if (m_at[p] != m_before[p]) { /* a new maximum: rescale the sum */
                ll *= c_up[p];
                const __m256 cv = _mm256_set1_ps(c_up[p]);
                for (int i = 0; i < hd; i += 8)
                    _mm256_storeu_ps(acc + i, _mm256_mul_ps(cv, _mm256_loadu_ps(acc + i)));
            }
            ll += w[p];
            const void *row = kv_row(v, stride, p0 + p, elem_type);
            const __m256 wv = _mm256_set1_ps(w[p]);
            for (int i = 0; i < hd; i += 8)
                _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(wv, load8(row, first + i, elem_type),
                                                          _mm256_loadu_ps(acc + i)));
        }
    }
    *m = mm, *l = ll;
}

/* ----------------------------------------------------------------------------------------- */
/* AVX-512, head sizes 32, 64 and 128: q and the output row live in registers across the block;
 * a block's scores come first, then the running maximum position by position, then every
 * exponential of the block at once (exp512: the same function in every lane, so a position's
 * weight does not depend on which others share its call), then the sequential update. Each
 * position still goes through exactly the steps online_portable describes, in order. */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

AVX512 static inline __m512 load16(const void *row, int i, int elem_type) {
    if (elem_type == PA_ATTN_F16)
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + i)));
    if (elem_type == PA_ATTN_Q8_0) { /* 16 int8 of one block (i % 16 == 0), times its scale */
        const uint8_t *b = (const uint8_t *)row + (size_t)(i / 32) * 34;
        const __m512 v = _mm512_cvtepi32_ps(
            _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + 2 + i % 32))));
        return _mm512_mul_ps(v, _mm512_set1_ps(q8_scale(b - (size_t)(i / 32) * 34, i)));
    }
    return _mm512_loadu_ps((const float *)row + i);
}

/* m_at[p] = max(*mm, s[0..p]) and m_before[p] = the same before s[p], for p < np (<= 16),
 * as the scalar loop would have them (max is exact): a prefix maximum over the lanes; *mm
 * becomes the last. */
AVX512 static inline void running_max(const float *s, int np, float *mm, float *m_before,
                                      float *m_at) {
    const __m512 low = _mm512_set1_ps(*mm);
    __m512 x = _mm512_mask_loadu_ps(low, (__mmask16)((1u << np) - 1), s);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int shift = 1; shift < 16; shift *= 2) { /* lane i takes max over lanes i - shift .. i */
        const __mmask16 has = (__mmask16)(0xffffu << shift);
        const __m512 moved = _mm512_mask_permutexvar_ps(
            low, has, _mm512_sub_epi32(lane, _mm512_set1_epi32(shift)), x);
        x = _mm512_max_ps(x, moved);
    }
    x = _mm512_max_ps(x, low);
    _mm512_storeu_ps(m_at, x);
    _mm512_storeu_ps(m_before, _mm512_mask_permutexvar_ps(
                                   low, 0xfffe, _mm512_sub_epi32(lane, _mm512_set1_epi32(1)), x));
    *mm = m_at[np - 1];
}

/* G queries (0 < G <= 4 for HD = 32 and 64, <= 2 for HD = 128) over the same positions, each with
 * its own acc/m/l. With STEP 0 they read the same values of each row (queries of one KV head): a V
 * row is loaded and converted once for all of them, a K row once per query (from L1 after the
 * first). With STEP = HD query g reads the values STEP * g further on (G adjacent heads of one
 * token): their chains of dependent steps (scores, running maximum, exponentials, the sequential
 * update) interleave, where one head at a time left the core waiting on each (Zen 5, f16 rows in
 * cache: 6.0 -> 3.7 ns a position and head, three heads a call). A query's 16 positions' sums are
 * added up together (hsum16x16). Per query the steps and their order are those of G = 1, so
 * grouping never changes a result. */
#define ONLINE_AVX512(NAME, HD, G, STEP)                                                      \
    AVX512 static inline __attribute__((always_inline)) void NAME(                            \
                            float *const *acc, float *const *m, float *const *l,             \
                            const float *const *q, const void *k, const void *v,              \
                            const void *k_next, const void *v_next, size_t stride, int first, \
                            int n, int elem_type, float scale) {                              \
        enum { C = (HD) / 16 };                                                               \
        const size_t next_bytes = slice_bytes(HD, elem_type); /* a head's, each query's */    \
        float mm[G], ll[G];                                                                   \
        for (int g = 0; g < (G); g++) mm[g] = *m[g], ll[g] = *l[g];                           \
        for (int p0 = 0; p0 < n; p0 += 16) {                                                  \
            const int np = n - p0 < 16 ? n - p0 : 16;                                         \
            float s[G][16], m_at[G][16], m_before[G][16], w[G][16], c_up[G][16];              \
            _Pragma("GCC unroll 4") for (int g = 0; g < (G); g++) { /* the chunk's scores */   \
                __m512 qr[C], d[16];                                                          \
                _Pragma("GCC unroll 8") for (int c = 0; c < C; c++)                           \
                    qr[c] = _mm512_loadu_ps(q[g] + 16 * c);                                   \
                _Pragma("GCC unroll 16") for (int p = 0; p < 16; p++) {                       \
                    d[p] = _mm512_setzero_ps();                                               \
                    if (p >= np) continue;                                                    \
                    if ((g == 0 || (STEP)) && k_next)                                         \
                        request_row((const uint8_t *)k_next + g * next_bytes, stride, p0 + p, \
                                    next_bytes);                                              \
                    const void *row = kv_row(k, stride, p0 + p, elem_type);                   \
                    const int at = first + (STEP) * g;                                        \
                    d[p] = _mm512_mul_ps(qr[0], load16(row, at, elem_type));                  \
                    _Pragma("GCC unroll 8") for (int c = 1; c < C; c++)                       \
                        d[p] = _mm512_fmadd_ps(qr[c], load16(row, at + 16 * c, elem_type),    \
                                               d[p]);                                         \
                }                                                                             \
                _mm512_storeu_ps(s[g], _mm512_mul_ps(hsum16x16(d), _mm512_set1_ps(scale)));   \
            }                                                                                 \
            const __mmask16 lanes = (__mmask16)((1u << np) - 1);                              \
            for (int g = 0; g < (G); g++) { /* the running maximum, position by position */   \
                running_max(s[g], np, &mm[g], m_before[g], m_at[g]);                          \
                const __m512 sv = _mm512_maskz_loadu_ps(lanes, s[g]);                         \
                _mm512_storeu_ps(w[g], pa_exp512(_mm512_sub_ps(                                  \
                                           sv, _mm512_maskz_loadu_ps(lanes, m_at[g]))));      \
                _mm512_storeu_ps(c_up[g], pa_exp512(_mm512_sub_ps(                               \
                                              _mm512_maskz_loadu_ps(lanes, m_before[g]), sv))); \
            }                                                                                 \
            __m512 out[G][C];                                                                 \
            _Pragma("GCC unroll 4") for (int g = 0; g < (G); g++)                             \
                _Pragma("GCC unroll 8") for (int c = 0; c < C; c++)                           \
                    out[g][c] = _mm512_loadu_ps(acc[g] + 16 * c);                             \
            for (int p = 0; p < np; p++) {                                                    \
                const void *row = kv_row(v, stride, p0 + p, elem_type);                       \
                __m512 vr[C];                                                                 \
                _Pragma("GCC unroll 4") for (int g = 0; g < (G); g++) {                       \
                    if ((g == 0 || (STEP)) && k_next)                                         \
                        request_row((const uint8_t *)v_next + g * next_bytes, stride, p0 + p, \
                                    next_bytes);                                              \
                    if (g == 0 || (STEP)) /* shared rows: loaded once */                      \
                        _Pragma("GCC unroll 8") for (int c = 0; c < C; c++)                   \
                            vr[c] = load16(row, first + (STEP) * g + 16 * c, elem_type);      \
                    if (m_at[g][p] != m_before[g][p]) { /* a new maximum: rescale the sum */  \
                        ll[g] *= c_up[g][p];                                                  \
                        const __m512 cv = _mm512_set1_ps(c_up[g][p]);                         \
                        _Pragma("GCC unroll 8") for (int c = 0; c < C; c++)                   \
                            out[g][c] = _mm512_mul_ps(cv, out[g][c]);                         \
                    }                                                                         \
                    ll[g] += w[g][p];                                                         \
                    const __m512 wv = _mm512_set1_ps(w[g][p]);                                \
                    _Pragma("GCC unroll 8") for (int c = 0; c < C; c++)                       \
                        out[g][c] = _mm512_fmadd_ps(wv, vr[c], out[g][c]);                    \
                }                                                                             \
            }                                                                                 \
            _Pragma("GCC unroll 4") for (int g = 0; g < (G); g++)                             \
                _Pragma("GCC unroll 8") for (int c = 0; c < C; c++)                           \
                    _mm512_storeu_ps(acc[g] + 16 * c, out[g][c]);                             \
        }                                                                                     \
        for (int g = 0; g < (G); g++) *m[g] = mm[g], *l[g] = ll[g];                           \
    }

typedef void (*online_group_fn)(float *const *acc, float *const *m, float *const *l,
                                const float *const *q, const void *k, const void *v,
                                const void *k_next, const void *v_next, size_t stride,
                                int first, int n, int elem_type, float scale);

/* One kernel per head size, group size, kind of group (online: one KV head's queries; heads:
 * adjacent heads) and element type (a constant, so that the loads in the loops do not branch
 * on it). */
#define ONLINE_OF_TYPE(KIND, HD, G, SUFFIX, TYPE)                                             \
    AVX512 static void KIND##_##HD##x##G##_##SUFFIX(                                          \
        float *const *acc, float *const *m, float *const *l, const float *const *q,           \
        const void *k, const void *v, const void *k_next, const void *v_next, size_t stride,  \
        int first, int n, int type, float scale) {                                            \
        (void)type;                                                                           \
        KIND##_##HD##x##G(acc, m, l, q, k, v, k_next, v_next, stride, first, n, TYPE, scale); \
    }
#define ONLINE_TYPED(KIND, HD, G, STEP)                                                       \
    ONLINE_AVX512(KIND##_##HD##x##G, HD, G, STEP)                                             \
    ONLINE_OF_TYPE(KIND, HD, G, f32, PA_ATTN_F32)                                             \
    ONLINE_OF_TYPE(KIND, HD, G, f16, PA_ATTN_F16)                                             \
    ONLINE_OF_TYPE(KIND, HD, G, q8, PA_ATTN_Q8_0)

ONLINE_TYPED(online, 32, 1, 0)
ONLINE_TYPED(online, 32, 2, 0)
ONLINE_TYPED(online, 32, 3, 0)
ONLINE_TYPED(online, 32, 4, 0)
ONLINE_TYPED(online, 64, 1, 0)
ONLINE_TYPED(online, 64, 2, 0)
ONLINE_TYPED(online, 64, 3, 0)
ONLINE_TYPED(online, 64, 4, 0)
ONLINE_TYPED(online, 128, 1, 0)
ONLINE_TYPED(online, 128, 2, 0)
ONLINE_TYPED(heads, 32, 2, 32)
ONLINE_TYPED(heads, 32, 3, 32)
ONLINE_TYPED(heads, 64, 2, 64)
ONLINE_TYPED(heads, 64, 3, 64)
ONLINE_TYPED(heads, 128, 2, 128)

#define BY_TYPE(KIND, HD, G)                                                                  \
    {KIND##_##HD##x##G##_f32, KIND##_##HD##x##G##_f16, KIND##_##HD##x##G##_q8}
static const online_group_fn online_32[5][3] = {
    {NULL}, BY_TYPE(online, 32, 1), BY_TYPE(online, 32, 2), BY_TYPE(online, 32, 3),
    BY_TYPE(online, 32, 4)};
static const online_group_fn online_64[5][3] = {
    {NULL}, BY_TYPE(online, 64, 1), BY_TYPE(online, 64, 2), BY_TYPE(online, 64, 3),
    BY_TYPE(online, 64, 4)};
static const online_group_fn online_128[5][3] = {{NULL}, BY_TYPE(online, 128, 1),
                                                 BY_TYPE(online, 128, 2)};
/* one head is the one-query kernel */
static const online_group_fn heads_32[4][3] = {{NULL}, BY_TYPE(online, 32, 1),
                                               BY_TYPE(heads, 32, 2), BY_TYPE(heads, 32, 3)};
static const online_group_fn heads_64[4][3] = {{NULL}, BY_TYPE(online, 64, 1),
                                               BY_TYPE(heads, 64, 2), BY_TYPE(heads, 64, 3)};
static const online_group_fn heads_128[3][3] = {{NULL}, BY_TYPE(online, 128, 1),
                                                BY_TYPE(heads, 128, 2)};

/* The kernels of a head size (32, 64 or 128), by group size then element type. */
static const online_group_fn (*group_kernels(int hd))[3] {
    return hd == 32 ? online_32 : hd == 64 ? online_64 : online_128;
}
static const online_group_fn (*heads_kernels(int hd))[3] {
    return hd == 32 ? heads_32 : hd == 64 ? heads_64 : heads_128;
}
#endif

/* ----------------------------------------------------------------------------------------- */

static bool use_avx2, use_avx512;
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;

static void choose(void) {
#ifdef PA_HAVE_X86_KERNELS
    /* the same switch as the weight kernels: PYAGENT_KERNELS=portable forces plain C */
    use_avx2 = pa_cpu_simd_enabled() && pa_cpu_has_avx2();
    use_avx512 = pa_cpu_avx512_enabled();
#endif
}

/* pa_attn_online asking for k_next / v_next (NULL: nothing) as it reads, where the kernel can */
static void online_one(float *acc, float *m, float *l, const float *q, const void *k,
                       const void *v, const void *k_next, const void *v_next, size_t stride,
                       int first, int n, int hd, int elem_type, float scale) {
    pthread_once(&choose_once, choose);
#ifdef PA_HAVE_X86_KERNELS
    if (use_avx512 && (hd == 32 || hd == 64 || hd == 128) && first % 16 == 0) {
        group_kernels(hd)[1][elem_type](&acc, &m, &l, &q, k, v, k_next, v_next, stride, first,
                                        n, elem_type, scale);
        return;
    }
    if (use_avx2 && hd % 8 == 0 && first % 8 == 0) {
        online_avx2(acc, m, l, q, k, v, k_next, v_next, stride, first, n, hd, elem_type, scale);
        return;
    }
#endif
    (void)k_next, (void)v_next;
    online_portable(acc, m, l, q, k, v, stride, first, n, hd, elem_type, scale);
}

void pa_attn_online(float *acc, float *m, float *l, const float *q, const void *k, const void *v,
                    size_t stride, int first, int n, int hd, int elem_type, float scale) {
    online_one(acc, m, l, q, k, v, NULL, NULL, stride, first, n, hd, elem_type, scale);
}

void pa_attn_online_group(int n_q, float *const *acc, float *const *m, float *const *l,
                          const float *const *q, const void *k, const void *v,
                          const void *k_next, const void *v_next, size_t stride, int first, int n,
                          int hd, int elem_type, float scale) {
    pthread_once(&choose_once, choose);
#ifdef PA_HAVE_X86_KERNELS
    if (use_avx512 && (hd == 32 || hd == 64 || hd == 128) && first % 16 == 0) {
        const int most = hd == 128 ? 2 : 4;
        for (int i = 0; i < n_q; i += most) {
            const int g = n_q - i < most ? n_q - i : most;
            group_kernels(hd)[g][elem_type](acc + i, m + i, l + i, q + i, k, v, k_next, v_next,
                                            stride, first, n, elem_type, scale);
            k_next = v_next = NULL; /* asked for once */
        }
        return;
    }
#endif
    for (int i = 0; i < n_q; i++) /* the first query asks for the next slice */
        online_one(acc[i], m[i], l[i], q[i], k, v, i == 0 ? k_next : NULL,
                   i == 0 ? v_next : NULL, stride, first, n, hd, elem_type, scale);
}

void pa_attn_online_heads(int n_h, float *const *acc, float *const *m, float *const *l,
                          const float *const *q, const void *k, const void *v,
                          const void *k_next, const void *v_next, size_t stride, int first, int n,
                          int hd, int elem_type, float scale) {
    pthread_once(&choose_once, choose);
    int most = 1; /* heads a call */
#ifdef PA_HAVE_X86_KERNELS
    const bool heads_kernel = use_avx512 && (hd == 32 || hd == 64 || hd == 128) && first % 16 == 0;
    if (heads_kernel) most = hd == 128 ? 2 : 3; /* more spill the heads' sums out of registers */
#endif
    for (int i = 0; i < n_h; i += most) {
        const int g = n_h - i < most ? n_h - i : most, at = first + i * hd;
        const void *k_after = k_next, *v_after = v_next; /* the next heads', if any */
        if (i + g < n_h) {
            k_after = (const uint8_t *)k + slice_bytes(at + g * hd, elem_type);
            v_after = (const uint8_t *)v + slice_bytes(at + g * hd, elem_type);
        }
#ifdef PA_HAVE_X86_KERNELS
        if (heads_kernel) {
            heads_kernels(hd)[g][elem_type](acc + i, m + i, l + i, q + i, k, v, k_after, v_after,
                                            stride, at, n, elem_type, scale);
            continue;
        }
#endif
        online_one(acc[i], m[i], l[i], q[i], k, v, k_after, v_after, stride, at, n, hd,
                   elem_type, scale);
    }
}
