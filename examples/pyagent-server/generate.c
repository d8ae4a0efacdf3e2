/*
 * One generation (see generate.h).
 *
 * A job goes through: admission (the concurrency limit), preparation on the connection's
 * thread (agent, sampler, stops, prompt; every client mistake is a 400 here, before anything
 * is computed), generation, and the end (usage, metrics, the agent destroyed or released).
 *
 * Without streaming, the connection's thread calls pyagent_agent_generate itself and answers
 * with one JSON object. With streaming, a generation thread calls it and appends each token's
 * SSE event to job->out; the connection's thread, inside libmicrohttpd's content reader, sends
 * what is there and otherwise sleeps in poll() on two descriptors: an eventfd that the
 * generation thread writes after appending, and the client's socket (POLLRDHUP), so that a
 * client that hangs up is noticed at once and its generation cancelled. The engine's loop
 * batches every job's tokens into the same forward passes.
 */
#define _GNU_SOURCE /* POLLRDHUP */

#include "generate.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "json_util.h"
#include "strbuf.h"

struct srv_job {
    server *srv;
    srv_job *prev, *next;       /* server->jobs */
    char id[48];                /* "chatcmpl-N" / "cmpl-N" */
    srv_gen_request req;
    srv_agent *owner;           /* persistent agent, or NULL for the request's own agent */
    char owner_id[32];          /* its id ("" for the request's own agent), kept after release */
    pyagent_agent *agent;
    bool settled;               /* agent and admission given back (settle) */
    int64_t created;            /* Unix seconds */
    int client_fd;
    int key_index;              /* the API key of the request; -1 without keys */
    int32_t max_tokens;
    double t_start, t_first, deadline; /* srv_now() seconds */
    int64_t n_prompt;           /* tokens this request fed */
    pyagent_agent_stats before; /* the agent's statistics before this request */
    atomic_int_fast64_t n_generated;
    atomic_bool client_gone;
    atomic_bool cancel_requested; /* shutdown */
    bool cancel_sent;
    bool timed_out;
    /* the result */
    pyagent_status status;
    int32_t finish;
    char error[256];
    srv_generation_figures figures;
    /* without streaming: the text */
    strbuf text;
    /* with streaming */
    pthread_t thread;
    pthread_mutex_t lock;       /* guards out and done */
    strbuf out;                 /* SSE bytes not yet handed to libmicrohttpd */
    bool done;                  /* everything, [DONE] included, is in out */
    int wake_fd;                /* eventfd: out grew or done was set */
    double last_sent;
    strbuf chunk_head;          /* the SSE event of a token, up to its text */
};

int64_t srv_unix_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------------------------------------
 * Preparation
 * ------------------------------------------------------------------------------------------- */

static size_t sequence_length(pyagent_agent *agent) {
    size_t n = 0;
    pyagent_agent_tokens(agent, NULL, 0, &n);
    return n;
}

bool srv_feed_prompt(server *srv, pyagent_agent *agent, const char *text, bool special,
                     const int32_t *tokens, size_t n_tokens, int64_t *n_fed, srv_error *err) {
    const size_t before = sequence_length(agent);
    pyagent_status st;
    const char *message = NULL;
    *n_fed = 0;
    if (tokens) {
        st = pyagent_agent_feed_tokens(agent, tokens, n_tokens);
    } else if (!special) {
        st = pyagent_agent_feed_text(agent, text, -1);
    } else {
        const int32_t flags = PYAGENT_TOKENIZE_PARSE_SPECIAL |
                              (before == 0 ? PYAGENT_TOKENIZE_ADD_SPECIAL : 0);
        size_t n = 0;
        int32_t *ids = NULL;
        st = pyagent_engine_tokenize(srv->engine, text, -1, flags, NULL, 0, &n);
        if (st == PYAGENT_ERR_BUFFER_TOO_SMALL || st == PYAGENT_OK) {
            ids = malloc((n ? n : 1) * sizeof *ids);
            st = ids ? pyagent_engine_tokenize(srv->engine, text, -1, flags, ids, n, &n)
                     : PYAGENT_ERR_OUT_OF_MEMORY;
            if (st == PYAGENT_OK) st = pyagent_agent_feed_tokens(agent, ids, n);
        } else {
            message = pyagent_engine_last_error(srv->engine);
        }
        free(ids);
    }
    if (!message) message = pyagent_agent_last_error(agent);
    switch (st) {
    case PYAGENT_OK: break;
    case PYAGENT_ERR_CONTEXT_FULL:
        return srv_fail(err, 400, "invalid_request_error", "context_length_exceeded", "messages",
                        "the prompt does not fit in the context of %" PRId64 " tokens",
                        srv->n_ctx);
    case PYAGENT_ERR_INVALID_TOKEN:
    case PYAGENT_ERR_INVALID_UTF8:
        return srv_bad_request(err, "prompt", "%s", message);
    default:
        return srv_fail(err, 500, "server_error", NULL, NULL, "%s", message);
    }
    *n_fed = (int64_t)(sequence_length(agent) - before);
    return true;
}

