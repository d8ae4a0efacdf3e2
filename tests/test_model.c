/*
 * Model loader tests: a tiny but complete llama GGUF (1 layer, width 8, an SPM vocabulary with
 * byte fallback) is written by the builder below from a description, opened through the public
 * engine API and run; then the description is broken one way at a time (a hyper-parameter, a
 * key, a tensor's presence, shape or type, an extra tensor) and each file must be refused with
 * the right status and a message that starts with the file's path and names what is wrong.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pyagent/pyagent.h>

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static void assert_contains(const char *text, const char *part) {
    if (!strstr(text, part)) fail_msg("expected \"%s\" in \"%s\"", part, text);
}

static void assert_starts_with(const char *text, const char *prefix) {
    if (strncmp(text, prefix, strlen(prefix)) != 0)
        fail_msg("expected \"%s\" to start with \"%s\"", text, prefix);
}

/* ---------------------------------------------------------------------------------------------
 * GGUF byte builder (as in test_gguf.c)
 * ------------------------------------------------------------------------------------------- */

typedef struct builder {
    uint8_t *bytes;
    size_t len;
    size_t cap;
} builder;

static void put_bytes(builder *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = b->len + n > 2 * b->cap ? b->len + n : 2 * b->cap;
        b->bytes = realloc(b->bytes, b->cap);
        assert_non_null(b->bytes);
    }
    if (n) memcpy(b->bytes + b->len, src, n);
    b->len += n;
}

static void put_u8(builder *b, uint8_t v) { put_bytes(b, &v, 1); }
static void put_u32(builder *b, uint32_t v) { put_bytes(b, &v, 4); } /* little-endian host */
static void put_i32(builder *b, int32_t v) { put_bytes(b, &v, 4); }
static void put_u64(builder *b, uint64_t v) { put_bytes(b, &v, 8); }
static void put_f32(builder *b, float v) { put_bytes(b, &v, 4); }
static void put_str(builder *b, const char *s) {
    put_u64(b, strlen(s));
    put_bytes(b, s, strlen(s));
}

enum { T_U32 = 4, T_I32 = 5, T_F32 = 6, T_BOOL = 7, T_STRING = 8, T_ARRAY = 9 };
enum { GT_F32 = 0, GT_F16 = 1, GT_Q4_0 = 2, GT_Q5_0 = 6, GT_Q8_0 = 8, GT_Q4_K = 12, GT_Q6_K = 14 };

/* ---------------------------------------------------------------------------------------------
 * A model description and the file it gives
 * ------------------------------------------------------------------------------------------- */

typedef struct dims {
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff;
} dims;

#define MAX_OVERRIDES 4

/* A change to one tensor of the default set. */
typedef struct tensor_override {
    const char *name; /* NULL: slot unused */
    bool omit;
    uint32_t n_dims;  /* 0: keep the shape */
    uint64_t ne[4];
    int type;         /* -1: keep f32 */
} tensor_override;

typedef struct model_desc {
    const char *arch;
    dims keys;            /* what the llama.* keys say */
    dims shape;           /* what the tensors are built from (a valid model unless changed) */
    uint32_t n_ctx;       /* llama.context_length */
    uint32_t rope_dim;    /* llama.rope.dimension_count; 0: key absent */
    uint32_t vocab_size;  /* llama.vocab_size; 0: key absent */
    float rms_eps;
    float rope_base;
    uint32_t alignment;   /* general.alignment; 0: key absent (32) */
    const char *misalign; /* a tensor whose data starts 2 bytes off a float (alignment 2) */
    bool tied;            /* no output.weight */
    const char *drop_key; /* a key left out of the file */
    tensor_override overrides[MAX_OVERRIDES];
    const char *extra_tensor; /* an additional f32 tensor of shape [n_embd] */
} model_desc;

static model_desc tiny_desc(void) {
    const dims d = {.n_embd = 8, .n_layer = 1, .n_head = 2, .n_head_kv = 1, .n_ff = 16};
    model_desc m = {
        .arch = "llama", .keys = d, .shape = d, .n_ctx = 64, .rope_dim = 4, .vocab_size = 0,
        .rms_eps = 1e-5f, .rope_base = 10000.0f,
    };
    for (int i = 0; i < MAX_OVERRIDES; i++) m.overrides[i].type = -1;
    return m;
}

static tensor_override *add_override(model_desc *m, const char *name) {
    for (int i = 0; i < MAX_OVERRIDES; i++) {
        if (!m->overrides[i].name) {
            m->overrides[i].name = name;
            return &m->overrides[i];
        }
    }
    fail_msg("too many overrides");
    return NULL;
}

static void omit_tensor(model_desc *m, const char *name) { add_override(m, name)->omit = true; }

static void reshape_tensor(model_desc *m, const char *name, uint32_t n_dims, const uint64_t *ne) {
    tensor_override *o = add_override(m, name);
    o->n_dims = n_dims;
    memcpy(o->ne, ne, n_dims * sizeof *ne);
}

