/*
 * libpyagent — agent: one conversation (a token sequence, its KV cache and its sampler).
 *
 * Life of an agent: create it on an engine, feed text or tokens (queued, not yet computed),
 * then generate: pending tokens are prefilled in chunks, then tokens are sampled one by one (or
 * several per step with speculative decoding) and streamed to a callback until EOS, a stop
 * string, or the token limit. The engine computes every agent with work in the same steps
 * (engine.h, Scheduling), and agents fed the same beginning share its KV (kv.h).
 *
 * Threading: an agent is used by one host thread at a time (a second concurrent call returns
 * PYAGENT_ERR_BUSY, and so does a call that changes an agent whose submitted request still
 * runs). The exception is pyagent_agent_cancel, which any thread may call at any time.
 * Different agents of one engine may be driven from different threads at once.
 *
 * Memory: prefill and generate fail with PYAGENT_ERR_KV_FULL (and a message) when every KV
 * block of the engine is in use by agents; the other agents go on.
 * Include <pyagent/pyagent.h>, not this file.
 */
#ifndef PYAGENT_AGENT_H
#define PYAGENT_AGENT_H

#include "pyagent.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pyagent_agent pyagent_agent;
typedef struct pyagent_spec_tree pyagent_spec_tree; /* spec.h */

/* Creates an agent on `engine` with `sampler` params (NULL = defaults; kind
 * PYAGENT_PARAMS_SAMPLER). On failure *agent is NULL and pyagent_engine_last_error says why. */
PYAGENT_API pyagent_status pyagent_agent_create(pyagent_engine *engine,
                                                const pyagent_params *sampler,
                                                pyagent_agent **agent);

/* Frees the agent and its KV cache. NULL is a no-op. Must not race with a call on the agent.
 * If the engine's loop is calling a submitted request's on_token, it waits for that call to
 * return (so on_token must not destroy its own agent). */
PYAGENT_API void pyagent_agent_destroy(pyagent_agent *agent);

/* The message of the last failure on this agent ("" if none); never NULL, also for NULL. */
PYAGENT_API const char *pyagent_agent_last_error(const pyagent_agent *agent);

/* Replaces the agent's sampler settings (kind PYAGENT_PARAMS_SAMPLER; NULL = defaults) and
 * reseeds its RNG. */
PYAGENT_API pyagent_status pyagent_agent_set_sampler(pyagent_agent *agent,
                                                     const pyagent_params *sampler);

/* Queues `text` (`text_len` bytes or -1 for NUL-terminated). When the agent's sequence is
 * empty, the model's BOS token is put first (if its metadata asks for one; so feeding "" to an
 * empty agent queues just BOS), and a SentencePiece model adds its dummy-prefix space at the
 * start of a sequence or after a control token, not in the middle of text. Control-token text
 * such as "<s>" is kept as plain text. PYAGENT_ERR_INVALID_UTF8 for invalid UTF-8,
 * PYAGENT_ERR_CONTEXT_FULL if the tokens would pass n_ctx; nothing is queued on failure. */
PYAGENT_API pyagent_status pyagent_agent_feed_text(pyagent_agent *agent, const char *text,
                                                   int64_t text_len);

/* Queues token ids as they are (no BOS is added). PYAGENT_ERR_INVALID_TOKEN for an id outside
 * the vocabulary, PYAGENT_ERR_CONTEXT_FULL past n_ctx; nothing is queued on failure. */
PYAGENT_API pyagent_status pyagent_agent_feed_tokens(pyagent_agent *agent,
                                                     const int32_t *tokens, size_t n_tokens);

/* Queues n_rows input embeddings instead of tokens: `rows` holds n_rows × dim floats, row by
 * row, and dim must be the model's embedding width (engine info "n_embd"). Each row takes
 * one position, whose token id reads PYAGENT_TOKEN_EMBEDDING in pyagent_agent_tokens. The rows
 * go where token embeddings would (pyagent_engine_embed_tokens gives those, so feeding a
 * token's row equals feeding the token), e.g. another model's hidden states mapped by an
 * adapter (latent.h). Positions fed so are never shared through the prefix cache, and from the
 * first one on the agent drafts no speculative trees and cannot be exported or saved (those
 * need token ids): PYAGENT_ERR_UNSUPPORTED there, as here on backend cuda.
 * PYAGENT_ERR_INVALID_ARGUMENT for another width or a value that is not finite,
 * PYAGENT_ERR_CONTEXT_FULL past n_ctx; nothing is queued on failure. */
#define PYAGENT_TOKEN_EMBEDDING (-1)
PYAGENT_API pyagent_status pyagent_agent_feed_embeddings(pyagent_agent *agent,
                                                         const float *rows, size_t n_rows,
                                                         size_t dim);

/* Runs the forward pass over every queued token, so that the logits of the last one are ready.
 * generate does this by itself; call it to time prefill or to read logits. (Feeding never
 * queues past n_ctx, so prefill has no context limit of its own to report.) */
PYAGENT_API pyagent_status pyagent_agent_prefill(pyagent_agent *agent);

