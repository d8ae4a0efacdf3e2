/*
 * pyagent-server — an OpenAI-compatible HTTP server with a web dashboard, on libpyagent.
 *
 * Usage:
 *   pyagent-server -m model.gguf [--host 127.0.0.1] [--port 8080] [--api-key KEY]...
 *                  [engine flags as pyagent-cli: -t -c -b -s --kv-bytes ...] [limits]
 *
 * It opens the model, starts the engine's loop, listens, and prints one line with the URL
 * ("pyagent-server: listening on http://127.0.0.1:8080/ ..."). SIGINT or SIGTERM stops it:
 * running generations are cancelled, connections closed, everything freed; exit status 0.
 * Exit status 1 when the model or the registry cannot be opened or the port not bound, 2 on a
 * bad flag. Endpoints and limits: docs/server.md.
 */
#define _GNU_SOURCE /* strsignal, sigaction */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents.h"
#include "generate.h"
#include "http.h"
#include "server.h"

#ifndef PYAGENT_SERVER_WEB_DIR
#define PYAGENT_SERVER_WEB_DIR "web"
#endif

/* ---------------------------------------------------------------------------------------------
 * Flags
 * ------------------------------------------------------------------------------------------- */

/* Engine flags go straight into engine params (the library checks them); sampler flags become
 * the server's default settings, checked the same way at start. */
typedef struct param_flag {
    const char *flag, *alias;
    int32_t kind;      /* PYAGENT_PARAMS_ENGINE or PYAGENT_PARAMS_SAMPLER */
    const char *key;
    bool is_f64;
    const char *help;
} param_flag;

static const param_flag PARAM_FLAGS[] = {
    {"-t", "--threads", PYAGENT_PARAMS_ENGINE, "n_threads", false,
     "worker threads (0 = physical cores)"},
    {"-c", "--ctx-size", PYAGENT_PARAMS_ENGINE, "n_ctx", false,
     "tokens per agent (0 = the model's, at least 512)"},
    {"-b", "--batch-size", PYAGENT_PARAMS_ENGINE, "n_batch", false, "tokens per forward pass"},
    {"-s", "--seed", PYAGENT_PARAMS_ENGINE, "seed", false, "seed of agents without their own"},
    {"--huge-pages", NULL, PYAGENT_PARAMS_ENGINE, "huge_pages", false,
     "1: read the weights into 2 MiB pages (faster decode; a private copy)"},
    {"--kv-bytes", NULL, PYAGENT_PARAMS_ENGINE, "kv_bytes", false,
     "memory of the KV block pool shared by all agents"},
    {"--kv-block-size", NULL, PYAGENT_PARAMS_ENGINE, "kv_block_size", false,
     "tokens per KV block"},
    {"--temp", NULL, PYAGENT_PARAMS_SAMPLER, "temperature", true, "default temperature"},
    {"--top-k", NULL, PYAGENT_PARAMS_SAMPLER, "top_k", false, "default top-k (0 = off)"},
    {"--top-p", NULL, PYAGENT_PARAMS_SAMPLER, "top_p", true, "default top-p (1 = off)"},
    {"--min-p", NULL, PYAGENT_PARAMS_SAMPLER, "min_p", true, "default min-p (0 = off)"},
    {"--repeat-penalty", NULL, PYAGENT_PARAMS_SAMPLER, "repeat_penalty", true,
     "default repeat penalty (1 = off)"},
    {"--repeat-last-n", NULL, PYAGENT_PARAMS_SAMPLER, "repeat_last_n", false,
     "tokens the penalties look at"},
    {"--frequency-penalty", NULL, PYAGENT_PARAMS_SAMPLER, "frequency_penalty", true,
     "default frequency penalty"},
    {"--presence-penalty", NULL, PYAGENT_PARAMS_SAMPLER, "presence_penalty", true,
     "default presence penalty"},
    {"--kv-window", NULL, PYAGENT_PARAMS_SAMPLER, "kv_window", false,
     "prune agents' KV to the last N positions (0 = off)"},
    {"--kv-sinks", NULL, PYAGENT_PARAMS_SAMPLER, "kv_sinks", false,
     "first positions never pruned (default 4)"},
    {"--kv-heavy", NULL, PYAGENT_PARAMS_SAMPLER, "kv_heavy", false,
     "h2o/kvzap: positions kept per layer and KV head (0 = as --kv-window)"},
    {"--kv-entropy", NULL, PYAGENT_PARAMS_SAMPLER, "kv_entropy", false,
     "h2o/kvzap: 1 = per-head budgets by attention entropy"},
};