static void retype_tensor(model_desc *m, const char *name, int type) {
    add_override(m, name)->type = type;
}

/* The vocabulary: <unk> <s> </s>, the 256 byte tokens, then a few pieces. */
static const char *const pieces[] = {"\xe2\x96\x81" "a", "a", "b", "\xe2\x96\x81" "b",
                                     "\xe2\x96\x81", "ab"};
#define N_PIECES (sizeof pieces / sizeof pieces[0])
#define N_VOCAB (3 + 256 + (int)N_PIECES)
#define TOKEN_A (3 + 256 + 1) /* "a" */
#define TOKEN_B (3 + 256 + 2) /* "b" */

static void token_text(int id, char *buf, size_t size) {
    static const char *const specials[] = {"<unk>", "<s>", "</s>"};
    if (id < 3) snprintf(buf, size, "%s", specials[id]);
    else if (id < 3 + 256) snprintf(buf, size, "<0x%02X>", id - 3);
    else snprintf(buf, size, "%s", pieces[id - 3 - 256]);
}

static int32_t token_type(int id) {
    if (id == 0) return 2;                 /* unknown */
    if (id < 3) return 3;                  /* control */
    return id < 3 + 256 ? 6 : 1;           /* byte, normal */
}

static float token_score(int id) { return id < 3 + 256 ? 0.0f : -1.0f - (float)(id - 259); }

/* Metadata, written to its own buffer and counted; the description's drop_key is skipped. */
typedef struct kv_writer {
    builder b;
    uint64_t n;
    const char *drop;
} kv_writer;

static bool kv_begin(kv_writer *w, const char *key, uint32_t type) {
    if (w->drop && strcmp(w->drop, key) == 0) return false;
    put_str(&w->b, key);
    put_u32(&w->b, type);
    w->n++;
    return true;
}

static void kv_u32(kv_writer *w, const char *key, uint32_t v) {
    if (kv_begin(w, key, T_U32)) put_u32(&w->b, v);
}

static void kv_f32(kv_writer *w, const char *key, float v) {
    if (kv_begin(w, key, T_F32)) put_f32(&w->b, v);
}

static void kv_bool(kv_writer *w, const char *key, bool v) {
    if (kv_begin(w, key, T_BOOL)) put_u8(&w->b, v ? 1 : 0);
}

static void kv_str(kv_writer *w, const char *key, const char *v) {
    if (kv_begin(w, key, T_STRING)) put_str(&w->b, v);
}

static void write_metadata(kv_writer *w, const model_desc *m) {
    kv_str(w, "general.architecture", m->arch);
    kv_str(w, "general.name", "tiny test model");
    if (m->alignment) kv_u32(w, "general.alignment", m->alignment);
    kv_u32(w, "llama.context_length", m->n_ctx);
    kv_u32(w, "llama.embedding_length", m->keys.n_embd);
    kv_u32(w, "llama.block_count", m->keys.n_layer);
    kv_u32(w, "llama.feed_forward_length", m->keys.n_ff);
    kv_u32(w, "llama.attention.head_count", m->keys.n_head);
    kv_u32(w, "llama.attention.head_count_kv", m->keys.n_head_kv);
    if (m->rope_dim) kv_u32(w, "llama.rope.dimension_count", m->rope_dim);
    kv_f32(w, "llama.rope.freq_base", m->rope_base);
    kv_f32(w, "llama.attention.layer_norm_rms_epsilon", m->rms_eps);
    if (m->vocab_size) kv_u32(w, "llama.vocab_size", m->vocab_size);

    kv_str(w, "tokenizer.ggml.model", "llama");
    char text[16];
    if (kv_begin(w, "tokenizer.ggml.tokens", T_ARRAY)) {
        put_u32(&w->b, T_STRING);
        put_u64(&w->b, N_VOCAB);
        for (int id = 0; id < N_VOCAB; id++) {
            token_text(id, text, sizeof text);
            put_str(&w->b, text);
        }
    }
    if (kv_begin(w, "tokenizer.ggml.scores", T_ARRAY)) {
        put_u32(&w->b, T_F32);
        put_u64(&w->b, N_VOCAB);
        for (int id = 0; id < N_VOCAB; id++) put_f32(&w->b, token_score(id));
    }
    if (kv_begin(w, "tokenizer.ggml.token_type", T_ARRAY)) {
        put_u32(&w->b, T_I32);
        put_u64(&w->b, N_VOCAB);
        for (int id = 0; id < N_VOCAB; id++) put_i32(&w->b, token_type(id));
    }
    kv_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    kv_u32(w, "tokenizer.ggml.bos_token_id", 1);
    kv_u32(w, "tokenizer.ggml.eos_token_id", 2);
    kv_bool(w, "tokenizer.ggml.add_bos_token", true);
    kv_bool(w, "tokenizer.ggml.add_eos_token", false);
}

typedef struct tensor_spec {
    char name[64];
    uint32_t n_dims;
    uint64_t ne[4];
    int type;
    bool is_norm;
    uint64_t offset, n_bytes;
} tensor_spec;

#define MAX_TENSORS 64

