/*
 * Import of LiteLLM's model_prices_and_context_window.json shape, and export in the same shape.
 *
 * The document is parsed whole by jansson (numbers as doubles, so a 20-digit integer is a
 * range error of one entry rather than a parse error of the file). Each entry is then turned
 * into a plan: the model's identity and a list of values, every one checked against the key
 * table before anything is written. A bad entry becomes one line of the report; the good ones
 * are written in a single transaction, so an import is stored entirely or (on a database error)
 * not at all.
 *
 * LiteLLM's units are USD per token; the registry's are per 1,000,000 tokens. A missing price
 * is recorded as nothing (unknown), never as 0. Capability flags that an entry does not list
 * are left unrecorded too, so routing treats them as unknown.
 *
 * An exported entry carries, beside the LiteLLM fields, a "pyagent" object with every current
 * value and its provenance; importing such an entry restores those values instead of reading
 * the LiteLLM fields, so export -> import keeps sources, times and confidences.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry_internal.h"

#define MAX_IMPORT_BYTES ((size_t)256 << 20)
#define MAX_FACTS 48

/* ---------------------------------------------------------------------------------------------
 * A growing string (the report)
 * ------------------------------------------------------------------------------------------- */

typedef struct strbuf {
    char *data;
    size_t len, cap;
    bool failed; /* out of memory at some point */
} strbuf;

static void __attribute__((format(printf, 2, 3))) sb_printf(strbuf *sb, const char *fmt, ...) {
    if (sb->failed) return;
    for (;;) {
        size_t room = sb->cap - sb->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(sb->data ? sb->data + sb->len : NULL, sb->data ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            sb->failed = true;
            return;
        }
        if (sb->data && (size_t)n < room) {
            sb->len += (size_t)n;
            return;
        }
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap - sb->len <= (size_t)n) cap *= 2;
        char *p = realloc(sb->data, cap);
        if (!p) {
            sb->failed = true;
            return;
        }
        sb->data = p;
        sb->cap = cap;
    }
}

/* `s` quoted for a report line: control bytes as \xNN, cut after 80 bytes. */
static void quote_key(const char *s, char *out, size_t size) {
    size_t o = 0, i = 0;
    for (; s[i] && i < 80 && o + 5 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    if (s[i] && o + 4 < size) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* ---------------------------------------------------------------------------------------------
 * Plans: what one entry will write
 * ------------------------------------------------------------------------------------------- */

typedef struct plan_fact {
    const char *key; /* a key of the table, or a string owned by the JSON document */
    double num;
    const char *text; /* NULL for a number; owned by the document or by plan.text_storage */
    const char *source;
    int64_t measured_at;
    double confidence;
} plan_fact;

typedef struct plan {
    const char *name, *provider, *location, *remote_id;
    plan_fact facts[MAX_FACTS];
    size_t n_facts;
    char modalities[2][64]; /* input, output, built from flags */
    int32_t checks;         /* PYAGENT_CHECK_* bits the entry itself counts as: a LiteLLM entry
                               checks capabilities and prices, whichever fields it has */
    int64_t checked_at[3];  /* restored: last check of capabilities, prices, measurements */
} plan;

typedef struct import_ctx {
    const char *source;
    int64_t measured_at;
    double confidence;
    pa_err entry_err; /* why the current entry is bad */
} import_ctx;

static pyagent_status bad(import_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static pyagent_status bad(import_ctx *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->entry_err.msg, sizeof ctx->entry_err.msg, fmt, ap);
    va_end(ap);
    ctx->entry_err.status = PYAGENT_ERR_INVALID_ARGUMENT;
    return PYAGENT_ERR_INVALID_ARGUMENT;
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* Adds a checked value to the plan. */
static pyagent_status plan_add(plan *p, import_ctx *ctx, const char *key, double num,
                               const char *text, const char *source, int64_t measured_at,
                               double confidence) {
    pa_key_info info;
    pa_err err = {0};
    pyagent_status st = pa_key_lookup(key, &info, &err);
    if (!st) {
        if (text && info.type != PA_KEY_TEXT)
            st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "%.80s: expected a number", key);
        else if (!text && info.type == PA_KEY_TEXT)
            st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "%.80s: expected a string", key);
        else if (text)
            st = pa_key_check_text(key, text, strlen(text), &err);
        else
            st = pa_key_check_number(&info, key, num, &err);
    }
    if (!st && p->n_facts == MAX_FACTS)
        st = pa_fail(&err, PYAGENT_ERR_OUT_OF_RANGE, "more than %d values", MAX_FACTS);
    if (st) return bad(ctx, "%s", err.msg);
    p->facts[p->n_facts++] = (plan_fact){key, num, text, source, measured_at, confidence};
    return PYAGENT_OK;
}

/* Reads optional number `field`: *present false when absent or null. */
static pyagent_status get_number(import_ctx *ctx, const json_t *obj, const char *field,
                                 double *value, bool *present) {
    const json_t *v = json_object_get(obj, field);
    *present = v && !json_is_null(v);
    if (!*present) return PYAGENT_OK;
    if (!json_is_number(v)) return bad(ctx, "%s: expected a number, got %s", field, type_name(v));
    *value = json_number_value(v);
    return PYAGENT_OK;
}

/* Reads optional boolean `field` as 0/1 into the plan as `key`. */
static pyagent_status get_flag(plan *p, import_ctx *ctx, const json_t *obj, const char *field,
                               const char *key, int *flag) {
    const json_t *v = json_object_get(obj, field);
    *flag = -1;
    if (!v || json_is_null(v)) return PYAGENT_OK;
    if (!json_is_boolean(v))
        return bad(ctx, "%s: expected true or false, got %s", field, type_name(v));
    *flag = json_is_true(v);
    if (!key) return PYAGENT_OK;
    return plan_add(p, ctx, key, *flag, NULL, ctx->source, ctx->measured_at, ctx->confidence);
}

static pyagent_status get_string(import_ctx *ctx, const json_t *obj, const char *field,
                                 const char **value) {
    const json_t *v = json_object_get(obj, field);
    *value = NULL;
    if (!v || json_is_null(v)) return PYAGENT_OK;
    if (!json_is_string(v)) return bad(ctx, "%s: expected a string, got %s", field, type_name(v));
    if (json_string_length(v) != strlen(json_string_value(v)))
        return bad(ctx, "%s: holds a NUL character", field);
    *value = json_string_value(v);
    return PYAGENT_OK;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD" -> Unix seconds at 00:00 UTC; false when malformed. */
static bool parse_date(const char *s, int64_t *t) {
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m == 2 && d == 29 && !leap) return false;
    *t = days_from_civil(y, m, d) * 86400;
    return true;
}

/* Comma-joins an array of modality strings into `out`. */
static pyagent_status join_modalities(import_ctx *ctx, const json_t *arr, const char *field,
                                      char *out, size_t size) {
    if (!json_is_array(arr)) return bad(ctx, "%s: expected an array, got %s", field,
                                        type_name(arr));
    size_t used = 0, i;
    const json_t *v;
    out[0] = '\0';
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v))
            return bad(ctx, "%s[%zu]: expected a string, got %s", field, i, type_name(v));
        const char *s = json_string_value(v);
        size_t n = strlen(s);
        if (n == 0 || used + n + 2 > size || strpbrk(s, ","))
            return bad(ctx, "%s[%zu]: not a short modality name", field, i);
        used += (size_t)snprintf(out + used, size - used, "%s%s", used ? "," : "", s);
    }
    return PYAGENT_OK;
}

