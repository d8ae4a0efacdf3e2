/*
 * Chat templates: turning a list of messages into the prompt text a chat model was trained on.
 *
 * A GGUF carries its template as Jinja source in tokenizer.chat_template. Rather than run
 * Jinja, the server recognizes the common families by their marker tokens (as llama.cpp's
 * llm_chat_detect_template does) and renders them with fixed code:
 *
 *   chatml   <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n     (Qwen, Yi, Hermes, ...)
 *   llama2   [INST] <<SYS>>\nsys\n<</SYS>>\n\nHi [/INST]
 *   llama3   <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>...
 *   mistral  [INST] Hi [/INST]        (a system message goes before the first user text)
 *   zephyr   <|user|>\nHi</s>\n<|assistant|>\n
 *   gemma    <start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n
 *
 * A model without a template gets plain completion ("none"): the message contents joined by
 * newlines. The rendered text holds control-token text ("<|im_start|>"), so the server
 * tokenizes it with PYAGENT_TOKENIZE_PARSE_SPECIAL; the BOS token is left to the tokenizer.
 */
#ifndef PYAGENT_SERVER_CHAT_TEMPLATE_H
#define PYAGENT_SERVER_CHAT_TEMPLATE_H

#include <stdbool.h>

#include "request.h"

typedef enum srv_template {
    SRV_TEMPLATE_NONE,
    SRV_TEMPLATE_CHATML,
    SRV_TEMPLATE_LLAMA2,
    SRV_TEMPLATE_LLAMA3,
    SRV_TEMPLATE_MISTRAL,
    SRV_TEMPLATE_ZEPHYR,
    SRV_TEMPLATE_GEMMA,
    SRV_TEMPLATE_COUNT
} srv_template;

/* The family of Jinja template source `jinja` (NULL or "" = none). *known (may be NULL) is
 * false when a template was given but no family matched; the result is then chatml, the
 * format most chat models understand. */
srv_template srv_template_detect(const char *jinja, bool *known);

const char *srv_template_name(srv_template t); /* "chatml", ..., "none" */
/* The template named `name` ("chatml", "llama2", ..., "none"); false if there is none. */
bool srv_template_by_name(const char *name, srv_template *t);

/* The prompt for `messages`, ending with the assistant's turn opener when `add_reply_prompt`.
 * A string to free, or NULL when memory ran out. */
char *srv_template_render(srv_template t, const srv_message *messages, size_t n_messages,
                          bool add_reply_prompt);

/* Text that ends the assistant's turn in this format (NULL-terminated list), added as stop
 * strings for chat requests. */
const char *const *srv_template_stops(srv_template t);

#endif
