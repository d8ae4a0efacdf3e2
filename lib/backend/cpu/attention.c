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

/* ----------------------------------------------------------------------------------------- */
/* Portable                                                                                    */

static float load_kv(const void *row, int i, int elem_type) {
    return elem_type == PA_ATTN_F16 ? pa_f16_to_f32(((const uint16_t *)row)[i])
                                    : ((const float *)row)[i];
}

static const void *kv_row(const void *base, size_t stride, int p, int elem_type) {
    return (const uint8_t *)base + (size_t)p * stride * (elem_type == PA_ATTN_F16 ? 2 : 4);
}

static void scores_portable(float *scores, const float *q, const void *k, size_t stride, int n,
                            int hd, int elem_type, float scale) {
    for (int p = 0; p < n; p++) {
        const void *row = kv_row(k, stride, p, elem_type);
        float sum = 0;
        for (int i = 0; i < hd; i++) sum += q[i] * load_kv(row, i, elem_type);
        scores[p] = sum * scale;
    }
}

static void accumulate_portable(float *out, const float *w, const void *v, size_t stride, int n,
                                int hd, int elem_type) {
    for (int p = 0; p < n; p++) {
        const void *row = kv_row(v, stride, p, elem_type);
        for (int i = 0; i < hd; i++) out[i] += w[p] * load_kv(row, i, elem_type);
    }
}

static void online_portable(float *acc, float *m, float *l, const float *q, const void *k,
                            const void *v, size_t stride, int n, int hd, int elem_type,
                            float scale) {
    for (int p = 0; p < n; p++) {
        float s;
        scores_portable(&s, q, kv_row(k, stride, p, elem_type), 0, 1, hd, elem_type, scale);
        if (s > *m) {
            const float c = expf(*m - s);
            *l *= c;
            for (int i = 0; i < hd; i++) acc[i] *= c;
            *m = s;
        }
        const float w = expf(s - *m);
        *l += w;
        accumulate_portable(acc, &w, kv_row(v, stride, p, elem_type), 0, 1, hd, elem_type);
    }
}

/* ----------------------------------------------------------------------------------------- */
/* AVX2 + FMA + F16C                                                                           */

#ifdef PA_HAVE_X86_KERNELS
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline __m256 load8(const void *row, int i, int elem_type) {
    if (elem_type == PA_ATTN_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    return _mm256_loadu_ps((const float *)row + i);
}

AVX2 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static void scores_avx2(float *scores, const float *q, const void *k, size_t stride, int n,
                             int hd, int elem_type, float scale) {
    for (int p = 0; p < n; p++) {
        const void *row = kv_row(k, stride, p, elem_type);
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int i = 0;
        for (; i + 16 <= hd; i += 16) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(row, i, elem_type), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load8(row, i + 8, elem_type), a1);
        }
        for (; i < hd; i += 8)
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(row, i, elem_type), a0);
        scores[p] = hsum8(_mm256_add_ps(a0, a1)) * scale;
    }
}

/* out (hd,) += Σ_p w[p] V[p], 64 output values per pass held in 8 registers */
AVX2 static void accumulate_avx2(float *out, const float *w, const void *v, size_t stride, int n,
                                 int hd, int elem_type) {
    for (int j = 0; j < hd; j += 64) {
        const int m = hd - j < 64 ? hd - j : 64; /* a multiple of 8 */
        __m256 acc[8];
        for (int r = 0; r < m / 8; r++) acc[r] = _mm256_loadu_ps(out + j + 8 * r);
        for (int p = 0; p < n; p++) {
            const void *row = kv_row(v, stride, p, elem_type);
            const __m256 wp = _mm256_set1_ps(w[p]);
            for (int r = 0; r < m / 8; r++)
                acc[r] = _mm256_fmadd_ps(wp, load8(row, j + 8 * r, elem_type), acc[r]);
        }
        for (int r = 0; r < m / 8; r++) _mm256_storeu_ps(out + j + 8 * r, acc[r]);
    }
}

AVX2 static void online_avx2(float *acc, float *m, float *l, const float *q, const void *k,
                             const void *v, size_t stride, int n, int hd, int elem_type,
                             float scale) {
    for (int p = 0; p < n; p++) {
        float s;
        scores_avx2(&s, q, kv_row(k, stride, p, elem_type), 0, 1, hd, elem_type, scale);
        if (s > *m) {
            const float c = expf(*m - s);
            *l *= c;
            const __m256 cv = _mm256_set1_ps(c);
            for (int i = 0; i < hd; i += 8)
                _mm256_storeu_ps(acc + i, _mm256_mul_ps(cv, _mm256_loadu_ps(acc + i)));
            *m = s;
        }
        const float w = expf(s - *m);
        *l += w;
        const void *row = kv_row(v, stride, p, elem_type);
        const __m256 wv = _mm256_set1_ps(w);
        for (int i = 0; i < hd; i += 8)
            _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(wv, load8(row, i, elem_type),
                                                      _mm256_loadu_ps(acc + i)));
    }
}
#endif

/* ----------------------------------------------------------------------------------------- */

static bool use_avx2;
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;

static void choose(void) {
#ifdef PA_HAVE_X86_KERNELS
    /* the same switch as the weight kernels: PYAGENT_KERNELS=portable forces plain C */
    use_avx2 = pa_cpu_simd_enabled() && pa_cpu_has_avx2();
#endif
}

void pa_attn_scores(float *scores, const float *q, const void *k, size_t stride, int n, int hd,
                    int elem_type, float scale) {
    pthread_once(&choose_once, choose);
#ifdef PA_HAVE_X86_KERNELS
    if (use_avx2 && hd % 8 == 0) {
        scores_avx2(scores, q, k, stride, n, hd, elem_type, scale);
        return;
    }
#endif
    scores_portable(scores, q, k, stride, n, hd, elem_type, scale);
}

void pa_attn_online(float *acc, float *m, float *l, const float *q, const void *k, const void *v,
                    size_t stride, int n, int hd, int elem_type, float scale) {
    pthread_once(&choose_once, choose);
#ifdef PA_HAVE_X86_KERNELS
    if (use_avx2 && hd % 8 == 0) {
        online_avx2(acc, m, l, q, k, v, stride, n, hd, elem_type, scale);
        return;
    }
#endif
    online_portable(acc, m, l, q, k, v, stride, n, hd, elem_type, scale);
}

void pa_attn_accumulate(float *out, const float *w, const void *v, size_t stride, int n, int hd,
                        int elem_type) {
    pthread_once(&choose_once, choose);
#ifdef PA_HAVE_X86_KERNELS
    if (use_avx2 && hd % 8 == 0) {
        accumulate_avx2(out, w, v, stride, n, hd, elem_type);
        return;
    }
#endif
    accumulate_portable(out, w, v, stride, n, hd, elem_type);
}
