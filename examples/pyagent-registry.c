/*
 * pyagent-registry — the capability registry from the command line.
 *
 * Usage:
 *   pyagent-registry --db FILE list
 *   pyagent-registry --db FILE add NAME --provider P [--gguf PATH | --endpoint URL]
 *                    [--remote-id ID] [--context N] [--max-output N] [--price-in X]
 *                    [--price-out X] [--price-cached X] [--currency C] [--tools]
 *                    [--json-mode] [--vision] [--quality X] [--languages L] [--source S]
 *                    [--measure]
 *   pyagent-registry --db FILE import FILE.json [--source S]
 *   pyagent-registry --db FILE export [--model NAME] [--history] [-o FILE]
 *   pyagent-registry --db FILE route [--context N | --prompt TEXT | --prompt-file F]
 *                    [--output N] [--cached N] [--tools] [--parallel-tools] [--json-mode]
 *                    [--vision] [--audio] [--reasoning] [--caching] [--local-only]
 *                    [--max-cost X] [--max-latency-ms X] [--min-quality X] [--min-tps X]
 *                    [--language L] [--task T] [--currency C] [--explain]
 *   pyagent-registry --db FILE due [--now UNIX_SECONDS] [--period-days N]
 *   pyagent-registry --db FILE check [NAME...] [-t THREADS]
 *   pyagent-registry bench [--models N] [--routes N]
 *
 * Prices are per 1,000,000 tokens. Values given to `add` are recorded with source "cli" (or
 * --source) at the current time. `check` re-measures local models with the engine (by default
 * every local model that is due); remote models are re-checked by importing a current LiteLLM
 * file. `bench` times routing over N synthetic models in a temporary registry.
 *
 * Exit status: 0 on success, 1 when the library fails (its message goes to stderr), 2 on a bad
 * flag, 3 when `route` finds no model that qualifies (the rejections go to stdout).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pyagent/pyagent.h>

#define EXIT_LIBRARY 1
#define EXIT_USAGE 2
#define EXIT_NO_MODEL 3

static const char usage_text[] =
    "usage: pyagent-registry --db FILE COMMAND [options]\n"
    "commands:\n"
    "  list                                    models, their limits, prices, speed, checks\n"
    "  add NAME --provider P [--gguf PATH | --endpoint URL] [--remote-id ID] [--context N]\n"
    "      [--max-output N] [--price-in X] [--price-out X] [--price-cached X] [--currency C]\n"
    "      [--tools] [--json-mode] [--vision] [--quality X] [--languages L] [--source S]\n"
    "      [--measure]                         (prices per 1M tokens)\n"
    "  import FILE.json [--source S]           LiteLLM model_prices_and_context_window.json\n"
    "  export [--model NAME] [--history] [-o FILE]\n"
    "  route [--context N | --prompt TEXT | --prompt-file F] [--output N] [--cached N]\n"
    "      [--tools] [--parallel-tools] [--json-mode] [--vision] [--audio] [--reasoning]\n"
    "      [--caching] [--local-only] [--max-cost X] [--max-latency-ms X] [--min-quality X]\n"
    "      [--min-tps X] [--language L] [--task T] [--currency C] [--explain]\n"
    "  due [--now UNIX_SECONDS] [--period-days N]\n"
    "  check [NAME...] [-t THREADS]            re-measure local models (default: the due ones)\n"
    "  bench [--models N] [--routes N]         time routing over N synthetic models\n";

static int usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pyagent-registry: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n%s", usage_text);
    va_end(ap);
    return EXIT_USAGE;
}

static int library_error(pyagent_registry *reg, pyagent_status st, const char *what) {
    const char *msg = pyagent_registry_last_error(reg);
    fprintf(stderr, "pyagent-registry: %s: %s\n", what, *msg ? msg : pyagent_status_str(st));
    return EXIT_LIBRARY;
}

static bool parse_i64(const char *s, int64_t *v) {
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end) return false;
    *v = x;
    return true;
}

static bool parse_f64(const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return !errno && end != s && !*end;
}

/* "2025-06-15 10:00" (UTC), or "never" for 0. */
static const char *format_time(int64_t t, char *out, size_t size) {
    if (t <= 0) return "never";
    time_t s = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&s, &tm) || !strftime(out, size, "%Y-%m-%d %H:%M", &tm))
        snprintf(out, size, "%lld", (long long)t);
    return out;
}

