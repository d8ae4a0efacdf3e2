/* The llama forward pass (DESIGN §5): RMSNorm, RoPE on adjacent pairs, GQA attention, SwiGLU. */
#ifndef PA_MODEL_ARCH_LLAMA_H
#define PA_MODEL_ARCH_LLAMA_H

#include "../../core/threadpool.h"
#include "../../kv/store.h"
#include "../model.h"

/* Activation buffers for batches of up to n_batch tokens and sequences of up to n_ctx. */
typedef struct pa_llama_ws pa_llama_ws;

pyagent_status pa_llama_ws_create(const pa_model *m, int n_batch, int n_ctx, int n_threads,
                                  pa_llama_ws **out, pa_err *err);
void pa_llama_ws_free(pa_llama_ws *ws);

/* One sequence's part of a batch: tokens at positions pos0 .. pos0 + n - 1 of a sequence whose
 * KV lives in the blocks of `block_table` (position p: block_table[p / block_size], slot
 * p % block_size). Blocks for every position up to pos0 + n - 1 must be there, and the blocks
 * written (those holding pos0 ..) must be writable by this sequence alone. */
typedef struct pa_batch_seq {
    const int32_t *tokens;      /* n valid ids */
    int n;
    int pos0;
    const int32_t *block_table;
    float *logits;              /* (n_vocab,) for the last token, or NULL */
} pa_batch_seq;

/* Runs a batch of sequences (at most n_batch tokens in all) through the model: every matmul
 * over all tokens at once, attention per token over its own sequence's blocks. */
void pa_llama_forward(const pa_model *m, pa_llama_ws *ws, pa_pool *pool, pa_kv_store *kv,
                      const pa_batch_seq *seqs, int n_seqs);

#endif
