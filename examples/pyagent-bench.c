/*
 * pyagent-bench — prompt-processing and generation speed, like llama-bench.
 *
 * Usage:
 *   pyagent-bench -m model.gguf [-p 512] [-n 128] [-t 1,2,4] [-r 5] [-b 512] [--json]
 *                 [--roofline] [--huge-pages 0,1]
 *
 * -p, -n and -t take comma-separated lists. For every thread count, each -p value N is a
 * "ppN" test: N random token ids (never BOS or EOS) are fed, and the prefill of all of them is
 * timed. Each -n value N is a "tgN" test: one random token is fed and prefilled (not timed),
 * then N tokens are generated greedily and timed. Generation stops early if the model samples
 * EOS, so tgN reports the tokens actually generated per second. A value of 0 skips the test.
 *
 * Every test runs once to warm up, then -r times on a freshly reset agent (the engine has
 * prefix_cache 0, so each run reuses the KV blocks the one before released); the result is the
 * mean and the sample standard deviation of tokens/s over those runs. The output is a markdown
 * table, or with --json an array of
 *   {model, n_params, n_threads, test, n_tokens, reps, tps_mean, tps_sd, samples: [...]}.
 *
 * --roofline adds, to every tg row, the bytes of weights a generated token reads (every
 * matrix once, norms included), the read bandwidth that makes at the measured tokens/s, the
 * bandwidth the machine reaches reading the model's own mapping with as many threads, and
 * their ratio: how close decode is to the memory bound. The read loop runs just before and just
 * after every timed run, and the better of the two is that run's roofline, so that a run and its
 * bound see the same machine (a guest's bandwidth can move by tens of percent within a test);
 * the roofline printed is their mean, so the ratio weighs each run's own. Beside it, the bandwidth
 * of the same read loop over a buffer far larger than the last-level cache (DRAM GB/s): a
 * model file not much larger than that cache is partly read from it, by the loop and by decode
 * alike (on a Zen 5 guest with 32 MiB of L3, two threads read the 59 MiB Q4_0 file at
 * 94-100 GB/s and 400 MB at 58), so for such a model the roofline is above DRAM's bandwidth
 * and decode can read faster than DRAM. JSON rows get weight_bytes_per_token, read_gbs,
 * roofline_gbs, roofline_fraction, dram_gbs, and rooflines (each run's, as samples are).
 *
 * --huge-pages 0,1 runs every test with the engine param huge_pages off and on (the weights
 * mapped, or read into 2 MiB pages); the table gets a "pages" column, JSON rows a huge_pages
 * key, and the roofline reads the same kind of pages as the engine.
 *
 * Exit status: 0 on success, 1 when the library fails (its message goes to stderr), 2 on a
 * bad flag.
 */
#define _DEFAULT_SOURCE /* clock_gettime, stat, mmap, madvise */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pyagent/pyagent.h>

#include "bench_agents.h"
#include "bench_adapter.h"
#include "bench_handoff.h"
#include "bench_memory.h"
#include "bench_spec.h"

static const char *const USAGE =
    "usage: pyagent-bench -m model.gguf [options]\n"
    "\n"
    "  -m, --model PATH         GGUF model file (required)\n"
    "  -p, --n-prompt N,...     prompt-processing tests of N tokens (default 512; 0 = none)\n"
    "  -n, --n-gen N,...        generation tests of N tokens (default 128; 0 = none)\n"
    "  -t, --threads N,...      thread counts (default 0 = physical cores)\n"
    "  -r, --repetitions N      timed runs per test, after one warm-up (default 5)\n"
    "  -b, --batch-size N       max tokens per forward pass (default: the library's)\n"
    "  -d, --depth N,...        tg tests start after a prompt of N random tokens (default 0:\n"
    "                           one token); a test reads tgN@dDEPTH\n"
    "      --kv-type T,...      engine param kv_type: f16 (default), f32, q8_0; a list runs each\n"
    "      --json               print a JSON array instead of a markdown table\n"
    "      --roofline           weight bytes per generated token and the fraction of the\n"
    "                           read bandwidth measured on the model file that decode reaches,\n"
    "                           and the same read past the caches (DRAM GB/s)\n"
    "      --huge-pages 0,1     engine param huge_pages: weights mapped (0, default) or read\n"
    "                           into 2 MiB pages (1); a list runs both\n"
    "  -h, --help               print this help\n"
    "\n"
    "Other workloads, each with its own flags (README, docs/latent.md):\n"
    "  --agents    many agents sharing a prompt, batched, against sequential runs\n"
    "  --handoff   the latent link's wire size and time to first token against re-prefill\n"
    "  --spec      speculative decoding against plain decoding\n"
    "  --memory    KV bytes per agent by context and policy (f16, q8_0, kv_window), greedy\n"
    "              agreement of each policy (--agreement stories260K.gguf)\n"
    "  --adapter   fit an adapter between two models (-s SRC -m DST --text FILE) and measure\n"
    "              what it carries (--eval FILE)\n";

#define MAX_LIST 16            /* values per comma-separated list */
#define MAX_TEST_TOKENS (1 << 20)
#define MAX_REPS 1000
#define TOKEN_SEED 0x5eedull /* seed of the random token ids */

/* ---------------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------------- */

typedef struct int_list {
    int64_t values[MAX_LIST];
    size_t count;
} int_list;

typedef struct options {
    const char *model_path;
    int_list n_prompt;  /* pp test sizes */
    int_list n_gen;     /* tg test sizes */
    int_list n_threads; /* engine thread counts */
    int_list depths;    /* tokens in the context before a tg test's first generated one */
    int_list kv_types;  /* engine param kv_type (PYAGENT_KV_*) */
    bool show_kv;       /* --kv-type given: a column says which */
    int_list huge_pages; /* engine param huge_pages: 0, 1 or both */
    bool show_pages;     /* --huge-pages given: a column says which */
    int64_t reps;       /* timed runs per test */
    int64_t n_batch;    /* 0 = the engine's default */
    bool json;
    bool roofline;      /* measure and print the memory roofline of tg tests */
} options;

