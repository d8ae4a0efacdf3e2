/* The KV store's tiers (tier.c): evicted indexed blocks kept, under their radix key, in files
 * (disk) or in Redis, and read back on a prefix lookup that misses in memory. */
#ifndef PA_KV_TIER_H
#define PA_KV_TIER_H

#include "../core/error.h"
#include "store.h"

typedef struct pa_tier pa_tier;

typedef struct pa_tier_counters {
    int64_t n_spilled;  /* blocks written */
    int64_t n_restored; /* blocks read back into memory */
    int64_t n_refused;  /* evicted blocks not written: the tier was full */
    int64_t n_rejected; /* blocks found but not used: another layout, other tokens, damage */
    int64_t bytes;      /* written by this tier (host tier: held now) */
} pa_tier_counters;

/* A tier in host memory holding at most max_bytes (> 0) of records, the oldest dropped first. */
pyagent_status pa_tier_open_host(int64_t max_bytes, pa_tier **out, pa_err *err);
/* A tier in the existing directory `dir` writing at most max_bytes (0: no limit). */
pyagent_status pa_tier_open_disk(const char *dir, int64_t max_bytes, pa_tier **out, pa_err *err);
/* A tier in the Redis server at host:port: keys "pyagent:kv:<key>" expiring after ttl_seconds
 * (0: never), every call within timeout_ms. A server that is down or slow costs at most the
 * timeout per call and a warning (pa_tier_set_warn), never a failure: blocks are computed. */
pyagent_status pa_tier_open_redis(const char *host, int32_t port, int64_t ttl_seconds,
                                  int32_t timeout_ms, int64_t max_bytes, pa_tier **out,
                                  pa_err *err);
typedef void (*pa_tier_warn_fn)(void *ctx, const char *message);
void pa_tier_set_warn(pa_tier *tier, pa_tier_warn_fn fn, void *ctx);
void pa_tier_free(pa_tier *tier);
const pa_tier_counters *pa_tier_counters_of(const pa_tier *tier);

/* Writes an evicted block (its K/V rows still readable in the store). */
void pa_tier_spill(pa_tier *tier, const pa_kv_store *store, int32_t block, uint64_t key,
                   uint64_t parent_key, const int32_t *tokens);
/* The block under `key` with these tokens read back into a new block of the store, published
 * and retained for the caller; PA_NO_BLOCK when there is no usable copy or no free block. */
int32_t pa_tier_fetch(pa_tier *tier, pa_kv_store *store, uint64_t key, uint64_t parent_key,
                      const int32_t *tokens);

/* A block as the tiers and store snapshots store it: pa_kv_record_bytes bytes (header with the
 * layout, key and parent key, the token ids, K and V rows of every layer, XXH3). */
size_t pa_kv_record_bytes(const pa_kv_config *cfg);
void pa_kv_record_write(const pa_kv_store *store, int32_t block, uint64_t key,
                        uint64_t parent_key, const int32_t *tokens, uint8_t *out);
/* A new block of the store from a record (checked: layout, checksum, and that the key is the
 * hash of the parent key and the ids), published and retained; PA_NO_BLOCK when the record
 * is not valid or no block is free. */
int32_t pa_kv_record_restore(pa_kv_store *store, const uint8_t *record, size_t size);

#endif
