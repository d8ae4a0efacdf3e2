/*
 * The engine: a loaded model, a worker pool, the activation buffers and the KV store, shared by
 * its agents; the scheduler (scheduler.c) runs their requests in steps. The model and tokenizer
 * are immutable after open, so tokenize/detokenize/info need no lock.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#include "../core/params.h"
#include "../core/versioned.h"
#include "engine_internal.h"

typedef struct engine_with_store {
    pyagent_engine engine;
    struct pyagent_kv_store store;
} engine_with_store;

#define MIN_DEFAULT_CTX 512
#define MAX_DEFAULT_CTX 32768 /* a default, not a limit: set n_ctx for more */

/* Each thread keeps its own last failure, so that pyagent_engine_last_error hands it a message
 * no other thread writes while it reads (engines are shared by threads; the message of one
 * thread's failure must not be torn by another's). `engine` is the engine's serial, not its
 * address, which a later engine may reuse. */
static _Thread_local struct {
    uint64_t engine; /* 0: none */
    char msg[PA_ERR_MSG_SIZE];
} thread_error;
static _Thread_local char thread_copy[PA_ERR_MSG_SIZE]; /* of another thread's failure */

static atomic_uint_fast64_t engine_serials;

pyagent_status pa_engine_set_error(pyagent_engine *e, const pa_err *err) {
    pthread_mutex_lock(&e->error_lock);
    e->last_error = *err;
    pthread_mutex_unlock(&e->error_lock);
    thread_error.engine = e->serial;
    memcpy(thread_error.msg, err->msg, sizeof thread_error.msg);
    pa_engine_log(e, PYAGENT_LOG_DEBUG, "error: %s", err->msg);
    return err->status;
}

static const char *level_name(int32_t level) {
    static const char *names[] = {"debug", "info", "warning", "error"};
    return level >= 0 && level <= PYAGENT_LOG_ERROR ? names[level] : "log";
}

void pa_engine_log(pyagent_engine *e, int32_t level, const char *fmt, ...) {
    if (level < e->log_level) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (e->log_fn) e->log_fn(e->log_user_data, level, line);
    else fprintf(stderr, "pyagent: %s: %s\n", level_name(level), line);
}

/* The block pool: kv_bytes / block bytes blocks (kv_bytes 0: one full sequence's worth). */
static pyagent_status create_kv_store(pyagent_engine *e, const pyagent_params *p, pa_err *err) {
    const int32_t K = PYAGENT_PARAMS_ENGINE;
    const pa_hparams *hp = &e->model->hp;
    pa_kv_config cfg = {
        .n_layer = hp->n_layer,
        .kv_dim = hp->n_head_kv * hp->head_dim,
        .block_size = (int)pa_params_i64(p, K, PA_ENGINE_KV_BLOCK_SIZE),
        .elem_type = (int)pa_params_i64(p, K, PA_ENGINE_KV_TYPE), /* PYAGENT_KV_* = PA_KV_* */
        .model_fingerprint = e->model->fingerprint,
    };
    if (cfg.elem_type == PA_KV_Q8_0 && (cfg.kv_dim % PA_KV_Q8_BLOCK != 0 || hp->head_dim % 8))
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                       "kv_type Q8_0 needs K/V rows that are a multiple of 32 values and heads "
                       "of a multiple of 8 (this model's: %d and %d)",
                       cfg.kv_dim, hp->head_dim);
    if (cfg.elem_type == PA_KV_Q8_0 && pa_params_i64(p, K, PA_ENGINE_BACKEND) != PYAGENT_BACKEND_CPU)
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED, "kv_type Q8_0 runs on the CPU backend only");
    const int64_t per_sequence = (e->n_ctx + cfg.block_size - 1) / cfg.block_size;
    const int64_t budget = pa_params_i64(p, K, PA_ENGINE_KV_BYTES);
    cfg.n_blocks = budget ? budget / (int64_t)pa_kv_block_bytes(&cfg) : per_sequence;
    if (cfg.n_blocks < 1)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "kv_bytes = %lld holds no block (one block takes %zu bytes)",
                       (long long)budget, pa_kv_block_bytes(&cfg));
    e->prefix_cache = pa_params_i64(p, K, PA_ENGINE_PREFIX_CACHE) != 0;
    return pa_kv_store_create(&cfg, &e->kv, err);
}

