/*
 * Tokenizer tests.
 *
 * First llama.cpp's own test vectors (the .gguf.inp / .gguf.out files in tests/data, made with
 * llama.cpp's test-tokenizer-0 at commit c392e50): every string must encode to exactly the
 * listed ids with no BOS/EOS and no special-token parsing, and decode back to itself. Then the
 * flags, decode's contract, and load's validation, the last two over small vocabularies written
 * into memory by the GGUF builder below.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/gguf.h"
#include "model/tokenizer.h"

#define VECTOR_SEPARATOR "\n__ggml_vocab_test__\n"
#define N_VECTORS 46 /* llama.cpp's test-tokenizer-0 strings */

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static void data_path(char *buf, size_t size, const char *file) {
    const char *dir = getenv("PYAGENT_TEST_DATA");
    snprintf(buf, size, "%s/%s", dir && *dir ? dir : "tests/data", file);
}

/* Reads a test data file into a malloc'd, NUL-terminated buffer. */
static char *read_data_file(const char *file, size_t *size) {
    char path[1024];
    data_path(path, sizeof path, file);
    FILE *fp = fopen(path, "rb");
    if (!fp) fail_msg("cannot open %s (set PYAGENT_TEST_DATA)", path);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    const long len = ftell(fp);
    assert_true(len >= 0);
    rewind(fp);
    char *bytes = malloc((size_t)len + 1);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    bytes[len] = '\0';
    *size = (size_t)len;
    return bytes;
}

static void assert_contains(const char *text, const char *part) {
    if (!strstr(text, part)) fail_msg("expected \"%s\" in \"%s\"", part, text);
}

typedef struct loaded_vocab {
    gguf_file *gguf;
    pa_tokenizer *tok;
} loaded_vocab;

static loaded_vocab load_vocab(const char *file) {
    char path[1024];
    loaded_vocab v = {NULL, NULL};
    pa_err err = {0};
    data_path(path, sizeof path, file);
    if (gguf_open_file(path, false, &v.gguf, &err) != PYAGENT_OK) fail_msg("%s", err.msg);
    if (pa_tokenizer_load(v.gguf, &v.tok, &err) != PYAGENT_OK) fail_msg("%s", err.msg);
    return v;
}

static void unload_vocab(loaded_vocab *v) {
    pa_tokenizer_free(v->tok);
    gguf_close(v->gguf);
}

typedef struct id_list {
    int32_t *ids;
    size_t n;
} id_list;

static id_list encode(const pa_tokenizer *tok, const char *text, unsigned flags) {
    id_list out = {NULL, 0};
    pa_err err = {0};
    if (pa_tokenizer_encode(tok, text, strlen(text), flags, &out.ids, &out.n, &err) !=
        PYAGENT_OK) {
        fail_msg("encode \"%s\": %s", text, err.msg);
    }
    return out;
}

static void assert_ids(id_list got, const int32_t *expected, size_t n_expected) {
    if (got.n != n_expected) fail_msg("got %zu ids, expected %zu", got.n, n_expected);
    for (size_t i = 0; i < n_expected; i++) {
        if (got.ids[i] != expected[i]) {
            fail_msg("id %zu is %d, expected %d", i, got.ids[i], expected[i]);
        }
    }
}

static bool contains_id(id_list list, int32_t id) {
    for (size_t i = 0; i < list.n; i++) {
        if (list.ids[i] == id) return true;
    }
    return false;
}

/* Decodes into a malloc'd NUL-terminated string (two-call pattern). */
static char *decode(const pa_tokenizer *tok, id_list list, unsigned flags) {
    size_t needed = 0;
    pa_err err = {0};
    pyagent_status st = pa_tokenizer_decode(tok, list.ids, list.n, flags, NULL, 0, &needed, &err);
    assert_true(st == PYAGENT_OK || st == PYAGENT_ERR_BUFFER_TOO_SMALL);
    char *text = malloc(needed + 1);
    assert_non_null(text);
    assert_int_equal(pa_tokenizer_decode(tok, list.ids, list.n, flags, text, needed, &needed,
                                         &err),
                     PYAGENT_OK);
    text[needed] = '\0';
    return text;
}

/* ---------------------------------------------------------------------------------------------
 * llama.cpp test vectors
 * ------------------------------------------------------------------------------------------- */

/* Parses one .out line (" 1 2 3") into ids; returns the count. */
static size_t parse_id_line(const char *line, size_t len, int32_t *ids, size_t cap) {
    size_t n = 0;
    const char *p = line, *end = line + len;
    while (p < end) {
        while (p < end && *p == ' ') p++;
        if (p == end) break;
        char *after;
        long id = strtol(p, &after, 10);
        assert_true(after > p && n < cap);
        ids[n++] = (int32_t)id;
        p = after;
    }
    return n;
}

/* Encodes every string of `vocab_file`.inp with flags 0 and compares with .out; also checks
 * that decode gives the string back (SPM: with its dummy-prefix space stripped). */
