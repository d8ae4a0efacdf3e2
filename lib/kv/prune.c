/* Landmark sets of the scoring pruning policies (prune.h). */
#include "prune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int n_groups(const pa_marks *m) { return m->n_layer * m->n_head_kv; }

pa_marks *pa_marks_create(int mode, int n_layer, int n_head_kv, int n_head, int head_dim,
                          int n_embd, int kv_elem_type, int64_t heavy, bool entropy,
                          double threshold) {
    pa_marks *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    *m = (pa_marks){.mode = mode, .n_layer = n_layer, .n_head_kv = n_head_kv, .n_head = n_head,
                    .head_dim = head_dim, .n_embd = n_embd, .heavy = heavy, .entropy = entropy,
                    .threshold = threshold};
    m->elem_type = kv_elem_type == PA_KV_Q8_0 && head_dim % PA_KV_Q8_BLOCK ? PA_KV_F16
                                                                         : kv_elem_type;
    m->row_bytes = pa_kv_bytes(m->elem_type, head_dim);
    m->sets = calloc((size_t)n_groups(m), sizeof *m->sets);
    m->entropy_sum = calloc((size_t)n_groups(m), sizeof *m->entropy_sum);
    m->entropy_n = calloc((size_t)n_groups(m), sizeof *m->entropy_n);
    if (!m->sets || !m->entropy_sum || !m->entropy_n) {
        pa_marks_free(m);
        return NULL;
    }
    return m;
}

static void set_free(pa_mark_set *s) {
    free(s->pos);
    free(s->score);
    free(s->k);
    free(s->v);
    *s = (pa_mark_set){0};
}

void pa_marks_free(pa_marks *m) {
    if (!m) return;
    for (int g = 0; m->sets && g < n_groups(m); g++) set_free(&m->sets[g]);
    free(m->sets);
    free(m->score);
    free(m->entropy_sum);
    free(m->entropy_n);
    free(m);
}

/* Room for cap landmarks in s. */
static bool set_reserve(pa_mark_set *s, int32_t cap, size_t row_bytes) {
    if (cap <= s->cap) return true;
    int32_t *pos = realloc(s->pos, (size_t)cap * sizeof *pos);
    if (pos) s->pos = pos;
    float *score = realloc(s->score, (size_t)cap * sizeof *score);
    if (score) s->score = score;
    uint8_t *k = realloc(s->k, (size_t)cap * row_bytes);
    if (k) s->k = k;
    uint8_t *v = realloc(s->v, (size_t)cap * row_bytes);
    if (v) s->v = v;
    if (!pos || !score || !k || !v) return false;
    s->cap = cap;
    return true;
}

pa_marks *pa_marks_clone(const pa_marks *m) {
    pa_marks *c = pa_marks_create(m->mode, m->n_layer, m->n_head_kv, m->n_head, m->head_dim,
                                  m->n_embd, m->elem_type, m->heavy, m->entropy, m->threshold);
    if (!c || !pa_marks_reserve(c, 0, 0, m->score_cap)) goto fail;
    c->elem_type = m->elem_type, c->row_bytes = m->row_bytes, c->zap = m->zap;
    c->sink_blocks = m->sink_blocks;
    for (int g = 0; g < n_groups(m); g++) {
        const pa_mark_set *s = &m->sets[g];
        pa_mark_set *d = &c->sets[g];
        if (!set_reserve(d, s->n, m->row_bytes)) goto fail;
        d->n = s->n;
        if (s->n == 0) continue;
        memcpy(d->pos, s->pos, (size_t)s->n * sizeof *s->pos);
        memcpy(d->score, s->score, (size_t)s->n * sizeof *s->score);
        memcpy(d->k, s->k, (size_t)s->n * m->row_bytes);
        memcpy(d->v, s->v, (size_t)s->n * m->row_bytes);
    }
    if (m->score_cap)
        memcpy(c->score, m->score, (size_t)n_groups(m) * m->score_cap * sizeof *m->score);
    memcpy(c->entropy_sum, m->entropy_sum, (size_t)n_groups(m) * sizeof *m->entropy_sum);
    memcpy(c->entropy_n, m->entropy_n, (size_t)n_groups(m) * sizeof *m->entropy_n);
    return c;
fail:
    pa_marks_free(c);
    return NULL;
}

