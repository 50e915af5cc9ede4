/* SPDX-License-Identifier: MIT */
/* vq_fleet.c: factory registry and finished-machine totals. */
#include "vq_fleet.h"
#include "common/cm_htab.h"

#include <stdlib.h>
#include <string.h>

struct vq_fleet {
  cm_htab_t *factories; /* "host/plugin_instance" -> vq_factory_entry_t */
  cm_htab_t *finished;  /* "host/pi/ti" -> vq_finished_entry_t */
};

/* One allocation per entry: the struct, its table key, then the strings
 * that the public part points to. */
typedef struct {
  vq_factory_t pub;
  size_t key_len;
  char key[];
} vq_factory_entry_t;

typedef struct {
  vq_finished_total_t pub;
  size_t key_len;
  char key[];
} vq_finished_entry_t;

vq_fleet_t *vq_fleet_create(void) {
  vq_fleet_t *f = calloc(1, sizeof(*f));
  if (f == NULL)
    return NULL;
  f->factories = cm_htab_create();
  f->finished = cm_htab_create();
  if (f->factories == NULL || f->finished == NULL) {
    vq_fleet_destroy(f);
    return NULL;
  }
  return f;
}

void vq_fleet_destroy(vq_fleet_t *f) {
  if (f == NULL)
    return;
  cm_htab_destroy(f->factories, free);
  cm_htab_destroy(f->finished, free);
  free(f);
}

static vq_str_t vq_cstr(const char *s) {
  return (vq_str_t){s, strlen(s)};
}

/* Writes the n slices parts[] joined by '/' into buf (NUL-terminated) and
 * returns the length. buf must hold the sum of lengths plus n bytes. */
static size_t vq_key(char *buf, const vq_str_t *parts, size_t n) {
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      buf[off++] = '/';
    memcpy(buf + off, parts[i].ptr, parts[i].len);
    off += parts[i].len;
  }
  buf[off] = '\0';
  return off;
}

/*
 * Allocates `head' bytes of struct followed by the key (key_len bytes plus
 * NUL) and then the n slices of strs, each NUL-terminated; points out[i]
 * at the copies. Returns the block (caller owns it) or NULL.
 */
static void *vq_entry_new(size_t head, const char *key, size_t key_len,
                          const vq_str_t *strs, size_t n, const char **out) {
  size_t size = head + key_len + 1;
  for (size_t i = 0; i < n; i++)
    size += strs[i].len + 1;
  char *block = calloc(1, size);
  if (block == NULL)
    return NULL;
  char *p = block + head;
  memcpy(p, key, key_len + 1);
  p += key_len + 1;
  for (size_t i = 0; i < n; i++) {
    out[i] = p;
    if (strs[i].len > 0)
      memcpy(p, strs[i].ptr, strs[i].len);
    p += strs[i].len;
    *p++ = '\0';
  }
  return block;
}

int vq_fleet_seen(vq_fleet_t *f, const vq_ident_t *id, const vq_message_t *m,
                  double now) {
  vq_str_t slots[2] = {vq_cstr(id->host), vq_cstr(id->plugin_instance)};
  char key[2 * VQ_NAME_MAX];
  size_t len = vq_key(key, slots, 2);
  vq_factory_entry_t *e = cm_htab_get(f->factories, key, len);
  if (e == NULL) {
    const vq_str_t *s = m->str;
    vq_str_t strs[5] = {slots[0], slots[1], s[VQ_S_SITE], s[VQ_S_SPACE],
                        s[VQ_S_FACTORY]};
    const char *out[5];
    e = vq_entry_new(sizeof(*e), key, len, strs, 5, out);
    if (e == NULL)
      return -1;
    e->key_len = len;
    e->pub = (vq_factory_t){.host = out[0],
                            .plugin_instance = out[1],
                            .site = out[2],
                            .space = out[3],
                            .factory = out[4]};
    if (cm_htab_put(f->factories, e->key, len, e) != 0) {
      free(e);
      return -1;
    }
  }
  int was_stale = e->pub.stale;
  e->pub.stale = 0;
  if (now > e->pub.last_seen)
    e->pub.last_seen = now;
  return was_stale;
}

int vq_fleet_add_finished(vq_fleet_t *f, const vq_ident_t *id,
                          const vq_finished_t *fin) {
  vq_str_t slots[3] = {vq_cstr(id->host), vq_cstr(id->plugin_instance),
                       vq_cstr(id->type_instance)};
  char key[3 * VQ_NAME_MAX];
  size_t len = vq_key(key, slots, 3);
  vq_finished_entry_t *e = cm_htab_get(f->finished, key, len);
  if (e == NULL) {
    const char *out[3];
    e = vq_entry_new(sizeof(*e), key, len, slots, 3, out);
    if (e == NULL)
      return -1;
    e->key_len = len;
    e->pub = (vq_finished_total_t){
        .host = out[0], .plugin_instance = out[1], .type_instance = out[2]};
    if (cm_htab_put(f->finished, e->key, len, e) != 0) {
      free(e);
      return -1;
    }
  }
  e->pub.machines++;
  e->pub.cpu_seconds += fin->cpu_seconds;
  e->pub.wall_seconds += fin->wall_seconds;
  e->pub.hs06_seconds += fin->hs06_seconds;
  return 0;
}

size_t vq_fleet_check_stale(vq_fleet_t *f, double now, double timeout,
                            void (*cb)(void *ctx, const vq_factory_t *fac),
                            void *ctx) {
  size_t stale = 0, iter = 0;
  vq_factory_entry_t *e;
  while ((e = cm_htab_next(f->factories, &iter)) != NULL) {
    if (!e->pub.stale && now - e->pub.last_seen > timeout) {
      e->pub.stale = 1;
      if (cb != NULL)
        cb(ctx, &e->pub);
    }
    stale += (size_t)e->pub.stale;
  }
  return stale;
}

/* Per-site counts, keyed by the site's host slot. */
typedef struct {
  const char *host;
  size_t factories, stale;
} vq_site_count_t;

int vq_fleet_foreach_site(const vq_fleet_t *f,
                          void (*cb)(void *ctx, const char *host,
                                     size_t factories, size_t stale),
                          void *ctx) {
  cm_htab_t *sites = cm_htab_create();
  if (sites == NULL)
    return -1;
  int status = 0;
  size_t iter = 0;
  vq_factory_entry_t *e;
  while ((e = cm_htab_next(f->factories, &iter)) != NULL) {
    size_t hl = strlen(e->pub.host);
    vq_site_count_t *c = cm_htab_get(sites, e->pub.host, hl);
    if (c == NULL) {
      c = calloc(1, sizeof(*c));
      if (c == NULL || cm_htab_put(sites, e->pub.host, hl, c) != 0) {
        free(c);
        status = -1;
        break;
      }
      c->host = e->pub.host;
    }
    c->factories++;
    c->stale += (size_t)e->pub.stale;
  }
  iter = 0;
  vq_site_count_t *c;
  while (status == 0 && (c = cm_htab_next(sites, &iter)) != NULL)
    cb(ctx, c->host, c->factories, c->stale);
  cm_htab_destroy(sites, free);
  return status;
}

void vq_fleet_foreach_finished(const vq_fleet_t *f,
                               void (*cb)(void *ctx,
                                          const vq_finished_total_t *t),
                               void *ctx) {
  size_t iter = 0;
  vq_finished_entry_t *e;
  while ((e = cm_htab_next(f->finished, &iter)) != NULL)
    cb(ctx, &e->pub);
}

size_t vq_fleet_factories(const vq_fleet_t *f) {
  return cm_htab_count(f->factories);
}
