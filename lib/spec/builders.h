/*
 * Tree builders: how a speculative step decides which drafted tokens to verify.
 *
 * A builder grows a pyagent_spec_tree layer by layer (depth 1 = the children of the root, the
 * last token of the sequence), asking a drafter for the likely next tokens of the nodes it
 * chooses to expand, one call per layer, and spends a budget of N nodes (the tokens the target
 * verifies in one forward pass). The three policies (../shared/reference/papers.md §1, §6):
 *
 *   static   every node is expanded into its `width` best children, down to `depth`, until N
 *            nodes: a fixed shape, cut in BFS order when it does not fit.
 *   EAGLE-2  each layer expands the `width` nodes of the newest layer with the highest path
 *            probability into `top_k` children each, for `depth` layers; then keeps the N nodes
 *            of all that were proposed with the highest path probability. A child's path
 *            probability never exceeds its parent's and ties go to the older (shallower) node,
 *            so every kept node's parent is kept: the result is a tree.
 *   TALON    the root's `top_k` best children form layer 1 (a fixed width, so an overconfident
 *            drafter cannot collapse the tree onto one wrong branch); the pool of layer d >= 2
 *            is the `top_k` children of every node admitted to layer d - 1, and a pool node is
 *            admitted when its path probability is at least `mu` times the best in the pool
 *            (highest first when they would pass the budget). It stops when N nodes are in,
 *            nothing is admitted, or at `depth`. A confident drafter so grows a deep, narrow
 *            tree and an unsure one a shallow, wide one.
 *
 * All three take a floor, `min_p`: a proposed token whose path probability (the product of the
 * draft probabilities from the root down to it) is below it is dropped as the drafter returns
 * it, so drafting stops where the drafter is unsure (a chain ends at its first unlikely token;
 * 0 = no floor). Path probabilities only fall along a path, so what stays is a tree.
 *
 * In every built tree, node indices are BFS order (pa_spec_tree_in_bfs_order), a node's
 * children were added best first, and depth <= cfg->depth.
 *
 * The drafter. expand() gets the tree whose nodes it is asked about, and must only read it.
 * For static and TALON that is the tree being built. EAGLE-2 proposes more nodes than it
 * keeps, so its drafter sees a work tree (owned by the built tree) holding only the nodes it
 * expands; indices there differ from the built tree's. After any build,
 * pa_spec_tree_expanded_as(tree)[i] is the index by which expand() knew node i of the built
 * tree (i itself for static and TALON), or -1 if node i was never expanded; with it, a
 * verifier finds the draft distribution the drafter computed after node i.
 *
 * What expand() returns is taken as follows: a count outside [0, k], a negative token or a NaN
 * log-probability fails the build (PYAGENT_ERR_INTERNAL: a drafter bug); a log-probability
 * above 0 (rounding in a log-softmax) counts as 0; a token listed twice for one node keeps its
 * first (best) entry only.
 *
 * Building does not allocate once the tree's scratch memory has grown to the configuration's
 * needs (first build). The builder is as thread-safe as the tree: one thread at a time.
 */
#ifndef PA_SPEC_BUILDERS_H
#define PA_SPEC_BUILDERS_H

#include <stdint.h>

#include <pyagent/pyagent.h>

#include "../core/error.h"
#include "tree.h"

typedef struct pa_draft_candidate { int32_t token; float logprob; } pa_draft_candidate; /* log q */

/* Proposes, for each of n_nodes tree nodes (index -1 = the root), up to k next tokens, best
 * first, into out[i * k ..]; counts[i] = how many. One call per tree layer (a model drafter
 * runs one batched forward per call). Returns PYAGENT_OK or an error that aborts the build. */
typedef pyagent_status (*pa_draft_expand_fn)(void *ctx, const pyagent_spec_tree *tree,
    const int32_t *nodes, int n_nodes, int k, pa_draft_candidate *out, int *counts);

enum pa_spec_builder { PA_SPEC_STATIC, PA_SPEC_EAGLE2, PA_SPEC_TALON };

#define PA_SPEC_MAX_TOP_K 1024     /* top_k and static width, at most */
#define PA_SPEC_MAX_CANDIDATES (1 << 22) /* EAGLE-2: proposals kept for the final ranking */

typedef struct pa_spec_config {
    int builder;      /* pa_spec_builder */
    int budget;       /* N: most nodes (default 60), [1, the tree's max_nodes] */
    int top_k;        /* K: children proposed per expanded node, and TALON's root width
                         (default 10), [1, PA_SPEC_MAX_TOP_K]; unused by static */
    float mu;         /* TALON gate (default 0.03), [0, 1]; unused by the others */
    int depth;        /* static: depth; EAGLE-2: layers; all: depth cap (default 8),
                         [1, PYAGENT_SPEC_TREE_MAX_NODES] */
    int width;        /* static: children per node (default 2), [1, PA_SPEC_MAX_TOP_K];
                         EAGLE-2: nodes expanded per layer (default = top_k), [1, max nodes];
                         unused by TALON */
    float min_p;      /* floor on a node's path probability (default 0: none), [0, 1] */
} pa_spec_config;

/* The defaults of `builder` (a pa_spec_builder; other values get TALON's numbers with
 * `builder` kept, which pa_spec_build then refuses). */
void pa_spec_config_default(pa_spec_config *cfg, int builder);

/* Clears `tree` and fills it, layer by layer (so insertion order is breadth-first).
 * PYAGENT_ERR_OUT_OF_RANGE for a configuration outside the bounds above (or, for EAGLE-2,
 * (depth - 1) * width expanded nodes over PYAGENT_SPEC_TREE_MAX_NODES or more
 * than PA_SPEC_MAX_CANDIDATES proposals), PYAGENT_ERR_OUT_OF_MEMORY, the drafter's status when
 * expand() fails, PYAGENT_ERR_INTERNAL for a malformed expand() result; `err` says which. On
 * failure the tree is left empty. */
pyagent_status pa_spec_build(const pa_spec_config *cfg, pa_draft_expand_fn expand, void *ctx,
                             pyagent_spec_tree *tree, pa_err *err);

#endif
