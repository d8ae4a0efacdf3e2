/*
 * Row kernels (lib/backend/cpu/kernels.h): every SIMD kernel set this CPU runs against the
 * portable one, on random rows of every weight type and of awkward lengths; the block layouts
 * of q4_0 and q4_K against hand-made blocks; the rounding of activations to 8 bits; and
 * matrix products that do not depend on the number of threads; and a pool that keeps to the
 * cores its creator may run on.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include <float.h>
#include <math.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/cpu/attention.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/ops.h"
#include "backend/cpu/vsum.h"
#include "core/f16.h"
#include "model/gguf.h"

#define MAX_N 4096 /* values per row, at most */

/* ------------------------------------------------------------------------------------------ */
/* Random rows                                                                                 */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint32_t next_u32(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* uniform in [-1, 1) */
static float next_float(void) { return (float)next_u32() / 2147483648.0f - 1.0f; }

static void put_f16(uint8_t *p, float v) {
    uint16_t h = pa_f32_to_f16(v);
    memcpy(p, &h, 2);
}

static uint64_t row_bytes(pa_wtype t, int n) {
    switch (t) {
    case PA_W_F32: return 4 * (uint64_t)n;
    case PA_W_F16:
    case PA_W_BF16: return 2 * (uint64_t)n;
    case PA_W_Q8_0: return (uint64_t)n / PA_Q8_0_BLOCK * PA_Q8_0_BYTES;
    case PA_W_Q4_0: return (uint64_t)n / PA_Q4_0_BLOCK * PA_Q4_0_BYTES;
    default: return (uint64_t)n / PA_Q4_K_BLOCK * PA_Q4_K_BYTES;
    }
}

static int block_of(pa_wtype t) {
    return t == PA_W_Q8_0 ? PA_Q8_0_BLOCK : t == PA_W_Q4_0 ? PA_Q4_0_BLOCK
                                            : t == PA_W_Q4_K ? PA_Q4_K_BLOCK : 1;
}

/* A random row of n values of type t: random values for float types, random scales (as a
 * quantizer would write them: positive, small) and random quants for block types. */
static void random_row(pa_wtype t, int n, uint8_t *out) {
    switch (t) {
    case PA_W_F32:
        for (int i = 0; i < n; i++) {
            float v = next_float();
            memcpy(out + 4 * i, &v, 4);
        }
        break;
    case PA_W_F16:
        for (int i = 0; i < n; i++) put_f16(out + 2 * i, next_float());
        break;
    case PA_W_BF16:
        for (int i = 0; i < n; i++) {
            uint16_t h = pa_f32_to_bf16(next_float());
            memcpy(out + 2 * i, &h, 2);
        }
        break;
    case PA_W_Q8_0:
        for (int b = 0; b < n / PA_Q8_0_BLOCK; b++, out += PA_Q8_0_BYTES) {
            put_f16(out, 0.01f * (next_float() + 1.5f));
            for (int j = 0; j < PA_Q8_0_BLOCK; j++) out[2 + j] = (uint8_t)next_u32();
        }
        break;
    case PA_W_Q4_0:
        for (int b = 0; b < n / PA_Q4_0_BLOCK; b++, out += PA_Q4_0_BYTES) {
            put_f16(out, 0.01f * (next_float() + 1.5f));
            for (int j = 0; j < 16; j++) out[2 + j] = (uint8_t)next_u32();
        }
        break;
    default:
        for (int b = 0; b < n / PA_Q4_K_BLOCK; b++, out += PA_Q4_K_BYTES) {
            put_f16(out, 0.001f * (next_float() + 1.5f));
            put_f16(out + 2, 0.001f * (next_float() + 1.5f));
            for (int j = 4; j < PA_Q4_K_BYTES; j++) out[j] = (uint8_t)next_u32();
        }
        break;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* SIMD against portable                                                                       */

static const char *const type_names[PA_W_COUNT] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_K"};

typedef struct activations {
    float f32[MAX_N];
    uint8_t q8_buf[PA_XQ8_BYTES(MAX_N)];
    pa_xq8 q8;
} activations;

/* x in the form kernels of type t read it */
static const void *x_for(const pa_row_kernels *k, const activations *a) {
    return k->x_q8 ? (const void *)&a->q8 : (const void *)a->f32;
}

/* The exact dot product of the dequantized row with x as the kernel sees it (x rounded to 8
 * bits for q4 types), in double, and Σ |w·x| (the scale of the rounding error). */
static double exact_dot(const pa_row_kernels *portable, const void *row, const activations *a,
                        int n, double *magnitude) {
    static float w[MAX_N];
    portable->to_f32(row, w, n);
    double sum = 0, mag = 0;
    for (int i = 0; i < n; i++) {
        const double x = portable->x_q8 ? (double)a->q8.d[i / 32] * a->q8.q[i] : a->f32[i];
        sum += (double)w[i] * x;
        mag += fabs((double)w[i] * x);
    }
    *magnitude = mag;
    return sum;
}

/* dot4_stripes over 4 stripes of `stripe` rows of n values each equal to dot1 bit for bit. */
static void check_stripes(const pa_kernel_set *set, pa_wtype t, int n, int stripe) {
    const pa_row_kernels *k = &set->types[t];
    if (!k->dot4_stripes) return;
    const uint64_t bytes = row_bytes(t, n);
    uint8_t *matrix = malloc(bytes * 4 * (uint64_t)stripe);
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * 4 * (size_t)stripe);
    void *q8_buf = malloc(PA_XQ8_BYTES(n));
    assert_non_null(matrix), assert_non_null(x), assert_non_null(y), assert_non_null(q8_buf);
    for (int r = 0; r < 4 * stripe; r++) random_row(t, n, matrix + (uint64_t)r * bytes);
    for (int i = 0; i < n; i++) x[i] = next_float();
    const pa_xq8 q8 = pa_xq8_in(q8_buf, n);
    if (k->x_q8) pa_xq8_quantize(x, n, &q8);
    const void *xk = k->x_q8 ? (const void *)&q8 : (const void *)x;
    k->dot4_stripes(matrix, bytes, stripe, xk, n, y);
    for (int r = 0; r < 4 * stripe; r++) {
        const float one = k->dot1(matrix + (uint64_t)r * bytes, xk, n);
        if (memcmp(&one, &y[r], sizeof one) != 0)
            fail_msg("%s %s n=%d: dot4_stripes row %d of %d %.9g differs from dot1 %.9g",
                     set->name, type_names[t], n, r, 4 * stripe, (double)y[r], (double)one);
    }
    free(matrix), free(x), free(y), free(q8_buf);
}

/* Checks one kernel set against the portable one for type t and length n: dot1 and dot4 near
 * the exact value (the bound of recursive f32 summation, n·ε·Σ|w·x|), dot4 equal to dot1 bit
 * for bit, and to_f32 equal to the portable conversion bit for bit. */
static void check_type_and_length(const pa_kernel_set *set, pa_wtype t, int n) {
    const pa_row_kernels *k = &set->types[t], *p = &pa_kernels_portable()->types[t];
    static uint8_t rows[4][MAX_N * 4];
    static activations a;
    for (int r = 0; r < 4; r++) random_row(t, n, rows[r]);
    for (int i = 0; i < n; i++) a.f32[i] = next_float();
    if (k->x_q8) {
        a.q8 = pa_xq8_in(a.q8_buf, n);
        pa_xq8_quantize(a.f32, n, &a.q8);
    }
    check_stripes(set, t, n, 3);
    const void *row_ptrs[4] = {rows[0], rows[1], rows[2], rows[3]};
    float four[4], four_portable[4];
    k->dot4(row_ptrs, x_for(k, &a), n, four);
    p->dot4(row_ptrs, x_for(p, &a), n, four_portable);
    for (int r = 0; r < 4; r++) {
        double magnitude;
        const double exact = exact_dot(p, rows[r], &a, n, &magnitude);
        const double bound = (double)n * FLT_EPSILON * magnitude + 1e-30;
        const float one = k->dot1(rows[r], x_for(k, &a), n);
        if (fabs(one - exact) > bound || fabs(four_portable[r] - exact) > bound)
            fail_msg("%s %s n=%d row %d: %s %.9g, portable %.9g, exact %.9g (bound %.3g)",
                     set->name, type_names[t], n, r, set->name, (double)one,
                     (double)four_portable[r], exact, bound);
        if (memcmp(&one, &four[r], sizeof one) != 0)
            fail_msg("%s %s n=%d row %d: dot4 %.9g differs from dot1 %.9g", set->name,
                     type_names[t], n, r, (double)four[r], (double)one);
        if (k->dot4xn) { /* several tokens at once: each (row, token) bitwise dot1's */
            enum { MAX_X = 16 }; /* every split of the sets' multi-token kernels into calls */
            static float xs[MAX_X][MAX_N];
            static uint8_t xq_buf[MAX_X][PA_XQ8_BYTES(MAX_N)];
            pa_xq8 xq[MAX_X];
            const void *xp[MAX_X];
            float many[MAX_X * 4];
            for (int u = 0; u < MAX_X; u++) {
                for (int i = 0; i < n; i++) xs[u][i] = u == 2 ? a.f32[i] : next_float();
                xp[u] = xs[u];
                if (k->x_q8) { /* the kernel reads each token rounded to 8 bits */
                    xq[u] = pa_xq8_in(xq_buf[u], n);
                    pa_xq8_quantize(xs[u], n, &xq[u]);
                    xp[u] = &xq[u];
                }
            }
            /* and with x prepared once for the batch, where the set prepares it */
            static _Alignas(64) uint8_t prepared_buf[MAX_X][2 * MAX_N + 64];
            const void *prepared[MAX_X];
            if (k->prepare_x) {
                assert_true(k->prepared_bytes(n) <= sizeof prepared_buf[0]);
                for (int u = 0; u < MAX_X; u++) {
                    k->prepare_x(xp[u], n, prepared_buf[u]);
                    prepared[u] = prepared_buf[u];
                }
            }
            for (int n_x = 1; n_x <= MAX_X; n_x++) {
                for (int way = 0; way < (k->prepare_x ? 2 : 1); way++) {
                    if (way == 0) k->dot4xn(row_ptrs, xp, n_x, n, many);
                    else k->dot4xn_prepared(row_ptrs, xp, prepared, n_x, n, many);
                    for (int u = 0; u < n_x; u++) {
                        const float ref = k->dot1(rows[r], xp[u], n);
                        if (memcmp(&ref, &many[4 * u + r], sizeof ref) != 0)
                            fail_msg("%s %s n=%d row %d: dot4xn%s (%d tokens) token %d %.9g "
                                     "differs from dot1 %.9g", set->name, type_names[t], n, r,
                                     way ? " with x prepared" : "", n_x, u,
                                     (double)many[4 * u + r], (double)ref);
                    }
                }
            }
        }
        static float simd[MAX_N], portable[MAX_N];
        k->to_f32(rows[r], simd, n);
        p->to_f32(rows[r], portable, n);
        for (int i = 0; i < n; i++)
            if (memcmp(&simd[i], &portable[i], sizeof(float)) != 0)
                fail_msg("%s %s n=%d: to_f32[%d] = %.9g, portable %.9g", set->name,
                         type_names[t], n, i, (double)simd[i], (double)portable[i]);
    }
}

/* Lengths in blocks for block types; for float types, lengths around the 8-, 16- and 32-wide
 * steps and their tails. */
static void check_set(const pa_kernel_set *set) {
    static const int float_lengths[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64,
                                        65, 100, 255, 257, 768, 773, 2048, 4093};
    static const int block_counts[] = {1, 2, 3, 4, 5, 7, 9, 16, 24};
    for (int t = 0; t < PA_W_COUNT; t++) {
        const int block = block_of((pa_wtype)t);
        if (block == 1) {
            for (size_t i = 0; i < sizeof float_lengths / sizeof *float_lengths; i++)
                check_type_and_length(set, (pa_wtype)t, float_lengths[i]);
        } else {
            for (size_t i = 0; i < sizeof block_counts / sizeof *block_counts; i++)
                if (block_counts[i] * block <= MAX_N)
                    check_type_and_length(set, (pa_wtype)t, block_counts[i] * block);
        }
    }
}

static void portable_kernels_match_exact_sums(void **state) {
    (void)state;
    check_set(pa_kernels_portable());
}

static void check_isa(pa_isa isa, const char *name) {
    const pa_kernel_set *set = pa_kernels_for(isa);
    if (!set) {
        printf("# %s kernels: not on this CPU, skipped\n", name);
        skip();
    }
    check_set(set);
}

/* Rows longer than the stripes' tables of a token's x side (8192 values) take the x side per
 * four rows, with the same results; every set's stripes over rows of 8256 values (8448 for
 * q4_K, whole blocks). */
static void stripes_of_long_rows_match_dot1(void **state) {
    (void)state;
    for (int isa = 0; isa < PA_ISA_COUNT; isa++) {
        const pa_kernel_set *set = pa_kernels_for((pa_isa)isa);
        if (set)
            for (int t = 0; t < PA_W_COUNT; t++)
                check_stripes(set, (pa_wtype)t, t == PA_W_Q4_K ? 8448 : 8256, 2);
    }
}

static void avx2_kernels_match_portable(void **state) {
    (void)state;
    check_isa(PA_ISA_AVX2, "AVX2");
}

static void avx512_kernels_match_portable(void **state) {
    (void)state;
    check_isa(PA_ISA_AVX512, "AVX-512");
}

static void avx512_vbmi_kernels_match_portable(void **state) {
    (void)state;
    check_isa(PA_ISA_AVX512_VBMI, "AVX-512 VBMI");
}

/* ------------------------------------------------------------------------------------------ */
/* Block layouts, against hand-made blocks                                                     */

/* Every kernel set's to_f32 must give `expected` for `row`. */
static void expect_dequantized(pa_wtype t, const uint8_t *row, int n, const float *expected) {
    for (int isa = 0; isa < PA_ISA_COUNT; isa++) {
        const pa_kernel_set *set = pa_kernels_for((pa_isa)isa);
        if (!set) continue;
        float got[PA_Q4_K_BLOCK];
        set->types[t].to_f32(row, got, n);
        for (int i = 0; i < n; i++)
            if (got[i] != expected[i])
                fail_msg("%s %s: value %d is %.9g, expected %.9g", set->name, type_names[t], i,
                         (double)got[i], (double)expected[i]);
    }
}

/* q4_0: f16 d, then 16 bytes whose low nibbles are values 0..15 and high nibbles 16..31, each
 * value d * (nibble - 8). */
static void q4_0_block_dequantizes_as_ggml_lays_it_out(void **state) {
    (void)state;
    uint8_t block[PA_Q4_0_BYTES] = {0x00, 0x38}; /* d = 0.5 */
    for (int j = 0; j < 16; j++) block[2 + j] = (uint8_t)(j | (15 - j) << 4);
    float expected[32];
    for (int j = 0; j < 16; j++) {
        expected[j] = 0.5f * (float)(j - 8);
        expected[16 + j] = 0.5f * (float)(15 - j - 8);
    }
    expect_dequantized(PA_W_Q4_0, block, 32, expected);
}

/* q4_K: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles. The scale
 * bytes below pack, by hand, sc = {1, 2, 3, 4, 17, 33, 48, 63} and m = {0, 1, 2, 3, 20, 40,
 * 50, 62}: bytes 0-3 hold sc[0..3] and the top 2 bits of sc[4..7], bytes 4-7 m[0..3] and the
 * top 2 bits of m[4..7], bytes 8-11 the low 4 bits of sc[4..7] (low nibble) and m[4..7]. */
static void q4_k_block_dequantizes_as_ggml_lays_it_out(void **state) {
    (void)state;
    static const int sc[8] = {1, 2, 3, 4, 17, 33, 48, 63}, m[8] = {0, 1, 2, 3, 20, 40, 50, 62};
    uint8_t block[PA_Q4_K_BYTES] = {0x00, 0x3c, 0x00, 0x38, /* d = 1, dmin = 0.5 */
                                    65, 130, 195, 196, 64, 129, 194, 195, 65, 129, 32, 239};
    /* 32 bytes per pair of sub-blocks: sub-block 2c in the low nibbles, 2c+1 in the high */
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) block[16 + 32 * c + l] = (uint8_t)((l & 15) | ((l + c) & 15) << 4);
    float expected[PA_Q4_K_BLOCK];
    for (int s = 0; s < 8; s++)
        for (int l = 0; l < 32; l++) {
            const int nibble = s % 2 == 0 ? l & 15 : (l + s / 2) & 15;
            expected[32 * s + l] = 1.0f * (float)sc[s] * (float)nibble - 0.5f * (float)m[s];
        }
    expect_dequantized(PA_W_Q4_K, block, PA_Q4_K_BLOCK, expected);

    for (int s = 0; s < 8; s++) {
        int got_sc, got_m;
        pa_q4_k_scale_min(block + 4, s, &got_sc, &got_m);
        assert_int_equal(got_sc, sc[s]);
        assert_int_equal(got_m, m[s]);
    }
}

/* The 32-bit unpacking the SIMD kernels use gives what the per-sub-block one gives. */
static void q4_k_scales_unpack_the_same_both_ways(void **state) {
    (void)state;
    for (int trial = 0; trial < 10000; trial++) {
        uint8_t scales[12], sc[8], m[8];
        for (int i = 0; i < 12; i++) scales[i] = (uint8_t)next_u32();
        pa_q4_k_scales_mins(scales, sc, m);
        for (int s = 0; s < 8; s++) {
            int want_sc, want_m;
            pa_q4_k_scale_min(scales, s, &want_sc, &want_m);
            assert_int_equal(sc[s], want_sc);
            assert_int_equal(m[s], want_m);
        }
    }
}

/* q8_0: f16 d, 32 int8; value d * q. */
static void q8_0_block_dequantizes_as_ggml_lays_it_out(void **state) {
    (void)state;
    uint8_t block[PA_Q8_0_BYTES] = {0x00, 0x40}; /* d = 2 */
    float expected[32];
    for (int j = 0; j < 32; j++) {
        const int q = j % 2 ? -4 * j : 4 * j;
        block[2 + j] = (uint8_t)(int8_t)q;
        expected[j] = 2.0f * (float)q;
    }
    expect_dequantized(PA_W_Q8_0, block, 32, expected);
}

/* ------------------------------------------------------------------------------------------ */
/* Activations rounded to 8 bits                                                               */

static void activations_round_to_8_bits_per_block_of_32(void **state) {
    (void)state;
    float x[64];
    for (int i = 0; i < 32; i++) x[i] = (float)(i - 16) * 127.0f / 16.0f; /* max |x| = 127 */
    for (int i = 32; i < 64; i++) x[i] = 0;                              /* an all-zero block */
    x[40] = -0.5f;
    uint8_t buf[PA_XQ8_BYTES(64)];
    pa_xq8 q = pa_xq8_in(buf, 64);
    pa_xq8_quantize(x, 64, &q);
    assert_true(q.d[0] == 1.0f); /* 127 / 127 */
    int32_t sum = 0;
    for (int i = 0; i < 32; i++) {
        assert_int_equal(q.q[i], (int)lrintf(x[i]));
        sum += q.q[i];
    }
    assert_int_equal(q.sum[0], sum);
    assert_true(q.dsum[0] == (float)sum);
    /* block 1: max 0.5 -> d = 0.5 / 127, and the 0.5 itself is -127 */
    assert_true(q.d[1] == 0.5f / 127.0f);
    assert_int_equal(q.q[40], -127);
    assert_int_equal(q.q[41], 0);
    assert_int_equal(q.sum[1], -127);
}

/* Every SIMD set's f32 -> f16 row (f16 KV as decode writes it) equals pa_f32_to_f16 bit for bit:
 * random bit patterns (every exponent, NaNs with payloads, infinities, subnormals), values
 * halfway between two halves (ties go to even), the overflow boundary and a rest past the
 * sets' 8 or 16 at a time. */
static void every_set_rounds_to_f16_like_the_portable_code(void **state) {
    (void)state;
    enum { N = 4096 + 13 };
    static float x[N];
    static uint16_t want[N], got[N];
    for (int i = 0; i < N; i++) {
        const uint32_t bits = next_u32();
        memcpy(&x[i], &bits, sizeof bits);
    }
    for (int i = 0; i < 1024; i++) { /* halfway between half h and the next one up */
        const uint16_t h = (uint16_t)(next_u32() % 0x7bff);
        x[i] = (pa_f16_to_f32(h) + pa_f16_to_f32((uint16_t)(h + 1))) * 0.5f;
        if (i % 2) x[i] = -x[i];
    }
    const float edges[] = {65504.0f, 65519.99f, 65520.0f, -65520.0f, 1e9f, 5.9604645e-8f,
                           2.9802322e-8f, 2.9802326e-8f, 6.1035156e-5f, -0.0f, 0.0f, 1e-40f,
                           INFINITY, -INFINITY, NAN, -NAN};
    memcpy(x + N - 16, edges, sizeof edges);
    for (int i = 0; i < N; i++) want[i] = pa_f32_to_f16(x[i]);
    for (int isa = PA_ISA_PORTABLE + 1; isa < PA_ISA_COUNT; isa++) { /* portable: that loop */
        const pa_kernel_set *set = pa_kernels_for((pa_isa)isa);
        if (!set) continue;
        memset(got, 0x55, sizeof got);
        set->to_f16(x, N, got);
        for (int i = 0; i < N; i++)
            if (got[i] != want[i])
                fail_msg("%s: x[%d] = %.9g (0x%08x): 0x%04x, portable 0x%04x", set->name, i,
                         (double)x[i], pa_bits_from_f32(x[i]), got[i], want[i]);
    }
}

/* Every SIMD set's own rounding of x equals pa_xq8_quantize bit for bit: random blocks,
 * blocks whose values fall halfway between two steps (ties go to even), and blocks with NaN,
 * infinities, signed zeros and subnormals. */
static void every_set_rounds_x_like_the_portable_code(void **state) {
    (void)state;
    enum { N = 32 * 40 }; /* 40 blocks: sets may take 16 at a time, and a rest */
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = next_float() * (float)(1 + i % 7);
    for (int i = 32; i < 64; i++) x[i] = (float)(i - 48) + 0.5f; /* ties: d = 1 with ... */
    x[63] = 127.0f;                                              /* ... a maximum of 127 */
    for (int i = 64; i < 96; i++) x[i] = (float)(i - 80) * (127.0f / 16.0f) + 0.5f;
    x[96] = NAN, x[97] = -0.0f, x[98] = 1e-40f, x[99] = -3.0f;  /* NaN drops out of the max */
    x[128] = INFINITY, x[129] = 1.0f, x[130] = -2.0f;           /* amax = inf: 1/d = 0 */
    for (int i = 160; i < 192; i++) x[i] = 0.0f;                /* d = 0 */
    for (int i = 192; i < 224; i++) x[i] = 1e-42f * (float)(i - 200); /* subnormal block */
    x[250] = -INFINITY, x[251] = NAN;
    memcpy(x + 32 * 20, x, 32 * 12 * sizeof *x); /* the odd blocks again, in other places */
    memcpy(x + 32 * 35, x + 32 * 2, 32 * 5 * sizeof *x);
    static uint8_t want_buf[PA_XQ8_BYTES(N)], got_buf[PA_XQ8_BYTES(N)];
    pa_xq8 want = pa_xq8_in(want_buf, N), got = pa_xq8_in(got_buf, N);
    pa_xq8_quantize(x, N, &want);
    for (int isa = PA_ISA_PORTABLE + 1; isa < PA_ISA_COUNT; isa++) {
        const pa_kernel_set *set = pa_kernels_for((pa_isa)isa);
        if (!set) continue;
        memset(got_buf, 0x55, sizeof got_buf);
        got = pa_xq8_in(got_buf, N);
        set->quantize_x(x, N, &got);
        for (int b = 0; b < N / 32; b++) {
            if (memcmp(&got.d[b], &want.d[b], sizeof(float)) || got.sum[b] != want.sum[b] ||
                memcmp(&got.dsum[b], &want.dsum[b], sizeof(float)))
                fail_msg("%s: block %d: d %.9g sum %d, portable d %.9g sum %d", set->name, b,
                         (double)got.d[b], got.sum[b], (double)want.d[b], want.sum[b]);
            for (int i = 32 * b; i < 32 * b + 32; i++)
                if (got.q[i] != want.q[i])
                    fail_msg("%s: q[%d] = %d, portable %d (x %.9g)", set->name, i, got.q[i],
                             want.q[i], (double)x[i]);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Matrix products                                                                             */

static const uint32_t gguf_types[PA_W_COUNT] = {GGUF_TENSOR_F32, GGUF_TENSOR_F16,
                                                GGUF_TENSOR_BF16, GGUF_TENSOR_Q8_0,
                                                GGUF_TENSOR_Q4_0, GGUF_TENSOR_Q4_K};

/* Rows go to threads in stripes of four (and leftovers one by one), so a row's dot product
 * takes dot4 or dot1 depending on the thread count; the results must not change. */
static void matmul_is_the_same_for_every_thread_count(void **state) {
    (void)state;
    enum { N_OUT = 77, N_IN = 512, N_TOKENS = 3 };
    static uint8_t weights[N_OUT * N_IN * 4];
    static float x[N_TOKENS * N_IN], y[N_TOKENS * N_OUT], y1[N_TOKENS * N_OUT];
    static float scratch[PA_MATMUL_SCRATCH_FLOATS(4, N_IN)];
    for (int i = 0; i < N_TOKENS * N_IN; i++) x[i] = next_float();
    for (int t = 0; t < PA_W_COUNT; t++) {
        const uint64_t rb = row_bytes((pa_wtype)t, N_IN);
        for (int r = 0; r < N_OUT; r++) random_row((pa_wtype)t, N_IN, weights + r * rb);
        pa_matrix w = {weights, gguf_types[t], N_IN, N_OUT, rb};
        for (int n_threads = 1; n_threads <= 4; n_threads++) {
            pa_err err = {0};
            pa_pool *pool = NULL;
            assert_int_equal(pa_pool_create(n_threads, &pool, &err), PYAGENT_OK);
            pa_matmul(pool, n_threads == 1 ? y1 : y, x, &w, N_TOKENS, scratch);
            pa_pool_free(pool);
            if (n_threads > 1 && memcmp(y, y1, sizeof y) != 0)
                fail_msg("%s: %d threads differ from 1", type_names[t], n_threads);
        }
    }
}

/* Batches longer than one pass of the row kernels go in several passes (and two matrices of a
 * set side by side); each token's row of Y must still be bitwise that token's alone. */
static void exact_batches_equal_tokens_one_at_a_time(void **state) {
    (void)state;
    enum { N_OUT = 37, N_IN = 256, N_TOKENS = 61 };
    static uint8_t weights[2][N_OUT * N_IN * 4];
    static float x[N_TOKENS * N_IN], y[2][N_TOKENS * N_OUT], one[2][N_OUT];
    static float scratch[PA_MATMUL_SCRATCH_FLOATS(2, N_IN)];
    for (int i = 0; i < N_TOKENS * N_IN; i++) x[i] = next_float();
    pa_err err = {0};
    pa_pool *pool = NULL;
    assert_int_equal(pa_pool_create(2, &pool, &err), PYAGENT_OK);
    for (int t = 0; t < PA_W_COUNT; t++) {
        const uint64_t rb = row_bytes((pa_wtype)t, N_IN);
        pa_matrix w[2];
        for (int m = 0; m < 2; m++) {
            for (int r = 0; r < N_OUT; r++) random_row((pa_wtype)t, N_IN, weights[m] + r * rb);
            w[m] = (pa_matrix){weights[m], gguf_types[t], N_IN, N_OUT, rb};
        }
        const pa_matrix *set[2] = {&w[0], &w[1]};
        float *ys[2] = {y[0], y[1]}, *ones[2] = {one[0], one[1]};
        pa_matmul_set_exact(pool, 2, ys, x, set, N_TOKENS, scratch);
        for (int tok = 0; tok < N_TOKENS; tok++) {
            pa_matmul_set_exact(pool, 2, ones, x + tok * N_IN, set, 1, scratch);
            for (int m = 0; m < 2; m++)
                if (memcmp(one[m], y[m] + tok * N_OUT, sizeof one[m]) != 0)
                    fail_msg("%s: matrix %d, token %d of %d differs from the token alone",
                             type_names[t], m, tok, N_TOKENS);
        }
    }
    pa_pool_free(pool);
}

/* f32 -> bf16 -> f32, rounded to nearest even */
static float bf16_round(float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    bits = (bits + 0x7fff + ((bits >> 16) & 1)) & 0xffff0000u;
    memcpy(&v, &bits, 4);
    return v;
}

/* AMX tiles for long batches of quantized and bf16 weights: every (row, token) of Y equal to
 * the exact sum of the row with the token, both rounded to bf16, within the bound of f32
 * summation; over two passes, a last pair of token groups and a last group of rows that are
 * not whole, and two threads (pa_matmul, when the AMX set is the one chosen); and pa_amx_gemm
 * alone on rows [5, 40), whose groups of 32 do not start at 0. */
static void amx_tiles_match_exact_sums(void **state) {
    (void)state;
    if (!pa_kernels_for(PA_ISA_AMX)) {
        printf("# AMX: not on this CPU (or not given to this process), skipped\n");
        skip();
    }
    enum { N_OUT = 45, N_IN = 512, N_TOKENS = PA_MATMUL_TILE_PASS + 18 };
    static uint8_t weights[N_OUT * N_IN * 2];
    static float x[N_TOKENS * N_IN], y[N_TOKENS * N_OUT];
    static float scratch[PA_MATMUL_SCRATCH_FLOATS(2, N_IN)];
    activations *a = calloc(N_TOKENS, sizeof *a);
    assert_non_null(a);
    static uint8_t packed[(PA_MATMUL_TILE_PASS + 32) * N_IN * 2] __attribute__((aligned(64)));
    static uint8_t work[64 << 10] __attribute__((aligned(64)));
    assert_true(pa_amx_x_bytes(N_TOKENS, N_IN) <= sizeof packed);
    assert_true(pa_amx_work_bytes(N_IN) <= sizeof work);
    const bool amx_chosen = strstr(pa_cpu_kernels_name(), "AMX") != NULL;
    for (int i = 0; i < N_TOKENS * N_IN; i++) x[i] = next_float();
    for (int tok = 0; tok < N_TOKENS; tok++)
        for (int i = 0; i < N_IN; i++) a[tok].f32[i] = bf16_round(x[tok * N_IN + i]);
    pa_err err = {0};
    pa_pool *pool = NULL;
    assert_int_equal(pa_pool_create(2, &pool, &err), PYAGENT_OK);
    const pa_wtype types[] = {PA_W_BF16, PA_W_Q8_0, PA_W_Q4_0, PA_W_Q4_K};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const pa_wtype t = types[ti];
        const pa_row_kernels *p = &pa_kernels_portable()->types[t];
        const uint64_t rb = row_bytes(t, N_IN);
        static float w_bf16[N_OUT][N_IN]; /* the rows in f32, rounded to bf16 */
        for (int r = 0; r < N_OUT; r++) {
            random_row(t, N_IN, weights + r * rb);
            p->to_f32(weights + r * rb, w_bf16[r], N_IN);
            for (int i = 0; i < N_IN; i++) w_bf16[r][i] = bf16_round(w_bf16[r][i]);
        }
        const pa_row_kernels f32_rows = pa_kernels_portable()->types[PA_W_F32];
        for (int via_matmul = 0; via_matmul < 2; via_matmul++) {
            int64_t begin = 0, end = N_OUT;
            memset(y, 0, sizeof y);
            if (via_matmul) {
                if (!amx_chosen) continue;
                pa_matrix w = {weights, gguf_types[t], N_IN, N_OUT, rb};
                pa_matmul(pool, y, x, &w, N_TOKENS, scratch);
            } else {
                begin = 5, end = 40;
                pa_amx_pack_x(x, N_TOKENS, N_IN, pa_amx_x_in_pairs(N_TOKENS), packed);
                pa_amx_gemm(p->to_f32, weights, rb, begin, end, N_IN, packed, N_TOKENS, y,
                            N_OUT, work);
            }
            for (int tok = 0; tok < N_TOKENS; tok++)
                for (int64_t r = 0; r < N_OUT; r++) {
                    const float got = y[tok * N_OUT + r];
                    if (r < begin || r >= end) {
                        if (got != 0)
                            fail_msg("%s: row %d outside [%d, %d) written", type_names[t],
                                     (int)r, (int)begin, (int)end);
                        continue;
                    }
                    double magnitude;
                    const double exact =
                        exact_dot(&f32_rows, w_bf16[r], &a[tok], N_IN, &magnitude);
                    const double bound = N_IN * FLT_EPSILON * magnitude + 1e-30;
                    if (fabs(got - exact) > bound)
                        fail_msg("%s %s: row %d token %d: %.9g, exact %.9g (bound %.3g)",
                                 type_names[t], via_matmul ? "pa_matmul" : "pa_amx_gemm",
                                 (int)r, tok, (double)got, exact, bound);
                }
        }
    }
    pa_pool_free(pool);
    free(a);
}

/* A host chooses the cores by binding the thread that opens the engine: a pool of "one thread
 * per core" then counts only the cores that thread may run on. */
static void pool_of_all_cores_keeps_to_the_callers_cores(void **state) {
    (void)state;
    cpu_set_t all, one;
    assert_int_equal(sched_getaffinity(0, sizeof all, &all), 0);
    if (CPU_COUNT(&all) < 2) {
        printf("# one CPU only: nothing to restrict, skipped\n");
        skip();
    }
    int first = 0;
    while (!CPU_ISSET(first, &all)) first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    const int cores_bound = pa_physical_cores();
    pa_err err = {0};
    pa_pool *pool = NULL;
    const pyagent_status st = pa_pool_create(0, &pool, &err);
    const int pool_size = st == PYAGENT_OK ? pa_pool_size(pool) : -1;
    pa_pool_free(pool);
    assert_int_equal(sched_setaffinity(0, sizeof all, &all), 0);
    assert_int_equal(cores_bound, 1);
    assert_int_equal(pool_size, 1);
    assert_true(pa_physical_cores() >= 1);
}

/* Which thread ran each part of a run, and how often each part ran. */
typedef struct parts_job {
    _Atomic int runs[8];
    _Atomic int slot[8];
} parts_job;

static void record_part(void *ctx, int ith, int nth) {
    parts_job *job = ctx;
    (void)nth;
    atomic_fetch_add(&job->runs[ith], 1);
    atomic_store(&job->slot[ith], pa_pool_slot());
    for (volatile int k = 0; k < 2000; k++) {} /* a part's work */
}

/* Every part of every run runs exactly once, on a valid thread, also when the pool has more
 * threads than the machine has cores (the caller then takes the parts of workers that are not
 * scheduled). How often two threads each ran their own part is printed. */
static void parts_run_exactly_once_on_valid_threads(void **state) {
    (void)state;
    for (int n_threads = 2; n_threads <= 8; n_threads *= 2) {
        pa_err err = {0};
        pa_pool *pool = NULL;
        assert_int_equal(pa_pool_create(n_threads, &pool, &err), PYAGENT_OK);
        static parts_job job;
        int own = 0;
        enum { RUNS = 3000 };
        for (int run = 0; run < RUNS; run++) {
            memset(&job, 0, sizeof job);
            pa_pool_run(pool, record_part, &job);
            for (int i = 0; i < n_threads; i++) {
                if (job.runs[i] != 1)
                    fail_msg("%d threads, run %d: part %d ran %d times", n_threads, run, i,
                             job.runs[i]);
                if (job.slot[i] < 0 || job.slot[i] >= n_threads)
                    fail_msg("part %d ran on slot %d", i, job.slot[i]);
            }
            own += n_threads == 2 && job.slot[0] == 0 && job.slot[1] == 1;
        }
        /* a shared counter of parts gave the worker part 0 in ~7 % of runs on two Zen 5 cores
         * (not asserted: a loaded machine may deschedule the worker, and the caller then takes
         * its part) */
        if (n_threads == 2) printf("# parts on their own threads: %.1f %%\n", 100.0 * own / RUNS);
        pa_pool_free(pool);
    }
}

/* A balanced job whose part 0 costs three times as much per item as the others. */
typedef struct uneven_job {
    pa_pool *pool;
    int64_t n;
    uint8_t *hits;      /* (n,) times each item was taken this run */
    int64_t first_end;  /* where part 0 ended */
} uneven_job;

static void uneven_part(void *ctx, int ith, int nth) {
    uneven_job *job = ctx;
    int64_t begin, end;
    pa_pool_split(job->pool, job->n, 16, ith, nth, &begin, &end);
    if (ith == 0) job->first_end = end;
    volatile double sink = 0;
    for (int64_t i = begin; i < end; i++) {
        job->hits[i]++;
        for (int k = 0; k < (ith == 0 ? 600 : 200); k++) sink += (double)k;
    }
}

/* pa_pool_run_balanced: every run still takes each item once, in parts that start at multiples
 * of 16, and a part that is slower per item is given fewer items run after run. */
static void balanced_runs_take_every_item_once_and_shrink_the_slow_part(void **state) {
    (void)state;
    pa_err err = {0};
    pa_pool *pool = NULL;
    assert_int_equal(pa_pool_create(2, &pool, &err), PYAGENT_OK);
    enum { N = 1000 };
    static uint8_t hits[N];
    uneven_job job = {pool, N, hits, 0};
    double late_share = 0; /* part 0's, over the last 50 runs (one run may be preempted) */
    for (int run = 0; run < 200; run++) {
        memset(hits, 0, sizeof hits);
        pa_pool_run_balanced(pool, uneven_part, &job);
        for (int i = 0; i < N; i++)
            if (hits[i] != 1) fail_msg("run %d: item %d taken %d times", run, i, hits[i]);
        assert_int_equal(job.first_end % 16, 0);
        if (run == 0) assert_int_equal(job.first_end, 512); /* even: 31.5 of 63 units */
        if (run >= 150) late_share += (double)job.first_end / N / 50;
    }
    /* three times the cost per item: a quarter of the items balances it */
    if (late_share > 0.4 || late_share < 0.12) fail_msg("part 0 took %.2f", late_share);
    pa_pool_free(pool);
}

/* ------------------------------------------------------------------------------------------ */
/* Online attention                                                                            */

/* Random K and V rows of n positions (row_values each, a multiple of 32) in an element type. */
static void random_kv_rows(uint8_t *out, int n, int row_values, int elem_type, float *as_f32) {
    const size_t row_bytes = elem_type == PA_ATTN_F32   ? (size_t)row_values * 4
                             : elem_type == PA_ATTN_F16 ? (size_t)row_values * 2
                                                        : (size_t)row_values / 32 * 34;
    for (int p = 0; p < n; p++) {
        uint8_t *row = out + (size_t)p * row_bytes;
        for (int i = 0; i < row_values; i++) {
            float v = 2.0f * next_float();
            if (elem_type == PA_ATTN_F32) {
                memcpy(row + 4 * (size_t)i, &v, 4);
            } else if (elem_type == PA_ATTN_F16) {
                const uint16_t h = pa_f32_to_f16(v);
                memcpy(row + 2 * (size_t)i, &h, 2);
                v = pa_f16_to_f32(h);
            } else { /* q8_0 with scale 1/64: value = q / 64 */
                uint8_t *b = row + (size_t)(i / 32) * 34;
                const uint16_t d = pa_f32_to_f16(1.0f / 64);
                memcpy(b, &d, 2);
                const int8_t q = (int8_t)lrintf(v * 63.0f);
                b[2 + i % 32] = (uint8_t)q;
                v = (float)q / 64.0f;
            }
            as_f32[(size_t)p * row_values + i] = v;
        }
    }
}

/* pa_attn_online, for every element type and head size the kernels specialize: any split of
 * the positions into calls gives bitwise the same state (speculative verification takes a
 * token's last positions one call each, plain decoding a block at a time), a query grouped with
 * others (pa_attn_online_group) or with the token's other heads (pa_attn_online_heads) gets
 * bitwise its state alone, and the result is softmax attention computed in double to within
 * 2e-6. */
static void online_attention_splits_alike_and_matches_softmax(void **state) {
    (void)state;
    enum { N = 45, MAX_HD = 128, ROW = 2 * MAX_HD };
    static uint8_t k[N * ROW * 4], v[N * ROW * 4];
    static float kf[N * ROW], vf[N * ROW];
    static const int head_dims[] = {8, 24, 32, 64, 128};
    static const int splits[][5] = {{45}, {16, 16, 13}, {1, 1, 16, 27}, {7, 1, 1, 1, 35}};
    for (int type = PA_ATTN_F32; type <= PA_ATTN_Q8_0; type++)
        for (size_t h = 0; h < sizeof head_dims / sizeof *head_dims; h++) {
            const int hd = head_dims[h], first = hd == 24 ? 0 : ROW - hd; /* the 2nd head */
            if (type == PA_ATTN_Q8_0 && hd % 32) continue;
            random_kv_rows(k, N, ROW, type, kf);
            random_kv_rows(v, N, ROW, type, vf);
            const size_t stride = type == PA_ATTN_F32   ? ROW * 4
                                  : type == PA_ATTN_F16 ? ROW * 2
                                                        : ROW / 32 * 34;
            float q[MAX_HD], ref_acc[MAX_HD], ref_m = 0, ref_l = 0;
            for (int i = 0; i < hd; i++) q[i] = next_float();
            const float scale = 1.0f / sqrtf((float)hd);
            for (size_t sp = 0; sp < sizeof splits / sizeof *splits; sp++) {
                float acc[MAX_HD] = {0}, m = -INFINITY, l = 0;
                for (int c = 0, p = 0; c < 5 && p < N; p += splits[sp][c], c++)
                    pa_attn_online(acc, &m, &l, q, k + (size_t)p * stride, v + (size_t)p * stride,
                                   stride, first, splits[sp][c], hd, type, scale);
                if (sp == 0) {
                    memcpy(ref_acc, acc, sizeof acc);
                    ref_m = m, ref_l = l;
                    continue;
                }
                if (memcmp(acc, ref_acc, (size_t)hd * sizeof *acc) || m != ref_m || l != ref_l)
                    fail_msg("type %d hd %d: split %zu differs from one call", type, hd, sp);
            }
            { /* five queries at once (kernels take up to 4): each as it would be alone */
                float qs[5][MAX_HD], accs[5][MAX_HD] = {{0}}, ms[5], ls[5];
                float *acc_p[5], *m_p[5], *l_p[5];
                const float *q_p[5];
                for (int g = 0; g < 5; g++) {
                    for (int i = 0; i < hd; i++) qs[g][i] = g == 3 ? q[i] : next_float();
                    ms[g] = -INFINITY, ls[g] = 0;
                    acc_p[g] = accs[g], m_p[g] = &ms[g], l_p[g] = &ls[g], q_p[g] = qs[g];
                }
                /* each call asks for the head's slice of the next 16 rows */
                const size_t slice = type == PA_ATTN_F32   ? (size_t)first * 4
                                     : type == PA_ATTN_F16 ? (size_t)first * 2
                                                           : (size_t)first / 32 * 34;
                for (int p = 0; p < N; p += 16) {
                    const bool last = p + 16 >= N;
                    pa_attn_online_group(5, acc_p, m_p, l_p, q_p, k + (size_t)p * stride,
                                         v + (size_t)p * stride,
                                         last ? NULL : k + (size_t)(p + 16) * stride + slice,
                                         last ? NULL : v + (size_t)(p + 16) * stride + slice,
                                         stride, first, last ? N - p : 16, hd, type, scale);
                }
                for (int g = 0; g < 5; g++) {
                    float acc[MAX_HD] = {0}, m = -INFINITY, l = 0;
                    pa_attn_online(acc, &m, &l, qs[g], k, v, stride, first, N, hd, type, scale);
                    if (memcmp(acc, accs[g], (size_t)hd * sizeof *acc) || m != ms[g] || l != ls[g])
                        fail_msg("type %d hd %d: query %d of a group differs from alone", type,
                                 hd, g);
                }
            }
            { /* every head of the rows at once (kernels take up to 3): each as it would be alone */
                enum { MOST = ROW / 8 };
                static float qs[MOST][MAX_HD], accs[MOST][MAX_HD];
                float ms[MOST], ls[MOST], *acc_p[MOST], *m_p[MOST], *l_p[MOST];
                const float *q_p[MOST];
                const int n_h = ROW / hd;
                for (int g = 0; g < n_h; g++) {
                    for (int i = 0; i < hd; i++) qs[g][i] = next_float();
                    memset(accs[g], 0, sizeof accs[g]);
                    ms[g] = -INFINITY, ls[g] = 0;
                    acc_p[g] = accs[g], m_p[g] = &ms[g], l_p[g] = &ls[g], q_p[g] = qs[g];
                }
                for (int p = 0; p < N; p += 16) { /* asking for the next rows' first heads */
                    const bool last = p + 16 >= N;
                    pa_attn_online_heads(n_h, acc_p, m_p, l_p, q_p, k + (size_t)p * stride,
                                         v + (size_t)p * stride,
                                         last ? NULL : k + (size_t)(p + 16) * stride,
                                         last ? NULL : v + (size_t)(p + 16) * stride, stride, 0,
                                         last ? N - p : 16, hd, type, scale);
                }
                for (int g = 0; g < n_h; g++) {
                    float acc[MAX_HD] = {0}, m = -INFINITY, l = 0;
                    pa_attn_online(acc, &m, &l, qs[g], k, v, stride, g * hd, N, hd, type, scale);
                    if (memcmp(acc, accs[g], (size_t)hd * sizeof *acc) || m != ms[g] || l != ls[g])
                        fail_msg("type %d hd %d: head %d of %d differs from alone", type, hd, g,
                                 n_h);
                }
            }
            double sc[N], mx = -INFINITY, sum = 0;
            for (int p = 0; p < N; p++) {
                sc[p] = 0;
                for (int i = 0; i < hd; i++) sc[p] += (double)q[i] * kf[(size_t)p * ROW + first + i];
                sc[p] *= scale;
                mx = sc[p] > mx ? sc[p] : mx;
            }
            for (int p = 0; p < N; p++) sum += exp(sc[p] - mx);
            double l_exact = 0; /* the running sum, about the maximum score as found */
            for (int p = 0; p < N; p++) l_exact += exp(sc[p] - ref_m);
            if (fabs(ref_l - l_exact) > 2e-6 * l_exact)
                fail_msg("type %d hd %d: sum of weights %.9g, exact %.9g", type, hd, ref_l,
                         l_exact);
            for (int i = 0; i < hd; i++) {
                double out = 0, mag = 0;
                for (int p = 0; p < N; p++) {
                    out += exp(sc[p] - mx) / sum * vf[(size_t)p * ROW + first + i];
                    mag += exp(sc[p] - mx) / sum * fabs(vf[(size_t)p * ROW + first + i]);
                }
                const double got = ref_acc[i] / ref_l;
                if (fabs(got - out) > 2e-6 * (mag + 1e-3))
                    fail_msg("type %d hd %d value %d: %.9g, softmax %.9g", type, hd, i, got, out);
            }
        }
}

#ifdef PA_HAVE_X86_KERNELS
/* hsum16x16 (the attention kernels' 16 scores at once) gives lane p bitwise hsum16(v[p]): the
 * same pairs in the same order, so scores do not change with how many are summed at once. */
__attribute__((target("avx512f,avx2,fma,f16c"))) static void sixteen_sums(float got[16],
                                                                         float want[16]) {
    float values[16][16];
    __m512 v[16];
    for (int p = 0; p < 16; p++) {
        for (int i = 0; i < 16; i++) /* magnitudes 2^-20 .. 2^20: the pairing shows in rounding */
            values[p][i] = next_float() * ldexpf(1.0f, (int)(next_u32() % 41) - 20);
        v[p] = _mm512_loadu_ps(values[p]);
        want[p] = hsum16(v[p]);
    }
    _mm512_storeu_ps(got, hsum16x16(v));
}
#endif

/* pa_argmax (the vector one where the CPU has AVX-512) against a plain scan: the first index of
 * the largest value, NaNs never winning except at index 0, ties to the first, on lengths that
 * do and do not fill its 16 lanes, with the maximum at the edges, repeated, or -0 beside +0. */
static int32_t first_max_scan(const float *x, int n) {
    if (isnan(x[0])) return 0;
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Causal attention of up to PA_ATTN_ROWS query rows with the rows side by side
 * (pa_attn_rows_*, through whichever set PYAGENT_KERNELS leaves), as the chunk attention of
 * llama.c calls it: K and V in tiles of uneven sizes with rows hd or hd + 8 values apart, the
 * softmax's maxima and weights over runs of other sizes, some positions pruned (-inf scores),
 * rows at positions first_pos + r. Each row's output against softmax attention in double, the
 * weights exactly 0 where a row does not see a position, the sums against double, and nothing
 * written past the positions asked for. Row counts 1-32 take every width of the kernels (8,
 * 16, 24 and 32 rows in vectors of 8 or 16), head sizes that are not a multiple of 8 the plain
 * C. */
static void rows_attention_matches_double(void **state) {
    (void)state;
    enum { MAX_POS = 75, MAX_HD = 128, R = PA_ATTN_ROWS };
    static float q[R * MAX_HD], k[MAX_POS * (MAX_HD + 8)], v[MAX_POS * (MAX_HD + 8)];
    static float qt[MAX_HD * R], ot[MAX_HD * R], st[(MAX_POS + 1) * R], o[R * MAX_HD];
    static const int head_dims[] = {8, 20, 48, 64, 128};
    static const int row_counts[] = {1, 2, 3, 4, 5, 8, 9, 16, 17, 24, 31, 32};
    static const int tiles[] = {1, 7, 16, 3, 24, 9, 64};
    double worst = 0;
    for (size_t h = 0; h < sizeof head_dims / sizeof *head_dims; h++)
        for (size_t c = 0; c < sizeof row_counts / sizeof *row_counts; c++) {
            const int hd = head_dims[h], n_rows = row_counts[c];
            const int ld = c % 2 ? hd : hd + 8; /* K and V rows apart, as in a wider row */
            /* positions: some earlier ones, then the rows' */
            const int n = n_rows + (int)(next_u32() % 40);
            const int first_pos = n - n_rows;
            const float scale = 1.0f / sqrtf((float)hd);
            for (int i = 0; i < R * hd; i++) q[i] = 2 * next_float();
            for (int i = 0; i < n * ld; i++) k[i] = 2 * next_float(), v[i] = 2 * next_float();
            bool pruned[MAX_POS] = {false};
            for (int p = 0; p < first_pos; p++) pruned[p] = next_u32() % 5 == 0;
            for (int i = 0; i < (MAX_POS + 1) * R; i++) st[i] = 12345.0f;
            memset(ot, 0, sizeof ot);

            pa_attn_rows_q(qt, q, hd, n_rows, hd, scale);
            for (int p = 0, t = 0; p < n; p += tiles[t % 7], t++) {
                const int len = n - p < tiles[t % 7] ? n - p : tiles[t % 7];
                pa_attn_rows_scores(st + (size_t)R * p, qt, k + (size_t)p * ld, ld, len, hd,
                                    n_rows);
            }
            for (int p = 0; p < n; p++)
                if (pruned[p])
                    for (int r = 0; r < n_rows; r++) st[R * p + r] = -INFINITY;
            float max[R], sums[R];
            for (int r = 0; r < R; r++) max[r] = -INFINITY, sums[r] = 0;
            for (int p = 0, t = 5; p < n; p += tiles[t % 7], t++) { /* runs as a caller's */
                const int len = n - p < tiles[t % 7] ? n - p : tiles[t % 7];
                pa_attn_rows_max(st + (size_t)R * p, len, first_pos - p, n_rows, max);
            }
            for (int p = 0, t = 1; p < n; p += tiles[t % 7], t++) {
                const int len = n - p < tiles[t % 7] ? n - p : tiles[t % 7];
                pa_attn_rows_exp(st + (size_t)R * p, len, first_pos - p, n_rows, max, sums);
            }
            for (int p = 0, t = 3; p < n; p += tiles[t % 7], t++) {
                const int len = n - p < tiles[t % 7] ? n - p : tiles[t % 7];
                pa_attn_rows_values(ot, st + (size_t)R * p, v + (size_t)p * ld, ld, len, hd,
                                    n_rows);
            }
            pa_attn_rows_out(o, hd, ot, sums, n_rows, hd);
            for (int r = 0; r < R; r++)
                if (st[R * n + r] != 12345.0f)
                    fail_msg("hd %d, %d rows: position %d written", hd, n_rows, n);

            for (int r = 0; r < n_rows; r++) {
                double s[MAX_POS], max = -INFINITY, sum = 0, out[MAX_HD] = {0};
                for (int p = 0; p <= first_pos + r; p++) {
                    s[p] = 0;
                    for (int d = 0; d < hd; d++) s[p] += (double)q[r * hd + d] * k[p * ld + d];
                    s[p] *= scale;
                    if (!pruned[p] && s[p] > max) max = s[p];
                }
                for (int p = 0; p < n; p++) {
                    const bool seen = p <= first_pos + r && !pruned[p];
                    const double w = seen ? exp(s[p] - max) : 0;
                    if (!seen && st[R * p + r] != 0.0f)
                        fail_msg("hd %d, %d rows: row %d, unseen position %d weighs %g", hd, n_rows,
                                 r, p, st[R * p + r]);
                    sum += w;
                    for (int d = 0; d < hd; d++) out[d] += w * v[p * ld + d];
                }
                if (fabs(sums[r] - sum) > 1e-5 * sum)
                    fail_msg("hd %d, %d rows: row %d sums to %g, double %g", hd, n_rows, r, sums[r],
                             sum);
                for (int d = 0; d < hd; d++) {
                    const double err = fabs(o[r * hd + d] - out[d] / sum);
                    if (err > worst) worst = err;
                    if (err > 2e-6)
                        fail_msg("hd %d, %d rows: row %d value %d is %g, double %g", hd, n_rows, r,
                                 d, o[r * hd + d], out[d] / sum);
                }
            }
        }
    printf("# rows side by side (%s): worst |difference| from double %.2g\n", pa_cpu_kernels_name(),
           worst);
}

static void argmax_is_the_first_largest(void **state) {
    (void)state;
    static float x[40000];
    const int lengths[] = {1, 2, 15, 16, 17, 31, 32, 33, 100, 32000, 32003};
    for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++)
        for (int round = 0; round < 40; round++) {
            const int n = lengths[l];
            for (int i = 0; i < n; i++) /* few distinct values: ties are common */
                x[i] = (float)(int)(next_u32() % 7) - 3.0f;
            const int where = (int)(next_u32() % (uint32_t)n);
            switch (round % 8) {
            case 1: x[where] = NAN; break;
            case 2: x[0] = NAN; break;
            case 3: x[n - 1] = 100.0f; break;
            case 4: x[0] = 100.0f; break;
            case 5: x[where] = INFINITY; x[n - 1] = INFINITY; break;
            case 6: for (int i = 0; i < n; i++) x[i] = i % 3 ? -0.0f : 0.0f; break;
            case 7: for (int i = 0; i < n; i++) x[i] = -INFINITY; break;
            }
            const int32_t got = pa_argmax(x, n), want = first_max_scan(x, n);
            if (got != want) fail_msg("n %d round %d: argmax %d, the scan %d", n, round, got, want);
        }
}

/* pa_softmax, pa_logsumexp and pa_swiglu (vector ones with AVX-512 or AVX2, this run's
 * PYAGENT_KERNELS) against the same sums in double, on lengths around the 8- and 16-wide
 * steps, with -inf scores (masked positions: weight exactly 0); nothing past n is written. */
static void softmax_and_swiglu_match_double(void **state) {
    (void)state;
    const int lengths[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 515};
    static float x[520], gate[520], up[520];
    for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++) {
        const int n = lengths[l];
        for (int i = 0; i < n; i++) {
            x[i] = next_float() * 10.0f;
            if (n > 2 && i % 5 == 1) x[i] = -INFINITY;
            gate[i] = next_float() * 8.0f;
            up[i] = next_float();
        }
        x[n] = gate[n] = 12345.0f; /* canaries */
        double max = -INFINITY, sum = 0;
        for (int i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
        for (int i = 0; i < n; i++) sum += exp((double)x[i] - max);
        float got_max;
        const float lse = pa_logsumexp(x, n, &got_max);
        if (got_max != (float)max || fabs(lse - (max + log(sum))) > 1e-5 * (1 + fabs(max)))
            fail_msg("n %d: logsumexp %.9g (max %.9g), double %.9g", n, (double)lse,
                     (double)got_max, max + log(sum));
        float p[520];
        memcpy(p, x, sizeof(float) * (size_t)(n + 1));
        pa_softmax(p, n);
        for (int i = 0; i < n; i++) {
            const double want = exp((double)x[i] - max) / sum;
            /* x - max is rounded to float first: relative error up to |x - max|·2^-24 */
            const double bound = 1e-6 * (2 + fabs((double)x[i] - max)) * want + 1e-30;
            if (fabs(p[i] - want) > bound || (x[i] == -INFINITY && p[i] != 0.0f))
                fail_msg("n %d: softmax[%d] %.9g, double %.9g", n, i, (double)p[i], want);
        }
        float g[520];
        memcpy(g, gate, sizeof(float) * (size_t)(n + 1));
        pa_swiglu(g, up, n);
        for (int i = 0; i < n; i++) {
            const double want = gate[i] / (1.0 + exp(-(double)gate[i])) * up[i];
            if (fabs(g[i] - want) > 1e-6 * fabs(gate[i]) + 1e-30)
                fail_msg("n %d: swiglu[%d] %.9g, double %.9g", n, i, (double)g[i], want);
        }
        if (p[n] != 12345.0f || g[n] != 12345.0f) fail_msg("n %d: a value past n was written", n);
    }
}

/* pa_rope_apply (the vector one where the CPU has AVX-512) gives bitwise the plain loop's
 * rotation of every pair, for head sizes 16 to 256 and one that takes the loop (24). */
static void rope_rotates_pairs_as_the_plain_loop(void **state) {
    (void)state;
    static const int head_dims[] = {16, 24, 64, 128, 256};
    float x[3 * 256], want[3 * 256], cs[256];
    for (size_t d = 0; d < sizeof head_dims / sizeof *head_dims; d++) {
        const int hd = head_dims[d], n_heads = 3;
        for (int pos = 0; pos < 50; pos += 7) {
            pa_rope_angles(cs, hd, pos, 10000.0f);
            for (int i = 0; i < n_heads * hd; i++) want[i] = x[i] = next_float() * 3;
            for (int h = 0; h < n_heads; h++)
                for (int i = 0; i < hd; i += 2) {
                    float *v = want + h * hd + i;
                    const float v0 = v[0], v1 = v[1];
                    v[0] = v0 * cs[i] - v1 * cs[i + 1];
                    v[1] = v0 * cs[i + 1] + v1 * cs[i];
                }
            pa_rope_apply(x, n_heads, hd, cs);
            if (memcmp(x, want, (size_t)(n_heads * hd) * sizeof *x))
                fail_msg("head size %d, position %d: differs from the plain loop", hd, pos);
        }
    }
}

static void hsum16x16_is_sixteen_hsum16(void **state) {
    (void)state;
#ifdef PA_HAVE_X86_KERNELS
    if (!pa_kernels_for(PA_ISA_AVX512)) skip();
    for (int round = 0; round < 200; round++) {
        float got[16], want[16];
        sixteen_sums(got, want);
        if (memcmp(got, want, sizeof got)) fail_msg("round %d: a lane differs from hsum16", round);
    }
#else
    skip();
#endif
}

int main(void) {
    printf("# kernels chosen on this CPU: %s\n", pa_cpu_kernels_name());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(portable_kernels_match_exact_sums),
        cmocka_unit_test(avx2_kernels_match_portable),
        cmocka_unit_test(avx512_kernels_match_portable),
        cmocka_unit_test(avx512_vbmi_kernels_match_portable),
        cmocka_unit_test(stripes_of_long_rows_match_dot1),
        cmocka_unit_test(amx_tiles_match_exact_sums),
        cmocka_unit_test(q4_0_block_dequantizes_as_ggml_lays_it_out),
        cmocka_unit_test(q4_k_block_dequantizes_as_ggml_lays_it_out),
        cmocka_unit_test(q4_k_scales_unpack_the_same_both_ways),
        cmocka_unit_test(q8_0_block_dequantizes_as_ggml_lays_it_out),
        cmocka_unit_test(activations_round_to_8_bits_per_block_of_32),
        cmocka_unit_test(every_set_rounds_x_like_the_portable_code),
        cmocka_unit_test(every_set_rounds_to_f16_like_the_portable_code),
        cmocka_unit_test(matmul_is_the_same_for_every_thread_count),
        cmocka_unit_test(exact_batches_equal_tokens_one_at_a_time),
        cmocka_unit_test(online_attention_splits_alike_and_matches_softmax),
        cmocka_unit_test(rows_attention_matches_double),
        cmocka_unit_test(hsum16x16_is_sixteen_hsum16),
        cmocka_unit_test(argmax_is_the_first_largest),
        cmocka_unit_test(softmax_and_swiglu_match_double),
        cmocka_unit_test(rope_rotates_pairs_as_the_plain_loop),
        cmocka_unit_test(pool_of_all_cores_keeps_to_the_callers_cores),
        cmocka_unit_test(parts_run_exactly_once_on_valid_threads),
        cmocka_unit_test(balanced_runs_take_every_item_once_and_shrink_the_slow_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
