/* Dot products of one weight row (in its storage type) with an f32 row: portable versions in
 * ops.c, AVX2/FMA/F16C versions in dot_avx2.c, picked once at run time. */
#ifndef PA_BACKEND_CPU_DOT_H
#define PA_BACKEND_CPU_DOT_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/f16.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PA_HAVE_AVX2_KERNELS 1
bool pa_cpu_has_avx2(void);
float pa_dot_f32_avx2(const float *w, const float *x, int n);
float pa_dot_f16_avx2(const uint16_t *w, const float *x, int n);
float pa_dot_bf16_avx2(const uint16_t *w, const float *x, int n);
float pa_dot_q8_0_avx2(const uint8_t *w, const float *x, int n);
void pa_f16_row_to_f32_avx2(const uint16_t *w, float *out, int n);
#endif

#endif
