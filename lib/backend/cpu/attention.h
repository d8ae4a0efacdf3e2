/* Attention over one KV block (attention.c): scores of a query against its keys, and the
 * weighted sum of its values. */
#ifndef PA_BACKEND_CPU_ATTENTION_H
#define PA_BACKEND_CPU_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#define PA_ATTN_F32 0 /* element types of K/V rows, as the KV store's PA_KV_* */
#define PA_ATTN_F16 1

/* scores[p] = scale * q · K[p] for p < n; K row p starts p * stride elements after k and has
 * hd elements of elem_type. */
void pa_attn_scores(float *scores, const float *q, const void *k, size_t stride, int n, int hd,
                    int elem_type, float scale);

/* out (hd,) += Σ_{p<n} w[p] * V[p], V rows as K rows above. */
void pa_attn_accumulate(float *out, const float *w, const void *v, size_t stride, int n, int hd,
                        int elem_type);

#endif