/* The registered names (or the due ones) as a '\n'-separated list to free; NULL on failure. */
static char *names_of(pyagent_registry *reg, bool due, int64_t now, size_t *count) {
    size_t needed = 0;
    pyagent_status st = due ? pyagent_registry_due(reg, now, NULL, 0, &needed, count)
                            : pyagent_registry_list(reg, NULL, 0, &needed, count);
    if (st != PYAGENT_ERR_BUFFER_TOO_SMALL) return NULL;
    char *names = malloc(needed);
    if (!names) return NULL;
    st = due ? pyagent_registry_due(reg, now, names, needed, &needed, count)
             : pyagent_registry_list(reg, names, needed, &needed, count);
    if (st) {
        free(names);
        return NULL;
    }
    return names;
}

static double value_of(pyagent_registry *reg, const char *model, const char *key) {
    double v = NAN;
    pyagent_registry_get_f64(reg, model, key, &v, NULL);
    return v;
}

/* A number for a table cell: "-" when unknown. */
static const char *cell(double v, const char *fmt, char *out, size_t size) {
    if (isnan(v)) return "-";
    snprintf(out, size, fmt, v);
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * list, due
 * ------------------------------------------------------------------------------------------- */

static int cmd_list(pyagent_registry *reg) {
    size_t count = 0;
    char *names = names_of(reg, false, 0, &count);
    if (!names) return library_error(reg, PYAGENT_ERR_INTERNAL, "list");
    printf("%-40s %-10s %9s %9s %9s %9s %9s  %s\n", "model", "provider", "context", "max_out",
           "$in/1M", "$out/1M", "tok/s", "capabilities checked");
    for (char *name = names, *nl; (nl = strchr(name, '\n')); name = nl + 1) {
        *nl = '\0';
        char provider[300] = "?", a[32], b[32], c[32], d[32], e[32], when[32];
        size_t needed;
        pyagent_registry_get_str(reg, name, "provider", provider, sizeof provider, &needed);
        int64_t checked = 0;
        pyagent_registry_last_checked(reg, name, PYAGENT_CHECK_CAPABILITIES, &checked);
        printf("%-40s %-10s %9s %9s %9s %9s %9s  %s\n", name, provider,
               cell(value_of(reg, name, "context_tokens"), "%.0f", a, sizeof a),
               cell(value_of(reg, name, "max_output_tokens"), "%.0f", b, sizeof b),
               cell(value_of(reg, name, "price_input"), "%.4g", c, sizeof c),
               cell(value_of(reg, name, "price_output"), "%.4g", d, sizeof d),
               cell(value_of(reg, name, "tokens_per_second"), "%.1f", e, sizeof e),
               format_time(checked, when, sizeof when));
    }
    printf("%zu model%s\n", count, count == 1 ? "" : "s");
    free(names);
    return 0;
}

static int cmd_due(pyagent_registry *reg, int argc, char **argv) {
    int64_t now = (int64_t)time(NULL);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
            if (!parse_i64(argv[++i], &now)) return usage("--now: not a number: %s", argv[i]);
        } else if (strcmp(argv[i], "--period-days") == 0 && i + 1 < argc) {
            i++; /* applied when the registry is opened; see main */
        } else {
            return usage("due: unknown option %s", argv[i]);
        }
    }
    size_t count = 0;
    char *names = names_of(reg, true, now, &count);
    if (!names) return library_error(reg, PYAGENT_ERR_INTERNAL, "due");
    printf("%-40s  %-16s  %-16s  %s\n", "model", "capabilities", "prices", "measured");
    for (char *name = names, *nl; (nl = strchr(name, '\n')); name = nl + 1) {
        *nl = '\0';
        int64_t caps = 0, prices = 0, measured = 0;
        pyagent_registry_last_checked(reg, name, PYAGENT_CHECK_CAPABILITIES, &caps);
        pyagent_registry_last_checked(reg, name, PYAGENT_CHECK_PRICES, &prices);
        pyagent_registry_last_checked(reg, name, PYAGENT_CHECK_MEASUREMENTS, &measured);
        char a[32], b[32], c[32];
        printf("%-40s  %-16s  %-16s  %s\n", name, format_time(caps, a, sizeof a),
               format_time(prices, b, sizeof b), format_time(measured, c, sizeof c));
    }
    printf("%zu model%s due\n", count, count == 1 ? "" : "s");
    free(names);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * add, check
 * ------------------------------------------------------------------------------------------- */

