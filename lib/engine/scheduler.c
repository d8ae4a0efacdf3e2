/*
 * The scheduler: continuous batching over every agent with an active request.
 *
 * One step:
 *   1. every agent whose logits are ready (all its tokens computed) samples its next token;
 *      the token's text goes through the stop-string / UTF-8 holdback and becomes an event;
 *   2. a batch is built under a token budget (n_batch): first one decode token per generating
 *      agent, then prompt chunks, starting with a different agent each step (fairness);
 *      before a prompt is chunked, the longest prefix of full blocks found in the radix index
 *      is attached to it instead of being computed;
 *   3. one forward pass computes the batch (engine lock released);
 *   4. new full blocks are published in the index, logits are kept, finished prefills end.
 * A generated token is computed in the step after it was sampled, so decode and prefill of
 * different agents share every weight read.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ----------------------------------------------------------------------------------------- */
/* Requests and events                                                                        */

void pa_event_buf_free(pa_event_buf *b) {
    free(b->events);
    free(b->text);
    memset(b, 0, sizeof *b);
}

static bool grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) cap2 *= 2;
    void *p = realloc(*buf, cap2 * elem);
    if (!p) return false;
    *buf = p;
    *cap = cap2;
    return true;
}

static bool push_event(pa_event_buf *b, int32_t token, const char *text, size_t len) {
    if (!grow((void **)&b->events, &b->cap, b->n + 1, sizeof *b->events) ||
        !grow((void **)&b->text, &b->text_cap, b->text_len + len + 1, 1))
        return false;
    memcpy(b->text + b->text_len, text, len);
    b->events[b->n++] = (pa_event){token, b->text_len, len};
    b->text_len += len;
    return true;
}

void pa_sched_take_events_locked(pyagent_agent *a) {
    pa_event_buf spent = a->req.outbox; /* delivered and emptied: reuse its memory */
    a->req.outbox = a->req.inbox;
    a->req.inbox = spent;
    a->req.inbox.n = a->req.inbox.text_len = 0;
    a->delivering = true;
}

void pa_sched_delivered_locked(pyagent_agent *a) {
    a->delivering = false;
    pthread_cond_broadcast(&a->engine->stepped); /* a destroy may wait for it */
}

void pa_sched_deliver(pyagent_agent *a) {
    pa_event_buf *b = &a->req.outbox;
    for (size_t i = 0; i < b->n; i++)
        if (a->req.on_token)
            a->req.on_token(a->req.user_data, b->events[i].token, b->text + b->events[i].text_offset,
                            b->events[i].text_len);
    b->n = b->text_len = 0;
}

bool pa_sched_cancelled(const pyagent_agent *a) {
    return atomic_load(&a->cancel_seq) == atomic_load(&a->request_seq);
}

void pa_sched_request_seen(pyagent_agent *a) {
    if (atomic_load(&a->request_seq) % 2 == 1) atomic_fetch_add(&a->request_seq, 1);
}

void pa_sched_begin_locked(pyagent_agent *a, int64_t limit, bool async, pyagent_token_fn fn,
                           void *user_data) {
    pa_request *r = &a->req;
    r->active = true;
    r->async = async;
    r->limit = limit;
    r->n_done = 0;
    r->on_token = fn;
    r->user_data = user_data;
    r->finish = 0;
    r->status = PYAGENT_OK;
    r->generated_last = false;
    r->held_len = 0;
    pa_sched_request_seen(a); /* an async one nobody polled to its end */
    atomic_fetch_add(&a->request_seq, 1);
    a->engine->work_arrived = true;
    pthread_cond_signal(&a->engine->work);
}

void pa_sched_finish_locked(pyagent_agent *a, int32_t finish, pyagent_status status) {
    if (a->n_top) { /* candidates no token was drawn from: the next request may sample
                       otherwise, so the last token is computed again for its logits */
        a->n_top = 0;
        a->has_logits = false;
        pa_agent_truncate_locked(a, a->n_tokens);
    }
    a->req.active = false;
    a->req.finish = finish;
    a->req.status = status;
    pthread_cond_broadcast(&a->engine->stepped);
}

