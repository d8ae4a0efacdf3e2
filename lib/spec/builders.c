/* Tree builders: static, EAGLE-2 and TALON; see builders.h for the policies and contracts. */
#include "builders.h"

#include <math.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

void pa_spec_config_default(pa_spec_config *cfg, int builder) {
    *cfg = (pa_spec_config){
        .builder = builder,
        .budget = 60,
        .top_k = 10,
        .mu = 0.03f,
        .depth = 8,
        .width = builder == PA_SPEC_STATIC ? 2 : 10,
    };
}

/* log min_p: -inf for no floor */
static float min_logprob(const pa_spec_config *cfg) {
    return cfg->min_p > 0.0f ? logf(cfg->min_p) : -INFINITY;
}

static const char *builder_name(int builder) {
    switch (builder) {
    case PA_SPEC_STATIC: return "static";
    case PA_SPEC_EAGLE2: return "EAGLE-2";
    case PA_SPEC_TALON: return "TALON";
    default: return "unknown";
    }
}

/* ----------------------------------------------------------------------------------------- */
/* Scratch memory: the arrays a build needs, carved out of the tree's scratch block           */

typedef struct carver {
    size_t bytes; /* first pass: how much; second pass: where the next array starts */
    char *base;   /* NULL in the first pass */
} carver;

/* Reserves n elements of `size` bytes; returns them in the second pass. */
static void *carve(carver *c, size_t n, size_t size) {
    const size_t align = alignof(max_align_t);
    c->bytes = (c->bytes + align - 1) / align * align;
    void *p = c->base ? c->base + c->bytes : NULL;
    c->bytes += n * size;
    return p;
}

/* ----------------------------------------------------------------------------------------- */
/* Calling the drafter                                                                         */

/* One call of expand() over `nodes` of `seen`, and the checks of builders.h on what it gave:
 * counts in [0, k], tokens >= 0, no NaN; log-probabilities above 0 become 0; repeated tokens
 * of one node and tokens whose path log-probability is below `min_logprob` are dropped (the
 * lists are compacted in place). */
