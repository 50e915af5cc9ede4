/* SPDX-License-Identifier: MIT */
/* vq_queue.c: a ring of datagram pointers under one mutex. */
#include "vq_queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct vq_queue {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  vq_datagram_t **ring;
  size_t capacity, head, count;
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

vq_queue_t *vq_queue_create(size_t capacity) {
  vq_queue_t *q = calloc(1, sizeof(*q));
  if (q == NULL)
    return NULL;
  q->ring = calloc(capacity > 0 ? capacity : 1, sizeof(*q->ring));
  if (q->ring == NULL) {
    free(q);
    return NULL;
  }
  q->capacity = capacity > 0 ? capacity : 1;
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
  for (size_t i = 0; i < q->count; i++)
    free(q->ring[(q->head + i) % q->capacity]);
  pthread_cond_destroy(&q->cond);
  pthread_mutex_destroy(&q->lock);
  free(q->ring);
  free(q);
}

size_t vq_queue_push(vq_queue_t *q, vq_datagram_t **items, size_t n) {
  pthread_mutex_lock(&q->lock);
  size_t room = q->capacity - q->count;
  size_t take = n < room ? n : room;
  for (size_t i = 0; i < take; i++)
    q->ring[(q->head + q->count + i) % q->capacity] = items[i];
  q->count += take;
  if (take > 0)
    pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&q->lock);
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
  while (q->count == 0 && !q->closed) {
    if (pthread_cond_timedwait(&q->cond, &q->lock, &until) == ETIMEDOUT)
      break;
  }
  size_t take = q->count < max ? q->count : max;
  for (size_t i = 0; i < take; i++)
    items[i] = q->ring[(q->head + i) % q->capacity];
  q->head = (q->head + take) % q->capacity;
  q->count -= take;
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
  size_t n = q->count;
  pthread_mutex_unlock(&q->lock);
  return n;
}
