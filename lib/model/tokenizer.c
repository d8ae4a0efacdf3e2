/*
 * Tokenizer: load from GGUF metadata, encode driver, decode. Follows llama.cpp's llama-vocab.cpp
 * (commit c392e50) so that ids match its test vectors exactly.
 *
 * Load copies the vocabulary into one allocation (`strings`: every token's text, then every
 * token's piece, i.e. the bytes it decodes to) and indexes the texts in an open-addressing hash
 * table. Invariants after load: texts are unique (duplicates are BAD_MODEL), every special id
 * (bos/eos/unk) is -1 or in [0, n_vocab), and add_bos/add_eos imply the id exists.
 *
 * Encode:
 *  1. The input must be valid UTF-8 (INVALID_UTF8 names the first bad byte).
 *  2. Special tokens are cut out first, as llama.cpp's tokenizer_st_partition does: special
 *     tokens are tried longest text first, and each claims, left to right, its occurrences that
 *     do not overlap text claimed before. So "XYZW" with specials XY and YZW gives X, YZW: the
 *     longest wins, not the leftmost. User-defined tokens are always cut out (as in llama.cpp
 *     and HF tokenizers); control and unknown tokens only with PARSE_SPECIAL. Special texts
 *     are valid UTF-8 (others are left out at load), so the text between stays valid UTF-8.
 *  3. Each text fragment between them goes to the SPM or BPE algorithm; the SPM dummy prefix
 *     goes before the first fragment and before every fragment that follows a special token.
 *  4. BOS/EOS around it all with ADD_SPECIAL.
 *
 * Decode concatenates the precomputed pieces; control and unknown tokens count only with
 * DECODE_SPECIAL.
 */
#include "tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MODEL       "tokenizer.ggml.model"
#define KEY_TOKENS      "tokenizer.ggml.tokens"
#define KEY_SCORES      "tokenizer.ggml.scores"
#define KEY_TOKEN_TYPE  "tokenizer.ggml.token_type"
#define KEY_BOS_ID      "tokenizer.ggml.bos_token_id"
#define KEY_EOS_ID      "tokenizer.ggml.eos_token_id"
#define KEY_UNK_ID      "tokenizer.ggml.unknown_token_id"
#define KEY_EOT_ID      "tokenizer.ggml.eot_token_id"
#define KEY_EOM_ID      "tokenizer.ggml.eom_token_id"
#define KEY_ADD_BOS     "tokenizer.ggml.add_bos_token"
#define KEY_ADD_EOS     "tokenizer.ggml.add_eos_token"
#define KEY_ADD_PREFIX  "tokenizer.ggml.add_space_prefix"

/* Inputs above this are refused: symbol indices and sizes stay in 32 bits even after the SPM
 * escape (' ' -> 3 bytes) triples the text. */
#define MAX_TEXT_BYTES ((size_t)INT32_MAX / 4)

/* Token texts llama.cpp (c392e50) treats as end-of-generation whatever the metadata says; it
 * also forces them to CONTROL. */
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
    "<EOT>", "_<EOT>",
};

/* ================================================================================================
 * Hashing and the string index
 * ============================================================================================== */

uint64_t pa_hash_bytes(uint64_t h, const char *bytes, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)bytes[i];
        h *= 0x100000001b3ull; /* FNV-1a */
    }
    return h;
}

