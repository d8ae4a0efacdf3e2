/*
 * Tokenizers read from GGUF metadata (tokenizer.ggml.*):
 *  - "llama": SentencePiece-style BPE over pieces with scores, U+2581 for spaces, byte fallback
 *    (<0xXX> tokens) for characters the vocabulary lacks, optional dummy-prefix space.
 *  - "gpt2": byte-level BPE with ranked merges; text is first split by the pre-tokenizer regex
 *    named by tokenizer.ggml.pre (PCRE2), bytes are mapped to printable code points as GPT-2 does.
 * A tokenizer is immutable after load and may be used from many threads at once.
 */
#ifndef PA_MODEL_TOKENIZER_H
#define PA_MODEL_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "gguf.h"

/* Token types, as in tokenizer.ggml.token_type. */
enum pa_token_type {
    PA_TOKEN_UNDEFINED = 0, PA_TOKEN_NORMAL = 1, PA_TOKEN_UNKNOWN = 2, PA_TOKEN_CONTROL = 3,
    PA_TOKEN_USER_DEFINED = 4, PA_TOKEN_UNUSED = 5, PA_TOKEN_BYTE = 6,
};

/* Flags of pa_tokenizer_encode. */
#define PA_ENCODE_ADD_SPECIAL     1u /* BOS/EOS as tokenizer.ggml.add_bos_token/add_eos_token say */
#define PA_ENCODE_PARSE_SPECIAL   2u /* control/unknown token text becomes that token (user-
                                        * defined token text always does, as in llama.cpp) */
#define PA_ENCODE_NO_SPACE_PREFIX 4u /* SPM: do not add the dummy-prefix space (mid-sequence) */

/* Flags of pa_tokenizer_decode. */
#define PA_DECODE_SPECIAL             1u /* emit the text of control tokens */
#define PA_DECODE_STRIP_LEADING_SPACE 2u /* SPM: drop the space the first token starts with */

typedef struct pa_tokenizer pa_tokenizer;

/* Builds the tokenizer from `gguf`'s metadata; BAD_MODEL / UNSUPPORTED with a message that
 * names the key on failure. The tokenizer copies what it keeps (it does not point into gguf). */
pyagent_status pa_tokenizer_load(const gguf_file *gguf, pa_tokenizer **out, pa_err *err);
void pa_tokenizer_free(pa_tokenizer *tok);

int32_t pa_tokenizer_n_vocab(const pa_tokenizer *tok);
int32_t pa_tokenizer_bos(const pa_tokenizer *tok); /* -1 if none */
int32_t pa_tokenizer_eos(const pa_tokenizer *tok); /* -1 if none */
bool pa_tokenizer_adds_bos(const pa_tokenizer *tok);
int32_t pa_tokenizer_token_type(const pa_tokenizer *tok, int32_t id);
/* True for tokens that end a generation (EOS, and EOT-like control tokens the metadata names). */
bool pa_tokenizer_is_eog(const pa_tokenizer *tok, int32_t id);

/* Encodes `len` bytes of UTF-8 `text`. On success *ids is a malloc'd array of *n_ids ids (free
 * with free(); may be NULL when *n_ids == 0). INVALID_UTF8 for invalid input. */
pyagent_status pa_tokenizer_encode(const pa_tokenizer *tok, const char *text, size_t len,
                                   unsigned flags, int32_t **ids, size_t *n_ids, pa_err *err);

/* The bytes `id` decodes to on its own (▁ -> ' ', <0x0A> -> '\n', GPT-2 byte map undone).
 * Control tokens give their raw text. *len gets the byte count. id must be valid. */
const char *pa_tokenizer_piece(const pa_tokenizer *tok, int32_t id, size_t *len);
/* The first id whose bytes or type differ between two vocabularies (the smaller size when the
 * sizes differ), or -1 when they are the same: models that may share token ids. */
int32_t pa_tokenizer_first_difference(const pa_tokenizer *a, const pa_tokenizer *b);

/* Decodes `n` ids into `buf` (capacity `cap` bytes, not NUL-terminated); *needed gets the full
 * size. INVALID_TOKEN for an id out of range; BUFFER_TOO_SMALL when cap < *needed. */
pyagent_status pa_tokenizer_decode(const pa_tokenizer *tok, const int32_t *ids, size_t n,
                                   unsigned flags, char *buf, size_t cap, size_t *needed,
                                   pa_err *err);

#endif