static uint64_t type_bytes(int type, uint64_t n) {
    switch (type) {
    case GT_F32: return 4 * n;
    case GT_F16: return 2 * n;
    case GT_Q4_0: assert_int_equal(n % 32, 0); return n / 32 * 18;
    case GT_Q8_0: assert_int_equal(n % 32, 0); return n / 32 * 34;
    case GT_Q4_K: assert_int_equal(n % 256, 0); return n / 256 * 144;
    case GT_Q5_0: assert_int_equal(n % 32, 0); return n / 32 * 22;
    case GT_Q6_K: assert_int_equal(n % 256, 0); return n / 256 * 210;
    default: fail_msg("type %d not sized by the builder", type); return 0;
    }
}

static void add_tensor(tensor_spec *t, int *n, const char *name, uint32_t n_dims, uint64_t ne0,
                       uint64_t ne1) {
    assert_true(*n < MAX_TENSORS);
    tensor_spec *s = &t[(*n)++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->n_dims = n_dims;
    s->ne[0] = ne0;
    s->ne[1] = n_dims > 1 ? ne1 : 1;
    s->ne[2] = s->ne[3] = 1;
    s->type = GT_F32;
    s->is_norm = n_dims == 1;
}

/* The tensors of the description's `shape`, with its overrides applied; returns the count. */
static int list_tensors(const model_desc *m, tensor_spec *t) {
    const dims *d = &m->shape;
    const uint64_t e = d->n_embd, hd = d->n_embd / d->n_head, q = d->n_head * hd,
                   kv = d->n_head_kv * hd, ff = d->n_ff;
    int n = 0;
    add_tensor(t, &n, "token_embd.weight", 2, e, N_VOCAB);
    add_tensor(t, &n, "output_norm.weight", 1, e, 0);
    if (!m->tied) add_tensor(t, &n, "output.weight", 2, e, N_VOCAB);
    for (uint32_t il = 0; il < d->n_layer; il++) {
        static const struct { const char *suffix; int n_dims; char in, out; } layer[] = {
            {"attn_norm", 1, 'e', 0},  {"attn_q", 2, 'e', 'q'},      {"attn_k", 2, 'e', 'k'},
            {"attn_v", 2, 'e', 'k'},   {"attn_output", 2, 'q', 'e'}, {"ffn_norm", 1, 'e', 0},
            {"ffn_gate", 2, 'e', 'f'}, {"ffn_up", 2, 'e', 'f'},      {"ffn_down", 2, 'f', 'e'},
        };
        for (size_t k = 0; k < sizeof layer / sizeof layer[0]; k++) {
            const uint64_t size[128] = {['e'] = e, ['q'] = q, ['k'] = kv, ['f'] = ff};
            char name[64];
            snprintf(name, sizeof name, "blk.%u.%s.weight", il, layer[k].suffix);
            add_tensor(t, &n, name, (uint32_t)layer[k].n_dims, size[(int)layer[k].in],
                       size[(int)layer[k].out]);
        }
    }
    if (m->extra_tensor) add_tensor(t, &n, m->extra_tensor, 1, e, 0);

    for (int i = 0; i < MAX_OVERRIDES; i++) {
        const tensor_override *o = &m->overrides[i];
        if (!o->name) continue;
        int k = 0;
        while (k < n && strcmp(t[k].name, o->name) != 0) k++;
        if (k == n) fail_msg("override of unknown tensor '%s'", o->name);
        if (o->omit) {
            memmove(&t[k], &t[k + 1], (size_t)(n - k - 1) * sizeof *t);
            n--;
            continue;
        }
        if (o->n_dims) {
            t[k].n_dims = o->n_dims;
            for (int j = 0; j < 4; j++) t[k].ne[j] = j < (int)o->n_dims ? o->ne[j] : 1;
        }
        if (o->type >= 0) t[k].type = o->type;
    }
    return n;
}

/* Small nonzero values that differ by tensor and position; norms are 1. */
static float weight_value(int tensor, uint64_t i) {
    const uint64_t h = (i * 2654435761u + (uint64_t)tensor * 40503u) % 16;
    return ((float)h - 7.5f) * 0.03f;
}

static void put_tensor_data(builder *b, const tensor_spec *t, int index) {
    const uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (t->type == GT_F32) {
        for (uint64_t i = 0; i < n; i++) put_f32(b, t->is_norm ? 1.0f : weight_value(index, i));
    } else if (t->type == GT_F16) {
        for (uint64_t i = 0; i < n; i++) { put_u8(b, 0x00); put_u8(b, 0x3c); } /* 1.0 */
    } else {
        for (uint64_t i = 0; i < t->n_bytes; i++) put_u8(b, (uint8_t)(i * 7 + 1));
    }
}

static builder build_model(const model_desc *m) {
    kv_writer w = {.drop = m->drop_key};
    write_metadata(&w, m);
    if (m->drop_key) {
        /* a drop_key that names no key would make the test prove nothing */
        kv_writer all = {0};
        write_metadata(&all, m);
        assert_int_equal(all.n, w.n + 1);
        free(all.b.bytes);
    }

    tensor_spec t[MAX_TENSORS];
    const int n = list_tensors(m, t);
    const uint64_t align = m->alignment ? m->alignment : 32;
    uint64_t header_len = 4 + 4 + 8 + 8 + w.b.len;
    for (int i = 0; i < n; i++) header_len += 8 + strlen(t[i].name) + 4 + 8 * t[i].n_dims + 4 + 8;
    const uint64_t data_start = (header_len + align - 1) / align * align;
    if (m->misalign) assert_int_equal(align, 2);
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        offset = (offset + align - 1) / align * align;
        /* every tensor on a float boundary (automatic for alignments of 4 and more) except
         * the one to misalign */
        const uint64_t want = m->misalign && strcmp(t[i].name, m->misalign) == 0 ? 2 : 0;
        while ((data_start + offset) % 4 != want) offset += align;
        t[i].n_bytes = type_bytes(t[i].type, t[i].ne[0] * t[i].ne[1] * t[i].ne[2] * t[i].ne[3]);
        t[i].offset = offset;
        offset += t[i].n_bytes;
    }

    builder b = {0};
    put_bytes(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, (uint64_t)n);
    put_u64(&b, w.n);
    put_bytes(&b, w.b.bytes, w.b.len);
    free(w.b.bytes);
    for (int i = 0; i < n; i++) {
        put_str(&b, t[i].name);
        put_u32(&b, t[i].n_dims);
        for (uint32_t k = 0; k < t[i].n_dims; k++) put_u64(&b, t[i].ne[k]);
        put_u32(&b, (uint32_t)t[i].type);
        put_u64(&b, t[i].offset);
    }
    assert_int_equal(b.len, header_len);
    while (b.len % align != 0) put_u8(&b, 0);
    for (int i = 0; i < n; i++) {
        while (b.len < data_start + t[i].offset) put_u8(&b, 0);
        put_tensor_data(&b, &t[i], i);
    }
    while ((b.len - data_start) % align != 0) put_u8(&b, 0);
    return b;
}

