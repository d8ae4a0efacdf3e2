#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise */
#include "pages.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* AddressSanitizer watches heap blocks, not mappings: under it the buffers come from calloc so
 * that an overrun of the weights is still reported. */
#if defined(__SANITIZE_ADDRESS__)
#define PA_PAGES_FROM_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PA_PAGES_FROM_HEAP 1
#endif
#endif

static size_t whole_pages(size_t bytes) {
    return (bytes + PA_HUGE_PAGE - 1) / PA_HUGE_PAGE * PA_HUGE_PAGE;
}

void *pa_huge_alloc(size_t bytes) {
    if (bytes == 0 || bytes > SIZE_MAX - 2 * PA_HUGE_PAGE) return NULL;
#ifdef PA_PAGES_FROM_HEAP
    return calloc(1, bytes);
#else
    /* map a page more than needed, keep the 2 MiB aligned part, give back the rest */
    const size_t size = whole_pages(bytes), mapped = size + PA_HUGE_PAGE;
    uint8_t *raw = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + PA_HUGE_PAGE - 1) & ~(uintptr_t)(PA_HUGE_PAGE - 1));
    if (p > raw) munmap(raw, (size_t)(p - raw));
    if (raw + mapped > p + size) munmap(p + size, (size_t)(raw + mapped - (p + size)));
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE); /* advice: refused where THP is off, and that is fine */
#endif
    return p;
#endif
}

void pa_huge_advise(void *p, size_t bytes) {
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#else
    (void)p, (void)bytes;
#endif
}

void pa_pages_populate(void *p, size_t bytes) {
#ifdef MADV_POPULATE_WRITE
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t begin = (uintptr_t)p & ~(page - 1), end = (uintptr_t)p + bytes;
    madvise((void *)begin, end - begin, MADV_POPULATE_WRITE);
#else
    (void)p, (void)bytes;
#endif
}

void pa_huge_free(void *p, size_t bytes) {
#ifdef PA_PAGES_FROM_HEAP
    (void)bytes;
    free(p);
#else
    if (p) munmap(p, whole_pages(bytes));
#endif
}
