/* The KV block pool and its radix index; see store.h for the data structure and invariants. */
#include "store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "../core/f16.h"
#include "../core/pages.h"


typedef struct block_meta {
    int32_t refcount;
    bool indexed;
    int32_t n_children; /* indexed blocks whose parent this is */
    int32_t parent;     /* block id of the parent when indexed, or PA_NO_BLOCK */
    uint64_t key, parent_key;
    int32_t prev, next;  /* LRU list (cached blocks) or free list (next only) */
    int32_t bucket_next; /* chain of the index bucket */
} block_meta;

struct pa_kv_store {
    pa_kv_config cfg;
    size_t row_bytes;    /* one position's K (or V) in one layer */
    uint8_t *k, *v;      /* (n_blocks, n_layer, block_size, kv_dim) each */
    block_meta *meta;
    int32_t *tokens;     /* (n_blocks, block_size): the ids of indexed blocks */
    int32_t *buckets;    /* index: head block of each chain */
    uint64_t n_buckets;  /* power of two */
    int32_t free_head;
    int32_t n_populated; /* blocks [0, n_populated) have had their pages mapped (populate) */
    int32_t lru_head, lru_tail; /* least recently used first */
    pa_kv_counters counters;
    pa_kv_copy_fn mirror_copy;  /* the K/V live in a mirror (pa_kv_set_mirror), or NULL */
    pa_kv_block_fn mirror_download, mirror_upload;
    void *mirror_ctx;
    pa_kv_spill_fn spill;       /* a tier's (pa_kv_set_spill), or NULL */
    void *spill_ctx;
};

size_t pa_kv_bytes(int elem_type, int n) {
    switch (elem_type) {
    case PA_KV_F16: return (size_t)n * 2;
    case PA_KV_Q8_0: return (size_t)n / PA_KV_Q8_BLOCK * PA_KV_Q8_BYTES;
    default: return (size_t)n * 4;
    }
}

size_t pa_kv_block_bytes(const pa_kv_config *cfg) {
    return 2 * (size_t)cfg->n_layer * cfg->block_size * pa_kv_bytes(cfg->elem_type, cfg->kv_dim);
}

void pa_kv_to_f32(int elem_type, const void *src, int n, float *out) {
    if (elem_type == PA_KV_F32) {
        memcpy(out, src, (size_t)n * sizeof *out);
    } else if (elem_type == PA_KV_F16) {
        const uint16_t *h = src;
        for (int i = 0; i < n; i++) out[i] = pa_f16_to_f32(h[i]);
    } else {
        const uint8_t *b = src;
        for (int i = 0; i < n; i += PA_KV_Q8_BLOCK, b += PA_KV_Q8_BYTES) {
            uint16_t dh;
            memcpy(&dh, b, 2);
            const float d = pa_f16_to_f32(dh);
            for (int j = 0; j < PA_KV_Q8_BLOCK; j++) out[i + j] = d * (float)(int8_t)b[2 + j];
        }
    }
}

void pa_kv_slice_to_f32(int elem_type, const void *row, int first, int n, float *out) {
    if (elem_type != PA_KV_Q8_0) {
        pa_kv_to_f32(elem_type, (const uint8_t *)row + pa_kv_bytes(elem_type, first), n, out);
        return;
    }
    const uint8_t *b = row;
    for (int i = 0; i < n; i++) {
        const uint8_t *block = b + (size_t)((first + i) / PA_KV_Q8_BLOCK) * PA_KV_Q8_BYTES;
        uint16_t dh;
        memcpy(&dh, block, 2);
        out[i] = pa_f16_to_f32(dh) * (float)(int8_t)block[2 + (first + i) % PA_KV_Q8_BLOCK];
    }
}

void pa_kv_from_f32(int elem_type, void *dst, const float *src, int n) {
    if (elem_type == PA_KV_F32) {
        memcpy(dst, src, (size_t)n * sizeof *src);
    } else if (elem_type == PA_KV_F16) {
        uint16_t *h = dst;
        for (int i = 0; i < n; i++) h[i] = pa_f32_to_f16(src[i]);
    } else {
        uint8_t *b = dst;
        for (int i = 0; i < n; i += PA_KV_Q8_BLOCK, b += PA_KV_Q8_BYTES) {
            float amax = 0;
            for (int j = 0; j < PA_KV_Q8_BLOCK; j++) amax = fmaxf(amax, fabsf(src[i + j]));
            const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
            const uint16_t dh = pa_f32_to_f16(d);
            memcpy(b, &dh, 2);
            for (int j = 0; j < PA_KV_Q8_BLOCK; j++)
                b[2 + j] = (uint8_t)(int8_t)lroundf(src[i + j] * id);
        }
    }
}

