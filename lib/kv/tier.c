/*
 * The tiers of the KV store (tier.h): an indexed block the store evicts is written, under its
 * radix key, to host memory (host tier: for a pool in a GPU's memory, or a cache bigger than
 * the pool), to a file (disk tier) or to Redis (Redis tier), and a prefix lookup that misses in
 * memory reads it back. The key already binds the model, the cache salt, the element type and
 * every token before and in the block, so another engine of the same model (another process,
 * another machine for Redis) finds the same blocks.
 *
 * A block's bytes (little-endian): header {magic "PAKVBLK1", version, elem_type, n_layer, kv_dim,
 * block_size, reserved, key, parent_key}, the block's token ids, then per layer its K rows and
 * V rows, then XXH3-64 of all that. A file that does not match in every field is ignored.
 */
#include "tier.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "../latent/redis_blob.h"

#define MAGIC "PAKVBLK1"
#define PA_TIER_DISK 0
#define PA_TIER_REDIS 1
#define PA_TIER_HOST 2
#define HOST_BUCKETS 4096
#define FORMAT_VERSION 1u

typedef struct tier_header {
    char magic[8];
    uint32_t version, elem_type, n_layer, kv_dim, block_size, reserved;
    uint64_t key, parent_key;
} tier_header;

/* A record the host tier holds: in a hash chain and in the age list (oldest goes first). */
typedef struct host_entry {
    uint64_t key;
    uint8_t *record;
    size_t size;
    struct host_entry *chain, *older, *newer;
} host_entry;

struct pa_tier {
    int kind;          /* PA_TIER_DISK, PA_TIER_REDIS or PA_TIER_HOST */
    char *where;       /* the directory, or the Redis host */
    int32_t port, timeout_ms;
    int64_t ttl_seconds, max_bytes;
    pa_tier_warn_fn warn;
    void *warn_ctx;
    bool down;         /* the last Redis call failed (warned once until one works again) */
    pa_tier_counters counters;
    host_entry **buckets;          /* host tier: HOST_BUCKETS chains by key */
    host_entry *oldest, *newest;
    int64_t resident;              /* bytes held now */
};

static pa_tier *tier_new(int kind, const char *where, int64_t max_bytes, pa_err *err) {
    pa_tier *t = calloc(1, sizeof *t);
    if (t) t->where = strdup(where);
    if (!t || !t->where) {
        free(t);
        pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "KV tier: out of memory");
        return NULL;
    }
    t->kind = kind;
    t->max_bytes = max_bytes;
    return t;
}

pyagent_status pa_tier_open_disk(const char *dir, int64_t max_bytes, pa_tier **out, pa_err *err) {
    *out = NULL;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return pa_fail(err, PYAGENT_ERR_IO, "KV disk tier: %s: %s", dir,
                       errno ? strerror(errno) : "not a directory");
    if (access(dir, W_OK | R_OK) != 0)
        return pa_fail(err, PYAGENT_ERR_IO, "KV disk tier: %s: %s", dir, strerror(errno));
    *out = tier_new(PA_TIER_DISK, dir, max_bytes, err);
    return *out ? PYAGENT_OK : err->status;
}

pyagent_status pa_tier_open_redis(const char *host, int32_t port, int64_t ttl_seconds,
                                  int32_t timeout_ms, int64_t max_bytes, pa_tier **out,
                                  pa_err *err) {
    *out = NULL;
    if (port < 1 || port > 65535 || timeout_ms < 1 || ttl_seconds < 0)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "KV Redis tier: port %d, timeout %d ms, ttl %lld s", (int)port,
                       (int)timeout_ms, (long long)ttl_seconds);
    if (!pa_redis_available())
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED, "KV Redis tier: built without hiredis");
    pa_tier *t = tier_new(PA_TIER_REDIS, host, max_bytes, err);
    if (!t) return err->status;
    t->port = port;
    t->timeout_ms = timeout_ms;
    t->ttl_seconds = ttl_seconds;
    *out = t;
    return PYAGENT_OK;
}

pyagent_status pa_tier_open_host(int64_t max_bytes, pa_tier **out, pa_err *err) {
    *out = NULL;
    if (max_bytes <= 0)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "KV host tier: max_bytes must be > 0");
    pa_tier *t = tier_new(PA_TIER_HOST, "host memory", max_bytes, err);
    if (t && !(t->buckets = calloc(HOST_BUCKETS, sizeof *t->buckets))) {
        pa_tier_free(t);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "KV host tier: out of memory");
    }
    *out = t;
    return t ? PYAGENT_OK : err->status;
}

static host_entry **host_slot(pa_tier *t, uint64_t key) {
    host_entry **at = &t->buckets[key % HOST_BUCKETS];
    while (*at && (*at)->key != key) at = &(*at)->chain;
    return at;
}

/* Drops the oldest record (from its chain and the age list). */
static void host_drop_oldest(pa_tier *t) {
    host_entry *e = t->oldest;
    *host_slot(t, e->key) = e->chain;
    t->oldest = e->newer;
    if (t->oldest) t->oldest->older = NULL;
    else t->newest = NULL;
    t->resident -= (int64_t)e->size;
    free(e->record);
    free(e);
}

