/*
 * agent-handoff — one process reads a document and hands what it read to another process as
 * KV state (the latent link) over a Unix socket; the other answers from it without prefill.
 *
 * Usage:
 *   agent-handoff -m model.gguf -f document.txt [options]      both processes (socketpair/fork)
 *   agent-handoff -m model.gguf --serve PATH [options]          B only: answer one hand-off
 *   agent-handoff -m model.gguf -f document.txt --connect PATH  A only: hand off to B at PATH
 *
 *   A (the reader) prefills the document, exports its KV (pyagent_latent_export) and writes
 *   the packet to the socket (pyagent_latent_packet_write_fd).
 *   B (the answerer) reads it (pyagent_latent_packet_read_fd), imports it into an empty agent,
 *   feeds the question and generates. Its time to first token counts from the first byte of
 *   the packet on the socket to its first generated token. For comparison, B then computes
 *   the same document's tokens and the question again in a fresh agent (no prefix cache) and
 *   times its first token too. B sends its answer and timings back over the socket.
 *   A then continues itself with the same question, and says whether B's answer is its own:
 *   under --temp 0 with an F16 payload (both engines keep F16 KV) it must be, token for token.
 *
 * Options:
 *   -q TEXT        the question after the document (default "\nSummary:")
 *   -n N           tokens to answer (default 32)
 *   --temp T       sampling temperature of both (default 0: greedy)
 *   --payload f16|q8_0  wire payload (default f16)
 *   -c N           context per agent (default 4096; must hold document + question + answer)
 *   -t N           worker threads of each engine (default 0 = the cores)
 *   --json         one JSON object instead of text
 *
 * Exit status: 0 done, 1 a failure (its message on stderr), 2 a bad flag, 3 B's answer is not
 * A's own continuation under --temp 0.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pyagent/pyagent.h>

#define MAX_DOCUMENT_BYTES ((size_t)64 << 20)
#define MAX_PACKET_BYTES ((size_t)4 << 30)
#define MAX_ANSWER 4096

typedef struct options {
    const char *model, *document, *question, *serve, *connect;
    int32_t n_answer, payload;
    int64_t n_ctx, threads;
    double temp;
    bool json;
} options;

/* What B sends back to A: one line "ANSWER n_doc recv import ttft reprefill n id...", or
 * "ERROR message". */
typedef struct answer {
    int64_t n_doc;
    double receive_s, import_s, ttft_s, reprefill_ttft_s;
    int32_t n, ids[MAX_ANSWER];
} answer;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *who, const char *what, const char *msg) {
    fprintf(stderr, "agent-handoff: %s: %s: %s\n", who, what, msg);
    exit(1);
}

static void usage_error(const char *msg) {
    fprintf(stderr, "agent-handoff: %s\nusage: agent-handoff -m model.gguf -f document.txt "
            "[-q TEXT] [-n N] [--temp T] [--payload f16|q8_0] [-c N] [-t N] [--json] "
            "[--serve PATH | --connect PATH]\n", msg);
    exit(2);
}

