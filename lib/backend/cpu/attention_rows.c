/*
 * Causal attention of a prompt's query rows, up to PA_ATTN_ROWS of one head at a time, with the
 * rows side by side in vector lanes (attention.h). Scores and weights are kept transposed, a
 * position's 32 rows in one 128-byte line, so that each step of both products is one broadcast
 * of a K or V value times the rows' vectors: the register tile of a GEMM microkernel, without
 * packing either operand per call, and the softmax goes down the positions with all rows at
 * once. Rows past n_rows are not computed where a whole vector of them is unused.
 *
 * Before this, the rows went through OpenBLAS sgemm twice per (32 rows, head) with a row-wise
 * softmax between: on a Zen 5 core ~3.2 ns per (row, position) pair at head size 64 (packing
 * both operands on every call, 32 x n x 64 products), 20 % of a Q4_0 pp512 on one thread.
 */
#include "attention.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "kernels.h"
#include "ops.h"
#include "vexp.h"
#include "vsum.h"

enum { ROWS = PA_ATTN_ROWS };
enum { FEW_ROWS = 4, FEW_MAX_HD = 256 }; /* the few-rows kernels' rows and head sizes, at most */

/* ----------------------------------------------------------------------------------------- */
/* Portable: the definitions, rows r < n_rows only                                            */

static void scores_portable(float *st, const float *qt, const float *k, size_t ld, int n, int hd,
                            int n_rows) {
    for (int p = 0; p < n; p++) {
        float *s = st + (size_t)ROWS * p;
        for (int r = 0; r < n_rows; r++) s[r] = 0;
        for (int d = 0; d < hd; d++) {
            const float kd = k[(size_t)p * ld + d];
            for (int r = 0; r < n_rows; r++) s[r] += kd * qt[ROWS * d + r];
        }
    }
}

static void values_portable(float *ot, const float *st, const float *v, size_t ld, int n, int hd,
                            int n_rows) {
    for (int p = 0; p < n; p++)
        for (int d = 0; d < hd; d++) {
            const float vd = v[(size_t)p * ld + d];
            for (int r = 0; r < n_rows; r++) ot[ROWS * d + r] += vd * st[(size_t)ROWS * p + r];
        }
}

/* Whether row r sees position p: p <= first_pos + r, and p not pruned (-inf) */
static inline bool sees(const float *st, int p, int r, int first_pos) {
    return p <= first_pos + r && st[(size_t)ROWS * p + r] != -INFINITY;
}

static void max_portable(const float *st, int n, int first_pos, int n_rows, float *max) {
    for (int p = 0; p < n; p++)
        for (int r = 0; r < n_rows; r++)
            if (sees(st, p, r, first_pos) && st[(size_t)ROWS * p + r] > max[r])
                max[r] = st[(size_t)ROWS * p + r];
}

static void exp_portable(float *st, int n, int first_pos, int n_rows, const float *max,
                         float *sums) {
    for (int p = 0; p < n; p++)
        for (int r = 0; r < n_rows; r++) {
            float *w = &st[(size_t)ROWS * p + r];
            *w = sees(st, p, r, first_pos) ? expf(*w - max[r]) : 0.0f;
            sums[r] += *w;
        }
}

#ifdef PA_HAVE_X86_KERNELS
#include <immintrin.h>

#define UNROLL _Pragma("GCC unroll 16")
/* Positions the output products take a block at a time, for every value of the head, so that
 * their weights (128 bytes a position) stay in L1 across the head's values */
#define VALUES_BLOCK 64
#define INLINE static inline __attribute__((always_inline))

/* ----------------------------------------------------------------------------------------- */
/* AVX-512: H vectors of 16 rows (1 when n_rows <= 16), P positions or values a step          */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

/* st[p] = Σ_d k[p][d] · qt[d] for the P positions at k; only the first np (<= P) are stored,
 * the others repeat row 0. */
