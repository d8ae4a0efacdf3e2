/*
 * pyagent-random-gguf — writes a llama GGUF v3 file with random weights, for benchmarks and
 * tests.
 *
 * Usage:
 *   pyagent-random-gguf -o out.gguf [--preset 110M|42M|15M|260K]
 *                       [--dim 768] [--layers 12] [--heads 12] [--kv-heads 12] [--ff 2048]
 *                       [--vocab 32000] [--ctx 1024] [--type f32|f16|bf16|q8_0|q4_0|q4_K]
 *                       [--tied] [--seed N]
 *
 * Flags are applied in order, so `--preset 110M --layers 2` is the 110M shape cut to two
 * layers. Without a preset the shape is llama2.c's 110M model.
 *
 * The weights are a function of the seed and the tensor name only: every tensor draws from its
 * own generator, seeded from (seed, name), so the same seed gives the same f32 values for every
 * --type, with or without --tied. Matrix entries are normal-ish with std 0.02; norm weights are
 * 1.0 with noise of std 0.01 and always F32. The 2-D matrices (token_embd included) are stored
 * as --type: f16 and bf16 round to nearest even, q8_0 and q4_0 quantize exactly as ggml's
 * reference quantize_row_q8_0_ref and quantize_row_q4_0_ref. q4_K is ggml's block_q4_K layout,
 * each sub-block of 32 fitted as ggml's reference fits it (fit_sub_block: a search over 21
 * scales around 15 / (max - min), each followed by the weighted least-squares scale and min of
 * the levels it gives), scales and mins then quantized to 6 bits against the block's largest.
 *
 * The vocabulary is a synthetic SentencePiece (SPM) one: <unk>, <s>, </s>, the 256 byte tokens
 * <0x00>..<0xFF>, then pieces that SPM merges can reach from single characters (see
 * vocab_filler_piece), up to --vocab entries.
 *
 * The file is written as a stream: the header first (every size is known from the shape), then
 * each tensor row by row, so memory use is one row whatever the model size.
 *
 * Exit status: 0 on success, 2 on a bad flag or a write failure (a partial regular file is
 * removed; a device such as /dev/stdout is left alone).
 */
#define _POSIX_C_SOURCE 200809L /* stat */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>
#include <sys/stat.h>

#include "core/f16.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian u32 */
#define GGUF_VERSION 3
#define GGUF_ALIGNMENT 32

/* metadata value types */
#define GGUF_U32 4
#define GGUF_I32 5
#define GGUF_F32 6
#define GGUF_BOOL 7
#define GGUF_STRING 8
#define GGUF_ARRAY 9

/* ggml tensor types */
#define GGML_F32 0
#define GGML_F16 1
#define GGML_Q4_0 2
#define GGML_Q8_0 8
#define GGML_Q4_K 12
#define GGML_BF16 30

#define Q8_0_BLOCK 32       /* values per q8_0 block */
#define Q8_0_BLOCK_BYTES 34 /* f16 scale + 32 int8 */
#define Q4_0_BLOCK 32       /* values per q4_0 block */
#define Q4_0_BLOCK_BYTES 18 /* f16 scale + 16 bytes of nibbles */
#define Q4_K_BLOCK 256      /* values per q4_K block (8 sub-blocks of 32) */
#define Q4_K_BLOCK_BYTES 144 /* f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 of nibbles */

#define N_SPECIAL_TOKENS 3 /* <unk>, <s>, </s> */
#define N_BYTE_TOKENS 256
#define MIN_VOCAB (N_SPECIAL_TOKENS + N_BYTE_TOKENS + 1)

/* SPM token types */
#define TOKEN_NORMAL 1
#define TOKEN_UNKNOWN 2
#define TOKEN_CONTROL 3
#define TOKEN_BYTE 6

static const char *const USAGE =
    "usage: pyagent-random-gguf -o out.gguf [options]\n"
    "\n"
    "Writes a llama GGUF v3 file with random weights.\n"
    "\n"
    "  -o PATH              output file (required)\n"
    "  --preset NAME        shape of a llama2.c model: 110M (default), 42M, 15M, 260K\n"
    "  --dim N              embedding length\n"
    "  --layers N           number of transformer blocks\n"
    "  --heads N            attention heads (dim / heads must be even)\n"
    "  --kv-heads N         key/value heads, must divide heads (default: as many as heads,\n"
    "                       or the preset's when --heads is not given)\n"
    "  --ff N               feed-forward length\n"
    "  --vocab N            vocabulary size (at least 260)\n"
    "  --ctx N              training context length written to the metadata\n"
    "  --type T             type of the 2-D matrices: f32 (default), f16, bf16, q8_0, q4_0,\n"
    "                       q4_K (q8_0 and q4_0 need dim and ff to be multiples of 32,\n"
    "                       q4_K multiples of 256)\n"
    "  --tied               no output.weight: the output reuses token_embd.weight\n"
    "  --seed N             seed of the weights (default 1)\n"
    "  -h, --help           print this help\n"
    "\n"
    "Flags apply in order: `--preset 15M --layers 2` changes only the layer count.\n";

