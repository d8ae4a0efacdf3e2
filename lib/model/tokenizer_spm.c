/*
 * SentencePiece-style tokenization ("llama" vocabularies), as llama.cpp's llm_tokenizer_spm.
 *
 * The fragment is escaped (' ' -> U+2581 "▁", plus one ▁ in front when the dummy prefix is
 * wanted) and split into one symbol per UTF-8 character. Adjacent symbols whose concatenation
 * is a vocabulary token are merged, highest token score first (leftmost on ties), until no
 * adjacent pair forms a token: pa_merge_word with the score as priority, O(n log n).
 *
 * Every merged symbol is a token by construction; a symbol left as a single character that the
 * vocabulary lacks falls back to one token per UTF-8 byte (<0xXX>, see build_byte_tokens).
 * llama.cpp's resegment step also keeps a reverse-merge map, but it is only consulted for
 * symbols that are not tokens, which are never merged, so it does not change the output.
 *
 * Word by word. llama.cpp merges the whole fragment in one queue. When no token of the
 * vocabulary has a ▁ right after another character (true of SentencePiece vocabularies, which
 * put ▁ only at the start of pieces), no merge can ever join a character to a ▁ that follows
 * it, so the text cut before each run of ▁ falls into words that merge independently, and
 * merging them one at a time gives the same tokens. Small queues stay in cache: long prompts
 * tokenize several times faster. Vocabularies without that property take the single queue.
 */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

static const char escaped_space[3] = {'\xE2', '\x96', '\x81'}; /* U+2581 */

static bool is_escaped_space(const char *text, size_t len, size_t at) {
    return len - at >= 3 && memcmp(text + at, escaped_space, 3) == 0;
}

/* ================================================================================================
 * Load
 * ============================================================================================== */

/* Byte fallback for each byte value: <0xXX>, else the 1-byte token, else unk (else -1). */
static void build_byte_tokens(pa_tokenizer *tok) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        char byte = (char)b;
        int32_t id = pa_vocab_find(tok, name, sizeof name);
        if (id < 0) id = pa_vocab_find(tok, &byte, 1);
        tok->byte_tokens[b] = id >= 0 ? id : tok->unk;
    }
}

/* True when some ▁ in `text` follows a character other than ▁. */
static bool has_space_after_other_char(const char *text, size_t len) {
    for (size_t i = 1; i < len; i++) {
        if (is_escaped_space(text, len, i) && !(i >= 3 && is_escaped_space(text, len, i - 3))) {
            return true;
        }
    }
    return false;
}

void pa_spm_prepare(pa_tokenizer *tok) {
    build_byte_tokens(tok);
    tok->words_merge_alone = true;
    for (int32_t i = 0; i < tok->n_vocab && tok->words_merge_alone; i++) {
        const pa_token_info *t = &tok->tokens[i];
        if (has_space_after_other_char(tok->strings + t->text_off, t->text_len)) {
            tok->words_merge_alone = false;
        }
    }
}

/* ================================================================================================
 * Encode
 * ============================================================================================== */

/* The score as an unsigned integer in the same order (IEEE-754 sign-magnitude flipped to
 * two's-complement order; -0 reads as +0 so that they tie, as they compare equal). */
static uint32_t score_order(float score) {
    if (score == 0.0f) score = 0.0f;
    uint32_t bits;
    memcpy(&bits, &score, sizeof bits);
    return bits & 0x80000000u ? ~bits : bits | 0x80000000u;
}

static bool pair_score(const pa_tokenizer *tok, const char *left, uint32_t left_n,
                       uint32_t right_n, uint32_t *priority) {
    int32_t id = pa_vocab_find(tok, left, (size_t)left_n + right_n);
    if (id < 0) return false;
    *priority = score_order(tok->tokens[id].score);
    return true;
}

/* Writes the escaped fragment to `out` (room for 3 * (len + 1) bytes); returns its length. */
static size_t escape_spaces(const char *text, size_t len, bool add_prefix, char *out) {
    size_t n = 0;
    if (add_prefix) {
        memcpy(out, escaped_space, 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(out + n, escaped_space, 3);
            n += 3;
        } else {
            out[n++] = text[i];
        }
    }
    return n;
}

/* End of the word starting at `start`: a run of ▁, then everything up to the next ▁. */
static size_t word_end(const char *text, size_t len, size_t start) {
    size_t i = start;
    while (is_escaped_space(text, len, i)) i += 3;
    while (i < len && !is_escaped_space(text, len, i)) i++;
    return i;
}

static bool push_symbol(const pa_tokenizer *tok, const char *bytes, size_t n, pa_token_buf *out) {
    int32_t id = pa_vocab_find(tok, bytes, n);
    if (id >= 0) return pa_token_buf_push(out, id);
    for (size_t i = 0; i < n; i++) {
        int32_t byte_id = tok->byte_tokens[(unsigned char)bytes[i]];
        if (byte_id >= 0 && !pa_token_buf_push(out, byte_id)) return false;
    }
    return true;
}

static bool encode_word(const pa_tokenizer *tok, const char *word, size_t len,
                        pa_merge_scratch *scratch, pa_token_buf *out) {
    if (!pa_merge_scratch_reserve(scratch, len)) return false; /* characters <= bytes */
    pa_merge_word(tok, word, (uint32_t)len, pair_score, scratch);
    for (int32_t i = 0; i != -1; i = scratch->symbols[i].next) {
        const pa_symbol *sym = &scratch->symbols[i];
        if (!push_symbol(tok, word + sym->off, sym->n, out)) return false;
    }
    return true;
}

pyagent_status pa_spm_encode(const pa_tokenizer *tok, const char *text, size_t len,
                             bool add_prefix, pa_token_buf *out, pa_err *err) {
    char *escaped = malloc(3 * (len + 1));
    if (!escaped) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    size_t escaped_len = escape_spaces(text, len, add_prefix, escaped);

    pa_merge_scratch scratch = {0};
    bool ok = true;
    for (size_t start = 0; start < escaped_len && ok;) {
        size_t end = tok->words_merge_alone ? word_end(escaped, escaped_len, start) : escaped_len;
        ok = encode_word(tok, escaped + start, end - start, &scratch, out);
        start = end;
    }
    pa_merge_scratch_free(&scratch);
    free(escaped);
    if (!ok) {
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory tokenizing %zu bytes", len);
    }
    return PYAGENT_OK;
}
