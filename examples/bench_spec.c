/*
 * pyagent-bench --spec DRAFTER: speculative decoding against plain decoding.
 *
 *   pyagent-bench -m target.gguf --spec lookup|self|draft:FILE.gguf [--prompt TEXT ...] [-n 128]
 *                 [-t 2] [-r 3] [--budgets 8,16,32,60] [--top-k K] [--depth D] [--min-p P]
 *                 [--json]
 *
 * --top-k and --depth set the builders' spec_top_k (EAGLE-2, TALON) or spec_width (static) and
 * spec_depth for every row (default: the library's: 10 wide, 2 for static, depth 8); with
 * --top-k 1 every builder drafts a chain. --min-p sets spec_min_p (default 0: no floor).
 *
 * For every tree builder (static, EAGLE-2, TALON) and node budget N (default 8, 16, 32, 60), an
 * agent generates n tokens greedily from each prompt (output equal to plain decoding's, which
 * the bench checks) and reports the mean accepted length (tokens per verification step), target
 * forward passes per generated token, and tokens/s over all prompts against plain decoding in
 * the same run. --prompt may be given up to 8 times; without it, the five prompts of the pycode
 * pair's reference.json (tests/data/pycode-reference.json), the set its draft/target argmax
 * agreement (69-96 %) was measured on.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pyagent/pyagent.h>

#include "bench_spec.h"

#define MAX_GEN 4096

#define MAX_BUDGETS 8
#define MAX_PROMPTS 8

static const char *const REFERENCE_PROMPTS[] = {
    "def fibonacci(n):\n", "import os\nimport sys\n\n", "class Stack:\n    def __init__(self):\n",
    "    for i in range(len(items)):\n", "# Copyright"};

typedef struct spec_options {
    const char *model, *draft;
    const char *prompts[MAX_PROMPTS];
    int n_prompts;
    int64_t drafter, n_gen, threads, reps;
    int64_t budgets[MAX_BUDGETS];
    int n_budgets;
    int64_t top_k, depth; /* 0: the library's defaults */
    double min_p;
    bool json;
} spec_options;

typedef struct spec_result {
    double tps, accepted_len, forwards_per_token;
    bool same_text;
} spec_result;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "pyagent-bench: %s: %s\n", what, msg);
    exit(1);
}

static spec_options parse(int argc, char **argv) {
    spec_options o = {.n_gen = 128, .threads = 0, .reps = 3, .budgets = {8, 16, 32, 60},
                      .n_budgets = 4};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--json")) { o.json = true; continue; }
        if (!v) die(f, "needs a value");
        i++;
        if (!strcmp(f, "-m")) o.model = v;
        else if (!strcmp(f, "--prompt")) {
            if (o.n_prompts == MAX_PROMPTS) die("--prompt", "at most 8");
            o.prompts[o.n_prompts++] = v;
        }
        else if (!strcmp(f, "-n")) o.n_gen = atoll(v);
        else if (!strcmp(f, "-t")) o.threads = atoll(v);
        else if (!strcmp(f, "-r")) o.reps = atoll(v);
        else if (!strcmp(f, "--top-k")) o.top_k = atoll(v);
        else if (!strcmp(f, "--depth")) o.depth = atoll(v);
        else if (!strcmp(f, "--min-p")) o.min_p = atof(v);
        else if (!strcmp(f, "--budgets")) {
            o.n_budgets = 0;
            for (const char *at = v; at && *at; at = strchr(at, ',') ? strchr(at, ',') + 1 : NULL) {
                if (o.n_budgets == MAX_BUDGETS) die("--budgets", "at most 8");
                o.budgets[o.n_budgets++] = atoll(at);
            }
        }
        else if (!strcmp(f, "--spec")) {
            if (!strcmp(v, "lookup")) o.drafter = PYAGENT_SPEC_LOOKUP;
            else if (!strcmp(v, "self")) o.drafter = PYAGENT_SPEC_SELF;
            else if (!strncmp(v, "draft:", 6) && v[6]) o.drafter = PYAGENT_SPEC_DRAFT, o.draft = v + 6;
            else die("--spec", "lookup, self or draft:FILE.gguf");
        } else die(f, "unknown flag for --spec");
    }
    if (!o.model) die("-m", "a model is required");
    if (o.n_prompts == 0)
        for (size_t i = 0; i < sizeof REFERENCE_PROMPTS / sizeof *REFERENCE_PROMPTS; i++)
            o.prompts[o.n_prompts++] = REFERENCE_PROMPTS[i];
    if (o.n_gen < 1 || o.n_gen > MAX_GEN || o.reps < 1) die("-n/-r", "out of range");
    for (int b = 0; b < o.n_budgets; b++)
        if (o.budgets[b] < 1 || o.budgets[b] > 64) die("--budgets", "each in [1, 64]");
    if (o.top_k < 0 || o.top_k > 64 || o.depth < 0 || o.depth > 64)
        die("--top-k/--depth", "in [1, 64]");
    return o;
}

typedef struct tokens {
    int32_t ids[MAX_GEN];
    int n;
} tokens;

static void collect(void *ud, int32_t token, const char *text, size_t len) {
    (void)text, (void)len;
    tokens *t = ud;
    if (t->n < MAX_GEN) t->ids[t->n++] = token;
}

