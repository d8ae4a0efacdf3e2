/*
 * libpyagent — the KV store: the pool of key/value blocks that every agent of an engine draws
 * from, and the radix index through which agents share the blocks of a common prefix.
 *
 * An engine creates its store at open (engine params kv_bytes, kv_block_size, kv_type,
 * prefix_cache); pyagent_engine_kv_store borrows it, for statistics and cache control. A
 * full block of an agent's sequence is published under a key made from the model fingerprint,
 * the agent's cache salt and every token before and in it, so a later agent fed the same
 * tokens attaches those blocks instead of computing them. Unused published blocks stay cached
 * until the pool needs them, and are evicted least recently used, leaves of the prefix tree
 * first. When every block is in use, the agent that needs one more fails with
 * PYAGENT_ERR_KV_FULL and the others go on.
 *
 * Threading: thread-safe (the engine's lock). Include <pyagent/pyagent.h>, not this file.
 */
#ifndef PYAGENT_KV_H
#define PYAGENT_KV_H

#include "pyagent.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pyagent_kv_store pyagent_kv_store;

/* The engine's store; valid as long as the engine. NULL for NULL or a failed engine. */
PYAGENT_API pyagent_kv_store *pyagent_engine_kv_store(pyagent_engine *engine);

/* Set struct_size = sizeof(pyagent_kv_stats) before the call; fields are only appended. */
typedef struct pyagent_kv_stats {
    uint32_t struct_size;
    uint32_t block_size;          /* tokens per block */
    int64_t block_bytes;          /* K and V of one block, all layers */
    int64_t n_blocks;             /* the pool */
    int64_t n_used;               /* referenced by at least one agent */
    int64_t n_cached;             /* unreferenced, kept for prefix reuse */
    int64_t n_free;
    int64_t n_prefix_hit_tokens;  /* tokens attached from the cache instead of computed */
    int64_t n_prompt_tokens_computed; /* tokens that went through prefill */
    int64_t n_evictions;
    int64_t n_cow_copies;         /* shared blocks copied before a write (fork, rewind) */
    int64_t peak_used_bytes;      /* most bytes ever referenced by agents at once */
} pyagent_kv_stats;

PYAGENT_API pyagent_status pyagent_kv_store_stats_get(const pyagent_kv_store *store,
                                                      pyagent_kv_stats *stats);

/* Evicts every cached (unreferenced) block; blocks in use stay. */
PYAGENT_API pyagent_status pyagent_kv_store_drop_cache(pyagent_kv_store *store);

#ifdef __cplusplus
}
#endif

#endif /* PYAGENT_KV_H */
