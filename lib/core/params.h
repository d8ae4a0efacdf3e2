/* Keyed, typed configuration (pyagent_params). Each kind has a table of keys with type,
 * default and bounds; the engine reads values by the index enums below. */
#ifndef PA_CORE_PARAMS_H
#define PA_CORE_PARAMS_H

#include <stdbool.h>

#include "error.h"

enum pa_engine_param {
    PA_ENGINE_N_THREADS, PA_ENGINE_N_CTX, PA_ENGINE_N_BATCH, PA_ENGINE_SEED,
    PA_ENGINE_LOG_LEVEL, PA_ENGINE_KV_BYTES, PA_ENGINE_KV_BLOCK_SIZE, PA_ENGINE_KV_TYPE,
    PA_ENGINE_PREFIX_CACHE, PA_ENGINE_BACKEND, PA_ENGINE_DEVICE, PA_ENGINE_HUGE_PAGES,
    PA_ENGINE_TOP_CANDIDATES,
    PA_ENGINE_PARAM_COUNT
};

enum pa_sampler_param {
    PA_SAMPLER_REPEAT_PENALTY, PA_SAMPLER_REPEAT_LAST_N, PA_SAMPLER_FREQUENCY_PENALTY,
    PA_SAMPLER_PRESENCE_PENALTY, PA_SAMPLER_TEMPERATURE, PA_SAMPLER_TOP_K, PA_SAMPLER_TOP_P,
    PA_SAMPLER_MIN_P, PA_SAMPLER_SEED, PA_SAMPLER_SPEC, PA_SAMPLER_SPEC_TREE,
    PA_SAMPLER_SPEC_BUDGET, PA_SAMPLER_SPEC_TOP_K, PA_SAMPLER_SPEC_MU, PA_SAMPLER_SPEC_DEPTH,
    PA_SAMPLER_SPEC_WIDTH, PA_SAMPLER_SPEC_SELF_LAYERS, PA_SAMPLER_KV_WINDOW, PA_SAMPLER_KV_SINKS,
    PA_SAMPLER_KV_POLICY, PA_SAMPLER_KV_HEAVY, PA_SAMPLER_KV_ENTROPY, PA_SAMPLER_KV_THRESHOLD,
    PA_SAMPLER_SPEC_MIN_P, PA_SAMPLER_PARAM_COUNT
};

enum pa_registry_param {
    PA_REGISTRY_CHECK_PERIOD_S, PA_REGISTRY_BUSY_TIMEOUT_MS, PA_REGISTRY_READ_ONLY,
    PA_REGISTRY_VERIFY, PA_REGISTRY_MEASURE_PROMPT_TOKENS, PA_REGISTRY_MEASURE_GEN_TOKENS,
    PA_REGISTRY_MEASURE_CONTEXT, PA_REGISTRY_PARAM_COUNT
};

enum pa_route_param {
    PA_ROUTE_CONTEXT_TOKENS, PA_ROUTE_OUTPUT_TOKENS, PA_ROUTE_CACHED_TOKENS, PA_ROUTE_NEED_TOOLS,
    PA_ROUTE_NEED_PARALLEL_TOOLS, PA_ROUTE_NEED_JSON_MODE, PA_ROUTE_NEED_VISION,
    PA_ROUTE_NEED_AUDIO_INPUT, PA_ROUTE_NEED_REASONING, PA_ROUTE_NEED_PROMPT_CACHING,
    PA_ROUTE_LOCAL_ONLY, PA_ROUTE_MAX_COST, PA_ROUTE_MAX_LATENCY_MS, PA_ROUTE_MIN_QUALITY,
    PA_ROUTE_MIN_TOKENS_PER_SECOND, PA_ROUTE_LANGUAGE, PA_ROUTE_TASK, PA_ROUTE_CURRENCY,
    PA_ROUTE_PARAM_COUNT
};

/* Checks that `params` is NULL or of `kind` (INVALID_ARGUMENT with a message otherwise). */
pyagent_status pa_params_check_kind(const pyagent_params *params, int32_t kind, pa_err *err);

/* Value at index `i` of a params object of the right kind; with params == NULL the default of
 * that kind (`kind` says which table). */
int64_t pa_params_i64(const pyagent_params *params, int32_t kind, int i);
double pa_params_f64(const pyagent_params *params, int32_t kind, int i);
const char *pa_params_str(const pyagent_params *params, int32_t kind, int i);

#endif
