/*
 * Persistent agents (/v1/agents): agents that outlive a request, so that a conversation keeps
 * its KV cache between turns, forks share a prefix, and the dashboard can show them.
 *
 * An srv_agent is found by id with srv_agent_find, which takes a reference; a request that
 * uses it also takes it for use (one request at a time, 409 otherwise). DELETE unlinks
 * it at once and cancels a running generation; the library agent is destroyed when the last
 * reference is put back.
 */
#ifndef PYAGENT_SERVER_AGENTS_H
#define PYAGENT_SERVER_AGENTS_H

#include "request.h"
#include "server.h"

struct srv_agent {
    srv_agent *prev, *next;    /* server->agents, newest first */
    char id[32];               /* "agent-N" */
    pyagent_agent *agent;
    int owner;                 /* API key index; -1 without keys */
    int64_t created;           /* Unix seconds */
    char parent[32];           /* id of the agent it was forked from, or "" */
    srv_sampling sampling;     /* its own sampler settings (over the server's defaults) */
    atomic_bool in_use;        /* taken by the request that uses the agent (srv_agent_try_use);
                                  a flag, not a mutex: a streaming turn takes it on the
                                  connection's thread and gives it back on its own thread */
    atomic_bool generating;
    atomic_uint_fast64_t n_requests; /* generations served */
    int refs;                  /* under server->agents_lock */
    atomic_bool deleted;       /* unlinked (written under agents_lock; a turn reads it at
                                  every token); destroyed when refs drops to 0 */
};

/* The agent `id` visible to API key `owner` with a reference taken, or NULL. */
srv_agent *srv_agent_find(server *srv, const char *id, int owner);
/* Puts back a reference. */
void srv_agent_put(server *srv, srv_agent *a);
/* Takes `a` for one request (false: another request has it); srv_agent_end_use gives it
 * back, from any thread. */
bool srv_agent_try_use(srv_agent *a);
void srv_agent_end_use(srv_agent *a);
/* Ends a generation on `a`: gives back its use and the reference. */
void srv_agent_release(server *srv, srv_agent *a);

/* Calls `visit` for every agent (owner -2 = all, else only that key's) under the agents lock;
 * `visit` must not call back into the agents. */
void srv_agents_visit(server *srv, int owner, void (*visit)(void *ctx, srv_agent *a), void *ctx);
/* Destroys every agent (at shutdown, when no request runs). */
void srv_agents_destroy_all(server *srv);

#endif
