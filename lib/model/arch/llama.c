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

#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../../backend/cpu/attention.h"
#include "../../core/f16.h"

typedef struct chunk_item {
    int first;   /* first token of the rows (batch index) */
    int n_rows;  /* at most QUERY_ROWS consecutive tokens of one sequence */
    int seq, head;
} chunk_item;

struct pa_llama_ws {
    int n_batch, n_ctx, n_threads;
    float *x;      /* (n_batch, n_embd) residual stream */
    float *xb;     /* (n_batch, n_embd) normed input of a sub-block / its output */
    float *q;      /* (n_batch, n_head*hd) */
    float *k, *v;  /* (n_batch, kv_dim) */
    float *att;    /* (n_batch, n_head*hd) attention output */
    float *hb;     /* (n_batch, n_ff) gate */
    float *hb2;    /* (n_batch, n_ff) up */
    float *scores; /* (n_threads, 2 n_ctx, QUERY_ROWS) attention weights of positions, then of
                      landmarks (at most one per position), per thread */
    float *kv_f32; /* (n_threads, CHUNK_TILE, head_dim) K or V rows gathered as f32, per thread */
    float *attn_state; /* (n_threads, HEAD_GROUP, n_batch, head_dim + 2) online-softmax state
                          per head and token */
    float *lanes;  /* (n_threads, 2, PA_ATTN_ROWS, head_dim) queries and outputs transposed */
    float *early;  /* K, then V rows of chunk sequences' positions before the batch, as f32 */
    size_t early_floats; /* early's size, grown as needed up to EARLY_MAX_FLOATS */
    int64_t *early_at;   /* (n_batch,) where each sequence's rows start in early, or -1 */
    bool early_any;      /* whether the batch has any sequence's rows in early */
    float *xnorm;  /* (n_batch,) |normed layer input| of each token (KVzip+ oracle) */
    float *tiles;  /* PA_MATMUL_SCRATCH_FLOATS(n_threads, max(n_embd, n_ff)): matmul scratch */
    float *x_last; /* (LOGIT_ROWS, n_embd) normed last tokens of sequences that want logits */
    float *logits; /* (LOGIT_ROWS, n_vocab) output rows before they go to their sequences */
    int32_t *tok, *pos, *seq; /* (n_batch,) each token's id, position and sequence */
    float *rope;              /* (n_batch, head_dim) each token's RoPE angles (pa_rope_angles) */
    int32_t *slot;   /* (n_batch,) its KV slot (= pos except in a tree) */
    int32_t *limit;  /* (n_batch,) last position it sees through its block table */
    int32_t *parent; /* (n_batch,) batch index of its tree parent, or -1 */
    int n_exact;     /* leading tokens computed batch-invariantly */
    chunk_item *items;        /* work items of chunk attention */
    int items_cap;
};

/* A sequence with at least this many tokens in a batch (a prompt chunk) gets its attention as
 * matrix products, QUERY_ROWS query rows at a time; shorter ones (decode) a token at a time. */
#define GEMM_ATTENTION_MIN 16
#define QUERY_ROWS 32
/* Positions whose K (then V) rows chunk attention gathers into one f32 tile for one product
 * (>= PA_KV_MAX_BLOCK_SIZE and MARK_TILE, whose rows share the scratch) */
#define CHUNK_TILE 1024
_Static_assert(QUERY_ROWS == PA_ATTN_ROWS, "an item's rows are the lanes of attention_rows.c");
/* The most the f32 copy of chunk sequences' earlier K and V may take (ws->early); sequences past
 * it convert their rows a tile at a time for each item */
#define EARLY_MAX_FLOATS ((size_t)16 << 20)

/* Sequences whose logits go through the output matmul together (the vocabulary matrix is read
 * once per group of this many rows). */
#define LOGIT_ROWS 16
/* Heads a thread walks the blocks for at once (attention_heads): all of a thread's heads in
 * common models, so that a block's rows are read once, whole (one thread of the 110M shape at a
 * 2,048-token context took its 12 heads as 8 + 4: 34 tokens/s, at once: 41). */
#define HEAD_GROUP 32
#define MARK_TILE 256 /* landmark rows converted at once by chunk attention */
_Static_assert(CHUNK_TILE >= PA_KV_MAX_BLOCK_SIZE && CHUNK_TILE >= MARK_TILE,
               "the chunk scratch holds a block's and a landmark tile's rows");

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
    ws->scores = malloc((size_t)n_threads * QUERY_ROWS * 2 * n_ctx * sizeof(float));
    ws->attn_state =
        malloc((size_t)n_threads * HEAD_GROUP * nb * (hp->head_dim + 2) * sizeof(float));
    ws->kv_f32 = malloc((size_t)n_threads * CHUNK_TILE * hp->head_dim * sizeof(float));
    ws->lanes = malloc((size_t)n_threads * 2 * PA_ATTN_ROWS * hp->head_dim * sizeof(float));
    ws->early_at = malloc(nb * sizeof *ws->early_at);
    ws->xnorm = malloc(nb * sizeof(float));
    size_t widest = (size_t)(hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd);
    ws->tiles = malloc(PA_MATMUL_SCRATCH_FLOATS(n_threads, widest) * sizeof(float));
    ws->x_last = malloc((size_t)LOGIT_ROWS * hp->n_embd * sizeof(float));
    ws->logits = malloc((size_t)LOGIT_ROWS * hp->n_vocab * sizeof(float));
    ws->tok = malloc(nb * sizeof *ws->tok);
    ws->pos = malloc(nb * sizeof *ws->pos);
    ws->rope = malloc(nb * hp->head_dim * sizeof *ws->rope);
    ws->seq = malloc(nb * sizeof *ws->seq);
    ws->slot = malloc(nb * sizeof *ws->slot);
    ws->limit = malloc(nb * sizeof *ws->limit);
    ws->parent = malloc(nb * sizeof *ws->parent);
    /* each long sequence: ceil(n / QUERY_ROWS) row groups per head; each sequence with
     * landmarks (even of one token): one item per kv head */
    ws->items_cap = (n_batch / QUERY_ROWS + n_batch + 1) * hp->n_head;
    ws->items = malloc((size_t)ws->items_cap * sizeof *ws->items);
    if (!ws->x || !ws->xb || !ws->q || !ws->k || !ws->v || !ws->att || !ws->hb || !ws->hb2 ||
        !ws->scores || !ws->kv_f32 || !ws->attn_state || !ws->tiles || !ws->x_last || !ws->logits || !ws->tok || !ws->pos || !ws->rope || !ws->seq || !ws->items ||
        !ws->slot || !ws->limit || !ws->parent || !ws->lanes || !ws->early_at || !ws->xnorm) {
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
    free(ws->kv_f32);
    free(ws->attn_state);
    free(ws->lanes);
    free(ws->early);
    free(ws->early_at);
    free(ws->xnorm);
    free(ws->tiles);
    free(ws->x_last);
    free(ws->logits);
    free(ws->tok);
    free(ws->pos);
    free(ws->rope);
    free(ws->seq);
    free(ws->slot);
    free(ws->limit);
    free(ws->parent);
    free(ws->items);
    free(ws);
}

/* ----------------------------------------------------------------------------------------- */
/* KV rows in the store's element type                                                        */