/* Spreads FNV's weak low bits before they pick a slot (murmur3's finalizer). */
static uint64_t mix_hash(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

bool pa_str_index_init(pa_str_index *index, size_t n_values) {
    size_t capacity = 16;
    while (capacity < 2 * n_values) capacity *= 2;
    index->hashes = malloc(capacity * sizeof *index->hashes);
    index->values = malloc(capacity * sizeof *index->values);
    index->mask = capacity - 1;
    if (!index->hashes || !index->values) return false;
    for (size_t i = 0; i < capacity; i++) index->values[i] = -1;
    return true;
}

void pa_str_index_free(pa_str_index *index) {
    free(index->hashes);
    free(index->values);
    index->hashes = NULL;
    index->values = NULL;
}

int32_t pa_str_index_find(const pa_str_index *index, uint64_t hash, pa_key_matches_fn matches,
                          const void *key) {
    uint64_t mixed = mix_hash(hash);
    uint32_t tag = (uint32_t)mixed;
    for (size_t slot = (size_t)(mixed >> 32) & index->mask;; slot = (slot + 1) & index->mask) {
        int32_t value = index->values[slot];
        if (value < 0) return -1;
        if (index->hashes[slot] == tag && matches(key, value)) return value;
    }
}

int32_t pa_str_index_insert(pa_str_index *index, uint64_t hash, int32_t value,
                            pa_key_matches_fn matches, const void *key) {
    uint64_t mixed = mix_hash(hash);
    uint32_t tag = (uint32_t)mixed;
    for (size_t slot = (size_t)(mixed >> 32) & index->mask;; slot = (slot + 1) & index->mask) {
        int32_t present = index->values[slot];
        if (present < 0) {
            index->values[slot] = value;
            index->hashes[slot] = tag;
            return -1;
        }
        if (index->hashes[slot] == tag && matches(key, present)) return present;
    }
}

/* ================================================================================================
 * Vocabulary lookup
 * ============================================================================================== */

typedef struct vocab_key {
    const pa_tokenizer *tok;
    const char *text;
    size_t len;
} vocab_key;

static bool token_text_matches(const void *key, int32_t id) {
    const vocab_key *k = key;
    const pa_token_info *t = &k->tok->tokens[id];
    return t->text_len == k->len && memcmp(k->tok->strings + t->text_off, k->text, k->len) == 0;
}

int32_t pa_vocab_find(const pa_tokenizer *tok, const char *text, size_t len) {
    vocab_key key = {tok, text, len};
    return pa_str_index_find(&tok->vocab, pa_hash_bytes(PA_HASH_SEED, text, len),
                             token_text_matches, &key);
}

bool pa_token_buf_push(pa_token_buf *buf, int32_t id) {
    if (buf->n == buf->cap) {
        size_t cap = buf->cap ? 2 * buf->cap : 64;
        int32_t *ids = realloc(buf->ids, cap * sizeof *ids);
        if (!ids) return false;
        buf->ids = ids;
        buf->cap = cap;
    }
    buf->ids[buf->n++] = id;
    return true;
}

/* ================================================================================================
 * UTF-8
 * ============================================================================================== */

/* Offset of the first byte that does not start a well-formed UTF-8 sequence (no overlongs, no
 * surrogates, nothing above U+10FFFF), or len when all of it is valid. */
static size_t utf8_invalid_offset(const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            if (c == 0xE0) lo = 0xA0;      /* overlong */
            if (c == 0xED) hi = 0x9F;      /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            if (c == 0xF0) lo = 0x90;      /* overlong */
            if (c == 0xF4) hi = 0x8F;      /* above U+10FFFF */
        } else {
            return i;
        }
        if (len - i < n || s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
        }
        i += n;
    }
    return len;
}

static uint32_t utf8_char_len(unsigned char lead) {
    static const uint8_t by_high_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return by_high_nibble[lead >> 4];
}

/* ================================================================================================
 * Pair merging (shared by SPM and BPE; see tokenizer_internal.h)
 * ============================================================================================== */

bool pa_merge_scratch_reserve(pa_merge_scratch *scratch, size_t max_symbols) {
    if (max_symbols <= scratch->cap) return true;
    pa_merge_scratch_free(scratch);
    /* one block: the heap first (8-byte aligned entries), then the symbols */
    size_t heap_bytes = 2 * max_symbols * sizeof(pa_bigram);
    char *block = malloc(heap_bytes + max_symbols * sizeof(pa_symbol));
    if (!block) return false;
    scratch->heap = (pa_bigram *)block;
    scratch->symbols = (pa_symbol *)(block + heap_bytes);
    scratch->cap = max_symbols;
    return true;
}

void pa_merge_scratch_free(pa_merge_scratch *scratch) {
    free(scratch->heap);
    scratch->heap = NULL;
    scratch->symbols = NULL;
    scratch->cap = 0;
    scratch->n_heap = 0;
}

/* True when a should be popped before b: higher priority, then the leftmost. */
static bool bigram_before(const pa_bigram *a, const pa_bigram *b) {
    return a->order > b->order;
}

static int32_t bigram_left(const pa_bigram *bigram) {
    return (int32_t)(UINT32_MAX - (uint32_t)bigram->order);
}

static void heap_push(pa_merge_scratch *s, pa_bigram bigram) {
    size_t i = s->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bigram_before(&bigram, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = bigram;
}

static pa_bigram heap_pop(pa_merge_scratch *s) {
    pa_bigram top = s->heap[0];
    pa_bigram last = s->heap[--s->n_heap];
    size_t n = s->n_heap, i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && bigram_before(&s->heap[child + 1], &s->heap[child])) child++;
        if (!bigram_before(&s->heap[child], &last)) break;
        s->heap[i] = s->heap[child];
        i = child;
    }
    if (n > 0) s->heap[i] = last;
    return top;
}

