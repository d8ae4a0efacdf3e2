/*
 * Persistent agents (see agents.h) and their endpoints:
 *
 *   GET    /v1/agents                       the caller's agents
 *   POST   /v1/agents                       create {session_id, agent_id, cache_salt, prompt |
 *                                           messages, prefill, temperature, ...}
 *   GET    /v1/agents/{id}                  one agent, with its text when it is idle
 *   DELETE /v1/agents/{id}                  delete (a running generation is cancelled)
 *   POST   /v1/agents/{id}/fork             a copy-on-write child {session_id, agent_id, ...}
 *   POST   /v1/agents/{id}/handoff          its KV through the latent link, to a new agent or
 *                                           to {"to": id} whose sequence is its beginning
 *   GET    /v1/agents/{id}/latent           its KV as a latent packet (?payload=f16|q8_0|f32,
 *                                           ?from=N), for another server
 *   POST   /v1/agents/import                a new agent from a latent packet (the body;
 *                                           ?agent_id=, ?session_id=)
 *   POST   /v1/agents/{id}/completions      a turn: feed "prompt", generate (as /v1/completions)
 *   POST   /v1/agents/{id}/chat/completions a turn: feed "messages" in the chat template
 *
 * Agents belong to the API key that created them: another key sees 404.
 */
#include "agents.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "handlers.h"
#include "json_util.h"

/* ---------------------------------------------------------------------------------------------
 * The list
 * ------------------------------------------------------------------------------------------- */

static void destroy_agent(srv_agent *a) {
    pyagent_agent_destroy(a->agent);
    free(a);
}

static void unlink_locked(server *srv, srv_agent *a) {
    if (a->prev) a->prev->next = a->next;
    else srv->agents = a->next;
    if (a->next) a->next->prev = a->prev;
    a->prev = a->next = NULL;
}

srv_agent *srv_agent_find(server *srv, const char *id, int owner) {
    pthread_mutex_lock(&srv->agents_lock);
    srv_agent *a = srv->agents;
    while (a && (strcmp(a->id, id) != 0 || a->owner != owner)) a = a->next;
    if (a) a->refs++;
    pthread_mutex_unlock(&srv->agents_lock);
    return a;
}

void srv_agent_put(server *srv, srv_agent *a) {
    pthread_mutex_lock(&srv->agents_lock);
    const bool destroy = --a->refs == 0 && a->deleted;
    pthread_mutex_unlock(&srv->agents_lock);
    if (destroy) destroy_agent(a);
}

bool srv_agent_try_use(srv_agent *a) { return !atomic_exchange(&a->in_use, true); }

void srv_agent_end_use(srv_agent *a) { atomic_store(&a->in_use, false); }

void srv_agent_release(server *srv, srv_agent *a) {
    srv_agent_end_use(a);
    srv_agent_put(srv, a);
}

void srv_agents_visit(server *srv, int owner, void (*visit)(void *ctx, srv_agent *a), void *ctx) {
    pthread_mutex_lock(&srv->agents_lock);
    for (srv_agent *a = srv->agents; a; a = a->next)
        if (owner == -2 || a->owner == owner) visit(ctx, a);
    pthread_mutex_unlock(&srv->agents_lock);
}

void srv_agents_destroy_all(server *srv) {
    pthread_mutex_lock(&srv->agents_lock);
    srv_agent *a = srv->agents;
    srv->agents = NULL;
    pthread_mutex_unlock(&srv->agents_lock);
    while (a) {
        srv_agent *next = a->next;
        destroy_agent(a);
        a = next;
    }
}

/* Adds `a` unless its key already has max_agents_per_key agents. */
static bool add_agent(server *srv, srv_agent *a) {
    pthread_mutex_lock(&srv->agents_lock);
    int n = 0;
    for (srv_agent *other = srv->agents; other; other = other->next) n += other->owner == a->owner;
    const bool room = n < srv->cfg.max_agents_per_key;
    if (room) {
        snprintf(a->id, sizeof a->id, "agent-%" PRIu64, ++srv->next_agent_number);
        a->next = srv->agents;
        if (srv->agents) srv->agents->prev = a;
        srv->agents = a;
    }
    pthread_mutex_unlock(&srv->agents_lock);
    return room;
}

