/*
 * Latent packets: a range of an agent's sequence with the K/V of every layer.
 *
 * A packet made by pyagent_latent_export references the sender's KV blocks (retained, so they
 * stay unchanged: the sender's next write into a shared block copies it first) and the engine
 * they live in. A deserialized packet owns its rows instead, as f16. Import shares the blocks
 * when it can (same engine, `from` on a block boundary of the receiver) and copies rows
 * otherwise. The wire format is described in include/pyagent/latent.h and docs/latent.md.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "../core/f16.h"
#include "../engine/engine_internal.h"
#include "latent_internal.h"

#define MAGIC 0x4b4c4150u /* "PALK" */
#define FORMAT_VERSION 1
#define Q8_BLOCK 32
#define Q8_BYTES 34

struct pyagent_latent_packet {
    uint64_t fingerprint;
    int n_layer, kv_dim;
    int64_t from, to;
    uint64_t prefix_hash; /* XXH3 of the sender's tokens [0, from) */
    int32_t *tokens;      /* (to - from) */

    /* made by export: the sender's blocks holding positions [from, to) */
    pyagent_engine *engine;
    int32_t *blocks;
    size_t n_blocks;
    int block_size;
    /* made by deserialize: rows (n_layer, to - from, kv_dim), K then V, as f32 for an F32
     * payload and as f16 otherwise */
    void *k, *v;
    bool rows_f32;
    /* made by pa_latent_parse_view: F16 or F32 rows read where they lie in the caller's wire
     * bytes (layer l's K rows at wire + l * layer_bytes, its V rows n rows later) */
    const uint8_t *wire;
    size_t layer_bytes, row_bytes;
};

typedef struct wire_header {
    uint32_t magic, version;
    uint64_t fingerprint;
    uint32_t n_layer, kv_dim, payload_type, reserved;
    uint64_t from, to, prefix_hash;
    uint64_t checksum; /* XXH3 of the bytes above */
} wire_header;

static uint64_t hash_tokens(const int32_t *tokens, size_t n) {
    return XXH3_64bits(tokens, n * sizeof *tokens);
}

static int64_t n_rows(const pyagent_latent_packet *p) { return p->to - p->from; }

/* ----------------------------------------------------------------------------------------- */
/* Rows of the packet, whatever holds them                                                     */

/* Row `i` (0 .. to - from) of layer `l`, K or V, where the packet keeps it, and its element
 * type (a PA_KV_* type). */
static const void *row_of(const pyagent_latent_packet *p, bool values, int l, int64_t i,
                          int *elem_type) {
    if (p->wire) {
        *elem_type = p->rows_f32 ? PA_KV_F32 : PA_KV_F16;
        return p->wire + (size_t)l * p->layer_bytes +
               ((values ? (size_t)n_rows(p) : 0) + (size_t)i) * p->row_bytes;
    }
    if (p->k) {
        *elem_type = p->rows_f32 ? PA_KV_F32 : PA_KV_F16;
        const size_t at = ((size_t)l * (size_t)n_rows(p) + (size_t)i) * (size_t)p->kv_dim;
        return (const uint8_t *)(values ? p->v : p->k) + pa_kv_bytes(*elem_type, 1) * at;
    }
    const pa_kv_store *kv = p->engine->kv;
    const int64_t pos = p->from + i, bs = p->block_size;
    const int32_t block = p->blocks[pos / bs - p->from / bs];
    *elem_type = pa_kv_config_of(kv)->elem_type;
    return values ? pa_kv_v(kv, block, l, (int)(pos % bs)) : pa_kv_k(kv, block, l, (int)(pos % bs));
}

/* ----------------------------------------------------------------------------------------- */
/* Export, import                                                                              */

void pyagent_latent_packet_destroy(pyagent_latent_packet *p) {
    if (!p) return;
    if (p->engine) {
        pyagent_engine *e = p->engine;
        pthread_mutex_lock(&e->lock);
        for (size_t i = 0; i < p->n_blocks; i++) pa_kv_release(e->kv, p->blocks[i]);
        e->n_packets--;
        const bool free_engine = e->zombie && e->n_agents == 0 && e->n_packets == 0;
        pthread_mutex_unlock(&e->lock);
        if (free_engine) pa_engine_free(e);
    }
    free(p->blocks);
    free(p->tokens);
    free(p->k);
    free(p->v);
    free(p);
}

