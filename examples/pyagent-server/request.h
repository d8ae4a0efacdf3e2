/*
 * Request bodies of pyagent-server: JSON in, checked C structs out.
 *
 * Everything a client sends passes through here before it reaches the engine. A parser takes
 * the raw body bytes (any bytes: not necessarily JSON, UTF-8 or NUL-terminated), and either
 * fills its struct or fills an srv_error with the HTTP status and the OpenAI-style error that the
 * client gets back ("'temperature' must be a number", param "temperature"). Fields that the
 * server does not know are ignored, as OpenAI clients send many; fields it knows must have the
 * documented type. Value ranges that the library checks (sampler bounds) are checked when the
 * settings are applied (srv_sampling_apply), with the library's message.
 *
 * The parsers have no state and do not touch the engine, so the fuzz target
 * (tests/fuzz/fuzz_server_request.c) runs them on arbitrary input.
 */
#ifndef PYAGENT_SERVER_REQUEST_H
#define PYAGENT_SERVER_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pyagent/pyagent.h>

/* An error for the client: HTTP status and the fields of OpenAI's {"error": {...}} body. */
typedef struct srv_error {
    int http_status;   /* 400, 401, 404, ... */
    char type[40];     /* "invalid_request_error", "server_error", ... */
    char code[48];     /* "" = null; e.g. "context_length_exceeded" */
    char param[64];    /* "" = null; the request field at fault */
    char message[512];
} srv_error;

