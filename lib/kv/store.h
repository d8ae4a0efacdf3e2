/*
 * The KV store: a pool of fixed-size blocks shared by every agent of an engine, and the radix
 * index that lets agents share the blocks of a common prefix.
 *
 * A block holds the keys and values of `block_size` consecutive positions for every layer:
 *     k[block][layer][slot][kv_dim], and the same for v
 * An agent's sequence is a block table: position p lives in block table[p / block_size], slot
 * p % block_size.
 *
 * Radix index. A *full* block is identified by
 *     key = XXH3_64(parent_key || its block_size token ids), seeded with the model fingerprint
 *           and the agent's cache salt
 * where parent_key is the key of the block before it (a fixed root key for the first), so
 * equal keys mean equal token prefixes from position 0 (the tokens are compared too, so a hash
 * collision can never share wrong KV). The index maps key -> block. The blocks form a tree
 * (each knows its parent's key); n_children counts indexed blocks whose parent it is.
 *
 * Life of a block:   free --alloc--> private (refcount 1, being filled by one agent)
 *   private, full --publish--> indexed (findable; may be shared: refcount = users)
 *   indexed, refcount 0 --> cached: stays findable, on the LRU list, until evicted
 *   cached leaf (n_children == 0), least recently used --evict--> free
 *   private, refcount 0 --> free
 * Invariants: a block is written only while private with refcount 1 (copy-on-write
 * otherwise); an indexed block is never modified; the free list, the LRU list and the blocks
 * with refcount > 0 partition the pool.
 *
 * The store is not locked: the engine calls it under its scheduler lock.
 */
#ifndef PA_KV_STORE_H
#define PA_KV_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/error.h"

#define PA_KV_F32 0
#define PA_KV_F16 1
#define PA_KV_Q8_0 2 /* blocks of 32 values: an f16 scale d and 32 int8 q (value d * q) */
#define PA_KV_Q8_BLOCK 32
#define PA_KV_Q8_BYTES 34
#define PA_NO_BLOCK (-1)
#define PA_KV_MAX_BLOCK_SIZE 256 /* tokens per block, at most */

typedef struct pa_kv_store pa_kv_store;

typedef struct pa_kv_config {
    int n_layer;
    int kv_dim;       /* n_head_kv * head_dim */
    int block_size;   /* tokens per block */
    int elem_type;    /* PA_KV_F32, PA_KV_F16 or PA_KV_Q8_0 (kv_dim a multiple of 32) */
    int64_t n_blocks; /* pool size */
    uint64_t model_fingerprint;
} pa_kv_config;

typedef struct pa_kv_counters {
    int64_t n_blocks, n_used, n_cached, n_free; /* used: refcount > 0; cached: indexed, unused */
    int64_t n_prefix_hit_tokens;  /* tokens attached from the index instead of computed */
    int64_t n_evictions;
    int64_t n_cow_copies;         /* blocks copied before a write (fork, rewind) */
    int64_t peak_used;            /* most blocks in use at once */
} pa_kv_counters;

pyagent_status pa_kv_store_create(const pa_kv_config *cfg, pa_kv_store **out, pa_err *err);
void pa_kv_store_free(pa_kv_store *store);
const pa_kv_config *pa_kv_config_of(const pa_kv_store *store);
void pa_kv_counters_get(const pa_kv_store *store, pa_kv_counters *out);
size_t pa_kv_block_bytes(const pa_kv_config *cfg); /* K and V of one block */

/* Bytes of n consecutive values in `elem_type` (n a multiple of 32 for Q8_0). A K or V row is
 * kv_dim values (a multiple of 32 for Q8_0; a head may start inside a block). */
size_t pa_kv_bytes(int elem_type, int n);
/* n values in elem_type <-> f32 (Q8_0 as ggml: d = max|x| / 127, q = round(x / d)). */
void pa_kv_to_f32(int elem_type, const void *src, int n, float *out);
void pa_kv_from_f32(int elem_type, void *dst, const float *src, int n);
/* Values [first, first + n) of a row in elem_type -> f32 (any first, also inside a Q8_0 block). */
void pa_kv_slice_to_f32(int elem_type, const void *row, int first, int n, float *out);

/* A fresh private block (refcount 1), evicting a cached leaf if the pool is exhausted.
 * PA_NO_BLOCK when every block is in use. */
