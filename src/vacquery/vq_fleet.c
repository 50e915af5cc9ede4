/* SPDX-License-Identifier: MIT */
/* vq_fleet.c: factory registry and finished-machine totals. */
#include "vq_fleet.h"
#include "common/cm_htab.h"
#include "common/cm_key.h"

#include <stdlib.h>
#include <string.h>

struct vq_fleet {
  cm_htab_t *factories;    /* "host/plugin_instance" -> vq_factory_entry_t */
  cm_htab_t *machinetypes; /* "host/pi/ti" -> vq_child_entry_t */
  cm_htab_t *finished;     /* "host/pi/ti" -> vq_finished_entry_t */
  size_t max_factories, max_machinetypes, max_finished;
};

/* One allocation per entry: the struct, its table key, then the strings
 * that the public part points to. */
typedef struct {
  vq_factory_t pub;
  int forget; /* marked by vq_fleet_forget() */
  size_t key_len;
  char key[];
} vq_factory_entry_t;

/* A machinetype: its key starts with its factory's key (fac_len bytes). */
typedef struct {
  size_t fac_len, key_len;
  char key[];
} vq_child_entry_t;

typedef struct {
  vq_finished_total_t pub;
  size_t fac_len, key_len;
  char key[];
} vq_finished_entry_t;

vq_fleet_t *vq_fleet_create(void) {
  vq_fleet_t *f = calloc(1, sizeof(*f));
  if (f == NULL)
    return NULL;
  f->factories = cm_htab_create();
  f->machinetypes = cm_htab_create();
  f->finished = cm_htab_create();
  f->max_factories = VQ_FLEET_MAX_FACTORIES;
  f->max_machinetypes = VQ_FLEET_MAX_MACHINETYPES;
  f->max_finished = VQ_FLEET_MAX_FINISHED;
  if (f->factories == NULL || f->machinetypes == NULL || f->finished == NULL) {
    vq_fleet_destroy(f);
    return NULL;
  }
  return f;
}

void vq_fleet_destroy(vq_fleet_t *f) {
  if (f == NULL)
    return;
  cm_htab_destroy(f->factories, free);
  cm_htab_destroy(f->machinetypes, free);
  cm_htab_destroy(f->finished, free);
  free(f);
}

void vq_fleet_set_limits(vq_fleet_t *f, size_t max_factories,
                         size_t max_machinetypes, size_t max_finished) {
  if (max_factories > 0)
    f->max_factories = max_factories;
  if (max_machinetypes > 0)
    f->max_machinetypes = max_machinetypes;
  if (max_finished > 0)
    f->max_finished = max_finished;
}

static vq_str_t vq_cstr(const char *s) {
  return (vq_str_t){s, strlen(s)};
}

/* Writes the n slices parts[] joined by '/' into buf (size bytes,
 * NUL-terminated). Returns the length; every caller's buffer holds three
 * collectd names, so it always fits. */
static size_t vq_key(char *buf, size_t size, const vq_str_t *parts, size_t n) {
  const char *p[3];
  size_t l[3];
  for (size_t i = 0; i < n && i < 3; i++) {
    p[i] = parts[i].ptr != NULL ? parts[i].ptr : "";
    l[i] = parts[i].len;
  }
  long len = cm_key_join(buf, size, p, l, n < 3 ? n : 3, '/');
  return len < 0 ? 0 : (size_t)len;
}

/* Returns an entry of head bytes with the key and the n slices strs copied
 * after it (out[i] pointing at them), or NULL (cm_key_entry_new). */
static void *vq_entry_new(size_t head, const char *key, size_t key_len,
                          const vq_str_t *strs, size_t n, const char **out) {
  const char *p[5];
  size_t l[5];
  for (size_t i = 0; i < n && i < 5; i++) {
    p[i] = strs[i].ptr != NULL ? strs[i].ptr : "";
    l[i] = strs[i].len;
  }
  return cm_key_entry_new(head, key, key_len, p, l, n < 5 ? n : 5, out);
}

