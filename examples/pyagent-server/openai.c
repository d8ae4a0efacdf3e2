/*
 * The OpenAI-compatible endpoints: /v1/chat/completions, /v1/completions, /v1/models, plus
 * /health and the model's layout for the dashboard.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "handlers.h"
#include "json_util.h"

enum MHD_Result srv_handle_health(srv_call *c, const char *rest) {
    (void)rest;
    server *srv = c->srv;
    return srv_reply_json(c, 200, json_pack("{s:s, s:s, s:i}", "status", "ok", "model",
                                            srv->model_id, "generating",
                                            atomic_load(&srv->n_generating)));
}

static int64_t engine_info(server *srv, const char *key) {
    int64_t value = 0;
    pyagent_engine_info(srv->engine, key, &value);
    return value;
}

static json_t *model_json(server *srv) {
    return json_pack("{s:s, s:s, s:I, s:s, s:{s:I, s:I, s:I, s:I, s:I, s:s}}", "id",
                     srv->model_id, "object", "model", "created", (json_int_t)srv->started_at,
                     "owned_by", "pyagent", "meta", "n_params",
                     (json_int_t)engine_info(srv, "n_params"), "n_ctx", (json_int_t)srv->n_ctx,
                     "n_ctx_train", (json_int_t)engine_info(srv, "n_ctx_train"), "n_vocab",
                     (json_int_t)engine_info(srv, "n_vocab"), "n_embd",
                     (json_int_t)engine_info(srv, "n_embd"), "chat_template",
                     srv_template_name(srv->chat_template));
}

enum MHD_Result srv_handle_models(srv_call *c, const char *rest) {
    server *srv = c->srv;
    if (!*rest)
        return srv_reply_json(c, 200, json_pack("{s:s, s:[o]}", "object", "list", "data",
                                                model_json(srv)));
    if (strcmp(rest, srv->model_id) == 0) return srv_reply_json(c, 200, model_json(srv));
    srv_error err;
    srv_fail(&err, 404, "invalid_request_error", "model_not_found", "model",
             "the model '%.100s' does not exist; this server has '%s'", rest, srv->model_id);
    return srv_reply_error(c, &err);
}

static enum MHD_Result generation_endpoint(srv_call *c, srv_gen_kind kind) {
    srv_gen_request req;
    srv_error err;
    if (!srv_parse_gen_request(c->body, c->body_len, kind, false, &req, &err))
        return srv_reply_error(c, &err);
    return srv_generate(c, &req, NULL);
}

enum MHD_Result srv_handle_chat(srv_call *c, const char *rest) {
    (void)rest;
    return generation_endpoint(c, SRV_GEN_CHAT);
}

enum MHD_Result srv_handle_completions(srv_call *c, const char *rest) {
    (void)rest;
    return generation_endpoint(c, SRV_GEN_COMPLETION);
}

/* The model's shape, for the dashboard's network view: per layer the attention and
 * feed-forward matrices as (rows, columns). */
