/*
 * Routing and due checks over an in-memory table of the registry.
 *
 * Routing must answer in well under a millisecond for 10,000 models, which rules out a query
 * per request. So the registry keeps a snapshot: one route_entry per registered model holding
 * its current values in plain fields, sorted by name. A route is then a single pass over the
 * entries, comparing numbers, and the sort order makes the name tie-break free.
 *
 * Freshness: before each use the snapshot is checked against the file. PRAGMA data_version
 * tells (in about a microsecond) whether another connection committed since; the handle's own
 * commits set registry->wrote. Only then is the meta 'generation' read, and only the models
 * whose generation is greater than the snapshot's are reloaded (store.c keeps that invariant),
 * so a write to one model costs one model's reload plus a re-sort, not a full load.
 *
 * Sharing: snapshots and entries are immutable once built and reference-counted. A route
 * holds the snapshot it was made from, so its rejection reasons can be formatted later (only
 * when asked: formatting thousands of strings per route would cost more than the route) even
 * after the registry moved on to a newer snapshot.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../core/params.h"
#include "registry_internal.h"

/* ---------------------------------------------------------------------------------------------
 * Entries and snapshots
 * ------------------------------------------------------------------------------------------- */

static const char usd[] = "USD"; /* the currency of prices recorded without one */

static route_entry *entry_new(int64_t id, const char *name, bool is_local) {
    route_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->name = strdup(name))) {
        free(e);
        return NULL;
    }
    atomic_init(&e->refcount, 0);
    e->id = id;
    e->is_local = is_local;
    e->context_tokens = e->max_output_tokens = NAN;
    e->price_input = e->price_output = e->price_cached_input = NAN;
    e->ttft_ms = e->tokens_per_second = e->quality = e->deprecation_date = NAN;
    e->currency = usd;
    return e;
}

static void entry_free(route_entry *e) {
    for (int i = 0; i < e->n_tasks; i++) free(e->tasks[i].task);
    free(e->tasks);
    free(e->mode);
    free(e->languages);
    if (e->currency != usd) free((char *)e->currency);
    free(e->name);
    free(e);
}

static void entry_release(route_entry *e) {
    if (e && atomic_fetch_sub(&e->refcount, 1) == 1) entry_free(e);
}

void pa_snapshot_release(route_snapshot *snap) {
    if (!snap || atomic_fetch_sub(&snap->refcount, 1) != 1) return;
    for (size_t i = 0; i < snap->n; i++) entry_release(snap->entries[i]);
    free(snap->entries);
    free(snap);
}

static bool is_text_mode(const char *mode) {
    return strcmp(mode, "chat") == 0 || strcmp(mode, "completion") == 0 ||
           strcmp(mode, "responses") == 0;
}

/* Puts one current value into its field. Unknown keys (from a newer library sharing the file)
 * are ignored. */
static pyagent_status entry_apply(route_entry *e, const char *key, double num, const char *text) {
    pa_key_info info;
    if (pa_key_lookup(key, &info, NULL) != PYAGENT_OK) return PYAGENT_OK;
    if (info.type == PA_KEY_TEXT && !text) return PYAGENT_OK;
    if (info.type == PA_KEY_BOOL) {
        e->known |= info.cap_bit;
        if (num == 1) e->has |= info.cap_bit;
        return PYAGENT_OK;
    }
    if (strncmp(key, "quality.", 8) == 0) {
        task_quality *t = realloc(e->tasks, (size_t)(e->n_tasks + 1) * sizeof *t);
        if (!t) return PYAGENT_ERR_OUT_OF_MEMORY;
        e->tasks = t;
        if (!(t[e->n_tasks].task = strdup(key + 8))) return PYAGENT_ERR_OUT_OF_MEMORY;
        t[e->n_tasks++].score = num;
        return PYAGENT_OK;
    }
    char **str = NULL;
    if (strcmp(key, "context_tokens") == 0) e->context_tokens = num;
    else if (strcmp(key, "max_output_tokens") == 0) e->max_output_tokens = num;
    else if (strcmp(key, "price_input") == 0) e->price_input = num;
    else if (strcmp(key, "price_output") == 0) e->price_output = num;
    else if (strcmp(key, "price_cached_input") == 0) e->price_cached_input = num;
    else if (strcmp(key, "ttft_ms") == 0) e->ttft_ms = num;
    else if (strcmp(key, "tokens_per_second") == 0) e->tokens_per_second = num;
    else if (strcmp(key, "quality") == 0) e->quality = num;
    else if (strcmp(key, "deprecation_date") == 0) e->deprecation_date = num;
    else if (strcmp(key, "currency") == 0) {
        char *copy = strdup(text);
        if (!copy) return PYAGENT_ERR_OUT_OF_MEMORY;
        if (e->currency != usd) free((char *)e->currency);
        e->currency = copy;
    }
    else if (strcmp(key, "mode") == 0) str = &e->mode;
    else if (strcmp(key, "languages") == 0) str = &e->languages;
    if (str) {
        free(*str);
        if (!(*str = strdup(text))) return PYAGENT_ERR_OUT_OF_MEMORY;
        if (str == &e->mode) e->mode_class = is_text_mode(text) ? 1 : 2;
    }
    return PYAGENT_OK;
}

