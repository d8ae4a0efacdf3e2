/*
 * Weight types and kernels. One random model (same seed, same f32 values) is stored as f32,
 * f16, bf16 and q8_0 by pyagent-random-gguf; each must give the logits of the f32 model up to
 * its own rounding, a tied-output file must load, and the portable C kernels must agree with the
 * SIMD ones chosen on this CPU.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pyagent/pyagent.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/ops.h"
#include "core/f16.h"
#include "model/gguf.h"

#define N_VOCAB 512

/* 32 tokens: a batch this long takes sgemm for f32 and f16, the row kernels for quantized types
 * (AVX-512 and below) and AMX tiles for bf16 and quantized types (the AMX set): kernels.h */
static const int32_t prompt[] = {1,   300, 301, 302, 310, 320, 330, 340, 350, 360, 370,
                                 380, 390, 400, 410, 420, 430, 440, 450, 460, 470, 480,
                                 490, 500, 505, 263, 270, 280, 290, 295, 299, 303};
#define N_PROMPT (sizeof prompt / sizeof *prompt)

static void model_path(char *out, size_t size, const char *name) {
    const char *dir = getenv("PYAGENT_TEST_MODELS");
    snprintf(out, size, "%s/%s", dir ? dir : ".", name);
}

/* Logits after the prompt, prefilled in one batch (the sgemm path) or token by token. */
static void logits_of(const char *name, size_t n_batch_tokens, float *logits) {
    char path[1024];
    model_path(path, sizeof path, name);
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_threads", 2);
    pyagent_engine *e = NULL;
    pyagent_status st = pyagent_engine_open(path, p, &e);
    pyagent_params_destroy(p);
    if (st) fprintf(stderr, "%s\n", pyagent_engine_last_error(e));
    assert_int_equal(st, PYAGENT_OK);
    pyagent_agent *a = NULL;
    assert_int_equal(pyagent_agent_create(e, NULL, &a), PYAGENT_OK);
    for (size_t i = 0; i < N_PROMPT; i += n_batch_tokens) {
        size_t n = N_PROMPT - i < n_batch_tokens ? N_PROMPT - i : n_batch_tokens;
        assert_int_equal(pyagent_agent_feed_tokens(a, prompt + i, n), PYAGENT_OK);
        assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
    }
    size_t n_logits;
    assert_int_equal(pyagent_agent_logits(a, logits, N_VOCAB, &n_logits), PYAGENT_OK);
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
}

/* max |a - b| relative to the largest |a| */
static double relative_diff(const float *a, const float *b) {
    double max_diff = 0, scale = 0;
    for (int i = 0; i < N_VOCAB; i++) {
        max_diff = fmax(max_diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)a[i]));
    }
    return max_diff / scale;
}

/* name's logits against those of `f32_name`, the same seed and shape in f32 */
static void compare_with(const char *f32_name, const char *name, double tolerance) {
    float ref[N_VOCAB], got[N_VOCAB];
    logits_of(f32_name, N_PROMPT, ref);
    logits_of(name, N_PROMPT, got);
    double d = relative_diff(ref, got);
    printf("# %s vs f32: relative max diff %.3g\n", name, d);
    assert_true(d > 0 || strcmp(name, f32_name) == 0);
    assert_true(d < tolerance);
}

static void compare_with_f32(const char *name, double tolerance) {
    compare_with("tiny-f32.gguf", name, tolerance);
}

static void f16_weights_give_f32_logits_within_f16_rounding(void **s) {
    (void)s;
    compare_with_f32("tiny-f16.gguf", 2e-3);
}

static void bf16_weights_give_f32_logits_within_bf16_rounding(void **s) {
    (void)s;
    compare_with_f32("tiny-bf16.gguf", 2e-2);
}

static void q8_0_weights_give_f32_logits_within_q8_0_rounding(void **s) {
    (void)s;
    compare_with_f32("tiny-q8_0.gguf", 3e-2);
}

/* 4 bits are coarse: these bounds are what these random models give (0.16 and 0.25 measured;
 * pyagent-random-gguf fits q4_K more plainly than ggml does) with room for the kernel path,
 * and catch a wrong layout, which gives logits unrelated to the f32 ones (diff near 1 or more). */
static void q4_0_weights_give_f32_logits_within_q4_0_rounding(void **s) {
    (void)s;
    compare_with_f32("tiny-q4_0.gguf", 0.3);
}

