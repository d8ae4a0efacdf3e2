/* The speculative token tree; see tree.h for the data structure and its invariants. */
#include "tree.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct pyagent_spec_tree {
    int32_t capacity;  /* max_nodes */
    int32_t n;         /* nodes added */
    int32_t max_depth; /* of the deepest node; 0 when empty */
    bool in_bfs_order; /* no node was added with a depth below its predecessor's */

    /* per node, [capacity] */
    int32_t *token;
    int32_t *parent;        /* PA_SPEC_ROOT or a smaller index */
    int32_t *depth;         /* parent's + 1; 1 below the root */
    float *draft_logprob;   /* log q(token | path to parent) */
    float *path_logprob;    /* parent's + draft_logprob */
    int32_t *first_child, *last_child, *next_sibling; /* -1 = none */
    int32_t *n_children;
    int32_t *rank_in_depth; /* nodes of the same depth added before this one */
    int32_t *expanded_as;   /* builders: the index the drafter knew it by, -1 = not expanded */

    /* [capacity + 2]: depth_start[d] = nodes of depth < d, valid for 1 <= d <= max_depth + 1
     * (so depth_start[1] = 0 and depth_start[max_depth + 1] = n) */
    int32_t *depth_start;

    int32_t root_first_child, root_last_child, root_n_children;
    int32_t n_leaves;       /* nodes without children */
    int64_t leaf_depth_sum; /* the summed length of all root-to-leaf paths */

    void *scratch; /* builders' memory, grown on demand */
    size_t scratch_bytes;
    pyagent_spec_tree *work; /* EAGLE-2's tree of expanded nodes, grown on demand */

    pa_err last_error;
};

/* ----------------------------------------------------------------------------------------- */
/* Life                                                                                        */

pyagent_status pa_spec_tree_create(int32_t max_nodes, pyagent_spec_tree **out, pa_err *err) {
    *out = NULL;
    if (max_nodes < 1 || max_nodes > PYAGENT_SPEC_TREE_MAX_NODES)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "spec tree: max_nodes %d is outside [1, %d]", (int)max_nodes,
                       PYAGENT_SPEC_TREE_MAX_NODES);
    pyagent_spec_tree *t = calloc(1, sizeof *t);
    if (!t) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "spec tree: out of memory");
    const size_t n = (size_t)max_nodes;
    t->capacity = max_nodes;
    t->token = malloc(n * sizeof *t->token);
    t->parent = malloc(n * sizeof *t->parent);
    t->depth = malloc(n * sizeof *t->depth);
    t->draft_logprob = malloc(n * sizeof *t->draft_logprob);
    t->path_logprob = malloc(n * sizeof *t->path_logprob);
    t->first_child = malloc(n * sizeof *t->first_child);
    t->last_child = malloc(n * sizeof *t->last_child);
    t->next_sibling = malloc(n * sizeof *t->next_sibling);
    t->n_children = malloc(n * sizeof *t->n_children);
    t->rank_in_depth = malloc(n * sizeof *t->rank_in_depth);
    t->expanded_as = malloc(n * sizeof *t->expanded_as);
    t->depth_start = malloc((n + 2) * sizeof *t->depth_start);
    if (!t->token || !t->parent || !t->depth || !t->draft_logprob || !t->path_logprob ||
        !t->first_child || !t->last_child || !t->next_sibling || !t->n_children ||
        !t->rank_in_depth || !t->expanded_as || !t->depth_start) {
        pa_spec_tree_destroy(t);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "spec tree: out of memory for %d nodes",
                       (int)max_nodes);
    }
    pa_spec_tree_reset(t);
    *out = t;
    return PYAGENT_OK;
}

void pa_spec_tree_destroy(pyagent_spec_tree *t) {
    if (!t) return;
    free(t->token);
    free(t->parent);
    free(t->depth);
    free(t->draft_logprob);
    free(t->path_logprob);
    free(t->first_child);
    free(t->last_child);
    free(t->next_sibling);
    free(t->n_children);
    free(t->rank_in_depth);
    free(t->expanded_as);
    free(t->depth_start);
    free(t->scratch);
    pa_spec_tree_destroy(t->work);
    free(t);
}

