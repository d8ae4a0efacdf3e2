/*
 * GGUF reader.
 *
 * A GGUF file (v2 and v3 share this layout) is a header followed by a blob of tensor data:
 *
 *     u32 magic "GGUF", u32 version, u64 n_tensors, u64 n_kv
 *     n_kv      x { string key; u32 value_type; value }
 *     n_tensors x { string name; u32 n_dims; u64 ne[n_dims]; u32 ggml_type; u64 offset }
 *     padding up to a multiple of general.alignment (default 32)
 *     tensor data: tensor i occupies [data_start + offset_i, data_start + offset_i + n_bytes_i)
 *
 * A string is a u64 byte length followed by that many bytes (no NUL). An array value is
 * u32 elem_type, u64 count, then count elements; arrays may hold strings and other arrays.
 * Numbers are little-endian and, in a mapping, sit at any address: every number is read with
 * memcpy, never through a cast pointer.
 *
 * Invariant: the bytes are hostile until proven otherwise.
 *  - Every read goes through the parser's cursor, which checks the bytes are there first.
 *  - Every count read from the file is checked against the bytes left (count <= left /
 *    smallest element size) before anything is allocated from it or looped over, so memory
 *    and time stay proportional to the file size.
 *  - Every sum and product of file values is overflow-checked.
 * Once gguf_open_* returns PYAGENT_OK, every pointer and length in the gguf_file lies inside
 * the buffer, so the accessors below trust them without further checks.
 */
#define _POSIX_C_SOURCE 200809L

#include "gguf.h"

#include "../core/pages.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads little-endian numbers with memcpy: port it before using a big-endian host"
#endif

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian u32 */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_ARRAY_NESTING 16 /* bounds the recursion over arrays of arrays */
#define GGUF_MAX_SHOWN_NAME 128   /* longest key or tensor name quoted in a message */

typedef enum gguf_bytes_owner {
    BYTES_BORROWED, /* the caller's (gguf_open_memory) */
    BYTES_MAPPED,   /* a mapping of the file */
    BYTES_COPIED,   /* a copy in 2 MiB pages (pa_huge_alloc) */
} gguf_bytes_owner;

static void release_bytes(const uint8_t *bytes, size_t size, gguf_bytes_owner owner) {
    if (owner == BYTES_MAPPED) munmap((void *)bytes, size);
    if (owner == BYTES_COPIED) pa_huge_free((void *)bytes, size);
}

struct gguf_file {
    const uint8_t *bytes;         /* the whole file */
    size_t size;                  /* its length in bytes */
    gguf_bytes_owner owner;       /* who releases the bytes on close */
    uint32_t version;             /* 2 or 3 */
    uint32_t alignment;           /* of the data section and of every tensor offset */
    size_t n_kv;
    gguf_kv *kvs;                 /* in file order */
    const gguf_kv **kv_by_key;    /* the same, sorted by key, for lookup */
    size_t n_tensors;
    gguf_tensor *tensors;         /* in file order */
    const gguf_tensor **tensor_by_name; /* the same, sorted by name, for lookup */
};

/* ---------------------------------------------------------------------------------------------
 * Type tables
 * ------------------------------------------------------------------------------------------- */

typedef struct tensor_type_info {
    const char *name;     /* ggml's name; NULL for a number no type uses */
    uint32_t block;       /* elements per block (1 for plain types) */
    uint32_t block_bytes; /* bytes per block */
} tensor_type_info;

/* Block sizes and bytes as ggml-common.h defines them (QK_K = 256). */
static const tensor_type_info tensor_types[] = {
    [0] = {"f32", 1, 4},          [1] = {"f16", 1, 2},
    [2] = {"q4_0", 32, 18},       [3] = {"q4_1", 32, 20},
    [6] = {"q5_0", 32, 22},       [7] = {"q5_1", 32, 24},
    [8] = {"q8_0", 32, 34},       [9] = {"q8_1", 32, 36},
    [10] = {"q2_K", 256, 84},     [11] = {"q3_K", 256, 110},
    [12] = {"q4_K", 256, 144},    [13] = {"q5_K", 256, 176},
    [14] = {"q6_K", 256, 210},    [15] = {"q8_K", 256, 292},
    [16] = {"iq2_xxs", 256, 66},  [17] = {"iq2_xs", 256, 74},
    [18] = {"iq3_xxs", 256, 98},  [19] = {"iq1_s", 256, 50},
    [20] = {"iq4_nl", 32, 18},    [21] = {"iq3_s", 256, 110},
    [22] = {"iq2_s", 256, 82},    [23] = {"iq4_xs", 256, 136},
    [24] = {"i8", 1, 1},          [25] = {"i16", 1, 2},
    [26] = {"i32", 1, 4},         [27] = {"i64", 1, 8},
    [28] = {"f64", 1, 8},         [29] = {"iq1_m", 256, 56},
    [30] = {"bf16", 1, 2},        [34] = {"tq1_0", 256, 54},
    [35] = {"tq2_0", 256, 66},
};