/* ----------------------------------------------------------------------------------------- */
/* Text release: stop strings and UTF-8                                                        */

static bool held_append(pa_request *r, const char *s, size_t n) {
    if (!grow((void **)&r->held, &r->held_cap, r->held_len + n, 1)) return false;
    memcpy(r->held + r->held_len, s, n);
    r->held_len += n;
    return true;
}

/* Offset of the first stop string in the held text, or -1. */
static ptrdiff_t find_stop(const pyagent_agent *a) {
    const pa_request *r = &a->req;
    ptrdiff_t first = -1;
    for (int s = 0; s < a->n_stops; s++) {
        size_t n = a->stop_len[s];
        for (size_t i = 0; i + n <= r->held_len; i++)
            if (memcmp(r->held + i, a->stops[s], n) == 0) {
                if (first < 0 || (ptrdiff_t)i < first) first = (ptrdiff_t)i;
                break;
            }
    }
    return first;
}

/* Leading bytes of the held text that can be released: all but a tail that could still grow
 * into a stop string, and all but an unfinished UTF-8 character. */
static size_t releasable(const pyagent_agent *a) {
    const pa_request *r = &a->req;
    size_t keep = 0;
    for (int s = 0; s < a->n_stops; s++) {
        size_t max = a->stop_len[s] - 1 < r->held_len ? a->stop_len[s] - 1 : r->held_len;
        for (size_t k = max; k > keep; k--)
            if (memcmp(r->held + r->held_len - k, a->stops[s], k) == 0) {
                keep = k;
                break;
            }
    }
    size_t end = r->held_len - keep;
    /* back up over continuation bytes to the lead byte of a character that is not complete */
    size_t i = end, cont = 0;
    while (i > 0 && cont < 3 && ((unsigned char)r->held[i - 1] & 0xC0) == 0x80) i--, cont++;
    if (i > 0) {
        unsigned char lead = (unsigned char)r->held[i - 1];
        size_t need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
        if (need > cont) end = i - 1;
    }
    return end;
}

/* ----------------------------------------------------------------------------------------- */
/* Step 1: sampling                                                                            */

static bool append_token(pyagent_agent *a, int32_t id) {
    if (!grow((void **)&a->tokens, &a->tokens_cap, a->n_tokens + 1, sizeof *a->tokens))
        return false;
    a->tokens[a->n_tokens++] = id;
    return true;
}

