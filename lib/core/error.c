#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

pyagent_status pa_fail(pa_err *err, pyagent_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

void pa_err_prefix(pa_err *err, const char *prefix) {
    if (!err || !prefix) return;
    char tmp[PA_ERR_MSG_SIZE];
    snprintf(tmp, sizeof tmp, "%.200s: %.300s", prefix, err->msg);
    memcpy(err->msg, tmp, sizeof tmp);
}

void pa_err_clear(pa_err *err) {
    if (!err) return;
    err->status = PYAGENT_OK;
    err->msg[0] = '\0';
}
