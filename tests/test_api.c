/*
 * The public API's promises: versions, status strings, params validation, NULL handles, error
 * messages, the two-call buffers, sampling settings, stop strings, limits and statistics.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pyagent/pyagent.h>

static char model_path[1024];

/* ------------------------------------------------------------------------------------------ */
/* Versions and status                                                                         */

static void versions_agree_between_header_and_library(void **state) {
    (void)state;
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", PYAGENT_VERSION_MAJOR, PYAGENT_VERSION_MINOR,
             PYAGENT_VERSION_PATCH);
    assert_string_equal(pyagent_version_string(), expected);
    assert_int_equal(pyagent_version_number(), PYAGENT_VERSION_NUMBER);
    assert_int_equal(pyagent_abi_version(), PYAGENT_ABI_VERSION);
    assert_int_equal(pyagent_check_abi(PYAGENT_ABI_VERSION), PYAGENT_OK);
    assert_int_equal(pyagent_check_abi(PYAGENT_ABI_VERSION + 1), PYAGENT_ERR_ABI_MISMATCH);
}

static void every_status_has_a_distinct_name(void **state) {
    (void)state;
    for (pyagent_status a = PYAGENT_OK; a <= PYAGENT_ERR_BAD_PACKET; a++) {
        assert_string_not_equal(pyagent_status_str(a), "unknown status");
        for (pyagent_status b = PYAGENT_OK; b < a; b++)
            assert_string_not_equal(pyagent_status_str(a), pyagent_status_str(b));
    }
    assert_string_equal(pyagent_status_str(9999), "unknown status");
    assert_string_equal(pyagent_status_str(-1), "unknown status");
}

/* ------------------------------------------------------------------------------------------ */
/* Params                                                                                      */

static void params_reject_unknown_keys_and_name_the_known_ones(void **state) {
    (void)state;
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    assert_non_null(p);
    assert_int_equal(pyagent_params_set_i64(p, "n_thread", 2), PYAGENT_ERR_UNKNOWN_KEY);
    assert_non_null(strstr(pyagent_params_last_error(p), "'n_thread'"));
    assert_non_null(strstr(pyagent_params_last_error(p), "n_threads"));
    assert_int_equal(pyagent_params_set_i64(p, NULL, 2), PYAGENT_ERR_INVALID_ARGUMENT);
    /* sampler keys are not engine keys */
    assert_int_equal(pyagent_params_set_f64(p, "temperature", 0.5), PYAGENT_ERR_UNKNOWN_KEY);
    pyagent_params_destroy(p);
}

static void params_reject_out_of_range_values(void **state) {
    (void)state;
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    assert_int_equal(pyagent_params_set_f64(p, "top_p", 1.5), PYAGENT_ERR_OUT_OF_RANGE);
    assert_non_null(strstr(pyagent_params_last_error(p), "top_p"));
    assert_int_equal(pyagent_params_set_f64(p, "temperature", -0.1), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_params_set_f64(p, "temperature", NAN), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_params_set_i64(p, "top_k", -1), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_params_set_i64(p, "seed", -2), PYAGENT_ERR_OUT_OF_RANGE);
    /* a rejected value leaves the old one in place */
    double v = 0;
    assert_int_equal(pyagent_params_get_f64(p, "top_p", &v), PYAGENT_OK);
    assert_true(fabs(v - 0.95) < 1e-12);
    pyagent_params_destroy(p);
}

static void params_store_values_and_report_bounds(void **state) {
    (void)state;
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    assert_int_equal(pyagent_params_set_i64(p, "top_k", 7), PYAGENT_OK);
    assert_int_equal(pyagent_params_set_i64(p, "temperature", 0), PYAGENT_OK); /* int -> real */
    assert_int_equal(pyagent_params_set_f64(p, "top_k", 7.5), PYAGENT_ERR_INVALID_ARGUMENT);
    int64_t k = 0;
    double t = 1;
    assert_int_equal(pyagent_params_get_i64(p, "top_k", &k), PYAGENT_OK);
    assert_int_equal(k, 7);
    assert_int_equal(pyagent_params_get_f64(p, "temperature", &t), PYAGENT_OK);
    assert_true(t == 0.0);
    double lo, hi;
    assert_int_equal(pyagent_params_bounds(PYAGENT_PARAMS_SAMPLER, "top_p", &lo, &hi), PYAGENT_OK);
    assert_true(lo == 0.0 && hi == 1.0);
    assert_int_equal(pyagent_params_bounds(PYAGENT_PARAMS_ENGINE, "nope", &lo, &hi),
                     PYAGENT_ERR_UNKNOWN_KEY);
    assert_null(pyagent_params_create(42));
    pyagent_params_destroy(p);
}

