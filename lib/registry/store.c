/*
 * The registry handle and its SQLite file.
 *
 * Schema (version 1, PRAGMA user_version; PRAGMA application_id marks the file as ours):
 *
 *   meta(key, value)                'generation': bumped by every write transaction
 *   models(id, name UNIQUE, provider, location, remote_id, added_at, removed_at,
 *          generation, caps_checked_at, prices_checked_at, measured_at)
 *   checks(id, model_id, what, checked_at, source, ok, detail)
 *   facts(id, check_id, model_id, key, num | text, source, measured_at, confidence)
 *   current_values(model_id, key) -> fact_id, measured_at
 *
 * Invariants:
 *   - facts and checks are only ever inserted: they are the history. current_values is an
 *     index over facts (per model and key, the fact with the greatest (measured_at, id)), and
 *     models' *_checked_at columns are the greatest checked_at of their successful checks;
 *     both are kept in the same transaction as the insert that changes them.
 *   - models.generation is the meta generation of the last transaction that touched the model
 *     (or its values), so a reader that knows generation G reloads exactly the models with a
 *     greater one (route.c).
 *   - every write is one BEGIN IMMEDIATE transaction: writers queue on SQLite's write lock
 *     (busy_timeout_ms) instead of failing on a lock upgrade, so concurrent writers from any
 *     thread or process lose nothing.
 *
 * A file is only written once it has been recognized: an empty file becomes a registry; a
 * registry of an older schema is migrated; anything else (not SQLite, corrupt, another
 * program's database, a newer schema) is refused before the first write, so it stays as it was.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/params.h"
#include "registry_internal.h"

/* ---------------------------------------------------------------------------------------------
 * Errors: per handle, and per thread so that concurrent callers each read their own
 * ------------------------------------------------------------------------------------------- */

static atomic_uint_fast64_t next_serial = 1;

static _Thread_local struct {
    uint64_t serial; /* the registry the message belongs to; 0 = none */
    char msg[PA_ERR_MSG_SIZE];
} thread_error;

static _Thread_local char thread_fallback[PA_ERR_MSG_SIZE];

static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER; /* guards every last_error */

pyagent_status pa_reg_finish(pyagent_registry *reg, pyagent_status status, const pa_err *err) {
    if (status == PYAGENT_OK || !reg) return status;
    const char *msg = err && err->msg[0] ? err->msg : pyagent_status_str(status);
    thread_error.serial = reg->serial;
    snprintf(thread_error.msg, sizeof thread_error.msg, "%s", msg);
    pthread_mutex_lock(&error_lock);
    reg->last_error.status = status;
    snprintf(reg->last_error.msg, sizeof reg->last_error.msg, "%s", msg);
    pthread_mutex_unlock(&error_lock);
    return status;
}

const char *pyagent_registry_last_error(const pyagent_registry *registry) {
    if (!registry) return "";
    if (thread_error.serial == registry->serial) return thread_error.msg;
    pthread_mutex_lock(&error_lock);
    memcpy(thread_fallback, registry->last_error.msg, sizeof thread_fallback);
    pthread_mutex_unlock(&error_lock);
    return thread_fallback;
}

int64_t pa_reg_now(void) { return (int64_t)time(NULL); }

/* ---------------------------------------------------------------------------------------------
 * SQLite helpers
 * ------------------------------------------------------------------------------------------- */

pyagent_status pa_reg_fail_sqlite(pyagent_registry *reg, int rc, const char *what, pa_err *err) {
    const char *detail = reg->db ? sqlite3_errmsg(reg->db) : sqlite3_errstr(rc);
    pyagent_status st;
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return pa_fail(err, PYAGENT_ERR_BUSY,
                       "%.200s: %s: the database stayed locked by another writer for more than "
                       "%lld ms (busy_timeout_ms)", reg->path, what,
                       (long long)reg->busy_timeout_ms);
    case SQLITE_NOMEM: st = PYAGENT_ERR_OUT_OF_MEMORY; break;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH: st = PYAGENT_ERR_IO; break;
    default: st = PYAGENT_ERR_DATABASE; break;
    }
    return pa_fail(err, st, "%.200s: %s: %.200s", reg->path, what, detail);
}

