/*
 * Metrics (see metrics.h): counters under one mutex (a few updates per token at most), the KV
 * store's statistics read at scrape time, and every persistent agent's statistics.
 */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agents.h"
#include "generate.h"
#include "handlers.h"
#include "json_util.h"
#include "server.h"

static const double HIST_BOUNDS[SRV_HIST_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1,
                                                      0.25,  0.5,  1,     2.5,  5,
                                                      10,    20,   30,    60,   120};
static const unsigned STATUS_CODES[SRV_N_STATUS] = {200, 201, 204, 400, 401, 404,
                                                    405, 409, 413, 429, 500, 503};
static const char *const ENDPOINT_NAMES[SRV_EP_COUNT] = {
    [SRV_EP_CHAT] = "chat",         [SRV_EP_COMPLETIONS] = "completions",
    [SRV_EP_MODELS] = "models",     [SRV_EP_HEALTH] = "health",
    [SRV_EP_METRICS] = "metrics",   [SRV_EP_AGENTS] = "agents",
    [SRV_EP_REGISTRY] = "registry", [SRV_EP_EVENTS] = "events",
    [SRV_EP_DASHBOARD] = "dashboard", [SRV_EP_OTHER] = "other",
};
static const char *const FINISH_NAMES[6] = {"error", "length", "eos", "stop", "cancelled",
                                            "context"};

void srv_metrics_init(srv_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
}

void srv_metrics_destroy(srv_metrics *m) { pthread_mutex_destroy(&m->lock); }

void srv_metrics_request(srv_metrics *m, srv_endpoint endpoint) {
    pthread_mutex_lock(&m->lock);
    m->c.requests[endpoint]++;
    pthread_mutex_unlock(&m->lock);
}

void srv_metrics_response(srv_metrics *m, unsigned status) {
    size_t i = 0;
    while (i < SRV_N_STATUS && STATUS_CODES[i] != status) i++;
    pthread_mutex_lock(&m->lock);
    m->c.responses[i]++;
    pthread_mutex_unlock(&m->lock);
}

void srv_metrics_rejected(srv_metrics *m) {
    pthread_mutex_lock(&m->lock);
    m->c.rejected++;
    pthread_mutex_unlock(&m->lock);
}

void srv_metrics_started(srv_metrics *m) {
    pthread_mutex_lock(&m->lock);
    m->c.processing++;
    m->c.waiting++;
    pthread_mutex_unlock(&m->lock);
}

static void observe(srv_histogram *h, double value) {
    size_t i = 0;
    while (i < SRV_HIST_BUCKETS && value > HIST_BOUNDS[i]) i++;
    h->counts[i]++;
    h->sum += value;
    h->count++;
}

void srv_metrics_first_token(srv_metrics *m, double ttft_s) {
    pthread_mutex_lock(&m->lock);
    m->c.waiting--;
    observe(&m->c.ttft, ttft_s);
    pthread_mutex_unlock(&m->lock);
}

/* The slot of the current second in the tokens/s window, emptied when it is reused. */
static size_t tps_slot_locked(srv_metrics *m, int64_t second) {
    const size_t slot = (size_t)(second % SRV_TPS_WINDOW);
    if (m->c.tps_second[slot] != second) {
        m->c.tps_second[slot] = second;
        m->c.tps_tokens[slot] = 0;
    }
    return slot;
}

void srv_metrics_token(srv_metrics *m) {
    const int64_t second = (int64_t)srv_now();
    pthread_mutex_lock(&m->lock);
    m->c.tps_tokens[tps_slot_locked(m, second)]++;
    pthread_mutex_unlock(&m->lock);
}

double srv_metrics_tokens_per_second(srv_metrics *m) {
    const int64_t now = (int64_t)srv_now();
    uint64_t total = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < SRV_TPS_WINDOW; i++) /* the seconds before the current one */
        if (m->c.tps_second[i] < now && m->c.tps_second[i] >= now - SRV_TPS_WINDOW)
            total += m->c.tps_tokens[i];
    pthread_mutex_unlock(&m->lock);
    return (double)total / SRV_TPS_WINDOW;
}