AVX512 INLINE void scores_tile512(float *st, const float *qt, const float *k, size_t ld, int np,
                                  int hd, int H, int P) {
    const float *row[16];
    __m512 acc[16][2];
    UNROLL for (int j = 0; j < P; j++) {
        row[j] = k + (j < np ? j : 0) * ld;
        UNROLL for (int h = 0; h < H; h++) acc[j][h] = _mm512_setzero_ps();
    }
    for (int d = 0; d < hd; d++) {
        __m512 q[2];
        UNROLL for (int h = 0; h < H; h++) q[h] = _mm512_loadu_ps(qt + ROWS * d + 16 * h);
        UNROLL for (int j = 0; j < P; j++) {
            const __m512 kd = _mm512_set1_ps(row[j][d]);
            UNROLL for (int h = 0; h < H; h++) acc[j][h] = _mm512_fmadd_ps(kd, q[h], acc[j][h]);
        }
    }
    UNROLL for (int j = 0; j < P; j++) {
        if (j >= np) break;
        UNROLL for (int h = 0; h < H; h++) _mm512_storeu_ps(st + ROWS * j + 16 * h, acc[j][h]);
    }
}

/* ot[d0 + j] += Σ_p v[p][d0 + j] · st[p] for j < P, over n positions */
AVX512 INLINE void values_tile512(float *ot, const float *st, const float *v, size_t ld, int n,
                                  int d0, int H, int P) {
    __m512 acc[16][2];
    UNROLL for (int j = 0; j < P; j++) {
        float *out = ot + ROWS * (d0 + j);
        UNROLL for (int h = 0; h < H; h++) acc[j][h] = _mm512_loadu_ps(out + 16 * h);
    }
    for (int p = 0; p < n; p++) {
        __m512 w[2];
        UNROLL for (int h = 0; h < H; h++) w[h] = _mm512_loadu_ps(st + (size_t)ROWS * p + 16 * h);
        const float *row = v + p * ld + d0;
        UNROLL for (int j = 0; j < P; j++) {
            const __m512 vd = _mm512_set1_ps(row[j]);
            UNROLL for (int h = 0; h < H; h++) acc[j][h] = _mm512_fmadd_ps(vd, w[h], acc[j][h]);
        }
    }
    UNROLL for (int j = 0; j < P; j++) {
        float *out = ot + ROWS * (d0 + j);
        UNROLL for (int h = 0; h < H; h++) _mm512_storeu_ps(out + 16 * h, acc[j][h]);
    }
}

AVX512 static void scores_avx512(float *st, const float *qt, const float *k, size_t ld, int n,
                                 int hd, int n_rows) {
    for (int p = 0; p < n; p += 16) {
        const int np = n - p < 16 ? n - p : 16;
        float *s = st + (size_t)ROWS * p;
        const float *kp = k + p * ld;
        if (n_rows <= 16) {
            scores_tile512(s, qt, kp, ld, np, hd, 1, 16);
        } else {
            scores_tile512(s, qt, kp, ld, np < 8 ? np : 8, hd, 2, 8);
            if (np > 8) scores_tile512(s + ROWS * 8, qt, kp + 8 * ld, ld, np - 8, hd, 2, 8);
        }
    }
}

AVX512 static void values_avx512(float *ot, const float *st, const float *v, size_t ld, int n,
                                 int hd, int n_rows) {
    for (int p = 0; p < n; p += VALUES_BLOCK) {
        const int np = n - p < VALUES_BLOCK ? n - p : VALUES_BLOCK;
        const float *w = st + (size_t)ROWS * p, *vp = v + p * ld;
        for (int d0 = 0; d0 < hd; d0 += 8) {
            if (n_rows <= 16) values_tile512(ot, w, vp, ld, np, d0, 1, 8);
            else values_tile512(ot, w, vp, ld, np, d0, 2, 8);
        }
    }
}

/* The rows (lanes) of half h that see position p: r with p <= first_pos + r */
INLINE __mmask16 seeing(int p, int first_pos, int h) {
    const int from = p - first_pos - 16 * h; /* the first lane of the half that sees p */
    return from <= 0 ? 0xffff : from >= 16 ? 0 : (__mmask16)(0xffffu << from);
}

