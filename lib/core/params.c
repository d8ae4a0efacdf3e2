/*
 * pyagent_params: a kind (engine or sampler), one value per key of that kind's table, and the
 * last error message. The tables below are the single place where keys, types, defaults and
 * bounds are written down; pyagent.h documents the same values for users.
 */
#include "params.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

typedef struct param_spec {
    const char *key;
    bool is_int;
    double def, min, max; /* for integer keys these are exact up to 2^53; for string keys
                             (see str_default) min and max bound the length in bytes */
} param_spec;

#define I64_MAX_D 9223372036854775807.0

static const param_spec engine_specs[PA_ENGINE_PARAM_COUNT] = {
    [PA_ENGINE_N_THREADS] = {"n_threads", true, 0, 0, 1024},
    [PA_ENGINE_N_CTX] = {"n_ctx", true, 0, 0, 1 << 24},
    [PA_ENGINE_N_BATCH] = {"n_batch", true, 512, 1, 1 << 16},
    [PA_ENGINE_SEED] = {"seed", true, 0x5eed, 0, I64_MAX_D},
    [PA_ENGINE_LOG_LEVEL] = {"log_level", true, PYAGENT_LOG_WARN, 0, PYAGENT_LOG_NONE},
    [PA_ENGINE_KV_BYTES] = {"kv_bytes", true, 256.0 * 1024 * 1024, 0, 1e15},
    [PA_ENGINE_KV_BLOCK_SIZE] = {"kv_block_size", true, 16, 1, 256},
    [PA_ENGINE_KV_TYPE] = {"kv_type", true, PYAGENT_KV_F16, PYAGENT_KV_F32, PYAGENT_KV_Q8_0},
    [PA_ENGINE_PREFIX_CACHE] = {"prefix_cache", true, 1, 0, 1},
    [PA_ENGINE_BACKEND] = {"backend", true, PYAGENT_BACKEND_CPU, PYAGENT_BACKEND_CPU,
                           PYAGENT_BACKEND_CUDA},
    [PA_ENGINE_DEVICE] = {"device", true, 0, 0, 1023},
    [PA_ENGINE_HUGE_PAGES] = {"huge_pages", true, 0, 0, 1},
    [PA_ENGINE_TOP_CANDIDATES] = {"top_candidates", true, 1, 0, 1},
};

static const param_spec sampler_specs[PA_SAMPLER_PARAM_COUNT] = {
    [PA_SAMPLER_REPEAT_PENALTY] = {"repeat_penalty", false, 1.0, 0, 100},
    [PA_SAMPLER_REPEAT_LAST_N] = {"repeat_last_n", true, 64, 0, 1 << 24},
    [PA_SAMPLER_FREQUENCY_PENALTY] = {"frequency_penalty", false, 0, -100, 100},
    [PA_SAMPLER_PRESENCE_PENALTY] = {"presence_penalty", false, 0, -100, 100},
    [PA_SAMPLER_TEMPERATURE] = {"temperature", false, 0.8, 0, 100},
    [PA_SAMPLER_TOP_K] = {"top_k", true, 40, 0, 1 << 24},
    [PA_SAMPLER_TOP_P] = {"top_p", false, 0.95, 0, 1},
    [PA_SAMPLER_MIN_P] = {"min_p", false, 0.05, 0, 1},
    [PA_SAMPLER_SEED] = {"seed", true, -1, -1, I64_MAX_D},
    [PA_SAMPLER_SPEC] = {"spec", true, PYAGENT_SPEC_OFF, PYAGENT_SPEC_OFF, PYAGENT_SPEC_DRAFT},
    [PA_SAMPLER_SPEC_TREE] = {"spec_tree", true, PYAGENT_SPEC_TREE_TALON, PYAGENT_SPEC_TREE_STATIC,
                              PYAGENT_SPEC_TREE_TALON},
    [PA_SAMPLER_SPEC_BUDGET] = {"spec_budget", true, 60, 1, 64},
    [PA_SAMPLER_SPEC_TOP_K] = {"spec_top_k", true, 10, 1, 64},
    [PA_SAMPLER_SPEC_MU] = {"spec_mu", false, 0.03, 0, 1},
    [PA_SAMPLER_SPEC_DEPTH] = {"spec_depth", true, 8, 1, 64},
    [PA_SAMPLER_SPEC_WIDTH] = {"spec_width", true, 2, 1, 64},
    [PA_SAMPLER_SPEC_SELF_LAYERS] = {"spec_self_layers", true, 0, 0, 4096},
    [PA_SAMPLER_SPEC_MIN_P] = {"spec_min_p", false, 0, 0, 1},
    [PA_SAMPLER_KV_WINDOW] = {"kv_window", true, 0, 0, 1 << 24},
    [PA_SAMPLER_KV_SINKS] = {"kv_sinks", true, 4, 0, 1 << 24},
    [PA_SAMPLER_KV_POLICY] = {"kv_policy", true, PYAGENT_KV_POLICY_WINDOW,
                              PYAGENT_KV_POLICY_WINDOW, PYAGENT_KV_POLICY_KVZAP},
    [PA_SAMPLER_KV_HEAVY] = {"kv_heavy", true, 0, 0, 1 << 24},
    [PA_SAMPLER_KV_ENTROPY] = {"kv_entropy", true, 0, 0, 1},
    [PA_SAMPLER_KV_THRESHOLD] = {"kv_threshold", false, -1e30, -1e30, 1e30},
};