static const struct {
    const char *field, *key;
} litellm_flags[] = {
    {"supports_function_calling", "tools"},
    {"supports_parallel_function_calling", "parallel_tools"},
    {"supports_response_schema", "json_mode"},
    {"supports_vision", "vision"},
    {"supports_audio_input", "audio_input"},
    {"supports_audio_output", "audio_output"},
    {"supports_reasoning", "reasoning"},
    {"supports_prompt_caching", "prompt_caching"},
    {"supports_system_messages", "system_role"},
};

static const struct {
    const char *field, *key;
} litellm_prices[] = {
    {"input_cost_per_token", "price_input"},
    {"output_cost_per_token", "price_output"},
    {"cache_read_input_token_cost", "price_cached_input"},
};

/* Reads the LiteLLM fields of entry `obj`. */
static pyagent_status plan_litellm(plan *p, import_ctx *ctx, const json_t *obj) {
    const char *src = ctx->source;
    int64_t at = ctx->measured_at;
    double conf = ctx->confidence;
    pyagent_status st;
    if ((st = get_string(ctx, obj, "litellm_provider", &p->provider))) return st;
    if (!p->provider) return bad(ctx, "litellm_provider: missing");
    pa_err err = {0};
    if (pa_check_name("litellm_provider", p->provider, false, &err))
        return bad(ctx, "%s", err.msg);
    p->checks = PYAGENT_CHECK_CAPABILITIES | PYAGENT_CHECK_PRICES;
    if (strcmp(p->provider, "local") == 0) /* a local model is known by its file */
        return bad(ctx, "litellm_provider 'local' needs a \"pyagent\" object with the GGUF path");
    /* "openai/gpt-4o" is model "gpt-4o" at provider "openai" */
    size_t plen = strlen(p->provider);
    if (strncmp(p->name, p->provider, plen) == 0 && p->name[plen] == '/' && p->name[plen + 1])
        p->remote_id = p->name + plen + 1;

    const char *mode;
    if ((st = get_string(ctx, obj, "mode", &mode))) return st;
    if (mode && (st = plan_add(p, ctx, "mode", 0, mode, src, at, conf))) return st;

    double v;
    bool present;
    if ((st = get_number(ctx, obj, "max_input_tokens", &v, &present))) return st;
    if (present && (st = plan_add(p, ctx, "context_tokens", v, NULL, src, at, conf))) return st;
    if ((st = get_number(ctx, obj, "max_output_tokens", &v, &present))) return st;
    if (!present && (st = get_number(ctx, obj, "max_tokens", &v, &present))) return st;
    if (present && (st = plan_add(p, ctx, "max_output_tokens", v, NULL, src, at, conf)))
        return st;

    bool priced = false;
    for (size_t i = 0; i < sizeof litellm_prices / sizeof litellm_prices[0]; i++) {
        if ((st = get_number(ctx, obj, litellm_prices[i].field, &v, &present))) return st;
        if (!present) continue;
        if (!(v >= 0) || !isfinite(v * 1e6))
            return bad(ctx, "%s = %g: must be finite and >= 0", litellm_prices[i].field, v);
        if ((st = plan_add(p, ctx, litellm_prices[i].key, v * 1e6, NULL, src, at, conf)))
            return st;
        priced = true;
    }
    if (priced && (st = plan_add(p, ctx, "currency", 0, "USD", src, at, conf))) return st;

    int vision = -1, audio = -1;
    for (size_t i = 0; i < sizeof litellm_flags / sizeof litellm_flags[0]; i++) {
        int flag;
        if ((st = get_flag(p, ctx, obj, litellm_flags[i].field, litellm_flags[i].key, &flag)))
            return st;
        if (strcmp(litellm_flags[i].key, "vision") == 0) vision = flag;
        if (strcmp(litellm_flags[i].key, "audio_input") == 0) audio = flag;
    }

    /* Modalities: LiteLLM's lists when present, else what the flags say. */
    const json_t *in = json_object_get(obj, "supported_modalities");
    const json_t *out = json_object_get(obj, "supported_output_modalities");
    if (in && !json_is_null(in)) {
        if ((st = join_modalities(ctx, in, "supported_modalities", p->modalities[0],
                                  sizeof p->modalities[0])))
            return st;
    } else if (!mode || strcmp(mode, "chat") == 0 || strcmp(mode, "completion") == 0) {
        int pdf, video;
        if ((st = get_flag(p, ctx, obj, "supports_pdf_input", NULL, &pdf)) ||
            (st = get_flag(p, ctx, obj, "supports_video_input", NULL, &video)))
            return st;
        snprintf(p->modalities[0], sizeof p->modalities[0], "text%s%s%s%s",
                 vision == 1 ? ",image" : "", audio == 1 ? ",audio" : "",
                 pdf == 1 ? ",pdf" : "", video == 1 ? ",video" : "");
    }
    if (out && !json_is_null(out)) {
        if ((st = join_modalities(ctx, out, "supported_output_modalities", p->modalities[1],
                                  sizeof p->modalities[1])))
            return st;
    }
    for (int i = 0; i < 2; i++)
        if (p->modalities[i][0] &&
            (st = plan_add(p, ctx, i ? "output_modalities" : "input_modalities", 0,
                           p->modalities[i], src, at, conf)))
            return st;

    const char *date;
    if ((st = get_string(ctx, obj, "deprecation_date", &date))) return st;
    if (date) {
        int64_t t;
        if (!parse_date(date, &t))
            return bad(ctx, "deprecation_date: '%.40s' is not a YYYY-MM-DD date", date);
        if ((st = plan_add(p, ctx, "deprecation_date", (double)t, NULL, src, at, conf)))
            return st;
    }
    return PYAGENT_OK;
}