void srv_metrics_finished(srv_metrics *m, const srv_generation_figures *f) {
    pthread_mutex_lock(&m->lock);
    m->c.processing--;
    if (!f->got_first_token) m->c.waiting--;
    m->c.generations++;
    m->c.finish[f->finish >= 0 && f->finish < 6 ? f->finish : 0]++;
    m->c.prompt_tokens += (uint64_t)f->prompt_tokens;
    m->c.cached_tokens += (uint64_t)f->cached_tokens;
    m->c.generated_tokens += (uint64_t)f->generated_tokens;
    m->c.prompt_seconds += f->prompt_s;
    m->c.generation_seconds += f->generation_s;
    m->c.disconnected += f->disconnected;
    m->c.timed_out += f->timed_out;
    m->c.drafted_tokens += (uint64_t)f->drafted_tokens;
    m->c.accepted_tokens += (uint64_t)f->accepted_tokens;
    m->c.verify_steps += (uint64_t)f->verify_steps;
    observe(&m->c.duration, f->duration_s);
    pthread_mutex_unlock(&m->lock);
}

/* ---------------------------------------------------------------------------------------------
 * Prometheus text
 * ------------------------------------------------------------------------------------------- */

static void header(strbuf *out, const char *name, const char *type, const char *help) {
    sb_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with Prometheus's escapes (backslash, quote, newline). */
static void label_value(strbuf *out, const char *value) {
    sb_puts(out, "\"");
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"') sb_printf(out, "\\%c", *p);
        else if (*p == '\n') sb_puts(out, "\\n");
        else sb_append(out, p, 1);
    }
    sb_puts(out, "\"");
}

static void histogram(strbuf *out, const char *name, const char *help, const srv_histogram *h) {
    header(out, name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < SRV_HIST_BUCKETS; i++) {
        cumulative += h->counts[i];
        sb_printf(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, HIST_BOUNDS[i], cumulative);
    }
    cumulative += h->counts[SRV_HIST_BUCKETS];
    sb_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.9g\n%s_count %" PRIu64 "\n",
              name, cumulative, name, h->sum, name, h->count);
}

typedef struct agent_lines {
    strbuf *out;
    const char *metric;
    int what; /* 0 prompt, 1 generated, 2 cached, 3 requests */
} agent_lines;

static void agent_line(void *ctx, srv_agent *a) {
    agent_lines *l = ctx;
    pyagent_agent_stats s = {.struct_size = sizeof s};
    pyagent_agent_stats_get(a->agent, &s);
    const int64_t values[4] = {s.n_prompt_tokens, s.n_generated_tokens, s.n_cached_tokens,
                               (int64_t)atomic_load(&a->n_requests)};
    const char *agent_id = pyagent_agent_get_label(a->agent, "agent_id");
    const char *session_id = pyagent_agent_get_label(a->agent, "session_id");
    sb_printf(l->out, "%s{agent=", l->metric);
    label_value(l->out, a->id);
    sb_puts(l->out, ",agent_id=");
    label_value(l->out, agent_id ? agent_id : "");
    sb_puts(l->out, ",session_id=");
    label_value(l->out, session_id ? session_id : "");
    sb_printf(l->out, "} %" PRId64 "\n", values[l->what]);
}

static void count_agent(void *ctx, srv_agent *a) {
    (void)a;
    (*(int64_t *)ctx)++;
}

static void count_request_agent(void *ctx, const srv_job_info *info) {
    if (!*info->agent) (*(int64_t *)ctx)++;
}