pyagent_status pa_reg_exec(pyagent_registry *reg, const char *sql, pa_err *err) {
    int rc = sqlite3_exec(reg->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? PYAGENT_OK : pa_reg_fail_sqlite(reg, rc, "query", err);
}

pyagent_status pa_reg_prepare(pyagent_registry *reg, const char *sql, sqlite3_stmt **stmt,
                              pa_err *err) {
    int rc = sqlite3_prepare_v2(reg->db, sql, -1, stmt, NULL);
    if (rc != SQLITE_OK) {
        *stmt = NULL;
        return pa_reg_fail_sqlite(reg, rc, "prepare", err);
    }
    return PYAGENT_OK;
}

pyagent_status pa_reg_stmt(pyagent_registry *reg, const char *sql, sqlite3_stmt **stmt,
                           pa_err *err) {
    size_t n = sizeof reg->stmts / sizeof reg->stmts[0], i;
    for (i = 0; i < n && reg->stmts[i].sql; i++)
        if (reg->stmts[i].sql == sql) {
            *stmt = reg->stmts[i].stmt;
            return PYAGENT_OK;
        }
    if (i == n) return pa_fail(err, PYAGENT_ERR_INTERNAL, "statement cache full");
    int rc = sqlite3_prepare_v3(reg->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);
    if (rc != SQLITE_OK) {
        *stmt = NULL;
        return pa_reg_fail_sqlite(reg, rc, "prepare", err);
    }
    reg->stmts[i].sql = sql;
    reg->stmts[i].stmt = *stmt;
    return PYAGENT_OK;
}

void pa_reg_stmt_done(sqlite3_stmt *stmt) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Steps a statement that returns no row; SQLITE_DONE is success. */
static pyagent_status step_done(pyagent_registry *reg, sqlite3_stmt *stmt, const char *what,
                                pa_err *err) {
    int rc = sqlite3_step(stmt);
    return rc == SQLITE_DONE ? PYAGENT_OK : pa_reg_fail_sqlite(reg, rc, what, err);
}

/* Runs `sql` that yields one integer (e.g. a pragma) into *value. */
static pyagent_status query_i64(pyagent_registry *reg, const char *sql, int64_t *value,
                                pa_err *err) {
    sqlite3_stmt *stmt;
    pyagent_status st = pa_reg_prepare(reg, sql, &stmt, err);
    if (st) return st;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) *value = sqlite3_column_int64(stmt, 0);
    else st = pa_reg_fail_sqlite(reg, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc, sql, err);
    sqlite3_finalize(stmt);
    return st;
}

pyagent_status pa_reg_begin_write(pyagent_registry *reg, int64_t *generation, pa_err *err) {
    if (reg->read_only)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "%.200s: opened read-only", reg->path);
    int rc = sqlite3_exec(reg->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return pa_reg_fail_sqlite(reg, rc, "begin", err);
    pyagent_status st =
        pa_reg_exec(reg, "UPDATE meta SET value = value + 1 WHERE key = 'generation'", err);
    if (!st) st = query_i64(reg, "SELECT value FROM meta WHERE key = 'generation'", generation,
                            err);
    if (st) sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

pyagent_status pa_reg_end_write(pyagent_registry *reg, pyagent_status status, pa_err *err) {
    if (status != PYAGENT_OK) {
        sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
        return status;
    }
    int rc = sqlite3_exec(reg->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        status = pa_reg_fail_sqlite(reg, rc, "commit", err);
        sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
        return status;
    }
    reg->wrote = true;
    return PYAGENT_OK;
}

pyagent_status pa_reg_begin_read(pyagent_registry *reg, pa_err *err) {
    int rc = sqlite3_exec(reg->db, "BEGIN", NULL, NULL, NULL);
    return rc == SQLITE_OK ? PYAGENT_OK : pa_reg_fail_sqlite(reg, rc, "begin", err);
}

void pa_reg_end_read(pyagent_registry *reg) { sqlite3_exec(reg->db, "COMMIT", NULL, NULL, NULL); }

/* ---------------------------------------------------------------------------------------------
 * Schema and migrations
 * ------------------------------------------------------------------------------------------- */

/* migrations[v - 1] turns schema v - 1 into schema v. Append only; never edit a shipped one. */
static const char *const migrations[PA_REG_SCHEMA] = {
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO meta VALUES ('generation', 0);"
    "CREATE TABLE models("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  provider TEXT NOT NULL,"
    "  location TEXT NOT NULL,"
    "  remote_id TEXT NOT NULL,"
    "  added_at INTEGER NOT NULL,"
    "  removed_at INTEGER,"
    "  generation INTEGER NOT NULL,"
    "  caps_checked_at INTEGER NOT NULL DEFAULT 0,"
    "  prices_checked_at INTEGER NOT NULL DEFAULT 0,"
    "  measured_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX models_by_generation ON models(generation);"
    "CREATE TABLE checks("
    "  id INTEGER PRIMARY KEY,"
    "  model_id INTEGER NOT NULL REFERENCES models(id),"
    "  what INTEGER NOT NULL,"
    "  checked_at INTEGER NOT NULL,"
    "  source TEXT NOT NULL,"
    "  ok INTEGER NOT NULL,"
    "  detail TEXT NOT NULL);"
    "CREATE INDEX checks_by_model ON checks(model_id, id);"
    "CREATE TABLE facts("
    "  id INTEGER PRIMARY KEY,"
    "  check_id INTEGER NOT NULL REFERENCES checks(id),"
    "  model_id INTEGER NOT NULL REFERENCES models(id),"
    "  key TEXT NOT NULL,"
    "  num REAL,"
    "  text TEXT,"
    "  source TEXT NOT NULL,"
    "  measured_at INTEGER NOT NULL,"
    "  confidence REAL NOT NULL);"
    "CREATE INDEX facts_by_check ON facts(check_id);"
    "CREATE TABLE current_values("
    "  model_id INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  fact_id INTEGER NOT NULL,"
    "  measured_at INTEGER NOT NULL,"
    "  PRIMARY KEY (model_id, key)) WITHOUT ROWID;",
};

/* What the file is, read without writing anything. */
typedef struct file_kind {
    int64_t application_id, user_version, n_schema_objects;
} file_kind;

static pyagent_status read_file_kind(pyagent_registry *reg, file_kind *kind, pa_err *err) {
    pyagent_status st = query_i64(reg, "PRAGMA application_id", &kind->application_id, err);
    if (!st) st = query_i64(reg, "PRAGMA user_version", &kind->user_version, err);
    if (!st) st = query_i64(reg, "SELECT count(*) FROM sqlite_master", &kind->n_schema_objects,
                            err);
    if (st == PYAGENT_ERR_DATABASE || st == PYAGENT_ERR_IO) {
        int rc = sqlite3_errcode(reg->db);
        if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
            return pa_fail(err, PYAGENT_ERR_DATABASE,
                           "%.200s: not a libpyagent registry: %s", reg->path,
                           rc == SQLITE_NOTADB ? "not a SQLite database"
                                               : "the SQLite file is corrupt");
    }
    return st;
}

/* Refuses files that are not ours or not for this library. */
static pyagent_status check_file_kind(pyagent_registry *reg, const file_kind *k, pa_err *err) {
    bool empty = k->application_id == 0 && k->user_version == 0 && k->n_schema_objects == 0;
    if (empty) return PYAGENT_OK;
    if (k->application_id != PA_REG_APP_ID)
        return pa_fail(err, PYAGENT_ERR_DATABASE,
                       "%.200s: not a libpyagent registry: another program's SQLite database "
                       "(application_id 0x%08llx, %lld schema objects); left untouched",
                       reg->path, (unsigned long long)(uint32_t)k->application_id,
                       (long long)k->n_schema_objects);
    if (k->user_version > PA_REG_SCHEMA)
        return pa_fail(err, PYAGENT_ERR_DATABASE,
                       "%.200s: registry schema %lld is newer than this library's %d; use a "
                       "newer libpyagent (the file is left untouched)",
                       reg->path, (long long)k->user_version, PA_REG_SCHEMA);
    if (k->user_version < 1)
        return pa_fail(err, PYAGENT_ERR_DATABASE,
                       "%.200s: libpyagent registry without a schema version; left untouched",
                       reg->path);
    return PYAGENT_OK;
}

static pyagent_status verify_integrity(pyagent_registry *reg, pa_err *err) {
    sqlite3_stmt *stmt;
    pyagent_status st = pa_reg_prepare(reg, "PRAGMA quick_check(1)", &stmt, err);
    if (st) {
        int rc = sqlite3_errcode(reg->db);
        if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
            return pa_fail(err, PYAGENT_ERR_DATABASE, "%.200s: the registry is corrupt: %.200s",
                           reg->path, sqlite3_errmsg(reg->db));
        return st;
    }
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const char *result = (const char *)sqlite3_column_text(stmt, 0);
        if (!result || strcmp(result, "ok") != 0)
            st = pa_fail(err, PYAGENT_ERR_DATABASE,
                         "%.200s: the registry is corrupt (quick_check: %.200s); left untouched",
                         reg->path, result ? result : "no result");
    } else if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB) {
        st = pa_fail(err, PYAGENT_ERR_DATABASE,
                     "%.200s: the registry is corrupt (%.200s); left untouched", reg->path,
                     sqlite3_errmsg(reg->db));
    } else {
        st = pa_reg_fail_sqlite(reg, rc, "quick_check", err);
    }
    sqlite3_finalize(stmt);
    return st;
}

