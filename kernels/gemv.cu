/*
 * GEMV for decode and verification rows: y[t][r] = W[r] · x[t], reading each weight once per
 * tile of up to 16 tokens.
 *
 * A warp owns one output row. Its lanes walk the row in chunks (8 values for f32/f16/bf16, 16
 * for Q8_0, 32 for Q4_0, each one aligned 16-byte load of weights), lane l taking chunks l,
 * l + 32, ..., and multiply each chunk into one accumulator per token with fmaf in value order;
 * a butterfly over the warp then sums the lanes. The tile's width only decides how many
 * accumulators there are, never the order of any one of them, so a token's result is bitwise
 * the same in a tile of 1 as in a tile of 16 (decode rows must not depend on the batch).
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels.h"

#define WARPS 8      /* warps (rows) per block */
#define MAX_TILE 16  /* tokens per launch */

struct gemv_args {
    const uint8_t *data[3];    /* up to three matrices of one type filling consecutive rows */
    const uint16_t *scales[3];
    int row_end[3];            /* cumulative row counts */
    int n_w;
    const uint8_t *pair;       /* swiglu: the up matrix beside the gate matrix in data[0] */
    const uint16_t *pair_scales;
    int n_in, ld;
    const float *x;
    int ldx;
    float *y;
    int ldy, n_tok;
    bool accumulate;
};

static __device__ __forceinline__ float half_bits(uint16_t h) {
    return __half2float(__ushort_as_half(h));
}

/* Values per chunk of each type. */
template <int TYPE> struct chunk_of { static constexpr int n = 8; };
template <> struct chunk_of<PA_DEV_Q8_0> { static constexpr int n = 16; };
template <> struct chunk_of<PA_DEV_Q4_0> { static constexpr int n = 32; };

/* Chunk c of a row as f32 values, in the order of x. */
template <int TYPE>
static __device__ __forceinline__ void load_chunk(const uint8_t *row, const uint16_t *scales,
                                                  int c, float *w) {
    if (TYPE == PA_DEV_F32) {
        const float4 *p = reinterpret_cast<const float4 *>(row) + 2 * c;
        float4 a = __ldg(p), b = __ldg(p + 1);
        w[0] = a.x; w[1] = a.y; w[2] = a.z; w[3] = a.w;
        w[4] = b.x; w[5] = b.y; w[6] = b.z; w[7] = b.w;
    } else if (TYPE == PA_DEV_F16 || TYPE == PA_DEV_BF16) {
        uint4 v = __ldg(reinterpret_cast<const uint4 *>(row) + c);
        const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            if (TYPE == PA_DEV_F16) {
                w[2 * i] = half_bits((uint16_t)(words[i] & 0xffff));
                w[2 * i + 1] = half_bits((uint16_t)(words[i] >> 16));
            } else {
                w[2 * i] = __uint_as_float(words[i] << 16);
                w[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
            }
        }
    } else if (TYPE == PA_DEV_Q8_0) {
        int4 v = __ldg(reinterpret_cast<const int4 *>(row) + c);
        const float d = half_bits(__ldg(scales + c / 2));
        const int words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int i = 0; i < 16; i++) w[i] = d * (float)(int8_t)(words[i / 4] >> (8 * (i % 4)));
    } else { /* Q4_0 */
        uint4 v = __ldg(reinterpret_cast<const uint4 *>(row) + c);
        const float d = half_bits(__ldg(scales + c));
        const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int j = 0; j < 16; j++) {
            const int byte = (int)((words[j / 4] >> (8 * (j % 4))) & 0xff);
            w[j] = d * (float)((byte & 0xf) - 8);
            w[j + 16] = d * (float)((byte >> 4) - 8);
        }
    }
}