void srv_metrics_render(server *srv, strbuf *out) {
    srv_metrics *m = &srv->metrics;
    const double tps = srv_metrics_tokens_per_second(m);
    pthread_mutex_lock(&m->lock);
    const srv_counters c = m->c;
    pthread_mutex_unlock(&m->lock);

    header(out, "pyagent_model_info", "gauge", "The model served (value 1).");
    sb_puts(out, "pyagent_model_info{model=");
    label_value(out, srv->model_id);
    sb_puts(out, ",chat_template=");
    label_value(out, srv_template_name(srv->chat_template));
    sb_printf(out, ",version=\"%s\"} 1\n", pyagent_version_string());
    header(out, "pyagent_context_size_tokens", "gauge", "Tokens one agent may hold.");
    sb_printf(out, "pyagent_context_size_tokens %" PRId64 "\n", srv->n_ctx);
    header(out, "pyagent_uptime_seconds", "gauge", "Seconds since the server started.");
    sb_printf(out, "pyagent_uptime_seconds %" PRId64 "\n", srv_unix_time() - srv->started_at);

    header(out, "pyagent_requests_total", "counter", "HTTP requests by endpoint.");
    for (int i = 0; i < SRV_EP_COUNT; i++)
        sb_printf(out, "pyagent_requests_total{endpoint=\"%s\"} %" PRIu64 "\n",
                  ENDPOINT_NAMES[i], c.requests[i]);
    header(out, "pyagent_responses_total", "counter", "HTTP responses by status code.");
    for (int i = 0; i <= SRV_N_STATUS; i++) {
        if (i < SRV_N_STATUS)
            sb_printf(out, "pyagent_responses_total{code=\"%u\"} %" PRIu64 "\n",
                      STATUS_CODES[i], c.responses[i]);
        else
            sb_printf(out, "pyagent_responses_total{code=\"other\"} %" PRIu64 "\n",
                      c.responses[i]);
    }
    header(out, "pyagent_generations_total", "counter",
           "Finished generations by how they finished.");
    for (int i = 0; i < 6; i++)
        sb_printf(out, "pyagent_generations_total{finish=\"%s\"} %" PRIu64 "\n",
                  FINISH_NAMES[i], c.finish[i]);

    const struct {
        const char *name, *type, *help;
        double value;
    } plain[] = {
        {"pyagent_prompt_tokens_total", "counter", "Prompt tokens fed by requests.",
         (double)c.prompt_tokens},
        {"pyagent_prompt_tokens_cached_total", "counter",
         "Prompt tokens attached from the prefix cache instead of computed.",
         (double)c.cached_tokens},
        {"pyagent_generated_tokens_total", "counter", "Tokens generated.",
         (double)c.generated_tokens},
        {"pyagent_prompt_seconds_total", "counter", "Time spent computing prompts.",
         c.prompt_seconds},
        {"pyagent_generation_seconds_total", "counter", "Time spent generating.",
         c.generation_seconds},
        {"pyagent_generation_tokens_per_second", "gauge",
         "Tokens generated per second over the last " "10" " seconds.", tps},
        {"pyagent_requests_processing", "gauge", "Generations running.", (double)c.processing},
        {"pyagent_requests_waiting", "gauge",
         "Generations admitted that have no token yet (queued or in prefill).",
         (double)c.waiting},
        {"pyagent_requests_rejected_total", "counter",
         "Requests refused with 429 (concurrency or agent limit).", (double)c.rejected},
        {"pyagent_client_disconnects_total", "counter",
         "Generations cancelled because the client went away.", (double)c.disconnected},
        {"pyagent_request_timeouts_total", "counter",
         "Generations cut at the request timeout.", (double)c.timed_out},
        {"pyagent_spec_draft_tokens_total", "counter",
         "Speculative draft tokens verified.", (double)c.drafted_tokens},
        {"pyagent_spec_accepted_tokens_total", "counter",
         "Speculative draft tokens accepted.", (double)c.accepted_tokens},
        {"pyagent_spec_verify_steps_total", "counter",
         "Steps that verified a draft tree.", (double)c.verify_steps},
        {"pyagent_spec_acceptance_ratio", "gauge",
         "Accepted over verified draft tokens since the start.",
         c.drafted_tokens ? (double)c.accepted_tokens / (double)c.drafted_tokens : 0},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        header(out, plain[i].name, plain[i].type, plain[i].help);
        sb_printf(out, "%s %.10g\n", plain[i].name, plain[i].value);
    }
    histogram(out, "pyagent_time_to_first_token_seconds",
              "From the request to its first generated token.", &c.ttft);
    histogram(out, "pyagent_request_duration_seconds", "Whole generations.", &c.duration);

    pyagent_kv_stats kv = {.struct_size = sizeof kv};
    if (pyagent_kv_store_stats_get(pyagent_engine_kv_store(srv->engine), &kv) == PYAGENT_OK) {
        header(out, "pyagent_kv_blocks", "gauge", "KV blocks by state.");
        sb_printf(out,
                  "pyagent_kv_blocks{state=\"used\"} %" PRId64 "\n"
                  "pyagent_kv_blocks{state=\"cached\"} %" PRId64 "\n"
                  "pyagent_kv_blocks{state=\"free\"} %" PRId64 "\n",
                  kv.n_used, kv.n_cached, kv.n_free);
        const int64_t hit_base = kv.n_prefix_hit_tokens + kv.n_prompt_tokens_computed;
        const struct {
            const char *name, *type, *help;
            double value;
        } kvs[] = {
            {"pyagent_kv_blocks_total", "gauge", "KV blocks in the pool.", (double)kv.n_blocks},
            {"pyagent_kv_block_size_tokens", "gauge", "Tokens per KV block.",
             (double)kv.block_size},
            {"pyagent_kv_block_bytes", "gauge", "Bytes of one KV block (all layers).",
             (double)kv.block_bytes},
            {"pyagent_kv_usage_ratio", "gauge", "Fraction of blocks used by agents.",
             kv.n_blocks ? (double)kv.n_used / kv.n_blocks : 0},
            {"pyagent_kv_prefix_hit_tokens_total", "counter",
             "Prompt tokens attached from the prefix cache.", (double)kv.n_prefix_hit_tokens},
            {"pyagent_kv_prompt_tokens_computed_total", "counter",
             "Prompt tokens that went through prefill.", (double)kv.n_prompt_tokens_computed},
            {"pyagent_kv_prefix_hit_ratio", "gauge",
             "Prefix-cache hits over all prompt tokens since the start.",
             hit_base ? (double)kv.n_prefix_hit_tokens / hit_base : 0},
            {"pyagent_kv_evictions_total", "counter", "Cached blocks evicted.",
             (double)kv.n_evictions},
            {"pyagent_kv_cow_copies_total", "counter", "Shared blocks copied before a write.",
             (double)kv.n_cow_copies},
            {"pyagent_kv_peak_used_bytes", "gauge", "Most bytes referenced by agents at once.",
             (double)kv.peak_used_bytes},
        };
        for (size_t i = 0; i < sizeof kvs / sizeof kvs[0]; i++) {
            header(out, kvs[i].name, kvs[i].type, kvs[i].help);
            sb_printf(out, "%s %.10g\n", kvs[i].name, kvs[i].value);
        }
    }

    int64_t n_persistent = 0, n_request = 0;
    srv_agents_visit(srv, -2, count_agent, &n_persistent);
    srv_jobs_visit(srv, count_request_agent, &n_request);
    header(out, "pyagent_agents", "gauge",
           "Live agents: persistent (/v1/agents) and those of running requests.");
    sb_printf(out, "pyagent_agents{kind=\"persistent\"} %" PRId64 "\n", n_persistent);
    sb_printf(out, "pyagent_agents{kind=\"request\"} %" PRId64 "\n", n_request);
    const struct {
        const char *name, *help;
    } per_agent[] = {
        {"pyagent_agent_prompt_tokens_total", "Prompt tokens computed, per persistent agent."},
        {"pyagent_agent_generated_tokens_total", "Tokens generated, per persistent agent."},
        {"pyagent_agent_cached_tokens_total",
         "Prompt tokens attached from the prefix cache, per persistent agent."},
        {"pyagent_agent_requests_total", "Generations served, per persistent agent."},
    };
    for (int i = 0; i < 4; i++) {
        header(out, per_agent[i].name, "counter", per_agent[i].help);
        agent_lines lines = {.out = out, .metric = per_agent[i].name, .what = i};
        srv_agents_visit(srv, -2, agent_line, &lines);
    }
}