/* Writes the description's file to a new temporary file; its path goes to `path`. */
static void write_model(const model_desc *m, char path[static 32]) {
    builder b = build_model(m);
    strcpy(path, "/tmp/test_model_XXXXXX");
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b.bytes, b.len), (ssize_t)b.len);
    close(fd);
    free(b.bytes);
}

static pyagent_params *one_thread(void) {
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_ENGINE);
    assert_non_null(p);
    assert_int_equal(pyagent_params_set_i64(p, "n_threads", 1), PYAGENT_OK);
    return p;
}

/* Opens the description's file and expects `status` with a message "<path>: ...<part>...". */
static void expect_refused(const model_desc *m, pyagent_status status, const char *part) {
    char path[32], prefix[40];
    write_model(m, path);
    pyagent_params *p = one_thread();
    pyagent_engine *engine = NULL;
    const pyagent_status got = pyagent_engine_open(path, p, &engine);
    pyagent_params_destroy(p);
    assert_non_null(engine);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", pyagent_engine_last_error(engine));
    if (got != status) fail_msg("status %d, expected %d: %s", got, status, msg);
    snprintf(prefix, sizeof prefix, "%s: ", path);
    assert_starts_with(msg, prefix);
    assert_contains(msg, part);
    pyagent_engine_destroy(engine);
    unlink(path);
}

/* ---------------------------------------------------------------------------------------------
 * The valid model
 * ------------------------------------------------------------------------------------------- */

typedef struct collected {
    int32_t tokens[16];
    int n;
} collected;

static void collect_token(void *user_data, int32_t token, const char *text, size_t text_len) {
    (void)text;
    (void)text_len;
    collected *c = user_data;
    if (c->n < 16) c->tokens[c->n] = token;
    c->n++;
}