pyagent_status pa_kv_store_create(const pa_kv_config *cfg, pa_kv_store **out, pa_err *err) {
    *out = NULL;
    if (cfg->block_size < 1 || cfg->block_size > PA_KV_MAX_BLOCK_SIZE || cfg->n_blocks < 1 ||
        cfg->n_blocks > INT32_MAX / 2)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "KV store: %lld blocks of %d tokens",
                       (long long)cfg->n_blocks, cfg->block_size);
    pa_kv_store *s = calloc(1, sizeof *s);
    if (!s) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "KV store: out of memory");
    s->cfg = *cfg;
    s->row_bytes = pa_kv_bytes(cfg->elem_type, cfg->kv_dim);
    const size_t n = (size_t)cfg->n_blocks, half = pa_kv_block_bytes(cfg) / 2;
    s->n_buckets = 1;
    while (s->n_buckets < 2 * n) s->n_buckets *= 2;
    s->k = malloc(n * half);
    s->v = malloc(n * half);
    s->meta = calloc(n, sizeof *s->meta);
    s->tokens = malloc(n * cfg->block_size * sizeof *s->tokens);
    s->buckets = malloc(s->n_buckets * sizeof *s->buckets);
    if (!s->k || !s->v || !s->meta || !s->tokens || !s->buckets) {
        pa_kv_store_free(s);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY,
                       "KV store: out of memory for %zu blocks (%zu MiB)", n,
                       n * 2 * half >> 20);
    }
    for (uint64_t b = 0; b < s->n_buckets; b++) s->buckets[b] = PA_NO_BLOCK;
    for (size_t b = 0; b < n; b++) s->meta[b].next = b + 1 < n ? (int32_t)(b + 1) : PA_NO_BLOCK;
    s->free_head = 0;
    s->lru_head = s->lru_tail = PA_NO_BLOCK;
    s->counters.n_blocks = s->counters.n_free = (int64_t)n;
    *out = s;
    return PYAGENT_OK;
}

void pa_kv_store_free(pa_kv_store *s) {
    if (!s) return;
    free(s->k);
    free(s->v);
    free(s->meta);
    free(s->tokens);
    free(s->buckets);
    free(s);
}

const pa_kv_config *pa_kv_config_of(const pa_kv_store *s) { return &s->cfg; }
void pa_kv_counters_get(const pa_kv_store *s, pa_kv_counters *out) { *out = s->counters; }
int32_t pa_kv_refcount(const pa_kv_store *s, int32_t b) { return s->meta[b].refcount; }
bool pa_kv_is_indexed(const pa_kv_store *s, int32_t b) { return s->meta[b].indexed; }

void *pa_kv_k(const pa_kv_store *s, int32_t block, int layer, int slot) {
    const size_t row = ((size_t)block * s->cfg.n_layer + layer) * s->cfg.block_size + slot;
    return s->k + row * s->row_bytes;
}

void *pa_kv_v(const pa_kv_store *s, int32_t block, int layer, int slot) {
    const size_t row = ((size_t)block * s->cfg.n_layer + layer) * s->cfg.block_size + slot;
    return s->v + row * s->row_bytes;
}

/* ----------------------------------------------------------------------------------------- */
/* LRU list of cached blocks                                                                   */

static void lru_remove(pa_kv_store *s, int32_t b) {
    block_meta *m = &s->meta[b];
    if (m->prev != PA_NO_BLOCK) s->meta[m->prev].next = m->next;
    else s->lru_head = m->next;
    if (m->next != PA_NO_BLOCK) s->meta[m->next].prev = m->prev;
    else s->lru_tail = m->prev;
    m->prev = m->next = PA_NO_BLOCK;
}

static void lru_push_recent(pa_kv_store *s, int32_t b) {
    block_meta *m = &s->meta[b];
    m->prev = s->lru_tail;
    m->next = PA_NO_BLOCK;
    if (s->lru_tail != PA_NO_BLOCK) s->meta[s->lru_tail].next = b;
    else s->lru_head = b;
    s->lru_tail = b;
}

/* ----------------------------------------------------------------------------------------- */
/* Index                                                                                      */

static int32_t *bucket_of(pa_kv_store *s, uint64_t key) {
    return &s->buckets[key & (s->n_buckets - 1)];
}