enum MHD_Result srv_handle_metrics(srv_call *c, const char *rest) {
    (void)rest;
    strbuf out = {0};
    srv_metrics_render(c->srv, &out);
    const size_t len = out.len;
    return srv_reply_bytes(c, 200, "text/plain; version=0.0.4; charset=utf-8", sb_take(&out),
                           len);
}

/* ---------------------------------------------------------------------------------------------
 * JSON for the dashboard
 * ------------------------------------------------------------------------------------------- */

/* The q-quantile of a histogram, interpolated inside its bucket (0 when empty). */
static double quantile(const srv_histogram *h, double q) {
    if (!h->count) return 0;
    const double rank = q * (double)h->count;
    uint64_t below = 0;
    for (size_t i = 0; i <= SRV_HIST_BUCKETS; i++) {
        if ((double)(below + h->counts[i]) >= rank && h->counts[i]) {
            const double lo = i ? HIST_BOUNDS[i - 1] : 0;
            const double hi = i < SRV_HIST_BUCKETS ? HIST_BOUNDS[i] : lo * 2;
            return lo + (hi - lo) * (rank - (double)below) / (double)h->counts[i];
        }
        below += h->counts[i];
    }
    return HIST_BOUNDS[SRV_HIST_BUCKETS - 1];
}