/* ------------------------------------------------------------------------------------------ */
/* NULL handles and failed opens                                                               */

static void null_handles_are_rejected_not_dereferenced(void **state) {
    (void)state;
    pyagent_engine_destroy(NULL);
    pyagent_agent_destroy(NULL);
    pyagent_params_destroy(NULL);
    pyagent_free(NULL);
    pyagent_agent_cancel(NULL);
    assert_string_equal(pyagent_engine_last_error(NULL), "");
    assert_string_equal(pyagent_agent_last_error(NULL), "");
    assert_string_equal(pyagent_params_last_error(NULL), "");
    assert_int_equal(pyagent_engine_open(model_path, NULL, NULL), PYAGENT_ERR_INVALID_ARGUMENT);
    pyagent_agent *a = (pyagent_agent *)1;
    assert_int_equal(pyagent_agent_create(NULL, NULL, &a), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_null(a);
    size_t n;
    assert_int_equal(pyagent_engine_tokenize(NULL, "x", 1, 0, NULL, 0, &n),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_agent_feed_text(NULL, "x", 1), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_agent_generate(NULL, 1, NULL, NULL, NULL),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_params_set_i64(NULL, "n_ctx", 1), PYAGENT_ERR_INVALID_ARGUMENT);
}

static void opening_a_missing_file_names_it(void **state) {
    (void)state;
    pyagent_engine *e = NULL;
    assert_int_equal(pyagent_engine_open("/nonexistent/model.gguf", NULL, &e), PYAGENT_ERR_IO);
    assert_non_null(e);
    assert_non_null(strstr(pyagent_engine_last_error(e), "/nonexistent/model.gguf"));
    /* a failed engine refuses work instead of crashing */
    pyagent_agent *a = NULL;
    assert_int_not_equal(pyagent_agent_create(e, NULL, &a), PYAGENT_OK);
    assert_null(a);
    pyagent_engine_destroy(e);
}

static void engine_open_rejects_sampler_params(void **state) {
    (void)state;
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_engine *e = NULL;
    assert_int_equal(pyagent_engine_open(model_path, s, &e), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(pyagent_engine_last_error(e), "engine params"));
    pyagent_engine_destroy(e);
    pyagent_params_destroy(s);
}

/* ------------------------------------------------------------------------------------------ */
/* With a model                                                                                */

typedef struct fixture {
    pyagent_engine *engine;
    pyagent_agent *agent;
} fixture;

static int open_small_ctx(void **state, int64_t n_ctx) {
    fixture *fx = calloc(1, sizeof *fx);
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_threads", 1);
    if (n_ctx) pyagent_params_set_i64(p, "n_ctx", n_ctx);
    pyagent_status st = pyagent_engine_open(model_path, p, &fx->engine);
    pyagent_params_destroy(p);
    if (st == PYAGENT_OK) {
        pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
        pyagent_params_set_f64(s, "temperature", 0);
        st = pyagent_agent_create(fx->engine, s, &fx->agent);
        pyagent_params_destroy(s);
    }
    *state = fx;
    return st == PYAGENT_OK ? 0 : -1;
}

static int setup(void **state) { return open_small_ctx(state, 0); }
static int setup_ctx32(void **state) { return open_small_ctx(state, 32); }

static int teardown(void **state) {
    fixture *fx = *state;
    pyagent_agent_destroy(fx->agent);
    pyagent_engine_destroy(fx->engine);
    free(fx);
    return 0;
}

static void engine_info_reports_the_models_shape(void **state) {
    fixture *fx = *state;
    int64_t v = 0;
    assert_int_equal(pyagent_engine_info(fx->engine, "n_vocab", &v), PYAGENT_OK);
    assert_int_equal(v, 512);
    assert_int_equal(pyagent_engine_info(fx->engine, "n_layer", &v), PYAGENT_OK);
    assert_int_equal(v, 5);
    assert_int_equal(pyagent_engine_info(fx->engine, "n_head_kv", &v), PYAGENT_OK);
    assert_int_equal(v, 4);
    assert_int_equal(pyagent_engine_info(fx->engine, "n_ctx", &v), PYAGENT_OK);
    assert_int_equal(v, 512); /* the file says 128; the default is at least 512 */
    assert_int_equal(pyagent_engine_info(fx->engine, "token_bos", &v), PYAGENT_OK);
    assert_int_equal(v, 1);
    assert_int_equal(pyagent_engine_info(fx->engine, "n_params", &v), PYAGENT_OK);
    assert_true(v > 200000 && v < 350000);
    assert_int_equal(pyagent_engine_info(fx->engine, "bogus", &v), PYAGENT_ERR_UNKNOWN_KEY);
    assert_non_null(strstr(pyagent_engine_last_error(fx->engine), "bogus"));
}

static void tokenize_uses_the_two_call_pattern(void **state) {
    fixture *fx = *state;
    size_t n = 0;
    assert_int_equal(pyagent_engine_tokenize(fx->engine, "Once upon a time", -1,
                                             PYAGENT_TOKENIZE_ADD_SPECIAL, NULL, 0, &n),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 5);
    int32_t ids[5];
    assert_int_equal(pyagent_engine_tokenize(fx->engine, "Once upon a time", -1,
                                             PYAGENT_TOKENIZE_ADD_SPECIAL, ids, 5, &n),
                     PYAGENT_OK);
    assert_int_equal(ids[0], 1);
    char text[64];
    size_t len = 0;
    assert_int_equal(pyagent_engine_detokenize(fx->engine, ids, 5, 0, text, 3, &len),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(len, strlen(" Once upon a time"));
    assert_int_equal(pyagent_engine_detokenize(fx->engine, ids, 5,
                                               PYAGENT_DETOKENIZE_STRIP_LEADING_SPACE, text,
                                               sizeof text, &len),
                     PYAGENT_OK);
    assert_int_equal(len, strlen("Once upon a time"));
    assert_memory_equal(text, "Once upon a time", len);
}

static void invalid_utf8_is_rejected_with_a_status(void **state) {
    fixture *fx = *state;
    size_t n;
    int32_t ids[16];
    assert_int_equal(pyagent_engine_tokenize(fx->engine, "ab\xff", 3, 0, ids, 16, &n),
                     PYAGENT_ERR_INVALID_UTF8);
    assert_int_equal(pyagent_agent_feed_text(fx->agent, "\xc3\x28", 2), PYAGENT_ERR_INVALID_UTF8);
    assert_true(strlen(pyagent_agent_last_error(fx->agent)) > 0);
    size_t count = 99;
    assert_int_equal(pyagent_agent_tokens(fx->agent, NULL, 0, &count), PYAGENT_OK);
    assert_int_equal(count, 0); /* nothing was queued */
}

static void invalid_token_ids_are_rejected(void **state) {
    fixture *fx = *state;
    int32_t bad[] = {1, 600};
    assert_int_equal(pyagent_agent_feed_tokens(fx->agent, bad, 2), PYAGENT_ERR_INVALID_TOKEN);
    assert_non_null(strstr(pyagent_agent_last_error(fx->agent), "600"));
    char text[8];
    size_t len;
    assert_int_equal(pyagent_engine_detokenize(fx->engine, bad, 2, 0, text, 8, &len),
                     PYAGENT_ERR_INVALID_TOKEN);
    int32_t neg = -1;
    assert_int_equal(pyagent_agent_feed_tokens(fx->agent, &neg, 1), PYAGENT_ERR_INVALID_TOKEN);
}

static void generate_without_input_says_why(void **state) {
    fixture *fx = *state;
    assert_int_equal(pyagent_agent_generate(fx->agent, 4, NULL, NULL, NULL),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(pyagent_agent_last_error(fx->agent), "feed"));
    float logits[512];
    size_t n;
    assert_int_equal(pyagent_agent_logits(fx->agent, logits, 512, &n),
                     PYAGENT_ERR_INVALID_ARGUMENT);
}

typedef struct stream {
    char text[8192];
    size_t len;
    int n_tokens;
} stream;

static void on_token(void *ud, int32_t token, const char *text, size_t len) {
    (void)token;
    stream *s = ud;
    s->n_tokens++;
    if (s->len + len < sizeof s->text) {
        memcpy(s->text + s->len, text, len);
        s->len += len;
    }
}

static void generate_ids(pyagent_agent *a, const char *prompt, int n, stream *out) {
    memset(out, 0, sizeof *out);
    assert_int_equal(pyagent_agent_feed_text(a, prompt, -1), PYAGENT_OK);
    assert_int_equal(pyagent_agent_generate(a, n, on_token, out, NULL), PYAGENT_OK);
}

static void stop_string_ends_generation_and_is_not_streamed(void **state) {
    fixture *fx = *state;
    stream full, stopped;
    generate_ids(fx->agent, "Once upon a time", 64, &full);
    full.text[full.len] = '\0';
    const char *at = strstr(full.text, "Lily");
    assert_non_null(at);

    assert_int_equal(pyagent_agent_reset(fx->agent), PYAGENT_OK);
    assert_int_equal(pyagent_agent_add_stop(fx->agent, "Lily", -1), PYAGENT_OK);
    memset(&stopped, 0, sizeof stopped);
    assert_int_equal(pyagent_agent_feed_text(fx->agent, "Once upon a time", -1), PYAGENT_OK);
    int32_t finish = 0;
    assert_int_equal(pyagent_agent_generate(fx->agent, 64, on_token, &stopped, &finish),
                     PYAGENT_OK);
    assert_int_equal(finish, PYAGENT_FINISH_STOP);
    /* everything before the stop string, nothing of it or after it */
    assert_int_equal(stopped.len, (size_t)(at - full.text));
    assert_memory_equal(stopped.text, full.text, stopped.len);
    assert_true(stopped.n_tokens < 64);
}

static void stop_strings_are_validated(void **state) {
    fixture *fx = *state;
    assert_int_equal(pyagent_agent_add_stop(fx->agent, "", 0), PYAGENT_ERR_OUT_OF_RANGE);
    char big[300];
    memset(big, 'a', sizeof big);
    assert_int_equal(pyagent_agent_add_stop(fx->agent, big, sizeof big), PYAGENT_ERR_OUT_OF_RANGE);
    for (int i = 0; i < 16; i++) assert_int_equal(pyagent_agent_add_stop(fx->agent, "x", 1), 0);
    assert_int_equal(pyagent_agent_add_stop(fx->agent, "x", 1), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_agent_clear_stops(fx->agent), PYAGENT_OK);
    assert_int_equal(pyagent_agent_add_stop(fx->agent, "x", 1), PYAGENT_OK);
}

static void sampling_with_a_seed_reproduces_and_seeds_differ(void **state) {
    fixture *fx = *state;
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 1.5);
    pyagent_params_set_i64(s, "top_k", 0);
    pyagent_params_set_f64(s, "top_p", 1.0);
    pyagent_params_set_f64(s, "min_p", 0.0);
    stream runs[3];
    for (int r = 0; r < 3; r++) {
        pyagent_params_set_i64(s, "seed", r < 2 ? 42 : 43);
        assert_int_equal(pyagent_agent_set_sampler(fx->agent, s), PYAGENT_OK);
        assert_int_equal(pyagent_agent_reset(fx->agent), PYAGENT_OK);
        generate_ids(fx->agent, "Once upon a time", 48, &runs[r]);
    }
    assert_int_equal(runs[0].len, runs[1].len);
    assert_memory_equal(runs[0].text, runs[1].text, runs[0].len);
    assert_true(runs[0].len != runs[2].len ||
                memcmp(runs[0].text, runs[2].text, runs[0].len) != 0);
    pyagent_params_destroy(s);
}

/* Decode steps hand a sampler only the candidates it draws from (engine param top_candidates,
 * default 1): the tokens are those drawn from whole logit rows (top_candidates 0), seed for
 * seed, greedy and sampling, over two requests in a row; top_k 0 and a repeat penalty take the
 * whole row either way. A generate on a full context still leaves the prompt's logits. */
static void best_candidates_draw_what_whole_rows_draw(void **state) {
    fixture *fx = *state;
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_threads", 1);
    pyagent_params_set_i64(p, "top_candidates", 0);
    pyagent_engine *whole = NULL;
    assert_int_equal(pyagent_engine_open(model_path, p, &whole), PYAGENT_OK);
    pyagent_params_destroy(p);
    static const struct { double temperature; int top_k; double repeat_penalty; } configs[] = {
        {0, 40, 1.0}, {0.8, 40, 1.0}, {1.5, 64, 1.0}, {1.0, 3, 1.0}, {1.0, 0, 1.0}, {0.8, 40, 1.3}};
    for (size_t c = 0; c < sizeof configs / sizeof *configs; c++) {
        pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
        pyagent_params_set_f64(s, "temperature", configs[c].temperature);
        pyagent_params_set_i64(s, "top_k", configs[c].top_k);
        pyagent_params_set_f64(s, "repeat_penalty", configs[c].repeat_penalty);
        pyagent_params_set_i64(s, "seed", 42 + (int64_t)c);
        pyagent_agent *a = NULL, *b = NULL;
        assert_int_equal(pyagent_agent_create(fx->engine, s, &a), PYAGENT_OK);
        assert_int_equal(pyagent_agent_create(whole, s, &b), PYAGENT_OK);
        pyagent_params_destroy(s);
        stream got[2], want[2];
        generate_ids(a, "Once upon a time", 40, &got[0]);
        generate_ids(b, "Once upon a time", 40, &want[0]);
        generate_ids(a, " Then", 24, &got[1]);
        generate_ids(b, " Then", 24, &want[1]);
        for (int r = 0; r < 2; r++) {
            assert_int_equal(got[r].n_tokens, want[r].n_tokens);
            if (got[r].len != want[r].len || memcmp(got[r].text, want[r].text, got[r].len) != 0)
                fail_msg("config %zu, request %d: the candidates drew other tokens", c, r);
        }
        pyagent_agent_destroy(a);
        pyagent_agent_destroy(b);
    }
    pyagent_engine_destroy(whole);
}

/* A generate on a context already full ends at once and leaves the logits of its last token */
static void generate_on_a_full_context_keeps_the_logits(void **state) {
    fixture *fx = *state;
    int32_t ids[32];
    for (int i = 0; i < 32; i++) ids[i] = 300 + i;
    assert_int_equal(pyagent_agent_feed_tokens(fx->agent, ids, 32), PYAGENT_OK);
    int32_t finish = 0;
    stream out;
    memset(&out, 0, sizeof out);
    assert_int_equal(pyagent_agent_generate(fx->agent, 8, on_token, &out, &finish), PYAGENT_OK);
    assert_int_equal(finish, PYAGENT_FINISH_CONTEXT);
    assert_int_equal(out.n_tokens, 0);
    float logits[512];
    size_t n = 0;
    assert_int_equal(pyagent_agent_logits(fx->agent, logits, 512, &n), PYAGENT_OK);
    assert_int_equal(n, 512);
}

static void top_k_1_is_greedy(void **state) {
    fixture *fx = *state;
    stream greedy, topk;
    generate_ids(fx->agent, "Once upon a time", 32, &greedy);
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 1.0);
    pyagent_params_set_i64(s, "top_k", 1);
    assert_int_equal(pyagent_agent_set_sampler(fx->agent, s), PYAGENT_OK);
    pyagent_params_destroy(s);
    assert_int_equal(pyagent_agent_reset(fx->agent), PYAGENT_OK);
    generate_ids(fx->agent, "Once upon a time", 32, &topk);
    assert_int_equal(greedy.len, topk.len);
    assert_memory_equal(greedy.text, topk.text, greedy.len);
}