/* ---------------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------------- */

typedef struct model_shape {
    int64_t dim;      /* embedding length */
    int64_t n_layers; /* transformer blocks */
    int64_t n_heads;  /* query heads */
    int64_t n_kv_heads; /* key/value heads; can be < n_heads (GQA) */
    int64_t ff;       /* feed-forward hidden length */
    int64_t vocab;    /* tokens in the vocabulary */
    int64_t ctx;      /* training context length (metadata only) */
} model_shape;

typedef struct preset {
    const char *name;
    model_shape shape;
} preset;

/* The llama2.c "stories" checkpoints (260K uses its own 512-token vocabulary). */
static const preset PRESETS[] = {
    {"110M", {768, 12, 12, 12, 2048, 32000, 1024}},
    {"42M", {512, 8, 8, 8, 1376, 32000, 1024}},
    {"15M", {288, 6, 6, 6, 768, 32000, 256}},
    {"260K", {64, 5, 8, 4, 172, 512, 512}},
};

typedef struct tensor_type {
    const char *name;   /* --type spelling */
    uint32_t ggml_type; /* type of the 2-D matrices */
    uint32_t file_type; /* general.file_type (llama_ftype) */
} tensor_type;

static const tensor_type TENSOR_TYPES[] = {
    {"f32", GGML_F32, 0},
    {"f16", GGML_F16, 1},
    {"bf16", GGML_BF16, 32},
    {"q8_0", GGML_Q8_0, 7},
    {"q4_0", GGML_Q4_0, 2},
    {"q4_K", GGML_Q4_K, 14}, /* LLAMA_FTYPE_MOSTLY_Q4_K_S: every matrix q4_K */
};

typedef struct options {
    const char *out_path;
    model_shape shape;
    const tensor_type *type;
    bool tied;     /* omit output.weight */
    uint64_t seed; /* seed of every tensor's generator */
} options;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Prints "pyagent-random-gguf: <message>" to stderr and exits with status 2. */
static void fail(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fputs("pyagent-random-gguf: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    exit(2);
}

static int64_t parse_int(const char *flag, const char *text, int64_t min, int64_t max) {
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        fail("%s: '%s' is not an integer", flag, text);
    if (value < min || value > max)
        fail("%s: %lld is outside [%" PRId64 ", %" PRId64 "]", flag, value, min, max);
    return value;
}

static const preset *find_preset(const char *name) {
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++)
        if (strcmp(PRESETS[i].name, name) == 0) return &PRESETS[i];
    return NULL;
}

static const tensor_type *find_tensor_type(const char *name) {
    for (size_t i = 0; i < sizeof TENSOR_TYPES / sizeof TENSOR_TYPES[0]; i++)
        if (strcmp(TENSOR_TYPES[i].name, name) == 0) return &TENSOR_TYPES[i];
    return NULL;
}

/* The argument after flag argv[*i], advancing *i. */
static const char *flag_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) fail("%s needs a value (see --help)", argv[*i]);
    *i += 1;
    return argv[*i];
}

/* Values per block of a ggml type: rows must be whole blocks. */
static int64_t type_block(uint32_t ggml_type) {
    switch (ggml_type) {
    case GGML_Q8_0: return Q8_0_BLOCK;
    case GGML_Q4_0: return Q4_0_BLOCK;
    case GGML_Q4_K: return Q4_K_BLOCK;
    default: return 1;
    }
}

static void check_shape(const model_shape *s, const tensor_type *type) {
    if (s->dim % s->n_heads != 0)
        fail("--dim %" PRId64 " is not a multiple of --heads %" PRId64, s->dim, s->n_heads);
    if ((s->dim / s->n_heads) % 2 != 0)
        fail("head dimension %" PRId64 " (dim / heads) must be even for RoPE",
             s->dim / s->n_heads);
    if (s->n_heads % s->n_kv_heads != 0)
        fail("--kv-heads %" PRId64 " does not divide --heads %" PRId64, s->n_kv_heads,
             s->n_heads);
    const int64_t block = type_block(type->ggml_type);
    if (s->dim % block != 0 || s->ff % block != 0)
        fail("%s needs --dim and --ff to be multiples of %" PRId64 " (got %" PRId64 " and %" PRId64
             ")", type->name, block, s->dim, s->ff);
}

