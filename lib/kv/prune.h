/*
 * Scoring pruning policies: what an agent keeps of the positions whose KV blocks it releases.
 *
 * The window policy (scheduler.c) releases whole blocks outside the sinks and the recent
 * window. H2O and KVzap release the same blocks, but first each (layer, kv head) pair -- a
 * "group" -- picks the positions worth keeping from them, by its own score, and copies their K
 * and V rows (head_dim values each) into its landmark set:
 *
 *   landmarks(g) = the budget(g) best-scored positions among landmarks(g) and the released ones
 *
 * so eviction is ragged per head, and memory is exactly the landmark rows plus the blocks left.
 * Scores:
 *   H2O    accumulated attention: score(g, i) += a(t, i) for every query t the agent computes,
 *          summed over the group's query heads (Zhang et al. 2023);
 *   KVzap  a linear surrogate of the KVzip+ importance, predicted from the hidden state that
 *          enters the layer at position i: score(g, i) = w(g) . x_i + b(g) (Jegou et al. 2026);
 * Budgets: `heavy` landmarks per group, or -- with `entropy` -- heavy x groups distributed in
 * proportion to each group's mean normalised attention entropy (rigid, low-entropy heads need
 * few positions), at least heavy / 4 each.
 *
 * Attention reads a landmark as the position it was (its K row was rotated there). H2O and
 * entropy budgets take the chunk attention path, which puts landmark scores in the columns of
 * their positions (inside released blocks, so free) and observes the probabilities (H2O scores,
 * entropies) while it has them; KVzap needs no probabilities and decodes through the online
 * path, its landmarks first (llama.c).
 */
#ifndef PA_KV_PRUNE_H
#define PA_KV_PRUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "store.h"

enum pa_marks_mode { PA_MARKS_H2O = 1, PA_MARKS_KVZAP = 2, PA_MARKS_ORACLE = 3 };

typedef struct pa_mark_set { /* one group's landmarks, in ascending position order */
    int32_t n, cap;
    int32_t *pos;
    float *score;
    uint8_t *k, *v; /* (cap, row_bytes) */
} pa_mark_set;

/* The KVzap surrogate (lib/kv/kvzap.c): per layer, w (n_head_kv, n_embd + 1), bias last. */
typedef struct pa_kvzap pa_kvzap;
const float *pa_kvzap_layer(const pa_kvzap *zap, int layer);
void pa_kvzap_free(pa_kvzap *zap);
/* A surrogate file's bytes -> surrogate (BAD_PACKET with a message for anything wrong). */
pyagent_status pa_kvzap_parse(const uint8_t *data, size_t size, pa_kvzap **out, pa_err *err);

/* KVzip+ oracle capture for fitting a surrogate (PA_MARKS_ORACLE): for queries at positions
 * >= repeat, amax(layer, head, i) = max over them of a(q, i) / |x_q| for keys i < repeat, and
 * x(layer, i) the normed input of layer at positions i < repeat. */
typedef struct pa_oracle {
    int32_t repeat;
    float *amax; /* (n_layer * n_head, repeat) */
    float *x;    /* (n_layer, repeat, n_embd) */
} pa_oracle;

typedef struct pa_marks {
    int mode;
    int n_layer, n_head_kv, n_head, head_dim, n_embd;
    int elem_type;      /* the landmark rows' (the store's, or F16 for Q8_0 heads that do not
                           fill whole blocks) */
    size_t row_bytes;   /* one landmark K or V row */
    int64_t heavy;      /* landmarks per group, on average */
    bool entropy;       /* budgets by attention entropy */
    double threshold;   /* KVzap: positions scored below it are dropped even within budget */
    pa_mark_set *sets;  /* (n_layer * n_head_kv), group g = layer * n_head_kv + kv head */
    float *score;       /* (groups, score_cap), a ring: position p's score at p % score_cap, for
                           the positions still in blocks after the sink blocks (pa_marks_score) */
    size_t score_cap;   /* a power of two */
    int sink_blocks;    /* leading blocks never released: their positions are not scored */
    double *entropy_sum; /* (groups,) normalised entropies of the observed query rows */
    int64_t *entropy_n;
    const pa_kvzap *zap; /* PA_MARKS_KVZAP */
    pa_oracle *oracle;   /* PA_MARKS_ORACLE */
} pa_marks;

pa_marks *pa_marks_create(int mode, int n_layer, int n_head_kv, int n_head, int head_dim,
                          int n_embd, int kv_elem_type, int64_t heavy, bool entropy,
                          double threshold);
void pa_marks_free(pa_marks *m);
pa_marks *pa_marks_clone(const pa_marks *m); /* NULL when out of memory */
/* Scores for positions [lo, hi) (lo: the first scored position still in a block): those of
 * [lo, n_done) kept, those of [n_done, hi) zero; the ring is resized to the span (grown for a
 * prompt chunk, shrunk after it). False when out of memory. */
bool pa_marks_reserve(pa_marks *m, size_t lo, size_t n_done, size_t hi);
static inline float *pa_marks_score(const pa_marks *m, int group, size_t pos) {
    return m->score + (size_t)group * m->score_cap + (pos & (m->score_cap - 1));
}
/* Forgets landmarks at positions >= n (rewind; scores of positions computed again restart at
 * pa_marks_reserve). */
void pa_marks_truncate(pa_marks *m, size_t n);
/* Bytes held: landmark rows, their scores and positions, the score table. */
size_t pa_marks_bytes(const pa_marks *m);
size_t pa_marks_count(const pa_marks *m); /* landmarks over all groups */

/* Each group's landmark budget now (uniform, or by entropy). */
void pa_marks_budgets(const pa_marks *m, int64_t *budget);
/* Folds the n_blocks blocks (table entries, first positions first[i]) about to be released into
 * the landmark sets; with none, trims the sets to budgets that moved (entropy). False when out of memory (some groups may have folded already). */
bool pa_marks_fold(pa_marks *m, const pa_kv_store *kv, const int32_t *blocks,
                   const int32_t *first, int n_blocks);

/* ---- the pieces, for tests ---- */

/* -sum p ln p over the n probabilities p_i = w[i * stride] * scale (zeros skipped): weights w
 * `stride` floats apart over their sum 1 / scale. */
double pa_entropy(const float *w, size_t stride, int n, float scale);
/* out[i] = floor + a share of total - n * floor in proportion to weight[i] (largest
 * remainders), so that the outs sum to total; when total < n * floor, floor = total / n. */
void pa_split_budget(const double *weight, int n, int64_t total, int64_t floor, int64_t *out);
/* Indices of the k best candidates (higher score first, then the later position), in
 * ascending position order; candidates below `threshold` never count. Returns how many. */
int pa_top_positions(const float *score, const int32_t *pos, int n, int k, double threshold,
                     int32_t *out_idx);

#endif
