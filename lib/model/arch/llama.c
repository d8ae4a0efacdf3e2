/*
 * The llama forward pass, told in the order of llama.cpp's build_llama and llama2.c's run.c:
 *
 *   x = token_embd[tokens]
 *   for each layer:
 *       h = rmsnorm(x) * attn_norm
 *       q, k, v = Wq h, Wk h, Wv h;  rope(q), rope(k);  K/V -> cache
 *       x += Wo softmax(q kᵀ / sqrt(hd) + causal mask) v
 *       h = rmsnorm(x) * ffn_norm
 *       x += Wdown (silu(Wgate h) * Wup h)
 *   logits = Woutput (rmsnorm(x_last) * output_norm)
 *
 * A batch of n tokens moves through every matmul together (rows of the activation matrices),
 * so weights are read once per batch rather than once per token.
 */
#include "llama.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct pa_llama_ws {
    int n_batch, n_ctx, n_threads;
    float *x;      /* (n_batch, n_embd) residual stream */
    float *xb;     /* (n_batch, n_embd) normed input of a sub-block / its output */
    float *q;      /* (n_batch, n_head*hd) */
    float *k, *v;  /* (n_batch, kv_dim) */
    float *att;    /* (n_batch, n_head*hd) attention output */
    float *hb;     /* (n_batch, n_ff) gate */
    float *hb2;    /* (n_batch, n_ff) up */
    float *scores; /* (n_threads, n_ctx) attention weights, one row per thread */
    float *tiles;  /* (n_threads, PA_MATMUL_TILE_ROWS, max(n_embd, n_ff)) matmul scratch */
};

pyagent_status pa_llama_ws_create(const pa_model *m, int n_batch, int n_ctx, int n_threads,
                                  pa_llama_ws **out, pa_err *err) {
    const pa_hparams *hp = &m->hp;
    const size_t nb = (size_t)n_batch, q_dim = (size_t)hp->n_head * hp->head_dim,
                 kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    pa_llama_ws *ws = calloc(1, sizeof *ws);
    if (!ws) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    ws->n_batch = n_batch;
    ws->n_ctx = n_ctx;
    ws->n_threads = n_threads;
    ws->x = malloc(nb * hp->n_embd * sizeof(float));
    ws->xb = malloc(nb * hp->n_embd * sizeof(float));
    ws->q = malloc(nb * q_dim * sizeof(float));
    ws->k = malloc(nb * kv_dim * sizeof(float));
    ws->v = malloc(nb * kv_dim * sizeof(float));
    ws->att = malloc(nb * q_dim * sizeof(float));
    ws->hb = malloc(nb * hp->n_ff * sizeof(float));
    ws->hb2 = malloc(nb * hp->n_ff * sizeof(float));
    ws->scores = malloc((size_t)n_threads * n_ctx * sizeof(float));
    size_t widest = (size_t)(hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd);
    ws->tiles = malloc((size_t)n_threads * PA_MATMUL_TILE_ROWS * widest * sizeof(float));
    if (!ws->x || !ws->xb || !ws->q || !ws->k || !ws->v || !ws->att || !ws->hb || !ws->hb2 ||
        !ws->scores || !ws->tiles) {
        pa_llama_ws_free(ws);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY,
                       "out of memory for activations of %d tokens", n_batch);
    }
    *out = ws;
    return PYAGENT_OK;
}

void pa_llama_ws_free(pa_llama_ws *ws) {
    if (!ws) return;
    free(ws->x);
    free(ws->xb);
    free(ws->q);
    free(ws->k);
    free(ws->v);
    free(ws->att);
    free(ws->hb);
    free(ws->hb2);
    free(ws->scores);
    free(ws->tiles);
    free(ws);
}

/* ----------------------------------------------------------------------------------------- */
/* Attention of one batch against the cache, split over (token, head) pairs                   */

typedef struct attention_job {
    const pa_hparams *hp;
    pa_llama_ws *ws;
    const float *k_cache, *v_cache; /* this layer's (capacity, kv_dim) */
    int n, pos0;
} attention_job;

