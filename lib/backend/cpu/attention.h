/* Attention over the rows of a KV block (attention.c). */
#ifndef PA_BACKEND_CPU_ATTENTION_H
#define PA_BACKEND_CPU_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#define PA_ATTN_F32 0 /* element types of K/V rows, as the KV store's PA_KV_* */
#define PA_ATTN_F16 1
#define PA_ATTN_Q8_0 2 /* blocks of 32: f16 scale, 32 int8 (hd a multiple of 32) */

/* Online softmax attention of one query over n positions, one position at a time in order.
 * K and V row p start p * stride bytes after k and v; the query's head is values
 * [first, first + hd) of each row (for Q8_0, `first` counts values across the row's blocks).
 * For each p, s = scale * q · K[p]; if s > *m the running sum *l and acc (hd,) are rescaled by
 * exp(*m - s) and *m = s; then w = exp(s - *m), *l += w, acc += w * V[p]. The result is
 * acc / *l once every position was seen. Because positions are taken one by one, splitting
 * a sequence of positions into calls of any sizes gives bitwise the same state. */
void pa_attn_online(float *acc, float *m, float *l, const float *q, const void *k, const void *v,
                    size_t stride, int first, int n, int hd, int elem_type, float scale);

/* pa_attn_online for n_q queries over the same positions (agents that share a prompt's blocks),
 * each with its own acc/m/l: the rows are read once for all of them, and each query's state is
 * bitwise what pa_attn_online alone would give it. k_next and v_next (NULL: none) point at
 * the K and V slices to be read after these (hd values in row 0, rows `stride` apart): the
 * kernel asks for one of their rows for each row it reads, so that they arrive while it
 * computes. Asking changes no result. */
void pa_attn_online_group(int n_q, float *const *acc, float *const *m, float *const *l,
                          const float *const *q, const void *k, const void *v,
                          const void *k_next, const void *v_next, size_t stride, int first, int n,
                          int hd, int elem_type, float scale);

/* pa_attn_online for n_h adjacent heads of one token: query i reads values
 * [first + i * hd, first + (i + 1) * hd) of each row. Each head's state is bitwise what
 * pa_attn_online alone would give it; the heads' dependent steps interleave, where one head
 * at a time left the core waiting on each. k_next and v_next (NULL: none) point at the K and
 * V slices read after these, as in pa_attn_online_group (the kernel asks for up to three
 * heads' values of each of their rows). */
void pa_attn_online_heads(int n_h, float *const *acc, float *const *m, float *const *l,
                          const float *const *q, const void *k, const void *v,
                          const void *k_next, const void *v_next, size_t stride, int first, int n,
                          int hd, int elem_type, float scale);

/* Causal attention of up to PA_ATTN_ROWS consecutive query rows of one head (a prompt chunk's
 * rows r = 0 .. n_rows - 1 at positions first_pos + r), with the rows side by side in vector
 * lanes (attention_rows.c): row r of position p is st[PA_ATTN_ROWS * p + r].
 *   pa_attn_rows_q        qt (hd, 32) = scale · Q (n_rows, hd) transposed, rows past n_rows 0
 *   pa_attn_rows_scores   st[p][r] = Σ_d K[p][d] · qt[d][r] for n f32 K rows of hd values,
 *                         ld floats apart (st and K at the same first position)
 *   pa_attn_rows_max      max[r] = the largest of st[p][r], p < n, that row r sees
 *                         (p <= first_pos + r)
 *   pa_attn_rows_exp      row r's weights e^(s - max[r]) where it sees the position (and s >
 *                         -inf, which marks a pruned one), 0 elsewhere, in place; sums[r] += them
 *                         The softmax of a row is max over every run of positions it attends,
 *                         then exp over every run (first_pos counted from each run's start; max
 *                         starts at -inf, sums at 0, all PA_ATTN_ROWS of them)
 *   pa_attn_rows_values   ot (hd, 32) += Σ_p V[p][d] · st[p][r], for n f32 V rows ld apart
 *   pa_attn_rows_out      O (n_rows, hd), rows o_stride apart = ot transposed / sums
 * Only rows r < n_rows are defined (others may be left as they were). AVX-512, AVX2 or plain
 * C, as PYAGENT_KERNELS allows. */
#define PA_ATTN_ROWS 32
void pa_attn_rows_q(float *qt, const float *q, size_t q_stride, int n_rows, int hd, float scale);
void pa_attn_rows_scores(float *st, const float *qt, const float *k, size_t ld, int n, int hd,
                         int n_rows);
void pa_attn_rows_max(const float *st, int n, int first_pos, int n_rows, float *max);
void pa_attn_rows_exp(float *st, int n, int first_pos, int n_rows, const float *max,
                      float *sums);
void pa_attn_rows_values(float *ot, const float *st, const float *v, size_t ld, int n, int hd,
                         int n_rows);
void pa_attn_rows_out(float *o, size_t o_stride, const float *ot, const float *sums, int n_rows,
                      int hd);

#endif