/* q4_K needs rows of whole 256-value blocks: a wider model of the same seed */
static void q4_k_weights_give_f32_logits_within_q4_k_rounding(void **s) {
    (void)s;
    compare_with("tiny256-f32.gguf", "tiny256-q4_K.gguf", 0.35);
}

/* One 256-value block as a plain min/max fit would store it in q4_K (each sub-block's scale
 * (max - min) / 15 and min -min, both to 6 bits against the block's largest, f16 block scales),
 * dequantized: the fit pyagent-random-gguf used before its scale search. */
static void plain_q4_k_block(const float *x, float *out) {
    float scale[8], min[8], max_scale = 0, max_min = 0;
    for (int s = 0; s < 8; s++) {
        float lo = 0, hi = x[32 * s];
        for (int l = 0; l < 32; l++) lo = fminf(lo, x[32 * s + l]), hi = fmaxf(hi, x[32 * s + l]);
        scale[s] = (hi - lo) / 15, min[s] = -lo;
        max_scale = fmaxf(max_scale, scale[s]), max_min = fmaxf(max_min, min[s]);
    }
    const float d = pa_f16_to_f32(pa_f32_to_f16(max_scale / 63));
    const float dmin = pa_f16_to_f32(pa_f32_to_f16(max_min / 63));
    for (int s = 0; s < 8; s++) {
        const float ds = d * fminf(63, roundf(scale[s] * 63 / max_scale));
        const float dm = max_min > 0 ? dmin * fminf(63, roundf(min[s] * 63 / max_min)) : 0;
        for (int l = 0; l < 32; l++) {
            const float q = ds > 0 ? fminf(15, fmaxf(0, roundf((x[32 * s + l] + dm) / ds))) : 0;
            out[32 * s + l] = ds * q - dm;
        }
    }
}

/* The writer's q4_K search (ggml's: trial scales, then least squares) stores every matrix of
 * the tiny256 model closer to its f32 values than the plain min/max fit would. */
static void q4_k_writer_fits_closer_than_min_max(void **s) {
    (void)s;
    char f32_path[1024], q4k_path[1024];
    model_path(f32_path, sizeof f32_path, "tiny256-f32.gguf");
    model_path(q4k_path, sizeof q4k_path, "tiny256-q4_K.gguf");
    gguf_file *f32 = NULL, *q4k = NULL;
    pa_err err = {0};
    assert_int_equal(gguf_open_file(f32_path, false, &f32, &err), PYAGENT_OK);
    assert_int_equal(gguf_open_file(q4k_path, false, &q4k, &err), PYAGENT_OK);
    const pa_row_kernels *k = &pa_kernels_portable()->types[PA_W_Q4_K];
    static float stored[4096], plain[4096];
    double err_stored = 0, err_plain = 0;
    int n_matrices = 0;
    for (size_t i = 0; i < gguf_n_tensors(q4k); i++) {
        const gguf_tensor *t = gguf_tensor_at(q4k, i);
        if (t->type != GGUF_TENSOR_Q4_K) continue;
        const gguf_tensor *ref = gguf_find_tensor(f32, t->name);
        assert_non_null(ref);
        assert_int_equal(ref->type, GGUF_TENSOR_F32);
        const int64_t n = t->ne[0], row_bytes = n / PA_Q4_K_BLOCK * PA_Q4_K_BYTES;
        assert_true(n <= 4096);
        for (int64_t r = 0; r < t->ne[1]; r++) {
            const float *x = (const float *)ref->data + r * n;
            k->to_f32((const uint8_t *)t->data + r * row_bytes, stored, (int)n);
            for (int64_t b = 0; b < n; b += PA_Q4_K_BLOCK) plain_q4_k_block(x + b, plain + b);
            for (int64_t j = 0; j < n; j++) {
                err_stored += ((double)stored[j] - x[j]) * ((double)stored[j] - x[j]);
                err_plain += ((double)plain[j] - x[j]) * ((double)plain[j] - x[j]);
            }
        }
        n_matrices++;
    }
    printf("# q4_K, %d matrices: squared error %.4g stored, %.4g with a min/max fit (%.3f)\n",
           n_matrices, err_stored, err_plain, err_stored / err_plain);
    assert_true(n_matrices > 0);
    assert_true(err_stored < 0.9 * err_plain);
    gguf_close(f32);
    gguf_close(q4k);
}

