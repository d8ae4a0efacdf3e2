/*
 * The speculative token tree (public handle pyagent_spec_tree, include/pyagent/spec.h), and
 * what the library's builders and verifier read of it directly.
 *
 * Layout. Nodes live in parallel arrays indexed by insertion order (token, parent, depth,
 * draft and path log-probabilities). Since a parent is always added before its children,
 * insertion order is a topological order: walking the arrays forward visits every parent
 * before its children, which is all the mask and the paths need.
 *
 * Children. Each node (and the root) keeps its children as a singly linked list in insertion
 * order (first_child / last_child / next_sibling), so adding is O(1) and finding the child with
 * a given token (the duplicate check, greedy verification) is O(children).
 *
 * BFS positions without sorting. The BFS position of a node is
 *     depth_start[depth] + rank_in_depth
 * where rank_in_depth is how many nodes of the same depth were added before it (fixed when it
 * is added) and depth_start[d] is how many nodes have a depth below d. Adding a node of depth
 * d moves depth_start[d'] up by one for every deeper d' (O(1) when nodes are added layer by
 * layer, the builders' case; O(max depth) otherwise). So BFS order, positions and the mask are
 * computed straight into the caller's buffers, with no scratch and no cached state: reading
 * a tree never writes it (except the last-error slot of a failing public call).
 *
 * Leaves. n_leaves and leaf_depth_sum (the length of all root-to-leaf paths together) are kept
 * as nodes are added, so the two-call pattern of pyagent_spec_tree_paths answers in O(1).
 *
 * Builder support. A builder may need memory per build (candidate pools) and, for EAGLE-2, a
 * second tree that holds only the nodes it expands; the tree owns both, grown on first use and
 * reused, so building in steady state does not allocate. expanded_as[i] records under which
 * node index the drafter saw node i (see builders.h), -1 if it never expanded it.
 */
#ifndef PA_SPEC_TREE_H
#define PA_SPEC_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pyagent/pyagent.h>

#include "../core/error.h"

#define PA_SPEC_ROOT (-1) /* the parent of depth-1 nodes: the last token of the sequence */

/* Creates / destroys without going through the public argument checks. */
pyagent_status pa_spec_tree_create(int32_t max_nodes, pyagent_spec_tree **out, pa_err *err);
void pa_spec_tree_destroy(pyagent_spec_tree *tree);

/* Removes every node (and every expanded_as mark). */
void pa_spec_tree_reset(pyagent_spec_tree *tree);

/* pyagent_spec_tree_add with the error reported in `err` instead of the tree's last error. */
pyagent_status pa_spec_tree_push(pyagent_spec_tree *tree, int32_t parent, int32_t token,
                                 float draft_logprob, int32_t *node, pa_err *err);

/* Shape. */
int32_t pa_spec_tree_n(const pyagent_spec_tree *tree);
int32_t pa_spec_tree_capacity(const pyagent_spec_tree *tree);
int32_t pa_spec_tree_max_depth(const pyagent_spec_tree *tree); /* 0 when empty */
/* True when insertion order is BFS order (depths never went down as nodes were added), so a
 * node's index is its row in the verification batch. */
bool pa_spec_tree_in_bfs_order(const pyagent_spec_tree *tree);

/* Node arrays in insertion order, pa_spec_tree_n entries each; valid until the next change. */
const int32_t *pa_spec_tree_tokens(const pyagent_spec_tree *tree);
const int32_t *pa_spec_tree_parents(const pyagent_spec_tree *tree); /* PA_SPEC_ROOT or index */
const int32_t *pa_spec_tree_depths(const pyagent_spec_tree *tree);  /* 1 below the root */
const float *pa_spec_tree_draft_logprobs(const pyagent_spec_tree *tree);
const float *pa_spec_tree_path_logprobs(const pyagent_spec_tree *tree);
const int32_t *pa_spec_tree_expanded_as(const pyagent_spec_tree *tree);

/* Children of `node` (PA_SPEC_ROOT for the root) in insertion order: first_child, then
 * next_sibling until -1. */
int32_t pa_spec_tree_first_child(const pyagent_spec_tree *tree, int32_t node);
int32_t pa_spec_tree_next_sibling(const pyagent_spec_tree *tree, int32_t node);
int32_t pa_spec_tree_n_children(const pyagent_spec_tree *tree, int32_t node);
/* The child of `node` (or of the root) whose token is `token`, or -1. */
int32_t pa_spec_tree_child_with_token(const pyagent_spec_tree *tree, int32_t node,
                                      int32_t token);

/* BFS position of `node` (its row in the verification batch). */
int32_t pa_spec_tree_bfs_position(const pyagent_spec_tree *tree, int32_t node);

/* The outputs of the public readers, without argument checks; the buffers hold n, n, n * n
 * entries, and for the paths leaf_depth_sum and n_leaves + 1. */
void pa_spec_tree_fill_bfs(const pyagent_spec_tree *tree, int32_t *order);
void pa_spec_tree_fill_positions(const pyagent_spec_tree *tree, int32_t root_position,
                                 int32_t *positions);
void pa_spec_tree_fill_mask(const pyagent_spec_tree *tree, uint8_t *mask);
int32_t pa_spec_tree_n_leaves(const pyagent_spec_tree *tree);
int64_t pa_spec_tree_leaf_depth_sum(const pyagent_spec_tree *tree);
void pa_spec_tree_fill_paths(const pyagent_spec_tree *tree, int32_t *nodes, int32_t *offsets);

/* Builder support (see the file comment). */
void pa_spec_tree_set_expanded_as(pyagent_spec_tree *tree, int32_t node, int32_t as);
/* At least `bytes` bytes owned by the tree, aligned for any type; contents undefined. NULL
 * (with err) if memory ran out. */
void *pa_spec_tree_scratch(pyagent_spec_tree *tree, size_t bytes, pa_err *err);
/* An empty work tree owned by `tree` with room for `max_nodes` nodes, or NULL (with err). */
pyagent_spec_tree *pa_spec_tree_work_tree(pyagent_spec_tree *tree, int32_t max_nodes,
                                          pa_err *err);

#endif
