/*
 * The capability registry: its file (created, migrated, or refused and left untouched), models
 * and values with provenance and history, routing (cheapest qualifying model, deterministic
 * ties, a reason for every rejection), due checks at the period boundary, LiteLLM import with
 * hostile input, export, writers in many threads and processes, and measurements of a local
 * model through the engine.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <pyagent/pyagent.h>
#include <sqlite3.h>

#define DAY 86400
#define WEEK (7 * DAY)
#define T0 1750000000 /* a fixed "now" for recorded values: 2025-06-15 */

static char dir[512];
static char model_path[1024];

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                     */

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int make_dir(void **state) {
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/pyagent-registry-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
    (void)state;
    return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *in_dir(const char *name) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static pyagent_registry *open_registry(const char *name) {
    pyagent_registry *reg = NULL;
    pyagent_status st = pyagent_registry_open(in_dir(name), NULL, &reg);
    if (st) fprintf(stderr, "open: %s\n", pyagent_registry_last_error(reg));
    assert_int_equal(st, PYAGENT_OK);
    return reg;
}

static void record(pyagent_registry *reg, const char *model, const char *key, double value) {
    pyagent_status st = pyagent_registry_record_f64(reg, model, key, value, "test", T0, 1.0);
    if (st) fprintf(stderr, "record %s.%s: %s\n", model, key, pyagent_registry_last_error(reg));
    assert_int_equal(st, PYAGENT_OK);
}

static void record_str(pyagent_registry *reg, const char *model, const char *key,
                       const char *value) {
    assert_int_equal(pyagent_registry_record_str(reg, model, key, value, "test", T0, 1.0),
                     PYAGENT_OK);
}

/* A remote chat model with a context, an output limit and prices per 1M tokens. */
static void add_remote(pyagent_registry *reg, const char *name, double context, double output,
                       double price_in, double price_out) {
    assert_int_equal(pyagent_registry_add_model(reg, name, "cloud", NULL, NULL), PYAGENT_OK);
    record(reg, name, "context_tokens", context);
    record(reg, name, "max_output_tokens", output);
    record(reg, name, "price_input", price_in);
    record(reg, name, "price_output", price_out);
}

static char *read_whole(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)n + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    data[n] = '\0';
    *len = (size_t)n;
    return data;
}