pyagent_status pyagent_latent_packet_range(const pyagent_latent_packet *p, int64_t *from,
                                           int64_t *to) {
    if (!p || !from || !to) return PYAGENT_ERR_INVALID_ARGUMENT;
    *from = p->from;
    *to = p->to;
    return PYAGENT_OK;
}

pyagent_status pa_latent_export_locked(pyagent_agent *a, int64_t from, int64_t to,
                                       pyagent_latent_packet **out) {
    pyagent_engine *e = a->engine;
    if (e->cuda) /* packets read and write K/V rows on the host */
        return pa_fail(&a->last_error, PYAGENT_ERR_UNSUPPORTED,
                       "latent export: not available on backend cuda (its KV is on the device)");
    if (to < 0) to = (int64_t)a->n_computed;
    if (from < 0 || from >= to || to > (int64_t)a->n_computed)
        return pa_fail(&a->last_error, PYAGENT_ERR_OUT_OF_RANGE,
                       "export [%lld, %lld): the agent has %zu computed tokens", (long long)from,
                       (long long)to, a->n_computed);
    if ((size_t)to > a->first_embd) /* a packet names its (and its prefix's) token ids */
        return pa_fail(&a->last_error, PYAGENT_ERR_UNSUPPORTED,
                       "export [%lld, %lld): position %zu was fed as an embedding, not a token",
                       (long long)from, (long long)to, a->first_embd);
    if (a->pruned_from != SIZE_MAX) /* its KV is not its tokens' any more */
        return pa_fail(&a->last_error, PYAGENT_ERR_UNSUPPORTED,
                       "export: the agent's KV was pruned (kv_window)");
    pyagent_latent_packet *p = calloc(1, sizeof *p);
    const int bs = pa_kv_config_of(e->kv)->block_size;
    const size_t first = (size_t)(from / bs), last = (size_t)((to - 1) / bs);
    if (p) {
        p->tokens = malloc((size_t)(to - from) * sizeof *p->tokens);
        p->blocks = malloc((last - first + 1) * sizeof *p->blocks);
    }
    if (!p || !p->tokens || !p->blocks) {
        pyagent_latent_packet_destroy(p);
        return pa_fail(&a->last_error, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    *p = (pyagent_latent_packet){
        .fingerprint = e->model->fingerprint,
        .n_layer = e->model->hp.n_layer,
        .kv_dim = e->model->hp.n_head_kv * e->model->hp.head_dim,
        .from = from,
        .to = to,
        .prefix_hash = hash_tokens(a->tokens, (size_t)from),
        .tokens = p->tokens,
        .engine = e,
        .blocks = p->blocks,
        .n_blocks = last - first + 1,
        .block_size = bs,
    };
    memcpy(p->tokens, a->tokens + from, (size_t)(to - from) * sizeof *p->tokens);
    for (size_t i = 0; i < p->n_blocks; i++) {
        p->blocks[i] = a->blocks[first + i];
        pa_kv_retain(e->kv, p->blocks[i]);
    }
    e->n_packets++;
    *out = p;
    return PYAGENT_OK;
}

static pyagent_status check_fits(const pyagent_agent *a, const pyagent_latent_packet *p,
                                 pa_err *err) {
    const pa_model *m = a->engine->model;
    if (p->fingerprint != m->fingerprint || p->n_layer != m->hp.n_layer ||
        p->kv_dim != m->hp.n_head_kv * m->hp.head_dim)
        return pa_fail(err, PYAGENT_ERR_MISMATCH,
                       "latent packet of another model (fingerprint %016llx, this model's "
                       "%016llx)",
                       (unsigned long long)p->fingerprint, (unsigned long long)m->fingerprint);
    if ((int64_t)a->n_tokens != p->from || (int64_t)a->n_computed != p->from ||
        hash_tokens(a->tokens, a->n_tokens) != p->prefix_hash)
        return pa_fail(err, PYAGENT_ERR_MISMATCH,
                       "latent packet continues a sequence of %lld tokens; this agent's %zu "
                       "tokens (%zu computed) are not that sequence",
                       (long long)p->from, a->n_tokens, a->n_computed);
    if (p->to > a->engine->n_ctx)
        return pa_fail(err, PYAGENT_ERR_CONTEXT_FULL, "latent packet ends at %lld > n_ctx %d",
                       (long long)p->to, a->engine->n_ctx);
    return PYAGENT_OK;
}

/* Shares the packet's blocks when they are this engine's and `from` starts a block here. */
static bool share_blocks(pyagent_agent *a, const pyagent_latent_packet *p) {
    pyagent_engine *e = a->engine;
    if (p->engine != e || p->from % p->block_size != 0 ||
        a->n_blocks != (size_t)(p->from / p->block_size))
        return false;
    for (size_t i = 0; i < p->n_blocks; i++) {
        pa_kv_retain(e->kv, p->blocks[i]);
        pa_sched_push_block_locked(a, p->blocks[i]);
    }
    return true;
}

/* Copies the packet's rows into blocks of the agent's own. */
static pyagent_status copy_rows(pyagent_agent *a, const pyagent_latent_packet *p, pa_err *err) {
    pyagent_engine *e = a->engine;
    pyagent_status st = pa_sched_reserve_blocks_locked(e, a, (size_t)p->to);
    if (st) return st; /* the message is in a->last_error, which err is */
    const pa_kv_config *cfg = pa_kv_config_of(e->kv);
    float *row = malloc((size_t)p->kv_dim * sizeof *row);
    if (!row) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    const size_t bs = (size_t)cfg->block_size;
    for (int l = 0; l < p->n_layer; l++)
        for (int64_t i = 0; i < n_rows(p); i++) {
            const size_t pos = (size_t)(p->from + i);
            const int32_t block = a->blocks[pos / bs];
            for (int values = 0; values < 2; values++) {
                void *dst = values ? pa_kv_v(e->kv, block, l, (int)(pos % bs))
                                   : pa_kv_k(e->kv, block, l, (int)(pos % bs));
                int type;
                const void *src = row_of(p, values, l, i, &type);
                if (type == cfg->elem_type) { /* the same format: the bytes as they are */
                    memcpy(dst, src, pa_kv_bytes(type, p->kv_dim));
                } else {
                    pa_kv_to_f32(type, src, p->kv_dim, row);
                    pa_kv_from_f32(cfg->elem_type, dst, row, p->kv_dim);
                }
            }
        }
    free(row);
    return PYAGENT_OK;
}

/* keep_last: the packet's last token stays computed (a snapshot restores its logits) */
static pyagent_status import_locked(pyagent_agent *a, const pyagent_latent_packet *p,
                                    bool keep_last) {
    pa_err *err = &a->last_error;
    if (a->engine->cuda)
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                       "latent import: not available on backend cuda (its KV is on the device)");
    pyagent_status st = check_fits(a, p, err);
    if (st) return st;
    if (!pa_sched_reserve_tokens_locked(a, (size_t)p->to))
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    if (!share_blocks(a, p) && (st = copy_rows(a, p, err))) {
        pa_sched_truncate_blocks_locked(a, a->n_computed); /* unchanged on failure */
        return st;
    }
    memcpy(a->tokens + a->n_tokens, p->tokens, (size_t)n_rows(p) * sizeof *p->tokens);
    a->n_tokens = (size_t)p->to;
    a->n_computed = (size_t)p->to - (keep_last ? 0 : 1); /* else the last again, for logits */
    a->has_logits = false;
    pa_sched_publish_blocks_locked(a, (size_t)p->from, a->n_computed);
    pa_sched_truncate_blocks_locked(a, a->n_computed);
    a->stats.n_imported_tokens += n_rows(p);
    return PYAGENT_OK;
}

pyagent_status pyagent_latent_export(pyagent_agent *agent, int64_t from, int64_t to,
                                     pyagent_latent_packet **packet) {
    if (packet) *packet = NULL;
    if (!packet) return PYAGENT_ERR_INVALID_ARGUMENT;
    pyagent_status st = pa_agent_begin_change(agent);
    if (st) return st;
    return pa_agent_end_change(agent, pa_latent_export_locked(agent, from, to, packet));
}

pyagent_status pyagent_latent_import(pyagent_agent *agent, const pyagent_latent_packet *packet) {
    if (!packet) return PYAGENT_ERR_INVALID_ARGUMENT;
    pyagent_status st = pa_agent_begin_change(agent);
    if (st) return st;
    return pa_agent_end_change(agent, import_locked(agent, packet, false));
}

pyagent_status pa_latent_import_exact_locked(pyagent_agent *a, const pyagent_latent_packet *p) {
    return import_locked(a, p, true);
}

/* ----------------------------------------------------------------------------------------- */
/* Wire format                                                                                 */

static size_t payload_row_bytes(int32_t type, int kv_dim) {
    return type == PYAGENT_LATENT_Q8_0  ? (size_t)(kv_dim + Q8_BLOCK - 1) / Q8_BLOCK * Q8_BYTES
           : type == PYAGENT_LATENT_F32 ? (size_t)kv_dim * 4
                                        : (size_t)kv_dim * 2;
}

static size_t wire_size(const pyagent_latent_packet *p, int32_t type) {
    const size_t n = (size_t)n_rows(p);
    return sizeof(wire_header) + n * 4 + 8 +
           (size_t)p->n_layer * (2 * n * payload_row_bytes(type, p->kv_dim) + 8);
}

/* The payload type whose rows are bit for bit a KV element type's rows (-1: none). */
static int32_t stored_as(int elem_type) {
    return elem_type == PA_KV_F16   ? PYAGENT_LATENT_F16
           : elem_type == PA_KV_F32 ? PYAGENT_LATENT_F32
                                    : -1;
}

/* One row in the payload type: f16 values, or Q8_0 blocks (f16 scale, 32 int8) as ggml's. */
static void encode_row(const float *row, int n, int32_t type, uint8_t *out) {
    if (type == PYAGENT_LATENT_F32) {
        memcpy(out, row, (size_t)n * sizeof *row);
        return;
    }
    if (type == PYAGENT_LATENT_F16) {
        for (int j = 0; j < n; j++) {
            uint16_t h = pa_f32_to_f16(row[j]);
            memcpy(out + 2 * j, &h, 2);
        }
        return;
    }
    for (int b = 0; b < n; b += Q8_BLOCK, out += Q8_BYTES) {
        const int m = n - b < Q8_BLOCK ? n - b : Q8_BLOCK;
        float amax = 0;
        for (int j = 0; j < m; j++) amax = fmaxf(amax, fabsf(row[b + j]));
        const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        const uint16_t dh = pa_f32_to_f16(d);
        memcpy(out, &dh, 2);
        for (int j = 0; j < Q8_BLOCK; j++)
            out[2 + j] = (uint8_t)(int8_t)(j < m ? lroundf(row[b + j] * id) : 0);
    }
}

/* A payload row into the packet's rows: f32 for an F32 payload, f16 otherwise. */
static void decode_row(const uint8_t *in, int n, int32_t type, void *dst) {
    if (type == PYAGENT_LATENT_F32 || type == PYAGENT_LATENT_F16) {
        memcpy(dst, in, (size_t)n * (type == PYAGENT_LATENT_F32 ? 4 : 2));
        return;
    }
    uint16_t *out = dst;
    for (int b = 0; b < n; b += Q8_BLOCK, in += Q8_BYTES) {
        uint16_t dh;
        memcpy(&dh, in, 2);
        const float d = pa_f16_to_f32(dh);
        for (int j = 0; j < Q8_BLOCK && b + j < n; j++)
            out[b + j] = pa_f32_to_f16(d * (float)(int8_t)in[2 + j]);
    }
}

pyagent_status pyagent_latent_packet_serialize(const pyagent_latent_packet *p, int32_t type,
                                               void *buffer, size_t capacity, size_t *needed) {
    if (!p || !needed || (!buffer && capacity > 0) ||
        (type != PYAGENT_LATENT_F16 && type != PYAGENT_LATENT_Q8_0 &&
         type != PYAGENT_LATENT_F32))
        return PYAGENT_ERR_INVALID_ARGUMENT;
    *needed = wire_size(p, type);
    if (capacity < *needed) return PYAGENT_ERR_BUFFER_TOO_SMALL;
    uint8_t *out = buffer;
    wire_header h = {MAGIC, FORMAT_VERSION, p->fingerprint, (uint32_t)p->n_layer,
                     (uint32_t)p->kv_dim, (uint32_t)type, 0, (uint64_t)p->from,
                     (uint64_t)p->to, p->prefix_hash, 0};
    h.checksum = XXH3_64bits(&h, offsetof(wire_header, checksum));
    memcpy(out, &h, sizeof h);
    out += sizeof h;
    const size_t n = (size_t)n_rows(p);
    memcpy(out, p->tokens, n * 4);
    uint64_t sum = XXH3_64bits(out, n * 4);
    memcpy(out + n * 4, &sum, 8);
    out += n * 4 + 8;
    float *row = malloc((size_t)p->kv_dim * sizeof *row);
    if (!row) return PYAGENT_ERR_OUT_OF_MEMORY;
    const size_t rb = payload_row_bytes(type, p->kv_dim);
    for (int l = 0; l < p->n_layer; l++) {
        uint8_t *section = out;
        for (int values = 0; values < 2; values++)
            for (size_t i = 0; i < n; i++, out += rb) {
                int elem_type;
                const void *src = row_of(p, values, l, (int64_t)i, &elem_type);
                if (stored_as(elem_type) == type) { /* the payload's own type: copy it */
                    memcpy(out, src, rb);
                    continue;
                }
                pa_kv_to_f32(elem_type, src, p->kv_dim, row);
                encode_row(row, p->kv_dim, type, out);
            }
        sum = XXH3_64bits(section, (size_t)(out - section));
        memcpy(out, &sum, 8);
        out += 8;
    }
    free(row);
    return PYAGENT_OK;
}

pyagent_status pyagent_latent_packet_write_fd(const pyagent_latent_packet *p, int32_t type,
                                              int fd) {
    size_t size = 0;
    pyagent_status st = pyagent_latent_packet_serialize(p, type, NULL, 0, &size);
    if (st != PYAGENT_ERR_BUFFER_TOO_SMALL) return st;
    uint8_t *buf = malloc(size);
    if (!buf) return PYAGENT_ERR_OUT_OF_MEMORY;
    st = pyagent_latent_packet_serialize(p, type, buf, size, &size);
    for (size_t done = 0; !st && done < size;) {
        ssize_t w = write(fd, buf + done, size - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) st = PYAGENT_ERR_IO;
        else done += (size_t)w;
    }
    free(buf);
    return st;
}

/* Checks the header against `e`'s model; *size_needed gets the packet's full size. */
static pyagent_status read_header(pyagent_engine *e, const void *data, size_t size,
                                  wire_header *h, size_t *size_needed, pa_err *err) {
    if (size < sizeof *h)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "latent packet: %zu bytes, shorter than "
                       "its header", size);
    memcpy(h, data, sizeof *h);
    if (h->magic != MAGIC) return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "not a latent packet");
    if (h->version != FORMAT_VERSION)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "latent packet format %u, this library "
                       "reads %d", h->version, FORMAT_VERSION);
    if (XXH3_64bits(h, offsetof(wire_header, checksum)) != h->checksum)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "latent packet header checksum mismatch");
    const pa_model *m = e->model;
    if (h->fingerprint != m->fingerprint || h->n_layer != (uint32_t)m->hp.n_layer ||
        h->kv_dim != (uint32_t)(m->hp.n_head_kv * m->hp.head_dim))
        return pa_fail(err, PYAGENT_ERR_MISMATCH, "latent packet of another model "
                       "(fingerprint %016llx, this model's %016llx)",
                       (unsigned long long)h->fingerprint, (unsigned long long)m->fingerprint);
    if (h->payload_type > PYAGENT_LATENT_F32 || h->to <= h->from ||
        h->to > (uint64_t)e->n_ctx)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "latent packet: bad payload type or range");
    pyagent_latent_packet shape = {.n_layer = (int)h->n_layer, .kv_dim = (int)h->kv_dim,
                                   .from = (int64_t)h->from, .to = (int64_t)h->to};
    *size_needed = wire_size(&shape, (int32_t)h->payload_type);
    return PYAGENT_OK;
}