static void push_pair_if_mergeable(const pa_tokenizer *tok, const char *word,
                                   pa_pair_priority_fn priority, pa_merge_scratch *s,
                                   int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const pa_symbol *l = &s->symbols[left], *r = &s->symbols[right];
    uint32_t rank;
    if (!priority(tok, word + l->off, l->n, r->n, &rank)) return;
    pa_bigram bigram = {(uint64_t)rank << 32 | (UINT32_MAX - (uint32_t)left), right, l->n + r->n};
    heap_push(s, bigram);
}

void pa_merge_word(const pa_tokenizer *tok, const char *word, uint32_t len,
                   pa_pair_priority_fn priority, pa_merge_scratch *scratch) {
    pa_symbol *symbols = scratch->symbols;
    int32_t n_symbols = 0;
    for (uint32_t off = 0; off < len;) {
        uint32_t n = utf8_char_len((unsigned char)word[off]);
        if (n > len - off) n = len - off;
        int32_t next = off + n == len ? -1 : n_symbols + 1;
        symbols[n_symbols] = (pa_symbol){n_symbols - 1, next, off, n};
        n_symbols++;
        off += n;
    }

    scratch->n_heap = 0;
    for (int32_t i = 1; i < n_symbols; i++) {
        push_pair_if_mergeable(tok, word, priority, scratch, i - 1, i);
    }
    while (scratch->n_heap > 0) {
        pa_bigram bigram = heap_pop(scratch);
        int32_t left_index = bigram_left(&bigram);
        pa_symbol *left = &symbols[left_index], *right = &symbols[bigram.right];
        if (left->n == 0 || right->n == 0 || left->n + right->n != bigram.size) continue;

        left->n += right->n;
        right->n = 0;
        left->next = right->next;
        if (right->next >= 0) symbols[right->next].prev = left_index;

        push_pair_if_mergeable(tok, word, priority, scratch, left->prev, left_index);
        push_pair_if_mergeable(tok, word, priority, scratch, left_index, left->next);
    }
}

/* ================================================================================================
 * Load: metadata
 * ============================================================================================== */

static bool is_integer_type(uint32_t type) {
    switch (type) {
    case GGUF_TYPE_U8: case GGUF_TYPE_I8: case GGUF_TYPE_U16: case GGUF_TYPE_I16:
    case GGUF_TYPE_U32: case GGUF_TYPE_I32: case GGUF_TYPE_U64: case GGUF_TYPE_I64:
        return true;
    default:
        return false;
    }
}

static bool is_signed_type(uint32_t type) {
    return type == GGUF_TYPE_I8 || type == GGUF_TYPE_I16 || type == GGUF_TYPE_I32 ||
           type == GGUF_TYPE_I64;
}

/* A special-token id key. A default outside the vocabulary becomes "none"; a value in the file
 * outside the vocabulary is ignored (llama.cpp logs "bad special token" and keeps the default). */
static pyagent_status read_special_id(const gguf_file *gguf, const char *key, int32_t n_vocab,
                                      int32_t *id, pa_err *err) {
    if (*id >= n_vocab) *id = -1;
    const gguf_kv *kv = gguf_find_kv(gguf, key);
    if (!kv) return PYAGENT_OK;
    if (!is_integer_type(kv->type)) {
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "key '%s' must be an integer", key);
    }
    if (is_signed_type(kv->type)) {
        if (kv->v.i64 >= 0 && kv->v.i64 < n_vocab) *id = (int32_t)kv->v.i64;
    } else {
        if (kv->v.u64 < (uint64_t)n_vocab) *id = (int32_t)kv->v.u64;
    }
    return PYAGENT_OK;
}

/* A per-token array (scores, token types): absent is fine, else it must be an array of one of
 * the two element types with exactly n_vocab elements. */
static pyagent_status find_per_token_array(const gguf_file *gguf, const char *key,
                                           uint32_t elem_type, uint32_t alt_elem_type,
                                           int32_t n_vocab, const gguf_kv **out, pa_err *err) {
    const gguf_kv *kv = gguf_find_kv(gguf, key);
    *out = NULL;
    if (!kv) return PYAGENT_OK;
    if (kv->type != GGUF_TYPE_ARRAY ||
        (kv->v.arr.elem_type != elem_type && kv->v.arr.elem_type != alt_elem_type)) {
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "key '%s' has the wrong type", key);
    }
    if (kv->v.arr.count != (uint64_t)n_vocab) {
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL,
                       "key '%s' has %llu elements, but there are %d tokens", key,
                       (unsigned long long)kv->v.arr.count, n_vocab);
    }
    *out = kv;
    return PYAGENT_OK;
}

