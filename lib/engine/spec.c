/*
 * Speculative decoding inside the scheduler.
 *
 * A generating agent with a drafter, instead of computing its one pending token, drafts a tree
 * of likely continuations (lib/spec builders over a drafter), and the step computes the pending
 * token and every draft node in one tree segment (ancestor attention, a row of logits each).
 * Then, walking down from the pending token:
 *
 *   at node u, take the distribution D the agent's sampler would draw from after u (the same
 *   penalties and filters, the history being everything accepted so far); try u's children in
 *   the tree's order: accept child c with probability D(c) / (mass left), else remove c from D;
 *   if a child is accepted, continue from it, otherwise draw the next token from what is left
 *   of D and stop.
 *
 * Trying fixed candidates one by one this way draws exactly from D (each candidate c_i is taken
 * with probability D(c_i), and the rest of D is drawn from when all are refused), so the
 * output distribution is the target's whatever the drafter proposes; under temperature 0, D is
 * the argmax alone, and the walk accepts exactly the argmax chain. Every accepted token goes
 * through the same text, stop-string and limit checks as a plainly sampled one. The KV of the
 * accepted nodes is moved from their tree slots to their sequence positions (not recomputed);
 * the rest is dropped with the blocks past the sequence.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/params.h"
#include "engine_internal.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ----------------------------------------------------------------------------------------- */
/* Settings                                                                                    */

static pyagent_status alloc_buffers(pyagent_agent *a, pa_err *err);

/* The model drafter that holds the agent's drafter blocks, if any. */
static pa_drafter *drafter_of(const pyagent_engine *e, const pa_spec_state *s) {
    return s->drafter == PYAGENT_SPEC_DRAFT  ? e->draft
           : s->drafter == PYAGENT_SPEC_SELF ? e->self_draft
                                             : NULL;
}

pyagent_status pa_spec_configure(pyagent_agent *a, const pyagent_params *p, pa_err *err) {
    const int32_t K = PYAGENT_PARAMS_SAMPLER;
    pa_spec_state *s = &a->spec;
    pyagent_engine *e = a->engine;
    const int drafter = (int)pa_params_i64(p, K, PA_SAMPLER_SPEC);
    if (drafter == PYAGENT_SPEC_DRAFT && !e->draft)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                       "spec: no draft model: load one with pyagent_engine_load_draft first");
    if (drafter == PYAGENT_SPEC_SELF && !e->self_draft) {
        pyagent_status st = pa_drafter_create(e, NULL, &e->self_draft, err);
        if (st) return st;
    }
    int self_layers = (int)pa_params_i64(p, K, PA_SAMPLER_SPEC_SELF_LAYERS);
    if (self_layers == 0) self_layers = (e->model->hp.n_layer + 3) / 4;
    if (drafter == PYAGENT_SPEC_SELF && self_layers >= e->model->hp.n_layer)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "spec_self_layers = %d: self-speculation drafts with fewer than the "
                       "model's %d layers",
                       self_layers, e->model->hp.n_layer);
    static const int builders[] = {[PYAGENT_SPEC_TREE_STATIC] = PA_SPEC_STATIC,
                                   [PYAGENT_SPEC_TREE_EAGLE2] = PA_SPEC_EAGLE2,
                                   [PYAGENT_SPEC_TREE_TALON] = PA_SPEC_TALON};
    pa_spec_config cfg;
    pa_spec_config_default(&cfg, builders[pa_params_i64(p, K, PA_SAMPLER_SPEC_TREE)]);
    cfg.budget = (int)pa_params_i64(p, K, PA_SAMPLER_SPEC_BUDGET);
    cfg.top_k = (int)pa_params_i64(p, K, PA_SAMPLER_SPEC_TOP_K);
    cfg.mu = (float)pa_params_f64(p, K, PA_SAMPLER_SPEC_MU);
    cfg.depth = (int)pa_params_i64(p, K, PA_SAMPLER_SPEC_DEPTH);
    cfg.min_p = (float)pa_params_f64(p, K, PA_SAMPLER_SPEC_MIN_P);
    if (cfg.builder == PA_SPEC_STATIC) cfg.width = (int)pa_params_i64(p, K, PA_SAMPLER_SPEC_WIDTH);
    pyagent_status st = drafter != PYAGENT_SPEC_OFF ? alloc_buffers(a, err) : PYAGENT_OK;
    if (st) return st;
    if (drafter != s->drafter || self_layers != s->self_layers) /* its drafter KV is stale */
        pa_drafter_release(drafter_of(e, s), s);
    s->drafter = drafter;
    s->self_layers = self_layers;
    s->cfg = cfg;
    return PYAGENT_OK;
}

