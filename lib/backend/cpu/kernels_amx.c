/*
 * AMX tiles (Intel AMX-TILE and AMX-INT8) for products of many tokens with q8_0 and q4_0
 * weights: Y (n, rows) = X (n, k) @ W[rows]^T, X rounded to 8 bits per block of 32 as the row
 * kernels round it. One tdpbssd multiplies a block of 32 values for 16 rows and 16 tokens
 * (8192 products of int8); its int32 sums are scaled by d_w·d_x and added up in ZMM
 * registers, block by block, since every block has its own scales.
 *
 *   A tile (16 rows x 32 bytes): a block of 16 rows of W as int8 (q8_0: read in place from the
 *                                weights with the row stride; q4_0: its nibbles - 8, unpacked
 *                                once per 16 rows into a buffer)
 *   B tile (8 rows x 64 bytes):  the same block of 16 tokens' X, in the layout tdpbssd reads
 *                                (row r: token 0's values 4r..4r+3, token 1's, ..., token 15's)
 *   C tile (16 rows x 64 bytes): 16 x 16 int32 sums
 *
 * Compiled with target attributes and chosen at run time (ops.c) where the CPU has AMX and
 * Linux lets this process use it (arch_prctl ARCH_REQ_XCOMP_PERM).
 */
#define _DEFAULT_SOURCE /* syscall */
#include "kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && defined(__linux__)
#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

/* The tile instructions, written out: gcc 12's _tile_loadd does not tell the compiler that it
 * reads memory, so stores into a buffer just before it could be moved after it. */
#define TILE_LOAD(tmm, base, stride)                                                          \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #tmm ::"r"(base), "r"((long)(stride))     \
                     : "memory")
#define TILE_STORE(tmm, base, stride)                                                         \
    __asm__ volatile("tilestored %%tmm" #tmm ", (%0,%1,1)" ::"r"(base), "r"((long)(stride)) \
                     : "memory")
#define TILE_ZERO(tmm) __asm__ volatile("tilezero %%tmm" #tmm ::)
#define TILE_DPBSSD(c, a, b) __asm__ volatile("tdpbssd %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)

/* Tiles 0-3 hold the int32 sums of four consecutive blocks (C), so that a block's products
 * need not wait for the previous block's sums to be stored; blocks take turns with the A and B
 * tiles 4, 5 and 6, 7. */
typedef struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16]; /* bytes per row of each tile */
    uint8_t rows[16];
} tile_config;

static void tiles_begin(void) {
    tile_config cfg = {.palette = 1};
    for (int c = 0; c < 4; c++) cfg.rows[c] = 16, cfg.colsb[c] = 64;   /* 16 rows x 16 tokens */
    for (int a = 4; a < 8; a += 2) cfg.rows[a] = 16, cfg.colsb[a] = 32; /* 16 rows x 32 values */
    for (int b = 5; b < 8; b += 2) cfg.rows[b] = 8, cfg.colsb[b] = 64;  /* 32 values x 16 tokens */
    __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
}

/* gives the tile state back, so the kernel need not save it on every switch of this thread */
static void tiles_end(void) { __asm__ volatile("tilerelease" ::); }

size_t pa_amx_x_bytes(int n, int k) {
    const size_t groups = (size_t)(n + 15) / 16, blocks = (size_t)k / 32;
    return groups * blocks * (512 + 64);
}

size_t pa_amx_work_bytes(int k) { return (size_t)16 * k + (size_t)k / 32 * 64; }

/* The packed X of token group g: its blocks' B tiles, then their scales (16 floats each) */
static int8_t *b_tiles(void *packed, int g, int k) {
    return (int8_t *)packed + (size_t)g * (k / 32) * (512 + 64);
}
static float *b_scales(void *packed, int g, int k) {
    return (float *)(b_tiles(packed, g, k) + (size_t)(k / 32) * 512);
}

/* X (n, k) -> packed (pa_amx_x_bytes): each token rounded by quantize_x into `xq`, its blocks
 * then laid into the B tiles of its group. Tokens past n in the last group are zeros. */