static pyagent_status draft(pa_draft_expand_fn expand, void *ctx, const pyagent_spec_tree *seen,
                            const int32_t *nodes, int n_nodes, int k, pa_draft_candidate *out,
                            int *counts, int layer, float min_logprob, pa_err *err) {
    memset(counts, 0, (size_t)n_nodes * sizeof *counts);
    pyagent_status st = expand(ctx, seen, nodes, n_nodes, k, out, counts);
    if (st != PYAGENT_OK)
        return pa_fail(err, st, "speculative tree: the drafter failed at layer %d: %s", layer,
                       pyagent_status_str(st));
    for (int i = 0; i < n_nodes; i++) {
        if (counts[i] < 0 || counts[i] > k)
            return pa_fail(err, PYAGENT_ERR_INTERNAL,
                           "speculative tree: the drafter gave %d tokens after node %d, "
                           "asked for at most %d",
                           counts[i], (int)nodes[i], k);
        pa_draft_candidate *list = out + (size_t)i * k;
        /* the same float sum the tree stores for a child's path */
        const float base = nodes[i] == PA_SPEC_ROOT ? 0.0f : pa_spec_tree_path_logprobs(seen)[nodes[i]];
        int kept = 0;
        for (int j = 0; j < counts[i]; j++) {
            pa_draft_candidate c = list[j];
            if (c.token < 0 || isnan(c.logprob))
                return pa_fail(err, PYAGENT_ERR_INTERNAL,
                               "speculative tree: the drafter proposed token %d with "
                               "log-probability %g after node %d",
                               (int)c.token, (double)c.logprob, (int)nodes[i]);
            if (c.logprob > 0.0f) c.logprob = 0.0f;
            if ((nodes[i] == PA_SPEC_ROOT ? c.logprob : base + c.logprob) < min_logprob) continue;
            bool repeated = false;
            for (int e = 0; e < kept && !repeated; e++) repeated = list[e].token == c.token;
            if (!repeated) list[kept++] = c;
        }
        counts[i] = kept;
    }
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Ranking by path probability                                                                 */

/* A proposal's rank key: higher path log-probability first, then the earlier proposal. The
 * order is total, so selections are deterministic; and a child never ranks before its parent
 * (its path is not higher, and it was proposed later). */
typedef struct ranked {
    float path_logprob;
    int32_t id; /* proposal order */
} ranked;

static int rank_order(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->path_logprob != b->path_logprob) return a->path_logprob > b->path_logprob ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static int id_order(const void *pa, const void *pb) {
    const int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return (a > b) - (a < b);
}

static bool ranks_before(const ranked *a, const ranked *b) { return rank_order(a, b) < 0; }

/* Marks in chosen[0..n) the `keep` best of keys[0..n) (keys[i].id = i); sorts `keys`. */
static void choose_best(ranked *keys, int n, int keep, bool *chosen) {
    qsort(keys, (size_t)n, sizeof *keys, rank_order);
    memset(chosen, 0, (size_t)n * sizeof *chosen);
    for (int i = 0; i < keep && i < n; i++) chosen[keys[i].id] = true;
}

/* ----------------------------------------------------------------------------------------- */
/* Static                                                                                      */

static pyagent_status build_static(const pa_spec_config *cfg, pa_draft_expand_fn expand,
                                   void *ctx, pyagent_spec_tree *tree, pa_err *err) {
    const int budget = cfg->budget, width = cfg->width;
    /* A layer expands at most `budget` nodes (it holds at most that many), each into width. */
    carver c = {0};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && !(c.base = pa_spec_tree_scratch(tree, c.bytes, err))) return err->status;
        c.bytes = 0;
        carve(&c, (size_t)budget, sizeof(int32_t));
        carve(&c, (size_t)budget * width, sizeof(pa_draft_candidate));
        carve(&c, (size_t)budget, sizeof(int));
    }
    c.bytes = 0;
    int32_t *nodes = carve(&c, (size_t)budget, sizeof(int32_t));
    pa_draft_candidate *out = carve(&c, (size_t)budget * width, sizeof(pa_draft_candidate));
    int *counts = carve(&c, (size_t)budget, sizeof(int));

    int32_t lo = 0, hi = 0; /* the newest layer: nodes [lo, hi); none = the root */
    for (int d = 1; d <= cfg->depth; d++) {
        if (pa_spec_tree_n(tree) == budget || (d > 1 && lo == hi)) break;
        /* The whole layer, even when only some of its children fit: which ones do depends on
         * how many children each gets, and the drafter is called once per layer. */
        const int n_expand = d == 1 ? 1 : hi - lo;
        for (int i = 0; i < n_expand; i++) nodes[i] = d == 1 ? PA_SPEC_ROOT : lo + i;
        pyagent_status st = draft(expand, ctx, tree, nodes, n_expand, width, out, counts, d,
                                   min_logprob(cfg), err);
        if (st) return st;
        lo = hi;
        for (int i = 0; i < n_expand; i++) {
            if (nodes[i] != PA_SPEC_ROOT) pa_spec_tree_set_expanded_as(tree, nodes[i], nodes[i]);
            for (int j = 0; j < counts[i] && pa_spec_tree_n(tree) < budget; j++) {
                const pa_draft_candidate *cand = &out[(size_t)i * width + j];
                st = pa_spec_tree_push(tree, nodes[i], cand->token, cand->logprob, NULL, err);
                if (st) return st;
            }
        }
        hi = pa_spec_tree_n(tree);
    }
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* TALON                                                                                       */