static void fail_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail_usage(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fputs("pyagent-bench: ", stderr);
    vfprintf(stderr, fmt, args);
    fputs("\n\n", stderr);
    va_end(args);
    fputs(USAGE, stderr);
    exit(2);
}

static int64_t parse_int(const char *flag, const char *text, int64_t min, int64_t max) {
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        fail_usage("%s: '%s' is not an integer", flag, text);
    if (value < min || value > max)
        fail_usage("%s: %lld is outside [%" PRId64 ", %" PRId64 "]", flag, value, min, max);
    return value;
}

/* "1,2,4" -> {1, 2, 4}; every value in [min, max]. */
static int_list parse_list(const char *flag, const char *text, int64_t min, int64_t max) {
    int_list list = {.count = 0};
    char item[32];
    const char *start = text;
    for (;;) {
        const char *comma = strchr(start, ',');
        const size_t len = comma ? (size_t)(comma - start) : strlen(start);
        if (len == 0 || len >= sizeof item) fail_usage("%s: bad list '%s'", flag, text);
        if (list.count == MAX_LIST) fail_usage("%s: more than %d values", flag, MAX_LIST);
        memcpy(item, start, len);
        item[len] = '\0';
        list.values[list.count++] = parse_int(flag, item, min, max);
        if (!comma) return list;
        start = comma + 1;
    }
}

static const char *const KV_TYPE_NAMES[] = {
    [PYAGENT_KV_F32] = "f32", [PYAGENT_KV_F16] = "f16", [PYAGENT_KV_Q8_0] = "q8_0"};

/* "f32,f16" -> {PYAGENT_KV_F32, PYAGENT_KV_F16} */
static int_list parse_kv_types(const char *flag, const char *text) {
    int_list list = {.count = 0};
    for (const char *start = text;;) {
        const char *comma = strchr(start, ',');
        const size_t len = comma ? (size_t)(comma - start) : strlen(start);
        if (list.count == MAX_LIST) fail_usage("%s: more than %d values", flag, MAX_LIST);
        size_t t = 0;
        while (t < 3 && (strlen(KV_TYPE_NAMES[t]) != len || strncmp(start, KV_TYPE_NAMES[t], len)))
            t++;
        if (t == 3) fail_usage("%s: '%.*s' is not f32, f16 or q8_0", flag, (int)len, start);
        list.values[list.count++] = (int64_t)t;
        if (!comma) return list;
        start = comma + 1;
    }
}

static const char *flag_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) fail_usage("%s needs a value", argv[*i]);
    *i += 1;
    return argv[*i];
}

static bool is_flag(const char *arg, const char *short_name, const char *long_name) {
    return (short_name && strcmp(arg, short_name) == 0) ||
           (long_name && strcmp(arg, long_name) == 0);
}

static options parse_options(int argc, char **argv) {
    options o = {
        .model_path = NULL,
        .n_prompt = {.values = {512}, .count = 1},
        .n_gen = {.values = {128}, .count = 1},
        .n_threads = {.values = {0}, .count = 1},
        .huge_pages = {.values = {0}, .count = 1},
        .depths = {.values = {0}, .count = 1},
        .kv_types = {.values = {PYAGENT_KV_F16}, .count = 1}, /* the engine's default */
        .reps = 5,
        .n_batch = 0,
        .json = false,
        .roofline = false,
    };
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (is_flag(flag, "-h", "--help")) {
            fputs(USAGE, stdout);
            exit(0);
        } else if (is_flag(flag, "-m", "--model")) {
            o.model_path = flag_value(argc, argv, &i);
        } else if (is_flag(flag, "-p", "--n-prompt")) {
            o.n_prompt = parse_list(flag, flag_value(argc, argv, &i), 0, MAX_TEST_TOKENS);
        } else if (is_flag(flag, "-n", "--n-gen")) {
            o.n_gen = parse_list(flag, flag_value(argc, argv, &i), 0, MAX_TEST_TOKENS);
        } else if (is_flag(flag, "-t", "--threads")) {
            o.n_threads = parse_list(flag, flag_value(argc, argv, &i), 0, 1024);
        } else if (is_flag(flag, "-r", "--repetitions")) {
            o.reps = parse_int(flag, flag_value(argc, argv, &i), 1, MAX_REPS);
        } else if (is_flag(flag, "-b", "--batch-size")) {
            o.n_batch = parse_int(flag, flag_value(argc, argv, &i), 1, 1 << 16);
        } else if (is_flag(flag, "-d", "--depth")) {
            o.depths = parse_list(flag, flag_value(argc, argv, &i), 0, MAX_TEST_TOKENS);
        } else if (is_flag(flag, NULL, "--kv-type")) {
            o.kv_types = parse_kv_types(flag, flag_value(argc, argv, &i));
            o.show_kv = true;
        } else if (is_flag(flag, NULL, "--json")) {
            o.json = true;
        } else if (is_flag(flag, NULL, "--roofline")) {
            o.roofline = true;
        } else if (is_flag(flag, NULL, "--huge-pages")) {
            o.huge_pages = parse_list(flag, flag_value(argc, argv, &i), 0, 1);
            o.show_pages = true;
        } else {
            fail_usage("unknown flag '%s'", flag);
        }
    }
    if (!o.model_path) fail_usage("no model: pass -m model.gguf");
    return o;
}

static int64_t list_max(const int_list *list) {
    int64_t max = 0;
    for (size_t i = 0; i < list->count; i++)
        if (list->values[i] > max) max = list->values[i];
    return max;
}

