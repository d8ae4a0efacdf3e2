/*
 * HTTP for pyagent-server (see http.h): the libmicrohttpd daemon, the per-connection request
 * context, API keys, the route table, reply helpers and the dashboard's static files.
 *
 * libmicrohttpd calls on_request several times per request: first with the headers only (the
 * API key and the announced body size are checked there, so a refused request is answered
 * before its body is read), then with pieces of the body, then once more with none, when the
 * route's handler runs.
 */
#define _GNU_SOURCE /* POLLRDHUP */

#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handlers.h"

/* ---------------------------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------------------------- */

static enum MHD_Result queue(srv_call *c, unsigned status, struct MHD_Response *response) {
    if (!response) return MHD_NO;
    enum MHD_Result r = MHD_queue_response(c->conn, status, response);
    MHD_destroy_response(response);
    srv_metrics_response(&c->srv->metrics, status);
    return r;
}

enum MHD_Result srv_reply_bytes(srv_call *c, unsigned status, const char *content_type,
                                char *data, size_t len) {
    if (!data) {
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":"
                                  "\"server_error\",\"param\":null,\"code\":null}}";
        struct MHD_Response *r = MHD_create_response_from_buffer(
            sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        if (r) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        return queue(c, 500, r);
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return queue(c, status, r);
}

enum MHD_Result srv_reply_json(srv_call *c, unsigned status, json_t *body) {
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return srv_reply_bytes(c, status, "application/json", text, text ? strlen(text) : 0);
}

static json_t *string_or_null(const char *s) { return *s ? json_string(s) : json_null(); }

enum MHD_Result srv_reply_error(srv_call *c, const srv_error *err) {
    json_t *detail = json_object();
    json_object_set_new(detail, "message", json_string(err->message));
    json_object_set_new(detail, "type", json_string(err->type));
    json_object_set_new(detail, "param", string_or_null(err->param));
    json_object_set_new(detail, "code", string_or_null(err->code));
    json_t *body = json_object();
    json_object_set_new(body, "error", detail);
    return srv_reply_json(c, (unsigned)err->http_status, body);
}

enum MHD_Result srv_reply_stream(srv_call *c, MHD_ContentReaderCallback reader, void *cls,
                                 MHD_ContentReaderFreeCallback free_cb) {
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, reader, cls, free_cb);
    if (!r) {
        free_cb(cls);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return queue(c, 200, r);
}

const char *srv_query(srv_call *c, const char *key) {
    return MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, key);
}

bool srv_client_gone(int client_fd) {
    if (client_fd < 0) return false;
    struct pollfd p = {.fd = client_fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static enum MHD_Result reply_simple_error(srv_call *c, int status, const char *type,
                                          const char *code, const char *message) {
    srv_error err;
    srv_fail(&err, status, type, code, NULL, "%s", message);
    return srv_reply_error(c, &err);
}

/* ---------------------------------------------------------------------------------------------
 * API keys
 * ------------------------------------------------------------------------------------------- */

/* Compares in time that depends on the key's length only, not on where `given` differs. */
static bool key_equals(const char *given, size_t given_len, const char *key) {
    const size_t key_len = strlen(key);
    unsigned char diff = given_len != key_len;
    for (size_t i = 0; i < key_len; i++)
        diff |= (unsigned char)(key[i] ^ (i < given_len ? given[i] : 0));
    return diff == 0;
}

/* The index of the key in "Authorization: Bearer KEY", -1 when keys are off; false when the
 * header is missing or no key matches. Every key is compared, whatever matched. */
static bool authorize(server *srv, struct MHD_Connection *conn, int *key_index) {
    *key_index = -1;
    if (srv->cfg.n_api_keys == 0) return true;
    const char *header =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!header || strncasecmp(header, "Bearer ", 7) != 0) return false;
    const char *given = header + 7;
    while (*given == ' ') given++;
    const size_t given_len = strlen(given);
    for (size_t i = 0; i < srv->cfg.n_api_keys; i++)
        if (key_equals(given, given_len, srv->cfg.api_keys[i])) *key_index = (int)i;
    return *key_index >= 0;
}

/* ---------------------------------------------------------------------------------------------
 * Static files: the dashboard
 * ------------------------------------------------------------------------------------------- */

/* The dashboard's libraries, by the name the page asks for, from node_modules (npm ci). */
static const struct {
    const char *name;
    const char *path; /* under vendor_dir */
} VENDOR_FILES[] = {
    {"uPlot.iife.min.js", "uplot/dist/uPlot.iife.min.js"},
    {"uPlot.min.css", "uplot/dist/uPlot.min.css"},
    {"cytoscape.min.js", "cytoscape/dist/cytoscape.min.js"},
    {"drawflow.min.js", "drawflow/dist/drawflow.min.js"},
    {"drawflow.min.css", "drawflow/dist/drawflow.min.css"},
};

static const char *content_type_of(const char *name) {
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
        {".png", "image/png"},                 {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

/* A plain file name: letters, digits, '.', '-', '_', not starting with '.'. */
static bool is_plain_name(const char *name) {
    if (!*name || *name == '.' || strlen(name) > 128) return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == '_'))
            return false;
    return true;
}

static enum MHD_Result serve_file(srv_call *c, const char *path, const char *name) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        return reply_simple_error(c, 404, "invalid_request_error", "not_found",
                                  "no such file");
    }
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type_of(name));
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return queue(c, 200, r);
}