static options parse(int argc, char **argv) {
    options o = {.question = "\nSummary:", .n_answer = 32, .payload = PYAGENT_LATENT_F16,
                 .n_ctx = 4096, .threads = 0, .temp = 0};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const bool takes_value = strcmp(f, "--json") != 0;
        if (takes_value && !v) usage_error("a flag needs a value");
        char *end = NULL;
        if (!strcmp(f, "-m")) o.model = v;
        else if (!strcmp(f, "-f")) o.document = v;
        else if (!strcmp(f, "-q")) o.question = v;
        else if (!strcmp(f, "--serve")) o.serve = v;
        else if (!strcmp(f, "--connect")) o.connect = v;
        else if (!strcmp(f, "-n")) o.n_answer = (int32_t)strtol(v, &end, 10);
        else if (!strcmp(f, "-c")) o.n_ctx = strtoll(v, &end, 10);
        else if (!strcmp(f, "-t")) o.threads = strtoll(v, &end, 10);
        else if (!strcmp(f, "--temp")) o.temp = strtod(v, &end);
        else if (!strcmp(f, "--payload")) {
            if (!strcmp(v, "f16")) o.payload = PYAGENT_LATENT_F16;
            else if (!strcmp(v, "q8_0")) o.payload = PYAGENT_LATENT_Q8_0;
            else usage_error("--payload is f16 or q8_0");
        } else if (!strcmp(f, "--json")) o.json = true;
        else usage_error("unknown flag");
        if (end && *end) usage_error("a number is malformed");
        if (takes_value) i++;
    }
    if (!o.model) usage_error("-m is required");
    if (!o.serve && !o.document) usage_error("-f is required (or --serve PATH)");
    if (o.serve && o.connect) usage_error("--serve and --connect exclude each other");
    if (o.n_answer < 1 || o.n_answer > MAX_ANSWER) usage_error("-n is 1 to 4096");
    if (o.n_ctx < 1 || o.threads < 0 || o.temp < 0) usage_error("a number is out of range");
    return o;
}

/* ----------------------------------------------------------------------------------------- */
/* Both processes                                                                              */

static pyagent_engine *open_engine(const options *o, bool prefix_cache, const char *who) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    pyagent_params_set_i64(p, "n_ctx", o->n_ctx);
    pyagent_params_set_i64(p, "n_threads", o->threads);
    pyagent_params_set_i64(p, "kv_type", PYAGENT_KV_F16); /* an F16 payload is then lossless */
    pyagent_params_set_i64(p, "kv_bytes", 0);             /* one n_ctx sequence at a time */
    pyagent_params_set_i64(p, "prefix_cache", prefix_cache);
    pyagent_engine *e = NULL;
    if (pyagent_engine_open(o->model, p, &e) != PYAGENT_OK)
        die(who, o->model, pyagent_engine_last_error(e));
    pyagent_params_destroy(p);
    return e;
}

static pyagent_agent *new_agent(pyagent_engine *e, const options *o, const char *who) {
    pyagent_params *s = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(s, "temperature", o->temp);
    pyagent_agent *a = NULL;
    if (pyagent_agent_create(e, s, &a) != PYAGENT_OK)
        die(who, "agent", pyagent_engine_last_error(e));
    pyagent_params_destroy(s);
    return a;
}

static void check(pyagent_agent *a, pyagent_status st, const char *who, const char *what) {
    if (st != PYAGENT_OK) die(who, what, pyagent_agent_last_error(a));
}

typedef struct generation {
    double start_s, first_token_s;
    int32_t n, ids[MAX_ANSWER];
} generation;

static void on_token(void *user_data, int32_t token, const char *text, size_t len) {
    (void)text, (void)len;
    generation *g = user_data;
    if (g->n == 0) g->first_token_s = now_s() - g->start_s;
    if (g->n < MAX_ANSWER) g->ids[g->n++] = token;
}

