/*
 * Feeding embeddings instead of tokens, reading final hidden states, and adapters between two
 * models (latent.h): a token's own embedding row fed as a row equals feeding the token, bit for
 * bit; the hidden state is what the output matrix turns into the logits; an adapter fitted on
 * the pycode pair predicts the target's embeddings of the draft's next tokens on held-out text.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pyagent/pyagent.h>

#include "helpers.h"

static char stories_path[1024], tied_path[1024];

static size_t info(pyagent_engine *e, const char *key) {
    int64_t v = 0;
    assert_int_equal(pyagent_engine_info(e, key, &v), PYAGENT_OK);
    return (size_t)v;
}

static size_t tokenize(pyagent_engine *e, const char *text, int32_t *ids, size_t cap) {
    size_t n = 0;
    assert_int_equal(pyagent_engine_tokenize(e, text, -1, PYAGENT_TOKENIZE_ADD_SPECIAL, ids, cap,
                                             &n),
                     PYAGENT_OK);
    return n;
}

/* The embedding rows of ids (caller frees). */
static float *embed(pyagent_engine *e, const int32_t *ids, size_t n) {
    size_t need = 0;
    assert_int_equal(pyagent_engine_embed_tokens(e, ids, n, NULL, 0, &need),
                     n ? PYAGENT_ERR_BUFFER_TOO_SMALL : PYAGENT_OK);
    assert_int_equal(need, n * info(e, "n_embd"));
    float *rows = malloc((need + 1) * sizeof *rows);
    assert_int_equal(pyagent_engine_embed_tokens(e, ids, n, rows, need, &need), PYAGENT_OK);
    return rows;
}

static float *logits_of(pyagent_agent *a, size_t n_vocab) {
    float *l = malloc(n_vocab * sizeof *l);
    size_t n = 0;
    assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
    assert_int_equal(pyagent_agent_logits(a, l, n_vocab, &n), PYAGENT_OK);
    return l;
}

static const char *story = "Once upon a time, there was a little girl named Lily. She loved to "
                           "play outside in the park with her friends.";

/* The same prompt as ids, and as their embedding rows: the same logits bit for bit and the same
 * greedy continuation; the rows attach nothing from the prefix cache, though the ids' blocks
 * are in it. */
static void token_rows_fed_as_embeddings_equal_the_tokens(void **state) {
    (void)state;
    pyagent_engine *e = test_open_engine(stories_path, NULL, 0);
    const size_t n_vocab = info(e, "n_vocab"), d = info(e, "n_embd");
    int32_t ids[128];
    const size_t n = tokenize(e, story, ids, 128);
    float *rows = embed(e, ids, n);

    pyagent_agent *by_id = test_greedy_agent(e), *by_row = test_greedy_agent(e);
    assert_int_equal(pyagent_agent_feed_tokens(by_id, ids, n), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_embeddings(by_row, rows, n, d), PYAGENT_OK);
    float *l_id = logits_of(by_id, n_vocab), *l_row = logits_of(by_row, n_vocab);
    assert_memory_equal(l_id, l_row, n_vocab * sizeof *l_id);

    pyagent_agent_stats st = {.struct_size = sizeof st};
    pyagent_agent_stats_get(by_row, &st);
    assert_int_equal(st.n_cached_tokens, 0);
    assert_int_equal(st.n_prompt_tokens, (int64_t)n);

    int32_t seq[128];
    size_t n_seq = 0;
    assert_int_equal(pyagent_agent_tokens(by_row, seq, 128, &n_seq), PYAGENT_OK);
    assert_int_equal(n_seq, n);
    for (size_t i = 0; i < n; i++) assert_int_equal(seq[i], PYAGENT_TOKEN_EMBEDDING);

    test_run a = test_generate(by_id, 40), b = test_generate(by_row, 40);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.ids, b.ids, (size_t)a.n * sizeof a.ids[0]);
    free(l_id), free(l_row), free(rows);
    pyagent_agent_destroy(by_id), pyagent_agent_destroy(by_row);
    pyagent_engine_destroy(e);
}

/* Ids, then rows, then ids again; rewinding into the rows and feeding other rows; a fork that
 * recomputes a row: each equals an agent fed the same ids in the same steps (steps of other
 * sizes may round differently) — the rows dropped by a rewind are gone, the kept ones stay. */
