/*
 * pyagent-bench's latent-link workload (pyagent-bench --handoff -m MODEL ...):
 *
 *   A sender agent reads a context of N random token ids (seeded; never BOS or EOS) and
 *   exports its KV. For each payload (F16, Q8_0) the packet is serialized once; the bytes per
 *   token on the wire are its size / N. The receiver, an agent of a second engine of the same
 *   model, then takes it over R times: deserialize the bytes, import them into an empty agent,
 *   generate one token. Its time to first token is all three (the receiver's work from the
 *   bytes in memory to a token). Against it, R times in the same receiving engine (prefix
 *   cache off): feed the same N ids to an empty agent and generate one token, the receiver of
 *   plain text. Both engines keep F16 KV; each time is the median of R runs.
 *
 *   -p N,...    context sizes (default 1024,4096)
 *   -r R        runs of each timing (default 3)
 *   -t N        threads of each engine (default 0 = the cores)
 *   -b N        n_batch (default: the library's)
 *   --json      an array of {context, payload, bytes, bytes_per_token, deserialize_s,
 *               import_s, first_token_s, ttft_s, reprefill_ttft_s, ttft_ratio, ...}
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pyagent/pyagent.h>

#include "bench_handoff.h"

#define MAX_CONTEXTS 8
#define MAX_REPS 100

typedef struct handoff_options {
    const char *model;
    int64_t contexts[MAX_CONTEXTS];
    int n_contexts;
    int64_t reps, threads, n_batch;
    bool json;
} handoff_options;

/* Medians over the runs of one context and payload. */
typedef struct handoff_row {
    int64_t context;
    int32_t payload;
    size_t bytes;
    double deserialize_s, import_s, first_token_s, ttft_s; /* ttft = the three together */
    double reprefill_ttft_s, sender_prefill_s;
    bool same_first_token; /* as the re-prefilled receiver's (informational) */
} handoff_row;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "pyagent-bench --handoff: %s: %s\n", what, msg);
    exit(1);
}

static void usage_error(const char *flag, const char *why) {
    fprintf(stderr, "pyagent-bench --handoff: %s: %s\n", flag, why);
    exit(2);
}

/* The number at the start of `text`, which ends there or at a comma. */
static int64_t number(const char *flag, const char *text, int64_t min, int64_t max) {
    if (!text) usage_error(flag, "needs a value");
    char *end = NULL;
    errno = 0;
    const long long v = strtoll(text, &end, 10);
    if (errno || end == text || (*end && *end != ',') || v < min || v > max)
        usage_error(flag, "not a number in range");
    return v;
}

static handoff_options parse(int argc, char **argv) {
    handoff_options o = {.contexts = {1024, 4096}, .n_contexts = 2, .reps = 3};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--handoff")) continue;
        if (!strcmp(f, "--json")) {
            o.json = true;
            continue;
        }
        if (!v) usage_error(f, "needs a value");
        if (!strcmp(f, "-m") || !strcmp(f, "--model")) {
            o.model = v;
        } else if (!strcmp(f, "-p") || !strcmp(f, "--n-prompt")) { /* "1024,4096" */
            o.n_contexts = 0;
            for (const char *at = v; at; at = strchr(at, ',')) {
                if (*at == ',') at++;
                if (o.n_contexts == MAX_CONTEXTS) usage_error(f, "more than 8 sizes");
                o.contexts[o.n_contexts++] = number(f, at, 1, 1 << 20);
            }
        } else if (!strcmp(f, "-r") || !strcmp(f, "--repetitions")) {
            o.reps = number(f, v, 1, MAX_REPS);
        } else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) {
            o.threads = number(f, v, 0, 1024);
        } else if (!strcmp(f, "-b") || !strcmp(f, "--batch-size")) {
            o.n_batch = number(f, v, 1, 1 << 16);
        } else {
            usage_error(f, "unknown flag (--handoff takes -m, -p, -r, -t, -b, --json)");
        }
        i++;
    }
    if (!o.model) usage_error("-m", "a model is required");
    return o;
}

static pyagent_engine *open_engine(const handoff_options *o, int64_t n_ctx, bool prefix_cache) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_ctx", n_ctx);
    pyagent_params_set_i64(p, "n_threads", o->threads);
    if (o->n_batch) pyagent_params_set_i64(p, "n_batch", o->n_batch);
    pyagent_params_set_i64(p, "kv_type", PYAGENT_KV_F16);
    pyagent_params_set_i64(p, "kv_bytes", 0); /* one n_ctx sequence: one agent at a time */
    pyagent_params_set_i64(p, "prefix_cache", prefix_cache);
    pyagent_engine *e = NULL;
    if (pyagent_engine_open(o->model, p, &e) != PYAGENT_OK)
        die(o->model, pyagent_engine_last_error(e));
    pyagent_params_destroy(p);
    return e;
}

