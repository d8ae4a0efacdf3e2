/*
 * GGUF reader tests: the real stories260K.gguf read through every accessor, then malformed
 * files (the real one truncated everywhere in its header, and synthetic ones written by the
 * small byte builder below), each of which must fail with the right status and a message that
 * names the file, the item and the problem.
 *
 * Files under test are opened from allocations of exactly their size, so AddressSanitizer
 * catches any read past the end.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/gguf.h"

#define SYNTHETIC "synthetic.gguf"

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static void data_path(char *buf, size_t size, const char *file) {
    const char *dir = getenv("PYAGENT_TEST_DATA");
    snprintf(buf, size, "%s/%s", dir && *dir ? dir : "tests/data", file);
}

/* Reads a test data file into a malloc'd buffer of exactly its size. */
static uint8_t *read_data_file(const char *file, size_t *size) {
    char path[1024];
    data_path(path, sizeof path, file);
    FILE *fp = fopen(path, "rb");
    if (!fp) fail_msg("cannot open %s (set PYAGENT_TEST_DATA)", path);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    const long len = ftell(fp);
    assert_true(len > 0);
    rewind(fp);
    uint8_t *bytes = malloc((size_t)len);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *size = (size_t)len;
    return bytes;
}

static gguf_file *open_stories(void) {
    char path[1024];
    gguf_file *file = NULL;
    pa_err err = {0};
    data_path(path, sizeof path, "stories260K.gguf");
    if (gguf_open_file(path, false, &file, &err) != PYAGENT_OK) fail_msg("%s", err.msg);
    return file;
}

static void assert_contains(const char *text, const char *part) {
    if (!strstr(text, part)) fail_msg("expected \"%s\" in \"%s\"", part, text);
}

static void assert_starts_with(const char *text, const char *prefix) {
    if (strncmp(text, prefix, strlen(prefix)) != 0) {
        fail_msg("expected \"%s\" to start with \"%s\"", text, prefix);
    }
}

/* Writes `size` bytes to a new temporary file; its path goes to `path` (>= 32 bytes). */
static void write_temp_file(char *path, const void *bytes, size_t size) {
    strcpy(path, "/tmp/test_gguf_XXXXXX");
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, size), (ssize_t)size);
    close(fd);
}

/* ---------------------------------------------------------------------------------------------
 * GGUF byte builder
 * ------------------------------------------------------------------------------------------- */

typedef struct builder {
    uint8_t *bytes;
    size_t len; /* bytes written */
    size_t cap; /* bytes allocated */
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
static void put_u64(builder *b, uint64_t v) { put_bytes(b, &v, 8); }
static void put_f32(builder *b, float v) { put_bytes(b, &v, 4); }
static void put_f64(builder *b, double v) { put_bytes(b, &v, 8); }

static void put_strn(builder *b, const char *s, size_t len) {
    put_u64(b, len);
    put_bytes(b, s, len);
}

static void put_str(builder *b, const char *s) { put_strn(b, s, strlen(s)); }

static void put_header(builder *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put_bytes(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}

/* A key and its value type; the caller writes the value. */
static void put_key(builder *b, const char *key, uint32_t type) {
    put_str(b, key);
    put_u32(b, type);
}

static void put_kv_u32(builder *b, const char *key, uint32_t v) {
    put_key(b, key, GGUF_TYPE_U32);
    put_u32(b, v);
}

static void put_kv_str(builder *b, const char *key, const char *v) {
    put_key(b, key, GGUF_TYPE_STRING);
    put_str(b, v);
}

static void put_tensor(builder *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                       uint32_t type, uint64_t offset) {
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) put_u64(b, ne[d]);
    put_u32(b, type);
    put_u64(b, offset);
}

static void put_zeros(builder *b, size_t n) {
    for (size_t i = 0; i < n; i++) put_u8(b, 0);
}

static void put_padding(builder *b, size_t alignment) {
    while (b->len % alignment != 0) put_u8(b, 0);
}

/* A v3 file with one tensor 'w' described by the arguments, then `data_bytes` zero bytes of
 * data at the default alignment. */
static void build_one_tensor(builder *b, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                             uint64_t offset, size_t data_bytes) {
    put_header(b, 3, 1, 0);
    put_tensor(b, "w", n_dims, ne, type, offset);
    put_padding(b, 32);
    put_zeros(b, data_bytes);
}

/* Shrinks the buffer to exactly the bytes written (so ASan sees the real end) and opens it. */
static pyagent_status open_built(builder *b, gguf_file **file, pa_err *err) {
    b->bytes = realloc(b->bytes, b->len);
    assert_non_null(b->bytes);
    b->cap = b->len;
    return gguf_open_memory(b->bytes, b->len, SYNTHETIC, file, err);
}

static gguf_file *open_built_ok(builder *b) {
    gguf_file *file = NULL;
    pa_err err = {0};
    if (open_built(b, &file, &err) != PYAGENT_OK) fail_msg("%s", err.msg);
    return file;
}

/* Opens the built bytes, expects `status` and a message that starts with the file name and
 * contains `part`, then frees the builder. */
static void expect_failure(builder *b, pyagent_status status, const char *part) {
    gguf_file *file = NULL;
    pa_err err = {0};
    const pyagent_status got = open_built(b, &file, &err);
    if (got != status) fail_msg("status %d, expected %d: %s", got, status, err.msg);
    assert_null(file);
    assert_int_equal(err.status, status);
    assert_starts_with(err.msg, SYNTHETIC ": ");
    assert_contains(err.msg, part);
    free(b->bytes);
}

/* ---------------------------------------------------------------------------------------------
 * The real model file
 * ------------------------------------------------------------------------------------------- */

static void opens_stories260K_with_19_keys_and_48_tensors(void **state) {
    (void)state;
    gguf_file *file = open_stories();
    assert_int_equal(gguf_version(file), 3);
    assert_int_equal(gguf_alignment(file), 32);
    assert_int_equal(gguf_n_kv(file), 19);
    assert_int_equal(gguf_n_tensors(file), 48);
    gguf_close(file);
}

static void reads_llama_hyperparameters(void **state) {
    (void)state;
    gguf_file *file = open_stories();
    pa_err err = {0};
    uint32_t n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ctx = 0, n_ff = 0;
    assert_int_equal(gguf_get_u32(file, "llama.embedding_length", &n_embd, &err), PYAGENT_OK);
    assert_int_equal(gguf_get_u32(file, "llama.block_count", &n_layer, &err), PYAGENT_OK);
    assert_int_equal(gguf_get_u32(file, "llama.attention.head_count", &n_head, &err), PYAGENT_OK);
    assert_int_equal(gguf_get_u32(file, "llama.attention.head_count_kv", &n_head_kv, &err),
                     PYAGENT_OK);
    assert_int_equal(gguf_get_u32(file, "llama.context_length", &n_ctx, &err), PYAGENT_OK);
    assert_int_equal(gguf_get_u32(file, "llama.feed_forward_length", &n_ff, &err), PYAGENT_OK);
    assert_int_equal(n_embd, 64);
    assert_int_equal(n_layer, 5);
    assert_int_equal(n_head, 8);
    assert_int_equal(n_head_kv, 4);
    assert_int_equal(n_ctx, 128);
    assert_int_equal(n_ff, 172);

    float eps = 0;
    assert_int_equal(gguf_get_f32_or(file, "llama.attention.layer_norm_rms_epsilon", 1.0f, &eps,
                                     &err), PYAGENT_OK);
    assert_true(eps == 1e-5f);

    gguf_str arch = {0};
    assert_int_equal(gguf_get_str(file, "general.architecture", &arch, &err), PYAGENT_OK);
    assert_true(gguf_str_eq(arch, "llama"));
    assert_false(gguf_str_eq(arch, "llam"));
    assert_false(gguf_str_eq(arch, "llama2"));

    uint32_t sep = 0;
    assert_int_equal(gguf_get_u32(file, "tokenizer.ggml.seperator_token_id", &sep, &err),
                     PYAGENT_OK);
    assert_int_equal(sep, 0xFFFFFFFFu);
    gguf_close(file);
}

static void describes_token_embd_as_f32_64_by_512(void **state) {
    (void)state;
    gguf_file *file = open_stories();
    const gguf_tensor *t = gguf_find_tensor(file, "token_embd.weight");
    assert_non_null(t);
    assert_string_equal(t->name, "token_embd.weight");
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->ne[3], 1);
    assert_int_equal(t->type, GGUF_TENSOR_F32);
    assert_int_equal(t->offset, 0);
    assert_int_equal(t->n_bytes, 64 * 512 * 4);
    assert_string_equal(gguf_tensor_type_name(t->type), "f32");

    const gguf_tensor *norm = gguf_find_tensor(file, "output_norm.weight");
    assert_non_null(norm);
    assert_int_equal(norm->n_dims, 1);
    assert_int_equal(norm->ne[0], 64);
    assert_int_equal(norm->ne[1], 1);
    /* the data section starts right after the header, at the alignment */
    assert_int_equal((const uint8_t *)norm->data - (const uint8_t *)t->data, norm->offset);
    gguf_close(file);
}