static void repeat_penalty_changes_greedy_output(void **state) {
    fixture *fx = *state;
    stream plain, penalized;
    generate_ids(fx->agent, "Once upon a time", 64, &plain);
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 0);
    pyagent_params_set_f64(s, "repeat_penalty", 1.5);
    assert_int_equal(pyagent_agent_set_sampler(fx->agent, s), PYAGENT_OK);
    pyagent_params_destroy(s);
    assert_int_equal(pyagent_agent_reset(fx->agent), PYAGENT_OK);
    generate_ids(fx->agent, "Once upon a time", 64, &penalized);
    assert_true(plain.len != penalized.len ||
                memcmp(plain.text, penalized.text, plain.len) != 0);
}

static void generation_stops_at_n_ctx(void **state) {
    fixture *fx = *state;
    stream out;
    int32_t finish = 0;
    memset(&out, 0, sizeof out);
    assert_int_equal(pyagent_agent_feed_text(fx->agent, "Once upon a time", -1), PYAGENT_OK);
    assert_int_equal(pyagent_agent_generate(fx->agent, 100, on_token, &out, &finish), PYAGENT_OK);
    assert_int_equal(finish, PYAGENT_FINISH_CONTEXT);
    assert_int_equal(out.n_tokens, 32 - 5);
    size_t n;
    assert_int_equal(pyagent_agent_tokens(fx->agent, NULL, 0, &n), PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 32);
    int32_t more = 5;
    assert_int_equal(pyagent_agent_feed_tokens(fx->agent, &more, 1), PYAGENT_ERR_CONTEXT_FULL);
}