/* Reads an exported entry's "pyagent" object: identity and values with their provenance. */
static pyagent_status plan_pyagent(plan *p, import_ctx *ctx, const json_t *pa) {
    pyagent_status st;
    pa_err err = {0};
    if ((st = get_string(ctx, pa, "provider", &p->provider))) return st;
    if (!p->provider) return bad(ctx, "pyagent.provider: missing");
    if (pa_check_name("pyagent.provider", p->provider, false, &err)) return bad(ctx, "%s",
                                                                                 err.msg);
    if ((st = get_string(ctx, pa, "location", &p->location))) return st;
    if ((st = get_string(ctx, pa, "remote_id", &p->remote_id))) return st;
    if (pa_check_name("pyagent.location", p->location, true, &err) ||
        pa_check_name("pyagent.remote_id", p->remote_id, true, &err))
        return bad(ctx, "%s", err.msg);
    if (strcmp(p->provider, "local") == 0 && (!p->location || !*p->location))
        return bad(ctx, "pyagent.location: a local model needs its GGUF path");
    const json_t *checked = json_object_get(pa, "checked");
    if (checked && !json_is_null(checked)) {
        static const char *const kinds[3] = {"capabilities", "prices", "measurements"};
        if (!json_is_object(checked))
            return bad(ctx, "pyagent.checked: expected an object, got %s", type_name(checked));
        for (int k = 0; k < 3; k++) {
            double t;
            bool present;
            if ((st = get_number(ctx, checked, kinds[k], &t, &present))) return st;
            if (!present) continue;
            if (!(t >= 0 && t <= 9007199254740992.0) || t != floor(t))
                return bad(ctx, "pyagent.checked.%s: not Unix seconds", kinds[k]);
            p->checked_at[k] = (int64_t)t;
        }
    }
    const json_t *values = json_object_get(pa, "values");
    if (!values || json_is_null(values)) return PYAGENT_OK;
    if (!json_is_object(values))
        return bad(ctx, "pyagent.values: expected an object, got %s", type_name(values));
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)values, key, v) {
        if (!json_is_object(v))
            return bad(ctx, "pyagent.values.%.64s: expected an object, got %s", key,
                       type_name(v));
        const json_t *value = json_object_get(v, "value");
        const char *source;
        double at, conf;
        bool has_at, has_conf;
        if ((st = get_string(ctx, v, "source", &source)) ||
            (st = get_number(ctx, v, "measured_at", &at, &has_at)) ||
            (st = get_number(ctx, v, "confidence", &conf, &has_conf)))
            return st;
        if (!source || !has_at || !has_conf || !value)
            return bad(ctx, "pyagent.values.%.64s: needs value, source, measured_at and "
                       "confidence", key);
        if (pa_check_name("source", source, false, &err)) return bad(ctx, "%s", err.msg);
        if (!(at >= 0 && at <= 9007199254740992.0) || at != floor(at))
            return bad(ctx, "pyagent.values.%.64s.measured_at: not Unix seconds", key);
        if (!(conf >= 0 && conf <= 1))
            return bad(ctx, "pyagent.values.%.64s.confidence: not in [0, 1]", key);
        if (json_is_string(value)) {
            if (json_string_length(value) != strlen(json_string_value(value)))
                return bad(ctx, "pyagent.values.%.64s: holds a NUL character", key);
            st = plan_add(p, ctx, key, 0, json_string_value(value), source, (int64_t)at, conf);
        } else if (json_is_number(value)) {
            st = plan_add(p, ctx, key, json_number_value(value), NULL, source, (int64_t)at,
                          conf);
        } else {
            st = bad(ctx, "pyagent.values.%.64s.value: expected a number or a string, got %s",
                     key, type_name(value));
        }
        if (st) return st;
    }
    return PYAGENT_OK;
}