void pa_spec_tree_reset(pyagent_spec_tree *t) {
    t->n = 0;
    t->max_depth = 0;
    t->in_bfs_order = true;
    t->depth_start[1] = 0;
    t->root_first_child = t->root_last_child = -1;
    t->root_n_children = 0;
    t->n_leaves = 0;
    t->leaf_depth_sum = 0;
}

/* ----------------------------------------------------------------------------------------- */
/* Adding                                                                                      */

int32_t pa_spec_tree_child_with_token(const pyagent_spec_tree *t, int32_t node, int32_t token) {
    for (int32_t c = pa_spec_tree_first_child(t, node); c != -1; c = t->next_sibling[c])
        if (t->token[c] == token) return c;
    return -1;
}

pyagent_status pa_spec_tree_push(pyagent_spec_tree *t, int32_t parent, int32_t token,
                                 float draft_logprob, int32_t *node, pa_err *err) {
    if (parent < PA_SPEC_ROOT || parent >= t->n)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "spec tree: parent %d is neither -1 (the root) nor one of the %d nodes",
                       (int)parent, (int)t->n);
    if (t->n == t->capacity)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE, "spec tree: full (max_nodes %d)",
                       (int)t->capacity);
    if (token < 0)
        return pa_fail(err, PYAGENT_ERR_INVALID_TOKEN, "spec tree: token %d is negative",
                       (int)token);
    if (isnan(draft_logprob) || draft_logprob > 0.0f)
        return pa_fail(err, PYAGENT_ERR_OUT_OF_RANGE,
                       "spec tree: draft log-probability %g is not in [-inf, 0]",
                       (double)draft_logprob);
    if (pa_spec_tree_child_with_token(t, parent, token) != -1)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                       "spec tree: node %d already has a child with token %d", (int)parent,
                       (int)token);

    const int32_t i = t->n++;
    const int32_t d = parent == PA_SPEC_ROOT ? 1 : t->depth[parent] + 1;
    if (d > t->max_depth) { /* d == max_depth + 1: a new deepest layer, empty so far */
        t->max_depth = d;
        t->depth_start[d + 1] = t->depth_start[d];
    }
    t->rank_in_depth[i] = t->depth_start[d + 1] - t->depth_start[d];
    for (int32_t deeper = d + 1; deeper <= t->max_depth + 1; deeper++) t->depth_start[deeper]++;
    if (i > 0 && d < t->depth[i - 1]) t->in_bfs_order = false;

    t->token[i] = token;
    t->parent[i] = parent;
    t->depth[i] = d;
    t->draft_logprob[i] = draft_logprob;
    t->path_logprob[i] =
        parent == PA_SPEC_ROOT ? draft_logprob : t->path_logprob[parent] + draft_logprob;
    t->first_child[i] = t->last_child[i] = t->next_sibling[i] = -1;
    t->n_children[i] = 0;
    t->expanded_as[i] = -1;

    t->n_leaves++;
    t->leaf_depth_sum += d;
    if (parent == PA_SPEC_ROOT) {
        if (t->root_last_child == -1) t->root_first_child = i;
        else t->next_sibling[t->root_last_child] = i;
        t->root_last_child = i;
        t->root_n_children++;
    } else {
        if (t->n_children[parent] == 0) { /* the parent stops being a leaf */
            t->n_leaves--;
            t->leaf_depth_sum -= t->depth[parent];
            t->first_child[parent] = i;
        } else {
            t->next_sibling[t->last_child[parent]] = i;
        }
        t->last_child[parent] = i;
        t->n_children[parent]++;
    }
    if (node) *node = i;
    return PYAGENT_OK;
}

/* ----------------------------------------------------------------------------------------- */
/* Reading                                                                                     */

