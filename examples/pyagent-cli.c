/*
 * pyagent-cli — generates text from a prompt, with llama-cli's flags.
 *
 * Usage:
 *   pyagent-cli -m model.gguf -p "Once upon a time" -n 64 -t 2 --temp 0.8 --top-k 40
 *               --top-p 0.95 --min-p 0.05 --repeat-penalty 1.0 --seed 42 -c 1024 -b 512
 *               [--stop STR]... [-f prompt.txt] [--verbose]
 *
 * stdout carries only the generated text, streamed token by token (the prompt is not echoed,
 * and no newline is added). stderr gets the statistics at the end: prompt tokens, tokens per
 * second for prompt processing and for generation, and why generation finished.
 *
 * The engine and sampler flags are set straight into libpyagent params objects, so their
 * defaults and bounds are the library's (--help shows the defaults it reports).
 *
 * Exit status: 0 on success, 1 when the library fails (its message goes to stderr), 2 on a
 * bad flag.
 */
#define _POSIX_C_SOURCE 200809L /* isatty, fileno */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pyagent/pyagent.h>

/* ---------------------------------------------------------------------------------------------
 * Flags that map onto params keys
 * ------------------------------------------------------------------------------------------- */

typedef struct param_flag {
    const char *flag;  /* short spelling, as llama-cli's */
    const char *alias; /* long spelling, or NULL */
    int32_t kind;      /* PYAGENT_PARAMS_ENGINE or PYAGENT_PARAMS_SAMPLER */
    const char *key;   /* params key */
    bool is_f64;       /* value type of the key */
    const char *help;
} param_flag;

static const param_flag PARAM_FLAGS[] = {
    {"-t", "--threads", PYAGENT_PARAMS_ENGINE, "n_threads", false,
     "worker threads (0 = physical cores)"},
    {"-c", "--ctx-size", PYAGENT_PARAMS_ENGINE, "n_ctx", false,
     "context size in tokens (0 = the model's, at least 512)"},
    {"-b", "--batch-size", PYAGENT_PARAMS_ENGINE, "n_batch", false,
     "max tokens per forward pass in prompt processing"},
    {"-s", "--seed", PYAGENT_PARAMS_ENGINE, "seed", false, "seed of the sampler's RNG"},
    {"--huge-pages", NULL, PYAGENT_PARAMS_ENGINE, "huge_pages", false,
     "1: read the weights into 2 MiB pages (faster decode; a private copy)"},
    {"--temp", NULL, PYAGENT_PARAMS_SAMPLER, "temperature", true, "temperature (0 = greedy)"},
    {"--top-k", NULL, PYAGENT_PARAMS_SAMPLER, "top_k", false,
     "keep the k most likely tokens (0 = off)"},
    {"--top-p", NULL, PYAGENT_PARAMS_SAMPLER, "top_p", true,
     "keep the smallest set of tokens with mass >= p (1 = off)"},
    {"--min-p", NULL, PYAGENT_PARAMS_SAMPLER, "min_p", true,
     "drop tokens below min_p * p(best) (0 = off)"},
    {"--repeat-penalty", NULL, PYAGENT_PARAMS_SAMPLER, "repeat_penalty", true,
     "penalty on recently seen tokens (1 = off)"},
    {"--repeat-last-n", NULL, PYAGENT_PARAMS_SAMPLER, "repeat_last_n", false,
     "how many recent tokens the penalties look at"},
    {"--frequency-penalty", NULL, PYAGENT_PARAMS_SAMPLER, "frequency_penalty", true,
     "subtract count * value from seen tokens (0 = off)"},
    {"--presence-penalty", NULL, PYAGENT_PARAMS_SAMPLER, "presence_penalty", true,
     "subtract value from seen tokens (0 = off)"},
    {"--spec-budget", NULL, PYAGENT_PARAMS_SAMPLER, "spec_budget", false,
     "speculative: draft nodes verified per step"},
    {"--spec-self-layers", NULL, PYAGENT_PARAMS_SAMPLER, "spec_self_layers", false,
     "speculative self-drafting: layers of the model that draft (0 = a quarter)"},
    {"--spec-top-k", NULL, PYAGENT_PARAMS_SAMPLER, "spec_top_k", false,
     "speculative: children drafted per node (1 = a chain)"},
    {"--spec-depth", NULL, PYAGENT_PARAMS_SAMPLER, "spec_depth", false,
     "speculative: deepest draft node"},
    {"--spec-min-p", NULL, PYAGENT_PARAMS_SAMPLER, "spec_min_p", true,
     "speculative: drop draft nodes whose path probability is below this (0 = off)"},
};

