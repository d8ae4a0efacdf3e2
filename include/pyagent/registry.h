/*
 * libpyagent — registry: what every local and cloud model can do, what it costs, how fast it
 * measured and when it was last checked; routing a request to the cheapest model that can
 * serve it; weekly re-checks.
 *
 * A registry is a SQLite file (WAL mode, so one process writes while others read, and several
 * processes may share it). It holds:
 *   - models: a unique name, a provider ("local" for a GGUF file on this machine, otherwise
 *     the provider's name such as "openai"), a location (the GGUF path of a local model, the
 *     endpoint URL of a remote one) and the provider's model id;
 *   - values: capabilities, prices and measurements, each recorded with its source, the time
 *     it was measured (int64_t Unix seconds) and a confidence in [0, 1]. Nothing is overwritten:
 *     every recorded value stays in the history, and the current value of a key is the one
 *     with the latest measured_at (the latest recorded on a tie);
 *   - checks: every recording, import and measurement is a check with its time, source and
 *     outcome, failed ones included.
 *
 * A host that routes:
 *
 *     pyagent_registry *reg = NULL;
 *     if (pyagent_registry_open("models.db", NULL, &reg) != PYAGENT_OK) {
 *         fprintf(stderr, "%s\n", pyagent_registry_last_error(reg));
 *         pyagent_registry_destroy(reg);
 *         return 1;
 *     }
 *     pyagent_registry_import_file(reg, "model_prices_and_context_window.json", NULL,
 *                                  time(NULL), 0.9, NULL, NULL, NULL);
 *     pyagent_params *need = pyagent_params_create(PYAGENT_PARAMS_ROUTE);
 *     pyagent_params_set_i64(need, "context_tokens", 20000);
 *     pyagent_params_set_i64(need, "output_tokens", 1000);
 *     pyagent_params_set_i64(need, "need_tools", 1);
 *     pyagent_route *route = NULL;
 *     if (pyagent_registry_route(reg, need, &route) == PYAGENT_OK)
 *         printf("%s: %s\n", pyagent_route_model(route), pyagent_route_reason(route));
 *     pyagent_route_destroy(route);
 *     pyagent_params_destroy(need);
 *     pyagent_registry_destroy(reg);
 *
 * Threading: a registry is thread-safe; any number of host threads may call into one handle at
 * once (calls are serialized inside it), and any number of handles, in any number of
 * processes, may use one file at once. A pyagent_route is used by one thread at a time.
 * Include <pyagent/pyagent.h>, not this file.
 */
#ifndef PYAGENT_REGISTRY_H
#define PYAGENT_REGISTRY_H

