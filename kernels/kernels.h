/*
 * The CUDA kernels of the forward pass (the .cu files beside this header), behind launchers callable from C.
 *
 * Every launcher enqueues its work on `stream` and returns at once; a launch error surfaces at
 * the caller's next cudaGetLastError or stream synchronization. Activations are f32 rows with
 * a leading dimension (ld*) in elements; weights are pa_dev_matrix views made at upload
 * (lib/backend/cuda/cuda.c). Rows of tokens are computed independently of each other, in an
 * order that does not depend on how many tokens a launch has: a token's results are bitwise
 * the same whatever the rest of the batch is.
 */
#ifndef PA_KERNELS_H
#define PA_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Weight element types on the device. */
enum { PA_DEV_F32, PA_DEV_F16, PA_DEV_BF16, PA_DEV_Q8_0, PA_DEV_Q4_0 };

#define PA_DEV_QBLOCK 32 /* values per scale of Q8_0 and Q4_0 */

/* A weight matrix in device memory: n_out rows of n_in values.
 *   F32, F16, BF16: rows of `ld` elements (n_in rounded up to 8, so rows are 16-byte aligned).
 *   Q8_0: data = (n_out, n_in) int8 and scales = (n_out, n_in / 32) f16 bits.
 *   Q4_0: data = (n_out, n_in / 2) bytes, each 16 bytes one block of 32 values: byte j holds
 *         value j - 8 in its low nibble and value j + 16 - 8 in its high one (GGUF's order),
 *         and scales = (n_out, n_in / 32) f16 bits.
 * The quantized types are GGUF's blocks with the scales moved out, so every load is aligned. */
typedef struct pa_dev_matrix {
    int type;          /* PA_DEV_* */
    int n_in, n_out;
    int ld;            /* elements per row (F32, F16, BF16) */
    void *data;
    uint16_t *scales;  /* Q8_0, Q4_0 */
} pa_dev_matrix;

/* One token of a batch, as the kernels see it. */
typedef struct pa_dev_token {
    int32_t id;        /* token id */
    int32_t pos;       /* RoPE position */
    int32_t dst_block; /* KV block and slot its K/V row goes to */
    int32_t dst_slot;
    int32_t table;     /* offset of its sequence's block table in the step's int array */
    int32_t limit;     /* it sees slots [0, limit] through the table ... */
    int32_t extra;     /* ... and n_extra more slots listed at this offset (tree ancestors) */
    int32_t n_extra;
} pa_dev_token;

/* The paged KV pool: K and V of n_blocks blocks, each [layer][slot][kv_dim]. */
typedef struct pa_dev_kv {
    void *k, *v;
    bool f16;          /* elements are f16 (else f32) */
    int n_layer, block_size, kv_dim;
} pa_dev_kv;

/* x[t] (dim,) = row tokens[t].id of the embedding matrix, as f32 */
void pa_cuda_embed(const pa_dev_matrix *emb, const pa_dev_token *tokens, int n_tok, float *x,
                   int ldx, cudaStream_t stream);

/* out[t] = x[row t] / sqrt(mean(x[row t]²) + eps) * w, row t = rows ? rows[t] : t */
void pa_cuda_rmsnorm(float *out, int ld_out, const float *x, int ldx, const int32_t *rows,
                     const float *w, int n_tok, int dim, float eps, cudaStream_t stream);

/* y[t][r] = W[r] · x[t] (accumulate: +=) for t < n_tok, r < w->n_out. Up to three matrices of
 * one type and width fill consecutive columns of y in one launch (Q, K and V). */
void pa_cuda_gemv(const pa_dev_matrix *const *w, int n_w, const float *x, int ldx, float *y,
                  int ldy, int n_tok, bool accumulate, cudaStream_t stream);

/* pa_cuda_gemv of Q, K and V (one type and width; y = Q | K | V of each token) followed by
 * pa_cuda_rope_store's work on the same tokens, in one launch. */
void pa_cuda_gemv_qkv_rope(const pa_dev_matrix *const *qkv, const float *x, int ldx, float *y,
                           int ldy, int n_tok, const pa_dev_token *tokens, int head_dim,
                           float rope_base, const pa_dev_kv *kv, int layer, cudaStream_t stream);

/* y[t][r] = silu(G[r] · x[t]) * (U[r] · x[t]): the feed-forward's gate and up in one pass */
void pa_cuda_gemv_swiglu(const pa_dev_matrix *gate, const pa_dev_matrix *up, const float *x,
                         int ldx, float *y, int ldy, int n_tok, cudaStream_t stream);

/* Rotates the adjacent pairs of Q (n_head heads at column 0 of qkv) and K (n_head_kv heads at
 * column q_dim) of every token by its position, then writes K and V (column q_dim + kv_dim)
 * to its KV slot of `layer`. */
void pa_cuda_rope_store(float *qkv, int ld_qkv, const pa_dev_token *tokens, int n_tok,
                        int n_head, int n_head_kv, int head_dim, float rope_base,
                        const pa_dev_kv *kv, int layer, cudaStream_t stream);

/* att[t] (n_head * hd) = softmax(q kᵀ / sqrt(hd)) v over the slots token t sees: [0, limit]
 * of its block table, then its extra slots. */
void pa_cuda_attention(float *att, int ld_att, const float *qkv, int ld_qkv,
                       const pa_dev_token *tokens, const int32_t *ints, int n_tok, int n_head,
                       int n_head_kv, int head_dim, const pa_dev_kv *kv, int layer,
                       cudaStream_t stream);

/* One of a logits row's best candidates (the layout of the host's pa_token_logit). */
typedef struct pa_dev_top {
    int32_t id;
    float logit;
} pa_dev_top;

#define PA_DEV_TOP_MAX 64 /* candidates per row, at most */

/* out[r * PA_DEV_TOP_MAX + j], j < min(ks[r], PA_DEV_TOP_MAX, n) = the best of logits row r
 * (n,) for r < rows, in the CPU's pa_top_k order (larger first, equal logits in id order, NaN
 * last); rows with ks[r] <= 0 are left alone. ks is in device memory. */
void pa_cuda_top_k(const float *logits, int n, int rows, const int32_t *ks, pa_dev_top *out,
                   cudaStream_t stream);

/* g[i] = silu(g[i]) * u[i] for n values */
void pa_cuda_swiglu(float *g, const float *u, int64_t n, cudaStream_t stream);

/* out (n_tok, n) f16 (bf16: bfloat16) = x (n_tok, ldx) rounded, for cuBLAS */
void pa_cuda_to_half(void *out, const float *x, int ldx, int n_tok, int n, bool bf16,
                     cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
