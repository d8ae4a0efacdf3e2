/*
 * Checkpoints (pyagent_agent_checkpoint / pyagent_agent_restore): an agent's snapshot split so
 * that saving often costs what changed, not the whole KV.
 *
 *   dir/state          header {magic "PACKPT01", version, model fingerprint, the agent's
 *                      lineage, the log's generation, positions in the log, the log's committed
 *                      bytes and records, the snapshot's size, XXH3 of all that}, then a
 *                      snapshot of the agent without its KV (meta, tokens, logits: snapshot.c)
 *   dir/kv.<gen>       the log: records {u64 size, a latent packet of positions [from, to)},
 *                      each packet continuing the one before (it checks the token prefix)
 *
 * Saving appends one record for the positions computed since the agent's last checkpoint
 * (fsync), then replaces the state (temporary file, fsync, rename, fsync of the directory). A
 * crash before the rename leaves the old state, which names the old committed length: the torn
 * tail is ignored, and cut by the next append. When the log cannot be continued -- another
 * agent's directory, or positions it holds were recomputed (rewind, reset) -- a new log is
 * written whole under the next generation before the state names it, and the old one removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "../engine/engine_internal.h"
#include "latent_internal.h"

#define MAGIC "PACKPT01"
#define FORMAT_VERSION 1u
#define MAX_STATE_BYTES ((size_t)1 << 30)

typedef struct ckpt_header {
    char magic[8];
    uint32_t version, reserved;
    uint64_t fingerprint, lineage, generation;
    uint64_t kv_positions;   /* the log holds positions [0, kv_positions) */
    uint64_t kv_bytes;       /* committed length of the log */
    uint64_t n_records;
    uint64_t snapshot_bytes; /* the snapshot (without KV) after the header */
    uint64_t checksum;       /* XXH3 of the bytes above */
} ckpt_header;

static void file_in(char *out, size_t size, const char *dir, const char *name, uint64_t gen) {
    if (name) snprintf(out, size, "%s/%s", dir, name);
    else snprintf(out, size, "%s/kv.%llu", dir, (unsigned long long)gen);
}

/* The header of a state file's bytes, checked (magic, version, checksum, sizes). */
static pyagent_status read_header(const uint8_t *data, size_t size, ckpt_header *h, pa_err *err) {
    if (size < sizeof *h) return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "checkpoint state: too short");
    memcpy(h, data, sizeof *h);
    if (memcmp(h->magic, MAGIC, 8) != 0)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "not a checkpoint state (magic)");
    if (h->version != FORMAT_VERSION)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "checkpoint format %u, this library reads %u",
                       h->version, FORMAT_VERSION);
    if (XXH3_64bits(h, offsetof(ckpt_header, checksum)) != h->checksum)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "checkpoint state: header checksum mismatch");
    if (h->reserved || h->snapshot_bytes != size - sizeof *h || h->n_records > h->kv_bytes ||
        (h->kv_positions > 0) != (h->n_records > 0))
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "checkpoint state: inconsistent header");
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Restoring                                                                                   */

typedef struct log_view {
    const uint8_t *data;
    const ckpt_header *h;
} log_view;

/* The snapshot's KV source: every record of the log, in order, imported exactly. */
static pyagent_status import_log(void *ctx, pyagent_agent *a, uint64_t n_computed, pa_err *err) {
    const log_view *log = ctx;
    const ckpt_header *h = log->h;
    if (n_computed != h->kv_positions)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "checkpoint: the state has %llu computed "
                       "positions, the log %llu", (unsigned long long)n_computed,
                       (unsigned long long)h->kv_positions);
    size_t at = 0;
    for (uint64_t r = 0; r < h->n_records; r++) {
        uint64_t size;
        if (h->kv_bytes - at < sizeof size)
            return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "checkpoint log: record %llu cut short",
                           (unsigned long long)r);
        memcpy(&size, log->data + at, sizeof size);
        at += sizeof size;
        if (size > h->kv_bytes - at)
            return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "checkpoint log: record %llu of %llu "
                           "bytes past the committed end", (unsigned long long)r,
                           (unsigned long long)size);
        pyagent_latent_packet *p = NULL;
        pyagent_status st = pa_latent_parse_view(a->engine, log->data + at, size, &p, err);
        if (!st) st = pa_latent_import_exact_locked(a, p);
        if (st && !err->msg[0]) pa_fail(err, st, "%s", "checkpoint log: record refused");
        pyagent_latent_packet_destroy(p); /* parsed: holds no blocks, takes no lock */
        if (st) return st;
        at += size;
    }
    if (at != h->kv_bytes || a->n_computed != h->kv_positions)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "checkpoint log: records end at byte %zu of "
                       "%llu, position %zu of %llu", at, (unsigned long long)h->kv_bytes,
                       a->n_computed, (unsigned long long)h->kv_positions);
    return PYAGENT_OK;
}