/* Opens the model, checks what it reports, prefills a prompt and generates greedily. */
static void open_and_generate(const model_desc *m, collected *out) {
    char path[32];
    write_model(m, path);
    pyagent_params *p = one_thread();
    pyagent_engine *engine = NULL;
    const pyagent_status st = pyagent_engine_open(path, p, &engine);
    pyagent_params_destroy(p);
    if (st != PYAGENT_OK) fail_msg("open: %s", pyagent_engine_last_error(engine));
    assert_string_equal(pyagent_engine_last_error(engine), "");

    int64_t v = 0;
    assert_int_equal(pyagent_engine_info(engine, "n_vocab", &v), PYAGENT_OK);
    assert_int_equal(v, N_VOCAB);
    assert_int_equal(pyagent_engine_info(engine, "n_embd", &v), PYAGENT_OK);
    assert_int_equal(v, 8);
    assert_int_equal(pyagent_engine_info(engine, "n_head_kv", &v), PYAGENT_OK);
    assert_int_equal(v, 1);
    assert_int_equal(pyagent_engine_info(engine, "n_ctx_train", &v), PYAGENT_OK);
    assert_int_equal(v, 64);
    assert_int_equal(pyagent_engine_info(engine, "n_params", &v), PYAGENT_OK);
    /* 8*265 embd + 8 norm + (2*8 norms + 8*8 q + 2*8*4 kv + 8*8 o + 3*8*16 ffn) + untied out */
    assert_int_equal(v, 8 * N_VOCAB + 8 + (16 + 64 + 64 + 64 + 384) + (m->tied ? 0 : 8 * N_VOCAB));

    /* the SPM vocabulary tokenizes with its pieces and byte fallback */
    int32_t ids[16];
    size_t n_ids = 0;
    assert_int_equal(pyagent_engine_tokenize(engine, "a b\n", -1, PYAGENT_TOKENIZE_ADD_SPECIAL,
                                             ids, 16, &n_ids),
                     PYAGENT_OK);
    assert_int_equal(n_ids, 4);
    assert_int_equal(ids[0], 1);                  /* <s> */
    assert_int_equal(ids[1], 3 + 256 + 0);        /* "▁a" */
    assert_int_equal(ids[2], 3 + 256 + 3);        /* "▁b" */
    assert_int_equal(ids[3], 3 + '\n');           /* <0x0A> */

    pyagent_params *sampler = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    assert_non_null(sampler);
    assert_int_equal(pyagent_params_set_f64(sampler, "temperature", 0.0), PYAGENT_OK);
    pyagent_agent *agent = NULL;
    assert_int_equal(pyagent_agent_create(engine, sampler, &agent), PYAGENT_OK);
    pyagent_params_destroy(sampler);
    const int32_t prompt[] = {1, TOKEN_A, TOKEN_B, TOKEN_A};
    assert_int_equal(pyagent_agent_feed_tokens(agent, prompt, 4), PYAGENT_OK);
    assert_int_equal(pyagent_agent_prefill(agent), PYAGENT_OK);

    float logits[N_VOCAB];
    size_t n_logits = 0;
    assert_int_equal(pyagent_agent_logits(agent, logits, N_VOCAB, &n_logits), PYAGENT_OK);
    assert_int_equal(n_logits, N_VOCAB);
    int best = 0;
    bool all_equal = true;
    for (int i = 0; i < N_VOCAB; i++) {
        assert_true(isfinite(logits[i]));
        if (logits[i] > logits[best]) best = i;
        if (logits[i] != logits[0]) all_equal = false;
    }
    assert_false(all_equal); /* the weights reach the output */

    memset(out, 0, sizeof *out);
    int32_t finish = 0;
    assert_int_equal(pyagent_agent_generate(agent, 4, collect_token, out, &finish), PYAGENT_OK);
    assert_true(out->n >= 1 && out->n <= 4);
    assert_int_equal(out->tokens[0], best); /* greedy: the argmax of the prompt's logits */
    if (finish == PYAGENT_FINISH_LENGTH) assert_int_equal(out->n, 4);
    else assert_int_equal(finish, PYAGENT_FINISH_EOS);
    for (int i = 0; i < out->n; i++) assert_true(out->tokens[i] >= 0 && out->tokens[i] < N_VOCAB);

    pyagent_agent_destroy(agent);
    pyagent_engine_destroy(engine);
    unlink(path);
}

static void valid_tiny_model_opens_and_generates(void **state) {
    (void)state;
    model_desc m = tiny_desc();
    collected first, again;
    open_and_generate(&m, &first);
    assert_int_equal(first.n, 4);
    open_and_generate(&m, &again); /* greedy generation is reproducible */
    assert_memory_equal(first.tokens, again.tokens, sizeof first.tokens);

    m.vocab_size = N_VOCAB; /* a matching llama.vocab_size is fine */
    open_and_generate(&m, &again);
    assert_memory_equal(first.tokens, again.tokens, sizeof first.tokens);

    m.rope_dim = 0; /* rope.dimension_count defaults to the head size */
    open_and_generate(&m, &again);
    assert_memory_equal(first.tokens, again.tokens, sizeof first.tokens);
}

static void valid_tied_model_without_output_weight_opens_and_generates(void **state) {
    (void)state;
    model_desc m = tiny_desc();
    m.tied = true;
    collected out;
    open_and_generate(&m, &out);
    assert_int_equal(out.n, 4);
}

/* ---------------------------------------------------------------------------------------------
 * Hyper-parameters
 * ------------------------------------------------------------------------------------------- */

static void rejects_unsupported_architecture(void **state) {
    (void)state;
    model_desc m = tiny_desc();
    m.arch = "qwen2";
    expect_refused(&m, PYAGENT_ERR_UNSUPPORTED,
                   "architecture 'qwen2' is not supported (supported: llama)");
    m.arch = "llama2";
    expect_refused(&m, PYAGENT_ERR_UNSUPPORTED, "architecture 'llama2' is not supported");
}

static void rejects_missing_architecture(void **state) {
    (void)state;
    model_desc m = tiny_desc();
    m.drop_key = "general.architecture";
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL, "missing key 'general.architecture'");
}

