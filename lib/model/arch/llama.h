/* The llama forward pass (DESIGN §5): RMSNorm, RoPE on adjacent pairs, GQA attention, SwiGLU. */
#ifndef PA_MODEL_ARCH_LLAMA_H
#define PA_MODEL_ARCH_LLAMA_H

#include "../../backend/cpu/ops.h"
#include "../../core/threadpool.h"
#include "../../kv/prune.h"
#include "../../kv/store.h"
#include "../model.h"

/* Activation buffers for batches of up to n_batch tokens and sequences of up to n_ctx. */
typedef struct pa_llama_ws pa_llama_ws;

pyagent_status pa_llama_ws_create(const pa_model *m, int n_batch, int n_ctx, int n_threads,
                                  pa_llama_ws **out, pa_err *err);
void pa_llama_ws_free(pa_llama_ws *ws);

#define PA_MAX_TREE_NODES 64 /* draft nodes of one verification tree, at most */
#define PA_MAX_TREE_DEPTH PA_MAX_TREE_NODES
#define PA_TOP_CANDIDATES 64 /* of a logits row (pa_batch_seq.top), at most */

/* One sequence's part of a batch: n tokens written to KV slots pos0 .. pos0 + n - 1 of a
 * sequence whose KV lives in the blocks of `block_table` (slot p: block_table[p / block_size],
 * p % block_size). Blocks for every slot up to pos0 + n - 1 must be there, and those written
 * must be writable by this sequence alone.
 *
 * A plain segment is consecutive text: token i is at position pos0 + i and sees [0, pos0 + i].
 * A tree segment (tree_parent != NULL, for speculative verification) is token 0 at pos0
 * followed by draft nodes: node i's parent is token tree_parent[i] (< i; 0 for the root's
 * children), it sits at position pos0 + its depth and sees [0, pos0], its ancestors and
 * itself. Exact segments (decode tokens, trees) must come first in the batch: their rows are
 * computed independently of the rest of the batch, bitwise. */
typedef struct pa_batch_seq {
    const int32_t *tokens;      /* n valid ids, or PA_TOKEN_EMBD for a row of embd */
    const float *embd;          /* input rows (n_embd each) of the PA_TOKEN_EMBD tokens, in
                                   order; NULL when there are none */
    int n;
    int pos0;
    const int32_t *block_table;
    const int32_t *tree_parent; /* NULL, or (n,) with tree_parent[0] = -1 */
    int first;                  /* a tree's: tokens [0, first) are already in their KV slots
                                   (an earlier pass computed them); only [first, n) are
                                   computed, reading the earlier ones' K/V as ancestors */
    bool exact;                 /* batch-invariant rows (see above) */
    float *logits;              /* NULL, or (n_vocab,) for the last token, or for a tree
                                   (n, n_vocab): every token's */
    const int32_t *logit_rows;  /* a tree's: only these tokens' logits, in this order */
    int n_logit_rows;
    pa_token_logit *top;        /* NULL, or (n_top,) for a plain segment without `logits`:
                                   the last token's n_top best candidates (pa_top_k's order)
                                   instead of its logits row, which is not kept; on backend
                                   cuda picked on the device, so that n_top of them are copied
                                   down instead of n_vocab logits */
    int n_top;                  /* 1 .. PA_TOP_CANDIDATES */
    float *hidden;              /* NULL, or (n_embd,): the last token's final hidden state
                                   (after the output norm: what the output matrix reads) */
    double *hidden_sum;         /* NULL, or (n_embd,): every computed token's final hidden
                                   state is added to it (mean pooling) */
    pa_marks *marks;            /* NULL, or a scoring pruning policy's state (prune.h): its
                                   landmarks are attended to, its scores updated; not with a
                                   tree */
} pa_batch_seq;

/* Where a backend puts one row of a step's output: the logits row, or its n_top best
 * candidates (pa_batch_seq.top). */
typedef struct pa_logit_dest {
    float *row;
    pa_token_logit *top;
    int n_top;
} pa_logit_dest;

/* Where row r (of those it asks for) of a sequence's output goes. */
static inline pa_logit_dest pa_logit_dest_of(const pa_batch_seq *seq, int r, int n_vocab) {
    if (seq->logits) return (pa_logit_dest){seq->logits + (size_t)r * n_vocab, NULL, 0};
    return (pa_logit_dest){NULL, seq->top, seq->n_top};
}

/* The token id of a position whose input is an embedding row instead of a token's. */
#define PA_TOKEN_EMBD (-1)

/* Runs a batch of sequences (at most n_batch tokens in all) through the model: every matmul
 * over all tokens at once, attention per token over its own sequence's blocks. n_layers < the
 * model's runs only the first layers before the output head (self-speculation drafts so);
 * 0 means all. */
void pa_llama_forward(const pa_model *m, pa_llama_ws *ws, pa_pool *pool, pa_kv_store *kv,
                      const pa_batch_seq *seqs, int n_seqs, int n_layers);

#endif
