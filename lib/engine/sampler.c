#include "sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../backend/cpu/ops.h"
#include "../core/params.h"

pyagent_status pa_sampler_init(pa_sampler *s, int n_vocab, pa_err *err) {
    memset(s, 0, sizeof *s);
    s->n_vocab = n_vocab;
    s->candidates = malloc((size_t)n_vocab * sizeof *s->candidates);
    s->logits = malloc((size_t)n_vocab * sizeof *s->logits);
    s->counts = calloc((size_t)n_vocab, sizeof *s->counts);
    if (!s->candidates || !s->logits || !s->counts) {
        pa_sampler_free(s);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "sampler: out of memory");
    }
    pa_sampler_configure(s, NULL, 0);
    return PYAGENT_OK;
}

void pa_sampler_free(pa_sampler *s) {
    free(s->candidates);
    free(s->logits);
    free(s->counts);
    memset(s, 0, sizeof *s);
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* uniform in [0, 1) with 53 random bits */
static double uniform(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * 0x1.0p-53; }

void pa_sampler_configure(pa_sampler *s, const pyagent_params *p, uint64_t seed) {
    const int32_t K = PYAGENT_PARAMS_SAMPLER;
    s->repeat_penalty = pa_params_f64(p, K, PA_SAMPLER_REPEAT_PENALTY);
    s->repeat_last_n = pa_params_i64(p, K, PA_SAMPLER_REPEAT_LAST_N);
    s->frequency_penalty = pa_params_f64(p, K, PA_SAMPLER_FREQUENCY_PENALTY);
    s->presence_penalty = pa_params_f64(p, K, PA_SAMPLER_PRESENCE_PENALTY);
    s->temperature = pa_params_f64(p, K, PA_SAMPLER_TEMPERATURE);
    s->top_k = pa_params_i64(p, K, PA_SAMPLER_TOP_K);
    s->top_p = pa_params_f64(p, K, PA_SAMPLER_TOP_P);
    s->min_p = pa_params_f64(p, K, PA_SAMPLER_MIN_P);
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&seed);
}

void pa_sampler_copy_settings(pa_sampler *to, const pa_sampler *from) {
    to->repeat_penalty = from->repeat_penalty;
    to->frequency_penalty = from->frequency_penalty;
    to->presence_penalty = from->presence_penalty;
    to->repeat_last_n = from->repeat_last_n;
    to->temperature = from->temperature;
    to->top_p = from->top_p;
    to->min_p = from->min_p;
    to->top_k = from->top_k;
    memcpy(to->rng, from->rng, sizeof to->rng);
}

static bool penalties_off(const pa_sampler *s) {
    return (s->repeat_penalty == 1.0 && s->frequency_penalty == 0 && s->presence_penalty == 0) ||
           s->repeat_last_n == 0;
}

/* llama.cpp's penalties: each distinct recent token once by repeat_penalty (divide positive
 * logits, multiply negative ones), then count * frequency + presence subtracted. */
static void apply_penalties(pa_sampler *s, const int32_t *history, size_t n_history) {
    if (penalties_off(s)) return;
    size_t window = (size_t)s->repeat_last_n < n_history ? (size_t)s->repeat_last_n : n_history;
    const int32_t *recent = history + (n_history - window);
    for (size_t i = 0; i < window; i++)
        if (recent[i] >= 0) s->counts[recent[i]]++; /* < 0: a position fed as an embedding */
    for (size_t i = 0; i < window; i++) {
        int32_t id = recent[i];
        if (id < 0) continue;
        uint32_t count = s->counts[id];
        if (count == 0) continue; /* already penalized */
        float *l = &s->logits[id];
        *l = *l <= 0 ? *l * (float)s->repeat_penalty : *l / (float)s->repeat_penalty;
        *l -= (float)(count * s->frequency_penalty + s->presence_penalty);
        s->counts[id] = 0;
    }
}

static int by_logit_desc(const void *a, const void *b) {
    float x = ((const pa_candidate *)a)->logit, y = ((const pa_candidate *)b)->logit;
    if (x != y) return x < y ? 1 : -1;
    return ((const pa_candidate *)a)->id - ((const pa_candidate *)b)->id;
}

static void sift_down(pa_candidate *heap, size_t n, size_t i) { /* min-heap on logit */
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && by_logit_desc(&heap[l], &heap[m]) > 0) m = l;
        if (r < n && by_logit_desc(&heap[r], &heap[m]) > 0) m = r;
        if (m == i) return;
        pa_candidate t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

