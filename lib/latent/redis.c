/*
 * Latent packets in Redis, for hosts in other processes or on other machines.
 *
 * A packet is stored under a key as one small meta value and its wire form cut into chunks
 * (a Redis string holds at most 512 MiB, and one large value stalls the single-threaded server
 * while it is copied, so a chunk is at most 1 MiB):
 *
 *   KEY:meta                 "PALK-REDIS 1 <size> <n_chunks> <chunk_bytes> <xxh3>"
 *                            (decimal numbers; xxh3 = XXH3-64 of the whole wire form, 16 hex)
 *   KEY:0 .. KEY:<n_chunks-1>  the wire form, chunk_bytes each, the last one shorter or equal
 *
 * Put writes every key in one MULTI/EXEC transaction, each SET with the same TTL, so the keys
 * of one packet appear, and expire, together. Get reads the meta first, so a packet over the
 * caller's limit is refused before a chunk is fetched, then the chunks, pipelined a few at a
 * time. Those reads are not one transaction: a packet replaced or expired in between shows up
 * as a missing chunk, a chunk of the wrong length or a wrong whole-form checksum, and get
 * fails (PYAGENT_ERR_BAD_PACKET) instead of mixing two packets. Chunks left over from a larger
 * packet stored under the same key before are never read, and expire with their own TTL.
 *
 * Every call opens its own connection and keeps one deadline for all its work: connecting,
 * sending and receiving each wait in poll() for no longer than what is left of timeout_ms,
 * so a server that is down, stuck or slow gives an error within that time, never a hang.
 * hiredis formats the commands and parses the replies; the socket is our own (non-blocking,
 * written with MSG_NOSIGNAL, so a server that goes away is an error and not a SIGPIPE).
 */
#include <pyagent/pyagent.h>

#include "../engine/engine_internal.h"
#include "redis_blob.h"

#ifdef PA_HAVE_HIREDIS

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <hiredis/hiredis.h>

#define META_MAGIC "PALK-REDIS"
#define META_VERSION 1
#define CHUNK_BYTES ((size_t)1 << 20)
#define MAX_KEY_BYTES 1024 /* our limit, to keep key names and messages bounded */
#define GET_WINDOW 4       /* chunk GETs in flight: bounds what the server buffers for us */
#define RECV_BYTES 65536

typedef struct redis_conn {
    int fd;
    redisReader *reader;
    struct timespec deadline; /* CLOCK_MONOTONIC: when the call must have finished */
    int32_t timeout_ms;
    char where[300];          /* "redis HOST:PORT", the start of every message */
    char *recv_buf;           /* RECV_BYTES */
    pa_err *err;
} redis_conn;

/* ----------------------------------------------------------------------------------------- */
/* Connection with a deadline                                                                  */

static int remaining_ms(const redis_conn *c) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const double left = (double)(c->deadline.tv_sec - now.tv_sec) * 1e3 +
                        (double)(c->deadline.tv_nsec - now.tv_nsec) * 1e-6;
    return left <= 0 ? 0 : (int)ceil(left);
}

static pyagent_status timed_out(redis_conn *c, const char *doing) {
    return pa_fail(c->err, PYAGENT_ERR_IO, "%s: no answer within the timeout of %d ms (%s)",
                   c->where, (int)c->timeout_ms, doing);
}

/* Waits until the socket is ready for `events` or the deadline passes. */
static pyagent_status wait_for(redis_conn *c, short events, const char *doing) {
    for (;;) {
        const int ms = remaining_ms(c);
        if (ms <= 0) return timed_out(c, doing);
        struct pollfd p = {.fd = c->fd, .events = events};
        const int n = poll(&p, 1, ms);
        if (n > 0) return PYAGENT_OK; /* errors and hang-ups too: the next call says which */
        if (n == 0) return timed_out(c, doing);
        if (errno != EINTR)
            return pa_fail(c->err, PYAGENT_ERR_IO, "%s: poll: %s", c->where, strerror(errno));
    }
}

