/*
 * The semantic cache (semantic.h): prompt embeddings, random-hyperplane LSH codes, a ring of
 * entries with a sliding window. A lookup scans the ring's codes (n_tables words per entry)
 * and computes the exact cosine only for entries that share a bucket in some table; with the
 * window capped at max_entries this keeps a lookup to O(entries x tables) word compares.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../engine/engine_internal.h"
#include "semantic_internal.h"

typedef struct entry {
    bool live;
    int64_t seq;     /* put number */
    double t;        /* when it was put (CLOCK_MONOTONIC seconds) */
    float *vec;      /* (d,) unit length */
    uint64_t *codes; /* (n_tables,) */
    char *text;
    size_t len;
} entry;

struct pyagent_semantic_cache {
    pyagent_semantic_config cfg;
    pthread_mutex_t lock;
    int d;                /* embedding width of the entries and hyperplanes, 0 before the first */
    uint64_t fingerprint; /* of the model whose embeddings the entries hold */
    float *planes;        /* (n_tables, n_bits, d) */
    entry *ring;          /* (max_entries,) */
    pyagent_semantic_stats stats;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ----------------------------------------------------------------------------------------- */
/* Hyperplanes and codes                                                                       */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A standard normal value (Box-Muller) from the generator state. */
static float gaussian(uint64_t *state) {
    const double u1 = ((double)(splitmix64(state) >> 11) + 0.5) * 0x1.0p-53;
    const double u2 = (double)(splitmix64(state) >> 11) * 0x1.0p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* Hyperplanes for width d, drawn from the seed (the same seed gives the same codes). */
static bool make_planes(pyagent_semantic_cache *c, int d) {
    const size_t n = (size_t)c->cfg.n_tables * c->cfg.n_bits * (size_t)d;
    float *planes = malloc(n * sizeof *planes);
    if (!planes) return false;
    uint64_t state = c->cfg.seed;
    for (size_t i = 0; i < n; i++) planes[i] = gaussian(&state);
    free(c->planes);
    c->planes = planes;
    c->d = d;
    return true;
}

void pa_semantic_codes(const pyagent_semantic_cache *c, const float *v, uint64_t *codes) {
    const size_t d = (size_t)c->d;
    for (uint32_t t = 0; t < c->cfg.n_tables; t++) {
        uint64_t code = 0;
        for (uint32_t b = 0; b < c->cfg.n_bits; b++) {
            const float *r = c->planes + ((size_t)t * c->cfg.n_bits + b) * d;
            double dot = 0;
            for (size_t j = 0; j < d; j++) dot += (double)r[j] * v[j];
            code |= (uint64_t)(dot >= 0) << b;
        }
        codes[t] = code;
    }
}

pyagent_status pa_semantic_prepare(pyagent_semantic_cache *c, int d) {
    if (c->d == d) return PYAGENT_OK;
    return make_planes(c, d) ? PYAGENT_OK : PYAGENT_ERR_OUT_OF_MEMORY;
}

/* ----------------------------------------------------------------------------------------- */
/* Life                                                                                        */

pyagent_status pyagent_semantic_cache_create(const pyagent_semantic_config *config,
                                             pyagent_semantic_cache **cache) {
    if (!cache) return PYAGENT_ERR_INVALID_ARGUMENT;
    *cache = NULL;
    pyagent_semantic_config cfg = {.struct_size = sizeof cfg};
    if (config) {
        if (config->struct_size < sizeof(uint32_t)) return PYAGENT_ERR_INVALID_ARGUMENT;
        memcpy(&cfg, config, config->struct_size < sizeof cfg ? config->struct_size : sizeof cfg);
    }
    if (!cfg.n_bits) cfg.n_bits = 12;
    if (!cfg.n_tables) cfg.n_tables = 16;
    if (cfg.threshold == 0) cfg.threshold = 0.95;
    if (!cfg.max_entries) cfg.max_entries = 1000;
    if (cfg.max_age_s == 0) cfg.max_age_s = 3600;
    if (!cfg.seed) cfg.seed = 0x5e3a471cull;
    if (cfg.n_bits > 64 || cfg.n_tables > 64 || !(cfg.threshold > 0 && cfg.threshold <= 1) ||
        cfg.max_entries < 1 || cfg.max_entries > (1 << 24) || !(cfg.max_age_s > 0))
        return PYAGENT_ERR_OUT_OF_RANGE;
    cfg.struct_size = sizeof cfg;
    pyagent_semantic_cache *c = calloc(1, sizeof *c);
    if (c) c->ring = calloc((size_t)cfg.max_entries, sizeof *c->ring);
    if (!c || !c->ring) {
        free(c);
        return PYAGENT_ERR_OUT_OF_MEMORY;
    }
    c->cfg = cfg;
    c->stats.struct_size = sizeof c->stats;
    pthread_mutex_init(&c->lock, NULL);
    *cache = c;
    return PYAGENT_OK;
}

static void drop(pyagent_semantic_cache *c, entry *e) {
    free(e->vec);
    free(e->codes);
    free(e->text);
    *e = (entry){0};
    c->stats.n_entries--;
    c->stats.n_expired++;
}

void pyagent_semantic_cache_destroy(pyagent_semantic_cache *cache) {
    if (!cache) return;
    for (int64_t i = 0; i < cache->cfg.max_entries; i++)
        if (cache->ring[i].live) drop(cache, &cache->ring[i]);
    pthread_mutex_destroy(&cache->lock);
    free(cache->ring);
    free(cache->planes);
    free(cache);
}

pyagent_status pyagent_semantic_cache_stats_get(const pyagent_semantic_cache *cache,
                                                pyagent_semantic_stats *stats) {
    if (!cache || !stats || stats->struct_size < sizeof(uint32_t))
        return PYAGENT_ERR_INVALID_ARGUMENT;
    pyagent_semantic_cache *c = (pyagent_semantic_cache *)cache;
    pthread_mutex_lock(&c->lock);
    const pyagent_semantic_stats full = c->stats;
    pthread_mutex_unlock(&c->lock);
    const uint32_t asked = stats->struct_size;
    memcpy(stats, &full, asked < sizeof full ? asked : sizeof full);
    stats->struct_size = asked;
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Lookups                                                                                     */

/* The prompt's unit-length embedding, by `engine` (its errors are on the engine). */
static pyagent_status embed(pyagent_engine *engine, const char *prompt, int64_t len, float **out,
                            int *d) {
    int64_t width = 0;
    pyagent_status st = pyagent_engine_info(engine, "n_embd", &width);
    if (st) return st;
    float *v = malloc((size_t)width * sizeof *v);
    if (!v) return PYAGENT_ERR_OUT_OF_MEMORY;
    size_t n = 0;
    if ((st = pyagent_engine_embed_text(engine, prompt, len, v, (size_t)width, &n))) {
        free(v);
        return st;
    }
    double norm = 0;
    for (int64_t j = 0; j < width; j++) norm += (double)v[j] * v[j];
    const float inv = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
    for (int64_t j = 0; j < width; j++) v[j] *= inv;
    *out = v;
    *d = (int)width;
    return PYAGENT_OK;
}

/* Under the lock: drops what the window left behind, and everything when the model changed. */
static pyagent_status expire(pyagent_semantic_cache *c, uint64_t fingerprint, int d) {
    const double now = now_s();
    const bool other_model = c->stats.n_entries > 0 && (c->fingerprint != fingerprint || c->d != d);
    for (int64_t i = 0; i < c->cfg.max_entries; i++) {
        entry *e = &c->ring[i];
        if (e->live && (other_model || now - e->t > c->cfg.max_age_s)) drop(c, e);
    }
    c->fingerprint = fingerprint;
    return pa_semantic_prepare(c, d);
}

pyagent_status pyagent_semantic_cache_get(pyagent_semantic_cache *cache, pyagent_engine *engine,
                                          const char *prompt, int64_t prompt_len, int32_t *hit,
                                          char *completion, size_t capacity,
                                          size_t *completion_len, double *similarity) {
    if (!cache || !pa_engine_ready(engine) || !hit || !completion_len ||
        (!completion && capacity > 0))
        return PYAGENT_ERR_INVALID_ARGUMENT;
    *hit = 0;
    *completion_len = 0;
    float *v = NULL;
    int d = 0;
    pyagent_status st = embed(engine, prompt, prompt_len, &v, &d);
    if (st) return st;
    pyagent_semantic_cache *c = cache;
    pthread_mutex_lock(&c->lock);
    st = expire(c, engine->model->fingerprint, d);
    uint64_t codes[64];
    const entry *best = NULL;
    double best_sim = -2;
    if (!st) {
        pa_semantic_codes(c, v, codes);
        for (int64_t i = 0; i < c->cfg.max_entries; i++) {
            const entry *e = &c->ring[i];
            bool candidate = false;
            for (uint32_t t = 0; e->live && t < c->cfg.n_tables && !candidate; t++)
                candidate = e->codes[t] == codes[t];
            if (!candidate) continue;
            c->stats.n_compared++;
            double sim = 0;
            for (int j = 0; j < d; j++) sim += (double)e->vec[j] * v[j];
            if (sim >= c->cfg.threshold && (sim > best_sim || (sim == best_sim && e->seq > best->seq))) {
                best = e;
                best_sim = sim;
            }
        }
        if (best) {
            *hit = 1;
            *completion_len = best->len;
            if (similarity) *similarity = best_sim;
            if (capacity < best->len) st = PYAGENT_ERR_BUFFER_TOO_SMALL;
            else memcpy(completion, best->text, best->len);
            c->stats.n_hits++;
        } else {
            c->stats.n_misses++;
        }
    }
    pthread_mutex_unlock(&c->lock);
    free(v);
    return st;
}

pyagent_status pyagent_semantic_cache_put(pyagent_semantic_cache *cache, pyagent_engine *engine,
                                          const char *prompt, int64_t prompt_len,
                                          const char *completion, int64_t completion_len) {
    if (!cache || !pa_engine_ready(engine) || (!completion && completion_len != 0) ||
        completion_len < -1)
        return PYAGENT_ERR_INVALID_ARGUMENT;
    const size_t len = completion_len < 0 ? strlen(completion) : (size_t)completion_len;
    float *v = NULL;
    int d = 0;
    pyagent_status st = embed(engine, prompt, prompt_len, &v, &d);
    if (st) return st;
    pyagent_semantic_cache *c = cache;
    pthread_mutex_lock(&c->lock);
    st = expire(c, engine->model->fingerprint, d);
    entry *e = &c->ring[c->stats.n_puts % c->cfg.max_entries]; /* the oldest put's place */
    if (!st && e->live) drop(c, e);
    uint64_t *codes = st ? NULL : malloc(c->cfg.n_tables * sizeof *codes);
    char *text = st ? NULL : malloc(len + 1);
    if (!st && (!codes || !text)) st = PYAGENT_ERR_OUT_OF_MEMORY;
    if (!st) {
        pa_semantic_codes(c, v, codes);
        memcpy(text, completion, len);
        *e = (entry){true, c->stats.n_puts, now_s(), v, codes, text, len};
        v = NULL;
        codes = NULL;
        text = NULL;
        c->stats.n_puts++;
        c->stats.n_entries++;
    }
    pthread_mutex_unlock(&c->lock);
    free(v), free(codes), free(text);
    return st;
}
