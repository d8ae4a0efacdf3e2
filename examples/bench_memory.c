/*
 * pyagent-bench's memory workload (pyagent-bench --memory -m MODEL ...):
 *
 *   KV bytes per agent against context length: for each context C and each policy (F16 KV,
 *   Q8_0 KV, F16 with the kv_window pruning policy at the --budget fraction of C, 4 sinks), one
 *   agent is fed C random token ids (seeded) and prefilled; its bytes are the KV blocks it holds
 *   (the store's blocks in use x block bytes), next to F16's.
 *
 *   With --agreement STORIES.gguf: greedy agreement with the unpruned F16 run over --gen tokens
 *   (default 256) from "Once upon a time" at context 512, for each policy at the same budget
 *   fraction: the share of positions with the same token, and the first one that differs.
 *
 *   --contexts N,...  context lengths (default 1024,4096)
 *   --budget F        pruning budget as a fraction of the context (default 0.25)
 *   -t N              threads (default 0 = the cores)
 *   --json            one JSON object per line
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pyagent/pyagent.h>

#include "bench_memory.h"

#define MAX_CONTEXTS 8
#define MAX_GEN 2048

typedef struct memory_options {
    const char *model, *stories;
    int64_t contexts[MAX_CONTEXTS];
    int n_contexts;
    double budget;
    int64_t threads, gen;
    bool json;
} memory_options;

typedef struct policy {
    const char *name;
    int64_t kv_type;
    bool window;
} policy;

static const policy POLICIES[] = {
    {"f16", PYAGENT_KV_F16, false},
    {"q8_0", PYAGENT_KV_Q8_0, false},
    {"f16+window", PYAGENT_KV_F16, true},
};
#define N_POLICIES (sizeof POLICIES / sizeof POLICIES[0])
#define SINKS 4

static void die(const char *what, const char *msg) {
    fprintf(stderr, "pyagent-bench --memory: %s: %s\n", what, msg);
    exit(1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double number(const char *flag, const char *text, double min, double max) {
    char *end = NULL;
    errno = 0;
    const double v = strtod(text, &end);
    if (errno || end == text || (*end && *end != ',') || !(v >= min && v <= max))
        die(flag, "not a number in range");
    return v;
}

static memory_options parse(int argc, char **argv) {
    memory_options o = {.contexts = {1024, 4096}, .n_contexts = 2, .budget = 0.25, .gen = 256};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--memory")) continue;
        if (!strcmp(f, "--json")) {
            o.json = true;
            continue;
        }
        if (!v) die(f, "needs a value");
        i++;
        if (!strcmp(f, "-m") || !strcmp(f, "--model")) o.model = v;
        else if (!strcmp(f, "--agreement")) o.stories = v;
        else if (!strcmp(f, "--budget")) o.budget = number(f, v, 0.01, 1);
        else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) o.threads = (int64_t)number(f, v, 0, 1024);
        else if (!strcmp(f, "--gen")) o.gen = (int64_t)number(f, v, 1, MAX_GEN);
        else if (!strcmp(f, "--contexts")) {
            o.n_contexts = 0;
            for (const char *at = v; at; at = strchr(at, ',') ? strchr(at, ',') + 1 : NULL) {
                if (o.n_contexts == MAX_CONTEXTS) die(f, "at most 8");
                o.contexts[o.n_contexts++] = (int64_t)number(f, at, 64, 1 << 20);
            }
        } else die(f, "unknown flag (--memory takes -m, --contexts, --budget, --agreement, "
                      "--gen, -t, --json)");
    }
    if (!o.model && !o.stories) die("-m", "a model is required");
    return o;
}

static pyagent_engine *open_engine(const char *path, int64_t kv_type, int64_t n_ctx,
                                   int64_t threads) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_threads", threads);
    pyagent_params_set_i64(p, "n_ctx", n_ctx);
    pyagent_params_set_i64(p, "kv_type", kv_type);
    pyagent_params_set_i64(p, "kv_bytes", 0); /* one n_ctx sequence */
    pyagent_params_set_i64(p, "prefix_cache", 0);
    pyagent_engine *e = NULL;
    if (pyagent_engine_open(path, p, &e) != PYAGENT_OK) die(path, pyagent_engine_last_error(e));
    pyagent_params_destroy(p);
    return e;
}

static pyagent_agent *make_agent(pyagent_engine *e, int64_t window) {
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 0);
    pyagent_params_set_i64(s, "kv_window", window);
    pyagent_params_set_i64(s, "kv_sinks", SINKS);
    pyagent_agent *a = NULL;
    if (pyagent_agent_create(e, s, &a) != PYAGENT_OK) die("agent", pyagent_engine_last_error(e));
    pyagent_params_destroy(s);
    return a;
}

/* The window that holds `budget` of n positions, sinks included. */
static int64_t window_for(double budget, int64_t n) {
    const int64_t w = (int64_t)(budget * (double)n) - SINKS;
    return w > 1 ? w : 1;
}