bool pa_sched_emit_locked(pyagent_engine *e, pyagent_agent *a, int32_t id) {
    pa_request *r = &a->req;
    const pa_tokenizer *tok = e->model->tokenizer;
    if (!append_token(a, id)) {
        pa_fail(&a->last_error, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
        pa_sched_finish_locked(a, 0, PYAGENT_ERR_OUT_OF_MEMORY);
        return false;
    }
    a->has_logits = false;
    a->n_top = 0;
    r->generated_last = true;
    r->n_done++;
    a->stats.n_generated_tokens++;

    int32_t finish = 0;
    if (pa_tokenizer_is_eog(tok, id)) finish = PYAGENT_FINISH_EOS;
    else if (pa_sched_cancelled(a)) finish = PYAGENT_FINISH_CANCELLED;
    else if (a->n_tokens >= (size_t)e->n_ctx) finish = PYAGENT_FINISH_CONTEXT;
    else if (r->n_done == r->limit) finish = PYAGENT_FINISH_LENGTH;

    size_t piece_len = 0;
    const char *piece = pa_tokenizer_piece(tok, id, &piece_len);
    if (pa_tokenizer_token_type(tok, id) == PA_TOKEN_CONTROL) piece_len = 0;
    ptrdiff_t stop_at = -1;
    size_t release = 0;
    bool ok = held_append(r, piece, piece_len);
    if (ok) {
        stop_at = find_stop(a);
        release = stop_at >= 0 ? (size_t)stop_at : finish ? r->held_len : releasable(a);
        ok = push_event(&r->inbox, id, r->held, release);
    }
    if (!ok) {
        pa_fail(&a->last_error, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
        pa_sched_finish_locked(a, 0, PYAGENT_ERR_OUT_OF_MEMORY);
        return false;
    }
    memmove(r->held, r->held + release, r->held_len - release);
    r->held_len -= release;
    if (stop_at >= 0) finish = PYAGENT_FINISH_STOP;
    if (finish) pa_sched_finish_locked(a, finish, PYAGENT_OK);
    return !finish;
}

static void sample_next(pyagent_engine *e, pyagent_agent *a) {
    if (a->n_tokens >= (size_t)e->n_ctx) {
        pa_sched_finish_locked(a, PYAGENT_FINISH_CONTEXT, PYAGENT_OK);
        return;
    }
    const int32_t id = a->n_top ? pa_sampler_sample_top(&a->sampler, a->top)
                                : pa_sampler_sample(&a->sampler, a->logits, a->tokens, a->n_tokens);
    pa_sched_emit_locked(e, a, id);
}

/* ----------------------------------------------------------------------------------------- */
/* Step 2: blocks for the batch                                                                */

static bool push_block(pyagent_agent *a, int32_t block, uint64_t key) {
    if (!grow((void **)&a->blocks, &a->blocks_cap, a->n_blocks + 1, sizeof *a->blocks))
        return false;
    a->block_keys = realloc(a->block_keys, a->blocks_cap * sizeof *a->block_keys);
    if (!a->block_keys) return false;
    a->blocks[a->n_blocks] = block;
    a->block_keys[a->n_blocks++] = key;
    return true;
}

void pa_sched_truncate_blocks_locked(pyagent_agent *a, size_t n_positions) {
    const size_t bs = (size_t)pa_kv_config_of(a->engine->kv)->block_size;
    const size_t keep = (n_positions + bs - 1) / bs;
    while (a->n_blocks > keep) {
        const int32_t b = a->blocks[--a->n_blocks];
        if (b != PA_NO_BLOCK) pa_kv_release(a->engine->kv, b); /* a pruned one is gone */
    }
}

size_t pa_agent_first_private(const pyagent_agent *a) {
    if (a->private_kv) return 0;
    return a->first_embd < a->pruned_from ? a->first_embd : a->pruned_from;
}

/* The first position a scoring policy still has in a block after the sink blocks. */
static size_t first_scored(const pyagent_engine *e, const pyagent_agent *a) {
    const size_t bs = (size_t)pa_kv_config_of(e->kv)->block_size;
    for (size_t i = (size_t)a->marks->sink_blocks; i < a->n_blocks; i++)
        if (a->blocks[i] != PA_NO_BLOCK) return i * bs;
    return a->n_computed;
}

/* Releases the whole blocks that lie outside the first kv_sinks positions and the last
 * kv_window computed ones (the block holding the last computed position always stays):
 * StreamingLLM. With a scoring policy (H2O, KVzap: a->marks) each (layer, kv head) first keeps
 * its best positions of those blocks as landmarks (prune.h). */
static void prune(pyagent_engine *e, pyagent_agent *a) {
    if (a->kv_window <= 0) return;
    if (a->marks && a->marks->entropy) /* the budgets follow the entropies of every step */
        pa_marks_fold(a->marks, e->kv, NULL, NULL, 0);
    if (a->n_computed <= (size_t)a->kv_window) return;
    const size_t bs = (size_t)pa_kv_config_of(e->kv)->block_size;
    const size_t first = ((size_t)a->kv_sinks + bs - 1) / bs;   /* blocks with a sink stay */
    const size_t end = (a->n_computed - (size_t)a->kv_window) / bs; /* wholly before the window */
    int32_t blocks[64], firsts[64];
    for (size_t i = first; i < end && i < a->n_blocks;) {
        int n = 0; /* a run of blocks to fold together */
        for (; i < end && i < a->n_blocks && n < 64; i++)
            if (a->blocks[i] != PA_NO_BLOCK) blocks[n] = a->blocks[i], firsts[n++] = (int32_t)(i * bs);
        if (n == 0) break;
        if (a->marks && !pa_marks_fold(a->marks, e->kv, blocks, firsts, n))
            pa_engine_log(e, PYAGENT_LOG_WARN, "out of memory for landmarks: blocks released without");
        for (int j = 0; j < n; j++) {
            const size_t at = (size_t)firsts[j] / bs;
            pa_kv_release(e->kv, a->blocks[at]);
            a->blocks[at] = PA_NO_BLOCK;
            a->block_keys[at] = 0;
        }
        a->stats.n_pruned_tokens += (int64_t)(n * bs);
        if (a->pruned_from == SIZE_MAX) a->pruned_from = a->n_computed;
    }
    if (a->marks) /* the score ring back to what decoding needs */
        pa_marks_reserve(a->marks, first_scored(e, a), a->n_computed, a->n_computed + 1);
}

static uint64_t parent_key(const pyagent_agent *a, size_t block_index) {
    return block_index == 0 ? a->root_key : a->block_keys[block_index - 1];
}

/* Attaches indexed blocks that hold the next queued tokens, one full block at a time, always
 * leaving the last token to compute (its logits are needed). */
static void attach_cached_prefix(pyagent_engine *e, pyagent_agent *a) {
    const size_t bs = (size_t)pa_kv_config_of(e->kv)->block_size;
    if (a->marks) return; /* a scoring policy scores positions as it computes them */
    while (a->n_computed % bs == 0 && a->n_blocks == a->n_computed / bs &&
           a->n_computed + bs < a->n_tokens && a->n_computed + bs <= pa_agent_first_private(a)) {
        const int32_t *tokens = a->tokens + a->n_computed;
        const uint64_t parent = parent_key(a, a->n_blocks);
        uint64_t key = pa_kv_block_key(parent, tokens, (int)bs);
        int32_t block = pa_kv_lookup(e->kv, key, tokens);
        if (block == PA_NO_BLOCK) /* evicted from memory, kept in a tier */
            block = pa_engine_tier_fetch(e, key, parent, tokens);
        if (block == PA_NO_BLOCK) return;
        if (!push_block(a, block, key)) {
            pa_kv_release(e->kv, block);
            return;
        }
        a->n_computed += bs;
        a->stats.n_cached_tokens += (int64_t)bs;
    }
}

/* Makes blocks [n_computed, end) writable by this agent alone: copy-on-write of a shared
 * partial block, fresh blocks after it. */
static pyagent_status reserve_blocks(pyagent_engine *e, pyagent_agent *a, size_t end) {
    const size_t bs = (size_t)pa_kv_config_of(e->kv)->block_size;
    if (a->n_computed % bs != 0) {
        size_t i = a->n_computed / bs;
        int32_t b = pa_kv_make_writable(e->kv, a->blocks[i], (int)(a->n_computed % bs));
        if (b == PA_NO_BLOCK) goto full;
        a->blocks[i] = b;
    }
    while (a->n_blocks * bs < end) {
        int32_t b = pa_kv_alloc(e->kv);
        if (b == PA_NO_BLOCK) goto full;
        if (!push_block(a, b, 0)) {
            pa_kv_release(e->kv, b);
            return pa_fail(&a->last_error, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
        }
    }
    return PYAGENT_OK;
full:;
    pa_kv_counters c;
    pa_kv_counters_get(e->kv, &c);
    return pa_fail(&a->last_error, PYAGENT_ERR_KV_FULL,
                   "KV store full: all %lld blocks of %zu tokens are in use by agents (raise "
                   "kv_bytes, or destroy/reset agents)",
                   (long long)c.n_blocks, bs);
}

/* Adds `a`'s next `n` tokens to the batch if blocks can be had; ends its request otherwise. */
static void add_to_batch(pyagent_engine *e, pyagent_agent *a, size_t n, bool exact,
                         size_t *n_seqs) {
    pyagent_status st = reserve_blocks(e, a, a->n_computed + n);
    if (!st && a->marks && !pa_marks_reserve(a->marks, first_scored(e, a), a->n_computed,
                                             a->n_computed + n))
        st = pa_fail(&a->last_error, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory for KV scores");
    if (st) {
        a->spec.n_seg = 0;
        pa_sched_finish_locked(a, 0, st);
        return;
    }
    const bool last = a->n_computed + n == a->n_tokens;
    const bool tree = a->spec.n_seg > 0;
    /* a token is drawn from this row next: only the candidates the sampler draws from */
    const int n_top = e->top_candidates && last && !tree && a->req.limit > 0 &&
                              a->n_tokens < (size_t)e->n_ctx
                          ? pa_sampler_candidates_needed(&a->sampler, PA_TOP_CANDIDATES)
                          : 0;
    const size_t embd_row = a->n_embd_rows ? pa_agent_embd_rows_before(a, a->n_computed) : 0;
    e->batch[*n_seqs] = (pa_batch_seq){.tokens = tree ? a->spec.seg_tokens
                                                      : a->tokens + a->n_computed,
                                       .embd = tree || !a->n_embd_rows
                                                   ? NULL
                                                   : a->embd + embd_row * (size_t)e->model->hp.n_embd,
                                       .n = (int)n,
                                       .pos0 = (int)a->n_computed,
                                       .block_table = a->blocks,
                                       .tree_parent = tree ? a->spec.seg_parent : NULL,
                                       .exact = exact,
                                       .logits = tree ? a->spec.logits
                                                 : last && !n_top ? a->logits
                                                                  : NULL,
                                       .top = n_top ? a->top : NULL,
                                       .n_top = n_top,
                                       .hidden = tree || !last || e->cuda ? NULL : a->hidden,
                                       .hidden_sum = tree ? NULL : a->hidden_sum,
                                       .marks = a->marks};
    e->batch_agents[(*n_seqs)++] = a;
    a->in_flight = true;
}

/* ----------------------------------------------------------------------------------------- */
/* Step 4: results                                                                            */

static void publish_full_blocks(pyagent_engine *e, pyagent_agent *a, size_t from, size_t to) {
    const size_t bs = (size_t)pa_kv_config_of(e->kv)->block_size;
    for (size_t i = from / bs; i < to / bs; i++) {
        const int32_t *tokens = a->tokens + i * bs;
        uint64_t parent = parent_key(a, i);
        if ((i + 1) * bs > pa_agent_first_private(a)) { /* not the KV of its ids alone */
            a->block_keys[i] = 0;
            continue;
        }
        a->block_keys[i] = pa_kv_block_key(parent, tokens, (int)bs);
        if (e->prefix_cache) pa_kv_publish(e->kv, a->blocks[i], a->block_keys[i], parent, tokens);
    }
}

static void record(pyagent_engine *e, pyagent_agent *a, const pa_batch_seq *seq, double seconds) {
    const size_t from = a->n_computed;
    a->in_flight = false;
    if (seq->tree_parent) { /* a verified draft: accept what the target agrees with */
        if (!a->req.generated_last) a->stats.n_prompt_tokens++; /* a fed token was the root */
        pa_spec_accept_locked(e, a, from);
        publish_full_blocks(e, a, from, a->n_computed);
        prune(e, a);
        a->stats.decode_seconds += seconds;
        return;
    }
    a->n_computed += (size_t)seq->n;
    publish_full_blocks(e, a, from, a->n_computed);
    prune(e, a);
    if (seq->logits || seq->top) a->has_logits = true;
    a->n_top = seq->top ? seq->n_top : 0;
    if (seq->hidden) a->hidden_at = a->n_computed;
    if (a->req.generated_last && seq->n == 1) {
        a->stats.decode_seconds += seconds;
    } else {
        a->stats.n_prompt_tokens += seq->n;
        a->stats.prefill_seconds += seconds;
        e->n_prompt_tokens_computed += seq->n;
    }
    a->req.generated_last = false;
    if (a->req.active && a->req.limit == 0 && a->n_computed == a->n_tokens)
        pa_sched_finish_locked(a, PYAGENT_FINISH_LENGTH, PYAGENT_OK);
}

/* ----------------------------------------------------------------------------------------- */

int pa_sched_step_locked(pyagent_engine *e) {
    int n_active = 0;
    for (pyagent_agent *a = e->agents; a; a = a->next) {
        if (!a->req.active) continue;
        n_active++;
        if (a->n_computed == a->n_tokens && a->has_logits && a->req.limit > 0) sample_next(e, a);
        else if (a->n_computed == a->n_tokens && a->req.limit == 0)
            pa_sched_finish_locked(a, PYAGENT_FINISH_LENGTH, PYAGENT_OK);
    }

    /* decode tokens first: one per generating agent, or its draft tree */
    size_t n_seqs = 0, budget = (size_t)e->n_batch;
    for (pyagent_agent *a = e->agents; a && budget > 0; a = a->next)
        if (a->req.active && a->n_tokens - a->n_computed == 1 &&
            (a->req.generated_last ||
             ((a->spec.drafter || a->spec.host_draft) && a->req.limit > 0))) {
            const size_t room = (size_t)e->n_ctx - a->n_tokens; /* tree slots must exist */
            size_t max_nodes = budget - 1 < room ? budget - 1 : room;
            if (max_nodes > PA_MAX_TREE_NODES) max_nodes = PA_MAX_TREE_NODES;
            const int n_nodes = pa_spec_draft_locked(e, a, (int)max_nodes);
            add_to_batch(e, a, 1 + (size_t)n_nodes, true, &n_seqs); /* batch-invariant rows */
            budget -= 1 + (size_t)n_nodes;
        }
    /* then prompt chunks, starting from a different agent every step */
    if (e->n_agents > 0) {
        size_t start = e->fair_start++ % e->n_agents, i = 0;
        pyagent_agent *a = e->agents;
        for (; i < start; i++) a = a->next;
        for (size_t k = 0; k < e->n_agents && budget > 0; k++, a = a->next ? a->next : e->agents) {
            if (!a->req.active || a->in_flight || a->n_tokens == a->n_computed) continue;
            if (e->prefix_cache) attach_cached_prefix(e, a);
            size_t n = a->n_tokens - a->n_computed;
            n = n < budget ? n : budget;
            add_to_batch(e, a, n, false, &n_seqs);
            if (a->in_flight) budget -= n;
        }
    }
    if (n_seqs == 0) return n_active;

    e->stepping = true;
    pthread_mutex_unlock(&e->lock);
    double t0 = now_seconds();
    pa_err device_err = {0}; /* backend cuda: the same pass on the device (lib/backend/cuda) */
    if (e->cuda) pa_cuda_forward(e->cuda, e->batch, (int)n_seqs, 0, &device_err);
    else pa_llama_forward(e->model, e->ws, e->pool, e->kv, e->batch, (int)n_seqs, 0);
    double seconds = now_seconds() - t0;
    pthread_mutex_lock(&e->lock);
    e->stepping = false;

    for (size_t s = 0; s < n_seqs; s++) {
        pyagent_agent *a = e->batch_agents[s];
        if (!device_err.status) {
            record(e, a, &e->batch[s], seconds);
            continue;
        }
        a->in_flight = false; /* a failed device step ends the batch's requests */
        a->spec.n_seg = 0;
        a->last_error = device_err;
        pa_sched_finish_locked(a, 0, device_err.status);
    }
    pthread_cond_broadcast(&e->stepped);
    return n_active;
}

/* ----------------------------------------------------------------------------------------- */
/* For the latent link                                                                        */

bool pa_sched_push_block_locked(pyagent_agent *a, int32_t block) { return push_block(a, block, 0); }

pyagent_status pa_sched_reserve_blocks_locked(pyagent_engine *e, pyagent_agent *a, size_t end) {
    return reserve_blocks(e, a, end);
}

bool pa_sched_reserve_tokens_locked(pyagent_agent *a, size_t n) {
    return grow((void **)&a->tokens, &a->tokens_cap, n, sizeof *a->tokens);
}

void pa_sched_publish_blocks_locked(pyagent_agent *a, size_t from, size_t to) {
    publish_full_blocks(a->engine, a, from, to);
}
