/* SPDX-License-Identifier: MIT */
/*
 * cm_key.h: hash-table keys made of several names, and table entries that
 * carry their key inline (one allocation: the struct, then the key bytes),
 * so that the key a cm_htab points at lives exactly as long as its entry.
 */
#ifndef CM_KEY_H
#define CM_KEY_H

#include <stddef.h>

/*
 * Writes parts[0..n-1] (lens[i] bytes each; lens NULL: NUL-terminated)
 * joined by sep into buf (size bytes) and NUL-terminates it; sep may be
 * '\0'. Returns the key length (without the final NUL), or -1 when it does
 * not fit.
 */
long cm_key_join(char *buf, size_t size, const char *const *parts,
                 const size_t *lens, size_t n, char sep);

/*
 * Returns a zeroed block of head bytes followed by a copy of the len bytes
 * of key and a NUL (the caller's struct ends in `char key[]'), then copies
 * of the n strings strs (lens[i] bytes each), each NUL-terminated, with
 * out[i] pointing at them; or NULL when out of memory. One allocation: the
 * caller frees the block with free().
 */
void *cm_key_entry_new(size_t head, const char *key, size_t len,
                       const char *const *strs, const size_t *lens, size_t n,
                       const char **out);

/*
 * Grows *array (of *cap elements of elem bytes) so that it holds at least
 * need elements, doubling. Returns 0, or -1 (array unchanged) when out of
 * memory or the size overflows.
 */
int cm_vec_reserve(void **array, size_t *cap, size_t need, size_t elem);

#endif
