/* SPDX-License-Identifier: MIT */
/*
 * gm_vo.c: per-site, per-VO totals of running processors and machines.
 */
#include "gm_vo.h"

#include "common/cm_htab.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct gm_vo {
  cm_htab_t *entries; /* "site\0pi\0ti" -> gm_vo_entry_t */
};

/* The latest values of one machinetype of one factory. */
typedef struct {
  size_t key_len;
  size_t route;
  const char *site, *vo; /* into key / vo_buf */
  double rp, rm, last;
  char *vo_buf;
  char key[]; /* site \0 pi \0 ti */
} gm_vo_entry_t;

/* A (site, VO) total being summed. */
typedef struct {
  gm_vo_total_t t;
  double last; /* of the newest entry, for route */
  size_t key_len;
  char key[]; /* site \0 vo */
} gm_vo_sum_t;

static void gm_vo_entry_free(void *p) {
  gm_vo_entry_t *e = p;
  free(e->vo_buf);
  free(e);
}

gm_vo_t *gm_vo_create(void) {
  gm_vo_t *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return NULL;
  if ((t->entries = cm_htab_create()) == NULL) {
    free(t);
    return NULL;
  }
  return t;
}

void gm_vo_destroy(gm_vo_t *t) {
  if (t == NULL)
    return;
  cm_htab_destroy(t->entries, gm_vo_entry_free);
  free(t);
}

size_t gm_vo_count(const gm_vo_t *t) {
  return cm_htab_count(t->entries);
}

/* Returns a new entry for the key of site, pi and ti, or NULL. */
static gm_vo_entry_t *gm_vo_entry_new(const char *site, const char *pi,
                                      const char *ti, const char *dot) {
  size_t sl = strlen(site), pl = strlen(pi), tl = strlen(ti);
  size_t len = sl + 1 + pl + 1 + tl;
  gm_vo_entry_t *e = calloc(1, sizeof(*e) + len + 1);
  if (e == NULL)
    return NULL;
  memcpy(e->key, site, sl + 1);
  memcpy(e->key + sl + 1, pi, pl + 1);
  memcpy(e->key + sl + 1 + pl + 1, ti, tl + 1);
  e->key_len = len;
  e->site = e->key;
  e->vo_buf = strndup(ti, (size_t)(dot - ti));
  if (e->vo_buf == NULL) {
    free(e);
    return NULL;
  }
  e->vo = e->vo_buf;
  return e;
}

int gm_vo_update(gm_vo_t *t, const char *site, size_t route,
                 const char *plugin_instance, const char *type_instance,
                 double running_processors, double running_machines,
                 double now) {
  const char *dot = strchr(type_instance, '.');
  if (site[0] == '\0' || plugin_instance[0] == '\0' || dot == NULL ||
      dot == type_instance)
    return -1;
  char key[3 * 128];
  size_t sl = strlen(site), pl = strlen(plugin_instance),
         tl = strlen(type_instance);
  if (sl + pl + tl + 3 > sizeof(key))
    return -1;
  memcpy(key, site, sl + 1);
  memcpy(key + sl + 1, plugin_instance, pl + 1);
  memcpy(key + sl + 1 + pl + 1, type_instance, tl + 1);
  size_t len = sl + 1 + pl + 1 + tl;
  gm_vo_entry_t *e = cm_htab_get(t->entries, key, len);
  if (e == NULL) {
    e = gm_vo_entry_new(site, plugin_instance, type_instance, dot);
    if (e == NULL)
      return -1;
    if (cm_htab_put(t->entries, e->key, e->key_len, e) != 0) {
      gm_vo_entry_free(e);
      return -1;
    }
  }
  e->route = route;
  e->rp = isnan(running_processors) ? 0 : running_processors;
  e->rm = isnan(running_machines) ? 0 : running_machines;
  e->last = now;
  return 0;
}

long gm_vo_totals(const gm_vo_t *t, double now, double timeout,
                  void (*fn)(const gm_vo_total_t *, void *), void *arg) {
  cm_htab_t *sums = cm_htab_create();
  if (sums == NULL)
    return -1;
  size_t iter = 0;
  const gm_vo_entry_t *e;
  long n = 0;
  while ((e = cm_htab_next(t->entries, &iter)) != NULL) {
    if (now - e->last > timeout)
      continue;
    size_t sl = strlen(e->site), vl = strlen(e->vo), len = sl + 1 + vl;
    char key[2 * 128 + 2];
    if (len + 1 > sizeof(key))
      continue; /* cannot happen: both fit collectd's fields */
    memcpy(key, e->site, sl + 1);
    memcpy(key + sl + 1, e->vo, vl + 1);
    gm_vo_sum_t *s = cm_htab_get(sums, key, len);
    if (s == NULL) {
      s = calloc(1, sizeof(*s) + len + 1);
      if (s != NULL)
        memcpy(s->key, key, len + 1); /* before put: the table hashes it */
      if (s == NULL || cm_htab_put(sums, s->key, len, s) != 0) {
        free(s);
        cm_htab_destroy(sums, free);
        return -1;
      }
      s->key_len = len;
      s->t.site = s->key;
      s->t.vo = s->key + sl + 1;
      n++;
    }
    s->t.running_processors += e->rp;
    s->t.running_machines += e->rm;
    s->t.machinetypes++;
    if (e->last >= s->last) {
      s->last = e->last;
      s->t.route = e->route;
    }
  }
  iter = 0;
  const gm_vo_sum_t *s;
  while ((s = cm_htab_next(sums, &iter)) != NULL)
    fn(&s->t, arg);
  cm_htab_destroy(sums, free);
  return n;
}
