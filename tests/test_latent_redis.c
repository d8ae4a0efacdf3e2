/*
 * Latent packets through Redis: a packet stored by one engine and read by another continues
 * exactly as the sender would; its keys carry the TTL; a server that is down, silent or slow
 * gives an error within the timeout; a packet over the limit is refused before its chunks are
 * fetched; damaged, missing and foreign packets are refused with a message.
 *
 * The tests start their own redis-server on a free loopback port (and stop it); CI installs
 * it (.ci/deps). PYAGENT_REDIS_SERVER may name another binary.
 */
#define _DEFAULT_SOURCE /* usleep */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <pyagent/pyagent.h>

#include "helpers.h"

#define HOST "127.0.0.1"
#define TIMEOUT_MS 300

static char stories_path[1024], random_path[1024];
static const char *story = "Once upon a time, there was a little girl named Lily. She loved to "
                           "play outside in the park. One day, she saw a big, red ball.";

/* ----------------------------------------------------------------------------------------- */
/* A redis-server of our own                                                                   */

typedef struct redis_server {
    pid_t pid;
    int port;
} redis_server;

static redis_server server; /* the one most tests use */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A loopback socket bound to a port the kernel chose; listening if `backlog` > 0. */
static int bound_socket(int backlog, int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    const int small = 4096; /* a small window: a large request does not fit in the buffers */
    if (backlog > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    if (backlog > 0) assert_int_equal(listen(fd, backlog), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static redisContext *client(int port) {
    redisContext *c = redisConnectWithTimeout(HOST, port, (struct timeval){1, 0});
    assert_non_null(c);
    return c;
}

static bool answers_ping(int port) {
    redisContext *c = redisConnectWithTimeout(HOST, port, (struct timeval){0, 100000});
    redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
    const bool ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r) freeReplyObject(r);
    if (c) redisFree(c);
    return ok;
}

/* Starts redis-server on a free loopback port, without persistence; fails the test with what
 * to do when it is not installed. */
static redis_server start_redis(void) {
    const char *bin = getenv("PYAGENT_REDIS_SERVER");
    if (!bin) bin = "redis-server";
    for (int attempt = 0; attempt < 5; attempt++) {
        int port;
        close(bound_socket(0, &port)); /* free now; taken by redis-server in a moment */
        char port_arg[16];
        snprintf(port_arg, sizeof port_arg, "%d", port);
        const pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test */
            freopen("/dev/null", "w", stdout);
            execlp(bin, bin, "--port", port_arg, "--bind", HOST, "--save", "",
                   "--appendonly", "no", "--daemonize", "no", (char *)NULL);
            _exit(127);
        }
        for (int i = 0; i < 100; i++) { /* up to 5 s */
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid) {
                if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                    fail_msg("%s not found: install redis-server (sh .ci/deps)", bin);
                break; /* e.g. the port was taken after all: another one */
            }
            if (answers_ping(port)) return (redis_server){pid, port};
            usleep(50000);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    fail_msg("%s did not start", bin);
    return (redis_server){0, 0};
}

static void stop_redis(redis_server *s) {
    if (s->pid <= 0) return;
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static int group_setup(void **state) {
    (void)state;
    server = start_redis();
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    stop_redis(&server);
    return 0;
}

/* The reply of a command from our own client, as an integer or a string. */
static long long command_int(int port, const char *fmt, const char *arg) {
    redisContext *c = client(port);
    redisReply *r = redisCommand(c, fmt, arg);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    const long long v = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static void command(int port, const char *fmt, ...) {
    redisContext *c = client(port);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    redisFree(c);
}

/* How many GET commands the server has run (INFO commandstats). */
static long long n_gets(int port) {
    redisContext *c = client(port);
    redisReply *r = redisCommand(c, "INFO commandstats");
    assert_non_null(r);
    const char *line = strstr(r->str, "cmdstat_get:calls=");
    const long long n = line ? atoll(line + strlen("cmdstat_get:calls=")) : 0;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* ----------------------------------------------------------------------------------------- */
/* Engines and agents                                                                          */

static pyagent_engine *open_engine(const char *path, int64_t n_ctx) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_threads", 2);
    pyagent_params_set_i64(p, "kv_type", PYAGENT_KV_F16);
    pyagent_params_set_i64(p, "n_ctx", n_ctx);
    pyagent_engine *e = NULL;
    assert_int_equal(pyagent_engine_open(path, p, &e), PYAGENT_OK);
    pyagent_params_destroy(p);
    return e;
}

/* An agent that has read the story `times` times over. */
static pyagent_agent *reader(pyagent_engine *e, int times) {
    pyagent_agent *a = test_greedy_agent(e);
    for (int i = 0; i < times; i++)
        assert_int_equal(pyagent_agent_feed_text(a, story, -1), PYAGENT_OK);
    assert_int_equal(pyagent_agent_prefill(a), PYAGENT_OK);
    return a;
}

static void assert_same_continuation(pyagent_agent *sender, pyagent_agent *receiver, int n) {
    test_run want = test_generate(sender, n), got = test_generate(receiver, n);
    assert_int_equal(got.n, want.n);
    assert_memory_equal(got.ids, want.ids, sizeof(int32_t) * (size_t)want.n);
}

static size_t wire_size(const pyagent_latent_packet *p, int32_t type) {
    size_t size = 0;
    assert_int_equal(pyagent_latent_packet_serialize(p, type, NULL, 0, &size),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    return size;
}

static pyagent_latent_packet *export_all(pyagent_agent *a) {
    pyagent_latent_packet *p = NULL;
    assert_int_equal(pyagent_latent_export(a, 0, -1, &p), PYAGENT_OK);
    return p;
}

static void assert_error(pyagent_engine *e, pyagent_status got, pyagent_status want,
                         const char *says) {
    if (got != want || !strstr(pyagent_engine_last_error(e), says))
        fail_msg("status %d, want %d; message \"%s\", want it to say \"%s\"", (int)got,
                 (int)want, pyagent_engine_last_error(e), says);
}

/* ----------------------------------------------------------------------------------------- */
/* Tests                                                                                       */

/* Another engine reads the packet from Redis and continues exactly as the sender (F16 KV on
 * both sides and an F16 payload: lossless). */
static void packet_through_redis_continues_like_the_sender(void **state) {
    (void)state;
    pyagent_engine *a = open_engine(stories_path, 0), *b = open_engine(stories_path, 0);
    pyagent_agent *sender = reader(a, 1), *receiver = test_greedy_agent(b);
    pyagent_latent_packet *packet = export_all(sender), *copy = NULL;
    assert_int_equal(pyagent_latent_packet_put_redis(a, packet, PYAGENT_LATENT_F16, HOST,
                                                     server.port, "round", 60, TIMEOUT_MS),
                     PYAGENT_OK);
    assert_int_equal(pyagent_latent_packet_get_redis(b, HOST, server.port, "round", 1 << 20,
                                                     TIMEOUT_MS, &copy),
                     PYAGENT_OK);
    int64_t from, to, want_from, want_to;
    pyagent_latent_packet_range(copy, &from, &to);
    pyagent_latent_packet_range(packet, &want_from, &want_to);
    assert_int_equal(from, want_from);
    assert_int_equal(to, want_to);
    assert_int_equal(pyagent_latent_import(receiver, copy), PYAGENT_OK);
    assert_same_continuation(sender, receiver, 40);
    pyagent_latent_packet_destroy(packet);
    pyagent_latent_packet_destroy(copy);
    pyagent_agent_destroy(sender);
    pyagent_agent_destroy(receiver);
    pyagent_engine_destroy(a);
    pyagent_engine_destroy(b);
}

/* A packet over 1 MiB is two chunks: KEY:0 of exactly 1 MiB and KEY:1 with the rest, every key
 * with the TTL; a packet stored without TTL does not expire. */
static void large_packet_is_chunked_with_the_ttl_on_every_key(void **state) {
    (void)state;
    pyagent_engine *a = open_engine(stories_path, 2048), *b = open_engine(stories_path, 2048);
    pyagent_agent *sender = reader(a, 40), *receiver = test_greedy_agent(b);
    pyagent_latent_packet *packet = export_all(sender), *copy = NULL;
    const size_t size = wire_size(packet, PYAGENT_LATENT_F16);
    assert_true(size > (1 << 20) && size < (2 << 20));
    assert_int_equal(pyagent_latent_packet_put_redis(a, packet, PYAGENT_LATENT_F16, HOST,
                                                     server.port, "big", 120, 5000),
                     PYAGENT_OK);
    assert_int_equal(command_int(server.port, "STRLEN %s", "big:0"), 1 << 20);
    assert_int_equal(command_int(server.port, "STRLEN %s", "big:1"), size - (1 << 20));
    assert_int_equal(command_int(server.port, "EXISTS %s", "big:2"), 0);
    const char *keys[] = {"big:meta", "big:0", "big:1"};
    for (int i = 0; i < 3; i++) {
        const long long ttl = command_int(server.port, "TTL %s", keys[i]);
        assert_true(ttl > 110 && ttl <= 120);
    }
    assert_int_equal(pyagent_latent_packet_get_redis(b, HOST, server.port, "big", size, 5000,
                                                     &copy),
                     PYAGENT_OK);
    assert_int_equal(pyagent_latent_import(receiver, copy), PYAGENT_OK);
    assert_same_continuation(sender, receiver, 10);

    assert_int_equal(pyagent_latent_packet_put_redis(a, packet, PYAGENT_LATENT_Q8_0, HOST,
                                                     server.port, "kept", 0, 5000),
                     PYAGENT_OK);
    assert_int_equal(command_int(server.port, "TTL %s", "kept:meta"), -1); /* no expiry */
    assert_int_equal(command_int(server.port, "TTL %s", "kept:0"), -1);
    pyagent_latent_packet_destroy(packet);
    pyagent_latent_packet_destroy(copy);
    pyagent_agent_destroy(sender);
    pyagent_agent_destroy(receiver);
    pyagent_engine_destroy(a);
    pyagent_engine_destroy(b);
}

static void expired_packet_is_gone(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 0);
    pyagent_agent *sender = reader(e, 1);
    pyagent_latent_packet *packet = export_all(sender), *copy = NULL;
    assert_int_equal(pyagent_latent_packet_put_redis(e, packet, PYAGENT_LATENT_F16, HOST,
                                                     server.port, "short", 1, TIMEOUT_MS),
                     PYAGENT_OK);
    usleep(1100000);
    assert_error(e, pyagent_latent_packet_get_redis(e, HOST, server.port, "short", 1 << 20,
                                                    TIMEOUT_MS, &copy),
                 PYAGENT_ERR_IO, "no latent packet under 'short'");
    assert_null(copy);
    pyagent_latent_packet_destroy(packet);
    pyagent_agent_destroy(sender);
    pyagent_engine_destroy(e);
}

/* A server that was stopped: the port refuses connections, and both calls fail at once. */
static void stopped_server_fails_within_the_timeout(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 0);
    pyagent_agent *sender = reader(e, 1);
    pyagent_latent_packet *packet = export_all(sender), *copy = NULL;
    redis_server stopped = start_redis();
    assert_int_equal(pyagent_latent_packet_put_redis(e, packet, PYAGENT_LATENT_F16, HOST,
                                                     stopped.port, "k", 60, TIMEOUT_MS),
                     PYAGENT_OK);
    stop_redis(&stopped);
    double t = now_s();
    assert_error(e, pyagent_latent_packet_put_redis(e, packet, PYAGENT_LATENT_F16, HOST,
                                                    stopped.port, "k", 60, TIMEOUT_MS),
                 PYAGENT_ERR_IO, "cannot connect: Connection refused");
    const double put_s = now_s() - t;
    t = now_s();
    assert_error(e, pyagent_latent_packet_get_redis(e, HOST, stopped.port, "k", 1 << 20,
                                                    TIMEOUT_MS, &copy),
                 PYAGENT_ERR_IO, "cannot connect");
    const double get_s = now_s() - t;
    printf("# stopped server: put failed after %.1f ms, get after %.1f ms (timeout %d ms)\n",
           put_s * 1e3, get_s * 1e3, TIMEOUT_MS);
    assert_true(put_s < TIMEOUT_MS * 1e-3 && get_s < TIMEOUT_MS * 1e-3);
    assert_null(copy);
    pyagent_latent_packet_destroy(packet);
    pyagent_agent_destroy(sender);
    pyagent_engine_destroy(e);
}

/* A listening socket that never accepts nor answers (a stuck server): the kernel completes the
 * connection, the request is sent, no reply comes. Both calls give up at the timeout. */
static void silent_server_times_out(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 2048);
    pyagent_agent *small = reader(e, 1), *large = reader(e, 40);
    pyagent_latent_packet *packets[2] = {export_all(small), export_all(large)}, *copy = NULL;
    int port;
    const int silent = bound_socket(8, &port);
    for (int i = 0; i < 2; i++) { /* the large one also fills the socket buffers */
        double t = now_s();
        assert_error(e, pyagent_latent_packet_put_redis(e, packets[i], PYAGENT_LATENT_F16, HOST,
                                                        port, "k", 60, TIMEOUT_MS),
                     PYAGENT_ERR_IO, "no answer within the timeout of 300 ms");
        const double put_s = now_s() - t;
        printf("# silent server: put of %zu bytes failed after %.1f ms: %s\n",
               wire_size(packets[i], PYAGENT_LATENT_F16), put_s * 1e3,
               pyagent_engine_last_error(e));
        assert_true(put_s >= TIMEOUT_MS * 1e-3 - 0.002 && put_s < TIMEOUT_MS * 1e-3 + 0.25);
    }
    double t = now_s();
    assert_error(e, pyagent_latent_packet_get_redis(e, HOST, port, "k", 1 << 20, TIMEOUT_MS,
                                                    &copy),
                 PYAGENT_ERR_IO, "no answer within the timeout");
    const double get_s = now_s() - t;
    printf("# silent server: get failed after %.1f ms\n", get_s * 1e3);
    assert_true(get_s >= TIMEOUT_MS * 1e-3 - 0.002 && get_s < TIMEOUT_MS * 1e-3 + 0.25);
    assert_null(copy);
    close(silent);
    for (int i = 0; i < 2; i++) pyagent_latent_packet_destroy(packets[i]);
    pyagent_agent_destroy(small);
    pyagent_agent_destroy(large);
    pyagent_engine_destroy(e);
}

/* A server that answers, but a byte every 20 ms of a reply that never ends (a slow server):
 * the timeout bounds the whole call, not each read. */
typedef struct trickler {
    int listener;
    pthread_t thread;
} trickler;

static void *trickle(void *arg) {
    trickler *t = arg;
    const int fd = accept(t->listener, NULL, NULL);
    if (fd < 0) return NULL;
    const char *reply = "$100000000\r\n";
    for (int i = 0; i < 150; i++) { /* at most 3 s; stops when the client hangs up */
        const char byte = i < (int)strlen(reply) ? reply[i] : 'x';
        if (send(fd, &byte, 1, MSG_NOSIGNAL) != 1) break;
        usleep(20000);
    }
    close(fd);
    return NULL;
}

static void slow_server_times_out(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 0);
    int port;
    trickler t = {.listener = bound_socket(1, &port)};
    assert_int_equal(pthread_create(&t.thread, NULL, trickle, &t), 0);
    pyagent_latent_packet *copy = NULL;
    const double start = now_s();
    assert_error(e, pyagent_latent_packet_get_redis(e, HOST, port, "k", 1 << 20, TIMEOUT_MS,
                                                    &copy),
                 PYAGENT_ERR_IO, "no answer within the timeout");
    const double get_s = now_s() - start;
    printf("# slow server: get failed after %.1f ms\n", get_s * 1e3);
    assert_true(get_s < TIMEOUT_MS * 1e-3 + 0.25);
    pthread_join(t.thread, NULL);
    close(t.listener);
    pyagent_engine_destroy(e);
}

/* The meta says the size: a packet over the limit is refused with one GET, its chunks unread. */
static void packet_over_the_limit_is_refused_before_its_chunks(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 0);
    pyagent_agent *sender = reader(e, 1);
    pyagent_latent_packet *packet = export_all(sender), *copy = NULL;
    const size_t size = wire_size(packet, PYAGENT_LATENT_Q8_0);
    assert_int_equal(pyagent_latent_packet_put_redis(e, packet, PYAGENT_LATENT_Q8_0, HOST,
                                                     server.port, "limit", 60, TIMEOUT_MS),
                     PYAGENT_OK);
    const long long gets = n_gets(server.port);
    assert_error(e, pyagent_latent_packet_get_redis(e, HOST, server.port, "limit", size - 1,
                                                    TIMEOUT_MS, &copy),
                 PYAGENT_ERR_OUT_OF_RANGE, "over the limit");
    assert_int_equal(n_gets(server.port), gets + 1); /* the meta only */
    assert_null(copy);
    assert_int_equal(pyagent_latent_packet_get_redis(e, HOST, server.port, "limit", size,
                                                     TIMEOUT_MS, &copy),
                     PYAGENT_OK);
    pyagent_latent_packet_destroy(copy);
    pyagent_latent_packet_destroy(packet);
    pyagent_agent_destroy(sender);
    pyagent_engine_destroy(e);
}

