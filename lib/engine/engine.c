/*
 * The engine: a loaded model, a worker pool and the activation buffers, shared by its agents.
 * Forward passes are serialized by forward_lock; everything else an engine holds is immutable
 * after open, so tokenize/detokenize/info need no lock.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/params.h"
#include "engine_internal.h"

#define MIN_DEFAULT_CTX 512
#define MAX_DEFAULT_CTX 32768 /* a default, not a limit: set n_ctx for more */

pyagent_status pa_engine_set_error(pyagent_engine *e, const pa_err *err) {
    pthread_mutex_lock(&e->error_lock);
    e->last_error = *err;
    pthread_mutex_unlock(&e->error_lock);
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

static pyagent_status open_model(pyagent_engine *e, const char *path, const pyagent_params *p,
                                 pa_err *err) {
    const int32_t K = PYAGENT_PARAMS_ENGINE;
    pyagent_status st;
    if ((st = pa_params_check_kind(p, K, err))) return st;
    e->log_level = (int32_t)pa_params_i64(p, K, PA_ENGINE_LOG_LEVEL);
    e->seed = (uint64_t)pa_params_i64(p, K, PA_ENGINE_SEED);
    if (!path) return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "model path is NULL");
    if ((st = pa_model_load(path, &e->model, err))) return st;

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
        (st = pa_llama_ws_create(e->model, e->n_batch, e->n_ctx, pa_pool_size(e->pool), &e->ws,
                                 err)))
        return st;
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
    pyagent_engine *e = calloc(1, sizeof *e);
    *engine = e;
    if (!e) return PYAGENT_ERR_OUT_OF_MEMORY;
    pthread_mutex_init(&e->forward_lock, NULL);
    pthread_mutex_init(&e->error_lock, NULL);
    e->log_level = PYAGENT_LOG_WARN;
    pa_err err = {0};
    pyagent_status st = open_model(e, path, params, &err);
    if (st) return pa_engine_set_error(e, &err);
    return PYAGENT_OK;
}

void pyagent_engine_destroy(pyagent_engine *engine) {
    if (!engine) return;
    pa_llama_ws_free(engine->ws);
    pa_pool_free(engine->pool);
    pa_model_free(engine->model);
    pthread_mutex_destroy(&engine->forward_lock);
    pthread_mutex_destroy(&engine->error_lock);
    free(engine);
}

const char *pyagent_engine_last_error(const pyagent_engine *engine) {
    return engine ? engine->last_error.msg : "";
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

bool pa_engine_ready(const pyagent_engine *e) { return e && e->model && e->ws; }

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

void pa_engine_forward(pyagent_engine *e, pa_kv_cache *kv, const int32_t *tokens, int n, int pos0,
                       float *logits) {
    pthread_mutex_lock(&e->forward_lock);
    for (int done = 0; done < n; done += e->n_batch) {
        int chunk = n - done < e->n_batch ? n - done : e->n_batch;
        pa_llama_forward(e->model, e->ws, e->pool, kv, tokens + done, chunk, pos0 + done, logits);
    }
    pthread_mutex_unlock(&e->forward_lock);
}