template <int TYPE>
static __device__ __forceinline__ float load_one(const uint8_t *row, int i) {
    if (TYPE == PA_DEV_F32) return reinterpret_cast<const float *>(row)[i];
    const uint16_t h = reinterpret_cast<const uint16_t *>(row)[i];
    return TYPE == PA_DEV_F16 ? half_bits(h) : __uint_as_float((uint32_t)h << 16);
}

template <int TYPE> static __device__ __forceinline__ size_t row_bytes(int n_in, int ld) {
    return TYPE == PA_DEV_F32   ? (size_t)ld * 4
           : TYPE == PA_DEV_Q8_0 ? (size_t)n_in
           : TYPE == PA_DEV_Q4_0 ? (size_t)n_in / 2
                                 : (size_t)ld * 2;
}

/* acc[t] += W[row] · x[t] for the tile's NT tokens (the first n_tok of them are real). */
template <int TYPE, int NT>
static __device__ __forceinline__ void dot_row(const gemv_args &a, const uint8_t *row,
                                               const uint16_t *scales, int lane, float *acc) {
    constexpr int C = chunk_of<TYPE>::n;
    const float *xs[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) xs[t] = a.x + (size_t)(t < a.n_tok ? t : 0) * a.ldx;
    const int n_chunks = a.n_in / C;
#pragma unroll 2
    for (int c = lane; c < n_chunks; c += 32) {
        float w[C];
        load_chunk<TYPE>(row, scales, c, w);
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const float4 *xp = reinterpret_cast<const float4 *>(xs[t] + c * C);
#pragma unroll
            for (int q = 0; q < C / 4; q++) {
                const float4 xv = xp[q];
                acc[t] = fmaf(w[4 * q], xv.x, acc[t]);
                acc[t] = fmaf(w[4 * q + 1], xv.y, acc[t]);
                acc[t] = fmaf(w[4 * q + 2], xv.z, acc[t]);
                acc[t] = fmaf(w[4 * q + 3], xv.w, acc[t]);
            }
        }
    }
    if (TYPE == PA_DEV_F32 || TYPE == PA_DEV_F16 || TYPE == PA_DEV_BF16) {
        for (int i = n_chunks * C + lane; i < a.n_in; i += 32) { /* the last n_in % 8 values */
            const float w = load_one<TYPE>(row, i);
#pragma unroll
            for (int t = 0; t < NT; t++) acc[t] = fmaf(w, xs[t][i], acc[t]);
        }
    }
#pragma unroll
    for (int t = 0; t < NT; t++)
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) acc[t] += __shfl_xor_sync(0xffffffffu, acc[t], off);
}

template <int TYPE, int NT>
__global__ void __launch_bounds__(WARPS * 32) gemv_kernel(gemv_args a) {
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * WARPS + (threadIdx.x >> 5);
    if (r >= a.row_end[a.n_w - 1]) return;
    /* which matrix the row is in (selects, not an indexed load: the arguments stay in
       constant memory) */
    const int m = r < a.row_end[0] ? 0 : r < a.row_end[1] ? 1 : 2;
    const int local = m == 0 ? r : r - (m == 1 ? a.row_end[0] : a.row_end[1]);
    const uint8_t *data = m == 0 ? a.data[0] : m == 1 ? a.data[1] : a.data[2];
    const uint16_t *scales = m == 0 ? a.scales[0] : m == 1 ? a.scales[1] : a.scales[2];
    const size_t rb = row_bytes<TYPE>(a.n_in, a.ld);
    const int n_scales = a.n_in / PA_DEV_QBLOCK;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    dot_row<TYPE, NT>(a, data + local * rb, scales ? scales + (size_t)local * n_scales : nullptr,
                      lane, acc);
    if (a.pair) { /* swiglu: the up row's product, then silu(gate) * up */
        float up[NT];
#pragma unroll
        for (int t = 0; t < NT; t++) up[t] = 0.0f;
        dot_row<TYPE, NT>(a, a.pair + local * rb,
                          a.pair_scales ? a.pair_scales + (size_t)local * n_scales : nullptr,
                          lane, up);
#pragma unroll
        for (int t = 0; t < NT; t++) acc[t] = acc[t] / (1.0f + expf(-acc[t])) * up[t];
    }
    if (lane == 0) {
#pragma unroll
        for (int t = 0; t < NT; t++) {
            if (t >= a.n_tok) break;
            float *y = a.y + (size_t)t * a.ldy + r;
            *y = a.accumulate ? *y + acc[t] : acc[t];
        }
    }
}

