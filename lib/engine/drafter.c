/*
 * Model drafters for speculative decoding: a second, smaller GGUF model with the same
 * vocabulary (pyagent_engine_load_draft), or the target's own first layers (self-speculation).
 *
 * A drafter has its own KV store. For each agent it keeps a block table holding the agent's
 * committed tokens (all but the pending one), caught up before each draft. To expand a layer of
 * the tree, it runs the pending token and every node drafted so far as one tree segment (the
 * same ancestor attention as verification) and reads the requested nodes' next-token
 * distributions: re-running the earlier layers costs little next to the target, and keeps the
 * drafter free of any state about the tree.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

struct pa_drafter {
    pa_model *owned;       /* the draft model, or NULL for self-speculation */
    const pa_model *model; /* what drafts: the draft model or the target */
    pa_kv_store *kv;
    pa_llama_ws *ws;
    float *logits;         /* (PA_MAX_TREE_NODES + 1, n_vocab): the nodes being expanded */
    int32_t *tokens, *parents; /* (n_batch,) the tree segment */
    int n_batch;
};

void pa_drafter_free(pa_drafter *d) {
    if (!d) return;
    pa_llama_ws_free(d->ws);
    pa_kv_store_free(d->kv);
    pa_model_free(d->owned);
    free(d->logits);
    free(d->tokens);
    free(d->parents);
    free(d);
}

/* The draft model must speak the target's tokens: same count, same bytes, same types. */
static pyagent_status check_vocab(const pa_model *target, const pa_model *draft, pa_err *err) {
    const pa_tokenizer *a = target->tokenizer, *b = draft->tokenizer;
    if (pa_tokenizer_n_vocab(a) != pa_tokenizer_n_vocab(b))
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                       "draft model has %d tokens, the target %d: the vocabularies must match",
                       pa_tokenizer_n_vocab(b), pa_tokenizer_n_vocab(a));
    const int32_t id = pa_tokenizer_first_difference(a, b);
    if (id >= 0)
        return pa_fail(err, PYAGENT_ERR_UNSUPPORTED,
                       "draft model's token %d differs from the target's: the vocabularies "
                       "must match",
                       id);
    return PYAGENT_OK;
}

pyagent_status pa_drafter_create(pyagent_engine *e, const char *path, pa_drafter **out,
                                 pa_err *err) {
    *out = NULL;
    pa_drafter *d = calloc(1, sizeof *d);
    if (!d) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
    pyagent_status st = PYAGENT_OK;
    if (path) {
        if ((st = pa_model_load(path, e->huge_pages, &d->owned, err)) ||
            (st = check_vocab(e->model, d->owned, err)))
            goto fail;
        d->model = d->owned;
    } else {
        d->model = e->model;
    }
    const pa_hparams *hp = &d->model->hp;
    const pa_kv_config *target = pa_kv_config_of(e->kv);
    pa_kv_config cfg = {
        .n_layer = hp->n_layer,
        .kv_dim = hp->n_head_kv * hp->head_dim,
        .block_size = target->block_size,
        .elem_type = target->elem_type == PA_KV_Q8_0 ? PA_KV_F16 : target->elem_type,
        .n_blocks = target->n_blocks, /* as many tokens as the target's pool */
        .model_fingerprint = d->model->fingerprint,
    };
    d->n_batch = e->n_batch > PA_MAX_TREE_NODES + 1 ? e->n_batch : PA_MAX_TREE_NODES + 1;
    d->logits = malloc((size_t)(PA_MAX_TREE_NODES + 1) * hp->n_vocab * sizeof(float));
    d->tokens = malloc((size_t)d->n_batch * sizeof *d->tokens);
    d->parents = malloc((size_t)d->n_batch * sizeof *d->parents);
    if (!d->logits || !d->tokens || !d->parents) {
        st = pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    if ((st = pa_kv_store_create(&cfg, &d->kv, err)) ||
        (st = pa_llama_ws_create(d->model, d->n_batch, e->n_ctx, pa_pool_size(e->pool), &d->ws,
                                 err)))
        goto fail;
    *out = d;
    return PYAGENT_OK;
fail:
    pa_drafter_free(d);
    return st;
}

/* ----------------------------------------------------------------------------------------- */
/* An agent's sequence in the drafter                                                          */

void pa_drafter_release(pa_drafter *d, pa_spec_state *s) {
    if (d)
        while (s->n_dblocks > 0) pa_kv_release(d->kv, s->dblocks[--s->n_dblocks]);
    s->n_dcomputed = 0;
}

/* Blocks for slots [0, end) that the agent alone writes. */
static pyagent_status reserve(pa_drafter *d, pa_spec_state *s, size_t end, pa_err *err) {
    const size_t bs = (size_t)pa_kv_config_of(d->kv)->block_size;
    if (s->n_dcomputed % bs != 0) {
        size_t i = s->n_dcomputed / bs;
        int32_t b = pa_kv_make_writable(d->kv, s->dblocks[i], (int)(s->n_dcomputed % bs));
        if (b == PA_NO_BLOCK) goto full;
        s->dblocks[i] = b;
    }
    while (s->n_dblocks * bs < end) {
        if (s->n_dblocks == s->dblocks_cap) {
            size_t cap = s->dblocks_cap ? 2 * s->dblocks_cap : 16;
            int32_t *grown = realloc(s->dblocks, cap * sizeof *grown);
            if (!grown) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "out of memory");
            s->dblocks = grown;
            s->dblocks_cap = cap;
        }
        int32_t b = pa_kv_alloc(d->kv);
        if (b == PA_NO_BLOCK) goto full;
        s->dblocks[s->n_dblocks++] = b;
    }
    return PYAGENT_OK;
full:
    return pa_fail(err, PYAGENT_ERR_KV_FULL, "the drafter's KV store is full");
}

