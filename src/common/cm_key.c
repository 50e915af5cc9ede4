/* SPDX-License-Identifier: MIT */
/* cm_key.c: composite keys, entries with inline keys, growing arrays. */
#include "cm_key.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

long cm_key_join(char *buf, size_t size, const char *const *parts,
                 const size_t *lens, size_t n, char sep) {
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    size_t l = lens != NULL ? lens[i] : strlen(parts[i]);
    if (off + (i > 0) + l + 1 > size)
      return -1;
    if (i > 0)
      buf[off++] = sep;
    memcpy(buf + off, parts[i], l);
    off += l;
  }
  if (size == 0)
    return -1;
  buf[off] = '\0';
  return (long)off;
}

void *cm_key_entry_new(size_t head, const char *key, size_t len,
                       const char *const *strs, const size_t *lens, size_t n,
                       const char **out) {
  size_t size = head + len + 1;
  for (size_t i = 0; i < n; i++)
    size += lens[i] + 1;
  char *block = calloc(1, size);
  if (block == NULL)
    return NULL;
  char *p = block + head;
  memcpy(p, key, len); /* calloc wrote the NULs */
  p += len + 1;
  for (size_t i = 0; i < n; i++) {
    out[i] = p;
    if (lens[i] > 0)
      memcpy(p, strs[i], lens[i]);
    p += lens[i] + 1;
  }
  return block;
}

int cm_vec_reserve(void **array, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t n = *cap > 0 ? *cap : 4;
  while (n < need) {
    if (n > SIZE_MAX / 2)
      return -1;
    n *= 2;
  }
  if (elem == 0 || n > SIZE_MAX / elem)
    return -1;
  void *p = realloc(*array, n * elem);
  if (p == NULL)
    return -1;
  *array = p;
  *cap = n;
  return 0;
}
