#include "threadpool.h"

#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SPIN_ROUNDS 20000 /* polls of the job counter before a worker sleeps */
#define BALANCE_GAIN 0.1  /* of the gap to a balanced split closed after each balanced run */

/* A clock for the parts' durations (only their ratios count). */
static inline uint64_t ticks(void) {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_ia32_rdtsc();
#else
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
#endif
}

/* Tells the core that this is a spin-wait, so an SMT sibling gets the pipeline meanwhile. */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* A job is cut into one part per thread. Part i is thread i's: each thread takes its own part
 * first, so that a thread runs the same share of every job (the balance times the parts as the
 * threads' own; with one shared counter of parts, a worker took part 0 of 7 % of decode's jobs
 * on two Zen 5 cores, the caller part 1). Then it takes any part nobody has, so whichever
 * threads are running do all of it: when another process holds a core and a worker is not
 * scheduled, the caller takes that worker's part instead of waiting a whole time slice for it.
 * claimed[i] is the generation of the last job whose part i was taken; every part of a job is
 * taken before the next job is published, so a claim is a CAS from gen - 1 to gen, which fails
 * for a worker that wakes late holding an older generation. Only a thread holding a part reads
 * the job, and the caller writes the next one after every part is done, so one job_slot does. */
typedef struct job_slot {
    pa_job_fn fn;
    void *ctx;
    bool balanced;
} job_slot;

/* Each part's claim and record are written by the thread that takes the part, so they get a
 * cache line each. On the 2-core Zen 5 guest, interleaved: an empty two-thread run 439-491 ns
 * with lines shared and 347-452 apart while the guest was slow, 146-179 and 162-176 while it
 * was fast; Q4_0 tg64 on two threads +2.6 % (a control -0.6 %). */
typedef struct claim_slot {
    atomic_uint gen;
} __attribute__((aligned(64))) claim_slot;

/* A balanced job's part: how many items it took and how long it ran (written by the thread
 * that ran it before it counts the part done, read by the caller after all are) */
typedef struct part_record {
    int64_t items;
    uint64_t ticks;
} __attribute__((aligned(64))) part_record;

static double part_rate(const part_record *p) { return (double)p->items / (double)p->ticks; }

struct pa_pool {
    int n_threads;
    pthread_t *threads;
    hwloc_topology_t topology; /* NULL if hwloc could not load it: no pinning */
    hwloc_bitmap_t cpuset;     /* where the creating thread may run; workers stay inside it */
    int n_cores;               /* physical cores that meet cpuset */

    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_uint published;     /* the generation of the current job */
    claim_slot *claimed;       /* (n_threads,) the last generation each part was taken in */
    atomic_uint n_done;        /* parts of the current job finished */
    atomic_int n_sleeping;     /* workers waiting on `wake` */
    atomic_bool stop;
    job_slot job;              /* the current job (published with its generation) */
    uint32_t generation;       /* of the current job (written by the caller only) */
    double *share;             /* (n_threads,) balanced parts' fractions of the items, and */
    double *bound;             /* (n_threads + 1,) their running sums: part i's are
                                  [bound[i], bound[i + 1]) (the caller writes them between
                                  runs) */
    part_record *parts;        /* (n_threads,) */
};

typedef struct worker_arg {
    pa_pool *pool;
    int ith;
} worker_arg;

/* Which thread of its pool the calling thread is: 0 for a caller of pa_pool_run, 1.. for
 * workers. Jobs index per-thread scratch with it. */
static _Thread_local int current_slot;

int pa_pool_slot(void) { return current_slot; }

/* The PUs the calling thread may run on (its affinity mask), or all of the machine's when it
 * cannot be read; NULL if out of memory. */
static hwloc_bitmap_t caller_cpuset(hwloc_topology_t topo) {
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (set && hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_THREAD) != 0)
        hwloc_bitmap_copy(set, hwloc_topology_get_topology_cpuset(topo));
    return set;
}

/* Core number k (0-based) among the cores that meet `set`, or NULL; with k = -1, the count of
 * such cores goes to *count. */
static hwloc_obj_t allowed_core(hwloc_topology_t topo, hwloc_const_bitmap_t set, int k,
                                int *count) {
    int seen = 0;
    const int total = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    for (int i = 0; i < total; i++) {
        hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, (unsigned)i);
        if (!core || !core->cpuset || !hwloc_bitmap_intersects(core->cpuset, set)) continue;
        if (seen++ == k) return core;
    }
    if (count) *count = seen;
    return NULL;
}