/* Stores row src (n,) into dst in the store's element type, and leaves in src the values
 * stored (read back: chunk attention reads a batch's own rows from there) */
static void kv_store_row(void *dst, float *src, int n, int elem_type) {
    if (elem_type == PA_KV_F32) {
        memcpy(dst, src, (size_t)n * sizeof *src);
    } else if (elem_type == PA_KV_F16) { /* SIMD, the same bits */
        pa_f32_to_f16_row(src, dst, n);
        pa_f16_to_f32_row(dst, src, n);
    } else {
        pa_kv_from_f32(elem_type, dst, src, n);
        pa_kv_to_f32(elem_type, dst, n, src);
    }
}

/* ----------------------------------------------------------------------------------------- */
/* Attention of decode tokens (and short chunks), grouped by KV block                          */

/* Whether a pruning policy needs the attention probabilities (H2O's scores, entropies, the
 * KVzip+ oracle); KVzap alone predicts its scores from hidden states. */
static bool needs_probabilities(const pa_marks *mk) {
    return mk && (mk->mode != PA_MARKS_KVZAP || mk->entropy);
}

/* A prompt chunk long enough for attention as matrix products (chunk_attention), or any part
 * of a sequence whose pruning policy needs the probabilities. */
static bool is_chunk(const pa_batch_seq *seq) {
    return !seq->tree_parent &&
           (needs_probabilities(seq->marks) || (!seq->exact && seq->n >= GEMM_ATTENTION_MIN));
}

#define GROUP_MAX 16 /* queries handed to pa_attn_online_group at once */
typedef struct attention_job {
    const pa_hparams *hp;
    pa_llama_ws *ws;
    const pa_kv_store *kv;
    const pa_batch_seq *seqs;
    int layer, n;
} attention_job;

/* A run: tokens [t0, t1) (at most GROUP_MAX) that read the first n positions of one block,
 * found at the same index of their block tables. Agents that share a prompt have the same
 * block at the same index, so they form one run and the block is read once for all of them. */
typedef struct block_run {
    int32_t block;
    int n, t0, t1;
} block_run;

/* The first run at block index *b or later, starting with token *t of that index; advances
 * (*b, *t) past it. false when no token has a block left. */
static bool next_run(const attention_job *job, int n_blocks, int *b, int *t, block_run *run) {
    const pa_llama_ws *ws = job->ws;
    const int bs = pa_kv_config_of(job->kv)->block_size;
    run->block = -1;
    for (; *b < n_blocks; (*b)++, *t = 0) {
        for (; *t < job->n; (*t)++) {
            const pa_batch_seq *seq = &job->seqs[ws->seq[*t]];
            const int pos = ws->limit[*t];
            const bool reads = !is_chunk(seq) && pos / bs >= *b;
            const int32_t block = reads ? seq->block_table[*b] : -1;
            const int n = !reads ? 0 : pos / bs > *b ? bs : pos % bs + 1;
            if (run->block >= 0 && (block != run->block || n != run->n ||
                                    *t - run->t0 == GROUP_MAX))
                return true;
            if (block >= 0 && run->block < 0) *run = (block_run){block, n, *t, *t};
            if (run->block >= 0) run->t1 = *t + 1;
        }
        if (run->block >= 0) {
            (*b)++, *t = 0;
            return true;
        }
    }
    return false;
}

/* A run of one token of a model without grouped KV heads: its heads [h0, h1) in one call,
 * which interleaves the heads' dependent steps (pa_attn_online_heads), asking for the same
 * heads' slices of the `next` run's block. */
static void attend_heads(const attention_job *job, const block_run *run, const block_run *next,
                         int h0, int h1, float *state) {
    const pa_hparams *hp = job->hp;
    const pa_kv_config *cfg = pa_kv_config_of(job->kv);
    const int hd = hp->head_dim, t = run->t0;
    const size_t first = pa_kv_bytes(cfg->elem_type, h0 * hd), stride = (size_t)hd + 2;
    const uint8_t *k_next = NULL, *v_next = NULL;
    if (next) {
        k_next = (const uint8_t *)pa_kv_k(job->kv, next->block, job->layer, 0) + first;
        v_next = (const uint8_t *)pa_kv_v(job->kv, next->block, job->layer, 0) + first;
    }
    float *acc[HEAD_GROUP], *m[HEAD_GROUP], *l[HEAD_GROUP];
    const float *q[HEAD_GROUP];
    for (int h = h0; h < h1; h++) {
        float *st = state + ((size_t)(h - h0) * (size_t)job->n + (size_t)t) * stride;
        acc[h - h0] = st, m[h - h0] = &st[hd], l[h - h0] = &st[hd + 1];
        q[h - h0] = job->ws->q + (size_t)t * hp->n_head * hd + h * hd;
    }
    pa_attn_online_heads(h1 - h0, acc, m, l, q, pa_kv_k(job->kv, run->block, job->layer, 0),
                         pa_kv_v(job->kv, run->block, job->layer, 0), k_next, v_next,
                         pa_kv_bytes(cfg->elem_type, hp->n_head_kv * hd), h0 * hd, run->n, hd,
                         cfg->elem_type, 1.0f / sqrtf((float)hd));
}

/* The run's tokens attend to its block for heads [h0, h1), each head's queries in one call
 * (the block's rows are loaded once for all of them). The first call of each KV head asks for
 * the KV slice read after it: the next KV head's in this block, after the last one the first
 * one's in the `next` run's block (if any). One slice ahead fits L1 (8 KiB for a head of 64
 * f32 values and 16 positions); the share of a block two blocks ahead (96 KiB a block)
 * arrived too early, and cold KV of the 110M shape was read at 23 GB/s against 19 (one Zen 5
 * core, a micro-benchmark with the weights streamed between layers). */
static void attend_run(const attention_job *job, const block_run *run, const block_run *next,
                       int h0, int h1, float *state) {
    const pa_hparams *hp = job->hp;
    const pa_kv_config *cfg = pa_kv_config_of(job->kv);
    const int hd = hp->head_dim, q_dim = hp->n_head * hd, group = hp->n_head / hp->n_head_kv;
    const size_t row_bytes = pa_kv_bytes(cfg->elem_type, hp->n_head_kv * hd);
    const size_t stride = (size_t)hd + 2;
    const float scale = 1.0f / sqrtf((float)hd);
    const uint8_t *k = pa_kv_k(job->kv, run->block, job->layer, 0);
    const uint8_t *v = pa_kv_v(job->kv, run->block, job->layer, 0);
    for (int h = h0; h < h1; h++) {
        const uint8_t *k_next = NULL, *v_next = NULL;
        if (h == h0 || h / group != (h - 1) / group) { /* a new KV head: ask for the next */
            int32_t block = -1;
            int kvh = 0;
            if (h / group < (h1 - 1) / group) block = run->block, kvh = h / group + 1;
            else if (next) block = next->block, kvh = h0 / group;
            if (block >= 0) {
                const size_t first = pa_kv_bytes(cfg->elem_type, kvh * hd);
                k_next = (const uint8_t *)pa_kv_k(job->kv, block, job->layer, 0) + first;
                v_next = (const uint8_t *)pa_kv_v(job->kv, block, job->layer, 0) + first;
            }
        }
        float *acc[GROUP_MAX], *m[GROUP_MAX], *l[GROUP_MAX];
        const float *q[GROUP_MAX];
        for (int t = run->t0; t < run->t1; t++) {
            float *st = state + ((size_t)(h - h0) * (size_t)job->n + (size_t)t) * stride;
            acc[t - run->t0] = st, m[t - run->t0] = &st[hd], l[t - run->t0] = &st[hd + 1];
            q[t - run->t0] = job->ws->q + (size_t)t * q_dim + h * hd;
        }
        pa_attn_online_group(run->t1 - run->t0, acc, m, l, q, k, v, k_next, v_next, row_bytes,
                             (h / group) * hd, run->n, hd, cfg->elem_type, scale);
    }
}

