/*
 * An agent: a token sequence, how much of it is computed (its block table holds positions
 * [0, n_computed)), the logits after the last computed token, a sampler, stop strings, labels
 * and statistics. Generation itself is the scheduler's (scheduler.c); this file is the API.
 *
 * Invariants: n_computed <= n_tokens <= engine->n_ctx; has_logits only when the logits belong
 * to position n_computed - 1; the block table holds ceil(n_computed / block_size) blocks
 * between steps.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "../core/params.h"
#include "../core/versioned.h"
#include "engine_internal.h"

_Static_assert(PYAGENT_TOKEN_EMBEDDING == PA_TOKEN_EMBD, "the public and internal ids agree");

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

static pyagent_status fail(pyagent_agent *a, pyagent_status status, const char *msg) {
    return pa_fail(&a->last_error, status, "%s", msg);
}

/* Calls that change the sequence wait for nothing: a running submitted request makes them BUSY.
 * Takes the engine lock on success. */
static pyagent_status lock_idle(pyagent_agent *a) {
    pthread_mutex_lock(&a->engine->lock);
    if (a->req.active || a->delivering) {
        pthread_mutex_unlock(&a->engine->lock);
        return fail(a, PYAGENT_ERR_BUSY, "the agent has a submitted request still running");
    }
    return PYAGENT_OK;
}

static void unlock(pyagent_agent *a) { pthread_mutex_unlock(&a->engine->lock); }

static uint64_t agent_seed(pyagent_agent *a, const pyagent_params *sampler) {
    int64_t seed = pa_params_i64(sampler, PYAGENT_PARAMS_SAMPLER, PA_SAMPLER_SEED);
    if (seed >= 0) return (uint64_t)seed;
    /* -1: the engine's seed, made distinct per agent by its creation number */
    uint64_t nth = atomic_fetch_add(&a->engine->n_agents_created, 1);
    return a->engine->seed + 0x9e3779b97f4a7c15ull * nth;
}

/* ----------------------------------------------------------------------------------------- */
/* Life                                                                                        */

static void free_unlinked(pyagent_agent *agent);

/* A checkpoint lineage no other agent shares (process, time, address, a counter). */
static uint64_t new_lineage(const pyagent_agent *a) {
    static atomic_uint_fast64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const uint64_t parts[5] = {(uint64_t)getpid(), (uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec,
                               (uint64_t)(uintptr_t)a, atomic_fetch_add(&counter, 1)};
    return XXH3_64bits(parts, sizeof parts);
}

static pyagent_agent *new_agent(pyagent_engine *e, pa_err *err) {
    const pa_hparams *hp = &e->model->hp;
    pyagent_agent *a = calloc(1, sizeof *a);
    if (!a) {
        pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "agent: out of memory");
        return NULL;
    }
    a->engine = e;
    atomic_flag_clear(&a->busy);
    a->logits = malloc((size_t)hp->n_vocab * sizeof(float));
    a->hidden = malloc((size_t)hp->n_embd * sizeof(float));
    if (!a->logits || !a->hidden || pa_sampler_init(&a->sampler, hp->n_vocab, err)) {
        if (!a->logits || !a->hidden) pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "agent: out of memory");
        free(a->logits);
        free(a->hidden);
        free(a);
        return NULL;
    }
    a->first_embd = a->pruned_from = SIZE_MAX;
    a->lineage = new_lineage(a);
    a->stats.struct_size = sizeof a->stats;
    a->root_key = pa_kv_root_key(e->kv, 0);
    return a;
}

static void link_agent_locked(pyagent_engine *e, pyagent_agent *a) {
    a->next = e->agents;
    if (e->agents) e->agents->prev = a;
    e->agents = a;
    e->n_agents++;
}

/* Whether marks were made for this policy (then they stay, with what they learned). */
static bool same_policy(const pa_marks *m, int mode, int64_t heavy, bool entropy,
                        double threshold) {
    return m && m->mode == mode && m->heavy == heavy && m->entropy == entropy &&
           m->threshold == threshold;
}

/* The pruning keys: kv_window / kv_sinks (prune in scheduler.c), and for H2O and KVzap the
 * landmark state (lib/kv/prune.h). */