/* ---------------------------------------------------------------------------------------------
 * Random tokens and timing
 * ------------------------------------------------------------------------------------------- */

/* Uniform token ids in [0, n_vocab), skipping BOS and EOS (splitmix64 underneath). */
typedef struct token_source {
    uint64_t state;
    int64_t n_vocab;
    int64_t bos; /* -1 if none */
    int64_t eos; /* -1 if none */
} token_source;

static int32_t next_token(token_source *src) {
    for (;;) {
        uint64_t z = (src->state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        const int64_t token = (int64_t)(z % (uint64_t)src->n_vocab);
        if (token != src->bos && token != src->eos) return (int32_t)token;
    }
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------------------------------------
 * Tests
 *
 * A run returns tokens/s, or a negative value after printing the library's message.
 * ------------------------------------------------------------------------------------------- */

typedef struct bench_context {
    pyagent_agent *agent;  /* greedy sampler */
    token_source tokens;
    int32_t *token_buffer; /* room for the largest pp test */
} bench_context;

/* Prints the agent's message for a failed `what` and returns -1, the failed-run value. */
static double report_agent_failure(const bench_context *ctx, const char *what) {
    fprintf(stderr, "pyagent-bench: %s: %s\n", what, pyagent_agent_last_error(ctx->agent));
    return -1;
}

/* Resets the agent, queues n random tokens and computes them; the time of the prefill alone
 * goes to *seconds. */
static double prefill_random_tokens(bench_context *ctx, int64_t n, double *seconds) {
    if (pyagent_agent_reset(ctx->agent) != PYAGENT_OK) return report_agent_failure(ctx, "reset");
    for (int64_t i = 0; i < n; i++) ctx->token_buffer[i] = next_token(&ctx->tokens);
    if (pyagent_agent_feed_tokens(ctx->agent, ctx->token_buffer, (size_t)n) != PYAGENT_OK)
        return report_agent_failure(ctx, "feed tokens");
    const double start = now_seconds();
    if (pyagent_agent_prefill(ctx->agent) != PYAGENT_OK)
        return report_agent_failure(ctx, "prefill");
    *seconds = now_seconds() - start;
    return 0;
}

/* ppN: prefill of n random tokens. */
static double run_prompt_test(bench_context *ctx, int64_t n) {
    double seconds = 0;
    if (prefill_random_tokens(ctx, n, &seconds) < 0) return -1;
    return (double)n / seconds;
}

/* tgN: after `depth` prefilled tokens (at least one), greedy generation of up to n tokens
 * (fewer on EOS). */
static double run_gen_test(bench_context *ctx, int64_t n, int64_t depth) {
    double prefill_seconds = 0;
    if (prefill_random_tokens(ctx, depth > 1 ? depth : 1, &prefill_seconds) < 0) return -1;
    const double start = now_seconds();
    if (pyagent_agent_generate(ctx->agent, (int32_t)n, NULL, NULL, NULL) != PYAGENT_OK)
        return report_agent_failure(ctx, "generate");
    const double seconds = now_seconds() - start;
    pyagent_agent_stats stats = {.struct_size = sizeof stats};
    if (pyagent_agent_stats_get(ctx->agent, &stats) != PYAGENT_OK)
        return report_agent_failure(ctx, "statistics");
    return (double)stats.n_generated_tokens / seconds;
}

/* ---------------------------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------------------------- */

typedef struct model_facts {
    const char *name;  /* file name without its directories */
    double size_mib;   /* file size */
    int64_t n_params;
    uint64_t weight_bytes_per_token; /* with --roofline: read by one decode step */
} model_facts;

typedef struct test_result {
    char test[32];     /* "pp512", "tg128" */
    int64_t n_tokens;
    int64_t n_threads; /* as the engine reports it */
    int64_t huge_pages; /* the engine param */
    int64_t kv_type;    /* the engine param */
    int64_t depth;      /* tg: context before the first generated token */
    int64_t reps;
    double *samples;   /* tokens/s of each timed run */
    double mean, sd;   /* over samples; sd is the sample standard deviation */
    double *rooflines;   /* tg with --roofline: the read loop's GB/s around each timed run */
    double roofline_gbs; /* their mean, else 0 */
    double dram_gbs;     /* tg with --roofline: the same over a buffer past the caches */
} test_result;

static void summarize(test_result *r) {
    double sum = 0, squares = 0;
    for (int64_t i = 0; i < r->reps; i++) sum += r->samples[i];
    r->mean = sum / (double)r->reps;
    for (int64_t i = 0; i < r->reps; i++)
        squares += (r->samples[i] - r->mean) * (r->samples[i] - r->mean);
    r->sd = r->reps > 1 ? sqrt(squares / (double)(r->reps - 1)) : 0.0;
    double rooflines = 0;
    for (int64_t i = 0; i < r->reps; i++) rooflines += r->rooflines[i];
    r->roofline_gbs = rooflines / (double)r->reps;
}

/* 134105856 -> "134.11 M", as llama-bench writes parameter counts. */
static void format_count(char *out, size_t size, int64_t n) {
    if (n >= 1000000000) snprintf(out, size, "%.2f B", (double)n / 1e9);
    else if (n >= 1000000) snprintf(out, size, "%.2f M", (double)n / 1e6);
    else snprintf(out, size, "%.2f K", (double)n / 1e3);
}

static void print_table_header(const options *o) {
    printf("| %-30s | %10s | %10s | %7s |", "model", "size", "params", "threads");
    if (o->show_pages) printf(" %5s |", "pages");
    if (o->show_kv) printf(" %4s |", "kv");
    printf(" %12s | %20s |", "test", "t/s");
    if (o->roofline)
        printf(" %12s | %10s | %13s | %11s | %9s |", "MiB/token", "read GB/s", "roofline GB/s",
               "of roofline", "DRAM GB/s");
    printf("\n| ------------------------------ | ---------: | ---------: | ------: |");
    if (o->show_pages) printf(" ----: |");
    if (o->show_kv) printf(" ---: |");
    printf(" -----------: | -------------------: |");
    if (o->roofline)
        printf(" -----------: | ---------: | ------------: | ----------: | --------: |");
    printf("\n");
}

static void print_table_row(const model_facts *m, const test_result *r, bool first,
                            const options *o) {
    char size[32], params[32], tps[48];
    if (first) print_table_header(o);
    snprintf(size, sizeof size, "%.2f MiB", m->size_mib);
    format_count(params, sizeof params, m->n_params);
    snprintf(tps, sizeof tps, "%.2f ± %.2f", r->mean, r->sd);
    /* "±" is two bytes but one column: widen its field by one */
    printf("| %-30s | %10s | %10s | %7" PRId64 " |", m->name, size, params, r->n_threads);
    if (o->show_pages) printf(" %5s |", r->huge_pages ? "2 MiB" : "file");
    if (o->show_kv) printf(" %4s |", KV_TYPE_NAMES[r->kv_type]);
    printf(" %12s | %21s |", r->test, tps);
    if (o->roofline && r->roofline_gbs > 0) {
        const double read_gbs = r->mean * (double)m->weight_bytes_per_token / 1e9;
        printf(" %12.2f | %10.2f | %13.2f | %10.0f%% | %9.2f |",
               (double)m->weight_bytes_per_token / 1048576.0, read_gbs, r->roofline_gbs,
               100.0 * read_gbs / r->roofline_gbs, r->dram_gbs);
    } else if (o->roofline) {
        printf(" %12s | %10s | %13s | %11s | %9s |", "", "", "", "", "");
    }
    printf("\n");
    fflush(stdout);
}

static void print_json_string(const char *s) {
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') printf("\\%c", *c);
        else if (*c < 0x20) printf("\\u%04x", *c);
        else putchar(*c);
    }
    putchar('"');
}

static void print_json_object(const model_facts *m, const test_result *r, bool first) {
    printf("%s  {\"model\": ", first ? "" : ",\n");
    print_json_string(m->name);
    printf(", \"n_params\": %" PRId64 ", \"n_threads\": %" PRId64 ", \"huge_pages\": %" PRId64
           ", \"kv_type\": \"%s\", \"test\": \"%s\", \"n_tokens\": %" PRId64
           ", \"depth\": %" PRId64 ", \"reps\": %" PRId64
           ", \"tps_mean\": %.6g, \"tps_sd\": %.6g, \"samples\": [",
           m->n_params, r->n_threads, r->huge_pages, KV_TYPE_NAMES[r->kv_type], r->test,
           r->n_tokens, r->depth, r->reps, r->mean, r->sd);
    for (int64_t i = 0; i < r->reps; i++) printf("%s%.6g", i ? ", " : "", r->samples[i]);
    printf("]");
    if (r->roofline_gbs > 0) {
        const double read_gbs = r->mean * (double)m->weight_bytes_per_token / 1e9;
        printf(", \"weight_bytes_per_token\": %" PRIu64 ", \"read_gbs\": %.6g, "
               "\"roofline_gbs\": %.6g, \"roofline_fraction\": %.6g, \"dram_gbs\": %.6g",
               m->weight_bytes_per_token, read_gbs, r->roofline_gbs, read_gbs / r->roofline_gbs,
               r->dram_gbs);
        printf(", \"rooflines\": [");
        for (int64_t i = 0; i < r->reps; i++) printf("%s%.6g", i ? ", " : "", r->rooflines[i]);
        printf("]");
    }
    printf("}");
    fflush(stdout);
}

/* ---------------------------------------------------------------------------------------------
 * Roofline (--roofline)
 *
 * A generated token reads every weight once, so tokens/s times the bytes of weights read per
 * token is a read bandwidth, and decode cannot beat the machine's. The bench counts those bytes
 * from the GGUF tensor table, and measures the bound itself: threads read the model file's own
 * mapping, or with huge_pages a copy in 2 MiB pages (the kind of pages the engine reads: a core
 * streams 2 MiB pages markedly faster), a cache line at a time, each its share as one to four
 * far-apart streams with prefetch ahead (the engine's kernels read four rows side by side);
 * the best pass of every pattern counts. Which pattern is fastest depends on the CPU: on a
 * Zen 5 core, 2-3 streams read a 418 MB file at ~39 GB/s where 4 reached ~29, below what
 * decode itself read (4 streams were the pattern chosen on the Intel machine before).
 * ------------------------------------------------------------------------------------------- */

#define READ_PASSES 4
#define READ_MAX_STREAMS 4
static const int read_prefetch[] = {1024, 2048}; /* bytes ahead of each stream */

typedef struct model_mapping {
    const uint8_t *data; /* the file's bytes */
    size_t size;         /* of the file */
    void *region;        /* what to unmap: the mapping, or the huge-page copy's reservation */
    size_t region_size;
} model_mapping;

/* Reads of the GGUF header: a cursor that fails (sets ok = false) instead of running past the
 * end. The library validates the file when it opens it; this only needs the tensor table. */
typedef struct gguf_cursor {
    const uint8_t *p, *end;
    bool ok;
} gguf_cursor;

static uint64_t read_uint(gguf_cursor *c, int bytes) {
    if (!c->ok || c->end - c->p < bytes) {
        c->ok = false;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)c->p[i] << (8 * i);
    c->p += bytes;
    return v;
}

static void skip_bytes(gguf_cursor *c, uint64_t n) {
    if (!c->ok || (uint64_t)(c->end - c->p) < n) c->ok = false;
    else c->p += n;
}

/* Skips one metadata value of gguf value type `type` (arrays of arrays are not nested in
 * practice; they are refused). */
static void skip_value(gguf_cursor *c, uint32_t type, bool in_array) {
    static const int scalar_bytes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) { /* string */
        skip_bytes(c, read_uint(c, 8));
    } else if (type == 9 && !in_array) { /* array */
        const uint32_t elem = (uint32_t)read_uint(c, 4);
        const uint64_t count = read_uint(c, 8);
        if (elem < 13 && elem != 8 && elem != 9 && count <= UINT64_MAX / 8) {
            skip_bytes(c, count * (uint64_t)scalar_bytes[elem]);
        } else {
            for (uint64_t i = 0; i < count && c->ok; i++) skip_value(c, elem, true);
        }
    } else if (type < 13 && scalar_bytes[type] > 0) {
        skip_bytes(c, (uint64_t)scalar_bytes[type]);
    } else {
        c->ok = false;
    }
}

