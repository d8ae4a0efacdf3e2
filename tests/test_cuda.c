/*
 * The CUDA backend (engine param backend = PYAGENT_BACKEND_CUDA) against the CPU backend and
 * the golden files. Suite 'cuda': it needs a GPU, so CI (no GPU) runs meson test without it and
 * tests/gpu/run.sh runs it on a GPU machine.
 *
 * Tolerance of logits, CPU vs GPU: max |cuda - cpu| <= tol * max(1, max |cpu|), with tol 1e-3
 * for f32 weights and 2e-2 for the others: the GPU sums in another order everywhere, and a
 * prompt of 16 tokens or more goes through cuBLAS with its activations rounded to the weights'
 * type (f16, bf16) where the CPU keeps them in f32.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pyagent/pyagent.h>

#define MAX_IDS 256
#define N_VOCAB_MAX 4096

static char data_dir[1024], models_dir[1024];

static void path_of(char *out, size_t size, const char *dir, const char *name) {
    snprintf(out, size, "%s/%s", dir, name);
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                      */

static pyagent_status try_open(const char *path, int64_t backend, int64_t kv_type,
                               int64_t prefix_cache, pyagent_engine **e) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "backend", backend);
    pyagent_params_set_i64(p, "kv_type", kv_type);
    pyagent_params_set_i64(p, "n_threads", 2);
    pyagent_params_set_i64(p, "n_ctx", 256);
    pyagent_params_set_i64(p, "prefix_cache", prefix_cache);
    pyagent_status st = pyagent_engine_open(path, p, e);
    pyagent_params_destroy(p);
    return st;
}

static pyagent_engine *open_engine(const char *path, int64_t backend, int64_t kv_type,
                                   int64_t prefix_cache) {
    pyagent_engine *e = NULL;
    pyagent_status st = try_open(path, backend, kv_type, prefix_cache, &e);
    if (st) fprintf(stderr, "open %s: %s\n", path, pyagent_engine_last_error(e));
    assert_int_equal(st, PYAGENT_OK);
    return e;
}

static pyagent_agent *greedy_agent(pyagent_engine *e, int64_t spec) {
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 0);
    pyagent_params_set_i64(s, "spec", spec);
    pyagent_agent *a = NULL;
    assert_int_equal(pyagent_agent_create(e, s, &a), PYAGENT_OK);
    pyagent_params_destroy(s);
    return a;
}

static size_t logits_of(pyagent_agent *a, float *out) {
    size_t n = 0;
    assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
    assert_int_equal(pyagent_agent_logits(a, out, N_VOCAB_MAX, &n), PYAGENT_OK);
    return n;
}

/* max |a - b| / max(1, max |b|) */
static double relative_diff(const float *a, const float *b, size_t n) {
    double d = 0, scale = 1;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return d / scale;
}

static int32_t argmax(const float *x, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}