static bool write_all(int fd, const char *data, size_t size) {
    for (size_t done = 0; done < size;) {
        const ssize_t n = write(fd, data + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += (size_t)n;
    }
    return true;
}

/* ----------------------------------------------------------------------------------------- */
/* B: the answerer                                                                             */

/* B's work on a connected socket; returns the report line it sends back (malloc'd). */
static char *answer_from_socket(const options *o, int fd, answer *out) {
    const char *who = "B";
    pyagent_engine *e = open_engine(o, false, who); /* no prefix cache: re-prefill computes */
    pyagent_agent *a = new_agent(e, o, who);

    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, -1) < 0)
        if (errno != EINTR) die(who, "poll", strerror(errno));
    const double t0 = now_s(); /* the first bytes of the packet are here */
    pyagent_latent_packet *packet = NULL;
    if (pyagent_latent_packet_read_fd(e, fd, MAX_PACKET_BYTES, &packet) != PYAGENT_OK)
        die(who, "receiving the packet", pyagent_engine_last_error(e));
    const double t_received = now_s();
    check(a, pyagent_latent_import(a, packet), who, "import");
    const double t_imported = now_s();
    pyagent_latent_packet_destroy(packet);

    size_t n_doc = 0;
    pyagent_agent_tokens(a, NULL, 0, &n_doc);
    int32_t *doc = malloc((n_doc + 1) * sizeof *doc);
    if (!doc) die(who, "document", "out of memory");
    check(a, pyagent_agent_tokens(a, doc, n_doc, &n_doc), who, "tokens");

    generation g = {.start_s = t0};
    check(a, pyagent_agent_feed_text(a, o->question, -1), who, "question");
    check(a, pyagent_agent_generate(a, o->n_answer, on_token, &g, NULL), who, "answer");
    pyagent_agent_destroy(a);

    /* the same text computed again, as a receiver of plain text would */
    pyagent_agent *again = new_agent(e, o, who);
    generation r = {.start_s = now_s()};
    check(again, pyagent_agent_feed_tokens(again, doc, n_doc), who, "re-prefill");
    check(again, pyagent_agent_feed_text(again, o->question, -1), who, "re-prefill");
    check(again, pyagent_agent_generate(again, 1, on_token, &r, NULL), who, "re-prefill");
    pyagent_agent_destroy(again);
    pyagent_engine_destroy(e);
    free(doc);

    *out = (answer){.n_doc = (int64_t)n_doc, .receive_s = t_received - t0,
                    .import_s = t_imported - t_received, .ttft_s = g.first_token_s,
                    .reprefill_ttft_s = r.first_token_s, .n = g.n};
    memcpy(out->ids, g.ids, sizeof(int32_t) * (size_t)g.n);
    char *line = malloc(256 + 12 * (size_t)g.n), *at = line;
    if (!line) die(who, "answer", "out of memory");
    at += sprintf(at, "ANSWER %" PRId64 " %.9f %.9f %.9f %.9f %d", out->n_doc, out->receive_s,
                  out->import_s, out->ttft_s, out->reprefill_ttft_s, (int)g.n);
    for (int32_t i = 0; i < g.n; i++) at += sprintf(at, " %d", (int)g.ids[i]);
    strcpy(at, "\n");
    return line;
}

static void serve_one(const options *o, int fd) {
    answer ans;
    char *line = answer_from_socket(o, fd, &ans);
    if (!write_all(fd, line, strlen(line))) die("B", "sending the answer", strerror(errno));
    free(line);
}

/* --serve PATH: waits for one hand-off on a Unix socket, answers it, prints its timings. */
static int serve(const options *o) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(o->serve) >= sizeof addr.sun_path) usage_error("--serve: the path is too long");
    strcpy(addr.sun_path, o->serve);
    struct stat st;
    if (stat(o->serve, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(o->serve); /* a stale one */
    const int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listener, 1) != 0)
        die("B", o->serve, strerror(errno));
    const int fd = accept(listener, NULL, NULL);
    if (fd < 0) die("B", "accept", strerror(errno));
    answer ans;
    char *line = answer_from_socket(o, fd, &ans);
    const bool sent = write_all(fd, line, strlen(line));
    free(line);
    close(fd);
    close(listener);
    unlink(o->serve);
    if (!sent) die("B", "sending the answer", strerror(errno));
    printf("B: %" PRId64 " tokens received: first token after %.2f ms (receive %.2f ms, import "
           "%.2f ms); re-prefilling them: %.2f ms\n", ans.n_doc, ans.ttft_s * 1e3,
           ans.receive_s * 1e3, ans.import_s * 1e3, ans.reprefill_ttft_s * 1e3);
    return 0;
}

/* ----------------------------------------------------------------------------------------- */
/* A: the reader                                                                               */