static void write_whole(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Opening `name` must fail with PYAGENT_ERR_DATABASE, a message holding `expect`, and leave
 * the file byte for byte as it was. */
static void assert_refused_untouched(const char *name, const char *expect) {
    char path[1024];
    snprintf(path, sizeof path, "%s", in_dir(name));
    size_t before_len, after_len;
    char *before = read_whole(path, &before_len);
    pyagent_registry *reg = NULL;
    assert_int_equal(pyagent_registry_open(path, NULL, &reg), PYAGENT_ERR_DATABASE);
    assert_non_null(reg);
    if (!strstr(pyagent_registry_last_error(reg), expect))
        fail_msg("message '%s' lacks '%s'", pyagent_registry_last_error(reg), expect);
    /* a handle that did not open refuses every call, with a message */
    assert_int_equal(pyagent_registry_add_model(reg, "m", "cloud", NULL, NULL),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    pyagent_registry_destroy(reg);
    char *after = read_whole(path, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);
}

static int64_t sql_int(const char *path, const char *sql) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

static void sql_exec(const char *path, const char *sql) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static pyagent_route *route_ok(pyagent_registry *reg, const pyagent_params *need) {
    pyagent_route *route = NULL;
    pyagent_status st = pyagent_registry_route(reg, need, &route);
    if (st) fprintf(stderr, "route: %s\n", pyagent_registry_last_error(reg));
    assert_int_equal(st, PYAGENT_OK);
    assert_non_null(route);
    return route;
}

/* The rejection reason of `model` in `route`, or NULL if it was not rejected. */
static const char *rejection_of(pyagent_route *route, const char *model) {
    for (size_t i = 0; i < pyagent_route_n_rejected(route); i++) {
        const char *name, *reason;
        assert_int_equal(pyagent_route_rejection(route, i, &name, &reason), PYAGENT_OK);
        if (strcmp(name, model) == 0) return reason;
    }
    return NULL;
}

static void assert_contains(const char *text, const char *part) {
    if (!text || !strstr(text, part)) fail_msg("'%s' lacks '%s'", text ? text : "(null)", part);
}

/* ------------------------------------------------------------------------------------------ */
/* The file                                                                                    */

static void open_creates_a_wal_registry_with_a_schema_version(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("new.db");
    assert_string_equal(pyagent_registry_last_error(reg), "");
    pyagent_registry_destroy(reg);
    const char *path = in_dir("new.db");
    assert_int_equal(sql_int(path, "PRAGMA user_version"), 1);
    assert_int_equal(sql_int(path, "PRAGMA application_id"), 0x50794167);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static void a_memory_registry_lives_until_destroyed(void **state) {
    (void)state;
    pyagent_registry *reg = NULL;
    assert_int_equal(pyagent_registry_open(":memory:", NULL, &reg), PYAGENT_OK);
    add_remote(reg, "m", 1000, 100, 1, 1);
    pyagent_route *route = route_ok(reg, NULL);
    assert_string_equal(pyagent_route_model(route), "m");
    pyagent_route_destroy(route);
    pyagent_registry_destroy(reg);
    assert_int_equal(pyagent_registry_open(":memory:", NULL, &reg), PYAGENT_OK);
    size_t needed, count;
    assert_int_equal(pyagent_registry_list(reg, NULL, 0, &needed, &count),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(count, 0);
    assert_int_equal(needed, 1);
    pyagent_registry_destroy(reg);
}

static void reopening_keeps_models_and_values(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("keep.db");
    add_remote(reg, "m1", 1000, 100, 1, 2);
    pyagent_registry_destroy(reg);
    reg = open_registry("keep.db");
    double v;
    int64_t at;
    assert_int_equal(pyagent_registry_get_f64(reg, "m1", "price_output", &v, &at), PYAGENT_OK);
    assert_true(v == 2 && at == T0);
    pyagent_registry_destroy(reg);
}

static void open_refuses_a_file_that_is_not_sqlite(void **state) {
    (void)state;
    const char text[] = "model,price\ngpt,1\n this is a CSV file, not a database, and it is long "
                        "enough to hold a page header's worth of bytes...........................";
    write_whole(in_dir("notes.csv"), text, sizeof text - 1);
    assert_refused_untouched("notes.csv", "not a SQLite database");
}

static void fill_registry(const char *name, int n_models) {
    pyagent_registry *reg = open_registry(name);
    char model[64];
    for (int i = 0; i < n_models; i++) {
        snprintf(model, sizeof model, "model-%04d", i);
        add_remote(reg, model, 1000 + i, 100, 1, 2);
    }
    pyagent_registry_destroy(reg);
}

static void open_refuses_a_corrupt_registry(void **state) {
    (void)state;
    fill_registry("corrupt.db", 60);
    size_t len;
    char *data = read_whole(in_dir("corrupt.db"), &len);
    assert_true(len > 4 * 4096);
    for (size_t i = 2 * 4096 + 8; i < 2 * 4096 + 1024; i++) data[i] = (char)(i * 131 + 7);
    for (size_t i = len - 4096 + 8; i < len - 2048; i++) data[i] = (char)0xee;
    write_whole(in_dir("corrupt.db"), data, len);
    free(data);
    assert_refused_untouched("corrupt.db", "corrupt");
}

static void open_refuses_a_truncated_registry(void **state) {
    (void)state;
    fill_registry("cut.db", 60);
    size_t len;
    char *data = read_whole(in_dir("cut.db"), &len);
    write_whole(in_dir("cut.db"), data, len / 2);
    free(data);
    assert_refused_untouched("cut.db", "corrupt");
}

static void open_refuses_another_programs_database(void **state) {
    (void)state;
    sql_exec(in_dir("other.db"), "CREATE TABLE invoices(id INTEGER PRIMARY KEY, total REAL);"
                                 "INSERT INTO invoices VALUES (1, 9.5);");
    assert_refused_untouched("other.db", "another program's SQLite database");
    /* another program's database with an application id of its own */
    sql_exec(in_dir("other2.db"), "PRAGMA application_id = 1234; CREATE TABLE t(x);");
    assert_refused_untouched("other2.db", "application_id 0x000004d2");
}

static void open_refuses_a_newer_schema(void **state) {
    (void)state;
    fill_registry("newer.db", 2);
    sql_exec(in_dir("newer.db"), "PRAGMA user_version = 7");
    assert_refused_untouched("newer.db", "schema 7 is newer than this library's 1");
}

static void read_only_opens_existing_registries_and_refuses_writes(void **state) {
    (void)state;
    fill_registry("ro.db", 3);
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_REGISTRY);
    assert_int_equal(pyagent_params_set_i64(p, "read_only", 1), PYAGENT_OK);
    pyagent_registry *reg = NULL;
    assert_int_equal(pyagent_registry_open(in_dir("ro.db"), p, &reg), PYAGENT_OK);
    size_t needed, count;
    char names[256];
    assert_int_equal(pyagent_registry_list(reg, names, sizeof names, &needed, &count),
                     PYAGENT_OK);
    assert_int_equal(count, 3);
    assert_string_equal(names, "model-0000\nmodel-0001\nmodel-0002\n");
    assert_int_equal(pyagent_registry_add_model(reg, "x", "cloud", NULL, NULL),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_contains(pyagent_registry_last_error(reg), "read-only");
    pyagent_registry_destroy(reg);
    /* read-only never creates a file */
    reg = NULL;
    assert_int_equal(pyagent_registry_open(in_dir("absent.db"), p, &reg), PYAGENT_ERR_IO);
    pyagent_registry_destroy(reg);
    assert_int_equal(access(in_dir("absent.db"), F_OK), -1);
    pyagent_params_destroy(p);
}

static void open_reports_paths_it_cannot_use(void **state) {
    (void)state;
    pyagent_registry *reg = NULL;
    assert_int_equal(pyagent_registry_open(in_dir("no/such/dir/r.db"), NULL, &reg),
                     PYAGENT_ERR_IO);
    assert_contains(pyagent_registry_last_error(reg), "no/such/dir/r.db");
    pyagent_registry_destroy(reg);
    assert_int_equal(pyagent_registry_open(NULL, NULL, &reg), PYAGENT_ERR_INVALID_ARGUMENT);
    pyagent_registry_destroy(reg);
    assert_int_equal(pyagent_registry_open("x.db", NULL, NULL), PYAGENT_ERR_INVALID_ARGUMENT);
    pyagent_params *wrong = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    assert_int_equal(pyagent_registry_open(in_dir("w.db"), wrong, &reg),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_contains(pyagent_registry_last_error(reg), "expected registry params");
    pyagent_registry_destroy(reg);
    pyagent_params_destroy(wrong);
    pyagent_registry_destroy(NULL);
    pyagent_route_destroy(NULL);
    assert_string_equal(pyagent_registry_last_error(NULL), "");
    assert_string_equal(pyagent_route_model(NULL), "");
    assert_string_equal(pyagent_route_reason(NULL), "");
    assert_int_equal(pyagent_route_n_rejected(NULL), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Models and values                                                                           */

static void add_model_checks_names_and_is_idempotent(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("names.db");
    assert_int_equal(pyagent_registry_add_model(reg, "gpt-x", "openai", NULL, NULL), PYAGENT_OK);
    assert_int_equal(pyagent_registry_add_model(reg, "gpt-x", "openai", "", ""), PYAGENT_OK);
    assert_int_equal(pyagent_registry_add_model(reg, "gpt-x", "azure", NULL, NULL),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_contains(pyagent_registry_last_error(reg), "already registered as provider 'openai'");
    assert_int_equal(pyagent_registry_add_model(reg, "bad\nname", "openai", NULL, NULL),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_registry_add_model(reg, "", "openai", NULL, NULL),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_registry_add_model(reg, "m", NULL, NULL, NULL),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_registry_add_model(reg, "bad\xff", "openai", NULL, NULL),
                     PYAGENT_ERR_INVALID_UTF8);
    char long_name[400];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(pyagent_registry_add_model(reg, long_name, "openai", NULL, NULL),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_registry_add_model(reg, "tiny", "local", NULL, NULL),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_contains(pyagent_registry_last_error(reg), "GGUF path");
    /* a local model starts with a price of 0 */
    assert_int_equal(pyagent_registry_add_model(reg, "tiny", "local", "/models/tiny.gguf", NULL),
                     PYAGENT_OK);
    double v;
    assert_int_equal(pyagent_registry_get_f64(reg, "tiny", "price_input", &v, NULL), PYAGENT_OK);
    assert_true(v == 0);
    /* what add_model stored reads back through get_str */
    char text[64];
    size_t needed;
    assert_int_equal(pyagent_registry_get_str(reg, "tiny", "location", text, sizeof text,
                                              &needed), PYAGENT_OK);
    assert_string_equal(text, "/models/tiny.gguf");
    assert_int_equal(pyagent_registry_get_str(reg, "gpt-x", "provider", text, sizeof text,
                                              &needed), PYAGENT_OK);
    assert_string_equal(text, "openai");
    assert_int_equal(pyagent_registry_get_str(reg, "gpt-x", "remote_id", text, sizeof text,
                                              &needed), PYAGENT_OK);
    assert_string_equal(text, "gpt-x");
    assert_int_equal(pyagent_registry_get_f64(reg, "nobody", "price_input", &v, NULL),
                     PYAGENT_ERR_NO_MODEL);
    assert_contains(pyagent_registry_last_error(reg), "no model named 'nobody'");
    pyagent_registry_destroy(reg);
}

static void values_keep_their_type_range_and_provenance(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("values.db");
    assert_int_equal(pyagent_registry_add_model(reg, "m", "cloud", NULL, NULL), PYAGENT_OK);
    double v = 0;
    int64_t at = -1;
    assert_int_equal(pyagent_registry_get_f64(reg, "m", "tokens_per_second", &v, &at),
                     PYAGENT_OK);
    assert_true(isnan(v) && at == 0); /* never recorded: unknown */
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "tokens_per_second", 55.5, "bench",
                                                 T0, 0.8), PYAGENT_OK);
    assert_int_equal(pyagent_registry_get_f64(reg, "m", "tokens_per_second", &v, &at),
                     PYAGENT_OK);
    assert_true(v == 55.5 && at == T0);
    /* strings, two-call */
    record_str(reg, "m", "languages", "en,de");
    size_t needed = 0;
    assert_int_equal(pyagent_registry_get_str(reg, "m", "languages", NULL, 0, &needed),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(needed, 6);
    char text[16];
    assert_int_equal(pyagent_registry_get_str(reg, "m", "languages", text, sizeof text, &needed),
                     PYAGENT_OK);
    assert_string_equal(text, "en,de");
    assert_int_equal(pyagent_registry_get_str(reg, "m", "mode", text, sizeof text, &needed),
                     PYAGENT_OK);
    assert_string_equal(text, "");
    /* wrong kinds, unknown keys, bad values */
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "languages", 1, "t", T0, 1),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_registry_record_str(reg, "m", "tools", "yes", "t", T0, 1),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_registry_get_str(reg, "m", "tools", text, sizeof text, &needed),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "context_window", 8, "t", T0, 1),
                     PYAGENT_ERR_UNKNOWN_KEY);
    assert_contains(pyagent_registry_last_error(reg), "context_tokens");
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "tools", 2, "t", T0, 1),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "context_tokens", 1.5, "t", T0, 1),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "context_tokens", 1e300, "t", T0, 1),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "price_input", -1, "t", T0, 1),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "price_input", NAN, "t", T0, 1),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "quality", 1.2, "t", T0, 1),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "quality", 0.5, "t", T0, 1.5),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "quality", 0.5, "t", -1, 1),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "quality", 0.5, "", T0, 1),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_registry_record_str(reg, "m", "languages", "en\tde", "t", T0, 1),
                     PYAGENT_ERR_OUT_OF_RANGE);
    /* per-task quality */
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "quality.code", 0.7, "t", T0, 1),
                     PYAGENT_OK);
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "quality.Code!", 0.7, "t", T0, 1),
                     PYAGENT_ERR_UNKNOWN_KEY);
    pyagent_registry_destroy(reg);
}