static void check_vectors(const char *vocab_file, unsigned decode_flags) {
    char name[256];
    size_t inp_size, out_size;
    snprintf(name, sizeof name, "%s.inp", vocab_file);
    char *inp = read_data_file(name, &inp_size);
    snprintf(name, sizeof name, "%s.out", vocab_file);
    char *out = read_data_file(name, &out_size);
    loaded_vocab v = load_vocab(vocab_file);

    size_t n_checked = 0;
    char *text = inp, *line = out;
    for (char *sep; (sep = strstr(text, VECTOR_SEPARATOR)) != NULL;
         text = sep + strlen(VECTOR_SEPARATOR)) {
        char *eol = strchr(line, '\n');
        assert_non_null(eol);
        int32_t expected[1024];
        size_t n_expected = parse_id_line(line, (size_t)(eol - line), expected, 1024);
        line = eol + 1;

        size_t len = (size_t)(sep - text);
        id_list got = {NULL, 0};
        pa_err err = {0};
        assert_int_equal(pa_tokenizer_encode(v.tok, text, len, 0, &got.ids, &got.n, &err),
                         PYAGENT_OK);
        size_t same = 0;
        while (same < got.n && same < n_expected && got.ids[same] == expected[same]) same++;
        if (same != got.n || same != n_expected) {
            fail_msg("%s: string %zu \"%.*s\" encodes to %zu ids, expected %zu; they differ "
                     "from id %zu on", vocab_file, n_checked, (int)len, text, got.n, n_expected,
                     same);
        }
        char *back = decode(v.tok, got, decode_flags);
        if (strlen(back) != len || memcmp(back, text, len) != 0) {
            fail_msg("%s: string %zu \"%.*s\" decodes to \"%s\"", vocab_file, n_checked,
                     (int)len, text, back);
        }
        free(back);
        free(got.ids);
        n_checked++;
    }
    assert_int_equal(n_checked, N_VECTORS);

    unload_vocab(&v);
    free(inp);
    free(out);
}

static void stories260K_matches_llama_cpp_vectors_and_round_trips(void **state) {
    (void)state;
    check_vectors("stories260K.gguf", PA_DECODE_STRIP_LEADING_SPACE);
}

static void llama_spm_matches_llama_cpp_vectors_and_round_trips(void **state) {
    (void)state;
    check_vectors("ggml-vocab-llama-spm.gguf", PA_DECODE_STRIP_LEADING_SPACE);
}

static void gpt2_matches_llama_cpp_vectors_and_round_trips(void **state) {
    (void)state;
    check_vectors("ggml-vocab-gpt-2.gguf", 0);
}

/* ---------------------------------------------------------------------------------------------
 * Encode flags and special tokens on the real vocabularies
 * ------------------------------------------------------------------------------------------- */

static void spm_add_special_prepends_bos_only(void **state) {
    (void)state;
    loaded_vocab v = load_vocab("ggml-vocab-llama-spm.gguf");
    assert_true(pa_tokenizer_adds_bos(v.tok));
    assert_int_equal(pa_tokenizer_bos(v.tok), 1);
    assert_int_equal(pa_tokenizer_eos(v.tok), 2);

    id_list plain = encode(v.tok, "Hello world", 0);
    id_list with_bos = encode(v.tok, "Hello world", PA_ENCODE_ADD_SPECIAL);
    assert_int_equal(with_bos.n, plain.n + 1);
    assert_int_equal(with_bos.ids[0], 1);
    assert_memory_equal(with_bos.ids + 1, plain.ids, plain.n * sizeof *plain.ids);

    id_list empty = encode(v.tok, "", PA_ENCODE_ADD_SPECIAL);
    const int32_t just_bos[] = {1};
    assert_ids(empty, just_bos, 1);

    free(plain.ids);
    free(with_bos.ids);
    free(empty.ids);
    unload_vocab(&v);
}

static void gpt2_add_special_adds_nothing_by_default(void **state) {
    (void)state;
    loaded_vocab v = load_vocab("ggml-vocab-gpt-2.gguf");
    assert_false(pa_tokenizer_adds_bos(v.tok));
    id_list plain = encode(v.tok, "Hello world", 0);
    id_list special = encode(v.tok, "Hello world", PA_ENCODE_ADD_SPECIAL);
    assert_int_equal(special.n, plain.n);
    assert_memory_equal(special.ids, plain.ids, plain.n * sizeof *plain.ids);
    free(plain.ids);
    free(special.ids);
    unload_vocab(&v);
}

static void empty_text_encodes_to_no_ids(void **state) {
    (void)state;
    loaded_vocab v = load_vocab("stories260K.gguf");
    int32_t *ids = (int32_t *)&ids;
    size_t n = 99;
    pa_err err = {0};
    assert_int_equal(pa_tokenizer_encode(v.tok, NULL, 0, 0, &ids, &n, &err), PYAGENT_OK);
    assert_int_equal(n, 0);
    assert_null(ids);
    unload_vocab(&v);
}

static void parse_special_turns_bos_text_into_bos_id(void **state) {
    (void)state;
    loaded_vocab v = load_vocab("stories260K.gguf");
    id_list ids = encode(v.tok, "<s>", PA_ENCODE_PARSE_SPECIAL);
    const int32_t bos[] = {1};
    assert_ids(ids, bos, 1);
    free(ids.ids);
    unload_vocab(&v);
}

static void without_parse_special_bos_text_is_plain_text(void **state) {
    (void)state;
    loaded_vocab v = load_vocab("stories260K.gguf");
    id_list ids = encode(v.tok, "<s>", 0);
    assert_true(ids.n > 1);
    assert_false(contains_id(ids, 1));
    char *text = decode(v.tok, ids, PA_DECODE_STRIP_LEADING_SPACE);
    assert_string_equal(text, "<s>");
    free(text);
    free(ids.ids);
    unload_vocab(&v);
}