/* Leaves the k best candidates, sorted best first, in c[0..k): a min-heap of the best k seen. */
static size_t keep_top_k(pa_candidate *c, size_t n, size_t k) {
    if (k == 0 || k >= n) {
        qsort(c, n, sizeof *c, by_logit_desc);
        return n;
    }
    for (size_t i = k / 2; i-- > 0;) sift_down(c, k, i);
    for (size_t i = k; i < n; i++) {
        if (by_logit_desc(&c[i], &c[0]) < 0) { /* better than the worst kept */
            c[0] = c[i];
            sift_down(c, k, 0);
        }
    }
    qsort(c, k, sizeof *c, by_logit_desc);
    return k;
}

/* p = softmax(logit / temperature) over c[0..n), which is sorted best first */
static void softmax_candidates(pa_candidate *c, size_t n, double temperature) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        c[i].p = (float)exp((c[i].logit - c[0].logit) / temperature);
        sum += c[i].p;
    }
    for (size_t i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
}

/* top-p, min-p and temperature over s->candidates[0 .. kept) (sorted best first): returns how
 * many are left, their p summing to 1 */
static size_t filter_kept(pa_sampler *s, size_t kept) {
    pa_candidate *c = s->candidates;
    softmax_candidates(c, kept, 1.0);
    if (s->top_p < 1.0) { /* smallest prefix whose mass reaches top_p */
        double mass = 0;
        size_t i = 0;
        while (i < kept && mass < s->top_p) mass += c[i++].p;
        kept = i > 0 ? i : 1;
    }
    if (s->min_p > 0) { /* drop tokens below min_p * p(best) */
        size_t i = 1;
        while (i < kept && c[i].p >= s->min_p * c[0].p) i++;
        kept = i;
    }
    softmax_candidates(c, kept, s->temperature);
    return kept;
}

size_t pa_sampler_distribution(pa_sampler *s, const float *logits, const int32_t *history,
                               size_t n_history) {
    const int n = s->n_vocab;
    pa_candidate *c = s->candidates;
    if (s->temperature <= 0 && penalties_off(s)) { /* plain greedy: nothing to change first */
        c[0] = (pa_candidate){pa_argmax(logits, n), 0, 1.0f};
        return 1;
    }
    memcpy(s->logits, logits, (size_t)n * sizeof(float));
    apply_penalties(s, history, n_history);
    if (s->temperature <= 0) {
        c[0] = (pa_candidate){pa_argmax(s->logits, n), 0, 1.0f};
        return 1;
    }
    for (int i = 0; i < n; i++) c[i] = (pa_candidate){i, s->logits[i], 0};
    return filter_kept(s, keep_top_k(c, (size_t)n, (size_t)s->top_k));
}

double pa_sampler_uniform(pa_sampler *s) { return uniform(s->rng); }

int32_t pa_sampler_draw(pa_sampler *s, size_t kept, double mass) {
    const pa_candidate *c = s->candidates;
    double u = uniform(s->rng) * mass, cum = 0;
    size_t last = 0;
    for (size_t i = 0; i < kept; i++) {
        if (c[i].p <= 0) continue; /* excluded */
        last = i;
        cum += c[i].p;
        if (u < cum) return c[i].id;
    }
    return c[last].id; /* rounding left u just above the total mass */
}

int32_t pa_sampler_sample(pa_sampler *s, const float *logits, const int32_t *history,
                          size_t n_history) {
    size_t kept = pa_sampler_distribution(s, logits, history, n_history);
    if (kept == 1) return s->candidates[0].id;
    return pa_sampler_draw(s, kept, 1.0);
}

int pa_sampler_candidates_needed(const pa_sampler *s, int max) {
    if (!penalties_off(s)) return 0;
    if (s->temperature <= 0) return 1;
    return s->top_k > 0 && s->top_k <= max && s->top_k < s->n_vocab ? (int)s->top_k : 0;
}

int32_t pa_sampler_sample_top(pa_sampler *s, const pa_token_logit *top) {
    pa_candidate *c = s->candidates;
    const size_t n = s->temperature <= 0 ? 1 : (size_t)s->top_k;
    for (size_t i = 0; i < n; i++) c[i] = (pa_candidate){top[i].id, top[i].logit, 0};
    const size_t kept = n == 1 ? 1 : filter_kept(s, n);
    return kept == 1 ? c[0].id : pa_sampler_draw(s, kept, 1.0);
}
