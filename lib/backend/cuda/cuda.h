/*
 * The CUDA backend (DESIGN §6, engine param backend = PYAGENT_BACKEND_CUDA): the model's
 * weights in device memory, uploaded once at open, a device KV pool that mirrors the engine's
 * block store block for block, and pa_cuda_forward, the forward pass of llama.c on the GPU.
 *
 * The host keeps everything that is bookkeeping: the block store's tables, refcounts and radix
 * index (lib/kv/store.h) decide which block ids a sequence uses, and the device pool holds the
 * K/V of those ids. Copies the store makes between blocks (copy-on-write, moving accepted
 * draft slots) go to the device through the store's mirror (pa_kv_set_mirror). The store's own
 * rows are not used: paths that read K/V rows on the host (the latent link's serialization and
 * row import) refuse an engine on this backend.
 *
 * Built with -Dcuda=enabled; otherwise lib/backend/cuda/none.c answers PYAGENT_ERR_UNSUPPORTED.
 * One thread at a time calls pa_cuda_forward (the engine's stepping thread); the mirror may be
 * called from other threads meanwhile (it only enqueues copies on the same stream).
 */
#ifndef PA_BACKEND_CUDA_H
#define PA_BACKEND_CUDA_H

#include "../../kv/store.h"
#include "../../model/arch/llama.h"
#include "../../model/model.h"

typedef struct pa_cuda pa_cuda;

/* Uploads the model's weights to device `device`, allocates a KV pool of kv->n_blocks blocks
 * and activations for batches of n_batch tokens, and makes itself the mirror of `store`.
 * UNSUPPORTED when the library was built without CUDA, no device is there, or a weight type
 * has no GPU kernel (F32, F16, BF16, Q8_0 and Q4_0 do); OUT_OF_RANGE for a device index past
 * the last; OUT_OF_MEMORY when the device memory does not suffice. The model must outlive it. */
pyagent_status pa_cuda_open(const pa_model *m, pa_kv_store *store, int device, int n_batch,
                            pa_cuda **out, pa_err *err);
void pa_cuda_free(pa_cuda *c);

/* pa_llama_forward's contract (lib/model/arch/llama.h) on the device: K/V of the batch's tokens
 * written to their slots of the device pool, logits copied to the host buffers the segments
 * point at; exact rows computed batch-invariantly. Returns PYAGENT_OK, or INTERNAL with the
 * CUDA error in `err` (the device state is then unknown). */
pyagent_status pa_cuda_forward(pa_cuda *c, const pa_batch_seq *seqs, int n_seqs, int n_layers,
                               pa_err *err);

/* Number of CUDA devices (0 when none, or without CUDA). */
int pa_cuda_device_count(void);

#endif