static srv_agent *new_agent(pyagent_agent *agent, int owner, const srv_sampling *sampling) {
    srv_agent *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->agent = agent;
    a->owner = owner;
    a->created = srv_unix_time();
    a->sampling = *sampling;
    atomic_init(&a->in_use, false);
    atomic_init(&a->generating, false);
    atomic_init(&a->n_requests, 0);
    return a;
}

/* ---------------------------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------------------------- */

/* The agent's sequence as text (control tokens included), or NULL when it is busy. */
static json_t *sequence_text(server *srv, srv_agent *a) {
    size_t n = 0;
    pyagent_status st = pyagent_agent_tokens(a->agent, NULL, 0, &n);
    if (st != PYAGENT_OK && st != PYAGENT_ERR_BUFFER_TOO_SMALL) return NULL;
    int32_t *tokens = malloc((n ? n : 1) * sizeof *tokens);
    size_t len = 0;
    char *text = NULL;
    if (tokens && pyagent_agent_tokens(a->agent, tokens, n, &n) == PYAGENT_OK) {
        pyagent_engine_detokenize(srv->engine, tokens, n, PYAGENT_DETOKENIZE_SPECIAL, NULL, 0,
                                  &len);
        text = malloc(len + 1);
        if (text && pyagent_engine_detokenize(srv->engine, tokens, n, PYAGENT_DETOKENIZE_SPECIAL,
                                              text, len, &len) != PYAGENT_OK)
            len = 0;
    }
    json_t *value = text ? srv_json_text(text, len) : NULL;
    free(text);
    free(tokens);
    return value;
}

static json_t *agent_json(server *srv, srv_agent *a, bool with_text) {
    pyagent_agent_stats s = {.struct_size = sizeof s};
    pyagent_agent_stats_get(a->agent, &s);
    const char *agent_id = pyagent_agent_get_label(a->agent, "agent_id");
    const char *session_id = pyagent_agent_get_label(a->agent, "session_id");
    json_t *j = json_pack(
        "{s:s, s:s, s:I, s:s, s:s, s:s, s:b, s:I, s:{s:I, s:I, s:I, s:f, s:f}}", "id", a->id,
        "object", "agent", "created", (json_int_t)a->created, "parent", a->parent, "agent_id",
        agent_id ? agent_id : "", "session_id", session_id ? session_id : "", "generating",
        atomic_load(&a->generating), "requests", (json_int_t)atomic_load(&a->n_requests), "stats",
        "prompt_tokens", (json_int_t)s.n_prompt_tokens, "generated_tokens",
        (json_int_t)s.n_generated_tokens, "cached_tokens", (json_int_t)s.n_cached_tokens,
        "prefill_seconds", s.prefill_seconds, "decode_seconds", s.decode_seconds);
    if (j && with_text && srv_agent_try_use(a)) {
        size_t n = 0;
        pyagent_agent_tokens(a->agent, NULL, 0, &n);
        json_object_set_new(j, "n_tokens", json_integer((json_int_t)n));
        json_t *text = sequence_text(srv, a);
        if (text) json_object_set_new(j, "text", text);
        srv_agent_end_use(a);
    }
    return j;
}

static void publish_agent_event(server *srv, const char *action, srv_agent *a) {
    if (!srv_events_wanted(&srv->events)) return;
    json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "type", "agent", "action", action, "id", a->id,
                          "parent", a->parent);
    srv_events_publish(&srv->events, a->owner, e ? json_dumps(e, JSON_COMPACT) : NULL);
    json_decref(e);
}

/* ---------------------------------------------------------------------------------------------
 * Handlers
 * ------------------------------------------------------------------------------------------- */

static enum MHD_Result not_found(srv_call *c, const char *id) {
    srv_error err;
    srv_fail(&err, 404, "invalid_request_error", "agent_not_found", NULL,
             "no agent '%.40s' (for this API key)", id);
    return srv_reply_error(c, &err);
}

static enum MHD_Result busy(srv_call *c, const char *id) {
    srv_error err;
    srv_fail(&err, 409, "invalid_request_error", "agent_busy", NULL,
             "agent '%.40s' is serving another request", id);
    return srv_reply_error(c, &err);
}

