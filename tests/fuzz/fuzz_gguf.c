/*
 * libFuzzer target for the GGUF reader: any bytes must either fail cleanly or open into a
 * gguf_file whose every key, value, string and tensor can be read without leaving the buffer.
 * Touching every byte that a pointer claims lets AddressSanitizer check the reader's promise.
 *
 *     clang -g -fsanitize=fuzzer,address,undefined -Iinclude -Ilib lib/core/error.c \
 *         lib/model/gguf.c tests/fuzz/fuzz_gguf.c -o fuzz_gguf
 *     ./fuzz_gguf -max_total_time=120 corpus_copy/ tests/fuzz/corpus_gguf/
 */
#include <stdint.h>
#include <string.h>

#include "model/gguf.h"

/* Sums bytes so the reads cannot be optimised away. */
static volatile uint8_t sink;

static void touch(const void *data, uint64_t len) {
    const uint8_t *bytes = data;
    uint8_t sum = 0;
    for (uint64_t i = 0; i < len; i++) sum ^= bytes[i];
    sink = sum;
}

static uint64_t scalar_bytes(uint32_t type) {
    switch (type) {
    case GGUF_TYPE_U8: case GGUF_TYPE_I8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_U16: case GGUF_TYPE_I16: return 2;
    case GGUF_TYPE_U32: case GGUF_TYPE_I32: case GGUF_TYPE_F32: return 4;
    case GGUF_TYPE_U64: case GGUF_TYPE_I64: case GGUF_TYPE_F64: return 8;
    default: return 0;
    }
}

static void walk_kv(const gguf_file *file, const gguf_kv *kv) {
    char key[512];
    pa_err err;
    uint32_t u;
    float f;
    bool b;
    gguf_str s;
    const gguf_kv *arr;

    touch(kv->key.data, kv->key.len);
    if (kv->type == GGUF_TYPE_STRING) touch(kv->v.str.data, kv->v.str.len);
    if (kv->type == GGUF_TYPE_ARRAY) {
        if (kv->v.arr.strings) {
            for (uint64_t i = 0; i < kv->v.arr.count; i++) {
                touch(kv->v.arr.strings[i].data, kv->v.arr.strings[i].len);
            }
        } else {
            touch(kv->v.arr.data, kv->v.arr.count * scalar_bytes(kv->v.arr.elem_type));
        }
    }

    if (kv->key.len >= sizeof key) return; /* getters take NUL-terminated keys */
    memcpy(key, kv->key.data, kv->key.len);
    key[kv->key.len] = '\0';
    if (gguf_find_kv(file, key) != kv) __builtin_trap();
    gguf_get_u32(file, key, &u, &err);
    gguf_get_u32_or(file, key, 1, &u, &err);
    gguf_get_f32_or(file, key, 1.0f, &f, &err);
    gguf_get_bool_or(file, key, true, &b, &err);
    if (gguf_get_str(file, key, &s, &err) == PYAGENT_OK) touch(s.data, s.len);
    for (uint32_t type = 0; type <= GGUF_TYPE_F64 + 1; type++) {
        if (gguf_get_arr(file, key, type, &arr, &err) == PYAGENT_OK && arr != kv) {
            __builtin_trap();
        }
    }
}

static void walk_tensor(const gguf_file *file, const gguf_tensor *t) {
    touch(t->name, strlen(t->name));
    if (gguf_find_tensor(file, t->name) != t) __builtin_trap();
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS) __builtin_trap();
    uint64_t n = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) n *= (uint64_t)t->ne[d];
    if (gguf_tensor_type_bytes(t->type, n) != t->n_bytes) __builtin_trap();
    if (t->n_bytes > 0) {
        const uint8_t *data = t->data;
        sink = data[0] ^ data[t->n_bytes - 1];
    }
    gguf_tensor_type_name(t->type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *file = NULL;
    pa_err err;
    if (gguf_open_memory(data, size, "fuzz.gguf", &file, &err) != PYAGENT_OK) {
        if (file || err.msg[0] == '\0' || !memchr(err.msg, '\0', sizeof err.msg)) {
            __builtin_trap();
        }
        return 0;
    }
    gguf_version(file);
    gguf_alignment(file);
    for (size_t i = 0; i < gguf_n_kv(file); i++) walk_kv(file, gguf_kv_at(file, i));
    for (size_t i = 0; i < gguf_n_tensors(file); i++) walk_tensor(file, gguf_tensor_at(file, i));
    /* keys and names no valid file holds: the absent-key paths */
    uint32_t u;
    float f;
    bool b;
    gguf_str s;
    const gguf_kv *arr;
    gguf_get_u32(file, "", &u, &err);
    gguf_get_u32_or(file, "", 1, &u, &err);
    gguf_get_f32_or(file, "", 1.0f, &f, &err);
    gguf_get_bool_or(file, "", true, &b, &err);
    gguf_get_str(file, "", &s, &err);
    gguf_get_arr(file, "", GGUF_TYPE_STRING, &arr, &err);
    if (gguf_find_tensor(file, "") || gguf_kv_at(file, gguf_n_kv(file)) ||
        gguf_tensor_at(file, gguf_n_tensors(file))) {
        __builtin_trap();
    }
    gguf_close(file);
    return 0;
}
