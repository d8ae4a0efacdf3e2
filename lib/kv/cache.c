#include "cache.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CAPACITY 64

pyagent_status pa_kv_init(pa_kv_cache *kv, int n_layer, int kv_dim, pa_err *err) {
    memset(kv, 0, sizeof *kv);
    kv->n_layer = n_layer;
    kv->kv_dim = kv_dim;
    kv->k = calloc((size_t)n_layer, sizeof *kv->k);
    kv->v = calloc((size_t)n_layer, sizeof *kv->v);
    if (!kv->k || !kv->v) {
        pa_kv_free(kv);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "KV cache: out of memory");
    }
    return PYAGENT_OK;
}

pyagent_status pa_kv_reserve(pa_kv_cache *kv, int n_positions, int max_positions, pa_err *err) {
    if (n_positions <= kv->capacity) return PYAGENT_OK;
    int capacity = kv->capacity ? kv->capacity : MIN_CAPACITY;
    while (capacity < n_positions) capacity *= 2;
    if (capacity > max_positions) capacity = max_positions;
    size_t bytes = (size_t)capacity * (size_t)kv->kv_dim * sizeof(float);
    for (int l = 0; l < kv->n_layer; l++) {
        float *k = realloc(kv->k[l], bytes);
        if (k) kv->k[l] = k;
        float *v = k ? realloc(kv->v[l], bytes) : NULL;
        if (v) kv->v[l] = v;
        if (!k || !v)
            return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY,
                           "KV cache: out of memory growing to %d positions", capacity);
    }
    kv->capacity = capacity;
    return PYAGENT_OK;
}

void pa_kv_free(pa_kv_cache *kv) {
    for (int l = 0; kv->k && l < kv->n_layer; l++) free(kv->k[l]);
    for (int l = 0; kv->v && l < kv->n_layer; l++) free(kv->v[l]);
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}
