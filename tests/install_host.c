/* A host built only from the installed headers and pkg-config flags (see install_check.sh). */
#include <pyagent/pyagent.h>
#include <stdio.h>

static void print_text(void *ud, int32_t token, const char *text, size_t len) {
    (void)ud, (void)token;
    fwrite(text, 1, len, stdout);
}

int main(int argc, char **argv) {
    if (argc != 2 || pyagent_check_abi(PYAGENT_ABI_VERSION) != PYAGENT_OK) return 2;
    pyagent_engine *engine = NULL;
    if (pyagent_engine_open(argv[1], NULL, &engine) != PYAGENT_OK) {
        fprintf(stderr, "%s\n", pyagent_engine_last_error(engine));
        pyagent_engine_destroy(engine);
        return 1;
    }
    pyagent_params *greedy = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    pyagent_params_set_f64(greedy, "temperature", 0);
    pyagent_agent *agent = NULL;
    pyagent_status st = pyagent_agent_create(engine, greedy, &agent);
    pyagent_params_destroy(greedy);
    if (!st) st = pyagent_agent_feed_text(agent, "Once upon a time", -1);
    if (!st) st = pyagent_agent_generate(agent, 16, print_text, NULL, NULL);
    printf("\n%s %s\n", pyagent_version_string(), pyagent_status_str(st));
    pyagent_agent_destroy(agent);
    pyagent_engine_destroy(engine);
    return st == PYAGENT_OK ? 0 : 1;
}