/* Bytes of n values of ggml type `type` (ggml-common.h block sizes), 0 if unknown. */
static uint64_t tensor_type_bytes(uint32_t type, uint64_t n) {
    static const struct {
        uint32_t type, block, bytes;
    } types[] = {{0, 1, 4},     {1, 1, 2},      {2, 32, 18},    {3, 32, 20},   {6, 32, 22},
                 {7, 32, 24},   {8, 32, 34},    {10, 256, 84},  {11, 256, 110}, {12, 256, 144},
                 {13, 256, 176}, {14, 256, 210}, {30, 1, 2}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i].type == type) return n / types[i].block * types[i].bytes;
    return 0;
}

/* The bytes of weights one decode step reads: every tensor once, except that token_embd gives
 * one row (the token's embedding) when the output has its own matrix. false (with a message)
 * if the tensor table cannot be read or holds a type this count does not know. */
static bool count_weight_bytes(const model_mapping *m, uint64_t *out) {
    gguf_cursor c = {m->data, m->data + m->size, true};
    const uint32_t magic = (uint32_t)read_uint(&c, 4), version = (uint32_t)read_uint(&c, 4);
    const uint64_t n_tensors = read_uint(&c, 8), n_kv = read_uint(&c, 8);
    if (magic != 0x46554747u || version < 2) c.ok = false;
    for (uint64_t i = 0; i < n_kv && c.ok; i++) {
        skip_bytes(&c, read_uint(&c, 8)); /* key */
        skip_value(&c, (uint32_t)read_uint(&c, 4), false);
    }
    uint64_t total = 0, embd_bytes = 0, embd_row = 0;
    bool has_output = false;
    for (uint64_t i = 0; i < n_tensors && c.ok; i++) {
        const uint64_t name_len = read_uint(&c, 8);
        const char *name = (const char *)c.p;
        skip_bytes(&c, name_len);
        const uint32_t n_dims = (uint32_t)read_uint(&c, 4);
        uint64_t ne[4] = {1, 1, 1, 1};
        for (uint32_t d = 0; d < n_dims && c.ok; d++) {
            const uint64_t v = read_uint(&c, 8);
            if (d < 4) ne[d] = v;
            else c.ok = false;
        }
        const uint32_t type = (uint32_t)read_uint(&c, 4);
        read_uint(&c, 8); /* offset */
        if (!c.ok) break;
        const uint64_t row = tensor_type_bytes(type, ne[0]);
        if (row == 0) {
            fprintf(stderr, "pyagent-bench: --roofline: tensor type %" PRIu32 " unknown\n", type);
            return false;
        }
        const uint64_t bytes = row * ne[1] * ne[2] * ne[3];
        if (name_len == 17 && memcmp(name, "token_embd.weight", 17) == 0) {
            embd_bytes = bytes;
            embd_row = row;
        } else {
            total += bytes;
        }
        if (name_len == 13 && memcmp(name, "output.weight", 13) == 0) has_output = true;
    }
    if (!c.ok) {
        fprintf(stderr, "pyagent-bench: --roofline: cannot read the GGUF tensor table\n");
        return false;
    }
    /* tied: token_embd is the output matrix too, read whole by the logits */
    *out = total + (has_output ? embd_row : embd_bytes);
    return true;
}