void pa_amx_pack_x(const float *x, int n, int k, pa_quantize_fn quantize_x, const pa_xq8 *xq,
                   void *packed) {
    const int n_blocks = k / 32, groups = (n + 15) / 16;
    memset(b_tiles(packed, groups - 1, k), 0, (size_t)n_blocks * (512 + 64));
    for (int t = 0; t < n; t++) {
        quantize_x(x + (size_t)t * k, k, xq);
        int8_t *tiles = b_tiles(packed, t / 16, k);
        float *scales = b_scales(packed, t / 16, k);
        for (int blk = 0; blk < n_blocks; blk++) {
            for (int r = 0; r < 8; r++) /* values 4r..4r+3 of the block, in token t's column */
                memcpy(tiles + (size_t)blk * 512 + r * 64 + (t % 16) * 4, xq->q + 32 * blk + 4 * r, 4);
            scales[blk * 16 + t % 16] = xq->d[blk];
        }
    }
}

static size_t block_bytes(pa_wtype type) {
    return type == PA_W_Q8_0 ? PA_Q8_0_BYTES : PA_Q4_0_BYTES;
}

/* dw[blk * 16 + r] = the scale of block blk of row r0 + r (rows <= 16; zero past rows) */
static void row_scales(pa_wtype type, const uint8_t *w, size_t row_bytes, int64_t r0, int rows,
                       int n_blocks, float *dw) {
    if (rows < 16) memset(dw, 0, (size_t)n_blocks * 16 * sizeof(float));
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = w + (uint64_t)(r0 + r) * row_bytes;
        for (int blk = 0; blk < n_blocks; blk++) {
            uint16_t bits;
            memcpy(&bits, row + blk * block_bytes(type), 2);
            dw[blk * 16 + r] = pa_f16_table[bits];
        }
    }
}

/* Rows [r0, r0 + rows) as int8 blocks of 32 in `a` (16 x k; zero past rows): q4_0's nibbles - 8,
 * q8_0's values as they are (tile loads from this compact copy measured faster than from the
 * rows in place, 34-byte blocks in rows far apart) */
AVX512 static void unpack_rows(pa_wtype type, const uint8_t *w, size_t row_bytes, int64_t r0,
                               int rows, int k, int8_t *a) {
    const __m128i low4 = _mm_set1_epi8(0xf), eight = _mm_set1_epi8(8);
    if (rows < 16) memset(a + (size_t)rows * k, 0, (size_t)(16 - rows) * k);
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = w + (uint64_t)(r0 + r) * row_bytes;
        for (int blk = 0; blk < k / 32; blk++) {
            const uint8_t *q = row + blk * block_bytes(type) + 2;
            int8_t *out = a + (size_t)r * k + 32 * blk;
            if (type == PA_W_Q8_0) {
                memcpy(out, q, 32);
                continue;
            }
            const __m128i raw = _mm_loadu_si128((const __m128i *)q);
            _mm_storeu_si128((__m128i *)out, _mm_sub_epi8(_mm_and_si128(raw, low4), eight));
            _mm_storeu_si128((__m128i *)(out + 16),
                             _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), low4), eight));
        }
    }
}

/* C tile c = the sums of block blk: A (16 rows) times B (16 tokens) */
#define BLOCK_SUMS(c, a, b, blk)                                                              \
    do {                                                                                      \
        TILE_ZERO(c);                                                                         \
        TILE_LOAD(a, A + 32 * (blk), k);                                                      \
        TILE_LOAD(b, tiles + (size_t)(blk) * 512, 64);                                        \
        TILE_DPBSSD(c, a, b);                                                                 \
    } while (0)

/* acc[r] (16 tokens) += the m blocks' sums c[j] (16 x 16) · d_w(row r) · d_x(tokens) */
AVX512 static inline __attribute__((always_inline)) void add_scaled(
    __m512 acc[16], const int32_t *c, int m, const float *dw, const float *dx) {
    for (int j = 0; j < m; j++) {
        const __m512 dxv = _mm512_loadu_ps(dx + 16 * j);
        for (int r = 0; r < 16; r++) {
            const __m512 s = _mm512_mul_ps(dxv, _mm512_set1_ps(dw[16 * j + r]));
            const __m512 sums = _mm512_cvtepi32_ps(_mm512_loadu_si512(c + 256 * j + 16 * r));
            acc[r] = _mm512_fmadd_ps(sums, s, acc[r]);
        }
    }
}

/* y[t * y_stride + r] for the 16 rows r of one A side (16 x k int8) and the tokens of group g. Blocks go four at a time: their sums are stored into one half of `c` while the
 * previous four, in the other half, are scaled and added. */
