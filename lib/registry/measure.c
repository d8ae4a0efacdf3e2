/*
 * What the registry learns from the engine itself: re-measuring a local model (load time,
 * prompt-processing and generation speed, time to first token, the context that works) and
 * counting a prompt's tokens with a local model's tokenizer.
 *
 * Only the public engine and agent API is used, so a measurement sees what a host would see.
 * The engine runs without the registry lock held; only the recording takes it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/params.h"
#include "../core/utf8.h"
#include "registry_internal.h"

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------------------------------------
 * Measuring
 * ------------------------------------------------------------------------------------------- */

/* English text whose tokens, repeated, make the measurement prompts. */
static const char probe_text[] =
    "Once upon a time, in a small town by the sea, there lived a girl who loved to read. Every "
    "morning she walked to the library, chose a new book, and sat by the window until the sun "
    "went down. ";

typedef struct measurement {
    double load_ms, prefill_tps, tps, ttft_ms;
    int64_t n_ctx, n_params, usable_context; /* usable_context 0: not measured */
    char hardware[160];
} measurement;

typedef struct first_token {
    double start, at; /* at: 0 until the first token arrives */
} first_token;

static void on_token(void *user_data, int32_t token, const char *text, size_t len) {
    (void)token, (void)text, (void)len;
    first_token *ft = user_data;
    if (ft->at == 0) ft->at = seconds_now();
}

/* The CPU's model name and the engine's thread count, for the "hardware" value. */
static void describe_hardware(int64_t n_threads, char *out, size_t size) {
    char cpu[128] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) != 0) continue;
            const char *colon = strchr(line, ':');
            if (!colon) break;
            colon += strspn(colon + 1, " \t") + 1;
            snprintf(cpu, sizeof cpu, "%.*s", (int)strcspn(colon, "\n"), colon);
            break;
        }
        fclose(f);
    }
    snprintf(out, size, "%s, %lld threads", cpu, (long long)n_threads);
}

/* Queues `n` probe tokens (the probe text's ids, repeated) on `agent`. */
static pyagent_status feed_probe(pyagent_agent *agent, const int32_t *ids, size_t n_ids,
                                 int64_t n) {
    int32_t chunk[256];
    for (int64_t done = 0; done < n;) {
        size_t k = 0;
        for (; k < sizeof chunk / sizeof chunk[0] && done + (int64_t)k < n; k++)
            chunk[k] = ids[(size_t)(done + (int64_t)k) % n_ids];
        pyagent_status st = pyagent_agent_feed_tokens(agent, chunk, k);
        if (st) return st;
        done += (int64_t)k;
    }
    return PYAGENT_OK;
}

