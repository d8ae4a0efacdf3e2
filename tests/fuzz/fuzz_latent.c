/*
 * libFuzzer target for the latent link's readers of outside bytes: latent packets (read
 * against stories260K.gguf's model, then imported into an empty agent), agent snapshots and
 * adapter and KVzap surrogate files.
 *
 * The first input byte picks the reader (bit 0: packet, else bit 2: snapshot, else bit 3: a
 * KV disk-tier block file, read back under the key, parent and ids its header and body name,
 * else bit 4: a whole-store snapshot, else bit 5: a KVzap surrogate, else bit 6: a checkpoint
 * -- a u32 state size, the state, then the log --, else adapter) and whether to repair the
 * checksums of a packet, an adapter, a surrogate or a checkpoint first (bit 1), so that
 * mutations reach the checks behind them; the rest is the file. Whatever the bytes, a reader
 * returns a status and a message; it never crashes.
 *
 *     PYAGENT_TEST_DATA=tests/data build-fuzz/tests/fuzz/fuzz_latent -max_total_time=60 \
 *         corpus_copy/ tests/fuzz/corpus_latent/
 * Seeds: tests/fuzz/corpus_latent (F16 and Q8_0 packets and a snapshot of an agent fed "Once
 * upon a time", a disk-tier block file, a 1 x 1 adapter and KVzap surrogate), written by
 * tests/fuzz/make_latent_seeds.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "engine/engine_internal.h"
#include "latent/latent_internal.h"

static pyagent_engine *engine;
static pyagent_agent *agent;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("PYAGENT_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/stories260K.gguf", dir && *dir ? dir : "tests/data");
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_threads", 1);
    pyagent_params_set_i64(p, "kv_type", PYAGENT_KV_F16);
    if (pyagent_engine_open(path, p, &engine) || pyagent_agent_create(engine, NULL, &agent)) {
        fprintf(stderr, "fuzz_latent: %s (set PYAGENT_TEST_DATA)\n",
                pyagent_engine_last_error(engine));
        abort();
    }
    pyagent_params_destroy(p);
    return 0;
}

static uint64_t u64_at(const uint8_t *b, size_t at) {
    uint64_t v;
    memcpy(&v, b + at, 8);
    return v;
}

/* Sets the 8 bytes at `at` to the XXH3 of [from, at), when they are inside the buffer. */
static void fix_sum(uint8_t *b, size_t size, size_t from, size_t at) {
    if (at < from || at > size || size - at < 8) return;
    const uint64_t sum = XXH3_64bits(b + from, at - from);
    memcpy(b + at, &sum, 8);
}

/* Packet layout (packet.c): header of 56 bytes + its sum; tokens + sum; per layer K, V + sum. */
static void fix_packet(uint8_t *b, size_t size) {
    if (size < 64) return;
    fix_sum(b, size, 0, 56);
    uint32_t n_layer, kv_dim, type;
    memcpy(&n_layer, b + 16, 4);
    memcpy(&kv_dim, b + 20, 4);
    memcpy(&type, b + 24, 4);
    const uint64_t n = u64_at(b, 40) - u64_at(b, 32);
    if (n > size || kv_dim > size || n_layer > 64) return;
    size_t at = 64;
    fix_sum(b, size, at, at + n * 4);
    at += n * 4 + 8;
    const size_t row = type == PYAGENT_LATENT_Q8_0 ? (kv_dim + 31) / 32 * 34
                       : type == PYAGENT_LATENT_F32 ? kv_dim * 4
                                                    : kv_dim * 2;
    for (uint32_t l = 0; l < n_layer && at < size; l++, at += 2 * n * row + 8)
        fix_sum(b, size, at, at + 2 * n * row);
}

/* Adapter and KVzap layouts (adapter.c, kvzap.c): header of 96 bytes + its sum; payload + sum.
 * The payload size is at 88 in an adapter's header, at 80 in a surrogate's. */
static void fix_file(uint8_t *b, size_t size, size_t payload_at) {
    if (size < 104) return;
    fix_sum(b, size, 0, 96);
    const uint64_t payload = u64_at(b, payload_at);
    if (payload <= size) fix_sum(b, size, 104, 104 + payload);
}

/* Checkpoint layout (checkpoint.c): the state's header of 72 bytes + its sum; the log's
 * records {u64 size, a packet}. */
static void fix_checkpoint(uint8_t *state, size_t state_size, uint8_t *log, size_t log_size) {
    fix_sum(state, state_size, 0, 72);
    for (size_t at = 0; log_size - at >= 8;) {
        const uint64_t n = u64_at(log, at);
        if (n > log_size - at - 8) break;
        fix_packet(log + at + 8, (size_t)n);
        at += 8 + (size_t)n;
    }
}

