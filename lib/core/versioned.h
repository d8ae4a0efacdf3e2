/* Public structs versioned by their first field, uint32_t struct_size (DESIGN §4): the library
 * fills only the fields the caller's struct has room for, so old hosts keep working when fields
 * are appended. */
#ifndef PA_CORE_VERSIONED_H
#define PA_CORE_VERSIONED_H

#include <stdint.h>
#include <string.h>

/* Copies the first min(dst's struct_size, full_size) bytes of src (a struct of full_size bytes
 * with struct_size first) to dst, keeping dst's struct_size. */
static inline void pa_copy_versioned(void *dst, const void *src, size_t full_size) {
    uint32_t asked;
    memcpy(&asked, dst, sizeof asked);
    memcpy(dst, src, asked < full_size ? asked : full_size);
    memcpy(dst, &asked, sizeof asked);
}

#endif
