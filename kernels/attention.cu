/*
 * Paged attention: every token of a batch (decode, prompt chunk or draft node) attends to the
 * slots it sees through its sequence's block table, reading K and V where the blocks are in the
 * pool. One block of 8 warps per (head, token): warp w takes the visible slots in chunks of 32
 * (w, w + 8, ...), a lane per slot for the scores q·k and an online softmax per chunk, then the
 * lanes sweep the chunk's V rows over the head's dimensions; the warps' states are merged at
 * the end. A draft node of a tree sees [0, limit] and then its ancestors and itself, listed
 * root side first in the step's int array. The work of a token depends on nothing but its own
 * query and the slots it sees, so its result does not depend on the batch.
 */
#include <cuda_fp16.h>

#include "kernels.h"

#define ATT_WARPS 8
#define MAX_HEAD_DIM 256
#define FULL 0xffffffffu

static __device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL, v, off));
    return v;
}

static __device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(FULL, v, off);
    return v;
}

/* q · k for a K row of hd elements (hd even; HD > 0: hd == HD, a multiple of 8, known to the
 * compiler, so the row is read in 16-byte loads that are all in flight at once). */
template <int HD>
static __device__ __forceinline__ float dot_key(const float *q, const void *k, size_t row, int hd,
                                                bool f16) {
    float s = 0.0f;
    if (HD > 0 && f16) {
        const uint4 *p = reinterpret_cast<const uint4 *>(static_cast<const __half *>(k) + row);
        uint4 v[HD > 0 ? HD / 8 : 1];
#pragma unroll
        for (int i = 0; i < HD / 8; i++) v[i] = p[i];
#pragma unroll
        for (int i = 0; i < HD / 8; i++) {
            const __half2 *h = reinterpret_cast<const __half2 *>(&v[i]);
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const float2 f = __half22float2(h[j]);
                s = fmaf(q[8 * i + 2 * j], f.x, s);
                s = fmaf(q[8 * i + 2 * j + 1], f.y, s);
            }
        }
    } else if (HD > 0) {
        const float4 *p = reinterpret_cast<const float4 *>(static_cast<const float *>(k) + row);
        float4 v[HD > 0 ? HD / 4 : 1];
#pragma unroll
        for (int i = 0; i < HD / 4; i++) v[i] = p[i];
#pragma unroll
        for (int i = 0; i < HD / 4; i++) {
            s = fmaf(q[4 * i], v[i].x, s);
            s = fmaf(q[4 * i + 1], v[i].y, s);
            s = fmaf(q[4 * i + 2], v[i].z, s);
            s = fmaf(q[4 * i + 3], v[i].w, s);
        }
    } else if (f16) {
        const __half2 *p = reinterpret_cast<const __half2 *>(static_cast<const __half *>(k) + row);
        for (int i = 0; i < hd / 2; i++) {
            const float2 v = __half22float2(p[i]);
            s = fmaf(q[2 * i], v.x, s);
            s = fmaf(q[2 * i + 1], v.y, s);
        }
    } else {
        const float2 *p = reinterpret_cast<const float2 *>(static_cast<const float *>(k) + row);
        for (int i = 0; i < hd / 2; i++) {
            const float2 v = p[i];
            s = fmaf(q[2 * i], v.x, s);
            s = fmaf(q[2 * i + 1], v.y, s);
        }
    }
    return s;
}

/* The dimensions of a V row a lane accumulates: with the head size known (HD > 0), lane l
 * owns DIMS = HD / 32 adjacent ones, [l DIMS, (l + 1) DIMS), read in one load; otherwise
 * dimensions l, l + 32, ... */
template <int HD> struct v_dims { static constexpr int n = HD > 0 ? HD / 32 : MAX_HEAD_DIM / 32; };

template <int HD> static __device__ __forceinline__ int v_dim(int lane, int i) {
    return HD > 0 ? lane * v_dims<HD>::n + i : lane + 32 * i;
}

/* N = 2 or 4 adjacent values (f16 or f32) as f32, in one aligned load. */
template <int N> static __device__ __forceinline__ void load_adjacent(const __half *src, float *f) {
    if constexpr (N == 2) {
        const float2 a = __half22float2(*reinterpret_cast<const __half2 *>(src));
        f[0] = a.x, f[1] = a.y;
    } else {
        const uint2 raw = *reinterpret_cast<const uint2 *>(src);
        const float2 a = __half22float2(*reinterpret_cast<const __half2 *>(&raw.x));
        const float2 b = __half22float2(*reinterpret_cast<const __half2 *>(&raw.y));
        f[0] = a.x, f[1] = a.y, f[2] = b.x, f[3] = b.y;
    }
}

template <int N> static __device__ __forceinline__ void load_adjacent(const float *src, float *f) {
    if constexpr (N == 2) {
        const float2 a = *reinterpret_cast<const float2 *>(src);
        f[0] = a.x, f[1] = a.y;
    } else {
        const float4 a = *reinterpret_cast<const float4 *>(src);
        f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w;
    }
}

/* acc[i] += p · V[row][dimension i of the lane] */
template <int HD>
static __device__ __forceinline__ void add_v(float *acc, float p, const void *v, size_t row,
                                             int hd, bool f16, int lane) {
    constexpr int DIMS = v_dims<HD>::n;
    if constexpr (HD > 0) {
        float f[DIMS];
        if (f16) load_adjacent<DIMS>(static_cast<const __half *>(v) + row + lane * DIMS, f);
        else load_adjacent<DIMS>(static_cast<const float *>(v) + row + lane * DIMS, f);
#pragma unroll
        for (int i = 0; i < DIMS; i++) acc[i] = fmaf(p, f[i], acc[i]);
    } else {
#pragma unroll
        for (int i = 0; i < DIMS; i++) {
            const int d = lane + 32 * i;
            if (d < hd) {
                const float vd = f16 ? __half2float(static_cast<const __half *>(v)[row + d])
                                     : static_cast<const float *>(v)[row + d];
                acc[i] = fmaf(p, vd, acc[i]);
            }
        }
    }
}

