/* Internal error reporting: a status plus a message, filled where the failure is found and
 * copied into the handle's last-error buffer at the API boundary. */
#ifndef PA_CORE_ERROR_H
#define PA_CORE_ERROR_H

#include <pyagent/pyagent.h>

#define PA_ERR_MSG_SIZE 512

typedef struct pa_err {
    pyagent_status status;
    char msg[PA_ERR_MSG_SIZE]; /* NUL-terminated, "" when status == PYAGENT_OK */
} pa_err;

/* Records `status` and a printf-style message in `err` (which may be NULL) and returns
 * `status`, so that failures read `return pa_fail(err, PYAGENT_ERR_BAD_MODEL, "...", ...);`. */
pyagent_status pa_fail(pa_err *err, pyagent_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in `err` with "prefix: " (e.g. the file name). */
void pa_err_prefix(pa_err *err, const char *prefix);

void pa_err_clear(pa_err *err);

#endif
