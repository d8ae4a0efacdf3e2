/*
 * Agent snapshots: everything an agent needs to continue exactly where it was — its sequence,
 * its KV (as a lossless latent packet), the logits of its last computed token, its sampler's
 * settings and RNG state, stop strings and labels — in one checksummed file.
 *
 * File (little-endian): a header (magic "PASN", format version, model fingerprint, the size of
 * each section, XXH3 of the header), then the sections, each followed by its XXH3:
 *   meta    sampler settings and RNG state, stops, labels, cache salt, how much is computed
 *   tokens  the sequence
 *   kv      a latent packet of the computed tokens (F32 or F16 rows, as the store keeps them)
 *   logits  n_vocab floats when the agent had logits
 * Writing is crash-safe: a temporary file in the same directory, fsync, rename over the target,
 * fsync of the directory. A reader sees the old snapshot or the new one, never a mix.
 */
#define _DEFAULT_SOURCE /* MAP_POPULATE */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "../engine/engine_internal.h"
#include "latent_internal.h"

#define MAGIC 0x4e534150u /* "PASN" */
#define FORMAT_VERSION 1

typedef struct snapshot_header {
    uint32_t magic, version;
    uint64_t fingerprint;
    uint64_t meta_bytes, n_tokens, kv_bytes, n_logits;
    uint64_t checksum; /* XXH3 of the bytes above */
} snapshot_header;

/* What the sampler, stops and labels hold; written as one zero-initialized struct. */
typedef struct snapshot_meta {
    double repeat_penalty, frequency_penalty, presence_penalty, temperature, top_p, min_p;
    int64_t repeat_last_n, top_k;
    uint64_t rng[4];
    uint64_t cache_salt;
    uint64_t n_computed;
    uint32_t has_logits, n_stops;
    uint32_t stop_len[PA_MAX_STOPS];
    char stops[PA_MAX_STOPS][PA_MAX_STOP_LEN];
    char session_id[PA_MAX_LABEL], agent_id[PA_MAX_LABEL];
    int32_t spec_drafter, spec_builder, spec_budget, spec_top_k, spec_depth, spec_width,
        spec_self_layers;
    float spec_mu;
} snapshot_meta;

/* ----------------------------------------------------------------------------------------- */
/* Saving                                                                                      */

static void capture_meta(const pyagent_agent *a, snapshot_meta *m) {
    memset(m, 0, sizeof *m);
    const pa_sampler *s = &a->sampler;
    m->repeat_penalty = s->repeat_penalty;
    m->frequency_penalty = s->frequency_penalty;
    m->presence_penalty = s->presence_penalty;
    m->temperature = s->temperature;
    m->top_p = s->top_p;
    m->min_p = s->min_p;
    m->repeat_last_n = s->repeat_last_n;
    m->top_k = s->top_k;
    memcpy(m->rng, s->rng, sizeof m->rng);
    m->cache_salt = a->cache_salt;
    m->n_computed = a->n_computed;
    m->has_logits = a->has_logits;
    m->n_stops = (uint32_t)a->n_stops;
    for (int i = 0; i < a->n_stops; i++) m->stop_len[i] = (uint32_t)a->stop_len[i];
    memcpy(m->stops, a->stops, sizeof m->stops);
    memcpy(m->session_id, a->session_id, sizeof m->session_id);
    memcpy(m->agent_id, a->agent_id, sizeof m->agent_id);
    m->spec_drafter = a->spec.drafter;
    m->spec_builder = a->spec.cfg.builder;
    m->spec_budget = a->spec.cfg.budget;
    m->spec_top_k = a->spec.cfg.top_k;
    m->spec_depth = a->spec.cfg.depth;
    m->spec_width = a->spec.cfg.width;
    m->spec_self_layers = a->spec.self_layers;
    m->spec_mu = a->spec.cfg.mu;
}

/* Appends `n` bytes and their XXH3 at *at. */
static void put_section(uint8_t *buf, size_t *at, const void *data, size_t n) {
    memcpy(buf + *at, data, n);
    const uint64_t sum = XXH3_64bits(data, n);
    memcpy(buf + *at + n, &sum, 8);
    *at += n + 8;
}