/* Brings the schema to PA_REG_SCHEMA in one transaction. Another process may have done it
 * since the file was first read, so the version is read again under the write lock. */
static pyagent_status migrate(pyagent_registry *reg, pa_err *err) {
    int rc = sqlite3_exec(reg->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return pa_reg_fail_sqlite(reg, rc, "begin migration", err);
    file_kind k;
    pyagent_status st = read_file_kind(reg, &k, err);
    if (!st) st = check_file_kind(reg, &k, err);
    for (int64_t v = k.user_version + 1; !st && v <= PA_REG_SCHEMA; v++) {
        rc = sqlite3_exec(reg->db, migrations[v - 1], NULL, NULL, NULL);
        if (rc != SQLITE_OK) st = pa_reg_fail_sqlite(reg, rc, "migration", err);
    }
    if (!st && k.user_version < PA_REG_SCHEMA) {
        char sql[96];
        snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d",
                 PA_REG_APP_ID, PA_REG_SCHEMA);
        st = pa_reg_exec(reg, sql, err);
    }
    if (st) {
        sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
        return st;
    }
    rc = sqlite3_exec(reg->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        st = pa_reg_fail_sqlite(reg, rc, "commit migration", err);
        sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return st;
}

static pyagent_status open_file(pyagent_registry *reg, pa_err *err) {
    int flags = reg->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(reg->path, &reg->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return pa_fail(err, rc == SQLITE_NOMEM ? PYAGENT_ERR_OUT_OF_MEMORY : PYAGENT_ERR_IO,
                       "%.200s: cannot open: %.200s", reg->path,
                       reg->db ? sqlite3_errmsg(reg->db) : sqlite3_errstr(rc));
    sqlite3_extended_result_codes(reg->db, 1);
    sqlite3_busy_timeout(reg->db, (int)reg->busy_timeout_ms);

    file_kind k;
    pyagent_status st = read_file_kind(reg, &k, err);
    if (!st) st = check_file_kind(reg, &k, err);
    if (!st && reg->verify) st = verify_integrity(reg, err);
    if (st) return st;
    if (reg->read_only) {
        if (k.user_version != PA_REG_SCHEMA)
            return pa_fail(err, PYAGENT_ERR_DATABASE,
                           "%.200s: %s; open it once without read_only", reg->path,
                           k.user_version == 0 ? "not a registry yet (empty)"
                                               : "the registry needs a schema migration");
        return PYAGENT_OK;
    }
    /* WAL: readers never block the writer, and a crash leaves the file consistent. Setting it
     * writes the file header, which is why it waits until the file is known to be ours. */
    sqlite3_stmt *stmt;
    st = pa_reg_prepare(reg, "PRAGMA journal_mode = WAL", &stmt, err);
    if (st) return st;
    rc = sqlite3_step(stmt);
    /* an in-memory database (":memory:") has no WAL and needs none: one connection owns it */
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
    bool in_memory = strcmp(reg->path, ":memory:") == 0;
    bool wal = mode && (sqlite3_stricmp(mode, "wal") == 0 ||
                        (in_memory && sqlite3_stricmp(mode, "memory") == 0));
    if (rc != SQLITE_ROW) st = pa_reg_fail_sqlite(reg, rc, "journal_mode", err);
    sqlite3_finalize(stmt);
    if (st) return st;
    if (!wal)
        return pa_fail(err, PYAGENT_ERR_IO, "%.200s: the file system does not support SQLite's "
                       "WAL mode", reg->path);
    st = pa_reg_exec(reg, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", err);
    if (!st && k.user_version < PA_REG_SCHEMA) st = migrate(reg, err);
    return st;
}

pyagent_status pyagent_registry_open(const char *path, const pyagent_params *params,
                                     pyagent_registry **registry) {
    if (!registry) return PYAGENT_ERR_INVALID_ARGUMENT;
    *registry = NULL;
    pyagent_registry *reg = calloc(1, sizeof *reg);
    if (!reg) return PYAGENT_ERR_OUT_OF_MEMORY;
    pthread_mutex_init(&reg->lock, NULL);
    reg->serial = atomic_fetch_add(&next_serial, 1);
    reg->snapshot_generation = -1;
    *registry = reg;

    pa_err err = {0};
    const int32_t K = PYAGENT_PARAMS_REGISTRY;
    pyagent_status st = pa_params_check_kind(params, K, &err);
    if (!st && !path) st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "path is NULL");
    if (st) return pa_reg_finish(reg, st, &err);
    reg->check_period_s = pa_params_i64(params, K, PA_REGISTRY_CHECK_PERIOD_S);
    reg->busy_timeout_ms = pa_params_i64(params, K, PA_REGISTRY_BUSY_TIMEOUT_MS);
    reg->read_only = pa_params_i64(params, K, PA_REGISTRY_READ_ONLY) != 0;
    reg->verify = pa_params_i64(params, K, PA_REGISTRY_VERIFY) != 0;
    reg->measure_prompt_tokens = pa_params_i64(params, K, PA_REGISTRY_MEASURE_PROMPT_TOKENS);
    reg->measure_gen_tokens = pa_params_i64(params, K, PA_REGISTRY_MEASURE_GEN_TOKENS);
    reg->measure_context = pa_params_i64(params, K, PA_REGISTRY_MEASURE_CONTEXT) != 0;
    reg->path = strdup(path);
    if (!reg->path) return pa_reg_finish(reg, pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY,
                                                      "out of memory"), &err);
    st = open_file(reg, &err);
    if (st && reg->db) {
        sqlite3_close_v2(reg->db);
        reg->db = NULL;
    }
    return pa_reg_finish(reg, st, &err);
}

void pyagent_registry_destroy(pyagent_registry *registry) {
    if (!registry) return;
    pa_snapshot_release(registry->snapshot);
    pyagent_engine_destroy(registry->tok_engine);
    for (size_t i = 0; i < sizeof registry->stmts / sizeof registry->stmts[0]; i++)
        sqlite3_finalize(registry->stmts[i].stmt);
    free(registry->tok_engine_path);
    if (registry->db) sqlite3_close_v2(registry->db);
    pthread_mutex_destroy(&registry->lock);
    free(registry->path);
    free(registry);
}

/* Every API call starts here: the handle must be open. */
static pyagent_status check_open(pyagent_registry *reg, pa_err *err) {
    if (!reg->db)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                       "the registry did not open (pyagent_registry_open said why)");
    return PYAGENT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Models
 * ------------------------------------------------------------------------------------------- */

/* Binds `s` as text, or NULL. */
static void bind_text(sqlite3_stmt *stmt, int i, const char *s) {
    if (s) sqlite3_bind_text(stmt, i, s, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(stmt, i);
}

static char *dup_column(sqlite3_stmt *stmt, int i) {
    const char *s = (const char *)sqlite3_column_text(stmt, i);
    return strdup(s ? s : "");
}

pyagent_status pa_reg_find_model(pyagent_registry *reg, const char *name, int64_t *id,
                                 bool *is_local, char **location, pa_err *err) {
    pyagent_status st = pa_check_name("model name", name, false, err);
    if (st) return st;
    static const char sql[] = "SELECT id, provider = 'local', location FROM models "
                              "WHERE name = ? AND removed_at IS NULL";
    sqlite3_stmt *stmt;
    if ((st = pa_reg_stmt(reg, sql, &stmt, err))) return st;
    bind_text(stmt, 1, name);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(stmt, 0);
        if (is_local) *is_local = sqlite3_column_int(stmt, 1) != 0;
        if (location && !(*location = dup_column(stmt, 2)))
            st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    } else if (rc == SQLITE_DONE) {
        st = pa_fail(err, PYAGENT_ERR_NO_MODEL, "no model named '%.256s' in the registry", name);
    } else {
        st = pa_reg_fail_sqlite(reg, rc, "find model", err);
    }
    pa_reg_stmt_done(stmt);
    return st;
}

pyagent_status pa_reg_add_model_tx(pyagent_registry *reg, const char *name, const char *provider,
                                   const char *location, const char *remote_id, int64_t now,
                                   int64_t generation, int64_t *id, pa_err *err) {
    const char *loc = location ? location : "";
    const char *rid = remote_id && *remote_id ? remote_id : name;
    sqlite3_stmt *stmt;
    pyagent_status st = pa_reg_prepare(
        reg, "SELECT id, provider, location, remote_id FROM models WHERE name = ?", &stmt, err);
    if (st) return st;
    bind_text(stmt, 1, name);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(stmt, 0);
        const char *old_provider = (const char *)sqlite3_column_text(stmt, 1);
        const char *old_location = (const char *)sqlite3_column_text(stmt, 2);
        const char *old_id = (const char *)sqlite3_column_text(stmt, 3);
        if (strcmp(old_provider, provider) != 0 || strcmp(old_location, loc) != 0 ||
            strcmp(old_id, rid) != 0)
            st = pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                         "model '%.200s' is already registered as provider '%.64s', location "
                         "'%.64s', id '%.64s'", name, old_provider, old_location, old_id);
        sqlite3_finalize(stmt);
        if (st) return st;
        if ((st = pa_reg_prepare(reg, "UPDATE models SET removed_at = NULL, generation = ? "
                                      "WHERE id = ? AND removed_at IS NOT NULL", &stmt, err)))
            return st;
        sqlite3_bind_int64(stmt, 1, generation);
        sqlite3_bind_int64(stmt, 2, *id);
        st = step_done(reg, stmt, "revive model", err);
        sqlite3_finalize(stmt);
        return st;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) return pa_reg_fail_sqlite(reg, rc, "find model", err);
    if ((st = pa_reg_prepare(reg,
                             "INSERT INTO models(name, provider, location, remote_id, added_at, "
                             "generation) VALUES (?, ?, ?, ?, ?, ?)", &stmt, err)))
        return st;
    bind_text(stmt, 1, name);
    bind_text(stmt, 2, provider);
    bind_text(stmt, 3, loc);
    bind_text(stmt, 4, rid);
    sqlite3_bind_int64(stmt, 5, now);
    sqlite3_bind_int64(stmt, 6, generation);
    st = step_done(reg, stmt, "add model", err);
    sqlite3_finalize(stmt);
    if (!st) *id = sqlite3_last_insert_rowid(reg->db);
    return st;
}