/* Missing, damaged, wrong-typed and foreign packets: an error that says which. */
static void damaged_missing_or_foreign_packets_are_refused(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 0), *other = open_engine(random_path, 0);
    pyagent_agent *sender = reader(e, 1);
    pyagent_latent_packet *packet = export_all(sender), *copy = NULL;
    const int port = server.port;
    pyagent_status st;
#define GET(engine) pyagent_latent_packet_get_redis(engine, HOST, port, "d", 1 << 20, \
                                                    TIMEOUT_MS, &copy)
#define PUT() assert_int_equal(pyagent_latent_packet_put_redis(e, packet, PYAGENT_LATENT_F16, \
                                   HOST, port, "d", 60, TIMEOUT_MS), PYAGENT_OK)
    assert_error(e, GET(e), PYAGENT_ERR_IO, "no latent packet under 'd'");
    PUT();
    command(port, "SETRANGE d:0 100 %s", "X");
    assert_error(e, GET(e), PYAGENT_ERR_BAD_PACKET, "does not match its checksum");
    PUT();
    command(port, "DEL d:0");
    assert_error(e, GET(e), PYAGENT_ERR_BAD_PACKET, "chunk 0 of 1 of 'd' is missing");
    PUT();
    command(port, "APPEND d:0 %s", "more");
    assert_error(e, GET(e), PYAGENT_ERR_BAD_PACKET, "bytes, its meta says");
    command(port, "SET d:meta %s", "PALK-REDIS 1 12 oops");
    assert_error(e, GET(e), PYAGENT_ERR_BAD_PACKET, "is not the meta of a latent packet");
    command(port, "DEL d:meta");
    command(port, "RPUSH d:meta %s", "a list");
    assert_error(e, GET(e), PYAGENT_ERR_IO, "WRONGTYPE");
    command(port, "DEL d:meta");
    PUT();
    assert_error(other, GET(other), PYAGENT_ERR_MISMATCH, "another model");
    st = GET(e);
    assert_int_equal(st, PYAGENT_OK);