static pyagent_status configure_pruning(pyagent_agent *a, const pyagent_params *sampler,
                                        pa_err *err) {
#define KEY(k) pa_params_i64(sampler, PYAGENT_PARAMS_SAMPLER, PA_SAMPLER_##k)
    pyagent_engine *e = a->engine;
    const int64_t window = KEY(KV_WINDOW), policy = KEY(KV_POLICY);
    const int64_t heavy = KEY(KV_HEAVY) ? KEY(KV_HEAVY) : window;
    const bool entropy = KEY(KV_ENTROPY) != 0;
    const double threshold = pa_params_f64(sampler, PYAGENT_PARAMS_SAMPLER, PA_SAMPLER_KV_THRESHOLD);
    const int mode = policy == PYAGENT_KV_POLICY_H2O     ? PA_MARKS_H2O
                     : policy == PYAGENT_KV_POLICY_KVZAP ? PA_MARKS_KVZAP
                                                         : 0;
    if (window > 0 && e->cuda)
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                       "kv_window: pruning is not available on backend cuda yet");
    if (window > 0 && mode) {
        if (KEY(SPEC) != PYAGENT_SPEC_OFF)
            return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                           "kv_policy h2o/kvzap: not with speculative decoding (spec) yet");
        if (mode == PA_MARKS_KVZAP && !e->kvzap)
            return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                           "kv_policy kvzap: the engine has no surrogate "
                           "(pyagent_engine_load_kvzap)");
    }
    if (window > 0 && mode && !same_policy(a->marks, mode, heavy, entropy, threshold)) {
        if (a->marks && a->pruned_from != SIZE_MAX)
            return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                           "kv_policy: the agent has pruned under another policy; reset it "
                           "before changing the policy");
        const pa_hparams *hp = &e->model->hp;
        pa_marks *m = pa_marks_create(mode, hp->n_layer, hp->n_head_kv, hp->n_head,
                                      hp->head_dim, hp->n_embd, pa_kv_config_of(e->kv)->elem_type,
                                      heavy, entropy, threshold);
        if (!m) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "kv_policy: out of memory");
        m->zap = e->kvzap;
        pa_marks_free(a->marks);
        a->marks = m;
    } else if (!(window > 0 && mode)) {
        if (a->marks && a->pruned_from != SIZE_MAX && pa_marks_count(a->marks) > 0)
            return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                           "kv_policy: the agent keeps landmarks of its pruned blocks; reset it "
                           "before switching them off");
        pa_marks_free(a->marks);
        a->marks = NULL;
    }
    a->kv_window = window;
    a->kv_sinks = KEY(KV_SINKS);
    if (a->marks) { /* sink blocks are never released, so never scored */
        const int64_t bs = pa_kv_config_of(e->kv)->block_size;
        a->marks->sink_blocks = (int)((a->kv_sinks + bs - 1) / bs);
    }
    return PYAGENT_OK;
#undef KEY
}

pyagent_status pyagent_agent_create(pyagent_engine *engine, const pyagent_params *sampler,
                                    pyagent_agent **agent) {
    if (!agent) return PYAGENT_ERR_INVALID_ARGUMENT;
    *agent = NULL;
    if (!engine) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    if (!pa_engine_ready(engine)) {
        pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "engine has no model loaded");
        return pa_engine_set_error(engine, &err);
    }
    if (pa_params_check_kind(sampler, PYAGENT_PARAMS_SAMPLER, &err))
        return pa_engine_set_error(engine, &err);
    pyagent_agent *a = new_agent(engine, &err);
    if (!a) return pa_engine_set_error(engine, &err);
    pa_sampler_configure(&a->sampler, sampler, agent_seed(a, sampler));
    pthread_mutex_lock(&engine->lock); /* a self-drafter may be created for it */
    if (configure_pruning(a, sampler, &err) || pa_spec_configure(a, sampler, &err)) {
        pthread_mutex_unlock(&engine->lock);
        free_unlinked(a);
        return pa_engine_set_error(engine, &err);
    }
    link_agent_locked(engine, a);
    pthread_mutex_unlock(&engine->lock);
    *agent = a;
    return PYAGENT_OK;
}

void pyagent_agent_destroy(pyagent_agent *agent) {
    if (!agent) return;
    pyagent_engine *e = agent->engine;
    pthread_mutex_lock(&e->lock);
    while (agent->in_flight || agent->delivering) pthread_cond_wait(&e->stepped, &e->lock);
    if (agent->prev) agent->prev->next = agent->next;
    else e->agents = agent->next;
    if (agent->next) agent->next->prev = agent->prev;
    e->n_agents--;
    pa_sched_truncate_blocks_locked(agent, 0);
    pa_spec_free(e, &agent->spec);
    const bool free_engine = e->zombie && e->n_agents == 0 && e->n_packets == 0;
    pthread_mutex_unlock(&e->lock);
    if (free_engine) pa_engine_free(e); /* the host destroyed it first */
    free_unlinked(agent);
}