static int32_t find_indexed(pa_kv_store *s, uint64_t key) {
    for (int32_t b = *bucket_of(s, key); b != PA_NO_BLOCK; b = s->meta[b].bucket_next)
        if (s->meta[b].key == key) return b;
    return PA_NO_BLOCK;
}

static void unindex(pa_kv_store *s, int32_t b) {
    block_meta *m = &s->meta[b];
    int32_t *link = bucket_of(s, m->key);
    while (*link != b) link = &s->meta[*link].bucket_next;
    *link = m->bucket_next;
    if (m->parent != PA_NO_BLOCK) s->meta[m->parent].n_children--;
    m->indexed = false;
    m->parent = PA_NO_BLOCK;
}

static void note_used(pa_kv_store *s, int delta) {
    s->counters.n_used += delta;
    if (s->counters.n_used > s->counters.peak_used) s->counters.peak_used = s->counters.n_used;
}

static void push_free(pa_kv_store *s, int32_t b) {
    s->meta[b].next = s->free_head;
    s->free_head = b;
    s->counters.n_free++;
}

/* Frees the least recently used cached block that no indexed block extends (a leaf). */
static bool evict_one(pa_kv_store *s) {
    for (int32_t b = s->lru_head; b != PA_NO_BLOCK; b = s->meta[b].next) {
        if (s->meta[b].n_children > 0) continue;
        if (s->spill)
            s->spill(s->spill_ctx, s, b, s->meta[b].key, s->meta[b].parent_key,
                     s->tokens + (size_t)b * (size_t)s->cfg.block_size);
        lru_remove(s, b);
        unindex(s, b);
        s->counters.n_cached--;
        s->counters.n_evictions++;
        push_free(s, b);
        return true;
    }
    return false;
}

/* Blocks never used are handed out in index order (the free list starts 0, 1, 2, ...), and
 * the first write to each 4 KiB page of one faults: ~290 faults per block of the 110M shape
 * with f32 KV, 3-4 % of a decode step's time. So a block's K and V pages are mapped in one
 * call each when it is first handed out; memory still grows with use, a block at a time. The
 * KV of a mirrored store lives in the mirror: its host arrays are left alone. */
static void populate(pa_kv_store *s, int32_t b) {
    if (b < s->n_populated || s->mirror_copy) return;
    const size_t block_bytes = pa_kv_block_bytes(&s->cfg) / 2; /* of K, and of V */
    const size_t first = (size_t)s->n_populated * block_bytes;
    const size_t bytes = (size_t)(b + 1 - s->n_populated) * block_bytes;
    pa_pages_populate(s->k + first, bytes);
    pa_pages_populate(s->v + first, bytes);
    s->n_populated = b + 1;
}

int32_t pa_kv_alloc(pa_kv_store *s) {
    if (s->free_head == PA_NO_BLOCK && !evict_one(s)) return PA_NO_BLOCK;
    int32_t b = s->free_head;
    populate(s, b);
    s->free_head = s->meta[b].next;
    s->counters.n_free--;
    note_used(s, +1);
    block_meta *m = &s->meta[b];
    *m = (block_meta){.refcount = 1, .parent = PA_NO_BLOCK, .prev = PA_NO_BLOCK,
                      .next = PA_NO_BLOCK, .bucket_next = PA_NO_BLOCK};
    return b;
}

void pa_kv_retain(pa_kv_store *s, int32_t b) {
    block_meta *m = &s->meta[b];
    if (m->refcount++ == 0) { /* a cached block comes back into use */
        lru_remove(s, b);
        s->counters.n_cached--;
        note_used(s, +1);
    }
}

void pa_kv_release(pa_kv_store *s, int32_t b) {
    block_meta *m = &s->meta[b];
    if (--m->refcount > 0) return;
    s->counters.n_used--;
    if (m->indexed) {
        lru_push_recent(s, b);
        s->counters.n_cached++;
    } else {
        push_free(s, b);
    }
}

void pa_kv_set_mirror(pa_kv_store *s, pa_kv_copy_fn copy, pa_kv_block_fn download,
                      pa_kv_block_fn upload, void *ctx) {
    s->mirror_copy = copy;
    s->mirror_download = copy ? download : NULL;
    s->mirror_upload = copy ? upload : NULL;
    s->mirror_ctx = copy ? ctx : NULL;
}