static pyagent_status build_talon(const pa_spec_config *cfg, pa_draft_expand_fn expand,
                                  void *ctx, pyagent_spec_tree *tree, pa_err *err) {
    const int budget = cfg->budget, k = cfg->top_k;
    /* A layer expands at most `budget` nodes (it holds at most that many), each into k. */
    const size_t pool_max = (size_t)budget * k;
    carver c = {0};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && !(c.base = pa_spec_tree_scratch(tree, c.bytes, err))) return err->status;
        c.bytes = 0;
        carve(&c, (size_t)budget, sizeof(int32_t));
        carve(&c, pool_max, sizeof(pa_draft_candidate));
        carve(&c, (size_t)budget, sizeof(int));
        carve(&c, pool_max, sizeof(ranked));
        carve(&c, pool_max, sizeof(bool));
    }
    c.bytes = 0;
    int32_t *nodes = carve(&c, (size_t)budget, sizeof(int32_t));
    pa_draft_candidate *out = carve(&c, pool_max, sizeof(pa_draft_candidate));
    int *counts = carve(&c, (size_t)budget, sizeof(int));
    ranked *keys = carve(&c, pool_max, sizeof(ranked));
    bool *admitted = carve(&c, pool_max, sizeof(bool));

    const float *path = pa_spec_tree_path_logprobs(tree);
    /* p(u) >= mu * max p  <=>  log p(u) >= log max p + log mu (log 0 = -inf: admit all) */
    const double log_mu = log((double)cfg->mu);
    int32_t lo = 0, hi = 0; /* the layer admitted last: nodes [lo, hi) */
    for (int d = 1; d <= cfg->depth; d++) {
        const int remaining = budget - pa_spec_tree_n(tree);
        if (remaining == 0 || (d > 1 && lo == hi)) break;
        const int n_expand = d == 1 ? 1 : hi - lo;
        for (int i = 0; i < n_expand; i++) nodes[i] = d == 1 ? PA_SPEC_ROOT : lo + i;
        pyagent_status st = draft(expand, ctx, tree, nodes, n_expand, k, out, counts, d,
                                   min_logprob(cfg), err);
        if (st) return st;

        /* The pool, numbered in proposal order (parent by parent, best child first). */
        int n_pool = 0;
        float best = -INFINITY;
        for (int i = 0; i < n_expand; i++) {
            if (nodes[i] != PA_SPEC_ROOT) pa_spec_tree_set_expanded_as(tree, nodes[i], nodes[i]);
            for (int j = 0; j < counts[i]; j++) {
                const float lp = out[(size_t)i * k + j].logprob;
                /* the same float sum the tree stores, so the gate holds on stored values */
                const float p = nodes[i] == PA_SPEC_ROOT ? lp : path[nodes[i]] + lp;
                keys[n_pool] = (ranked){p, n_pool};
                n_pool++;
                if (p > best) best = p;
            }
        }
        if (n_pool == 0) break;
        /* Layer 1 takes the root's best children regardless of the gate. */
        const double threshold = d == 1 ? -INFINITY : (double)best + log_mu;
        int n_pass = 0;
        for (int u = 0; u < n_pool; u++) n_pass += (double)keys[u].path_logprob >= threshold;
        choose_best(keys, n_pool, n_pass < remaining ? n_pass : remaining, admitted);

        lo = hi;
        int u = 0;
        for (int i = 0; i < n_expand; i++)
            for (int j = 0; j < counts[i]; j++, u++) {
                if (!admitted[u]) continue;
                const pa_draft_candidate *cand = &out[(size_t)i * k + j];
                st = pa_spec_tree_push(tree, nodes[i], cand->token, cand->logprob, NULL, err);
                if (st) return st;
            }
        hi = pa_spec_tree_n(tree);
    }
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* EAGLE-2                                                                                     */

/* A proposal: a node of the EAGLE-2 candidate tree, of which the best `budget` are kept. */
typedef struct proposal {
    int32_t token;
    float draft_logprob, path_logprob;
    int32_t parent;    /* proposal id, or PA_SPEC_ROOT */
    int32_t work_node; /* index in the work tree when expanded, -1 otherwise */
    int32_t out_node;  /* index in the built tree when kept, -1 otherwise */
} proposal;

