/*
 * Token sampling, in llama.cpp's default order: repetition penalties on the raw logits, then
 * (temperature 0) argmax, or top-k -> top-p -> min-p -> temperature -> draw from the
 * renormalized distribution with the agent's own RNG (xoshiro256**), so a seed reproduces.
 */
#ifndef PA_ENGINE_SAMPLER_H
#define PA_ENGINE_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "../backend/cpu/ops.h"
#include "../core/error.h"

typedef struct pa_candidate {
    int32_t id;
    float logit;
    float p;
} pa_candidate;

typedef struct pa_sampler {
    double repeat_penalty, frequency_penalty, presence_penalty;
    int64_t repeat_last_n;
    double temperature, top_p, min_p;
    int64_t top_k;
    uint64_t rng[4];         /* xoshiro256** state */
    int n_vocab;
    pa_candidate *candidates; /* (n_vocab,) scratch */
    float *logits;            /* (n_vocab,) penalized copy */
    uint32_t *counts;         /* (n_vocab,) occurrences in the penalty window */
} pa_sampler;

pyagent_status pa_sampler_init(pa_sampler *s, int n_vocab, pa_err *err);
void pa_sampler_free(pa_sampler *s);
/* Takes the settings of sampler params (NULL = defaults) and seeds the RNG with `seed`. */
void pa_sampler_configure(pa_sampler *s, const pyagent_params *params, uint64_t seed);

/* Copies the settings and the RNG state of `from` (a fork continues the same random stream). */
void pa_sampler_copy_settings(pa_sampler *to, const pa_sampler *from);

/* The distribution plain sampling draws from, after the penalties (history = the sequence so
 * far) and every filter: s->candidates[0 .. return value) with p summing to 1, best first.
 * Temperature 0 gives the argmax alone with p = 1. */
size_t pa_sampler_distribution(pa_sampler *s, const float *logits, const int32_t *history,
                               size_t n_history);
/* Draws from s->candidates[0 .. kept) by p, skipping candidates whose p was set to 0; `mass` is
 * the sum of the p left. */
int32_t pa_sampler_draw(pa_sampler *s, size_t kept, double mass);
/* A uniform number in [0, 1) from the agent's RNG. */
double pa_sampler_uniform(pa_sampler *s);

/* Picks the next token from `logits` (n_vocab,) given the sequence so far. */
int32_t pa_sampler_sample(pa_sampler *s, const float *logits, const int32_t *history,
                          size_t n_history);

/* How many of a logits row's best candidates (pa_top_k) this sampler draws from: 1 when
 * greedy, its top_k when that is at most `max`; 0 when it needs the whole row (penalties,
 * top_k off, above max or the whole vocabulary). */
int pa_sampler_candidates_needed(const pa_sampler *s, int max);

/* pa_sampler_sample given only the row's best candidates, as pa_top_k orders them (as many as
 * pa_sampler_candidates_needed asked for): the same token, the RNG advanced the same way. */
int32_t pa_sampler_sample_top(pa_sampler *s, const pa_token_logit *top);

#endif
