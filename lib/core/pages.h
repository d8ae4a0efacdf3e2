/*
 * Page-aligned anonymous memory for big, long-lived buffers (the huge_pages copy of the
 * weights). With `huge`, the region is 2 MiB aligned and advised for transparent huge pages: a
 * core streaming a few hundred MiB through 4 KiB pages spends a TLB miss every 4 KiB, and on
 * the machines we measure one core reads ~16 GB/s from 2 MiB pages against ~10 GB/s from 4 KiB
 * ones. Where the kernel has no huge pages the advice is ignored and the memory is ordinary.
 * The memory is zero-filled and faulted in on first touch, a 2 MiB page at a time, which costs
 * more than it saves for buffers that are filled bit by bit (the KV pool: a 512-token prompt
 * into fresh blocks was 9 % slower), so read-once-stream-often data only.
 */
#ifndef PA_CORE_PAGES_H
#define PA_CORE_PAGES_H

#include <stdbool.h>
#include <stddef.h>

#define PA_HUGE_PAGE ((size_t)2 << 20)

/* NULL when the address space or memory is exhausted. */
void *pa_pages_alloc(size_t bytes, bool huge);

/* Frees what pa_pages_alloc returned for the same `bytes` and `huge` (NULL is a no-op). */
void pa_pages_free(void *p, size_t bytes, bool huge);

#endif
