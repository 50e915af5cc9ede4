/* SPDX-License-Identifier: MIT */
/* vq_sources.c: per-source token buckets and log limiting. */
#include "vq_sources.h"
#include "common/cm_htab.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  unsigned char key[17]; /* family byte + address */
  size_t key_len;
  double tokens, filled; /* bucket level and when it was last topped up */
  double logged;         /* last time a rejection was logged; <0 never */
} vq_source_t;

struct vq_sources {
  cm_htab_t *table;
  size_t max_sources, resets;
  double rate, burst;
};

vq_sources_t *vq_sources_create(size_t max_sources, double rate, double burst) {
  vq_sources_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return NULL;
  s->table = cm_htab_create();
  if (s->table == NULL) {
    free(s);
    return NULL;
  }
  s->max_sources = max_sources > 0 ? max_sources : 1;
  s->rate = rate;
  s->burst = burst < 1 ? 1 : burst;
  return s;
}

void vq_sources_destroy(vq_sources_t *s) {
  if (s == NULL)
    return;
  cm_htab_destroy(s->table, free);
  free(s);
}

size_t vq_sources_resets(const vq_sources_t *s) {
  return s->resets;
}

/* Writes the key of sa (family byte + address, no port) into key and
 * returns its length, or 0 for an unknown family. */
static size_t vq_source_key(const struct sockaddr *sa, unsigned char *key) {
  if (sa->sa_family == AF_INET) {
    key[0] = 4;
    memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    return 5;
  }
  if (sa->sa_family == AF_INET6) {
    key[0] = 6;
    memcpy(key + 1, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    return 17;
  }
  return 0;
}

/* Returns the entry for sa, creating it (with a full bucket) if needed, or
 * NULL on allocation failure or an unknown address family. */
static vq_source_t *vq_source_get(vq_sources_t *s, const struct sockaddr *sa,
                                  double now) {
  unsigned char key[17];
  size_t len = vq_source_key(sa, key);
  if (len == 0)
    return NULL;
  vq_source_t *src = cm_htab_get(s->table, key, len);
  if (src != NULL)
    return src;
  if (cm_htab_count(s->table) >= s->max_sources) {
    cm_htab_clear(s->table, free);
    s->resets++;
  }
  src = calloc(1, sizeof(*src));
  if (src == NULL)
    return NULL;
  memcpy(src->key, key, len);
  src->key_len = len;
  src->tokens = s->burst;
  src->filled = now;
  src->logged = -1;
  if (cm_htab_put(s->table, src->key, len, src) != 0) {
    free(src);
    return NULL;
  }
  return src;
}

int vq_sources_allow(vq_sources_t *s, const struct sockaddr *sa, double now) {
  if (s->rate <= 0)
    return 1;
  vq_source_t *src = vq_source_get(s, sa, now);
  if (src == NULL)
    return 1; /* out of memory: fail open rather than lose data */
  if (now > src->filled) {
    src->tokens += (now - src->filled) * s->rate;
    if (src->tokens > s->burst)
      src->tokens = s->burst;
    src->filled = now;
  }
  if (src->tokens < 1)
    return 0;
  src->tokens -= 1;
  return 1;
}

int vq_sources_may_log(vq_sources_t *s, const struct sockaddr *sa, double now,
                       double interval) {
  vq_source_t *src = vq_source_get(s, sa, now);
  if (src == NULL)
    return 0;
  if (src->logged >= 0 && now - src->logged < interval)
    return 0;
  src->logged = now;
  return 1;
}