static pyagent_status plan_entry(plan *p, import_ctx *ctx, const char *name, const json_t *v) {
    memset(p, 0, sizeof *p);
    p->name = name;
    pa_err err = {0};
    if (pa_check_name("model name", name, false, &err)) return bad(ctx, "%s", err.msg);
    if (!json_is_object(v)) return bad(ctx, "expected an object, got %s", type_name(v));
    const json_t *pa = json_object_get(v, "pyagent");
    if (pa && !json_is_null(pa)) {
        if (!json_is_object(pa)) return bad(ctx, "pyagent: expected an object, got %s",
                                            type_name(pa));
        return plan_pyagent(p, ctx, pa);
    }
    return plan_litellm(p, ctx, v);
}

/* LiteLLM's image size/quality pseudo-entries such as "1024-x-1024/dall-e-2". */
static bool is_size_pseudo_entry(const char *name) {
    const char *x = strstr(name, "-x-");
    return x && x != name && strspn(name, "0123456789") == (size_t)(x - name) &&
           strchr(x, '/') != NULL;
}

/* Writes one planned entry: the model (added if new) and one check per distinct provenance. */
static pyagent_status write_plan(pyagent_registry *reg, const plan *p, int64_t generation,
                                 import_ctx *ctx, bool *skipped, pa_err *err) {
    int64_t model_id;
    pa_err add_err = {0};
    pyagent_status st = pa_reg_add_model_tx(reg, p->name, p->provider, p->location,
                                            p->remote_id, ctx->measured_at, generation,
                                            &model_id, &add_err);
    if (st == PYAGENT_ERR_INVALID_ARGUMENT) { /* registered differently: this entry is bad */
        *skipped = true;
        bad(ctx, "%s", add_err.msg);
        return PYAGENT_OK;
    }
    if (st) {
        *err = add_err;
        return st;
    }
    if (p->checks) { /* a LiteLLM entry: one check, with the import's source and time */
        int32_t what = p->checks;
        for (size_t i = 0; i < p->n_facts; i++) {
            pa_key_info info;
            pa_key_lookup(p->facts[i].key, &info, NULL);
            what |= info.what;
        }
        int64_t check_id;
        st = pa_reg_insert_check(reg, model_id, what, ctx->measured_at, ctx->source, true, NULL,
                                 generation, &check_id, err);
        for (size_t i = 0; !st && i < p->n_facts; i++) {
            const plan_fact *f = &p->facts[i];
            st = pa_reg_insert_fact(reg, check_id, model_id, f->key, f->num, f->text, f->source,
                                    f->measured_at, f->confidence, err);
        }
        return st;
    }
    /* Restored values: those that share source and time share a check. */
    bool done[MAX_FACTS] = {false};
    for (size_t i = 0; !st && i < p->n_facts; i++) {
        if (done[i]) continue;
        const plan_fact *f = &p->facts[i];
        int32_t what = 0;
        for (size_t j = i; j < p->n_facts; j++) {
            const plan_fact *g = &p->facts[j];
            if (done[j] || g->measured_at != f->measured_at || strcmp(g->source, f->source))
                continue;
            pa_key_info info;
            pa_key_lookup(g->key, &info, NULL);
            what |= info.what;
        }
        int64_t check_id;
        st = pa_reg_insert_check(reg, model_id, what, f->measured_at, f->source, true, NULL,
                                 generation, &check_id, err);
        for (size_t j = i; !st && j < p->n_facts; j++) {
            const plan_fact *g = &p->facts[j];
            if (done[j] || g->measured_at != f->measured_at || strcmp(g->source, f->source))
                continue;
            done[j] = true;
            st = pa_reg_insert_fact(reg, check_id, model_id, g->key, g->num, g->text, g->source,
                                    g->measured_at, g->confidence, err);
        }
    }
    /* The exported last-check times, as checks of their own (one per distinct time). */
    for (int k = 0; !st && k < 3; k++) {
        int64_t t = p->checked_at[k];
        bool seen = false;
        for (int j = 0; j < k; j++) seen = seen || p->checked_at[j] == t;
        if (t <= 0 || seen) continue;
        int32_t what = 0;
        for (int j = k; j < 3; j++)
            if (p->checked_at[j] == t) what |= 1 << j; /* PYAGENT_CHECK_* are 1, 2, 4 */
        st = pa_reg_insert_check(reg, model_id, what, t, ctx->source, true,
                                 "last check time restored from an export", generation, NULL,
                                 err);
    }
    return st;
}