pyagent_status pa_reg_insert_check(pyagent_registry *reg, int64_t model_id, int32_t what,
                                   int64_t checked_at, const char *source, bool ok,
                                   const char *detail, int64_t generation, int64_t *check_id,
                                   pa_err *err) {
    static const char insert_sql[] = "INSERT INTO checks(model_id, what, checked_at, source, "
                                     "ok, detail) VALUES (?, ?, ?, ?, ?, ?)";
    static const char update_sql[] =
        "UPDATE models SET generation = ?1,"
        " caps_checked_at = CASE WHEN ?2 AND (?3 & 1) THEN max(caps_checked_at, ?4)"
        "   ELSE caps_checked_at END,"
        " prices_checked_at = CASE WHEN ?2 AND (?3 & 2) THEN max(prices_checked_at, ?4)"
        "   ELSE prices_checked_at END,"
        " measured_at = CASE WHEN ?2 AND (?3 & 4) THEN max(measured_at, ?4)"
        "   ELSE measured_at END "
        "WHERE id = ?5";
    sqlite3_stmt *stmt;
    pyagent_status st = pa_reg_stmt(reg, insert_sql, &stmt, err);
    if (st) return st;
    sqlite3_bind_int64(stmt, 1, model_id);
    sqlite3_bind_int(stmt, 2, what);
    sqlite3_bind_int64(stmt, 3, checked_at);
    bind_text(stmt, 4, source);
    sqlite3_bind_int(stmt, 5, ok);
    bind_text(stmt, 6, detail ? detail : "");
    st = step_done(reg, stmt, "insert check", err);
    pa_reg_stmt_done(stmt);
    if (st) return st;
    if (check_id) *check_id = sqlite3_last_insert_rowid(reg->db);
    if ((st = pa_reg_stmt(reg, update_sql, &stmt, err))) return st;
    sqlite3_bind_int64(stmt, 1, generation);
    sqlite3_bind_int(stmt, 2, ok);
    sqlite3_bind_int(stmt, 3, what);
    sqlite3_bind_int64(stmt, 4, checked_at);
    sqlite3_bind_int64(stmt, 5, model_id);
    st = step_done(reg, stmt, "update model", err);
    pa_reg_stmt_done(stmt);
    return st;
}

