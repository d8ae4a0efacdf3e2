/* The KV store's disk tier (tier.c): evicted indexed blocks kept in files named by their radix
 * key, read back on a prefix lookup that misses in memory. */
#ifndef PA_KV_TIER_H
#define PA_KV_TIER_H

#include "../core/error.h"
#include "store.h"

typedef struct pa_disk_tier pa_disk_tier;

typedef struct pa_tier_counters {
    int64_t n_spilled;  /* blocks written */
    int64_t n_restored; /* blocks read back into memory */
    int64_t n_refused;  /* evicted blocks not written: the tier was full */
    int64_t n_rejected; /* files found but not used: another layout, other tokens, damage */
    int64_t bytes;      /* written by this tier */
} pa_tier_counters;

/* A tier in the existing directory `dir` writing at most max_bytes (0: no limit). */
pyagent_status pa_disk_tier_open(const char *dir, int64_t max_bytes, pa_disk_tier **out,
                                 pa_err *err);
void pa_disk_tier_free(pa_disk_tier *tier);
const pa_tier_counters *pa_disk_tier_counters(const pa_disk_tier *tier);

/* A pa_kv_spill_fn (ctx = the tier): writes the block's file. */
void pa_disk_tier_spill(void *ctx, const pa_kv_store *store, int32_t block, uint64_t key,
                        uint64_t parent_key, const int32_t *tokens);
/* The block under `key` with these tokens read back into a new block of the store, published
 * and retained for the caller; PA_NO_BLOCK when there is no usable file or no free block. */
int32_t pa_disk_tier_fetch(pa_disk_tier *tier, pa_kv_store *store, uint64_t key,
                           uint64_t parent_key, const int32_t *tokens);

#endif
