/*
 * Chat templates (see chat_template.h). Each renderer follows the family's reference Jinja
 * template for the plain cases: text messages, optional system message, reply prompt.
 */
#include "chat_template.h"

#include <string.h>

#include "strbuf.h"

static const char *const TEMPLATE_NAMES[SRV_TEMPLATE_COUNT] = {
    [SRV_TEMPLATE_NONE] = "none",       [SRV_TEMPLATE_CHATML] = "chatml",
    [SRV_TEMPLATE_LLAMA2] = "llama2",   [SRV_TEMPLATE_LLAMA3] = "llama3",
    [SRV_TEMPLATE_MISTRAL] = "mistral", [SRV_TEMPLATE_ZEPHYR] = "zephyr",
    [SRV_TEMPLATE_GEMMA] = "gemma",
};

const char *srv_template_name(srv_template t) {
    return t >= 0 && t < SRV_TEMPLATE_COUNT ? TEMPLATE_NAMES[t] : "none";
}

bool srv_template_by_name(const char *name, srv_template *t) {
    for (int i = 0; i < SRV_TEMPLATE_COUNT; i++) {
        if (strcmp(name, TEMPLATE_NAMES[i]) == 0) {
            *t = (srv_template)i;
            return true;
        }
    }
    return false;
}

srv_template srv_template_detect(const char *jinja, bool *known) {
    if (known) *known = true;
    if (!jinja || !*jinja) return SRV_TEMPLATE_NONE;
    if (strstr(jinja, "<|im_start|>")) return SRV_TEMPLATE_CHATML;
    if (strstr(jinja, "<|start_header_id|>") && strstr(jinja, "<|end_header_id|>"))
        return SRV_TEMPLATE_LLAMA3;
    if (strstr(jinja, "[INST]"))
        return strstr(jinja, "<<SYS>>") ? SRV_TEMPLATE_LLAMA2 : SRV_TEMPLATE_MISTRAL;
    if (strstr(jinja, "<start_of_turn>")) return SRV_TEMPLATE_GEMMA;
    if (strstr(jinja, "<|user|>") && strstr(jinja, "<|assistant|>")) return SRV_TEMPLATE_ZEPHYR;
    if (known) *known = false;
    return SRV_TEMPLATE_CHATML;
}

static const char *role_name(srv_role role) {
    switch (role) {
    case SRV_ROLE_SYSTEM: return "system";
    case SRV_ROLE_USER: return "user";
    case SRV_ROLE_ASSISTANT: return "assistant";
    case SRV_ROLE_TOOL: return "tool";
    }
    return "user";
}

/* Appends `s` without leading and trailing white space (Jinja's |trim). */
static void append_trimmed(strbuf *sb, const char *s) {
    const char *end = s + strlen(s);
    while (s < end && strchr(" \t\r\n", *s)) s++;
    while (end > s && strchr(" \t\r\n", end[-1])) end--;
    sb_append(sb, s, (size_t)(end - s));
}

static void render_chatml(strbuf *sb, const srv_message *m, size_t n, bool reply) {
    for (size_t i = 0; i < n; i++)
        sb_printf(sb, "<|im_start|>%s\n%s<|im_end|>\n", role_name(m[i].role), m[i].content);
    if (reply) sb_puts(sb, "<|im_start|>assistant\n");
}