static void text_after_a_special_token_gets_the_space_prefix(void **state) {
    (void)state;
    loaded_vocab v = load_vocab("ggml-vocab-llama-spm.gguf");
    id_list mixed = encode(v.tok, "Hello</s>world", PA_ENCODE_PARSE_SPECIAL);
    id_list hello = encode(v.tok, "Hello", 0);
    id_list world = encode(v.tok, "world", 0); /* with its dummy prefix: "▁world" */
    assert_int_equal(mixed.n, hello.n + 1 + world.n);
    assert_memory_equal(mixed.ids, hello.ids, hello.n * sizeof *hello.ids);
    assert_int_equal(mixed.ids[hello.n], 2);
    assert_memory_equal(mixed.ids + hello.n + 1, world.ids, world.n * sizeof *world.ids);
    free(mixed.ids);
    free(hello.ids);
    free(world.ids);
    unload_vocab(&v);
}

static void gpt2_parse_special_finds_endoftext(void **state) {
    (void)state;
    loaded_vocab v = load_vocab("ggml-vocab-gpt-2.gguf");
    id_list parsed = encode(v.tok, "a<|endoftext|>b", PA_ENCODE_PARSE_SPECIAL);
    const int32_t expected[] = {64, 50256, 65};
    assert_ids(parsed, expected, 3);
    id_list plain = encode(v.tok, "a<|endoftext|>b", 0);
    assert_false(contains_id(plain, 50256));
    free(parsed.ids);
    free(plain.ids);
    unload_vocab(&v);
}

static void no_space_prefix_flag_omits_the_dummy_prefix(void **state) {
    (void)state;
    loaded_vocab v = load_vocab("ggml-vocab-llama-spm.gguf");
    id_list with_prefix = encode(v.tok, "Hello", 0);
    id_list without = encode(v.tok, "Hello", PA_ENCODE_NO_SPACE_PREFIX);
    const int32_t hello_with_prefix[] = {15043}; /* "▁Hello" */
    assert_ids(with_prefix, hello_with_prefix, 1);
    char *text = decode(v.tok, without, 0);
    assert_string_equal(text, "Hello");
    assert_false(contains_id(without, 15043));
    free(text);
    free(with_prefix.ids);
    free(without.ids);
    unload_vocab(&v);
}

static void invalid_utf8_is_rejected_with_its_offset(void **state) {
    (void)state;
    loaded_vocab spm = load_vocab("stories260K.gguf");
    loaded_vocab bpe = load_vocab("ggml-vocab-gpt-2.gguf");
    const struct {
        const char *text;
        size_t len;
        const char *offset;
    } cases[] = {
        {"ab\xFF", 3, "offset 2"},           /* never valid */
        {"a\xC0\x80", 3, "offset 1"},        /* overlong NUL */
        {"\xED\xA0\x80", 3, "offset 0"},     /* surrogate */
        {"ok\xE2\x96", 4, "offset 2"},       /* cut short */
        {"\xF4\x90\x80\x80", 4, "offset 0"}, /* above U+10FFFF */
        {"x\x80y", 3, "offset 1"},           /* stray continuation byte */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const pa_tokenizer *toks[] = {spm.tok, bpe.tok};
        for (size_t t = 0; t < 2; t++) {
            int32_t *ids = NULL;
            size_t n = 0;
            pa_err err = {0};
            assert_int_equal(pa_tokenizer_encode(toks[t], cases[i].text, cases[i].len,
                                                 PA_ENCODE_PARSE_SPECIAL, &ids, &n, &err),
                             PYAGENT_ERR_INVALID_UTF8);
            assert_null(ids);
            assert_contains(err.msg, cases[i].offset);
        }
    }
    unload_vocab(&spm);
    unload_vocab(&bpe);
}

static void nul_bytes_are_ordinary_text(void **state) {
    (void)state;
    loaded_vocab v = load_vocab("ggml-vocab-gpt-2.gguf");
    id_list ids = {NULL, 0};
    pa_err err = {0};
    assert_int_equal(pa_tokenizer_encode(v.tok, "a\0b", 3, 0, &ids.ids, &ids.n, &err),
                     PYAGENT_OK);
    size_t needed;
    char buf[8];
    assert_int_equal(pa_tokenizer_decode(v.tok, ids.ids, ids.n, 0, buf, sizeof buf, &needed,
                                         &err),
                     PYAGENT_OK);
    assert_int_equal(needed, 3);
    assert_memory_equal(buf, "a\0b", 3);
    free(ids.ids);
    unload_vocab(&v);
}

/* ---------------------------------------------------------------------------------------------
 * Decode and the accessors
 * ------------------------------------------------------------------------------------------- */

static void decode_rejects_out_of_range_ids(void **state) {
    (void)state;
    loaded_vocab v = load_vocab("stories260K.gguf");
    const int32_t bad[][2] = {{5, 512}, {5, -1}};
    for (size_t i = 0; i < 2; i++) {
        char buf[64];
        size_t needed = 7;
        pa_err err = {0};
        assert_int_equal(pa_tokenizer_decode(v.tok, bad[i], 2, 0, buf, sizeof buf, &needed, &err),
                         PYAGENT_ERR_INVALID_TOKEN);
        assert_contains(err.msg, "position 1");
    }
    unload_vocab(&v);
}