bool pa_marks_reserve(pa_marks *m, size_t lo, size_t n_done, size_t hi) {
    if (lo > n_done) lo = n_done;
    size_t cap = 16;
    while (cap < hi - lo) cap *= 2;
    if (cap != m->score_cap) { /* grown for a prompt chunk, or shrunk after: the live move */
        float *score = calloc((size_t)n_groups(m) * cap, sizeof *score);
        if (!score) return cap < m->score_cap; /* the old ring still serves */
        for (int g = 0; g < n_groups(m) && m->score_cap; g++)
            for (size_t p = lo; p < n_done; p++)
                score[(size_t)g * cap + (p & (cap - 1))] = *pa_marks_score(m, g, p);
        free(m->score);
        m->score = score;
        m->score_cap = cap;
    }
    for (int g = 0; g < n_groups(m); g++) /* new positions start from nothing */
        for (size_t p = n_done; p < hi; p++) *pa_marks_score(m, g, p) = 0;
    return true;
}

void pa_marks_truncate(pa_marks *m, size_t n) {
    for (int g = 0; g < n_groups(m); g++) {
        pa_mark_set *s = &m->sets[g];
        while (s->n > 0 && (size_t)s->pos[s->n - 1] >= n) s->n--;
    }
    if (n == 0) { /* a fresh start */
        memset(m->entropy_sum, 0, (size_t)n_groups(m) * sizeof *m->entropy_sum);
        memset(m->entropy_n, 0, (size_t)n_groups(m) * sizeof *m->entropy_n);
    }
}

size_t pa_marks_bytes(const pa_marks *m) {
    size_t bytes = (size_t)n_groups(m) * m->score_cap * sizeof(float);
    for (int g = 0; g < n_groups(m); g++)
        bytes += (size_t)m->sets[g].cap * (2 * m->row_bytes + sizeof(int32_t) + sizeof(float));
    return bytes;
}

size_t pa_marks_count(const pa_marks *m) {
    size_t n = 0;
    for (int g = 0; g < n_groups(m); g++) n += (size_t)m->sets[g].n;
    return n;
}

/* ----------------------------------------------------------------------------------------- */
/* Budgets and selection                                                                       */

double pa_entropy(const float *w, size_t stride, int n, float scale) {
    double h = 0;
    for (int i = 0; i < n; i++) {
        const float p = w[(size_t)i * stride] * scale;
        if (p > 0) h -= (double)p * log((double)p);
    }
    return h;
}

void pa_split_budget(const double *weight, int n, int64_t total, int64_t floor, int64_t *out) {
    if (n <= 0) return;
    if (total < floor * n) floor = total / n;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += weight[i] > 0 ? weight[i] : 0;
    const int64_t spare = total - floor * n;
    int64_t given = 0;
    double *rem = malloc((size_t)n * sizeof *rem);
    for (int i = 0; i < n; i++) {
        const double w = weight[i] > 0 ? weight[i] : 0;
        const double share = sum > 0 ? (double)spare * w / sum : (double)spare / n;
        const int64_t whole = (int64_t)share;
        out[i] = floor + whole;
        given += whole;
        if (rem) rem[i] = share - (double)whole;
    }
    for (int64_t left = spare - given, i = 0; left > 0; left--, i++) { /* largest remainders */
        int best = (int)(i % n);
        for (int j = 0; rem && j < n; j++)
            if (rem[j] > rem[best]) best = j;
        out[best]++;
        if (rem) rem[best] = -1;
    }
    free(rem);
}

typedef struct candidate {
    float score;
    int32_t pos, index;
} candidate;

static int better_first(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->pos < y->pos) - (x->pos > y->pos);
}

static int by_position(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

int pa_top_positions(const float *score, const int32_t *pos, int n, int k, double threshold,
                     int32_t *out_idx) {
    candidate *c = malloc((size_t)(n > 0 ? n : 1) * sizeof *c);
    if (!c) return -1;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!((double)score[i] < threshold)) c[m++] = (candidate){score[i], pos[i], i};
    qsort(c, (size_t)m, sizeof *c, better_first);
    if (m > k) m = k;
    qsort(c, (size_t)m, sizeof *c, by_position);
    for (int i = 0; i < m; i++) out_idx[i] = c[i].index;
    free(c);
    return m;
}

void pa_marks_budgets(const pa_marks *m, int64_t *budget) {
    const int n = n_groups(m);
    if (!m->entropy) {
        for (int g = 0; g < n; g++) budget[g] = m->heavy;
        return;
    }
    double *w = malloc((size_t)n * sizeof *w);
    if (!w) { /* uniform rather than nothing */
        for (int g = 0; g < n; g++) budget[g] = m->heavy;
        return;
    }
    for (int g = 0; g < n; g++) /* unobserved groups count as spread out */
        w[g] = m->entropy_n[g] ? m->entropy_sum[g] / (double)m->entropy_n[g] : 1.0;
    pa_split_budget(w, n, m->heavy * n, m->heavy / 4, budget);
    free(w);
}

