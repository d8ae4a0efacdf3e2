/* Versions, status names and the library's free function. */
#include <stdlib.h>

#include <pyagent/pyagent.h>

#define PA_STR2(x) #x
#define PA_STR(x) PA_STR2(x)

uint32_t pyagent_version_number(void) { return PYAGENT_VERSION_NUMBER; }

const char *pyagent_version_string(void) {
    return PA_STR(PYAGENT_VERSION_MAJOR) "." PA_STR(PYAGENT_VERSION_MINOR) "." PA_STR(
        PYAGENT_VERSION_PATCH);
}

int32_t pyagent_abi_version(void) { return PYAGENT_ABI_VERSION; }

pyagent_status pyagent_check_abi(int32_t abi_version) {
    return abi_version == PYAGENT_ABI_VERSION ? PYAGENT_OK : PYAGENT_ERR_ABI_MISMATCH;
}

const char *pyagent_status_str(pyagent_status status) {
    switch (status) {
    case PYAGENT_OK: return "ok";
    case PYAGENT_ERR_INVALID_ARGUMENT: return "invalid argument";
    case PYAGENT_ERR_OUT_OF_MEMORY: return "out of memory";
    case PYAGENT_ERR_IO: return "I/O error";
    case PYAGENT_ERR_BAD_MODEL: return "bad model file";
    case PYAGENT_ERR_UNSUPPORTED: return "unsupported";
    case PYAGENT_ERR_UNKNOWN_KEY: return "unknown key";
    case PYAGENT_ERR_OUT_OF_RANGE: return "value out of range";
    case PYAGENT_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case PYAGENT_ERR_CONTEXT_FULL: return "context full";
    case PYAGENT_ERR_ABI_MISMATCH: return "ABI version mismatch";
    case PYAGENT_ERR_INVALID_UTF8: return "invalid UTF-8";
    case PYAGENT_ERR_INVALID_TOKEN: return "invalid token id";
    case PYAGENT_ERR_BUSY: return "handle busy";
    case PYAGENT_ERR_INTERNAL: return "internal error";
    case PYAGENT_ERR_NO_MODEL: return "no model meets the request";
    case PYAGENT_ERR_DATABASE: return "registry database error";
    case PYAGENT_ERR_KV_FULL: return "KV store full";
    case PYAGENT_ERR_MISMATCH: return "model or sequence mismatch";
    case PYAGENT_ERR_BAD_PACKET: return "damaged packet";
    }
    return "unknown status";
}

void pyagent_free(void *ptr) { free(ptr); }