int pa_physical_cores(void) {
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) return 1;
    int n = 1;
    if (hwloc_topology_load(topo) == 0) {
        hwloc_bitmap_t set = caller_cpuset(topo);
        if (set) allowed_core(topo, set, -1, &n);
        hwloc_bitmap_free(set);
    }
    hwloc_topology_destroy(topo);
    return n > 0 ? n : 1;
}

/* Binds the calling worker to allowed core number k, on the PUs of it that it may use. */
static void pin_to_core(pa_pool *pool, int k) {
    if (!pool->topology || !pool->cpuset) return;
    hwloc_obj_t core = allowed_core(pool->topology, pool->cpuset, k, NULL);
    hwloc_bitmap_t pus = hwloc_bitmap_alloc();
    if (core && pus && hwloc_bitmap_and(pus, core->cpuset, pool->cpuset) == 0)
        /* Pinning is an optimisation: a failure (e.g. a restricted cpuset) is not an error. */
        hwloc_set_cpubind(pool->topology, pus, HWLOC_CPUBIND_THREAD);
    hwloc_bitmap_free(pus);
}

/* bound[i] = share[0] + ... + share[i - 1], over their sum */
static void set_bounds(pa_pool *pool) {
    double sum = 0;
    for (int i = 0; i < pool->n_threads; i++) sum += pool->share[i];
    pool->bound[0] = 0;
    for (int i = 0; i < pool->n_threads; i++)
        pool->bound[i + 1] = pool->bound[i] + pool->share[i] / sum;
}

/* Takes part `part` of job `gen` if nobody has. */
static bool claim(pa_pool *pool, int part, uint32_t gen) {
    unsigned before = gen - 1;
    return atomic_load_explicit(&pool->claimed[part].gen, memory_order_relaxed) == before &&
           atomic_compare_exchange_strong(&pool->claimed[part].gen, &before, gen);
}

/* Runs a part just claimed: pool->job is the job of the generation it was claimed in. */
static void run_part(pa_pool *pool, int part) {
    const job_slot *job = &pool->job;
    const uint64_t start = job->balanced ? ticks() : 0;
    job->fn(job->ctx, part, pool->n_threads);
    if (job->balanced) pool->parts[part].ticks = ticks() - start;
    atomic_fetch_add_explicit(&pool->n_done, 1, memory_order_release);
}

/* The calling thread's own part of job `gen`, then any other part nobody has taken. */
static void run_parts(pa_pool *pool, uint32_t gen) {
    const int own = current_slot < pool->n_threads ? current_slot : 0;
    if (claim(pool, own, gen)) run_part(pool, own);
    for (int i = 0; i < pool->n_threads; i++)
        if (i != own && claim(pool, i, gen)) run_part(pool, i);
}

static uint32_t current_generation(pa_pool *pool) {
    return atomic_load_explicit(&pool->published, memory_order_acquire);
}

/* Spins, then sleeps, until a job newer than `seen` is published or the pool stops. */
static uint32_t wait_for_job(pa_pool *pool, uint32_t seen) {
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        uint32_t g = current_generation(pool);
        if (g != seen || atomic_load(&pool->stop)) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&pool->lock);
    atomic_fetch_add(&pool->n_sleeping, 1);
    uint32_t g;
    while ((g = atomic_load(&pool->published)) == seen && !atomic_load(&pool->stop))
        pthread_cond_wait(&pool->wake, &pool->lock);
    atomic_fetch_sub(&pool->n_sleeping, 1);
    pthread_mutex_unlock(&pool->lock);
    return g;
}

static void *worker_main(void *arg) {
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    pa_pool *pool = wa.pool;
    current_slot = wa.ith;
    /* Workers are bound to a core each, from the last core down, only when the pool leaves a
     * core free for the caller thread (which is not ours to bind): with every core taken, the
     * unbound caller can land on a bound worker's core, and tg64 on 2 cores measured
     * 85 ± 9 t/s bound against 90 ± 1 unbound. */
    if (pool->n_threads < pool->n_cores) pin_to_core(pool, pool->n_cores - wa.ith);
    uint32_t seen = 0;
    for (;;) {
        seen = wait_for_job(pool, seen);
        if (atomic_load(&pool->stop)) break;
        run_parts(pool, seen);
    }
    return NULL;
}

static hwloc_topology_t load_topology(void) {
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) return NULL;
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        return NULL;
    }
    return topo;
}

