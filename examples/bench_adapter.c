/*
 * pyagent-bench's adapter workload (pyagent-bench --adapter -s SRC.gguf -m DST.gguf ...):
 *
 *   Fits an adapter from SRC's hidden states to DST's input embeddings on the text of
 *   --text FILE (latent.h) and reports the fit: pairs, held-out R² and top-1, seconds. With
 *   --eval FILE it then measures what the adapter carries: SRC reads the first P tokens of that
 *   text, its hidden states go through the adapter into a DST agent (the first token as
 *   itself, the others as rows), and DST's loss on the next S tokens is compared with DST
 *   given the prefix's own tokens, no prefix (only the first token), and as many rows of the
 *   adapted rows' mean (the positions without their content).
 *
 *   --text FILE    the fitting text (required)
 *   --eval FILE    text for the prefix/suffix comparison (its first P + S tokens)
 *   -P N           prefix tokens (default 128)
 *   -S N           suffix tokens (default 128)
 *   --ridge L      ridge penalty (default 1)
 *   --heldout F    held-out fraction of the fitting pairs (default 0.2)
 *   --save PATH    write the adapter file
 *   -t N           threads of each engine (default 0 = the cores)
 *   --json         one JSON object instead of text
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pyagent/pyagent.h>

#include "bench_adapter.h"

typedef struct adapter_options {
    const char *src, *dst, *text, *eval, *save;
    int64_t prefix, suffix, threads;
    double ridge, heldout;
    bool json;
} adapter_options;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "pyagent-bench --adapter: %s: %s\n", what, msg);
    exit(1);
}

static void usage_error(const char *flag, const char *why) {
    fprintf(stderr, "pyagent-bench --adapter: %s: %s\n", flag, why);
    exit(2);
}

static double number(const char *flag, const char *text, double min, double max) {
    char *end = NULL;
    errno = 0;
    const double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= min && v <= max))
        usage_error(flag, "not a number in range");
    return v;
}

static adapter_options parse(int argc, char **argv) {
    adapter_options o = {.prefix = 128, .suffix = 128, .ridge = 1, .heldout = 0.2};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--adapter")) continue;
        if (!strcmp(f, "--json")) {
            o.json = true;
            continue;
        }
        if (!v) usage_error(f, "needs a value");
        if (!strcmp(f, "-s") || !strcmp(f, "--source")) o.src = v;
        else if (!strcmp(f, "-m") || !strcmp(f, "--model")) o.dst = v;
        else if (!strcmp(f, "--text")) o.text = v;
        else if (!strcmp(f, "--eval")) o.eval = v;
        else if (!strcmp(f, "--save")) o.save = v;
        else if (!strcmp(f, "-P")) o.prefix = (int64_t)number(f, v, 2, 1 << 16);
        else if (!strcmp(f, "-S")) o.suffix = (int64_t)number(f, v, 1, 1 << 16);
        else if (!strcmp(f, "--ridge")) o.ridge = number(f, v, 0, 1e12);
        else if (!strcmp(f, "--heldout")) o.heldout = number(f, v, 0, 0.9);
        else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) o.threads = (int64_t)number(f, v, 0, 1024);
        else usage_error(f, "unknown flag (--adapter takes -s, -m, --text, --eval, -P, -S, "
                            "--ridge, --heldout, --save, -t, --json)");
        i++;
    }
    if (!o.src || !o.dst) usage_error("-s/-m", "a source and a target model are required");
    if (!o.text) usage_error("--text", "a fitting text is required");
    return o;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path, strerror(errno));
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) die(path, "cannot read");
    text[n] = 0;
    fclose(f);
    return text;
}

static pyagent_engine *open_engine(const char *path, int64_t threads) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_threads", threads);
    pyagent_params_set_i64(p, "prefix_cache", 0);
    pyagent_engine *e = NULL;
    if (pyagent_engine_open(path, p, &e) != PYAGENT_OK) die(path, pyagent_engine_last_error(e));
    pyagent_params_destroy(p);
    return e;
}

static void check(pyagent_agent *a, pyagent_status st, const char *what) {
    if (st != PYAGENT_OK) die(what, pyagent_agent_last_error(a));
}

static int64_t info(pyagent_engine *e, const char *key) {
    int64_t v = 0;
    pyagent_engine_info(e, key, &v);
    return v;
}

/* Mean -log p(ids[from..to)) of an agent already fed everything before ids[from], in nats. */
static double suffix_nll(pyagent_agent *a, const int32_t *ids, int64_t from, int64_t to,
                         float *logits, size_t n_vocab) {
    double nll = 0;
    for (int64_t i = from; i < to; i++) {
        size_t got = 0;
        check(a, pyagent_agent_prefill(a), "prefill");
        check(a, pyagent_agent_logits(a, logits, n_vocab, &got), "logits");
        double max = logits[0], sum = 0;
        for (size_t t = 1; t < n_vocab; t++) max = logits[t] > max ? logits[t] : max;
        for (size_t t = 0; t < n_vocab; t++) sum += exp(logits[t] - max);
        nll += -(logits[ids[i]] - max - log(sum));
        check(a, pyagent_agent_feed_tokens(a, ids + i, 1), "feed");
    }
    return nll / (double)(to - from);
}