static options parse_options(int argc, char **argv) {
    options o = {
        .out_path = NULL,
        .shape = PRESETS[0].shape,
        .type = &TENSOR_TYPES[0],
        .tied = false,
        .seed = 1,
    };
    bool heads_given = false, kv_heads_given = false;
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "-h") == 0 || strcmp(flag, "--help") == 0) {
            fputs(USAGE, stdout);
            exit(0);
        } else if (strcmp(flag, "-o") == 0) {
            o.out_path = flag_value(argc, argv, &i);
        } else if (strcmp(flag, "--preset") == 0) {
            const char *name = flag_value(argc, argv, &i);
            const preset *p = find_preset(name);
            if (!p) fail("--preset: unknown preset '%s' (110M, 42M, 15M, 260K)", name);
            o.shape = p->shape;
        } else if (strcmp(flag, "--dim") == 0) {
            o.shape.dim = parse_int(flag, flag_value(argc, argv, &i), 2, 1 << 16);
        } else if (strcmp(flag, "--layers") == 0) {
            o.shape.n_layers = parse_int(flag, flag_value(argc, argv, &i), 1, 1 << 10);
        } else if (strcmp(flag, "--heads") == 0) {
            o.shape.n_heads = parse_int(flag, flag_value(argc, argv, &i), 1, 1 << 10);
            heads_given = true;
        } else if (strcmp(flag, "--kv-heads") == 0) {
            o.shape.n_kv_heads = parse_int(flag, flag_value(argc, argv, &i), 1, 1 << 10);
            kv_heads_given = true;
        } else if (strcmp(flag, "--ff") == 0) {
            o.shape.ff = parse_int(flag, flag_value(argc, argv, &i), 1, 1 << 18);
        } else if (strcmp(flag, "--vocab") == 0) {
            o.shape.vocab = parse_int(flag, flag_value(argc, argv, &i), MIN_VOCAB, 1 << 22);
        } else if (strcmp(flag, "--ctx") == 0) {
            o.shape.ctx = parse_int(flag, flag_value(argc, argv, &i), 1, 1 << 24);
        } else if (strcmp(flag, "--type") == 0) {
            const char *name = flag_value(argc, argv, &i);
            o.type = find_tensor_type(name);
            if (!o.type) fail("--type: unknown type '%s' (f32, f16, bf16, q8_0, q4_0, q4_K)", name);
        } else if (strcmp(flag, "--tied") == 0) {
            o.tied = true;
        } else if (strcmp(flag, "--seed") == 0) {
            o.seed = (uint64_t)parse_int(flag, flag_value(argc, argv, &i), 0, INT64_MAX);
        } else {
            fail("unknown flag '%s' (see --help)", flag);
        }
    }
    if (heads_given && !kv_heads_given) o.shape.n_kv_heads = o.shape.n_heads;
    if (!o.out_path) fail("no output file: pass -o out.gguf (see --help)");
    check_shape(&o.shape, o.type);
    return o;
}

/* ---------------------------------------------------------------------------------------------
 * Random numbers
 *
 * splitmix64 gives the bits. A normal-ish value is the Irwin–Hall sum of the four 16-bit
 * quarters of one draw, centred and scaled to unit variance: integer arithmetic up to one
 * multiply, so the values are bit-identical on every platform. Its tails stop at ±3.46 sd,
 * which is all a random-weight model needs.
 * ------------------------------------------------------------------------------------------- */

typedef struct rng {
    uint64_t state;
} rng;

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Mean 0, standard deviation 1. */
static float rng_normal(rng *r) {
    const uint64_t bits = rng_next(r);
    const int32_t sum = (int32_t)(bits & 0xffff) + (int32_t)((bits >> 16) & 0xffff) +
                        (int32_t)((bits >> 32) & 0xffff) + (int32_t)(bits >> 48);
    /* each quarter has variance (65536^2 - 1) / 12, so the sum has sd ~ 65536 / sqrt(3) */
    const float inv_sd = 1.7320508f / 65536.0f;
    return (float)(sum - 2 * 65535) * inv_sd;
}

/* A generator for one tensor: its stream depends only on the seed and the tensor's name. */
static rng rng_for_tensor(uint64_t seed, const char *name) {
    uint64_t hash = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const char *c = name; *c; c++) hash = (hash ^ (uint8_t)*c) * 0x100000001b3ull;
    rng r = {seed ^ hash};
    r.state = rng_next(&r);
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * Vocabulary
 *
 * Ids 0..2 are <unk> <s> </s>, ids 3..258 the byte tokens, and the rest "filler" pieces
 * enumerated in levels so that SentencePiece merges can build every piece from characters:
 *   level 0:  "▁" and the printable ASCII characters '!'..'~'
 *   level n:  "▁" + every n-letter lowercase word, then every (n+1)-letter lowercase word
 * Each piece of level n >= 1 is a piece of the level before plus one letter, so English-like
 * text tokenizes into real pieces rather than bytes. Scores fall with the id, so shorter
 * pieces merge first.
 * ------------------------------------------------------------------------------------------- */

#define SPACE_MARK "\xe2\x96\x81" /* U+2581 "▁", SentencePiece's escaped space */
#define N_ASCII_PIECES ('~' - '!' + 1)
#define MAX_PIECE_BYTES 32

typedef struct vocab_entry {
    char text[MAX_PIECE_BYTES]; /* NUL-terminated UTF-8 */
    float score;
    int32_t type; /* TOKEN_* */
} vocab_entry;