static pyagent_status import_doc(pyagent_registry *reg, const json_t *doc, import_ctx *ctx,
                                 int64_t *n_imported, int64_t *n_skipped, strbuf *report,
                                 pa_err *err) {
    plan *p = malloc(sizeof *p);
    if (!p) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    int64_t generation;
    pyagent_status st = pa_reg_begin_write(reg, &generation, err);
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)doc, name, v) {
        if (st) break;
        if (strcmp(name, "sample_spec") == 0) continue;
        char quoted[400];
        bool skipped = false;
        if (is_size_pseudo_entry(name)) {
            bad(ctx, "an image size/quality pseudo-entry, not a model");
            skipped = true;
        } else if (plan_entry(p, ctx, name, v)) {
            skipped = true;
        } else {
            st = write_plan(reg, p, generation, ctx, &skipped, err);
        }
        if (st) break;
        if (skipped) {
            quote_key(name, quoted, sizeof quoted);
            sb_printf(report, "'%s': %s\n", quoted, ctx->entry_err.msg);
            (*n_skipped)++;
        } else {
            (*n_imported)++;
        }
    }
    free(p);
    if (!st && report->failed) st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    return pa_reg_end_write(reg, st, err);
}

static pyagent_status import_buffer(pyagent_registry *reg, const char *json, size_t json_len,
                                    const char *what, import_ctx *ctx, int64_t *n_imported,
                                    int64_t *n_skipped, char **report, pa_err *err) {
    json_error_t jerr;
    json_t *doc = json_loadb(json, json_len, JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY, &jerr);
    if (!doc) {
        pyagent_status st = json_error_code(&jerr) == json_error_invalid_utf8
                                ? PYAGENT_ERR_INVALID_UTF8
                            : json_error_code(&jerr) == json_error_out_of_memory
                                ? PYAGENT_ERR_OUT_OF_MEMORY
                                : PYAGENT_ERR_INVALID_ARGUMENT;
        return pa_fail(err, st, "%.200s: line %d, column %d: %.160s", what, jerr.line,
                       jerr.column, jerr.text);
    }
    pyagent_status st = PYAGENT_OK;
    if (!json_is_object(doc))
        st = pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                     "%.200s: the document is %s, expected an object of models keyed by name",
                     what, type_name(doc));
    strbuf sb = {0};
    int64_t imported = 0, skipped = 0;
    if (!st) st = import_doc(reg, doc, ctx, &imported, &skipped, &sb, err);
    json_decref(doc);
    if (!st && report) {
        if (!sb.data) sb_printf(&sb, "%s", "");
        if (sb.failed) st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
        else {
            *report = sb.data;
            sb.data = NULL;
        }
    }
    free(sb.data);
    if (!st) {
        if (n_imported) *n_imported = imported;
        if (n_skipped) *n_skipped = skipped;
    }
    return st;
}

