/* What the latent link's files share: snapshots (snapshot.c) use packets (packet.c), and
 * adapters (adapter.c) the file helpers of snapshot.c. */
#ifndef PA_LATENT_INTERNAL_H
#define PA_LATENT_INTERNAL_H

#include <string.h>

#include "../engine/engine_internal.h"

/* pyagent_latent_export with the agent already held (pa_agent_begin_change). */
pyagent_status pa_latent_export_locked(pyagent_agent *a, int64_t from, int64_t to,
                                       pyagent_latent_packet **out);
/* Import that keeps the packet's last token computed (its logits are restored separately). */
pyagent_status pa_latent_import_exact_locked(pyagent_agent *a, const pyagent_latent_packet *p);
/* pyagent_latent_packet_deserialize with the message in `err`. */
pyagent_status pa_latent_parse(pyagent_engine *e, const uint8_t *data, size_t size,
                               pyagent_latent_packet **out, pa_err *err);
/* The same checks, but an F16 or F32 packet reads its rows in place: `data` must outlive it. */
pyagent_status pa_latent_parse_view(pyagent_engine *e, const uint8_t *data, size_t size,
                                    pyagent_latent_packet **out, pa_err *err);

/* Reads an adapter file's bytes (no check against models): for pyagent_adapter_load and the
 * fuzzer. */
pyagent_status pa_adapter_parse(const uint8_t *data, size_t size, pyagent_adapter **out,
                                pa_err *err);
/* An agent of `e` from a snapshot file's bytes (pyagent_agent_load, and the fuzzer). */
pyagent_status pa_snapshot_restore(pyagent_engine *e, const uint8_t *data, size_t size,
                                   pyagent_agent **out, pa_err *err);
/* The same for a snapshot whose KV is elsewhere (a checkpoint's log, checkpoint.c): `source`
 * imports the positions [0, n_computed) into the held agent after its meta is applied. */
typedef pyagent_status (*pa_kv_source_fn)(void *ctx, pyagent_agent *a, uint64_t n_computed,
                                          pa_err *err);
pyagent_status pa_snapshot_restore_with(pyagent_engine *e, const uint8_t *data, size_t size,
                                        pa_kv_source_fn source, void *ctx, pyagent_agent **out,
                                        pa_err *err);
/* An agent from a checkpoint's state and log bytes (pyagent_agent_restore, and the fuzzer). */
pyagent_status pa_checkpoint_restore(pyagent_engine *e, const uint8_t *state, size_t state_size,
                                     const uint8_t *log, size_t log_size, pyagent_agent **out,
                                     pa_err *err);
/* A held agent's snapshot bytes (malloc'ed), its KV included or not; refusals (embeddings,
 * pruned, Q8_0 KV, cuda) in the agent's last error. *packet (or NULL) holds the exported
 * blocks: destroy it after letting the agent go (destroying takes the engine's lock). */
pyagent_status pa_snapshot_build(pyagent_agent *agent, bool with_kv, uint8_t **out,
                                 size_t *out_size, pyagent_latent_packet **packet);
/* The payload type snapshots write the store's rows in: F16 or F32, as the store keeps them. */
int32_t pa_snapshot_payload(const pyagent_engine *e);
/* Loads a store snapshot's bytes into e's store (pyagent_kv_store_load, and the fuzzer). */
pyagent_status pa_kv_store_restore(pyagent_engine *e, const uint8_t *data, size_t size,
                                   int64_t *n_blocks, pa_err *err);
/* Fixed-size fields of a file's bytes, written or read at *at (which moves past them). */
static inline void pa_put(uint8_t *buf, size_t *at, const void *v, size_t n) {
    memcpy(buf + *at, v, n);
    *at += n;
}
static inline void pa_get(const uint8_t *buf, size_t *at, void *v, size_t n) {
    memcpy(v, buf + *at, n);
    *at += n;
}

/* Writes all of data at fd's offset (short writes and EINTR retried); false on an error
 * (errno says which). */
bool pa_write_all(int fd, const uint8_t *data, size_t size);
/* Writes a file crash-safely: a temporary file, fsync'ed, renamed over `path`. */
pyagent_status pa_write_file_atomically(const char *path, const uint8_t *data, size_t size,
                                        pa_err *err);
/* Reads a whole file of at most max_bytes (OUT_OF_RANGE beyond) into a malloc'ed buffer. */
pyagent_status pa_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                            pa_err *err);
/* Maps a whole file read-only, its pages read in (no copy: large snapshots load at page-cache
 * speed); pa_unmap_file releases it. Files are replaced by rename, never rewritten in place. */
pyagent_status pa_map_file(const char *path, const uint8_t **data, size_t *size, pa_err *err);
void pa_unmap_file(const uint8_t *data, size_t size);

#endif
