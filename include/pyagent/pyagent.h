/*
 * libpyagent — embeddable multi-agent LLM inference.
 *
 * This umbrella header is the manual. It holds versions, status codes, memory, logging and
 * the params object, and includes the rest of the stable API (engine.h, agent.h).
 *
 * A minimal host:
 *
 *     if (pyagent_check_abi(PYAGENT_ABI_VERSION) != PYAGENT_OK) return 1;
 *     pyagent_engine *engine = NULL;
 *     if (pyagent_engine_open("stories260K.gguf", NULL, &engine) != PYAGENT_OK) {
 *         fprintf(stderr, "%s\n", pyagent_engine_last_error(engine));
 *         pyagent_engine_destroy(engine);
 *         return 1;
 *     }
 *     pyagent_agent *agent = NULL;
 *     pyagent_agent_create(engine, NULL, &agent);
 *     pyagent_agent_feed_text(agent, "Once upon a time", -1);
 *     pyagent_agent_generate(agent, 64, on_token, NULL, NULL);
 *     pyagent_agent_destroy(agent);
 *     pyagent_engine_destroy(engine);
 *
 * Rules that hold for every function in every header:
 *  - Fallible calls return pyagent_status (0 = PYAGENT_OK). The detail of the last failure is
 *    kept on the handle the call was made on (pyagent_engine_last_error and friends).
 *  - No call aborts or exits the process on any input a caller can pass.
 *  - pyagent_X_destroy(NULL) is a no-op; every destroy has the shape void f(T *).
 *  - Memory the library hands out is freed with pyagent_free. Caller buffers use the two-call
 *    pattern: pass a capacity, get the size needed back through a size_t pointer.
 *  - Strings are UTF-8. A length of -1 (as int64_t) means "NUL-terminated".
 *  - Only fixed-size types cross the boundary; enums travel as int32_t.
 */
#ifndef PYAGENT_PYAGENT_H
#define PYAGENT_PYAGENT_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Versions
 *
 * The library version follows semantic versioning. The ABI version is separate: it is the
 * SONAME number (libpyagent.so.N) and only changes when a binary built against an older
 * header would break. Bindings call pyagent_check_abi(PYAGENT_ABI_VERSION) before anything else.
 * ------------------------------------------------------------------------------------------- */

#define PYAGENT_VERSION_MAJOR 0
#define PYAGENT_VERSION_MINOR 1
#define PYAGENT_VERSION_PATCH 0
#define PYAGENT_VERSION_NUMBER \
    (PYAGENT_VERSION_MAJOR * 10000 + PYAGENT_VERSION_MINOR * 100 + PYAGENT_VERSION_PATCH)
#define PYAGENT_ABI_VERSION 1

/* Run-time version of the loaded library. Thread-safe, never fails. */
PYAGENT_API uint32_t pyagent_version_number(void);
PYAGENT_API const char *pyagent_version_string(void); /* static string, e.g. "0.1.0" */
PYAGENT_API int32_t pyagent_abi_version(void);

/* ---------------------------------------------------------------------------------------------
 * Status codes
 *
 * Values are stable and never reused; new codes are only appended.
 * ------------------------------------------------------------------------------------------- */

typedef int32_t pyagent_status;

#define PYAGENT_OK                   0
#define PYAGENT_ERR_INVALID_ARGUMENT 1  /* NULL handle, bad length, wrong params kind, ... */
#define PYAGENT_ERR_OUT_OF_MEMORY    2
#define PYAGENT_ERR_IO               3  /* a file could not be opened, read or mapped */
#define PYAGENT_ERR_BAD_MODEL        4  /* the model file is malformed or inconsistent */
#define PYAGENT_ERR_UNSUPPORTED      5  /* valid, but not supported (tensor type, architecture) */
#define PYAGENT_ERR_UNKNOWN_KEY      6  /* a params key that does not exist for this kind */
#define PYAGENT_ERR_OUT_OF_RANGE     7  /* a value outside the documented bounds */
#define PYAGENT_ERR_BUFFER_TOO_SMALL 8  /* two-call pattern: *needed says how much */
#define PYAGENT_ERR_CONTEXT_FULL     9  /* the agent's sequence reached n_ctx */
#define PYAGENT_ERR_ABI_MISMATCH     10
#define PYAGENT_ERR_INVALID_UTF8     11
#define PYAGENT_ERR_INVALID_TOKEN    12 /* a token id outside [0, n_vocab) */
#define PYAGENT_ERR_BUSY             13 /* the handle is in use by another call */
#define PYAGENT_ERR_INTERNAL         14 /* a bug in libpyagent: please report it */
#define PYAGENT_ERR_NO_MODEL         15 /* the registry has no model that meets the request */
#define PYAGENT_ERR_DATABASE         16 /* a registry database is corrupt, foreign, newer than
                                           this library, or could not be written */