pyagent_params *srv_make_sampler(server *srv, const srv_sampling *own,
                                    const srv_sampling *request, srv_error *err) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    if (!p) {
        srv_fail(err, 500, "server_error", NULL, NULL, "out of memory");
        return NULL;
    }
    if (!srv_sampling_apply(&srv->cfg.sampler_defaults, p, err) ||
        (own && !srv_sampling_apply(own, p, err)) ||
        (request && !srv_sampling_apply(request, p, err))) {
        pyagent_params_destroy(p);
        return NULL;
    }
    return p;
}

static bool set_labels(pyagent_agent *agent, const char *session_id, const char *agent_id,
                       const char *cache_salt, srv_error *err) {
    const char *keys[] = {"session_id", "agent_id", "cache_salt"};
    const char *values[] = {session_id, agent_id, cache_salt};
    for (size_t i = 0; i < 3; i++) {
        if (values[i] && pyagent_agent_set_label(agent, keys[i], values[i]) != PYAGENT_OK)
            return srv_bad_request(err, keys[i], "%s", pyagent_agent_last_error(agent));
    }
    return true;
}

static bool add_stops(srv_job *job, srv_error *err) {
    pyagent_agent *agent = job->agent;
    pyagent_agent_clear_stops(agent);
    if (job->req.kind == SRV_GEN_CHAT) {
        for (const char *const *s = srv_template_stops(job->srv->chat_template); *s; s++)
            pyagent_agent_add_stop(agent, *s, -1);
    }
    for (size_t i = 0; i < job->req.n_stops; i++)
        if (pyagent_agent_add_stop(agent, job->req.stops[i], -1) != PYAGENT_OK)
            return srv_bad_request(err, "stop", "%s", pyagent_agent_last_error(agent));
    return true;
}