/* Computes the agent's committed tokens (all but the pending last one) in the drafter, but for
 * the last `leave`. */
static pyagent_status catch_up(pyagent_engine *e, pa_drafter *d, pyagent_agent *a, int n_layers,
                               size_t leave, pa_err *err) {
    pa_spec_state *s = &a->spec;
    const size_t committed = a->n_tokens - 1 > leave ? a->n_tokens - 1 - leave : 0;
    if (s->n_dcomputed > a->n_tokens - 1) s->n_dcomputed = a->n_tokens - 1; /* after a rewind */
    while (s->n_dcomputed < committed) {
        size_t n = committed - s->n_dcomputed;
        if (n > (size_t)d->n_batch) n = (size_t)d->n_batch;
        pyagent_status st = reserve(d, s, s->n_dcomputed + n, err);
        if (st) return st;
        pa_batch_seq seq = {.tokens = a->tokens + s->n_dcomputed,
                            .n = (int)n,
                            .pos0 = (int)s->n_dcomputed,
                            .block_table = s->dblocks};
        pa_llama_forward(d->model, d->ws, e->pool, d->kv, &seq, 1, n_layers);
        s->n_dcomputed += n;
    }
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Expanding tree layers                                                                       */

typedef struct model_ctx {
    pyagent_engine *e;
    pa_drafter *d;
    pyagent_agent *a;
    int n_layers;
    pa_err *err;
    int n_tree_done; /* tokens of this build's tree segment (root first) in the drafter's KV */
} model_ctx;

/* The k (at most PA_TOP_CANDIDATES: spec_top_k's bound) best tokens of `logits` with their
 * log-softmax, best first. */
static int top_k(const float *logits, int n_vocab, int k, pa_draft_candidate *out) {
    pa_token_logit best[PA_TOP_CANDIDATES];
    float max;
    const float log_z = pa_logsumexp(logits, n_vocab, &max);
    const int n = pa_top_k(logits, n_vocab, k < PA_TOP_CANDIDATES ? k : PA_TOP_CANDIDATES, best);
    for (int i = 0; i < n; i++) out[i] = (pa_draft_candidate){best[i].id, best[i].logit - log_z};
    return n;
}

/* The root's children: the committed tokens the drafter has not computed yet (those the last
 * step accepted beyond its tree's computed nodes) and the pending token in one forward, the
 * pending token's logits read. */
static pyagent_status expand_root(model_ctx *c, int k, pa_draft_candidate *out, int *counts) {
    pa_drafter *d = c->d;
    pyagent_agent *a = c->a;
    pa_spec_state *s = &a->spec;
    pyagent_status st = catch_up(c->e, d, a, c->n_layers, (size_t)d->n_batch - 1, c->err);
    const size_t committed = a->n_tokens - 1;
    if (!st) st = reserve(d, s, committed + 1, c->err);
    if (st) return st;
    int32_t last = (int32_t)(committed - s->n_dcomputed); /* the pending token's row */
    pa_batch_seq seq = {.tokens = a->tokens + s->n_dcomputed,
                        .n = last + 1,
                        .pos0 = (int)s->n_dcomputed,
                        .block_table = s->dblocks,
                        .logits = d->logits,
                        .logit_rows = &last,
                        .n_logit_rows = 1};
    pa_llama_forward(d->model, d->ws, c->e->pool, d->kv, &seq, 1, c->n_layers);
    s->n_dcomputed = committed;
    c->n_tree_done = 1; /* the segment: the pending token, at row 0 */
    counts[0] = top_k(d->logits, d->model->hp.n_vocab, k, out);
    return PYAGENT_OK;
}

static pyagent_status model_expand(void *ctx, const pyagent_spec_tree *tree, const int32_t *nodes,
                                   int n_nodes, int k, pa_draft_candidate *out, int *counts) {
    model_ctx *c = ctx;
    pa_drafter *d = c->d;
    pa_spec_state *s = &c->a->spec;
    const int n_vocab = d->model->hp.n_vocab;
    /* every build expands the root first, which brings the drafter up to date */
    if (pyagent_spec_tree_size(tree) == 0) return expand_root(c, k, out, counts);
    pyagent_status st;
    /* the pending token and the tree so far, in insertion order (parents first); the nodes to
     * expand are the rows whose logits are read */
    const int n_tree = pyagent_spec_tree_size(tree);
    if (1 + n_tree > d->n_batch || n_nodes > PA_MAX_TREE_NODES + 1)
        return pa_fail(c->err, PYAGENT_ERR_OUT_OF_RANGE,
                       "draft tree of %d nodes, %d to expand: more than the drafter holds",
                       n_tree, n_nodes);
    int32_t *tokens = d->tokens, *parents = d->parents, rows[PA_MAX_TREE_NODES + 1];
    tokens[0] = c->a->tokens[c->a->n_tokens - 1];
    parents[0] = -1;
    for (int i = 0; i < n_tree; i++) {
        int32_t parent;
        pyagent_spec_tree_node(tree, i, &tokens[i + 1], &parent, NULL, NULL, NULL);
        parents[i + 1] = parent < 0 ? 0 : parent + 1;
    }
    /* Builders only append to the tree, and expand the nodes they added last: the nodes of
     * earlier calls are in the drafter's KV already, so only the new ones are computed. */
    int first = c->n_tree_done;
    for (int i = 0; i < n_nodes; i++) {
        rows[i] = nodes[i] + 1; /* node -1 (the root) is row 0 */
        if (rows[i] < first) first = 0; /* an older node's logits: compute the whole tree */
    }
    if (first > 1 + n_tree) first = 0;
    if ((st = reserve(d, s, s->n_dcomputed + 1 + (size_t)n_tree, c->err))) return st;
    pa_batch_seq seq = {.tokens = tokens,
                        .n = 1 + n_tree,
                        .first = first,
                        .pos0 = (int)s->n_dcomputed,
                        .block_table = s->dblocks,
                        .tree_parent = parents, /* not exact: drafts need no bitwise match */
                        .logits = d->logits,
                        .logit_rows = rows,
                        .n_logit_rows = n_nodes};
    pa_llama_forward(d->model, d->ws, c->e->pool, d->kv, &seq, 1, c->n_layers);
    c->n_tree_done = 1 + n_tree;
    for (int i = 0; i < n_nodes; i++)
        counts[i] = top_k(d->logits + (size_t)i * n_vocab, n_vocab, k, out + (size_t)i * k);
    return PYAGENT_OK;
}

pyagent_status pa_drafter_build(pyagent_engine *e, pa_drafter *d, pyagent_agent *a, int n_layers,
                                const pa_spec_config *cfg, int *n_rows, pa_err *err) {
    model_ctx ctx = {e, d, a, n_layers, err, 0};
    const pyagent_status st = pa_spec_build(cfg, model_expand, &ctx, a->spec.tree, err);
    *n_rows = ctx.n_tree_done;
    return st;
}

void pa_drafter_keep(pa_drafter *d, pa_spec_state *s, const int32_t *rows, int n) {
    if (!d || s->seg_drow[0] != 0) return; /* the pending token's row: the tree's root */
    const size_t base = s->n_dcomputed, bs = (size_t)pa_kv_config_of(d->kv)->block_size;
    int kept = 0;
    /* node j (1-based) sits at depth j, so its row moves to j; rows only move down (a node
     * at depth j was added after j - 1 others), never onto a row still to be read */
    for (; kept < n && rows[kept] >= 0; kept++) {
        const size_t from = base + (size_t)rows[kept], to = base + (size_t)kept + 1;
        if (from != to)
            pa_kv_copy_slots(d->kv, s->dblocks[to / bs], (int)(to % bs), s->dblocks[from / bs],
                             (int)(from % bs), 1);
    }
    s->n_dcomputed = base + 1 + (size_t)kept;
}
