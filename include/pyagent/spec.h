/*
 * libpyagent — speculative decoding: the token tree.
 *
 * A speculative step guesses several next tokens at once and lets the target model check them
 * all in one forward pass. The guesses form a tree rooted at the last token of the sequence
 * (the root, which is not a node of the tree): each node is a drafted token that would follow
 * the path of tokens from the root down to it. Siblings carry distinct tokens, so a path of
 * tokens names at most one node (the tree is a trie).
 *
 * Nodes are numbered 0, 1, 2, ... in the order they were added, and a node's parent is added
 * before it. Each node keeps
 *   token          the drafted token id
 *   parent         the node it follows, or -1 for the root
 *   depth          1 for a child of the root, parent's depth + 1 below it; so the node's token
 *                  would sit at sequence position root_position + depth
 *   draft_logprob  log q(token | path to the parent), the drafter's log-probability
 *   path_logprob   the sum of draft_logprob from the root down to the node: log of the
 *                  drafter's probability of the whole path (never increases down a path)
 *
 * The target checks the tree as one flat batch in breadth-first order (BFS: by depth, nodes of
 * equal depth in the order they were added). For that batch the tree gives the BFS order, the
 * positions, and the attention mask (a node sees the committed sequence, its ancestors and
 * itself). After the forward pass, the root-to-leaf paths are the candidate continuations:
 * the longest accepted prefix of any path is committed.
 *
 * A host that brings its own drafter and verifies with its own model:
 *
 *     pyagent_spec_tree *tree = NULL;
 *     if (pyagent_spec_tree_create(64, &tree) != PYAGENT_OK) return 1;
 *     int32_t a, b;
 *     pyagent_spec_tree_add(tree, -1, 450, -0.1f, &a);   // "The"   after the root
 *     pyagent_spec_tree_add(tree, -1, 319, -2.5f, &b);   // "A"     after the root
 *     pyagent_spec_tree_add(tree, a, 4799, -0.3f, NULL); // "The cat"
 *     size_t n = 0, n_mask = 0;
 *     int32_t order[64], positions[64];
 *     uint8_t mask[64 * 64];
 *     pyagent_spec_tree_bfs(tree, order, 64, &n);        // order[i] = node at batch row i
 *     pyagent_spec_tree_positions(tree, n_past - 1, positions, 64, &n);
 *     pyagent_spec_tree_mask(tree, mask, sizeof mask, &n_mask);
 *     ... one forward over the n tokens of `order`, rows masked by `mask` ...
 *     pyagent_spec_tree_destroy(tree);
 *
 * Ownership: the tree owns its nodes; every output goes to caller buffers (two-call pattern).
 * Threading: a tree is used by one thread at a time, reading calls included (a failing call
 * writes the tree's last error). Different trees may be used by different threads at once.
 * Include <pyagent/pyagent.h>, not this file.
 */
#ifndef PYAGENT_SPEC_H
#define PYAGENT_SPEC_H

#include "pyagent.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most nodes a tree may hold (its mask then takes 256 MiB). */
#define PYAGENT_SPEC_TREE_MAX_NODES 16384

typedef struct pyagent_spec_tree pyagent_spec_tree;

/* ---------------------------------------------------------------------------------------------
 * Life and building
 * ------------------------------------------------------------------------------------------- */

/* Creates an empty tree that holds up to `max_nodes` nodes, in [1, PYAGENT_SPEC_TREE_MAX_NODES]
 * (PYAGENT_ERR_OUT_OF_RANGE otherwise). All its memory is taken here; adding nodes never
 * allocates. On failure *tree is NULL (PYAGENT_ERR_INVALID_ARGUMENT if `tree` is NULL,
 * PYAGENT_ERR_OUT_OF_MEMORY). Destroy with pyagent_spec_tree_destroy. Thread-safe. */
PYAGENT_API pyagent_status pyagent_spec_tree_create(int32_t max_nodes, pyagent_spec_tree **tree);

/* Frees the tree. NULL is a no-op. */
PYAGENT_API void pyagent_spec_tree_destroy(pyagent_spec_tree *tree);

/* Removes every node, keeping the capacity, so the tree can hold the next step's drafts. */
PYAGENT_API pyagent_status pyagent_spec_tree_clear(pyagent_spec_tree *tree);

/* Adds a node with `token` after `parent` (-1 = the root, an existing node index otherwise)
 * whose drafter log-probability given the path to `parent` is `draft_logprob`; its
 * path_logprob is the parent's plus `draft_logprob`, its depth the parent's plus 1. *node (may
 * be NULL) gets its index, which is the number of nodes added before it. Fails, leaving the
 * tree as it was, with
 *   PYAGENT_ERR_OUT_OF_RANGE      `parent` is not -1 or an existing node; the tree already
 *                                 holds max_nodes nodes; `draft_logprob` is NaN or above 0
 *                                 (clamp a rounded log-softmax with fminf(x, 0.0f))
 *   PYAGENT_ERR_INVALID_TOKEN     `token` is negative (the tree does not know the vocabulary:
 *                                 whoever verifies checks ids against it)
 *   PYAGENT_ERR_INVALID_ARGUMENT  `parent` already has a child with `token`
 * -INFINITY is a valid draft_logprob (a token the drafter gave probability 0). */
