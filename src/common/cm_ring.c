/* SPDX-License-Identifier: MIT */
/* cm_ring.c: a bounded FIFO ring of fixed-size items (see cm_ring.h). */
#include "cm_ring.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int cm_ring_init(cm_ring_t *r, size_t size, size_t max, size_t reserve) {
  memset(r, 0, sizeof(*r));
  if (size == 0 || max == 0)
    return -1;
  size_t cap = reserve < max ? reserve : max;
  if (cap == 0)
    cap = 1;
  if (cap > SIZE_MAX / size)
    return -1;
  r->items = malloc(cap * size);
  if (r->items == NULL)
    return -1;
  r->size = size;
  r->cap = cap;
  r->max = max;
  return 0;
}

void cm_ring_free(cm_ring_t *r) {
  free(r->items);
  r->items = NULL;
  r->cap = r->head = r->len = 0;
}

/* Returns the address of slot i counted from the head (i < cap). */
static unsigned char *cm_ring_slot(const cm_ring_t *r, size_t i) {
  return r->items + ((r->head + i) % r->cap) * r->size;
}

/* Doubles the storage (up to max), unwrapping the items to the front.
 * Returns 0, or -1 when out of memory (the ring unchanged). */
static int cm_ring_grow(cm_ring_t *r) {
  size_t cap = r->cap == 0 ? 1 : r->cap <= r->max / 2 ? 2 * r->cap : r->max;
  if (cap > SIZE_MAX / r->size)
    return -1;
  unsigned char *items = malloc(cap * r->size);
  if (items == NULL)
    return -1;
  for (size_t i = 0; i < r->len; i++)
    memcpy(items + i * r->size, cm_ring_slot(r, i), r->size);
  free(r->items);
  r->items = items;
  r->cap = cap;
  r->head = 0;
  return 0;
}

size_t cm_ring_push(cm_ring_t *r, const void *items, size_t n) {
  const unsigned char *in = items;
  size_t taken = 0;
  while (taken < n) {
    if (r->len == r->cap && (r->cap == r->max || cm_ring_grow(r) != 0))
      break;
    memcpy(cm_ring_slot(r, r->len), in + taken * r->size, r->size);
    r->len++;
    taken++;
  }
  return taken;
}

size_t cm_ring_pop(cm_ring_t *r, void *out, size_t max) {
  unsigned char *o = out;
  size_t take = r->len < max ? r->len : max;
  for (size_t i = 0; i < take; i++)
    memcpy(o + i * r->size, cm_ring_slot(r, i), r->size);
  if (take > 0)
    r->head = (r->head + take) % r->cap;
  r->len -= take;
  return take;
}

size_t cm_ring_len(const cm_ring_t *r) {
  return r->len;
}
