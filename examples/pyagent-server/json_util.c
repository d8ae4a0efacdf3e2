#include "json_util.h"

#include <stdlib.h>
#include <string.h>

size_t srv_utf8_char_len(const unsigned char *s, size_t len) {
    const unsigned char c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000;
    else return 0;
    if (len < n) return 0;
    unsigned code = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        code = (code << 6) | (s[i] & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
    return n;
}

void srv_json_escape(strbuf *sb, const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    sb_reserve(sb, len + 2);
    sb_append(sb, "\"", 1);
    size_t i = 0;
    while (i < len) {
        const unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sb_append(sb, esc, 2);
            i++;
        } else if (c < 0x20) {
            switch (c) {
            case '\n': sb_append(sb, "\\n", 2); break;
            case '\r': sb_append(sb, "\\r", 2); break;
            case '\t': sb_append(sb, "\\t", 2); break;
            default: sb_printf(sb, "\\u%04x", c); break;
            }
            i++;
        } else if (c < 0x80) {
            size_t run = i;
            while (run < len && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
                run++;
            sb_append(sb, text + i, run - i);
            i = run;
        } else {
            size_t n = srv_utf8_char_len(s + i, len - i);
            if (n) sb_append(sb, text + i, n), i += n;
            else sb_append(sb, "\\ufffd", 6), i++;
        }
    }
    sb_append(sb, "\"", 1);
}

json_t *srv_json_text(const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        size_t n = srv_utf8_char_len(s + i, len - i);
        if (!n || (n == 1 && s[i] == 0)) break;
        i += n;
    }
    if (i == len) return json_stringn(text, len);
    strbuf clean = {0}; /* replace what jansson refuses: invalid bytes and NUL */
    for (i = 0; i < len;) {
        size_t n = srv_utf8_char_len(s + i, len - i);
        if (n && !(n == 1 && s[i] == 0)) sb_append(&clean, text + i, n), i += n;
        else sb_append(&clean, "\xEF\xBF\xBD", 3), i++;
    }
    json_t *value = clean.failed ? NULL : json_stringn(clean.data, clean.len);
    sb_free(&clean);
    return value;
}