/* v with 15 significant digits, as exports write numbers: an export then imports back to the
 * same values, and exports again to the same text. */
static double fifteen_digits(double v) {
    char s[40];
    snprintf(s, sizeof s, "%.15g", v);
    return strtod(s, NULL);
}

pyagent_status pa_reg_insert_fact(pyagent_registry *reg, int64_t check_id, int64_t model_id,
                                  const char *key, double num, const char *text,
                                  const char *source, int64_t measured_at, double confidence,
                                  pa_err *err) {
    static const char insert_sql[] = "INSERT INTO facts(check_id, model_id, key, num, text, "
                                     "source, measured_at, confidence) "
                                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    /* The newest measurement wins; on a tie the later insert (greater id) does. */
    static const char current_sql[] =
        "INSERT INTO current_values(model_id, key, fact_id, measured_at) "
        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(model_id, key) DO UPDATE SET "
        "fact_id = excluded.fact_id, measured_at = excluded.measured_at "
        "WHERE excluded.measured_at >= current_values.measured_at";
    sqlite3_stmt *stmt;
    pyagent_status st = pa_reg_stmt(reg, insert_sql, &stmt, err);
    if (st) return st;
    sqlite3_bind_int64(stmt, 1, check_id);
    sqlite3_bind_int64(stmt, 2, model_id);
    bind_text(stmt, 3, key);
    if (text) sqlite3_bind_null(stmt, 4);
    else sqlite3_bind_double(stmt, 4, fifteen_digits(num));
    bind_text(stmt, 5, text);
    bind_text(stmt, 6, source);
    sqlite3_bind_int64(stmt, 7, measured_at);
    sqlite3_bind_double(stmt, 8, fifteen_digits(confidence));
    st = step_done(reg, stmt, "insert value", err);
    pa_reg_stmt_done(stmt);
    if (st) return st;
    int64_t fact_id = sqlite3_last_insert_rowid(reg->db);
    if ((st = pa_reg_stmt(reg, current_sql, &stmt, err))) return st;
    sqlite3_bind_int64(stmt, 1, model_id);
    bind_text(stmt, 2, key);
    sqlite3_bind_int64(stmt, 3, fact_id);
    sqlite3_bind_int64(stmt, 4, measured_at);
    st = step_done(reg, stmt, "update current value", err);
    pa_reg_stmt_done(stmt);
    return st;
}