/* Frees what an agent holds besides its blocks and its place in the engine's list. */
static void free_unlinked(pyagent_agent *agent) {
    pa_spec_free(agent->engine, &agent->spec); /* no-op after pyagent_agent_destroy's */
    pa_sampler_free(&agent->sampler);
    pa_event_buf_free(&agent->req.inbox);
    pa_event_buf_free(&agent->req.outbox);
    free(agent->req.held);
    free(agent->blocks);
    free(agent->block_keys);
    free(agent->logits);
    free(agent->hidden);
    free(agent->hidden_sum);
    free(agent->embd);
    free(agent->tokens);
    pa_marks_free(agent->marks);
    free(agent);
}

pyagent_status pyagent_agent_fork(pyagent_agent *agent, pyagent_agent **child) {
    if (child) *child = NULL;
    pyagent_status st = enter(agent);
    if (st) return st;
    if (!child) return leave(agent, fail(agent, PYAGENT_ERR_INVALID_ARGUMENT, "child is NULL"));
    pyagent_engine *e = agent->engine;
    pyagent_agent *c = new_agent(e, &agent->last_error);
    if (!c) return leave(agent, agent->last_error.status);
    if ((st = pa_spec_copy_settings(c, agent, &agent->last_error)) || (st = lock_idle(agent))) {
        free_unlinked(c); /* not linked yet */
        return leave(agent, st);
    }
    const size_t d = (size_t)e->model->hp.n_embd;
    c->tokens = malloc((agent->n_tokens + 1) * sizeof *c->tokens);
    c->blocks = malloc((agent->n_blocks + 1) * sizeof *c->blocks);
    c->block_keys = malloc((agent->n_blocks + 1) * sizeof *c->block_keys);
    c->embd = malloc((agent->n_embd_rows * d + 1) * sizeof *c->embd);
    if (agent->marks) c->marks = pa_marks_clone(agent->marks); /* landmarks are per agent */
    if (!c->tokens || !c->blocks || !c->block_keys || !c->embd || (agent->marks && !c->marks)) {
        unlock(agent);
        free_unlinked(c);
        return leave(agent, fail(agent, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory"));
    }
    memcpy(c->tokens, agent->tokens, agent->n_tokens * sizeof *c->tokens);
    memcpy(c->blocks, agent->blocks, agent->n_blocks * sizeof *c->blocks);
    memcpy(c->block_keys, agent->block_keys, agent->n_blocks * sizeof *c->block_keys);
    c->n_tokens = agent->n_tokens;
    c->tokens_cap = agent->n_tokens + 1;
    c->n_blocks = agent->n_blocks;
    c->blocks_cap = agent->n_blocks + 1;
    for (size_t i = 0; i < c->n_blocks; i++)
        if (c->blocks[i] != PA_NO_BLOCK) pa_kv_retain(e->kv, c->blocks[i]);
    c->n_computed = agent->n_computed;
    c->has_logits = agent->has_logits;
    memcpy(c->logits, agent->logits, (size_t)e->model->hp.n_vocab * sizeof(float));
    memcpy(c->hidden, agent->hidden, d * sizeof *c->hidden);
    c->hidden_at = agent->hidden_at;
    if (agent->n_embd_rows) memcpy(c->embd, agent->embd, agent->n_embd_rows * d * sizeof *c->embd);
    c->n_embd_rows = c->embd_cap = agent->n_embd_rows;
    c->first_embd = agent->first_embd;
    c->pruned_from = agent->pruned_from;
    c->kv_window = agent->kv_window;
    c->kv_sinks = agent->kv_sinks;
    pa_sampler_copy_settings(&c->sampler, &agent->sampler);
    memcpy(c->stops, agent->stops, sizeof c->stops);
    memcpy(c->stop_len, agent->stop_len, sizeof c->stop_len);
    c->n_stops = agent->n_stops;
    c->cache_salt = agent->cache_salt;
    c->root_key = agent->root_key;
    link_agent_locked(e, c);
    unlock(agent);
    *child = c;
    return leave(agent, PYAGENT_OK);
}

const char *pyagent_agent_last_error(const pyagent_agent *agent) {
    return agent ? agent->last_error.msg : "";
}

pyagent_status pyagent_agent_set_sampler(pyagent_agent *agent, const pyagent_params *sampler) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if ((st = pa_params_check_kind(sampler, PYAGENT_PARAMS_SAMPLER, &agent->last_error)) ||
        (st = lock_idle(agent)))
        return leave(agent, st);
    st = configure_pruning(agent, sampler, &agent->last_error);
    if (!st) st = pa_spec_configure(agent, sampler, &agent->last_error);
    if (!st) pa_sampler_configure(&agent->sampler, sampler, agent_seed(agent, sampler));
    unlock(agent);
    if (st) return leave(agent, st);
    return leave(agent, PYAGENT_OK);
}

/* ----------------------------------------------------------------------------------------- */
/* Labels                                                                                      */

static char *label_slot(pyagent_agent *a, const char *key) {
    if (!key) return NULL;
    if (strcmp(key, "session_id") == 0) return a->session_id;
    if (strcmp(key, "agent_id") == 0) return a->agent_id;
    return NULL;
}

pyagent_status pyagent_agent_set_label(pyagent_agent *agent, const char *key, const char *value) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if (!key || !value)
        return leave(agent, fail(agent, PYAGENT_ERR_INVALID_ARGUMENT, "key or value is NULL"));
    size_t len = strlen(value);
    if (len >= PA_MAX_LABEL)
        return leave(agent, pa_fail(&agent->last_error, PYAGENT_ERR_OUT_OF_RANGE,
                                    "label '%.32s' has %zu bytes, at most %d", key, len,
                                    PA_MAX_LABEL - 1));
    if (strcmp(key, "cache_salt") == 0) {
        if ((st = lock_idle(agent))) return leave(agent, st);
        if (agent->n_tokens > 0) {
            unlock(agent);
            return leave(agent, fail(agent, PYAGENT_ERR_INVALID_ARGUMENT,
                                     "set cache_salt before feeding the agent"));
        }
        agent->cache_salt = len ? XXH3_64bits(value, len) : 0;
        agent->root_key = pa_kv_root_key(agent->engine->kv, agent->cache_salt);
        unlock(agent);
        return leave(agent, PYAGENT_OK);
    }
    char *slot = label_slot(agent, key);
    if (!slot)
        return leave(agent, pa_fail(&agent->last_error, PYAGENT_ERR_UNKNOWN_KEY,
                                    "unknown label '%.64s' (known: session_id, agent_id, "
                                    "cache_salt)", key));
    memcpy(slot, value, len + 1);
    return leave(agent, PYAGENT_OK);
}