/* The tree and logits buffers for a drafter (once per agent). */
static pyagent_status alloc_buffers(pyagent_agent *a, pa_err *err) {
    pa_spec_state *s = &a->spec;
    if (s->tree) return PYAGENT_OK;
    const size_t n_vocab = (size_t)a->engine->model->hp.n_vocab;
    s->logits = malloc((PA_MAX_TREE_NODES + 1) * n_vocab * sizeof(float));
    if (!s->logits || pyagent_spec_tree_create(PA_MAX_TREE_NODES, &s->tree) != PYAGENT_OK) {
        free(s->logits);
        s->logits = NULL;
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "spec: out of memory");
    }
    return PYAGENT_OK;
}

pyagent_status pa_spec_copy_settings(pyagent_agent *to, const pyagent_agent *from, pa_err *err) {
    to->spec.drafter = from->spec.drafter;
    to->spec.cfg = from->spec.cfg;
    to->spec.self_layers = from->spec.self_layers;
    return to->spec.drafter != PYAGENT_SPEC_OFF ? alloc_buffers(to, err) : PYAGENT_OK;
}

void pa_spec_free(pyagent_engine *e, pa_spec_state *s) {
    pa_drafter_release(drafter_of(e, s), s);
    free(s->dblocks);
    pyagent_spec_tree_destroy(s->tree);
    free(s->logits);
    memset(s, 0, sizeof *s);
}

/* ----------------------------------------------------------------------------------------- */
/* Prompt lookup: the tokens that followed the latest earlier occurrences of the context's    */
/* last n-gram (n = 3, 2, 1: the longest that occurs)                                          */

#define LOOKUP_MAX_NGRAM 3

typedef struct lookup_ctx {
    const pyagent_agent *agent;
    int32_t *context; /* the agent's tokens, then a node's path */
    size_t cap;
} lookup_ctx;

/* The path of `node` (root's child first) appended to the agent's tokens in ctx->context. */
static size_t context_of(lookup_ctx *c, const pyagent_spec_tree *tree, int32_t node) {
    int32_t path[PA_MAX_TREE_NODES], depth = 0;
    for (int32_t u = node; u >= 0 && depth < PA_MAX_TREE_NODES;) {
        int32_t token, parent;
        pyagent_spec_tree_node(tree, u, &token, &parent, NULL, NULL, NULL);
        path[depth++] = token;
        u = parent;
    }
    size_t n = c->agent->n_tokens;
    memcpy(c->context, c->agent->tokens, n * sizeof *c->context);
    for (int32_t i = depth - 1; i >= 0; i--) c->context[n++] = path[i];
    return n;
}

/* Up to k distinct next tokens, most frequent first, with their frequency as probability. */
static int lookup_next(const int32_t *ctx, size_t n, int k, pa_draft_candidate *out) {
    for (int g = LOOKUP_MAX_NGRAM; g >= 1; g--) {
        if ((size_t)g >= n) continue;
        const int32_t *tail = ctx + n - g;
        int32_t found[64];
        int counts[64], n_found = 0, total = 0;
        for (size_t i = n - g; i-- > 0;) { /* latest occurrences first */
            if (memcmp(ctx + i, tail, (size_t)g * sizeof *ctx) != 0) continue;
            const int32_t next = ctx[i + g];
            int j = 0;
            while (j < n_found && found[j] != next) j++;
            if (j == n_found && n_found < 64) found[n_found++] = next, counts[j] = 0;
            if (j < n_found) counts[j]++, total++;
        }
        if (n_found == 0) continue;
        int n_out = 0;
        for (; n_out < k && n_out < n_found; n_out++) { /* selection by count, stable */
            int best = -1;
            for (int j = 0; j < n_found; j++)
                if (counts[j] > 0 && (best < 0 || counts[j] > counts[best])) best = j;
            if (best < 0) break;
            out[n_out] = (pa_draft_candidate){found[best], logf((float)counts[best] / total)};
            counts[best] = 0;
        }
        return n_out;
    }
    return 0;
}