static float score_at(const gguf_kv *scores, int32_t i) {
    if (!scores) return 0.0f;
    const char *p = (const char *)scores->v.arr.data + 4 * (size_t)i;
    if (scores->v.arr.elem_type == GGUF_TYPE_I32) {
        int32_t v;
        memcpy(&v, p, sizeof v);
        return (float)v;
    }
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint8_t token_type_at(const gguf_kv *types, int32_t i) {
    if (!types) return PA_TOKEN_NORMAL;
    int32_t v;
    memcpy(&v, (const char *)types->v.arr.data + 4 * (size_t)i, sizeof v);
    return v >= PA_TOKEN_UNDEFINED && v <= PA_TOKEN_BYTE ? (uint8_t)v : PA_TOKEN_UNDEFINED;
}

static pyagent_status read_kind(const gguf_file *gguf, pa_tokenizer *tok, pa_err *err) {
    gguf_str model;
    pyagent_status st = gguf_get_str(gguf, KEY_MODEL, &model, err);
    if (st != PYAGENT_OK) return st;
    if (gguf_str_eq(model, "llama")) {
        tok->kind = PA_VOCAB_SPM;
    } else if (gguf_str_eq(model, "gpt2")) {
        tok->kind = PA_VOCAB_BPE;
    } else {
        int shown = model.len > 64 ? 64 : (int)model.len;
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                       "unsupported tokenizer '%.*s' (key '" KEY_MODEL "'; supported: llama, gpt2)",
                       shown, model.data);
    }
    return PYAGENT_OK;
}

/* ================================================================================================
 * Load: vocabulary
 * ============================================================================================== */

/* Bytes token `i`'s text takes in `strings` ("[EMPTY_<i>]" replaces an empty text, as in
 * llama.cpp, so that every text is unique and non-empty). */
static size_t stored_text_len(gguf_str text, int32_t i) {
    return text.len > 0 ? (size_t)text.len : (size_t)snprintf(NULL, 0, "[EMPTY_%d]", (int)i);
}

/* Copies texts, scores and types in, indexes the texts, and leaves room for the pieces after
 * the texts (a piece is never longer than its text). */
static pyagent_status build_vocab(pa_tokenizer *tok, const gguf_kv *texts, const gguf_kv *scores,
                                  const gguf_kv *types, pa_err *err) {
    int32_t n = tok->n_vocab;
    size_t texts_bytes = 0;
    for (int32_t i = 0; i < n; i++) texts_bytes += stored_text_len(texts->v.arr.strings[i], i);

    tok->tokens = calloc((size_t)n, sizeof *tok->tokens);
    tok->strings = malloc(2 * texts_bytes + 1);
    if (!tok->tokens || !tok->strings || !pa_str_index_init(&tok->vocab, (size_t)n)) {
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory loading %d tokens", n);
    }

    size_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        gguf_str text = texts->v.arr.strings[i];
        pa_token_info *t = &tok->tokens[i];
        t->text_off = off;
        t->text_len = stored_text_len(text, i);
        if (text.len > 0) {
            memcpy(tok->strings + off, text.data, t->text_len);
        } else {
            snprintf(tok->strings + off, t->text_len + 1, "[EMPTY_%d]", (int)i);
        }
        off += t->text_len;
        t->score = score_at(scores, i);
        t->type = token_type_at(types, i);

        vocab_key key = {tok, tok->strings + t->text_off, t->text_len};
        int32_t other = pa_str_index_insert(&tok->vocab,
                                            pa_hash_bytes(PA_HASH_SEED, key.text, key.len), i,
                                            token_text_matches, &key);
        if (other >= 0) {
            int shown = t->text_len > 64 ? 64 : (int)t->text_len;
            return pa_fail(err, PYAGENT_ERR_BAD_MODEL,
                           "duplicate token in vocabulary: '%.*s' has ids %d and %d (key '"
                           KEY_TOKENS "')", shown, key.text, (int)other, (int)i);
        }
    }
    return PYAGENT_OK;
}

static bool is_special_type(uint8_t type) {
    return type == PA_TOKEN_CONTROL || type == PA_TOKEN_USER_DEFINED || type == PA_TOKEN_UNKNOWN;
}

/* Only control and unknown tokens hide behind the DECODE_SPECIAL / PARSE_SPECIAL flags. */
static bool is_hidden_type(uint8_t type) {
    return type == PA_TOKEN_CONTROL || type == PA_TOKEN_UNKNOWN;
}