static void feeding_more_than_n_ctx_queues_nothing(void **state) {
    fixture *fx = *state;
    int32_t ids[40];
    for (int i = 0; i < 40; i++) ids[i] = 300 + i;
    assert_int_equal(pyagent_agent_feed_tokens(fx->agent, ids, 40), PYAGENT_ERR_CONTEXT_FULL);
    assert_non_null(strstr(pyagent_agent_last_error(fx->agent), "n_ctx"));
    size_t n = 1;
    assert_int_equal(pyagent_agent_tokens(fx->agent, NULL, 0, &n), PYAGENT_OK);
    assert_int_equal(n, 0);
}

typedef struct cancel_ctx {
    pyagent_agent *agent;
    int seen;
} cancel_ctx;

static void cancel_after_three(void *ud, int32_t token, const char *text, size_t len) {
    (void)token, (void)text, (void)len;
    cancel_ctx *c = ud;
    if (++c->seen == 3) pyagent_agent_cancel(c->agent);
}

static void cancel_finishes_after_the_current_token(void **state) {
    fixture *fx = *state;
    cancel_ctx c = {fx->agent, 0};
    int32_t finish = 0;
    assert_int_equal(pyagent_agent_feed_text(fx->agent, "Once", -1), PYAGENT_OK);
    assert_int_equal(pyagent_agent_generate(fx->agent, 50, cancel_after_three, &c, &finish),
                     PYAGENT_OK);
    assert_int_equal(finish, PYAGENT_FINISH_CANCELLED);
    assert_int_equal(c.seen, 4);
    /* and the agent continues afterwards */
    c.seen = 100;
    assert_int_equal(pyagent_agent_generate(fx->agent, 5, cancel_after_three, &c, &finish),
                     PYAGENT_OK);
    assert_int_equal(finish, PYAGENT_FINISH_LENGTH);
}