static void places_every_tensor_inside_the_file_at_an_aligned_offset(void **state) {
    (void)state;
    size_t size;
    uint8_t *bytes = read_data_file("stories260K.gguf", &size);
    gguf_file *file = NULL;
    pa_err err = {0};
    assert_int_equal(gguf_open_memory(bytes, size, "stories260K.gguf", &file, &err), PYAGENT_OK);
    for (size_t i = 0; i < gguf_n_tensors(file); i++) {
        const gguf_tensor *t = gguf_tensor_at(file, i);
        const size_t start = (size_t)((const uint8_t *)t->data - bytes);
        assert_int_equal(t->offset % 32, 0);
        assert_int_equal(start % 32, 0);
        assert_true(start + t->n_bytes <= size);
        assert_int_equal(t->n_bytes, gguf_tensor_type_bytes(t->type, (uint64_t)(
                                         t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3])));
        assert_ptr_equal(gguf_find_tensor(file, t->name), t);
    }
    gguf_close(file);
    free(bytes);
}

static void reads_the_vocabulary_arrays(void **state) {
    (void)state;
    gguf_file *file = open_stories();
    pa_err err = {0};
    const gguf_kv *tokens = NULL, *scores = NULL, *types = NULL;
    assert_int_equal(gguf_get_arr(file, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, &err),
                     PYAGENT_OK);
    assert_int_equal(tokens->v.arr.count, 512);
    assert_non_null(tokens->v.arr.strings);
    assert_true(gguf_str_eq(tokens->v.arr.strings[0], "<unk>"));
    assert_true(gguf_str_eq(tokens->v.arr.strings[1], "<s>"));
    assert_true(gguf_str_eq(tokens->v.arr.strings[2], "</s>"));
    assert_true(gguf_str_eq(tokens->v.arr.strings[3], "<0x00>"));

    assert_int_equal(gguf_get_arr(file, "tokenizer.ggml.scores", GGUF_TYPE_F32, &scores, &err),
                     PYAGENT_OK);
    assert_int_equal(scores->v.arr.count, 512);
    assert_null(scores->v.arr.strings);
    float score0;
    memcpy(&score0, scores->v.arr.data, sizeof score0);
    assert_true(score0 == 0.0f);

    assert_int_equal(gguf_get_arr(file, "tokenizer.ggml.token_type", GGUF_TYPE_I32, &types, &err),
                     PYAGENT_OK);
    assert_int_equal(types->v.arr.count, 512);
    int32_t type0, type1;
    memcpy(&type0, (const uint8_t *)types->v.arr.data, 4);
    memcpy(&type1, (const uint8_t *)types->v.arr.data + 4, 4);
    assert_int_equal(type0, 2); /* <unk>: UNKNOWN */
    assert_int_equal(type1, 3); /* <s>: CONTROL */
    gguf_close(file);
}

static void finds_keys_and_tensors_by_index_and_name(void **state) {
    (void)state;
    gguf_file *file = open_stories();
    const gguf_kv *first = gguf_kv_at(file, 0);
    assert_non_null(first);
    assert_true(gguf_str_eq(first->key, "tokenizer.ggml.tokens"));
    assert_ptr_equal(gguf_find_kv(file, "tokenizer.ggml.tokens"), first);
    for (size_t i = 0; i < gguf_n_kv(file); i++) {
        const gguf_kv *kv = gguf_kv_at(file, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.data);
        assert_ptr_equal(gguf_find_kv(file, key), kv);
    }
    assert_null(gguf_kv_at(file, 19));
    assert_null(gguf_tensor_at(file, 48));
    assert_null(gguf_find_kv(file, "llama.rope.freq_base"));
    assert_null(gguf_find_kv(file, "tokenizer.ggml.token"));
    assert_null(gguf_find_kv(file, ""));
    assert_null(gguf_find_tensor(file, "blk.5.attn_q.weight"));
    assert_null(gguf_find_tensor(file, ""));
    assert_non_null(gguf_find_tensor(file, "blk.4.ffn_norm.weight"));
    gguf_close(file);
}