/* Copies the logits (n_vocab floats, before any sampler setting) of the last computed
 * position into `logits`. Two-call pattern on the float count; PYAGENT_ERR_INVALID_ARGUMENT
 * if nothing has been computed yet. */
PYAGENT_API pyagent_status pyagent_agent_logits(pyagent_agent *agent, float *logits,
                                                size_t capacity, size_t *n_logits);

/* Copies the final hidden state of the last computed position: the model's last layer output
 * after its output norm, n_embd floats (what the output matrix turns into the logits). An
 * adapter maps it to another model's input embeddings (latent.h). Two-call pattern on the
 * float count; PYAGENT_ERR_INVALID_ARGUMENT if the last position has none (nothing computed,
 * or a speculative step computed it), PYAGENT_ERR_UNSUPPORTED on backend cuda. */
PYAGENT_API pyagent_status pyagent_agent_hidden(pyagent_agent *agent, float *hidden,
                                                size_t capacity, size_t *n_floats);

/* Adds a stop string: generation ends when the generated text contains it. The stop string
 * itself is not streamed. Up to 16 stop strings of up to 256 bytes each. */
PYAGENT_API pyagent_status pyagent_agent_add_stop(pyagent_agent *agent, const char *stop,
                                                  int64_t stop_len);
PYAGENT_API pyagent_status pyagent_agent_clear_stops(pyagent_agent *agent);

/* Called for every generated token, on the thread that called generate. `text`/`text_len` is
 * the text released by this token: it lags behind the token while the text so far could still
 * become a stop string or ends inside a UTF-8 character, so the concatenation of all released
 * text is exactly the generated text up to (not including) a stop string. `text` is valid only
 * during the call. The callback must not call generate on the same agent. */
typedef void (*pyagent_token_fn)(void *user_data, int32_t token, const char *text,
                                 size_t text_len);

#define PYAGENT_FINISH_LENGTH    1 /* max_tokens were generated */
#define PYAGENT_FINISH_EOS       2 /* the model produced its end-of-sequence token */
#define PYAGENT_FINISH_STOP      3 /* a stop string appeared */
#define PYAGENT_FINISH_CANCELLED 4 /* pyagent_agent_cancel was called */
#define PYAGENT_FINISH_CONTEXT   5 /* the sequence reached n_ctx */

/* Prefills what is queued, then samples up to `max_tokens` tokens (-1 = no limit: until EOS,
 * a stop string, cancellation or n_ctx), appending each to the agent's sequence and passing it
 * to `on_token` (may be NULL). An EOS token is appended and passed to on_token but gives no
 * text. *finish_reason (may be NULL) gets a PYAGENT_FINISH_* value. Reaching n_ctx while
 * generating is not an error: generation finishes with PYAGENT_FINISH_CONTEXT. */
PYAGENT_API pyagent_status pyagent_agent_generate(pyagent_agent *agent, int32_t max_tokens,
                                                  pyagent_token_fn on_token, void *user_data,
                                                  int32_t *finish_reason);

/* Asks a running generate to finish: the next token it samples is the last one it streams
 * (with PYAGENT_FINISH_CANCELLED). Any thread, also from inside on_token; it only stores to
 * atomics, so it is async-signal-safe (a SIGINT handler may call it). A cancel is for the
 * request running when it is made (until its generate returns, or poll reports a submitted
 * one ended), so one made from its last on_token does nothing; made between requests, it
 * stops the next one. */
PYAGENT_API void pyagent_agent_cancel(pyagent_agent *agent);

/* The agent's sequence (every computed and queued token). Two-call pattern on the count. */
PYAGENT_API pyagent_status pyagent_agent_tokens(pyagent_agent *agent, int32_t *tokens,
                                                size_t capacity, size_t *n_tokens);

/* Forgets the sequence and the KV cache; the sampler settings and the stop strings stay. */
PYAGENT_API pyagent_status pyagent_agent_reset(pyagent_agent *agent);

/* A new agent that continues from this one: the same tokens, sampler settings, stop strings,
 * cache salt and logits, sharing every KV block (copy-on-write: the first write to a shared,
 * partly filled block copies it). *child is NULL on failure. */
PYAGENT_API pyagent_status pyagent_agent_fork(pyagent_agent *agent, pyagent_agent **child);

/* Drops the last n_tokens of the sequence (queued or computed); their KV is released.
 * PYAGENT_ERR_OUT_OF_RANGE if the sequence is shorter. */
PYAGENT_API pyagent_status pyagent_agent_rewind(pyagent_agent *agent, size_t n_tokens);

/* Labels, UTF-8 strings of up to 127 bytes, by key:
 *   "session_id", "agent_id"  free-form names shown in statistics and logs;
 *   "cache_salt"              agents share cached prefix blocks only with agents of the same
 *                             salt (tenants); set it while the sequence is empty.
 * get returns "" for an unset label and NULL for an unknown key; the string stays valid until
 * the label is set again or the agent is destroyed. */
PYAGENT_API pyagent_status pyagent_agent_set_label(pyagent_agent *agent, const char *key,
                                                   const char *value);
PYAGENT_API const char *pyagent_agent_get_label(const pyagent_agent *agent, const char *key);