static const tensor_type_info *find_tensor_type(uint32_t type) {
    if (type >= sizeof tensor_types / sizeof tensor_types[0] || !tensor_types[type].name) {
        return NULL;
    }
    return &tensor_types[type];
}

/* Bytes of `n` elements, or false when n is not a whole number of blocks or overflows. */
static bool tensor_bytes(const tensor_type_info *info, uint64_t n, uint64_t *out) {
    if (n % info->block != 0) return false;
    const uint64_t blocks = n / info->block;
    if (blocks > UINT64_MAX / info->block_bytes) return false;
    *out = blocks * info->block_bytes;
    return true;
}

static const char *const value_type_names[] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

static bool is_value_type(uint32_t type) {
    return type < sizeof value_type_names / sizeof value_type_names[0];
}

static const char *value_type_name(uint32_t type) {
    return is_value_type(type) ? value_type_names[type] : "unknown";
}

/* Bytes of one scalar of `type`; 0 for string, array and unknown types. */
static size_t scalar_size(uint32_t type) {
    switch (type) {
    case GGUF_TYPE_U8: case GGUF_TYPE_I8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_U16: case GGUF_TYPE_I16: return 2;
    case GGUF_TYPE_U32: case GGUF_TYPE_I32: case GGUF_TYPE_F32: return 4;
    case GGUF_TYPE_U64: case GGUF_TYPE_I64: case GGUF_TYPE_F64: return 8;
    default: return 0;
    }
}

/* Smallest encoding of one array element of `type`: what a count is checked against. */
static size_t min_element_size(uint32_t type) {
    if (type == GGUF_TYPE_STRING) return 8;      /* u64 length, no bytes */
    if (type == GGUF_TYPE_ARRAY) return 4 + 8;   /* elem_type and count, no elements */
    return scalar_size(type);
}

static int shown_len(uint64_t len) {
    return len > GGUF_MAX_SHOWN_NAME ? GGUF_MAX_SHOWN_NAME : (int)len;
}

static int compare_str(gguf_str a, gguf_str b) {
    const uint64_t n = a.len < b.len ? a.len : b.len;
    const int c = n ? memcmp(a.data, b.data, (size_t)n) : 0;
    if (c != 0) return c;
    return (a.len > b.len) - (a.len < b.len);
}

/* True when the bytes are well-formed UTF-8: no overlong forms, surrogates or code points
 * past U+10FFFF. */
static bool is_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const uint8_t lead = s[i];
        size_t len;
        uint32_t cp, min;
        if (lead < 0x80) { i++; continue; }
        if ((lead & 0xE0) == 0xC0) { len = 2; cp = lead & 0x1F; min = 0x80; }
        else if ((lead & 0xF0) == 0xE0) { len = 3; cp = lead & 0x0F; min = 0x800; }
        else if ((lead & 0xF8) == 0xF0) { len = 4; cp = lead & 0x07; min = 0x10000; }
        else return false;
        if (len > n - i) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Cursor: bounds-checked reads that fail with a message
 * ------------------------------------------------------------------------------------------- */

typedef struct parser {
    const uint8_t *bytes;  /* the whole file */
    size_t size;           /* its length in bytes */
    size_t pos;            /* next byte to read; always <= size */
    char item[GGUF_MAX_SHOWN_NAME + 32]; /* what is being read ("key 'x'", "tensor 3"), or "" */
    pa_err *err;
    pyagent_status status; /* of the failure, once one happened */
} parser;