static void random_tokens(int32_t *out, size_t n, int64_t n_vocab, unsigned *seed) {
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        out[i] = 3 + (int32_t)((*seed >> 8) % (unsigned)(n_vocab - 3));
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Logits, CPU vs CUDA                                                                         */

/* A 40-token prompt (cuBLAS for float weights), then 8 greedy decode steps (GEMV), the logits
 * of every step within `tol` of the CPU's. */
static void logits_match_cpu(const char *file, int64_t kv_type, double tol) {
    char path[1200];
    path_of(path, sizeof path, strcmp(file, "stories260K.gguf") ? models_dir : data_dir, file);
    pyagent_engine *cpu = open_engine(path, PYAGENT_BACKEND_CPU, kv_type, 0);
    pyagent_engine *gpu = open_engine(path, PYAGENT_BACKEND_CUDA, kv_type, 0);
    int64_t n_vocab = 0;
    assert_int_equal(pyagent_engine_info(cpu, "n_vocab", &n_vocab), PYAGENT_OK);
    assert_true(n_vocab <= N_VOCAB_MAX);
    pyagent_agent *a = greedy_agent(cpu, PYAGENT_SPEC_OFF), *b = greedy_agent(gpu, PYAGENT_SPEC_OFF);
    int32_t prompt[40];
    unsigned seed = 5;
    random_tokens(prompt, 40, n_vocab, &seed);
    assert_int_equal(pyagent_agent_feed_tokens(a, prompt, 40), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(b, prompt, 40), PYAGENT_OK);
    static float want[N_VOCAB_MAX], got[N_VOCAB_MAX];
    double worst = 0;
    for (int step = 0; step < 9; step++) {
        size_t n = logits_of(a, want);
        assert_int_equal(logits_of(b, got), n);
        const double d = relative_diff(got, want, n);
        worst = fmax(worst, d);
        if (d > tol) fprintf(stderr, "%s step %d: relative difference %.3g > %.3g\n", file, step,
                             d, tol);
        assert_true(d <= tol);
        const int32_t next = argmax(want, n);
        assert_int_equal(pyagent_agent_feed_tokens(a, &next, 1), PYAGENT_OK);
        assert_int_equal(pyagent_agent_feed_tokens(b, &next, 1), PYAGENT_OK);
    }
    printf("# %s (kv %s): max relative |cuda - cpu| = %.3g (tolerance %.0e)\n", file,
           kv_type == PYAGENT_KV_F16 ? "f16" : "f32", worst, tol);
    pyagent_agent_destroy(a);
    pyagent_agent_destroy(b);
    pyagent_engine_destroy(cpu);
    pyagent_engine_destroy(gpu);
}

static void logits_match_cpu_stories260K(void **state) {
    (void)state;
    logits_match_cpu("stories260K.gguf", PYAGENT_KV_F32, 1e-3);
}
static void logits_match_cpu_f32(void **state) {
    (void)state;
    logits_match_cpu("tiny-f32.gguf", PYAGENT_KV_F32, 1e-3);
}
static void logits_match_cpu_f32_width_256(void **state) {
    (void)state;
    logits_match_cpu("tiny256-f32.gguf", PYAGENT_KV_F32, 1e-3);
}
static void logits_match_cpu_tied_f32(void **state) {
    (void)state;
    logits_match_cpu("tiny-tied-f32.gguf", PYAGENT_KV_F32, 1e-3);
}
static void logits_match_cpu_f16(void **state) {
    (void)state;
    logits_match_cpu("tiny-f16.gguf", PYAGENT_KV_F32, 2e-2);
}
static void logits_match_cpu_wide_f16(void **state) {
    (void)state;
    logits_match_cpu("tiny-wide-f16.gguf", PYAGENT_KV_F16, 2e-2);
}

static void logits_match_cpu_f16_with_f16_kv(void **state) {
    (void)state;
    logits_match_cpu("tiny-f16.gguf", PYAGENT_KV_F16, 2e-2);
}
static void logits_match_cpu_bf16(void **state) {
    (void)state;
    logits_match_cpu("tiny-bf16.gguf", PYAGENT_KV_F32, 2e-2);
}
static void logits_match_cpu_q8_0(void **state) {
    (void)state;
    logits_match_cpu("tiny-q8_0.gguf", PYAGENT_KV_F32, 2e-2);
}
static void logits_match_cpu_q4_0(void **state) {
    (void)state;
    logits_match_cpu("tiny-q4_0.gguf", PYAGENT_KV_F32, 2e-2);
}

/* Q4_K has no GPU kernel yet: open says so instead of computing on the CPU. */
static void q4_K_weights_are_refused_on_the_gpu(void **state) {
    (void)state;
    char path[1200];
    path_of(path, sizeof path, models_dir, "tiny256-q4_K.gguf");
    pyagent_engine *e = NULL;
    assert_int_equal(try_open(path, PYAGENT_BACKEND_CUDA, PYAGENT_KV_F32, 1, &e),
                     PYAGENT_ERR_UNSUPPORTED);
    assert_non_null(strstr(pyagent_engine_last_error(e), "no GPU kernel"));
    pyagent_engine_destroy(e);
}

static void device_index_past_the_last_is_out_of_range(void **state) {
    (void)state;
    char path[1200];
    path_of(path, sizeof path, data_dir, "stories260K.gguf");
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "backend", PYAGENT_BACKEND_CUDA);
    pyagent_params_set_i64(p, "device", 1023);
    pyagent_engine *e = NULL;
    assert_int_equal(pyagent_engine_open(path, p, &e), PYAGENT_ERR_OUT_OF_RANGE);
    assert_non_null(strstr(pyagent_engine_last_error(e), "device 1023"));
    pyagent_params_destroy(p);
    pyagent_engine_destroy(e);
}

/* ------------------------------------------------------------------------------------------ */
/* The golden continuation                                                                     */

