/*
 * HTTP for pyagent-server on libmicrohttpd: one thread per connection, the request body
 * gathered up to the size limit, the API key checked, then one handler per route.
 *
 * A handler gets an srv_call and queues exactly one response through the srv_reply_* helpers
 * (which also count it in the metrics), or returns MHD_NO to drop the connection.
 */
#ifndef PYAGENT_SERVER_HTTP_H
#define PYAGENT_SERVER_HTTP_H

#include <jansson.h>
#include <microhttpd.h>

#include "request.h"
#include "server.h"

typedef struct srv_call {
    server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;     /* the URL path, without the query */
    const char *body;     /* NUL-terminated; "" when there is none */
    size_t body_len;
    int key_index;        /* the API key that authorized the call; -1 without keys */
    int client_fd;        /* the connection's socket, to notice a client that went away */
} srv_call;

/* Starts listening on cfg.host:cfg.port; *port gets the port bound. NULL on failure, with a
 * message in `err`. */
struct MHD_Daemon *srv_http_start(server *srv, unsigned *port, char *err, size_t err_cap);

/* Queues `body` (stolen; NULL = out of memory, a 500) as JSON with `status`. */
enum MHD_Result srv_reply_json(srv_call *c, unsigned status, json_t *body);
/* Queues {"error": {"message", "type", "param", "code"}} with err->http_status. */
enum MHD_Result srv_reply_error(srv_call *c, const srv_error *err);
/* Queues `data` (malloc'ed, taken; NULL = out of memory) with `content_type`. */
enum MHD_Result srv_reply_bytes(srv_call *c, unsigned status, const char *content_type,
                                char *data, size_t len);
/* Queues a text/event-stream response read from `reader` (SSE headers set). `free_cb` runs when
 * the response is done, sent or not. */
enum MHD_Result srv_reply_stream(srv_call *c, MHD_ContentReaderCallback reader, void *cls,
                                 MHD_ContentReaderFreeCallback free_cb);

/* A query-string argument, or NULL. */
const char *srv_query(srv_call *c, const char *key);

/* True when the client has closed its end of the connection (checked without waiting). */
bool srv_client_gone(int client_fd);

#endif
