/*
 * pyagent-bench's memory workload (pyagent-bench --memory -m MODEL ...):
 *
 *   KV bytes per agent against context length: for each context C and each policy (F16 KV,
 *   Q8_0 KV, and F16 with a pruning policy at the --budget fraction of C: the window policy
 *   (4 sinks + a recent window), H2O and KVzap (4 sinks + a recent window of half the rest +
 *   as many landmarks per (layer, kv head)), H2O with entropy budgets), one agent is fed C
 *   random token ids (seeded) and prefilled; its bytes are the KV blocks it holds (the store's
 *   blocks in use x block bytes) plus its landmark rows and scores, next to F16's, and then
 *   generates 32 greedy tokens for its decode tokens/s at that context. KVzap needs
 *   --kvzap FILE, a surrogate fitted for the model (pyagent-kvzap-fit); without it, no row.
 *
 *   With --agreement STORIES.gguf: greedy agreement with the unpruned F16 run over --gen tokens
 *   (default 256) from each of four story openings at context 512, for each policy at the same
 *   budget fraction: the share of positions with the same token (over all four), the lowest
 *   share of one opening, and the mean position of the first difference. Free-running greedy
 *   text diverges for good at its first near-tie, so the f32 row (unpruned F32 KV, which only
 *   rounds differently) shows how much of a disagreement rounding alone causes; and each
 *   policy is also replayed along the F16 run's own tokens (teacher-forced): the share of
 *   positions whose argmax is that run's next token, which counts each step's own errors.
 *   Its KVzap surrogate is fitted first on 32 texts the model writes itself (seeds 1..32).
 *
 *   --contexts N,...  context lengths (default 1024,4096)
 *   --budget F        pruning budget as a fraction of the context (default 0.25)
 *   --kvzap FILE      KVzap surrogate of -m's model
 *   --policies A,B    only these policies (F16's bytes, which the others are measured
 *                     against, are then ceil(C / block size) blocks)
 *   --block-size N    KV block size of every engine (default: the engine's, 16); smaller
 *                     blocks waste less of a budget on the sink block and the partial one
 *   --snapshot N      instead: save (crash-safe, fsync'ed) and load an agent of N computed
 *                     tokens of -m's model (F16 KV) 3 times each, in --snapshot-dir (default
 *                     /tmp); then checkpoint it, and again after each of 3 x 16 more tokens,
 *                     restoring each; print the median times
 *   -t N              threads (default 0 = the cores)
 *   --json            one JSON object per line
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pyagent/pyagent.h>

#include "bench_memory.h"

#define MAX_CONTEXTS 8
#define MAX_GEN 2048

typedef struct memory_options {
    const char *model, *stories, *kvzap, *snapshot_dir;
    int64_t snapshot, block_size;
    const char *policies; /* --policies: names to run (comma-separated), NULL: all */
    int64_t contexts[MAX_CONTEXTS];
    int n_contexts;
    double budget;
    int64_t threads, gen;
    bool json;
} memory_options;

typedef struct policy {
    const char *name;
    int64_t kv_type;
    bool prune;
    int64_t kv_policy, entropy;
} policy;

static const policy POLICIES[] = {
    {"f16", PYAGENT_KV_F16, false, 0, 0},
    {"q8_0", PYAGENT_KV_Q8_0, false, 0, 0},
    {"f32", PYAGENT_KV_F32, false, 0, 0}, /* rounding alone: the agreement's yardstick */
    {"f16+window", PYAGENT_KV_F16, true, PYAGENT_KV_POLICY_WINDOW, 0},
    {"f16+h2o", PYAGENT_KV_F16, true, PYAGENT_KV_POLICY_H2O, 0},
    {"f16+h2o+entropy", PYAGENT_KV_F16, true, PYAGENT_KV_POLICY_H2O, 1},
    {"f16+kvzap", PYAGENT_KV_F16, true, PYAGENT_KV_POLICY_KVZAP, 0},
};
#define N_POLICIES (sizeof POLICIES / sizeof POLICIES[0])
#define SINKS 4
#define DECODE_TOKENS 32 /* generated after each prefill, for decode tokens/s */

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
        else if (!strcmp(f, "--kvzap")) o.kvzap = v;
        else if (!strcmp(f, "--snapshot")) o.snapshot = (int64_t)number(f, v, 1, 1 << 24);
        else if (!strcmp(f, "--snapshot-dir")) o.snapshot_dir = v;
        else if (!strcmp(f, "--block-size")) o.block_size = (int64_t)number(f, v, 1, 256);
        else if (!strcmp(f, "--policies")) o.policies = v;
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
                      "--gen, --kvzap, --policies, --block-size, --snapshot, --snapshot-dir, -t, --json)");
    }
    if (!o.model && !o.stories) die("-m", "a model is required");
    return o;
}