static enum MHD_Result too_many(srv_call *c) {
    srv_error err;
    srv_metrics_rejected(&c->srv->metrics);
    srv_fail(&err, 429, "rate_limit_exceeded", "too_many_agents", NULL,
             "this API key has its limit of %d agents; delete some first",
             c->srv->cfg.max_agents_per_key);
    return srv_reply_error(c, &err);
}

typedef struct list_ctx {
    server *srv;
    json_t *data;
} list_ctx;

static void list_one(void *ctx, srv_agent *a) {
    list_ctx *l = ctx;
    json_array_append_new(l->data, agent_json(l->srv, a, false));
}

static enum MHD_Result list_agents(srv_call *c) {
    list_ctx l = {.srv = c->srv, .data = json_array()};
    srv_agents_visit(c->srv, c->key_index, list_one, &l);
    return srv_reply_json(c, 200, json_pack("{s:s, s:o}", "object", "list", "data", l.data));
}

static enum MHD_Result create_agent(srv_call *c) {
    server *srv = c->srv;
    srv_agent_request req;
    srv_error err;
    if (!srv_parse_agent_request(c->body, c->body_len, &req, &err)) return srv_reply_error(c, &err);
    pyagent_params *sampler = srv_make_sampler(srv, &req.sampling, NULL, &err);
    pyagent_agent *agent = NULL;
    bool ok = sampler != NULL;
    if (ok && pyagent_agent_create(srv->engine, sampler, &agent) != PYAGENT_OK)
        ok = srv_fail(&err, 500, "server_error", NULL, NULL, "%s",
                      pyagent_engine_last_error(srv->engine));
    pyagent_params_destroy(sampler);
    const char *labels[3][2] = {{"session_id", req.session_id},
                                {"agent_id", req.agent_id},
                                {"cache_salt", req.cache_salt}};
    for (int i = 0; ok && i < 3; i++)
        if (labels[i][1] && pyagent_agent_set_label(agent, labels[i][0], labels[i][1]))
            ok = srv_bad_request(&err, labels[i][0], "%s", pyagent_agent_last_error(agent));
    int64_t n_fed = 0;
    if (ok && req.n_messages) {
        char *text = srv_template_render(srv->chat_template, req.messages, req.n_messages, false);
        ok = text ? srv_feed_prompt(srv, agent, text, srv->chat_template != SRV_TEMPLATE_NONE,
                                    NULL, 0, &n_fed, &err)
                  : srv_fail(&err, 500, "server_error", NULL, NULL, "out of memory");
        free(text);
    } else if (ok && req.prompt) {
        ok = srv_feed_prompt(srv, agent, req.prompt, false, NULL, 0, &n_fed, &err);
    }
    pyagent_status st = PYAGENT_OK;
    if (ok && n_fed && req.prefill && (st = pyagent_agent_prefill(agent)) != PYAGENT_OK)
        ok = srv_fail(&err, st == PYAGENT_ERR_KV_FULL ? 503 : 500, "server_error", NULL, NULL,
                      "prefill: %s", pyagent_agent_last_error(agent));
    srv_agent *a = ok ? new_agent(agent, c->key_index, &req.sampling) : NULL;
    if (ok && !a) ok = srv_fail(&err, 500, "server_error", NULL, NULL, "out of memory");
    srv_agent_request_free(&req);
    if (!ok) {
        pyagent_agent_destroy(agent);
        return srv_reply_error(c, &err);
    }
    if (!add_agent(srv, a)) {
        destroy_agent(a);
        return too_many(c);
    }
    publish_agent_event(srv, "created", a);
    return srv_reply_json(c, 201, agent_json(srv, a, false));
}

