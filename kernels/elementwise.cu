/*
 * The small kernels of the forward pass: embedding gather, RMSNorm, RoPE with the KV write,
 * SwiGLU and the f32 -> f16/bf16 rounding of activations for cuBLAS. Each follows the CPU's
 * formula in lib/backend/cpu/ops.c, one block or thread per token row.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels.h"

#define THREADS 256

static __device__ __forceinline__ float half_bits(uint16_t h) {
    return __half2float(__ushort_as_half(h));
}

/* Value i of row r of a weight matrix as f32. */
static __device__ float matrix_value(const pa_dev_matrix &w, int64_t r, int i) {
    switch (w.type) {
    case PA_DEV_F32: return static_cast<const float *>(w.data)[r * w.ld + i];
    case PA_DEV_F16: return half_bits(static_cast<const uint16_t *>(w.data)[r * w.ld + i]);
    case PA_DEV_BF16:
        return __uint_as_float((uint32_t)static_cast<const uint16_t *>(w.data)[r * w.ld + i]
                               << 16);
    case PA_DEV_Q8_0: {
        const float d = half_bits(w.scales[r * (w.n_in / PA_DEV_QBLOCK) + i / PA_DEV_QBLOCK]);
        return d * (float)static_cast<const int8_t *>(w.data)[r * w.n_in + i];
    }
    default: { /* Q4_0: value j of a block is byte j % 16, low nibble for j < 16 */
        const float d = half_bits(w.scales[r * (w.n_in / PA_DEV_QBLOCK) + i / PA_DEV_QBLOCK]);
        const int j = i % PA_DEV_QBLOCK;
        const uint8_t byte = static_cast<const uint8_t *>(
            w.data)[r * (w.n_in / 2) + (i / PA_DEV_QBLOCK) * 16 + j % 16];
        return d * (float)((j < 16 ? byte & 0xf : byte >> 4) - 8);
    }
    }
}

__global__ void embed_kernel(pa_dev_matrix emb, const pa_dev_token *tokens, float *x, int ldx) {
    const int t = blockIdx.x;
    const int64_t r = tokens[t].id;
    for (int i = threadIdx.x; i < emb.n_in; i += blockDim.x)
        x[(size_t)t * ldx + i] = matrix_value(emb, r, i);
}

extern "C" void pa_cuda_embed(const pa_dev_matrix *emb, const pa_dev_token *tokens, int n_tok,
                              float *x, int ldx, cudaStream_t stream) {
    embed_kernel<<<n_tok, THREADS, 0, stream>>>(*emb, tokens, x, ldx);
}

/* One block per row: per-thread sums of squares in a fixed order, then a tree in shared
 * memory, so the row's scale does not depend on anything but the row. */
__global__ void rmsnorm_kernel(float *out, int ld_out, const float *x, int ldx,
                               const int32_t *rows, const float *w, int dim, float eps) {
    __shared__ float partial[THREADS];
    const int t = blockIdx.x;
    const float *xr = x + (size_t)(rows ? rows[t] : t) * ldx;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < dim; i += THREADS) ss = fmaf(xr[i], xr[i], ss);
    partial[threadIdx.x] = ss;
    __syncthreads();
    for (int half = THREADS / 2; half > 0; half >>= 1) {
        if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
        __syncthreads();
    }
    const float scale = 1.0f / sqrtf(partial[0] / (float)dim + eps);
    for (int i = threadIdx.x; i < dim; i += THREADS)
        out[(size_t)t * ld_out + i] = xr[i] * scale * w[i];
}

extern "C" void pa_cuda_rmsnorm(float *out, int ld_out, const float *x, int ldx,
                                const int32_t *rows, const float *w, int n_tok, int dim,
                                float eps, cudaStream_t stream) {
    rmsnorm_kernel<<<n_tok, THREADS, 0, stream>>>(out, ld_out, x, ldx, rows, w, dim, eps);
}

/* One block per token; thread j of a head rotates pair (2j, 2j + 1) by pos * base^(-2j/hd). */
__global__ void rope_store_kernel(float *qkv, int ld_qkv, const pa_dev_token *tokens,
                                  int n_head, int n_head_kv, int hd, float base, pa_dev_kv kv,
                                  int layer) {
    const pa_dev_token tok = tokens[blockIdx.x];
    float *row = qkv + (size_t)blockIdx.x * ld_qkv;
    const int q_dim = n_head * hd, kv_dim = n_head_kv * hd, half_hd = hd / 2;
    for (int p = threadIdx.x; p < (n_head + n_head_kv) * half_hd; p += blockDim.x) {
        const int i = 2 * (p % half_hd);
        const float freq = 1.0f / powf(base, (float)i / (float)hd); /* as pa_rope */
        const float theta = (float)tok.pos * freq;
        const float c = cosf(theta), s = sinf(theta);
        float *v = row + (p / half_hd) * hd + i; /* heads of Q, then of K right after */
        const float v0 = v[0], v1 = v[1];
        v[0] = v0 * c - v1 * s;
        v[1] = v0 * s + v1 * c;
    }
    __syncthreads();
    const size_t slot = ((size_t)tok.dst_block * kv.n_layer + layer) * kv.block_size +
                        tok.dst_slot;
    const float *k = row + q_dim, *v = row + q_dim + kv_dim;
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        if (kv.f16) {
            static_cast<__half *>(kv.k)[slot * kv_dim + i] = __float2half_rn(k[i]);
            static_cast<__half *>(kv.v)[slot * kv_dim + i] = __float2half_rn(v[i]);
        } else {
            static_cast<float *>(kv.k)[slot * kv_dim + i] = k[i];
            static_cast<float *>(kv.v)[slot * kv_dim + i] = v[i];
        }
    }
}

extern "C" void pa_cuda_rope_store(float *qkv, int ld_qkv, const pa_dev_token *tokens, int n_tok,
                                   int n_head, int n_head_kv, int head_dim, float rope_base,
                                   const pa_dev_kv *kv, int layer, cudaStream_t stream) {
    rope_store_kernel<<<n_tok, THREADS, 0, stream>>>(qkv, ld_qkv, tokens, n_head, n_head_kv,
                                                     head_dim, rope_base, *kv, layer);
}

__global__ void swiglu_kernel(float *g, const float *u, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

extern "C" void pa_cuda_swiglu(float *g, const float *u, int64_t n, cudaStream_t stream) {
    const int64_t blocks = (n + THREADS - 1) / THREADS;
    swiglu_kernel<<<(unsigned)(blocks < 65535 ? blocks : 65535), THREADS, 0, stream>>>(g, u, n);
}

__global__ void to_half_kernel(void *out, const float *x, int ldx, int n, bool bf16) {
    const int t = blockIdx.x;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = x[(size_t)t * ldx + i];
        if (bf16) static_cast<__nv_bfloat16 *>(out)[(size_t)t * n + i] = __float2bfloat16_rn(v);
        else static_cast<__half *>(out)[(size_t)t * n + i] = __float2half_rn(v);
    }
}

extern "C" void pa_cuda_to_half(void *out, const float *x, int ldx, int n_tok, int n, bool bf16,
                                cudaStream_t stream) {
    to_half_kernel<<<n_tok, THREADS, 0, stream>>>(out, x, ldx, n, bf16);
}
