/*
 * GEMV for decode and verification rows: y[t][r] = W[r] · x[t], reading each weight once per
 * tile of up to 16 tokens.
 *
 * A warp owns one output row (two for tiles of 8-16 tokens and for a RoPE pair). Its lanes walk
 * a row in chunks (8 values for f32/f16/bf16, 16 for Q8_0, 32 for Q4_0, each one aligned
 * 16-byte load of weights), lane l taking chunks l, l + 32, ..., several loaded ahead, and
 * multiply each chunk into one accumulator per token with fmaf in value order; a butterfly over
 * the warp then sums the lanes. The tile's width only decides how many accumulators there are,
 * never the order of any one of them, so a token's result is bitwise the same in a tile of 1 as
 * in a tile of 16 (decode rows must not depend on the batch).
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels.h"
#include "rope.cuh"

#define WARPS 8      /* warps per block */
#define MAX_TILE 16  /* tokens per launch */

/* What a launch does with its sums. */
enum { PLAIN, SWIGLU, ROPE };

struct gemv_args {
    const uint8_t *data[3];    /* up to three matrices of one type filling consecutive rows */
    const uint16_t *scales[3];
    int row_end[3];            /* cumulative row counts */
    int rows;                  /* all of them */
    const uint8_t *pair;       /* swiglu: the up matrix beside the gate matrix in data[0] */
    const uint16_t *pair_scales;
    int n_in, ld;
    const float *x;
    int ldx;
    float *y;
    int ldy, n_tok;
    bool accumulate;
    /* ROPE: Q, K and V of each token (rows [0, q_dim), [q_dim, q_dim + kv_dim), the rest),
       Q and K rotated by the token's position, K and V also written to its slot of the pool */
    const pa_dev_token *tokens;
    int q_dim, kv_dim, head_dim;
    float rope_base;
    pa_dev_kv kv;
    int layer;
};

static __device__ __forceinline__ float half_bits(uint16_t h) {
    return __half2float(__ushort_as_half(h));
}

/* Values per chunk of each type. */
template <int TYPE> struct chunk_of { static constexpr int n = 8; };
template <> struct chunk_of<PA_DEV_Q8_0> { static constexpr int n = 16; };
template <> struct chunk_of<PA_DEV_Q4_0> { static constexpr int n = 32; };

/* One chunk as it lies in memory: 16 bytes of values (32 for f32: v[1] too) and the block's
 * scale (Q8_0, Q4_0). */
template <int TYPE> struct raw_chunk {
    uint4 v[2];
    uint16_t d;
};

template <int TYPE>
static __device__ __forceinline__ raw_chunk<TYPE> load_chunk(const uint8_t *row,
                                                             const uint16_t *scales, int c) {
    raw_chunk<TYPE> r;
    const uint4 *p = reinterpret_cast<const uint4 *>(row);
    if (TYPE == PA_DEV_F32) {
        r.v[0] = __ldg(p + 2 * c);
        r.v[1] = __ldg(p + 2 * c + 1);
    } else {
        r.v[0] = __ldg(p + c);
    }
    if (TYPE == PA_DEV_Q8_0) r.d = __ldg(scales + c / 2);
    if (TYPE == PA_DEV_Q4_0) r.d = __ldg(scales + c);
    return r;
}