#define N_PARAM_FLAGS (sizeof PARAM_FLAGS / sizeof PARAM_FLAGS[0])

/* ---------------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------------- */

#define MAX_STOPS 64 /* the library's own limit is checked when the stops are added */

typedef struct options {
    const char *model_path;
    const char *draft_path;  /* --spec draft:FILE, or NULL */
    const char *prompt;      /* -p text, or NULL */
    const char *prompt_file; /* -f path, or NULL */
    int32_t n_predict;       /* tokens to generate; -1 = until EOS or a full context */
    const char *stops[MAX_STOPS];
    size_t n_stops;
    pyagent_params *engine;  /* engine params, filled by the flags */
    pyagent_params *sampler; /* sampler params, filled by the flags */
} options;

static void print_usage(FILE *out, const options *o) {
    fputs("usage: pyagent-cli -m model.gguf [-p PROMPT | -f FILE] [options]\n"
          "\n"
          "Streams the generated text (only that) to stdout; statistics go to stderr.\n"
          "\n"
          "  -m, --model PATH           GGUF model file (required)\n"
          "  -p, --prompt TEXT          prompt\n"
          "  -f, --file PATH            read the prompt from a file\n"
          "  -n, --n-predict N          tokens to generate, -1 = until EOS or a full context "
          "(default -1)\n"
          "      --stop STR             stop when the text contains STR (repeatable)\n"
          "      --spec DRAFTER         speculative decoding, same output: lookup (n-grams of\n"
          "                             the context), self (the model's first layers) or\n"
          "                             draft:FILE.gguf (a small model, same vocabulary)\n"
          "      --spec-tree TREE       static, eagle2 or talon (default talon)\n"
          "      --verbose              engine log at info level\n",
          out);
    for (size_t i = 0; i < N_PARAM_FLAGS; i++) {
        const param_flag *f = &PARAM_FLAGS[i];
        const pyagent_params *params = f->kind == PYAGENT_PARAMS_ENGINE ? o->engine : o->sampler;
        char spelling[40];
        snprintf(spelling, sizeof spelling, "%s%s%s N", f->alias ? f->flag : "    ",
                 f->alias ? ", " : "", f->alias ? f->alias : f->flag);
        fprintf(out, "  %-26s %s", spelling, f->help);
        if (f->is_f64) {
            double value = 0;
            if (pyagent_params_get_f64(params, f->key, &value) == PYAGENT_OK)
                fprintf(out, " (default %g)", value);
        } else {
            int64_t value = 0;
            if (pyagent_params_get_i64(params, f->key, &value) == PYAGENT_OK)
                fprintf(out, " (default %lld)", (long long)value);
        }
        fputc('\n', out);
    }
    fputs("  -h, --help                 print this help\n", out);
}

static void fail_usage(const options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* A bad flag: the message and the usage to stderr, exit 2. */
static void fail_usage(const options *o, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fputs("pyagent-cli: ", stderr);
    vfprintf(stderr, fmt, args);
    fputs("\n\n", stderr);
    va_end(args);
    print_usage(stderr, o);
    exit(2);
}

static const char *flag_value(const options *o, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) fail_usage(o, "%s needs a value", argv[*i]);
    *i += 1;
    return argv[*i];
}

static int64_t parse_i64(const options *o, const char *flag, const char *text) {
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        fail_usage(o, "%s: '%s' is not an integer", flag, text);
    return value;
}