#define PA_PARAM_STR_SIZE 64 /* the longest string value is PA_PARAM_STR_SIZE - 1 bytes */
#define TOKENS_MAX_D 9007199254740992.0 /* 2^53: token counts stay exact as doubles */

static const param_spec registry_specs[PA_REGISTRY_PARAM_COUNT] = {
    [PA_REGISTRY_CHECK_PERIOD_S] = {"check_period_s", true, 7 * 86400, 1, 100.0 * 366 * 86400},
    [PA_REGISTRY_BUSY_TIMEOUT_MS] = {"busy_timeout_ms", true, 10000, 0, 3600000},
    [PA_REGISTRY_READ_ONLY] = {"read_only", true, 0, 0, 1},
    [PA_REGISTRY_VERIFY] = {"verify", true, 1, 0, 1},
    [PA_REGISTRY_MEASURE_PROMPT_TOKENS] = {"measure_prompt_tokens", true, 128, 1, 1 << 24},
    [PA_REGISTRY_MEASURE_GEN_TOKENS] = {"measure_gen_tokens", true, 32, 1, 1 << 24},
    [PA_REGISTRY_MEASURE_CONTEXT] = {"measure_context", true, 1, 0, 1},
};

static const param_spec route_specs[PA_ROUTE_PARAM_COUNT] = {
    [PA_ROUTE_CONTEXT_TOKENS] = {"context_tokens", true, 0, 0, TOKENS_MAX_D},
    [PA_ROUTE_OUTPUT_TOKENS] = {"output_tokens", true, 0, 0, TOKENS_MAX_D},
    [PA_ROUTE_CACHED_TOKENS] = {"cached_tokens", true, 0, 0, TOKENS_MAX_D},
    [PA_ROUTE_NEED_TOOLS] = {"need_tools", true, 0, 0, 1},
    [PA_ROUTE_NEED_PARALLEL_TOOLS] = {"need_parallel_tools", true, 0, 0, 1},
    [PA_ROUTE_NEED_JSON_MODE] = {"need_json_mode", true, 0, 0, 1},
    [PA_ROUTE_NEED_VISION] = {"need_vision", true, 0, 0, 1},
    [PA_ROUTE_NEED_AUDIO_INPUT] = {"need_audio_input", true, 0, 0, 1},
    [PA_ROUTE_NEED_REASONING] = {"need_reasoning", true, 0, 0, 1},
    [PA_ROUTE_NEED_PROMPT_CACHING] = {"need_prompt_caching", true, 0, 0, 1},
    [PA_ROUTE_LOCAL_ONLY] = {"local_only", true, 0, 0, 1},
    [PA_ROUTE_MAX_COST] = {"max_cost", false, -1, -1, 1e12},
    [PA_ROUTE_MAX_LATENCY_MS] = {"max_latency_ms", false, 0, 0, 1e12},
    [PA_ROUTE_MIN_QUALITY] = {"min_quality", false, 0, 0, 1},
    [PA_ROUTE_MIN_TOKENS_PER_SECOND] = {"min_tokens_per_second", false, 0, 0, 1e12},
    [PA_ROUTE_LANGUAGE] = {"language", false, 0, 0, PA_PARAM_STR_SIZE - 1},
    [PA_ROUTE_TASK] = {"task", false, 0, 0, PA_PARAM_STR_SIZE - 1},
    [PA_ROUTE_CURRENCY] = {"currency", false, 0, 1, PA_PARAM_STR_SIZE - 1},
};

/* The string keys of a kind, by index, with their defaults; NULL marks a numeric key. */
static const char *const route_str_defaults[PA_ROUTE_PARAM_COUNT] = {
    [PA_ROUTE_LANGUAGE] = "",
    [PA_ROUTE_TASK] = "",
    [PA_ROUTE_CURRENCY] = "USD",
};

static const char *str_default(int32_t kind, int i) {
    return kind == PYAGENT_PARAMS_ROUTE ? route_str_defaults[i] : NULL;
}