static void the_latest_measurement_is_current_and_history_keeps_all(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("history.db");
    assert_int_equal(pyagent_registry_add_model(reg, "m", "cloud", NULL, NULL), PYAGENT_OK);
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "price_input", 3, "list 2", T0, 1),
                     PYAGENT_OK);
    /* learned later, but measured earlier: history, not current */
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "price_input", 5, "list 1", T0 - DAY,
                                                 1), PYAGENT_OK);
    /* same time: the later recording wins */
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "price_output", 7, "a", T0, 1),
                     PYAGENT_OK);
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "price_output", 8, "b", T0, 1),
                     PYAGENT_OK);
    double v;
    assert_int_equal(pyagent_registry_get_f64(reg, "m", "price_input", &v, NULL), PYAGENT_OK);
    assert_true(v == 3);
    assert_int_equal(pyagent_registry_get_f64(reg, "m", "price_output", &v, NULL), PYAGENT_OK);
    assert_true(v == 8);
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(pyagent_registry_export(reg, "m", PYAGENT_EXPORT_HISTORY, &json, &len),
                     PYAGENT_OK);
    assert_int_equal(strlen(json), len);
    assert_contains(json, "\"list 1\"");
    assert_contains(json, "\"list 2\"");
    assert_contains(json, "\"history\"");
    assert_contains(json, "\"input_cost_per_token\": 3e-6");
    pyagent_free(json);
    assert_int_equal(sql_int(in_dir("history.db"), "SELECT count(*) FROM facts"), 4);
    assert_int_equal(sql_int(in_dir("history.db"), "SELECT count(*) FROM checks"), 4);
    pyagent_registry_destroy(reg);
}

static void removed_models_leave_routing_and_come_back_with_their_values(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("remove.db");
    add_remote(reg, "a", 1000, 100, 1, 1);
    add_remote(reg, "b", 1000, 100, 2, 2);
    assert_int_equal(pyagent_registry_remove_model(reg, "a"), PYAGENT_OK);
    assert_int_equal(pyagent_registry_remove_model(reg, "a"), PYAGENT_ERR_NO_MODEL);
    pyagent_route *route = route_ok(reg, NULL);
    assert_string_equal(pyagent_route_model(route), "b");
    pyagent_route_destroy(route);
    assert_int_equal(pyagent_registry_add_model(reg, "a", "cloud", NULL, NULL), PYAGENT_OK);
    route = route_ok(reg, NULL);
    assert_string_equal(pyagent_route_model(route), "a");
    pyagent_route_destroy(route);
    pyagent_registry_destroy(reg);
}

/* ------------------------------------------------------------------------------------------ */
/* Routing                                                                                     */

static pyagent_params *requirements(int64_t context, int64_t output) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ROUTE);
    assert_non_null(p);
    assert_int_equal(pyagent_params_set_i64(p, "context_tokens", context), PYAGENT_OK);
    assert_int_equal(pyagent_params_set_i64(p, "output_tokens", output), PYAGENT_OK);
    return p;
}

static void routing_picks_the_cheapest_qualifying_model(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("route.db");
    add_remote(reg, "big-expensive", 200000, 16000, 10, 30);
    add_remote(reg, "big-cheap", 128000, 16000, 2, 8);
    add_remote(reg, "small-cheapest", 8000, 4000, 0.1, 0.2);
    add_remote(reg, "big-cheap-no-tools", 128000, 16000, 1, 1);
    record(reg, "big-expensive", "tools", 1);
    record(reg, "big-cheap", "tools", 1);
    record(reg, "small-cheapest", "tools", 1);
    record(reg, "big-cheap-no-tools", "tools", 0);

    pyagent_params *need = requirements(20000, 1000);
    assert_int_equal(pyagent_params_set_i64(need, "need_tools", 1), PYAGENT_OK);
    pyagent_route *route = route_ok(reg, need);
    assert_string_equal(pyagent_route_model(route), "big-cheap");
    pyagent_route_summary s = {.struct_size = sizeof s};
    assert_int_equal(pyagent_route_summary_get(route, &s), PYAGENT_OK);
    assert_int_equal(s.n_models, 4);
    assert_int_equal(s.n_qualified, 2);
    assert_true(fabs(s.estimated_cost - (20000 * 2 + 1000 * 8) / 1e6) < 1e-12);
    assert_true(isnan(s.estimated_latency_ms) && isnan(s.quality));
    assert_contains(pyagent_route_reason(route), "cheapest of 2 qualifying models (of 4)");
    assert_contains(pyagent_route_reason(route), "0.048 USD");
    assert_contains(pyagent_route_reason(route), "tool calling");
    assert_int_equal(pyagent_route_n_rejected(route), 2);
    assert_contains(rejection_of(route, "small-cheapest"),
                    "context 8000 < 20000 input tokens needed");
    assert_contains(rejection_of(route, "big-cheap-no-tools"), "tool calling not supported");
    assert_null(rejection_of(route, "big-expensive"));
    const char *name, *reason;
    assert_int_equal(pyagent_route_rejection(route, 2, &name, &reason), PYAGENT_ERR_OUT_OF_RANGE);
    pyagent_route_destroy(route);

    /* a budget below the cheapest qualifying one: nothing qualifies */
    assert_int_equal(pyagent_params_set_f64(need, "max_cost", 0.01), PYAGENT_OK);
    route = NULL;
    assert_int_equal(pyagent_registry_route(reg, need, &route), PYAGENT_ERR_NO_MODEL);
    assert_non_null(route);
    assert_string_equal(pyagent_route_model(route), "");
    assert_string_equal(pyagent_route_reason(route), "none of 4 models qualifies");
    assert_int_equal(pyagent_route_n_rejected(route), 4);
    assert_contains(rejection_of(route, "big-cheap"), "estimated cost 0.048 USD > 0.01");
    assert_contains(pyagent_registry_last_error(reg), "no model meets the requirements");
    s.struct_size = sizeof s;
    assert_int_equal(pyagent_route_summary_get(route, &s), PYAGENT_OK);
    assert_true(s.n_qualified == 0 && isnan(s.estimated_cost));
    pyagent_route_destroy(route);
    pyagent_params_destroy(need);
    pyagent_registry_destroy(reg);
}

static void routing_breaks_ties_by_quality_then_name(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("ties.db");
    add_remote(reg, "zeta", 1000, 100, 1, 1);
    add_remote(reg, "alpha", 1000, 100, 1, 1);
    add_remote(reg, "mid", 1000, 100, 1, 1);
    pyagent_params *need = requirements(100, 10);
    for (int i = 0; i < 3; i++) { /* the same answer every time */
        pyagent_route *route = route_ok(reg, need);
        assert_string_equal(pyagent_route_model(route), "alpha");
        pyagent_route_destroy(route);
    }
    record(reg, "zeta", "quality", 0.9);
    record(reg, "mid", "quality", 0.9);
    pyagent_route *route = route_ok(reg, need);
    assert_string_equal(pyagent_route_model(route), "mid");
    pyagent_route_destroy(route);
    /* a cheaper model wins over a better one */
    record(reg, "alpha", "price_input", 0.5);
    route = route_ok(reg, need);
    assert_string_equal(pyagent_route_model(route), "alpha");
    pyagent_route_destroy(route);
    pyagent_params_destroy(need);
    pyagent_registry_destroy(reg);
}

static void routing_treats_what_is_not_recorded_as_unknown(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("unknown.db");
    assert_int_equal(pyagent_registry_add_model(reg, "bare", "cloud", NULL, NULL), PYAGENT_OK);
    assert_int_equal(pyagent_registry_add_model(reg, "no-price", "cloud", NULL, NULL), PYAGENT_OK);
    record(reg, "no-price", "context_tokens", 100000);
    record(reg, "no-price", "max_output_tokens", 1000);
    pyagent_params *need = requirements(1000, 100);
    assert_int_equal(pyagent_params_set_i64(need, "need_vision", 1), PYAGENT_OK);
    pyagent_route *route = NULL;
    assert_int_equal(pyagent_registry_route(reg, need, &route), PYAGENT_ERR_NO_MODEL);
    const char *bare = rejection_of(route, "bare");
    assert_contains(bare, "context window not recorded");
    assert_contains(bare, "max output tokens not recorded");
    assert_contains(bare, "vision not recorded");
    assert_contains(bare, "price not recorded");
    const char *no_price = rejection_of(route, "no-price");
    assert_contains(no_price, "price not recorded"); /* a missing price is not free */
    assert_null(strstr(no_price, "context"));
    pyagent_route_destroy(route);
    pyagent_params_destroy(need);
    pyagent_registry_destroy(reg);
}