#define N_PARAM_FLAGS (sizeof PARAM_FLAGS / sizeof PARAM_FLAGS[0])

static void print_usage(FILE *out) {
    fputs("usage: pyagent-server -m model.gguf [options]\n"
          "\n"
          "An OpenAI-compatible HTTP server (/v1/chat/completions, /v1/completions, /v1/models,\n"
          "/health, /metrics, /v1/agents, /v1/registry) with a dashboard at /.\n"
          "\n"
          "  -m, --model PATH           GGUF model file (required)\n"
          "      --host ADDR            address to listen on (default 127.0.0.1)\n"
          "      --port N               port, 0 = any free one (default 8080)\n"
          "      --api-key KEY          require 'Authorization: Bearer KEY' (repeatable)\n"
          "      --api-key-file PATH    read keys from a file, one per line\n"
          "      --alias NAME           model id in the API (default: the file name)\n"
          "      --chat-template NAME   chatml, llama2, llama3, mistral, zephyr, gemma or none\n"
          "                             (default: detected from tokenizer.chat_template)\n"
          "      --registry PATH        capability registry for /v1/registry\n"
          "      --web DIR              dashboard files (default: the source's web folder)\n"
          "      --max-body BYTES       request body limit (default 2097152)\n"
          "      --max-prompt-tokens N  prompt tokens per request, 0 = the context (default 0)\n"
          "      --max-tokens N         tokens a request may generate (default 4096)\n"
          "      --max-concurrent N     generations at once; more get 429 (default 128)\n"
          "      --max-agents N         persistent agents per API key (default 64)\n"
          "      --max-connections N    open connections (default 512)\n"
          "      --timeout SECONDS      wall time of one generation (default 600)\n"
          "      --idle-timeout SECONDS close idle connections (default 60)\n"
          "      --sse-ping SECONDS     ping a quiet event stream (default 15)\n"
          "      --kv-type f16|f32|q8_0 KV cache element type (default f16)\n"
          "      --kv-policy window|h2o|kvzap  what pruning keeps (with --kv-window)\n"
          "      --kvzap FILE           KVzap surrogate for --kv-policy kvzap (pyagent-kvzap-fit)\n"
          "      --kv-host-tier BYTES   keep blocks evicted from the KV pool in host memory\n"
          "      --spec off|lookup|self speculative decoding of requests that do not say\n"
          "      --no-prefix-cache      compute every prompt (no prefix sharing)\n"
          "      --verbose              engine log at info level\n",
          out);
    for (size_t i = 0; i < N_PARAM_FLAGS; i++) {
        char spelling[40];
        const param_flag *f = &PARAM_FLAGS[i];
        snprintf(spelling, sizeof spelling, "%s%s%s N", f->alias ? f->flag : "    ",
                 f->alias ? ", " : "", f->alias ? f->alias : f->flag);
        fprintf(out, "  %-26s %s\n", spelling, f->help);
    }
    fputs("  -h, --help                 print this help\n", out);
}

static void fail_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("pyagent-server: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n\n", stderr);
    va_end(ap);
    print_usage(stderr);
    exit(2);
}

static const char *flag_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) fail_usage("%s needs a value", argv[*i]);
    return argv[++*i];
}

static int64_t parse_i64(const char *flag, const char *text, int64_t min, int64_t max) {
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno || end == text || *end || value < min || value > max)
        fail_usage("%s: '%s' is not an integer in [%lld, %lld]", flag, text, (long long)min,
                   (long long)max);
    return value;
}

static double parse_f64(const char *flag, const char *text, double min) {
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (errno || end == text || *end || !(value >= min))
        fail_usage("%s: '%s' is not a number >= %g", flag, text, min);
    return value;
}

static bool is_flag(const char *arg, const char *short_name, const char *long_name) {
    return (short_name && strcmp(arg, short_name) == 0) || strcmp(arg, long_name) == 0;
}