static void render_llama3(strbuf *sb, const srv_message *m, size_t n, bool reply) {
    for (size_t i = 0; i < n; i++) {
        sb_printf(sb, "<|start_header_id|>%s<|end_header_id|>\n\n",
                  m[i].role == SRV_ROLE_TOOL ? "ipython" : role_name(m[i].role));
        append_trimmed(sb, m[i].content);
        sb_puts(sb, "<|eot_id|>");
    }
    if (reply) sb_puts(sb, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* Llama 2 and Mistral: user turns in [INST] ... [/INST], answers closed by </s>, the system
 * message inside the first [INST] (in <<SYS>> for Llama 2, as plain text for Mistral). */
static void render_inst(strbuf *sb, const srv_message *m, size_t n, bool llama2) {
    bool inside_turn = true;
    sb_puts(sb, "[INST] ");
    for (size_t i = 0; i < n; i++) {
        if (!inside_turn) {
            inside_turn = true;
            sb_puts(sb, "<s>[INST] ");
        }
        if (m[i].role == SRV_ROLE_SYSTEM) {
            if (llama2) sb_printf(sb, "<<SYS>>\n%s\n<</SYS>>\n\n", m[i].content);
            else sb_printf(sb, "%s\n\n", m[i].content);
        } else if (m[i].role == SRV_ROLE_ASSISTANT) {
            sb_printf(sb, " %s </s>", m[i].content);
            inside_turn = false;
        } else {
            sb_printf(sb, "%s [/INST]", m[i].content);
        }
    }
}

static void render_zephyr(strbuf *sb, const srv_message *m, size_t n, bool reply) {
    for (size_t i = 0; i < n; i++)
        sb_printf(sb, "<|%s|>\n%s</s>\n",
                  m[i].role == SRV_ROLE_TOOL ? "user" : role_name(m[i].role), m[i].content);
    if (reply) sb_puts(sb, "<|assistant|>\n");
}

/* Gemma has no system role: the system text opens the first user turn. */
static void render_gemma(strbuf *sb, const srv_message *m, size_t n, bool reply) {
    const char *system = NULL;
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == SRV_ROLE_SYSTEM) {
            system = m[i].content;
            continue;
        }
        sb_printf(sb, "<start_of_turn>%s\n", m[i].role == SRV_ROLE_ASSISTANT ? "model" : "user");
        if (system && m[i].role != SRV_ROLE_ASSISTANT) {
            append_trimmed(sb, system);
            sb_puts(sb, "\n\n");
            system = NULL;
        }
        append_trimmed(sb, m[i].content);
        sb_puts(sb, "<end_of_turn>\n");
    }
    if (system) { /* only a system message: it is the user's turn */
        sb_puts(sb, "<start_of_turn>user\n");
        append_trimmed(sb, system);
        sb_puts(sb, "<end_of_turn>\n");
    }
    if (reply) sb_puts(sb, "<start_of_turn>model\n");
}

static void render_none(strbuf *sb, const srv_message *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i) sb_puts(sb, "\n");
        sb_puts(sb, m[i].content);
    }
}

char *srv_template_render(srv_template t, const srv_message *messages, size_t n_messages,
                          bool add_reply_prompt) {
    strbuf sb = {0};
    switch (t) {
    case SRV_TEMPLATE_CHATML: render_chatml(&sb, messages, n_messages, add_reply_prompt); break;
    case SRV_TEMPLATE_LLAMA3: render_llama3(&sb, messages, n_messages, add_reply_prompt); break;
    case SRV_TEMPLATE_LLAMA2: render_inst(&sb, messages, n_messages, true); break;
    case SRV_TEMPLATE_MISTRAL: render_inst(&sb, messages, n_messages, false); break;
    case SRV_TEMPLATE_ZEPHYR: render_zephyr(&sb, messages, n_messages, add_reply_prompt); break;
    case SRV_TEMPLATE_GEMMA: render_gemma(&sb, messages, n_messages, add_reply_prompt); break;
    default: render_none(&sb, messages, n_messages); break;
    }
    return sb_take(&sb);
}

const char *const *srv_template_stops(srv_template t) {
    static const char *const none[] = {NULL};
    static const char *const chatml[] = {"<|im_end|>", "<|im_start|>", NULL};
    static const char *const llama3[] = {"<|eot_id|>", "<|start_header_id|>", NULL};
    static const char *const inst[] = {"</s>", "[INST]", NULL};
    static const char *const zephyr[] = {"</s>", "<|user|>", NULL};
    static const char *const gemma[] = {"<end_of_turn>", "<start_of_turn>", NULL};
    switch (t) {
    case SRV_TEMPLATE_CHATML: return chatml;
    case SRV_TEMPLATE_LLAMA3: return llama3;
    case SRV_TEMPLATE_LLAMA2:
    case SRV_TEMPLATE_MISTRAL: return inst;
    case SRV_TEMPLATE_ZEPHYR: return zephyr;
    case SRV_TEMPLATE_GEMMA: return gemma;
    default: return none;
    }
}