PYAGENT_API pyagent_status pyagent_spec_tree_add(pyagent_spec_tree *tree, int32_t parent,
                                                 int32_t token, float draft_logprob,
                                                 int32_t *node);

/* ---------------------------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------------------------- */

/* The number of nodes (0 for NULL). */
PYAGENT_API int32_t pyagent_spec_tree_size(const pyagent_spec_tree *tree);

/* Reads node `node` (an index in [0, size), PYAGENT_ERR_OUT_OF_RANGE otherwise). Every output
 * pointer may be NULL; *parent is -1 for a child of the root. */
PYAGENT_API pyagent_status pyagent_spec_tree_node(const pyagent_spec_tree *tree, int32_t node,
                                                  int32_t *token, int32_t *parent,
                                                  int32_t *depth, float *draft_logprob,
                                                  float *path_logprob);

/* The node indices in breadth-first order: by depth, then in the order they were added.
 * Row i of the verification batch is node order[i]. Two-call pattern: *needed gets the number
 * of nodes; PYAGENT_ERR_BUFFER_TOO_SMALL (nothing written) if `capacity` is less. A tree whose
 * nodes were added layer by layer (as the library's builders do) has order[i] == i. */
PYAGENT_API pyagent_status pyagent_spec_tree_bfs(const pyagent_spec_tree *tree, int32_t *order,
                                                 size_t capacity, size_t *needed);

/* The sequence position of each node in BFS order: positions[i] = root_position + depth of
 * node order[i], where root_position is the position of the root (the last token of the
 * sequence, n_past - 1). Pass 0 to read the depths. Two-call pattern as for bfs.
 * PYAGENT_ERR_OUT_OF_RANGE if root_position is negative or a position would pass INT32_MAX. */
PYAGENT_API pyagent_status pyagent_spec_tree_positions(const pyagent_spec_tree *tree,
                                                       int32_t root_position,
                                                       int32_t *positions, size_t capacity,
                                                       size_t *needed);

/* The ancestor mask of the BFS batch: n x n bytes, row-major, n = size;
 * mask[i * n + j] = 1 if node order[j] is node order[i] or one of its ancestors, 0 otherwise.
 * (The committed sequence before the tree is visible to every row and is not in the mask.)
 * Since a parent comes before its children in BFS order, the mask is lower-triangular with a
 * unit diagonal. Two-call pattern: *needed gets n * n (bytes); PYAGENT_ERR_BUFFER_TOO_SMALL
 * (nothing written) if `capacity` is less. */
PYAGENT_API pyagent_status pyagent_spec_tree_mask(const pyagent_spec_tree *tree, uint8_t *mask,
                                                  size_t capacity, size_t *needed);

/* The root-to-leaf paths (EAGLE's retrieve_indices), one per leaf (a node without children),
 * as node indices in a flat array with offsets, compressed-row style:
 *   path p is nodes[offsets[p]] .. nodes[offsets[p + 1] - 1], from the child of the root down
 *   to the leaf, so its length is the leaf's depth and nodes[offsets[p] + k] has depth k + 1;
 *   offsets[0] = 0 and offsets[n_paths] = the length of `nodes`.
 * Paths come in depth-first order, children visited in the order they were added; so when
 * every node's children were added best first, path 0 follows the best child all the way down,
 * and paths sharing a prefix are next to each other. A node lies on as many paths as it has
 * leaves below it.
 * Two-call pattern on both arrays: *nodes_needed gets the total length of all paths (the sum
 * of the leaves' depths) and *offsets_needed the number of paths + 1 (1 for an empty tree, with
 * offsets[0] = 0); if either capacity is short, PYAGENT_ERR_BUFFER_TOO_SMALL and nothing is
 * written. Either array may be NULL when its capacity is 0. */
PYAGENT_API pyagent_status pyagent_spec_tree_paths(const pyagent_spec_tree *tree,
                                                   int32_t *nodes, size_t nodes_capacity,
                                                   size_t *nodes_needed, int32_t *offsets,
                                                   size_t offsets_capacity,
                                                   size_t *offsets_needed);

/* The message of the last failed call on this tree ("" if none). Never NULL, also for NULL.
 * Valid until the next call on the tree. */
PYAGENT_API const char *pyagent_spec_tree_last_error(const pyagent_spec_tree *tree);

#ifdef __cplusplus
}
#endif

#endif /* PYAGENT_SPEC_H */