/* Keeps a copy of a record, dropping the oldest ones to stay within max_bytes. */
static bool host_put(pa_tier *t, uint64_t key, const uint8_t *buf, size_t size) {
    if (*host_slot(t, key)) return true; /* the same key holds the same KV */
    if ((int64_t)size > t->max_bytes) return false;
    while (t->resident + (int64_t)size > t->max_bytes) host_drop_oldest(t);
    host_entry *e = calloc(1, sizeof *e);
    if (e) e->record = malloc(size);
    if (!e || !e->record) {
        free(e);
        return false;
    }
    memcpy(e->record, buf, size);
    *e = (host_entry){key, e->record, size, NULL, t->newest, NULL};
    *host_slot(t, key) = e;
    if (t->newest) t->newest->newer = e;
    else t->oldest = e;
    t->newest = e;
    t->resident += (int64_t)size;
    return true;
}

void pa_tier_set_warn(pa_tier *t, pa_tier_warn_fn fn, void *ctx) {
    t->warn = fn;
    t->warn_ctx = ctx;
}

void pa_tier_free(pa_tier *t) {
    if (!t) return;
    while (t->oldest) host_drop_oldest(t);
    free(t->buckets);
    free(t->where);
    free(t);
}

const pa_tier_counters *pa_tier_counters_of(const pa_tier *t) { return &t->counters; }

static void path_of(const pa_tier *t, uint64_t key, char *out, size_t size) {
    snprintf(out, size, "%s/%016llx.kvb", t->where, (unsigned long long)key);
}

static void redis_key_of(uint64_t key, char *out, size_t size) {
    snprintf(out, size, "pyagent:kv:%016llx", (unsigned long long)key);
}

/* A Redis failure: a warning the first time (not after every block), then quiet until a call
 * works again; the blocks are simply computed. */
static void redis_failed(pa_tier *t, const pa_err *err) {
    if (!t->down && t->warn) t->warn(t->warn_ctx, err->msg);
    t->down = true;
}

/* Stores a block's bytes: a copy in memory, a file (temporary name, then rename) or a Redis
 * key. */