/* Greedy generation of every prompt's continuation; tokens/s over all prompts (the best of the
 * repetitions) and the statistics summed over them. */
static spec_result measure(pyagent_engine *e, const spec_options *o, int64_t drafter,
                           int64_t tree, int64_t budget, const tokens *reference, tokens *out) {
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 0);
    pyagent_params_set_i64(s, "spec", drafter);
    pyagent_params_set_i64(s, "spec_tree", tree);
    pyagent_params_set_i64(s, "spec_budget", budget);
    if (o->top_k) pyagent_params_set_i64(s, tree == PYAGENT_SPEC_TREE_STATIC ? "spec_width" : "spec_top_k", o->top_k);
    if (o->depth) pyagent_params_set_i64(s, "spec_depth", o->depth);
    if (pyagent_params_set_f64(s, "spec_min_p", o->min_p) != PYAGENT_OK)
        die("--min-p", "in [0, 1]");
    spec_result r = {.same_text = true};
    for (int64_t rep = 0; rep < o->reps; rep++) {
        int64_t n_tokens = 0, accepted = 0, steps = 0, generated = 0;
        double seconds = 0;
        for (int p = 0; p < o->n_prompts; p++) {
            pyagent_agent *a = NULL;
            if (pyagent_agent_create(e, s, &a) != PYAGENT_OK)
                die("agent", pyagent_engine_last_error(e));
            tokens got = {.n = 0};
            if (pyagent_agent_feed_text(a, o->prompts[p], -1) != PYAGENT_OK ||
                pyagent_agent_prefill(a) != PYAGENT_OK)
                die("prompt", pyagent_agent_last_error(a));
            const double t0 = now_s();
            if (pyagent_agent_generate(a, (int32_t)o->n_gen, collect, &got, NULL) != PYAGENT_OK)
                die("generate", pyagent_agent_last_error(a));
            seconds += now_s() - t0;
            n_tokens += got.n;
            pyagent_agent_stats st = {.struct_size = sizeof st};
            pyagent_agent_stats_get(a, &st);
            accepted += st.n_accepted_tokens;
            steps += st.n_verify_steps;
            generated += st.n_generated_tokens;
            if (reference && (got.n != reference[p].n ||
                              memcmp(got.ids, reference[p].ids, sizeof(int32_t) * (size_t)got.n)))
                r.same_text = false;
            if (out) out[p] = got;
            pyagent_agent_destroy(a);
        }
        const double tps = (double)n_tokens / seconds;
        if (tps > r.tps) r.tps = tps;
        r.accepted_len = steps ? (double)(accepted + steps) / (double)steps : 1.0;
        r.forwards_per_token = (double)(generated - accepted) / (double)generated;
    }
    pyagent_params_destroy(s);
    return r;
}

int pa_bench_spec_main(int argc, char **argv) {
    spec_options o = parse(argc, argv);
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_threads", o.threads);
    pyagent_engine *e = NULL;
    if (pyagent_engine_open(o.model, p, &e) != PYAGENT_OK) die(o.model, pyagent_engine_last_error(e));
    pyagent_params_destroy(p);
    if (o.draft && pyagent_engine_load_draft(e, o.draft) != PYAGENT_OK)
        die(o.draft, pyagent_engine_last_error(e));

    static tokens plain_tokens[MAX_PROMPTS];
    const spec_result plain = measure(e, &o, PYAGENT_SPEC_OFF, 0, 1, NULL, plain_tokens);
    static const char *const trees[] = {"static", "eagle2", "talon"};
    if (o.json) printf("[{\"tree\": \"plain\", \"budget\": 0, \"tps\": %.2f}", plain.tps);
    else
        printf("plain decoding: %.1f tokens/s (%d prompts x %" PRId64 " tokens)\n\n"
               "| tree   |  N | accepted/step | forwards/token |   t/s | x plain | same text |\n"
               "| ------ | -: | ------------: | -------------: | ----: | ------: | --------- |\n",
               plain.tps, o.n_prompts, o.n_gen);
    for (int t = 0; t < 3; t++)
        for (int b = 0; b < o.n_budgets; b++) {
            const int64_t budget = o.budgets[b];
            spec_result r = measure(e, &o, o.drafter, t, budget, plain_tokens, NULL);
            if (o.json)
                printf(",\n {\"tree\": \"%s\", \"budget\": %" PRId64 ", \"tps\": %.2f, "
                       "\"accepted_per_step\": %.3f, \"forwards_per_token\": %.3f, "
                       "\"speedup\": %.3f, \"same_text\": %s}",
                       trees[t], budget, r.tps, r.accepted_len, r.forwards_per_token,
                       r.tps / plain.tps, r.same_text ? "true" : "false");
            else
                printf("| %-6s | %2" PRId64 " | %13.2f | %14.3f | %5.1f | %7.2f | %-9s |\n",
                       trees[t], budget, r.accepted_len, r.forwards_per_token, r.tps,
                       r.tps / plain.tps, r.same_text ? "yes" : "NO");
        }
    if (o.json) printf("]\n");
    pyagent_engine_destroy(e);
    return 0;
}
