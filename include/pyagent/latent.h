/*
 * libpyagent — the latent link: hand an agent's KV state to another agent, engine or process,
 * so the receiver continues a conversation without computing it again.
 *
 * A packet holds a range [from, to) of a sender's sequence: its token ids and the keys and
 * values of every layer at those positions. Importing appends it to a receiver whose sequence
 * is the sender's up to `from` (checked by a hash of those tokens; so from = 0 means an empty
 * receiver); the receiver then continues as if it had computed the range itself. Inside one
 * engine a packet references the sender's KV blocks (no copy; copy-on-write keeps sender and
 * receiver apart). Serialized, a packet carries its own copy.
 *
 * Wire format (little-endian; docs/latent.md has the full layout):
 *   header  magic "PALK", format version, model fingerprint, n_layer, kv_dim, payload type
 *           (F16, F32, or Q8_0: blocks of 32 values with an f16 scale), from, to, XXH3 of the
 *           tokens before `from`, then XXH3 of the header
 *   tokens  (to - from) int32 ids, XXH3
 *   layers  for each layer: K rows then V rows, (to - from) x kv_dim values each, XXH3
 * A packet for another model (fingerprint or shape) is refused with PYAGENT_ERR_MISMATCH; a
 * damaged one (checksum, length, magic, version) with PYAGENT_ERR_BAD_PACKET. A failed import
 * leaves the receiver unchanged.
 *
 * Threading: a packet is immutable after it is made and may be read (serialized, imported)
 * from many threads at once; destroy it once, after every use. Include <pyagent/pyagent.h>.
 */
#ifndef PYAGENT_LATENT_H
#define PYAGENT_LATENT_H

#include "pyagent.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pyagent_latent_packet pyagent_latent_packet;

#define PYAGENT_LATENT_F16  0 /* payload types of the wire format */
#define PYAGENT_LATENT_Q8_0 1
#define PYAGENT_LATENT_F32  2 /* lossless for an F32 KV store (snapshots use it) */

/* The range [from, to) of the agent's computed tokens (to = -1: every computed token).
 * PYAGENT_ERR_OUT_OF_RANGE for an empty or out-of-bounds range. Errors on the agent. */
PYAGENT_API pyagent_status pyagent_latent_export(pyagent_agent *agent, int64_t from, int64_t to,
                                                 pyagent_latent_packet **packet);

/* Frees the packet (its references to KV blocks included). NULL is a no-op. */
PYAGENT_API void pyagent_latent_packet_destroy(pyagent_latent_packet *packet);

/* Tokens in the packet and its range in the sender's sequence. */
PYAGENT_API pyagent_status pyagent_latent_packet_range(const pyagent_latent_packet *packet,
                                                       int64_t *from, int64_t *to);

/* Appends the packet to `agent`, whose sequence must be the sender's first `from` tokens
 * (PYAGENT_ERR_MISMATCH otherwise, or for another model). The agent's next request continues
 * from it: only the last imported token is computed again, for its logits. Errors on the
 * agent; on failure the agent is unchanged. */
PYAGENT_API pyagent_status pyagent_latent_import(pyagent_agent *agent,
                                                 const pyagent_latent_packet *packet);

/* The wire form with a payload of `payload_type` into `buffer` (two-call pattern on bytes:
 * *needed gets the size). Thread-safe. */
PYAGENT_API pyagent_status pyagent_latent_packet_serialize(const pyagent_latent_packet *packet,
                                                           int32_t payload_type, void *buffer,
                                                           size_t capacity, size_t *needed);

/* Writes the wire form to a file descriptor (all of it, retrying short writes). */
PYAGENT_API pyagent_status pyagent_latent_packet_write_fd(const pyagent_latent_packet *packet,
                                                          int32_t payload_type, int fd);

/* Reads a packet from `size` bytes (not kept after the call), checking everything against
 * `engine`'s model. On failure *packet is NULL and pyagent_engine_last_error says why. */
PYAGENT_API pyagent_status pyagent_latent_packet_deserialize(pyagent_engine *engine,
                                                             const void *data, size_t size,
                                                             pyagent_latent_packet **packet);