bool pa_write_all(int fd, const uint8_t *data, size_t size) {
    for (size_t done = 0; done < size;) {
        const ssize_t w = write(fd, data + done, size - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        done += (size_t)w;
    }
    return true;
}

pyagent_status pa_write_file_atomically(const char *path, const uint8_t *data, size_t size,
                                        pa_err *err) {
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "path too long");
    int fd = mkstemp(tmp);
    if (fd < 0) return pa_fail(err, PYAGENT_ERR_IO, "%s: %s", tmp, strerror(errno));
    const bool ok = pa_write_all(fd, data, size) && fsync(fd) == 0;
    const int saved = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        const int e = ok ? errno : saved;
        unlink(tmp);
        return pa_fail(err, PYAGENT_ERR_IO, "%s: %s", path, strerror(e));
    }
    snprintf(dir, sizeof dir, "%s", path); /* the rename itself must reach the disk too */
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return PYAGENT_OK;
}

pyagent_status pa_snapshot_build(pyagent_agent *agent, bool with_kv, uint8_t **out,
                                 size_t *out_size, pyagent_latent_packet **packet_out) {
    pa_err *err = &agent->last_error;
    pyagent_engine *e = agent->engine;
    *out = NULL, *packet_out = NULL;
    if (agent->first_embd != SIZE_MAX)
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED, "snapshots hold token ids: this agent was "
                       "fed embeddings (position %zu)", agent->first_embd);
    if (agent->pruned_from != SIZE_MAX)
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED, "snapshots hold every position's KV: this "
                       "agent's was pruned (kv_window)");
    if (pa_kv_config_of(e->kv)->elem_type == PA_KV_Q8_0) /* a round trip would re-quantize */
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED, "snapshots need an F32 or F16 KV store");
    if (e->cuda)
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                       "snapshots: not on backend cuda yet (its KV is on the device)");
    pyagent_latent_packet *packet = NULL;
    size_t kv_bytes = 0;
    pyagent_status st = PYAGENT_OK;
    if (with_kv && agent->n_computed > 0) {
        st = pa_latent_export_locked(agent, 0, (int64_t)agent->n_computed, &packet);
        if (!st && pyagent_latent_packet_serialize(packet, pa_snapshot_payload(e), NULL, 0,
                                                   &kv_bytes) != PYAGENT_ERR_BUFFER_TOO_SMALL)
            st = pa_fail(err, PYAGENT_ERR_INTERNAL, "snapshot: packet size");
    }
    const size_t n_vocab = (size_t)e->model->hp.n_vocab;
    snapshot_header h = {MAGIC, FORMAT_VERSION, e->model->fingerprint, sizeof(snapshot_meta),
                         agent->n_tokens, kv_bytes, agent->has_logits ? n_vocab : 0, 0};
    h.checksum = XXH3_64bits(&h, offsetof(snapshot_header, checksum));
    const size_t size = sizeof h + sizeof(snapshot_meta) + 8 + h.n_tokens * 4 + 8 + kv_bytes +
                        (h.n_logits ? h.n_logits * 4 + 8 : 0);
    uint8_t *buf = st ? NULL : malloc(size);
    if (!st && !buf) st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "snapshot: out of memory");
    if (!st) {
        size_t at = sizeof h;
        memcpy(buf, &h, sizeof h);
        snapshot_meta meta;
        capture_meta(agent, &meta);
        put_section(buf, &at, &meta, sizeof meta);
        put_section(buf, &at, agent->tokens, h.n_tokens * 4);
        if (packet) {
            pyagent_latent_packet_serialize(packet, pa_snapshot_payload(e), buf + at, kv_bytes,
                                            &kv_bytes);
            at += kv_bytes;
        }
        if (h.n_logits) put_section(buf, &at, agent->logits, n_vocab * 4);
        *out = buf, *out_size = size;
    }
    *packet_out = packet; /* it holds blocks: destroyed once the agent is let go */
    return st;
}

int32_t pa_snapshot_payload(const pyagent_engine *e) {
    return pa_kv_config_of(e->kv)->elem_type == PA_KV_F16 ? PYAGENT_LATENT_F16
                                                          : PYAGENT_LATENT_F32;
}

pyagent_status pyagent_agent_save(pyagent_agent *agent, const char *path) {
    if (!path) return PYAGENT_ERR_INVALID_ARGUMENT;
    pyagent_status st = pa_agent_begin_change(agent);
    if (st) return st;
    uint8_t *buf = NULL;
    size_t size = 0;
    pyagent_latent_packet *packet = NULL;
    st = pa_snapshot_build(agent, true, &buf, &size, &packet);
    /* the KV is copied out: the file is written without holding the engine */
    pyagent_status done = pa_agent_end_change(agent, st);
    pyagent_latent_packet_destroy(packet);
    if (!done) {
        pa_err werr = {0};
        done = pa_write_file_atomically(path, buf, size, &werr);
        if (done) agent->last_error = werr;
    }
    free(buf);
    return done;
}