#define PYAGENT_ERR_KV_FULL          17 /* every KV block is in use by an agent */
#define PYAGENT_ERR_MISMATCH         18 /* state of another model or another sequence */
#define PYAGENT_ERR_BAD_PACKET       19 /* a serialized packet is damaged or truncated */

/* PYAGENT_OK when the loaded library implements ABI `abi_version` (pass PYAGENT_ABI_VERSION
 * as compiled into the host), PYAGENT_ERR_ABI_MISMATCH otherwise. Thread-safe. */
PYAGENT_API pyagent_status pyagent_check_abi(int32_t abi_version);

/* A fixed English name for `status`, e.g. "bad model file". Never NULL; unknown codes give
 * "unknown status". The string is static. Thread-safe. */
PYAGENT_API const char *pyagent_status_str(pyagent_status status);

/* ---------------------------------------------------------------------------------------------
 * Memory
 * ------------------------------------------------------------------------------------------- */

/* Frees memory that a pyagent_* call documented as "free with pyagent_free". NULL is a no-op. */
PYAGENT_API void pyagent_free(void *ptr);

/* ---------------------------------------------------------------------------------------------
 * Logging
 *
 * Each engine has its own log sink (pyagent_engine_set_log). Messages are complete lines
 * without the trailing newline. The callback may run on any thread that calls into the engine,
 * and must not call back into the same engine.
 * ------------------------------------------------------------------------------------------- */

#define PYAGENT_LOG_DEBUG 0
#define PYAGENT_LOG_INFO  1
#define PYAGENT_LOG_WARN  2
#define PYAGENT_LOG_ERROR 3
#define PYAGENT_LOG_NONE  4 /* as a minimum level: log nothing */

typedef void (*pyagent_log_fn)(void *user_data, int32_t level, const char *message);

