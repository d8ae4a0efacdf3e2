/*
 * Text embeddings and the semantic cache (semantic.h): the embedding is the mean of the final
 * hidden states; random-hyperplane codes collide as Charikar's 1 - θ/π says; the cache hits on
 * the same prompt and at its threshold, misses below it, and forgets by age, by count and when
 * another model asks.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <pyagent/pyagent.h>

#include "helpers.h"
#include "semantic/semantic_internal.h"

static char stories_path[1024], tied_path[1024];

static size_t width(pyagent_engine *e) {
    int64_t d = 0;
    assert_int_equal(pyagent_engine_info(e, "n_embd", &d), PYAGENT_OK);
    return (size_t)d;
}

/* The mean of the per-position hidden states read one token at a time. */
static void embedding_is_the_mean_final_hidden_state(void **state) {
    (void)state;
    pyagent_engine *e = test_open_engine(stories_path, NULL, 0);
    const size_t d = width(e);
    const char *text = "Once upon a time, there was a little girl.";
    float *got = malloc(d * sizeof *got), *h = malloc(d * sizeof *h);
    double *mean = calloc(d, sizeof *mean);
    size_t n = 0;
    assert_int_equal(pyagent_engine_embed_text(e, text, -1, got, 1, &n), PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, d);
    assert_int_equal(pyagent_engine_embed_text(e, text, -1, got, d, &n), PYAGENT_OK);

    int32_t ids[64];
    size_t n_ids = 0;
    assert_int_equal(pyagent_engine_tokenize(e, text, -1, PYAGENT_TOKENIZE_ADD_SPECIAL, ids, 64,
                                             &n_ids),
                     PYAGENT_OK);
    pyagent_agent *a = test_greedy_agent(e);
    for (size_t i = 0; i < n_ids; i++) {
        assert_int_equal(pyagent_agent_feed_tokens(a, ids + i, 1), PYAGENT_OK);
        assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
        assert_int_equal(pyagent_agent_hidden(a, h, d, &n), PYAGENT_OK);
        for (size_t j = 0; j < d; j++) mean[j] += h[j] / (double)n_ids;
    }
    for (size_t j = 0; j < d; j++) assert_true(fabs(mean[j] - got[j]) <= 1e-4 * (1 + fabs(mean[j])));
    /* the embedding's agent shared nothing: the prefix cache still has no block of it */
    pyagent_kv_stats st = {.struct_size = sizeof st};
    pyagent_kv_store_stats_get(pyagent_engine_kv_store(e), &st);
    assert_int_equal(st.n_prefix_hit_tokens, 0);
    assert_int_equal(pyagent_engine_embed_text(e, "\xff", -1, got, d, &n), PYAGENT_ERR_INVALID_UTF8);
    pyagent_agent_destroy(a);
    free(got), free(h), free(mean);
    pyagent_engine_destroy(e);
}

/* Over many random pairs of vectors at angle θ, a code bit is equal with probability 1 - θ/π
 * (within 1 %), and whole tables collide with (1 - θ/π)^bits. */
