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

/* Online softmax attention of one query over n positions, one position at a time in order:
 * for each p, s = scale * q · K[p]; if s > *m the running sum *l and acc (hd,) are rescaled by
 * exp(*m - s) and *m = s; then w = exp(s - *m), *l += w, acc += w * V[p]. The result is
 * acc / *l once every position was seen. Because positions are taken one by one, splitting
 * a sequence of positions into calls of any sizes gives bitwise the same state. */
void pa_attn_online(float *acc, float *m, float *l, const float *q, const void *k, const void *v,
                    size_t stride, int n, int hd, int elem_type, float scale);

#endif
