/* SPDX-License-Identifier: MIT */
/*
 * gm_vo.c: per-site, per-VO totals of running processors and machines.
 */
#include "gm_vo.h"

#include "common/cm_htab.h"
#include "common/cm_key.h"

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

/* Returns a new entry for the key of site, pi and ti, or NULL. */
static gm_vo_entry_t *gm_vo_entry_new(const char *key, size_t len,
                                      const char *ti, const char *dot) {
  gm_vo_entry_t *e =
      cm_key_entry_new(sizeof(*e), key, len, NULL, NULL, 0, NULL);
  if (e == NULL)
    return NULL;
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
  const char *parts[3] = {site, plugin_instance, type_instance};
  long kl = cm_key_join(key, sizeof(key), parts, NULL, 3, '\0');
  if (kl < 0)
    return -1;
  size_t len = (size_t)kl;
  gm_vo_entry_t *e = cm_htab_get(t->entries, key, len);
  if (e == NULL) {
    e = gm_vo_entry_new(key, len, type_instance, dot);
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
    char key[2 * 128 + 2];
    const char *parts[2] = {e->site, e->vo};
    long kl = cm_key_join(key, sizeof(key), parts, NULL, 2, '\0');
    if (kl < 0)
      continue; /* cannot happen: both fit collectd's fields */
    size_t len = (size_t)kl, sl = strlen(e->site);
    gm_vo_sum_t *s = cm_htab_get(sums, key, len);
    if (s == NULL) {
      s = cm_key_entry_new(sizeof(*s), key, len, NULL, NULL, 0,
                           NULL); /* keyed before put */
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