/* For heads [h0, h1) (at most HEAD_GROUP), every token of a short sequence attends to its
 * positions [0, pos] with online softmax, block index by block index across all tokens and
 * heads: agents that share a prompt have the same blocks at the same indices, so a shared block
 * is read from memory once per step for all of them, and its rows once for all the heads (a
 * head's slice of a row is only 128 bytes). Each token and head still takes its positions in
 * order, one at a time, so its result does not depend on which other tokens are in the batch. */
static void attention_heads(const attention_job *job, int h0, int h1, float *state) {
    const pa_hparams *hp = job->hp;
    pa_llama_ws *ws = job->ws;
    const pa_kv_config *cfg = pa_kv_config_of(job->kv);
    const int hd = hp->head_dim, q_dim = hp->n_head * hd, bs = cfg->block_size;
    const int kv_dim = hp->n_head_kv * hd, group = hp->n_head / hp->n_head_kv;
    const size_t row_bytes = pa_kv_bytes(cfg->elem_type, kv_dim);
    const float scale = 1.0f / sqrtf((float)hd);
    const size_t stride = (size_t)hd + 2; /* per head and token: acc (hd), m, l */
#define STATE(h, t) (state + ((size_t)((h) - h0) * (size_t)job->n + (size_t)(t)) * stride)
    int n_blocks = 0;
    for (int t = 0; t < job->n; t++) {
        for (int h = h0; h < h1; h++) {
            float *st = STATE(h, t);
            memset(st, 0, (size_t)hd * sizeof(float));
            st[hd] = -INFINITY;
            st[hd + 1] = 0;
        }
        if (!is_chunk(&job->seqs[ws->seq[t]]) && ws->limit[t] / bs + 1 > n_blocks)
            n_blocks = ws->limit[t] / bs + 1;
    }
    for (int t = 0; t < job->n; t++) { /* KVzap landmarks first: older than any block left */
        const pa_marks *mk = job->seqs[ws->seq[t]].marks;
        if (!mk || is_chunk(&job->seqs[ws->seq[t]])) continue;
        for (int h = h0; h < h1; h++) {
            const pa_mark_set *set = &mk->sets[job->layer * mk->n_head_kv + h / group];
            float *st = STATE(h, t);
            if (set->n > 0)
                pa_attn_online(st, &st[hd], &st[hd + 1], ws->q + (size_t)t * q_dim + h * hd,
                               set->k, set->v, mk->row_bytes, 0, set->n, hd, mk->elem_type,
                               scale);
        }
    }
    /* block index by block index, run by run, all heads of a run before the next, so that a
     * block's rows are read while they are in cache */
    block_run run, next;
    int b = 0, t_next = 0;
    bool more = next_run(job, n_blocks, &b, &t_next, &run);
    while (more) {
        const bool has_next = next_run(job, n_blocks, &b, &t_next, &next);
        const block_run *ahead = has_next && next.block != run.block ? &next : NULL;
        if (hp->n_head == hp->n_head_kv && run.t1 - run.t0 == 1)
            attend_heads(job, &run, ahead, h0, h1, state);
        else attend_run(job, &run, ahead, h0, h1, state);
        run = next, more = has_next;
    }
    for (int t = 0; t < job->n; t++) { /* tree nodes: then their ancestors and themselves */
        if (ws->parent[t] < 0) continue;
        const pa_batch_seq *seq = &job->seqs[ws->seq[t]];
        int32_t chain[PA_MAX_TREE_DEPTH], depth = 0; /* its slot, then its ancestors' */
        for (int a = ws->slot[t] - seq->pos0; a > 0 && depth < PA_MAX_TREE_DEPTH;
             a = seq->tree_parent[a])
            chain[depth++] = seq->pos0 + a;
        for (int h = h0; h < h1; h++) {
            float *st = STATE(h, t);
            const int first = (h / group) * hd;
            /* root side first: the order of plain decode; ancestors in consecutive slots of one
             * block (a chain's) in one call, which gives the same result as one at a time */
            for (int d = depth - 1, run; d >= 0; d -= run) {
                run = 1;
                while (d - run >= 0 && chain[d - run] == chain[d] + run &&
                       chain[d - run] / bs == chain[d] / bs)
                    run++;
                const int32_t block = seq->block_table[chain[d] / bs];
                const uint8_t *k = pa_kv_k(job->kv, block, job->layer, chain[d] % bs);
                const uint8_t *v = pa_kv_v(job->kv, block, job->layer, chain[d] % bs);
                pa_attn_online(st, &st[hd], &st[hd + 1], ws->q + (size_t)t * q_dim + h * hd,
                               k, v, row_bytes, first, run, hd, cfg->elem_type, scale);
            }
        }
    }
    for (int t = 0; t < job->n; t++) {
        if (is_chunk(&job->seqs[ws->seq[t]])) continue;
        for (int h = h0; h < h1; h++) {
            const float *st = STATE(h, t);
            float *out = ws->att + (size_t)t * q_dim + h * hd;
            for (int i = 0; i < hd; i++) out[i] = st[i] / st[hd + 1];
        }
    }
#undef STATE
}

static void attention_rows(void *ctx, int ith, int nth) {
    const attention_job *job = ctx;
    float *state = job->ws->attn_state + (size_t)pa_pool_slot() * HEAD_GROUP *
                                             job->ws->n_batch * ((size_t)job->hp->head_dim + 2);
    int64_t begin, end;
    pa_split(job->hp->n_head, ith, nth, &begin, &end);
    for (int64_t h = begin; h < end; h += HEAD_GROUP)
        attention_heads(job, (int)h, (int)(h + HEAD_GROUP < end ? h + HEAD_GROUP : end), state);
}

/* ----------------------------------------------------------------------------------------- */
/* Attention of a prompt chunk as matrix products                                              */

typedef struct chunk_job {
    const pa_hparams *hp;
    pa_llama_ws *ws;
    const pa_kv_store *kv;
    const pa_batch_seq *seqs;
    const chunk_item *items;
    int n_items, layer;
} chunk_job;

/* A run of present KV blocks [b0, b1) of one item (at most CHUNK_TILE positions), whose K or
 * V rows go through one product: its first position and how many it has (the last block of the
 * item may be partly filled). */
typedef struct tile_run {
    int b0, b1, pos, n;
} tile_run;

/* The run that starts at block *b (a present one) and takes the present blocks after it, up to
 * CHUNK_TILE positions or block n_blocks; advances *b past it. */