static enum MHD_Result serve_static(srv_call *c) {
    char path[8192];
    const char *name = c->path + 1;
    if (strcmp(c->path, "/") == 0) name = "index.html";
    if (strncmp(c->path, "/vendor/", 8) == 0) {
        for (size_t i = 0; i < sizeof VENDOR_FILES / sizeof VENDOR_FILES[0]; i++) {
            if (strcmp(c->path + 8, VENDOR_FILES[i].name) == 0) {
                snprintf(path, sizeof path, "%s/%s", c->srv->cfg.vendor_dir,
                         VENDOR_FILES[i].path);
                return serve_file(c, path, VENDOR_FILES[i].name);
            }
        }
    } else if (is_plain_name(name)) {
        snprintf(path, sizeof path, "%s/%s", c->srv->cfg.web_dir, name);
        return serve_file(c, path, name);
    }
    return reply_simple_error(c, 404, "invalid_request_error", "not_found", "no such file");
}

/* ---------------------------------------------------------------------------------------------
 * Routes
 * ------------------------------------------------------------------------------------------- */

typedef struct route {
    const char *method; /* NULL: the handler takes every method */
    const char *path;
    bool prefix;        /* path is a prefix; the handler gets the rest */
    bool auth;          /* needs the API key */
    srv_endpoint endpoint;
    enum MHD_Result (*handler)(srv_call *c, const char *rest);
} route;

static const route ROUTES[] = {
    {"GET", "/health", false, false, SRV_EP_HEALTH, srv_handle_health},
    {"GET", "/v1/models", false, true, SRV_EP_MODELS, srv_handle_models},
    {"GET", "/v1/models/", true, true, SRV_EP_MODELS, srv_handle_models},
    {"POST", "/v1/chat/completions", false, true, SRV_EP_CHAT, srv_handle_chat},
    {"POST", "/v1/completions", false, true, SRV_EP_COMPLETIONS, srv_handle_completions},
    {"POST", "/v1/embeddings", false, true, SRV_EP_OTHER, srv_handle_embeddings},
    {"GET", "/metrics", false, true, SRV_EP_METRICS, srv_handle_metrics},
    {"GET", "/v1/stats", false, true, SRV_EP_METRICS, srv_handle_stats},
    {"GET", "/v1/events", false, true, SRV_EP_EVENTS, srv_handle_events},
    {"GET", "/v1/model/layout", false, true, SRV_EP_MODELS, srv_handle_model_layout},
    {"GET", "/v1/kv/tree", false, true, SRV_EP_METRICS, srv_handle_kv_tree},
    {"POST", "/tokenize", false, true, SRV_EP_OTHER, srv_handle_tokenize},
    {"POST", "/detokenize", false, true, SRV_EP_OTHER, srv_handle_detokenize},
    {NULL, "/v1/agents", false, true, SRV_EP_AGENTS, srv_handle_agents},
    {NULL, "/v1/agents/", true, true, SRV_EP_AGENTS, srv_handle_agents},
    {NULL, "/v1/registry/", true, true, SRV_EP_REGISTRY, srv_handle_registry},
};

#define N_ROUTES (sizeof ROUTES / sizeof ROUTES[0])

static bool path_matches(const route *r, const char *path) {
    return r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 : strcmp(path, r->path) == 0;
}

/* The route for method and path; *wrong_method when only the method does not match. NULL for
 * the dashboard's files (GET outside /v1/) and for unknown paths. */
