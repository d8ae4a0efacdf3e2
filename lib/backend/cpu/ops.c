/*
 * Portable CPU kernels. The dot product of a weight row with an activation row is the one
 * primitive every matmul uses, for one token or for a whole batch, so a prompt prefilled in one
 * batch and token by token gives the same numbers (up to the BLAS path for large batches).
 */
#include "ops.h"

#include <cblas.h>
#include <pthread.h>
#include <stdbool.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/f16.h"
#include "dot.h"
#include "../../model/gguf.h"

#define Q8_0_BLOCK_BYTES 34 /* f16 scale + 32 int8 */

/* Batches at least this large with f32 weights go through OpenBLAS sgemm; smaller ones through
 * the row-dot kernels below. */
#define SGEMM_MIN_BATCH 16

int pa_cpu_type_supported(uint32_t type) {
    return type == GGUF_TENSOR_F32 || type == GGUF_TENSOR_F16 || type == GGUF_TENSOR_BF16 ||
           type == GGUF_TENSOR_Q8_0;
}

float pa_dot_f32(const float *a, const float *b, int n) {
    /* 8 independent partial sums let the compiler vectorize without -ffast-math */
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float sum = 0;
    for (int j = 0; j < 8; j++) sum += acc[j];
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

static float dot_f16(const uint16_t *w, const float *x, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += pa_f16_to_f32(w[i + j]) * x[i + j];
    float sum = 0;
    for (int j = 0; j < 8; j++) sum += acc[j];
    for (; i < n; i++) sum += pa_f16_to_f32(w[i]) * x[i];
    return sum;
}

static float dot_bf16(const uint16_t *w, const float *x, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += pa_bf16_to_f32(w[i + j]) * x[i + j];
    float sum = 0;
    for (int j = 0; j < 8; j++) sum += acc[j];
    for (; i < n; i++) sum += pa_bf16_to_f32(w[i]) * x[i];
    return sum;
}

/* Q8_0 row: n/32 blocks of {f16 d, int8 q[32]}; value = d * q. */
static float dot_q8_0(const uint8_t *w, const float *x, int n) {
    float sum = 0;
    for (int b = 0; b < n / GGUF_Q8_0_BLOCK; b++, w += Q8_0_BLOCK_BYTES, x += GGUF_Q8_0_BLOCK) {
        uint16_t d_bits;
        memcpy(&d_bits, w, 2);
        const int8_t *q = (const int8_t *)(w + 2);
        float acc[8] = {0};
        for (int i = 0; i < GGUF_Q8_0_BLOCK; i += 8)
            for (int j = 0; j < 8; j++) acc[j] += (float)q[i + j] * x[i + j];
        float block = 0;
        for (int j = 0; j < 8; j++) block += acc[j];
        sum += pa_f16_to_f32(d_bits) * block;
    }
    return sum;
}

static const void *row_ptr(const pa_matrix *w, int64_t row) {
    return (const uint8_t *)w->data + (uint64_t)row * w->row_bytes;
}

/* ----------------------------------------------------------------------------------------- */
/* Kernel choice: the portable loops above, or AVX2 where the CPU has it                       */

typedef struct dot_kernels {
    float (*f32)(const float *w, const float *x, int n);
    float (*f16)(const uint16_t *w, const float *x, int n);
    float (*bf16)(const uint16_t *w, const float *x, int n);
    float (*q8_0)(const uint8_t *w, const float *x, int n);
} dot_kernels;

static dot_kernels dots = {pa_dot_f32, dot_f16, dot_bf16, dot_q8_0};
static pthread_once_t dots_once = PTHREAD_ONCE_INIT;

static void choose_kernels(void) {
    /* Our pool splits every product across threads and calls sgemm from each of them; OpenBLAS
     * threads of its own would only oversubscribe the cores (and spin between calls). This is
     * process-wide: README notes it for hosts that use OpenBLAS themselves. */
    openblas_set_num_threads(1);
#ifdef PA_HAVE_AVX2_KERNELS
    /* PYAGENT_KERNELS=portable forces the plain C loops (for bug reports and tests) */
    const char *force = getenv("PYAGENT_KERNELS");
    if (pa_cpu_has_avx2() && !(force && strcmp(force, "portable") == 0))
        dots = (dot_kernels){pa_dot_f32_avx2, pa_dot_f16_avx2, pa_dot_bf16_avx2, pa_dot_q8_0_avx2};
#endif
}

const char *pa_cpu_kernels_name(void) {
    pthread_once(&dots_once, choose_kernels);
    return dots.f32 == pa_dot_f32 ? "portable C" : "AVX2+FMA+F16C";
}

static float dot_row(const pa_matrix *w, int64_t row, const float *x) {
    const void *r = row_ptr(w, row);
    int n = (int)w->n_in;
    switch (w->type) {
    case GGUF_TENSOR_F32: return dots.f32(r, x, n);
    case GGUF_TENSOR_F16: return dots.f16(r, x, n);
    case GGUF_TENSOR_BF16: return dots.bf16(r, x, n);
    case GGUF_TENSOR_Q8_0: return dots.q8_0(r, x, n);
    }
    return 0; /* unreachable: types are checked when the model loads */
}

void pa_matrix_row(const pa_matrix *w, int64_t row, float *out) {
    const void *r = row_ptr(w, row);
    const int64_t n = w->n_in;
    switch (w->type) {
    case GGUF_TENSOR_F32: memcpy(out, r, (size_t)n * sizeof(float)); break;
    case GGUF_TENSOR_F16:
#ifdef PA_HAVE_AVX2_KERNELS
        if (dots.f16 == pa_dot_f16_avx2) {
            pa_f16_row_to_f32_avx2(r, out, (int)n);
            break;
        }
#endif
        for (int64_t i = 0; i < n; i++) out[i] = pa_f16_to_f32(((const uint16_t *)r)[i]);
        break;
    case GGUF_TENSOR_BF16:
        for (int64_t i = 0; i < n; i++) out[i] = pa_bf16_to_f32(((const uint16_t *)r)[i]);
        break;
    case GGUF_TENSOR_Q8_0: {
        const uint8_t *b = r;
        for (int64_t i = 0; i < n; i += GGUF_Q8_0_BLOCK, b += Q8_0_BLOCK_BYTES) {
            uint16_t d_bits;
            memcpy(&d_bits, b, 2);
            float d = pa_f16_to_f32(d_bits);
            for (int j = 0; j < GGUF_Q8_0_BLOCK; j++) out[i + j] = d * (float)((int8_t)b[2 + j]);
        }
        break;
    }
    }
}

/* ----------------------------------------------------------------------------------------- */
/* Matrix products                                                                            */

typedef struct matmul_job {
    float *y;
    const float *x;
    const pa_matrix *w;
    int n;
    float *scratch; /* (nth, PA_MATMUL_TILE_ROWS, n_in) for dequantized tiles */
} matmul_job;

/* Few tokens: each thread takes a slice of W's rows and dots every token with each row, so a
 * row is read from memory once per batch. */
static void matmul_rows(void *ctx, int ith, int nth) {
    const matmul_job *job = ctx;
    const pa_matrix *w = job->w;
    int64_t begin, end;
    pa_split(w->n_out, ith, nth, &begin, &end);
    for (int64_t o = begin; o < end; o++)
        for (int t = 0; t < job->n; t++)
            job->y[(int64_t)t * w->n_out + o] = dot_row(w, o, job->x + (int64_t)t * w->n_in);
}

/* Y[:, rows] (n, r) = X (n, k) @ W[rows]^T (k, r), with W[rows] given as f32 rows */
static void sgemm_block(const matmul_job *job, const float *w_rows, int64_t first, int64_t r) {
    const int k = (int)job->w->n_in;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, job->n, (int)r, k, 1.0f, job->x, k,
                w_rows, k, 0.0f, job->y + first, (int)job->w->n_out);
}

