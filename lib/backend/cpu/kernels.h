/*
 * Row kernels: the dot products of weight rows, in their storage type, with an activation row
 * (f32, or rounded to 8 bits for the q4 types), and the conversion of a weight row to f32.
 * There is one set of kernels per instruction set (portable C, AVX2+FMA+F16C, AVX-512 with
 * VNNI); ops.c picks the best one this CPU runs, once.
 *
 * Decode reads every weight once per token, so these kernels are bound by how fast one core
 * can pull a weight stream from memory (the q4 ones by arithmetic too). Two things make the
 * streaming fast:
 *   - decode takes four rows that lie far apart in the matrix (the matmul driver gives each
 *     thread four stripes of its rows), so four independent streams are in flight and the
 *     hardware prefetcher tracks each one across page boundaries (batches of tokens, bound by
 *     arithmetic, take four adjacent rows a pass);
 *   - each kernel prefetches PA_PREFETCH_BYTES ahead in every row it reads (its set's
 *     prefetch_bytes where that differs), which covers the start of every 4 KiB page before
 *     the hardware prefetcher would.
 * On the development machine (2 cores) this took an f16 GEMV from 10 to 18 GB/s on one core.
 *
 * The kernels of quantized types (q8_0, q4_0, q4_K) read the activation row rounded to 8 bits
 * per block of 32 (pa_xq8), as llama.cpp's do: widening the weights to f32 costs more than the
 * memory stream leaves time for (one core ran q4_0 at 8.5 GB/s that way), while integer dot
 * products (VNNI vpdpbusd, or vpmaddubsw / vpmaddwd on AVX2) more than double that (q8_0 on two
 * cores: +10 %). The rounding error of x (at most 1/254 of its block's largest value) is of the
 * order of the weights' own. Every kernel set, the portable one included, rounds x the same way
 * (pa_xq8_quantize), so the kernel path does not change results.
 *
 * Invariants every kernel set keeps, so that the kernel path never changes a result:
 *   - dot4(rows)[j] is bitwise equal to dot1(rows[j]): lanes are accumulated in the same order
 *     whichever rows share a pass (a row may land in either depending on the thread count);
 *   - quantized rows are whole blocks (bind_matrix checks it); f32/f16/bf16 rows any length.
 */
#ifndef PA_BACKEND_CPU_KERNELS_H
#define PA_BACKEND_CPU_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Weight types the kernels compute with, as an index (gguf numbers are sparse). */
typedef enum pa_wtype {
    PA_W_F32, PA_W_F16, PA_W_BF16, PA_W_Q8_0, PA_W_Q4_0, PA_W_Q4_K, PA_W_COUNT
} pa_wtype;

/* Block layouts, as ggml-common.h defines them (little-endian, packed):
 *   q8_0: f16 d, int8 q[32]                      value i = d * q[i]
 *   q4_0: f16 d, uint8 qs[16]                    value i = d * (nibble i - 8), where nibble i
 *         is the low half of qs[i] for i < 16 and the high half of qs[i - 16] otherwise
 *   q4_K: f16 d, f16 dmin, uint8 scales[12], uint8 qs[128], 256 values in 8 sub-blocks of 32
 *         with 6-bit scale sc[s] and min m[s] (packed as pa_q4_k_scale_min unpacks them);
 *         value of sub-block s = 2c + h (c = 0..3, h = 0 low / 1 high nibble), element l
 *         (0..31) = d * sc[s] * nibble - dmin * m[s], the nibble being the h half of
 *         qs[32c + l]. */
#define PA_Q8_0_BLOCK 32
#define PA_Q8_0_BYTES 34
#define PA_Q4_0_BLOCK 32
#define PA_Q4_0_BYTES 18
#define PA_Q4_K_BLOCK 256
#define PA_Q4_K_BYTES 144

/* How far ahead of the values being read each row is prefetched, in bytes (measured on the
 * development machine: 1 KiB gave 16.3 GB/s, 2 KiB 18.4, 4 KiB 18.2 for one core). */
#define PA_PREFETCH_BYTES 2048
/* The same for the VBMI set's 4-bit rows (q4_0 quads, q4_K in ZMM registers), which take fewer
 * cycles per byte since four rows share their scaling: 2048 / 3072 / 4096 / 6144 bytes, 110M
 * shape Q4_0 tg64 on one Zen 5 core 618 / 646 / 635 / 642 tokens/s, two 915 / 953 / 933 /
 * 870 (interleaved medians); Q4_K +2 % / +8 % at 3072; Q8_0 and F16 rows slower there. */
#define PA_PREFETCH_BYTES_4BIT 3072

/* Put before each loop over the R rows of a pass: with the rows unrolled, each row's
 * accumulators stay in registers (gcc -O2 otherwise keeps them in memory). */
