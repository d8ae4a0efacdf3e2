/*
 * Writes the seed inputs of fuzz_latent into a folder: latent packets of "Once upon a time"
 * (F16 and Q8_0 payloads) and a snapshot of that agent, from stories260K.gguf, a disk-tier
 * block file, a whole-store snapshot, and a 1 x 1 adapter file, each after the fuzzer's mode
 * byte (1: packet, 4: snapshot, 8: tier block, 16: store snapshot, 32: KVzap surrogate,
 * 64: checkpoint, 0: adapter).
 *     build-fuzz/tests/fuzz/make_latent_seeds tests/data/stories260K.gguf tests/fuzz/corpus_latent
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <pyagent/pyagent.h>

static void write_seed(const char *dir, const char *name, unsigned char mode, const void *data,
                       size_t size) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(&mode, 1, 1, f) != 1 || fwrite(data, 1, size, f) != size) abort();
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: make_latent_seeds MODEL.gguf DIR\n");
        return 2;
    }
    pyagent_engine *e = NULL;
    pyagent_agent *a = NULL;
    pyagent_latent_packet *p = NULL;
    if (pyagent_engine_open(argv[1], NULL, &e) || pyagent_agent_create(e, NULL, &a) ||
        pyagent_agent_feed_text(a, "Once upon a time", -1) || pyagent_agent_prefill(a) ||
        pyagent_latent_export(a, 0, -1, &p))
        return 1;
    const int32_t types[] = {PYAGENT_LATENT_F16, PYAGENT_LATENT_Q8_0};
    const char *names[] = {"packet_f16", "packet_q8_0"};
    for (int i = 0; i < 2; i++) {
        size_t size = 0;
        pyagent_latent_packet_serialize(p, types[i], NULL, 0, &size);
        void *buf = malloc(size);
        if (pyagent_latent_packet_serialize(p, types[i], buf, size, &size)) return 1;
        write_seed(argv[2], names[i], 1, buf, size);
        free(buf);
    }
    char snapshot[1024];
    snprintf(snapshot, sizeof snapshot, "%s/.snapshot.tmp", argv[2]);
    if (pyagent_agent_save(a, snapshot)) return 1;
    FILE *f = fopen(snapshot, "rb");
    unsigned char bytes[1 << 16];
    const size_t n_bytes = f ? fread(bytes, 1, sizeof bytes, f) : 0;
    if (f) fclose(f);
    remove(snapshot);
    write_seed(argv[2], "snapshot", 4, bytes, n_bytes);
    /* a checkpoint of two records (the prompt, then one more token): u32 state size, state, log */
    {
        char dir[1024], path[1100];
        snprintf(dir, sizeof dir, "%s/.ckpt", argv[2]);
        if (pyagent_agent_checkpoint(a, dir) || pyagent_agent_feed_text(a, " there", -1) ||
            pyagent_agent_prefill(a) || pyagent_agent_checkpoint(a, dir))
            return 1;
        static unsigned char seed[1 << 17];
        size_t at = 4;
        for (int part = 0; part < 2; part++) {
            snprintf(path, sizeof path, "%s/%s", dir, part ? "kv.1" : "state");
            FILE *in = fopen(path, "rb");
            const size_t got = in ? fread(seed + at, 1, sizeof seed - at, in) : 0;
            if (in) fclose(in);
            if (part == 0) memcpy(seed, &(uint32_t){(uint32_t)got}, 4);
            at += got;
            remove(path);
        }
        rmdir(dir);
        write_seed(argv[2], "checkpoint", 64, seed, at);
    }
    /* a disk-tier block file: the stories engine's first block of the prompt, as spilled */
    {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/.tier", argv[2]);
        mkdir(dir, 0700);
        pyagent_engine *t = NULL;
        pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
        pyagent_params_set_i64(p, "kv_type", PYAGENT_KV_F16);
        pyagent_params_set_i64(p, "n_threads", 1);
        if (pyagent_engine_open(argv[1], p, &t)) return 1;
        pyagent_params_destroy(p);
        pyagent_kv_store_set_disk_tier(pyagent_engine_kv_store(t), dir, 0);
        pyagent_agent *r = NULL;
        pyagent_agent_create(t, NULL, &r);
        pyagent_agent_feed_text(r, "Once upon a time, there was a little girl named Lily. She", -1);
        pyagent_agent_prefill(r);
        char store[1100];
        snprintf(store, sizeof store, "%s/.store.tmp", argv[2]);
        if (pyagent_kv_store_save(pyagent_engine_kv_store(t), store)) return 1;
        FILE *sf = fopen(store, "rb");
        static unsigned char sbytes[1 << 17];
        const size_t n_sbytes = sf ? fread(sbytes, 1, sizeof sbytes, sf) : 0;
        if (sf) fclose(sf);
        remove(store);
        write_seed(argv[2], "store", 16, sbytes, n_sbytes);
        pyagent_agent_destroy(r);
        pyagent_kv_store_drop_cache(pyagent_engine_kv_store(t));
        pyagent_engine_destroy(t);
        char cmd[2200];
        snprintf(cmd, sizeof cmd, "f=$(ls %s/*.kvb | head -n 1) && (printf '\\010'; cat $f) > "
                                  "%s/tier_block && rm -rf %s", dir, argv[2], dir);
        if (system(cmd) != 0) return 1;
    }
    /* adapter.c's layout for dim_in = dim_out = 1: W = 0.5, b = 0.25 */
    unsigned char adapter[104 + 8 + 8] = "PAADAPT1";
    const unsigned int u32[] = {1, 1, 1, 0}; /* version, dim_in, dim_out, reserved */
    const long long n[] = {10, 2};
    const double figures[] = {1.0, 0.5, 0.4, 0.5}; /* ridge, r2 train, r2 held-out, top-1 */
    const unsigned long long fps[] = {1, 2}, payload = 8;
    const float w[] = {0.5f, 0.25f};
    memcpy(adapter + 8, u32, 16);
    memcpy(adapter + 24, n, 16);
    memcpy(adapter + 40, figures, 32);
    memcpy(adapter + 72, fps, 16);
    memcpy(adapter + 88, &payload, 8);
    const unsigned long long header_sum = XXH3_64bits(adapter, 96), w_sum = XXH3_64bits(w, 8);
    memcpy(adapter + 96, &header_sum, 8);
    memcpy(adapter + 104, w, 8);
    memcpy(adapter + 112, &w_sum, 8);
    write_seed(argv[2], "adapter_1x1", 0, adapter, sizeof adapter);
    /* kvzap.c's layout for 1 layer, 1 kv head, width 1: w = 0.5, b = -3 */
    unsigned char kvzap[104 + 8 + 8] = "PAKVZAP1";
    const unsigned int zu32[] = {1, 1, 1, 1, 0, 0}; /* version, layers, kv heads, width, 0, 0 */
    const long long zn[] = {30, 10};               /* positions fitted, held out */
    const double zfig[] = {1.0, 0.3, 0.5};         /* ridge, R^2, top-quarter overlap */
    const unsigned long long zfp = 1, zpayload = 8, ztexts = 4;
    const float zw[] = {0.5f, -3.0f};
    memcpy(kvzap + 8, zu32, 24);
    memcpy(kvzap + 32, zn, 16);
    memcpy(kvzap + 48, zfig, 24);
    memcpy(kvzap + 72, &zfp, 8);
    memcpy(kvzap + 80, &zpayload, 8);
    memcpy(kvzap + 88, &ztexts, 8);
    const unsigned long long zh = XXH3_64bits(kvzap, 96), zs = XXH3_64bits(zw, 8);
    memcpy(kvzap + 96, &zh, 8);
    memcpy(kvzap + 104, zw, 8);
    memcpy(kvzap + 112, &zs, 8);
    write_seed(argv[2], "kvzap_1x1", 32, kvzap, sizeof kvzap);
    pyagent_latent_packet_destroy(p);
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
    return 0;
}
