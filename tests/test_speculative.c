/*
 * Speculative decoding is lossless: under temperature 0 it gives plain greedy decoding's tokens
 * one for one (for every tree builder, token limits falling inside an accepted run, EOS inside
 * one), and when sampling, the next token follows the sampler's distribution exactly
 * (chi-square goodness of fit at a fixed state).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pyagent/pyagent.h>

#define MAX_TOKENS 400

static char stories_path[1024], random_path[1024];

/* Text that the model continues as it was told before: prompt lookup drafts well on it. */
static const char *story = "Once upon a time, there was a little girl named Lily. She loved to "
                           "play outside in the park. One day, she saw a big, red ball. ";

static pyagent_engine *open_engine(const char *path) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_threads", 2);
    pyagent_params_set_i64(p, "n_ctx", 512);
    pyagent_engine *e = NULL;
    pyagent_status st = pyagent_engine_open(path, p, &e);
    pyagent_params_destroy(p);
    if (st) fprintf(stderr, "%s\n", pyagent_engine_last_error(e));
    assert_int_equal(st, PYAGENT_OK);
    return e;
}

static pyagent_agent *agent_with(pyagent_engine *e, int64_t spec, int64_t tree, double temp,
                                 int64_t seed) {
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", temp);
    pyagent_params_set_i64(s, "top_k", 0);
    pyagent_params_set_f64(s, "top_p", 1.0);
    pyagent_params_set_f64(s, "min_p", 0.0);
    pyagent_params_set_i64(s, "seed", seed);
    pyagent_params_set_i64(s, "spec", spec);
    pyagent_params_set_i64(s, "spec_tree", tree);
    pyagent_agent *a = NULL;
    assert_int_equal(pyagent_agent_create(e, s, &a), PYAGENT_OK);
    pyagent_params_destroy(s);
    return a;
}

typedef struct run {
    int32_t ids[MAX_TOKENS];
    int n;
    int32_t finish;
} run;

static void collect(void *ud, int32_t token, const char *text, size_t len) {
    (void)text, (void)len;
    run *r = ud;
    if (r->n < MAX_TOKENS) r->ids[r->n++] = token;
}

static run generate(pyagent_agent *a, const int32_t *prompt, size_t n_prompt, int n_gen) {
    run r = {.n = 0};
    assert_int_equal(pyagent_agent_reset(a), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(a, prompt, n_prompt), PYAGENT_OK);
    assert_int_equal(pyagent_agent_generate(a, n_gen, collect, &r, &r.finish), PYAGENT_OK);
    return r;
}

/* Prompts that repeat themselves, so that prompt lookup finds drafts, and random ones. */
static size_t make_prompt(int i, int32_t *out, int32_t n_vocab) {
    unsigned seed = 1000u + (unsigned)i;
    size_t n = 0;
    const size_t period = 3 + (size_t)(i % 7), reps = 2 + (size_t)(i % 3);
    int32_t unit[16];
    for (size_t j = 0; j < period; j++) unit[j] = 3 + (int32_t)(rand_r(&seed) % (unsigned)(n_vocab - 3));
    out[n++] = 1; /* BOS */
    for (size_t r = 0; r < reps; r++)
        for (size_t j = 0; j < period; j++) out[n++] = unit[j];
    if (i % 4 == 3) /* and some without a repeat at the end */
        for (int j = 0; j < 5; j++) out[n++] = 3 + (int32_t)(rand_r(&seed) % (unsigned)(n_vocab - 3));
    return n;
}

/* Prompt i: the story told once, then again cut short (stories260K continues it). */
static size_t story_prompt(pyagent_engine *e, int i, int32_t *out, size_t cap) {
    char text[1024];
    snprintf(text, sizeof text, "%s%.*s", story, 5 + (i * 7) % 110, story);
    size_t n = 0;
    assert_int_equal(pyagent_engine_tokenize(e, text, -1, PYAGENT_TOKENIZE_ADD_SPECIAL, out, cap,
                                             &n),
                     PYAGENT_OK);
    return n;
}

