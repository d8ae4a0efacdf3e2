/*
 * Many agents in one engine: the paged KV store, the radix prefix cache, fork / rewind /
 * reset, continuous batching, and the thread-safe API. The reference for every check is an
 * independent engine without a prefix cache, where each agent computes its own tokens alone.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pyagent/pyagent.h>

#define N_VOCAB_MAX 512

static char stories_path[1024], gqa_path[1024], hd64_path[1024];

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                      */

static int64_t kv_type = PYAGENT_KV_F32; /* of the engines open_engine opens */

static pyagent_engine *open_engine(const char *path, int64_t prefix_cache, int64_t kv_bytes,
                                   int64_t block_size) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "kv_type", kv_type);
    pyagent_params_set_i64(p, "n_threads", 2);
    pyagent_params_set_i64(p, "n_ctx", 256);
    pyagent_params_set_i64(p, "prefix_cache", prefix_cache);
    if (kv_bytes) pyagent_params_set_i64(p, "kv_bytes", kv_bytes);
    if (block_size) pyagent_params_set_i64(p, "kv_block_size", block_size);
    pyagent_engine *e = NULL;
    pyagent_status st = pyagent_engine_open(path, p, &e);
    pyagent_params_destroy(p);
    if (st) fprintf(stderr, "open: %s\n", pyagent_engine_last_error(e));
    assert_int_equal(st, PYAGENT_OK);
    return e;
}

static pyagent_agent *greedy_agent(pyagent_engine *e) {
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 0);
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

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* Logits after `tokens` computed by a fresh agent alone on a reference engine. */
static size_t reference_logits(pyagent_engine *ref, const int32_t *tokens, size_t n, float *out) {
    pyagent_agent *a = greedy_agent(ref);
    assert_int_equal(pyagent_agent_feed_tokens(a, tokens, n), PYAGENT_OK);
    size_t n_logits = logits_of(a, out);
    pyagent_agent_destroy(a);
    return n_logits;
}

static void random_tokens(int32_t *out, size_t n, unsigned *seed) {
    for (size_t i = 0; i < n; i++) out[i] = 3 + (int32_t)(rand_r(seed) % 500);
}

static pyagent_kv_stats kv_stats(pyagent_engine *e) {
    pyagent_kv_stats st = {.struct_size = sizeof st};
    assert_int_equal(pyagent_kv_store_stats_get(pyagent_engine_kv_store(e), &st), PYAGENT_OK);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Prefix cache                                                                                 */

/* A prompt whose first blocks come from the cache gives the logits of computing them: the
 * cached run and the reference run compute the same chunks, so the match is exact. */
static void cached_prefix_equals_recomputed(const char *model) {
    pyagent_engine *cached = open_engine(model, 1, 0, 16), *plain = open_engine(model, 0, 0, 16);
    int32_t prefix[48], own[8];
    unsigned seed = 7;
    random_tokens(prefix, 48, &seed);
    random_tokens(own, 8, &seed);

    pyagent_agent *first = greedy_agent(cached);
    float l_first[N_VOCAB_MAX], l_cached[N_VOCAB_MAX], l_plain[N_VOCAB_MAX];
    assert_int_equal(pyagent_agent_feed_tokens(first, prefix, 48), PYAGENT_OK);
    logits_of(first, l_first);

    pyagent_agent *second = greedy_agent(cached);
    assert_int_equal(pyagent_agent_feed_tokens(second, prefix, 48), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(second, own, 8), PYAGENT_OK);
    size_t n = logits_of(second, l_cached);
    pyagent_agent_stats st = {.struct_size = sizeof st};
    assert_int_equal(pyagent_agent_stats_get(second, &st), PYAGENT_OK);
    assert_int_equal(st.n_cached_tokens, 48);
    assert_int_equal(st.n_prompt_tokens, 8);

    pyagent_agent *alone = greedy_agent(plain);
    assert_int_equal(pyagent_agent_feed_tokens(alone, prefix, 48), PYAGENT_OK);
    logits_of(alone, l_plain);
    assert_int_equal(pyagent_agent_feed_tokens(alone, own, 8), PYAGENT_OK);
    logits_of(alone, l_plain);
    double d = max_diff(l_cached, l_plain, n);
    printf("# %s: cached prefix vs recomputed: max |diff| %.3g\n", model, d);
    assert_true(d <= 1e-6);

    pyagent_kv_stats ks = kv_stats(cached);
    assert_int_equal(ks.n_prefix_hit_tokens, 48);
    assert_int_equal(ks.n_prompt_tokens_computed, 48 + 8);

    pyagent_agent_destroy(first);
    pyagent_agent_destroy(second);
    pyagent_agent_destroy(alone);
    pyagent_engine_destroy(cached);
    pyagent_engine_destroy(plain);
}

static void cached_prefix_equals_recomputed_stories(void **state) {
    (void)state;
    cached_prefix_equals_recomputed(stories_path);
}

static void cached_prefix_equals_recomputed_gqa(void **state) {
    (void)state;
    cached_prefix_equals_recomputed(gqa_path);
}

/* F16 KV: the same logits as F32 KV up to f16 rounding, prompt chunks and decode tokens
 * alike (they take different attention paths). */
static void f16_kv_gives_f32_kv_logits_within_f16_rounding(void **state) {
    (void)state;
    int32_t prompt[40];
    unsigned seed = 21;
    random_tokens(prompt, 40, &seed);
    float logits[2][3][N_VOCAB_MAX];
    size_t n = 0;
    for (int type = 0; type < 2; type++) {
        kv_type = type ? PYAGENT_KV_F16 : PYAGENT_KV_F32;
        pyagent_engine *e = open_engine(gqa_path, 1, 0, 16);
        pyagent_agent *a = greedy_agent(e);
        assert_int_equal(pyagent_agent_feed_tokens(a, prompt, 40), PYAGENT_OK); /* a chunk */
        n = logits_of(a, logits[type][0]);
        for (int k = 1; k < 3; k++) { /* single tokens */
            assert_int_equal(pyagent_agent_feed_tokens(a, &prompt[k], 1), PYAGENT_OK);
            logits_of(a, logits[type][k]);
        }
        pyagent_agent_destroy(a);
        pyagent_engine_destroy(e);
    }
    kv_type = PYAGENT_KV_F32;
    for (int k = 0; k < 3; k++) {
        double scale = 0;
        for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(logits[0][k][i]));
        double d = max_diff(logits[0][k], logits[1][k], n) / scale;
        printf("# f16 vs f32 KV, step %d: relative max diff %.3g\n", k, d);
        assert_true(d > 0 && d < 1e-3);
    }
}

/* Q8_0 KV (about a quarter of F32's bytes): logits within a few percent of F32 KV's (measured
 * 2.5 % of the largest logit on stories260K, whose 32-value blocks span 4 heads of 8) and the
 * greedy text the same for at least its first 64 tokens. */
