/*
 * The best candidates of logit rows on the device (pa_cuda_top_k): what a sampler draws from,
 * so that a decode step copies k (id, logit) pairs down per agent instead of n_vocab floats.
 * The order is the CPU's pa_top_k (lib/backend/cpu/ops.c): larger logits first, equal ones in
 * id order, NaN after every number; the values are the row's own, so the host draws the same
 * token from them as from the whole row.
 *
 * One block per row, a radix select: every logit becomes an unsigned key that orders as the
 * floats do, and four passes of a 256-bin histogram over the row find the key of the k-th best
 * a byte at a time (each pass counting only the keys that share the bytes found so far). Then
 * the keys above it are taken (fewer than k, in any order), the equal ones in id order until k
 * (a block-wide count in index order), and the k are put in order by rank in shared memory.
 */
#include "kernels.h"

#define TOP_THREADS 256
#define TOP_WARPS (TOP_THREADS / 32)

/* Keys that order as the logits do: -0 as +0, NaN below -inf. */
static __device__ __forceinline__ uint32_t rank_key(float v) {
    if (v != v) return 0;
    const uint32_t b = v == 0.0f ? 0u : __float_as_uint(v);
    return b & 0x80000000u ? ~b : b | 0x80000000u;
}

/* a ranks before b: the larger key, or the same key and the lower id */
static __device__ __forceinline__ bool ranks_before(uint32_t ka, int32_t ia, uint32_t kb,
                                                    int32_t ib) {
    return ka > kb || (ka == kb && ia < ib);
}

/* The key of the row's k-th best (1 <= k <= n) through *threshold, how many keys equal to it
 * are among the k best through *n_equal, and how many the row has through *n_ties. */
static __device__ void select_kth(const float *x, int n, int k, uint32_t *threshold,
                                  int *n_equal, int *n_ties) {
    __shared__ unsigned hist[256];
    __shared__ uint32_t prefix, mask;
    __shared__ int wanted; /* of the keys that share `prefix`, the wanted-th best is the k-th */
    __shared__ int in_bin;  /* keys that share `prefix` */
    const int lane = threadIdx.x % 32;
    if (threadIdx.x == 0) prefix = 0, mask = 0, wanted = k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
        __syncthreads();
        for (int base = 0; base < n; base += blockDim.x) { /* every lane of a warp iterates */
            const int i = base + threadIdx.x;
            const uint32_t key = i < n ? rank_key(x[i]) : 0;
            const bool counts = i < n && (key & mask) == prefix;
            const unsigned bin = counts ? (key >> shift) & 255u : 256u;
            /* lanes of one bin add together: logits crowd into a few bins of the top byte */
            const unsigned peers = __match_any_sync(0xffffffffu, bin);
            if (counts && lane == __ffs(peers) - 1) atomicAdd(&hist[bin], __popc(peers));
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            int above = 0, b = 255;
            while (above + (int)hist[b] < wanted) above += hist[b--];
            wanted -= above;
            in_bin = hist[b];
            prefix |= (uint32_t)b << shift;
            mask |= 255u << shift;
        }
        __syncthreads();
    }
    *threshold = prefix;
    *n_equal = wanted;
    *n_ties = in_bin;
}

/* out[r * PA_DEV_TOP_MAX + j] for j < ks[r]: row r's best ks[r] (at most PA_DEV_TOP_MAX and
 * n), best first; rows with ks[r] <= 0 are skipped. */
__global__ void top_k_kernel(const float *logits, int n, const int32_t *ks, pa_dev_top *out) {
    const int row = blockIdx.x;
    const int k = min(min(ks[row], PA_DEV_TOP_MAX), n);
    if (k <= 0) return;
    const float *x = logits + (size_t)row * n;
    uint32_t threshold;
    int n_equal, n_ties;
    select_kth(x, n, k, &threshold, &n_equal, &n_ties);

    __shared__ pa_dev_top cand[PA_DEV_TOP_MAX];
    __shared__ int n_above, n_at;
    __shared__ int warp_count[TOP_WARPS];
    if (threadIdx.x == 0) n_above = 0, n_at = 0;
    __syncthreads();
    const int first = k - n_equal; /* keys above the threshold, taken in any order */
    const bool every_tie = n_ties == n_equal; /* (the usual case: one key at the threshold) */
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const uint32_t key = rank_key(x[i]);
        if (key > threshold) cand[atomicAdd(&n_above, 1)] = pa_dev_top{i, x[i]};
        else if (key == threshold && every_tie) cand[first + atomicAdd(&n_at, 1)] = pa_dev_top{i, x[i]};
    }
    /* more keys at the threshold than places left: the first n_equal in id order, counted
     * across the block tile by tile */
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    int taken = every_tie ? n_equal : 0;
    for (int base = 0; base < n && taken < n_equal; base += blockDim.x) {
        const int i = base + threadIdx.x;
        const bool equal = i < n && rank_key(x[i]) == threshold;
        const unsigned ballot = __ballot_sync(0xffffffffu, equal);
        if (lane == 0) warp_count[warp] = __popc(ballot);
        __syncthreads();
        int before = __popc(ballot & ((1u << lane) - 1)), total = 0;
        for (int w = 0; w < TOP_WARPS; w++) {
            before += w < warp ? warp_count[w] : 0;
            total += warp_count[w];
        }
        if (equal && taken + before < n_equal) cand[first + taken + before] = pa_dev_top{i, x[i]};
        taken += total;
        __syncthreads(); /* warp_count is rewritten next round */
    }
    __syncthreads();
    if (threadIdx.x < k) { /* each candidate's place: how many rank before it */
        const pa_dev_top me = cand[threadIdx.x];
        const uint32_t key = rank_key(me.logit);
        int rank = 0;
        for (int j = 0; j < k; j++)
            rank += ranks_before(rank_key(cand[j].logit), cand[j].id, key, me.id);
        out[(size_t)row * PA_DEV_TOP_MAX + rank] = me;
    }
}

extern "C" void pa_cuda_top_k(const float *logits, int n, int rows, const int32_t *ks,
                              pa_dev_top *out, cudaStream_t stream) {
    if (rows > 0) top_k_kernel<<<rows, TOP_THREADS, 0, stream>>>(logits, n, ks, out);
}