const char *pyagent_agent_get_label(const pyagent_agent *agent, const char *key) {
    if (!agent) return NULL;
    if (key && strcmp(key, "cache_salt") == 0) return agent->cache_salt ? "(set)" : "";
    return label_slot((pyagent_agent *)agent, key);
}

/* ----------------------------------------------------------------------------------------- */
/* Feeding and editing the sequence                                                            */

static bool grow_embd(pyagent_agent *a, size_t n_rows) {
    if (n_rows <= a->embd_cap) return true;
    size_t cap = a->embd_cap ? a->embd_cap * 2 : 16;
    while (cap < n_rows) cap *= 2;
    float *grown = realloc(a->embd, cap * (size_t)a->engine->model->hp.n_embd * sizeof *grown);
    if (!grown) return false;
    a->embd = grown;
    a->embd_cap = cap;
    return true;
}

/* Appends ids to the sequence, or nothing (CONTEXT_FULL) if they would pass n_ctx. */
static pyagent_status append_tokens_locked(pyagent_agent *a, const int32_t *ids, size_t n) {
    size_t n_ctx = (size_t)a->engine->n_ctx;
    if (n > n_ctx - a->n_tokens)
        return pa_fail(&a->last_error, PYAGENT_ERR_CONTEXT_FULL,
                       "%zu more tokens would pass n_ctx = %zu (the agent holds %zu)", n, n_ctx,
                       a->n_tokens);
    if (a->n_tokens + n > a->tokens_cap) {
        size_t cap = a->tokens_cap ? a->tokens_cap : 256;
        while (cap < a->n_tokens + n) cap *= 2;
        int32_t *grown = realloc(a->tokens, cap * sizeof *grown);
        if (!grown) return fail(a, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
        a->tokens = grown;
        a->tokens_cap = cap;
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
    if ((st = lock_idle(agent))) return leave(agent, st);
    const pa_tokenizer *tok = agent->engine->model->tokenizer;
    size_t len = text_len < 0 ? strlen(text) : (size_t)text_len;

    /* BOS and the dummy-prefix space belong to the start of a sequence (or right after a
     * control token such as a chat turn marker); mid-sentence text is continued as is. */
    const bool at_start = agent->n_tokens == 0;
    const bool after_control =
        !at_start &&
        pa_tokenizer_token_type(tok, agent->tokens[agent->n_tokens - 1]) == PA_TOKEN_CONTROL;
    unsigned flags = 0;
    if (at_start && pa_tokenizer_adds_bos(tok)) flags |= PA_ENCODE_ADD_SPECIAL;
    if (!at_start && !after_control) flags |= PA_ENCODE_NO_SPACE_PREFIX;
    int32_t *ids = NULL;
    size_t n = 0;
    st = pa_tokenizer_encode(tok, text ? text : "", len, flags, &ids, &n, &agent->last_error);
    /* ADD_SPECIAL may also add EOS, which a prompt must not end with: keep only BOS */
    if (!st && (flags & PA_ENCODE_ADD_SPECIAL) && n > 1 && ids[n - 1] == pa_tokenizer_eos(tok))
        n--;
    if (!st) st = append_tokens_locked(agent, ids, n);
    unlock(agent);
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
    if ((st = lock_idle(agent))) return leave(agent, st);
    st = append_tokens_locked(agent, tokens, n_tokens);
    unlock(agent);
    return leave(agent, st);
}

pyagent_status pyagent_agent_feed_embeddings(pyagent_agent *agent, const float *rows,
                                             size_t n_rows, size_t dim) {
    pyagent_status st = enter(agent);
    if (st) return st;
    pyagent_engine *e = agent->engine;
    const size_t d = (size_t)e->model->hp.n_embd;
    if (!rows && n_rows > 0)
        return leave(agent, fail(agent, PYAGENT_ERR_INVALID_ARGUMENT, "rows is NULL"));
    if (dim != d)
        return leave(agent, pa_fail(&agent->last_error, PYAGENT_ERR_INVALID_ARGUMENT,
                                    "rows of %zu floats: the model's embedding width is %zu",
                                    dim, d));
    if (e->cuda)
        return leave(agent, fail(agent, PYAGENT_ERR_UNSUPPORTED,
                                 "feeding embeddings: not available on backend cuda yet"));
    for (size_t i = 0; i < n_rows * d; i++)
        if (!isfinite(rows[i]))
            return leave(agent, pa_fail(&agent->last_error, PYAGENT_ERR_INVALID_ARGUMENT,
                                        "row %zu, element %zu is not a finite number", i / d,
                                        i % d));
    if ((st = lock_idle(agent))) return leave(agent, st);
    const size_t n_ctx = (size_t)e->n_ctx;
    if (n_rows > n_ctx - agent->n_tokens) {
        st = pa_fail(&agent->last_error, PYAGENT_ERR_CONTEXT_FULL,
                     "%zu more positions would pass n_ctx = %zu (the agent holds %zu)", n_rows,
                     n_ctx, agent->n_tokens);
    } else if (!pa_sched_reserve_tokens_locked(agent, agent->n_tokens + n_rows) ||
               !grow_embd(agent, agent->n_embd_rows + n_rows)) {
        st = fail(agent, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    } else {
        if (n_rows > 0 && agent->first_embd == SIZE_MAX) agent->first_embd = agent->n_tokens;
        memcpy(agent->embd + agent->n_embd_rows * d, rows, n_rows * d * sizeof *rows);
        agent->n_embd_rows += n_rows;
        for (size_t i = 0; i < n_rows; i++) agent->tokens[agent->n_tokens++] = PA_TOKEN_EMBD;
    }
    unlock(agent);
    return leave(agent, st);
}

size_t pa_agent_embd_rows_before(const pyagent_agent *a, size_t pos) {
    size_t n = 0;
    for (size_t i = a->first_embd; i < pos && i < a->n_tokens; i++)
        n += a->tokens[i] == PA_TOKEN_EMBD;
    return n;
}

/* Forgets positions from n on; the logits stay only if the last computed position stays.
 * A sequence that is computed to its end without logits (cut after a speculative step, say)
 * gets its last token queued again, so that the next request has logits to start from. */
static bool has_holes(const pyagent_agent *a, size_t n_blocks) {
    for (size_t i = 0; i < n_blocks && i < a->n_blocks; i++)
        if (a->blocks[i] == PA_NO_BLOCK) return true;
    return false;
}

void pa_agent_truncate_locked(pyagent_agent *a, size_t n) {
    a->n_embd_rows = pa_agent_embd_rows_before(a, n);
    if (a->first_embd >= n) a->first_embd = SIZE_MAX;
    if (a->pruned_from > n && a->pruned_from != SIZE_MAX) { /* recomputed ones will see holes */
        const size_t bs = (size_t)pa_kv_config_of(a->engine->kv)->block_size;
        a->pruned_from = has_holes(a, (n + bs - 1) / bs) ? n : SIZE_MAX;
    }
    a->n_tokens = n;
    if (a->n_computed > n) a->has_logits = false;
    if (a->spec.n_dcomputed > n) a->spec.n_dcomputed = n; /* the drafter's copy too */
    if (a->n_computed > n) a->n_computed = n;
    if (a->n_computed == n && !a->has_logits && n > 0) a->n_computed = n - 1;
    if (a->marks) pa_marks_truncate(a->marks, a->n_computed);
    if (a->ckpt_stable > a->n_computed) a->ckpt_stable = a->n_computed;
    pa_sched_truncate_blocks_locked(a, a->n_computed);
}

pyagent_status pyagent_agent_rewind(pyagent_agent *agent, size_t n_tokens) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if ((st = lock_idle(agent))) return leave(agent, st);
    if (n_tokens > agent->n_tokens) {
        st = pa_fail(&agent->last_error, PYAGENT_ERR_OUT_OF_RANGE,
                     "cannot rewind %zu tokens: the agent holds %zu", n_tokens, agent->n_tokens);
    } else {
        pa_agent_truncate_locked(agent, agent->n_tokens - n_tokens);
    }
    unlock(agent);
    return leave(agent, st);
}

pyagent_status pyagent_agent_reset(pyagent_agent *agent) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if ((st = lock_idle(agent))) return leave(agent, st);
    pa_agent_truncate_locked(agent, 0);
    memset(&agent->stats, 0, sizeof agent->stats);
    agent->stats.struct_size = sizeof agent->stats;
    unlock(agent);
    return leave(agent, PYAGENT_OK);
}

/* ----------------------------------------------------------------------------------------- */
/* Running requests                                                                            */

/* Runs steps (or waits for whoever runs them) until the request ends, delivering this agent's
 * events on this thread. Lock held on entry and return. */
static void serve_blocking_locked(pyagent_agent *a) {
    pyagent_engine *e = a->engine;
    for (;;) {
        if (a->req.inbox.n > 0) {
            pa_sched_take_events_locked(a);
            pthread_mutex_unlock(&e->lock);
            pa_sched_deliver(a);
            pthread_mutex_lock(&e->lock);
            pa_sched_delivered_locked(a);
            continue;
        }
        if (!a->req.active) return;
        if (e->loop_running || e->stepping) pthread_cond_wait(&e->stepped, &e->lock);
        else pa_sched_step_locked(e);
    }
}

/* Common checks of generate, prefill and submit; starts the request. Lock held on success. */
static pyagent_status begin_request(pyagent_agent *a, int64_t limit, bool async,
                                    pyagent_token_fn fn, void *user_data) {
    pyagent_status st = lock_idle(a);
    if (st) return st;
    if (limit > 0 && a->n_computed == a->n_tokens && !a->has_logits) {
        unlock(a);
        return fail(a, PYAGENT_ERR_INVALID_ARGUMENT,
                    "nothing to continue: feed text or tokens first");
    }
    pa_sched_begin_locked(a, limit, async, fn, user_data);
    return PYAGENT_OK;
}

pyagent_status pyagent_agent_prefill(pyagent_agent *agent) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if ((st = begin_request(agent, 0, false, NULL, NULL))) return leave(agent, st);
    serve_blocking_locked(agent);
    pa_sched_request_seen(agent);
    st = agent->req.status;
    unlock(agent);
    return leave(agent, st);
}

