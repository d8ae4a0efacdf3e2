/*
 * What an engine and its agents hold, shared by engine.c, agent.c and scheduler.c.
 *
 * Locking: engine->lock guards the list of agents, every agent's sequence, block table and
 * request, and the KV store. A step builds its batch under the lock, runs the forward pass
 * without it (the agents in the batch are marked in_flight: nobody else touches their blocks,
 * and the blocks they read are referenced, so never evicted), then takes the lock again to
 * record the results. Callbacks never run under the lock.
 */
#ifndef PA_ENGINE_INTERNAL_H
#define PA_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "../core/error.h"
#include "../core/threadpool.h"
#include "../kv/store.h"
#include "../kv/tier.h"
#include "../model/arch/llama.h"
#include "../backend/cuda/cuda.h"
#include "../model/model.h"
#include "../spec/builders.h"
#include "sampler.h"

/* ------------------------------------------------------------------------------------------ */
/* Agents                                                                                       */

/* One token streamed to the host: its id and the text it released (in the buffer's text). */
typedef struct pa_event {
    int32_t token;
    size_t text_offset, text_len;
} pa_event;

/* Events in order, with the bytes of their text. */
typedef struct pa_event_buf {
    pa_event *events;
    size_t n, cap;
    char *text;
    size_t text_len, text_cap;
} pa_event_buf;

/* A generate/prefill request being served by the scheduler. */
typedef struct pa_request {
    bool active;      /* submitted and not yet finished */
    bool async;       /* callbacks run on the stepping thread (pyagent_agent_submit) */
    int64_t limit;    /* tokens to generate (0: prefill only) */
    int64_t n_done;
    pyagent_token_fn on_token;
    void *user_data;
    int32_t finish;   /* PYAGENT_FINISH_*, 0 while running */
    pyagent_status status;
    bool generated_last; /* the pending token was sampled by this request (a decode token) */
    char *held;       /* generated text not yet released (stop-string / UTF-8 holdback) */
    size_t held_len, held_cap;
    pa_event_buf inbox;  /* streamed by steps, not yet delivered (guarded by the lock) */
    pa_event_buf outbox; /* being delivered by the owner or stepping thread (no lock) */
} pa_request;

/* An agent's speculative decoding (spec.c). */
typedef struct pa_spec_state {
    int drafter;             /* PYAGENT_SPEC_* */
    pa_spec_config cfg;      /* tree builder and its budget */
    pyagent_spec_tree *tree; /* the draft of the current step */
    int n_seg;               /* 1 + draft nodes in the step's tree segment, 0 if none */
    int32_t seg_tokens[PA_MAX_TREE_NODES + 1]; /* the pending token, then nodes (BFS) */
    int32_t seg_parent[PA_MAX_TREE_NODES + 1]; /* segment index of each one's parent */
    int32_t seg_drow[PA_MAX_TREE_NODES + 1];   /* the drafter's row (after n_dcomputed) that
                                                  holds each one's draft K/V, -1 if none */
    float *logits;           /* (PA_MAX_TREE_NODES + 1, n_vocab) verification rows */
    int self_layers;         /* PYAGENT_SPEC_SELF: the target's layers that draft */
    bool host_draft;         /* the tree holds a draft from pyagent_agent_draft */
    int32_t *dblocks;        /* the agent's blocks in its model drafter's KV store */
    size_t n_dblocks, dblocks_cap;
    size_t n_dcomputed;      /* committed tokens the drafter has computed */
} pa_spec_state;

typedef struct pa_drafter pa_drafter;

#define PA_MAX_STOPS 16
#define PA_MAX_STOP_LEN 256
#define PA_MAX_LABEL 128

struct pyagent_agent {
    pyagent_engine *engine;
    pyagent_agent *prev, *next; /* the engine's list of agents */

