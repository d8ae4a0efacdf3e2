/*
 * The dashboard's live feed (see events.h): a ring of JSON texts under one lock, a condition
 * variable that wakes waiting readers.
 */
#include "events.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void srv_events_init(srv_events *ev) {
    memset(ev, 0, sizeof *ev);
    pthread_mutex_init(&ev->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ev->published, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&ev->n_subscribers, 0);
}

void srv_events_destroy(srv_events *ev) {
    for (size_t i = 0; i < SRV_EVENTS_CAP; i++) free(ev->ring[i]);
    pthread_cond_destroy(&ev->published);
    pthread_mutex_destroy(&ev->lock);
}

bool srv_events_wanted(srv_events *ev) { return atomic_load(&ev->n_subscribers) > 0; }

void srv_events_publish(srv_events *ev, int key_index, char *json) {
    if (!json) return;
    pthread_mutex_lock(&ev->lock);
    char **slot = &ev->ring[ev->next % SRV_EVENTS_CAP];
    free(*slot);
    *slot = json;
    ev->key[ev->next % SRV_EVENTS_CAP] = key_index;
    ev->next++;
    pthread_cond_broadcast(&ev->published);
    pthread_mutex_unlock(&ev->lock);
}

void srv_events_close(srv_events *ev) {
    pthread_mutex_lock(&ev->lock);
    ev->closed = true;
    pthread_cond_broadcast(&ev->published);
    pthread_mutex_unlock(&ev->lock);
}

uint64_t srv_events_position(srv_events *ev) {
    pthread_mutex_lock(&ev->lock);
    uint64_t next = ev->next;
    pthread_mutex_unlock(&ev->lock);
    return next;
}

int srv_events_read(srv_events *ev, int key_index, uint64_t *next, strbuf *out,
                    size_t max_bytes, double timeout_s) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    long long ns = until.tv_nsec + (long long)(timeout_s * 1e9);
    until.tv_sec += (time_t)(ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);

    pthread_mutex_lock(&ev->lock);
    while (!ev->closed && *next == ev->next) {
        if (pthread_cond_timedwait(&ev->published, &ev->lock, &until) == ETIMEDOUT) break;
    }
    if (ev->closed) {
        pthread_mutex_unlock(&ev->lock);
        return -1;
    }
    int n = 0;
    if (ev->next - *next > SRV_EVENTS_CAP) { /* fell behind: skip what was overwritten */
        sb_printf(out, "data: {\"type\":\"missed\",\"count\":%llu}\n\n",
                  (unsigned long long)(ev->next - SRV_EVENTS_CAP - *next));
        *next = ev->next - SRV_EVENTS_CAP;
        n++;
    }
    while (*next < ev->next && out->len < max_bytes) {
        const size_t slot = *next % SRV_EVENTS_CAP;
        if (ev->key[slot] == key_index) {
            sb_puts(out, "data: ");
            sb_puts(out, ev->ring[slot]);
            sb_puts(out, "\n\n");
        }
        (*next)++;
        n++;
    }
    pthread_mutex_unlock(&ev->lock);
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * GET /v1/events
 * ------------------------------------------------------------------------------------------- */

#include <poll.h>

#include "handlers.h"

typedef struct subscriber {
    server *srv;
    uint64_t next;    /* the next event to send */
    int key_index;    /* the API key whose events it gets */
    strbuf out;       /* bytes not yet sent */
    int client_fd;
    double last_sent; /* srv_now() */
} subscriber;

static ssize_t feed_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    subscriber *s = cls;
    while (s->out.len == 0) {
        const int n = srv_events_read(&s->srv->events, s->key_index, &s->next, &s->out,
                                      64 * 1024, 0.25);
        if (n < 0 || atomic_load(&s->srv->stopping)) return MHD_CONTENT_READER_END_OF_STREAM;
        if (s->out.len > 0) break;
        if (srv_client_gone(s->client_fd)) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (srv_now() - s->last_sent >= s->srv->cfg.sse_ping_s) sb_puts(&s->out, ": ping\n\n");
    }
    if (s->out.failed) return MHD_CONTENT_READER_END_WITH_ERROR;
    const size_t n = s->out.len < max ? s->out.len : max;
    memcpy(buf, s->out.data, n);
    sb_consume(&s->out, n);
    s->last_sent = srv_now();
    return (ssize_t)n;
}

static void feed_free(void *cls) {
    subscriber *s = cls;
    atomic_fetch_sub(&s->srv->events.n_subscribers, 1);
    sb_free(&s->out);
    free(s);
}

enum MHD_Result srv_handle_events(srv_call *c, const char *rest) {
    (void)rest;
    subscriber *s = calloc(1, sizeof *s);
    if (!s) return srv_reply_json(c, 500, NULL);
    s->srv = c->srv;
    s->client_fd = c->client_fd;
    s->key_index = c->key_index;
    s->last_sent = srv_now();
    atomic_fetch_add(&c->srv->events.n_subscribers, 1);
    s->next = srv_events_position(&c->srv->events);
    sb_puts(&s->out, ": pyagent-server events\n\n"); /* sends the headers at once */
    return srv_reply_stream(c, feed_read, s, feed_free);
}