static void decode_reports_size_needed_when_buffer_is_too_small(void **state) {
    (void)state;
    loaded_vocab v = load_vocab("ggml-vocab-gpt-2.gguf");
    id_list ids = encode(v.tok, "Hello, world!", 0);
    size_t needed = 0;
    pa_err err = {0};
    assert_int_equal(pa_tokenizer_decode(v.tok, ids.ids, ids.n, 0, NULL, 0, &needed, &err),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(needed, strlen("Hello, world!"));

    char small[5];
    assert_int_equal(pa_tokenizer_decode(v.tok, ids.ids, ids.n, 0, small, sizeof small, &needed,
                                         &err),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(needed, 13);

    char exact[13];
    assert_int_equal(pa_tokenizer_decode(v.tok, ids.ids, ids.n, 0, exact, sizeof exact, &needed,
                                         &err),
                     PYAGENT_OK);
    assert_memory_equal(exact, "Hello, world!", 13);
    free(ids.ids);
    unload_vocab(&v);
}

static void decode_shows_control_tokens_only_when_asked(void **state) {
    (void)state;
    loaded_vocab v = load_vocab("stories260K.gguf");
    id_list ids = encode(v.tok, "Hi", PA_ENCODE_ADD_SPECIAL);
    assert_int_equal(ids.ids[0], 1);
    char *hidden = decode(v.tok, ids, PA_DECODE_STRIP_LEADING_SPACE);
    char *shown = decode(v.tok, ids, PA_DECODE_SPECIAL | PA_DECODE_STRIP_LEADING_SPACE);
    char *unstripped = decode(v.tok, ids, 0);
    assert_string_equal(hidden, "Hi");
    assert_string_equal(shown, "<s> Hi"); /* the strip applies to the first piece shown */
    assert_string_equal(unstripped, " Hi");
    free(hidden);
    free(shown);
    free(unstripped);
    free(ids.ids);
    unload_vocab(&v);
}

static void strip_leading_space_leaves_gpt2_text_alone(void **state) {
    (void)state;
    loaded_vocab v = load_vocab("ggml-vocab-gpt-2.gguf"); /* it has no dummy prefix to strip */
    id_list ids = encode(v.tok, " Hello", 0);
    char *text = decode(v.tok, ids, PA_DECODE_STRIP_LEADING_SPACE);
    assert_string_equal(text, " Hello");
    free(text);
    free(ids.ids);
    unload_vocab(&v);
}

static void pieces_undo_the_vocabulary_encoding(void **state) {
    (void)state;
    loaded_vocab spm = load_vocab("ggml-vocab-llama-spm.gguf");
    loaded_vocab bpe = load_vocab("ggml-vocab-gpt-2.gguf");
    size_t len;
    const char *piece = pa_tokenizer_piece(spm.tok, 15043, &len); /* "▁Hello" */
    assert_int_equal(len, 6);
    assert_memory_equal(piece, " Hello", 6);
    piece = pa_tokenizer_piece(spm.tok, 13, &len); /* <0x0A> */
    assert_int_equal(len, 1);
    assert_int_equal(piece[0], '\n');
    piece = pa_tokenizer_piece(spm.tok, 1, &len); /* control: raw text */
    assert_int_equal(len, 3);
    assert_memory_equal(piece, "<s>", 3);
    piece = pa_tokenizer_piece(bpe.tok, 18435, &len); /* "ĠHello" */
    assert_int_equal(len, 6);
    assert_memory_equal(piece, " Hello", 6);
    piece = pa_tokenizer_piece(bpe.tok, 198, &len); /* "Ċ" */
    assert_int_equal(len, 1);
    assert_int_equal(piece[0], '\n');
    unload_vocab(&spm);
    unload_vocab(&bpe);
}

static void eos_ends_generation_and_bos_does_not(void **state) {
    (void)state;
    loaded_vocab spm = load_vocab("stories260K.gguf");
    loaded_vocab bpe = load_vocab("ggml-vocab-gpt-2.gguf");
    assert_true(pa_tokenizer_is_eog(spm.tok, 2));
    assert_false(pa_tokenizer_is_eog(spm.tok, 1));
    assert_false(pa_tokenizer_is_eog(spm.tok, 100));
    assert_false(pa_tokenizer_is_eog(spm.tok, -1));
    assert_false(pa_tokenizer_is_eog(spm.tok, 512));
    assert_true(pa_tokenizer_is_eog(bpe.tok, 50256));
    assert_int_equal(pa_tokenizer_eos(bpe.tok), 50256);
    assert_int_equal(pa_tokenizer_n_vocab(spm.tok), 512);
    assert_int_equal(pa_tokenizer_n_vocab(bpe.tok), 50257);
    assert_int_equal(pa_tokenizer_token_type(spm.tok, 0), PA_TOKEN_UNKNOWN);
    assert_int_equal(pa_tokenizer_token_type(spm.tok, 1), PA_TOKEN_CONTROL);
    assert_int_equal(pa_tokenizer_token_type(spm.tok, 3), PA_TOKEN_BYTE);
    assert_int_equal(pa_tokenizer_token_type(spm.tok, 300), PA_TOKEN_NORMAL);
    unload_vocab(&spm);
    unload_vocab(&bpe);
}

static void stories260K_out_of_range_separator_ids_are_ignored(void **state) {
    (void)state;
    /* its sep/pad ids are 0xFFFFFFFF: llama.cpp only logs "bad special token" */
    loaded_vocab v = load_vocab("stories260K.gguf");
    assert_int_equal(pa_tokenizer_bos(v.tok), 1);
    unload_vocab(&v);
}

static void spm_encodes_long_text_and_round_trips(void **state) {
    (void)state;
    loaded_vocab v = load_vocab("stories260K.gguf");
    const char *sentence = "Once upon a time, there was a little girl named Lily. ";
    size_t n_repeats = 20000, sentence_len = strlen(sentence);
    char *text = malloc(n_repeats * sentence_len + 1);
    assert_non_null(text);
    for (size_t i = 0; i < n_repeats; i++) memcpy(text + i * sentence_len, sentence, sentence_len);
    text[n_repeats * sentence_len] = '\0';
    id_list ids = encode(v.tok, text, 0);
    assert_true(ids.n > n_repeats);
    char *back = decode(v.tok, ids, PA_DECODE_STRIP_LEADING_SPACE);
    assert_string_equal(back, text);
    free(back);
    free(ids.ids);
    free(text);
    unload_vocab(&v);
}

/* ---------------------------------------------------------------------------------------------
 * Synthetic vocabularies: a GGUF written into memory
 * ------------------------------------------------------------------------------------------- */

typedef struct builder {
    uint8_t *bytes;
    size_t len, cap;
    uint64_t n_kv;
} builder;

static void put_bytes(builder *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->bytes = realloc(b->bytes, b->cap);
        assert_non_null(b->bytes);
    }
    memcpy(b->bytes + b->len, src, n);
    b->len += n;
}

static void put_u32(builder *b, uint32_t v) { put_bytes(b, &v, 4); } /* little-endian host */
static void put_u64(builder *b, uint64_t v) { put_bytes(b, &v, 8); }

static void put_str(builder *b, const char *s) {
    put_u64(b, strlen(s));
    put_bytes(b, s, strlen(s));
}

static void put_key(builder *b, const char *key, uint32_t type) {
    put_str(b, key);
    put_u32(b, type);
    b->n_kv++;
}

static void kv_str(builder *b, const char *key, const char *value) {
    put_key(b, key, GGUF_TYPE_STRING);
    put_str(b, value);
}

static void kv_u32(builder *b, const char *key, uint32_t value) {
    put_key(b, key, GGUF_TYPE_U32);
    put_u32(b, value);
}

static void kv_bool(builder *b, const char *key, bool value) {
    uint8_t byte = value;
    put_key(b, key, GGUF_TYPE_BOOL);
    put_bytes(b, &byte, 1);
}

static void kv_strings(builder *b, const char *key, const char *const *values, size_t n) {
    put_key(b, key, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_STRING);
    put_u64(b, n);
    for (size_t i = 0; i < n; i++) put_str(b, values[i]);
}

static void kv_f32s(builder *b, const char *key, const float *values, size_t n) {
    put_key(b, key, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_F32);
    put_u64(b, n);
    put_bytes(b, values, 4 * n);
}

static void kv_i32s(builder *b, const char *key, const int32_t *values, size_t n) {
    put_key(b, key, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_I32);
    put_u64(b, n);
    put_bytes(b, values, 4 * n);
}

/* A whole GGUF (header, the key/values put so far, padding) in an allocation of its size. */
typedef struct synthetic {
    uint8_t *bytes;
    gguf_file *gguf;
} synthetic;

static synthetic finish(builder *b) {
    builder file = {NULL, 0, 0, 0};
    put_bytes(&file, "GGUF", 4);
    put_u32(&file, 3);
    put_u64(&file, 0);
    put_u64(&file, b->n_kv);
    put_bytes(&file, b->bytes, b->len);
    while (file.len % 32 != 0) put_bytes(&file, "", 1);
    free(b->bytes);

    synthetic s = {malloc(file.len), NULL};
    assert_non_null(s.bytes);
    memcpy(s.bytes, file.bytes, file.len);
    pa_err err = {0};
    if (gguf_open_memory(s.bytes, file.len, "synthetic.gguf", &s.gguf, &err) != PYAGENT_OK) {
        fail_msg("%s", err.msg);
    }
    free(file.bytes);
    return s;
}

static void close_synthetic(synthetic *s) {
    gguf_close(s->gguf);
    free(s->bytes);
}

/* Loading must fail with `status` and a message holding `part`. */
static void assert_load_fails(builder *b, pyagent_status status, const char *part) {
    synthetic s = finish(b);
    pa_tokenizer *tok = (pa_tokenizer *)&tok;
    pa_err err = {0};
    assert_int_equal(pa_tokenizer_load(s.gguf, &tok, &err), status);
    assert_null(tok);
    assert_contains(err.msg, part);
    close_synthetic(&s);
}

static pa_tokenizer *load_synthetic(builder *b, synthetic *s) {
    *s = finish(b);
    pa_tokenizer *tok = NULL;
    pa_err err = {0};
    if (pa_tokenizer_load(s->gguf, &tok, &err) != PYAGENT_OK) fail_msg("%s", err.msg);
    return tok;
}

static const char *const small_spm_tokens[] = {"<unk>", "<s>", "</s>", "a", "b", "ab", "ba"};
#define N_SMALL_SPM 7

/* An SPM vocabulary: <unk> <s> </s> a b ab ba, no dummy prefix, every merge scoring `score`. */
static builder small_spm(float score) {
    builder b = {NULL, 0, 0, 0};
    const float scores[N_SMALL_SPM] = {0, 0, 0, -1, -1, score, score};
    const int32_t types[N_SMALL_SPM] = {2, 3, 3, 1, 1, 1, 1};
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strings(&b, "tokenizer.ggml.tokens", small_spm_tokens, N_SMALL_SPM);
    kv_f32s(&b, "tokenizer.ggml.scores", scores, N_SMALL_SPM);
    kv_i32s(&b, "tokenizer.ggml.token_type", types, N_SMALL_SPM);
    kv_bool(&b, "tokenizer.ggml.add_space_prefix", false);
    return b;
}

static void spm_merges_leftmost_pair_when_scores_tie(void **state) {
    (void)state;
    builder b = small_spm(-0.5f);
    synthetic s;
    pa_tokenizer *tok = load_synthetic(&b, &s);
    id_list ids = encode(tok, "aba", 0);
    const int32_t expected[] = {5, 3}; /* "ab" "a", not "a" "ba" */
    assert_ids(ids, expected, 2);
    free(ids.ids);
    pa_tokenizer_free(tok);
    close_synthetic(&s);
}

static void spm_merges_highest_score_first(void **state) {
    (void)state;
    builder b = {NULL, 0, 0, 0};
    const float scores[N_SMALL_SPM] = {0, 0, 0, -1, -1, -0.9f, -0.1f}; /* "ba" beats "ab" */
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strings(&b, "tokenizer.ggml.tokens", small_spm_tokens, N_SMALL_SPM);
    kv_f32s(&b, "tokenizer.ggml.scores", scores, N_SMALL_SPM);
    kv_bool(&b, "tokenizer.ggml.add_space_prefix", false);
    synthetic s;
    pa_tokenizer *tok = load_synthetic(&b, &s);
    id_list ids = encode(tok, "aba", 0);
    const int32_t expected[] = {3, 6}; /* "a" "ba" */
    assert_ids(ids, expected, 2);
    free(ids.ids);
    pa_tokenizer_free(tok);
    close_synthetic(&s);
}

static void spm_merges_across_spaces_when_the_vocabulary_does(void **state) {
    (void)state;
    /* "a▁b" joins a character to the space after it, so words cannot be merged one by one */
    builder b = {NULL, 0, 0, 0};
    const char *const tokens[] = {"<unk>", "<s>", "</s>", "a", "b", "\xE2\x96\x81",
                                  "a\xE2\x96\x81", ("a\xE2\x96\x81" "b")};
    const float scores[] = {0, 0, 0, -5, -5, -5, -2, -1};
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strings(&b, "tokenizer.ggml.tokens", tokens, 8);
    kv_f32s(&b, "tokenizer.ggml.scores", scores, 8);
    kv_bool(&b, "tokenizer.ggml.add_space_prefix", false);
    synthetic s;
    pa_tokenizer *tok = load_synthetic(&b, &s);
    id_list ids = encode(tok, "a b a", 0);
    const int32_t expected[] = {7, 5, 3}; /* "a▁b" "▁" "a" */
    assert_ids(ids, expected, 3);
    free(ids.ids);
    pa_tokenizer_free(tok);
    close_synthetic(&s);
}

static void spm_falls_back_to_byte_tokens_then_unknown(void **state) {
    (void)state;
    builder b = {NULL, 0, 0, 0};
    const char *const tokens[] = {"<unk>", "<s>", "</s>", "a", "<0xC3>"};
    const int32_t types[] = {2, 3, 3, 1, 6};
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strings(&b, "tokenizer.ggml.tokens", tokens, 5);
    kv_i32s(&b, "tokenizer.ggml.token_type", types, 5);
    kv_bool(&b, "tokenizer.ggml.add_space_prefix", false);
    synthetic s;
    pa_tokenizer *tok = load_synthetic(&b, &s);
    id_list ids = encode(tok, "a\xC3\xA9", 0); /* "aé": C3 has a byte token, A9 does not */
    const int32_t expected[] = {3, 4, 0};
    assert_ids(ids, expected, 3);
    free(ids.ids);
    pa_tokenizer_free(tok);
    close_synthetic(&s);
}

static void special_tokens_are_matched_longest_first(void **state) {
    (void)state;
    builder b = {NULL, 0, 0, 0};
    const char *const tokens[] = {"<unk>", "<s>", "</s>", "X", "Y", "Z", "W", "XY", "YZW"};
    const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 3, 3};
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strings(&b, "tokenizer.ggml.tokens", tokens, 9);
    kv_i32s(&b, "tokenizer.ggml.token_type", types, 9);
    kv_bool(&b, "tokenizer.ggml.add_space_prefix", false);
    synthetic s;
    pa_tokenizer *tok = load_synthetic(&b, &s);
    id_list ids = encode(tok, "XYZWXY", PA_ENCODE_PARSE_SPECIAL);
    const int32_t expected[] = {3, 8, 7}; /* "X" <YZW> <XY>: llama.cpp's order, not leftmost */
    assert_ids(ids, expected, 3);
    free(ids.ids);
    pa_tokenizer_free(tok);
    close_synthetic(&s);
}