pyagent_status pa_checkpoint_restore(pyagent_engine *e, const uint8_t *state, size_t state_size,
                                     const uint8_t *log, size_t log_size, pyagent_agent **out,
                                     pa_err *err) {
    *out = NULL;
    ckpt_header h;
    pyagent_status st = read_header(state, state_size, &h, err);
    if (st) return st;
    if (h.fingerprint != e->model->fingerprint)
        return pa_fail(err, PYAGENT_ERR_MISMATCH, "checkpoint of another model");
    if (log_size < h.kv_bytes)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "checkpoint log: %zu bytes, the state "
                       "names %llu", log_size, (unsigned long long)h.kv_bytes);
    log_view view = {log, &h};
    st = pa_snapshot_restore_with(e, state + sizeof h, (size_t)h.snapshot_bytes, import_log,
                                  &view, out, err);
    if (!st) {
        (*out)->lineage = h.lineage; /* its next checkpoint continues this log */
        (*out)->ckpt_stable = (size_t)h.kv_positions;
    }
    return st;
}

pyagent_status pyagent_agent_restore(pyagent_engine *engine, const char *dir,
                                     pyagent_agent **agent) {
    if (agent) *agent = NULL;
    if (!pa_engine_ready(engine) || !dir || !agent) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    char path[4096];
    uint8_t *state = NULL;
    size_t state_size = 0, log_size = 0;
    const uint8_t *log = NULL;
    ckpt_header h;
    file_in(path, sizeof path, dir, "state", 0);
    pyagent_status st = pa_read_file(path, MAX_STATE_BYTES, &state, &state_size, &err);
    if (!st) st = read_header(state, state_size, &h, &err);
    if (!st) {
        file_in(path, sizeof path, dir, NULL, h.generation);
        st = pa_map_file(path, &log, &log_size, &err);
    }
    if (!st) st = pa_checkpoint_restore(engine, state, state_size, log, log_size, agent, &err);
    pa_unmap_file(log, log_size);
    free(state);
    if (st) {
        pa_err_prefix(&err, dir);
        return pa_engine_set_error(engine, &err);
    }
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Saving                                                                                      */

/* The directory's current header, if it has a valid state of this model; false otherwise. */
static bool current_header(const char *dir, uint64_t fingerprint, ckpt_header *h) {
    char path[4096];
    file_in(path, sizeof path, dir, "state", 0);
    uint8_t *data = NULL;
    size_t size = 0;
    pa_err err = {0};
    const bool ok = !pa_read_file(path, MAX_STATE_BYTES, &data, &size, &err) &&
                    !read_header(data, size, h, &err) && h->fingerprint == fingerprint;
    free(data);
    return ok;
}

/* Appends `rec` to the log at its committed length (cutting a torn tail first), fsync'ed. */
static pyagent_status append_record(const char *path, uint64_t at, const uint8_t *rec,
                                    size_t size, pa_err *err) {
    const int fd = open(path, O_WRONLY | O_CLOEXEC);
    const bool ok = fd >= 0 && ftruncate(fd, (off_t)at) == 0 &&
                    lseek(fd, (off_t)at, SEEK_SET) == (off_t)at && pa_write_all(fd, rec, size) &&
                    fsync(fd) == 0;
    const int saved = errno;
    if (fd >= 0) close(fd);
    return ok ? PYAGENT_OK : pa_fail(err, PYAGENT_ERR_IO, "%s: %s", path, strerror(saved));
}

/* What one checkpoint writes, made while the agent is held. */
typedef struct ckpt_plan {
    ckpt_header h, old;
    bool had_state, append;
    uint8_t *snapshot, *record; /* record: u64 size + packet, or NULL when nothing new */
    size_t snapshot_size, record_size;
    pyagent_latent_packet *packets[2];
} ckpt_plan;

/* What the directory holds now (read before the agent is held: file reads do not stall the
 * engine): its header, and whether its log is whole. */
static void look(const char *dir, uint64_t fingerprint, ckpt_plan *p, bool *log_whole) {
    p->had_state = current_header(dir, fingerprint, &p->old);
    char log[4096];
    struct stat sb;
    file_in(log, sizeof log, dir, NULL, p->old.generation);
    *log_whole = p->had_state && stat(log, &sb) == 0 && (uint64_t)sb.st_size >= p->old.kv_bytes;
}

static pyagent_status plan(pyagent_agent *a, bool log_whole, ckpt_plan *p) {
    pyagent_engine *e = a->engine;
    p->append = log_whole && p->old.lineage == a->lineage &&
                p->old.kv_positions <= a->ckpt_stable && p->old.kv_positions <= a->n_computed;
    pyagent_status st = pa_snapshot_build(a, false, &p->snapshot, &p->snapshot_size,
                                          &p->packets[0]);
    const uint64_t from = p->append ? p->old.kv_positions : 0;
    size_t packet_size = 0;
    if (!st && from < a->n_computed) {
        st = pa_latent_export_locked(a, (int64_t)from, (int64_t)a->n_computed, &p->packets[1]);
        if (!st && pyagent_latent_packet_serialize(p->packets[1], pa_snapshot_payload(e), NULL,
                                                   0, &packet_size) != PYAGENT_ERR_BUFFER_TOO_SMALL)
            st = pa_fail(&a->last_error, PYAGENT_ERR_INTERNAL, "checkpoint: packet size");
        p->record_size = sizeof(uint64_t) + packet_size;
        if (!st && !(p->record = malloc(p->record_size)))
            st = pa_fail(&a->last_error, PYAGENT_ERR_OUT_OF_MEMORY, "checkpoint: out of memory");
        if (!st) {
            const uint64_t n = packet_size;
            memcpy(p->record, &n, sizeof n);
            pyagent_latent_packet_serialize(p->packets[1], pa_snapshot_payload(e),
                                            p->record + sizeof n, packet_size, &packet_size);
        }
    }
    if (st) return st;
    p->h = (ckpt_header){.version = FORMAT_VERSION,
                         .fingerprint = e->model->fingerprint,
                         .lineage = a->lineage,
                         .generation = p->append ? p->old.generation
                                                 : p->had_state ? p->old.generation + 1 : 1,
                         .kv_positions = a->n_computed,
                         .kv_bytes = (p->append ? p->old.kv_bytes : 0) + p->record_size,
                         .n_records = (p->append ? p->old.n_records : 0) + (p->record ? 1 : 0),
                         .snapshot_bytes = p->snapshot_size};
    memcpy(p->h.magic, MAGIC, 8);
    p->h.checksum = XXH3_64bits(&p->h, offsetof(ckpt_header, checksum));
    a->ckpt_stable = a->n_computed; /* from here on, truncation lowers it again */
    return PYAGENT_OK;
}

/* The log (appended, or a new one written whole), then the state that names it. */
static pyagent_status write_plan(const char *dir, const ckpt_plan *p, pa_err *err) {
    char log[4096], path[4096];
    file_in(log, sizeof log, dir, NULL, p->h.generation);
    pyagent_status st = p->append ? (p->record ? append_record(log, p->old.kv_bytes, p->record,
                                                               p->record_size, err)
                                               : PYAGENT_OK)
                                  : pa_write_file_atomically(log, p->record ? p->record
                                                                            : (const uint8_t *)"",
                                                             p->record_size, err);
    const size_t size = sizeof p->h + p->snapshot_size;
    uint8_t *state = st ? NULL : malloc(size);
    if (!st && !state) st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "checkpoint: out of memory");
    if (!st) {
        memcpy(state, &p->h, sizeof p->h);
        memcpy(state + sizeof p->h, p->snapshot, p->snapshot_size);
        file_in(path, sizeof path, dir, "state", 0);
        st = pa_write_file_atomically(path, state, size, err);
    }
    free(state);
    if (!st && p->had_state && !p->append) { /* the old generation's log is no one's now */
        file_in(log, sizeof log, dir, NULL, p->old.generation);
        unlink(log);
    }
    return st;
}

