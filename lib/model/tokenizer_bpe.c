/*
 * GPT-2 byte-level BPE ("gpt2" vocabularies), as llama.cpp's llm_tokenizer_bpe.
 *
 *  1. Pre-tokenize: the fragment is cut into words by the regex tokenizer.ggml.pre names (PCRE2,
 *     UTF + UCP, compiled and JIT-compiled once at load). Text between matches, if a regex ever
 *     leaves any, is a word of its own, as in llama.cpp's unicode_regex_split.
 *  2. Map each byte of a word to GPT-2's printable code point (bytes_to_unicode: printable
 *     Latin-1 bytes stand for themselves, the 68 others for U+0100..U+0143 in byte order). A
 *     mapped word has one character per byte, and every token text is written in this alphabet.
 *  3. Merge: adjacent symbols whose pair appears in tokenizer.ggml.merges are merged, lowest rank
 *     first (leftmost on ties): pa_merge_word with UINT32_MAX - rank as the priority. llama3-style
 *     pre-tokenizers skip this when the whole word already is a token (ignore_merges).
 *  4. Each final symbol is looked up in the vocabulary; one that is missing (only in vocabularies
 *     whose merges make non-tokens) falls back to its single-byte tokens, as llama.cpp does.
 *
 * The merge table maps the pair (left, right) to its rank. Its key is the merge's own text
 * "left right" (split at the first space after the first byte, as llama.cpp splits it), so
 * a lookup hashes left, a space and right without building the string.
 */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

#define KEY_PRE    "tokenizer.ggml.pre"
#define KEY_MERGES "tokenizer.ggml.merges"

/* ================================================================================================
 * Pre-tokenizer regexes (llama.cpp src/llama-vocab.cpp, llm_tokenizer_bpe)
 * ============================================================================================== */

static const char regex_gpt2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static const char regex_llama3[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const char regex_qwen2[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

typedef struct pretokenizer_kind {
    const char *name;   /* value of tokenizer.ggml.pre */
    const char *regex;
    bool ignore_merges; /* whole-word tokens skip merging */
    bool add_bos;       /* default of tokenizer.ggml.add_bos_token */
} pretokenizer_kind;

/* Names llama.cpp maps to these three regexes. "default" (and a missing key) takes GPT-2's
 * regex here, where llama.cpp applies a four-regex default set. */
static const pretokenizer_kind pretokenizer_kinds[] = {
    {"default", regex_gpt2, false, false},
    {"gpt-2", regex_gpt2, false, false},
    {"phi-2", regex_gpt2, false, false},
    {"mpt", regex_gpt2, false, false},
    {"olmo", regex_gpt2, false, false},
    {"jais", regex_gpt2, false, false},
    {"gigachat", regex_gpt2, false, false},
    {"jina-es", regex_gpt2, false, false},
    {"jina-de", regex_gpt2, false, false},
    {"jina-v2-es", regex_gpt2, false, false},
    {"jina-v2-de", regex_gpt2, false, false},
    {"llama3", regex_llama3, true, true},
    {"llama-v3", regex_llama3, true, true},
    {"llama-bpe", regex_llama3, true, true},
    {"falcon3", regex_llama3, true, true},
    {"dbrx", regex_llama3, false, false},
    {"smaug-bpe", regex_llama3, false, false},
    {"qwen2", regex_qwen2, false, false},
    {"deepseek-r1-qwen", regex_qwen2, false, false},
    {"stablelm2", regex_qwen2, false, false},
};

static const pretokenizer_kind *find_pretokenizer(gguf_str name) {
    for (size_t i = 0; i < sizeof pretokenizer_kinds / sizeof *pretokenizer_kinds; i++) {
        if (gguf_str_eq(name, pretokenizer_kinds[i].name)) return &pretokenizer_kinds[i];
    }
    return NULL;
}

static pyagent_status compile_pretokenizer(pa_tokenizer *tok, const char *regex, pa_err *err) {
    int code;
    PCRE2_SIZE offset;
    tok->pretokenizer = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED,
                                      PCRE2_UTF | PCRE2_UCP, &code, &offset, NULL);
    if (!tok->pretokenizer) {
        PCRE2_UCHAR message[128];
        pcre2_get_error_message(code, message, sizeof message);
        return pa_fail(err, PYAGENT_ERR_INTERNAL, "pre-tokenizer regex: %s at offset %zu",
                       (const char *)message, (size_t)offset);
    }
    pcre2_jit_compile(tok->pretokenizer, PCRE2_JIT_COMPLETE); /* the interpreter if it fails */
    return PYAGENT_OK;
}

static pyagent_status load_pretokenizer(pa_tokenizer *tok, const gguf_file *gguf, pa_err *err) {
    gguf_str name = {"default", 7};
    const gguf_kv *kv = gguf_find_kv(gguf, KEY_PRE);
    if (kv) {
        if (kv->type != GGUF_TYPE_STRING) {
            return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "key '" KEY_PRE "' must be a string");
        }
        name = kv->v.str;
    }
    const pretokenizer_kind *kind = find_pretokenizer(name);
    if (!kind) {
        int shown = name.len > 64 ? 64 : (int)name.len;
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                       "unsupported pre-tokenizer '%.*s' (key '" KEY_PRE "')", shown, name.data);
    }
    tok->ignore_merges = kind->ignore_merges;
    tok->add_bos = kind->add_bos;
    return compile_pretokenizer(tok, kind->regex, err);
}

