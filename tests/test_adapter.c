/*
 * Feeding embeddings instead of tokens, reading final hidden states, and adapters between two
 * models (latent.h): a token's own embedding row fed as a row equals feeding the token, bit for
 * bit; the hidden state is what the output matrix turns into the logits; an adapter fitted on
 * the pycode pair turns the draft's reading of a text into rows the target understands.
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

/* ---------------------------------------------------------------------------------------- */
/* Adapters: the pycode draft (dim 128) read by the pycode target (dim 384)                    */

static char draft_path[1024], target_path[1024];
static char *fit_text, *eval_text; /* Python source of this project: fit on one, test on another */

static char *read_text(const char *name) {
    char path[1024];
    test_data_path(path, sizeof path, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = 0;
    fclose(f);
    return text;
}

typedef struct pair_fixture {
    pyagent_engine *draft, *target;
    pyagent_adapter *adapter;
} pair_fixture;

static int setup_pair(void **state) {
    pair_fixture *f = calloc(1, sizeof *f);
    f->draft = test_open_engine(draft_path, NULL, 0);
    f->target = test_open_engine(target_path, NULL, 0);
    pyagent_status st = pyagent_adapter_fit(f->draft, f->target, fit_text, -1, 1.0, 0.2,
                                            &f->adapter);
    if (st) fprintf(stderr, "fit: %s\n", pyagent_engine_last_error(f->target));
    assert_int_equal(st, PYAGENT_OK);
    *state = f;
    return 0;
}

static int teardown_pair(void **state) {
    pair_fixture *f = *state;
    pyagent_adapter_destroy(f->adapter);
    pyagent_engine_destroy(f->draft);
    pyagent_engine_destroy(f->target);
    free(f);
    return 0;
}

static pyagent_adapter_info adapter_info(const pyagent_adapter *a) {
    pyagent_adapter_info info = {.struct_size = sizeof info};
    assert_int_equal(pyagent_adapter_info_get(a, &info), PYAGENT_OK);
    return info;
}

/* On held-out text the fit explains the target's embeddings better than their mean does, and
 * the token nearest to a mapped row is mostly the token the draft read. */
static void fit_explains_held_out_embeddings(void **state) {
    pair_fixture *f = *state;
    pyagent_adapter_info info = adapter_info(f->adapter);
    printf("# adapter pycode draft -> target: %lld train / %lld held-out pairs, R2 train %.3f, "
           "held-out %.3f, held-out top-1 %.3f\n",
           (long long)info.n_train, (long long)info.n_heldout, info.r2_train, info.r2_heldout,
           info.top1_heldout);
    assert_int_equal(info.dim_in, 128);
    assert_int_equal(info.dim_out, 384);
    assert_true(info.n_heldout > 200 && info.n_train > 4 * info.n_heldout - 8);
    assert_true(info.r2_train > info.r2_heldout);
    assert_true(info.r2_heldout > 0.25);
    assert_true(info.top1_heldout > 0.5);
}

/* Saved and loaded, the adapter maps exactly as before; a file for other models or a damaged
 * one is refused with a message. */
static void save_load_round_trip_and_damaged_files(void **state) {
    pair_fixture *f = *state;
    char path[] = "/tmp/pyagent-adapter-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(pyagent_adapter_save(f->target, f->adapter, path), PYAGENT_OK);
    pyagent_adapter *loaded = NULL;
    assert_int_equal(pyagent_adapter_load(f->draft, f->target, path, &loaded), PYAGENT_OK);
    pyagent_adapter_info a = adapter_info(f->adapter), b = adapter_info(loaded);
    assert_memory_equal(&a, &b, sizeof a);

    float hidden[2 * 128], rows_a[2 * 384], rows_b[2 * 384];
    for (int i = 0; i < 256; i++) hidden[i] = sinf((float)i);
    assert_int_equal(pyagent_adapter_apply(f->adapter, hidden, 2, rows_a, 2 * 384), PYAGENT_OK);
    assert_int_equal(pyagent_adapter_apply(loaded, hidden, 2, rows_b, 2 * 384), PYAGENT_OK);
    assert_memory_equal(rows_a, rows_b, sizeof rows_a);
    assert_int_equal(pyagent_adapter_apply(loaded, hidden, 2, rows_b, 2 * 384 - 1),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    pyagent_adapter_destroy(loaded);

    /* the other way round: fitted for other models */
    assert_int_equal(pyagent_adapter_load(f->target, f->draft, path, &loaded),
                     PYAGENT_ERR_MISMATCH);
    assert_null(loaded);
    assert_non_null(strstr(pyagent_engine_last_error(f->draft), "other models"));

    /* every header byte flipped, payload bytes at a stride, truncations: BAD_PACKET */
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    const size_t size = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *bytes = malloc(size);
    assert_int_equal(fread(bytes, 1, size, fp), size);
    fclose(fp);
    char bad[] = "/tmp/pyagent-adapter-bad-XXXXXX";
    fd = mkstemp(bad);
    close(fd);
    int n_checked = 0;
    for (size_t i = 0; i < size; i += i < 112 ? 1 : 997) {
        bytes[i] ^= 0x20;
        fp = fopen(bad, "wb");
        fwrite(bytes, 1, size, fp);
        fclose(fp);
        bytes[i] ^= 0x20;
        pyagent_status st = pyagent_adapter_load(f->draft, f->target, bad, &loaded);
        assert_true(st == PYAGENT_ERR_BAD_PACKET || st == PYAGENT_ERR_MISMATCH);
        assert_null(loaded);
        assert_true(strlen(pyagent_engine_last_error(f->target)) > 0);
        n_checked++;
    }
    for (size_t cut = 0; cut < size; cut += cut < 112 ? 1 : 4099) {
        fp = fopen(bad, "wb");
        fwrite(bytes, 1, cut, fp);
        fclose(fp);
        assert_int_equal(pyagent_adapter_load(f->draft, f->target, bad, &loaded),
                         PYAGENT_ERR_BAD_PACKET);
    }
    assert_true(n_checked > 150);
    assert_int_equal(pyagent_adapter_load(f->draft, f->target, "/nonexistent/a.pyad", &loaded),
                     PYAGENT_ERR_IO);
    free(bytes);
    unlink(bad);
    unlink(path);
}

/* -log p(tokens[from..n) | what the agent was fed before), one token at a time, in nats. */
static double suffix_nll(pyagent_agent *a, const int32_t *ids, size_t from, size_t n,
                         size_t n_vocab) {
    float *l = malloc(n_vocab * sizeof *l);
    double nll = 0;
    for (size_t i = from; i < n; i++) {
        size_t got = 0;
        assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
        assert_int_equal(pyagent_agent_logits(a, l, n_vocab, &got), PYAGENT_OK);
        double max = l[0], sum = 0;
        for (size_t t = 1; t < n_vocab; t++) max = l[t] > max ? l[t] : max;
        for (size_t t = 0; t < n_vocab; t++) sum += exp(l[t] - max);
        nll += -(l[ids[i]] - max - log(sum));
        assert_int_equal(pyagent_agent_feed_tokens(a, ids + i, 1), PYAGENT_OK);
    }
    free(l);
    return nll / (double)(n - from);
}

/* The use: the draft reads a prefix, its hidden states go through the adapter into a target
 * agent, which then predicts the suffix. The translated prefix must carry what the text said:
 * the target's suffix loss given it is below its loss with no prefix at all, and below its loss
 * given as many mean rows (the same positions, no content). */
static void translated_prefix_helps_the_target_predict_the_suffix(void **state) {
    pair_fixture *f = *state;
    const size_t n_vocab = info(f->target, "n_vocab");
    size_t n = 0;
    pyagent_engine_tokenize(f->draft, eval_text, -1, 0, NULL, 0, &n);
    int32_t *ids = malloc(n * sizeof *ids);
    assert_int_equal(pyagent_engine_tokenize(f->draft, eval_text, -1, 0, ids, n, &n), PYAGENT_OK);
    assert_true(n > 256);
    n = 256;
    const size_t n_prefix = 128, first = 1; /* the first token goes in as itself */

    /* the draft reads the prefix; its hidden state after token i, mapped, stands for token i */
    pyagent_agent *reader = test_greedy_agent(f->draft);
    float h[128], *rows = malloc(n_prefix * 384 * sizeof *rows), *mean = calloc(384, sizeof *mean);
    for (size_t i = 0; i < n_prefix; i++) {
        size_t got = 0;
        assert_int_equal(pyagent_agent_feed_tokens(reader, ids + i, 1), PYAGENT_OK);
        assert_int_equal(pyagent_agent_prefill(reader), PYAGENT_OK);
        assert_int_equal(pyagent_agent_hidden(reader, h, 128, &got), PYAGENT_OK);
        assert_int_equal(pyagent_adapter_apply(f->adapter, h, 1, rows + i * 384, 384), PYAGENT_OK);
        for (int j = 0; j < 384; j++) mean[j] += rows[i * 384 + j] / (float)n_prefix;
    }
    pyagent_agent *own = test_greedy_agent(f->target), *adapted = test_greedy_agent(f->target),
                  *blind = test_greedy_agent(f->target);
    assert_int_equal(pyagent_agent_feed_tokens(own, ids, n_prefix), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(adapted, ids, first), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_embeddings(adapted, rows + first * 384, n_prefix - first, 384),
                     PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(blind, ids, first), PYAGENT_OK);
    for (size_t i = first; i < n_prefix; i++)
        assert_int_equal(pyagent_agent_feed_embeddings(blind, mean, 1, 384), PYAGENT_OK);
    pyagent_agent *none = test_greedy_agent(f->target); /* the suffix after the first token */
    assert_int_equal(pyagent_agent_feed_tokens(none, ids, first), PYAGENT_OK);
    const double nll_none = suffix_nll(none, ids, n_prefix, n, n_vocab);
    const double nll_own = suffix_nll(own, ids, n_prefix, n, n_vocab);
    const double nll_adapted = suffix_nll(adapted, ids, n_prefix, n, n_vocab);
    const double nll_blind = suffix_nll(blind, ids, n_prefix, n, n_vocab);
    printf("# target suffix loss (%zu tokens) after a %zu-token prefix: own tokens %.3f, "
           "adapted draft states %.3f, mean rows %.3f, no prefix %.3f nats/token\n",
           n - n_prefix, n_prefix, nll_own, nll_adapted, nll_blind, nll_none);
    assert_true(nll_adapted < nll_none);
    assert_true(nll_adapted < nll_blind);
    assert_true(nll_own < nll_none);
    free(rows), free(mean), free(ids);
    pyagent_agent_destroy(reader), pyagent_agent_destroy(own);
    pyagent_agent_destroy(adapted), pyagent_agent_destroy(blind), pyagent_agent_destroy(none);
}

/* Models with different vocabularies, too little text, bad numbers: refused with a message. */
static void fit_refuses_what_it_cannot_fit(void **state) {
    pair_fixture *f = *state;
    pyagent_engine *stories = test_open_engine(stories_path, NULL, 0);
    pyagent_adapter *a = NULL;
    assert_int_equal(pyagent_adapter_fit(stories, f->target, fit_text, -1, 1, 0.2, &a),
                     PYAGENT_ERR_MISMATCH);
    assert_null(a);
    assert_non_null(strstr(pyagent_engine_last_error(f->target), "vocabularies"));
    assert_int_equal(pyagent_adapter_fit(f->draft, f->target, "def f(x):\n    return x\n", -1,
                                         1, 0.2, &a),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(pyagent_engine_last_error(f->target), "pairs"));
    assert_int_equal(pyagent_adapter_fit(f->draft, f->target, fit_text, -1, -1, 0.2, &a),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_adapter_fit(f->draft, f->target, fit_text, -1, NAN, 0.2, &a),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_adapter_fit(f->draft, f->target, fit_text, -1, 1, 0.95, &a),
                     PYAGENT_ERR_OUT_OF_RANGE);
    pyagent_engine_destroy(stories);
}

int main(void) {
    test_data_path(stories_path, sizeof stories_path, "stories260K.gguf");
    test_model_path(tied_path, sizeof tied_path, "tiny-tied-f32.gguf");
    test_data_path(draft_path, sizeof draft_path, "pycode-draft-1M-f16.gguf");
    test_data_path(target_path, sizeof target_path, "pycode-target-16M-f16.gguf");
    fit_text = read_text("../../bindings/python/pyagent/agent.py");
    eval_text = read_text("../../bindings/python/pyagent/engine.py");
    const struct CMUnitTest rows[] = {
        cmocka_unit_test(token_rows_fed_as_embeddings_equal_the_tokens),
        cmocka_unit_test(mixed_sequences_and_rewinds_keep_the_right_rows),
        cmocka_unit_test(hidden_state_gives_the_logits_through_the_tied_embeddings),
        cmocka_unit_test(bad_rows_and_token_id_features_are_refused_clearly),
    };
    const struct CMUnitTest adapters[] = {
        cmocka_unit_test(fit_explains_held_out_embeddings),
        cmocka_unit_test(save_load_round_trip_and_damaged_files),
        cmocka_unit_test(translated_prefix_helps_the_target_predict_the_suffix),
        cmocka_unit_test(fit_refuses_what_it_cannot_fit),
    };
    int failed = cmocka_run_group_tests(rows, NULL, NULL);
    failed += cmocka_run_group_tests(adapters, setup_pair, teardown_pair);
    free(fit_text), free(eval_text);
    return failed;
}
