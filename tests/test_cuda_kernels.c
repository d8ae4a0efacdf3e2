/*
 * The device's sampling kernel (kernels/sample.cu) against the CPU's pa_top_k, on rows made to
 * be hard: few distinct values (ties across the k-th place), NaN, -inf, zeros of either sign,
 * a row all equal, lengths below, at and past a block's 256 threads up to a 128256-token
 * vocabulary. Suite 'cuda': it needs a GPU (tests/gpu/run.sh).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cuda_runtime_api.h>

#include "../kernels/kernels.h"
#include "backend/cpu/ops.h"

#define ROWS 8
#define MAX_N 128256

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next_u32(void) { /* xorshift64* */
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

/* Row r of a trial: `distinct` values spread over [-8, 8), then the trial's special values. */
static void fill_row(float *x, int n, int trial, int r) {
    const uint32_t distinct = trial % 3 == 0 ? 5 : trial % 3 == 1 ? 200 : 1u << 24;
    for (int i = 0; i < n; i++)
        x[i] = (float)(next_u32() % distinct) * (16.0f / (float)distinct) - 8.0f;
    const int at = (int)(next_u32() % (uint32_t)n);
    switch ((trial + r) % 7) {
    case 1: x[at] = NAN; x[0] = NAN; break;
    case 2: x[at] = -INFINITY; break;
    case 3: for (int i = 0; i < n; i += 3) x[i] = i % 2 ? -0.0f : 0.0f; break;
    case 4: for (int i = 0; i < n; i++) x[i] = 1.5f; break;
    case 5: x[n - 1] = 100.0f; x[at] = INFINITY; break;
    case 6: for (int i = 0; i < n; i += 2) x[i] = NAN; break;
    }
}

static void check(cudaError_t e) {
    if (e != cudaSuccess) fail_msg("CUDA: %s", cudaGetErrorString(e));
}

static void device_candidates_are_the_cpus(void **state) {
    (void)state;
    static const int lengths[] = {1, 2, 31, 63, 64, 65, 255, 256, 257, 512, 1000, 32000, MAX_N};
    static const int ks[ROWS] = {1, 2, 3, 40, 64, 64, 70, 0};
    float *x = malloc((size_t)ROWS * MAX_N * sizeof *x), *dx = NULL;
    pa_dev_top *got = malloc(ROWS * PA_DEV_TOP_MAX * sizeof *got), *dout = NULL;
    int32_t *dks = NULL;
    pa_token_logit want[PA_DEV_TOP_MAX];
    assert_non_null(x);
    assert_non_null(got);
    check(cudaMalloc((void **)&dx, (size_t)ROWS * MAX_N * sizeof *x));
    check(cudaMalloc((void **)&dout, ROWS * PA_DEV_TOP_MAX * sizeof *dout));
    check(cudaMalloc((void **)&dks, sizeof ks));
    check(cudaMemcpy(dks, ks, sizeof ks, cudaMemcpyHostToDevice));
    for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++)
        for (int trial = 0; trial < 6; trial++) {
            const int n = lengths[l];
            for (int r = 0; r < ROWS; r++) fill_row(x + (size_t)r * n, n, trial, r);
            check(cudaMemcpy(dx, x, (size_t)ROWS * n * sizeof *x, cudaMemcpyHostToDevice));
            check(cudaMemset(dout, 0xff, ROWS * PA_DEV_TOP_MAX * sizeof *dout));
            pa_cuda_top_k(dx, n, ROWS, dks, dout, 0);
            check(cudaDeviceSynchronize());
            check(cudaGetLastError());
            check(cudaMemcpy(got, dout, ROWS * PA_DEV_TOP_MAX * sizeof *got,
                             cudaMemcpyDeviceToHost));
            for (int r = 0; r < ROWS; r++) {
                const int k = ks[r] < PA_DEV_TOP_MAX ? ks[r] : PA_DEV_TOP_MAX;
                const int m = pa_top_k(x + (size_t)r * n, n, k, want);
                const pa_dev_top *g = got + r * PA_DEV_TOP_MAX;
                for (int j = 0; j < m; j++)
                    if (g[j].id != want[j].id || memcmp(&g[j].logit, &want[j].logit, 4) != 0)
                        fail_msg("n %d trial %d row %d (k %d): candidate %d is %d (%g), the "
                                 "CPU's %d (%g)", n, trial, r, k, j, g[j].id, g[j].logit,
                                 want[j].id, want[j].logit);
                if (k == 0 && g[0].id != -1) fail_msg("n %d: a row of k 0 was written", n);
            }
        }
    cudaFree(dx);
    cudaFree(dout);
    cudaFree(dks);
    free(x);
    free(got);
}

int main(void) {
    int n_devices = 0;
    if (cudaGetDeviceCount(&n_devices) != cudaSuccess || n_devices == 0) {
        fprintf(stderr, "no CUDA device\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(device_candidates_are_the_cpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