static void mark_eog_tokens(pa_tokenizer *tok, int32_t eot, int32_t eom) {
    for (size_t i = 0; i < sizeof eog_texts / sizeof *eog_texts; i++) {
        int32_t id = pa_vocab_find(tok, eog_texts[i], strlen(eog_texts[i]));
        if (id < 0) continue;
        tok->tokens[id].is_eog = true;
        tok->tokens[id].type = PA_TOKEN_CONTROL;
    }
    const int32_t named[] = {tok->eos, eot, eom};
    for (size_t i = 0; i < sizeof named / sizeof *named; i++) {
        if (named[i] >= 0) tok->tokens[named[i]].is_eog = true;
    }
}

static pyagent_status read_special_tokens(pa_tokenizer *tok, const gguf_file *gguf, pa_err *err) {
    bool spm = tok->kind == PA_VOCAB_SPM;
    int32_t n = tok->n_vocab;
    int32_t eot = -1, eom = -1;
    tok->bos = spm ? 1 : 11;
    tok->eos = spm ? 2 : 11;
    tok->unk = spm ? 0 : -1;

    pyagent_status st;
    if ((st = read_special_id(gguf, KEY_BOS_ID, n, &tok->bos, err)) != PYAGENT_OK ||
        (st = read_special_id(gguf, KEY_EOS_ID, n, &tok->eos, err)) != PYAGENT_OK ||
        (st = read_special_id(gguf, KEY_UNK_ID, n, &tok->unk, err)) != PYAGENT_OK ||
        (st = read_special_id(gguf, KEY_EOT_ID, n, &eot, err)) != PYAGENT_OK ||
        (st = read_special_id(gguf, KEY_EOM_ID, n, &eom, err)) != PYAGENT_OK ||
        (st = gguf_get_bool_or(gguf, KEY_ADD_BOS, tok->add_bos, &tok->add_bos, err)) !=
            PYAGENT_OK ||
        (st = gguf_get_bool_or(gguf, KEY_ADD_EOS, false, &tok->add_eos, err)) != PYAGENT_OK) {
        return st;
    }
    if (tok->add_bos && tok->bos < 0) {
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL,
                       KEY_ADD_BOS " is true, but " KEY_BOS_ID " is not set");
    }
    if (tok->add_eos && tok->eos < 0) {
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL,
                       KEY_ADD_EOS " is true, but " KEY_EOS_ID " is not set");
    }
    mark_eog_tokens(tok, eot, eom);
    return PYAGENT_OK;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The byte a "<0xXX>" text names, or -1. */