static int parse_ids(const char *line, int32_t *ids) {
    const char *colon = strchr(line, ':');
    int n = 0;
    char *end;
    for (const char *p = colon + 1;; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p || n == MAX_IDS) break;
        ids[n++] = (int32_t)v;
    }
    return n;
}

/* run.c's generated_ids for PROMPT in stories260K-greedy.txt (as test_engine.c reads them). */
static int load_reference(const char *prompt, int32_t *generated) {
    char path[1200], line[4096], header[256];
    path_of(path, sizeof path, data_dir, "stories260K-greedy.txt");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    snprintf(header, sizeof header, "PROMPT: \"%s\"", prompt);
    int state = 0, n = 0;
    while (fgets(line, sizeof line, f)) {
        if (state == 0 && strncmp(line, header, strlen(header)) == 0) state = 1;
        else if (state == 1 && strstr(line, "--- llama2.c run.c")) state = 2;
        else if (state == 2 && strncmp(line, "generated_ids", 13) == 0) {
            n = parse_ids(line, generated);
            break;
        }
    }
    fclose(f);
    return n;
}

typedef struct collected {
    int32_t ids[MAX_IDS];
    int n;
} collected;

static void collect(void *user_data, int32_t token, const char *text, size_t len) {
    (void)text, (void)len;
    collected *c = user_data;
    if (c->n < MAX_IDS) c->ids[c->n++] = token;
}

static void greedy_matches_reference(const char *prompt, int64_t spec) {
    char path[1200];
    path_of(path, sizeof path, data_dir, "stories260K.gguf");
    int32_t ref[MAX_IDS];
    assert_int_equal(load_reference(prompt, ref), 64);
    pyagent_engine *e = open_engine(path, PYAGENT_BACKEND_CUDA, PYAGENT_KV_F32, 1);
    pyagent_agent *a = greedy_agent(e, spec);
    assert_int_equal(pyagent_agent_feed_text(a, prompt, -1), PYAGENT_OK);
    collected out = {0};
    int32_t finish = 0;
    assert_int_equal(pyagent_agent_generate(a, 200, collect, &out, &finish), PYAGENT_OK);
    assert_int_equal(out.n, 200); /* past the file's context_length of 128 */
    for (int i = 0; i < 64; i++) assert_int_equal(out.ids[i], ref[i]);
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
}

static void greedy_once_upon_a_time_matches_reference(void **state) {
    (void)state;
    greedy_matches_reference("Once upon a time", PYAGENT_SPEC_OFF);
}

static void greedy_empty_prompt_matches_reference(void **state) {
    (void)state;
    greedy_matches_reference("", PYAGENT_SPEC_OFF);
}

/* Draft trees verified on the GPU (tree segments, ancestor attention, accepted K/V moved in
 * device memory) give plain greedy's tokens. */
static void speculative_greedy_matches_reference(void **state) {
    (void)state;
    greedy_matches_reference("Once upon a time", PYAGENT_SPEC_LOOKUP);
}

/* ------------------------------------------------------------------------------------------ */
/* Many agents                                                                                 */

#define N_AGENTS 16
#define N_GEN 32
static const char *shared_prefix = "Once upon a time, there was a little girl named Lily. She ";
static const char *suffixes[N_AGENTS] = {
    "liked", "had a dog", "went to the park", "saw a bird", "was sad", "played with Tom",
    "found a box", "wanted a cake", "ran fast", "loved the sun", "made a friend", "lost her hat",
    "sang a song", "ate an apple", "drew a cat", "climbed a tree"};

static void prompt_of(int i, char *out, size_t size) {
    snprintf(out, size, "%s%s", shared_prefix, suffixes[i]);
}

/* 16 agents sharing a cached prompt prefix, all decoding in the same GPU steps, give each the
 * tokens it gives alone on a fresh engine. */