static int measure_one(pyagent_registry *reg, const char *name, int64_t threads) {
    pyagent_params *engine = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    if (!engine) return EXIT_LIBRARY;
    if (threads > 0) pyagent_params_set_i64(engine, "n_threads", threads);
    pyagent_params_set_i64(engine, "log_level", PYAGENT_LOG_ERROR);
    pyagent_status st = pyagent_registry_measure(reg, name, engine);
    pyagent_params_destroy(engine);
    if (st == PYAGENT_ERR_UNSUPPORTED) {
        printf("%-40s remote: re-check it by importing its provider's current data\n", name);
        return 0;
    }
    if (st) return library_error(reg, st, name);
    printf("%-40s load %.0f ms, prompt %.1f tok/s, generation %.1f tok/s, first token %.1f ms, "
           "context %.0f\n", name, value_of(reg, name, "load_ms"),
           value_of(reg, name, "prefill_tokens_per_second"),
           value_of(reg, name, "tokens_per_second"), value_of(reg, name, "ttft_ms"),
           value_of(reg, name, "context_tokens"));
    return 0;
}

static int cmd_check(pyagent_registry *reg, int argc, char **argv) {
    int64_t threads = 0;
    int n_named = 0, rc = 0;
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--threads") == 0) && i + 1 < argc) {
            if (!parse_i64(argv[++i], &threads)) return usage("-t: not a number: %s", argv[i]);
        } else if (argv[i][0] == '-') {
            return usage("check: unknown option %s", argv[i]);
        }
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--threads") == 0) {
            i++;
            continue;
        }
        n_named++;
        if (measure_one(reg, argv[i], threads)) rc = EXIT_LIBRARY;
    }
    if (n_named) return rc;
    size_t count = 0;
    char *names = names_of(reg, true, (int64_t)time(NULL), &count);
    if (!names) return library_error(reg, PYAGENT_ERR_INTERNAL, "due");
    for (char *name = names, *nl; (nl = strchr(name, '\n')); name = nl + 1) {
        *nl = '\0';
        if (measure_one(reg, name, threads)) rc = EXIT_LIBRARY;
    }
    if (count == 0) printf("nothing is due\n");
    free(names);
    return rc;
}

typedef struct value_flag {
    const char *flag, *key;
    bool is_bool;   /* a switch that records 1 */
    bool is_string;
} value_flag;

static const value_flag add_flags[] = {
    {"--context", "context_tokens", false, false},
    {"--max-output", "max_output_tokens", false, false},
    {"--price-in", "price_input", false, false},
    {"--price-out", "price_output", false, false},
    {"--price-cached", "price_cached_input", false, false},
    {"--currency", "currency", false, true},
    {"--tools", "tools", true, false},
    {"--json-mode", "json_mode", true, false},
    {"--vision", "vision", true, false},
    {"--quality", "quality", false, false},
    {"--languages", "languages", false, true},
    {"--tps", "tokens_per_second", false, false},
    {"--ttft-ms", "ttft_ms", false, false},
};

static int cmd_add(pyagent_registry *reg, int argc, char **argv) {
    if (argc < 1 || argv[0][0] == '-') return usage("add: the model's NAME comes first");
    const char *name = argv[0], *provider = NULL, *location = NULL, *remote_id = NULL;
    const char *source = "cli";
    bool measure = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--provider") == 0 && has_value) provider = argv[++i];
        else if ((strcmp(a, "--gguf") == 0 || strcmp(a, "--endpoint") == 0) && has_value)
            location = argv[++i];
        else if (strcmp(a, "--remote-id") == 0 && has_value) remote_id = argv[++i];
        else if (strcmp(a, "--source") == 0 && has_value) source = argv[++i];
        else if (strcmp(a, "--measure") == 0) measure = true;
    }
    if (!provider) provider = location && strstr(location, ".gguf") ? "local" : NULL;
    if (!provider) return usage("add: --provider is needed (\"local\" with --gguf)");
    pyagent_status st = pyagent_registry_add_model(reg, name, provider, location, remote_id);
    if (st) return library_error(reg, st, "add");
    int64_t now = (int64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--provider") == 0 || strcmp(a, "--gguf") == 0 ||
            strcmp(a, "--endpoint") == 0 || strcmp(a, "--remote-id") == 0 ||
            strcmp(a, "--source") == 0) {
            i++;
            continue;
        }
        if (strcmp(a, "--measure") == 0) continue;
        const value_flag *f = NULL;
        for (size_t k = 0; k < sizeof add_flags / sizeof add_flags[0]; k++)
            if (strcmp(a, add_flags[k].flag) == 0) f = &add_flags[k];
        if (!f) return usage("add: unknown option %s", a);
        if (f->is_bool) {
            st = pyagent_registry_record_f64(reg, name, f->key, 1, source, now, 1.0);
        } else {
            if (i + 1 >= argc) return usage("%s needs a value", a);
            const char *v = argv[++i];
            double x;
            if (f->is_string) st = pyagent_registry_record_str(reg, name, f->key, v, source, now,
                                                               1.0);
            else if (!parse_f64(v, &x)) return usage("%s: not a number: %s", a, v);
            else st = pyagent_registry_record_f64(reg, name, f->key, x, source, now, 1.0);
        }
        if (st) return library_error(reg, st, a);
    }
    printf("added %s\n", name);
    return measure ? measure_one(reg, name, 0) : 0;
}