static int byte_token_value(const char *text, size_t len) {
    if (len != 6 || memcmp(text, "<0x", 3) != 0 || text[5] != '>') return -1;
    int hi = hex_value(text[3]), lo = hex_value(text[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* SPM text with each U+2581 turned back into ' '. */
static size_t unescape_spaces(const char *text, size_t len, char *out) {
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (len - i >= 3 && memcmp(text + i, "\xE2\x96\x81", 3) == 0) {
            out[n++] = ' ';
            i += 3;
        } else {
            out[n++] = text[i++];
        }
    }
    return n;
}

/* Fills each token's piece after the texts in `strings`, as llama.cpp's token_to_piece with
 * special = true: special tokens give their text, NORMAL their decoded text, BYTE its byte, and
 * UNUSED / UNDEFINED nothing. */
static void build_pieces(pa_tokenizer *tok) {
    const pa_token_info *last = &tok->tokens[tok->n_vocab - 1];
    size_t off = last->text_off + last->text_len;
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        pa_token_info *t = &tok->tokens[i];
        const char *text = tok->strings + t->text_off;
        char *piece = tok->strings + off;
        size_t n = 0;
        int byte;
        if (is_special_type(t->type)) {
            memcpy(piece, text, t->text_len);
            n = t->text_len;
        } else if (t->type == PA_TOKEN_NORMAL) {
            n = tok->kind == PA_VOCAB_SPM ? unescape_spaces(text, t->text_len, piece)
                                          : pa_bpe_unmap_text(text, t->text_len, piece);
        } else if (t->type == PA_TOKEN_BYTE && (byte = byte_token_value(text, t->text_len)) >= 0) {
            piece[0] = (char)byte;
            n = 1;
        } else if (t->type == PA_TOKEN_BYTE) {
            memcpy(piece, text, t->text_len);
            n = t->text_len;
        }
        t->piece_off = off;
        t->piece_len = n;
        off += n;
    }
}

typedef struct special_entry {
    size_t text_len;
    int32_t id;
} special_entry;

/* Longest text first; ids break ties so the order does not depend on qsort. */
static int compare_special_entries(const void *a, const void *b) {
    const special_entry *x = a, *y = b;
    if (x->text_len != y->text_len) return x->text_len > y->text_len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Special tokens the encoder cuts out of the text. Texts that are not valid UTF-8 are left out:
 * cutting on them could split a character. */
static pyagent_status build_special_list(pa_tokenizer *tok, pa_err *err) {
    size_t count = 0;
    for (int32_t i = 0; i < tok->n_vocab; i++) count += is_special_type(tok->tokens[i].type);
    special_entry *entries = malloc((count ? count : 1) * sizeof *entries);
    tok->special_ids = malloc((count ? count : 1) * sizeof *tok->special_ids);
    if (!entries || !tok->special_ids) {
        free(entries);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    size_t n = 0;
    for (int32_t i = 0; i < tok->n_vocab; i++) {
        const pa_token_info *t = &tok->tokens[i];
        if (is_special_type(t->type) &&
            utf8_invalid_offset(tok->strings + t->text_off, t->text_len) == t->text_len) {
            entries[n++] = (special_entry){t->text_len, i};
        }
    }
    qsort(entries, n, sizeof *entries, compare_special_entries);
    for (size_t i = 0; i < n; i++) tok->special_ids[i] = entries[i].id;
    tok->n_special = n;
    free(entries);
    return PYAGENT_OK;
}

static pyagent_status load_into(pa_tokenizer *tok, const gguf_file *gguf, pa_err *err) {
    pyagent_status st = read_kind(gguf, tok, err);
    if (st != PYAGENT_OK) return st;

    const gguf_kv *texts, *scores, *types;
    if ((st = gguf_get_arr(gguf, KEY_TOKENS, GGUF_TYPE_STRING, &texts, err)) != PYAGENT_OK) {
        return st;
    }
    if (texts->v.arr.count == 0 || texts->v.arr.count > INT32_MAX) {
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "key '" KEY_TOKENS "' has %llu tokens",
                       (unsigned long long)texts->v.arr.count);
    }
    tok->n_vocab = (int32_t)texts->v.arr.count;
    if ((st = find_per_token_array(gguf, KEY_SCORES, GGUF_TYPE_F32, GGUF_TYPE_I32, tok->n_vocab,
                                   &scores, err)) != PYAGENT_OK ||
        (st = find_per_token_array(gguf, KEY_TOKEN_TYPE, GGUF_TYPE_I32, GGUF_TYPE_I32,
                                   tok->n_vocab, &types, err)) != PYAGENT_OK ||
        (st = build_vocab(tok, texts, scores, types, err)) != PYAGENT_OK) {
        return st;
    }

    bool spm = tok->kind == PA_VOCAB_SPM;
    tok->add_bos = spm; /* pa_bpe_load may change it (llama3) before the key overrides it */
    if ((st = gguf_get_bool_or(gguf, KEY_ADD_PREFIX, spm, &tok->add_space_prefix, err)) !=
        PYAGENT_OK) {
        return st;
    }
    if (!spm && (st = pa_bpe_load(tok, gguf, err)) != PYAGENT_OK) return st;
    if ((st = read_special_tokens(tok, gguf, err)) != PYAGENT_OK) return st;
    if (spm) pa_spm_prepare(tok);
    build_pieces(tok);
    return build_special_list(tok, err);
}

pyagent_status pa_tokenizer_load(const gguf_file *gguf, pa_tokenizer **out, pa_err *err) {
    if (!out) return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!gguf) return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "gguf is NULL");
    pa_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    pyagent_status st = load_into(tok, gguf, err);
    if (st != PYAGENT_OK) {
        pa_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return PYAGENT_OK;
}

void pa_tokenizer_free(pa_tokenizer *tok) {
    if (!tok) return;
    pa_bpe_free(tok);
    pa_str_index_free(&tok->vocab);
    free(tok->special_ids);
    free(tok->strings);
    free(tok->tokens);
    free(tok);
}

/* ================================================================================================
 * Accessors
 * ============================================================================================== */

int32_t pa_tokenizer_n_vocab(const pa_tokenizer *tok) { return tok->n_vocab; }
int32_t pa_tokenizer_bos(const pa_tokenizer *tok) { return tok->bos; }
int32_t pa_tokenizer_eos(const pa_tokenizer *tok) { return tok->eos; }
bool pa_tokenizer_adds_bos(const pa_tokenizer *tok) { return tok->add_bos; }

static bool is_valid_id(const pa_tokenizer *tok, int32_t id) {
    return id >= 0 && id < tok->n_vocab;
}

int32_t pa_tokenizer_token_type(const pa_tokenizer *tok, int32_t id) {
    return is_valid_id(tok, id) ? tok->tokens[id].type : PA_TOKEN_UNDEFINED;
}

bool pa_tokenizer_is_eog(const pa_tokenizer *tok, int32_t id) {
    return is_valid_id(tok, id) && tok->tokens[id].is_eog;
}

const char *pa_tokenizer_piece(const pa_tokenizer *tok, int32_t id, size_t *len) {
    if (!is_valid_id(tok, id)) {
        *len = 0;
        return "";
    }
    *len = tok->tokens[id].piece_len;
    return tok->strings + tok->tokens[id].piece_off;
}

/* ================================================================================================
 * Encode
 * ============================================================================================== */

/* First occurrence of needle in haystack[from, len), or len. */
static size_t find_bytes(const char *haystack, size_t len, size_t from, const char *needle,
                         size_t needle_len) {
    while (from + needle_len <= len) {
        const char *hit = memchr(haystack + from, needle[0], len - from - needle_len + 1);
        if (!hit) break;
        size_t at = (size_t)(hit - haystack);
        if (memcmp(hit, needle, needle_len) == 0) return at;
        from = at + 1;
    }
    return len;
}

static bool range_is_unclaimed(const int32_t *claims, size_t at, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (claims[at + i] != -1) return false;
    }
    return true;
}