static void many_agents_batched_equal_solo_runs(void **state) {
    (void)state;
    char path[1200], prompt[256];
    path_of(path, sizeof path, data_dir, "stories260K.gguf");
    collected solo[N_AGENTS], batched[N_AGENTS];
    for (int i = 0; i < N_AGENTS; i++) {
        pyagent_engine *e = open_engine(path, PYAGENT_BACKEND_CUDA, PYAGENT_KV_F16, 0);
        pyagent_agent *a = greedy_agent(e, PYAGENT_SPEC_OFF);
        prompt_of(i, prompt, sizeof prompt);
        memset(&solo[i], 0, sizeof solo[i]);
        assert_int_equal(pyagent_agent_feed_text(a, prompt, -1), PYAGENT_OK);
        assert_int_equal(pyagent_agent_generate(a, N_GEN, collect, &solo[i], NULL), PYAGENT_OK);
        pyagent_agent_destroy(a);
        pyagent_engine_destroy(e);
    }

    pyagent_engine *e = open_engine(path, PYAGENT_BACKEND_CUDA, PYAGENT_KV_F16, 1);
    pyagent_agent *first = greedy_agent(e, PYAGENT_SPEC_OFF); /* fills the prefix cache */
    prompt_of(0, prompt, sizeof prompt);
    assert_int_equal(pyagent_agent_feed_text(first, prompt, -1), PYAGENT_OK);
    assert_int_equal(pyagent_agent_prefill(first), PYAGENT_OK);
    pyagent_agent_destroy(first);
    pyagent_agent *agents[N_AGENTS];
    for (int i = 0; i < N_AGENTS; i++) {
        agents[i] = greedy_agent(e, PYAGENT_SPEC_OFF);
        prompt_of(i, prompt, sizeof prompt);
        memset(&batched[i], 0, sizeof batched[i]);
        assert_int_equal(pyagent_agent_feed_text(agents[i], prompt, -1), PYAGENT_OK);
        assert_int_equal(pyagent_agent_submit(agents[i], N_GEN, collect, &batched[i]), PYAGENT_OK);
    }
    int steps = 0;
    int32_t n_active = 1;
    while (n_active > 0) {
        assert_int_equal(pyagent_engine_step(e, &n_active), PYAGENT_OK);
        steps++;
    }
    assert_true(steps <= N_GEN + 4); /* one step per token for all of them */
    for (int i = 0; i < N_AGENTS; i++) {
        int32_t finish = 0;
        assert_int_equal(pyagent_agent_poll(agents[i], &finish), PYAGENT_OK);
        assert_int_equal(finish, PYAGENT_FINISH_LENGTH);
        assert_int_equal(batched[i].n, solo[i].n);
        assert_memory_equal(batched[i].ids, solo[i].ids, (size_t)solo[i].n * sizeof(int32_t));
        pyagent_agent_destroy(agents[i]);
    }
    pyagent_kv_stats ks = {.struct_size = sizeof ks};
    assert_int_equal(pyagent_kv_store_stats_get(pyagent_engine_kv_store(e), &ks), PYAGENT_OK);
    assert_true(ks.n_prefix_hit_tokens > 0);
    pyagent_engine_destroy(e);
}

/* 16 agents sampling in the same GPU steps, each with its own settings and seed (greedy, the
 * defaults, top_k 64, top_k 3, and top_k 0 and a repeat penalty, which take whole rows): the
 * tokens drawn from the candidates picked on the device are those drawn from whole rows
 * copied down (engine key top_candidates 0), on the same backend, so on the same logits. */
static void device_candidates_draw_what_whole_rows_draw(void **state) {
    (void)state;
    char path[1200], prompt[256];
    path_of(path, sizeof path, data_dir, "stories260K.gguf");
    static const struct { double temperature; int top_k; double repeat_penalty; } configs[] = {
        {0, 40, 1.0}, {0.8, 40, 1.0}, {1.5, 64, 1.0}, {1.0, 3, 1.0}, {1.0, 0, 1.0}, {0.8, 40, 1.3}};
    const int n_configs = (int)(sizeof configs / sizeof *configs);
    collected runs[2][N_AGENTS];
    for (int top = 0; top <= 1; top++) {
        pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
        pyagent_params_set_i64(p, "backend", PYAGENT_BACKEND_CUDA);
        pyagent_params_set_i64(p, "n_ctx", 256);
        pyagent_params_set_i64(p, "top_candidates", top);
        pyagent_engine *e = NULL;
        assert_int_equal(pyagent_engine_open(path, p, &e), PYAGENT_OK);
        pyagent_params_destroy(p);
        pyagent_agent *agents[N_AGENTS];
        for (int i = 0; i < N_AGENTS; i++) {
            pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
            pyagent_params_set_f64(s, "temperature", configs[i % n_configs].temperature);
            pyagent_params_set_i64(s, "top_k", configs[i % n_configs].top_k);
            pyagent_params_set_f64(s, "repeat_penalty", configs[i % n_configs].repeat_penalty);
            pyagent_params_set_i64(s, "seed", 100 + i);
            assert_int_equal(pyagent_agent_create(e, s, &agents[i]), PYAGENT_OK);
            pyagent_params_destroy(s);
            prompt_of(i, prompt, sizeof prompt);
            memset(&runs[top][i], 0, sizeof runs[top][i]);
            assert_int_equal(pyagent_agent_feed_text(agents[i], prompt, -1), PYAGENT_OK);
            assert_int_equal(pyagent_agent_submit(agents[i], N_GEN, collect, &runs[top][i]),
                             PYAGENT_OK);
        }
        int32_t n_active = 1;
        while (n_active > 0) assert_int_equal(pyagent_engine_step(e, &n_active), PYAGENT_OK);
        for (int i = 0; i < N_AGENTS; i++) pyagent_agent_destroy(agents[i]);
        pyagent_engine_destroy(e);
    }
    for (int i = 0; i < N_AGENTS; i++) {
        assert_int_equal(runs[1][i].n, N_GEN);
        assert_int_equal(runs[1][i].n, runs[0][i].n);
        if (memcmp(runs[1][i].ids, runs[0][i].ids, (size_t)N_GEN * sizeof(int32_t)) != 0)
            fail_msg("agent %d (config %d): the device's candidates drew other tokens", i,
                     i % n_configs);
    }
}

