/* SPDX-License-Identifier: MIT */
/* vq_join.c: a chained hash of waiting machines plus a list by age. */
#include "vq_join.h"

#include "common/cm_htab.h"
#include "vq_sample.h"

#include <stdlib.h>
#include <string.h>

struct vq_join {
  vq_pending_t **buckets;
  size_t nbuckets; /* a power of two */
  size_t count, max;
  vq_pending_t *oldest, *newest;
};

vq_join_t *vq_join_create(size_t max_pending) {
  vq_join_t *j = calloc(1, sizeof(*j));
  if (j == NULL)
    return NULL;
  j->max = max_pending > 0 ? max_pending : 1;
  j->nbuckets = 16;
  while (j->nbuckets < j->max && j->nbuckets < ((size_t)1 << 20))
    j->nbuckets <<= 1;
  j->buckets = calloc(j->nbuckets, sizeof(*j->buckets));
  if (j->buckets == NULL) {
    free(j);
    return NULL;
  }
  return j;
}

void vq_join_destroy(vq_join_t *j) {
  if (j == NULL)
    return;
  vq_pending_t *p = j->oldest;
  while (p != NULL) {
    vq_pending_t *next = p->next_age;
    free(p);
    p = next;
  }
  free(j->buckets);
  free(j);
}

/* Writes the join key of a message (site, space, factory, machinetype and
 * the machine, each with its length first) into buf of size bytes.
 * machine is the machine named. Returns the length, or 0 when it does not
 * fit or a part is missing. */
static size_t vq_join_key(char *buf, size_t size, const vq_message_t *m,
                          vq_str_t machine) {
  const vq_str_t parts[5] = {m->str[VQ_S_SITE], m->str[VQ_S_SPACE],
                             m->str[VQ_S_FACTORY], m->str[VQ_S_MACHINETYPE],
                             machine};
  size_t off = 0;
  for (size_t i = 0; i < 5; i++) {
    if (parts[i].ptr == NULL || parts[i].len == 0 ||
        off + sizeof(size_t) + parts[i].len > size)
      return 0;
    memcpy(buf + off, &parts[i].len, sizeof(size_t));
    off += sizeof(size_t);
    memcpy(buf + off, parts[i].ptr, parts[i].len);
    off += parts[i].len;
  }
  return off;
}

/* Longest key: five names, each at most a datagram. */
#define VQ_JOIN_KEY_MAX 4096

int vq_join_needs_wait(const vq_message_t *m) {
  static const char vcycle[] = "Vcycle";
  vq_str_t dv = m->str[VQ_S_DAEMON_VERSION];
  if (m->type != VQ_MSG_MACHINE)
    return 0;
  if (vq_shutdown_code(m->str[VQ_S_SHUTDOWN_MESSAGE]) >= 0)
    return 0;
  if (dv.ptr != NULL && dv.len >= sizeof(vcycle) - 1 &&
      memcmp(dv.ptr, vcycle, sizeof(vcycle) - 1) == 0)
    return 0;
  char key[VQ_JOIN_KEY_MAX];
  return vq_join_key(key, sizeof(key), m, m->str[VQ_S_MACHINE]) > 0;
}

/* Unlinks p from its bucket and from the age list. */
static void vq_join_unlink(vq_join_t *j, vq_pending_t *p) {
  vq_pending_t **b = &j->buckets[p->hash & (j->nbuckets - 1)];
  while (*b != NULL && *b != p)
    b = &(*b)->next_hash;
  if (*b == p)
    *b = p->next_hash;
  if (p->prev_age != NULL)
    p->prev_age->next_age = p->next_age;
  else
    j->oldest = p->next_age;
  if (p->next_age != NULL)
    p->next_age->prev_age = p->prev_age;
  else
    j->newest = p->prev_age;
  p->next_hash = p->prev_age = p->next_age = NULL;
  j->count--;
}

int vq_join_add(vq_join_t *j, const vq_message_t *m, const void *data,
                size_t len, uint64_t time, double deadline) {
  char key[VQ_JOIN_KEY_MAX];
  size_t key_len = vq_join_key(key, sizeof(key), m, m->str[VQ_S_MACHINE]);
  if (key_len == 0)
    return -1;
  if (j->count >= j->max)
    return 1;
  vq_pending_t *p = malloc(sizeof(*p) + key_len + len + 1);
  if (p == NULL)
    return -1;
  memcpy(p->key, key, key_len);
  memcpy(p->key + key_len, data, len);
  p->key[key_len + len] = '\0';
  p->key_len = key_len;
  p->data = p->key + key_len;
  p->len = len;
  p->time = time;
  p->deadline = deadline;
  p->hash = cm_hash(key, key_len);
  /* Appended to its bucket, so a machine sent twice is taken oldest
   * first. */
  p->next_hash = NULL;
  vq_pending_t **b = &j->buckets[p->hash & (j->nbuckets - 1)];
  while (*b != NULL)
    b = &(*b)->next_hash;
  *b = p;
  p->next_age = NULL;
  p->prev_age = j->newest;
  if (j->newest != NULL)
    j->newest->next_age = p;
  else
    j->oldest = p;
  j->newest = p;
  j->count++;
  return 0;
}

vq_pending_t *vq_join_take(vq_join_t *j, const vq_message_t *mt) {
  char key[VQ_JOIN_KEY_MAX];
  if (mt->type != VQ_MSG_MACHINETYPE || j->count == 0)
    return NULL;
  size_t key_len =
      vq_join_key(key, sizeof(key), mt, mt->str[VQ_S_SHUTDOWN_MACHINE]);
  if (key_len == 0)
    return NULL;
  uint64_t h = cm_hash(key, key_len);
  for (vq_pending_t *p = j->buckets[h & (j->nbuckets - 1)]; p != NULL;
       p = p->next_hash) {
    if (p->hash == h && p->key_len == key_len &&
        memcmp(p->key, key, key_len) == 0) {
      vq_join_unlink(j, p);
      return p;
    }
  }
  return NULL;
}

vq_pending_t *vq_join_expired(vq_join_t *j, double now) {
  vq_pending_t *p = j->oldest;
  if (p == NULL || p->deadline > now)
    return NULL;
  vq_join_unlink(j, p);
  return p;
}

size_t vq_join_count(const vq_join_t *j) {
  return j->count;
}