void pa_kv_mirror_download(const pa_kv_store *s, int32_t block) {
    if (s->mirror_download) s->mirror_download(s->mirror_ctx, block);
}

void pa_kv_mirror_upload(const pa_kv_store *s, int32_t block) {
    if (s->mirror_upload) s->mirror_upload(s->mirror_ctx, block);
}

void pa_kv_copy_slots(pa_kv_store *s, int32_t dst, int dst_slot, int32_t src, int src_slot,
                      int n_slots) {
    if (s->mirror_copy) {
        s->mirror_copy(s->mirror_ctx, dst, dst_slot, src, src_slot, n_slots);
        return;
    }
    const size_t bytes = (size_t)n_slots * s->row_bytes;
    for (int l = 0; l < s->cfg.n_layer; l++) {
        memmove(pa_kv_k(s, dst, l, dst_slot), pa_kv_k(s, src, l, src_slot), bytes);
        memmove(pa_kv_v(s, dst, l, dst_slot), pa_kv_v(s, src, l, src_slot), bytes);
    }
}

int32_t pa_kv_make_writable(pa_kv_store *s, int32_t b, int n_slots) {
    if (s->meta[b].refcount == 1 && !s->meta[b].indexed) return b;
    int32_t copy = pa_kv_alloc(s);
    if (copy == PA_NO_BLOCK) return PA_NO_BLOCK;
    pa_kv_copy_slots(s, copy, 0, b, 0, n_slots);
    s->counters.n_cow_copies++;
    pa_kv_release(s, b);
    return copy;
}

uint64_t pa_kv_root_key(const pa_kv_store *s, uint64_t cache_salt) {
    uint64_t words[2] = {s->cfg.model_fingerprint, cache_salt};
    /* the element type is part of identity: F16 and F32 KV are not interchangeable */
    return XXH3_64bits_withSeed(words, sizeof words, (uint64_t)s->cfg.elem_type);
}

uint64_t pa_kv_block_key(uint64_t parent_key, const int32_t *tokens, int block_size) {
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    XXH3_64bits_update(&state, &parent_key, sizeof parent_key);
    XXH3_64bits_update(&state, tokens, (size_t)block_size * sizeof *tokens);
    return XXH3_64bits_digest(&state);
}

int32_t pa_kv_lookup(pa_kv_store *s, uint64_t key, const int32_t *tokens) {
    int32_t b = find_indexed(s, key);
    if (b == PA_NO_BLOCK) return PA_NO_BLOCK;
    const size_t bs = (size_t)s->cfg.block_size;
    if (memcmp(s->tokens + (size_t)b * bs, tokens, bs * sizeof *tokens) != 0)
        return PA_NO_BLOCK; /* a 64-bit collision: never share KV of other tokens */
    pa_kv_retain(s, b);
    s->counters.n_prefix_hit_tokens += (int64_t)bs;
    return b;
}

void pa_kv_publish(pa_kv_store *s, int32_t b, uint64_t key, uint64_t parent_key,
                   const int32_t *tokens) {
    block_meta *m = &s->meta[b];
    if (m->indexed || find_indexed(s, key) != PA_NO_BLOCK) return;
    const size_t bs = (size_t)s->cfg.block_size;
    memcpy(s->tokens + (size_t)b * bs, tokens, bs * sizeof *tokens);
    m->key = key;
    m->parent_key = parent_key;
    m->parent = find_indexed(s, parent_key);
    if (m->parent != PA_NO_BLOCK) s->meta[m->parent].n_children++;
    m->indexed = true;
    int32_t *head = bucket_of(s, key);
    m->bucket_next = *head;
    *head = b;
}

void pa_kv_drop_cache(pa_kv_store *s) {
    while (evict_one(s)) {
    }
}

void pa_kv_for_each_node(const pa_kv_store *s, pa_kv_node_fn fn, void *ctx) {
    const size_t bs = (size_t)s->cfg.block_size;
    for (int32_t b = 0; b < (int32_t)s->cfg.n_blocks; b++) {
        const block_meta *m = &s->meta[b];
        if (m->indexed)
            fn(ctx, b, m->key, m->parent_key, m->refcount, m->n_children,
               s->tokens + (size_t)b * bs);
    }
}

void pa_kv_set_spill(pa_kv_store *s, pa_kv_spill_fn fn, void *ctx) {
    s->spill = fn;
    s->spill_ctx = ctx;
}

void pa_kv_note_prefix_hit(pa_kv_store *s, int64_t n) { s->counters.n_prefix_hit_tokens += n; }
