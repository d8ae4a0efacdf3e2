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

#ifdef __cplusplus
}
#endif

#endif /* PYAGENT_LATENT_H */