/* The `length`-letter lowercase word number `index` (base 26, most significant letter first). */
static void write_word(char *out, int length, uint64_t index) {
    for (int i = length - 1; i >= 0; i--) {
        out[i] = (char)('a' + index % 26);
        index /= 26;
    }
    out[length] = '\0';
}

/* Filler piece number k (0 = the first id after the byte tokens). */
static void vocab_filler_piece(uint64_t k, char *out) {
    if (k == 0) {
        strcpy(out, SPACE_MARK);
        return;
    }
    k -= 1;
    if (k < N_ASCII_PIECES) {
        out[0] = (char)('!' + k);
        out[1] = '\0';
        return;
    }
    k -= N_ASCII_PIECES;
    uint64_t words = 26; /* 26^n */
    for (int n = 1;; n++, words *= 26) {
        if (k < words) {
            strcpy(out, SPACE_MARK);
            write_word(out + strlen(SPACE_MARK), n, k);
            return;
        }
        k -= words;
        if (k < words * 26) {
            write_word(out, n + 1, k);
            return;
        }
        k -= words * 26;
    }
}

static vocab_entry vocab_entry_at(int64_t id) {
    static const char *const SPECIAL[N_SPECIAL_TOKENS] = {"<unk>", "<s>", "</s>"};
    vocab_entry e = {.score = 0.0f, .type = TOKEN_NORMAL};
    if (id < N_SPECIAL_TOKENS) {
        strcpy(e.text, SPECIAL[id]);
        e.type = id == 0 ? TOKEN_UNKNOWN : TOKEN_CONTROL;
    } else if (id < N_SPECIAL_TOKENS + N_BYTE_TOKENS) {
        snprintf(e.text, sizeof e.text, "<0x%02X>", (unsigned)(id - N_SPECIAL_TOKENS));
        e.type = TOKEN_BYTE;
    } else {
        const uint64_t k = (uint64_t)(id - N_SPECIAL_TOKENS - N_BYTE_TOKENS);
        vocab_filler_piece(k, e.text);
        e.score = -(float)(k + 1);
    }
    return e;
}

/* ---------------------------------------------------------------------------------------------
 * Stream writer
 *
 * Little-endian regardless of the host. A short write sets `failed`; the caller checks it at
 * the end, so the helpers stay one-liners.
 * ------------------------------------------------------------------------------------------- */

typedef struct writer {
    FILE *file;
    uint64_t pos;     /* bytes written so far */
    uint64_t n_kv;    /* metadata keys written so far */
    bool failed;      /* a write came up short */
    int write_errno;  /* errno of the first short write */
} writer;

static void put_bytes(writer *w, const void *data, size_t n) {
    if (n == 0 || w->failed) return;
    if (fwrite(data, 1, n, w->file) != n) {
        w->failed = true;
        w->write_errno = errno;
    }
    w->pos += n;
}

static void store_u16(uint8_t *out, uint16_t v) {
    out[0] = (uint8_t)v;
    out[1] = (uint8_t)(v >> 8);
}

static void store_u32(uint8_t *out, uint32_t v) {
    for (int i = 0; i < 4; i++) out[i] = (uint8_t)(v >> (8 * i));
}

static void put_u32(writer *w, uint32_t v) {
    uint8_t b[4];
    store_u32(b, v);
    put_bytes(w, b, 4);
}

static void put_u64(writer *w, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    put_bytes(w, b, 8);
}

static void put_f32(writer *w, float v) { put_u32(w, pa_bits_from_f32(v)); }

static void put_string(writer *w, const char *s) {
    const size_t n = strlen(s);
    put_u64(w, n);
    put_bytes(w, s, n);
}

static void put_padding(writer *w) {
    static const uint8_t zeros[GGUF_ALIGNMENT];
    put_bytes(w, zeros, (size_t)((GGUF_ALIGNMENT - w->pos % GGUF_ALIGNMENT) % GGUF_ALIGNMENT));
}

static void put_kv_string(writer *w, const char *key, const char *value) {
    w->n_kv++;
    put_string(w, key);
    put_u32(w, GGUF_STRING);
    put_string(w, value);
}

static void put_kv_u32(writer *w, const char *key, uint32_t value) {
    w->n_kv++;
    put_string(w, key);
    put_u32(w, GGUF_U32);
    put_u32(w, value);
}

static void put_kv_f32(writer *w, const char *key, float value) {
    w->n_kv++;
    put_string(w, key);
    put_u32(w, GGUF_F32);
    put_f32(w, value);
}

static void put_kv_bool(writer *w, const char *key, bool value) {
    const uint8_t byte = value ? 1 : 0;
    w->n_kv++;
    put_string(w, key);
    put_u32(w, GGUF_BOOL);
    put_bytes(w, &byte, 1);
}