#define HUGE_PAGE ((size_t)2 << 20)

/* The file read into 2 MiB aligned memory advised for transparent huge pages, as the engine's
 * huge_pages copy is: a reservation with a page of slack, so that an aligned start is inside. */
static bool read_into_huge_pages(int fd, size_t size, model_mapping *out) {
    const size_t region_size = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE + HUGE_PAGE;
    uint8_t *region = mmap(NULL, region_size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) return false;
    uint8_t *p = (uint8_t *)(((uintptr_t)region + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    madvise(p, region_size - HUGE_PAGE, MADV_HUGEPAGE);
    for (size_t done = 0; done < size;) {
        const ssize_t n = pread(fd, p + done, size - done, (off_t)done);
        if (n <= 0) {
            if (n == 0) errno = EIO; /* the file shrank */
            munmap(region, region_size);
            return false;
        }
        done += (size_t)n;
    }
    *out = (model_mapping){p, size, region, region_size};
    return true;
}

/* A buffer that no cache holds: 8 times the last-level cache, at least 256 MiB, written once
 * (anonymous memory reads as the zero page until written), in 2 MiB pages where it can. */
static bool map_past_the_caches(model_mapping *out) {
    const long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    size_t size = (size_t)256 << 20;
    if (llc > 0 && (size_t)llc * 8 > size) size = (size_t)llc * 8;
    uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "pyagent-bench: --roofline: %zu MiB: %s\n", size >> 20, strerror(errno));
        return false;
    }
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE);
#endif
    for (size_t i = 0; i < size; i += 4096) p[i] = (uint8_t)(i >> 12);
    *out = (model_mapping){p, size, p, size};
    return true;
}

