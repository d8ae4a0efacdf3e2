/*
 * libpyagent — a semantic cache: a completion computed for one prompt answers another prompt
 * that means nearly the same, without running the model.
 *
 * A prompt's key is its embedding (pyagent_engine_embed_text: the model's final hidden states,
 * mean-pooled), hashed by random-hyperplane LSH (Charikar): n_tables tables of n_bits
 * hyperplanes drawn from `seed`, so two prompts at angle θ share one bit with probability
 * 1 - θ/π. A lookup computes the exact cosine only for entries that share a bucket with the
 * prompt in some table, and answers with the most similar one at or above `threshold` (the
 * newest on a tie). Entries expire by a sliding window: after max_age_s seconds, once
 * max_entries newer ones were put, and all at once when a prompt of another model (another
 * fingerprint) comes. A semantic hit is approximate by design: use it where a near-duplicate
 * prompt may get the same answer, not for turns that depend on fresh state.
 *
 * Threading: thread-safe (one lock per cache). Include <pyagent/pyagent.h>, not this file.
 */
#ifndef PYAGENT_SEMANTIC_H
#define PYAGENT_SEMANTIC_H

#include "pyagent.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pyagent_semantic_cache pyagent_semantic_cache;

/* Set struct_size = sizeof(pyagent_semantic_config); zero fields take the defaults. */
typedef struct pyagent_semantic_config {
    uint32_t struct_size;
    uint32_t n_bits;       /* hyperplanes per table, 1..64          default 12 */
    uint32_t n_tables;     /* tables, 1..64                          default 16 */
    uint32_t reserved;
    double threshold;      /* cosine at or above which a prompt hits default 0.95, (0, 1] */
    int64_t max_entries;   /* only the last max_entries puts stay   default 1000 */
    double max_age_s;      /* entries older than this expire        default 3600 */
    uint64_t seed;         /* of the hyperplanes                     default a fixed one */
} pyagent_semantic_config;

/* NULL config = the defaults. PYAGENT_ERR_OUT_OF_RANGE for a value outside its bounds. */
PYAGENT_API pyagent_status pyagent_semantic_cache_create(const pyagent_semantic_config *config,
                                                         pyagent_semantic_cache **cache);
PYAGENT_API void pyagent_semantic_cache_destroy(pyagent_semantic_cache *cache);

/* Looks `prompt` up (`prompt_len` bytes or -1), embedded by `engine`: *hit = 1 and the cached
 * completion (two-call pattern on *completion_len, as text is; not NUL-terminated) with its
 * cosine in *similarity (may be NULL), or *hit = 0. A prompt of another model than the entries'
 * first drops them all. Errors (the embedding's) are on the engine. */
PYAGENT_API pyagent_status pyagent_semantic_cache_get(pyagent_semantic_cache *cache,
                                                      pyagent_engine *engine, const char *prompt,
                                                      int64_t prompt_len, int32_t *hit,
                                                      char *completion, size_t capacity,
                                                      size_t *completion_len,
                                                      double *similarity);

/* Stores `completion` as the answer to `prompt`, both copied. */
PYAGENT_API pyagent_status pyagent_semantic_cache_put(pyagent_semantic_cache *cache,
                                                      pyagent_engine *engine, const char *prompt,
                                                      int64_t prompt_len, const char *completion,
                                                      int64_t completion_len);

/* Set struct_size = sizeof(pyagent_semantic_stats); fields are only appended. */
typedef struct pyagent_semantic_stats {
    uint32_t struct_size;
    uint32_t reserved;
    int64_t n_entries;    /* live now */
    int64_t n_puts, n_hits, n_misses;
    int64_t n_expired;    /* by age, by count or by a change of model */
    int64_t n_compared;   /* exact cosines computed (LSH candidates), over all lookups */
} pyagent_semantic_stats;

PYAGENT_API pyagent_status pyagent_semantic_cache_stats_get(const pyagent_semantic_cache *cache,
                                                            pyagent_semantic_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* PYAGENT_SEMANTIC_H */