AVX512 static void tile_group(const int8_t *A, const float *dw, void *packed,
                              int g, int k, int tokens, int rows, float *y, int64_t y_stride) {
    _Alignas(64) int32_t c[2 * 4 * 256]; /* two halves of four blocks' 16 x 16 sums */
    const int n_blocks = k / 32, n_fours = n_blocks / 4;
    const int8_t *tiles = b_tiles(packed, g, k);
    const float *dx = b_scales(packed, g, k);
    __m512 acc[16];
    for (int r = 0; r < 16; r++) acc[r] = _mm512_setzero_ps();
    for (int f = 0; f < n_fours; f++) {
        const int blk = 4 * f;
        int32_t *half = c + 1024 * (f & 1);
        BLOCK_SUMS(0, 4, 5, blk);
        BLOCK_SUMS(1, 6, 7, blk + 1);
        BLOCK_SUMS(2, 4, 5, blk + 2);
        BLOCK_SUMS(3, 6, 7, blk + 3);
        TILE_STORE(0, half, 64);
        TILE_STORE(1, half + 256, 64);
        TILE_STORE(2, half + 512, 64);
        TILE_STORE(3, half + 768, 64);
        if (f > 0) add_scaled(acc, c + 1024 * !(f & 1), 4, dw + 16 * (blk - 4), dx + 16 * (blk - 4));
    }
    if (n_fours > 0)
        add_scaled(acc, c + 1024 * ((n_fours - 1) & 1), 4, dw + 16 * (4 * n_fours - 4),
                   dx + 16 * (4 * n_fours - 4));
    for (int blk = 4 * n_fours; blk < n_blocks; blk++) { /* the last 1-3 blocks */
        BLOCK_SUMS(0, 4, 5, blk);
        TILE_STORE(0, c, 64);
        add_scaled(acc, c, 1, dw + 16 * blk, dx + 16 * blk);
    }
    float out[16][16]; /* [row][token] */
    for (int r = 0; r < 16; r++) _mm512_storeu_ps(out[r], acc[r]);
    for (int t = 0; t < tokens; t++)
        for (int r = 0; r < rows; r++) y[(int64_t)(16 * g + t) * y_stride + r] = out[r][t];
}

void pa_amx_gemm(pa_wtype type, const void *w, size_t row_bytes, int64_t begin, int64_t end,
                 int k, void *packed, int n, float *y, int64_t y_stride, void *work) {
    int8_t *a = work;
    float *dw = (float *)(a + (size_t)16 * k);
    tiles_begin();
    for (int64_t r0 = begin; r0 < end; r0 += 16) {
        const int rows = end - r0 < 16 ? (int)(end - r0) : 16;
        row_scales(type, w, row_bytes, r0, rows, k / 32, dw);
        unpack_rows(type, w, row_bytes, r0, rows, k, a);
        for (int g = 0; g * 16 < n; g++) {
            const int tokens = n - 16 * g < 16 ? n - 16 * g : 16;
            tile_group(a, dw, packed, g, k, tokens, rows, y + r0, y_stride);
        }
    }
    tiles_end();
}

/* CPUID leaf 7: EDX AMX-TILE (bit 24) and AMX-INT8 (25); XCR0 bits 17-18: the OS manages the
 * tile state. Linux then hands it to a process that asks (since 5.16). */
bool pa_cpu_has_amx(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if ((d & (3u << 24)) != (3u << 24)) return false;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & (3u << 17)) != (3u << 17)) return false;
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

/* The AVX-512 set, with the tiles for batches of q8_0 and q4_0 from tiles_from tokens on */
static pa_kernel_set amx_set;
static void make_amx_set(void) {
    const pa_kernel_set *avx512 = pa_kernels_avx512();
    if (!avx512 || !pa_cpu_has_amx()) return;
    amx_set = *avx512;
    amx_set.name = "AVX-512+VNNI+AMX";
    amx_set.types[PA_W_Q8_0].tiles_from = 16;
    amx_set.types[PA_W_Q4_0].tiles_from = 16;
}

const pa_kernel_set *pa_kernels_amx(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, make_amx_set);
    return amx_set.name ? &amx_set : NULL;
}

#else
bool pa_cpu_has_amx(void) { return false; }
const pa_kernel_set *pa_kernels_amx(void) { return NULL; }
#endif