/* Fills `err` and returns false, so that failures read `return srv_fail(err, 400, ...)`. */
bool srv_fail(srv_error *err, int http_status, const char *type, const char *code,
              const char *param, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The usual case: 400 invalid_request_error about `param`. */
bool srv_bad_request(srv_error *err, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------------------------------------
 * Sampling settings: the OpenAI names mapped onto sampler params keys
 * ------------------------------------------------------------------------------------------- */

#define SRV_MAX_SETTINGS 24

typedef struct srv_setting {
    const char *key; /* sampler params key (static string) */
    bool is_f64;
    double f64;
    int64_t i64;
} srv_setting;

typedef struct srv_sampling {
    srv_setting settings[SRV_MAX_SETTINGS]; /* in the order given; a later one wins */
    size_t n_settings;
} srv_sampling;

/* Sets every setting of `s` into `params` (kind PYAGENT_PARAMS_SAMPLER); a value out of the
 * library's bounds gives 400 with the library's message. */
bool srv_sampling_apply(const srv_sampling *s, pyagent_params *params, srv_error *err);

/* ---------------------------------------------------------------------------------------------
 * Generation requests: /v1/chat/completions and /v1/completions (and an agent's turn)
 * ------------------------------------------------------------------------------------------- */

#define SRV_MAX_STOPS 4         /* as OpenAI */
#define SRV_MAX_LABEL 127       /* bytes of session_id, agent_id, cache_salt (the library's) */

typedef enum srv_role {
    SRV_ROLE_SYSTEM,            /* "system" and "developer" */
    SRV_ROLE_USER,
    SRV_ROLE_ASSISTANT,
    SRV_ROLE_TOOL,
} srv_role;

typedef struct srv_message {
    srv_role role;
    char *content; /* the text (text parts of a content array joined); never NULL */
} srv_message;

typedef enum srv_gen_kind { SRV_GEN_CHAT, SRV_GEN_COMPLETION } srv_gen_kind;

typedef struct srv_gen_request {
    srv_gen_kind kind;
    char *model;              /* as sent, or NULL */
    srv_message *messages;    /* chat: at least one */
    size_t n_messages;
    char *prompt;             /* completion: text prompt, or NULL when prompt_tokens is used */
    int32_t *prompt_tokens;   /* completion: a prompt of token ids */
    size_t n_prompt_tokens;
    int64_t max_tokens;       /* max_tokens / max_completion_tokens; -1 = not given */
    bool stream;
    bool include_usage;       /* stream_options.include_usage */
    char *stops[SRV_MAX_STOPS];
    size_t n_stops;
    srv_sampling sampling;
    char *session_id, *agent_id, *cache_salt; /* labels, or NULL */
} srv_gen_request;

/* Parses a chat (kind SRV_GEN_CHAT: "messages" required) or completion (SRV_GEN_COMPLETION:
 * "prompt" required) body. `allow_empty` lets an agent's turn have no messages / prompt (it
 * then continues the agent's sequence as it is). On failure the request is freed. */
bool srv_parse_gen_request(const char *body, size_t len, srv_gen_kind kind, bool allow_empty,
                           srv_gen_request *out, srv_error *err);
void srv_gen_request_free(srv_gen_request *r);

/* ---------------------------------------------------------------------------------------------
 * Agent requests: POST /v1/agents and POST /v1/agents/{id}/fork
 * ------------------------------------------------------------------------------------------- */

typedef struct srv_agent_request {
    char *session_id, *agent_id, *cache_salt; /* labels, or NULL */
    char *prompt;           /* raw text to feed, or NULL */
    srv_message *messages;  /* or chat messages rendered with the template (no reply prompt) */
    size_t n_messages;
    bool prefill;           /* compute the fed tokens now (default true), so forks share them */
    srv_sampling sampling;  /* the agent's own sampler settings */
} srv_agent_request;

/* An empty body is an empty object. */
bool srv_parse_agent_request(const char *body, size_t len, srv_agent_request *out,
                             srv_error *err);
void srv_agent_request_free(srv_agent_request *r);

/* ---------------------------------------------------------------------------------------------
 * Tokenizer requests: POST /tokenize {"content", "add_special", "parse_special"} and
 * POST /detokenize {"tokens": [ids]}
 * ------------------------------------------------------------------------------------------- */

typedef struct srv_tokenize_request {
    char *content;
    bool add_special, parse_special;
} srv_tokenize_request;

bool srv_parse_tokenize_request(const char *body, size_t len, srv_tokenize_request *out,
                                srv_error *err);
/* /v1/embeddings: "input" is a string or an array of 1 to SRV_MAX_EMBED_INPUTS strings;
 * *inputs (and each string) is malloc'ed: free with srv_free_strings. */
#define SRV_MAX_EMBED_INPUTS 64
bool srv_parse_embeddings_request(const char *body, size_t len, char ***inputs, size_t *n_inputs,
                                  srv_error *err);
void srv_free_strings(char **strings, size_t n);

/* *tokens is malloc'ed (free it); may be empty. */
bool srv_parse_detokenize_request(const char *body, size_t len, int32_t **tokens,
                                  size_t *n_tokens, srv_error *err);

/* ---------------------------------------------------------------------------------------------
 * Handoff requests: POST /v1/agents/{id}/handoff {"to", "agent_id", "session_id"}
 * ------------------------------------------------------------------------------------------- */

typedef struct srv_handoff_request {
    char *to;                   /* the receiving agent's id, or NULL for a new agent */
    char *agent_id, *session_id; /* labels of a new receiver, or NULL */
} srv_handoff_request;

/* An empty body is an empty object. */
bool srv_parse_handoff_request(const char *body, size_t len, srv_handoff_request *out,
                               srv_error *err);
void srv_handoff_request_free(srv_handoff_request *r);

/* ---------------------------------------------------------------------------------------------
 * Routing requests: POST /v1/registry/route
 * ------------------------------------------------------------------------------------------- */

/* Fills `need` (kind PYAGENT_PARAMS_ROUTE) from a JSON object whose keys are route params keys
 * (registry.h): numbers, true/false (1/0) or strings. An unknown key or a bad value gives 400
 * with the library's message. */
bool srv_parse_route_request(const char *body, size_t len, pyagent_params *need, srv_error *err);

#endif