static int set_nonblocking(int fd) {
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Connects a non-blocking socket to one address within the deadline; -1 and errno on failure. */
static int connect_one(redis_conn *c, const struct addrinfo *ai, pyagent_status *st) {
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) return -1;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    c->fd = fd;
    if (set_nonblocking(fd) != 0 ||
        (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)) {
        soerr = errno;
    } else if ((*st = wait_for(c, POLLOUT, "connecting")) != PYAGENT_OK) {
        soerr = ETIMEDOUT;
    } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
        soerr = errno;
    }
    if (soerr) {
        close(fd);
        c->fd = -1;
        errno = soerr;
        return -1;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void conn_close(redis_conn *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    if (c->reader) redisReaderFree(c->reader);
    c->reader = NULL;
    free(c->recv_buf);
    c->recv_buf = NULL;
}

static pyagent_status conn_open(redis_conn *c, const char *host, int32_t port,
                                int32_t timeout_ms, pa_err *err) {
    *c = (redis_conn){.fd = -1, .timeout_ms = timeout_ms, .err = err};
    snprintf(c->where, sizeof c->where, "redis %.256s:%d", host, (int)port);
    clock_gettime(CLOCK_MONOTONIC, &c->deadline);
    c->deadline.tv_sec += timeout_ms / 1000;
    c->deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (c->deadline.tv_nsec >= 1000000000L) {
        c->deadline.tv_sec++;
        c->deadline.tv_nsec -= 1000000000L;
    }
    c->reader = redisReaderCreate();
    c->recv_buf = malloc(RECV_BYTES);
    if (!c->reader || !c->recv_buf) {
        conn_close(c);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    }

    char service[16];
    snprintf(service, sizeof service, "%d", (int)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    const int gai = getaddrinfo(host, service, &hints, &list);
    if (gai != 0) {
        conn_close(c);
        return pa_fail(err, PYAGENT_ERR_IO, "%s: cannot resolve the host: %s", c->where,
                       gai_strerror(gai));
    }
    pyagent_status st = PYAGENT_OK;
    int last_errno = ECONNREFUSED;
    for (const struct addrinfo *ai = list; ai && c->fd < 0 && st == PYAGENT_OK; ai = ai->ai_next)
        if (connect_one(c, ai, &st) < 0) last_errno = errno;
    freeaddrinfo(list);
    if (st != PYAGENT_OK) { /* the deadline passed while connecting */
        conn_close(c);
        return st;
    }
    if (c->fd < 0) {
        conn_close(c);
        return pa_fail(err, PYAGENT_ERR_IO, "%s: cannot connect: %s", c->where,
                       strerror(last_errno));
    }
    return PYAGENT_OK;
}

static pyagent_status send_all(redis_conn *c, const char *data, size_t size, const char *doing) {
    for (size_t done = 0; done < size;) {
        const ssize_t n = send(c->fd, data + done, size - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pyagent_status st = wait_for(c, POLLOUT, doing);
            if (st) return st;
        } else if (n < 0 && errno != EINTR) {
            return pa_fail(c->err, PYAGENT_ERR_IO, "%s: %s: %s", c->where, doing,
                           strerror(errno));
        }
    }
    return PYAGENT_OK;
}

/* Sends one command of `argc` binary-safe arguments. */
static pyagent_status send_command(redis_conn *c, int argc, const char **argv,
                                   const size_t *argv_len, const char *doing) {
    char *cmd = NULL;
    const int len = redisFormatCommandArgv(&cmd, argc, argv, argv_len);
    if (len < 0) return pa_fail(c->err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    pyagent_status st = send_all(c, cmd, (size_t)len, doing);
    redisFreeCommand(cmd);
    return st;
}

/* The next reply (free it with freeReplyObject). */
static pyagent_status recv_reply(redis_conn *c, redisReply **reply, const char *doing) {
    *reply = NULL;
    for (;;) {
        void *r = NULL;
        if (redisReaderGetReply(c->reader, &r) != REDIS_OK)
            return pa_fail(c->err, PYAGENT_ERR_IO, "%s: not a Redis reply (%s)", c->where,
                           c->reader->errstr);
        if (r) {
            *reply = r;
            return PYAGENT_OK;
        }
        pyagent_status st = wait_for(c, POLLIN, doing);
        if (st) return st;
        const ssize_t n = recv(c->fd, c->recv_buf, RECV_BYTES, 0);
        if (n == 0)
            return pa_fail(c->err, PYAGENT_ERR_IO, "%s: the server closed the connection (%s)",
                           c->where, doing);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return pa_fail(c->err, PYAGENT_ERR_IO, "%s: %s: %s", c->where, doing,
                           strerror(errno));
        if (n > 0 && redisReaderFeed(c->reader, c->recv_buf, (size_t)n) != REDIS_OK)
            return pa_fail(c->err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    }
}

/* A Redis error reply as our error, with the server's message. */
static pyagent_status reply_error(redis_conn *c, const redisReply *r, const char *doing) {
    if (r->type == REDIS_REPLY_ERROR)
        return pa_fail(c->err, PYAGENT_ERR_IO, "%s: %s: %.*s", c->where, doing, (int)r->len,
                       r->str);
    return pa_fail(c->err, PYAGENT_ERR_IO, "%s: %s: unexpected reply of type %d", c->where,
                   doing, r->type);
}

/* Reads a reply and checks that it is the status `want` ("OK", "QUEUED"). */
static pyagent_status expect_status(redis_conn *c, const char *want, const char *doing) {
    redisReply *r = NULL;
    pyagent_status st = recv_reply(c, &r, doing);
    if (!st && !(r->type == REDIS_REPLY_STATUS && strcmp(r->str, want) == 0))
        st = reply_error(c, r, doing);
    if (r) freeReplyObject(r);
    return st;
}

/* ----------------------------------------------------------------------------------------- */
/* Put                                                                                         */

static pyagent_status check_target(pa_err *err, const char *host, int32_t port, const char *key,
                                   int32_t timeout_ms) {
    if (!host || !*host || strlen(host) > 255)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "redis: a host name of 1 to 255 bytes is required");
    if (port < 1 || port > 65535)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "redis: port %d outside [1, 65535]",
                       (int)port);
    if (!key || !*key || strlen(key) > MAX_KEY_BYTES)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                       "redis: a key of 1 to %d bytes is required", MAX_KEY_BYTES);
    if (timeout_ms < 1)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "redis: timeout_ms %d is not positive",
                       (int)timeout_ms);
    return PYAGENT_OK;
}