#undef GET
#undef PUT
    pyagent_latent_packet_destroy(copy);
    pyagent_latent_packet_destroy(packet);
    pyagent_agent_destroy(sender);
    pyagent_engine_destroy(e);
    pyagent_engine_destroy(other);
}

static void bad_arguments_are_refused_with_a_message(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 0);
    pyagent_agent *sender = reader(e, 1);
    pyagent_latent_packet *packet = export_all(sender), *copy = NULL;
    const int port = server.port;
    assert_int_equal(pyagent_latent_packet_put_redis(NULL, packet, 0, HOST, port, "k", 1, 100),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_latent_packet_get_redis(NULL, HOST, port, "k", 1, 100, &copy),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_latent_packet_get_redis(e, HOST, port, "k", 1, 100, NULL),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_error(e, pyagent_latent_packet_put_redis(e, NULL, 0, HOST, port, "k", 1, 100),
                 PYAGENT_ERR_INVALID_ARGUMENT, "the packet is NULL");
    assert_error(e, pyagent_latent_packet_put_redis(e, packet, 7, HOST, port, "k", 1, 100),
                 PYAGENT_ERR_INVALID_ARGUMENT, "payload type 7");
    assert_error(e, pyagent_latent_packet_put_redis(e, packet, 0, HOST, port, "k", -1, 100),
                 PYAGENT_ERR_OUT_OF_RANGE, "ttl_seconds -1");
    assert_error(e, pyagent_latent_packet_put_redis(e, packet, 0, HOST, 0, "k", 1, 100),
                 PYAGENT_ERR_OUT_OF_RANGE, "port 0");
    assert_error(e, pyagent_latent_packet_put_redis(e, packet, 0, "", port, "k", 1, 100),
                 PYAGENT_ERR_INVALID_ARGUMENT, "host name");
    assert_error(e, pyagent_latent_packet_put_redis(e, packet, 0, HOST, port, "", 1, 100),
                 PYAGENT_ERR_INVALID_ARGUMENT, "key of 1 to 1024 bytes");
    assert_error(e, pyagent_latent_packet_get_redis(e, HOST, port, "k", 1, 0, &copy),
                 PYAGENT_ERR_OUT_OF_RANGE, "timeout_ms 0");
    assert_null(copy);
    pyagent_latent_packet_destroy(packet);
    pyagent_agent_destroy(sender);
    pyagent_engine_destroy(e);
}