static pyagent_status run_measurement(const pyagent_registry *reg, const char *path,
                                      const pyagent_params *params, measurement *m,
                                      pa_err *err) {
    double t0 = seconds_now();
    pyagent_engine *engine = NULL;
    pyagent_status st = pyagent_engine_open(path, params, &engine);
    if (st) {
        pa_fail(err, st, "%.400s", pyagent_engine_last_error(engine));
        pyagent_engine_destroy(engine);
        return st;
    }
    m->load_ms = (seconds_now() - t0) * 1000;
    int64_t n_threads = 0;
    pyagent_engine_info(engine, "n_ctx", &m->n_ctx);
    pyagent_engine_info(engine, "n_params", &m->n_params);
    pyagent_engine_info(engine, "n_threads", &n_threads);
    describe_hardware(n_threads, m->hardware, sizeof m->hardware);

    int32_t ids[256];
    size_t n_ids = 0;
    pyagent_params *greedy = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_agent *agent = NULL;
    st = greedy ? pyagent_params_set_f64(greedy, "temperature", 0) : PYAGENT_ERR_OUT_OF_MEMORY;
    if (!st) {
        st = pyagent_engine_tokenize(engine, probe_text, -1, 0, ids, sizeof ids / sizeof ids[0],
                                     &n_ids);
        if (!st && n_ids == 0) st = PYAGENT_ERR_BAD_MODEL;
    }
    if (!st) st = pyagent_agent_create(engine, greedy, &agent);
    if (st) {
        pa_fail(err, st, "%.200s: cannot set up the measurement: %s", path,
                pyagent_engine_last_error(engine));
        goto done;
    }

    /* Prompt processing, first token, generation: one prompt of half the context at most. */
    int64_t prompt = reg->measure_prompt_tokens < m->n_ctx / 2 ? reg->measure_prompt_tokens
                                                                : m->n_ctx / 2;
    int64_t gen = reg->measure_gen_tokens;
    if (prompt + gen > m->n_ctx - 1) gen = m->n_ctx - 1 - prompt;
    if (prompt < 1 || gen < 1) {
        st = pa_fail(err, PYAGENT_ERR_UNSUPPORTED, "%.200s: context of %lld tokens is too short "
                     "to measure", path, (long long)m->n_ctx);
        goto done;
    }
    first_token ft = {seconds_now(), 0};
    int32_t finish = 0;
    st = feed_probe(agent, ids, n_ids, prompt);
    if (!st) {
        ft.start = seconds_now();
        st = pyagent_agent_generate(agent, (int32_t)gen, on_token, &ft, &finish);
    }
    pyagent_agent_stats stats = {.struct_size = sizeof stats};
    /* A model may end its text before `gen` tokens: let it go on, for a steady figure. */
    while (!st && finish == PYAGENT_FINISH_EOS &&
           !(st = pyagent_agent_stats_get(agent, &stats)) && stats.n_generated_tokens < gen)
        st = pyagent_agent_generate(agent, (int32_t)(gen - stats.n_generated_tokens), NULL, NULL,
                                    &finish);
    if (!st) st = pyagent_agent_stats_get(agent, &stats);
    if (st) {
        pa_fail(err, st, "%.200s: generation failed: %s", path, pyagent_agent_last_error(agent));
        goto done;
    }
    m->ttft_ms = ft.at > 0 ? (ft.at - ft.start) * 1000 : NAN;
    m->prefill_tps = stats.prefill_seconds > 0 ? (double)stats.n_prompt_tokens /
                                                     stats.prefill_seconds
                                               : NAN;
    m->tps = stats.decode_seconds > 0 ? (double)stats.n_generated_tokens / stats.decode_seconds
                                      : NAN;

    /* The whole context, once: proves that the limit the engine states actually works. */
    if (reg->measure_context) {
        st = pyagent_agent_reset(agent);
        if (!st) st = feed_probe(agent, ids, n_ids, m->n_ctx - 1);
        if (!st) st = pyagent_agent_generate(agent, 1, NULL, NULL, &finish);
        if (st) {
            pa_fail(err, st, "%.200s: a full context of %lld tokens failed: %s", path,
                    (long long)m->n_ctx, pyagent_agent_last_error(agent));
            goto done;
        }
        m->usable_context = m->n_ctx;
    }
done:
    pyagent_agent_destroy(agent);
    pyagent_params_destroy(greedy);
    pyagent_engine_destroy(engine);
    return st;
}