int32_t pa_spec_tree_n(const pyagent_spec_tree *t) { return t->n; }
int32_t pa_spec_tree_capacity(const pyagent_spec_tree *t) { return t->capacity; }
int32_t pa_spec_tree_max_depth(const pyagent_spec_tree *t) { return t->max_depth; }
bool pa_spec_tree_in_bfs_order(const pyagent_spec_tree *t) { return t->in_bfs_order; }
const int32_t *pa_spec_tree_tokens(const pyagent_spec_tree *t) { return t->token; }
const int32_t *pa_spec_tree_parents(const pyagent_spec_tree *t) { return t->parent; }
const int32_t *pa_spec_tree_depths(const pyagent_spec_tree *t) { return t->depth; }
const float *pa_spec_tree_draft_logprobs(const pyagent_spec_tree *t) { return t->draft_logprob; }
const float *pa_spec_tree_path_logprobs(const pyagent_spec_tree *t) { return t->path_logprob; }
const int32_t *pa_spec_tree_expanded_as(const pyagent_spec_tree *t) { return t->expanded_as; }
int32_t pa_spec_tree_n_leaves(const pyagent_spec_tree *t) { return t->n_leaves; }
int64_t pa_spec_tree_leaf_depth_sum(const pyagent_spec_tree *t) { return t->leaf_depth_sum; }

int32_t pa_spec_tree_first_child(const pyagent_spec_tree *t, int32_t node) {
    return node == PA_SPEC_ROOT ? t->root_first_child : t->first_child[node];
}

int32_t pa_spec_tree_next_sibling(const pyagent_spec_tree *t, int32_t node) {
    return t->next_sibling[node];
}

int32_t pa_spec_tree_n_children(const pyagent_spec_tree *t, int32_t node) {
    return node == PA_SPEC_ROOT ? t->root_n_children : t->n_children[node];
}

int32_t pa_spec_tree_bfs_position(const pyagent_spec_tree *t, int32_t node) {
    return t->depth_start[t->depth[node]] + t->rank_in_depth[node];
}

void pa_spec_tree_fill_bfs(const pyagent_spec_tree *t, int32_t *order) {
    for (int32_t i = 0; i < t->n; i++) order[pa_spec_tree_bfs_position(t, i)] = i;
}

void pa_spec_tree_fill_positions(const pyagent_spec_tree *t, int32_t root_position,
                                 int32_t *positions) {
    for (int32_t i = 0; i < t->n; i++)
        positions[pa_spec_tree_bfs_position(t, i)] = root_position + t->depth[i];
}

/* Row r of a node = its parent's row plus itself. Walking nodes in insertion order visits
 * each parent before its children, so the parent's row is complete when it is copied; and it
 * only has ones up to the parent's own column (ancestors come earlier in BFS order). */
void pa_spec_tree_fill_mask(const pyagent_spec_tree *t, uint8_t *mask) {
    const size_t n = (size_t)t->n;
    memset(mask, 0, n * n);
    for (int32_t i = 0; i < t->n; i++) {
        const size_t r = (size_t)pa_spec_tree_bfs_position(t, i);
        if (t->parent[i] != PA_SPEC_ROOT) {
            const size_t pr = (size_t)pa_spec_tree_bfs_position(t, t->parent[i]);
            memcpy(mask + r * n, mask + pr * n, pr + 1);
        }
        mask[r * n + r] = 1;
    }
}

/* Depth-first, without a stack: descend through first children to a leaf, write its path
 * bottom-up from the parent links, then move to the next sibling of the nearest node on the
 * way back up that has one. */
void pa_spec_tree_fill_paths(const pyagent_spec_tree *t, int32_t *nodes, int32_t *offsets) {
    int32_t n_paths = 0, length = 0;
    int32_t v = t->root_first_child;
    while (v != -1) {
        if (t->first_child[v] != -1) {
            v = t->first_child[v];
            continue;
        }
        offsets[n_paths++] = length;
        length += t->depth[v];
        int32_t slot = length;
        for (int32_t u = v; u != PA_SPEC_ROOT; u = t->parent[u]) nodes[--slot] = u;
        while (v != PA_SPEC_ROOT && t->next_sibling[v] == -1) v = t->parent[v];
        if (v != PA_SPEC_ROOT) v = t->next_sibling[v];
    }
    offsets[n_paths] = length;
}