/* ================================================================================================
 * GPT-2 byte map
 * ============================================================================================== */

static bool is_printable_byte(uint32_t b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

static uint32_t byte_to_codepoint(uint32_t b) {
    if (is_printable_byte(b)) return b;
    uint32_t rank = b <= 32 ? b : b <= 160 ? 33 + (b - 127) : 67; /* 67: byte 173 */
    return 256 + rank;
}

static int codepoint_to_byte(uint32_t cp) {
    if (cp < 256) return is_printable_byte(cp) ? (int)cp : -1;
    uint32_t rank = cp - 256;
    if (rank < 33) return (int)rank;
    if (rank < 67) return (int)(127 + rank - 33);
    return rank == 67 ? 173 : -1;
}

static void build_byte_map(pa_tokenizer *tok) {
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t cp = byte_to_codepoint(b);
        if (cp < 0x80) {
            tok->byte_utf8[b][0] = (char)cp;
            tok->byte_utf8_len[b] = 1;
        } else {
            tok->byte_utf8[b][0] = (char)(0xC0 | (cp >> 6));
            tok->byte_utf8[b][1] = (char)(0x80 | (cp & 0x3F));
            tok->byte_utf8_len[b] = 2;
        }
    }
}

size_t pa_bpe_unmap_text(const char *text, size_t text_len, char *out) {
    const unsigned char *s = (const unsigned char *)text;
    size_t n = 0;
    for (size_t i = 0; i < text_len;) {
        int byte = -1;
        if (s[i] < 0x80) {
            byte = codepoint_to_byte(s[i]);
        } else if ((s[i] & 0xE0) == 0xC0 && i + 1 < text_len && (s[i + 1] & 0xC0) == 0x80) {
            byte = codepoint_to_byte(((uint32_t)(s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F));
            if (byte >= 0) i++;
        }
        if (byte >= 0) {
            out[n++] = (char)byte;
            i++;
        } else {
            out[n++] = (char)s[i++]; /* not a mapped character: keep the raw byte */
        }
    }
    return n;
}

/* ================================================================================================
 * Merge table
 * ============================================================================================== */

typedef struct merge_key {
    const pa_merges *merges;
    const char *left, *right;
    uint32_t left_n, right_n;
} merge_key;

static bool merge_matches(const void *key, int32_t rank) {
    const merge_key *k = key;
    const pa_merges *m = k->merges;
    const char *text = m->text + m->offsets[rank];
    return m->left_len[rank] == k->left_n && m->right_len[rank] == k->right_n &&
           memcmp(text, k->left, k->left_n) == 0 &&
           memcmp(text + k->left_n + 1, k->right, k->right_n) == 0;
}

static uint64_t hash_pair(const char *left, size_t left_n, const char *right, size_t right_n) {
    uint64_t h = pa_hash_bytes(PA_HASH_SEED, left, left_n);
    h = pa_hash_bytes(h, " ", 1);
    return pa_hash_bytes(h, right, right_n);
}

static int32_t find_merge_rank(const pa_merges *merges, const char *left, uint32_t left_n,
                               const char *right, uint32_t right_n) {
    merge_key key = {merges, left, right, left_n, right_n};
    return pa_str_index_find(&merges->index, hash_pair(left, left_n, right, right_n),
                             merge_matches, &key);
}

static bool pair_rank(const pa_tokenizer *tok, const char *left, uint32_t left_n,
                      uint32_t right_n, uint32_t *priority) {
    int32_t rank = find_merge_rank(&tok->merges, left, left_n, left + left_n, right_n);
    if (rank < 0) return false;
    *priority = UINT32_MAX - (uint32_t)rank;
    return true;
}

/* Copies merge `rank` in and indexes it. A merge without a space after its first byte has no
 * pair and is never applied (llama.cpp files it under an empty pair no lookup can hit). */
static void add_merge(pa_merges *merges, int32_t rank, gguf_str text, size_t off) {
    if (text.len > 0) memcpy(merges->text + off, text.data, text.len);
    merges->offsets[rank] = off;
    const char *space = text.len > 1 ? memchr(text.data + 1, ' ', text.len - 1) : NULL;
    if (!space) return;
    merges->left_len[rank] = (uint32_t)(space - text.data);
    merges->right_len[rank] = (uint32_t)(text.len - merges->left_len[rank] - 1);
    merge_key key = {merges, merges->text + off, merges->text + off + merges->left_len[rank] + 1,
                     merges->left_len[rank], merges->right_len[rank]};
    pa_str_index_insert(&merges->index, pa_hash_bytes(PA_HASH_SEED, key.left, text.len), rank,
                        merge_matches, &key);
}

static pyagent_status load_merges(pa_tokenizer *tok, const gguf_file *gguf, pa_err *err) {
    const gguf_kv *kv;
    pyagent_status st = gguf_get_arr(gguf, KEY_MERGES, GGUF_TYPE_STRING, &kv, err);
    if (st != PYAGENT_OK) return st;
    if (kv->v.arr.count > INT32_MAX) {
        return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "key '" KEY_MERGES "' has %llu merges",
                       (unsigned long long)kv->v.arr.count);
    }
    pa_merges *merges = &tok->merges;
    merges->n = (size_t)kv->v.arr.count;
    size_t text_bytes = 0;
    for (size_t i = 0; i < merges->n; i++) {
        if (kv->v.arr.strings[i].len > UINT32_MAX) {
            return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "merge %zu in '" KEY_MERGES "' is too long",
                           i);
        }
        text_bytes += (size_t)kv->v.arr.strings[i].len;
    }
    merges->text = malloc(text_bytes + 1);
    merges->offsets = malloc((merges->n + 1) * sizeof *merges->offsets);
    merges->left_len = calloc(merges->n + 1, sizeof *merges->left_len);
    merges->right_len = calloc(merges->n + 1, sizeof *merges->right_len);
    if (!merges->text || !merges->offsets || !merges->left_len || !merges->right_len ||
        !pa_str_index_init(&merges->index, merges->n)) {
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory loading %zu merges",
                       merges->n);
    }
    size_t off = 0;
    for (size_t i = 0; i < merges->n; i++) {
        add_merge(merges, (int32_t)i, kv->v.arr.strings[i], off);
        off += (size_t)kv->v.arr.strings[i].len;
    }
    return PYAGENT_OK;
}

