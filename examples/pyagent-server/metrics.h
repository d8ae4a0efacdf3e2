/*
 * Request counters, latency histograms and a tokens-per-second window; rendered with the KV
 * store's and the agents' statistics as Prometheus text (/metrics) and as JSON for the
 * dashboard (/v1/stats). Names follow Prometheus conventions: counters end in _total, times
 * are in seconds.
 */
#ifndef PYAGENT_SERVER_METRICS_H
#define PYAGENT_SERVER_METRICS_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "strbuf.h"

typedef enum srv_endpoint {
    SRV_EP_CHAT,
    SRV_EP_COMPLETIONS,
    SRV_EP_MODELS,
    SRV_EP_HEALTH,
    SRV_EP_METRICS,
    SRV_EP_AGENTS,
    SRV_EP_REGISTRY,
    SRV_EP_EVENTS,
    SRV_EP_DASHBOARD,
    SRV_EP_OTHER,
    SRV_EP_COUNT
} srv_endpoint;

#define SRV_HIST_BUCKETS 15 /* finite upper bounds; the last bucket is +Inf */
#define SRV_TPS_WINDOW 10   /* seconds over which tokens/s is averaged */
#define SRV_N_STATUS 12     /* HTTP statuses counted one by one; the rest as "other" */

typedef struct srv_histogram {
    uint64_t counts[SRV_HIST_BUCKETS + 1]; /* not cumulative; rendered cumulative */
    double sum;
    uint64_t count;
} srv_histogram;

/* The figures, copied out whole under the lock for a consistent view. */
typedef struct srv_counters {
    uint64_t requests[SRV_EP_COUNT];
    uint64_t responses[SRV_N_STATUS + 1];
    uint64_t prompt_tokens;      /* tokens fed by requests */
    uint64_t cached_tokens;      /* of them, attached from the prefix cache */
    uint64_t generated_tokens;
    double prompt_seconds;
    double generation_seconds;
    uint64_t generations;        /* finished generations */
    uint64_t finish[6];          /* by PYAGENT_FINISH_* (0: failed) */
    uint64_t rejected;           /* 429: over the concurrency or agent limit */
    uint64_t disconnected;       /* the client went away during generation */
    uint64_t timed_out;
    uint64_t drafted_tokens;     /* speculative draft nodes verified */
    uint64_t accepted_tokens;    /* of them, accepted */
    uint64_t verify_steps;
    int64_t processing;          /* generations running */
    int64_t waiting;             /* of them, before their first token */
    srv_histogram ttft;          /* time to first token */
    srv_histogram duration;      /* whole generation */
    int64_t tps_second[SRV_TPS_WINDOW]; /* the second (monotonic) each slot counts */
    uint64_t tps_tokens[SRV_TPS_WINDOW];
} srv_counters;

typedef struct srv_metrics {
    pthread_mutex_t lock;
    srv_counters c;
} srv_metrics;

void srv_metrics_init(srv_metrics *m);
void srv_metrics_destroy(srv_metrics *m);
void srv_metrics_request(srv_metrics *m, srv_endpoint endpoint);
void srv_metrics_response(srv_metrics *m, unsigned status);
void srv_metrics_rejected(srv_metrics *m);
/* A generation was admitted / produced its first token. */
void srv_metrics_started(srv_metrics *m);
void srv_metrics_first_token(srv_metrics *m, double ttft_s);
/* One generated token (for the tokens/s window). */
void srv_metrics_token(srv_metrics *m);

typedef struct srv_generation_figures {
    int64_t prompt_tokens, cached_tokens, generated_tokens;
    double prompt_s, generation_s, duration_s;
    int64_t drafted_tokens, accepted_tokens, verify_steps; /* speculative decoding */
    int32_t finish;              /* PYAGENT_FINISH_*, 0 if it failed */
    bool got_first_token;
    bool disconnected, timed_out;
} srv_generation_figures;

void srv_metrics_finished(srv_metrics *m, const srv_generation_figures *f);

/* Generated tokens per second over the last SRV_TPS_WINDOW seconds. */
double srv_metrics_tokens_per_second(srv_metrics *m);

struct server;
/* Prometheus text format 0.0.4 of everything the server knows. */
void srv_metrics_render(struct server *srv, strbuf *out);
/* The same figures as JSON, for the dashboard; the agents and running requests listed are those
 * of API key `key_index` (-1 without keys). */
json_t *srv_metrics_json(struct server *srv, int key_index);

#endif