int32_t pa_kv_alloc(pa_kv_store *store);
void pa_kv_retain(pa_kv_store *store, int32_t block);
/* Drops one reference; at 0 an indexed block becomes cached, a private one free. */
void pa_kv_release(pa_kv_store *store, int32_t block);
int32_t pa_kv_refcount(const pa_kv_store *store, int32_t block);
bool pa_kv_is_indexed(const pa_kv_store *store, int32_t block);

/* Block that may be written by its single owner: `block` itself when private and unshared,
 * else a private copy of its first n_slots slots (the old block is released). PA_NO_BLOCK if
 * no block is free. */
int32_t pa_kv_make_writable(pa_kv_store *store, int32_t block, int n_slots);

/* Key of the full block of `tokens` (block_size ids) after the block keyed `parent_key`
 * (pa_kv_root_key for position 0). */
uint64_t pa_kv_root_key(const pa_kv_store *store, uint64_t cache_salt);
uint64_t pa_kv_block_key(uint64_t parent_key, const int32_t *tokens, int block_size);

/* Indexed block with this key and these tokens, retained for the caller, or PA_NO_BLOCK. */
int32_t pa_kv_lookup(pa_kv_store *store, uint64_t key, const int32_t *tokens);
/* Makes a just-filled private block findable under `key` (child of parent_key). If another
 * block already has that key, nothing happens (the caller's block stays private). */
void pa_kv_publish(pa_kv_store *store, int32_t block, uint64_t key, uint64_t parent_key,
                   const int32_t *tokens);
/* Evicts every cached block. */
void pa_kv_drop_cache(pa_kv_store *store);
/* Called with each indexed block the store evicts, before its memory is reused (a tier keeps
 * it): its K/V rows are still readable (pa_kv_k/v). NULL: none. */
typedef void (*pa_kv_spill_fn)(void *ctx, const pa_kv_store *store, int32_t block, uint64_t key,
                               uint64_t parent_key, const int32_t *tokens);
void pa_kv_set_spill(pa_kv_store *store, pa_kv_spill_fn fn, void *ctx);
/* Counts n tokens attached without computing them (a tier's restore, as pa_kv_lookup does). */
void pa_kv_note_prefix_hit(pa_kv_store *store, int64_t n);
/* Every indexed block, in pool order: f(ctx, block, key, parent_key, refcount, n_children,
 * its block_size token ids). */
typedef void (*pa_kv_node_fn)(void *ctx, int32_t block, uint64_t key, uint64_t parent_key,
                              int32_t refcount, int32_t n_children, const int32_t *tokens);
void pa_kv_for_each_node(const pa_kv_store *store, pa_kv_node_fn fn, void *ctx);

/* Copies slots [src_slot, src_slot + n_slots) of block src to slots from dst_slot of block dst,
 * K and V of every layer (copy-on-write, moving accepted draft slots). */
void pa_kv_copy_slots(pa_kv_store *store, int32_t dst, int dst_slot, int32_t src, int src_slot,
                      int n_slots);

/* A mirror holds the pool's K/V elsewhere (a GPU's memory, lib/backend/cuda) under the same
 * block ids: with one set, pa_kv_copy_slots and copy-on-write call `copy` instead of copying
 * the host rows, and the host rows (pa_kv_k, pa_kv_v) are not the sequences' K/V. NULL unsets. */
typedef void (*pa_kv_copy_fn)(void *ctx, int32_t dst, int dst_slot, int32_t src, int src_slot,
                              int n_slots);
/* A mirror's transfers of one block's rows (every layer, K and V): to the host rows (before a
 * tier writes the block) and from them (after a tier restored it). */
typedef void (*pa_kv_block_fn)(void *ctx, int32_t block);
void pa_kv_set_mirror(pa_kv_store *store, pa_kv_copy_fn copy, pa_kv_block_fn download,
                      pa_kv_block_fn upload, void *ctx);
/* With a mirror: brings block's rows to the host (download) or sends them back (upload). */
void pa_kv_mirror_download(const pa_kv_store *store, int32_t block);
void pa_kv_mirror_upload(const pa_kv_store *store, int32_t block);

/* Pointer to slot `slot` of `layer` in block `block`: K or V rows of kv_dim elements. */
void *pa_kv_k(const pa_kv_store *store, int32_t block, int layer, int slot);
void *pa_kv_v(const pa_kv_store *store, int32_t block, int layer, int slot);

#endif