static void user_defined_tokens_are_matched_without_parse_special(void **state) {
    (void)state;
    builder b = {NULL, 0, 0, 0};
    const char *const tokens[] = {"<unk>", "<s>", "</s>", "a", "<tool>"};
    const int32_t types[] = {2, 3, 3, 1, 4};
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strings(&b, "tokenizer.ggml.tokens", tokens, 5);
    kv_i32s(&b, "tokenizer.ggml.token_type", types, 5);
    kv_bool(&b, "tokenizer.ggml.add_space_prefix", false);
    synthetic s;
    pa_tokenizer *tok = load_synthetic(&b, &s);
    id_list ids = encode(tok, "a<tool>a", 0); /* as llama.cpp and HF tokenizers do */
    const int32_t expected[] = {3, 4, 3};
    assert_ids(ids, expected, 3);
    char *text = decode(tok, ids, 0); /* user-defined tokens always decode to their text */
    assert_string_equal(text, "a<tool>a");
    free(text);
    free(ids.ids);
    pa_tokenizer_free(tok);
    close_synthetic(&s);
}

static void add_special_appends_eos_when_metadata_asks(void **state) {
    (void)state;
    builder b = small_spm(-0.5f);
    kv_bool(&b, "tokenizer.ggml.add_eos_token", true);
    kv_bool(&b, "tokenizer.ggml.add_bos_token", false);
    synthetic s;
    pa_tokenizer *tok = load_synthetic(&b, &s);
    id_list ids = encode(tok, "ab", PA_ENCODE_ADD_SPECIAL);
    const int32_t expected[] = {5, 2};
    assert_ids(ids, expected, 2);
    free(ids.ids);
    pa_tokenizer_free(tok);
    close_synthetic(&s);
}

