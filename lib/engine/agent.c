/*
 * An agent: a token sequence, how much of it is computed (its KV cache holds positions
 * [0, n_computed)), the logits after the last computed token, a sampler, stop strings and
 * statistics.
 *
 * Invariants: n_computed <= n_tokens <= engine->n_ctx; has_logits is true exactly when the
 * logits belong to position n_computed - 1 (so n_computed > 0).
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/params.h"
#include "engine_internal.h"
#include "sampler.h"

#define MAX_STOPS 16
#define MAX_STOP_LEN 256

struct pyagent_agent {
    pyagent_engine *engine;
    int32_t *tokens; /* the sequence: computed tokens, then queued ones */
    size_t n_tokens, capacity;
    size_t n_computed;
    pa_kv_cache kv;
    float *logits; /* (n_vocab,) */
    bool has_logits;

    pa_sampler sampler;
    char stops[MAX_STOPS][MAX_STOP_LEN];
    size_t stop_len[MAX_STOPS];
    int n_stops;

    pyagent_agent_stats stats;
    atomic_bool cancel_requested;
    atomic_flag busy;
    pa_err last_error;
};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static pyagent_status fail(pyagent_agent *a, pyagent_status status, const char *msg) {
    return pa_fail(&a->last_error, status, "%s", msg);
}

/* Every public call on an agent holds its busy flag: one host thread at a time. */
static pyagent_status enter(pyagent_agent *a) {
    if (!a) return PYAGENT_ERR_INVALID_ARGUMENT;
    if (atomic_flag_test_and_set(&a->busy))
        return PYAGENT_ERR_BUSY; /* last_error belongs to the call in progress */
    pa_err_clear(&a->last_error);
    return PYAGENT_OK;
}

static pyagent_status leave(pyagent_agent *a, pyagent_status status) {
    atomic_flag_clear(&a->busy);
    return status;
}

static uint64_t agent_seed(pyagent_agent *a, const pyagent_params *sampler) {
    int64_t seed = pa_params_i64(sampler, PYAGENT_PARAMS_SAMPLER, PA_SAMPLER_SEED);
    if (seed >= 0) return (uint64_t)seed;
    /* -1: the engine's seed, made distinct per agent by its creation number */
    uint64_t nth = atomic_fetch_add(&a->engine->n_agents_created, 1);
    return a->engine->seed + 0x9e3779b97f4a7c15ull * nth;
}

pyagent_status pyagent_agent_create(pyagent_engine *engine, const pyagent_params *sampler,
                                    pyagent_agent **agent) {
    if (!agent) return PYAGENT_ERR_INVALID_ARGUMENT;
    *agent = NULL;
    if (!engine) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    if (!pa_engine_ready(engine))
        return pa_engine_set_error(
            engine, (pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "engine has no model loaded"),
                     &err));
    pyagent_status st = pa_params_check_kind(sampler, PYAGENT_PARAMS_SAMPLER, &err);
    if (st) return pa_engine_set_error(engine, &err);

    const pa_hparams *hp = &engine->model->hp;
    pyagent_agent *a = calloc(1, sizeof *a);
    if (!a) return PYAGENT_ERR_OUT_OF_MEMORY;
    a->engine = engine;
    atomic_flag_clear(&a->busy);
    a->logits = malloc((size_t)hp->n_vocab * sizeof(float));
    if (!a->logits) st = pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY, "agent: out of memory");
    if (!st) st = pa_kv_init(&a->kv, hp->n_layer, hp->n_head_kv * hp->head_dim, &err);
    if (!st) st = pa_sampler_init(&a->sampler, hp->n_vocab, &err);
    if (st) {
        pyagent_agent_destroy(a);
        return pa_engine_set_error(engine, &err);
    }
    pa_sampler_configure(&a->sampler, sampler, agent_seed(a, sampler));
    a->stats.struct_size = sizeof a->stats;
    *agent = a;
    return PYAGENT_OK;
}

void pyagent_agent_destroy(pyagent_agent *agent) {
    if (!agent) return;
    pa_kv_free(&agent->kv);
    pa_sampler_free(&agent->sampler);
    free(agent->logits);
    free(agent->tokens);
    free(agent);
}

const char *pyagent_agent_last_error(const pyagent_agent *agent) {
    return agent ? agent->last_error.msg : "";
}

pyagent_status pyagent_agent_set_sampler(pyagent_agent *agent, const pyagent_params *sampler) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if ((st = pa_params_check_kind(sampler, PYAGENT_PARAMS_SAMPLER, &agent->last_error)))
        return leave(agent, st);
    pa_sampler_configure(&agent->sampler, sampler, agent_seed(agent, sampler));
    return leave(agent, PYAGENT_OK);
}