static void or_getters_return_the_fallback_for_an_absent_key(void **state) {
    (void)state;
    gguf_file *file = open_stories();
    pa_err err = {0};
    uint32_t u = 0;
    float f = 0;
    bool b = false;
    assert_int_equal(gguf_get_u32_or(file, "llama.expert_count", 7, &u, &err), PYAGENT_OK);
    assert_int_equal(u, 7);
    assert_int_equal(gguf_get_f32_or(file, "llama.rope.freq_base", 10000.0f, &f, &err),
                     PYAGENT_OK);
    assert_true(f == 10000.0f);
    assert_int_equal(gguf_get_bool_or(file, "tokenizer.ggml.add_bos_token", true, &b, &err),
                     PYAGENT_OK);
    assert_true(b);
    /* present keys win over the fallback */
    assert_int_equal(gguf_get_u32_or(file, "llama.block_count", 7, &u, &err), PYAGENT_OK);
    assert_int_equal(u, 5);
    gguf_close(file);
}

static void getters_report_a_missing_key(void **state) {
    (void)state;
    gguf_file *file = open_stories();
    pa_err err = {0};
    uint32_t u;
    gguf_str s;
    const gguf_kv *arr;
    assert_int_equal(gguf_get_u32(file, "llama.vocab_size", &u, &err), PYAGENT_ERR_BAD_MODEL);
    assert_string_equal(err.msg, "missing key 'llama.vocab_size'");
    assert_int_equal(gguf_get_str(file, "tokenizer.ggml.pre", &s, &err), PYAGENT_ERR_BAD_MODEL);
    assert_string_equal(err.msg, "missing key 'tokenizer.ggml.pre'");
    assert_int_equal(gguf_get_arr(file, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &arr, &err),
                     PYAGENT_ERR_BAD_MODEL);
    assert_string_equal(err.msg, "missing key 'tokenizer.ggml.merges'");
    assert_int_equal(err.status, PYAGENT_ERR_BAD_MODEL);
    gguf_close(file);
}

static void getters_reject_a_present_key_of_the_wrong_type(void **state) {
    (void)state;
    gguf_file *file = open_stories();
    pa_err err = {0};
    uint32_t u;
    float f;
    bool b;
    gguf_str s;
    const gguf_kv *arr;
    assert_int_equal(gguf_get_u32(file, "general.architecture", &u, &err), PYAGENT_ERR_BAD_MODEL);
    assert_string_equal(err.msg, "key 'general.architecture' has type string, expected u32");
    assert_int_equal(gguf_get_u32_or(file, "general.name", 1, &u, &err), PYAGENT_ERR_BAD_MODEL);
    assert_contains(err.msg, "has type string, expected u32");
    assert_int_equal(gguf_get_f32_or(file, "llama.block_count", 1, &f, &err),
                     PYAGENT_ERR_BAD_MODEL);
    assert_string_equal(err.msg, "key 'llama.block_count' has type u32, expected f32");
    assert_int_equal(gguf_get_bool_or(file, "general.name", true, &b, &err),
                     PYAGENT_ERR_BAD_MODEL);
    assert_string_equal(err.msg, "key 'general.name' has type string, expected bool");
    assert_int_equal(gguf_get_str(file, "llama.block_count", &s, &err), PYAGENT_ERR_BAD_MODEL);
    assert_string_equal(err.msg, "key 'llama.block_count' has type u32, expected string");
    assert_int_equal(gguf_get_arr(file, "tokenizer.ggml.scores", GGUF_TYPE_I32, &arr, &err),
                     PYAGENT_ERR_BAD_MODEL);
    assert_string_equal(err.msg,
                        "key 'tokenizer.ggml.scores' has type array[f32], expected array[i32]");
    assert_int_equal(gguf_get_arr(file, "general.name", GGUF_TYPE_STRING, &arr, &err),
                     PYAGENT_ERR_BAD_MODEL);
    assert_string_equal(err.msg, "key 'general.name' has type string, expected array[string]");
    assert_int_equal(gguf_get_u32(file, "tokenizer.ggml.tokens", &u, &err),
                     PYAGENT_ERR_BAD_MODEL);
    assert_contains(err.msg, "has type array[string], expected u32");
    gguf_close(file);
}

static void opens_a_vocabulary_only_file_without_tensors(void **state) {
    (void)state;
    char path[1024];
    gguf_file *file = NULL;
    pa_err err = {0};
    const gguf_kv *tokens = NULL;
    data_path(path, sizeof path, "ggml-vocab-llama-spm.gguf");
    assert_int_equal(gguf_open_file(path, false, &file, &err), PYAGENT_OK);
    assert_int_equal(gguf_n_tensors(file), 0);
    assert_null(gguf_tensor_at(file, 0));
    assert_null(gguf_find_tensor(file, "token_embd.weight"));
    assert_int_equal(gguf_get_arr(file, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, &err),
                     PYAGENT_OK);
    assert_int_equal(tokens->v.arr.count, 32000);
    bool add_bos = false;
    assert_int_equal(gguf_get_bool_or(file, "tokenizer.ggml.add_bos_token", false, &add_bos,
                                      &err), PYAGENT_OK);
    assert_true(add_bos);
    gguf_close(file);
}

/* ---------------------------------------------------------------------------------------------
 * Well-formed synthetic files
 * ------------------------------------------------------------------------------------------- */

static void accepts_version_2(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 2, 0, 1);
    put_kv_u32(&b, "a", 1);
    gguf_file *file = open_built_ok(&b);
    assert_int_equal(gguf_version(file), 2);
    assert_int_equal(gguf_n_kv(file), 1);
    gguf_close(file);
    free(b.bytes);
}

