/*
 * libFuzzer target for pyagent-server's request parsing (examples/pyagent-server/request.c)
 * and chat templates: the first byte of the input picks the parser (chat, completion, agent,
 * route, tokenize, detokenize, handoff), the rest is the body. Every parser must either fill its
 * struct or give a 4xx/5xx error with a message, never crash or leak; what a parser accepted must
 * be usable: sampler settings applied to params (the library checks bounds), messages rendered
 * with every template, and the result a NUL-terminated string.
 *
 *     CC=clang meson setup build-fuzz -Dfuzz=enabled -Dtests=false -Dbuildtype=debug \
 *         -Db_lundef=false && ninja -C build-fuzz
 *     build-fuzz/tests/fuzz/fuzz_server_request -max_total_time=120 corpus_copy/ \
 *         tests/fuzz/corpus_server_request/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pyagent/pyagent.h>

#include "chat_template.h"
#include "request.h"

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_server_request: %s\n", what);
        abort();
    }
}

/* A refused request has a status and a message. */
static void check_error(const srv_error *err) {
    check(err->http_status >= 400 && err->http_status < 600, "error without a 4xx/5xx status");
    check(err->message[0] != '\0', "error without a message");
}

static void render_all(const srv_message *messages, size_t n) {
    for (int t = 0; t < SRV_TEMPLATE_COUNT; t++) {
        char *text = srv_template_render((srv_template)t, messages, n, true);
        check(text != NULL, "render");
        check(strlen(text) < (size_t)1 << 30, "render length");
        free(text);
    }
}

static void apply_sampling(const srv_sampling *s) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    check(p != NULL, "params");
    srv_error err;
    if (!srv_sampling_apply(s, p, &err)) {
        check_error(&err);
        check(err.http_status == 400, "a bad sampler value is a 400");
    }
    pyagent_params_destroy(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *body = (const char *)data + 1;
    const size_t len = size - 1;
    srv_error err;
    memset(&err, 0, sizeof err);
    switch (data[0] % 7) {
    case 0:
    case 1: {
        srv_gen_request r;
        const srv_gen_kind kind = data[0] % 7 == 0 ? SRV_GEN_CHAT : SRV_GEN_COMPLETION;
        if (!srv_parse_gen_request(body, len, kind, (data[0] & 0x80) != 0, &r, &err)) {
            check_error(&err);
            break;
        }
        check(r.n_stops <= SRV_MAX_STOPS, "stops");
        check(r.max_tokens == -1 || r.max_tokens >= 1, "max_tokens");
        for (size_t i = 0; i < r.n_messages; i++) check(r.messages[i].content != NULL, "content");
        render_all(r.messages, r.n_messages);
        apply_sampling(&r.sampling);
        srv_gen_request_free(&r);
        break;
    }
    case 2: {
        srv_agent_request r;
        if (!srv_parse_agent_request(body, len, &r, &err)) {
            check_error(&err);
            break;
        }
        render_all(r.messages, r.n_messages);
        apply_sampling(&r.sampling);
        srv_agent_request_free(&r);
        break;
    }
    case 3: {
        pyagent_params *need = pyagent_params_create(PYAGENT_PARAMS_ROUTE);
        check(need != NULL, "params");
        if (!srv_parse_route_request(body, len, need, &err)) check_error(&err);
        pyagent_params_destroy(need);
        break;
    }
    case 4: {
        char **inputs = NULL; /* the same bytes as an embeddings request first */
        size_t n_inputs = 0;
        if (srv_parse_embeddings_request(body, len, &inputs, &n_inputs, &err)) {
            check(n_inputs >= 1 && n_inputs <= SRV_MAX_EMBED_INPUTS, "inputs");
            srv_free_strings(inputs, n_inputs);
        } else {
            check_error(&err);
        }
        memset(&err, 0, sizeof err);
        srv_tokenize_request r;
        if (!srv_parse_tokenize_request(body, len, &r, &err)) {
            check_error(&err);
            break;
        }
        check(r.content != NULL, "content");
        free(r.content);
        break;
    }
    case 6: {
        srv_handoff_request r;
        if (!srv_parse_handoff_request(body, len, &r, &err)) {
            check_error(&err);
            break;
        }
        check(!r.to || strlen(r.to) <= 31, "receiver id");
        srv_handoff_request_free(&r);
        break;
    }
    default: {
        int32_t *tokens = NULL;
        size_t n = 0;
        if (!srv_parse_detokenize_request(body, len, &tokens, &n, &err)) check_error(&err);
        for (size_t i = 0; i < n; i++) check(tokens[i] >= 0, "token id");
        free(tokens);
        break;
    }
    }
    return 0;
}
