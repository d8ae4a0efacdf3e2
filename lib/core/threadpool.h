/*
 * A fixed pool of worker threads, bound with hwloc to distinct physical cores when the pool
 * leaves a core free for the calling thread. pa_pool_run splits a job into one part per thread
 * and returns when all parts are done; the caller works too, and takes parts that a worker
 * has not started, so a worker without a core does not stall the job. There is no per-token
 * thread creation, and workers spin briefly before sleeping so back-to-back kernels of one
 * forward pass do not pay a wake-up each.
 * One pa_pool_run at a time per pool (the engine serializes forward passes).
 */
#ifndef PA_CORE_THREADPOOL_H
#define PA_CORE_THREADPOOL_H

#include "error.h"

typedef struct pa_pool pa_pool;

/* The job: part `ith` of `nth` of the work in `ctx`. Parts may run on any thread of the pool
 * (whichever claims them first), so per-thread scratch is indexed by pa_pool_slot(). */
typedef void (*pa_job_fn)(void *ctx, int ith, int nth);

/* The pool thread the caller runs on: 0 in the thread that called pa_pool_run, 1 .. size - 1
 * in workers. */
int pa_pool_slot(void);

/* n_threads == 0 means one per physical core the calling thread may run on. The pool's threads
 * stay on those cores (a host chooses them by binding the thread first, e.g. with taskset or
 * sched_setaffinity); workers are pinned to one core each among them when one is left over for
 * the caller. */
pyagent_status pa_pool_create(int n_threads, pa_pool **out, pa_err *err);
void pa_pool_free(pa_pool *pool);
int pa_pool_size(const pa_pool *pool);
void pa_pool_run(pa_pool *pool, pa_job_fn fn, void *ctx);

/* pa_pool_run for a job whose parts take their items with pa_pool_split: the pool times every
 * part and moves its split towards parts that take equally long. Threads of one pool are not
 * always equally fast (a core shared with another process or a hypervisor's other guests,
 * hybrid cores, an unequal share of memory bandwidth): on a 2-core Zen 5 guest one thread of
 * a decode step took 10-15 % longer than the other, which one changing from run to run. */
void pa_pool_run_balanced(pa_pool *pool, pa_job_fn fn, void *ctx);

/* [begin, end) of n items for part ith of nth of a pa_pool_run_balanced job, in the pool's
 * current proportions; the boundaries are multiples of `align`. A part may call it for several
 * sets of items (the pool counts all it took). */
void pa_pool_split(pa_pool *pool, int64_t n, int64_t align, int ith, int nth, int64_t *begin,
                   int64_t *end);

/* Physical cores the calling thread may run on, as hwloc sees them (at least 1). */
int pa_physical_cores(void);

/* [begin, end) of `n` items for thread ith of nth, in contiguous even chunks. */
static inline void pa_split(int64_t n, int ith, int nth, int64_t *begin, int64_t *end) {
    int64_t per = (n + nth - 1) / nth;
    *begin = per * ith < n ? per * ith : n;
    *end = *begin + per < n ? *begin + per : n;
}

#endif