pyagent_status pyagent_registry_measure(pyagent_registry *registry, const char *model,
                                        const pyagent_params *params) {
    if (!registry) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = pa_params_check_kind(params, PYAGENT_PARAMS_ENGINE, &err);
    if (!st && !registry->db)
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "the registry did not open");
    if (st) return pa_reg_finish(registry, st, &err);
    int64_t id;
    bool is_local = false;
    char *path = NULL;
    pthread_mutex_lock(&registry->lock);
    st = pa_reg_find_model(registry, model, &id, &is_local, &path, &err);
    pthread_mutex_unlock(&registry->lock);
    if (!st && !is_local)
        st = pa_fail(&err, PYAGENT_ERR_UNSUPPORTED,
                     "'%.200s' is a remote model: re-import its provider's data to check it",
                     model);
    if (st) {
        free(path);
        return pa_reg_finish(registry, st, &err);
    }

    char source[64];
    snprintf(source, sizeof source, "pyagent %s measure", pyagent_version_string());
    measurement m = {0};
    st = run_measurement(registry, path, params, &m, &err);
    free(path);
    int64_t now = pa_reg_now();
    const int32_t what = PYAGENT_CHECK_CAPABILITIES | PYAGENT_CHECK_MEASUREMENTS;
    pthread_mutex_lock(&registry->lock);
    if (st) {
        pa_err record_err = {0};
        pa_reg_record_failure(registry, model, what, source, now, err.msg, &record_err);
    } else {
        double context = (double)(m.usable_context ? m.usable_context : m.n_ctx);
        pa_fact facts[24];
        size_t n = 0;
        facts[n++] = (pa_fact){"context_tokens", context, NULL};
        facts[n++] = (pa_fact){"max_output_tokens", context, NULL};
        facts[n++] = (pa_fact){"n_params", (double)m.n_params, NULL};
        facts[n++] = (pa_fact){"mode", 0, "completion"};
        facts[n++] = (pa_fact){"input_modalities", 0, "text"};
        facts[n++] = (pa_fact){"output_modalities", 0, "text"};
        /* what the engine does not offer (yet), so routing does not wait for a value */
        static const char *const absent[] = {"tools", "parallel_tools", "json_mode", "vision",
                                             "audio_input", "audio_output", "reasoning"};
        for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
            facts[n++] = (pa_fact){absent[i], 0, NULL};
        facts[n++] = (pa_fact){"load_ms", round(m.load_ms * 1000) / 1000, NULL};
        if (isfinite(m.prefill_tps))
            facts[n++] = (pa_fact){"prefill_tokens_per_second", m.prefill_tps, NULL};
        if (isfinite(m.tps)) facts[n++] = (pa_fact){"tokens_per_second", m.tps, NULL};
        if (isfinite(m.ttft_ms)) facts[n++] = (pa_fact){"ttft_ms", m.ttft_ms, NULL};
        if (m.usable_context)
            facts[n++] = (pa_fact){"usable_context_tokens", (double)m.usable_context, NULL};
        if (m.hardware[0]) facts[n++] = (pa_fact){"hardware", 0, m.hardware};
        st = pa_reg_record(registry, model, facts, n, source, now, 1.0, what, &err);
    }
    pthread_mutex_unlock(&registry->lock);
    return pa_reg_finish(registry, st, &err);
}

/* ---------------------------------------------------------------------------------------------
 * Token estimates
 * ------------------------------------------------------------------------------------------- */

/* ASCII bytes / 3.5 (English averages about 4 characters a token; rounding toward more
 * tokens keeps routing on the safe side) plus one token per other character. */
static int64_t heuristic_tokens(const char *text, size_t len) {
    int64_t ascii = 0, other = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x80) ascii++;
        else if ((c & 0xC0) != 0x80) other++;
    }
    return (ascii * 2 + 6) / 7 + other;
}

/* Opens `path` for tokenizing only: one thread, a tiny context, no log. */
static pyagent_status open_tokenizer_engine(const char *path, pyagent_engine **engine) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    if (!p) return PYAGENT_ERR_OUT_OF_MEMORY;
    pyagent_params_set_i64(p, "n_threads", 1);
    pyagent_params_set_i64(p, "n_ctx", 16);
    pyagent_params_set_i64(p, "n_batch", 16);
    pyagent_params_set_i64(p, "log_level", PYAGENT_LOG_NONE);
    pyagent_status st = pyagent_engine_open(path, p, engine);
    pyagent_params_destroy(p);
    if (st) {
        pyagent_engine_destroy(*engine);
        *engine = NULL;
    }
    return st;
}