static void q8_0_kv_stays_close_to_f32_kv(void **state) {
    (void)state;
    enum { N = 256 };
    float logits[2][N_VOCAB_MAX];
    int32_t ids[2][N + 64];
    size_t n_logits = 0, n_ids[2] = {0, 0};
    int64_t block_bytes[2];
    for (int q8 = 0; q8 < 2; q8++) {
        kv_type = q8 ? PYAGENT_KV_Q8_0 : PYAGENT_KV_F32;
        pyagent_engine *e = open_engine(stories_path, 1, 0, 16);
        block_bytes[q8] = kv_stats(e).block_bytes;
        pyagent_agent *a = greedy_agent(e);
        assert_int_equal(pyagent_agent_feed_text(a, "Once upon a time", -1), PYAGENT_OK);
        assert_int_equal(pyagent_agent_generate(a, 64, NULL, NULL, NULL), PYAGENT_OK);
        n_logits = logits_of(a, logits[q8]); /* after 64 tokens: 69 positions of KV */
        assert_int_equal(pyagent_agent_generate(a, N - 64, NULL, NULL, NULL), PYAGENT_OK);
        assert_int_equal(pyagent_agent_tokens(a, ids[q8], N + 64, &n_ids[q8]), PYAGENT_OK);
        pyagent_agent_destroy(a);
        pyagent_engine_destroy(e);
    }
    kv_type = PYAGENT_KV_F32;
    double scale = 0;
    for (size_t i = 0; i < n_logits; i++) scale = fmax(scale, fabs(logits[0][i]));
    const double d = max_diff(logits[0], logits[1], n_logits) / scale;
    int same = 0, agree = 0; /* the first divergence, and position-wise agreement */
    while (5 + same < (int)n_ids[0] && ids[0][5 + same] == ids[1][5 + same]) same++;
    for (size_t i = 5; i < n_ids[0] && i < n_ids[1]; i++) agree += ids[0][i] == ids[1][i];
    printf("# Q8_0 KV: %.3f of F32's bytes; relative logit diff %.3g after 64 tokens; greedy "
           "text identical for %d of %d tokens (%d agree position by position)\n",
           (double)block_bytes[1] / (double)block_bytes[0], d, same, N, agree);
    assert_true((double)block_bytes[1] / (double)block_bytes[0] < 0.3);
    assert_true(d > 0 && d < 5e-2);
    assert_true(same >= 64);
}

static void different_cache_salts_never_share(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 1, 0, 16);
    int32_t prompt[40];
    unsigned seed = 3;
    random_tokens(prompt, 40, &seed);
    const char *salts[] = {"tenant-a", "tenant-b", "tenant-a"};
    const int64_t expected_hits[] = {0, 0, 32};
    for (int i = 0; i < 3; i++) {
        pyagent_agent *a = greedy_agent(e);
        assert_int_equal(pyagent_agent_set_label(a, "cache_salt", salts[i]), PYAGENT_OK);
        assert_int_equal(pyagent_agent_feed_tokens(a, prompt, 40), PYAGENT_OK);
        assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
        pyagent_agent_stats st = {.struct_size = sizeof st};
        pyagent_agent_stats_get(a, &st);
        assert_int_equal(st.n_cached_tokens, expected_hits[i]);
        /* the salt cannot change under a fed sequence */
        assert_int_equal(pyagent_agent_set_label(a, "cache_salt", "x"),
                         PYAGENT_ERR_INVALID_ARGUMENT);
        pyagent_agent_destroy(a);
    }
    pyagent_engine_destroy(e);
}

/* The radix index as nodes: two agents sharing 32 of their tokens and each with 16 of its own
 * (block size 8) give the tree 4 shared blocks and 2 + 2 own ones; following parent keys from
 * each leaf gives back the agent's ids; refcounts count holders; cached nodes stay listed
 * until the cache is dropped. */
