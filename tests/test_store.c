/*
 * The KV block pool's memory (lib/kv/store.c): a block handed out for the first time has its K
 * and V pages mapped already (one madvise each instead of a fault per 4 KiB page on the first
 * write), and blocks not handed out yet take no memory.
 */
#define _DEFAULT_SOURCE /* mincore, madvise */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "kv/store.h"

/* Pages of [p, p + bytes) that are resident, and how many pages that is. */
static size_t resident_pages(const uint8_t *p, size_t bytes, size_t *n_pages) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t begin = ((uintptr_t)p + page - 1) & ~(page - 1); /* whole pages inside */
    const uintptr_t end = ((uintptr_t)p + bytes) & ~(page - 1);
    *n_pages = end > begin ? (end - begin) / page : 0;
    unsigned char in_core[4096];
    assert_true(*n_pages <= sizeof in_core);
    if (*n_pages == 0) return 0;
    assert_int_equal(mincore((void *)begin, end - begin, in_core), 0);
    size_t n = 0;
    for (size_t i = 0; i < *n_pages; i++) n += in_core[i] & 1;
    return n;
}

/* Whether this kernel populates ranges on request (Linux 5.14 and later). */
static int kernel_populates(void) {
#ifdef MADV_POPULATE_WRITE
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const int ok = p != MAP_FAILED && madvise(p, page, MADV_POPULATE_WRITE) == 0;
    if (p != MAP_FAILED) munmap(p, page);
    return ok;
#else
    return 0;
#endif
}

static void first_use_maps_a_blocks_pages_and_no_others(void **state) {
    (void)state;
    if (!kernel_populates()) {
        printf("# MADV_POPULATE_WRITE unsupported here: skipped\n");
        skip();
    }
    /* 64 blocks of 12 layers x 16 slots x 768 f32: 576 KiB of K (and of V) each */
    const pa_kv_config cfg = {.n_layer = 12, .kv_dim = 768, .block_size = 16,
                              .elem_type = PA_KV_F32, .n_blocks = 64};
    pa_kv_store *s = NULL;
    pa_err err;
    assert_int_equal(pa_kv_store_create(&cfg, &s, &err), PYAGENT_OK);
    const size_t half = pa_kv_block_bytes(&cfg) / 2;
    size_t n_pages, resident;
    for (int i = 0; i < 3; i++) {
        const int32_t b = pa_kv_alloc(s);
        assert_int_equal(b, i); /* never-used blocks come in index order */
        const uint8_t *k = pa_kv_k(s, b, 0, 0), *v = pa_kv_v(s, b, 0, 0);
        resident = resident_pages(k, half, &n_pages);
        printf("# block %d: %zu of %zu K pages resident\n", b, resident, n_pages);
        assert_true(n_pages > 100);
        assert_int_equal(resident, n_pages);
        assert_int_equal(resident_pages(v, half, &n_pages), n_pages);
    }
    /* the last block was never handed out: its pages are still unmapped */
    resident = resident_pages(pa_kv_k(s, 63, 0, 0), half, &n_pages);
    printf("# block 63 (unused): %zu of %zu K pages resident\n", resident, n_pages);
    assert_int_equal(resident, 0);
    pa_kv_store_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_use_maps_a_blocks_pages_and_no_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
