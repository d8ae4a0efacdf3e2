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
    /* the tensors as the file stores them; layer 0's by short name ("attn_k"), shapes as
     * (rows, columns) = (outputs, inputs) */
    json_t *tensors = json_array(), *layer = json_array();
    const int64_t n_tensors = engine_info(srv, "n_tensors");
    for (int64_t i = 0; i < n_tensors; i++) {
        pyagent_tensor_info t = {.struct_size = sizeof t};
        if (pyagent_engine_tensor(srv->engine, i, &t) != PYAGENT_OK) continue;
        json_t *shape = json_array();
        for (int d = (int)t.n_dims - 1; d >= 0; d--) json_array_append_new(shape, json_integer(t.dims[d]));
        json_array_append_new(tensors, json_pack("{s:s, s:s, s:O, s:I}", "name", t.name, "type",
                                                 t.type, "shape", shape, "bytes",
                                                 (json_int_t)t.n_bytes));
        const char *prefix = "blk.0.", *suffix = ".weight";
        const size_t len = strlen(t.name);
        if (strncmp(t.name, prefix, 6) == 0 && len > 6 + 7 && strcmp(t.name + len - 7, suffix) == 0) {
            json_t *short_name = json_stringn(t.name + 6, len - 6 - 7);
            json_array_append_new(layer, json_pack("{s:o, s:s, s:O}", "name", short_name, "type",
                                                   t.type, "shape", shape));
        }
        json_decref(shape);
    }
    return srv_reply_json(
        c, 200,
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o, s:o}", "id",
                  srv->model_id, "architecture", arch, "name", name, "n_params",
                  (json_int_t)engine_info(srv, "n_params"), "n_vocab",
                  (json_int_t)engine_info(srv, "n_vocab"), "n_ctx", (json_int_t)srv->n_ctx,
                  "n_embd", (json_int_t)n_embd, "n_layer",
                  (json_int_t)engine_info(srv, "n_layer"), "n_head", (json_int_t)n_head,
                  "n_head_kv", (json_int_t)n_head_kv, "head_dim", (json_int_t)head_dim, "n_ff",
                  (json_int_t)n_ff, "chat_template", srv_template_name(srv->chat_template),
                  "layer_tensors", layer, "tensors", tensors));
}

/* The KV radix index as a tree: every published block with its parent, holders and text. At
 * most KV_TREE_MAX_NODES are listed (a dashboard cannot draw more); n_nodes says how many
 * there are. */
#define KV_TREE_MAX_NODES 400

enum MHD_Result srv_handle_kv_tree(srv_call *c, const char *rest) {
    (void)rest;
    server *srv = c->srv;
    pyagent_kv_store *kv = pyagent_engine_kv_store(srv->engine);
    pyagent_kv_stats stats = {.struct_size = sizeof stats};
    pyagent_kv_store_stats_get(kv, &stats);
    const size_t bs = stats.block_size;
    pyagent_kv_node *nodes = malloc(KV_TREE_MAX_NODES * sizeof *nodes);
    int32_t *tokens = malloc(KV_TREE_MAX_NODES * bs * sizeof *tokens);
    size_t n = 0;
    pyagent_status st = nodes && tokens ? pyagent_kv_store_nodes(kv, nodes, tokens,
                                                                 KV_TREE_MAX_NODES, &n)
                                        : PYAGENT_ERR_OUT_OF_MEMORY;
    if (st != PYAGENT_OK && st != PYAGENT_ERR_BUFFER_TOO_SMALL) {
        free(nodes), free(tokens);
        return srv_reply_json(c, 500, json_pack("{s:{s:s, s:s}}", "error", "message",
                                                pyagent_status_str(st), "type", "server_error"));
    }
    json_t *list = json_array();
    char text[4096], key[17], parent[17];
    for (size_t i = 0; i < n && i < KV_TREE_MAX_NODES; i++) {
        size_t len = 0;
        if (pyagent_engine_detokenize(srv->engine, tokens + i * bs, bs, PYAGENT_DETOKENIZE_SPECIAL,
                                      text, sizeof text, &len) != PYAGENT_OK)
            len = 0;
        snprintf(key, sizeof key, "%016llx", (unsigned long long)nodes[i].key);
        snprintf(parent, sizeof parent, "%016llx", (unsigned long long)nodes[i].parent_key);
        json_t *t = srv_json_text(text, len); /* a block may end inside a character */
        json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:i, s:o}", "id", key, "parent",
                                              parent, "refcount", nodes[i].refcount, "children",
                                              nodes[i].n_children, "text", t));
    }
    free(nodes), free(tokens);
    return srv_reply_json(c, 200, json_pack("{s:I, s:I, s:b, s:o}", "block_size", (json_int_t)bs,
                                            "n_nodes", (json_int_t)n, "truncated",
                                            n > KV_TREE_MAX_NODES, "nodes", list));
}

/* OpenAI's /v1/embeddings: each input's embedding is pyagent_engine_embed_text (the mean of the
 * model's final hidden states over its tokens, by a private agent). */
enum MHD_Result srv_handle_embeddings(srv_call *c, const char *rest) {
    (void)rest;
    server *srv = c->srv;
    char **inputs = NULL;
    size_t n_inputs = 0;
    srv_error err;
    if (!srv_parse_embeddings_request(c->body, c->body_len, &inputs, &n_inputs, &err))
        return srv_reply_error(c, &err);
    const size_t d = (size_t)engine_info(srv, "n_embd");
    float *v = malloc(d * sizeof *v);
    json_t *data = json_array();
    int64_t n_tokens = 0;
    pyagent_status st = v ? PYAGENT_OK : PYAGENT_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; !st && i < n_inputs; i++) {
        size_t n = 0, got = 0;
        st = pyagent_engine_embed_text(srv->engine, inputs[i], -1, v, d, &got);
        if (st) break;
        pyagent_engine_tokenize(srv->engine, inputs[i], -1, PYAGENT_TOKENIZE_ADD_SPECIAL, NULL, 0,
                                &n);
        n_tokens += (int64_t)n;
        json_t *values = json_array();
        for (size_t j = 0; j < d; j++) json_array_append_new(values, json_real(v[j]));
        json_array_append_new(data, json_pack("{s:s, s:I, s:o}", "object", "embedding", "index",
                                              (json_int_t)i, "embedding", values));
    }
    free(v);
    srv_free_strings(inputs, n_inputs);
    if (st) {
        json_decref(data);
        const bool bad = st == PYAGENT_ERR_INVALID_UTF8 || st == PYAGENT_ERR_CONTEXT_FULL ||
                         st == PYAGENT_ERR_INVALID_ARGUMENT;
        return srv_reply_json(c, bad ? 400 : 500,
                              json_pack("{s:{s:s, s:s}}", "error", "message",
                                        pyagent_engine_last_error(srv->engine), "type",
                                        bad ? "invalid_request_error" : "server_error"));
    }
    return srv_reply_json(c, 200,
                          json_pack("{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data",
                                    data, "model", srv->model_id, "usage", "prompt_tokens",
                                    (json_int_t)n_tokens, "total_tokens", (json_int_t)n_tokens));
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
