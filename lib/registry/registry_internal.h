/*
 * The registry's insides, shared by its files:
 *   store.c    the handle, the SQLite file (schema, migrations, transactions), models, values
 *   keys.c     the table of value keys: type, what a recording of them checks, bounds
 *   route.c    the in-memory routing table, routing, due checks
 *   litellm.c  import of LiteLLM-shaped JSON, export
 *   measure.c  re-measuring local models with the engine, token estimates
 *
 * Locking: every call takes registry->lock for as long as it touches the database or the
 * routing table; a measurement runs the engine without it and takes it to record.
 */
#ifndef PA_REGISTRY_INTERNAL_H
#define PA_REGISTRY_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/error.h"

#define PA_REG_NAME_MAX   256 /* bytes of a model name, provider, location, id, source */
#define PA_REG_TEXT_MAX   256 /* bytes of a string value */
#define PA_REG_SCHEMA     1   /* the schema version this library writes (PRAGMA user_version) */
#define PA_REG_APP_ID     0x50794167 /* PRAGMA application_id: "PyAg" */

/* ---------------------------------------------------------------------------------------------
 * Value keys (keys.c)
 * ------------------------------------------------------------------------------------------- */

typedef enum pa_key_type { PA_KEY_NUMBER, PA_KEY_BOOL, PA_KEY_COUNT, PA_KEY_TIME,
                           PA_KEY_SCORE, PA_KEY_TEXT } pa_key_type;

/* The boolean capabilities, as bits of route_entry.known / .has. */
enum {
    PA_CAP_TOOLS = 1u << 0, PA_CAP_PARALLEL_TOOLS = 1u << 1, PA_CAP_JSON_MODE = 1u << 2,
    PA_CAP_VISION = 1u << 3, PA_CAP_AUDIO_INPUT = 1u << 4, PA_CAP_AUDIO_OUTPUT = 1u << 5,
    PA_CAP_REASONING = 1u << 6, PA_CAP_PROMPT_CACHING = 1u << 7, PA_CAP_SYSTEM_ROLE = 1u << 8,
};

typedef struct pa_key_info {
    const char *name;
    pa_key_type type;
    int32_t what;     /* PYAGENT_CHECK_* that a recording of it counts as */
    uint32_t cap_bit; /* for PA_KEY_BOOL capabilities: its PA_CAP_* bit */
} pa_key_info;

/* Looks `key` up, accepting "quality.TASK" for any valid TASK (then *info describes the
 * family). PYAGENT_ERR_UNKNOWN_KEY with the known keys listed otherwise. */
pyagent_status pa_key_lookup(const char *key, pa_key_info *info, pa_err *err);

/* Checks a number for `info` (range, whole numbers for counts and times). */
pyagent_status pa_key_check_number(const pa_key_info *info, const char *key, double value,
                                   pa_err *err);

/* Checks a text value: 1..PA_REG_TEXT_MAX bytes of UTF-8 without control characters. */
pyagent_status pa_key_check_text(const char *key, const char *value, size_t len, pa_err *err);

/* Checks a name-like argument (model, provider, source): 1..PA_REG_NAME_MAX bytes of UTF-8
 * without control characters (or, when `optional`, NULL or ""). `what` names it in messages. */
pyagent_status pa_check_name(const char *what, const char *value, bool optional, pa_err *err);

/* ---------------------------------------------------------------------------------------------
 * The routing table (route.c): an immutable snapshot of every registered model's current
 * values, shared by reference with the routes made from it.
 * ------------------------------------------------------------------------------------------- */

typedef struct task_quality {
    char *task;   /* the TASK of quality.TASK */
    double score;
} task_quality;

typedef struct route_entry {
    atomic_int refcount;     /* snapshots holding it */
    int64_t id;              /* models.id */
    char *name;
    bool is_local;
    uint32_t known, has;     /* PA_CAP_* bits recorded at all / recorded as 1 */
    double context_tokens, max_output_tokens;     /* NaN: not recorded */
    double price_input, price_output, price_cached_input;
    const char *currency;    /* "USD" (static) or the recorded one (owned) */
    double ttft_ms, tokens_per_second, quality, deprecation_date;
    int mode_class;          /* 0 unknown, 1 text generation, 2 another mode */
    char *mode;              /* NULL: not recorded */
    char *languages;         /* NULL: not recorded */
    task_quality *tasks;
    int n_tasks;
    int64_t checked_at[3];   /* last successful check of capabilities, prices, measurements */
} route_entry;

typedef struct route_snapshot {
    atomic_int refcount;     /* the registry and its routes: freed by the last one out, on
                                any thread */
    size_t n;
    route_entry **entries;   /* sorted by name (bytewise) */
} route_snapshot;

void pa_snapshot_release(route_snapshot *snap);

/* ---------------------------------------------------------------------------------------------
 * The handle
 * ------------------------------------------------------------------------------------------- */