static void index_nodes_form_the_prefix_tree(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 1, 0, 8);
    pyagent_kv_store *kv = pyagent_engine_kv_store(e);
    int32_t seqs[2][49];
    unsigned seed = 11;
    random_tokens(seqs[0], 49, &seed);
    memcpy(seqs[1], seqs[0], 32 * sizeof(int32_t));
    random_tokens(seqs[1] + 32, 17, &seed);
    pyagent_agent *a[2];
    for (int i = 0; i < 2; i++) { /* 49 tokens: 6 full blocks published, the 49th computed */
        a[i] = greedy_agent(e);
        assert_int_equal(pyagent_agent_feed_tokens(a[i], seqs[i], 49), PYAGENT_OK);
        assert_int_equal(pyagent_agent_prefill(a[i]), PYAGENT_OK);
    }
    size_t n = 0;
    assert_int_equal(pyagent_kv_store_nodes(kv, NULL, NULL, 0, &n), PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 8);
    pyagent_kv_node nodes[16], one;
    int32_t tokens[16 * 8];
    assert_int_equal(pyagent_kv_store_nodes(kv, &one, NULL, 1, &n), PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(pyagent_kv_store_nodes(kv, nodes, tokens, 16, &n), PYAGENT_OK);
    assert_int_equal(n, 8);
    assert_memory_equal(&one, &nodes[0], sizeof one);
    int roots = 0, leaves = 0;
    for (size_t i = 0; i < n; i++) {
        int parent = -1;
        for (size_t j = 0; j < n; j++) parent = nodes[j].key == nodes[i].parent_key ? (int)j : parent;
        roots += parent < 0;
        leaves += nodes[i].n_children == 0;
        int children = 0;
        for (size_t j = 0; j < n; j++) children += nodes[j].parent_key == nodes[i].key;
        assert_int_equal(children, nodes[i].n_children);
        if (nodes[i].n_children != 0 || nodes[i].refcount != 1) continue;
        /* a leaf: walk up to the root and compare with the sequence that ends in it */
        int32_t path[6 * 8];
        int depth = 0;
        for (int at = (int)i; at >= 0 && depth < 6; depth++) {
            memcpy(path + (5 - depth) * 8, tokens + (size_t)at * 8, 8 * sizeof(int32_t));
            int up = -1;
            for (size_t j = 0; j < n; j++) up = nodes[j].key == nodes[at].parent_key ? (int)j : up;
            at = up;
        }
        assert_int_equal(depth, 6);
        assert_true(memcmp(path, seqs[0], sizeof path) == 0 ||
                    memcmp(path, seqs[1], sizeof path) == 0);
    }
    assert_int_equal(roots, 1);
    assert_int_equal(leaves, 2);
    int shared = 0, own = 0; /* the first four blocks are held by both agents */
    for (size_t i = 0; i < n; i++) shared += nodes[i].refcount == 2, own += nodes[i].refcount == 1;
    assert_int_equal(shared, 4);
    assert_int_equal(own, 4);

    pyagent_agent_destroy(a[0]), pyagent_agent_destroy(a[1]);
    assert_int_equal(pyagent_kv_store_nodes(kv, nodes, NULL, 16, &n), PYAGENT_OK);
    assert_int_equal(n, 8);
    for (size_t i = 0; i < n; i++) assert_int_equal(nodes[i].refcount, 0);
    pyagent_kv_store_drop_cache(kv);
    assert_int_equal(pyagent_kv_store_nodes(kv, nodes, NULL, 16, &n), PYAGENT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(pyagent_kv_store_nodes(NULL, nodes, NULL, 16, &n),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    pyagent_engine_destroy(e);
}

typedef struct id_list {
    int32_t *ids;
    int n, cap;
} id_list;

static void collect_id(void *ud, int32_t token, const char *text, size_t len) {
    (void)text, (void)len;
    id_list *l = ud;
    if (l->n < l->cap) l->ids[l->n++] = token;
}

/* Generates up to n tokens into out; returns how many. */
static int generate_ids(pyagent_agent *a, int n, int32_t *out) {
    id_list l = {out, 0, n};
    pyagent_status st = pyagent_agent_generate(a, n, collect_id, &l, NULL);
    if (st) fprintf(stderr, "generate: %s\n", pyagent_agent_last_error(a));
    assert_int_equal(st, PYAGENT_OK);
    return l.n;
}

static pyagent_agent *windowed_agent(pyagent_engine *e, int64_t window, int64_t sinks) {
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 0);
    pyagent_params_set_i64(s, "kv_window", window);
    pyagent_params_set_i64(s, "kv_sinks", sinks);
    pyagent_agent *a = NULL;
    assert_int_equal(pyagent_agent_create(e, s, &a), PYAGENT_OK);
    pyagent_params_destroy(s);
    return a;
}

static int64_t blocks_in_use(pyagent_engine *e) {
    pyagent_kv_stats st = {.struct_size = sizeof st};
    pyagent_kv_store_stats_get(pyagent_engine_kv_store(e), &st);
    return st.n_used;
}

/* kv_window (StreamingLLM): a window longer than the sequence changes nothing, bit for bit; a
 * short one keeps the agent's blocks to the sink block, the window's and the one being
 * written, however long it generates; what needs every position's KV is refused after it. */
static void window_pruning_bounds_memory_and_is_exact_when_off(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 0, 0, 16);
    const char *prompt = "Once upon a time, there was a little girl named Lily.";
    int32_t want[200], got[200];
    pyagent_agent *plain = greedy_agent(e), *wide = windowed_agent(e, 256, 4);
    assert_int_equal(pyagent_agent_feed_text(plain, prompt, -1), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_text(wide, prompt, -1), PYAGENT_OK);
    int n_want = generate_ids(plain, 180, want), n_got = generate_ids(wide, 180, got);
    assert_int_equal(n_want, n_got);
    assert_memory_equal(want, got, (size_t)n_want * sizeof *want);
    pyagent_agent_stats st = {.struct_size = sizeof st};
    pyagent_agent_stats_get(wide, &st);
    assert_int_equal(st.n_pruned_tokens, 0);
    pyagent_agent_destroy(wide);

    pyagent_agent *narrow = windowed_agent(e, 32, 4);
    const int64_t before = blocks_in_use(e);
    assert_int_equal(pyagent_agent_feed_text(narrow, prompt, -1), PYAGENT_OK);
    n_got = generate_ids(narrow, 180, got);
    assert_int_equal(n_got, 180);
    pyagent_agent_stats_get(narrow, &st);
    /* 1 sink block + the 2 window blocks + the partial one at most, of ~13 it would hold */
    assert_true(blocks_in_use(e) - before <= 4);
    assert_true(st.n_pruned_tokens >= 8 * 16);
    int same = 0;
    while (same < n_got && got[same] == want[same]) same++;
    printf("# window 32 + 4 sinks on stories260K: the first %d of 180 greedy tokens agree\n", same);

    pyagent_latent_packet *p = NULL;
    assert_int_equal(pyagent_latent_export(narrow, 0, -1, &p), PYAGENT_ERR_UNSUPPORTED);
    assert_non_null(strstr(pyagent_agent_last_error(narrow), "pruned"));
    /* a fork carries the holes and continues exactly as its parent */
    pyagent_agent *child = NULL;
    assert_int_equal(pyagent_agent_fork(narrow, &child), PYAGENT_OK);
    int32_t a_ids[40], b_ids[40];
    assert_int_equal(generate_ids(narrow, 40, a_ids), 40);
    assert_int_equal(generate_ids(child, 40, b_ids), 40);
    assert_memory_equal(a_ids, b_ids, sizeof a_ids);
    pyagent_agent_destroy(child), pyagent_agent_destroy(narrow), pyagent_agent_destroy(plain);
    pyagent_engine_destroy(e);

    /* the bound holds through a long prefill, which is pruned chunk by chunk */
    e = open_engine(stories_path, 1, 0, 16);
    pyagent_agent *reader = windowed_agent(e, 48, 4);
    int32_t long_prompt[240];
    unsigned seed = 5;
    random_tokens(long_prompt, 240, &seed);
    assert_int_equal(pyagent_agent_feed_tokens(reader, long_prompt, 240), PYAGENT_OK);
    assert_int_equal(pyagent_agent_prefill(reader), PYAGENT_OK);
    pyagent_agent_stats_get(reader, &st);
    assert_true(st.n_pruned_tokens > 0);
    /* rewinding into the kept window and going on still works */
    assert_int_equal(pyagent_agent_rewind(reader, 10), PYAGENT_OK);
    assert_int_equal(generate_ids(reader, 10, a_ids), 10);
    pyagent_agent_destroy(reader);
    pyagent_engine_destroy(e);
}

static int64_t prefix_hits_of(pyagent_agent *a) {
    pyagent_agent_stats st = {.struct_size = sizeof st};
    pyagent_agent_stats_get(a, &st);
    return st.n_cached_tokens;
}

/* The logits after 80 ids computed by a fresh agent in the steps a prefix hit of 4 blocks
 * takes (64, then 16), so that a later prefix hit computes exactly what it did. */
static size_t logits_in_prefix_hit_steps(pyagent_engine *e, const int32_t *prompt, float *out) {
    pyagent_agent *a = greedy_agent(e);
    assert_int_equal(pyagent_agent_feed_tokens(a, prompt, 64), PYAGENT_OK);
    assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(a, prompt + 64, 16), PYAGENT_OK);
    const size_t n_vocab = logits_of(a, out);
    pyagent_agent_destroy(a);
    return n_vocab;
}

/* Evicted blocks go to the disk tier and come back on a prefix hit with the same logits as
 * computing them; another engine of the model finds them too; a damaged file is not used. */
