/*
 * Memory in 2 MiB transparent huge pages for big, long-lived, streamed buffers (the
 * huge_pages copy of the weights): a core streaming a few hundred MiB through 4 KiB pages
 * spends a TLB miss every 4 KiB, and on the machines we measure one core reads ~16 GB/s from
 * 2 MiB pages against ~10 GB/s from 4 KiB ones. The region is 2 MiB aligned and advised
 * MADV_HUGEPAGE; where the kernel has no huge pages the advice is ignored and the memory is
 * ordinary. It is zero-filled and faulted in on first touch, a 2 MiB page at a time, which
 * costs more than it saves for buffers filled bit by bit (the KV pool: a 512-token prompt into
 * fresh blocks was 9 % slower), so read-once-stream-often data only.
 */
#ifndef PA_CORE_PAGES_H
#define PA_CORE_PAGES_H

#include <stddef.h>

#define PA_HUGE_PAGE ((size_t)2 << 20)

/* NULL when the address space or memory is exhausted. */
void *pa_huge_alloc(size_t bytes);

/* Advises MADV_HUGEPAGE for a file mapping: where the file system keeps large folios (ext4,
 * xfs on Linux 6.x) and the file is not yet in the page cache, faults read it in 2 MiB folios
 * mapped whole (the TLB reach of a copy in huge pages, still shared with other processes).
 * Pages already cached in smaller folios stay as they are. */
void pa_huge_advise(void *p, size_t bytes);

/* Maps the pages of [p, p + bytes) for writing in one call instead of a fault per page on the
 * first writes (MADV_POPULATE_WRITE, Linux 5.14; a no-op elsewhere). Pages already mapped stay
 * as they are, so a range may start or end inside someone else's page. */
void pa_pages_populate(void *p, size_t bytes);

/* Frees what pa_huge_alloc returned for the same `bytes` (NULL is a no-op). */
void pa_huge_free(void *p, size_t bytes);

#endif