/* SET KEY:<suffix> value [EX ttl] */
static pyagent_status send_set(redis_conn *c, const char *key, const char *suffix,
                               const void *value, size_t size, int64_t ttl_seconds) {
    char name[MAX_KEY_BYTES + 32], ttl[24];
    snprintf(name, sizeof name, "%s:%s", key, suffix);
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_seconds);
    const char *argv[5] = {"SET", name, value, "EX", ttl};
    const size_t len[5] = {3, strlen(name), size, 2, strlen(ttl)};
    return send_command(c, ttl_seconds > 0 ? 5 : 3, argv, len, "sending a packet");
}

static pyagent_status put(redis_conn *c, const uint8_t *wire, size_t size, const char *key,
                          int64_t ttl_seconds) {
    const size_t n_chunks = (size + CHUNK_BYTES - 1) / CHUNK_BYTES;
    char meta[128];
    const int meta_len = snprintf(meta, sizeof meta, "%s %d %zu %zu %zu %016" PRIx64,
                                  META_MAGIC, META_VERSION, size, n_chunks, CHUNK_BYTES,
                                  (uint64_t)XXH3_64bits(wire, size));
    const char *multi = "MULTI", *exec = "EXEC";
    const size_t multi_len = 5, exec_len = 4;
    pyagent_status st = send_command(c, 1, &multi, &multi_len, "starting a transaction");
    if (!st) st = send_set(c, key, "meta", meta, (size_t)meta_len, ttl_seconds);
    for (size_t i = 0; !st && i < n_chunks; i++) {
        char suffix[24];
        snprintf(suffix, sizeof suffix, "%zu", i);
        const size_t at = i * CHUNK_BYTES;
        st = send_set(c, key, suffix, wire + at, size - at < CHUNK_BYTES ? size - at : CHUNK_BYTES,
                      ttl_seconds);
    }
    if (!st) st = send_command(c, 1, &exec, &exec_len, "committing a transaction");

    /* MULTI's OK, a QUEUED per SET, then EXEC's array of OKs (or its refusal, when a SET was
     * refused on queueing: the first refusal is the message) */
    if (!st) st = expect_status(c, "OK", "MULTI");
    for (size_t i = 0; !st && i < n_chunks + 1; i++) st = expect_status(c, "QUEUED", "SET");
    redisReply *r = NULL;
    if (!st) st = recv_reply(c, &r, "EXEC");
    if (!st && r->type != REDIS_REPLY_ARRAY) st = reply_error(c, r, "EXEC");
    for (size_t i = 0; !st && i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STATUS) st = reply_error(c, r->element[i], "SET");
    if (r) freeReplyObject(r);
    return st;
}