#define PA_UNROLL_ROWS _Pragma("GCC unroll 4")

/* The 6-bit scale and min of sub-block s (0..7) of a q4_K block (ggml's get_scale_min_k4). */
static inline void pa_q4_k_scale_min(const uint8_t *scales, int s, int *sc, int *m) {
    if (s < 4) {
        *sc = scales[s] & 63;
        *m = scales[s + 4] & 63;
    } else {
        *sc = (scales[s + 4] & 0xf) | ((scales[s - 4] >> 6) << 4);
        *m = (scales[s + 4] >> 4) | ((scales[s] >> 6) << 4);
    }
}

/* An activation row rounded to 8 bits per block of 32: x[i] ≈ d[i / 32] * q[i], with
 * d = max |x| / 127 over the block and q = round(x / d). */
typedef struct pa_xq8 {
    int8_t *q;     /* (n,) */
    float *d;      /* (n / 32,) */
    int32_t *sum;  /* (n / 32,) Σ q over the block */
    float *dsum;   /* (n / 32,) d * Σ q over the block */
} pa_xq8;

/* Bytes a pa_xq8 of n values takes (n a multiple of 32). */
#define PA_XQ8_BYTES(n) ((size_t)(n) + (size_t)(n) / 32 * 12 + 96)

/* Lays a pa_xq8 of n values out in `buf` (PA_XQ8_BYTES(n) bytes, 4-byte aligned). */
pa_xq8 pa_xq8_in(void *buf, int n);

/* x (n,) -> out, n a multiple of 32. The one rounding every kernel set uses. */
void pa_xq8_quantize(const float *x, int n, const pa_xq8 *out);

/* All 8 scales and mins of a q4_K block at once, with 32-bit operations (as ggml's kernels do):
 * sc[s] and m[s] as pa_q4_k_scale_min gives them. For little-endian CPUs (the SIMD sets). */
static inline void pa_q4_k_scales_mins(const uint8_t *scales, uint8_t sc[8], uint8_t m[8]) {
    uint32_t u[3];
    memcpy(u, scales, 12);
    const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, top2 = 0x03030303;
    const uint32_t sc_lo = u[0] & low6, m_lo = u[1] & low6;
    const uint32_t sc_hi = (u[2] & low4) | ((u[0] >> 6) & top2) << 4;
    const uint32_t m_hi = ((u[2] >> 4) & low4) | ((u[1] >> 6) & top2) << 4;
    memcpy(sc, &sc_lo, 4);
    memcpy(sc + 4, &sc_hi, 4);
    memcpy(m, &m_lo, 4);
    memcpy(m + 4, &m_hi, 4);
}

/* binary16 -> binary32 of all 65536 halves: where a kernel converts one block scale at a time,
 * a broadcast load from this table costs no arithmetic (q4_0 decode went from 15.4 to 17.7
 * GB/s with the rows in cache). Filled once, by the SIMD sets' getters, before first use. */
extern float pa_f16_table[1 << 16];
void pa_f16_table_fill(void);

typedef struct pa_row_kernels {
    bool x_q8; /* x is a `const pa_xq8 *` (q4 types), else a `const float *` */
    /* out[j] = rows[j] · x (n values), j = 0..3 */
    void (*dot4)(const void *const rows[4], const void *x, int n, float out[4]);
    /* row · x (n values) */
    float (*dot1)(const void *row, const void *x, int n);
    /* row (n values) -> out (n,) in f32 */
    void (*to_f32)(const void *row, float *out, int n);
    /* out[t * 4 + j] = rows[j] · x[t] for n_x tokens, each bitwise dot1's; NULL where a set
     * has none (the driver then calls dot4 per token) */
    void (*dot4xn)(const void *const rows[4], const void *const *x, int n_x, int n, float *out);
    /* dot4 over a thread's four stripes of rows in one call: y[j * stripe + i] = row r · x for
     * r = j * stripe + i (j = 0..3, i < stripe), row r at first + r * row_bytes, each value
     * bitwise dot1's; NULL where a set has none (the driver then calls dot4 per four rows) */
    void (*dot4_stripes)(const void *first, size_t row_bytes, int64_t stripe, const void *x,
                         int n, float *y);
    /* batches of at least this many tokens go through sgemm, where it overtook these kernels
     * (110M shape, one core): the row kernels cost compute per token, sgemm amortizes its
     * dequantized tiles */
    int sgemm_from;
    /* batches of at least this many tokens (of a width that is a multiple of 32) go through
     * AMX tiles (kernels_amx.c) instead of sgemm; 0 where a set or type has none */
    int tiles_from;
    /* Optional (NULL where a set has none): a token's x made once per batch into the form a
     * kernel reads for every group of rows (prepare_x: prepared_bytes(n) bytes at out, 64-byte
     * aligned), and dot4xn reading it (`prepared[t]` beside x[t]), each result bitwise
     * dot1's. Where every group of four rows remade the x side, that was a fifth of a q4_0
     * batch's work. */
    size_t (*prepared_bytes)(int n);
    void (*prepare_x)(const void *x, int n, void *out);
    void (*dot4xn_prepared)(const void *const rows[4], const void *const *x,
                            const void *const *prepared, int n_x, int n, float *out);
    /* how far ahead of where they read the kernels ask for a row, in bytes (0: the default
     * PA_PREFETCH_BYTES) */
    int prefetch_bytes;
} pa_row_kernels;