/* ----------------------------------------------------------------------------------------- */
/* Loading                                                                                     */

static pyagent_status take_section(const uint8_t *data, size_t size, size_t *at, size_t n,
                                   const char *what, pa_err *err) {
    if (n > size || *at > size - n || size - n - *at < 8)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "snapshot: %s section past end of file",
                       what);
    uint64_t sum;
    memcpy(&sum, data + *at + n, 8);
    if (XXH3_64bits(data + *at, n) != sum)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "snapshot: %s checksum mismatch", what);
    return PYAGENT_OK;
}

static pyagent_status check_meta(const pyagent_engine *e, const snapshot_meta *m,
                                 const snapshot_header *h, bool outside_kv, pa_err *err) {
    bool ok = m->n_stops <= PA_MAX_STOPS && m->n_computed <= h->n_tokens &&
              h->n_tokens <= (uint64_t)e->n_ctx && m->has_logits <= 1 &&
              (m->has_logits ? m->n_computed == h->n_tokens && h->n_logits ==
                                   (uint64_t)e->model->hp.n_vocab
                             : h->n_logits == 0) &&
              (outside_kv ? h->kv_bytes == 0 : (m->n_computed > 0) == (h->kv_bytes > 0)) &&
              memchr(m->session_id, 0, sizeof m->session_id) &&
              memchr(m->agent_id, 0, sizeof m->agent_id) && m->spec_drafter >= 0 &&
              m->spec_drafter <= PYAGENT_SPEC_DRAFT;
    for (uint32_t i = 0; ok && i < m->n_stops; i++)
        ok = m->stop_len[i] >= 1 && m->stop_len[i] <= PA_MAX_STOP_LEN;
    return ok ? PYAGENT_OK
              : pa_fail(err, PYAGENT_ERR_BAD_PACKET, "snapshot: inconsistent agent state");
}

static void apply_meta(pyagent_agent *a, const snapshot_meta *m) {
    pa_sampler *s = &a->sampler;
    s->repeat_penalty = m->repeat_penalty;
    s->frequency_penalty = m->frequency_penalty;
    s->presence_penalty = m->presence_penalty;
    s->temperature = m->temperature;
    s->top_p = m->top_p;
    s->min_p = m->min_p;
    s->repeat_last_n = m->repeat_last_n;
    s->top_k = m->top_k;
    memcpy(s->rng, m->rng, sizeof s->rng);
    a->cache_salt = m->cache_salt;
    a->root_key = pa_kv_root_key(a->engine->kv, a->cache_salt);
    a->n_stops = (int)m->n_stops;
    for (uint32_t i = 0; i < m->n_stops; i++) a->stop_len[i] = m->stop_len[i];
    memcpy(a->stops, m->stops, sizeof a->stops);
    memcpy(a->session_id, m->session_id, sizeof a->session_id);
    memcpy(a->agent_id, m->agent_id, sizeof a->agent_id);
}

/* The agent from the snapshot bytes (checked), created on `e`. */
pyagent_status pa_snapshot_restore(pyagent_engine *e, const uint8_t *data, size_t size,
                                   pyagent_agent **out, pa_err *err) {
    return pa_snapshot_restore_with(e, data, size, NULL, NULL, out, err);
}

