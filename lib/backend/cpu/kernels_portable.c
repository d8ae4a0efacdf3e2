/*
 * Portable C row kernels: the reference every SIMD kernel set is tested against, and what runs
 * on CPUs without one (or with PYAGENT_KERNELS=portable). Eight partial sums per row let the
 * compiler vectorize the float loops without -ffast-math; dot4 is four dot1 calls, which keeps
 * the invariant that a row's result does not depend on the rows it shares a pass with. The
 * rounding of activations to 8 bits for the q4 kernels lives here too, shared by every set.
 */
#include "kernels.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "../../core/f16.h"

static float load_f16_scale(const uint8_t *p) {
    uint16_t bits;
    memcpy(&bits, p, 2);
    return pa_f16_to_f32(bits);
}

static float sum8(const float acc[8]) {
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* ---------------------------------------------------------------------------------------- */
/* Float rows                                                                                */

static float dot1_f32(const void *row, const void *xv, int n) {
    const float *x = xv;
    const float *w = row;
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += w[i + j] * x[i + j];
    float sum = sum8(acc);
    for (; i < n; i++) sum += w[i] * x[i];
    return sum;
}

static float dot1_f16(const void *row, const void *xv, int n) {
    const float *x = xv;
    const uint16_t *w = row;
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += pa_f16_to_f32(w[i + j]) * x[i + j];
    float sum = sum8(acc);
    for (; i < n; i++) sum += pa_f16_to_f32(w[i]) * x[i];
    return sum;
}

static float dot1_bf16(const void *row, const void *xv, int n) {
    const float *x = xv;
    const uint16_t *w = row;
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += pa_bf16_to_f32(w[i + j]) * x[i + j];
    float sum = sum8(acc);
    for (; i < n; i++) sum += pa_bf16_to_f32(w[i]) * x[i];
    return sum;
}

static void to_f32_f32(const void *row, float *out, int n) {
    memcpy(out, row, (size_t)n * sizeof(float));
}

static void to_f32_f16(const void *row, float *out, int n) {
    const uint16_t *w = row;
    for (int i = 0; i < n; i++) out[i] = pa_f16_to_f32(w[i]);
}

static void to_f32_bf16(const void *row, float *out, int n) {
    const uint16_t *w = row;
    for (int i = 0; i < n; i++) out[i] = pa_bf16_to_f32(w[i]);
}

/* ---------------------------------------------------------------------------------------- */
/* Quantized rows: per block, d * Σ q·x, so the scale multiplies once per block              */

/* q8_0 with x rounded to 8 bits: per block, d_w · d_x · Σ q_w · q_x, the sum in integers. */
static float dot1_q8_0(const void *row, const void *xv, int n) {
    const pa_xq8 *x = xv;
    const uint8_t *b = row;
    float sum = 0;
    for (int blk = 0; blk < n / PA_Q8_0_BLOCK; blk++, b += PA_Q8_0_BYTES) {
        const int8_t *w = (const int8_t *)(b + 2), *q = x->q + blk * PA_Q8_0_BLOCK;
        int32_t dot = 0;
        for (int j = 0; j < PA_Q8_0_BLOCK; j++) dot += w[j] * q[j];
        sum += load_f16_scale(b) * x->d[blk] * (float)dot;
    }
    return sum;
}

/* q4_0 with x rounded to 8 bits: per block, d_w · d_x · Σ (nibble - 8) · q_x, the sum in
 * integers. */
static float dot1_q4_0(const void *row, const void *xv, int n) {
    const pa_xq8 *x = xv;
    const uint8_t *b = row;
    float sum = 0;
    for (int blk = 0; blk < n / PA_Q4_0_BLOCK; blk++, b += PA_Q4_0_BYTES) {
        const int8_t *q = x->q + blk * PA_Q4_0_BLOCK;
        int32_t dot = -8 * x->sum[blk];
        for (int j = 0; j < 16; j++) dot += (b[2 + j] & 0xf) * q[j] + (b[2 + j] >> 4) * q[16 + j];
        sum += load_f16_scale(b) * x->d[blk] * (float)dot;
    }
    return sum;
}

/* q4_K with x rounded to 8 bits: per sub-block s, (d·sc[s]) · d_x · Σ nibble · q_x minus
 * (dmin·m[s]) · d_x · Σ q_x. */
static float dot1_q4_k(const void *row, const void *xv, int n) {
    const pa_xq8 *x = xv;
    const uint8_t *b = row;
    float sum = 0;
    for (int blk = 0; blk < n / PA_Q4_K_BLOCK; blk++, b += PA_Q4_K_BYTES) {
        const float d = load_f16_scale(b), dmin = load_f16_scale(b + 2);
        for (int s = 0; s < 8; s++) {
            const int xb = blk * 8 + s; /* the x block of this sub-block */
            const int8_t *q = x->q + 32 * xb;
            const uint8_t *qs = b + 16 + 32 * (s / 2);
            const int shift = (s & 1) * 4;
            int32_t dot = 0;
            for (int l = 0; l < 32; l++) dot += ((qs[l] >> shift) & 0xf) * q[l];
            int sc, m;
            pa_q4_k_scale_min(b + 4, s, &sc, &m);
            sum += d * (float)sc * x->d[xb] * (float)dot - dmin * (float)m * x->dsum[xb];
        }
    }
    return sum;
}

static void to_f32_q8_0(const void *row, float *out, int n) {
    const uint8_t *b = row;
    for (int i = 0; i < n; i += PA_Q8_0_BLOCK, b += PA_Q8_0_BYTES) {
        const float d = load_f16_scale(b);
        for (int j = 0; j < PA_Q8_0_BLOCK; j++) out[i + j] = d * (float)(int8_t)b[2 + j];
    }
}

static void to_f32_q4_0(const void *row, float *out, int n) {
    const uint8_t *b = row;
    for (int i = 0; i < n; i += PA_Q4_0_BLOCK, b += PA_Q4_0_BYTES) {
        const float d = load_f16_scale(b);
        for (int j = 0; j < 16; j++) {
            out[i + j] = d * (float)((b[2 + j] & 0xf) - 8);
            out[i + 16 + j] = d * (float)((b[2 + j] >> 4) - 8);
        }
    }
}

/* As ggml's dequantize_row_q4_K: value = (d·sc) · nibble − (dmin·m). */
static void to_f32_q4_k(const void *row, float *out, int n) {
    const uint8_t *b = row;
    for (int i = 0; i < n; i += PA_Q4_K_BLOCK, b += PA_Q4_K_BYTES) {
        const float d = load_f16_scale(b), dmin = load_f16_scale(b + 2);
        for (int s = 0; s < 8; s++) {
            int sc, m;
            pa_q4_k_scale_min(b + 4, s, &sc, &m);
            const float scale = d * (float)sc, min = dmin * (float)m;
            const uint8_t *q = b + 16 + 32 * (s / 2);
            const int shift = (s & 1) * 4;
            for (int l = 0; l < 32; l++)
                out[i + 32 * s + l] = scale * (float)((q[l] >> shift) & 0xf) - min;
        }
    }
}

/* ---------------------------------------------------------------------------------------- */

#define DOT4_FROM_DOT1(type)                                                                 \
    static void dot4_##type(const void *const rows[4], const void *x, int n, float out[4]) {  \
        for (int j = 0; j < 4; j++) out[j] = dot1_##type(rows[j], x, n);                     \
    }