static char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) die("A", path, strerror(errno));
    char *text = malloc(MAX_DOCUMENT_BYTES + 1);
    if (!text) die("A", path, "out of memory");
    *size = fread(text, 1, MAX_DOCUMENT_BYTES + 1, f);
    fclose(f);
    if (*size > MAX_DOCUMENT_BYTES) die("A", path, "over 64 MiB");
    text[*size] = '\0';
    return text;
}

/* B's report, read until B closes the socket. */
static answer read_answer(int fd) {
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (ssize_t n = 1; buf && n > 0 && len + 1 < cap;) {
        n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR) n = 1;
        else if (n > 0) len += (size_t)n;
    }
    if (!buf) die("A", "answer", "out of memory");
    buf[len] = '\0';
    answer a = {0};
    char *at = buf;
    int used = 0, n = 0;
    if (sscanf(at, "ANSWER %" SCNd64 " %lf %lf %lf %lf %d%n", &a.n_doc, &a.receive_s,
               &a.import_s, &a.ttft_s, &a.reprefill_ttft_s, &n, &used) != 6 || n < 0 ||
        n > MAX_ANSWER)
        die("A", "B's answer", len ? buf : "B closed the socket without answering");
    at += used;
    for (a.n = 0; a.n < n; a.n++) {
        char *end;
        a.ids[a.n] = (int32_t)strtol(at, &end, 10);
        if (end == at) die("A", "B's answer", "malformed");
        at = end;
    }
    free(buf);
    return a;
}

static char *detokenize(pyagent_engine *e, const int32_t *ids, int32_t n) {
    size_t len = 0;
    pyagent_engine_detokenize(e, ids, (size_t)n, 0, NULL, 0, &len);
    char *text = malloc(len + 1);
    if (!text || pyagent_engine_detokenize(e, ids, (size_t)n, 0, text, len, &len) != PYAGENT_OK)
        die("A", "detokenize", pyagent_engine_last_error(e));
    text[len] = '\0';
    return text;
}