pyagent_status pyagent_agent_generate(pyagent_agent *agent, int32_t max_tokens,
                                      pyagent_token_fn on_token, void *user_data,
                                      int32_t *finish_reason) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if (finish_reason) *finish_reason = 0;
    if (max_tokens < -1)
        return leave(agent, fail(agent, PYAGENT_ERR_OUT_OF_RANGE, "max_tokens must be >= -1"));
    if (max_tokens == 0) {
        if ((st = begin_request(agent, 0, false, NULL, NULL))) return leave(agent, st);
    } else {
        const int64_t limit = max_tokens < 0 ? INT64_MAX : max_tokens;
        if ((st = begin_request(agent, limit, false, on_token, user_data)))
            return leave(agent, st);
    }
    serve_blocking_locked(agent);
    pa_sched_request_seen(agent);
    st = agent->req.status;
    if (finish_reason && !st) *finish_reason = agent->req.finish;
    unlock(agent);
    return leave(agent, st);
}

pyagent_status pyagent_agent_submit(pyagent_agent *agent, int32_t max_tokens,
                                    pyagent_token_fn on_token, void *user_data) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if (max_tokens < -1)
        return leave(agent, fail(agent, PYAGENT_ERR_OUT_OF_RANGE, "max_tokens must be >= -1"));
    const int64_t limit = max_tokens < 0 ? INT64_MAX : max_tokens;
    if ((st = begin_request(agent, limit, true, on_token, user_data))) return leave(agent, st);
    unlock(agent);
    return leave(agent, PYAGENT_OK);
}