/* tiny-wide-f16.gguf has rows of 512 and 1024 values (each lane of a GEMV warp loads several
 * chunks ahead) and heads of 64 (the unrolled attention). 16 agents decoding in the same steps
 * (16-token GEMV tiles, two rows per warp): each one's logits after its last token are bitwise
 * those of the same agent alone, whose steps are one token wide. The prompts are short and
 * prefilled one agent at a time, so they take the same launches in both runs. */
static void wide_rows_batched_equal_solo_logits(void **state) {
    (void)state;
    char path[1200];
    path_of(path, sizeof path, models_dir, "tiny-wide-f16.gguf");
    enum { PROMPT = 8, GEN = 12 };
    int32_t prompts[N_AGENTS][PROMPT];
    unsigned seed = 21;
    for (int i = 0; i < N_AGENTS; i++) random_tokens(prompts[i], PROMPT, 512, &seed);
    static float solo[N_AGENTS][N_VOCAB_MAX], batched[N_VOCAB_MAX];
    size_t n = 0;
    for (int i = 0; i < N_AGENTS; i++) {
        pyagent_engine *e = open_engine(path, PYAGENT_BACKEND_CUDA, PYAGENT_KV_F16, 0);
        pyagent_agent *a = greedy_agent(e, PYAGENT_SPEC_OFF);
        assert_int_equal(pyagent_agent_feed_tokens(a, prompts[i], PROMPT), PYAGENT_OK);
        assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
        assert_int_equal(pyagent_agent_generate(a, GEN, NULL, NULL, NULL), PYAGENT_OK);
        n = logits_of(a, solo[i]);
        pyagent_agent_destroy(a);
        pyagent_engine_destroy(e);
    }
    pyagent_engine *e = open_engine(path, PYAGENT_BACKEND_CUDA, PYAGENT_KV_F16, 0);
    pyagent_agent *agents[N_AGENTS];
    for (int i = 0; i < N_AGENTS; i++) {
        agents[i] = greedy_agent(e, PYAGENT_SPEC_OFF);
        assert_int_equal(pyagent_agent_feed_tokens(agents[i], prompts[i], PROMPT), PYAGENT_OK);
        assert_int_equal(pyagent_agent_prefill(agents[i]), PYAGENT_OK);
    }
    for (int i = 0; i < N_AGENTS; i++)
        assert_int_equal(pyagent_agent_submit(agents[i], GEN, NULL, NULL), PYAGENT_OK);
    int32_t n_active = 1;
    while (n_active > 0) assert_int_equal(pyagent_engine_step(e, &n_active), PYAGENT_OK);
    for (int i = 0; i < N_AGENTS; i++) {
        assert_int_equal(logits_of(agents[i], batched), n);
        assert_memory_equal(batched, solo[i], n * sizeof(float));
        pyagent_agent_destroy(agents[i]);
    }
    pyagent_engine_destroy(e);
}

/* A fork shares the parent's partly filled block; each one's next write copies it on the
 * device first, and both go on as if they had been computed alone. */