/* A sampler default of every agent (checked against the library once all flags are read). */
static srv_setting *add_default(srv_config *cfg) {
    srv_sampling *d = &cfg->sampler_defaults;
    if (d->n_settings == SRV_MAX_SETTINGS) fail_usage("too many sampler flags");
    return &d->settings[d->n_settings++];
}

typedef struct named_value {
    const char *name;
    int64_t value;
} named_value;

/* The value `text` names among n choices; a usage error listing them otherwise. */
static int64_t value_named(const char *flag, const char *text, const named_value *choices,
                           size_t n) {
    char names[128] = "";
    for (size_t i = 0; i < n; i++) {
        if (strcmp(text, choices[i].name) == 0) return choices[i].value;
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                 choices[i].name);
    }
    fail_usage("%s: one of %s", flag, names);
    return -1;
}

static void set_engine(srv_config *cfg, const char *flag, const char *key, int64_t value) {
    if (pyagent_params_set_i64(cfg->engine_params, key, value) != PYAGENT_OK)
        fail_usage("%s: %s", flag, pyagent_params_last_error(cfg->engine_params));
}

/* Reads API keys from `path`, one per line (blank lines and lines starting with # skipped). */
static void read_key_file(srv_config *cfg, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) fail_usage("--api-key-file %s: %s", path, strerror(errno));
    static char storage[SRV_MAX_API_KEYS][512];
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!*line || *line == '#') continue;
        if (cfg->n_api_keys == SRV_MAX_API_KEYS)
            fail_usage("more than %d API keys", SRV_MAX_API_KEYS);
        snprintf(storage[cfg->n_api_keys], sizeof storage[0], "%s", line);
        cfg->api_keys[cfg->n_api_keys] = storage[cfg->n_api_keys];
        cfg->n_api_keys++;
    }
    fclose(f);
}