static enum MHD_Result fork_agent(srv_call *c, srv_agent *parent) {
    server *srv = c->srv;
    srv_agent_request req;
    srv_error err;
    if (!srv_parse_agent_request(c->body, c->body_len, &req, &err)) return srv_reply_error(c, &err);
    bool ok = true;
    if (req.cache_salt || req.prompt || req.n_messages)
        ok = srv_bad_request(&err, req.cache_salt ? "cache_salt" : "prompt",
                             "a fork keeps its parent's cache_salt and sequence; feed it with "
                             "a turn after the fork");
    if (ok && !srv_agent_try_use(parent)) {
        srv_agent_request_free(&req);
        return busy(c, parent->id);
    }
    pyagent_agent *child = NULL;
    if (ok) {
        if (pyagent_agent_fork(parent->agent, &child) != PYAGENT_OK)
            ok = srv_fail(&err, 503, "server_error", NULL, NULL, "fork: %s",
                          pyagent_agent_last_error(parent->agent));
        srv_agent_end_use(parent);
    }
    const char *parent_session = pyagent_agent_get_label(parent->agent, "session_id");
    const char *labels[2][2] = {{"session_id", req.session_id ? req.session_id : parent_session},
                                {"agent_id", req.agent_id}};
    for (int i = 0; ok && i < 2; i++)
        if (labels[i][1] && *labels[i][1] &&
            pyagent_agent_set_label(child, labels[i][0], labels[i][1]))
            ok = srv_bad_request(&err, labels[i][0], "%s", pyagent_agent_last_error(child));
    srv_sampling sampling = parent->sampling; /* the parent's settings, then the body's */
    for (size_t i = 0; i < req.sampling.n_settings && sampling.n_settings < SRV_MAX_SETTINGS; i++)
        sampling.settings[sampling.n_settings++] = req.sampling.settings[i];
    if (ok && req.sampling.n_settings) {
        pyagent_params *p = srv_make_sampler(srv, &sampling, NULL, &err);
        ok = p && pyagent_agent_set_sampler(child, p) == PYAGENT_OK;
        pyagent_params_destroy(p);
    }
    srv_agent_request_free(&req);
    srv_agent *a = ok ? new_agent(child, c->key_index, &sampling) : NULL;
    if (ok && !a) ok = srv_fail(&err, 500, "server_error", NULL, NULL, "out of memory");
    if (!ok) {
        pyagent_agent_destroy(child);
        return srv_reply_error(c, &err);
    }
    snprintf(a->parent, sizeof a->parent, "%s", parent->id);
    if (!add_agent(srv, a)) {
        destroy_agent(a);
        return too_many(c);
    }
    publish_agent_event(srv, "forked", a);
    return srv_reply_json(c, 201, agent_json(srv, a, false));
}

static enum MHD_Result delete_agent(srv_call *c, srv_agent *a) {
    server *srv = c->srv;
    pthread_mutex_lock(&srv->agents_lock);
    const bool was_linked = !a->deleted;
    if (was_linked) {
        unlink_locked(srv, a);
        a->deleted = true;
    }
    pthread_mutex_unlock(&srv->agents_lock);
    if (!was_linked) return not_found(c, a->id);
    if (atomic_load(&a->generating)) pyagent_agent_cancel(a->agent);
    publish_agent_event(srv, "deleted", a);
    return srv_reply_json(c, 200, json_pack("{s:s, s:s, s:b}", "id", a->id, "object",
                                            "agent.deleted", "deleted", 1));
}

/* ---------------------------------------------------------------------------------------------
 * The latent link: an agent's KV handed to another agent, or to another server
 * ------------------------------------------------------------------------------------------- */

static enum MHD_Result latent_error(srv_call *c, pyagent_status st, const char *what,
                                    const char *message) {
    srv_error err;
    if (st == PYAGENT_ERR_MISMATCH)
        srv_fail(&err, 409, "invalid_request_error", "latent_mismatch", NULL, "%s: %s", what,
                 message);
    else if (st == PYAGENT_ERR_BAD_PACKET || st == PYAGENT_ERR_OUT_OF_RANGE ||
             st == PYAGENT_ERR_INVALID_ARGUMENT)
        srv_bad_request(&err, NULL, "%s: %s", what, message);
    else
        srv_fail(&err, st == PYAGENT_ERR_KV_FULL ? 503 : 500, "server_error", NULL, NULL,
                 "%s: %s", what, message);
    return srv_reply_error(c, &err);
}

