/*
 * Internals shared by the tokenizer's three files:
 *  - tokenizer.c      load and validation, the vocabulary index, special-token splitting, the
 *                     encode driver, decode, and the pair-merging engine both algorithms use;
 *  - tokenizer_spm.c  SentencePiece-style merging by score ("llama");
 *  - tokenizer_bpe.c  GPT-2 byte-level BPE: byte map, ranked merges, PCRE2 pre-tokenizer ("gpt2").
 *
 * Everything here is immutable after pa_tokenizer_load returns; encode allocates its own scratch,
 * so one tokenizer serves many threads at once.
 */
#ifndef PA_MODEL_TOKENIZER_INTERNAL_H
#define PA_MODEL_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer.h"

/* ------------------------------------------------------------------------------------------------
 * The tokenizer object
 * ---------------------------------------------------------------------------------------------- */

enum pa_vocab_kind { PA_VOCAB_SPM, PA_VOCAB_BPE };

typedef struct pa_token_info {
    size_t text_off;  /* token text in tok->strings (as in the GGUF; "[EMPTY_<id>]" if empty) */
    size_t text_len;
    size_t piece_off; /* bytes the token decodes to, in tok->strings */
    size_t piece_len;
    float score;      /* SPM merge priority: the higher, the earlier two symbols merge into it */
    uint8_t type;     /* pa_token_type; values the GGUF gives outside 0..6 read as UNDEFINED */
    bool is_eog;      /* ends a generation */
} pa_token_info;

/* Open-addressing hash table (linear probing, power-of-two capacity, at most half full) from a
 * byte-string key to an int32 value >= 0. Keys are not stored: a slot holds the value and the
 * key's hash, and the caller's `matches` callback says whether a value's key is the one sought. */
typedef struct pa_str_index {
    uint32_t *hashes; /* 32 bits of the key's hash, to skip most key compares */
    int32_t *values;  /* -1: empty slot */
    size_t mask;      /* capacity - 1 */
} pa_str_index;

typedef bool (*pa_key_matches_fn)(const void *key, int32_t value);

bool pa_str_index_init(pa_str_index *index, size_t n_values); /* false when out of memory */
void pa_str_index_free(pa_str_index *index);
/* The value whose key matches, or -1. */
int32_t pa_str_index_find(const pa_str_index *index, uint64_t hash, pa_key_matches_fn matches,
                          const void *key);
/* Inserts `value` unless a value with a matching key is there; returns that value, else -1. */
int32_t pa_str_index_insert(pa_str_index *index, uint64_t hash, int32_t value,
                            pa_key_matches_fn matches, const void *key);

/* BPE merge table: merge r (its rank; lower ranks merge first) joins a left and a right part. */
typedef struct pa_merges {
    char *text;         /* every merge's "left right" text, back to back */
    size_t *offsets;    /* [n] start of merge r in text */
    uint32_t *left_len; /* [n] bytes of the left part (0: no space in it, never applied) */
    uint32_t *right_len; /* [n] bytes of the right part, after the separating space */
    size_t n;
    pa_str_index index; /* (left, right) -> rank; the first of duplicate pairs wins */
} pa_merges;

struct pa_tokenizer {
    enum pa_vocab_kind kind;
    int32_t n_vocab;
    pa_token_info *tokens; /* [n_vocab] */
    char *strings;         /* token texts and pieces, one allocation */
    pa_str_index vocab;    /* token text -> id */

    int32_t bos, eos, unk; /* -1 if none */
    bool add_bos, add_eos;
    bool add_space_prefix; /* SPM dummy prefix (and the space decode may strip) */

    int32_t *special_ids;  /* control, user-defined and unknown tokens, longest text first */
    size_t n_special;

    /* SPM */
    int32_t byte_tokens[256]; /* byte fallback: <0xXX>, else the 1-byte token, else unk, else -1 */
    bool words_merge_alone;   /* no token has U+2581 right after another character */

    /* BPE */
    pcre2_code *pretokenizer; /* split regex, compiled once with PCRE2_UTF | PCRE2_UCP */
    bool ignore_merges;       /* llama3: a pre-tokenized word that is a token is emitted as is */
    pa_merges merges;
    char byte_utf8[256][2];   /* GPT-2 byte map: byte -> UTF-8 of its printable code point */
    uint8_t byte_utf8_len[256];
};

/* ------------------------------------------------------------------------------------------------
 * Helpers (tokenizer.c)
 * ---------------------------------------------------------------------------------------------- */