/* The model file mapped, or with huge_pages copied into 2 MiB pages. */
static bool map_model(const char *path, bool huge_pages, model_mapping *out) {
    const int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
        fprintf(stderr, "pyagent-bench: %s: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        return false;
    }
    const size_t size = (size_t)st.st_size;
    bool ok;
    if (huge_pages) {
        ok = read_into_huge_pages(fd, size, out);
    } else {
        void *data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        ok = data != MAP_FAILED;
#ifdef MADV_HUGEPAGE
        if (ok) madvise(data, size, MADV_HUGEPAGE); /* as the engine's own mapping */
#endif
        if (ok) *out = (model_mapping){data, size, data, size};
    }
    const int e = errno;
    close(fd);
    if (!ok) fprintf(stderr, "pyagent-bench: %s: %s\n", path, strerror(e));
    return ok;
}

static void unmap_model(model_mapping *m) {
    if (m->region) munmap(m->region, m->region_size);
    *m = (model_mapping){0};
}

typedef struct read_share {
    const model_mapping *m;
    int ith, nth;
    int streams, prefetch; /* the access pattern */
    uint64_t sum;   /* of one word per line, so that the reads are not optimized away */
    uint64_t bytes; /* read by this share */
} read_share;

static volatile uint64_t read_sink; /* where the sums go */

/* Thread ith's contiguous share of the mapping, as r->streams streams read side by side. */
static void *read_lines(void *arg) {
    read_share *r = arg;
    const size_t share = r->m->size / (size_t)r->nth / 64 * 64;
    const size_t stream = share / (size_t)r->streams / 64 * 64;
    const uint8_t *base = r->m->data + share * (size_t)r->ith;
    uint64_t sum = 0;
    for (size_t off = 0; off < stream; off += 64)
        for (int s = 0; s < r->streams; s++) {
            const uint8_t *line = base + (size_t)s * stream + off;
            __builtin_prefetch(line + r->prefetch);
            uint64_t word;
            memcpy(&word, line, sizeof word);
            sum += word;
        }
    r->sum = sum;
    r->bytes = (uint64_t)stream * (uint64_t)r->streams;
    return NULL;
}

/* GB/s of one pass of n_threads reading the mapping (each line once) in a pattern; 0 if
 * threads cannot be started. */
static double read_pass(const model_mapping *m, int n_threads, int streams, int prefetch) {
    read_share shares[64];
    pthread_t threads[64];
    const double start = now_seconds();
    int started = 1;
    for (int i = 0; i < n_threads; i++)
        shares[i] = (read_share){m, i, n_threads, streams, prefetch, 0, 0};
    for (; started < n_threads; started++)
        if (pthread_create(&threads[started], NULL, read_lines, &shares[started]) != 0) break;
    read_lines(&shares[0]);
    for (int i = 1; i < started; i++) pthread_join(threads[i], NULL);
    if (started < n_threads) return 0;
    const double seconds = now_seconds() - start;
    uint64_t bytes = 0;
    for (int i = 0; i < n_threads; i++) {
        read_sink += shares[i].sum;
        bytes += shares[i].bytes;
    }
    return (double)bytes / seconds / 1e9;
}

/* The read bandwidth of n_threads: the best of READ_PASSES passes of each pattern, after one
 * pass that faults the pages in; 0 if threads cannot be started. */
static double measure_read_bandwidth(const model_mapping *m, int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 64) n_threads = 64;
    if (read_pass(m, n_threads, 1, read_prefetch[0]) == 0) return 0;
    double best = 0;
    for (int streams = 1; streams <= READ_MAX_STREAMS; streams++)
        for (size_t p = 0; p < sizeof read_prefetch / sizeof *read_prefetch; p++)
            for (int pass = 0; pass < READ_PASSES; pass++) {
                const double gbs = read_pass(m, n_threads, streams, read_prefetch[p]);
                if (gbs > best) best = gbs;
            }
    return best;
}

/* ---------------------------------------------------------------------------------------------
 * Driver
 * ------------------------------------------------------------------------------------------- */

typedef enum test_kind { TEST_PROMPT, TEST_GEN } test_kind;

typedef struct printer {
    const options *o;
    model_facts model;
    size_t n_printed; /* results printed so far */
    model_mapping pages[2]; /* with --roofline, for the read loop: [huge_pages] */
    model_mapping dram;     /* and past the caches */
} printer;

/* The engine a test runs on */
typedef struct engine_setup {
    int64_t n_threads, huge_pages, kv_type;
    int64_t kv_bytes; /* engine param kv_bytes, or 0 for the library's default */
} engine_setup;