static double parse_f64(const options *o, const char *flag, const char *text) {
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0')
        fail_usage(o, "%s: '%s' is not a number", flag, text);
    return value;
}

static const param_flag *find_param_flag(const char *flag) {
    for (size_t i = 0; i < N_PARAM_FLAGS; i++)
        if (strcmp(PARAM_FLAGS[i].flag, flag) == 0 ||
            (PARAM_FLAGS[i].alias && strcmp(PARAM_FLAGS[i].alias, flag) == 0))
            return &PARAM_FLAGS[i];
    return NULL;
}

/* Sets the params key of flag `f` from `text`; the library checks the bounds. */
static void set_param_flag(const options *o, const param_flag *f, const char *flag,
                           const char *text) {
    pyagent_params *params = f->kind == PYAGENT_PARAMS_ENGINE ? o->engine : o->sampler;
    pyagent_status status =
        f->is_f64 ? pyagent_params_set_f64(params, f->key, parse_f64(o, flag, text))
                  : pyagent_params_set_i64(params, f->key, parse_i64(o, flag, text));
    if (status != PYAGENT_OK)
        fail_usage(o, "%s %s: %s", flag, text, pyagent_params_last_error(params));
}

static bool is_flag(const char *arg, const char *short_name, const char *long_name) {
    return (short_name && strcmp(arg, short_name) == 0) ||
           (long_name && strcmp(arg, long_name) == 0);
}

/* --spec lookup | self | draft:FILE.gguf */
static void parse_spec(options *o, const char *value) {
    int64_t drafter = PYAGENT_SPEC_OFF;
    if (strcmp(value, "lookup") == 0) drafter = PYAGENT_SPEC_LOOKUP;
    else if (strcmp(value, "self") == 0) drafter = PYAGENT_SPEC_SELF;
    else if (strncmp(value, "draft:", 6) == 0 && value[6]) {
        drafter = PYAGENT_SPEC_DRAFT;
        o->draft_path = value + 6;
    } else {
        fail_usage(o, "--spec: '%s' is not lookup, self or draft:FILE.gguf", value);
    }
    pyagent_params_set_i64(o->sampler, "spec", drafter);
}

/* --spec-tree static | eagle2 | talon */
static void parse_spec_tree(options *o, const char *value) {
    static const char *const names[] = {"static", "eagle2", "talon"};
    for (int64_t i = 0; i < 3; i++)
        if (strcmp(value, names[i]) == 0) {
            pyagent_params_set_i64(o->sampler, "spec_tree", i);
            return;
        }
    fail_usage(o, "--spec-tree: '%s' is not static, eagle2 or talon", value);
}

static void parse_options(options *o, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        const param_flag *pf = find_param_flag(flag);
        if (pf) {
            set_param_flag(o, pf, flag, flag_value(o, argc, argv, &i));
        } else if (is_flag(flag, "-h", "--help")) {
            print_usage(stdout, o);
            exit(0);
        } else if (is_flag(flag, "-m", "--model")) {
            o->model_path = flag_value(o, argc, argv, &i);
        } else if (is_flag(flag, "-p", "--prompt")) {
            o->prompt = flag_value(o, argc, argv, &i);
        } else if (is_flag(flag, "-f", "--file")) {
            o->prompt_file = flag_value(o, argc, argv, &i);
        } else if (is_flag(flag, "-n", "--n-predict")) {
            const int64_t n = parse_i64(o, flag, flag_value(o, argc, argv, &i));
            if (n < -1 || n > INT32_MAX) fail_usage(o, "%s: %lld is not -1 or a token count",
                                                    flag, (long long)n);
            o->n_predict = (int32_t)n;
        } else if (is_flag(flag, NULL, "--stop")) {
            if (o->n_stops == MAX_STOPS) fail_usage(o, "too many --stop strings");
            o->stops[o->n_stops++] = flag_value(o, argc, argv, &i);
        } else if (is_flag(flag, NULL, "--spec")) {
            parse_spec(o, flag_value(o, argc, argv, &i));
        } else if (is_flag(flag, NULL, "--spec-tree")) {
            parse_spec_tree(o, flag_value(o, argc, argv, &i));
        } else if (is_flag(flag, NULL, "--verbose")) {
            if (pyagent_params_set_i64(o->engine, "log_level", PYAGENT_LOG_INFO) != PYAGENT_OK)
                fail_usage(o, "--verbose: %s", pyagent_params_last_error(o->engine));
        } else {
            fail_usage(o, "unknown flag '%s'", flag);
        }
    }
    if (!o->model_path) fail_usage(o, "no model: pass -m model.gguf");
    if (o->prompt && o->prompt_file) fail_usage(o, "pass either -p or -f, not both");
}

