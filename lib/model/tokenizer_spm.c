/*
 * SentencePiece-style tokenization ("llama" vocabularies), as llama.cpp's llm_tokenizer_spm.
 *
 * The fragment is escaped (' ' -> U+2581, plus one U+2581 in front when the dummy prefix is
 * wanted) and split into one symbol per UTF-8 character. Adjacent symbols whose concatenation
 * is a vocabulary token are merged, highest token score first (leftmost on ties), until no
 * adjacent pair forms a token; that is pa_merge_word with the score as priority, O(n log n).
 *
 * Every merged symbol is a token by construction; a symbol left as a single character that the
 * vocabulary lacks falls back to one token per UTF-8 byte (<0xXX>, see build_byte_tokens).
 * llama.cpp's resegment step also keeps a reverse-merge map, but it is only consulted for
 * symbols that are not tokens, which are never merged, so it does not change the output.
 */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

static const char escaped_space[3] = {'\xE2', '\x96', '\x81'}; /* U+2581 */

static bool pair_score(const pa_tokenizer *tok, const char *left, uint32_t left_n,
                       uint32_t right_n, double *priority) {
    int32_t id = pa_vocab_find(tok, left, (size_t)left_n + right_n);
    if (id < 0) return false;
    *priority = tok->tokens[id].score;
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

static bool push_symbol(const pa_tokenizer *tok, const char *bytes, size_t n, pa_token_buf *out) {
    int32_t id = pa_vocab_find(tok, bytes, n);
    if (id >= 0) return pa_token_buf_push(out, id);
    for (size_t i = 0; i < n; i++) {
        int32_t byte_id = tok->byte_tokens[(unsigned char)bytes[i]];
        if (byte_id >= 0 && !pa_token_buf_push(out, byte_id)) return false;
    }
    return true;
}

pyagent_status pa_spm_encode(const pa_tokenizer *tok, const char *text, size_t len,
                             bool add_prefix, pa_token_buf *out, pa_err *err) {
    char *escaped = malloc(3 * (len + 1));
    pa_merge_scratch scratch = {0};
    if (!escaped || !pa_merge_scratch_reserve(&scratch, len + 1)) { /* chars <= bytes + prefix */
        free(escaped);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory tokenizing %zu bytes", len);
    }
    size_t escaped_len = escape_spaces(text, len, add_prefix, escaped);
    pyagent_status st = PYAGENT_OK;
    if (escaped_len > 0) {
        pa_merge_word(tok, escaped, (uint32_t)escaped_len, pair_score, &scratch);
        for (int32_t i = 0; i != -1; i = scratch.symbols[i].next) {
            const pa_symbol *sym = &scratch.symbols[i];
            if (!push_symbol(tok, escaped + sym->off, sym->n, out)) {
                st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
                break;
            }
        }
    }
    pa_merge_scratch_free(&scratch);
    free(escaped);
    return st;
}
