/*
 * pyagent-bench's multi-agent workload (pyagent-bench --agents A ...):
 *
 *   A agents share a system prompt of P tokens, each adds Q tokens of its own and generates G
 *   tokens greedily (EOS ignored is not possible through the API, so the count of tokens
 *   actually generated is reported). Token ids are random but seeded.
 *
 *   default          all agents in one engine, prefilled together, then decoded together in
 *                    one batch per step (continuous batching), prefix cache on
 *   --no-prefix-cache  the same without reusing the shared prompt's blocks
 *   --sequential     one agent after another (each prefilled and decoded alone)
 *   --huge-pages 1   engine param huge_pages: the weights read into 2 MiB pages
 *
 * Prints wall time, aggregate generation tokens/s, prompt tokens requested vs computed and the
 * peak KV memory; --json prints the same as one JSON object.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pyagent/pyagent.h>

#include "bench_agents.h"

typedef struct workload {
    const char *model;
    int64_t agents, prefix, own, gen, threads, n_batch, huge_pages;
    bool prefix_cache, sequential, json;
} workload;

typedef struct result {
    double wall_s, prefill_s, decode_s;
    int64_t generated, prompt_requested, prompt_computed, kv_peak_bytes;
} result;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "pyagent-bench: %s: %s\n", what, msg);
    exit(1);
}

static int64_t flag_value(int argc, char **argv, int *i, int64_t min) {
    if (*i + 1 >= argc) die(argv[*i], "needs a value");
    char *end;
    long long v = strtoll(argv[++*i], &end, 10);
    if (*end || v < min) die(argv[*i - 1], "bad value");
    return v;
}

static workload parse(int argc, char **argv) {
    workload w = {.agents = 16, .prefix = 1024, .own = 64, .gen = 128, .threads = 0,
                  .n_batch = 512, .prefix_cache = true};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "-m") && i + 1 < argc) w.model = argv[++i];
        else if (!strcmp(f, "--agents")) w.agents = flag_value(argc, argv, &i, 1);
        else if (!strcmp(f, "--shared-prefix")) w.prefix = flag_value(argc, argv, &i, 0);
        else if (!strcmp(f, "--own")) w.own = flag_value(argc, argv, &i, 0);
        else if (!strcmp(f, "--gen")) w.gen = flag_value(argc, argv, &i, 0);
        else if (!strcmp(f, "-t")) w.threads = flag_value(argc, argv, &i, 0);
        else if (!strcmp(f, "-b")) w.n_batch = flag_value(argc, argv, &i, 1);
        else if (!strcmp(f, "--no-prefix-cache")) w.prefix_cache = false;
        else if (!strcmp(f, "--sequential")) w.sequential = true;
        else if (!strcmp(f, "--huge-pages")) w.huge_pages = flag_value(argc, argv, &i, 0);
        else if (!strcmp(f, "--json")) w.json = true;
        else die(f, "unknown flag for the multi-agent workload");
    }
    if (!w.model) die("-m", "a model is required");
    if (w.prefix + w.own == 0) die("--shared-prefix/--own", "the prompt is empty");
    return w;
}

static pyagent_engine *open_with_kv(const workload *w, int64_t kv_bytes) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_threads", w->threads);
    pyagent_params_set_i64(p, "n_batch", w->n_batch);
    pyagent_params_set_i64(p, "n_ctx", w->prefix + w->own + w->gen + 1);
    pyagent_params_set_i64(p, "prefix_cache", w->prefix_cache);
    pyagent_params_set_i64(p, "kv_type", PYAGENT_KV_F16);
    pyagent_params_set_i64(p, "kv_bytes", kv_bytes);
    if (pyagent_params_set_i64(p, "huge_pages", w->huge_pages) != PYAGENT_OK)
        die("--huge-pages", pyagent_params_last_error(p));
    pyagent_engine *e = NULL;
    if (pyagent_engine_open(w->model, p, &e) != PYAGENT_OK)
        die(w->model, pyagent_engine_last_error(e));
    pyagent_params_destroy(p);
    return e;
}

/* An engine whose KV pool holds every agent's whole sequence at once (the block size in bytes
 * depends on the model, so a first engine with a one-sequence pool tells it). */
static pyagent_engine *open_sized_engine(const workload *w) {
    pyagent_engine *probe = open_with_kv(w, 0);
    pyagent_kv_stats ks = {.struct_size = sizeof ks};
    pyagent_kv_store_stats_get(pyagent_engine_kv_store(probe), &ks);
    pyagent_engine_destroy(probe);
    const int64_t blocks_per_agent = (w->prefix + w->own + w->gen + 1) / ks.block_size + 2;
    return open_with_kv(w, blocks_per_agent * w->agents * ks.block_bytes);
}

static void random_ids(int32_t *ids, int64_t n, int64_t n_vocab, uint64_t *state) {
    for (int64_t i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = 3 + (int32_t)((*state >> 33) % (uint64_t)(n_vocab - 3));
    }
}

/* Steps the engine until no submitted request is running. */
static void run_steps(pyagent_engine *e) {
    int32_t active = 1;
    while (active > 0)
        if (pyagent_engine_step(e, &active) != PYAGENT_OK) die("step", pyagent_engine_last_error(e));
}

static void check(pyagent_agent *a, pyagent_status st, const char *what) {
    if (st != PYAGENT_OK) die(what, pyagent_agent_last_error(a));
}

