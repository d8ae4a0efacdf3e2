#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise */
#include "pages.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

/* AddressSanitizer watches heap blocks, not mappings: under it the buffers come from calloc so
 * that an overrun of a weight or KV buffer is still reported. */
#if defined(__SANITIZE_ADDRESS__)
#define PA_PAGES_FROM_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PA_PAGES_FROM_HEAP 1
#endif
#endif

static size_t rounded(size_t bytes, bool huge) {
    const size_t unit = huge ? PA_HUGE_PAGE : 4096;
    return (bytes + unit - 1) / unit * unit;
}

void *pa_pages_alloc(size_t bytes, bool huge) {
    if (bytes == 0 || bytes > SIZE_MAX - 2 * PA_HUGE_PAGE) return NULL;
#ifdef PA_PAGES_FROM_HEAP
    (void)huge;
    return calloc(1, bytes);
#endif
    const size_t size = rounded(bytes, huge), slack = huge ? PA_HUGE_PAGE : 0;
    uint8_t *raw = mmap(NULL, size + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
    if (raw == MAP_FAILED) return NULL;
    if (!huge) return raw;
    /* keep the 2 MiB aligned `size` bytes inside, give back the slack on either side */
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + PA_HUGE_PAGE - 1) & ~(uintptr_t)(PA_HUGE_PAGE - 1));
    if (p > raw) munmap(raw, (size_t)(p - raw));
    if (raw + size + slack > p + size) munmap(p + size, (size_t)(raw + size + slack - (p + size)));
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE); /* advice: refused where THP is off, and that is fine */
#endif
    return p;
}

void pa_pages_free(void *p, size_t bytes, bool huge) {
#ifdef PA_PAGES_FROM_HEAP
    (void)bytes, (void)huge;
    free(p);
#else
    if (p) munmap(p, rounded(bytes, huge));
#endif
}