pyagent_status pa_snapshot_restore_with(pyagent_engine *e, const uint8_t *data, size_t size,
                                        pa_kv_source_fn source, void *ctx, pyagent_agent **out,
                                        pa_err *err) {
    snapshot_header h;
    if (size < sizeof h) return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "snapshot: too short");
    memcpy(&h, data, sizeof h);
    if (h.magic != MAGIC) return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "not a snapshot file");
    if (h.version != FORMAT_VERSION)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "snapshot format %u, this library reads %d",
                       h.version, FORMAT_VERSION);
    if (XXH3_64bits(&h, offsetof(snapshot_header, checksum)) != h.checksum)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "snapshot: header checksum mismatch");
    if (h.fingerprint != e->model->fingerprint)
        return pa_fail(err, PYAGENT_ERR_MISMATCH, "snapshot of another model");
    if (h.meta_bytes != sizeof(snapshot_meta) || h.n_tokens > (uint64_t)e->n_ctx ||
        h.n_logits > (uint64_t)e->model->hp.n_vocab || h.kv_bytes > size)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "snapshot: bad section sizes");
    size_t at = sizeof h;
    snapshot_meta meta;
    pyagent_status st = take_section(data, size, &at, sizeof meta, "meta", err);
    if (st) return st;
    memcpy(&meta, data + at, sizeof meta);
    at += sizeof meta + 8;
    if ((st = check_meta(e, &meta, &h, source != NULL, err)) ||
        (st = take_section(data, size, &at, h.n_tokens * 4, "tokens", err)))
        return st;
    const uint8_t *tokens = data + at;
    at += h.n_tokens * 4 + 8;
    pyagent_latent_packet *packet = NULL;
    if (h.kv_bytes > 0) {
        if (h.kv_bytes > size - at)
            return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "snapshot: KV section past end of file");
        if ((st = pa_latent_parse_view(e, data + at, h.kv_bytes, &packet, err))) return st;
        at += h.kv_bytes;
    }
    if (h.n_logits && (st = take_section(data, size, &at, h.n_logits * 4, "logits", err))) {
        pyagent_latent_packet_destroy(packet);
        return st;
    }
    if (at + (h.n_logits ? h.n_logits * 4 + 8 : 0) != size) {
        pyagent_latent_packet_destroy(packet);
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "snapshot: %zu bytes, expected %zu", size,
                       at + (size_t)(h.n_logits ? h.n_logits * 4 + 8 : 0));
    }

    pyagent_agent *a = NULL;
    if ((st = pyagent_agent_create(e, NULL, &a))) {
        pyagent_latent_packet_destroy(packet);
        return pa_fail(err, st, "%s", pyagent_engine_last_error(e));
    }
    st = pa_agent_begin_change(a);
    if (!st) {
        apply_meta(a, &meta);
        if (packet) st = pa_latent_import_exact_locked(a, packet);
        if (source && meta.n_computed > 0) st = source(ctx, a, meta.n_computed, &a->last_error);
        if (!st && !pa_sched_reserve_tokens_locked(a, h.n_tokens))
            st = pa_fail(&a->last_error, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
        if (!st) { /* queued tokens after the computed ones, and the logits */
            memcpy(a->tokens, tokens, h.n_tokens * 4);
            a->n_tokens = h.n_tokens;
            a->has_logits = meta.has_logits;
            if (meta.has_logits) memcpy(a->logits, data + at, h.n_logits * 4);
            if (!a->has_logits && a->n_computed == a->n_tokens && a->n_tokens > 0) {
                a->n_computed--; /* no logits for the last token: it is computed again */
                pa_sched_truncate_blocks_locked(a, a->n_computed);
            }
        }
        st = pa_agent_end_change(a, st);
    }
    pyagent_latent_packet_destroy(packet);
    if (st) {
        pa_fail(err, st, "%s", pyagent_agent_last_error(a));
        pyagent_agent_destroy(a);
        return st;
    }
    *out = a;
    return PYAGENT_OK;
}

pyagent_status pa_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                            pa_err *err) {
    *data = NULL;
    FILE *f = fopen(path, "rb");
    struct stat sb;
    pyagent_status st = PYAGENT_OK;
    if (!f || fstat(fileno(f), &sb) != 0)
        st = pa_fail(err, PYAGENT_ERR_IO, "%s: %s", path, strerror(errno));
    else if ((uint64_t)sb.st_size > max_bytes)
        st = pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "%s: %lld bytes, more than the %zu allowed",
                     path, (long long)sb.st_size, max_bytes);
    if (!st) {
        *size = (size_t)sb.st_size;
        *data = malloc(*size ? *size : 1);
        if (!*data) st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        else if (fread(*data, 1, *size, f) != *size)
            st = pa_fail(err, PYAGENT_ERR_IO, "%s: short read", path);
    }
    if (f) fclose(f);
    if (st) {
        free(*data);
        *data = NULL;
    }
    return st;
}

pyagent_status pa_map_file(const char *path, const uint8_t **data, size_t *size, pa_err *err) {
    static const uint8_t empty[1];
    *data = NULL, *size = 0;
    struct stat sb;
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        const pyagent_status st = pa_fail(err, PYAGENT_ERR_IO, "%s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return st;
    }
    if (sb.st_size == 0) {
        close(fd);
        *data = empty;
        return PYAGENT_OK;
    }
#ifndef MAP_POPULATE
#define MAP_POPULATE 0
#endif
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return pa_fail(err, PYAGENT_ERR_IO, "%s: %s", path, strerror(errno));
    *data = m, *size = (size_t)sb.st_size;
    return PYAGENT_OK;
}