static void mixed_sequences_and_rewinds_keep_the_right_rows(void **state) {
    (void)state;
    pyagent_engine *e = test_open_engine(stories_path, "prefix_cache", 0);
    const size_t n_vocab = info(e, "n_vocab"), d = info(e, "n_embd");
    int32_t ids[128];
    const size_t n = tokenize(e, story, ids, 128);
    assert_true(n > 24);
    float *rows = embed(e, ids, n);

    pyagent_agent *mixed = test_greedy_agent(e), *plain = test_greedy_agent(e);
    assert_int_equal(pyagent_agent_feed_tokens(mixed, ids, 8), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_embeddings(mixed, rows + 8 * d, 8, d), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(plain, ids, 16), PYAGENT_OK);
    free(logits_of(mixed, n_vocab)), free(logits_of(plain, n_vocab));
    assert_int_equal(pyagent_agent_feed_tokens(mixed, ids + 16, n - 16), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(plain, ids + 16, n - 16), PYAGENT_OK);
    float *l_mixed = logits_of(mixed, n_vocab), *l_plain = logits_of(plain, n_vocab);
    assert_memory_equal(l_mixed, l_plain, n_vocab * sizeof *l_mixed);

    /* keep ids 0..7 and rows 8..11, then the rows of ids 20..23 in place of 12.. */
    assert_int_equal(pyagent_agent_rewind(mixed, n - 12), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_embeddings(mixed, rows + 20 * d, 4, d), PYAGENT_OK);
    assert_int_equal(pyagent_agent_rewind(plain, n - 12), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(plain, ids + 20, 4), PYAGENT_OK);
    free(l_mixed), free(l_plain);
    l_mixed = logits_of(mixed, n_vocab), l_plain = logits_of(plain, n_vocab);
    assert_memory_equal(l_mixed, l_plain, n_vocab * sizeof *l_mixed);

    /* a fork carries the rows: rewinding it into them and recomputing still agrees */
    pyagent_agent *child = NULL, *plain_child = NULL;
    assert_int_equal(pyagent_agent_fork(mixed, &child), PYAGENT_OK);
    assert_int_equal(pyagent_agent_fork(plain, &plain_child), PYAGENT_OK);
    assert_int_equal(pyagent_agent_rewind(child, 2), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_embeddings(child, rows + 22 * d, 1, d), PYAGENT_OK);
    assert_int_equal(pyagent_agent_rewind(plain_child, 2), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(plain_child, ids + 22, 1), PYAGENT_OK);
    free(l_mixed), free(l_plain);
    l_mixed = logits_of(child, n_vocab), l_plain = logits_of(plain_child, n_vocab);
    assert_memory_equal(l_mixed, l_plain, n_vocab * sizeof *l_mixed);

    test_run a = test_generate(child, 20), b = test_generate(plain_child, 20);
    assert_memory_equal(a.ids, b.ids, 20 * sizeof a.ids[0]);
    free(l_mixed), free(l_plain), free(rows);
    pyagent_agent_destroy(child), pyagent_agent_destroy(plain_child);
    pyagent_agent_destroy(mixed), pyagent_agent_destroy(plain);
    pyagent_engine_destroy(e);
}

/* A tied model's logits are its token embeddings dotted with the final hidden state. */
static void hidden_state_gives_the_logits_through_the_tied_embeddings(void **state) {
    (void)state;
    pyagent_engine *e = test_open_engine(tied_path, NULL, 0);
    const size_t n_vocab = info(e, "n_vocab"), d = info(e, "n_embd");
    pyagent_agent *a = test_greedy_agent(e);
    size_t n_floats = 0;
    assert_int_equal(pyagent_agent_hidden(a, NULL, 0, &n_floats), PYAGENT_ERR_INVALID_ARGUMENT);
    const int32_t ids[] = {1, 17, 42, 99, 3, 250};
    assert_int_equal(pyagent_agent_feed_tokens(a, ids, 6), PYAGENT_OK);
    float *logits = logits_of(a, n_vocab);
    float *hidden = malloc(d * sizeof *hidden);
    assert_int_equal(pyagent_agent_hidden(a, hidden, 1, &n_floats), PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n_floats, d);
    assert_int_equal(pyagent_agent_hidden(a, hidden, d, &n_floats), PYAGENT_OK);

    int32_t *all = malloc(n_vocab * sizeof *all);
    for (size_t t = 0; t < n_vocab; t++) all[t] = (int32_t)t;
    float *table = embed(e, all, n_vocab);
    for (size_t t = 0; t < n_vocab; t++) {
        double dot = 0, scale = 0;
        for (size_t j = 0; j < d; j++) {
            dot += (double)table[t * d + j] * hidden[j];
            scale += fabs((double)table[t * d + j] * hidden[j]);
        }
        assert_true(fabs(dot - logits[t]) <= 1e-5 * scale + 1e-6);
    }
    /* after a generated token is computed, hidden follows it */
    test_generate(a, 3);
    assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
    float *h2 = malloc(d * sizeof *h2);
    assert_int_equal(pyagent_agent_hidden(a, h2, d, &n_floats), PYAGENT_OK);
    assert_memory_not_equal(hidden, h2, d * sizeof *h2);
    free(h2), free(table), free(all), free(hidden), free(logits);
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
}

