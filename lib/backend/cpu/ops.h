/*
 * CPU kernels of the forward pass. Weights are matrices of n_out rows of n_in values in the
 * file's type (f32, f16, bf16, q8_0, q4_0, q4_K), read in place and dequantized inside the dot
 * product (kernels.h). Activations are f32, row-major: a batch of n tokens is n rows.
 */
#ifndef PA_BACKEND_CPU_OPS_H
#define PA_BACKEND_CPU_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/threadpool.h"

typedef struct pa_matrix {
    const void *data; /* n_out rows of n_in values of `type` (gguf_tensor_type) */
    uint32_t type;
    int64_t n_in, n_out;
    uint64_t row_bytes;
} pa_matrix;

/* true if `type` is one the kernels compute with. */
int pa_cpu_type_supported(uint32_t type);

/* Values per block of a supported `type` (1 for f32, f16 and bf16): rows must be whole blocks. */
uint64_t pa_cpu_type_block(uint32_t type);

/* Rows of W dequantized at once for a BLAS product of a large batch; tokens of X packed at once
 * for AMX tiles (2 bytes per value). */
#define PA_MATMUL_TILE_ROWS 64
#define PA_MATMUL_TILE_PASS 512

/* The floats of scratch a pool of n_threads needs for products of width k: per thread, a tile
 * of dequantized rows for sgemm (or the AMX kernel's work area, or, for the row kernels, X
 * rounded to 8 bits and the x side they prepare from it: ~3.4 bytes per value of each of up to
 * 27 tokens, within the first thread's 64 floats per value); and X packed for AMX tiles,
 * shared. */
#define PA_MATMUL_SCRATCH_FLOATS(n_threads, k)                                                \
    ((size_t)(n_threads) * PA_MATMUL_TILE_ROWS * (size_t)(k) +                                \
     (size_t)PA_MATMUL_TILE_PASS * (size_t)(k) / 2 + 16)

/* Y (n,d) = X (n,k) @ W(d,k)^T, i.e. y[t][o] = W[o] · x[t], split over threads by rows of W.
 * `scratch` holds PA_MATMUL_SCRATCH_FLOATS(pool size, k) floats. */
void pa_matmul(pa_pool *pool, float *y, const float *x, const pa_matrix *w, int n,
               float *scratch);

/* As pa_matmul, but every row through the row kernels, so row t of Y is bitwise the same
 * whatever the other rows of the batch are (decode and verification rows use it: speculative
 * greedy output must equal plain greedy output exactly). */
void pa_matmul_exact(pa_pool *pool, float *y, const float *x, const pa_matrix *w, int n,
                     float *scratch);

/* Y_i = X @ W_i^T for `count` (<= PA_MATMUL_MAX_SET) matrices that read the same X (q, k and v;
 * gate and up): as `count` calls of pa_matmul / pa_matmul_exact, with the same results, but
 * handed to the threads once when the matrices share a type and input width. */
#define PA_MATMUL_MAX_SET 3
void pa_matmul_set(pa_pool *pool, int count, float *const *y, const float *x,
                   const pa_matrix *const *w, int n, float *scratch);
void pa_matmul_set_exact(pa_pool *pool, int count, float *const *y, const float *x,
                         const pa_matrix *const *w, int n, float *scratch);

/* "AVX-512+VNNI+AMX", "AVX-512+VNNI+VBMI", "AVX-512+VNNI", "AVX2+FMA+F16C" or "portable C":
 * the kernels this process runs: the best this CPU has, or the one named by the environment
 * variable PYAGENT_KERNELS ("portable", "avx2", "avx512", "avx512vbmi", "amx"; a set the CPU
 * lacks falls back to the next one down), read once per process. */
const char *pa_cpu_kernels_name(void);

/* Row `row` of W converted to f32 -> out (n_in,). */
void pa_matrix_row(const pa_matrix *w, int64_t row, float *out);

/* out (n,) = x / sqrt(mean(x²) + eps) * weight */
void pa_rmsnorm(float *out, const float *x, const float *weight, int n, float eps);

/* The rotation of position pos: cs (head_dim,) = (cos θ, sin θ) for each pair (2i, 2i+1) of a
 * head, θ = pos · base^(-2i/hd). A token's angles serve all its heads in every layer. */
void pa_rope_angles(float *cs, int head_dim, int pos, float base);

/* Rotates adjacent pairs (2i, 2i+1) of each head of x (n_heads, head_dim) by cs's angles. */
void pa_rope_apply(float *x, int n_heads, int head_dim, const float *cs);

/* The first index of the largest of x (n,) (NaNs never win, except at index 0, as in a plain
 * scan); n >= 1. */
int32_t pa_argmax(const float *x, int n);

/* A token and its logit: one of a row's best candidates (pa_top_k). */
typedef struct pa_token_logit {
    int32_t id;
    float logit;
} pa_token_logit;

/* The k best of x (n,) into out[0 .. min(k, n)), best first: larger logits first, equal ones
 * in id order, NaN after every number. Returns how many it wrote. */
int pa_top_k(const float *x, int n, int k, pa_token_logit *out);

/* x (n,) <- softmax(x) */
void pa_softmax(float *x, int n);

/* log Σ e^x[i] over x (n,), and max x through *max */
float pa_logsumexp(const float *x, int n, float *max);

/* dot product of f32 vectors (n,), with the chosen kernels */
float pa_dot_f32(const float *a, const float *b, int n);

/* false when the portable C kernels run (no SIMD on this CPU, or PYAGENT_KERNELS=portable) */
bool pa_cpu_simd_enabled(void);
/* true when the AVX-512 kernels run */
bool pa_cpu_avx512_enabled(void);

/* dot product of an f16 row with an f32 row (n,), an f16 row -> f32 and an f32 row -> f16
 * (pa_f32_to_f16's bits), with the kernels chosen for this CPU (KV rows stored as f16) */
float pa_dot_f16(const uint16_t *a, const float *b, int n);
void pa_f16_to_f32_row(const uint16_t *a, float *out, int n);
void pa_f32_to_f16_row(const float *x, uint16_t *out, int n);

/* y (n,) += a * x (n,) */
void pa_axpy(float *y, float a, const float *x, int n);

/* gate (n,) <- silu(gate) * up */
void pa_swiglu(float *gate, const float *up, int n);

#endif