static const route *find_route(const char *method, const char *path, bool *wrong_method) {
    *wrong_method = false;
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (!path_matches(&ROUTES[i], path)) continue;
        if (!ROUTES[i].method || strcmp(ROUTES[i].method, method) == 0) return &ROUTES[i];
        *wrong_method = true;
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------------------------- */

typedef struct conn_ctx {
    strbuf body;
    bool answered;   /* a response was queued before the body was read (401, 413) */
    bool too_large;  /* the body passed max_body_bytes */
    int key_index;
} conn_ctx;

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)conn, (void)toe;
    conn_ctx *ctx = *con_cls;
    if (!ctx) return;
    sb_free(&ctx->body);
    free(ctx);
    *con_cls = NULL;
}

/* Paths of the API (JSON, behind the key); everything else is the dashboard's files. */
static bool is_api_path(const char *path) {
    static const char *const exact[] = {"/v1", "/metrics", "/health", "/tokenize",
                                        "/detokenize"};
    if (strncmp(path, "/v1/", 4) == 0) return true;
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(path, exact[i]) == 0) return true;
    return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls) {
    (void)version;
    server *srv = cls;
    conn_ctx *ctx = *con_cls;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    srv_call call = {
        .srv = srv,
        .conn = conn,
        .method = method,
        .path = url,
        .body = "",
        .body_len = 0,
        .key_index = -1,
        .client_fd = info ? info->connect_fd : -1,
    };
    bool wrong_method = false;
    const route *r = find_route(method, url, &wrong_method);

    if (!ctx) { /* the headers: check what can be checked before reading a body */
        if (!(ctx = calloc(1, sizeof *ctx))) return MHD_NO;
        *con_cls = ctx;
        srv_metrics_request(&srv->metrics, r ? r->endpoint
                                           : is_api_path(url) ? SRV_EP_OTHER
                                                              : SRV_EP_DASHBOARD);
        if ((!r || r->auth) && is_api_path(url) && !authorize(srv, conn, &ctx->key_index)) {
            ctx->answered = true;
            return reply_simple_error(&call, 401, "invalid_request_error", "invalid_api_key",
                                      "Incorrect or missing API key: send the header "
                                      "'Authorization: Bearer KEY'.");
        }
        const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > srv->cfg.max_body_bytes) {
            ctx->answered = true;
            char message[128];
            snprintf(message, sizeof message, "the request body is larger than %zu bytes",
                     srv->cfg.max_body_bytes);
            return reply_simple_error(&call, 413, "invalid_request_error", "body_too_large",
                                      message);
        }
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        if (!ctx->answered && !ctx->too_large) {
            if (ctx->body.len + *upload_size > srv->cfg.max_body_bytes) {
                ctx->too_large = true;
                sb_free(&ctx->body);
            } else {
                sb_append(&ctx->body, upload_data, *upload_size);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (ctx->answered) return MHD_YES;
    call.key_index = ctx->key_index;
    if (ctx->too_large) {
        char message[128];
        snprintf(message, sizeof message, "the request body is larger than %zu bytes",
                 srv->cfg.max_body_bytes);
        return reply_simple_error(&call, 413, "invalid_request_error", "body_too_large",
                                  message);
    }
    if (ctx->body.failed)
        return reply_simple_error(&call, 500, "server_error", NULL, "out of memory");
    if (ctx->body.data) {
        call.body = ctx->body.data;
        call.body_len = ctx->body.len;
    }
    if (r) return r->handler(&call, r->prefix ? url + strlen(r->path) : "");
    if (wrong_method)
        return reply_simple_error(&call, 405, "invalid_request_error", "method_not_allowed",
                                  "this method is not allowed on this path");
    if (!is_api_path(url) && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0))
        return serve_static(&call);
    return reply_simple_error(&call, 404, "invalid_request_error", "not_found",
                              "no such endpoint");
}

/* ---------------------------------------------------------------------------------------------
 * The daemon
 * ------------------------------------------------------------------------------------------- */

static void log_mhd(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    fputs("pyagent-server: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

struct MHD_Daemon *srv_http_start(server *srv, unsigned *port, char *err, size_t err_cap) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *addr = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", srv->cfg.port);
    int gai = getaddrinfo(srv->cfg.host, service, &hints, &addr);
    if (gai != 0) {
        snprintf(err, err_cap, "--host %s: %s", srv->cfg.host, gai_strerror(gai));
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (addr->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)srv->cfg.port, NULL, NULL, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
        MHD_OPTION_SOCK_ADDR, addr->ai_addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)srv->cfg.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, srv->cfg.idle_timeout_s,
        MHD_OPTION_END);
    freeaddrinfo(addr);
    if (!d) {
        snprintf(err, err_cap, "cannot listen on %s port %d: %s", srv->cfg.host, srv->cfg.port,
                 errno ? strerror(errno) : "libmicrohttpd refused to start");
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : (unsigned)srv->cfg.port;
    return d;
}