static tile_run next_tile(const int32_t *table, int *b, int n_blocks, int bs, int last) {
    tile_run run = {*b, *b + 1, *b * bs, 0};
    while (run.b1 < n_blocks && table[run.b1] != PA_NO_BLOCK &&
           (run.b1 - run.b0 + 1) * bs <= CHUNK_TILE)
        run.b1++;
    const int end = run.b1 * bs < last + 1 ? run.b1 * bs : last + 1;
    run.n = end - run.pos;
    *b = run.b1;
    return run;
}

/* The run's K or V rows for one kv head (values [first, first + hd) of each row) as f32 rows of
 * hd values in `out`: copied from an f32 store, converted from the others. One product over a
 * gathered run instead of one per block (when they were OpenBLAS sgemm calls of 16 positions
 * each, its packing and a lock per call took ~12 % of a Q4_0 pp2048 on two Zen 5 threads). */
static void gather_rows(const chunk_job *job, bool values, const int32_t *table,
                        const tile_run *run, int first, int hd, float *out) {
    const pa_kv_config *cfg = pa_kv_config_of(job->kv);
    const size_t row_bytes = pa_kv_bytes(cfg->elem_type, cfg->kv_dim);
    for (int b = run->b0; b < run->b1; b++) {
        const uint8_t *base = values ? pa_kv_v(job->kv, table[b], job->layer, 0)
                                     : pa_kv_k(job->kv, table[b], job->layer, 0);
        const int n = b + 1 < run->b1 ? cfg->block_size : run->pos + run->n - b * cfg->block_size;
        for (int p = 0; p < n; p++, out += hd) {
            const uint8_t *row = base + (size_t)p * row_bytes;
            if (cfg->elem_type == PA_KV_F32)
                memcpy(out, (const float *)row + first, (size_t)hd * sizeof *out);
            else if (cfg->elem_type == PA_KV_F16) /* the SIMD conversion */
                pa_f16_to_f32_row((const uint16_t *)row + first, out, hd);
            else
                pa_kv_slice_to_f32(cfg->elem_type, row, first, hd, out);
        }
    }
}

/* n landmark rows (K or V, head_dim values each) as f32 with row stride head_dim: in place for
 * f32 landmarks, converted into `tmp` otherwise (the rows are contiguous: one conversion). */
static const float *landmark_rows_f32(const pa_marks *mk, const uint8_t *rows, int n,
                                      float *tmp) {
    if (mk->elem_type == PA_KV_F32) return (const float *)rows;
    if (mk->elem_type == PA_KV_F16) pa_f16_to_f32_row((const uint16_t *)rows, tmp, n * mk->head_dim);
    else pa_kv_to_f32(mk->elem_type, rows, n * mk->head_dim, tmp);
    return tmp;
}

/* Scratch of one thread for chunk attention. */
typedef struct chunk_scratch {
    float *s;    /* (2 n_ctx, PA_ATTN_ROWS) scores, then weights, a position's rows together:
                    positions, then landmarks */
    float *tmp;  /* (CHUNK_TILE, hd) K or V rows as f32 */
    float *qt, *ot; /* (hd, PA_ATTN_ROWS) each: the queries and the outputs, transposed */
} chunk_scratch;

/* Landmarks of one group: their scores lm[j] = K_j qt, j < set->n (lm: the item's landmark
 * region, after its positions) */
static void landmark_scores(const pa_marks *mk, const pa_mark_set *set, int n_rows, float *lm,
                            const chunk_scratch *cs) {
    for (int j0 = 0; j0 < set->n; j0 += MARK_TILE) {
        const int nt = set->n - j0 < MARK_TILE ? set->n - j0 : MARK_TILE;
        const float *k = landmark_rows_f32(mk, set->k + (size_t)j0 * mk->row_bytes, nt, cs->tmp);
        pa_attn_rows_scores(lm + (size_t)j0 * PA_ATTN_ROWS, cs->qt, k, mk->head_dim, nt,
                            mk->head_dim, n_rows);
    }
}

/* O^T += V_j^T lm[j] over the group's landmarks, lm now their weights */
static void landmark_values(const pa_marks *mk, const pa_mark_set *set, int n_rows,
                            const float *lm, const chunk_scratch *cs) {
    for (int j0 = 0; j0 < set->n; j0 += MARK_TILE) {
        const int nt = set->n - j0 < MARK_TILE ? set->n - j0 : MARK_TILE;
        const float *v = landmark_rows_f32(mk, set->v + (size_t)j0 * mk->row_bytes, nt, cs->tmp);
        pa_attn_rows_values(cs->ot, lm + (size_t)j0 * PA_ATTN_ROWS, v, mk->head_dim, nt,
                            mk->head_dim, n_rows);
    }
}

/* The weights an item's rows give (a position's rows together): s for positions [0, last],
 * written where a block is present (pruned ones are never read), lm for its landmarks */
typedef struct item_weights {
    const float *s, *lm;
    const int32_t *table; /* the sequence's block table */
    int bs, last, n_marks;
} item_weights;

/* Row r's normalised entropy terms over what it attends (present positions up to first_pos + r,
 * and the landmarks), its probabilities the weights times inv */
static void row_entropy(const item_weights *w, int r, int end, float inv, double *h,
                        int *n_seen) {
    for (int b = 0; b * w->bs <= end; b++) {
        if (w->table[b] == PA_NO_BLOCK) continue;
        const int c0 = b * w->bs, n = (b + 1) * w->bs <= end ? w->bs : end + 1 - c0;
        const float *row = w->s + (size_t)c0 * PA_ATTN_ROWS + r;
        *h += pa_entropy(row, PA_ATTN_ROWS, n, inv);
        for (int c = 0; c < n; c++) *n_seen += row[(size_t)c * PA_ATTN_ROWS] > 0;
    }
    *h += pa_entropy(w->lm + r, PA_ATTN_ROWS, w->n_marks, inv);
    for (int j = 0; j < w->n_marks; j++) *n_seen += w->lm[(size_t)j * PA_ATTN_ROWS + r] > 0;
}

/* What a scoring policy learns from the attention probabilities of query head `head` (the
 * weights over each row's sum). H2O adds each position's probability up; entropy budgets record
 * each row's normalised entropy; the KVzip+ oracle keeps max a / |x| over the repeated text's
 * queries. */
