/*
 * libpyagent — engine: one loaded model, its tokenizer, its worker threads.
 *
 * Threading: an engine is thread-safe. Many host threads may drive different agents of the
 * same engine at once; forward passes are serialized inside the engine (batching across
 * agents comes with the scheduler). pyagent_engine_last_error reports the calling thread's
 * own last failure on this engine, so threads that share an engine each read their own.
 * Include <pyagent/pyagent.h>, not this file.
 */
#ifndef PYAGENT_ENGINE_H
#define PYAGENT_ENGINE_H

#include "pyagent.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pyagent_engine pyagent_engine;

/* Opens the GGUF model at `path` (read by mmap; the file must stay unchanged while open) with
 * engine `params` (NULL = defaults; must be of kind PYAGENT_PARAMS_ENGINE).
 *
 * As with sqlite3_open, *engine is set even on failure (unless memory ran out, then NULL), so
 * that pyagent_engine_last_error can say what went wrong, e.g.
 * "model.gguf: tensor 'blk.3.attn_q.weight': data past end of file".
 * The caller destroys the handle in both cases. Thread-safe. */
PYAGENT_API pyagent_status pyagent_engine_open(const char *path, const pyagent_params *params,
                                               pyagent_engine **engine);

/* Frees the engine; NULL is a no-op. Agents may be destroyed before or after it, in any order
 * (as with sqlite3_close_v2, for garbage-collected hosts): while agents of it live, the engine
 * stops its loop and is freed when its last agent is destroyed. Using the engine itself after
 * this call is undefined. */
PYAGENT_API void pyagent_engine_destroy(pyagent_engine *engine);

/* The message of the calling thread's last failure on this engine; for a thread that has had
 * none, of the engine's last failure on any thread ("" if none). Never NULL, also for NULL.
 * Valid on this thread until its next call into the engine. */
PYAGENT_API const char *pyagent_engine_last_error(const pyagent_engine *engine);

/* Routes this engine's log lines of level >= min_level to `fn` (NULL = back to stderr;
 * min_level PYAGENT_LOG_NONE = silence). Replaces the level set by the log_level param, which
 * is what applies while the model is opened. By default an engine writes warnings and errors
 * to stderr. */
PYAGENT_API pyagent_status pyagent_engine_set_log(pyagent_engine *engine, int32_t min_level,
                                                  pyagent_log_fn fn, void *user_data);

/* Facts about the model and the engine, by key; thread-safe:
 *   n_vocab, n_ctx (the engine's per-agent limit), n_ctx_train, n_embd, n_layer, n_head,
 *   n_head_kv, n_ff, n_batch, n_threads, token_bos, token_eos (-1 if the model has none),
 *   n_params, n_tensors (of the model file, see pyagent_engine_tensor).
 * PYAGENT_ERR_UNKNOWN_KEY for any other key. */
PYAGENT_API pyagent_status pyagent_engine_info(const pyagent_engine *engine, const char *key,
                                               int64_t *value);

/* The string value of GGUF metadata `key` (e.g. "general.name", "tokenizer.chat_template"),
 * NUL-terminated, in `value`. Two-call pattern: *needed gets the bytes it takes (the NUL
 * included); PYAGENT_ERR_BUFFER_TOO_SMALL if `capacity` was less. PYAGENT_ERR_UNKNOWN_KEY when
 * the file has no such key, PYAGENT_ERR_INVALID_ARGUMENT when its value is not a string.
 * The value is as stored in the file (UTF-8 by the GGUF format; not checked). Thread-safe. */
PYAGENT_API pyagent_status pyagent_engine_meta_str(const pyagent_engine *engine, const char *key,
                                                   char *value, size_t capacity,
                                                   size_t *needed);

/* Tokenizes `text` (`text_len` bytes, or -1 for NUL-terminated) with the model's tokenizer.
 * `flags` is a bitwise OR of:
 *   PYAGENT_TOKENIZE_ADD_SPECIAL    add BOS/EOS as the model's metadata asks
 *   PYAGENT_TOKENIZE_PARSE_SPECIAL  turn control-token text such as "<s>" into its token
 * Writes up to `capacity` ids to `tokens`; *n_tokens gets the count the whole text needs.
 * PYAGENT_ERR_BUFFER_TOO_SMALL if capacity was not enough (call again with *n_tokens);
 * PYAGENT_ERR_INVALID_UTF8 if `text` is not valid UTF-8. Thread-safe. */
#define PYAGENT_TOKENIZE_ADD_SPECIAL   1
#define PYAGENT_TOKENIZE_PARSE_SPECIAL 2
PYAGENT_API pyagent_status pyagent_engine_tokenize(pyagent_engine *engine, const char *text,
                                                   int64_t text_len, int32_t flags,
                                                   int32_t *tokens, size_t capacity,
                                                   size_t *n_tokens);

/* Turns token ids back into text (UTF-8 bytes, not NUL-terminated; the bytes of a token cut in
 * the middle of a multi-byte character are emitted as they are). Control tokens (BOS, EOS)
 * give no text unless `flags` has PYAGENT_DETOKENIZE_SPECIAL. The SentencePiece dummy-prefix
 * space of the first token is kept unless `flags` has PYAGENT_DETOKENIZE_STRIP_LEADING_SPACE.
 * Writes up to `capacity` bytes to `text`; *text_len gets the size needed. Two-call pattern as
 * for tokenize; PYAGENT_ERR_INVALID_TOKEN for an id outside the vocabulary. Thread-safe. */
