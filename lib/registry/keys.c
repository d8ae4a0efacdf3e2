/*
 * The value keys of the registry: one table that says each key's type and what recording it
 * checks. registry.h documents the same list for users; routing reads the current values of
 * these keys into route_entry fields (route.c).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/utf8.h"
#include "registry_internal.h"

#define CAPS PYAGENT_CHECK_CAPABILITIES
#define PRICES PYAGENT_CHECK_PRICES
#define MEAS PYAGENT_CHECK_MEASUREMENTS

static const pa_key_info keys[] = {
    {"context_tokens", PA_KEY_COUNT, CAPS, 0},
    {"max_output_tokens", PA_KEY_COUNT, CAPS, 0},
    {"tools", PA_KEY_BOOL, CAPS, PA_CAP_TOOLS},
    {"parallel_tools", PA_KEY_BOOL, CAPS, PA_CAP_PARALLEL_TOOLS},
    {"json_mode", PA_KEY_BOOL, CAPS, PA_CAP_JSON_MODE},
    {"vision", PA_KEY_BOOL, CAPS, PA_CAP_VISION},
    {"audio_input", PA_KEY_BOOL, CAPS, PA_CAP_AUDIO_INPUT},
    {"audio_output", PA_KEY_BOOL, CAPS, PA_CAP_AUDIO_OUTPUT},
    {"reasoning", PA_KEY_BOOL, CAPS, PA_CAP_REASONING},
    {"prompt_caching", PA_KEY_BOOL, CAPS, PA_CAP_PROMPT_CACHING},
    {"system_role", PA_KEY_BOOL, CAPS, PA_CAP_SYSTEM_ROLE},
    {"input_modalities", PA_KEY_TEXT, CAPS, 0},
    {"output_modalities", PA_KEY_TEXT, CAPS, 0},
    {"languages", PA_KEY_TEXT, CAPS, 0},
    {"mode", PA_KEY_TEXT, CAPS, 0},
    {"deprecation_date", PA_KEY_TIME, CAPS, 0},
    {"n_params", PA_KEY_COUNT, CAPS, 0},
    {"price_input", PA_KEY_NUMBER, PRICES, 0},
    {"price_output", PA_KEY_NUMBER, PRICES, 0},
    {"price_cached_input", PA_KEY_NUMBER, PRICES, 0},
    {"currency", PA_KEY_TEXT, PRICES, 0},
    {"price_valid_from", PA_KEY_TIME, PRICES, 0},
    {"tokens_per_second", PA_KEY_NUMBER, MEAS, 0},
    {"prefill_tokens_per_second", PA_KEY_NUMBER, MEAS, 0},
    {"ttft_ms", PA_KEY_NUMBER, MEAS, 0},
    {"load_ms", PA_KEY_NUMBER, MEAS, 0},
    {"usable_context_tokens", PA_KEY_COUNT, MEAS, 0},
    {"quality", PA_KEY_SCORE, MEAS, 0},
    {"hardware", PA_KEY_TEXT, MEAS, 0},
};

#define N_KEYS (sizeof keys / sizeof keys[0])
#define TASK_MAX 64
#define MAX_EXACT 9007199254740992.0 /* 2^53 */
#define PRICE_MAX 1e12               /* per 1M tokens: far above any real price, far below inf */

static bool valid_task(const char *task) {
    size_t n = strlen(task);
    if (n == 0 || n > TASK_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = task[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

pyagent_status pa_key_lookup(const char *key, pa_key_info *info, pa_err *err) {
    if (!key) return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "key is NULL");
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, key) == 0) {
            *info = keys[i];
            return PYAGENT_OK;
        }
    if (strncmp(key, "quality.", 8) == 0) {
        if (!valid_task(key + 8))
            return pa_fail(err, PYAGENT_ERR_UNKNOWN_KEY,
                           "key '%.80s': the task after 'quality.' must be 1 to 64 bytes of "
                           "[a-z0-9_-]", key);
        *info = (pa_key_info){"quality.TASK", PA_KEY_SCORE, MEAS, 0};
        return PYAGENT_OK;
    }
    char known[PA_ERR_MSG_SIZE] = "";
    size_t used = 0;
    for (size_t i = 0; i < N_KEYS && used + 1 < sizeof known; i++)
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                                 keys[i].name);
    return pa_fail(err, PYAGENT_ERR_UNKNOWN_KEY, "unknown registry key '%.64s' (known: %s, "
                   "quality.TASK)", key, known);
}

pyagent_status pa_key_check_number(const pa_key_info *info, const char *key, double value,
                                   pa_err *err) {
    if (info->type == PA_KEY_TEXT)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                       "%.80s is a string: record it with pyagent_registry_record_str", key);
    if (!isfinite(value) || value < 0)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "%.80s = %g: must be finite and >= 0", key,
                       value);
    switch (info->type) {
    case PA_KEY_BOOL:
        if (value != 0 && value != 1)
            return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "%.80s = %g: must be 0 or 1", key,
                           value);
        break;
    case PA_KEY_SCORE:
        if (value > 1)
            return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "%.80s = %g: must be in [0, 1]", key,
                           value);
        break;
    case PA_KEY_COUNT:
    case PA_KEY_TIME:
        if (value > MAX_EXACT || value != floor(value))
            return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                           "%.80s = %g: must be a whole number in [0, 2^53]", key, value);
        break;
    case PA_KEY_NUMBER:
        if (value > PRICE_MAX)
            return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "%.80s = %g: must be at most %g", key,
                           value, PRICE_MAX);
        break;
    case PA_KEY_TEXT: break;
    }
    return PYAGENT_OK;
}

/* True when `s[0..len)` holds a control character (C0 or DEL). */
static bool has_control(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return true;
    return false;
}

pyagent_status pa_key_check_text(const char *key, const char *value, size_t len, pa_err *err) {
    if (!value) return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "%.80s: value is NULL", key);
    if (len == 0 || len > PA_REG_TEXT_MAX)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "%.80s: a string of %zu bytes (1 to %d "
                       "allowed)", key, len, PA_REG_TEXT_MAX);
    if (!pa_utf8_valid(value, len))
        return pa_fail(err, PYAGENT_ERR_INVALID_UTF8, "%.80s: not valid UTF-8", key);
    if (has_control(value, len) || memchr(value, 0, len))
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "%.80s: holds control characters", key);
    return PYAGENT_OK;
}

pyagent_status pa_check_name(const char *what, const char *value, bool optional, pa_err *err) {
    if (!value || !*value) {
        if (optional) return PYAGENT_OK;
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "%s is %s", what,
                       value ? "empty" : "NULL");
    }
    size_t len = strnlen(value, PA_REG_NAME_MAX + 1);
    if (len > PA_REG_NAME_MAX)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "%s is longer than %d bytes", what,
                       PA_REG_NAME_MAX);
    if (!pa_utf8_valid(value, len))
        return pa_fail(err, PYAGENT_ERR_INVALID_UTF8, "%s is not valid UTF-8", what);
    if (has_control(value, len))
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "%s holds control characters", what);
    return PYAGENT_OK;
}