/* ----------------------------------------------------------------------------------------- */
/* Builder support                                                                             */

void pa_spec_tree_set_expanded_as(pyagent_spec_tree *t, int32_t node, int32_t as) {
    t->expanded_as[node] = as;
}

void *pa_spec_tree_scratch(pyagent_spec_tree *t, size_t bytes, pa_err *err) {
    if (bytes <= t->scratch_bytes) return t->scratch;
    void *grown = realloc(t->scratch, bytes);
    if (!grown) {
        pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "spec tree: out of memory for %zu bytes", bytes);
        return NULL;
    }
    t->scratch = grown;
    t->scratch_bytes = bytes;
    return grown;
}

pyagent_spec_tree *pa_spec_tree_work_tree(pyagent_spec_tree *t, int32_t max_nodes, pa_err *err) {
    if (t->work && t->work->capacity < max_nodes) {
        pa_spec_tree_destroy(t->work);
        t->work = NULL;
    }
    if (!t->work && pa_spec_tree_create(max_nodes, &t->work, err) != PYAGENT_OK) return NULL;
    pa_spec_tree_reset(t->work);
    return t->work;
}

/* ----------------------------------------------------------------------------------------- */
/* Public API: argument checks, errors into the tree's last error                             */

/* The error slot is not part of the tree's value: reading calls record failures in it too. */
static pa_err *error_slot(const pyagent_spec_tree *t) { return (pa_err *)&t->last_error; }

pyagent_status pyagent_spec_tree_create(int32_t max_nodes, pyagent_spec_tree **tree) {
    if (!tree) return PYAGENT_ERR_INVALID_ARGUMENT;
    return pa_spec_tree_create(max_nodes, tree, NULL);
}

void pyagent_spec_tree_destroy(pyagent_spec_tree *tree) { pa_spec_tree_destroy(tree); }

pyagent_status pyagent_spec_tree_clear(pyagent_spec_tree *tree) {
    if (!tree) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_spec_tree_reset(tree);
    return PYAGENT_OK;
}

pyagent_status pyagent_spec_tree_add(pyagent_spec_tree *tree, int32_t parent, int32_t token,
                                     float draft_logprob, int32_t *node) {
    if (!tree) return PYAGENT_ERR_INVALID_ARGUMENT;
    return pa_spec_tree_push(tree, parent, token, draft_logprob, node, &tree->last_error);
}

int32_t pyagent_spec_tree_size(const pyagent_spec_tree *tree) { return tree ? tree->n : 0; }

pyagent_status pyagent_spec_tree_node(const pyagent_spec_tree *tree, int32_t node,
                                      int32_t *token, int32_t *parent, int32_t *depth,
                                      float *draft_logprob, float *path_logprob) {
    if (!tree) return PYAGENT_ERR_INVALID_ARGUMENT;
    if (node < 0 || node >= tree->n)
        return pa_fail(error_slot(tree), PYAGENT_ERR_OUT_OF_RANGE,
                       "spec tree: node %d is not one of the %d nodes", (int)node, (int)tree->n);
    if (token) *token = tree->token[node];
    if (parent) *parent = tree->parent[node];
    if (depth) *depth = tree->depth[node];
    if (draft_logprob) *draft_logprob = tree->draft_logprob[node];
    if (path_logprob) *path_logprob = tree->path_logprob[node];
    return PYAGENT_OK;
}

/* The two-call check shared by the readers: *needed = `count`, then whether `capacity` and
 * the buffer can take it. */