/* Values 8g ... 8g + 7 of a chunk as f32, in the order of x. */
template <int TYPE>
static __device__ __forceinline__ void unpack8(const raw_chunk<TYPE> &r, int g, float *w) {
    if (TYPE == PA_DEV_F32) {
        const uint32_t words[8] = {r.v[0].x, r.v[0].y, r.v[0].z, r.v[0].w,
                                   r.v[1].x, r.v[1].y, r.v[1].z, r.v[1].w};
#pragma unroll
        for (int i = 0; i < 8; i++) w[i] = __uint_as_float(words[i]);
        return;
    }
    const uint32_t words[4] = {r.v[0].x, r.v[0].y, r.v[0].z, r.v[0].w};
    if (TYPE == PA_DEV_F16 || TYPE == PA_DEV_BF16) {
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
    } else if (TYPE == PA_DEV_Q8_0) { /* 16 values: bytes 8g ... 8g + 7 */
        const float d = half_bits(r.d);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int b = 8 * g + i;
            w[i] = d * (float)(int8_t)(words[b / 4] >> (8 * (b % 4)));
        }
    } else { /* Q4_0, 32 values: value j < 16 is byte j's low nibble, j + 16 its high one */
        const float d = half_bits(r.d);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int b = 8 * (g % 2) + i;
            const int byte = (int)((words[b / 4] >> (8 * (b % 4))) & 0xff);
            w[i] = d * (float)((g < 2 ? byte & 0xf : byte >> 4) - 8);
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

/* The activations a launch reads: n_tok rows of x (ldx apart); a tile of NT > n_tok tokens
 * reads token 0 again for the rest, and drops their sums. */
struct gemv_x {
    const float *x;
    int ldx, n_tok;
    __device__ const float *token(int t) const {
        return x + (size_t)(t < n_tok ? t : 0) * ldx;
    }
};

/* acc[j][t] += chunk c of row j · x[t][c*C, (c+1)*C) for R rows and the tile's tokens, fmaf
 * in value order, eight values of every row at a time (one load of x serves all rows). */
template <int TYPE, int NT, int R>
static __device__ __forceinline__ void fma_chunk(const raw_chunk<TYPE> *raw, const gemv_x &x,
                                                 int c, float (*acc)[NT]) {
    constexpr int C = chunk_of<TYPE>::n;
#pragma unroll
    for (int g = 0; g < C / 8; g++) {
        float w[R][8];
#pragma unroll
        for (int j = 0; j < R; j++) unpack8<TYPE>(raw[j], g, w[j]);
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const float4 *xp = reinterpret_cast<const float4 *>(x.token(t) + c * C + 8 * g);
            const float4 x0 = xp[0], x1 = xp[1];
            const float xv[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
#pragma unroll
            for (int j = 0; j < R; j++)
#pragma unroll
                for (int i = 0; i < 8; i++) acc[j][t] = fmaf(w[j][i], xv[i], acc[j][t]);
        }
    }
}

/* Weight rows a warp walks together: one output row for a few tokens (with SwiGLU: its gate
 * and up rows), two for many (each load of x serves both) and for RoPE (the pair it rotates). */
template <int NT, int MODE> struct rows_of {
    static constexpr int out = MODE == ROPE || (NT > 4 && MODE == PLAIN) ? 2 : 1; /* per warp */
    static constexpr int w = MODE == SWIGLU ? 2 * out : out;
};

/* Chunks of each row a lane loads before it multiplies any: enough bytes in flight to keep HBM
 * busy with one warp per row, fewer where they would crowd the registers (32-byte f32 chunks,
 * 32-value Q4_0 chunks, many tokens' sums, several rows). */
template <int TYPE, int NT, int R> struct unroll_of {
    static constexpr int base = NT > 2 || TYPE == PA_DEV_F32 || TYPE == PA_DEV_Q4_0 ? 4 : 8;
    static constexpr int n = base / R > 1 ? base / R : 1;
};

/* acc[j][t] += W_j[row j] · x[t] for R weight rows and the tile's tokens, summed over the warp.
 * Lane l takes chunks l, l + 32, ... in that order; loading UNROLL of them ahead, or walking
 * several rows at once, changes when the values arrive, never the order of any sum. */
template <int TYPE, int NT, int R>
static __device__ __forceinline__ void dot_rows(const uint8_t *const *row,
                                                const uint16_t *const *scales, const gemv_x &x,
                                                int n_in, int lane, float (*acc)[NT]) {
    constexpr int C = chunk_of<TYPE>::n, UNROLL = unroll_of<TYPE, NT, R>::n;
    const int n_chunks = n_in / C;
    for (int c0 = lane; c0 < n_chunks; c0 += 32 * UNROLL) {
        raw_chunk<TYPE> raw[UNROLL][R];
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            if (c0 + 32 * u >= n_chunks) break;
#pragma unroll
            for (int j = 0; j < R; j++)
                raw[u][j] = load_chunk<TYPE>(row[j], scales[j], c0 + 32 * u);
        }
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            if (c0 + 32 * u >= n_chunks) break;
            fma_chunk<TYPE, NT, R>(raw[u], x, c0 + 32 * u, acc);
        }
    }
    if (TYPE == PA_DEV_F32 || TYPE == PA_DEV_F16 || TYPE == PA_DEV_BF16) {
        for (int i = n_chunks * C + lane; i < n_in; i += 32) { /* the last n_in % 8 values */
#pragma unroll
            for (int j = 0; j < R; j++) {
                const float w = load_one<TYPE>(row[j], i);
#pragma unroll
                for (int t = 0; t < NT; t++) acc[j][t] = fmaf(w, x.token(t)[i], acc[j][t]);
            }
        }
    }
#pragma unroll
    for (int j = 0; j < R; j++)
#pragma unroll
        for (int t = 0; t < NT; t++)
#pragma unroll
            for (int off = 16; off > 0; off >>= 1)
                acc[j][t] += __shfl_xor_sync(0xffffffffu, acc[j][t], off);
}

/* RoPE of rows r, r + 1 (r even, in Q or K) of token t (rope_pair; q_dim is whole heads);
 * K and V rows also go to the token's KV slot. */