static pyagent_agent *greedy_agent(pyagent_engine *e) {
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 0);
    pyagent_agent *a = NULL;
    if (pyagent_agent_create(e, s, &a) != PYAGENT_OK) die("agent", pyagent_engine_last_error(e));
    pyagent_params_destroy(s);
    return a;
}

static void check(pyagent_agent *a, pyagent_status st, const char *what) {
    if (st != PYAGENT_OK) die(what, pyagent_agent_last_error(a));
}

typedef struct first_token {
    double at_s; /* CLOCK_MONOTONIC when it came */
    int32_t id;
} first_token;

static void on_token(void *user_data, int32_t token, const char *text, size_t len) {
    (void)text, (void)len;
    first_token *f = user_data;
    f->at_s = now_s();
    f->id = token;
}

static first_token generate_one(pyagent_agent *a) {
    first_token f = {0, -1};
    check(a, pyagent_agent_generate(a, 1, on_token, &f, NULL), "generate");
    return f;
}

static int compare_doubles(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int64_t n) {
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void random_ids(int32_t *ids, int64_t n, int64_t n_vocab) {
    uint64_t state = 0x5eedull;
    for (int64_t i = 0; i < n; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = 3 + (int32_t)((state >> 33) % (uint64_t)(n_vocab - 3));
    }
}

/* One context size: the rows of both payloads. */
static void run_context(const handoff_options *o, pyagent_engine *sender_engine,
                        pyagent_engine *receiver_engine, int64_t n, handoff_row rows[2]) {
    int64_t n_vocab = 0;
    pyagent_engine_info(sender_engine, "n_vocab", &n_vocab);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    double *t = malloc(4 * (size_t)o->reps * sizeof *t); /* deserialize, import, token, ttft */
    if (!ids || !t) die("context", "out of memory");
    random_ids(ids, n, n_vocab);

    pyagent_agent *sender = greedy_agent(sender_engine);
    check(sender, pyagent_agent_feed_tokens(sender, ids, (size_t)n), "feed");
    double start = now_s();
    check(sender, pyagent_agent_prefill(sender), "prefill");
    const double sender_prefill_s = now_s() - start;
    pyagent_latent_packet *packet = NULL;
    check(sender, pyagent_latent_export(sender, 0, -1, &packet), "export");

    /* the receiver of plain text: the same ids computed again */
    int32_t reprefill_token = -1;
    for (int64_t r = 0; r < o->reps; r++) {
        pyagent_agent *a = greedy_agent(receiver_engine);
        start = now_s();
        check(a, pyagent_agent_feed_tokens(a, ids, (size_t)n), "feed");
        const first_token f = generate_one(a);
        t[r] = f.at_s - start;
        reprefill_token = f.id;
        pyagent_agent_destroy(a);
    }
    const double reprefill_ttft_s = median(t, o->reps);

    for (int32_t payload = PYAGENT_LATENT_F16; payload <= PYAGENT_LATENT_Q8_0; payload++) {
        size_t bytes = 0;
        pyagent_latent_packet_serialize(packet, payload, NULL, 0, &bytes);
        void *wire = malloc(bytes);
        if (!wire || pyagent_latent_packet_serialize(packet, payload, wire, bytes, &bytes))
            die("serialize", "out of memory");
        double *des = t, *imp = t + o->reps, *tok = t + 2 * o->reps, *ttft = t + 3 * o->reps;
        int32_t token = -1;
        for (int64_t r = 0; r < o->reps; r++) {
            pyagent_agent *a = greedy_agent(receiver_engine);
            pyagent_latent_packet *copy = NULL;
            start = now_s();
            if (pyagent_latent_packet_deserialize(receiver_engine, wire, bytes, &copy))
                die("deserialize", pyagent_engine_last_error(receiver_engine));
            const double t_received = now_s();
            check(a, pyagent_latent_import(a, copy), "import");
            const double t_imported = now_s();
            const first_token f = generate_one(a);
            des[r] = t_received - start;
            imp[r] = t_imported - t_received;
            tok[r] = f.at_s - t_imported;
            ttft[r] = f.at_s - start;
            token = f.id;
            pyagent_latent_packet_destroy(copy);
            pyagent_agent_destroy(a);
        }
        rows[payload] = (handoff_row){
            .context = n, .payload = payload, .bytes = bytes,
            .deserialize_s = median(des, o->reps), .import_s = median(imp, o->reps),
            .first_token_s = median(tok, o->reps), .ttft_s = median(ttft, o->reps),
            .reprefill_ttft_s = reprefill_ttft_s, .sender_prefill_s = sender_prefill_s,
            .same_first_token = token == reprefill_token};
        free(wire);
    }
    pyagent_latent_packet_destroy(packet);
    pyagent_agent_destroy(sender);
    free(ids);
    free(t);
}

static const char *payload_name(int32_t payload) {
    return payload == PYAGENT_LATENT_F16 ? "f16" : "q8_0";
}

int pa_bench_handoff_main(int argc, char **argv) {
    const handoff_options o = parse(argc, argv);
    int64_t max_context = 0;
    for (int i = 0; i < o.n_contexts; i++)
        if (o.contexts[i] > max_context) max_context = o.contexts[i];
    pyagent_engine *sender = open_engine(&o, max_context + 1, true);
    pyagent_engine *receiver = open_engine(&o, max_context + 1, false);
    int64_t n_layer = 0, n_threads = 0;
    pyagent_engine_info(sender, "n_layer", &n_layer);
    pyagent_engine_info(sender, "n_threads", &n_threads);
    { /* the receiver's first forward passes fault its weights in: not part of any timing */
        pyagent_agent *warm = greedy_agent(receiver);
        const int32_t ids[8] = {3, 4, 5, 6, 7, 8, 9, 10};
        check(warm, pyagent_agent_feed_tokens(warm, ids, 8), "warm-up");
        generate_one(warm);
        pyagent_agent_destroy(warm);
    }

    if (o.json) printf("[");
    else
        printf("latent hand-off, %s: %" PRId64 " layers, %" PRId64 " threads, median of %" PRId64
               " runs\n\n| context | payload | bytes/token | wire MiB | receiver TTFT ms "
               "(deserialize + import + token) | re-prefill TTFT ms | ratio |\n"
               "| ---: | --- | ---: | ---: | ---: | ---: | ---: |\n",
               o.model, n_layer, n_threads, o.reps);
    for (int i = 0; i < o.n_contexts; i++) {
        handoff_row rows[2];
        run_context(&o, sender, receiver, o.contexts[i], rows);
        for (int p = 0; p < 2; p++) {
            const handoff_row *r = &rows[p];
            const double per_token = (double)r->bytes / (double)r->context;
            const double ratio = r->ttft_s / r->reprefill_ttft_s;
            if (o.json)
                printf("%s\n  {\"model\": \"%s\", \"n_threads\": %" PRId64 ", \"context\": %"
                       PRId64 ", \"payload\": \"%s\", \"bytes\": %zu, \"bytes_per_token\": %.2f"
                       ", \"deserialize_s\": %.6f, \"import_s\": %.6f, \"first_token_s\": %.6f, "
                       "\"ttft_s\": %.6f, \"reprefill_ttft_s\": %.6f, \"ttft_ratio\": %.5f, "
                       "\"sender_prefill_s\": %.6f, \"same_first_token\": %s, \"reps\": %"
                       PRId64 "}",
                       i + p ? "," : "", o.model, n_threads, r->context, payload_name(r->payload),
                       r->bytes, per_token, r->deserialize_s, r->import_s, r->first_token_s,
                       r->ttft_s, r->reprefill_ttft_s, ratio, r->sender_prefill_s,
                       r->same_first_token ? "true" : "false", o.reps);
            else
                printf("| %" PRId64 " | %s | %.0f | %.2f | %.2f (%.2f + %.2f + %.2f) | %.1f | "
                       "%.4f |\n",
                       r->context, payload_name(r->payload), per_token,
                       (double)r->bytes / (1 << 20), r->ttft_s * 1e3, r->deserialize_s * 1e3,
                       r->import_s * 1e3, r->first_token_s * 1e3, r->reprefill_ttft_s * 1e3,
                       ratio);
            fflush(stdout);
        }
    }
    printf(o.json ? "\n]\n" : "\n");
    pyagent_engine_destroy(sender);
    pyagent_engine_destroy(receiver);
    return 0;
}