/* ---------------------------------------------------------------------------------------------
 * import, export
 * ------------------------------------------------------------------------------------------- */

static int cmd_import(pyagent_registry *reg, int argc, char **argv) {
    const char *file = NULL, *source = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--source") == 0 && i + 1 < argc) source = argv[++i];
        else if (argv[i][0] != '-' && !file) file = argv[i];
        else return usage("import: unexpected %s", argv[i]);
    }
    if (!file) return usage("import: which FILE.json?");
    int64_t imported = 0, skipped = 0;
    char *report = NULL;
    pyagent_status st = pyagent_registry_import_file(reg, file, source, (int64_t)time(NULL), 0.9,
                                                     &imported, &skipped, &report);
    if (st) return library_error(reg, st, "import");
    if (report && *report) fprintf(stderr, "skipped:\n%s", report);
    pyagent_free(report);
    printf("imported %lld model%s, skipped %lld\n", (long long)imported, imported == 1 ? "" : "s",
           (long long)skipped);
    return 0;
}

static int cmd_export(pyagent_registry *reg, int argc, char **argv) {
    const char *model = NULL, *out = NULL;
    int32_t flags = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
        else if (strcmp(argv[i], "--history") == 0) flags |= PYAGENT_EXPORT_HISTORY;
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) out = argv[++i];
        else return usage("export: unknown option %s", argv[i]);
    }
    char *json = NULL;
    size_t len = 0;
    pyagent_status st = pyagent_registry_export(reg, model, flags, &json, &len);
    if (st) return library_error(reg, st, "export");
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) {
        fprintf(stderr, "pyagent-registry: %s: %s\n", out, strerror(errno));
        pyagent_free(json);
        return EXIT_LIBRARY;
    }
    bool ok = fwrite(json, 1, len, f) == len && fputc('\n', f) != EOF;
    if (out) ok = fclose(f) == 0 && ok;
    pyagent_free(json);
    if (!ok) {
        fprintf(stderr, "pyagent-registry: export: write failed\n");
        return EXIT_LIBRARY;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * route
 * ------------------------------------------------------------------------------------------- */

static const value_flag route_flags[] = {
    {"--context", "context_tokens", false, false},
    {"--output", "output_tokens", false, false},
    {"--cached", "cached_tokens", false, false},
    {"--tools", "need_tools", true, false},
    {"--parallel-tools", "need_parallel_tools", true, false},
    {"--json-mode", "need_json_mode", true, false},
    {"--vision", "need_vision", true, false},
    {"--audio", "need_audio_input", true, false},
    {"--reasoning", "need_reasoning", true, false},
    {"--caching", "need_prompt_caching", true, false},
    {"--local-only", "local_only", true, false},
    {"--max-cost", "max_cost", false, false},
    {"--max-latency-ms", "max_latency_ms", false, false},
    {"--min-quality", "min_quality", false, false},
    {"--min-tps", "min_tokens_per_second", false, false},
    {"--language", "language", false, true},
    {"--task", "task", false, true},
    {"--currency", "currency", false, true},
};

static char *read_text_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *text = malloc(cap);
    while (text) {
        n += fread(text + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *more = realloc(text, cap * 2);
        if (!more) {
            free(text);
            text = NULL;
            break;
        }
        text = more;
        cap *= 2;
    }
    fclose(f);
    if (text) text[n] = '\0';
    return text;
}

/* Sets one route flag into `need`; returns 0 or an exit status. */
static int set_route_flag(pyagent_params *need, const value_flag *f, const char *value) {
    pyagent_status st;
    if (f->is_bool) {
        st = pyagent_params_set_i64(need, f->key, 1);
    } else if (f->is_string) {
        st = pyagent_params_set_str(need, f->key, value);
    } else {
        /* a whole number suits integer and real keys alike; a fraction only real ones, and
         * the library says so for the others */
        int64_t whole;
        double x;
        if (parse_i64(value, &whole)) st = pyagent_params_set_i64(need, f->key, whole);
        else if (parse_f64(value, &x)) st = pyagent_params_set_f64(need, f->key, x);
        else return usage("%s: not a number: %s", f->flag, value);
    }
    if (st) {
        fprintf(stderr, "pyagent-registry: %s: %s\n", f->flag, pyagent_params_last_error(need));
        return EXIT_USAGE;
    }
    return 0;
}

static int cmd_route(pyagent_registry *reg, int argc, char **argv) {
    pyagent_params *need = pyagent_params_create(PYAGENT_PARAMS_ROUTE);
    if (!need) return EXIT_LIBRARY;
    const char *prompt = NULL, *prompt_file = NULL;
    bool explain = false;
    int rc = 0;
    for (int i = 0; i < argc && !rc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--prompt") == 0 && i + 1 < argc) { prompt = argv[++i]; continue; }
        if (strcmp(a, "--prompt-file") == 0 && i + 1 < argc) { prompt_file = argv[++i]; continue; }
        if (strcmp(a, "--explain") == 0) { explain = true; continue; }
        const value_flag *f = NULL;
        for (size_t k = 0; k < sizeof route_flags / sizeof route_flags[0]; k++)
            if (strcmp(a, route_flags[k].flag) == 0) f = &route_flags[k];
        if (!f) rc = usage("route: unknown option %s", a);
        else if (!f->is_bool && i + 1 >= argc) rc = usage("%s needs a value", a);
        else rc = set_route_flag(need, f, f->is_bool ? NULL : argv[++i]);
    }
    char *text = NULL;
    if (!rc && prompt_file && !(text = read_text_file(prompt_file))) {
        fprintf(stderr, "pyagent-registry: %s: %s\n", prompt_file, strerror(errno));
        rc = EXIT_LIBRARY;
    }
    if (!rc && (prompt || text)) {
        int64_t n = 0;
        int32_t method = 0;
        pyagent_status st = pyagent_registry_estimate_tokens(reg, NULL, text ? text : prompt, -1,
                                                             &n, &method);
        if (st) rc = library_error(reg, st, "estimate");
        else {
            pyagent_params_set_i64(need, "context_tokens", n);
            printf("prompt: %lld tokens (%s)\n", (long long)n,
                   method == PYAGENT_ESTIMATE_TOKENIZER ? "counted with a local tokenizer"
                                                        : "estimated, no local tokenizer");
        }
    }
    free(text);
    pyagent_route *route = NULL;
    if (!rc) {
        pyagent_status st = pyagent_registry_route(reg, need, &route);
        if (st == PYAGENT_OK) {
            printf("%s\n  %s\n", pyagent_route_model(route), pyagent_route_reason(route));
        } else if (st == PYAGENT_ERR_NO_MODEL) {
            printf("no model qualifies: %s\n", pyagent_route_reason(route));
            explain = true;
            rc = EXIT_NO_MODEL;
        } else {
            rc = library_error(reg, st, "route");
        }
        size_t n = pyagent_route_n_rejected(route);
        if (route && explain && n) printf("rejected:\n");
        for (size_t i = 0; route && explain && i < n; i++) {
            const char *model, *reason;
            if (pyagent_route_rejection(route, i, &model, &reason) == PYAGENT_OK)
                printf("  %-40s %s\n", model, reason);
        }
    }
    pyagent_route_destroy(route);
    pyagent_params_destroy(need);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * bench: routing time over many models
 * ------------------------------------------------------------------------------------------- */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A LiteLLM-shaped document of n models with spread-out limits, prices and capabilities. */
static char *synthetic_models(int64_t n) {
    size_t cap = (size_t)n * 400 + 16, len = 0;
    char *json = malloc(cap);
    if (!json) return NULL;
    len += (size_t)snprintf(json, cap, "{");
    static const int64_t contexts[] = {8192, 32768, 128000, 200000, 1000000};
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: reproducible spread */
        double price_in = (double)(x % 10000) / 1e10 + 1e-8;
        len += (size_t)snprintf(
            json + len, cap - len,
            "%s\"bench/model-%06lld\": {\"litellm_provider\": \"bench\", \"mode\": \"chat\", "
            "\"max_input_tokens\": %lld, \"max_output_tokens\": %d, \"input_cost_per_token\": "
            "%.10g, \"output_cost_per_token\": %.10g, \"supports_function_calling\": %s, "
            "\"supports_vision\": %s, \"supports_response_schema\": %s}",
            i ? ", " : "", (long long)i, (long long)contexts[x % 5], 4096 << (x >> 8) % 3,
            price_in, price_in * 4, (x >> 16) % 2 ? "true" : "false",
            (x >> 20) % 3 == 0 ? "true" : "false", (x >> 24) % 2 ? "true" : "false");
    }
    snprintf(json + len, cap - len, "}");
    return json;
}

static int cmd_bench(int argc, char **argv) {
    int64_t n_models = 10000, n_routes = 2000;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) {
            if (!parse_i64(argv[++i], &n_models) || n_models < 1) return usage("--models: bad");
        } else if (strcmp(argv[i], "--routes") == 0 && i + 1 < argc) {
            if (!parse_i64(argv[++i], &n_routes) || n_routes < 1) return usage("--routes: bad");
        } else {
            return usage("bench: unknown option %s", argv[i]);
        }
    }
    const char *tmp = getenv("TMPDIR");
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/pyagent-registry-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "pyagent-registry: %s: %s\n", dir, strerror(errno));
        return EXIT_LIBRARY;
    }
    snprintf(path, sizeof path, "%s/bench.db", dir);
    pyagent_registry *reg = NULL;
    char *json = synthetic_models(n_models);
    double *times = malloc((size_t)n_routes * sizeof *times);
    pyagent_params *need = pyagent_params_create(PYAGENT_PARAMS_ROUTE);
    int rc = 0;
    pyagent_status st = json && times && need ? pyagent_registry_open(path, NULL, &reg)
                                              : PYAGENT_ERR_OUT_OF_MEMORY;
    double t_import = now_seconds();
    if (!st) st = pyagent_registry_import_json(reg, json, strlen(json), "bench", 1750000000, 1,
                                               NULL, NULL, NULL);
    t_import = now_seconds() - t_import;
    double t_first = 0;
    int64_t qualified = 0, chosen = 0;
    for (int64_t r = 0; !st && r < n_routes; r++) {
        /* requests that vary: context, output, tools, vision, JSON mode, budget */
        pyagent_params_set_i64(need, "context_tokens", 1000 + (r * 7919) % 150000);
        pyagent_params_set_i64(need, "output_tokens", 100 + (r * 104729) % 8000);
        pyagent_params_set_i64(need, "need_tools", r % 2);
        pyagent_params_set_i64(need, "need_vision", r % 3 == 0);
        pyagent_params_set_i64(need, "need_json_mode", r % 5 == 0);
        pyagent_route *route = NULL;
        double t = now_seconds();
        pyagent_status rst = pyagent_registry_route(reg, need, &route);
        t = now_seconds() - t;
        if (rst != PYAGENT_OK && rst != PYAGENT_ERR_NO_MODEL) st = rst;
        pyagent_route_summary s = {.struct_size = sizeof s};
        if (route && pyagent_route_summary_get(route, &s) == PYAGENT_OK) qualified += s.n_qualified;
        chosen += rst == PYAGENT_OK;
        pyagent_route_destroy(route);
        if (r == 0) t_first = t;
        times[r] = t;
    }
    /* a write, then a route: the table reloads only the model written */
    double t_after_write = 0;
    if (!st) st = pyagent_registry_record_f64(reg, "bench/model-000000", "quality", 0.5, "bench",
                                              1750000000, 1);
    if (!st) {
        pyagent_route *route = NULL;
        t_after_write = now_seconds();
        pyagent_status rst = pyagent_registry_route(reg, need, &route);
        t_after_write = now_seconds() - t_after_write;
        if (rst != PYAGENT_OK && rst != PYAGENT_ERR_NO_MODEL) st = rst;
        pyagent_route_destroy(route);
    }
    if (st) {
        rc = library_error(reg, st, "bench");
    } else {
        /* the first route loads the table; the rest are what a host sees */
        int64_t n = n_routes > 1 ? n_routes - 1 : 1;
        double *warm = n_routes > 1 ? times + 1 : times, sum = 0;
        for (int64_t i = 0; i < n; i++) sum += warm[i];
        qsort(warm, (size_t)n, sizeof *warm, compare_doubles);
        printf("routing over %lld models (%lld requests; import %.2f s, first route with table "
               "load %.2f ms):\n", (long long)n_models, (long long)n_routes, t_import,
               t_first * 1e3);
        printf("  per route: median %.1f us, p90 %.1f us, p99 %.1f us, max %.1f us, mean %.1f "
               "us\n", warm[n / 2] * 1e6, warm[n * 9 / 10] * 1e6, warm[n * 99 / 100] * 1e6,
               warm[n - 1] * 1e6, sum / (double)n * 1e6);
        printf("  %.0f qualifying models per request on average; %lld of %lld requests "
               "routed; a route right after a write %.2f ms\n",
               (double)qualified / (double)n_routes, (long long)chosen, (long long)n_routes,
               t_after_write * 1e3);
    }
    pyagent_params_destroy(need);
    pyagent_registry_destroy(reg);
    free(times);
    free(json);
    char side[640];
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(side, sizeof side, "%s%s", path, suffixes[i]);
        remove(side);
    }
    rmdir(dir);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    if (pyagent_check_abi(PYAGENT_ABI_VERSION) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-registry: libpyagent's ABI %d is not this program's %d\n",
                pyagent_abi_version(), PYAGENT_ABI_VERSION);
        return EXIT_LIBRARY;
    }
    const char *db = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) db = argv[++i];
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else return usage("unknown option %s", argv[i]);
    }
    if (i == argc) return usage("which command?");
    const char *cmd = argv[i++];
    int sub_argc = argc - i;
    char **sub_argv = argv + i;
    if (strcmp(cmd, "bench") == 0) return cmd_bench(sub_argc, sub_argv);
    if (!db) return usage("--db FILE is needed");

    pyagent_params *params = pyagent_params_create(PYAGENT_PARAMS_REGISTRY);
    if (!params) return EXIT_LIBRARY;
    for (int k = 0; k + 1 < sub_argc; k++)
        if (strcmp(sub_argv[k], "--period-days") == 0) {
            double days;
            if (!parse_f64(sub_argv[k + 1], &days) ||
                pyagent_params_set_i64(params, "check_period_s", (int64_t)(days * 86400))) {
                pyagent_params_destroy(params);
                return usage("--period-days: bad value %s", sub_argv[k + 1]);
            }
        }
    bool reads_only = strcmp(cmd, "list") == 0 || strcmp(cmd, "export") == 0 ||
                      strcmp(cmd, "route") == 0 || strcmp(cmd, "due") == 0;
    if (reads_only && access(db, F_OK) == 0) pyagent_params_set_i64(params, "read_only", 1);
    pyagent_registry *reg = NULL;
    pyagent_status st = pyagent_registry_open(db, params, &reg);
    pyagent_params_destroy(params);
    int rc;
    if (st) rc = library_error(reg, st, "open");
    else if (strcmp(cmd, "list") == 0) rc = sub_argc ? usage("list takes no options")
                                                    : cmd_list(reg);
    else if (strcmp(cmd, "add") == 0) rc = cmd_add(reg, sub_argc, sub_argv);
    else if (strcmp(cmd, "import") == 0) rc = cmd_import(reg, sub_argc, sub_argv);
    else if (strcmp(cmd, "export") == 0) rc = cmd_export(reg, sub_argc, sub_argv);
    else if (strcmp(cmd, "route") == 0) rc = cmd_route(reg, sub_argc, sub_argv);
    else if (strcmp(cmd, "due") == 0) rc = cmd_due(reg, sub_argc, sub_argv);
    else if (strcmp(cmd, "check") == 0) rc = cmd_check(reg, sub_argc, sub_argv);
    else rc = usage("unknown command %s", cmd);
    pyagent_registry_destroy(reg);
    return rc;
}