/* Asynchronous generation: starts a request like pyagent_agent_generate and returns at once.
 * The engine's steps (pyagent_engine_step, or its background loop) compute it, and on_token
 * runs on the thread that runs the step. Until it finishes, calls that change the agent return
 * PYAGENT_ERR_BUSY. */
PYAGENT_API pyagent_status pyagent_agent_submit(pyagent_agent *agent, int32_t max_tokens,
                                                pyagent_token_fn on_token, void *user_data);

/* The state of the last request: *finish_reason = 0 while it runs, else PYAGENT_FINISH_*;
 * returns the request's own status once finished (e.g. PYAGENT_ERR_KV_FULL). */
PYAGENT_API pyagent_status pyagent_agent_poll(pyagent_agent *agent, int32_t *finish_reason);

/* Hands the agent a draft for its next generated token: `tree` (see spec.h; copied, at most
 * 64 nodes) continues the agent's last token, and the next step of generate/submit verifies
 * it instead of the agent's own drafter (or instead of plain decoding). Verification is
 * lossless whatever the draft says. PYAGENT_ERR_OUT_OF_RANGE for a tree over 64 nodes. */
PYAGENT_API pyagent_status pyagent_agent_draft(pyagent_agent *agent,
                                               const pyagent_spec_tree *tree);

/* Saves the agent to `path`: its sequence, KV (lossless), last logits, sampler settings and
 * RNG state, stop strings and labels, in a checksummed file bound to the model fingerprint.
 * Crash-safe: written to a temporary file, fsync'ed and renamed over `path`, so `path` holds
 * the previous snapshot or this one, never part of one. */
PYAGENT_API pyagent_status pyagent_agent_save(pyagent_agent *agent, const char *path);

/* Creates an agent on `engine` from a snapshot: it continues exactly as the saved agent would
 * have (the same tokens under the same seed). PYAGENT_ERR_MISMATCH for another model,
 * PYAGENT_ERR_BAD_PACKET for a damaged file, PYAGENT_ERR_IO if it cannot be read; the message
 * is on the engine. */
PYAGENT_API pyagent_status pyagent_agent_load(pyagent_engine *engine, const char *path,
                                              pyagent_agent **agent);

/* Checkpoints: the same state as a snapshot, kept in a directory `dir` (created if missing) so
 * that saving often is cheap: dir/state (meta, tokens, logits: small, rewritten crash-safely)
 * and dir/kv.<generation>, an append-only log of the KV. A checkpoint of the agent that wrote
 * the directory's last one appends only the positions computed since (fsync'ed before the state
 * that names them), unless the agent recomputed positions the log holds (rewind, reset): then,
 * as for another agent's directory, a new log is written whole and the old one removed. A crash
 * at any moment leaves the previous checkpoint or this one; a torn append is cut off by the next
 * checkpoint. One agent per directory at a time. Refusals as pyagent_agent_save's. */
PYAGENT_API pyagent_status pyagent_agent_checkpoint(pyagent_agent *agent, const char *dir);

/* Creates an agent on `engine` from the checkpoint in `dir` (as pyagent_agent_load); its next
 * checkpoint into `dir` appends. */
PYAGENT_API pyagent_status pyagent_agent_restore(pyagent_engine *engine, const char *dir,
                                                 pyagent_agent **agent);

/* Statistics since the agent was created or reset. Set struct_size = sizeof(pyagent_agent_stats)
 * before the call; the library fills only the fields that fit, so old hosts keep working when
 * fields are appended. */
typedef struct pyagent_agent_stats {
    uint32_t struct_size;
    uint32_t reserved;
    int64_t n_prompt_tokens;    /* queued tokens computed by prefill (the last token of a
                                   previous generate is computed by the next prefill, and
                                   counts here) */
    int64_t n_generated_tokens; /* tokens sampled, including a final EOS */
    double prefill_seconds;     /* wall time of the steps that computed its prompt tokens */
    double decode_seconds;      /* wall time of the steps that computed its generated tokens
                                   (a step computes every agent of the batch at once) */
    int64_t n_cached_tokens;    /* prompt tokens attached from the prefix cache, not computed */
    int64_t n_drafted_tokens;   /* speculative draft nodes verified */
    int64_t n_accepted_tokens;  /* draft nodes accepted (each verify step also adds one token
                                   of the target's own) */
    int64_t n_verify_steps;     /* steps that verified a draft tree */
    double draft_seconds;       /* time spent drafting */
    int64_t n_imported_tokens;  /* tokens received through the latent link */
    int64_t n_pruned_tokens;    /* positions whose KV blocks the pruning policy released */
    int64_t n_landmarks;        /* kv_policy h2o / kvzap: (layer, kv head, position) rows kept
                                   from the released blocks */
    int64_t landmark_bytes;     /* bytes those rows and the policy's scores take, besides the
                                   agent's blocks */
} pyagent_agent_stats;

PYAGENT_API pyagent_status pyagent_agent_stats_get(const pyagent_agent *agent,
                                                   pyagent_agent_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* PYAGENT_AGENT_H */