static void print_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') printf("\\n");
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void print_ids(const int32_t *ids, int32_t n) {
    putchar('[');
    for (int32_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", (int)ids[i]);
    putchar(']');
}

/* A on a connected socket: reads, hands off, waits for B, continues itself, reports. */
static int hand_off(const options *o, int fd) {
    const char *who = "A";
    size_t doc_bytes = 0;
    char *doc = read_file(o->document, &doc_bytes);
    pyagent_engine *e = open_engine(o, true, who);
    pyagent_agent *a = new_agent(e, o, who);
    check(a, pyagent_agent_feed_text(a, doc, (int64_t)doc_bytes), who, "document");
    free(doc);
    const double t_read = now_s();
    check(a, pyagent_agent_prefill(a), who, "prefill");
    const double prefill_s = now_s() - t_read;

    pyagent_latent_packet *packet = NULL;
    check(a, pyagent_latent_export(a, 0, -1, &packet), who, "export");
    int64_t from = 0, n_doc = 0;
    pyagent_latent_packet_range(packet, &from, &n_doc);
    size_t bytes = 0;
    pyagent_latent_packet_serialize(packet, o->payload, NULL, 0, &bytes);
    const double t_send = now_s();
    if (pyagent_latent_packet_write_fd(packet, o->payload, fd) != PYAGENT_OK)
        die(who, "sending the packet", "the socket was closed (did B fail?)");
    const double send_s = now_s() - t_send;
    pyagent_latent_packet_destroy(packet);
    shutdown(fd, SHUT_WR);
    const answer b = read_answer(fd);

    generation own = {.start_s = now_s()};
    check(a, pyagent_agent_feed_text(a, o->question, -1), who, "question");
    check(a, pyagent_agent_generate(a, o->n_answer, on_token, &own, NULL), who, "continue");
    const bool equal = own.n == b.n && !memcmp(own.ids, b.ids, sizeof(int32_t) * (size_t)b.n);
    char *b_text = detokenize(e, b.ids, b.n), *a_text = detokenize(e, own.ids, own.n);
    const double ratio = b.ttft_s / b.reprefill_ttft_s;
    const char *payload = o->payload == PYAGENT_LATENT_F16 ? "f16" : "q8_0";
    if (o->json) {
        printf("{\"tokens\": %" PRId64 ", \"payload\": \"%s\", \"bytes\": %zu, "
               "\"bytes_per_token\": %.1f, \"a_prefill_s\": %.6f, \"a_send_s\": %.6f, "
               "\"b_receive_s\": %.6f, \"b_import_s\": %.6f, \"b_ttft_s\": %.6f, "
               "\"b_reprefill_ttft_s\": %.6f, \"ttft_ratio\": %.5f, \"equal\": %s, "
               "\"b_tokens\": ",
               n_doc, payload, bytes, (double)bytes / (double)n_doc, prefill_s, send_s,
               b.receive_s, b.import_s, b.ttft_s, b.reprefill_ttft_s, ratio,
               equal ? "true" : "false");
        print_ids(b.ids, b.n);
        printf(", \"a_tokens\": ");
        print_ids(own.ids, own.n);
        printf(", \"b_text\": ");
        print_json_string(b_text);
        printf(", \"a_text\": ");
        print_json_string(a_text);
        printf("}\n");
    } else {
        printf("A: read %" PRId64 " tokens of %s in %.1f ms; sent their KV in %.1f ms: %zu "
               "bytes, %.0f per token (%s)\n", n_doc, o->document, prefill_s * 1e3,
               send_s * 1e3, bytes, (double)bytes / (double)n_doc, payload);
        printf("B: first token %.2f ms after the packet arrived (receive %.2f ms, import %.2f "
               "ms)\n", b.ttft_s * 1e3, b.receive_s * 1e3, b.import_s * 1e3);
        printf("B: re-prefilling the same text instead: first token after %.2f ms (hand-off "
               "%.3fx)\n", b.reprefill_ttft_s * 1e3, ratio);
        printf("B answers:    %s\nA continues:  %s\n", b_text, a_text);
        printf("%s\n", equal ? "B's answer is A's own continuation, token for token"
                             : "B's answer differs from A's own continuation");
    }
    free(b_text);
    free(a_text);
    pyagent_agent_destroy(a);
    pyagent_engine_destroy(e);
    return !equal && o->temp == 0 ? 3 : 0;
}

/* --connect PATH: waits up to 10 s for B to listen there. */
static int connect_to(const options *o) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(o->connect) >= sizeof addr.sun_path) usage_error("--connect: the path is too long");
    strcpy(addr.sun_path, o->connect);
    for (int attempt = 0; attempt < 100; attempt++) {
        const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) die("A", "socket", strerror(errno));
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
            const int rc = hand_off(o, fd);
            close(fd);
            return rc;
        }
        const int err = errno;
        close(fd);
        if (err != ENOENT && err != ECONNREFUSED) die("A", o->connect, strerror(err));
        nanosleep(&(struct timespec){0, 100000000L}, NULL);
    }
    die("A", o->connect, "nobody serves there (start agent-handoff --serve first)");
    return 1;
}

int main(int argc, char **argv) {
    if (pyagent_check_abi(PYAGENT_ABI_VERSION) != PYAGENT_OK) {
        fprintf(stderr, "agent-handoff: libpyagent %s has another ABI\n", pyagent_version_string());
        return 1;
    }
    const options o = parse(argc, argv);
    signal(SIGPIPE, SIG_IGN); /* a peer that went away is an error to report, not a kill */
    if (o.serve) return serve(&o);
    if (o.connect) return connect_to(&o);

    /* both: fork before any engine exists (engines start threads) */
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) die("A", "socketpair", strerror(errno));
    fflush(stdout);
    const pid_t pid = fork();
    if (pid < 0) die("A", "fork", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        serve_one(&o, fds[1]);
        close(fds[1]);
        _exit(0);
    }
    close(fds[1]);
    const int rc = hand_off(&o, fds[0]);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "agent-handoff: B failed\n");
        return 1;
    }
    return rc;
}