/* A cancel that comes as a request ends (from its last on_token, as a server does when the
 * client has gone) is spent on that request; one made between requests stops the next. */
static void cancel_names_the_running_request_or_the_next(void **state) {
    fixture *fx = *state;
    cancel_ctx c = {fx->agent, 0};
    int32_t finish = 0;
    assert_int_equal(pyagent_agent_feed_text(fx->agent, "Once", -1), PYAGENT_OK);
    assert_int_equal(pyagent_agent_generate(fx->agent, 3, cancel_after_three, &c, &finish),
                     PYAGENT_OK);
    assert_int_equal(finish, PYAGENT_FINISH_LENGTH); /* the third token was its last anyway */
    stream out = {0};
    assert_int_equal(pyagent_agent_generate(fx->agent, 5, on_token, &out, &finish), PYAGENT_OK);
    assert_int_equal(finish, PYAGENT_FINISH_LENGTH);
    assert_int_equal(out.n_tokens, 5);
    pyagent_agent_cancel(fx->agent); /* between requests: the next one stops at its first */
    out.n_tokens = 0;
    assert_int_equal(pyagent_agent_generate(fx->agent, 5, on_token, &out, &finish), PYAGENT_OK);
    assert_int_equal(finish, PYAGENT_FINISH_CANCELLED);
    assert_int_equal(out.n_tokens, 1);
    out.n_tokens = 0;
    assert_int_equal(pyagent_agent_generate(fx->agent, 5, on_token, &out, &finish), PYAGENT_OK);
    assert_int_equal(out.n_tokens, 5);
}