static void disk_tier_keeps_evicted_blocks_for_later_prompts(void **state) {
    (void)state;
    char dir[] = "/tmp/pyagent-tier-XXXXXX";
    assert_non_null(mkdtemp(dir));
    pyagent_engine *e = open_engine(stories_path, 1, 0, 16);
    assert_int_equal(pyagent_kv_store_set_disk_tier(pyagent_engine_kv_store(e), "/nonexistent", 0),
                     PYAGENT_ERR_IO);
    assert_int_equal(pyagent_kv_store_set_disk_tier(pyagent_engine_kv_store(e), dir, 0),
                     PYAGENT_OK);
    int32_t prompt[80];
    unsigned seed = 21;
    random_tokens(prompt, 80, &seed);
    float want[N_VOCAB_MAX], got[N_VOCAB_MAX];
    const size_t n_vocab = logits_in_prefix_hit_steps(e, prompt, want);
    pyagent_kv_store_drop_cache(pyagent_engine_kv_store(e)); /* all 5 full blocks leave memory */
    assert_int_equal(kv_stats(e).n_disk_spilled, 5);
    assert_int_equal(kv_stats(e).n_cached, 0);

    pyagent_agent *b = greedy_agent(e);
    assert_int_equal(pyagent_agent_feed_tokens(b, prompt, 80), PYAGENT_OK);
    logits_of(b, got);
    assert_int_equal(prefix_hits_of(b), 64); /* the last block holds the token to compute */
    assert_int_equal(kv_stats(e).n_disk_restored, 4);
    assert_memory_equal(got, want, n_vocab * sizeof *got);
    pyagent_agent_destroy(b);

    /* another engine of the same model, with the same directory */
    pyagent_engine *other = open_engine(stories_path, 1, 0, 16);
    assert_int_equal(pyagent_kv_store_set_disk_tier(pyagent_engine_kv_store(other), dir, 0),
                     PYAGENT_OK);
    pyagent_agent *c = greedy_agent(other);
    assert_int_equal(pyagent_agent_feed_tokens(c, prompt, 80), PYAGENT_OK);
    logits_of(c, got);
    assert_int_equal(prefix_hits_of(c), 64);
    assert_memory_equal(got, want, n_vocab * sizeof *got);
    pyagent_agent_destroy(c);
    pyagent_kv_store_drop_cache(pyagent_engine_kv_store(other));

    /* a damaged file: not used, the block is computed again */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "for f in %s/*.kvb; do printf 'X' | dd of=$f bs=1 seek=200 "
                              "conv=notrunc 2>/dev/null; done", dir);
    assert_int_equal(system(cmd), 0);
    pyagent_agent *d = greedy_agent(other);
    assert_int_equal(pyagent_agent_feed_tokens(d, prompt, 80), PYAGENT_OK);
    logits_of(d, got);
    assert_int_equal(prefix_hits_of(d), 0);
    assert_true(kv_stats(other).n_disk_rejected >= 1);
    assert_true(max_diff(got, want, n_vocab) < 1e-5);
    pyagent_agent_destroy(d);
    assert_int_equal(pyagent_kv_store_set_disk_tier(pyagent_engine_kv_store(other), NULL, 0),
                     PYAGENT_OK);
    pyagent_engine_destroy(other);
    pyagent_engine_destroy(e);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The host tier keeps evicted blocks in memory for later prompts (the same logits, bit for
 * bit), and drops its oldest copies to stay within its bytes. */
static void host_tier_keeps_evicted_blocks_within_its_bytes(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 1, 0, 16);
    pyagent_kv_store *store = pyagent_engine_kv_store(e);
    assert_int_equal(pyagent_kv_store_set_host_tier(store, -1), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_kv_store_set_host_tier(store, 1 << 20), PYAGENT_OK);
    int32_t prompt[80];
    unsigned seed = 22;
    random_tokens(prompt, 80, &seed);
    float want[N_VOCAB_MAX], got[N_VOCAB_MAX];
    const size_t n_vocab = logits_in_prefix_hit_steps(e, prompt, want);
    pyagent_kv_store_drop_cache(store); /* all 5 full blocks leave the pool */
    pyagent_kv_stats st = kv_stats(e);
    assert_int_equal(st.n_host_spilled, 5);
    assert_int_equal(st.n_cached, 0);
    const int64_t record = st.host_bytes / 5;
    assert_true(record > 0 && st.host_bytes == 5 * record);

    pyagent_agent *b = greedy_agent(e);
    assert_int_equal(pyagent_agent_feed_tokens(b, prompt, 80), PYAGENT_OK);
    logits_of(b, got);
    assert_int_equal(prefix_hits_of(b), 64);
    assert_int_equal(kv_stats(e).n_host_restored, 4);
    assert_memory_equal(got, want, n_vocab * sizeof *got);
    pyagent_agent_destroy(b);

    /* room for two records: after five spills the two newest remain -- the store evicts leaves
     * first, so those are the prompt's first two blocks, and they attach again */
    assert_int_equal(pyagent_kv_store_set_host_tier(store, 2 * record), PYAGENT_OK);
    pyagent_kv_store_drop_cache(store);
    st = kv_stats(e);
    assert_int_equal(st.n_host_spilled, 5);
    assert_int_equal(st.host_bytes, 2 * record);
    pyagent_agent *c = greedy_agent(e);
    assert_int_equal(pyagent_agent_feed_tokens(c, prompt, 80), PYAGENT_OK);
    logits_of(c, got);
    assert_int_equal(prefix_hits_of(c), 32);
    assert_true(max_diff(got, want, n_vocab) < 1e-5);
    pyagent_agent_destroy(c);
    assert_int_equal(pyagent_kv_store_set_host_tier(store, 0), PYAGENT_OK); /* none */
    assert_int_equal(kv_stats(e).host_bytes, 0);
    pyagent_engine_destroy(e);
}

/* A whole-store snapshot gives a new engine the prefix cache of the old one: the same prompt
 * attaches its blocks and gets the same logits, bit for bit; damaged, truncated and foreign
 * snapshots are refused with nothing loaded. */
static void store_snapshot_warms_a_new_engine(void **state) {
    (void)state;
    char path[] = "/tmp/pyagent-store-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    int32_t prompt[80];
    unsigned seed = 33;
    random_tokens(prompt, 80, &seed);
    float want[N_VOCAB_MAX], got[N_VOCAB_MAX];
    pyagent_engine *e = open_engine(stories_path, 1, 0, 16);
    pyagent_agent *a = greedy_agent(e); /* in the steps a prefix hit takes: 64, then 16 */
    assert_int_equal(pyagent_agent_feed_tokens(a, prompt, 64), PYAGENT_OK);
    assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(a, prompt + 64, 16), PYAGENT_OK);
    const size_t n_vocab = logits_of(a, want);
    assert_int_equal(pyagent_kv_store_save(pyagent_engine_kv_store(e), path), PYAGENT_OK);
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);

    pyagent_engine *fresh = open_engine(stories_path, 1, 0, 16);
    int64_t n = -1;
    assert_int_equal(pyagent_kv_store_load(pyagent_engine_kv_store(fresh), path, &n), PYAGENT_OK);
    assert_int_equal(n, 5);
    assert_int_equal(kv_stats(fresh).n_cached, 5);
    /* restored parents first, so the tree links are whole: a chain of 5 with one leaf */
    pyagent_kv_node nodes[8];
    size_t n_nodes = 0;
    assert_int_equal(pyagent_kv_store_nodes(pyagent_engine_kv_store(fresh), nodes, NULL, 8,
                                            &n_nodes),
                     PYAGENT_OK);
    int with_child = 0;
    for (size_t i = 0; i < n_nodes; i++) with_child += nodes[i].n_children == 1;
    assert_int_equal(with_child, 4);
    pyagent_agent *b = greedy_agent(fresh);
    assert_int_equal(pyagent_agent_feed_tokens(b, prompt, 80), PYAGENT_OK);
    logits_of(b, got);
    assert_int_equal(prefix_hits_of(b), 64);
    assert_memory_equal(got, want, n_vocab * sizeof *got);
    pyagent_agent_destroy(b);
    pyagent_kv_store_drop_cache(pyagent_engine_kv_store(fresh));

    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)size);
    assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    char bad[] = "/tmp/pyagent-store-bad-XXXXXX";
    fd = mkstemp(bad);
    close(fd);
    for (long i = 0; i < size; i += i < 128 ? 1 : 4099) { /* every header byte, then strided */
        bytes[i] ^= 0x10;
        f = fopen(bad, "wb");
        fwrite(bytes, 1, (size_t)size, f);
        fclose(f);
        bytes[i] ^= 0x10;
        n = -1;
        const pyagent_status st = pyagent_kv_store_load(pyagent_engine_kv_store(fresh), bad, &n);
        assert_true(st == PYAGENT_ERR_BAD_PACKET || st == PYAGENT_ERR_MISMATCH);
        assert_int_equal(n, 0);
        assert_true(strlen(pyagent_engine_last_error(fresh)) > 0);
    }
    for (long cut = 0; cut < size; cut += cut < 128 ? 7 : 4099) {
        f = fopen(bad, "wb");
        fwrite(bytes, 1, (size_t)cut, f);
        fclose(f);
        assert_int_equal(pyagent_kv_store_load(pyagent_engine_kv_store(fresh), bad, &n),
                         PYAGENT_ERR_BAD_PACKET);
    }
    assert_int_equal(kv_stats(fresh).n_cached, 0);
    pyagent_engine_destroy(fresh);
    /* another model, another block size */
    pyagent_engine *other = open_engine(gqa_path, 1, 0, 16);
    assert_int_equal(pyagent_kv_store_load(pyagent_engine_kv_store(other), path, &n),
                     PYAGENT_ERR_MISMATCH);
    pyagent_engine_destroy(other);
    other = open_engine(stories_path, 1, 0, 8);
    assert_int_equal(pyagent_kv_store_load(pyagent_engine_kv_store(other), path, &n),
                     PYAGENT_ERR_MISMATCH);
    pyagent_engine_destroy(other);
    free(bytes);
    unlink(bad);
    unlink(path);
}