AVX512 static void max_avx512(const float *st, int n, int first_pos, int n_rows, float *max) {
    const int H = n_rows <= 16 ? 1 : 2;
    __m512 m[2];
    for (int h = 0; h < H; h++) m[h] = _mm512_loadu_ps(max + 16 * h);
    for (int p = 0; p < n; p++)
        for (int h = 0; h < H; h++)
            m[h] = _mm512_mask_max_ps(m[h], seeing(p, first_pos, h), m[h],
                                      _mm512_loadu_ps(st + (size_t)ROWS * p + 16 * h));
    for (int h = 0; h < H; h++) _mm512_storeu_ps(max + 16 * h, m[h]);
}

AVX512 static void exp_avx512(float *st, int n, int first_pos, int n_rows, const float *max,
                              float *sums) {
    const int H = n_rows <= 16 ? 1 : 2;
    const __m512 none = _mm512_set1_ps(-INFINITY);
    __m512 m[2], sum[2];
    for (int h = 0; h < H; h++) {
        m[h] = _mm512_loadu_ps(max + 16 * h);
        sum[h] = _mm512_loadu_ps(sums + 16 * h);
    }
    for (int p = 0; p < n; p++)
        for (int h = 0; h < H; h++) {
            float *at = st + (size_t)ROWS * p + 16 * h;
            const __m512 s = _mm512_loadu_ps(at);
            const __mmask16 seen =
                seeing(p, first_pos, h) & _mm512_cmp_ps_mask(s, none, _CMP_NEQ_OQ);
            const __m512 w = _mm512_maskz_mov_ps(seen, pa_exp512(_mm512_sub_ps(s, m[h])));
            _mm512_storeu_ps(at, w);
            sum[h] = _mm512_add_ps(sum[h], w);
        }
    for (int h = 0; h < H; h++) _mm512_storeu_ps(sums + 16 * h, sum[h]);
}

/* ----------------------------------------------------------------------------------------- */
/* AVX2: Q vectors of 8 rows (as many as n_rows needs), the rows' vectors read from memory by  */
/* the FMAs, which leaves the 16 registers to the accumulators                                */

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 INLINE void scores_tile256(float *st, const float *qt, const float *k, size_t ld, int np,
                                int hd, int Q, int P) {
    const float *row[12];
    __m256 acc[12][4];
    UNROLL for (int j = 0; j < P; j++) {
        row[j] = k + (j < np ? j : 0) * ld;
        UNROLL for (int c = 0; c < Q; c++) acc[j][c] = _mm256_setzero_ps();
    }
    for (int d = 0; d < hd; d++) {
        const float *q = qt + ROWS * d;
        UNROLL for (int j = 0; j < P; j++) {
            const __m256 kd = _mm256_broadcast_ss(row[j] + d);
            UNROLL for (int c = 0; c < Q; c++)
                acc[j][c] = _mm256_fmadd_ps(kd, _mm256_loadu_ps(q + 8 * c), acc[j][c]);
        }
    }
    UNROLL for (int j = 0; j < P; j++) {
        if (j >= np) break;
        UNROLL for (int c = 0; c < Q; c++) _mm256_storeu_ps(st + ROWS * j + 8 * c, acc[j][c]);
    }
}

AVX2 INLINE void values_tile256(float *ot, const float *st, const float *v, size_t ld, int n,
                                int d0, int Q, int P) {
    __m256 acc[12][4];
    UNROLL for (int j = 0; j < P; j++) {
        float *out = ot + ROWS * (d0 + j);
        UNROLL for (int c = 0; c < Q; c++) acc[j][c] = _mm256_loadu_ps(out + 8 * c);
    }
    for (int p = 0; p < n; p++) {
        const float *row = v + p * ld + d0;
        __m256 w[4];
        UNROLL for (int c = 0; c < Q; c++) w[c] = _mm256_loadu_ps(st + (size_t)ROWS * p + 8 * c);
        UNROLL for (int j = 0; j < P; j++) {
            const __m256 vd = _mm256_broadcast_ss(row + j);
            UNROLL for (int c = 0; c < Q; c++) acc[j][c] = _mm256_fmadd_ps(vd, w[c], acc[j][c]);
        }
    }
    UNROLL for (int j = 0; j < P; j++) {
        float *out = ot + ROWS * (d0 + j);
        UNROLL for (int c = 0; c < Q; c++) _mm256_storeu_ps(out + 8 * c, acc[j][c]);
    }
}