static pyagent_status lookup_expand(void *ctx, const pyagent_spec_tree *tree,
                                    const int32_t *nodes, int n_nodes, int k,
                                    pa_draft_candidate *out, int *counts) {
    lookup_ctx *c = ctx;
    for (int i = 0; i < n_nodes; i++) {
        size_t n = context_of(c, tree, nodes[i]);
        counts[i] = lookup_next(c->context, n, k, out + (size_t)i * k);
    }
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Drafting: the tree, as a segment after the pending token                                   */

pyagent_status pa_spec_set_host_draft(pyagent_agent *a, const pyagent_spec_tree *tree,
                                      pa_err *err) {
    if (!tree) return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "tree is NULL");
    const int32_t n = pyagent_spec_tree_size(tree);
    if (n > PA_MAX_TREE_NODES)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "a draft has at most %d nodes, not %d",
                       PA_MAX_TREE_NODES, n);
    pyagent_status st = alloc_buffers(a, err);
    if (st) return st;
    pyagent_spec_tree_clear(a->spec.tree);
    for (int32_t i = 0; i < n; i++) { /* parents come before children in insertion order */
        int32_t token, parent;
        float lp;
        pyagent_spec_tree_node(tree, i, &token, &parent, NULL, &lp, NULL);
        if (token >= a->engine->model->hp.n_vocab)
            return pa_fail(err, PYAGENT_ERR_INVALID_TOKEN, "draft node %d: token %d", i, token);
        if ((st = pyagent_spec_tree_add(a->spec.tree, parent, token, lp, NULL)))
            return pa_fail(err, st, "draft node %d: %s", i,
                           pyagent_spec_tree_last_error(a->spec.tree));
    }
    a->spec.host_draft = n > 0;
    return PYAGENT_OK;
}

int pa_spec_draft_locked(pyagent_engine *e, pyagent_agent *a, int max_nodes) {
    pa_spec_state *s = &a->spec;
    const bool host = s->host_draft;
    s->host_draft = false;
    if ((s->drafter == PYAGENT_SPEC_OFF && !host) || max_nodes < 1) return 0;
    if (a->first_embd != SIZE_MAX) return 0; /* drafters read token ids: plain decode */
    const double t0 = now_seconds();
    pa_spec_config cfg = s->cfg;
    if (cfg.budget > max_nodes) cfg.budget = max_nodes;
    pa_err err = {0};
    pyagent_status st;
    int n_drows = 0; /* rows of the tree segment the model drafter computed */
    if (host) {
        st = pyagent_spec_tree_size(s->tree) <= max_nodes
                 ? PYAGENT_OK
                 : pa_fail(&err, PYAGENT_ERR_OUT_OF_RANGE, "the draft does not fit the step");
    } else if (s->drafter == PYAGENT_SPEC_LOOKUP) {
        lookup_ctx ctx = {a, NULL, a->n_tokens + PA_MAX_TREE_NODES + 1};
        ctx.context = malloc(ctx.cap * sizeof *ctx.context);
        st = ctx.context ? pa_spec_build(&cfg, lookup_expand, &ctx, s->tree, &err)
                         : PYAGENT_ERR_OUT_OF_MEMORY;
        free(ctx.context);
    } else {
        st = pa_drafter_build(e, drafter_of(e, s), a,
                              s->drafter == PYAGENT_SPEC_SELF ? s->self_layers : 0, &cfg,
                              &n_drows, &err);
    }
    if (st) pa_engine_log(e, PYAGENT_LOG_DEBUG, "draft skipped: %s", err.msg);
    s->n_seg = 0;
    size_t n_nodes = 0;
    int32_t order[PA_MAX_TREE_NODES];
    if (st == PYAGENT_OK)
        st = pyagent_spec_tree_bfs(s->tree, order, PA_MAX_TREE_NODES, &n_nodes);
    if (st != PYAGENT_OK || n_nodes == 0) {
        a->stats.draft_seconds += now_seconds() - t0;
        return 0; /* no draft: a plain decode step */
    }
    /* segment: 0 = the pending token, 1 + i = the i-th node in breadth-first order */
    int32_t seg_of[PA_MAX_TREE_NODES];
    for (size_t i = 0; i < n_nodes; i++) seg_of[order[i]] = (int32_t)i + 1;
    s->seg_tokens[0] = a->tokens[a->n_tokens - 1];
    s->seg_parent[0] = -1;
    /* a node's draft K/V is in the drafter's row 1 + (the node the builder expanded it as) */
    const int32_t *expanded_as = pa_spec_tree_expanded_as(s->tree);
    s->seg_drow[0] = n_drows > 0 ? 0 : -1;
    for (size_t i = 0; i < n_nodes; i++) {
        int32_t token, parent;
        pyagent_spec_tree_node(s->tree, order[i], &token, &parent, NULL, NULL, NULL);
        s->seg_tokens[i + 1] = token;
        s->seg_parent[i + 1] = parent < 0 ? 0 : seg_of[parent];
        const int32_t as = expanded_as[order[i]];
        s->seg_drow[i + 1] = as >= 0 && as + 1 < n_drows ? as + 1 : -1;
    }
    s->n_seg = (int)n_nodes + 1;
    a->stats.n_drafted_tokens += (int64_t)n_nodes;
    a->stats.draft_seconds += now_seconds() - t0;
    return (int)n_nodes;
}