/* (64 registers at most: room for four blocks per multiprocessor, which prompts need) */
template <int HD>
__global__ void __launch_bounds__(ATT_WARPS * 32, 4)
    attention_kernel(float *att, int ld_att, const float *qkv, int ld_qkv,
                     const pa_dev_token *tokens, const int32_t *ints, int n_head, int n_head_kv,
                     int head_dim, pa_dev_kv kv, int layer) {
    constexpr int ACC = v_dims<HD>::n; /* dims per lane */
    const int hd = HD > 0 ? HD : head_dim;
    __shared__ float q[MAX_HEAD_DIM];
    __shared__ float warp_acc[ATT_WARPS][MAX_HEAD_DIM];
    __shared__ float warp_m[ATT_WARPS], warp_l[ATT_WARPS];
    const int h = blockIdx.x, t = blockIdx.y;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const pa_dev_token tok = tokens[t];
    const int kv_head = h / (n_head / n_head_kv), bs = kv.block_size;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int i = threadIdx.x; i < hd; i += blockDim.x) q[i] = qkv[(size_t)t * ld_qkv + h * hd + i];
    __syncthreads();

    const int32_t *table = ints + tok.table, *extra = ints + tok.extra;
    const int n_visible = tok.limit + 1 + tok.n_extra;
    const float neg_inf = __int_as_float(0xff800000);
    float m = neg_inf, l = 0.0f, acc[ACC];
#pragma unroll
    for (int i = 0; i < ACC; i++) acc[i] = 0.0f;

    for (int first = warp * 32; first < n_visible; first += ATT_WARPS * 32) {
        const int v = first + lane;
        float s = neg_inf;
        size_t row = 0; /* element offset of the slot's row for this kv head */
        if (v < n_visible) {
            const int slot = v <= tok.limit ? v : extra[v - tok.limit - 1];
            const size_t block = (size_t)table[slot / bs];
            row = ((block * kv.n_layer + layer) * bs + slot % bs) * kv.kv_dim +
                  (size_t)kv_head * hd;
            s = dot_key<HD>(q, kv.k, row, hd, kv.f16) * scale;
        }
        const float m_new = fmaxf(m, warp_max(s));
        const float p = v < n_visible ? expf(s - m_new) : 0.0f;
        const float correction = expf(m - m_new);
        l = l * correction + warp_sum(p);
#pragma unroll
        for (int i = 0; i < ACC; i++) acc[i] *= correction;
        /* the chunk's V rows in slot order, 8 loads in flight */
        const int n_here = n_visible - first < 32 ? n_visible - first : 32;
#pragma unroll 8
        for (int j = 0; j < n_here; j++)
            add_v<HD>(acc, __shfl_sync(FULL, p, j), kv.v,
                      __shfl_sync(FULL, (unsigned long long)row, j), hd, kv.f16, lane);
        m = m_new;
    }

#pragma unroll
    for (int i = 0; i < ACC; i++)
        if (v_dim<HD>(lane, i) < hd) warp_acc[warp][v_dim<HD>(lane, i)] = acc[i];
    if (lane == 0) {
        warp_m[warp] = m;
        warp_l[warp] = l;
    }
    __syncthreads();
    float m_all = warp_m[0];
    for (int w = 1; w < ATT_WARPS; w++) m_all = fmaxf(m_all, warp_m[w]);
    float l_all = 0.0f;
    for (int w = 0; w < ATT_WARPS; w++) l_all += warp_l[w] * expf(warp_m[w] - m_all);
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float o = 0.0f;
        for (int w = 0; w < ATT_WARPS; w++) o += warp_acc[w][d] * expf(warp_m[w] - m_all);
        att[(size_t)t * ld_att + h * hd + d] = o / l_all;
    }
}

extern "C" void pa_cuda_attention(float *att, int ld_att, const float *qkv, int ld_qkv,
                                  const pa_dev_token *tokens, const int32_t *ints, int n_tok,
                                  int n_head, int n_head_kv, int head_dim, const pa_dev_kv *kv,
                                  int layer, cudaStream_t stream) {
    const dim3 grid(n_head, n_tok);
    /* the common head sizes with their loads unrolled (rows 16-byte aligned: kv_dim % 8 == 0) */
    if (head_dim == 64 && kv->kv_dim % 8 == 0)
        attention_kernel<64><<<grid, ATT_WARPS * 32, 0, stream>>>(
            att, ld_att, qkv, ld_qkv, tokens, ints, n_head, n_head_kv, head_dim, *kv, layer);
    else if (head_dim == 128 && kv->kv_dim % 8 == 0)
        attention_kernel<128><<<grid, ATT_WARPS * 32, 0, stream>>>(
            att, ld_att, qkv, ld_qkv, tokens, ints, n_head, n_head_kv, head_dim, *kv, layer);
    else
        attention_kernel<0><<<grid, ATT_WARPS * 32, 0, stream>>>(
            att, ld_att, qkv, ld_qkv, tokens, ints, n_head, n_head_kv, head_dim, *kv, layer);
}