static void greedy_equals_plain(const char *path, bool text_prompts, int n_prompts,
                                int *n_eos_runs) {
    pyagent_engine *e = open_engine(path);
    int64_t n_vocab = 0;
    pyagent_engine_info(e, "n_vocab", &n_vocab);
    pyagent_agent *plain = agent_with(e, PYAGENT_SPEC_OFF, 0, 0, 1);
    const int64_t trees[] = {PYAGENT_SPEC_TREE_STATIC, PYAGENT_SPEC_TREE_EAGLE2,
                             PYAGENT_SPEC_TREE_TALON};
    pyagent_agent *spec[3];
    for (int t = 0; t < 3; t++) spec[t] = agent_with(e, PYAGENT_SPEC_LOOKUP, trees[t], 0, 1);
    int64_t accepted = 0, drafted = 0;
    for (int i = 0; i < n_prompts; i++) {
        int32_t prompt[256];
        size_t n_prompt = text_prompts ? story_prompt(e, i, prompt, 256)
                                       : make_prompt(i, prompt, (int32_t)n_vocab);
        const int n_gen = 1 + (i * 37) % 120; /* limits land anywhere in accepted runs */
        run want = generate(plain, prompt, n_prompt, n_gen);
        for (int t = 0; t < 3; t++) {
            run got = generate(spec[t], prompt, n_prompt, n_gen);
            if (got.n != want.n || memcmp(got.ids, want.ids, (size_t)want.n * 4) != 0 ||
                got.finish != want.finish) {
                fprintf(stderr, "prompt %d, tree %d: %d vs %d tokens, finish %d vs %d\n", i, t,
                        got.n, want.n, got.finish, want.finish);
                fail();
            }
            if (t == 2 && got.finish == PYAGENT_FINISH_EOS) (*n_eos_runs)++;
        }
    }
    for (int t = 0; t < 3; t++) {
        pyagent_agent_stats st = {.struct_size = sizeof st};
        pyagent_agent_stats_get(spec[t], &st);
        accepted += st.n_accepted_tokens;
        drafted += st.n_drafted_tokens;
        pyagent_agent_destroy(spec[t]);
    }
    printf("# %s: %d prompts x 3 trees equal to plain greedy; %lld of %lld drafted tokens "
           "accepted\n",
           path, n_prompts, (long long)accepted, (long long)drafted);
    assert_true(accepted > 0); /* the drafts were really used */
    pyagent_agent_destroy(plain);
    pyagent_engine_destroy(e);
}

static void speculative_greedy_equals_plain_greedy_stories(void **state) {
    (void)state;
    int n_eos = 0;
    greedy_equals_plain(stories_path, true, 60, &n_eos);
}

static void speculative_greedy_equals_plain_greedy_random_model(void **state) {
    (void)state;
    int n_eos = 0;
    greedy_equals_plain(random_path, false, 60, &n_eos);
    printf("# runs that ended on EOS: %d\n", n_eos);
}

/* A copy of stories260K whose EOS is `eos` (a token that greedy decoding produces), so that
 * generation ends inside runs that the lookup drafter proposes. */
