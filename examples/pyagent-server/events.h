/*
 * The dashboard's live feed (GET /v1/events, Server-Sent Events): every generation's start, its
 * tokens and its end, and agent changes, as small JSON objects.
 *
 * Events go into a ring of SRV_EVENTS_CAP entries numbered by a sequence; each subscriber keeps
 * the number of the next event it wants, so a publisher never waits for a subscriber: one that
 * falls more than the ring behind skips ahead (and is told how many it missed). Nothing is
 * recorded while nobody subscribes, so the feed costs nothing to a server without a dashboard.
 */
#ifndef PYAGENT_SERVER_EVENTS_H
#define PYAGENT_SERVER_EVENTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"

#define SRV_EVENTS_CAP 4096

typedef struct srv_events {
    pthread_mutex_t lock;
    pthread_cond_t published;
    char *ring[SRV_EVENTS_CAP]; /* event n is ring[n % CAP] while n >= next - CAP */
    int key[SRV_EVENTS_CAP];    /* the API key allowed to see it (-1 without keys) */
    uint64_t next;              /* number of the next event */
    bool closed;                /* the server is stopping */
    atomic_int n_subscribers;
} srv_events;

void srv_events_init(srv_events *ev);
void srv_events_destroy(srv_events *ev);
/* True when someone listens (publishers build no JSON otherwise). */
bool srv_events_wanted(srv_events *ev);
/* Publishes `json` (a JSON object's text; ownership passes to the ring) to the subscribers of
 * API key `key_index` (-1 without keys). */
void srv_events_publish(srv_events *ev, int key_index, char *json);
/* Wakes every reader; later reads return -1. */
void srv_events_close(srv_events *ev);

/* Appends the events of API key `key_index` from *next on to `out` as SSE "data:" lines (at
 * most `max_bytes` of them), waiting up to `timeout_s` for one to arrive. Returns the number
 * of events looked at (0 on timeout), or -1 once the feed is closed. */
int srv_events_read(srv_events *ev, int key_index, uint64_t *next, strbuf *out,
                    size_t max_bytes, double timeout_s);
/* The number of the next event to be published (a new subscriber starts there). */
uint64_t srv_events_position(srv_events *ev);

#endif