/* Bad rows are refused with a message and nothing queued; what needs token ids is refused
 * while the agent holds rows, and works again once they are rewound away. */
static void bad_rows_and_token_id_features_are_refused_clearly(void **state) {
    (void)state;
    pyagent_engine *e = test_open_engine(stories_path, "n_ctx", 32);
    const size_t d = info(e, "n_embd");
    int32_t ids[128];
    const size_t n = tokenize(e, story, ids, 128);
    float *rows = embed(e, ids, n);
    pyagent_agent *a = test_greedy_agent(e);
    assert_int_equal(pyagent_agent_feed_tokens(a, ids, 4), PYAGENT_OK);

    assert_int_equal(pyagent_agent_feed_embeddings(a, rows, 2, d + 1),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(pyagent_agent_last_error(a), "width"));
    assert_int_equal(pyagent_agent_feed_embeddings(a, NULL, 2, d), PYAGENT_ERR_INVALID_ARGUMENT);
    rows[d + 3] = NAN;
    assert_int_equal(pyagent_agent_feed_embeddings(a, rows, 2, d), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(pyagent_agent_last_error(a), "row 1, element 3"));
    rows[d + 3] = INFINITY;
    assert_int_equal(pyagent_agent_feed_embeddings(a, rows, 2, d), PYAGENT_ERR_INVALID_ARGUMENT);
    rows[d + 3] = 0;
    assert_int_equal(pyagent_agent_feed_embeddings(a, rows, 29, d), PYAGENT_ERR_CONTEXT_FULL);
    size_t n_seq = 0;
    pyagent_agent_tokens(a, NULL, 0, &n_seq);
    assert_int_equal(n_seq, 4);

    assert_int_equal(pyagent_agent_feed_embeddings(a, rows, 2, d), PYAGENT_OK);
    assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
    pyagent_latent_packet *p = NULL;
    assert_int_equal(pyagent_latent_export(a, 0, -1, &p), PYAGENT_ERR_UNSUPPORTED);
    assert_non_null(strstr(pyagent_agent_last_error(a), "embedding"));
    assert_int_equal(pyagent_latent_export(a, 0, 4, &p), PYAGENT_OK); /* before the rows */
    pyagent_latent_packet_destroy(p);
    char path[] = "/tmp/pyagent-adapter-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(pyagent_agent_save(a, path), PYAGENT_ERR_UNSUPPORTED);
    assert_int_equal(pyagent_agent_rewind(a, 2), PYAGENT_OK);
    assert_int_equal(pyagent_agent_save(a, path), PYAGENT_OK);
    assert_int_equal(pyagent_latent_export(a, 0, -1, &p), PYAGENT_OK);
    pyagent_latent_packet_destroy(p);
    unlink(path);

    float bad[4] = {0};
    assert_int_equal(pyagent_engine_embed_tokens(e, (int32_t[]){99999}, 1, bad, 4, &n_seq),
                     PYAGENT_ERR_INVALID_TOKEN);
    free(rows);
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
}

int main(void) {
    test_data_path(stories_path, sizeof stories_path, "stories260K.gguf");
    test_model_path(tied_path, sizeof tied_path, "tiny-tied-f32.gguf");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_rows_fed_as_embeddings_equal_the_tokens),
        cmocka_unit_test(mixed_sequences_and_rewinds_keep_the_right_rows),
        cmocka_unit_test(hidden_state_gives_the_logits_through_the_tied_embeddings),
        cmocka_unit_test(bad_rows_and_token_id_features_are_refused_clearly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
