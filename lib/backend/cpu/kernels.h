/*
 * Row kernels: the dot products of weight rows, in their storage type, with f32 activations,
 * and the conversion of a weight row to f32. There is one set of kernels per instruction set
 * (portable C, AVX2+FMA+F16C, AVX-512); ops.c picks the best one this CPU runs, once.
 *
 * Decode reads every weight once per token, so these kernels are bound by how fast one core
 * can pull a weight stream from memory, not by arithmetic. Two things make that fast:
 *   - dot4 takes four rows that lie far apart in the matrix (the matmul driver gives each
 *     thread four stripes of its rows), so four independent streams are in flight and the
 *     hardware prefetcher tracks each one across page boundaries;
 *   - each kernel prefetches PA_PREFETCH_BYTES ahead in every row it reads, which covers the
 *     start of every 4 KiB page before the hardware prefetcher would.
 * On the development machine (2 cores) this took an f16 GEMV from 10 to 18 GB/s on one core.
 *
 * Invariants every kernel set keeps, so that the kernel path never changes a result:
 *   - dot4(rows)[j] is bitwise equal to dot1(rows[j]): lanes are accumulated in the same order
 *     whichever rows share a pass (a row may land in either depending on the thread count);
 *   - quantized rows are whole blocks (bind_matrix checks it); f32/f16/bf16 rows any length.
 */
#ifndef PA_BACKEND_CPU_KERNELS_H
#define PA_BACKEND_CPU_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

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

typedef struct pa_row_kernels {
    /* out[j] = rows[j] · x (n values), j = 0..3 */
    void (*dot4)(const void *const rows[4], const float *x, int n, float out[4]);
    /* row · x (n values) */
    float (*dot1)(const void *row, const float *x, int n);
    /* row (n values) -> out (n,) in f32 */
    void (*to_f32)(const void *row, float *out, int n);
} pa_row_kernels;

typedef struct pa_kernel_set {
    const char *name;                  /* "portable C", "AVX2+FMA+F16C", "AVX-512" */
    pa_row_kernels types[PA_W_COUNT];  /* indexed by pa_wtype */
} pa_kernel_set;

/* The instruction sets kernels exist for, slowest first. */
typedef enum pa_isa { PA_ISA_PORTABLE, PA_ISA_AVX2, PA_ISA_AVX512, PA_ISA_COUNT } pa_isa;

/* The kernels of `isa`, or NULL when they are not built in or this CPU (and OS) cannot run
 * them. PA_ISA_PORTABLE is always available. */
const pa_kernel_set *pa_kernels_for(pa_isa isa);

const pa_kernel_set *pa_kernels_portable(void);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PA_HAVE_X86_KERNELS 1
bool pa_cpu_has_avx2(void);   /* AVX2, FMA, F16C and OS support for YMM state */
bool pa_cpu_has_avx512(void); /* AVX-512 F/BW/VL and OS support for ZMM state */
const pa_kernel_set *pa_kernels_avx2(void);
const pa_kernel_set *pa_kernels_avx512(void);
#endif

#endif
