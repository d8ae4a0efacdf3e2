/*
 * pyagent-server's parts that need no network: chat templates (detection from real Jinja
 * sources, rendering of each family), the request parser's answers to bad input, JSON text of
 * invalid UTF-8, and pyagent_engine_meta_str, through which the server reads the template.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pyagent/pyagent.h>

#include "chat_template.h"
#include "json_util.h"
#include "request.h"

static char model_path[1024];

/* ------------------------------------------------------------------------------------------ */
/* Chat templates                                                                              */

/* Excerpts of the templates these families ship in their GGUFs' tokenizer.chat_template. */
static const struct {
    const char *jinja;
    srv_template family;
} JINJA[] = {
    {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
     "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
     SRV_TEMPLATE_CHATML},
    {"{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + "
     "messages[0]['content'] | trim + '\\n<</SYS>>\\n\\n' %}{% endif %}{{ bos_token + '[INST] ' "
     "+ content | trim + ' [/INST]' }}",
     SRV_TEMPLATE_LLAMA2},
    {"{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
     "message['content'] | trim + '<|eot_id|>' %}",
     SRV_TEMPLATE_LLAMA3},
    {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] "
     "' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token}}"
     "{% endif %}{% endfor %}",
     SRV_TEMPLATE_MISTRAL},
    {"{% for message in messages %}\\n{% if message['role'] == 'user' %}\\n{{ '<|user|>\\n' + "
     "message['content'] + eos_token }}\\n{% elif message['role'] == 'assistant' %}{{ "
     "'<|assistant|>\\n' }}{% endif %}{% endfor %}",
     SRV_TEMPLATE_ZEPHYR},
    {"{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
     "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
     SRV_TEMPLATE_GEMMA},
};

static void templates_are_detected_from_their_marker_tokens(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof JINJA / sizeof JINJA[0]; i++) {
        bool known = false;
        assert_int_equal(srv_template_detect(JINJA[i].jinja, &known), JINJA[i].family);
        assert_true(known);
    }
    bool known = true;
    assert_int_equal(srv_template_detect(NULL, &known), SRV_TEMPLATE_NONE);
    assert_true(known);
    assert_int_equal(srv_template_detect("", NULL), SRV_TEMPLATE_NONE);
    /* a template of no known family: chatml, and the caller is told */
    assert_int_equal(srv_template_detect("{{ messages }}", &known), SRV_TEMPLATE_CHATML);
    assert_false(known);
}

static void templates_have_names_both_ways(void **state) {
    (void)state;
    for (int t = 0; t < SRV_TEMPLATE_COUNT; t++) {
        srv_template back = SRV_TEMPLATE_COUNT;
        assert_true(srv_template_by_name(srv_template_name((srv_template)t), &back));
        assert_int_equal(back, t);
    }
    srv_template t;
    assert_false(srv_template_by_name("vicuna", &t));
}

static const srv_message CONVERSATION[] = {
    {SRV_ROLE_SYSTEM, "Be brief."},
    {SRV_ROLE_USER, "Hi"},
    {SRV_ROLE_ASSISTANT, "Hello!"},
    {SRV_ROLE_USER, "Tell a story."},
};

static void expect_render(srv_template t, const char *expected) {
    char *text = srv_template_render(t, CONVERSATION, 4, true);
    assert_non_null(text);
    assert_string_equal(text, expected);
    free(text);
}

static void each_family_renders_a_conversation_as_its_reference_template(void **state) {
    (void)state;
    expect_render(SRV_TEMPLATE_CHATML,
                  "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                  "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nTell a story."
                  "<|im_end|>\n<|im_start|>assistant\n");
    expect_render(SRV_TEMPLATE_LLAMA2, "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! "
                                       "</s><s>[INST] Tell a story. [/INST]");
    expect_render(SRV_TEMPLATE_MISTRAL,
                  "[INST] Be brief.\n\nHi [/INST] Hello! </s><s>[INST] Tell a story. [/INST]");
    expect_render(SRV_TEMPLATE_LLAMA3,
                  "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                  "<|start_header_id|>user<|end_header_id|>\n\nTell a story.<|eot_id|>"
                  "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect_render(SRV_TEMPLATE_ZEPHYR, "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n"
                                       "<|assistant|>\nHello!</s>\n<|user|>\nTell a story.</s>\n"
                                       "<|assistant|>\n");
    expect_render(SRV_TEMPLATE_GEMMA, "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
                                      "<start_of_turn>model\nHello!<end_of_turn>\n"
                                      "<start_of_turn>user\nTell a story.<end_of_turn>\n"
                                      "<start_of_turn>model\n");
    expect_render(SRV_TEMPLATE_NONE, "Be brief.\nHi\nHello!\nTell a story.");
}