static void observe(const chunk_job *job, pa_marks *mk, const chunk_item *it,
                    const item_weights *w, const float *sums) {
    const int g = job->layer * mk->n_head_kv + it->head / (mk->n_head / mk->n_head_kv);
    const int first_pos = job->ws->pos[it->first], n_rows = it->n_rows, bs = w->bs;
    float inv[PA_ATTN_ROWS];
    for (int r = 0; r < n_rows; r++) inv[r] = 1.0f / sums[r];
#define PROBABILITY(r, c) (w->s[(size_t)(c) * PA_ATTN_ROWS + (r)] * inv[r])
    if (mk->mode == PA_MARKS_H2O) {
        pa_mark_set *set = &mk->sets[g];
        for (int r = 0; r < n_rows; r++) {
            for (int b = mk->sink_blocks; b <= w->last / bs; b++) { /* positions still in blocks */
                if (w->table[b] == PA_NO_BLOCK) continue;
                for (int c = b * bs; c < (b + 1) * bs && c <= w->last; c++)
                    *pa_marks_score(mk, g, (size_t)c) += PROBABILITY(r, c);
            }
            for (int j = 0; j < set->n; j++)
                set->score[j] += w->lm[(size_t)j * PA_ATTN_ROWS + r] * inv[r];
        }
    }
    if (mk->entropy)
        for (int r = 0; r < n_rows; r++) {
            double h = 0;
            int n_seen = 0;
            row_entropy(w, r, first_pos + r, inv[r], &h, &n_seen);
            if (n_seen > 1) mk->entropy_sum[g] += h / log(n_seen);
            mk->entropy_n[g]++;
        }
    pa_oracle *orc = mk->oracle;
    if (!orc) return;
    float *amax = orc->amax + ((size_t)job->layer * mk->n_head + it->head) * orc->repeat;
    for (int r = 0; r < n_rows; r++) {
        if (first_pos + r < orc->repeat) continue;
        const float inv_x = 1.0f / job->ws->xnorm[it->first + r];
        for (int c = 0; c < orc->repeat; c++) {
            if (w->table[c / bs] == PA_NO_BLOCK) continue; /* no weight */
            const float a = PROBABILITY(r, c) * inv_x;
            if (a > amax[c]) amax[c] = a;
        }
    }
#undef PROBABILITY
}

/* The next run of present blocks before position `early` from block *b on, into *run (false
 * when there is none) */
static bool next_present_run(const int32_t *table, int *b, int n_blocks, int bs, int early,
                             tile_run *run) {
    while (*b < n_blocks && table[*b] == PA_NO_BLOCK) (*b)++;
    if (*b >= n_blocks) return false;
    *run = next_tile(table, b, n_blocks, bs, early - 1);
    return true;
}

/* A run of the item's K (or V) rows before the batch, as f32 rows `*ld` floats apart: in
 * ws->early where the layer's were converted for the sequence, else gathered into tmp */
static const float *early_rows(const chunk_job *job, const chunk_item *it, bool values,
                               const tile_run *run, int first, const chunk_scratch *cs,
                               size_t *ld) {
    const pa_hparams *hp = job->hp;
    const int64_t at = job->ws->early_at[it->seq];
    if (at >= 0) {
        const int pos0 = job->seqs[it->seq].pos0;
        *ld = (size_t)hp->n_head_kv * hp->head_dim;
        return job->ws->early + at + (values ? (size_t)pos0 * *ld : 0) + (size_t)run->pos * *ld +
               first;
    }
    *ld = (size_t)hp->head_dim;
    gather_rows(job, values, job->seqs[it->seq].block_table, run, first, hp->head_dim, cs->tmp);
    return cs->tmp;
}

/* For rows r of one head (at most PA_ATTN_ROWS), the rows side by side (attention_rows.c):
 * S^T (n, r) = K Q^T over the positions [0, last] it attends (present blocks before the batch a
 * tile at a time, the batch's own rows, and the landmarks of a pruning policy), the causal
 * softmax down the positions, then O^T (hd, r) = V^T W^T. Pruned positions are skipped, not
 * masked: a decode step under H2O attends a few hundred of thousands. */
static void chunk_attention_item(const chunk_job *job, const chunk_item *it,
                                 const chunk_scratch *cs) {
    const pa_hparams *hp = job->hp;
    pa_llama_ws *ws = job->ws;
    const int hd = hp->head_dim, q_dim = hp->n_head * hd, n_rows = it->n_rows;
    const int bs = pa_kv_config_of(job->kv)->block_size;
    const int kv_head = it->head / (hp->n_head / hp->n_head_kv);
    const int first = kv_head * hd; /* the kv head's values */
    const pa_batch_seq *seq = &job->seqs[it->seq];
    const int32_t *table = seq->block_table;
    pa_marks *mk = seq->marks;
    const pa_mark_set *set = mk ? &mk->sets[job->layer * mk->n_head_kv + kv_head] : NULL;
    const int first_pos = ws->pos[it->first], last = ws->pos[it->first + n_rows - 1];
    /* Positions before the batch are read from the KV blocks (converted once per layer into
     * ws->early, or a tile at a time); the batch's own (pos0 .. last) from its rows in ws->k
     * and ws->v, which hold the stored values (rope_and_store). */
    const int early = seq->pos0, n_early_blocks = (early + bs - 1) / bs;
    const size_t kv_dim = (size_t)hp->n_head_kv * hd;
    const size_t batch_row = (size_t)(it->first - (first_pos - early)) * kv_dim + first;
    float *own = cs->s + (size_t)early * PA_ATTN_ROWS; /* the batch's positions */
    float *lm = cs->s + (size_t)(last + 1) * PA_ATTN_ROWS; /* then the landmarks */
    const int n_own = last + 1 - early, n_marks = set ? set->n : 0;
    float max[PA_ATTN_ROWS], sums[PA_ATTN_ROWS];
    for (int r = 0; r < PA_ATTN_ROWS; r++) max[r] = -INFINITY, sums[r] = 0;
    tile_run run; /* of present blocks before the batch */

    pa_attn_rows_q(cs->qt, ws->q + (size_t)it->first * q_dim + (size_t)it->head * hd, q_dim,
                   n_rows, hd, 1.0f / sqrtf((float)hd));
    /* scores, and the rows' maxima */
    for (int b = 0; next_present_run(table, &b, n_early_blocks, bs, early, &run);) {
        size_t ld;
        const float *k = early_rows(job, it, false, &run, first, cs, &ld);
        float *at = cs->s + (size_t)run.pos * PA_ATTN_ROWS;
        pa_attn_rows_scores(at, cs->qt, k, ld, run.n, hd, n_rows);
        pa_attn_rows_max(at, run.n, first_pos - run.pos, n_rows, max);
    }
    pa_attn_rows_scores(own, cs->qt, ws->k + batch_row, kv_dim, n_own, hd, n_rows);
    pa_attn_rows_max(own, n_own, first_pos - early, n_rows, max);
    if (set) {
        landmark_scores(mk, set, n_rows, lm, cs);
        pa_attn_rows_max(lm, n_marks, n_marks, n_rows, max);
    }
    /* the weights */
    for (int b = 0; next_present_run(table, &b, n_early_blocks, bs, early, &run);) {
        pa_attn_rows_exp(cs->s + (size_t)run.pos * PA_ATTN_ROWS, run.n, first_pos - run.pos,
                         n_rows, max, sums);
    }
    pa_attn_rows_exp(own, n_own, first_pos - early, n_rows, max, sums);
    if (set) pa_attn_rows_exp(lm, n_marks, n_marks, n_rows, max, sums);
    if (mk) {
        const item_weights w = {cs->s, lm, table, bs, last, n_marks};
        observe(job, mk, it, &w, sums);
    }
    memset(cs->ot, 0, (size_t)hd * PA_ATTN_ROWS * sizeof *cs->ot);
    /* the output */
    for (int b = 0; next_present_run(table, &b, n_early_blocks, bs, early, &run);) {
        size_t ld;
        const float *v = early_rows(job, it, true, &run, first, cs, &ld);
        pa_attn_rows_values(cs->ot, cs->s + (size_t)run.pos * PA_ATTN_ROWS, v, ld, run.n, hd,
                            n_rows);
    }
    pa_attn_rows_values(cs->ot, own, ws->v + batch_row, kv_dim, n_own, hd, n_rows);
    if (set) landmark_values(mk, set, n_rows, lm, cs);
    pa_attn_rows_out(ws->att + (size_t)it->first * q_dim + (size_t)it->head * hd, q_dim, cs->ot,
                     sums, n_rows, hd);
}

