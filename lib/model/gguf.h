/*
 * GGUF v3 reader (llama.cpp's model format), over mmap or a caller's buffer.
 *
 * The whole header (metadata and tensor infos) is parsed and validated when the file is
 * opened: every count, string length, array length, dimension and tensor offset is checked
 * against the bytes that are really there, so the accessors below can trust what they return.
 * Strings and tensor data point into the mapping: they live as long as the gguf_file.
 * A gguf_file is immutable after open and may be read from many threads.
 */
#ifndef PA_MODEL_GGUF_H
#define PA_MODEL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

/* Metadata value types, as stored in the file. */
enum gguf_value_type {
    GGUF_TYPE_U8 = 0, GGUF_TYPE_I8 = 1, GGUF_TYPE_U16 = 2, GGUF_TYPE_I16 = 3,
    GGUF_TYPE_U32 = 4, GGUF_TYPE_I32 = 5, GGUF_TYPE_F32 = 6, GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8, GGUF_TYPE_ARRAY = 9, GGUF_TYPE_U64 = 10, GGUF_TYPE_I64 = 11,
    GGUF_TYPE_F64 = 12,
};

/* Tensor types (ggml_type numbers). Only those the engine computes with are named. */
enum gguf_tensor_type {
    GGUF_TENSOR_F32 = 0,
    GGUF_TENSOR_F16 = 1,
    GGUF_TENSOR_Q4_0 = 2,
    GGUF_TENSOR_Q8_0 = 8,
    GGUF_TENSOR_Q4_K = 12,
    GGUF_TENSOR_BF16 = 30,
};

#define GGUF_MAX_DIMS 4
#define GGUF_Q8_0_BLOCK 32 /* Q8_0: blocks of 32 int8 with one f16 scale (34 bytes) */

typedef struct gguf_str {
    const char *data; /* not NUL-terminated; points into the file */
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    gguf_str key;
    uint32_t type; /* gguf_value_type */
    union {
        uint64_t u64; /* every unsigned integer type and bool, widened */
        int64_t i64;  /* every signed integer type, widened */
        double f64;   /* f32 and f64, widened */
        gguf_str str;
        struct {
            uint32_t elem_type;     /* gguf_value_type of the elements */
            uint64_t count;
            const void *data;       /* raw little-endian elements (numeric arrays) */
            const gguf_str *strings; /* decoded elements (string arrays), else NULL */
        } arr;
    } v;
} gguf_kv;

typedef struct gguf_tensor {
    char *name;          /* NUL-terminated copy (owned by the gguf_file) */
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the contiguous dimension; unused dims are 1 */
    uint32_t type;       /* gguf_tensor_type */
    uint64_t offset;     /* relative to the start of the data section */
    const void *data;    /* start of its bytes in the mapping */
    uint64_t n_bytes;
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Opens and validates `path`: maps it, or with `huge_pages` reads it into 2 MiB pages (a
 * private copy, faster to stream; see core/pages.h). On failure returns the status, *out = NULL
 * and `err` holds a message that names the file and the problem. */
pyagent_status gguf_open_file(const char *path, bool huge_pages, gguf_file **out, pa_err *err);

/* Same over `size` bytes at `data` (not copied: they must outlive the gguf_file). `name` is
 * used in messages. */
pyagent_status gguf_open_memory(const void *data, size_t size, const char *name,
                                gguf_file **out, pa_err *err);

void gguf_close(gguf_file *file);

uint32_t gguf_version(const gguf_file *file);
uint32_t gguf_alignment(const gguf_file *file);
size_t gguf_n_kv(const gguf_file *file);
const gguf_kv *gguf_kv_at(const gguf_file *file, size_t i);
const gguf_kv *gguf_find_kv(const gguf_file *file, const char *key); /* NULL if absent */
size_t gguf_n_tensors(const gguf_file *file);
const gguf_tensor *gguf_tensor_at(const gguf_file *file, size_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *file, const char *name); /* NULL if absent */

/* Typed getters. Absent key: PYAGENT_ERR_BAD_MODEL "missing key 'x'" unless a default is
 * given through the *_or variants (which only fail on a present key of the wrong type).
 * Integer getters accept any integer type whose value fits; f32 accepts f32 and f64. */
pyagent_status gguf_get_u32(const gguf_file *file, const char *key, uint32_t *out, pa_err *err);
pyagent_status gguf_get_u32_or(const gguf_file *file, const char *key, uint32_t fallback,
                               uint32_t *out, pa_err *err);
pyagent_status gguf_get_f32_or(const gguf_file *file, const char *key, float fallback,
                               float *out, pa_err *err);
pyagent_status gguf_get_bool_or(const gguf_file *file, const char *key, bool fallback,
                                bool *out, pa_err *err);
pyagent_status gguf_get_str(const gguf_file *file, const char *key, gguf_str *out, pa_err *err);
/* An array whose elements are of `elem_type`; absent = BAD_MODEL "missing key". */
pyagent_status gguf_get_arr(const gguf_file *file, const char *key, uint32_t elem_type,
                            const gguf_kv **out, pa_err *err);

/* Bytes taken by `n` elements of tensor type `type` (n must be a multiple of the block size
 * for block types); 0 for a type this reader does not know. */
uint64_t gguf_tensor_type_bytes(uint32_t type, uint64_t n);
const char *gguf_tensor_type_name(uint32_t type); /* "f32", "q8_0", ..., "unknown" */

/* True when s equals the NUL-terminated c string. */
bool gguf_str_eq(gguf_str s, const char *c);

#endif