/* One warm-up run, then o->reps timed runs of a test; prints the result. */
static bool run_test(bench_context *ctx, printer *out, const engine_setup *e, test_kind kind,
                     int64_t n, int64_t depth) {
    test_result r = {.n_tokens = n, .n_threads = e->n_threads, .huge_pages = e->huge_pages,
                     .kv_type = e->kv_type, .depth = depth, .reps = out->o->reps};
    const int64_t n_threads = e->n_threads;
    const model_mapping *pages = &out->pages[e->huge_pages];
    const bool roofline = kind == TEST_GEN && pages->data;
    snprintf(r.test, sizeof r.test, "%s%" PRId64, kind == TEST_PROMPT ? "pp" : "tg", n);
    const size_t len = strlen(r.test);
    if (depth > 0) snprintf(r.test + len, sizeof r.test - len, "@d%" PRId64, depth);
    r.samples = calloc((size_t)r.reps, sizeof *r.samples);
    r.rooflines = calloc((size_t)r.reps, sizeof *r.rooflines);
    if (!r.samples || !r.rooflines) {
        free(r.samples);
        free(r.rooflines);
        fprintf(stderr, "pyagent-bench: out of memory\n");
        return false;
    }
    bool ok = true;
    double before = 0; /* with roofline: the read loop just before timed run i */
    for (int64_t i = -1; i < r.reps && ok; i++) {
        if (roofline && i == 0) before = measure_read_bandwidth(pages, (int)n_threads);
        const double tps =
            kind == TEST_PROMPT ? run_prompt_test(ctx, n) : run_gen_test(ctx, n, depth);
        ok = tps >= 0;
        if (!ok || i < 0) continue;
        r.samples[i] = tps;
        if (roofline) {
            const double after = measure_read_bandwidth(pages, (int)n_threads);
            r.rooflines[i] = after > before ? after : before;
            before = after;
        }
    }
    if (ok && roofline) r.dram_gbs = measure_read_bandwidth(&out->dram, (int)n_threads);
    if (ok) {
        summarize(&r);
        if (out->o->json) print_json_object(&out->model, &r, out->n_printed == 0);
        else print_table_row(&out->model, &r, out->n_printed == 0, out->o);
        out->n_printed++;
    }
    free(r.samples);
    free(r.rooflines);
    return ok;
}

static pyagent_params *engine_params(const options *o, const engine_setup *e) {
    pyagent_params *params = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    if (!params) {
        fprintf(stderr, "pyagent-bench: out of memory\n");
        return NULL;
    }
    /* room for the longest test: a pp sequence, or a depth (at least one token) plus the
     * generated tokens */
    const int64_t depth = list_max(&o->depths) > 1 ? list_max(&o->depths) : 1;
    const int64_t n_ctx = list_max(&o->n_prompt) > depth + list_max(&o->n_gen)
                              ? list_max(&o->n_prompt)
                              : depth + list_max(&o->n_gen);
    pyagent_status status = pyagent_params_set_i64(params, "n_threads", e->n_threads);
    if (status == PYAGENT_OK) status = pyagent_params_set_i64(params, "huge_pages", e->huge_pages);
    if (status == PYAGENT_OK) status = pyagent_params_set_i64(params, "kv_type", e->kv_type);
    if (status == PYAGENT_OK && e->kv_bytes > 0)
        status = pyagent_params_set_i64(params, "kv_bytes", e->kv_bytes);
    if (status == PYAGENT_OK) status = pyagent_params_set_i64(params, "n_ctx", n_ctx);
    /* the tests' random prompts are never shared; with the prefix cache on, every run's blocks
     * stayed cached and the next run took never-used blocks of the pool, whose first writes
     * fault pages in (~29 us per generated token of the 110M shape on the Zen 5 guest, 3 %): a
     * cost a long-running host pays once per block, and llama-bench pays when it zeroes its KV
     * buffer, before timing. Off, each run reuses the blocks the previous one released. */
    if (status == PYAGENT_OK) status = pyagent_params_set_i64(params, "prefix_cache", 0);
    if (status == PYAGENT_OK && o->n_batch > 0)
        status = pyagent_params_set_i64(params, "n_batch", o->n_batch);
    if (status != PYAGENT_OK) {
        fprintf(stderr, "pyagent-bench: engine params: %s\n", pyagent_params_last_error(params));
        pyagent_params_destroy(params);
        return NULL;
    }
    return params;
}

static bool engine_fact(pyagent_engine *engine, const char *key, int64_t *value) {
    if (pyagent_engine_info(engine, key, value) == PYAGENT_OK) return true;
    fprintf(stderr, "pyagent-bench: engine info '%s': %s\n", key,
            pyagent_engine_last_error(engine));
    return false;
}

#define DEFAULT_KV_BYTES (256ll << 20) /* the library's default kv_bytes */

/* KV bytes one sequence of the engine's n_ctx tokens takes (llama shapes: a head is
 * n_embd / n_head values), with two blocks of 16 to spare; 0 if the engine cannot say. */
static int64_t kv_bytes_for_n_ctx(pyagent_engine *engine, int64_t kv_type) {
    int64_t n_ctx, n_layer, n_embd, n_head, n_head_kv;
    if (pyagent_engine_info(engine, "n_ctx", &n_ctx) != PYAGENT_OK ||
        pyagent_engine_info(engine, "n_layer", &n_layer) != PYAGENT_OK ||
        pyagent_engine_info(engine, "n_embd", &n_embd) != PYAGENT_OK ||
        pyagent_engine_info(engine, "n_head", &n_head) != PYAGENT_OK ||
        pyagent_engine_info(engine, "n_head_kv", &n_head_kv) != PYAGENT_OK || n_head < 1)
        return 0;
    const double value_bytes = kv_type == PYAGENT_KV_F32   ? 4
                               : kv_type == PYAGENT_KV_F16 ? 2
                                                           : 34.0 / 32; /* Q8_0 */
    const double row_values = (double)n_head_kv * (double)(n_embd / n_head); /* K or V */
    return (int64_t)((double)(n_ctx + 32) * (double)n_layer * 2 * row_values * value_bytes);
}

/* Every test on an engine opened with `wanted` (n_threads 0: as many as physical cores); an
 * engine whose default KV pool cannot hold the deepest test is opened again with one that
 * can. */