static pyagent_status build_eagle2(const pa_spec_config *cfg, pa_draft_expand_fn expand,
                                   void *ctx, pyagent_spec_tree *tree, pa_err *err) {
    const int budget = cfg->budget, k = cfg->top_k, depth = cfg->depth;
    /* The frontier is `width` wide even when width > budget: its nodes below the budget's cut
     * cannot be kept, but their children take frontier places in the next layer, and EAGLE-2
     * is defined with them there. */
    const int width = cfg->width;
    const int64_t max_work = (int64_t)(depth - 1) * width;
    const int64_t max_proposals = k + max_work * k;
    if (max_work > PYAGENT_SPEC_TREE_MAX_NODES || max_proposals > PA_SPEC_MAX_CANDIDATES)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "speculative tree: EAGLE-2 with depth %d, width %d and top_k %d expands "
                       "%lld nodes and ranks %lld (at most %d and %d)",
                       depth, width, k, (long long)max_work, (long long)max_proposals,
                       PYAGENT_SPEC_TREE_MAX_NODES, PA_SPEC_MAX_CANDIDATES);
    const size_t n_max = (size_t)max_proposals;
    carver c = {0};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && !(c.base = pa_spec_tree_scratch(tree, c.bytes, err))) return err->status;
        c.bytes = 0;
        carve(&c, n_max, sizeof(proposal));
        carve(&c, n_max, sizeof(ranked));
        carve(&c, n_max, sizeof(bool));
        carve(&c, (size_t)width, sizeof(int32_t));
        carve(&c, (size_t)width, sizeof(int32_t));
        carve(&c, (size_t)width * k, sizeof(pa_draft_candidate));
        carve(&c, (size_t)width, sizeof(int));
    }
    c.bytes = 0;
    proposal *props = carve(&c, n_max, sizeof(proposal));
    ranked *keys = carve(&c, n_max, sizeof(ranked));
    bool *chosen = carve(&c, n_max, sizeof(bool));
    int32_t *frontier = carve(&c, (size_t)width, sizeof(int32_t)); /* proposal ids */
    int32_t *nodes = carve(&c, (size_t)width, sizeof(int32_t));    /* their work nodes */
    pa_draft_candidate *out = carve(&c, (size_t)width * k, sizeof(pa_draft_candidate));
    int *counts = carve(&c, (size_t)width, sizeof(int));

    pyagent_spec_tree *work =
        pa_spec_tree_work_tree(tree, max_work > 0 ? (int32_t)max_work : 1, err);
    if (!work) return err->status;

    int32_t n_props = 0, lo = 0; /* the newest layer: proposals [lo, n_props) */
    int n_frontier = 1;
    nodes[0] = PA_SPEC_ROOT;
    frontier[0] = PA_SPEC_ROOT;
    for (int d = 1; d <= depth; d++) {
        if (d > 1) {
            /* The frontier: the newest layer's `width` best. */
            const int32_t n_layer = n_props - lo;
            for (int32_t u = 0; u < n_layer; u++)
                keys[u] = (ranked){props[lo + u].path_logprob, lo + u};
            qsort(keys, (size_t)n_layer, sizeof *keys, rank_order);
            n_frontier = n_layer < width ? n_layer : width;
            if (n_frontier == 0) break;
            /* Whatever is proposed from here on ranks after an ancestor in this layer, so
             * after the layer's best and everything before it. When that is `budget - 1`
             * proposals, nothing more can be kept: stopping now builds the same tree. */
            int32_t n_before = 0;
            for (int32_t u = 0; u < lo; u++) {
                const ranked key = {props[u].path_logprob, u};
                n_before += ranks_before(&key, &keys[0]);
            }
            if (n_before >= budget - 1) break;
            /* Into the work tree in proposal order, so it stays in BFS order. */
            for (int f = 0; f < n_frontier; f++) frontier[f] = keys[f].id;
            qsort(frontier, (size_t)n_frontier, sizeof *frontier, id_order);
            for (int f = 0; f < n_frontier; f++) {
                proposal *p = &props[frontier[f]];
                const int32_t parent =
                    p->parent == PA_SPEC_ROOT ? PA_SPEC_ROOT : props[p->parent].work_node;
                pyagent_status st =
                    pa_spec_tree_push(work, parent, p->token, p->draft_logprob, &p->work_node, err);
                if (st) return st;
                nodes[f] = p->work_node;
            }
        }
        pyagent_status st = draft(expand, ctx, work, nodes, n_frontier, k, out, counts, d,
                                   min_logprob(cfg), err);
        if (st) return st;
        lo = n_props;
        for (int f = 0; f < n_frontier; f++) {
            const float base = frontier[f] == PA_SPEC_ROOT ? 0.0f : props[frontier[f]].path_logprob;
            for (int j = 0; j < counts[f]; j++) {
                const pa_draft_candidate *cand = &out[(size_t)f * k + j];
                props[n_props++] = (proposal){
                    .token = cand->token,
                    .draft_logprob = cand->logprob,
                    .path_logprob = frontier[f] == PA_SPEC_ROOT ? cand->logprob
                                                                : base + cand->logprob,
                    .parent = frontier[f],
                    .work_node = -1,
                    .out_node = -1,
                };
            }
        }
    }

    /* The final ranking over every proposal; the kept ones go in in proposal order, which is
     * layer by layer, so parents come first and the tree is in BFS order. */
    for (int32_t u = 0; u < n_props; u++) keys[u] = (ranked){props[u].path_logprob, u};
    choose_best(keys, n_props, budget, chosen);
    for (int32_t u = 0; u < n_props; u++) {
        if (!chosen[u]) continue;
        proposal *p = &props[u];
        const int32_t parent = p->parent == PA_SPEC_ROOT ? PA_SPEC_ROOT : props[p->parent].out_node;
        if (p->parent != PA_SPEC_ROOT && parent == -1)
            return pa_fail(err, PYAGENT_ERR_INTERNAL,
                           "speculative tree: EAGLE-2 kept proposal %d without its parent",
                           (int)u);
        pyagent_status st =
            pa_spec_tree_push(tree, parent, p->token, p->draft_logprob, &p->out_node, err);
        if (st) return st;
        pa_spec_tree_set_expanded_as(tree, p->out_node, p->work_node);
    }
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Entry                                                                                       */