static void routing_applies_every_requirement(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("reqs.db");
    add_remote(reg, "fast", 100000, 8000, 5, 5);
    record(reg, "fast", "ttft_ms", 200);
    record(reg, "fast", "tokens_per_second", 100);
    record(reg, "fast", "quality", 0.8);
    record(reg, "fast", "quality.code", 0.4);
    record_str(reg, "fast", "languages", "en, de-DE");
    add_remote(reg, "slow", 100000, 8000, 1, 1);
    record(reg, "slow", "ttft_ms", 2000);
    record(reg, "slow", "tokens_per_second", 10);
    record(reg, "slow", "quality", 0.6);
    record(reg, "slow", "quality.code", 0.9);
    record_str(reg, "slow", "languages", "*");
    add_remote(reg, "old", 100000, 8000, 0.01, 0.01);
    record(reg, "old", "deprecation_date", T0 - DAY);
    add_remote(reg, "euro", 100000, 8000, 0.01, 0.01);
    record_str(reg, "euro", "currency", "EUR");
    add_remote(reg, "embed", 100000, 8000, 0.001, 0.001);
    record_str(reg, "embed", "mode", "embedding");

    pyagent_params *need = requirements(1000, 100);
    pyagent_route *route = route_ok(reg, need);
    assert_string_equal(pyagent_route_model(route), "slow");
    assert_contains(rejection_of(route, "old"), "deprecated since 2025-06-14");
    assert_contains(rejection_of(route, "euro"), "priced in EUR, not USD");
    assert_contains(rejection_of(route, "embed"), "mode 'embedding' does not generate text");
    pyagent_route_destroy(route);

    /* latency: ttft + output / tokens per second */
    assert_int_equal(pyagent_params_set_f64(need, "max_latency_ms", 5000), PYAGENT_OK);
    route = route_ok(reg, need);
    assert_string_equal(pyagent_route_model(route), "fast");
    assert_contains(rejection_of(route, "slow"), "estimated latency 12000 ms > 5000 ms");
    assert_contains(rejection_of(route, "euro"), "latency not measured");
    pyagent_route_summary s = {.struct_size = sizeof s};
    pyagent_route_summary_get(route, &s);
    assert_true(fabs(s.estimated_latency_ms - 1200) < 1e-9);
    pyagent_route_destroy(route);
    assert_int_equal(pyagent_params_set_f64(need, "max_latency_ms", 0), PYAGENT_OK);

    /* quality, general and per task */
    assert_int_equal(pyagent_params_set_f64(need, "min_quality", 0.7), PYAGENT_OK);
    route = route_ok(reg, need);
    assert_string_equal(pyagent_route_model(route), "fast");
    pyagent_route_destroy(route);
    assert_int_equal(pyagent_params_set_str(need, "task", "code"), PYAGENT_OK);
    route = route_ok(reg, need);
    assert_string_equal(pyagent_route_model(route), "slow");
    assert_contains(rejection_of(route, "fast"), "quality.code 0.4 < 0.7");
    pyagent_route_destroy(route);
    assert_int_equal(pyagent_params_set_f64(need, "min_quality", 0), PYAGENT_OK);

    /* languages: a tag and its primary subtag match */
    assert_int_equal(pyagent_params_set_str(need, "language", "de"), PYAGENT_OK);
    assert_int_equal(pyagent_params_set_f64(need, "min_tokens_per_second", 50), PYAGENT_OK);
    route = route_ok(reg, need);
    assert_string_equal(pyagent_route_model(route), "fast");
    assert_contains(rejection_of(route, "slow"), "10.0 tokens/s < 50.0");
    assert_contains(rejection_of(route, "euro"), "languages not recorded");
    pyagent_route_destroy(route);
    assert_int_equal(pyagent_params_set_str(need, "language", "fr"), PYAGENT_OK);
    route = NULL;
    assert_int_equal(pyagent_registry_route(reg, need, &route), PYAGENT_ERR_NO_MODEL);
    assert_contains(rejection_of(route, "fast"), "language 'fr' not among 'en, de-DE'");
    pyagent_route_destroy(route);
    pyagent_params_destroy(need);

    /* costs in another currency */
    need = requirements(1000, 100);
    assert_int_equal(pyagent_params_set_str(need, "currency", "EUR"), PYAGENT_OK);
    route = route_ok(reg, need);
    assert_string_equal(pyagent_route_model(route), "euro");
    pyagent_route_destroy(route);
    /* a wrong params kind */
    pyagent_params *wrong = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    assert_int_equal(pyagent_registry_route(reg, wrong, &route), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_null(route);
    pyagent_params_destroy(wrong);
    pyagent_params_destroy(need);
    pyagent_registry_destroy(reg);
}

static void cached_input_is_billed_at_its_own_price(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("cache.db");
    add_remote(reg, "caching", 100000, 1000, 10, 10);
    record(reg, "caching", "price_cached_input", 1);
    record(reg, "caching", "prompt_caching", 1);
    add_remote(reg, "plain", 100000, 1000, 5, 10);
    pyagent_params *need = requirements(10000, 0);
    assert_int_equal(pyagent_params_set_i64(need, "cached_tokens", 9000), PYAGENT_OK);
    pyagent_route *route = route_ok(reg, need);
    assert_string_equal(pyagent_route_model(route), "caching"); /* 0.019 vs 0.05 */
    pyagent_route_summary s = {.struct_size = sizeof s};
    pyagent_route_summary_get(route, &s);
    assert_true(fabs(s.estimated_cost - (1000 * 10 + 9000 * 1) / 1e6) < 1e-12);
    pyagent_route_destroy(route);
    pyagent_params_destroy(need);
    pyagent_registry_destroy(reg);
}

static void local_models_need_room_for_input_and_output(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("local.db");
    assert_int_equal(pyagent_registry_add_model(reg, "tiny", "local", "/m/tiny.gguf", NULL),
                     PYAGENT_OK);
    record(reg, "tiny", "context_tokens", 512);
    record(reg, "tiny", "max_output_tokens", 512);
    add_remote(reg, "cloud", 100000, 4000, 1, 1);
    pyagent_params *need = requirements(400, 100);
    pyagent_route *route = route_ok(reg, need);
    assert_string_equal(pyagent_route_model(route), "tiny"); /* free */
    assert_contains(pyagent_route_reason(route), "local");
    pyagent_route_destroy(route);
    assert_int_equal(pyagent_params_set_i64(need, "output_tokens", 200), PYAGENT_OK);
    route = route_ok(reg, need);
    assert_string_equal(pyagent_route_model(route), "cloud");
    assert_contains(rejection_of(route, "tiny"), "context 512 < 600 input + output tokens");
    pyagent_route_destroy(route);
    assert_int_equal(pyagent_params_set_i64(need, "local_only", 1), PYAGENT_OK);
    assert_int_equal(pyagent_registry_route(reg, need, &route), PYAGENT_ERR_NO_MODEL);
    assert_contains(rejection_of(route, "cloud"), "not local");
    pyagent_route_destroy(route);
    pyagent_params_destroy(need);
    pyagent_registry_destroy(reg);
}

static void routes_see_other_handles_writes_and_outlive_changes(void **state) {
    (void)state;
    pyagent_registry *a = open_registry("shared.db");
    pyagent_registry *b = open_registry("shared.db");
    add_remote(a, "first", 1000, 100, 5, 5);
    pyagent_params *need = requirements(10, 10);
    pyagent_route *old = route_ok(b, need);
    assert_string_equal(pyagent_route_model(old), "first");
    add_remote(a, "cheaper", 1000, 100, 1, 1);
    record(a, "first", "context_tokens", 5);
    pyagent_route *now = route_ok(b, need);
    assert_string_equal(pyagent_route_model(now), "cheaper");
    assert_contains(rejection_of(now, "first"), "context 5 < 10");
    pyagent_route_destroy(now);
    /* the old route still reads its own snapshot, even after its registry is gone */
    pyagent_registry_destroy(b);
    assert_string_equal(pyagent_route_model(old), "first");
    assert_int_equal(pyagent_route_n_rejected(old), 0);
    pyagent_route_destroy(old);
    pyagent_params_destroy(need);
    pyagent_registry_destroy(a);
}

static void route_summary_fills_only_what_an_old_host_knows(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("summary.db");
    add_remote(reg, "m", 1000, 100, 1, 1);
    pyagent_route *route = route_ok(reg, NULL);
    struct {
        pyagent_route_summary s;
        uint64_t canary;
    } old;
    memset(&old, 0xab, sizeof old);
    old.s.struct_size = offsetof(pyagent_route_summary, n_qualified);
    assert_int_equal(pyagent_route_summary_get(route, &old.s), PYAGENT_OK);
    assert_int_equal(old.s.n_models, 1);
    uint8_t pattern[sizeof old.s - offsetof(pyagent_route_summary, n_qualified)];
    memset(pattern, 0xab, sizeof pattern);
    assert_memory_equal((uint8_t *)&old.s + offsetof(pyagent_route_summary, n_qualified),
                        pattern, sizeof pattern);
    old.s.struct_size = 0;
    assert_int_equal(pyagent_route_summary_get(route, &old.s), PYAGENT_ERR_INVALID_ARGUMENT);
    pyagent_route_destroy(route);
    pyagent_registry_destroy(reg);
}

static void route_params_have_string_keys_with_bounds(void **state) {
    (void)state;
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ROUTE);
    char buf[64];
    size_t needed;
    assert_int_equal(pyagent_params_get_str(p, "currency", buf, sizeof buf, &needed), PYAGENT_OK);
    assert_string_equal(buf, "USD");
    assert_int_equal(pyagent_params_get_str(p, "currency", NULL, 0, &needed),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(needed, 4);
    assert_int_equal(pyagent_params_set_str(p, "currency", ""), PYAGENT_ERR_OUT_OF_RANGE);
    char long_value[80];
    memset(long_value, 'x', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    assert_int_equal(pyagent_params_set_str(p, "language", long_value), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_params_set_str(p, "language", "d\xc3"), PYAGENT_ERR_INVALID_UTF8);
    assert_int_equal(pyagent_params_set_str(p, "language", "de"), PYAGENT_OK);
    assert_int_equal(pyagent_params_set_str(p, "language", NULL), PYAGENT_OK); /* default */
    assert_int_equal(pyagent_params_get_str(p, "language", buf, sizeof buf, &needed), PYAGENT_OK);
    assert_string_equal(buf, "");
    assert_int_equal(pyagent_params_set_i64(p, "language", 1), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_params_set_str(p, "need_tools", "1"), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_params_set_i64(p, "need_tools", 2), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_params_set_i64(p, "need_tool", 1), PYAGENT_ERR_UNKNOWN_KEY);
    assert_contains(pyagent_params_last_error(p), "need_tools");
    double lo, hi;
    assert_int_equal(pyagent_params_bounds(PYAGENT_PARAMS_ROUTE, "language", &lo, &hi),
                     PYAGENT_OK);
    assert_true(lo == 0 && hi == 63);
    assert_int_equal(pyagent_params_bounds(PYAGENT_PARAMS_REGISTRY, "check_period_s", &lo, &hi),
                     PYAGENT_OK);
    assert_true(lo == 1);
    pyagent_params_destroy(p);
}

/* ------------------------------------------------------------------------------------------ */
/* Due checks                                                                                  */

static size_t due_list(pyagent_registry *reg, int64_t now, char *names, size_t size) {
    size_t needed, count;
    assert_int_equal(pyagent_registry_due(reg, now, names, size, &needed, &count), PYAGENT_OK);
    return count;
}

static void models_are_due_exactly_one_period_after_their_check(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("due.db");
    add_remote(reg, "m", 1000, 100, 1, 1); /* capabilities and prices checked at T0 */
    char names[64];
    assert_int_equal(due_list(reg, T0 + WEEK - 1, names, sizeof names), 0);
    assert_string_equal(names, "");
    assert_int_equal(due_list(reg, T0 + WEEK, names, sizeof names), 1);
    assert_string_equal(names, "m\n");
    /* a new price check alone does not make the capabilities current */
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "price_input", 1, "t", T0 + WEEK, 1),
                     PYAGENT_OK);
    assert_int_equal(due_list(reg, T0 + WEEK, names, sizeof names), 1);
    assert_int_equal(pyagent_registry_record_f64(reg, "m", "context_tokens", 1000, "t",
                                                 T0 + WEEK, 1), PYAGENT_OK);
    assert_int_equal(due_list(reg, T0 + WEEK, names, sizeof names), 0);
    int64_t at;
    assert_int_equal(pyagent_registry_last_checked(reg, "m", PYAGENT_CHECK_CAPABILITIES, &at),
                     PYAGENT_OK);
    assert_int_equal(at, T0 + WEEK);
    assert_int_equal(pyagent_registry_last_checked(reg, "m", PYAGENT_CHECK_MEASUREMENTS, &at),
                     PYAGENT_OK);
    assert_int_equal(at, 0);
    assert_int_equal(pyagent_registry_last_checked(reg, "m", 3, &at),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    pyagent_registry_destroy(reg);
}

static void due_checks_follow_the_period_and_kind_of_model(void **state) {
    (void)state;
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_REGISTRY);
    assert_int_equal(pyagent_params_set_i64(p, "check_period_s", DAY), PYAGENT_OK);
    pyagent_registry *reg = NULL;
    assert_int_equal(pyagent_registry_open(in_dir("period.db"), p, &reg), PYAGENT_OK);
    pyagent_params_destroy(p);
    assert_int_equal(pyagent_registry_add_model(reg, "never", "cloud", NULL, NULL), PYAGENT_OK);
    assert_int_equal(pyagent_registry_add_model(reg, "local", "local", "/m.gguf", NULL),
                     PYAGENT_OK);
    record(reg, "local", "context_tokens", 512);
    add_remote(reg, "remote", 1000, 100, 1, 1);
    record(reg, "remote", "context_tokens", 1000); /* capabilities re-checked, prices not */
    char names[128];
    size_t needed, count;
    assert_int_equal(pyagent_registry_due(reg, T0, NULL, 0, &needed, &count),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(count, 1);
    assert_int_equal(due_list(reg, T0, names, sizeof names), 1);
    assert_string_equal(names, "never\n"); /* never checked: due at once */
    assert_int_equal(pyagent_registry_record_f64(reg, "remote", "context_tokens", 1000, "t",
                                                 T0 + DAY, 1), PYAGENT_OK);
    assert_int_equal(pyagent_registry_record_f64(reg, "local", "context_tokens", 512, "t",
                                                 T0 + DAY, 1), PYAGENT_OK);
    /* one period on: the remote model's prices are due; a local model has none to check */
    assert_int_equal(due_list(reg, T0 + DAY, names, sizeof names), 2);
    assert_string_equal(names, "never\nremote\n");
    pyagent_registry_destroy(reg);
}

/* ------------------------------------------------------------------------------------------ */
/* Import and export                                                                           */

static const char litellm_sample[] =
    "{\n"
    "  \"sample_spec\": {\"max_tokens\": \"LEGACY parameter\", \"litellm_provider\": \"x\"},\n"
    "  \"gpt-4o\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\",\n"
    "    \"max_input_tokens\": 128000, \"max_output_tokens\": 16384,\n"
    "    \"input_cost_per_token\": 2.5e-06, \"output_cost_per_token\": 1e-05,\n"
    "    \"cache_read_input_token_cost\": 1.25e-06,\n"
    "    \"supports_function_calling\": true, \"supports_vision\": true,\n"
    "    \"supports_response_schema\": true, \"supports_prompt_caching\": true,\n"
    "    \"metadata\": {\"notes\": [1, {\"deep\": [true]}]}},\n"
    "  \"openai/gpt-4o-mini\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\",\n"
    "    \"max_input_tokens\": 128000, \"max_tokens\": 16384,\n"
    "    \"input_cost_per_token\": 1.5e-07, \"output_cost_per_token\": 6e-07,\n"
    "    \"supports_function_calling\": true, \"deprecation_date\": \"2030-02-28\"},\n"
    "  \"text-embedding-3-small\": {\"litellm_provider\": \"openai\", \"mode\": \"embedding\",\n"
    "    \"max_input_tokens\": 8191, \"input_cost_per_token\": 2e-08,\n"
    "    \"output_cost_per_token\": 0.0},\n"
    "  \"1024-x-1024/dall-e-2\": {\"litellm_provider\": \"openai\",\n"
    "    \"mode\": \"image_generation\"},\n"
    "  \"no-provider\": {\"mode\": \"chat\", \"max_input_tokens\": 1000},\n"
    "  \"wrong-type\": {\"litellm_provider\": \"x\", \"max_input_tokens\": \"128k\"},\n"
    "  \"wrong-flag\": {\"litellm_provider\": \"x\", \"supports_vision\": \"yes\"},\n"
    "  \"negative\": {\"litellm_provider\": \"x\", \"input_cost_per_token\": -1},\n"
    "  \"huge\": {\"litellm_provider\": \"x\", \"max_input_tokens\": 1e300},\n"
    "  \"huge-int\": {\"litellm_provider\": \"x\",\n"
    "    \"max_input_tokens\": 123456789012345678901234567890},\n"
    "  \"bad-date\": {\"litellm_provider\": \"x\", \"deprecation_date\": \"2025-02-30\"},\n"
    "  \"not-an-object\": [1, 2, 3],\n"
    "  \"ctl\\nname\": {\"litellm_provider\": \"x\"}\n"
    "}\n";

static void import_keeps_good_entries_and_reports_bad_ones(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("import.db");
    int64_t imported = -1, skipped = -1;
    char *report = NULL;
    assert_int_equal(pyagent_registry_import_json(reg, litellm_sample, sizeof litellm_sample - 1,
                                                  "litellm test", T0, 0.9, &imported, &skipped,
                                                  &report),
                     PYAGENT_OK);
    assert_int_equal(imported, 3);
    assert_int_equal(skipped, 10);
    assert_contains(report, "'1024-x-1024/dall-e-2': an image size/quality pseudo-entry");
    assert_contains(report, "'no-provider': litellm_provider: missing");
    assert_contains(report, "'wrong-type': max_input_tokens: expected a number, got a string");
    assert_contains(report, "'wrong-flag': supports_vision: expected true or false");
    assert_contains(report, "'negative': input_cost_per_token = -1: must be finite and >= 0");
    assert_contains(report, "'huge': context_tokens = 1e+300");
    assert_contains(report, "'huge-int': context_tokens = 1.23457e+29");
    assert_contains(report, "'bad-date': deprecation_date: '2025-02-30'");
    assert_contains(report, "'not-an-object': expected an object, got an array");
    assert_contains(report, "'ctl\\x0aname': model name holds control characters");
    assert_null(strstr(report, "sample_spec"));
    pyagent_free(report);

    double v;
    int64_t at;
    assert_int_equal(pyagent_registry_get_f64(reg, "gpt-4o", "price_input", &v, &at),
                     PYAGENT_OK);
    assert_true(fabs(v - 2.5) < 1e-9 && at == T0);
    assert_int_equal(pyagent_registry_get_f64(reg, "gpt-4o", "price_cached_input", &v, NULL),
                     PYAGENT_OK);
    assert_true(fabs(v - 1.25) < 1e-9);
    assert_int_equal(pyagent_registry_get_f64(reg, "gpt-4o", "vision", &v, NULL), PYAGENT_OK);
    assert_true(v == 1);
    assert_int_equal(pyagent_registry_get_f64(reg, "gpt-4o", "reasoning", &v, NULL), PYAGENT_OK);
    assert_true(isnan(v)); /* not listed: unknown */
    char text[64];
    size_t needed;
    assert_int_equal(pyagent_registry_get_str(reg, "gpt-4o", "input_modalities", text,
                                              sizeof text, &needed), PYAGENT_OK);
    assert_string_equal(text, "text,image");
    assert_int_equal(pyagent_registry_get_f64(reg, "openai/gpt-4o-mini", "max_output_tokens", &v,
                                              NULL), PYAGENT_OK);
    assert_true(v == 16384); /* legacy max_tokens */
    assert_int_equal(pyagent_registry_get_f64(reg, "openai/gpt-4o-mini", "deprecation_date", &v,
                                              NULL), PYAGENT_OK);
    assert_true(v == 1898467200); /* 2030-02-28T00:00:00Z */

    pyagent_params *need = requirements(10000, 500);
    assert_int_equal(pyagent_params_set_i64(need, "need_tools", 1), PYAGENT_OK);
    pyagent_route *route = route_ok(reg, need);
    assert_string_equal(pyagent_route_model(route), "openai/gpt-4o-mini");
    assert_contains(rejection_of(route, "text-embedding-3-small"), "mode 'embedding'");
    pyagent_route_destroy(route);
    pyagent_params_destroy(need);

    /* an entry is a check of capabilities and prices, also when it lists no price */
    char due[256];
    assert_int_equal(due_list(reg, T0 + WEEK - 1, due, sizeof due), 0);
    assert_int_equal(due_list(reg, T0 + WEEK, due, sizeof due), 3);

    /* importing the same file again adds history, not models */
    assert_int_equal(pyagent_registry_import_json(reg, litellm_sample, sizeof litellm_sample - 1,
                                                  NULL, T0 + DAY, 0.9, &imported, NULL, NULL),
                     PYAGENT_OK);
    assert_int_equal(imported, 3);
    size_t count;
    assert_int_equal(pyagent_registry_list(reg, NULL, 0, &needed, &count),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(count, 3);
    pyagent_registry_destroy(reg);
}

static void import_refuses_bad_documents_and_stores_nothing(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("hostile.db");
    add_remote(reg, "keep", 1000, 100, 1, 1);
    int64_t before = sql_int(in_dir("hostile.db"), "SELECT count(*) FROM facts");
    static const struct {
        const char *json;
        pyagent_status status;
        const char *message;
    } cases[] = {
        {"", PYAGENT_ERR_INVALID_ARGUMENT, "line 1"},
        {"[1, 2]", PYAGENT_ERR_INVALID_ARGUMENT, "the document is an array"},
        {"\"just a string\"", PYAGENT_ERR_INVALID_ARGUMENT, "the document is a string"},
        {"{\"a\": {\"litellm_provider\": \"x\"}", PYAGENT_ERR_INVALID_ARGUMENT, "line 1"},
        {"{\"a\": {\"max_input_tokens\": 1e400}}", PYAGENT_ERR_INVALID_ARGUMENT, "overflow"},
        {"{\"a\": {\"litellm_provider\": \"x\xff\"}}", PYAGENT_ERR_INVALID_UTF8, "line 1"},
        {"{\"a\": \"nul \\u0000 inside\"}", PYAGENT_ERR_INVALID_ARGUMENT, "NUL"},
        {"{\"a\": 1} trailing", PYAGENT_ERR_INVALID_ARGUMENT, "end of file expected"},
        {"{\"a\": NaN}", PYAGENT_ERR_INVALID_ARGUMENT, "line 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *report = (char *)"untouched";
        int64_t imported = -1;
        pyagent_status st = pyagent_registry_import_json(reg, cases[i].json,
                                                         strlen(cases[i].json), "t", T0, 1,
                                                         &imported, NULL, &report);
        if (st != cases[i].status) fail_msg("case %zu: status %d", i, st);
        assert_contains(pyagent_registry_last_error(reg), cases[i].message);
        assert_null(report);
        assert_int_equal(imported, -1);
    }
    /* nesting deeper than the parser allows */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 16);
    assert_non_null(deep);
    size_t n = (size_t)sprintf(deep, "{\"a\": ");
    for (size_t i = 0; i < depth; i++) deep[n++] = '[';
    for (size_t i = 0; i < depth; i++) deep[n++] = ']';
    deep[n++] = '}';
    assert_int_equal(pyagent_registry_import_json(reg, deep, n, "t", T0, 1, NULL, NULL, NULL),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_contains(pyagent_registry_last_error(reg), "maximum parsing depth");
    free(deep);
    assert_int_equal(sql_int(in_dir("hostile.db"), "SELECT count(*) FROM facts"), before);
    assert_int_equal(sql_int(in_dir("hostile.db"), "SELECT count(*) FROM models"), 1);
    /* bad arguments */
    assert_int_equal(pyagent_registry_import_json(reg, "{}", 2, "t", T0, 2, NULL, NULL, NULL),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_registry_import_json(reg, NULL, 5, "t", T0, 1, NULL, NULL, NULL),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_registry_import_file(reg, in_dir("missing.json"), NULL, T0, 1, NULL,
                                                  NULL, NULL), PYAGENT_ERR_IO);
    assert_contains(pyagent_registry_last_error(reg), "missing.json");
    pyagent_registry_destroy(reg);
}

static void import_survives_100_mb_strings(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("bigstr.db");
    size_t big = (size_t)100 << 20;
    const char *head = "{\"good\": {\"litellm_provider\": \"x\", \"max_input_tokens\": 1000},"
                       " \"long-mode\": {\"litellm_provider\": \"x\", \"mode\": \"";
    const char *middle = "\"}, \"";
    const char *tail = "\": {\"litellm_provider\": \"x\"}}";
    size_t len = strlen(head) + big + strlen(middle) + big + strlen(tail);
    char *json = malloc(len + 1);
    assert_non_null(json);
    char *p = json;
    p += sprintf(p, "%s", head);
    memset(p, 'm', big);
    p += big;
    p += sprintf(p, "%s", middle);
    memset(p, 'k', big); /* a 100 MB model name */
    p += big;
    p += sprintf(p, "%s", tail);
    assert_int_equal((size_t)(p - json), len);
    write_whole(in_dir("big.json"), json, len);
    free(json);
    int64_t imported, skipped;
    char *report = NULL;
    assert_int_equal(pyagent_registry_import_file(reg, in_dir("big.json"), "big", T0, 1,
                                                  &imported, &skipped, &report), PYAGENT_OK);
    assert_int_equal(imported, 1);
    assert_int_equal(skipped, 2);
    assert_contains(report, "'long-mode': mode: a string of 104857600 bytes (1 to 256 allowed)");
    assert_contains(report, "'kkkkkkkkkk");
    assert_contains(report, "...': model name is longer than 256 bytes");
    assert_true(strlen(report) < 1024);
    pyagent_free(report);
    pyagent_registry_destroy(reg);
}

static void export_round_trips_through_import(void **state) {
    (void)state;
    pyagent_registry *a = open_registry("a.db");
    assert_int_equal(pyagent_registry_import_json(a, litellm_sample, sizeof litellm_sample - 1,
                                                  "litellm", T0, 0.9, NULL, NULL, NULL),
                     PYAGENT_OK);
    assert_int_equal(pyagent_registry_add_model(a, "tiny", "local", "/m/tiny.gguf", NULL),
                     PYAGENT_OK);
    assert_int_equal(pyagent_registry_record_f64(a, "tiny", "tokens_per_second", 812.5,
                                                 "bench", T0 - DAY, 0.7), PYAGENT_OK);
    char *first = NULL, *second = NULL;
    assert_int_equal(pyagent_registry_export(a, NULL, 0, &first, NULL), PYAGENT_OK);
    assert_contains(first, "\"litellm_provider\": \"openai\"");
    assert_contains(first, "\"max_input_tokens\": 128000");
    assert_contains(first, "\"supports_function_calling\": true");
    assert_contains(first, "\"deprecation_date\": \"2030-02-28\"");

    pyagent_registry *b = open_registry("b.db");
    int64_t imported, skipped;
    char *report = NULL;
    assert_int_equal(pyagent_registry_import_json(b, first, strlen(first), "restore", T0 + WEEK,
                                                  1, &imported, &skipped, &report), PYAGENT_OK);
    assert_string_equal(report, "");
    pyagent_free(report);
    assert_int_equal(imported, 4);
    assert_int_equal(skipped, 0);
    assert_int_equal(pyagent_registry_export(b, NULL, 0, &second, NULL), PYAGENT_OK);
    /* every value comes back with its own source, time and confidence; only added_at differs */
    double v;
    int64_t at;
    assert_int_equal(pyagent_registry_get_f64(b, "tiny", "tokens_per_second", &v, &at),
                     PYAGENT_OK);
    assert_true(v == 812.5 && at == T0 - DAY);
    assert_contains(second, "\"source\": \"bench\"");
    assert_contains(second, "\"confidence\": 0.7");
    assert_contains(second, "\"location\": \"/m/tiny.gguf\"");
    assert_int_equal(strlen(first), strlen(second));
    pyagent_free(first);
    pyagent_free(second);
    assert_int_equal(pyagent_registry_export(b, "nobody", 0, &first, NULL), PYAGENT_ERR_NO_MODEL);
    assert_int_equal(pyagent_registry_export(b, NULL, 8, &first, NULL),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    pyagent_registry_destroy(a);
    pyagent_registry_destroy(b);
}

/* ------------------------------------------------------------------------------------------ */
/* Concurrency                                                                                 */

#define WRITES_PER_WRITER 40

typedef struct writer {
    pyagent_registry *reg; /* shared, or NULL: open one of its own */
    const char *path;
    int id;
    int failures;
} writer;

/* Adds a model of its own and records WRITES_PER_WRITER values on it and on a shared model. */
static void write_records(pyagent_registry *reg, int id, int *failures) {
    char model[32];
    snprintf(model, sizeof model, "writer-%d", id);
    if (pyagent_registry_add_model(reg, model, "cloud", NULL, NULL)) (*failures)++;
    for (int i = 0; i < WRITES_PER_WRITER; i++) {
        if (pyagent_registry_record_f64(reg, model, "tokens_per_second", i, "w", T0 + i, 1))
            (*failures)++;
        if (pyagent_registry_record_f64(reg, "shared", "quality", 0.5, "w", T0 + i, 1))
            (*failures)++;
        pyagent_route *route = NULL;
        pyagent_status st = pyagent_registry_route(reg, NULL, &route);
        if (st != PYAGENT_OK && st != PYAGENT_ERR_NO_MODEL) (*failures)++;
        pyagent_route_destroy(route);
    }
}

static void *writer_main(void *arg) {
    writer *w = arg;
    pyagent_registry *reg = w->reg;
    if (!reg && pyagent_registry_open(w->path, NULL, &reg)) w->failures++;
    write_records(reg, w->id, &w->failures);
    if (!w->reg) pyagent_registry_destroy(reg);
    return NULL;
}

static void run_threads(pyagent_registry *shared, const char *path, int first_id) {
    pthread_t threads[8];
    writer writers[8];
    for (int i = 0; i < 8; i++) {
        writers[i] = (writer){shared, path, first_id + i, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, writer_main, &writers[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(writers[i].failures, 0);
    }
}

static void eight_threads_writing_at_once_lose_nothing(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s", in_dir("threads.db"));
    pyagent_registry *reg = open_registry("threads.db");
    assert_int_equal(pyagent_registry_add_model(reg, "shared", "cloud", NULL, NULL), PYAGENT_OK);
    run_threads(reg, path, 0);   /* one handle, eight threads */
    run_threads(NULL, path, 8);  /* eight handles */
    char names[1024];
    size_t needed, count;
    assert_int_equal(pyagent_registry_list(reg, names, sizeof names, &needed, &count),
                     PYAGENT_OK);
    assert_int_equal(count, 17);
    pyagent_registry_destroy(reg);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM facts"), 16 * 2 * WRITES_PER_WRITER);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM checks WHERE ok"),
                     16 * 2 * WRITES_PER_WRITER);
    assert_int_equal(sql_int(path, "SELECT count(DISTINCT model_id) FROM facts WHERE key = "
                                   "'tokens_per_second'"), 16);
}

static void two_processes_writing_at_once_lose_nothing(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s", in_dir("procs.db"));
    pyagent_registry *reg = open_registry("procs.db");
    assert_int_equal(pyagent_registry_add_model(reg, "shared", "cloud", NULL, NULL), PYAGENT_OK);
    pyagent_registry_destroy(reg);
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t children[2];
    for (int c = 0; c < 2; c++) {
        children[c] = fork();
        assert_true(children[c] >= 0);
        if (children[c] == 0) { /* a child: four threads on its own handle, four on their own */
            close(go[1]);
            char byte;
            if (read(go[0], &byte, 1) != 1) _exit(3);
            pyagent_registry *mine = NULL;
            if (pyagent_registry_open(path, NULL, &mine)) _exit(2);
            pthread_t threads[8];
            writer writers[8];
            for (int i = 0; i < 8; i++) {
                writers[i] = (writer){i < 4 ? mine : NULL, path, 100 * (c + 1) + i, 0};
                if (pthread_create(&threads[i], NULL, writer_main, &writers[i])) _exit(4);
            }
            int failures = 0;
            for (int i = 0; i < 8; i++) {
                pthread_join(threads[i], NULL);
                failures += writers[i].failures;
            }
            pyagent_registry_destroy(mine);
            _exit(failures ? 1 : 0);
        }
    }
    close(go[0]);
    assert_int_equal(write(go[1], "gg", 2), 2); /* both start together */
    close(go[1]);
    for (int c = 0; c < 2; c++) {
        int status;
        assert_int_equal(waitpid(children[c], &status, 0), children[c]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(sql_int(path, "SELECT count(*) FROM models"), 17);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM facts"), 16 * 2 * WRITES_PER_WRITER);
    assert_int_equal(sql_int(path, "SELECT max(value) FROM meta"),
                     1 + 16 + 16 * 2 * WRITES_PER_WRITER);
}

/* ------------------------------------------------------------------------------------------ */
/* Local models through the engine                                                             */

static void measuring_a_local_model_records_a_check(void **state) {
    (void)state;
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_REGISTRY);
    assert_int_equal(pyagent_params_set_i64(p, "measure_prompt_tokens", 32), PYAGENT_OK);
    assert_int_equal(pyagent_params_set_i64(p, "measure_gen_tokens", 16), PYAGENT_OK);
    pyagent_registry *reg = NULL;
    assert_int_equal(pyagent_registry_open(in_dir("measure.db"), p, &reg), PYAGENT_OK);
    pyagent_params_destroy(p);
    assert_int_equal(pyagent_registry_add_model(reg, "stories", "local", model_path, NULL),
                     PYAGENT_OK);
    pyagent_params *engine = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    assert_int_equal(pyagent_params_set_i64(engine, "n_threads", 1), PYAGENT_OK);
    pyagent_status st = pyagent_registry_measure(reg, "stories", engine);
    if (st) fprintf(stderr, "measure: %s\n", pyagent_registry_last_error(reg));
    assert_int_equal(st, PYAGENT_OK);
    double v;
    int64_t at;
    assert_int_equal(pyagent_registry_get_f64(reg, "stories", "tokens_per_second", &v, &at),
                     PYAGENT_OK);
    assert_true(v > 0 && at > T0);
    assert_int_equal(pyagent_registry_get_f64(reg, "stories", "usable_context_tokens", &v, NULL),
                     PYAGENT_OK);
    assert_true(v == 512);
    assert_int_equal(pyagent_registry_get_f64(reg, "stories", "context_tokens", &v, NULL),
                     PYAGENT_OK);
    assert_true(v == 512);
    assert_int_equal(pyagent_registry_get_f64(reg, "stories", "ttft_ms", &v, NULL), PYAGENT_OK);
    assert_true(v > 0);
    assert_int_equal(pyagent_registry_get_f64(reg, "stories", "prefill_tokens_per_second", &v,
                                              NULL), PYAGENT_OK);
    assert_true(v > 0);
    assert_int_equal(pyagent_registry_get_f64(reg, "stories", "tools", &v, NULL), PYAGENT_OK);
    assert_true(v == 0);
    char names[64];
    assert_int_equal(due_list(reg, at + WEEK - 1, names, sizeof names), 0);
    assert_int_equal(due_list(reg, at + WEEK, names, sizeof names), 1);
    /* routed to, with a latency estimate */
    pyagent_params *need = requirements(100, 50);
    assert_int_equal(pyagent_params_set_f64(need, "max_latency_ms", 60000), PYAGENT_OK);
    pyagent_route *route = route_ok(reg, need);
    assert_string_equal(pyagent_route_model(route), "stories");
    pyagent_route_destroy(route);
    pyagent_params_destroy(need);

    /* a remote model is re-checked by re-importing, not measured */
    add_remote(reg, "cloud", 1000, 100, 1, 1);
    assert_int_equal(pyagent_registry_measure(reg, "cloud", NULL), PYAGENT_ERR_UNSUPPORTED);
    assert_int_equal(pyagent_registry_measure(reg, "stories", need = pyagent_params_create(
                                                                   PYAGENT_PARAMS_ROUTE)),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    pyagent_params_destroy(need);
    pyagent_params_destroy(engine);
    pyagent_registry_destroy(reg);
}

static void a_failed_measurement_is_history_not_a_check(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("fail.db");
    assert_int_equal(pyagent_registry_add_model(reg, "gone", "local", in_dir("gone.gguf"), NULL),
                     PYAGENT_OK);
    assert_int_equal(pyagent_registry_measure(reg, "gone", NULL), PYAGENT_ERR_IO);
    assert_contains(pyagent_registry_last_error(reg), "gone.gguf");
    int64_t at = -1;
    assert_int_equal(pyagent_registry_last_checked(reg, "gone", PYAGENT_CHECK_CAPABILITIES, &at),
                     PYAGENT_OK);
    assert_int_equal(at, 0);
    char *json;
    assert_int_equal(pyagent_registry_export(reg, "gone", PYAGENT_EXPORT_HISTORY, &json, NULL),
                     PYAGENT_OK);
    assert_contains(json, "\"ok\": false");
    assert_contains(json, "gone.gguf");
    pyagent_free(json);
    pyagent_registry_destroy(reg);
}

static void token_estimates_use_a_local_tokenizer_when_there_is_one(void **state) {
    (void)state;
    pyagent_registry *reg = open_registry("estimate.db");
    const char *text = "Once upon a time, there was a little girl.";
    int64_t n = 0;
    int32_t method = 0;
    assert_int_equal(pyagent_registry_estimate_tokens(reg, NULL, text, -1, &n, &method),
                     PYAGENT_OK);
    assert_int_equal(method, PYAGENT_ESTIMATE_HEURISTIC);
    assert_int_equal(n, (42 * 2 + 6) / 7);
    assert_int_equal(pyagent_registry_add_model(reg, "broken", "local", in_dir("x.gguf"), NULL),
                     PYAGENT_OK);
    assert_int_equal(pyagent_registry_add_model(reg, "stories", "local", model_path, NULL),
                     PYAGENT_OK);
    add_remote(reg, "cloud", 1000, 100, 1, 1);
    assert_int_equal(pyagent_registry_estimate_tokens(reg, NULL, text, -1, &n, &method),
                     PYAGENT_OK);
    assert_int_equal(method, PYAGENT_ESTIMATE_TOKENIZER);
    pyagent_engine *engine = NULL;
    assert_int_equal(pyagent_engine_open(model_path, NULL, &engine), PYAGENT_OK);
    size_t expect;
    assert_int_equal(pyagent_engine_tokenize(engine, text, -1, PYAGENT_TOKENIZE_ADD_SPECIAL,
                                             NULL, 0, &expect), PYAGENT_ERR_BUFFER_TOO_SMALL);
    pyagent_engine_destroy(engine);
    assert_int_equal(n, (int64_t)expect);
    assert_int_equal(pyagent_registry_estimate_tokens(reg, "cloud", text, -1, &n, &method),
                     PYAGENT_OK);
    assert_int_equal(method, PYAGENT_ESTIMATE_HEURISTIC);
    assert_int_equal(pyagent_registry_estimate_tokens(reg, "stories", "日本語", -1, &n, &method),
                     PYAGENT_OK);
    assert_int_equal(method, PYAGENT_ESTIMATE_TOKENIZER);
    assert_int_equal(pyagent_registry_estimate_tokens(reg, "cloud", "日本語", -1, &n, &method),
                     PYAGENT_OK);
    assert_int_equal(n, 3);
    assert_int_equal(pyagent_registry_estimate_tokens(reg, NULL, "\xff", -1, &n, &method),
                     PYAGENT_ERR_INVALID_UTF8);
    pyagent_registry_destroy(reg);
}

int main(void) {
    const char *d = getenv("PYAGENT_TEST_DATA");
    snprintf(model_path, sizeof model_path, "%s/stories260K.gguf", d && *d ? d : "tests/data");
#define T(name) cmocka_unit_test_setup_teardown(name, make_dir, remove_dir)
    const struct CMUnitTest tests[] = {
        T(open_creates_a_wal_registry_with_a_schema_version),
        T(a_memory_registry_lives_until_destroyed),
        T(reopening_keeps_models_and_values),
        T(open_refuses_a_file_that_is_not_sqlite),
        T(open_refuses_a_corrupt_registry),
        T(open_refuses_a_truncated_registry),
        T(open_refuses_another_programs_database),
        T(open_refuses_a_newer_schema),
        T(read_only_opens_existing_registries_and_refuses_writes),
        T(open_reports_paths_it_cannot_use),
        T(add_model_checks_names_and_is_idempotent),
        T(values_keep_their_type_range_and_provenance),
        T(the_latest_measurement_is_current_and_history_keeps_all),
        T(removed_models_leave_routing_and_come_back_with_their_values),
        T(routing_picks_the_cheapest_qualifying_model),
        T(routing_breaks_ties_by_quality_then_name),
        T(routing_treats_what_is_not_recorded_as_unknown),
        T(routing_applies_every_requirement),
        T(cached_input_is_billed_at_its_own_price),
        T(local_models_need_room_for_input_and_output),
        T(routes_see_other_handles_writes_and_outlive_changes),
        T(route_summary_fills_only_what_an_old_host_knows),
        T(route_params_have_string_keys_with_bounds),
        T(models_are_due_exactly_one_period_after_their_check),
        T(due_checks_follow_the_period_and_kind_of_model),
        T(import_keeps_good_entries_and_reports_bad_ones),
        T(import_refuses_bad_documents_and_stores_nothing),
        T(import_survives_100_mb_strings),
        T(export_round_trips_through_import),
        T(eight_threads_writing_at_once_lose_nothing),
        T(two_processes_writing_at_once_lose_nothing),
        T(measuring_a_local_model_records_a_check),
        T(a_failed_measurement_is_history_not_a_check),
        T(token_estimates_use_a_local_tokenizer_when_there_is_one),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