static bool store_bytes(pa_tier *t, uint64_t key, const uint8_t *buf, size_t size) {
    if (t->kind == PA_TIER_HOST) return host_put(t, key, buf, size);
    if (t->kind == PA_TIER_REDIS) {
        char name[64];
        redis_key_of(key, name, sizeof name);
        pa_err err = {0};
        if (pa_redis_put_blob(t->where, t->port, name, buf, size, t->ttl_seconds, t->timeout_ms,
                              &err)) {
            redis_failed(t, &err);
            return false;
        }
        t->down = false;
        return true;
    }
    char path[4096], tmp[4200];
    path_of(t, key, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    const bool written = f && fwrite(buf, 1, size, f) == size;
    const bool closed = f && fclose(f) == 0;
    if (written && closed && rename(tmp, path) == 0) return true;
    if (f) unlink(tmp);
    return false;
}

/* A block's bytes, malloc'ed; NULL when there are none (or Redis failed). */
static uint8_t *load_bytes(pa_tier *t, uint64_t key, size_t max, size_t *size) {
    if (t->kind == PA_TIER_HOST) {
        const host_entry *e = *host_slot(t, key);
        uint8_t *buf = e && e->size <= max ? malloc(e->size) : NULL;
        if (buf) memcpy(buf, e->record, e->size), *size = e->size;
        return buf;
    }
    if (t->kind == PA_TIER_REDIS) {
        char name[64];
        redis_key_of(key, name, sizeof name);
        uint8_t *data = NULL;
        pa_err err = {0};
        const pyagent_status st =
            pa_redis_get_blob(t->where, t->port, name, max, t->timeout_ms, &data, size, &err);
        if (st == PYAGENT_OK) t->down = false;
        else if (st != PYAGENT_ERR_IO || !strstr(err.msg, "no latent packet")) redis_failed(t, &err);
        return data;
    }
    char path[4096];
    path_of(t, key, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = malloc(max + 1);
    *size = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    return buf;
}

/* Bytes of a block's file: header, ids, K and V rows of every layer, checksum. */
static size_t file_bytes(const pa_kv_config *cfg) {
    return sizeof(tier_header) + (size_t)cfg->block_size * sizeof(int32_t) +
           pa_kv_block_bytes(cfg) + sizeof(uint64_t);
}

static tier_header header_of(const pa_kv_config *cfg, uint64_t key, uint64_t parent_key) {
    tier_header h = {.version = FORMAT_VERSION,
                     .elem_type = (uint32_t)cfg->elem_type,
                     .n_layer = (uint32_t)cfg->n_layer,
                     .kv_dim = (uint32_t)cfg->kv_dim,
                     .block_size = (uint32_t)cfg->block_size,
                     .key = key,
                     .parent_key = parent_key};
    memcpy(h.magic, MAGIC, 8);
    return h;
}

size_t pa_kv_record_bytes(const pa_kv_config *cfg) { return file_bytes(cfg); }

void pa_kv_record_write(const pa_kv_store *s, int32_t block, uint64_t key, uint64_t parent_key,
                        const int32_t *tokens, uint8_t *out) {
    const pa_kv_config *cfg = pa_kv_config_of(s);
    const size_t bs = (size_t)cfg->block_size;
    const size_t rows = bs * pa_kv_bytes(cfg->elem_type, cfg->kv_dim); /* one layer's K */
    const tier_header h = header_of(cfg, key, parent_key);
    size_t at = 0;
    memcpy(out, &h, sizeof h), at += sizeof h;
    memcpy(out + at, tokens, bs * sizeof *tokens), at += bs * sizeof *tokens;
    for (int l = 0; l < cfg->n_layer; l++) {
        memcpy(out + at, pa_kv_k(s, block, l, 0), rows), at += rows;
        memcpy(out + at, pa_kv_v(s, block, l, 0), rows), at += rows;
    }
    const uint64_t sum = XXH3_64bits(out, at);
    memcpy(out + at, &sum, sizeof sum);
}

/* Whether rec (size bytes) is a whole, undamaged record of this store's layout. */
static bool record_valid(const pa_kv_config *cfg, const uint8_t *rec, size_t size) {
    const size_t want = file_bytes(cfg);
    if (size != want) return false;
    tier_header h;
    memcpy(&h, rec, sizeof h);
    const tier_header layout = header_of(cfg, h.key, h.parent_key);
    uint64_t sum;
    memcpy(&sum, rec + want - sizeof sum, sizeof sum);
    return memcmp(&h, &layout, sizeof h) == 0 && XXH3_64bits(rec, want - sizeof sum) == sum;
}

int32_t pa_kv_record_restore(pa_kv_store *s, const uint8_t *rec, size_t size) {
    const pa_kv_config *cfg = pa_kv_config_of(s);
    if (!record_valid(cfg, rec, size)) return PA_NO_BLOCK;
    const size_t bs = (size_t)cfg->block_size;
    const size_t rows = bs * pa_kv_bytes(cfg->elem_type, cfg->kv_dim);
    tier_header h;
    memcpy(&h, rec, sizeof h);
    int32_t tokens[PA_KV_MAX_BLOCK_SIZE];
    memcpy(tokens, rec + sizeof h, bs * sizeof *tokens);
    if (pa_kv_block_key(h.parent_key, tokens, (int)bs) != h.key) return PA_NO_BLOCK;
    const int32_t block = pa_kv_alloc(s);
    if (block == PA_NO_BLOCK) return PA_NO_BLOCK;
    size_t at = sizeof h + bs * sizeof *tokens;
    for (int l = 0; l < cfg->n_layer; l++) {
        memcpy(pa_kv_k(s, block, l, 0), rec + at, rows), at += rows;
        memcpy(pa_kv_v(s, block, l, 0), rec + at, rows), at += rows;
    }
    pa_kv_publish(s, block, h.key, h.parent_key, tokens);
    return block;
}

void pa_tier_spill(pa_tier *t, const pa_kv_store *s, int32_t block, uint64_t key,
                   uint64_t parent_key, const int32_t *tokens) {
    const size_t size = file_bytes(pa_kv_config_of(s));
    if (t->kind != PA_TIER_HOST && t->max_bytes > 0 && /* host: the oldest make room */
        t->counters.bytes + (int64_t)size > t->max_bytes) {
        t->counters.n_refused++; /* full: the block is simply evicted */
        return;
    }
    uint8_t *buf = malloc(size);
    if (!buf) return;
    pa_kv_record_write(s, block, key, parent_key, tokens, buf);
    if (store_bytes(t, key, buf, size)) {
        t->counters.n_spilled++;
        t->counters.bytes = t->kind == PA_TIER_HOST ? t->resident : t->counters.bytes + (int64_t)size;
    }
    free(buf);
}

int32_t pa_tier_fetch(pa_tier *t, pa_kv_store *s, uint64_t key, uint64_t parent_key,
                      const int32_t *tokens) {
    const pa_kv_config *cfg = pa_kv_config_of(s);
    const size_t size = file_bytes(cfg), bs = (size_t)cfg->block_size;
    size_t got = 0;
    uint8_t *buf = load_bytes(t, key, size, &got);
    if (!buf) return PA_NO_BLOCK;
    const tier_header want = header_of(cfg, key, parent_key);
    int32_t block = PA_NO_BLOCK;
    if (got == size && memcmp(buf, &want, sizeof want) == 0 &&
        memcmp(buf + sizeof want, tokens, bs * sizeof *tokens) == 0)
        block = pa_kv_record_restore(s, buf, got);
    if (block == PA_NO_BLOCK) {
        t->counters.n_rejected++; /* another layout, other tokens, damage, or no room */
    } else {
        pa_kv_note_prefix_hit(s, (int64_t)bs);
        t->counters.n_restored++;
    }
    free(buf);
    return block;
}