#define MAX_PARAMS 32
_Static_assert(PA_ENGINE_PARAM_COUNT <= MAX_PARAMS && PA_SAMPLER_PARAM_COUNT <= MAX_PARAMS &&
                   PA_REGISTRY_PARAM_COUNT <= MAX_PARAMS && PA_ROUTE_PARAM_COUNT <= MAX_PARAMS,
               "raise MAX_PARAMS");

typedef union param_value {
    int64_t i;
    double f;
    char s[PA_PARAM_STR_SIZE]; /* NUL-terminated UTF-8 */
} param_value;

struct pyagent_params {
    int32_t kind;
    const param_spec *specs;
    int n_specs;
    param_value values[MAX_PARAMS];
    pa_err last_error;
};

static const param_spec *specs_of(int32_t kind, int *n) {
    switch (kind) {
    case PYAGENT_PARAMS_ENGINE: *n = PA_ENGINE_PARAM_COUNT; return engine_specs;
    case PYAGENT_PARAMS_SAMPLER: *n = PA_SAMPLER_PARAM_COUNT; return sampler_specs;
    case PYAGENT_PARAMS_REGISTRY: *n = PA_REGISTRY_PARAM_COUNT; return registry_specs;
    case PYAGENT_PARAMS_ROUTE: *n = PA_ROUTE_PARAM_COUNT; return route_specs;
    default: *n = 0; return NULL;
    }
}

static param_value default_value(int32_t kind, const param_spec *s, int i) {
    param_value v;
    memset(&v, 0, sizeof v);
    if (str_default(kind, i)) snprintf(v.s, sizeof v.s, "%s", str_default(kind, i));
    else if (s->is_int) v.i = (int64_t)s->def;
    else v.f = s->def;
    return v;
}

static const char *kind_name(int32_t kind) {
    switch (kind) {
    case PYAGENT_PARAMS_ENGINE: return "engine";
    case PYAGENT_PARAMS_SAMPLER: return "sampler";
    case PYAGENT_PARAMS_REGISTRY: return "registry";
    case PYAGENT_PARAMS_ROUTE: return "route";
    default: return "unknown";
    }
}

/* INVALID_ARGUMENT when `s` is a string key, which only the _str functions read and write. */
static pyagent_status check_not_str(int32_t kind, int i, const param_spec *s, pa_err *err) {
    if (str_default(kind, i))
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                       "%s is a string: use pyagent_params_set_str / pyagent_params_get_str",
                       s->key);
    return PYAGENT_OK;
}

pyagent_params *pyagent_params_create(int32_t kind) {
    int n;
    const param_spec *specs = specs_of(kind, &n);
    if (!specs) return NULL;
    pyagent_params *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->kind = kind;
    p->specs = specs;
    p->n_specs = n;
    for (int i = 0; i < n; i++) p->values[i] = default_value(kind, &specs[i], i);
    return p;
}

void pyagent_params_destroy(pyagent_params *params) { free(params); }

const char *pyagent_params_last_error(const pyagent_params *params) {
    return params ? params->last_error.msg : "";
}

/* Index of `key` in the table of `specs`, or -1 with a message naming the known keys. */
static int find_key(const param_spec *specs, int n, int32_t kind, const char *key, pa_err *err) {
    if (!key) {
        pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "key is NULL");
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (strcmp(specs[i].key, key) == 0) return i;
    char known[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(known, specs[i].key, sizeof known - strlen(known) - 1);
        if (i + 1 < n) strncat(known, ", ", sizeof known - strlen(known) - 1);
    }
    pa_fail(err, PYAGENT_ERR_UNKNOWN_KEY, "unknown %s params key '%.64s' (known: %s)",
            kind_name(kind), key, known);
    return -1;
}

static pyagent_status check_range(const param_spec *s, double v, pa_err *err) {
    if (!(v >= s->min && v <= s->max)) /* also rejects NaN */
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "%s = %g is out of range [%g, %g]",
                       s->key, v, s->min, s->max);
    return PYAGENT_OK;
}

pyagent_status pyagent_params_set_i64(pyagent_params *params, const char *key, int64_t value) {
    if (!params) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err *err = &params->last_error;
    int i = find_key(params->specs, params->n_specs, params->kind, key, err);
    if (i < 0) return err->status;
    const param_spec *s = &params->specs[i];
    pyagent_status st = check_not_str(params->kind, i, s, err);
    if (st) return st;
    st = check_range(s, (double)value, err);
    if (st) return st;
    if (s->is_int) params->values[i].i = value;
    else params->values[i].f = (double)value;
    return PYAGENT_OK;
}