static void metadata_eot_token_ends_generation(void **state) {
    (void)state;
    builder b = small_spm(-0.5f);
    kv_u32(&b, "tokenizer.ggml.eot_token_id", 6);
    kv_u32(&b, "tokenizer.ggml.eom_token_id", 0xFFFFFFFFu); /* out of range: ignored */
    synthetic s;
    pa_tokenizer *tok = load_synthetic(&b, &s);
    assert_true(pa_tokenizer_is_eog(tok, 6));
    assert_true(pa_tokenizer_is_eog(tok, 2));
    assert_false(pa_tokenizer_is_eog(tok, 5));
    pa_tokenizer_free(tok);
    close_synthetic(&s);
}

/* A byte-level vocabulary holding the digit "1" and "11", with the merge "1 1". */
static builder digits_bpe(const char *pre) {
    builder b = {NULL, 0, 0, 0};
    const char *const tokens[] = {"1", "11", "a", "<|endoftext|>"};
    const char *const merges[] = {"1 1"};
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    if (pre) kv_str(&b, "tokenizer.ggml.pre", pre);
    kv_strings(&b, "tokenizer.ggml.tokens", tokens, 4);
    kv_strings(&b, "tokenizer.ggml.merges", merges, 1);
    kv_u32(&b, "tokenizer.ggml.eos_token_id", 3);
    kv_u32(&b, "tokenizer.ggml.bos_token_id", 3);
    return b;
}