static void widens_every_scalar_value_type(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 0, 12);
    put_key(&b, "u8", GGUF_TYPE_U8); put_u8(&b, 200);
    put_key(&b, "i8", GGUF_TYPE_I8); put_u8(&b, 0xFF);
    put_key(&b, "u16", GGUF_TYPE_U16); put_bytes(&b, &(uint16_t){65535}, 2);
    put_key(&b, "i16", GGUF_TYPE_I16); put_bytes(&b, &(int16_t){-300}, 2);
    put_key(&b, "u32", GGUF_TYPE_U32); put_u32(&b, 4000000000u);
    put_key(&b, "i32", GGUF_TYPE_I32); put_bytes(&b, &(int32_t){-70000}, 4);
    put_key(&b, "u64", GGUF_TYPE_U64); put_u64(&b, UINT64_MAX);
    put_key(&b, "i64", GGUF_TYPE_I64); put_bytes(&b, &(int64_t){INT64_MIN}, 8);
    put_key(&b, "f32", GGUF_TYPE_F32); put_f32(&b, 0.5f);
    put_key(&b, "f64", GGUF_TYPE_F64); put_f64(&b, -2.25);
    put_key(&b, "bool", GGUF_TYPE_BOOL); put_u8(&b, 1);
    put_kv_str(&b, "empty", "");
    gguf_file *file = open_built_ok(&b);
    assert_int_equal(gguf_find_kv(file, "u8")->v.u64, 200);
    assert_int_equal(gguf_find_kv(file, "i8")->v.i64, -1);
    assert_int_equal(gguf_find_kv(file, "u16")->v.u64, 65535);
    assert_int_equal(gguf_find_kv(file, "i16")->v.i64, -300);
    assert_int_equal(gguf_find_kv(file, "u32")->v.u64, 4000000000u);
    assert_int_equal(gguf_find_kv(file, "i32")->v.i64, -70000);
    assert_true(gguf_find_kv(file, "u64")->v.u64 == UINT64_MAX);
    assert_true(gguf_find_kv(file, "i64")->v.i64 == INT64_MIN);
    assert_true(gguf_find_kv(file, "f32")->v.f64 == 0.5);
    assert_true(gguf_find_kv(file, "f64")->v.f64 == -2.25);
    assert_int_equal(gguf_find_kv(file, "bool")->v.u64, 1);
    assert_int_equal(gguf_find_kv(file, "empty")->v.str.len, 0);
    assert_true(gguf_str_eq(gguf_find_kv(file, "empty")->v.str, ""));
    gguf_close(file);
    free(b.bytes);
}

static void u32_getter_accepts_any_integer_type_whose_value_fits(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 0, 6);
    put_key(&b, "u8", GGUF_TYPE_U8); put_u8(&b, 7);
    put_key(&b, "i64", GGUF_TYPE_I64); put_bytes(&b, &(int64_t){4294967295}, 8);
    put_key(&b, "u64", GGUF_TYPE_U64); put_u64(&b, 1ull << 32);
    put_key(&b, "i32", GGUF_TYPE_I32); put_bytes(&b, &(int32_t){-1}, 4);
    put_key(&b, "f32", GGUF_TYPE_F32); put_f32(&b, 1.0f);
    put_key(&b, "f64", GGUF_TYPE_F64); put_f64(&b, 1e300);
    gguf_file *file = open_built_ok(&b);
    pa_err err = {0};
    uint32_t u = 0;
    float f = 0;
    assert_int_equal(gguf_get_u32(file, "u8", &u, &err), PYAGENT_OK);
    assert_int_equal(u, 7);
    assert_int_equal(gguf_get_u32(file, "i64", &u, &err), PYAGENT_OK);
    assert_int_equal(u, 4294967295u);
    assert_int_equal(gguf_get_u32(file, "u64", &u, &err), PYAGENT_ERR_BAD_MODEL);
    assert_string_equal(err.msg, "key 'u64' = 4294967296 does not fit u32");
    assert_int_equal(gguf_get_u32(file, "i32", &u, &err), PYAGENT_ERR_BAD_MODEL);
    assert_string_equal(err.msg, "key 'i32' = -1 does not fit u32");
    assert_int_equal(gguf_get_u32(file, "f32", &u, &err), PYAGENT_ERR_BAD_MODEL);
    assert_string_equal(err.msg, "key 'f32' has type f32, expected u32");
    /* f32 accepts f64 when it fits */
    assert_int_equal(gguf_get_f32_or(file, "f64", 0, &f, &err), PYAGENT_ERR_BAD_MODEL);
    assert_contains(err.msg, "key 'f64' = 1e+300 does not fit f32");
    gguf_close(file);
    free(b.bytes);
}

static void keeps_nested_arrays_raw(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 0, 2);
    put_key(&b, "nested", GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_ARRAY); put_u64(&b, 2);
    put_u32(&b, GGUF_TYPE_STRING); put_u64(&b, 2); put_str(&b, "ab"); put_str(&b, "c");
    put_u32(&b, GGUF_TYPE_U16); put_u64(&b, 3); put_zeros(&b, 6);
    put_key(&b, "f64s", GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_F64); put_u64(&b, 2); put_f64(&b, 1.5); put_f64(&b, 2.5);
    gguf_file *file = open_built_ok(&b);
    pa_err err = {0};
    const gguf_kv *nested = NULL, *f64s = NULL;
    assert_int_equal(gguf_get_arr(file, "nested", GGUF_TYPE_ARRAY, &nested, &err), PYAGENT_OK);
    assert_int_equal(nested->v.arr.count, 2);
    assert_null(nested->v.arr.strings);
    assert_non_null(nested->v.arr.data);
    assert_int_equal(gguf_get_arr(file, "f64s", GGUF_TYPE_F64, &f64s, &err), PYAGENT_OK);
    double second;
    memcpy(&second, (const uint8_t *)f64s->v.arr.data + 8, 8);
    assert_true(second == 2.5);
    gguf_close(file);
    free(b.bytes);
}

static void honours_general_alignment(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 2, 1);
    put_kv_u32(&b, "general.alignment", 64);
    put_tensor(&b, "a", 1, (uint64_t[]){4}, GGUF_TENSOR_F32, 0);
    put_tensor(&b, "b", 1, (uint64_t[]){8}, GGUF_TENSOR_F16, 64);
    put_padding(&b, 64);
    const size_t data_start = b.len;
    put_zeros(&b, 64 + 16);
    gguf_file *file = open_built_ok(&b);
    assert_int_equal(gguf_alignment(file), 64);
    assert_ptr_equal(gguf_find_tensor(file, "a")->data, b.bytes + data_start);
    assert_ptr_equal(gguf_find_tensor(file, "b")->data, b.bytes + data_start + 64);
    assert_int_equal(gguf_find_tensor(file, "b")->n_bytes, 16);
    gguf_close(file);
    free(b.bytes);
}