static pyagent_status check_import_args(pyagent_registry *reg, const char *source,
                                        int64_t measured_at, double confidence, pa_err *err) {
    if (!reg->db) return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "the registry did not open");
    pyagent_status st = pa_check_name("source", source, false, err);
    if (st) return st;
    if (measured_at < 0 || measured_at > (INT64_C(1) << 53))
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "measured_at = %lld: not Unix seconds",
                       (long long)measured_at);
    if (!(confidence >= 0 && confidence <= 1))
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "confidence = %g: must be in [0, 1]",
                       confidence);
    return PYAGENT_OK;
}

pyagent_status pyagent_registry_import_json(pyagent_registry *registry, const char *json,
                                            size_t json_len, const char *source,
                                            int64_t measured_at, double confidence,
                                            int64_t *n_imported, int64_t *n_skipped,
                                            char **report) {
    if (!registry) return PYAGENT_ERR_INVALID_ARGUMENT;
    if (report) *report = NULL;
    pa_err err = {0};
    if (!source) source = "import";
    pyagent_status st = check_import_args(registry, source, measured_at, confidence, &err);
    if (!st && !json && json_len)
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "json is NULL");
    if (st) return pa_reg_finish(registry, st, &err);
    import_ctx ctx = {source, measured_at, confidence, {0}};
    pthread_mutex_lock(&registry->lock);
    st = import_buffer(registry, json ? json : "", json_len, "import", &ctx, n_imported,
                       n_skipped, report, &err);
    pthread_mutex_unlock(&registry->lock);
    return pa_reg_finish(registry, st, &err);
}

/* Reads the whole file at `path` (at most MAX_IMPORT_BYTES). */
static pyagent_status read_file(const char *path, char **data, size_t *len, pa_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return pa_fail(err, PYAGENT_ERR_IO, "%.200s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    pyagent_status st = buf ? PYAGENT_OK : pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    while (!st) {
        if (n == cap) {
            if (cap >= MAX_IMPORT_BYTES) {
                st = pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "%.200s: larger than %zu MiB", path,
                             MAX_IMPORT_BYTES >> 20);
                break;
            }
            char *p = realloc(buf, cap * 2);
            if (!p) {
                st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
                break;
            }
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) st = pa_fail(err, PYAGENT_ERR_IO, "%.200s: read error", path);
            break;
        }
    }
    fclose(f);
    if (st) {
        free(buf);
        return st;
    }
    *data = buf;
    *len = n;
    return PYAGENT_OK;
}

pyagent_status pyagent_registry_import_file(pyagent_registry *registry, const char *path,
                                            const char *source, int64_t measured_at,
                                            double confidence, int64_t *n_imported,
                                            int64_t *n_skipped, char **report) {
    if (!registry) return PYAGENT_ERR_INVALID_ARGUMENT;
    if (report) *report = NULL;
    pa_err err = {0};
    pyagent_status st = path ? PYAGENT_OK : pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT,
                                                    "path is NULL");
    if (!st) st = check_import_args(registry, source ? source : path, measured_at, confidence,
                                    &err);
    char *data = NULL;
    size_t len = 0;
    if (!st) st = read_file(path, &data, &len, &err);
    if (st) return pa_reg_finish(registry, st, &err);
    import_ctx ctx = {source ? source : path, measured_at, confidence, {0}};
    pthread_mutex_lock(&registry->lock);
    st = import_buffer(registry, data, len, path, &ctx, n_imported, n_skipped, report, &err);
    pthread_mutex_unlock(&registry->lock);
    free(data);
    return pa_reg_finish(registry, st, &err);
}

/* ---------------------------------------------------------------------------------------------
 * Export
 * ------------------------------------------------------------------------------------------- */

/* Sets obj[key] = value, taking the reference; false when memory ran out. */
static bool put(json_t *obj, const char *key, json_t *value) {
    return value && json_object_set_new(obj, key, value) == 0;
}

/* A number as a JSON integer when it is a whole number that fits, else as a real. */
static json_t *number(double v) {
    if (v == floor(v) && fabs(v) <= 9007199254740992.0) return json_integer((json_int_t)v);
    return json_real(v);
}

static json_t *what_list(int32_t what) {
    static const char *const names[3] = {"capabilities", "prices", "measurements"};
    json_t *arr = json_array();
    for (int k = 0; arr && k < 3; k++) /* PYAGENT_CHECK_* are 1, 2, 4 */
        if ((what & (1 << k)) && json_array_append_new(arr, json_string(names[k]))) {
            json_decref(arr);
            arr = NULL;
        }
    return arr;
}