static void parse_flags(srv_config *cfg, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        const param_flag *pf = NULL;
        for (size_t k = 0; k < N_PARAM_FLAGS; k++)
            if (is_flag(flag, PARAM_FLAGS[k].alias ? PARAM_FLAGS[k].flag : NULL,
                        PARAM_FLAGS[k].alias ? PARAM_FLAGS[k].alias : PARAM_FLAGS[k].flag))
                pf = &PARAM_FLAGS[k];
        if (pf) {
            const char *text = flag_value(argc, argv, &i);
            if (pf->kind == PYAGENT_PARAMS_ENGINE) {
                set_engine(cfg, flag, pf->key, parse_i64(flag, text, INT64_MIN, INT64_MAX));
            } else {
                srv_setting *s = add_default(cfg);
                s->key = pf->key;
                s->is_f64 = pf->is_f64;
                if (pf->is_f64) s->f64 = parse_f64(flag, text, -1e300);
                else s->i64 = parse_i64(flag, text, INT64_MIN, INT64_MAX);
            }
        } else if (is_flag(flag, "-h", "--help")) {
            print_usage(stdout);
            exit(0);
        } else if (is_flag(flag, "-m", "--model")) {
            cfg->model_path = flag_value(argc, argv, &i);
        } else if (is_flag(flag, NULL, "--host")) {
            cfg->host = flag_value(argc, argv, &i);
        } else if (is_flag(flag, NULL, "--port")) {
            cfg->port = (int)parse_i64(flag, flag_value(argc, argv, &i), 0, 65535);
        } else if (is_flag(flag, NULL, "--api-key")) {
            const char *key = flag_value(argc, argv, &i);
            if (!*key) fail_usage("--api-key: the key is empty");
            if (cfg->n_api_keys == SRV_MAX_API_KEYS)
                fail_usage("more than %d API keys", SRV_MAX_API_KEYS);
            cfg->api_keys[cfg->n_api_keys++] = key;
        } else if (is_flag(flag, NULL, "--api-key-file")) {
            read_key_file(cfg, flag_value(argc, argv, &i));
        } else if (is_flag(flag, NULL, "--alias")) {
            cfg->alias = flag_value(argc, argv, &i);
        } else if (is_flag(flag, NULL, "--chat-template")) {
            srv_template t;
            cfg->chat_template = flag_value(argc, argv, &i);
            if (!srv_template_by_name(cfg->chat_template, &t))
                fail_usage("--chat-template: unknown template '%s'", cfg->chat_template);
        } else if (is_flag(flag, NULL, "--registry")) {
            cfg->registry_path = flag_value(argc, argv, &i);
        } else if (is_flag(flag, NULL, "--web")) {
            cfg->web_dir = flag_value(argc, argv, &i);
        } else if (is_flag(flag, NULL, "--max-body")) {
            cfg->max_body_bytes = (size_t)parse_i64(flag, flag_value(argc, argv, &i), 1, 1 << 30);
        } else if (is_flag(flag, NULL, "--max-prompt-tokens")) {
            cfg->max_prompt_tokens = parse_i64(flag, flag_value(argc, argv, &i), 0, 1 << 24);
        } else if (is_flag(flag, NULL, "--max-tokens")) {
            cfg->max_tokens = parse_i64(flag, flag_value(argc, argv, &i), 1, 1 << 24);
        } else if (is_flag(flag, NULL, "--max-concurrent")) {
            cfg->max_concurrent = (int)parse_i64(flag, flag_value(argc, argv, &i), 1, 65536);
        } else if (is_flag(flag, NULL, "--max-agents")) {
            cfg->max_agents_per_key = (int)parse_i64(flag, flag_value(argc, argv, &i), 0, 1 << 20);
        } else if (is_flag(flag, NULL, "--max-connections")) {
            cfg->max_connections = (int)parse_i64(flag, flag_value(argc, argv, &i), 1, 65536);
        } else if (is_flag(flag, NULL, "--timeout")) {
            cfg->request_timeout_s = parse_f64(flag, flag_value(argc, argv, &i), 0.001);
        } else if (is_flag(flag, NULL, "--idle-timeout")) {
            cfg->idle_timeout_s = (unsigned)parse_i64(flag, flag_value(argc, argv, &i), 1, 86400);
        } else if (is_flag(flag, NULL, "--sse-ping")) {
            cfg->sse_ping_s = parse_f64(flag, flag_value(argc, argv, &i), 0.01);
        } else if (is_flag(flag, NULL, "--kv-type")) {
            static const named_value types[] = {
                {"f32", PYAGENT_KV_F32}, {"f16", PYAGENT_KV_F16}, {"q8_0", PYAGENT_KV_Q8_0}};
            set_engine(cfg, flag, "kv_type", value_named(flag, flag_value(argc, argv, &i), types, 3));
        } else if (is_flag(flag, NULL, "--kv-policy")) {
            static const named_value policies[] = {{"window", PYAGENT_KV_POLICY_WINDOW},
                                                   {"h2o", PYAGENT_KV_POLICY_H2O},
                                                   {"kvzap", PYAGENT_KV_POLICY_KVZAP}};
            const int64_t policy = value_named(flag, flag_value(argc, argv, &i), policies, 3);
            *add_default(cfg) = (srv_setting){.key = "kv_policy", .i64 = policy};
        } else if (is_flag(flag, NULL, "--kvzap")) {
            cfg->kvzap_path = flag_value(argc, argv, &i);
        } else if (is_flag(flag, NULL, "--kv-host-tier")) {
            cfg->host_tier_bytes = parse_i64(flag, flag_value(argc, argv, &i), 1, INT64_MAX);
        } else if (is_flag(flag, NULL, "--spec")) {
            static const named_value modes[] = {
                {"off", PYAGENT_SPEC_OFF}, {"lookup", PYAGENT_SPEC_LOOKUP}, {"self", PYAGENT_SPEC_SELF}};
            const int64_t mode = value_named(flag, flag_value(argc, argv, &i), modes, 3);
            *add_default(cfg) = (srv_setting){.key = "spec", .i64 = mode};
        } else if (is_flag(flag, NULL, "--no-prefix-cache")) {
            set_engine(cfg, flag, "prefix_cache", 0);
        } else if (is_flag(flag, NULL, "--verbose")) {
            set_engine(cfg, flag, "log_level", PYAGENT_LOG_INFO);
        } else {
            fail_usage("unknown flag '%s'", flag);
        }
    }
    if (!cfg->model_path) fail_usage("no model: pass -m model.gguf");
    if (cfg->sse_ping_s > cfg->idle_timeout_s / 2.0) cfg->sse_ping_s = cfg->idle_timeout_s / 2.0;
    pyagent_params *check = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    srv_error err;
    if (!check || !srv_sampling_apply(&cfg->sampler_defaults, check, &err))
        fail_usage("%s", check ? err.message : "out of memory");
    pyagent_params_destroy(check);
}