/* Garbage-collected hosts destroy in any order: the engine lives until its last agent. */
static void engine_destroyed_before_its_agents_lives_until_the_last_one(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 1, 0, 16);
    pyagent_agent *a = greedy_agent(e), *b = greedy_agent(e);
    assert_int_equal(pyagent_agent_feed_text(a, "Once upon a time", -1), PYAGENT_OK);
    pyagent_engine_destroy(e);
    int32_t finish = 0; /* the agents still work */
    assert_int_equal(pyagent_agent_generate(a, 4, NULL, NULL, &finish), PYAGENT_OK);
    assert_int_equal(finish, PYAGENT_FINISH_LENGTH);
    pyagent_agent_destroy(a);
    pyagent_agent_destroy(b); /* frees the engine (ASan checks nothing leaks) */
}

static void labels_are_kept_and_validated(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 1, 0, 16);
    pyagent_agent *a = greedy_agent(e);
    assert_int_equal(pyagent_agent_set_label(a, "session_id", "s-42"), PYAGENT_OK);
    assert_int_equal(pyagent_agent_set_label(a, "agent_id", "planner"), PYAGENT_OK);
    assert_string_equal(pyagent_agent_get_label(a, "session_id"), "s-42");
    assert_string_equal(pyagent_agent_get_label(a, "agent_id"), "planner");
    assert_null(pyagent_agent_get_label(a, "colour"));
    assert_int_equal(pyagent_agent_set_label(a, "colour", "red"), PYAGENT_ERR_UNKNOWN_KEY);
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(pyagent_agent_set_label(a, "agent_id", big), PYAGENT_ERR_OUT_OF_RANGE);
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
}

/* ------------------------------------------------------------------------------------------ */
/* Fork, rewind                                                                                 */

static void forked_agents_diverge_like_independent_ones(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 1, 0, 16), *ref = open_engine(stories_path, 0, 0, 16);
    int32_t seq[64];
    unsigned seed = 11;
    random_tokens(seq, 64, &seed);
    pyagent_agent *parent = greedy_agent(e);
    assert_int_equal(pyagent_agent_feed_tokens(parent, seq, 20), PYAGENT_OK); /* 16 + 4 */
    float got[N_VOCAB_MAX], want[N_VOCAB_MAX];
    logits_of(parent, got);

    pyagent_agent *child = NULL;
    assert_int_equal(pyagent_agent_fork(parent, &child), PYAGENT_OK);
    size_t n_logits = 0;
    assert_int_equal(pyagent_agent_logits(child, got, N_VOCAB_MAX, &n_logits), PYAGENT_OK);
    reference_logits(ref, seq, 20, want);
    assert_true(max_diff(got, want, n_logits) < 1e-5);

    /* both write into the shared, partly filled second block: one copy-on-write each way */
    assert_int_equal(pyagent_agent_feed_tokens(parent, seq + 20, 5), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(child, seq + 40, 7), PYAGENT_OK);
    logits_of(parent, got);
    int32_t parent_seq[25], child_seq[27];
    memcpy(parent_seq, seq, 25 * sizeof *seq);
    memcpy(child_seq, seq, 20 * sizeof *seq);
    memcpy(child_seq + 20, seq + 40, 7 * sizeof *seq);
    reference_logits(ref, parent_seq, 25, want);
    assert_true(max_diff(got, want, n_logits) < 1e-5);
    logits_of(child, got);
    reference_logits(ref, child_seq, 27, want);
    assert_true(max_diff(got, want, n_logits) < 1e-5);
    assert_true(kv_stats(e).n_cow_copies >= 1);

    pyagent_agent_destroy(parent);
    pyagent_agent_destroy(child);
    pyagent_engine_destroy(e);
    pyagent_engine_destroy(ref);
}

static void rewind_then_new_tokens_equals_fresh_run(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 1, 0, 16), *ref = open_engine(stories_path, 0, 0, 16);
    int32_t seq[60];
    unsigned seed = 5;
    random_tokens(seq, 60, &seed);
    pyagent_agent *a = greedy_agent(e);
    assert_int_equal(pyagent_agent_feed_tokens(a, seq, 40), PYAGENT_OK);
    float got[N_VOCAB_MAX], want[N_VOCAB_MAX];
    logits_of(a, got);
    assert_int_equal(pyagent_agent_rewind(a, 41), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_agent_rewind(a, 15), PYAGENT_OK); /* back into a full block */
    size_t n = 0;
    assert_int_equal(pyagent_agent_tokens(a, NULL, 0, &n), PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 25);
    /* the logits of position 24 come back after a prefill */
    size_t n_logits = logits_of(a, got);
    reference_logits(ref, seq, 25, want);
    assert_true(max_diff(got, want, n_logits) < 1e-5);
    int32_t other[10];
    random_tokens(other, 10, &seed);
    assert_int_equal(pyagent_agent_feed_tokens(a, other, 10), PYAGENT_OK);
    logits_of(a, got);
    int32_t expect_seq[35];
    memcpy(expect_seq, seq, 25 * sizeof *seq);
    memcpy(expect_seq + 25, other, 10 * sizeof *other);
    reference_logits(ref, expect_seq, 35, want);
    assert_true(max_diff(got, want, n_logits) < 1e-5);
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
    pyagent_engine_destroy(ref);
}

/* ------------------------------------------------------------------------------------------ */
/* Memory limits                                                                                */