static pyagent_status open_model(pyagent_engine *e, const char *path, const pyagent_params *p,
                                 pa_err *err) {
    const int32_t K = PYAGENT_PARAMS_ENGINE;
    pyagent_status st;
    if ((st = pa_params_check_kind(p, K, err))) return st;
    e->log_level = (int32_t)pa_params_i64(p, K, PA_ENGINE_LOG_LEVEL);
    e->seed = (uint64_t)pa_params_i64(p, K, PA_ENGINE_SEED);
    if (!path) return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "model path is NULL");
    e->huge_pages = pa_params_i64(p, K, PA_ENGINE_HUGE_PAGES) != 0;
    e->top_candidates = pa_params_i64(p, K, PA_ENGINE_TOP_CANDIDATES) != 0;
    if ((st = pa_model_load(path, e->huge_pages, &e->model, err))) return st;

    const pa_hparams *hp = &e->model->hp;
    int64_t n_ctx = pa_params_i64(p, K, PA_ENGINE_N_CTX);
    if (n_ctx == 0) /* the file's training context, within [MIN_DEFAULT_CTX, MAX_DEFAULT_CTX] */
        n_ctx = hp->n_ctx_train < MIN_DEFAULT_CTX   ? MIN_DEFAULT_CTX
                : hp->n_ctx_train > MAX_DEFAULT_CTX ? MAX_DEFAULT_CTX
                                                    : hp->n_ctx_train;
    int64_t n_batch = pa_params_i64(p, K, PA_ENGINE_N_BATCH);
    e->n_ctx = (int)n_ctx;
    e->n_batch = (int)(n_batch < n_ctx ? n_batch : n_ctx);

    if ((st = pa_pool_create((int)pa_params_i64(p, K, PA_ENGINE_N_THREADS), &e->pool, err)) ||
        (st = create_kv_store(e, p, err)) ||
        (st = pa_llama_ws_create(e->model, e->n_batch, e->n_ctx, pa_pool_size(e->pool), &e->ws,
                                 err)))
        return st;
    /* backend cuda: weights and the KV pool on the device, steps through pa_cuda_forward */
    if (pa_params_i64(p, K, PA_ENGINE_BACKEND) == PYAGENT_BACKEND_CUDA &&
        (st = pa_cuda_open(e->model, e->kv, (int)pa_params_i64(p, K, PA_ENGINE_DEVICE),
                           e->n_batch, &e->cuda, err)))
        return st;
    e->batch = calloc((size_t)e->n_batch, sizeof *e->batch);
    e->batch_agents = calloc((size_t)e->n_batch, sizeof *e->batch_agents);
    if (!e->batch || !e->batch_agents)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    pa_engine_log(e, PYAGENT_LOG_INFO,
                  "%s: llama, %" PRId64 " parameters, n_embd %d, %d layers, %d heads (%d kv), "
                  "vocab %d; n_ctx %d, n_batch %d, %d threads",
                  path, e->model->n_params, hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv,
                  hp->n_vocab, e->n_ctx, e->n_batch, pa_pool_size(e->pool));
    return PYAGENT_OK;
}

pyagent_status pyagent_engine_open(const char *path, const pyagent_params *params,
                                   pyagent_engine **engine) {
    if (!engine) return PYAGENT_ERR_INVALID_ARGUMENT;
    engine_with_store *both = calloc(1, sizeof *both);
    pyagent_engine *e = both ? &both->engine : NULL;
    *engine = e;
    if (!e) return PYAGENT_ERR_OUT_OF_MEMORY;
    both->store.engine = e;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->stepped, NULL);
    pthread_cond_init(&e->work, NULL);
    pthread_mutex_init(&e->error_lock, NULL);
    e->serial = atomic_fetch_add(&engine_serials, 1) + 1;
    e->log_level = PYAGENT_LOG_WARN;
    pa_err err = {0};
    pyagent_status st = open_model(e, path, params, &err);
    if (st) return pa_engine_set_error(e, &err);
    return PYAGENT_OK;
}

