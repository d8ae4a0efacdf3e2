/*
 * The capability registry over HTTP (with --registry FILE):
 *
 *   GET  /v1/registry/models        every model with its current values, as
 *                                   pyagent_registry_export writes them (LiteLLM fields plus a
 *                                   "pyagent" object with sources and check times)
 *   GET  /v1/registry/due[?now=T]   the models due for their re-check at Unix time T (now)
 *   POST /v1/registry/route         the cheapest model that meets the requirements (route
 *                                   params keys, registry.h), why, and why the others failed
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"

static enum MHD_Result registry_error(srv_call *c, pyagent_status st) {
    srv_error err;
    srv_fail(&err, st == PYAGENT_ERR_OUT_OF_MEMORY ? 503 : 500, "server_error", NULL, NULL,
             "registry: %s", pyagent_registry_last_error(c->srv->registry));
    return srv_reply_error(c, &err);
}

static enum MHD_Result list_models(srv_call *c) {
    char *json = NULL;
    size_t len = 0;
    pyagent_status st = pyagent_registry_export(c->srv->registry, NULL, 0, &json, &len);
    if (st != PYAGENT_OK) return registry_error(c, st);
    json_error_t jerr;
    json_t *models = json_loadb(json, len, 0, &jerr);
    pyagent_free(json);
    if (!models) return srv_reply_json(c, 500, NULL);
    return srv_reply_json(c, 200, json_pack("{s:s, s:o}", "object", "registry", "models", models));
}

/* A '\n'-separated name list as a JSON array. */
static json_t *names_json(const char *names) {
    json_t *list = json_array();
    for (const char *p = names; *p;) {
        const size_t n = strcspn(p, "\n");
        json_array_append_new(list, json_stringn(p, n));
        p += n + (p[n] == '\n');
    }
    return list;
}

static enum MHD_Result list_due(srv_call *c) {
    int64_t now = srv_unix_time();
    const char *arg = srv_query(c, "now");
    if (arg) {
        char *end = NULL;
        errno = 0;
        long long t = strtoll(arg, &end, 10);
        if (errno || end == arg || *end || t < 0) {
            srv_error err;
            srv_bad_request(&err, "now", "'now' must be Unix seconds");
            return srv_reply_error(c, &err);
        }
        now = t;
    }
    size_t needed = 0, count = 0;
    pyagent_status st = pyagent_registry_due(c->srv->registry, now, NULL, 0, &needed, &count);
    char *names = NULL;
    for (int tries = 0; tries < 4 && st == PYAGENT_ERR_BUFFER_TOO_SMALL; tries++) {
        free(names);
        if (!(names = malloc(needed))) return srv_reply_json(c, 500, NULL);
        st = pyagent_registry_due(c->srv->registry, now, names, needed, &needed, &count);
    }
    if (st != PYAGENT_OK) {
        free(names);
        return registry_error(c, st);
    }
    json_t *due = names_json(names ? names : "");
    free(names);
    return srv_reply_json(c, 200, json_pack("{s:I, s:o}", "now", (json_int_t)now, "due", due));
}

static json_t *number_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }

static enum MHD_Result route(srv_call *c) {
    srv_error err;
    pyagent_params *need = pyagent_params_create(PYAGENT_PARAMS_ROUTE);
    if (!need) return srv_reply_json(c, 500, NULL);
    if (!srv_parse_route_request(c->body, c->body_len, need, &err)) {
        pyagent_params_destroy(need);
        return srv_reply_error(c, &err);
    }
    pyagent_route *r = NULL;
    pyagent_status st = pyagent_registry_route(c->srv->registry, need, &r);
    pyagent_params_destroy(need);
    if (st != PYAGENT_OK && st != PYAGENT_ERR_NO_MODEL) {
        pyagent_route_destroy(r);
        return registry_error(c, st);
    }
    pyagent_route_summary s = {.struct_size = sizeof s};
    pyagent_route_summary_get(r, &s);
    json_t *rejected = json_array();
    for (size_t i = 0; i < pyagent_route_n_rejected(r); i++) {
        const char *model = NULL, *reason = NULL;
        if (pyagent_route_rejection(r, i, &model, &reason) == PYAGENT_OK)
            json_array_append_new(rejected, json_pack("{s:s, s:s}", "model", model, "reason",
                                                      reason));
    }
    const char *model = pyagent_route_model(r);
    json_t *body = json_pack("{s:o, s:s, s:I, s:I, s:o, s:o, s:o, s:o}", "model",
                             *model ? json_string(model) : json_null(), "reason",
                             pyagent_route_reason(r), "n_models", (json_int_t)s.n_models,
                             "n_qualified", (json_int_t)s.n_qualified, "estimated_cost",
                             number_or_null(s.estimated_cost), "estimated_latency_ms",
                             number_or_null(s.estimated_latency_ms), "quality",
                             number_or_null(s.quality), "rejected", rejected);
    pyagent_route_destroy(r);
    return srv_reply_json(c, 200, body);
}

enum MHD_Result srv_handle_registry(srv_call *c, const char *rest) {
    srv_error err;
    if (!c->srv->registry) {
        srv_fail(&err, 404, "invalid_request_error", "registry_disabled", NULL,
                 "this server has no registry: start it with --registry FILE");
        return srv_reply_error(c, &err);
    }
    const bool get = strcmp(c->method, "GET") == 0;
    if (get && strcmp(rest, "models") == 0) return list_models(c);
    if (get && strcmp(rest, "due") == 0) return list_due(c);
    if (strcmp(c->method, "POST") == 0 && strcmp(rest, "route") == 0) return route(c);
    srv_fail(&err, 404, "invalid_request_error", "not_found", NULL,
             "registry endpoints: GET models, GET due, POST route");
    return srv_reply_error(c, &err);
}