static void full_pool_fails_only_the_agent_that_needs_a_block(void **state) {
    (void)state;
    pyagent_engine *probe = open_engine(stories_path, 0, 0, 16);
    const int64_t block_bytes = kv_stats(probe).block_bytes;
    pyagent_engine_destroy(probe);
    pyagent_engine *e = open_engine(stories_path, 0, 4 * block_bytes, 16); /* 64 tokens */
    int32_t seq[80];
    unsigned seed = 9;
    random_tokens(seq, 80, &seed);
    pyagent_agent *big = greedy_agent(e), *small = greedy_agent(e);
    assert_int_equal(pyagent_agent_feed_tokens(big, seq, 40), PYAGENT_OK); /* 3 blocks */
    assert_int_equal(pyagent_agent_prefill(big), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(small, seq, 20), PYAGENT_OK); /* needs 2 */
    assert_int_equal(pyagent_agent_prefill(small), PYAGENT_ERR_KV_FULL);
    assert_non_null(strstr(pyagent_agent_last_error(small), "KV store full"));
    /* the other agent goes on generating in its own blocks */
    int32_t finish = 0;
    assert_int_equal(pyagent_agent_generate(big, 8, NULL, NULL, &finish), PYAGENT_OK);
    assert_int_equal(finish, PYAGENT_FINISH_LENGTH);
    /* and once it is gone, the small one fits */
    pyagent_agent_destroy(big);
    assert_int_equal(pyagent_agent_prefill(small), PYAGENT_OK);
    pyagent_agent_destroy(small);
    pyagent_engine_destroy(e);
}

/* Random feed / fork / rewind / reset / destroy / generate on many agents under a budget so
 * tight that cached blocks are evicted; after every operation the agent's next-token logits
 * must equal those of an independent run on the same tokens. */
static void random_operations_match_independent_runs(void **state) {
    (void)state;
    pyagent_engine *probe = open_engine(stories_path, 0, 0, 8);
    const int64_t block_bytes = kv_stats(probe).block_bytes;
    pyagent_engine_destroy(probe);
    pyagent_engine *e = open_engine(stories_path, 1, 40 * block_bytes, 8);
    pyagent_engine *ref = open_engine(stories_path, 0, 0, 8);
    enum { N_AGENTS = 6, N_OPS = 300, MAX_LEN = 120 };
    pyagent_agent *agents[N_AGENTS] = {0};
    int32_t prefixes[3][40];
    unsigned seed = 1234;
    for (int p = 0; p < 3; p++) random_tokens(prefixes[p], 40, &seed);
    int n_checked = 0, n_full = 0;
    for (int op = 0; op < N_OPS; op++) {
        int i = (int)(rand_r(&seed) % N_AGENTS);
        if (!agents[i]) agents[i] = greedy_agent(e);
        pyagent_agent *a = agents[i];
        size_t len = 0;
        pyagent_agent_tokens(a, NULL, 0, &len);
        pyagent_status st = PYAGENT_OK;
        switch (rand_r(&seed) % 7) {
        case 0: /* a shared system prompt */
            if (len == 0) st = pyagent_agent_feed_tokens(a, prefixes[rand_r(&seed) % 3], 40);
            break;
        case 1: { /* own tokens */
            int32_t own[12];
            size_t n = 1 + rand_r(&seed) % 12;
            random_tokens(own, n, &seed);
            if (len + n < MAX_LEN) st = pyagent_agent_feed_tokens(a, own, n);
            break;
        }
        case 2: /* fork into another slot */ {
            int j = (int)(rand_r(&seed) % N_AGENTS);
            if (j != i && len > 0) {
                pyagent_agent_destroy(agents[j]);
                agents[j] = NULL;
                st = pyagent_agent_fork(a, &agents[j]);
            }
            break;
        }
        case 3:
            if (len > 0) st = pyagent_agent_rewind(a, rand_r(&seed) % len);
            break;
        case 4:
            if (rand_r(&seed) % 4 == 0) st = pyagent_agent_reset(a);
            break;
        case 5:
            if (rand_r(&seed) % 4 == 0) {
                pyagent_agent_destroy(a);
                agents[i] = NULL;
                continue;
            }
            break;
        case 6:
            if (len > 0 && len + 4 < MAX_LEN)
                st = pyagent_agent_generate(a, 1 + (int32_t)(rand_r(&seed) % 3), NULL, NULL, NULL);
            break;
        }
        if (st == PYAGENT_ERR_KV_FULL) {
            n_full++;
            continue;
        }
        assert_int_equal(st, PYAGENT_OK);
        int32_t tokens[MAX_LEN + 8];
        pyagent_agent_tokens(a, tokens, MAX_LEN + 8, &len);
        if (len == 0) continue;
        float got[N_VOCAB_MAX], want[N_VOCAB_MAX];
        st = pyagent_agent_prefill(a);
        if (st == PYAGENT_ERR_KV_FULL) {
            n_full++;
            continue;
        }
        assert_int_equal(st, PYAGENT_OK);
        size_t n_logits = 0;
        assert_int_equal(pyagent_agent_logits(a, got, N_VOCAB_MAX, &n_logits), PYAGENT_OK);
        reference_logits(ref, tokens, len, want);
        double d = max_diff(got, want, n_logits);
        if (d >= 1e-4) fprintf(stderr, "op %d agent %d len %zu: diff %g\n", op, i, len, d);
        assert_true(d < 1e-4);
        n_checked++;
    }
    pyagent_kv_stats ks = kv_stats(e);
    printf("# %d checks, %d KV-full refusals, %lld evictions, %lld prefix-hit tokens, %lld "
           "copy-on-write\n",
           n_checked, n_full, (long long)ks.n_evictions, (long long)ks.n_prefix_hit_tokens,
           (long long)ks.n_cow_copies);
    assert_true(n_checked > N_OPS / 3);
    assert_true(ks.n_evictions > 0);
    assert_true(ks.n_prefix_hit_tokens > 0);
    for (int i = 0; i < N_AGENTS; i++) pyagent_agent_destroy(agents[i]);
    ks = kv_stats(e);
    assert_int_equal(ks.n_used, 0); /* every block came back */
    assert_int_equal(ks.n_used + ks.n_cached + ks.n_free, ks.n_blocks);
    pyagent_engine_destroy(e);
    pyagent_engine_destroy(ref);
}

/* ------------------------------------------------------------------------------------------ */
/* Scheduling                                                                                   */

typedef struct text {
    char data[2048];
    size_t len;
    int n_tokens;
} text;

static void collect(void *ud, int32_t token, const char *piece, size_t len) {
    (void)token;
    text *t = ud;
    t->n_tokens++;
    if (t->len + len < sizeof t->data) {
        memcpy(t->data + t->len, piece, len);
        t->len += len;
    }
}

static const char *prompts[] = {"Once upon a time", "The little dog", "Lily and Ben",
                                "One day, a bird", "Tom had a red ball", "The sun was"};
#define N_PROMPTS 6