/* Everything before generation; false with a client error in `err`. */
static bool prepare(srv_job *job, srv_error *err) {
    server *srv = job->srv;
    srv_gen_request *req = &job->req;
    if (job->owner) {
        job->agent = job->owner->agent;
        if (req->sampling.n_settings) {
            pyagent_params *p = srv_make_sampler(srv, &job->owner->sampling, &req->sampling, err);
            if (!p) return false;
            pyagent_agent_set_sampler(job->agent, p);
            pyagent_params_destroy(p);
        }
    } else {
        pyagent_params *p = srv_make_sampler(srv, NULL, &req->sampling, err);
        if (!p) return false;
        pyagent_status st = pyagent_agent_create(srv->engine, p, &job->agent);
        pyagent_params_destroy(p);
        if (st != PYAGENT_OK)
            return srv_fail(err, 500, "server_error", NULL, NULL, "%s",
                            pyagent_engine_last_error(srv->engine));
        if (!set_labels(job->agent, req->session_id, req->agent_id, req->cache_salt, err))
            return false;
    }
    if (!add_stops(job, err)) return false;

    bool fed = true;
    if (req->kind == SRV_GEN_CHAT && req->n_messages) {
        char *text = srv_template_render(srv->chat_template, req->messages, req->n_messages,
                                         true);
        if (!text) return srv_fail(err, 500, "server_error", NULL, NULL, "out of memory");
        fed = srv_feed_prompt(srv, job->agent, text, srv->chat_template != SRV_TEMPLATE_NONE,
                              NULL, 0, &job->n_prompt, err);
        free(text);
    } else if (req->kind == SRV_GEN_COMPLETION && (req->prompt || req->prompt_tokens)) {
        fed = srv_feed_prompt(srv, job->agent, req->prompt, false, req->prompt_tokens,
                              req->n_prompt_tokens, &job->n_prompt, err);
    }
    if (!fed) return false;
    const int64_t limit = srv->cfg.max_prompt_tokens ? srv->cfg.max_prompt_tokens : srv->n_ctx;
    if (job->n_prompt > limit) {
        pyagent_agent_rewind(job->agent, (size_t)job->n_prompt);
        return srv_fail(err, 400, "invalid_request_error", "context_length_exceeded",
                        req->kind == SRV_GEN_CHAT ? "messages" : "prompt",
                        "the prompt has %" PRId64 " tokens; this server takes at most %" PRId64,
                        job->n_prompt, limit);
    }
    job->before.struct_size = sizeof job->before;
    pyagent_agent_stats_get(job->agent, &job->before);
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Events for the dashboard
 * ------------------------------------------------------------------------------------------- */

static const char *display_id(const srv_job *job) {
    return job->owner_id[0] ? job->owner_id : job->id;
}

static void publish_start(srv_job *job) {
    if (!srv_events_wanted(&job->srv->events)) return;
    const char *session = pyagent_agent_get_label(job->agent, "session_id");
    const char *agent_id = pyagent_agent_get_label(job->agent, "agent_id");
    json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "type", "start", "id", job->id,
                          "agent", display_id(job), "kind",
                          job->req.kind == SRV_GEN_CHAT ? "chat" : "completion", "session_id",
                          session ? session : "", "agent_id", agent_id ? agent_id : "",
                          "prompt_tokens", (json_int_t)job->n_prompt);
    if (e && job->req.kind == SRV_GEN_CHAT && job->req.n_messages) {
        const char *last = job->req.messages[job->req.n_messages - 1].content;
        const size_t n = strlen(last);
        json_object_set_new(e, "prompt", srv_json_text(last, n > 400 ? 400 : n));
    } else if (e && job->req.prompt) {
        const size_t n = strlen(job->req.prompt);
        json_object_set_new(e, "prompt", srv_json_text(job->req.prompt, n > 400 ? 400 : n));
    }
    srv_events_publish(&job->srv->events, job->key_index, e ? json_dumps(e, JSON_COMPACT) : NULL);
    json_decref(e);
}

static void publish_token(srv_job *job, const char *text, size_t len) {
    if (!srv_events_wanted(&job->srv->events)) return;
    strbuf sb = {0};
    sb_puts(&sb, "{\"type\":\"token\",\"id\":");
    srv_json_escape(&sb, job->id, strlen(job->id));
    sb_puts(&sb, ",\"agent\":");
    srv_json_escape(&sb, display_id(job), strlen(display_id(job)));
    sb_puts(&sb, ",\"text\":");
    srv_json_escape(&sb, text, len);
    sb_puts(&sb, "}");
    srv_events_publish(&job->srv->events, job->key_index, sb_take(&sb));
}

/* ---------------------------------------------------------------------------------------------
 * Generation
 * ------------------------------------------------------------------------------------------- */

static void wake(srv_job *job) {
    const uint64_t one = 1;
    if (write(job->wake_fd, &one, sizeof one) < 0) { /* the counter is full: already awake */
    }
}

/* Appends one token's SSE event to job->out (job->lock held). */
static void append_token_event(srv_job *job, const char *text, size_t len) {
    sb_append(&job->out, job->chunk_head.data, job->chunk_head.len);
    srv_json_escape(&job->out, text, len);
    sb_puts(&job->out, job->req.kind == SRV_GEN_CHAT
                           ? "},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
                           : ",\"logprobs\":null,\"finish_reason\":null}]}\n\n");
}