static json_t *histogram_json(const srv_histogram *h) {
    return json_pack("{s:I, s:f, s:f, s:f}", "count", (json_int_t)h->count, "sum", h->sum, "p50",
                     quantile(h, 0.5), "p99", quantile(h, 0.99));
}

static void agent_json(void *ctx, srv_agent *a) {
    json_t *list = ctx;
    pyagent_agent_stats s = {.struct_size = sizeof s};
    pyagent_agent_stats_get(a->agent, &s);
    const char *agent_id = pyagent_agent_get_label(a->agent, "agent_id");
    const char *session_id = pyagent_agent_get_label(a->agent, "session_id");
    json_array_append_new(
        list, json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I}", "id", a->id, "agent_id",
                        agent_id ? agent_id : "", "session_id", session_id ? session_id : "",
                        "parent", a->parent, "generating", atomic_load(&a->generating),
                        "prompt_tokens", (json_int_t)s.n_prompt_tokens, "generated_tokens",
                        (json_int_t)s.n_generated_tokens, "cached_tokens",
                        (json_int_t)s.n_cached_tokens, "requests",
                        (json_int_t)atomic_load(&a->n_requests)));
}

typedef struct job_list {
    json_t *list;
    int key_index;
} job_list;

static void job_json(void *ctx, const srv_job_info *info) {
    job_list *l = ctx;
    if (info->key_index != l->key_index) return;
    json_array_append_new(
        l->list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:f, s:I, s:I}", "id", info->id, "agent",
                       info->agent, "session_id", info->session_id, "agent_id", info->agent_id,
                       "kind", info->kind, "stream", info->stream, "age_s", info->age_s,
                       "prompt_tokens", (json_int_t)info->prompt_tokens, "generated_tokens",
                       (json_int_t)info->generated_tokens));
}