/* Checks the arguments every recording shares. */
static pyagent_status check_provenance(const char *source, int64_t measured_at,
                                       double confidence, pa_err *err) {
    pyagent_status st = pa_check_name("source", source, false, err);
    if (st) return st;
    if (measured_at < 0 || measured_at > (INT64_C(1) << 53))
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "measured_at = %lld: must be Unix seconds in [0, 2^53]",
                       (long long)measured_at);
    if (!(confidence >= 0 && confidence <= 1))
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "confidence = %g: must be in [0, 1]",
                       confidence);
    return PYAGENT_OK;
}

pyagent_status pa_reg_record(pyagent_registry *reg, const char *model, const pa_fact *facts,
                             size_t n_facts, const char *source, int64_t measured_at,
                             double confidence, int32_t extra_what, pa_err *err) {
    pyagent_status st = check_provenance(source, measured_at, confidence, err);
    int32_t what = extra_what;
    for (size_t i = 0; !st && i < n_facts; i++) {
        pa_key_info info;
        if ((st = pa_key_lookup(facts[i].key, &info, err))) break;
        if (facts[i].text) {
            if (info.type != PA_KEY_TEXT)
                st = pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                             "%.80s is a number: record it with pyagent_registry_record_f64",
                             facts[i].key);
            else
                st = pa_key_check_text(facts[i].key, facts[i].text,
                                       strnlen(facts[i].text, PA_REG_TEXT_MAX + 1), err);
        } else {
            st = pa_key_check_number(&info, facts[i].key, facts[i].num, err);
        }
        what |= info.what;
    }
    if (st) return st;
    int64_t generation, model_id, check_id;
    if ((st = pa_reg_begin_write(reg, &generation, err))) return st;
    st = pa_reg_find_model(reg, model, &model_id, NULL, NULL, err);
    if (!st) st = pa_reg_insert_check(reg, model_id, what, measured_at, source, true, NULL,
                                      generation, &check_id, err);
    for (size_t i = 0; !st && i < n_facts; i++)
        st = pa_reg_insert_fact(reg, check_id, model_id, facts[i].key, facts[i].num,
                                facts[i].text, source, measured_at, confidence, err);
    return pa_reg_end_write(reg, st, err);
}

pyagent_status pa_reg_record_failure(pyagent_registry *reg, const char *model, int32_t what,
                                     const char *source, int64_t at, const char *detail,
                                     pa_err *err) {
    int64_t generation, model_id;
    pyagent_status st = pa_reg_begin_write(reg, &generation, err);
    if (st) return st;
    st = pa_reg_find_model(reg, model, &model_id, NULL, NULL, err);
    if (!st) st = pa_reg_insert_check(reg, model_id, what, at, source, false, detail,
                                      generation, NULL, err);
    return pa_reg_end_write(reg, st, err);
}