static void write_model_with_eos(const char *to, uint32_t eos) {
    FILE *f = fopen(stories_path, "rb");
    assert_non_null(f);
    static unsigned char bytes[2 << 20];
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    const char *key = "tokenizer.ggml.eos_token_id";
    unsigned char *at = NULL;
    for (size_t i = 0; i + strlen(key) < n && !at; i++)
        if (memcmp(bytes + i, key, strlen(key)) == 0) at = bytes + i + strlen(key);
    assert_non_null(at);
    uint32_t type;
    memcpy(&type, at, 4);
    assert_int_equal(type, 4); /* u32, then the value */
    memcpy(at + 4, &eos, 4);
    f = fopen(to, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

static void eos_inside_an_accepted_run(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path);
    pyagent_agent *plain = agent_with(e, PYAGENT_SPEC_OFF, 0, 0, 1);
    assert_int_equal(pyagent_agent_feed_text(plain, story, -1), PYAGENT_OK);
    run first = {.n = 0};
    assert_int_equal(pyagent_agent_generate(plain, 12, collect, &first, NULL), PYAGENT_OK);
    pyagent_agent_destroy(plain);
    pyagent_engine_destroy(e);

    char path[] = "/tmp/pyagent-eos-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_model_with_eos(path, (uint32_t)first.ids[6]);
    e = open_engine(path);
    plain = agent_with(e, PYAGENT_SPEC_OFF, 0, 0, 1);
    pyagent_agent *spec = agent_with(e, PYAGENT_SPEC_LOOKUP, PYAGENT_SPEC_TREE_TALON, 0, 1);
    int n_eos = 0;
    for (int cut = 0; cut < 30; cut++) { /* the story twice, the second time cut short */
        char text[1024];
        snprintf(text, sizeof text, "%s%.*s", story, 10 + cut * 3, story);
        run want = {.n = 0}, got = {.n = 0};
        pyagent_agent *agents[2] = {plain, spec};
        run *runs[2] = {&want, &got};
        for (int k = 0; k < 2; k++) {
            assert_int_equal(pyagent_agent_reset(agents[k]), PYAGENT_OK);
            assert_int_equal(pyagent_agent_feed_text(agents[k], text, -1), PYAGENT_OK);
            assert_int_equal(pyagent_agent_generate(agents[k], 40, collect, runs[k],
                                                    &runs[k]->finish),
                             PYAGENT_OK);
        }
        assert_int_equal(got.n, want.n);
        assert_memory_equal(got.ids, want.ids, (size_t)want.n * 4);
        assert_int_equal(got.finish, want.finish);
        if (want.finish == PYAGENT_FINISH_EOS && want.n > 1) n_eos++;
    }
    pyagent_agent_stats st = {.struct_size = sizeof st};
    pyagent_agent_stats_get(spec, &st);
    printf("# %d of 30 runs ended on EOS after more than one token; %lld draft tokens "
           "accepted\n", n_eos, (long long)st.n_accepted_tokens);
    assert_true(n_eos > 0);
    assert_true(st.n_accepted_tokens > 0);
    pyagent_agent_destroy(plain);
    pyagent_agent_destroy(spec);
    pyagent_engine_destroy(e);
    remove(path);
}

/* Wilson-Hilferty approximation of the chi-square quantile. */
static double chi2_quantile(double df, double z) {
    const double a = 2.0 / (9.0 * df);
    const double t = 1.0 - a + z * sqrt(a);
    return df * t * t * t;
}

/* At a fixed state (a repetitive prompt whose last token is pending, so that the lookup
 * drafter proposes children), 10,000 speculative draws of the next token at temperature 1
 * follow the sampler's exact distribution. The test's false-failure rate is 0.1 % (the
 * 99.9th percentile of chi-square, z = 3.09); seeds are fixed, so it either always passes or
 * always fails. */
static void speculative_sampling_matches_the_target_distribution(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path);
    /* the story, then its start again: the next token is likely the story's, which the
     * lookup drafter proposes; the last token stays pending so that it is the tree's root */
    int32_t prompt[256];
    size_t n_prompt = 0;
    char text[512];
    snprintf(text, sizeof text, "%sOnce upon a time, there was a little girl", story);
    assert_int_equal(pyagent_engine_tokenize(e, text, -1, PYAGENT_TOKENIZE_ADD_SPECIAL, prompt,
                                             256, &n_prompt),
                     PYAGENT_OK);
    /* the exact distribution: logits after the prompt, softmax at temperature 1 */
    pyagent_agent *probe = agent_with(e, PYAGENT_SPEC_OFF, 0, 1.0, 1);
    float logits[512];
    size_t n_logits;
    assert_int_equal(pyagent_agent_feed_tokens(probe, prompt, n_prompt), PYAGENT_OK);
    assert_int_equal(pyagent_agent_prefill(probe), PYAGENT_OK);
    assert_int_equal(pyagent_agent_logits(probe, logits, 512, &n_logits), PYAGENT_OK);
    double p[512], max = -INFINITY, sum = 0;
    for (int i = 0; i < 512; i++) max = fmax(max, logits[i]);
    for (int i = 0; i < 512; i++) sum += p[i] = exp(logits[i] - max);
    for (int i = 0; i < 512; i++) p[i] /= sum;
    pyagent_agent_destroy(probe);

    enum { DRAWS = 10000 };
    static int counts[512];
    memset(counts, 0, sizeof counts);
    int64_t accepted = 0;
    pyagent_agent *a = agent_with(e, PYAGENT_SPEC_LOOKUP, PYAGENT_SPEC_TREE_TALON, 1.0, 7);
    assert_int_equal(pyagent_agent_feed_tokens(a, prompt, n_prompt - 1), PYAGENT_OK);
    assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
    assert_int_equal(pyagent_agent_feed_tokens(a, &prompt[n_prompt - 1], 1), PYAGENT_OK);
    for (int d = 0; d < DRAWS; d++) { /* one token from the fixed state, then back to it */
        run r = {.n = 0};
        assert_int_equal(pyagent_agent_generate(a, 1, collect, &r, NULL), PYAGENT_OK);
        assert_int_equal(r.n, 1);
        counts[r.ids[0]]++;
        assert_int_equal(pyagent_agent_rewind(a, 1), PYAGENT_OK); /* the root is queued again */
    }
    pyagent_agent_stats st = {.struct_size = sizeof st};
    pyagent_agent_stats_get(a, &st);
    accepted = st.n_accepted_tokens;
    pyagent_agent_destroy(a);
    /* bins with an expected count of at least 5; the rest pooled */
    double chi2 = 0, pooled_p = 0;
    int pooled_n = 0, bins = 0;
    for (int i = 0; i < 512; i++) {
        double expected = DRAWS * p[i];
        if (expected >= 5) {
            chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
            bins++;
        } else {
            pooled_p += p[i];
            pooled_n += counts[i];
        }
    }
    if (DRAWS * pooled_p >= 5) {
        chi2 += (pooled_n - DRAWS * pooled_p) * (pooled_n - DRAWS * pooled_p) / (DRAWS * pooled_p);
        bins++;
    }
    const double limit = chi2_quantile(bins - 1, 3.09);
    printf("# chi-square %.1f over %d bins (99.9%% limit %.1f); drafts accepted in %lld of %d "
           "draws\n",
           chi2, bins, limit, (long long)accepted, DRAWS);
    assert_true(accepted > DRAWS / 20); /* the drafted children really were taken */
    assert_true(chi2 < limit);
    pyagent_engine_destroy(e);
}