static void rejects_missing_block_count(void **state) {
    (void)state;
    model_desc m = tiny_desc();
    m.drop_key = "llama.block_count";
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL, "missing key 'llama.block_count'");
}

static void rejects_every_other_missing_required_hyperparameter(void **state) {
    (void)state;
    const char *required[] = {"llama.embedding_length", "llama.attention.head_count",
                              "llama.feed_forward_length"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        model_desc m = tiny_desc();
        m.drop_key = required[i];
        char part[96];
        snprintf(part, sizeof part, "missing key '%s'", required[i]);
        expect_refused(&m, PYAGENT_ERR_BAD_MODEL, part);
    }
}

static void rejects_head_count_that_does_not_divide_width(void **state) {
    (void)state;
    model_desc m = tiny_desc();
    m.keys.n_head = 3;
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL,
                   "llama.attention.head_count = 3 does not split embedding_length 8");
    m.keys.n_head = 8; /* heads of size 1: RoPE needs pairs */
    m.keys.n_head_kv = 8;
    m.rope_dim = 0;
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL,
                   "llama.attention.head_count = 8 does not split embedding_length 8 into "
                   "even-sized heads");
    m.keys.n_head = 0;
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL, "llama.attention.head_count = 0 does not split");
}

static void rejects_kv_heads_that_do_not_divide_heads(void **state) {
    (void)state;
    const uint32_t bad[] = {0, 3, 4};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        model_desc m = tiny_desc();
        m.keys.n_head_kv = bad[i];
        char part[96];
        snprintf(part, sizeof part,
                 "llama.attention.head_count_kv = %u does not divide head_count 2", bad[i]);
        expect_refused(&m, PYAGENT_ERR_BAD_MODEL, part);
    }
}

static void rejects_zero_and_absurd_dimensions(void **state) {
    (void)state;
    model_desc m = tiny_desc();
    m.keys.n_embd = 0;
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL, "llama.embedding_length = 0 is out of range");
    m = tiny_desc();
    m.keys.n_embd = 1u << 21;
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL, "llama.embedding_length = 2097152 is out of range");
    m = tiny_desc();
    m.keys.n_layer = 0;
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL, "llama.block_count = 0 is out of range");
    m = tiny_desc();
    m.keys.n_layer = 100000;
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL, "llama.block_count = 100000 is out of range");
    m = tiny_desc();
    m.keys.n_ff = 0;
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL, "llama.feed_forward_length = 0 is out of range");
    m = tiny_desc();
    m.keys.n_ff = 1u << 31;
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL,
                   "llama.feed_forward_length = 2147483648 is out of range");
}

static void rejects_rope_dimension_other_than_head_size(void **state) {
    (void)state;
    model_desc m = tiny_desc();
    m.rope_dim = 2;
    expect_refused(&m, PYAGENT_ERR_UNSUPPORTED,
                   "llama.rope.dimension_count = 2 differs from the head size 4");
    m.rope_dim = 8;
    expect_refused(&m, PYAGENT_ERR_UNSUPPORTED,
                   "llama.rope.dimension_count = 8 differs from the head size 4");
}

static void rejects_out_of_range_norm_epsilon_and_rope_base(void **state) {
    (void)state;
    model_desc m = tiny_desc();
    m.rms_eps = 0.0f;
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL,
                   "llama.attention.layer_norm_rms_epsilon = 0 is out of range (0, 1)");
    m.rms_eps = NAN;
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL, "llama.attention.layer_norm_rms_epsilon = nan");
    m = tiny_desc();
    m.rope_base = 1.0f;
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL, "llama.rope.freq_base = 1 must be > 1");
}

/* ---------------------------------------------------------------------------------------------
 * Tensors
 * ------------------------------------------------------------------------------------------- */

static void rejects_missing_tensor(void **state) {
    (void)state;
    const char *required[] = {"token_embd.weight",      "output_norm.weight",
                              "blk.0.attn_norm.weight", "blk.0.attn_q.weight",
                              "blk.0.attn_v.weight",    "blk.0.ffn_down.weight"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        model_desc m = tiny_desc();
        omit_tensor(&m, required[i]);
        char part[96];
        snprintf(part, sizeof part, "missing tensor '%s'", required[i]);
        expect_refused(&m, PYAGENT_ERR_BAD_MODEL, part);
    }
}