pyagent_status pyagent_params_set_f64(pyagent_params *params, const char *key, double value) {
    if (!params) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err *err = &params->last_error;
    int i = find_key(params->specs, params->n_specs, params->kind, key, err);
    if (i < 0) return err->status;
    const param_spec *s = &params->specs[i];
    if (check_not_str(params->kind, i, s, err)) return err->status;
    if (s->is_int)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                       "%s is an integer: set it with pyagent_params_set_i64", s->key);
    pyagent_status st = check_range(s, value, err);
    if (st) return st;
    params->values[i].f = value;
    return PYAGENT_OK;
}

pyagent_status pyagent_params_get_i64(const pyagent_params *params, const char *key,
                                      int64_t *value) {
    if (!params || !value) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err *err = (pa_err *)&params->last_error; /* the error slot is not part of the value */
    int i = find_key(params->specs, params->n_specs, params->kind, key, err);
    if (i < 0) return err->status;
    if (check_not_str(params->kind, i, &params->specs[i], err)) return err->status;
    if (!params->specs[i].is_int)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                       "%s is a real number: read it with pyagent_params_get_f64", key);
    *value = params->values[i].i;
    return PYAGENT_OK;
}

pyagent_status pyagent_params_get_f64(const pyagent_params *params, const char *key,
                                      double *value) {
    if (!params || !value) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err *err = (pa_err *)&params->last_error;
    int i = find_key(params->specs, params->n_specs, params->kind, key, err);
    if (i < 0) return err->status;
    const param_spec *s = &params->specs[i];
    if (check_not_str(params->kind, i, s, err)) return err->status;
    *value = s->is_int ? (double)params->values[i].i : params->values[i].f;
    return PYAGENT_OK;
}

pyagent_status pyagent_params_set_str(pyagent_params *params, const char *key,
                                      const char *value) {
    if (!params) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err *err = &params->last_error;
    int i = find_key(params->specs, params->n_specs, params->kind, key, err);
    if (i < 0) return err->status;
    const param_spec *s = &params->specs[i];
    const char *def = str_default(params->kind, i);
    if (!def)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                       "%s is a number: set it with pyagent_params_set_%s", s->key,
                       s->is_int ? "i64" : "f64");
    if (!value) value = def;
    size_t len = strlen(value);
    if ((double)len < s->min || (double)len > s->max)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "%s: a string of %zu bytes is out of range [%g, %g] bytes", s->key, len,
                       s->min, s->max);
    if (!pa_utf8_valid(value, len))
        return pa_fail(err, PYAGENT_ERR_INVALID_UTF8, "%s: the value is not valid UTF-8", s->key);
    memcpy(params->values[i].s, value, len + 1);
    return PYAGENT_OK;
}

pyagent_status pyagent_params_get_str(const pyagent_params *params, const char *key, char *value,
                                      size_t capacity, size_t *needed) {
    if (!params || !needed || (capacity && !value)) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err *err = (pa_err *)&params->last_error;
    int i = find_key(params->specs, params->n_specs, params->kind, key, err);
    if (i < 0) return err->status;
    if (!str_default(params->kind, i))
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                       "%s is a number: read it with pyagent_params_get_%s", key,
                       params->specs[i].is_int ? "i64" : "f64");
    const char *s = params->values[i].s;
    *needed = strlen(s) + 1;
    if (capacity < *needed)
        return pa_fail(err, PYAGENT_ERR_BUFFER_TOO_SMALL, "%s needs %zu bytes", key, *needed);
    memcpy(value, s, *needed);
    return PYAGENT_OK;
}

pyagent_status pyagent_params_bounds(int32_t kind, const char *key, double *min, double *max) {
    int n;
    const param_spec *specs = specs_of(kind, &n);
    if (!specs || !min || !max) return PYAGENT_ERR_INVALID_ARGUMENT;
    int i = find_key(specs, n, kind, key, NULL);
    if (i < 0) return key ? PYAGENT_ERR_UNKNOWN_KEY : PYAGENT_ERR_INVALID_ARGUMENT;
    *min = specs[i].min;
    *max = specs[i].max;
    return PYAGENT_OK;
}

pyagent_status pa_params_check_kind(const pyagent_params *params, int32_t kind, pa_err *err) {
    if (params && params->kind != kind)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "expected %s params, got %s params",
                       kind_name(kind), kind_name(params->kind));
    return PYAGENT_OK;
}

int64_t pa_params_i64(const pyagent_params *params, int32_t kind, int i) {
    if (params) return params->values[i].i;
    int n;
    return (int64_t)specs_of(kind, &n)[i].def;
}

double pa_params_f64(const pyagent_params *params, int32_t kind, int i) {
    if (params) return params->values[i].f;
    int n;
    return specs_of(kind, &n)[i].def;
}

const char *pa_params_str(const pyagent_params *params, int32_t kind, int i) {
    return params ? params->values[i].s : str_default(kind, i);
}
