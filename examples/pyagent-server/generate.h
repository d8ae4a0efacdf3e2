/*
 * One generation: a request's prompt fed to an agent, tokens generated and returned as one
 * JSON response or streamed as Server-Sent Events, with OpenAI's usage and llama-server's
 * timings.
 *
 * A generation is admitted only while fewer than max_concurrent run (429 otherwise). It ends
 * early, with what it has, when the client goes away (noticed on the socket, and the agent is
 * cancelled), when it runs past the request timeout, or when the server stops.
 */
#ifndef PYAGENT_SERVER_GENERATE_H
#define PYAGENT_SERVER_GENERATE_H

#include "agents.h"
#include "http.h"

/* Serves `req` (taken: freed here) on a new agent, or on persistent agent `owner`, which the
 * caller found and locked for use; it is released when the generation ends. */
enum MHD_Result srv_generate(srv_call *c, srv_gen_request *req, srv_agent *owner);

/* Feeds `text` (or tokens) to `agent` as a prompt: with the chat template's special tokens
 * parsed when `special`, with BOS when the agent is empty. *n_fed gets the tokens queued.
 * Fails with 400 errors the client can act on. */
bool srv_feed_prompt(server *srv, pyagent_agent *agent, const char *text, bool special,
                     const int32_t *tokens, size_t n_tokens, int64_t *n_fed, srv_error *err);

/* Sampler params: the server's defaults, then `own` (an agent's), then `request` (either may be
 * NULL); NULL with a 400 in `err` for a value out of bounds. */
pyagent_params *srv_make_sampler(server *srv, const srv_sampling *own, const srv_sampling *request,
                                 srv_error *err);

/* Calls `visit` for every running generation under the jobs lock. */
typedef struct srv_job_info {
    const char *id;          /* request id */
    int key_index;           /* the API key that sent it; -1 without keys */
    const char *agent;       /* persistent agent id, or "" */
    const char *session_id, *agent_id;
    const char *kind;        /* "chat" or "completion" */
    bool stream;
    double age_s;
    int64_t prompt_tokens, generated_tokens;
} srv_job_info;
void srv_jobs_visit(server *srv, void (*visit)(void *ctx, const srv_job_info *info), void *ctx);

/* Cancels every running generation (shutdown). */
void srv_jobs_cancel_all(server *srv);

#endif