/* ----------------------------------------------------------------------------------------- */
/* Feeding                                                                                     */

/* Appends ids to the sequence, or nothing (CONTEXT_FULL) if they would pass n_ctx. */
static pyagent_status append_tokens(pyagent_agent *a, const int32_t *ids, size_t n) {
    size_t n_ctx = (size_t)a->engine->n_ctx;
    if (n > n_ctx - a->n_tokens)
        return pa_fail(&a->last_error, PYAGENT_ERR_CONTEXT_FULL,
                       "%zu more tokens would pass n_ctx = %zu (the agent holds %zu)", n, n_ctx,
                       a->n_tokens);
    if (a->n_tokens + n > a->capacity) {
        size_t cap = a->capacity ? a->capacity : 256;
        while (cap < a->n_tokens + n) cap *= 2;
        if (cap > n_ctx) cap = n_ctx;
        int32_t *grown = realloc(a->tokens, cap * sizeof *grown);
        if (!grown) return fail(a, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
        a->tokens = grown;
        a->capacity = cap;
    }
    if (n) memcpy(a->tokens + a->n_tokens, ids, n * sizeof *ids);
    a->n_tokens += n;
    return PYAGENT_OK;
}

pyagent_status pyagent_agent_feed_text(pyagent_agent *agent, const char *text, int64_t text_len) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if ((!text && text_len != 0) || text_len < -1)
        return leave(agent, fail(agent, PYAGENT_ERR_INVALID_ARGUMENT, "text is NULL"));
    const pa_tokenizer *tok = agent->engine->model->tokenizer;
    size_t len = text_len < 0 ? strlen(text) : (size_t)text_len;

    /* BOS and the dummy-prefix space belong to the start of a sequence (or right after a
     * control token such as a chat turn marker); mid-sentence text is continued as is. */
    bool at_start = agent->n_tokens == 0;
    bool after_control = !at_start && pa_tokenizer_token_type(tok, agent->tokens[agent->n_tokens -
                                                                                 1]) ==
                                          PA_TOKEN_CONTROL;
    unsigned flags = 0;
    if (at_start && pa_tokenizer_adds_bos(tok)) flags |= PA_ENCODE_ADD_SPECIAL;
    if (!at_start && !after_control) flags |= PA_ENCODE_NO_SPACE_PREFIX;
    int32_t *ids = NULL;
    size_t n = 0;
    st = pa_tokenizer_encode(tok, text ? text : "", len, flags, &ids, &n, &agent->last_error);
    /* ADD_SPECIAL may also add EOS, which a prompt must not end with: keep only BOS */
    if (!st && (flags & PA_ENCODE_ADD_SPECIAL) && n > 1 && ids[n - 1] == pa_tokenizer_eos(tok))
        n--;
    if (!st) st = append_tokens(agent, ids, n);
    free(ids);
    return leave(agent, st);
}

pyagent_status pyagent_agent_feed_tokens(pyagent_agent *agent, const int32_t *tokens,
                                         size_t n_tokens) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if (!tokens && n_tokens > 0)
        return leave(agent, fail(agent, PYAGENT_ERR_INVALID_ARGUMENT, "tokens is NULL"));
    const int32_t n_vocab = agent->engine->model->hp.n_vocab;
    for (size_t i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return leave(agent, pa_fail(&agent->last_error, PYAGENT_ERR_INVALID_TOKEN,
                                        "token %d at index %zu is outside [0, %d)", tokens[i], i,
                                        n_vocab));
    return leave(agent, append_tokens(agent, tokens, n_tokens));
}

/* ----------------------------------------------------------------------------------------- */
/* Computing                                                                                   */

/* Computes every queued token. */
static pyagent_status prefill(pyagent_agent *a) {
    size_t n = a->n_tokens - a->n_computed;
    if (n == 0) return PYAGENT_OK;
    pyagent_engine *e = a->engine;
    pyagent_status st = pa_kv_reserve(&a->kv, (int)a->n_tokens, e->n_ctx, &a->last_error);
    if (st) return st;
    double t0 = now_seconds();
    pa_engine_forward(e, &a->kv, a->tokens + a->n_computed, (int)n, (int)a->n_computed,
                      a->logits);
    a->stats.prefill_seconds += now_seconds() - t0;
    a->stats.n_prompt_tokens += (int64_t)n;
    a->n_computed = a->n_tokens;
    a->has_logits = true;
    return PYAGENT_OK;
}

pyagent_status pyagent_agent_prefill(pyagent_agent *agent) {
    pyagent_status st = enter(agent);
    if (st) return st;
    return leave(agent, prefill(agent));
}