/* An item of a sequence with landmarks covers one kv head: its query heads and all its rows,
 * one after another, so the group's scores have one writer. */
static void chunk_attention_any(const chunk_job *job, const chunk_item *it,
                                const chunk_scratch *cs) {
    const pa_batch_seq *seq = &job->seqs[it->seq];
    if (!seq->marks) {
        chunk_attention_item(job, it, cs);
        return;
    }
    const int group = job->hp->n_head / job->hp->n_head_kv;
    for (int h = it->head * group; h < (it->head + 1) * group; h++)
        for (int r = 0; r < it->n_rows; r += QUERY_ROWS) {
            const chunk_item part = {it->first + r,
                                     it->n_rows - r < QUERY_ROWS ? it->n_rows - r : QUERY_ROWS,
                                     it->seq, h};
            chunk_attention_item(job, &part, cs);
        }
}

/* Thread ith takes items ith, ith + nth, ...: the items go row chunk by row chunk (each with
 * every head), and a chunk's causal attention costs in proportion to its position, so split
 * in contiguous ranges the thread with the last rows had three times the first's work (two
 * threads, one prompt). */
static void chunk_attention_rows(void *ctx, int ith, int nth) {
    const chunk_job *job = ctx;
    const size_t slot = (size_t)pa_pool_slot(), hd = (size_t)job->hp->head_dim;
    float *lanes = job->ws->lanes + slot * 2 * PA_ATTN_ROWS * hd;
    const chunk_scratch cs = {job->ws->scores + slot * PA_ATTN_ROWS * 2 * job->ws->n_ctx,
                              job->ws->kv_f32 + slot * CHUNK_TILE * hd, lanes,
                              lanes + PA_ATTN_ROWS * hd};
    for (int i = ith; i < job->n_items; i += nth) chunk_attention_any(job, &job->items[i], &cs);
}

/* Places in ws->early the K and V rows before the batch of the prompt chunks (first come,
 * while they fit EARLY_MAX_FLOATS): the items of a chunk, one per 32 rows and head, then read
 * them instead of converting them each (Q4_0 pp2048 runs as four batches, and the last
 * converted 1536 positions 16 times per head). A decode step under a policy that reads the
 * probabilities has one item per kv head, which converts its own (pruned) rows. Returns
 * whether any chunk has its rows placed. */
static bool plan_early(pa_llama_ws *ws, const pa_hparams *hp, const pa_batch_seq *seqs,
                       int n_seqs) {
    const size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    size_t total = 0;
    for (int s = 0; s < n_seqs; s++) {
        const size_t need = 2 * (size_t)seqs[s].pos0 * kv_dim;
        ws->early_at[s] = -1;
        if (!is_chunk(&seqs[s]) || seqs[s].n < GEMM_ATTENTION_MIN || need == 0 ||
            total + need > EARLY_MAX_FLOATS)
            continue;
        ws->early_at[s] = (int64_t)total;
        total += need;
    }
    if (total <= ws->early_floats) return total > 0;
    float *grown = realloc(ws->early, total * sizeof *grown);
    if (grown) {
        ws->early = grown;
        ws->early_floats = total;
        return true;
    }
    for (int s = 0; s < n_seqs; s++) ws->early_at[s] = -1; /* each item converts its own */
    return false;
}

typedef struct early_job {
    const pa_llama_ws *ws;
    const pa_kv_store *kv;
    const pa_batch_seq *seqs;
    int n_seqs, layer;
} early_job;

/* Thread ith converts blocks ith, ith + nth, ... of the sequences' earlier positions */
static void convert_early(void *ctx, int ith, int nth) {
    const early_job *job = ctx;
    const pa_kv_config *cfg = pa_kv_config_of(job->kv);
    const size_t row_bytes = pa_kv_bytes(cfg->elem_type, cfg->kv_dim);
    const int bs = cfg->block_size;
    int i = 0;
    for (int s = 0; s < job->n_seqs; s++) {
        if (job->ws->early_at[s] < 0) continue;
        const int pos0 = job->seqs[s].pos0;
        float *k = job->ws->early + job->ws->early_at[s], *v = k + (size_t)pos0 * cfg->kv_dim;
        for (int b = 0; b * bs < pos0; b++, i++) {
            const int32_t block = job->seqs[s].block_table[b];
            if (i % nth != ith || block == PA_NO_BLOCK) continue;
            const int n = (b + 1) * bs < pos0 ? bs : pos0 - b * bs;
            const size_t at = (size_t)b * bs * cfg->kv_dim, values = (size_t)n * cfg->kv_dim;
            const uint8_t *k_rows = pa_kv_k(job->kv, block, job->layer, 0);
            const uint8_t *v_rows = pa_kv_v(job->kv, block, job->layer, 0);
            if (cfg->elem_type == PA_KV_F16) { /* a block's rows are contiguous */
                pa_f16_to_f32_row((const uint16_t *)k_rows, k + at, (int)values);
                pa_f16_to_f32_row((const uint16_t *)v_rows, v + at, (int)values);
            } else {
                for (int p = 0; p < n; p++) {
                    pa_kv_to_f32(cfg->elem_type, k_rows + p * row_bytes, cfg->kv_dim,
                                 k + at + (size_t)p * cfg->kv_dim);
                    pa_kv_to_f32(cfg->elem_type, v_rows + p * row_bytes, cfg->kv_dim,
                                 v + at + (size_t)p * cfg->kv_dim);
                }
            }
        }
    }
}

/* Work items of the long sequences of the batch: (QUERY_ROWS rows, head) pairs. */
static int chunk_items(const pa_hparams *hp, const pa_batch_seq *seqs, int n_seqs,
                       chunk_item *items, int cap) {
    int n_items = 0, first = 0;
    for (int s = 0; s < n_seqs; first += seqs[s].n, s++) {
        if (!is_chunk(&seqs[s])) continue;
        if (seqs[s].marks) { /* one item per kv head (chunk_attention_any) */
            for (int h = 0; h < hp->n_head_kv && n_items < cap; h++)
                items[n_items++] = (chunk_item){first, seqs[s].n, s, h};
            continue;
        }
        for (int r = 0; r < seqs[s].n; r += QUERY_ROWS)
            for (int h = 0; h < hp->n_head && n_items < cap; h++)
                items[n_items++] = (chunk_item){first + r,
                                                seqs[s].n - r < QUERY_ROWS ? seqs[s].n - r
                                                                           : QUERY_ROWS,
                                                s, h};
    }
    return n_items;
}

/* ----------------------------------------------------------------------------------------- */

/* Y_i (n, r_i) = X (n, k) @ W_i^T for the `count` matrices that read X, the batch's first
 * n_exact (exact) rows independently of the others */
