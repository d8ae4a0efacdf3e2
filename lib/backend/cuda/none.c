/* The CUDA backend's entry points in a library built without it (-Dcuda=disabled). */
#include "cuda.h"

pyagent_status pa_cuda_open(const pa_model *m, pa_kv_store *store, int device, int n_batch,
                            pa_cuda **out, pa_err *err) {
    (void)m, (void)store, (void)device, (void)n_batch;
    *out = NULL;
    return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                   "backend cuda: this libpyagent was built without CUDA (configure with "
                   "-Dcuda=enabled)");
}

void pa_cuda_free(pa_cuda *c) { (void)c; }

pyagent_status pa_cuda_forward(pa_cuda *c, const pa_batch_seq *seqs, int n_seqs, int n_layers,
                               pa_err *err) {
    (void)c, (void)seqs, (void)n_seqs, (void)n_layers;
    return pa_fail(err, PYAGENT_ERR_UNSUPPORTED, "backend cuda: built without CUDA");
}

int pa_cuda_device_count(void) { return 0; }