static void put_array_header(writer *w, const char *key, uint32_t elem_type, uint64_t count) {
    w->n_kv++;
    put_string(w, key);
    put_u32(w, GGUF_ARRAY);
    put_u32(w, elem_type);
    put_u64(w, count);
}

/* ---------------------------------------------------------------------------------------------
 * Tensors
 * ------------------------------------------------------------------------------------------- */

#define MAX_TENSOR_NAME 48

typedef struct tensor_desc {
    char name[MAX_TENSOR_NAME];
    uint32_t n_dims;   /* 1 (norm weights) or 2 (matrices) */
    uint64_t ne[2];    /* ne[0] contiguous: a matrix is ne[1] rows of ne[0] values */
    uint32_t type;     /* ggml type */
    uint64_t offset;   /* from the start of the data section, a multiple of GGUF_ALIGNMENT */
} tensor_desc;

typedef struct tensor_list {
    tensor_desc *items;
    size_t count;
    size_t capacity;
} tensor_list;

static uint64_t row_bytes(uint32_t type, uint64_t n) {
    switch (type) {
    case GGML_F16:
    case GGML_BF16: return 2 * n;
    case GGML_Q8_0: return n / Q8_0_BLOCK * Q8_0_BLOCK_BYTES;
    case GGML_Q4_0: return n / Q4_0_BLOCK * Q4_0_BLOCK_BYTES;
    case GGML_Q4_K: return n / Q4_K_BLOCK * Q4_K_BLOCK_BYTES;
    default: return 4 * n;
    }
}

static uint64_t tensor_bytes(const tensor_desc *t) {
    return row_bytes(t->type, t->ne[0]) * (t->n_dims == 2 ? t->ne[1] : 1);
}

static uint64_t align_up(uint64_t n) {
    return (n + GGUF_ALIGNMENT - 1) / GGUF_ALIGNMENT * GGUF_ALIGNMENT;
}

static void add_tensor(tensor_list *list, const char *name, uint32_t type, uint64_t ne0,
                       uint64_t ne1) {
    if (list->count == list->capacity) {
        list->capacity = list->capacity ? 2 * list->capacity : 64;
        list->items = realloc(list->items, list->capacity * sizeof *list->items);
        if (!list->items) fail("out of memory");
    }
    tensor_desc *t = &list->items[list->count];
    const tensor_desc *prev = list->count ? &list->items[list->count - 1] : NULL;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = ne1 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1 ? ne1 : 1;
    t->type = type;
    t->offset = prev ? align_up(prev->offset + tensor_bytes(prev)) : 0;
    list->count++;
}

/* Every tensor of the llama architecture, shapes as gguf-notes §3 (ne = [n_in, n_out]). */
static tensor_list build_tensor_list(const options *o) {
    const model_shape *s = &o->shape;
    const uint32_t mat = o->type->ggml_type;
    const uint64_t dim = (uint64_t)s->dim;
    const uint64_t kv_dim = (uint64_t)(s->dim / s->n_heads * s->n_kv_heads);
    const uint64_t ff = (uint64_t)s->ff;
    tensor_list list = {0};
    char name[MAX_TENSOR_NAME];

    add_tensor(&list, "token_embd.weight", mat, dim, (uint64_t)s->vocab);
    for (int64_t l = 0; l < s->n_layers; l++) {
        static const struct {
            const char *suffix;
            int kind; /* 0 norm [dim], 1 [dim, dim], 2 [dim, kv_dim], 3 [dim, ff], 4 [ff, dim] */
        } LAYER[] = {
            {"attn_norm", 0}, {"attn_q", 1},   {"attn_k", 2},   {"attn_v", 2},
            {"attn_output", 1}, {"ffn_norm", 0}, {"ffn_gate", 3}, {"ffn_up", 3},
            {"ffn_down", 4},
        };
        for (size_t j = 0; j < sizeof LAYER / sizeof LAYER[0]; j++) {
            snprintf(name, sizeof name, "blk.%" PRId64 ".%s.weight", l, LAYER[j].suffix);
            switch (LAYER[j].kind) {
            case 0: add_tensor(&list, name, GGML_F32, dim, 0); break;
            case 1: add_tensor(&list, name, mat, dim, dim); break;
            case 2: add_tensor(&list, name, mat, dim, kv_dim); break;
            case 3: add_tensor(&list, name, mat, dim, ff); break;
            default: add_tensor(&list, name, mat, ff, dim); break;
            }
        }
    }
    add_tensor(&list, "output_norm.weight", GGML_F32, dim, 0);
    if (!o->tied) add_tensor(&list, "output.weight", mat, dim, (uint64_t)s->vocab);
    return list;
}