static void on_token(void *user_data, int32_t token, const char *text, size_t len) {
    (void)token;
    srv_job *job = user_data;
    server *srv = job->srv;
    const double now = srv_now();
    if (atomic_fetch_add(&job->n_generated, 1) == 0) {
        job->t_first = now;
        job->figures.got_first_token = true;
        srv_metrics_first_token(&srv->metrics, now - job->t_start);
    }
    srv_metrics_token(&srv->metrics);
    if (len) {
        if (job->req.stream) {
            pthread_mutex_lock(&job->lock);
            append_token_event(job, text, len);
            pthread_mutex_unlock(&job->lock);
            wake(job);
        } else {
            sb_append(&job->text, text, len);
        }
        publish_token(job, text, len);
    }
    const bool gone = job->req.stream ? atomic_load(&job->client_gone)
                                      : srv_client_gone(job->client_fd);
    if (gone) atomic_store(&job->client_gone, true);
    if (now > job->deadline) job->timed_out = true;
    /* a DELETE of the agent cancels what it finds running; a turn it caught still preparing
     * (feeding the prompt) stops here, at its first token */
    const bool deleted = job->owner && atomic_load(&job->owner->deleted);
    if (!job->cancel_sent && (gone || job->timed_out || deleted ||
                              atomic_load(&job->cancel_requested) || atomic_load(&srv->stopping))) {
        job->cancel_sent = true;
        pyagent_agent_cancel(job->agent);
    }
}

static const char *finish_name(const srv_job *job) {
    switch (job->finish) {
    case PYAGENT_FINISH_LENGTH:
    case PYAGENT_FINISH_CONTEXT: return "length";
    case PYAGENT_FINISH_CANCELLED: return job->timed_out ? "length" : "stop";
    default: return "stop";
    }
}

/* Runs the generation on the calling thread and records the figures. */
static void run(srv_job *job) {
    server *srv = job->srv;
    if (job->owner) atomic_store(&job->owner->generating, true);
    job->status = pyagent_agent_generate(job->agent, job->max_tokens, on_token, job, &job->finish);
    if (job->owner) atomic_store(&job->owner->generating, false);
    if (job->status != PYAGENT_OK) {
        snprintf(job->error, sizeof job->error, "%s", pyagent_agent_last_error(job->agent));
        job->finish = 0;
    }
    pyagent_agent_stats after = {.struct_size = sizeof after};
    pyagent_agent_stats_get(job->agent, &after);
    srv_generation_figures *f = &job->figures;
    f->prompt_tokens = job->n_prompt;
    f->cached_tokens = after.n_cached_tokens - job->before.n_cached_tokens;
    f->generated_tokens = after.n_generated_tokens - job->before.n_generated_tokens;
    f->prompt_s = after.prefill_seconds - job->before.prefill_seconds;
    f->generation_s = after.decode_seconds - job->before.decode_seconds;
    f->drafted_tokens = after.n_drafted_tokens - job->before.n_drafted_tokens;
    f->accepted_tokens = after.n_accepted_tokens - job->before.n_accepted_tokens;
    f->verify_steps = after.n_verify_steps - job->before.n_verify_steps;
    f->duration_s = srv_now() - job->t_start;
    f->finish = job->finish;
    f->disconnected = atomic_load(&job->client_gone);
    f->timed_out = job->timed_out;
    srv_metrics_finished(&srv->metrics, f);
    if (job->owner) atomic_fetch_add(&job->owner->n_requests, 1);

    if (srv_events_wanted(&srv->events)) {
        json_t *e = json_pack(
            "{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:f, s:f}", "type", "end", "id", job->id,
            "agent", display_id(job), "finish",
            job->status ? "error" : finish_name(job), "prompt_tokens", (json_int_t)f->prompt_tokens,
            "cached_tokens", (json_int_t)f->cached_tokens, "completion_tokens",
            (json_int_t)f->generated_tokens, "ttft_ms",
            f->got_first_token ? (job->t_first - job->t_start) * 1e3 : 0.0,
            "tokens_per_second", f->generation_s > 0 ? f->generated_tokens / f->generation_s : 0.0);
        srv_events_publish(&srv->events, job->key_index, e ? json_dumps(e, JSON_COMPACT) : NULL);
        json_decref(e);
    }
}