/* ---------------------------------------------------------------------------------------------
 * Start and stop
 * ------------------------------------------------------------------------------------------- */

/* The model id: --alias, else the file name without its directory and ".gguf". */
static void set_model_id(server *srv) {
    const char *name = srv->cfg.alias;
    size_t len;
    if (name) {
        len = strlen(name);
    } else {
        const char *slash = strrchr(srv->cfg.model_path, '/');
        name = slash ? slash + 1 : srv->cfg.model_path;
        len = strlen(name);
        if (len > 5 && strcmp(name + len - 5, ".gguf") == 0) len -= 5;
    }
    if (len >= sizeof srv->model_id) len = sizeof srv->model_id - 1;
    memcpy(srv->model_id, name, len);
    srv->model_id[len] = '\0';
}

/* The chat template: --chat-template, else detected from the GGUF's tokenizer.chat_template. */
static void choose_template(server *srv) {
    if (srv->cfg.chat_template) {
        srv_template_by_name(srv->cfg.chat_template, &srv->chat_template);
        return;
    }
    size_t needed = 0;
    pyagent_status st = pyagent_engine_meta_str(srv->engine, "tokenizer.chat_template", NULL, 0,
                                                &needed);
    char *jinja = st == PYAGENT_ERR_BUFFER_TOO_SMALL ? malloc(needed) : NULL;
    if (jinja &&
        pyagent_engine_meta_str(srv->engine, "tokenizer.chat_template", jinja, needed, &needed) !=
            PYAGENT_OK) {
        free(jinja);
        jinja = NULL;
    }
    bool known = true;
    srv->chat_template = srv_template_detect(jinja, &known);
    if (!known)
        fprintf(stderr, "pyagent-server: the model's chat template is not one of the known "
                        "families; using chatml (--chat-template sets one)\n");
    free(jinja);
}

static int open_registry(server *srv) {
    if (!srv->cfg.registry_path) return 0;
    if (pyagent_registry_open(srv->cfg.registry_path, NULL, &srv->registry) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-server: --registry: %s\n",
                pyagent_registry_last_error(srv->registry));
        return 1;
    }
    if (pyagent_registry_add_model(srv->registry, srv->model_id, "local", srv->cfg.model_path,
                                   NULL) != PYAGENT_OK)
        fprintf(stderr, "pyagent-server: registry: %s\n",
                pyagent_registry_last_error(srv->registry));
    return 0;
}

static void print_url(const server *srv, unsigned port) {
    const bool v6 = strchr(srv->cfg.host, ':') != NULL;
    printf("pyagent-server: listening on http://%s%s%s:%u/ (model %s, chat template %s, "
           "n_ctx %" PRId64 "%s)\n",
           v6 ? "[" : "", srv->cfg.host, v6 ? "]" : "", port, srv->model_id,
           srv_template_name(srv->chat_template), srv->n_ctx,
           srv->cfg.n_api_keys ? ", API key required" : "");
    fflush(stdout);
}

/* SIGINT and SIGTERM write their number to this pipe; the main thread waits on it. They are
 * blocked while the engine's and the HTTP server's threads start, so that those threads inherit
 * the block and the main thread takes the signal; the handler (not sigwait) also covers threads
 * that libraries start before main (OpenBLAS's), which a mask set in main cannot reach. */
static int stop_pipe[2] = {-1, -1};
static sigset_t stop_signals;

static void on_stop_signal(int signal_number) {
    const unsigned char n = (unsigned char)signal_number;
    if (write(stop_pipe[1], &n, 1) < 0) { /* nothing to do in a signal handler */
    }
}

static int install_stop_handler(void) {
    if (pipe(stop_pipe) != 0) return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) return -1;
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up must not kill the process */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    return pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) == 0 ? 0 : -1;
}

/* Waits for SIGINT or SIGTERM (one that came during the start is taken now). */
static int wait_for_stop_signal(void) {
    pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
    /* poll, then read: a signal that interrupts poll runs its handler at once under every
     * runtime (ThreadSanitizer defers handlers of signals that arrive during a plain read) */
    struct pollfd p = {.fd = stop_pipe[0], .events = POLLIN};
    unsigned char n = 0;
    while (poll(&p, 1, -1) <= 0 || read(stop_pipe[0], &n, 1) != 1) {
    }
    return n;
}

