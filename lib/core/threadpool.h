/*
 * A fixed pool of worker threads, bound with hwloc to distinct physical cores when the pool
 * leaves a core free for the calling thread. pa_pool_run runs one job on every thread (the caller is thread 0) and returns
 * when all are done: there is no per-token thread creation, and workers spin briefly before
 * sleeping so back-to-back kernels of one forward pass do not pay a wake-up each.
 * One pa_pool_run at a time per pool (the engine serializes forward passes).
 */
#ifndef PA_CORE_THREADPOOL_H
#define PA_CORE_THREADPOOL_H

#include "error.h"

typedef struct pa_pool pa_pool;

/* The job: thread `ith` of `nth` does its share of `ctx`. */
typedef void (*pa_job_fn)(void *ctx, int ith, int nth);

/* n_threads == 0 means one per physical core. */
pyagent_status pa_pool_create(int n_threads, pa_pool **out, pa_err *err);
void pa_pool_free(pa_pool *pool);
int pa_pool_size(const pa_pool *pool);
void pa_pool_run(pa_pool *pool, pa_job_fn fn, void *ctx);

/* Physical cores of this machine as hwloc sees them (at least 1). */
int pa_physical_cores(void);

/* [begin, end) of `n` items for thread ith of nth, in contiguous even chunks. */
static inline void pa_split(int64_t n, int ith, int nth, int64_t *begin, int64_t *end) {
    int64_t per = (n + nth - 1) / nth;
    *begin = per * ith < n ? per * ith : n;
    *end = *begin + per < n ? *begin + per : n;
}

#endif