enum MHD_Result srv_handle_model_layout(srv_call *c, const char *rest) {
    (void)rest;
    server *srv = c->srv;
    const int64_t n_embd = engine_info(srv, "n_embd"), n_head = engine_info(srv, "n_head");
    const int64_t n_head_kv = engine_info(srv, "n_head_kv"), n_ff = engine_info(srv, "n_ff");
    const int64_t head_dim = n_head ? n_embd / n_head : 0;
    char arch[64] = "", name[128] = "";
    size_t needed;
    pyagent_engine_meta_str(srv->engine, "general.architecture", arch, sizeof arch, &needed);
    pyagent_engine_meta_str(srv->engine, "general.name", name, sizeof name, &needed);
    json_t *tensors = json_pack(
        "[{s:s, s:[I,I]}, {s:s, s:[I,I]}, {s:s, s:[I,I]}, {s:s, s:[I,I]}, {s:s, s:[I,I]},"
        " {s:s, s:[I,I]}, {s:s, s:[I,I]}]",
        "name", "attn_q", "shape", (json_int_t)(n_head * head_dim), (json_int_t)n_embd, "name",
        "attn_k", "shape", (json_int_t)(n_head_kv * head_dim), (json_int_t)n_embd, "name",
        "attn_v", "shape", (json_int_t)(n_head_kv * head_dim), (json_int_t)n_embd, "name",
        "attn_output", "shape", (json_int_t)n_embd, (json_int_t)(n_head * head_dim), "name",
        "ffn_gate", "shape", (json_int_t)n_ff, (json_int_t)n_embd, "name", "ffn_up", "shape",
        (json_int_t)n_ff, (json_int_t)n_embd, "name", "ffn_down", "shape", (json_int_t)n_embd,
        (json_int_t)n_ff);
    return srv_reply_json(
        c, 200,
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o}", "id",
                  srv->model_id, "architecture", arch, "name", name, "n_params",
                  (json_int_t)engine_info(srv, "n_params"), "n_vocab",
                  (json_int_t)engine_info(srv, "n_vocab"), "n_ctx", (json_int_t)srv->n_ctx,
                  "n_embd", (json_int_t)n_embd, "n_layer",
                  (json_int_t)engine_info(srv, "n_layer"), "n_head", (json_int_t)n_head,
                  "n_head_kv", (json_int_t)n_head_kv, "head_dim", (json_int_t)head_dim, "n_ff",
                  (json_int_t)n_ff, "chat_template", srv_template_name(srv->chat_template),
                  "layer_tensors", tensors));
}

enum MHD_Result srv_handle_tokenize(srv_call *c, const char *rest) {
    (void)rest;
    server *srv = c->srv;
    srv_tokenize_request req;
    srv_error err;
    if (!srv_parse_tokenize_request(c->body, c->body_len, &req, &err))
        return srv_reply_error(c, &err);
    const int32_t flags = (req.add_special ? PYAGENT_TOKENIZE_ADD_SPECIAL : 0) |
                          (req.parse_special ? PYAGENT_TOKENIZE_PARSE_SPECIAL : 0);
    size_t n = 0;
    int32_t *ids = NULL;
    pyagent_status st = pyagent_engine_tokenize(srv->engine, req.content, -1, flags, NULL, 0, &n);
    if (st == PYAGENT_OK || st == PYAGENT_ERR_BUFFER_TOO_SMALL) {
        ids = malloc((n ? n : 1) * sizeof *ids);
        st = ids ? pyagent_engine_tokenize(srv->engine, req.content, -1, flags, ids, n, &n)
                 : PYAGENT_ERR_OUT_OF_MEMORY;
    }
    free(req.content);
    if (st != PYAGENT_OK) {
        free(ids);
        srv_bad_request(&err, "content", "%s", pyagent_engine_last_error(srv->engine));
        return srv_reply_error(c, &err);
    }
    json_t *tokens = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(tokens, json_integer(ids[i]));
    free(ids);
    return srv_reply_json(c, 200, json_pack("{s:o}", "tokens", tokens));
}

enum MHD_Result srv_handle_detokenize(srv_call *c, const char *rest) {
    (void)rest;
    server *srv = c->srv;
    int32_t *tokens = NULL;
    size_t n = 0, len = 0;
    srv_error err;
    if (!srv_parse_detokenize_request(c->body, c->body_len, &tokens, &n, &err))
        return srv_reply_error(c, &err);
    pyagent_status st = pyagent_engine_detokenize(srv->engine, tokens, n, 0, NULL, 0, &len);
    char *text = NULL;
    if (st == PYAGENT_OK || st == PYAGENT_ERR_BUFFER_TOO_SMALL) {
        text = malloc(len + 1);
        st = text ? pyagent_engine_detokenize(srv->engine, tokens, n, 0, text, len, &len)
                  : PYAGENT_ERR_OUT_OF_MEMORY;
    }
    free(tokens);
    if (st != PYAGENT_OK) {
        free(text);
        srv_bad_request(&err, "tokens", "%s", pyagent_engine_last_error(srv->engine));
        return srv_reply_error(c, &err);
    }
    json_t *content = srv_json_text(text, len);
    free(text);
    return srv_reply_json(c, 200, json_pack("{s:o}", "content", content));
}