void pyagent_engine_destroy(pyagent_engine *engine) {
    if (!engine) return;
    pyagent_engine_stop(engine);
    pthread_mutex_lock(&engine->lock);
    const bool agents_live = engine->n_agents > 0 || engine->n_packets > 0;
    engine->zombie = agents_live;
    pthread_mutex_unlock(&engine->lock);
    if (!agents_live) pa_engine_free(engine);
}

void pa_engine_free(pyagent_engine *engine) {
    pa_drafter_free(engine->draft);
    pa_drafter_free(engine->self_draft);
    pa_kvzap_free(engine->kvzap);
    free(engine->batch);
    free(engine->batch_agents);
    pa_llama_ws_free(engine->ws);
    pa_cuda_free(engine->cuda); /* before the store it mirrors */
    pa_kv_store_free(engine->kv);
    pa_tier_free(engine->host);
    pa_tier_free(engine->disk);
    pa_tier_free(engine->redis);
    pa_pool_free(engine->pool);
    pa_model_free(engine->model);
    pthread_mutex_destroy(&engine->lock);
    pthread_cond_destroy(&engine->stepped);
    pthread_cond_destroy(&engine->work);
    pthread_mutex_destroy(&engine->error_lock);
    free(engine); /* the engine is the first member of engine_with_store */
}

const char *pyagent_engine_last_error(const pyagent_engine *engine) {
    if (!engine) return "";
    if (thread_error.engine == engine->serial) return thread_error.msg;
    pthread_mutex_lock((pthread_mutex_t *)&engine->error_lock);
    memcpy(thread_copy, engine->last_error.msg, sizeof thread_copy);
    pthread_mutex_unlock((pthread_mutex_t *)&engine->error_lock);
    return thread_copy;
}

pyagent_status pyagent_engine_set_log(pyagent_engine *engine, int32_t min_level,
                                      pyagent_log_fn fn, void *user_data) {
    if (!engine) return PYAGENT_ERR_INVALID_ARGUMENT;
    if (min_level < PYAGENT_LOG_DEBUG || min_level > PYAGENT_LOG_NONE) {
        pa_err err;
        pa_fail(&err, PYAGENT_ERR_OUT_OF_RANGE, "log level %" PRId32 " is out of range [0, 4]",
                min_level);
        return pa_engine_set_error(engine, &err);
    }
    engine->log_level = min_level;
    engine->log_fn = fn;
    engine->log_user_data = user_data;
    return PYAGENT_OK;
}

bool pa_engine_ready(const pyagent_engine *e) { return e && e->model && e->ws && e->batch_agents; }

/* Fails on an engine whose open failed, so later calls say why instead of crashing. */
static pyagent_status check_ready(const pyagent_engine *e) {
    return pa_engine_ready(e) ? PYAGENT_OK : PYAGENT_ERR_INVALID_ARGUMENT;
}

pyagent_status pyagent_engine_info(const pyagent_engine *engine, const char *key,
                                   int64_t *value) {
    pyagent_status st = check_ready(engine);
    if (st) return st;
    if (!key || !value) return PYAGENT_ERR_INVALID_ARGUMENT;
    const pa_hparams *hp = &engine->model->hp;
    const pa_tokenizer *tok = engine->model->tokenizer;
    const struct {
        const char *key;
        int64_t value;
    } facts[] = {
        {"n_vocab", hp->n_vocab},         {"n_ctx", engine->n_ctx},
        {"n_ctx_train", hp->n_ctx_train}, {"n_embd", hp->n_embd},
        {"n_layer", hp->n_layer},         {"n_head", hp->n_head},
        {"n_head_kv", hp->n_head_kv},     {"n_ff", hp->n_ff},
        {"n_batch", engine->n_batch},     {"n_threads", pa_pool_size(engine->pool)},
        {"token_bos", pa_tokenizer_bos(tok)}, {"token_eos", pa_tokenizer_eos(tok)},
        {"n_params", engine->model->n_params},
        {"n_tensors", (int64_t)gguf_n_tensors(engine->model->gguf)},
    };
    for (size_t i = 0; i < sizeof facts / sizeof *facts; i++) {
        if (strcmp(facts[i].key, key) == 0) {
            *value = facts[i].value;
            return PYAGENT_OK;
        }
    }
    pa_err err;
    pa_fail(&err, PYAGENT_ERR_UNKNOWN_KEY, "unknown engine info key '%.64s'", key);
    return pa_engine_set_error((pyagent_engine *)engine, &err);
}

