/*
 * JSON text out of model output. Generated text is whole UTF-8 characters in the normal case,
 * but a model can emit byte tokens that do not form valid UTF-8, and JSON must be valid UTF-8:
 * invalid bytes become U+FFFD.
 */
#ifndef PYAGENT_SERVER_JSON_UTIL_H
#define PYAGENT_SERVER_JSON_UTIL_H

#include <jansson.h>
#include <stddef.h>

#include "strbuf.h"

/* Appends `text` (`len` bytes) to `sb` as a quoted JSON string. */
void srv_json_escape(strbuf *sb, const char *text, size_t len);

/* A jansson string of `text`, or NULL when memory ran out. */
json_t *srv_json_text(const char *text, size_t len);

/* The length of the valid UTF-8 sequence at s[0..len) (1 to 4), or 0 if it is invalid. */
size_t srv_utf8_char_len(const unsigned char *s, size_t len);

#endif