/* ---------------------------------------------------------------------------------------------
 * Params: keyed, typed configuration
 *
 * A params object belongs to one kind (engine, sampler, registry or route; the last two are
 * listed in registry.h) and knows that kind's keys, their
 * types, defaults and bounds. Setters reject unknown keys (PYAGENT_ERR_UNKNOWN_KEY), values of
 * the wrong type (PYAGENT_ERR_INVALID_ARGUMENT) and values out of bounds
 * (PYAGENT_ERR_OUT_OF_RANGE), and pyagent_params_last_error says which and why. The library
 * copies what it needs from a params object, so it may be destroyed right after use.
 * A params object is used by one thread at a time.
 *
 * Engine keys (PYAGENT_PARAMS_ENGINE):
 *   n_threads   i64  worker threads for the forward pass      default 0 = physical cores, [0, 1024]
 *                    (0 counts the cores the thread that opens the engine may run on, and the
 *                    workers stay on those: bind that thread first, e.g. with taskset or
 *                    sched_setaffinity, to choose the cores)
 *   n_ctx       i64  max tokens per agent (0 = model's, at least 512)  default 0, [0, 1<<24]
 *   n_batch     i64  max tokens per forward pass in prefill    default 512, [1, 1<<16]
 *   seed        i64  seed of agents that do not set their own  default 0x5eed, [0, 2^63-1]
 *   log_level   i64  minimum level logged from open on (to stderr until set_log)
 *                    default PYAGENT_LOG_WARN, [0, 4]
 *   kv_bytes    i64  memory budget of the KV block pool shared by all agents; 0 = enough for
 *                    one full n_ctx sequence                default 256 MiB, [0, 1e15]
 *   kv_block_size i64  tokens per KV block (the unit of sharing)   default 16, [1, 256]
 *   kv_type     i64  PYAGENT_KV_F16, PYAGENT_KV_F32 or PYAGENT_KV_Q8_0 (n_head_kv x
 *                    head size a multiple of 32; CPU backend): f16 halves f32's memory and
 *                    the KV read of every decode step, and moves logits by ~1e-3 (stories260K);
 *                    f32 computes what an f32 reference does   default PYAGENT_KV_F16
 *   prefix_cache i64 1: agents reuse cached blocks of equal prefixes; 0: every prompt is
 *                    computed                               default 1, [0, 1]
 *   backend     i64  where the forward pass runs: PYAGENT_BACKEND_CPU, or PYAGENT_BACKEND_CUDA
 *                    (weights and KV blocks in a GPU's memory; open fails with
 *                    PYAGENT_ERR_UNSUPPORTED when the library was built without CUDA, no device
 *                    is found or a weight type has no GPU kernel: f32, f16, bf16, q8_0 and q4_0
 *                    have one; the latent link's serialization and row import refuse such an
 *                    engine)                                default PYAGENT_BACKEND_CPU
 *   device      i64  the CUDA device index for backend CUDA  default 0, [0, 1023]
 *   huge_pages  i64  1: read the model's weights (and a draft model's) into a private copy in
 *                    2 MiB transparent huge pages instead of mapping the file; decode streams
 *                    them faster (fewer TLB misses: +16 % tokens/s for one thread on the 110M
 *                    shape here), open takes a read of the file, and processes that open the
 *                    same file no longer share its pages. Where the kernel has no transparent
 *                    huge pages the copy is in ordinary pages. 0 maps the file, advised
 *                    MADV_HUGEPAGE, so that pages read in by the mapping come in 2 MiB folios
 *                    where the file system allows.   default 0 (map), [0, 1]
 *   top_candidates i64  1: when an agent's next token is drawn from a row of logits and its
 *                    sampler needs only the row's best candidates (temperature 0, or a top_k
 *                    of at most 64, with no repeat/frequency/presence penalty), the forward
 *                    pass hands it those alone (on backend CUDA picked on the device: a few
 *                    bytes copied down per agent instead of n_vocab floats); the tokens drawn
 *                    are the same, seed for seed. The logits of such a step are not kept
 *                    (pyagent_agent_logits reads a prefill's). 0: every row whole.
 *                                                     default 1, [0, 1]
 *
 * Sampler keys (PYAGENT_PARAMS_SAMPLER), applied in the order listed:
 *   repeat_penalty     f64  divide positive / multiply negative logits of recent tokens
 *                           default 1.0 (off), [0, 100]
 *   repeat_last_n      i64  how many recent tokens the penalties look at  default 64, [0, 1<<24]
 *   frequency_penalty  f64  subtract count * value   default 0, [-100, 100]
 *   presence_penalty   f64  subtract value if present  default 0, [-100, 100]
 *   temperature        f64  0 = greedy (argmax)        default 0.8, [0, 100]
 *   top_k              i64  keep the k most likely, 0 = off           default 40, [0, 1<<24]
 *   top_p              f64  keep the smallest set with mass >= p      default 0.95, [0, 1]
 *   min_p              f64  drop tokens below min_p * p(best)         default 0.05, [0, 1]
 *   seed               i64  the agent's RNG seed; -1 = the engine's   default -1, [-1, 2^63-1]
 *
 * Speculative decoding (lossless: the output follows the same distribution as without it, and
 * under temperature 0 it is the same text token for token):
 *   spec               i64  drafter: PYAGENT_SPEC_OFF, _LOOKUP (n-gram matches in the agent's
 *                           own context), _SELF (the target's first spec_self_layers layers),
 *                           _DRAFT (the engine's draft_model)              default OFF
 *   spec_tree          i64  PYAGENT_SPEC_TREE_STATIC, _EAGLE2 or _TALON    default TALON
 *   spec_budget        i64  draft nodes verified per step (N)              default 60, [1, 64]
 *   spec_top_k         i64  children proposed per node; TALON's root width default 10, [1, 64]
 *   spec_mu            f64  TALON's gate: keep children with path probability >= mu x the
 *                           best of their layer                            default 0.03, [0, 1]
 *   spec_depth         i64  depth (static, EAGLE-2 layers, every tree's cap)  default 8, [1, 64]
 *   spec_width         i64  static: children per node                     default 2, [1, 64]
 *   spec_min_p         f64  floor on a draft node's path probability (the product of the
 *                           draft's probabilities from the root): drafting stops where the
 *                           drafter is unsure, every builder              default 0 (none), [0, 1]
 *   spec_self_layers   i64  _SELF: layers of the target that draft; 0 = a quarter
 *                                                                          default 0, [0, 4096]
 *
 * KV pruning (StreamingLLM: attention sinks and a recent window), per agent; 0 = off:
 *   kv_window          i64  keep the KV of the last kv_window positions (and of the first
 *                           kv_sinks); whole KV blocks outside both are released as the agent
 *                           goes, so its memory stops growing. Positions keep their numbers.
 *                           Once it has pruned, the agent's later blocks are not shared through
 *                           the prefix cache, and it cannot be exported or saved (its KV is no
 *                           longer that of its tokens); not on backend cuda.
 *                                                                          default 0, [0, 1<<24]
 *   kv_sinks           i64  the first positions always kept                default 4, [0, 1<<24]
 *   kv_policy          i64  what happens to the positions of the released blocks (with
 *                           kv_window > 0): PYAGENT_KV_POLICY_WINDOW drops them (StreamingLLM);
 *                           PYAGENT_KV_POLICY_H2O and PYAGENT_KV_POLICY_KVZAP let each (layer,
 *                           kv head) keep its kv_heavy best-scored ones ("landmarks", their K/V
 *                           rows copied out of the blocks): H2O scores a position by the
 *                           attention it has received, KVzap by the engine's surrogate
 *                           (pyagent_engine_load_kvzap) from the hidden state it entered each
 *                           layer with. H2O (and kv_entropy) compute attention with the
 *                           probabilities (slower decode than the window policy); KVzap
 *                           decodes as fast, its landmarks read first. Such an agent computes
 *                           its whole prompt (it scores positions as it computes them), so it
 *                           takes nothing from the prefix cache. Not with spec yet.
 *                                                                          default 0, [0, 2]
 *   kv_heavy           i64  landmarks per (layer, kv head); 0 = kv_window  default 0, [0, 1<<24]
 *   kv_entropy         i64  1: spread kv_heavy x (layers x kv heads) landmarks over the heads in
 *                           proportion to their mean normalised attention entropy (at least
 *                           kv_heavy / 4 each)                               default 0, [0, 1]
 *   kv_threshold       f64  KVzap: released positions predicted below this log-importance are
 *                           not kept even within the budget (KVzap's threshold pruning)
 *                                                                   default -1e30, [-1e30, 1e30]
 * ------------------------------------------------------------------------------------------- */