/* Reads one packet from a file descriptor, refusing more than max_bytes
 * (PYAGENT_ERR_OUT_OF_RANGE) before reading the payload. */
PYAGENT_API pyagent_status pyagent_latent_packet_read_fd(pyagent_engine *engine, int fd,
                                                         size_t max_bytes,
                                                         pyagent_latent_packet **packet);

/* ---------------------------------------------------------------------------------------------
 * Redis: packets shared across processes and machines
 *
 * A packet is stored under `key` as KEY:meta (size, chunk count, checksum) and its wire form in
 * chunks KEY:0, KEY:1, ... of at most 1 MiB, all written in one MULTI/EXEC transaction, each
 * with the TTL (docs/latent.md has the layout). Each call opens its own connection to
 * host:port, so both are thread-safe, and each finishes within timeout_ms whatever the server
 * does: a server that is down fails at once ("cannot connect: Connection refused"), one that
 * does not answer fails with PYAGENT_ERR_IO after timeout_ms ("no answer within the timeout").
 * Resolving a host name is outside that bound: pass a numeric address (127.0.0.1) for a strict
 * one. A library built without hiredis returns PYAGENT_ERR_UNSUPPORTED from both.
 * ------------------------------------------------------------------------------------------- */

/* Stores the wire form of `packet` with a payload of `payload_type` under `key` (1 to 1024
 * bytes), replacing a packet stored there before. ttl_seconds > 0: every key of it expires
 * after that long; 0: they stay until deleted. `engine` only receives the error message (any
 * open engine will do; PYAGENT_ERR_INVALID_ARGUMENT without a message when it is NULL):
 * PYAGENT_ERR_IO for the connection, the timeout or a refusal by the server (its message
 * included, e.g. "OOM command not allowed"). Thread-safe. */
PYAGENT_API pyagent_status pyagent_latent_packet_put_redis(pyagent_engine *engine,
                                                           const pyagent_latent_packet *packet,
                                                           int32_t payload_type,
                                                           const char *host, int32_t port,
                                                           const char *key, int64_t ttl_seconds,
                                                           int32_t timeout_ms);

/* Reads the packet stored under `key`, checked against `engine`'s model as
 * pyagent_latent_packet_deserialize does. A packet over max_bytes is refused
 * (PYAGENT_ERR_OUT_OF_RANGE) by its meta, before any chunk is fetched; no packet under the key
 * is PYAGENT_ERR_IO ("no latent packet under ..."); a packet replaced or expiring while it is
 * read is PYAGENT_ERR_BAD_PACKET (read it again). On failure *packet is NULL and
 * pyagent_engine_last_error says why. Thread-safe. */
PYAGENT_API pyagent_status pyagent_latent_packet_get_redis(pyagent_engine *engine,
                                                           const char *host, int32_t port,
                                                           const char *key, size_t max_bytes,
                                                           int32_t timeout_ms,
                                                           pyagent_latent_packet **packet);

/* ------------------------------------------------------------------------------------------ */
/* Adapters between models                                                                      */
/*
 * Different models cannot read each other's KV, but one that shares the other's tokenizer can
 * read its states as input embeddings. An adapter is a linear map from model S's final hidden
 * state (pyagent_agent_hidden: what S's output matrix reads) to model T's input embedding
 * space: after S has read tokens x_0..x_i, its hidden state h_i is mapped to
 *     e_i = h_i W + b,    W (dim_in, dim_out), b (dim_out,)
 * fitted by ridge regression, on S's states over a text, to T's input embedding of x_i. Fed to
 * a T agent in place of the tokens (pyagent_agent_feed_embeddings), the rows carry what S read
 * as S understood it. With the pycode pair (tests/test_adapter.c), the target given a 128-token
 * prefix this way predicts the next 128 tokens at 1.81 nats/token: 1.76 from the prefix's own
 * tokens, 1.91 with no prefix (docs/latent.md).
 *
 * File (little-endian): magic "PAADAPT1", format version, dim_in, dim_out, the fit's figures
 * (pyagent_adapter_info), the fingerprints of S and T, the payload size, XXH3 of the header;
 * then (dim_in + 1) x dim_out float32 (the rows of W, then b) and their XXH3. docs/latent.md
 * has the layout.
 */
