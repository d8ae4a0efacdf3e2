/*
 * pyagent-kvzap-fit — fits a KVzap surrogate for a model and writes it to a file that engines
 * load with pyagent_engine_load_kvzap (agents then prune with kv_policy kvzap).
 *
 * Usage:
 *   pyagent-kvzap-fit -m model.gguf -o model.kvzap [-f text.txt ...] [--own N] [options]
 *
 *   -f FILE       a text to fit on (repeatable; each file is one text)
 *   --own N       also N texts the model writes itself (sampled at temperature 1, seeds 1..N,
 *                 --own-tokens tokens each, default 160): no outside corpus needed
 *   --ridge A     ridge penalty (default 1, as kvpress)
 *   --heldout F   share of the texts measured rather than fitted (default 0.25)
 *   -c N          context (default 2048; each text is cut to (N - 1) / 2 tokens: it is read twice)
 *   -t N          threads (default 0 = the cores)
 *
 * Prints the held-out figures: R^2 of the predicted log-importance and the overlap of the
 * surrogate's top quarter of positions with the oracle's (chance: 0.25).
 * Exit status: 0 written, 1 a failure (message on stderr), 2 a bad flag.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pyagent/pyagent.h>

#define MAX_TEXTS 4096

static void usage(const char *msg) {
    fprintf(stderr, "pyagent-kvzap-fit: %s\nusage: pyagent-kvzap-fit -m MODEL -o OUT [-f TEXT ...] "
            "[--own N] [--own-tokens N] [--ridge A] [--heldout F] [-c N] [-t N]\n", msg);
    exit(2);
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "pyagent-kvzap-fit: %s: %s\n", what, msg);
    exit(1);
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path, "cannot open");
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n + 4096 + 1 > cap && !(buf = realloc(buf, cap = 2 * cap + 8192))) die(path, "out of memory");
        got = fread(buf + n, 1, 4096, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = 0;
    return buf;
}

typedef struct text_buf {
    char *s;
    size_t n, cap;
} text_buf;

static void append(void *ud, int32_t token, const char *text, size_t len) {
    (void)token;
    text_buf *b = ud;
    if (b->n + len + 1 > b->cap && !(b->s = realloc(b->s, b->cap = 2 * (b->n + len + 1))))
        die("text", "out of memory");
    memcpy(b->s + b->n, text, len);
    b->s[b->n += len] = 0;
}

/* A text the model writes from an empty context with sampling seed `seed`. */
static char *own_text(pyagent_engine *e, int64_t seed, int n_tokens) {
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 1.0);
    pyagent_params_set_i64(s, "seed", seed);
    pyagent_agent *a = NULL;
    if (pyagent_agent_create(e, s, &a)) die("agent", pyagent_engine_last_error(e));
    pyagent_params_destroy(s);
    text_buf b = {.s = calloc(1, 1), .cap = 1};
    if (pyagent_agent_feed_text(a, "", -1) || pyagent_agent_generate(a, n_tokens, append, &b, NULL))
        die("generate", pyagent_agent_last_error(a));
    pyagent_agent_destroy(a);
    return b.s;
}

int main(int argc, char **argv) {
    const char *model = NULL, *out = NULL;
    char *texts[MAX_TEXTS];
    int n_texts = 0, own = 0, own_tokens = 160;
    double ridge = 1.0, heldout = 0.25;
    int64_t n_ctx = 2048, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage("every flag takes a value");
        i++;
        if (!strcmp(f, "-m")) model = v;
        else if (!strcmp(f, "-o")) out = v;
        else if (!strcmp(f, "-f")) {
            if (n_texts == MAX_TEXTS) usage("too many texts");
            texts[n_texts++] = read_text(v);
        } else if (!strcmp(f, "--own")) own = atoi(v);
        else if (!strcmp(f, "--own-tokens")) own_tokens = atoi(v);
        else if (!strcmp(f, "--ridge")) ridge = atof(v);
        else if (!strcmp(f, "--heldout")) heldout = atof(v);
        else if (!strcmp(f, "-c")) n_ctx = atoll(v);
        else if (!strcmp(f, "-t")) threads = atoll(v);
        else usage("unknown flag");
    }
    if (!model || !out) usage("-m and -o are required");
    if (own < 0 || own > MAX_TEXTS - n_texts || own_tokens < 4) usage("--own out of range");

    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    if (pyagent_params_set_i64(p, "n_ctx", n_ctx) || pyagent_params_set_i64(p, "n_threads", threads))
        usage(pyagent_params_last_error(p));
    pyagent_params_set_i64(p, "prefix_cache", 0);
    pyagent_engine *e = NULL;
    if (pyagent_engine_open(model, p, &e)) die(model, pyagent_engine_last_error(e));
    pyagent_params_destroy(p);
    for (int i = 0; i < own; i++) texts[n_texts++] = own_text(e, 1 + i, own_tokens);

    pyagent_kvzap_info info = {.struct_size = sizeof info};
    if (pyagent_kvzap_fit(e, (const char *const *)texts, (size_t)n_texts, ridge, heldout, out, &info))
        die("fit", pyagent_engine_last_error(e));
    printf("wrote %s: %lld layers x %lld kv heads, fitted on %lld positions of %lld texts; held out "
           "%lld positions: R^2 %.3f, top-quarter overlap %.3f (chance 0.25)\n",
           out, (long long)info.n_layer, (long long)info.n_head_kv, (long long)info.n_train,
           (long long)info.n_texts, (long long)info.n_heldout, info.r2_heldout, info.top_overlap);
    for (int i = 0; i < n_texts; i++) free(texts[i]);
    pyagent_engine_destroy(e);
    return 0;
}