static void chat_families_stop_at_their_end_of_turn(void **state) {
    (void)state;
    assert_string_equal(srv_template_stops(SRV_TEMPLATE_CHATML)[0], "<|im_end|>");
    assert_string_equal(srv_template_stops(SRV_TEMPLATE_LLAMA3)[0], "<|eot_id|>");
    assert_string_equal(srv_template_stops(SRV_TEMPLATE_GEMMA)[0], "<end_of_turn>");
    assert_null(srv_template_stops(SRV_TEMPLATE_NONE)[0]);
}

/* ------------------------------------------------------------------------------------------ */
/* Request parsing                                                                             */

static void a_chat_request_is_parsed_into_its_fields(void **state) {
    (void)state;
    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"Be "
                       "brief.\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
                       "\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}],\"max_completion_tokens\":7,"
                       "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"stop\":"
                       "\"x\",\"temperature\":0,\"top_k\":3.0,\"session_id\":\"s\","
                       "\"cache_salt\":\"t\",\"unknown_field\":[1,2]}";
    srv_gen_request r;
    srv_error err;
    assert_true(srv_parse_gen_request(body, strlen(body), SRV_GEN_CHAT, false, &r, &err));
    assert_string_equal(r.model, "m");
    assert_int_equal(r.n_messages, 2);
    assert_int_equal(r.messages[0].role, SRV_ROLE_SYSTEM);
    assert_string_equal(r.messages[1].content, "a\nb");
    assert_int_equal(r.max_tokens, 7);
    assert_true(r.stream && r.include_usage);
    assert_int_equal(r.n_stops, 1);
    assert_string_equal(r.stops[0], "x");
    assert_int_equal(r.sampling.n_settings, 2);
    assert_string_equal(r.sampling.settings[1].key, "top_k");
    assert_int_equal(r.sampling.settings[1].i64, 3);
    assert_string_equal(r.session_id, "s");
    assert_string_equal(r.cache_salt, "t");
    assert_null(r.agent_id);
    srv_gen_request_free(&r);
}

static void completion_prompts_are_text_or_token_ids(void **state) {
    (void)state;
    srv_gen_request r;
    srv_error err;
    const char *one = "{\"prompt\":[\"Once\"]}";
    assert_true(srv_parse_gen_request(one, strlen(one), SRV_GEN_COMPLETION, false, &r, &err));
    assert_string_equal(r.prompt, "Once");
    srv_gen_request_free(&r);
    const char *ids = "{\"prompt\":[1, 403, 407]}";
    assert_true(srv_parse_gen_request(ids, strlen(ids), SRV_GEN_COMPLETION, false, &r, &err));
    assert_null(r.prompt);
    assert_int_equal(r.n_prompt_tokens, 3);
    assert_int_equal(r.prompt_tokens[2], 407);
    srv_gen_request_free(&r);
}

/* Each body must be refused with 400 and name `param` (NULL: no param). */
static void expect_refused(srv_gen_kind kind, const char *body, size_t len, const char *param) {
    srv_gen_request r;
    srv_error err;
    memset(&err, 0, sizeof err);
    if (srv_parse_gen_request(body, len, kind, false, &r, &err)) {
        srv_gen_request_free(&r);
        fail_msg("accepted: %s", body);
    }
    assert_int_equal(err.http_status, 400);
    assert_string_equal(err.type, "invalid_request_error");
    assert_string_equal(err.param, param ? param : "");
    assert_true(strlen(err.message) > 0);
}

