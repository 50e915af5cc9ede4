/* SPDX-License-Identifier: MIT */
/* vq_queue.c: a ring of datagram pointers (common/cm_ring) and the sum of
 * their lengths, under one mutex and a CLOCK_MONOTONIC condition
 * variable. */
#include "vq_queue.h"

#include "common/cm_ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct vq_queue {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  cm_ring_t ring;   /* of vq_datagram_t * */
  size_t bytes;     /* sum of the len of the datagrams in ring */
  size_t max_bytes; /* bytes never exceeds it */
  int closed;
};

vq_datagram_t *vq_datagram_new(const void *data, size_t len,
                               const struct sockaddr *from, socklen_t fromlen,
                               uint64_t received) {
  vq_datagram_t *d = malloc(sizeof(*d) + len);
  if (d == NULL)
    return NULL;
  memset(&d->from, 0, sizeof(d->from));
  if (from != NULL && fromlen <= sizeof(d->from))
    memcpy(&d->from, from, fromlen);
  d->received = received;
  d->len = len;
  if (len > 0)
    memcpy(d->data, data, len);
  return d;
}

vq_queue_t *vq_queue_create(size_t capacity, size_t max_bytes) {
  vq_queue_t *q = calloc(1, sizeof(*q));
  if (q == NULL)
    return NULL;
  q->max_bytes = max_bytes;
  size_t cap = capacity > 0 ? capacity : 1;
  if (cm_ring_init(&q->ring, sizeof(vq_datagram_t *), cap, cap) != 0) {
    free(q);
    return NULL;
  }
  pthread_mutex_init(&q->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&q->cond, &attr);
  pthread_condattr_destroy(&attr);
  return q;
}

void vq_queue_destroy(vq_queue_t *q) {
  if (q == NULL)
    return;
  vq_datagram_t *d;
  while (cm_ring_pop(&q->ring, &d, 1) == 1)
    free(d);
  pthread_cond_destroy(&q->cond);
  pthread_mutex_destroy(&q->lock);
  cm_ring_free(&q->ring);
  free(q);
}

size_t vq_queue_push(vq_queue_t *q, vq_datagram_t **items, size_t n) {
  size_t left = 0; /* the ones not taken, moved to items[0..left) */
  pthread_mutex_lock(&q->lock);
  for (size_t i = 0; i < n; i++) {
    size_t len = items[i]->len;
    if (len <= q->max_bytes - q->bytes &&
        cm_ring_push(&q->ring, &items[i], 1) == 1)
      q->bytes += len;
    else
      items[left++] = items[i];
  }
  size_t take = n - left;
  if (take > 0)
    pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&q->lock);
  /* The taken ones are the queue's now: their slots are free to reuse. */
  if (take > 0 && left > 0)
    memmove(items + take, items, left * sizeof(*items));
  return take;
}

size_t vq_queue_pop(vq_queue_t *q, vq_datagram_t **items, size_t max,
                    int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&q->lock);
  while (cm_ring_len(&q->ring) == 0 && !q->closed) {
    if (pthread_cond_timedwait(&q->cond, &q->lock, &until) == ETIMEDOUT)
      break;
  }
  size_t take = cm_ring_pop(&q->ring, items, max);
  for (size_t i = 0; i < take; i++)
    q->bytes -= items[i]->len;
  pthread_mutex_unlock(&q->lock);
  return take;
}

void vq_queue_close(vq_queue_t *q) {
  pthread_mutex_lock(&q->lock);
  q->closed = 1;
  pthread_cond_broadcast(&q->cond);
  pthread_mutex_unlock(&q->lock);
}

size_t vq_queue_length(vq_queue_t *q) {
  pthread_mutex_lock(&q->lock);
  size_t n = cm_ring_len(&q->ring);
  pthread_mutex_unlock(&q->lock);
  return n;
}

size_t vq_queue_bytes(vq_queue_t *q) {
  pthread_mutex_lock(&q->lock);
  size_t n = q->bytes;
  pthread_mutex_unlock(&q->lock);
  return n;
}