pyagent_status pyagent_latent_packet_put_redis(pyagent_engine *engine,
                                               const pyagent_latent_packet *packet,
                                               int32_t payload_type, const char *host,
                                               int32_t port, const char *key,
                                               int64_t ttl_seconds, int32_t timeout_ms) {
    if (!pa_engine_ready(engine)) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = check_target(&err, host, port, key, timeout_ms);
    if (!st && !packet)
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "redis: the packet is NULL");
    if (!st && ttl_seconds < 0)
        st = pa_fail(&err, PYAGENT_ERR_OUT_OF_RANGE, "redis: ttl_seconds %" PRId64
                     " is negative (0 = no expiry)", ttl_seconds);
    size_t size = 0;
    if (!st && pyagent_latent_packet_serialize(packet, payload_type, NULL, 0, &size) !=
                   PYAGENT_ERR_BUFFER_TOO_SMALL)
        st = pa_fail(&err, PYAGENT_ERR_INVALID_ARGUMENT, "redis: payload type %d is not one of "
                     "PYAGENT_LATENT_*", (int)payload_type);
    uint8_t *wire = st ? NULL : malloc(size);
    if (!st && !wire) st = pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    if (!st && (st = pyagent_latent_packet_serialize(packet, payload_type, wire, size, &size)))
        pa_fail(&err, st, "redis: could not serialize the packet");
    redis_conn c;
    if (!st && !(st = conn_open(&c, host, port, timeout_ms, &err))) {
        st = put(&c, wire, size, key, ttl_seconds);
        conn_close(&c);
    }
    free(wire);
    return st ? pa_engine_set_error(engine, &err) : PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Get                                                                                         */

typedef struct meta {
    size_t size, n_chunks, chunk_bytes;
    uint64_t checksum;
} meta;

/* Parses and checks "PALK-REDIS 1 size n_chunks chunk_bytes xxh3". */
static bool parse_meta(const char *s, size_t len, meta *m) {
    char text[128], magic[16], hex[17];
    unsigned version = 0;
    int used = 0;
    if (len >= sizeof text) return false;
    memcpy(text, s, len);
    text[len] = '\0';
    if (sscanf(text, "%15s %u %zu %zu %zu %16[0-9a-f]%n", magic, &version, &m->size,
               &m->n_chunks, &m->chunk_bytes, hex, &used) != 6 ||
        (size_t)used != len || strcmp(magic, META_MAGIC) != 0 || version != META_VERSION ||
        strlen(hex) != 16)
        return false;
    m->checksum = strtoull(hex, NULL, 16);
    return m->size > 0 && m->chunk_bytes > 0 && m->chunk_bytes <= ((size_t)512 << 20) &&
           m->n_chunks == m->size / m->chunk_bytes + (m->size % m->chunk_bytes != 0);
}

static pyagent_status send_get(redis_conn *c, const char *key, const char *suffix) {
    char name[MAX_KEY_BYTES + 32];
    snprintf(name, sizeof name, "%s:%s", key, suffix);
    const char *argv[2] = {"GET", name};
    const size_t len[2] = {3, strlen(name)};
    return send_command(c, 2, argv, len, "requesting a packet");
}