static void hyperplane_codes_collide_as_charikar_says(void **state) {
    (void)state;
    pyagent_semantic_config cfg = {.struct_size = sizeof cfg, .n_bits = 8, .n_tables = 8};
    pyagent_semantic_cache *c = NULL;
    assert_int_equal(pyagent_semantic_cache_create(&cfg, &c), PYAGENT_OK);
    enum { D = 32, PAIRS = 20000 };
    assert_int_equal(pa_semantic_prepare(c, D), PYAGENT_OK);
    uint64_t x = 12345;
    const double angles[] = {0.3, 0.8, 1.5};
    for (size_t a = 0; a < 3; a++) {
        long equal_bits = 0, equal_tables = 0;
        for (int p = 0; p < PAIRS; p++) {
            float u[D], w[D], v[D];
            double nu = 0, dot = 0, nw = 0;
            for (int j = 0; j < D; j++) { /* two random directions, w made orthogonal to u */
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                u[j] = (float)((double)(x >> 11) * 0x1.0p-53 - 0.5);
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                w[j] = (float)((double)(x >> 11) * 0x1.0p-53 - 0.5);
            }
            for (int j = 0; j < D; j++) nu += (double)u[j] * u[j];
            for (int j = 0; j < D; j++) u[j] /= (float)sqrt(nu);
            for (int j = 0; j < D; j++) dot += (double)u[j] * w[j];
            for (int j = 0; j < D; j++) w[j] -= (float)dot * u[j];
            for (int j = 0; j < D; j++) nw += (double)w[j] * w[j];
            for (int j = 0; j < D; j++)
                v[j] = (float)(cos(angles[a]) * u[j] + sin(angles[a]) * w[j] / sqrt(nw));
            uint64_t cu[8], cv[8];
            pa_semantic_codes(c, u, cu);
            pa_semantic_codes(c, v, cv);
            for (int t = 0; t < 8; t++) {
                equal_bits += 8 - __builtin_popcountll(cu[t] ^ cv[t]);
                equal_tables += cu[t] == cv[t];
            }
        }
        const double p_bit = 1 - angles[a] / 3.141592653589793;
        const double bits = (double)equal_bits / (PAIRS * 64.0);
        const double tables = (double)equal_tables / (PAIRS * 8.0);
        printf("# angle %.1f: bit collision %.4f (1 - θ/π = %.4f), table %.4f (%.4f)\n",
               angles[a], bits, p_bit, tables, pow(p_bit, 8));
        assert_true(fabs(bits - p_bit) < 0.01);
        assert_true(fabs(tables - pow(p_bit, 8)) < 0.02);
    }
    pyagent_semantic_cache_destroy(c);
}

static int32_t get(pyagent_semantic_cache *c, pyagent_engine *e, const char *prompt, char *out,
                   double *sim) {
    int32_t hit = -1;
    size_t len = 0;
    assert_int_equal(pyagent_semantic_cache_get(c, e, prompt, -1, &hit, out, 256, &len, sim),
                     PYAGENT_OK);
    out[len] = 0;
    return hit;
}

static double cosine(pyagent_engine *e, const char *a, const char *b) {
    const size_t d = width(e);
    float *u = malloc(d * sizeof *u), *v = malloc(d * sizeof *v);
    size_t n;
    assert_int_equal(pyagent_engine_embed_text(e, a, -1, u, d, &n), PYAGENT_OK);
    assert_int_equal(pyagent_engine_embed_text(e, b, -1, v, d, &n), PYAGENT_OK);
    double uv = 0, uu = 0, vv = 0;
    for (size_t j = 0; j < d; j++) uv += (double)u[j] * v[j], uu += (double)u[j] * u[j],
                                   vv += (double)v[j] * v[j];
    free(u), free(v);
    return uv / sqrt(uu * vv);
}

/* The same prompt hits; a prompt at cosine s hits with threshold s - 1e-4 and misses with
 * s + 1e-4; the stats count it. */