static int by_id(const void *a, const void *b) {
    int64_t x = (*(route_entry *const *)a)->id, y = (*(route_entry *const *)b)->id;
    return (x > y) - (x < y);
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(route_entry *const *)a)->name, (*(route_entry *const *)b)->name);
}

static route_entry *find_by_id(route_entry **sorted, size_t n, int64_t id) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid]->id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && sorted[lo]->id == id ? sorted[lo] : NULL;
}

/* The models changed after some generation: fresh entries (sorted by id) for registered ones,
 * ids for removed ones. */
typedef struct changes {
    route_entry **fresh;
    size_t n_fresh, cap_fresh;
    int64_t *removed;
    size_t n_removed, cap_removed;
} changes;

static void changes_free(changes *c) {
    for (size_t i = 0; i < c->n_fresh; i++) entry_free(c->fresh[i]);
    free(c->fresh);
    free(c->removed);
}

static bool grow(void **items, size_t *cap, size_t n, size_t size) {
    if (n < *cap) return true;
    size_t new_cap = *cap ? *cap * 2 : 64;
    void *p = realloc(*items, new_cap * size);
    if (!p) return false;
    *items = p;
    *cap = new_cap;
    return true;
}

/* Loads the models changed after generation `since` (all for -1) into `c`. */
static pyagent_status load_changes(pyagent_registry *reg, int64_t since, changes *c,
                                   pa_err *err) {
    static const char models_sql[] =
        "SELECT id, name, provider = 'local', caps_checked_at, prices_checked_at, measured_at, "
        "removed_at IS NOT NULL FROM models WHERE generation > ?";
    static const char values_sql[] =
        "SELECT c.model_id, c.key, f.num, f.text FROM current_values c "
        "JOIN facts f ON f.id = c.fact_id "
        "WHERE c.model_id IN (SELECT id FROM models WHERE generation > ? AND removed_at IS NULL)";
    sqlite3_stmt *stmt;
    pyagent_status st = pa_reg_stmt(reg, models_sql, &stmt, err);
    if (st) return st;
    sqlite3_bind_int64(stmt, 1, since);
    int rc;
    while (!st && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(stmt, 0);
        if (sqlite3_column_int(stmt, 6)) {
            if (!grow((void **)&c->removed, &c->cap_removed, c->n_removed, sizeof *c->removed))
                st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
            else
                c->removed[c->n_removed++] = id;
            continue;
        }
        const char *name = (const char *)sqlite3_column_text(stmt, 1);
        route_entry *e = entry_new(id, name ? name : "", sqlite3_column_int(stmt, 2) != 0);
        if (!e || !grow((void **)&c->fresh, &c->cap_fresh, c->n_fresh, sizeof *c->fresh)) {
            if (e) entry_free(e);
            st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        for (int i = 0; i < 3; i++) e->checked_at[i] = sqlite3_column_int64(stmt, 3 + i);
        c->fresh[c->n_fresh++] = e;
    }
    if (!st && rc != SQLITE_DONE) st = pa_reg_fail_sqlite(reg, rc, "load models", err);
    pa_reg_stmt_done(stmt);
    if (st) return st;
    if (c->n_fresh) qsort(c->fresh, c->n_fresh, sizeof *c->fresh, by_id);

    if ((st = pa_reg_stmt(reg, values_sql, &stmt, err))) return st;
    sqlite3_bind_int64(stmt, 1, since);
    route_entry *e = NULL;
    while (!st && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(stmt, 0);
        if (!e || e->id != id) e = find_by_id(c->fresh, c->n_fresh, id);
        if (!e) continue; /* added after the models query: the next refresh loads it */
        const char *key = (const char *)sqlite3_column_text(stmt, 1);
        const char *text = (const char *)sqlite3_column_text(stmt, 3);
        if (key && entry_apply(e, key, sqlite3_column_double(stmt, 2), text))
            st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (!st && rc != SQLITE_DONE) st = pa_reg_fail_sqlite(reg, rc, "load values", err);
    pa_reg_stmt_done(stmt);
    return st;
}

static bool contains_id(const int64_t *ids, size_t n, int64_t id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

/* The old snapshot's entries that did not change, plus the changed ones, sorted by name. */
static pyagent_status merge(const route_snapshot *old, changes *c, route_snapshot **out,
                            pa_err *err) {
    route_snapshot *snap = calloc(1, sizeof *snap);
    size_t cap = (old ? old->n : 0) + c->n_fresh;
    if (!snap || !(snap->entries = malloc((cap ? cap : 1) * sizeof *snap->entries))) {
        free(snap);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    atomic_init(&snap->refcount, 1);
    for (size_t i = 0; old && i < old->n; i++) {
        route_entry *e = old->entries[i];
        if (find_by_id(c->fresh, c->n_fresh, e->id) || contains_id(c->removed, c->n_removed, e->id))
            continue;
        atomic_fetch_add(&e->refcount, 1);
        snap->entries[snap->n++] = e;
    }
    for (size_t i = 0; i < c->n_fresh; i++) {
        atomic_fetch_add(&c->fresh[i]->refcount, 1);
        snap->entries[snap->n++] = c->fresh[i];
    }
    c->n_fresh = 0; /* the snapshot owns them now */
    qsort(snap->entries, snap->n, sizeof *snap->entries, by_name);
    *out = snap;
    return PYAGENT_OK;
}

pyagent_status pa_reg_refresh(pyagent_registry *reg, pa_err *err) {
    static const char version_sql[] = "PRAGMA data_version";
    sqlite3_stmt *stmt;
    pyagent_status st = pa_reg_stmt(reg, version_sql, &stmt, err);
    if (st) return st;
    int rc = sqlite3_step(stmt);
    int64_t data_version = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    pa_reg_stmt_done(stmt);
    if (rc != SQLITE_ROW) return pa_reg_fail_sqlite(reg, rc, "data_version", err);
    if (reg->snapshot && !reg->wrote && data_version == reg->data_version) return PYAGENT_OK;

    if ((st = pa_reg_begin_read(reg, err))) return st;
    int64_t generation = -1;
    static const char generation_sql[] = "SELECT value FROM meta WHERE key = 'generation'";
    if ((st = pa_reg_stmt(reg, generation_sql, &stmt, err))) {
        pa_reg_end_read(reg);
        return st;
    }
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) generation = sqlite3_column_int64(stmt, 0);
    else st = pa_reg_fail_sqlite(reg, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc, "generation", err);
    pa_reg_stmt_done(stmt);
    changes c = {0};
    bool stale = !st && (!reg->snapshot || generation != reg->snapshot_generation);
    if (stale) st = load_changes(reg, reg->snapshot ? reg->snapshot_generation : -1, &c, err);
    pa_reg_end_read(reg);
    route_snapshot *snap = NULL;
    if (stale && !st) st = merge(reg->snapshot, &c, &snap, err);
    changes_free(&c);
    if (st) return st;
    if (snap) {
        pa_snapshot_release(reg->snapshot);
        reg->snapshot = snap;
        reg->snapshot_generation = generation;
    }
    reg->data_version = data_version;
    reg->wrote = false;
    return PYAGENT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Evaluating one model against the requirements
 * ------------------------------------------------------------------------------------------- */

typedef struct route_req {
    double context, output, cached; /* tokens; cached <= context */
    uint32_t need_caps;             /* PA_CAP_* bits */
    bool local_only;
    double max_cost, max_latency_ms, min_quality, min_tps;
    char language[64], task[64], currency[64];
    int64_t now;
} route_req;

enum {
    R_MODE = 1u << 0, R_DEPRECATED = 1u << 1, R_NOT_LOCAL = 1u << 2,
    R_CONTEXT_UNKNOWN = 1u << 3, R_CONTEXT = 1u << 4, R_OUTPUT_UNKNOWN = 1u << 5,
    R_OUTPUT = 1u << 6, R_CAPS = 1u << 7, R_PRICE_UNKNOWN = 1u << 8, R_CURRENCY = 1u << 9,
    R_COST = 1u << 10, R_LATENCY_UNKNOWN = 1u << 11, R_LATENCY = 1u << 12,
    R_TPS_UNKNOWN = 1u << 13, R_TPS = 1u << 14, R_QUALITY_UNKNOWN = 1u << 15,
    R_QUALITY = 1u << 16, R_LANGUAGE_UNKNOWN = 1u << 17, R_LANGUAGE = 1u << 18,
};

typedef struct verdict {
    uint32_t failed;                /* R_* bits; 0 = qualifies */
    double cost, latency_ms, quality; /* NaN when unknown */
} verdict;

/* Whether comma-separated `list` holds language `tag`: equal ignoring case, or "*", or one of
 * the two is the other's primary subtag ("de" and "de-AT"). */
static bool lists_language(const char *list, const char *tag) {
    size_t tag_len = strlen(tag), tag_primary = strcspn(tag, "-_");
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t n = strcspn(p, ",");
        while (n && p[n - 1] == ' ') n--;
        if (n == 1 && *p == '*') return true;
        size_t primary = strcspn(p, "-_,");
        if (primary > n) primary = n;
        if ((n == tag_len && strncasecmp(p, tag, n) == 0) ||
            (n == tag_primary && strncasecmp(p, tag, n) == 0) ||
            (primary == tag_len && strncasecmp(p, tag, primary) == 0))
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

static double entry_quality(const route_entry *e, const char *task) {
    if (!*task) return e->quality;
    for (int i = 0; i < e->n_tasks; i++)
        if (strcmp(e->tasks[i].task, task) == 0) return e->tasks[i].score;
    return NAN;
}

static verdict evaluate(const route_entry *e, const route_req *r) {
    verdict v = {0, NAN, NAN, NAN};
    if (e->mode_class == 2) v.failed |= R_MODE;
    if (!isnan(e->deprecation_date) && e->deprecation_date <= (double)r->now)
        v.failed |= R_DEPRECATED;
    if (r->local_only && !e->is_local) v.failed |= R_NOT_LOCAL;

    double window = e->is_local ? r->context + r->output : r->context;
    if (window > 0) {
        if (isnan(e->context_tokens)) v.failed |= R_CONTEXT_UNKNOWN;
        else if (e->context_tokens < window) v.failed |= R_CONTEXT;
    }
    if (r->output > 0) {
        if (isnan(e->max_output_tokens)) v.failed |= R_OUTPUT_UNKNOWN;
        else if (e->max_output_tokens < r->output) v.failed |= R_OUTPUT;
    }
    if ((r->need_caps & e->has) != r->need_caps) v.failed |= R_CAPS;

    if (e->is_local) {
        v.cost = 0;
    } else {
        double uncached = r->context - r->cached;
        double cached_price = isnan(e->price_cached_input) ? e->price_input
                                                           : e->price_cached_input;
        bool known = !((uncached > 0 && isnan(e->price_input)) ||
                       (r->cached > 0 && isnan(cached_price)) ||
                       (r->output > 0 && isnan(e->price_output)));
        if (!known) {
            v.failed |= R_PRICE_UNKNOWN;
        } else {
            v.cost = ((uncached > 0 ? uncached * e->price_input : 0) +
                      (r->cached > 0 ? r->cached * cached_price : 0) +
                      (r->output > 0 ? r->output * e->price_output : 0)) / 1e6;
            if (v.cost > 0 && strcasecmp(e->currency, r->currency) != 0) v.failed |= R_CURRENCY;
        }
    }
    if (r->max_cost >= 0 && !isnan(v.cost) && v.cost > r->max_cost) v.failed |= R_COST;

    if (!isnan(e->ttft_ms) && (r->output == 0 || e->tokens_per_second > 0))
        v.latency_ms = e->ttft_ms +
                       (r->output > 0 ? r->output * 1000.0 / e->tokens_per_second : 0);
    if (r->max_latency_ms > 0) {
        if (isnan(v.latency_ms)) v.failed |= R_LATENCY_UNKNOWN;
        else if (v.latency_ms > r->max_latency_ms) v.failed |= R_LATENCY;
    }
    if (r->min_tps > 0) {
        if (isnan(e->tokens_per_second)) v.failed |= R_TPS_UNKNOWN;
        else if (e->tokens_per_second < r->min_tps) v.failed |= R_TPS;
    }
    v.quality = entry_quality(e, r->task);
    if (r->min_quality > 0) {
        if (isnan(v.quality)) v.failed |= R_QUALITY_UNKNOWN;
        else if (v.quality < r->min_quality) v.failed |= R_QUALITY;
    }
    if (r->language[0]) {
        if (!e->languages) v.failed |= R_LANGUAGE_UNKNOWN;
        else if (!lists_language(e->languages, r->language)) v.failed |= R_LANGUAGE;
    }
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * Routes
 * ------------------------------------------------------------------------------------------- */

struct pyagent_route {
    route_snapshot *snap;   /* held: entries stay valid for the route's life */
    route_req req;
    const route_entry *chosen; /* NULL: none qualified */
    verdict chosen_verdict;
    int64_t n_qualified;
    char *reason;
    uint32_t *rejected;     /* snapshot indices, in name order */
    size_t n_rejected;
    char **rejection_text;  /* formatted on first request */
};

static const struct {
    uint32_t bit;
    const char *name;
} cap_names[] = {
    {PA_CAP_TOOLS, "tool calling"},     {PA_CAP_PARALLEL_TOOLS, "parallel tool calls"},
    {PA_CAP_JSON_MODE, "JSON mode"},    {PA_CAP_VISION, "vision"},
    {PA_CAP_AUDIO_INPUT, "audio input"}, {PA_CAP_AUDIO_OUTPUT, "audio output"},
    {PA_CAP_REASONING, "reasoning"},    {PA_CAP_PROMPT_CACHING, "prompt caching"},
    {PA_CAP_SYSTEM_ROLE, "system role"},
};

/* A growing string that appends "; " between parts. */
typedef struct text_buf {
    char data[1024];
    size_t len;
} text_buf;

static void __attribute__((format(printf, 2, 3))) part(text_buf *t, const char *fmt, ...) {
    if (t->len + 3 >= sizeof t->data) return;
    if (t->len) {
        memcpy(t->data + t->len, "; ", 3);
        t->len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->data + t->len, sizeof t->data - t->len, fmt, ap);
    va_end(ap);
    if (n > 0) t->len += (size_t)n < sizeof t->data - t->len ? (size_t)n
                                                              : sizeof t->data - t->len - 1;
}

static void format_date(double t, char *out, size_t size) {
    time_t s = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&s, &tm) || !strftime(out, size, "%Y-%m-%d", &tm))
        snprintf(out, size, "%.0f", t);
}

static char *format_rejection(const route_entry *e, const route_req *r) {
    verdict v = evaluate(e, r);
    text_buf t = {.len = 0};
    t.data[0] = '\0';
    uint32_t f = v.failed;
    if (f & R_MODE) part(&t, "mode '%s' does not generate text", e->mode);
    if (f & R_DEPRECATED) {
        char date[32];
        format_date(e->deprecation_date, date, sizeof date);
        part(&t, "deprecated since %s", date);
    }
    if (f & R_NOT_LOCAL) part(&t, "not local");
    const char *window = e->is_local ? "input + output" : "input";
    double need = e->is_local ? r->context + r->output : r->context;
    if (f & R_CONTEXT_UNKNOWN) part(&t, "context window not recorded");
    if (f & R_CONTEXT)
        part(&t, "context %.0f < %.0f %s tokens needed", e->context_tokens, need, window);
    if (f & R_OUTPUT_UNKNOWN) part(&t, "max output tokens not recorded");
    if (f & R_OUTPUT)
        part(&t, "max output %.0f < %.0f tokens needed", e->max_output_tokens, r->output);
    for (size_t i = 0; (f & R_CAPS) && i < sizeof cap_names / sizeof cap_names[0]; i++) {
        uint32_t bit = cap_names[i].bit;
        if (!(r->need_caps & bit) || (e->has & bit)) continue;
        part(&t, "%s %s", cap_names[i].name, e->known & bit ? "not supported" : "not recorded");
    }
    if (f & R_PRICE_UNKNOWN) part(&t, "price not recorded");
    if (f & R_CURRENCY) part(&t, "priced in %s, not %s", e->currency, r->currency);
    if (f & R_COST) part(&t, "estimated cost %.6g %s > %.6g", v.cost, e->currency, r->max_cost);
    if (f & R_LATENCY_UNKNOWN) part(&t, "latency not measured (ttft_ms, tokens_per_second)");
    if (f & R_LATENCY)
        part(&t, "estimated latency %.0f ms > %.0f ms", v.latency_ms, r->max_latency_ms);
    if (f & R_TPS_UNKNOWN) part(&t, "tokens/s not measured");
    if (f & R_TPS) part(&t, "%.1f tokens/s < %.1f", e->tokens_per_second, r->min_tps);
    const char *qname = r->task[0] ? "quality." : "quality";
    if (f & R_QUALITY_UNKNOWN) part(&t, "%s%s not recorded", qname, r->task);
    if (f & R_QUALITY) part(&t, "%s%s %.3g < %.3g", qname, r->task, v.quality, r->min_quality);
    if (f & R_LANGUAGE_UNKNOWN) part(&t, "languages not recorded");
    if (f & R_LANGUAGE) part(&t, "language '%s' not among '%s'", r->language, e->languages);
    return strdup(t.data);
}

static char *format_choice(const pyagent_route *route, size_t n_models) {
    const route_entry *e = route->chosen;
    const route_req *r = &route->req;
    const verdict *v = &route->chosen_verdict;
    text_buf t = {.len = 0};
    int n = snprintf(t.data, sizeof t.data,
                     "cheapest of %lld qualifying model%s (of %zu): estimated cost %.6g %s for "
                     "%.0f input + %.0f output tokens",
                     (long long)route->n_qualified, route->n_qualified == 1 ? "" : "s", n_models,
                     v->cost, r->currency, r->context, r->output);
    t.len = n > 0 ? (size_t)n : 0;
    if (e->is_local) part(&t, "local");
    if (!isnan(e->context_tokens)) part(&t, "context %.0f", e->context_tokens);
    if (!isnan(e->max_output_tokens)) part(&t, "max output %.0f", e->max_output_tokens);
    for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
        if (r->need_caps & cap_names[i].bit) part(&t, "%s", cap_names[i].name);
    if (!isnan(v->latency_ms)) part(&t, "estimated latency %.0f ms", v->latency_ms);
    if (!isnan(v->quality)) part(&t, "quality %.3g", v->quality);
    return strdup(t.data);
}

static void read_requirements(const pyagent_params *p, route_req *r) {
    const int32_t K = PYAGENT_PARAMS_ROUTE;
    r->context = (double)pa_params_i64(p, K, PA_ROUTE_CONTEXT_TOKENS);
    r->output = (double)pa_params_i64(p, K, PA_ROUTE_OUTPUT_TOKENS);
    r->cached = (double)pa_params_i64(p, K, PA_ROUTE_CACHED_TOKENS);
    if (r->cached > r->context) r->cached = r->context;
    static const struct {
        int key;
        uint32_t bit;
    } needs[] = {
        {PA_ROUTE_NEED_TOOLS, PA_CAP_TOOLS},
        {PA_ROUTE_NEED_PARALLEL_TOOLS, PA_CAP_PARALLEL_TOOLS},
        {PA_ROUTE_NEED_JSON_MODE, PA_CAP_JSON_MODE},
        {PA_ROUTE_NEED_VISION, PA_CAP_VISION},
        {PA_ROUTE_NEED_AUDIO_INPUT, PA_CAP_AUDIO_INPUT},
        {PA_ROUTE_NEED_REASONING, PA_CAP_REASONING},
        {PA_ROUTE_NEED_PROMPT_CACHING, PA_CAP_PROMPT_CACHING},
    };
    r->need_caps = 0;
    for (size_t i = 0; i < sizeof needs / sizeof needs[0]; i++)
        if (pa_params_i64(p, K, needs[i].key)) r->need_caps |= needs[i].bit;
    r->local_only = pa_params_i64(p, K, PA_ROUTE_LOCAL_ONLY) != 0;
    r->max_cost = pa_params_f64(p, K, PA_ROUTE_MAX_COST);
    r->max_latency_ms = pa_params_f64(p, K, PA_ROUTE_MAX_LATENCY_MS);
    r->min_quality = pa_params_f64(p, K, PA_ROUTE_MIN_QUALITY);
    r->min_tps = pa_params_f64(p, K, PA_ROUTE_MIN_TOKENS_PER_SECOND);
    snprintf(r->language, sizeof r->language, "%s", pa_params_str(p, K, PA_ROUTE_LANGUAGE));
    snprintf(r->task, sizeof r->task, "%s", pa_params_str(p, K, PA_ROUTE_TASK));
    snprintf(r->currency, sizeof r->currency, "%s", pa_params_str(p, K, PA_ROUTE_CURRENCY));
    r->now = pa_reg_now();
}

/* True when verdict `a` of entry `ea` beats the best so far (`b`); entries come in name order,
 * so an equal one never replaces the best and the smaller name wins ties. */
static bool better(const verdict *a, const verdict *b) {
    if (a->cost != b->cost) return a->cost < b->cost;
    if (isnan(a->quality)) return false;
    return isnan(b->quality) || a->quality > b->quality;
}

void pyagent_route_destroy(pyagent_route *route) {
    if (!route) return;
    if (route->rejection_text) {
        for (size_t i = 0; i < route->n_rejected; i++) free(route->rejection_text[i]);
        free(route->rejection_text);
    }
    free(route->rejected);
    free(route->reason);
    pa_snapshot_release(route->snap);
    free(route);
}

pyagent_status pyagent_registry_route(pyagent_registry *registry,
                                      const pyagent_params *requirements,
                                      pyagent_route **route) {
    if (!registry || !route) return PYAGENT_ERR_INVALID_ARGUMENT;
    *route = NULL;
    pa_err err = {0};
    pyagent_status st = pa_params_check_kind(requirements, PYAGENT_PARAMS_ROUTE, &err);
    if (!st && !registry->db)
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "the registry did not open");
    if (st) return pa_reg_finish(registry, st, &err);
    pyagent_route *r = calloc(1, sizeof *r);
    if (!r) return pa_reg_finish(registry, pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY, "out of "
                                                   "memory"), &err);
    read_requirements(requirements, &r->req);

    pthread_mutex_lock(&registry->lock);
    st = pa_reg_refresh(registry, &err);
    if (!st) {
        r->snap = registry->snapshot;
        atomic_fetch_add(&r->snap->refcount, 1);
    }
    pthread_mutex_unlock(&registry->lock);
    if (st) {
        free(r);
        return pa_reg_finish(registry, st, &err);
    }

    const route_snapshot *snap = r->snap;
    if (snap->n && !(r->rejected = malloc(snap->n * sizeof *r->rejected))) {
        pyagent_route_destroy(r);
        return pa_reg_finish(registry, pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY, "out of "
                                               "memory"), &err);
    }
    for (size_t i = 0; i < snap->n; i++) {
        verdict v = evaluate(snap->entries[i], &r->req);
        if (v.failed) {
            r->rejected[r->n_rejected++] = (uint32_t)i;
            continue;
        }
        r->n_qualified++;
        if (!r->chosen || better(&v, &r->chosen_verdict)) {
            r->chosen = snap->entries[i];
            r->chosen_verdict = v;
        }
    }
    if (r->chosen) {
        r->reason = format_choice(r, snap->n);
    } else {
        char text[128];
        snprintf(text, sizeof text, "none of %zu model%s qualifies", snap->n,
                 snap->n == 1 ? "" : "s");
        r->reason = strdup(text);
        st = pa_fail(&err, PYAGENT_ERR_NO_MODEL,
                     "no model meets the requirements (%zu model%s considered; see the route's "
                     "rejections)", snap->n, snap->n == 1 ? "" : "s");
    }
    if (!r->reason) {
        pyagent_route_destroy(r);
        return pa_reg_finish(registry, pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY, "out of "
                                               "memory"), &err);
    }
    *route = r;
    return pa_reg_finish(registry, st, &err);
}