/* ---------------------------------------------------------------------------------------------
 * Prompt
 * ------------------------------------------------------------------------------------------- */

/* Reads all of `path` (a pipe works too) into a malloc'ed buffer; *size gets its length.
 * NULL with errno set on failure. */
static char *read_file(const char *path, size_t *size) {
    FILE *file = fopen(path, "rb");
    if (!file) return NULL;
    size_t capacity = 4096, length = 0;
    char *data = malloc(capacity);
    while (data) {
        length += fread(data + length, 1, capacity - length, file);
        if (length < capacity) break;
        capacity *= 2;
        char *grown = realloc(data, capacity);
        if (!grown) free(data);
        data = grown;
    }
    const bool failed = !data || ferror(file);
    const int error = data ? EIO : ENOMEM;
    fclose(file);
    if (failed) {
        free(data);
        errno = error;
        return NULL;
    }
    *size = length;
    return data;
}

/* ---------------------------------------------------------------------------------------------
 * Generation
 * ------------------------------------------------------------------------------------------- */

typedef struct stream {
    pyagent_agent *agent;
    bool write_failed; /* stdout went away: generation was cancelled */
} stream;

/* Writes the text each token releases, at once, so the output streams. */
static void on_token(void *user_data, int32_t token, const char *text, size_t text_len) {
    stream *s = user_data;
    (void)token;
    if (text_len == 0 || s->write_failed) return;
    if (fwrite(text, 1, text_len, stdout) != text_len || fflush(stdout) != 0) {
        s->write_failed = true;
        pyagent_agent_cancel(s->agent);
    }
}

static const char *finish_reason_name(int32_t reason) {
    switch (reason) {
    case PYAGENT_FINISH_LENGTH: return "length (token limit)";
    case PYAGENT_FINISH_EOS: return "eos (end of sequence)";
    case PYAGENT_FINISH_STOP: return "stop string";
    case PYAGENT_FINISH_CANCELLED: return "cancelled";
    case PYAGENT_FINISH_CONTEXT: return "context full";
    default: return "unknown";
    }
}

static double per_second(int64_t n, double seconds) { return seconds > 0 ? n / seconds : 0.0; }

static void print_stats(const pyagent_agent *agent, int32_t finish_reason) {
    pyagent_agent_stats stats = {.struct_size = sizeof stats};
    if (pyagent_agent_stats_get(agent, &stats) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-cli: statistics: %s\n", pyagent_agent_last_error(agent));
        return;
    }
    /* the generated text has no final newline: start the report on a line of its own */
    if (isatty(fileno(stdout)) && isatty(fileno(stderr))) fputc('\n', stderr);
    fprintf(stderr, "prompt:     %6lld tokens in %8.3f s (%9.2f tokens/s)\n",
            (long long)stats.n_prompt_tokens, stats.prefill_seconds,
            per_second(stats.n_prompt_tokens, stats.prefill_seconds));
    fprintf(stderr, "generation: %6lld tokens in %8.3f s (%9.2f tokens/s)\n",
            (long long)stats.n_generated_tokens, stats.decode_seconds,
            per_second(stats.n_generated_tokens, stats.decode_seconds));
    if (stats.n_verify_steps > 0)
        fprintf(stderr,
                "speculative: %lld of %lld drafted tokens accepted, %.2f tokens per verify "
                "step, %.3f s drafting\n",
                (long long)stats.n_accepted_tokens, (long long)stats.n_drafted_tokens,
                (double)(stats.n_accepted_tokens + stats.n_verify_steps) / stats.n_verify_steps,
                stats.draft_seconds);
    fprintf(stderr, "finish:     %s\n", finish_reason_name(finish_reason));
}