/* A host's own draft: the plain continuation is accepted whole, a wrong one changes nothing. */
static void host_drafts_are_verified_losslessly(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path);
    pyagent_agent *plain = agent_with(e, PYAGENT_SPEC_OFF, 0, 0, 1);
    int32_t prompt[256];
    size_t n_prompt = story_prompt(e, 3, prompt, 256);
    run want = generate(plain, prompt, n_prompt, 9);
    for (int wrong = 0; wrong < 2; wrong++) {
        pyagent_spec_tree *tree = NULL;
        assert_int_equal(pyagent_spec_tree_create(64, &tree), PYAGENT_OK);
        int32_t parent = -1;
        for (int i = 1; i < 9; i++) /* a chain: the plain tokens 2..9 (or wrong ones) */
            assert_int_equal(pyagent_spec_tree_add(tree, parent, wrong ? 300 + i : want.ids[i],
                                                   0.0f, &parent),
                             PYAGENT_OK);
        pyagent_agent *a = agent_with(e, PYAGENT_SPEC_OFF, 0, 0, 1);
        run got = {.n = 0};
        assert_int_equal(pyagent_agent_feed_tokens(a, prompt, n_prompt), PYAGENT_OK);
        assert_int_equal(pyagent_agent_generate(a, 1, collect, &got, NULL), PYAGENT_OK);
        assert_int_equal(pyagent_agent_draft(a, tree), PYAGENT_OK);
        assert_int_equal(pyagent_agent_generate(a, 8, collect, &got, &got.finish), PYAGENT_OK);
        assert_int_equal(got.n, want.n);
        assert_memory_equal(got.ids, want.ids, (size_t)want.n * 4);
        pyagent_agent_stats st = {.struct_size = sizeof st};
        pyagent_agent_stats_get(a, &st);
        assert_int_equal(st.n_verify_steps, 1);
        assert_int_equal(st.n_accepted_tokens, wrong ? 0 : 8); /* the limit ends it */
        pyagent_agent_destroy(a);
        pyagent_spec_tree_destroy(tree);
    }
    pyagent_agent_destroy(plain);
    pyagent_engine_destroy(e);
}

