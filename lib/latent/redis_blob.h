/* Bytes under a Redis key (redis.c), stored as latent packets are: a meta entry and chunks in
 * one transaction, with a checksum. For the KV store's Redis tier (lib/kv/tier.c).
 * PYAGENT_ERR_UNSUPPORTED when the library was built without hiredis. */
#ifndef PA_LATENT_REDIS_BLOB_H
#define PA_LATENT_REDIS_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

/* Whether the library was built with hiredis. */
bool pa_redis_available(void);

pyagent_status pa_redis_put_blob(const char *host, int32_t port, const char *key,
                                 const uint8_t *data, size_t size, int64_t ttl_seconds,
                                 int32_t timeout_ms, pa_err *err);
/* The bytes under key (at most max_bytes) in a malloc'ed *data. */
pyagent_status pa_redis_get_blob(const char *host, int32_t port, const char *key,
                                 size_t max_bytes, int32_t timeout_ms, uint8_t **data,
                                 size_t *size, pa_err *err);

#endif
