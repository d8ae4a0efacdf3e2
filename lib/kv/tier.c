/*
 * The disk tier of the KV store (tier.h): an indexed block the store evicts is written to a
 * file named by its radix key, and a prefix lookup that misses in memory reads it back. The
 * key already binds the model, the cache salt, the element type and every token before and in
 * the block, so another engine of the same model (another process too) finds the same files.
 *
 * File (little-endian): header {magic "PAKVBLK1", version, elem_type, n_layer, kv_dim,
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

#define MAGIC "PAKVBLK1"
#define FORMAT_VERSION 1u

typedef struct tier_header {
    char magic[8];
    uint32_t version, elem_type, n_layer, kv_dim, block_size, reserved;
    uint64_t key, parent_key;
} tier_header;

struct pa_disk_tier {
    char *dir;
    int64_t max_bytes;
    pa_tier_counters counters;
};

pyagent_status pa_disk_tier_open(const char *dir, int64_t max_bytes, pa_disk_tier **out,
                                 pa_err *err) {
    *out = NULL;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return pa_fail(err, PYAGENT_ERR_IO, "KV disk tier: %s: %s", dir,
                       errno ? strerror(errno) : "not a directory");
    if (access(dir, W_OK | R_OK) != 0)
        return pa_fail(err, PYAGENT_ERR_IO, "KV disk tier: %s: %s", dir, strerror(errno));
    pa_disk_tier *t = calloc(1, sizeof *t);
    if (t) t->dir = strdup(dir);
    if (!t || !t->dir) {
        free(t);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "KV disk tier: out of memory");
    }
    t->max_bytes = max_bytes;
    *out = t;
    return PYAGENT_OK;
}

void pa_disk_tier_free(pa_disk_tier *t) {
    if (!t) return;
    free(t->dir);
    free(t);
}

const pa_tier_counters *pa_disk_tier_counters(const pa_disk_tier *t) { return &t->counters; }

static void path_of(const pa_disk_tier *t, uint64_t key, char *out, size_t size) {
    snprintf(out, size, "%s/%016llx.kvb", t->dir, (unsigned long long)key);
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

void pa_disk_tier_spill(void *ctx, const pa_kv_store *s, int32_t block, uint64_t key,
                        uint64_t parent_key, const int32_t *tokens) {
    pa_disk_tier *t = ctx;
    const pa_kv_config *cfg = pa_kv_config_of(s);
    const size_t size = file_bytes(cfg), bs = (size_t)cfg->block_size;
    const size_t rows = bs * pa_kv_bytes(cfg->elem_type, cfg->kv_dim); /* one layer's K */
    if (t->max_bytes > 0 && t->counters.bytes + (int64_t)size > t->max_bytes) {
        t->counters.n_refused++; /* full: the block is simply evicted */
        return;
    }
    uint8_t *buf = malloc(size);
    if (!buf) return;
    const tier_header h = header_of(cfg, key, parent_key);
    size_t at = 0;
    memcpy(buf, &h, sizeof h), at += sizeof h;
    memcpy(buf + at, tokens, bs * sizeof *tokens), at += bs * sizeof *tokens;
    for (int l = 0; l < cfg->n_layer; l++) {
        memcpy(buf + at, pa_kv_k(s, block, l, 0), rows), at += rows;
        memcpy(buf + at, pa_kv_v(s, block, l, 0), rows), at += rows;
    }
    const uint64_t sum = XXH3_64bits(buf, at);
    memcpy(buf + at, &sum, sizeof sum);
    /* a temporary name, then rename: a reader never sees half a file */
    char path[4096], tmp[4200];
    path_of(t, key, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    const bool ok = f && fwrite(buf, 1, size, f) == size;
    if (f && fclose(f) != 0) unlink(tmp);
    else if (ok && rename(tmp, path) == 0) {
        t->counters.n_spilled++;
        t->counters.bytes += (int64_t)size;
    } else if (f) {
        unlink(tmp);
    }
    free(buf);
}

int32_t pa_disk_tier_fetch(pa_disk_tier *t, pa_kv_store *s, uint64_t key, uint64_t parent_key,
                           const int32_t *tokens) {
    const pa_kv_config *cfg = pa_kv_config_of(s);
    const size_t size = file_bytes(cfg), bs = (size_t)cfg->block_size;
    const size_t rows = bs * pa_kv_bytes(cfg->elem_type, cfg->kv_dim);
    char path[4096];
    path_of(t, key, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return PA_NO_BLOCK;
    uint8_t *buf = malloc(size + 1);
    const size_t got = buf ? fread(buf, 1, size + 1, f) : 0;
    fclose(f);
    const tier_header want = header_of(cfg, key, parent_key);
    uint64_t sum = 0;
    if (got == size) memcpy(&sum, buf + size - sizeof sum, sizeof sum);
    if (got != size || memcmp(buf, &want, sizeof want) != 0 ||
        memcmp(buf + sizeof want, tokens, bs * sizeof *tokens) != 0 ||
        XXH3_64bits(buf, size - sizeof sum) != sum) {
        t->counters.n_rejected++; /* another layout, other tokens, or damage: compute instead */
        free(buf);
        return PA_NO_BLOCK;
    }
    const int32_t block = pa_kv_alloc(s);
    if (block != PA_NO_BLOCK) {
        size_t at = sizeof want + bs * sizeof *tokens;
        for (int l = 0; l < cfg->n_layer; l++) {
            memcpy(pa_kv_k(s, block, l, 0), buf + at, rows), at += rows;
            memcpy(pa_kv_v(s, block, l, 0), buf + at, rows), at += rows;
        }
        pa_kv_publish(s, block, key, parent_key, tokens);
        pa_kv_note_prefix_hit(s, (int64_t)bs);
        t->counters.n_restored++;
    }
    free(buf);
    return block;
}