static pyagent_status check_buffer(const pyagent_spec_tree *tree, const char *what,
                                   const void *buffer, size_t capacity, size_t count,
                                   size_t *needed) {
    if (!needed)
        return pa_fail(error_slot(tree), PYAGENT_ERR_INVALID_ARGUMENT,
                       "spec tree: the needed-size pointer of %s is NULL", what);
    *needed = count;
    if (capacity < count)
        return pa_fail(error_slot(tree), PYAGENT_ERR_BUFFER_TOO_SMALL,
                       "spec tree: %s needs %zu entries, capacity is %zu", what, count, capacity);
    if (!buffer && count > 0)
        return pa_fail(error_slot(tree), PYAGENT_ERR_INVALID_ARGUMENT,
                       "spec tree: the %s buffer is NULL", what);
    return PYAGENT_OK;
}

pyagent_status pyagent_spec_tree_bfs(const pyagent_spec_tree *tree, int32_t *order,
                                     size_t capacity, size_t *needed) {
    if (!tree) return PYAGENT_ERR_INVALID_ARGUMENT;
    pyagent_status st = check_buffer(tree, "bfs order", order, capacity, (size_t)tree->n, needed);
    if (st) return st;
    pa_spec_tree_fill_bfs(tree, order);
    return PYAGENT_OK;
}

pyagent_status pyagent_spec_tree_positions(const pyagent_spec_tree *tree, int32_t root_position,
                                           int32_t *positions, size_t capacity,
                                           size_t *needed) {
    if (!tree) return PYAGENT_ERR_INVALID_ARGUMENT;
    if (root_position < 0 || root_position > INT32_MAX - tree->max_depth)
        return pa_fail(error_slot(tree), PYAGENT_ERR_OUT_OF_RANGE,
                       "spec tree: root position %d (tree depth %d) is outside [0, INT32_MAX - "
                       "depth]",
                       (int)root_position, (int)tree->max_depth);
    pyagent_status st =
        check_buffer(tree, "positions", positions, capacity, (size_t)tree->n, needed);
    if (st) return st;
    pa_spec_tree_fill_positions(tree, root_position, positions);
    return PYAGENT_OK;
}

pyagent_status pyagent_spec_tree_mask(const pyagent_spec_tree *tree, uint8_t *mask,
                                      size_t capacity, size_t *needed) {
    if (!tree) return PYAGENT_ERR_INVALID_ARGUMENT;
    const size_t n = (size_t)tree->n;
    pyagent_status st = check_buffer(tree, "mask", mask, capacity, n * n, needed);
    if (st) return st;
    pa_spec_tree_fill_mask(tree, mask);
    return PYAGENT_OK;
}

pyagent_status pyagent_spec_tree_paths(const pyagent_spec_tree *tree, int32_t *nodes,
                                       size_t nodes_capacity, size_t *nodes_needed,
                                       int32_t *offsets, size_t offsets_capacity,
                                       size_t *offsets_needed) {
    if (!tree) return PYAGENT_ERR_INVALID_ARGUMENT;
    pa_err *err = error_slot(tree);
    if (!nodes_needed || !offsets_needed)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT,
                       "spec tree: a needed-size pointer of paths is NULL");
    const size_t n_nodes = (size_t)tree->leaf_depth_sum, n_offsets = (size_t)tree->n_leaves + 1;
    *nodes_needed = n_nodes;
    *offsets_needed = n_offsets;
    if (nodes_capacity < n_nodes || offsets_capacity < n_offsets)
        return pa_fail(err, PYAGENT_ERR_BUFFER_TOO_SMALL,
                       "spec tree: paths need %zu nodes and %zu offsets, capacities are %zu and "
                       "%zu",
                       n_nodes, n_offsets, nodes_capacity, offsets_capacity);
    if ((!nodes && n_nodes > 0) || !offsets)
        return pa_fail(err, PYAGENT_ERR_INVALID_ARGUMENT, "spec tree: a paths buffer is NULL");
    pa_spec_tree_fill_paths(tree, nodes, offsets);
    return PYAGENT_OK;
}

const char *pyagent_spec_tree_last_error(const pyagent_spec_tree *tree) {
    return tree ? tree->last_error.msg : "";
}