const char *pyagent_route_model(const pyagent_route *route) {
    return route && route->chosen ? route->chosen->name : "";
}

const char *pyagent_route_reason(const pyagent_route *route) {
    return route && route->reason ? route->reason : "";
}

pyagent_status pyagent_route_summary_get(const pyagent_route *route,
                                         pyagent_route_summary *summary) {
    if (!route || !summary || summary->struct_size < sizeof(uint32_t))
        return PYAGENT_ERR_INVALID_ARGUMENT;
    pyagent_route_summary s = {
        .struct_size = summary->struct_size,
        .reserved = 0,
        .n_models = (int64_t)route->snap->n,
        .n_qualified = route->n_qualified,
        .estimated_cost = route->chosen ? route->chosen_verdict.cost : NAN,
        .estimated_latency_ms = route->chosen ? route->chosen_verdict.latency_ms : NAN,
        .quality = route->chosen ? route->chosen_verdict.quality : NAN,
    };
    size_t n = summary->struct_size < sizeof s ? summary->struct_size : sizeof s;
    memcpy(summary, &s, n);
    return PYAGENT_OK;
}

size_t pyagent_route_n_rejected(const pyagent_route *route) {
    return route ? route->n_rejected : 0;
}

pyagent_status pyagent_route_rejection(pyagent_route *route, size_t index, const char **model,
                                       const char **reason) {
    if (!route || !model || !reason) return PYAGENT_ERR_INVALID_ARGUMENT;
    if (index >= route->n_rejected) return PYAGENT_ERR_OUT_OF_RANGE;
    if (!route->rejection_text &&
        !(route->rejection_text = calloc(route->n_rejected, sizeof *route->rejection_text)))
        return PYAGENT_ERR_OUT_OF_MEMORY;
    const route_entry *e = route->snap->entries[route->rejected[index]];
    if (!route->rejection_text[index] &&
        !(route->rejection_text[index] = format_rejection(e, &route->req)))
        return PYAGENT_ERR_OUT_OF_MEMORY;
    *model = e->name;
    *reason = route->rejection_text[index];
    return PYAGENT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Lists: every model, due models
 * ------------------------------------------------------------------------------------------- */

static bool is_due(const route_entry *e, int64_t now, int64_t period) {
    int64_t caps = e->checked_at[0], prices = e->checked_at[1];
    if (caps == 0 || now - caps >= period) return true;
    return !e->is_local && (prices == 0 || now - prices >= period);
}

/* Writes the names of the snapshot's entries (only the due ones with `due_only`), '\n' after
 * each, then a NUL: two-call pattern. */
static pyagent_status write_names(pyagent_registry *reg, int64_t now, bool due_only, char *names,
                                  size_t capacity, size_t *needed, size_t *count, pa_err *err) {
    const route_snapshot *snap = reg->snapshot;
    size_t total = 1, n = 0;
    for (size_t i = 0; i < snap->n; i++)
        if (!due_only || is_due(snap->entries[i], now, reg->check_period_s)) {
            total += strlen(snap->entries[i]->name) + 1;
            n++;
        }
    *needed = total;
    if (count) *count = n;
    if (capacity < total)
        return pa_fail(err, PYAGENT_ERR_BUFFER_TOO_SMALL, "the list needs %zu bytes", total);
    char *p = names;
    for (size_t i = 0; i < snap->n; i++)
        if (!due_only || is_due(snap->entries[i], now, reg->check_period_s)) {
            size_t len = strlen(snap->entries[i]->name);
            memcpy(p, snap->entries[i]->name, len);
            p[len] = '\n';
            p += len + 1;
        }
    *p = '\0';
    return PYAGENT_OK;
}

static pyagent_status list_names(pyagent_registry *registry, int64_t now, bool due_only,
                                 char *names, size_t capacity, size_t *needed, size_t *count) {
    if (!registry) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = PYAGENT_OK;
    if (!registry->db)
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "the registry did not open");
    else if (!needed || (capacity && !names))
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT,
                     "needed is NULL, or names is NULL with a capacity");
    if (st) return pa_reg_finish(registry, st, &err);
    pthread_mutex_lock(&registry->lock);
    st = pa_reg_refresh(registry, &err);
    if (!st) st = write_names(registry, now, due_only, names, capacity, needed, count, &err);
    pthread_mutex_unlock(&registry->lock);
    return pa_reg_finish(registry, st, &err);
}

pyagent_status pyagent_registry_list(pyagent_registry *registry, char *names, size_t capacity,
                                     size_t *needed, size_t *count) {
    return list_names(registry, 0, false, names, capacity, needed, count);
}

pyagent_status pyagent_registry_due(pyagent_registry *registry, int64_t now, char *names,
                                    size_t capacity, size_t *needed, size_t *count) {
    return list_names(registry, now, true, names, capacity, needed, count);
}