typedef struct eval_result {
    double own, adapted, mean_rows, none; /* nats per suffix token */
} eval_result;

static eval_result evaluate(const adapter_options *o, pyagent_engine *src, pyagent_engine *dst,
                            const pyagent_adapter *adapter, const char *text) {
    const size_t din = (size_t)info(src, "n_embd"), dout = (size_t)info(dst, "n_embd");
    const size_t n_vocab = (size_t)info(dst, "n_vocab");
    const int64_t p = o->prefix, n = o->prefix + o->suffix;
    size_t n_ids = 0;
    pyagent_engine_tokenize(src, text, -1, 0, NULL, 0, &n_ids);
    if ((int64_t)n_ids < n) die("--eval", "the text has fewer than P + S tokens");
    if (n > info(src, "n_ctx") || n > info(dst, "n_ctx"))
        die("-P/-S", "P + S is longer than the models' n_ctx");
    int32_t *ids = malloc(n_ids * sizeof *ids);
    pyagent_engine_tokenize(src, text, -1, 0, ids, n_ids, &n_ids);

    float *h = malloc(din * sizeof *h), *rows = malloc((size_t)p * dout * sizeof *rows);
    float *mean = calloc(dout, sizeof *mean), *logits = malloc(n_vocab * sizeof *logits);
    pyagent_agent *reader = NULL, *own = NULL, *adapted = NULL, *blind = NULL, *none = NULL;
    pyagent_agent_create(src, NULL, &reader);
    for (int64_t i = 0; i < p; i++) { /* SRC's state after token i stands for token i */
        size_t got = 0;
        check(reader, pyagent_agent_feed_tokens(reader, ids + i, 1), "feed");
        check(reader, pyagent_agent_prefill(reader), "prefill");
        check(reader, pyagent_agent_hidden(reader, h, din, &got), "hidden");
        pyagent_adapter_apply(adapter, h, 1, rows + (size_t)i * dout, dout);
        for (size_t j = 0; j < dout; j++) mean[j] += rows[(size_t)i * dout + j] / (float)p;
    }
    pyagent_agent_create(dst, NULL, &own);
    pyagent_agent_create(dst, NULL, &adapted);
    pyagent_agent_create(dst, NULL, &blind);
    pyagent_agent_create(dst, NULL, &none);
    check(own, pyagent_agent_feed_tokens(own, ids, (size_t)p), "feed");
    check(adapted, pyagent_agent_feed_tokens(adapted, ids, 1), "feed");
    check(adapted, pyagent_agent_feed_embeddings(adapted, rows + dout, (size_t)p - 1, dout), "rows");
    check(blind, pyagent_agent_feed_tokens(blind, ids, 1), "feed");
    for (int64_t i = 1; i < p; i++) check(blind, pyagent_agent_feed_embeddings(blind, mean, 1, dout), "rows");
    check(none, pyagent_agent_feed_tokens(none, ids, 1), "feed");
    eval_result r = {
        .own = suffix_nll(own, ids, p, n, logits, n_vocab),
        .adapted = suffix_nll(adapted, ids, p, n, logits, n_vocab),
        .mean_rows = suffix_nll(blind, ids, p, n, logits, n_vocab),
        .none = suffix_nll(none, ids, p, n, logits, n_vocab),
    };
    pyagent_agent_destroy(reader), pyagent_agent_destroy(own), pyagent_agent_destroy(adapted);
    pyagent_agent_destroy(blind), pyagent_agent_destroy(none);
    free(ids), free(h), free(rows), free(mean), free(logits);
    return r;
}