/* Adds the LiteLLM field for current value `key` = num/text to `entry`. */
static bool put_litellm(json_t *entry, const char *key, double num, const char *text) {
    for (size_t i = 0; i < sizeof litellm_flags / sizeof litellm_flags[0]; i++)
        if (strcmp(key, litellm_flags[i].key) == 0)
            return put(entry, litellm_flags[i].field, json_boolean(num == 1));
    for (size_t i = 0; i < sizeof litellm_prices / sizeof litellm_prices[0]; i++)
        if (strcmp(key, litellm_prices[i].key) == 0)
            return put(entry, litellm_prices[i].field, json_real(num / 1e6));
    if (strcmp(key, "context_tokens") == 0) return put(entry, "max_input_tokens", number(num));
    if (strcmp(key, "max_output_tokens") == 0) return put(entry, "max_output_tokens", number(num));
    if (strcmp(key, "mode") == 0 && text) return put(entry, "mode", json_string(text));
    if (strcmp(key, "deprecation_date") == 0) {
        time_t t = (time_t)num;
        struct tm tm;
        char date[32];
        if (gmtime_r(&t, &tm) && strftime(date, sizeof date, "%Y-%m-%d", &tm))
            return put(entry, "deprecation_date", json_string(date));
    }
    return true;
}