static void rejects_tensor_with_wrong_shape(void **state) {
    (void)state;
    model_desc m = tiny_desc();
    reshape_tensor(&m, "blk.0.attn_k.weight", 2, (uint64_t[]){8, 8}); /* no GQA */
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL,
                   "tensor 'blk.0.attn_k.weight' has shape [8, 8], expected [8, 4]");

    m = tiny_desc(); /* transposed */
    reshape_tensor(&m, "blk.0.ffn_down.weight", 2, (uint64_t[]){8, 16});
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL,
                   "tensor 'blk.0.ffn_down.weight' has shape [8, 16], expected [16, 8]");

    m = tiny_desc(); /* the vocabulary is the outer dimension */
    reshape_tensor(&m, "output.weight", 2, (uint64_t[]){N_VOCAB, 8});
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL,
                   "tensor 'output.weight' has shape [265, 8], expected [8, 265]");

    m = tiny_desc(); /* same element count, one more dimension */
    reshape_tensor(&m, "blk.0.attn_q.weight", 3, (uint64_t[]){8, 4, 2});
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL,
                   "tensor 'blk.0.attn_q.weight' has shape [8, 4, 2], expected [8, 8]");

    m = tiny_desc();
    reshape_tensor(&m, "output_norm.weight", 1, (uint64_t[]){16});
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL,
                   "tensor 'output_norm.weight' has shape [16], expected [8]");

    m = tiny_desc();
    reshape_tensor(&m, "blk.0.ffn_norm.weight", 2, (uint64_t[]){8, 1});
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL,
                   "tensor 'blk.0.ffn_norm.weight' has shape [8, 1], expected [8]");
}

/* A width of 32 makes rows whole q4_0 blocks, and a feed-forward width of 256 whole q4_K
 * blocks, so that the file is valid GGUF and only the loader can refuse it. */
static model_desc wide_desc(void) {
    model_desc m = tiny_desc();
    m.keys.n_embd = m.shape.n_embd = 32;
    m.keys.n_ff = m.shape.n_ff = 256;
    m.rope_dim = 16;
    return m;
}

static void rejects_unsupported_tensor_type(void **state) {
    (void)state;
    model_desc m = wide_desc();
    retype_tensor(&m, "blk.0.attn_q.weight", GT_Q5_0);
    expect_refused(&m, PYAGENT_ERR_UNSUPPORTED,
                   "tensor 'blk.0.attn_q.weight' has type q5_0 (supported: f32, f16, bf16, q8_0, "
                   "q4_0, q4_K)");

    m = wide_desc();
    retype_tensor(&m, "blk.0.ffn_down.weight", GT_Q6_K);
    expect_refused(&m, PYAGENT_ERR_UNSUPPORTED, "tensor 'blk.0.ffn_down.weight' has type q6_K");

    m = wide_desc();
    retype_tensor(&m, "token_embd.weight", GT_Q5_0);
    expect_refused(&m, PYAGENT_ERR_UNSUPPORTED, "tensor 'token_embd.weight' has type q5_0");
}

static void wide_model_with_quantized_matrices_opens(void **state) {
    (void)state;
    /* the same wide file with a supported quantized type opens: the refusals above are about
     * the type, not about the shape */
    model_desc m = wide_desc();
    retype_tensor(&m, "blk.0.attn_q.weight", GT_Q8_0);
    retype_tensor(&m, "blk.0.ffn_up.weight", GT_Q8_0);
    retype_tensor(&m, "blk.0.attn_k.weight", GT_Q4_0);
    retype_tensor(&m, "blk.0.ffn_down.weight", GT_Q4_K);
    char path[32];
    write_model(&m, path);
    pyagent_params *p = one_thread();
    pyagent_engine *engine = NULL;
    const pyagent_status st = pyagent_engine_open(path, p, &engine);
    pyagent_params_destroy(p);
    if (st != PYAGENT_OK) fail_msg("open: %s", pyagent_engine_last_error(engine));
    pyagent_engine_destroy(engine);
    unlink(path);
}

static void rejects_non_f32_norm(void **state) {
    (void)state;
    model_desc m = tiny_desc();
    retype_tensor(&m, "blk.0.attn_norm.weight", GT_F16);
    expect_refused(&m, PYAGENT_ERR_UNSUPPORTED,
                   "norm tensor 'blk.0.attn_norm.weight' has type f16, expected f32");
    m = wide_desc();
    retype_tensor(&m, "output_norm.weight", GT_Q8_0);
    expect_refused(&m, PYAGENT_ERR_UNSUPPORTED,
                   "norm tensor 'output_norm.weight' has type q8_0, expected f32");
}

static void rejects_unknown_extra_tensor(void **state) {
    (void)state;
    const char *extras[] = {"blk.0.attn_q.bias", "rope_freqs.weight", "blk.1.attn_q.weight",
                            "blk.0.ffn_gate_exps.weight",
                            /* spellings of a layer tensor other than the one looked up */
                            "blk.00.attn_q.weight", "blk.+0.attn_q.weight",
                            "blk.99999999999999999999.attn_q.weight", "blk..attn_q.weight"};
    for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++) {
        model_desc m = tiny_desc();
        m.extra_tensor = extras[i];
        char part[128];
        snprintf(part, sizeof part,
                 "tensor '%s' is not used by the llama architecture as supported here",
                 extras[i]);
        expect_refused(&m, PYAGENT_ERR_UNSUPPORTED, part);
    }
    /* a tied file (one tensor fewer expected) with a stray tensor */
    model_desc m = tiny_desc();
    m.tied = true;
    m.extra_tensor = "blk.0.attn_k.bias";
    expect_refused(&m, PYAGENT_ERR_UNSUPPORTED, "tensor 'blk.0.attn_k.bias' is not used");
}