static __device__ __forceinline__ void rope_store(const gemv_args &a, int t, int r, float *v0,
                                                  float *v1) {
    const pa_dev_token tok = a.tokens[t];
    if (r < a.q_dim + a.kv_dim) rope_pair(v0, v1, r % a.head_dim, a.head_dim, tok.pos, a.rope_base);
    if (r < a.q_dim) return;
    const bool is_k = r < a.q_dim + a.kv_dim;
    const size_t at = kv_row(a.kv, tok, a.layer) + (r - a.q_dim - (is_k ? 0 : a.kv_dim));
    kv_put(is_k ? a.kv.k : a.kv.v, a.kv.f16, at, *v0);
    kv_put(is_k ? a.kv.k : a.kv.v, a.kv.f16, at + 1, *v1);
}

/* acc = the sums of output rows r0 ... r0 + G - 1 of the tile's tokens (in every lane). */
template <int TYPE, int NT, int MODE>
static __device__ __forceinline__ void gemv_sums(const gemv_args &a, int r0, int lane,
                                                 float (*acc)[NT]) {
    constexpr int G = rows_of<NT, MODE>::out, R = rows_of<NT, MODE>::w;
    constexpr bool PAIR = MODE == SWIGLU;
    const size_t rb = row_bytes<TYPE>(a.n_in, a.ld);
    const int n_scales = a.n_in / PA_DEV_QBLOCK;
    const uint8_t *row[R];
    const uint16_t *scales[R];
#pragma unroll
    for (int g = 0; g < G; g++) {
        const int r = r0 + g < a.rows ? r0 + g : a.rows - 1; /* past the end: read, not written */
        /* which matrix the row is in (selects, not indexed loads: the arguments stay in the
           constant bank instead of being copied to the stack) */
        const int m = r < a.row_end[0] ? 0 : r < a.row_end[1] ? 1 : 2;
        const size_t local = m == 0 ? r : r - (m == 1 ? a.row_end[0] : a.row_end[1]);
        const uint8_t *data = m == 0 ? a.data[0] : m == 1 ? a.data[1] : a.data[2];
        const uint16_t *sc = m == 0 ? a.scales[0] : m == 1 ? a.scales[1] : a.scales[2];
        const int j = PAIR ? 2 * g : g;
        row[j] = data + local * rb;
        scales[j] = sc ? sc + local * n_scales : nullptr;
        if (PAIR) { /* swiglu: the up row beside the gate row */
            row[j + 1] = a.pair + local * rb;
            scales[j + 1] = a.pair_scales ? a.pair_scales + local * n_scales : nullptr;
        }
    }
    dot_rows<TYPE, NT, R>(row, scales, {a.x, a.ldx, a.n_tok}, a.n_in, lane, acc);
}

/* Output rows r0 ... r0 + G - 1 of the tile's tokens from their sums (every lane has them). */
template <int NT, int MODE>
static __device__ __forceinline__ void gemv_write(const gemv_args &a, int r0, int lane,
                                                  float (*acc)[NT]) {
    constexpr int G = rows_of<NT, MODE>::out;
    constexpr bool PAIR = MODE == SWIGLU;
    if constexpr (MODE == ROPE) { /* rows r0 (even) and r0 + 1: one pair */
#pragma unroll
        for (int t = 0; t < NT; t++) {
            if (lane != t % 32 || t >= a.n_tok) continue;
            float v0 = acc[0][t], v1 = acc[G - 1][t];
            rope_store(a, t, r0, &v0, &v1);
            float *y = a.y + (size_t)t * a.ldy + r0;
            y[0] = v0;
            y[1] = v1;
        }
    } else {
#pragma unroll
        for (int g = 0; g < G; g++)
#pragma unroll
            for (int t = 0; t < NT; t++) {
                const int j = PAIR ? 2 * g : g;
                /* silu(gate) * up */
                const float v = PAIR ? acc[j][t] / (1.0f + expf(-acc[j][t])) * acc[PAIR ? j + 1 : j][t]
                                     : acc[j][t];
                if (lane != (g * NT + t) % 32 || t >= a.n_tok || r0 + g >= a.rows) continue;
                float *y = a.y + (size_t)t * a.ldy + r0 + g;
                *y = a.accumulate ? *y + v : v;
            }
    }
}

/* Warp w of block b computes output rows G (b WARPS + w) ... + G - 1 for the tile's tokens. */
template <int TYPE, int NT, int MODE>
__global__ void __launch_bounds__(WARPS * 32, NT > 4 ? 2 : 3) gemv_kernel(const gemv_args a) {
    constexpr int G = rows_of<NT, MODE>::out, R = rows_of<NT, MODE>::w;
    const int lane = threadIdx.x & 31;
    const int r0 = (blockIdx.x * WARPS + (threadIdx.x >> 5)) * G;
    if (r0 >= a.rows) return;
    float acc[R][NT];
#pragma unroll
    for (int j = 0; j < R; j++)
#pragma unroll
        for (int t = 0; t < NT; t++) acc[j][t] = 0.0f;
    gemv_sums<TYPE, NT, MODE>(a, r0, lane, acc);
    gemv_write<NT, MODE>(a, r0, lane, acc);
}

