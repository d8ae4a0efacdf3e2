/* What an engine holds, shared by engine.c and agent.c. */
#ifndef PA_ENGINE_INTERNAL_H
#define PA_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "../core/error.h"
#include "../core/threadpool.h"
#include "../kv/cache.h"
#include "../model/arch/llama.h"
#include "../model/model.h"

struct pyagent_engine {
    pa_model *model;
    pa_pool *pool;
    pa_llama_ws *ws;             /* activations: one forward pass at a time */
    pthread_mutex_t forward_lock; /* serializes forward passes (ws and pool are single-use) */
    pthread_mutex_t error_lock;   /* guards last_error against concurrent failures */
    int n_ctx;                   /* per-agent sequence limit */
    int n_batch;                 /* tokens per forward pass */
    uint64_t seed;
    atomic_uint_fast64_t n_agents_created; /* makes default agent seeds differ */

    pyagent_log_fn log_fn;
    void *log_user_data;
    int32_t log_level;
    pa_err last_error;
};

/* True once open succeeded: the model, pool and activations are there. */
bool pa_engine_ready(const pyagent_engine *e);

/* Copies `err` into the engine's last error and returns its status. */
pyagent_status pa_engine_set_error(pyagent_engine *e, const pa_err *err);

void pa_engine_log(pyagent_engine *e, int32_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runs the model over tokens[0..n) at positions pos0.. for one agent's cache, in chunks of
 * n_batch, writing the last token's logits. The cache must hold pos0 + n positions. */
void pa_engine_forward(pyagent_engine *e, pa_kv_cache *kv, const int32_t *tokens, int n, int pos0,
                       float *logits);

#endif