    int32_t *tokens;      /* the sequence: computed tokens, then queued ones */
    size_t n_tokens, tokens_cap;
    size_t n_computed;    /* positions whose K/V are in the block table */
    int32_t *blocks;      /* block table */
    uint64_t *block_keys; /* radix keys of the full blocks (parent chain) */
    size_t n_blocks, blocks_cap;
    uint64_t root_key;    /* from the model fingerprint and the cache salt */
    float *logits;        /* (n_vocab,) after token n_computed - 1, when has_logits */
    bool has_logits;
    int n_top;            /* > 0: has_logits holds as top[0 .. n_top) alone (the best
                             candidates of a decode step, for its sampler; logits is stale);
                             only between a step and the request's next token or its end */
    pa_token_logit top[PA_TOP_CANDIDATES];
    float *hidden;        /* (n_embd,) final hidden state of position hidden_at - 1 */
    size_t hidden_at;     /* 0: none */
    float *embd;          /* (n_embd_rows, n_embd) inputs of the PA_TOKEN_EMBD positions */
    size_t n_embd_rows, embd_cap;
    size_t first_embd;    /* the first PA_TOKEN_EMBD position, SIZE_MAX if none: the radix
                             index neither gives nor takes blocks from there on, since their
                             KV is not the KV of any token ids */
    int64_t kv_window, kv_sinks; /* pruning (sampler keys); window 0 = off */
    pa_marks *marks;      /* H2O / KVzap landmarks and scores (kv_policy), or NULL */
    uint64_t lineage;     /* random per agent (a restored one takes its checkpoint's) */
    size_t ckpt_stable;   /* positions unchanged since its last checkpoint (truncation lowers
                             it): a checkpoint log holding no more of them can be appended to */
    bool private_kv;      /* neither takes from nor gives to the prefix cache (embedding) */
    double *hidden_sum;   /* NULL, or (n_embd,): computed tokens' final hidden states add up */
    size_t pruned_from;   /* positions from here on were computed with pruned blocks missing
                             (PA_NO_BLOCK holes in the table), SIZE_MAX if none: private too */
    bool in_flight;       /* part of the batch a step is computing */
    bool delivering;      /* its outbox is being delivered, outside the lock */

    pa_sampler sampler;
    pa_spec_state spec;
    char stops[PA_MAX_STOPS][PA_MAX_STOP_LEN];
    size_t stop_len[PA_MAX_STOPS];
    int n_stops;
    char session_id[PA_MAX_LABEL], agent_id[PA_MAX_LABEL];
    uint64_t cache_salt;

    pa_request req;
    pyagent_agent_stats stats;
    /* Cancellation without a lock (pyagent_agent_cancel is async-signal-safe): request_seq is
     * odd while a request runs, from its start until its caller has seen it end (the blocking
     * call returns, or poll reports it finished), even between requests; a cancel names the
     * request it stops, the running one or else the next, and a token only ends the request
     * it names, so a cancel that comes as a request ends (from its last on_token) is spent on
     * it and cannot cut the next one short. */
    atomic_uint request_seq, cancel_seq;
    atomic_flag busy;        /* one host thread at a time */
    pa_err last_error;
};

/* ------------------------------------------------------------------------------------------ */
/* Engine                                                                                       */

/* The KV store of an engine is its own pyagent_kv_store handle. */
struct pyagent_kv_store {
    pyagent_engine *engine;
};

