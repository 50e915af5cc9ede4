/* SPDX-License-Identifier: MIT */
/*
 * vq_queue.h: the bounded hand-off between the receive thread and the
 * worker thread.
 *
 * The receive thread only receives and pushes; a datagram that does not fit
 * is left to it, to free and count. The worker pops in batches.
 *
 * Two bounds: a number of datagrams and a number of bytes. A datagram's
 * bytes are its payload, len (the bytes vq_datagram_new() copied into its
 * allocation); the fixed part of each allocation, sizeof(vq_datagram_t),
 * is bounded by the count. A zero-length datagram costs no bytes.
 */
#ifndef VQ_QUEUE_H
#define VQ_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* One received datagram. Allocated with vq_datagram_new(), freed with
 * free(). */
typedef struct {
  struct sockaddr_storage from;
  /* Receive time in collectd's cdtime_t ticks (2^-30 s since the epoch),
   * kept exact to the dispatch: a double holds only about one tick in 256
   * at today's epoch, which merged the per-datagram offsets that keep two
   * messages of one identifier in one receive batch apart. */
  uint64_t received;
  size_t len;
  char data[];
} vq_datagram_t;

typedef struct vq_queue vq_queue_t;

/* Returns a datagram holding a copy of the len bytes at data, or NULL. */
vq_datagram_t *vq_datagram_new(const void *data, size_t len,
                               const struct sockaddr *from, socklen_t fromlen,
                               uint64_t received);

/*
 * Returns a queue that holds at most capacity datagrams (0 counts as 1)
 * whose lengths add up to at most max_bytes, or NULL when out of memory.
 * The caller destroys it with vq_queue_destroy().
 */
vq_queue_t *vq_queue_create(size_t capacity, size_t max_bytes);

/* Frees the queue and any datagrams still in it; NULL is allowed. */
void vq_queue_destroy(vq_queue_t *q);

/*
 * Moves the datagrams of items[0..n) that fit into the queue, in order, and
 * wakes the worker. Each is taken when the queue then holds at most its
 * capacity and at most max_bytes; one that does not fit is skipped, and a
 * later, smaller one may still fit. Returns how many it took, k: the
 * queue owns what it took, and items[k..n) are then the ones it did not
 * take, in their order, still the caller's.
 */
size_t vq_queue_push(vq_queue_t *q, vq_datagram_t **items, size_t n);

/*
 * Moves up to max datagrams into items[] (the caller then owns them),
 * waiting up to timeout_ms for the first. Returns the count: 0 on timeout,
 * or when the queue is closed and empty.
 */
size_t vq_queue_pop(vq_queue_t *q, vq_datagram_t **items, size_t max,
                    int timeout_ms);

/* Wakes every waiter; pop then returns what is left and then 0. */
void vq_queue_close(vq_queue_t *q);

/* Returns the number of datagrams waiting. */
size_t vq_queue_length(vq_queue_t *q);

/* Returns the sum of the lengths of the datagrams waiting. */
size_t vq_queue_bytes(vq_queue_t *q);

#endif