static void rejects_misaligned_tensor_data(void **state) {
    (void)state;
    /* general.alignment 2 is valid GGUF, but lets f32 data start 2 bytes off a float, which
     * the kernels cannot read in place (the mapping itself is page-aligned) */
    model_desc m = tiny_desc();
    m.alignment = 2;
    m.misalign = "token_embd.weight";
    expect_refused(&m, PYAGENT_ERR_UNSUPPORTED,
                   "tensor 'token_embd.weight' data is not 4-byte aligned");
    m.misalign = "blk.0.ffn_up.weight";
    expect_refused(&m, PYAGENT_ERR_UNSUPPORTED,
                   "tensor 'blk.0.ffn_up.weight' data is not 4-byte aligned");
    m.misalign = "output_norm.weight";
    expect_refused(&m, PYAGENT_ERR_UNSUPPORTED,
                   "tensor 'output_norm.weight' data is not 4-byte aligned");
    m.misalign = NULL; /* the same alignment with the data on float boundaries is fine */
    collected out;
    open_and_generate(&m, &out);
}

/* ---------------------------------------------------------------------------------------------
 * Vocabulary
 * ------------------------------------------------------------------------------------------- */

static void rejects_vocab_size_mismatch(void **state) {
    (void)state;
    model_desc m = tiny_desc();
    m.vocab_size = 32000;
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL,
                   "llama.vocab_size = 32000 but the tokenizer has 265 tokens");
    m.vocab_size = N_VOCAB - 1;
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL,
                   "llama.vocab_size = 264 but the tokenizer has 265 tokens");
}

static void rejects_missing_tokenizer_tokens(void **state) {
    (void)state;
    model_desc m = tiny_desc();
    m.drop_key = "tokenizer.ggml.tokens";
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL, "missing key 'tokenizer.ggml.tokens'");
    m.drop_key = "tokenizer.ggml.model";
    expect_refused(&m, PYAGENT_ERR_BAD_MODEL, "missing key 'tokenizer.ggml.model'");
}

/* ---------------------------------------------------------------------------------------------
 * A failed engine
 * ------------------------------------------------------------------------------------------- */

static void failed_engine_refuses_agents_and_tokenize(void **state) {
    (void)state;
    model_desc m = tiny_desc();
    m.arch = "qwen2";
    char path[32];
    write_model(&m, path);
    pyagent_engine *engine = NULL;
    assert_int_equal(pyagent_engine_open(path, NULL, &engine), PYAGENT_ERR_UNSUPPORTED);
    assert_non_null(engine);
    assert_contains(pyagent_engine_last_error(engine), "'qwen2'");

    int32_t ids[8];
    size_t n_ids = 99;
    assert_int_equal(pyagent_engine_tokenize(engine, "a", -1, 0, ids, 8, &n_ids),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    char text[8];
    size_t text_len = 0;
    assert_int_equal(pyagent_engine_detokenize(engine, ids, 0, 0, text, 8, &text_len),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    int64_t v = 0;
    assert_int_equal(pyagent_engine_info(engine, "n_vocab", &v), PYAGENT_ERR_INVALID_ARGUMENT);
    /* these leave the open's message in place */
    assert_contains(pyagent_engine_last_error(engine), "'qwen2'");

    pyagent_agent *agent = (pyagent_agent *)&agent; /* must be reset to NULL */
    assert_int_equal(pyagent_agent_create(engine, NULL, &agent), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_null(agent);
    assert_contains(pyagent_engine_last_error(engine), "engine has no model loaded");

    pyagent_engine_destroy(engine);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_tiny_model_opens_and_generates),
        cmocka_unit_test(valid_tied_model_without_output_weight_opens_and_generates),
        cmocka_unit_test(rejects_unsupported_architecture),
        cmocka_unit_test(rejects_missing_architecture),
        cmocka_unit_test(rejects_missing_block_count),
        cmocka_unit_test(rejects_every_other_missing_required_hyperparameter),
        cmocka_unit_test(rejects_head_count_that_does_not_divide_width),
        cmocka_unit_test(rejects_kv_heads_that_do_not_divide_heads),
        cmocka_unit_test(rejects_zero_and_absurd_dimensions),
        cmocka_unit_test(rejects_rope_dimension_other_than_head_size),
        cmocka_unit_test(rejects_out_of_range_norm_epsilon_and_rope_base),
        cmocka_unit_test(rejects_missing_tensor),
        cmocka_unit_test(rejects_tensor_with_wrong_shape),
        cmocka_unit_test(rejects_unsupported_tensor_type),
        cmocka_unit_test(wide_model_with_quantized_matrices_opens),
        cmocka_unit_test(rejects_non_f32_norm),
        cmocka_unit_test(rejects_unknown_extra_tensor),
        cmocka_unit_test(rejects_misaligned_tensor_data),
        cmocka_unit_test(rejects_vocab_size_mismatch),
        cmocka_unit_test(rejects_missing_tokenizer_tokens),
        cmocka_unit_test(failed_engine_refuses_agents_and_tokenize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