static json_t *usage_json(const srv_job *job) {
    const srv_generation_figures *f = &job->figures;
    return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)f->prompt_tokens,
                     "completion_tokens", (json_int_t)f->generated_tokens, "total_tokens",
                     (json_int_t)(f->prompt_tokens + f->generated_tokens),
                     "prompt_tokens_details", "cached_tokens", (json_int_t)f->cached_tokens);
}

static double per_second(int64_t n, double seconds) { return seconds > 0 ? n / seconds : 0.0; }

/* llama-server's per-response timings (draft_n and draft_n_accepted with speculative
 * decoding), plus the time to first token. */
static json_t *timings_json(const srv_job *job) {
    const srv_generation_figures *f = &job->figures;
    const int64_t computed = f->prompt_tokens - f->cached_tokens;
    json_t *t = json_pack(
        "{s:I, s:I, s:f, s:f, s:f, s:I, s:f, s:f, s:f, s:f}", "cache_n",
        (json_int_t)f->cached_tokens, "prompt_n", (json_int_t)computed, "prompt_ms",
        f->prompt_s * 1e3, "prompt_per_token_ms",
        computed > 0 ? f->prompt_s * 1e3 / computed : 0.0, "prompt_per_second",
        per_second(computed, f->prompt_s), "predicted_n", (json_int_t)f->generated_tokens,
        "predicted_ms", f->generation_s * 1e3, "predicted_per_token_ms",
        f->generated_tokens > 0 ? f->generation_s * 1e3 / f->generated_tokens : 0.0,
        "predicted_per_second", per_second(f->generated_tokens, f->generation_s), "ttft_ms",
        f->got_first_token ? (job->t_first - job->t_start) * 1e3 : 0.0);
    if (t && f->verify_steps > 0) {
        json_object_set_new(t, "draft_n", json_integer((json_int_t)f->drafted_tokens));
        json_object_set_new(t, "draft_n_accepted", json_integer((json_int_t)f->accepted_tokens));
    }
    return t;
}

static json_t *response_head(const srv_job *job, const char *object) {
    return json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", job->id, "object", object, "created",
                     (json_int_t)job->created, "model", job->srv->model_id,
                     "system_fingerprint", "pyagent-" PYAGENT_SERVER_VERSION);
}

/* The error of a failed generation. */
static void generation_error(const srv_job *job, srv_error *err) {
    if (job->status == PYAGENT_ERR_KV_FULL)
        srv_fail(err, 503, "server_error", "kv_cache_full", NULL,
                 "the KV cache is full (%s); retry later", job->error);
    else
        srv_fail(err, 500, "server_error", NULL, NULL, "generation failed: %s", job->error);
}

/* The whole answer of a generation without streaming. */
static enum MHD_Result reply_complete(srv_call *c, srv_job *job) {
    if (job->status != PYAGENT_OK) {
        srv_error err;
        generation_error(job, &err);
        return srv_reply_error(c, &err);
    }
    const bool chat = job->req.kind == SRV_GEN_CHAT;
    json_t *body = response_head(job, chat ? "chat.completion" : "text_completion");
    json_t *text = srv_json_text(job->text.data ? job->text.data : "", job->text.len);
    json_t *choice = chat ? json_pack("{s:i, s:{s:s, s:o}, s:n, s:s}", "index", 0, "message",
                                      "role", "assistant", "content", text, "logprobs",
                                      "finish_reason", finish_name(job))
                          : json_pack("{s:i, s:o, s:n, s:s}", "index", 0, "text", text,
                                      "logprobs", "finish_reason", finish_name(job));
    if (!body || !choice) {
        json_decref(body);
        json_decref(choice);
        return srv_reply_json(c, 500, NULL);
    }
    json_object_set_new(body, "choices", json_pack("[o]", choice));
    json_object_set_new(body, "usage", usage_json(job));
    json_object_set_new(body, "timings", timings_json(job));
    return srv_reply_json(c, 200, body);
}

/* ---------------------------------------------------------------------------------------------
 * Jobs: registration and the end
 * ------------------------------------------------------------------------------------------- */