typedef struct pyagent_params pyagent_params;

#define PYAGENT_SPEC_OFF    0 /* values of the sampler key spec */
#define PYAGENT_SPEC_LOOKUP 1
#define PYAGENT_SPEC_SELF   2
#define PYAGENT_SPEC_DRAFT  3
#define PYAGENT_KV_POLICY_WINDOW 0 /* values of the sampler key kv_policy */
#define PYAGENT_KV_POLICY_H2O    1
#define PYAGENT_KV_POLICY_KVZAP  2
#define PYAGENT_SPEC_TREE_STATIC 0 /* values of the sampler key spec_tree */
#define PYAGENT_SPEC_TREE_EAGLE2 1
#define PYAGENT_SPEC_TREE_TALON  2

#define PYAGENT_KV_F32 0 /* values of the engine key kv_type */
#define PYAGENT_KV_F16 1
#define PYAGENT_KV_Q8_0 2 /* blocks of 32 values with an f16 scale: ~0.27 x F32 */

#define PYAGENT_BACKEND_CPU  0 /* values of the engine key backend */
#define PYAGENT_BACKEND_CUDA 1

#define PYAGENT_PARAMS_ENGINE   1
#define PYAGENT_PARAMS_SAMPLER  2
#define PYAGENT_PARAMS_REGISTRY 3 /* keys listed in registry.h */
#define PYAGENT_PARAMS_ROUTE    4 /* routing requirements; keys listed in registry.h */

/* A params object of `kind` holding every default, or NULL if `kind` is unknown or memory ran
 * out. Destroy with pyagent_params_destroy. */
PYAGENT_API pyagent_params *pyagent_params_create(int32_t kind);
PYAGENT_API void pyagent_params_destroy(pyagent_params *params);

PYAGENT_API pyagent_status pyagent_params_set_i64(pyagent_params *params, const char *key,
                                                  int64_t value);
PYAGENT_API pyagent_status pyagent_params_set_f64(pyagent_params *params, const char *key,
                                                  double value);
PYAGENT_API pyagent_status pyagent_params_get_i64(const pyagent_params *params, const char *key,
                                                  int64_t *value);
PYAGENT_API pyagent_status pyagent_params_get_f64(const pyagent_params *params, const char *key,
                                                  double *value);

/* String keys (the route kind's "language", "task", "currency"): set_str copies `value` (NULL
 * = the key's default; PYAGENT_ERR_OUT_OF_RANGE if longer than the key allows,
 * PYAGENT_ERR_INVALID_UTF8 if not UTF-8). get_str writes the value and its terminating NUL;
 * *needed gets the size that takes, two-call pattern. The numeric setters and getters refuse
 * string keys and the string ones refuse numeric keys (PYAGENT_ERR_INVALID_ARGUMENT). */
PYAGENT_API pyagent_status pyagent_params_set_str(pyagent_params *params, const char *key,
                                                  const char *value);
PYAGENT_API pyagent_status pyagent_params_get_str(const pyagent_params *params, const char *key,
                                                  char *value, size_t capacity, size_t *needed);

/* The inclusive bounds of `key` for params of `kind`, as doubles (so an int64 bound of
 * 2^63-1 reads as 2^63; for a string key, the bounds of its length in bytes). Thread-safe. */
PYAGENT_API pyagent_status pyagent_params_bounds(int32_t kind, const char *key, double *min,
                                                 double *max);

/* The message of the last failed call on `params` ("" if none). Valid until the next call on
 * the same object. Never NULL, also for a NULL params. */
PYAGENT_API const char *pyagent_params_last_error(const pyagent_params *params);

#ifdef __cplusplus
}
#endif

#include "engine.h"
#include "agent.h"
#include "kv.h"
#include "latent.h"
#include "registry.h"
#include "semantic.h"
#include "spec.h"

#endif /* PYAGENT_PYAGENT_H */