/* 12 accumulators: P positions of Q vectors */
#define SCORES256(Q, P)                                                                        \
    for (int p = 0; p < n; p += (P))                                                           \
        scores_tile256(st + (size_t)ROWS * p, qt, k + p * ld, ld, n - p < (P) ? n - p : (P),   \
                       hd, (Q), (P))

AVX2 static void scores_avx2(float *st, const float *qt, const float *k, size_t ld, int n, int hd,
                             int n_rows) {
    if (n_rows <= 8) SCORES256(1, 12);
    else if (n_rows <= 16) SCORES256(2, 6);
    else SCORES256(4, 3);
}

/* 12 accumulators (8 left the FMAs' latency exposed: 1.7 ns per (row, position) on Zen 5
 * against the scores' 0.9): values d0 .. d0 + P - 1 a tile, then the head's last values one
 * at a time */
#define VALUES256(Q, P)                                                                        \
    do {                                                                                       \
        int d0 = 0;                                                                            \
        for (; d0 + (P) <= hd; d0 += (P)) values_tile256(ot, w, vp, ld, np, d0, (Q), (P));     \
        for (; d0 < hd; d0++) values_tile256(ot, w, vp, ld, np, d0, (Q), 1);                   \
    } while (0)

AVX2 static void values_avx2(float *ot, const float *st, const float *v, size_t ld, int n, int hd,
                             int n_rows) {
    for (int p = 0; p < n; p += VALUES_BLOCK) {
        const int np = n - p < VALUES_BLOCK ? n - p : VALUES_BLOCK;
        const float *w = st + (size_t)ROWS * p, *vp = v + p * ld;
        if (n_rows <= 8) VALUES256(1, 12);
        else if (n_rows <= 16) VALUES256(2, 6);
        else VALUES256(4, 3);
    }
}

/* rows[c] lanes: the rows of vector c; r sees p where r > p - first_pos - 1 */
AVX2 INLINE __m256 seeing256(int c, int p, int first_pos) {
    const __m256i rows =
        _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(8 * c));
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(rows, _mm256_set1_epi32(p - first_pos - 1)));
}

AVX2 static void max_avx2(const float *st, int n, int first_pos, int n_rows, float *max) {
    const int Q = (n_rows + 7) / 8;
    __m256 m[4];
    for (int c = 0; c < Q; c++) m[c] = _mm256_loadu_ps(max + 8 * c);
    for (int p = 0; p < n; p++)
        for (int c = 0; c < Q; c++) {
            const __m256 s = _mm256_loadu_ps(st + (size_t)ROWS * p + 8 * c);
            m[c] = _mm256_blendv_ps(m[c], _mm256_max_ps(m[c], s), seeing256(c, p, first_pos));
        }
    for (int c = 0; c < Q; c++) _mm256_storeu_ps(max + 8 * c, m[c]);
}

AVX2 static void exp_avx2(float *st, int n, int first_pos, int n_rows, const float *max,
                          float *sums) {
    const int Q = (n_rows + 7) / 8;
    const __m256 none = _mm256_set1_ps(-INFINITY);
    __m256 m[4], sum[4];
    for (int c = 0; c < Q; c++) {
        m[c] = _mm256_loadu_ps(max + 8 * c);
        sum[c] = _mm256_loadu_ps(sums + 8 * c);
    }
    for (int p = 0; p < n; p++)
        for (int c = 0; c < Q; c++) {
            float *at = st + (size_t)ROWS * p + 8 * c;
            const __m256 s = _mm256_loadu_ps(at);
            const __m256 seen =
                _mm256_and_ps(seeing256(c, p, first_pos), _mm256_cmp_ps(s, none, _CMP_NEQ_OQ));
            const __m256 w = _mm256_and_ps(seen, pa_exp256(_mm256_sub_ps(s, m[c])));
            _mm256_storeu_ps(at, w);
            sum[c] = _mm256_add_ps(sum[c], w);
        }
    for (int c = 0; c < Q; c++) _mm256_storeu_ps(sums + 8 * c, sum[c]);
}