pyagent_status pa_pool_create(int n_threads, pa_pool **out, pa_err *err) {
    *out = NULL;
    if (n_threads <= 0) n_threads = pa_physical_cores();
    pa_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "thread pool: out of memory");
    pool->n_threads = n_threads;
    pool->topology = load_topology();
    if (pool->topology && (pool->cpuset = caller_cpuset(pool->topology)))
        allowed_core(pool->topology, pool->cpuset, -1, &pool->n_cores);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->threads = calloc((size_t)n_threads, sizeof *pool->threads);
    pool->share = malloc((size_t)n_threads * sizeof *pool->share);
    pool->bound = malloc(((size_t)n_threads + 1) * sizeof *pool->bound);
    pool->parts = aligned_alloc(64, (size_t)n_threads * sizeof *pool->parts);
    if (pool->parts) memset(pool->parts, 0, (size_t)n_threads * sizeof *pool->parts);
    pool->claimed = aligned_alloc(64, (size_t)n_threads * sizeof *pool->claimed);
    if (pool->claimed) /* generation 0: taken */
        memset((void *)pool->claimed, 0, (size_t)n_threads * sizeof *pool->claimed);
    if (!pool->threads || !pool->share || !pool->bound || !pool->parts || !pool->claimed) {
        pa_pool_free(pool);
        return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "thread pool: out of memory");
    }
    for (int i = 0; i < n_threads; i++) pool->share[i] = 1.0 / n_threads;
    set_bounds(pool);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) *wa = (worker_arg){pool, i};
        if (!wa || pthread_create(&pool->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            pool->n_threads = i; /* join only the threads that exist */
            pa_pool_free(pool);
            return pa_fail(err, PYAGENT_ERR_OUT_OF_MEMORY, "could not start %d threads",
                           n_threads);
        }
    }
    *out = pool;
    return PYAGENT_OK;
}

void pa_pool_free(pa_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->stop, true);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 1; i < pool->n_threads; i++)
        if (pool->threads) pthread_join(pool->threads[i], NULL);
    free(pool->threads);
    free(pool->share);
    free(pool->bound);
    free(pool->parts);
    free((void *)pool->claimed);
    hwloc_bitmap_free(pool->cpuset);
    if (pool->topology) hwloc_topology_destroy(pool->topology);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    free(pool);
}

int pa_pool_size(const pa_pool *pool) { return pool->n_threads; }

static void run(pa_pool *pool, pa_job_fn fn, void *ctx, bool balanced) {
    if (pool->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    const uint32_t gen = ++pool->generation;
    pool->job = (job_slot){fn, ctx, balanced}; /* every part of the last job is done */
    atomic_store_explicit(&pool->n_done, 0, memory_order_relaxed);
    /* seq_cst store, then load: a worker going to sleep increments n_sleeping, then reads
     * `published`; one of the two sees the other's write, so no wake-up is lost */
    atomic_store(&pool->published, gen);
    if (atomic_load(&pool->n_sleeping) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
    }
    run_parts(pool, gen);
    const uint32_t n = (uint32_t)pool->n_threads;
    for (int spins = 0; atomic_load_explicit(&pool->n_done, memory_order_acquire) < n; spins++)
        if (spins < SPIN_ROUNDS) cpu_relax();
        else sched_yield();
}

void pa_pool_run(pa_pool *pool, pa_job_fn fn, void *ctx) { run(pool, fn, ctx, false); }

void pa_pool_run_balanced(pa_pool *pool, pa_job_fn fn, void *ctx) {
    const int n = pool->n_threads;
    for (int i = 0; i < n; i++) pool->parts[i] = (part_record){0, 0};
    run(pool, fn, ctx, true);
    /* each part's rate (items per tick) says which share would have made the parts end
     * together; move a step towards it (one run's times are noisy) */
    double total = 0;
    for (int i = 0; i < n; i++) {
        if (pool->parts[i].items <= 0 || pool->parts[i].ticks == 0) return;
        total += part_rate(&pool->parts[i]);
    }
    for (int i = 0; i < n; i++) {
        const double target = part_rate(&pool->parts[i]) / total;
        const double share = pool->share[i] + BALANCE_GAIN * (target - pool->share[i]);
        pool->share[i] = share > 0.25 / n ? share : 0.25 / n; /* no part starves */
    }
    set_bounds(pool);
}

void pa_pool_split(pa_pool *pool, int64_t n, int64_t align, int ith, int nth, int64_t *begin,
                   int64_t *end) {
    if (nth != pool->n_threads || nth == 1) { /* not a part of a balanced run */
        pa_split(n, ith, nth, begin, end);
        return;
    }
    const int64_t units = (n + align - 1) / align;
    *begin = ith == 0 ? 0 : (int64_t)(pool->bound[ith] * (double)units + 0.5) * align;
    *end = ith == nth - 1 ? n : (int64_t)(pool->bound[ith + 1] * (double)units + 0.5) * align;
    if (*begin > n) *begin = n;
    if (*end > n) *end = n;
    pool->parts[ith].items += *end - *begin;
}