/* Records a failure, prefixed with the item being read, and returns false. */
static bool fail(parser *p, pyagent_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(parser *p, pyagent_status status, const char *fmt, ...) {
    char msg[PA_ERR_MSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->item[0]) p->status = pa_fail(p->err, status, "%s: %s", p->item, msg);
    else p->status = pa_fail(p->err, status, "%s", msg);
    return false;
}

/* Points *out at the next `n` bytes and steps over them, or fails naming `what`. */
static bool take(parser *p, uint64_t n, const char *what, const uint8_t **out) {
    const size_t left = p->size - p->pos;
    if (n > left) {
        return fail(p, PYAGENT_ERR_BAD_MODEL,
                    "%s at offset %zu runs past end of file (needs %" PRIu64 " bytes, %zu left)",
                    what, p->pos, n, left);
    }
    *out = p->bytes + p->pos;
    p->pos += (size_t)n;
    return true;
}

static bool read_u32(parser *p, const char *what, uint32_t *out) {
    const uint8_t *b = NULL;
    if (!take(p, 4, what, &b)) return false;
    memcpy(out, b, 4);
    return true;
}

static bool read_u64(parser *p, const char *what, uint64_t *out) {
    const uint8_t *b = NULL;
    if (!take(p, 8, what, &b)) return false;
    memcpy(out, b, 8);
    return true;
}

static bool read_str(parser *p, const char *what, gguf_str *out) {
    uint64_t len;
    const uint8_t *b = NULL;
    if (!read_u64(p, what, &len) || !take(p, len, what, &b)) return false;
    out->data = (const char *)b;
    out->len = len;
    return true;
}

/* Fails unless `count` items of at least `min_size` bytes each fit in the bytes left: the check
 * that makes it safe to allocate from, or loop over, a count read from the file. */
static bool check_count(parser *p, uint64_t count, size_t min_size, const char *what) {
    const size_t left = p->size - p->pos;
    if (count > left / min_size) {
        return fail(p, PYAGENT_ERR_BAD_MODEL,
                    "%s %" PRIu64 " runs past end of file (%zu bytes left, %zu or more each)",
                    what, count, left, min_size);
    }
    return true;
}

/* Keys and tensor names: non-empty UTF-8 without NUL bytes. */
static bool check_name(parser *p, gguf_str name) {
    if (name.len == 0) return fail(p, PYAGENT_ERR_BAD_MODEL, "empty name");
    if (memchr(name.data, '\0', (size_t)name.len)) {
        return fail(p, PYAGENT_ERR_BAD_MODEL, "name contains a NUL byte");
    }
    if (!is_utf8((const uint8_t *)name.data, (size_t)name.len)) {
        return fail(p, PYAGENT_ERR_BAD_MODEL, "name is not valid UTF-8");
    }
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Header
 * ------------------------------------------------------------------------------------------- */

static bool read_header(parser *p, gguf_file *f, uint64_t *n_tensors, uint64_t *n_kv) {
    uint32_t magic;
    if (p->size == 0) return fail(p, PYAGENT_ERR_BAD_MODEL, "file is empty");
    if (!read_u32(p, "magic", &magic)) return false;
    if (magic != GGUF_MAGIC) {
        return fail(p, PYAGENT_ERR_BAD_MODEL, "not a GGUF file (magic 0x%08" PRIx32 ")", magic);
    }
    if (!read_u32(p, "version", &f->version)) return false;
    if (f->version < 2 || f->version > 3) {
        return fail(p, PYAGENT_ERR_UNSUPPORTED,
                    "unsupported GGUF version %" PRIu32 " (only 2 and 3 are read)", f->version);
    }
    return read_u64(p, "n_tensors", n_tensors) && read_u64(p, "n_kv", n_kv);
}

/* ---------------------------------------------------------------------------------------------
 * Metadata
 * ------------------------------------------------------------------------------------------- */

static bool read_scalar(parser *p, gguf_kv *kv) {
    const uint8_t *b = NULL;
    if (!take(p, scalar_size(kv->type), "value", &b)) return false;
    switch (kv->type) {
    case GGUF_TYPE_U8: kv->v.u64 = b[0]; break;
    case GGUF_TYPE_I8: { int8_t x; memcpy(&x, b, 1); kv->v.i64 = x; break; }
    case GGUF_TYPE_U16: { uint16_t x; memcpy(&x, b, 2); kv->v.u64 = x; break; }
    case GGUF_TYPE_I16: { int16_t x; memcpy(&x, b, 2); kv->v.i64 = x; break; }
    case GGUF_TYPE_U32: { uint32_t x; memcpy(&x, b, 4); kv->v.u64 = x; break; }
    case GGUF_TYPE_I32: { int32_t x; memcpy(&x, b, 4); kv->v.i64 = x; break; }
    case GGUF_TYPE_U64: memcpy(&kv->v.u64, b, 8); break;
    case GGUF_TYPE_I64: memcpy(&kv->v.i64, b, 8); break;
    case GGUF_TYPE_F32: { float x; memcpy(&x, b, 4); kv->v.f64 = x; break; }
    case GGUF_TYPE_F64: memcpy(&kv->v.f64, b, 8); break;
    case GGUF_TYPE_BOOL:
        if (b[0] > 1) return fail(p, PYAGENT_ERR_BAD_MODEL, "bool value %u is not 0 or 1", b[0]);
        kv->v.u64 = b[0];
        break;
    }
    return true;
}

/* Steps over `count` elements of `elem_type` without decoding them: the elements of numeric
 * arrays (kept raw) and the contents of nested arrays (allowed, but nothing reads them). */
static bool skip_elements(parser *p, uint32_t elem_type, uint64_t count, int depth) {
    const uint8_t *b = NULL;
    if (!is_value_type(elem_type)) {
        return fail(p, PYAGENT_ERR_BAD_MODEL, "unknown array element type %" PRIu32, elem_type);
    }
    if (!check_count(p, count, min_element_size(elem_type), "array count")) return false;
    if (elem_type == GGUF_TYPE_STRING) {
        for (uint64_t i = 0; i < count; i++) {
            gguf_str s;
            if (!read_str(p, "array element", &s)) return false;
        }
        return true;
    }
    if (elem_type == GGUF_TYPE_ARRAY) {
        if (depth >= GGUF_MAX_ARRAY_NESTING) {
            return fail(p, PYAGENT_ERR_BAD_MODEL, "arrays nested deeper than %d",
                        GGUF_MAX_ARRAY_NESTING);
        }
        for (uint64_t i = 0; i < count; i++) {
            uint32_t inner_type;
            uint64_t inner_count;
            if (!read_u32(p, "array element type", &inner_type) ||
                !read_u64(p, "array count", &inner_count) ||
                !skip_elements(p, inner_type, inner_count, depth + 1)) {
                return false;
            }
        }
        return true;
    }
    /* count <= left / scalar size, so the product cannot overflow */
    return take(p, count * scalar_size(elem_type), "array elements", &b);
}

static bool read_string_array(parser *p, gguf_kv *kv) {
    const uint64_t count = kv->v.arr.count;
    if (!check_count(p, count, min_element_size(GGUF_TYPE_STRING), "array count")) return false;
    gguf_str *strings = calloc(count ? (size_t)count : 1, sizeof *strings);
    if (!strings) {
        return fail(p, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory for %" PRIu64 " strings", count);
    }
    kv->v.arr.strings = strings; /* owned by the file from here, freed by gguf_close */
    for (uint64_t i = 0; i < count; i++) {
        if (!read_str(p, "array element", &strings[i])) return false;
    }
    return true;
}

static bool read_array(parser *p, gguf_kv *kv) {
    if (!read_u32(p, "array element type", &kv->v.arr.elem_type) ||
        !read_u64(p, "array count", &kv->v.arr.count)) {
        return false;
    }
    kv->v.arr.data = p->bytes + p->pos;
    if (kv->v.arr.elem_type == GGUF_TYPE_STRING) return read_string_array(p, kv);
    return skip_elements(p, kv->v.arr.elem_type, kv->v.arr.count, 1);
}

static bool read_kv(parser *p, gguf_kv *kv, size_t index) {
    snprintf(p->item, sizeof p->item, "key %zu", index);
    if (!read_str(p, "name", &kv->key) || !check_name(p, kv->key)) return false;
    snprintf(p->item, sizeof p->item, "key '%.*s'", shown_len(kv->key.len), kv->key.data);
    if (!read_u32(p, "value type", &kv->type)) return false;
    switch (kv->type) {
    case GGUF_TYPE_STRING: return read_str(p, "value", &kv->v.str);
    case GGUF_TYPE_ARRAY: return read_array(p, kv);
    default:
        if (!is_value_type(kv->type)) {
            return fail(p, PYAGENT_ERR_BAD_MODEL, "unknown value type %" PRIu32, kv->type);
        }
        return read_scalar(p, kv);
    }
}

static bool read_kvs(parser *p, gguf_file *f, uint64_t n_kv) {
    /* smallest kv: key length, value type, a 1-byte value (an empty key is reported later) */
    if (!check_count(p, n_kv, 8 + 4 + 1, "n_kv")) return false;
    f->kvs = calloc(n_kv ? (size_t)n_kv : 1, sizeof *f->kvs);
    if (!f->kvs) {
        return fail(p, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory for %" PRIu64 " keys", n_kv);
    }
    f->n_kv = (size_t)n_kv;
    for (size_t i = 0; i < f->n_kv; i++) {
        if (!read_kv(p, &f->kvs[i], i)) return false;
    }
    p->item[0] = '\0';
    return true;
}

static int compare_kvs(const void *a, const void *b) {
    return compare_str((*(const gguf_kv *const *)a)->key, (*(const gguf_kv *const *)b)->key);
}

/* Sorts the keys for lookup; sorting puts duplicates side by side. */
static bool index_kvs(parser *p, gguf_file *f) {
    f->kv_by_key = calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv_by_key);
    if (!f->kv_by_key) {
        return fail(p, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory for the key index");
    }
    for (size_t i = 0; i < f->n_kv; i++) f->kv_by_key[i] = &f->kvs[i];
    if (f->n_kv > 1) qsort(f->kv_by_key, f->n_kv, sizeof *f->kv_by_key, compare_kvs);
    for (size_t i = 1; i < f->n_kv; i++) {
        const gguf_str key = f->kv_by_key[i]->key;
        if (compare_str(f->kv_by_key[i - 1]->key, key) == 0) {
            return fail(p, PYAGENT_ERR_BAD_MODEL, "duplicate key '%.*s'", shown_len(key.len),
                        key.data);
        }
    }
    return true;
}

static bool read_alignment(parser *p, gguf_file *f) {
    const gguf_kv *kv = gguf_find_kv(f, "general.alignment");
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!kv) return true;
    if (kv->type != GGUF_TYPE_U32) {
        return fail(p, PYAGENT_ERR_BAD_MODEL, "key 'general.alignment' has type %s, expected u32",
                    value_type_name(kv->type));
    }
    if (kv->v.u64 == 0 || (kv->v.u64 & (kv->v.u64 - 1)) != 0) {
        return fail(p, PYAGENT_ERR_BAD_MODEL,
                    "key 'general.alignment' = %" PRIu64 " is not a power of two", kv->v.u64);
    }
    f->alignment = (uint32_t)kv->v.u64;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Tensor infos
 * ------------------------------------------------------------------------------------------- */

static bool read_shape(parser *p, gguf_tensor *t) {
    if (!read_u32(p, "n_dims", &t->n_dims)) return false;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS) {
        return fail(p, PYAGENT_ERR_BAD_MODEL, "n_dims %" PRIu32 " is not in 1..%d", t->n_dims,
                    GGUF_MAX_DIMS);
    }
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t raw;
        if (!read_u64(p, "ne", &raw)) return false;
        memcpy(&t->ne[d], &raw, 8);
        if (t->ne[d] < 0) {
            return fail(p, PYAGENT_ERR_BAD_MODEL, "ne[%" PRIu32 "] = %" PRId64 " is negative", d,
                        t->ne[d]);
        }
    }
    return true;
}

/* Checks the type, the element count and the offset, and computes n_bytes. */
static bool check_tensor(parser *p, gguf_tensor *t, uint32_t alignment) {
    const tensor_type_info *info = find_tensor_type(t->type);
    if (!info) {
        return fail(p, PYAGENT_ERR_UNSUPPORTED, "unknown type %" PRIu32, t->type);
    }
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        if (t->ne[d] != 0 && n_elements > INT64_MAX / t->ne[d]) {
            return fail(p, PYAGENT_ERR_BAD_MODEL,
                        "element count overflows (ne = [%" PRId64 ", %" PRId64 ", %" PRId64
                        ", %" PRId64 "])", t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
        }
        n_elements *= t->ne[d];
    }
    /* Rows are whole blocks (llama.cpp's rule), which makes the total a whole number too. */
    if (t->ne[0] % info->block != 0) {
        return fail(p, PYAGENT_ERR_BAD_MODEL,
                    "ne[0] = %" PRId64 " is not a multiple of the %s block size %" PRIu32,
                    t->ne[0], info->name, info->block);
    }
    if (!tensor_bytes(info, (uint64_t)n_elements, &t->n_bytes)) {
        return fail(p, PYAGENT_ERR_BAD_MODEL, "byte size of %" PRId64 " %s elements overflows",
                    n_elements, info->name);
    }
    if (t->offset % alignment != 0) {
        return fail(p, PYAGENT_ERR_BAD_MODEL,
                    "offset %" PRIu64 " is not a multiple of the alignment %" PRIu32, t->offset,
                    alignment);
    }
    return true;
}

static bool read_tensor_info(parser *p, gguf_tensor *t, size_t index, uint32_t alignment) {
    gguf_str name;
    snprintf(p->item, sizeof p->item, "tensor %zu", index);
    if (!read_str(p, "name", &name) || !check_name(p, name)) return false;
    t->name = malloc((size_t)name.len + 1);
    if (!t->name) return fail(p, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory for the name");
    memcpy(t->name, name.data, (size_t)name.len);
    t->name[name.len] = '\0';
    snprintf(p->item, sizeof p->item, "tensor '%.*s'", shown_len(name.len), t->name);
    return read_shape(p, t) && read_u32(p, "type", &t->type) &&
           read_u64(p, "offset", &t->offset) && check_tensor(p, t, alignment);
}

static bool read_tensor_infos(parser *p, gguf_file *f, uint64_t n_tensors) {
    /* smallest tensor info: name length, n_dims, one ne, type, offset */
    if (!check_count(p, n_tensors, 8 + 4 + 8 + 4 + 8, "n_tensors")) return false;
    f->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *f->tensors);
    if (!f->tensors) {
        return fail(p, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory for %" PRIu64 " tensors",
                    n_tensors);
    }
    f->n_tensors = (size_t)n_tensors;
    for (size_t i = 0; i < f->n_tensors; i++) {
        if (!read_tensor_info(p, &f->tensors[i], i, f->alignment)) return false;
    }
    p->item[0] = '\0';
    return true;
}

static int compare_tensors(const void *a, const void *b) {
    return strcmp((*(const gguf_tensor *const *)a)->name, (*(const gguf_tensor *const *)b)->name);
}

static bool index_tensors(parser *p, gguf_file *f) {
    f->tensor_by_name = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensor_by_name);
    if (!f->tensor_by_name) {
        return fail(p, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory for the tensor index");
    }
    for (size_t i = 0; i < f->n_tensors; i++) f->tensor_by_name[i] = &f->tensors[i];
    if (f->n_tensors > 1) {
        qsort(f->tensor_by_name, f->n_tensors, sizeof *f->tensor_by_name, compare_tensors);
    }
    for (size_t i = 1; i < f->n_tensors; i++) {
        const char *name = f->tensor_by_name[i]->name;
        if (strcmp(f->tensor_by_name[i - 1]->name, name) == 0) {
            return fail(p, PYAGENT_ERR_BAD_MODEL, "duplicate tensor name '%.*s'",
                        GGUF_MAX_SHOWN_NAME, name);
        }
    }
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Tensor data
 * ------------------------------------------------------------------------------------------- */

/* The data section starts at the end of the header rounded up to the alignment. A file without
 * tensors may end before that point (vocabulary-only files do). */
static bool locate_tensor_data(parser *p, gguf_file *f) {
    const uint64_t header_end = p->pos;
    const uint64_t data_start =
        header_end + (f->alignment - header_end % f->alignment) % f->alignment;
    for (size_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        snprintf(p->item, sizeof p->item, "tensor '%.*s'", GGUF_MAX_SHOWN_NAME, t->name);
        if (t->offset > p->size) {
            return fail(p, PYAGENT_ERR_BAD_MODEL,
                        "data offset %" PRIu64 " is past end of file (%zu bytes)", t->offset,
                        p->size);
        }
        /* offset <= size and data_start <= size + alignment: the sum cannot overflow */
        const uint64_t start = data_start + t->offset;
        if (start > p->size || t->n_bytes > p->size - start) {
            return fail(p, PYAGENT_ERR_BAD_MODEL,
                        "data past end of file (offset %" PRIu64 " + %" PRIu64 " > %zu)", start,
                        t->n_bytes, p->size);
        }
        t->data = p->bytes + start;
    }
    p->item[0] = '\0';
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Open and close
 * ------------------------------------------------------------------------------------------- */

static bool parse(parser *p, gguf_file *f) {
    uint64_t n_tensors = 0, n_kv = 0;
    return read_header(p, f, &n_tensors, &n_kv) && read_kvs(p, f, n_kv) && index_kvs(p, f) &&
           read_alignment(p, f) && read_tensor_infos(p, f, n_tensors) && index_tensors(p, f) &&
           locate_tensor_data(p, f);
}

/* Parses `size` bytes into a new gguf_file, which releases them on close as `owner` says. On
 * failure the bytes are released and the message is prefixed with `name`. */
static pyagent_status open_bytes(const uint8_t *bytes, size_t size, gguf_bytes_owner owner,
                                 const char *name, gguf_file **out, pa_err *err) {
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) {
        release_bytes(bytes, size, owner);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    }
    f->bytes = bytes;
    f->size = size;
    f->owner = owner;
    parser p = {.bytes = bytes, .size = size, .err = err, .status = PYAGENT_OK};
    if (!parse(&p, f)) {
        gguf_close(f);
        pa_err_prefix(err, name);
        return p.status;
    }
    *out = f;
    return PYAGENT_OK;
}

/* Reads the whole file into new 2 MiB pages (*out), which the caller frees. */
static pyagent_status read_into_huge_pages(int fd, size_t size, const char *path, uint8_t **out,
                                           pa_err *err) {
    uint8_t *bytes = *out = pa_huge_alloc(size);
    if (!bytes)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "%s: out of memory for a %zu MiB copy",
                       path, size >> 20);
    for (size_t done = 0; done < size;) {
        const ssize_t n = pread(fd, bytes + done, size - done, (off_t)done);
        if (n <= 0) {
            const int e = errno;
            pa_huge_free(bytes, size);
            *out = NULL;
            return pa_fail(err, PYAGENT_ERR_IO, "%s: cannot read: %s", path,
                           n < 0 ? strerror(e) : "the file shrank while it was read");
        }
        done += (size_t)n;
    }
    return PYAGENT_OK;
}

pyagent_status gguf_open_file(const char *path, bool huge_pages, gguf_file **out, pa_err *err) {
    if (!out || !path) {
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "gguf_open_file: NULL argument");
    }
    *out = NULL;
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pa_fail(err, PYAGENT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        const int e = errno;
        close(fd);
        return pa_fail(err, PYAGENT_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pa_fail(err, PYAGENT_ERR_IO, "%s: cannot read: %s", path,
                       S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
    }
    const size_t size = (size_t)st.st_size;
    if (size == 0) {
        close(fd);
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "%s: file is empty", path);
    }
    if ((off_t)size != st.st_size) {
        close(fd);
        return pa_fail(err, PYAGENT_ERR_IO, "%s: too large to map", path);
    }
    if (huge_pages) {
        uint8_t *bytes;
        const pyagent_status st = read_into_huge_pages(fd, size, path, &bytes, err);
        close(fd);
        return st ? st : open_bytes(bytes, size, BYTES_COPIED, path, out, err);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int e = errno;
    close(fd);
    if (map == MAP_FAILED) {
        return pa_fail(err, PYAGENT_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    }
    pa_huge_advise(map, size);
    return open_bytes(map, size, BYTES_MAPPED, path, out, err);
}

pyagent_status gguf_open_memory(const void *data, size_t size, const char *name,
                                gguf_file **out, pa_err *err) {
    if (!name) name = "<memory>";
    if (!out || (!data && size > 0)) {
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "%s: gguf_open_memory: NULL argument",
                       name);
    }
    *out = NULL;
    return open_bytes(data, size, BYTES_BORROWED, name, out, err);
}

void gguf_close(gguf_file *file) {
    if (!file) return;
    for (size_t i = 0; i < file->n_kv; i++) {
        if (file->kvs[i].type == GGUF_TYPE_ARRAY) free((void *)file->kvs[i].v.arr.strings);
    }
    for (size_t i = 0; i < file->n_tensors; i++) free(file->tensors[i].name);
    free(file->kvs);
    free(file->kv_by_key);
    free(file->tensors);
    free(file->tensor_by_name);
    release_bytes(file->bytes, file->size, file->owner);
    free(file);
}

/* ---------------------------------------------------------------------------------------------
 * Accessors
 * ------------------------------------------------------------------------------------------- */

uint32_t gguf_version(const gguf_file *file) { return file->version; }
uint32_t gguf_alignment(const gguf_file *file) { return file->alignment; }
size_t gguf_n_kv(const gguf_file *file) { return file->n_kv; }
size_t gguf_n_tensors(const gguf_file *file) { return file->n_tensors; }

const gguf_kv *gguf_kv_at(const gguf_file *file, size_t i) {
    return i < file->n_kv ? &file->kvs[i] : NULL;
}

const gguf_tensor *gguf_tensor_at(const gguf_file *file, size_t i) {
    return i < file->n_tensors ? &file->tensors[i] : NULL;
}

/* bsearch comparators: the key comes first, then an element of the sorted index. */
static int compare_key_to_kv(const void *key, const void *elem) {
    return compare_str(*(const gguf_str *)key, (*(const gguf_kv *const *)elem)->key);
}

static int compare_name_to_tensor(const void *name, const void *elem) {
    return strcmp(name, (*(const gguf_tensor *const *)elem)->name);
}

const gguf_kv *gguf_find_kv(const gguf_file *file, const char *key) {
    if (!key || file->n_kv == 0) return NULL;
    const gguf_str wanted = {key, strlen(key)};
    const gguf_kv *const *hit =
        bsearch(&wanted, file->kv_by_key, file->n_kv, sizeof *file->kv_by_key, compare_key_to_kv);
    return hit ? *hit : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *file, const char *name) {
    if (!name || file->n_tensors == 0) return NULL;
    const gguf_tensor *const *hit = bsearch(name, file->tensor_by_name, file->n_tensors,
                                            sizeof *file->tensor_by_name, compare_name_to_tensor);
    return hit ? *hit : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Typed getters
 * ------------------------------------------------------------------------------------------- */

static bool is_unsigned_type(uint32_t type) {
    return type == GGUF_TYPE_U8 || type == GGUF_TYPE_U16 || type == GGUF_TYPE_U32 ||
           type == GGUF_TYPE_U64;
}

static bool is_signed_type(uint32_t type) {
    return type == GGUF_TYPE_I8 || type == GGUF_TYPE_I16 || type == GGUF_TYPE_I32 ||
           type == GGUF_TYPE_I64;
}

/* "u32", "string", "array[f32]": a value's type as messages show it. */
static void describe_type(uint32_t type, uint32_t elem_type, char *buf, size_t size) {
    if (type == GGUF_TYPE_ARRAY) snprintf(buf, size, "array[%s]", value_type_name(elem_type));
    else snprintf(buf, size, "%s", value_type_name(type));
}

static pyagent_status missing_key(const char *key, pa_err *err) {
    return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "missing key '%s'", key);
}

static pyagent_status wrong_type(const gguf_kv *kv, const char *expected, pa_err *err) {
    char type[32];
    describe_type(kv->type, kv->type == GGUF_TYPE_ARRAY ? kv->v.arr.elem_type : 0, type,
                  sizeof type);
    return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "key '%.*s' has type %s, expected %s",
                   shown_len(kv->key.len), kv->key.data, type, expected);
}

static pyagent_status kv_to_u32(const gguf_kv *kv, uint32_t *out, pa_err *err) {
    if (is_unsigned_type(kv->type)) {
        if (kv->v.u64 > UINT32_MAX) {
            return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "key '%.*s' = %" PRIu64 " does not fit u32",
                           shown_len(kv->key.len), kv->key.data, kv->v.u64);
        }
        *out = (uint32_t)kv->v.u64;
        return PYAGENT_OK;
    }
    if (is_signed_type(kv->type)) {
        if (kv->v.i64 < 0 || kv->v.i64 > UINT32_MAX) {
            return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "key '%.*s' = %" PRId64 " does not fit u32",
                           shown_len(kv->key.len), kv->key.data, kv->v.i64);
        }
        *out = (uint32_t)kv->v.i64;
        return PYAGENT_OK;
    }
    return wrong_type(kv, "u32", err);
}