struct pyagent_engine {
    pa_model *model;
    pa_pool *pool;
    pa_llama_ws *ws;
    pa_kv_store *kv;
    pa_tier *host, *disk, *redis; /* the store's tiers (pyagent_kv_store_set_*_tier), or NULL */
    bool prefix_cache;   /* look up and publish full blocks in the radix index */
    bool huge_pages;     /* models are read into 2 MiB pages (param huge_pages) */
    bool top_candidates; /* decode steps hand samplers their best candidates (param) */
    pa_drafter *draft;       /* pyagent_engine_load_draft's model, or NULL */
    pa_kvzap *kvzap;         /* pyagent_engine_load_kvzap's surrogate, or NULL */
    pa_drafter *self_draft;  /* the target's first layers, made when an agent asks for it */
    pa_cuda *cuda;           /* backend cuda: the device copy of the model and KV, else NULL */
    int n_ctx;           /* per-agent sequence limit */
    int n_batch;         /* tokens per step (chunked prefill budget) */
    uint64_t seed;
    atomic_uint_fast64_t n_agents_created; /* makes default agent seeds differ */
    int64_t n_prompt_tokens_computed;      /* tokens that went through prefill forwards */

    pthread_mutex_t lock;
    pthread_cond_t stepped;  /* broadcast after every step and when a request ends */
    bool stepping;           /* a thread is running a step */
    pyagent_agent *agents;   /* every live agent */
    size_t n_agents;
    size_t fair_start;       /* rotates which agent's prefill goes first */
    pa_batch_seq *batch;     /* (n_batch,) sequences of the current step */
    pyagent_agent **batch_agents;

    bool zombie;             /* destroyed by the host; freed with its last agent and packet */
    size_t n_packets;        /* latent packets holding blocks of this engine */
    pthread_t loop_thread;   /* background stepping (pyagent_engine_start) */
    bool loop_running, loop_stop;
    pthread_cond_t work;     /* wakes the loop when a request arrives */
    bool work_arrived;       /* a request began since the loop's last step: it must not sleep */

    pthread_mutex_t error_lock; /* guards last_error against concurrent failures */
    uint64_t serial;            /* unique among the process's engines, for the per-thread error */
    pyagent_log_fn log_fn;
    void *log_user_data;
    int32_t log_level;
    pa_err last_error;
};

/* Frees everything the engine holds (its agents are gone). */
void pa_engine_free(pyagent_engine *e);

/* True once open succeeded: the model, pool and activations are there. */
bool pa_engine_ready(const pyagent_engine *e);

/* Copies `err` into the engine's last error and returns its status. */
pyagent_status pa_engine_set_error(pyagent_engine *e, const pa_err *err);