static void sizes_block_types_in_whole_blocks(void **state) {
    (void)state;
    builder b = {0};
    build_one_tensor(&b, 3, (uint64_t[]){64, 2, 3}, GGUF_TENSOR_Q8_0, 0, 6 * 2 * 34);
    gguf_file *file = open_built_ok(&b);
    const gguf_tensor *t = gguf_find_tensor(file, "w");
    assert_int_equal(t->n_dims, 3);
    assert_int_equal(t->ne[2], 3);
    assert_int_equal(t->ne[3], 1);
    assert_int_equal(t->n_bytes, 6 * 2 * 34);
    gguf_close(file);
    free(b.bytes);

    assert_int_equal(gguf_tensor_type_bytes(GGUF_TENSOR_F32, 10), 40);
    assert_int_equal(gguf_tensor_type_bytes(GGUF_TENSOR_F16, 10), 20);
    assert_int_equal(gguf_tensor_type_bytes(GGUF_TENSOR_BF16, 10), 20);
    assert_int_equal(gguf_tensor_type_bytes(GGUF_TENSOR_Q8_0, 64), 68);
    assert_int_equal(gguf_tensor_type_bytes(2, 32), 18);    /* q4_0 */
    assert_int_equal(gguf_tensor_type_bytes(12, 512), 288); /* q4_K */
    assert_int_equal(gguf_tensor_type_bytes(14, 256), 210); /* q6_K */
    assert_int_equal(gguf_tensor_type_bytes(28, 3), 24);    /* f64 */
    assert_int_equal(gguf_tensor_type_bytes(GGUF_TENSOR_Q8_0, 33), 0);
    assert_int_equal(gguf_tensor_type_bytes(4, 32), 0);     /* removed q4_2 */
    assert_int_equal(gguf_tensor_type_bytes(200, 1), 0);
    assert_int_equal(gguf_tensor_type_bytes(GGUF_TENSOR_F32, UINT64_MAX / 2), 0);
    assert_string_equal(gguf_tensor_type_name(GGUF_TENSOR_Q8_0), "q8_0");
    assert_string_equal(gguf_tensor_type_name(GGUF_TENSOR_BF16), "bf16");
    assert_string_equal(gguf_tensor_type_name(11), "q3_K");
    assert_string_equal(gguf_tensor_type_name(5), "unknown");
    assert_string_equal(gguf_tensor_type_name(1000), "unknown");
}

static void accepts_a_dimension_of_zero(void **state) {
    (void)state;
    builder b = {0};
    build_one_tensor(&b, 2, (uint64_t[]){0, 5}, GGUF_TENSOR_F32, 0, 0);
    gguf_file *file = open_built_ok(&b);
    assert_int_equal(gguf_find_tensor(file, "w")->n_bytes, 0);
    gguf_close(file);
    free(b.bytes);
}

/* ---------------------------------------------------------------------------------------------
 * Files that are not there or not files
 * ------------------------------------------------------------------------------------------- */

static void rejects_a_missing_file(void **state) {
    (void)state;
    gguf_file *file = NULL;
    pa_err err = {0};
    assert_int_equal(gguf_open_file("/nonexistent/model.gguf", false, &file, &err), PYAGENT_ERR_IO);
    assert_null(file);
    assert_string_equal(err.msg, "/nonexistent/model.gguf: cannot open: No such file or directory");
}

static void rejects_a_directory(void **state) {
    (void)state;
    char dir[1024];
    gguf_file *file = NULL;
    pa_err err = {0};
    data_path(dir, sizeof dir, "");
    assert_int_equal(gguf_open_file(dir, false, &file, &err), PYAGENT_ERR_IO);
    assert_null(file);
    assert_starts_with(err.msg, dir);
    assert_contains(err.msg, "Is a directory");
}

static void rejects_an_empty_file(void **state) {
    (void)state;
    char path[32];
    gguf_file *file = NULL;
    pa_err err = {0};
    write_temp_file(path, "", 0);
    assert_int_equal(gguf_open_file(path, false, &file, &err), PYAGENT_ERR_BAD_MODEL);
    unlink(path);
    assert_null(file);
    assert_starts_with(err.msg, path);
    assert_contains(err.msg, "file is empty");

    assert_int_equal(gguf_open_memory(NULL, 0, "empty.gguf", &file, &err), PYAGENT_ERR_BAD_MODEL);
    assert_string_equal(err.msg, "empty.gguf: file is empty");
    assert_int_equal(gguf_open_memory(NULL, 1, "null.gguf", &file, &err),
                     PYAGENT_ERR_INVALID_ARGUMENT);
}

/* ---------------------------------------------------------------------------------------------
 * Truncation of the real file
 * ------------------------------------------------------------------------------------------- */

/* Opens the first `len` bytes of `bytes` from an allocation of exactly `len` bytes. */
static void expect_truncated_rejected(const uint8_t *bytes, size_t len) {
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len) memcpy(copy, bytes, len);
    gguf_file *file = NULL;
    pa_err err = {0};
    const pyagent_status status = gguf_open_memory(copy, len, "stories260K.gguf", &file, &err);
    if (status != PYAGENT_ERR_BAD_MODEL) {
        fail_msg("truncated at %zu: status %d (%s)", len, status, err.msg);
    }
    assert_null(file);
    assert_starts_with(err.msg, "stories260K.gguf: ");
    assert_contains(err.msg, len ? "past end of file" : "file is empty");
    free(copy);
}

/* Where the data section starts and where the last tensor ends, from the intact file. */
static void find_data_bounds(const uint8_t *bytes, size_t size, size_t *start, size_t *end) {
    gguf_file *file = NULL;
    pa_err err = {0};
    assert_int_equal(gguf_open_memory(bytes, size, "stories260K.gguf", &file, &err), PYAGENT_OK);
    *start = size;
    *end = 0;
    for (size_t i = 0; i < gguf_n_tensors(file); i++) {
        const gguf_tensor *t = gguf_tensor_at(file, i);
        const size_t at = (size_t)((const uint8_t *)t->data - bytes);
        if (at - t->offset < *start) *start = at - t->offset;
        if (at + t->n_bytes > *end) *end = at + t->n_bytes;
    }
    gguf_close(file);
}

