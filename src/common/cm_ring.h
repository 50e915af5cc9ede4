/* SPDX-License-Identifier: MIT */
/*
 * cm_ring.h: a bounded first-in first-out ring of fixed-size items.
 *
 * The one queue of the project: vacquery's receive -> worker hand-off
 * (vq_queue) and write_elasticsearch's document queue (es_sender) both
 * keep their items here. The ring copies items in and out by value (an
 * item is often a pointer); it never frees what an item points at. It holds
 * at most `max' items: a push that does not fit takes what fits and
 * reports how many it took, so the caller counts (and frees) the rest.
 * Storage starts at `reserve' items and doubles up to max on demand.
 *
 * Not synchronised: the owner holds its own lock around every call (the
 * hand-off waits on its own condition variable, with CLOCK_MONOTONIC).
 */
#ifndef CM_RING_H
#define CM_RING_H

#include <stddef.h>

typedef struct {
  unsigned char *items; /* cap slots of size bytes */
  size_t size, cap, max, head, len;
} cm_ring_t;

/*
 * Makes r an empty ring of items of size bytes (size > 0) holding at most
 * max items (max > 0), with room for min(reserve, max) allocated now.
 * Returns 0, or -1 (r left empty, nothing to free) when out of memory or
 * the sizes are 0 or overflow.
 */
int cm_ring_init(cm_ring_t *r, size_t size, size_t max, size_t reserve);

/* Frees r's storage (not what the items point at: pop them first). The
 * ring is then empty with no storage. */
void cm_ring_free(cm_ring_t *r);

/*
 * Copies up to n items (n * size bytes at items) to the tail, in order,
 * growing the storage while the ring holds fewer than max. Returns how many
 * it took: n - the return value items (the last ones) did not fit and are
 * still the caller's.
 */
size_t cm_ring_push(cm_ring_t *r, const void *items, size_t n);

/* Moves up to max items from the head into out (room for max items), in
 * order. Returns how many. */
size_t cm_ring_pop(cm_ring_t *r, void *out, size_t max);

/* Returns the number of items in r. */
size_t cm_ring_len(const cm_ring_t *r);

#endif