static void register_job(srv_job *job) {
    server *srv = job->srv;
    pthread_mutex_lock(&srv->jobs_lock);
    job->next = srv->jobs;
    if (srv->jobs) srv->jobs->prev = job;
    srv->jobs = job;
    pthread_mutex_unlock(&srv->jobs_lock);
}

static void unregister_job(srv_job *job) {
    server *srv = job->srv;
    pthread_mutex_lock(&srv->jobs_lock);
    if (job->prev) job->prev->next = job->next;
    else if (srv->jobs == job) srv->jobs = job->next;
    if (job->next) job->next->prev = job->prev;
    job->prev = job->next = NULL;
    pthread_mutex_unlock(&srv->jobs_lock);
}

/* Gives back what the generation held, as soon as it has finished (before its last events are
 * sent, so that a client that reacts to [DONE] finds the agent free and a slot open): its own
 * agent is destroyed, a persistent one released, its admission returned. Idempotent. */
static void settle(srv_job *job, bool admitted) {
    if (job->settled) return;
    job->settled = true;
    server *srv = job->srv;
    unregister_job(job); /* nobody cancels the agent from now on */
    if (job->owner) srv_agent_release(srv, job->owner);
    else pyagent_agent_destroy(job->agent);
    job->owner = NULL;
    job->agent = NULL;
    if (admitted) atomic_fetch_sub(&srv->n_generating, 1);
}

/* Frees the job (settling it first if that has not happened). */
static void end_job(srv_job *job, bool admitted) {
    settle(job, admitted);
    srv_gen_request_free(&job->req);
    sb_free(&job->text);
    sb_free(&job->out);
    sb_free(&job->chunk_head);
    if (job->wake_fd >= 0) close(job->wake_fd);
    pthread_mutex_destroy(&job->lock);
    free(job);
}

void srv_jobs_visit(server *srv, void (*visit)(void *ctx, const srv_job_info *info), void *ctx) {
    const double now = srv_now();
    pthread_mutex_lock(&srv->jobs_lock);
    for (srv_job *job = srv->jobs; job; job = job->next) {
        const char *session = job->req.session_id, *agent_id = job->req.agent_id;
        srv_job_info info = {
            .id = job->id,
            .key_index = job->key_index,
            .agent = job->owner_id,
            .session_id = session ? session : "",
            .agent_id = agent_id ? agent_id : "",
            .kind = job->req.kind == SRV_GEN_CHAT ? "chat" : "completion",
            .stream = job->req.stream,
            .age_s = now - job->t_start,
            .prompt_tokens = job->n_prompt,
            .generated_tokens = (int64_t)atomic_load(&job->n_generated),
        };
        visit(ctx, &info);
    }
    pthread_mutex_unlock(&srv->jobs_lock);
}

void srv_jobs_cancel_all(server *srv) {
    pthread_mutex_lock(&srv->jobs_lock);
    for (srv_job *job = srv->jobs; job; job = job->next) {
        atomic_store(&job->cancel_requested, true);
        pyagent_agent_cancel(job->agent);
    }
    pthread_mutex_unlock(&srv->jobs_lock);
}

/* ---------------------------------------------------------------------------------------------
 * Streaming
 * ------------------------------------------------------------------------------------------- */

/* The SSE event of a token, up to its text: everything but the text is the same. */
static void build_chunk_head(srv_job *job) {
    strbuf *h = &job->chunk_head;
    const bool chat = job->req.kind == SRV_GEN_CHAT;
    sb_puts(h, "data: {\"id\":");
    srv_json_escape(h, job->id, strlen(job->id));
    sb_printf(h, ",\"object\":\"%s\",\"created\":%" PRId64 ",\"model\":",
              chat ? "chat.completion.chunk" : "text_completion", job->created);
    srv_json_escape(h, job->srv->model_id, strlen(job->srv->model_id));
    sb_puts(h, ",\"system_fingerprint\":\"pyagent-" PYAGENT_SERVER_VERSION "\","
               "\"choices\":[{\"index\":0,");
    sb_puts(h, chat ? "\"delta\":{\"content\":" : "\"text\":");
}

static void append_json_event(strbuf *out, json_t *event) {
    char *text = event ? json_dumps(event, JSON_COMPACT) : NULL;
    json_decref(event);
    if (!text) {
        out->failed = true;
        return;
    }
    sb_puts(out, "data: ");
    sb_puts(out, text);
    sb_puts(out, "\n\n");
    free(text);
}