/* ---------------------------------------------------------------------------------------------
 * Public calls
 * ------------------------------------------------------------------------------------------- */

pyagent_status pyagent_registry_add_model(pyagent_registry *registry, const char *name,
                                          const char *provider, const char *location,
                                          const char *remote_id) {
    if (!registry) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = check_open(registry, &err);
    if (!st) st = pa_check_name("model name", name, false, &err);
    if (!st) st = pa_check_name("provider", provider, false, &err);
    if (!st) st = pa_check_name("location", location, true, &err);
    if (!st) st = pa_check_name("remote id", remote_id, true, &err);
    bool local = !st && strcmp(provider, "local") == 0;
    if (!st && local && (!location || !*location))
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT,
                     "local model '%.200s' needs its GGUF path as location", name);
    if (st) return pa_reg_finish(registry, st, &err);

    pthread_mutex_lock(&registry->lock);
    int64_t generation, id, now = pa_reg_now();
    st = pa_reg_begin_write(registry, &generation, &err);
    if (!st) {
        st = pa_reg_add_model_tx(registry, name, provider, location, remote_id, now, generation,
                                 &id, &err);
        /* A local model costs nothing to call; record it so that routing knows the price. */
        int64_t check_id;
        if (!st && local)
            st = pa_reg_insert_check(registry, id, PYAGENT_CHECK_PRICES, now, "local", true, NULL,
                                     generation, &check_id, &err);
        if (!st && local)
            st = pa_reg_insert_fact(registry, check_id, id, "price_input", 0, NULL, "local", now,
                                    1.0, &err);
        if (!st && local)
            st = pa_reg_insert_fact(registry, check_id, id, "price_output", 0, NULL, "local",
                                    now, 1.0, &err);
        st = pa_reg_end_write(registry, st, &err);
    }
    pthread_mutex_unlock(&registry->lock);
    return pa_reg_finish(registry, st, &err);
}

pyagent_status pyagent_registry_remove_model(pyagent_registry *registry, const char *name) {
    if (!registry) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = check_open(registry, &err);
    if (st) return pa_reg_finish(registry, st, &err);
    pthread_mutex_lock(&registry->lock);
    int64_t generation, id;
    st = pa_reg_begin_write(registry, &generation, &err);
    if (!st) {
        st = pa_reg_find_model(registry, name, &id, NULL, NULL, &err);
        sqlite3_stmt *stmt;
        if (!st) st = pa_reg_prepare(registry, "UPDATE models SET removed_at = ?, generation = ? "
                                               "WHERE id = ?", &stmt, &err);
        if (!st) {
            sqlite3_bind_int64(stmt, 1, pa_reg_now());
            sqlite3_bind_int64(stmt, 2, generation);
            sqlite3_bind_int64(stmt, 3, id);
            st = step_done(registry, stmt, "remove model", &err);
            sqlite3_finalize(stmt);
        }
        st = pa_reg_end_write(registry, st, &err);
    }
    pthread_mutex_unlock(&registry->lock);
    return pa_reg_finish(registry, st, &err);
}

pyagent_status pyagent_registry_record_f64(pyagent_registry *registry, const char *model,
                                           const char *key, double value, const char *source,
                                           int64_t measured_at, double confidence) {
    if (!registry) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = check_open(registry, &err);
    if (st) return pa_reg_finish(registry, st, &err);
    pa_fact fact = {key, value, NULL};
    pthread_mutex_lock(&registry->lock);
    st = pa_reg_record(registry, model, &fact, 1, source, measured_at, confidence, 0, &err);
    pthread_mutex_unlock(&registry->lock);
    return pa_reg_finish(registry, st, &err);
}

pyagent_status pyagent_registry_record_str(pyagent_registry *registry, const char *model,
                                           const char *key, const char *value,
                                           const char *source, int64_t measured_at,
                                           double confidence) {
    if (!registry) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = check_open(registry, &err);
    if (!st && !value) st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "value is NULL");
    if (st) return pa_reg_finish(registry, st, &err);
    pa_fact fact = {key, 0, value};
    pthread_mutex_lock(&registry->lock);
    st = pa_reg_record(registry, model, &fact, 1, source, measured_at, confidence, 0, &err);
    pthread_mutex_unlock(&registry->lock);
    return pa_reg_finish(registry, st, &err);
}

/* Reads the current value of `key` of `model`: *found says whether there is one; the caller
 * reads the statement's columns (0 num, 1 text, 2 measured_at) and finalizes it. */
static pyagent_status get_current(pyagent_registry *reg, const char *model, const char *key,
                                  pa_key_info *info, sqlite3_stmt **stmt, bool *found,
                                  pa_err *err) {
    int64_t id;
    pyagent_status st = pa_key_lookup(key, info, err);
    if (!st) st = pa_reg_find_model(reg, model, &id, NULL, NULL, err);
    if (!st) st = pa_reg_prepare(reg,
                                 "SELECT f.num, f.text, f.measured_at FROM current_values c "
                                 "JOIN facts f ON f.id = c.fact_id "
                                 "WHERE c.model_id = ? AND c.key = ?", stmt, err);
    if (st) return st;
    sqlite3_bind_int64(*stmt, 1, id);
    bind_text(*stmt, 2, key);
    int rc = sqlite3_step(*stmt);
    *found = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        st = pa_reg_fail_sqlite(reg, rc, "read value", err);
        sqlite3_finalize(*stmt);
        *stmt = NULL;
    }
    return st;
}