/* Checks every section; rows are decoded into the packet's own memory, or with `view` (and an
 * F16 or F32 payload) read in place from data. */
static pyagent_status parse(pyagent_engine *e, const uint8_t *data, size_t size, bool view,
                            pyagent_latent_packet **out, pa_err *err) {
    wire_header h;
    size_t expected = 0;
    pyagent_status st = read_header(e, data, size, &h, &expected, err);
    if (st) return st;
    if (size != expected)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "latent packet of %zu bytes, its header "
                       "says %zu", size, expected);
    const size_t n = (size_t)(h.to - h.from), d = h.kv_dim;
    const uint8_t *in = data + sizeof h;
    uint64_t sum;
    memcpy(&sum, in + n * 4, 8);
    if (XXH3_64bits(in, n * 4) != sum)
        return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "latent packet tokens checksum mismatch");
    pyagent_latent_packet *p = calloc(1, sizeof *p);
    if (!p) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    *p = (pyagent_latent_packet){.fingerprint = h.fingerprint, .n_layer = (int)h.n_layer,
                                 .kv_dim = (int)d, .from = (int64_t)h.from,
                                 .to = (int64_t)h.to, .prefix_hash = h.prefix_hash};
    p->rows_f32 = h.payload_type == PYAGENT_LATENT_F32;
    const size_t elem = p->rows_f32 ? 4 : 2;
    const size_t rb = payload_row_bytes((int32_t)h.payload_type, (int)d);
    view = view && h.payload_type != PYAGENT_LATENT_Q8_0;
    p->tokens = malloc(n * 4 + 1);
    if (view) {
        p->wire = in + n * 4 + 8, p->layer_bytes = 2 * n * rb + 8, p->row_bytes = rb;
    } else {
        p->k = malloc((size_t)p->n_layer * n * d * elem + 1);
        p->v = malloc((size_t)p->n_layer * n * d * elem + 1);
    }
    if (!p->tokens || (!view && (!p->k || !p->v))) {
        pyagent_latent_packet_destroy(p);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory for a latent packet");
    }
    memcpy(p->tokens, in, n * 4);
    for (size_t i = 0; i < n; i++)
        if (p->tokens[i] < 0 || p->tokens[i] >= e->model->hp.n_vocab) {
            const int32_t bad = p->tokens[i];
            pyagent_latent_packet_destroy(p);
            return pa_fail(err, PYAGENT_ERR_BAD_PACKET, "latent packet token %d out of range",
                           bad);
        }
    in += n * 4 + 8;
    for (int l = 0; l < p->n_layer; l++, in += 2 * n * rb + 8) {
        memcpy(&sum, in + 2 * n * rb, 8);
        if (XXH3_64bits(in, 2 * n * rb) != sum) {
            pyagent_latent_packet_destroy(p);
            return pa_fail(err, PYAGENT_ERR_BAD_PACKET,
                           "latent packet layer %d checksum mismatch", l);
        }
        for (size_t i = 0; !view && i < n; i++) {
            const size_t at = ((size_t)l * n + i) * d * elem;
            decode_row(in + i * rb, (int)d, (int32_t)h.payload_type, (uint8_t *)p->k + at);
            decode_row(in + (n + i) * rb, (int)d, (int32_t)h.payload_type, (uint8_t *)p->v + at);
        }
    }
    *out = p;
    return PYAGENT_OK;
}

