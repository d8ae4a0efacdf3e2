/* The llama forward pass (DESIGN §5): RMSNorm, RoPE on adjacent pairs, GQA attention, SwiGLU. */
#ifndef PA_MODEL_ARCH_LLAMA_H
#define PA_MODEL_ARCH_LLAMA_H

#include "../../core/threadpool.h"
#include "../../kv/cache.h"
#include "../model.h"

/* Activation buffers for batches of up to n_batch tokens and sequences of up to n_ctx. */
typedef struct pa_llama_ws pa_llama_ws;

pyagent_status pa_llama_ws_create(const pa_model *m, int n_batch, int n_ctx, int n_threads,
                                  pa_llama_ws **out, pa_err *err);
void pa_llama_ws_free(pa_llama_ws *ws);

/* Runs tokens[0..n) at positions pos0.. through the model (n <= n_batch), writing their K/V into
 * `kv` (which must hold pos0 + n positions) and the logits of the last token into
 * logits (n_vocab,). Token ids must be valid. */
void pa_llama_forward(const pa_model *m, pa_llama_ws *ws, pa_pool *pool, pa_kv_cache *kv,
                      const int32_t *tokens, int n, int pos0, float *logits);

#endif
