/* llama-cpp-bench: llama.cpp's own pp/tg figures for a GGUF file, measured the way pyagent-bench
 * measures ours (one warm-up, then timed runs; pp N = one batch of N tokens into an empty
 * context, tg N = N single-token steps from an empty context, or after an untimed prompt of
 * DEPTH tokens), so compare.py can put the two side by side on the same machine in the same
 * minutes.
 *
 * It calls llama.cpp's public C API in the prebuilt libraries of the npm package
 * @node-llama-cpp/linux-x64 (compare.sh fetches and builds it; nothing here is part of
 * libpyagent). The few declarations below follow include/llama.h. The parameter structs are
 * only ever taken from llama_*_default_params() and handed back unchanged, so they are
 * declared as opaque, oversized blobs: both are passed in memory on x86-64, and the library
 * reads only its own fields, except n_ctx, the first field of llama_context_params (uint32),
 * raised for deep tests. Threads are set with llama_set_n_threads.
 *
 *   llama-cpp-bench LIBDIR MODEL THREADS PP TG REPS [DEPTH]
 * prints one JSON object per test: {"test": "pp128", "threads": 1, "samples": [...]} */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { unsigned char bytes[1024]; } llama_params_blob;
typedef struct llama_batch {
    int32_t n_tokens;
    int32_t *token;
    float *embd;
    int32_t *pos;
    int32_t *n_seq_id;
    int32_t **seq_id;
    int8_t *logits;
} llama_batch;

void ggml_backend_load_all_from_path(const char *dir);
void llama_log_set(void (*log)(int level, const char *text, void *user), void *user);
void llama_backend_init(void);
llama_params_blob llama_model_default_params(void);
llama_params_blob llama_context_default_params(void);
void *llama_model_load_from_file(const char *path, llama_params_blob params);
void *llama_init_from_model(void *model, llama_params_blob params);
void llama_set_n_threads(void *ctx, int32_t n_threads, int32_t n_threads_batch);
const void *llama_model_get_vocab(const void *model);
int32_t llama_vocab_n_tokens(const void *vocab);
llama_batch llama_batch_get_one(int32_t *tokens, int32_t n_tokens);
int32_t llama_decode(void *ctx, llama_batch batch);
void llama_synchronize(void *ctx);
void *llama_get_memory(void *ctx);
void llama_memory_clear(void *memory, bool data);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void quiet(int level, const char *text, void *user) { (void)level, (void)text, (void)user; }

static void decode_or_die(void *ctx, int32_t *tokens, int n) {
    if (llama_decode(ctx, llama_batch_get_one(tokens, n)) != 0) {
        fprintf(stderr, "llama-cpp-bench: llama_decode failed\n");
        exit(1);
    }
}

#define PROMPT_CHUNK 512 /* tokens per llama_decode of a depth prompt (the default n_ubatch) */

/* tokens/s of one run: pp (one batch of n) or tg (n steps of one), from an empty context or,
 * for tg, after `depth` prompt tokens */
static double run_once(void *ctx, bool prompt, int32_t *tokens, int n, int depth, int n_vocab) {
    llama_memory_clear(llama_get_memory(ctx), true);
    for (int i = 0; i < n + depth; i++) tokens[i] = rand() % n_vocab;
    for (int i = 0; !prompt && i < depth; i += PROMPT_CHUNK)
        decode_or_die(ctx, tokens + i, depth - i < PROMPT_CHUNK ? depth - i : PROMPT_CHUNK);
    tokens += prompt ? 0 : depth;
    llama_synchronize(ctx);
    const double t0 = now();
    if (prompt) decode_or_die(ctx, tokens, n);
    else
        for (int i = 0; i < n; i++) decode_or_die(ctx, tokens + i, 1);
    llama_synchronize(ctx);
    return n / (now() - t0);
}

static void run_test(void *ctx, bool prompt, int n, int depth, int reps, int threads,
                     int n_vocab) {
    if (n <= 0) return;
    int32_t *tokens = malloc(sizeof *tokens * (n + depth));
    run_once(ctx, prompt, tokens, n, depth, n_vocab); /* warm-up */
    printf("{\"test\": \"%s%d", prompt ? "pp" : "tg", n);
    if (depth > 0) printf("@d%d", depth);
    printf("\", \"threads\": %d, \"samples\": [", threads);
    for (int r = 0; r < reps; r++)
        printf("%s%.2f", r ? ", " : "", run_once(ctx, prompt, tokens, n, depth, n_vocab));
    printf("]}\n");
    fflush(stdout);
    free(tokens);
}

int main(int argc, char **argv) {
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: llama-cpp-bench LIBDIR MODEL THREADS PP TG REPS [DEPTH]\n");
        return 2;
    }
    const int threads = atoi(argv[3]), pp = atoi(argv[4]), tg = atoi(argv[5]), reps = atoi(argv[6]);
    const int depth = argc == 8 ? atoi(argv[7]) : 0;
    if (!getenv("LLAMA_CPP_BENCH_VERBOSE")) llama_log_set(quiet, NULL);
    ggml_backend_load_all_from_path(argv[1]); /* the CPU variant that suits this machine */
    llama_backend_init();
    void *model = llama_model_load_from_file(argv[2], llama_model_default_params());
    llama_params_blob cparams = llama_context_default_params();
    uint32_t n_ctx; /* room for the longest test */
    memcpy(&n_ctx, cparams.bytes, sizeof n_ctx);
    const uint32_t need = (uint32_t)(pp > depth + tg ? pp : depth + tg);
    if (need > n_ctx) memcpy(cparams.bytes, &need, sizeof need);
    void *ctx = model ? llama_init_from_model(model, cparams) : NULL;
    if (!ctx) {
        fprintf(stderr, "llama-cpp-bench: cannot load %s\n", argv[2]);
        return 1;
    }
    llama_set_n_threads(ctx, threads, threads);
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    srand(1);
    run_test(ctx, true, pp, 0, reps, threads, n_vocab);
    run_test(ctx, false, tg, depth, reps, threads, n_vocab);
    return 0;
}