pyagent_status pyagent_agent_poll(pyagent_agent *agent, int32_t *finish_reason) {
    if (!agent || !finish_reason) return PYAGENT_ERR_INVALID_ARGUMENT;
    pthread_mutex_lock(&agent->engine->lock);
    bool running = agent->req.active || agent->req.inbox.n > 0 || agent->delivering;
    if (!running) pa_sched_request_seen(agent);
    *finish_reason = running ? 0 : agent->req.finish;
    pyagent_status st = running ? PYAGENT_OK : agent->req.status;
    pthread_mutex_unlock(&agent->engine->lock);
    return st;
}

pyagent_status pyagent_agent_draft(pyagent_agent *agent, const pyagent_spec_tree *tree) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if ((st = lock_idle(agent))) return leave(agent, st);
    st = pa_spec_set_host_draft(agent, tree, &agent->last_error);
    unlock(agent);
    return leave(agent, st);
}

pyagent_status pa_agent_begin_change(pyagent_agent *a) {
    pyagent_status st = enter(a);
    if (st) return st;
    if ((st = lock_idle(a))) return leave(a, st);
    return PYAGENT_OK;
}

pyagent_status pa_agent_end_change(pyagent_agent *a, pyagent_status status) {
    unlock(a);
    return leave(a, status);
}