/* ----------------------------------------------------------------------------------------- */
/* Acceptance                                                                                  */

/* Moves the K/V of slot `from` to slot `to` in every layer. */
static void move_kv(pa_kv_store *kv, const int32_t *blocks, size_t from, size_t to) {
    const size_t bs = (size_t)pa_kv_config_of(kv)->block_size;
    pa_kv_copy_slots(kv, blocks[to / bs], (int)(to % bs), blocks[from / bs], (int)(from % bs), 1);
}

/* Probability of `token` in the sampler's current distribution (0 if filtered out), and its
 * candidate index through *at (-1 if absent). */
static float prob_of(const pa_sampler *s, size_t kept, int32_t token, size_t *at) {
    for (size_t i = 0; i < kept; i++)
        if (s->candidates[i].id == token) {
            *at = i;
            return s->candidates[i].p;
        }
    *at = (size_t)-1;
    return 0;
}

void pa_spec_accept_locked(pyagent_engine *e, pyagent_agent *a, size_t pos0) {
    pa_spec_state *s = &a->spec;
    const size_t n_vocab = (size_t)e->model->hp.n_vocab;
    int cur = 0, n_accepted = 0;
    int32_t drows[PA_MAX_TREE_NODES]; /* the accepted nodes' rows in the drafter */
    a->stats.n_verify_steps++;
    for (;;) {
        if (a->n_tokens >= (size_t)e->n_ctx) {
            pa_sched_finish_locked(a, PYAGENT_FINISH_CONTEXT, PYAGENT_OK);
            break;
        }
        const size_t kept = pa_sampler_distribution(&a->sampler, s->logits + cur * n_vocab,
                                                    a->tokens, a->n_tokens);
        double mass = 1.0;
        int chosen = -1;
        for (int c = cur + 1; c < s->n_seg && chosen < 0; c++) {
            if (s->seg_parent[c] != cur) continue;
            size_t at;
            const float p = prob_of(&a->sampler, kept, s->seg_tokens[c], &at);
            if (p > 0 && pa_sampler_uniform(&a->sampler) * mass < p) {
                chosen = c;
            } else if (p > 0) { /* refused: the rest of D, without it */
                mass -= p;
                a->sampler.candidates[at].p = 0;
            }
        }
        const int32_t token =
            chosen >= 0 ? s->seg_tokens[chosen] : pa_sampler_draw(&a->sampler, kept, mass);
        if (chosen >= 0) { /* its KV, computed in the tree slot, moves to its position */
            drows[n_accepted++] = s->seg_drow[chosen];
            move_kv(e->kv, a->blocks, pos0 + (size_t)chosen, pos0 + (size_t)n_accepted);
            cur = chosen;
        }
        if (!pa_sched_emit_locked(e, a, token) || chosen < 0) break;
    }
    a->stats.n_accepted_tokens += n_accepted;
    pa_drafter_keep(drafter_of(e, s), s, drows, n_accepted); /* no-op without a model draft */
    /* computed: everything but the last token (pending, as after plain sampling) */
    a->n_computed = a->n_tokens - 1;
    a->has_logits = false;
    pa_sched_truncate_blocks_locked(a, a->n_computed);
    s->n_seg = 0;
}