static int64_t block_size; /* --block-size, 0: the engine's default */

static pyagent_engine *open_engine(const char *path, int64_t kv_type, int64_t n_ctx,
                                   int64_t threads) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_threads", threads);
    pyagent_params_set_i64(p, "n_ctx", n_ctx);
    pyagent_params_set_i64(p, "kv_type", kv_type);
    pyagent_params_set_i64(p, "kv_bytes", 0); /* one n_ctx sequence */
    pyagent_params_set_i64(p, "prefix_cache", 0);
    if (block_size) pyagent_params_set_i64(p, "kv_block_size", block_size);
    pyagent_engine *e = NULL;
    if (pyagent_engine_open(path, p, &e) != PYAGENT_OK) die(path, pyagent_engine_last_error(e));
    pyagent_params_destroy(p);
    return e;
}

static int64_t info(pyagent_engine *e, const char *key) {
    int64_t v = 0;
    pyagent_engine_info(e, key, &v);
    return v;
}

/* Bytes an agent holds under the policy with this window and landmarks per (layer, kv head),
 * once its sequence is longer: the sink block, the window's blocks and a partial one, and for
 * H2O / KVzap the landmark rows (K and V, head_dim f16 values each, + position and score) and
 * the score ring (4 bytes per group over the window and a block, to a power of 2). */
static int64_t policy_bytes(pyagent_engine *e, const policy *pol, int64_t window, int64_t heavy) {
    pyagent_kv_stats st = {.struct_size = sizeof st};
    pyagent_kv_store_stats_get(pyagent_engine_kv_store(e), &st);
    const int64_t bs = st.block_size, groups = info(e, "n_layer") * info(e, "n_head_kv");
    const int64_t head_dim = info(e, "n_embd") / info(e, "n_head");
    int64_t bytes = ((SINKS + bs - 1) / bs + (window + bs - 1) / bs + 1) * st.block_bytes;
    if (pol->kv_policy == PYAGENT_KV_POLICY_WINDOW) return bytes;
    int64_t ring = 16;
    while (ring < window + bs + 1) ring *= 2;
    return bytes + groups * (heavy * (2 * head_dim * 2 + 8) + 4 * ring);
}

/* An agent keeping at most `budget` of the bytes of n positions of unpruned KV under the
 * policy: the window policy the longest recent window that fits; H2O and KVzap equal parts
 * window and landmarks per (layer, kv head) (H2O's recent / heavy split). */
static pyagent_agent *make_agent(pyagent_engine *e, const policy *pol, double budget, int64_t n) {
    int64_t window = 0, heavy = 0;
    if (pol->prune) {
        pyagent_kv_stats st = {.struct_size = sizeof st};
        pyagent_kv_store_stats_get(pyagent_engine_kv_store(e), &st);
        const double limit = budget * (double)n * (double)st.block_bytes / st.block_size;
        const bool split = pol->kv_policy != PYAGENT_KV_POLICY_WINDOW;
        while (policy_bytes(e, pol, window + 1, split ? window + 1 : 0) <= limit) window++;
        if (window < 1) window = 1;
        heavy = split ? window : 0;
    }
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 0);
    pyagent_params_set_i64(s, "kv_window", window);
    pyagent_params_set_i64(s, "kv_sinks", SINKS);
    pyagent_params_set_i64(s, "kv_policy", pol->kv_policy);
    pyagent_params_set_i64(s, "kv_heavy", heavy);
    pyagent_params_set_i64(s, "kv_entropy", pol->entropy);
    pyagent_agent *a = NULL;
    if (pyagent_agent_create(e, s, &a) != PYAGENT_OK) die("agent", pyagent_engine_last_error(e));
    pyagent_params_destroy(s);
    return a;
}