#define PYAGENT_DETOKENIZE_SPECIAL             1
#define PYAGENT_DETOKENIZE_STRIP_LEADING_SPACE 2
PYAGENT_API pyagent_status pyagent_engine_detokenize(pyagent_engine *engine,
                                                     const int32_t *tokens, size_t n_tokens,
                                                     int32_t flags, char *text, size_t capacity,
                                                     size_t *text_len);

/* The model file's tensor number `index` (0 .. engine info "n_tensors" - 1), as stored: its
 * name and type as GGUF names them ("blk.0.attn_q.weight", "q8_0"), dimensions (dims[0] the
 * contiguous one; unused ones 1) and bytes. The strings stay valid as long as the engine.
 * Set struct_size = sizeof(pyagent_tensor_info) before the call. PYAGENT_ERR_OUT_OF_RANGE
 * past the last tensor. Thread-safe. */
typedef struct pyagent_tensor_info {
    uint32_t struct_size;
    uint32_t n_dims;
    const char *name;
    const char *type;
    int64_t dims[4];
    int64_t n_bytes;
} pyagent_tensor_info;

PYAGENT_API pyagent_status pyagent_engine_tensor(pyagent_engine *engine, int64_t index,
                                                 pyagent_tensor_info *info);

/* The model's input embeddings of `tokens`: n_tokens rows of n_embd floats (engine info
 * "n_embd"), row i for tokens[i], written to `rows` (capacity in floats; *n_floats gets the
 * count needed; two-call pattern). These are what pyagent_agent_feed_tokens feeds; pass them,
 * or rows of the same space made another way (an adapter's, latent.h), to
 * pyagent_agent_feed_embeddings. PYAGENT_ERR_INVALID_TOKEN for an id outside the vocabulary.
 * Thread-safe. */
PYAGENT_API pyagent_status pyagent_engine_embed_tokens(pyagent_engine *engine,
                                                       const int32_t *tokens, size_t n_tokens,
                                                       float *rows, size_t capacity,
                                                       size_t *n_floats);

/* An embedding of `text` (`text_len` bytes or -1 for NUL-terminated): the mean over its
 * tokens (tokenized as pyagent_agent_feed_text does for an empty agent) of the model's final
 * hidden states (after the output norm), n_embd floats into `embedding` (two-call pattern on
 * *n_floats). Computed by a private agent of the engine: every position is computed, and
 * nothing is shared through the prefix cache. PYAGENT_ERR_INVALID_UTF8 / CONTEXT_FULL as
 * feeding the text gives; PYAGENT_ERR_UNSUPPORTED on backend cuda. Thread-safe. */
PYAGENT_API pyagent_status pyagent_engine_embed_text(pyagent_engine *engine, const char *text,
                                                     int64_t text_len, float *embedding,
                                                     size_t capacity, size_t *n_floats);

/* Loads a draft model for speculative decoding (agents with the sampler key spec =
 * PYAGENT_SPEC_DRAFT): a smaller GGUF with exactly the target's vocabulary
 * (PYAGENT_ERR_UNSUPPORTED naming the first differing token otherwise). Replaces a draft model
 * loaded before; agents drafting with the old one continue with the new one. Thread-safe. */
PYAGENT_API pyagent_status pyagent_engine_load_draft(pyagent_engine *engine, const char *path);

/* ---------------------------------------------------------------------------------------------
 * Scheduling
 *
 * The engine decodes every agent with a request together: each step samples one token for
 * every generating agent and runs one forward pass over all of their new tokens plus chunks of
 * pending prompts (at most n_batch tokens per step). Who runs the steps:
 *  - by default, the threads blocked in pyagent_agent_generate / pyagent_agent_prefill take
 *    turns running steps for everyone, so agents driven from many host threads batch together;
 *  - pyagent_engine_start runs the steps on a background thread of the engine instead;
 *  - a host that wants one thread for everything submits requests with pyagent_agent_submit and
 *    calls pyagent_engine_step itself.
 * ------------------------------------------------------------------------------------------- */

/* Runs one step if any agent has a request, and delivers the callbacks of submitted
 * (pyagent_agent_submit) requests on this thread. *n_active (may be NULL) gets the number of
 * agents whose requests were active. PYAGENT_ERR_BUSY while the background loop runs. */
PYAGENT_API pyagent_status pyagent_engine_step(pyagent_engine *engine, int32_t *n_active);

/* Starts / stops the background thread that runs steps while any request is active (and
 * sleeps otherwise). Callbacks of submitted requests then run on that thread; blocking calls
 * keep delivering on their caller's thread. stop waits for the current step; starting twice or
 * stopping a stopped engine is a no-op. pyagent_engine_destroy stops it. */
PYAGENT_API pyagent_status pyagent_engine_start(pyagent_engine *engine);
PYAGENT_API pyagent_status pyagent_engine_stop(pyagent_engine *engine);

#ifdef __cplusplus
}
#endif

#endif /* PYAGENT_ENGINE_H */