/* Everything after the flags; returns the exit status. */
static int run(const options *o, const char *prompt, size_t prompt_len) {
    int exit_status = 1;
    pyagent_engine *engine = NULL;
    pyagent_agent *agent = NULL;
    stream s = {.agent = NULL, .write_failed = false};
    int32_t finish_reason = 0;
    const int32_t max_tokens = o->n_predict < 0 ? INT32_MAX : o->n_predict;

    if (pyagent_engine_open(o->model_path, o->engine, &engine) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-cli: %s\n", pyagent_engine_last_error(engine));
        goto done;
    }
    if (o->draft_path && pyagent_engine_load_draft(engine, o->draft_path) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-cli: %s\n", pyagent_engine_last_error(engine));
        goto done;
    }
    if (pyagent_agent_create(engine, o->sampler, &agent) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-cli: %s\n", pyagent_engine_last_error(engine));
        goto done;
    }
    for (size_t i = 0; i < o->n_stops; i++) {
        if (pyagent_agent_add_stop(agent, o->stops[i], -1) != PYAGENT_OK) {
            fprintf(stderr, "pyagent-cli: --stop '%s': %s\n", o->stops[i],
                    pyagent_agent_last_error(agent));
            goto done;
        }
    }
    if (pyagent_agent_feed_text(agent, prompt, (int64_t)prompt_len) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-cli: prompt: %s\n", pyagent_agent_last_error(agent));
        goto done;
    }

    s.agent = agent;
    if (pyagent_agent_generate(agent, max_tokens, on_token, &s, &finish_reason) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-cli: %s\n", pyagent_agent_last_error(agent));
        goto done;
    }
    if (s.write_failed) {
        fprintf(stderr, "pyagent-cli: writing to stdout failed\n");
        goto done;
    }
    print_stats(agent, finish_reason);
    exit_status = 0;

done:
    pyagent_agent_destroy(agent);
    pyagent_engine_destroy(engine);
    return exit_status;
}

int main(int argc, char **argv) {
    if (pyagent_check_abi(PYAGENT_ABI_VERSION) != PYAGENT_OK) {
        fprintf(stderr, "pyagent-cli: libpyagent %s has ABI %d, this program was built for %d\n",
                pyagent_version_string(), (int)pyagent_abi_version(), PYAGENT_ABI_VERSION);
        return 1;
    }
    options o = {
        .model_path = NULL,
        .prompt = NULL,
        .prompt_file = NULL,
        .n_predict = -1,
        .n_stops = 0,
        .engine = pyagent_params_create(PYAGENT_PARAMS_ENGINE),
        .sampler = pyagent_params_create(PYAGENT_PARAMS_SAMPLER),
    };
    if (!o.engine || !o.sampler) {
        fprintf(stderr, "pyagent-cli: out of memory\n");
        return 1;
    }
    parse_options(&o, argc, argv);

    size_t prompt_len = o.prompt ? strlen(o.prompt) : 0;
    char *file_prompt = NULL;
    if (o.prompt_file) {
        file_prompt = read_file(o.prompt_file, &prompt_len);
        if (!file_prompt) {
            fprintf(stderr, "pyagent-cli: %s: %s\n", o.prompt_file, strerror(errno));
            return 1;
        }
    }
    const char *prompt = file_prompt ? file_prompt : o.prompt ? o.prompt : "";

    const int exit_status = run(&o, prompt, prompt_len);
    free(file_prompt);
    pyagent_params_destroy(o.engine);
    pyagent_params_destroy(o.sampler);
    return exit_status;
}