static void bpe_pre_tokenizer_follows_tokenizer_ggml_pre(void **state) {
    (void)state;
    const struct {
        const char *pre;
        int32_t ids[4];
        size_t n;
    } cases[] = {
        {NULL, {1, 1}, 2},          /* default = GPT-2: " ?\p{N}+" keeps "1111" whole */
        {"gpt-2", {1, 1}, 2},
        {"llama3", {1, 0, 0}, 3},   /* \p{N}{1,3}: "111" "1" */
        {"qwen2", {0, 0, 0, 0}, 4}, /* \p{N}: one digit per word */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        builder b = digits_bpe(cases[i].pre);
        synthetic s;
        pa_tokenizer *tok = load_synthetic(&b, &s);
        id_list ids = encode(tok, "1111", 0);
        assert_ids(ids, cases[i].ids, cases[i].n);
        free(ids.ids);
        pa_tokenizer_free(tok);
        close_synthetic(&s);
    }
}

static void llama3_pre_tokenizer_adds_bos_by_default(void **state) {
    (void)state;
    builder b = digits_bpe("llama-bpe");
    synthetic s;
    pa_tokenizer *tok = load_synthetic(&b, &s);
    assert_true(pa_tokenizer_adds_bos(tok));
    id_list ids = encode(tok, "a", PA_ENCODE_ADD_SPECIAL);
    const int32_t expected[] = {3, 2};
    assert_ids(ids, expected, 2);
    free(ids.ids);
    pa_tokenizer_free(tok);
    close_synthetic(&s);
}

/* ---------------------------------------------------------------------------------------------
 * Load validation
 * ------------------------------------------------------------------------------------------- */

static void load_requires_the_token_list(void **state) {
    (void)state;
    builder b = {NULL, 0, 0, 0};
    kv_str(&b, "tokenizer.ggml.model", "llama");
    assert_load_fails(&b, PYAGENT_ERR_BAD_MODEL, "missing key 'tokenizer.ggml.tokens'");
}

static void load_requires_the_model_name(void **state) {
    (void)state;
    builder b = {NULL, 0, 0, 0};
    kv_strings(&b, "tokenizer.ggml.tokens", small_spm_tokens, N_SMALL_SPM);
    assert_load_fails(&b, PYAGENT_ERR_BAD_MODEL, "tokenizer.ggml.model");
}

static void load_rejects_unknown_tokenizer_models(void **state) {
    (void)state;
    builder b = {NULL, 0, 0, 0};
    kv_str(&b, "tokenizer.ggml.model", "bert");
    kv_strings(&b, "tokenizer.ggml.tokens", small_spm_tokens, N_SMALL_SPM);
    assert_load_fails(&b, PYAGENT_ERR_UNSUPPORTED, "'bert'");
}

static void load_rejects_unknown_pre_tokenizers(void **state) {
    (void)state;
    builder b = digits_bpe("made-up-pre");
    assert_load_fails(&b, PYAGENT_ERR_UNSUPPORTED, "'made-up-pre'");
}

static void load_requires_merges_for_gpt2(void **state) {
    (void)state;
    builder b = {NULL, 0, 0, 0};
    const char *const tokens[] = {"a", "b", "ab"};
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_strings(&b, "tokenizer.ggml.tokens", tokens, 3);
    assert_load_fails(&b, PYAGENT_ERR_BAD_MODEL, "tokenizer.ggml.merges");
}

static void load_rejects_duplicate_tokens(void **state) {
    (void)state;
    builder b = {NULL, 0, 0, 0};
    const char *const tokens[] = {"<unk>", "<s>", "</s>", "a", "a"};
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strings(&b, "tokenizer.ggml.tokens", tokens, 5);
    assert_load_fails(&b, PYAGENT_ERR_BAD_MODEL,
                      "duplicate token in vocabulary: 'a' has ids 3 and 4");
}