/* Greedy text of each prompt, generated by an agent alone. */
static void solo_texts(text *out, int n_tokens) {
    pyagent_engine *e = open_engine(stories_path, 0, 0, 16);
    for (int i = 0; i < N_PROMPTS; i++) {
        pyagent_agent *a = greedy_agent(e);
        memset(&out[i], 0, sizeof out[i]);
        assert_int_equal(pyagent_agent_feed_text(a, prompts[i], -1), PYAGENT_OK);
        assert_int_equal(pyagent_agent_generate(a, n_tokens, collect, &out[i], NULL), PYAGENT_OK);
        pyagent_agent_destroy(a);
    }
    pyagent_engine_destroy(e);
}

static void submitted_requests_batch_and_match_solo_runs(void **state) {
    (void)state;
    text solo[N_PROMPTS], batched[N_PROMPTS];
    solo_texts(solo, 24);
    pyagent_engine *e = open_engine(stories_path, 1, 0, 16);
    pyagent_agent *agents[N_PROMPTS];
    for (int i = 0; i < N_PROMPTS; i++) {
        agents[i] = greedy_agent(e);
        memset(&batched[i], 0, sizeof batched[i]);
        assert_int_equal(pyagent_agent_feed_text(agents[i], prompts[i], -1), PYAGENT_OK);
        assert_int_equal(pyagent_agent_submit(agents[i], 24, collect, &batched[i]), PYAGENT_OK);
        /* a running request makes the agent busy for changes */
        assert_int_equal(pyagent_agent_feed_text(agents[i], "x", -1), PYAGENT_ERR_BUSY);
    }
    int steps = 0;
    int32_t n_active = 1;
    while (n_active > 0) {
        assert_int_equal(pyagent_engine_step(e, &n_active), PYAGENT_OK);
        steps++;
    }
    /* every agent decodes in the same steps: about one step per token, not one per agent */
    assert_true(steps <= 24 + 3);
    for (int i = 0; i < N_PROMPTS; i++) {
        int32_t finish = 0;
        assert_int_equal(pyagent_agent_poll(agents[i], &finish), PYAGENT_OK);
        assert_int_equal(finish, PYAGENT_FINISH_LENGTH);
        assert_int_equal(batched[i].len, solo[i].len);
        assert_memory_equal(batched[i].data, solo[i].data, solo[i].len);
        pyagent_agent_destroy(agents[i]);
    }
    pyagent_engine_destroy(e);
}

/* Seven agents on one 48-token prompt (F16 KV), each with 3 tokens of its own, decode 12
 * tokens together: the shared blocks are attended by all seven at once (kernel calls of four
 * and three queries) and each agent's own blocks alone, yet every agent's tokens
 * and final logits are those of the same agent run alone in its own engine. Both a model with
 * 64-value heads (the AVX-512 kernels) and one with 16 (the generic path). The logits compared
 * are the next token's, computed over the KV that the steps wrote. */
static void agents_on_a_shared_prompt_decode_like_agents_alone(void **state) {
    (void)state;
    enum { N_AGENTS = 7, PREFIX = 48, OWN = 3, GEN = 12 }; /* whole blocks of prefix */
    const char *models[] = {hd64_path, gqa_path};
    kv_type = PYAGENT_KV_F16;
    for (int mi = 0; mi < 2; mi++) {
        int32_t prefix[PREFIX], own[N_AGENTS][OWN];
        unsigned seed = 77;
        random_tokens(prefix, PREFIX, &seed);
        for (int i = 0; i < N_AGENTS; i++) random_tokens(own[i], OWN, &seed);
        float batched[N_AGENTS][N_VOCAB_MAX], alone[N_VOCAB_MAX];
        int32_t ids[N_AGENTS][PREFIX + OWN + GEN], alone_ids[PREFIX + OWN + GEN];
        size_t n_ids = 0, n_logits = 0;

        pyagent_engine *e = open_engine(models[mi], 1, 0, 16);
        pyagent_agent *agents[N_AGENTS];
        for (int i = 0; i < N_AGENTS; i++) {
            agents[i] = greedy_agent(e);
            assert_int_equal(pyagent_agent_feed_tokens(agents[i], prefix, PREFIX), PYAGENT_OK);
            if (i == 0) assert_int_equal(pyagent_agent_prefill(agents[i]), PYAGENT_OK);
            assert_int_equal(pyagent_agent_feed_tokens(agents[i], own[i], OWN), PYAGENT_OK);
            assert_int_equal(pyagent_agent_submit(agents[i], GEN, NULL, NULL), PYAGENT_OK);
        }
        for (int32_t n_active = 1; n_active > 0;)
            assert_int_equal(pyagent_engine_step(e, &n_active), PYAGENT_OK);
        for (int i = 0; i < N_AGENTS; i++) {
            assert_int_equal(pyagent_agent_tokens(agents[i], ids[i], PREFIX + OWN + GEN, &n_ids),
                             PYAGENT_OK);
            assert_int_equal(n_ids, PREFIX + OWN + GEN);
            n_logits = logits_of(agents[i], batched[i]); /* of the last token, over that KV */
            pyagent_agent_destroy(agents[i]);
        }
        pyagent_engine_destroy(e);

        double worst = 0;
        for (int i = 0; i < N_AGENTS; i++) {
            pyagent_engine *solo = open_engine(models[mi], 1, 0, 16);
            pyagent_agent *a = greedy_agent(solo);
            assert_int_equal(pyagent_agent_feed_tokens(a, prefix, PREFIX), PYAGENT_OK);
            assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
            assert_int_equal(pyagent_agent_feed_tokens(a, own[i], OWN), PYAGENT_OK);
            assert_int_equal(pyagent_agent_generate(a, GEN, NULL, NULL, NULL), PYAGENT_OK);
            assert_int_equal(pyagent_agent_tokens(a, alone_ids, PREFIX + OWN + GEN, &n_ids),
                             PYAGENT_OK);
            assert_memory_equal(alone_ids, ids[i], sizeof alone_ids);
            const size_t n = logits_of(a, alone);
            assert_int_equal(n, n_logits);
            worst = fmax(worst, max_diff(alone, batched[i], n));
            pyagent_agent_destroy(a);
            pyagent_engine_destroy(solo);
        }
        printf("# %s: %d agents on a shared prompt vs alone: max |logit diff| %.3g\n",
               models[mi], N_AGENTS, worst);
        assert_true(worst <= 1e-6);
    }
    kv_type = PYAGENT_KV_F32;
}

typedef struct worker {
    pyagent_engine *engine;
    int first, count;
    const text *solo;
    int n_mismatch;
    pyagent_status status;
} worker;

static void *drive_agents(void *arg) {
    worker *w = arg;
    for (int k = 0; k < w->count; k++) {
        int i = (w->first + k) % N_PROMPTS;
        pyagent_agent *a = greedy_agent(w->engine);
        text t = {0};
        pyagent_status st = pyagent_agent_feed_text(a, prompts[i], -1);
        if (!st) st = pyagent_agent_generate(a, 16, collect, &t, NULL);
        if (st) w->status = st;
        if (t.len != w->solo[i].len || memcmp(t.data, w->solo[i].data, t.len) != 0)
            w->n_mismatch++;
        pyagent_agent_destroy(a);
    }
    return NULL;
}

/* 8 host threads drive 64 agents (8 each, one after another) on one engine, with and without
 * the engine's own loop: every agent's text equals its solo run. */