static pyagent_status read_meta(redis_conn *c, const char *key, meta *m) {
    pyagent_status st = send_get(c, key, "meta");
    redisReply *r = NULL;
    if (!st) st = recv_reply(c, &r, "GET meta");
    if (!st && r->type == REDIS_REPLY_NIL)
        st = pa_fail(c->err, PYAGENT_ERR_IO, "%s: no latent packet under '%.200s' (never "
                     "stored, or expired)", c->where, key);
    else if (!st && r->type != REDIS_REPLY_STRING)
        st = reply_error(c, r, "GET meta");
    else if (!st && !parse_meta(r->str, r->len, m))
        st = pa_fail(c->err, PYAGENT_ERR_BAD_PACKET, "%s: '%.200s:meta' is not the meta of a "
                     "latent packet", c->where, key);
    if (r) freeReplyObject(r);
    return st;
}

/* Fetches the chunks into `wire` (m->size bytes), GET_WINDOW requests ahead of the replies. */
static pyagent_status read_chunks(redis_conn *c, const char *key, const meta *m, uint8_t *wire) {
    pyagent_status st = PYAGENT_OK;
    size_t sent = 0;
    for (size_t i = 0; !st && i < m->n_chunks; i++) {
        for (; !st && sent < m->n_chunks && sent < i + GET_WINDOW; sent++) {
            char suffix[24];
            snprintf(suffix, sizeof suffix, "%zu", sent);
            st = send_get(c, key, suffix);
        }
        redisReply *r = NULL;
        if (!st) st = recv_reply(c, &r, "GET chunk");
        const size_t at = i * m->chunk_bytes;
        const size_t want = m->size - at < m->chunk_bytes ? m->size - at : m->chunk_bytes;
        if (!st && r->type == REDIS_REPLY_NIL)
            st = pa_fail(c->err, PYAGENT_ERR_BAD_PACKET, "%s: chunk %zu of %zu of '%.200s' is "
                         "missing (expired, or the packet is being replaced)", c->where, i,
                         m->n_chunks, key);
        else if (!st && r->type != REDIS_REPLY_STRING)
            st = reply_error(c, r, "GET chunk");
        else if (!st && r->len != want)
            st = pa_fail(c->err, PYAGENT_ERR_BAD_PACKET, "%s: chunk %zu of '%.200s' has %zu "
                         "bytes, its meta says %zu (replaced while read?)", c->where, i, key,
                         (size_t)r->len, want);
        else if (!st)
            memcpy(wire + at, r->str, want);
        if (r) freeReplyObject(r);
    }
    if (!st && XXH3_64bits(wire, m->size) != m->checksum)
        st = pa_fail(c->err, PYAGENT_ERR_BAD_PACKET, "%s: the packet under '%.200s' does not "
                     "match its checksum (replaced while read, or damaged)", c->where, key);
    return st;
}

pyagent_status pyagent_latent_packet_get_redis(pyagent_engine *engine, const char *host,
                                               int32_t port, const char *key, size_t max_bytes,
                                               int32_t timeout_ms,
                                               pyagent_latent_packet **packet) {
    if (packet) *packet = NULL;
    if (!pa_engine_ready(engine) || !packet) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pyagent_status st = check_target(&err, host, port, key, timeout_ms);
    redis_conn c;
    if (st || (st = conn_open(&c, host, port, timeout_ms, &err)))
        return pa_engine_set_error(engine, &err);
    meta m = {0};
    uint8_t *wire = NULL;
    st = read_meta(&c, key, &m);
    if (!st && m.size > max_bytes)
        st = pa_fail(&err, PYAGENT_ERR_OUT_OF_RANGE, "%s: the latent packet under '%.200s' has "
                     "%zu bytes, over the limit of %zu", c.where, key, m.size, max_bytes);
    if (!st && !(wire = malloc(m.size)))
        st = pa_fail(&err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory for a packet of %zu bytes",
                     m.size);
    if (!st) st = read_chunks(&c, key, &m, wire);
    conn_close(&c);
    if (!st) { /* its own message on the engine when the packet is refused */
        st = pyagent_latent_packet_deserialize(engine, wire, m.size, packet);
        free(wire);
        return st;
    }
    free(wire);
    return pa_engine_set_error(engine, &err);
}