static void load_rejects_scores_of_the_wrong_length(void **state) {
    (void)state;
    builder b = {NULL, 0, 0, 0};
    const float scores[3] = {0};
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strings(&b, "tokenizer.ggml.tokens", small_spm_tokens, N_SMALL_SPM);
    kv_f32s(&b, "tokenizer.ggml.scores", scores, 3);
    assert_load_fails(&b, PYAGENT_ERR_BAD_MODEL, "tokenizer.ggml.scores");
}

static void load_rejects_token_types_of_the_wrong_type(void **state) {
    (void)state;
    builder b = {NULL, 0, 0, 0};
    const float types[N_SMALL_SPM] = {0};
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strings(&b, "tokenizer.ggml.tokens", small_spm_tokens, N_SMALL_SPM);
    kv_f32s(&b, "tokenizer.ggml.token_type", types, N_SMALL_SPM);
    assert_load_fails(&b, PYAGENT_ERR_BAD_MODEL, "tokenizer.ggml.token_type");
}

static void load_rejects_a_non_integer_special_id(void **state) {
    (void)state;
    builder b = small_spm(-0.5f);
    kv_str(&b, "tokenizer.ggml.bos_token_id", "1");
    assert_load_fails(&b, PYAGENT_ERR_BAD_MODEL, "tokenizer.ggml.bos_token_id");
}

static void load_ignores_out_of_range_special_ids(void **state) {
    (void)state;
    builder b = small_spm(-0.5f);
    kv_u32(&b, "tokenizer.ggml.bos_token_id", 7); /* n_vocab is 7: keeps the default 1 */
    kv_u32(&b, "tokenizer.ggml.eos_token_id", 0xFFFFFFFFu);
    synthetic s;
    pa_tokenizer *tok = load_synthetic(&b, &s);
    assert_int_equal(pa_tokenizer_bos(tok), 1);
    assert_int_equal(pa_tokenizer_eos(tok), 2);
    pa_tokenizer_free(tok);
    close_synthetic(&s);
}

static void load_rejects_add_bos_without_a_bos_token(void **state) {
    (void)state;
    builder b = {NULL, 0, 0, 0};
    const char *const tokens[] = {"a"}; /* the SPM default bos id 1 is out of range */
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strings(&b, "tokenizer.ggml.tokens", tokens, 1);
    assert_load_fails(&b, PYAGENT_ERR_BAD_MODEL, "tokenizer.ggml.add_bos_token");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stories260K_matches_llama_cpp_vectors_and_round_trips),
        cmocka_unit_test(llama_spm_matches_llama_cpp_vectors_and_round_trips),
        cmocka_unit_test(gpt2_matches_llama_cpp_vectors_and_round_trips),
        cmocka_unit_test(spm_add_special_prepends_bos_only),
        cmocka_unit_test(gpt2_add_special_adds_nothing_by_default),
        cmocka_unit_test(empty_text_encodes_to_no_ids),
        cmocka_unit_test(parse_special_turns_bos_text_into_bos_id),
        cmocka_unit_test(without_parse_special_bos_text_is_plain_text),
        cmocka_unit_test(text_after_a_special_token_gets_the_space_prefix),
        cmocka_unit_test(gpt2_parse_special_finds_endoftext),
        cmocka_unit_test(no_space_prefix_flag_omits_the_dummy_prefix),
        cmocka_unit_test(invalid_utf8_is_rejected_with_its_offset),
        cmocka_unit_test(nul_bytes_are_ordinary_text),
        cmocka_unit_test(decode_rejects_out_of_range_ids),
        cmocka_unit_test(decode_reports_size_needed_when_buffer_is_too_small),
        cmocka_unit_test(decode_shows_control_tokens_only_when_asked),
        cmocka_unit_test(strip_leading_space_leaves_gpt2_text_alone),
        cmocka_unit_test(pieces_undo_the_vocabulary_encoding),
        cmocka_unit_test(eos_ends_generation_and_bos_does_not),
        cmocka_unit_test(stories260K_out_of_range_separator_ids_are_ignored),
        cmocka_unit_test(spm_encodes_long_text_and_round_trips),
        cmocka_unit_test(spm_merges_leftmost_pair_when_scores_tie),
        cmocka_unit_test(spm_merges_highest_score_first),
        cmocka_unit_test(spm_merges_across_spaces_when_the_vocabulary_does),
        cmocka_unit_test(spm_falls_back_to_byte_tokens_then_unknown),
        cmocka_unit_test(special_tokens_are_matched_longest_first),
        cmocka_unit_test(user_defined_tokens_are_matched_without_parse_special),
        cmocka_unit_test(add_special_appends_eos_when_metadata_asks),
        cmocka_unit_test(metadata_eot_token_ends_generation),
        cmocka_unit_test(bpe_pre_tokenizer_follows_tokenizer_ggml_pre),
        cmocka_unit_test(llama3_pre_tokenizer_adds_bos_by_default),
        cmocka_unit_test(load_requires_the_token_list),
        cmocka_unit_test(load_requires_the_model_name),
        cmocka_unit_test(load_rejects_unknown_tokenizer_models),
        cmocka_unit_test(load_rejects_unknown_pre_tokenizers),
        cmocka_unit_test(load_requires_merges_for_gpt2),
        cmocka_unit_test(load_rejects_duplicate_tokens),
        cmocka_unit_test(load_rejects_scores_of_the_wrong_length),
        cmocka_unit_test(load_rejects_token_types_of_the_wrong_type),
        cmocka_unit_test(load_rejects_a_non_integer_special_id),
        cmocka_unit_test(load_ignores_out_of_range_special_ids),
        cmocka_unit_test(load_rejects_add_bos_without_a_bos_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
