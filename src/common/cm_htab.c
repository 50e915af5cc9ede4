/* SPDX-License-Identifier: MIT */
/* cm_htab.c: linear-probing hash table, grown at 50% load. */
#include "cm_htab.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  uint64_t hash;
  const void *key;
  size_t len;
  void *value; /* NULL: empty slot */
} cm_slot_t;

struct cm_htab {
  cm_slot_t *slots;
  size_t cap; /* power of two */
  size_t count;
};

#define CM_HTAB_MIN 16

uint64_t cm_hash(const void *key, size_t len) {
  const unsigned char *p = key;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

cm_htab_t *cm_htab_create(void) {
  cm_htab_t *h = calloc(1, sizeof(*h));
  if (h == NULL)
    return NULL;
  h->slots = calloc(CM_HTAB_MIN, sizeof(*h->slots));
  if (h->slots == NULL) {
    free(h);
    return NULL;
  }
  h->cap = CM_HTAB_MIN;
  return h;
}

void cm_htab_clear(cm_htab_t *h, void (*free_value)(void *)) {
  for (size_t i = 0; i < h->cap; i++) {
    if (h->slots[i].value != NULL && free_value != NULL)
      free_value(h->slots[i].value);
  }
  memset(h->slots, 0, h->cap * sizeof(*h->slots));
  h->count = 0;
}

void cm_htab_destroy(cm_htab_t *h, void (*free_value)(void *)) {
  if (h == NULL)
    return;
  cm_htab_clear(h, free_value);
  free(h->slots);
  free(h);
}

/* Returns the slot holding key, or the empty slot where it would go. */
static cm_slot_t *cm_htab_find(cm_slot_t *slots, size_t cap, uint64_t hash,
                               const void *key, size_t len) {
  size_t i = (size_t)hash & (cap - 1);
  for (;;) {
    cm_slot_t *s = &slots[i];
    if (s->value == NULL ||
        (s->hash == hash && s->len == len && memcmp(s->key, key, len) == 0))
      return s;
    i = (i + 1) & (cap - 1);
  }
}

void *cm_htab_get(const cm_htab_t *h, const void *key, size_t len) {
  uint64_t hash = cm_hash(key, len);
  return cm_htab_find(h->slots, h->cap, hash, key, len)->value;
}

/* Doubles the capacity. Returns 0 or -1. */
static int cm_htab_grow(cm_htab_t *h) {
  size_t cap = h->cap * 2;
  cm_slot_t *slots = calloc(cap, sizeof(*slots));
  if (slots == NULL)
    return -1;
  for (size_t i = 0; i < h->cap; i++) {
    cm_slot_t *s = &h->slots[i];
    if (s->value != NULL)
      *cm_htab_find(slots, cap, s->hash, s->key, s->len) = *s;
  }
  free(h->slots);
  h->slots = slots;
  h->cap = cap;
  return 0;
}

int cm_htab_put(cm_htab_t *h, const void *key, size_t len, void *value) {
  if ((h->count + 1) * 2 > h->cap && cm_htab_grow(h) != 0)
    return -1;
  uint64_t hash = cm_hash(key, len);
  cm_slot_t *s = cm_htab_find(h->slots, h->cap, hash, key, len);
  if (s->value == NULL)
    h->count++;
  *s = (cm_slot_t){hash, key, len, value};
  return 0;
}

size_t cm_htab_count(const cm_htab_t *h) {
  return h->count;
}

void *cm_htab_next(const cm_htab_t *h, size_t *iter) {
  while (*iter < h->cap) {
    void *v = h->slots[(*iter)++].value;
    if (v != NULL)
      return v;
  }
  return NULL;
}