/* The last events: the finish reason with the timings, the usage when asked, [DONE]. */
static void append_final_events(srv_job *job) {
    const bool chat = job->req.kind == SRV_GEN_CHAT;
    if (job->status != PYAGENT_OK) {
        srv_error err;
        generation_error(job, &err);
        json_t *e = json_pack("{s:{s:s, s:s, s:n, s:s}}", "error", "message", err.message,
                              "type", err.type, "param", "code", err.code);
        append_json_event(&job->out, e);
    } else {
        json_t *last = response_head(job, chat ? "chat.completion.chunk" : "text_completion");
        json_t *choice = chat ? json_pack("{s:i, s:{}, s:n, s:s}", "index", 0, "delta",
                                          "logprobs", "finish_reason", finish_name(job))
                              : json_pack("{s:i, s:s, s:n, s:s}", "index", 0, "text", "",
                                          "logprobs", "finish_reason", finish_name(job));
        if (last && choice) {
            json_object_set_new(last, "choices", json_pack("[o]", choice));
            json_object_set_new(last, "timings", timings_json(job));
        } else {
            json_decref(choice);
        }
        append_json_event(&job->out, last);
        if (job->req.include_usage) {
            json_t *usage = response_head(job, chat ? "chat.completion.chunk"
                                                    : "text_completion");
            if (usage) {
                json_object_set_new(usage, "choices", json_array());
                json_object_set_new(usage, "usage", usage_json(job));
            }
            append_json_event(&job->out, usage);
        }
    }
    sb_puts(&job->out, "data: [DONE]\n\n");
}

static void *stream_main(void *arg) {
    srv_job *job = arg;
    run(job);
    settle(job, true);
    pthread_mutex_lock(&job->lock);
    append_final_events(job);
    job->done = true;
    pthread_mutex_unlock(&job->lock);
    wake(job);
    return NULL;
}

/* libmicrohttpd's content reader: hands over what the generation thread has written, waits
 * for more, notices a client that hangs up, keeps a quiet stream alive with pings. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    srv_job *job = cls;
    for (;;) {
        pthread_mutex_lock(&job->lock);
        if (job->out.failed) {
            pthread_mutex_unlock(&job->lock);
            atomic_store(&job->client_gone, true);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (job->out.len > 0) {
            const size_t n = job->out.len < max ? job->out.len : max;
            memcpy(buf, job->out.data, n);
            sb_consume(&job->out, n);
            pthread_mutex_unlock(&job->lock);
            job->last_sent = srv_now();
            return (ssize_t)n;
        }
        const bool done = job->done;
        pthread_mutex_unlock(&job->lock);
        if (done) return MHD_CONTENT_READER_END_OF_STREAM;

        const double quiet = srv_now() - job->last_sent;
        const double ping_in = job->srv->cfg.sse_ping_s - quiet;
        if (ping_in <= 0) {
            static const char ping[] = ": ping\n\n";
            if (max < sizeof ping - 1) return 0;
            memcpy(buf, ping, sizeof ping - 1);
            job->last_sent = srv_now();
            return (ssize_t)(sizeof ping - 1);
        }
        struct pollfd fds[2] = {
            {.fd = job->wake_fd, .events = POLLIN},
            {.fd = job->client_fd, .events = POLLRDHUP},
        };
        const int n_fds = job->client_fd >= 0 ? 2 : 1;
        if (poll(fds, (nfds_t)n_fds, (int)(ping_in * 1000) + 1) < 0) continue;
        if (n_fds == 2 && (fds[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
            atomic_store(&job->client_gone, true);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (fds[0].revents & POLLIN) {
            uint64_t count;
            if (read(job->wake_fd, &count, sizeof count) < 0) { /* reset by another read */
            }
        }
    }
}

/* Runs when libmicrohttpd is done with the response, sent or not. */
static void stream_free(void *cls) {
    srv_job *job = cls;
    atomic_store(&job->client_gone, true); /* if it is still generating, nobody listens */
    pthread_join(job->thread, NULL);
    end_job(job, true);
}