DOT4_FROM_DOT1(f32)
DOT4_FROM_DOT1(f16)
DOT4_FROM_DOT1(bf16)
DOT4_FROM_DOT1(q8_0)
DOT4_FROM_DOT1(q4_0)
DOT4_FROM_DOT1(q4_k)

static void to_f16(const float *x, int n, uint16_t *out) {
    for (int i = 0; i < n; i++) out[i] = pa_f32_to_f16(x[i]);
}

static const pa_kernel_set portable = {
    "portable C",
    pa_xq8_quantize,
    to_f16,
    {
        [PA_W_F32] = {false, dot4_f32, dot1_f32, to_f32_f32, NULL, NULL, 20},
        [PA_W_F16] = {false, dot4_f16, dot1_f16, to_f32_f16, NULL, NULL, 28},
        [PA_W_BF16] = {false, dot4_bf16, dot1_bf16, to_f32_bf16, NULL, NULL, 28},
        [PA_W_Q8_0] = {true, dot4_q8_0, dot1_q8_0, to_f32_q8_0, NULL, NULL, 8},
        [PA_W_Q4_0] = {true, dot4_q4_0, dot1_q4_0, to_f32_q4_0, NULL, NULL, 12},
        [PA_W_Q4_K] = {true, dot4_q4_k, dot1_q4_k, to_f32_q4_k, NULL, NULL, 16},
    },
};

const pa_kernel_set *pa_kernels_portable(void) { return &portable; }

/* ---------------------------------------------------------------------------------------- */
/* Tables                                                                                    */

float pa_f16_table[1 << 16];
static pthread_once_t f16_table_once = PTHREAD_ONCE_INIT;

static void fill_f16_table(void) {
    for (uint32_t h = 0; h < 1u << 16; h++) pa_f16_table[h] = pa_f16_to_f32((uint16_t)h);
}

void pa_f16_table_fill(void) { pthread_once(&f16_table_once, fill_f16_table); }

/* ---------------------------------------------------------------------------------------- */
/* Activations rounded to 8 bits                                                             */

static size_t align32(size_t n) { return (n + 31) / 32 * 32; }

pa_xq8 pa_xq8_in(void *buf, int n) {
    uint8_t *p = buf;
    const size_t blocks = (size_t)n / 32;
    pa_xq8 x;
    x.q = (int8_t *)p;
    p += align32((size_t)n);
    x.d = (float *)(void *)p;
    p += align32(blocks * sizeof(float));
    x.sum = (int32_t *)(void *)p;
    p += align32(blocks * sizeof(int32_t));
    x.dsum = (float *)(void *)p;
    return x;
}

void pa_xq8_quantize(const float *x, int n, const pa_xq8 *out) {
    for (int blk = 0; blk < n / 32; blk++) {
        const float *xb = x + 32 * blk;
        float amax = 0;
        for (int j = 0; j < 32; j++) { /* a compare, not fmaxf: that is a call; NaNs drop out */
            const float a = fabsf(xb[j]);
            amax = a > amax ? a : amax;
        }
        const float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        int32_t sum = 0;
        for (int j = 0; j < 32; j++) {
            const int8_t q = (int8_t)lrintf(xb[j] * id);
            out->q[32 * blk + j] = q;
            sum += q;
        }
        out->d[blk] = d;
        out->sum[blk] = sum;
        out->dsum[blk] = d * (float)sum;
    }
}