/* 64-bit hash of n bytes, chained: pa_hash_bytes(h, b, n) continues hash h over b. */
#define PA_HASH_SEED 0xcbf29ce484222325ull
uint64_t pa_hash_bytes(uint64_t h, const char *bytes, size_t n);

/* Id of the token whose text is exactly `len` bytes at `text`, or -1. */
int32_t pa_vocab_find(const pa_tokenizer *tok, const char *text, size_t len);

/* Growable array of output ids. */
typedef struct pa_token_buf {
    int32_t *ids;
    size_t n, cap;
} pa_token_buf;

bool pa_token_buf_push(pa_token_buf *buf, int32_t id); /* false when out of memory */

/* ------------------------------------------------------------------------------------------------
 * Pair merging (tokenizer.c), the loop SPM and BPE share
 *
 * A word is split into one symbol per UTF-8 character, linked in a list. Every adjacent pair that
 * may merge goes into a max-heap keyed by its priority (SPM: the merged token's score; BPE: the
 * merge's rank, lowest first); ties go to the leftmost pair. The top pair is merged (the right
 * symbol is folded into the left one) unless it is stale, and the new neighbour pairs are
 * pushed. A pair is stale when either symbol was folded away or grew since: both are caught by
 * comparing the pair's byte size with the symbols' current sizes.
 * ---------------------------------------------------------------------------------------------- */

typedef struct pa_symbol {
    int32_t prev, next; /* neighbours in the list, -1 at the ends */
    uint32_t off, n;    /* bytes of the word it covers; n == 0 once merged into its left */
} pa_symbol;

typedef struct pa_bigram {
    uint64_t order; /* priority << 32 | (UINT32_MAX - left): the largest pops first */
    int32_t right;
    uint32_t size;  /* bytes of left + right when pushed */
} pa_bigram;

/* Scratch reused across the words of one encode call. The heap never holds more than 2n - 2
 * pairs for n symbols: n - 1 seeds, then every pop that merges pushes at most two. */
typedef struct pa_merge_scratch {
    pa_symbol *symbols; /* [cap] */
    pa_bigram *heap;    /* [2 * cap] */
    size_t n_heap;
    size_t cap;         /* symbols (UTF-8 characters) the largest word may have */
} pa_merge_scratch;

/* Priority of merging `left_n` bytes at `left` with the `right_n` bytes that follow them (larger
 * merges first); false when the pair may not merge. */
typedef bool (*pa_pair_priority_fn)(const pa_tokenizer *tok, const char *left, uint32_t left_n,
                                    uint32_t right_n, uint32_t *priority);

bool pa_merge_scratch_reserve(pa_merge_scratch *scratch, size_t max_symbols);
void pa_merge_scratch_free(pa_merge_scratch *scratch);

/* Splits the `len` bytes of valid UTF-8 at `word` (at most scratch->cap characters) into
 * symbols and merges them. The result is the list that starts at scratch->symbols[0], which is
 * never merged away. */
void pa_merge_word(const pa_tokenizer *tok, const char *word, uint32_t len,
                   pa_pair_priority_fn priority, pa_merge_scratch *scratch);

/* ------------------------------------------------------------------------------------------------
 * The two algorithms
 * ---------------------------------------------------------------------------------------------- */

/* SPM: fills the SPM-only fields (after the vocabulary is built). */
void pa_spm_prepare(pa_tokenizer *tok);

/* SPM: tokenizes one fragment (valid UTF-8, no special tokens), with the dummy-prefix space
 * first when `add_prefix`. */
pyagent_status pa_spm_encode(const pa_tokenizer *tok, const char *text, size_t len,
                             bool add_prefix, pa_token_buf *out, pa_err *err);

/* BPE: reads tokenizer.ggml.pre and tokenizer.ggml.merges into tok (after the vocab is built). */
pyagent_status pa_bpe_load(pa_tokenizer *tok, const gguf_file *gguf, pa_err *err);
void pa_bpe_free(pa_tokenizer *tok);

/* BPE: the bytes a NORMAL token's text stands for (GPT-2 byte map undone) into `out`, which has
 * room for text_len bytes; returns the count. Characters outside the map are copied as they are. */
size_t pa_bpe_unmap_text(const char *text, size_t text_len, char *out);

/* BPE: tokenizes one fragment (valid UTF-8, no special tokens). */
pyagent_status pa_bpe_encode(const pa_tokenizer *tok, const char *text, size_t len,
                             pa_token_buf *out, pa_err *err);

#endif