static void rejects_truncation_at_every_offset_of_the_header(void **state) {
    (void)state;
    size_t size, data_start, data_end;
    uint8_t *bytes = read_data_file("stories260K.gguf", &size);
    find_data_bounds(bytes, size, &data_start, &data_end);
    assert_int_equal(data_start, 14176);
    for (size_t len = 0; len <= data_start; len++) expect_truncated_rejected(bytes, len);
    free(bytes);
}

static void rejects_truncation_inside_the_tensor_data(void **state) {
    (void)state;
    size_t size, data_start, data_end;
    uint8_t *bytes = read_data_file("stories260K.gguf", &size);
    find_data_bounds(bytes, size, &data_start, &data_end);
    assert_int_equal(data_end, size);
    for (size_t len = data_start + 1; len < data_end; len += 4099) {
        expect_truncated_rejected(bytes, len);
    }
    expect_truncated_rejected(bytes, data_end - 1);
    free(bytes);
}

static void rejects_a_truncated_file_on_disk(void **state) {
    (void)state;
    size_t size;
    uint8_t *bytes = read_data_file("stories260K.gguf", &size);
    const size_t lengths[] = {1, 23, 100, 14000, 14176, 200000, size - 1};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        char path[32];
        gguf_file *file = NULL;
        pa_err err = {0};
        write_temp_file(path, bytes, lengths[i]);
        for (int huge_pages = 0; huge_pages <= 1; huge_pages++) { /* mapped, then copied */
            assert_int_equal(gguf_open_file(path, huge_pages, &file, &err),
                             PYAGENT_ERR_BAD_MODEL);
            assert_null(file);
            assert_starts_with(err.msg, path);
            assert_contains(err.msg, "past end of file");
        }
        unlink(path);
    }
    free(bytes);
}

/* huge_pages reads the file into a private copy: the same keys, and every tensor's bytes equal
 * to the mapping's, at an address of its own */
static void a_huge_page_copy_holds_the_mapped_bytes(void **state) {
    (void)state;
    char path[1024];
    gguf_file *mapped = open_stories(), *copied = NULL;
    pa_err err = {0};
    data_path(path, sizeof path, "stories260K.gguf");
    assert_int_equal(gguf_open_file(path, true, &copied, &err), PYAGENT_OK);
    assert_int_equal(gguf_n_kv(copied), gguf_n_kv(mapped));
    assert_int_equal(gguf_n_tensors(copied), gguf_n_tensors(mapped));
    for (size_t i = 0; i < gguf_n_tensors(mapped); i++) {
        const gguf_tensor *a = gguf_tensor_at(mapped, i), *b = gguf_tensor_at(copied, i);
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->n_bytes, b->n_bytes);
        assert_ptr_not_equal(a->data, b->data);
        assert_memory_equal(a->data, b->data, a->n_bytes);
    }
    gguf_close(copied);
    gguf_close(mapped);
}

static void names_the_tensor_whose_data_is_cut_off(void **state) {
    (void)state;
    size_t size;
    uint8_t *bytes = read_data_file("stories260K.gguf", &size);
    gguf_file *file = NULL;
    pa_err err = {0};
    /* token_embd.weight is the first tensor: [64, 512] f32 at the data start 14176 */
    assert_int_equal(gguf_open_memory(bytes, 20000, "stories260K.gguf", &file, &err),
                     PYAGENT_ERR_BAD_MODEL);
    assert_string_equal(err.msg, "stories260K.gguf: tensor 'token_embd.weight': data past end of "
                                 "file (offset 14176 + 131072 > 20000)");
    /* with no message buffer the status still comes back */
    assert_int_equal(gguf_open_memory(bytes, 20000, "stories260K.gguf", &file, NULL),
                     PYAGENT_ERR_BAD_MODEL);
    assert_null(file);
    free(bytes);
}

/* ---------------------------------------------------------------------------------------------
 * Malformed headers and metadata
 * ------------------------------------------------------------------------------------------- */

static void rejects_wrong_magic(void **state) {
    (void)state;
    builder b = {0};
    put_bytes(&b, "GGML", 4);
    put_u32(&b, 3); put_u64(&b, 0); put_u64(&b, 0);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL, "not a GGUF file (magic 0x4c4d4747)");
}

static void rejects_unsupported_versions(void **state) {
    (void)state;
    const uint32_t versions[] = {0, 1, 4, 0x03000000};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        builder b = {0};
        char expected[64];
        put_header(&b, versions[i], 0, 0);
        snprintf(expected, sizeof expected, "unsupported GGUF version %u", versions[i]);
        expect_failure(&b, PYAGENT_ERR_UNSUPPORTED, expected);
    }
}

static void rejects_a_header_cut_before_the_counts(void **state) {
    (void)state;
    builder b = {0};
    put_bytes(&b, "GGUF", 4);
    put_u32(&b, 3); put_u32(&b, 0);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL,
                   "n_tensors at offset 8 runs past end of file (needs 8 bytes, 4 left)");
}

static void rejects_absurd_key_count(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 0, 1ull << 60);
    put_kv_u32(&b, "a", 1);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL, "n_kv 1152921504606846976 runs past end of file");
}

static void rejects_absurd_tensor_count(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 1ull << 60, 0);
    put_tensor(&b, "w", 1, (uint64_t[]){1}, GGUF_TENSOR_F32, 0);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL,
                   "n_tensors 1152921504606846976 runs past end of file");
}

static void rejects_huge_key_length(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 0, 1);
    put_u64(&b, 1ull << 62); put_bytes(&b, "abcdefghijklmnop", 16);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL,
                   "key 0: name at offset 32 runs past end of file (needs 4611686018427387904 "
                   "bytes, 16 left)");
}

static void rejects_huge_string_value_length(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 0, 1);
    put_key(&b, "general.name", GGUF_TYPE_STRING);
    put_u64(&b, UINT64_MAX); put_bytes(&b, "llama", 5);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL, "key 'general.name': value at offset");
}

static void rejects_huge_array_counts(void **state) {
    (void)state;
    const uint32_t elem_types[] = {GGUF_TYPE_U32, GGUF_TYPE_STRING, GGUF_TYPE_ARRAY,
                                   GGUF_TYPE_U8};
    for (size_t i = 0; i < sizeof elem_types / sizeof elem_types[0]; i++) {
        builder b = {0};
        put_header(&b, 3, 0, 1);
        put_key(&b, "tokenizer.ggml.tokens", GGUF_TYPE_ARRAY);
        put_u32(&b, elem_types[i]); put_u64(&b, 1ull << 60); put_zeros(&b, 64);
        expect_failure(&b, PYAGENT_ERR_BAD_MODEL,
                       "key 'tokenizer.ggml.tokens': array count 1152921504606846976 runs past "
                       "end of file");
    }
}