pyagent_status pyagent_agent_logits(pyagent_agent *agent, float *logits, size_t capacity,
                                    size_t *n_logits) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if (!n_logits || (!logits && capacity > 0))
        return leave(agent, fail(agent, PYAGENT_ERR_INVALID_ARGUMENT, "NULL argument"));
    if (!agent->has_logits)
        return leave(agent, fail(agent, PYAGENT_ERR_INVALID_ARGUMENT,
                                 "no logits yet: feed tokens and call prefill first"));
    size_t n_vocab = (size_t)agent->engine->model->hp.n_vocab;
    *n_logits = n_vocab;
    if (capacity < n_vocab)
        return leave(agent, pa_fail(&agent->last_error, PYAGENT_ERR_BUFFER_TOO_SMALL,
                                    "logits need %zu floats, capacity is %zu", n_vocab, capacity));
    memcpy(logits, agent->logits, n_vocab * sizeof(float));
    return leave(agent, PYAGENT_OK);
}

/* ----------------------------------------------------------------------------------------- */
/* Stop strings and text release                                                              */

pyagent_status pyagent_agent_add_stop(pyagent_agent *agent, const char *stop, int64_t stop_len) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if (!stop || stop_len < -1)
        return leave(agent, fail(agent, PYAGENT_ERR_INVALID_ARGUMENT, "stop is NULL"));
    size_t len = stop_len < 0 ? strlen(stop) : (size_t)stop_len;
    if (len == 0 || len > MAX_STOP_LEN)
        return leave(agent, pa_fail(&agent->last_error, PYAGENT_ERR_OUT_OF_RANGE,
                                    "a stop string has 1 to %d bytes, not %zu", MAX_STOP_LEN,
                                    len));
    if (agent->n_stops == MAX_STOPS)
        return leave(agent, pa_fail(&agent->last_error, PYAGENT_ERR_OUT_OF_RANGE,
                                    "an agent has at most %d stop strings", MAX_STOPS));
    memcpy(agent->stops[agent->n_stops], stop, len);
    agent->stop_len[agent->n_stops++] = len;
    return leave(agent, PYAGENT_OK);
}

pyagent_status pyagent_agent_clear_stops(pyagent_agent *agent) {
    pyagent_status st = enter(agent);
    if (st) return st;
    agent->n_stops = 0;
    return leave(agent, PYAGENT_OK);
}

/* Text generated but not yet given to the host. */
typedef struct held_text {
    char *data;
    size_t len, cap;
} held_text;

static bool held_append(held_text *h, const char *s, size_t n) {
    if (h->len + n > h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        while (cap < h->len + n) cap *= 2;
        char *grown = realloc(h->data, cap);
        if (!grown) return false;
        h->data = grown;
        h->cap = cap;
    }
    memcpy(h->data + h->len, s, n);
    h->len += n;
    return true;
}

/* Offset of the first stop string in h, or -1. */
static ptrdiff_t find_stop(const pyagent_agent *a, const held_text *h) {
    ptrdiff_t first = -1;
    for (int s = 0; s < a->n_stops; s++) {
        size_t n = a->stop_len[s];
        for (size_t i = 0; i + n <= h->len; i++) {
            if (memcmp(h->data + i, a->stops[s], n) == 0) {
                if (first < 0 || (ptrdiff_t)i < first) first = (ptrdiff_t)i;
                break;
            }
        }
    }
    return first;
}

/* How many leading bytes of h can be released now: all but a tail that could still grow into a
 * stop string, and all but an unfinished UTF-8 character. */
static size_t releasable(const pyagent_agent *a, const held_text *h) {
    size_t keep = 0;
    for (int s = 0; s < a->n_stops; s++) {
        size_t max = a->stop_len[s] - 1 < h->len ? a->stop_len[s] - 1 : h->len;
        for (size_t k = max; k > keep; k--)
            if (memcmp(h->data + h->len - k, a->stops[s], k) == 0) {
                keep = k;
                break;
            }
    }
    size_t end = h->len - keep;
    /* back up over continuation bytes to the lead byte of a character that is not complete */
    size_t i = end, cont = 0;
    while (i > 0 && cont < 3 && ((unsigned char)h->data[i - 1] & 0xC0) == 0x80) i--, cont++;
    if (i > 0) {
        unsigned char lead = (unsigned char)h->data[i - 1];
        size_t need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
        if (need > cont) end = i - 1;
    }
    return end;
}

static void held_consume(held_text *h, size_t n) {
    memmove(h->data, h->data + n, h->len - n);
    h->len -= n;
}

/* ----------------------------------------------------------------------------------------- */
/* Generation                                                                                  */