static pyagent_status kv_to_f32(const gguf_kv *kv, float *out, pa_err *err) {
    if (kv->type != GGUF_TYPE_F32 && kv->type != GGUF_TYPE_F64) return wrong_type(kv, "f32", err);
    const double v = kv->v.f64;
    /* converting a finite double beyond the float range is undefined behaviour in C */
    if (isfinite(v) && (v > FLT_MAX || v < -FLT_MAX)) {
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "key '%.*s' = %g does not fit f32",
                       shown_len(kv->key.len), kv->key.data, v);
    }
    *out = (float)v;
    return PYAGENT_OK;
}

pyagent_status gguf_get_u32(const gguf_file *file, const char *key, uint32_t *out, pa_err *err) {
    const gguf_kv *kv = gguf_find_kv(file, key);
    if (!kv) return missing_key(key, err);
    return kv_to_u32(kv, out, err);
}

pyagent_status gguf_get_u32_or(const gguf_file *file, const char *key, uint32_t fallback,
                               uint32_t *out, pa_err *err) {
    const gguf_kv *kv = gguf_find_kv(file, key);
    if (!kv) {
        *out = fallback;
        return PYAGENT_OK;
    }
    return kv_to_u32(kv, out, err);
}

pyagent_status gguf_get_f32_or(const gguf_file *file, const char *key, float fallback,
                               float *out, pa_err *err) {
    const gguf_kv *kv = gguf_find_kv(file, key);
    if (!kv) {
        *out = fallback;
        return PYAGENT_OK;
    }
    return kv_to_f32(kv, out, err);
}