static void draft_model_must_be_loaded_and_share_the_vocabulary(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path);
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_i64(s, "spec", PYAGENT_SPEC_DRAFT);
    pyagent_agent *a = NULL;
    assert_int_equal(pyagent_agent_create(e, s, &a), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(pyagent_engine_last_error(e), "pyagent_engine_load_draft"));
    /* the random model has 512 tokens too, but other ones */
    assert_int_equal(pyagent_engine_load_draft(e, random_path), PYAGENT_ERR_UNSUPPORTED);
    assert_non_null(strstr(pyagent_engine_last_error(e), "vocabular"));
    assert_int_equal(pyagent_engine_load_draft(e, "/nonexistent.gguf"), PYAGENT_ERR_IO);
    assert_int_equal(pyagent_engine_load_draft(e, stories_path), PYAGENT_OK);
    assert_int_equal(pyagent_agent_create(e, s, &a), PYAGENT_OK);
    pyagent_agent_destroy(a);
    pyagent_params_destroy(s);
    pyagent_engine_destroy(e);
}

/* Twelve story prompts with token limits from 5 to 64, generated by `spec` and by `plain`:
 * the same tokens and finish reason each time; `spec`'s statistics summed over them (it is
 * reset for each). */
static pyagent_agent_stats twelve_stories_as_plain(pyagent_engine *e, pyagent_agent *plain,
                                                   pyagent_agent *spec) {
    pyagent_agent_stats sum = {.struct_size = sizeof sum};
    for (int i = 0; i < 12; i++) {
        int32_t prompt[256];
        const size_t n_prompt = story_prompt(e, i, prompt, 256);
        const int n_gen = 5 + (i * 13) % 60;
        run want = generate(plain, prompt, n_prompt, n_gen);
        run got = generate(spec, prompt, n_prompt, n_gen);
        assert_int_equal(got.n, want.n);
        assert_memory_equal(got.ids, want.ids, (size_t)want.n * 4);
        assert_int_equal(got.finish, want.finish);
        pyagent_agent_stats st = {.struct_size = sizeof st};
        pyagent_agent_stats_get(spec, &st);
        sum.n_accepted_tokens += st.n_accepted_tokens;
        sum.n_drafted_tokens += st.n_drafted_tokens;
        sum.n_verify_steps += st.n_verify_steps;
        sum.n_generated_tokens += st.n_generated_tokens;
    }
    return sum;
}

/* The model drafters (the target's first layers; a draft model, here stories260K drafting for
 * itself) give plain greedy's tokens too. */