pyagent_status pa_bpe_load(pa_tokenizer *tok, const gguf_file *gguf, pa_err *err) {
    build_byte_map(tok);
    pyagent_status st = load_pretokenizer(tok, gguf, err);
    if (st != PYAGENT_OK) return st;
    return load_merges(tok, gguf, err);
}

void pa_bpe_free(pa_tokenizer *tok) {
    pcre2_code_free(tok->pretokenizer);
    tok->pretokenizer = NULL;
    pa_merges *merges = &tok->merges;
    free(merges->text);
    free(merges->offsets);
    free(merges->left_len);
    free(merges->right_len);
    pa_str_index_free(&merges->index);
    memset(merges, 0, sizeof *merges);
}

/* ================================================================================================
 * Encode
 * ============================================================================================== */

typedef struct bpe_session {
    const pa_tokenizer *tok;
    pa_token_buf *out;
    char *mapped;          /* the current word in the GPT-2 alphabet */
    size_t mapped_cap;
    pa_merge_scratch scratch;
} bpe_session;

static bool map_word(bpe_session *s, const char *word, size_t len, size_t *mapped_len) {
    if (2 * len > s->mapped_cap) {
        char *mapped = realloc(s->mapped, 2 * len);
        if (!mapped) return false;
        s->mapped = mapped;
        s->mapped_cap = 2 * len;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)word[i];
        memcpy(s->mapped + n, s->tok->byte_utf8[b], s->tok->byte_utf8_len[b]);
        n += s->tok->byte_utf8_len[b];
    }
    *mapped_len = n;
    return true;
}