int pa_bench_adapter_main(int argc, char **argv) {
    const adapter_options o = parse(argc, argv);
    pyagent_engine *src = open_engine(o.src, o.threads), *dst = open_engine(o.dst, o.threads);
    char *text = read_text(o.text);
    pyagent_adapter *adapter = NULL;
    const double t0 = now_s();
    if (pyagent_adapter_fit(src, dst, text, -1, o.ridge, o.heldout, &adapter) != PYAGENT_OK)
        die("fit", pyagent_engine_last_error(dst));
    const double fit_s = now_s() - t0;
    pyagent_adapter_info ai = {.struct_size = sizeof ai};
    pyagent_adapter_info_get(adapter, &ai);
    if (o.save && pyagent_adapter_save(dst, adapter, o.save) != PYAGENT_OK)
        die(o.save, pyagent_engine_last_error(dst));
    eval_result r = {NAN, NAN, NAN, NAN};
    if (o.eval) {
        char *eval_text = read_text(o.eval);
        r = evaluate(&o, src, dst, adapter, eval_text);
        free(eval_text);
    }
    if (o.json) {
        printf("{\"dim_in\": %lld, \"dim_out\": %lld, \"n_train\": %lld, \"n_heldout\": %lld, "
               "\"ridge\": %g, \"r2_train\": %.4f, \"r2_heldout\": %.4f, \"top1_heldout\": %.4f, "
               "\"fit_s\": %.3f",
               (long long)ai.dim_in, (long long)ai.dim_out, (long long)ai.n_train,
               (long long)ai.n_heldout, ai.ridge, ai.r2_train, ai.r2_heldout, ai.top1_heldout,
               fit_s);
        if (o.eval)
            printf(", \"prefix\": %lld, \"suffix\": %lld, \"nll_own\": %.4f, \"nll_adapted\": "
                   "%.4f, \"nll_mean_rows\": %.4f, \"nll_no_prefix\": %.4f",
                   (long long)o.prefix, (long long)o.suffix, r.own, r.adapted, r.mean_rows,
                   r.none);
        printf("}\n");
    } else {
        printf("adapter %lld -> %lld: fitted on %lld pairs in %.2f s (ridge %g)\n",
               (long long)ai.dim_in, (long long)ai.dim_out, (long long)ai.n_train, fit_s,
               ai.ridge);
        printf("  R² train %.3f, held-out %.3f over %lld pairs; held-out top-1 %.3f\n",
               ai.r2_train, ai.r2_heldout, (long long)ai.n_heldout, ai.top1_heldout);
        if (o.eval)
            printf("  target loss on %lld tokens after a %lld-token prefix (nats/token): own "
                   "tokens %.3f, adapted source states %.3f, mean rows %.3f, no prefix %.3f\n",
                   (long long)o.suffix, (long long)o.prefix, r.own, r.adapted, r.mean_rows,
                   r.none);
    }
    pyagent_adapter_destroy(adapter);
    free(text);
    pyagent_engine_destroy(src);
    pyagent_engine_destroy(dst);
    return 0;
}