static void hits_at_the_threshold_and_misses_below(void **state) {
    (void)state;
    pyagent_engine *e = test_open_engine(stories_path, NULL, 0);
    const char *a = "Once upon a time, there was a little girl named Lily.";
    const char *b = "Once upon a time, there was a little boy named Tom.";
    const double s = cosine(e, a, b);
    printf("# cosine of the two prompts: %.4f\n", s);
    char out[257];
    double sim = 0;
    for (int below = 0; below < 2; below++) {
        pyagent_semantic_config cfg = {.struct_size = sizeof cfg,
                                       .threshold = below ? s + 1e-4 : s - 1e-4,
                                       .n_bits = 4, .n_tables = 32};
        pyagent_semantic_cache *c = NULL;
        assert_int_equal(pyagent_semantic_cache_create(&cfg, &c), PYAGENT_OK);
        assert_int_equal(get(c, e, a, out, &sim), 0);
        assert_int_equal(pyagent_semantic_cache_put(c, e, a, -1, "She played in the park.", -1),
                         PYAGENT_OK);
        assert_int_equal(get(c, e, a, out, &sim), 1);
        assert_string_equal(out, "She played in the park.");
        assert_true(sim > 0.9999);
        assert_int_equal(get(c, e, b, out, &sim), below ? 0 : 1);
        pyagent_semantic_stats st = {.struct_size = sizeof st};
        assert_int_equal(pyagent_semantic_cache_stats_get(c, &st), PYAGENT_OK);
        assert_int_equal(st.n_entries, 1);
        assert_int_equal(st.n_puts, 1);
        assert_int_equal(st.n_hits, below ? 1 : 2);
        assert_int_equal(st.n_misses, below ? 2 : 1);
        pyagent_semantic_cache_destroy(c);
    }
    pyagent_engine_destroy(e);
}

/* Entries leave after max_age_s, after max_entries newer puts, and all at once when a prompt of
 * another model comes; the most similar of several answers. */
static void the_window_and_a_new_model_expire_entries(void **state) {
    (void)state;
    pyagent_engine *e = test_open_engine(stories_path, NULL, 0);
    pyagent_engine *other = test_open_engine(tied_path, NULL, 0);
    char out[257];
    pyagent_semantic_config cfg = {.struct_size = sizeof cfg, .max_entries = 2,
                                   .max_age_s = 0.3};
    pyagent_semantic_cache *c = NULL;
    assert_int_equal(pyagent_semantic_cache_create(&cfg, &c), PYAGENT_OK);
    const char *p[3] = {"The cat sat on the mat.", "A dog ran in the big park.",
                        "Tim saw a red ball under the tree."};
    for (int i = 0; i < 3; i++) {
        char answer[16];
        snprintf(answer, sizeof answer, "answer %d", i);
        assert_int_equal(pyagent_semantic_cache_put(c, e, p[i], -1, answer, -1), PYAGENT_OK);
    }
    assert_int_equal(get(c, e, p[0], out, NULL), 0); /* pushed out by two newer ones */
    assert_int_equal(get(c, e, p[2], out, NULL), 1);
    assert_string_equal(out, "answer 2");
    nanosleep(&(struct timespec){0, 400 * 1000 * 1000}, NULL);
    assert_int_equal(get(c, e, p[2], out, NULL), 0); /* too old */
    assert_int_equal(pyagent_semantic_cache_put(c, e, p[1], -1, "again", -1), PYAGENT_OK);
    assert_int_equal(get(c, other, p[1], out, NULL), 0); /* another model: all dropped */
    pyagent_semantic_stats st = {.struct_size = sizeof st};
    pyagent_semantic_cache_stats_get(c, &st);
    assert_int_equal(st.n_entries, 0);
    assert_int_equal(st.n_expired, 4);
    assert_int_equal(get(c, e, p[1], out, NULL), 0);
    pyagent_semantic_cache_destroy(c);

    cfg = (pyagent_semantic_config){.struct_size = sizeof cfg, .threshold = 2};
    assert_int_equal(pyagent_semantic_cache_create(&cfg, &c), PYAGENT_ERR_OUT_OF_RANGE);
    assert_null(c);
    pyagent_semantic_cache_destroy(NULL);
    pyagent_engine_destroy(other);
    pyagent_engine_destroy(e);
}

int main(void) {
    test_data_path(stories_path, sizeof stories_path, "stories260K.gguf");
    test_model_path(tied_path, sizeof tied_path, "tiny-tied-f32.gguf");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(embedding_is_the_mean_final_hidden_state),
        cmocka_unit_test(hyperplane_codes_collide_as_charikar_says),
        cmocka_unit_test(hits_at_the_threshold_and_misses_below),
        cmocka_unit_test(the_window_and_a_new_model_expire_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
