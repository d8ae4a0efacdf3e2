/* What the tests reach of the semantic cache (cache.c): its LSH codes. */
#ifndef PA_SEMANTIC_INTERNAL_H
#define PA_SEMANTIC_INTERNAL_H

#include <stdint.h>

#include <pyagent/pyagent.h>

/* Makes the hyperplanes for embeddings of width d (drawn from the cache's seed). */
pyagent_status pa_semantic_prepare(pyagent_semantic_cache *c, int d);
/* The n_tables bucket codes of v (d values, d as prepared): bit b of code t is whether v lies
 * on the positive side of hyperplane (t, b). */
void pa_semantic_codes(const pyagent_semantic_cache *c, const float *v, uint64_t *codes);

#endif