void pa_engine_log(pyagent_engine *e, int32_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* scheduler.c. The *_locked functions need engine->lock. */

/* Runs one step: samples for agents whose logits are ready, then one forward pass over a batch
 * of decode tokens and prefill chunks (the lock is released during the forward pass). Returns
 * the number of agents with an active request. */
int pa_sched_step_locked(pyagent_engine *e);
/* Moves the request's new events to its outbox (the previous outbox must be delivered). */
void pa_sched_take_events_locked(pyagent_agent *a);
/* Calls the request's callback for every event in its outbox, then empties it (no lock). */
void pa_sched_deliver(pyagent_agent *a);
/* After pa_sched_deliver: the agent may be changed or destroyed again. */
void pa_sched_delivered_locked(pyagent_agent *a);
/* Whether pyagent_agent_cancel named the running request (agent.request_seq). */
bool pa_sched_cancelled(const pyagent_agent *a);
/* The caller has seen the request end: a cancel from now on names the next one. */
void pa_sched_request_seen(pyagent_agent *a);
/* Starts a request on an idle agent. */
void pa_sched_begin_locked(pyagent_agent *a, int64_t limit, bool async, pyagent_token_fn fn,
                           void *user_data);
/* Ends the request with `finish` and `status` and wakes whoever waits for it. */
void pa_sched_finish_locked(pyagent_agent *a, int32_t finish, pyagent_status status);
/* Appends a generated token to the agent's request: text release, stop strings, finish checks.
 * Returns true while the request goes on. */
bool pa_sched_emit_locked(pyagent_engine *e, pyagent_agent *a, int32_t id);
/* Keeps only the blocks that hold positions [0, n_positions). */
void pa_sched_truncate_blocks_locked(pyagent_agent *a, size_t n_positions);
/* The first position whose KV is not the KV of the ids before it (an embedding row, or a
 * position computed after pruning): the radix index neither gives nor takes blocks from it. */
size_t pa_agent_first_private(const pyagent_agent *a);
/* A block that left memory, from the engine's tiers (disk first), or PA_NO_BLOCK. */
int32_t pa_engine_tier_fetch(pyagent_engine *e, uint64_t key, uint64_t parent_key,
                             const int32_t *tokens);
/* How many PA_TOKEN_EMBD positions come before `pos`: the index of its row in a->embd. */
size_t pa_agent_embd_rows_before(const pyagent_agent *a, size_t pos);
/* Forgets positions from n on (the last computed one is queued again when it has no logits). */
void pa_agent_truncate_locked(pyagent_agent *a, size_t n);
void pa_event_buf_free(pa_event_buf *b);
/* For the latent link: appends a block (already retained) to the table; makes blocks for
 * positions [n_computed, end) writable; room for n tokens; keys (and index entries) of the
 * full blocks in [from, to). */
bool pa_sched_push_block_locked(pyagent_agent *a, int32_t block);
pyagent_status pa_sched_reserve_blocks_locked(pyagent_engine *e, pyagent_agent *a, size_t end);
bool pa_sched_reserve_tokens_locked(pyagent_agent *a, size_t n);
void pa_sched_publish_blocks_locked(pyagent_agent *a, size_t from, size_t to);

/* agent.c: a call that changes an idle agent: BUSY checks, then the engine lock is held. */
pyagent_status pa_agent_begin_change(pyagent_agent *a);
pyagent_status pa_agent_end_change(pyagent_agent *a, pyagent_status status);

/* drafter.c (engine lock held) */
pyagent_status pa_drafter_create(pyagent_engine *e, const char *path, pa_drafter **out,
                                 pa_err *err);
void pa_drafter_free(pa_drafter *d);
/* Frees the agent's blocks in drafter d (which may be NULL). */
void pa_drafter_release(pa_drafter *d, pa_spec_state *s);
/* Builds the agent's draft tree with drafter d. Its rows in d's KV after the agent's committed
 * tokens: row 0 the pending token, row 1 + i tree node i, for rows < *n_rows. */
pyagent_status pa_drafter_build(pyagent_engine *e, pa_drafter *d, pyagent_agent *a, int n_layers,
                                const pa_spec_config *cfg, int *n_rows, pa_err *err);
/* After a verify step accepted n drafted nodes, whose draft K/V are in rows[0..n) (-1: not
 * computed): keeps the pending token's and those rows as the drafter's K/V of the newly
 * committed tokens, instead of computing them again next step. Nothing to do when d is NULL
 * or the step's tree was not d's (a host draft). */
void pa_drafter_keep(pa_drafter *d, pa_spec_state *s, const int32_t *rows, int n);

/* spec.c */
pyagent_status pa_spec_configure(pyagent_agent *a, const pyagent_params *sampler, pa_err *err);
/* Frees the agent's speculative state, its drafter blocks included (engine lock held). */
void pa_spec_free(pyagent_engine *e, pa_spec_state *s);
pyagent_status pa_spec_copy_settings(pyagent_agent *to, const pyagent_agent *from, pa_err *err);
/* Copies a host's draft to verify at the agent's next generated token. */
pyagent_status pa_spec_set_host_draft(pyagent_agent *a, const pyagent_spec_tree *tree,
                                      pa_err *err);
/* Drafts a tree of at most max_nodes after the agent's pending token into a->spec; returns the
 * node count (0: decode plainly this step). */
int pa_spec_draft_locked(pyagent_engine *e, pyagent_agent *a, int max_nodes);
/* After the tree segment at slots pos0 .. was computed: accepts, emits, moves KV. */
void pa_spec_accept_locked(pyagent_engine *e, pyagent_agent *a, size_t pos0);

#endif