static void tied_output_file_loads_and_runs(void **s) {
    (void)s;
    float untied[N_VOCAB], tied[N_VOCAB];
    logits_of("tiny-f32.gguf", N_PROMPT, untied);
    logits_of("tiny-tied-f32.gguf", N_PROMPT, tied);
    for (int i = 0; i < N_VOCAB; i++) assert_false(isnan(tied[i]));
    /* the untied file's output matrix is its own random draw, so the logits must differ */
    assert_true(relative_diff(untied, tied) > 1e-3);
}

static const char *const type_files[] = {"tiny-f32.gguf",  "tiny-f16.gguf",  "tiny-bf16.gguf",
                                          "tiny-q8_0.gguf", "tiny-q4_0.gguf", "tiny256-q4_K.gguf"};
#define N_TYPE_FILES (sizeof type_files / sizeof *type_files)

/* Batch prefill and token-by-token (row dots) agree: to float rounding, except that the row
 * kernels of quantized types (q8_0, q4_0, q4_K) read activations rounded to 8 bits (kernels.h),
 * which the f32 products of sgemm do not, and that AMX tiles round activations and bf16 or
 * quantized weights to bf16. */
static void batch_and_single_token_prefill_agree_for_every_type(void **s) {
    (void)s;
    const bool amx = strstr(pa_cpu_kernels_name(), "AMX") != NULL;
    for (size_t i = 0; i < N_TYPE_FILES; i++) {
        float batch[N_VOCAB], single[N_VOCAB];
        logits_of(type_files[i], N_PROMPT, batch);
        logits_of(type_files[i], 1, single);
        double d = relative_diff(batch, single);
        printf("# %s batch vs single: %.3g\n", type_files[i], d);
        const bool rounded = strstr(type_files[i], "-q") || (amx && strstr(type_files[i], "bf16"));
        assert_true(d < (rounded ? 3e-2 : 1e-5));
    }
}

/* Every kernel set gives the portable code's logits: to float rounding for float weights; for
 * quantized ones the activations are rounded to 8 bits before each product, and where the
 * float sums before it differ in their last bit (SIMD and portable code sum in different
 * orders) a value on a rounding boundary goes to the next step: one such flip moved q8_0's
 * logits by 3e-3. Each kernel against the portable one, exactly, is test_kernels' part. */
static void portable_and_simd_kernels_agree(void **s) {
    (void)s;
    const char *const *names = type_files;
    printf("# kernels on this CPU: %s\n", pa_cpu_kernels_name());
    for (size_t i = 0; i < N_TYPE_FILES; i++) {
        float simd[N_VOCAB], portable[N_VOCAB];
        logits_of(names[i], 1, simd);
        /* a child process, because the kernel choice is made once per process */
        char cmd[2048], line[64];
        snprintf(cmd, sizeof cmd, "PYAGENT_KERNELS=portable '%s' --dump-logits '%s'",
                 getenv("PYAGENT_TEST_SELF"), names[i]);
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        int n = 0;
        while (n < N_VOCAB && fgets(line, sizeof line, f)) portable[n++] = strtof(line, NULL);
        assert_int_equal(pclose(f), 0);
        assert_int_equal(n, N_VOCAB);
        double d = relative_diff(simd, portable);
        printf("# %s portable vs %s: %.3g\n", names[i], pa_cpu_kernels_name(), d);
        assert_true(d < (strstr(names[i], "-q") ? 1e-2 : 1e-5));
    }
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--dump-logits") == 0) {
        float logits[N_VOCAB];
        logits_of(argv[2], 1, logits);
        for (int i = 0; i < N_VOCAB; i++) printf("%.9g\n", logits[i]);
        return 0;
    }
    setenv("PYAGENT_TEST_SELF", argv[0], 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(f16_weights_give_f32_logits_within_f16_rounding),
        cmocka_unit_test(bf16_weights_give_f32_logits_within_bf16_rounding),
        cmocka_unit_test(q8_0_weights_give_f32_logits_within_q8_0_rounding),
        cmocka_unit_test(q4_0_weights_give_f32_logits_within_q4_0_rounding),
        cmocka_unit_test(q4_k_weights_give_f32_logits_within_q4_k_rounding),
        cmocka_unit_test(q4_k_writer_fits_closer_than_min_max),
        cmocka_unit_test(tied_output_file_loads_and_runs),
        cmocka_unit_test(batch_and_single_token_prefill_agree_for_every_type),
        cmocka_unit_test(portable_and_simd_kernels_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