#include "pyagent.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Opening
 *
 * Registry keys (PYAGENT_PARAMS_REGISTRY):
 *   check_period_s         i64  how old a check may get before the model is due
 *                               default 604800 (7 days), [1, 100 years]
 *   busy_timeout_ms        i64  how long a write waits for another process's write
 *                               default 10000, [0, 3600000]
 *   read_only              i64  1 = open an existing registry without writing   default 0, [0, 1]
 *   verify                 i64  1 = run SQLite's quick_check on open, so that a corrupt file is
 *                               refused up front                                 default 1, [0, 1]
 *   measure_prompt_tokens  i64  prompt length of pyagent_registry_measure  default 128, [1, 2^24]
 *   measure_gen_tokens     i64  tokens it generates                         default 32, [1, 2^24]
 *   measure_context        i64  1 = prefill the whole context once, to prove it usable
 *                               (0 = record the engine's limit as declared)  default 1, [0, 1]
 * ------------------------------------------------------------------------------------------- */

typedef struct pyagent_registry pyagent_registry;

/* Opens the registry at `path`, creating it if it does not exist (unless read_only); the path
 * ":memory:" opens a private registry that lives in memory until destroyed. An older
 * schema is migrated in one transaction; the file is left exactly as it was when it is not a
 * SQLite database, is corrupt (with verify), belongs to another program, or has a schema newer
 * than this library's: those give PYAGENT_ERR_DATABASE with a message that says which
 * ("models.db: registry schema 7 is newer than this library's 1; use a newer libpyagent").
 * PYAGENT_ERR_IO when the file cannot be opened or created at all.
 *
 * As with pyagent_engine_open, *registry is set even on failure (unless memory ran out, then
 * NULL) so that pyagent_registry_last_error can say what went wrong; the caller destroys the
 * handle in both cases. Thread-safe. */
PYAGENT_API pyagent_status pyagent_registry_open(const char *path, const pyagent_params *params,
                                                 pyagent_registry **registry);

/* Closes the registry. NULL is a no-op. No call on it may be running or follow. */
PYAGENT_API void pyagent_registry_destroy(pyagent_registry *registry);

/* The message of the calling thread's last failed call on this registry ("" if none); if the
 * thread has failed on another registry since, the last failure of any thread on this one.
 * Never NULL, also for NULL. Valid until the calling thread's next failing registry call. */
PYAGENT_API const char *pyagent_registry_last_error(const pyagent_registry *registry);

/* ---------------------------------------------------------------------------------------------
 * Models
 *
 * A model name is 1 to 256 bytes of UTF-8 without control characters; it is the key of every
 * other call. Unknown names give PYAGENT_ERR_NO_MODEL.
 * ------------------------------------------------------------------------------------------- */

/* Registers model `name`. `provider` is "local" for a GGUF file on this machine (then
 * `location` is its path and must be given) or the provider's name; `location` is otherwise
 * the endpoint URL (NULL or "" = the provider's default) and `remote_id` the provider's id for
 * the model (NULL or "" = `name`). Adding a name that exists with the same provider is a no-op
 * that succeeds (and brings back a removed model); with a different provider, location or id
 * it is PYAGENT_ERR_INVALID_ARGUMENT. A local model starts with a recorded price of 0 (source
 * "local"); call pyagent_registry_measure to record what it can do. */
PYAGENT_API pyagent_status pyagent_registry_add_model(pyagent_registry *registry,
                                                      const char *name, const char *provider,
                                                      const char *location,
                                                      const char *remote_id);

/* Takes `name` out of routing, listing and due checks. Its history is kept, and adding the
 * same model again brings it back with its values. */
PYAGENT_API pyagent_status pyagent_registry_remove_model(pyagent_registry *registry,
                                                         const char *name);

/* The names of the registered models, sorted bytewise, each followed by '\n', then a NUL.
 * Two-call pattern: *needed gets the bytes that takes (NUL included); PYAGENT_ERR_BUFFER_TOO_SMALL
 * if `capacity` was less. *count (may be NULL) gets the number of names. */
PYAGENT_API pyagent_status pyagent_registry_list(pyagent_registry *registry, char *names,
                                                 size_t capacity, size_t *needed,
                                                 size_t *count);

/* ---------------------------------------------------------------------------------------------
 * Values
 *
 * Keys, with their type (n: a number, b: 0 or 1, s: a string of 1 to 256 bytes) and what a
 * recording of them counts as a check of:
 *
 *   capabilities
 *     context_tokens        n  input tokens a request may hold (for a local model: the whole
 *                              context, prompt and output together)
 *     max_output_tokens     n  tokens one response may hold
 *     tools                 b  tool (function) calling
 *     parallel_tools        b  several tool calls in one response
 *     json_mode             b  output constrained to JSON / a JSON schema
 *     vision                b  image input
 *     audio_input           b
 *     audio_output          b
 *     reasoning             b  a reasoning / thinking mode
 *     prompt_caching        b  cached input is billed at price_cached_input
 *     system_role           b  system messages
 *     input_modalities      s  comma-separated: "text,image,audio,video,pdf"
 *     output_modalities     s
 *     languages             s  comma-separated language tags ("en,de,fr"), or "*" for any
 *     mode                  s  "chat", "completion", "responses" (the text-generating modes
 *                              routing accepts), or "embedding", "image_generation", ...
 *     deprecation_date      n  Unix seconds after which the provider retires the model
 *     n_params              n  parameter count
 *   prices (per 1,000,000 tokens)
 *     price_input           n  input tokens
 *     price_output          n  output tokens
 *     price_cached_input    n  input tokens read from the provider's prompt cache
 *     currency              s  ISO 4217 code; prices recorded without one are "USD"
 *     price_valid_from      n  Unix seconds from which the provider charges these prices
 *   measurements
 *     tokens_per_second     n  generation speed
 *     prefill_tokens_per_second  n  prompt-processing speed
 *     ttft_ms               n  time to first token
 *     load_ms               n  time to load the model (local)
 *     usable_context_tokens n  longest context that actually worked
 *     quality               n  a quality score in [0, 1] over general tasks
 *     quality.TASK          n  the same for one task type, e.g. "quality.code" (TASK: 1 to 64
 *                              bytes of [a-z0-9_-])
 *     hardware              s  where the measurements were taken
 *
 * Numbers are finite and >= 0 (token counts and times whole numbers up to 2^53, quality in
 * [0, 1]) and are kept to 15 significant digits, as exports write them (so that an export
 * imports back to the same values). Every value carries its `source` (1 to 256 bytes, e.g. "litellm 2025-06-01",
 * "vendor docs", "pyagent 0.1.0 measure"), `measured_at` (Unix seconds, >= 0) and
 * `confidence` in [0, 1]. Bad keys give PYAGENT_ERR_UNKNOWN_KEY, bad values
 * PYAGENT_ERR_OUT_OF_RANGE; the message says which.
 * ------------------------------------------------------------------------------------------- */

/* Records a number (or 0/1) for `key` of `model` as one check. */
PYAGENT_API pyagent_status pyagent_registry_record_f64(pyagent_registry *registry,
                                                       const char *model, const char *key,
                                                       double value, const char *source,
                                                       int64_t measured_at, double confidence);

/* Records a string for `key` of `model` as one check. */
PYAGENT_API pyagent_status pyagent_registry_record_str(pyagent_registry *registry,
                                                       const char *model, const char *key,
                                                       const char *value, const char *source,
                                                       int64_t measured_at, double confidence);

/* The current number of `key` for `model`: *value gets it and *measured_at (may be NULL) when it
 * was measured; a key never recorded gives PYAGENT_OK with *value NaN and *measured_at 0.
 * PYAGENT_ERR_INVALID_ARGUMENT for a string key. */
PYAGENT_API pyagent_status pyagent_registry_get_f64(pyagent_registry *registry,
                                                    const char *model, const char *key,
                                                    double *value, int64_t *measured_at);

/* The current string of `key` for `model`, NUL-terminated, two-call pattern (*needed includes
 * the NUL); a key never recorded gives "" (needed 1). PYAGENT_ERR_INVALID_ARGUMENT for a
 * numeric key. The keys "provider", "location" and "remote_id" read what add_model stored. */
PYAGENT_API pyagent_status pyagent_registry_get_str(pyagent_registry *registry,
                                                    const char *model, const char *key,
                                                    char *value, size_t capacity,
                                                    size_t *needed);

/* ---------------------------------------------------------------------------------------------
 * Routing
 *
 * Requirement keys (PYAGENT_PARAMS_ROUTE):
 *   context_tokens         i64  input tokens of the request                   default 0, [0, 2^53]
 *   output_tokens          i64  output tokens expected                        default 0, [0, 2^53]
 *   cached_tokens          i64  of the input, tokens expected to hit the provider's prompt cache
 *                               (billed at price_cached_input, else at price_input)  default 0
 *   need_tools, need_parallel_tools, need_json_mode, need_vision, need_audio_input,
 *   need_reasoning, need_prompt_caching
 *                          i64  1 = the capability must be recorded as present  default 0, [0, 1]
 *   local_only             i64  1 = only provider "local" (nothing leaves the machine)
 *   max_cost               f64  most the request may cost, in `currency`; -1 = no limit
 *                               default -1, [-1, 1e12]
 *   max_latency_ms         f64  most the estimated latency may be (ttft_ms + output_tokens /
 *                               tokens_per_second); 0 = no limit               default 0
 *   min_quality            f64  least quality (or quality.TASK); 0 = none  default 0, [0, 1]
 *   min_tokens_per_second  f64  least generation speed; 0 = none            default 0
 *   language               str  a language tag the model must list ("" = any)      default ""
 *   task                   str  with min_quality: use quality.TASK         default ""
 *   currency               str  the currency of costs                           default "USD"
 *
 * A model qualifies when it is registered, not past its deprecation_date, of a text-generating
 * mode (or of no recorded mode), and every requirement is met by a *recorded* value: an
 * unknown value never qualifies (a missing price is unknown, not free). Needed: context_tokens
 * >= the request's input (a local model: >= input + output), max_output_tokens >= output
 * (when output > 0), prices for the tokens billed, in `currency` (a local model costs 0).
 * Among qualifying models the cheapest estimated cost wins; ties go to the higher quality (an
 * unknown quality counts as lowest), then to the bytewise smaller name, so the choice is
 * deterministic.
 * ------------------------------------------------------------------------------------------- */

typedef struct pyagent_route pyagent_route;

/* Routes a request with `requirements` (kind PYAGENT_PARAMS_ROUTE; NULL = no requirements)
 * over the registered models. PYAGENT_OK: pyagent_route_model names the choice. When no model
 * qualifies: PYAGENT_ERR_NO_MODEL, and the route lists, for each model, why it was rejected.
 * *route is set in both cases (NULL only on other errors); destroy it with
 * pyagent_route_destroy. The cost of routing is a scan of an in-memory table (refreshed when
 * the file changed), not a query. */
PYAGENT_API pyagent_status pyagent_registry_route(pyagent_registry *registry,
                                                  const pyagent_params *requirements,
                                                  pyagent_route **route);

PYAGENT_API void pyagent_route_destroy(pyagent_route *route);

/* The chosen model's name, "" when none qualified (and for NULL). Owned by the route. */
PYAGENT_API const char *pyagent_route_model(const pyagent_route *route);

/* Why: for a choice, e.g. "cheapest of 3 qualifying models (of 10): estimated cost 0.00375 USD
 * for 20000 input + 1000 output tokens; context 128000, max output 16384, tools"; without one,
 * "none of 10 models qualifies". Owned by the route; never NULL. */
PYAGENT_API const char *pyagent_route_reason(const pyagent_route *route);

/* Figures of a route. Set struct_size = sizeof(pyagent_route_summary) before the call; fields
 * only grow at the end. */
typedef struct pyagent_route_summary {
    uint32_t struct_size;
    uint32_t reserved;
    int64_t n_models;            /* models considered */
    int64_t n_qualified;         /* of them, those that met every requirement */
    double estimated_cost;       /* of the choice, in the requirements' currency; NaN if none */
    double estimated_latency_ms; /* of the choice; NaN if it has no ttft/speed measurement */
    double quality;              /* of the choice (quality or quality.TASK); NaN if unknown */
} pyagent_route_summary;

PYAGENT_API pyagent_status pyagent_route_summary_get(const pyagent_route *route,
                                                     pyagent_route_summary *summary);

/* How many models the route rejected (also when one was chosen). */
PYAGENT_API size_t pyagent_route_n_rejected(const pyagent_route *route);

/* Rejection `index` (< pyagent_route_n_rejected, in name order): *model gets the model's name
 * and *reason every requirement it failed ("context 8192 < 20000 needed; tool calling not
 * recorded"). Both strings are owned by the route. PYAGENT_ERR_OUT_OF_RANGE past the end. */
PYAGENT_API pyagent_status pyagent_route_rejection(pyagent_route *route, size_t index,
                                                   const char **model, const char **reason);

/* Estimates the tokens of `text` (`text_len` bytes, -1 = NUL-terminated) for routing. With
 * the tokenizer of local model `model` (NULL = the first local model, by name, whose GGUF
 * opens) the count is exact for that model and *method gets PYAGENT_ESTIMATE_TOKENIZER;
 * otherwise (a remote model, no local model) it is a heuristic (ASCII bytes / 3.5 + other
 * characters, rounded up) and *method gets PYAGENT_ESTIMATE_HEURISTIC. */
#define PYAGENT_ESTIMATE_TOKENIZER 1
#define PYAGENT_ESTIMATE_HEURISTIC 2
PYAGENT_API pyagent_status pyagent_registry_estimate_tokens(pyagent_registry *registry,
                                                            const char *model, const char *text,
                                                            int64_t text_len,
                                                            int64_t *n_tokens, int32_t *method);

/* ---------------------------------------------------------------------------------------------
 * Checks: what is due, re-measuring local models
 * ------------------------------------------------------------------------------------------- */

#define PYAGENT_CHECK_CAPABILITIES 1
#define PYAGENT_CHECK_PRICES       2
#define PYAGENT_CHECK_MEASUREMENTS 4

/* The models due for a check at time `now` (Unix seconds): those whose capabilities, or
 * (remote models) prices, were last checked check_period_s or more before `now`, or never.
 * A check exactly one period old is due. Output as for pyagent_registry_list. */
PYAGENT_API pyagent_status pyagent_registry_due(pyagent_registry *registry, int64_t now,
                                                char *names, size_t capacity, size_t *needed,
                                                size_t *count);

/* When `what` (one PYAGENT_CHECK_* value) of `model` was last checked successfully: *at gets
 * Unix seconds, or 0 if never. */
PYAGENT_API pyagent_status pyagent_registry_last_checked(pyagent_registry *registry,
                                                         const char *model, int32_t what,
                                                         int64_t *at);

/* Re-measures local model `model` with the engine (engine `params`, NULL = defaults): load
 * time, prompt-processing and generation tokens/s, time to first token, the context it
 * actually handles, and what the engine supports, recorded with source "pyagent VERSION
 * measure" as one check of capabilities and measurements. Runs for as long as the model takes
 * (the registry stays usable from other threads meanwhile). A failure (file gone, bad model)
 * is recorded as a failed check and returned with the engine's status. PYAGENT_ERR_UNSUPPORTED
 * for a remote model: re-import its provider's data instead. */
PYAGENT_API pyagent_status pyagent_registry_measure(pyagent_registry *registry,
                                                    const char *model,
                                                    const pyagent_params *params);

/* ---------------------------------------------------------------------------------------------
 * Import and export
 * ------------------------------------------------------------------------------------------- */

/* Imports `json` (`json_len` bytes) in the shape of LiteLLM's
 * model_prices_and_context_window.json: an object of entries keyed by model name, each with
 * litellm_provider, mode, max_input_tokens, max_output_tokens (or legacy max_tokens),
 * input_cost_per_token, output_cost_per_token, cache_read_input_token_cost (USD per token),
 * supports_function_calling, supports_parallel_function_calling, supports_response_schema,
 * supports_vision, supports_audio_input, supports_audio_output, supports_reasoning,
 * supports_prompt_caching, supports_system_messages, supports_pdf_input, supports_video_input
 * and deprecation_date ("YYYY-MM-DD"); other fields are ignored. An entry that also holds a
 * "pyagent" object (as pyagent_registry_export writes) is restored from that object, with
 * each value's own source, time and confidence.
 *
 * Values are recorded with `source` (NULL = "import"), `measured_at` and `confidence`, one
 * check per entry. An entry that is not an object, lacks litellm_provider, or has a field of
 * the wrong type or out of range is skipped, and reported as a line "'KEY': reason" in
 * *report (may be NULL; free with pyagent_free; "" when nothing was skipped); the entry
 * "sample_spec" is ignored. Good entries are stored in one transaction.
 * *n_imported and *n_skipped (may be NULL) get the counts.
 *
 * The whole import fails, storing nothing, when `json` is not one JSON object
 * (PYAGENT_ERR_INVALID_ARGUMENT, or PYAGENT_ERR_INVALID_UTF8, with line and column), nests more
 * than 2048 levels, or holds a number beyond double range. */
PYAGENT_API pyagent_status pyagent_registry_import_json(pyagent_registry *registry,
                                                        const char *json, size_t json_len,
                                                        const char *source, int64_t measured_at,
                                                        double confidence, int64_t *n_imported,
                                                        int64_t *n_skipped, char **report);

/* As import_json, from the file at `path` (at most 256 MiB; PYAGENT_ERR_IO if unreadable).
 * `source` NULL = the path. */
PYAGENT_API pyagent_status pyagent_registry_import_file(pyagent_registry *registry,
                                                        const char *path, const char *source,
                                                        int64_t measured_at, double confidence,
                                                        int64_t *n_imported, int64_t *n_skipped,
                                                        char **report);

/* Exports the registry (or only `model`, when not NULL) as JSON in the shape import reads: the
 * LiteLLM fields, plus per entry a "pyagent" object with the provider, location, remote id,
 * last check times and every current value with its source, measured_at and confidence; with
 * PYAGENT_EXPORT_HISTORY also every check with the values it recorded. *json gets a
 * NUL-terminated string (free with pyagent_free), *json_len (may be NULL) its length. */
#define PYAGENT_EXPORT_HISTORY 1
PYAGENT_API pyagent_status pyagent_registry_export(pyagent_registry *registry,
                                                   const char *model, int32_t flags,
                                                   char **json, size_t *json_len);

#ifdef __cplusplus
}
#endif

#endif /* PYAGENT_REGISTRY_H */