/* Claims occurrences of special tokens in `text` (see the file comment). On success *claims is
 * NULL when none occurs, else a malloc'd [len] array: -1 plain text, >= 0 the id of a special
 * token that starts there, -2 the rest of its bytes. */
static pyagent_status claim_special_tokens(const pa_tokenizer *tok, const char *text, size_t len,
                                           bool parse_special, int32_t **claims, pa_err *err) {
    *claims = NULL;
    for (size_t s = 0; s < tok->n_special; s++) {
        int32_t id = tok->special_ids[s];
        const pa_token_info *t = &tok->tokens[id];
        if (!parse_special && is_hidden_type(t->type)) continue;
        const char *needle = tok->strings + t->text_off;
        for (size_t at = find_bytes(text, len, 0, needle, t->text_len); at < len;) {
            if (!*claims) {
                *claims = malloc(len * sizeof **claims);
                if (!*claims) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
                for (size_t i = 0; i < len; i++) (*claims)[i] = -1;
            }
            size_t next = at + 1;
            if (range_is_unclaimed(*claims, at, t->text_len)) {
                (*claims)[at] = id;
                for (size_t i = 1; i < t->text_len; i++) (*claims)[at + i] = -2;
                next = at + t->text_len;
            }
            at = find_bytes(text, len, next, needle, t->text_len);
        }
    }
    return PYAGENT_OK;
}

typedef struct encode_state {
    const pa_tokenizer *tok;
    bool prefix_next;   /* SPM: the next fragment gets the dummy-prefix space */
    pa_token_buf out;
} encode_state;

static pyagent_status encode_fragment(encode_state *state, const char *text, size_t len,
                                      pa_err *err) {
    if (state->tok->kind == PA_VOCAB_BPE) {
        return pa_bpe_encode(state->tok, text, len, &state->out, err);
    }
    bool add_prefix = state->tok->add_space_prefix && state->prefix_next;
    state->prefix_next = false;
    return pa_spm_encode(state->tok, text, len, add_prefix, &state->out, err);
}