static void forked_agents_match_independent_runs(void **state) {
    (void)state;
    char path[1200];
    path_of(path, sizeof path, data_dir, "stories260K.gguf");
    pyagent_engine *e = open_engine(path, PYAGENT_BACKEND_CUDA, PYAGENT_KV_F32, 1);
    pyagent_engine *ref = open_engine(path, PYAGENT_BACKEND_CUDA, PYAGENT_KV_F32, 0);
    int32_t seq[64];
    unsigned seed = 11;
    random_tokens(seq, 64, 512, &seed);
    pyagent_agent *parent = greedy_agent(e, PYAGENT_SPEC_OFF);
    static float got[N_VOCAB_MAX], want[N_VOCAB_MAX];
    assert_int_equal(pyagent_agent_feed_tokens(parent, seq, 20), PYAGENT_OK); /* 16 + 4 */
    logits_of(parent, got);
    pyagent_agent *child = NULL;
    assert_int_equal(pyagent_agent_fork(parent, &child), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(parent, seq + 20, 5), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(child, seq + 40, 7), PYAGENT_OK);

    int32_t parent_seq[25], child_seq[27];
    memcpy(parent_seq, seq, 25 * sizeof *seq);
    memcpy(child_seq, seq, 20 * sizeof *seq);
    memcpy(child_seq + 20, seq + 40, 7 * sizeof *seq);
    const struct {
        pyagent_agent *agent;
        const int32_t *tokens;
        size_t n;
    } cases[] = {{parent, parent_seq, 25}, {child, child_seq, 27}};
    for (int c = 0; c < 2; c++) {
        size_t n = logits_of(cases[c].agent, got);
        pyagent_agent *alone = greedy_agent(ref, PYAGENT_SPEC_OFF);
        assert_int_equal(pyagent_agent_feed_tokens(alone, cases[c].tokens, cases[c].n),
                         PYAGENT_OK);
        logits_of(alone, want);
        pyagent_agent_destroy(alone);
        assert_true(relative_diff(got, want, n) < 1e-4);
    }
    pyagent_kv_stats ks = {.struct_size = sizeof ks};
    assert_int_equal(pyagent_kv_store_stats_get(pyagent_engine_kv_store(e), &ks), PYAGENT_OK);
    assert_true(ks.n_cow_copies >= 1);
    pyagent_agent_destroy(parent);
    pyagent_agent_destroy(child);
    pyagent_engine_destroy(e);
    pyagent_engine_destroy(ref);
}

/* The latent link reads K/V rows on the host: refused, not wrong, on the GPU. */
static void latent_export_is_refused_on_the_gpu(void **state) {
    (void)state;
    char path[1200];
    path_of(path, sizeof path, data_dir, "stories260K.gguf");
    pyagent_engine *e = open_engine(path, PYAGENT_BACKEND_CUDA, PYAGENT_KV_F32, 1);
    pyagent_agent *a = greedy_agent(e, PYAGENT_SPEC_OFF);
    assert_int_equal(pyagent_agent_feed_text(a, "Once upon a time", -1), PYAGENT_OK);
    assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
    pyagent_latent_packet *p = NULL;
    assert_int_equal(pyagent_latent_export(a, 0, -1, &p), PYAGENT_ERR_UNSUPPORTED);
    assert_null(p);
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
}

static int64_t prefix_hits_of(pyagent_agent *a) {
    pyagent_agent_stats st = {.struct_size = sizeof st};
    pyagent_agent_stats_get(a, &st);
    return st.n_cached_tokens;
}

static pyagent_kv_stats kv_stats(pyagent_engine *e) {
    pyagent_kv_stats st = {.struct_size = sizeof st};
    assert_int_equal(pyagent_kv_store_stats_get(pyagent_engine_kv_store(e), &st), PYAGENT_OK);
    return st;
}

/* Blocks leaving the device's pool go to the host tier and come back to the device on a
 * prefix hit with the logits of computing them; the disk tier gets them from the device too,
 * and a CPU engine of the model reads what the GPU wrote. */