static void project_set(const pa_llama_ws *ws, pa_pool *pool, int count, float *const *y,
                        const float *x, const pa_matrix *const *w, int n) {
    const int e = ws->n_exact < n ? ws->n_exact : n;
    if (e > 0) pa_matmul_set_exact(pool, count, y, x, w, e, ws->tiles);
    if (n > e) {
        float *rest[PA_MATMUL_MAX_SET];
        for (int i = 0; i < count; i++) rest[i] = y[i] + (size_t)e * w[i]->n_out;
        pa_matmul_set(pool, count, rest, x + (size_t)e * w[0]->n_in, w, n - e, ws->tiles);
    }
}

static void project(const pa_llama_ws *ws, pa_pool *pool, float *y, const float *x,
                    const pa_matrix *w, int n) {
    project_set(ws, pool, 1, &y, x, &w, n);
}

/* KVzap: each token's predicted importance for every kv head of layer il, from the layer's
 * normed input x (w . x + b); the KVzip+ oracle's capture: the normed inputs and their norms. */
static void score_positions(const pa_model *m, pa_llama_ws *ws, const pa_kv_store *kv,
                            const pa_batch_seq *seqs, int il, int n) {
    const int d = m->hp.n_embd, bs = pa_kv_config_of(kv)->block_size;
    for (int t = 0; t < n; t++) {
        pa_marks *mk = seqs[ws->seq[t]].marks;
        if (!mk) continue;
        const float *x = ws->xb + (size_t)t * d;
        const int pos = ws->pos[t];
        if (mk->mode == PA_MARKS_KVZAP && pos >= mk->sink_blocks * bs) {
            const float *w = pa_kvzap_layer(mk->zap, il);
            for (int h = 0; h < mk->n_head_kv; h++, w += d + 1)
                *pa_marks_score(mk, il * mk->n_head_kv + h, (size_t)pos) =
                    cblas_sdot(d, w, 1, x, 1) + w[d];
        }
        if (mk->oracle) {
            ws->xnorm[t] = cblas_snrm2(d, x, 1);
            if (pos < mk->oracle->repeat)
                memcpy(mk->oracle->x + ((size_t)il * mk->oracle->repeat + pos) * d, x,
                       (size_t)d * sizeof *x);
        }
    }
}

/* Work done token by token around the matrix products (norms, RoPE, KV writes, SwiGLU,
 * residuals): a prompt's tokens go to the pool's threads, a few tokens (decode) stay on the
 * calling thread, where handing them over would cost more than the work. */
enum { TOKENS_TO_POOL = 8 };

typedef struct token_job {
    const pa_model *m;
    const float *norm; /* the RMSNorm weights of norm_token */
    pa_llama_ws *ws;
    pa_kv_store *kv;
    const pa_batch_seq *seqs;
    int il, n;
    void (*token)(const struct token_job *job, int t);
} token_job;

static void token_rows(void *ctx, int ith, int nth) {
    const token_job *job = ctx;
    int64_t begin, end;
    pa_split(job->n, ith, nth, &begin, &end);
    for (int64_t t = begin; t < end; t++) job->token(job, (int)t);
}

static void for_each_token(pa_pool *pool, const token_job *job) {
    if (job->n >= TOKENS_TO_POOL) {
        pa_pool_run(pool, token_rows, (void *)job);
        return;
    }
    for (int t = 0; t < job->n; t++) job->token(job, t);
}

/* xb[t] = RMSNorm(x[t]) with the job's weights */
static void norm_token(const token_job *job, int t) {
    const int d = job->m->hp.n_embd;
    pa_rmsnorm(job->ws->xb + (size_t)t * d, job->ws->x + (size_t)t * d, job->norm, d,
               job->m->hp.rms_eps);
}

/* x[t] += xb[t] */
static void add_residual(const token_job *job, int t) {
    const int d = job->m->hp.n_embd;
    float *x = job->ws->x + (size_t)t * d;
    const float *xb = job->ws->xb + (size_t)t * d;
    for (int i = 0; i < d; i++) x[i] += xb[i];
}

/* gate[t] <- silu(gate[t]) * up[t] */
static void swiglu(const token_job *job, int t) {
    const size_t ff = (size_t)job->m->hp.n_ff;
    pa_swiglu(job->ws->hb + t * ff, job->ws->hb2 + t * ff, (int)ff);
}

/* RoPE on token t's q and k, and its k and v into its KV slot */
static void rope_and_store(const token_job *job, int t) {
    const pa_hparams *hp = &job->m->hp;
    const pa_kv_config *cfg = pa_kv_config_of(job->kv);
    pa_llama_ws *ws = job->ws;
    const int hd = hp->head_dim, kv_dim = hp->n_head_kv * hd;
    float *k = ws->k + (size_t)t * kv_dim;
    const float *angles = ws->rope + (size_t)t * hd;
    pa_rope_apply(ws->q + (size_t)t * hp->n_head * hd, hp->n_head, hd, angles);
    pa_rope_apply(k, hp->n_head_kv, hd, angles);
    const int32_t block = job->seqs[ws->seq[t]].block_table[ws->slot[t] / cfg->block_size];
    const int slot = ws->slot[t] % cfg->block_size;
    kv_store_row(pa_kv_k(job->kv, block, job->il, slot), k, kv_dim, cfg->elem_type);
    kv_store_row(pa_kv_v(job->kv, block, job->il, slot), ws->v + (size_t)t * kv_dim, kv_dim,
                 cfg->elem_type);
}

/* Asks for memory the caller reads right after a product, while the product runs: between one
 * token and the next the weights stream through every cache, so a layer's norm weights are cold
 * when the caller, alone, gets to them (a norm of the 110M shape's decode 0.67 -> 0.50 us). */
static void ask_for(const void *p, size_t bytes) {
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch((const char *)p + off);
}

static void attention_block(const pa_model *m, const pa_layer *l, pa_llama_ws *ws, pa_pool *pool,
                            pa_kv_store *kv, const pa_batch_seq *seqs, int n_seqs, int il,
                            int n) {
    const pa_hparams *hp = &m->hp;
    token_job tokens = {m, l->attn_norm, ws, kv, seqs, il, n, norm_token};
    for_each_token(pool, &tokens);
    score_positions(m, ws, kv, seqs, il, n);
    /* (n, d) -> q (n, q_dim), k and v (n, kv_dim) */
    float *qkv[] = {ws->q, ws->k, ws->v};
    const pa_matrix *wqkv[] = {&l->wq, &l->wk, &l->wv};
    project_set(ws, pool, 3, qkv, ws->xb, wqkv, n);
    tokens.token = rope_and_store;
    for_each_token(pool, &tokens);

    attention_job job = {hp, ws, kv, seqs, il, n};
    pa_pool_run(pool, attention_rows, &job);
    int n_items = chunk_items(hp, seqs, n_seqs, ws->items, ws->items_cap);
    if (n_items > 0) {
        early_job ej = {ws, kv, seqs, n_seqs, il};
        if (ws->early_any) pa_pool_run(pool, convert_early, &ej);
        chunk_job cj = {hp, ws, kv, seqs, ws->items, n_items, il};
        pa_pool_run(pool, chunk_attention_rows, &cj);
    }

    ask_for(l->ffn_norm, (size_t)m->hp.n_embd * sizeof(float));
    project(ws, pool, ws->xb, ws->att, &l->wo, n); /* (n, q_dim) -> (n, d) */
    tokens.token = add_residual;
    for_each_token(pool, &tokens);
}