void pyagent_agent_cancel(pyagent_agent *agent) {
    if (agent) atomic_store(&agent->cancel_seq, atomic_load(&agent->request_seq) | 1u);
}

/* ----------------------------------------------------------------------------------------- */
/* Reading                                                                                     */

/* The logits or the final hidden state of the last computed position, two-call pattern. */
static pyagent_status read_last_row(pyagent_agent *a, bool hidden, float *out, size_t capacity,
                                    size_t *n_out) {
    pyagent_status st = enter(a);
    if (st) return st;
    if (!n_out || (!out && capacity > 0))
        return leave(a, fail(a, PYAGENT_ERR_INVALID_ARGUMENT, "NULL argument"));
    if ((st = lock_idle(a))) return leave(a, st);
    const pa_hparams *hp = &a->engine->model->hp;
    const size_t n = (size_t)(hidden ? hp->n_embd : hp->n_vocab);
    const char *what = hidden ? "the hidden state" : "logits";
    const bool computed = a->has_logits && a->n_computed == a->n_tokens &&
                          (!hidden || a->hidden_at == a->n_computed);
    *n_out = n;
    if (hidden && a->engine->cuda)
        st = fail(a, PYAGENT_ERR_UNSUPPORTED, "hidden states: not kept on backend cuda yet");
    else if (!computed)
        st = pa_fail(&a->last_error, PYAGENT_ERR_INVALID_ARGUMENT,
                     "no %s for the last token: feed tokens and call prefill first%s", what,
                     hidden ? " (a speculative step keeps none)" : "");
    else if (capacity < n)
        st = pa_fail(&a->last_error, PYAGENT_ERR_BUFFER_TOO_SMALL,
                     "%s needs %zu floats, capacity is %zu", what, n, capacity);
    else
        memcpy(out, hidden ? a->hidden : a->logits, n * sizeof(float));
    unlock(a);
    return leave(a, st);
}

pyagent_status pyagent_agent_logits(pyagent_agent *agent, float *logits, size_t capacity,
                                    size_t *n_logits) {
    return read_last_row(agent, false, logits, capacity, n_logits);
}

pyagent_status pyagent_agent_hidden(pyagent_agent *agent, float *hidden, size_t capacity,
                                    size_t *n_floats) {
    return read_last_row(agent, true, hidden, capacity, n_floats);
}

pyagent_status pyagent_agent_add_stop(pyagent_agent *agent, const char *stop, int64_t stop_len) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if (!stop || stop_len < -1)
        return leave(agent, fail(agent, PYAGENT_ERR_INVALID_ARGUMENT, "stop is NULL"));
    size_t len = stop_len < 0 ? strlen(stop) : (size_t)stop_len;
    if (len == 0 || len > PA_MAX_STOP_LEN)
        return leave(agent, pa_fail(&agent->last_error, PYAGENT_ERR_OUT_OF_RANGE,
                                    "a stop string has 1 to %d bytes, not %zu", PA_MAX_STOP_LEN,
                                    len));
    if ((st = lock_idle(agent))) return leave(agent, st);
    if (agent->n_stops == PA_MAX_STOPS) {
        st = pa_fail(&agent->last_error, PYAGENT_ERR_OUT_OF_RANGE,
                     "an agent has at most %d stop strings", PA_MAX_STOPS);
    } else {
        memcpy(agent->stops[agent->n_stops], stop, len);
        agent->stop_len[agent->n_stops++] = len;
    }
    unlock(agent);
    return leave(agent, st);
}

