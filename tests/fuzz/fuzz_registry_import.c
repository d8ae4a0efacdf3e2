/*
 * libFuzzer target for the registry's JSON import: any bytes are imported into a fresh
 * in-memory registry. The import must either refuse the document as a whole (not JSON, not an
 * object, invalid UTF-8) and store nothing, or store the good entries and report the others;
 * it never fails otherwise. What it stored must then export, and the export must import into a
 * second registry without one entry skipped, giving the same export again (a round trip that
 * keeps every value, source, time and confidence). Routing over the result must answer.
 *
 *     CC=clang meson setup build-fuzz -Dfuzz=enabled -Dtests=false -Dbuildtype=debug \
 *         -Db_lundef=false && ninja -C build-fuzz
 *     build-fuzz/tests/fuzz/fuzz_registry_import -max_total_time=120 corpus_copy/ \
 *         tests/fuzz/corpus_registry_import/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pyagent/pyagent.h>

static void check(int ok, const char *what, pyagent_registry *reg) {
    if (!ok) {
        fprintf(stderr, "fuzz_registry_import: %s (%s)\n", what,
                reg ? pyagent_registry_last_error(reg) : "");
        abort();
    }
}

static pyagent_registry *open_memory(void) {
    pyagent_registry *reg = NULL;
    check(pyagent_registry_open(":memory:", NULL, &reg) == PYAGENT_OK, "open", reg);
    return reg;
}

static char *export_all(pyagent_registry *reg) {
    char *json = NULL;
    size_t len = 0;
    check(pyagent_registry_export(reg, NULL, 0, &json, &len) == PYAGENT_OK, "export", reg);
    return json;
}

/* Blanks the "added_at" times, which differ between two registries, in place. */
static char *without_added_at(char *json) {
    for (char *p = json; (p = strstr(p, "\"added_at\": "));) {
        p += strlen("\"added_at\": ");
        while (*p >= '0' && *p <= '9') *p++ = ' ';
    }
    return json;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pyagent_registry *reg = open_memory();
    int64_t imported = -1, skipped = -1;
    char *report = NULL;
    pyagent_status st = pyagent_registry_import_json(reg, (const char *)data, size, "fuzz",
                                                     1750000000, 0.5, &imported, &skipped,
                                                     &report);
    check(st == PYAGENT_OK || st == PYAGENT_ERR_INVALID_ARGUMENT ||
              st == PYAGENT_ERR_INVALID_UTF8,
          "import failed with an unexpected status", reg);
    size_t needed = 0, count = 0;
    pyagent_status list = pyagent_registry_list(reg, NULL, 0, &needed, &count);
    check(list == PYAGENT_ERR_BUFFER_TOO_SMALL, "list", reg);
    if (st != PYAGENT_OK) {
        check(report == NULL && imported == -1 && count == 0, "a refused import stored", reg);
        pyagent_registry_destroy(reg);
        return 0;
    }
    check(report != NULL && (skipped == 0) == (report[0] == '\0'), "report", reg);
    check((int64_t)count <= imported, "more models than imported entries", reg);
    pyagent_free(report);

    char *first = export_all(reg);
    pyagent_registry *again = open_memory();
    int64_t imported_again = -1, skipped_again = -1;
    st = pyagent_registry_import_json(again, first, strlen(first), "round trip", 1750000001, 1,
                                      &imported_again, &skipped_again, NULL);
    check(st == PYAGENT_OK, "the export does not import", again);
    check(skipped_again == 0 && imported_again == (int64_t)count, "the export lost entries",
          again);
    char *second = export_all(again);
    check(strcmp(without_added_at(first), without_added_at(second)) == 0,
          "export -> import -> export changed the registry", again);
    pyagent_free(first);
    pyagent_free(second);

    pyagent_route *route = NULL;
    pyagent_params *need = pyagent_params_create(PYAGENT_PARAMS_ROUTE);
    pyagent_params_set_i64(need, "context_tokens", 1000);
    pyagent_params_set_i64(need, "output_tokens", 100);
    st = pyagent_registry_route(reg, need, &route);
    check(st == PYAGENT_OK || st == PYAGENT_ERR_NO_MODEL, "route", reg);
    for (size_t i = 0; i < pyagent_route_n_rejected(route); i++) {
        const char *model, *reason;
        check(pyagent_route_rejection(route, i, &model, &reason) == PYAGENT_OK && *reason,
              "a rejection without a reason", reg);
    }
    pyagent_route_destroy(route);
    pyagent_params_destroy(need);
    pyagent_registry_destroy(again);
    pyagent_registry_destroy(reg);
    return 0;
}
