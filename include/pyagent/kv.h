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
    int64_t n_disk_spilled;       /* evicted blocks written to the disk tier */
    int64_t n_disk_restored;      /* blocks read back from it on a prefix hit */
    int64_t n_disk_rejected;      /* not written (tier full) or files not used (damaged,
                                     another layout) */
    int64_t disk_bytes;           /* written to the disk tier */
    int64_t n_redis_spilled;      /* the same for the Redis tier */
    int64_t n_redis_restored;
    int64_t n_redis_rejected;
    int64_t redis_bytes;
    int64_t n_host_spilled;       /* the same for the host tier (host_bytes: held now) */
    int64_t n_host_restored;
    int64_t n_host_rejected;
    int64_t host_bytes;
} pyagent_kv_stats;

PYAGENT_API pyagent_status pyagent_kv_store_stats_get(const pyagent_kv_store *store,
                                                      pyagent_kv_stats *stats);

/* A node of the radix index: a published full block. Its parent is the block before it in the
 * sequences that hold it; a block at the start of a sequence has a root key as parent (one per
 * model and cache salt), which no node carries. */
typedef struct pyagent_kv_node {
    uint64_t key;        /* XXH3 of the parent key and the block's token ids */
    uint64_t parent_key;
    int32_t refcount;    /* agents and latent packets holding the block; 0: cached, unused */
    int32_t n_children;  /* published blocks that continue it */
} pyagent_kv_node;

/* The radix index: up to `capacity` nodes into `nodes`, and when `tokens` is not NULL each
 * node's block_size token ids (capacity x block_size int32s, node by node). *n_nodes gets the
 * number of nodes; PYAGENT_ERR_BUFFER_TOO_SMALL when capacity is below it (the first capacity
 * nodes are written: draw what fits). The order is the pool's, not the tree's: rebuild the
 * tree from parent_key. A snapshot under the engine's lock: agents may change the index right
 * after. */
PYAGENT_API pyagent_status pyagent_kv_store_nodes(const pyagent_kv_store *store,
                                                  pyagent_kv_node *nodes, int32_t *tokens,
                                                  size_t capacity, size_t *n_nodes);

/* A host-memory tier of at most max_bytes (0: none): an indexed block that the store evicts
 * is copied to host memory under its key (the oldest copies dropped to make room), and a
 * prompt whose next block is not in the pool but in the tier gets it back instead of computing
 * it. On backend cuda this is where blocks leaving the device's pool go (a device pool is small,
 * host memory large); on the CPU backend, a second cache level outside kv_bytes. */
PYAGENT_API pyagent_status pyagent_kv_store_set_host_tier(pyagent_kv_store *store,
                                                          int64_t max_bytes);

/* A disk tier under the existing directory `dir` (NULL: none): an indexed block that the
 * store evicts is written to a file named by its key (dir/<key>.kvb, up to max_bytes in all,
 * 0 = no limit), and a prompt whose next block is not in memory but in the tier reads it back
 * instead of computing it. Keys bind the model, the cache salt, the KV type and every token up
 * to the block's end, so any engine of the same model finds them, in this process or another.
 * Files are written without fsync (a cache, not a snapshot); a damaged or foreign file is not
 * used. PYAGENT_ERR_IO when dir is not a writable directory (message on the engine). On
 * backend cuda an evicted block is copied from the device first. */
PYAGENT_API pyagent_status pyagent_kv_store_set_disk_tier(pyagent_kv_store *store,
                                                          const char *dir, int64_t max_bytes);

/* A Redis tier at host:port (NULL host: none), as the disk tier but under the keys
 * "pyagent:kv:<key>" (stored as latent packets are in Redis: meta and chunks in one
 * transaction, checksummed), expiring after ttl_seconds (0: never), at most max_bytes written
 * (0: no limit). Every call waits at most timeout_ms: a server that is down or slow costs that
 * and one logged warning (PYAGENT_LOG_WARN) until it answers again, never a failure — the
 * blocks are computed. Evicted blocks go to every tier set; a lookup tries host memory, disk,
 * then Redis. PYAGENT_ERR_UNSUPPORTED when built without hiredis,
 * PYAGENT_ERR_OUT_OF_RANGE for a bad port, timeout or ttl. */
