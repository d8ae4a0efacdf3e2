/*
 * RoPE and the KV write, shared by the prompt rows' kernel (elementwise.cu, rope_store_kernel)
 * and the decode rows' Q/K/V GEMV (gemv.cu), so both compute the same values.
 */
#ifndef PA_ROPE_CUH
#define PA_ROPE_CUH

#include <cuda_fp16.h>

#include "kernels.h"

/* Rotates the pair (*v0, *v1) at dimension i (even) of a head of hd values by
 * pos * base^(-i/hd), as pa_rope on the CPU. */
static __device__ __forceinline__ void rope_pair(float *v0, float *v1, int i, int hd, int pos,
                                                 float base) {
    const float freq = 1.0f / powf(base, (float)i / (float)hd);
    const float theta = (float)pos * freq;
    const float c = cosf(theta), s = sinf(theta), x0 = *v0, x1 = *v1;
    *v0 = x0 * c - x1 * s;
    *v1 = x0 * s + x1 * c;
}

/* Element offset of the token's K (or V) row of `layer` in the pool. */
static __device__ __forceinline__ size_t kv_row(const pa_dev_kv &kv, const pa_dev_token &tok,
                                                int layer) {
    return (((size_t)tok.dst_block * kv.n_layer + layer) * kv.block_size + tok.dst_slot) *
           kv.kv_dim;
}

/* pool[at] = value, in the pool's element type */
static __device__ __forceinline__ void kv_put(void *pool, bool f16, size_t at, float value) {
    if (f16) static_cast<__half *>(pool)[at] = __float2half_rn(value);
    else static_cast<float *>(pool)[at] = value;
}

#endif