/* ---------------------------------------------------------------------------------------------
 * Entry
 * ------------------------------------------------------------------------------------------- */

enum MHD_Result srv_generate(srv_call *c, srv_gen_request *req, srv_agent *owner) {
    server *srv = c->srv;
    srv_error err;
    srv_job *job = calloc(1, sizeof *job);
    if (!job) {
        srv_gen_request_free(req);
        if (owner) srv_agent_release(srv, owner);
        return srv_reply_json(c, 500, NULL);
    }
    job->srv = srv;
    job->req = *req;
    memset(req, 0, sizeof *req);
    job->owner = owner;
    if (owner) snprintf(job->owner_id, sizeof job->owner_id, "%s", owner->id);
    job->client_fd = c->client_fd;
    job->key_index = c->key_index;
    job->wake_fd = -1;
    job->created = srv_unix_time();
    job->t_start = srv_now();
    job->last_sent = job->t_start;
    job->deadline = job->t_start + srv->cfg.request_timeout_s;
    pthread_mutex_init(&job->lock, NULL);
    atomic_init(&job->n_generated, 0);
    atomic_init(&job->client_gone, false);
    atomic_init(&job->cancel_requested, false);
    snprintf(job->id, sizeof job->id, "%s-%" PRIuFAST64,
             job->req.kind == SRV_GEN_CHAT ? "chatcmpl" : "cmpl",
             (uint_fast64_t)atomic_fetch_add(&srv->next_request_number, 1));

    if (atomic_fetch_add(&srv->n_generating, 1) >= srv->cfg.max_concurrent) {
        atomic_fetch_sub(&srv->n_generating, 1);
        srv_metrics_rejected(&srv->metrics);
        srv_fail(&err, 429, "rate_limit_exceeded", "rate_limit_exceeded", NULL,
                 "the server is running its limit of %d generations at once; retry later",
                 srv->cfg.max_concurrent);
        job->agent = NULL;
        end_job(job, false);
        return srv_reply_error(c, &err);
    }
    const int64_t cap = srv->cfg.max_tokens;
    if (job->req.max_tokens > cap) {
        srv_bad_request(&err, "max_tokens", "max_tokens is %" PRId64 "; this server allows at most "
                        "%" PRId64, job->req.max_tokens, cap);
        end_job(job, true);
        return srv_reply_error(c, &err);
    }
    job->max_tokens = (int32_t)(job->req.max_tokens > 0 ? job->req.max_tokens : cap);
    if (!prepare(job, &err)) {
        end_job(job, true);
        return srv_reply_error(c, &err);
    }
    register_job(job);
    srv_metrics_started(&srv->metrics);
    publish_start(job);

    if (!job->req.stream) {
        /* no idle timeout while this thread generates; set again (from now) after */
        MHD_set_connection_option(c->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
        run(job);
        MHD_set_connection_option(c->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                  srv->cfg.idle_timeout_s);
        enum MHD_Result r = atomic_load(&job->client_gone) ? MHD_NO : reply_complete(c, job);
        end_job(job, true);
        return r;
    }
    build_chunk_head(job);
    if (job->req.kind == SRV_GEN_CHAT) { /* OpenAI's first event gives the role */
        json_t *first = response_head(job, "chat.completion.chunk");
        json_t *choice = json_pack("{s:i, s:{s:s, s:s}, s:n, s:n}", "index", 0, "delta", "role",
                                   "assistant", "content", "", "logprobs", "finish_reason");
        if (first && choice) json_object_set_new(first, "choices", json_pack("[o]", choice));
        else json_decref(choice);
        append_json_event(&job->out, first);
    }
    job->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (job->wake_fd < 0 || job->chunk_head.failed || job->out.failed ||
        pthread_create(&job->thread, NULL, stream_main, job) != 0) {
        job->status = PYAGENT_ERR_OUT_OF_MEMORY;
        srv_generation_figures none = {0};
        srv_metrics_finished(&srv->metrics, &none);
        end_job(job, true);
        return srv_reply_json(c, 500, NULL);
    }
    return srv_reply_stream(c, stream_read, job, stream_free);
}