static void malformed_requests_are_refused_with_the_field_at_fault(void **state) {
    (void)state;
    const struct {
        srv_gen_kind kind;
        const char *body;
        const char *param;
    } cases[] = {
        {SRV_GEN_CHAT, "", NULL},
        {SRV_GEN_CHAT, "{\"messages\":", NULL},
        {SRV_GEN_CHAT, "[1,2]", NULL},
        {SRV_GEN_CHAT, "{}", "messages"},
        {SRV_GEN_CHAT, "{\"messages\":[]}", "messages"},
        {SRV_GEN_CHAT, "{\"messages\":\"hi\"}", "messages"},
        {SRV_GEN_CHAT, "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages[0]"},
        {SRV_GEN_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
         "messages[0].content"},
        {SRV_GEN_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
         "messages[0].content"},
        {SRV_GEN_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":"
                       "\"hot\"}",
         "temperature"},
        {SRV_GEN_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}",
         "max_tokens"},
        {SRV_GEN_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}",
         "max_tokens"},
        {SRV_GEN_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", "n"},
        {SRV_GEN_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":1}",
         "stream"},
        {SRV_GEN_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"a\","
                       "\"b\",\"c\",\"d\",\"e\"]}",
         "stop"},
        {SRV_GEN_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":\"\"}",
         "stop"},
        {SRV_GEN_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{}]}",
         "tools"},
        {SRV_GEN_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"session_id\":7}",
         "session_id"},
        {SRV_GEN_COMPLETION, "{\"prompt\":7}", "prompt"},
        {SRV_GEN_COMPLETION, "{\"prompt\":[\"a\",\"b\"]}", "prompt"},
        {SRV_GEN_COMPLETION, "{\"prompt\":[1,-2]}", "prompt"},
        {SRV_GEN_COMPLETION, "{\"prompt\":[]}", "prompt"},
        {SRV_GEN_COMPLETION, "{}", "prompt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_refused(cases[i].kind, cases[i].body, strlen(cases[i].body), cases[i].param);
    /* invalid UTF-8 and a NUL inside a string are not JSON text */
    const char bad_utf8[] = "{\"prompt\":\"\xff\xfe\"}";
    expect_refused(SRV_GEN_COMPLETION, bad_utf8, sizeof bad_utf8 - 1, NULL);
    const char nul[] = "{\"prompt\":\"a\\u0000b\"}";
    expect_refused(SRV_GEN_COMPLETION, nul, sizeof nul - 1, NULL);
    /* a very long label */
    char label[300];
    snprintf(label, sizeof label, "{\"prompt\":\"x\",\"agent_id\":\"%0200d\"}", 0);
    expect_refused(SRV_GEN_COMPLETION, label, strlen(label), "agent_id");
}

static void sampler_values_out_of_the_librarys_bounds_are_a_400(void **state) {
    (void)state;
    const char *body = "{\"prompt\":\"x\",\"temperature\":-1}";
    srv_gen_request r;
    srv_error err;
    assert_true(srv_parse_gen_request(body, strlen(body), SRV_GEN_COMPLETION, false, &r, &err));
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    assert_false(srv_sampling_apply(&r.sampling, p, &err));
    assert_int_equal(err.http_status, 400);
    assert_string_equal(err.param, "temperature");
    assert_non_null(strstr(err.message, "temperature"));
    pyagent_params_destroy(p);
    srv_gen_request_free(&r);
}

static void agent_and_route_bodies_are_checked(void **state) {
    (void)state;
    srv_agent_request a;
    srv_error err;
    assert_true(srv_parse_agent_request("", 0, &a, &err));
    assert_true(a.prefill);
    srv_agent_request_free(&a);
    const char *both = "{\"prompt\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"y\"}]}";
    assert_false(srv_parse_agent_request(both, strlen(both), &a, &err));
    assert_int_equal(err.http_status, 400);

    pyagent_params *need = pyagent_params_create(PYAGENT_PARAMS_ROUTE);
    const char *route = "{\"context_tokens\":1000,\"need_tools\":true,\"max_cost\":0.5,"
                        "\"language\":\"en\",\"min_quality\":1}";
    assert_true(srv_parse_route_request(route, strlen(route), need, &err));
    int64_t context = 0;
    double max_cost = 0, min_quality = 0;
    pyagent_params_get_i64(need, "context_tokens", &context);
    pyagent_params_get_f64(need, "max_cost", &max_cost);
    pyagent_params_get_f64(need, "min_quality", &min_quality);
    assert_int_equal(context, 1000);
    assert_true(max_cost == 0.5 && min_quality == 1.0);
    const char *unknown = "{\"context_tokenz\":1}";
    assert_false(srv_parse_route_request(unknown, strlen(unknown), need, &err));
    assert_string_equal(err.param, "context_tokenz");
    const char *wrong = "{\"need_tools\":[1]}";
    assert_false(srv_parse_route_request(wrong, strlen(wrong), need, &err));
    pyagent_params_destroy(need);
}