static void attention_rows(void *ctx, int ith, int nth) {
    const attention_job *job = ctx;
    const pa_hparams *hp = job->hp;
    const int hd = hp->head_dim, kv_dim = hp->n_head_kv * hd, q_dim = hp->n_head * hd;
    const int group = hp->n_head / hp->n_head_kv; /* query heads per kv head */
    const float scale = 1.0f / sqrtf((float)hd);
    float *scores = job->ws->scores + (size_t)ith * job->ws->n_ctx;
    int64_t begin, end;
    pa_split((int64_t)job->n * hp->n_head, ith, nth, &begin, &end);
    for (int64_t i = begin; i < end; i++) {
        const int t = (int)(i / hp->n_head), h = (int)(i % hp->n_head);
        const int pos = job->pos0 + t; /* causal: this token sees positions [0, pos] */
        const float *q = job->ws->q + (size_t)t * q_dim + h * hd;
        const int kv_off = (h / group) * hd;
        for (int p = 0; p <= pos; p++)
            scores[p] = pa_dot_f32(q, job->k_cache + (size_t)p * kv_dim + kv_off, hd) * scale;
        pa_softmax(scores, pos + 1);
        float *out = job->ws->att + (size_t)t * q_dim + h * hd;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int p = 0; p <= pos; p++)
            pa_axpy(out, scores[p], job->v_cache + (size_t)p * kv_dim + kv_off, hd);
    }
}

/* ----------------------------------------------------------------------------------------- */

static void attention_block(const pa_model *m, const pa_layer *l, pa_llama_ws *ws, pa_pool *pool,
                            pa_kv_cache *kv, int il, int n, int pos0) {
    const pa_hparams *hp = &m->hp;
    const int d = hp->n_embd, hd = hp->head_dim, kv_dim = hp->n_head_kv * hd;

    for (int t = 0; t < n; t++)
        pa_rmsnorm(ws->xb + (size_t)t * d, ws->x + (size_t)t * d, l->attn_norm, d, hp->rms_eps);
    pa_matmul(pool, ws->q, ws->xb, &l->wq, n, ws->tiles); /* (n, d) -> (n, q_dim) */
    pa_matmul(pool, ws->k, ws->xb, &l->wk, n, ws->tiles); /* (n, d) -> (n, kv_dim) */
    pa_matmul(pool, ws->v, ws->xb, &l->wv, n, ws->tiles);
    for (int t = 0; t < n; t++) {
        pa_rope(ws->q + (size_t)t * hp->n_head * hd, hp->n_head, hd, pos0 + t, hp->rope_base);
        pa_rope(ws->k + (size_t)t * kv_dim, hp->n_head_kv, hd, pos0 + t, hp->rope_base);
    }
    memcpy(kv->k[il] + (size_t)pos0 * kv_dim, ws->k, (size_t)n * kv_dim * sizeof(float));
    memcpy(kv->v[il] + (size_t)pos0 * kv_dim, ws->v, (size_t)n * kv_dim * sizeof(float));

    attention_job job = {hp, ws, kv->k[il], kv->v[il], n, pos0};
    pa_pool_run(pool, attention_rows, &job);

    pa_matmul(pool, ws->xb, ws->att, &l->wo, n, ws->tiles); /* (n, q_dim) -> (n, d) */
    for (size_t i = 0; i < (size_t)n * d; i++) ws->x[i] += ws->xb[i];
}

static void ffn_block(const pa_model *m, const pa_layer *l, pa_llama_ws *ws, pa_pool *pool,
                      int n) {
    const pa_hparams *hp = &m->hp;
    const int d = hp->n_embd;
    for (int t = 0; t < n; t++)
        pa_rmsnorm(ws->xb + (size_t)t * d, ws->x + (size_t)t * d, l->ffn_norm, d, hp->rms_eps);
    pa_matmul(pool, ws->hb, ws->xb, &l->w_gate, n, ws->tiles); /* (n, d) -> (n, ff) */
    pa_matmul(pool, ws->hb2, ws->xb, &l->w_up, n, ws->tiles);
    pa_swiglu(ws->hb, ws->hb2, n * hp->n_ff);
    pa_matmul(pool, ws->xb, ws->hb, &l->w_down, n, ws->tiles); /* (n, ff) -> (n, d) */
    for (size_t i = 0; i < (size_t)n * d; i++) ws->x[i] += ws->xb[i];
}

void pa_llama_forward(const pa_model *m, pa_llama_ws *ws, pa_pool *pool, pa_kv_cache *kv,
                      const int32_t *tokens, int n, int pos0, float *logits) {
    const pa_hparams *hp = &m->hp;
    const int d = hp->n_embd;
    for (int t = 0; t < n; t++) pa_matrix_row(&m->token_embd, tokens[t], ws->x + (size_t)t * d);
    for (int il = 0; il < hp->n_layer; il++) {
        attention_block(m, &m->layers[il], ws, pool, kv, il, n, pos0);
        ffn_block(m, &m->layers[il], ws, pool, n);
    }
    float *last = ws->xb; /* only the last token's logits are needed */
    pa_rmsnorm(last, ws->x + (size_t)(n - 1) * d, m->output_norm, d, hp->rms_eps);
    pa_matmul(pool, logits, last, &m->output, 1, ws->tiles); /* (1, d) -> (1, n_vocab) */
}