static int64_t bytes_in_use(pyagent_engine *e) {
    pyagent_kv_stats st = {.struct_size = sizeof st};
    pyagent_kv_store_stats_get(pyagent_engine_kv_store(e), &st);
    return st.n_used * st.block_bytes;
}

static void kv_bytes(const memory_options *o) {
    for (int c = 0; c < o->n_contexts; c++) {
        const int64_t n = o->contexts[c];
        int32_t *ids = malloc((size_t)n * sizeof *ids);
        uint64_t x = 0x5eedull;
        int64_t f16_bytes = 0;
        for (size_t p = 0; p < N_POLICIES; p++) {
            pyagent_engine *e = open_engine(o->model, POLICIES[p].kv_type, n + 8, o->threads);
            int64_t n_vocab = 0;
            pyagent_engine_info(e, "n_vocab", &n_vocab);
            for (int64_t i = 0; p == 0 && i < n; i++) { /* once: the same for every policy */
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                ids[i] = (int32_t)(3 + (x >> 33) % (uint64_t)(n_vocab - 3));
            }
            pyagent_agent *a = make_agent(e, POLICIES[p].window ? window_for(o->budget, n) : 0);
            const double t0 = now_s();
            if (pyagent_agent_feed_tokens(a, ids, (size_t)n) != PYAGENT_OK ||
                pyagent_agent_prefill(a) != PYAGENT_OK)
                die("prefill", pyagent_agent_last_error(a));
            const double seconds = now_s() - t0;
            const int64_t bytes = bytes_in_use(e);
            if (p == 0) f16_bytes = bytes;
            if (o->json)
                printf("{\"context\": %lld, \"policy\": \"%s\", \"kv_bytes\": %lld, "
                       "\"vs_f16\": %.4f, \"prefill_s\": %.3f}\n",
                       (long long)n, POLICIES[p].name, (long long)bytes,
                       (double)bytes / (double)f16_bytes, seconds);
            else
                printf("| %6lld | %-10s | %12.2f | %6.3f | %8.2f |\n", (long long)n,
                       POLICIES[p].name, (double)bytes / 1048576.0,
                       (double)bytes / (double)f16_bytes, seconds);
            fflush(stdout);
            pyagent_agent_destroy(a);
            pyagent_engine_destroy(e);
        }
        free(ids);
    }
}

typedef struct id_list {
    int32_t ids[MAX_GEN];
    int n;
} id_list;

static void collect(void *ud, int32_t token, const char *text, size_t len) {
    (void)text, (void)len;
    id_list *l = ud;
    if (l->n < MAX_GEN) l->ids[l->n++] = token;
}

static id_list greedy_run(const memory_options *o, const policy *pol, int64_t n_ctx) {
    pyagent_engine *e = open_engine(o->stories, pol->kv_type, n_ctx, o->threads);
    pyagent_agent *a = make_agent(e, pol->window ? window_for(o->budget, n_ctx) : 0);
    id_list out = {.n = 0};
    if (pyagent_agent_feed_text(a, "Once upon a time", -1) != PYAGENT_OK ||
        pyagent_agent_generate(a, (int32_t)o->gen, collect, &out, NULL) != PYAGENT_OK)
        die("generate", pyagent_agent_last_error(a));
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
    return out;
}

static void agreement(const memory_options *o) {
    const int64_t n_ctx = 512;
    static id_list base;
    base = greedy_run(o, &POLICIES[0], n_ctx);
    for (size_t p = 1; p < N_POLICIES; p++) {
        const id_list got = greedy_run(o, &POLICIES[p], n_ctx);
        int same = 0, first_diff = -1;
        for (int i = 0; i < base.n && i < got.n; i++) {
            if (base.ids[i] == got.ids[i]) same++;
            else if (first_diff < 0) first_diff = i;
        }
        const double share = (double)same / (double)base.n;
        if (o->json)
            printf("{\"agreement_policy\": \"%s\", \"context\": %lld, \"budget\": %.3f, "
                   "\"tokens\": %d, \"same\": %d, \"share\": %.4f, \"first_difference\": %d}\n",
                   POLICIES[p].name, (long long)n_ctx, o->budget, base.n, same, share,
                   first_diff);
        else
            printf("greedy agreement with f16 over %d tokens (stories260K, context %lld, budget "
                   "%.0f%%): %-10s %5.1f%% (first difference at token %d)\n",
                   base.n, (long long)n_ctx, 100 * o->budget, POLICIES[p].name, 100 * share,
                   first_diff);
    }
}

int pa_bench_memory_main(int argc, char **argv) {
    const memory_options o = parse(argc, argv);
    if (o.model) {
        if (!o.json)
            printf("| context | policy     | KV MiB/agent | x f16  | prefill s |\n"
                   "| ------: | ---------- | -----------: | -----: | --------: |\n");
        kv_bytes(&o);
    }
    if (o.stories) agreement(&o);
    return 0;
}
