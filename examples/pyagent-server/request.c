/*
 * Request bodies of pyagent-server (see request.h): jansson parses, these functions check every
 * field's type and copy what the server uses into plain C structs that own their strings.
 */
#include "request.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool srv_fail(srv_error *err, int http_status, const char *type, const char *code,
              const char *param, const char *fmt, ...) {
    err->http_status = http_status;
    snprintf(err->type, sizeof err->type, "%s", type ? type : "invalid_request_error");
    snprintf(err->code, sizeof err->code, "%s", code ? code : "");
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return false;
}

bool srv_bad_request(srv_error *err, const char *param, const char *fmt, ...) {
    err->http_status = 400;
    snprintf(err->type, sizeof err->type, "invalid_request_error");
    err->code[0] = '\0';
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

/* The body as one JSON object; an empty body is {} when `empty_is_object`. */
static json_t *load_object(const char *body, size_t len, bool empty_is_object, srv_error *err) {
    if (len == 0 && empty_is_object) return json_object();
    json_error_t jerr;
    json_t *root = json_loadb(body ? body : "", len, 0, &jerr);
    if (!root) {
        srv_bad_request(err, NULL, "the body is not valid JSON (line %d, column %d): %s",
                        jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        srv_bad_request(err, NULL, "the body must be a JSON object");
        return NULL;
    }
    return root;
}

/* A field that is absent or null. */
static bool is_absent(const json_t *value) { return !value || json_is_null(value); }

static char *copy_string(const json_t *value) {
    const char *s = json_string_value(value);
    size_t n = json_string_length(value);
    char *copy = malloc(n + 1);
    if (copy) {
        memcpy(copy, s, n);
        copy[n] = '\0';
    }
    return copy;
}

/* An optional string field of at most `max_len` bytes (0 = any) into *out (NULL if absent). */
static bool get_string(json_t *obj, const char *key, size_t max_len, bool allow_empty,
                       char **out, srv_error *err) {
    json_t *value = json_object_get(obj, key);
    *out = NULL;
    if (is_absent(value)) return true;
    if (!json_is_string(value)) return srv_bad_request(err, key, "'%s' must be a string", key);
    size_t n = json_string_length(value);
    if (max_len && n > max_len)
        return srv_bad_request(err, key, "'%s' has %zu bytes; at most %zu are allowed", key, n,
                               max_len);
    if (n == 0 && !allow_empty) return srv_bad_request(err, key, "'%s' must not be empty", key);
    if (!(*out = copy_string(value)))
        return srv_fail(err, 500, "server_error", NULL, NULL, "out of memory");
    return true;
}

static bool get_bool(json_t *obj, const char *key, bool fallback, bool *out, srv_error *err) {
    json_t *value = json_object_get(obj, key);
    *out = fallback;
    if (is_absent(value)) return true;
    if (!json_is_boolean(value))
        return srv_bad_request(err, key, "'%s' must be true or false", key);
    *out = json_is_true(value);
    return true;
}

/* An integer: a JSON integer, or a number with an integral value (2.0) in int64 range. */
static bool integer_of(const json_t *value, int64_t *out) {
    if (json_is_integer(value)) {
        *out = (int64_t)json_integer_value(value);
        return true;
    }
    if (json_is_real(value)) {
        double d = json_real_value(value);
        if (d == floor(d) && d >= -9.2e18 && d <= 9.2e18) {
            *out = (int64_t)d;
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * Sampling settings
 * ------------------------------------------------------------------------------------------- */

static const struct {
    const char *field; /* request field */
    const char *key;   /* sampler params key */
    bool is_f64;
} SAMPLING_FIELDS[] = {
    {"temperature", "temperature", true},
    {"top_p", "top_p", true},
    {"top_k", "top_k", false},
    {"min_p", "min_p", true},
    {"frequency_penalty", "frequency_penalty", true},
    {"presence_penalty", "presence_penalty", true},
    {"repeat_penalty", "repeat_penalty", true},
    {"repetition_penalty", "repeat_penalty", true},
    {"repeat_last_n", "repeat_last_n", false},
    {"seed", "seed", false},
};

#define N_SAMPLING_FIELDS (sizeof SAMPLING_FIELDS / sizeof SAMPLING_FIELDS[0])
_Static_assert(N_SAMPLING_FIELDS + 1 <= SRV_MAX_SETTINGS, "room for every sampling field");

/* Speculative decoding, by name (an extension of the API): "off", "lookup" or "self". */
static bool parse_speculative(json_t *obj, srv_sampling *s, srv_error *err) {
    static const struct {
        const char *name;
        int64_t value;
    } modes[] = {{"off", PYAGENT_SPEC_OFF}, {"lookup", PYAGENT_SPEC_LOOKUP},
                 {"self", PYAGENT_SPEC_SELF}};
    json_t *value = json_object_get(obj, "speculative");
    if (is_absent(value)) return true;
    for (size_t i = 0; json_is_string(value) && i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(json_string_value(value), modes[i].name) == 0) {
            s->settings[s->n_settings++] = (srv_setting){.key = "spec", .i64 = modes[i].value};
            return true;
        }
    }
    return srv_bad_request(err, "speculative", "'speculative' is \"off\", \"lookup\" or \"self\"");
}

static bool parse_sampling(json_t *obj, srv_sampling *s, srv_error *err) {
    s->n_settings = 0;
    for (size_t i = 0; i < N_SAMPLING_FIELDS; i++) {
        const char *field = SAMPLING_FIELDS[i].field;
        json_t *value = json_object_get(obj, field);
        if (is_absent(value)) continue;
        srv_setting *set = &s->settings[s->n_settings];
        set->key = SAMPLING_FIELDS[i].key;
        set->is_f64 = SAMPLING_FIELDS[i].is_f64;
        if (set->is_f64) {
            if (!json_is_number(value))
                return srv_bad_request(err, field, "'%s' must be a number", field);
            set->f64 = json_number_value(value);
        } else if (!integer_of(value, &set->i64)) {
            return srv_bad_request(err, field, "'%s' must be an integer", field);
        }
        s->n_settings++;
    }
    return parse_speculative(obj, s, err);
}

bool srv_sampling_apply(const srv_sampling *s, pyagent_params *params, srv_error *err) {
    for (size_t i = 0; i < s->n_settings; i++) {
        const srv_setting *set = &s->settings[i];
        pyagent_status st = set->is_f64 ? pyagent_params_set_f64(params, set->key, set->f64)
                                        : pyagent_params_set_i64(params, set->key, set->i64);
        if (st != PYAGENT_OK)
            return srv_bad_request(err, set->key, "%s", pyagent_params_last_error(params));
    }
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Messages
 * ------------------------------------------------------------------------------------------- */

static bool role_of(const char *name, srv_role *role) {
    static const struct {
        const char *name;
        srv_role role;
    } roles[] = {
        {"system", SRV_ROLE_SYSTEM}, {"developer", SRV_ROLE_SYSTEM}, {"user", SRV_ROLE_USER},
        {"assistant", SRV_ROLE_ASSISTANT}, {"tool", SRV_ROLE_TOOL},
    };
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (strcmp(roles[i].name, name) == 0) {
            *role = roles[i].role;
            return true;
        }
    }
    return false;
}

/* The text of a message's content: a string, null (""), or an array of {"type": "text"} parts
 * joined with newlines. */
static bool content_text(json_t *content, const char *param, char **out, srv_error *err) {
    *out = NULL;
    if (is_absent(content)) {
        *out = strdup("");
    } else if (json_is_string(content)) {
        *out = copy_string(content);
    } else if (json_is_array(content)) {
        size_t total = 1, i;
        json_t *part;
        json_array_foreach(content, i, part) {
            json_t *type = json_object_get(part, "type");
            json_t *text = json_object_get(part, "text");
            if (!json_is_object(part) || !json_is_string(type))
                return srv_bad_request(err, param, "%s[%zu] must be an object with a 'type'",
                                       param, i);
            if (strcmp(json_string_value(type), "text") != 0)
                return srv_bad_request(err, param,
                                       "%s[%zu]: content of type '%.40s' is not supported "
                                       "(only text)",
                                       param, i, json_string_value(type));
            if (!json_is_string(text))
                return srv_bad_request(err, param, "%s[%zu].text must be a string", param, i);
            total += json_string_length(text) + 1;
        }
        if ((*out = malloc(total))) {
            size_t at = 0;
            json_array_foreach(content, i, part) {
                json_t *text = json_object_get(part, "text");
                if (at) (*out)[at++] = '\n';
                memcpy(*out + at, json_string_value(text), json_string_length(text));
                at += json_string_length(text);
            }
            (*out)[at] = '\0';
        }
    } else {
        return srv_bad_request(err, param, "%s must be a string or an array of text parts",
                               param);
    }
    if (!*out) return srv_fail(err, 500, "server_error", NULL, NULL, "out of memory");
    return true;
}

static void free_messages(srv_message *messages, size_t n) {
    for (size_t i = 0; i < n; i++) free(messages[i].content);
    free(messages);
}

static bool parse_messages(json_t *obj, bool required, srv_message **out, size_t *n_out,
                           srv_error *err) {
    *out = NULL;
    *n_out = 0;
    json_t *messages = json_object_get(obj, "messages");
    if (is_absent(messages)) {
        if (required) return srv_bad_request(err, "messages", "'messages' is required");
        return true;
    }
    if (!json_is_array(messages))
        return srv_bad_request(err, "messages", "'messages' must be an array");
    size_t n = json_array_size(messages);
    if (n == 0 && required)
        return srv_bad_request(err, "messages", "'messages' must hold at least one message");
    if (n == 0) return true;
    srv_message *list = calloc(n, sizeof *list);
    if (!list) return srv_fail(err, 500, "server_error", NULL, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(messages, i);
        char param[48];
        snprintf(param, sizeof param, "messages[%zu]", i);
        json_t *role = json_object_get(m, "role");
        bool ok = true;
        if (!json_is_object(m)) {
            ok = srv_bad_request(err, param, "%s must be an object", param);
        } else if (!json_is_string(role)) {
            ok = srv_bad_request(err, param, "%s.role must be a string", param);
        } else if (!role_of(json_string_value(role), &list[i].role)) {
            ok = srv_bad_request(err, param,
                                 "%s.role '%.40s' is not one of system, developer, user, "
                                 "assistant, tool",
                                 param, json_string_value(role));
        } else {
            char content_param[64];
            snprintf(content_param, sizeof content_param, "%s.content", param);
            ok = content_text(json_object_get(m, "content"), content_param, &list[i].content,
                              err);
        }
        if (!ok) {
            free_messages(list, n);
            return false;
        }
    }
    *out = list;
    *n_out = n;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Generation requests
 * ------------------------------------------------------------------------------------------- */

static bool parse_labels(json_t *obj, char **session_id, char **agent_id, char **cache_salt,
                         srv_error *err) {
    return get_string(obj, "session_id", SRV_MAX_LABEL, true, session_id, err) &&
           get_string(obj, "agent_id", SRV_MAX_LABEL, true, agent_id, err) &&
           get_string(obj, "cache_salt", SRV_MAX_LABEL, true, cache_salt, err);
}

static bool parse_stops(json_t *obj, srv_gen_request *r, srv_error *err) {
    json_t *stop = json_object_get(obj, "stop");
    if (is_absent(stop)) return true;
    if (json_is_string(stop)) {
        json_t *one = json_array();
        json_array_append(one, stop);
        json_t *wrapped = json_object();
        json_object_set_new(wrapped, "stop", one);
        bool ok = parse_stops(wrapped, r, err);
        json_decref(wrapped);
        return ok;
    }
    if (!json_is_array(stop))
        return srv_bad_request(err, "stop", "'stop' must be a string or an array of strings");
    if (json_array_size(stop) > SRV_MAX_STOPS)
        return srv_bad_request(err, "stop", "'stop' holds at most %d strings", SRV_MAX_STOPS);
    size_t i;
    json_t *s;
    json_array_foreach(stop, i, s) {
        if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) > 256)
            return srv_bad_request(err, "stop", "'stop' strings have 1 to 256 bytes");
        if (!(r->stops[r->n_stops] = copy_string(s)))
            return srv_fail(err, 500, "server_error", NULL, NULL, "out of memory");
        r->n_stops++;
    }
    return true;
}

/* The completion prompt: a string, an array of one string, or an array of token ids. */
static bool parse_prompt(json_t *obj, bool required, srv_gen_request *r, srv_error *err) {
    json_t *prompt = json_object_get(obj, "prompt");
    if (is_absent(prompt)) {
        if (required) return srv_bad_request(err, "prompt", "'prompt' is required");
        return true;
    }
    if (json_is_string(prompt)) {
        if (!(r->prompt = copy_string(prompt)))
            return srv_fail(err, 500, "server_error", NULL, NULL, "out of memory");
        return true;
    }
    if (!json_is_array(prompt))
        return srv_bad_request(err, "prompt",
                               "'prompt' must be a string, or an array of token ids");
    size_t n = json_array_size(prompt);
    json_t *first = json_array_get(prompt, 0);
    if (n >= 1 && (json_is_string(first) || json_is_array(first))) {
        if (n > 1)
            return srv_bad_request(err, "prompt", "batched prompts (%zu) are not supported; send "
                                   "one prompt per request", n);
        json_t *wrapped = json_object();
        json_object_set(wrapped, "prompt", first);
        bool ok = parse_prompt(wrapped, required, r, err);
        json_decref(wrapped);
        return ok;
    }
    if (n == 0) return srv_bad_request(err, "prompt", "'prompt' must not be an empty array");
    if (!(r->prompt_tokens = malloc(n * sizeof *r->prompt_tokens)))
        return srv_fail(err, 500, "server_error", NULL, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(prompt, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 ||
            json_integer_value(t) > INT32_MAX)
            return srv_bad_request(err, "prompt", "prompt[%zu] is not a token id", i);
        r->prompt_tokens[i] = (int32_t)json_integer_value(t);
    }
    r->n_prompt_tokens = n;
    return true;
}

/* Fields of OpenAI's API that this server does not implement: refused, not ignored, so that a
 * client never silently gets something else than it asked for. */
static bool refuse_unsupported(json_t *obj, srv_error *err) {
    int64_t n = 1;
    json_t *value = json_object_get(obj, "n");
    if (!is_absent(value) && (!integer_of(value, &n) || n != 1))
        return srv_bad_request(err, "n", "only n = 1 is supported");
    value = json_object_get(obj, "best_of");
    if (!is_absent(value) && (!integer_of(value, &n) || n != 1))
        return srv_bad_request(err, "best_of", "only best_of = 1 is supported");
    value = json_object_get(obj, "tools");
    if (!is_absent(value) && (!json_is_array(value) || json_array_size(value) > 0))
        return srv_bad_request(err, "tools", "tool calling is not supported");
    value = json_object_get(obj, "echo");
    if (json_is_true(value)) return srv_bad_request(err, "echo", "echo is not supported");
    value = json_object_get(obj, "logprobs");
    if (json_is_true(value) || (json_is_integer(value) && json_integer_value(value) > 0))
        return srv_bad_request(err, "logprobs", "logprobs are not supported");
    value = json_object_get(obj, "response_format");
    if (!is_absent(value)) {
        json_t *type = json_object_get(value, "type");
        if (!json_is_object(value) || !json_is_string(type) ||
            strcmp(json_string_value(type), "text") != 0)
            return srv_bad_request(err, "response_format",
                                   "only response_format {\"type\": \"text\"} is supported");
    }
    return true;
}

void srv_gen_request_free(srv_gen_request *r) {
    free(r->model);
    free_messages(r->messages, r->n_messages);
    free(r->prompt);
    free(r->prompt_tokens);
    for (size_t i = 0; i < r->n_stops; i++) free(r->stops[i]);
    free(r->session_id);
    free(r->agent_id);
    free(r->cache_salt);
    memset(r, 0, sizeof *r);
}

bool srv_parse_gen_request(const char *body, size_t len, srv_gen_kind kind, bool allow_empty,
                           srv_gen_request *out, srv_error *err) {
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->max_tokens = -1;
    json_t *root = load_object(body, len, allow_empty, err);
    if (!root) return false;
    bool ok = get_string(root, "model", 256, true, &out->model, err) &&
              refuse_unsupported(root, err) &&
              (kind == SRV_GEN_CHAT ? parse_messages(root, !allow_empty, &out->messages,
                                                     &out->n_messages, err)
                                    : parse_prompt(root, !allow_empty, out, err)) &&
              get_bool(root, "stream", false, &out->stream, err) &&
              parse_stops(root, out, err) && parse_sampling(root, &out->sampling, err) &&
              parse_labels(root, &out->session_id, &out->agent_id, &out->cache_salt, err);
    /* max_completion_tokens is the newer name; it wins over max_tokens */
    const char *field = "max_completion_tokens";
    json_t *max_tokens = json_object_get(root, field);
    if (is_absent(max_tokens)) max_tokens = json_object_get(root, field = "max_tokens");
    if (ok && !is_absent(max_tokens) &&
        (!integer_of(max_tokens, &out->max_tokens) || out->max_tokens < 1))
        ok = srv_bad_request(err, field, "'%s' must be an integer >= 1", field);
    json_t *options = json_object_get(root, "stream_options");
    if (ok && !is_absent(options)) {
        if (!json_is_object(options))
            ok = srv_bad_request(err, "stream_options", "'stream_options' must be an object");
        else
            ok = get_bool(options, "include_usage", false, &out->include_usage, err);
    }
    json_decref(root);
    if (!ok) srv_gen_request_free(out);
    return ok;
}

/* ---------------------------------------------------------------------------------------------
 * Agent requests
 * ------------------------------------------------------------------------------------------- */

void srv_agent_request_free(srv_agent_request *r) {
    free(r->session_id);
    free(r->agent_id);
    free(r->cache_salt);
    free(r->prompt);
    free_messages(r->messages, r->n_messages);
    memset(r, 0, sizeof *r);
}

bool srv_parse_agent_request(const char *body, size_t len, srv_agent_request *out,
                             srv_error *err) {
    memset(out, 0, sizeof *out);
    json_t *root = load_object(body, len, true, err);
    if (!root) return false;
    bool ok = parse_labels(root, &out->session_id, &out->agent_id, &out->cache_salt, err) &&
              get_string(root, "prompt", 0, true, &out->prompt, err) &&
              parse_messages(root, false, &out->messages, &out->n_messages, err) &&
              get_bool(root, "prefill", true, &out->prefill, err) &&
              parse_sampling(root, &out->sampling, err);
    if (ok && out->prompt && out->n_messages)
        ok = srv_bad_request(err, "prompt", "give either 'prompt' or 'messages', not both");
    json_decref(root);
    if (!ok) srv_agent_request_free(out);
    return ok;
}

/* ---------------------------------------------------------------------------------------------
 * Handoff requests
 * ------------------------------------------------------------------------------------------- */

void srv_handoff_request_free(srv_handoff_request *r) {
    free(r->to);
    free(r->agent_id);
    free(r->session_id);
    memset(r, 0, sizeof *r);
}

bool srv_parse_handoff_request(const char *body, size_t len, srv_handoff_request *out,
                               srv_error *err) {
    memset(out, 0, sizeof *out);
    json_t *root = load_object(body, len, true, err);
    if (!root) return false;
    bool ok = get_string(root, "to", 31, false, &out->to, err) &&
              get_string(root, "agent_id", SRV_MAX_LABEL, true, &out->agent_id, err) &&
              get_string(root, "session_id", SRV_MAX_LABEL, true, &out->session_id, err);
    if (ok && out->to && (out->agent_id || out->session_id))
        ok = srv_bad_request(err, "to", "labels are for a new receiver, not for 'to'");
    json_decref(root);
    if (!ok) srv_handoff_request_free(out);
    return ok;
}

/* ---------------------------------------------------------------------------------------------
 * Tokenizer requests
 * ------------------------------------------------------------------------------------------- */

bool srv_parse_tokenize_request(const char *body, size_t len, srv_tokenize_request *out,
                                srv_error *err) {
    memset(out, 0, sizeof *out);
    json_t *root = load_object(body, len, false, err);
    if (!root) return false;
    bool ok = get_string(root, "content", 0, true, &out->content, err) &&
              get_bool(root, "add_special", false, &out->add_special, err) &&
              get_bool(root, "parse_special", false, &out->parse_special, err);
    if (ok && !out->content) ok = srv_bad_request(err, "content", "'content' is required");
    json_decref(root);
    if (!ok) {
        free(out->content);
        out->content = NULL;
    }
    return ok;
}

void srv_free_strings(char **strings, size_t n) {
    for (size_t i = 0; strings && i < n; i++) free(strings[i]);
    free(strings);
}

bool srv_parse_embeddings_request(const char *body, size_t len, char ***inputs, size_t *n_inputs,
                                  srv_error *err) {
    *inputs = NULL;
    *n_inputs = 0;
    json_t *root = load_object(body, len, false, err);
    if (!root) return false;
    json_t *input = json_object_get(root, "input");
    const bool one = json_is_string(input);
    const size_t n = one ? 1 : json_is_array(input) ? json_array_size(input) : 0;
    bool ok = (one || json_is_array(input)) ||
              srv_bad_request(err, "input", "'input' must be a string or an array of strings");
    if (ok && (n == 0 || n > SRV_MAX_EMBED_INPUTS))
        ok = srv_bad_request(err, "input", "'input' needs 1 to %d strings", SRV_MAX_EMBED_INPUTS);
    if (ok && !(*inputs = calloc(n, sizeof **inputs)))
        ok = srv_fail(err, 500, "server_error", NULL, NULL, "out of memory");
    for (size_t i = 0; ok && i < n; i++) {
        json_t *s = one ? input : json_array_get(input, i);
        if (!json_is_string(s) || json_string_length(s) == 0 ||
            strlen(json_string_value(s)) != json_string_length(s))
            ok = srv_bad_request(err, "input", "input[%zu] is not a non-empty string", i);
        else if (!((*inputs)[i] = strdup(json_string_value(s))))
            ok = srv_fail(err, 500, "server_error", NULL, NULL, "out of memory");
        else
            (*n_inputs)++;
    }
    json_decref(root);
    if (!ok) {
        srv_free_strings(*inputs, n);
        *inputs = NULL;
        *n_inputs = 0;
    }
    return ok;
}

bool srv_parse_detokenize_request(const char *body, size_t len, int32_t **tokens,
                                  size_t *n_tokens, srv_error *err) {
    *tokens = NULL;
    *n_tokens = 0;
    json_t *root = load_object(body, len, false, err);
    if (!root) return false;
    json_t *list = json_object_get(root, "tokens");
    bool ok = json_is_array(list) ||
              srv_bad_request(err, "tokens", "'tokens' must be an array of token ids");
    const size_t n = ok ? json_array_size(list) : 0;
    if (ok && !(*tokens = malloc((n ? n : 1) * sizeof **tokens)))
        ok = srv_fail(err, 500, "server_error", NULL, NULL, "out of memory");
    for (size_t i = 0; ok && i < n; i++) {
        json_t *t = json_array_get(list, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) > INT32_MAX)
            ok = srv_bad_request(err, "tokens", "tokens[%zu] is not a token id", i);
        else
            (*tokens)[i] = (int32_t)json_integer_value(t);
    }
    json_decref(root);
    if (!ok) {
        free(*tokens);
        *tokens = NULL;
        return false;
    }
    *n_tokens = n;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Routing requests
 * ------------------------------------------------------------------------------------------- */

bool srv_parse_route_request(const char *body, size_t len, pyagent_params *need,
                             srv_error *err) {
    json_t *root = load_object(body, len, true, err);
    if (!root) return false;
    bool ok = true;
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        pyagent_status st = PYAGENT_OK;
        int64_t i64;
        if (json_is_null(value)) continue;
        if (json_is_string(value)) {
            st = pyagent_params_set_str(need, key, json_string_value(value));
        } else if (json_is_boolean(value)) {
            st = pyagent_params_set_i64(need, key, json_is_true(value));
        } else if (json_is_integer(value) || (json_is_real(value) && integer_of(value, &i64))) {
            integer_of(value, &i64);
            st = pyagent_params_set_i64(need, key, i64);
            if (st == PYAGENT_ERR_INVALID_ARGUMENT) /* a real-valued key */
                st = pyagent_params_set_f64(need, key, (double)i64);
        } else if (json_is_real(value)) {
            st = pyagent_params_set_f64(need, key, json_real_value(value));
        } else {
            ok = srv_bad_request(err, key, "'%.64s' must be a number, a boolean or a string", key);
            break;
        }
        if (st != PYAGENT_OK) {
            ok = srv_bad_request(err, key, "%s", pyagent_params_last_error(need));
            break;
        }
    }
    json_decref(root);
    return ok;
}