pyagent_status pyagent_registry_get_f64(pyagent_registry *registry, const char *model,
                                        const char *key, double *value, int64_t *measured_at) {
    if (!registry) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = check_open(registry, &err);
    if (!st && !value) st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "value is NULL");
    if (st) return pa_reg_finish(registry, st, &err);
    pthread_mutex_lock(&registry->lock);
    pa_key_info info;
    sqlite3_stmt *stmt = NULL;
    bool found = false;
    st = get_current(registry, model, key, &info, &stmt, &found, &err);
    if (!st && info.type == PA_KEY_TEXT)
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT,
                     "%.80s is a string: read it with pyagent_registry_get_str", key);
    if (!st) {
        *value = found ? sqlite3_column_double(stmt, 0) : NAN;
        if (measured_at) *measured_at = found ? sqlite3_column_int64(stmt, 2) : 0;
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&registry->lock);
    return pa_reg_finish(registry, st, &err);
}

/* For the identity keys "provider", "location" and "remote_id": a prepared query of the
 * model's column (bound and stepped: the caller reads column 0); NULL stmt otherwise. */
static pyagent_status get_identity(pyagent_registry *reg, const char *model, const char *key,
                                   sqlite3_stmt **stmt, pa_err *err) {
    *stmt = NULL;
    const char *sql = !key                            ? NULL
                      : strcmp(key, "provider") == 0  ? "SELECT provider FROM models WHERE id = ?"
                      : strcmp(key, "location") == 0  ? "SELECT location FROM models WHERE id = ?"
                      : strcmp(key, "remote_id") == 0 ? "SELECT remote_id FROM models WHERE id = ?"
                                                      : NULL;
    if (!sql) return PYAGENT_OK;
    int64_t id;
    pyagent_status st = pa_reg_find_model(reg, model, &id, NULL, NULL, err);
    if (!st) st = pa_reg_prepare(reg, sql, stmt, err);
    if (st) return st;
    sqlite3_bind_int64(*stmt, 1, id);
    int rc = sqlite3_step(*stmt);
    if (rc != SQLITE_ROW) {
        st = pa_reg_fail_sqlite(reg, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc, "read model", err);
        sqlite3_finalize(*stmt);
        *stmt = NULL;
    }
    return st;
}

pyagent_status pyagent_registry_get_str(pyagent_registry *registry, const char *model,
                                        const char *key, char *value, size_t capacity,
                                        size_t *needed) {
    if (!registry) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = check_open(registry, &err);
    if (!st && (!needed || (capacity && !value)))
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "needed is NULL, or value is NULL "
                     "with a capacity");
    if (st) return pa_reg_finish(registry, st, &err);
    pthread_mutex_lock(&registry->lock);
    pa_key_info info;
    sqlite3_stmt *stmt = NULL;
    bool found = false;
    int column = 1;
    st = get_identity(registry, model, key, &stmt, &err);
    if (!st && stmt) {
        found = true;
        column = 0;
    } else if (!st) {
        st = get_current(registry, model, key, &info, &stmt, &found, &err);
        if (!st && info.type != PA_KEY_TEXT)
            st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT,
                         "%.80s is a number: read it with pyagent_registry_get_f64", key);
    }
    if (!st) {
        const char *text = found ? (const char *)sqlite3_column_text(stmt, column) : NULL;
        if (!text) text = "";
        *needed = strlen(text) + 1;
        if (capacity < *needed)
            st = pa_fail(&err, PYAGENT_ERR_BUFFER_TOO_SMALL, "%.80s needs %zu bytes", key,
                         *needed);
        else
            memcpy(value, text, *needed);
    }
    sqlite3_finalize(stmt);
    pthread_mutex_unlock(&registry->lock);
    return pa_reg_finish(registry, st, &err);
}

pyagent_status pyagent_registry_last_checked(pyagent_registry *registry, const char *model,
                                             int32_t what, int64_t *at) {
    if (!registry) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = check_open(registry, &err);
    const char *column = what == PYAGENT_CHECK_CAPABILITIES ? "caps_checked_at"
                         : what == PYAGENT_CHECK_PRICES     ? "prices_checked_at"
                         : what == PYAGENT_CHECK_MEASUREMENTS ? "measured_at"
                                                              : NULL;
    if (!st && (!column || !at))
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT,
                     "what must be one PYAGENT_CHECK_* value and at not NULL");
    if (st) return pa_reg_finish(registry, st, &err);
    pthread_mutex_lock(&registry->lock);
    int64_t id;
    st = pa_reg_find_model(registry, model, &id, NULL, NULL, &err);
    if (!st) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT %s FROM models WHERE id = %lld", column, (long long)id);
        st = query_i64(registry, sql, at, &err);
    }
    pthread_mutex_unlock(&registry->lock);
    return pa_reg_finish(registry, st, &err);
}