/* ------------------------------------------------------------------------------------------ */
/* JSON text                                                                                   */

static void invalid_utf8_in_model_output_becomes_replacement_characters(void **state) {
    (void)state;
    strbuf sb = {0};
    srv_json_escape(&sb, "a\"\\\n\x01\xc3\xa9\xff\xe2\x82", 10);
    assert_string_equal(sb.data, "\"a\\\"\\\\\\n\\u0001\xc3\xa9\\ufffd\\ufffd\\ufffd\"");
    sb_free(&sb);
    json_t *s = srv_json_text("ok \xf0\x9f\x99\x82 \xc0\xaf", 10);
    assert_non_null(s);
    assert_string_equal(json_string_value(s), "ok \xf0\x9f\x99\x82 \xef\xbf\xbd\xef\xbf\xbd");
    json_decref(s);
}

/* ------------------------------------------------------------------------------------------ */
/* pyagent_engine_meta_str                                                                     */

static void meta_str_reads_gguf_strings_with_the_two_call_pattern(void **state) {
    (void)state;
    pyagent_engine *e = NULL;
    assert_int_equal(pyagent_engine_open(model_path, NULL, &e), PYAGENT_OK);
    size_t needed = 0;
    assert_int_equal(pyagent_engine_meta_str(e, "general.architecture", NULL, 0, &needed),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(needed, 6); /* "llama" and its NUL */
    char small[3] = "xx";
    assert_int_equal(pyagent_engine_meta_str(e, "general.architecture", small, sizeof small,
                                             &needed),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    char value[16];
    assert_int_equal(pyagent_engine_meta_str(e, "general.architecture", value, sizeof value,
                                             &needed),
                     PYAGENT_OK);
    assert_string_equal(value, "llama");
    assert_int_equal(needed, 6);
    /* stories260K has no chat template */
    assert_int_equal(pyagent_engine_meta_str(e, "tokenizer.chat_template", value, sizeof value,
                                             &needed),
                     PYAGENT_ERR_UNKNOWN_KEY);
    assert_non_null(strstr(pyagent_engine_last_error(e), "tokenizer.chat_template"));
    /* a number is not a string */
    assert_int_equal(pyagent_engine_meta_str(e, "llama.block_count", value, sizeof value,
                                             &needed),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_engine_meta_str(e, NULL, value, sizeof value, &needed),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_engine_meta_str(e, "general.name", value, sizeof value, NULL),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_engine_meta_str(NULL, "general.name", value, sizeof value, &needed),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    pyagent_engine_destroy(e);
}

int main(void) {
    const char *dir = getenv("PYAGENT_TEST_DATA");
    snprintf(model_path, sizeof model_path, "%s/stories260K.gguf", dir ? dir : "tests/data");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(templates_are_detected_from_their_marker_tokens),
        cmocka_unit_test(templates_have_names_both_ways),
        cmocka_unit_test(each_family_renders_a_conversation_as_its_reference_template),
        cmocka_unit_test(chat_families_stop_at_their_end_of_turn),
        cmocka_unit_test(a_chat_request_is_parsed_into_its_fields),
        cmocka_unit_test(completion_prompts_are_text_or_token_ids),
        cmocka_unit_test(malformed_requests_are_refused_with_the_field_at_fault),
        cmocka_unit_test(sampler_values_out_of_the_librarys_bounds_are_a_400),
        cmocka_unit_test(agent_and_route_bodies_are_checked),
        cmocka_unit_test(invalid_utf8_in_model_output_becomes_replacement_characters),
        cmocka_unit_test(meta_str_reads_gguf_strings_with_the_two_call_pattern),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