void pa_unmap_file(const uint8_t *data, size_t size) {
    if (data && size > 0) munmap((void *)data, size);
}

pyagent_status pyagent_agent_load(pyagent_engine *engine, const char *path,
                                  pyagent_agent **agent) {
    if (agent) *agent = NULL;
    if (!pa_engine_ready(engine) || !path || !agent) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    const uint8_t *data = NULL;
    size_t size = 0;
    pyagent_status st = pa_map_file(path, &data, &size, &err);
    if (!st) {
        st = pa_snapshot_restore(engine, data, size, agent, &err);
        if (st) pa_err_prefix(&err, path);
    }
    pa_unmap_file(data, size);
    return st ? pa_engine_set_error(engine, &err) : PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Whole-store snapshots: every published block (the prefix cache), parents first              */

#define STORE_MAGIC "PAKVSTOR"
#define STORE_VERSION 1u

typedef struct store_header {
    char magic[8];
    uint32_t version, elem_type, n_layer, kv_dim, block_size, reserved;
    uint64_t fingerprint, n_records, record_bytes;
    uint64_t checksum; /* XXH3 of the bytes above */
} store_header;

typedef struct node_ref {
    int32_t block;
    uint64_t key, parent_key;
    const int32_t *tokens;
    int64_t depth; /* -1 until known */
} node_ref;

static int by_key(const void *a, const void *b) {
    const uint64_t x = ((const node_ref *)a)->key, y = ((const node_ref *)b)->key;
    return (x > y) - (x < y);
}

static int by_depth(const void *a, const void *b) {
    const int64_t x = ((const node_ref *)a)->depth, y = ((const node_ref *)b)->depth;
    return (x > y) - (x < y);
}

/* Sorts the nodes so that every parent comes before its children: each node's depth is the
 * length of its chain of parents among the nodes (found by key after a sort by key). */
static void order_by_depth(node_ref *v, size_t n) {
    qsort(v, n, sizeof *v, by_key);
    for (size_t i = 0; i < n; i++) v[i].depth = -1;
    for (size_t i = 0; i < n; i++) {
        int64_t d = 0; /* walk up to a node of known depth (or a root), then back down */
        node_ref *at = &v[i];
        while (at && at->depth < 0) {
            const node_ref want = {.key = at->parent_key};
            at = bsearch(&want, v, n, sizeof *v, by_key);
            d++;
        }
        int64_t depth = (at ? at->depth : -1) + d;
        for (at = &v[i]; at && at->depth < 0; depth--) {
            at->depth = depth;
            const node_ref want = {.key = at->parent_key};
            at = bsearch(&want, v, n, sizeof *v, by_key);
        }
    }
    qsort(v, n, sizeof *v, by_depth);
}

typedef struct node_refs {
    node_ref *v;
    size_t n, cap;
} node_refs;

static void collect_node(void *ctx, int32_t block, uint64_t key, uint64_t parent_key,
                         int32_t refcount, int32_t n_children, const int32_t *tokens) {
    (void)refcount, (void)n_children;
    node_refs *r = ctx;
    if (r->n < r->cap) r->v[r->n++] = (node_ref){block, key, parent_key, tokens, -1};
}

static store_header store_header_of(const pyagent_engine *e, uint64_t n_records) {
    const pa_kv_config *cfg = pa_kv_config_of(e->kv);
    store_header h = {.version = STORE_VERSION,
                      .elem_type = (uint32_t)cfg->elem_type,
                      .n_layer = (uint32_t)cfg->n_layer,
                      .kv_dim = (uint32_t)cfg->kv_dim,
                      .block_size = (uint32_t)cfg->block_size,
                      .fingerprint = e->model->fingerprint,
                      .n_records = n_records,
                      .record_bytes = pa_kv_record_bytes(cfg)};
    memcpy(h.magic, STORE_MAGIC, 8);
    h.checksum = XXH3_64bits(&h, offsetof(store_header, checksum));
    return h;
}

pyagent_status pyagent_kv_store_save(pyagent_kv_store *store, const char *path) {
    if (!store || !path) return PYAGENT_ERR_INVALID_ARGUMENT;
    pyagent_engine *e = store->engine;
    pa_err err = {0};
    if (e->cuda) {
        pa_fail(&err, PYAGENT_ERR_UNSUPPORTED, "store snapshot: not on backend cuda yet");
        return pa_engine_set_error(e, &err);
    }
    pthread_mutex_lock(&e->lock);
    const pa_kv_config *cfg = pa_kv_config_of(e->kv);
    const size_t rec = pa_kv_record_bytes(cfg);
    node_refs nodes = {malloc((size_t)cfg->n_blocks * sizeof *nodes.v), 0, (size_t)cfg->n_blocks};
    uint8_t *buf = NULL;
    size_t size = 0;
    if (nodes.v) pa_kv_for_each_node(e->kv, collect_node, &nodes);
    if (nodes.v) buf = malloc(sizeof(store_header) + nodes.n * rec + 8);
    if (buf) {
        /* parents before children: in order of depth in the prefix tree */
        order_by_depth(nodes.v, nodes.n);
        size_t at = sizeof(store_header), done = 0;
        for (; done < nodes.n; done++, at += rec)
            pa_kv_record_write(e->kv, nodes.v[done].block, nodes.v[done].key,
                               nodes.v[done].parent_key, nodes.v[done].tokens, buf + at);
        const store_header h = store_header_of(e, done);
        memcpy(buf, &h, sizeof h);
        const uint64_t sum = XXH3_64bits(buf + sizeof h, at - sizeof h);
        memcpy(buf + at, &sum, 8);
        size = at + 8;
    }
    pthread_mutex_unlock(&e->lock);
    free(nodes.v);
    pyagent_status st = buf ? pa_write_file_atomically(path, buf, size, &err)
                            : pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY, "store snapshot: out of memory");
    free(buf);
    return st ? pa_engine_set_error(e, &err) : PYAGENT_OK;
}