typedef struct pyagent_adapter pyagent_adapter;

typedef struct pyagent_adapter_info {
    uint32_t struct_size;   /* set to sizeof(pyagent_adapter_info) before the call */
    uint32_t reserved;
    int64_t dim_in;         /* S's embedding width */
    int64_t dim_out;        /* T's embedding width */
    int64_t n_train;        /* (h_i, E_T[x_i]) pairs fitted */
    int64_t n_heldout;      /* pairs after them in the text, kept out of the fit */
    double ridge;           /* the fit's ridge penalty (lambda) */
    double r2_train;        /* 1 - residual / total sum of squares over every output value */
    double r2_heldout;      /* the same on the held-out pairs (their own mean as baseline) */
    double top1_heldout;    /* held-out pairs whose mapped row is nearer (cosine) to T's
                               embedding of their token than to any other token's */
    uint64_t fingerprint_in, fingerprint_out; /* the models it was fitted for */
} pyagent_adapter_info;

/* Fits an adapter from `src`'s hidden states to `dst`'s input embeddings on `text`
 * (`text_len` bytes or -1 for NUL-terminated), tokenized by src as pyagent_agent_feed_text
 * does, read in windows of src's n_ctx tokens (a few thousand tokens fit in about a second with
 * the pycode pair). The last `heldout` fraction of the pairs (in [0, 0.9]) is kept out of the
 * fit and measured (pyagent_adapter_info; NaN figures when it holds no pair). ridge >= 0 penalizes
 * W (not b) by ridge * ||W||^2; 1 is a fine default. PYAGENT_ERR_MISMATCH when the two models'
 * vocabularies differ, PYAGENT_ERR_INVALID_ARGUMENT when the text gives fewer pairs than
 * dim_in + 1 to fit. The message is on dst (pyagent_engine_last_error). Thread-safe with
 * respect to other agents of the two engines; takes an agent of src for the time it runs. */
PYAGENT_API pyagent_status pyagent_adapter_fit(pyagent_engine *src, pyagent_engine *dst,
                                               const char *text, int64_t text_len,
                                               double ridge, double heldout,
                                               pyagent_adapter **adapter);

PYAGENT_API void pyagent_adapter_destroy(pyagent_adapter *adapter); /* NULL is a no-op */

PYAGENT_API pyagent_status pyagent_adapter_info_get(const pyagent_adapter *adapter,
                                                    pyagent_adapter_info *info);

/* Maps n_rows hidden states of S (n_rows x dim_in floats) to n_rows input rows of T
 * (n_rows x dim_out floats, written to `rows`, capacity in floats; PYAGENT_ERR_BUFFER_TOO_SMALL
 * if it holds fewer). Thread-safe (the adapter is not changed). */
PYAGENT_API pyagent_status pyagent_adapter_apply(const pyagent_adapter *adapter,
                                                 const float *hidden, size_t n_rows,
                                                 float *rows, size_t capacity);

/* Writes the adapter to `path` (crash-safe: a temporary file, fsync'ed and renamed over it).
 * PYAGENT_ERR_IO with the system's reason; `engine` only receives the message (any open
 * engine will do, as for pyagent_latent_packet_put_redis). */
PYAGENT_API pyagent_status pyagent_adapter_save(pyagent_engine *engine,
                                                const pyagent_adapter *adapter,
                                                const char *path);

/* Reads an adapter for the models of `src` and `dst` from `path` (at most 256 MiB).
 * PYAGENT_ERR_MISMATCH when it was fitted for other models, PYAGENT_ERR_BAD_PACKET when the
 * file is damaged (magic, version, sizes, checksums, values that are not finite),
 * PYAGENT_ERR_IO when it cannot be read; the message is on dst. */
PYAGENT_API pyagent_status pyagent_adapter_load(pyagent_engine *src, pyagent_engine *dst,
                                                const char *path, pyagent_adapter **adapter);

#ifdef __cplusplus
}
#endif

#endif /* PYAGENT_LATENT_H */