template <int TYPE, int NT, int MODE>
static void launch_mode(const gemv_args &a, cudaStream_t stream) {
    constexpr int rows = WARPS * rows_of<NT, MODE>::out; /* per block */
    gemv_kernel<TYPE, NT, MODE><<<(a.rows + rows - 1) / rows, WARPS * 32, 0, stream>>>(a);
}

template <int TYPE, int NT>
static void launch_tile(const gemv_args &a, cudaStream_t stream) {
    if (a.tokens) launch_mode<TYPE, NT, ROPE>(a, stream);
    else if (a.pair) launch_mode<TYPE, NT, SWIGLU>(a, stream);
    else launch_mode<TYPE, NT, PLAIN>(a, stream);
}

template <int TYPE>
static void launch_type(const gemv_args &a, cudaStream_t stream) {
    if (a.n_tok == 1) launch_tile<TYPE, 1>(a, stream);
    else if (a.n_tok == 2) launch_tile<TYPE, 2>(a, stream);
    else if (a.n_tok <= 4) launch_tile<TYPE, 4>(a, stream);
    else if (a.n_tok <= 8) launch_tile<TYPE, 8>(a, stream);
    else launch_tile<TYPE, 16>(a, stream);
}

/* Splits the tokens into tiles of MAX_TILE and launches the kernel of the weights' type. */
static void launch(gemv_args a, int type, int n_tok, cudaStream_t stream) {
    for (int t0 = 0; t0 < n_tok; t0 += MAX_TILE) {
        gemv_args tile = a;
        tile.n_tok = n_tok - t0 < MAX_TILE ? n_tok - t0 : MAX_TILE;
        tile.x = a.x + (size_t)t0 * a.ldx;
        tile.y = a.y + (size_t)t0 * a.ldy;
        if (a.tokens) tile.tokens = a.tokens + t0;
        switch (type) {
        case PA_DEV_F32: launch_type<PA_DEV_F32>(tile, stream); break;
        case PA_DEV_F16: launch_type<PA_DEV_F16>(tile, stream); break;
        case PA_DEV_BF16: launch_type<PA_DEV_BF16>(tile, stream); break;
        case PA_DEV_Q8_0: launch_type<PA_DEV_Q8_0>(tile, stream); break;
        default: launch_type<PA_DEV_Q4_0>(tile, stream); break;
        }
    }
}

/* The arguments every launch has: up to three matrices of one type and width side by side. */
static gemv_args args_of(const pa_dev_matrix *const *w, int n_w, const float *x, int ldx,
                         float *y, int ldy) {
    gemv_args a = {};
    int rows = 0;
    for (int m = 0; m < n_w; m++) {
        a.data[m] = static_cast<const uint8_t *>(w[m]->data);
        a.scales[m] = w[m]->scales;
        a.row_end[m] = rows += w[m]->n_out;
    }
    a.rows = rows;
    a.n_in = w[0]->n_in;
    a.ld = w[0]->ld;
    a.x = x;
    a.ldx = ldx;
    a.y = y;
    a.ldy = ldy;
    return a;
}

extern "C" void pa_cuda_gemv(const pa_dev_matrix *const *w, int n_w, const float *x, int ldx,
                             float *y, int ldy, int n_tok, bool accumulate, cudaStream_t stream) {
    gemv_args a = args_of(w, n_w, x, ldx, y, ldy);
    a.accumulate = accumulate;
    launch(a, w[0]->type, n_tok, stream);
}

extern "C" void pa_cuda_gemv_swiglu(const pa_dev_matrix *gate, const pa_dev_matrix *up,
                                    const float *x, int ldx, float *y, int ldy, int n_tok,
                                    cudaStream_t stream) {
    gemv_args a = args_of(&gate, 1, x, ldx, y, ldy);
    a.pair = static_cast<const uint8_t *>(up->data);
    a.pair_scales = up->scales;
    launch(a, gate->type, n_tok, stream);
}

extern "C" void pa_cuda_gemv_qkv_rope(const pa_dev_matrix *const *qkv, const float *x, int ldx,
                                      float *y, int ldy, int n_tok, const pa_dev_token *tokens,
                                      int head_dim, float rope_base, const pa_dev_kv *kv,
                                      int layer, cudaStream_t stream) {
    gemv_args a = args_of(qkv, 3, x, ldx, y, ldy);
    a.tokens = tokens;
    a.q_dim = qkv[0]->n_out;
    a.kv_dim = qkv[1]->n_out;
    a.head_dim = head_dim;
    a.rope_base = rope_base;
    a.kv = *kv;
    a.layer = layer;
    launch(a, qkv[0]->type, n_tok, stream);
}
