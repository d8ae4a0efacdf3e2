/* Keyed, typed configuration (pyagent_params). Each kind has a table of keys with type,
 * default and bounds; the engine reads values by the index enums below. */
#ifndef PA_CORE_PARAMS_H
#define PA_CORE_PARAMS_H

#include <stdbool.h>

#include "error.h"

enum pa_engine_param {
    PA_ENGINE_N_THREADS, PA_ENGINE_N_CTX, PA_ENGINE_N_BATCH, PA_ENGINE_SEED,
    PA_ENGINE_LOG_LEVEL, PA_ENGINE_PARAM_COUNT
};

enum pa_sampler_param {
    PA_SAMPLER_REPEAT_PENALTY, PA_SAMPLER_REPEAT_LAST_N, PA_SAMPLER_FREQUENCY_PENALTY,
    PA_SAMPLER_PRESENCE_PENALTY, PA_SAMPLER_TEMPERATURE, PA_SAMPLER_TOP_K, PA_SAMPLER_TOP_P,
    PA_SAMPLER_MIN_P, PA_SAMPLER_SEED, PA_SAMPLER_PARAM_COUNT
};

/* Checks that `params` is NULL or of `kind` (INVALID_ARGUMENT with a message otherwise). */
pyagent_status pa_params_check_kind(const pyagent_params *params, int32_t kind, pa_err *err);

/* Value at index `i` of a params object of the right kind; with params == NULL the default of
 * that kind (`kind` says which table). */
int64_t pa_params_i64(const pyagent_params *params, int32_t kind, int i);
double pa_params_f64(const pyagent_params *params, int32_t kind, int i);

#endif