pyagent_status pyagent_engine_meta_str(const pyagent_engine *engine, const char *key,
                                       char *value, size_t capacity, size_t *needed) {
    pyagent_status st = check_ready(engine);
    if (st) return st;
    pa_err err = {0};
    if (!key || !needed || (!value && capacity > 0)) {
        pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "meta_str: NULL argument");
        return pa_engine_set_error((pyagent_engine *)engine, &err);
    }
    const gguf_kv *kv = gguf_find_kv(engine->model->gguf, key);
    if (!kv)
        pa_fail(&err, PYAGENT_ERR_UNKNOWN_KEY, "the model has no metadata key '%.64s'", key);
    else if (kv->type != GGUF_TYPE_STRING)
        pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "metadata key '%.64s' is not a string", key);
    if (err.status) return pa_engine_set_error((pyagent_engine *)engine, &err);
    const gguf_str s = kv->v.str;
    *needed = (size_t)s.len + 1;
    if (capacity < *needed) {
        pa_fail(&err, PYAGENT_ERR_BUFFER_TOO_SMALL,
                "metadata '%.64s' needs %zu bytes, capacity is %zu", key, *needed, capacity);
        return pa_engine_set_error((pyagent_engine *)engine, &err);
    }
    memcpy(value, s.data, (size_t)s.len);
    value[s.len] = '\0';
    return PYAGENT_OK;
}

pyagent_status pyagent_engine_tokenize(pyagent_engine *engine, const char *text,
                                       int64_t text_len, int32_t flags, int32_t *tokens,
                                       size_t capacity, size_t *n_tokens) {
    pyagent_status st = check_ready(engine);
    if (st) return st;
    pa_err err = {0};
    if (!n_tokens || (!text && text_len != 0) || (!tokens && capacity > 0) || text_len < -1) {
        pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "tokenize: NULL or negative argument");
        return pa_engine_set_error(engine, &err);
    }
    size_t len = text_len < 0 ? strlen(text) : (size_t)text_len;
    unsigned tflags = ((flags & PYAGENT_TOKENIZE_ADD_SPECIAL) ? PA_ENCODE_ADD_SPECIAL : 0) |
                      ((flags & PYAGENT_TOKENIZE_PARSE_SPECIAL) ? PA_ENCODE_PARSE_SPECIAL : 0);
    int32_t *ids = NULL;
    size_t n = 0;
    st = pa_tokenizer_encode(engine->model->tokenizer, text ? text : "", len, tflags, &ids, &n,
                             &err);
    if (st) return pa_engine_set_error(engine, &err);
    *n_tokens = n;
    if (n > capacity) {
        free(ids);
        pa_fail(&err, PYAGENT_ERR_BUFFER_TOO_SMALL, "tokenize: %zu tokens do not fit in %zu", n,
                capacity);
        return pa_engine_set_error(engine, &err);
    }
    if (n) memcpy(tokens, ids, n * sizeof *ids);
    free(ids);
    return PYAGENT_OK;
}