int vq_fleet_seen(vq_fleet_t *f, const vq_ident_t *id, const vq_message_t *m,
                  double now) {
  vq_str_t slots[3] = {vq_cstr(id->host), vq_cstr(id->plugin_instance),
                       vq_cstr(id->type_instance)};
  char key[3 * VQ_NAME_MAX];
  size_t len = vq_key(key, sizeof(key), slots, 2);
  vq_factory_entry_t *e = cm_htab_get(f->factories, key, len);
  vq_child_entry_t *mt = NULL;
  size_t mt_len = 0;
  char mt_key[3 * VQ_NAME_MAX];
  int new_mt = 0;
  if (m->type == VQ_MSG_MACHINETYPE) {
    mt_len = vq_key(mt_key, sizeof(mt_key), slots, 3);
    mt = cm_htab_get(f->machinetypes, mt_key, mt_len);
    new_mt = mt == NULL;
    if (new_mt && cm_htab_count(f->machinetypes) >= f->max_machinetypes)
      return VQ_FLEET_FULL;
  }
  if (e == NULL) {
    if (cm_htab_count(f->factories) >= f->max_factories)
      return VQ_FLEET_FULL;
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
  if (new_mt) {
    mt = vq_entry_new(sizeof(*mt), mt_key, mt_len, NULL, 0, NULL);
    if (mt == NULL)
      return -1;
    mt->fac_len = len;
    mt->key_len = mt_len;
    if (cm_htab_put(f->machinetypes, mt->key, mt_len, mt) != 0) {
      free(mt);
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
  size_t len = vq_key(key, sizeof(key), slots, 3);
  vq_finished_entry_t *e = cm_htab_get(f->finished, key, len);
  if (e == NULL) {
    if (cm_htab_count(f->finished) >= f->max_finished)
      return VQ_FLEET_FULL;
    const char *out[3];
    e = vq_entry_new(sizeof(*e), key, len, slots, 3, out);
    if (e == NULL)
      return -1;
    e->key_len = len;
    e->fac_len = slots[0].len + 1 + slots[1].len;
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

/* Returns 1 when the factory whose key is the first fac_len bytes of key
 * is marked to be forgotten. */
static int vq_factory_forgotten(const vq_fleet_t *f, const char *key,
                                size_t fac_len) {
  vq_factory_entry_t *e = cm_htab_get(f->factories, key, fac_len);
  return e != NULL && e->forget;
}

/* cm_htab_destroy() callback that frees nothing: the entries moved. */
static void vq_keep(void *p) {
  (void)p;
}

size_t vq_fleet_forget(vq_fleet_t *f, double now, double forget_after) {
  size_t n = 0, iter = 0;
  vq_factory_entry_t *e;
  while ((e = cm_htab_next(f->factories, &iter)) != NULL) {
    e->forget = now - e->pub.last_seen > forget_after;
    n += (size_t)e->forget;
  }
  if (n == 0)
    return 0;
  /* cm_htab has no removal: the survivors move to new tables. */
  cm_htab_t *fac = cm_htab_create(), *mts = cm_htab_create(),
            *fin = cm_htab_create();
  int failed = fac == NULL || mts == NULL || fin == NULL;
  vq_child_entry_t *c;
  iter = 0;
  while (!failed && (c = cm_htab_next(f->machinetypes, &iter)) != NULL)
    if (!vq_factory_forgotten(f, c->key, c->fac_len))
      failed = cm_htab_put(mts, c->key, c->key_len, c) != 0;
  vq_finished_entry_t *t;
  iter = 0;
  while (!failed && (t = cm_htab_next(f->finished, &iter)) != NULL)
    if (!vq_factory_forgotten(f, t->key, t->fac_len))
      failed = cm_htab_put(fin, t->key, t->key_len, t) != 0;
  iter = 0;
  while (!failed && (e = cm_htab_next(f->factories, &iter)) != NULL)
    if (!e->forget)
      failed = cm_htab_put(fac, e->key, e->key_len, e) != 0;
  if (failed) {
    cm_htab_destroy(fac, vq_keep);
    cm_htab_destroy(mts, vq_keep);
    cm_htab_destroy(fin, vq_keep);
    iter = 0;
    while ((e = cm_htab_next(f->factories, &iter)) != NULL)
      e->forget = 0;
    return (size_t)-1;
  }
  /* Free what did not move, then swap the tables. */
  iter = 0;
  while ((c = cm_htab_next(f->machinetypes, &iter)) != NULL)
    if (vq_factory_forgotten(f, c->key, c->fac_len))
      free(c);
  iter = 0;
  while ((t = cm_htab_next(f->finished, &iter)) != NULL)
    if (vq_factory_forgotten(f, t->key, t->fac_len))
      free(t);
  iter = 0;
  while ((e = cm_htab_next(f->factories, &iter)) != NULL)
    if (e->forget)
      free(e);
  cm_htab_destroy(f->factories, vq_keep);
  cm_htab_destroy(f->machinetypes, vq_keep);
  cm_htab_destroy(f->finished, vq_keep);
  f->factories = fac;
  f->machinetypes = mts;
  f->finished = fin;
  return n;
}

size_t vq_fleet_machinetypes(const vq_fleet_t *f) {
  return cm_htab_count(f->machinetypes);
}

size_t vq_fleet_finished_series(const vq_fleet_t *f) {
  return cm_htab_count(f->finished);
}