template <int TYPE>
static void launch_type(const gemv_args &a, cudaStream_t stream) {
    const int rows = a.row_end[a.n_w - 1];
    const dim3 grid((rows + WARPS - 1) / WARPS), block(WARPS * 32);
    if (a.n_tok == 1) gemv_kernel<TYPE, 1><<<grid, block, 0, stream>>>(a);
    else if (a.n_tok == 2) gemv_kernel<TYPE, 2><<<grid, block, 0, stream>>>(a);
    else if (a.n_tok <= 4) gemv_kernel<TYPE, 4><<<grid, block, 0, stream>>>(a);
    else if (a.n_tok <= 8) gemv_kernel<TYPE, 8><<<grid, block, 0, stream>>>(a);
    else gemv_kernel<TYPE, 16><<<grid, block, 0, stream>>>(a);
}

/* Splits the tokens into tiles of MAX_TILE and launches the kernel of the weights' type. */
static void launch(gemv_args a, int type, int n_tok, cudaStream_t stream) {
    for (int t0 = 0; t0 < n_tok; t0 += MAX_TILE) {
        gemv_args tile = a;
        tile.n_tok = n_tok - t0 < MAX_TILE ? n_tok - t0 : MAX_TILE;
        tile.x = a.x + (size_t)t0 * a.ldx;
        tile.y = a.y + (size_t)t0 * a.ldy;
        switch (type) {
        case PA_DEV_F32: launch_type<PA_DEV_F32>(tile, stream); break;
        case PA_DEV_F16: launch_type<PA_DEV_F16>(tile, stream); break;
        case PA_DEV_BF16: launch_type<PA_DEV_BF16>(tile, stream); break;
        case PA_DEV_Q8_0: launch_type<PA_DEV_Q8_0>(tile, stream); break;
        default: launch_type<PA_DEV_Q4_0>(tile, stream); break;
        }
    }
}

extern "C" void pa_cuda_gemv(const pa_dev_matrix *const *w, int n_w, const float *x, int ldx,
                             float *y, int ldy, int n_tok, bool accumulate, cudaStream_t stream) {
    gemv_args a = {};
    int rows = 0;
    for (int m = 0; m < n_w; m++) {
        a.data[m] = static_cast<const uint8_t *>(w[m]->data);
        a.scales[m] = w[m]->scales;
        a.row_end[m] = rows += w[m]->n_out;
    }
    a.n_w = n_w;
    a.n_in = w[0]->n_in;
    a.ld = w[0]->ld;
    a.x = x;
    a.ldx = ldx;
    a.y = y;
    a.ldy = ldy;
    a.accumulate = accumulate;
    launch(a, w[0]->type, n_tok, stream);
}

extern "C" void pa_cuda_gemv_swiglu(const pa_dev_matrix *gate, const pa_dev_matrix *up,
                                    const float *x, int ldx, float *y, int ldy, int n_tok,
                                    cudaStream_t stream) {
    gemv_args a = {};
    a.data[0] = static_cast<const uint8_t *>(gate->data);
    a.scales[0] = gate->scales;
    a.row_end[0] = gate->n_out;
    a.n_w = 1;
    a.pair = static_cast<const uint8_t *>(up->data);
    a.pair_scales = up->scales;
    a.n_in = gate->n_in;
    a.ld = gate->ld;
    a.x = x;
    a.ldx = ldx;
    a.y = y;
    a.ldy = ldy;
    launch(a, gate->type, n_tok, stream);
}