static bool bench_engine(printer *out, engine_setup wanted, int32_t *token_buffer) {
    const options *o = out->o;
    bool ok = false;
    pyagent_engine *engine = NULL;
    pyagent_agent *agent = NULL;
    pyagent_params *sampler = NULL;
    bench_context ctx = {.token_buffer = token_buffer, .tokens = {.state = TOKEN_SEED}};
    engine_setup e = wanted; /* with the thread count the engine really uses */
    pyagent_params *params = engine_params(o, &wanted);
    if (!params) return false;

    if (pyagent_engine_open(o->model_path, params, &engine) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-bench: %s\n", pyagent_engine_last_error(engine));
        goto done;
    }
    const int64_t kv_bytes = wanted.kv_bytes ? 0 : kv_bytes_for_n_ctx(engine, wanted.kv_type);
    if (kv_bytes > DEFAULT_KV_BYTES) {
        pyagent_engine_destroy(engine);
        pyagent_params_destroy(params);
        wanted.kv_bytes = kv_bytes;
        return bench_engine(out, wanted, token_buffer);
    }
    if (!engine_fact(engine, "n_vocab", &ctx.tokens.n_vocab) ||
        !engine_fact(engine, "token_bos", &ctx.tokens.bos) ||
        !engine_fact(engine, "token_eos", &ctx.tokens.eos) ||
        !engine_fact(engine, "n_params", &out->model.n_params) ||
        !engine_fact(engine, "n_threads", &e.n_threads))
        goto done;

    sampler = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    if (!sampler || pyagent_params_set_f64(sampler, "temperature", 0.0) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-bench: greedy sampler: %s\n",
                pyagent_params_last_error(sampler));
        goto done;
    }
    if (pyagent_agent_create(engine, sampler, &agent) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-bench: %s\n", pyagent_engine_last_error(engine));
        goto done;
    }
    ctx.agent = agent;
    ok = true;
    for (size_t i = 0; i < o->n_prompt.count && ok; i++)
        if (o->n_prompt.values[i] > 0)
            ok = run_test(&ctx, out, &e, TEST_PROMPT, o->n_prompt.values[i], 0);
    for (size_t d = 0; d < o->depths.count && ok; d++)
        for (size_t i = 0; i < o->n_gen.count && ok; i++)
            if (o->n_gen.values[i] > 0)
                ok = run_test(&ctx, out, &e, TEST_GEN, o->n_gen.values[i], o->depths.values[d]);

done:
    pyagent_agent_destroy(agent);
    pyagent_engine_destroy(engine);
    pyagent_params_destroy(sampler);
    pyagent_params_destroy(params);
    return ok;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

#define OPENBLAS_SETTLE_US 200000

int main(int argc, char **argv) {
    /* Debian's default OpenBLAS (the pthread build) starts its idle threads when it is loaded
     * and lets them spin for 2^28 cycles (~0.1 s) before they sleep; the library sets OpenBLAS
     * to one thread, but those threads still took a core from the first tests (two-thread F16
     * decode read 2-6 % low). Measure after they sleep, as a long-running host would. */
    usleep(OPENBLAS_SETTLE_US);
    if (pyagent_check_abi(PYAGENT_ABI_VERSION) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-bench: libpyagent %s has ABI %d, this program was built for %d\n",
                pyagent_version_string(), (int)pyagent_abi_version(), PYAGENT_ABI_VERSION);
        return 1;
    }
    for (int i = 1; i < argc; i++) /* the multi-agent workload has its own flags */
        if (strcmp(argv[i], "--agents") == 0) return pa_bench_agents_main(argc, argv);
    for (int i = 1; i < argc; i++) /* and so has the latent hand-off */
        if (strcmp(argv[i], "--handoff") == 0) return pa_bench_handoff_main(argc, argv);
    for (int i = 1; i < argc; i++) /* KV memory by policy */
        if (strcmp(argv[i], "--memory") == 0) return pa_bench_memory_main(argc, argv);
    for (int i = 1; i < argc; i++) /* an adapter between two models */
        if (strcmp(argv[i], "--adapter") == 0) return pa_bench_adapter_main(argc, argv);
    for (int i = 1; i < argc; i++) /* speculative against plain decoding */
        if (strcmp(argv[i], "--spec") == 0) return pa_bench_spec_main(argc, argv);
    const options o = parse_options(argc, argv);
    struct stat st;
    if (stat(o.model_path, &st) != 0) {
        fprintf(stderr, "pyagent-bench: %s: %s\n", o.model_path, strerror(errno));
        return 1;
    }
    printer out = {
        .o = &o,
        .model = {.name = base_name(o.model_path), .size_mib = (double)st.st_size / 1048576.0},
        .n_printed = 0,
    };
    for (size_t i = 0; i < o.huge_pages.count && o.roofline; i++) {
        model_mapping *pages = &out.pages[o.huge_pages.values[i]];
        if (!pages->data && !map_model(o.model_path, o.huge_pages.values[i], pages)) return 1;
        if (!count_weight_bytes(pages, &out.model.weight_bytes_per_token)) return 1;
    }
    if (o.roofline && !map_past_the_caches(&out.dram)) return 1;
    const int64_t longest_prompt =
        list_max(&o.n_prompt) > list_max(&o.depths) ? list_max(&o.n_prompt) : list_max(&o.depths);
    int32_t *token_buffer = malloc((size_t)(longest_prompt + 1) * sizeof *token_buffer);
    if (!token_buffer) {
        fprintf(stderr, "pyagent-bench: out of memory\n");
        return 1;
    }

    if (o.json) printf("[\n");
    bool ok = true;
    for (size_t k = 0; k < o.kv_types.count && ok; k++)
        for (size_t h = 0; h < o.huge_pages.count && ok; h++)
            for (size_t i = 0; i < o.n_threads.count && ok; i++) {
                const engine_setup e = {.n_threads = o.n_threads.values[i],
                                        .huge_pages = o.huge_pages.values[h],
                                        .kv_type = o.kv_types.values[k]};
                ok = bench_engine(&out, e, token_buffer);
            }
    if (o.json) printf("%s]\n", out.n_printed ? "\n" : "");

    free(token_buffer);
    unmap_model(&out.pages[0]);
    unmap_model(&out.pages[1]);
    unmap_model(&out.dram);
    return ok ? 0 : 1;
}