static void model_drafters_keep_greedy_output(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path);
    assert_int_equal(pyagent_engine_load_draft(e, stories_path), PYAGENT_OK);
    pyagent_agent *plain = agent_with(e, PYAGENT_SPEC_OFF, 0, 0, 1);
    const int64_t drafters[] = {PYAGENT_SPEC_SELF, PYAGENT_SPEC_DRAFT};
    const int64_t trees[] = {PYAGENT_SPEC_TREE_EAGLE2, PYAGENT_SPEC_TREE_TALON};
    for (int d = 0; d < 2; d++)
        for (int t = 0; t < 2; t++) {
            pyagent_agent *spec = agent_with(e, drafters[d], trees[t], 0, 1);
            const pyagent_agent_stats sum = twelve_stories_as_plain(e, plain, spec);
            const int64_t accepted = sum.n_accepted_tokens, drafted = sum.n_drafted_tokens,
                          steps = sum.n_verify_steps;
            printf("# drafter %lld, tree %lld: %lld of %lld drafted accepted in %lld verify "
                   "steps\n",
                   (long long)drafters[d], (long long)trees[t], (long long)accepted,
                   (long long)drafted, (long long)steps);
            assert_true(accepted > 0);
            /* The same model drafting: its argmax is the target's, so each step accepts the
             * whole greedy path through the tree (6 deep by default) unless the token limit
             * cuts it; the drafter's K/V of accepted nodes, kept from the tree, must be right
             * for that (misplaced rows gave 2.6 per step). */
            if (drafters[d] == PYAGENT_SPEC_DRAFT) assert_true(accepted >= 4 * steps);
            pyagent_agent_destroy(spec);
        }
    pyagent_agent_destroy(plain);
    pyagent_engine_destroy(e);
}

/* spec_min_p: chains that stop where the drafter is unsure, and steps with no draft at all
 * (its first token below the floor), give plain greedy's tokens too. */
static void drafts_under_a_probability_floor_keep_greedy_output(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path);
    pyagent_agent *plain = agent_with(e, PYAGENT_SPEC_OFF, 0, 0, 1);
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 0);
    pyagent_params_set_i64(s, "spec", PYAGENT_SPEC_SELF);
    pyagent_params_set_i64(s, "spec_top_k", 1);
    pyagent_params_set_i64(s, "spec_depth", 8);
    assert_int_equal(pyagent_params_set_f64(s, "spec_min_p", 0.5), PYAGENT_OK);
    pyagent_agent *spec = NULL;
    assert_int_equal(pyagent_agent_create(e, s, &spec), PYAGENT_OK);
    pyagent_params_destroy(s);
    const pyagent_agent_stats sum = twelve_stories_as_plain(e, plain, spec);
    const int64_t accepted = sum.n_accepted_tokens, steps = sum.n_verify_steps,
                  generated = sum.n_generated_tokens;
    /* each generation's first token comes from its prompt's logits; the others from a verify
     * step or, where nothing passed the floor, a plain step */
    const int64_t plain_steps = generated - 12 - steps - accepted;
    printf("# spec_min_p 0.5: %lld accepted in %lld verify steps, %lld plain steps\n",
           (long long)accepted, (long long)steps, (long long)plain_steps);
    assert_true(accepted > 0 && plain_steps > 0);
    pyagent_agent_destroy(spec);
    pyagent_agent_destroy(plain);
    pyagent_engine_destroy(e);
}

int main(void) {
    const char *data = getenv("PYAGENT_TEST_DATA"), *models = getenv("PYAGENT_TEST_MODELS");
    snprintf(stories_path, sizeof stories_path, "%s/stories260K.gguf", data ? data : "tests/data");
    snprintf(random_path, sizeof random_path, "%s/tiny-f32.gguf", models ? models : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(speculative_greedy_equals_plain_greedy_stories),
        cmocka_unit_test(speculative_greedy_equals_plain_greedy_random_model),
        cmocka_unit_test(eos_inside_an_accepted_run),
        cmocka_unit_test(speculative_sampling_matches_the_target_distribution),
        cmocka_unit_test(host_drafts_are_verified_losslessly),
        cmocka_unit_test(draft_model_must_be_loaded_and_share_the_vocabulary),
        cmocka_unit_test(model_drafters_keep_greedy_output),
        cmocka_unit_test(drafts_under_a_probability_floor_keep_greedy_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