static void rejects_huge_count_inside_a_nested_array(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 0, 1);
    put_key(&b, "nested", GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_ARRAY); put_u64(&b, 1);
    put_u32(&b, GGUF_TYPE_STRING); put_u64(&b, UINT64_MAX);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL,
                   "key 'nested': array count 18446744073709551615 runs past end of file");
}

static void rejects_unknown_value_type(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 0, 1);
    put_key(&b, "a", 13); put_u32(&b, 0);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL, "key 'a': unknown value type 13");
}

static void rejects_unknown_array_element_type(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 0, 1);
    put_key(&b, "a", GGUF_TYPE_ARRAY); put_u32(&b, 99); put_u64(&b, 0);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL, "key 'a': unknown array element type 99");
}

static void rejects_a_bool_other_than_0_or_1(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 0, 1);
    put_key(&b, "tokenizer.ggml.add_bos_token", GGUF_TYPE_BOOL); put_u8(&b, 2);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL,
                   "key 'tokenizer.ggml.add_bos_token': bool value 2 is not 0 or 1");
}

static void rejects_arrays_nested_too_deep(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 0, 1);
    put_key(&b, "deep", GGUF_TYPE_ARRAY);
    for (int depth = 0; depth < 100; depth++) {
        put_u32(&b, GGUF_TYPE_ARRAY);
        put_u64(&b, 1);
    }
    put_u32(&b, GGUF_TYPE_U8); put_u64(&b, 0);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL, "key 'deep': arrays nested deeper than 16");
}

static void rejects_bad_key_names(void **state) {
    (void)state;
    const struct { const char *bytes; size_t len; const char *message; } cases[] = {
        {"", 0, "key 0: empty name"},
        {"a\0b", 3, "key 0: name contains a NUL byte"},
        {"a\xff", 2, "key 0: name is not valid UTF-8"},
        {"\xc0\xaf", 2, "key 0: name is not valid UTF-8"},     /* overlong '/' */
        {"\xed\xa0\x80", 3, "key 0: name is not valid UTF-8"}, /* surrogate */
        {"\xe2\x96", 2, "key 0: name is not valid UTF-8"},     /* cut short */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        builder b = {0};
        put_header(&b, 3, 0, 1);
        put_strn(&b, cases[i].bytes, cases[i].len);
        put_u32(&b, GGUF_TYPE_U8); put_u8(&b, 0);
        expect_failure(&b, PYAGENT_ERR_BAD_MODEL, cases[i].message);
    }
}

static void accepts_utf8_key_names(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 0, 1);
    put_kv_u32(&b, "\xe2\x96\x81key.\xf0\x9f\x98\x80", 1); /* U+2581, U+1F600 */
    gguf_file *file = open_built_ok(&b);
    assert_non_null(gguf_find_kv(file, "\xe2\x96\x81key.\xf0\x9f\x98\x80"));
    gguf_close(file);
    free(b.bytes);
}

static void rejects_duplicate_key(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 0, 3);
    put_kv_u32(&b, "llama.block_count", 5);
    put_kv_str(&b, "general.name", "x");
    put_kv_u32(&b, "llama.block_count", 6);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL, "duplicate key 'llama.block_count'");
}

static void rejects_bad_alignment(void **state) {
    (void)state;
    const uint32_t alignments[] = {0, 3, 48, 0x80000001u};
    for (size_t i = 0; i < sizeof alignments / sizeof alignments[0]; i++) {
        builder b = {0};
        char expected[96];
        put_header(&b, 3, 0, 1);
        put_kv_u32(&b, "general.alignment", alignments[i]);
        snprintf(expected, sizeof expected, "key 'general.alignment' = %u is not a power of two",
                 alignments[i]);
        expect_failure(&b, PYAGENT_ERR_BAD_MODEL, expected);
    }
    builder b = {0};
    put_header(&b, 3, 0, 1);
    put_key(&b, "general.alignment", GGUF_TYPE_U64); put_u64(&b, 32);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL,
                   "key 'general.alignment' has type u64, expected u32");
}

/* ---------------------------------------------------------------------------------------------
 * Malformed tensor infos
 * ------------------------------------------------------------------------------------------- */

static void rejects_zero_and_five_dimensions(void **state) {
    (void)state;
    builder zero = {0};
    build_one_tensor(&zero, 0, NULL, GGUF_TENSOR_F32, 0, 32);
    expect_failure(&zero, PYAGENT_ERR_BAD_MODEL, "tensor 'w': n_dims 0 is not in 1..4");
    builder five = {0};
    build_one_tensor(&five, 5, (uint64_t[]){1, 1, 1, 1, 1}, GGUF_TENSOR_F32, 0, 32);
    expect_failure(&five, PYAGENT_ERR_BAD_MODEL, "tensor 'w': n_dims 5 is not in 1..4");
}

static void rejects_a_negative_dimension(void **state) {
    (void)state;
    builder b = {0};
    build_one_tensor(&b, 2, (uint64_t[]){4, (uint64_t)-3}, GGUF_TENSOR_F32, 0, 32);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL, "tensor 'w': ne[1] = -3 is negative");
}

static void rejects_element_count_overflow(void **state) {
    (void)state;
    builder b = {0};
    build_one_tensor(&b, 3, (uint64_t[]){1ull << 32, 1ull << 31, 2}, GGUF_TENSOR_F32, 0, 32);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL,
                   "tensor 'w': element count overflows (ne = [4294967296, 2147483648, 2, 1])");
}

static void rejects_byte_size_overflow(void **state) {
    (void)state;
    builder b = {0};
    build_one_tensor(&b, 2, (uint64_t[]){1ull << 61, 2}, 28 /* f64 */, 0, 32);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL,
                   "tensor 'w': byte size of 4611686018427387904 f64 elements overflows");
}

static void rejects_tensor_past_end_of_file(void **state) {
    (void)state;
    builder b = {0};
    build_one_tensor(&b, 1, (uint64_t[]){16}, GGUF_TENSOR_F32, 0, 32); /* needs 64 */
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL,
                   "tensor 'w': data past end of file (offset 64 + 64 > 96)");
}