PYAGENT_API pyagent_status pyagent_kv_store_set_redis_tier(pyagent_kv_store *store,
                                                           const char *host, int32_t port,
                                                           int64_t ttl_seconds,
                                                           int32_t timeout_ms,
                                                           int64_t max_bytes);

/* Saves every published block of the store (the prefix index: blocks of live agents and
 * cached ones, parents first) to `path`, crash-safely (a temporary file, fsync, rename), bound to
 * the model fingerprint and the KV layout. With pyagent_kv_store_load, an engine restarted
 * later finds its prompts' prefixes cached. PYAGENT_ERR_IO with the system's reason. */
PYAGENT_API pyagent_status pyagent_kv_store_save(pyagent_kv_store *store, const char *path);

/* Loads a store snapshot into this store: each block becomes a cached block of the prefix
 * index (as if its agent had just been destroyed), as many as the pool has room for (free or
 * evictable blocks); *n_blocks (may be NULL) gets how many. PYAGENT_ERR_MISMATCH for another
 * model or KV layout, PYAGENT_ERR_BAD_PACKET for a damaged file (nothing loaded),
 * PYAGENT_ERR_IO when it cannot be read; the message is on the engine. */
PYAGENT_API pyagent_status pyagent_kv_store_load(pyagent_kv_store *store, const char *path,
                                                 int64_t *n_blocks);

/* Evicts every cached (unreferenced) block; blocks in use stay (with a tier, they go to it). */
PYAGENT_API pyagent_status pyagent_kv_store_drop_cache(pyagent_kv_store *store);

/* ---- KVzap surrogates (kv_policy PYAGENT_KV_POLICY_KVZAP) -------------------------------
 *
 * A surrogate predicts, per layer and kv head, how much a position's K/V will matter from the
 * hidden state that enters the layer there (a linear map, w . x + b). It is fitted to KVzip+'s
 * oracle on the engine's own model: each text is fed, then fed again, and a position of the
 * first copy scores by the most attention any query of the copy gives it, times what its value
 * adds to the residual stream (|Wo_h v|), over that query's input norm; log of the max over the
 * query heads of the kv head. Ridge regression in closed form, one system per layer. */
typedef struct pyagent_kvzap_info {
    uint32_t struct_size;  /* set to sizeof(pyagent_kvzap_info) before the call */
    uint32_t reserved;
    int64_t n_layer, n_head_kv, n_embd;
    int64_t n_texts;       /* texts fitted on (training and held out) */
    int64_t n_train, n_heldout; /* positions */
    double ridge;
    double r2_heldout;     /* held out: R^2 of the predicted log-importance, mean over layers
                              and kv heads */
    double top_overlap;    /* held out: share of the oracle's top quarter of a text's positions
                              (per layer and kv head) that the surrogate's top quarter holds
                              (0.25 by chance) */
    uint64_t fingerprint;  /* the model's */
} pyagent_kvzap_info;

/* Fits a surrogate on `texts` (at least 2; each tokenized without special tokens, cut to
 * (n_ctx - 1) / 2 tokens so that it fits twice) and writes it to `path` (crash-safe). The last
 * `heldout` fraction of the texts (0 < heldout < 1, at least one text each side) is measured,
 * not fitted. ridge >= 0 (1 is kvpress's). `info` may be NULL. Runs as one agent of the engine;
 * not on backend cuda. */
PYAGENT_API pyagent_status pyagent_kvzap_fit(pyagent_engine *engine, const char *const *texts,
                                             size_t n_texts, double ridge, double heldout,
                                             const char *path, pyagent_kvzap_info *info);

/* Loads a surrogate for agents with kv_policy kvzap. PYAGENT_ERR_MISMATCH when it was fitted
 * for another model, PYAGENT_ERR_BAD_PACKET for a damaged file, PYAGENT_ERR_BUSY while agents
 * prune with the one loaded before. `info` may be NULL. */
PYAGENT_API pyagent_status pyagent_engine_load_kvzap(pyagent_engine *engine, const char *path,
                                                     pyagent_kvzap_info *info);

#ifdef __cplusplus
}
#endif

#endif /* PYAGENT_KV_H */
