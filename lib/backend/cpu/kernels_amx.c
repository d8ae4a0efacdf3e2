/*
 * AMX tiles (Intel AMX-TILE and AMX-BF16) for products of many tokens:
 * Y (n, rows) = X (n, k) @ W[rows]^T with W and X rounded to bf16 and the sums kept in f32, as
 * llama.cpp and oneDNN run bf16 products. One tdpbf16ps multiplies 32 values of 16 rows and 16
 * tokens (8192 products) and adds them to the f32 sums in its C tile, so a C tile stays in
 * place for the whole row (k values) and is stored once.
 *
 * tdpbf16ps takes its A tile in rows (16 rows of 32 bf16 values) and its B tile in pairs (tile
 * row p: values 2p, 2p + 1 of each of 16 columns), and gives C = A·B^T as 16 x 16 f32. One
 * side of the product must be transposed into pairs:
 *   - short batches (pa_amx_x_in_pairs): X in pairs, W in rows, C = rows x tokens, transposed
 *     16 x 16 at a time in ZMM registers into the tokens' rows of Y;
 *   - long batches: W in pairs, X in rows, C = tokens x rows, stored straight into Y.
 * A thread makes its rows of W f32 with the set's to_f32 (any weight type) and rounds them to
 * bf16, 32 rows at a time, once for all the tokens of a pass; X is packed once per pass for
 * all the rows. Tiles go 2 x 2: two A and two B tiles feed four C tiles, so each tile load
 * serves two products. Rows and tokens past the ends are zeros.
 *
 * Rounding both sides to bf16 (8 significant bits) costs at most 2^-8 of Σ|w·x| per product;
 * the row kernels, which round x to 8 bits per block of 32, make errors of the same order.
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

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))

/* The tile instructions, written out: gcc 12's _tile_loadd does not tell the compiler that it
 * reads memory, so stores into a buffer just before it could be moved after it. */
#define TILE_LOAD(tmm, base, stride)                                                          \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #tmm ::"r"(base), "r"((long)(stride))     \
                     : "memory")
#define TILE_STORE(tmm, base, stride)                                                         \
    __asm__ volatile("tilestored %%tmm" #tmm ", (%0,%1,1)" ::"r"(base), "r"((long)(stride)) \
                     : "memory")
#define TILE_ZERO(tmm) __asm__ volatile("tilezero %%tmm" #tmm ::)
#define TILE_DPBF16PS(c, a, b) __asm__ volatile("tdpbf16ps %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)

/* Tiles 0-3: C for (A 0-15, B 0-15), (A 0-15, B 16-31), (A 16-31, B 0-15), (A 16-31, B 16-31);
 * 4, 5: A's two halves; 6, 7: B's two halves. All 16 x 64 bytes. */
typedef struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16]; /* bytes per row of each tile */
    uint8_t rows[16];
} tile_config;

static void tiles_begin(void) {
    tile_config cfg = {.palette = 1};
    for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
    __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
}

/* gives the tile state back, so the kernel need not save it on every switch of this thread */
static void tiles_end(void) { __asm__ volatile("tilerelease" ::); }

enum { TILE_BYTES = 1024, K_STEP = 32 }; /* a tile; values of k per product */

/* Token groups of 16, in pairs */
static size_t group_pairs(int n) { return (size_t)(n + 31) / 32; }

size_t pa_amx_x_bytes(int n, int k) { return group_pairs(n) * 2 * (size_t)(k / K_STEP) * TILE_BYTES; }

/* 32 rows of W as tiles, 16 as bf16 rows, one as f32, the four C tiles */
size_t pa_amx_work_bytes(int k) { return (size_t)48 * k * 2 + (size_t)k * 4 + 4 * TILE_BYTES; }

/* Which side is laid out in pairs (transposed: the B tile's layout) and which stays in rows (the
 * A tile's): X for short batches, W from X_IN_ROWS_FROM tokens on. Transposing W costs the same
 * whatever the batch; transposing X costs little, but then C comes out as rows x tokens and must
 * be transposed into Y, which grows with the batch (768 x 768 q4_0, one thread: 32 tokens 128
 * -> 82 us, 128 tokens 212 -> 171, 512 tokens 567 -> 628). */
enum { X_IN_ROWS_FROM = 256 };

bool pa_amx_x_in_pairs(int n) { return n < X_IN_ROWS_FROM; }