static void rejects_tensor_offset_that_wraps_around(void **state) {
    (void)state;
    builder b = {0};
    build_one_tensor(&b, 1, (uint64_t[]){8}, GGUF_TENSOR_F32, UINT64_MAX - 31, 32);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL,
                   "tensor 'w': data offset 18446744073709551584 is past end of file (96 bytes)");
}

static void rejects_unaligned_tensor_offset(void **state) {
    (void)state;
    builder b = {0};
    build_one_tensor(&b, 1, (uint64_t[]){4}, GGUF_TENSOR_F32, 16, 64);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL,
                   "tensor 'w': offset 16 is not a multiple of the alignment 32");
}

static void rejects_unknown_tensor_type(void **state) {
    (void)state;
    builder b = {0};
    build_one_tensor(&b, 1, (uint64_t[]){4}, 200, 0, 32);
    expect_failure(&b, PYAGENT_ERR_UNSUPPORTED, "tensor 'w': unknown type 200");
}

static void rejects_rows_that_are_not_whole_blocks(void **state) {
    (void)state;
    builder b = {0};
    build_one_tensor(&b, 2, (uint64_t[]){16, 2}, GGUF_TENSOR_Q8_0, 0, 64);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL,
                   "tensor 'w': ne[0] = 16 is not a multiple of the q8_0 block size 32");
}

static void rejects_duplicate_tensor_name(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 3, 0);
    put_tensor(&b, "blk.0.attn_q.weight", 1, (uint64_t[]){8}, GGUF_TENSOR_F32, 0);
    put_tensor(&b, "output.weight", 1, (uint64_t[]){8}, GGUF_TENSOR_F32, 32);
    put_tensor(&b, "blk.0.attn_q.weight", 1, (uint64_t[]){8}, GGUF_TENSOR_F32, 64);
    put_padding(&b, 32);
    put_zeros(&b, 96);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL, "duplicate tensor name 'blk.0.attn_q.weight'");
}

static void rejects_an_empty_tensor_name(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 1, 0);
    put_tensor(&b, "", 1, (uint64_t[]){8}, GGUF_TENSOR_F32, 0);
    put_padding(&b, 32);
    put_zeros(&b, 32);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL, "tensor 0: empty name");
}

static void rejects_a_tensor_info_cut_short(void **state) {
    (void)state;
    builder b = {0};
    put_header(&b, 3, 1, 0);
    put_str(&b, "blk.3.attn_q.weight");
    put_u32(&b, 2); put_u64(&b, 64); put_zeros(&b, 20);
    expect_failure(&b, PYAGENT_ERR_BAD_MODEL, "tensor 'blk.3.attn_q.weight': ");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(opens_stories260K_with_19_keys_and_48_tensors),
        cmocka_unit_test(reads_llama_hyperparameters),
        cmocka_unit_test(describes_token_embd_as_f32_64_by_512),
        cmocka_unit_test(places_every_tensor_inside_the_file_at_an_aligned_offset),
        cmocka_unit_test(reads_the_vocabulary_arrays),
        cmocka_unit_test(finds_keys_and_tensors_by_index_and_name),
        cmocka_unit_test(or_getters_return_the_fallback_for_an_absent_key),
        cmocka_unit_test(getters_report_a_missing_key),
        cmocka_unit_test(getters_reject_a_present_key_of_the_wrong_type),
        cmocka_unit_test(opens_a_vocabulary_only_file_without_tensors),
        cmocka_unit_test(accepts_version_2),
        cmocka_unit_test(widens_every_scalar_value_type),
        cmocka_unit_test(u32_getter_accepts_any_integer_type_whose_value_fits),
        cmocka_unit_test(keeps_nested_arrays_raw),
        cmocka_unit_test(honours_general_alignment),
        cmocka_unit_test(sizes_block_types_in_whole_blocks),
        cmocka_unit_test(accepts_a_dimension_of_zero),
        cmocka_unit_test(accepts_utf8_key_names),
        cmocka_unit_test(rejects_a_missing_file),
        cmocka_unit_test(rejects_a_directory),
        cmocka_unit_test(rejects_an_empty_file),
        cmocka_unit_test(rejects_truncation_at_every_offset_of_the_header),
        cmocka_unit_test(rejects_truncation_inside_the_tensor_data),
        cmocka_unit_test(rejects_a_truncated_file_on_disk),
        cmocka_unit_test(a_huge_page_copy_holds_the_mapped_bytes),
        cmocka_unit_test(names_the_tensor_whose_data_is_cut_off),
        cmocka_unit_test(rejects_wrong_magic),
        cmocka_unit_test(rejects_unsupported_versions),
        cmocka_unit_test(rejects_a_header_cut_before_the_counts),
        cmocka_unit_test(rejects_absurd_key_count),
        cmocka_unit_test(rejects_absurd_tensor_count),
        cmocka_unit_test(rejects_huge_key_length),
        cmocka_unit_test(rejects_huge_string_value_length),
        cmocka_unit_test(rejects_huge_array_counts),
        cmocka_unit_test(rejects_huge_count_inside_a_nested_array),
        cmocka_unit_test(rejects_unknown_value_type),
        cmocka_unit_test(rejects_unknown_array_element_type),
        cmocka_unit_test(rejects_a_bool_other_than_0_or_1),
        cmocka_unit_test(rejects_arrays_nested_too_deep),
        cmocka_unit_test(rejects_bad_key_names),
        cmocka_unit_test(rejects_duplicate_key),
        cmocka_unit_test(rejects_bad_alignment),
        cmocka_unit_test(rejects_zero_and_five_dimensions),
        cmocka_unit_test(rejects_a_negative_dimension),
        cmocka_unit_test(rejects_element_count_overflow),
        cmocka_unit_test(rejects_byte_size_overflow),
        cmocka_unit_test(rejects_tensor_past_end_of_file),
        cmocka_unit_test(rejects_tensor_offset_that_wraps_around),
        cmocka_unit_test(rejects_unaligned_tensor_offset),
        cmocka_unit_test(rejects_unknown_tensor_type),
        cmocka_unit_test(rejects_rows_that_are_not_whole_blocks),
        cmocka_unit_test(rejects_duplicate_tensor_name),
        cmocka_unit_test(rejects_an_empty_tensor_name),
        cmocka_unit_test(rejects_a_tensor_info_cut_short),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