/* ----------------------------------------------------------------------------------------- */
/* A few rows (decode under a pruning policy that reads the probabilities: one row a head):    */
/* each row's products run along the head's values, and the sums of 16 (AVX-512) or 8 (AVX2)  */
/* positions are reduced together, where the lanes would compute 16 or 8 rows for one         */

/* Row r of qt (hd,) as a plain row */
static void row_of(float *out, const float *qt, int r, int hd) {
    for (int d = 0; d < hd; d++) out[d] = qt[ROWS * d + r];
}

AVX512 static void scores_few512(float *st, const float *qt, const float *k, size_t ld, int n,
                                 int hd, int n_rows) {
    float q[FEW_MAX_HD], s[16];
    for (int r = 0; r < n_rows; r++) {
        row_of(q, qt, r, hd);
        for (int p0 = 0; p0 < n; p0 += 16) {
            const int np = n - p0 < 16 ? n - p0 : 16;
            __m512 dots[16];
            UNROLL for (int j = 0; j < 16; j++) {
                dots[j] = _mm512_setzero_ps();
                if (j >= np) continue;
                const float *row = k + (p0 + j) * ld;
                for (int d = 0; d < hd; d += 16)
                    dots[j] =
                        _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_loadu_ps(row + d), dots[j]);
            }
            _mm512_storeu_ps(s, hsum16x16(dots));
            for (int j = 0; j < np; j++) st[(size_t)ROWS * (p0 + j) + r] = s[j];
        }
    }
}

AVX512 static void values_few512(float *ot, const float *st, const float *v, size_t ld, int n,
                                 int hd, int n_rows) {
    float out[FEW_MAX_HD];
    for (int r = 0; r < n_rows; r++) {
        for (int d0 = 0; d0 < hd; d0 += 64) { /* 4 vectors of the row's output at a time */
            const int C = hd - d0 < 64 ? (hd - d0) / 16 : 4;
            __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                             _mm512_setzero_ps()};
            for (int p = 0; p < n; p++) {
                const __m512 w = _mm512_set1_ps(st[(size_t)ROWS * p + r]);
                const float *row = v + p * ld + d0;
                for (int c = 0; c < C; c++)
                    acc[c] = _mm512_fmadd_ps(w, _mm512_loadu_ps(row + 16 * c), acc[c]);
            }
            for (int c = 0; c < C; c++) _mm512_storeu_ps(out + d0 + 16 * c, acc[c]);
        }
        for (int d = 0; d < hd; d++) ot[ROWS * d + r] += out[d];
    }
}

AVX2 static void scores_few256(float *st, const float *qt, const float *k, size_t ld, int n, int hd,
                               int n_rows) {
    float q[FEW_MAX_HD], s[8];
    for (int r = 0; r < n_rows; r++) {
        row_of(q, qt, r, hd);
        for (int p0 = 0; p0 < n; p0 += 8) {
            const int np = n - p0 < 8 ? n - p0 : 8;
            __m256 dots[8];
            UNROLL for (int j = 0; j < 8; j++) {
                dots[j] = _mm256_setzero_ps();
                if (j >= np) continue;
                const float *row = k + (p0 + j) * ld;
                for (int d = 0; d < hd; d += 8)
                    dots[j] =
                        _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(row + d), dots[j]);
            }
            _mm256_storeu_ps(s, hsum8x8(dots));
            for (int j = 0; j < np; j++) st[(size_t)ROWS * (p0 + j) + r] = s[j];
        }
    }
}

AVX2 static void values_few256(float *ot, const float *st, const float *v, size_t ld, int n, int hd,
                               int n_rows) {
    float out[FEW_MAX_HD];
    for (int r = 0; r < n_rows; r++) {
        for (int d0 = 0; d0 < hd; d0 += 32) { /* 4 vectors of the row's output at a time */
            const int C = hd - d0 < 32 ? (hd - d0) / 8 : 4;
            __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                             _mm256_setzero_ps()};
            for (int p = 0; p < n; p++) {
                const __m256 w = _mm256_set1_ps(st[(size_t)ROWS * p + r]);
                const float *row = v + p * ld + d0;
                for (int c = 0; c < C; c++)
                    acc[c] = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 8 * c), acc[c]);
            }
            for (int c = 0; c < C; c++) _mm256_storeu_ps(out + d0 + 8 * c, acc[c]);
        }
        for (int d = 0; d < hd; d++) ot[ROWS * d + r] += out[d];
    }
}
#endif