json_t *srv_metrics_json(server *srv, int key_index) {
    srv_metrics *m = &srv->metrics;
    const double tps = srv_metrics_tokens_per_second(m);
    pthread_mutex_lock(&m->lock);
    const srv_counters c = m->c;
    pthread_mutex_unlock(&m->lock);

    json_t *requests = json_object(), *responses = json_object(), *finish = json_object();
    for (int i = 0; i < SRV_EP_COUNT; i++)
        json_object_set_new(requests, ENDPOINT_NAMES[i], json_integer((json_int_t)c.requests[i]));
    for (int i = 0; i <= SRV_N_STATUS; i++) {
        char code[16];
        snprintf(code, sizeof code, "%u", i < SRV_N_STATUS ? STATUS_CODES[i] : 0);
        json_object_set_new(responses, i < SRV_N_STATUS ? code : "other",
                            json_integer((json_int_t)c.responses[i]));
    }
    for (int i = 0; i < 6; i++)
        json_object_set_new(finish, FINISH_NAMES[i], json_integer((json_int_t)c.finish[i]));
    json_t *stats = json_pack(
        "{s:I, s:I, s:s, s:o, s:o, s:o, s:{s:I, s:I, s:I}, s:{s:f, s:f}, s:f, s:I, s:I, s:I, "
        "s:I, s:I, s:o, s:o, s:{s:I, s:I, s:I}}",
        "time", (json_int_t)srv_unix_time(), "uptime_s",
        (json_int_t)(srv_unix_time() - srv->started_at), "model", srv->model_id, "requests",
        requests, "responses", responses, "finish", finish, "tokens", "prompt",
        (json_int_t)c.prompt_tokens, "cached", (json_int_t)c.cached_tokens, "generated",
        (json_int_t)c.generated_tokens, "seconds", "prompt", c.prompt_seconds, "generation",
        c.generation_seconds, "tokens_per_second", tps, "processing", (json_int_t)c.processing,
        "waiting", (json_int_t)c.waiting, "rejected", (json_int_t)c.rejected, "disconnected",
        (json_int_t)c.disconnected, "timed_out", (json_int_t)c.timed_out, "ttft",
        histogram_json(&c.ttft), "duration", histogram_json(&c.duration), "spec", "drafted",
        (json_int_t)c.drafted_tokens, "accepted", (json_int_t)c.accepted_tokens, "verify_steps",
        (json_int_t)c.verify_steps);
    if (!stats) return NULL;

    pyagent_kv_stats kv = {.struct_size = sizeof kv};
    if (pyagent_kv_store_stats_get(pyagent_engine_kv_store(srv->engine), &kv) == PYAGENT_OK) {
        const int64_t hit_base = kv.n_prefix_hit_tokens + kv.n_prompt_tokens_computed;
        json_object_set_new(
            stats, "kv",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I}",
                      "block_size", (json_int_t)kv.block_size, "block_bytes",
                      (json_int_t)kv.block_bytes, "blocks", (json_int_t)kv.n_blocks, "used",
                      (json_int_t)kv.n_used, "cached", (json_int_t)kv.n_cached, "free",
                      (json_int_t)kv.n_free, "prefix_hit_tokens",
                      (json_int_t)kv.n_prefix_hit_tokens, "prompt_tokens_computed",
                      (json_int_t)kv.n_prompt_tokens_computed, "prefix_hit_ratio",
                      hit_base ? (double)kv.n_prefix_hit_tokens / hit_base : 0.0, "evictions",
                      (json_int_t)kv.n_evictions, "cow_copies", (json_int_t)kv.n_cow_copies,
                      "peak_used_bytes", (json_int_t)kv.peak_used_bytes));
    }
    json_t *agents = json_array();
    job_list running = {.list = json_array(), .key_index = key_index};
    srv_agents_visit(srv, key_index, agent_json, agents);
    srv_jobs_visit(srv, job_json, &running);
    json_object_set_new(stats, "agents", agents);
    json_object_set_new(stats, "running", running.list);
    return stats;
}

enum MHD_Result srv_handle_stats(srv_call *c, const char *rest) {
    (void)rest;
    return srv_reply_json(c, 200, srv_metrics_json(c->srv, c->key_index));
}
