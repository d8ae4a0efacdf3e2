/*
 * The speculative token tree (public API of spec.h) and the tree builders (lib/spec/builders.h):
 * static, EAGLE-2 and TALON, driven by synthetic drafters.
 *
 * A synthetic drafter is a pure function of (seed, path of tokens from the root): the same path
 * always gets the same candidates, so a test can ask it again what the builder was told and
 * check every node against it. Three shapes:
 *   random  40 tokens, logits of a random scale (some nodes confident, some not), and now and
 *           then fewer candidates than asked;
 *   peaked  the best token has probability 0.999, the others share 0.001 over 999 tokens;
 *   flat    1000 tokens of probability 0.001 each.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pyagent/pyagent.h>

#include "engine/sampler.h"
#include "spec/builders.h"
#include "spec/tree.h"

#define MAX_NODES 256 /* of the trees the tests build, and of the drafter's records */
#define MAX_PATH 128

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                      */

static uint64_t mix(uint64_t x) { /* splitmix64's finalizer */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double uniform(uint64_t *state) { /* [0, 1) */
    *state = mix(*state);
    return (double)(*state >> 11) / 9007199254740992.0;
}

static pyagent_spec_tree *new_tree(int32_t max_nodes) {
    pyagent_spec_tree *t = NULL;
    assert_int_equal(pyagent_spec_tree_create(max_nodes, &t), PYAGENT_OK);
    assert_non_null(t);
    return t;
}

static int32_t add(pyagent_spec_tree *t, int32_t parent, int32_t token, float logprob) {
    int32_t node = -2;
    assert_int_equal(pyagent_spec_tree_add(t, parent, token, logprob, &node), PYAGENT_OK);
    return node;
}

/* The tokens from the root down to `node` of `t` into path; returns the length (= depth). */
static int path_of(const pyagent_spec_tree *t, int32_t node, int32_t *path) {
    const int32_t *parents = pa_spec_tree_parents(t), *tokens = pa_spec_tree_tokens(t);
    int len = 0;
    for (int32_t v = node; v != PA_SPEC_ROOT; v = parents[v]) len++;
    assert_true(len <= MAX_PATH);
    int i = len;
    for (int32_t v = node; v != PA_SPEC_ROOT; v = parents[v]) path[--i] = tokens[v];
    return len;
}

static uint64_t hash_path(uint64_t seed, const int32_t *path, int len) {
    uint64_t h = mix(seed);
    for (int i = 0; i < len; i++) h = mix(h ^ ((uint64_t)(uint32_t)path[i] * 0x100000001b3ull));
    return h;
}

static bool is_ancestor_or_self(const pyagent_spec_tree *t, int32_t a, int32_t v) {
    for (; v != PA_SPEC_ROOT; v = pa_spec_tree_parents(t)[v])
        if (v == a) return true;
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Synthetic drafters                                                                           */

enum { SHAPE_RANDOM, SHAPE_PEAKED, SHAPE_FLAT };
enum { FAULT_NONE, FAULT_COUNT_OVER_K, FAULT_NAN, FAULT_NEGATIVE_TOKEN, FAULT_POSITIVE_LOGPROB,
       FAULT_REPEATED_TOKEN };

typedef struct drafter {
    int shape;
    uint64_t seed;
    int fault;                  /* FAULT_* applied to every call's first node */
    int fail_on_call;           /* 1-based call that returns fail_status; 0 = none */
    pyagent_status fail_status;
    /* what it was asked */
    int n_calls;
    int max_nodes_per_call;
    int k_of_call[MAX_PATH];
    const pyagent_spec_tree *first_tree; /* the tree of the first call */
    bool one_tree;                       /* every call got first_tree */
    bool expanded[MAX_NODES];            /* by node index in the tree the calls got */
    uint64_t expanded_path[MAX_NODES];   /* hash of the path of each expanded node */
} drafter;

static drafter make_drafter(int shape, uint64_t seed) {
    drafter d;
    memset(&d, 0, sizeof d);
    d.shape = shape;
    d.seed = seed;
    d.one_tree = true;
    return d;
}

typedef struct ranked_token { int32_t token; float logit; } ranked_token;

static int by_logit_desc(const void *pa, const void *pb) {
    const ranked_token *a = pa, *b = pb;
    if (a->logit != b->logit) return a->logit > b->logit ? -1 : 1;
    return (a->token > b->token) - (a->token < b->token);
}

/* The drafter's answer for `path`: up to k candidates, best first, distinct tokens. */
static int propose(const drafter *d, const int32_t *path, int len, int k,
                   pa_draft_candidate *out) {
    uint64_t rng = hash_path(d->seed, path, len);
    if (d->shape == SHAPE_PEAKED || d->shape == SHAPE_FLAT) {
        const int vocab = 1000;
        const int32_t first = (int32_t)(mix(rng) % vocab);
        const float top = d->shape == SHAPE_PEAKED ? logf(0.999f) : logf(1e-3f);
        const float rest = d->shape == SHAPE_PEAKED ? logf(1e-3f / 999) : logf(1e-3f);
        for (int j = 0; j < k; j++)
            out[j] = (pa_draft_candidate){(first + 13 * j) % vocab, j == 0 ? top : rest};
        return k;
    }
    enum { vocab = 40 };
    ranked_token logits[vocab];
    const double scale = 0.5 + 8.0 * uniform(&rng);
    double max = -INFINITY, sum = 0;
    for (int t = 0; t < vocab; t++) {
        logits[t] = (ranked_token){t, (float)(scale * (2.0 * uniform(&rng) - 1.0))};
        if (logits[t].logit > max) max = logits[t].logit;
    }
    for (int t = 0; t < vocab; t++) sum += exp(logits[t].logit - max);
    const float lse = (float)(max + log(sum));
    qsort(logits, vocab, sizeof *logits, by_logit_desc);
    int count = k < vocab ? k : vocab;
    if (uniform(&rng) < 0.125) count = (int)(uniform(&rng) * (count + 1)); /* a short list */
    for (int j = 0; j < count; j++)
        out[j] = (pa_draft_candidate){logits[j].token, logits[j].logit - lse};
    return count;
}

static pyagent_status expand_synthetic(void *ctx, const pyagent_spec_tree *tree,
                                       const int32_t *nodes, int n_nodes, int k,
                                       pa_draft_candidate *out, int *counts) {
    drafter *d = ctx;
    if (d->n_calls < MAX_PATH) d->k_of_call[d->n_calls] = k;
    if (d->n_calls++ == 0) d->first_tree = tree;
    else if (tree != d->first_tree) d->one_tree = false;
    if (n_nodes > d->max_nodes_per_call) d->max_nodes_per_call = n_nodes;
    if (d->fail_on_call == d->n_calls) return d->fail_status;
    for (int i = 0; i < n_nodes; i++) {
        int32_t path[MAX_PATH] = {0};
        const int len = nodes[i] == PA_SPEC_ROOT ? 0 : path_of(tree, nodes[i], path);
        counts[i] = propose(d, path, len, k, out + (size_t)i * k);
        if (nodes[i] != PA_SPEC_ROOT && nodes[i] < MAX_NODES) {
            d->expanded[nodes[i]] = true;
            d->expanded_path[nodes[i]] = hash_path(d->seed, path, len);
        }
    }
    pa_draft_candidate *first = out;
    switch (d->fault) {
    case FAULT_COUNT_OVER_K: counts[0] = k + 1; break;
    case FAULT_NAN: first->logprob = NAN; break;
    case FAULT_NEGATIVE_TOKEN: first->token = -3; break;
    case FAULT_POSITIVE_LOGPROB: first->logprob = 0.25f; break;
    case FAULT_REPEATED_TOKEN: /* the second entry repeats the first with another logprob */
        if (counts[0] >= 2) out[1] = (pa_draft_candidate){first->token, first->logprob - 1.0f};
        break;
    default: break;
    }
    return PYAGENT_OK;
}

/* The drafter's log-probability of `token` after `node` of `t` (as a builder stores it: not
 * above 0), or NAN if it does not propose it among its first k. */
static float drafted_logprob(const drafter *d, const pyagent_spec_tree *t, int32_t node,
                             int32_t token, int k) {
    int32_t path[MAX_PATH] = {0};
    pa_draft_candidate cand[PA_SPEC_MAX_TOP_K];
    const int len = node == PA_SPEC_ROOT ? 0 : path_of(t, node, path);
    const int n = propose(d, path, len, k, cand);
    for (int j = 0; j < n; j++)
        if (cand[j].token == token) return fminf(cand[j].logprob, 0.0f);
    return NAN;
}

static pyagent_status build(const pa_spec_config *cfg, drafter *d, pyagent_spec_tree *t,
                            pa_err *err) {
    pa_err_clear(err);
    return pa_spec_build(cfg, expand_synthetic, d, t, err);
}

static int count_at_depth(const pyagent_spec_tree *t, int depth) {
    int n = 0;
    for (int32_t i = 0; i < pa_spec_tree_n(t); i++) n += pa_spec_tree_depths(t)[i] == depth;
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Checking a tree against the brute-force definitions of spec.h                               */

/* BFS order, positions, mask and paths of `t` through the public API, each against its
 * definition computed the slow way. */
static void check_readers(const pyagent_spec_tree *t) {
    const int32_t n = pyagent_spec_tree_size(t);
    const int32_t *parents = pa_spec_tree_parents(t), *depths = pa_spec_tree_depths(t);

    /* BFS: a stable sort of node indices by depth */
    int32_t order[MAX_NODES], expected[MAX_NODES];
    size_t needed = 0;
    assert_int_equal(pyagent_spec_tree_bfs(t, order, MAX_NODES, &needed), PYAGENT_OK);
    assert_int_equal(needed, n);
    int32_t e = 0, max_depth = 0;
    for (int32_t i = 0; i < n; i++)
        if (depths[i] > max_depth) max_depth = depths[i];
    for (int32_t depth = 1; depth <= max_depth; depth++)
        for (int32_t i = 0; i < n; i++)
            if (depths[i] == depth) expected[e++] = i;
    assert_memory_equal(order, expected, (size_t)n * sizeof *order);

    /* positions */
    int32_t positions[MAX_NODES];
    assert_int_equal(pyagent_spec_tree_positions(t, 1000, positions, MAX_NODES, &needed),
                     PYAGENT_OK);
    assert_int_equal(needed, n);
    for (int32_t i = 0; i < n; i++) assert_int_equal(positions[i], 1000 + depths[order[i]]);

    /* mask: the ancestor-or-self relation in BFS order */
    static uint8_t mask[MAX_NODES * MAX_NODES];
    assert_int_equal(pyagent_spec_tree_mask(t, mask, sizeof mask, &needed), PYAGENT_OK);
    assert_int_equal(needed, (size_t)n * n);
    for (int32_t i = 0; i < n; i++)
        for (int32_t j = 0; j < n; j++)
            assert_int_equal(mask[(size_t)i * n + j], is_ancestor_or_self(t, order[j], order[i]));

    /* paths: one per leaf, in depth-first order, each from depth 1 down to the leaf */
    int32_t nodes[MAX_NODES * MAX_PATH / 4], offsets[MAX_NODES + 1];
    size_t nodes_needed = 0, offsets_needed = 0;
    assert_int_equal(pyagent_spec_tree_paths(t, NULL, 0, &nodes_needed, NULL, 0, &offsets_needed),
                     PYAGENT_ERR_BUFFER_TOO_SMALL); /* there is always offsets[0] */
    assert_true(nodes_needed <= sizeof nodes / sizeof *nodes);
    assert_int_equal(pyagent_spec_tree_paths(t, nodes, nodes_needed, &nodes_needed, offsets,
                                             offsets_needed, &offsets_needed),
                     PYAGENT_OK);
    /* the leaves in depth-first order, children in index order: a stack of nodes to visit,
     * each node's children pushed last first */
    int32_t leaves_dfs[MAX_NODES], n_leaves = 0, stack[MAX_NODES + 1], top = 0;
    for (int32_t c = n - 1; c >= 0; c--)
        if (parents[c] == PA_SPEC_ROOT) stack[top++] = c;
    while (top > 0) {
        const int32_t v = stack[--top];
        bool leaf = true;
        for (int32_t c = n - 1; c > v; c--)
            if (parents[c] == v) {
                stack[top++] = c;
                leaf = false;
            }
        if (leaf) leaves_dfs[n_leaves++] = v;
    }
    assert_int_equal(offsets_needed, (size_t)n_leaves + 1);
    assert_int_equal(offsets[0], 0);
    size_t total = 0;
    for (int32_t p = 0; p < n_leaves; p++) {
        const int32_t leaf = leaves_dfs[p];
        assert_int_equal(offsets[p + 1] - offsets[p], depths[leaf]);
        assert_int_equal(nodes[offsets[p + 1] - 1], leaf);
        for (int32_t q = offsets[p]; q < offsets[p + 1]; q++) {
            assert_int_equal(depths[nodes[q]], q - offsets[p] + 1);
            if (q > offsets[p]) assert_int_equal(parents[nodes[q]], nodes[q - 1]);
            else assert_int_equal(parents[nodes[q]], PA_SPEC_ROOT);
        }
        total += (size_t)depths[leaf];
    }
    assert_int_equal(nodes_needed, total);
}

/* What every built tree satisfies, for every builder and drafter. */
static void check_built_tree(const pyagent_spec_tree *t, const pa_spec_config *cfg,
                             const drafter *d) {
    const int32_t n = pa_spec_tree_n(t);
    const int32_t *parents = pa_spec_tree_parents(t), *depths = pa_spec_tree_depths(t),
                  *tokens = pa_spec_tree_tokens(t), *expanded_as = pa_spec_tree_expanded_as(t);
    const float *draft = pa_spec_tree_draft_logprobs(t), *path = pa_spec_tree_path_logprobs(t);
    const int k = cfg->builder == PA_SPEC_STATIC ? cfg->width : cfg->top_k;
    assert_true(n <= cfg->budget);
    assert_true(pa_spec_tree_in_bfs_order(t));
    for (int32_t i = 0; i < n; i++) {
        const int32_t p = parents[i];
        assert_true(p >= PA_SPEC_ROOT && p < i); /* parents before children */
        assert_int_equal(depths[i], p == PA_SPEC_ROOT ? 1 : depths[p] + 1);
        assert_true(depths[i] <= cfg->depth);
        if (i > 0) assert_true(depths[i] >= depths[i - 1]); /* inserted layer by layer */
        assert_true(draft[i] <= 0.0f);
        assert_true(path[i] == (p == PA_SPEC_ROOT ? draft[i] : path[p] + draft[i]));
        if (p != PA_SPEC_ROOT) assert_true(path[i] <= path[p]); /* non-increasing on paths */
        /* the node is what the drafter proposed after its parent's path */
        assert_true(drafted_logprob(d, t, p, tokens[i], k) == draft[i]);
        /* a node with children was expanded, under a name whose path is its own */
        if (pa_spec_tree_n_children(t, i) > 0) assert_true(expanded_as[i] >= 0);
        if (expanded_as[i] >= 0) {
            int32_t own[MAX_PATH];
            const int len = path_of(t, i, own);
            assert_true(expanded_as[i] < MAX_NODES && d->expanded[expanded_as[i]]);
            assert_true(d->expanded_path[expanded_as[i]] == hash_path(d->seed, own, len));
        }
    }
    check_readers(t);
}

/* ------------------------------------------------------------------------------------------ */
/* The tree API                                                                                 */

static void create_rejects_bad_capacities_and_null(void **state) {
    (void)state;
    pyagent_spec_tree *t = (pyagent_spec_tree *)&t;
    assert_int_equal(pyagent_spec_tree_create(0, &t), PYAGENT_ERR_OUT_OF_RANGE);
    assert_null(t);
    t = (pyagent_spec_tree *)&t;
    assert_int_equal(pyagent_spec_tree_create(PYAGENT_SPEC_TREE_MAX_NODES + 1, &t),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_null(t);
    assert_int_equal(pyagent_spec_tree_create(-5, &t), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_spec_tree_create(8, NULL), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_spec_tree_create(PYAGENT_SPEC_TREE_MAX_NODES, &t), PYAGENT_OK);
    assert_int_equal(pyagent_spec_tree_size(t), 0);
    pyagent_spec_tree_destroy(t);
}

static void add_records_token_parent_depth_and_path_logprob(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(8);
    assert_int_equal(add(t, -1, 450, -0.25f), 0);
    assert_int_equal(add(t, -1, 319, -2.0f), 1);
    assert_int_equal(add(t, 0, 4799, -0.5f), 2);
    assert_int_equal(add(t, 2, 7, -INFINITY), 3);
    assert_int_equal(pyagent_spec_tree_size(t), 4);

    int32_t token, parent, depth;
    float draft, path;
    assert_int_equal(pyagent_spec_tree_node(t, 2, &token, &parent, &depth, &draft, &path),
                     PYAGENT_OK);
    assert_int_equal(token, 4799);
    assert_int_equal(parent, 0);
    assert_int_equal(depth, 2);
    assert_true(draft == -0.5f);
    assert_true(path == -0.75f);
    assert_int_equal(pyagent_spec_tree_node(t, 1, NULL, &parent, &depth, NULL, NULL), PYAGENT_OK);
    assert_int_equal(parent, -1);
    assert_int_equal(depth, 1);
    assert_int_equal(pyagent_spec_tree_node(t, 3, NULL, NULL, &depth, NULL, &path), PYAGENT_OK);
    assert_int_equal(depth, 3);
    assert_true(isinf(path) && path < 0);
    assert_int_equal(pyagent_spec_tree_node(t, 4, &token, NULL, NULL, NULL, NULL),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_non_null(strstr(pyagent_spec_tree_last_error(t), "node 4"));
    assert_int_equal(pyagent_spec_tree_node(t, -1, &token, NULL, NULL, NULL, NULL),
                     PYAGENT_ERR_OUT_OF_RANGE);
    /* children lists and lookups the verifier uses */
    assert_int_equal(pa_spec_tree_child_with_token(t, PA_SPEC_ROOT, 319), 1);
    assert_int_equal(pa_spec_tree_child_with_token(t, 0, 4799), 2);
    assert_int_equal(pa_spec_tree_child_with_token(t, 0, 450), -1);
    assert_int_equal(pa_spec_tree_n_children(t, PA_SPEC_ROOT), 2);
    assert_int_equal(pa_spec_tree_max_depth(t), 3);
    pyagent_spec_tree_destroy(t);
}

static void add_rejects_a_missing_parent_and_leaves_the_tree_unchanged(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(8);
    add(t, -1, 1, -0.1f);
    assert_int_equal(pyagent_spec_tree_add(t, 1, 2, -0.1f, NULL), PYAGENT_ERR_OUT_OF_RANGE);
    assert_non_null(strstr(pyagent_spec_tree_last_error(t), "parent 1"));
    assert_int_equal(pyagent_spec_tree_add(t, -2, 2, -0.1f, NULL), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_spec_tree_add(t, 7, 2, -0.1f, NULL), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_spec_tree_size(t), 1);
    check_readers(t);
    pyagent_spec_tree_destroy(t);
}

static void add_fails_with_out_of_range_when_the_tree_is_full(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(3);
    add(t, -1, 1, -0.1f);
    add(t, 0, 2, -0.1f);
    add(t, 1, 3, -0.1f);
    int32_t node = 99;
    assert_int_equal(pyagent_spec_tree_add(t, 2, 4, -0.1f, &node), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(node, 99);
    assert_non_null(strstr(pyagent_spec_tree_last_error(t), "full"));
    assert_int_equal(pyagent_spec_tree_size(t), 3);
    pyagent_spec_tree_destroy(t);
}

static void add_rejects_bad_tokens_logprobs_and_repeated_siblings(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(8);
    assert_int_equal(pyagent_spec_tree_add(t, -1, -1, -0.1f, NULL), PYAGENT_ERR_INVALID_TOKEN);
    assert_int_equal(pyagent_spec_tree_add(t, -1, 5, NAN, NULL), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_spec_tree_add(t, -1, 5, 0.01f, NULL), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_spec_tree_add(t, -1, 5, INFINITY, NULL), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_spec_tree_size(t), 0);
    add(t, -1, 5, 0.0f); /* probability 1 is fine */
    assert_int_equal(pyagent_spec_tree_add(t, -1, 5, -3.0f, NULL), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(pyagent_spec_tree_last_error(t), "token 5"));
    add(t, 0, 5, -1.0f); /* the same token under another parent is another path */
    assert_int_equal(pyagent_spec_tree_add(t, 0, 5, -1.0f, NULL), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_spec_tree_size(t), 2);
    pyagent_spec_tree_destroy(t);
}

static void null_handles_are_rejected_not_dereferenced(void **state) {
    (void)state;
    int32_t i32 = 0;
    float f = 0;
    size_t needed = 0, needed2 = 0;
    uint8_t mask[4];
    pyagent_spec_tree_destroy(NULL);
    assert_int_equal(pyagent_spec_tree_clear(NULL), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_spec_tree_add(NULL, -1, 1, -0.1f, &i32),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_spec_tree_size(NULL), 0);
    assert_int_equal(pyagent_spec_tree_node(NULL, 0, &i32, &i32, &i32, &f, &f),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_spec_tree_bfs(NULL, &i32, 1, &needed), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_spec_tree_positions(NULL, 0, &i32, 1, &needed),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_spec_tree_mask(NULL, mask, 4, &needed), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_spec_tree_paths(NULL, &i32, 1, &needed, &i32, 1, &needed2),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_string_equal(pyagent_spec_tree_last_error(NULL), "");

    /* NULL out-pointers and buffers on a real tree */
    pyagent_spec_tree *t = new_tree(4);
    assert_string_equal(pyagent_spec_tree_last_error(t), "");
    add(t, -1, 1, -0.1f);
    assert_int_equal(pyagent_spec_tree_bfs(t, &i32, 1, NULL), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_spec_tree_bfs(t, NULL, 1, &needed), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_spec_tree_mask(t, NULL, 1, &needed), PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_spec_tree_positions(t, 0, NULL, 1, &needed),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_spec_tree_paths(t, &i32, 1, NULL, &i32, 2, &needed2),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pyagent_spec_tree_paths(t, NULL, 1, &needed, &i32, 2, &needed2),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(pyagent_spec_tree_last_error(t), "NULL"));
    pyagent_spec_tree_destroy(t);
}

/* Nodes added depth-first: BFS order regroups them by depth, keeping insertion order within a
 * depth. */
static void bfs_orders_by_depth_then_insertion(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(16);
    const int32_t a = add(t, -1, 10, -0.1f);      /* 0, depth 1 */
    const int32_t aa = add(t, a, 11, -0.1f);      /* 1, depth 2 */
    add(t, aa, 12, -0.1f);                        /* 2, depth 3 */
    const int32_t b = add(t, -1, 20, -0.5f);      /* 3, depth 1 */
    add(t, b, 21, -0.1f);                         /* 4, depth 2 */
    add(t, a, 13, -1.0f);                         /* 5, depth 2 */
    assert_false(pa_spec_tree_in_bfs_order(t));
    int32_t order[16];
    size_t n = 0;
    assert_int_equal(pyagent_spec_tree_bfs(t, order, 16, &n), PYAGENT_OK);
    assert_int_equal(n, 6);
    const int32_t expected[] = {0, 3, 1, 4, 5, 2};
    assert_memory_equal(order, expected, sizeof expected);
    for (int32_t p = 0; p < 6; p++) assert_int_equal(pa_spec_tree_bfs_position(t, order[p]), p);

    /* two-call pattern: too small writes nothing and says how much */
    int32_t small[3] = {-7, -7, -7};
    assert_int_equal(pyagent_spec_tree_bfs(t, small, 3, &n), PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 6);
    assert_int_equal(small[0], -7);
    assert_int_equal(pyagent_spec_tree_bfs(t, NULL, 0, &n), PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n, 6);
    check_readers(t);
    pyagent_spec_tree_destroy(t);
}

static void nodes_added_layer_by_layer_are_already_in_bfs_order(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(8);
    add(t, -1, 1, -0.1f);
    add(t, -1, 2, -0.1f);
    add(t, 0, 3, -0.1f);
    add(t, 1, 4, -0.1f);
    add(t, 3, 5, -0.1f);
    assert_true(pa_spec_tree_in_bfs_order(t));
    int32_t order[8];
    size_t n = 0;
    assert_int_equal(pyagent_spec_tree_bfs(t, order, 8, &n), PYAGENT_OK);
    for (int32_t i = 0; i < (int32_t)n; i++) assert_int_equal(order[i], i);
    pyagent_spec_tree_destroy(t);
}

static void mask_is_the_ancestor_relation_in_bfs_order(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(8);
    const int32_t a = add(t, -1, 1, -0.1f); /* BFS 0 */
    const int32_t ab = add(t, a, 2, -0.1f); /* BFS 2 */
    add(t, ab, 3, -0.1f);                   /* BFS 4 */
    add(t, -1, 4, -0.1f);                   /* BFS 1 */
    add(t, a, 5, -0.1f);                    /* BFS 3 */
    uint8_t mask[25];
    size_t needed = 0;
    assert_int_equal(pyagent_spec_tree_mask(t, mask, 24, &needed), PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(needed, 25);
    assert_int_equal(pyagent_spec_tree_mask(t, mask, 25, &needed), PYAGENT_OK);
    const uint8_t expected[25] = {
        1, 0, 0, 0, 0, /* a */
        0, 1, 0, 0, 0, /* the second root child */
        1, 0, 1, 0, 0, /* ab */
        1, 0, 0, 1, 0, /* a's second child */
        1, 0, 1, 0, 1, /* abc */
    };
    assert_memory_equal(mask, expected, sizeof expected);
    pyagent_spec_tree_destroy(t);
}

static void positions_are_the_root_position_plus_depth(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(8);
    const int32_t a = add(t, -1, 1, -0.1f);
    add(t, add(t, a, 2, -0.1f), 3, -0.1f);
    add(t, -1, 4, -0.1f);
    int32_t positions[4];
    size_t n = 0;
    assert_int_equal(pyagent_spec_tree_positions(t, 41, positions, 4, &n), PYAGENT_OK);
    assert_int_equal(n, 4);
    const int32_t expected[] = {42, 42, 43, 44}; /* BFS: a, the other child, ab, abc */
    assert_memory_equal(positions, expected, sizeof expected);
    assert_int_equal(pyagent_spec_tree_positions(t, 0, positions, 4, &n), PYAGENT_OK);
    assert_int_equal(positions[3], 3); /* root position 0 reads the depths */
    assert_int_equal(pyagent_spec_tree_positions(t, -1, positions, 4, &n),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_spec_tree_positions(t, INT32_MAX - 2, positions, 4, &n),
                     PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(pyagent_spec_tree_positions(t, INT32_MAX - 3, positions, 4, &n),
                     PYAGENT_OK);
    assert_int_equal(positions[3], INT32_MAX);
    pyagent_spec_tree_destroy(t);
}

static void paths_list_every_leaf_once_from_the_root_in_depth_first_order(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(8);
    const int32_t a = add(t, -1, 1, -0.1f);   /* 0 */
    const int32_t b = add(t, -1, 2, -0.2f);   /* 1 */
    const int32_t aa = add(t, a, 3, -0.1f);   /* 2 */
    const int32_t ab = add(t, a, 4, -0.3f);   /* 3 */
    const int32_t aaa = add(t, aa, 5, -0.1f); /* 4 */
    (void)ab;
    (void)b;
    (void)aaa;
    size_t n_nodes = 0, n_offsets = 0;
    assert_int_equal(pyagent_spec_tree_paths(t, NULL, 0, &n_nodes, NULL, 0, &n_offsets),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(n_nodes, 3 + 2 + 1); /* leaves aaa, ab, b */
    assert_int_equal(n_offsets, 4);
    int32_t nodes[6], offsets[4];
    assert_int_equal(pyagent_spec_tree_paths(t, nodes, 6, &n_nodes, offsets, 3, &n_offsets),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(pyagent_spec_tree_paths(t, nodes, 5, &n_nodes, offsets, 4, &n_offsets),
                     PYAGENT_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(pyagent_spec_tree_paths(t, nodes, 6, &n_nodes, offsets, 4, &n_offsets),
                     PYAGENT_OK);
    const int32_t expected_nodes[] = {0, 2, 4, 0, 3, 1};
    const int32_t expected_offsets[] = {0, 3, 5, 6};
    assert_memory_equal(nodes, expected_nodes, sizeof expected_nodes);
    assert_memory_equal(offsets, expected_offsets, sizeof expected_offsets);

    /* an empty tree has no paths: one offset, 0 */
    pyagent_spec_tree_clear(t);
    offsets[0] = -1;
    assert_int_equal(pyagent_spec_tree_paths(t, NULL, 0, &n_nodes, offsets, 1, &n_offsets),
                     PYAGENT_OK);
    assert_int_equal(n_nodes, 0);
    assert_int_equal(n_offsets, 1);
    assert_int_equal(offsets[0], 0);
    pyagent_spec_tree_destroy(t);
}

static void clear_empties_the_tree_for_reuse(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(2);
    add(t, -1, 1, -0.1f);
    add(t, 0, 2, -0.1f);
    assert_int_equal(pyagent_spec_tree_clear(t), PYAGENT_OK);
    assert_int_equal(pyagent_spec_tree_size(t), 0);
    assert_int_equal(pa_spec_tree_max_depth(t), 0);
    assert_int_equal(pyagent_spec_tree_add(t, 0, 1, -0.1f, NULL), PYAGENT_ERR_OUT_OF_RANGE);
    assert_int_equal(add(t, -1, 1, -0.1f), 0); /* same token as before: the old child is gone */
    assert_int_equal(add(t, -1, 2, -0.1f), 1);
    check_readers(t);
    pyagent_spec_tree_destroy(t);
}

/* Random trees added in random order (parents still first): every reader against its
 * definition. */
static void readers_match_their_definitions_on_random_trees(void **state) {
    (void)state;
    uint64_t rng = 12345;
    for (int round = 0; round < 300; round++) {
        const int32_t capacity = 1 + (int32_t)(uniform(&rng) * 60);
        pyagent_spec_tree *t = new_tree(capacity);
        const double deep = uniform(&rng); /* how often a node goes under the newest one */
        for (int32_t i = 0; i < capacity; i++) {
            const int32_t size = pyagent_spec_tree_size(t);
            int32_t parent = (int32_t)(uniform(&rng) * (size + 1)) - 1;
            if (size > 0 && uniform(&rng) < deep) parent = size - 1;
            const int32_t token = (int32_t)(uniform(&rng) * 6);
            const float lp = -(float)(uniform(&rng) * 3);
            const pyagent_status st = pyagent_spec_tree_add(t, parent, token, lp, NULL);
            if (st == PYAGENT_ERR_INVALID_ARGUMENT) continue; /* a repeated sibling token */
            assert_int_equal(st, PYAGENT_OK);
        }
        check_readers(t);
        pyagent_spec_tree_destroy(t);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Builders: configuration                                                                      */

static void config_defaults_are_the_papers(void **state) {
    (void)state;
    pa_spec_config cfg;
    pa_spec_config_default(&cfg, PA_SPEC_TALON);
    assert_int_equal(cfg.builder, PA_SPEC_TALON);
    assert_int_equal(cfg.budget, 60);
    assert_int_equal(cfg.top_k, 10);
    assert_true(cfg.mu == 0.03f);
    assert_int_equal(cfg.depth, 8);
    pa_spec_config_default(&cfg, PA_SPEC_STATIC);
    assert_int_equal(cfg.builder, PA_SPEC_STATIC);
    assert_int_equal(cfg.width, 2);
    pa_spec_config_default(&cfg, PA_SPEC_EAGLE2);
    assert_int_equal(cfg.builder, PA_SPEC_EAGLE2);
    assert_int_equal(cfg.width, cfg.top_k);
    assert_int_equal(cfg.budget, 60);
}

static void configurations_out_of_bounds_are_refused_and_leave_the_tree_empty(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(64);
    drafter d = make_drafter(SHAPE_RANDOM, 1);
    pa_err err;
    const int builders[] = {PA_SPEC_STATIC, PA_SPEC_EAGLE2, PA_SPEC_TALON};
    for (int b = 0; b < 3; b++) {
        pa_spec_config good;
        pa_spec_config_default(&good, builders[b]);
        pa_spec_config bad[10];
        int n_bad = 0;
        bad[n_bad] = good; bad[n_bad++].min_p = NAN;
        bad[n_bad] = good; bad[n_bad++].min_p = 1.5f;
        bad[n_bad] = good; bad[n_bad++].budget = 0;
        bad[n_bad] = good; bad[n_bad++].budget = 65; /* more than the tree holds */
        bad[n_bad] = good; bad[n_bad++].depth = 0;
        if (builders[b] == PA_SPEC_STATIC) {
            bad[n_bad] = good; bad[n_bad++].width = 0;
            bad[n_bad] = good; bad[n_bad++].width = PA_SPEC_MAX_TOP_K + 1;
        } else {
            bad[n_bad] = good; bad[n_bad++].top_k = 0;
            bad[n_bad] = good; bad[n_bad++].top_k = PA_SPEC_MAX_TOP_K + 1;
        }
        if (builders[b] == PA_SPEC_EAGLE2) {
            bad[n_bad] = good; bad[n_bad++].width = 0;
            bad[n_bad] = good; bad[n_bad++].depth = PYAGENT_SPEC_TREE_MAX_NODES; /* work tree */
        }
        if (builders[b] == PA_SPEC_TALON) {
            bad[n_bad] = good; bad[n_bad++].mu = NAN;
            bad[n_bad] = good; bad[n_bad++].mu = 1.5f;
            bad[n_bad] = good; bad[n_bad++].mu = -0.01f;
        }
        for (int i = 0; i < n_bad; i++) {
            pyagent_spec_tree_clear(t);
            add(t, -1, 1, -0.1f); /* something that the failed build must clear */
            assert_int_equal(build(&bad[i], &d, t, &err), PYAGENT_ERR_OUT_OF_RANGE);
            assert_int_equal(err.status, PYAGENT_ERR_OUT_OF_RANGE);
            assert_true(strlen(err.msg) > 0);
            assert_int_equal(pa_spec_tree_n(t), 0);
        }
        assert_int_equal(build(&good, &d, t, &err), PYAGENT_OK);
    }
    pa_spec_config unknown;
    pa_spec_config_default(&unknown, 7);
    assert_int_equal(build(&unknown, &d, t, &err), PYAGENT_ERR_OUT_OF_RANGE);
    assert_non_null(strstr(err.msg, "builder 7"));
    assert_int_equal(pa_spec_build(NULL, expand_synthetic, &d, t, &err),
                     PYAGENT_ERR_INVALID_ARGUMENT);
    assert_int_equal(pa_spec_build(&unknown, NULL, &d, t, NULL), PYAGENT_ERR_INVALID_ARGUMENT);
    pyagent_spec_tree_destroy(t);
}

/* ------------------------------------------------------------------------------------------ */
/* Builders: invariants over random drafters and configurations                                */

static pa_spec_config random_config(int builder, uint64_t *rng) {
    static const float mus[] = {0.0f, 0.01f, 0.03f, 0.1f, 0.5f, 1.0f};
    pa_spec_config cfg;
    pa_spec_config_default(&cfg, builder);
    cfg.budget = 1 + (int)(uniform(rng) * 90);
    cfg.top_k = 1 + (int)(uniform(rng) * 12);
    cfg.mu = mus[(int)(uniform(rng) * 6)];
    cfg.depth = 1 + (int)(uniform(rng) * 10);
    cfg.width = builder == PA_SPEC_STATIC ? 1 + (int)(uniform(rng) * 4)
                                          : 1 + (int)(uniform(rng) * 12);
    return cfg;
}

/* TALON's gate and its other rules, checked layer by layer against pools recomputed from the
 * drafter: layer 1 is the root's best min(K, N); at layer d >= 2 every node passes
 * p >= mu * max p of the pool of its layer; a pool node that passes and is missing was cut by
 * the budget and ranks below every admitted one; and a tree that stopped short of both the
 * budget and the depth cap has nothing left to admit. */
static void check_talon(const pyagent_spec_tree *t, const pa_spec_config *cfg, const drafter *d) {
    const int32_t n = pa_spec_tree_n(t);
    const int32_t *depths = pa_spec_tree_depths(t);
    const float *path = pa_spec_tree_path_logprobs(t);
    const int k = cfg->top_k;
    pa_draft_candidate cand[PA_SPEC_MAX_TOP_K];
    int32_t route[MAX_PATH] = {0};

    const int root_count = propose(d, route, 0, k, cand);
    const int layer1 = root_count < cfg->budget ? root_count : cfg->budget;
    assert_int_equal(count_at_depth(t, 1), layer1);
    for (int j = 0; j < layer1; j++) /* the root's best, in the drafter's order */
        assert_int_equal(pa_spec_tree_tokens(t)[j], cand[j].token);

    const int32_t max_depth = pa_spec_tree_max_depth(t);
    for (int32_t layer = 2; layer <= max_depth + 1 && layer <= cfg->depth; layer++) {
        float best = -INFINITY;
        for (int32_t v = 0; v < n; v++) {
            if (depths[v] != layer - 1) continue;
            const int len = path_of(t, v, route);
            const int c = propose(d, route, len, k, cand);
            for (int j = 0; j < c; j++) best = fmaxf(best, path[v] + fminf(cand[j].logprob, 0));
        }
        if (layer == max_depth + 1) { /* the build stopped here: why? */
            if (n < cfg->budget) assert_true(isinf(best) && best < 0); /* an empty pool */
            break;
        }
        const double threshold = (double)best + log((double)cfg->mu);
        float worst_admitted = INFINITY;
        for (int32_t v = 0; v < n; v++)
            if (depths[v] == layer) {
                assert_true((double)path[v] >= threshold); /* the gate */
                worst_admitted = fminf(worst_admitted, path[v]);
            }
        for (int32_t v = 0; v < n; v++) { /* passing pool nodes that are missing */
            if (depths[v] != layer - 1) continue;
            const int len = path_of(t, v, route);
            const int c = propose(d, route, len, k, cand);
            for (int j = 0; j < c; j++) {
                const float p = path[v] + fminf(cand[j].logprob, 0);
                if ((double)p < threshold || pa_spec_tree_child_with_token(t, v, cand[j].token) >= 0)
                    continue;
                assert_int_equal(n, cfg->budget);
                assert_true(p <= worst_admitted);
            }
        }
    }
}

/* The static shape: the full width-ary tree of the drafter's best children, cut at N nodes in
 * BFS order and at the depth. Recomputed with a queue and compared node by node. */
static void check_static(const pyagent_spec_tree *t, const pa_spec_config *cfg,
                         const drafter *d) {
    int32_t parent[MAX_NODES], token[MAX_NODES], layer[MAX_NODES], route[MAX_PATH];
    int32_t n = 0, n_layer = 1;
    layer[0] = PA_SPEC_ROOT;
    pa_draft_candidate cand[PA_SPEC_MAX_TOP_K];
    for (int depth = 1; depth <= cfg->depth && n < cfg->budget && n_layer > 0; depth++) {
        const int32_t first_new = n;
        for (int32_t i = 0; i < n_layer; i++) {
            int len = 0; /* the path of expected node layer[i] */
            for (int32_t u = layer[i]; u != PA_SPEC_ROOT; u = parent[u]) len++;
            int slot = len;
            for (int32_t u = layer[i]; u != PA_SPEC_ROOT; u = parent[u]) route[--slot] = token[u];
            const int c = propose(d, route, len, cfg->width, cand);
            for (int j = 0; j < c && n < cfg->budget; j++) {
                parent[n] = layer[i];
                token[n++] = cand[j].token;
            }
        }
        n_layer = n - first_new;
        for (int32_t i = 0; i < n_layer; i++) layer[i] = first_new + i;
    }
    assert_int_equal(pa_spec_tree_n(t), n);
    assert_memory_equal(pa_spec_tree_parents(t), parent, (size_t)n * sizeof *parent);
    assert_memory_equal(pa_spec_tree_tokens(t), token, (size_t)n * sizeof *token);
    /* never more calls than layers, always `width` children asked */
    assert_true(d->n_calls <= cfg->depth);
    for (int c = 0; c < d->n_calls; c++) assert_int_equal(d->k_of_call[c], cfg->width);
}

/* EAGLE-2 as its definition says, the slow way: every layer's `width` best proposals (by path
 * log-probability, then proposal order) are expanded into top_k children, for `depth` layers,
 * with no early stop; then the `budget` best of all proposals are kept. The built tree must
 * hold exactly those, in proposal order. */
typedef struct proposal_ref {
    int32_t parent; /* proposal index or -1 */
    int32_t token;
    float path;
} proposal_ref;

static const proposal_ref *sort_base;

static int ref_order(const void *pa, const void *pb) {
    const int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    if (sort_base[a].path != sort_base[b].path) return sort_base[a].path > sort_base[b].path ? -1 : 1;
    return (a > b) - (a < b);
}

static int int_order(const void *pa, const void *pb) {
    const int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return (a > b) - (a < b);
}

static void check_eagle2(const pyagent_spec_tree *t, const pa_spec_config *cfg,
                         const drafter *d) {
    enum { MAX_REF = 20000 };
    static proposal_ref props[MAX_REF];
    static int32_t ids[MAX_REF];
    int32_t route[MAX_PATH] = {0}, n = 0, lo = 0;
    pa_draft_candidate cand[PA_SPEC_MAX_TOP_K];
    const int k = cfg->top_k;
    int c = propose(d, route, 0, k, cand);
    for (int j = 0; j < c; j++) props[n++] = (proposal_ref){-1, cand[j].token, fminf(cand[j].logprob, 0)};
    sort_base = props;
    for (int layer = 2; layer <= cfg->depth; layer++) {
        const int32_t hi = n;
        int32_t n_layer = hi - lo;
        for (int32_t i = 0; i < n_layer; i++) ids[i] = lo + i;
        qsort(ids, (size_t)n_layer, sizeof *ids, ref_order);
        if (n_layer > cfg->width) n_layer = cfg->width;
        qsort(ids, (size_t)n_layer, sizeof *ids, int_order);
        for (int32_t f = 0; f < n_layer; f++) {
            const int32_t v = ids[f];
            int len = 0;
            for (int32_t u = v; u != -1; u = props[u].parent) len++;
            int i = len;
            for (int32_t u = v; u != -1; u = props[u].parent) route[--i] = props[u].token;
            c = propose(d, route, len, k, cand);
            for (int j = 0; j < c; j++) {
                assert_true(n < MAX_REF);
                props[n++] = (proposal_ref){v, cand[j].token, props[v].path + fminf(cand[j].logprob, 0)};
            }
        }
        lo = hi;
    }
    for (int32_t i = 0; i < n; i++) ids[i] = i;
    qsort(ids, (size_t)n, sizeof *ids, ref_order);
    const int32_t kept = n < cfg->budget ? n : cfg->budget;
    qsort(ids, (size_t)kept, sizeof *ids, int_order);

    assert_int_equal(pa_spec_tree_n(t), kept);
    static int32_t node_of[MAX_REF];
    for (int32_t i = 0; i < kept; i++) {
        const proposal_ref *p = &props[ids[i]];
        node_of[ids[i]] = i;
        assert_int_equal(pa_spec_tree_tokens(t)[i], p->token);
        assert_int_equal(pa_spec_tree_parents(t)[i], p->parent == -1 ? -1 : node_of[p->parent]);
        assert_true(pa_spec_tree_path_logprobs(t)[i] == p->path);
    }
    /* the drafter saw a work tree, at most `width` nodes a call, `depth` calls, top_k each */
    assert_true(d->n_calls <= cfg->depth);
    assert_true(d->max_nodes_per_call <= cfg->width);
    for (int i = 0; i < d->n_calls; i++) assert_int_equal(d->k_of_call[i], k);
    if (d->n_calls > 0) assert_ptr_not_equal(d->first_tree, t);
    assert_true(d->one_tree);
}

static void run_random_builds(int builder, int rounds, uint64_t seed) {
    uint64_t rng = seed;
    pyagent_spec_tree *big = new_tree(MAX_NODES);
    pa_err err;
    for (int round = 0; round < rounds; round++) {
        const pa_spec_config cfg = random_config(builder, &rng);
        /* a tree of exactly the budget, or a roomier one */
        pyagent_spec_tree *t = round % 2 ? big : new_tree(cfg.budget);
        drafter d = make_drafter(SHAPE_RANDOM, mix(rng));
        const pyagent_status st = build(&cfg, &d, t, &err);
        if (st) fprintf(stderr, "build: %s\n", err.msg);
        assert_int_equal(st, PYAGENT_OK);
        check_built_tree(t, &cfg, &d);
        if (builder == PA_SPEC_TALON) check_talon(t, &cfg, &d);
        if (builder == PA_SPEC_STATIC) check_static(t, &cfg, &d);
        if (builder == PA_SPEC_EAGLE2) check_eagle2(t, &cfg, &d);
        if (builder != PA_SPEC_EAGLE2) {
            assert_true(d.one_tree);
            if (d.n_calls > 0) assert_ptr_equal(d.first_tree, t);
        }
        if (t != big) pyagent_spec_tree_destroy(t);
    }
    pyagent_spec_tree_destroy(big);
}

static void static_trees_keep_their_invariants_and_shape(void **state) {
    (void)state;
    run_random_builds(PA_SPEC_STATIC, 300, 101);
}

static void eagle2_trees_keep_their_invariants_and_the_best_proposals(void **state) {
    (void)state;
    run_random_builds(PA_SPEC_EAGLE2, 300, 202);
}

static void talon_trees_keep_their_invariants_and_the_gate(void **state) {
    (void)state;
    run_random_builds(PA_SPEC_TALON, 400, 303);
}

/* ------------------------------------------------------------------------------------------ */
/* Builders: shapes                                                                             */

/* A drafter that is sure of its best token: after the K-wide first layer, one node per layer,
 * so N nodes reach depth N - K + 1. */
static void talon_grows_a_chain_from_a_peaked_drafter(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(60);
    pa_spec_config cfg;
    pa_spec_config_default(&cfg, PA_SPEC_TALON);
    cfg.depth = 64;
    pa_err err;
    drafter d = make_drafter(SHAPE_PEAKED, 9);
    assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
    assert_int_equal(pa_spec_tree_n(t), 60);
    assert_int_equal(pa_spec_tree_max_depth(t), 60 - 10 + 1);
    assert_int_equal(count_at_depth(t, 1), 10);
    for (int depth = 2; depth <= 51; depth++) assert_int_equal(count_at_depth(t, depth), 1);
    /* the chain follows the confident token: node 0, then each layer's node under the last */
    for (int32_t i = 10; i < 60; i++)
        assert_int_equal(pa_spec_tree_parents(t)[i], i == 10 ? 0 : i - 1);
    check_built_tree(t, &cfg, &d);
    check_talon(t, &cfg, &d);
    /* the default depth cap stops the chain at 8 */
    pa_spec_config_default(&cfg, PA_SPEC_TALON);
    d = make_drafter(SHAPE_PEAKED, 9);
    assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
    assert_int_equal(pa_spec_tree_max_depth(t), 8);
    assert_int_equal(pa_spec_tree_n(t), 10 + 7);
    pyagent_spec_tree_destroy(t);
}

/* spec_min_p: with a floor, every builder keeps only nodes whose path probability reaches it,
 * and the trees keep every structural invariant. */
static void min_p_keeps_only_paths_above_the_floor(void **state) {
    (void)state;
    static const float floors[] = {0.01f, 0.1f, 0.3f, 0.9f};
    static const int builders[] = {PA_SPEC_STATIC, PA_SPEC_EAGLE2, PA_SPEC_TALON};
    uint64_t rng = 404;
    pyagent_spec_tree *t = new_tree(MAX_NODES);
    pa_err err;
    int n_nodes = 0;
    for (int round = 0; round < 300; round++) {
        pa_spec_config cfg = random_config(builders[round % 3], &rng);
        cfg.min_p = floors[round % 4];
        drafter d = make_drafter(SHAPE_RANDOM, mix(rng));
        assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
        check_built_tree(t, &cfg, &d);
        for (int32_t i = 0; i < pa_spec_tree_n(t); i++)
            assert_true(pa_spec_tree_path_logprobs(t)[i] >= logf(cfg.min_p));
        n_nodes += pa_spec_tree_n(t);
    }
    assert_true(n_nodes > 300); /* the floors left trees to check */
    pyagent_spec_tree_destroy(t);
}

/* A sure drafter (0.999 per token) drafting a chain (one child per node) under a floor of 0.995:
 * the chain ends after 5 tokens (0.999^5 = 0.99501, 0.999^6 = 0.99401), for every builder;
 * without the floor it runs to the depth cap. */
static void min_p_ends_a_chain_at_its_first_unlikely_token(void **state) {
    (void)state;
    static const int builders[] = {PA_SPEC_STATIC, PA_SPEC_EAGLE2, PA_SPEC_TALON};
    pyagent_spec_tree *t = new_tree(60);
    pa_err err;
    for (int b = 0; b < 3; b++)
        for (int floor = 0; floor < 2; floor++) {
            pa_spec_config cfg;
            pa_spec_config_default(&cfg, builders[b]);
            cfg.top_k = cfg.width = 1;
            cfg.depth = 20;
            cfg.min_p = floor ? 0.995f : 0.0f;
            drafter d = make_drafter(SHAPE_PEAKED, 21);
            assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
            assert_int_equal(pa_spec_tree_n(t), floor ? 5 : 20);
            assert_int_equal(pa_spec_tree_max_depth(t), floor ? 5 : 20);
        }
    /* a floor above the first token's probability: no draft at all */
    pa_spec_config cfg;
    pa_spec_config_default(&cfg, PA_SPEC_TALON);
    cfg.min_p = 0.9995f;
    drafter d = make_drafter(SHAPE_PEAKED, 21);
    assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
    assert_int_equal(pa_spec_tree_n(t), 0);
    pyagent_spec_tree_destroy(t);
}

/* A drafter that cannot tell its tokens apart: every child passes the gate, so the budget is
 * spent on the second layer. */
static void talon_grows_a_wide_shallow_tree_from_a_flat_drafter(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(60);
    pa_spec_config cfg;
    pa_spec_config_default(&cfg, PA_SPEC_TALON);
    pa_err err;
    drafter d = make_drafter(SHAPE_FLAT, 4);
    assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
    assert_int_equal(pa_spec_tree_n(t), 60);
    assert_true(pa_spec_tree_max_depth(t) <= 2);
    assert_int_equal(count_at_depth(t, 1), 10);
    assert_int_equal(count_at_depth(t, 2), 50);
    assert_int_equal(d.n_calls, 2);
    check_built_tree(t, &cfg, &d);
    check_talon(t, &cfg, &d);
    pyagent_spec_tree_destroy(t);
}

static void talon_layer_one_is_min_of_k_and_the_budget(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(60);
    pa_spec_config cfg;
    pa_spec_config_default(&cfg, PA_SPEC_TALON);
    pa_err err;
    drafter d = make_drafter(SHAPE_FLAT, 5);
    cfg.budget = 6; /* N < K */
    assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
    assert_int_equal(pa_spec_tree_n(t), 6);
    assert_int_equal(count_at_depth(t, 1), 6);
    assert_int_equal(d.n_calls, 1); /* nothing left to spend: no second call */
    cfg.budget = 60, cfg.top_k = 4, cfg.mu = 1.0f; /* mu = 1: only the best of each pool */
    d = make_drafter(SHAPE_PEAKED, 5);
    assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
    assert_int_equal(count_at_depth(t, 1), 4);
    for (int depth = 2; depth <= cfg.depth; depth++) assert_int_equal(count_at_depth(t, depth), 1);
    pyagent_spec_tree_destroy(t);
}

static void static_trees_have_their_width_and_depth(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(128);
    pa_spec_config cfg;
    pa_spec_config_default(&cfg, PA_SPEC_STATIC);
    cfg.budget = 128, cfg.width = 2, cfg.depth = 4;
    pa_err err;
    drafter d = make_drafter(SHAPE_FLAT, 6);
    assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
    assert_int_equal(pa_spec_tree_n(t), 2 + 4 + 8 + 16);
    for (int depth = 1; depth <= 4; depth++) assert_int_equal(count_at_depth(t, depth), 1 << depth);
    for (int32_t i = 0; i < pa_spec_tree_n(t); i++)
        assert_int_equal(pa_spec_tree_n_children(t, i), pa_spec_tree_depths(t)[i] < 4 ? 2 : 0);
    assert_int_equal(d.n_calls, 4);
    /* a budget that cuts the third layer after three nodes */
    cfg.budget = 9;
    d = make_drafter(SHAPE_FLAT, 6);
    assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
    assert_int_equal(pa_spec_tree_n(t), 9);
    assert_int_equal(count_at_depth(t, 3), 3);
    check_built_tree(t, &cfg, &d);
    pyagent_spec_tree_destroy(t);
}

static void eagle2_expands_width_nodes_per_layer_for_depth_layers(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(60);
    pa_spec_config cfg;
    pa_spec_config_default(&cfg, PA_SPEC_EAGLE2);
    cfg.width = 3, cfg.top_k = 4, cfg.depth = 5;
    pa_err err;
    drafter d = make_drafter(SHAPE_FLAT, 8);
    assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
    /* 4 at layer 1, then 3 nodes x 4 children for 4 layers: 52 proposals, all kept */
    assert_int_equal(d.n_calls, 5);
    assert_int_equal(d.max_nodes_per_call, 3);
    assert_int_equal(pa_spec_tree_n(t), 4 + 4 * 12);
    assert_int_equal(pa_spec_tree_max_depth(t), 5);
    check_eagle2(t, &cfg, &d);
    check_built_tree(t, &cfg, &d);
    /* a budget below the proposals keeps the best ones; a peaked drafter puts them deep */
    cfg.budget = 12;
    d = make_drafter(SHAPE_PEAKED, 8);
    assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
    assert_int_equal(pa_spec_tree_n(t), 12);
    check_eagle2(t, &cfg, &d);
    check_built_tree(t, &cfg, &d);
    assert_int_equal(pa_spec_tree_max_depth(t), 5);
    pyagent_spec_tree_destroy(t);
}

/* Once `budget` proposals rank before everything a layer could add, EAGLE-2 stops asking the
 * drafter, and the tree is still the one of the full definition (check_eagle2). */
static void eagle2_stops_when_deeper_layers_cannot_be_kept(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(60);
    pa_spec_config cfg;
    pa_spec_config_default(&cfg, PA_SPEC_EAGLE2);
    cfg.budget = 10, cfg.top_k = 10, cfg.width = 10, cfg.depth = 8;
    pa_err err;
    drafter d = make_drafter(SHAPE_FLAT, 3);
    assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
    /* the root's 10 outrank all their children: the second layer shows that nothing deeper
     * can be kept, and there is no third call */
    assert_int_equal(d.n_calls, 2);
    assert_int_equal(pa_spec_tree_n(t), 10);
    check_eagle2(t, &cfg, &d);
    pyagent_spec_tree_destroy(t);
}

/* The stop is exact: a peaked drafter's chain A, A1, A11, ... ranks first, so with N = 3 the
 * third chain node is the last kept; the third call (expanding A1) is needed for it, a fourth
 * (expanding it) is not. */
static void eagle2_stops_exactly_where_the_budget_is_decided(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(60);
    pa_spec_config cfg;
    pa_spec_config_default(&cfg, PA_SPEC_EAGLE2);
    cfg.budget = 3, cfg.top_k = 2, cfg.width = 1, cfg.depth = 8;
    pa_err err;
    drafter d = make_drafter(SHAPE_PEAKED, 21);
    assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
    assert_int_equal(d.n_calls, 3);
    assert_int_equal(pa_spec_tree_n(t), 3);
    assert_int_equal(pa_spec_tree_max_depth(t), 3);
    check_eagle2(t, &cfg, &d);
    pyagent_spec_tree_destroy(t);
}

static void building_again_gives_the_same_tree(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(60), *u = new_tree(60);
    const int builders[] = {PA_SPEC_STATIC, PA_SPEC_EAGLE2, PA_SPEC_TALON};
    pa_err err;
    for (int b = 0; b < 3; b++) {
        pa_spec_config cfg;
        pa_spec_config_default(&cfg, builders[b]);
        drafter d1 = make_drafter(SHAPE_RANDOM, 77), d2 = make_drafter(SHAPE_RANDOM, 77);
        assert_int_equal(build(&cfg, &d1, t, &err), PYAGENT_OK);
        assert_int_equal(build(&cfg, &d2, u, &err), PYAGENT_OK);
        d2 = make_drafter(SHAPE_RANDOM, 77);
        assert_int_equal(build(&cfg, &d2, u, &err), PYAGENT_OK); /* reused scratch */
        const int32_t n = pa_spec_tree_n(t);
        assert_int_equal(pa_spec_tree_n(u), n);
        assert_memory_equal(pa_spec_tree_tokens(t), pa_spec_tree_tokens(u), (size_t)n * 4);
        assert_memory_equal(pa_spec_tree_parents(t), pa_spec_tree_parents(u), (size_t)n * 4);
    }
    pyagent_spec_tree_destroy(t);
    pyagent_spec_tree_destroy(u);
}

/* ------------------------------------------------------------------------------------------ */
/* Builders: what the drafter returns                                                           */

static void a_failing_drafter_aborts_the_build_with_its_status(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(60);
    const int builders[] = {PA_SPEC_STATIC, PA_SPEC_EAGLE2, PA_SPEC_TALON};
    pa_err err;
    for (int b = 0; b < 3; b++) {
        pa_spec_config cfg;
        pa_spec_config_default(&cfg, builders[b]);
        drafter d = make_drafter(SHAPE_FLAT, 5);
        d.fail_on_call = 2;
        d.fail_status = PYAGENT_ERR_KV_FULL;
        assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_ERR_KV_FULL);
        assert_int_equal(err.status, PYAGENT_ERR_KV_FULL);
        assert_non_null(strstr(err.msg, "layer 2"));
        assert_int_equal(pa_spec_tree_n(t), 0); /* nothing half-built to verify */
    }
    pyagent_spec_tree_destroy(t);
}

static void malformed_drafter_output_is_an_internal_error(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(60);
    const int faults[] = {FAULT_COUNT_OVER_K, FAULT_NAN, FAULT_NEGATIVE_TOKEN};
    const int builders[] = {PA_SPEC_STATIC, PA_SPEC_EAGLE2, PA_SPEC_TALON};
    pa_err err;
    for (int f = 0; f < 3; f++)
        for (int b = 0; b < 3; b++) {
            pa_spec_config cfg;
            pa_spec_config_default(&cfg, builders[b]);
            drafter d = make_drafter(SHAPE_FLAT, 5);
            d.fault = faults[f];
            assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_ERR_INTERNAL);
            assert_non_null(strstr(err.msg, "drafter"));
            assert_int_equal(pa_spec_tree_n(t), 0);
        }
    pyagent_spec_tree_destroy(t);
}

static void positive_logprobs_count_as_zero_and_repeated_tokens_once(void **state) {
    (void)state;
    pyagent_spec_tree *t = new_tree(60);
    const int builders[] = {PA_SPEC_STATIC, PA_SPEC_EAGLE2, PA_SPEC_TALON};
    pa_err err;
    for (int b = 0; b < 3; b++) {
        pa_spec_config cfg;
        pa_spec_config_default(&cfg, builders[b]);
        drafter d = make_drafter(SHAPE_FLAT, 5);
        d.fault = FAULT_POSITIVE_LOGPROB;
        assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
        assert_true(pa_spec_tree_draft_logprobs(t)[0] == 0.0f);
        assert_true(pa_spec_tree_path_logprobs(t)[0] == 0.0f);

        d = make_drafter(SHAPE_PEAKED, 5);
        d.fault = FAULT_REPEATED_TOKEN;
        assert_int_equal(build(&cfg, &d, t, &err), PYAGENT_OK);
        /* the root's first token once, with its first (best) log-probability */
        const int32_t first = pa_spec_tree_tokens(t)[0];
        int copies = 0;
        for (int32_t c = pa_spec_tree_first_child(t, PA_SPEC_ROOT); c != -1;
             c = pa_spec_tree_next_sibling(t, c))
            copies += pa_spec_tree_tokens(t)[c] == first;
        assert_int_equal(copies, 1);
        assert_true(pa_spec_tree_draft_logprobs(t)[0] == logf(0.999f));
    }
    pyagent_spec_tree_destroy(t);
}

/* The index a plain scan picks: the first strictly largest value (a NaN never replaces it). */
static int32_t scan_argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Greedy sampling (temperature 0) picks what a plain scan does for vocabularies of any length,
 * with ties (the first wins), NaNs anywhere but first (ignored), -inf and equal zeros of either
 * sign; with a repeat penalty too (the penalized copy). */
static void greedy_sampling_picks_the_first_largest_logit(void **state) {
    (void)state;
    pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
    assert_int_equal(pyagent_params_set_f64(p, "temperature", 0), PYAGENT_OK);
    uint64_t rng = 99; /* a counter through mix(): the test's random numbers */
    static float x[1000];
    for (int penalty = 0; penalty <= 1; penalty++) {
        assert_int_equal(pyagent_params_set_f64(p, "repeat_penalty", penalty ? 1.3 : 1.0),
                         PYAGENT_OK);
        for (int trial = 0; trial < 2000; trial++) {
            const int n = 1 + (int)(mix(rng++) % 1000);
            for (int i = 0; i < n; i++) /* few distinct values: ties are common */
                x[i] = (float)((int)(mix(rng++) % 7) - 3);
            if (trial % 3 == 0) x[mix(rng++) % (uint64_t)n] = NAN;
            if (trial % 5 == 0) x[mix(rng++) % (uint64_t)n] = -INFINITY;
            if (trial % 7 == 0) x[mix(rng++) % (uint64_t)n] = -0.0f;
            if (trial % 11 == 0) x[0] = NAN;
            pa_sampler s;
            pa_err err = {0};
            assert_int_equal(pa_sampler_init(&s, n, &err), PYAGENT_OK);
            pa_sampler_configure(&s, p, 1);
            const int32_t history[2] = {0, n - 1};
            float penalized[1000];
            memcpy(penalized, x, (size_t)n * sizeof *x);
            if (penalty) /* what the repeat penalty makes of the two seen tokens */
                for (int h = 0; h < (n > 1 ? 2 : 1); h++) {
                    float *l = &penalized[history[h]];
                    *l = *l <= 0 ? *l * 1.3f : *l / 1.3f;
                }
            assert_int_equal(pa_sampler_sample(&s, x, history, n > 1 ? 2 : 1),
                             scan_argmax(penalized, n));
            pa_sampler_free(&s);
        }
    }
    pyagent_params_destroy(p);
}

/* pa_top_k's order: larger logits first, equal ones by id, NaN after every number */
static int by_rank(const void *pa, const void *pb) {
    const pa_token_logit *a = pa, *b = pb;
    if (isnan(a->logit) != isnan(b->logit)) return isnan(a->logit) ? 1 : -1;
    if (!isnan(a->logit) && a->logit != b->logit) return a->logit > b->logit ? -1 : 1;
    return a->id - b->id;
}

/* pa_top_k leaves the first k of the whole row sorted (qsort on its order), for rows with
 * ties, NaNs (first too), -inf, zeros of either sign, k from 1 to past the row's length. */
static void top_k_is_the_sorted_rows_first_k(void **state) {
    (void)state;
    static float x[32000];
    static pa_token_logit all[32000], got[80];
    const int ks[] = {1, 2, 3, 40, 64, 70};
    uint64_t rng = 5;
    for (int trial = 0; trial < 600; trial++) {
        const int n = trial % 50 == 0 ? 32000 : 1 + (int)(mix(rng++) % 1000);
        const int distinct = trial % 2 ? 7 : 100000;
        for (int i = 0; i < n; i++)
            x[i] = (float)((int)(mix(rng++) % (uint64_t)distinct) - distinct / 2) / 8;
        if (trial % 3 == 0) x[mix(rng++) % (uint64_t)n] = NAN;
        if (trial % 5 == 0) x[mix(rng++) % (uint64_t)n] = -INFINITY;
        if (trial % 7 == 0) x[mix(rng++) % (uint64_t)n] = -0.0f;
        if (trial % 11 == 0) x[0] = NAN;
        if (trial % 13 == 0) for (int i = 0; i < n; i++) x[i] = NAN;
        for (int i = 0; i < n; i++) all[i] = (pa_token_logit){i, x[i]};
        qsort(all, (size_t)n, sizeof *all, by_rank);
        for (size_t j = 0; j < sizeof ks / sizeof *ks; j++) {
            const int k = ks[j], want = k < n ? k : n;
            assert_int_equal(pa_top_k(x, n, k, got), want);
            for (int i = 0; i < want; i++)
                if (got[i].id != all[i].id || memcmp(&got[i].logit, &all[i].logit, 4) != 0)
                    fail_msg("n %d k %d: candidate %d is %d, the sorted row's %d", n, k, i,
                             got[i].id, all[i].id);
        }
    }
}

/* A sampler given only the row's best candidates (as many as it asks for) draws the tokens it
 * draws from the whole row, seed for seed: greedy, the defaults (top_k 40, top_p, min_p),
 * top_k 64 and a small one with top_p off; it asks for the whole row with penalties, top_k 0
 * or above the limit. */
static void sampling_from_the_best_candidates_draws_what_the_whole_row_draws(void **state) {
    (void)state;
    static const struct { double temperature; int top_k; double top_p, min_p; } configs[] = {
        {0, 40, 0.95, 0.05}, {0.8, 40, 0.95, 0.05}, {1.5, 64, 0.9, 0}, {0.7, 5, 1.0, 0}};
    const int n = 2000;
    static float x[2000];
    pa_token_logit top[64];
    uint64_t rng = 11;
    for (size_t c = 0; c < sizeof configs / sizeof *configs; c++) {
        pyagent_params *p = pyagent_params_create(PYAGENT_PARAMS_SAMPLER);
        assert_int_equal(pyagent_params_set_f64(p, "temperature", configs[c].temperature), 0);
        assert_int_equal(pyagent_params_set_i64(p, "top_k", configs[c].top_k), 0);
        assert_int_equal(pyagent_params_set_f64(p, "top_p", configs[c].top_p), 0);
        assert_int_equal(pyagent_params_set_f64(p, "min_p", configs[c].min_p), 0);
        pa_sampler whole, best;
        pa_err err = {0};
        assert_int_equal(pa_sampler_init(&whole, n, &err), PYAGENT_OK);
        assert_int_equal(pa_sampler_init(&best, n, &err), PYAGENT_OK);
        pa_sampler_configure(&whole, p, 42);
        pa_sampler_configure(&best, p, 42);
        const int needed = pa_sampler_candidates_needed(&best, 64);
        assert_int_equal(needed, configs[c].temperature > 0 ? configs[c].top_k : 1);
        for (int draw = 0; draw < 300; draw++) {
            for (int i = 0; i < n; i++) /* a peaked row, with ties */
                x[i] = (float)((int)(mix(rng++) % 64)) / 4 - (i % 97 == 0 ? 0 : 8);
            pa_top_k(x, n, needed, top);
            const int32_t id = pa_sampler_sample(&whole, x, NULL, 0);
            if (pa_sampler_sample_top(&best, top) != id)
                fail_msg("config %zu, draw %d: the candidates drew otherwise", c, draw);
        }
        assert_int_equal(pyagent_params_set_i64(p, "top_k", 65), 0);
        pa_sampler_configure(&best, p, 1);
        assert_int_equal(pa_sampler_candidates_needed(&best, 64),
                         configs[c].temperature > 0 ? 0 : 1);
        assert_int_equal(pyagent_params_set_i64(p, "top_k", 0), 0);
        assert_int_equal(pyagent_params_set_f64(p, "repeat_penalty", 1.1), 0);
        pa_sampler_configure(&best, p, 1);
        assert_int_equal(pa_sampler_candidates_needed(&best, 64), 0);
        pa_sampler_free(&whole);
        pa_sampler_free(&best);
        pyagent_params_destroy(p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_rejects_bad_capacities_and_null),
        cmocka_unit_test(add_records_token_parent_depth_and_path_logprob),
        cmocka_unit_test(add_rejects_a_missing_parent_and_leaves_the_tree_unchanged),
        cmocka_unit_test(add_fails_with_out_of_range_when_the_tree_is_full),
        cmocka_unit_test(add_rejects_bad_tokens_logprobs_and_repeated_siblings),
        cmocka_unit_test(null_handles_are_rejected_not_dereferenced),
        cmocka_unit_test(bfs_orders_by_depth_then_insertion),
        cmocka_unit_test(nodes_added_layer_by_layer_are_already_in_bfs_order),
        cmocka_unit_test(mask_is_the_ancestor_relation_in_bfs_order),
        cmocka_unit_test(positions_are_the_root_position_plus_depth),
        cmocka_unit_test(paths_list_every_leaf_once_from_the_root_in_depth_first_order),
        cmocka_unit_test(clear_empties_the_tree_for_reuse),
        cmocka_unit_test(readers_match_their_definitions_on_random_trees),
        cmocka_unit_test(config_defaults_are_the_papers),
        cmocka_unit_test(configurations_out_of_bounds_are_refused_and_leave_the_tree_empty),
        cmocka_unit_test(static_trees_keep_their_invariants_and_shape),
        cmocka_unit_test(eagle2_trees_keep_their_invariants_and_the_best_proposals),
        cmocka_unit_test(talon_trees_keep_their_invariants_and_the_gate),
        cmocka_unit_test(talon_grows_a_chain_from_a_peaked_drafter),
        cmocka_unit_test(min_p_keeps_only_paths_above_the_floor),
        cmocka_unit_test(min_p_ends_a_chain_at_its_first_unlikely_token),
        cmocka_unit_test(talon_grows_a_wide_shallow_tree_from_a_flat_drafter),
        cmocka_unit_test(talon_layer_one_is_min_of_k_and_the_budget),
        cmocka_unit_test(static_trees_have_their_width_and_depth),
        cmocka_unit_test(eagle2_expands_width_nodes_per_layer_for_depth_layers),
        cmocka_unit_test(eagle2_stops_when_deeper_layers_cannot_be_kept),
        cmocka_unit_test(eagle2_stops_exactly_where_the_budget_is_decided),
        cmocka_unit_test(building_again_gives_the_same_tree),
        cmocka_unit_test(a_failing_drafter_aborts_the_build_with_its_status),
        cmocka_unit_test(malformed_drafter_output_is_an_internal_error),
        cmocka_unit_test(positive_logprobs_count_as_zero_and_repeated_tokens_once),
        cmocka_unit_test(greedy_sampling_picks_the_first_largest_logit),
        cmocka_unit_test(top_k_is_the_sorted_rows_first_k),
        cmocka_unit_test(sampling_from_the_best_candidates_draws_what_the_whole_row_draws),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