/* Row `slot` of a block's K or V for kv head h, as the landmark's element type. */
static void copy_row(const pa_marks *m, const pa_kv_store *kv, bool values, int32_t block,
                     int layer, int slot, int h, uint8_t *dst, float *tmp) {
    const int kv_type = pa_kv_config_of(kv)->elem_type;
    const uint8_t *row = values ? pa_kv_v(kv, block, layer, slot) : pa_kv_k(kv, block, layer, slot);
    if (kv_type == m->elem_type && kv_type != PA_KV_Q8_0) {
        memcpy(dst, row + (size_t)h * m->row_bytes, m->row_bytes);
        return;
    }
    pa_kv_slice_to_f32(kv_type, row, h * m->head_dim, m->head_dim, tmp);
    pa_kv_from_f32(m->elem_type, dst, tmp, m->head_dim);
}

/* One group: the best of its landmarks and the n_new released positions. */
static bool fold_group(pa_marks *m, const pa_kv_store *kv, int g, int64_t budget,
                       const int32_t *blocks, const int32_t *first, int n_blocks,
                       candidate *c, int32_t *keep, float *tmp) {
    const int bs = pa_kv_config_of(kv)->block_size, layer = g / m->n_head_kv,
              h = g % m->n_head_kv;
    pa_mark_set *s = &m->sets[g];
    int n = 0;
    for (int i = 0; i < s->n; i++) c[n++] = (candidate){s->score[i], s->pos[i], i};
    for (int b = 0; b < n_blocks; b++)
        for (int j = 0; j < bs; j++)
            c[n++] = (candidate){*pa_marks_score(m, g, (size_t)(first[b] + j)), first[b] + j,
                                 -1 - (b * bs + j)};
    float *sc = (float *)keep + n; /* scratch after the indices */
    int32_t *ps = (int32_t *)(sc + n);
    for (int i = 0; i < n; i++) sc[i] = c[i].score, ps[i] = c[i].pos;
    const int k = pa_top_positions(sc, ps, n, budget > INT32_MAX ? INT32_MAX : (int)budget,
                                   m->mode == PA_MARKS_KVZAP ? m->threshold : -INFINITY, keep);
    if (k < 0) return false;
    pa_mark_set next = {0};
    if (!set_reserve(&next, k > 0 ? k : 1, m->row_bytes)) {
        set_free(&next);
        return false;
    }
    for (int i = 0; i < k; i++) {
        const candidate *x = &c[keep[i]];
        uint8_t *kd = next.k + (size_t)i * m->row_bytes, *vd = next.v + (size_t)i * m->row_bytes;
        next.pos[i] = x->pos, next.score[i] = x->score;
        if (x->index >= 0) { /* already a landmark */
            memcpy(kd, s->k + (size_t)x->index * m->row_bytes, m->row_bytes);
            memcpy(vd, s->v + (size_t)x->index * m->row_bytes, m->row_bytes);
        } else {
            const int at = -1 - x->index;
            copy_row(m, kv, false, blocks[at / bs], layer, at % bs, h, kd, tmp);
            copy_row(m, kv, true, blocks[at / bs], layer, at % bs, h, vd, tmp);
        }
    }
    next.n = k;
    set_free(s);
    *s = next;
    return true;
}

bool pa_marks_fold(pa_marks *m, const pa_kv_store *kv, const int32_t *blocks,
                   const int32_t *first, int n_blocks) {
    const int bs = pa_kv_config_of(kv)->block_size, n = n_groups(m);
    int most = 0;
    for (int g = 0; g < n; g++)
        if (m->sets[g].n > most) most = m->sets[g].n;
    const size_t n_cand = (size_t)most + (size_t)n_blocks * bs;
    int64_t *budget = malloc((size_t)n * sizeof *budget);
    candidate *c = malloc(n_cand * sizeof *c);
    int32_t *scratch = malloc(n_cand * 3 * sizeof(int32_t)); /* indices, scores, positions */
    float *tmp = malloc((size_t)m->head_dim * sizeof *tmp);
    bool ok = budget && c && scratch && tmp;
    if (ok) pa_marks_budgets(m, budget);
    for (int g = 0; ok && g < n; g++)
        if (n_blocks > 0 || m->sets[g].n > budget[g]) /* no blocks: only trim to budgets */
            ok = fold_group(m, kv, g, budget[g], blocks, first, n_blocks, c, scratch, tmp);
    free(budget), free(c), free(scratch), free(tmp);
    return ok;
}
