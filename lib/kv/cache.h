/*
 * One agent's KV cache: for each layer, the keys and values of every computed position,
 * (capacity, kv_dim) f32, row = position. It grows by doubling up to the engine's n_ctx, so an
 * agent with a short conversation holds little memory. (The paged, shared store of DESIGN §7
 * replaces this with block tables.)
 */
#ifndef PA_KV_CACHE_H
#define PA_KV_CACHE_H

#include "../core/error.h"

typedef struct pa_kv_cache {
    int n_layer;
    int kv_dim;   /* n_head_kv * head_dim */
    int capacity; /* positions allocated per layer */
    float **k;    /* [n_layer] -> (capacity, kv_dim) */
    float **v;
} pa_kv_cache;

pyagent_status pa_kv_init(pa_kv_cache *kv, int n_layer, int kv_dim, pa_err *err);
/* Makes room for positions [0, n_positions), growing by doubling but never past max_positions
 * (>= n_positions). */
pyagent_status pa_kv_reserve(pa_kv_cache *kv, int n_positions, int max_positions, pa_err *err);
void pa_kv_free(pa_kv_cache *kv);

#endif