static pyagent_status check_config(const pa_spec_config *cfg, const pyagent_spec_tree *tree,
                                   pa_err *err) {
    const char *name = builder_name(cfg->builder);
    if (cfg->builder != PA_SPEC_STATIC && cfg->builder != PA_SPEC_EAGLE2 &&
        cfg->builder != PA_SPEC_TALON)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "speculative tree: unknown builder %d",
                       cfg->builder);
    if (cfg->budget < 1 || cfg->budget > pa_spec_tree_capacity(tree))
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "speculative tree: budget %d is outside [1, %d] (the tree's max_nodes)",
                       cfg->budget, (int)pa_spec_tree_capacity(tree));
    if (cfg->depth < 1 || cfg->depth > PYAGENT_SPEC_TREE_MAX_NODES)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "speculative tree: %s depth %d is outside [1, %d]", name, cfg->depth,
                       PYAGENT_SPEC_TREE_MAX_NODES);
    if (cfg->builder != PA_SPEC_STATIC && (cfg->top_k < 1 || cfg->top_k > PA_SPEC_MAX_TOP_K))
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "speculative tree: %s top_k %d is outside [1, %d]", name, cfg->top_k,
                       PA_SPEC_MAX_TOP_K);
    if (cfg->builder == PA_SPEC_STATIC && (cfg->width < 1 || cfg->width > PA_SPEC_MAX_TOP_K))
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "speculative tree: static width %d is outside [1, %d]", cfg->width,
                       PA_SPEC_MAX_TOP_K);
    if (cfg->builder == PA_SPEC_EAGLE2 &&
        (cfg->width < 1 || cfg->width > PYAGENT_SPEC_TREE_MAX_NODES))
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "speculative tree: EAGLE-2 width %d is outside [1, %d]", cfg->width,
                       PYAGENT_SPEC_TREE_MAX_NODES);
    if (!(cfg->min_p >= 0.0f && cfg->min_p <= 1.0f))
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "speculative tree: min_p %g is outside [0, 1]", (double)cfg->min_p);
    if (cfg->builder == PA_SPEC_TALON && !(cfg->mu >= 0.0f && cfg->mu <= 1.0f))
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "speculative tree: TALON mu %g is outside [0, 1]", (double)cfg->mu);
    return PYAGENT_OK;
}

pyagent_status pa_spec_build(const pa_spec_config *cfg, pa_draft_expand_fn expand, void *ctx,
                             pyagent_spec_tree *tree, pa_err *err) {
    pa_err ignored;
    if (!err) err = &ignored;
    if (!cfg || !expand || !tree)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                       "speculative tree: NULL configuration, drafter or tree");
    pa_spec_tree_reset(tree);
    pyagent_status st = check_config(cfg, tree, err);
    if (st) return st;
    switch (cfg->builder) {
    case PA_SPEC_STATIC: st = build_static(cfg, expand, ctx, tree, err); break;
    case PA_SPEC_EAGLE2: st = build_eagle2(cfg, expand, ctx, tree, err); break;
    default: st = build_talon(cfg, expand, ctx, tree, err); break;
    }
    if (st) pa_spec_tree_reset(tree);
    return st;
}