/* The body of a set's dot4_stripes(first, row_bytes, stripe, x, n, y) around its always-inline
 * DOT(rows, 4, ..., n, out): one call for all of a thread's rows keeps the kernel's constants
 * in registers from one group of four rows to the next, and saves a call per group (768-wide
 * q4_0 rows in cache, the x side made once: 28.3 -> 33.5 GB/s on one core). */
#define PA_STRIPE_ROWS(DOT, ...)                                                              \
    for (int64_t i = 0; i < stripe; i++) {                                                    \
        const uint8_t *rows[4];                                                               \
        for (int j = 0; j < 4; j++)                                                           \
            rows[j] = (const uint8_t *)first + (uint64_t)(j * stripe + i) * row_bytes;        \
        float out[4];                                                                         \
        DOT(rows, 4, __VA_ARGS__, n, out);                                                    \
        for (int j = 0; j < 4; j++) y[j * stripe + i] = out[j];                               \
    }

typedef struct pa_kernel_set {
    const char *name;                  /* "portable C", "AVX2+FMA+F16C", "AVX-512" */
    /* pa_xq8_quantize, bit for bit (the SIMD sets may have their own, faster one) */
    void (*quantize_x)(const float *x, int n, const pa_xq8 *out);
    /* out[i] = pa_f32_to_f16(x[i]) for i < n, bit for bit (f16 KV rows as decode writes them) */
    void (*to_f16)(const float *x, int n, uint16_t *out);
    pa_row_kernels types[PA_W_COUNT];  /* indexed by pa_wtype */
} pa_kernel_set;

/* The instruction sets kernels exist for, slowest first. */
typedef enum pa_isa {
    PA_ISA_PORTABLE,
    PA_ISA_AVX2,
    PA_ISA_AVX512,
    PA_ISA_AVX512_VBMI,
    PA_ISA_AMX,
    PA_ISA_COUNT
} pa_isa;

/* The kernels of `isa`, or NULL when they are not built in or this CPU (and OS) cannot run
 * them. PA_ISA_PORTABLE is always available. */
const pa_kernel_set *pa_kernels_for(pa_isa isa);

const pa_kernel_set *pa_kernels_portable(void);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PA_HAVE_X86_KERNELS 1
bool pa_cpu_has_avx2(void);   /* AVX2, FMA, F16C and OS support for YMM state */
bool pa_cpu_has_avx512(void); /* AVX-512 F/BW/VL/VNNI and OS support for ZMM state */
const pa_kernel_set *pa_kernels_avx2(void);
const pa_kernel_set *pa_kernels_avx512(void);
bool pa_cpu_has_avx512_vbmi(void); /* the above and AVX-512 VBMI */
const pa_kernel_set *pa_kernels_avx512_vbmi(void); /* NULL without VBMI */
#endif

/* The AVX-512 set with AMX tiles for batches of quantized and bf16 weights (NULL without AMX,
 * on other CPUs, or where the OS does not give this process the tile state) */
const pa_kernel_set *pa_kernels_amx(void);
bool pa_cpu_has_amx(void);

/* AMX products in bf16 (kernels_amx.c), k a multiple of 32. X (n, k) is packed once for all
 * the rows into pa_amx_x_bytes(n, k), laid out as pa_amx_x_in_pairs(n) says for a batch of n
 * tokens (a part of the batch, starting at a multiple of 32 tokens, may be packed apart);
 * pa_amx_gemm then writes y[t * y_stride + r] = W row r · x[t] for rows [begin, end) of W
 * (row_bytes apart, made f32 by to_f32) and the n tokens, in `work` (pa_amx_work_bytes(k),
 * 64-byte aligned). */
typedef void (*pa_to_f32_fn)(const void *row, float *out, int n);
size_t pa_amx_x_bytes(int n, int k);
size_t pa_amx_work_bytes(int k);
bool pa_amx_x_in_pairs(int n);
void pa_amx_pack_x(const float *x, int n, int k, bool in_pairs, void *packed);
void pa_amx_gemm(pa_to_f32_fn to_f32, const void *w, size_t row_bytes, int64_t begin,
                 int64_t end, int k, const void *packed, int n, float *y, int64_t y_stride,
                 void *work);

#endif
