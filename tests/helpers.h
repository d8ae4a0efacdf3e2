/*
 * Set-up shared by the C tests (include after <cmocka.h> and <pyagent/pyagent.h>): engines on
 * two threads, greedy agents, and collecting generated tokens.
 */
#ifndef PA_TESTS_HELPERS_H
#define PA_TESTS_HELPERS_H

#include <stdio.h>
#include <stdlib.h>

/* The path of a file in the test data folder ($PYAGENT_TEST_DATA, else tests/data) or the
 * models folder the build writes ($PYAGENT_TEST_MODELS, else "."). */
static inline void test_data_path(char *out, size_t cap, const char *name) {
    const char *data = getenv("PYAGENT_TEST_DATA");
    snprintf(out, cap, "%s/%s", data ? data : "tests/data", name);
}

static inline void test_model_path(char *out, size_t cap, const char *name) {
    const char *models = getenv("PYAGENT_TEST_MODELS");
    snprintf(out, cap, "%s/%s", models ? models : ".", name);
}

/* An engine on two threads, with the integer engine param `key` (NULL: none) set to value. */
static inline pyagent_engine *test_open_engine(const char *path, const char *key, int64_t value) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    assert_int_equal(pyagent_params_set_i64(p, "n_threads", 2), PYAGENT_OK);
    if (key) assert_int_equal(pyagent_params_set_i64(p, key, value), PYAGENT_OK);
    pyagent_engine *e = NULL;
    pyagent_status st = pyagent_engine_open(path, p, &e);
    if (st) fprintf(stderr, "open %s: %s\n", path, pyagent_engine_last_error(e));
    assert_int_equal(st, PYAGENT_OK);
    pyagent_params_destroy(p);
    return e;
}

static inline pyagent_agent *test_greedy_agent(pyagent_engine *e) {
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    assert_int_equal(pyagent_params_set_f64(s, "temperature", 0), PYAGENT_OK);
    pyagent_agent *a = NULL;
    assert_int_equal(pyagent_agent_create(e, s, &a), PYAGENT_OK);
    pyagent_params_destroy(s);
    return a;
}

typedef struct test_run {
    int32_t ids[512];
    int n;
} test_run;

static inline void test_collect(void *ud, int32_t token, const char *text, size_t len) {
    (void)text, (void)len;
    test_run *r = ud;
    if (r->n < 512) r->ids[r->n++] = token;
}

/* Generates n tokens and returns them. */
static inline test_run test_generate(pyagent_agent *a, int n) {
    test_run r = {.n = 0};
    pyagent_status st = pyagent_agent_generate(a, n, test_collect, &r, NULL);
    if (st) fprintf(stderr, "generate: %s\n", pyagent_agent_last_error(a));
    assert_int_equal(st, PYAGENT_OK);
    return r;
}

#endif