static void eight_threads_sixty_four_agents(void **state) {
    (void)state;
    text solo[N_PROMPTS];
    solo_texts(solo, 16);
    for (int loop = 0; loop < 2; loop++) {
        pyagent_engine *e = open_engine(stories_path, 1, 0, 16);
        if (loop) assert_int_equal(pyagent_engine_start(e), PYAGENT_OK);
        worker w[8];
        pthread_t threads[8];
        for (int t = 0; t < 8; t++) {
            w[t] = (worker){e, t, 8, solo, 0, PYAGENT_OK};
            pthread_create(&threads[t], NULL, drive_agents, &w[t]);
        }
        for (int t = 0; t < 8; t++) {
            pthread_join(threads[t], NULL);
            assert_int_equal(w[t].status, PYAGENT_OK);
            assert_int_equal(w[t].n_mismatch, 0);
        }
        if (loop) assert_int_equal(pyagent_engine_step(e, NULL), PYAGENT_ERR_BUSY);
        assert_int_equal(pyagent_engine_stop(e), PYAGENT_OK);
        pyagent_kv_stats ks = kv_stats(e);
        assert_int_equal(ks.n_used, 0);
        pyagent_engine_destroy(e);
    }
}

/* A submitted request's callback runs on the engine's loop thread; destroying the agent
 * meanwhile (the host saw its last token arrive) waits for the callback to return instead of
 * freeing the agent under it, and poll says "running" until then. */
typedef struct slow_callback {
    atomic_int seen, last_started, last_returned;
} slow_callback;

static void sleep_us(long us) {
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&t, NULL);
}

static void slow_on_last(void *ud, int32_t token, const char *text, size_t len) {
    (void)token, (void)text, (void)len;
    slow_callback *c = ud;
    if (atomic_fetch_add(&c->seen, 1) + 1 < 3) return;
    atomic_store(&c->last_started, 1);
    sleep_us(100 * 1000);
    atomic_store(&c->last_returned, 1);
}

static void destroy_waits_for_a_running_callback(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 0, 0, 16);
    assert_int_equal(pyagent_engine_start(e), PYAGENT_OK);
    pyagent_agent *a = greedy_agent(e);
    slow_callback c = {0};
    assert_int_equal(pyagent_agent_feed_text(a, "Once upon a time", -1), PYAGENT_OK);
    assert_int_equal(pyagent_agent_submit(a, 3, slow_on_last, &c), PYAGENT_OK);
    while (!atomic_load(&c.last_started)) sleep_us(100);
    int32_t finish = -1;
    assert_int_equal(pyagent_agent_poll(a, &finish), PYAGENT_OK);
    assert_int_equal(finish, 0); /* still running: its last event is being delivered */
    pyagent_agent_destroy(a);
    assert_int_equal(atomic_load(&c.last_returned), 1);
    assert_int_equal(atomic_load(&c.seen), 3);
    assert_int_equal(pyagent_engine_stop(e), PYAGENT_OK);
    pyagent_engine_destroy(e);
}

/* Back-to-back blocking requests against the engine's own loop: each one must wake the loop,
 * however the request's start falls against the loop's last idle step. A request whose start
 * is missed waits for the next one, so a lone host thread would wait forever; the requests run
 * on a thread of their own and the test fails if they have not all ended within a minute. */
typedef struct back_to_back {
    pyagent_engine *engine;
    int n_done;
    pyagent_status status;
    pthread_mutex_t lock;
    pthread_cond_t done;
    bool finished;
} back_to_back;

static void *run_back_to_back(void *arg) {
    back_to_back *b = arg;
    pyagent_agent *a = greedy_agent(b->engine);
    const int32_t token = 1;
    for (int i = 0; i < 3000 && !b->status; i++) {
        if (i % 200 == 0) b->status = pyagent_agent_reset(a);
        if (!b->status) b->status = pyagent_agent_feed_tokens(a, &token, 1);
        if (!b->status) b->status = pyagent_agent_prefill(a);
        if (!b->status) b->n_done = i + 1;
    }
    pyagent_agent_destroy(a);
    pthread_mutex_lock(&b->lock);
    b->finished = true;
    pthread_cond_signal(&b->done);
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

static void blocking_requests_always_wake_the_loop(void **state) {
    (void)state;
    back_to_back b = {.engine = open_engine(stories_path, 0, 0, 16)};
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.done, NULL);
    assert_int_equal(pyagent_engine_start(b.engine), PYAGENT_OK);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, run_back_to_back, &b), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    pthread_mutex_lock(&b.lock);
    while (!b.finished && pthread_cond_timedwait(&b.done, &b.lock, &until) == 0) {}
    const bool finished = b.finished;
    pthread_mutex_unlock(&b.lock);
    if (!finished) /* the worker is stuck: report, without joining it */
        fail_msg("request %d of 3000 never ended: the loop missed its start", b.n_done + 1);
    pthread_join(thread, NULL);
    assert_int_equal(b.status, PYAGENT_OK);
    assert_int_equal(b.n_done, 3000);
    assert_int_equal(pyagent_engine_stop(b.engine), PYAGENT_OK);
    pyagent_engine_destroy(b.engine);
    pthread_cond_destroy(&b.done);
    pthread_mutex_destroy(&b.lock);
}

int main(void) {
    const char *data = getenv("PYAGENT_TEST_DATA"), *models = getenv("PYAGENT_TEST_MODELS");
    snprintf(stories_path, sizeof stories_path, "%s/stories260K.gguf", data ? data : "tests/data");
    snprintf(gqa_path, sizeof gqa_path, "%s/tiny-f32.gguf", models ? models : ".");
    snprintf(hd64_path, sizeof hd64_path, "%s/tiny-hd64-f16.gguf", models ? models : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cached_prefix_equals_recomputed_stories),
        cmocka_unit_test(cached_prefix_equals_recomputed_gqa),
        cmocka_unit_test(f16_kv_gives_f32_kv_logits_within_f16_rounding),
        cmocka_unit_test(q8_0_kv_stays_close_to_f32_kv),
        cmocka_unit_test(different_cache_salts_never_share),
        cmocka_unit_test(index_nodes_form_the_prefix_tree),
        cmocka_unit_test(window_pruning_bounds_memory_and_is_exact_when_off),
        cmocka_unit_test(disk_tier_keeps_evicted_blocks_for_later_prompts),
        cmocka_unit_test(host_tier_keeps_evicted_blocks_within_its_bytes),
        cmocka_unit_test(store_snapshot_warms_a_new_engine),
        cmocka_unit_test(labels_are_kept_and_validated),
        cmocka_unit_test(engine_destroyed_before_its_agents_lives_until_the_last_one),
        cmocka_unit_test(forked_agents_diverge_like_independent_ones),
        cmocka_unit_test(rewind_then_new_tokens_equals_fresh_run),
        cmocka_unit_test(full_pool_fails_only_the_agent_that_needs_a_block),
        cmocka_unit_test(random_operations_match_independent_runs),
        cmocka_unit_test(submitted_requests_batch_and_match_solo_runs),
        cmocka_unit_test(agents_on_a_shared_prompt_decode_like_agents_alone),
        cmocka_unit_test(eight_threads_sixty_four_agents),
        cmocka_unit_test(blocking_requests_always_wake_the_loop),
        cmocka_unit_test(destroy_waits_for_a_running_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