/* ----------------------------------------------------------------------------------------- */

/* out, then the rows' operand (qt or st), then the K or V rows */
typedef void (*rows_fn)(float *, const float *, const float *, size_t, int, int, int);

typedef struct lanes_kernels {
    rows_fn scores, values;
    rows_fn few_scores, few_values; /* NULL, or for n_rows <= FEW_ROWS, hd a multiple of few_hd */
    int few_hd;
    void (*max)(const float *st, int n, int first_pos, int n_rows, float *max);
    void (*exp)(float *st, int n, int first_pos, int n_rows, const float *max, float *sums);
} lanes_kernels;

static lanes_kernels chosen = {scores_portable, values_portable, NULL, NULL, 0,
                               max_portable,    exp_portable};
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static void choose(void) {
#ifdef PA_HAVE_X86_KERNELS
    if (pa_cpu_avx512_enabled())
        chosen = (lanes_kernels){scores_avx512, values_avx512, scores_few512, values_few512, 16,
                                 max_avx512,    exp_avx512};
    else if (pa_cpu_simd_enabled() && pa_cpu_has_avx2())
        chosen = (lanes_kernels){scores_avx2, values_avx2, scores_few256, values_few256, 8,
                                 max_avx2,    exp_avx2};
#endif
}

/* The widest set the weight kernels use (PYAGENT_KERNELS caps both), found once: asking the
 * CPU (cpuid) traps to the hypervisor in a guest */
static const lanes_kernels *lanes(void) {
    pthread_once(&chosen_once, choose);
    return &chosen;
}

/* The products' kernel for these rows: the few-rows one where it takes them (as many products,
 * not 8 or 16 rows'), plain C for head sizes the vector tiles do not take */
static rows_fn pick(const lanes_kernels *k, rows_fn all, rows_fn few, rows_fn portable, int hd,
                    int n_rows) {
    if (hd % 8) return portable;
    if (few && n_rows <= FEW_ROWS && hd <= FEW_MAX_HD && hd % k->few_hd == 0) return few;
    return all;
}

void pa_attn_rows_q(float *qt, const float *q, size_t q_stride, int n_rows, int hd, float scale) {
    for (int r = 0; r < ROWS; r++)
        for (int d = 0; d < hd; d++)
            qt[ROWS * d + r] = r < n_rows ? scale * q[(size_t)r * q_stride + d] : 0.0f;
}

void pa_attn_rows_scores(float *st, const float *qt, const float *k, size_t ld, int n, int hd,
                         int n_rows) {
    const lanes_kernels *l = lanes();
    pick(l, l->scores, l->few_scores, scores_portable, hd, n_rows)(st, qt, k, ld, n, hd, n_rows);
}

void pa_attn_rows_max(const float *st, int n, int first_pos, int n_rows, float *max) {
    lanes()->max(st, n, first_pos, n_rows, max);
}

void pa_attn_rows_exp(float *st, int n, int first_pos, int n_rows, const float *max,
                      float *sums) {
    lanes()->exp(st, n, first_pos, n_rows, max, sums);
}

void pa_attn_rows_values(float *ot, const float *st, const float *v, size_t ld, int n, int hd,
                         int n_rows) {
    const lanes_kernels *l = lanes();
    pick(l, l->values, l->few_values, values_portable, hd, n_rows)(ot, st, v, ld, n, hd, n_rows);
}

void pa_attn_rows_out(float *o, size_t o_stride, const float *ot, const float *sums, int n_rows,
                      int hd) {
    for (int r = 0; r < n_rows; r++) {
        const float inv = 1.0f / sums[r];
        for (int d = 0; d < hd; d++) o[(size_t)r * o_stride + d] = ot[ROWS * d + r] * inv;
    }
}