static uint64_t count_params(const tensor_list *list) {
    uint64_t n = 0;
    for (size_t i = 0; i < list->count; i++) n += list->items[i].ne[0] * list->items[i].ne[1];
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * Header: metadata (gguf-notes §2 "minimal llama GGUF") and tensor infos
 * ------------------------------------------------------------------------------------------- */

#define N_METADATA_KEYS 23 /* what write_metadata writes; checked after writing */

static void write_metadata(writer *w, const options *o) {
    const model_shape *s = &o->shape;
    put_kv_string(w, "general.architecture", "llama");
    put_kv_string(w, "general.name", "pyagent-random");
    put_kv_u32(w, "general.file_type", o->type->file_type);
    put_kv_u32(w, "general.alignment", GGUF_ALIGNMENT);

    put_kv_u32(w, "llama.context_length", (uint32_t)s->ctx);
    put_kv_u32(w, "llama.embedding_length", (uint32_t)s->dim);
    put_kv_u32(w, "llama.block_count", (uint32_t)s->n_layers);
    put_kv_u32(w, "llama.feed_forward_length", (uint32_t)s->ff);
    put_kv_u32(w, "llama.attention.head_count", (uint32_t)s->n_heads);
    put_kv_u32(w, "llama.attention.head_count_kv", (uint32_t)s->n_kv_heads);
    put_kv_u32(w, "llama.rope.dimension_count", (uint32_t)(s->dim / s->n_heads));
    put_kv_f32(w, "llama.rope.freq_base", 10000.0f);
    put_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    put_kv_u32(w, "llama.vocab_size", (uint32_t)s->vocab);

    put_kv_string(w, "tokenizer.ggml.model", "llama");
    put_array_header(w, "tokenizer.ggml.tokens", GGUF_STRING, (uint64_t)s->vocab);
    for (int64_t id = 0; id < s->vocab; id++) put_string(w, vocab_entry_at(id).text);
    put_array_header(w, "tokenizer.ggml.scores", GGUF_F32, (uint64_t)s->vocab);
    for (int64_t id = 0; id < s->vocab; id++) put_f32(w, vocab_entry_at(id).score);
    put_array_header(w, "tokenizer.ggml.token_type", GGUF_I32, (uint64_t)s->vocab);
    for (int64_t id = 0; id < s->vocab; id++) put_u32(w, (uint32_t)vocab_entry_at(id).type);
    put_kv_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    put_kv_u32(w, "tokenizer.ggml.bos_token_id", 1);
    put_kv_u32(w, "tokenizer.ggml.eos_token_id", 2);
    put_kv_bool(w, "tokenizer.ggml.add_bos_token", true);
    put_kv_bool(w, "tokenizer.ggml.add_eos_token", false);
}

static void write_header(writer *w, const options *o, const tensor_list *tensors) {
    put_u32(w, GGUF_MAGIC);
    put_u32(w, GGUF_VERSION);
    put_u64(w, tensors->count);
    put_u64(w, N_METADATA_KEYS);
    write_metadata(w, o);
    if (w->n_kv != N_METADATA_KEYS) fail("internal: wrote %" PRIu64 " metadata keys", w->n_kv);
    for (size_t i = 0; i < tensors->count; i++) {
        const tensor_desc *t = &tensors->items[i];
        put_string(w, t->name);
        put_u32(w, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(w, t->ne[d]);
        put_u32(w, t->type);
        put_u64(w, t->offset);
    }
    put_padding(w);
}

/* ---------------------------------------------------------------------------------------------
 * Tensor data
 * ------------------------------------------------------------------------------------------- */

/* ggml's quantize_row_q8_0_ref: x (n,) -> n/32 blocks of {f16 d, int8 q[32]}, x ~ d * q. */
static void quantize_row_q8_0(const float *x, uint64_t n, uint8_t *out) {
    for (uint64_t b = 0; b < n / Q8_0_BLOCK; b++) {
        const float *xb = x + b * Q8_0_BLOCK;
        uint8_t *ob = out + b * Q8_0_BLOCK_BYTES;
        float amax = 0.0f;
        for (int j = 0; j < Q8_0_BLOCK; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_u16(ob, pa_f32_to_f16(d));
        for (int j = 0; j < Q8_0_BLOCK; j++) ob[2 + j] = (uint8_t)(int8_t)roundf(xb[j] * id);
    }
}

/* ggml's quantize_row_q4_0_ref: x (n,) -> n/32 blocks of {f16 d, 16 bytes of nibbles}, where
 * d = -max/8 for the value of largest magnitude and x[j] ~ d * (nibble j - 8); nibbles 0..15
 * are the low halves of the 16 bytes, 16..31 the high halves. */
static void quantize_row_q4_0(const float *x, uint64_t n, uint8_t *out) {
    for (uint64_t b = 0; b < n / Q4_0_BLOCK; b++) {
        const float *xb = x + b * Q4_0_BLOCK;
        uint8_t *ob = out + b * Q4_0_BLOCK_BYTES;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < Q4_0_BLOCK; j++)
            if (amax < fabsf(xb[j])) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_u16(ob, pa_f32_to_f16(d));
        for (int j = 0; j < Q4_0_BLOCK / 2; j++) {
            const int lo = (int)(int8_t)(xb[j] * id + 8.5f);
            const int hi = (int)(int8_t)(xb[j + Q4_0_BLOCK / 2] * id + 8.5f);
            ob[2 + j] = (uint8_t)((lo < 15 ? lo : 15) | (hi < 15 ? hi : 15) << 4);
        }
    }
}

/* Packs the 6-bit scale `sc` and min `m` of sub-block s (0..7) into the 12 scale bytes of a
 * q4_K block (the inverse of ggml's get_scale_min_k4; `scales` starts zeroed). */
static void pack_q4_k_scale_min(uint8_t *scales, int s, int sc, int m) {
    if (s < 4) {
        scales[s] |= (uint8_t)sc;
        scales[s + 4] |= (uint8_t)m;
    } else {
        scales[s + 4] |= (uint8_t)((sc & 0xf) | (m & 0xf) << 4);
        scales[s - 4] |= (uint8_t)((sc >> 4) << 6);
        scales[s] |= (uint8_t)((m >> 4) << 6);
    }
}

static void unpack_q4_k_scale_min(const uint8_t *scales, int s, int *sc, int *m) {
    if (s < 4) {
        *sc = scales[s] & 63;
        *m = scales[s + 4] & 63;
    } else {
        *sc = (scales[s + 4] & 0xf) | ((scales[s - 4] >> 6) << 4);
        *m = (scales[s + 4] >> 4) | ((scales[s] >> 6) << 4);
    }
}

static int clamp_int(float v, int lo, int hi) {
    const int i = (int)roundf(v);
    return i < lo ? lo : i > hi ? hi : i;
}

/* The 4-bit fit of one sub-block: x_l ≈ scale · q_l - min with q_l in 0..15, min >= 0,
 * minimizing Σ w_l (scale · q_l - min - x_l)² with w_l = rms(x) + |x_l| (larger values count
 * more, as in ggml's make_qkx2_quants). Levels from each of 21 trial scales around 15 / range;
 * for each, the best scale and min of those levels by least squares; the best fit wins. */
static void fit_sub_block(const float *x, float *scale_out, float *min_out) {
    enum { N = 32, NMAX = 15, STEPS = 20 };
    float lo = x[0], hi = x[0], sum_x2 = 0.0f;
    for (int l = 0; l < N; l++) {
        lo = fminf(lo, x[l]);
        hi = fmaxf(hi, x[l]);
        sum_x2 += x[l] * x[l];
    }
    if (lo > 0.0f) lo = 0.0f; /* min >= 0: the levels start at or below zero */
    if (hi == lo) {
        *scale_out = 0.0f, *min_out = -lo;
        return;
    }
    const float rms = sqrtf(sum_x2 / N);
    float w[N];
    for (int l = 0; l < N; l++) w[l] = rms + fabsf(x[l]);
    float best_scale = (hi - lo) / NMAX, best_min = -lo, best_err = INFINITY;
    for (int step = 0; step <= STEPS; step++) {
        const float inv = (NMAX - 1.0f + 0.1f * (float)step) / (hi - lo);
        float sw = 0, sq = 0, sq2 = 0, sx = 0, sqx = 0;
        int q[N];
        for (int l = 0; l < N; l++) {
            q[l] = clamp_int(inv * (x[l] - lo), 0, NMAX);
            sw += w[l], sq += w[l] * q[l], sq2 += w[l] * q[l] * q[l];
            sx += w[l] * x[l], sqx += w[l] * q[l] * x[l];
        }
        const float det = sw * sq2 - sq * sq;
        if (det <= 0.0f) continue;
        float scale = (sw * sqx - sq * sx) / det, offset = (sq2 * sx - sq * sqx) / det;
        if (offset > 0.0f) { /* min must be >= 0: fit the scale alone */
            offset = 0.0f;
            scale = sqx / sq2;
        }
        if (!(scale > 0.0f)) continue;
        float err = 0.0f;
        for (int l = 0; l < N; l++) {
            const float d = scale * (float)q[l] + offset - x[l];
            err += w[l] * d * d;
        }
        if (err < best_err) best_err = err, best_scale = scale, best_min = -offset;
    }
    *scale_out = best_scale, *min_out = best_min;
}

/* x (n,) -> n/256 q4_K blocks (see the header comment for the fit). */
static void quantize_row_q4_k(const float *x, uint64_t n, uint8_t *out) {
    for (uint64_t b = 0; b < n / Q4_K_BLOCK; b++) {
        const float *xb = x + b * Q4_K_BLOCK;
        uint8_t *ob = out + b * Q4_K_BLOCK_BYTES;
        float scale[8], min[8], max_scale = 0.0f, max_min = 0.0f;
        for (int s = 0; s < 8; s++) {
            fit_sub_block(xb + 32 * s, &scale[s], &min[s]);
            max_scale = fmaxf(max_scale, scale[s]);
            max_min = fmaxf(max_min, min[s]);
        }
        const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
        const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
        uint8_t *scales = ob + 4, *qs = ob + 16;
        memset(scales, 0, 12);
        for (int s = 0; s < 8; s++)
            pack_q4_k_scale_min(scales, s, clamp_int(inv_scale * scale[s], 0, 63),
                                clamp_int(inv_min * min[s], 0, 63));
        const uint16_t d_bits = pa_f32_to_f16(max_scale / 63.0f);
        const uint16_t dmin_bits = pa_f32_to_f16(max_min / 63.0f);
        store_u16(ob, d_bits);
        store_u16(ob + 2, dmin_bits);
        /* the nibbles fit the scales as they will be read back */
        uint8_t nibble[Q4_K_BLOCK];
        for (int s = 0; s < 8; s++) {
            int sc, m;
            unpack_q4_k_scale_min(scales, s, &sc, &m);
            const float d = pa_f16_to_f32(d_bits) * (float)sc;
            const float dm = pa_f16_to_f32(dmin_bits) * (float)m;
            for (int l = 0; l < 32; l++)
                nibble[32 * s + l] =
                    (uint8_t)(d > 0.0f ? clamp_int((xb[32 * s + l] + dm) / d, 0, 15) : 0);
        }
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                qs[32 * c + l] = (uint8_t)(nibble[64 * c + l] | nibble[64 * c + 32 + l] << 4);
    }
}

/* x (n,) f32 -> the bytes of one row of `type`. */
static void encode_row(uint32_t type, const float *x, uint64_t n, uint8_t *out) {
    switch (type) {
    case GGML_F16:
        for (uint64_t i = 0; i < n; i++) store_u16(out + 2 * i, pa_f32_to_f16(x[i]));
        break;
    case GGML_BF16:
        for (uint64_t i = 0; i < n; i++) store_u16(out + 2 * i, pa_f32_to_bf16(x[i]));
        break;
    case GGML_Q8_0: quantize_row_q8_0(x, n, out); break;
    case GGML_Q4_0: quantize_row_q4_0(x, n, out); break;
    case GGML_Q4_K: quantize_row_q4_k(x, n, out); break;
    default:
        for (uint64_t i = 0; i < n; i++) store_u32(out + 4 * i, pa_bits_from_f32(x[i]));
        break;
    }
}

static void write_tensor_data(writer *w, const tensor_desc *t, uint64_t seed, float *row,
                              uint8_t *row_out) {
    const bool is_norm = t->n_dims == 1;
    rng r = rng_for_tensor(seed, t->name);
    for (uint64_t i = 0; i < t->ne[1]; i++) {
        for (uint64_t j = 0; j < t->ne[0]; j++)
            row[j] = is_norm ? 1.0f + 0.01f * rng_normal(&r) : 0.02f * rng_normal(&r);
        encode_row(t->type, row, t->ne[0], row_out);
        put_bytes(w, row_out, (size_t)row_bytes(t->type, t->ne[0]));
    }
    put_padding(w);
}

/* Removes what a failed write left at `path`, only if it is a regular file: the output may
 * as well be a device or a pipe, which must survive. */
static void remove_partial_file(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) remove(path);
}

static void write_model(const char *path, const options *o, const tensor_list *tensors) {
    writer w = {.file = fopen(path, "wb")};
    if (!w.file) fail("%s: cannot open for writing: %s", path, strerror(errno));

    uint64_t max_row = 0;
    for (size_t i = 0; i < tensors->count; i++)
        if (tensors->items[i].ne[0] > max_row) max_row = tensors->items[i].ne[0];
    float *row = malloc(max_row * sizeof *row);
    uint8_t *row_out = malloc(max_row * sizeof(float));
    if (!row || !row_out) fail("out of memory");

    write_header(&w, o, tensors);
    const uint64_t data_start = w.pos;
    for (size_t i = 0; i < tensors->count && !w.failed; i++) {
        if (w.pos - data_start != tensors->items[i].offset) fail("internal: offset mismatch");
        write_tensor_data(&w, &tensors->items[i], o->seed, row, row_out);
    }
    free(row);
    free(row_out);

    const bool closed = fclose(w.file) == 0;
    if (w.failed || !closed) {
        const int error = w.failed ? w.write_errno : errno;
        remove_partial_file(path);
        fail("%s: write failed: %s", path, strerror(error));
    }
}

int main(int argc, char **argv) {
    const options o = parse_options(argc, argv);
    tensor_list tensors = build_tensor_list(&o);
    write_model(o.out_path, &o, &tensors);

    const tensor_desc *last = &tensors.items[tensors.count - 1];
    const uint64_t data_bytes = align_up(last->offset + tensor_bytes(last));
    /* stderr, so that -o /dev/stdout gives a clean file */
    fprintf(stderr, "%s: %" PRIu64 " params, %zu tensors, %s, %.2f MiB of tensor data\n",
            o.out_path, count_params(&tensors), tensors.count, o.type->name,
            (double)data_bytes / (1024.0 * 1024.0));
    free(tensors.items);
    return 0;
}