pyagent_status pa_kv_store_restore(pyagent_engine *e, const uint8_t *data, size_t size,
                                   int64_t *n_blocks, pa_err *err) {
    *n_blocks = 0;
    store_header h, want = store_header_of(e, 0);
    if (size < sizeof h + 8) return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "store snapshot: too short");
    memcpy(&h, data, sizeof h);
    if (memcmp(h.magic, STORE_MAGIC, 8) != 0)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "not a KV store snapshot");
    if (h.version != STORE_VERSION)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "store snapshot format %u, this library reads %u",
                       h.version, STORE_VERSION);
    if (XXH3_64bits(&h, offsetof(store_header, checksum)) != h.checksum)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "store snapshot: header checksum mismatch");
    if (h.fingerprint != want.fingerprint || h.elem_type != want.elem_type ||
        h.n_layer != want.n_layer || h.kv_dim != want.kv_dim || h.block_size != want.block_size ||
        h.record_bytes != want.record_bytes)
        return pa_fail(err, PYAGENT_ERR_MISMATCH,
                       "store snapshot of another model or KV layout (type, block size)");
    if (h.n_records > (size - sizeof h - 8) / h.record_bytes ||
        size != sizeof h + h.n_records * h.record_bytes + 8)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "store snapshot: %zu bytes, its header says "
                       "%llu blocks", size, (unsigned long long)h.n_records);
    uint64_t sum;
    memcpy(&sum, data + size - 8, 8);
    if (XXH3_64bits(data + sizeof h, size - sizeof h - 8) != sum)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "store snapshot: blocks checksum mismatch");
    pthread_mutex_lock(&e->lock);
    for (uint64_t i = 0; i < h.n_records; i++) { /* each becomes a cached block of the index */
        const int32_t b = pa_kv_record_restore(e->kv, data + sizeof h + i * h.record_bytes,
                                               h.record_bytes);
        if (b == PA_NO_BLOCK) continue; /* no room (the pool is smaller) or an invalid record */
        pa_kv_release(e->kv, b);
        (*n_blocks)++;
    }
    pthread_mutex_unlock(&e->lock);
    return PYAGENT_OK;
}

pyagent_status pyagent_kv_store_load(pyagent_kv_store *store, const char *path,
                                     int64_t *n_blocks) {
    if (!store || !path) return PYAGENT_ERR_INVALID_ARGUMENT;
    pyagent_engine *e = store->engine;
    pa_err err = {0};
    int64_t n = 0;
    const uint8_t *data = NULL;
    size_t size = 0;
    pyagent_status st = e->cuda ? pa_fail(&err, PYAGENT_ERR_UNSUPPORTED,
                                          "store snapshot: not on backend cuda yet")
                                : pa_map_file(path, &data, &size, &err);
    if (!st) st = pa_kv_store_restore(e, data, size, &n, &err);
    pa_unmap_file(data, size);
    if (n_blocks) *n_blocks = n;
    if (st) pa_err_prefix(&err, path);
    return st ? pa_engine_set_error(e, &err) : PYAGENT_OK;
}