static int serve(server *srv) {
    if (pyagent_engine_open(srv->cfg.model_path, srv->cfg.engine_params, &srv->engine) !=
        PYAGENT_OK) {
        fprintf(stderr, "pyagent-server: %s\n", pyagent_engine_last_error(srv->engine));
        return 1;
    }
    pyagent_engine_info(srv->engine, "n_ctx", &srv->n_ctx);
    if ((srv->cfg.kvzap_path &&
         pyagent_engine_load_kvzap(srv->engine, srv->cfg.kvzap_path, NULL) != PYAGENT_OK) ||
        (srv->cfg.host_tier_bytes &&
         pyagent_kv_store_set_host_tier(pyagent_engine_kv_store(srv->engine),
                                        srv->cfg.host_tier_bytes) != PYAGENT_OK)) {
        fprintf(stderr, "pyagent-server: %s\n", pyagent_engine_last_error(srv->engine));
        return 1;
    }
    set_model_id(srv);
    choose_template(srv);
    if (open_registry(srv)) return 1;
    if (pyagent_engine_start(srv->engine) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-server: %s\n", pyagent_engine_last_error(srv->engine));
        return 1;
    }
    srv->started_at = srv_unix_time();
    unsigned port = 0;
    char err[256];
    struct MHD_Daemon *daemon = srv_http_start(srv, &port, err, sizeof err);
    if (!daemon) {
        fprintf(stderr, "pyagent-server: %s\n", err);
        return 1;
    }
    print_url(srv, port);

    const int signal_number = wait_for_stop_signal();
    fprintf(stderr, "pyagent-server: %s, stopping\n", strsignal(signal_number));
    atomic_store(&srv->stopping, true);
    srv_events_close(&srv->events);
    srv_jobs_cancel_all(srv);
    MHD_stop_daemon(daemon); /* waits for every connection's thread */
    pyagent_engine_stop(srv->engine);
    return 0;
}

int main(int argc, char **argv) {
    if (pyagent_check_abi(PYAGENT_ABI_VERSION) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-server: libpyagent %s has ABI %d, this program was built for %d\n",
                pyagent_version_string(), (int)pyagent_abi_version(), PYAGENT_ABI_VERSION);
        return 1;
    }
    static server srv; /* large (the event ring); zeroed */
    srv.cfg = (srv_config){
        .host = "127.0.0.1",
        .port = 8080,
        .max_body_bytes = 2 << 20,
        .max_prompt_tokens = 0,
        .max_tokens = 4096,
        .max_concurrent = 128,
        .max_agents_per_key = 64,
        .max_connections = 512,
        .request_timeout_s = 600,
        .idle_timeout_s = 60,
        .sse_ping_s = 15,
        .web_dir = PYAGENT_SERVER_WEB_DIR,
        .engine_params = pyagent_params_create(PYAGENT_PARAMS_ENGINE),
    };
    if (!srv.cfg.engine_params) {
        fprintf(stderr, "pyagent-server: out of memory\n");
        return 1;
    }
    parse_flags(&srv.cfg, argc, argv);
    snprintf(srv.cfg.vendor_dir, sizeof srv.cfg.vendor_dir, "%s/node_modules", srv.cfg.web_dir);

    if (install_stop_handler() != 0) {
        fprintf(stderr, "pyagent-server: signal handlers: %s\n", strerror(errno));
        return 1;
    }

    srv_metrics_init(&srv.metrics);
    srv_events_init(&srv.events);
    pthread_mutex_init(&srv.agents_lock, NULL);
    pthread_mutex_init(&srv.jobs_lock, NULL);
    atomic_init(&srv.stopping, false);
    atomic_init(&srv.n_generating, 0);
    atomic_init(&srv.next_request_number, 1);

    const int status = serve(&srv);

    srv_agents_destroy_all(&srv);
    pyagent_engine_destroy(srv.engine);
    pyagent_registry_destroy(srv.registry);
    pyagent_params_destroy(srv.cfg.engine_params);
    pthread_mutex_destroy(&srv.agents_lock);
    pthread_mutex_destroy(&srv.jobs_lock);
    srv_events_destroy(&srv.events);
    srv_metrics_destroy(&srv.metrics);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    return status;
}
