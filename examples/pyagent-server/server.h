/*
 * pyagent-server: the state every part of the server shares.
 *
 * One process serves one model: an engine opened at start, its background loop running the
 * steps (pyagent_engine_start), so every request's generation batches with the others. Each
 * HTTP connection has its own thread (libmicrohttpd's thread-per-connection mode); a request
 * generates on its connection's thread, or, when it streams, on a thread of its own while the
 * connection's thread sends the events (generate.c).
 *
 * Files: main.c (flags, start, stop), http.c (routing, auth, limits, responses, static files),
 * generate.c (a generation: prompt, agent, streaming, usage and timings), openai.c
 * (/v1/chat/completions, /v1/completions, /v1/models), agents.c (/v1/agents), registry_api.c
 * (/v1/registry), metrics.c (/metrics, /v1/stats), events.c (/v1/events for the dashboard),
 * request.c (request bodies), chat_template.c.
 */
#ifndef PYAGENT_SERVER_SERVER_H
#define PYAGENT_SERVER_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pyagent/pyagent.h>

#include "chat_template.h"
#include "events.h"
#include "metrics.h"

#define SRV_MAX_API_KEYS 16

typedef struct srv_config {
    const char *model_path;
    const char *alias;           /* model id in the API; NULL = file name without .gguf */
    const char *host;            /* address to bind; "127.0.0.1" unless told otherwise */
    int port;                    /* 0 = any free port (the URL printed says which) */
    const char *api_keys[SRV_MAX_API_KEYS]; /* Bearer keys; none = no authentication */
    size_t n_api_keys;
    size_t max_body_bytes;       /* request body limit (413 above) */
    int64_t max_prompt_tokens;   /* per request (400 above); 0 = the context size */
    int64_t max_tokens;          /* most tokens one request may ask for / gets by default */
    int max_concurrent;          /* generations at once (429 above) */
    int max_agents_per_key;      /* persistent agents per API key (429 above) */
    int max_connections;         /* open HTTP connections */
    double request_timeout_s;    /* wall time of one generation; then it is cut (finish length) */
    unsigned idle_timeout_s;     /* an idle connection is closed after this */
    double sse_ping_s;           /* ": ping" comment on a quiet stream after this */
    const char *web_dir;         /* dashboard files */
    char vendor_dir[4096];       /* web_dir/node_modules: the dashboard's libraries (npm ci) */
    const char *registry_path;   /* capability registry file, or NULL */
    const char *chat_template;   /* forced template name, or NULL = detect */
    const char *kvzap_path;      /* KVzap surrogate to load, or NULL */
    int64_t host_tier_bytes;     /* host-memory KV tier, 0 = none */
    pyagent_params *engine_params;
    srv_sampling sampler_defaults; /* applied before an agent's and a request's own settings */
} srv_config;

typedef struct srv_agent srv_agent; /* agents.c */
typedef struct srv_job srv_job;     /* generate.c */

typedef struct server {
    srv_config cfg;
    pyagent_engine *engine;
    pyagent_registry *registry;  /* NULL without --registry (thread-safe) */
    srv_template chat_template;
    char model_id[128];
    int64_t n_ctx;
    int64_t started_at;          /* Unix seconds */
    atomic_bool stopping;

    srv_metrics metrics;
    srv_events events;

    pthread_mutex_t agents_lock; /* guards the agent list and each agent's refs/deleted */
    srv_agent *agents;
    uint64_t next_agent_number;

    pthread_mutex_t jobs_lock;   /* guards the list of running generations */
    srv_job *jobs;
    atomic_int n_generating;     /* admitted generations (the concurrency limit) */
    atomic_uint_fast64_t next_request_number;
} server;

/* Wall-clock seconds (CLOCK_REALTIME) and a monotonic clock in seconds. */
int64_t srv_unix_time(void);
double srv_now(void);

#endif