/* A final symbol: its token, or else each of its bytes that is a token on its own. */
static bool push_symbol(const pa_tokenizer *tok, const char *bytes, size_t n, pa_token_buf *out) {
    int32_t id = pa_vocab_find(tok, bytes, n);
    if (id >= 0) return pa_token_buf_push(out, id);
    for (size_t i = 0; i < n; i++) {
        int32_t byte_id = pa_vocab_find(tok, bytes + i, 1);
        if (byte_id >= 0 && !pa_token_buf_push(out, byte_id)) return false;
    }
    return true;
}

static bool encode_word(bpe_session *s, const char *word, size_t len) {
    size_t mapped_len;
    if (!map_word(s, word, len, &mapped_len)) return false;
    if (s->tok->ignore_merges) {
        int32_t id = pa_vocab_find(s->tok, s->mapped, mapped_len);
        if (id >= 0) return pa_token_buf_push(s->out, id);
    }
    if (!pa_merge_scratch_reserve(&s->scratch, len)) return false; /* one character per byte */
    pa_merge_word(s->tok, s->mapped, (uint32_t)mapped_len, pair_rank, &s->scratch);
    for (int32_t i = 0; i != -1; i = s->scratch.symbols[i].next) {
        const pa_symbol *sym = &s->scratch.symbols[i];
        if (!push_symbol(s->tok, s->mapped + sym->off, sym->n, s->out)) return false;
    }
    return true;
}

/* Next pre-tokenizer match at or after `from`: *start and *end, or *start = len if none. */
static int next_match(const pcre2_code *regex, const char *text, size_t len, size_t from,
                      pcre2_match_data *match, size_t *start, size_t *end) {
    /* the text was checked as UTF-8 once; re-checking at every call would be quadratic */
    uint32_t options = PCRE2_NO_UTF_CHECK;
    int rc = pcre2_match(regex, (PCRE2_SPTR)text, len, from, options, match, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
        rc = pcre2_match(regex, (PCRE2_SPTR)text, len, from, options | PCRE2_NO_JIT, match, NULL);
    }
    if (rc == PCRE2_ERROR_NOMATCH) {
        *start = *end = len;
        return 0;
    }
    if (rc < 0) return rc;
    const PCRE2_SIZE *ovector = pcre2_get_ovector_pointer(match);
    *start = ovector[0];
    *end = ovector[1];
    if (*end == *start) { /* an empty match: take one character so that the loop moves on */
        *end = *start + 1;
        while (*end < len && ((unsigned char)text[*end] & 0xC0) == 0x80) (*end)++;
    }
    return 0;
}

pyagent_status pa_bpe_encode(const pa_tokenizer *tok, const char *text, size_t len,
                             pa_token_buf *out, pa_err *err) {
    bpe_session s = {tok, out, NULL, 0, {0}};
    pcre2_match_data *match = pcre2_match_data_create_from_pattern(tok->pretokenizer, NULL);
    if (!match) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");

    pyagent_status st = PYAGENT_OK;
    for (size_t pos = 0; pos < len && st == PYAGENT_OK;) {
        size_t start, end;
        int rc = next_match(tok->pretokenizer, text, len, pos, match, &start, &end);
        if (rc < 0) {
            st = pa_fail(err, PYAGENT_ERR_INTERNAL, "pre-tokenizer regex failed (PCRE2 error %d)",
                         rc);
            break;
        }
        bool ok = (start == pos || encode_word(&s, text + pos, start - pos)) &&
                  (start == len || encode_word(&s, text + start, end - start));
        if (!ok) st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
        pos = end;
    }
    pcre2_match_data_free(match);
    pa_merge_scratch_free(&s.scratch);
    free(s.mapped);
    return st;
}