static char tier_dir[64];
static void remove_tier_dir(void) { rmdir(tier_dir); }

/* Writes the bytes where the disk tier looks for the block their header names, and asks the
 * tier for it (with the ids the file claims, so that a well-formed file gets to the rows). */
static void read_tier_file(const uint8_t *b, size_t size) {
    char *dir = tier_dir;
    static pa_tier *tier;
    pa_err err = {0};
    if (!tier) {
        snprintf(dir, sizeof tier_dir, "/tmp/pyagent-fuzz-tier-%d", (int)getpid());
        mkdir(dir, 0700);
        if (pa_tier_open_disk(dir, 0, &tier, &err)) abort();
        atexit(remove_tier_dir);
    }
    const size_t header = 48, bs = 16; /* tier.c: magic, 6 x u32, key, parent key */
    if (size < header + bs * 4) return;
    uint64_t key, parent;
    memcpy(&key, b + 32, 8);
    memcpy(&parent, b + 40, 8);
    int32_t ids[16];
    memcpy(ids, b + header, sizeof ids);
    char path[128];
    snprintf(path, sizeof path, "%s/%016llx.kvb", dir, (unsigned long long)key);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(b, 1, size, f);
    fclose(f);
    pthread_mutex_lock(&engine->lock);
    const int32_t block = pa_tier_fetch(tier, engine->kv, key, parent, ids);
    if (block != PA_NO_BLOCK) pa_kv_release(engine->kv, block);
    pa_kv_drop_cache(engine->kv);
    pthread_mutex_unlock(&engine->lock);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t mode = data[0];
    uint8_t *b = malloc(size);
    memcpy(b, data + 1, size - 1);
    size--;
    pa_err err = {0};
    if (mode & 1) {
        if (mode & 2) fix_packet(b, size);
        pyagent_latent_packet *p = NULL;
        if (pa_latent_parse(engine, b, size, &p, &err) == PYAGENT_OK) {
            pyagent_latent_import(agent, p); /* may refuse (a prefix it lacks): not a crash */
            pyagent_agent_reset(agent);
            pyagent_latent_packet_destroy(p);
        } else if (!err.msg[0]) {
            abort(); /* a refusal without a message */
        }
    } else if (mode & 8) {
        read_tier_file(b, size);
    } else if (mode & 16) {
        int64_t n = 0;
        if (pa_kv_store_restore(engine, b, size, &n, &err) != PYAGENT_OK && !err.msg[0]) abort();
        pthread_mutex_lock(&engine->lock);
        pa_kv_drop_cache(engine->kv);
        pthread_mutex_unlock(&engine->lock);
    } else if (mode & 64) {
        uint32_t state_size = 0;
        if (size >= 4) memcpy(&state_size, b, 4);
        if (size >= 4 && state_size <= size - 4) {
            if (mode & 2) fix_checkpoint(b + 4, state_size, b + 4 + state_size, size - 4 - state_size);
            pyagent_agent *restored = NULL;
            if (pa_checkpoint_restore(engine, b + 4, state_size, b + 4 + state_size,
                                      size - 4 - state_size, &restored, &err) == PYAGENT_OK)
                pyagent_agent_destroy(restored);
            else if (!err.msg[0])
                abort();
        }
    } else if (mode & 32) {
        if (mode & 2) fix_file(b, size, 80);
        pa_kvzap *zap = NULL;
        if (pa_kvzap_parse(b, size, &zap, &err) == PYAGENT_OK) pa_kvzap_free(zap);
        else if (!err.msg[0]) abort();
    } else if (mode & 4) {
        pyagent_agent *restored = NULL;
        if (pa_snapshot_restore(engine, b, size, &restored, &err) == PYAGENT_OK)
            pyagent_agent_destroy(restored);
        else if (!err.msg[0])
            abort();
    } else {
        if (mode & 2) fix_file(b, size, 88);
        pyagent_adapter *a = NULL;
        if (pa_adapter_parse(b, size, &a, &err) == PYAGENT_OK) {
            pyagent_adapter_info info = {.struct_size = sizeof info};
            pyagent_adapter_info_get(a, &info);
            float *h = calloc((size_t)info.dim_in, sizeof *h);
            float *rows = malloc((size_t)info.dim_out * sizeof *rows);
            pyagent_adapter_apply(a, h, 1, rows, (size_t)info.dim_out);
            free(h), free(rows);
            pyagent_adapter_destroy(a);
        } else if (!err.msg[0]) {
            abort();
        }
    }
    free(b);
    return 0;
}
