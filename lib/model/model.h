/*
 * A loaded model: hyper-parameters and weight views into the mapped GGUF file, plus its
 * tokenizer. Immutable after load; shared read-only by every agent of an engine.
 */
#ifndef PA_MODEL_MODEL_H
#define PA_MODEL_MODEL_H

#include "../backend/cpu/ops.h"
#include "../core/error.h"
#include "gguf.h"
#include "tokenizer.h"

typedef struct pa_hparams {
    int n_vocab;
    int n_embd;      /* model width (dim) */
    int n_layer;
    int n_head;
    int n_head_kv;   /* can be < n_head (GQA): query head h reads kv head h / (n_head / n_head_kv) */
    int head_dim;    /* n_embd / n_head */
    int n_ff;        /* hidden width of the SwiGLU feed-forward */
    int n_ctx_train; /* llama.context_length: informational, not a limit */
    float rms_eps;
    float rope_base;
} pa_hparams;

typedef struct pa_layer {
    const float *attn_norm; /* (n_embd,) */
    const float *ffn_norm;  /* (n_embd,) */
    pa_matrix wq, wk, wv;   /* (n_head*hd | n_kv*hd, n_embd) */
    pa_matrix wo;           /* (n_embd, n_head*hd) */
    pa_matrix w_gate, w_up; /* (n_ff, n_embd) */
    pa_matrix w_down;       /* (n_embd, n_ff) */
} pa_layer;

typedef struct pa_model {
    gguf_file *gguf;
    pa_tokenizer *tokenizer;
    pa_hparams hp;
    pa_matrix token_embd;      /* (n_vocab, n_embd): row t is token t's embedding */
    const float *output_norm;  /* (n_embd,) */
    pa_matrix output;          /* (n_vocab, n_embd); token_embd when the file ties them */
    pa_layer *layers;          /* n_layer */
    int64_t n_params;
    uint64_t fingerprint;      /* identifies the weights: equal models share cached KV */
} pa_model;

/* Loads and validates the model at `path` (mapped, or copied into 2 MiB pages with
 * `huge_pages`): BAD_MODEL / UNSUPPORTED / IO with a message that names the file and the key or
 * tensor at fault. */
pyagent_status pa_model_load(const char *path, bool huge_pages, pa_model **out, pa_err *err);
void pa_model_free(pa_model *model);

#endif