static pyagent_status push_or_fail(encode_state *state, int32_t id, pa_err *err) {
    if (!pa_token_buf_push(&state->out, id)) {
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return PYAGENT_OK;
}

/* Walks the claims: runs of plain text are encoded, special tokens are pushed as they are. */
static pyagent_status encode_claimed_text(encode_state *state, const char *text, size_t len,
                                          const int32_t *claims, pa_err *err) {
    pyagent_status st = PYAGENT_OK;
    size_t i = 0;
    while (i < len && st == PYAGENT_OK) {
        if (claims[i] >= 0) {
            int32_t id = claims[i];
            st = push_or_fail(state, id, err);
            state->prefix_next = true;
            i += state->tok->tokens[id].text_len;
            continue;
        }
        size_t start = i;
        while (i < len && claims[i] == -1) i++;
        st = encode_fragment(state, text + start, i - start, err);
    }
    return st;
}

static pyagent_status encode_text(encode_state *state, const char *text, size_t len,
                                  unsigned flags, pa_err *err) {
    if (len == 0) return PYAGENT_OK;
    int32_t *claims;
    pyagent_status st = claim_special_tokens(state->tok, text, len,
                                             (flags & PA_ENCODE_PARSE_SPECIAL) != 0, &claims, err);
    if (st != PYAGENT_OK) return st;
    st = claims ? encode_claimed_text(state, text, len, claims, err)
                : encode_fragment(state, text, len, err);
    free(claims);
    return st;
}

pyagent_status pa_tokenizer_encode(const pa_tokenizer *tok, const char *text, size_t len,
                                   unsigned flags, int32_t **ids, size_t *n_ids, pa_err *err) {
    if (!tok || !ids || !n_ids || (!text && len > 0)) {
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "NULL argument to tokenizer encode");
    }
    *ids = NULL;
    *n_ids = 0;
    if (len > MAX_TEXT_BYTES) {
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "text of %zu bytes exceeds the %zu-byte limit", len, MAX_TEXT_BYTES);
    }
    size_t bad = utf8_invalid_offset(text, len);
    if (bad < len) {
        return pa_fail(err, PYAGENT_ERR_INVALID_UTF8, "invalid UTF-8 at byte offset %zu (0x%02X)",
                       bad, (unsigned)(unsigned char)text[bad]);
    }

    bool add_special = (flags & PA_ENCODE_ADD_SPECIAL) != 0;
    encode_state state = {tok, (flags & PA_ENCODE_NO_SPACE_PREFIX) == 0, {NULL, 0, 0}};
    pyagent_status st = PYAGENT_OK;
    if (add_special && tok->add_bos) st = push_or_fail(&state, tok->bos, err);
    if (st == PYAGENT_OK) st = encode_text(&state, text, len, flags, err);
    if (st == PYAGENT_OK && add_special && tok->add_eos) st = push_or_fail(&state, tok->eos, err);
    if (st != PYAGENT_OK) {
        free(state.out.ids);
        return st;
    }
    if (state.out.n == 0) {
        free(state.out.ids);
        state.out.ids = NULL;
    }
    *ids = state.out.ids;
    *n_ids = state.out.n;
    return PYAGENT_OK;
}

/* ================================================================================================
 * Decode
 * ============================================================================================== */

pyagent_status pa_tokenizer_decode(const pa_tokenizer *tok, const int32_t *ids, size_t n,
                                   unsigned flags, char *buf, size_t cap, size_t *needed,
                                   pa_err *err) {
    if (!tok || !needed || (!ids && n > 0) || (!buf && cap > 0)) {
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "NULL argument to tokenizer decode");
    }
    *needed = 0;
    bool strip_space = (flags & PA_DECODE_STRIP_LEADING_SPACE) && tok->add_space_prefix;
    bool show_special = (flags & PA_DECODE_SPECIAL) != 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_valid_id(tok, ids[i])) {
            return pa_fail(err, PYAGENT_ERR_INVALID_TOKEN,
                           "token id %d at position %zu is outside [0, %d)", (int)ids[i], i,
                           (int)tok->n_vocab);
        }
        const pa_token_info *t = &tok->tokens[ids[i]];
        if (!show_special && is_hidden_type(t->type)) continue;
        const char *piece = tok->strings + t->piece_off;
        size_t piece_len = t->piece_len;
        if (strip_space && piece_len > 0) {
            if (piece[0] == ' ') {
                piece++;
                piece_len--;
            }
            strip_space = false;
        }
        if (piece_len > 0 && total + piece_len <= cap) memcpy(buf + total, piece, piece_len);
        total += piece_len;
    }
    *needed = total;
    if (total > cap) {
        return pa_fail(err, PYAGENT_ERR_BUFFER_TOO_SMALL,
                       "decoded text needs %zu bytes, the buffer has %zu", total, cap);
    }
    return PYAGENT_OK;
}

int32_t pa_tokenizer_first_difference(const pa_tokenizer *a, const pa_tokenizer *b) {
    const int32_t n = a->n_vocab < b->n_vocab ? a->n_vocab : b->n_vocab;
    for (int32_t id = 0; id < n; id++) {
        size_t la, lb;
        const char *pa = pa_tokenizer_piece(a, id, &la), *pb = pa_tokenizer_piece(b, id, &lb);
        if (la != lb || memcmp(pa, pb, la) != 0 ||
            pa_tokenizer_token_type(a, id) != pa_tokenizer_token_type(b, id))
            return id;
    }
    return a->n_vocab == b->n_vocab ? -1 : n;
}