struct pyagent_registry {
    pthread_mutex_t lock;
    sqlite3 *db;
    char *path;
    uint64_t serial;             /* tells handles apart for the thread-local last error */
    pa_err last_error;           /* the last failure of any thread */
    /* settings, from the params */
    int64_t check_period_s, busy_timeout_ms, measure_prompt_tokens, measure_gen_tokens;
    bool read_only, verify, measure_context;
    /* routing table */
    route_snapshot *snapshot;    /* NULL until the first route, list or due */
    int64_t snapshot_generation; /* meta 'generation' it reflects */
    int64_t data_version;        /* PRAGMA data_version when it was checked */
    bool wrote;                  /* this handle committed since the snapshot was checked */
    /* prepared statements of the frequent queries, keyed by their SQL text's address */
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } stmts[16];
    /* the engine kept for token estimates */
    pyagent_engine *tok_engine;
    char *tok_engine_path;
};

/* Runs `sql` (no result rows wanted); a failure becomes PYAGENT_ERR_DATABASE (or BUSY). */
pyagent_status pa_reg_exec(pyagent_registry *reg, const char *sql, pa_err *err);

/* Prepares `sql`; a failure becomes PYAGENT_ERR_DATABASE. */
pyagent_status pa_reg_prepare(pyagent_registry *reg, const char *sql, sqlite3_stmt **stmt,
                              pa_err *err);

/* A cached prepared statement for `sql`, which must be a string with static storage (the
 * cache keys on its address). Hand it back with pa_reg_stmt_done, never finalize it. */
pyagent_status pa_reg_stmt(pyagent_registry *reg, const char *sql, sqlite3_stmt **stmt,
                           pa_err *err);
void pa_reg_stmt_done(sqlite3_stmt *stmt);

/* Turns the SQLite result `rc` of the last call into a status and message ("what: ..."). */
pyagent_status pa_reg_fail_sqlite(pyagent_registry *reg, int rc, const char *what, pa_err *err);

/* A write transaction (BEGIN IMMEDIATE, waiting busy_timeout_ms for other writers) that bumps
 * the registry generation; *generation gets the new one. End it with pa_reg_end_write. */
pyagent_status pa_reg_begin_write(pyagent_registry *reg, int64_t *generation, pa_err *err);

/* Commits when `status` is PYAGENT_OK (returning the commit's status), else rolls back and
 * returns `status`. */
pyagent_status pa_reg_end_write(pyagent_registry *reg, pyagent_status status, pa_err *err);

/* A read transaction, so that several SELECTs see one state of the file. */
pyagent_status pa_reg_begin_read(pyagent_registry *reg, pa_err *err);
void pa_reg_end_read(pyagent_registry *reg);

/* The id of `name` (registered, not removed); PYAGENT_ERR_NO_MODEL otherwise. *is_local
 * (may be NULL) tells whether its provider is "local", *location (may be NULL) gets a copy of
 * its location to free. Inside a transaction or not. */
pyagent_status pa_reg_find_model(pyagent_registry *reg, const char *name, int64_t *id,
                                 bool *is_local, char **location, pa_err *err);

/* Inserts or revives a model inside a write transaction (see pyagent_registry_add_model);
 * *id gets its id. */
pyagent_status pa_reg_add_model_tx(pyagent_registry *reg, const char *name, const char *provider,
                                   const char *location, const char *remote_id, int64_t now,
                                   int64_t generation, int64_t *id, pa_err *err);

/* Inside a write transaction: inserts a check of `model_id` (what: PYAGENT_CHECK_* bits),
 * updating the model's last-check times when `ok`; *check_id gets its id. */
pyagent_status pa_reg_insert_check(pyagent_registry *reg, int64_t model_id, int32_t what,
                                   int64_t checked_at, const char *source, bool ok,
                                   const char *detail, int64_t generation, int64_t *check_id,
                                   pa_err *err);

/* Inside a write transaction: appends a value (text NULL: the number) to check `check_id` and
 * makes it current unless a later-measured one is. Values are not checked here. */
pyagent_status pa_reg_insert_fact(pyagent_registry *reg, int64_t check_id, int64_t model_id,
                                  const char *key, double num, const char *text,
                                  const char *source, int64_t measured_at, double confidence,
                                  pa_err *err);

/* Records values of one check after validating them all; used by record_* and measure. */
typedef struct pa_fact {
    const char *key;
    double num;
    const char *text; /* NULL for a number */
} pa_fact;

pyagent_status pa_reg_record(pyagent_registry *reg, const char *model, const pa_fact *facts,
                             size_t n_facts, const char *source, int64_t measured_at,
                             double confidence, int32_t extra_what, pa_err *err);

/* Records a failed check of `model`. */
pyagent_status pa_reg_record_failure(pyagent_registry *reg, const char *model, int32_t what,
                                     const char *source, int64_t at, const char *detail,
                                     pa_err *err);

/* Makes registry->snapshot current (reloading what changed since). Lock held. */
pyagent_status pa_reg_refresh(pyagent_registry *reg, pa_err *err);

/* Stores `err` as the handle's and the calling thread's last error when `status` fails;
 * returns `status`. */
pyagent_status pa_reg_finish(pyagent_registry *reg, pyagent_status status, const pa_err *err);

/* The time now, Unix seconds. */
int64_t pa_reg_now(void);

#endif