/* 32 values f32 -> bf16, rounded to nearest even (vcvtne2ps2bf16) */
AVX512 static inline __attribute__((always_inline)) __m512i step_bf16(const float *in) {
    return (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(in + 16), _mm512_loadu_ps(in));
}

/* The 16 x 16 32-bit elements of v transposed in place: v[p] gets element p of every v[j] */
AVX512 static inline __attribute__((always_inline)) void transpose_16x16(__m512i v[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) { /* pairs of rows, interleaved by 32 bits */
        t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) { /* fours of rows, by 64 bits: a 4 x 4 per 128-bit lane */
        v[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        v[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        v[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        v[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int j = 0; j < 4; j++) { /* the 4 x 4 lanes of the four fours */
        const __m512i a = _mm512_shuffle_i32x4(v[j], v[4 + j], 0x88);
        const __m512i b = _mm512_shuffle_i32x4(v[j], v[4 + j], 0xdd);
        const __m512i c = _mm512_shuffle_i32x4(v[8 + j], v[12 + j], 0x88);
        const __m512i d = _mm512_shuffle_i32x4(v[8 + j], v[12 + j], 0xdd);
        t[j] = _mm512_shuffle_i32x4(a, c, 0x88);
        t[8 + j] = _mm512_shuffle_i32x4(a, c, 0xdd);
        t[4 + j] = _mm512_shuffle_i32x4(b, d, 0x88);
        t[12 + j] = _mm512_shuffle_i32x4(b, d, 0xdd);
    }
    for (int i = 0; i < 16; i++) v[i] = t[i];
}

/* 16 rows' values of one step (v[r], 32 bf16 each) -> a tile: as they are (in_pairs false) or
 * transposed into pairs */
AVX512 static inline __attribute__((always_inline)) void store_tile(__m512i v[16], bool in_pairs,
                                                                    uint8_t *tile) {
    if (in_pairs) transpose_16x16(v);
    for (int r = 0; r < 16; r++) _mm512_storeu_si512(tile + 64 * r, v[r]);
}

/* The tile of X's token group g, values [K_STEP·step, K_STEP·(step + 1)) */
static uint8_t *x_tile(const void *packed, int g, int step, int k) {
    return (uint8_t *)packed + ((size_t)g * (k / K_STEP) + step) * TILE_BYTES;
}

/* X (n, k) -> packed (pa_amx_x_bytes(n, k)), in pairs or in rows; tokens past n, to the end of
 * the last pair of groups, are zeros. */
AVX512 void pa_amx_pack_x(const float *x, int n, int k, bool in_pairs, void *packed) {
    for (int g = 0; g < 2 * (int)group_pairs(n); g++)
        for (int step = 0; step < k / K_STEP; step++) {
            __m512i v[16];
            for (int t = 0; t < 16; t++)
                v[t] = 16 * g + t < n ? step_bf16(x + (size_t)(16 * g + t) * k + K_STEP * step)
                                      : _mm512_setzero_si512();
            store_tile(v, in_pairs, x_tile(packed, g, step, k));
        }
}

/* Rows [r0, r0 + rows) of W (rows <= 32) -> 32 rows of tiles in `wt`, [half][step][16 x 64
 * bytes], zero past rows: in rows, each row made f32 (in `row`) and rounded straight into its
 * tiles; in pairs, 16 rows rounded into rows16 (16 x k bf16) first, then transposed a step at
 * a time */
AVX512 static void w_tiles(pa_to_f32_fn to_f32, const void *w, size_t row_bytes, int64_t r0,
                           int rows, int k, bool in_pairs, uint8_t *wt, uint16_t *rows16,
                           float *row) {
    const int steps = k / K_STEP;
    if (rows < 32) memset(wt, 0, (size_t)2 * steps * TILE_BYTES);
    for (int half = 0; half < 2 && 16 * half < rows; half++) {
        uint8_t *tiles = wt + (size_t)half * steps * TILE_BYTES;
        for (int r = 0; r < 16 && 16 * half + r < rows; r++) {
            to_f32((const uint8_t *)w + (uint64_t)(r0 + 16 * half + r) * row_bytes, row, k);
            for (int step = 0; step < steps; step++) {
                uint8_t *out = in_pairs ? (uint8_t *)(rows16 + (size_t)r * k + K_STEP * step)
                                        : tiles + (size_t)step * TILE_BYTES + 64 * r;
                _mm512_storeu_si512(out, step_bf16(row + K_STEP * step));
            }
        }
        if (!in_pairs) continue;
        for (int r = rows - 16 * half; r < 16; r++) memset(rows16 + (size_t)r * k, 0, (size_t)k * 2);
        for (int step = 0; step < steps; step++) {
            __m512i v[16];
            for (int r = 0; r < 16; r++)
                v[r] = _mm512_loadu_si512(rows16 + (size_t)r * k + K_STEP * step);
            store_tile(v, true, tiles + (size_t)step * TILE_BYTES);
        }
    }
}

/* The four C tiles: tile 4 / 5 (rows 0-15 / 16-31 of the A side) times tile 6 / 7 (the B
 * side's two halves), over k values; each pointer steps a tile at a time */
static void tile_products(const uint8_t *a0, const uint8_t *a1, const uint8_t *b0,
                          const uint8_t *b1, int k) {
    TILE_ZERO(0);
    TILE_ZERO(1);
    TILE_ZERO(2);
    TILE_ZERO(3);
    for (size_t at = 0; at < (size_t)(k / K_STEP) * TILE_BYTES; at += TILE_BYTES) {
        TILE_LOAD(4, a0 + at, 64);
        TILE_LOAD(5, a1 + at, 64);
        TILE_LOAD(6, b0 + at, 64);
        TILE_LOAD(7, b1 + at, 64);
        TILE_DPBF16PS(0, 4, 6);
        TILE_DPBF16PS(1, 4, 7);
        TILE_DPBF16PS(2, 5, 6);
        TILE_DPBF16PS(3, 5, 7);
    }
}

/* C (32 x 32, tile 0 the top left, 1 top right, 2 bottom left, 3 bottom right) -> c */
static void store_c(float *c) {
    TILE_STORE(0, c, 128);
    TILE_STORE(1, c + 16, 128);
    TILE_STORE(2, c + 512, 128);
    TILE_STORE(3, c + 512 + 16, 128);
}

/* Y (tokens x rows, at most 32 x 32) from C = tokens x rows: stored straight into Y when
 * whole, else through c */
static void store_tokens_by_rows(float *y, int64_t y_stride, int tokens, int rows, float *c) {
    const long stride = (long)y_stride * 4;
    if (tokens == 32 && rows == 32) {
        TILE_STORE(0, y, stride);
        TILE_STORE(1, y + 16, stride);
        TILE_STORE(2, y + 16 * y_stride, stride);
        TILE_STORE(3, y + 16 * y_stride + 16, stride);
        return;
    }
    store_c(c);
    for (int t = 0; t < tokens; t++) memcpy(y + t * y_stride, c + 32 * t, (size_t)rows * 4);
}

/* Y (tokens x rows, at most 32 x 32) from C = rows x tokens, transposed 16 x 16 at a time */
AVX512 static void store_rows_by_tokens(float *y, int64_t y_stride, int tokens, int rows,
                                        float *c) {
    store_c(c);
    for (int i = 0; i < 2 && 16 * i < rows; i++) {
        const int n_rows = rows - 16 * i < 16 ? rows - 16 * i : 16;
        const __mmask16 lanes = (__mmask16)((1u << n_rows) - 1);
        for (int j = 0; j < 2 && 16 * j < tokens; j++) {
            __m512i v[16];
            for (int r = 0; r < 16; r++) v[r] = _mm512_loadu_si512(c + 32 * (16 * i + r) + 16 * j);
            transpose_16x16(v);
            for (int t = 0; t < 16 && 16 * j + t < tokens; t++)
                _mm512_mask_storeu_epi32(y + (16 * j + t) * y_stride + 16 * i, lanes, v[t]);
        }
    }
}

AVX512 void pa_amx_gemm(pa_to_f32_fn to_f32, const void *w, size_t row_bytes, int64_t begin,
                        int64_t end, int k, const void *packed, int n, float *y,
                        int64_t y_stride, void *work) {
    const bool x_in_pairs = pa_amx_x_in_pairs(n); /* then W's tiles are A, X's B */
    const size_t half = (size_t)(k / K_STEP) * TILE_BYTES;
    uint8_t *wt = work; /* 32 rows of W as tiles */
    uint16_t *rows16 = (uint16_t *)(wt + 2 * half);
    float *row = (float *)(rows16 + (size_t)16 * k);
    float *c = row + k;
    tiles_begin();
    for (int64_t r0 = begin; r0 < end; r0 += 32) {
        const int rows = end - r0 < 32 ? (int)(end - r0) : 32;
        w_tiles(to_f32, w, row_bytes, r0, rows, k, !x_in_pairs, wt, rows16, row);
        for (size_t pair = 0; pair < group_pairs(n); pair++) {
            const int g = 2 * (int)pair;
            const int tokens = n - 16 * g < 32 ? n - 16 * g : 32;
            const uint8_t *x0 = x_tile(packed, g, 0, k), *x1 = x_tile(packed, g + 1, 0, k);
            float *y_pair = y + (int64_t)16 * g * y_stride + r0;
            if (x_in_pairs) {
                tile_products(wt, wt + half, x0, x1, k);
                store_rows_by_tokens(y_pair, y_stride, tokens, rows, c);
            } else {
                tile_products(x0, x1, wt, wt + half, k);
                store_tokens_by_rows(y_pair, y_stride, tokens, rows, c);
            }
        }
    }
    tiles_end();
}

/* CPUID leaf 7: EDX AMX-BF16 (bit 22) and AMX-TILE (24), and in sub-leaf 1 EAX AVX512-BF16
 * (bit 5, for the conversions); XCR0 bits 17-18: the OS manages the tile state. Linux then
 * hands it to a process that asks (since 5.16). */
bool pa_cpu_has_amx(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const unsigned needed = (1u << 22) | (1u << 24);
    if ((d & needed) != needed) return false;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a & (1u << 5))) return false;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & (3u << 17)) != (3u << 17)) return false;
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

/* The AVX-512 set, with the tiles for batches of quantized and bf16 weights (whose values
 * bf16 holds about as well as they are stored) from tiles_from tokens on. f32 and f16 weights
 * keep sgemm: rounding them to bf16 would lose what their type keeps. */
static pa_kernel_set amx_set;
static void make_amx_set(void) {
    /* the plain AVX-512 rows, measured with the tiles on Sapphire Rapids; the VBMI set's rows
     * were measured on AMD Zen 5 only (PYAGENT_KERNELS=avx512vbmi picks them) */
    const pa_kernel_set *avx512 = pa_kernels_avx512();
    if (!avx512 || !pa_cpu_has_amx()) return;
    amx_set = *avx512;
    amx_set.name = "AVX-512+VNNI+AMX";
    /* where the tiles overtook the row kernels (110M shape, one and two threads, interleaved:
     * at 12 tokens q4_0 741 -> 829 tokens/s on one thread, q8_0 533 -> 574, q4_K 564 -> 601;
     * bf16 even at 12, ahead at 16: 437 -> 546; at 8 the rows lead for all four) */
    amx_set.types[PA_W_BF16].tiles_from = 16;
    amx_set.types[PA_W_Q8_0].tiles_from = 12;
    amx_set.types[PA_W_Q4_0].tiles_from = 12;
    amx_set.types[PA_W_Q4_K].tiles_from = 12;
}

const pa_kernel_set *pa_kernels_amx(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, make_amx_set);
    return amx_set.name ? &amx_set : NULL;
}

#else /* no AMX set: ops.c never calls these */
bool pa_cpu_has_amx(void) { return false; }
const pa_kernel_set *pa_kernels_amx(void) { return NULL; }
size_t pa_amx_x_bytes(int n, int k) { return (void)n, (void)k, 0; }
size_t pa_amx_work_bytes(int k) { return (void)k, 0; }
bool pa_amx_x_in_pairs(int n) { return (void)n, false; }
void pa_amx_pack_x(const float *x, int n, int k, bool in_pairs, void *packed) {
    (void)x, (void)n, (void)k, (void)in_pairs, (void)packed;
}
void pa_amx_gemm(pa_to_f32_fn to_f32, const void *w, size_t row_bytes, int64_t begin,
                 int64_t end, int k, const void *packed, int n, float *y, int64_t y_stride,
                 void *work) {
    (void)to_f32, (void)w, (void)row_bytes, (void)begin, (void)end, (void)k, (void)packed;
    (void)n, (void)y, (void)y_stride, (void)work;
}
#endif