pyagent_status pyagent_engine_detokenize(pyagent_engine *engine, const int32_t *tokens,
                                         size_t n_tokens, int32_t flags, char *text,
                                         size_t capacity, size_t *text_len) {
    pyagent_status st = check_ready(engine);
    if (st) return st;
    pa_err err = {0};
    if (!text_len || (!tokens && n_tokens > 0) || (!text && capacity > 0)) {
        pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "detokenize: NULL argument");
        return pa_engine_set_error(engine, &err);
    }
    unsigned dflags = ((flags & PYAGENT_DETOKENIZE_SPECIAL) ? PA_DECODE_SPECIAL : 0) |
                      ((flags & PYAGENT_DETOKENIZE_STRIP_LEADING_SPACE)
                           ? PA_DECODE_STRIP_LEADING_SPACE
                           : 0);
    st = pa_tokenizer_decode(engine->model->tokenizer, tokens, n_tokens, dflags, text, capacity,
                             text_len, &err);
    return st ? pa_engine_set_error(engine, &err) : PYAGENT_OK;
}

pyagent_status pyagent_engine_tensor(pyagent_engine *engine, int64_t index,
                                     pyagent_tensor_info *info) {
    pyagent_status st = check_ready(engine);
    if (st) return st;
    pa_err err = {0};
    if (!info || info->struct_size < sizeof(uint32_t)) {
        pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "tensor: NULL info or struct_size 0");
        return pa_engine_set_error(engine, &err);
    }
    const size_t n = gguf_n_tensors(engine->model->gguf);
    if (index < 0 || (uint64_t)index >= n) {
        pa_fail(&err, PYAGENT_ERR_OUT_OF_RANGE, "tensor %lld: the model has %zu tensors",
                (long long)index, n);
        return pa_engine_set_error(engine, &err);
    }
    const gguf_tensor *t = gguf_tensor_at(engine->model->gguf, (size_t)index);
    pyagent_tensor_info full = {.struct_size = sizeof full,
                                .n_dims = t->n_dims,
                                .name = t->name,
                                .type = gguf_tensor_type_name(t->type),
                                .n_bytes = (int64_t)t->n_bytes};
    for (int d = 0; d < 4; d++) full.dims[d] = d < GGUF_MAX_DIMS ? t->ne[d] : 1;
    pa_copy_versioned(info, &full, sizeof full);
    return PYAGENT_OK;
}

pyagent_status pyagent_engine_embed_tokens(pyagent_engine *engine, const int32_t *tokens,
                                           size_t n_tokens, float *rows, size_t capacity,
                                           size_t *n_floats) {
    pyagent_status st = check_ready(engine);
    if (st) return st;
    pa_err err = {0};
    if (!n_floats || (!tokens && n_tokens > 0) || (!rows && capacity > 0)) {
        pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "embed_tokens: NULL argument");
        return pa_engine_set_error(engine, &err);
    }
    const pa_model *m = engine->model;
    const size_t d = (size_t)m->hp.n_embd;
    for (size_t i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab) {
            pa_fail(&err, PYAGENT_ERR_INVALID_TOKEN, "token %d at index %zu is outside [0, %d)",
                    tokens[i], i, m->hp.n_vocab);
            return pa_engine_set_error(engine, &err);
        }
    *n_floats = n_tokens * d;
    if (capacity < n_tokens * d) {
        pa_fail(&err, PYAGENT_ERR_BUFFER_TOO_SMALL, "embed_tokens: %zu floats needed, capacity %zu",
                n_tokens * d, capacity);
        return pa_engine_set_error(engine, &err);
    }
    for (size_t i = 0; i < n_tokens; i++) pa_matrix_row(&m->token_embd, tokens[i], rows + i * d);
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Scheduling                                                                                  */

/* Delivers the events of every submitted (async) request; called by the stepping thread. */
static void deliver_async(pyagent_engine *e) {
    pthread_mutex_lock(&e->lock);
    for (;;) {
        pyagent_agent *a = e->agents;
        while (a && !(a->req.async && a->req.inbox.n > 0)) a = a->next;
        if (!a) break;
        pa_sched_take_events_locked(a);
        pthread_mutex_unlock(&e->lock);
        pa_sched_deliver(a);
        pthread_mutex_lock(&e->lock);
        pa_sched_delivered_locked(a);
    }
    pthread_mutex_unlock(&e->lock);
}