pyagent_status gguf_get_bool_or(const gguf_file *file, const char *key, bool fallback,
                                bool *out, pa_err *err) {
    const gguf_kv *kv = gguf_find_kv(file, key);
    if (!kv) {
        *out = fallback;
        return PYAGENT_OK;
    }
    if (kv->type != GGUF_TYPE_BOOL) return wrong_type(kv, "bool", err);
    *out = kv->v.u64 != 0;
    return PYAGENT_OK;
}

pyagent_status gguf_get_str(const gguf_file *file, const char *key, gguf_str *out, pa_err *err) {
    const gguf_kv *kv = gguf_find_kv(file, key);
    if (!kv) return missing_key(key, err);
    if (kv->type != GGUF_TYPE_STRING) return wrong_type(kv, "string", err);
    *out = kv->v.str;
    return PYAGENT_OK;
}

pyagent_status gguf_get_arr(const gguf_file *file, const char *key, uint32_t elem_type,
                            const gguf_kv **out, pa_err *err) {
    const gguf_kv *kv = gguf_find_kv(file, key);
    if (!kv) return missing_key(key, err);
    if (kv->type != GGUF_TYPE_ARRAY || kv->v.arr.elem_type != elem_type) {
        char expected[32];
        describe_type(GGUF_TYPE_ARRAY, elem_type, expected, sizeof expected);
        return wrong_type(kv, expected, err);
    }
    *out = kv;
    return PYAGENT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Tensor types and strings
 * ------------------------------------------------------------------------------------------- */

uint64_t gguf_tensor_type_bytes(uint32_t type, uint64_t n) {
    const tensor_type_info *info = find_tensor_type(type);
    uint64_t bytes;
    if (!info || !tensor_bytes(info, n, &bytes)) return 0;
    return bytes;
}

const char *gguf_tensor_type_name(uint32_t type) {
    const tensor_type_info *info = find_tensor_type(type);
    return info ? info->name : "unknown";
}

bool gguf_str_eq(gguf_str s, const char *c) {
    const size_t len = strlen(c);
    return s.len == len && (len == 0 || memcmp(s.data, c, len) == 0);
}
