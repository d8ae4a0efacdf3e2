/*
 * libFuzzer target for the tokenizer: any bytes are encoded by the SPM vocabulary of
 * stories260K.gguf and by GPT-2's byte-level BPE vocabulary, with and without special-token
 * parsing, and the ids decoded again. Invalid UTF-8 must be refused with INVALID_UTF8; valid
 * UTF-8 must encode, and must come back byte for byte:
 *  - GPT-2 always (control tokens shown, so a parsed <|endoftext|> reads back as its text);
 *  - stories260K when special tokens are not parsed (its dummy-prefix space stripped) and the
 *    input holds no U+2581 (SPM's own space mark, which decodes to ' ', as in llama.cpp),
 *    since every byte has a <0xXX> fallback token.
 * The first bytes are also decoded as raw ids, to drive the out-of-range path.
 *
 *     clang -g -fsanitize=fuzzer,address,undefined -Iinclude -Ilib lib/core/error.c \
 *         lib/model/gguf.c lib/model/tokenizer*.c tests/fuzz/fuzz_tokenizer.c -lpcre2-8 \
 *         -o fuzz_tokenizer
 *     PYAGENT_TEST_DATA=tests/data ./fuzz_tokenizer -max_total_time=120 corpus_copy/ \
 *         tests/fuzz/corpus_tokenizer/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/tokenizer.h"

typedef struct fuzz_vocab {
    gguf_file *gguf;
    pa_tokenizer *tok;
} fuzz_vocab;

static fuzz_vocab spm, bpe;

static void load_or_die(const char *file, fuzz_vocab *vocab) {
    const char *dir = getenv("PYAGENT_TEST_DATA");
    char path[1024];
    pa_err err = {0};
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/data", file);
    if (gguf_open_file(path, false, &vocab->gguf, &err) != PYAGENT_OK ||
        pa_tokenizer_load(vocab->gguf, &vocab->tok, &err) != PYAGENT_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s (set PYAGENT_TEST_DATA)\n", err.msg);
        abort();
    }
}

static void check(bool ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", what);
        abort();
    }
}

/* Decodes `ids` with the two-call pattern; the caller frees the result. */
static char *decode(const pa_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags,
                    size_t *len) {
    pa_err err;
    pyagent_status st = pa_tokenizer_decode(tok, ids, n, flags, NULL, 0, len, &err);
    check(st == PYAGENT_OK || st == PYAGENT_ERR_BUFFER_TOO_SMALL, "decode size query failed");
    char *text = malloc(*len + 1);
    check(text != NULL, "out of memory");
    check(pa_tokenizer_decode(tok, ids, n, flags, text, *len, len, &err) == PYAGENT_OK,
          "decode failed");
    return text;
}

/* Encodes; returns false for refused (invalid UTF-8) input. Round-trips when `round_trip`. */
static bool encode_and_decode(const pa_tokenizer *tok, const uint8_t *data, size_t size,
                              unsigned encode_flags, unsigned decode_flags, bool round_trip) {
    int32_t *ids = NULL;
    size_t n_ids = 0;
    pa_err err;
    pyagent_status st = pa_tokenizer_encode(tok, (const char *)data, size, encode_flags, &ids,
                                            &n_ids, &err);
    if (st == PYAGENT_ERR_INVALID_UTF8) {
        check(ids == NULL && n_ids == 0, "refused input left ids behind");
        return false;
    }
    check(st == PYAGENT_OK, "encode failed on valid UTF-8");
    for (size_t i = 0; i < n_ids; i++) {
        check(ids[i] >= 0 && ids[i] < pa_tokenizer_n_vocab(tok), "encode gave an invalid id");
    }
    size_t len;
    char *text = decode(tok, ids, n_ids, decode_flags, &len);
    if (round_trip) check(len == size && memcmp(text, data, size) == 0, "round trip differs");
    free(text);
    free(ids);
    return true;
}

static void decode_raw_ids(const pa_tokenizer *tok, const uint8_t *data, size_t size) {
    int32_t ids[8];
    size_t n = size / sizeof *ids < 8 ? size / sizeof *ids : 8;
    memcpy(ids, data, n * sizeof *ids);
    char buf[64];
    size_t needed;
    pa_err err;
    pyagent_status st = pa_tokenizer_decode(tok, ids, n, PA_DECODE_SPECIAL, buf, sizeof buf,
                                            &needed, &err);
    check(st == PYAGENT_OK || st == PYAGENT_ERR_BUFFER_TOO_SMALL ||
              st == PYAGENT_ERR_INVALID_TOKEN, "decode of raw ids gave an unexpected status");
}

static bool contains_bytes(const uint8_t *data, size_t size, const char *needle, size_t n) {
    for (size_t i = 0; i + n <= size; i++) {
        if (memcmp(data + i, needle, n) == 0) return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!spm.tok) {
        load_or_die("stories260K.gguf", &spm);
        load_or_die("ggml-vocab-gpt-2.gguf", &bpe);
    }
    bool valid = encode_and_decode(bpe.tok, data, size, 0, PA_DECODE_SPECIAL, true);
    check(encode_and_decode(bpe.tok, data, size, PA_ENCODE_PARSE_SPECIAL | PA_ENCODE_ADD_SPECIAL,
                            PA_DECODE_SPECIAL, true) == valid, "validity depends on flags");
    bool has_space_mark = size >= 3 && contains_bytes(data, size, "\xE2\x96\x81", 3);
    check(encode_and_decode(spm.tok, data, size, 0, PA_DECODE_STRIP_LEADING_SPACE,
                            !has_space_mark) == valid,
          "the two vocabularies disagree on validity");
    check(encode_and_decode(spm.tok, data, size, PA_ENCODE_PARSE_SPECIAL | PA_ENCODE_ADD_SPECIAL,
                            PA_DECODE_SPECIAL, false) == valid, "validity depends on flags");
    decode_raw_ids(spm.tok, data, size);
    return 0;
}