/* ----------------------------------------------------------------------------------------- */
/* Blobs, for the KV store's Redis tier (lib/kv/tier.c)                                          */

bool pa_redis_available(void) { return true; }

pyagent_status pa_redis_put_blob(const char *host, int32_t port, const char *key,
                                 const uint8_t *data, size_t size, int64_t ttl_seconds,
                                 int32_t timeout_ms, pa_err *err) {
    pyagent_status st = check_target(err, host, port, key, timeout_ms);
    redis_conn c;
    if (!st && !(st = conn_open(&c, host, port, timeout_ms, err))) {
        st = put(&c, data, size, key, ttl_seconds);
        conn_close(&c);
    }
    return st;
}

pyagent_status pa_redis_get_blob(const char *host, int32_t port, const char *key,
                                 size_t max_bytes, int32_t timeout_ms, uint8_t **data,
                                 size_t *size, pa_err *err) {
    *data = NULL;
    pyagent_status st = check_target(err, host, port, key, timeout_ms);
    redis_conn c;
    if (st || (st = conn_open(&c, host, port, timeout_ms, err))) return st;
    meta m = {0};
    st = read_meta(&c, key, &m);
    if (!st && m.size > max_bytes)
        st = pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "%s: '%.200s' has %zu bytes, over %zu",
                     c.where, key, m.size, max_bytes);
    if (!st && !(*data = malloc(m.size ? m.size : 1)))
        st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    if (!st) st = read_chunks(&c, key, &m, *data);
    conn_close(&c);
    if (st) {
        free(*data);
        *data = NULL;
    } else {
        *size = m.size;
    }
    return st;
}

#else /* built without hiredis */

bool pa_redis_available(void) { return false; }

pyagent_status pa_redis_put_blob(const char *host, int32_t port, const char *key,
                                 const uint8_t *data, size_t size, int64_t ttl_seconds,
                                 int32_t timeout_ms, pa_err *err) {
    (void)host, (void)port, (void)key, (void)data, (void)size, (void)ttl_seconds,
        (void)timeout_ms;
    return pa_fail(err, PYAGENT_ERR_UNSUPPORTED, "built without hiredis");
}

pyagent_status pa_redis_get_blob(const char *host, int32_t port, const char *key,
                                 size_t max_bytes, int32_t timeout_ms, uint8_t **data,
                                 size_t *size, pa_err *err) {
    (void)host, (void)port, (void)key, (void)max_bytes, (void)timeout_ms, (void)size;
    *data = NULL;
    return pa_fail(err, PYAGENT_ERR_UNSUPPORTED, "built without hiredis");
}

pyagent_status pyagent_latent_packet_put_redis(pyagent_engine *engine,
                                               const pyagent_latent_packet *packet,
                                               int32_t payload_type, const char *host,
                                               int32_t port, const char *key,
                                               int64_t ttl_seconds, int32_t timeout_ms) {
    (void)packet, (void)payload_type, (void)host, (void)port, (void)key, (void)ttl_seconds,
        (void)timeout_ms;
    if (!pa_engine_ready(engine)) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pa_fail(&err, PYAGENT_ERR_UNSUPPORTED, "redis: this libpyagent was built without hiredis");
    return pa_engine_set_error(engine, &err);
}

pyagent_status pyagent_latent_packet_get_redis(pyagent_engine *engine, const char *host,
                                               int32_t port, const char *key, size_t max_bytes,
                                               int32_t timeout_ms,
                                               pyagent_latent_packet **packet) {
    (void)host, (void)port, (void)key, (void)max_bytes, (void)timeout_ms;
    if (packet) *packet = NULL;
    if (!pa_engine_ready(engine) || !packet) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err err = {0};
    pa_fail(&err, PYAGENT_ERR_UNSUPPORTED, "redis: this libpyagent was built without hiredis");
    return pa_engine_set_error(engine, &err);
}

#endif
