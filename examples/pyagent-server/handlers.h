/*
 * The route handlers of pyagent-server; http.c's table maps method and path onto them.
 * `rest` is what follows the route's prefix ("" for exact routes).
 */
#ifndef PYAGENT_SERVER_HANDLERS_H
#define PYAGENT_SERVER_HANDLERS_H

#include "http.h"

/* openai.c */
enum MHD_Result srv_handle_health(srv_call *c, const char *rest);
enum MHD_Result srv_handle_models(srv_call *c, const char *rest);
enum MHD_Result srv_handle_chat(srv_call *c, const char *rest);
enum MHD_Result srv_handle_completions(srv_call *c, const char *rest);
enum MHD_Result srv_handle_model_layout(srv_call *c, const char *rest);
enum MHD_Result srv_handle_kv_tree(srv_call *c, const char *rest);
enum MHD_Result srv_handle_embeddings(srv_call *c, const char *rest);
enum MHD_Result srv_handle_tokenize(srv_call *c, const char *rest);
enum MHD_Result srv_handle_detokenize(srv_call *c, const char *rest);
/* agents.c */
enum MHD_Result srv_handle_agents(srv_call *c, const char *rest);
/* registry_api.c */
enum MHD_Result srv_handle_registry(srv_call *c, const char *rest);
/* metrics.c */
enum MHD_Result srv_handle_metrics(srv_call *c, const char *rest);
enum MHD_Result srv_handle_stats(srv_call *c, const char *rest);
/* events.c's feed, served by generate.c's streaming machinery */
enum MHD_Result srv_handle_events(srv_call *c, const char *rest);

#endif