/* A value read from facts: {value, source, measured_at, confidence}. */
static json_t *value_object(sqlite3_stmt *stmt, int col) {
    json_t *v = json_object();
    if (!v) return NULL;
    const char *text = (const char *)sqlite3_column_text(stmt, col + 1);
    bool ok = put(v, "value", sqlite3_column_type(stmt, col + 1) == SQLITE_NULL
                                  ? number(sqlite3_column_double(stmt, col))
                                  : json_string(text ? text : "")) &&
              put(v, "source", json_string((const char *)sqlite3_column_text(stmt, col + 2))) &&
              put(v, "measured_at", json_integer(sqlite3_column_int64(stmt, col + 3))) &&
              put(v, "confidence", json_real(sqlite3_column_double(stmt, col + 4)));
    if (!ok) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static pyagent_status export_history(pyagent_registry *reg, int64_t model_id, json_t *pa,
                                     pa_err *err) {
    sqlite3_stmt *checks, *facts;
    pyagent_status st = pa_reg_prepare(reg,
                                       "SELECT id, what, checked_at, source, ok, detail FROM "
                                       "checks WHERE model_id = ? ORDER BY id", &checks, err);
    if (st) return st;
    if ((st = pa_reg_prepare(reg,
                             "SELECT key, num, text, source, measured_at, confidence FROM facts "
                             "WHERE check_id = ? ORDER BY id", &facts, err))) {
        sqlite3_finalize(checks);
        return st;
    }
    json_t *history = json_array();
    bool ok = put(pa, "history", history);
    sqlite3_bind_int64(checks, 1, model_id);
    int rc;
    while (ok && (rc = sqlite3_step(checks)) == SQLITE_ROW) {
        json_t *check = json_object(), *values = json_object();
        ok = check && values && json_array_append_new(history, check) == 0 &&
             put(check, "checked_at", json_integer(sqlite3_column_int64(checks, 2))) &&
             put(check, "what", what_list(sqlite3_column_int(checks, 1))) &&
             put(check, "source", json_string((const char *)sqlite3_column_text(checks, 3))) &&
             put(check, "ok", json_boolean(sqlite3_column_int(checks, 4))) &&
             put(check, "detail", json_string((const char *)sqlite3_column_text(checks, 5))) &&
             put(check, "values", values);
        if (!ok) break;
        sqlite3_bind_int64(facts, 1, sqlite3_column_int64(checks, 0));
        while (ok && (rc = sqlite3_step(facts)) == SQLITE_ROW)
            ok = json_object_set_new(values, (const char *)sqlite3_column_text(facts, 0),
                                     value_object(facts, 1)) == 0;
        sqlite3_reset(facts);
    }
    if (ok && rc != SQLITE_DONE) st = pa_reg_fail_sqlite(reg, rc, "export history", err);
    else if (!ok) st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    sqlite3_finalize(facts);
    sqlite3_finalize(checks);
    return st;
}

static pyagent_status export_model(pyagent_registry *reg, sqlite3_stmt *model,
                                   sqlite3_stmt *values, int32_t flags, json_t *doc,
                                   pa_err *err) {
    int64_t id = sqlite3_column_int64(model, 0);
    const char *name = (const char *)sqlite3_column_text(model, 1);
    const char *provider = (const char *)sqlite3_column_text(model, 2);
    json_t *entry = json_object();
    if (!put(doc, name, entry) || !put(entry, "litellm_provider", json_string(provider)))
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    /* "pyagent" is built aside and attached last, after the LiteLLM fields */
    json_t *pa = json_object(), *checked = json_object(), *vals = json_object();
    if (!pa || !checked || !vals) {
        json_decref(pa);
        json_decref(checked);
        json_decref(vals);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    json_incref(checked); /* our references, dropped below whether or not they got attached */
    json_incref(vals);
    bool ok = put(pa, "provider", json_string(provider)) &&
              put(pa, "location", json_string((const char *)sqlite3_column_text(model, 3))) &&
              put(pa, "remote_id", json_string((const char *)sqlite3_column_text(model, 4))) &&
              put(pa, "added_at", json_integer(sqlite3_column_int64(model, 5))) &&
              put(pa, "checked", checked) &&
              put(checked, "capabilities", json_integer(sqlite3_column_int64(model, 6))) &&
              put(checked, "prices", json_integer(sqlite3_column_int64(model, 7))) &&
              put(checked, "measurements", json_integer(sqlite3_column_int64(model, 8))) &&
              put(pa, "values", vals);
    sqlite3_bind_int64(values, 1, id);
    int rc = SQLITE_DONE;
    while (ok && (rc = sqlite3_step(values)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(values, 0);
        const char *text = (const char *)sqlite3_column_text(values, 2);
        ok = json_object_set_new(vals, key, value_object(values, 1)) == 0 &&
             put_litellm(entry, key, sqlite3_column_double(values, 1), text);
    }
    sqlite3_reset(values);
    json_decref(checked);
    json_decref(vals);
    if (!ok) {
        json_decref(pa);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (!put(entry, "pyagent", pa)) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    if (rc != SQLITE_DONE) return pa_reg_fail_sqlite(reg, rc, "export values", err);
    if (flags & PYAGENT_EXPORT_HISTORY) return export_history(reg, id, pa, err);
    return PYAGENT_OK;
}

static pyagent_status export_doc(pyagent_registry *reg, const char *only, int32_t flags,
                                 json_t *doc, pa_err *err) {
    sqlite3_stmt *models, *values;
    pyagent_status st = pa_reg_prepare(
        reg,
        "SELECT id, name, provider, location, remote_id, added_at, caps_checked_at, "
        "prices_checked_at, measured_at FROM models "
        "WHERE removed_at IS NULL AND (?1 IS NULL OR name = ?1) ORDER BY name", &models, err);
    if (st) return st;
    if ((st = pa_reg_prepare(reg,
                             "SELECT c.key, f.num, f.text, f.source, f.measured_at, f.confidence "
                             "FROM current_values c JOIN facts f ON f.id = c.fact_id "
                             "WHERE c.model_id = ? ORDER BY c.key", &values, err))) {
        sqlite3_finalize(models);
        return st;
    }
    if (only) sqlite3_bind_text(models, 1, only, -1, SQLITE_TRANSIENT);
    int rc;
    while (!st && (rc = sqlite3_step(models)) == SQLITE_ROW)
        st = export_model(reg, models, values, flags, doc, err);
    if (!st && rc != SQLITE_DONE) st = pa_reg_fail_sqlite(reg, rc, "export models", err);
    sqlite3_finalize(values);
    sqlite3_finalize(models);
    return st;
}

pyagent_status pyagent_registry_export(pyagent_registry *registry, const char *model,
                                       int32_t flags, char **json, size_t *json_len) {
    if (!registry) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = PYAGENT_OK;
    if (!registry->db)
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "the registry did not open");
    else if (!json) st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "json is NULL");
    else if (flags & ~PYAGENT_EXPORT_HISTORY)
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "unknown export flags 0x%x",
                     (unsigned)flags);
    if (st) return pa_reg_finish(registry, st, &err);
    *json = NULL;
    json_t *doc = json_object();
    if (!doc) return pa_reg_finish(registry, pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY, "out of "
                                                     "memory"), &err);
    pthread_mutex_lock(&registry->lock);
    if (model) {
        int64_t id;
        st = pa_reg_find_model(registry, model, &id, NULL, NULL, &err);
    }
    if (!st) st = pa_reg_begin_read(registry, &err);
    if (!st) {
        st = export_doc(registry, model, flags, doc, &err);
        pa_reg_end_read(registry);
    }
    pthread_mutex_unlock(&registry->lock);
    if (!st) {
        size_t flags_out = JSON_INDENT(2) | JSON_REAL_PRECISION(15);
        size_t n = json_dumpb(doc, NULL, 0, flags_out);
        char *out = n ? malloc(n + 1) : NULL;
        if (!out || json_dumpb(doc, out, n, flags_out) != n) {
            free(out);
            st = pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
        } else {
            out[n] = '\0';
            *json = out;
            if (json_len) *json_len = n;
        }
    }
    json_decref(doc);
    return pa_reg_finish(registry, st, &err);
}