pyagent_status pyagent_agent_generate(pyagent_agent *agent, int32_t max_tokens,
                                      pyagent_token_fn on_token, void *user_data,
                                      int32_t *finish_reason) {
    pyagent_status st = enter(agent);
    if (st) return st;
    pyagent_agent *a = agent;
    if (finish_reason) *finish_reason = 0;
    if (max_tokens < -1)
        return leave(a, fail(a, PYAGENT_ERR_OUT_OF_RANGE, "max_tokens must be >= -1"));
    const int64_t limit = max_tokens < 0 ? INT64_MAX : max_tokens;
    if ((st = prefill(a))) return leave(a, st);
    if (!a->has_logits)
        return leave(a, fail(a, PYAGENT_ERR_INVALID_ARGUMENT,
                             "nothing to continue: feed text or tokens first"));

    const pa_tokenizer *tok = a->engine->model->tokenizer;
    const size_t n_ctx = (size_t)a->engine->n_ctx;
    held_text held = {0};
    int32_t finish = PYAGENT_FINISH_LENGTH;
    double t0 = now_seconds();
    for (int64_t i = 0; i < limit; i++) {
        if (a->n_tokens >= n_ctx) {
            finish = PYAGENT_FINISH_CONTEXT;
            break;
        }
        int32_t id = pa_sampler_sample(&a->sampler, a->logits, a->tokens, a->n_tokens);
        if ((st = append_tokens(a, &id, 1))) break;
        a->stats.n_generated_tokens++;

        bool eog = pa_tokenizer_is_eog(tok, id);
        if (eog) finish = PYAGENT_FINISH_EOS;
        else if (atomic_exchange(&a->cancel_requested, false)) finish = PYAGENT_FINISH_CANCELLED;
        else if (a->n_tokens >= n_ctx) finish = PYAGENT_FINISH_CONTEXT;
        bool last = eog || finish != PYAGENT_FINISH_LENGTH || i + 1 == limit;

        size_t piece_len = 0;
        const char *piece = pa_tokenizer_piece(tok, id, &piece_len);
        if (pa_tokenizer_token_type(tok, id) == PA_TOKEN_CONTROL) piece_len = 0;
        if (!held_append(&held, piece, piece_len)) {
            st = fail(a, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        ptrdiff_t stop_at = find_stop(a, &held);
        size_t release = stop_at >= 0 ? (size_t)stop_at : last ? held.len : releasable(a, &held);
        if (on_token) on_token(user_data, id, held.data ? held.data : "", release);
        held_consume(&held, release);
        if (stop_at >= 0) {
            finish = PYAGENT_FINISH_STOP;
            break;
        }
        if (last) break;

        /* the new token becomes computed, so the next one can be sampled */
        if ((st = pa_kv_reserve(&a->kv, (int)a->n_tokens, (int)n_ctx, &a->last_error))) break;
        pa_engine_forward(a->engine, &a->kv, &id, 1, (int)a->n_computed, a->logits);
        a->n_computed = a->n_tokens;
    }
    a->stats.decode_seconds += now_seconds() - t0;
    free(held.data);
    if (finish_reason && !st) *finish_reason = finish;
    return leave(a, st);
}

void pyagent_agent_cancel(pyagent_agent *agent) {
    if (agent) atomic_store(&agent->cancel_requested, true);
}

pyagent_status pyagent_agent_tokens(pyagent_agent *agent, int32_t *tokens, size_t capacity,
                                    size_t *n_tokens) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if (!n_tokens || (!tokens && capacity > 0))
        return leave(agent, fail(agent, PYAGENT_ERR_INVALID_ARGUMENT, "NULL argument"));
    *n_tokens = agent->n_tokens;
    if (capacity < agent->n_tokens)
        return leave(agent, pa_fail(&agent->last_error, PYAGENT_ERR_BUFFER_TOO_SMALL,
                                    "%zu tokens do not fit in %zu", agent->n_tokens, capacity));
    if (agent->n_tokens) memcpy(tokens, agent->tokens, agent->n_tokens * sizeof *tokens);
    return leave(agent, PYAGENT_OK);
}

pyagent_status pyagent_agent_reset(pyagent_agent *agent) {
    pyagent_status st = enter(agent);
    if (st) return st;
    agent->n_tokens = 0;
    agent->n_computed = 0;
    agent->has_logits = false;
    memset(&agent->stats, 0, sizeof agent->stats);
    agent->stats.struct_size = sizeof agent->stats;
    return leave(agent, PYAGENT_OK);
}

pyagent_status pyagent_agent_stats_get(const pyagent_agent *agent, pyagent_agent_stats *stats) {
    if (!agent || !stats || stats->struct_size < 2 * sizeof(uint32_t))
        return PYAGENT_ERR_INVALID_ARGUMENT;
    size_t n = stats->struct_size < sizeof *stats ? stats->struct_size : sizeof *stats;
    uint32_t caller_size = stats->struct_size;
    memcpy(stats, &agent->stats, n);
    stats->struct_size = caller_size;
    return PYAGENT_OK;
}