/* A new agent with `sender`'s sampler settings and cache salt (or the server's defaults). */
static pyagent_agent *new_receiver(server *srv, const srv_sampling *sampling,
                                   const char *cache_salt, srv_error *err) {
    pyagent_params *p = srv_make_sampler(srv, sampling, NULL, err);
    pyagent_agent *agent = NULL;
    if (p && pyagent_agent_create(srv->engine, p, &agent) != PYAGENT_OK)
        srv_fail(err, 500, "server_error", NULL, NULL, "%s",
                 pyagent_engine_last_error(srv->engine));
    pyagent_params_destroy(p);
    if (agent && cache_salt && *cache_salt &&
        pyagent_agent_set_label(agent, "cache_salt", cache_salt) != PYAGENT_OK) {
        srv_fail(err, 500, "server_error", NULL, NULL, "%s", pyagent_agent_last_error(agent));
        pyagent_agent_destroy(agent);
        agent = NULL;
    }
    return agent;
}

/* Registers the new `agent` (owned by the call's key) and answers 201 with it. */
static enum MHD_Result publish_new_agent(srv_call *c, pyagent_agent *agent,
                                         const srv_sampling *sampling, const char *parent,
                                         const char *action, int64_t n_tokens) {
    srv_agent *a = new_agent(agent, c->key_index, sampling);
    if (!a) {
        pyagent_agent_destroy(agent);
        return srv_reply_json(c, 500, NULL);
    }
    snprintf(a->parent, sizeof a->parent, "%s", parent);
    if (!add_agent(c->srv, a)) {
        destroy_agent(a);
        return too_many(c);
    }
    publish_agent_event(c->srv, action, a);
    json_t *j = agent_json(c->srv, a, false);
    if (j) json_object_set_new(j, "handoff_tokens", json_integer((json_int_t)n_tokens));
    return srv_reply_json(c, 201, j);
}

static enum MHD_Result handoff_agent(srv_call *c, srv_agent *sender) {
    server *srv = c->srv;
    srv_handoff_request req;
    srv_error err;
    if (!srv_parse_handoff_request(c->body, c->body_len, &req, &err))
        return srv_reply_error(c, &err);
    srv_agent *to = req.to ? srv_agent_find(srv, req.to, c->key_index) : NULL;
    if (req.to && !to) {
        enum MHD_Result r = not_found(c, req.to);
        srv_handoff_request_free(&req);
        return r;
    }
    if (to == sender) {
        srv_agent_put(srv, to);
        srv_handoff_request_free(&req);
        srv_bad_request(&err, "to", "an agent cannot hand off to itself");
        return srv_reply_error(c, &err);
    }
    const bool sender_free = srv_agent_try_use(sender);
    const bool to_free = sender_free && (!to || srv_agent_try_use(to));
    if (!to_free) {
        if (sender_free) srv_agent_end_use(sender);
        enum MHD_Result r = busy(c, sender_free ? to->id : sender->id);
        if (to) srv_agent_put(srv, to);
        srv_handoff_request_free(&req);
        return r;
    }
    /* the receiver continues from its own length: its sequence must be the sender's beginning */
    size_t from = 0;
    if (to) pyagent_agent_tokens(to->agent, NULL, 0, &from);
    pyagent_latent_packet *packet = NULL;
    pyagent_status st = pyagent_latent_export(sender->agent, (int64_t)from, -1, &packet);
    char message[256]; /* the sender's error, read while it is still ours */
    snprintf(message, sizeof message, "%s", st ? pyagent_agent_last_error(sender->agent) : "");
    int64_t lo = 0, hi = 0;
    if (packet) pyagent_latent_packet_range(packet, &lo, &hi);
    const char *salt = pyagent_agent_get_label(sender->agent, "cache_salt");
    const char *session = pyagent_agent_get_label(sender->agent, "session_id");
    char salt_copy[128], session_copy[128];
    snprintf(salt_copy, sizeof salt_copy, "%s", salt ? salt : "");
    snprintf(session_copy, sizeof session_copy, "%s", session ? session : "");
    srv_agent_end_use(sender);
    enum MHD_Result r;
    if (st != PYAGENT_OK) {
        r = latent_error(c, st, "export", message);
    } else if (to) {
        st = pyagent_latent_import(to->agent, packet);
        if (st != PYAGENT_OK) {
            r = latent_error(c, st, "import", pyagent_agent_last_error(to->agent));
        } else {
            publish_agent_event(srv, "handoff", to);
            json_t *j = agent_json(srv, to, false);
            if (j) json_object_set_new(j, "handoff_tokens", json_integer((json_int_t)(hi - lo)));
            r = srv_reply_json(c, 200, j);
        }
    } else {
        pyagent_agent *agent = new_receiver(srv, &sender->sampling, salt_copy, &err);
        if (!agent) {
            r = srv_reply_error(c, &err);
        } else if ((st = pyagent_latent_import(agent, packet)) != PYAGENT_OK) {
            r = latent_error(c, st, "import", pyagent_agent_last_error(agent));
            pyagent_agent_destroy(agent);
        } else {
            const char *labels[2][2] = {
                {"session_id", req.session_id ? req.session_id : session_copy},
                {"agent_id", req.agent_id}};
            for (int i = 0; i < 2; i++)
                if (labels[i][1] && *labels[i][1])
                    pyagent_agent_set_label(agent, labels[i][0], labels[i][1]);
            r = publish_new_agent(c, agent, &sender->sampling, sender->id, "handoff", hi - lo);
        }
    }
    pyagent_latent_packet_destroy(packet);
    if (to) srv_agent_release(srv, to);
    srv_handoff_request_free(&req);
    return r;
}