/* Many tokens: sgemm per thread on its slice of rows (OpenBLAS stays single-threaded: the
 * parallelism is ours). Non-f32 weights are dequantized a tile of rows at a time, which costs
 * little next to the n-fold reuse of each tile. */
static void matmul_sgemm(void *ctx, int ith, int nth) {
    const matmul_job *job = ctx;
    const pa_matrix *w = job->w;
    int64_t begin, end;
    pa_split(w->n_out, ith, nth, &begin, &end);
    if (w->type == GGUF_TENSOR_F32) {
        if (begin < end) sgemm_block(job, row_ptr(w, begin), begin, end - begin);
        return;
    }
    float *tile = job->scratch + (size_t)ith * PA_MATMUL_TILE_ROWS * (size_t)w->n_in;
    for (int64_t first = begin; first < end; first += PA_MATMUL_TILE_ROWS) {
        int64_t r = end - first < PA_MATMUL_TILE_ROWS ? end - first : PA_MATMUL_TILE_ROWS;
        for (int64_t i = 0; i < r; i++) pa_matrix_row(w, first + i, tile + i * w->n_in);
        sgemm_block(job, tile, first, r);
    }
}

void pa_matmul(pa_pool *pool, float *y, const float *x, const pa_matrix *w, int n,
               float *scratch) {
    pthread_once(&dots_once, choose_kernels);
    matmul_job job = {y, x, w, n, scratch};
    bool blas = n >= SGEMM_MIN_BATCH && (w->type == GGUF_TENSOR_F32 || scratch);
    pa_pool_run(pool, blas ? matmul_sgemm : matmul_rows, &job);
}

void pa_rmsnorm(float *out, const float *x, const float *weight, int n, float eps) {
    float ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    float scale = 1.0f / sqrtf(ss / (float)n + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * weight[i];
}

void pa_rope(float *x, int n_heads, int head_dim, int pos, float base) {
    for (int i = 0; i < head_dim; i += 2) {
        float freq = 1.0f / powf(base, (float)i / (float)head_dim); /* as llama2.c's run.c */
        float theta = (float)pos * freq;
        float c = cosf(theta), s = sinf(theta);
        for (int h = 0; h < n_heads; h++) {
            float *v = x + h * head_dim + i;
            float v0 = v[0], v1 = v[1];
            v[0] = v0 * c - v1 * s;
            v[1] = v0 * s + v1 * c;
        }
    }
}

void pa_softmax(float *x, int n) {
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    float sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (int i = 0; i < n; i++) x[i] /= sum;
}

void pa_axpy(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

void pa_swiglu(float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}