/* Whether --policies names the policy (or is not given). */
static bool wanted(const memory_options *o, const policy *pol) {
    if (!o->policies) return true;
    const size_t len = strlen(pol->name);
    for (const char *at = o->policies; (at = strstr(at, pol->name)); at += len)
        if ((at == o->policies || at[-1] == ',') && (at[len] == ',' || at[len] == 0)) return true;
    return false;
}

/* The KV blocks the engine's one agent holds, and its landmark rows and scores. */
static int64_t bytes_in_use(pyagent_engine *e, pyagent_agent *a) {
    pyagent_kv_stats st = {.struct_size = sizeof st};
    pyagent_kv_store_stats_get(pyagent_engine_kv_store(e), &st);
    pyagent_agent_stats as = {.struct_size = sizeof as};
    pyagent_agent_stats_get(a, &as);
    return st.n_used * st.block_bytes + as.landmark_bytes;
}

static void load_kvzap(pyagent_engine *e, const char *path) {
    if (pyagent_engine_load_kvzap(e, path, NULL)) die(path, pyagent_engine_last_error(e));
}

static void kv_bytes(const memory_options *o) {
    for (int c = 0; c < o->n_contexts; c++) {
        const int64_t n = o->contexts[c];
        int32_t *ids = malloc((size_t)n * sizeof *ids);
        uint64_t x = 0x5eedull;
        bool ids_made = false;
        int64_t f16_bytes = 0;
        for (size_t p = 0; p < N_POLICIES; p++) {
            const bool zap = POLICIES[p].kv_policy == PYAGENT_KV_POLICY_KVZAP;
            if ((zap && !o->kvzap) || !wanted(o, &POLICIES[p])) continue;
            pyagent_engine *e = open_engine(o->model, POLICIES[p].kv_type,
                                            n + 8 + DECODE_TOKENS, o->threads);
            if (!f16_bytes) { /* unpruned F16 KV holds ceil(n / block size) blocks */
                pyagent_engine *f16 = open_engine(o->model, PYAGENT_KV_F16, n + 8, o->threads);
                pyagent_kv_stats st = {.struct_size = sizeof st};
                pyagent_kv_store_stats_get(pyagent_engine_kv_store(f16), &st);
                f16_bytes = (n + st.block_size - 1) / st.block_size * st.block_bytes;
                pyagent_engine_destroy(f16);
            }
            if (zap) load_kvzap(e, o->kvzap);
            int64_t n_vocab = 0;
            pyagent_engine_info(e, "n_vocab", &n_vocab);
            for (int64_t i = 0; !ids_made && i < n; i++) { /* once: the same for all */
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                ids[i] = (int32_t)(3 + (x >> 33) % (uint64_t)(n_vocab - 3));
            }
            ids_made = true;
            pyagent_agent *a = make_agent(e, &POLICIES[p], o->budget, n);
            double t0 = now_s();
            if (pyagent_agent_feed_tokens(a, ids, (size_t)n) != PYAGENT_OK ||
                pyagent_agent_prefill(a) != PYAGENT_OK)
                die("prefill", pyagent_agent_last_error(a));
            const double seconds = now_s() - t0;
            const int64_t bytes = bytes_in_use(e, a);
            t0 = now_s(); /* then DECODE_TOKENS greedy tokens at that context */
            if (pyagent_agent_generate(a, DECODE_TOKENS, NULL, NULL, NULL) != PYAGENT_OK)
                die("generate", pyagent_agent_last_error(a));
            pyagent_agent_stats as = {.struct_size = sizeof as};
            pyagent_agent_stats_get(a, &as);
            const double decode_tps = (double)as.n_generated_tokens / (now_s() - t0);
            if (o->json)
                printf("{\"context\": %lld, \"policy\": \"%s\", \"kv_bytes\": %lld, "
                       "\"vs_f16\": %.4f, \"prefill_s\": %.3f, \"decode_tok_s\": %.2f}\n",
                       (long long)n, POLICIES[p].name, (long long)bytes,
                       (double)bytes / (double)f16_bytes, seconds, decode_tps);
            else
                printf("| %7lld | %-15s | %12.2f | %6.3f | %9.2f | %8.1f |\n", (long long)n,
                       POLICIES[p].name, (double)bytes / 1048576.0,
                       (double)bytes / (double)f16_bytes, seconds, decode_tps);
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

static const char *OPENINGS[] = {"Once upon a time", "One day, a little girl named Lily",
                                 "Tom and his dog went to the park.", "The sun was hot."};
#define N_OPENINGS (sizeof OPENINGS / sizeof OPENINGS[0])

static id_list greedy_run(const memory_options *o, const policy *pol, int64_t n_ctx,
                          const char *kvzap, const char *opening) {
    pyagent_engine *e = open_engine(o->stories, pol->kv_type, n_ctx, o->threads);
    if (pol->kv_policy == PYAGENT_KV_POLICY_KVZAP) load_kvzap(e, kvzap);
    pyagent_agent *a = make_agent(e, pol, o->budget, n_ctx);
    id_list out = {.n = 0};
    if (pyagent_agent_feed_text(a, opening, -1) != PYAGENT_OK ||
        pyagent_agent_generate(a, (int32_t)o->gen, collect, &out, NULL) != PYAGENT_OK)
        die("generate", pyagent_agent_last_error(a));
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
    return out;
}

/* How many of base's tokens are the argmax of the agent's logits when it is fed base's tokens
 * one at a time after the opening (teacher-forced agreement). */
static int forced_run(const memory_options *o, const policy *pol, int64_t n_ctx,
                      const char *kvzap, const char *opening, const id_list *base) {
    pyagent_engine *e = open_engine(o->stories, pol->kv_type, n_ctx, o->threads);
    if (pol->kv_policy == PYAGENT_KV_POLICY_KVZAP) load_kvzap(e, kvzap);
    pyagent_agent *a = make_agent(e, pol, o->budget, n_ctx);
    const size_t n_vocab = (size_t)info(e, "n_vocab");
    float *logits = malloc(n_vocab * sizeof *logits);
    int same = 0;
    if (pyagent_agent_feed_text(a, opening, -1) != PYAGENT_OK) die("feed", "opening");
    for (int i = 0; i < base->n; i++) {
        size_t n = 0;
        if (pyagent_agent_prefill(a) != PYAGENT_OK ||
            pyagent_agent_logits(a, logits, n_vocab, &n) != PYAGENT_OK)
            die("teacher-forced step", pyagent_agent_last_error(a));
        size_t best = 0;
        for (size_t v = 1; v < n; v++) best = logits[v] > logits[best] ? v : best;
        same += (int32_t)best == base->ids[i];
        if (pyagent_agent_feed_tokens(a, &base->ids[i], 1) != PYAGENT_OK)
            die("feed", pyagent_agent_last_error(a));
    }
    free(logits);
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
    return same;
}

typedef struct text_buf {
    char s[8192];
    size_t n;
} text_buf;

static void collect_text(void *ud, int32_t token, const char *text, size_t len) {
    (void)token;
    text_buf *b = ud;
    if (b->n + len < sizeof b->s) memcpy(b->s + b->n, text, len), b->n += len, b->s[b->n] = 0;
}

/* A KVzap surrogate for the stories model, fitted on 32 texts it writes itself (seeds 1..32,
 * temperature 1, 160 tokens), written to `path`. */
static void fit_stories_kvzap(const memory_options *o, const char *path) {
    pyagent_engine *e = open_engine(o->stories, PYAGENT_KV_F16, 512, o->threads);
    static text_buf texts[32];
    const char *ptrs[32];
    for (int i = 0; i < 32; i++) {
        pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
        pyagent_params_set_f64(s, "temperature", 1.0);
        pyagent_params_set_i64(s, "seed", 1 + i);
        pyagent_agent *a = NULL;
        if (pyagent_agent_create(e, s, &a)) die("agent", pyagent_engine_last_error(e));
        pyagent_params_destroy(s);
        texts[i].n = 0;
        if (pyagent_agent_feed_text(a, "", -1) ||
            pyagent_agent_generate(a, 160, collect_text, &texts[i], NULL))
            die("generate", pyagent_agent_last_error(a));
        ptrs[i] = texts[i].s;
        pyagent_agent_destroy(a);
    }
    pyagent_kvzap_info info = {.struct_size = sizeof info};
    if (pyagent_kvzap_fit(e, ptrs, 32, 1.0, 0.25, path, &info))
        die("kvzap fit", pyagent_engine_last_error(e));
    if (!o->json)
        printf("kvzap surrogate for stories260K (32 own texts): held-out R^2 %.3f, top-quarter "
               "overlap %.3f (chance 0.25)\n", info.r2_heldout, info.top_overlap);
    pyagent_engine_destroy(e);
}

static void agreement(const memory_options *o) {
    const int64_t n_ctx = 512;
    char kvzap[] = "/tmp/pyagent-bench-kvzap-XXXXXX";
    const int fd = mkstemp(kvzap);
    if (fd < 0) die("mkstemp", strerror(errno));
    close(fd);
    bool zap = false; /* fit a surrogate only when a KVzap row will run */
    for (size_t p = 0; p < N_POLICIES; p++)
        zap |= POLICIES[p].kv_policy == PYAGENT_KV_POLICY_KVZAP && wanted(o, &POLICIES[p]);
    if (zap) fit_stories_kvzap(o, kvzap);
    static id_list base[N_OPENINGS];
    for (size_t k = 0; k < N_OPENINGS; k++)
        base[k] = greedy_run(o, &POLICIES[0], n_ctx, kvzap, OPENINGS[k]);
    for (size_t p = 1; p < N_POLICIES; p++) {
        if (!wanted(o, &POLICIES[p])) continue;
        int same = 0, total = 0, first_sum = 0, forced = 0;
        double lowest = 1;
        for (size_t k = 0; k < N_OPENINGS; k++) {
            const id_list got = greedy_run(o, &POLICIES[p], n_ctx, kvzap, OPENINGS[k]);
            int here = 0, first_diff = base[k].n;
            for (int i = 0; i < base[k].n && i < got.n; i++) {
                if (base[k].ids[i] == got.ids[i]) here++;
                else if (first_diff == base[k].n) first_diff = i;
            }
            same += here, total += base[k].n, first_sum += first_diff;
            forced += forced_run(o, &POLICIES[p], n_ctx, kvzap, OPENINGS[k], &base[k]);
            if ((double)here / base[k].n < lowest) lowest = (double)here / base[k].n;
        }
        const double share = (double)same / (double)total;
        const double first = (double)first_sum / N_OPENINGS;
        const double forced_share = (double)forced / (double)total;
        if (o->json)
            printf("{\"agreement_policy\": \"%s\", \"context\": %lld, \"budget\": %.3f, "
                   "\"openings\": %zu, \"tokens\": %d, \"same\": %d, \"share\": %.4f, "
                   "\"lowest_share\": %.4f, \"mean_first_difference\": %.1f, "
                   "\"forced_share\": %.4f}\n",
                   POLICIES[p].name, (long long)n_ctx, o->budget, N_OPENINGS, total, same, share,
                   lowest, first, forced_share);
        else
            printf("greedy agreement with f16 over %zu x %lld tokens (stories260K, context %lld, "
                   "budget %.0f%%): %-15s %5.1f%% (lowest %5.1f%%, first difference at %5.1f on "
                   "average); teacher-forced %5.1f%%\n",
                   N_OPENINGS, (long long)o->gen, (long long)n_ctx, 100 * o->budget,
                   POLICIES[p].name, 100 * share, 100 * lowest, first, 100 * forced_share);
    }
    unlink(kvzap);
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median save and load times of an agent with o->snapshot computed tokens. */
static void snapshot_times(const memory_options *o) {
    const int64_t n = o->snapshot, reps = 3;
    pyagent_engine *e = open_engine(o->model, PYAGENT_KV_F16, n + 64, o->threads);
    const policy plain = {"f16", PYAGENT_KV_F16, false, 0, 0};
    pyagent_agent *a = make_agent(e, &plain, 1, n);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    uint64_t x = 0x5eedull;
    for (int64_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)(3 + (x >> 33) % 256);
    }
    if (pyagent_agent_feed_tokens(a, ids, (size_t)n) || pyagent_agent_prefill(a))
        die("prefill", pyagent_agent_last_error(a));
    char path[4096];
    snprintf(path, sizeof path, "%s/pyagent-bench-snapshot-%d", o->snapshot_dir ? o->snapshot_dir : "/tmp",
             (int)getpid());
    double save[3], load[3];
    pyagent_engine *e2 = open_engine(o->model, PYAGENT_KV_F16, n + 64, o->threads); /* a restart */
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        if (pyagent_agent_save(a, path)) die("save", pyagent_agent_last_error(a));
        save[r] = now_s() - t0;
        pyagent_agent *b = NULL;
        t0 = now_s();
        if (pyagent_agent_load(e2, path, &b)) die("load", pyagent_engine_last_error(e2));
        load[r] = now_s() - t0;
        pyagent_agent_destroy(b);
    }
    struct stat sb;
    const double mib = stat(path, &sb) == 0 ? (double)sb.st_size / 1048576.0 : 0;
    unlink(path);
    qsort(save, reps, sizeof *save, by_value);
    qsort(load, reps, sizeof *load, by_value);
    /* checkpoints: the first written whole, then one after every 16 more tokens */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s.ckpt", path);
    double t0 = now_s(), first, next[3], restore[3];
    if (pyagent_agent_checkpoint(a, dir)) die("checkpoint", pyagent_agent_last_error(a));
    first = now_s() - t0;
    for (int r = 0; r < reps; r++) {
        if (pyagent_agent_generate(a, 16, NULL, NULL, NULL)) die("generate", pyagent_agent_last_error(a));
        t0 = now_s();
        if (pyagent_agent_checkpoint(a, dir)) die("checkpoint", pyagent_agent_last_error(a));
        next[r] = now_s() - t0;
        pyagent_agent *b = NULL;
        t0 = now_s();
        if (pyagent_agent_restore(e2, dir, &b)) die("restore", pyagent_engine_last_error(e2));
        restore[r] = now_s() - t0;
        pyagent_agent_destroy(b);
    }
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) die("rm", dir);
    qsort(next, reps, sizeof *next, by_value);
    qsort(restore, reps, sizeof *restore, by_value);
    if (o->json)
        printf("{\"snapshot_tokens\": %lld, \"file_mib\": %.1f, \"save_ms\": %.1f, "
               "\"load_ms\": %.1f, \"checkpoint_first_ms\": %.1f, \"checkpoint_next_ms\": "
               "%.1f, \"restore_ms\": %.1f}\n", (long long)n, mib, 1e3 * save[1], 1e3 * load[1],
               1e3 * first, 1e3 * next[1], 1e3 * restore[1]);
    else
        printf("snapshot of an agent of %lld tokens (%.1f MiB): save %.1f ms (fsync'ed), load "
               "%.1f ms; checkpoint: the first %.1f ms, then after 16 more tokens %.1f ms, "
               "restore %.1f ms (medians of %d)\n", (long long)n, mib, 1e3 * save[1],
               1e3 * load[1], 1e3 * first, 1e3 * next[1], 1e3 * restore[1], (int)reps);
    free(ids);
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
    pyagent_engine_destroy(e2);
}

int pa_bench_memory_main(int argc, char **argv) {
    const memory_options o = parse(argc, argv);
    block_size = o.block_size;
    if (o.snapshot) {
        if (!o.model) die("--snapshot", "needs -m");
        snapshot_times(&o);
        return 0;
    }
    if (o.model) {
        if (!o.json)
            printf("| context | policy          | KV MiB/agent | x f16  | prefill s | decode/s |\n"
                   "| ------: | --------------- | -----------: | -----: | --------: | -------: |\n");
        kv_bytes(&o);
    }
    if (o.stories) agreement(&o);
    return 0;
}