static bool payload_of(const char *name, int32_t *type) {
    static const struct {
        const char *name;
        int32_t type;
    } types[] = {{"f16", PYAGENT_LATENT_F16}, {"q8_0", PYAGENT_LATENT_Q8_0},
                 {"f32", PYAGENT_LATENT_F32}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(name, types[i].name) == 0) {
            *type = types[i].type;
            return true;
        }
    }
    return false;
}

static enum MHD_Result export_latent(srv_call *c, srv_agent *a) {
    srv_error err;
    int32_t payload = PYAGENT_LATENT_F16;
    const char *name = srv_query(c, "payload");
    if (name && !payload_of(name, &payload)) {
        srv_bad_request(&err, "payload", "payload is f16, q8_0 or f32");
        return srv_reply_error(c, &err);
    }
    long long from = 0;
    const char *from_arg = srv_query(c, "from");
    if (from_arg) {
        char *end = NULL;
        from = strtoll(from_arg, &end, 10);
        if (end == from_arg || *end || from < 0) {
            srv_bad_request(&err, "from", "from is a token position >= 0");
            return srv_reply_error(c, &err);
        }
    }
    if (!srv_agent_try_use(a)) return busy(c, a->id);
    pyagent_latent_packet *packet = NULL;
    pyagent_status st = pyagent_latent_export(a->agent, from, -1, &packet);
    char message[512]; /* read before the agent is given back: its next user clears it */
    snprintf(message, sizeof message, "%s", st ? pyagent_agent_last_error(a->agent) : "");
    srv_agent_end_use(a);
    if (st != PYAGENT_OK) return latent_error(c, st, "export", message);
    size_t needed = 0;
    st = pyagent_latent_packet_serialize(packet, payload, NULL, 0, &needed);
    char *bytes = (st == PYAGENT_OK || st == PYAGENT_ERR_BUFFER_TOO_SMALL) ? malloc(needed) : NULL;
    if (bytes) st = pyagent_latent_packet_serialize(packet, payload, bytes, needed, &needed);
    pyagent_latent_packet_destroy(packet);
    if (!bytes || st != PYAGENT_OK) {
        free(bytes);
        return srv_reply_json(c, 500, NULL);
    }
    return srv_reply_bytes(c, 200, "application/octet-stream", bytes, needed);
}