/* The GGUF paths to try, in order: `model`'s if it is local, else every local model's. */
static pyagent_status candidate_paths(pyagent_registry *reg, const char *model, char ***paths,
                                      size_t *n, pa_err *err) {
    *paths = NULL;
    *n = 0;
    if (model) {
        int64_t id;
        bool is_local;
        char *location = NULL;
        pyagent_status st = pa_reg_find_model(reg, model, &id, &is_local, &location, err);
        if (st || !is_local) {
            free(location);
            return st;
        }
        if (!(*paths = malloc(sizeof **paths))) {
            free(location);
            return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
        }
        (*paths)[(*n)++] = location;
        return PYAGENT_OK;
    }
    sqlite3_stmt *stmt;
    pyagent_status st = pa_reg_prepare(reg,
                                       "SELECT location FROM models WHERE provider = 'local' AND "
                                       "removed_at IS NULL ORDER BY name LIMIT 16", &stmt, err);
    if (st) return st;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        char **more = realloc(*paths, (*n + 1) * sizeof **paths);
        const char *loc = (const char *)sqlite3_column_text(stmt, 0);
        if (!more || !(more[*n] = strdup(loc ? loc : ""))) {
            if (more) *paths = more;
            st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        *paths = more;
        (*n)++;
    }
    if (!st && rc != SQLITE_DONE) st = pa_reg_fail_sqlite(reg, rc, "local models", err);
    sqlite3_finalize(stmt);
    return st;
}

pyagent_status pyagent_registry_estimate_tokens(pyagent_registry *registry, const char *model,
                                                const char *text, int64_t text_len,
                                                int64_t *n_tokens, int32_t *method) {
    if (!registry) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = PYAGENT_OK;
    if (!registry->db)
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "the registry did not open");
    else if (!n_tokens || !method || (!text && text_len != 0) || text_len < -1)
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "NULL or negative argument");
    size_t len = !st && text ? (text_len < 0 ? strlen(text) : (size_t)text_len) : 0;
    if (!st && !pa_utf8_valid(text ? text : "", len))
        st = pa_fail(&err, PYAGENT_ERR_INVALID_UTF8, "the text is not valid UTF-8");
    if (st) return pa_reg_finish(registry, st, &err);

    char **paths = NULL;
    size_t n_paths = 0;
    pthread_mutex_lock(&registry->lock);
    st = candidate_paths(registry, model, &paths, &n_paths, &err);
    pthread_mutex_unlock(&registry->lock);
    bool counted = false;
    for (size_t i = 0; !st && !counted && i < n_paths; i++) {
        char *path = paths[i];
        pthread_mutex_lock(&registry->lock);
        bool cached = registry->tok_engine && strcmp(registry->tok_engine_path, path) == 0;
        pthread_mutex_unlock(&registry->lock);
        pyagent_engine *opened = NULL; /* opened without the lock: loading may take a while */
        if (!cached && open_tokenizer_engine(path, &opened)) continue;
        pthread_mutex_lock(&registry->lock);
        if (opened) { /* keep it for the next estimate */
            pyagent_engine_destroy(registry->tok_engine);
            free(registry->tok_engine_path);
            registry->tok_engine = opened;
            registry->tok_engine_path = strdup(path);
            if (!registry->tok_engine_path) {
                pyagent_engine_destroy(registry->tok_engine);
                registry->tok_engine = NULL;
            }
        }
        size_t n = 0;
        if (registry->tok_engine && strcmp(registry->tok_engine_path, path) == 0) {
            pyagent_status tst = pyagent_engine_tokenize(registry->tok_engine, text ? text : "",
                                                         (int64_t)len,
                                                         PYAGENT_TOKENIZE_ADD_SPECIAL, NULL, 0,
                                                         &n);
            counted = tst == PYAGENT_OK || tst == PYAGENT_ERR_BUFFER_TOO_SMALL;
        }
        pthread_mutex_unlock(&registry->lock);
        if (counted) *n_tokens = (int64_t)n;
    }
    for (size_t i = 0; i < n_paths; i++) free(paths[i]);
    free(paths);
    if (st) return pa_reg_finish(registry, st, &err);
    if (counted) {
        *method = PYAGENT_ESTIMATE_TOKENIZER;
    } else {
        *n_tokens = heuristic_tokens(text ? text : "", len);
        *method = PYAGENT_ESTIMATE_HEURISTIC;
    }
    return PYAGENT_OK;
}