static result run(const workload *w) {
    pyagent_engine *e = open_sized_engine(w);
    int64_t n_vocab = 0;
    pyagent_engine_info(e, "n_vocab", &n_vocab);
    pyagent_params *greedy = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(greedy, "temperature", 0);

    uint64_t rng = 42;
    int32_t *prefix = malloc((size_t)(w->prefix + 1) * sizeof *prefix);
    int32_t *own = malloc((size_t)(w->own + 1) * sizeof *own);
    random_ids(prefix, w->prefix, n_vocab, &rng);
    pyagent_agent **agents = calloc((size_t)w->agents, sizeof *agents);

    result r = {.prompt_requested = w->agents * (w->prefix + w->own)};
    double t0 = now_s();
    for (int64_t i = 0; i < w->agents; i++) {
        pyagent_agent *a = NULL;
        if (pyagent_agent_create(e, greedy, &a) != PYAGENT_OK)
            die("agent", pyagent_engine_last_error(e));
        agents[i] = a;
        random_ids(own, w->own, n_vocab, &rng);
        check(a, pyagent_agent_feed_tokens(a, prefix, (size_t)w->prefix), "feed");
        check(a, pyagent_agent_feed_tokens(a, own, (size_t)w->own), "feed");
        if (w->sequential) { /* this agent alone: prefill, then generate */
            double t = now_s();
            check(a, pyagent_agent_prefill(a), "prefill");
            r.prefill_s += now_s() - t;
            t = now_s();
            check(a, pyagent_agent_generate(a, (int32_t)w->gen, NULL, NULL, NULL), "generate");
            r.decode_s += now_s() - t;
        }
    }
    if (!w->sequential) { /* everyone together: prefill, then decode in one batch per step */
        double t = now_s();
        for (int64_t i = 0; i < w->agents; i++)
            check(agents[i], pyagent_agent_submit(agents[i], 0, NULL, NULL), "submit");
        run_steps(e);
        r.prefill_s = now_s() - t;
        t = now_s();
        for (int64_t i = 0; i < w->agents; i++)
            check(agents[i], pyagent_agent_submit(agents[i], (int32_t)w->gen, NULL, NULL),
                  "submit");
        run_steps(e);
        r.decode_s = now_s() - t;
    }
    r.wall_s = now_s() - t0;

    for (int64_t i = 0; i < w->agents; i++) {
        int32_t finish;
        check(agents[i], pyagent_agent_poll(agents[i], &finish), "request");
        pyagent_agent_stats st = {.struct_size = sizeof st};
        pyagent_agent_stats_get(agents[i], &st);
        r.generated += st.n_generated_tokens;
    }
    pyagent_kv_stats ks = {.struct_size = sizeof ks};
    pyagent_kv_store_stats_get(pyagent_engine_kv_store(e), &ks);
    r.prompt_computed = ks.n_prompt_tokens_computed;
    r.kv_peak_bytes = ks.peak_used_bytes;

    for (int64_t i = 0; i < w->agents; i++) pyagent_agent_destroy(agents[i]);
    free(agents);
    free(prefix);
    free(own);
    pyagent_params_destroy(greedy);
    pyagent_engine_destroy(e);
    return r;
}

int pa_bench_agents_main(int argc, char **argv) {
    workload w = parse(argc, argv);
    result r = run(&w);
    const double gen_tok_s = r.decode_s > 0 ? (double)r.generated / r.decode_s : 0;
    const char *mode = w.sequential ? "sequential" : "batched";
    if (w.json) {
        printf("{\"model\": \"%s\", \"mode\": \"%s\", \"prefix_cache\": %s, "
               "\"huge_pages\": %" PRId64 ", \"agents\": %" PRId64 ", \"shared_prefix\": %" PRId64
               ", \"own\": %" PRId64 ", \"gen\": %" PRId64
               ", \"wall_s\": %.4f, \"prefill_s\": %.4f, \"decode_s\": %.4f, "
               "\"generated_tokens\": %" PRId64 ", \"gen_tok_s\": %.2f, "
               "\"prompt_tokens_requested\": %" PRId64 ", \"prompt_tokens_computed\": %" PRId64
               ", \"kv_peak_bytes\": %" PRId64 "}\n",
               w.model, mode, w.prefix_cache ? "true" : "false", w.huge_pages, w.agents, w.prefix,
               w.own, w.gen, r.wall_s, r.prefill_s, r.decode_s, r.generated, gen_tok_s,
               r.prompt_requested, r.prompt_computed, r.kv_peak_bytes);
    } else {
        printf("%s, prefix cache %s: %" PRId64 " agents x (%" PRId64 " shared + %" PRId64
               " own prompt tokens, %" PRId64 " generated)\n",
               mode, w.prefix_cache ? "on" : "off", w.agents, w.prefix, w.own, w.gen);
        printf("  wall time          %8.2f s (prefill %.2f s, decode %.2f s)\n", r.wall_s,
               r.prefill_s, r.decode_s);
        printf("  generation         %8.1f tokens/s aggregate (%" PRId64 " tokens)\n", gen_tok_s,
               r.generated);
        printf("  prompt tokens      %8" PRId64 " computed of %" PRId64 " requested\n",
               r.prompt_computed, r.prompt_requested);
        printf("  peak KV memory     %8.1f MiB\n", (double)r.kv_peak_bytes / (1 << 20));
    }
    return 0;
}