pyagent_status pa_latent_parse(pyagent_engine *e, const uint8_t *data, size_t size,
                               pyagent_latent_packet **out, pa_err *err) {
    return parse(e, data, size, false, out, err);
}

pyagent_status pa_latent_parse_view(pyagent_engine *e, const uint8_t *data, size_t size,
                                    pyagent_latent_packet **out, pa_err *err) {
    return parse(e, data, size, true, out, err);
}

pyagent_status pyagent_latent_packet_deserialize(pyagent_engine *engine, const void *data,
                                                 size_t size, pyagent_latent_packet **packet) {
    if (packet) *packet = NULL;
    if (!pa_engine_ready(engine) || !packet || (!data && size > 0))
        return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = pa_latent_parse(engine, data, size, packet, &err);
    return st ? pa_engine_set_error(engine, &err) : PYAGENT_OK;
}

static bool read_all(int fd, void *buf, size_t n) {
    for (size_t done = 0; done < n;) {
        ssize_t r = read(fd, (uint8_t *)buf + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        done += (size_t)r;
    }
    return true;
}

pyagent_status pyagent_latent_packet_read_fd(pyagent_engine *engine, int fd, size_t max_bytes,
                                             pyagent_latent_packet **packet) {
    if (packet) *packet = NULL;
    if (!pa_engine_ready(engine) || !packet) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    wire_header h;
    size_t size = 0;
    pyagent_status st = PYAGENT_OK;
    if (!read_all(fd, &h, sizeof h))
        st = pa_fail(&err, PYAGENT_ERR_IO, "latent packet: could not read its header");
    if (!st) st = read_header(engine, &h, sizeof h, &h, &size, &err);
    if (!st && size > max_bytes)
        st = pa_fail(&err, PYAGENT_ERR_OUT_OF_RANGE,
                     "latent packet of %zu bytes is over the limit of %zu", size, max_bytes);
    uint8_t *buf = st ? NULL : malloc(size);
    if (!st && !buf) st = pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    if (!st) {
        memcpy(buf, &h, sizeof h);
        if (!read_all(fd, buf + sizeof h, size - sizeof h))
            st = pa_fail(&err, PYAGENT_ERR_IO, "latent packet: truncated after its header");
    }
    if (!st) st = pa_latent_parse(engine, buf, size, packet, &err);
    free(buf);
    return st ? pa_engine_set_error(engine, &err) : PYAGENT_OK;
}