/* Four threads store and read their own packets through one engine at once. */
typedef struct worker {
    pyagent_engine *engine;
    const pyagent_latent_packet *packet;
    char key[16];
    pyagent_status status;
} worker;

static void *put_and_get(void *arg) {
    worker *w = arg;
    for (int i = 0; i < 20 && !w->status; i++) {
        pyagent_latent_packet *copy = NULL;
        w->status = pyagent_latent_packet_put_redis(w->engine, w->packet, PYAGENT_LATENT_Q8_0,
                                                    HOST, server.port, w->key, 60, 2000);
        if (!w->status)
            w->status = pyagent_latent_packet_get_redis(w->engine, HOST, server.port, w->key,
                                                        1 << 20, 2000, &copy);
        pyagent_latent_packet_destroy(copy);
    }
    return NULL;
}

static void threads_store_and_read_at_once(void **state) {
    (void)state;
    pyagent_engine *e = open_engine(stories_path, 0);
    pyagent_agent *sender = reader(e, 1);
    pyagent_latent_packet *packet = export_all(sender);
    worker w[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){.engine = e, .packet = packet};
        snprintf(w[i].key, sizeof w[i].key, "thread%d", i);
        assert_int_equal(pthread_create(&threads[i], NULL, put_and_get, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(w[i].status, PYAGENT_OK);
    }
    pyagent_latent_packet_destroy(packet);
    pyagent_agent_destroy(sender);
    pyagent_engine_destroy(e);
}

/* ----------------------------------------------------------------------------------------- */
/* The KV store's Redis tier                                                                   */

static int redis_warnings;
static void count_redis_warnings(void *ud, int32_t level, const char *message) {
    (void)ud;
    if (level == PYAGENT_LOG_WARN && strstr(message, "Redis tier")) redis_warnings++;
}

static pyagent_kv_stats kv_stats(pyagent_engine *e) {
    pyagent_kv_stats st = {.struct_size = sizeof st};
    assert_int_equal(pyagent_kv_store_stats_get(pyagent_engine_kv_store(e), &st), PYAGENT_OK);
    return st;
}

/* In a child process: an engine computes the 80 ids in the steps a prefix hit takes (64, then
 * 16), its cache is dropped (5 blocks to Redis), and the logits go to the parent through `fd`.
 * Exit status 0 when all of that worked. */
static int write_prefix_in_child(const int32_t *ids, int fd) {
    pyagent_engine *a = NULL;
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_threads", 2);
    pyagent_params_set_i64(p, "kv_type", PYAGENT_KV_F16); /* as open_engine's: keys bind it */
    pyagent_params_set_i64(p, "n_ctx", 256);
    if (pyagent_engine_open(stories_path, p, &a) ||
        pyagent_kv_store_set_redis_tier(pyagent_engine_kv_store(a), HOST, server.port, 60,
                                        TIMEOUT_MS, 0))
        return 1;
    pyagent_params_destroy(p);
    pyagent_agent *writer = NULL;
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", 0);
    float want[512];
    size_t n = 0;
    if (pyagent_agent_create(a, s, &writer) || pyagent_agent_feed_tokens(writer, ids, 64) ||
        pyagent_agent_prefill(writer) || pyagent_agent_feed_tokens(writer, ids + 64, 16) ||
        pyagent_agent_prefill(writer) || pyagent_agent_logits(writer, want, 512, &n))
        return 2;
    pyagent_agent_destroy(writer);
    pyagent_kv_store_drop_cache(pyagent_engine_kv_store(a));
    pyagent_kv_stats st = {.struct_size = sizeof st};
    pyagent_kv_store_stats_get(pyagent_engine_kv_store(a), &st);
    if (st.n_redis_spilled != 5) return 3;
    if (write(fd, want, n * sizeof *want) != (ssize_t)(n * sizeof *want)) return 4;
    pyagent_engine_destroy(a);
    return 0;
}

/* A second process of the same model reuses the prefix the first one's engine wrote to Redis,
 * with the same logits bit for bit; a server that goes away costs one warning. */
static void redis_tier_shares_evicted_blocks_between_processes(void **state) {
    (void)state;
    int32_t ids[80];
    for (int i = 0; i < 80; i++) ids[i] = 3 + (i * 37) % 500;
    float want[512], got[512];
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    const pid_t child = fork(); /* no engine (no thread) of this process exists yet */
    assert_true(child >= 0);
    if (child == 0) _exit(write_prefix_in_child(ids, fds[1]));
    close(fds[1]);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    const ssize_t bytes = read(fds[0], want, sizeof want);
    close(fds[0]);
    assert_true(bytes > 0 && bytes % (ssize_t)sizeof(float) == 0);

    pyagent_engine *b = open_engine(stories_path, 256);
    assert_int_equal(pyagent_kv_store_set_redis_tier(pyagent_engine_kv_store(b), HOST, server.port,
                                                     60, TIMEOUT_MS, 0),
                     PYAGENT_OK);

    pyagent_agent *reader = test_greedy_agent(b);
    assert_int_equal(pyagent_agent_feed_tokens(reader, ids, 80), PYAGENT_OK);
    size_t n = 0;
    assert_int_equal(pyagent_agent_prefill(reader), PYAGENT_OK);
    assert_int_equal(pyagent_agent_logits(reader, got, 512, &n), PYAGENT_OK);
    pyagent_agent_stats st = {.struct_size = sizeof st};
    pyagent_agent_stats_get(reader, &st);
    assert_int_equal(st.n_cached_tokens, 64);
    assert_int_equal(kv_stats(b).n_redis_restored, 4);
    assert_int_equal(n * sizeof *got, (size_t)bytes);
    assert_memory_equal(got, want, n * sizeof *got);
    pyagent_agent_destroy(reader);

    /* the server goes away: one warning, and the agent computes what it cannot fetch */
    redis_server gone = start_redis();
    assert_int_equal(pyagent_kv_store_set_redis_tier(pyagent_engine_kv_store(b), HOST, gone.port,
                                                     60, TIMEOUT_MS, 0),
                     PYAGENT_OK);
    stop_redis(&gone);
    pyagent_engine_set_log(b, PYAGENT_LOG_WARN, count_redis_warnings, NULL);
    redis_warnings = 0;
    pyagent_kv_store_drop_cache(pyagent_engine_kv_store(b)); /* spills fail */
    pyagent_agent *again = test_greedy_agent(b);
    assert_int_equal(pyagent_agent_feed_tokens(again, ids, 80), PYAGENT_OK);
    assert_int_equal(pyagent_agent_prefill(again), PYAGENT_OK);
    assert_int_equal(pyagent_agent_logits(again, got, 512, &n), PYAGENT_OK);
    pyagent_agent_stats_get(again, &st);
    assert_int_equal(st.n_cached_tokens, 0);
    assert_int_equal(redis_warnings, 1);
    test_run out = test_generate(again, 8);
    assert_int_equal(out.n, 8);
    pyagent_agent_destroy(again);
    assert_int_equal(pyagent_kv_store_set_redis_tier(pyagent_engine_kv_store(b), HOST, 0, 60,
                                                     TIMEOUT_MS, 0),
                     PYAGENT_ERR_OUT_OF_RANGE);
    pyagent_engine_destroy(b);
}

int main(void) {
    test_data_path(stories_path, sizeof stories_path, "stories260K.gguf");
    test_model_path(random_path, sizeof random_path, "tiny-f32.gguf");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(packet_through_redis_continues_like_the_sender),
        cmocka_unit_test(large_packet_is_chunked_with_the_ttl_on_every_key),
        cmocka_unit_test(expired_packet_is_gone),
        cmocka_unit_test(stopped_server_fails_within_the_timeout),
        cmocka_unit_test(silent_server_times_out),
        cmocka_unit_test(slow_server_times_out),
        cmocka_unit_test(packet_over_the_limit_is_refused_before_its_chunks),
        cmocka_unit_test(damaged_missing_or_foreign_packets_are_refused),
        cmocka_unit_test(bad_arguments_are_refused_with_a_message),
        cmocka_unit_test(threads_store_and_read_at_once),
        cmocka_unit_test(redis_tier_shares_evicted_blocks_between_processes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