static enum MHD_Result import_latent(srv_call *c) {
    server *srv = c->srv;
    srv_error err;
    const char *agent_id = srv_query(c, "agent_id"), *session_id = srv_query(c, "session_id");
    pyagent_latent_packet *packet = NULL;
    pyagent_status st =
        pyagent_latent_packet_deserialize(srv->engine, c->body, c->body_len, &packet);
    if (st != PYAGENT_OK)
        return latent_error(c, st, "packet", pyagent_engine_last_error(srv->engine));
    int64_t from = 0, to = 0;
    pyagent_latent_packet_range(packet, &from, &to);
    srv_sampling none = {0};
    pyagent_agent *agent = from == 0 ? new_receiver(srv, &none, NULL, &err) : NULL;
    enum MHD_Result r;
    if (from != 0) {
        srv_bad_request(&err, NULL, "the packet starts at token %lld: a new agent takes packets "
                        "from 0", (long long)from);
        r = srv_reply_error(c, &err);
    } else if (!agent) {
        r = srv_reply_error(c, &err);
    } else if ((st = pyagent_latent_import(agent, packet)) != PYAGENT_OK) {
        r = latent_error(c, st, "import", pyagent_agent_last_error(agent));
        pyagent_agent_destroy(agent);
    } else if ((agent_id && strlen(agent_id) > SRV_MAX_LABEL) ||
               (session_id && strlen(session_id) > SRV_MAX_LABEL)) {
        srv_bad_request(&err, "agent_id", "labels have at most %d bytes", SRV_MAX_LABEL);
        pyagent_agent_destroy(agent);
        r = srv_reply_error(c, &err);
    } else {
        if (agent_id) pyagent_agent_set_label(agent, "agent_id", agent_id);
        if (session_id) pyagent_agent_set_label(agent, "session_id", session_id);
        r = publish_new_agent(c, agent, &none, "", "imported", to - from);
    }
    pyagent_latent_packet_destroy(packet);
    return r;
}

/* A turn on the agent: the generation holds the agent and the reference until it ends. */
static enum MHD_Result agent_turn(srv_call *c, srv_agent *a, srv_gen_kind kind) {
    srv_gen_request req;
    srv_error err;
    if (!srv_agent_try_use(a)) {
        enum MHD_Result r = busy(c, a->id);
        srv_agent_put(c->srv, a);
        return r;
    }
    if (!srv_parse_gen_request(c->body, c->body_len, kind, true, &req, &err)) {
        srv_agent_release(c->srv, a);
        return srv_reply_error(c, &err);
    }
    return srv_generate(c, &req, a);
}

enum MHD_Result srv_handle_agents(srv_call *c, const char *rest) {
    const bool get = strcmp(c->method, "GET") == 0, post = strcmp(c->method, "POST") == 0;
    srv_error err;
    if (!*rest) {
        if (get) return list_agents(c);
        if (post) return create_agent(c);
        srv_fail(&err, 405, "invalid_request_error", "method_not_allowed", NULL,
                 "use GET or POST on /v1/agents");
        return srv_reply_error(c, &err);
    }
    if (post && strcmp(rest, "import") == 0) return import_latent(c);
    char id[32];
    const size_t id_len = strcspn(rest, "/");
    if (id_len == 0 || id_len >= sizeof id) return not_found(c, "");
    memcpy(id, rest, id_len);
    id[id_len] = '\0';
    const char *action = rest + id_len;
    srv_agent *a = srv_agent_find(c->srv, id, c->key_index);
    if (!a) return not_found(c, id);
    if (post && strcmp(action, "/completions") == 0) return agent_turn(c, a, SRV_GEN_COMPLETION);
    if (post && strcmp(action, "/chat/completions") == 0) return agent_turn(c, a, SRV_GEN_CHAT);
    enum MHD_Result r;
    if (get && !*action) {
        r = srv_reply_json(c, 200, agent_json(c->srv, a, true));
    } else if (strcmp(c->method, "DELETE") == 0 && !*action) {
        r = delete_agent(c, a);
    } else if (post && strcmp(action, "/fork") == 0) {
        r = fork_agent(c, a);
    } else if (post && strcmp(action, "/handoff") == 0) {
        r = handoff_agent(c, a);
    } else if (get && strcmp(action, "/latent") == 0) {
        r = export_latent(c, a);
    } else {
        srv_fail(&err, 404, "invalid_request_error", "not_found", NULL,
                 "no such agent endpoint: %.16s %.80s", c->method, action);
        r = srv_reply_error(c, &err);
    }
    srv_agent_put(c->srv, a);
    return r;
}