static void tiers_keep_blocks_that_leave_the_device(void **state) {
    (void)state;
    char path[1200], dir[] = "/tmp/pyagent-cuda-tier-XXXXXX";
    path_of(path, sizeof path, data_dir, "stories260K.gguf");
    assert_non_null(mkdtemp(dir));
    pyagent_engine *e = open_engine(path, PYAGENT_BACKEND_CUDA, PYAGENT_KV_F32, 1);
    pyagent_kv_store *store = pyagent_engine_kv_store(e);
    assert_int_equal(pyagent_kv_store_set_host_tier(store, 1 << 20), PYAGENT_OK);
    assert_int_equal(pyagent_kv_store_set_disk_tier(store, dir, 0), PYAGENT_OK);
    int32_t prompt[80];
    unsigned seed = 23;
    random_tokens(prompt, 80, 512, &seed);
    static float want[N_VOCAB_MAX], got[N_VOCAB_MAX];
    pyagent_agent *a = greedy_agent(e, PYAGENT_SPEC_OFF); /* steps of 64, then 16 */
    assert_int_equal(pyagent_agent_feed_tokens(a, prompt, 64), PYAGENT_OK);
    assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(a, prompt + 64, 16), PYAGENT_OK);
    const size_t n = logits_of(a, want);
    pyagent_agent_destroy(a);
    pyagent_kv_store_drop_cache(store);
    assert_int_equal(kv_stats(e).n_host_spilled, 5);
    assert_int_equal(kv_stats(e).n_disk_spilled, 5);

    pyagent_agent *b = greedy_agent(e, PYAGENT_SPEC_OFF);
    assert_int_equal(pyagent_agent_feed_tokens(b, prompt, 80), PYAGENT_OK);
    logits_of(b, got);
    assert_int_equal(prefix_hits_of(b), 64);
    assert_int_equal(kv_stats(e).n_host_restored, 4); /* the nearest tier answers */
    const double d_host = relative_diff(got, want, n);
    assert_true(d_host <= 1e-6);
    pyagent_agent_destroy(b);

    pyagent_engine *cpu = open_engine(path, PYAGENT_BACKEND_CPU, PYAGENT_KV_F32, 1);
    assert_int_equal(pyagent_kv_store_set_disk_tier(pyagent_engine_kv_store(cpu), dir, 0),
                     PYAGENT_OK);
    pyagent_agent *c = greedy_agent(cpu, PYAGENT_SPEC_OFF);
    assert_int_equal(pyagent_agent_feed_tokens(c, prompt, 80), PYAGENT_OK);
    logits_of(c, got);
    assert_int_equal(prefix_hits_of(c), 64);
    const double d_cpu = relative_diff(got, want, n);
    assert_true(d_cpu <= 1e-4);
    printf("# tiers on the GPU: host tier restore %.3g, CPU engine from the GPU's disk blocks "
           "%.3g (max relative logit difference)\n", d_host, d_cpu);
    pyagent_agent_destroy(c);
    pyagent_engine_destroy(cpu);
    pyagent_engine_destroy(e);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const char *d = getenv("PYAGENT_TEST_DATA"), *m = getenv("PYAGENT_TEST_MODELS");
    snprintf(data_dir, sizeof data_dir, "%s", d ? d : "tests/data");
    snprintf(models_dir, sizeof models_dir, "%s", m ? m : "build/tests");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(logits_match_cpu_stories260K),
        cmocka_unit_test(logits_match_cpu_f32),
        cmocka_unit_test(logits_match_cpu_f32_width_256),
        cmocka_unit_test(logits_match_cpu_tied_f32),
        cmocka_unit_test(logits_match_cpu_f16),
        cmocka_unit_test(logits_match_cpu_f16_with_f16_kv),
        cmocka_unit_test(logits_match_cpu_wide_f16),
        cmocka_unit_test(logits_match_cpu_bf16),
        cmocka_unit_test(logits_match_cpu_q8_0),
        cmocka_unit_test(logits_match_cpu_q4_0),
        cmocka_unit_test(q4_K_weights_are_refused_on_the_gpu),
        cmocka_unit_test(device_index_past_the_last_is_out_of_range),
        cmocka_unit_test(greedy_once_upon_a_time_matches_reference),
        cmocka_unit_test(greedy_empty_prompt_matches_reference),
        cmocka_unit_test(speculative_greedy_matches_reference),
        cmocka_unit_test(many_agents_batched_equal_solo_runs),
        cmocka_unit_test(device_candidates_draw_what_whole_rows_draw),
        cmocka_unit_test(wide_rows_batched_equal_solo_logits),
        cmocka_unit_test(forked_agents_match_independent_runs),
        cmocka_unit_test(latent_export_is_refused_on_the_gpu),
        cmocka_unit_test(tiers_keep_blocks_that_leave_the_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