pyagent_status pyagent_agent_clear_stops(pyagent_agent *agent) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if ((st = lock_idle(agent))) return leave(agent, st);
    agent->n_stops = 0;
    unlock(agent);
    return leave(agent, PYAGENT_OK);
}

pyagent_status pyagent_agent_tokens(pyagent_agent *agent, int32_t *tokens, size_t capacity,
                                    size_t *n_tokens) {
    pyagent_status st = enter(agent);
    if (st) return st;
    if (!n_tokens || (!tokens && capacity > 0))
        return leave(agent, fail(agent, PYAGENT_ERR_INVALID_ARGUMENT, "NULL argument"));
    pthread_mutex_lock(&agent->engine->lock);
    *n_tokens = agent->n_tokens;
    if (capacity < agent->n_tokens)
        st = pa_fail(&agent->last_error, PYAGENT_ERR_BUFFER_TOO_SMALL,
                     "%zu tokens do not fit in %zu", agent->n_tokens, capacity);
    else if (agent->n_tokens)
        memcpy(tokens, agent->tokens, agent->n_tokens * sizeof *tokens);
    unlock(agent);
    return leave(agent, st);
}

pyagent_status pyagent_agent_stats_get(const pyagent_agent *agent, pyagent_agent_stats *stats) {
    if (!agent || !stats || stats->struct_size < 2 * sizeof(uint32_t))
        return PYAGENT_ERR_INVALID_ARGUMENT;
    pyagent_agent_stats now;
    pthread_mutex_lock(&agent->engine->lock);
    now = agent->stats;
    now.n_landmarks = agent->marks ? (int64_t)pa_marks_count(agent->marks) : 0;
    now.landmark_bytes = agent->marks ? (int64_t)pa_marks_bytes(agent->marks) : 0;
    pthread_mutex_unlock(&agent->engine->lock);
    pa_copy_versioned(stats, &now, sizeof now);
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Text embeddings                                                                             */

pyagent_status pyagent_engine_embed_text(pyagent_engine *engine, const char *text,
                                         int64_t text_len, float *embedding, size_t capacity,
                                         size_t *n_floats) {
    if (!pa_engine_ready(engine)) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    const size_t d = (size_t)engine->model->hp.n_embd;
    if (!n_floats || (!embedding && capacity > 0) || (!text && text_len != 0) || text_len < -1) {
        pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "embed_text: NULL argument");
        return pa_engine_set_error(engine, &err);
    }
    *n_floats = d;
    if (engine->cuda) {
        pa_fail(&err, PYAGENT_ERR_UNSUPPORTED, "embed_text: not available on backend cuda yet");
        return pa_engine_set_error(engine, &err);
    }
    if (capacity < d) {
        pa_fail(&err, PYAGENT_ERR_BUFFER_TOO_SMALL, "embed_text: %zu floats needed, capacity %zu",
                d, capacity);
        return pa_engine_set_error(engine, &err);
    }
    /* a private agent: every position is computed (nothing attached from the prefix cache),
     * and nothing it computes is published */
    pyagent_agent *a = NULL;
    pyagent_status st = pyagent_agent_create(engine, NULL, &a);
    if (st) return st; /* the engine has the message */
    a->private_kv = true;
    a->hidden_sum = calloc(d, sizeof *a->hidden_sum);
    if (!a->hidden_sum) st = pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY, "embed_text: out of memory");
    if (!st && (st = pyagent_agent_feed_text(a, text ? text : "", text_len)))
        pa_fail(&err, st, "embed_text: %s", pyagent_agent_last_error(a));
    if (!st && a->n_tokens == 0)
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "embed_text: the text has no tokens");
    if (!st && (st = pyagent_agent_prefill(a)))
        pa_fail(&err, st, "embed_text: %s", pyagent_agent_last_error(a));
    if (!st)
        for (size_t j = 0; j < d; j++)
            embedding[j] = (float)(a->hidden_sum[j] / (double)a->n_computed);
    pyagent_agent_destroy(a);
    return st ? pa_engine_set_error(engine, &err) : PYAGENT_OK;
}
