/*
 * A growing byte string for responses, prompts and metrics. An allocation failure is sticky:
 * later appends do nothing and `failed` stays set, so a builder checks once at the end.
 * `data` is always NUL-terminated once anything was appended (or sb_reserve succeeded).
 */
#ifndef PYAGENT_SERVER_STRBUF_H
#define PYAGENT_SERVER_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct strbuf {
    char *data;
    size_t len;  /* bytes, without the NUL */
    size_t cap;  /* bytes allocated */
    bool failed; /* an allocation failed: the content is incomplete */
} strbuf;

bool sb_reserve(strbuf *sb, size_t extra);
void sb_append(strbuf *sb, const char *data, size_t len);
void sb_puts(strbuf *sb, const char *s);
void sb_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first `n` bytes. */
void sb_consume(strbuf *sb, size_t n);
/* The content, owned by the caller (free), or NULL if an allocation failed; sb is reset. */
char *sb_take(strbuf *sb);
void sb_free(strbuf *sb);

#endif