pyagent_status pyagent_agent_checkpoint(pyagent_agent *agent, const char *dir) {
    if (!agent || !dir) return PYAGENT_ERR_INVALID_ARGUMENT;
    const bool made = mkdir(dir, 0777) == 0 || errno == EEXIST;
    const int mkdir_errno = errno;
    ckpt_plan p = {0};
    bool log_whole = false;
    if (made) look(dir, agent->engine->model->fingerprint, &p, &log_whole);
    pyagent_status st = pa_agent_begin_change(agent);
    if (st) return st;
    if (!made)
        return pa_agent_end_change(agent, pa_fail(&agent->last_error, PYAGENT_ERR_IO, "%s: %s",
                                                  dir, strerror(mkdir_errno)));
    st = plan(agent, log_whole, &p);
    /* the KV is copied out: the files are written without holding the engine */
    st = pa_agent_end_change(agent, st);
    pyagent_latent_packet_destroy(p.packets[0]);
    pyagent_latent_packet_destroy(p.packets[1]);
    if (!st) {
        pa_err err = {0};
        st = write_plan(dir, &p, &err);
        if (st) { /* the directory may not hold what the agent now thinks: start over next time */
            pthread_mutex_lock(&agent->engine->lock);
            agent->ckpt_stable = 0;
            agent->last_error = err;
            pthread_mutex_unlock(&agent->engine->lock);
        }
    }
    free(p.snapshot);
    free(p.record);
    return st;
}