/* Threads that fail on one engine at once each read their own failure's message, whole. */
typedef struct failing_thread {
    pyagent_engine *engine;
    bool bad_utf8; /* else a bad token id */
    int n_wrong;
} failing_thread;

static void *fail_and_read(void *arg) {
    failing_thread *f = arg;
    const int32_t bad_ids[] = {1, 600};
    int32_t ids[4];
    char text[8];
    size_t n;
    for (int i = 0; i < 2000; i++) {
        pyagent_status st =
            f->bad_utf8 ? pyagent_engine_tokenize(f->engine, "ab\xff", 3, 0, ids, 4, &n)
                        : pyagent_engine_detokenize(f->engine, bad_ids, 2, 0, text, 8, &n);
        const char *msg = pyagent_engine_last_error(f->engine);
        const bool own = f->bad_utf8 ? strstr(msg, "UTF-8") != NULL : strstr(msg, "600") != NULL;
        if (st == PYAGENT_OK || !own) f->n_wrong++;
    }
    return NULL;
}

static void each_thread_reads_its_own_engine_error(void **state) {
    fixture *fx = *state;
    failing_thread f[4];
    pthread_t threads[4];
    for (int t = 0; t < 4; t++) {
        f[t] = (failing_thread){fx->engine, t % 2 == 0, 0};
        assert_int_equal(pthread_create(&threads[t], NULL, fail_and_read, &f[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(f[t].n_wrong, 0);
    }
    /* a thread without a failure of its own reads the engine's last one, whichever it was */
    const char *last = pyagent_engine_last_error(fx->engine);
    assert_true(strstr(last, "UTF-8") || strstr(last, "600"));
}

static void stats_count_tokens_and_respect_struct_size(void **state) {
    fixture *fx = *state;
    stream out;
    generate_ids(fx->agent, "Once upon a time", 10, &out);
    pyagent_agent_stats st = {.struct_size = sizeof st};
    assert_int_equal(pyagent_agent_stats_get(fx->agent, &st), PYAGENT_OK);
    assert_int_equal(st.n_prompt_tokens, 5);
    assert_int_equal(st.n_generated_tokens, 10);
    assert_true(st.prefill_seconds > 0 && st.decode_seconds > 0);
    /* an older, smaller struct gets only its fields */
    struct {
        pyagent_agent_stats s;
        int64_t canary;
    } old = {.s = {.struct_size = offsetof(pyagent_agent_stats, n_generated_tokens)},
             .canary = 0x1234};
    old.s.n_generated_tokens = -7;
    assert_int_equal(pyagent_agent_stats_get(fx->agent, &old.s), PYAGENT_OK);
    assert_int_equal(old.s.n_prompt_tokens, 5);
    assert_int_equal(old.s.n_generated_tokens, -7);
    pyagent_agent_stats tiny = {.struct_size = 4};
    assert_int_equal(pyagent_agent_stats_get(fx->agent, &tiny), PYAGENT_ERR_INVALID_ARGUMENT);
}

typedef struct log_capture {
    int n;
    char last[256];
} log_capture;

static void capture_log(void *ud, int32_t level, const char *msg) {
    log_capture *c = ud;
    (void)level;
    c->n++;
    snprintf(c->last, sizeof c->last, "%s", msg);
}

static void log_callback_receives_engine_lines(void **state) {
    (void)state;
    log_capture cap = {0};
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "log_level", PYAGENT_LOG_NONE);
    pyagent_engine *e = NULL;
    assert_int_equal(pyagent_engine_open(model_path, p, &e), PYAGENT_OK);
    pyagent_params_destroy(p);
    assert_int_equal(pyagent_engine_set_log(e, PYAGENT_LOG_DEBUG, capture_log, &cap), PYAGENT_OK);
    int64_t v;
    assert_int_equal(pyagent_engine_info(e, "nope", &v), PYAGENT_ERR_UNKNOWN_KEY);
    assert_true(cap.n >= 1);
    assert_non_null(strstr(cap.last, "nope"));
    assert_int_equal(pyagent_engine_set_log(e, 9, NULL, NULL), PYAGENT_ERR_OUT_OF_RANGE);
    pyagent_engine_destroy(e);
}

/* Many host threads each drive their own agent of one engine: same greedy output as alone. */
typedef struct worker {
    pyagent_engine *engine;
    stream out;
    pyagent_status status;
} worker;

static void *run_worker(void *arg) {
    worker *w = arg;
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 0);
    pyagent_agent *a = NULL;
    w->status = pyagent_agent_create(w->engine, s, &a);
    pyagent_params_destroy(s);
    if (!w->status) w->status = pyagent_agent_feed_text(a, "Once upon a time", -1);
    if (!w->status) w->status = pyagent_agent_generate(a, 40, on_token, &w->out, NULL);
    pyagent_agent_destroy(a);
    return NULL;
}

static void agents_on_many_threads_match_one_alone(void **state) {
    fixture *fx = *state;
    stream alone;
    generate_ids(fx->agent, "Once upon a time", 40, &alone);
    worker workers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        memset(&workers[i], 0, sizeof workers[i]);
        workers[i].engine = fx->engine;
        pthread_create(&threads[i], NULL, run_worker, &workers[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(workers[i].status, PYAGENT_OK);
        assert_int_equal(workers[i].out.len, alone.len);
        assert_memory_equal(workers[i].out.text, alone.text, alone.len);
    }
}

int main(void) {
    const char *dir = getenv("PYAGENT_TEST_DATA");
    snprintf(model_path, sizeof model_path, "%s/stories260K.gguf", dir ? dir : "tests/data");
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(versions_agree_between_header_and_library),
        cmocka_unit_test(every_status_has_a_distinct_name),
        cmocka_unit_test(params_reject_unknown_keys_and_name_the_known_ones),
        cmocka_unit_test(params_reject_out_of_range_values),
        cmocka_unit_test(params_store_values_and_report_bounds),
        cmocka_unit_test(null_handles_are_rejected_not_dereferenced),
        cmocka_unit_test(opening_a_missing_file_names_it),
        cmocka_unit_test(engine_open_rejects_sampler_params),
        cmocka_unit_test(log_callback_receives_engine_lines),
        T(engine_info_reports_the_models_shape),
        T(tokenize_uses_the_two_call_pattern),
        T(invalid_utf8_is_rejected_with_a_status),
        T(invalid_token_ids_are_rejected),
        T(generate_without_input_says_why),
        T(stop_string_ends_generation_and_is_not_streamed),
        T(stop_strings_are_validated),
        T(sampling_with_a_seed_reproduces_and_seeds_differ),
        T(best_candidates_draw_what_whole_rows_draw),
        T(top_k_1_is_greedy),
        T(repeat_penalty_changes_greedy_output),
        T(cancel_finishes_after_the_current_token),
        T(cancel_names_the_running_request_or_the_next),
        T(each_thread_reads_its_own_engine_error),
        T(stats_count_tokens_and_respect_struct_size),
        T(agents_on_many_threads_match_one_alone),
        cmocka_unit_test_setup_teardown(generation_stops_at_n_ctx, setup_ctx32, teardown),
        cmocka_unit_test_setup_teardown(generate_on_a_full_context_keeps_the_logits, setup_ctx32,
                                        teardown),
        cmocka_unit_test_setup_teardown(feeding_more_than_n_ctx_queues_nothing, setup_ctx32,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
