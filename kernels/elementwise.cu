/*
 * The small kernels of the forward pass: embedding gather, RMSNorm, RoPE with the KV write,
 * SwiGLU and the f32 -> f16/bf16 rounding of activations for cuBLAS. Each follows the CPU's
 * formula in lib/backend/cpu/ops.c, one block or thread per token row.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels.h"
#include "rope.cuh"

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

/* Loads of each lane in flight at once: a dependent chain of loads from L2 would cost a round
 * trip each. */
#define NORM_UNROLL 8

/* out[i] = x[i] / sqrt(mean(x²) + eps) * w[i] for i < dim (a multiple of 4; rows 16-byte
 * aligned). Lane l sums the squares of float4s l, l + 32, ... in that order and a butterfly
 * adds the lanes, so the scale depends on the row alone. */
static __device__ __forceinline__ void rmsnorm_row(float *out, const float *x, const float *w,
                                                   int dim, float eps, int lane) {
    const float4 *x4 = reinterpret_cast<const float4 *>(x);
    const int n4 = dim / 4;
    float ss = 0.0f;
    for (int i0 = lane; i0 < n4; i0 += 32 * NORM_UNROLL) {
        float4 v[NORM_UNROLL];
#pragma unroll
        for (int u = 0; u < NORM_UNROLL; u++)
            v[u] = i0 + 32 * u < n4 ? x4[i0 + 32 * u] : make_float4(0, 0, 0, 0);
#pragma unroll
        for (int u = 0; u < NORM_UNROLL; u++) {
            ss = fmaf(v[u].x, v[u].x, ss);
            ss = fmaf(v[u].y, v[u].y, ss);
            ss = fmaf(v[u].z, v[u].z, ss);
            ss = fmaf(v[u].w, v[u].w, ss);
        }
    }
    for (int off = 16; off > 0; off >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, off);
    const float scale = 1.0f / sqrtf(ss / (float)dim + eps);
    const float4 *w4 = reinterpret_cast<const float4 *>(w);
    float4 *out4 = reinterpret_cast<float4 *>(out);
    for (int i0 = lane; i0 < n4; i0 += 32 * NORM_UNROLL) {
        float4 v[NORM_UNROLL], g[NORM_UNROLL];
#pragma unroll
        for (int u = 0; u < NORM_UNROLL; u++) {
            if (i0 + 32 * u >= n4) break;
            v[u] = x4[i0 + 32 * u];
            g[u] = w4[i0 + 32 * u];
        }
#pragma unroll
        for (int u = 0; u < NORM_UNROLL; u++) {
            if (i0 + 32 * u >= n4) break;
            out4[i0 + 32 * u] = make_float4(v[u].x * scale * g[u].x, v[u].y * scale * g[u].y,
                                            v[u].z * scale * g[u].z, v[u].w * scale * g[u].w);
        }
    }
}

/* A warp per row. */
__global__ void rmsnorm_kernel(float *out, int ld_out, const float *x, int ldx,
                               const int32_t *rows, const float *w, int n_tok, int dim,
                               float eps) {
    const int t = blockIdx.x * (THREADS / 32) + (threadIdx.x >> 5);
    if (t >= n_tok) return;
    rmsnorm_row(out + (size_t)t * ld_out, x + (size_t)(rows ? rows[t] : t) * ldx, w, dim, eps,
                threadIdx.x & 31);
}

extern "C" void pa_cuda_rmsnorm(float *out, int ld_out, const float *x, int ldx,
                                const int32_t *rows, const float *w, int n_tok, int dim,
                                float eps, cudaStream_t stream) {
    const int per_block = THREADS / 32;
    rmsnorm_kernel<<<(n_tok + per_block - 1) / per_block, THREADS, 0, stream>>>(
        out, ld_out, x, ldx, rows, w, n_tok, dim, eps);
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
        float *v = row + (p / half_hd) * hd + i; /* heads of Q, then of K right after */
        rope_pair(&v[0], &v[1], i, hd, tok.pos, base);
    }
    __syncthreads();
    const size_t at = kv_row(kv, tok, layer);
    const float *k = row + q_dim, *v = row + q_dim + kv_dim;
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        kv_put(kv.k, kv.f16, at + i, k[i]);
        kv_put(kv.v, kv.f16, at + i, v[i]);
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