pyagent_status pyagent_engine_step(pyagent_engine *engine, int32_t *n_active) {
    pyagent_status st = check_ready(engine);
    if (st) return st;
    pthread_mutex_lock(&engine->lock);
    if (engine->loop_running) {
        pthread_mutex_unlock(&engine->lock);
        pa_err err;
        pa_fail(&err, PYAGENT_ERR_BUSY, "the engine runs its own loop (pyagent_engine_start)");
        return pa_engine_set_error(engine, &err);
    }
    while (engine->stepping) pthread_cond_wait(&engine->stepped, &engine->lock);
    int n = pa_sched_step_locked(engine);
    pthread_mutex_unlock(&engine->lock);
    deliver_async(engine);
    if (n_active) *n_active = n;
    return PYAGENT_OK;
}

static void *loop_main(void *arg) {
    pyagent_engine *e = arg;
    pthread_mutex_lock(&e->lock);
    while (!e->loop_stop) {
        while (e->stepping) pthread_cond_wait(&e->stepped, &e->lock);
        e->work_arrived = false;
        int n = pa_sched_step_locked(e);
        pthread_mutex_unlock(&e->lock);
        deliver_async(e);
        pthread_mutex_lock(&e->lock);
        /* a request that began while the lock was free (in the step's forward pass or above)
         * signalled no one: it is stepped now, not at the next request's signal */
        if (n == 0 && !e->work_arrived && !e->loop_stop) pthread_cond_wait(&e->work, &e->lock);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

pyagent_status pyagent_engine_start(pyagent_engine *engine) {
    pyagent_status st = check_ready(engine);
    if (st) return st;
    pthread_mutex_lock(&engine->lock);
    if (!engine->loop_running) {
        engine->loop_stop = false;
        if (pthread_create(&engine->loop_thread, NULL, loop_main, engine) == 0)
            engine->loop_running = true;
        else st = PYAGENT_ERR_OUT_OF_MEMORY;
    }
    pthread_mutex_unlock(&engine->lock);
    return st;
}

pyagent_status pyagent_engine_stop(pyagent_engine *engine) {
    if (!engine) return PYAGENT_ERR_INVALID_ARGUMENT;
    pthread_mutex_lock(&engine->lock);
    bool running = engine->loop_running;
    engine->loop_stop = true;
    pthread_cond_broadcast(&engine->work);
    pthread_mutex_unlock(&engine->lock);
    if (!running) return PYAGENT_OK;
    pthread_join(engine->loop_thread, NULL);
    pthread_mutex_lock(&engine->lock);
    engine->loop_running = false;
    pthread_cond_broadcast(&engine->stepped); /* blocked callers step for themselves again */
    pthread_mutex_unlock(&engine->lock);
    return PYAGENT_OK;
}

pyagent_status pyagent_engine_load_draft(pyagent_engine *engine, const char *path) {
    pyagent_status st = check_ready(engine);
    if (st) return st;
    pa_err err = {0};
    if (!path) {
        pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "draft model path is NULL");
        return pa_engine_set_error(engine, &err);
    }
    pthread_mutex_lock(&engine->lock);
    while (engine->stepping) pthread_cond_wait(&engine->stepped, &engine->lock);
    pa_drafter *d = NULL;
    st = pa_drafter_create(engine, path, &d, &err);
    if (!st) { /* agents drafting with the old model start over in the new one */
        for (pyagent_agent *a = engine->agents; a; a = a->next)
            if (a->spec.drafter == PYAGENT_SPEC_DRAFT) pa_drafter_release(engine->draft, &a->spec);
        pa_drafter_free(engine->draft);
        engine->draft = d;
    }
    pthread_mutex_unlock(&engine->lock);
    if (st) {
        pa_err_prefix(&err, "draft model");
        return pa_engine_set_error(engine, &err);
    }
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* KV store                                                                                    */

pyagent_kv_store *pyagent_engine_kv_store(pyagent_engine *engine) {
    if (!pa_engine_ready(engine)) return NULL;
    return &((engine_with_store *)engine)->store;
}

/* A tier's counters in the public stats' fields (all 0 without the tier). */
static void tier_stats(const pa_tier *tier, int64_t *spilled, int64_t *restored,
                       int64_t *rejected, int64_t *bytes) {
    if (!tier) return;
    const pa_tier_counters *t = pa_tier_counters_of(tier);
    *spilled = t->n_spilled;
    *restored = t->n_restored;
    *rejected = t->n_rejected + t->n_refused;
    *bytes = t->bytes;
}

pyagent_status pyagent_kv_store_stats_get(const pyagent_kv_store *store, pyagent_kv_stats *stats) {
    if (!store || !stats || stats->struct_size < 2 * sizeof(uint32_t))
        return PYAGENT_ERR_INVALID_ARGUMENT;
    pyagent_engine *e = store->engine;
    pa_kv_counters c;
    pthread_mutex_lock(&e->lock);
    pa_kv_counters_get(e->kv, &c);
    const pa_kv_config *cfg = pa_kv_config_of(e->kv);
    const int64_t block_bytes = (int64_t)pa_kv_block_bytes(cfg);
    pyagent_kv_stats full = {
        .struct_size = sizeof full,
        .block_size = (uint32_t)cfg->block_size,
        .block_bytes = block_bytes,
        .n_blocks = c.n_blocks,
        .n_used = c.n_used,
        .n_cached = c.n_cached,
        .n_free = c.n_free,
        .n_prefix_hit_tokens = c.n_prefix_hit_tokens,
        .n_prompt_tokens_computed = e->n_prompt_tokens_computed,
        .n_evictions = c.n_evictions,
        .n_cow_copies = c.n_cow_copies,
        .peak_used_bytes = c.peak_used * block_bytes,
    };
    tier_stats(e->disk, &full.n_disk_spilled, &full.n_disk_restored, &full.n_disk_rejected,
               &full.disk_bytes);
    tier_stats(e->redis, &full.n_redis_spilled, &full.n_redis_restored, &full.n_redis_rejected,
               &full.redis_bytes);
    tier_stats(e->host, &full.n_host_spilled, &full.n_host_restored, &full.n_host_rejected,
               &full.host_bytes);
    pthread_mutex_unlock(&e->lock);
    pa_copy_versioned(stats, &full, sizeof full);
    return PYAGENT_OK;
}

typedef struct node_list {
    pyagent_kv_node *nodes;
    int32_t *tokens;
    size_t capacity, n, block_size;
} node_list;

static void list_node(void *ctx, int32_t block, uint64_t key, uint64_t parent_key,
                      int32_t refcount, int32_t n_children, const int32_t *tokens) {
    (void)block;
    node_list *l = ctx;
    if (l->n < l->capacity) {
        if (l->nodes) l->nodes[l->n] = (pyagent_kv_node){key, parent_key, refcount, n_children};
        if (l->tokens)
            memcpy(l->tokens + l->n * l->block_size, tokens, l->block_size * sizeof *tokens);
    }
    l->n++;
}

pyagent_status pyagent_kv_store_nodes(const pyagent_kv_store *store, pyagent_kv_node *nodes,
                                      int32_t *tokens, size_t capacity, size_t *n_nodes) {
    if (!store || !n_nodes || (!nodes && capacity > 0)) return PYAGENT_ERR_INVALID_ARGUMENT;
    pyagent_engine *e = store->engine;
    pthread_mutex_lock(&e->lock);
    node_list l = {nodes, tokens, capacity, 0, (size_t)pa_kv_config_of(e->kv)->block_size};
    pa_kv_for_each_node(e->kv, list_node, &l);
    pthread_mutex_unlock(&e->lock);
    *n_nodes = l.n;
    return l.n > capacity ? PYAGENT_ERR_BUFFER_TOO_SMALL : PYAGENT_OK;
}

/* The store's spill hook: an evicted block goes to every tier there is (from the device
 * first, on backend cuda). */
static void spill_to_tiers(void *ctx, const pa_kv_store *store, int32_t block, uint64_t key,
                           uint64_t parent_key, const int32_t *tokens) {
    pyagent_engine *e = ctx;
    pa_kv_mirror_download(store, block);
    if (e->host) pa_tier_spill(e->host, store, block, key, parent_key, tokens);
    if (e->disk) pa_tier_spill(e->disk, store, block, key, parent_key, tokens);
    if (e->redis) pa_tier_spill(e->redis, store, block, key, parent_key, tokens);
}

/* A block from the nearest tier that has it: host memory, disk, then Redis. */
int32_t pa_engine_tier_fetch(pyagent_engine *e, uint64_t key, uint64_t parent_key,
                             const int32_t *tokens) {
    pa_tier *tiers[3] = {e->host, e->disk, e->redis};
    int32_t block = PA_NO_BLOCK;
    for (int i = 0; i < 3 && block == PA_NO_BLOCK; i++)
        if (tiers[i]) block = pa_tier_fetch(tiers[i], e->kv, key, parent_key, tokens);
    if (block != PA_NO_BLOCK) pa_kv_mirror_upload(e->kv, block);
    return block;
}

static void tier_warning(void *ctx, const char *message) {
    pa_engine_log(ctx, PYAGENT_LOG_WARN, "KV Redis tier unavailable, blocks are computed: %s",
                  message);
}

/* Puts `tier` in *slot (replacing and freeing what was there) under the lock. */
static pyagent_status install_tier(pyagent_engine *e, pa_tier **slot, pa_tier *tier) {
    pthread_mutex_lock(&e->lock);
    pa_tier_free(*slot);
    *slot = tier;
    pa_kv_set_spill(e->kv, e->host || e->disk || e->redis ? spill_to_tiers : NULL, e);
    pthread_mutex_unlock(&e->lock);
    return PYAGENT_OK;
}

pyagent_status pyagent_kv_store_set_disk_tier(pyagent_kv_store *store, const char *dir,
                                              int64_t max_bytes) {
    if (!store || max_bytes < 0) return PYAGENT_ERR_INVALID_ARGUMENT;
    pyagent_engine *e = store->engine;
    pa_err err = {0};
    pa_tier *tier = NULL;
    if (dir) pa_tier_open_disk(dir, max_bytes, &tier, &err);
    if (err.status) return pa_engine_set_error(e, &err);
    return install_tier(e, &e->disk, tier);
}

pyagent_status pyagent_kv_store_set_redis_tier(pyagent_kv_store *store, const char *host,
                                               int32_t port, int64_t ttl_seconds,
                                               int32_t timeout_ms, int64_t max_bytes) {
    if (!store || max_bytes < 0) return PYAGENT_ERR_INVALID_ARGUMENT;
    pyagent_engine *e = store->engine;
    pa_err err = {0};
    pa_tier *tier = NULL;
    if (host && !pa_tier_open_redis(host, port, ttl_seconds, timeout_ms, max_bytes, &tier, &err))
        pa_tier_set_warn(tier, tier_warning, e);
    if (err.status) return pa_engine_set_error(e, &err);
    return install_tier(e, &e->redis, tier);
}

pyagent_status pyagent_kv_store_set_host_tier(pyagent_kv_store *store, int64_t max_bytes) {
    if (!store || max_bytes < 0) return PYAGENT_ERR_INVALID_ARGUMENT;
    pyagent_engine *e = store->engine;
    pa_err err = {0};
    pa_tier *tier = NULL;
    if (max_bytes > 0 && pa_tier_open_host(max_bytes, &tier, &err))
        return pa_engine_set_error(e, &err);
    return install_tier(e, &e->host, tier);
}

pyagent_status pyagent_kv_store_drop_cache(pyagent_kv_store *store) {
    if (!store) return PYAGENT_ERR_INVALID_ARGUMENT;
    pthread_mutex_lock(&store->engine->lock);
    pa_kv_drop_cache(store->engine->kv);
    pthread_mutex_unlock(&store->engine->lock);
    return PYAGENT_OK;
}