static void ffn_block(const pa_model *m, const pa_layer *l, pa_llama_ws *ws, pa_pool *pool,
                      int n, const float *next_norm) {
    token_job tokens = {m, l->ffn_norm, ws, NULL, NULL, 0, n, norm_token};
    for_each_token(pool, &tokens);
    float *gate_up[] = {ws->hb, ws->hb2}; /* (n, d) -> (n, ff) each */
    const pa_matrix *w_gate_up[] = {&l->w_gate, &l->w_up};
    project_set(ws, pool, 2, gate_up, ws->xb, w_gate_up, n);
    tokens.token = swiglu;
    for_each_token(pool, &tokens);
    if (next_norm) ask_for(next_norm, (size_t)m->hp.n_embd * sizeof(float));
    project(ws, pool, ws->xb, ws->hb, &l->w_down, n); /* (n, ff) -> (n, d) */
    tokens.token = add_residual;
    for_each_token(pool, &tokens);
}

/* Adds each token's final hidden state to its sequence's hidden_sum (x_last's first row is the
 * scratch: output_logits fills it afterwards). */
static void pool_hidden(const pa_model *m, pa_llama_ws *ws, const pa_batch_seq *seqs, int n_seqs) {
    const int d = m->hp.n_embd;
    int first_token = 0;
    for (int s = 0; s < n_seqs; first_token += seqs[s].n - seqs[s].first, s++) {
        if (!seqs[s].hidden_sum || seqs[s].tree_parent) continue;
        for (int i = 0; i < seqs[s].n; i++) {
            pa_rmsnorm(ws->x_last, ws->x + (size_t)(first_token + i) * d, m->output_norm, d,
                       m->hp.rms_eps);
            for (int j = 0; j < d; j++) seqs[s].hidden_sum[j] += ws->x_last[j];
        }
    }
}

/* (rows, d) normed hidden states -> (rows, n_vocab) logits, each row to its destination */
static void flush_logits(const pa_model *m, pa_llama_ws *ws, pa_pool *pool,
                         const pa_logit_dest *dest, int rows) {
    const size_t n_vocab = (size_t)m->hp.n_vocab;
    if (rows == 1 && dest[0].row) { /* straight to its place: a vocabulary-long copy less */
        pa_matmul_exact(pool, dest[0].row, ws->x_last, &m->output, 1, ws->tiles);
        return;
    }
    pa_matmul_exact(pool, ws->logits, ws->x_last, &m->output, rows, ws->tiles);
    for (int r = 0; r < rows; r++) {
        const float *row = ws->logits + r * n_vocab;
        if (dest[r].row) memcpy(dest[r].row, row, n_vocab * sizeof(float));
        else pa_top_k(row, (int)n_vocab, dest[r].n_top, dest[r].top);
    }
}

/* The logits each sequence asks for (its last token's, or every token's for a tree), through
 * the output matrix LOGIT_ROWS rows at a time. */
static void output_logits(const pa_model *m, pa_llama_ws *ws, pa_pool *pool,
                          const pa_batch_seq *seqs, int n_seqs) {
    const int d = m->hp.n_embd;
    pa_logit_dest dest[LOGIT_ROWS];
    int rows = 0, first_token = 0;
    for (int s = 0; s < n_seqs; first_token += seqs[s].n - seqs[s].first, s++) {
        const pa_batch_seq *seq = &seqs[s];
        if (!seq->logits && !seq->top) continue;
        const int n_rows = seq->logit_rows ? seq->n_logit_rows : seq->tree_parent ? seq->n : 1;
        for (int r = 0; r < n_rows; r++) {
            const int i = (seq->logit_rows ? seq->logit_rows[r] : seq->tree_parent ? r : seq->n - 1) -
                          seq->first; /* in the batch */
            float *normed = ws->x_last + (size_t)rows * d;
            pa_rmsnorm(normed, ws->x + (size_t)(first_token + i) * d, m->output_norm, d,
                       m->hp.rms_eps);
            if (seq->hidden && !seq->tree_parent) memcpy(seq->hidden, normed, d * sizeof *normed);
            dest[rows++] = pa_logit_dest_of(seq, r, m->hp.n_vocab);
            if (rows == LOGIT_ROWS) {
                flush_logits(m, ws, pool, dest, rows);
                rows = 0;
            }
        }
    }
    if (rows > 0) flush_logits(m, ws, pool, dest, rows);
}

/* Each token's id, position, KV slot, visible range and tree parent. */
static void lay_out_batch(const pa_model *m, pa_llama_ws *ws, const pa_batch_seq *seqs,
                          int n_seqs, int *n_tokens) {
    const int d = m->hp.n_embd;
    int n = 0;
    ws->n_exact = 0;
    for (int s = 0; s < n_seqs; s++) {
        const pa_batch_seq *seq = &seqs[s];
        const int first = n;
        const float *embd = seq->embd;
        if (seq->exact && ws->n_exact == first) ws->n_exact += seq->n - seq->first;
        for (int i = seq->first; i < seq->n; i++, n++) {
            ws->tok[n] = seq->tokens[i];
            ws->seq[n] = s;
            ws->slot[n] = seq->pos0 + i;
            if (seq->tree_parent && i > 0) { /* a draft node: at pos0 + its depth */
                int depth = 0;
                for (int a = i; a > 0; a = seq->tree_parent[a]) depth++;
                ws->parent[n] = seq->tree_parent[i];
                ws->pos[n] = seq->pos0 + depth;
                ws->limit[n] = seq->pos0;
            } else {
                ws->parent[n] = -1;
                ws->pos[n] = ws->limit[n] = seq->pos0 + i;
            }
            pa_rope_angles(ws->rope + (size_t)n * m->hp.head_dim, m->hp.head_dim, ws->pos[n],
                           m->hp.rope_base);
            if (ws->tok[n] == PA_TOKEN_EMBD) { /* fed as an embedding row */
                memcpy(ws->x + (size_t)n * d, embd, d * sizeof *embd);
                embd += d;
            } else {
                pa_matrix_row(&m->token_embd, ws->tok[n], ws->x + (size_t)n * d);
            }
        }
    }
    *n_tokens = n;
}

void pa_llama_forward(const pa_model *m, pa_llama_ws *ws, pa_pool *pool, pa_kv_store *kv,
                      const pa_batch_seq *seqs, int n_seqs, int n_layers) {
    int n = 0;
    lay_out_batch(m, ws, seqs, n_seqs, &n);
    ws->early_any = plan_early(ws, &m->hp, seqs, n_seqs);
    if (n_layers <= 0 || n_layers > m->hp.n_layer) n_layers = m->hp.n_layer;
    for (int il = 0; il < n_layers; il++) {
        attention_block(m, &m->layers[il], ws, pool, kv, seqs, n_seqs, il, n);
        ffn_block(m, &m->layers[il], ws, pool, n,
                  il + 1 < n_layers ? m->layers[il + 1].attn_norm : m->output_norm);
    }
    pool_hidden(m, ws, seqs, n_seqs);
    output_logits(m, ws, pool, seqs, n_seqs);
}
